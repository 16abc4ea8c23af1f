//! Ports as the PMD threads see them: receive queues, a transmit side, and
//! counters.
//!
//! A port driver provides one [`RxQueue`] per receive queue (each owned by
//! exactly one PMD thread once the switch runs, so receiving takes no lock)
//! and one [`TxPort`] shared by every PMD that sends to the port (the driver
//! decides how to serialise: per-PMD queues where the device has them, a
//! lock otherwise, off the common path).
//!
//! # Thread safety
//! `RxQueue: Send` (moved into its PMD thread). `TxPort: Send + Sync`
//! (shared by `Arc`). Counters are relaxed atomics, each written by the
//! thread that owns the queue or holds the transmit side, read by anyone.

use dpif_netdev::packet::{PacketBatch, PacketPool};
use std::sync::atomic::{AtomicU64, Ordering};

/// One receive queue of a port.
pub trait RxQueue: Send {
    /// Receives up to `batch`'s free room of packets into `batch` (buffers
    /// from `pool`), setting nothing in the metadata but the frame. Returns
    /// the number received. Never blocks.
    fn rx_burst(&mut self, batch: &mut PacketBatch, pool: &mut PacketPool) -> usize;

    /// How long, in microseconds, the PMD may leave this queue unpolled
    /// after a poll that found nothing (0, the default: poll it every
    /// iteration). For queues whose poll is a system call (tap): an empty
    /// `read` per PMD iteration was ~9% of a DPDK forwarding PMD whose
    /// bridge has an internal port (`perf`, p2p-1flow). OVS keeps such
    /// ports off its PMD threads altogether; a short back-off keeps them
    /// on the PMD, with at most this much added latency for the first
    /// frame after a quiet spell, and full speed once frames flow (a
    /// poll that receives anything is followed by a poll in the next
    /// iteration).
    fn idle_poll_interval_us(&self) -> u32 {
        0
    }

    /// Whether this queue will never receive again (a non-looping capture
    /// that has been read to the end). `--exit-on-eof` waits for this.
    fn is_exhausted(&self) -> bool {
        false
    }

    /// The DPDK receive queue behind this one, for the PMD's direct
    /// forwarding of mbufs ([`crate::dpdk::direct`]).
    #[cfg(feature = "dpdk")]
    fn as_dpdk(&mut self) -> Option<&mut crate::dpdk::port::DpdkRxq> {
        None
    }
}

/// The transmit side of a port.
pub trait TxPort: Send + Sync {
    /// Sends every packet of `batch` (emptying it) from transmit queue
    /// `qid` (the caller's PMD index; drivers with fewer queues share).
    /// Packets that cannot be sent are dropped and counted by the driver.
    /// Buffers go back to `pool`.
    fn send(&self, qid: usize, batch: &mut PacketBatch, pool: &mut PacketPool);

    /// Pushes buffered output to its destination (pcap files are flushed).
    fn flush(&self) {}

    /// The DPDK transmit side behind this port, for the PMD's direct
    /// forwarding of mbufs ([`crate::dpdk::direct`]).
    #[cfg(feature = "dpdk")]
    fn as_dpdk(&self) -> Option<&crate::dpdk::port::DpdkTx> {
        None
    }

    /// The device's own counters, for ports backed by a device that keeps
    /// them (DPDK's `rte_eth_stats`); `None` for software ports, whose
    /// [`PortStats`] are the only counters. Port-level queries live on the
    /// transmit side because it is the one object per port that is shared.
    fn device_stats(&self) -> Option<DeviceCounters> {
        None
    }

    /// The device's extended statistics by name (DPDK's xstats), `None`
    /// when the port type has none, `Some(Err)` when reading them failed.
    fn xstats(&self) -> Option<Result<Vec<(String, u64)>, String>> {
        None
    }

    /// Whether the link is up, where the device knows.
    fn link_up(&self) -> Option<bool> {
        None
    }
}

/// Counters a device keeps itself (see [`TxPort::device_stats`]).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeviceCounters {
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets the device dropped on receive (no room, no buffer).
    pub rx_dropped: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets dropped on transmit.
    pub tx_dropped: u64,
    /// Transmit errors.
    pub tx_errors: u64,
}

/// Counters of one port.
#[derive(Debug, Default)]
pub struct PortStats {
    /// Packets received.
    pub rx_packets: AtomicU64,
    /// Bytes received.
    pub rx_bytes: AtomicU64,
    /// Packets dropped on receive (oversized, malformed, queue full).
    pub rx_dropped: AtomicU64,
    /// Packets sent.
    pub tx_packets: AtomicU64,
    /// Bytes sent.
    pub tx_bytes: AtomicU64,
    /// Packets dropped on transmit.
    pub tx_dropped: AtomicU64,
}

/// A copy of [`PortStats`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PortStatsSnapshot {
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets dropped on receive.
    pub rx_dropped: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets dropped on transmit.
    pub tx_dropped: u64,
}

impl PortStats {
    /// Adds to a counter (relaxed; counters are statistics).
    #[inline]
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> PortStatsSnapshot {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        PortStatsSnapshot {
            rx_packets: r(&self.rx_packets),
            rx_bytes: r(&self.rx_bytes),
            rx_dropped: r(&self.rx_dropped),
            tx_packets: r(&self.tx_packets),
            tx_bytes: r(&self.tx_bytes),
            tx_dropped: r(&self.tx_dropped),
        }
    }
}

/// A port driver's two halves: one receive queue and the transmit side.
pub type PortHalves = (Box<dyn RxQueue>, std::sync::Arc<dyn TxPort>);

/// A transmit side that counts and drops everything (tunnel vports: their
/// packets leave by `tnl_push`, never by output to the vport itself).
pub struct NullTx {
    /// Counters (`tx_dropped`).
    pub stats: std::sync::Arc<PortStats>,
}

impl TxPort for NullTx {
    fn send(&self, _qid: usize, batch: &mut PacketBatch, pool: &mut PacketPool) {
        let n = batch.len() as u64;
        for p in batch.drain() {
            pool.free(p);
        }
        PortStats::add(&self.stats.tx_dropped, n);
    }
}
