//! Test-packet builder, for unit tests, property tests and benches (of this
//! crate and others).
//!
//! Every builder returns a complete frame as a `Vec<u8>` (it allocates:
//! not for the fast path). IPv4 header checksums and TCP / UDP / ICMP /
//! ICMPv6 checksums are correct, computed with [`reference_checksum`], a
//! deliberately simple byte-at-a-time RFC 1071 sum kept independent of
//! `wire::checksum` so that each can check the other. SCTP's CRC32c is left
//! zero. MAC arguments come source first, then destination, everywhere.
//!
//! The small helpers (`udp4`, `tcp4`, `nd_ns`, ...) cover the common cases;
//! [`ipv4_frame`] / [`ipv6_frame`] with an [`Ipv4Spec`] / [`Ipv6Spec`] and an
//! [`L4`] build anything else (IPv4 options, fragments, IPv6 extension
//! headers), and [`push_vlan`] / [`pad`] adjust a built frame.

use super::arp::{ArpOperation, ArpPacket, ArpRepr};
use super::eth::{EthernetFrame, EthernetRepr};
use super::ipv4::{Ipv4Packet, Ipv4Repr};
use super::ipv6::{Ipv6Packet, Ipv6Repr};
use super::tcp::{TcpPacket, TcpRepr};
use super::udp::{UdpPacket, UdpRepr};
use super::{IpProtocol, MacAddr};
use core::net::{Ipv4Addr, Ipv6Addr};

/// The independent reference RFC 1071 Internet checksum over the
/// concatenation of `chunks` (odd-length chunks are joined byte-wise, as if
/// they were one buffer). Returns the complemented sum, ready to store.
/// Simple on purpose: one byte at a time, no tricks.
pub fn reference_checksum(chunks: &[&[u8]]) -> u16 {
    let mut sum: u64 = 0;
    let mut hi: Option<u8> = None;
    for chunk in chunks {
        for &b in chunk.iter() {
            match hi.take() {
                Some(h) => sum += u64::from(u16::from_be_bytes([h, b])),
                None => hi = Some(b),
            }
        }
    }
    if let Some(h) = hi {
        sum += u64::from(h) << 8;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Deterministic payload bytes (0, 1, 2, ... wrapping).
pub fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| i as u8).collect()
}

/// An Ethernet frame with the given ethertype around `payload`.
pub fn ethernet(src_mac: MacAddr, dst_mac: MacAddr, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; super::eth::HEADER_LEN + payload.len()];
    let repr = EthernetRepr {
        src_addr: src_mac,
        dst_addr: dst_mac,
        ethertype: ethertype.into(),
    };
    let mut view = EthernetFrame::new_unchecked(&mut f[..]);
    repr.emit(&mut view);
    view.payload_mut().copy_from_slice(payload);
    f
}

/// Inserts a VLAN tag (`tpid`, `tci`) as the outermost tag of an Ethernet
/// frame (right after the MAC addresses). Push the inner tag first for
/// QinQ. Frames shorter than 12 bytes are returned unchanged.
pub fn push_vlan(frame: &[u8], tpid: u16, tci: u16) -> Vec<u8> {
    if frame.len() < 12 {
        return frame.to_vec();
    }
    let mut f = Vec::with_capacity(frame.len() + 4);
    f.extend_from_slice(&frame[..12]);
    f.extend_from_slice(&tpid.to_be_bytes());
    f.extend_from_slice(&tci.to_be_bytes());
    f.extend_from_slice(&frame[12..]);
    f
}

/// `frame` zero-padded to at least `min_len` bytes (60 for a minimum
/// Ethernet frame without FCS).
pub fn pad(frame: &[u8], min_len: usize) -> Vec<u8> {
    let mut f = frame.to_vec();
    if f.len() < min_len {
        f.resize(min_len, 0);
    }
    f
}

