//! End-to-end tests of a running `rvs run` driven through `rvs ctl`.
//!
//! Plan: start the built binary on a config of dummy ports (their sent
//! frames go to tx captures) and feed it with `netdev-dummy/receive`, which
//! returns only once its packets are fully processed, so after every step
//! the counters are exact: the rule's `n_packets` (`dump-flows`), the
//! megaflows and their packet counts (`dpctl/dump-flows`), the ports'
//! counters (`dump-ports`) and the PMD counters
//! (`dpif-netdev/pmd-stats-show --json`, whose hit/miss classes must add up
//! to the packets received). Then: a new flow bursting 32 packets before
//! its megaflow exists is forwarded exactly once per packet with one
//! megaflow; `add-flow` / `mod-flows` / `del-flows` take effect for the
//! next packet once the command returns, leave no megaflow with the old
//! actions and lose no packet (in = out + explicit drops); the same under
//! traffic from a looping capture, where the old output port's counter
//! must stop growing once `mod-flows` returns; `ofproto/trace`,
//! `pmd-perf-show`, `pmd-rxq-show`, `pmd-stats-clear` and `list-commands`
//! answer; and SIGTERM makes `rvs run` exit 0 with its captures flushed.
//! Every capture is read after `rvs ctl exit` (or the signal), once the
//! process has exited 0.

mod common;

use common::*;
use dpif_netdev::wire::build::{self, Ipv4Spec, L4};
use std::time::{Duration, Instant};

/// A bridge br0 with `flows` and dummy ports p1..p3 (p2 and p3 capture
/// to p2.pcap / p3.pcap).
fn dummy_bridge(flows: &[&str]) -> String {
    let flows: Vec<String> = flows.iter().map(|f| format!("    \"{f}\",\n")).collect();
    format!(
        "[[bridge]]\nname = \"br0\"\nflows = [\n{}]\n\n\
         [[bridge.port]]\nname = \"p1\"\nofport = 1\ntype = \"dummy\"\n\n\
         [[bridge.port]]\nname = \"p2\"\nofport = 2\ntype = \"dummy\"\ntx_pcap = \"p2.pcap\"\n\n\
         [[bridge.port]]\nname = \"p3\"\nofport = 3\ntype = \"dummy\"\ntx_pcap = \"p3.pcap\"\n",
        flows.concat()
    )
}

/// The PMD counters (`--json`), summed over PMDs, after checking that
/// every PMD has all the fields and that its classes add up.
#[track_caller]
fn pmd_totals(r: &Rvs) -> serde_json::Map<String, serde_json::Value> {
    let out = r.ctl(&["--json", "dpif-netdev/pmd-stats-show"]);
    let v: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    let pmds = v.as_array().expect("an array of PMDs");
    assert_eq!(pmds.len(), 1, "{out}");
    let mut sum = serde_json::Map::new();
    for p in pmds {
        for f in [
            "core",
            "rx_packets",
            "simple_match_hits",
            "emc_hits",
            "megaflow_hits",
            "upcalls",
            "lost_upcalls",
            "tx_packets",
            "busy_cycles",
            "idle_cycles",
            "avg_subtable_lookups_per_hit",
        ] {
            assert!(p.get(f).is_some(), "no {f} in {p}");
        }
        assert_eq!(p["core"], 0, "{p}");
        let n = |f: &str| p[f].as_u64().unwrap_or_else(|| panic!("{f} in {p}"));
        assert_eq!(
            n("rx_packets") + n("recirc_packets"),
            n("simple_match_hits")
                + n("emc_hits")
                + n("megaflow_hits")
                + n("upcalls")
                + n("failed_upcalls")
                + n("lost_upcalls"),
            "hits and misses add up to passes: {p}"
        );
        assert!(p["avg_subtable_lookups_per_hit"].as_f64().is_some(), "{p}");
        for (k, val) in p.as_object().unwrap() {
            if let Some(x) = val.as_u64() {
                let e = sum.entry(k.clone()).or_insert(0.into());
                *e = (e.as_u64().unwrap() + x).into();
            }
        }
    }
    sum
}

fn total(m: &serde_json::Map<String, serde_json::Value>, f: &str) -> u64 {
    m[f].as_u64().unwrap()
}

