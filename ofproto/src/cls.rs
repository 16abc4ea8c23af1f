//! The OpenFlow classifier of one table: priority lookup that also reports
//! which packet bits decided the result (the megaflow mask).
//!
//! Tuple-space search: rules are grouped into subtables by mask; subtables
//! are kept sorted by the highest priority they hold, so a lookup stops as
//! soon as the best rule found outranks every subtable left (those need no
//! bits un-wildcarded at all). Two techniques from OVS keep the bits a
//! lookup un-wildcards to the ones that decide it:
//!
//! - **Staged lookup.** A subtable's mask is split into four stages
//!   (metadata, L2, L3, L4); for each proper prefix of stages the subtable
//!   keeps the set of hashes of its rules' values. A packet whose stage
//!   prefix is not in the set cannot match any rule there, and only the
//!   bits of the stages consulted so far are un-wildcarded. (Hash
//!   collisions only make a lookup continue to the next stage, which is
//!   conservative, never wrong.)
//! - **Prefix tracking.** For `nw_src`, `nw_dst`, `ipv6_src` and
//!   `ipv6_dst`, a binary trie of every rule's prefix tells, from the
//!   packet's address, which prefix lengths can match at all and how many
//!   leading address bits the walk looked at. A subtable whose prefix
//!   length cannot match is skipped with only those bits un-wildcarded, so
//!   a /24 route does not force /32 megaflows on traffic it never matches.
//!
//! Rules of equal priority that overlap are OpenFlow's undefined case; the
//! classifier returns one of them.
//!
//! # Thread safety
//! Plain data owned by its table; `&mut self` to change, `&self` to look up.

use crate::flow::{Flow, Match};
use crate::table::Rule;
use dpif_netdev::hash::{fmix64, hash_add};
// ahash instead of std's SipHash: the classifier hashes 256-byte flows
// on every probe; SipHash was 7-8% of a translation (perf, benches/xlate).
type HashMap<K, V> = std::collections::HashMap<K, V, ahash::RandomState>;
use std::sync::Arc;

/// Word ranges of the four lookup stages in a [`Flow`] (see `key.rs` for
/// the layout): metadata (tunnel, recirc, in_port, OpenFlow metadata and
/// registers), L2, L3, L4. Words 23..27 are the key's Geneve option
/// area (tunnel metadata), 27.. the OpenFlow metadata and registers.
fn stage_of_word(w: usize) -> usize {
    match w {
        0..=8 | 23.. => 0,
        9..=11 => 1,
        12..=17 => 2,
        _ => 3,
    }
}

const N_STAGES: usize = 4;

fn hash_masked(flow: &Flow, mask: &Flow) -> u64 {
    let mut h = 0u64;
    for (f, m) in flow.words().iter().zip(mask.words()) {
        if *m != 0 {
            h = hash_add(h, f & m);
        }
    }
    fmix64(h)
}

/// A field tracked by a prefix trie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TrieField {
    NwSrc,
    NwDst,
    Ipv6Src,
    Ipv6Dst,
}

const TRIE_FIELDS: [TrieField; 4] = [
    TrieField::NwSrc,
    TrieField::NwDst,
    TrieField::Ipv6Src,
    TrieField::Ipv6Dst,
];

impl TrieField {
    fn width(self) -> u32 {
        match self {
            TrieField::NwSrc | TrieField::NwDst => 32,
            _ => 128,
        }
    }

    /// The field's value left-aligned in a u128.
    fn get(self, f: &Flow) -> u128 {
        match self {
            TrieField::NwSrc => (f.key.nw_src as u128) << 96,
            TrieField::NwDst => (f.key.nw_dst as u128) << 96,
            TrieField::Ipv6Src => u128::from_be_bytes(f.key.ipv6_src),
            TrieField::Ipv6Dst => u128::from_be_bytes(f.key.ipv6_dst),
        }
    }

