//! The megaflow contract end to end: the running datapath (PMD thread with
//! its EMC and classifier, upcall handler, megaflow installs) forwards
//! exactly what ofproto's translation alone says.
//!
//! Plan: for random flow tables (drawn from a pool of ovs-ofctl lines with
//! overlapping matches, rewrites, VLAN and multi-table actions) and random
//! packets (a few flows, each sent several times so that later copies hit
//! the EMC or a megaflow installed by the first), send every packet into a
//! ring port of a running datapath and collect what each port sends. The
//! reference runs each packet alone through `xlate` + `execute` in this
//! thread. Per output port, the multiset of frames must be equal (order
//! across flows may differ: a miss waits for its upcall while later
//! packets of known flows go straight through).

use dpif_netdev::execute::{execute, ActionSink};
use dpif_netdev::extract::extract;
use dpif_netdev::key::FlowKey;
use dpif_netdev::packet::Packet;
use dpif_netdev::wire::build;
use dpif_netdev::DropReason;
use ofproto::flow_mod::FlowModCommand;
use ofproto::ofctl::parse_flow_mods;
use ofproto::table::Tables;
use ofproto::xlate::{xlate, IdentityPorts};
use pmd::ring::ring_port;
use pmd::{Datapath, DatapathConfig, PortSpec, PortStats, TranslateError, Translation, Translator};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

const RULES: &[&str] = &[
    "priority=100,in_port=1,udp,tp_dst=53,actions=output:3",
    "priority=90,ip,nw_dst=10.0.1.0/24,actions=mod_dl_src:02:00:00:00:00:aa,output:2",
    "priority=80,ip,nw_dst=10.0.0.0/16,actions=dec_ttl,output:2",
    "priority=70,tcp,tp_dst=80,actions=mod_nw_dst:10.9.9.9,output:3",
    "priority=60,in_port=1,actions=resubmit(,1)",
    "priority=50,ip,nw_src=10.0.0.0/8,actions=mod_vlan_vid:100,output:2",
    "priority=40,udp,actions=mod_tp_src:4000,output:2,output:3",
    "priority=30,in_port=2,actions=output:in_port",
    "priority=20,ip,actions=load:0x5->NXM_NX_REG0[],resubmit(,1)",
    "priority=10,actions=output:3",
    "priority=5,ip,nw_ttl=1,actions=drop",
    "priority=95,ip,nw_tos=32,actions=mod_nw_tos:64,output:1",
    "table=1,priority=10,reg0=5,actions=output:3",
    "table=1,priority=5,ip,nw_dst=10.0.2.0/24,actions=output:1",
    "table=1,priority=1,actions=mod_dl_dst:02:00:00:00:00:bb,output:2",
];

struct Br {
    tables: RwLock<Tables>,
    ports: IdentityPorts,
}

impl Translator for Br {
    fn translate(&self, key: &FlowKey) -> Result<Translation, TranslateError> {
        let t = self.tables.read().unwrap();
        let x = xlate(&t, &self.ports, key, false);
        Ok(x.into())
    }
    fn version(&self) -> u64 {
        1
    }
}

#[derive(Default)]
struct Collect {
    out: BTreeMap<u32, Vec<Vec<u8>>>,
}

impl ActionSink for Collect {
    fn output(&mut self, port: u32, pkt: Packet) {
        self.out.entry(port).or_default().push(pkt.data().to_vec());
    }
    fn recirculate(&mut self, _pkt: Packet) {}
    fn userspace(&mut self, _pkt: Packet, _cookie: u64) {}
    fn dropped(&mut self, _pkt: Packet, _reason: DropReason) {}
}

fn frame(f: &(u8, u8, u16, u16, u8, u8, bool)) -> Vec<u8> {
    let (dst3, dst4, sport, dport, ttl, tos, tcp) = *f;
    let src = [2, 0, 0, 0, 0, 1];
    let dst = [2, 0, 0, 0, 0, 2];
    let (s, d) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, dst3, dst4));
    let mut f = if tcp {
        build::tcp4(src, dst, s, d, sport, dport, 0x10, 6)
    } else {
        build::udp4(src, dst, s, d, sport, dport, 6)
    };
    // TTL at byte 22, TOS at 15; fix the header checksum after.
    f[22] = ttl;
    f[15] = tos;
    f[24] = 0;
    f[25] = 0;
    let c = build::reference_checksum(&[&f[14..34]]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f
}

fn sorted(mut m: BTreeMap<u32, Vec<Vec<u8>>>) -> BTreeMap<u32, Vec<Vec<u8>>> {
    for v in m.values_mut() {
        v.sort();
    }
    m.retain(|_, v| !v.is_empty());
    m
}

fn run_case(rules: &[usize], flows: &[(u8, u8, u16, u16, u8, u8, bool)], reps: usize) {
    let text: String = rules.iter().map(|i| format!("{}\n", RULES[*i])).collect();
    let mut t = Tables::new();
    t.apply(
        &parse_flow_mods(&text, FlowModCommand::Add, &()).unwrap(),
        0,
    )
    .unwrap();
    let ports = IdentityPorts(vec![1, 2, 3]);

    // Reference: each packet alone through xlate + execute.
    let mut want = Collect::default();
    let mut frames = Vec::new();
    for _ in 0..reps {
        for f in flows {
            frames.push(frame(f));
        }
    }
    for f in &frames {
        let mut p = Packet::from_bytes(f);
        p.md.in_port = 1;
        let mut k = FlowKey::ZERO;
        extract(&mut p, &mut k);
        let x = xlate(&t, &ports, &k, false);
        execute(&x.actions, p, &mut want);
    }

    // The running datapath.
    let br = Arc::new(Br {
        tables: RwLock::new(t),
        ports,
    });
    let mut specs = Vec::new();
    let mut ends = Vec::new();
    for odp in 1..=3u32 {
        let stats = Arc::new(PortStats::default());
        let (rx, tx, end) = ring_port(&format!("p{odp}"), 8192, stats.clone());
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
    let cfg = DatapathConfig {
        cores: vec![0],
        pin: false,
        emc_insert_inv_prob: 1,
        ..DatapathConfig::default()
    };
    let dp = Datapath::start(cfg, specs, br).unwrap();
    for f in &frames {
        assert!(ends[0].send(f));
    }
    let expected: usize = want.out.values().map(|v| v.len()).sum();
    let mut got: BTreeMap<u32, Vec<Vec<u8>>> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        dp.drain();
        for (i, e) in ends.iter().enumerate() {
            got.entry(i as u32 + 1).or_default().extend(e.recv_frames());
        }
        let n: usize = got.values().map(|v| v.len()).sum();
        let rx = dp.pmd_stats()[0].1.rx_packets as usize;
        if (rx == frames.len() && n >= expected) || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    dp.stop();
    assert_eq!(sorted(got), sorted(want.out), "rules {rules:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn the_running_switch_forwards_what_translation_says(
        rules in prop::collection::btree_set(0..RULES.len(), 1..8),
        flows in prop::collection::vec(
            (0u8..3, 0u8..4, prop::sample::select(vec![1000u16, 1001]),
             prop::sample::select(vec![53u16, 80, 443]),
             prop::sample::select(vec![1u8, 2, 64]),
             prop::sample::select(vec![0u8, 32]), any::<bool>()),
            1..6),
        reps in 1usize..5,
    ) {
        let rules: Vec<usize> = rules.into_iter().collect();
        run_case(&rules, &flows, reps);
    }
}
