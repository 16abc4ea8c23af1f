//! In-memory ports for tests and benchmarks: the switch on one side, a
//! [`RingEnd`] (the outside world) on the other.
//!
//! Geometry: two bounded rings of `capacity` packets each (at least 1),
//! one towards the switch and one from it. Packets move through them by
//! value (one pointer each), so neither direction copies or allocates:
//! [`RingEnd::send_packets`] hands pre-built packets in and
//! [`RingEnd::recv`] takes the switch's packets out, ready to be sent in
//! again. [`RingEnd::send`] is the convenient copying variant. When the
//! ring towards the switch is full, the outside world's packet is dropped
//! and counted in `rx_dropped` (a NIC whose rx ring overflowed); when the
//! ring from the switch is full, the switch's packet is dropped and
//! counted in `tx_dropped`, its buffer going back to the PMD's pool.
//! [`ring_wire`] joins two ports back to back instead, like a cable.
//!
//! Received packets get fresh metadata (`PacketMeta::reset`); their
//! buffers go to the receiving PMD's pool when freed, which keeps those of
//! its own buffer size.
//!
//! # Thread safety
//! Each ring is an `rtrb` single-producer single-consumer ring: the
//! receive side's consumer is owned by the one PMD that polls the queue
//! (no lock, one atomic per burst); every producer sits behind a mutex
//! taken once per burst (the transmit side is shared by every PMD, the
//! outside end by any thread). The previous `crossbeam::ArrayQueue` cost
//! one compare-and-swap per packet on each side: measured 25% of a
//! forwarding PMD's time in the whole-switch bench. Counters are relaxed
//! atomics.

use crate::port::{PortStats, RxQueue, TxPort};
use dpif_netdev::packet::{Packet, PacketBatch, PacketPool, MAX_BURST};
use rtrb::{Consumer, Producer, RingBuffer};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

struct Shared {
    name: String,
    /// Producer side of the ring towards the switch.
    to_switch: Mutex<Producer<Packet>>,
    capacity: usize,
    /// Producer side of the ring from the switch (None for wired ports,
    /// whose output goes to the peer).
    from_switch_tx: Mutex<Option<Producer<Packet>>>,
    /// Consumer side of the ring from the switch.
    from_switch_rx: Mutex<Option<Consumer<Packet>>>,
    /// Packets the switch queued towards the outside world.
    sent: AtomicU64,
    stats: Arc<PortStats>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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
            .field("to_switch", &self.pending())
            .finish()
    }
}

impl RingEnd {
    /// Puts a copy of `frame` towards the switch. False (and counted in
    /// `rx_dropped`) when the ring is full.
    pub fn send(&self, frame: &[u8]) -> bool {
        let ok = lock(&self.shared.to_switch)
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
        let mut prod = lock(&self.shared.to_switch);
        for p in pkts {
            match prod.push(p) {
                Ok(()) => queued += 1,
                Err(_) => dropped += 1,
            }
        }
        if dropped > 0 {
            PortStats::add(&self.shared.stats.rx_dropped, dropped);
        }
        queued
    }

    /// Takes the oldest packet the switch sent, if any (never for a wired
    /// port, whose output goes to its peer).
    pub fn recv(&self) -> Option<Packet> {
        lock(&self.shared.from_switch_rx).as_mut()?.pop().ok()
    }

    /// Takes every packet the switch sent, as frames, oldest first.
    pub fn recv_frames(&self) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| self.recv())
            .map(|p| p.data().to_vec())
            .collect()
    }

    /// Packets the switch has sent to this port so far (those dropped on
    /// a full ring not included).
    pub fn sent_count(&self) -> u64 {
        self.shared.sent.load(Ordering::Relaxed)
    }

    /// Packets queued towards the switch that it has not received yet.
    pub fn pending(&self) -> usize {
        self.shared.capacity - lock(&self.shared.to_switch).slots()
    }

    /// The port's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }
}

fn shared(
    name: &str,
    capacity: usize,
    stats: Arc<PortStats>,
    wired: bool,
) -> (Arc<Shared>, Consumer<Packet>) {
    let (to_p, to_c) = RingBuffer::new(capacity);
    let (from_p, from_c) = if wired {
        (None, None)
    } else {
        let (p, c) = RingBuffer::new(capacity);
        (Some(p), Some(c))
    };
    (
        Arc::new(Shared {
            name: name.to_owned(),
            to_switch: Mutex::new(to_p),
            capacity,
            from_switch_tx: Mutex::new(from_p),
            from_switch_rx: Mutex::new(from_c),
            sent: AtomicU64::new(0),
            stats,
        }),
        to_c,
    )
}

