//! End-to-end tests of how `rvs run` and `rvs ctl` refuse bad input.
//!
//! Plan: startup errors first. For each bad config (an unknown key, an
//! unknown port type, a bad flow inline and in a flows file, a missing and
//! a truncated capture, a core that does not exist) start the built binary
//! and check that it exits with code 1 within a few seconds, that stderr
//! has one clear message naming the key, flow, file:line or core, and that
//! no control socket file is left behind. Then runtime errors against a
//! running switch: `add-flow` with a misspelt field and `add-flows` with
//! one bad line among good ones must fail with exit 2 and a message naming
//! the token (and FILE:LINE), and `dump-flows` must be unchanged after each
//! (a bad flow changes nothing; a flows file is all or nothing). The
//! switch must keep forwarding by its old rules afterwards.

mod common;

use common::*;

/// A bridge with one dummy port `p1` and one pcap port `p2`, whose extra
/// settings are `p2_extra`, and `flows_line` as the bridge's flows setting.
fn body(flows_line: &str, p2_extra: &str) -> String {
    format!(
        "[[bridge]]\nname = \"br0\"\n{flows_line}\n\n\
         [[bridge.port]]\nname = \"p1\"\nofport = 1\ntype = \"dummy\"\n\n\
         [[bridge.port]]\nname = \"p2\"\nofport = 2\ntype = \"pcap\"\n{p2_extra}\n"
    )
}

