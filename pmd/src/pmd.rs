//! A PMD (poll-mode driver) thread: polls its receive queues and runs every
//! burst through its own fast path, pinned to one core.
//!
//! The loop, once per iteration:
//! 1. apply messages from the inbox (install / replace / remove megaflows,
//!    upcall results with their packets, dumps, barriers) — this is the
//!    only way anyone changes the PMD's EMC and classifier;
//! 2. poll every receive queue once: a burst of up to 32 goes through
//!    extract → EMC → dpcls → execute ([`FastPath`]); misses are queued to
//!    the upcall handlers (a full queue drops and counts, never blocks);
//! 3. recirculated packets go through again, at most
//!    [`MAX_RECIRC_DEPTH`] passes;
//! 4. per-port transmit batches are flushed;
//! 5. barriers whose condition now holds are answered; housekeeping
//!    (EMC sweep, subtable ranking) runs every so often.
//!
//! Receive queues and the port table change at run time only by message
//! ([`PmdMsg::AddRxqs`], [`PmdMsg::TakeRxqs`], [`PmdMsg::SetPorts`]),
//! between two iterations: a queue moves between PMDs by value, so it is
//! never polled by two threads, and a removed port's transmit side is
//! dropped by the PMD once it has flushed everything it had for it.
//! Each queue's processing cycles (receive plus the fast path for what
//! it received) are counted into its [`AssignedRxq::cycles`], which
//! travels with the queue; rxq scheduling reads them.
//!
//! # Thread safety
//! The PMD owns its fast path, queues, pool and sink outright (`&mut self`
//! in its own thread). Others reach it only through its bounded inbox
//! (crossbeam channel) and read its [`PmdStats`] (single-writer atomics).

use crate::cycles::CycleClock;
use crate::emc_auto::EmcAuto;
use crate::port::{PortStats, RxQueue, TxPort};
use crate::stats::PmdStats;
use crossbeam::channel::{Receiver, Sender, TrySendError};
use dpif_netdev::dpcls::DpclsError;
use dpif_netdev::execute::{execute, ActionSink, TxBatches};
use dpif_netdev::key::FlowKey;
use dpif_netdev::packet::{Packet, PacketBatch, PacketPool, DEFAULT_BUF_SIZE, MAX_BURST};
use dpif_netdev::pipeline::{FastPath, MAX_RECIRC_DEPTH};
use dpif_netdev::{DropReason, Megaflow};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// A miss on its way to an upcall handler.
pub struct Upcall {
    /// Index of the PMD that missed.
    pub pmd: usize,
    /// The PMD's sequence number of this upcall (given back with the
    /// result, so drains can wait for exactly the upcalls before them).
    pub seq: u64,
    /// The packet's flow key.
    pub key: FlowKey,
    /// The packet.
    pub packet: Packet,
}

/// A message to a PMD thread.
pub enum PmdMsg {
    /// Install `flow` (or use the identical one already installed) and run
    /// the upcalled `packets` through it. `install` is false when the flow
    /// limit is reached: the packets are still executed.
    Install {
        /// The megaflow.
        flow: Arc<Megaflow>,
        /// The packets that missed, in arrival order.
        packets: Vec<Packet>,
        /// Their upcall sequence numbers.
        seqs: Vec<u64>,
        /// Whether to install it in the classifier.
        install: bool,
    },
    /// The handler could not translate these packets: drop and count them.
    UpcallFailed {
        /// The packets.
        packets: Vec<Packet>,
        /// Their upcall sequence numbers.
        seqs: Vec<u64>,
    },
    /// Remove this megaflow if it is still installed.
    Remove(Arc<Megaflow>),
    /// Replace `old` (if still installed) by `new`.
    Replace {
        /// The megaflow to take out.
        old: Arc<Megaflow>,
        /// Its replacement (same key and mask).
        new: Arc<Megaflow>,
    },
    /// Send the installed megaflows.
    Dump(Sender<Vec<Arc<Megaflow>>>),
    /// Answer once every message before this one has been applied and
    /// the packets they ran are handed to their ports.
    Sync(Sender<()>),
    /// Answer once every upcall this PMD queued before the message
    /// arrived has been answered and the transmit batches are flushed
    /// (used after injecting packets, and at exit). Upcalls queued later
    /// do not hold it up, so other ports' new flows cannot starve it.
    Drain(Sender<()>),
    /// Set the EMC's inverse insertion probability.
    SetEmcInsertInvProb(u32),
    /// Start polling these receive queues.
    AddRxqs(Vec<AssignedRxq>),
    /// Stop polling the queues `(odp, qid)` listed (every queue of port
    /// `odp` when `qid` is `None`) and send them back.
    TakeRxqs {
        /// Which queues.
        which: Vec<(u32, Option<usize>)>,
        /// Where the queues go.
        reply: Sender<Vec<AssignedRxq>>,
    },
    /// Use this port table from now on (ports added or removed). Output
    /// batched before the message is flushed with the old table first.
    SetPorts(Arc<Vec<Option<DpPortTx>>>),
}

