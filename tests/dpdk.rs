//! End-to-end tests of DPDK ports (`type = "dpdk"`), with the `dpdk`
//! feature: `cargo test --features dpdk --test dpdk`.
//!
//! Plan: every test runs the `rvs` binary (one process each, so each gets
//! its own DPDK EAL, which can be initialised once per process) with EAL
//! on ordinary memory (`--no-huge -m 1024 --no-shconf --no-pci`, no NIC
//! needed) and DPDK virtual devices. `net_pcap` ports read a capture
//! built here and write what the switch sends, through DPDK's real
//! receive and transmit paths and mbufs; the test waits until the
//! device's transmit counter (`dump-ports`, from `rte_eth_stats`) reaches
//! the expected count, stops the switch (which closes the devices and so
//! flushes the captures) and compares the captures byte for byte, as
//! multisets. Covered: plain forwarding and a pushed VLAN tag (written
//! into the mbuf's headroom); two receive queues polled by two PMDs with
//! one transmit queue each; bad devargs and a failed EAL init refused at
//! startup with errors naming the port and pointing at hugepages.md.

#![cfg(feature = "dpdk")]

mod common;

use common::*;
use std::time::{Duration, Instant};

const EAL: &str = "[dpdk]\neal_args = [\"--no-huge\", \"-m\", \"1024\", \"--no-shconf\", \"--no-pci\", \"-l\", \"0\"]\n";

/// A config: `cores`, the EAL section, then `body`.
fn config(sb: &Sandbox, cores: &str, body: &str) -> std::path::PathBuf {
    let text = format!(
        "[control]\nsocket = \"{}\"\n\n[pmd]\ncores = {cores}\n\n{EAL}\n{body}",
        sb.socket().display()
    );
    sb.write("rvs.toml", &text)
}

/// A `type = "dpdk"` port.
fn dpdk_port(name: &str, ofport: u32, devargs: &str, extra: &str) -> String {
    format!("[[bridge.port]]\nname = \"{name}\"\nofport = {ofport}\ntype = \"dpdk\"\ndevargs = \"{devargs}\"\n{extra}\n")
}

fn bridge(flows: &[&str], ports: &[String]) -> String {
    let flows: Vec<String> = flows.iter().map(|f| format!("    \"{f}\",\n")).collect();
    format!(
        "[[bridge]]\nname = \"br0\"\nflows = [\n{}]\n\n{}",
        flows.concat(),
        ports.concat()
    )
}

