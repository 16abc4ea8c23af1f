//! Fast-path micro-benchmarks (criterion): hashing, key extraction, EMC,
//! dpcls with 1/4/16/64 subtables, and a whole burst through
//! extract → EMC → execute(output). Per-packet numbers are reported with
//! `Throughput::Elements`, so criterion prints packets/s; ns/packet is its
//! inverse. Results and the machine they came from are in BENCHMARKS.md.
//!
//! Run: `cargo bench --bench fastpath` (or `-- dpcls` for one group).

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use dpif_netdev::actions::DpAction;
use dpif_netdev::dpcls::Dpcls;
use dpif_netdev::emc::Emc;
use dpif_netdev::execute::ActionSink;
use dpif_netdev::extract::extract;
use dpif_netdev::hash::{emc_hash, hash_masked, hash_masked_ahash, mask_words};
use dpif_netdev::key::{FlowKey, FlowMask};
use dpif_netdev::packet::{
    Packet, PacketBatch, PacketMeta, PacketPool, DEFAULT_BUF_SIZE, MAX_BURST,
};
use dpif_netdev::pipeline::FastPath;
use dpif_netdev::wire::build;
use dpif_netdev::{DropReason, Megaflow};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 1];
const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 2];

fn udp64() -> Vec<u8> {
    build::udp4(
        MAC_A,
        MAC_B,
        Ipv4Addr::new(10, 0, 0, 1),
        Ipv4Addr::new(10, 0, 0, 2),
        1024,
        80,
        18,
    )
}

fn bench_hash(c: &mut Criterion) {
    let mut g = c.benchmark_group("hash");
    let mut key = FlowKey::ZERO;
    key.in_port = 1;
    key.nw_src = 0x0a00_0001;
    key.nw_dst = 0x0a00_0002;
    key.tp_src = 1000;
    key.tp_dst = 80;
    for n in [4usize, 16] {
        let mut m = FlowMask::default();
        for w in m.0.words_mut().iter_mut().take(n) {
            *w = u64::MAX;
        }
        let words = mask_words(&m);
        g.bench_function(format!("word_hash_{n}w"), |b| {
            b.iter(|| hash_masked(black_box(&key), black_box(&words), 0))
        });
        g.bench_function(format!("ahash_{n}w"), |b| {
            b.iter(|| hash_masked_ahash(black_box(&key), black_box(&words), 0))
        });
    }
    g.bench_function("emc_hash", |b| {
        let md = PacketMeta::default();
        b.iter(|| emc_hash(black_box(&key), black_box(&md)))
    });
    g.finish();
}

fn bench_extract(c: &mut Criterion) {
    let mut g = c.benchmark_group("extract");
    g.throughput(Throughput::Elements(1));
    let frames = [
        ("udp4_64B", udp64()),
        ("vlan_udp4_68B", build::push_vlan(&udp64(), 0x8100, 10)),
        (
            "tcp6_78B",
            build::tcp6(
                MAC_A,
                MAC_B,
                Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1),
                Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2),
                1024,
                80,
                0x10,
                4,
            ),
        ),
    ];
    for (name, frame) in frames {
        let mut pkt = Packet::from_bytes(&frame);
        let mut key = FlowKey::ZERO;
        g.bench_function(name, |b| {
            b.iter(|| {
                extract(black_box(&mut pkt), &mut key);
                black_box(&key);
            })
        });
    }
    g.finish();
}

fn udp_key(i: u32) -> FlowKey {
    let mut k = FlowKey::ZERO;
    k.in_port = 1;
    k.eth_type = 0x0800;
    k.nw_proto = 17;
    k.nw_src = 0x0a00_0000 | i;
    k.nw_dst = 0x0b00_0000 | (i.wrapping_mul(2654435761) >> 8);
    k.tp_src = (i & 0xffff) as u16;
    k.tp_dst = 80;
    k
}

