//! The MAC learning table of one bridge (OVS's `mac-learning.c`): which
//! port a source MAC was last seen on, per VLAN.
//!
//! Geometry: a hash map keyed by (VLAN, MAC), at most `max_entries` (OVS's
//! `mac-table-size`, default 2048). An entry not refreshed for `aging_ms`
//! (OVS's `mac-aging-time`, default 300 s) is removed by [`MacTable::age`].
//! When the table is full, learning a new MAC evicts the least recently
//! used entry. The scan for it is linear: it runs only on the slow path,
//! only when the table is full, and a few thousand entries take a couple
//! of microseconds, which does not justify a second index (an LRU list)
//! kept in step on every refresh.
//!
//! What it does not do: read a clock (callers pass `now` in milliseconds)
//! or know about megaflows. It reports what changed ([`Learned`]) so the
//! bridge can have the megaflows that depended on a MAC revalidated.
//!
//! # Thread safety
//! Plain data; the bridge keeps it behind a mutex that only slow-path
//! threads (upcall handlers, the revalidator, the control thread) take.

use ahash::AHashMap as HashMap;

/// Default `mac_aging_s`.
pub const DEFAULT_AGING_S: u64 = 300;
/// Default `mac_table_size`.
pub const DEFAULT_MAX_ENTRIES: usize = 2048;

/// One learned MAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MacEntry {
    /// OpenFlow port it was seen on.
    pub port: u32,
    /// When it was learned or last refreshed (ms).
    pub used_ms: u64,
}

/// What learning a source MAC changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Learned {
    /// A MAC not known before (possibly evicting another).
    New,
    /// A known MAC seen on another port: it moved.
    Moved {
        /// The port it was on.
        from: u32,
    },
    /// A known MAC on the same port: only its age was reset.
    Refreshed,
    /// Not learnable (multicast or broadcast source).
    Ignored,
}

impl Learned {
    /// Whether forwarding decisions made before may now be wrong.
    pub fn changes_forwarding(self) -> bool {
        matches!(self, Learned::New | Learned::Moved { .. })
    }
}

/// One row of `fdb/show`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdbRow {
    /// Port.
    pub port: u32,
    /// VLAN.
    pub vlan: u16,
    /// MAC.
    pub mac: [u8; 6],
    /// Seconds since last seen.
    pub age_s: u64,
}

/// The table.
#[derive(Clone, Debug)]
pub struct MacTable {
    map: HashMap<(u16, [u8; 6]), MacEntry>,
    max_entries: usize,
    aging_ms: u64,
    /// Entries evicted because the table was full.
    pub evictions: u64,
}

impl Default for MacTable {
    fn default() -> Self {
        MacTable::new(DEFAULT_AGING_S * 1000, DEFAULT_MAX_ENTRIES)
    }
}

/// Whether a MAC is multicast (or broadcast).
pub fn is_multicast(mac: &[u8; 6]) -> bool {
    mac[0] & 1 != 0
}

impl MacTable {
    /// An empty table. `max_entries` is at least 1.
    pub fn new(aging_ms: u64, max_entries: usize) -> MacTable {
        MacTable {
            map: HashMap::new(),
            max_entries: max_entries.max(1),
            aging_ms,
            evictions: 0,
        }
    }

    /// Aging time in milliseconds.
    pub fn aging_ms(&self) -> u64 {
        self.aging_ms
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Records that `mac` was seen as a source on `port` in `vlan`.
    pub fn learn(&mut self, vlan: u16, mac: [u8; 6], port: u32, now: u64) -> Learned {
        if is_multicast(&mac) {
            return Learned::Ignored;
        }
        if let Some(e) = self.map.get_mut(&(vlan, mac)) {
            e.used_ms = now;
            if e.port == port {
                return Learned::Refreshed;
            }
            let from = e.port;
            e.port = port;
            return Learned::Moved { from };
        }
        if self.map.len() >= self.max_entries {
            let oldest = self
                .map
                .iter()
                .min_by_key(|(_, e)| e.used_ms)
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                self.map.remove(&k);
                self.evictions += 1;
            }
        }
        self.map
            .insert((vlan, mac), MacEntry { port, used_ms: now });
        Learned::New
    }

    /// The port `mac` was learned on in `vlan`.
    pub fn lookup(&self, vlan: u16, mac: &[u8; 6]) -> Option<u32> {
        self.map.get(&(vlan, *mac)).map(|e| e.port)
    }

    /// The entry for `mac` in `vlan`.
    pub fn get(&self, vlan: u16, mac: &[u8; 6]) -> Option<MacEntry> {
        self.map.get(&(vlan, *mac)).copied()
    }

