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
use dpif_netdev::wire::build;
use std::time::{Duration, Instant};

/// One switch at a time in this file. Each runs a busy-polling PMD, and
/// the tests run on a 2-core machine: two at once starved the upcall
/// handlers, so a capture could be read through before its first
/// megaflow was installed (seen: 0 of 12,000 packets by simple match).
/// Field order matters: the switch is stopped before the lock is let go.
struct Serial {
    r: Rvs,
    _lock: std::sync::MutexGuard<'static, ()>,
}

impl std::ops::Deref for Serial {
    type Target = Rvs;
    fn deref(&self) -> &Rvs {
        &self.r
    }
}

impl std::ops::DerefMut for Serial {
    fn deref_mut(&mut self) -> &mut Rvs {
        &mut self.r
    }
}

/// The lock [`Serial`] holds (a test that failed holding it poisons it;
/// the next one goes on).
fn serial_lock() -> std::sync::MutexGuard<'static, ()> {
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts a switch on `cfg` once no other test of this file runs one.
fn start(sb: &Sandbox, cfg: &std::path::Path) -> Serial {
    let lock = serial_lock();
    Serial {
        r: Rvs::start(sb, cfg),
        _lock: lock,
    }
}

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

/// A bridge `br0` with `flows` and `ports`, without an internal port (the
/// tests count rx queues and ports: only the DPDK ones).
fn bridge(flows: &[&str], ports: &[String]) -> String {
    let flows: Vec<String> = flows.iter().map(|f| format!("    \"{f}\",\n")).collect();
    format!(
        "[[bridge]]\nname = \"br0\"\ninternal = false\nflows = [\n{}]\n\n{}",
        flows.concat(),
        ports.concat()
    )
}

/// Waits (10 s at most) until OpenFlow port `ofport` of `br0` has sent
/// `n` packets.
#[track_caller]
fn wait_tx(r: &Rvs, ofport: u64, n: u64) {
    wait_tx_on(r, "br0", ofport, n)
}

/// [`wait_tx`] on bridge `br`.
#[track_caller]
fn wait_tx_on(r: &Rvs, br: &str, ofport: u64, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, tx) = r.port_counts(br, ofport);
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

/// Adds input port d1 (ofport 1) with `devargs` (a capture, read once and
/// at once) to bridge `br` of running switch `r`. A capture port in the
/// config starts reading while the switch is still starting: its first
/// misses then waited for upcall handlers not yet running, and whole
/// captures went by before a megaflow was installed.
fn add_capture_input(r: &Rvs, br: &str, devargs: &str) {
    r.ctl(&[
        "add-port",
        br,
        "d1",
        "type=dpdk",
        &format!("devargs={devargs}"),
        "ofport=1",
    ]);
}

/// Ports d1 (1), reading capture `inp`, and d2 (2), writing `out`.
fn pcap_ports(inp: &std::path::Path, out: &std::path::Path) -> [String; 2] {
    [
        dpdk_port("d1", 1, &format!("net_pcap0,rx_pcap={}", inp.display()), ""),
        dpdk_port("d2", 2, &format!("net_pcap1,tx_pcap={}", out.display()), ""),
    ]
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
            &pcap_ports(&inp, &out),
        ),
    );
    let mut r = start(&sb, &cfg);
    wait_tx(&r, 2, input.len() as u64);
    assert_eq!(r.port_counts("br0", 1).0, input.len() as u64);
    let ports: serde_json::Value =
        serde_json::from_str(&r.ctl(&["--json", "dump-ports", "br0"])).unwrap();
    assert_eq!(ports[0]["link_up"], true, "{ports}");
    assert!(r.ctl(&["dump-ports", "br0"]).contains(", link=up"));
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

/// Counter `what` of `br0`'s port `ofport` (`dump-ports --json`).
fn port_counter(r: &Rvs, ofport: u64, what: &str) -> u64 {
    bridge_port_counter(r, "br0", ofport, what)
}

#[test]
fn port_to_port_bursts_forwarded_mbuf_to_mbuf_are_exact_and_counted() {
    // A port-to-port rule: every megaflow of port 1 is simple, so bursts
    // of plain frames are forwarded mbuf to mbuf (`dpdk::direct`). Frames
    // simple match does not parse (802.3 LLC/SNAP) sit in some bursts,
    // which then take the usual path whole; either way every frame must
    // come out unchanged and be counted once, in packets and bytes.
    direct_forwarding("dpdk-direct", "in_port=1,actions=output:2", |f| f.to_vec());
}

