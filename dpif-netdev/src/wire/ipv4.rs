//! IPv4 header.
//!
//! ```text
//!  0       1       2               4               6               8
//! +-------+-------+---------------+---------------+---------------+
//! |ver|ihl|  tos  |  total length |     ident     |flags|frag off |
//! +-------+-------+---------------+---------------+---------------+
//! |  ttl  | proto |   checksum    |            source             |
//! +-------+-------+---------------+-------------------------------+
//! |          destination          |   options (ihl*4 - 20)  ...
//! +-------------------------------+-------------------------
//! ```
//!
//! Length contract: [`Ipv4Packet::new_checked`] succeeds when the buffer
//! holds at least 20 bytes, the version is 4, `ihl >= 5`, the buffer holds
//! `ihl * 4` bytes, `total length >= ihl * 4`, and the buffer holds
//! `total length` bytes. It may hold more (Ethernet padding):
//! [`Ipv4Packet::payload`] stops at the total length.

use super::{get_u16, need, put_u16, IpProtocol, Result, WireError};
use core::net::Ipv4Addr;

/// Length of the header without options.
pub const MIN_HEADER_LEN: usize = 20;
/// Longest header (ihl 15).
pub const MAX_HEADER_LEN: usize = 60;

/// Byte ranges of the header fields.
pub mod field {
    use core::ops::Range;
    /// Version (high nibble) and IHL (low nibble).
    pub const VER_IHL: usize = 0;
    /// TOS: DSCP (6 bits) and ECN (2 bits).
    pub const TOS: usize = 1;
    /// Total length.
    pub const LENGTH: Range<usize> = 2..4;
    /// Identification.
    pub const IDENT: Range<usize> = 4..6;
    /// Flags (3 bits) and fragment offset (13 bits, 8-byte units).
    pub const FLG_OFF: Range<usize> = 6..8;
    /// Time to live.
    pub const TTL: usize = 8;
    /// Protocol.
    pub const PROTOCOL: usize = 9;
    /// Header checksum.
    pub const CHECKSUM: Range<usize> = 10..12;
    /// Source address.
    pub const SRC_ADDR: Range<usize> = 12..16;
    /// Destination address.
    pub const DST_ADDR: Range<usize> = 16..20;
    /// Start of the options.
    pub const OPTIONS: usize = 20;
}

/// Don't-fragment bit of the flags/offset word.
pub const FLAG_DF: u16 = 0x4000;
/// More-fragments bit of the flags/offset word.
pub const FLAG_MF: u16 = 0x2000;
/// Fragment offset bits of the flags/offset word.
pub const OFFSET_MASK: u16 = 0x1fff;

