//! Ethernet II header.
//!
//! ```text
//!  0                   6                  12      14
//! +-------------------+-------------------+-------+----------
//! |  destination MAC  |    source MAC     | type  | payload
//! +-------------------+-------------------+-------+----------
//! ```
//!
//! Length contract: [`EthernetFrame::new_checked`] accepts any buffer of at
//! least [`HEADER_LEN`] (14) bytes; after it, no getter panics. A "type"
//! below 0x0600 is an 802.3 length; this view does not interpret it.

use super::{get_u16, need, put_u16, MacAddr, Result};

/// Length of the Ethernet header.
pub const HEADER_LEN: usize = 14;

/// Byte ranges of the header fields.
pub mod field {
    use core::ops::Range;
    /// Destination MAC.
    pub const DST: Range<usize> = 0..6;
    /// Source MAC.
    pub const SRC: Range<usize> = 6..12;
    /// Ethertype (or 802.3 length, or a VLAN TPID).
    pub const ETHERTYPE: Range<usize> = 12..14;
    /// Start of the payload.
    pub const PAYLOAD: usize = 14;
}

/// Ethertypes, keeping unknown values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EtherType {
    /// IPv4 (0x0800).
    Ipv4,
    /// ARP (0x0806).
    Arp,
    /// 802.1Q VLAN tag (0x8100).
    Vlan,
    /// Reverse ARP (0x8035).
    Rarp,
    /// IPv6 (0x86dd).
    Ipv6,
    /// 802.1ad service tag (0x88a8).
    QinQ,
    /// Any other value (including 802.3 lengths).
    Unknown(u16),
}

impl From<u16> for EtherType {
    fn from(v: u16) -> Self {
        match v {
            0x0800 => EtherType::Ipv4,
            0x0806 => EtherType::Arp,
            0x8100 => EtherType::Vlan,
            0x8035 => EtherType::Rarp,
            0x86dd => EtherType::Ipv6,
            0x88a8 => EtherType::QinQ,
            n => EtherType::Unknown(n),
        }
    }
}

impl From<EtherType> for u16 {
    fn from(e: EtherType) -> u16 {
        match e {
            EtherType::Ipv4 => 0x0800,
            EtherType::Arp => 0x0806,
            EtherType::Vlan => 0x8100,
            EtherType::Rarp => 0x8035,
            EtherType::Ipv6 => 0x86dd,
            EtherType::QinQ => 0x88a8,
            EtherType::Unknown(n) => n,
        }
    }
}

/// A view of an Ethernet frame.
#[derive(Debug, Clone)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps `buffer` without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        EthernetFrame { buffer }
    }

    /// Wraps `buffer` after checking the length contract.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let f = Self::new_unchecked(buffer);
        f.check_len()?;
        Ok(f)
    }

    /// Checks the length contract.
    pub fn check_len(&self) -> Result<()> {
        need(HEADER_LEN, self.buffer.as_ref().len())
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Destination MAC.
    pub fn dst_addr(&self) -> MacAddr {
        let mut a = [0; 6];
        a.copy_from_slice(&self.buffer.as_ref()[field::DST]);
        a
    }

    /// Source MAC.
    pub fn src_addr(&self) -> MacAddr {
        let mut a = [0; 6];
        a.copy_from_slice(&self.buffer.as_ref()[field::SRC]);
        a
    }

    /// The raw ethertype field.
    pub fn ethertype_raw(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ETHERTYPE.start)
    }

    /// The ethertype field.
    pub fn ethertype(&self) -> EtherType {
        self.ethertype_raw().into()
    }

    /// Whether the type field is an 802.3 length (< 0x0600).
    pub fn is_8023(&self) -> bool {
        self.ethertype_raw() < 0x0600
    }

    /// Everything after the header.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// Sets the destination MAC.
    pub fn set_dst_addr(&mut self, a: MacAddr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a);
    }

    /// Sets the source MAC.
    pub fn set_src_addr(&mut self, a: MacAddr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a);
    }

    /// Sets the ethertype.
    pub fn set_ethertype(&mut self, e: EtherType) {
        put_u16(self.buffer.as_mut(), field::ETHERTYPE.start, e.into());
    }

    /// Everything after the header, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
}

/// A parsed Ethernet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetRepr {
    /// Source MAC.
    pub src_addr: MacAddr,
    /// Destination MAC.
    pub dst_addr: MacAddr,
    /// Ethertype.
    pub ethertype: EtherType,
}

impl EthernetRepr {
    /// Parses a checked frame.
    pub fn parse<T: AsRef<[u8]>>(f: &EthernetFrame<T>) -> Result<Self> {
        f.check_len()?;
        Ok(EthernetRepr {
            src_addr: f.src_addr(),
            dst_addr: f.dst_addr(),
            ethertype: f.ethertype(),
        })
    }

    /// Bytes [`EthernetRepr::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header into the front of `f` (at least 14 bytes).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, f: &mut EthernetFrame<T>) {
        f.set_src_addr(self.src_addr);
        f.set_dst_addr(self.dst_addr);
        f.set_ethertype(self.ethertype);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::WireError;

    const FRAME: [u8; 16] = [
        0x02, 0, 0, 0, 0, 0x02, // dst
        0x02, 0, 0, 0, 0, 0x01, // src
        0x08, 0x00, // IPv4
        0xaa, 0xbb,
    ];

    #[test]
    fn reads_fields() {
        let f = EthernetFrame::new_checked(&FRAME[..]).unwrap();
        assert_eq!(f.dst_addr(), [2, 0, 0, 0, 0, 2]);
        assert_eq!(f.src_addr(), [2, 0, 0, 0, 0, 1]);
        assert_eq!(f.ethertype(), EtherType::Ipv4);
        assert_eq!(f.payload(), &[0xaa, 0xbb]);
        assert!(!f.is_8023());
    }

    #[test]
    fn header_only_frame_is_valid() {
        let f = EthernetFrame::new_checked(&FRAME[..14]).unwrap();
        assert!(f.payload().is_empty());
    }

    #[test]
    fn short_frame_is_truncated() {
        assert_eq!(
            EthernetFrame::new_checked(&FRAME[..13]).unwrap_err(),
            WireError::Truncated { need: 14, have: 13 }
        );
    }

    #[test]
    fn unknown_ethertype_is_kept() {
        let mut b = FRAME;
        b[12..14].copy_from_slice(&[0x12, 0x34]);
        let f = EthernetFrame::new_checked(&b[..]).unwrap();
        assert_eq!(f.ethertype(), EtherType::Unknown(0x1234));
        assert_eq!(u16::from(f.ethertype()), 0x1234);
    }

    #[test]
    fn length_field_is_8023() {
        let mut b = FRAME;
        b[12..14].copy_from_slice(&[0x00, 0x2e]);
        assert!(EthernetFrame::new_unchecked(&b[..]).is_8023());
    }

    #[test]
    fn emit_parse_round_trip() {
        let r = EthernetRepr {
            src_addr: [1, 2, 3, 4, 5, 6],
            dst_addr: [0xff; 6],
            ethertype: EtherType::Unknown(0x88cc),
        };
        let mut b = [0u8; 14];
        r.emit(&mut EthernetFrame::new_unchecked(&mut b[..]));
        let p = EthernetRepr::parse(&EthernetFrame::new_checked(&b[..]).unwrap()).unwrap();
        assert_eq!(p, r);
    }
}
