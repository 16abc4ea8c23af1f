//! rvs switching real Linux hosts: network namespaces joined to rvs over
//! veth pairs and `afpacket` ports, with the bridge's default
//! `priority=0,actions=normal`.
//!
//! Plan: each test builds its hosts (see `common::netns`), starts `rvs run`
//! with one afpacket port per host, and checks what a person would check
//! with OVS: ping both ways, `fdb/show`, port counters showing flooding
//! stop once MACs are learned, VLAN access/trunk separation with tags seen
//! on the wire, a TCP transfer with iperf3, the host's own address on the
//! bridge's internal port, an interface going down and up, and oversized
//! frames counted as drops. Tests skip (pass, with a message) where the
//! process may not create namespaces; CI runs them as root. Addresses are
//! in 10.250.0.0/16, one /24 per test.

mod common;

use common::netns::{must, Host, Lab};
use common::{Rvs, Sandbox};
use std::time::Duration;

/// A config with one bridge of afpacket ports, one per host (ofport i+1),
/// `extra` appended to each port by index, and no internal port unless
/// asked for.
fn config(
    sb: &Sandbox,
    bridge: &str,
    hosts: &[&Host],
    extra: &[&str],
    internal: bool,
) -> std::path::PathBuf {
    let mut body = format!("[[bridge]]\nname = \"{bridge}\"\ninternal = {internal}\n");
    for (i, h) in hosts.iter().enumerate() {
        body += &format!(
            "\n[[bridge.port]]\nname = \"h{}\"\nofport = {}\ntype = \"afpacket\"\niface = \"{}\"\n{}\n",
            i + 1,
            i + 1,
            h.port_if,
            extra.get(i).copied().unwrap_or("")
        );
    }
    sb.config("", &body)
}

/// `dump-ports --json` as (ofport → json object).
fn ports(r: &Rvs, bridge: &str) -> Vec<serde_json::Value> {
    let out = r.ctl(&["--json", "dump-ports", bridge]);
    serde_json::from_str::<serde_json::Value>(&out)
        .expect("dump-ports json")
        .as_array()
        .expect("array")
        .clone()
}

fn counter(r: &Rvs, bridge: &str, port: u64, what: &str) -> u64 {
    ports(r, bridge)
        .iter()
        .find(|p| p["port"] == port)
        .and_then(|p| p[what].as_u64())
        .unwrap_or_else(|| panic!("no {what} for port {port}"))
}

