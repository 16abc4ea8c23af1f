//! Slow-path benchmarks (criterion): the cost of translating one packet key
//! through OpenFlow tables (`ofproto::xlate::xlate`), and how many megaflows
//! a realistic L3 routing table turns 10,000 random packets into.
//!
//! Every table is written as `ovs-ofctl add-flows` text, the way an OVS user
//! writes it, and loaded with `parse_flow_mods` + `Tables::apply`:
//!
//! - `xlate/1000_rules_one_table`: 1,000 rules in table 0 (TCP service rules
//!   on /24 destinations, `in_port` + UDP rules, `nw_src` /24 rules, a
//!   priority-0 catch-all), a rotating set of 1,024 packets, some hitting
//!   high-priority rules and some falling through to the catch-all.
//! - `xlate/3_table_pipeline`: table 0 classifies by `in_port` and
//!   `dl_vlan` (loads the VLAN into reg0), table 1 is an ACL, table 2 an L3
//!   routing table of ~200 prefixes of mixed lengths
//!   (`mod_dl_dst`, `dec_ttl`, `output`).
//! - `xlate/megaflows_l3_10k`: one pass of 10,000 random packets (random
//!   destinations over the whole space mixed with destinations inside the
//!   routes, random sources and L4 ports) through ~500 LPM routes plus a
//!   default route, collecting the distinct megaflows (masked key, mask).
//!   The count, and the count exact-match flows would need, are printed
//!   once (outside the timed loop); fewer is better.
//! - `xlate/l3_10k_packets`: the same packets, one translation per
//!   iteration.
//!
//! Per-packet numbers use `Throughput::Elements`, so criterion prints
//! translations/s; ns/translation is its inverse.
//!
//! Run: `cargo bench --bench xlate` (or `-- megaflows` for one bench).

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use dpif_netdev::key::{ethertype, ipproto, FlowKey, FlowMask, VLAN_CFI};
use ofproto::flow_mod::FlowModCommand;
use ofproto::ofctl::parse_flow_mods;
use ofproto::table::Tables;
use ofproto::xlate::{xlate, IdentityPorts};
use std::collections::HashSet;
use std::net::Ipv4Addr;

/// xorshift64: deterministic, no crates.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn u32(&mut self) -> u32 {
        (self.next() >> 32) as u32
    }
    /// Uniform-enough in `0..n`.
    fn below(&mut self, n: u32) -> u32 {
        ((self.u32() as u64 * n as u64) >> 32) as u32
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len() as u32) as usize]
    }
}

const MAC_HOST: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
const MAC_ROUTER: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];

fn tables_from(text: &str) -> Tables {
    let mods = parse_flow_mods(text, FlowModCommand::Add, &()).expect("flow text parses");
    let mut t = Tables::new();
    t.apply(&mods, 0).expect("flows apply");
    t
}

/// An IPv4 TCP/UDP packet's key as extraction would fill it.
fn ip_key(in_port: u32, proto: u8, src: u32, dst: u32, sport: u16, dport: u16) -> FlowKey {
    let mut k = FlowKey::ZERO;
    k.in_port = in_port;
    k.eth_src = MAC_HOST;
    k.eth_dst = MAC_ROUTER;
    k.eth_type = ethertype::IPV4;
    k.nw_proto = proto;
    k.nw_src = src;
    k.nw_dst = dst;
    k.nw_ttl = 64;
    k.tp_src = sport;
    k.tp_dst = dport;
    if proto == ipproto::TCP {
        k.tcp_flags = 0x002; // SYN
    }
    k
}

fn with_vlan(mut k: FlowKey, vid: u16) -> FlowKey {
    k.vlan_tpid[0] = ethertype::VLAN;
    k.vlan_tci[0] = vid | VLAN_CFI;
    k
}

fn ports() -> IdentityPorts {
    IdentityPorts((1..=16).collect())
}

fn ephemeral(rng: &mut Rng) -> u16 {
    32768 + rng.below(28232) as u16
}

