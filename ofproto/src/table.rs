//! OpenFlow flow tables: 255 tables of rules, `ovs-ofctl` add / modify /
//! delete semantics, per-rule stats, idle and hard timeouts, and a version
//! number that changes with every modification.
//!
//! Semantics follow `ovs-ofctl` against OVS (OpenFlow 1.0 with NXM, its
//! default):
//! - **add**: a rule with the same match and priority in the same table is
//!   replaced (its counters reset);
//! - **modify** (non-strict): every rule in the table (or in every table
//!   when none is given) whose match is within the given match, and whose
//!   cookie agrees under the cookie mask, gets the new actions, keeping its
//!   counters; if none matched, the flow is added, as OpenFlow 1.0
//!   specifies; **modify --strict** does the same for the rule with exactly
//!   that match and priority;
//! - **delete** (non-strict): every rule within the match (cookie and
//!   `out_port` filters applied) in the table or all tables;
//!   **delete --strict**: the rule with exactly that match and priority.
//!
//! A batch of changes ([`Tables::apply`]) is all or nothing: it is checked
//! completely before anything changes.
//!
//! # Thread safety
//! `Tables` is plain data changed through `&mut self`; the running switch
//! owns it behind its own synchronisation. Rule stats are atomics so that
//! the revalidator can push megaflow stats into rules that translation
//! results hold by `Arc`.

use crate::cls::Classifier;
use crate::flow::{Flow, Match};
use crate::flow_mod::{FlowMod, FlowModCommand};
use crate::ofaction::OfAction;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Number of OpenFlow tables (0..=254).
pub const N_TABLES: usize = 255;

/// Counters of one rule.
#[derive(Debug, Default)]
pub struct RuleStats {
    packets: AtomicU64,
    bytes: AtomicU64,
    /// Caller's ms clock of the last hit (0 = never).
    used: AtomicU64,
}

impl RuleStats {
    /// Adds hits seen by the datapath.
    pub fn add(&self, packets: u64, bytes: u64, used: u64) {
        self.packets.fetch_add(packets, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.used.fetch_max(used, Ordering::Relaxed);
    }

    /// (packets, bytes, used).
    pub fn get(&self) -> (u64, u64, u64) {
        (
            self.packets.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
            self.used.load(Ordering::Relaxed),
        )
    }

    fn copy_from(&self, other: &RuleStats) {
        let (p, b, u) = other.get();
        self.packets.store(p, Ordering::Relaxed);
        self.bytes.store(b, Ordering::Relaxed);
        self.used.store(u, Ordering::Relaxed);
    }
}

/// One OpenFlow rule.
#[derive(Debug)]
pub struct Rule {
    /// Table it lives in.
    pub table_id: u8,
    /// Priority (higher wins).
    pub priority: u16,
    /// What it matches.
    pub matches: Match,
    /// What it does.
    pub actions: Vec<OfAction>,
    /// Cookie.
    pub cookie: u64,
    /// Idle timeout in seconds (0 = none).
    pub idle_timeout: u16,
    /// Hard timeout in seconds (0 = none).
    pub hard_timeout: u16,
    /// Whether removal should be reported to a controller.
    pub send_flow_rem: bool,
    /// Caller's ms clock when the rule was added.
    pub created: u64,
    /// Hit counters.
    pub stats: RuleStats,
}

impl Rule {
    /// A rule with no timeouts and zero cookie.
    pub fn new(
        table_id: u8,
        priority: u16,
        matches: Match,
        actions: Vec<OfAction>,
        now: u64,
    ) -> Rule {
        Rule {
            table_id,
            priority,
            matches,
            actions,
            cookie: 0,
            idle_timeout: 0,
            hard_timeout: 0,
            send_flow_rem: false,
            created: now,
            stats: RuleStats::default(),
        }
    }

    /// Whether any action outputs to `port` (for `out_port` filters).
    pub fn outputs_to(&self, port: u32) -> bool {
        self.actions
            .iter()
            .any(|a| matches!(a, OfAction::Output(p) if *p == port))
    }

