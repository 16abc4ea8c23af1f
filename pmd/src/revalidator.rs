//! The revalidator: keeps installed megaflows true and their stats flowing
//! back to OpenFlow rules.
//!
//! Every `revalidate_interval_ms` (and synchronously after every table
//! change, see [`crate::datapath::Datapath::change_tables`]) it:
//! 1. asks every PMD for its megaflows (a message; the PMD answers from its
//!    own thread);
//! 2. pushes each megaflow's new packets and bytes to the rules that
//!    produced it;
//! 3. removes megaflows idle for `max_idle_ms`;
//! 4. when the tables changed since a megaflow was made, translates its
//!    packet again: same actions → kept; new actions with a mask the old
//!    one covers → replaced in place; otherwise removed;
//! 5. enforces the per-PMD flow limit, least recently used first.
//!
//! # Thread safety
//! Runs on its own thread or the control thread, serialised by the
//! revalidation mutex; talks to PMDs only by message.

use crate::datapath::{Shared, Ukey};
use crate::pmd::PmdMsg;
use dpif_netdev::Megaflow;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// What one revalidation pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RevalStats {
    /// Megaflows looked at.
    pub flows: usize,
    /// Removed for being idle.
    pub idle_removed: usize,
    /// Removed because the tables changed and they no longer hold.
    pub stale_removed: usize,
    /// Given new actions in place.
    pub replaced: usize,
    /// Removed to respect the flow limit.
    pub limit_removed: usize,
    /// Whether every PMD answered (its dump, and the final sync when one
    /// was asked for). False means some megaflows may not have been seen.
    pub complete: bool,
}

/// The revalidator thread.
pub fn revalidator_loop(shared: Arc<Shared>) {
    let step = Duration::from_millis(20);
    let mut waited = Duration::ZERO;
    let interval = Duration::from_millis(shared.config.revalidate_interval_ms.max(1));
    while !shared.exit.load(Ordering::Acquire) {
        std::thread::sleep(step);
        waited += step;
        if waited >= interval {
            waited = Duration::ZERO;
            revalidate(&shared, false);
        }
    }
}

/// One pass. With `sync`, returns only after every PMD has applied the
/// resulting changes.
pub fn revalidate(shared: &Shared, sync: bool) -> RevalStats {
    let _serial = shared.reval_lock.lock().unwrap_or_else(|e| e.into_inner());
    let now = shared.now_ms();
    let version = shared.translator.version();
    let mut st = RevalStats {
        complete: true,
        ..RevalStats::default()
    };

    let mut dumps: Vec<Vec<Arc<Megaflow>>> = Vec::with_capacity(shared.pmds.len());
    for p in &shared.pmds {
        let (tx, rx) = crossbeam::channel::bounded(1);
        let flows = match p.inbox.send(PmdMsg::Dump(tx)) {
            Ok(()) => rx.recv_timeout(Duration::from_secs(5)).unwrap_or_else(|_| {
                if !shared.exit.load(Ordering::Acquire) {
                    tracing::error!(pmd = p.id, "PMD did not answer a flow dump within 5 s");
                    st.complete = false;
                }
                Vec::new()
            }),
            Err(_) => Vec::new(),
        };
        dumps.push(flows);
    }

    let mut ukeys = shared.ukeys.lock().unwrap_or_else(|e| e.into_inner());
    // Megaflows removed since the last pass: push their last hits (the PMD
    // stopped writing their stats when it removed them) and forget them.
    ukeys.retain(|_, u| {
        if u.flow.is_alive() {
            return true;
        }
        push_delta(u);
        false
    });
    for (pmd, flows) in dumps.iter().enumerate() {
        let inbox = &shared.pmds[pmd].inbox;
        let mut kept: Vec<(u64, Arc<Megaflow>)> = Vec::with_capacity(flows.len());
        for f in flows {
            st.flows += 1;
            let Some(u) = ukeys.get_mut(&f.ufid) else {
                continue;
            };
            let s = f.stats.snapshot();
            let last = s.used.max(u.created);
            if now.saturating_sub(last) >= shared.config.max_idle_ms {
                push_delta(u);
                let _ = inbox.send(PmdMsg::Remove(f.clone()));
                st.idle_removed += 1;
                continue;
            }
            if u.version != version {
                // Translate first: hits go to the rules as they are now
                // (a modified rule is a new `Rule`; the old one is gone
                // from the tables), as OVS's revalidate_ukey does.
                let t = shared.translator.translate(&u.key);
                if let Ok(t) = &t {
                    u.rules = t.rules.clone();
                }
                push_delta(u);
                match t {
                    Ok(t) if f.mask.covers(&t.mask) => {
                        if t.actions == f.actions {
                            u.version = version;
                            u.rules = t.rules;
                        } else {
                            let ufid = shared.next_ufid.fetch_add(1, Ordering::Relaxed) as u128;
                            let new = Arc::new(Megaflow::new(&f.key, f.mask, t.actions, ufid));
                            let nu = Ukey {
                                pmd,
                                key: u.key,
                                flow: new.clone(),
                                rules: t.rules,
                                version,
                                pushed: Default::default(),
                                created: now,
                            };
                            let _ = inbox.send(PmdMsg::Replace {
                                old: f.clone(),
                                new,
                            });
                            ukeys.insert(ufid, nu);
                            st.replaced += 1;
                            continue;
                        }
                    }
                    _ => {
                        let _ = inbox.send(PmdMsg::Remove(f.clone()));
                        st.stale_removed += 1;
                        continue;
                    }
                }
            }
            push_delta(u);
            kept.push((last, f.clone()));
        }
        let limit = shared.config.flow_limit;
        if kept.len() > limit {
            kept.sort_by_key(|(used, _)| *used);
            let excess = kept.len() - limit;
            for (_, f) in kept.drain(..excess) {
                let _ = inbox.send(PmdMsg::Remove(f));
                st.limit_removed += 1;
            }
        }
    }
    drop(ukeys);

    if sync && !shared.sync_pmds() {
        st.complete = false;
    }
    st
}

/// Pushes a megaflow's hits since the last push to the rules it was
/// translated through.
fn push_delta(u: &mut Ukey) {
    let s = u.flow.stats.snapshot();
    let (dp, db) = (
        s.packets.saturating_sub(u.pushed.packets),
        s.bytes.saturating_sub(u.pushed.bytes),
    );
    if dp > 0 {
        for r in &u.rules {
            r.stats.add(dp, db, s.used);
        }
    }
    u.pushed = s;
}