    /// Sets the first `n` bits of the field in `mask`.
    fn unwildcard(self, mask: &mut Flow, n: u32) {
        if n == 0 {
            return;
        }
        let bits = if n >= 128 {
            u128::MAX
        } else {
            !(u128::MAX >> n)
        };
        match self {
            TrieField::NwSrc => mask.key.nw_src |= (bits >> 96) as u32,
            TrieField::NwDst => mask.key.nw_dst |= (bits >> 96) as u32,
            TrieField::Ipv6Src => {
                mask.key.ipv6_src = (u128::from_be_bytes(mask.key.ipv6_src) | bits).to_be_bytes()
            }
            TrieField::Ipv6Dst => {
                mask.key.ipv6_dst = (u128::from_be_bytes(mask.key.ipv6_dst) | bits).to_be_bytes()
            }
        }
    }

    /// The prefix length of `mask` on this field, if it is a non-empty
    /// CIDR prefix.
    fn prefix_len(self, mask: &Flow) -> Option<u32> {
        let m = self.get(mask);
        let n = m.leading_ones();
        (n > 0 && m.checked_shl(n).unwrap_or(0) == 0).then_some(n)
    }
}

/// A binary trie of prefixes with reference counts.
#[derive(Clone, Default)]
struct PrefixTrie {
    /// Node 0 is the root. `children[b]` is the child for bit `b`.
    nodes: Vec<TrieNode>,
}

#[derive(Clone, Copy, Default)]
struct TrieNode {
    children: [u32; 2], // 0 = none (the root is never a child)
    /// Rules whose prefix ends at this node.
    count: u32,
}

impl PrefixTrie {
    fn insert(&mut self, value: u128, len: u32) {
        if self.nodes.is_empty() {
            self.nodes.push(TrieNode::default());
        }
        let mut n = 0usize;
        for d in 0..len {
            let b = ((value >> (127 - d)) & 1) as usize;
            if self.nodes[n].children[b] == 0 {
                self.nodes.push(TrieNode::default());
                let idx = self.nodes.len() as u32 - 1;
                self.nodes[n].children[b] = idx;
            }
            n = self.nodes[n].children[b] as usize;
        }
        self.nodes[n].count += 1;
    }

    /// Decrements a prefix's count. Nodes are not freed (a table that
    /// shrinks a lot is rebuilt by [`Classifier::rebuild_tries`]).
    fn remove(&mut self, value: u128, len: u32) {
        let mut n = 0usize;
        if self.nodes.is_empty() {
            return;
        }
        for d in 0..len {
            let b = ((value >> (127 - d)) & 1) as usize;
            let c = self.nodes[n].children[b];
            if c == 0 {
                return;
            }
            n = c as usize;
        }
        self.nodes[n].count = self.nodes[n].count.saturating_sub(1);
    }

    /// Walks `addr` (left-aligned, `width` bits). Returns the set of
    /// prefix lengths that end on the path (bit `l` of the result for
    /// length `l`, 1..=128, as two u128 halves folded into a
    /// `[u64; 3]`-like array) and the number of leading bits the walk
    /// depended on.
    fn lookup(&self, addr: u128, width: u32) -> (PlenSet, u32) {
        let mut plens = PlenSet::default();
        if self.nodes.is_empty() {
            return (plens, 0);
        }
        let mut n = 0usize;
        for d in 0..width {
            let b = ((addr >> (127 - d)) & 1) as usize;
            let c = self.nodes[n].children[b];
            if c == 0 {
                // The packet's bit `d` decided only if a longer prefix
                // goes the other way; below a leaf nothing is longer.
                let leaf = self.nodes[n].children == [0, 0];
                return (plens, if leaf { d } else { d + 1 });
            }
            n = c as usize;
            if self.nodes[n].count > 0 {
                plens.insert(d + 1);
            }
        }
        (plens, width)
    }
}

/// A set of prefix lengths 0..=128.
#[derive(Clone, Copy, Default)]
struct PlenSet([u64; 3]);

impl PlenSet {
    fn insert(&mut self, l: u32) {
        self.0[(l / 64) as usize] |= 1 << (l % 64);
    }
    fn contains(&self, l: u32) -> bool {
        self.0[(l / 64) as usize] & (1 << (l % 64)) != 0
    }
}

