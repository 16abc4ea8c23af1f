//! Native tunneling against real peers: a Linux kernel VXLAN VTEP, and a
//! second rvs for Geneve (this machine's kernel has no Geneve devices).
//!
//! Plan, VXLAN: host h1 sits on rvs's overlay bridge; the underlay bridge
//! has an afpacket port to a namespace whose kernel runs `vx0` (VNI 5000,
//! UDP 4789), and rvs's underlay address is on the underlay bridge's
//! internal port, as with OVS. Ping works both ways (the first packets
//! resolve the VTEP by ARP from the internal port), iperf3 TCP runs both
//! ways, `tnl/*` commands show the vport, the connected route and the
//! learned neighbor, the megaflows use `tnl_push` and `tnl_pop`, and tshark
//! on the VTEP's wire decodes VXLAN with VNI 5000 carrying h1's frames.
//!
//! Plan, Geneve: two switch namespaces, each running rvs with an overlay
//! bridge (a host and a Geneve port, VNI 77) and an underlay bridge joined
//! by a veth; the hosts ping each other and tshark decodes Geneve VNI 77.
//!
//! Tests skip where namespaces cannot be made; CI runs them as root.
//! Addresses: 10.250.20-21.0/24 overlay, 172.31.20-21.0/24 underlay.

mod common;

use common::netns::{must, Lab};
use common::{Rvs, Sandbox};
use std::process::Command;
use std::time::{Duration, Instant};

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok()
}

/// Captures on `iface` in `ns` with tcpdump (quick to start) while
/// `traffic` runs, then decodes the capture with tshark, printing
/// `fields`. Returns, per packet, every field occurrence (outer before
/// inner) as one flat list, numbers in decimal.
fn wire_fields(
    lab: &mut Lab,
    sb: &Sandbox,
    ns: &str,
    iface: &str,
    filter: &str,
    fields: &[&str],
    traffic: impl FnOnce(&Lab),
) -> Vec<Vec<String>> {
    let file = sb.path(&format!("{iface}.pcap"));
    let file = file.to_str().expect("utf-8 path");
    let p = lab.spawn(
        ns,
        &[
            "timeout", "4", "tcpdump", "-i", iface, "-U", "-w", file, filter,
        ],
    );
    std::thread::sleep(Duration::from_millis(700));
    traffic(lab);
    let _ = lab.wait(p, Duration::from_secs(10));
    let mut args = vec![
        "tshark",
        "-n",
        "-r",
        file,
        "-T",
        "fields",
        "-E",
        "separator=,",
    ];
    for f in fields {
        args.push("-e");
        args.push(f);
    }
    let out = must(&args);
    // Occurrences of one field are joined by tshark's aggregator, whose
    // spelling varies by version: split on any of them.
    out.lines()
        .map(|l| {
            l.split([',', '\\', '/', ';'])
                .map(|f| match f.strip_prefix("0x") {
                    Some(h) => u64::from_str_radix(h, 16).map_or(f.to_string(), |v| v.to_string()),
                    None => f.to_string(),
                })
                .collect()
        })
        .collect()
}

