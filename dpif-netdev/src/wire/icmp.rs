//! ICMPv4 header.
//!
//! ```text
//!  0      1      2       4                8
//! +------+------+-------+----------------+--------
//! | type | code | csum  | rest of header | data
//! +------+------+-------+----------------+--------
//! ```
//!
//! Length contract: [`IcmpPacket::new_checked`] needs 8 bytes (type, code,
//! checksum and the 4-byte rest of header, as OVS requires before it
//! matches on type and code).

use super::{get_u16, need, put_u16, Result};

/// Length of the header (with the 4-byte rest of header).
pub const HEADER_LEN: usize = 8;

/// Byte ranges of the header fields.
pub mod field {
    use core::ops::Range;
    /// Type.
    pub const TYPE: usize = 0;
    /// Code.
    pub const CODE: usize = 1;
    /// Checksum.
    pub const CHECKSUM: Range<usize> = 2..4;
    /// Rest of header (echo: identifier and sequence number).
    pub const REST: Range<usize> = 4..8;
    /// Echo identifier.
    pub const ECHO_IDENT: Range<usize> = 4..6;
    /// Echo sequence number.
    pub const ECHO_SEQ: Range<usize> = 6..8;
    /// Start of the data.
    pub const DATA: usize = 8;
}

/// Some ICMPv4 types.
pub mod types {
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 0;
    /// Destination unreachable.
    pub const DST_UNREACHABLE: u8 = 3;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 8;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 11;
}

/// A view of an ICMPv4 message.
#[derive(Debug, Clone)]
pub struct IcmpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> IcmpPacket<T> {
    /// Wraps `buffer` without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        IcmpPacket { buffer }
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

    /// Type.
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// Code.
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// Echo identifier (meaningful for echo messages).
    pub fn echo_ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ECHO_IDENT.start)
    }

    /// Echo sequence number (meaningful for echo messages).
    pub fn echo_seq_no(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ECHO_SEQ.start)
    }

    /// Data after the 8-byte header.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::DATA..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IcmpPacket<T> {
    /// Sets the type.
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v;
    }

    /// Sets the code.
    pub fn set_msg_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::CHECKSUM.start, v);
    }

    /// Sets the echo identifier.
    pub fn set_echo_ident(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::ECHO_IDENT.start, v);
    }

    /// Sets the echo sequence number.
    pub fn set_echo_seq_no(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::ECHO_SEQ.start, v);
    }

    /// Data after the header, writable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA..]
    }
}

/// A parsed ICMPv4 header (type, code, rest of header; data not kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpRepr {
    /// Type.
    pub msg_type: u8,
    /// Code.
    pub msg_code: u8,
    /// The 4-byte rest of header.
    pub rest: [u8; 4],
}

impl IcmpRepr {
    /// Parses a message.
    pub fn parse<T: AsRef<[u8]>>(p: &IcmpPacket<T>) -> Result<Self> {
        need(HEADER_LEN, p.buffer.as_ref().len())?;
        let mut rest = [0; 4];
        rest.copy_from_slice(&p.buffer.as_ref()[field::REST]);
        Ok(IcmpRepr {
            msg_type: p.msg_type(),
            msg_code: p.msg_code(),
            rest,
        })
    }

    /// Bytes [`IcmpRepr::emit`] writes (8).
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header, checksum zero (the caller fills it in).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut IcmpPacket<T>) {
        p.set_msg_type(self.msg_type);
        p.set_msg_code(self.msg_code);
        p.set_checksum(0);
        p.buffer.as_mut()[field::REST].copy_from_slice(&self.rest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_echo_request() {
        let b = [8, 0, 0xf7, 0xfd, 0, 1, 0, 2, 0xaa];
        let p = IcmpPacket::new_checked(&b[..]).unwrap();
        assert_eq!((p.msg_type(), p.msg_code()), (types::ECHO_REQUEST, 0));
        assert_eq!(p.checksum(), 0xf7fd);
        assert_eq!((p.echo_ident(), p.echo_seq_no()), (1, 2));
        assert_eq!(p.data(), &[0xaa]);
    }

    #[test]
    fn short_is_truncated() {
        assert!(IcmpPacket::new_checked(&[8u8, 0, 0, 0][..]).is_err());
    }

    #[test]
    fn emit_parse_round_trip() {
        let r = IcmpRepr {
            msg_type: 3,
            msg_code: 4,
            rest: [0, 0, 5, 0xdc],
        };
        let mut b = [0xffu8; 8];
        r.emit(&mut IcmpPacket::new_unchecked(&mut b[..]));
        assert_eq!(
            IcmpRepr::parse(&IcmpPacket::new_checked(&b[..]).unwrap()),
            Ok(r)
        );
    }
}
