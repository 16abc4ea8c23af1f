//! Exact-match cache (EMC): the first lookup a packet gets.
//!
//! Geometry: [`DEFAULT_ENTRIES`] (8192) entries in sets of [`WAYS`] (2);
//! a key lives in the set chosen by the low bits of its [`emc_hash`] and in
//! either way of it. A lookup compares the 32-bit hash first and then the
//! full key, so a hit is always an exact match; an entry whose megaflow
//! has been removed from the classifier (`!is_alive()`) is treated as
//! empty, so a dead megaflow is never returned.
//!
//! Layout: the hashes live in their own array (4 bytes an entry, 32 KB for
//! the default size, so it stays in the core's L1/L2), apart from the
//! entries (key and megaflow, four cache lines each, line-aligned). A miss
//! whose hash matches no way therefore touches no entry at all, where the
//! entries with the hash inside cost two cache misses per lookup once the
//! flows outnumber what the cache holds. [`Emc::probe`] and
//! [`Emc::prefetch_entry`] let a burst find its candidates and start
//! loading them before comparing any key (the pipeline does that).
//!
//! Two lanes, each with that geometry and layout:
//! - the **full-key lane**, keyed by the 27-word [`FlowKey`], for every
//!   packet;
//! - the **plain lane**, keyed by the six-word [`PlainKey`] of a plain
//!   frame (untagged IPv4 TCP/UDP, no options, no fragment, no tunnel),
//!   one cache line an entry. Its key is read straight from the headers,
//!   with no extraction; it is as exact as the full key (see
//!   [`crate::plain_key`]). The fast path looks plain frames up here first
//!   and moves a plain flow found by the full-key lane or the classifier
//!   into it, under the same insertion policy.
//!
//! Insertion is probabilistic, as in OVS (`emc-insert-inv-prob`): a miss
//! inserts with probability `1 / insert_inv_prob` (default 100; 1 = always;
//! 0 = never), so a flood of short-lived flows cannot thrash entries that
//! long-lived flows keep hitting. Victim choice within a set: an empty or
//! dead way first, else the way picked by a hash bit (so two keys that
//! share a set do not always evict the same way).
//!
//! What it does not do: no aging (entries die with their megaflow and are
//! overwritten), no stats (the megaflow's stats are updated by the caller).
//!
//! [`emc_hash`]: crate::hash::emc_hash
//!
//! # Thread safety
//! Owned by one PMD (`&mut self` to change it). Entries hold `Arc`s of the
//! megaflows the same PMD's classifier owns; `is_alive` is read with
//! `Acquire` and written by the same PMD, so no cross-thread ordering is
//! relied upon.

use crate::key::FlowKey;
use crate::megaflow::Megaflow;
use crate::packet::prefetch_lines;
use crate::plain_key::PlainKey;
use std::sync::Arc;

/// Default number of entries (OVS's EM_FLOW_HASH_ENTRIES).
pub const DEFAULT_ENTRIES: usize = 8192;
/// Entries per set.
pub const WAYS: usize = 2;
/// Default inverse insertion probability (OVS's default).
pub const DEFAULT_INSERT_INV_PROB: u32 = 100;

/// What a lane is keyed by: a full [`FlowKey`] or a [`PlainKey`].
pub trait LaneKey: Copy + PartialEq {
    /// The key of an empty slot (never looked up: an empty slot's hash
    /// is 0, which no key hashes to).
    const EMPTY: Self;
}

impl LaneKey for FlowKey {
    const EMPTY: Self = FlowKey::ZERO;
}

impl LaneKey for PlainKey {
    const EMPTY: Self = PlainKey::NONE;
}

/// One entry. Its hash is in `Lane::hashes` at the same index. Aligned
/// to a cache line: a full-key entry is four lines, a plain one one.
#[repr(C, align(64))]
struct Slot<K> {
    flow: Option<Arc<Megaflow>>,
    key: K,
}

impl<K: LaneKey> Slot<K> {
    const EMPTY: Slot<K> = Slot {
        key: K::EMPTY,
        flow: None,
    };

    #[inline(always)]
    fn live_flow(&self) -> Option<&Arc<Megaflow>> {
        self.flow.as_ref().filter(|f| f.is_alive())
    }
}

