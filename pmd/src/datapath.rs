//! The userspace datapath: PMD threads, upcall handlers and the
//! revalidator, started together over a set of ports and a translator.
//!
//! Receive queues start assigned to PMDs round-robin in port order; they
//! move later by rebalancing (`pmd-rxq-rebalance`, automatic load
//! balancing) and as ports come and go at run time (see [`crate::rxqs`]).
//! Every PMD can transmit on every port. The datapath's clock is milliseconds
//! since it started ([`Datapath::now_ms`]); megaflow and rule stats use it,
//! and the bridge layer should too.
//!
//! # Thread safety
//! `Datapath` methods are called from the control thread. They talk to
//! PMDs by message and read their single-writer counters; slow-path state
//! (ukeys), the rxq table and the port table sit behind mutexes that the
//! fast path never touches. Adding or removing a port holds the rxq
//! table's mutex for the whole change, so port changes and rebalances
//! never interleave; PMDs get the new port table by message (an `Arc`
//! swapped between two iterations), never by a lock.

use crate::pmd::{AssignedRxq, DpPortTx, PmdMsg, PmdSettings, PmdShared, PmdThread, Upcall};
use crate::port::{PortStats, RxQueue, TxPort};
use crate::revalidator::{revalidate, RevalStats};
use crate::rxqs::{AutoLb, MoveError, PmdRxqs, RxqMove, RxqTable};
use crate::sched::RxqAssign;
use crate::stats::{PmdStats, PmdStatsSnapshot};
use crate::upcall::{handler_loop, Translator};
use crossbeam::channel::{bounded, Receiver};
use dpif_netdev::key::FlowKey;
use dpif_netdev::megaflow::StatsSnapshot;
use dpif_netdev::{DropReason, Megaflow};
use ofproto::table::Rule;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Datapath settings (the `[pmd]` config section).
#[derive(Clone, Debug)]
pub struct DatapathConfig {
    /// One PMD thread per core listed.
    pub cores: Vec<usize>,
    /// EMC entries per PMD.
    pub emc_entries: usize,
    /// EMC inverse insertion probability.
    pub emc_insert_inv_prob: u32,
    /// Automatic EMC bypass ([`crate::emc_auto`]).
    pub emc_auto: bool,
    /// Upcall handler threads.
    pub handler_threads: usize,
    /// Megaflows idle this long are removed.
    pub max_idle_ms: u64,
    /// How often the revalidator runs.
    pub revalidate_interval_ms: u64,
    /// Megaflows per PMD at most.
    pub flow_limit: usize,
    /// Capacity of the upcall queue shared by all PMDs.
    pub upcall_queue: usize,
    /// Whether to pin PMD threads to their cores.
    pub pin: bool,
    /// How receive queues are (re)assigned to PMDs.
    pub rxq_assign: RxqAssign,
    /// Automatic load balancing, when on.
    pub auto_lb: Option<AutoLb>,
}

impl Default for DatapathConfig {
    fn default() -> Self {
        DatapathConfig {
            cores: vec![0],
            emc_entries: dpif_netdev::emc::DEFAULT_ENTRIES,
            emc_insert_inv_prob: dpif_netdev::emc::DEFAULT_INSERT_INV_PROB,
            emc_auto: true,
            handler_threads: 1,
            max_idle_ms: 10_000,
            revalidate_interval_ms: 500,
            flow_limit: 200_000,
            upcall_queue: 4096,
            pin: true,
            rxq_assign: RxqAssign::default(),
            auto_lb: None,
        }
    }
}

/// A port handed to the datapath.
pub struct PortSpec {
    /// Datapath port number (unique across bridges).
    pub odp: u32,
    /// Name.
    pub name: String,
    /// Receive queues (may be empty for a transmit-only port).
    pub rxqs: Vec<Box<dyn RxQueue>>,
    /// Whether the receive queues end (non-looping capture).
    pub finite: bool,
    /// Transmit side.
    pub tx: Arc<dyn TxPort>,
    /// Counters.
    pub stats: Arc<PortStats>,
}

