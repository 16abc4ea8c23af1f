//! Whole-switch benchmark: the datapath (one PMD thread, one upcall
//! handler, the revalidator) forwarding between in-memory ring ports.
//!
//! Not a criterion bench: each scenario runs the switch for a fixed time
//! and reports Mpps (packets forwarded per second), the PMD's own
//! cycles/packet (busy cycles / packets received), and for flow setup the
//! rate of new megaflows installed through the upcall handler.
//!
//! Traffic: pre-built 64-byte UDP packets are moved (not copied) from the
//! output ring back to the input ring by a feeder thread, so the feeder
//! costs one queue pop + push per packet. On a 2-core machine the PMD gets
//! one core and the feeder the other.
//!
//! Run: `cargo bench --bench switch` (`-- --quick` for a short run; any
//! other argument keeps only the scenarios whose name contains it, e.g.
//! `-- "1 flow"`).
//! Results and the machine are in BENCHMARKS.md.

// The allocator the `rvs` binary uses (see src/main.rs), so the flow
// setup rate measured here is the shipping switch's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use dpif_netdev::key::FlowKey;
use dpif_netdev::packet::Packet;
use dpif_netdev::wire::build;
use ofproto::flow_mod::FlowModCommand;
use ofproto::ofctl::parse_flow_mods;
use ofproto::table::Tables;
use ofproto::xlate::{xlate, IdentityPorts};
use pmd::ring::{ring_port, ring_wire};
use pmd::{Datapath, DatapathConfig, PortSpec, PortStats, TranslateError, Translation, Translator};
use std::net::Ipv4Addr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

struct Bridge {
    tables: RwLock<Tables>,
    ports: IdentityPorts,
}

impl Translator for Bridge {
    fn translate(&self, key: &FlowKey) -> Result<Translation, TranslateError> {
        let t = self.tables.read().unwrap_or_else(|e| e.into_inner());
        let x = xlate(&t, &self.ports, key, false);
        Ok(x.into())
    }
    fn version(&self) -> u64 {
        1
    }
}

fn datapath(flows: &str, core: usize, specs: Vec<PortSpec>) -> Datapath {
    let mut t = Tables::new();
    let mods = parse_flow_mods(flows, FlowModCommand::Add, &()).expect("bench flows parse");
    t.apply(&mods, 0).expect("bench flows apply");
    let br = Arc::new(Bridge {
        tables: RwLock::new(t),
        ports: IdentityPorts(vec![1, 2]),
    });
    let cfg = DatapathConfig {
        cores: vec![core],
        handler_threads: 1,
        max_idle_ms: 600_000,
        upcall_queue: 131_072,
        ..DatapathConfig::default()
    };
    Datapath::start(cfg, specs, br).expect("datapath starts")
}

fn packet(i: u32, dst_prefix: u8) -> Packet {
    let f = build::udp4(
        [2, 0, 0, 0, 0, 1],
        [2, 0, 0, 0, 0, 2],
        Ipv4Addr::from(0x0a00_0000 | (i >> 16)),
        Ipv4Addr::from(((dst_prefix as u32) << 24) | (i.wrapping_mul(2_654_435_761) >> 8)),
        (i & 0xffff) as u16,
        80,
        18,
    );
    Packet::from_bytes(&f)
}

/// Forwarding rate with `n_flows` distinct 5-tuples circulating between
/// two ports wired back to back (what port 1 sends arrives on port 2 and
/// the other way round), so no other thread takes part.
/// Ports 1 and 2 as ring ports wired back to back (what one sends, the
/// other receives), with room for `in_flight` packets; the end of port 1
/// primes the wire.
fn wired_pair(in_flight: usize) -> (Vec<PortSpec>, pmd::RingEnd) {
    let stats = [
        Arc::new(PortStats::default()),
        Arc::new(PortStats::default()),
    ];
    let [(rx1, tx1, end1), (rx2, tx2, _end2)] = ring_wire(
        ["p1", "p2"],
        in_flight.next_power_of_two() * 2,
        stats.clone(),
    );
    let spec = |odp: u32, rx, tx, st: &Arc<PortStats>| PortSpec {
        odp,
        name: format!("p{odp}"),
        rxqs: vec![rx],
        finite: false,
        tx,
        stats: st.clone(),
    };
    (
        vec![spec(1, rx1, tx1, &stats[0]), spec(2, rx2, tx2, &stats[1])],
        end1,
    )
}

/// Lets the primed packets get their megaflows (0.5 s), clears the PMD
/// counters, and returns them after `dur` with the seconds measured.
fn measure(dp: &Datapath, dur: Duration) -> (pmd::stats::PmdStatsSnapshot, f64) {
    std::thread::sleep(Duration::from_millis(500));
    dp.drain();
    dp.clear_pmd_stats();
    let t0 = Instant::now();
    std::thread::sleep(dur);
    let st = dp.pmd_stats()[0].1;
    (st, t0.elapsed().as_secs_f64())
}

