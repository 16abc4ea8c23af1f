//! The plain-header key: the exact flow key of the most common frame, in
//! six words read straight from the headers, for the EMC's plain lane
//! ([`crate::emc`]).
//!
//! A "plain" frame is untagged Ethernet carrying IPv4 without options,
//! not a fragment, with a whole TCP or UDP header, and no tunnel metadata.
//! For such a frame every field of its [`FlowKey`] is a fixed byte range
//! of the frame or a metadata field, so the key need not be built:
//! [`PlainKey::parse`] checks the layout (the same checks
//! [`crate::extract`] makes, so it answers only for frames the extractor
//! parses with no error) and loads the bytes that carry key fields in four
//! unaligned words, plus two words of metadata. Extraction zeroes and
//! writes a 27-word key (~117 instructions a packet, measured with
//! callgrind on the `burst` benchmark); this is ~25, and the EMC compare
//! and hash work on six words instead of 27.
//!
//! # Why it is exact
//! Two frames with equal plain keys have equal flow keys: the key is a
//! function of the plain key ([`tests`] rebuilds a [`FlowKey`] from a
//! plain key alone and checks it equals the extractor's, for random and
//! mutated frames). Bytes that are in the words but in no key field
//! (ethertype, version and header length) are fixed by the layout
//! check, and the only varying one, the IPv4 header checksum, is masked
//! out, as are the total length and identification, which are not
//! loaded. So a megaflow found for one frame is the megaflow of every
//! frame with the same plain key, and the lane never answers differently
//! from the full-key EMC.
//!
//! # Thread safety
//! Plain values; no shared state.

use crate::hash::folded_mul;
use crate::key::ipproto;
use crate::packet::PacketMeta;

/// Where a plain frame's L3 header starts (after an untagged Ethernet
/// header), as [`crate::extract::extract`] sets `l3_ofs`.
pub const L3_OFS: u16 = 14;
/// Where a plain frame's L4 header starts (IPv4 without options).
pub const L4_OFS: u16 = 34;

/// Shortest plain frame: Ethernet, IPv4 and UDP headers.
const MIN_LEN: usize = 42;

/// The exact flow key of a plain frame (see the module docs). Words:
/// 0. `recirc_id` (low half), `in_port` (high half);
/// 1. `dp_hash` (low half), TCP flags (bits 32..44);
/// 2. frame bytes 0..8: Ethernet destination, first two source bytes;
/// 3. frame bytes 8..16: the rest of the source, ethertype, IPv4
///    version/IHL and TOS;
/// 4. frame bytes 22..30: TTL, protocol, (checksum masked to zero), source;
/// 5. frame bytes 30..38: destination, L4 source and destination ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlainKey(pub [u64; 6]);

/// The IPv4 header checksum's bytes (24..26) in word 4.
const CSUM_IN_W4: u64 = 0xffff_0000;

#[inline(always)]
fn word(h: &[u8; MIN_LEN], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[at..at + 8]);
    u64::from_le_bytes(b)
}

impl PlainKey {
    /// A key no frame has (used for empty cache slots): word 3 of a plain
    /// key always holds ethertype 0x0800.
    pub const NONE: PlainKey = PlainKey([0; 6]);

    /// The plain key of `frame` with metadata `md`, or `None` when the
    /// frame is not plain (then the full extractor takes it).
    #[inline(always)]
    pub fn parse(frame: &[u8], md: &PacketMeta) -> Option<PlainKey> {
        let h = frame.first_chunk::<MIN_LEN>()?;
        // Ethertype 0x0800 (no VLAN tag, not a length) and version 4 with
        // a 20-byte header, in one compare.
        if u32::from_le_bytes([h[12], h[13], h[14], 0]) != 0x0045_0008 || md.has_tunnel() {
            return None;
        }
        let tot = usize::from(u16::from_be_bytes([h[16], h[17]]));
        // Not a fragment (first or later); the DF bit is no key field.
        // The frame holds the whole datagram, as extraction requires.
        if u16::from_be_bytes([h[20], h[21]]) & 0x3fff != 0 || frame.len() - 14 < tot {
            return None;
        }
        let flags = match h[23] {
            ipproto::UDP if tot >= 28 => 0,
            ipproto::TCP if tot >= 40 => {
                // `frame.len() >= 14 + tot >= 54`: the TCP header is there.
                let t = frame.get(46..48)?;
                let doff = usize::from(t[0] >> 4);
                if doff < 5 || doff * 4 > tot - 20 {
                    return None;
                }
                u16::from_be_bytes([t[0], t[1]]) & 0x0fff
            }
            _ => return None,
        };
        Some(PlainKey([
            u64::from(md.recirc_id) | u64::from(md.in_port) << 32,
            u64::from(md.dp_hash) | u64::from(flags) << 32,
            word(h, 0),
            word(h, 8),
            word(h, 22) & !CSUM_IN_W4,
            word(h, 30),
        ]))
    }

