//! The running receive queue assignment: which PMD polls which queue,
//! how busy each queue keeps its PMD, and moving queues between PMDs
//! (`pmd-rxq-rebalance`, automatic load balancing, ports added and
//! removed at run time).
//!
//! The table here is the control side's record; the queues themselves
//! live in the PMDs. A queue moves by value: the old PMD hands it back
//! ([`PmdMsg::TakeRxqs`], answered between two of its iterations), then
//! the new one gets it ([`PmdMsg::AddRxqs`]). Only the queues that change
//! PMD move; the others keep being polled. Packets that arrive while a
//! queue is in transit wait in the device's ring (microseconds).
//!
//! Usage: each queue's processing cycles (counted by its PMD into the
//! queue's own counter) since the last assignment, over the PMD's total
//! cycles (busy + idle) in the same time, as OVS's `pmd-rxq-show` prints
//! it. Rebalancing uses the same measurements; automatic load balancing
//! uses the cycles of its last interval.
//!
//! # Thread safety
//! The table is behind a mutex in [`Shared`], taken by the control
//! thread and the auto-lb thread; holding it serialises every move, so
//! two rebalances (or a rebalance and a port removal) never interleave.
//! The PMDs never take it. Cycle counters are single-writer relaxed
//! atomics (the PMD polling the queue); a queue in transit is counted by
//! nobody.

use crate::datapath::Shared;
use crate::pmd::{AssignedRxq, PmdMsg};
use crate::sched::{self, RxqAssign};
use crossbeam::channel::bounded;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One receive queue in the assignment table.
pub struct RxqEntry {
    /// Datapath port number.
    pub odp: u32,
    /// Port name.
    pub name: String,
    /// Queue id within the port.
    pub qid: usize,
    /// Index of the PMD polling it.
    pub pmd: usize,
    /// The queue's cycle counter (shared with the queue itself).
    pub cycles: Arc<AtomicU64>,
    /// `cycles` at the last assignment.
    base: u64,
}

/// The assignment table.
#[derive(Default)]
pub struct RxqTable {
    /// Every queue, in port and queue order.
    pub entries: Vec<RxqEntry>,
    /// Each PMD's total cycles (busy + idle) at the last assignment.
    pmd_base: Vec<u64>,
}

/// One queue as `pmd-rxq-show` prints it.
#[derive(Clone, Debug, PartialEq)]
pub struct RxqUsage {
    /// Port name.
    pub port: String,
    /// Queue id.
    pub qid: usize,
    /// Share of its PMD's cycles spent on it since the last assignment.
    pub usage_pct: f64,
}

/// One PMD's queues.
#[derive(Clone, Debug, PartialEq)]
pub struct PmdRxqs {
    /// The PMD's core.
    pub core: Option<usize>,
    /// Its queues.
    pub rxqs: Vec<RxqUsage>,
}

/// One queue moved by a rebalance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RxqMove {
    /// Port name.
    pub port: String,
    /// Queue id.
    pub qid: usize,
    /// Core of the PMD it left.
    pub from: Option<usize>,
    /// Core of the PMD it went to.
    pub to: Option<usize>,
}

/// Why queues could not be moved.
#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    /// A PMD did not hand its queues back in time (it is stopping).
    #[error("PMD {pmd} did not hand back its receive queues within 5 s")]
    NoAnswer {
        /// The PMD index.
        pmd: usize,
    },
}

fn pmd_total(shared: &Shared, pmd: usize) -> u64 {
    shared.pmds.get(pmd).map_or(0, |p| {
        p.stats.busy_cycles.load(Ordering::Relaxed) + p.stats.idle_cycles.load(Ordering::Relaxed)
    })
}

impl RxqTable {
    /// Starts measuring from now for every queue and PMD.
    fn reset_baselines(&mut self, shared: &Shared) {
        for e in &mut self.entries {
            e.base = e.cycles.load(Ordering::Relaxed);
        }
        self.pmd_base = (0..shared.pmds.len())
            .map(|p| pmd_total(shared, p))
            .collect();
    }

    /// Each queue's cycles since the last assignment.
    fn loads(&self) -> Vec<u64> {
        self.entries
            .iter()
            .map(|e| e.cycles.load(Ordering::Relaxed).saturating_sub(e.base))
            .collect()
    }
}

/// The initial assignment of `queues` (in port and queue order) over
/// `n_pmds` PMDs: nothing is measured yet, so every mode starts in round
/// robin order. Returns each PMD's queues and the table.
pub fn initial(queues: Vec<AssignedRxq>, n_pmds: usize) -> (Vec<Vec<AssignedRxq>>, RxqTable) {
    let to = sched::assign(&vec![0; queues.len()], n_pmds, RxqAssign::RoundRobin);
    let mut per: Vec<Vec<AssignedRxq>> = (0..n_pmds).map(|_| Vec::new()).collect();
    let mut table = RxqTable::default();
    for (q, p) in queues.into_iter().zip(to) {
        table.entries.push(RxqEntry {
            odp: q.odp,
            name: q.name.clone(),
            qid: q.qid,
            pmd: p,
            cycles: q.cycles.clone(),
            base: 0,
        });
        per[p].push(q);
    }
    table.pmd_base = vec![0; n_pmds];
    (per, table)
}