/// A view of an IPv4 packet.
#[derive(Debug, Clone)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps `buffer` without checking anything.
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
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
        need(MIN_HEADER_LEN, len)?;
        let bad = |what| {
            Err(WireError::Malformed {
                header: "ipv4",
                what,
            })
        };
        if self.version() != 4 {
            return bad("version is not 4");
        }
        let hl = self.header_len();
        if hl < MIN_HEADER_LEN {
            return bad("ihl below 5");
        }
        need(hl, len)?;
        let tl = usize::from(self.total_len());
        if tl < hl {
            return bad("total length below header length");
        }
        need(tl, len)
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Version (4).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL * 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// The TOS byte (DSCP << 2 | ECN).
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::TOS]
    }

    /// DSCP (6 bits).
    pub fn dscp(&self) -> u8 {
        self.tos() >> 2
    }

    /// ECN (2 bits).
    pub fn ecn(&self) -> u8 {
        self.tos() & 3
    }

    /// Total length (header + payload).
    pub fn total_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// Identification.
    pub fn ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::IDENT.start)
    }

    /// The raw flags/fragment-offset word.
    pub fn flags_frag(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::FLG_OFF.start)
    }

    /// Don't-fragment flag.
    pub fn dont_frag(&self) -> bool {
        self.flags_frag() & FLAG_DF != 0
    }

    /// More-fragments flag.
    pub fn more_frags(&self) -> bool {
        self.flags_frag() & FLAG_MF != 0
    }

    /// Fragment offset in bytes (the field times 8).
    pub fn frag_offset(&self) -> u16 {
        (self.flags_frag() & OFFSET_MASK) << 3
    }

    /// Whether this is a fragment (MF set or offset non-zero).
    pub fn is_fragment(&self) -> bool {
        self.flags_frag() & (FLAG_MF | OFFSET_MASK) != 0
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// Protocol.
    pub fn protocol(&self) -> IpProtocol {
        self.buffer.as_ref()[field::PROTOCOL].into()
    }

    /// Header checksum field.
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::SRC_ADDR];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::DST_ADDR];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// The header (options included).
    pub fn header(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.header_len()]
    }

    /// The options (possibly empty).
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS..self.header_len()]
    }

    /// The payload, up to the total length (padding excluded).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Sets the version.
    pub fn set_version(&mut self, v: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0x0f) | (v << 4);
    }

    /// Sets the header length in bytes (a multiple of 4, 20..=60).
    pub fn set_header_len(&mut self, len: usize) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0xf0) | ((len / 4) as u8 & 0x0f);
    }

    /// Sets the TOS byte.
    pub fn set_tos(&mut self, v: u8) {
        self.buffer.as_mut()[field::TOS] = v;
    }

    /// Sets the total length.
    pub fn set_total_len(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::LENGTH.start, v);
    }

    /// Sets the identification.
    pub fn set_ident(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::IDENT.start, v);
    }

    /// Sets the raw flags/fragment-offset word.
    pub fn set_flags_frag(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::FLG_OFF.start, v);
    }

    /// Sets the don't-fragment flag.
    pub fn set_dont_frag(&mut self, on: bool) {
        let w = self.flags_frag() & !FLAG_DF;
        self.set_flags_frag(w | if on { FLAG_DF } else { 0 });
    }

    /// Sets the more-fragments flag.
    pub fn set_more_frags(&mut self, on: bool) {
        let w = self.flags_frag() & !FLAG_MF;
        self.set_flags_frag(w | if on { FLAG_MF } else { 0 });
    }

    /// Sets the fragment offset in bytes (a multiple of 8).
    pub fn set_frag_offset(&mut self, bytes: u16) {
        let w = self.flags_frag() & !OFFSET_MASK;
        self.set_flags_frag(w | ((bytes >> 3) & OFFSET_MASK));
    }

    /// Sets the TTL.
    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v;
    }

    /// Sets the protocol.
    pub fn set_protocol(&mut self, p: IpProtocol) {
        self.buffer.as_mut()[field::PROTOCOL] = p.into();
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::CHECKSUM.start, v);
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&a.octets());
    }

    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&a.octets());
    }

    /// The options, writable.
    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[field::OPTIONS..hl]
    }

    /// The payload up to the total length, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (hl, tl) = (self.header_len(), usize::from(self.total_len()));
        &mut self.buffer.as_mut()[hl..tl]
    }
}

/// A parsed IPv4 header (options are not kept; `emit` writes none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
    /// Protocol.
    pub protocol: IpProtocol,
    /// Payload length (total length minus header length).
    pub payload_len: usize,
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
    /// Fragment offset in bytes.
    pub frag_offset: u16,
}

impl Ipv4Repr {
    /// Parses a packet (checks the length contract).
    pub fn parse<T: AsRef<[u8]>>(p: &Ipv4Packet<T>) -> Result<Self> {
        p.check_len()?;
        Ok(Ipv4Repr {
            src_addr: p.src_addr(),
            dst_addr: p.dst_addr(),
            protocol: p.protocol(),
            payload_len: usize::from(p.total_len()) - p.header_len(),
            ttl: p.ttl(),
            tos: p.tos(),
            ident: p.ident(),
            dont_frag: p.dont_frag(),
            more_frags: p.more_frags(),
            frag_offset: p.frag_offset(),
        })
    }

    /// Bytes of header [`Ipv4Repr::emit`] writes (20).
    pub const fn buffer_len(&self) -> usize {
        MIN_HEADER_LEN
    }