#[test]
fn vlan_tags_pushed_on_the_direct_path_are_exact_and_counted() {
    // An access-port rule: untagged frames get a tag pushed, directly into
    // their mbuf's headroom when the burst is forwarded mbuf to mbuf;
    // frames already tagged with VLAN 20 keep their tag as they are.
    direct_forwarding(
        "dpdk-direct-vlan",
        "in_port=1,actions=mod_vlan_vid:20,output:2",
        |f| {
            if f[12..14] == [0x81, 0x00] {
                f.to_vec()
            } else {
                tagged(f, 20)
            }
        },
    );
}

/// 300 inner frames, repeated `REPEATS` times: UDP and TCP flows with an
/// 802.3 LLC/SNAP frame (which simple match does not parse, so its burst
/// takes the usual path) every 40.
fn tunnel_mix() -> Vec<Vec<u8>> {
    let snap = |i: u8| {
        let mut payload = vec![0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00];
        payload.extend([i; 40]);
        build::ethernet(mac(1), mac(2), payload.len() as u16, &payload)
    };
    let one: Vec<_> = (0..300u16)
        .map(|i| match i % 40 {
            9 => snap(i as u8),
            n if n % 3 == 0 => tcp(3, 2000 + i, 80, 54 + (i as usize % 7)),
            _ => udp(2, 1000 + i % 9, 53, 60 + (i as usize % 11)),
        })
        .collect();
    (0..REPEATS).flat_map(|_| one.iter().cloned()).collect()
}

/// Repeats of [`tunnel_mix`]: enough frames that most arrive after the
/// first upcalls installed their megaflows (a capture is read at once),
/// so the direct path carries most bursts. (With 12,000 frames, a first
/// install delayed by a few milliseconds, when the test's own `rvs ctl`
/// processes took the non-PMD core, left half of them to the slow path:
/// 36,000 leave it a third.)
const REPEATS: usize = 120;

/// The PMDs' counters (`pmd-stats-show --json`), each summed over PMDs.
fn pmd_sums(r: &Rvs) -> impl Fn(&str) -> u64 {
    let stats: serde_json::Value =
        serde_json::from_str(&r.ctl(&["--json", "dpif-netdev/pmd-stats-show"])).unwrap();
    move |f: &str| -> u64 {
        stats
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p[f].as_u64().unwrap_or_else(|| panic!("{f}: {stats}")))
            .sum()
    }
}

/// Checks the PMD counters of a run of `n` packets, each `passes`
/// datapath passes (2 for decapsulation: tnl_pop recirculates): every
/// pass has one outcome, simple match (so the direct path, which counts
/// as simple match) served most packets, and returns how many packets were
/// dropped because their upcall was lost (queue full) or failed: the
/// capture is read at full speed, and an upcall flood at the start may
/// overflow the queue, as in OVS.
#[track_caller]
fn pass_outcomes(r: &Rvs, n: u64, passes: u64) -> u64 {
    // Received is not answered: the upcalls of the capture's first bursts
    // may still be with the handlers when the port has read it all. Wait
    // until every packet has gone out or been counted lost.
    wait_until("every received packet sent or lost", r, || {
        let sum = pmd_sums(r);
        sum("tx_packets") + sum("lost_upcalls") + sum("failed_upcalls") >= n
    });
    let sum = pmd_sums(r);
    let stats = r.ctl(&["dpif-netdev/pmd-stats-show"]);
    let lost = sum("lost_upcalls") + sum("failed_upcalls");
    let recirc = sum("recirc_packets");
    assert_eq!(sum("rx_packets"), n, "{stats}");
    assert_eq!(
        sum("simple_match_hits") + sum("emc_hits") + sum("megaflow_hits") + sum("upcalls") + lost,
        n + recirc,
        "one outcome per pass: {stats}"
    );
    assert!(
        recirc <= (passes - 1) * n && recirc + lost >= (passes - 1) * n,
        "{stats}"
    );
    assert!(
        sum("simple_match_hits") > n / 2,
        "the direct path served most: {stats}"
    );
    assert_eq!(sum("tx_packets"), n - lost, "{stats}");
    lost
}

