//! Flow keys and megaflow masks.
//!
//! A [`FlowKey`] is everything the datapath can match on for one packet: its
//! metadata (in_port, recirculation id, tunnel) and the headers that
//! [`crate::extract`] pulls out of the frame. It is the equivalent of OVS's
//! `struct flow`, laid out as a flat, padding-free `repr(C)` struct of
//! [`KEY_WORDS`] 64-bit words so that:
//!
//! - a megaflow mask ([`FlowMask`]) has exactly the same layout, and masking
//!   is a word-wise AND;
//! - hashing a masked key walks only the words a mask keeps (see
//!   [`crate::hash`]), which is what makes narrow megaflows cheap;
//! - equality is a 216-byte compare.
//!
//! Integer fields are stored in host byte order (`nw_src` of 10.0.0.1 is
//! `0x0a000001`); byte-array fields (MACs, IPv6 addresses) in wire order.
//! Conventions borrowed from OVS so that users see the same numbers:
//!
//! - `vlan_tci[i]` has [`VLAN_CFI`] (0x1000) set when tag `i` is present; the
//!   wire DEI bit is not kept. `vlan_tpid[i]` is the tag's TPID.
//! - For ARP, `nw_proto` holds the low byte of the opcode and `nw_src` /
//!   `nw_dst` the sender / target protocol addresses.
//! - For ICMPv4/ICMPv6, `tp_src` / `tp_dst` hold the type and code.
//! - For ICMPv6 neighbour discovery, `arp_sha` / `arp_tha` hold the source /
//!   target link-layer address options.
//! - `nw_frag` is a set of [`FRAG_ANY`] | [`FRAG_LATER`] bits.
//!
//! # Thread safety
//! Plain `Copy` data: no interior mutability.

use bytemuck::{Pod, Zeroable};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Number of 64-bit words in a [`FlowKey`].
pub const KEY_WORDS: usize = 27;

/// Marks a present VLAN tag in `FlowKey::vlan_tci`, as OVS does.
pub const VLAN_CFI: u16 = 0x1000;
/// VLAN id bits of a TCI.
pub const VLAN_VID_MASK: u16 = 0x0fff;
/// Priority code point bits of a TCI.
pub const VLAN_PCP_MASK: u16 = 0xe000;
/// Shift of the PCP within the TCI.
pub const VLAN_PCP_SHIFT: u16 = 13;

/// `nw_frag`: the packet is a fragment (first or later).
pub const FRAG_ANY: u8 = 1;
/// `nw_frag`: the packet is a fragment other than the first.
pub const FRAG_LATER: u8 = 2;
/// Both fragment bits.
pub const FRAG_MASK: u8 = FRAG_ANY | FRAG_LATER;

/// Ethertypes the extractor understands.
pub mod ethertype {
    /// IPv4.
    pub const IPV4: u16 = 0x0800;
    /// ARP.
    pub const ARP: u16 = 0x0806;
    /// Reverse ARP (parsed like ARP).
    pub const RARP: u16 = 0x8035;
    /// IPv6.
    pub const IPV6: u16 = 0x86dd;
    /// 802.1Q customer VLAN tag.
    pub const VLAN: u16 = 0x8100;
    /// 802.1ad service VLAN tag (QinQ outer).
    pub const QINQ: u16 = 0x88a8;
    /// Frames whose "type" field is a length (< 0x600) get this eth_type,
    /// as in OVS (`FLOW_DL_TYPE_NONE`).
    pub const NONE: u16 = 0x05ff;
}

/// IP protocol numbers the extractor understands.
pub mod ipproto {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// IPv6 routing header.
    pub const ROUTING: u8 = 43;
    /// IPv6 fragment header.
    pub const FRAGMENT: u8 = 44;
    /// IPv6 hop-by-hop options.
    pub const HOPOPTS: u8 = 0;
    /// IPv6 destination options.
    pub const DSTOPTS: u8 = 60;
    /// Authentication header.
    pub const AH: u8 = 51;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
    /// IPv6 "no next header".
    pub const NONE: u8 = 59;
    /// SCTP.
    pub const SCTP: u8 = 132;
}

