//! Dummy ports, after OVS's netdev-dummy: traffic is injected by the
//! control thread (`netdev-dummy/receive`) and what the switch sends is
//! counted, optionally written to a capture, and kept in memory for tests.
//!
//! Geometry: the receive queue holds up to [`DUMMY_RX_CAPACITY`] injected
//! frames; the sent ring keeps the last [`DUMMY_SENT_CAPACITY`] frames sent
//! (older ones are overwritten). An injection that does not fit is refused
//! whole. Frames longer than a pool buffer are dropped on receive and
//! counted in `rx_dropped`.
//!
//! # Thread safety
//! The receive queue ([`RxQueue`]) is owned by one PMD, which pops from a
//! lock-free bounded queue (crossbeam `ArrayQueue`). [`DummyInjector`] is
//! `Clone + Send + Sync`: injectors push under a mutex of their own (so
//! that the room check and the pushes of one injection are atomic with
//! respect to other injectors; the PMD never takes it, and popping only
//! makes room). The transmit side ([`TxPort`]) is shared by every PMD: the
//! optional capture sits behind a mutex; the sent ring is a lock-free
//! `ArrayQueue` written with `force_push`. Counters are relaxed atomics.

use crate::error::PortError;
use crate::pcap_port::{count_tx, PcapSink};
use crate::port::{PortStats, RxQueue, TxPort};
use crossbeam::queue::ArrayQueue;
use dpif_netdev::packet::{PacketBatch, PacketPool, MAX_BURST};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

/// Frames a dummy port's receive queue holds.
pub const DUMMY_RX_CAPACITY: usize = 4096;
/// Sent frames a dummy port keeps for [`DummyInjector::take_sent`].
pub const DUMMY_SENT_CAPACITY: usize = 1024;

/// Why frames could not be injected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InjectError {
    /// The receive queue has no room for the whole injection; nothing was
    /// queued.
    #[error(
        "dummy port {port}: receive queue full: cannot queue {frames} frames, room for {room}"
    )]
    QueueFull {
        /// The port's name.
        port: String,
        /// Frames in the refused injection.
        frames: usize,
        /// Free slots in the queue at the time.
        room: usize,
    },
}

/// State shared by a dummy port's queues and its injectors.
struct Shared {
    name: String,
    rx: ArrayQueue<Vec<u8>>,
    /// Serialises injections (never taken by the PMD).
    inject: Mutex<()>,
    sent: ArrayQueue<Vec<u8>>,
}

/// The control side of a dummy port: injects received traffic and reads
/// back what the switch sent.
#[derive(Clone)]
pub struct DummyInjector {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for DummyInjector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DummyInjector")
            .field("port", &self.shared.name)
            .field("queued", &self.shared.rx.len())
            .field("sent", &self.shared.sent.len())
            .finish()
    }
}

impl DummyInjector {
    /// Queues `frames` for the PMD to receive, in order. All or nothing.
    ///
    /// # Errors
    /// [`InjectError::QueueFull`] when the queue lacks room for all of
    /// them; nothing is queued then.
    pub fn inject(&self, frames: Vec<Vec<u8>>) -> Result<(), InjectError> {
        let q = &self.shared.rx;
        let _guard = self
            .shared
            .inject
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Only this (locked) side pushes; the PMD's pops can only add room.
        let room = q.capacity() - q.len();
        if frames.len() > room {
            return Err(InjectError::QueueFull {
                port: self.shared.name.clone(),
                frames: frames.len(),
                room,
            });
        }
        for f in frames {
            // Cannot fail: room was checked under the lock.
            let _ = q.push(f);
        }
        Ok(())
    }

    /// Whether the PMD has taken every injected frame.
    pub fn is_empty(&self) -> bool {
        self.shared.rx.is_empty()
    }

    /// Removes and returns the frames the switch sent on this port, oldest
    /// first (at most the last [`DUMMY_SENT_CAPACITY`]).
    pub fn take_sent(&self) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| self.shared.sent.pop()).collect()
    }

    /// The port's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }
}

/// An opened dummy port: its receive queue, its transmit side and its
/// injector.
pub type DummyPort = (Box<dyn RxQueue>, Arc<dyn TxPort>, DummyInjector);

