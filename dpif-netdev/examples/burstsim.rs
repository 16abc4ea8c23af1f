//! A single-threaded model of a forwarding PMD, for deterministic cost
//! counts: `valgrind --tool=callgrind --cache-sim=yes` on it gives
//! instructions and simulated cache misses per packet, which the 2-vCPU
//! VM's wall clock (2x drift between minutes) cannot.
//!
//! `burstsim PACKETS FLOWS [IN_FLIGHT [EMC_LOOKUPS [KEYED]]]`: IN_FLIGHT (default 4096, a NIC
//! ring's worth) 64-byte UDP packets of FLOWS flows (source ports) circulate
//! through a FIFO, 32 at a time: fresh metadata as a port's receive gives
//! it, then the fast path (one megaflow `in_port=1` → output, the EMC at
//! OVS's default insertion probability), then back to the FIFO's tail, as
//! the in-memory whole-switch bench does. EMC_LOOKUPS 0 turns EMC lookups
//! off (`FastPath::set_emc_lookups`), as `emc_auto` does. That megaflow is
//! answered by simple match; KEYED 1 makes it match the IPv4 source
//! too, so packets take key extraction and the EMC instead. Prints packets
//! processed and the counters; divide callgrind's totals by the packet
//! count (or take the difference of two runs, which drops the set-up).

use dpif_netdev::actions::DpAction;
use dpif_netdev::execute::ActionSink;
use dpif_netdev::extract::extract;
use dpif_netdev::key::{FlowKey, FlowMask};
use dpif_netdev::packet::{Packet, PacketBatch, MAX_BURST};
use dpif_netdev::pipeline::FastPath;
use dpif_netdev::wire::build;
use dpif_netdev::{DropReason, Megaflow};
use std::collections::VecDeque;
use std::sync::Arc;

struct Back<'a>(&'a mut VecDeque<Packet>);

impl ActionSink for Back<'_> {
    fn output(&mut self, _port: u32, pkt: Packet) {
        self.0.push_back(pkt)
    }
    fn recirculate(&mut self, pkt: Packet) {
        self.0.push_back(pkt)
    }
    fn userspace(&mut self, pkt: Packet, _cookie: u64) {
        self.0.push_back(pkt)
    }
    fn dropped(&mut self, pkt: Packet, _reason: DropReason) {
        self.0.push_back(pkt)
    }
}

fn arg(i: usize, default: usize) -> usize {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let total = arg(1, 1_000_000);
    let flows = arg(2, 1).max(1);
    let in_flight = arg(3, 4096).max(MAX_BURST);
    let frame = |i: usize| {
        build::udp4(
            [2, 0, 0, 0, 0, 1],
            [2, 0, 0, 0, 0, 2],
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            1024 + (i % flows) as u16,
            80,
            18,
        )
    };
    let mut fifo: VecDeque<Packet> = (0..in_flight)
        .map(|i| Packet::from_bytes(&frame(i)))
        .collect();

    let mut fp = FastPath::new(8192, 100, 1);
    fp.set_emc_lookups(arg(4, 1) != 0);
    let mut probe = Packet::from_bytes(&frame(0));
    probe.md.in_port = 1;
    let mut key = FlowKey::ZERO;
    extract(&mut probe, &mut key);
    let mut mask = FlowMask::default();
    mask.0.in_port = u32::MAX;
    mask.0.recirc_id = u32::MAX;
    mask.0.eth_type = 0xffff;
    if arg(5, 0) != 0 {
        // A source address is not simple: keys and the EMC serve it.
        mask.0.nw_src = u32::MAX;
    }
    fp.dpcls
        .insert(Arc::new(Megaflow::new(
            &key,
            mask,
            vec![DpAction::Output(2)],
            1,
        )))
        .expect("one megaflow");

    let mut batch = PacketBatch::new();
    let mut done = 0usize;
    while done < total {
        for _ in 0..MAX_BURST {
            let Some(mut p) = fifo.pop_front() else { break };
            p.md.reset();
            p.md.in_port = 1;
            let _ = batch.push(p);
        }
        done += batch.len();
        fp.process(&mut batch, 1, &mut Back(&mut fifo), |p, _| {
            panic!("miss on a one-rule table: {p:?}")
        });
    }
    let s = fp.stats;
    println!(
        "packets {} simple_hits {} emc_hits {} megaflow_hits {} misses {}",
        s.packets, s.simple_hits, s.emc_hits, s.megaflow_hits, s.misses
    );
}
