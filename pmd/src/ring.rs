//! In-memory ports for tests and benchmarks: the switch on one side, a
//! [`RingEnd`] (the outside world) on the other.
//!
//! Geometry: two bounded queues of `capacity` packets each (at least 1),
//! one towards the switch and one from it. Packets move through them by
//! value (one pointer each), so neither direction copies or allocates:
//! [`RingEnd::send_packets`] hands pre-built packets in and
//! [`RingEnd::recv`] takes the switch's packets out, ready to be sent in
//! again. [`RingEnd::send`] is the convenient copying variant. When the
//! queue towards the switch is full, the outside world's packet is
//! dropped and counted in `rx_dropped` (a NIC whose rx ring overflowed);
//! when the queue from the switch is full, the switch's packet is dropped
//! and counted in `tx_dropped`, its buffer going back to the PMD's pool.
//!
//! Received packets get fresh metadata ([`PacketMeta::default`]); their
//! buffers go to the receiving PMD's pool when freed, which keeps those of
//! its own buffer size.
//!
//! # Thread safety
//! Both directions are crossbeam `ArrayQueue`s (lock-free, any number of
//! producers and consumers). The receive queue is owned by one PMD; the
//! transmit side is shared by every PMD; [`RingEnd`] is `Clone + Send +
//! Sync` and may be used from any thread. Counters are relaxed atomics.

use crate::port::{PortStats, RxQueue, TxPort};
use crossbeam::queue::ArrayQueue;
use dpif_netdev::packet::{Packet, PacketBatch, PacketMeta, PacketPool, MAX_BURST};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

struct Shared {
    name: String,
    to_switch: ArrayQueue<Packet>,
    from_switch: ArrayQueue<Packet>,
    /// Packets the switch queued towards the outside world.
    sent: AtomicU64,
    stats: Arc<PortStats>,
}

/// The outside end of a ring port: sends packets into the switch and
/// receives what the switch sent.
#[derive(Clone)]
pub struct RingEnd {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RingEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingEnd")
            .field("port", &self.shared.name)
            .field("to_switch", &self.shared.to_switch.len())
            .field("from_switch", &self.shared.from_switch.len())
            .finish()
    }
}

impl RingEnd {
    /// Puts a copy of `frame` towards the switch. False (and counted in
    /// `rx_dropped`) when the queue is full.
    pub fn send(&self, frame: &[u8]) -> bool {
        let ok = self
            .shared
            .to_switch
            .push(Packet::from_bytes(frame))
            .is_ok();
        if !ok {
            PortStats::add(&self.shared.stats.rx_dropped, 1);
        }
        ok
    }

    /// Puts pre-built packets towards the switch without copying. Returns
    /// how many were queued; the rest are dropped and counted in
    /// `rx_dropped`.
    pub fn send_packets(&self, pkts: impl IntoIterator<Item = Packet>) -> usize {
        let (mut queued, mut dropped) = (0usize, 0u64);
        for p in pkts {
            match self.shared.to_switch.push(p) {
                Ok(()) => queued += 1,
                Err(_) => dropped += 1,
            }
        }
        if dropped > 0 {
            PortStats::add(&self.shared.stats.rx_dropped, dropped);
        }
        queued
    }

    /// Takes the oldest packet the switch sent, if any.
    pub fn recv(&self) -> Option<Packet> {
        self.shared.from_switch.pop()
    }

    /// Takes every packet the switch sent, as frames, oldest first.
    pub fn recv_frames(&self) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| self.recv())
            .map(|p| p.data().to_vec())
            .collect()
    }

    /// Packets the switch has sent to this port so far (those dropped on
    /// a full queue not included).
    pub fn sent_count(&self) -> u64 {
        self.shared.sent.load(Ordering::Relaxed)
    }

    /// Packets queued towards the switch that it has not received yet.
    pub fn pending(&self) -> usize {
        self.shared.to_switch.len()
    }

    /// The port's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }
}

/// Creates a ring port named `name` whose two queues hold `capacity`
/// packets each (at least 1): its receive queue, its transmit side and
/// the outside end. Counts into `stats`.
pub fn ring_port(
    name: &str,
    capacity: usize,
    stats: Arc<PortStats>,
) -> (Box<dyn RxQueue>, Arc<dyn TxPort>, RingEnd) {
    let capacity = capacity.max(1);
    let shared = Arc::new(Shared {
        name: name.to_owned(),
        to_switch: ArrayQueue::new(capacity),
        from_switch: ArrayQueue::new(capacity),
        sent: AtomicU64::new(0),
        stats,
    });
    (
        Box::new(RingRx {
            shared: shared.clone(),
        }),
        Arc::new(RingTx {
            shared: shared.clone(),
        }),
        RingEnd { shared },
    )
}