#[test]
fn receive_sequence_counters_are_exact_after_each_step() {
    let sb = Sandbox::new("ctl-sequence");
    let cfg = sb.config(
        "",
        &dummy_bridge(&[
            "priority=10,udp,in_port=1,nw_dst=10.0.0.2,actions=output:2",
            "priority=10,udp,in_port=1,nw_dst=10.0.0.3,actions=output:3",
            "priority=0,actions=drop",
        ]),
    );
    let mut r = Rvs::start(&sb, &cfg);
    let (a, b, c) = (udp(2, 1, 7, 20), udp(3, 1, 7, 20), udp(9, 1, 7, 20));
    let rule2 = "nw_dst=10.0.0.2";
    let rule3 = "nw_dst=10.0.0.3";
    let drop = "priority=0 actions=drop";

    assert_eq!(r.rule_packets("br0", rule2), 0);
    assert!(r.megaflows().is_empty());
    assert_eq!(r.port_counts("br0", 1), (0, 0));

    // One packet: one upcall, one megaflow, one packet out p2.
    r.receive("p1", std::slice::from_ref(&a));
    assert_eq!(r.rule_packets("br0", rule2), 1);
    let mf = r.megaflows();
    assert_eq!(mf.len(), 1, "{mf:#?}");
    assert!(
        mf[0].contains("packets:1,") && mf[0].ends_with("actions:2"),
        "{mf:#?}"
    );
    assert_eq!(r.port_counts("br0", 1), (1, 0));
    assert_eq!(r.port_counts("br0", 2), (0, 1));

    // Two more of the same flow: megaflow (or EMC) hits.
    r.receive("p1", &[a.clone(), a.clone()]);
    assert_eq!(r.rule_packets("br0", rule2), 3);
    let mf = r.megaflows();
    assert_eq!(mf.len(), 1, "{mf:#?}");
    assert!(mf[0].contains("packets:3,"), "{mf:#?}");
    assert_eq!(r.port_counts("br0", 2), (0, 3));

    // Another flow: a second megaflow.
    r.receive("p1", std::slice::from_ref(&b));
    assert_eq!(r.rule_packets("br0", rule3), 1);
    assert_eq!(r.rule_packets("br0", rule2), 3);
    assert_eq!(r.megaflows().len(), 2);
    assert_eq!(r.port_counts("br0", 3), (0, 1));

    // A dropped flow: counted on the drop rule, a drop megaflow, no tx.
    r.receive("p1", &[c.clone(), c.clone()]);
    assert_eq!(r.rule_packets("br0", drop), 2);
    let mf = r.megaflows();
    assert_eq!(mf.len(), 3, "{mf:#?}");
    assert_eq!(
        mf.iter().filter(|l| l.ends_with("actions:drop")).count(),
        1,
        "{mf:#?}"
    );
    assert_eq!(r.port_counts("br0", 1), (6, 0));
    assert_eq!(r.port_counts("br0", 2), (0, 3));
    assert_eq!(r.port_counts("br0", 3), (0, 1));

    let t = pmd_totals(&r);
    assert_eq!(total(&t, "rx_packets"), 6);
    assert_eq!(total(&t, "tx_packets"), 4);
    // Misses: a, b, and both c (one burst, before c's megaflow existed).
    assert_eq!(total(&t, "upcalls"), 4);
    assert_eq!(total(&t, "lost_upcalls"), 0);
    assert_eq!(total(&t, "megaflows"), 3);

    r.exit();
    assert_eq!(
        read_pcap(&sb.path("p2.pcap")),
        vec![a.clone(), a.clone(), a]
    );
    assert_eq!(read_pcap(&sb.path("p3.pcap")), vec![b]);
}

