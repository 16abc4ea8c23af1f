//! Port commands of a running switch: `add-port`, `del-port` (OVS's
//! `ovs-vsctl add-port` / `del-port`) and `dpdk/get-xstats`.
//!
//! A port is added without stopping the other ports: it is opened (for
//! a DPDK port: attached and started), handed to the datapath (every PMD
//! gets the new port table by message; its receive queues go to the
//! least busy PMDs), then put in the bridge inside a table change, so
//! megaflows are revalidated and the next packet sees the new port.
//! Removal runs the other way: out of the bridge (revalidated), then out
//! of the datapath (queues taken back from their PMDs, port table
//! swapped), then closed. `pcap`, `dpdk`, `afpacket` and tunnel ports can
//! be added at run time (nothing feeds a new dummy or ring port). A tunnel
//! port has no device: it joins its vport (made with the first tunnel of
//! its type and UDP port), and removing it leaves the vport to the others.

use crate::config::{self, PortKind, OFPORT_MAX};
use crate::ctl::Commands;
use crate::run::{open_port, Switch};
use ofproto::xlate::XlatePorts;
use pmd::{PortSpec, PortStats};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

fn add_port(sw: &Switch, br: &str, name: &str, args: &[String]) -> Result<String, String> {
    let _serial = sw.port_changes.lock().unwrap_or_else(|e| e.into_inner());
    let b = sw
        .bridges
        .get(br)
        .ok_or_else(|| format!("{br}: no such bridge"))?;
    if let Some(other) = sw
        .bridges
        .bridges
        .iter()
        .find(|ob| ob.ports.list().iter().any(|p| p.name == name))
    {
        return Err(format!(
            "{name}: a port of that name exists already (bridge {})",
            other.name
        ));
    }
    let mut pc = config::parse_port_args(name, args, &sw.base_dir)?;
    if matches!(pc.kind, PortKind::Dummy { .. } | PortKind::Ring) {
        return Err(format!(
            "type {}: only pcap, dpdk, afpacket and tunnel ports can be added at run time",
            pc.kind.type_name()
        ));
    }
    let used = b.ports.ofports();
    if pc.ofport == 0 {
        pc.ofport = (1..=OFPORT_MAX)
            .find(|n| !used.contains(n))
            .ok_or("no free port number left")?;
    } else if used.contains(&pc.ofport) {
        return Err(format!("ofport: {} is in use on bridge {br}", pc.ofport));
    }
    let odp = sw.dp.ports().iter().map(|p| p.odp).max().unwrap_or(0) + 1;
    if let PortKind::Tunnel(spec) = &pc.kind {
        return add_tunnel_port(sw, b, name, pc.ofport, spec.clone(), odp);
    }
    let stats = Arc::new(PortStats::default());
    let (rxqs, finite, tx) = open_port(&sw.config, name, &pc.kind, &stats, &mut HashMap::new())
        .map_err(|e| {
            // Port errors mostly name the port already.
            let e = e.to_string();
            if e.starts_with(&format!("port {name}:")) {
                e
            } else {
                format!("port {name}: {e}")
            }
        })?;
    // Transmit side first, then the bridge, then the receive queues: a
    // packet received before the bridge knew the port would fail its
    // upcall ("no bridge has datapath port N") and be dropped.
    sw.dp
        .add_port(PortSpec {
            odp,
            name: name.into(),
            rxqs: Vec::new(),
            finite,
            tx,
            stats,
        })
        .map_err(|e| e.to_string())?;
    sw.dp.change_tables(|| {
        b.ports.add(crate::bridge::BridgePort {
            name: name.into(),
            ofport: pc.ofport,
            odp,
            vlan: pc.vlan.clone(),
            tunnel: None,
        });
        sw.bridges.bump_version();
    });
    sw.dp.add_rxqs(odp, name, rxqs, finite);
    tracing::info!(
        bridge = br,
        port = name,
        ofport = pc.ofport,
        odp,
        kind = pc.kind.type_name(),
        "port added"
    );
    Ok(String::new())
}