fn prefix_str(addr: u32, len: u32) -> String {
    format!("{}/{len}", Ipv4Addr::from(addr))
}

fn prefix_mask(len: u32) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - len)
    }
}

/// A random address inside `addr/len`.
fn host_in(rng: &mut Rng, addr: u32, len: u32) -> u32 {
    addr | (rng.u32() & !prefix_mask(len))
}

// ---------------------------------------------------------------------
// 1. 1,000 rules in one table.

const SERVICE_PORTS: [u16; 10] = [22, 25, 53, 80, 443, 3306, 5432, 6379, 8080, 8443];

fn bench_1000_rules(c: &mut Criterion) {
    let mut rng = Rng::new(0x1000);
    let mut text = String::new();
    // 700 TCP service rules: destination /24 in 10.0.0.0/12, port.
    let mut tcp_rules: Vec<(u32, u16, u32)> = Vec::new();
    let mut seen = HashSet::new();
    while tcp_rules.len() < 700 {
        let net = 0x0a00_0000 | (rng.below(16) << 16) | (rng.below(256) << 8);
        let port = *rng.pick(&SERVICE_PORTS);
        if seen.insert((net, port)) {
            let out = 2 + rng.below(15);
            text += &format!(
                "priority=300,tcp,nw_dst={},tp_dst={port},actions=output:{out}\n",
                prefix_str(net, 24)
            );
            tcp_rules.push((net, port, out));
        }
    }
    // 150 per-port UDP rules (higher priority).
    let mut udp_rules: Vec<(u32, u16)> = Vec::new();
    while udp_rules.len() < 150 {
        let in_port = 1 + rng.below(16);
        let port = 5000 + rng.below(200) as u16;
        if seen.insert((in_port, port)) {
            text += &format!(
                "priority=400,in_port={in_port},udp,tp_dst={port},actions=output:{}\n",
                1 + rng.below(16)
            );
            udp_rules.push((in_port, port));
        }
    }
    // 149 source-subnet rules.
    let mut src_rules: Vec<u32> = Vec::new();
    while src_rules.len() < 149 {
        let net = 0xac10_0000 | (rng.below(16) << 16) | (rng.below(256) << 8);
        if seen.insert((net, 0)) {
            text += &format!(
                "priority=200,ip,nw_src={},actions=output:{}\n",
                prefix_str(net, 24),
                2 + rng.below(15)
            );
            src_rules.push(net);
        }
    }
    text += "priority=0,actions=drop\n";
    let tables = tables_from(&text);
    assert_eq!(tables.n_rules(), 1000);

    let mut keys = Vec::new();
    for i in 0..1024u32 {
        let src = rng.u32();
        let k = match i % 10 {
            0..=3 => {
                let (net, port, _) = *rng.pick(&tcp_rules);
                let in_port = 1 + rng.below(16);
                ip_key(
                    in_port,
                    ipproto::TCP,
                    src,
                    host_in(&mut rng, net, 24),
                    ephemeral(&mut rng),
                    port,
                )
            }
            4 => {
                let (in_port, port) = *rng.pick(&udp_rules);
                ip_key(
                    in_port,
                    ipproto::UDP,
                    src,
                    rng.u32(),
                    ephemeral(&mut rng),
                    port,
                )
            }
            5 | 6 => {
                let net = *rng.pick(&src_rules);
                ip_key(
                    1 + rng.below(16),
                    ipproto::UDP,
                    host_in(&mut rng, net, 24),
                    rng.u32(),
                    ephemeral(&mut rng),
                    *rng.pick(&SERVICE_PORTS),
                )
            }
            // Random traffic: almost all of it falls through.
            _ => ip_key(
                1 + rng.below(16),
                if rng.below(2) == 0 {
                    ipproto::TCP
                } else {
                    ipproto::UDP
                },
                src,
                rng.u32(),
                ephemeral(&mut rng),
                *rng.pick(&SERVICE_PORTS),
            ),
        };
        keys.push(k);
    }
    let ports = ports();
    let by_prio = |p: u16| {
        keys.iter()
            .filter(|k| xlate(&tables, &ports, k, false).rules[0].priority == p)
            .count()
    };
    eprintln!(
        "xlate/1000_rules_one_table: {} packets hit priority 400, {} priority 300, {} priority 200, {} the catch-all",
        by_prio(400),
        by_prio(300),
        by_prio(200),
        by_prio(0)
    );

    let mut g = c.benchmark_group("xlate");
    g.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    g.bench_function("1000_rules_one_table", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            black_box(xlate(&tables, &ports, black_box(&keys[i]), false))
        })
    });
    g.finish();
}