/// Bits of [`FlowKey::parse_err`]: where extraction stopped early. A key
/// with a non-zero `parse_err` is still a valid key for every layer before
/// the bad one; fields of the bad layer and beyond are zero.
pub mod parse_err {
    /// Frame shorter than an Ethernet header. Nothing was extracted.
    pub const L2_TRUNCATED: u8 = 1 << 0;
    /// A VLAN tag, or a third stacked tag, was cut short.
    pub const VLAN_TRUNCATED: u8 = 1 << 1;
    /// The L3 header (IPv4/IPv6/ARP) is truncated or malformed
    /// (bad version, IHL < 5, total length shorter than the header, ...).
    pub const L3_BAD: u8 = 1 << 2;
    /// An IPv6 extension header is truncated or malformed.
    pub const L3_EXT_BAD: u8 = 1 << 3;
    /// The L4 header (TCP/UDP/SCTP/ICMP/ND) is truncated or malformed.
    pub const L4_BAD: u8 = 1 << 4;
}

/// The flow key of one packet. See the module docs for conventions.
#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C)]
pub struct FlowKey {
    // --- tunnel metadata (words 0..7) ---
    /// Tunnel id (VXLAN VNI, Geneve VNI), 0 when not tunnelled.
    pub tun_id: u64,
    /// Outer IPv4 source of a decapsulated packet.
    pub tun_ipv4_src: u32,
    /// Outer IPv4 destination of a decapsulated packet.
    pub tun_ipv4_dst: u32,
    /// Outer IPv6 source of a decapsulated packet.
    pub tun_ipv6_src: [u8; 16],
    /// Outer IPv6 destination of a decapsulated packet.
    pub tun_ipv6_dst: [u8; 16],
    /// Outer UDP source port.
    pub tun_tp_src: u16,
    /// Outer UDP destination port.
    pub tun_tp_dst: u16,
    /// Tunnel flags ([`crate::packet::tun_flags`]).
    pub tun_flags: u16,
    /// Outer IP TOS.
    pub tun_tos: u8,
    /// Outer IP TTL / hop limit.
    pub tun_ttl: u8,
    // --- datapath metadata (words 7..9) ---
    /// Recirculation id, 0 for a packet fresh from a port.
    pub recirc_id: u32,
    /// Datapath input port number.
    pub in_port: u32,
    /// Hash computed by a `hash` action, for select groups and bonds.
    pub dp_hash: u32,
    /// Where extraction stopped ([`parse_err`] bits).
    pub parse_err: u8,
    /// Bit `i` set: `tun_metadata{i}` is present, i.e. the decapsulated
    /// packet carried the Geneve option mapped to it (its data is in
    /// [`FlowKey::tun_metadata`]). Tunnel metadata kept in what was
    /// padding, so the presence test costs no extra word.
    pub tun_md_present: u8,
    /// Explicit padding; always zero.
    pub _pad0: [u8; 2],
    // --- L2 (words 9..12) ---
    /// Ethernet destination.
    pub eth_dst: [u8; 6],
    /// Ethernet source.
    pub eth_src: [u8; 6],
    /// Ethertype after any VLAN tags ([`ethertype::NONE`] for 802.3 frames).
    pub eth_type: u16,
    /// TPID of the outer and inner VLAN tag (0 when absent).
    pub vlan_tpid: [u16; 2],
    /// TCI of the outer and inner VLAN tag, [`VLAN_CFI`] set when present.
    pub vlan_tci: [u16; 2],
    /// Explicit padding; always zero.
    pub _pad1: u16,
    // --- L3 (words 12..18) ---
    /// IPv4 source, or ARP sender protocol address.
    pub nw_src: u32,
    /// IPv4 destination, or ARP target protocol address.
    pub nw_dst: u32,
    /// IPv6 source.
    pub ipv6_src: [u8; 16],
    /// IPv6 destination.
    pub ipv6_dst: [u8; 16],
    /// IPv6 flow label (20 bits).
    pub ipv6_label: u32,
    /// IP protocol / IPv6 final next header, or ARP opcode low byte.
    pub nw_proto: u8,
    /// IPv4 TOS / IPv6 traffic class (DSCP and ECN).
    pub nw_tos: u8,
    /// IPv4 TTL / IPv6 hop limit.
    pub nw_ttl: u8,
    /// Fragment state ([`FRAG_ANY`], [`FRAG_LATER`]).
    pub nw_frag: u8,
    // --- ARP / ND link-layer addresses, L4 (words 18..23) ---
    /// ARP sender hardware address, or ND source link-layer address.
    pub arp_sha: [u8; 6],
    /// ARP target hardware address, or ND target link-layer address.
    pub arp_tha: [u8; 6],
    /// TCP/UDP/SCTP source port, or ICMP type.
    pub tp_src: u16,
    /// TCP/UDP/SCTP destination port, or ICMP code.
    pub tp_dst: u16,
    /// ND target address.
    pub nd_target: [u8; 16],
    /// TCP flags (low 12 bits of the TCP header's offset/flags word).
    pub tcp_flags: u16,
    /// Explicit padding; always zero.
    pub _pad2: [u8; 6],
    // --- Geneve option data (words 23..27) ---
    /// Data of the Geneve options mapped to `tun_metadata0..7`, each at
    /// the offset its bridge's TLV map gave it ([`crate::tlv`]); zero
    /// where no present option lives. Last in the key so that the hot
    /// header words keep their places, and only copied by the extractor
    /// for tunnelled packets.
    pub tun_metadata: [u8; crate::tlv::TUN_METADATA_BYTES],
}

