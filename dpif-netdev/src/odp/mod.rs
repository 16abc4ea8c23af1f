//! The `ovs-appctl dpctl/dump-flows` text form of keys, masks, actions and
//! whole megaflows, printed and parsed, so that output looks familiar to OVS
//! users and tests can state expectations in text.
//!
//! ```text
//! recirc_id(0),in_port(1),eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02),eth_type(0x0800),
//!   ipv4(src=10.0.0.1,dst=10.0.0.0/255.0.0.0,proto=17,frag=no),udp(dst=53),
//!   packets:10, bytes:640, used:0.500s, actions:2
//! ```
//!
//! # Keys
//! [`format_key`] prints attributes in OVS's order: `tunnel(...)`,
//! `recirc_id`, `dp_hash`, `in_port`, `parse_err`, `eth(...)`, then
//! `eth_type(TPID),vlan(vid=..,pcp=..),encap(...)` per VLAN tag, then
//! `eth_type(..)`, one of `ipv4(...)`/`ipv6(...)`/`arp(...)`, then one of
//! `tcp(...),tcp_flags(...)`/`udp`/`sctp`/`icmp`/`icmpv6(...),nd(...)`.
//! Which L3 and L4 attributes can appear follows the (masked) key's
//! `eth_type` and `nw_proto`.
//!
//! With a mask: an attribute whose fields are all wildcarded is omitted; in
//! an attribute, a wildcarded field is omitted, an exact one prints
//! `field=value` and a partial one `field=value/mask`. A field is *exact*
//! when the mask keeps all its meaningful bits (20 for `label`, 12 for
//! `vid` and `tcp_flags`, 8 for ICMP type/code, 2 for `frag`); an exact
//! field parses back with an all-ones mask. With no mask, every field that
//! belongs to the packet's protocols is printed ([`relevant_mask`]).
//!
//! Conventions, as in OVS:
//! - `frag=no|first|later` when exact; otherwise `frag=0x1/0x1` (rvs
//!   keeps partial frag masks, which OVS's netlink form cannot).
//! - `tcp_flags(syn|ack)` when exact (`tcp_flags(0)` for none),
//!   `tcp_flags(+syn-ack)` listing only the masked bits otherwise.
//! - Tunnel flags print as `flags(-df-csum+key)`: every masked bit with `+`
//!   or `-`. A list naming df, csum and key is exact (`oam` then shows only
//!   when set).
//! - An exact `eth_type(X)` with no `vlan(...)` at its level means "no
//!   (further) VLAN tag": parsing sets that level's `vlan_tci` mask to all
//!   ones, and printing relies on masks following this rule.
//! - rvs extension: `parse_err(0x..)` after `in_port`, shown only when
//!   masked (with no mask: when non-zero).
//! - rvs extension: Geneve options mapped to `tun_metadataN` print inside
//!   `tunnel(...)` as `md_present=0x1/0x1` (presence bits) and
//!   `md=0x<bytes>[/0x<bytes>]`, the key's raw option area from its first
//!   byte up to the last masked one (its layout is the TLV map's, which the
//!   key does not carry; the `tnl_pop` that filled it shows the map).
//!
//! The parser is lenient where OVS is strict: `ipv4(...)`, `ipv6(...)` and
//! `arp(...)` without a preceding `eth_type` imply it (exact), and an L4
//! attribute without an IP `proto` implies it; `packet_type(ns=0,id=0)` is
//! accepted and ignored; IP masks may be prefix lengths (`10.0.0.0/8`).
//!
//! # Actions
//! [`format_actions`]: `drop`, or comma-separated `2` (output),
//! `set(eth(..))`, `set(ipv4(..))`, `set(ipv6(..))`, `set(tcp|udp|sctp(..))`
//! (fields with a zero mask omitted, `value/mask` unless the mask is all
//! ones), `set(tunnel(...))`, `push_vlan([tpid=0x88a8,]vid=..,pcp=..[,cfi=1])`,
//! `pop_vlan`, `recirc(0x1)`, `hash(l4(0))`, `tnl_pop(4)` (with a Geneve
//! TLV map, rvs form: `tnl_pop(4,tlv({class=0xffff,type=0x0,len=4,ofs=0}->tun_metadata0))`),
//! `userspace(cookie=0x..)` (rvs form) and
//! `tnl_push(tnl_port(4),header(size=50,type=4,eth(..),ipv4(..),udp(..),vxlan(..)),out_port(1))`
//! with OVS's type numbers (4 VXLAN, 5 Geneve). A header template that does
//! not follow OVS's template conventions (see `tnl`), or whose
//! `ipv6`/`udp_csum` flags disagree with it, prints in an rvs raw form
//! `header(size=..,type=..,raw=0x<bytes>,ipv6=0|1,udp_csum=0|1)`. On parse,
//! `udp_csum` is taken as "template UDP checksum non-zero".
//!
//! # Flows
//! [`format_flow`]: `KEY, packets:N, bytes:N, used:0.004s|never[, flags:S.], actions:...`.
//! [`parse_flow`] accepts that (with `, ` or a space before `actions:`),
//! an optional leading `ufid:...,`, and ignores the stats fields.
//!
//! Port names are never parsed; [`FormatOptions::port_names`] only changes
//! printing.