fn iperf(lab: &mut Lab, server_ns: &str, client_ns: &str, server_ip: &str, port: &str) -> f64 {
    let s = lab.spawn(server_ns, &["iperf3", "-s", "-1", "-p", port]);
    std::thread::sleep(Duration::from_millis(500));
    let out = lab.try_exec(
        client_ns,
        &["iperf3", "-c", server_ip, "-p", port, "-t", "2", "-J"],
    );
    assert!(
        out.status.success(),
        "iperf3 to {server_ip} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = lab.wait(s, Duration::from_secs(10));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("iperf3 json");
    let bytes = j["end"]["sum_received"]["bytes"].as_u64().unwrap_or(0);
    assert!(bytes > 1_000_000, "only {bytes} bytes to {server_ip}");
    j["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap_or(0.0)
        / 1e6
}

fn wait_for(r: &Rvs, cmd: &[&str], what: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let out = r.ctl(cmd);
        if out.contains(what) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{cmd:?} never showed {what:?}:\n{out}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn vxlan_interoperates_with_a_linux_kernel_vtep() {
    let Some(mut lab) = Lab::new('t') else { return };
    if !have("iperf3") {
        eprintln!("skipping: iperf3 is not installed");
        return;
    }
    let h1 = lab.host(1, "10.250.20.1/24");
    // The overlay's MTU leaves room for the 50 bytes of VXLAN headers.
    lab.exec(&h1.ns, &["ip", "link", "set", "eth0", "mtu", "1450"]);
    let vt = lab.host(2, "172.31.20.2/24");
    lab.exec(
        &vt.ns,
        &[
            "ip",
            "link",
            "add",
            "vx0",
            "type",
            "vxlan",
            "id",
            "5000",
            "dstport",
            "4789",
            "local",
            "172.31.20.2",
            "remote",
            "172.31.20.1",
            "dev",
            "eth0",
        ],
    );
    let _ = lab.try_exec(
        &vt.ns,
        &["ethtool", "-K", "vx0", "tso", "off", "gso", "off"],
    );
    lab.exec(
        &vt.ns,
        &["ip", "addr", "add", "10.250.20.2/24", "dev", "vx0"],
    );
    lab.exec(&vt.ns, &["ip", "link", "set", "vx0", "up"]);

    let phy = format!("rvp{}", std::process::id() % 100_000);
    let sb = Sandbox::new("tnl-vxlan");
    let body = format!(
        "[[bridge]]\nname = \"br-int\"\ninternal = false\n\n\
         [[bridge.port]]\nname = \"h1\"\ntype = \"afpacket\"\niface = \"{}\"\n\n\
         [[bridge.port]]\nname = \"vx\"\ntype = \"vxlan\"\nremote_ip = \"172.31.20.2\"\nkey = 5000\n\n\
         [[bridge]]\nname = \"{phy}\"\n\n\
         [[bridge.port]]\nname = \"up\"\ntype = \"afpacket\"\niface = \"{}\"\n",
        h1.port_if, vt.port_if
    );
    let cfg = sb.config("", &body);
    let r = Rvs::start(&sb, &cfg);
    must(&["ip", "addr", "add", "172.31.20.1/24", "dev", &phy]);
    must(&["ip", "link", "set", &phy, "up"]);
    wait_for(
        &r,
        &["tnl/route/show"],
        &format!("Cached: 172.31.20.0/24 dev {phy} SRC 172.31.20.1 local"),
    );
    assert!(r
        .ctl(&["tnl/ports/show"])
        .contains("vxlan_sys_4789 (4789) ref_cnt=1"));

    assert!(
        lab.ping_until(&h1, "10.250.20.2", Duration::from_secs(8)),
        "h1 cannot reach the kernel VTEP's overlay address:\n{}",
        r.stderr()
    );
    let back = lab.try_exec(
        &vt.ns,
        &["ping", "-c", "3", "-i", "0.2", "-W", "1", "10.250.20.1"],
    );
    assert!(
        back.status.success(),
        "VTEP -> h1: {}",
        String::from_utf8_lossy(&back.stdout)
    );
    let arp = r.ctl(&["tnl/arp/show"]);
    assert!(
        arp.lines()
            .any(|l| l.starts_with("172.31.20.2 ") && l.contains(&vt.mac)),
        "{arp}"
    );
    let flows = r.ctl(&["dpctl/dump-flows"]);
    assert!(flows.contains("tnl_push(tnl_port("), "{flows}");
    assert!(
        flows.contains("vxlan(flags=0x8000000,vni=0x1388)"),
        "{flows}"
    );
    assert!(flows.contains("actions:tnl_pop("), "{flows}");
    assert!(
        flows.contains("tunnel(tun_id=0x1388,src=172.31.20.2,dst=172.31.20.1)"),
        "{flows}"
    );

    let up = iperf(&mut lab, &vt.ns, &h1.ns, "10.250.20.2", "5401");
    let down = iperf(&mut lab, &h1.ns, &vt.ns, "10.250.20.1", "5402");
    eprintln!("VXLAN through rvs: h1 -> VTEP {up:.0} Mbit/s, VTEP -> h1 {down:.0} Mbit/s");

    if have("tshark") && have("tcpdump") {
        let lines = wire_fields(
            &mut lab,
            &sb,
            &vt.ns,
            "eth0",
            "udp port 4789",
            &["vxlan.vni", "ip.src", "eth.src"],
            |lab| {
                let _ = lab.ping(&h1, "10.250.20.2", 3);
            },
        );
        // VNI 5000, outer source 172.31.20.1, inner frames from h1 (the
        // second Ethernet source).
        let from_h1: Vec<&Vec<String>> = lines
            .iter()
            .filter(|l| l.len() >= 5 && l[..3] == ["5000", "172.31.20.1", "10.250.20.1"])
            .collect();
        assert!(
            !from_h1.is_empty(),
            "tshark saw no VXLAN from rvs: {lines:#?}"
        );
        assert!(from_h1.iter().all(|l| l[4] == h1.mac), "{lines:#?}");
    } else {
        eprintln!("note: tshark not installed, wire decode not checked");
    }
}

#[test]
fn geneve_between_two_rvs_switches() {
    let Some(mut lab) = Lab::new('u') else { return };
    let ha = lab.host(1, "10.250.21.1/24");
    let hb = lab.host(2, "10.250.21.2/24");
    for h in [&ha, &hb] {
        lab.exec(&h.ns, &["ip", "link", "set", "eth0", "mtu", "1450"]);
    }
    let swa = lab.netns("swa");
    let swb = lab.netns("swb");
    lab.move_port(&ha, &swa);
    lab.move_port(&hb, &swb);
    lab.veth(&swa, "ul0", &swb, "ul1");

    let cfg = |sb: &Sandbox, host_if: &str, ul: &str, remote: &str| {
        let body = format!(
            "[[bridge]]\nname = \"br-int\"\ninternal = false\n\n\
             [[bridge.port]]\nname = \"host\"\ntype = \"afpacket\"\niface = \"{host_if}\"\n\n\
             [[bridge.port]]\nname = \"gnv\"\ntype = \"geneve\"\nremote_ip = \"{remote}\"\nkey = 77\n\n\
             [[bridge]]\nname = \"br-phy\"\n\n\
             [[bridge.port]]\nname = \"up\"\ntype = \"afpacket\"\niface = \"{ul}\"\n"
        );
        sb.config("", &body)
    };
    let sba = Sandbox::new("tnl-gnv-a");
    let sbb = Sandbox::new("tnl-gnv-b");
    let ca = cfg(&sba, &ha.port_if, "ul0", "172.31.21.2");
    let cb = cfg(&sbb, &hb.port_if, "ul1", "172.31.21.1");
    let ra = Rvs::start_in(&sba, &ca, &swa);
    let rb = Rvs::start_in(&sbb, &cb, &swb);
    for (ns, ip) in [(&swa, "172.31.21.1/24"), (&swb, "172.31.21.2/24")] {
        lab.exec(ns, &["ip", "addr", "add", ip, "dev", "br-phy"]);
        lab.exec(ns, &["ip", "link", "set", "br-phy", "up"]);
    }
    wait_for(&ra, &["tnl/route/show"], "172.31.21.0/24 dev br-phy");
    wait_for(&rb, &["tnl/route/show"], "172.31.21.0/24 dev br-phy");
    assert!(ra
        .ctl(&["tnl/ports/show"])
        .contains("genev_sys_6081 (6081) ref_cnt=1"));

    assert!(
        lab.ping_until(&ha, "10.250.21.2", Duration::from_secs(10)),
        "no Geneve path between the switches:\nA: {}\nB: {}",
        ra.stderr(),
        rb.stderr()
    );
    assert!(lab.ping(&hb, "10.250.21.1", 3));
    let flows = ra.ctl(&["dpctl/dump-flows"]);
    assert!(flows.contains("geneve("), "{flows}");
    assert!(
        flows.contains("tunnel(tun_id=0x4d,src=172.31.21.2,dst=172.31.21.1)"),
        "{flows}"
    );

    if have("tshark") && have("tcpdump") {
        let lines = wire_fields(
            &mut lab,
            &sba,
            &swa,
            "ul0",
            "udp port 6081",
            &["geneve.vni", "ip.src"],
            |lab| {
                let _ = lab.ping(&ha, "10.250.21.2", 3);
            },
        );
        assert!(
            lines
                .iter()
                .any(|l| l[..] == ["77", "172.31.21.1", "10.250.21.1"]),
            "tshark saw no Geneve VNI 77 from A: {lines:#?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l[..] == ["77", "172.31.21.2", "10.250.21.2"]),
            "tshark saw no Geneve VNI 77 from B: {lines:#?}"
        );
    }
}
