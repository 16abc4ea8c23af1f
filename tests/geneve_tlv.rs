//! Geneve options (`tun_metadata`) and `tos=inherit` end to end, between
//! two rvs instances joined by hand (dummy ports; nothing needs root).
//!
//! Plan: sender A maps `{class=0xffff,type=0,len=4}->tun_metadata0` with
//! `add-tlv-map` (bad maps refused by name, the map unchanged), then its
//! flows set `tun_metadata0` to 0x1234 (UDP to port 1000) or 0x5678 (to
//! port 2000) and output to a Geneve port with `tos=inherit`. Its uplink
//! capture must hold Geneve packets whose option bytes, option length,
//! outer TOS (the inner 0xb8 plus ECN) and lengths are right, checked
//! byte by byte and, where tshark is installed, by tshark's Geneve
//! dissector. Receiver B (TLV map from its TOML) gets those frames on its
//! uplink, decapsulates them, forwards `tun_metadata0=0x1234` to its VM
//! port and drops `tun_metadata0=0x5678`; `dump-flows`, `dump-tlv-map`
//! and `dpctl/dump-flows` show the fields, and a mapping in use cannot be
//! deleted.

mod common;

use common::*;
use dpif_netdev::wire::build;

const VM_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
const VM_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];

/// IPv4 header checksum, computed here (not by rvs).
fn ip_csum(h: &[u8]) -> u16 {
    let mut s: u32 = h
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// An inner UDP frame from VM A to VM B with TOS `tos`.
fn inner(dport: u16, tos: u8) -> Vec<u8> {
    let mut f = build::udp4(VM_A, VM_B, ip(1), ip(2), 4000, dport, 16);
    f[15] = tos;
    f[24..26].copy_from_slice(&[0, 0]);
    let c = ip_csum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f
}

/// Outer Geneve frames (UDP to 6081) of a capture.
fn geneve_frames(frames: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    frames
        .into_iter()
        .filter(|f| {
            f.len() > 50 && f[12..14] == [0x08, 0x00] && f[23] == 17 && f[36..38] == [0x17, 0xc1]
        })
        .collect()
}

#[test]
fn geneve_options_and_tos_inherit_between_two_switches() {
    // --- A: the sender ---------------------------------------------------
    let sa = Sandbox::new("gnv-tlv-a");
    let body_a = "[[bridge]]\nname = \"ga-int\"\ninternal = false\n\
                  flows = [\"priority=0,actions=drop\"]\n\n\
                  [[bridge.port]]\nname = \"ga-vm\"\nofport = 1\ntype = \"dummy\"\n\n\
                  [[bridge.port]]\nname = \"ga-gnv\"\nofport = 2\ntype = \"geneve\"\n\
                  remote_ip = \"172.31.0.2\"\nkey = 5001\ntos = \"inherit\"\n\n\
                  [[bridge]]\nname = \"ga-phy\"\n\
                  flows = [\"in_port=LOCAL,udp,tp_dst=6081,actions=output:1\"]\n\n\
                  [[bridge.port]]\nname = \"ga-up\"\nofport = 1\ntype = \"dummy\"\ntx_pcap = \"up.pcap\"\n\n\
                  [[route]]\nprefix = \"172.31.0.0/24\"\nbridge = \"ga-phy\"\nsrc = \"172.31.0.1\"\n";
    let cfg_a = sa.config("", body_a);
    let mut a = Rvs::start(&sa, &cfg_a);
    a.ctl(&["tnl/arp/set", "ga-phy", "172.31.0.2", "02:00:00:00:ee:02"]);

    // Flows cannot name an unmapped field; bad maps are refused whole.
    let e = a.ctl_err(&[
        "add-flow",
        "ga-int",
        "in_port=1,actions=set_field:0x1234->tun_metadata0,output:2",
    ]);
    assert!(e.contains("tun_metadata0: not mapped"), "{e}");
    for (map, want) in [
        ("{class=0xffff,type=0,len=3}->tun_metadata0", "len=3 must be a multiple of 4"),
        ("{class=0xffff,type=0}->tun_metadata0", "missing len"),
        ("{class=0xffff,type=0,len=4}->tun_metadata9", "tun_metadata9 does not exist"),
        (
            "{class=0xffff,type=0,len=4}->tun_metadata0,{class=0xffff,type=1,len=4}->tun_metadata0",
            "tun_metadata0 is already mapped",
        ),
        (
            "{class=1,type=0,len=16}->tun_metadata0,{class=1,type=1,len=16}->tun_metadata1,{class=1,type=2,len=4}->tun_metadata2",
            "no room for tun_metadata2",
        ),
    ] {
        let e = a.ctl_err(&["add-tlv-map", "ga-int", map]);
        assert!(e.contains(want), "{map}: {e}");
    }
    assert!(a
        .ctl(&["dump-tlv-map", "ga-int"])
        .contains("allocated option space=0\n"));
    a.ctl(&[
        "add-tlv-map",
        "ga-int",
        "{class=0xffff,type=0,len=4}->tun_metadata0",
    ]);
    let dump = a.ctl(&["dump-tlv-map", "ga-int"]);
    assert!(dump.contains("allocated option space=4"), "{dump}");
    assert!(dump.contains(" 0xffff\t0x0\t4\ttun_metadata0"), "{dump}");
    a.ctl(&[
        "add-flow",
        "ga-int",
        "priority=10,in_port=1,udp,tp_dst=1000,actions=set_field:0x1234->tun_metadata0,output:2",
    ]);
    a.ctl(&[
        "add-flow",
        "ga-int",
        "priority=10,in_port=1,udp,tp_dst=2000,actions=set_field:0x5678->tun_metadata0,output:2",
    ]);
    let rules = a.rules("ga-int").join("\n");
    assert!(rules.contains("set_field:0x1234->tun_metadata0"), "{rules}");
    // In use: neither deleted nor re-mapped.
    let e = a.ctl_err(&["del-tlv-map", "ga-int"]);
    assert!(e.contains("tun_metadata0 is used by flows"), "{e}");
    assert!(a
        .ctl(&["dump-tlv-map", "ga-int"])
        .contains("allocated option space=4"));

    let pkt_fwd = inner(1000, 0xb8);
    let pkt_drop = inner(2000, 0xb9);
    a.receive("ga-vm", &[pkt_fwd.clone(), pkt_drop.clone()]);
    a.exit();
    let sent = geneve_frames(read_pcap(&sa.path("up.pcap")));
    assert_eq!(
        sent.len(),
        2,
        "{:?}",
        sent.iter().map(|f| hex(f)).collect::<Vec<_>>()
    );

    for (f, inner_pkt, value, tos) in [
        (&sent[0], &pkt_fwd, [0x00, 0x00, 0x12, 0x34], 0xb8),
        (&sent[1], &pkt_drop, [0x00, 0x00, 0x56, 0x78], 0xb9),
    ] {
        // Outer IPv4 header checksum (the outer UDP checksum is off: 0).
        assert_eq!(ip_csum(&f[14..34]), 0, "outer IPv4 checksum");
        assert_eq!(&f[40..42], &[0, 0]);
        assert_eq!(&f[0..6], &[0x02, 0, 0, 0, 0xee, 0x02], "next hop MAC");
        // Outer IPv4: TOS inherited (DSCP 0x2e and the ECN bits), TTL 64,
        // total length over Geneve + one 8-byte option + the inner frame.
        assert_eq!(f[15], tos, "outer TOS");
        assert_eq!(f[22], 64, "outer TTL");
        let total = 20 + 8 + 8 + 8 + inner_pkt.len();
        assert_eq!(u16::from_be_bytes([f[16], f[17]]) as usize, total);
        assert_eq!(
            u16::from_be_bytes([f[38], f[39]]) as usize,
            total - 20,
            "UDP length"
        );
        // Geneve: opt_len 2 words, no O/C bits, TEB, VNI 5001.
        assert_eq!(
            &f[42..50],
            &[0x02, 0x00, 0x65, 0x58, 0x00, 0x13, 0x89, 0x00]
        );
        // The option: class 0xffff, type 0, length 1 word, the value.
        assert_eq!(&f[50..54], &[0xff, 0xff, 0x00, 0x01]);
        assert_eq!(&f[54..58], &value);
        assert_eq!(&f[58..], &inner_pkt[..]);
    }

    // tshark's own Geneve dissector agrees, where it is installed.
    if std::process::Command::new("tshark")
        .arg("-v")
        .output()
        .is_ok()
    {
        let out = std::process::Command::new("tshark")
            .args(["-r"])
            .arg(sa.path("up.pcap"))
            .args([
                "-Y",
                "geneve",
                "-T",
                "fields",
                "-e",
                "geneve.vni",
                "-e",
                "geneve.option.class",
                "-e",
                "geneve.option.type",
                "-e",
                "geneve.option.length",
                "-e",
                "geneve.option.unknown.data",
                "-e",
                "ip.dsfield",
            ])
            .output()
            .expect("tshark");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines.len(),
            2,
            "tshark: {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // VNI, option class and type, option length (tshark counts the
        // 4-byte option header), option data, then the outer and inner
        // DS fields.
        assert!(lines[0].starts_with("0x001389\t0xffff\t0x00\t8"), "{text}");
        assert!(lines[0].ends_with("\t00001234\t0xb8,0xb8"), "{text}");
        assert!(lines[1].ends_with("\t00005678\t0xb9,0xb9"), "{text}");
    }

    // --- B: the receiver --------------------------------------------------
    let sb = Sandbox::new("gnv-tlv-b");
    let body_b = "[[bridge]]\nname = \"gb-int\"\ninternal = false\n\
                  tlv_map = [\"{class=0xffff,type=0,len=4}->tun_metadata0\"]\n\
                  flows = [\"priority=10,in_port=2,tun_metadata0=0x1234,actions=output:1\", \
                  \"priority=10,in_port=2,tun_metadata0=0x5678,actions=drop\"]\n\n\
                  [[bridge.port]]\nname = \"gb-vm\"\nofport = 1\ntype = \"dummy\"\ntx_pcap = \"vm.pcap\"\n\n\
                  [[bridge.port]]\nname = \"gb-gnv\"\nofport = 2\ntype = \"geneve\"\n\
                  remote_ip = \"172.31.0.1\"\nkey = 5001\n\n\
                  [[bridge]]\nname = \"gb-phy\"\nflows = [\"in_port=1,actions=LOCAL\"]\n\n\
                  [[bridge.port]]\nname = \"gb-up\"\nofport = 1\ntype = \"dummy\"\n\n\
                  [[route]]\nprefix = \"172.31.0.0/24\"\nbridge = \"gb-phy\"\nsrc = \"172.31.0.2\"\n";
    let cfg_b = sb.config("", body_b);
    let mut b = Rvs::start(&sb, &cfg_b);
    assert!(b
        .ctl(&["dump-tlv-map", "gb-int"])
        .contains(" 0xffff\t0x0\t4\ttun_metadata0"));
    b.receive("gb-up", &sent);
    assert_eq!(b.rule_packets("gb-int", "tun_metadata0=0x1234"), 1);
    assert_eq!(b.rule_packets("gb-int", "tun_metadata0=0x5678"), 1);
    // The megaflows show the pop with its map and the option area.
    let mf = b.megaflows().join("\n");
    assert!(
        mf.contains("tnl_pop(")
            && mf.contains("tlv({class=0xffff,type=0x0,len=4,ofs=0}->tun_metadata0)"),
        "{mf}"
    );
    assert!(mf.contains("md_present=0x1/0x1,md=0x00001234"), "{mf}");
    let e = b.ctl_err(&[
        "del-tlv-map",
        "gb-int",
        "{class=0xffff,type=0,len=4}->tun_metadata0",
    ]);
    assert!(e.contains("used by flows"), "{e}");
    // Once no flow uses it the mapping goes, and the megaflows are
    // revalidated before the command returns: no tnl_pop keeps the map.
    b.ctl(&["del-flows", "gb-int"]);
    b.ctl(&["del-tlv-map", "gb-int"]);
    assert!(b
        .ctl(&["dump-tlv-map", "gb-int"])
        .contains("allocated option space=0\n"));
    let mf = b.megaflows().join("\n");
    assert!(!mf.contains("tlv("), "{mf}");
    b.exit();
    assert_same_frames("gb-vm", read_pcap(&sb.path("vm.pcap")), vec![pkt_fwd]);
}