/// One set-associative table of the cache: the hashes in their own array
/// (4 bytes an entry, so that a miss whose hash matches no way touches no
/// entry), the entries in another.
struct Lane<K> {
    /// Hash of each entry's key; 0 = empty (the hashes never return 0).
    /// Same indices as `slots`.
    hashes: Box<[u32]>,
    slots: Box<[Slot<K>]>,
    set_mask: u32,
    sweep_pos: usize,
}

impl<K: LaneKey> Lane<K> {
    fn new(entries: usize) -> Lane<K> {
        Lane {
            hashes: vec![0; entries].into_boxed_slice(),
            slots: (0..entries).map(|_| Slot::EMPTY).collect(),
            set_mask: (entries / WAYS - 1) as u32,
            sweep_pos: 0,
        }
    }

    #[inline(always)]
    fn set(&self, hash: u32) -> std::ops::Range<usize> {
        let base = (hash & self.set_mask) as usize * WAYS;
        base..base + WAYS
    }

    #[inline(always)]
    fn probe(&self, hash: u32) -> Option<u32> {
        let r = self.set(hash);
        let base = r.start;
        self.hashes[r]
            .iter()
            .position(|&h| h == hash)
            .map(|w| (base + w) as u32)
    }

    #[inline(always)]
    fn prefetch_entry(&self, idx: u32) {
        if let Some(s) = self.slots.get(idx as usize) {
            prefetch_lines(
                (s as *const Slot<K>).cast::<u8>(),
                std::mem::size_of::<Slot<K>>() / 64,
            );
        }
    }

    #[inline(always)]
    fn lookup_at(&self, key: &K, idx: u32) -> Option<&Arc<Megaflow>> {
        let s = self.slots.get(idx as usize)?;
        if s.key == *key {
            s.live_flow()
        } else {
            None
        }
    }

    fn insert(&mut self, key: &K, hash: u32, flow: &Arc<Megaflow>) {
        let r = self.set(hash);
        let base = r.start;
        let hashes = &self.hashes[r.clone()];
        let set = &mut self.slots[r];
        let idx = (0..WAYS)
            .position(|w| hashes[w] == hash && set[w].key == *key)
            .or_else(|| set.iter().position(|s| s.live_flow().is_none()))
            .unwrap_or((hash >> 31) as usize % WAYS);
        let slot = &mut set[idx];
        slot.key = *key;
        slot.flow = Some(flow.clone());
        self.hashes[base + idx] = hash;
    }

    fn sweep(&mut self, n: usize) -> usize {
        let mut cleared = 0;
        for _ in 0..n.min(self.slots.len()) {
            let s = &mut self.slots[self.sweep_pos];
            if s.flow.as_ref().is_some_and(|f| !f.is_alive()) {
                *s = Slot::EMPTY;
                self.hashes[self.sweep_pos] = 0;
                cleared += 1;
            }
            self.sweep_pos = (self.sweep_pos + 1) % self.slots.len();
        }
        cleared
    }

    fn clear(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = Slot::EMPTY);
        self.hashes.iter_mut().for_each(|h| *h = 0);
    }

    fn len(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.live_flow().is_some())
            .count()
    }
}

/// The exact-match cache of one PMD: the full-key lane and the plain lane.
pub struct Emc {
    full: Lane<FlowKey>,
    plain: Lane<PlainKey>,
    /// Insert when `rng <= threshold`; 0 disables insertion, `u32::MAX`
    /// inserts always.
    threshold: u32,
    inv_prob: u32,
    rng: u32,
}

impl Emc {
    /// A cache of `entries` entries in each lane (rounded up to a power of
    /// two, at least [`WAYS`]) with the given inverse insertion
    /// probability and RNG seed.
    pub fn new(entries: usize, insert_inv_prob: u32, seed: u32) -> Emc {
        let entries = entries.max(WAYS).next_power_of_two();
        let mut emc = Emc {
            full: Lane::new(entries),
            plain: Lane::new(entries),
            threshold: 0,
            inv_prob: 0,
            rng: seed | 1,
        };
        emc.set_insert_inv_prob(insert_inv_prob);
        emc
    }

    /// Sets the inverse insertion probability (0 = never insert).
    pub fn set_insert_inv_prob(&mut self, inv_prob: u32) {
        self.inv_prob = inv_prob;
        self.threshold = match inv_prob {
            0 => 0,
            1 => u32::MAX,
            n => u32::MAX / n,
        };
    }