/// What `pmd-rxq-show` prints: every PMD with its queues and their usage.
pub fn show(shared: &Shared) -> Vec<PmdRxqs> {
    let t = shared.rxqs.lock().unwrap_or_else(|e| e.into_inner());
    let mut out: Vec<PmdRxqs> = shared
        .pmds
        .iter()
        .map(|p| PmdRxqs {
            core: p.core,
            rxqs: Vec::new(),
        })
        .collect();
    let loads = t.loads();
    for (e, l) in t.entries.iter().zip(loads) {
        let total =
            pmd_total(shared, e.pmd).saturating_sub(t.pmd_base.get(e.pmd).copied().unwrap_or(0));
        let usage_pct = if total == 0 {
            0.0
        } else {
            (l as f64 * 100.0 / total as f64).min(100.0)
        };
        if let Some(o) = out.get_mut(e.pmd) {
            o.rxqs.push(RxqUsage {
                port: e.name.clone(),
                qid: e.qid,
                usage_pct,
            });
        }
    }
    out
}

/// Moves queues so that entry `i` ends on PMD `to[i]`; only queues whose
/// PMD changes move. Resets the measurements. The caller holds the table.
fn apply(shared: &Shared, t: &mut RxqTable, to: &[usize]) -> Result<Vec<RxqMove>, MoveError> {
    let mut by_source: HashMap<usize, Vec<(u32, Option<usize>)>> = HashMap::new();
    for (e, &p) in t.entries.iter().zip(to) {
        if e.pmd != p {
            by_source
                .entry(e.pmd)
                .or_default()
                .push((e.odp, Some(e.qid)));
        }
    }
    let mut moved: Vec<AssignedRxq> = Vec::new();
    for (pmd, which) in by_source {
        moved.extend(take(shared, pmd, which)?);
    }
    let dest = |q: &AssignedRxq| {
        t.entries
            .iter()
            .zip(to)
            .find(|(e, _)| e.odp == q.odp && e.qid == q.qid)
            .map(|(_, &p)| p)
    };
    let mut by_dest: HashMap<usize, Vec<AssignedRxq>> = HashMap::new();
    for q in moved {
        if let Some(p) = dest(&q) {
            by_dest.entry(p).or_default().push(q);
        }
    }
    for (p, qs) in by_dest {
        if let Some(pmd) = shared.pmds.get(p) {
            let _ = pmd.inbox.send(PmdMsg::AddRxqs(qs));
        }
    }
    let mut moves = Vec::new();
    for (e, &p) in t.entries.iter_mut().zip(to) {
        if e.pmd != p {
            moves.push(RxqMove {
                port: e.name.clone(),
                qid: e.qid,
                from: shared.pmds.get(e.pmd).and_then(|x| x.core),
                to: shared.pmds.get(p).and_then(|x| x.core),
            });
            e.pmd = p;
        }
    }
    t.reset_baselines(shared);
    Ok(moves)
}

/// Asks PMD `pmd` for the listed queues and waits for them.
fn take(
    shared: &Shared,
    pmd: usize,
    which: Vec<(u32, Option<usize>)>,
) -> Result<Vec<AssignedRxq>, MoveError> {
    let (tx, rx) = bounded(1);
    let p = shared.pmds.get(pmd).ok_or(MoveError::NoAnswer { pmd })?;
    p.inbox
        .send(PmdMsg::TakeRxqs { which, reply: tx })
        .map_err(|_| MoveError::NoAnswer { pmd })?;
    rx.recv_timeout(Duration::from_secs(5))
        .map_err(|_| MoveError::NoAnswer { pmd })
}

/// Reassigns every queue with `mode` over the loads measured since the
/// last assignment (`dpif-netdev/pmd-rxq-rebalance`). Returns the moves
/// (none when the assignment stays the same).
pub fn rebalance(shared: &Shared, mode: RxqAssign) -> Result<Vec<RxqMove>, MoveError> {
    let mut t = shared.rxqs.lock().unwrap_or_else(|e| e.into_inner());
    let loads = t.loads();
    let to = sched::assign(&loads, shared.pmds.len(), mode);
    apply(shared, &mut t, &to)
}

/// Adds a new port's queues, each to the PMD with the fewest queues
/// (ties: the lower index), and starts measuring them.
pub fn add(shared: &Shared, queues: Vec<AssignedRxq>) {
    let mut t = shared.rxqs.lock().unwrap_or_else(|e| e.into_inner());
    let n = shared.pmds.len();
    let mut count = vec![0usize; n];
    for e in &t.entries {
        if let Some(c) = count.get_mut(e.pmd) {
            *c += 1;
        }
    }
    let mut by_dest: HashMap<usize, Vec<AssignedRxq>> = HashMap::new();
    for q in queues {
        let p = (0..n).min_by_key(|&p| (count[p], p)).unwrap_or(0);
        count[p] += 1;
        t.entries.push(RxqEntry {
            odp: q.odp,
            name: q.name.clone(),
            qid: q.qid,
            pmd: p,
            base: q.cycles.load(Ordering::Relaxed),
            cycles: q.cycles.clone(),
        });
        by_dest.entry(p).or_default().push(q);
    }
    for (p, qs) in by_dest {
        if let Some(pmd) = shared.pmds.get(p) {
            let _ = pmd.inbox.send(PmdMsg::AddRxqs(qs));
        }
    }
}

