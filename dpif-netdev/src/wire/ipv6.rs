//! IPv6 header and extension headers.
//!
//! ```text
//!  0               4               6       7       8              24             40
//! +---------------+---------------+-------+-------+--------------+--------------+
//! |ver|tclass|flow|  payload len  |  nxt  | hlim  |    source    | destination  |
//! +---------------+---------------+-------+-------+--------------+--------------+
//! ```
//!
//! Length contract: [`Ipv6Packet::new_checked`] succeeds when the buffer
//! holds at least 40 bytes, the version is 6, and the buffer holds
//! `40 + payload length` bytes (more is padding; [`Ipv6Packet::payload`]
//! stops at the payload length).
//!
//! Extension headers: [`ExtHeader`] views the generic "next header, length"
//! form of hop-by-hop, routing and destination options (length
//! `(len + 1) * 8`) and of AH (length `(len + 2) * 4`); [`FragmentHeader`]
//! views the fixed 8-byte fragment header. [`walk_ext_headers`] walks a
//! chain to the upper-layer header.

use super::{get_u16, get_u32, need, put_u16, put_u32, IpProtocol, Result, WireError};
use core::net::Ipv6Addr;

/// Length of the fixed header.
pub const HEADER_LEN: usize = 40;

/// Byte ranges of the header fields.
pub mod field {
    use core::ops::Range;
    /// Version (4 bits), traffic class (8), flow label (20).
    pub const VER_TC_FLOW: Range<usize> = 0..4;
    /// Payload length.
    pub const LENGTH: Range<usize> = 4..6;
    /// Next header.
    pub const NXT_HDR: usize = 6;
    /// Hop limit.
    pub const HOP_LIMIT: usize = 7;
    /// Source address.
    pub const SRC_ADDR: Range<usize> = 8..24;
    /// Destination address.
    pub const DST_ADDR: Range<usize> = 24..40;
    /// Start of the payload.
    pub const PAYLOAD: usize = 40;
}

/// A view of an IPv6 packet.
#[derive(Debug, Clone)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wraps `buffer` without checking anything.
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv6Packet { buffer }
    }

    /// Wraps `buffer` after checking the length contract.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks the length contract (see the module docs).
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        need(HEADER_LEN, len)?;
        if self.version() != 6 {
            return Err(WireError::Malformed {
                header: "ipv6",
                what: "version is not 6",
            });
        }
        need(HEADER_LEN + usize::from(self.payload_len()), len)
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn word0(&self) -> u32 {
        get_u32(self.buffer.as_ref(), 0)
    }

    /// Version (6).
    pub fn version(&self) -> u8 {
        (self.word0() >> 28) as u8
    }

    /// Traffic class (DSCP << 2 | ECN).
    pub fn traffic_class(&self) -> u8 {
        (self.word0() >> 20) as u8
    }

    /// Flow label (20 bits).
    pub fn flow_label(&self) -> u32 {
        self.word0() & 0x000f_ffff
    }

    /// Payload length (extension headers included).
    pub fn payload_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// Next header.
    pub fn next_header(&self) -> IpProtocol {
        self.buffer.as_ref()[field::NXT_HDR].into()
    }

    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[field::SRC_ADDR]);
        a.into()
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[field::DST_ADDR]);
        a.into()
    }

    /// The payload (extension headers included), up to the payload length.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..HEADER_LEN + usize::from(self.payload_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    fn set_word0(&mut self, w: u32) {
        put_u32(self.buffer.as_mut(), 0, w);
    }

    /// Sets the version.
    pub fn set_version(&mut self, v: u8) {
        let w = (self.word0() & 0x0fff_ffff) | (u32::from(v & 0xf) << 28);
        self.set_word0(w);
    }

    /// Sets the traffic class.
    pub fn set_traffic_class(&mut self, tc: u8) {
        let w = (self.word0() & 0xf00f_ffff) | (u32::from(tc) << 20);
        self.set_word0(w);
    }

    /// Sets the flow label (low 20 bits of `label`).
    pub fn set_flow_label(&mut self, label: u32) {
        let w = (self.word0() & 0xfff0_0000) | (label & 0x000f_ffff);
        self.set_word0(w);
    }

    /// Sets the payload length.
    pub fn set_payload_len(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::LENGTH.start, v);
    }

    /// Sets the next header.
    pub fn set_next_header(&mut self, p: IpProtocol) {
        self.buffer.as_mut()[field::NXT_HDR] = p.into();
    }

    /// Sets the hop limit.
    pub fn set_hop_limit(&mut self, v: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = v;
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&a.octets());
    }

    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&a.octets());
    }

    /// The payload up to the payload length, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

