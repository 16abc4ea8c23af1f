//! Geneve base header (RFC 8926), carried in UDP to port [`UDP_PORT`].
//!
//! ```text
//!  0        1        2       4                      7       8
//! +--------+--------+-------+----------------------+-------+----------+--------
//! |ver|optl|O|C|rsvd| proto |         VNI          |  rsvd | options  | inner
//! +--------+--------+-------+----------------------+-------+----------+--------
//! ```
//!
//! Length contract: [`GeneveHeader::new_checked`] needs the 8-byte base
//! header, version 0, and the options (`opt_len * 4` bytes). Options are
//! passed through as bytes ([`GeneveHeader::options`]); [`GeneveOption`]
//! views one option TLV (4-byte header + `len * 4` bytes of data).

use super::{get_u16, get_u32, need, put_u16, put_u32, Result, WireError};

/// Length of the base header.
pub const HEADER_LEN: usize = 8;
/// IANA UDP port.
pub const UDP_PORT: u16 = 6081;
/// Protocol type of an Ethernet payload (Transparent Ethernet Bridging).
pub const PROTO_ETHERNET: u16 = 0x6558;

/// Byte ranges of the base header fields.
pub mod field {
    use core::ops::Range;
    /// Version (2 bits) and options length (6 bits, 4-byte units).
    pub const VER_OPT_LEN: usize = 0;
    /// O (OAM) and C (critical options) flags.
    pub const FLAGS: usize = 1;
    /// Protocol type of the payload.
    pub const PROTOCOL: Range<usize> = 2..4;
    /// VNI (24 bits) and a reserved byte.
    pub const VNI_RSVD: Range<usize> = 4..8;
    /// Start of the options.
    pub const OPTIONS: usize = 8;
}

/// O flag: an OAM frame.
pub const FLAG_OAM: u8 = 0x80;
/// C flag: critical options present.
pub const FLAG_CRITICAL: u8 = 0x40;

/// A view of a Geneve header.
#[derive(Debug, Clone)]
pub struct GeneveHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> GeneveHeader<T> {
    /// Wraps `buffer` without checking anything.
    pub const fn new_unchecked(buffer: T) -> Self {
        GeneveHeader { buffer }
    }

    /// Wraps `buffer` after checking the length contract.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let h = Self::new_unchecked(buffer);
        let len = h.buffer.as_ref().len();
        need(HEADER_LEN, len)?;
        if h.version() != 0 {
            return Err(WireError::Malformed {
                header: "geneve",
                what: "version is not 0",
            });
        }
        need(h.header_len(), len)?;
        Ok(h)
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Version (0).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_OPT_LEN] >> 6
    }

    /// Length of the options in bytes.
    pub fn options_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_OPT_LEN] & 0x3f) * 4
    }

    /// Length of base header plus options.
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options_len()
    }

    /// Whether the O (OAM) flag is set.
    pub fn oam(&self) -> bool {
        self.buffer.as_ref()[field::FLAGS] & FLAG_OAM != 0
    }

    /// Whether the C (critical options) flag is set.
    pub fn critical(&self) -> bool {
        self.buffer.as_ref()[field::FLAGS] & FLAG_CRITICAL != 0
    }

    /// Protocol type of the payload.
    pub fn protocol(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::PROTOCOL.start)
    }

    /// VNI (24 bits).
    pub fn vni(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::VNI_RSVD.start) >> 8
    }

    /// The options, as bytes.
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS..self.header_len()]
    }

    /// The payload after the options.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> GeneveHeader<T> {
    /// Sets version 0 and the options length in bytes (a multiple of 4,
    /// at most 252).
    pub fn set_options_len(&mut self, bytes: usize) {
        self.buffer.as_mut()[field::VER_OPT_LEN] = ((bytes / 4) as u8) & 0x3f;
    }

    /// Sets the flags byte (O, C).
    pub fn set_flags(&mut self, f: u8) {
        self.buffer.as_mut()[field::FLAGS] = f;
    }

    /// Sets the protocol type.
    pub fn set_protocol(&mut self, p: u16) {
        put_u16(self.buffer.as_mut(), field::PROTOCOL.start, p);
    }

    /// Sets the VNI (low 24 bits) and clears the reserved byte.
    pub fn set_vni(&mut self, vni: u32) {
        put_u32(self.buffer.as_mut(), field::VNI_RSVD.start, vni << 8);
    }

    /// The options, writable.
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[field::OPTIONS..end]
    }
}