/// Waits (10 s at most) until OpenFlow port `ofport` has sent `n` packets.
#[track_caller]
fn wait_tx(r: &Rvs, ofport: u64, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, tx) = r.port_counts("br0", ofport);
        if tx >= n {
            assert_eq!(tx, n, "port {ofport} sent more than expected");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "port {ofport} sent {tx} of {n} packets within 10 s:\n{}",
            r.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `frame` with an 802.1Q tag (VID `vid`, PCP 0) after the MAC addresses.
fn tagged(frame: &[u8], vid: u16) -> Vec<u8> {
    let mut f = frame[..12].to_vec();
    f.extend_from_slice(&[0x81, 0x00, (vid >> 8) as u8, vid as u8]);
    f.extend_from_slice(&frame[12..]);
    f
}

#[test]
fn pcap_vdev_forwarding_is_byte_exact() {
    let sb = Sandbox::new("dpdk-fwd");
    let udp_frames: Vec<_> = (0..40u16)
        .map(|i| udp(2, 1000 + i, 53, 60 + i as usize))
        .collect();
    let tcp_frames: Vec<_> = (0..30u16)
        .map(|i| tcp(3, 2000 + i, 80, 54 + 3 * i as usize))
        .collect();
    let mut input = Vec::new();
    for i in 0..40 {
        input.push(udp_frames[i].clone());
        if i < 30 {
            input.push(tcp_frames[i].clone());
        }
    }
    let inp = sb.write_pcap("in.pcap", &input);
    let out = sb.path("out.pcap");
    let cfg = config(
        &sb,
        "[0]",
        &bridge(
            &[
                "priority=10,in_port=1,udp,actions=mod_vlan_vid:10,output:2",
                "priority=5,in_port=1,actions=output:2",
            ],
            &[
                dpdk_port("d1", 1, &format!("net_pcap0,rx_pcap={}", inp.display()), ""),
                dpdk_port("d2", 2, &format!("net_pcap1,tx_pcap={}", out.display()), ""),
            ],
        ),
    );
    let mut r = Rvs::start(&sb, &cfg);
    wait_tx(&r, 2, input.len() as u64);
    assert_eq!(r.port_counts("br0", 1).0, input.len() as u64);
    r.exit();
    let mut want: Vec<_> = udp_frames.iter().map(|f| tagged(f, 10)).collect();
    want.extend(tcp_frames);
    assert_same_frames("out.pcap", read_pcap(&out), want);
    let err = r.stderr();
    assert!(
        err.contains("rvs: port d2: rx 0 pkts, tx 70 pkts, drop rx 0 tx 0"),
        "{err}"
    );
}

#[test]
fn two_rx_queues_on_two_pmds() {
    let sb = Sandbox::new("dpdk-mq");
    // One capture per receive queue (net_pcap gives a queue per rx_pcap),
    // a transmit queue per PMD (one tx_pcap each).
    let a: Vec<_> = (0..50u16).map(|i| udp(2, 3000 + i, 53, 64)).collect();
    let b: Vec<_> = (0..60u16).map(|i| tcp(3, 4000 + i, 80, 70)).collect();
    let (pa, pb) = (sb.write_pcap("a.pcap", &a), sb.write_pcap("b.pcap", &b));
    let (o0, o1) = (sb.path("out0.pcap"), sb.path("out1.pcap"));
    let cfg = config(
        &sb,
        "[0, 1]\nrxq_assign = \"roundrobin\"",
        &bridge(
            &["in_port=1,actions=output:2"],
            &[
                dpdk_port(
                    "d1",
                    1,
                    &format!(
                        "net_pcap0,rx_pcap={},rx_pcap={}",
                        pa.display(),
                        pb.display()
                    ),
                    "n_rxq = 2",
                ),
                dpdk_port(
                    "d2",
                    2,
                    &format!(
                        "net_pcap1,tx_pcap={},tx_pcap={}",
                        o0.display(),
                        o1.display()
                    ),
                    "",
                ),
            ],
        ),
    );
    let mut r = Rvs::start(&sb, &cfg);
    let rxq = r.ctl(&["dpif-netdev/pmd-rxq-show"]);
    let per_pmd: Vec<&str> = rxq.split("pmd thread").skip(1).collect();
    assert_eq!(per_pmd.len(), 2, "{rxq}");
    assert!(
        per_pmd[0].contains("queue-id:  0") && per_pmd[1].contains("queue-id:  1"),
        "{rxq}"
    );
    wait_tx(&r, 2, 110);
    let stats = r.ctl(&["--json", "dpif-netdev/pmd-stats-show"]);
    let v: serde_json::Value = serde_json::from_str(&stats).unwrap();
    let rx: Vec<u64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["rx_packets"].as_u64().unwrap())
        .collect();
    assert_eq!(rx.len(), 2);
    assert!(
        rx.contains(&50) && rx.contains(&60),
        "each PMD polled its own queue: {rx:?}"
    );
    r.exit();
    let (g0, g1) = (read_pcap(&o0), read_pcap(&o1));
    assert!(
        !g0.is_empty() && !g1.is_empty(),
        "both PMDs sent on their own queue"
    );
    let mut all = g0;
    all.extend(g1);
    let mut want = a;
    want.extend(b);
    assert_same_frames("out0 + out1", all, want);
}

/// Runs a config that must fail at startup; returns stderr.
fn startup_error(sb: &Sandbox, cfg: &std::path::Path) -> String {
    let mut r = Rvs::spawn(sb, cfg, false);
    let st = r.wait_exit(Duration::from_secs(10));
    assert_ne!(st.code(), Some(0));
    assert!(!sb.socket().exists());
    r.stderr()
}

#[test]
fn bad_devargs_is_a_clear_startup_error() {
    let sb = Sandbox::new("dpdk-bad-devargs");
    let cfg = config(
        &sb,
        "[0]",
        &bridge(&[], &[dpdk_port("d1", 1, "net_nosuchdriver0,x=1", "")]),
    );
    let err = startup_error(&sb, &cfg);
    assert!(
        err.contains(
            "rvs: bridge br0: port d1: devargs \"net_nosuchdriver0,x=1\": cannot attach the device"
        ),
        "{err}"
    );
}

#[test]
fn failed_eal_init_points_at_hugepages_md() {
    let sb = Sandbox::new("dpdk-bad-eal");
    let text = format!(
        "[control]\nsocket = \"{}\"\n[dpdk]\neal_args = [\"--no-such-eal-option\"]\n{}",
        sb.socket().display(),
        bridge(&[], &[dpdk_port("d1", 1, "net_null0", "")])
    );
    let cfg = sb.write("rvs.toml", &text);
    let err = startup_error(&sb, &cfg);
    assert!(err.contains("DPDK EAL initialisation failed"), "{err}");
    assert!(err.contains("--no-such-eal-option"), "{err}");
    assert!(err.contains("see hugepages.md"), "{err}");
}
