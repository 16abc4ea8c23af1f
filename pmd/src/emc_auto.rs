//! Automatic EMC bypass: each PMD measures whether its exact-match cache
//! pays for itself, and stops looking packets up in it when it does not.
//!
//! Why: an EMC lookup costs every packet a hash probe and, on a candidate,
//! a full-key compare over four cache lines; it saves a classifier lookup
//! on a hit. With one flow the EMC wins (every packet hits in L1). With
//! thousands of flows behind one cheap megaflow (one subtable) it loses:
//! measured on the p2p-10k-flows DPDK scenario (40% EMC hits), the PMD
//! forwarded 8–12% more with EMC lookups off (`emc_insert_inv_prob = 0`,
//! two interleaved runs: 5.38 vs 5.71 and 5.27 vs 5.90 Mpps). With many
//! subtables (an L3 table with 16 prefix lengths) a hit saves much more,
//! and the EMC wins again even with few hits. Rather than guess from hit
//! rates and subtable counts, the PMD times both: OVS has no such switch
//! (its EMC is on or off by configuration), which is what `emc_auto =
//! false` gives.
//!
//! How: a trial runs [`TRIAL_STEPS`] steps of [`STEP_PACKETS`] packets,
//! lookups on and off in turn (on, off, on, off: a machine whose speed
//! drifts during the trial biases neither side), and compares the cycles
//! per packet of the two (busy iterations only, so idle polling does not
//! count). Lookups stay off only if that was at least [`MARGIN_PCT`]%
//! cheaper; the choice holds for [`HOLD_PACKETS`] packets, then the next
//! trial starts. EMC insertion continues while lookups are off, so the
//! cache is warm when a trial turns them back on. Where the EMC is the
//! better choice, the off steps of a trial cost a few percent of 1% of
//! the traffic.
//!
//! Checked with `dpif-netdev/examples/burstsim.rs` under callgrind's cache
//! model (instructions and L1 misses per packet, EMC lookups on / off):
//! one flow 396 / 465 instructions, 4.2 / 4.2 misses (the EMC wins);
//! 10,000 flows 459 / 465 instructions, 6.2 / 4.7 misses (the EMC's
//! 256-byte entries miss the cache more than the classifier's one
//! megaflow does, so off wins where a miss costs more than ~4 instructions).
//!
//! # Thread safety
//! Owned by its PMD thread; plain data.

/// Packets per step of a trial (a few ms at 10 Mpps).
pub const STEP_PACKETS: u64 = 25_000;
/// Steps per trial, alternating lookups on (even steps) and off (odd).
pub const TRIAL_STEPS: u8 = 4;
/// Packets between trials (about half a second at 10 Mpps).
pub const HOLD_PACKETS: u64 = 5_000_000;
/// How much cheaper (percent of cycles per packet) lookups off must be to
/// be chosen: closer than this, the EMC stays on.
pub const MARGIN_PCT: u64 = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Step `step` of a trial, with the totals of the steps before it
    /// (on: cycles, packets; off: cycles, packets).
    Trial {
        step: u8,
        on: (u64, u64),
        off: (u64, u64),
    },
    /// Keeping the choice `lookups` for [`HOLD_PACKETS`] packets.
    Hold { lookups: bool },
}

const FIRST_STEP: Phase = Phase::Trial {
    step: 0,
    on: (0, 0),
    off: (0, 0),
};

/// The automatic EMC bypass of one PMD (see the module docs).
#[derive(Debug)]
pub struct EmcAuto {
    enabled: bool,
    phase: Phase,
    packets: u64,
    cycles: u64,
}

impl EmcAuto {
    /// A bypass that starts with a trial; when not `enabled` lookups are
    /// always on.
    pub fn new(enabled: bool) -> EmcAuto {
        EmcAuto {
            enabled,
            phase: FIRST_STEP,
            packets: 0,
            cycles: 0,
        }
    }

    /// Whether the EMC should be looked up now.
    pub fn lookups(&self) -> bool {
        match self.phase {
            _ if !self.enabled => true,
            Phase::Trial { step, .. } => step % 2 == 0,
            Phase::Hold { lookups } => lookups,
        }
    }

