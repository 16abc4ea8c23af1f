//! ARP (and RARP, which has the same layout).
//!
//! ```text
//!  0      2      4    5    6      8
//! +------+------+----+----+------+-----+-----+-----+-----+
//! | htype| ptype|hlen|plen| oper | sha | spa | tha | tpa |
//! +------+------+----+----+------+-----+-----+-----+-----+
//! ```
//!
//! Length contract: [`ArpPacket::new_checked`] needs the 8-byte fixed part
//! and `8 + 2 * (hlen + plen)` bytes in all, so the address getters (slices
//! sized by hlen / plen) never panic. The `field` ranges of the addresses
//! are those of Ethernet/IPv4 ARP (hlen 6, plen 4, [`ETH_IPV4_LEN`] bytes),
//! the only kind rvs matches on and builds.

use super::{get_u16, need, put_u16, MacAddr, Result, WireError};
use core::net::Ipv4Addr;

/// Length of the fixed part (up to and including the operation).
pub const FIXED_LEN: usize = 8;
/// Length of an Ethernet/IPv4 ARP packet.
pub const ETH_IPV4_LEN: usize = 28;
/// Hardware type of Ethernet.
pub const HTYPE_ETHERNET: u16 = 1;

/// Byte ranges of the fields (addresses: Ethernet/IPv4 ARP).
pub mod field {
    use core::ops::Range;
    /// Hardware type.
    pub const HTYPE: Range<usize> = 0..2;
    /// Protocol type.
    pub const PTYPE: Range<usize> = 2..4;
    /// Hardware address length.
    pub const HLEN: usize = 4;
    /// Protocol address length.
    pub const PLEN: usize = 5;
    /// Operation.
    pub const OPER: Range<usize> = 6..8;
    /// Sender hardware address.
    pub const SHA: Range<usize> = 8..14;
    /// Sender protocol address.
    pub const SPA: Range<usize> = 14..18;
    /// Target hardware address.
    pub const THA: Range<usize> = 18..24;
    /// Target protocol address.
    pub const TPA: Range<usize> = 24..28;
}

/// ARP operations, keeping unknown values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpOperation {
    /// Request (1).
    Request,
    /// Reply (2).
    Reply,
    /// Any other value (RARP uses 3 and 4).
    Unknown(u16),
}

impl From<u16> for ArpOperation {
    fn from(v: u16) -> Self {
        match v {
            1 => ArpOperation::Request,
            2 => ArpOperation::Reply,
            n => ArpOperation::Unknown(n),
        }
    }
}

impl From<ArpOperation> for u16 {
    fn from(o: ArpOperation) -> u16 {
        match o {
            ArpOperation::Request => 1,
            ArpOperation::Reply => 2,
            ArpOperation::Unknown(n) => n,
        }
    }
}

/// A view of an ARP packet.
#[derive(Debug, Clone)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Wraps `buffer` without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        ArpPacket { buffer }
    }

    /// Wraps `buffer` after checking the length contract.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks the length contract.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        need(FIXED_LEN, len)?;
        need(FIXED_LEN + 2 * (self.hlen() + self.plen()), len)
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Hardware type.
    pub fn htype(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::HTYPE.start)
    }

    /// Protocol type (an ethertype).
    pub fn ptype(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::PTYPE.start)
    }

    /// Hardware address length.
    pub fn hlen(&self) -> usize {
        self.buffer.as_ref()[field::HLEN].into()
    }

    /// Protocol address length.
    pub fn plen(&self) -> usize {
        self.buffer.as_ref()[field::PLEN].into()
    }

    /// Operation.
    pub fn operation(&self) -> ArpOperation {
        get_u16(self.buffer.as_ref(), field::OPER.start).into()
    }

    /// Whether this is Ethernet/IPv4 ARP (htype 1, ptype 0x0800, hlen 6,
    /// plen 4).
    pub fn is_eth_ipv4(&self) -> bool {
        self.htype() == HTYPE_ETHERNET
            && self.ptype() == 0x0800
            && self.hlen() == 6
            && self.plen() == 4
    }

    fn addr(&self, idx: usize) -> &[u8] {
        let (h, p) = (self.hlen(), self.plen());
        let starts = [
            FIXED_LEN,
            FIXED_LEN + h,
            FIXED_LEN + h + p,
            FIXED_LEN + 2 * h + p,
        ];
        let lens = [h, p, h, p];
        &self.buffer.as_ref()[starts[idx]..starts[idx] + lens[idx]]
    }

    /// Sender hardware address (hlen bytes).
    pub fn sender_hardware_addr(&self) -> &[u8] {
        self.addr(0)
    }

    /// Sender protocol address (plen bytes).
    pub fn sender_protocol_addr(&self) -> &[u8] {
        self.addr(1)
    }

    /// Target hardware address (hlen bytes).
    pub fn target_hardware_addr(&self) -> &[u8] {
        self.addr(2)
    }

    /// Target protocol address (plen bytes).
    pub fn target_protocol_addr(&self) -> &[u8] {
        self.addr(3)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    /// Sets the hardware type.
    pub fn set_htype(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::HTYPE.start, v);
    }

    /// Sets the protocol type.
    pub fn set_ptype(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::PTYPE.start, v);
    }

    /// Sets the hardware address length.
    pub fn set_hlen(&mut self, v: u8) {
        self.buffer.as_mut()[field::HLEN] = v;
    }

    /// Sets the protocol address length.
    pub fn set_plen(&mut self, v: u8) {
        self.buffer.as_mut()[field::PLEN] = v;
    }

    /// Sets the operation.
    pub fn set_operation(&mut self, op: ArpOperation) {
        put_u16(self.buffer.as_mut(), field::OPER.start, op.into());
    }

    /// Sets the Ethernet sender hardware address (Ethernet/IPv4 layout).
    pub fn set_sha(&mut self, a: MacAddr) {
        self.buffer.as_mut()[field::SHA].copy_from_slice(&a);
    }

    /// Sets the IPv4 sender protocol address (Ethernet/IPv4 layout).
    pub fn set_spa(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SPA].copy_from_slice(&a.octets());
    }

    /// Sets the Ethernet target hardware address (Ethernet/IPv4 layout).
    pub fn set_tha(&mut self, a: MacAddr) {
        self.buffer.as_mut()[field::THA].copy_from_slice(&a);
    }

    /// Sets the IPv4 target protocol address (Ethernet/IPv4 layout).
    pub fn set_tpa(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::TPA].copy_from_slice(&a.octets());
    }
}

