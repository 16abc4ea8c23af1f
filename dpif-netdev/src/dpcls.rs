//! The megaflow classifier (dpcls): tuple-space search over megaflows.
//!
//! Geometry: one [`Subtable`] per distinct mask. A subtable is a
//! `hashbrown::HashTable` of megaflows keyed by their masked key; the hash
//! ([`hash_masked`]) covers only the words the mask keeps, and is computed
//! once per key per subtable probed. A lookup probes subtables in rank
//! order and stops at the first match; [`Dpcls::rank`] re-sorts subtables
//! by the hits they took since the last ranking (OVS re-sorts its pvector
//! every second), so the subtables that match most traffic are probed
//! first. Cost grows linearly with the number of subtables probed.
//!
//! Megaflows installed by a correct slow path do not overlap in the packets
//! they match, or overlap only where they agree on actions (after a rule
//! change the revalidator removes the ones that disagree); so the first
//! match is as good as any.
//!
//! What it does not do: no stats (hits update the megaflow's own stats, by
//! the caller), no expiry (the revalidator removes flows by message).
//!
//! # Thread safety
//! Owned by one PMD; changed only through `&mut self` (the PMD applies
//! install/remove messages at the top of its loop). Lookups take `&self`;
//! per-subtable hit counters are `Cell`s, so a `Dpcls` is `Send` but not
//! `Sync`. Megaflows are shared out as `Arc`s; removal marks them dead
//! (`Megaflow::kill`) so the EMC and other holders stop using them.

use crate::hash::{hash_masked, mask_words, MaskWord};
use crate::key::{FlowKey, FlowMask};
use crate::megaflow::Megaflow;
use crate::packet::MAX_BURST;
use crate::simple_match::SimpleIndex;
use hashbrown::HashTable;
use std::cell::Cell;
use std::sync::Arc;

/// Basis of the megaflow hash.
const HASH_BASIS: u64 = 0x5eed_f10e;

/// Errors from changing the classifier.
#[derive(Debug, thiserror::Error)]
pub enum DpclsError {
    /// A megaflow with the same mask and masked key is installed.
    #[error("a megaflow with the same key and mask is already installed (ufid {:#x})", existing.ufid)]
    Exists {
        /// The megaflow already there.
        existing: Arc<Megaflow>,
    },
}

struct Slot {
    hash: u64,
    flow: Arc<Megaflow>,
}

/// The megaflows sharing one mask.
pub struct Subtable {
    mask: FlowMask,
    words: Box<[MaskWord]>,
    table: HashTable<Slot>,
    hits: Cell<u64>,
}

#[inline(always)]
fn matches_words(key: &FlowKey, masked: &FlowKey, words: &[MaskWord]) -> bool {
    let (k, m) = (key.words(), masked.words());
    words
        .iter()
        .all(|w| k[w.idx as usize] & w.bits == m[w.idx as usize])
}

impl Subtable {
    fn new(mask: FlowMask) -> Subtable {
        Subtable {
            words: mask_words(&mask).into_boxed_slice(),
            mask,
            table: HashTable::new(),
            hits: Cell::new(0),
        }
    }

    /// The mask shared by this subtable's megaflows.
    pub fn mask(&self) -> &FlowMask {
        &self.mask
    }

    /// Number of megaflows.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether the subtable is empty.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Hits since the last ranking.
    pub fn hits(&self) -> u64 {
        self.hits.get()
    }

    #[inline(always)]
    fn find(&self, key: &FlowKey, hash: u64) -> Option<&Arc<Megaflow>> {
        self.table
            .find(hash, |s| matches_words(key, &s.flow.key, &self.words))
            .map(|s| &s.flow)
    }
}

/// Counters of one batch lookup.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LookupStats {
    /// Keys that found a megaflow.
    pub hits: u32,
    /// Sum over the hits of the number of subtables probed to find them
    /// (`avg_subtable_lookups_per_hit` = `probes / hits`).
    pub probes: u32,
}

/// The megaflow classifier of one PMD.
#[derive(Default)]
pub struct Dpcls {
    subtables: Vec<Subtable>,
    n_flows: usize,
    /// The simple-match index over the same megaflows, kept in step by
    /// every change below.
    simple: SimpleIndex,
}

impl Dpcls {
    /// An empty classifier.
    pub fn new() -> Dpcls {
        Dpcls::default()
    }

    /// Number of megaflows.
    pub fn len(&self) -> usize {
        self.n_flows
    }