/// Asserts that `got` holds `want_len` frames, each one of `want` (as a
/// multiset: no frame more often than there).
#[track_caller]
fn assert_frames_among(what: &str, got: &[Vec<u8>], want: &[Vec<u8>], want_len: usize) {
    assert_eq!(got.len(), want_len, "{what}: frame count");
    let mut left: std::collections::HashMap<&[u8], usize> = std::collections::HashMap::new();
    for f in want {
        *left.entry(f).or_default() += 1;
    }
    for (i, f) in got.iter().enumerate() {
        let c = left.get_mut(&f[..]).filter(|c| **c > 0).unwrap_or_else(|| {
            panic!("{what}: frame {i} is not expected (or too often): {f:02x?}")
        });
        *c -= 1;
    }
}

/// The megaflows' packet and byte sums.
fn megaflow_sums(r: &Rvs) -> (u64, u64) {
    let flows = r.megaflows();
    let total = |label: &str| -> u64 { flows.iter().map(|l| field_u64(l, label)).sum() };
    (total("packets:"), total("bytes:"))
}

/// A counter of port `port` of bridge `br` from `dump-ports --json`.
fn bridge_port_counter(r: &Rvs, br: &str, port: u64, what: &str) -> u64 {
    let ports: serde_json::Value =
        serde_json::from_str(&r.ctl(&["--json", "dump-ports", br])).unwrap();
    ports
        .as_array()
        .and_then(|a| a.iter().find(|p| p["port"] == port))
        .and_then(|p| p[what].as_u64())
        .unwrap_or_else(|| panic!("{br} {port} {what}: {ports}"))
}

#[test]
fn vxlan_encapsulation_on_the_direct_path_is_exact_and_counted() {
    // br-int: d1 (a capture) -> the VXLAN port; the underlay bridge
    // dvx-phy (its internal port is the tunnel route's) sends to d2 (a
    // capture). Every megaflow of d1 is simple and its action a tnl_push
    // to d2, so bursts of plain frames are encapsulated in their mbufs'
    // headroom (`dpdk::direct`); bursts with an LLC/SNAP frame go the
    // usual way. Each output frame is checked field by field here: outer
    // headers from the tunnel's configuration, lengths, a valid IPv4
    // header checksum, the source port from the inner flow's hash, VNI
    // and the inner frame unchanged.
    let sb = Sandbox::new("dpdk-direct-vxlan");
    let input = tunnel_mix();
    let inp = sb.write_pcap("in.pcap", &input);
    let out = sb.path("out.pcap");
    // The input port is added once the neighbor is known: the capture is
    // read once, at once, and frames routed to an unknown neighbor are
    // dropped (as OVS does, while it asks by ARP). The underlay bridge's
    // internal port stays down (nothing sets it up), so the kernel sends
    // nothing of its own there; its flow sends only VXLAN anyway.
    let body = format!(
        "[[bridge]]\nname = \"br-int\"\ninternal = false\nflows = [\"in_port=1,actions=output:10\"]\n\n\
         [[bridge.port]]\nname = \"vx0\"\nofport = 10\ntype = \"vxlan\"\nremote_ip = \"172.31.0.2\"\nkey = 5000\n\n\
         [[bridge]]\nname = \"dvx-phy\"\nflows = [\"in_port=LOCAL,udp,tp_dst=4789,actions=output:2\"]\n\n{}\
         [[route]]\nprefix = \"172.31.0.0/24\"\nbridge = \"dvx-phy\"\nsrc = \"172.31.0.1\"\n",
        dpdk_port("d2", 2, &format!("net_pcap1,tx_pcap={}", out.display()), ""),
    );
    let mut r = start(&sb, &config(&sb, "[0]", &body));
    r.ctl(&["tnl/arp/set", "dvx-phy", "172.31.0.2", "02:00:00:00:ee:02"]);
    add_capture_input(
        &r,
        "br-int",
        &format!("net_pcap0,rx_pcap={}", inp.display()),
    );
    let n = input.len() as u64;
    wait_until("d1 read its capture", &r, || {
        bridge_port_counter(&r, "br-int", 1, "rx_packets") == n
    });
    let bytes: u64 = input.iter().map(|f| f.len() as u64).sum();
    assert_eq!(bridge_port_counter(&r, "br-int", 1, "rx_bytes"), bytes);
    let lost = pass_outcomes(&r, n, 1);
    wait_tx_on(&r, "dvx-phy", 2, n - lost);
    if lost == 0 {
        // 50 bytes of outer headers each.
        assert_eq!(
            bridge_port_counter(&r, "dvx-phy", 2, "tx_bytes"),
            bytes + 50 * n
        );
        assert_eq!(megaflow_sums(&r), (n, bytes));
    }
    r.exit();

    let got = read_pcap(&out);
    let be16 = |f: &[u8], at: usize| u16::from_be_bytes([f[at], f[at + 1]]);
    let mut inners = Vec::new();
    let mut outer_macs = None;
    for f in &got {
        let inner = &f[50..];
        inners.push(inner.to_vec());
        assert_eq!(&f[0..6], &[2, 0, 0, 0, 0xee, 2], "to the neighbor");
        // The same source MAC (the underlay bridge's) on every frame.
        assert_eq!(*outer_macs.get_or_insert(f[6..12].to_vec()), &f[6..12]);
        assert_eq!(be16(f, 12), 0x0800);
        let ip = &f[14..34];
        assert_eq!(ip[0], 0x45);
        assert_eq!(usize::from(be16(ip, 2)), f.len() - 14, "IPv4 total length");
        assert_eq!(ip[9], 17);
        assert_eq!(&ip[12..20], &[172, 31, 0, 1, 172, 31, 0, 2]);
        let mut sum: u32 = ip.chunks(2).map(|c| u32::from(be16(c, 0))).sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        assert_eq!(sum, 0xffff, "IPv4 header checksum");
        let sport = be16(f, 34);
        let (l3, l4) = match be16(inner, 12) {
            0x0800 => (14, 14 + 4 * u16::from(inner[14] & 0xf)),
            _ => (dpif_netdev::packet::NO_OFS, dpif_netdev::packet::NO_OFS),
        };
        let hash = dpif_netdev::execute::hash_5tuple_frame(inner, l3, l4, 0);
        assert_eq!(
            sport,
            dpif_netdev::execute::tnl_src_port(hash),
            "source port"
        );
        assert_eq!(be16(f, 36), 4789);
        assert_eq!(usize::from(be16(f, 38)), f.len() - 34, "UDP length");
        assert_eq!(be16(f, 40), 0, "no UDP checksum");
        assert_eq!(&f[42..50], &[0x08, 0, 0, 0, 0, 0x13, 0x88, 0], "VNI 5000");
    }
    assert_frames_among("inner frames", &inners, &input, input.len() - lost as usize);
}