/// An upper-layer header and payload for [`ipv4_frame`] / [`ipv6_frame`].
#[derive(Debug, Clone, Copy)]
pub enum L4<'a> {
    /// UDP.
    Udp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
        /// Payload.
        payload: &'a [u8],
    },
    /// TCP with a 20-byte header.
    Tcp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
        /// Flags (low 12 bits of the offset/flags word).
        flags: u16,
        /// Payload.
        payload: &'a [u8],
    },
    /// SCTP common header (checksum left zero) and chunks.
    Sctp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
        /// Chunks.
        payload: &'a [u8],
    },
    /// ICMPv4 (only meaningful over IPv4).
    Icmp {
        /// Type.
        ty: u8,
        /// Code.
        code: u8,
        /// Everything after the checksum (rest of header and data).
        body: &'a [u8],
    },
    /// ICMPv6 (only meaningful over IPv6).
    Icmpv6 {
        /// Type.
        ty: u8,
        /// Code.
        code: u8,
        /// Everything after the checksum (rest of header and data).
        body: &'a [u8],
    },
    /// Any protocol number with raw bytes (for later fragments, unknown
    /// protocols, truncated headers).
    Raw {
        /// Protocol number.
        proto: u8,
        /// Bytes.
        bytes: &'a [u8],
    },
}

impl L4<'_> {
    /// The IP protocol number.
    pub fn proto(&self) -> u8 {
        match self {
            L4::Udp { .. } => 17,
            L4::Tcp { .. } => 6,
            L4::Sctp { .. } => 132,
            L4::Icmp { .. } => 1,
            L4::Icmpv6 { .. } => 58,
            L4::Raw { proto, .. } => *proto,
        }
    }

    /// The bytes, checksum filled from `pseudo` (the pseudo-header bytes;
    /// ignored by ICMPv4 and SCTP).
    fn emit(&self, pseudo: &[u8]) -> Vec<u8> {
        match *self {
            L4::Udp {
                sport,
                dport,
                payload,
            } => {
                let mut b = vec![0u8; 8 + payload.len()];
                let mut v = UdpPacket::new_unchecked(&mut b[..]);
                UdpRepr {
                    src_port: sport,
                    dst_port: dport,
                    payload_len: payload.len(),
                }
                .emit(&mut v);
                v.payload_mut().copy_from_slice(payload);
                let c = reference_checksum(&[pseudo, &b]);
                UdpPacket::new_unchecked(&mut b[..]).set_checksum(if c == 0 { 0xffff } else { c });
                b
            }
            L4::Tcp {
                sport,
                dport,
                flags,
                payload,
            } => {
                let mut b = vec![0u8; 20 + payload.len()];
                let mut v = TcpPacket::new_unchecked(&mut b[..]);
                TcpRepr {
                    src_port: sport,
                    dst_port: dport,
                    seq_number: 0x0102_0304,
                    ack_number: 0,
                    flags,
                    window_len: 8192,
                }
                .emit(&mut v);
                v.payload_mut().copy_from_slice(payload);
                let c = reference_checksum(&[pseudo, &b]);
                TcpPacket::new_unchecked(&mut b[..]).set_checksum(c);
                b
            }
            L4::Sctp {
                sport,
                dport,
                payload,
            } => {
                let mut b = Vec::with_capacity(12 + payload.len());
                b.extend_from_slice(&sport.to_be_bytes());
                b.extend_from_slice(&dport.to_be_bytes());
                b.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0]);
                b.extend_from_slice(payload);
                b
            }
            L4::Icmp { ty, code, body } | L4::Icmpv6 { ty, code, body } => {
                let mut b = vec![ty, code, 0, 0];
                b.extend_from_slice(body);
                let c = if matches!(self, L4::Icmp { .. }) {
                    reference_checksum(&[&b])
                } else {
                    reference_checksum(&[pseudo, &b])
                };
                b[2..4].copy_from_slice(&c.to_be_bytes());
                b
            }
            L4::Raw { bytes, .. } => bytes.to_vec(),
        }
    }
}

/// IPv4 header parameters for [`ipv4_frame`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Spec {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// TTL.
    pub ttl: u8,
    /// TOS byte.
    pub tos: u8,
    /// Identification.
    pub ident: u16,
    /// Don't-fragment flag.
    pub dont_frag: bool,
    /// More-fragments flag.
    pub more_frags: bool,
    /// Fragment offset in bytes (a multiple of 8).
    pub frag_offset: u16,
    /// Options (zero-padded to a multiple of 4, at most 40 bytes).
    pub options: Vec<u8>,
}