const _: () = assert!(std::mem::size_of::<FlowKey>() == KEY_WORDS * 8);
const _: () = assert!(std::mem::align_of::<FlowKey>() == 8);

impl FlowKey {
    /// The all-zero key.
    pub const ZERO: FlowKey = FlowKey {
        tun_id: 0,
        tun_ipv4_src: 0,
        tun_ipv4_dst: 0,
        tun_ipv6_src: [0; 16],
        tun_ipv6_dst: [0; 16],
        tun_tp_src: 0,
        tun_tp_dst: 0,
        tun_flags: 0,
        tun_tos: 0,
        tun_ttl: 0,
        recirc_id: 0,
        in_port: 0,
        dp_hash: 0,
        parse_err: 0,
        tun_md_present: 0,
        _pad0: [0; 2],
        eth_dst: [0; 6],
        eth_src: [0; 6],
        eth_type: 0,
        vlan_tpid: [0; 2],
        vlan_tci: [0; 2],
        _pad1: 0,
        nw_src: 0,
        nw_dst: 0,
        ipv6_src: [0; 16],
        ipv6_dst: [0; 16],
        ipv6_label: 0,
        nw_proto: 0,
        nw_tos: 0,
        nw_ttl: 0,
        nw_frag: 0,
        arp_sha: [0; 6],
        arp_tha: [0; 6],
        tp_src: 0,
        tp_dst: 0,
        nd_target: [0; 16],
        tcp_flags: 0,
        _pad2: [0; 6],
        tun_metadata: [0; crate::tlv::TUN_METADATA_BYTES],
    };

    /// The key as words, for hashing and masking.
    #[inline(always)]
    pub fn words(&self) -> &[u64; KEY_WORDS] {
        bytemuck::cast_ref(self)
    }

    /// The key as mutable words.
    #[inline(always)]
    pub fn words_mut(&mut self) -> &mut [u64; KEY_WORDS] {
        bytemuck::cast_mut(self)
    }

    /// The key as bytes.
    #[inline(always)]
    pub fn as_bytes(&self) -> &[u8] {
        bytemuck::bytes_of(self)
    }

    /// This key with every bit the mask does not keep cleared.
    #[inline]
    pub fn masked(&self, mask: &FlowMask) -> FlowKey {
        let mut out = *self;
        for (o, m) in out.words_mut().iter_mut().zip(mask.0.words()) {
            *o &= m;
        }
        out
    }

    /// Whether this key equals `other` on every bit `mask` keeps.
    #[inline]
    pub fn eq_masked(&self, other: &FlowKey, mask: &FlowMask) -> bool {
        self.words()
            .iter()
            .zip(other.words())
            .zip(mask.0.words())
            .all(|((a, b), m)| (a ^ b) & m == 0)
    }

    /// IPv4 source as an address.
    pub fn nw_src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.nw_src)
    }

    /// IPv4 destination as an address.
    pub fn nw_dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.nw_dst)
    }

    /// IPv6 source as an address.
    pub fn ipv6_src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.ipv6_src)
    }

    /// IPv6 destination as an address.
    pub fn ipv6_dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.ipv6_dst)
    }

    /// Whether the packet is IPv4 or IPv6.
    pub fn is_ip(&self) -> bool {
        self.eth_type == ethertype::IPV4 || self.eth_type == ethertype::IPV6
    }

    /// Whether the packet carries at least one VLAN tag.
    pub fn has_vlan(&self) -> bool {
        self.vlan_tci[0] & VLAN_CFI != 0
    }
}