/// Port-to-port rules make megaflows that simple match answers without
/// flow keys; adding a rule that matches an address moves the port back
/// to the classifier, and forwarding and counters stay exact throughout.
#[test]
fn simple_match_serves_port_to_port_rules_in_the_running_switch() {
    let sb = Sandbox::new("ctl-simple");
    let cfg = sb.config(
        "",
        &dummy_bridge(&["priority=10,in_port=1,actions=output:2"]),
    );
    let mut r = Rvs::start(&sb, &cfg);
    let frames: Vec<Vec<u8>> = (0..4)
        .map(|i| udp(2 + i, 100 + u16::from(i), 7, 20))
        .collect();
    // First packet: upcall, megaflow in_port + eth_type + frag only.
    r.receive("p1", &frames[..1]);
    let mf = r.megaflows();
    assert_eq!(mf.len(), 1, "{mf:#?}");
    assert!(
        mf[0].contains("in_port(1),eth_type(0x0800),ipv4(frag=no)") && mf[0].ends_with("actions:2"),
        "{mf:#?}"
    );
    // Every later packet, of any IPv4 flow, by simple match.
    r.receive("p1", &frames);
    r.receive("p1", &frames);
    let t = pmd_totals(&r);
    assert_eq!(total(&t, "simple_match_hits"), 8, "{t:?}");
    assert_eq!(
        total(&t, "emc_hits") + total(&t, "megaflow_hits"),
        0,
        "{t:?}"
    );
    assert!(
        r.megaflows()[0].contains("packets:9,"),
        "{:#?}",
        r.megaflows()
    );

    // An address rule on the same port: its megaflows match nw_dst, so
    // port 1's packets go through extraction and the classifier again.
    r.ctl(&[
        "add-flow",
        "br0",
        "priority=20,udp,in_port=1,nw_dst=10.0.0.9,actions=output:3",
    ]);
    let to3 = udp(9, 1, 7, 20);
    r.receive("p1", &[to3.clone(), frames[0].clone(), to3.clone()]);
    let t = pmd_totals(&r);
    assert_eq!(total(&t, "simple_match_hits"), 8, "{t:?}");
    assert_eq!(total(&t, "tx_packets"), 12, "{t:?}");
    r.exit();
    let mut want2 = vec![frames[0].clone()];
    want2.extend(frames.iter().cloned());
    want2.extend(frames.iter().cloned());
    want2.push(frames[0].clone());
    assert_eq!(read_pcap(&sb.path("p2.pcap")), want2);
    assert_eq!(read_pcap(&sb.path("p3.pcap")), vec![to3.clone(), to3]);
}

#[test]
fn burst_of_32_before_the_megaflow_exists_is_forwarded_once() {
    let sb = Sandbox::new("ctl-burst");
    let cfg = sb.config(
        "",
        &dummy_bridge(&["priority=10,udp,in_port=1,actions=output:2"]),
    );
    let mut r = Rvs::start(&sb, &cfg);
    // One flow (same headers), payloads numbered so every frame is
    // distinct.
    let frames: Vec<Vec<u8>> = (0..32u8)
        .map(|i| {
            let payload = [i; 24];
            build::ipv4_frame(
                mac(1),
                mac(2),
                &Ipv4Spec::new(ip(1), ip(2)),
                &L4::Udp {
                    sport: 5000,
                    dport: 6000,
                    payload: &payload,
                },
            )
        })
        .collect();
    r.receive("p1", &frames);

    let mf = r.megaflows();
    assert_eq!(mf.len(), 1, "{mf:#?}");
    assert!(mf[0].contains("packets:32,"), "{mf:#?}");
    assert_eq!(r.port_counts("br0", 1), (32, 0));
    assert_eq!(r.port_counts("br0", 2), (0, 32));
    assert_eq!(r.rule_packets("br0", "in_port=p1"), 32);
    let t = pmd_totals(&r);
    assert_eq!(total(&t, "rx_packets"), 32);
    assert_eq!(total(&t, "tx_packets"), 32);
    assert_eq!(total(&t, "lost_upcalls"), 0);
    r.exit();
    // Each frame exactly once. (Not necessarily in order: if the PMD
    // picks the injection up in two bursts, the second burst's misses may
    // come back from the handler after later packets hit the megaflow.)
    assert_same_frames("p2", read_pcap(&sb.path("p2.pcap")), frames);
}

