//! The `tnl/*` commands and tunnel ports added at run time, without
//! namespaces (dummy ports; nothing needs root).
//!
//! Plan: a switch with an overlay bridge and an underlay bridge (no
//! internal device); `add-port` a VXLAN port and a second one on the same
//! UDP port (one vport, `ref_cnt=2`), and a Geneve port (a second vport);
//! `del-port` one VXLAN port (the vport stays for the other); routes and
//! neighbors through `tnl/route/add` and `tnl/arp/set|show|flush`, with
//! bad input refused by name and nothing changed.

mod common;

use common::*;

#[test]
fn tunnel_ports_routes_and_neighbors_at_run_time() {
    let sb = Sandbox::new("tnl-ctl");
    let body = "[[bridge]]\nname = \"br-int\"\ninternal = false\n\n\
                [[bridge.port]]\nname = \"vm\"\ntype = \"dummy\"\n\n\
                [[bridge]]\nname = \"br-phy\"\n\n\
                [[bridge.port]]\nname = \"up\"\ntype = \"dummy\"\n";
    let cfg = sb.config("", body);
    let mut r = Rvs::start(&sb, &cfg);
    assert_eq!(r.ctl(&["tnl/ports/show"]), "Listening ports:\n");

    r.ctl(&[
        "add-port",
        "br-int",
        "vx1",
        "type=vxlan",
        "remote_ip=172.31.0.2",
        "key=5000",
    ]);
    r.ctl(&[
        "add-port",
        "br-int",
        "vx2",
        "type=vxlan",
        "remote_ip=172.31.0.3",
        "key=flow",
    ]);
    r.ctl(&[
        "add-port",
        "br-int",
        "gnv",
        "type=geneve",
        "remote_ip=fd31::2",
    ]);
    let ports = r.ctl(&["tnl/ports/show"]);
    assert!(ports.contains("vxlan_sys_4789 (4789) ref_cnt=2"), "{ports}");
    assert!(ports.contains("genev_sys_6081 (6081) ref_cnt=1"), "{ports}");
    r.ctl(&["del-port", "br-int", "vx1"]);
    let ports = r.ctl(&["tnl/ports/show"]);
    assert!(ports.contains("vxlan_sys_4789 (4789) ref_cnt=1"), "{ports}");
    let bad = r.ctl_raw(&["add-port", "br-int", "vx3", "type=vxlan", "remote_ip=nope"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("remote_ip: \"nope\" is not an IP address"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );

    assert_eq!(
        r.ctl(&["tnl/route/add", "172.31.0.0/16", "br-phy", "172.31.0.254"]),
        "OK\n"
    );
    assert_eq!(r.ctl(&["tnl/route/add", "fd31::/64", "br-phy"]), "OK\n");
    let routes = r.ctl(&["tnl/route/show"]);
    assert!(
        routes.contains("User: 172.31.0.0/16 dev br-phy GW 172.31.0.254"),
        "{routes}"
    );
    assert!(routes.contains("User: fd31::/64 dev br-phy"), "{routes}");
    for (args, err) in [
        (
            &["tnl/route/add", "172.31.0.0/40", "br-phy"][..],
            "prefix length must be 0 to 32",
        ),
        (
            &["tnl/route/add", "10.0.0.0/8", "nobr"][..],
            "nobr: no such bridge",
        ),
        (
            &["tnl/route/add", "10.0.0.0/8", "br-phy", "fd00::1"][..],
            "not a gateway of the prefix's family",
        ),
        (
            &["tnl/arp/set", "br-phy", "10.0.0.1", "zz:00"][..],
            "not a MAC address",
        ),
    ] {
        let o = r.ctl_raw(args);
        assert!(!o.status.success(), "{args:?}");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains(err), "{args:?}: {e}");
    }

    assert_eq!(
        r.ctl(&["tnl/arp/set", "br-phy", "172.31.0.2", "02:00:00:00:00:02"]),
        "OK\n"
    );
    assert_eq!(
        r.ctl(&["tnl/arp/set", "br-phy", "fd31::2", "02:00:00:00:00:03"]),
        "OK\n"
    );
    let arp = r.ctl(&["tnl/arp/show"]);
    assert!(
        arp.lines().any(|l| l.starts_with("172.31.0.2 ")
            && l.contains("02:00:00:00:00:02")
            && l.ends_with("br-phy")),
        "{arp}"
    );
    assert!(
        arp.lines()
            .any(|l| l.starts_with("fd31::2 ") && l.contains("02:00:00:00:00:03")),
        "{arp}"
    );
    assert_eq!(r.ctl(&["tnl/arp/flush"]), "OK\n");
    assert_eq!(
        r.ctl(&["tnl/arp/show"]).lines().count(),
        2,
        "only the header is left"
    );
    r.exit();
}