/// A receive queue assigned to a PMD, with the datapath port it belongs to.
pub struct AssignedRxq {
    /// Datapath port number.
    pub odp: u32,
    /// Port name (for logs and `pmd-rxq-show`).
    pub name: String,
    /// Queue id within the port.
    pub qid: usize,
    /// The queue.
    pub queue: Box<dyn RxQueue>,
    /// Whether the queue ends (non-looping capture).
    pub finite: bool,
    /// Processing cycles spent on this queue so far (written by the PMD
    /// polling it, relaxed; read by rxq scheduling).
    pub cycles: Arc<AtomicU64>,
    /// Whether this queue's end has been counted in `finite_done`.
    pub exhausted_seen: bool,
    /// Raw clock reading before which the PMD skips this queue (set after
    /// an empty poll of a queue with an idle poll interval; 0: poll).
    pub next_poll: u64,
    /// The queue's [`RxQueue::idle_poll_interval_us`], read once here
    /// rather than by a virtual call after every empty poll.
    pub idle_us: u32,
}

impl AssignedRxq {
    /// Queue `qid` of datapath port `odp` (named `name`), not yet polled.
    pub fn new(odp: u32, name: &str, qid: usize, queue: Box<dyn RxQueue>, finite: bool) -> Self {
        AssignedRxq {
            odp,
            name: name.to_owned(),
            qid,
            idle_us: queue.idle_poll_interval_us(),
            queue,
            finite,
            cycles: Arc::new(AtomicU64::new(0)),
            exhausted_seen: false,
            next_poll: 0,
        }
    }
}

/// The transmit side of a datapath port.
#[derive(Clone)]
pub struct DpPortTx {
    /// Datapath port number.
    pub odp: u32,
    /// The port's transmit side.
    pub tx: Arc<dyn TxPort>,
    /// The port's counters.
    pub stats: Arc<PortStats>,
}

/// What the datapath shares with a PMD thread.
pub struct PmdShared {
    /// Index of the PMD.
    pub id: usize,
    /// The core it is pinned to.
    pub core: Option<usize>,
    /// Counters.
    pub stats: Arc<PmdStats>,
    /// Drop counters by reason (index: `DropReason as usize`).
    pub drops: Arc<[AtomicU64; DropReason::ALL.len()]>,
    /// The inbox.
    pub inbox: Sender<PmdMsg>,
    /// Finite receive queues of this PMD that have ended.
    pub finite_done: Arc<AtomicU64>,
}

/// The PMD's action sink: per-port transmit batches, recirculation, drops
/// counted by reason with buffers recycled into the PMD's pool.
struct PmdSink {
    tx: TxBatches,
    pool: PacketPool,
    recirc: Vec<Packet>,
    drops: [u64; DropReason::ALL.len()],
    userspace: u64,
}

impl ActionSink for PmdSink {
    #[inline]
    fn output(&mut self, port: u32, pkt: Packet) {
        self.tx.output(port, pkt);
    }
    #[inline]
    fn output_run<I: Iterator<Item = Packet>>(&mut self, port: u32, pkts: I) {
        self.tx.output_run(port, pkts);
    }
    fn recirculate(&mut self, pkt: Packet) {
        self.recirc.push(pkt);
    }
    fn userspace(&mut self, pkt: Packet, _cookie: u64) {
        // No controller channel yet: counted and dropped.
        self.userspace += 1;
        self.drops[DropReason::NoController as usize] += 1;
        self.pool.free(pkt);
    }
    fn dropped(&mut self, pkt: Packet, reason: DropReason) {
        self.drops[reason as usize] += 1;
        self.pool.free(pkt);
    }
    fn free(&mut self, pkt: Packet) {
        self.pool.free(pkt);
    }
}