mod format;
mod parse;
#[cfg(test)]
mod tests;
pub mod tnl;

use crate::actions::{DpAction, DpActions};
use crate::key::{FlowKey, FlowMask};
use crate::megaflow::{Megaflow, StatsSnapshot};

pub use format::relevant_mask;

/// Maps a datapath port number to a name for printing.
pub type PortNames<'a> = &'a dyn Fn(u32) -> Option<String>;

/// An error from the dpctl text parsers. Offsets are byte offsets into the
/// parsed string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OdpParseError {
    /// A key attribute (or `set(...)` attribute) name that is not known.
    #[error("unknown attribute \"{name}\" at offset {offset}")]
    UnknownAttribute {
        /// The attribute name.
        name: String,
        /// Where it starts.
        offset: usize,
    },
    /// A field not known in its attribute.
    #[error("unknown field \"{name}\" in {attr} at offset {offset}")]
    UnknownField {
        /// The enclosing attribute.
        attr: String,
        /// The field name.
        name: String,
        /// Where it starts.
        offset: usize,
    },
    /// An action name that is not known.
    #[error("unknown action \"{name}\" at offset {offset}")]
    UnknownAction {
        /// The action name.
        name: String,
        /// Where it starts.
        offset: usize,
    },
    /// A value that does not parse or is out of range.
    #[error("bad {what} \"{token}\" at offset {offset}")]
    BadValue {
        /// What the value is for.
        what: String,
        /// The offending text.
        token: String,
        /// Where the value starts.
        offset: usize,
    },
    /// Something else was expected.
    #[error("expected {expected} at offset {offset}, found \"{found}\"")]
    Expected {
        /// What was expected.
        expected: &'static str,
        /// The text found instead (up to 16 characters).
        found: String,
        /// Where.
        offset: usize,
    },
    /// A structural error (too many VLAN tags, an incomplete header, ...).
    #[error("{what} at offset {offset}")]
    Invalid {
        /// Description.
        what: String,
        /// Where.
        offset: usize,
    },
}

/// Options for [`format_flow_with`].
#[derive(Default, Clone, Copy)]
pub struct FormatOptions<'a> {
    /// Names for ports in `in_port(..)` and output actions.
    pub port_names: Option<PortNames<'a>>,
    /// Print `ufid:<uuid>, ` first, as `dpctl/dump-flows -m` does.
    pub ufid: bool,
}

/// Formats a key. With `mask` None, every field relevant to the packet type
/// is printed exactly; with a mask, wildcarded attributes and fields are
/// omitted and partial ones print `value/mask`. See the module docs.
pub fn format_key(key: &FlowKey, mask: Option<&FlowMask>) -> String {
    format_key_with(key, mask, None)
}

/// [`format_key`] with port names for `in_port(..)`.
pub fn format_key_with(
    key: &FlowKey,
    mask: Option<&FlowMask>,
    names: Option<PortNames<'_>>,
) -> String {
    match mask {
        Some(m) => format::key_masked(key, m, names),
        None => format::key_masked(key, &relevant_mask(key), names),
    }
}

/// Formats an action list: `drop` when empty, else comma-separated.
pub fn format_actions(actions: &[DpAction]) -> String {
    format_actions_with(actions, None)
}

/// [`format_actions`] with port names for outputs.
pub fn format_actions_with(actions: &[DpAction], names: Option<PortNames<'_>>) -> String {
    if actions.is_empty() {
        return "drop".into();
    }
    actions
        .iter()
        .map(|a| format::action(a, names))
        .collect::<Vec<_>>()
        .join(",")
}

