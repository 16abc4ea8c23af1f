//! The revalidator: keeps installed megaflows true and their stats flowing
//! back to OpenFlow rules.
//!
//! Every `revalidate_interval_ms` (and synchronously after every table
//! change, see [`crate::datapath::Datapath::change_tables`]) it:
//! 1. lists the installed megaflows from the ukeys (the slow path's own
//!    record of every install);
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
use dpif_netdev::key::FlowKey;
use dpif_netdev::Megaflow;
use ofproto::table::Rule;
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
    /// Whether every PMD answered the final sync (when one was asked for).
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

/// What a pass decided for one megaflow.
enum Verdict {
    /// Still right; new rules to credit and learning flag (when
    /// re-translated).
    Keep(Option<(Vec<Arc<Rule>>, bool)>),
    /// Idle: remove.
    Idle,
    /// Stale: remove; rules to credit its last hits to.
    Stale(Option<Vec<Arc<Rule>>>),
    /// Same match, new actions (and rules, learning flag).
    Replace(Arc<Megaflow>, Vec<Arc<Rule>>, bool),
}

/// One pass. With `sync`, returns only after every PMD has applied the
/// resulting changes.
///
/// The megaflows come from the ukeys (every install registers one before
/// its `Install` message is sent), not from dumping the PMDs: a dump made
/// each PMD clone every megaflow's `Arc` in one go, a stall proportional to
/// its flow count. A ukey whose `Install` is still in flight is harmless:
/// the PMD applies messages in order, so a `Remove` or `Replace` sent now
/// lands after it. Translations run with the ukeys unlocked, so upcall
/// handlers (which register ukeys) are not held up by a long pass.
pub fn revalidate(shared: &Shared, sync: bool) -> RevalStats {
    let _serial = shared.reval_lock.lock().unwrap_or_else(|e| e.into_inner());
    let now = shared.now_ms();
    let version = shared.translator.version();
    let mut st = RevalStats {
        complete: true,
        ..RevalStats::default()
    };

    // 1. Under the lock: forget removed megaflows (pushing their last
    //    hits: the PMD stopped writing their stats when it removed them)
    //    and list the live ones.
    let items: Vec<(u128, usize, Arc<Megaflow>, FlowKey, u64, u64)> = {
        let mut ukeys = shared.ukeys.lock().unwrap_or_else(|e| e.into_inner());
        ukeys.retain(|_, u| {
            if u.flow.is_alive() {
                return true;
            }
            push_delta(shared, u);
            false
        });
        ukeys
            .iter()
            .map(|(id, u)| (*id, u.pmd, u.flow.clone(), u.key, u.version, u.created))
            .collect()
    };

    // 2. Unlocked: decide.
    let mut verdicts: Vec<(u128, usize, Arc<Megaflow>, Verdict, u64)> = Vec::new();
    for (id, pmd, f, key, v, created) in items {
        st.flows += 1;
        let last = f.stats.snapshot().used.max(created);
        let verdict = if now.saturating_sub(last) >= shared.config.max_idle_ms {
            Verdict::Idle
        } else if v != version {
            match shared.translator.retranslate(&key) {
                Ok(t) if f.mask.covers(&t.mask) && t.actions == f.actions => {
                    Verdict::Keep(Some((t.rules, t.learns)))
                }
                Ok(t) if f.mask.covers(&t.mask) => {
                    let ufid = shared.next_ufid.fetch_add(1, Ordering::Relaxed) as u128;
                    let new = Arc::new(Megaflow::new(&f.key, f.mask, t.actions, ufid));
                    Verdict::Replace(new, t.rules, t.learns)
                }
                Ok(t) => Verdict::Stale(Some(t.rules)),
                Err(_) => Verdict::Stale(None),
            }
        } else {
            Verdict::Keep(None)
        };
        verdicts.push((id, pmd, f, verdict, last));
    }

    // 3. Locked again: credit rules, update ukeys; collect messages.
    let mut msgs: Vec<(usize, PmdMsg)> = Vec::new();
    let mut kept: Vec<Vec<(u64, Arc<Megaflow>)>> = vec![Vec::new(); shared.pmds.len()];
    {
        let mut ukeys = shared.ukeys.lock().unwrap_or_else(|e| e.into_inner());
        for (id, pmd, f, verdict, last) in verdicts {
            let Some(u) = ukeys.get_mut(&id) else {
                continue;
            };
            match verdict {
                Verdict::Keep(rules) => {
                    // Hits go to the rules as they are now (a modified rule
                    // is a new `Rule`), as OVS's revalidate_ukey does.
                    if let Some((r, learns)) = rules {
                        u.rules = r;
                        u.learns = learns;
                        u.version = version;
                    }
                    push_delta(shared, u);
                    if let Some(k) = kept.get_mut(pmd) {
                        k.push((last, f));
                    }
                }
                Verdict::Idle => {
                    push_delta(shared, u);
                    msgs.push((pmd, PmdMsg::Remove(f)));
                    st.idle_removed += 1;
                }
                Verdict::Stale(rules) => {
                    if let Some(r) = rules {
                        u.rules = r;
                    }
                    push_delta(shared, u);
                    msgs.push((pmd, PmdMsg::Remove(f)));
                    st.stale_removed += 1;
                }
                Verdict::Replace(new, rules, learns) => {
                    u.rules = rules.clone();
                    push_delta(shared, u);
                    let nu = Ukey {
                        pmd,
                        key: u.key,
                        flow: new.clone(),
                        rules,
                        learns,
                        version,
                        pushed: Default::default(),
                        created: now,
                    };
                    ukeys.insert(new.ufid, nu);
                    msgs.push((pmd, PmdMsg::Replace { old: f, new }));
                    st.replaced += 1;
                }
            }
        }
    }

    // 4. The flow limit, least recently used first.
    let limit = shared.config.flow_limit;
    for (pmd, mut flows) in kept.into_iter().enumerate() {
        if flows.len() > limit {
            flows.sort_by_key(|(used, _)| *used);
            let excess = flows.len() - limit;
            for (_, f) in flows.drain(..excess) {
                msgs.push((pmd, PmdMsg::Remove(f)));
                st.limit_removed += 1;
            }
        }
    }

    // 5. Unlocked: tell the PMDs (a send may wait for room in an inbox).
    for (pmd, m) in msgs {
        if let Some(p) = shared.pmds.get(pmd) {
            let _ = p.inbox.send(m);
        }
    }
    if sync && !shared.sync_pmds() {
        st.complete = false;
    }
    st
}

/// Pushes a megaflow's hits since the last push to the rules it was
/// translated through.
fn push_delta(shared: &Shared, u: &mut Ukey) {
    let s = u.flow.stats.snapshot();
    let (dp, db) = (
        s.packets.saturating_sub(u.pushed.packets),
        s.bytes.saturating_sub(u.pushed.bytes),
    );
    if dp > 0 {
        for r in &u.rules {
            r.stats.add(dp, db, s.used);
        }
        if u.learns {
            shared.translator.on_traffic(&u.key);
        }
    }
    u.pushed = s;
}
