//! SCTP common header.
//!
//! ```text
//!  0       2       4               8              12
//! +-------+-------+---------------+---------------+--------
//! | sport | dport | verification  |   checksum    | chunks
//! +-------+-------+---------------+---------------+--------
//! ```
//!
//! Length contract: [`SctpPacket::new_checked`] needs 12 bytes. Chunks are
//! not parsed.

use super::{get_u16, get_u32, need, put_u16, put_u32, Result};

/// Length of the common header.
pub const HEADER_LEN: usize = 12;

/// Byte ranges of the header fields.
pub mod field {
    use core::ops::Range;
    /// Source port.
    pub const SRC_PORT: Range<usize> = 0..2;
    /// Destination port.
    pub const DST_PORT: Range<usize> = 2..4;
    /// Verification tag.
    pub const VTAG: Range<usize> = 4..8;
    /// CRC32c checksum.
    pub const CHECKSUM: Range<usize> = 8..12;
    /// Start of the chunks.
    pub const CHUNKS: usize = 12;
}

/// A view of an SCTP packet.
#[derive(Debug, Clone)]
pub struct SctpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> SctpPacket<T> {
    /// Wraps `buffer` without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        SctpPacket { buffer }
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

    /// Source port.
    pub fn src_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::SRC_PORT.start)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::DST_PORT.start)
    }

    /// Verification tag.
    pub fn verification_tag(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::VTAG.start)
    }

    /// Checksum field (CRC32c, stored as on the wire, big-endian read).
    pub fn checksum(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// The chunks.
    pub fn chunks(&self) -> &[u8] {
        &self.buffer.as_ref()[field::CHUNKS..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> SctpPacket<T> {
    /// Sets the source port.
    pub fn set_src_port(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::SRC_PORT.start, v);
    }

    /// Sets the destination port.
    pub fn set_dst_port(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::DST_PORT.start, v);
    }

    /// Sets the verification tag.
    pub fn set_verification_tag(&mut self, v: u32) {
        put_u32(self.buffer.as_mut(), field::VTAG.start, v);
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u32) {
        put_u32(self.buffer.as_mut(), field::CHECKSUM.start, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields() {
        let b = [0, 80, 0x1f, 0x90, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 9];
        let p = SctpPacket::new_checked(&b[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port()), (80, 8080));
        assert_eq!(p.verification_tag(), 0xdeadbeef);
        assert_eq!(p.checksum(), 0x01020304);
        assert_eq!(p.chunks(), &[9]);
    }

    #[test]
    fn short_is_truncated() {
        assert!(SctpPacket::new_checked(&[0u8; 11][..]).is_err());
    }

    #[test]
    fn setters() {
        let mut b = [0u8; 12];
        let mut p = SctpPacket::new_unchecked(&mut b[..]);
        p.set_src_port(1);
        p.set_dst_port(2);
        p.set_verification_tag(3);
        p.set_checksum(4);
        assert_eq!(b, [0, 1, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4]);
    }
}