impl Ipv4Spec {
    /// TTL 64, TOS 0, ident 0, DF, no options.
    pub fn new(src: Ipv4Addr, dst: Ipv4Addr) -> Self {
        Ipv4Spec {
            src,
            dst,
            ttl: 64,
            tos: 0,
            ident: 0,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
            options: Vec::new(),
        }
    }
}

/// An IPv6 extension header for [`Ipv6Spec::ext`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ext {
    /// Hop-by-hop options of `(len + 1) * 8` bytes (PadN-filled).
    HopByHop {
        /// Length field.
        len: u8,
    },
    /// Routing header (type 0, segments left 0) of `(len + 1) * 8` bytes.
    Routing {
        /// Length field.
        len: u8,
    },
    /// Destination options of `(len + 1) * 8` bytes (PadN-filled).
    DstOpts {
        /// Length field.
        len: u8,
    },
    /// Authentication header of `(len + 2) * 4` bytes.
    Ah {
        /// Length field.
        len: u8,
    },
    /// Fragment header.
    Fragment {
        /// Offset in bytes (a multiple of 8).
        offset: u16,
        /// More-fragments flag.
        more: bool,
        /// Identification.
        ident: u32,
    },
}

impl Ext {
    fn proto(&self) -> u8 {
        match self {
            Ext::HopByHop { .. } => 0,
            Ext::Routing { .. } => 43,
            Ext::DstOpts { .. } => 60,
            Ext::Ah { .. } => 51,
            Ext::Fragment { .. } => 44,
        }
    }

    fn emit(&self, next: u8, out: &mut Vec<u8>) {
        match *self {
            Ext::HopByHop { len } | Ext::DstOpts { len } => {
                let total = (usize::from(len) + 1) * 8;
                out.extend_from_slice(&[next, len, 1, (total - 4) as u8]);
                out.resize(out.len() + total - 4, 0);
            }
            Ext::Routing { len } => {
                let total = (usize::from(len) + 1) * 8;
                out.extend_from_slice(&[next, len, 0, 0]);
                out.resize(out.len() + total - 4, 0);
            }
            Ext::Ah { len } => {
                let total = (usize::from(len) + 2) * 4;
                out.extend_from_slice(&[next, len]);
                out.resize(out.len() + total - 2, 0);
            }
            Ext::Fragment {
                offset,
                more,
                ident,
            } => {
                out.extend_from_slice(&[next, 0]);
                out.extend_from_slice(&((offset & 0xfff8) | u16::from(more)).to_be_bytes());
                out.extend_from_slice(&ident.to_be_bytes());
            }
        }
    }
}

/// IPv6 header parameters for [`ipv6_frame`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6Spec {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class.
    pub traffic_class: u8,
    /// Flow label (20 bits).
    pub flow_label: u32,
    /// Extension headers, in order, between the fixed header and the L4.
    pub ext: Vec<Ext>,
}

impl Ipv6Spec {
    /// Hop limit 64, traffic class 0, label 0, no extension headers.
    pub fn new(src: Ipv6Addr, dst: Ipv6Addr) -> Self {
        Ipv6Spec {
            src,
            dst,
            hop_limit: 64,
            traffic_class: 0,
            flow_label: 0,
            ext: Vec::new(),
        }
    }
}

/// An IPv4 packet (header, options, L4) with correct checksums.
pub fn ipv4_packet(ip: &Ipv4Spec, l4: &L4<'_>) -> Vec<u8> {
    let mut opts = ip.options.clone();
    opts.resize(opts.len().div_ceil(4) * 4, 0);
    let hl = 20 + opts.len();
    let mut pseudo = Vec::with_capacity(12);
    pseudo.extend_from_slice(&ip.src.octets());
    pseudo.extend_from_slice(&ip.dst.octets());
    pseudo.extend_from_slice(&[0, l4.proto()]);
    // The L4 length, for the pseudo header (the L4 is built twice).
    let body_len = l4.emit(&[]).len();
    pseudo.extend_from_slice(&(body_len as u16).to_be_bytes());
    let body = l4.emit(&pseudo);
    let mut b = vec![0u8; hl + body.len()];
    let mut v = Ipv4Packet::new_unchecked(&mut b[..]);
    Ipv4Repr {
        src_addr: ip.src,
        dst_addr: ip.dst,
        protocol: IpProtocol::from(l4.proto()),
        payload_len: body.len(),
        ttl: ip.ttl,
        tos: ip.tos,
        ident: ip.ident,
        dont_frag: ip.dont_frag,
        more_frags: ip.more_frags,
        frag_offset: ip.frag_offset,
    }
    .emit(&mut v);
    v.set_header_len(hl);
    v.set_total_len((hl + body.len()) as u16);
    v.options_mut().copy_from_slice(&opts);
    v.payload_mut().copy_from_slice(&body);
    let c = reference_checksum(&[&b[..hl]]);
    Ipv4Packet::new_unchecked(&mut b[..]).set_checksum(c);
    b
}

