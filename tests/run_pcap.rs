//! End-to-end tests of `rvs run --exit-on-eof` over pcap ports: a capture
//! in, the expected captures out.
//!
//! Plan: each test writes a config with one bridge, a pcap rx port `p1`
//! replaying a capture built here (several flows interleaved, so the first
//! packets of every flow go through upcalls while later ones may hit
//! megaflows or the EMC) and pcap tx ports writing what the switch sends;
//! it runs the built binary with `--exit-on-eof`, which must exit 0 by
//! itself, then compares each output capture, as a multiset of frames,
//! with frames built independently for what the rules say (so counts,
//! duplicates and every byte are checked, checksums included, and also
//! recomputed with the reference checksum). Covered: plain forwarding;
//! mod_dl_src, mod_nw_dst and dec_ttl on UDP and TCP; VLAN push
//! (`mod_vlan_vid` on an untagged packet, `push_vlan` + `mod_vlan_vid`),
//! VID rewrite on a tagged packet and `strip_vlan`; a three-table pipeline
//! with registers, `goto_table` and `resubmit(,2)`; drops by a
//! `priority=0,actions=drop` rule and by table miss; `flood`, `all`,
//! `in_port`, and output to the input port sending nothing. The per-port
//! counters printed at exit must agree.

mod common;

use common::*;
use dpif_netdev::wire::build::{self, Ipv4Spec, L4};
use std::time::Duration;

/// A pcap port `name` numbered `ofport`, with optional rx and tx captures
/// (relative to the sandbox).
fn pcap_port(name: &str, ofport: u32, rx: Option<&str>, tx: Option<&str>) -> String {
    let mut s = format!("[[bridge.port]]\nname = \"{name}\"\nofport = {ofport}\ntype = \"pcap\"\n");
    if let Some(rx) = rx {
        s += &format!("rx_pcap = \"{rx}\"\n");
    }
    if let Some(tx) = tx {
        s += &format!("tx_pcap = \"{tx}\"\n");
    }
    s + "\n"
}

/// `[[bridge]] br0` with `flows`, then the ports.
fn bridge(flows: &[&str], ports: &[String]) -> String {
    let flows: Vec<String> = flows.iter().map(|f| format!("    \"{f}\",\n")).collect();
    format!(
        "[[bridge]]\nname = \"br0\"\nflows = [\n{}]\n\n{}",
        flows.concat(),
        ports.concat()
    )
}

/// The usual ports: p1 replays in.pcap, p2..p4 write pN.pcap.
fn ports_1_to_4() -> Vec<String> {
    vec![
        pcap_port("p1", 1, Some("in.pcap"), None),
        pcap_port("p2", 2, None, Some("p2.pcap")),
        pcap_port("p3", 3, None, Some("p3.pcap")),
        pcap_port("p4", 4, None, Some("p4.pcap")),
    ]
}

/// Runs the config to the end of its capture: exit 0 by itself within
/// 10 s. Returns stderr (the exit summary).
fn run_to_eof(sb: &Sandbox, cfg: &std::path::Path) -> String {
    let mut r = Rvs::spawn(sb, cfg, true);
    let st = r.wait_exit(Duration::from_secs(10));
    let err = r.stderr();
    assert_eq!(st.code(), Some(0), "rvs run --exit-on-eof:\n{err}");
    assert!(!sb.socket().exists(), "control socket left behind");
    err
}

/// `(rx, tx)` of a port from the exit summary line
/// `rvs: port p1: rx N pkts, tx M pkts, ...`.
#[track_caller]
fn summary(err: &str, port: &str) -> (u64, u64) {
    let tag = format!("rvs: port {port}: ");
    let line = err
        .lines()
        .find(|l| l.starts_with(&tag))
        .unwrap_or_else(|| panic!("no summary for {port}:\n{err}"));
    (field_u64(line, "rx "), field_u64(line, "tx "))
}