/// Settings of a PMD thread.
#[derive(Clone, Debug)]
pub struct PmdSettings {
    /// EMC entries.
    pub emc_entries: usize,
    /// EMC inverse insertion probability.
    pub emc_insert_inv_prob: u32,
    /// Whether the PMD may turn EMC lookups off when they cost more than
    /// they save ([`crate::emc_auto`]).
    pub emc_auto: bool,
}

/// A PMD thread's state (lives on its own thread).
pub struct PmdThread {
    id: usize,
    fp: FastPath,
    emc_auto: EmcAuto,
    rxqs: Vec<AssignedRxq>,
    ports: Arc<Vec<Option<DpPortTx>>>,
    inbox: Receiver<PmdMsg>,
    upcalls: Sender<Upcall>,
    stats: Arc<PmdStats>,
    drops: Arc<[AtomicU64; DropReason::ALL.len()]>,
    finite_done: Arc<AtomicU64>,
    sink: PmdSink,
    recirc_spare: Vec<Packet>,
    rejected: Vec<Packet>,
    /// Sequence number of the oldest unanswered upcall.
    done_base: u64,
    /// Answered flags of upcalls `done_base..`: the front is popped as soon
    /// as it is answered. Capacity grows to the most ever outstanding and
    /// is kept, so steady state does not allocate.
    done: std::collections::VecDeque<bool>,
    /// Drains waiting, with the sequence number they wait for.
    drains: Vec<(u64, Sender<()>)>,
    exit: Arc<AtomicBool>,
    clock: CycleClock,
}

