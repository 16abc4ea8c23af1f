//! Simple match: a classifier shortcut for ports whose megaflows match
//! only what the datapath always matches (OVS's "simple match table",
//! lib/dpif-netdev.c, in OVS since 2.17).
//!
//! Port-to-port forwarding rules (`in_port=1,actions=output:2`, the
//! everyday NFV rule) translate to megaflows whose mask keeps only
//! `recirc_id`, `in_port`, `eth_type`, `nw_frag` and perhaps the outer VLAN
//! tag. rvs goes further than OVS's simple match, whose other megaflows
//! take the full path:
//! - tunnel encapsulation adds the ECN bits of `nw_tos`;
//! - a VTEP's termination megaflow (`tnl_pop`) matches the local address,
//!   UDP and the tunnel's port: `nw_dst`, `nw_proto`, `tp_dst`;
//! - the megaflow of a decapsulated packet, on its tunnel port, matches
//!   `tun_id` and the outer IPv4 source and destination;
//! - a NORMAL (MAC-learning) megaflow matches both Ethernet addresses.
//!
//! All of these are allowed ([`SimpleKey`] packs them in six words). For
//! such a megaflow the full flow key is never needed: a short parse of the
//! Ethernet, VLAN, IP fixed and L4 port headers ([`parse`]) gives every
//! field it matches, the packet's tunnel metadata the rest, and one small
//! hash lookup per shape finds it. No key extraction, no EMC, no subtable
//! walk.
//!
//! # When it is used
//! [`SimpleIndex`] mirrors the classifier (the [`crate::dpcls::Dpcls`]
//! that owns it calls [`SimpleIndex::insert`] / [`SimpleIndex::remove`] for
//! every megaflow it installs or removes). A port is served by it
//! ([`SimpleIndex::port`]) only while **every** megaflow that could match a
//! packet fresh from that port (recirculation id 0) is simple, and they use
//! at most [`MAX_SHAPES`] different masks; otherwise the port's packets take
//! the full path, because simple lookups would mostly miss there. A
//! megaflow that does not match `in_port` exactly (none does today; the
//! slow path always matches it) turns the shortcut off for every port.
//!
//! # Why it is exact
//! A simple hit means: the megaflow's masked key equals the packet's key
//! under the megaflow's mask (its mask keeps `recirc_id`, `in_port` and the
//! fields of [`SimpleKey`], all of which are compared), so the megaflow
//! matches the packet, as a classifier hit would. [`parse`] gives up
//! (`None`, full path) on every frame whose extraction is not plain: any
//! frame [`crate::extract`] would mark with a parse error (those are
//! counted as malformed there), IPv6 extension headers, LLC/SNAP frames,
//! ICMPv6 neighbour discovery. A property test checks that whenever it
//! answers, extraction gives the same fields and header offsets and no
//! parse error.
//!
//! # Thread safety
//! Owned by one PMD through its `Dpcls` (`&mut self` to change, `&self`
//! to look up); megaflows are shared by `Arc` as in the classifier.

use crate::key::{ethertype, ipproto, FlowKey, FlowMask, FRAG_ANY, FRAG_LATER, VLAN_CFI};
use crate::megaflow::Megaflow;
use crate::packet::{TunnelMeta, NO_OFS};
use crate::wire::{ipv6, vlan};
use hashbrown::HashMap;
use std::sync::Arc;

/// Most distinct simple masks one port may have and still be served: each
/// costs one hash probe for a packet that misses the ones before it.
pub const MAX_SHAPES: usize = 4;

/// What [`parse`] reads from a frame: the fields a simple megaflow can
/// match, the TCP flags for the megaflow's stats, and the header offsets
/// that actions need (as [`crate::extract::extract`] would set them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimpleFields {
    /// `FlowKey::eth_type`.
    pub eth_type: u16,
    /// `FlowKey::vlan_tci[0]` ([`VLAN_CFI`] set when tagged).
    pub tci: u16,
    /// `FlowKey::vlan_tpid[0]`.
    pub tpid: u16,
    /// `FlowKey::nw_frag`.
    pub nw_frag: u8,
    /// `FlowKey::nw_tos` (IPv4 TOS, IPv6 traffic class).
    pub nw_tos: u8,
    /// `FlowKey::tcp_flags`.
    pub tcp_flags: u16,
    /// Start of the L3 header, or [`NO_OFS`].
    pub l3_ofs: u16,
    /// Start of the L4 header, or [`NO_OFS`].
    pub l4_ofs: u16,
}

/// The five matchable fields packed in one word (the layout of [`Shape`]
/// values).
#[inline(always)]
fn pack(eth_type: u16, tci: u16, tpid: u16, nw_frag: u8, nw_tos: u8) -> u64 {
    u64::from(eth_type)
        | u64::from(tci) << 16
        | u64::from(tpid) << 32
        | u64::from(nw_frag) << 48
        | u64::from(nw_tos) << 56
}