/// A parsed Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpRepr {
    /// Operation.
    pub operation: ArpOperation,
    /// Sender hardware address.
    pub sha: MacAddr,
    /// Sender protocol address.
    pub spa: Ipv4Addr,
    /// Target hardware address.
    pub tha: MacAddr,
    /// Target protocol address.
    pub tpa: Ipv4Addr,
}

impl ArpRepr {
    /// Parses an Ethernet/IPv4 ARP packet; other kinds are `Unsupported`.
    pub fn parse<T: AsRef<[u8]>>(p: &ArpPacket<T>) -> Result<Self> {
        p.check_len()?;
        if !p.is_eth_ipv4() {
            return Err(WireError::Unsupported {
                header: "arp",
                what: "not Ethernet/IPv4",
            });
        }
        let b = p.buffer.as_ref();
        let mac = |r: core::ops::Range<usize>| -> MacAddr {
            let mut m = [0; 6];
            m.copy_from_slice(&b[r]);
            m
        };
        let ip = |r: core::ops::Range<usize>| {
            Ipv4Addr::new(b[r.start], b[r.start + 1], b[r.start + 2], b[r.start + 3])
        };
        Ok(ArpRepr {
            operation: p.operation(),
            sha: mac(field::SHA),
            spa: ip(field::SPA),
            tha: mac(field::THA),
            tpa: ip(field::TPA),
        })
    }

    /// Bytes [`ArpRepr::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        ETH_IPV4_LEN
    }

    /// Writes the packet into the front of `p` (at least 28 bytes).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut ArpPacket<T>) {
        p.set_htype(HTYPE_ETHERNET);
        p.set_ptype(0x0800);
        p.set_hlen(6);
        p.set_plen(4);
        p.set_operation(self.operation);
        p.set_sha(self.sha);
        p.set_spa(self.spa);
        p.set_tha(self.tha);
        p.set_tpa(self.tpa);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01, // fixed
        0x02, 0, 0, 0, 0, 0x01, 10, 0, 0, 1, // sender
        0, 0, 0, 0, 0, 0, 10, 0, 0, 2, // target
    ];

    #[test]
    fn parses_request() {
        let p = ArpPacket::new_checked(&REQUEST[..]).unwrap();
        assert!(p.is_eth_ipv4());
        let r = ArpRepr::parse(&p).unwrap();
        assert_eq!(r.operation, ArpOperation::Request);
        assert_eq!(r.sha, [2, 0, 0, 0, 0, 1]);
        assert_eq!(r.spa, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(r.tpa, Ipv4Addr::new(10, 0, 0, 2));
    }

    #[test]
    fn truncated_addresses() {
        assert!(ArpPacket::new_checked(&REQUEST[..27]).is_err());
        assert!(ArpPacket::new_checked(&REQUEST[..7]).is_err());
    }

    #[test]
    fn other_address_sizes_use_generic_getters() {
        // hlen 8, plen 2: 8 + 2 * 10 = 28 bytes, same buffer size.
        let mut b = REQUEST;
        b[4] = 8;
        b[5] = 2;
        let p = ArpPacket::new_checked(&b[..]).unwrap();
        assert!(!p.is_eth_ipv4());
        assert_eq!(p.sender_hardware_addr().len(), 8);
        assert_eq!(p.target_protocol_addr(), &b[26..28]);
        assert!(ArpRepr::parse(&p).is_err());
    }

    #[test]
    fn unknown_operation_is_kept() {
        let mut b = REQUEST;
        b[6..8].copy_from_slice(&[0x01, 0x00]);
        let p = ArpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.operation(), ArpOperation::Unknown(0x100));
    }

    #[test]
    fn emit_parse_round_trip() {
        let r = ArpRepr {
            operation: ArpOperation::Reply,
            sha: [1, 2, 3, 4, 5, 6],
            spa: Ipv4Addr::new(192, 168, 0, 1),
            tha: [7, 8, 9, 10, 11, 12],
            tpa: Ipv4Addr::new(192, 168, 0, 2),
        };
        let mut b = [0u8; 28];
        r.emit(&mut ArpPacket::new_unchecked(&mut b[..]));
        assert_eq!(
            ArpRepr::parse(&ArpPacket::new_checked(&b[..]).unwrap()),
            Ok(r)
        );
    }
}