    /// Records a busy iteration that processed `packets` in `cycles` with
    /// [`EmcAuto::lookups`] as it was, and returns whether to look up the
    /// EMC from now on.
    pub fn record(&mut self, packets: u64, cycles: u64) -> bool {
        if !self.enabled {
            return true;
        }
        self.packets += packets;
        self.cycles += cycles;
        match self.phase {
            Phase::Trial {
                step,
                mut on,
                mut off,
            } if self.packets >= STEP_PACKETS => {
                let side = if step % 2 == 0 { &mut on } else { &mut off };
                side.0 += self.cycles;
                side.1 += self.packets;
                self.phase = if step + 1 < TRIAL_STEPS {
                    Phase::Trial {
                        step: step + 1,
                        on,
                        off,
                    }
                } else {
                    // off/on cycles per packet < (100 - margin)%, in
                    // integers: off_c * on_p * 100 < on_c * off_p * (100 - margin).
                    let off_cost = off.0 as u128 * on.1 as u128 * 100;
                    let on_cost = on.0 as u128 * off.1 as u128 * (100 - MARGIN_PCT) as u128;
                    Phase::Hold {
                        lookups: off_cost >= on_cost,
                    }
                };
                self.restart();
            }
            Phase::Hold { .. } if self.packets >= HOLD_PACKETS => {
                self.phase = FIRST_STEP;
                self.restart();
            }
            _ => {}
        }
        self.lookups()
    }

    fn restart(&mut self) {
        self.packets = 0;
        self.cycles = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `a` through one trial and its hold, with the cycles per packet
    /// `cost(lookups)`, in iterations of 32 packets; returns the lookups
    /// chosen for the hold and how many packets ran with lookups off.
    fn trial(a: &mut EmcAuto, cost: impl Fn(bool) -> u64) -> (bool, u64) {
        let mut off = 0;
        let mut chosen = None;
        let mut on = a.lookups();
        let total = TRIAL_STEPS as u64 * STEP_PACKETS + HOLD_PACKETS;
        let mut n = 0;
        let mut in_trial = false;
        while n < total + 256 {
            if !on {
                off += 32;
            }
            on = a.record(32, 32 * cost(on));
            n += 32;
            match a.phase {
                Phase::Trial { .. } => in_trial = true,
                // The hold that ends this call's trial (not one left over
                // from the call before).
                Phase::Hold { lookups } if in_trial => {
                    chosen.get_or_insert(lookups);
                }
                Phase::Hold { .. } => {}
            }
        }
        (chosen.expect("a trial ends in a hold"), off)
    }

    #[test]
    fn keeps_the_emc_when_it_is_cheaper_or_close() {
        let mut a = EmcAuto::new(true);
        assert!(a.lookups());
        let (lookups, off) = trial(&mut a, |on| if on { 250 } else { 300 });
        assert!(lookups);
        // Only the off steps of the trial ran without lookups.
        let steps = 2 * STEP_PACKETS;
        assert!((steps..steps + 128).contains(&off), "{off}");
        // 3% cheaper is within the margin: the EMC stays.
        let (lookups, _) = trial(&mut a, |on| if on { 100 } else { 97 });
        assert!(lookups);
    }

    #[test]
    fn bypasses_when_lookups_off_is_clearly_cheaper_and_tries_again() {
        let mut a = EmcAuto::new(true);
        let (lookups, off) = trial(&mut a, |on| if on { 400 } else { 350 });
        assert!(!lookups);
        assert!(off >= 2 * STEP_PACKETS + HOLD_PACKETS - 128, "{off}");
        // The traffic changes: the next trial brings the EMC back.
        let (lookups, _) = trial(&mut a, |on| if on { 200 } else { 350 });
        assert!(lookups);
        assert!(a.lookups());
    }

    #[test]
    fn disabled_always_looks_up() {
        let mut a = EmcAuto::new(false);
        for _ in 0..100_000 {
            assert!(a.record(32, if a.lookups() { 1_000_000 } else { 1 }));
        }
    }
}