struct Subtable {
    mask: Flow,
    /// Cumulative stage masks; `stage_masks[N_STAGES - 1] == mask`.
    stage_masks: [Flow; N_STAGES],
    /// Whether stage `i` adds bits to the cumulative mask.
    stage_used: [bool; N_STAGES],
    /// For stages before the last: hash of a rule's value under the
    /// cumulative stage mask → number of rules with it.
    stage_sets: [HashMap<u64, u32>; N_STAGES - 1],
    /// Rules by masked value, highest priority first.
    rules: HashMap<Flow, Vec<Arc<Rule>>>,
    max_priority: u16,
    n_rules: usize,
    prefix_len: [Option<u32>; 4],
}

impl Subtable {
    fn new(mask: Flow) -> Subtable {
        let mut stage_masks = [Flow::ZERO; N_STAGES];
        let mut stage_used = [false; N_STAGES];
        for (w, m) in mask.words().iter().enumerate() {
            if *m != 0 {
                let s = stage_of_word(w);
                stage_used[s] = true;
                for sm in &mut stage_masks[s..] {
                    sm.words_mut()[w] = *m;
                }
            }
        }
        Subtable {
            stage_masks,
            stage_used,
            stage_sets: Default::default(),
            rules: HashMap::default(),
            max_priority: 0,
            n_rules: 0,
            prefix_len: TRIE_FIELDS.map(|f| f.prefix_len(&mask)),
            mask,
        }
    }
}

/// The rules of one OpenFlow table, for lookup with wildcard tracking.
#[derive(Default)]
pub struct Classifier {
    subtables: Vec<Subtable>,
    tries: [PrefixTrie; 4],
    n_rules: usize,
}

impl Classifier {
    /// An empty classifier.
    pub fn new() -> Classifier {
        Classifier::default()
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.n_rules
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.n_rules == 0
    }

    /// Number of subtables (distinct masks).
    pub fn n_subtables(&self) -> usize {
        self.subtables.len()
    }

    /// Adds a rule. A rule with the same match and priority must have been
    /// removed first (the table does that).
    pub fn insert(&mut self, rule: Arc<Rule>) {
        let m = &rule.matches;
        let idx = match self.subtables.iter().position(|s| s.mask == m.mask) {
            Some(i) => i,
            None => {
                self.subtables.push(Subtable::new(m.mask));
                self.subtables.len() - 1
            }
        };
        let st = &mut self.subtables[idx];
        for s in 0..N_STAGES - 1 {
            if st.stage_used[s] {
                *st.stage_sets[s]
                    .entry(hash_masked(&m.flow, &st.stage_masks[s]))
                    .or_default() += 1;
            }
        }
        for (i, f) in TRIE_FIELDS.iter().enumerate() {
            if let Some(l) = st.prefix_len[i] {
                self.tries[i].insert(f.get(&m.flow), l);
            }
        }
        let list = st.rules.entry(m.flow).or_default();
        let pos = list
            .iter()
            .position(|r| r.priority < rule.priority)
            .unwrap_or(list.len());
        st.max_priority = st.max_priority.max(rule.priority);
        list.insert(pos, rule);
        st.n_rules += 1;
        self.n_rules += 1;
        self.sort();
    }

    fn sort(&mut self) {
        self.subtables
            .sort_by_key(|s| std::cmp::Reverse(s.max_priority));
    }

    /// Removes this very rule (same `Arc`). Returns whether it was there.
    pub fn remove(&mut self, rule: &Arc<Rule>) -> bool {
        let m = &rule.matches;
        let Some(idx) = self.subtables.iter().position(|s| s.mask == m.mask) else {
            return false;
        };
        let st = &mut self.subtables[idx];
        let Some(list) = st.rules.get_mut(&m.flow) else {
            return false;
        };
        let Some(pos) = list.iter().position(|r| Arc::ptr_eq(r, rule)) else {
            return false;
        };
        list.remove(pos);
        if list.is_empty() {
            st.rules.remove(&m.flow);
        }
        for s in 0..N_STAGES - 1 {
            if st.stage_used[s] {
                let h = hash_masked(&m.flow, &st.stage_masks[s]);
                if let Some(c) = st.stage_sets[s].get_mut(&h) {
                    *c -= 1;
                    if *c == 0 {
                        st.stage_sets[s].remove(&h);
                    }
                }
            }
        }
        for (i, f) in TRIE_FIELDS.iter().enumerate() {
            if let Some(l) = st.prefix_len[i] {
                self.tries[i].remove(f.get(&m.flow), l);
            }
        }
        st.n_rules -= 1;
        self.n_rules -= 1;
        if st.n_rules == 0 {
            self.subtables.remove(idx);
        } else if rule.priority == st.max_priority {
            st.max_priority = st
                .rules
                .values()
                .filter_map(|l| l.first())
                .map(|r| r.priority)
                .max()
                .unwrap_or(0);
            self.sort();
        }
        true
    }

