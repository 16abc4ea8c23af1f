//! Completing checksums the kernel left partial.
//!
//! A Linux host that offloads transmit checksums hands its frames to a
//! veth or TAP peer with the TCP/UDP checksum field holding only the
//! pseudo-header sum (`CHECKSUM_PARTIAL`); AF_PACKET marks such frames
//! `TP_STATUS_CSUMNOTREADY`. A switch that forwards them as they are sends
//! corrupt checksums to a receiver that will check them. OVS asks users to
//! turn the offload off; rvs computes the full checksum instead, once, on
//! receive.
//!
//! Handles Ethernet with up to two VLAN tags, IPv4 (with options) and IPv6
//! (TCP or UDP directly after the fixed header). Anything else is left
//! alone. Never panics; reads and writes only inside `frame`.

use super::checksum::{finish, pseudo_ipv4, pseudo_ipv6, sum};

const ETH_HLEN: usize = 14;
const TCP: u8 = 6;
const UDP: u8 = 17;

/// Recomputes the TCP or UDP checksum of an Ethernet frame from scratch.
/// Returns whether it found a TCP/UDP segment to fix.
pub fn complete_l4_checksum(frame: &mut [u8]) -> bool {
    let Some((l3, ethertype)) = l3_offset(frame) else {
        return false;
    };
    let (l4, proto, pseudo) = match ethertype {
        0x0800 => {
            let Some(ip) = frame.get(l3..l3 + 20) else {
                return false;
            };
            let ihl = (ip[0] & 0x0f) as usize * 4;
            let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
            // Fragments carry no complete L4 header to fix.
            let frag = u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0;
            if ip[0] >> 4 != 4 || ihl < 20 || total < ihl || frag {
                return false;
            }
            let proto = ip[9];
            let src = u32::from_be_bytes([ip[12], ip[13], ip[14], ip[15]]);
            let dst = u32::from_be_bytes([ip[16], ip[17], ip[18], ip[19]]);
            let l4_len = total - ihl;
            let end = l3 + total;
            if end > frame.len() {
                return false;
            }
            (
                l3 + ihl..end,
                proto,
                pseudo_ipv4(src, dst, proto, l4_len as u16),
            )
        }
        0x86dd => {
            let Some(ip) = frame.get(l3..l3 + 40) else {
                return false;
            };
            let plen = u16::from_be_bytes([ip[4], ip[5]]) as usize;
            let proto = ip[6];
            let mut src = [0u8; 16];
            let mut dst = [0u8; 16];
            src.copy_from_slice(&ip[8..24]);
            dst.copy_from_slice(&ip[24..40]);
            let end = l3 + 40 + plen;
            if end > frame.len() {
                return false;
            }
            (
                l3 + 40..end,
                proto,
                pseudo_ipv6(&src, &dst, proto, plen as u32),
            )
        }
        _ => return false,
    };
    let field = match proto {
        TCP => 16,
        UDP => 6,
        _ => return false,
    };
    let seg = &mut frame[l4];
    if seg.len() < field + 2 || (proto == TCP && seg.len() < 20) || (proto == UDP && seg.len() < 8)
    {
        return false;
    }
    seg[field] = 0;
    seg[field + 1] = 0;
    let mut c = finish(sum(seg, pseudo));
    if proto == UDP && c == 0 {
        c = 0xffff;
    }
    seg[field..field + 2].copy_from_slice(&c.to_be_bytes());
    true
}

/// Finishes a checksum the sender left partial, where the sender said it
/// is (`virtio_net_hdr`'s `csum_start` and `csum_offset`, from the start of
/// `frame`): the field holds the pseudo-header sum, and the checksum is
/// the one's complement sum from `start` to the end of the frame. For
/// UDP (`udp`), a result of 0 is sent as 0xffff. Returns false (frame
/// untouched) when the offsets do not fit the frame. Tunnel packets are
/// the reason to prefer this over [`complete_l4_checksum`]: the partial
/// checksum of an encapsulated packet is the inner one.
pub fn complete_partial_checksum(frame: &mut [u8], start: usize, offset: usize, udp: bool) -> bool {
    let at = start + offset;
    if start >= frame.len() || at + 2 > frame.len() {
        return false;
    }
    let mut c = finish(sum(&frame[start..], 0));
    if udp && c == 0 {
        c = 0xffff;
    }
    frame[at..at + 2].copy_from_slice(&c.to_be_bytes());
    true
}

