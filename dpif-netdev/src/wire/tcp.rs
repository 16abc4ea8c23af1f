//! TCP header.
//!
//! ```text
//!  0       2       4               8              12       14      16      18      20
//! +-------+-------+---------------+---------------+--------+-------+-------+-------+--------
//! | sport | dport |      seq      |      ack      |off|flgs| window| csum  |  urg  | options
//! +-------+-------+---------------+---------------+--------+-------+-------+-------+--------
//! ```
//!
//! Length contract: [`TcpPacket::new_checked`] needs 20 bytes, a data
//! offset of at least 5 (20 bytes), and a buffer holding the whole header
//! (`data offset * 4` bytes).

use super::{get_u16, get_u32, need, put_u16, put_u32, Result, WireError};

/// Length of the header without options.
pub const MIN_HEADER_LEN: usize = 20;

/// Byte ranges of the header fields.
pub mod field {
    use core::ops::Range;
    /// Source port.
    pub const SRC_PORT: Range<usize> = 0..2;
    /// Destination port.
    pub const DST_PORT: Range<usize> = 2..4;
    /// Sequence number.
    pub const SEQ_NUM: Range<usize> = 4..8;
    /// Acknowledgement number.
    pub const ACK_NUM: Range<usize> = 8..12;
    /// Data offset (4 bits), reserved (3) and flags (9).
    pub const FLAGS: Range<usize> = 12..14;
    /// Window size.
    pub const WIN_SIZE: Range<usize> = 14..16;
    /// Checksum.
    pub const CHECKSUM: Range<usize> = 16..18;
    /// Urgent pointer.
    pub const URGENT: Range<usize> = 18..20;
    /// Start of the options.
    pub const OPTIONS: usize = 20;
}

/// TCP flag bits (of the low 12 bits of the offset/flags word).
pub mod flags {
    /// FIN.
    pub const FIN: u16 = 0x001;
    /// SYN.
    pub const SYN: u16 = 0x002;
    /// RST.
    pub const RST: u16 = 0x004;
    /// PSH.
    pub const PSH: u16 = 0x008;
    /// ACK.
    pub const ACK: u16 = 0x010;
    /// URG.
    pub const URG: u16 = 0x020;
    /// ECE.
    pub const ECE: u16 = 0x040;
    /// CWR.
    pub const CWR: u16 = 0x080;
    /// NS (ECN nonce).
    pub const NS: u16 = 0x100;
    /// All flag bits (and the reserved bits), as OVS keeps them.
    pub const MASK: u16 = 0x0fff;
}

/// A view of a TCP segment.
#[derive(Debug, Clone)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wraps `buffer` without checking anything.
    pub const fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
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
        need(MIN_HEADER_LEN, len)?;
        let hl = self.header_len();
        if hl < MIN_HEADER_LEN {
            return Err(WireError::Malformed {
                header: "tcp",
                what: "data offset below 5",
            });
        }
        need(hl, len)
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

    /// Sequence number.
    pub fn seq_number(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::SEQ_NUM.start)
    }

    /// Acknowledgement number.
    pub fn ack_number(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::ACK_NUM.start)
    }

    /// Header length in bytes (data offset * 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::FLAGS.start] >> 4) * 4
    }

    /// The low 12 bits of the offset/flags word ([`flags`]).
    pub fn flags(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::FLAGS.start) & flags::MASK
    }

    /// Window size.
    pub fn window_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::WIN_SIZE.start)
    }

    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// Urgent pointer.
    pub fn urgent_at(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::URGENT.start)
    }

    /// The options.
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS..self.header_len()]
    }

    /// Everything after the header.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    /// Sets the source port.
    pub fn set_src_port(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::SRC_PORT.start, v);
    }

    /// Sets the destination port.
    pub fn set_dst_port(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::DST_PORT.start, v);
    }

    /// Sets the sequence number.
    pub fn set_seq_number(&mut self, v: u32) {
        put_u32(self.buffer.as_mut(), field::SEQ_NUM.start, v);
    }

    /// Sets the acknowledgement number.
    pub fn set_ack_number(&mut self, v: u32) {
        put_u32(self.buffer.as_mut(), field::ACK_NUM.start, v);
    }

    /// Sets the header length in bytes (a multiple of 4, 20..=60).
    pub fn set_header_len(&mut self, len: usize) {
        let b = &mut self.buffer.as_mut()[field::FLAGS.start];
        *b = (*b & 0x0f) | (((len / 4) as u8) << 4);
    }

    /// Sets the low 12 bits of the offset/flags word.
    pub fn set_flags(&mut self, f: u16) {
        let w = get_u16(self.buffer.as_ref(), field::FLAGS.start) & 0xf000;
        put_u16(
            self.buffer.as_mut(),
            field::FLAGS.start,
            w | (f & flags::MASK),
        );
    }

    /// Sets the window size.
    pub fn set_window_len(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::WIN_SIZE.start, v);
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::CHECKSUM.start, v);
    }

    /// Sets the urgent pointer.
    pub fn set_urgent_at(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::URGENT.start, v);
    }

    /// Everything after the header, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[hl..]
    }
}