    /// Whether there are no megaflows.
    pub fn is_empty(&self) -> bool {
        self.n_flows == 0
    }

    /// The simple-match index of these megaflows
    /// ([`crate::simple_match`]).
    #[inline]
    pub fn simple(&self) -> &SimpleIndex {
        &self.simple
    }

    /// The subtables in probe order.
    pub fn subtables(&self) -> &[Subtable] {
        &self.subtables
    }

    /// Installs a megaflow. Fails, leaving the classifier unchanged, when
    /// one with the same mask and masked key is already there.
    pub fn insert(&mut self, flow: Arc<Megaflow>) -> Result<(), DpclsError> {
        let idx = match self.subtables.iter().position(|s| s.mask == flow.mask) {
            Some(i) => i,
            None => {
                // A new mask goes last: it has no hits yet.
                self.subtables.push(Subtable::new(flow.mask));
                self.subtables.len() - 1
            }
        };
        let st = &mut self.subtables[idx];
        let hash = hash_masked(&flow.key, &st.words, HASH_BASIS);
        let words = &st.words;
        if let Some(s) = st
            .table
            .find(hash, |s| matches_words(&flow.key, &s.flow.key, words))
        {
            return Err(DpclsError::Exists {
                existing: s.flow.clone(),
            });
        }
        self.simple.insert(&flow);
        st.table
            .insert_unique(hash, Slot { hash, flow }, |s| s.hash);
        self.n_flows += 1;
        Ok(())
    }

    /// Installs `flow`, replacing (and killing) any megaflow with the same
    /// mask and masked key. Returns the replaced one.
    pub fn replace(&mut self, flow: Arc<Megaflow>) -> Option<Arc<Megaflow>> {
        let old = self.remove(&flow.key, &flow.mask);
        // Cannot fail: the only conflicting entry was just removed.
        let _ = self.insert(flow);
        old
    }

    /// Removes the megaflow with exactly this mask and masked key, marking
    /// it dead. Empty subtables are dropped.
    pub fn remove(&mut self, key: &FlowKey, mask: &FlowMask) -> Option<Arc<Megaflow>> {
        let idx = self.subtables.iter().position(|s| s.mask == *mask)?;
        let st = &mut self.subtables[idx];
        let masked = key.masked(mask);
        let hash = hash_masked(&masked, &st.words, HASH_BASIS);
        let words = &st.words;
        let entry = st
            .table
            .find_entry(hash, |s| matches_words(&masked, &s.flow.key, words))
            .ok()?;
        let (slot, _) = entry.remove();
        slot.flow.kill();
        self.simple.remove(&slot.flow);
        self.n_flows -= 1;
        if st.table.is_empty() {
            self.subtables.remove(idx);
        }
        Some(slot.flow)
    }

    /// Removes this very megaflow (same `Arc`), if installed.
    pub fn remove_flow(&mut self, flow: &Arc<Megaflow>) -> bool {
        let installed = self
            .lookup_exact(&flow.key, &flow.mask)
            .is_some_and(|f| Arc::ptr_eq(f, flow));
        installed && self.remove(&flow.key, &flow.mask).is_some()
    }

    /// The megaflow with exactly this mask and masked key.
    pub fn lookup_exact(&self, key: &FlowKey, mask: &FlowMask) -> Option<&Arc<Megaflow>> {
        let st = self.subtables.iter().find(|s| s.mask == *mask)?;
        let masked = key.masked(mask);
        st.find(&masked, hash_masked(&masked, &st.words, HASH_BASIS))
    }

    /// The first megaflow matching `key`, and the number of subtables
    /// probed.
    #[inline]
    pub fn lookup(&self, key: &FlowKey) -> (Option<&Arc<Megaflow>>, u32) {
        for (i, st) in self.subtables.iter().enumerate() {
            if let Some(f) = st.find(key, hash_masked(key, &st.words, HASH_BASIS)) {
                st.hits.set(st.hits.get() + 1);
                return (Some(f), i as u32 + 1);
            }
        }
        (None, self.subtables.len() as u32)
    }