    /// Removes entries not seen for the aging time; returns how many.
    pub fn age(&mut self, now: u64) -> usize {
        let before = self.map.len();
        let aging = self.aging_ms;
        self.map
            .retain(|_, e| now.saturating_sub(e.used_ms) < aging);
        before - self.map.len()
    }

    /// Removes every entry; returns how many there were.
    pub fn flush(&mut self) -> usize {
        let n = self.map.len();
        self.map.clear();
        n
    }

    /// Removes the entries on `port` (the port went away).
    pub fn flush_port(&mut self, port: u32) -> usize {
        let before = self.map.len();
        self.map.retain(|_, e| e.port != port);
        before - self.map.len()
    }

    /// The entries as `fdb/show` lists them: by port, VLAN, MAC.
    pub fn rows(&self, now: u64) -> Vec<FdbRow> {
        let mut v: Vec<FdbRow> = self
            .map
            .iter()
            .map(|((vlan, mac), e)| FdbRow {
                port: e.port,
                vlan: *vlan,
                mac: *mac,
                age_s: now.saturating_sub(e.used_ms) / 1000,
            })
            .collect();
        v.sort_by_key(|r| (r.port, r.vlan, r.mac));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const B: [u8; 6] = [2, 0, 0, 0, 0, 2];
    const C: [u8; 6] = [2, 0, 0, 0, 0, 3];

    #[test]
    fn learns_then_refreshes() {
        let mut t = MacTable::default();
        assert_eq!(t.learn(0, A, 1, 10), Learned::New);
        assert_eq!(t.learn(0, A, 1, 20), Learned::Refreshed);
        assert_eq!(t.get(0, &A).unwrap().used_ms, 20);
        assert_eq!(t.lookup(0, &A), Some(1));
        assert_eq!(t.lookup(0, &B), None);
    }

    #[test]
    fn a_moved_mac_is_relearned_on_its_new_port() {
        let mut t = MacTable::default();
        t.learn(0, A, 1, 0);
        assert_eq!(t.learn(0, A, 3, 5), Learned::Moved { from: 1 });
        assert_eq!(t.lookup(0, &A), Some(3));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn vlans_are_separate_tables() {
        let mut t = MacTable::default();
        t.learn(100, A, 1, 0);
        assert_eq!(t.learn(200, A, 2, 0), Learned::New);
        assert_eq!(t.lookup(100, &A), Some(1));
        assert_eq!(t.lookup(200, &A), Some(2));
        assert_eq!(t.lookup(0, &A), None);
    }

    #[test]
    fn multicast_sources_are_not_learned() {
        let mut t = MacTable::default();
        assert_eq!(t.learn(0, [0xff; 6], 1, 0), Learned::Ignored);
        assert_eq!(t.learn(0, [1, 0, 0x5e, 0, 0, 1], 1, 0), Learned::Ignored);
        assert!(t.is_empty());
    }

    #[test]
    fn entries_age_out_unless_refreshed() {
        let mut t = MacTable::new(1000, 10);
        t.learn(0, A, 1, 0);
        t.learn(0, B, 2, 0);
        assert_eq!(t.learn(0, B, 2, 900), Learned::Refreshed);
        assert_eq!(t.age(999), 0);
        assert_eq!(t.age(1000), 1);
        assert_eq!(t.lookup(0, &A), None);
        assert_eq!(t.lookup(0, &B), Some(2));
        assert_eq!(t.age(1900), 1);
        assert!(t.is_empty());
    }

    #[test]
    fn a_full_table_evicts_the_least_recently_used() {
        let mut t = MacTable::new(1_000_000, 2);
        t.learn(0, A, 1, 0);
        t.learn(0, B, 2, 10);
        t.learn(0, A, 1, 20); // A is now the most recent.
        assert_eq!(t.learn(0, C, 3, 30), Learned::New);
        assert_eq!(t.len(), 2);
        assert_eq!(t.lookup(0, &B), None);
        assert_eq!(t.lookup(0, &A), Some(1));
        assert_eq!(t.lookup(0, &C), Some(3));
        assert_eq!(t.evictions, 1);
    }

    #[test]
    fn flush_and_flush_port() {
        let mut t = MacTable::default();
        t.learn(0, A, 1, 0);
        t.learn(0, B, 2, 0);
        t.learn(10, C, 2, 0);
        assert_eq!(t.flush_port(2), 2);
        assert_eq!(t.rows(0).len(), 1);
        assert_eq!(t.flush(), 1);
        assert!(t.is_empty());
    }

    #[test]
    fn rows_are_sorted_with_ages() {
        let mut t = MacTable::default();
        t.learn(0, B, 2, 0);
        t.learn(0, A, 1, 1500);
        let r = t.rows(4000);
        assert_eq!(r[0].port, 1);
        assert_eq!(r[0].age_s, 2);
        assert_eq!(r[1].mac, B);
        assert_eq!(r[1].age_s, 4);
    }
}