/// Interleaves groups of frames round-robin (so flows alternate in the
/// capture, as on a real link).
fn interleave(groups: &[&[Vec<u8>]]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let longest = groups.iter().map(|g| g.len()).max().unwrap_or(0);
    for i in 0..longest {
        for g in groups {
            if let Some(f) = g.get(i) {
                out.push(f.clone());
            }
        }
    }
    out
}

/// A UDP or TCP frame from mac 1 to mac 2 with an explicit IPv4 spec.
fn frame_with(
    src_mac: u8,
    spec: &Ipv4Spec,
    tcp: bool,
    sport: u16,
    dport: u16,
    len: usize,
) -> Vec<u8> {
    let p = build::payload(len);
    let l4 = if tcp {
        L4::Tcp {
            sport,
            dport,
            flags: 0x18,
            payload: &p,
        }
    } else {
        L4::Udp {
            sport,
            dport,
            payload: &p,
        }
    };
    build::ipv4_frame(mac(src_mac), mac(2), spec, &l4)
}

#[test]
fn forwarding_rewrites_and_drops() {
    let sb = Sandbox::new("pcap-rewrites");
    let cfg = sb.config(
        "",
        &bridge(
            &[
                "priority=10,udp,in_port=1,nw_dst=10.0.0.2,actions=output:2",
                "priority=10,ip,in_port=1,nw_dst=10.0.0.3,actions=mod_dl_src:02:00:00:00:00:99,mod_nw_dst:10.0.0.33,dec_ttl,output:3",
                "priority=10,tcp,in_port=1,nw_dst=10.0.0.4,actions=dec_ttl,output:4",
                "priority=0,actions=drop",
            ],
            &ports_1_to_4(),
        ),
    );
    // 40 plain UDP over 8 source ports, 20 UDP + 20 TCP rewritten, 10 TCP
    // with TTL decremented, 7 UDP and 3 ARP dropped.
    let plain: Vec<_> = (0..40)
        .map(|i| udp(2, 1000 + i % 8, 53, 20 + i as usize))
        .collect();
    let rw: Vec<_> = (0..40)
        .map(|i| {
            let spec = Ipv4Spec::new(ip(1), ip(3));
            frame_with(1, &spec, i % 2 == 1, 2000 + i % 5, 80, 10 + i as usize)
        })
        .collect();
    let ttl: Vec<_> = (0..10).map(|i| tcp(4, 3000 + i, 443, 30)).collect();
    let dropped: Vec<_> = (0..7)
        .map(|i| udp(9, 4000 + i, 53, 16))
        .chain((0..3).map(|i| build::arp(mac(1), [0xff; 6], 1, mac(1), ip(1), [0; 6], ip(10 + i))))
        .collect();
    let input = interleave(&[&plain, &rw, &ttl, &dropped]);
    assert_eq!(input.len(), 100);
    sb.write_pcap("in.pcap", &input);

    let err = run_to_eof(&sb, &cfg);

    assert_same_frames("p2", read_pcap(&sb.path("p2.pcap")), plain.clone());
    let want3: Vec<_> = (0..40)
        .map(|i| {
            let mut spec = Ipv4Spec::new(ip(1), ip(33));
            spec.ttl = 63;
            frame_with(0x99, &spec, i % 2 == 1, 2000 + i % 5, 80, 10 + i as usize)
        })
        .collect();
    let got3 = read_pcap(&sb.path("p3.pcap"));
    for f in &got3 {
        assert_ipv4_checksums(f);
    }
    assert_same_frames("p3 (mod_dl_src, mod_nw_dst, dec_ttl)", got3, want3);
    let want4: Vec<_> = (0..10)
        .map(|i| {
            let mut spec = Ipv4Spec::new(ip(1), ip(4));
            spec.ttl = 63;
            frame_with(1, &spec, true, 3000 + i, 443, 30)
        })
        .collect();
    let got4 = read_pcap(&sb.path("p4.pcap"));
    for f in &got4 {
        assert_ipv4_checksums(f);
    }
    assert_same_frames("p4 (dec_ttl)", got4, want4);

    assert_eq!(summary(&err, "p1"), (100, 0), "{err}");
    assert_eq!(summary(&err, "p2"), (0, 40), "{err}");
    assert_eq!(summary(&err, "p3"), (0, 40), "{err}");
    assert_eq!(summary(&err, "p4"), (0, 10), "{err}");
}

