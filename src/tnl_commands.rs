//! The `tnl/*` commands (OVS's `tnl/ports/show`, `ovs/route/*` and
//! `tnl/arp/*`): native tunneling's vports, underlay routes and neighbors.
//!
//! Changes (`tnl/route/add`, `tnl/arp/set`, `tnl/arp/flush`) go through
//! [`pmd::Datapath::change_tables`] and bump the translation version, so
//! when one returns every tunnel megaflow has been translated again.

use crate::ctl::Commands;
use crate::run::Switch;
use crate::tunnels::{parse_mac, TunnelState};
use ofproto::tunnel::{Route, RouteOrigin};
use std::net::IpAddr;
use std::sync::Arc;

/// Applies `f` to the tunnel state as a table change: megaflows follow
/// before the command returns.
fn change(sw: &Switch, f: impl FnOnce(&TunnelState)) -> Result<String, String> {
    sw.dp.change_tables(|| {
        f(&sw.bridges.tunnels);
        sw.bridges.bump_version();
    });
    Ok("OK\n".into())
}

/// `IP/PLEN` (or a bare address, a host route).
fn parse_prefix(s: &str) -> Result<(IpAddr, u8), String> {
    let (ip, len) = match s.split_once('/') {
        Some((ip, len)) => (ip, Some(len)),
        None => (s, None),
    };
    let prefix: IpAddr = ip
        .parse()
        .map_err(|_| format!("\"{s}\": not an IP prefix"))?;
    let max = if prefix.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(l) => l
            .parse()
            .ok()
            .filter(|l| *l <= max)
            .ok_or_else(|| format!("\"{s}\": prefix length must be 0 to {max}"))?,
    };
    Ok((prefix, len))
}

/// Registers the `tnl/*` commands.
pub fn register(c: &mut Commands, sw: &Arc<Switch>) {
    let s = sw.clone();
    c.register(
        "tnl/ports/show",
        "tnl/ports/show",
        "tunnel vports: the UDP ports decapsulation listens on",
        0,
        0,
        Box::new(move |_, _| Ok(s.bridges.tunnels.ports_text(&s.bridges))),
    );
    let s = sw.clone();
    c.register(
        "tnl/route/show",
        "tnl/route/show",
        "underlay routes for tunnels (connected routes of internal port addresses, and user routes)",
        0,
        0,
        Box::new(move |_, _| Ok(s.bridges.tunnels.route_text())),
    );
    let s = sw.clone();
    c.register(
        "tnl/route/add",
        "tnl/route/add IP/PLEN BRIDGE [GW]",
        "add an underlay route leaving by BRIDGE's internal port (e.g. tnl/route/add 172.31.0.0/16 br-phy 172.31.1.254)",
        2,
        3,
        Box::new(move |args, _| {
            let (prefix, len) = parse_prefix(&args[0])?;
            let b = s
                .bridges
                .get(&args[1])
                .ok_or_else(|| format!("{}: no such bridge", args[1]))?;
            let gateway = match args.get(2) {
                Some(g) => Some(
                    g.parse::<IpAddr>()
                        .ok()
                        .filter(|a| a.is_ipv4() == prefix.is_ipv4())
                        .ok_or_else(|| format!("\"{g}\": not a gateway of the prefix's family"))?,
                ),
                None => None,
            };
            let route = Route {
                prefix,
                len,
                bridge: b.name.clone(),
                gateway,
                src: None,
                origin: RouteOrigin::User,
            };
            change(&s, |t| {
                t.routes.lock().unwrap_or_else(|e| e.into_inner()).add(route)
            })
        }),
    );
    let s = sw.clone();
    c.register(
        "tnl/arp/show",
        "tnl/arp/show",
        "the underlay neighbor (ARP/ND) table tunnels resolve next hops in",
        0,
        0,
        Box::new(move |_, _| Ok(s.bridges.tunnels.arp_text())),
    );
    let s = sw.clone();
    c.register(
        "tnl/arp/set",
        "tnl/arp/set BRIDGE IP MAC",
        "set a static neighbor entry (e.g. tnl/arp/set br-phy 172.31.1.2 aa:55:aa:55:00:01)",
        3,
        3,
        Box::new(move |args, _| {
            let b = s
                .bridges
                .get(&args[0])
                .ok_or_else(|| format!("{}: no such bridge", args[0]))?;
            let ip: IpAddr = args[1]
                .parse()
                .map_err(|_| format!("\"{}\": not an IP address", args[1]))?;
            let mac =
                parse_mac(&args[2]).ok_or_else(|| format!("\"{}\": not a MAC address", args[2]))?;
            let name = b.name.clone();
            change(&s, |t| {
                t.neigh
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .set(ip, mac, &name)
            })
        }),
    );
    let s = sw.clone();
    c.register(
        "tnl/arp/flush",
        "tnl/arp/flush",
        "forget every neighbor; tunnel megaflows are fixed before it returns",
        0,
        0,
        Box::new(move |_, _| {
            change(&s, |t| {
                t.neigh.lock().unwrap_or_else(|e| e.into_inner()).flush();
            })
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_parse_in_both_families() {
        assert_eq!(
            parse_prefix("10.0.0.0/8").unwrap(),
            ("10.0.0.0".parse().unwrap(), 8)
        );
        assert_eq!(
            parse_prefix("fd00::/16").unwrap(),
            ("fd00::".parse().unwrap(), 16)
        );
        assert_eq!(parse_prefix("10.0.0.1").unwrap().1, 32);
        assert_eq!(parse_prefix("fd00::1").unwrap().1, 128);
        assert_eq!(
            parse_prefix("10.0.0.0/33").unwrap_err(),
            "\"10.0.0.0/33\": prefix length must be 0 to 32"
        );
        assert_eq!(
            parse_prefix("nope/8").unwrap_err(),
            "\"nope/8\": not an IP prefix"
        );
    }
}