#[test]
fn three_hosts_ping_learn_and_stop_flooding() {
    let Some(mut lab) = Lab::new('a') else { return };
    let h1 = lab.host(1, "10.250.1.1/24");
    let h2 = lab.host(2, "10.250.1.2/24");
    let h3 = lab.host(3, "10.250.1.3/24");
    let sb = Sandbox::new("l2-three");
    let cfg = config(&sb, "br0", &[&h1, &h2, &h3], &[], false);
    let r = Rvs::start(&sb, &cfg);

    assert!(
        lab.ping_until(&h1, &h2.ip, Duration::from_secs(5)),
        "h1 -> h2:\n{}",
        r.stderr()
    );
    assert!(lab.ping(&h2, &h1.ip, 3), "h2 -> h1");
    assert!(lab.ping(&h3, &h1.ip, 3), "h3 -> h1");
    assert!(lab.ping(&h3, &h2.ip, 3), "h3 -> h2");

    // fdb/show: each host's MAC on its own port, VLAN 0.
    let fdb = r.ctl(&["fdb/show", "br0"]);
    assert!(
        fdb.starts_with(" port  VLAN  MAC                Age\n"),
        "{fdb}"
    );
    for (port, h) in [(1, &h1), (2, &h2), (3, &h3)] {
        let line = fdb
            .lines()
            .find(|l| l.contains(&h.mac))
            .unwrap_or_else(|| panic!("{} not in fdb/show:\n{fdb}", h.mac));
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols[..2], [port.to_string().as_str(), "0"], "{line}");
    }

    // Once learned, h1 <-> h2 traffic is unicast: h3's port sends nothing
    // while 10 pings go back and forth (`dump-flows` revalidates first,
    // turning any flood megaflow into a unicast one; a fixed wait for the
    // periodic pass could fall short on a loaded machine).
    r.ctl(&["dump-flows", "br0"]);
    let before = counter(&r, "br0", 3, "tx_packets");
    assert!(lab.ping(&h1, &h2.ip, 10), "h1 -> h2 again");
    let after = counter(&r, "br0", 3, "tx_packets");
    assert_eq!(
        after,
        before,
        "h3's port got {} flooded packets",
        after - before
    );
    let flows = r.ctl(&["dpctl/dump-flows"]);
    let to_h2 = flows
        .lines()
        .find(|l| l.contains(&format!("src={},dst={}", h1.mac, h2.mac)) && l.contains("0x0800"))
        .unwrap_or_else(|| panic!("no h1->h2 IPv4 megaflow:\n{flows}"));
    assert!(to_h2.trim_end().ends_with("actions:2"), "{to_h2}");

    // fdb/flush forgets everything; traffic relearns.
    assert_eq!(r.ctl(&["fdb/flush", "br0"]), "table successfully flushed\n");
    assert_eq!(r.ctl(&["fdb/show", "br0"]).lines().count(), 1);
    assert!(lab.ping(&h1, &h2.ip, 2));
    // The pings ran through megaflows installed before the flush, so the
    // MACs come back when the revalidator credits their hits (as in OVS).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !r.ctl(&["fdb/show", "br0"]).contains(&h2.mac) {
        assert!(std::time::Instant::now() < deadline, "h2 not relearned");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_mac_that_moves_is_followed() {
    let Some(mut lab) = Lab::new('b') else { return };
    let h1 = lab.host(1, "10.250.2.1/24");
    let h2 = lab.host(2, "10.250.2.2/24");
    let h3 = lab.host(3, "");
    let sb = Sandbox::new("l2-move");
    let cfg = config(&sb, "br0", &[&h1, &h2, &h3], &[], false);
    let r = Rvs::start(&sb, &cfg);
    assert!(lab.ping_until(&h1, &h2.ip, Duration::from_secs(5)));

    // h2's address and MAC move to h3's namespace (a VM migrating).
    lab.exec(&h2.ns, &["ip", "link", "set", "eth0", "down"]);
    lab.exec(&h3.ns, &["ip", "link", "set", "eth0", "down"]);
    lab.exec(&h3.ns, &["ip", "link", "set", "eth0", "address", &h2.mac]);
    lab.exec(
        &h3.ns,
        &["ip", "addr", "add", "10.250.2.2/24", "dev", "eth0"],
    );
    lab.exec(&h3.ns, &["ip", "link", "set", "eth0", "up"]);
    // The moved host speaks first (a gratuitous ARP, as hypervisors send).
    lab.exec(&h3.ns, &["ping", "-c", "1", "-W", "1", &h1.ip]);
    assert!(
        lab.ping_until(&h1, &h2.ip, Duration::from_secs(5)),
        "h1 cannot reach the moved host"
    );
    let fdb = r.ctl(&["fdb/show", "br0"]);
    let line = fdb
        .lines()
        .find(|l| l.contains(&h2.mac))
        .expect("moved MAC in fdb");
    assert_eq!(line.split_whitespace().next(), Some("3"), "{fdb}");
}