/// Opens a dummy port named `name`: its receive queue, its transmit side
/// (writing to `tx_pcap` when given) and its injector.
///
/// # Errors
/// [`PortError::Io`] when `tx_pcap` cannot be created.
pub fn open_dummy(
    name: &str,
    tx_pcap: Option<&Path>,
    stats: Arc<PortStats>,
) -> Result<DummyPort, PortError> {
    let sink = match tx_pcap {
        Some(path) => Some(Mutex::new(PcapSink::create(name, path)?)),
        None => None,
    };
    let shared = Arc::new(Shared {
        name: name.to_owned(),
        rx: ArrayQueue::new(DUMMY_RX_CAPACITY),
        inject: Mutex::new(()),
        sent: ArrayQueue::new(DUMMY_SENT_CAPACITY),
    });
    let rx = DummyRx {
        shared: shared.clone(),
        stats: stats.clone(),
    };
    let tx = DummyTx {
        shared: shared.clone(),
        sink,
        stats,
    };
    Ok((Box::new(rx), Arc::new(tx), DummyInjector { shared }))
}

struct DummyRx {
    shared: Arc<Shared>,
    stats: Arc<PortStats>,
}

impl RxQueue for DummyRx {
    fn rx_burst(&mut self, batch: &mut PacketBatch, pool: &mut PacketPool) -> usize {
        let room = MAX_BURST.saturating_sub(batch.len());
        let (mut got, mut bytes, mut dropped) = (0usize, 0u64, 0u64);
        for _ in 0..room {
            let Some(frame) = self.shared.rx.pop() else {
                break;
            };
            match pool.alloc_from(&frame) {
                Ok(pkt) => match batch.push(pkt) {
                    Ok(()) => {
                        got += 1;
                        bytes += frame.len() as u64;
                    }
                    // Not reached: `room` counted the free slots.
                    Err(pkt) => {
                        pool.free(pkt);
                        dropped += 1;
                        break;
                    }
                },
                Err(_) => dropped += 1,
            }
        }
        if got > 0 {
            PortStats::add(&self.stats.rx_packets, got as u64);
            PortStats::add(&self.stats.rx_bytes, bytes);
        }
        if dropped > 0 {
            PortStats::add(&self.stats.rx_dropped, dropped);
        }
        got
    }
}

struct DummyTx {
    shared: Arc<Shared>,
    sink: Option<Mutex<PcapSink>>,
    stats: Arc<PortStats>,
}