    fn expired(&self, now: u64) -> Option<RemovedReason> {
        let (_, _, used) = self.stats.get();
        let last = used.max(self.created);
        if self.hard_timeout > 0 && now >= self.created + self.hard_timeout as u64 * 1000 {
            Some(RemovedReason::HardTimeout)
        } else if self.idle_timeout > 0 && now >= last + self.idle_timeout as u64 * 1000 {
            Some(RemovedReason::IdleTimeout)
        } else {
            None
        }
    }
}

/// Why a rule left its table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemovedReason {
    /// Idle timeout.
    IdleTimeout,
    /// Hard timeout.
    HardTimeout,
    /// A delete command.
    Delete,
}

/// Counters of one table.
#[derive(Debug, Default)]
pub struct TableStats {
    /// Lookups made in the table.
    pub lookups: AtomicU64,
    /// Lookups that found a rule.
    pub matched: AtomicU64,
}

/// One table.
#[derive(Debug, Default)]
pub struct Table {
    /// Its rules.
    pub cls: Classifier,
    /// Its counters.
    pub stats: TableStats,
}

/// A change refused by [`Tables::apply`]; nothing was applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowModError {
    /// The table number is out of range.
    #[error("flow {index}: table {table} out of range (0-254)")]
    BadTable {
        /// Index of the change in the batch.
        index: usize,
        /// The table given.
        table: u32,
    },
    /// `goto_table` does not go to a later table.
    #[error("flow {index}: goto_table:{to} must go to a table after {from}")]
    BadGoto {
        /// Index of the change in the batch.
        index: usize,
        /// The rule's table.
        from: u8,
        /// The target.
        to: u8,
    },
}

/// What a batch of changes did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ApplySummary {
    /// Rules added (including replacements).
    pub added: usize,
    /// Rules whose actions changed.
    pub modified: usize,
    /// Rules deleted.
    pub deleted: usize,
}

/// All tables of a bridge.
pub struct Tables {
    tables: Vec<Table>,
    version: u64,
}

impl Default for Tables {
    fn default() -> Self {
        Tables::new()
    }
}

impl std::fmt::Debug for Tables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tables")
            .field("version", &self.version)
            .field("rules", &self.n_rules())
            .finish()
    }
}

impl Tables {
    /// 255 empty tables, version 0.
    pub fn new() -> Tables {
        Tables {
            tables: (0..N_TABLES).map(|_| Table::default()).collect(),
            version: 0,
        }
    }

    /// The version: changes whenever a rule is added, changed or removed.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Table `id`, if in range.
    pub fn table(&self, id: u8) -> Option<&Table> {
        self.tables.get(id as usize)
    }

    /// Total number of rules.
    pub fn n_rules(&self) -> usize {
        self.tables.iter().map(|t| t.cls.len()).sum()
    }

    /// Every rule, table by table, each table's rules by descending
    /// priority (the order `dump-flows` prints).
    pub fn rules(&self) -> Vec<Arc<Rule>> {
        let mut out = Vec::new();
        for t in &self.tables {
            let mut rules: Vec<_> = t.cls.iter().cloned().collect();
            rules.sort_by_key(|r| std::cmp::Reverse(r.priority));
            out.extend(rules);
        }
        out
    }

    /// Looks up `flow` in table `id`, un-wildcarding the bits that decided
    /// into `wc`, and counts the lookup.
    pub fn lookup(&self, id: u8, flow: &Flow, wc: &mut Flow) -> Option<&Arc<Rule>> {
        let t = self.tables.get(id as usize)?;
        t.stats.lookups.fetch_add(1, Ordering::Relaxed);
        let r = t.cls.lookup(flow, wc);
        if r.is_some() {
            t.stats.matched.fetch_add(1, Ordering::Relaxed);
        }
        r
    }