    /// Rebuilds the prefix tries from the rules (after many removals).
    pub fn rebuild_tries(&mut self) {
        let mut tries: [PrefixTrie; 4] = Default::default();
        for st in &self.subtables {
            for (i, f) in TRIE_FIELDS.iter().enumerate() {
                if let Some(l) = st.prefix_len[i] {
                    for (v, list) in &st.rules {
                        for _ in list {
                            tries[i].insert(f.get(v), l);
                        }
                    }
                }
            }
        }
        self.tries = tries;
    }

    /// The rule with exactly this match and priority.
    pub fn find_exact(&self, m: &Match, priority: u16) -> Option<&Arc<Rule>> {
        let st = self.subtables.iter().find(|s| s.mask == m.mask)?;
        st.rules
            .get(&m.flow)?
            .iter()
            .find(|r| r.priority == priority)
    }

    /// Every rule.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Rule>> {
        self.subtables
            .iter()
            .flat_map(|s| s.rules.values().flatten())
    }

    /// The highest-priority rule matching `flow`. Every bit of `flow` the
    /// answer depends on is set in `wc`.
    pub fn lookup(&self, flow: &Flow, wc: &mut Flow) -> Option<&Arc<Rule>> {
        let mut best: Option<&Arc<Rule>> = None;
        // Trie walks are done lazily, once per field per lookup.
        let mut trie_cache: [Option<(PlenSet, u32)>; 4] = [None; 4];
        'subtables: for st in &self.subtables {
            if let Some(b) = best {
                if b.priority >= st.max_priority {
                    break;
                }
            }
            // Prefix tracking: skip subtables whose prefix length cannot
            // match, un-wildcarding only the bits the trie walk used.
            for (i, f) in TRIE_FIELDS.iter().enumerate() {
                let Some(l) = st.prefix_len[i] else { continue };
                let (plens, checked) = *trie_cache[i]
                    .get_or_insert_with(|| self.tries[i].lookup(f.get(flow), f.width()));
                if !plens.contains(l) {
                    f.unwildcard(wc, checked.min(l));
                    continue 'subtables;
                }
            }
            // Staged lookup.
            for s in 0..N_STAGES - 1 {
                if !st.stage_used[s] {
                    continue;
                }
                let sm = &st.stage_masks[s];
                wc.union_with(sm);
                if !st.stage_sets[s].contains_key(&hash_masked(flow, sm)) {
                    continue 'subtables;
                }
            }
            wc.union_with(&st.mask);
            if let Some(list) = st.rules.get(&flow.masked(&st.mask)) {
                if let Some(r) = list.first() {
                    if best.is_none_or(|b| r.priority > b.priority) {
                        best = Some(r);
                    }
                }
            }
        }
        best
    }
}