    /// Writes a 20-byte header into the front of `p`, checksum zero
    /// (the caller fills it in).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Ipv4Packet<T>) {
        p.set_version(4);
        p.set_header_len(MIN_HEADER_LEN);
        p.set_tos(self.tos);
        p.set_total_len((MIN_HEADER_LEN + self.payload_len) as u16);
        p.set_ident(self.ident);
        p.set_flags_frag(0);
        p.set_dont_frag(self.dont_frag);
        p.set_more_frags(self.more_frags);
        p.set_frag_offset(self.frag_offset);
        p.set_ttl(self.ttl);
        p.set_protocol(self.protocol);
        p.set_checksum(0);
        p.set_src_addr(self.src_addr);
        p.set_dst_addr(self.dst_addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 10.0.0.1 -> 10.0.0.2, UDP, total length 24, 4 payload bytes.
    const PKT: [u8; 24] = [
        0x45, 0x10, 0x00, 0x18, 0x12, 0x34, 0x40, 0x00, 64, 17, 0xab, 0xcd, 10, 0, 0, 1, 10, 0, 0,
        2, 1, 2, 3, 4,
    ];

    #[test]
    fn reads_fields() {
        let p = Ipv4Packet::new_checked(&PKT[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.dscp(), 4);
        assert_eq!(p.total_len(), 24);
        assert_eq!(p.ident(), 0x1234);
        assert!(p.dont_frag() && !p.more_frags() && !p.is_fragment());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), IpProtocol::Udp);
        assert_eq!(p.checksum(), 0xabcd);
        assert_eq!(p.src_addr(), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(p.payload(), &[1, 2, 3, 4]);
    }

    #[test]
    fn padding_after_total_length_is_not_payload() {
        let mut b = PKT.to_vec();
        b.extend_from_slice(&[0; 10]);
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.payload(), &[1, 2, 3, 4]);
    }

    #[test]
    fn bad_version() {
        let mut b = PKT;
        b[0] = 0x65;
        assert!(matches!(
            Ipv4Packet::new_checked(&b[..]),
            Err(WireError::Malformed { .. })
        ));
    }

    #[test]
    fn ihl_below_five() {
        let mut b = PKT;
        b[0] = 0x44;
        assert!(matches!(
            Ipv4Packet::new_checked(&b[..]),
            Err(WireError::Malformed { .. })
        ));
    }

    #[test]
    fn total_length_below_header() {
        let mut b = PKT;
        b[3] = 19;
        assert!(matches!(
            Ipv4Packet::new_checked(&b[..]),
            Err(WireError::Malformed { .. })
        ));
    }

    #[test]
    fn buffer_shorter_than_total_length() {
        assert_eq!(
            Ipv4Packet::new_checked(&PKT[..23]).unwrap_err(),
            WireError::Truncated { need: 24, have: 23 }
        );
    }

    #[test]
    fn buffer_shorter_than_options() {
        let mut b = PKT;
        b[0] = 0x46; // 24-byte header, total length 24: ok
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).unwrap().options(),
            &[1, 2, 3, 4]
        );
        assert!(Ipv4Packet::new_checked(&b[..22]).is_err());
    }

    #[test]
    fn fragment_bits() {
        let mut b = PKT;
        b[6..8].copy_from_slice(&[0x20, 0x03]);
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert!(p.more_frags() && p.is_fragment() && !p.dont_frag());
        assert_eq!(p.frag_offset(), 24);
    }

    #[test]
    fn emit_parse_round_trip() {
        let r = Ipv4Repr {
            src_addr: Ipv4Addr::new(1, 2, 3, 4),
            dst_addr: Ipv4Addr::new(5, 6, 7, 8),
            protocol: IpProtocol::Unknown(99),
            payload_len: 3,
            ttl: 9,
            tos: 0xb8,
            ident: 77,
            dont_frag: false,
            more_frags: true,
            frag_offset: 1480,
        };
        let mut b = [0u8; 23];
        r.emit(&mut Ipv4Packet::new_unchecked(&mut b[..]));
        assert_eq!(
            Ipv4Repr::parse(&Ipv4Packet::new_checked(&b[..]).unwrap()),
            Ok(r)
        );
    }
}