impl TxPort for DummyTx {
    fn send(&self, _qid: usize, batch: &mut PacketBatch, pool: &mut PacketPool) {
        let (mut sent, mut bytes, mut dropped) = (0u64, 0u64, 0u64);
        let mut sink = self
            .sink
            .as_ref()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner));
        for pkt in batch.drain() {
            let ok = match sink.as_mut() {
                Some(s) => s.write(pkt.data()),
                None => true,
            };
            if ok {
                sent += 1;
                bytes += pkt.len() as u64;
                self.shared.sent.force_push(pkt.data().to_vec());
            } else {
                dropped += 1;
            }
            pool.free(pkt);
        }
        count_tx(&self.stats, sent, bytes, dropped);
    }

    fn flush(&self) {
        if let Some(sink) = &self.sink {
            sink.lock().unwrap_or_else(PoisonError::into_inner).flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pcap_port::tests::{frame, read_pcap, TempPath};
    use dpif_netdev::packet::DEFAULT_BUF_SIZE;

    fn receive_all(rx: &mut dyn RxQueue, pool: &mut PacketPool) -> Vec<Vec<u8>> {
        let mut batch = PacketBatch::new();
        let mut out = Vec::new();
        while rx.rx_burst(&mut batch, pool) > 0 {
            for p in batch.drain() {
                out.push(p.data().to_vec());
                pool.free(p);
            }
        }
        out
    }

    #[test]
    fn injected_frames_arrive_in_order() {
        let stats = Arc::new(PortStats::default());
        let (mut rx, _tx, inj) = open_dummy("d0", None, stats.clone()).unwrap();
        let mut pool = PacketPool::new(DEFAULT_BUF_SIZE, 64);
        assert!(inj.is_empty());
        let a: Vec<_> = (0..50).map(|i| frame(i, 8)).collect();
        let b: Vec<_> = (50..60).map(|i| frame(i, 8)).collect();
        inj.inject(a.clone()).unwrap();
        inj.clone().inject(b.clone()).unwrap();
        assert!(!inj.is_empty());
        let mut batch = PacketBatch::new();
        assert_eq!(rx.rx_burst(&mut batch, &mut pool), MAX_BURST);
        let mut got: Vec<_> = batch.drain().map(|p| p.data().to_vec()).collect();
        got.extend(receive_all(rx.as_mut(), &mut pool));
        assert!(inj.is_empty());
        assert_eq!(got, [a, b].concat());
        let s = stats.snapshot();
        assert_eq!(s.rx_packets, 60);
        assert_eq!(s.rx_bytes, got.iter().map(|f| f.len() as u64).sum::<u64>());
        assert!(!rx.is_exhausted());
    }

    #[test]
    fn overflow_is_refused_whole() {
        let (mut rx, _tx, inj) = open_dummy("d1", None, Arc::default()).unwrap();
        inj.inject(vec![frame(0, 0); DUMMY_RX_CAPACITY - 2])
            .unwrap();
        let err = inj.inject(vec![frame(1, 0); 3]).unwrap_err();
        assert_eq!(
            err,
            InjectError::QueueFull {
                port: "d1".into(),
                frames: 3,
                room: 2
            }
        );
        assert!(err.to_string().contains("d1"));
        inj.inject(vec![frame(2, 0); 2]).unwrap();
        let mut pool = PacketPool::new(DEFAULT_BUF_SIZE, 64);
        let got = receive_all(rx.as_mut(), &mut pool);
        assert_eq!(got.len(), DUMMY_RX_CAPACITY);
        assert!(!got.contains(&frame(1, 0)));
        assert_eq!(got[DUMMY_RX_CAPACITY - 1], frame(2, 0));
    }

    #[test]
    fn oversize_injected_frame_is_dropped_and_counted() {
        let stats = Arc::new(PortStats::default());
        let (mut rx, _tx, inj) = open_dummy("d2", None, stats.clone()).unwrap();
        inj.inject(vec![vec![0; DEFAULT_BUF_SIZE + 1], frame(1, 0)])
            .unwrap();
        let mut pool = PacketPool::new(DEFAULT_BUF_SIZE, 64);
        assert_eq!(receive_all(rx.as_mut(), &mut pool), vec![frame(1, 0)]);
        let s = stats.snapshot();
        assert_eq!((s.rx_packets, s.rx_dropped), (1, 1));
    }

    #[test]
    fn sent_frames_are_kept_and_written() {
        let tmp = TempPath::new("dummy-tx");
        let stats = Arc::new(PortStats::default());
        let (_rx, tx, inj) = open_dummy("d3", Some(&tmp.0), stats.clone()).unwrap();
        let mut pool = PacketPool::new(DEFAULT_BUF_SIZE, 64);
        let mut batch = PacketBatch::new();
        let frames: Vec<_> = (0..4).map(|i| frame(i, 16)).collect();
        for f in &frames {
            batch.push(pool.alloc_from(f).unwrap()).unwrap();
        }
        tx.send(0, &mut batch, &mut pool);
        assert!(batch.is_empty());
        assert_eq!(pool.spare(), 4);
        assert_eq!(inj.take_sent(), frames);
        assert!(inj.take_sent().is_empty());
        tx.flush();
        assert_eq!(read_pcap(&tmp.0), frames);
        let s = stats.snapshot();
        assert_eq!(s.tx_packets, 4);
        assert_eq!(
            s.tx_bytes,
            frames.iter().map(|f| f.len() as u64).sum::<u64>()
        );
    }

    #[test]
    fn sent_ring_keeps_the_latest() {
        let (_rx, tx, inj) = open_dummy("d4", None, Arc::default()).unwrap();
        let mut pool = PacketPool::new(DEFAULT_BUF_SIZE, 64);
        let mut batch = PacketBatch::new();
        let total = DUMMY_SENT_CAPACITY + 10;
        for i in 0..total {
            batch
                .push(pool.alloc_from(&frame(i as u16, 0)).unwrap())
                .unwrap();
            if batch.is_full() {
                tx.send(0, &mut batch, &mut pool);
            }
        }
        tx.send(0, &mut batch, &mut pool);
        let sent = inj.take_sent();
        assert_eq!(sent.len(), DUMMY_SENT_CAPACITY);
        assert_eq!(sent[0], frame(10, 0));
        assert_eq!(sent[DUMMY_SENT_CAPACITY - 1], frame(total as u16 - 1, 0));
    }

    #[test]
    fn unwritable_tx_pcap_is_an_error() {
        let dir = std::env::temp_dir().join("rvs-no-such-dir-for-dummy/x/y.pcap");
        let err = open_dummy("d5", Some(&dir), Arc::default()).err().unwrap();
        assert!(matches!(err, PortError::Io { .. }));
        assert!(err.to_string().contains("y.pcap"));
    }
}