/// Errors starting the datapath.
#[derive(Debug, thiserror::Error)]
pub enum DatapathError {
    /// A configured core does not exist on this machine.
    #[error("pmd.cores: core {core} does not exist (this machine has cores {available:?})")]
    NoSuchCore {
        /// The core asked for.
        core: usize,
        /// The cores there are.
        available: Vec<usize>,
    },
    /// No PMD core configured.
    #[error("pmd.cores: at least one core is needed")]
    NoCores,
    /// A thread could not be started.
    #[error("cannot start thread: {0}")]
    Spawn(#[from] std::io::Error),
    /// A port with this datapath number exists already.
    #[error("datapath port {0} exists already")]
    PortExists(u32),
    /// No port with this datapath number.
    #[error("no datapath port {0}")]
    NoSuchPort(u32),
    /// Receive queues could not be moved.
    #[error(transparent)]
    Move(#[from] MoveError),
}

/// What the slow path remembers of an installed megaflow (OVS's ukey).
pub struct Ukey {
    /// PMD it is installed in.
    pub pmd: usize,
    /// The key of the packet that created it (re-translated on changes).
    pub key: FlowKey,
    /// The megaflow.
    pub flow: Arc<Megaflow>,
    /// Rules it was translated through.
    pub rules: Vec<Arc<Rule>>,
    /// Whether its hits are reported to [`Translator::on_traffic`].
    pub learns: bool,
    /// Translator version it was translated with.
    pub version: u64,
    /// Stats already pushed to the rules.
    pub pushed: StatsSnapshot,
    /// Datapath clock when it was made.
    pub created: u64,
}

/// State shared by the datapath's threads.
pub struct Shared {
    /// Set to stop every thread.
    pub exit: Arc<AtomicBool>,
    /// Misses from every PMD.
    pub upcall_rx: Receiver<Upcall>,
    /// The PMDs.
    pub pmds: Vec<PmdShared>,
    /// The slow path.
    pub translator: Arc<dyn Translator>,
    /// Handlers hold it for reading from translation to install; table
    /// changes hold it for writing.
    pub slow_path: RwLock<()>,
    /// Installed megaflows by ufid.
    pub ukeys: Mutex<HashMap<u128, Ukey>>,
    /// Next megaflow id.
    pub next_ufid: AtomicU64,
    /// Settings.
    pub config: DatapathConfig,
    /// Serialises revalidation passes.
    pub reval_lock: Mutex<()>,
    /// The datapath clock's origin.
    pub start: Instant,
    /// Which PMD polls which receive queue.
    pub rxqs: Mutex<RxqTable>,
    /// The port table the PMDs use (indexed by datapath port number).
    pub port_table: Mutex<Arc<Vec<Option<DpPortTx>>>>,
}

impl Shared {
    /// Milliseconds since the datapath started (never 0).
    pub fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64 + 1
    }

    /// Returns once every PMD has applied every message sent before; false
    /// (and logged) when one did not answer within 5 s.
    pub fn sync_pmds(&self) -> bool {
        let waits: Vec<_> = self
            .pmds
            .iter()
            .filter_map(|p| {
                let (tx, rx) = bounded(1);
                p.inbox.send(PmdMsg::Sync(tx)).ok().map(|_| (p.id, rx))
            })
            .collect();
        let mut ok = true;
        for (id, rx) in waits {
            if rx.recv_timeout(Duration::from_secs(5)).is_err()
                && !self.exit.load(Ordering::Acquire)
            {
                tracing::error!(pmd = id, "PMD did not answer a sync barrier within 5 s");
                ok = false;
            }
        }
        ok
    }
}

/// Information about a port, for dumps and stats.
#[derive(Clone)]
pub struct PortInfo {
    /// Datapath number.
    pub odp: u32,
    /// Name.
    pub name: String,
    /// Counters.
    pub stats: Arc<PortStats>,
    /// Transmit side (flushed at exit).
    pub tx: Arc<dyn TxPort>,
}

/// The running datapath.
pub struct Datapath {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    ports: RwLock<Vec<PortInfo>>,
    finite_total: AtomicU64,
    baselines: Mutex<Vec<PmdStatsSnapshot>>,
}

/// Estimated TSC cycles per nanosecond, from the CPU's nominal clock
/// (`cpu MHz` in /proc/cpuinfo; 1.0 when unknown, i.e. cycles = ns).
/// PMD busy/idle time is measured with the monotonic clock and reported
/// in cycles with this factor, which avoids `rdtsc` (an `unsafe`
/// intrinsic) outside the FFI and buffer modules.
pub fn cycles_per_ns() -> f64 {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("cpu MHz"))
                .and_then(|l| l.split(':').nth(1))
                .and_then(|v| v.trim().parse::<f64>().ok())
        })
        .map(|mhz| mhz / 1000.0)
        .unwrap_or(1.0)
}