    /// Looks up every key whose bit is set in `todo` (bit `i` = `keys[i]`,
    /// at most [`MAX_BURST`] keys), writing matches into `out[i]`, subtable
    /// by subtable: each subtable is probed for all remaining keys before
    /// the next one, which keeps its mask words and buckets hot. Returns
    /// the bitmap of keys still unmatched and the counters.
    pub fn lookup_batch<'a>(
        &'a self,
        keys: &[FlowKey],
        mut todo: u32,
        out: &mut [Option<&'a Arc<Megaflow>>],
    ) -> (u32, LookupStats) {
        debug_assert!(keys.len() <= MAX_BURST && out.len() >= keys.len());
        let mut stats = LookupStats::default();
        if keys.len() < 32 {
            todo &= (1u32 << keys.len()) - 1;
        }
        for (pos, st) in self.subtables.iter().enumerate() {
            if todo == 0 {
                break;
            }
            let mut found = 0u32;
            let mut map = todo;
            while map != 0 {
                let i = map.trailing_zeros() as usize;
                map &= map - 1;
                let key = &keys[i];
                if let Some(f) = st.find(key, hash_masked(key, &st.words, HASH_BASIS)) {
                    out[i] = Some(f);
                    found |= 1 << i;
                }
            }
            if found != 0 {
                let n = found.count_ones();
                st.hits.set(st.hits.get() + n as u64);
                stats.hits += n;
                stats.probes += n * (pos as u32 + 1);
                todo &= !found;
            }
        }
        (todo, stats)
    }

    /// Re-sorts subtables by hits since the last call, most first, and
    /// resets the hit counters. Call periodically (OVS: once a second).
    pub fn rank(&mut self) {
        self.subtables
            .sort_by_key(|s| std::cmp::Reverse(s.hits.get()));
        self.subtables.iter().for_each(|s| s.hits.set(0));
    }