impl std::fmt::Debug for Classifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Classifier")
            .field("rules", &self.n_rules)
            .field("subtables", &self.subtables.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::Rule;

    fn rule(priority: u16, m: Match) -> Arc<Rule> {
        Arc::new(Rule::new(0, priority, m, vec![], 0))
    }

    fn dst_prefix(addr: u32, len: u32) -> Match {
        let mut m = Match::ANY;
        m.mask.key.eth_type = 0xffff;
        m.flow.key.eth_type = 0x0800;
        m.mask.key.nw_dst = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        m.flow.key.nw_dst = addr & m.mask.key.nw_dst;
        m
    }

    fn pkt(dst: u32) -> Flow {
        let mut f = Flow::ZERO;
        f.key.eth_type = 0x0800;
        f.key.nw_dst = dst;
        f.key.tp_dst = 80;
        f
    }

    #[test]
    fn highest_priority_wins_and_mask_covers_decision() {
        let mut c = Classifier::new();
        c.insert(rule(10, dst_prefix(0x0a00_0000, 8)));
        c.insert(rule(20, dst_prefix(0x0a01_0000, 16)));
        let mut wc = Flow::ZERO;
        let r = c.lookup(&pkt(0x0a01_0203), &mut wc).unwrap();
        assert_eq!(r.priority, 20);
        assert_eq!(wc.key.nw_dst, 0xffff_0000);
        assert_eq!(wc.key.tp_dst, 0);
        let mut wc = Flow::ZERO;
        assert_eq!(c.lookup(&pkt(0x0a02_0203), &mut wc).unwrap().priority, 10);
        // The /16 subtable was skipped by the trie after 15 bits (the walk
        // left the 10.1/16 path at bit 15), the /8 matched.
        assert_eq!(wc.key.nw_dst, 0xfffe_0000);
    }

    #[test]
    fn prefix_tracking_keeps_megaflows_wide() {
        let mut c = Classifier::new();
        c.insert(rule(30, dst_prefix(0xc0a8_0101, 32)));
        c.insert(rule(1, dst_prefix(0, 0)));
        let mut wc = Flow::ZERO;
        // 10.x never shares a bit with 192.168.1.1 after the first: one bit
        // of nw_dst decides.
        assert_eq!(c.lookup(&pkt(0x0a00_0001), &mut wc).unwrap().priority, 1);
        assert_eq!(wc.key.nw_dst, 0x8000_0000);
    }

    #[test]
    fn a_prefix_with_nothing_longer_below_it_costs_no_extra_bit() {
        // A /32 elsewhere makes the /32 subtable come first; the packet's
        // trie walk ends at the /24 leaf, so the /32 subtable is skipped
        // on 24 bits, not 25 (as OVS's trie_lookup_value does).
        let mut c = Classifier::new();
        c.insert(rule(320, dst_prefix(0xc0a8_0001, 32)));
        c.insert(rule(240, dst_prefix(0x0a01_0200, 24)));
        let mut wc = Flow::ZERO;
        assert_eq!(c.lookup(&pkt(0x0a01_0285), &mut wc).unwrap().priority, 240);
        assert_eq!(wc.key.nw_dst, 0xffff_ff00);
        // Where a longer prefix goes the other way, the bit is needed.
        c.insert(rule(250, dst_prefix(0x0a01_0200, 25)));
        let mut wc = Flow::ZERO;
        assert_eq!(c.lookup(&pkt(0x0a01_0285), &mut wc).unwrap().priority, 240);
        assert_eq!(wc.key.nw_dst, 0xffff_ff80);
    }

    #[test]
    fn staged_lookup_stops_at_the_first_stage_that_misses() {
        let mut c = Classifier::new();
        let mut m = Match::ANY;
        m.mask.key.in_port = u32::MAX;
        m.flow.key.in_port = 1;
        m.mask.key.tp_dst = 0xffff;
        m.flow.key.tp_dst = 80;
        c.insert(rule(10, m));
        let mut f = pkt(1);
        f.key.in_port = 2;
        let mut wc = Flow::ZERO;
        assert!(c.lookup(&f, &mut wc).is_none());
        assert_eq!(wc.key.in_port, u32::MAX);
        assert_eq!(wc.key.tp_dst, 0);
    }

    #[test]
    fn remove_restores_state() {
        let mut c = Classifier::new();
        let a = rule(10, dst_prefix(0x0a00_0000, 8));
        let b = rule(20, dst_prefix(0x0a00_0000, 8));
        c.insert(a.clone());
        c.insert(b.clone());
        assert_eq!(c.n_subtables(), 1);
        assert!(c.remove(&b));
        assert!(!c.remove(&b));
        let mut wc = Flow::ZERO;
        assert_eq!(c.lookup(&pkt(0x0a00_0001), &mut wc).unwrap().priority, 10);
        assert!(c.remove(&a));
        assert!(c.is_empty());
        assert_eq!(c.n_subtables(), 0);
        assert!(c.lookup(&pkt(0x0a00_0001), &mut wc).is_none());
        c.rebuild_tries();
    }
}