// ---------------------------------------------------------------------
// 2. Three-table pipeline: classify, ACL, route.

/// Trunk ports and the VLANs they carry; access ports and their VLAN.
const TRUNKS: [u32; 4] = [1, 2, 3, 4];
const TRUNK_VLANS: [u16; 4] = [10, 20, 30, 40];
const ACCESS: [(u32, u16); 8] = [
    (5, 10),
    (6, 10),
    (7, 20),
    (8, 20),
    (9, 30),
    (10, 30),
    (11, 40),
    (12, 40),
];

/// Prefix lengths of a routing table (about what a DC/enterprise RIB
/// looks like: mostly /24, some aggregates, some host routes).
fn route_len(rng: &mut Rng) -> u32 {
    match rng.below(100) {
        0..=59 => 24,
        60..=69 => 16,
        70..=71 => 8,
        72..=79 => 32,
        n => [20, 21, 22, 23, 25, 26, 27, 28][(n % 8) as usize],
    }
}

/// A random network of length `len`, clustered like real address plans:
/// half in 10/8, a fifth in 172.16/12, a tenth in 192.168/16, the rest
/// anywhere.
fn route_net(rng: &mut Rng, len: u32) -> u32 {
    let a = match rng.below(10) {
        0..=4 => 0x0a00_0000 | (rng.u32() >> 8),
        5 | 6 => 0xac10_0000 | (rng.u32() >> 12),
        7 => 0xc0a8_0000 | (rng.u32() >> 16),
        _ => rng.u32(),
    };
    a & prefix_mask(len)
}

/// `n` distinct routes: (network, length, output port).
fn routes(rng: &mut Rng, n: usize) -> Vec<(u32, u32, u32)> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    while out.len() < n {
        let len = route_len(rng);
        let net = route_net(rng, len);
        if seen.insert((net, len)) {
            out.push((net, len, 2 + rng.below(15)));
        }
    }
    out
}

