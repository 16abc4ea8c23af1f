//! ICMPv6 header, and neighbour discovery solicitations / advertisements.
//!
//! ```text
//!  0      1      2       4                8               24
//! +------+------+-------+----------------+---------------+---------
//! | type | code | csum  | rest of header | ND: target    | ND options
//! +------+------+-------+----------------+---------------+---------
//! ```
//!
//! Length contract: [`Icmpv6Packet::new_checked`] needs 8 bytes (as OVS
//! requires before it matches on type and code). The ND getters
//! ([`Icmpv6Packet::nd_target`], [`Icmpv6Packet::nd_options`]) need
//! [`ND_LEN`] (24) bytes: check with [`Icmpv6Packet::check_nd_len`].
//! [`parse_nd_options`] walks the options and pulls out the source and
//! target link-layer addresses.

use super::{get_u16, need, put_u16, MacAddr, Result, WireError};
use core::net::Ipv6Addr;

/// Length of the header (with the 4-byte rest of header).
pub const HEADER_LEN: usize = 8;
/// Length of an NS/NA message without options.
pub const ND_LEN: usize = 24;

/// Byte ranges of the header fields.
pub mod field {
    use core::ops::Range;
    /// Type.
    pub const TYPE: usize = 0;
    /// Code.
    pub const CODE: usize = 1;
    /// Checksum.
    pub const CHECKSUM: Range<usize> = 2..4;
    /// Rest of header (NA: flags R, S, O in the first byte).
    pub const REST: Range<usize> = 4..8;
    /// NS/NA target address.
    pub const ND_TARGET: Range<usize> = 8..24;
    /// Start of the NS/NA options.
    pub const ND_OPTIONS: usize = 24;
}

/// Some ICMPv6 types.
pub mod types {
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 128;
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 129;
    /// Router solicitation.
    pub const ROUTER_SOLICIT: u8 = 133;
    /// Router advertisement.
    pub const ROUTER_ADVERT: u8 = 134;
    /// Neighbour solicitation.
    pub const NEIGHBOR_SOLICIT: u8 = 135;
    /// Neighbour advertisement.
    pub const NEIGHBOR_ADVERT: u8 = 136;
}

/// ND option types.
pub mod nd_opt {
    /// Source link-layer address.
    pub const SOURCE_LL_ADDR: u8 = 1;
    /// Target link-layer address.
    pub const TARGET_LL_ADDR: u8 = 2;
    /// Length of a link-layer address option for Ethernet (len field 1).
    pub const LL_ADDR_LEN: usize = 8;
}

/// A view of an ICMPv6 message.
#[derive(Debug, Clone)]
pub struct Icmpv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    /// Wraps `buffer` without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv6Packet { buffer }
    }

    /// Wraps `buffer` after checking the length contract.
    pub fn new_checked(buffer: T) -> Result<Self> {
        need(HEADER_LEN, buffer.as_ref().len())?;
        Ok(Self::new_unchecked(buffer))
    }

    /// Checks that the buffer holds an NS/NA body (24 bytes).
    pub fn check_nd_len(&self) -> Result<()> {
        need(ND_LEN, self.buffer.as_ref().len())
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

    /// Whether this is a neighbour solicitation or advertisement (code 0).
    pub fn is_nd(&self) -> bool {
        self.msg_code() == 0
            && (self.msg_type() == types::NEIGHBOR_SOLICIT
                || self.msg_type() == types::NEIGHBOR_ADVERT)
    }

    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// The 4-byte rest of header.
    pub fn rest(&self) -> &[u8] {
        &self.buffer.as_ref()[field::REST]
    }

    /// NS/NA target (needs 24 bytes).
    pub fn nd_target(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[field::ND_TARGET]);
        a.into()
    }

    /// NS/NA options (needs 24 bytes).
    pub fn nd_options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::ND_OPTIONS..]
    }

    /// Everything after the 4-byte type/code/checksum.
    pub fn body(&self) -> &[u8] {
        &self.buffer.as_ref()[field::REST.start..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
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

    /// Sets the NS/NA target (needs 24 bytes).
    pub fn set_nd_target(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::ND_TARGET].copy_from_slice(&a.octets());
    }

    /// Everything after type/code/checksum, writable.
    pub fn body_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::REST.start..]
    }
}