#[test]
fn flow_changes_take_effect_for_the_next_packet() {
    let sb = Sandbox::new("ctl-changes");
    let cfg = sb.config(
        "",
        &dummy_bridge(&["priority=10,udp,in_port=1,actions=output:2"]),
    );
    let mut r = Rvs::start(&sb, &cfg);
    let batch = |tag: u16, dst: u8| -> Vec<Vec<u8>> {
        (0..5).map(|i| udp(dst, tag * 10 + i, 80, 20)).collect()
    };
    let (mut want2, mut want3) = (Vec::new(), Vec::new());
    let mut sent = 0u64;
    let mut explicit_drops = 0u64;

    let f = batch(1, 4);
    r.receive("p1", &f);
    sent += 5;
    want2.extend(f);
    assert_eq!(r.port_counts("br0", 2), (0, 5));

    // mod-flows: everything UDP from p1 now goes to p3.
    r.ctl(&["mod-flows", "br0", "udp,in_port=1,actions=output:3"]);
    let mf = r.megaflows();
    assert!(
        mf.iter().all(|l| !l.ends_with("actions:2")),
        "megaflow with the old actions after mod-flows: {mf:#?}"
    );
    let f = batch(2, 4);
    r.receive("p1", &f);
    sent += 5;
    want3.extend(f);
    assert_eq!(r.port_counts("br0", 2), (0, 5));
    assert_eq!(r.port_counts("br0", 3), (0, 5));

    // add-flow: a higher-priority drop for 10.0.0.7 only.
    r.ctl(&[
        "add-flow",
        "br0",
        "priority=20,udp,in_port=1,nw_dst=10.0.0.7,actions=drop",
    ]);
    let f7 = batch(3, 7);
    let f4 = batch(4, 4);
    r.receive("p1", &f7);
    r.receive("p1", &f4);
    sent += 10;
    explicit_drops += 5;
    want3.extend(f4);
    assert_eq!(r.port_counts("br0", 3), (0, 10));
    assert_eq!(r.rule_packets("br0", "nw_dst=10.0.0.7"), 5);
    let mf = r.megaflows();
    for l in mf.iter().filter(|l| l.contains("dst=10.0.0.7")) {
        assert!(l.ends_with("actions:drop"), "{mf:#?}");
    }

    // del-flows with a match: only the drop rule goes; .7 flows to p3.
    r.ctl(&["del-flows", "br0", "udp,in_port=1,nw_dst=10.0.0.7"]);
    assert_eq!(r.rules("br0").len(), 1, "{:#?}", r.rules("br0"));
    let mf = r.megaflows();
    assert!(
        mf.iter().all(|l| !l.ends_with("actions:drop")),
        "megaflow with the deleted rule's actions: {mf:#?}"
    );
    let f = batch(5, 7);
    r.receive("p1", &f);
    sent += 5;
    want3.extend(f);
    assert_eq!(r.port_counts("br0", 3), (0, 15));

    // del-flows without a match: empty table, every packet misses it and
    // is dropped; no megaflow keeps forwarding.
    r.ctl(&["del-flows", "br0"]);
    assert!(r.rules("br0").is_empty());
    let mf = r.megaflows();
    assert!(
        mf.iter().all(|l| l.ends_with("actions:drop")),
        "megaflow still forwarding after del-flows: {mf:#?}"
    );
    r.receive("p1", &batch(6, 4));
    sent += 5;
    explicit_drops += 5;
    assert_eq!(r.port_counts("br0", 2), (0, 5));
    assert_eq!(r.port_counts("br0", 3), (0, 15));

    // Nothing lost: in = out + explicit drops.
    let (rx, _) = r.port_counts("br0", 1);
    let out = r.port_counts("br0", 2).1 + r.port_counts("br0", 3).1;
    assert_eq!(rx, sent);
    assert_eq!(rx, out + explicit_drops);
    let t = pmd_totals(&r);
    assert_eq!(total(&t, "rx_packets"), sent);
    assert_eq!(total(&t, "tx_packets"), out);
    assert_eq!(total(&t, "lost_upcalls"), 0);

    r.exit();
    assert_same_frames("p2", read_pcap(&sb.path("p2.pcap")), want2);
    assert_same_frames("p3", read_pcap(&sb.path("p3.pcap")), want3);
}