/// Two ring ports wired back to back, like two NIC ports joined by a
/// cable: what the switch sends on one arrives on the other's receive
/// queue. Used by the whole-switch benchmark so that packets circulate
/// with no thread in between. Returns each port's receive queue, transmit
/// side and outside end (for priming and inspection).
#[allow(clippy::type_complexity)]
pub fn ring_wire(
    names: [&str; 2],
    capacity: usize,
    stats: [Arc<PortStats>; 2],
) -> [(Box<dyn RxQueue>, Arc<dyn TxPort>, RingEnd); 2] {
    let capacity = capacity.max(1);
    let [sa, sb] = stats;
    let mk = |name: &str, stats| {
        Arc::new(Shared {
            name: name.to_owned(),
            to_switch: ArrayQueue::new(capacity),
            from_switch: ArrayQueue::new(1),
            sent: AtomicU64::new(0),
            stats,
        })
    };
    let (a, b) = (mk(names[0], sa), mk(names[1], sb));
    let port =
        |own: &Arc<Shared>, peer: &Arc<Shared>| -> (Box<dyn RxQueue>, Arc<dyn TxPort>, RingEnd) {
            (
                Box::new(RingRx {
                    shared: own.clone(),
                }),
                Arc::new(CrossTx {
                    own: own.clone(),
                    peer: peer.clone(),
                }),
                RingEnd {
                    shared: own.clone(),
                },
            )
        };
    [port(&a, &b), port(&b, &a)]
}

/// Transmit side of a wired port: into the peer's receive queue.
struct CrossTx {
    own: Arc<Shared>,
    peer: Arc<Shared>,
}

impl TxPort for CrossTx {
    fn send(&self, _qid: usize, batch: &mut PacketBatch, pool: &mut PacketPool) {
        let (mut sent, mut bytes, mut dropped) = (0u64, 0u64, 0u64);
        for p in batch.drain() {
            let len = p.len() as u64;
            match self.peer.to_switch.push(p) {
                Ok(()) => {
                    sent += 1;
                    bytes += len;
                }
                Err(p) => {
                    dropped += 1;
                    pool.free(p);
                }
            }
        }
        let s = &self.own.stats;
        self.own.sent.fetch_add(sent, Ordering::Relaxed);
        PortStats::add(&s.tx_packets, sent);
        PortStats::add(&s.tx_bytes, bytes);
        PortStats::add(&s.tx_dropped, dropped);
    }
}

struct RingRx {
    shared: Arc<Shared>,
}

impl RxQueue for RingRx {
    fn rx_burst(&mut self, batch: &mut PacketBatch, _pool: &mut PacketPool) -> usize {
        let room = MAX_BURST.saturating_sub(batch.len());
        let (mut got, mut bytes) = (0usize, 0u64);
        for _ in 0..room {
            let Some(mut p) = self.shared.to_switch.pop() else {
                break;
            };
            p.md = PacketMeta::default();
            bytes += p.len() as u64;
            if batch.push(p).is_err() {
                // Not reached: `room` counted the free slots.
                PortStats::add(&self.shared.stats.rx_dropped, 1);
                break;
            }
            got += 1;
        }
        if got > 0 {
            let s = &self.shared.stats;
            PortStats::add(&s.rx_packets, got as u64);
            PortStats::add(&s.rx_bytes, bytes);
        }
        got
    }
}

struct RingTx {
    shared: Arc<Shared>,
}