/// The L3/L4 destination word of a [`SimpleKey`].
#[inline(always)]
fn pack_l34(nw_dst: u32, nw_proto: u8, tp_dst: u16) -> u64 {
    u64::from(nw_dst) | u64::from(nw_proto) << 32 | u64::from(tp_dst) << 40
}

/// The outer-address word of a [`SimpleKey`].
#[inline(always)]
fn pack_tun(src: u32, dst: u32) -> u64 {
    u64::from(src) | u64::from(dst) << 32
}

/// An Ethernet address as a word of [`SimpleKey`] (big-endian in the low
/// 48 bits).
#[inline(always)]
fn pack_mac(m: &[u8; 6]) -> u64 {
    u64::from_be_bytes([0, 0, m[0], m[1], m[2], m[3], m[4], m[5]])
}

/// What simple match looks a packet up by: word 0 the five fields of
/// [`SimpleFields::bits`], word 1 `nw_dst`, `nw_proto` and `tp_dst` (what a
/// tunnel's termination megaflow matches: the local VTEP address, UDP,
/// the tunnel's port), words 2 and 3 the tunnel metadata a decapsulated
/// packet's megaflow matches (`tun_id`; the outer IPv4 source and
/// destination), words 4 and 5 the Ethernet destination and source (what
/// a NORMAL megaflow matches). Zero where a packet has none of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimpleKey(pub [u64; 6]);

impl SimpleKey {
    /// No packet's key: word 0 holds the TPID, which [`parse`] sets to 0,
    /// 0x8100 or 0x88a8, never 0xffff.
    pub const NONE: SimpleKey = SimpleKey([u64::MAX; 6]);

    /// The key whose word 0 is `w` and the rest zero (a port's key when
    /// [`PortIndex::key_is_one_word`]).
    #[inline(always)]
    pub fn word0(w: u64) -> SimpleKey {
        SimpleKey([w, 0, 0, 0, 0, 0])
    }
}

impl std::hash::Hash for SimpleKey {
    /// One word for the hasher: the six folded with distinct rotations
    /// (equality still compares all six). Hashing the bytes took a
    /// burst's one lookup to ~2% of the p2p-1flow PMD under `perf`; most
    /// ports use word 0 alone. (The two addresses rotate differently, so
    /// A->B and B->A fold apart.)
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let [a, b, c, d, e, f] = self.0;
        state.write_u64(
            a ^ b.rotate_left(17)
                ^ c.rotate_left(31)
                ^ d.rotate_left(47)
                ^ e.rotate_left(7)
                ^ f.rotate_left(39),
        );
    }
}

/// The simple-match fields of a key (or, for a mask's key, their mask).
fn key_bits(k: &FlowKey) -> SimpleKey {
    SimpleKey([
        pack(
            k.eth_type,
            k.vlan_tci[0],
            k.vlan_tpid[0],
            k.nw_frag,
            k.nw_tos,
        ),
        pack_l34(k.nw_dst, k.nw_proto, k.tp_dst),
        k.tun_id,
        pack_tun(k.tun_ipv4_src, k.tun_ipv4_dst),
        pack_mac(&k.eth_dst),
        pack_mac(&k.eth_src),
    ])
}

impl SimpleFields {
    /// The L2/L3 matchable fields as one word (word 0 of [`SimpleKey`]).
    #[inline(always)]
    pub fn bits(&self) -> u64 {
        pack(
            self.eth_type,
            self.tci,
            self.tpid,
            self.nw_frag,
            self.nw_tos,
        )
    }

    /// Word 1 of [`SimpleKey`] for `frame`, the frame these fields were
    /// parsed from: `nw_dst`, `nw_proto` and `tp_dst` as the extractor
    /// sets them (IPv4 destination or ARP target address; IP protocol or
    /// ARP opcode; the destination port of TCP, UDP and SCTP, or the code
    /// of ICMP over IPv4; zero where absent, as in a later fragment).
    /// Read on demand: only ports with a shape on them pay for it.
    /// Always inlined: as a call it was ~50 instructions per packet on a
    /// VTEP's direct path (callgrind, vxlan-decap), inlined the parse's
    /// checks let most of its own go.
    #[inline(always)]
    pub fn l34(&self, frame: &[u8]) -> u64 {
        let l3 = usize::from(self.l3_ofs);
        let byte = |at: usize| frame.get(at).copied().unwrap_or(0);
        let word = |at: usize| {
            frame
                .get(at..)
                .and_then(|b| b.first_chunk::<4>())
                .map_or(0, |b| u32::from_be_bytes(*b))
        };
        let (dst, proto, v6) = match self.eth_type {
            ethertype::IPV4 => (word(l3 + 16), byte(l3 + 9), false),
            ethertype::IPV6 => (0, byte(l3 + 6), true),
            ethertype::ARP | ethertype::RARP => {
                let ok = frame.get(l3..l3 + 6) == Some(&[0, 1, 0x08, 0x00, 6, 4][..]);
                let op = be16(frame, l3 + 6).unwrap_or(0);
                return match ok {
                    true => pack_l34(word(l3 + 24), if op <= 0xff { op as u8 } else { 0 }, 0),
                    false => 0,
                };
            }
            _ => return 0,
        };
        let l4 = usize::from(self.l4_ofs);
        let tp = match proto {
            _ if self.l4_ofs == NO_OFS => 0,
            ipproto::TCP | ipproto::UDP | ipproto::SCTP => be16(frame, l4 + 2).unwrap_or(0),
            ipproto::ICMP if !v6 => u16::from(byte(l4 + 1)),
            _ => 0,
        };
        pack_l34(dst, proto, tp)
    }
}

