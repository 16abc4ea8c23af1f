//! VXLAN header (RFC 7348), carried in UDP to port [`UDP_PORT`].
//!
//! ```text
//!  0       1               4                      7       8
//! +-------+---------------+----------------------+-------+---------
//! | flags |   reserved    |         VNI          |  rsvd | inner frame
//! +-------+---------------+----------------------+-------+---------
//! ```
//!
//! Length contract: [`VxlanHeader::new_checked`] needs 8 bytes. Whether
//! the I flag is set is for the caller to judge ([`VxlanHeader::vni_valid`]).

use super::{get_u32, need, put_u32, Result};

/// Length of the header.
pub const HEADER_LEN: usize = 8;
/// IANA UDP port.
pub const UDP_PORT: u16 = 4789;
/// The I flag: the VNI is valid.
pub const FLAG_VNI: u8 = 0x08;

/// Byte ranges of the header fields.
pub mod field {
    use core::ops::Range;
    /// Flags.
    pub const FLAGS: usize = 0;
    /// VNI (24 bits) and the reserved byte after it.
    pub const VNI_RSVD: Range<usize> = 4..8;
    /// VNI (24 bits).
    pub const VNI: Range<usize> = 4..7;
    /// Start of the inner Ethernet frame.
    pub const PAYLOAD: usize = 8;
}

/// A view of a VXLAN header.
#[derive(Debug, Clone)]
pub struct VxlanHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VxlanHeader<T> {
    /// Wraps `buffer` without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        VxlanHeader { buffer }
    }

    /// Wraps `buffer` after checking the length contract.
    pub fn new_checked(buffer: T) -> Result<Self> {
        need(HEADER_LEN, buffer.as_ref().len())?;
        Ok(Self::new_unchecked(buffer))
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Flags byte.
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    /// Whether the I flag is set.
    pub fn vni_valid(&self) -> bool {
        self.flags() & FLAG_VNI != 0
    }

    /// VNI (24 bits).
    pub fn vni(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::VNI_RSVD.start) >> 8
    }

    /// The inner frame.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VxlanHeader<T> {
    /// Sets the flags byte and clears the reserved bytes after it.
    pub fn set_flags(&mut self, f: u8) {
        let b = self.buffer.as_mut();
        b[0] = f;
        b[1..4].fill(0);
    }

    /// Sets the VNI (low 24 bits) and clears the last reserved byte.
    pub fn set_vni(&mut self, vni: u32) {
        put_u32(self.buffer.as_mut(), field::VNI_RSVD.start, vni << 8);
    }

    /// The inner frame, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
}

/// A parsed VXLAN header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VxlanRepr {
    /// VNI (24 bits).
    pub vni: u32,
}

impl VxlanRepr {
    /// Parses a header (the I flag must be set is not enforced).
    pub fn parse<T: AsRef<[u8]>>(h: &VxlanHeader<T>) -> Result<Self> {
        need(HEADER_LEN, h.buffer.as_ref().len())?;
        Ok(VxlanRepr { vni: h.vni() })
    }

    /// Bytes [`VxlanRepr::emit`] writes (8).
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header with the I flag set.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, h: &mut VxlanHeader<T>) {
        h.set_flags(FLAG_VNI);
        h.set_vni(self.vni);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vni() {
        let b = [0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0, 0xaa];
        let h = VxlanHeader::new_checked(&b[..]).unwrap();
        assert!(h.vni_valid());
        assert_eq!(h.vni(), 0x123456);
        assert_eq!(h.payload(), &[0xaa]);
    }

    #[test]
    fn short_is_truncated() {
        assert!(VxlanHeader::new_checked(&[8u8, 0, 0, 0, 0, 0, 1][..]).is_err());
    }

    #[test]
    fn emit_parse_round_trip() {
        let r = VxlanRepr { vni: 0xffffff };
        let mut b = [0xffu8; 8];
        r.emit(&mut VxlanHeader::new_unchecked(&mut b[..]));
        assert_eq!(b, [8, 0, 0, 0, 0xff, 0xff, 0xff, 0]);
        assert_eq!(
            VxlanRepr::parse(&VxlanHeader::new_checked(&b[..]).unwrap()),
            Ok(r)
        );
    }
}