/// Creates a ring port named `name` whose two rings hold `capacity`
/// packets each (at least 1): its receive queue, its transmit side and
/// the outside end. Counts into `stats`.
pub fn ring_port(
    name: &str,
    capacity: usize,
    stats: Arc<PortStats>,
) -> (Box<dyn RxQueue>, Arc<dyn TxPort>, RingEnd) {
    let (shared, consumer) = shared(name, capacity.max(1), stats, false);
    (
        Box::new(RingRx {
            shared: shared.clone(),
            consumer,
        }),
        Arc::new(RingTx {
            own: shared.clone(),
            dest: shared.clone(),
        }),
        RingEnd { shared },
    )
}

/// Two ring ports wired back to back, like two NIC ports joined by a
/// cable: what the switch sends on one arrives on the other's receive
/// queue. Used by the whole-switch benchmark so that packets circulate
/// with no thread in between. Returns each port's receive queue, transmit
/// side and outside end (for priming; `recv` gives nothing).
#[allow(clippy::type_complexity)]
pub fn ring_wire(
    names: [&str; 2],
    capacity: usize,
    stats: [Arc<PortStats>; 2],
) -> [(Box<dyn RxQueue>, Arc<dyn TxPort>, RingEnd); 2] {
    let capacity = capacity.max(1);
    let [sa, sb] = stats;
    let (a, ca) = shared(names[0], capacity, sa, true);
    let (b, cb) = shared(names[1], capacity, sb, true);
    let port = |own: &Arc<Shared>,
                peer: &Arc<Shared>,
                consumer|
     -> (Box<dyn RxQueue>, Arc<dyn TxPort>, RingEnd) {
        (
            Box::new(RingRx {
                shared: own.clone(),
                consumer,
            }),
            Arc::new(RingTx {
                own: own.clone(),
                dest: peer.clone(),
            }),
            RingEnd {
                shared: own.clone(),
            },
        )
    };
    [port(&a, &b, ca), port(&b, &a, cb)]
}

struct RingRx {
    shared: Arc<Shared>,
    consumer: Consumer<Packet>,
}

impl RxQueue for RingRx {
    fn rx_burst(&mut self, batch: &mut PacketBatch, _pool: &mut PacketPool) -> usize {
        let room = MAX_BURST.saturating_sub(batch.len());
        let n = self.consumer.slots().min(room);
        if n == 0 {
            return 0;
        }
        let Ok(chunk) = self.consumer.read_chunk(n) else {
            return 0;
        };
        let mut bytes = 0u64;
        for mut p in chunk {
            p.md.reset();
            bytes += p.len() as u64;
            // Cannot fail: `n` is at most the batch's free room.
            let _ = batch.push(p);
        }
        let s = &self.shared.stats;
        PortStats::add(&s.rx_packets, n as u64);
        PortStats::add(&s.rx_bytes, bytes);
        n
    }
}

/// Transmit side: into this port's ring from the switch, or for a wired
/// port into the peer's ring towards the switch.
struct RingTx {
    own: Arc<Shared>,
    dest: Arc<Shared>,
}

impl TxPort for RingTx {
    fn send(&self, _qid: usize, batch: &mut PacketBatch, pool: &mut PacketPool) {
        let (mut sent, mut bytes, mut dropped) = (0u64, 0u64, 0u64);
        let wired = !Arc::ptr_eq(&self.own, &self.dest);
        {
            let mut own_prod;
            let mut peer_prod;
            let prod: &mut Producer<Packet> = if wired {
                peer_prod = lock(&self.dest.to_switch);
                &mut peer_prod
            } else {
                own_prod = lock(&self.own.from_switch_tx);
                match own_prod.as_mut() {
                    Some(p) => p,
                    None => return,
                }
            };
            for p in batch.drain() {
                let len = p.len() as u64;
                match prod.push(p) {
                    Ok(()) => {
                        sent += 1;
                        bytes += len;
                    }
                    Err(rtrb::PushError::Full(p)) => {
                        dropped += 1;
                        pool.free(p);
                    }
                }
            }
        }
        let s = &self.own.stats;
        if sent > 0 {
            self.own.sent.fetch_add(sent, Ordering::Relaxed);
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
        assert_eq!(
            batch.packets()[0].md,
            dpif_netdev::packet::PacketMeta::default()
        );
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