impl Datapath {
    /// Starts PMD, handler and revalidator threads.
    pub fn start(
        config: DatapathConfig,
        ports: Vec<PortSpec>,
        translator: Arc<dyn Translator>,
    ) -> Result<Datapath, DatapathError> {
        if config.cores.is_empty() {
            return Err(DatapathError::NoCores);
        }
        let available: Vec<usize> = core_affinity::get_core_ids()
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.id)
            .collect();
        for &core in &config.cores {
            if !available.contains(&core) {
                return Err(DatapathError::NoSuchCore { core, available });
            }
        }
        let exit = Arc::new(AtomicBool::new(false));
        let start = Instant::now();
        let (upcall_tx, upcall_rx) = bounded(config.upcall_queue.max(1));

        // Port table indexed by datapath number, and rxq assignment.
        let max_odp = ports.iter().map(|p| p.odp).max().unwrap_or(0) as usize;
        let mut table: Vec<Option<DpPortTx>> = vec![None; max_odp + 1];
        let mut infos = Vec::new();
        let n_pmds = config.cores.len();
        let mut queues = Vec::new();
        let mut finite_total = 0u64;
        for p in ports {
            table[p.odp as usize] = Some(DpPortTx {
                odp: p.odp,
                tx: p.tx.clone(),
                stats: p.stats.clone(),
            });
            infos.push(PortInfo {
                odp: p.odp,
                name: p.name.clone(),
                stats: p.stats.clone(),
                tx: p.tx.clone(),
            });
            for (qid, q) in p.rxqs.into_iter().enumerate() {
                if p.finite {
                    finite_total += 1;
                }
                queues.push(AssignedRxq::new(p.odp, &p.name, qid, q, p.finite));
            }
        }
        let (assigned, rxq_table) = crate::rxqs::initial(queues, n_pmds);
        let table = Arc::new(table);