#[test]
fn vxlan_decapsulation_on_the_direct_path_is_exact_and_counted() {
    // The underlay bridge dvd-phy gets VXLAN from d1 (a capture) for its
    // tunnel endpoint 172.31.0.1 (in_port=1,actions=LOCAL: tnl_pop); br-int
    // sends what arrives on the tunnel port to d2 (a capture). Both
    // megaflows are simple, so bursts are decapsulated in their mbufs and
    // forwarded (`dpdk::direct`); bursts with an LLC/SNAP inner frame go
    // the usual way (tnl_pop, recirculation, second lookup). Either way
    // d2 must send exactly the inner frames, and every pass be counted.
    let sb = Sandbox::new("dpdk-direct-decap");
    let inner = tunnel_mix();
    let outer_ip = |a: u8| std::net::Ipv4Addr::new(172, 31, 0, a);
    let input: Vec<_> = inner
        .iter()
        .map(|f| {
            // Ethernet/IPv4/UDP to 4789 (build::udp4 makes the lengths and
            // the IPv4 checksum) carrying VXLAN VNI 5000, no UDP checksum.
            let mut vx = vec![0x08, 0, 0, 0, 0, 0x13, 0x88, 0];
            vx.extend_from_slice(f);
            let mut o = build::udp4(
                mac(9),
                mac(8),
                outer_ip(2),
                outer_ip(1),
                49152,
                4789,
                vx.len(),
            );
            let at = o.len() - vx.len();
            o[at..].copy_from_slice(&vx);
            o[40..42].copy_from_slice(&[0, 0]);
            o
        })
        .collect();
    let inp = sb.write_pcap("in.pcap", &input);
    let out = sb.path("out.pcap");
    let body = format!(
        "[[bridge]]\nname = \"br-int\"\ninternal = false\nflows = [\"in_port=10,actions=output:2\"]\n\n{}\
         [[bridge.port]]\nname = \"vx0\"\nofport = 10\ntype = \"vxlan\"\nremote_ip = \"172.31.0.2\"\nlocal_ip = \"172.31.0.1\"\nkey = 5000\n\n\
         [[bridge]]\nname = \"dvd-phy\"\ninternal = false\nflows = [\"in_port=1,actions=LOCAL\"]\n\n\
         [[route]]\nprefix = \"172.31.0.0/24\"\nbridge = \"dvd-phy\"\nsrc = \"172.31.0.1\"\n",
        dpdk_port("d2", 2, &format!("net_pcap1,tx_pcap={}", out.display()), ""),
    );
    let mut r = start(&sb, &config(&sb, "[0]", &body));
    add_capture_input(
        &r,
        "dvd-phy",
        &format!("net_pcap0,rx_pcap={}", inp.display()),
    );
    let n = input.len() as u64;
    wait_until("d1 read its capture", &r, || {
        bridge_port_counter(&r, "dvd-phy", 1, "rx_packets") == n
    });
    let lost = pass_outcomes(&r, n, 2);
    wait_tx_on(&r, "br-int", 2, n - lost);
    let outer_bytes: u64 = input.iter().map(|f| f.len() as u64).sum();
    let inner_bytes: u64 = inner.iter().map(|f| f.len() as u64).sum();
    assert_eq!(
        bridge_port_counter(&r, "dvd-phy", 1, "rx_bytes"),
        outer_bytes
    );
    if lost == 0 {
        assert_eq!(
            bridge_port_counter(&r, "br-int", 2, "tx_bytes"),
            inner_bytes
        );
        assert_eq!(megaflow_sums(&r), (2 * n, outer_bytes + inner_bytes));
    }
    r.exit();
    assert_frames_among(
        "out.pcap",
        &read_pcap(&out),
        &inner,
        inner.len() - lost as usize,
    );
}

