use dpif_netdev::actions::DpAction;
use dpif_netdev::emc::Emc;
use dpif_netdev::execute::ActionSink;
use dpif_netdev::extract::extract;
use dpif_netdev::hash::emc_hash;
use dpif_netdev::key::{FlowKey, FlowMask};
use dpif_netdev::packet::{Packet, PacketBatch};
use dpif_netdev::pipeline::FastPath;
use dpif_netdev::wire::build;
use dpif_netdev::{DropReason, Megaflow};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

struct S {
    sent: Vec<Packet>,
}
impl ActionSink for S {
    fn output(&mut self, _p: u32, pkt: Packet) {
        self.sent.push(pkt)
    }
    fn recirculate(&mut self, pkt: Packet) {
        self.sent.push(pkt)
    }
    fn userspace(&mut self, pkt: Packet, _c: u64) {
        self.sent.push(pkt)
    }
    fn dropped(&mut self, pkt: Packet, _r: DropReason) {
        self.sent.push(pkt)
    }
}

fn main() {
    let frame = build::udp4(
        [2, 0, 0, 0, 0, 1],
        [2, 0, 0, 0, 0, 2],
        "10.0.0.1".parse().unwrap(),
        "10.0.0.2".parse().unwrap(),
        1024,
        80,
        18,
    );
    let mut pkts: Vec<Packet> = (0..32)
        .map(|_| {
            let mut p = Packet::from_bytes(&frame);
            p.md.in_port = 1;
            p
        })
        .collect();
    let mut keys = [FlowKey::ZERO; 32];
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    // `stageprof N process`: only the whole-burst stage, for instruction
    // counts with `valgrind --tool=callgrind`.
    let only_process = std::env::args().nth(2).as_deref() == Some("process");
    let reps = if only_process { 0 } else { n };
    for (p, k) in pkts.iter_mut().zip(keys.iter_mut()) {
        extract(p, k);
    }
    let t = Instant::now();
    for _ in 0..reps {
        for (p, k) in pkts.iter_mut().zip(keys.iter_mut()) {
            extract(p, k);
        }
        black_box(&keys);
    }
    println!(
        "extract: {:.1} ns/pkt",
        t.elapsed().as_nanos() as f64 / (n * 32) as f64
    );
    let mut hs = [0u32; 32];
    for i in 0..32 {
        hs[i] = emc_hash(&keys[i], &pkts[i].md);
    }
    let t = Instant::now();
    for _ in 0..reps {
        for i in 0..32 {
            hs[i] = emc_hash(black_box(&keys[i]), &pkts[i].md);
        }
        black_box(&hs);
    }
    println!(
        "emc_hash: {:.1} ns/pkt",
        t.elapsed().as_nanos() as f64 / (n * 32) as f64
    );
    let mut emc = Emc::new(8192, 1, 1);
    let mut m = FlowMask::default();
    m.0.in_port = u32::MAX;
    let f = Arc::new(Megaflow::new(&keys[0], m, vec![DpAction::Output(2)], 1));
    emc.insert(&keys[0], hs[0], &f);
    let t = Instant::now();
    let mut hits = 0;
    for _ in 0..reps {
        for i in 0..32 {
            if emc.lookup(black_box(&keys[i]), hs[i]).is_some() {
                hits += 1;
            }
        }
    }
    println!(
        "emc lookup: {:.1} ns/pkt ({hits})",
        t.elapsed().as_nanos() as f64 / (n * 32) as f64
    );
    let mut fp = FastPath::new(8192, 1, 1);
    fp.dpcls.insert(f.clone()).unwrap();
    let mut sink = S { sent: pkts };
    let mut batch = PacketBatch::new();
    let mut tot = 0u128;
    for _ in 0..n {
        for mut p in sink.sent.drain(..) {
            p.md.reset();
            p.md.in_port = 1;
            let _ = batch.push(p);
        }
        let t = Instant::now();
        fp.process(&mut batch, 1, &mut sink, |_, _| panic!());
        tot += t.elapsed().as_nanos();
    }
    println!("process: {:.1} ns/pkt", tot as f64 / (n * 32) as f64);
    let t = Instant::now();
    for _ in 0..reps {
        for p in sink.sent.drain(..) {
            let _ = batch.push(p);
        }
        for p in batch.drain() {
            sink.sent.push(p);
        }
    }
    println!(
        "move in+out: {:.1} ns/pkt",
        t.elapsed().as_nanos() as f64 / (n * 32) as f64
    );
}