/// A parsed TCP header (options are not kept; `emit` writes none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq_number: u32,
    /// Acknowledgement number.
    pub ack_number: u32,
    /// Flags ([`flags`]).
    pub flags: u16,
    /// Window size.
    pub window_len: u16,
}

impl TcpRepr {
    /// Parses a segment (checks the length contract).
    pub fn parse<T: AsRef<[u8]>>(p: &TcpPacket<T>) -> Result<Self> {
        p.check_len()?;
        Ok(TcpRepr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            seq_number: p.seq_number(),
            ack_number: p.ack_number(),
            flags: p.flags(),
            window_len: p.window_len(),
        })
    }

    /// Bytes of header [`TcpRepr::emit`] writes (20).
    pub const fn buffer_len(&self) -> usize {
        MIN_HEADER_LEN
    }

    /// Writes a 20-byte header, checksum zero (the caller fills it in).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut TcpPacket<T>) {
        p.set_src_port(self.src_port);
        p.set_dst_port(self.dst_port);
        p.set_seq_number(self.seq_number);
        p.set_ack_number(self.ack_number);
        p.buffer.as_mut()[field::FLAGS.start] = 0;
        p.set_header_len(MIN_HEADER_LEN);
        p.set_flags(self.flags);
        p.set_window_len(self.window_len);
        p.set_checksum(0);
        p.set_urgent_at(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYN: [u8; 24] = [
        0xc0, 0x00, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x60, 0x02, 0xff, 0xff, 0x12, 0x34, 0, 0,
        2, 4, 5, 0xb4,
    ];

    #[test]
    fn reads_fields() {
        let p = TcpPacket::new_checked(&SYN[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port()), (0xc000, 80));
        assert_eq!(p.seq_number(), 1);
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.flags(), flags::SYN);
        assert_eq!(p.window_len(), 0xffff);
        assert_eq!(p.checksum(), 0x1234);
        assert_eq!(p.options(), &[2, 4, 5, 0xb4]);
        assert!(p.payload().is_empty());
    }

    #[test]
    fn data_offset_below_five() {
        let mut b = SYN;
        b[12] = 0x40;
        assert!(matches!(
            TcpPacket::new_checked(&b[..]),
            Err(WireError::Malformed { .. })
        ));
    }

    #[test]
    fn options_beyond_buffer() {
        assert!(TcpPacket::new_checked(&SYN[..23]).is_err());
        assert!(TcpPacket::new_checked(&SYN[..19]).is_err());
    }

    #[test]
    fn flags_keep_twelve_bits() {
        let mut b = SYN;
        b[12] = 0x6f;
        b[13] = 0xff;
        assert_eq!(TcpPacket::new_unchecked(&b[..]).flags(), 0xfff);
    }

    #[test]
    fn emit_parse_round_trip() {
        let r = TcpRepr {
            src_port: 1,
            dst_port: 2,
            seq_number: 3,
            ack_number: 4,
            flags: flags::SYN | flags::ACK | flags::NS,
            window_len: 5,
        };
        let mut b = [0xffu8; 20];
        r.emit(&mut TcpPacket::new_unchecked(&mut b[..]));
        assert_eq!(
            TcpRepr::parse(&TcpPacket::new_checked(&b[..]).unwrap()),
            Ok(r)
        );
    }
}