/// Runs 400 frames of a mix (see the callers) from a `net_pcap` port
/// through `rule` to another, and checks that what comes out is `expect`
/// of each frame and that every packet and byte is counted once.
fn direct_forwarding(name: &str, rule: &str, expect: impl Fn(&[u8]) -> Vec<u8>) {
    let sb = Sandbox::new(name);
    let snap = |i: u8| {
        let mut payload = vec![0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00];
        payload.extend([i; 40]);
        build::ethernet(mac(1), mac(2), payload.len() as u16, &payload)
    };
    let mut one = Vec::new();
    for i in 0..400u16 {
        one.push(match i % 50 {
            7 => snap(i as u8),
            13 => tagged(&udp(4, 3000 + i, 53, 30), 20),
            n if n % 3 == 0 => tcp(3, 2000 + i, 80, 54 + (i as usize % 7)),
            _ => udp(2, 1000 + i % 5, 53, 60 + (i as usize % 11)),
        });
    }
    // Repeated, so that most frames arrive after the first upcalls have
    // installed the megaflows (the capture is read at once) and the
    // direct path carries most bursts (`pass_outcomes` checks that; see
    // REPEATS for the count).
    let input: Vec<_> = (0..90).flat_map(|_| one.iter().cloned()).collect();
    let bytes: u64 = input.iter().map(|f| f.len() as u64).sum();
    let n = input.len() as u64;
    let inp = sb.write_pcap("in.pcap", &input);
    let out = sb.path("out.pcap");
    // d1 is added once the switch runs.
    let [_, d2] = pcap_ports(&inp, &out);
    let cfg = config(&sb, "[0]", &bridge(&[rule], &[d2]));
    let mut r = start(&sb, &cfg);
    add_capture_input(&r, "br0", &format!("net_pcap0,rx_pcap={}", inp.display()));
    wait_until("port 1 read its capture", &r, || {
        port_counter(&r, 1, "rx_packets") == n
    });
    assert_eq!(port_counter(&r, 1, "rx_bytes"), bytes);
    // Every packet in exactly one fast-path outcome, most by simple
    // match; those whose upcall was lost in the first flood are dropped.
    let lost = pass_outcomes(&r, n, 1);
    wait_tx(&r, 2, n - lost);
    let want: Vec<_> = input.iter().map(|f| expect(f)).collect();
    if lost == 0 {
        let out_bytes: u64 = want.iter().map(|f| f.len() as u64).sum();
        assert_eq!(port_counter(&r, 2, "tx_bytes"), out_bytes);
        // The megaflows counted every packet and byte.
        assert_eq!(megaflow_sums(&r), (n, bytes));
    }
    r.exit();
    let got = read_pcap(&out);
    if lost == 0 {
        assert_same_frames("out.pcap", got, want);
    } else {
        assert_frames_among("out.pcap", &got, &want, (n - lost) as usize);
    }
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
    let mut r = start(&sb, &cfg);
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
    let _lock = serial_lock();
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

/// `tx_packets` of `ofport` (from the device, `dump-ports --json`).
fn tx_of(r: &Rvs, ofport: u64) -> u64 {
    r.port_counts("br0", ofport).1
}

/// Waits (10 s at most) until `f` holds.
#[track_caller]
fn wait_until(what: &str, r: &Rvs, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(
            Instant::now() < deadline,
            "{what} within 10 s:\n{}",
            r.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn ports_added_and_removed_while_traffic_flows() {
    // Plan: d1 replays one frame forever into d2 (net_null) and port 3,
    // which does not exist yet. While d2's counter keeps rising, add d3
    // (a net_pcap writer) at run time, see it transmit, read its
    // extended statistics, remove it (the capture is closed and holds
    // only the input frame), check that bad devargs and unknown ports are
    // refused without disturbing d2, and re-attach the same vdev name.
    let sb = Sandbox::new("dpdk-hotplug");
    let frame = udp(2, 1234, 53, 64);
    let inp = sb.write_pcap("in.pcap", std::slice::from_ref(&frame));
    let out3 = sb.path("out3.pcap");
    let cfg = config(
        &sb,
        "[0]",
        &bridge(
            &["in_port=1,actions=output:2,output:3"],
            &[
                dpdk_port(
                    "d1",
                    1,
                    &format!("net_pcap0,rx_pcap={},infinite_rx=1", inp.display()),
                    "",
                ),
                dpdk_port("d2", 2, "net_null0,no-rx=1", ""),
            ],
        ),
    );
    let mut r = start(&sb, &cfg);
    // d2 must keep sending through every change below.
    let mut last = 0;
    let mut still_flowing = |r: &Rvs| {
        let mut now = tx_of(r, 2);
        let deadline = Instant::now() + Duration::from_secs(5);
        while now <= last {
            assert!(
                Instant::now() < deadline,
                "d2 stopped sending:\n{}",
                r.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
            now = tx_of(r, 2);
        }
        last = now;
    };
    still_flowing(&r);

    r.ctl(&[
        "add-port",
        "br0",
        "d3",
        "type=dpdk",
        &format!("devargs=net_pcap2,tx_pcap={}", out3.display()),
        "ofport=3",
    ]);
    still_flowing(&r);
    wait_until("d3 transmits", &r, || tx_of(&r, 3) > 100);
    let xs = r.ctl(&["--json", "dpdk/get-xstats", "d3"]);
    let xs: serde_json::Value = serde_json::from_str(&xs).unwrap();
    assert!(xs["tx_good_packets"].as_u64().unwrap() > 100, "{xs}");
    assert!(r
        .ctl(&["dpdk/get-xstats", "d1"])
        .contains("rx_good_packets: "));

    r.ctl(&["del-port", "br0", "d3"]);
    still_flowing(&r);
    let ports = r.ctl(&["--json", "dump-ports", "br0"]);
    assert!(!ports.contains("\"d3\""), "{ports}");
    let written = read_pcap(&out3);
    assert!(written.len() > 100);
    assert!(
        written.iter().all(|f| *f == frame),
        "d3 wrote only the input frame"
    );

    let e = r.ctl_err(&[
        "add-port",
        "br0",
        "d4",
        "type=dpdk",
        "devargs=net_nosuchdriver0",
    ]);
    assert!(
        e.contains("port d4: devargs \"net_nosuchdriver0\": cannot attach the device"),
        "{e}"
    );
    let e = r.ctl_err(&["add-port", "br0", "d4", "type=dpdk", "devargs=x", "n_rxq=0"]);
    assert!(e.contains("n_rxq: 0 out of range 1-1024"), "{e}");
    let e = r.ctl_err(&["del-port", "br0", "nosuch"]);
    assert!(e.contains("nosuch: no such port on bridge br0"), "{e}");
    let e = r.ctl_err(&["dpdk/get-xstats", "nosuch"]);
    assert!(e.contains("nosuch: no such port"), "{e}");
    still_flowing(&r);

    // The vdev was detached: the same name attaches again.
    let out3b = sb.path("out3b.pcap");
    r.ctl(&[
        "add-port",
        "br0",
        "d3",
        "type=dpdk",
        &format!("devargs=net_pcap2,tx_pcap={}", out3b.display()),
    ]);
    wait_until("re-added d3 transmits", &r, || tx_of(&r, 3) > 0);
    still_flowing(&r);
    r.exit();
}

/// Per PMD (in core order), the ports whose queues it polls.
fn rxq_layout(r: &Rvs) -> Vec<Vec<String>> {
    let v: serde_json::Value =
        serde_json::from_str(&r.ctl(&["--json", "dpif-netdev/pmd-rxq-show"])).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let mut ports: Vec<String> = p["rxqs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|q| q["port"].as_str().unwrap().to_string())
                .collect();
            ports.sort();
            ports
        })
        .collect()
}

/// Two busy inputs (`busyA`, `busyB`) and an idle one, laid out so that
/// round robin order puts both busy queues on the first PMD.
fn unbalanced(sb: &Sandbox, pmd_extra: &str) -> std::path::PathBuf {
    let inp = sb.write_pcap("in.pcap", &[udp(2, 1, 2, 64)]);
    let busy = |n: u32| format!("net_pcap{n},rx_pcap={},infinite_rx=1", inp.display());
    config(
        sb,
        &format!("[0, 1]\n{pmd_extra}"),
        &bridge(
            &["in_port=4,actions=drop", "actions=output:4"],
            &[
                dpdk_port("busyA", 1, &busy(0), ""),
                dpdk_port("idle", 2, "net_null0,no-rx=1", ""),
                dpdk_port("busyB", 3, &busy(1), ""),
                dpdk_port("sink", 4, "net_null1,no-rx=1", ""),
            ],
        ),
    )
}

#[test]
fn rebalance_moves_a_busy_queue_and_usage_is_shown() {
    let sb = Sandbox::new("dpdk-rebalance");
    let cfg = unbalanced(&sb, "rxq_assign = \"cycles\"");
    let mut r = start(&sb, &cfg);
    assert_eq!(
        rxq_layout(&r),
        [vec!["busyA", "busyB"], vec!["idle", "sink"]],
        "round robin order at start"
    );
    std::thread::sleep(Duration::from_millis(1000));
    let text = r.ctl(&["dpif-netdev/pmd-rxq-show"]);
    let usage = |port: &str| -> f64 {
        let l = text.lines().find(|l| l.contains(port)).unwrap();
        l.split("pmd usage:")
            .nth(1)
            .unwrap()
            .trim()
            .trim_end_matches('%')
            .trim()
            .parse()
            .unwrap()
    };
    assert!(usage("busyA") > 10.0 && usage("busyB") > 10.0, "{text}");
    assert!(usage("idle") < 1.0, "{text}");
    let moved = r.ctl(&["dpif-netdev/pmd-rxq-rebalance"]);
    assert!(moved.contains("core 0 -> core 1"), "{moved}");
    let layout = rxq_layout(&r);
    assert!(
        layout
            .iter()
            .all(|p| p.iter().filter(|q| q.starts_with("busy")).count() == 1),
        "one busy queue per PMD after rebalance: {layout:?}"
    );
    // Traffic still flows from both busy ports.
    let before = tx_of(&r, 4);
    wait_until("sink keeps sending", &r, || tx_of(&r, 4) > before + 1000);
    r.exit();
}

#[test]
fn auto_lb_spreads_busy_queues_by_itself() {
    let sb = Sandbox::new("dpdk-auto-lb");
    let cfg = unbalanced(
        &sb,
        "rxq_assign = \"group\"\npmd_auto_lb = true\npmd_auto_lb_interval_ms = 300",
    );
    let mut r = start(&sb, &cfg);
    wait_until("auto-lb moves a busy queue", &r, || {
        rxq_layout(&r)
            .iter()
            .all(|p| p.iter().filter(|q| q.starts_with("busy")).count() == 1)
    });
    r.exit();
}