/// Takes every queue of port `odp` back from the PMDs and forgets them;
/// returns them (with the PMD each came from) for the caller to drop.
pub fn remove_port(shared: &Shared, odp: u32) -> Result<Vec<(usize, AssignedRxq)>, MoveError> {
    let mut t = shared.rxqs.lock().unwrap_or_else(|e| e.into_inner());
    let mut pmds: Vec<usize> = t
        .entries
        .iter()
        .filter(|e| e.odp == odp)
        .map(|e| e.pmd)
        .collect();
    pmds.sort_unstable();
    pmds.dedup();
    let mut out = Vec::new();
    for p in pmds {
        out.extend(
            take(shared, p, vec![(odp, None)])?
                .into_iter()
                .map(|q| (p, q)),
        );
    }
    t.entries.retain(|e| e.odp != odp);
    Ok(out)
}

/// Automatic load balancing settings (OVS's `pmd-auto-lb-*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AutoLb {
    /// How often to look, in milliseconds.
    pub interval_ms: u64,
    /// Rebalance only when some PMD was at least this busy (percent of
    /// its cycles processing packets) over the interval (OVS: 95).
    pub load_threshold_pct: u32,
    /// Rebalance only when the variance of PMD loads would drop by at
    /// least this many percent (OVS: 25).
    pub improvement_pct: u32,
}

impl Default for AutoLb {
    fn default() -> Self {
        AutoLb {
            interval_ms: 60_000,
            load_threshold_pct: 95,
            improvement_pct: 25,
        }
    }
}

/// Cycles of every queue by `(odp, qid)`, and (busy, idle) cycles of
/// every PMD, at one moment.
type Snapshot = (HashMap<(u32, usize), u64>, Vec<(u64, u64)>);

/// The auto-lb thread: every interval, measures each queue's and PMD's
/// cycles over the interval and rebalances with `mode` (`group` when the
/// mode is round robin, which measures nothing) when a PMD is overloaded
/// and the move would even loads out enough. Returns when `exit` is set.
pub fn auto_lb_loop(shared: Arc<Shared>, cfg: AutoLb, mode: RxqAssign) {
    let mode = if mode == RxqAssign::RoundRobin {
        RxqAssign::Group
    } else {
        mode
    };
    let n = shared.pmds.len();
    let snap = |s: &Shared| -> Snapshot {
        let t = s.rxqs.lock().unwrap_or_else(|e| e.into_inner());
        let q = t
            .entries
            .iter()
            .map(|e| ((e.odp, e.qid), e.cycles.load(Ordering::Relaxed)))
            .collect();
        let p = s
            .pmds
            .iter()
            .map(|p| {
                (
                    p.stats.busy_cycles.load(Ordering::Relaxed),
                    p.stats.idle_cycles.load(Ordering::Relaxed),
                )
            })
            .collect();
        (q, p)
    };
    let mut last = snap(&shared);
    let mut next = Instant::now() + Duration::from_millis(cfg.interval_ms);
    while !shared.exit.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(cfg.interval_ms.min(50)));
        if Instant::now() < next {
            continue;
        }
        next = Instant::now() + Duration::from_millis(cfg.interval_ms);
        let now = snap(&shared);
        let overloaded = now.1.iter().zip(&last.1).any(|(&(b1, i1), &(b0, i0))| {
            let (b, i) = (b1.saturating_sub(b0), i1.saturating_sub(i0));
            b + i > 0 && b * 100 >= (b + i) * cfg.load_threshold_pct as u64
        });
        if overloaded {
            let mut t = shared.rxqs.lock().unwrap_or_else(|e| e.into_inner());
            let loads: Vec<u64> = t
                .entries
                .iter()
                .map(|e| {
                    let c = e.cycles.load(Ordering::Relaxed);
                    c.saturating_sub(last.0.get(&(e.odp, e.qid)).copied().unwrap_or(c))
                })
                .collect();
            let current: Vec<usize> = t.entries.iter().map(|e| e.pmd).collect();
            let proposed = sched::assign(&loads, n, mode);
            if sched::worth_moving(&loads, &current, &proposed, n, cfg.improvement_pct) {
                match apply(&shared, &mut t, &proposed) {
                    Ok(moves) => {
                        tracing::info!(?moves, "pmd auto load balance: receive queues moved")
                    }
                    Err(e) => tracing::warn!(error = %e, "pmd auto load balance failed"),
                }
            }
        }
        last = snap(&shared);
    }
}