/// A tunnel port: its vport (made now if it is the first of its type and
/// UDP port, at datapath port `odp`), then the bridge port.
fn add_tunnel_port(
    sw: &Switch,
    b: &crate::bridge::Bridge,
    name: &str,
    ofport: u32,
    spec: ofproto::tunnel::TunnelSpec,
    odp: u32,
) -> Result<String, String> {
    use crate::tunnels::Vport;
    let vport = match sw.bridges.tunnels.vport(spec.kind, spec.dst_port) {
        Some(v) => v.odp,
        None => {
            let vname = Vport::name_for(spec.kind, spec.dst_port);
            let stats = Arc::new(PortStats::default());
            sw.dp
                .add_port(PortSpec {
                    odp,
                    name: vname.clone(),
                    rxqs: Vec::new(),
                    finite: false,
                    tx: Arc::new(pmd::NullTx {
                        stats: stats.clone(),
                    }),
                    stats,
                })
                .map_err(|e| e.to_string())?;
            sw.bridges.tunnels.add_vport(Vport {
                name: vname,
                kind: spec.kind,
                dst_port: spec.dst_port,
                odp,
            });
            odp
        }
    };
    sw.dp.change_tables(|| {
        b.ports.add(crate::bridge::BridgePort {
            name: name.into(),
            ofport,
            odp: vport,
            vlan: Default::default(),
            tunnel: Some(spec),
        });
        sw.bridges.bump_version();
    });
    tracing::info!(bridge = %b.name, port = name, ofport, vport, "tunnel port added");
    Ok(String::new())
}

fn del_port(sw: &Switch, br: &str, name: &str) -> Result<String, String> {
    let _serial = sw.port_changes.lock().unwrap_or_else(|e| e.into_inner());
    let b = sw
        .bridges
        .get(br)
        .ok_or_else(|| format!("{br}: no such bridge"))?;
    if !b.ports.list().iter().any(|p| p.name == name) {
        return Err(format!("{name}: no such port on bridge {br}"));
    }
    let removed = sw.dp.change_tables(|| {
        let p = b.ports.remove(name);
        sw.bridges.bump_version();
        p
    });
    let Some(p) = removed else {
        return Err(format!("{name}: no such port on bridge {br}"));
    };
    if p.tunnel.is_some() {
        // The vport stays: other tunnel ports (or a later one) use it.
        tracing::info!(bridge = br, port = name, "tunnel port removed");
        return Ok(String::new());
    }
    let info = sw.dp.remove_port(p.odp).map_err(|e| e.to_string())?;
    // Dropping the last handle closes the device (DPDK: stop, close,
    // detach).
    drop(info);
    tracing::info!(bridge = br, port = name, "port removed");
    Ok(String::new())
}

fn xstats(sw: &Switch, name: &str, json: bool) -> Result<String, String> {
    let p = sw
        .dp
        .ports()
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| format!("{name}: no such port"))?;
    let stats =
        p.tx.xstats()
            .ok_or_else(|| format!("{name}: not a DPDK port (no extended statistics)"))??;
    if json {
        let m: serde_json::Map<String, serde_json::Value> =
            stats.into_iter().map(|(k, v)| (k, v.into())).collect();
        return Ok(serde_json::Value::Object(m).to_string());
    }
    let mut out = format!("DPDK extended statistics of port {name}:\n");
    for (k, v) in stats {
        let _ = writeln!(out, "  {k}: {v}");
    }
    Ok(out)
}

/// Registers the port commands.
pub fn register(c: &mut Commands, sw: &Arc<Switch>) {
    let s = sw.clone();
    c.register(
        "add-port",
        "add-port BRIDGE PORT type=TYPE [KEY=VALUE...]",
        "add a port while the switch runs, e.g. add-port br0 dpdk1 type=dpdk devargs=0000:03:00.1 n_rxq=2",
        3,
        usize::MAX,
        Box::new(move |args, _| add_port(&s, &args[0], &args[1], &args[2..])),
    );
    let s = sw.clone();
    c.register(
        "del-port",
        "del-port BRIDGE PORT",
        "remove a port while the switch runs (DPDK devices are stopped and detached), e.g. del-port br0 dpdk1",
        2,
        2,
        Box::new(move |args, _| del_port(&s, &args[0], &args[1])),
    );
    let s = sw.clone();
    c.register(
        "dpdk/get-xstats",
        "dpdk/get-xstats PORT",
        "a DPDK port's extended statistics (rte_eth_xstats), e.g. dpdk/get-xstats dpdk0",
        1,
        1,
        Box::new(move |args, json| xstats(&s, &args[0], json)),
    );
}