    fn check(index: usize, fm: &FlowMod) -> Result<(), FlowModError> {
        let table = fm.table.unwrap_or(0);
        if table as usize >= N_TABLES {
            return Err(FlowModError::BadTable {
                index,
                table: table as u32,
            });
        }
        if matches!(
            fm.command,
            FlowModCommand::Add | FlowModCommand::Modify | FlowModCommand::ModifyStrict
        ) {
            for a in &fm.actions {
                if let OfAction::GotoTable(to) = a {
                    if *to <= table || *to as usize >= N_TABLES {
                        return Err(FlowModError::BadGoto {
                            index,
                            from: table,
                            to: *to,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Applies a batch of changes, all or nothing, at time `now` (ms).
    /// Returns what changed, and the removed rules (for stats and
    /// flow-removed reporting).
    pub fn apply(
        &mut self,
        mods: &[FlowMod],
        now: u64,
    ) -> Result<(ApplySummary, Vec<Arc<Rule>>), FlowModError> {
        for (i, fm) in mods.iter().enumerate() {
            Self::check(i, fm)?;
        }
        let mut sum = ApplySummary::default();
        let mut removed = Vec::new();
        for fm in mods {
            self.apply_one(fm, now, &mut sum, &mut removed);
        }
        if sum != ApplySummary::default() {
            self.version += 1;
        }
        Ok((sum, removed))
    }

    fn selected_tables(&self, fm: &FlowMod) -> std::ops::Range<usize> {
        match fm.table {
            Some(t) => t as usize..t as usize + 1,
            None => 0..N_TABLES,
        }
    }

    fn cookie_ok(fm: &FlowMod, r: &Rule) -> bool {
        (r.cookie ^ fm.cookie) & fm.cookie_mask == 0
    }

    fn new_rule(fm: &FlowMod, table: u8, now: u64) -> Arc<Rule> {
        let mut r = Rule::new(table, fm.priority, fm.matches, fm.actions.clone(), now);
        r.cookie = fm.cookie;
        r.idle_timeout = fm.idle_timeout;
        r.hard_timeout = fm.hard_timeout;
        r.send_flow_rem = fm.send_flow_rem;
        Arc::new(r)
    }

    fn add(
        &mut self,
        fm: &FlowMod,
        now: u64,
        sum: &mut ApplySummary,
        removed: &mut Vec<Arc<Rule>>,
    ) {
        let table = fm.table.unwrap_or(0);
        let cls = &mut self.tables[table as usize].cls;
        if let Some(old) = cls.find_exact(&fm.matches, fm.priority).cloned() {
            cls.remove(&old);
            removed.push(old);
        }
        cls.insert(Self::new_rule(fm, table, now));
        sum.added += 1;
    }

    /// A copy of `r` with new actions (and cookie when one is given),
    /// keeping its counters and creation time.
    fn modified(r: &Rule, fm: &FlowMod) -> Arc<Rule> {
        let n = Rule {
            table_id: r.table_id,
            priority: r.priority,
            matches: r.matches,
            actions: fm.actions.clone(),
            cookie: if fm.cookie_mask == 0 && fm.cookie != 0 {
                fm.cookie
            } else {
                r.cookie
            },
            idle_timeout: r.idle_timeout,
            hard_timeout: r.hard_timeout,
            send_flow_rem: r.send_flow_rem,
            created: r.created,
            stats: RuleStats::default(),
        };
        n.stats.copy_from(&r.stats);
        Arc::new(n)
    }

    fn apply_one(
        &mut self,
        fm: &FlowMod,
        now: u64,
        sum: &mut ApplySummary,
        removed: &mut Vec<Arc<Rule>>,
    ) {
        match fm.command {
            FlowModCommand::Add => self.add(fm, now, sum, removed),
            FlowModCommand::Modify | FlowModCommand::ModifyStrict => {
                let strict = fm.command == FlowModCommand::ModifyStrict;
                let mut n = 0;
                for t in self.selected_tables(fm) {
                    let cls = &mut self.tables[t].cls;
                    let targets: Vec<Arc<Rule>> = if strict {
                        cls.find_exact(&fm.matches, fm.priority)
                            .filter(|r| Self::cookie_ok(fm, r))
                            .cloned()
                            .into_iter()
                            .collect()
                    } else {
                        cls.iter()
                            .filter(|r| {
                                r.matches.is_subsumed_by(&fm.matches) && Self::cookie_ok(fm, r)
                            })
                            .cloned()
                            .collect()
                    };
                    for r in targets {
                        cls.remove(&r);
                        cls.insert(Self::modified(&r, fm));
                        n += 1;
                    }
                }
                sum.modified += n;
                // OpenFlow 1.0: a modify that matched nothing adds, unless
                // it selects by cookie.
                if n == 0 && fm.cookie_mask == 0 {
                    self.add(fm, now, sum, removed);
                }
            }
            FlowModCommand::Delete | FlowModCommand::DeleteStrict => {
                let strict = fm.command == FlowModCommand::DeleteStrict;
                for t in self.selected_tables(fm) {
                    let cls = &mut self.tables[t].cls;
                    let keep_out = |r: &Rule| fm.out_port.is_none_or(|p| r.outputs_to(p));
                    let targets: Vec<Arc<Rule>> = if strict {
                        cls.find_exact(&fm.matches, fm.priority)
                            .filter(|r| Self::cookie_ok(fm, r) && keep_out(r))
                            .cloned()
                            .into_iter()
                            .collect()
                    } else {
                        cls.iter()
                            .filter(|r| {
                                r.matches.is_subsumed_by(&fm.matches)
                                    && Self::cookie_ok(fm, r)
                                    && keep_out(r)
                            })
                            .cloned()
                            .collect()
                    };
                    for r in targets {
                        cls.remove(&r);
                        removed.push(r);
                        sum.deleted += 1;
                    }
                    if sum.deleted > 0 && cls.len() * 2 < sum.deleted {
                        cls.rebuild_tries();
                    }
                }
            }
        }
    }

    /// Whether any rule's idle or hard timeout has passed at `now` (ms):
    /// a read-only check, so a caller can take the write path only when
    /// [`Tables::expire`] has work.
    pub fn any_expired(&self, now: u64) -> bool {
        self.tables
            .iter()
            .flat_map(|t| t.cls.iter())
            .any(|r| (r.idle_timeout | r.hard_timeout) != 0 && r.expired(now).is_some())
    }

    /// Removes rules whose idle or hard timeout has passed at `now` (ms).
    /// Bumps the version when any was removed.
    pub fn expire(&mut self, now: u64) -> Vec<(Arc<Rule>, RemovedReason)> {
        let mut out = Vec::new();
        for t in &mut self.tables {
            let gone: Vec<_> = t
                .cls
                .iter()
                .filter_map(|r| r.expired(now).map(|why| (r.clone(), why)))
                .collect();
            for (r, why) in gone {
                t.cls.remove(&r);
                out.push((r, why));
            }
        }
        if !out.is_empty() {
            self.version += 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow_mod::FlowMod;

    fn fm(cmd: FlowModCommand, port: Option<u32>, prio: u16, out: u32) -> FlowMod {
        let mut f = FlowMod::new(cmd);
        f.priority = prio;
        if let Some(p) = port {
            f.matches.mask.key.in_port = u32::MAX;
            f.matches.flow.key.in_port = p;
        }
        f.actions = vec![OfAction::Output(out)];
        f
    }

    fn out_of(t: &Tables, in_port: u32) -> Option<Vec<OfAction>> {
        let mut f = Flow::ZERO;
        f.key.in_port = in_port;
        let mut wc = Flow::ZERO;
        t.lookup(0, &f, &mut wc).map(|r| r.actions.clone())
    }

    #[test]
    fn add_replaces_same_match_and_priority() {
        let mut t = Tables::new();
        t.apply(&[fm(FlowModCommand::Add, Some(1), 10, 2)], 0)
            .unwrap();
        t.apply(&[fm(FlowModCommand::Add, Some(1), 10, 3)], 0)
            .unwrap();
        t.apply(&[fm(FlowModCommand::Add, Some(1), 5, 4)], 0)
            .unwrap();
        assert_eq!(t.n_rules(), 2);
        assert_eq!(out_of(&t, 1), Some(vec![OfAction::Output(3)]));
        assert_eq!(t.version(), 3);
    }

    #[test]
    fn non_strict_modify_and_delete_select_narrower_rules() {
        let mut t = Tables::new();
        t.apply(
            &[
                fm(FlowModCommand::Add, Some(1), 10, 2),
                fm(FlowModCommand::Add, Some(2), 10, 2),
                fm(FlowModCommand::Add, None, 0, 9),
            ],
            0,
        )
        .unwrap();
        // Modify with an empty match touches every rule.
        let (s, _) = t
            .apply(&[fm(FlowModCommand::Modify, None, 0, 5)], 0)
            .unwrap();
        assert_eq!(s.modified, 3);
        assert_eq!(out_of(&t, 2), Some(vec![OfAction::Output(5)]));
        // Strict modify needs the exact priority.
        let (s, _) = t
            .apply(&[fm(FlowModCommand::ModifyStrict, Some(1), 10, 7)], 0)
            .unwrap();
        assert_eq!(s.modified, 1);
        // Delete in_port=2 removes just that rule.
        let (s, removed) = t
            .apply(&[fm(FlowModCommand::Delete, Some(2), 0, 0)], 0)
            .unwrap();
        assert_eq!((s.deleted, removed.len()), (1, 1));
        assert_eq!(out_of(&t, 2), Some(vec![OfAction::Output(5)]));
        // Delete everything.
        t.apply(&[fm(FlowModCommand::Delete, None, 0, 0)], 0)
            .unwrap();
        assert_eq!(t.n_rules(), 0);
        assert_eq!(out_of(&t, 1), None);
    }

    #[test]
    fn modify_of_nothing_adds() {
        let mut t = Tables::new();
        let (s, _) = t
            .apply(&[fm(FlowModCommand::Modify, Some(3), 7, 1)], 0)
            .unwrap();
        assert_eq!((s.modified, s.added), (0, 1));
    }

    #[test]
    fn a_bad_change_applies_nothing() {
        let mut t = Tables::new();
        let mut bad = fm(FlowModCommand::Add, Some(1), 1, 1);
        bad.actions = vec![OfAction::GotoTable(0)];
        let e = t
            .apply(&[fm(FlowModCommand::Add, Some(1), 10, 2), bad], 0)
            .unwrap_err();
        assert_eq!(
            e,
            FlowModError::BadGoto {
                index: 1,
                from: 0,
                to: 0
            }
        );
        assert_eq!(t.n_rules(), 0);
        assert_eq!(t.version(), 0);
    }

    #[test]
    fn timeouts_expire_rules() {
        let mut t = Tables::new();
        let mut idle = fm(FlowModCommand::Add, Some(1), 1, 1);
        idle.idle_timeout = 10;
        let mut hard = fm(FlowModCommand::Add, Some(2), 1, 1);
        hard.hard_timeout = 5;
        t.apply(&[idle, hard], 1000).unwrap();
        assert!(t.expire(5999).is_empty());
        assert!(!t.any_expired(5999));
        assert!(t.any_expired(6000));
        let gone = t.expire(6000);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].1, RemovedReason::HardTimeout);
        // A hit at 9000 keeps the idle rule until 19000.
        let r = t.rules()[0].clone();
        r.stats.add(1, 64, 9000);
        assert!(t.expire(18_999).is_empty());
        assert_eq!(t.expire(19_000)[0].1, RemovedReason::IdleTimeout);
    }
}