/// An IPv6 packet (header, extension headers, L4) with correct checksums.
pub fn ipv6_packet(ip: &Ipv6Spec, l4: &L4<'_>) -> Vec<u8> {
    let l4_len = l4.emit(&[]).len();
    let mut pseudo = Vec::with_capacity(40);
    pseudo.extend_from_slice(&ip.src.octets());
    pseudo.extend_from_slice(&ip.dst.octets());
    pseudo.extend_from_slice(&(l4_len as u32).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, l4.proto()]);
    let body = l4.emit(&pseudo);
    let mut exts = Vec::new();
    for (i, e) in ip.ext.iter().enumerate() {
        let next = ip.ext.get(i + 1).map_or(l4.proto(), Ext::proto);
        e.emit(next, &mut exts);
    }
    let first = ip.ext.first().map_or(l4.proto(), Ext::proto);
    let mut b = vec![0u8; 40 + exts.len() + body.len()];
    let mut v = Ipv6Packet::new_unchecked(&mut b[..]);
    Ipv6Repr {
        src_addr: ip.src,
        dst_addr: ip.dst,
        next_header: IpProtocol::from(first),
        payload_len: exts.len() + body.len(),
        hop_limit: ip.hop_limit,
        traffic_class: ip.traffic_class,
        flow_label: ip.flow_label,
    }
    .emit(&mut v);
    let p = v.payload_mut();
    p[..exts.len()].copy_from_slice(&exts);
    p[exts.len()..].copy_from_slice(&body);
    b
}

/// An Ethernet + IPv4 frame.
pub fn ipv4_frame(src_mac: MacAddr, dst_mac: MacAddr, ip: &Ipv4Spec, l4: &L4<'_>) -> Vec<u8> {
    ethernet(src_mac, dst_mac, 0x0800, &ipv4_packet(ip, l4))
}

/// An Ethernet + IPv6 frame.
pub fn ipv6_frame(src_mac: MacAddr, dst_mac: MacAddr, ip: &Ipv6Spec, l4: &L4<'_>) -> Vec<u8> {
    ethernet(src_mac, dst_mac, 0x86dd, &ipv6_packet(ip, l4))
}

/// An Ethernet/IPv4/UDP frame with `payload_len` bytes of [`payload`].
pub fn udp4(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src_ip: Ipv4Addr,
    dst_ip: Ipv4Addr,
    sport: u16,
    dport: u16,
    payload_len: usize,
) -> Vec<u8> {
    let p = payload(payload_len);
    let l4 = L4::Udp {
        sport,
        dport,
        payload: &p,
    };
    ipv4_frame(src_mac, dst_mac, &Ipv4Spec::new(src_ip, dst_ip), &l4)
}

/// An Ethernet/IPv4/TCP frame.
#[allow(clippy::too_many_arguments)]
pub fn tcp4(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src_ip: Ipv4Addr,
    dst_ip: Ipv4Addr,
    sport: u16,
    dport: u16,
    flags: u16,
    payload_len: usize,
) -> Vec<u8> {
    let p = payload(payload_len);
    let l4 = L4::Tcp {
        sport,
        dport,
        flags,
        payload: &p,
    };
    ipv4_frame(src_mac, dst_mac, &Ipv4Spec::new(src_ip, dst_ip), &l4)
}