#[inline(always)]
fn be16(b: &[u8], at: usize) -> Option<u16> {
    let h = b.get(at..)?.first_chunk::<2>()?;
    Some(u16::from_be_bytes(*h))
}

/// `o` as a header offset below `end` (same rule as the extractor).
#[inline(always)]
fn ofs16(o: usize, end: usize) -> u16 {
    if o < end && o < usize::from(NO_OFS) {
        o as u16
    } else {
        NO_OFS
    }
}

/// Whether the L4 header of `proto` in `seg` is one the extractor takes
/// without error, and its TCP flags. `None`: let the extractor decide.
#[inline(always)]
fn l4_ok(seg: &[u8], proto: u8, v6: bool) -> Option<u16> {
    match proto {
        ipproto::TCP => {
            let h = seg.first_chunk::<20>()?;
            let doff = usize::from(h[12] >> 4);
            (doff >= 5 && doff * 4 <= seg.len())
                .then(|| u16::from_be_bytes([h[12], h[13]]) & 0x0fff)
        }
        ipproto::UDP => (seg.len() >= 8).then_some(0),
        ipproto::SCTP => (seg.len() >= 12).then_some(0),
        ipproto::ICMP if !v6 => (seg.len() >= 8).then_some(0),
        // ICMPv6 may be neighbour discovery, with options to validate.
        ipproto::ICMPV6 if v6 => None,
        _ => Some(0),
    }
}

/// Reads the simple-match fields of `frame`, or `None` when the frame is
/// not plain (see the module docs): the caller then extracts the full key.
#[inline(always)]
pub fn parse(frame: &[u8]) -> Option<SimpleFields> {
    let mut et = be16(frame, 12)?;
    if !vlan::is_tpid(et) {
        // Untagged, the usual case, with the L3 offset a constant that
        // the checks below fold in (through the tag loop it is a
        // variable: ~3 instructions a packet more of the parse's ~55,
        // callgrind vxlan-encap).
        return parse_l3(frame, 14, et, 0, 0);
    }
    let mut ofs = 14;
    let (mut tpid, mut tci) = (0, 0);
    let mut tags = 0;
    while tags < 2 && vlan::is_tpid(et) {
        let t = be16(frame, ofs)?;
        if tags == 0 {
            tpid = et;
            tci = t | VLAN_CFI;
        }
        et = be16(frame, ofs + 2)?;
        ofs += 4;
        tags += 1;
    }
    parse_l3(frame, ofs, et, tpid, tci)
}

/// [`parse`] from the network header on: `et` at `ofs`, after the tags
/// (the first one's `tpid` and `tci`, zero when untagged).
#[inline(always)]
fn parse_l3(frame: &[u8], ofs: usize, et: u16, tpid: u16, tci: u16) -> Option<SimpleFields> {
    let mut f = SimpleFields {
        eth_type: et,
        tci,
        tpid,
        nw_frag: 0,
        nw_tos: 0,
        tcp_flags: 0,
        l3_ofs: ofs16(ofs, frame.len()),
        l4_ofs: NO_OFS,
    };
    match et {
        ethertype::IPV4 => {
            let h = frame.get(ofs..)?.first_chunk::<20>()?;
            let ihl = usize::from(h[0] & 0x0f) * 4;
            let tot = usize::from(u16::from_be_bytes([h[2], h[3]]));
            if h[0] >> 4 != 4 || ihl < 20 || tot < ihl || frame.len() - ofs < tot {
                return None;
            }
            f.nw_tos = h[1];
            let fo = u16::from_be_bytes([h[6], h[7]]);
            if fo & 0x3fff != 0 {
                if fo & 0x1fff != 0 {
                    f.nw_frag = FRAG_ANY | FRAG_LATER;
                    return Some(f);
                }
                f.nw_frag = FRAG_ANY;
            }
            let (l4, end) = (ofs + ihl, ofs + tot);
            f.tcp_flags = l4_ok(frame.get(l4..end)?, h[9], false)?;
            f.l4_ofs = ofs16(l4, end);
        }
        ethertype::IPV6 => {
            let h = frame.get(ofs..)?.first_chunk::<40>()?;
            let start = ofs + 40;
            let end = start + usize::from(u16::from_be_bytes([h[4], h[5]]));
            let nh = h[6];
            if h[0] >> 4 != 6 || ipv6::is_ext_header(nh) {
                return None;
            }
            f.tcp_flags = l4_ok(frame.get(start..end)?, nh, true)?;
            f.nw_tos = (u32::from_be_bytes([h[0], h[1], h[2], h[3]]) >> 20) as u8;
            f.l4_ofs = ofs16(start, end);
        }
        ethertype::ARP | ethertype::RARP => {
            frame.get(ofs..)?.first_chunk::<28>()?;
        }
        // 802.3 length field: LLC/SNAP decoding is the extractor's.
        t if t < 0x0600 => return None,
        _ => {}
    }
    Some(f)
}