fn bench_pipeline(c: &mut Criterion) {
    let mut rng = Rng::new(0x3);
    let mut text = String::new();
    // Table 0: classification.
    for p in TRUNKS {
        for v in TRUNK_VLANS {
            text += &format!(
                "table=0,priority=100,in_port={p},dl_vlan={v},actions=load:{v}->NXM_NX_REG0[],strip_vlan,goto_table:1\n"
            );
        }
    }
    for (p, v) in ACCESS {
        text += &format!(
            "table=0,priority=100,in_port={p},dl_vlan=0xffff,actions=load:{v}->NXM_NX_REG0[],resubmit(,1)\n"
        );
    }
    text += "table=0,priority=0,actions=drop\n";
    // Table 1: ACL.
    text += "table=1,priority=200,tcp,tp_dst=22,actions=drop\n";
    text += "table=1,priority=200,tcp,tp_dst=23,actions=drop\n";
    text += "table=1,priority=200,udp,tp_dst=161,actions=drop\n";
    text += "table=1,priority=190,reg0=40,tcp,tp_dst=3306,actions=drop\n";
    for i in 0..8u32 {
        text += &format!(
            "table=1,priority=180,tcp,nw_src=192.168.{}.0/24,tp_dst=445,actions=drop\n",
            i * 16
        );
    }
    for v in TRUNK_VLANS {
        text += &format!("table=1,priority=150,reg0={v},udp,tp_dst=53,actions=resubmit(,2)\n");
        text += &format!("table=1,priority=100,reg0={v},ip,actions=goto_table:2\n");
    }
    text += "table=1,priority=0,actions=drop\n";
    // Table 2: L3 routing.
    let rt = routes(&mut rng, 200);
    for (net, len, out) in &rt {
        text += &format!(
            "table=2,priority={},ip,nw_dst={},actions=mod_dl_dst:02:00:00:00:{:02x}:{:02x},dec_ttl,output:{out}\n",
            len * 10,
            prefix_str(*net, *len),
            out >> 8,
            out & 0xff
        );
    }
    text += "table=2,priority=0,ip,actions=mod_dl_dst:02:00:00:00:00:fe,dec_ttl,output:16\n";
    let tables = tables_from(&text);

    let mut keys = Vec::new();
    for i in 0..1024u32 {
        let dst = if rng.below(4) == 0 {
            rng.u32()
        } else {
            let (net, len, _) = *rng.pick(&rt);
            host_in(&mut rng, net, len)
        };
        let (proto, dport) = match i % 8 {
            0 => (ipproto::TCP, 22),
            1 => (ipproto::UDP, 53),
            2 => (ipproto::TCP, 445),
            3 | 4 => (ipproto::TCP, *rng.pick(&SERVICE_PORTS)),
            _ => (ipproto::UDP, 1024 + rng.below(60000) as u16),
        };
        let src = if i % 8 == 2 {
            0xc0a8_0000 | (rng.u32() >> 16)
        } else {
            0x0a00_0000 | (rng.u32() >> 8)
        };
        let k = if rng.below(2) == 0 {
            let p = *rng.pick(&TRUNKS);
            with_vlan(
                ip_key(p, proto, src, dst, ephemeral(&mut rng), dport),
                *rng.pick(&TRUNK_VLANS),
            )
        } else {
            let (p, _) = *rng.pick(&ACCESS);
            ip_key(p, proto, src, dst, ephemeral(&mut rng), dport)
        };
        keys.push(k);
    }
    let ports = ports();
    let n_routed = keys
        .iter()
        .filter(|k| xlate(&tables, &ports, k, false).rules.len() == 3)
        .count();
    eprintln!(
        "xlate/3_table_pipeline: {} rules; {n_routed} of {} packets reach table 2, the rest are dropped by the ACL",
        tables.n_rules(),
        keys.len()
    );

    let mut g = c.benchmark_group("xlate");
    g.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    g.bench_function("3_table_pipeline", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            black_box(xlate(&tables, &ports, black_box(&keys[i]), false))
        })
    });
    g.finish();
}

// ---------------------------------------------------------------------
// 3. Megaflows of a realistic L3 table.

/// Longest-prefix match by brute force, for checking the classifier.
fn lpm(routes: &[(u32, u32, u32)], dst: u32) -> u32 {
    routes
        .iter()
        .filter(|(net, len, _)| dst & prefix_mask(*len) == *net)
        .max_by_key(|(_, len, _)| *len)
        .map_or(1, |r| r.2)
}

