//! Megaflow entries: a masked key, its datapath actions and its stats.
//!
//! A [`Megaflow`] is created by the slow path, installed in one PMD's
//! classifier ([`crate::dpcls`]) and pointed at by that PMD's EMC. It is
//! immutable except for its stats and its `alive` flag; changing a
//! megaflow's actions means installing a new entry in its place.
//!
//! # Thread safety
//! Shared as `Arc<Megaflow>` between the owning PMD and readers
//! (revalidator, dump commands).
//! - Stats have exactly one writer, the owning PMD, which updates them with
//!   plain `Relaxed` load + store (no read-modify-write, so no locked
//!   instruction on the hot path). Readers load them `Relaxed`; a reader may
//!   see packets and bytes from slightly different moments, which is fine
//!   for statistics.
//! - `alive` is set false by the owner when it removes the entry from its
//!   classifier (`Release`), and checked by the owner's EMC before using an
//!   entry; other threads read it with `Acquire` to learn the entry is gone.

use crate::actions::DpActions;
use crate::key::{FlowKey, FlowMask};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::Arc;

/// Where the run of consecutive packets of `flows[i]`'s megaflow (the same
/// `Arc`) that starts at `i` ends: per-flow runs are how a burst's
/// packets are counted and executed (OVS's per-flow batches).
#[inline]
pub fn run_end(flows: &[Option<&Arc<Megaflow>>], i: usize) -> usize {
    let Some(Some(flow)) = flows.get(i) else {
        return i + 1;
    };
    let mut j = i + 1;
    while j < flows.len() && flows[j].is_some_and(|f| Arc::ptr_eq(f, flow)) {
        j += 1;
    }
    j
}

/// Per-megaflow counters. See the module docs for the single-writer rule.
#[derive(Debug, Default)]
pub struct MegaflowStats {
    packets: AtomicU64,
    bytes: AtomicU64,
    /// Caller's clock (ms) of the last hit; 0 = never.
    used: AtomicU64,
    tcp_flags: AtomicU16,
}

/// A consistent-enough copy of [`MegaflowStats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Packets that hit the flow.
    pub packets: u64,
    /// Bytes of those packets.
    pub bytes: u64,
    /// Time of the last hit (caller's ms clock), 0 for never.
    pub used: u64,
    /// OR of the TCP flags seen.
    pub tcp_flags: u16,
}

impl MegaflowStats {
    /// Adds a group of hits. Owner PMD only (single writer).
    #[inline]
    pub fn add(&self, packets: u64, bytes: u64, now: u64, tcp_flags: u16) {
        let r = Ordering::Relaxed;
        self.packets.store(self.packets.load(r) + packets, r);
        self.bytes.store(self.bytes.load(r) + bytes, r);
        if now > self.used.load(r) {
            self.used.store(now, r);
        }
        if tcp_flags != 0 {
            self.tcp_flags.store(self.tcp_flags.load(r) | tcp_flags, r);
        }
    }

    /// Adds a run of hits of this megaflow: the packets' frame lengths
    /// and TCP flags, one entry per packet. Owner PMD only.
    #[inline]
    pub fn add_run<L: Copy + Into<u64>>(&self, lens: &[L], tcp_flags: &[u16], now: u64) {
        let bytes: u64 = lens.iter().map(|&l| l.into()).sum();
        let tcp = tcp_flags.iter().fold(0, |a, &t| a | t);
        self.add(lens.len() as u64, bytes, now, tcp);
    }

    /// Reads the counters.
    pub fn snapshot(&self) -> StatsSnapshot {
        let r = Ordering::Relaxed;
        StatsSnapshot {
            packets: self.packets.load(r),
            bytes: self.bytes.load(r),
            used: self.used.load(r),
            tcp_flags: self.tcp_flags.load(r),
        }
    }

    /// Resets the counters. Owner PMD only (single writer).
    pub fn clear(&self) {
        let r = Ordering::Relaxed;
        self.packets.store(0, r);
        self.bytes.store(0, r);
        self.used.store(0, r);
        self.tcp_flags.store(0, r);
    }
}

/// One megaflow.
#[derive(Debug)]
pub struct Megaflow {
    /// The key, already masked (`key == key.masked(&mask)`).
    pub key: FlowKey,
    /// Bits that must match.
    pub mask: FlowMask,
    /// What to do with matching packets.
    pub actions: DpActions,
    /// Unique id given by the installer (OVS's ufid), for dumps and deletes.
    pub ufid: u128,
    /// Hit counters.
    pub stats: MegaflowStats,
    alive: AtomicBool,
}

impl Megaflow {
    /// A live megaflow matching `key` under `mask` (the key is masked here).
    pub fn new(key: &FlowKey, mask: FlowMask, actions: DpActions, ufid: u128) -> Megaflow {
        Megaflow {
            key: key.masked(&mask),
            mask,
            actions,
            ufid,
            stats: MegaflowStats::default(),
            alive: AtomicBool::new(true),
        }
    }

    /// Whether `key` matches this megaflow.
    #[inline]
    pub fn matches(&self, key: &FlowKey) -> bool {
        key.eq_masked(&self.key, &self.mask)
    }

    /// Whether the entry is still installed.
    #[inline(always)]
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// Marks the entry removed. Called by the classifier that owned it.
    pub fn kill(&self) {
        self.alive.store(false, Ordering::Release)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_masks_the_key_and_stats_accumulate() {
        let mut k = FlowKey::ZERO;
        k.in_port = 1;
        k.tp_dst = 80;
        let mut m = FlowMask::default();
        m.0.in_port = u32::MAX;
        let f = Megaflow::new(&k, m, vec![], 7);
        assert_eq!(f.key.tp_dst, 0);
        assert!(f.matches(&k));
        f.stats.add(2, 128, 10, 0x02);
        f.stats.add(1, 64, 5, 0x10);
        assert_eq!(
            f.stats.snapshot(),
            StatsSnapshot {
                packets: 3,
                bytes: 192,
                used: 10,
                tcp_flags: 0x12
            }
        );
        assert!(f.is_alive());
        f.kill();
        assert!(!f.is_alive());
    }
}
