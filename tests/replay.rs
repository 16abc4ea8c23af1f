//! End-to-end tests of `rvs replay`: the built binary, the bundled
//! example, and bad input.
//!
//! Plan: run the README's quick-start command on `examples/` and check what
//! each port sent (counts, rewritten TTL with valid checksums, VLAN tag
//! removed, ARP flooded), that the printed counters add up, and that a bad
//! flow line, a missing capture and a truncated capture each fail with a
//! message naming the problem and exit code 1.

use dpif_netdev::extract::extract;
use dpif_netdev::key::FlowKey;
use dpif_netdev::packet::Packet;
use dpif_netdev::wire::build::reference_checksum;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn rvs(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rvs"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run rvs")
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rvs-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn read_pcap(p: &Path) -> Vec<Vec<u8>> {
    let f = std::fs::File::open(p).unwrap();
    let mut r = pcap_file::pcap::PcapReader::new(f).unwrap();
    let mut out = Vec::new();
    while let Some(pkt) = r.next_packet() {
        out.push(pkt.unwrap().data.into_owned());
    }
    out
}

fn key_of(frame: &[u8]) -> (FlowKey, Packet) {
    let mut p = Packet::from_bytes(frame);
    let mut k = FlowKey::ZERO;
    extract(&mut p, &mut k);
    (k, p)
}

#[test]
fn quick_start_forwards_and_rewrites() {
    let out = tmpdir("quick");
    let o = rvs(&[
        "replay",
        "--flows",
        "examples/p2p.dpflows",
        "--pcap",
        "examples/p2p.pcap",
        "--out-dir",
        out.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(text.contains("packets received: 102"), "{text}");
    assert!(
        text.contains("miss with no megaflow (dropped): 2"),
        "{text}"
    );
    let num = |label: &str| -> u64 {
        let line = text.lines().find(|l| l.contains(label)).unwrap();
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(num("emc hits:") + num("megaflow hits:") + 2, 102, "{text}");
    // The UDP frames are plain: once cached, the EMC's plain lane answers
    // them (the insertion draws are seeded, so this is deterministic).
    let plain = num("emc plain-lane hits:");
    assert!(plain > 0 && plain <= num("emc hits:"), "{text}");
    assert!(
        text.contains("ipv4(dst=10.0.0.2,ttl=64,frag=no), packets:96, bytes:5760"),
        "{text}"
    );

    let p2 = read_pcap(&out.join("port-2.pcap"));
    let p3 = read_pcap(&out.join("port-3.pcap"));
    // 96 UDP to 10.0.0.2 plus 2 flooded ARP on port 2; 2 ARP + 2 untagged
    // on port 3.
    assert_eq!((p2.len(), p3.len()), (98, 4));
    let mut udp = 0;
    for f in &p2 {
        let (k, p) = key_of(f);
        if k.eth_type == 0x0800 {
            udp += 1;
            assert_eq!(k.nw_ttl, 63);
            let l3 = p.md.l3_ofs as usize;
            assert_eq!(reference_checksum(&[&f[l3..l3 + 20]]), 0, "IPv4 checksum");
        } else {
            assert_eq!(k.eth_type, 0x0806);
        }
    }
    assert_eq!(udp, 96);
    let untagged: Vec<_> = p3
        .iter()
        .map(|f| key_of(f).0)
        .filter(|k| k.eth_type == 0x0800)
        .collect();
    assert_eq!(untagged.len(), 2);
    assert!(untagged.iter().all(|k| !k.has_vlan() && k.nw_ttl == 64));
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn bad_flow_line_names_file_line_and_token() {
    let d = tmpdir("badflow");
    let flows = d.join("bad.dpflows");
    std::fs::write(
        &flows,
        "recirc_id(0),in_port(1),eth_type(0x0806), actions:2\n\
         recirc_id(0),in_port(1),eth_type(0x0800),ipv5(dst=10.0.0.2), actions:2\n",
    )
    .unwrap();
    let o = rvs(&[
        "replay",
        "--flows",
        flows.to_str().unwrap(),
        "--pcap",
        "examples/p2p.pcap",
        "--out-dir",
        d.join("out").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("bad.dpflows:2:"), "{err}");
    assert!(err.contains("ipv5"), "{err}");
    assert!(!d.join("out").exists(), "nothing runs after a bad flow");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn missing_and_truncated_captures_are_clear_errors() {
    let d = tmpdir("badpcap");
    let o = rvs(&[
        "replay",
        "--flows",
        "examples/p2p.dpflows",
        "--pcap",
        d.join("nope.pcap").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("nope.pcap"), "{err}");

    let good =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/p2p.pcap")).unwrap();
    let cut = d.join("cut.pcap");
    std::fs::write(&cut, &good[..good.len() - 7]).unwrap();
    let o = rvs(&[
        "replay",
        "--flows",
        "examples/p2p.dpflows",
        "--pcap",
        cut.to_str().unwrap(),
        "--out-dir",
        d.join("out").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cut.pcap") && err.contains("not a valid pcap"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&d);
}