/// Offset of the L3 header and its ethertype, skipping up to two tags.
fn l3_offset(frame: &[u8]) -> Option<(usize, u16)> {
    let mut off = ETH_HLEN - 2;
    for _ in 0..3 {
        let t = u16::from_be_bytes([*frame.get(off)?, *frame.get(off + 1)?]);
        if t == 0x8100 || t == 0x88a8 {
            off += 4;
        } else {
            return Some((off + 2, t));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::build;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const M: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const N: [u8; 6] = [2, 0, 0, 0, 0, 2];

    /// Overwrites the L4 checksum at `at` with a "partial" value.
    fn spoil(f: &mut [u8], at: usize) {
        f[at] = 0x12;
        f[at + 1] = 0x34;
    }

    #[test]
    fn fixes_tcp_over_ipv4() {
        let good = build::tcp4(
            M,
            N,
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            1000,
            80,
            0x18,
            11,
        );
        let mut f = good.clone();
        spoil(&mut f, 14 + 20 + 16);
        assert!(complete_l4_checksum(&mut f));
        assert_eq!(f, good);
    }

    #[test]
    fn fixes_udp_over_ipv6_behind_a_vlan_tag() {
        let good = build::udp6(
            M,
            N,
            Ipv6Addr::LOCALHOST,
            "fd00::2".parse().unwrap(),
            53,
            5353,
            3,
        );
        let good = build::push_vlan(&good, 0x8100, 100);
        let mut f = good.clone();
        spoil(&mut f, 18 + 40 + 6);
        assert!(complete_l4_checksum(&mut f));
        assert_eq!(f, good);
    }

    #[test]
    fn partial_checksums_finish_where_the_sender_says() {
        let good = build::tcp4(
            M,
            N,
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            7,
            9,
            0x18,
            33,
        );
        // What a sender with checksum offload leaves: the pseudo-header
        // sum, not complemented.
        let mut f = good.clone();
        let pseudo = crate::wire::checksum::fold(pseudo_ipv4(
            0x0a00_0001,
            0x0a00_0002,
            TCP,
            (good.len() - 34) as u16,
        ));
        f[50..52].copy_from_slice(&pseudo.to_be_bytes());
        assert!(complete_partial_checksum(&mut f, 34, 16, false));
        assert_eq!(f, good);
        assert!(!complete_partial_checksum(&mut f, 34, 1000, false));
        assert!(!complete_partial_checksum(&mut f, 5000, 0, false));
    }

    proptest::proptest! {
        /// Any bytes, any offsets: no panic, nothing written outside the
        /// frame (the length never changes), and a completed TCP/UDP
        /// checksum verifies.
        #[test]
        fn arbitrary_frames_never_panic(
            mut f in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..160),
            start in 0usize..200,
            offset in 0usize..40,
        ) {
            let n = f.len();
            let _ = complete_partial_checksum(&mut f, start, offset, offset == 6);
            let _ = complete_l4_checksum(&mut f);
            proptest::prop_assert_eq!(f.len(), n);
        }

        /// Whatever sits in the checksum field of a well-formed TCP/IPv4
        /// frame, completion gives back the right checksum.
        #[test]
        fn completion_fixes_any_partial_value(
            junk in proptest::prelude::any::<u16>(),
            len in 0usize..64,
            vlan in proptest::prelude::any::<bool>(),
        ) {
            let good = build::tcp4(M, N, Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2), 1, 2, 0x10, len);
            let good = if vlan { build::push_vlan(&good, 0x8100, 7) } else { good };
            let at = if vlan { 18 } else { 14 } + 20 + 16;
            let mut f = good.clone();
            f[at..at + 2].copy_from_slice(&junk.to_be_bytes());
            proptest::prop_assert!(complete_l4_checksum(&mut f));
            proptest::prop_assert_eq!(&f, &good);
        }
    }

    #[test]
    fn leaves_other_frames_alone_and_never_panics() {
        let arp = build::arp(
            M,
            N,
            1,
            M,
            Ipv4Addr::new(10, 0, 0, 1),
            N,
            Ipv4Addr::new(10, 0, 0, 2),
        );
        let mut f = arp.clone();
        assert!(!complete_l4_checksum(&mut f));
        assert_eq!(f, arp);
        let good = build::tcp4(
            M,
            N,
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            1,
            2,
            0x10,
            1,
        );
        for n in 0..good.len() {
            let mut t = good[..n].to_vec();
            let _ = complete_l4_checksum(&mut t);
        }
    }
}