/// Starts rvs on `cfg`, which must fail: exit 1 within 5 s, no socket
/// left, and stderr containing every one of `needles`.
#[track_caller]
fn refused(sb: &Sandbox, cfg: &std::path::Path, needles: &[&str]) {
    let t = std::time::Instant::now();
    let (code, err) = run_failing(sb, cfg);
    assert_eq!(code, Some(1), "exit code; stderr:\n{err}");
    assert!(
        t.elapsed() < std::time::Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}:\n{err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    assert!(!sb.socket().exists(), "socket file left behind:\n{err}");
}

#[test]
fn unknown_config_key() {
    let sb = Sandbox::new("err-key");
    let cfg = sb.config("bogus_knob = 3", &body("flows = []", ""));
    refused(&sb, &cfg, &["rvs.toml", "pmd.bogus_knob: unknown key"]);
}

#[test]
fn unknown_port_type() {
    let sb = Sandbox::new("err-type");
    let cfg = sb.config(
        "",
        "[[bridge]]\nname = \"br0\"\n\n[[bridge.port]]\nname = \"p1\"\ntype = \"pcpa\"\n",
    );
    refused(
        &sb,
        &cfg,
        &[
            "rvs.toml",
            "bridge[0].port[0].type: unknown port type \"pcpa\"",
        ],
    );
}

#[test]
fn bad_inline_flow() {
    let sb = Sandbox::new("err-flow");
    let cfg = sb.config(
        "",
        &body(
            "flows = [\"in_port=1,actions=output:2\", \"priority=5,ip,nw_dest=10.0.0.1,actions=drop\"]",
            "",
        ),
    );
    refused(
        &sb,
        &cfg,
        &["bridge[0].flows[1]", "unknown field \"nw_dest\""],
    );
}

#[test]
fn bad_flows_file_line() {
    let sb = Sandbox::new("err-flowsfile");
    sb.write(
        "flows.txt",
        "# comment\nin_port=1,actions=output:2\n\npriority=5,ip,nw_dest=10.0.0.1,actions=drop\n",
    );
    let cfg = sb.config("", &body("flows_file = \"flows.txt\"", ""));
    refused(&sb, &cfg, &["flows.txt:4", "nw_dest"]);
}

#[test]
fn missing_rx_capture() {
    let sb = Sandbox::new("err-nopcap");
    let cfg = sb.config(
        "",
        &body(
            "flows = []",
            "rx_pcap = \"nope.pcap\"\ntx_pcap = \"out.pcap\"",
        ),
    );
    refused(&sb, &cfg, &["port p2", "nope.pcap"]);
}

#[test]
fn truncated_rx_capture() {
    let sb = Sandbox::new("err-cutpcap");
    let good = sb.write_pcap("good.pcap", &[udp(2, 1, 2, 40), udp(2, 1, 2, 41)]);
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(sb.path("cut.pcap"), &bytes[..bytes.len() - 7]).unwrap();
    let cfg = sb.config("", &body("flows = []", "rx_pcap = \"cut.pcap\""));
    refused(&sb, &cfg, &["port p2", "cut.pcap", "not a valid pcap"]);
}

#[test]
fn core_that_does_not_exist() {
    let sb = Sandbox::new("err-core");
    let text = format!(
        "[control]\nsocket = \"{}\"\n\n[pmd]\ncores = [4096]\n\n{}",
        sb.socket().display(),
        body("flows = []", "")
    );
    let cfg = sb.write("rvs.toml", &text);
    refused(&sb, &cfg, &["4096"]);
}

#[test]
fn bad_runtime_flows_change_nothing() {
    let sb = Sandbox::new("err-runtime");
    let cfg = sb.config(
        "",
        &body(
            "flows = [\"priority=10,udp,in_port=1,actions=output:2\", \"priority=0,actions=drop\"]",
            "tx_pcap = \"p2.pcap\"",
        ),
    );
    let mut r = Rvs::start(&sb, &cfg);
    let strip = |rules: Vec<String>| -> Vec<String> {
        // Durations move; everything else must stay.
        rules
            .into_iter()
            .map(|l| {
                l.split(", ")
                    .filter(|f| !f.starts_with("duration=") && !f.starts_with("idle_age="))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .collect()
    };
    let before = strip(r.rules("br0"));
    assert_eq!(before.len(), 2, "{before:#?}");

    let err = r.ctl_err(&["add-flow", "br0", "nw_dest=1,actions=drop"]);
    assert!(err.contains("nw_dest"), "{err}");
    assert_eq!(strip(r.rules("br0")), before);

    let file = sb.write(
        "more.txt",
        "priority=20,udp,in_port=1,nw_dst=10.0.0.5,actions=drop\n\
         # a comment\n\
         priority=20,udp,in_port=1,nw_dst=10.0.0.6,actions=drop\n\
         priority=20,udp,in_port=1,nw_dest=10.0.0.7,actions=drop\n\
         priority=20,udp,in_port=1,nw_dst=10.0.0.8,actions=drop\n",
    );
    let fname = file.to_str().unwrap();
    let err = r.ctl_err(&["add-flows", "br0", fname]);
    assert!(err.contains(&format!("{fname}:4")), "{err}");
    assert!(err.contains("nw_dest"), "{err}");
    assert_eq!(strip(r.rules("br0")), before, "add-flows is all or nothing");

    // Unknown bridge and command are errors too.
    assert!(r.ctl_err(&["dump-flows", "br9"]).contains("br9"));
    assert!(r.ctl_err(&["no-such-command"]).contains("no-such-command"));

    // Still forwarding by the old rules: .5 (a rule of the refused file)
    // goes out p2.
    r.receive("p1", &[udp(5, 1, 2, 20)]);
    assert_eq!(r.port_counts("br0", 2), (0, 1));
    r.exit();
    assert_eq!(read_pcap(&sb.path("p2.pcap")), vec![udp(5, 1, 2, 20)]);
}

/// Without the `dpdk` feature, a DPDK port is refused with the way out.
#[cfg(not(feature = "dpdk"))]
#[test]
fn dpdk_port_without_the_feature_says_how_to_build() {
    let sb = Sandbox::new("no-dpdk-feature");
    let cfg = sb.config(
        "",
        "[[bridge]]\nname = \"br0\"\n[[bridge.port]]\nname = \"d1\"\ntype = \"dpdk\"\ndevargs = \"net_null0\"\n",
    );
    let mut r = Rvs::spawn(&sb, &cfg, false);
    let st = r.wait_exit(std::time::Duration::from_secs(5));
    assert_ne!(st.code(), Some(0));
    let err = r.stderr();
    assert!(
        err.contains("port d1: type \"dpdk\" needs rvs built with DPDK support"),
        "{err}"
    );
}