#[test]
fn vlan_access_and_trunk_ports() {
    let Some(mut lab) = Lab::new('c') else { return };
    let a100 = lab.host(1, "10.250.3.1/24");
    let trunk = lab.host(2, "");
    let a200 = lab.host(3, "10.250.3.3/24");
    let sb = Sandbox::new("l2-vlan");
    let cfg = config(
        &sb,
        "br0",
        &[&a100, &trunk, &a200],
        &[
            "tag = 100",
            "vlan_mode = \"trunk\"\ntrunks = [100, 200]",
            "tag = 200",
        ],
        false,
    );
    let r = Rvs::start(&sb, &cfg);

    // The tagged host: a raw-socket peer in VLAN 100 at 10.250.3.2 that
    // answers ARP and ping in tagged frames and pings the access host.
    let peer = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/vlan_peer.py");
    let peer_mac = "02:00:00:00:01:02";
    let p = lab.spawn(
        &trunk.ns,
        &[
            "python3",
            peer,
            "eth0",
            "100",
            peer_mac,
            "10.250.3.2",
            "6",
            &a100.ip,
        ],
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        lab.ping_until(&a100, "10.250.3.2", Duration::from_secs(4)),
        "access host cannot ping the tagged host"
    );
    // VLAN 200 reaches neither.
    assert!(!lab.ping(&a200, &a100.ip, 2), "VLAN 200 reached VLAN 100");
    assert!(
        !lab.ping(&a200, "10.250.3.2", 1),
        "VLAN 200 reached the trunk host"
    );
    let out = lab.wait(p, Duration::from_secs(15));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "peer report: {e}\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    // On the wire: everything the trunk got was tagged, VLAN 100 for the
    // access host's traffic, VLAN 200 only for 200's broadcasts.
    assert_eq!(report["untagged"], 0, "{report}");
    assert!(report["tags"]["100"].as_u64().unwrap_or(0) >= 4, "{report}");
    assert!(
        report["arp_answered"].as_u64().unwrap_or(0) >= 1,
        "{report}"
    );
    assert!(
        report["echo_answered"].as_u64().unwrap_or(0) >= 1,
        "{report}"
    );
    // ...and the other way: the tagged host's own pings were answered.
    assert_eq!(report["ping_mac"], a100.mac.as_str(), "{report}");
    assert!(
        report["echo_replies"].as_u64().unwrap_or(0) >= 3,
        "{report}"
    );
    // The learned MACs sit in their VLANs.
    let fdb = r.ctl(&["fdb/show", "br0"]);
    assert!(
        fdb.lines()
            .any(|l| l.contains(peer_mac) && l.split_whitespace().take(2).eq(["2", "100"])),
        "{fdb}"
    );
    assert!(
        fdb.lines()
            .any(|l| l.contains(&a100.mac) && l.split_whitespace().take(2).eq(["1", "100"])),
        "{fdb}"
    );
    assert!(
        fdb.lines()
            .any(|l| l.contains(&a200.mac) && l.split_whitespace().take(2).eq(["3", "200"])),
        "{fdb}"
    );
}