fn bench_emc(c: &mut Criterion) {
    let mut g = c.benchmark_group("emc");
    g.throughput(Throughput::Elements(1));
    let mut emc = Emc::new(8192, 1, 1);
    let md = PacketMeta::default();
    let keys: Vec<FlowKey> = (0..1024).map(udp_key).collect();
    let flows: Vec<_> = keys
        .iter()
        .map(|k| {
            Arc::new(Megaflow::new(
                k,
                FlowMask::exact(),
                vec![DpAction::Output(2)],
                0,
            ))
        })
        .collect();
    for (k, f) in keys.iter().zip(&flows) {
        emc.insert(k, emc_hash(k, &md), f);
    }
    let hashes: Vec<u32> = keys.iter().map(|k| emc_hash(k, &md)).collect();
    let mut i = 0usize;
    g.bench_function("hit_1024_flows", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            black_box(emc.lookup(&keys[i], hashes[i]).is_some())
        })
    });
    g.finish();
}

/// A classifier with `n` subtables (distinct nw_dst prefix lengths), one
/// flow each, where the probe key matches only the last-ranked subtable:
/// the worst case, every subtable probed.
fn bench_dpcls(c: &mut Criterion) {
    let mut g = c.benchmark_group("dpcls");
    g.throughput(Throughput::Elements(MAX_BURST as u64));
    for n in [1usize, 4, 16, 64] {
        let mut cls = Dpcls::new();
        for s in 0..n {
            let mut m = FlowMask::default();
            m.0.in_port = u32::MAX;
            m.0.eth_type = 0xffff;
            // 64 distinct masks: prefix lengths on nw_dst and nw_src.
            m.0.nw_dst = u32::MAX << (s % 32);
            m.0.nw_src = if s >= 32 { u32::MAX } else { 0 };
            let mut k = udp_key(0);
            // Only subtable n-1 matches the probe keys.
            if s != n - 1 {
                k.in_port = 99;
            }
            cls.insert(Arc::new(Megaflow::new(
                &k,
                m,
                vec![DpAction::Output(2)],
                s as u128,
            )))
            .unwrap();
        }
        let keys: Vec<FlowKey> = (0..MAX_BURST as u32).map(|_| udp_key(0)).collect();
        g.bench_function(format!("batch32_{n}_subtables_worst"), |b| {
            let mut out = [None; MAX_BURST];
            b.iter(|| {
                let (miss, st) = cls.lookup_batch(black_box(&keys), u32::MAX, &mut out);
                assert_eq!(miss, 0);
                black_box(st)
            })
        });
    }
    g.finish();
}

/// Sink that keeps sent packets for reuse, like a tx ring handing
/// buffers back: the timed code only moves each packet once.
struct ReturnSink {
    sent: Vec<Packet>,
}

impl ActionSink for ReturnSink {
    fn output(&mut self, _port: u32, pkt: Packet) {
        self.sent.push(pkt);
    }
    fn recirculate(&mut self, pkt: Packet) {
        self.sent.push(pkt);
    }
    fn userspace(&mut self, pkt: Packet, _cookie: u64) {
        self.sent.push(pkt);
    }
    fn dropped(&mut self, pkt: Packet, _reason: DropReason) {
        self.sent.push(pkt);
    }
}

/// A fast path with one megaflow for `frame` (from port 1, to port 2).
/// `simple`: the megaflow matches only what a port-to-port rule needs
/// (simple match answers it); otherwise it also matches the IPv4
/// source, so packets go through extraction and the EMC.
fn one_flow_fastpath(frame: &[u8], simple: bool) -> FastPath {
    let mut fp = FastPath::new(8192, 1, 1);
    let mut pkt = Packet::from_bytes(frame);
    pkt.md.in_port = 1;
    let mut key = FlowKey::ZERO;
    extract(&mut pkt, &mut key);
    let mut mask = FlowMask::default();
    mask.0.in_port = u32::MAX;
    mask.0.recirc_id = u32::MAX;
    mask.0.eth_type = 0xffff;
    mask.0.nw_frag = 0xff;
    if !simple {
        // A source address is not simple (a destination is).
        mask.0.nw_src = u32::MAX;
    }
    fp.dpcls
        .insert(Arc::new(Megaflow::new(
            &key,
            mask,
            vec![DpAction::Output(2)],
            1,
        )))
        .unwrap();
    fp
}