    /// Every megaflow, subtable by subtable.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Megaflow>> {
        self.subtables
            .iter()
            .flat_map(|s| s.table.iter().map(|slot| &slot.flow))
    }

    /// Removes (and kills) every megaflow for which `f` returns false.
    /// Returns the number removed.
    pub fn retain(&mut self, mut f: impl FnMut(&Arc<Megaflow>) -> bool) -> usize {
        let mut removed = 0;
        let simple = &mut self.simple;
        for st in &mut self.subtables {
            st.table.retain(|slot| {
                let keep = f(&slot.flow);
                if !keep {
                    slot.flow.kill();
                    simple.remove(&slot.flow);
                    removed += 1;
                }
                keep
            });
        }
        self.subtables.retain(|s| !s.table.is_empty());
        self.n_flows -= removed;
        removed
    }

    /// Removes (and kills) every megaflow.
    pub fn clear(&mut self) {
        self.retain(|_| false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::DpAction;
    use proptest::prelude::*;

    #[test]
    fn simple_index_follows_every_change() {
        let flow = |eth_type| crate::simple_match::test_megaflow(4, eth_type, 0, 1, |_, _| {});
        let mut c = Dpcls::new();
        let a = flow(0x0800);
        c.insert(a.clone()).unwrap();
        assert!(c.simple().port(4).is_some());
        assert!(c.insert(flow(0x0800)).is_err());
        assert!(
            c.simple().port(4).is_some(),
            "a refused insert changes nothing"
        );
        c.insert(flow(0x86dd)).unwrap();
        assert_eq!(c.retain(|f| f.key.eth_type == 0x86dd), 1);
        assert!(c.simple().port(4).is_some());
        c.replace(flow(0x86dd));
        assert!(c.simple().port(4).is_some());
        c.clear();
        assert!(c.simple().port(4).is_none());
        c.insert(a.clone()).unwrap();
        assert!(c.remove_flow(&a));
        assert!(c.simple().port(4).is_none());
    }

    fn prefix_mask(bits: u32) -> FlowMask {
        let mut m = FlowMask::default();
        m.0.in_port = u32::MAX;
        m.0.eth_type = 0xffff;
        m.0.nw_dst = if bits == 0 {
            0
        } else {
            u32::MAX << (32 - bits)
        };
        m
    }

    fn key(dst: u32) -> FlowKey {
        let mut k = FlowKey::ZERO;
        k.in_port = 1;
        k.eth_type = 0x0800;
        k.nw_dst = dst;
        k.tp_dst = 80;
        k
    }

    fn flow(dst: u32, bits: u32, out: u32) -> Arc<Megaflow> {
        Arc::new(Megaflow::new(
            &key(dst),
            prefix_mask(bits),
            vec![DpAction::Output(out)],
            out as u128,
        ))
    }

    #[test]
    fn insert_lookup_remove() {
        let mut c = Dpcls::new();
        c.insert(flow(0x0a00_0000, 8, 2)).unwrap();
        c.insert(flow(0xc0a8_0100, 24, 3)).unwrap();
        assert_eq!((c.len(), c.subtables().len()), (2, 2));
        let (f, probes) = c.lookup(&key(0x0a01_0203));
        assert_eq!(f.unwrap().actions, vec![DpAction::Output(2)]);
        assert_eq!(probes, 1);
        let (f, probes) = c.lookup(&key(0xc0a8_0105));
        assert_eq!(f.unwrap().actions, vec![DpAction::Output(3)]);
        assert_eq!(probes, 2);
        assert!(c.lookup(&key(0x0b00_0000)).0.is_none());
        assert!(matches!(
            c.insert(flow(0x0a05_0000, 8, 9)),
            Err(DpclsError::Exists { .. })
        ));
        let gone = c.remove(&key(0x0a00_0000), &prefix_mask(8)).unwrap();
        assert!(!gone.is_alive());
        assert_eq!((c.len(), c.subtables().len()), (1, 1));
        assert!(c.lookup(&key(0x0a01_0203)).0.is_none());
    }

    #[test]
    fn ranking_moves_hot_subtables_first() {
        let mut c = Dpcls::new();
        c.insert(flow(0x0a00_0000, 8, 2)).unwrap();
        c.insert(flow(0xc0a8_0100, 24, 3)).unwrap();
        for _ in 0..10 {
            c.lookup(&key(0xc0a8_0101));
        }
        c.rank();
        assert_eq!(c.subtables()[0].mask(), &prefix_mask(24));
        assert_eq!(c.lookup(&key(0xc0a8_0101)).1, 1);
    }

    #[test]
    fn batch_lookup_reports_misses_and_probes() {
        let mut c = Dpcls::new();
        c.insert(flow(0x0a00_0000, 8, 2)).unwrap();
        c.insert(flow(0xc0a8_0100, 24, 3)).unwrap();
        let keys = [key(0x0a00_0001), key(0x0b00_0001), key(0xc0a8_0101)];
        let mut out = [None; 3];
        let (miss, st) = c.lookup_batch(&keys, u32::MAX, &mut out);
        assert_eq!(miss, 0b010);
        assert_eq!(st, LookupStats { hits: 2, probes: 3 });
        assert_eq!(out[0].unwrap().actions, vec![DpAction::Output(2)]);
        assert!(out[1].is_none());
        assert_eq!(out[2].unwrap().actions, vec![DpAction::Output(3)]);
    }

    #[test]
    fn retain_and_replace_kill_removed_flows() {
        let mut c = Dpcls::new();
        let a = flow(0x0a00_0000, 8, 2);
        c.insert(a.clone()).unwrap();
        let b = flow(0x0a00_0000, 8, 5);
        let old = c.replace(b.clone()).unwrap();
        assert!(Arc::ptr_eq(&old, &a) && !a.is_alive());
        assert!(!c.remove_flow(&a));
        assert_eq!(c.retain(|f| f.ufid != 5), 1);
        assert!(!b.is_alive() && c.is_empty() && c.subtables().is_empty());
    }

    proptest! {
        // Property (a) for dpcls: a returned megaflow's masked key always
        // equals the packet's key under that megaflow's mask, and a miss
        // means no installed megaflow matches.
        #[test]
        fn lookups_only_return_matching_flows(
            flows in proptest::collection::vec((any::<u32>(), 0u32..=32, 1u32..8), 1..40),
            probes in proptest::collection::vec(any::<u32>(), 1..32),
        ) {
            let mut c = Dpcls::new();
            let mut installed = Vec::new();
            for (dst, bits, out) in flows {
                let f = flow(dst, bits, out);
                if c.insert(f.clone()).is_ok() { installed.push(f); }
            }
            let keys: Vec<FlowKey> = probes.iter().map(|d| key(*d)).collect();
            let mut out = vec![None; keys.len()];
            let (miss, _) = c.lookup_batch(&keys, u32::MAX, &mut out);
            for (i, k) in keys.iter().enumerate() {
                let single = c.lookup(k).0;
                match out[i] {
                    Some(f) => {
                        prop_assert!(k.masked(&f.mask) == f.key);
                        prop_assert!(miss & (1 << i) == 0);
                        prop_assert!(single.is_some());
                    }
                    None => {
                        prop_assert!(miss & (1 << i) != 0);
                        prop_assert!(installed.iter().all(|f| !f.matches(k)));
                        prop_assert!(single.is_none());
                    }
                }
            }
        }
    }
}