#[test]
fn vlan_push_rewrite_and_pop() {
    let sb = Sandbox::new("pcap-vlan");
    let cfg = sb.config(
        "",
        &bridge(
            &[
                "priority=20,in_port=1,dl_vlan=10,actions=strip_vlan,output:2",
                "priority=10,udp,in_port=1,nw_dst=10.0.0.3,actions=mod_vlan_vid:100,output:3",
                "priority=10,udp,in_port=1,nw_dst=10.0.0.4,actions=push_vlan:0x8100,mod_vlan_vid:200,output:4",
                "priority=0,actions=drop",
            ],
            &ports_1_to_4(),
        ),
    );
    let tci = |pcp: u16, vid: u16| (pcp << 13) | vid;
    // Tagged VLAN 10 (PCP 3), to two destinations: untagged out p2.
    let v10: Vec<_> = (0..12)
        .map(|i| build::push_vlan(&udp(2 + (i % 2) as u8, 100 + i, 7, 18), 0x8100, tci(3, 10)))
        .collect();
    // Untagged to .3: tag 100 pushed (PCP 0). Tagged VLAN 20 PCP 5 to .3:
    // VID rewritten to 100, PCP kept.
    let un3: Vec<_> = (0..10).map(|i| udp(3, 200 + i, 7, 22)).collect();
    let v20: Vec<_> = (0..6)
        .map(|i| build::push_vlan(&udp(3, 300 + i, 7, 26), 0x8100, tci(5, 20)))
        .collect();
    // Untagged to .4: push_vlan + mod_vlan_vid:200.
    let un4: Vec<_> = (0..9).map(|i| udp(4, 400 + i, 7, 30)).collect();
    // Untagged to .5: dropped.
    let un5: Vec<_> = (0..5).map(|i| udp(5, 500 + i, 7, 30)).collect();
    sb.write_pcap("in.pcap", &interleave(&[&v10, &un3, &v20, &un4, &un5]));

    let err = run_to_eof(&sb, &cfg);

    let want2: Vec<_> = (0..12)
        .map(|i| udp(2 + (i % 2) as u8, 100 + i, 7, 18))
        .collect();
    assert_same_frames("p2 (strip_vlan)", read_pcap(&sb.path("p2.pcap")), want2);
    let want3: Vec<_> = un3
        .iter()
        .map(|f| build::push_vlan(f, 0x8100, tci(0, 100)))
        .chain((0..6).map(|i| build::push_vlan(&udp(3, 300 + i, 7, 26), 0x8100, tci(5, 100))))
        .collect();
    assert_same_frames("p3 (mod_vlan_vid)", read_pcap(&sb.path("p3.pcap")), want3);
    let want4: Vec<_> = un4
        .iter()
        .map(|f| build::push_vlan(f, 0x8100, tci(0, 200)))
        .collect();
    assert_same_frames("p4 (push_vlan)", read_pcap(&sb.path("p4.pcap")), want4);
    assert_eq!(summary(&err, "p1"), (42, 0), "{err}");
}