impl PmdThread {
    /// A PMD with its queues, the port table (indexed by datapath port),
    /// its inbox and the upcall queue.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        shared: &PmdShared,
        settings: &PmdSettings,
        rxqs: Vec<AssignedRxq>,
        ports: Arc<Vec<Option<DpPortTx>>>,
        inbox: Receiver<PmdMsg>,
        upcalls: Sender<Upcall>,
        exit: Arc<AtomicBool>,
        start: Instant,
        cycles_per_ns: f64,
    ) -> PmdThread {
        PmdThread {
            id: shared.id,
            emc_auto: EmcAuto::new(settings.emc_auto),
            fp: FastPath::new(
                settings.emc_entries,
                settings.emc_insert_inv_prob,
                shared.id as u32 + 1,
            ),
            rxqs,
            ports,
            inbox,
            upcalls,
            stats: shared.stats.clone(),
            drops: shared.drops.clone(),
            finite_done: shared.finite_done.clone(),
            sink: PmdSink {
                tx: TxBatches::new(),
                pool: PacketPool::new(DEFAULT_BUF_SIZE, 4096),
                recirc: Vec::with_capacity(MAX_BURST),
                drops: [0; DropReason::ALL.len()],
                userspace: 0,
            },
            recirc_spare: Vec::with_capacity(MAX_BURST),
            rejected: Vec::with_capacity(MAX_BURST),
            done_base: 0,
            done: std::collections::VecDeque::new(),
            drains: Vec::new(),
            exit,
            clock: CycleClock::new(start, cycles_per_ns),
        }
    }

    /// Runs the loop until the exit flag is set, then flushes.
    pub fn run(mut self) {
        let mut batch = PacketBatch::new();
        let mut iter: u64 = 0;
        let mut last_rank = Instant::now();
        while !self.exit.load(Ordering::Acquire) {
            // One clock read gives both the iteration start and the stats
            // clock (see `cycles.rs`).
            let t0 = self.clock.raw();
            let now = self.clock.now_ms(t0);
            let executed = self.handle_messages(now);
            let mut rx = 0;
            // Cycles of a busy queue: from the previous busy queue's end
            // (or the iteration's start) to the next busy queue's start (or
            // the iteration's end, which includes its share of flushing).
            // The clock is read again only when a second queue turns out
            // busy, so a PMD with one busy queue reads it twice per
            // iteration, as before queues were measured.
            let mut mark = t0;
            let mut last_busy: Option<usize> = None;
            for q in 0..self.rxqs.len() {
                if self.rxqs[q].next_poll > t0 {
                    // Backing off an idle syscall-backed queue.
                    continue;
                }
                // A DPDK queue hands over raw mbufs first: its burst may be
                // forwarded mbuf to mbuf (`dpdk::direct`) before any packet
                // is made of them.
                #[cfg(feature = "dpdk")]
                let raw = self.rxqs[q]
                    .queue
                    .as_dpdk()
                    .map(|d| d.receive(MAX_BURST.saturating_sub(batch.len())));
                #[cfg(not(feature = "dpdk"))]
                let raw: Option<usize> = None;
                let n = match raw {
                    Some(n) => n,
                    None => self.rxqs[q].queue.rx_burst(&mut batch, &mut self.sink.pool),
                };
                if n == 0 {
                    let rxq = &mut self.rxqs[q];
                    if rxq.idle_us > 0 {
                        rxq.next_poll = t0 + rxq.idle_us as u64 * self.clock.raw_per_us();
                    }
                    if rxq.finite && !rxq.exhausted_seen && rxq.queue.is_exhausted() {
                        rxq.exhausted_seen = true;
                        self.finite_done.fetch_add(1, Ordering::Release);
                    }
                    continue;
                }
                // The previous busy queue's cycles end where this one's
                // work starts.
                if let Some(prev) = last_busy {
                    let t = self.clock.raw();
                    let c = self.clock.cycles(mark, t);
                    PmdStats::bump(&self.rxqs[prev].cycles, c);
                    mark = t;
                }
                last_busy = Some(q);
                let odp = self.rxqs[q].odp;
                #[cfg(feature = "dpdk")]
                let n = match (raw, self.rxqs[q].queue.as_dpdk()) {
                    (Some(n), Some(d)) => {
                        let simple = self.fp.dpcls.simple();
                        let direct = simple.port(odp).and_then(|index| {
                            crate::dpdk::direct::forward(
                                d,
                                n,
                                index,
                                simple,
                                &self.ports,
                                self.id,
                                now,
                            )
                        });
                        if let Some(done) = direct {
                            // Forwarded already: counted as the fast path,
                            // recirculation and flush_tx would have counted
                            // them (a decapsulated packet is two passes).
                            rx += n;
                            let again = done.decapsulated as u64;
                            self.fp.count_simple_hits(n as u64 + again);
                            PmdStats::bump(&self.stats.recirc_packets, again);
                            PmdStats::bump(&self.stats.tx_packets, n as u64);
                            continue;
                        }
                        d.wrap(n, &mut batch, &mut self.sink.pool)
                    }
                    _ => n,
                };
                for p in batch.packets_mut() {
                    p.md.in_port = odp;
                }
                rx += n;
                self.process(&mut batch, now);
            }
            self.recirculate(&mut batch, now);
            self.flush_tx();
            self.answer_drains();
            iter += 1;
            let s = &self.stats;
            PmdStats::bump(&s.iterations, 1);
            let end = self.clock.raw();
            let cycles = self.clock.cycles(t0, end);
            if let Some(q) = last_busy {
                let c = self.clock.cycles(mark, end);
                PmdStats::bump(&self.rxqs[q].cycles, c);
            }
            PmdStats::bump(&s.rx_packets, rx as u64);
            if rx > 0 {
                let on = self.emc_auto.record(rx as u64, cycles);
                if on != self.fp.emc_lookups() {
                    self.fp.set_emc_lookups(on);
                }
            }
            if rx > 0 || executed > 0 {
                // Busy: received, or ran upcalled packets.
                PmdStats::bump(&s.busy_iterations, 1);
                PmdStats::bump(&s.busy_cycles, cycles);
            } else {
                PmdStats::bump(&s.idle_cycles, cycles);
            }
            if iter & 1023 == 0 {
                self.housekeeping(&mut last_rank);
            }
        }
        self.flush_tx();
        self.publish_counters();
        // Answer anyone still waiting so no caller hangs at shutdown.
        for (_, d) in self.drains.drain(..) {
            let _ = d.send(());
        }
    }

    fn housekeeping(&mut self, last_rank: &mut Instant) {
        self.fp.emc.sweep(64);
        self.clock.resync();
        if last_rank.elapsed().as_millis() >= 1000 {
            self.fp.dpcls.rank();
            *last_rank = Instant::now();
        }
        self.publish_counters();
    }

    /// Runs one burst through the fast path; misses go to the handlers.
    fn process(&mut self, batch: &mut PacketBatch, now: u64) {
        let (pmd, upcalls) = (self.id, &self.upcalls);
        let mut queued = 0usize;
        let mut full = 0u64;
        let rejected = &mut self.rejected;
        let (done, base) = (&mut self.done, self.done_base);
        self.fp.process(batch, now, &mut self.sink, |packet, key| {
            match upcalls.try_send(Upcall {
                pmd,
                seq: base + done.len() as u64,
                key: *key,
                packet,
            }) {
                Ok(()) => {
                    queued += 1;
                    done.push_back(false);
                }
                Err(TrySendError::Full(u)) | Err(TrySendError::Disconnected(u)) => {
                    full += 1;
                    rejected.push(u.packet);
                }
            }
        });
        // Buffers of misses the queue refused go back to the pool, not to
        // the allocator (this happens exactly when the PMD is busiest).
        for p in self.rejected.drain(..) {
            self.sink.pool.free(p);
        }
        let s = &self.stats;
        PmdStats::bump(&s.upcalls, queued as u64);
        PmdStats::bump(&s.upcalls_dropped, full);
        self.sink.drops[DropReason::UpcallQueueFull as usize] += full;
    }

    fn recirculate(&mut self, batch: &mut PacketBatch, now: u64) {
        let mut depth = 1;
        while !self.sink.recirc.is_empty() {
            // Swap with a spare vector so that neither reallocates.
            let mut pkts = std::mem::replace(
                &mut self.sink.recirc,
                std::mem::take(&mut self.recirc_spare),
            );
            if depth >= MAX_RECIRC_DEPTH {
                for p in pkts.drain(..) {
                    self.sink.dropped(p, DropReason::RecircDepth);
                }
                self.recirc_spare = pkts;
                break;
            }
            PmdStats::bump(&self.stats.recirc_packets, pkts.len() as u64);
            for p in pkts.drain(..) {
                if let Err(p) = batch.push(p) {
                    self.process(batch, now);
                    let _ = batch.push(p);
                }
            }
            self.recirc_spare = pkts;
            self.process(batch, now);
            depth += 1;
        }
    }

    fn flush_tx(&mut self) {
        let (ports, pool, id) = (&self.ports, &mut self.sink.pool, self.id);
        let mut sent = 0u64;
        let mut no_port = 0u64;
        self.sink.tx.flush(
            |port, b| match ports.get(port as usize).and_then(|p| p.as_ref()) {
                Some(p) => {
                    sent += b.len() as u64;
                    p.tx.send(id, b, pool);
                }
                None => {
                    no_port += b.len() as u64;
                    for pkt in b.drain() {
                        pool.free(pkt);
                    }
                }
            },
        );
        PmdStats::bump(&self.stats.tx_packets, sent);
        self.sink.drops[DropReason::InvalidPort as usize] += no_port;
        // Anything TxBatches could not hand over is in its drop list.
        if !self.sink.tx.dropped.is_empty() {
            let mut dropped = std::mem::take(&mut self.sink.tx.dropped);
            for (p, r) in dropped.drain(..) {
                self.sink.dropped(p, r);
            }
            // Give the (now empty) vector back so it keeps its capacity.
            self.sink.tx.dropped = dropped;
        }
    }

    fn answer_drains(&mut self) {
        let base = self.done_base;
        if !self.drains.iter().any(|(t, _)| base >= *t) {
            return;
        }
        self.hand_over_and_publish();
        self.drains.retain(|(t, d)| {
            if base >= *t {
                let _ = d.send(());
                false
            } else {
                true
            }
        });
    }

    /// Hands every packet run so far to its port (the PMD's transmit
    /// batches, then each port's own buffering) and publishes the
    /// counters: what a sync or a drain answers after.
    fn hand_over_and_publish(&mut self) {
        self.flush_tx();
        for port in self.ports.iter().flatten() {
            port.tx.flush();
        }
        self.publish_counters();
    }

    /// Marks upcalls answered and advances the window past the answered
    /// prefix.
    fn complete_upcalls(&mut self, seqs: &[u64]) {
        for &q in seqs {
            if let Some(i) = q.checked_sub(self.done_base) {
                if let Some(f) = self.done.get_mut(i as usize) {
                    *f = true;
                }
            }
        }
        while self.done.front() == Some(&true) {
            self.done.pop_front();
            self.done_base += 1;
        }
    }

    /// Copies the sink's drop counters and the classifier size to the
    /// shared counters.
    fn publish_counters(&mut self) {
        let mut total = 0;
        for (i, n) in self.sink.drops.iter_mut().enumerate() {
            if *n > 0 {
                PmdStats::bump(&self.drops[i], *n);
                total += *n;
                *n = 0;
            }
        }
        let s = &self.stats;
        PmdStats::bump(&s.dropped, total);
        let fs = self.fp.stats;
        let set = |c: &AtomicU64, v: u64| c.store(v, Ordering::Relaxed);
        set(&s.simple_match_hits, fs.simple_hits);
        set(&s.emc_hits, fs.emc_hits);
        set(&s.emc_plain_hits, fs.emc_plain_hits);
        set(&s.emc_skipped, fs.emc_skipped);
        set(&s.megaflow_hits, fs.megaflow_hits);
        set(&s.subtable_lookups, fs.subtable_probes);
        set(&s.runts, fs.runts);
        set(&s.megaflows, self.fp.dpcls.len() as u64);
    }

    /// Applies the inbox; returns the number of upcalled packets run.
    fn handle_messages(&mut self, now: u64) -> usize {
        let mut executed = 0;
        while let Ok(m) = self.inbox.try_recv() {
            match m {
                PmdMsg::Install {
                    flow,
                    packets,
                    seqs,
                    install,
                } => {
                    self.complete_upcalls(&seqs);
                    // A flow removed before its install arrived (not
                    // expected: see revalidator.rs) is run, not installed.
                    let flow = if install && flow.is_alive() {
                        match self.fp.dpcls.insert(flow.clone()) {
                            Ok(()) => flow,
                            Err(DpclsError::Exists { existing }) => {
                                // Another upcall of this flow won the race:
                                // mark ours dead so its ukey is collected.
                                flow.kill();
                                existing
                            }
                        }
                    } else {
                        flow
                    };
                    let (mut n, mut bytes, mut tcp) = (0u64, 0u64, 0u16);
                    executed += packets.len();
                    for p in packets {
                        n += 1;
                        bytes += p.len() as u64;
                        tcp |= tcp_flags_of(&p);
                        execute(&flow.actions, p, &mut self.sink);
                    }
                    flow.stats.add(n, bytes, now, tcp);
                }
                PmdMsg::UpcallFailed { packets, seqs } => {
                    self.complete_upcalls(&seqs);
                    PmdStats::bump(&self.stats.upcalls_failed, packets.len() as u64);
                    for p in packets {
                        self.sink.dropped(p, DropReason::UpcallError);
                    }
                }
                PmdMsg::Remove(flow) => {
                    if !self.fp.dpcls.remove_flow(&flow) {
                        // Never installed (lost a race to an identical
                        // one): mark it dead so its ukey is collected.
                        flow.kill();
                    }
                }
                PmdMsg::Replace { old, new } => {
                    if !self.fp.dpcls.remove_flow(&old) {
                        old.kill();
                        new.kill();
                    } else if let Err(DpclsError::Exists { .. }) = self.fp.dpcls.insert(new.clone())
                    {
                        new.kill();
                    }
                }
                PmdMsg::Dump(reply) => {
                    let _ = reply.send(self.fp.dpcls.iter().cloned().collect());
                }
                PmdMsg::Sync(reply) => {
                    // Packets that earlier messages ran (an `Install`'s
                    // upcalled packets) go out first: when a table change
                    // returns, no packet of the old tables is still to
                    // reach a port.
                    self.hand_over_and_publish();
                    let _ = reply.send(());
                }
                PmdMsg::Drain(reply) => {
                    let target = self.done_base + self.done.len() as u64;
                    self.drains.push((target, reply));
                }
                PmdMsg::SetEmcInsertInvProb(p) => self.fp.emc.set_insert_inv_prob(p),
                PmdMsg::AddRxqs(qs) => self.rxqs.extend(qs),
                PmdMsg::TakeRxqs { which, reply } => {
                    let wanted = |q: &AssignedRxq| {
                        which.iter().any(|&(odp, qid)| {
                            q.odp == odp && (qid.is_none() || qid == Some(q.qid))
                        })
                    };
                    let mut taken = Vec::new();
                    let mut i = 0;
                    while i < self.rxqs.len() {
                        if wanted(&self.rxqs[i]) {
                            taken.push(self.rxqs.remove(i));
                        } else {
                            i += 1;
                        }
                    }
                    // If nobody waits any more, the queues drop here.
                    let _ = reply.send(taken);
                }
                PmdMsg::SetPorts(table) => {
                    // Whatever is batched goes out through the old table.
                    self.flush_tx();
                    self.ports = table;
                }
            }
        }
        executed
    }
}

/// TCP flags of a packet for megaflow stats of upcalled packets (the
/// fast path takes them from the key; here the key is gone).
fn tcp_flags_of(p: &Packet) -> u16 {
    let mut k = FlowKey::ZERO;
    dpif_netdev::extract::extract_frame(p.data(), &p.md, &mut k);
    k.tcp_flags
}