impl TxPort for RingTx {
    fn send(&self, _qid: usize, batch: &mut PacketBatch, pool: &mut PacketPool) {
        let (mut sent, mut bytes, mut dropped) = (0u64, 0u64, 0u64);
        for p in batch.drain() {
            let len = p.len() as u64;
            match self.shared.from_switch.push(p) {
                Ok(()) => {
                    sent += 1;
                    bytes += len;
                }
                Err(p) => {
                    dropped += 1;
                    pool.free(p);
                }
            }
        }
        let s = &self.shared.stats;
        if sent > 0 {
            self.shared.sent.fetch_add(sent, Ordering::Relaxed);
            PortStats::add(&s.tx_packets, sent);
            PortStats::add(&s.tx_bytes, bytes);
        }
        if dropped > 0 {
            PortStats::add(&s.tx_dropped, dropped);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pcap_port::tests::frame;
    use dpif_netdev::packet::DEFAULT_BUF_SIZE;

    #[test]
    fn frames_reach_the_switch_in_order() {
        let stats = Arc::new(PortStats::default());
        let (mut rx, _tx, end) = ring_port("r0", 64, stats.clone());
        let frames: Vec<_> = (0..40).map(|i| frame(i, 4)).collect();
        for f in &frames {
            assert!(end.send(f));
        }
        assert_eq!(end.pending(), 40);
        let mut pool = PacketPool::new(DEFAULT_BUF_SIZE, 64);
        let mut batch = PacketBatch::new();
        assert_eq!(rx.rx_burst(&mut batch, &mut pool), MAX_BURST);
        let mut got: Vec<_> = batch.drain().map(|p| p.data().to_vec()).collect();
        assert_eq!(rx.rx_burst(&mut batch, &mut pool), 8);
        got.extend(batch.drain().map(|p| p.data().to_vec()));
        assert_eq!(rx.rx_burst(&mut batch, &mut pool), 0);
        assert_eq!(got, frames);
        assert_eq!(end.pending(), 0);
        let s = stats.snapshot();
        assert_eq!(s.rx_packets, 40);
        assert_eq!(
            s.rx_bytes,
            frames.iter().map(|f| f.len() as u64).sum::<u64>()
        );
        assert!(!rx.is_exhausted());
    }

    #[test]
    fn received_packets_get_fresh_metadata() {
        let (mut rx, _tx, end) = ring_port("r1", 4, Arc::default());
        let mut p = Packet::from_bytes(&frame(1, 0));
        p.md.in_port = 7;
        p.md.l3_ofs = 14;
        assert_eq!(end.send_packets([p]), 1);
        let mut pool = PacketPool::new(DEFAULT_BUF_SIZE, 4);
        let mut batch = PacketBatch::new();
        assert_eq!(rx.rx_burst(&mut batch, &mut pool), 1);
        assert_eq!(batch.packets()[0].md, PacketMeta::default());
    }

    #[test]
    fn full_queue_towards_switch_is_counted() {
        let stats = Arc::new(PortStats::default());
        let (_rx, _tx, end) = ring_port("r2", 2, stats.clone());
        assert!(end.send(&frame(1, 0)));
        assert!(end.send(&frame(2, 0)));
        assert!(!end.send(&frame(3, 0)));
        let pkts = (4..7).map(|i| Packet::from_bytes(&frame(i, 0)));
        assert_eq!(end.send_packets(pkts), 0);
        assert_eq!(stats.snapshot().rx_dropped, 4);
    }

    #[test]
    fn switch_output_reaches_the_end() {
        let stats = Arc::new(PortStats::default());
        let (_rx, tx, end) = ring_port("r3", 8, stats.clone());
        let mut pool = PacketPool::new(DEFAULT_BUF_SIZE, 64);
        let mut batch = PacketBatch::new();
        let frames: Vec<_> = (0..3).map(|i| frame(i, 10)).collect();
        for f in &frames {
            batch.push(pool.alloc_from(f).unwrap()).unwrap();
        }
        tx.send(0, &mut batch, &mut pool);
        assert!(batch.is_empty());
        assert_eq!(end.sent_count(), 3);
        assert_eq!(end.recv().unwrap().data(), &frames[0][..]);
        assert_eq!(end.recv_frames(), frames[1..].to_vec());
        assert!(end.recv().is_none());
        let s = stats.snapshot();
        assert_eq!(s.tx_packets, 3);
        assert_eq!(
            s.tx_bytes,
            frames.iter().map(|f| f.len() as u64).sum::<u64>()
        );
    }

    #[test]
    fn full_queue_from_switch_drops_to_pool() {
        let stats = Arc::new(PortStats::default());
        let (_rx, tx, end) = ring_port("r4", 2, stats.clone());
        let mut pool = PacketPool::new(DEFAULT_BUF_SIZE, 64);
        let mut batch = PacketBatch::new();
        for i in 0..5 {
            batch.push(pool.alloc_from(&frame(i, 0)).unwrap()).unwrap();
        }
        tx.send(1, &mut batch, &mut pool);
        assert!(batch.is_empty());
        assert_eq!(pool.spare(), 3);
        assert_eq!(end.sent_count(), 2);
        let s = stats.snapshot();
        assert_eq!((s.tx_packets, s.tx_dropped), (2, 3));
        assert_eq!(end.recv_frames(), vec![frame(0, 0), frame(1, 0)]);
    }

    #[test]
    fn packets_cycle_without_copies() {
        // A bench's loop: what the switch sent goes back in as is.
        let (mut rx, tx, end) = ring_port("r5", 64, Arc::default());
        let mut pool = PacketPool::new(DEFAULT_BUF_SIZE, 64);
        let mut batch = PacketBatch::new();
        end.send(&frame(9, 0));
        for _ in 0..10 {
            assert_eq!(rx.rx_burst(&mut batch, &mut pool), 1);
            tx.send(0, &mut batch, &mut pool);
            assert_eq!(end.send_packets(end.recv()), 1);
        }
        assert_eq!(end.sent_count(), 10);
        assert_eq!(pool.spare(), 0);
    }

    #[test]
    fn ends_work_across_threads() {
        let (mut rx, tx, end) = ring_port("r6", 1024, Arc::default());
        let outside = end.clone();
        let h = std::thread::spawn(move || {
            for i in 0..500 {
                while !outside.send(&frame(i, 0)) {
                    std::thread::yield_now();
                }
            }
        });
        let mut pool = PacketPool::new(DEFAULT_BUF_SIZE, 64);
        let mut batch = PacketBatch::new();
        let mut n = 0;
        while n < 500 {
            n += rx.rx_burst(&mut batch, &mut pool);
            tx.send(0, &mut batch, &mut pool);
            let _ = end.recv_frames();
        }
        h.join().unwrap();
        assert_eq!(end.sent_count(), 500);
    }
}
