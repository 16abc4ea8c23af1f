//! Header views, after smoltcp's `wire` module.
//!
//! One file per header. Each module has:
//!
//! - a `pub mod field` of byte ranges (`core::ops::Range<usize>`) and
//!   offsets (`usize`) relative to the start of that header, so that action
//!   execution can rewrite a field in place (`&mut l3[ipv4::field::SRC_ADDR]`);
//! - a typed view (`EthernetFrame<T>`, `Ipv4Packet<T>`, ...) over any
//!   `T: AsRef<[u8]>`, with `new_unchecked` (no checks; getters may panic on
//!   a short buffer), `new_checked` (checks the length contract written in
//!   the module doc, after which no getter panics), getters, and setters
//!   when `T: AsMut<[u8]>`;
//! - a `Repr` with `parse` / `buffer_len` / `emit` for the headers rvs builds
//!   (tunnel push, ARP replies) and for test packets ([`build`]).
//!
//! Wire enums keep values they do not know (`Unknown(n)`), so a value
//! survives a parse → emit round trip.
//!
//! Views never compute checksums: that is `wire::checksum`'s job. `emit`
//! leaves checksum fields zero; [`build`] fills them with its own reference
//! implementation.
//!
//! The flow-key extractor ([`crate::extract`]) reads bytes directly at the
//! offsets in these `field` modules rather than through the views, to keep
//! the hot path to one bounds check per header.

pub mod arp;
pub mod build;
pub mod checksum;
pub mod csum_complete;
pub mod eth;
pub mod geneve;
pub mod icmp;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod sctp;
pub mod tcp;
pub mod udp;
pub mod vlan;
pub mod vxlan;

/// Why a buffer is not a valid header of the kind asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The buffer is shorter than the header (or than a length field in it
    /// says it should be).
    #[error("truncated: need {need} bytes, have {have}")]
    Truncated {
        /// Bytes the header needs.
        need: usize,
        /// Bytes the buffer holds.
        have: usize,
    },
    /// A field has a value the header cannot have (bad version, a length
    /// field smaller than the fixed header, ...).
    #[error("malformed {header} header: {what}")]
    Malformed {
        /// Which header.
        header: &'static str,
        /// What is wrong with it.
        what: &'static str,
    },
    /// The header is valid but of a kind this view or `Repr` does not handle
    /// (for example ARP for a non-Ethernet hardware type).
    #[error("unsupported {header} header: {what}")]
    Unsupported {
        /// Which header.
        header: &'static str,
        /// What is not supported.
        what: &'static str,
    },
}

/// Result of the checked constructors and `Repr::parse`.
pub type Result<T> = core::result::Result<T, WireError>;

/// An Ethernet MAC address, in wire order.
pub type MacAddr = [u8; 6];

/// A MAC address as `00:11:22:33:44:55` (the form OVS prints).
pub fn format_mac(m: &MacAddr) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// Parses `00:11:22:33:44:55` (hex digits, either case); None for
/// anything else.
pub fn parse_mac(s: &str) -> Option<MacAddr> {
    let mut m = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut m {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 2 || !p.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(m)
}

/// `Err(Truncated)` unless `have >= need`.
#[inline(always)]
pub(crate) fn need(need: usize, have: usize) -> Result<()> {
    if have < need {
        Err(WireError::Truncated { need, have })
    } else {
        Ok(())
    }
}

/// Reads a big-endian `u16` at `at` (panics when out of bounds).
#[inline(always)]
pub(crate) fn get_u16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Reads a big-endian `u32` at `at` (panics when out of bounds).
#[inline(always)]
pub(crate) fn get_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Writes a big-endian `u16` at `at` (panics when out of bounds).
#[inline(always)]
pub(crate) fn put_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// Writes a big-endian `u32` at `at` (panics when out of bounds).
#[inline(always)]
pub(crate) fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

/// IP protocol / IPv6 next-header numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpProtocol {
    /// IPv6 hop-by-hop options (0).
    HopByHop,
    /// ICMP (1).
    Icmp,
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
    /// IPv6 routing header (43).
    Ipv6Route,
    /// IPv6 fragment header (44).
    Ipv6Frag,
    /// Authentication header (51).
    Ah,
    /// ICMPv6 (58).
    Icmpv6,
    /// IPv6 no next header (59).
    Ipv6NoNxt,
    /// IPv6 destination options (60).
    Ipv6Opts,
    /// SCTP (132).
    Sctp,
    /// Any other protocol number.
    Unknown(u8),
}

impl From<u8> for IpProtocol {
    fn from(v: u8) -> Self {
        match v {
            0 => IpProtocol::HopByHop,
            1 => IpProtocol::Icmp,
            6 => IpProtocol::Tcp,
            17 => IpProtocol::Udp,
            43 => IpProtocol::Ipv6Route,
            44 => IpProtocol::Ipv6Frag,
            51 => IpProtocol::Ah,
            58 => IpProtocol::Icmpv6,
            59 => IpProtocol::Ipv6NoNxt,
            60 => IpProtocol::Ipv6Opts,
            132 => IpProtocol::Sctp,
            n => IpProtocol::Unknown(n),
        }
    }
}

impl From<IpProtocol> for u8 {
    fn from(p: IpProtocol) -> u8 {
        match p {
            IpProtocol::HopByHop => 0,
            IpProtocol::Icmp => 1,
            IpProtocol::Tcp => 6,
            IpProtocol::Udp => 17,
            IpProtocol::Ipv6Route => 43,
            IpProtocol::Ipv6Frag => 44,
            IpProtocol::Ah => 51,
            IpProtocol::Icmpv6 => 58,
            IpProtocol::Ipv6NoNxt => 59,
            IpProtocol::Ipv6Opts => 60,
            IpProtocol::Sctp => 132,
            IpProtocol::Unknown(n) => n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_protocol_round_trips_every_value() {
        for v in 0..=255u8 {
            assert_eq!(u8::from(IpProtocol::from(v)), v);
        }
        assert_eq!(IpProtocol::from(200), IpProtocol::Unknown(200));
    }

    #[test]
    fn errors_display() {
        let e = WireError::Truncated { need: 20, have: 3 };
        assert_eq!(e.to_string(), "truncated: need 20 bytes, have 3");
    }
}
