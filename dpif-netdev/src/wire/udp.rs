//! UDP header.
//!
//! ```text
//!  0       2       4       6       8
//! +-------+-------+-------+-------+---------
//! | sport | dport |  len  | csum  | payload
//! +-------+-------+-------+-------+---------
//! ```
//!
//! Length contract: [`UdpPacket::new_checked`] needs 8 bytes, a length
//! field of at least 8, and a buffer holding `length` bytes (more is
//! ignored: [`UdpPacket::payload`] stops at the length).

use super::{get_u16, need, put_u16, Result, WireError};

/// Length of the header.
pub const HEADER_LEN: usize = 8;

/// Byte ranges of the header fields.
pub mod field {
    use core::ops::Range;
    /// Source port.
    pub const SRC_PORT: Range<usize> = 0..2;
    /// Destination port.
    pub const DST_PORT: Range<usize> = 2..4;
    /// Length (header + payload).
    pub const LENGTH: Range<usize> = 4..6;
    /// Checksum (0: none, IPv4 only).
    pub const CHECKSUM: Range<usize> = 6..8;
    /// Start of the payload.
    pub const PAYLOAD: usize = 8;
}

/// A view of a UDP datagram.
#[derive(Debug, Clone)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wraps `buffer` without checking anything.
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
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
        need(HEADER_LEN, len)?;
        let l = usize::from(self.len());
        if l < HEADER_LEN {
            return Err(WireError::Malformed {
                header: "udp",
                what: "length below 8",
            });
        }
        need(l, len)
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

    /// Length field.
    pub fn len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// Whether the length field says there is no payload.
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= HEADER_LEN
    }

    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// The payload, up to the length field.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// Sets the source port.
    pub fn set_src_port(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::SRC_PORT.start, v);
    }

    /// Sets the destination port.
    pub fn set_dst_port(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::DST_PORT.start, v);
    }

    /// Sets the length field.
    pub fn set_len(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::LENGTH.start, v);
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::CHECKSUM.start, v);
    }

    /// The payload up to the length field, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let l = usize::from(self.len());
        &mut self.buffer.as_mut()[HEADER_LEN..l]
    }
}

/// A parsed UDP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Payload length.
    pub payload_len: usize,
}

impl UdpRepr {
    /// Parses a datagram (checks the length contract).
    pub fn parse<T: AsRef<[u8]>>(p: &UdpPacket<T>) -> Result<Self> {
        p.check_len()?;
        Ok(UdpRepr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            payload_len: usize::from(p.len()) - HEADER_LEN,
        })
    }

    /// Bytes of header [`UdpRepr::emit`] writes (8).
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header, checksum zero (the caller fills it in).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut UdpPacket<T>) {
        p.set_src_port(self.src_port);
        p.set_dst_port(self.dst_port);
        p.set_len((HEADER_LEN + self.payload_len) as u16);
        p.set_checksum(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PKT: [u8; 12] = [0x30, 0x39, 0x00, 0x35, 0x00, 0x0c, 0x12, 0x34, 1, 2, 3, 4];

    #[test]
    fn reads_fields() {
        let p = UdpPacket::new_checked(&PKT[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port()), (12345, 53));
        assert_eq!(p.len(), 12);
        assert_eq!(p.checksum(), 0x1234);
        assert_eq!(p.payload(), &[1, 2, 3, 4]);
    }

    #[test]
    fn length_below_header_is_malformed() {
        let mut b = PKT;
        b[5] = 7;
        assert!(matches!(
            UdpPacket::new_checked(&b[..]),
            Err(WireError::Malformed { .. })
        ));
    }

    #[test]
    fn length_beyond_buffer_is_truncated() {
        assert!(UdpPacket::new_checked(&PKT[..11]).is_err());
        assert!(UdpPacket::new_checked(&PKT[..7]).is_err());
    }

    #[test]
    fn emit_parse_round_trip() {
        let r = UdpRepr {
            src_port: 1,
            dst_port: 65535,
            payload_len: 2,
        };
        let mut b = [0u8; 10];
        r.emit(&mut UdpPacket::new_unchecked(&mut b[..]));
        assert_eq!(
            UdpRepr::parse(&UdpPacket::new_checked(&b[..]).unwrap()),
            Ok(r)
        );
    }
}