/// The mask of a simple megaflow on the fields it may match besides
/// `recirc_id` and `in_port`, packed as a [`SimpleKey`]. Any bits may be
/// kept; the lookup masks the packet's key with them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape(SimpleKey);

impl Shape {
    /// The lookup value of a packet's key under this shape.
    #[inline(always)]
    fn value(&self, k: &SimpleKey) -> SimpleKey {
        let (m, k) = (&self.0 .0, &k.0);
        SimpleKey(std::array::from_fn(|i| k[i] & m[i]))
    }
}

/// How a megaflow relates to simple match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// Cannot match a packet fresh from a port (its `recirc_id` is not 0).
    Recirc,
    /// Could match fresh packets of any port: `in_port` not exact.
    AnyPort,
    /// Matches fresh packets of this port on more than a simple mask.
    Full(u32),
    /// Simple, on this port, with this shape and lookup value.
    Simple(u32, Shape, SimpleKey),
}

fn classify(key: &FlowKey, mask: &FlowMask) -> Class {
    let m = &mask.0;
    if key.recirc_id & m.recirc_id != 0 {
        return Class::Recirc;
    }
    if m.in_port != u32::MAX {
        return Class::AnyPort;
    }
    // The mask with recirc_id (known 0 here), in_port and the shape's
    // fields taken out must be empty.
    let mut rest = *m;
    rest.recirc_id = 0;
    rest.in_port = 0;
    rest.eth_type = 0;
    rest.vlan_tci[0] = 0;
    rest.vlan_tpid[0] = 0;
    rest.nw_frag = 0;
    rest.nw_tos = 0;
    rest.nw_dst = 0;
    rest.nw_proto = 0;
    rest.tp_dst = 0;
    rest.tun_id = 0;
    rest.tun_ipv4_src = 0;
    rest.tun_ipv4_dst = 0;
    rest.eth_dst = [0; 6];
    rest.eth_src = [0; 6];
    if m.recirc_id != u32::MAX || rest.words().iter().any(|&w| w != 0) {
        return Class::Full(key.in_port);
    }
    let shape = Shape(key_bits(m));
    Class::Simple(key.in_port, shape, shape.value(&key_bits(key)))
}

/// Whether `flow`'s actions are one `tnl_pop`.
fn is_pop(flow: &Megaflow) -> bool {
    matches!(flow.actions[..], [crate::actions::DpAction::TnlPop(_)])
}

/// Whether `flow`'s actions push a tunnel header.
fn is_push(flow: &Megaflow) -> bool {
    flow.actions
        .iter()
        .any(|a| matches!(a, crate::actions::DpAction::TnlPush(_)))
}

struct ShapeTable {
    shape: Shape,
    flows: HashMap<SimpleKey, Arc<Megaflow>>,
}

/// The simple megaflows of one input port.
#[derive(Default)]
pub struct PortIndex {
    /// Megaflows of this port that need the full path.
    full: u32,
    shapes: Vec<ShapeTable>,
    /// Whether any shape keeps bits of the destination word (1) or the
    /// tunnel words (2, 3) of [`SimpleKey`]: a port-to-port port's keys
    /// skip packing them (kept by `insert` / `remove`).
    l34: bool,
    tunnel: bool,
    /// Whether any shape keeps bits of the Ethernet address words (4, 5).
    l2: bool,
    /// Simple megaflows of this port whose actions are one `tnl_pop`.
    pops: u32,
    /// Simple megaflows of this port whose actions push a tunnel header.
    pushes: u32,
}

impl PortIndex {
    /// The lookup key of a packet of this port with fields `f` parsed from
    /// `frame`, decapsulated from `tunnel` (or not). Words no shape of the
    /// port keeps are left zero, unread (no shape's value can tell them
    /// from the packet's: every shape masks them to zero).
    #[inline(always)]
    pub fn key(&self, f: &SimpleFields, frame: &[u8], tunnel: Option<&TunnelMeta>) -> SimpleKey {
        let mut k = SimpleKey::word0(f.bits());
        if self.l34 {
            k.0[1] = f.l34(frame);
        }
        // (`parse` took at least 14 bytes of this frame.)
        if let (true, Some(a)) = (self.l2, frame.first_chunk::<12>()) {
            k.0[4] = pack_mac(&[a[0], a[1], a[2], a[3], a[4], a[5]]);
            k.0[5] = pack_mac(&[a[6], a[7], a[8], a[9], a[10], a[11]]);
        }
        if let (true, Some(t)) = (self.tunnel, tunnel) {
            k.0[2] = t.tun_id;
            k.0[3] = pack_tun(t.ipv4_src, t.ipv4_dst);
        }
        k
    }