/// A parsed IPv6 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Repr {
    /// Source address.
    pub src_addr: Ipv6Addr,
    /// Destination address.
    pub dst_addr: Ipv6Addr,
    /// Next header.
    pub next_header: IpProtocol,
    /// Payload length (extension headers included).
    pub payload_len: usize,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class.
    pub traffic_class: u8,
    /// Flow label.
    pub flow_label: u32,
}

impl Ipv6Repr {
    /// Parses a packet (checks the length contract).
    pub fn parse<T: AsRef<[u8]>>(p: &Ipv6Packet<T>) -> Result<Self> {
        p.check_len()?;
        Ok(Ipv6Repr {
            src_addr: p.src_addr(),
            dst_addr: p.dst_addr(),
            next_header: p.next_header(),
            payload_len: usize::from(p.payload_len()),
            hop_limit: p.hop_limit(),
            traffic_class: p.traffic_class(),
            flow_label: p.flow_label(),
        })
    }

    /// Bytes [`Ipv6Repr::emit`] writes (40).
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header into the front of `p`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Ipv6Packet<T>) {
        p.set_word0(0);
        p.set_version(6);
        p.set_traffic_class(self.traffic_class);
        p.set_flow_label(self.flow_label);
        p.set_payload_len(self.payload_len as u16);
        p.set_next_header(self.next_header);
        p.set_hop_limit(self.hop_limit);
        p.set_src_addr(self.src_addr);
        p.set_dst_addr(self.dst_addr);
    }
}

/// Whether `nh` is an extension header that [`walk_ext_headers`] walks
/// through: hop-by-hop (0), routing (43), fragment (44), AH (51),
/// destination options (60).
#[inline(always)]
pub const fn is_ext_header(nh: u8) -> bool {
    matches!(nh, 0 | 43 | 44 | 51 | 60)
}

/// Byte ranges of the generic extension header fields.
pub mod ext_field {
    /// Next header.
    pub const NXT_HDR: usize = 0;
    /// Length (in 8-byte units minus one; AH: 4-byte units minus two).
    pub const LENGTH: usize = 1;
    /// Start of the header's data (options, routing data, ...).
    pub const DATA: usize = 2;
}

/// A view of a generic extension header (hop-by-hop, routing, destination
/// options, AH).
///
/// Length contract: [`ExtHeader::new_checked`] needs 2 bytes and then the
/// whole header as its length field says ([`ExtHeader::header_len`]).
#[derive(Debug, Clone)]
pub struct ExtHeader<T: AsRef<[u8]>> {
    buffer: T,
    ah: bool,
}

impl<T: AsRef<[u8]>> ExtHeader<T> {
    /// Wraps `buffer`; `ah` selects AH's length unit.
    pub const fn new_unchecked(buffer: T, ah: bool) -> Self {
        ExtHeader { buffer, ah }
    }

    /// Wraps `buffer` after checking the length contract.
    pub fn new_checked(buffer: T, ah: bool) -> Result<Self> {
        let h = Self::new_unchecked(buffer, ah);
        let len = h.buffer.as_ref().len();
        need(2, len)?;
        need(h.header_len(), len)?;
        Ok(h)
    }

    /// Next header.
    pub fn next_header(&self) -> IpProtocol {
        self.buffer.as_ref()[ext_field::NXT_HDR].into()
    }

    /// Length of the whole header in bytes.
    pub fn header_len(&self) -> usize {
        let l = usize::from(self.buffer.as_ref()[ext_field::LENGTH]);
        if self.ah {
            (l + 2) * 4
        } else {
            (l + 1) * 8
        }
    }

    /// The header's data after the first two bytes.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[ext_field::DATA..self.header_len()]
    }
}

/// Length of the fragment header.
pub const FRAG_HEADER_LEN: usize = 8;

/// Byte ranges of the fragment header fields.
pub mod frag_field {
    use core::ops::Range;
    /// Next header.
    pub const NXT_HDR: usize = 0;
    /// Offset (13 bits, 8-byte units), reserved (2), M flag (1).
    pub const OFFLG: Range<usize> = 2..4;
    /// Identification.
    pub const IDENT: Range<usize> = 4..8;
}

/// Offset bits of the fragment header's offset/flags word.
pub const FRAG_OFFSET_MASK: u16 = 0xfff8;
/// More-fragments bit of the fragment header's offset/flags word.
pub const FRAG_MORE: u16 = 0x0001;

