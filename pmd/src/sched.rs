//! Receive queue scheduling: which PMD polls which receive queue (OVS's
//! `pmd-rxq-assign`), and whether moving queues would even out the PMDs'
//! loads (OVS's `pmd-auto-lb`).
//!
//! Pure functions over measured loads, so they are tested with plain
//! numbers; the datapath measures (processing cycles per queue, counted
//! by the PMD that polls it) and moves the queues.
//!
//! - `roundrobin`: queues in port and queue order, PMD 0, 1, 2, 0, 1, ...
//! - `cycles` (OVS's default): busiest queue first; PMDs are taken in an
//!   up-then-down order (0, 1, 2, 2, 1, 0, 0, 1, ...), so the busiest
//!   queues are spread and the PMD that got the busiest one gets the
//!   quietest of the next round.
//! - `group`: busiest queue first, each to the PMD with the least load
//!   assigned so far (ties: fewer queues, then lower index), which also
//!   balances queues of very different sizes.
//!
//! With no measurements yet (every load 0), `cycles` and `group` fall
//! back to round robin order, as OVS does at startup.
//!
//! # Thread safety
//! Plain functions; no shared state.

/// How receive queues are assigned to PMDs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RxqAssign {
    /// Port and queue order, PMDs in turn.
    RoundRobin,
    /// Busiest first, PMDs in up/down order.
    #[default]
    Cycles,
    /// Busiest first, each to the least loaded PMD.
    Group,
}

impl RxqAssign {
    /// The config / command name.
    pub fn name(self) -> &'static str {
        match self {
            RxqAssign::RoundRobin => "roundrobin",
            RxqAssign::Cycles => "cycles",
            RxqAssign::Group => "group",
        }
    }
}

/// The PMD (index) for each queue, given each queue's measured load
/// (processing cycles, any unit) in port/queue order. Empty when there
/// are no PMDs.
pub fn assign(loads: &[u64], n_pmds: usize, mode: RxqAssign) -> Vec<usize> {
    if n_pmds == 0 {
        return Vec::new();
    }
    let measured = loads.iter().any(|&l| l > 0);
    if mode == RxqAssign::RoundRobin || !measured {
        return (0..loads.len()).map(|i| i % n_pmds).collect();
    }
    // Busiest first; equal loads keep port/queue order (stable sort).
    let mut order: Vec<usize> = (0..loads.len()).collect();
    order.sort_by(|&a, &b| loads[b].cmp(&loads[a]));
    let mut out = vec![0; loads.len()];
    match mode {
        RxqAssign::Cycles => {
            for (k, &q) in order.iter().enumerate() {
                let round = k / n_pmds;
                let pos = k % n_pmds;
                out[q] = if round & 1 == 0 {
                    pos
                } else {
                    n_pmds - 1 - pos
                };
            }
        }
        RxqAssign::Group | RxqAssign::RoundRobin => {
            let mut load = vec![0u64; n_pmds];
            let mut count = vec![0usize; n_pmds];
            for &q in &order {
                let p = (0..n_pmds)
                    .min_by_key(|&p| (load[p], count[p], p))
                    .unwrap_or(0);
                load[p] += loads[q];
                count[p] += 1;
                out[q] = p;
            }
        }
    }
    out
}

/// Each PMD's load under an assignment (sum of its queues' loads).
pub fn pmd_loads(loads: &[u64], assignment: &[usize], n_pmds: usize) -> Vec<u64> {
    let mut out = vec![0u64; n_pmds];
    for (&l, &p) in loads.iter().zip(assignment) {
        if let Some(o) = out.get_mut(p) {
            *o += l;
        }
    }
    out
}

/// Variance of the PMD loads, in the loads' unit squared.
fn variance(pmd_loads: &[u64]) -> f64 {
    if pmd_loads.is_empty() {
        return 0.0;
    }
    let n = pmd_loads.len() as f64;
    let mean = pmd_loads.iter().map(|&l| l as f64).sum::<f64>() / n;
    pmd_loads
        .iter()
        .map(|&l| (l as f64 - mean).powi(2))
        .sum::<f64>()
        / n
}

/// Whether reassigning from `current` to `proposed` is worth a move: the
/// variance of the PMD loads drops by at least `improvement_pct` percent
/// (OVS's `pmd-auto-lb-improvement-threshold`, default 25).
pub fn worth_moving(
    loads: &[u64],
    current: &[usize],
    proposed: &[usize],
    n_pmds: usize,
    improvement_pct: u32,
) -> bool {
    let before = variance(&pmd_loads(loads, current, n_pmds));
    let after = variance(&pmd_loads(loads, proposed, n_pmds));
    before > 0.0 && (before - after) * 100.0 >= before * improvement_pct as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_in_order() {
        assert_eq!(
            assign(&[5, 0, 9, 1, 1], 2, RxqAssign::RoundRobin),
            [0, 1, 0, 1, 0]
        );
        assert!(assign(&[1, 2], 0, RxqAssign::Cycles).is_empty());
    }

    #[test]
    fn unmeasured_falls_back_to_round_robin() {
        for m in [RxqAssign::Cycles, RxqAssign::Group] {
            assert_eq!(assign(&[0, 0, 0], 2, m), [0, 1, 0]);
        }
    }

    #[test]
    fn cycles_goes_up_then_down() {
        // Busiest order: q1 (90), q3 (70), q0 (50), q2 (10).
        // PMDs: 0, 1, then 1, 0.
        assert_eq!(
            assign(&[50, 90, 10, 70], 2, RxqAssign::Cycles),
            [1, 0, 0, 1]
        );
    }

    #[test]
    fn group_fills_the_least_loaded() {
        // 100 alone on one PMD; 40, 30, 20 together on the other.
        let a = assign(&[40, 100, 30, 20], 2, RxqAssign::Group);
        assert_eq!(a, [1, 0, 1, 1]);
        assert_eq!(pmd_loads(&[40, 100, 30, 20], &a, 2), [100, 90]);
    }

    #[test]
    fn moving_only_when_it_helps_enough() {
        let loads = [100, 100, 0];
        let all_on_0 = [0, 0, 1];
        let spread = assign(&loads, 2, RxqAssign::Group);
        assert_eq!(pmd_loads(&loads, &spread, 2), [100, 100]);
        assert!(worth_moving(&loads, &all_on_0, &spread, 2, 25));
        assert!(!worth_moving(&loads, &spread, &spread, 2, 25));
        // Balanced already: no move.
        assert!(!worth_moving(&[10, 10], &[0, 1], &[1, 0], 2, 25));
    }
}
