//! Per-PMD counters, written by their PMD thread only and read by the
//! control thread (`dpif-netdev/pmd-stats-show`, `pmd-perf-show`).
//!
//! # Thread safety
//! Single writer (the PMD) with relaxed load + store, so the hot path has
//! no locked instruction; readers load relaxed and may see counters from
//! slightly different moments. The struct is cache-line aligned so two
//! PMDs' counters never share a line.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one PMD thread.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct PmdStats {
    /// Packets received from ports.
    pub rx_packets: AtomicU64,
    /// Packets processed again after recirculation.
    pub recirc_packets: AtomicU64,
    /// Packets answered by simple match (no key, EMC or subtable).
    pub simple_match_hits: AtomicU64,
    /// EMC hits.
    pub emc_hits: AtomicU64,
    /// Of the EMC hits, those of its plain lane (no key extraction).
    pub emc_plain_hits: AtomicU64,
    /// Packets whose EMC lookup was skipped by `emc_auto`.
    pub emc_skipped: AtomicU64,
    /// Megaflow (dpcls) hits.
    pub megaflow_hits: AtomicU64,
    /// Subtables probed for the megaflow hits.
    pub subtable_lookups: AtomicU64,
    /// Misses handed to the upcall handler.
    pub upcalls: AtomicU64,
    /// Misses the handler could not translate.
    pub upcalls_failed: AtomicU64,
    /// Misses dropped because the upcall queue was full.
    pub upcalls_dropped: AtomicU64,
    /// Packets sent to ports.
    pub tx_packets: AtomicU64,
    /// Packets dropped (any reason, see the datapath drop counters).
    pub dropped: AtomicU64,
    /// Packets too short to be Ethernet.
    pub runts: AtomicU64,
    /// Loop iterations.
    pub iterations: AtomicU64,
    /// Iterations that received at least one packet.
    pub busy_iterations: AtomicU64,
    /// Cycles spent in iterations that received packets.
    pub busy_cycles: AtomicU64,
    /// Cycles spent in iterations that received nothing.
    pub idle_cycles: AtomicU64,
    /// Megaflows installed now.
    pub megaflows: AtomicU64,
}

/// A copy of [`PmdStats`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct PmdStatsSnapshot {
    pub rx_packets: u64,
    pub recirc_packets: u64,
    pub simple_match_hits: u64,
    pub emc_hits: u64,
    pub emc_plain_hits: u64,
    pub emc_skipped: u64,
    pub megaflow_hits: u64,
    pub subtable_lookups: u64,
    pub upcalls: u64,
    pub upcalls_failed: u64,
    pub upcalls_dropped: u64,
    pub tx_packets: u64,
    pub dropped: u64,
    pub runts: u64,
    pub iterations: u64,
    pub busy_iterations: u64,
    pub busy_cycles: u64,
    pub idle_cycles: u64,
    pub megaflows: u64,
}

macro_rules! fields {
    ($m:ident) => {
        $m!(
            rx_packets,
            recirc_packets,
            simple_match_hits,
            emc_hits,
            emc_plain_hits,
            emc_skipped,
            megaflow_hits,
            subtable_lookups,
            upcalls,
            upcalls_failed,
            upcalls_dropped,
            tx_packets,
            dropped,
            runts,
            iterations,
            busy_iterations,
            busy_cycles,
            idle_cycles,
            megaflows
        )
    };
}

impl PmdStats {
    /// Adds `n` to a counter. Owner PMD only (single writer).
    #[inline(always)]
    pub fn bump(c: &AtomicU64, n: u64) {
        c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> PmdStatsSnapshot {
        macro_rules! snap {
            ($($f:ident),*) => {
                PmdStatsSnapshot { $($f: self.$f.load(Ordering::Relaxed)),* }
            };
        }
        fields!(snap)
    }
}

impl PmdStatsSnapshot {
    /// Counter-wise difference `self - base` (for `pmd-stats-clear`,
    /// which keeps a baseline instead of writing the PMD's counters).
    pub fn since(&self, base: &PmdStatsSnapshot) -> PmdStatsSnapshot {
        macro_rules! diff {
            ($($f:ident),*) => {
                PmdStatsSnapshot { $($f: self.$f.wrapping_sub(base.$f)),* }
            };
        }
        let mut d = fields!(diff);
        // A gauge, not a counter.
        d.megaflows = self.megaflows;
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_and_since() {
        let s = PmdStats::default();
        PmdStats::bump(&s.rx_packets, 10);
        PmdStats::bump(&s.megaflows, 3);
        let a = s.snapshot();
        PmdStats::bump(&s.rx_packets, 5);
        let d = s.snapshot().since(&a);
        assert_eq!(d.rx_packets, 5);
        assert_eq!(d.megaflows, 3);
        assert_eq!(std::mem::align_of::<PmdStats>(), 128);
    }
}