    /// The inverse insertion probability in force.
    pub fn insert_inv_prob(&self) -> u32 {
        self.inv_prob
    }

    /// Number of entries of each lane.
    pub fn capacity(&self) -> usize {
        self.full.slots.len()
    }

    /// The live megaflow cached for exactly `key`, if any. `hash` must be
    /// [`crate::hash::emc_hash`] of the key. The same as the fast path's
    /// [`Emc::probe`] then [`Emc::lookup_at`].
    #[inline(always)]
    pub fn lookup(&self, key: &FlowKey, hash: u32) -> Option<&Arc<Megaflow>> {
        self.lookup_at(key, self.probe(hash)?)
    }

    /// The first entry whose hash is `hash`, if any: where
    /// [`Emc::lookup_at`] should look. Reads only the hash array.
    #[inline(always)]
    pub fn probe(&self, hash: u32) -> Option<u32> {
        self.full.probe(hash)
    }

    /// Hints the CPU to start loading entry `idx` (from [`Emc::probe`]):
    /// all four lines, as the key compare reads them all.
    #[inline(always)]
    pub fn prefetch_entry(&self, idx: u32) {
        self.full.prefetch_entry(idx)
    }

    /// [`Emc::lookup`] when [`Emc::probe`] gave `idx` for the key's hash:
    /// the live megaflow of entry `idx` if its key is exactly `key`. When
    /// two ways share a hash (rare: a 32-bit hash) the second is not
    /// checked, which only costs a miss.
    #[inline(always)]
    pub fn lookup_at(&self, key: &FlowKey, idx: u32) -> Option<&Arc<Megaflow>> {
        self.full.lookup_at(key, idx)
    }

    /// The plain lane's [`Emc::lookup`]: `hash` is [`PlainKey::hash`].
    #[inline(always)]
    pub fn lookup_plain(&self, key: &PlainKey, hash: u32) -> Option<&Arc<Megaflow>> {
        self.lookup_plain_at(key, self.probe_plain(hash)?)
    }

    /// The plain lane's [`Emc::probe`].
    #[inline(always)]
    pub fn probe_plain(&self, hash: u32) -> Option<u32> {
        self.plain.probe(hash)
    }

    /// The plain lane's [`Emc::prefetch_entry`] (one line).
    #[inline(always)]
    pub fn prefetch_plain(&self, idx: u32) {
        self.plain.prefetch_entry(idx)
    }

    /// The plain lane's [`Emc::lookup_at`].
    #[inline(always)]
    pub fn lookup_plain_at(&self, key: &PlainKey, idx: u32) -> Option<&Arc<Megaflow>> {
        self.plain.lookup_at(key, idx)
    }

    /// One draw of the insertion policy: true with probability
    /// `1 / insert_inv_prob`.
    #[inline]
    pub fn draw_insert(&mut self) -> bool {
        if self.threshold == 0 {
            return false;
        }
        if self.threshold != u32::MAX {
            // xorshift32: cheap, owned state, deterministic per seed.
            let mut x = self.rng;
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            self.rng = x;
            if x > self.threshold {
                return false;
            }
        }
        true
    }

    /// Probabilistic insertion after an EMC miss that the classifier
    /// resolved: inserts with probability `1 / insert_inv_prob`.
    #[inline]
    pub fn maybe_insert(&mut self, key: &FlowKey, hash: u32, flow: &Arc<Megaflow>) {
        if self.draw_insert() {
            self.insert(key, hash, flow);
        }
    }

    /// Inserts (or updates) `key` → `flow` unconditionally.
    pub fn insert(&mut self, key: &FlowKey, hash: u32, flow: &Arc<Megaflow>) {
        self.full.insert(key, hash, flow)
    }

    /// Inserts (or updates) the plain `key` → `flow` unconditionally.
    /// `flow` must be the megaflow of the flow key `key` stands for.
    pub fn insert_plain(&mut self, key: &PlainKey, hash: u32, flow: &Arc<Megaflow>) {
        self.plain.insert(key, hash, flow)
    }