/// A view of a fragment header. Length contract: 8 bytes.
#[derive(Debug, Clone)]
pub struct FragmentHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> FragmentHeader<T> {
    /// Wraps `buffer` without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        FragmentHeader { buffer }
    }

    /// Wraps `buffer` after checking the length contract.
    pub fn new_checked(buffer: T) -> Result<Self> {
        need(FRAG_HEADER_LEN, buffer.as_ref().len())?;
        Ok(Self::new_unchecked(buffer))
    }

    /// Next header.
    pub fn next_header(&self) -> IpProtocol {
        self.buffer.as_ref()[frag_field::NXT_HDR].into()
    }

    /// The raw offset/flags word.
    pub fn offlg(&self) -> u16 {
        get_u16(self.buffer.as_ref(), frag_field::OFFLG.start)
    }

    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> u16 {
        self.offlg() & FRAG_OFFSET_MASK
    }

    /// More-fragments flag.
    pub fn more_frags(&self) -> bool {
        self.offlg() & FRAG_MORE != 0
    }

    /// Identification.
    pub fn ident(&self) -> u32 {
        get_u32(self.buffer.as_ref(), frag_field::IDENT.start)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> FragmentHeader<T> {
    /// Sets the next header.
    pub fn set_next_header(&mut self, p: IpProtocol) {
        self.buffer.as_mut()[frag_field::NXT_HDR] = p.into();
        self.buffer.as_mut()[1] = 0;
    }

    /// Sets offset (bytes, a multiple of 8) and the M flag.
    pub fn set_offset_more(&mut self, offset: u16, more: bool) {
        let w = (offset & FRAG_OFFSET_MASK) | u16::from(more);
        put_u16(self.buffer.as_mut(), frag_field::OFFLG.start, w);
    }

    /// Sets the identification.
    pub fn set_ident(&mut self, v: u32) {
        put_u32(self.buffer.as_mut(), frag_field::IDENT.start, v);
    }
}

/// Where an extension header walk ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtWalk {
    /// The last next-header value seen: the upper-layer protocol, or 44
    /// (fragment) when the walk stopped at a non-first fragment.
    pub next_header: u8,
    /// Offset of the upper-layer header from the start of the walked
    /// buffer (the IPv6 payload).
    pub offset: usize,
    /// The offset/flags words of every fragment header seen, ORed
    /// together (`None` when there was none). As in OVS, a non-zero value
    /// makes the packet a fragment.
    pub frag_offlg: Option<u16>,
    /// Whether the walk stopped at a fragment header with a non-zero offset
    /// (what follows is not a header).
    pub later_fragment: bool,
}