#[test]
fn tcp_transfer_with_iperf3() {
    let Some(mut lab) = Lab::new('d') else { return };
    if std::process::Command::new("iperf3")
        .arg("-v")
        .output()
        .is_err()
    {
        eprintln!("skipping: iperf3 is not installed");
        return;
    }
    let h1 = lab.host(1, "10.250.4.1/24");
    let h2 = lab.host(2, "10.250.4.2/24");
    let sb = Sandbox::new("l2-iperf");
    let cfg = config(&sb, "br0", &[&h1, &h2], &[], false);
    let r = Rvs::start(&sb, &cfg);
    assert!(lab.ping_until(&h1, &h2.ip, Duration::from_secs(5)));
    let server = lab.spawn(&h2.ns, &["iperf3", "-s", "-1", "-p", "5299"]);
    lab.wait_listening(&h2.ns, 5299);
    let out = lab.try_exec(
        &h1.ns,
        &["iperf3", "-c", &h2.ip, "-p", "5299", "-t", "3", "-J"],
    );
    assert!(
        out.status.success(),
        "iperf3 failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("iperf3 json");
    let bytes = j["end"]["sum_received"]["bytes"].as_u64().unwrap_or(0);
    let bps = j["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap_or(0.0);
    eprintln!(
        "iperf3 through rvs: {:.0} Mbit/s ({bytes} bytes)",
        bps / 1e6
    );
    assert!(bytes > 1_000_000, "only {bytes} bytes arrived");
    let _ = lab.wait(server, Duration::from_secs(10));
    // Checksums were completed by rvs (transmit checksum offload is on in
    // the hosts), or TCP would not have moved a byte; nothing was dropped.
    assert_eq!(counter(&r, "br0", 1, "rx_dropped"), 0);
}

#[test]
fn oversized_frames_are_counted_and_dropped() {
    let Some(mut lab) = Lab::new('e') else { return };
    let h1 = lab.host(1, "10.250.5.1/24");
    let h2 = lab.host(2, "10.250.5.2/24");
    let sb = Sandbox::new("l2-mtu");
    let cfg = config(&sb, "br0", &[&h1, &h2], &[], false);
    let r = Rvs::start(&sb, &cfg);
    assert!(lab.ping_until(&h1, &h2.ip, Duration::from_secs(5)));
    // With GSO on, h1's kernel hands the veth super-frames far above the
    // MTU: rvs must count and drop them, never forward them.
    lab.offloads(&h1.ns, true);
    // A TCP sink that gives up after 4 seconds whatever happens (the
    // sender's stream stalls on its dropped super-frames).
    let sink = "import socket,time\n\
                end=time.time()+4\n\
                s=socket.socket()\n\
                s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
                s.bind(('10.250.5.2',5300))\n\
                s.listen(1)\n\
                s.settimeout(4)\n\
                c,_=s.accept()\n\
                c.settimeout(0.2)\n\
                while time.time()<end:\n  \
                  try:\n    \
                    if not c.recv(65536): break\n  \
                  except socket.timeout: pass\n";
    let server = lab.spawn(&h2.ns, &["python3", "-c", sink]);
    lab.wait_listening(&h2.ns, 5300);
    let _ = lab.try_exec(
        &h1.ns,
        &["python3", "-c", "import socket\ns=socket.create_connection(('10.250.5.2',5300),timeout=3)\ns.settimeout(3)\ntry:\n  s.sendall(b'x'*2000000)\nexcept Exception: pass\n"],
    );
    let _ = lab.wait(server, Duration::from_secs(10));
    let dropped = counter(&r, "br0", 1, "rx_dropped");
    assert!(dropped > 0, "no oversized frame was counted");
    // Every frame h2 got fits the MTU (1500 + 14 bytes of Ethernet).
    let tx = counter(&r, "br0", 2, "tx_packets");
    let txb = counter(&r, "br0", 2, "tx_bytes");
    assert!(txb <= tx * 1514, "{txb} bytes in {tx} frames");
}

#[test]
fn internal_port_gives_the_host_an_address_on_the_bridge() {
    let Some(mut lab) = Lab::new('f') else { return };
    let h1 = lab.host(1, "10.250.6.1/24");
    let br = format!("rvbr{}", std::process::id() % 100_000);
    let sb = Sandbox::new("l2-local");
    let cfg = config(&sb, &br, &[&h1], &[], true);
    let r = Rvs::start(&sb, &cfg);
    assert!(!r.stderr().contains("has no device"), "{}", r.stderr());
    must(&["ip", "addr", "add", "10.250.6.254/24", "dev", &br]);
    must(&["ip", "link", "set", &br, "up"]);
    assert!(
        lab.ping_until(&h1, "10.250.6.254", Duration::from_secs(5)),
        "the host's address on LOCAL does not answer:\n{}",
        r.stderr()
    );
    let fdb = r.ctl(&["fdb/show", &br]);
    assert!(
        fdb.lines().any(|l| l.trim_start().starts_with("LOCAL")),
        "{fdb}"
    );
    let dump = r.ctl(&["dump-ports", &br]);
    assert!(dump.contains("port LOCAL: rx pkts="), "{dump}");
    // Flows can name the port.
    r.ctl(&["add-flow", &br, "priority=5,in_port=LOCAL,actions=normal"]);
    assert!(r.ctl(&["dump-flows", &br]).contains("in_port=LOCAL"));
}

#[test]
fn an_interface_going_down_and_up_resumes() {
    let Some(mut lab) = Lab::new('g') else { return };
    let h1 = lab.host(1, "10.250.7.1/24");
    let h2 = lab.host(2, "10.250.7.2/24");
    let sb = Sandbox::new("l2-updown");
    let cfg = config(&sb, "br0", &[&h1, &h2], &[], false);
    let _r = Rvs::start(&sb, &cfg);
    assert!(lab.ping_until(&h1, &h2.ip, Duration::from_secs(5)));
    must(&["ip", "link", "set", &h2.port_if, "down"]);
    assert!(!lab.ping(&h1, &h2.ip, 1));
    must(&["ip", "link", "set", &h2.port_if, "up"]);
    assert!(
        lab.ping_until(&h1, &h2.ip, Duration::from_secs(8)),
        "no traffic after the link came back"
    );
}