/// Formats stats as OVS does: `packets:N, bytes:N, used:0.004s[, flags:S.]`
/// (`used:never` when never hit). `now_ms` is on the same clock as
/// `stats.used`.
pub fn format_stats(stats: &StatsSnapshot, now_ms: u64) -> String {
    let mut s = format!("packets:{}, bytes:{}, used:", stats.packets, stats.bytes);
    if stats.used == 0 {
        s.push_str("never");
    } else {
        s.push_str(&format!(
            "{:.3}s",
            now_ms.saturating_sub(stats.used) as f64 / 1000.0
        ));
    }
    if stats.tcp_flags != 0 {
        s.push_str(", flags:");
        s.push_str(&format::stats_tcp_flags(stats.tcp_flags));
    }
    s
}

/// Formats one megaflow as a `dpctl/dump-flows` line:
/// `KEY, packets:N, bytes:N, used:Xs, actions:ACTIONS`.
pub fn format_flow(flow: &Megaflow, now_ms: u64) -> String {
    format_flow_with(flow, now_ms, &FormatOptions::default())
}

/// [`format_flow`] with options (port names, ufid).
pub fn format_flow_with(flow: &Megaflow, now_ms: u64, opts: &FormatOptions<'_>) -> String {
    let mut s = String::new();
    if opts.ufid {
        let u = flow.ufid;
        s.push_str(&format!(
            "ufid:{:08x}-{:04x}-{:04x}-{:04x}-{:012x}, ",
            (u >> 96) as u32,
            (u >> 80) as u16,
            (u >> 64) as u16,
            (u >> 48) as u16,
            u & 0xffff_ffff_ffff
        ));
    }
    s.push_str(&format_key_with(
        &flow.key,
        Some(&flow.mask),
        opts.port_names,
    ));
    s.push_str(", ");
    s.push_str(&format_stats(&flow.stats.snapshot(), now_ms));
    s.push_str(", actions:");
    s.push_str(&format_actions_with(&flow.actions, opts.port_names));
    s
}

/// Parses a key as [`format_key`] prints it, masked or not. Returns the
/// key (masked) and the mask; absent attributes and fields are wildcarded,
/// fields without `/mask` are exact.
pub fn parse_key(s: &str) -> Result<(FlowKey, FlowMask), OdpParseError> {
    let mut c = parse::Cur::new(s);
    let mut p = parse::KeyParser::new();
    p.attrs(&mut c, 0)?;
    if !c.at_end() {
        return Err(OdpParseError::Expected {
            expected: "',' or end of key",
            found: c.found(),
            offset: c.pos,
        });
    }
    Ok((p.key.masked(&p.mask), p.mask))
}

/// Parses an action list as [`format_actions`] prints it.
pub fn parse_actions(s: &str) -> Result<DpActions, OdpParseError> {
    parse::actions(&mut parse::Cur::new(s))
}

/// Parses a dump-flows line: `[ufid:..., ]KEY, [stats, ]actions:ACTIONS`
/// (a space may replace the comma before `actions:`). Stats fields
/// (`packets:`, `bytes:`, `used:`, `flags:`, ...) are ignored.
pub fn parse_flow(s: &str) -> Result<(FlowKey, FlowMask, DpActions), OdpParseError> {
    let mut c = parse::Cur::new(s);
    let save = c.pos;
    let (w, _) = c.ident();
    if w == "ufid" && c.eat(b':') {
        parse::skip_value(&mut c);
        c.eat(b',');
    } else {
        c.pos = save;
    }
    let mut p = parse::KeyParser::new();
    // A megaflow that wildcards everything prints an empty key: the line
    // starts straight with the stats or the actions.
    let rest = s.get(c.pos..).unwrap_or("").trim_start();
    let empty_key = rest.starts_with(',')
        || ["packets:", "bytes:", "used:", "actions:"]
            .iter()
            .any(|w| rest.starts_with(w));
    if !empty_key {
        p.attrs(&mut c, 0)?;
    }
    loop {
        c.eat(b',');
        let (name, off) = c.name("stats field or actions")?;
        if !c.eat(b':') {
            return Err(OdpParseError::Expected {
                expected: "':'",
                found: c.found(),
                offset: c.pos,
            });
        }
        match name {
            "actions" => {
                let acts = parse::actions(&mut c)?;
                return Ok((p.key.masked(&p.mask), p.mask, acts));
            }
            "packets" | "bytes" | "used" | "flags" | "dp" | "offloaded" => {
                parse::skip_value(&mut c)
            }
            _ => {
                return Err(OdpParseError::UnknownField {
                    attr: "flow".into(),
                    name: name.into(),
                    offset: off,
                })
            }
        }
    }
}