/// An Ethernet/IPv4/ICMP frame (rest of header zero, then `payload_len`
/// bytes).
#[allow(clippy::too_many_arguments)]
pub fn icmp4(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src_ip: Ipv4Addr,
    dst_ip: Ipv4Addr,
    ty: u8,
    code: u8,
    payload_len: usize,
) -> Vec<u8> {
    let mut body = vec![0u8; 4];
    body.extend(payload(payload_len));
    let l4 = L4::Icmp {
        ty,
        code,
        body: &body,
    };
    ipv4_frame(src_mac, dst_mac, &Ipv4Spec::new(src_ip, dst_ip), &l4)
}

/// An Ethernet ARP frame (Ethernet/IPv4 ARP; `op` 1 request, 2 reply).
#[allow(clippy::too_many_arguments)]
pub fn arp(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    op: u16,
    sha: MacAddr,
    spa: Ipv4Addr,
    tha: MacAddr,
    tpa: Ipv4Addr,
) -> Vec<u8> {
    let mut b = [0u8; 28];
    ArpRepr {
        operation: ArpOperation::from(op),
        sha,
        spa,
        tha,
        tpa,
    }
    .emit(&mut ArpPacket::new_unchecked(&mut b[..]));
    ethernet(src_mac, dst_mac, 0x0806, &b)
}

/// An Ethernet/IPv6/UDP frame.
pub fn udp6(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src_ip: Ipv6Addr,
    dst_ip: Ipv6Addr,
    sport: u16,
    dport: u16,
    payload_len: usize,
) -> Vec<u8> {
    let p = payload(payload_len);
    let l4 = L4::Udp {
        sport,
        dport,
        payload: &p,
    };
    ipv6_frame(src_mac, dst_mac, &Ipv6Spec::new(src_ip, dst_ip), &l4)
}

/// An Ethernet/IPv6/TCP frame.
#[allow(clippy::too_many_arguments)]
pub fn tcp6(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src_ip: Ipv6Addr,
    dst_ip: Ipv6Addr,
    sport: u16,
    dport: u16,
    flags: u16,
    payload_len: usize,
) -> Vec<u8> {
    let p = payload(payload_len);
    let l4 = L4::Tcp {
        sport,
        dport,
        flags,
        payload: &p,
    };
    ipv6_frame(src_mac, dst_mac, &Ipv6Spec::new(src_ip, dst_ip), &l4)
}

/// An Ethernet/IPv6/ICMPv6 frame; `body` is everything after the checksum.
#[allow(clippy::too_many_arguments)]
pub fn icmp6(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src_ip: Ipv6Addr,
    dst_ip: Ipv6Addr,
    ty: u8,
    code: u8,
    body: &[u8],
) -> Vec<u8> {
    let l4 = L4::Icmpv6 { ty, code, body };
    let mut spec = Ipv6Spec::new(src_ip, dst_ip);
    spec.hop_limit = 255;
    ipv6_frame(src_mac, dst_mac, &spec, &l4)
}

fn nd(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    ip: (Ipv6Addr, Ipv6Addr),
    ty: u8,
    target: Ipv6Addr,
    opt: Option<(u8, MacAddr)>,
) -> Vec<u8> {
    let mut body = vec![if ty == 136 { 0x60 } else { 0 }, 0, 0, 0];
    body.extend_from_slice(&target.octets());
    if let Some((t, mac)) = opt {
        body.extend_from_slice(&[t, 1]);
        body.extend_from_slice(&mac);
    }
    icmp6(src_mac, dst_mac, ip.0, ip.1, ty, 0, &body)
}

/// An ND neighbour solicitation for `target`, with a source link-layer
/// address option when `sll` is given.
pub fn nd_ns(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src_ip: Ipv6Addr,
    dst_ip: Ipv6Addr,
    target: Ipv6Addr,
    sll: Option<MacAddr>,
) -> Vec<u8> {
    nd(
        src_mac,
        dst_mac,
        (src_ip, dst_ip),
        135,
        target,
        sll.map(|m| (1, m)),
    )
}