#[test]
fn mod_flows_under_traffic_stops_the_old_port() {
    let sb = Sandbox::new("ctl-traffic");
    let frames: Vec<_> = (0..16).map(|i| udp(2, 100 + i, 80, 40)).collect();
    sb.write_pcap("in.pcap", &frames);
    let cfg = sb.config(
        "",
        "[[bridge]]\nname = \"br0\"\nflows = [\"in_port=1,actions=output:2\"]\n\n\
         [[bridge.port]]\nname = \"p1\"\nofport = 1\ntype = \"pcap\"\nrx_pcap = \"in.pcap\"\nloop = true\n\n\
         [[bridge.port]]\nname = \"p2\"\nofport = 2\ntype = \"pcap\"\ntx_pcap = \"p2.pcap\"\n\n\
         [[bridge.port]]\nname = \"p3\"\nofport = 3\ntype = \"pcap\"\n",
    );
    let mut r = Rvs::start(&sb, &cfg);
    // Wait until traffic flows to p2.
    let deadline = Instant::now() + Duration::from_secs(5);
    while r.port_counts("br0", 2).1 < 1000 {
        assert!(
            Instant::now() < deadline,
            "no traffic on p2:\n{}",
            r.stderr()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    r.ctl(&["mod-flows", "br0", "in_port=1,actions=output:3"]);
    let p2_a = r.port_counts("br0", 2).1;
    let p3_a = r.port_counts("br0", 3).1;
    std::thread::sleep(Duration::from_millis(100));
    let p2_b = r.port_counts("br0", 2).1;
    let p3_b = r.port_counts("br0", 3).1;
    assert_eq!(p2_a, p2_b, "p2 still receiving after mod-flows returned");
    assert!(
        p3_b > p3_a,
        "p3 not receiving after mod-flows: {p3_a} -> {p3_b}"
    );
    let mf = r.megaflows();
    assert!(mf.iter().all(|l| !l.ends_with("actions:2")), "{mf:#?}");
    r.exit();
    // The capture holds exactly what the counter says, all from the loop.
    let got = read_pcap(&sb.path("p2.pcap"));
    assert_eq!(got.len() as u64, p2_b);
    assert!(got.iter().all(|f| frames.contains(f)));
}

#[test]
fn trace_stats_and_other_commands() {
    let sb = Sandbox::new("ctl-commands");
    let cfg = sb.config(
        "",
        &dummy_bridge(&[
            "priority=10,tcp,in_port=1,nw_dst=10.0.0.2,tp_dst=80,actions=output:2,output:3",
            "priority=5,ip,in_port=1,actions=mod_nw_dst:10.0.0.9,output:3",
        ]),
    );
    let mut r = Rvs::start(&sb, &cfg);

    let t = r.ctl(&[
        "ofproto/trace",
        "br0",
        "in_port=1,tcp,nw_dst=10.0.0.2,tp_dst=80",
    ]);
    assert!(t.contains("Datapath actions: 2,3"), "{t}");
    let t = r.ctl(&["ofproto/trace", "br0", "in_port=1,udp,nw_dst=10.0.0.2"]);
    assert!(
        t.contains("Datapath actions: set(ipv4(dst=10.0.0.9)),3"),
        "{t}"
    );
    let t = r.ctl(&["ofproto/trace", "br0", "in_port=1,arp"]);
    assert!(t.contains("Datapath actions: drop"), "{t}");
    // A packet in hex, with in_port in the flow.
    let t = r.ctl(&[
        "ofproto/trace",
        "br0",
        "in_port=1",
        &hex(&tcp(2, 999, 80, 0)),
    ]);
    assert!(t.contains("Datapath actions: 2,3"), "{t}");
    // Tracing changes no counter.
    assert_eq!(r.rule_packets("br0", "tp_dst=80"), 0);

    let frames: Vec<_> = (0..10)
        .map(|i| tcp(2, 1000 + i, 80, 8))
        .chain((0..6).map(|i| udp(5, 2000 + i, 53, 8)))
        .collect();
    r.receive("p1", &frames);
    let t = pmd_totals(&r);
    assert_eq!(total(&t, "rx_packets"), 16);
    assert_eq!(total(&t, "tx_packets"), 26);
    assert_eq!(r.port_counts("br0", 2), (0, 10));
    assert_eq!(r.port_counts("br0", 3), (0, 16));

    let text = r.ctl(&["dpif-netdev/pmd-stats-show"]);
    assert!(text.contains("pmd thread numa_id 0 core_id 0:"), "{text}");
    assert!(text.contains("packets received: 16"), "{text}");
    assert!(text.contains("packets sent: 26"), "{text}");
    let perf = r.ctl(&["dpif-netdev/pmd-perf-show"]);
    assert!(
        perf.contains("Rx packets:") && perf.contains("core_id 0"),
        "{perf}"
    );
    let rxq = r.ctl(&["dpif-netdev/pmd-rxq-show"]);
    for p in ["p1", "p2", "p3"] {
        assert!(rxq.contains(&format!("port: {p} ")), "{rxq}");
    }
    r.ctl(&["dpif-netdev/pmd-stats-clear"]);
    let t = pmd_totals(&r);
    assert_eq!(total(&t, "rx_packets"), 0);
    assert_eq!(total(&t, "tx_packets"), 0);
    r.receive("p1", &frames[..3]);
    assert_eq!(total(&pmd_totals(&r), "rx_packets"), 3);

    let cmds = r.ctl(&["list-commands"]);
    for c in [
        "dpif-netdev/pmd-stats-show",
        "dpif-netdev/pmd-perf-show",
        "dpif-netdev/pmd-stats-clear",
        "dpif-netdev/pmd-rxq-show",
        "dpctl/dump-flows",
        "dump-flows",
        "add-flow",
        "add-flows",
        "mod-flows",
        "del-flows",
        "ofproto/trace",
        "netdev-dummy/receive",
        "dump-ports",
        "exit",
    ] {
        assert!(
            cmds.lines().any(|l| l.split_whitespace().next() == Some(c)),
            "{c} not listed:\n{cmds}"
        );
    }
    // A reader that stops reading (`rvs ctl ... | head`) is no error of
    // ours and no panic (it was: `print!` on a closed pipe).
    let mut child = std::process::Command::new(RVS)
        .arg("ctl")
        .arg("--socket")
        .arg(sb.socket())
        .arg("list-commands")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run rvs ctl");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("rvs ctl");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !err.contains("panicked"), "{err}");
    r.exit();
}

#[test]
fn sigterm_exits_cleanly_and_flushes_captures() {
    let sb = Sandbox::new("ctl-sigterm");
    let cfg = sb.config("", &dummy_bridge(&["in_port=1,actions=output:2"]));
    let mut r = Rvs::start(&sb, &cfg);
    let frames: Vec<_> = (0..5).map(|i| udp(2, 10 + i, 80, 30)).collect();
    r.receive("p1", &frames);
    let st = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(r.pid().to_string())
        .status()
        .expect("kill -TERM");
    assert!(st.success());
    let st = r.wait_exit(Duration::from_secs(5));
    assert_eq!(st.code(), Some(0), "{}", r.stderr());
    assert!(!sb.socket().exists(), "socket left behind");
    assert_same_frames("p2", read_pcap(&sb.path("p2.pcap")), frames);
}

#[test]
fn rule_timeouts_expire_in_the_running_switch() {
    // A hard timeout removes its rule (and with it the forwarding) after
    // its time; an idle timeout keeps a rule that traffic refreshes.
    let sb = Sandbox::new("ctl-timeouts");
    let cfg = sb.config(
        "revalidate_interval_ms = 50",
        &dummy_bridge(&["priority=0,actions=drop"]),
    );
    let mut r = Rvs::start(&sb, &cfg);
    r.ctl(&[
        "add-flow",
        "br0",
        "priority=10,hard_timeout=1,udp,in_port=1,actions=output:2",
    ]);
    r.ctl(&[
        "add-flow",
        "br0",
        "priority=10,idle_timeout=3,tcp,in_port=1,actions=output:3",
    ]);
    let start = Instant::now();
    // Keep the TCP rule busy for 4 s, past both timeouts' length. (The
    // idle timeout is 3 s, not 1: a packet every `rvs ctl` run plus
    // 100 ms could leave a loaded machine a second without one.)
    while start.elapsed() < Duration::from_millis(4000) {
        r.receive("p1", &[tcp(2, 1000, 80, 8)]);
        std::thread::sleep(Duration::from_millis(100));
    }
    let rules = r.rules("br0");
    assert!(
        !rules.iter().any(|l| l.contains("hard_timeout=1")),
        "hard timeout expired: {rules:#?}"
    );
    assert!(
        rules.iter().any(|l| l.contains("idle_timeout=3")),
        "busy idle-timeout rule kept: {rules:#?}"
    );
    // UDP now falls to the drop rule.
    r.receive("p1", &[udp(2, 1000, 80, 8)]);
    assert_eq!(r.port_counts("br0", 2).1, 0);
    // Idle: the TCP rule goes too, 3 s after its last packet.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let rules = r.rules("br0");
        if !rules.iter().any(|l| l.contains("idle_timeout=3")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "idle timeout expired: {rules:#?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    r.exit();
}
