//! `add-tlv-map`, `del-tlv-map`, `dump-tlv-map`: a bridge's Geneve TLV map
//! (which option is which `tun_metadataN`), as `ovs-ofctl` has them.
//!
//! A change is all or nothing and refused, leaving the old map, when it is
//! malformed, maps a field or option twice, does not fit the key's option
//! area, or would remove a mapping that flows of the bridge use (as OVS
//! refuses to delete a mapping in use). An accepted change goes through
//! [`pmd::Datapath::change_tables`] with a version bump: every megaflow is
//! translated again before the command returns, so no `tnl_pop` keeps
//! the old map.

use crate::bridge::Bridge;
use crate::ctl::Commands;
use crate::run::Switch;
use dpif_netdev::tlv::{parse_mappings, TlvError, TlvMap, TlvMapping};
use ofproto::field::Field;
use ofproto::ofaction::OfAction;
use ofproto::table::Tables;
use std::sync::Arc;

/// Whether `f` is `tun_metadata{idx}`.
fn is_md(f: &Field, idx: u8) -> bool {
    matches!(f, Field::TunMetadata { idx: i, .. } if *i == idx)
}

/// Whether some flow of `tables` matches or writes `tun_metadata{idx}`.
pub(crate) fn tun_metadata_in_use(tables: &Tables, idx: u8) -> bool {
    let bit = 1u8 << (idx & 7);
    tables.rules().iter().any(|r| {
        r.matches.mask.key.tun_md_present & bit != 0
            || r.actions.iter().any(|a| match a {
                OfAction::SetField { field, .. } => is_md(field, idx),
                OfAction::Load { dst, .. } => is_md(dst, idx),
                OfAction::Move { src, dst, .. } => is_md(src, idx) || is_md(dst, idx),
                _ => false,
            })
    })
}

/// Applies `change` to bridge `b`'s map under the table-change lock,
/// refusing it when it removes or alters a mapping flows use.
pub(crate) fn change_map(
    sw: &Switch,
    b: &Bridge,
    change: impl FnOnce(&mut TlvMap) -> Result<(), TlvError>,
) -> Result<String, String> {
    sw.dp.change_tables(|| {
        let tables = b.tables.read().unwrap_or_else(|e| e.into_inner());
        let old = b.ports.tlv();
        let mut new = (*old).clone();
        change(&mut new).map_err(|e| format!("{}: {e}", b.name))?;
        for e in old.entries() {
            let kept = new.get(e.map.idx) == Some(e);
            if !kept && tun_metadata_in_use(&tables, e.map.idx) {
                return Err(format!("{}: {}", b.name, TlvError::InUse(e.map.idx)));
            }
        }
        drop(tables);
        b.ports.set_tlv(new);
        sw.bridges.bump_version();
        // Accepted, but say so when a bridge sharing a Geneve vport now
        // has another map: options on that vport are not mapped then.
        let others = sw.bridges.tlv_conflicts(b);
        if others.is_empty() {
            Ok(String::new())
        } else {
            let msg = format!(
                "warning: {} share a Geneve UDP port with {} but have a different TLV map: options on that port are not mapped until the maps agree\n",
                others.join(", "),
                b.name
            );
            tracing::warn!(bridge = %b.name, "{}", msg.trim_end());
            Ok(msg)
        }
    })
}

fn bridge<'a>(sw: &'a Switch, name: &str) -> Result<&'a Bridge, String> {
    sw.bridges
        .get(name)
        .ok_or_else(|| format!("{name}: no such bridge"))
}

/// Registers the TLV map commands.
pub fn register(c: &mut Commands, sw: &Arc<Switch>) {
    let s = sw.clone();
    c.register(
        "add-tlv-map",
        "add-tlv-map BRIDGE MAPPINGS",
        "map Geneve options to tun_metadataN fields (e.g. add-tlv-map br0 \"{class=0xffff,type=0,len=4}->tun_metadata0\")",
        2,
        2,
        Box::new(move |args, _| {
            let b = bridge(&s, &args[0])?;
            let new = parse_mappings(&args[1]).map_err(|e| e.to_string())?;
            change_map(&s, b, |m| m.add(&new))
        }),
    );
    let s = sw.clone();
    c.register(
        "del-tlv-map",
        "del-tlv-map BRIDGE [MAPPINGS]",
        "remove these TLV mappings, or all of them (refused while flows use one)",
        1,
        2,
        Box::new(move |args, _| {
            let b = bridge(&s, &args[0])?;
            let del: Vec<TlvMapping> = match args.get(1) {
                Some(text) => parse_mappings(text).map_err(|e| e.to_string())?,
                None => b.ports.tlv().entries().iter().map(|e| e.map).collect(),
            };
            change_map(&s, b, |m| m.remove(&del))
        }),
    );
    let s = sw.clone();
    c.register(
        "dump-tlv-map",
        "dump-tlv-map BRIDGE",
        "show the bridge's Geneve TLV map and the option space it uses",
        1,
        1,
        Box::new(move |args, _| Ok(bridge(&s, &args[0])?.ports.tlv().dump_text())),
    );
}