    /// Clears up to `n` slots of each lane from a rolling position whose
    /// megaflow is dead, releasing their references (OVS's slow sweep).
    /// Call from the PMD's housekeeping, a few slots per iteration.
    pub fn sweep(&mut self, n: usize) -> usize {
        self.full.sweep(n) + self.plain.sweep(n)
    }

    /// Empties the cache.
    pub fn clear(&mut self) {
        self.full.clear();
        self.plain.clear();
    }

    /// Number of slots holding a live megaflow, in both lanes.
    pub fn len(&self) -> usize {
        self.full.len() + self.plain.len()
    }

    /// Whether no slot holds a live megaflow.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::emc_hash;
    use crate::key::FlowMask;
    use crate::packet::PacketMeta;
    use proptest::prelude::*;

    fn key(port: u32, dst: u32) -> FlowKey {
        let mut k = FlowKey::ZERO;
        k.in_port = port;
        k.nw_dst = dst;
        k.eth_type = 0x0800;
        k
    }

    fn flow_for(k: &FlowKey) -> Arc<Megaflow> {
        Arc::new(Megaflow::new(k, FlowMask::exact(), vec![], 0))
    }

    fn h(k: &FlowKey) -> u32 {
        emc_hash(k, &PacketMeta::default())
    }

    #[test]
    fn hit_requires_full_key_and_live_flow() {
        let mut emc = Emc::new(DEFAULT_ENTRIES, 1, 1);
        let k = key(1, 0x0a000001);
        let f = flow_for(&k);
        assert!(emc.lookup(&k, h(&k)).is_none());
        emc.insert(&k, h(&k), &f);
        assert!(Arc::ptr_eq(emc.lookup(&k, h(&k)).unwrap(), &f));
        // Same hash, different key: no hit.
        let k2 = key(1, 0x0a000002);
        assert!(emc.lookup(&k2, h(&k)).is_none());
        f.kill();
        assert!(emc.lookup(&k, h(&k)).is_none());
        assert_eq!(emc.sweep(DEFAULT_ENTRIES), 1);
        assert!(emc.is_empty());
    }

    #[test]
    fn insertion_probability_is_respected() {
        let mut never = Emc::new(1024, 0, 7);
        let mut sometimes = Emc::new(1 << 16, 100, 7);
        let mut inserted = 0;
        let mut keep = Vec::new();
        for i in 0..20_000u32 {
            let k = key(1, i);
            let f = flow_for(&k);
            never.maybe_insert(&k, h(&k), &f);
            sometimes.maybe_insert(&k, h(&k), &f);
            if sometimes.lookup(&k, h(&k)).is_some() {
                inserted += 1;
            }
            keep.push(f);
        }
        assert!(never.is_empty());
        // 1/100 of 20,000 = 200 expected; allow wide bounds.
        assert!((100..400).contains(&inserted), "inserted {inserted}");
    }

    #[test]
    fn a_set_holds_two_colliding_keys() {
        let mut emc = Emc::new(8, 1, 1);
        let a = key(1, 1);
        let b = key(2, 2);
        let (fa, fb) = (flow_for(&a), flow_for(&b));
        // Force both into set 0 with distinct hashes.
        emc.insert(&a, 0x10, &fa);
        emc.insert(&b, 0x20, &fb);
        assert!(emc.lookup(&a, 0x10).is_some());
        assert!(emc.lookup(&b, 0x20).is_some());
        assert_eq!(emc.len(), 2);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        // Property (a) for the EMC: a hit's megaflow always matches the key.
        #[test]
        fn hits_always_match(ops in proptest::collection::vec((0u32..4, 0u32..64, any::<bool>()), 1..64)) {
            let mut emc = Emc::new(16, 1, 3);
            let mut flows = Vec::new();
            for (port, dst, kill) in ops {
                let k = key(port, dst);
                let mut m = FlowMask::default();
                m.0.in_port = u32::MAX;
                m.0.nw_dst = 0x3c;
                let f = Arc::new(Megaflow::new(&k, m, vec![], 0));
                emc.insert(&k, h(&k), &f);
                if kill { f.kill(); }
                flows.push(f);
                for p in 0..4 {
                    for d in 0..64 {
                        let q = key(p, d);
                        if let Some(hit) = emc.lookup(&q, h(&q)) {
                            prop_assert!(hit.is_alive());
                            prop_assert!(hit.matches(&q));
                        }
                    }
                }
            }
        }
    }
}
