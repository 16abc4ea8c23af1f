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
    traffic: impl Fn(&Lab),
) -> Vec<Vec<String>> {
    let path = sb.path(&format!("{iface}.pcap"));
    // A capture of an earlier call would look full already.
    let _ = std::fs::remove_file(&path);
    let file = path.to_str().expect("utf-8 path");
    let p = lab.spawn(
        ns,
        &[
            "timeout", "15", "tcpdump", "-i", iface, "-U", "-w", file, filter,
        ],
    );
    // tcpdump creates the file once it captures (it may take a while to
    // start on a loaded machine); then traffic until the capture has
    // packets, and SIGINT to stop it.
    let t0 = Instant::now();
    while !path.exists() && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let t0 = Instant::now();
    loop {
        traffic(lab);
        std::thread::sleep(Duration::from_millis(300));
        let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
        if size > 200 || t0.elapsed() > Duration::from_secs(4) {
            break;
        }
    }
    lab.interrupt(p);
    let _ = lab.wait(p, Duration::from_secs(15));
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
    lab.wait_listening(server_ns, port.parse().expect("port number"));
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

/// One underlay: addresses of rvs (`local`) and the kernel VTEP
/// (`remote`), prefix length, VNI, overlay subnet (third octet) and the
/// overlay MTU that leaves room for the headers (50 bytes over IPv4, 70
/// over IPv6).
struct Underlay {
    letter: char,
    local: &'static str,
    remote: &'static str,
    plen: u8,
    vni: u32,
    net: u8,
    mtu: &'static str,
}

fn vxlan_with_a_kernel_vtep(u: Underlay) {
    let Some(mut lab) = Lab::new(u.letter) else {
        return;
    };
    if !have("iperf3") {
        eprintln!("skipping: iperf3 is not installed");
        return;
    }
    let v6 = u.local.contains(':');
    let ov = |n: u8| format!("10.250.{}.{n}", u.net);
    let h1 = lab.host(1, &format!("{}/24", ov(1)));
    lab.exec(&h1.ns, &["ip", "link", "set", "eth0", "mtu", u.mtu]);
    let vt = lab.host(2, "");
    if v6 {
        for k in ["all", "default", "eth0"] {
            lab.exec(
                &vt.ns,
                &[
                    "sysctl",
                    "-qw",
                    &format!("net.ipv6.conf.{k}.disable_ipv6=0"),
                ],
            );
        }
    }
    let under = |a: &str| format!("{a}/{}", u.plen);
    lab.exec(
        &vt.ns,
        &[
            "ip",
            "addr",
            "add",
            &under(u.remote),
            "dev",
            "eth0",
            "nodad",
        ],
    );
    let vni = u.vni.to_string();
    lab.exec(
        &vt.ns,
        &[
            "ip", "link", "add", "vx0", "type", "vxlan", "id", &vni, "dstport", "4789", "local",
            u.remote, "remote", u.local, "dev", "eth0",
        ],
    );
    let _ = lab.try_exec(
        &vt.ns,
        &["ethtool", "-K", "vx0", "tso", "off", "gso", "off"],
    );
    lab.exec(&vt.ns, &["ip", "link", "set", "vx0", "mtu", u.mtu]);
    lab.exec(
        &vt.ns,
        &["ip", "addr", "add", &format!("{}/24", ov(2)), "dev", "vx0"],
    );
    lab.exec(&vt.ns, &["ip", "link", "set", "vx0", "up"]);

    let phy = format!("rvp{}{}", std::process::id() % 100_000, u.letter);
    let sb = Sandbox::new(&format!("tnl-vxlan-{}", u.letter));
    let body = format!(
        "[[bridge]]\nname = \"br-int\"\ninternal = false\n\n\
         [[bridge.port]]\nname = \"h1\"\ntype = \"afpacket\"\niface = \"{}\"\n\n\
         [[bridge.port]]\nname = \"vx\"\ntype = \"vxlan\"\nremote_ip = \"{}\"\nkey = {}\n\n\
         [[bridge]]\nname = \"{phy}\"\n\n\
         [[bridge.port]]\nname = \"up\"\ntype = \"afpacket\"\niface = \"{}\"\n",
        h1.port_if, u.remote, u.vni, vt.port_if
    );
    let cfg = sb.config("", &body);
    let r = Rvs::start(&sb, &cfg);
    must(&["ip", "addr", "add", &under(u.local), "dev", &phy, "nodad"]);
    must(&["ip", "link", "set", &phy, "up"]);
    wait_for(
        &r,
        &["tnl/route/show"],
        &format!(" dev {phy} SRC {} local", u.local),
    );
    assert!(r
        .ctl(&["tnl/ports/show"])
        .contains("vxlan_sys_4789 (4789) ref_cnt=1"));

    assert!(
        lab.ping_until(&h1, &ov(2), Duration::from_secs(8)),
        "h1 cannot reach the kernel VTEP's overlay address:\n{}",
        r.stderr()
    );
    let back = lab.try_exec(&vt.ns, &["ping", "-c", "3", "-i", "0.2", "-W", "1", &ov(1)]);
    assert!(
        back.status.success(),
        "VTEP -> h1: {}",
        String::from_utf8_lossy(&back.stdout)
    );
    let arp = r.ctl(&["tnl/arp/show"]);
    assert!(
        arp.lines()
            .any(|l| l.starts_with(&format!("{} ", u.remote)) && l.contains(&vt.mac)),
        "{arp}"
    );
    let flows = r.ctl(&["dpctl/dump-flows"]);
    assert!(flows.contains("tnl_push(tnl_port("), "{flows}");
    assert!(
        flows.contains(&format!("vxlan(flags=0x8000000,vni={:#x})", u.vni)),
        "{flows}"
    );
    assert!(flows.contains("actions:tnl_pop("), "{flows}");
    let tun = if v6 {
        format!(
            "tunnel(tun_id={:#x},ipv6_src={},ipv6_dst={})",
            u.vni, u.remote, u.local
        )
    } else {
        format!(
            "tunnel(tun_id={:#x},src={},dst={})",
            u.vni, u.remote, u.local
        )
    };
    assert!(flows.contains(&tun), "{tun} not in\n{flows}");

    let up = iperf(&mut lab, &vt.ns, &h1.ns, &ov(2), "5401");
    let down = iperf(&mut lab, &h1.ns, &vt.ns, &ov(1), "5402");
    eprintln!(
        "VXLAN over IPv{} through rvs: h1 -> VTEP {up:.0} Mbit/s, VTEP -> h1 {down:.0} Mbit/s",
        if v6 { 6 } else { 4 }
    );

    if have("tshark") && have("tcpdump") {
        let outer = if v6 { "ipv6.src" } else { "ip.src" };
        let fields = ["vxlan.vni", outer, "ip.src", "eth.src"];
        let lines = wire_fields(
            &mut lab,
            &sb,
            &vt.ns,
            "eth0",
            "udp port 4789",
            &fields,
            |lab| {
                let _ = lab.ping(&h1, &ov(2), 2);
            },
        );
        // The VNI, rvs's outer source, h1's inner source address and MAC
        // (the second Ethernet source).
        let vni = u.vni.to_string();
        let inner = ov(1);
        let from_h1: Vec<&Vec<String>> = lines
            .iter()
            .filter(|l| {
                l.first() == Some(&vni) && l.contains(&u.local.to_string()) && l.contains(&inner)
            })
            .collect();
        assert!(
            !from_h1.is_empty(),
            "tshark saw no VXLAN from rvs: {lines:#?}"
        );
        assert!(
            from_h1.iter().all(|l| l.last() == Some(&h1.mac)),
            "{lines:#?}"
        );
    } else {
        eprintln!("note: tshark not installed, wire decode not checked");
    }
}

#[test]
fn vxlan_interoperates_with_a_linux_kernel_vtep() {
    vxlan_with_a_kernel_vtep(Underlay {
        letter: 't',
        local: "172.31.20.1",
        remote: "172.31.20.2",
        plen: 24,
        vni: 5000,
        net: 20,
        mtu: "1450",
    });
}

#[test]
fn vxlan_over_an_ipv6_underlay_with_a_linux_kernel_vtep() {
    vxlan_with_a_kernel_vtep(Underlay {
        letter: 'v',
        local: "fd31:22::1",
        remote: "fd31:22::2",
        plen: 64,
        vni: 6000,
        net: 22,
        mtu: "1430",
    });
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
             [[bridge.port]]\nname = \"gnv\"\ntype = \"geneve\"\nremote_ip = \"{remote}\"\nkey = 77\ntos = \"inherit\"\n\n\
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
                let _ = lab.ping(&ha, "10.250.21.2", 2);
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

    // Geneve options: both map {0xffff,0,4} -> tun_metadata0; A's
    // packets carry tun_metadata0 = 0xabcd, and B forwards only those
    // from the tunnel (anything else from gnv is dropped).
    for r in [&ra, &rb] {
        r.ctl(&[
            "add-tlv-map",
            "br-int",
            "{class=0xffff,type=0,len=4}->tun_metadata0",
        ]);
    }
    ra.ctl(&[
        "add-flow",
        "br-int",
        "priority=10,in_port=host,actions=set_field:0xabcd->tun_metadata0,normal",
    ]);
    rb.ctl(&[
        "add-flow",
        "br-int",
        "priority=20,in_port=gnv,tun_metadata0=0xabcd,actions=normal",
    ]);
    rb.ctl(&["add-flow", "br-int", "priority=15,in_port=gnv,actions=drop"]);
    assert!(
        lab.ping_until(&ha, "10.250.21.2", Duration::from_secs(5)),
        "tun_metadata0=0xabcd did not get through:\n{}",
        rb.ctl(&["dpctl/dump-flows"])
    );
    let flows = rb.ctl(&["dpctl/dump-flows"]);
    assert!(
        flows.contains("md_present=0x1/0x1,md=0x0000abcd"),
        "{flows}"
    );
    if have("tshark") && have("tcpdump") {
        // The option on the wire, and the outer DSCP inherited from a
        // ping with TOS 0xb8 (tos=inherit).
        let lines = wire_fields(
            &mut lab,
            &sba,
            &swa,
            "ul0",
            "udp port 6081 and src host 172.31.21.1",
            &[
                "geneve.vni",
                "geneve.option.class",
                "geneve.option.unknown.data",
                "ip.dsfield",
            ],
            |lab| {
                let _ = lab.try_exec(
                    &ha.ns,
                    &[
                        "ping",
                        "-c",
                        "2",
                        "-i",
                        "0.2",
                        "-W",
                        "1",
                        "-Q",
                        "0xb8",
                        "10.250.21.2",
                    ],
                );
            },
        );
        assert!(
            lines
                .iter()
                .any(|l| l[..] == ["77", "65535", "0000abcd", "184", "184"]),
            "tshark saw no Geneve option 0xffff = 0000abcd with DSCP 0xb8: {lines:#?}"
        );
    }
    // Another value: B drops it.
    ra.ctl(&[
        "mod-flows",
        "br-int",
        "in_port=host,actions=set_field:0x1111->tun_metadata0,normal",
    ]);
    assert!(!lab.ping(&ha, "10.250.21.2", 2));
    assert!(rb.rule_packets("br-int", "priority=15") > 0);
}