/// A view of one Geneve option TLV.
///
/// Length contract: [`GeneveOption::new_checked`] needs the 4-byte option
/// header and `len * 4` bytes of data.
#[derive(Debug, Clone)]
pub struct GeneveOption<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> GeneveOption<T> {
    /// Wraps `buffer` without checking anything.
    pub const fn new_unchecked(buffer: T) -> Self {
        GeneveOption { buffer }
    }

    /// Wraps `buffer` after checking the length contract.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let o = Self::new_unchecked(buffer);
        let len = o.buffer.as_ref().len();
        need(4, len)?;
        need(o.total_len(), len)?;
        Ok(o)
    }

    /// Option class.
    pub fn class(&self) -> u16 {
        get_u16(self.buffer.as_ref(), 0)
    }

    /// Option type (the high bit is "critical").
    pub fn opt_type(&self) -> u8 {
        self.buffer.as_ref()[2]
    }

    /// Length of the data in bytes.
    pub fn data_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[3] & 0x1f) * 4
    }

    /// Length of the option with its header.
    pub fn total_len(&self) -> usize {
        4 + self.data_len()
    }

    /// The option data.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[4..self.total_len()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HDR: [u8; 17] = [
        0x02, 0x40, 0x65, 0x58, 0x00, 0x00, 0x2a, 0x00, // base, 8 bytes of options
        0x01, 0x02, 0x80, 0x01, 0xde, 0xad, 0xbe,
        0xef, // option class 0x102, type 0x80, 4 bytes
        0xee,
    ];

    #[test]
    fn reads_base_and_option() {
        let h = GeneveHeader::new_checked(&HDR[..]).unwrap();
        assert_eq!(h.version(), 0);
        assert_eq!(h.options_len(), 8);
        assert!(h.critical() && !h.oam());
        assert_eq!(h.protocol(), PROTO_ETHERNET);
        assert_eq!(h.vni(), 42);
        assert_eq!(h.payload(), &[0xee]);
        let o = GeneveOption::new_checked(h.options()).unwrap();
        assert_eq!((o.class(), o.opt_type(), o.data_len()), (0x102, 0x80, 4));
        assert_eq!(o.data(), &[0xde, 0xad, 0xbe, 0xef]);
    }

    #[test]
    fn options_past_end_are_truncated() {
        assert!(GeneveHeader::new_checked(&HDR[..15]).is_err());
        assert!(GeneveHeader::new_checked(&HDR[..7]).is_err());
        assert!(GeneveOption::new_checked(&HDR[8..14]).is_err());
    }

    #[test]
    fn bad_version() {
        let mut b = HDR;
        b[0] |= 0x40;
        assert!(matches!(
            GeneveHeader::new_checked(&b[..]),
            Err(WireError::Malformed { .. })
        ));
    }

    #[test]
    fn setters() {
        let mut b = [0xffu8; 12];
        let mut h = GeneveHeader::new_unchecked(&mut b[..]);
        h.set_options_len(4);
        h.set_flags(FLAG_OAM);
        h.set_protocol(PROTO_ETHERNET);
        h.set_vni(0x123456);
        h.options_mut().fill(0);
        let h = GeneveHeader::new_checked(&b[..]).unwrap();
        assert!(h.oam());
        assert_eq!(h.vni(), 0x123456);
        assert_eq!(h.header_len(), 12);
    }
}