fn forward(name: &str, flows: &str, n_flows: u32, dur: Duration, core: usize) {
    let in_flight = (n_flows as usize).max(4096);
    let (specs, end1) = wired_pair(in_flight);
    let dp = datapath(flows, core, specs);
    let n = end1.send_packets((0..in_flight as u32).map(|i| packet(i % n_flows, 10)));
    assert_eq!(n, in_flight, "primed");
    let (st, secs) = measure(&dp, dur);
    let mpps = st.tx_packets as f64 / secs / 1e6;
    let cpp = if st.rx_packets > 0 {
        st.busy_cycles as f64 / st.rx_packets as f64
    } else {
        0.0
    };
    println!(
        "| {name} | {mpps:.2} Mpps | {cpp:.0} | {} | {} | {} | {} |",
        st.simple_match_hits, st.emc_hits, st.megaflow_hits, st.megaflows
    );
    dp.stop();
}

/// New megaflows per second: `n` packets that each need their own
/// megaflow, sent as fast as the ring takes them.
fn setup_rate(n: u32, core: usize) {
    // Reading the UDP source port and the IP source into registers
    // un-wildcards them: every (nw_src, tp_src) pair is its own megaflow.
    let flows = "priority=10,udp,in_port=1,actions=move:NXM_OF_IP_SRC[]->NXM_NX_REG0[],move:NXM_OF_UDP_SRC[]->NXM_NX_REG1[0..15],output:2\n";
    // Like a NIC whose rx ring is full when the switch starts: every packet
    // waits in port 1's queue before the datapath runs, so no generator
    // thread competes with the upcall handler for the second core.
    let mut specs = Vec::new();
    let mut ends = Vec::new();
    for odp in 1..=2u32 {
        let stats = Arc::new(PortStats::default());
        let (rx, tx, end) = ring_port(&format!("p{odp}"), n as usize, stats.clone());
        specs.push(PortSpec {
            odp,
            name: format!("p{odp}"),
            rxqs: vec![rx],
            finite: false,
            tx,
            stats,
        });
        ends.push(end);
    }
    let sent = ends[0].send_packets((0..n).map(|i| packet(i, 10)));
    assert_eq!(sent, n as usize);
    let t0 = Instant::now();
    let dp = datapath(flows, core, specs);
    let mut received = 0usize;
    let deadline = Instant::now() + Duration::from_secs(120);
    while received < n as usize && Instant::now() < deadline {
        match ends[1].recv() {
            Some(_) => received += 1,
            None => std::thread::sleep(Duration::from_micros(200)),
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let st = dp.pmd_stats()[0].1;
    println!(
        "| flow setup, {n} new megaflows | {:.0} setups/s | {} forwarded, {} megaflows, {} lost upcalls in {secs:.2} s |",
        st.megaflows as f64 / secs,
        received,
        st.megaflows,
        st.upcalls_dropped
    );
    dp.stop();
}

/// A translator for the tunnel round trip: port 1's packets are
/// encapsulated towards port 1 (whose wire delivers them to port 2), port
/// 2's are decapsulated onto vport 3, and what comes out of vport 3 goes
/// to port 2 (delivered back to port 1).
struct TunnelLoop {
    push: Arc<dpif_netdev::actions::TnlPush>,
}

impl Translator for TunnelLoop {
    fn translate(&self, key: &FlowKey) -> Result<Translation, TranslateError> {
        use dpif_netdev::actions::DpAction;
        let mut m = FlowKey::ZERO;
        m.recirc_id = u32::MAX;
        m.in_port = u32::MAX;
        let actions = match key.in_port {
            1 => vec![DpAction::TnlPush(self.push.clone())],
            2 => vec![DpAction::TnlPop(dpif_netdev::actions::TnlPop::plain(3))],
            _ => vec![DpAction::Output(2)],
        };
        Ok(Translation {
            actions,
            mask: dpif_netdev::key::FlowMask(m),
            rules: Vec::new(),
            learns: false,
        })
    }
    fn version(&self) -> u64 {
        1
    }
}

/// Encapsulation and decapsulation on one PMD: every packet the PMD
/// receives is either encapsulated (`tnl_push` of a 50-byte VXLAN or
/// Geneve header) or decapsulated (`tnl_pop`, then the inner packet's own
/// lookup after recirculation), half and half.
fn tunnel_loop(kind: dpif_netdev::actions::TunnelType, dur: Duration, core: usize) {
    use dpif_netdev::actions::{TnlPush, TunnelType};
    use dpif_netdev::odp::tnl::{Hdr, Tun, L3};
    let hdr = Hdr {
        eth_dst: [2, 0, 0, 0, 0xee, 2],
        eth_src: [2, 0, 0, 0, 0xee, 1],
        l3: L3::V4 {
            src: 0xac1f_0001,
            dst: 0xac1f_0002,
            proto: 17,
            tos: 0,
            ttl: 64,
            frag: 0x4000,
        },
        udp_src: 0,
        udp_dst: match kind {
            TunnelType::Vxlan => 4789,
            TunnelType::Geneve => 6081,
        },
        udp_csum: 0,
        tun: match kind {
            TunnelType::Vxlan => Tun::Vxlan {
                flags: 0x0800_0000,
                vni: 5000,
            },
            TunnelType::Geneve => Tun::Geneve {
                oam: false,
                crit: false,
                vni: 5000,
                opts: Vec::new(),
            },
        },
    };
    let push = Arc::new(TnlPush {
        tnl_port: 3,
        out_port: 1,
        tnl_type: kind,
        header: hdr.encode().expect("template").into_boxed_slice(),
        ipv6: false,
        udp_csum: false,
    });
    let in_flight = 4096usize;
    let (mut specs, end1) = wired_pair(in_flight);
    let vport_stats = Arc::new(PortStats::default());
    specs.push(PortSpec {
        odp: 3,
        name: "vxlan_sys".into(),
        rxqs: Vec::new(),
        finite: false,
        tx: Arc::new(pmd::NullTx {
            stats: vport_stats.clone(),
        }),
        stats: vport_stats,
    });
    let cfg = DatapathConfig {
        cores: vec![core],
        max_idle_ms: 600_000,
        ..DatapathConfig::default()
    };
    let dp = Datapath::start(cfg, specs, Arc::new(TunnelLoop { push })).expect("datapath starts");
    let n = end1.send_packets((0..in_flight as u32).map(|_| packet(0, 10)));
    assert_eq!(n, in_flight, "primed");
    let (st, secs) = measure(&dp, dur);
    let name = match kind {
        TunnelType::Vxlan => "VXLAN encap + decap, 1 flow",
        TunnelType::Geneve => "Geneve encap + decap, 1 flow",
    };
    println!(
        "| {name} | {:.2} Mpps | {:.0} | {} | {} | {} | {} |",
        st.rx_packets as f64 / secs / 1e6,
        if st.rx_packets > 0 {
            st.busy_cycles as f64 / st.rx_packets as f64
        } else {
            0.0
        },
        st.simple_match_hits,
        st.emc_hits,
        st.megaflow_hits,
        st.megaflows
    );
    dp.stop();
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    // Scenario filters: arguments that are not flags (cargo bench passes
    // `--bench` itself).
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let want = |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()));
    let dur = Duration::from_secs(if quick { 1 } else { 3 });
    let cores = core_affinity_ids();
    let core = *cores.last().unwrap_or(&0);
    println!("machine: {}, PMD on core {core}", cpu_model());
    println!(
        "| scenario | rate | cycles/pkt | simple match hits | emc hits | megaflow hits | megaflows |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let one_rule =
        "priority=10,in_port=1,actions=output:2\npriority=10,in_port=2,actions=output:1\n";
    if want("1 flow, 1 rule") {
        forward("1 flow, 1 rule", one_rule, 1, dur, core);
    }
    if want("10k flows, 1 rule") {
        forward("10k flows, 1 rule", one_rule, 10_000, dur, core);
    }
    if want("100k flows, 1 rule") {
        forward("100k flows, 1 rule", one_rule, 100_000, dur, core);
    }
    // 16 masks: routes of 16 prefix lengths; destinations spread over them.
    let mut l3 = String::new();
    for len in 9..=24u32 {
        let net = (10u32 << 24) | (1u32 << (32 - len));
        let a = Ipv4Addr::from(net);
        for (inp, out) in [(1, 2), (2, 1)] {
            l3.push_str(&format!(
                "priority={},ip,in_port={inp},nw_dst={a}/{len},actions=output:{out}\n",
                len * 10
            ));
        }
    }
    l3.push_str(
        "priority=1,ip,in_port=1,actions=output:2\npriority=1,ip,in_port=2,actions=output:1\n",
    );
    if want("10k flows, 16-mask L3 table") {
        forward("10k flows, 16-mask L3 table", &l3, 10_000, dur, core);
    }
    if want("VXLAN encap + decap, 1 flow") {
        tunnel_loop(dpif_netdev::actions::TunnelType::Vxlan, dur, core);
    }
    if want("Geneve encap + decap, 1 flow") {
        tunnel_loop(dpif_netdev::actions::TunnelType::Geneve, dur, core);
    }
    let n = if quick { 20_000 } else { 100_000 };
    if want(&format!("flow setup, {n} new megaflows")) {
        setup_rate(n, core);
    }
}

fn core_affinity_ids() -> Vec<usize> {
    (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect()
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