    /// The TCP flags of the frame (0 for UDP), for megaflow stats.
    #[inline(always)]
    pub fn tcp_flags(&self) -> u16 {
        (self.0[1] >> 32) as u16
    }

    /// The EMC hash of the key: never 0 (0 marks an empty slot). Each word
    /// rotated differently, so that swapping source and destination
    /// (words 4 and 5) or two MACs changes the hash; one folded multiply
    /// spreads the low bits that pick the EMC set.
    #[inline(always)]
    pub fn hash(&self) -> u32 {
        let w = &self.0;
        let x = w[5]
            ^ w[4].rotate_left(13)
            ^ w[2].rotate_left(29)
            ^ w[3].rotate_left(41)
            ^ w[0].rotate_left(7)
            ^ w[1].rotate_left(53);
        (folded_mul(x, 0x9e37_79b9_7f4a_7c15) as u32) | 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::extract;
    use crate::key::FlowKey;
    use crate::packet::Packet;
    use crate::wire::build;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    const A: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const B: [u8; 6] = [2, 0, 0, 0, 0, 2];
    const IP_A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const IP_B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    /// The flow key a plain key stands for, rebuilt from the plain key
    /// alone: if this equals the extractor's key for every frame that has
    /// a plain key, the flow key is a function of the plain key.
    fn flow_key(k: &PlainKey) -> FlowKey {
        let w = k.0;
        let mut h = [0u8; 38];
        h[0..8].copy_from_slice(&w[2].to_le_bytes());
        h[8..16].copy_from_slice(&w[3].to_le_bytes());
        h[22..30].copy_from_slice(&w[4].to_le_bytes());
        h[30..38].copy_from_slice(&w[5].to_le_bytes());
        let be32 = |at: usize| u32::from_be_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
        let be16 = |at: usize| u16::from_be_bytes([h[at], h[at + 1]]);
        let mut f = FlowKey::ZERO;
        f.recirc_id = w[0] as u32;
        f.in_port = (w[0] >> 32) as u32;
        f.dp_hash = w[1] as u32;
        f.tcp_flags = k.tcp_flags();
        f.eth_dst.copy_from_slice(&h[0..6]);
        f.eth_src.copy_from_slice(&h[6..12]);
        f.eth_type = be16(12);
        f.nw_tos = h[15];
        f.nw_ttl = h[22];
        f.nw_proto = h[23];
        f.nw_src = be32(26);
        f.nw_dst = be32(30);
        f.tp_src = be16(34);
        f.tp_dst = be16(36);
        f
    }

    /// Checks `frame` under `md`: when it has a plain key, the extractor
    /// agrees with it field for field and on the header offsets, with no
    /// parse error. Returns the plain key.
    fn agrees(frame: &[u8], md: &PacketMeta) -> Result<Option<PlainKey>, String> {
        let got = PlainKey::parse(frame, md);
        let mut p = Packet::from_bytes(frame);
        p.md = *md;
        let mut key = FlowKey::ZERO;
        extract(&mut p, &mut key);
        let Some(k) = got else { return Ok(None) };
        if key != flow_key(&k) {
            return Err(format!(
                "plain key {k:x?} stands for\n{:?}\nbut the extractor gives\n{key:?}",
                flow_key(&k)
            ));
        }
        if (p.md.l3_ofs, p.md.l4_ofs, key.parse_err) != (L3_OFS, L4_OFS, 0) {
            return Err(format!(
                "offsets {} {} parse_err {}",
                p.md.l3_ofs, p.md.l4_ofs, key.parse_err
            ));
        }
        Ok(got)
    }

    fn md(port: u32) -> PacketMeta {
        let mut md = PacketMeta::NEW;
        md.in_port = port;
        md
    }

    #[test]
    fn tcp_and_udp_over_ipv4_are_plain() {
        let udp = build::udp4(A, B, IP_A, IP_B, 1000, 53, 18);
        let tcp = build::tcp4(A, B, IP_A, IP_B, 1000, 80, 0x012, 6);
        let u = agrees(&udp, &md(3)).unwrap().expect("UDP is plain");
        let t = agrees(&tcp, &md(3)).unwrap().expect("TCP is plain");
        assert_eq!((u.tcp_flags(), t.tcp_flags()), (0, 0x012));
        assert_ne!(u.hash(), t.hash());
        assert_ne!(u.hash(), 0);
    }

    #[test]
    fn what_is_not_a_key_field_does_not_split_a_flow() {
        // Identification, DF, total length, checksum and payload differ;
        // the flow is the same.
        let a = build::udp4(A, B, IP_A, IP_B, 1000, 53, 18);
        let mut b = build::udp4(A, B, IP_A, IP_B, 1000, 53, 60);
        b[18..20].copy_from_slice(&0x1234u16.to_be_bytes());
        b[20] &= !0x40;
        b[24] ^= 0x5a;
        b[50] ^= 0xff;
        assert_eq!(
            PlainKey::parse(&a, &md(1)).unwrap(),
            PlainKey::parse(&b, &md(1)).unwrap()
        );
        // A key field does: the port, the direction, the TTL.
        let k = PlainKey::parse(&a, &md(1)).unwrap();
        let rev = build::udp4(B, A, IP_B, IP_A, 53, 1000, 18);
        let mut ttl = a.clone();
        ttl[22] -= 1;
        for other in [
            PlainKey::parse(&a, &md(2)),
            PlainKey::parse(&rev, &md(1)),
            PlainKey::parse(&ttl, &md(1)),
        ] {
            assert_ne!(other.unwrap(), k);
            assert_ne!(other.unwrap().hash(), k.hash());
        }
    }

    #[test]
    fn unusual_frames_are_not_plain() {
        let udp = build::udp4(A, B, IP_A, IP_B, 1, 2, 18);
        let mut options = build::udp4(A, B, IP_A, IP_B, 1, 2, 18);
        options[14] = 0x46;
        let mut first_frag = udp.clone();
        first_frag[20] |= 0x20; // more fragments
        let mut later_frag = udp.clone();
        later_frag[21] = 1;
        let mut short_udp = udp.clone();
        short_udp[16..18].copy_from_slice(&24u16.to_be_bytes());
        let mut long_tot = udp.clone();
        long_tot[16..18].copy_from_slice(&200u16.to_be_bytes());
        let mut bad_doff = build::tcp4(A, B, IP_A, IP_B, 1, 2, 0x10, 0);
        bad_doff[46] = 0x40;
        let frames = [
            udp[..41].to_vec(),
            options,
            first_frag,
            later_frag,
            short_udp,
            long_tot,
            bad_doff,
            build::push_vlan(&udp, 0x8100, 5),
            build::udp6(
                A,
                B,
                "fe80::1".parse().unwrap(),
                "fe80::2".parse().unwrap(),
                1,
                2,
                8,
            ),
            build::icmp4(A, B, IP_A, IP_B, 8, 0, 4),
            build::arp(A, B, 1, A, IP_A, [0; 6], IP_B),
        ];
        for f in &frames {
            assert_eq!(agrees(f, &md(1)).unwrap(), None, "{f:02x?}");
        }
        // Tunnel metadata is part of the key: a decapsulated packet is
        // never plain.
        let mut p = Packet::from_bytes(&udp);
        p.md.tunnel_mut().tun_id = 5;
        assert_eq!(PlainKey::parse(p.data(), &p.md), None);
    }

    fn arb_md() -> impl Strategy<Value = PacketMeta> {
        (0u32..4, 0u32..3, 0u32..3).prop_map(|(port, recirc, dp_hash)| {
            let mut md = md(port);
            md.recirc_id = recirc;
            md.dp_hash = dp_hash;
            md
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        #[test]
        fn random_bytes_agree_with_the_extractor(
            bytes in proptest::collection::vec(any::<u8>(), 0..120),
            md in arb_md(),
        ) {
            // Random bytes, and the same with the plain layout's fixed
            // bytes, so the checks after them are reached often.
            prop_assert!(agrees(&bytes, &md).is_ok(), "{:?}", agrees(&bytes, &md));
            let mut b = bytes;
            if b.len() >= 24 {
                b[12..15].copy_from_slice(&[0x08, 0x00, 0x45]);
                b[20] &= 0x40;
                b[21] = 0;
                b[23] = if b[23] & 1 == 0 { 6 } else { 17 };
            }
            prop_assert!(agrees(&b, &md).is_ok(), "{:?}", agrees(&b, &md));
        }

        #[test]
        fn mutated_plain_frames_agree_with_the_extractor(
            tcp in any::<bool>(),
            at in 0usize..70,
            val in any::<u8>(),
            cut in 0usize..30,
            tot in proptest::option::of(0u16..80),
            md in arb_md(),
        ) {
            let mut f = if tcp {
                build::tcp4(A, B, IP_A, IP_B, 1, 2, 0x18, 6)
            } else {
                build::udp4(A, B, IP_A, IP_B, 1, 2, 18)
            };
            if at < f.len() {
                f[at] = val;
            }
            if let Some(tot) = tot {
                f[16..18].copy_from_slice(&tot.to_be_bytes());
            }
            f.truncate(f.len().saturating_sub(cut));
            prop_assert!(agrees(&f, &md).is_ok(), "{:?}", agrees(&f, &md));
        }
    }
}