    /// Whether some megaflow of this port terminates a tunnel (its
    /// actions are one `tnl_pop`): direct forwarding of the port's bursts
    /// then may decapsulate.
    #[inline]
    pub fn pops_tunnels(&self) -> bool {
        self.pops != 0
    }

    /// Whether some megaflow of this port pushes a tunnel header (a
    /// VTEP's encapsulation).
    #[inline]
    pub fn pushes_tunnels(&self) -> bool {
        self.pushes != 0
    }

    /// Whether no shape of this port keeps a word of [`SimpleKey`] past
    /// the first: then [`PortIndex::key`] is [`SimpleKey::word0`] for
    /// every packet, and two packets have the same key exactly when their
    /// first words are equal (a port-to-port port's case, which direct
    /// forwarding compares in one word).
    #[inline]
    pub fn key_is_one_word(&self) -> bool {
        !self.l34 && !self.tunnel && !self.l2
    }

    /// Recomputes which words the shapes keep.
    fn note_words(&mut self) {
        let any = |w: usize| self.shapes.iter().any(|t| t.shape.0 .0[w] != 0);
        self.l34 = any(1);
        self.tunnel = any(2) || any(3);
        self.l2 = any(4) || any(5);
    }

    /// The megaflow matching a packet of this port with fields `f` parsed
    /// from `frame` (and recirculation id 0), not decapsulated.
    #[inline]
    pub fn lookup(&self, f: &SimpleFields, frame: &[u8]) -> Option<&Arc<Megaflow>> {
        self.lookup_key(&self.key(f, frame, None))
    }

    /// The megaflow matching a packet of this port with key `k` (and
    /// recirculation id 0).
    #[inline]
    pub fn lookup_key(&self, k: &SimpleKey) -> Option<&Arc<Megaflow>> {
        self.shapes
            .iter()
            .find_map(|t| t.flows.get(&t.shape.value(k)))
    }

    fn is_empty(&self) -> bool {
        self.full == 0 && self.shapes.is_empty()
    }
}

/// The simple-match index of one classifier. See the module docs.
#[derive(Default)]
pub struct SimpleIndex {
    ports: HashMap<u32, PortIndex>,
    /// Megaflows with a wildcarded `in_port` that fresh packets can match.
    any_port: u32,
}

impl SimpleIndex {
    /// The index of `in_port`, when simple match serves that port.
    #[inline]
    pub fn port(&self, in_port: u32) -> Option<&PortIndex> {
        if self.any_port != 0 {
            return None;
        }
        let p = self.ports.get(&in_port)?;
        (p.full == 0 && !p.shapes.is_empty() && p.shapes.len() <= MAX_SHAPES).then_some(p)
    }

    /// Records a megaflow just installed in the classifier. The classifier
    /// refuses duplicates (same mask and masked key), so no two simple
    /// megaflows share a shape and value.
    pub fn insert(&mut self, flow: &Arc<Megaflow>) {
        match classify(&flow.key, &flow.mask) {
            Class::Recirc => {}
            Class::AnyPort => self.any_port += 1,
            Class::Full(p) => self.ports.entry(p).or_default().full += 1,
            Class::Simple(p, shape, v) => {
                let port = self.ports.entry(p).or_default();
                let i = match port.shapes.iter().position(|t| t.shape == shape) {
                    Some(i) => i,
                    None => {
                        port.shapes.push(ShapeTable {
                            shape,
                            flows: HashMap::new(),
                        });
                        port.shapes.len() - 1
                    }
                };
                port.shapes[i].flows.insert(v, flow.clone());
                port.note_words();
                port.pops += u32::from(is_pop(flow));
                port.pushes += u32::from(is_push(flow));
            }
        }
    }

    /// Forgets a megaflow just removed from the classifier.
    pub fn remove(&mut self, flow: &Arc<Megaflow>) {
        match classify(&flow.key, &flow.mask) {
            Class::Recirc => {}
            Class::AnyPort => self.any_port = self.any_port.saturating_sub(1),
            Class::Full(p) => {
                if let Some(port) = self.ports.get_mut(&p) {
                    port.full = port.full.saturating_sub(1);
                    if port.is_empty() {
                        self.ports.remove(&p);
                    }
                }
            }
            Class::Simple(p, shape, v) => {
                let Some(port) = self.ports.get_mut(&p) else {
                    return;
                };
                if let Some(i) = port.shapes.iter().position(|t| t.shape == shape) {
                    let t = &mut port.shapes[i];
                    if t.flows.get(&v).is_some_and(|f| Arc::ptr_eq(f, flow)) {
                        t.flows.remove(&v);
                        port.pops -= u32::from(is_pop(flow));
                        port.pushes -= u32::from(is_push(flow));
                    }
                    if t.flows.is_empty() {
                        port.shapes.swap_remove(i);
                        port.note_words();
                    }
                }
                if port.is_empty() {
                    self.ports.remove(&p);
                }
            }
        }
    }
}