/// An ND neighbour advertisement (solicited, override) for `target`, with a
/// target link-layer address option when `tll` is given.
pub fn nd_na(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src_ip: Ipv6Addr,
    dst_ip: Ipv6Addr,
    target: Ipv6Addr,
    tll: Option<MacAddr>,
) -> Vec<u8> {
    nd(
        src_mac,
        dst_mac,
        (src_ip, dst_ip),
        136,
        target,
        tll.map(|m| (2, m)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::icmpv6::Icmpv6Packet;

    const A: MacAddr = [2, 0, 0, 0, 0, 1];
    const B: MacAddr = [2, 0, 0, 0, 0, 2];

    #[test]
    fn reference_checksum_known_values() {
        // RFC 1071 example: 0001 f203 f4f5 f6f7 sums to 0xddf2.
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(reference_checksum(&[&d]), !0xddf2);
        // Split at an odd boundary: same result.
        assert_eq!(reference_checksum(&[&d[..3], &d[3..]]), !0xddf2);
        assert_eq!(reference_checksum(&[&[0xff]]), !0xff00);
    }

    #[test]
    fn udp4_checksums_verify() {
        let f = udp4(
            A,
            B,
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            1,
            2,
            5,
        );
        assert_eq!(f.len(), 14 + 20 + 8 + 5);
        let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
        assert_eq!(reference_checksum(&[ip.header()]), 0);
        let mut pseudo = vec![10, 0, 0, 1, 10, 0, 0, 2, 0, 17, 0, 13];
        pseudo.extend_from_slice(ip.payload());
        assert_eq!(reference_checksum(&[&pseudo]), 0);
    }

    #[test]
    fn tcp6_checksum_verifies() {
        let s: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let d: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let f = tcp6(A, B, s, d, 1000, 80, 0x12, 3);
        let ip = Ipv6Packet::new_checked(&f[14..]).unwrap();
        let mut pseudo = s.octets().to_vec();
        pseudo.extend_from_slice(&d.octets());
        pseudo.extend_from_slice(&[0, 0, 0, 23, 0, 0, 0, 6]);
        assert_eq!(reference_checksum(&[&pseudo, ip.payload()]), 0);
    }

    #[test]
    fn ipv4_options_are_padded() {
        let mut spec = Ipv4Spec::new(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST);
        spec.options = vec![1, 1, 1];
        let p = ipv4_packet(
            &spec,
            &L4::Raw {
                proto: 99,
                bytes: &[7],
            },
        );
        let v = Ipv4Packet::new_checked(&p[..]).unwrap();
        assert_eq!(v.header_len(), 24);
        assert_eq!(v.options(), &[1, 1, 1, 0]);
        assert_eq!(v.payload(), &[7]);
        assert_eq!(reference_checksum(&[v.header()]), 0);
    }

    #[test]
    fn ipv6_ext_chain() {
        let mut spec = Ipv6Spec::new(Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST);
        spec.ext = vec![
            Ext::HopByHop { len: 0 },
            Ext::Routing { len: 1 },
            Ext::Fragment {
                offset: 0,
                more: true,
                ident: 9,
            },
        ];
        let p = ipv6_packet(
            &spec,
            &L4::Raw {
                proto: 17,
                bytes: &[0; 8],
            },
        );
        let v = Ipv6Packet::new_checked(&p[..]).unwrap();
        assert_eq!(v.payload_len(), 8 + 16 + 8 + 8);
        let w = crate::wire::ipv6::walk_ext_headers(v.payload(), p[6]).unwrap();
        assert_eq!((w.next_header, w.offset, w.frag_offlg), (17, 32, Some(1)));
    }

    #[test]
    fn nd_ns_layout() {
        let t: Ipv6Addr = "fe80::9".parse().unwrap();
        let f = nd_ns(A, B, Ipv6Addr::UNSPECIFIED, t, t, Some(A));
        let ip = Ipv6Packet::new_checked(&f[14..]).unwrap();
        let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.is_nd());
        assert_eq!(icmp.nd_target(), t);
        assert_eq!(icmp.nd_options(), &[1, 1, 2, 0, 0, 0, 0, 1]);
    }

    #[test]
    fn push_vlan_inserts_after_macs() {
        let f = ethernet(A, B, 0x0800, &[1]);
        let t = push_vlan(&f, 0x8100, 5);
        assert_eq!(&t[12..18], &[0x81, 0, 0, 5, 8, 0]);
        assert_eq!(t.len(), f.len() + 4);
        assert_eq!(pad(&t, 60).len(), 60);
    }
}
