//! Upcall handler threads: the slow path's entry point.
//!
//! A handler takes misses from the shared upcall queue in batches, groups
//! them by (PMD, flow key) so each distinct flow is translated once, asks
//! the [`Translator`] (the OpenFlow pipeline) for datapath actions and a
//! megaflow mask, and sends the PMD that missed an `Install` message with
//! the new megaflow and every missed packet of that flow. The PMD installs
//! it (or finds the identical one another upcall installed first) and runs
//! the packets through it, so each missed packet is executed exactly once,
//! by its own PMD, in arrival order within the flow.
//!
//! Translation and the send happen under the datapath's slow-path read
//! lock; table changes take the write lock, so an install computed from
//! old tables is already in the PMD's inbox when revalidation starts, and
//! revalidation sees and fixes it.
//!
//! # Thread safety
//! Handlers share the upcall queue (crossbeam MPMC channel), the ukey map
//! (mutex, slow path only) and the translator (`Send + Sync`).

use crate::datapath::{Shared, Ukey};
use crate::pmd::{PmdMsg, Upcall};
use dpif_netdev::actions::DpActions;
use dpif_netdev::key::{FlowKey, FlowMask};
use dpif_netdev::packet::Packet;
use dpif_netdev::Megaflow;
use ofproto::table::Rule;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// The result of translating one flow.
#[derive(Clone, Debug)]
pub struct Translation {
    /// Datapath actions (empty = drop).
    pub actions: DpActions,
    /// Megaflow mask.
    pub mask: FlowMask,
    /// Rules that matched (their stats get the megaflow's hits).
    pub rules: Vec<Arc<Rule>>,
    /// Whether traffic through this megaflow teaches the slow path
    /// something (NORMAL's MAC learning): then the revalidator calls
    /// [`Translator::on_traffic`] when it credits the megaflow's hits.
    pub learns: bool,
}

impl From<ofproto::xlate::XlateOut> for Translation {
    /// A translation as the datapath needs it (whether NORMAL asked to
    /// learn from the megaflow's traffic included).
    fn from(x: ofproto::xlate::XlateOut) -> Translation {
        Translation {
            actions: x.actions,
            mask: x.mask,
            rules: x.rules,
            learns: x.learns,
        }
    }
}

/// Why a flow could not be translated.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TranslateError {
    /// No bridge owns the packet's input port.
    #[error("no bridge has datapath port {0}")]
    NoSuchPort(u32),
}

/// The slow path as the datapath sees it: implemented by the bridge layer
/// over ofproto's tables.
pub trait Translator: Send + Sync {
    /// Translates a flow key (datapath `in_port`).
    fn translate(&self, key: &FlowKey) -> Result<Translation, TranslateError>;
    /// Translates a flow again for revalidation: as `translate`, but with
    /// no side effects such as MAC learning (the packet is not new).
    fn retranslate(&self, key: &FlowKey) -> Result<Translation, TranslateError> {
        self.translate(key)
    }
    /// A megaflow made from `key`, whose translation said it `learns`, had
    /// new hits (called by the revalidator when it credits them): learn
    /// from it again, as the packets never reached the slow path (NORMAL
    /// relearns the source MAC, which also keeps it from aging out).
    fn on_traffic(&self, _key: &FlowKey) {}
    /// A number that changes whenever any table changes.
    fn version(&self) -> u64;
}

/// Most upcalls a handler takes at once.
const HANDLER_BATCH: usize = 64;

/// Runs a handler thread until the exit flag is set.
pub fn handler_loop(shared: Arc<Shared>) {
    let mut batch: Vec<Upcall> = Vec::with_capacity(HANDLER_BATCH);
    while !shared.exit.load(Ordering::Acquire) {
        match shared.upcall_rx.recv_timeout(Duration::from_millis(50)) {
            Ok(u) => batch.push(u),
            Err(_) => continue,
        }
        while batch.len() < HANDLER_BATCH {
            match shared.upcall_rx.try_recv() {
                Ok(u) => batch.push(u),
                Err(_) => break,
            }
        }
        handle_batch(&shared, &mut batch);
    }
}

/// Translates and answers one batch of upcalls.
pub(crate) fn handle_batch(shared: &Shared, batch: &mut Vec<Upcall>) {
    // Group by (pmd, key), keeping arrival order within each group.
    let mut groups: Vec<(usize, FlowKey, Vec<Packet>, Vec<u64>)> = Vec::new();
    for u in batch.drain(..) {
        match groups
            .iter_mut()
            .find(|(p, k, _, _)| *p == u.pmd && *k == u.key)
        {
            Some(g) => {
                g.2.push(u.packet);
                g.3.push(u.seq);
            }
            None => groups.push((u.pmd, u.key, vec![u.packet], vec![u.seq])),
        }
    }
    // Hold the slow-path read lock from translation until the results are
    // in the PMDs' inboxes (see the module docs).
    let _guard = shared.slow_path.read().unwrap_or_else(|e| e.into_inner());
    let version = shared.translator.version();
    for (pmd, key, packets, seqs) in groups {
        let Some(inbox) = shared.pmds.get(pmd).map(|p| p.inbox.clone()) else {
            continue;
        };
        // A panic in translation must not take the slow path down with
        // it: the packets are dropped as failed upcalls instead.
        let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            shared.translator.translate(&key)
        }));
        let res = match res {
            Ok(r) => r,
            Err(_) => {
                tracing::error!(?key, "translation panicked; packets dropped");
                let _ = inbox.send(PmdMsg::UpcallFailed { packets, seqs });
                continue;
            }
        };
        match res {
            Ok(t) => {
                let ufid = shared.next_ufid.fetch_add(1, Ordering::Relaxed) as u128;
                let flow = Arc::new(Megaflow::new(&key, t.mask, t.actions, ufid));
                let installed = shared.pmds[pmd].stats.megaflows.load(Ordering::Relaxed);
                let install = (installed as usize) < shared.config.flow_limit;
                if !install {
                    // Over the flow limit: the packets are executed without
                    // a megaflow, so their hits go to the rules here.
                    let bytes: u64 = packets.iter().map(|p| p.len() as u64).sum();
                    for r in &t.rules {
                        r.stats.add(packets.len() as u64, bytes, shared.now_ms());
                    }
                }
                if install {
                    shared
                        .ukeys
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(
                            ufid,
                            Ukey {
                                pmd,
                                key,
                                flow: flow.clone(),
                                rules: t.rules,
                                learns: t.learns,
                                version,
                                pushed: Default::default(),
                                created: shared.now_ms(),
                            },
                        );
                }
                let _ = inbox.send(PmdMsg::Install {
                    flow,
                    packets,
                    seqs,
                    install,
                });
            }
            Err(e) => {
                tracing::debug!(error = %e, "upcall failed");
                let _ = inbox.send(PmdMsg::UpcallFailed { packets, seqs });
            }
        }
    }
}