/// Bursts per timed window in `bench_burst`: the clock is read around
/// every WINDOW bursts rather than every burst. Read once per burst, its
/// two `clock_gettime` calls were 5-6% of the samples under `perf`
/// (about 1 ns of every packet's time); four bursts (128 packets, their
/// headers and metadata 16 KB) still fit in L1 with the keys and EMC lines.
const WINDOW: usize = 4;

/// Whole bursts of 32 64-byte UDP packets of one flow through
/// EMC (hit) → output. `emc_output_udp64` times exactly that (the bursts
/// are refilled outside the timed part, as a NIC would, and [`WINDOW`] of
/// them are timed together): the frames are plain, so the EMC's plain
/// lane answers them with no key extraction;
/// `extract_emc_output_udp64` the same with the plain lane off: key
/// extraction and the full-key lane, the path of every other frame;
/// `simple_match_output_udp64` the same bursts answered by simple match;
/// `rx_copy_emc_output_udp64` also copies each frame into a pool
/// buffer first, like a software port's receive.
fn bench_burst(c: &mut Criterion) {
    let mut g = c.benchmark_group("burst");
    g.throughput(Throughput::Elements((MAX_BURST * WINDOW) as u64));
    let frame = udp64();

    for (name, simple, plain_lane) in [
        ("emc_output_udp64", false, true),
        ("extract_emc_output_udp64", false, false),
        ("simple_match_output_udp64", true, true),
    ] {
        let mut fp = one_flow_fastpath(&frame, simple);
        fp.set_plain_lane(plain_lane);
        let mut sink = ReturnSink {
            sent: (0..MAX_BURST * WINDOW)
                .map(|_| Packet::from_bytes(&frame))
                .collect(),
        };
        let mut batches: Vec<PacketBatch> = (0..WINDOW).map(|_| PacketBatch::new()).collect();
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = std::time::Duration::ZERO;
                for _ in 0..iters {
                    let mut back = sink.sent.drain(..);
                    for batch in batches.iter_mut() {
                        for mut p in back.by_ref().take(MAX_BURST) {
                            p.md.reset();
                            p.md.in_port = 1;
                            let _ = batch.push(p);
                        }
                    }
                    drop(back);
                    let t = std::time::Instant::now();
                    for batch in batches.iter_mut() {
                        fp.process(batch, 1, &mut sink, |_, _| panic!("miss"));
                    }
                    total += t.elapsed();
                }
                total
            })
        });
        assert_eq!(fp.stats.misses, 0);
        if simple {
            assert_eq!(fp.stats.simple_hits, fp.stats.packets);
        } else {
            assert!(fp.stats.emc_hits > 0);
            assert_eq!(fp.stats.simple_hits, 0);
            assert_eq!(fp.stats.emc_plain_hits > 0, plain_lane);
        }
    }

    g.throughput(Throughput::Elements(MAX_BURST as u64));
    let mut fp = one_flow_fastpath(&frame, false);
    let mut pool = PacketPool::new(DEFAULT_BUF_SIZE, 256);
    let mut sink = ReturnSink {
        sent: Vec::with_capacity(MAX_BURST),
    };
    let mut batch = PacketBatch::new();
    g.bench_function("rx_copy_emc_output_udp64", |b| {
        b.iter(|| {
            for _ in 0..MAX_BURST {
                let mut p = pool.alloc_from(&frame).unwrap();
                p.md.in_port = 1;
                let _ = batch.push(p);
            }
            fp.process(&mut batch, 1, &mut sink, |_, _| panic!("miss"));
            for p in sink.sent.drain(..) {
                pool.free(p);
            }
        })
    });
    assert_eq!(fp.stats.misses, 0);
    g.finish();
}

criterion_group!(
    benches,
    bench_hash,
    bench_extract,
    bench_emc,
    bench_dpcls,
    bench_burst
);
criterion_main!(benches);