/// A megaflow as the slow path makes it of `in_port=P,actions=output:O`
/// (for tests here and in [`crate::pipeline`]): matching `recirc_id` 0,
/// `in_port`, `eth_type` and `nw_frag` exactly; `tweak` changes the key or
/// the mask from there.
#[cfg(test)]
pub(crate) fn test_megaflow(
    in_port: u32,
    eth_type: u16,
    nw_frag: u8,
    out: u32,
    tweak: impl FnOnce(&mut FlowKey, &mut FlowMask),
) -> Arc<Megaflow> {
    let mut k = FlowKey::ZERO;
    k.in_port = in_port;
    k.eth_type = eth_type;
    k.nw_frag = nw_frag;
    let mut m = FlowMask::default();
    m.0.recirc_id = u32::MAX;
    m.0.in_port = u32::MAX;
    m.0.eth_type = 0xffff;
    m.0.nw_frag = crate::key::FRAG_MASK;
    tweak(&mut k, &mut m);
    let ufid = u128::from(in_port) << 64 | u128::from(out) << 32 | u128::from(eth_type) << 8;
    let actions = vec![crate::actions::DpAction::Output(out)];
    Arc::new(Megaflow::new(&k, m, actions, ufid | u128::from(nw_frag)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::extract_frame;
    use crate::packet::PacketMeta;
    use crate::wire::build;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const A: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const B: [u8; 6] = [2, 0, 0, 0, 0, 2];
    const IP_A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const IP_B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    /// Checks the contract against the extractor: an answer from `parse`
    /// agrees with extraction and extraction found nothing malformed.
    fn agrees(frame: &[u8]) -> Result<Option<SimpleFields>, String> {
        let mut k = FlowKey::ZERO;
        let (l3, l4) = extract_frame(frame, &PacketMeta::default(), &mut k);
        let Some(f) = parse(frame) else {
            return Ok(None);
        };
        let want = SimpleFields {
            eth_type: k.eth_type,
            tci: k.vlan_tci[0],
            tpid: k.vlan_tpid[0],
            nw_frag: k.nw_frag,
            nw_tos: k.nw_tos,
            tcp_flags: k.tcp_flags,
            l3_ofs: l3,
            l4_ofs: l4,
        };
        if k.parse_err != 0 {
            return Err(format!(
                "parse answered {f:?} but extraction has parse_err {:#x}",
                k.parse_err
            ));
        }
        if f != want {
            return Err(format!("parse {f:?} != extract {want:?}"));
        }
        let l34 = pack_l34(k.nw_dst, k.nw_proto, k.tp_dst);
        if f.l34(frame) != l34 {
            return Err(format!(
                "l34 {:#x} != extract's {l34:#x} (nw_dst, nw_proto, tp_dst)",
                f.l34(frame)
            ));
        }
        Ok(Some(f))
    }

    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn plain_frames_are_parsed_like_the_extractor() {
        let udp = build::udp4(A, B, IP_A, IP_B, 1, 2, 18);
        let frames = [
            udp.clone(),
            build::tcp4(A, B, IP_A, IP_B, 1, 2, 0x012, 0),
            build::icmp4(A, B, IP_A, IP_B, 8, 0, 4),
            build::push_vlan(&udp, 0x8100, 0x2005),
            build::push_vlan(&build::push_vlan(&udp, 0x8100, 7), 0x88a8, 9),
            build::udp6(A, B, v6("fe80::1"), v6("fe80::2"), 3, 4, 10),
            build::tcp6(A, B, v6("fe80::1"), v6("fe80::2"), 3, 4, 0x002, 0),
            build::arp(A, B, 1, A, IP_A, [0; 6], IP_B),
            build::ethernet(A, B, 0x88cc, &[0; 46]),
            // ICMP's number over IPv6: no type and code (only ICMPv6 has).
            {
                let mut f = build::udp6(A, B, v6("fe80::1"), v6("fe80::2"), 3, 4, 10);
                f[20] = 1;
                f
            },
        ];
        for f in &frames {
            let got = agrees(f).unwrap();
            assert!(
                got.is_some(),
                "a plain frame must take the short parse: {f:02x?}"
            );
        }
        let tcp = agrees(&frames[1]).unwrap().unwrap();
        assert_eq!(tcp.tcp_flags, 0x012);
        let tagged = agrees(&frames[3]).unwrap().unwrap();
        assert_eq!(
            (tagged.tpid, tagged.tci, tagged.l3_ofs),
            (0x8100, 0x3005, 18)
        );
    }

    #[test]
    fn unusual_frames_go_to_the_full_path() {
        let udp = build::udp4(A, B, IP_A, IP_B, 1, 2, 18);
        let mut bad_ihl = udp.clone();
        bad_ihl[14] = 0x44;
        let mut cases = vec![
            udp[..13].to_vec(),                         // runt
            udp[..40].to_vec(), // UDP header cut (total length beyond frame)
            bad_ihl,            // malformed IPv4
            build::ethernet(A, B, 0x0040, &[0xaa; 64]), // 802.3 length
            build::nd_ns(A, B, v6("fe80::1"), v6("fe80::2"), v6("fe80::3"), Some(A)),
        ];
        let mut short_l4 = build::udp4(A, B, IP_A, IP_B, 1, 2, 0);
        // IPv4 total length says 24: only 4 bytes of UDP header.
        short_l4[16..18].copy_from_slice(&24u16.to_be_bytes());
        cases.push(short_l4);
        for f in &cases {
            assert_eq!(agrees(f).unwrap(), None, "{f:02x?}");
        }
    }

    #[test]
    fn later_fragments_parse_without_l4() {
        let mut f = build::udp4(A, B, IP_A, IP_B, 1, 2, 18);
        f[20..22].copy_from_slice(&0x00b9u16.to_be_bytes()); // offset 185*8
        let got = agrees(&f).unwrap().unwrap();
        assert_eq!((got.nw_frag, got.l4_ofs), (FRAG_ANY | FRAG_LATER, NO_OFS));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        #[test]
        fn random_bytes_agree_with_the_extractor(
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
            et in prop::sample::select(vec![0x0800u16, 0x86dd, 0x0806, 0x8100, 0x88a8, 0x0600, 0x05ff, 0x88cc]),
        ) {
            // Random bytes, and the same bytes with a chosen ethertype so
            // that the IP and VLAN branches are reached often.
            prop_assert!(agrees(&bytes).is_ok(), "{:?}", agrees(&bytes));
            let mut b = bytes.clone();
            if b.len() >= 14 {
                b[12..14].copy_from_slice(&et.to_be_bytes());
                if et == 0x0800 && b.len() > 14 {
                    b[14] = 0x45;
                }
            }
            prop_assert!(agrees(&b).is_ok(), "{:?}", agrees(&b));
        }

        #[test]
        fn mutated_plain_frames_agree_with_the_extractor(
            which in 0usize..5,
            at in 0usize..80,
            val in any::<u8>(),
            cut in 0usize..100,
            l3_len in proptest::option::of(0u16..80),
        ) {
            let base = match which {
                0 => build::udp4(A, B, IP_A, IP_B, 1, 2, 18),
                1 => build::tcp4(A, B, IP_A, IP_B, 1, 2, 0x18, 6),
                2 => build::udp6(A, B, v6("fe80::1"), v6("fe80::2"), 3, 4, 10),
                3 => build::push_vlan(&build::tcp4(A, B, IP_A, IP_B, 1, 2, 2, 0), 0x8100, 5),
                _ => build::arp(A, B, 2, A, IP_A, B, IP_B),
            };
            let mut f = base.clone();
            if at < f.len() {
                f[at] = val;
            }
            if let Some(len) = l3_len {
                // IPv4 total length / IPv6 payload length: short L4 headers.
                let at = match which { 2 => 18, 3 => 20, _ => 16 };
                f[at..at + 2].copy_from_slice(&len.to_be_bytes());
            }
            f.truncate(f.len().saturating_sub(cut % 30));
            prop_assert!(agrees(&f).is_ok(), "{:?}", agrees(&f));
        }
    }

    fn fields(eth_type: u16) -> SimpleFields {
        SimpleFields {
            eth_type,
            tci: 0,
            tpid: 0,
            nw_frag: 0,
            nw_tos: 0,
            tcp_flags: 0,
            l3_ofs: 14,
            l4_ofs: 34,
        }
    }

    #[test]
    fn index_serves_a_port_only_while_all_its_flows_are_simple() {
        let mut ix = SimpleIndex::default();
        let ip = test_megaflow(1, ethertype::IPV4, 0, 2, |_, _| {});
        ix.insert(&ip);
        let hit = ix.port(1).unwrap().lookup(&fields(ethertype::IPV4), &[]);
        assert!(hit.is_some_and(|f| Arc::ptr_eq(f, &ip)));
        assert!(ix
            .port(1)
            .unwrap()
            .lookup(&fields(ethertype::IPV6), &[])
            .is_none());
        let mut frag = fields(ethertype::IPV4);
        frag.nw_frag = FRAG_ANY;
        assert!(ix.port(1).unwrap().lookup(&frag, &[]).is_none());
        assert!(ix.port(2).is_none());

        // An ARP flow masking only in_port: a second shape, still simple.
        let arp = test_megaflow(1, 0, 0, 2, |_, m| {
            m.0.eth_type = 0;
            m.0.nw_frag = 0;
        });
        ix.insert(&arp);
        let p = ix.port(1).unwrap();
        assert!(p
            .lookup(&fields(ethertype::IPV4), &[])
            .is_some_and(|f| Arc::ptr_eq(f, &ip)));
        assert!(p
            .lookup(&fields(ethertype::ARP), &[])
            .is_some_and(|f| Arc::ptr_eq(f, &arp)));

        // A flow that matches a source address: port 1 leaves simple
        // match (a destination address, protocol and port are simple).
        let l3 = test_megaflow(1, ethertype::IPV4, 0, 2, |_, m| m.0.nw_src = u32::MAX);
        ix.insert(&l3);
        assert!(ix.port(1).is_none());
        ix.remove(&l3);
        assert!(ix.port(1).is_some());

        // Recirculated flows do not count; wildcarded in_port turns it off.
        let mut rk = FlowKey::ZERO;
        rk.recirc_id = 5;
        let mut rm = FlowMask::default();
        rm.0.recirc_id = u32::MAX;
        rm.0.nw_dst = u32::MAX;
        let recirc = Arc::new(Megaflow::new(&rk, rm, vec![], 9));
        ix.insert(&recirc);
        assert!(ix.port(1).is_some());
        let mut any = ip.mask;
        any.0.in_port = 0;
        let anyf = Arc::new(Megaflow::new(&ip.key, any, vec![], 10));
        ix.insert(&anyf);
        assert!(ix.port(1).is_none());
        ix.remove(&anyf);

        ix.remove(&ip);
        ix.remove(&arp);
        ix.remove(&recirc);
        assert!(ix.port(1).is_none());
        assert!(ix.ports.is_empty(), "empty ports are dropped");
    }

    #[test]
    fn encap_megaflows_match_the_ecn_bits() {
        // What the slow path makes of `in_port=1,actions=output:<vxlan>`:
        // the inner ECN bits are matched (for ECN on encapsulation).
        let mut ix = SimpleIndex::default();
        let f = test_megaflow(1, ethertype::IPV4, 0, 2, |_, m| m.0.nw_tos = 0x03);
        ix.insert(&f);
        let p = ix.port(1).expect("still simple");
        let mut pkt = fields(ethertype::IPV4);
        pkt.nw_tos = 0xb8; // DSCP EF, not-ECT: only DSCP differs
        assert!(p.lookup(&pkt, &[]).is_some_and(|g| Arc::ptr_eq(g, &f)));
        pkt.nw_tos = 0xb9; // ECT(1)
        assert!(p.lookup(&pkt, &[]).is_none());
        // Parsed from the wire, as the extractor does.
        let mut spec = build::Ipv4Spec::new(IP_A, IP_B);
        spec.tos = 0xb9;
        let frame = build::ipv4_frame(
            A,
            B,
            &spec,
            &build::L4::Udp {
                sport: 1,
                dport: 2,
                payload: &[0; 8],
            },
        );
        assert_eq!(agrees(&frame).unwrap().map(|f| f.nw_tos), Some(0xb9));
    }

    /// `test_megaflow`'s flow with `actions` (ODP text) instead.
    fn with_actions(f: &Arc<Megaflow>, actions: &str) -> Arc<Megaflow> {
        let actions = crate::odp::parse_actions(actions).unwrap();
        Arc::new(Megaflow::new(&f.key, f.mask, actions, f.ufid))
    }

    #[test]
    fn a_ports_key_width_and_tunnel_counts_follow_its_megaflows() {
        // What direct forwarding picks its loop by: one-word keys, and
        // whether a tunnel is pushed or popped.
        let flags = |ix: &SimpleIndex| {
            let p = ix.port(1).unwrap();
            (p.key_is_one_word(), p.pushes_tunnels(), p.pops_tunnels())
        };
        let mut ix = SimpleIndex::default();
        let plain = test_megaflow(1, ethertype::IPV4, 0, 2, |_, _| {});
        ix.insert(&plain);
        assert_eq!(flags(&ix), (true, false, false));

        let header = "header(size=3,type=4,raw=0x010203,ipv6=0,udp_csum=0)";
        let push = test_megaflow(1, ethertype::IPV4, 0, 2, |k, m| {
            (k.nw_tos, m.0.nw_tos) = (1, 3);
        });
        let push = with_actions(
            &push,
            &format!("tnl_push(tnl_port(4),{header},out_port(2))"),
        );
        ix.insert(&push);
        assert_eq!(flags(&ix), (true, true, false), "ECN bits are in word 0");

        let pop = test_megaflow(1, ethertype::IPV4, 0, 2, |k, m| {
            (k.nw_proto, m.0.nw_proto) = (ipproto::UDP, 0xff);
            (k.tp_dst, m.0.tp_dst) = (4789, 0xffff);
        });
        let pop = with_actions(&pop, "tnl_pop(3)");
        ix.insert(&pop);
        assert_eq!(flags(&ix), (false, true, true));

        ix.remove(&push);
        assert_eq!(flags(&ix), (false, false, true));
        ix.remove(&pop);
        assert_eq!(flags(&ix), (true, false, false));
    }

    #[test]
    fn too_many_shapes_turn_the_port_off() {
        let mut ix = SimpleIndex::default();
        for tci in 0..=MAX_SHAPES as u16 {
            ix.insert(&test_megaflow(3, ethertype::IPV4, 0, 2, |_, m| {
                m.0.vlan_tci[0] = 1 << tci
            }));
            assert_eq!(ix.port(3).is_some(), usize::from(tci) < MAX_SHAPES);
        }
    }
}