impl Default for FlowKey {
    fn default() -> Self {
        FlowKey::ZERO
    }
}

impl PartialEq for FlowKey {
    /// Branch-free word compare: the compiler turns it into a few vector
    /// ops, where slice equality would call `memcmp` (measured 7% of an
    /// EMC-hit burst).
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.words()
            .iter()
            .zip(other.words())
            .fold(0u64, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}
impl Eq for FlowKey {}

impl std::hash::Hash for FlowKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.words().hash(state)
    }
}

impl std::fmt::Debug for FlowKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FlowKey({})", crate::odp::format_key(self, None))
    }
}

/// A megaflow mask: a [`FlowKey`] whose one bits are the bits a megaflow
/// matches on. Zero bits are wildcarded.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(transparent)]
pub struct FlowMask(pub FlowKey);

impl FlowMask {
    /// Matches nothing: every packet agrees with every key under it.
    pub const WILDCARD_ALL: FlowMask = FlowMask(FlowKey::ZERO);

    /// The exact mask: every bit matters (padding stays zero).
    pub fn exact() -> FlowMask {
        let mut k = FlowKey::ZERO;
        k.words_mut().iter_mut().for_each(|w| *w = u64::MAX);
        k._pad0 = [0; 2];
        k._pad1 = 0;
        k._pad2 = [0; 6];
        FlowMask(k)
    }

    /// Indices of the words this mask keeps at least one bit of.
    pub fn nonzero_words(&self) -> impl Iterator<Item = usize> + '_ {
        self.0
            .words()
            .iter()
            .enumerate()
            .filter(|(_, w)| **w != 0)
            .map(|(i, _)| i)
    }

    /// Sets every bit of `other` in this mask (union of wildcards' complement).
    pub fn union_with(&mut self, other: &FlowMask) {
        for (a, b) in self.0.words_mut().iter_mut().zip(other.0.words()) {
            *a |= b;
        }
    }

    /// Whether every bit of `other` is also in this mask.
    pub fn covers(&self, other: &FlowMask) -> bool {
        self.0
            .words()
            .iter()
            .zip(other.0.words())
            .all(|(a, b)| b & !a == 0)
    }
}

impl std::fmt::Debug for FlowMask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FlowMask({:x?})", self.0.words())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_word_aligned_without_padding() {
        assert_eq!(std::mem::size_of::<FlowKey>(), 216);
        let k = FlowKey::ZERO;
        let base = &k as *const _ as usize;
        assert_eq!(&k.recirc_id as *const _ as usize - base, 56);
        assert_eq!(&k.eth_dst as *const _ as usize - base, 72);
        assert_eq!(&k.nw_src as *const _ as usize - base, 96);
        assert_eq!(&k.arp_sha as *const _ as usize - base, 144);
        assert_eq!(&k.tun_md_present as *const _ as usize - base, 69);
        assert_eq!(&k.tun_metadata as *const _ as usize - base, 184);
    }

    #[test]
    fn masking_clears_wildcarded_bits() {
        let mut k = FlowKey::ZERO;
        k.nw_src = 0x0a01_0203;
        k.tp_dst = 80;
        let mut m = FlowMask::default();
        m.0.nw_src = 0xff00_0000;
        let mk = k.masked(&m);
        assert_eq!(mk.nw_src, 0x0a00_0000);
        assert_eq!(mk.tp_dst, 0);
        let mut k2 = k;
        k2.nw_src = 0x0aff_ffff;
        k2.tp_dst = 443;
        assert!(k.eq_masked(&k2, &m));
        k2.nw_src = 0x0b00_0000;
        assert!(!k.eq_masked(&k2, &m));
    }

    #[test]
    fn exact_mask_keeps_padding_zero() {
        let m = FlowMask::exact();
        assert_eq!(m.0._pad0, [0; 2]);
        assert_eq!(m.0.tun_md_present, 0xff);
        assert_eq!(m.0.tun_metadata, [0xff; 32]);
        assert_eq!(m.0.in_port, u32::MAX);
        assert!(m.covers(&FlowMask::WILDCARD_ALL));
        assert!(!FlowMask::WILDCARD_ALL.covers(&m));
    }
}
