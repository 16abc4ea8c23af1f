//! 802.1Q / 802.1ad VLAN tag.
//!
//! The view starts after the TPID (which is the enclosing header's
//! ethertype field, 0x8100 or 0x88a8), as in smoltcp:
//!
//! ```text
//!  0       2       4
//! +-------+-------+----------
//! |  TCI  | type  | payload
//! +-------+-------+----------
//!  TCI = PCP(3) | DEI(1) | VID(12)
//! ```
//!
//! Length contract: [`VlanTag::new_checked`] accepts any buffer of at least
//! [`HEADER_LEN`] (4) bytes. A tag as inserted into a frame (TPID + TCI) is
//! [`TAG_LEN`] (4) bytes long.

use super::eth::EtherType;
use super::{get_u16, need, put_u16, Result};

/// Length of the TCI + inner ethertype that this view covers.
pub const HEADER_LEN: usize = 4;
/// Bytes one tag adds to a frame (TPID + TCI).
pub const TAG_LEN: usize = 4;
/// 802.1Q customer tag TPID.
pub const TPID_8021Q: u16 = 0x8100;
/// 802.1ad service tag TPID.
pub const TPID_8021AD: u16 = 0x88a8;

/// Byte ranges of the fields, from the TCI.
pub mod field {
    use core::ops::Range;
    /// Tag control information.
    pub const TCI: Range<usize> = 0..2;
    /// Inner ethertype.
    pub const ETHERTYPE: Range<usize> = 2..4;
    /// Start of the payload.
    pub const PAYLOAD: usize = 4;
}

/// Whether `ethertype` is a VLAN TPID rvs parses (0x8100 or 0x88a8).
#[inline(always)]
pub const fn is_tpid(ethertype: u16) -> bool {
    ethertype == TPID_8021Q || ethertype == TPID_8021AD
}

/// A view of a VLAN tag (from its TCI).
#[derive(Debug, Clone)]
pub struct VlanTag<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VlanTag<T> {
    /// Wraps `buffer` without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        VlanTag { buffer }
    }

    /// Wraps `buffer` after checking the length contract.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let v = Self::new_unchecked(buffer);
        v.check_len()?;
        Ok(v)
    }

    /// Checks the length contract.
    pub fn check_len(&self) -> Result<()> {
        need(HEADER_LEN, self.buffer.as_ref().len())
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole TCI.
    pub fn tci(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::TCI.start)
    }

    /// Priority code point (3 bits).
    pub fn pcp(&self) -> u8 {
        (self.tci() >> 13) as u8
    }

    /// Drop eligible indicator.
    pub fn dei(&self) -> bool {
        self.tci() & 0x1000 != 0
    }

    /// VLAN id (12 bits).
    pub fn vid(&self) -> u16 {
        self.tci() & 0x0fff
    }

    /// Inner ethertype.
    pub fn ethertype(&self) -> EtherType {
        get_u16(self.buffer.as_ref(), field::ETHERTYPE.start).into()
    }

    /// Everything after the tag.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VlanTag<T> {
    /// Sets the whole TCI.
    pub fn set_tci(&mut self, tci: u16) {
        put_u16(self.buffer.as_mut(), field::TCI.start, tci);
    }

    /// Sets the VLAN id, keeping PCP and DEI.
    pub fn set_vid(&mut self, vid: u16) {
        let t = (self.tci() & 0xf000) | (vid & 0x0fff);
        self.set_tci(t);
    }

    /// Sets the PCP, keeping DEI and VID.
    pub fn set_pcp(&mut self, pcp: u8) {
        let t = (self.tci() & 0x1fff) | (u16::from(pcp & 7) << 13);
        self.set_tci(t);
    }

    /// Sets the inner ethertype.
    pub fn set_ethertype(&mut self, e: EtherType) {
        put_u16(self.buffer.as_mut(), field::ETHERTYPE.start, e.into());
    }

    /// Everything after the tag, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
}

/// A parsed VLAN tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VlanRepr {
    /// Tag control information (PCP, DEI, VID).
    pub tci: u16,
    /// Inner ethertype.
    pub ethertype: EtherType,
}

impl VlanRepr {
    /// Parses a tag.
    pub fn parse<T: AsRef<[u8]>>(v: &VlanTag<T>) -> Result<Self> {
        v.check_len()?;
        Ok(VlanRepr {
            tci: v.tci(),
            ethertype: v.ethertype(),
        })
    }

    /// Bytes [`VlanRepr::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the tag into the front of `v`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, v: &mut VlanTag<T>) {
        v.set_tci(self.tci);
        v.set_ethertype(self.ethertype);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tci_parts() {
        let b = [0xb0, 0x64, 0x08, 0x00, 0xee];
        let v = VlanTag::new_checked(&b[..]).unwrap();
        assert_eq!(v.pcp(), 5);
        assert!(v.dei());
        assert_eq!(v.vid(), 100);
        assert_eq!(v.ethertype(), EtherType::Ipv4);
        assert_eq!(v.payload(), &[0xee]);
    }

    #[test]
    fn short_tag_is_truncated() {
        assert!(VlanTag::new_checked(&[0u8, 1, 2][..]).is_err());
    }

    #[test]
    fn setters_keep_other_bits() {
        let mut b = [0xff, 0xff, 0, 0];
        let mut v = VlanTag::new_unchecked(&mut b[..]);
        v.set_vid(7);
        assert_eq!(v.tci(), 0xf007);
        v.set_pcp(0);
        assert_eq!(v.tci(), 0x1007);
    }

    #[test]
    fn tpids() {
        assert!(is_tpid(0x8100) && is_tpid(0x88a8) && !is_tpid(0x9100));
    }

    #[test]
    fn emit_parse_round_trip() {
        let r = VlanRepr {
            tci: 0x2abc,
            ethertype: EtherType::Ipv6,
        };
        let mut b = [0u8; 4];
        r.emit(&mut VlanTag::new_unchecked(&mut b[..]));
        assert_eq!(b, [0x2a, 0xbc, 0x86, 0xdd]);
        assert_eq!(
            VlanRepr::parse(&VlanTag::new_checked(&b[..]).unwrap()),
            Ok(r)
        );
    }
}
