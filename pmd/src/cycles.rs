//! The PMD's clock: CPU cycles for its busy/idle and per-queue accounting,
//! and the datapath's millisecond stats clock, from one cheap read.
//!
//! A PMD reads the clock at least twice per iteration. `Instant::now()`
//! (a vDSO `clock_gettime`, plus the nanosecond→cycle float conversions)
//! was about 4% of a forwarding PMD's samples in `perf`; the time stamp
//! counter read through `quanta` (which checks the TSC is invariant and
//! calibrates it against the OS clock, falling back to the OS clock when
//! it is not usable) is a single `rdtsc`. We use the crate rather than
//! the intrinsic to keep `unsafe` out of this crate's non-FFI modules, and
//! for its calibration.
//!
//! Units: with the TSC, "cycles" are TSC ticks, which run at the CPU's
//! nominal frequency (what OVS reports too). Without it, nanoseconds times
//! the nominal cycles per nanosecond (`cpu MHz`), as before.
//!
//! The millisecond clock is the datapath's (`Shared::now_ms`: time since
//! the datapath started), extrapolated from the last [`CycleClock::resync`]
//! with the calibrated scale; the PMD resyncs during housekeeping, so it
//! never drifts from the revalidator's clock by more than the calibration
//! error over a fraction of a second.
//!
//! # Thread safety
//! One per PMD thread (`&mut self` to resync); reads are `&self`.

use std::time::Instant;

/// See the module docs.
pub struct CycleClock {
    clock: quanta::Clock,
    /// Whether raw readings are TSC ticks (else nanoseconds).
    tsc: bool,
    cycles_per_ns: f64,
    start: Instant,
    base_raw: u64,
    base_ms: u64,
    raw_per_us: u64,
}

impl CycleClock {
    /// A clock whose milliseconds count from `start` (the datapath's
    /// start), converting nanoseconds to cycles with `cycles_per_ns` when
    /// the TSC is not usable.
    pub fn new(start: Instant, cycles_per_ns: f64) -> CycleClock {
        let clock = quanta::Clock::new();
        // quanta's raw readings are nanoseconds exactly when it fell back
        // to the OS clock: then a raw delta converts to itself.
        let ns_per_gtick = clock.delta_as_nanos(0, 1_000_000_000);
        let tsc = ns_per_gtick != 1_000_000_000;
        // Raw units per microsecond: 1e9 raw units took `ns_per_gtick` ns.
        let raw_per_us = (1_000_000_000_000u64 / ns_per_gtick.max(1)).max(1);
        let mut c = CycleClock {
            clock,
            tsc,
            cycles_per_ns,
            start,
            base_raw: 0,
            base_ms: 0,
            raw_per_us,
        };
        c.resync();
        c
    }

    /// A raw reading, for [`CycleClock::cycles`] and
    /// [`CycleClock::now_ms`].
    #[inline(always)]
    pub fn raw(&self) -> u64 {
        self.clock.raw()
    }

    /// Cycles between two raw readings (0 if they went backwards).
    #[inline(always)]
    pub fn cycles(&self, from: u64, to: u64) -> u64 {
        let d = to.saturating_sub(from);
        if self.tsc {
            d
        } else {
            (d as f64 * self.cycles_per_ns) as u64
        }
    }

    /// Raw units in a microsecond (at least 1), to turn a delay into a
    /// raw deadline.
    #[inline(always)]
    pub fn raw_per_us(&self) -> u64 {
        self.raw_per_us
    }

    /// The datapath's millisecond clock (never 0) at raw reading `raw`.
    #[inline(always)]
    pub fn now_ms(&self, raw: u64) -> u64 {
        let ns = if raw > self.base_raw {
            self.clock.delta_as_nanos(self.base_raw, raw)
        } else {
            0
        };
        self.base_ms + ns / 1_000_000
    }

    /// Re-anchors the millisecond clock on the OS clock.
    pub fn resync(&mut self) {
        self.base_raw = self.clock.raw();
        self.base_ms = self.start.elapsed().as_millis() as u64 + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn milliseconds_follow_the_os_clock_and_cycles_grow() {
        let start = Instant::now();
        let mut c = CycleClock::new(start, 2.0);
        let r0 = c.raw();
        std::thread::sleep(Duration::from_millis(50));
        let r1 = c.raw();
        let ms = c.now_ms(r1);
        let os = start.elapsed().as_millis() as u64 + 1;
        assert!(
            ms >= 45 && ms <= os + 5,
            "pmd clock {ms} ms, os clock {os} ms"
        );
        // 50 ms is at least a million cycles at any plausible clock.
        assert!(c.cycles(r0, r1) > 1_000_000, "{}", c.cycles(r0, r1));
        assert_eq!(c.cycles(r1, r0), 0);
        c.resync();
        assert!(c.now_ms(c.raw()) >= os);
        // A reading from before the anchor does not underflow.
        assert!(c.now_ms(r0) >= os);
        // 50 ms of raw units, converted with raw_per_us, is about 50 ms
        // (sleep overshoots; never undershoots by much).
        let us = (r1 - r0) / c.raw_per_us();
        assert!((45_000..5_000_000).contains(&us), "{us} us");
    }
}