        let mut pmds = Vec::new();
        let mut inboxes = Vec::new();
        for (i, &core) in config.cores.iter().enumerate() {
            let (tx, rx) = bounded(65536);
            pmds.push(PmdShared {
                id: i,
                core: Some(core),
                stats: Arc::new(PmdStats::default()),
                drops: Arc::new(std::array::from_fn(|_| AtomicU64::new(0))),
                inbox: tx,
                finite_done: Arc::new(AtomicU64::new(0)),
            });
            inboxes.push(rx);
        }
        let settings = PmdSettings {
            emc_entries: config.emc_entries,
            emc_insert_inv_prob: config.emc_insert_inv_prob,
            emc_auto: config.emc_auto,
        };
        let cpn = cycles_per_ns();
        let mut threads = Vec::new();
        for ((shared_pmd, rxqs), inbox) in pmds.iter().zip(assigned).zip(inboxes) {
            let pmd = PmdThread::new(
                shared_pmd,
                &settings,
                rxqs,
                table.clone(),
                inbox,
                upcall_tx.clone(),
                exit.clone(),
                start,
                cpn,
            );
            let core = shared_pmd.core;
            let pin = config.pin;
            threads.push(
                std::thread::Builder::new()
                    .name(format!("pmd-c{:02}", core.unwrap_or(0)))
                    .spawn(move || {
                        // A DPDK lcore id, so mbuf pools cache for this
                        // thread (nothing without DPDK).
                        #[cfg(feature = "dpdk")]
                        let _eal = crate::dpdk::eal::ThreadRegistration::new();
                        if let (true, Some(c)) = (pin, core) {
                            if !core_affinity::set_for_current(core_affinity::CoreId { id: c }) {
                                tracing::warn!(core = c, "could not pin PMD thread");
                            }
                        }
                        pmd.run()
                    })?,
            );
        }
        drop(upcall_tx);
        let shared = Arc::new(Shared {
            exit,
            upcall_rx,
            pmds,
            translator,
            slow_path: RwLock::new(()),
            ukeys: Mutex::new(HashMap::new()),
            next_ufid: AtomicU64::new(1),
            config: config.clone(),
            reval_lock: Mutex::new(()),
            start,
            rxqs: Mutex::new(rxq_table),
            port_table: Mutex::new(table),
        });
        // The other threads' cores: every core but the PMDs'.
        let others: Vec<usize> = match config.pin {
            true => available
                .iter()
                .copied()
                .filter(|c| !config.cores.contains(c))
                .collect(),
            false => Vec::new(),
        };
        for i in 0..config.handler_threads.max(1) {
            let s = shared.clone();
            let cores = others.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("handler{i}"))
                    .spawn(move || {
                        keep_off_pmd_cores(&cores);
                        handler_loop(s)
                    })?,
            );
        }
        let s = shared.clone();
        let cores = others.clone();
        threads.push(
            std::thread::Builder::new()
                .name("revalidator".into())
                .spawn(move || {
                    keep_off_pmd_cores(&cores);
                    crate::revalidator::revalidator_loop(s)
                })?,
        );
        if let Some(lb) = config.auto_lb {
            let s = shared.clone();
            let mode = config.rxq_assign;
            threads.push(
                std::thread::Builder::new()
                    .name("pmd-auto-lb".into())
                    .spawn(move || {
                        keep_off_pmd_cores(&others);
                        crate::rxqs::auto_lb_loop(s, lb, mode)
                    })?,
            );
        }
        let n = shared.pmds.len();
        Ok(Datapath {
            shared,
            threads: Mutex::new(threads),
            ports: RwLock::new(infos),
            finite_total: AtomicU64::new(finite_total),
            baselines: Mutex::new(vec![PmdStatsSnapshot::default(); n]),
        })
    }

    /// Milliseconds since the datapath started (its stats clock).
    pub fn now_ms(&self) -> u64 {
        self.shared.now_ms()
    }

    /// The ports (a copy: ports come and go at run time).
    pub fn ports(&self) -> Vec<PortInfo> {
        self.ports.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The PMDs' cores, by PMD index.
    pub fn pmd_cores(&self) -> Vec<Option<usize>> {
        self.shared.pmds.iter().map(|p| p.core).collect()
    }

    /// Each PMD's receive queues with their usage since the last
    /// assignment (`dpif-netdev/pmd-rxq-show`).
    pub fn pmd_rxqs(&self) -> Vec<PmdRxqs> {
        crate::rxqs::show(&self.shared)
    }

    /// Reassigns receive queues with the configured mode over the loads
    /// measured since the last assignment (`pmd-rxq-rebalance`).
    pub fn rebalance(&self) -> Result<Vec<RxqMove>, DatapathError> {
        Ok(crate::rxqs::rebalance(
            &self.shared,
            self.shared.config.rxq_assign,
        )?)
    }

    /// Adds a port while the datapath runs: every PMD gets the new port
    /// table, then its receive queues go to the PMDs with the fewest
    /// queues ([`Datapath::add_rxqs`]). Traffic on the other ports does
    /// not stop. A caller that must name the port somewhere before its
    /// first packet is received (a bridge, so that upcalls from it
    /// translate) passes no queues here and adds them afterwards.
    pub fn add_port(&self, p: PortSpec) -> Result<(), DatapathError> {
        let mut infos = self.ports.write().unwrap_or_else(|e| e.into_inner());
        if infos.iter().any(|i| i.odp == p.odp) {
            return Err(DatapathError::PortExists(p.odp));
        }
        {
            let mut t = self
                .shared
                .port_table
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let mut table: Vec<Option<DpPortTx>> = t.as_ref().clone();
            if table.len() <= p.odp as usize {
                table.resize(p.odp as usize + 1, None);
            }
            table[p.odp as usize] = Some(DpPortTx {
                odp: p.odp,
                tx: p.tx.clone(),
                stats: p.stats.clone(),
            });
            *t = Arc::new(table);
            for pmd in &self.shared.pmds {
                let _ = pmd.inbox.send(PmdMsg::SetPorts(t.clone()));
            }
        }
        infos.push(PortInfo {
            odp: p.odp,
            name: p.name.clone(),
            stats: p.stats.clone(),
            tx: p.tx.clone(),
        });
        drop(infos);
        self.add_rxqs(p.odp, &p.name, p.rxqs, p.finite);
        Ok(())
    }

    /// Gives the receive queues `rxqs` of port `odp` (named `name`; a
    /// `finite` input such as a capture read once) to the PMDs with the
    /// fewest queues; polling starts with the PMDs' next reload.
    pub fn add_rxqs(&self, odp: u32, name: &str, rxqs: Vec<Box<dyn RxQueue>>, finite: bool) {
        if rxqs.is_empty() {
            return;
        }
        let queues: Vec<AssignedRxq> = rxqs
            .into_iter()
            .enumerate()
            .map(|(qid, q)| AssignedRxq::new(odp, name, qid, q, finite))
            .collect();
        if finite {
            self.finite_total
                .fetch_add(queues.len() as u64, Ordering::AcqRel);
        }
        crate::rxqs::add(&self.shared, queues);
        self.shared.sync_pmds();
    }

    /// Removes a port while the datapath runs: its receive queues are
    /// taken back from their PMDs, then every PMD gets a port table
    /// without it (flushing what it had batched for it first). Returns the
    /// port once no PMD uses it; dropping the returned value (and the
    /// queues, dropped here) closes the device. Megaflows that send to the
    /// port drop those packets (counted as invalid port) until the
    /// caller's table change revalidates them. Traffic on the other ports
    /// does not stop.
    pub fn remove_port(&self, odp: u32) -> Result<PortInfo, DatapathError> {
        let mut infos = self.ports.write().unwrap_or_else(|e| e.into_inner());
        let at = infos
            .iter()
            .position(|i| i.odp == odp)
            .ok_or(DatapathError::NoSuchPort(odp))?;
        let taken = crate::rxqs::remove_port(&self.shared, odp)?;
        for (pmd, q) in &taken {
            if q.finite {
                self.finite_total.fetch_sub(1, Ordering::AcqRel);
                if q.exhausted_seen {
                    if let Some(p) = self.shared.pmds.get(*pmd) {
                        p.finite_done.fetch_sub(1, Ordering::AcqRel);
                    }
                }
            }
        }
        drop(taken);
        {
            let mut t = self
                .shared
                .port_table
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let mut table: Vec<Option<DpPortTx>> = t.as_ref().clone();
            if let Some(slot) = table.get_mut(odp as usize) {
                *slot = None;
            }
            *t = Arc::new(table);
            for pmd in &self.shared.pmds {
                let _ = pmd.inbox.send(PmdMsg::SetPorts(t.clone()));
            }
        }
        // Every PMD has switched tables (and flushed) when this returns.
        self.shared.sync_pmds();
        let info = infos.remove(at);
        info.tx.flush();
        Ok(info)
    }

    /// Per-PMD counters since the last [`Datapath::clear_pmd_stats`],
    /// fresh (every PMD publishes before answering).
    pub fn pmd_stats(&self) -> Vec<(Option<usize>, PmdStatsSnapshot)> {
        self.shared.sync_pmds();
        let base = self.baselines.lock().unwrap_or_else(|e| e.into_inner());
        self.shared
            .pmds
            .iter()
            .zip(base.iter())
            .map(|(p, b)| (p.core, p.stats.snapshot().since(b)))
            .collect()
    }

    /// Resets what [`Datapath::pmd_stats`] reports.
    pub fn clear_pmd_stats(&self) {
        self.shared.sync_pmds();
        let mut base = self.baselines.lock().unwrap_or_else(|e| e.into_inner());
        for (b, p) in base.iter_mut().zip(&self.shared.pmds) {
            *b = p.stats.snapshot();
        }
    }

    /// Datapath drop counters by reason (all PMDs), non-zero ones only.
    pub fn drop_stats(&self) -> Vec<(DropReason, u64)> {
        DropReason::ALL
            .iter()
            .map(|r| {
                let n = self
                    .shared
                    .pmds
                    .iter()
                    .map(|p| p.drops[*r as usize].load(Ordering::Relaxed))
                    .sum();
                (*r, n)
            })
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// Every installed megaflow, with the index of its PMD.
    pub fn dump_flows(&self) -> Vec<(usize, Arc<Megaflow>)> {
        let mut out = Vec::new();
        for p in &self.shared.pmds {
            let (tx, rx) = bounded(1);
            if p.inbox.send(PmdMsg::Dump(tx)).is_ok() {
                if let Ok(flows) = rx.recv_timeout(Duration::from_secs(5)) {
                    out.extend(flows.into_iter().map(|f| (p.id, f)));
                }
            }
        }
        out
    }

    /// Returns once every PMD has no upcall pending and has flushed its
    /// output. Call after injecting packets, to see them fully processed.
    /// False (and logged) when a PMD did not get there within 10 s.
    pub fn drain(&self) -> bool {
        let waits: Vec<_> = self
            .shared
            .pmds
            .iter()
            .filter_map(|p| {
                let (tx, rx) = bounded(1);
                p.inbox.send(PmdMsg::Drain(tx)).ok().map(|_| (p.id, rx))
            })
            .collect();
        let mut ok = true;
        for (id, rx) in waits {
            if rx.recv_timeout(Duration::from_secs(10)).is_err() {
                tracing::error!(pmd = id, "PMD did not drain within 10 s");
                ok = false;
            }
        }
        ok
    }

    /// Runs `change` (a change to the OpenFlow tables) under the slow-path
    /// write lock, then revalidates every megaflow and waits until every
    /// PMD has applied the result: when this returns, no packet is
    /// forwarded by a megaflow made from the old tables.
    pub fn change_tables<R>(&self, change: impl FnOnce() -> R) -> R {
        let r = {
            let _w = self
                .shared
                .slow_path
                .write()
                .unwrap_or_else(|e| e.into_inner());
            change()
        };
        if !revalidate(&self.shared, true).complete {
            tracing::error!("table change: a PMD did not confirm revalidation");
        }
        r
    }

    /// One revalidation pass now (waits for the PMDs to apply it).
    pub fn revalidate_now(&self) -> RevalStats {
        revalidate(&self.shared, true)
    }

    /// Sets every PMD's EMC inverse insertion probability.
    pub fn set_emc_insert_inv_prob(&self, p: u32) {
        for pmd in &self.shared.pmds {
            let _ = pmd.inbox.send(PmdMsg::SetEmcInsertInvProb(p));
        }
    }

    /// Whether every finite receive queue (non-looping capture) has ended.
    /// False when there is none.
    pub fn finite_rx_done(&self) -> bool {
        let done: u64 = self
            .shared
            .pmds
            .iter()
            .map(|p| p.finite_done.load(Ordering::Acquire))
            .sum();
        let total = self.finite_total.load(Ordering::Acquire);
        total > 0 && done >= total
    }

    /// Whether any receive queue is finite.
    pub fn has_finite_rx(&self) -> bool {
        self.finite_total.load(Ordering::Acquire) > 0
    }

    /// Stops every thread, then flushes every port. Idempotent.
    pub fn stop(&self) {
        self.shared.exit.store(true, Ordering::Release);
        let threads: Vec<_> = self
            .threads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect();
        if threads.is_empty() {
            return;
        }
        for t in threads {
            let _ = t.join();
        }
        for p in self.ports.read().unwrap_or_else(|e| e.into_inner()).iter() {
            p.tx.flush();
        }
    }
}

impl Drop for Datapath {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Confines the calling thread (a handler, the revalidator) to `cores`,
/// the cores no PMD is pinned to, as OVS keeps its other threads off PMD
/// cores. Left anywhere, a handler woken by a PMD was often queued on that
/// PMD's busy core (the scheduler places a woken thread near its waker)
/// and ran only when the PMD's time slice ended, milliseconds later: on
/// this project's 2-core VM a 12,000-frame capture could be read through
/// before its first megaflow was installed. Nothing is done when `cores`
/// is empty (PMDs unpinned, or on every core); a failure is logged.
fn keep_off_pmd_cores(cores: &[usize]) {
    use nix::sched::{sched_setaffinity, CpuSet};
    if cores.is_empty() {
        return;
    }
    let mut set = CpuSet::new();
    let res = cores
        .iter()
        .try_for_each(|&c| set.set(c))
        .and_then(|()| sched_setaffinity(nix::unistd::Pid::from_raw(0), &set));
    if let Err(e) = res {
        tracing::warn!(?cores, error = %e, "could not keep a thread off the PMD cores");
    }
}
