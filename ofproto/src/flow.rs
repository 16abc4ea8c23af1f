//! The packet as the OpenFlow pipeline sees it, and matches over it.
//!
//! A [`Flow`] is the datapath [`FlowKey`] plus the pipeline-only fields
//! OpenFlow adds: `metadata` and the sixteen 32-bit registers. Those start
//! at zero for every packet and are functions of the key and the rules, so
//! they never appear in a megaflow mask. A [`Match`] is a flow and a mask
//! of the same layout (one bits must equal); rules hold one.
//!
//! `in_port` here is the OpenFlow port number; translation maps it to and
//! from datapath port numbers.
//!
//! # Thread safety
//! Plain `Copy` data.

use bytemuck::{Pod, Zeroable};
use dpif_netdev::key::{FlowKey, FlowMask};

/// Words in a [`Flow`].
pub const FLOW_WORDS: usize = 36;

/// A packet's fields as the pipeline sees them.
#[derive(Clone, Copy, Pod, Zeroable, PartialEq, Eq, Hash, Default)]
#[repr(C)]
pub struct Flow {
    /// Datapath-visible fields (in_port is the OpenFlow port).
    pub key: FlowKey,
    /// OpenFlow metadata (`write_metadata`, `metadata=` matches).
    pub metadata: u64,
    /// Registers reg0..reg15.
    pub regs: [u32; 16],
}

const _: () = assert!(std::mem::size_of::<Flow>() == FLOW_WORDS * 8);

impl std::fmt::Debug for Flow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flow")
            .field("key", &self.key)
            .field("metadata", &self.metadata)
            .field("regs", &self.regs)
            .finish()
    }
}

impl Flow {
    /// The all-zero flow (also the all-wildcard mask).
    pub const ZERO: Flow = Flow {
        key: FlowKey::ZERO,
        metadata: 0,
        regs: [0; 16],
    };

    /// A flow for a packet with this key (pipeline fields zero).
    pub fn from_key(key: FlowKey) -> Flow {
        Flow { key, ..Flow::ZERO }
    }

    /// The flow as words.
    #[inline(always)]
    pub fn words(&self) -> &[u64; FLOW_WORDS] {
        bytemuck::cast_ref(self)
    }

    /// The flow as mutable words.
    #[inline(always)]
    pub fn words_mut(&mut self) -> &mut [u64; FLOW_WORDS] {
        bytemuck::cast_mut(self)
    }

    /// Word-wise AND.
    pub fn masked(&self, mask: &Flow) -> Flow {
        let mut out = *self;
        for (o, m) in out.words_mut().iter_mut().zip(mask.words()) {
            *o &= m;
        }
        out
    }

    /// Word-wise OR into self.
    pub fn union_with(&mut self, other: &Flow) {
        for (a, b) in self.words_mut().iter_mut().zip(other.words()) {
            *a |= b;
        }
    }

    /// Whether every word is zero.
    pub fn is_zero(&self) -> bool {
        self.words().iter().all(|w| *w == 0)
    }

    /// The datapath part as a megaflow mask (pipeline fields dropped).
    pub fn key_mask(&self) -> FlowMask {
        FlowMask(self.key)
    }
}

/// A match: the bits of `mask` that are one must equal `flow`'s.
/// Invariant: `flow == flow.masked(&mask)` (kept by every constructor).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct Match {
    /// Values (zero wherever the mask is zero).
    pub flow: Flow,
    /// One bits must match.
    pub mask: Flow,
}

impl Match {
    /// Matches every packet.
    pub const ANY: Match = Match {
        flow: Flow::ZERO,
        mask: Flow::ZERO,
    };

    /// Whether `flow` satisfies this match.
    #[inline]
    pub fn matches(&self, flow: &Flow) -> bool {
        flow.words()
            .iter()
            .zip(self.flow.words())
            .zip(self.mask.words())
            .all(|((f, v), m)| f & m == *v)
    }

    /// Re-establishes the invariant after direct edits.
    pub fn normalize(&mut self) {
        self.flow = self.flow.masked(&self.mask);
    }

    /// Whether every packet this match accepts is also accepted by
    /// `wider`: `wider`'s mask is a subset of ours and values agree on it
    /// (OpenFlow's non-strict modify/delete selection).
    pub fn is_subsumed_by(&self, wider: &Match) -> bool {
        self.mask
            .words()
            .iter()
            .zip(wider.mask.words())
            .zip(self.flow.words().iter().zip(wider.flow.words()))
            .all(|((m, wm), (v, wv))| wm & !m == 0 && (v & wm) == *wv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsumption_follows_openflow_non_strict_rules() {
        let mut narrow = Match::ANY;
        narrow.mask.key.in_port = u32::MAX;
        narrow.flow.key.in_port = 1;
        narrow.mask.key.tp_dst = 0xffff;
        narrow.flow.key.tp_dst = 80;
        let mut wide = Match::ANY;
        wide.mask.key.in_port = u32::MAX;
        wide.flow.key.in_port = 1;
        assert!(narrow.is_subsumed_by(&wide));
        assert!(!wide.is_subsumed_by(&narrow));
        assert!(narrow.is_subsumed_by(&Match::ANY));
        wide.flow.key.in_port = 2;
        assert!(!narrow.is_subsumed_by(&wide));
        let mut f = Flow::ZERO;
        f.key.in_port = 1;
        f.key.tp_dst = 80;
        assert!(narrow.matches(&f));
        f.key.tp_dst = 81;
        assert!(!narrow.matches(&f));
    }
}