/// Walks the extension headers at the front of `payload` (an IPv6 payload,
/// cut at its payload length), starting with next header `nh`, as OVS does:
/// through hop-by-hop, routing, destination options, AH and fragment
/// headers, until an upper-layer protocol, or until a fragment header whose
/// offset is non-zero (then `next_header` is 44 and `later_fragment` set).
/// A header running past the end of `payload` is `Truncated`.
#[inline]
pub fn walk_ext_headers(payload: &[u8], mut nh: u8) -> Result<ExtWalk> {
    let mut ofs = 0usize;
    let mut frag_offlg = None;
    loop {
        match nh {
            0 | 43 | 60 | 51 => {
                let Some(h) = payload.get(ofs..ofs + 2) else {
                    return Err(WireError::Truncated {
                        need: ofs + 2,
                        have: payload.len(),
                    });
                };
                let len = if nh == 51 {
                    (usize::from(h[1]) + 2) * 4
                } else {
                    (usize::from(h[1]) + 1) * 8
                };
                nh = h[0];
                ofs += len;
                if ofs > payload.len() {
                    return Err(WireError::Truncated {
                        need: ofs,
                        have: payload.len(),
                    });
                }
            }
            44 => {
                let Some(h) = payload.get(ofs..ofs + FRAG_HEADER_LEN) else {
                    return Err(WireError::Truncated {
                        need: ofs + FRAG_HEADER_LEN,
                        have: payload.len(),
                    });
                };
                let offlg = u16::from_be_bytes([h[2], h[3]]);
                frag_offlg = Some(frag_offlg.unwrap_or(0) | offlg);
                ofs += FRAG_HEADER_LEN;
                if offlg & FRAG_OFFSET_MASK != 0 {
                    return Ok(ExtWalk {
                        next_header: 44,
                        offset: ofs,
                        frag_offlg,
                        later_fragment: true,
                    });
                }
                nh = h[0];
            }
            _ => {
                return Ok(ExtWalk {
                    next_header: nh,
                    offset: ofs,
                    frag_offlg,
                    later_fragment: false,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(nh: u8, payload: &[u8]) -> Vec<u8> {
        let mut b = vec![0x60, 0x12, 0x34, 0x56, 0, payload.len() as u8, nh, 64];
        b.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        b.extend_from_slice(&[0; 11]);
        b.push(1);
        b.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        b.extend_from_slice(&[0; 11]);
        b.push(2);
        b.extend_from_slice(payload);
        b
    }

    #[test]
    fn reads_fields() {
        let b = pkt(17, &[9; 8]);
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0x01);
        assert_eq!(p.flow_label(), 0x23456);
        assert_eq!(p.payload_len(), 8);
        assert_eq!(p.next_header(), IpProtocol::Udp);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.src_addr(), "2001:db8::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.dst_addr(), "2001:db8::2".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.payload(), &[9; 8]);
    }

    #[test]
    fn bad_version() {
        let mut b = pkt(17, &[]);
        b[0] = 0x40;
        assert!(matches!(
            Ipv6Packet::new_checked(&b[..]),
            Err(WireError::Malformed { .. })
        ));
    }

    #[test]
    fn payload_length_beyond_buffer() {
        let b = pkt(17, &[1, 2, 3]);
        assert!(Ipv6Packet::new_checked(&b[..42]).is_err());
        assert!(Ipv6Packet::new_checked(&b[..39]).is_err());
    }

    #[test]
    fn padding_is_not_payload() {
        let mut b = pkt(17, &[1, 2, 3]);
        b.extend_from_slice(&[0; 5]);
        assert_eq!(
            Ipv6Packet::new_checked(&b[..]).unwrap().payload(),
            &[1, 2, 3]
        );
    }

    #[test]
    fn walk_hop_routing_frag_to_udp() {
        let mut p = vec![43, 0, 1, 4, 0, 0, 0, 0]; // hop-by-hop, 8 bytes
        p.extend_from_slice(&[44, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // routing, 16
        p.extend_from_slice(&[17, 0, 0x00, 0x01, 0, 0, 0, 7]); // fragment, first, M
        p.extend_from_slice(&[0; 8]);
        let w = walk_ext_headers(&p, 0).unwrap();
        assert_eq!(
            w,
            ExtWalk {
                next_header: 17,
                offset: 32,
                frag_offlg: Some(1),
                later_fragment: false
            }
        );
    }

    #[test]
    fn walk_stops_at_later_fragment() {
        let p = [6, 0, 0x00, 0x08, 0, 0, 0, 7, 0xff, 0xff];
        let w = walk_ext_headers(&p, 44).unwrap();
        assert!(w.later_fragment);
        assert_eq!((w.next_header, w.offset), (44, 8));
    }

    #[test]
    fn walk_ah_length_unit() {
        // AH with len 1: (1 + 2) * 4 = 12 bytes.
        let p = [58, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 128, 0];
        let w = walk_ext_headers(&p, 51).unwrap();
        assert_eq!((w.next_header, w.offset), (58, 12));
    }

    #[test]
    fn walk_truncated_header() {
        assert!(walk_ext_headers(&[17, 1, 0, 0, 0, 0, 0, 0], 60).is_err());
        assert!(walk_ext_headers(&[17], 0).is_err());
        assert!(walk_ext_headers(&[17, 0, 0, 0], 44).is_err());
    }

    #[test]
    fn no_next_header_ends_walk() {
        let w = walk_ext_headers(&[], 59).unwrap();
        assert_eq!((w.next_header, w.offset), (59, 0));
    }

    #[test]
    fn ext_and_fragment_views() {
        let e = ExtHeader::new_checked(&[17u8, 0, 1, 2, 3, 4, 5, 6][..], false).unwrap();
        assert_eq!(e.next_header(), IpProtocol::Udp);
        assert_eq!(e.data(), &[1, 2, 3, 4, 5, 6]);
        assert!(ExtHeader::new_checked(&[17u8, 1, 0, 0][..], false).is_err());
        let mut b = [0u8; 8];
        let mut f = FragmentHeader::new_unchecked(&mut b[..]);
        f.set_next_header(IpProtocol::Tcp);
        f.set_offset_more(1232, true);
        f.set_ident(0xdeadbeef);
        let f = FragmentHeader::new_checked(&b[..]).unwrap();
        assert_eq!(f.next_header(), IpProtocol::Tcp);
        assert_eq!(f.frag_offset(), 1232);
        assert!(f.more_frags());
        assert_eq!(f.ident(), 0xdeadbeef);
    }

    #[test]
    fn emit_parse_round_trip() {
        let r = Ipv6Repr {
            src_addr: "fe80::1".parse().unwrap(),
            dst_addr: "ff02::1".parse().unwrap(),
            next_header: IpProtocol::Icmpv6,
            payload_len: 4,
            hop_limit: 255,
            traffic_class: 0xe3,
            flow_label: 0xfffff,
        };
        let mut b = [0u8; 44];
        r.emit(&mut Ipv6Packet::new_unchecked(&mut b[..]));
        assert_eq!(
            Ipv6Repr::parse(&Ipv6Packet::new_checked(&b[..]).unwrap()),
            Ok(r)
        );
    }
}