fn bench_l3_megaflows(c: &mut Criterion) {
    let mut rng = Rng::new(0x10_000);
    let rt = routes(&mut rng, 500);
    let mut text = String::new();
    for (net, len, out) in &rt {
        text += &format!(
            "priority={},ip,nw_dst={},actions=output:{out}\n",
            len * 10,
            prefix_str(*net, *len)
        );
    }
    text += "priority=0,ip,actions=output:1\n";
    let tables = tables_from(&text);
    // Packets come in on an uplink, port 17, that no route points at, so
    // every packet really gets an output action.
    let ports = IdentityPorts((1..=17).collect());
    let keys: Vec<FlowKey> = (0..10_000)
        .map(|_| {
            let dst = if rng.below(2) == 0 {
                rng.u32()
            } else {
                let (net, len, _) = *rng.pick(&rt);
                host_in(&mut rng, net, len)
            };
            let proto = if rng.below(3) == 0 {
                ipproto::UDP
            } else {
                ipproto::TCP
            };
            ip_key(
                17,
                proto,
                rng.u32(),
                dst,
                rng.u32() as u16,
                rng.u32() as u16,
            )
        })
        .collect();

    // Count megaflows once, outside the timed loop, and check each
    // translation against a brute-force LPM.
    let mut megaflows: HashSet<(FlowKey, FlowMask)> = HashSet::new();
    let mut masks: HashSet<FlowMask> = HashSet::new();
    for k in &keys {
        let out = xlate(&tables, &ports, k, false);
        assert_eq!(
            out.actions,
            vec![dpif_netdev::actions::DpAction::Output(lpm(&rt, k.nw_dst))],
            "route for {}",
            Ipv4Addr::from(k.nw_dst)
        );
        megaflows.insert((k.masked(&out.mask), out.mask));
        masks.insert(out.mask);
    }
    // The megaflow contract, spot-checked: a packet that agrees with a
    // megaflow on its mask (other bits random) gets the same actions.
    let mut wide = 0usize;
    for (mk, mask) in &megaflows {
        let mut k = ip_key(
            17,
            0,
            rng.u32(),
            rng.u32(),
            rng.u32() as u16,
            rng.u32() as u16,
        );
        k.nw_proto = if rng.below(2) == 0 {
            ipproto::TCP
        } else {
            ipproto::UDP
        };
        for ((w, m), v) in k.words_mut().iter_mut().zip(mask.0.words()).zip(mk.words()) {
            *w = (*w & !m) | v;
        }
        let expect = dpif_netdev::actions::DpAction::Output(lpm(&rt, k.nw_dst));
        assert_eq!(xlate(&tables, &ports, &k, false).actions, vec![expect]);
        wide += (mask.0.nw_src | mask.0.tp_src as u32 | mask.0.tp_dst as u32 == 0) as usize;
    }
    assert_eq!(
        wide,
        megaflows.len(),
        "an L3 table's megaflows must not match L4 or nw_src"
    );
    let mut plens: Vec<u32> = masks.iter().map(|m| m.0.nw_dst.leading_ones()).collect();
    plens.sort_unstable();
    eprintln!("xlate/megaflows_l3_10k: nw_dst mask lengths {plens:?}");
    let exact: HashSet<FlowKey> = keys.iter().copied().collect();
    assert!(!megaflows.is_empty());
    let by_len = |l: u32| rt.iter().filter(|r| r.1 == l).count();
    eprintln!(
        "xlate/megaflows_l3_10k: {} routes (/8 {}, /16 {}, /20-/23 {}, /24 {}, /25-/28 {}, /32 {}) + default; \
         {} packets -> {} megaflows in {} distinct masks (exact-match flows would need {})",
        rt.len(),
        by_len(8),
        by_len(16),
        (20..24).map(by_len).sum::<usize>(),
        by_len(24),
        (25..29).map(by_len).sum::<usize>(),
        by_len(32),
        keys.len(),
        megaflows.len(),
        masks.len(),
        exact.len()
    );

    let mut g = c.benchmark_group("xlate");
    g.throughput(Throughput::Elements(keys.len() as u64));
    g.sample_size(10);
    g.bench_function("megaflows_l3_10k", |b| {
        b.iter(|| {
            let mut set = HashSet::with_capacity(keys.len());
            for k in &keys {
                let out = xlate(&tables, &ports, k, false);
                set.insert((k.masked(&out.mask), out.mask));
            }
            black_box(set.len())
        })
    });
    g.throughput(Throughput::Elements(1));
    g.sample_size(100);
    let mut i = 0usize;
    g.bench_function("l3_10k_packets", |b| {
        b.iter(|| {
            i += 1;
            if i == keys.len() {
                i = 0;
            }
            black_box(xlate(&tables, &ports, black_box(&keys[i]), false))
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    bench_1000_rules,
    bench_pipeline,
    bench_l3_megaflows
);
criterion_main!(benches);