#[test]
fn multi_table_pipeline_with_registers() {
    let sb = Sandbox::new("pcap-tables");
    let cfg = sb.config(
        "",
        &bridge(
            &[
                "table=0,priority=10,in_port=1,actions=load:0x2a->NXM_NX_REG0[],goto_table:1",
                "table=0,priority=0,actions=drop",
                "table=1,priority=10,reg0=0x2a,udp,nw_dst=10.0.0.2,actions=output:2",
                "table=1,priority=10,reg0=0x2a,udp,nw_dst=10.0.0.3,actions=load:0x7->NXM_NX_REG1[],resubmit(,2)",
                "table=1,priority=10,reg0=0x2a,tcp,actions=resubmit(,2),output:2",
                "table=2,priority=10,reg1=0x7,actions=mod_dl_dst:02:00:00:00:00:77,output:3",
                "table=2,priority=5,actions=output:4",
            ],
            &ports_1_to_4(),
        ),
    );
    let to2: Vec<_> = (0..15).map(|i| udp(2, 10 + i, 9, 20)).collect();
    let to3: Vec<_> = (0..15).map(|i| udp(3, 30 + i, 9, 20)).collect();
    let tcps: Vec<_> = (0..8).map(|i| tcp(6, 50 + i, 22, 12)).collect();
    // UDP to .9 matches nothing in table 1: table miss, dropped.
    let miss: Vec<_> = (0..6).map(|i| udp(9, 70 + i, 9, 20)).collect();
    sb.write_pcap("in.pcap", &interleave(&[&to2, &to3, &tcps, &miss]));

    let err = run_to_eof(&sb, &cfg);

    // p2: the UDP to .2, and every TCP (after table 2 sent it to p4).
    let want2: Vec<_> = to2.iter().chain(&tcps).cloned().collect();
    assert_same_frames("p2", read_pcap(&sb.path("p2.pcap")), want2);
    let want3: Vec<_> = (0..15)
        .map(|i| build::udp4(mac(1), mac(0x77), ip(1), ip(3), 30 + i, 9, 20))
        .collect();
    assert_same_frames(
        "p3 (reg1 set, resubmit)",
        read_pcap(&sb.path("p3.pcap")),
        want3,
    );
    assert_same_frames("p4 (table 2 default)", read_pcap(&sb.path("p4.pcap")), tcps);
    assert_eq!(summary(&err, "p1"), (44, 0), "{err}");
    assert_eq!(summary(&err, "p2").1, 23, "{err}");
}

#[test]
fn flood_all_in_port_and_output_to_input_port() {
    let sb = Sandbox::new("pcap-flood");
    let ports = vec![
        pcap_port("p1", 1, Some("in.pcap"), Some("p1.pcap")),
        pcap_port("p2", 2, None, Some("p2.pcap")),
        pcap_port("p3", 3, None, Some("p3.pcap")),
        pcap_port("p4", 4, None, Some("p4.pcap")),
    ];
    let cfg = sb.config(
        "",
        &bridge(
            &[
                "priority=10,udp,in_port=1,nw_dst=10.0.0.2,actions=flood",
                "priority=10,udp,in_port=1,nw_dst=10.0.0.3,actions=all",
                "priority=10,udp,in_port=1,nw_dst=10.0.0.4,actions=in_port",
                "priority=10,udp,in_port=1,nw_dst=10.0.0.5,actions=output:1",
                "priority=10,udp,in_port=1,nw_dst=10.0.0.6,actions=output:1,output:2",
            ],
            &ports,
        ),
    );
    let g: Vec<Vec<Vec<u8>>> = (2..=6u8)
        .map(|d| (0..7).map(|i| udp(d, 600 + i, 9, 24)).collect())
        .collect();
    let refs: Vec<&[Vec<u8>]> = g.iter().map(Vec::as_slice).collect();
    sb.write_pcap("in.pcap", &interleave(&refs));

    let err = run_to_eof(&sb, &cfg);

    let (flood, all, inp, _to_in, both) = (&g[0], &g[1], &g[2], &g[3], &g[4]);
    let cat = |parts: &[&Vec<Vec<u8>>]| -> Vec<Vec<u8>> {
        parts.iter().flat_map(|p| p.iter().cloned()).collect()
    };
    assert_same_frames(
        "p1 (in_port only)",
        read_pcap(&sb.path("p1.pcap")),
        inp.clone(),
    );
    assert_same_frames(
        "p2",
        read_pcap(&sb.path("p2.pcap")),
        cat(&[flood, all, both]),
    );
    assert_same_frames("p3", read_pcap(&sb.path("p3.pcap")), cat(&[flood, all]));
    assert_same_frames("p4", read_pcap(&sb.path("p4.pcap")), cat(&[flood, all]));
    assert_eq!(summary(&err, "p1"), (35, 7), "{err}");
    assert_eq!(summary(&err, "p2"), (0, 21), "{err}");
}