/// Link-layer addresses found in ND options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NdLinkAddrs {
    /// Source link-layer address option (type 1), if present.
    pub sll: Option<MacAddr>,
    /// Target link-layer address option (type 2), if present.
    pub tll: Option<MacAddr>,
}

/// Walks ND options as OVS does: each option needs a non-zero length that
/// fits the remaining bytes; 8-byte source / target link-layer address
/// options are recorded, a second one of the same kind is malformed, other
/// options are skipped, and fewer than 8 trailing bytes are ignored.
#[inline]
pub fn parse_nd_options(mut opts: &[u8]) -> Result<NdLinkAddrs> {
    let mut out = NdLinkAddrs::default();
    while opts.len() >= 8 {
        let ty = opts[0];
        let len = usize::from(opts[1]) * 8;
        if len == 0 || len > opts.len() {
            return Err(WireError::Malformed {
                header: "nd option",
                what: "bad length",
            });
        }
        if len == nd_opt::LL_ADDR_LEN
            && (ty == nd_opt::SOURCE_LL_ADDR || ty == nd_opt::TARGET_LL_ADDR)
        {
            let slot = if ty == nd_opt::SOURCE_LL_ADDR {
                &mut out.sll
            } else {
                &mut out.tll
            };
            if slot.is_some_and(|m| m != [0; 6]) {
                return Err(WireError::Malformed {
                    header: "nd option",
                    what: "duplicate link-layer address",
                });
            }
            let mut m = [0; 6];
            m.copy_from_slice(&opts[2..8]);
            *slot = Some(m);
        }
        opts = &opts[len..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(opts: &[u8]) -> Vec<u8> {
        let mut b = vec![135, 0, 0, 0, 0, 0, 0, 0];
        b.extend_from_slice(&"fe80::2".parse::<Ipv6Addr>().unwrap().octets());
        b.extend_from_slice(opts);
        b
    }

    #[test]
    fn reads_ns_with_sll() {
        let b = ns(&[1, 1, 2, 0, 0, 0, 0, 1]);
        let p = Icmpv6Packet::new_checked(&b[..]).unwrap();
        assert!(p.is_nd());
        p.check_nd_len().unwrap();
        assert_eq!(p.nd_target(), "fe80::2".parse::<Ipv6Addr>().unwrap());
        let o = parse_nd_options(p.nd_options()).unwrap();
        assert_eq!(o.sll, Some([2, 0, 0, 0, 0, 1]));
        assert_eq!(o.tll, None);
    }

    #[test]
    fn nd_with_nonzero_code_is_not_nd() {
        let mut b = ns(&[]);
        b[1] = 1;
        assert!(!Icmpv6Packet::new_unchecked(&b[..]).is_nd());
    }

    #[test]
    fn short_nd_body() {
        let b = ns(&[]);
        let p = Icmpv6Packet::new_checked(&b[..20]).unwrap();
        assert!(p.check_nd_len().is_err());
        assert!(Icmpv6Packet::new_checked(&b[..7]).is_err());
    }

    #[test]
    fn zero_length_option_is_malformed() {
        assert!(parse_nd_options(&[1, 0, 0, 0, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn option_past_end_is_malformed() {
        assert!(parse_nd_options(&[1, 2, 0, 0, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn duplicate_tll_is_malformed() {
        let o = [2, 1, 1, 1, 1, 1, 1, 1, 2, 1, 2, 2, 2, 2, 2, 2];
        assert!(parse_nd_options(&o).is_err());
    }

    #[test]
    fn unknown_options_and_trailing_bytes_are_skipped() {
        let o = [
            14, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 1, 9, 9, 9, 9, 9, 9, 0xff,
        ];
        let r = parse_nd_options(&o).unwrap();
        assert_eq!(r.tll, Some([9; 6]));
    }

    #[test]
    fn setters() {
        let mut b = [0u8; 24];
        let mut p = Icmpv6Packet::new_unchecked(&mut b[..]);
        p.set_msg_type(136);
        p.set_msg_code(0);
        p.set_checksum(0xbeef);
        p.set_nd_target("2001:db8::9".parse().unwrap());
        let p = Icmpv6Packet::new_checked(&b[..]).unwrap();
        assert!(p.is_nd());
        assert_eq!(p.checksum(), 0xbeef);
        assert_eq!(p.nd_target(), "2001:db8::9".parse::<Ipv6Addr>().unwrap());
    }
}
