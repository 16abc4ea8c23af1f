//! Field values in flow syntax, both ways: numbers, MAC and IP addresses
//! with masks, fragment keywords, TCP flag lists and port names.

use super::FlowParseError;
use crate::field::{Field, Format};
use crate::flow::Flow;
use crate::flow_mod::PortNames;
use crate::ofaction::ofp;
use dpif_netdev::key::{FRAG_ANY, FRAG_LATER};
use std::net::{Ipv4Addr, Ipv6Addr};

/// The bits of `f` a Flow can really hold, right-aligned: all ones of the
/// width except where storage is narrower (`nw_tos` keeps 0xfc, `arp_op`
/// and the ICMP fields 8 bits).
pub(crate) fn exact_mask(f: Field) -> u128 {
    let mut m = Flow::ZERO;
    f.set(&mut m, f.all_ones());
    f.get(&m)
}

/// Whether a match on `f` may carry a `/mask` (as in OVS).
pub(crate) fn maskable(f: Field) -> bool {
    use Field::*;
    !matches!(
        f,
        InPort
            | EthType
            | DlVlan
            | VlanPcp
            | NwProto
            | NwTos
            | IpDscp
            | NwEcn
            | NwTtl
            | IcmpType
            | IcmpCode
            | Icmpv6Type
            | Icmpv6Code
            | ArpOp
    )
}

fn invalid(field: &str, kind: &'static str, value: &str) -> FlowParseError {
    FlowParseError::InvalidValue {
        field: field.to_string(),
        kind,
        value: value.to_string(),
    }
}

fn range(field: &str, value: &str) -> FlowParseError {
    FlowParseError::OutOfRange {
        field: field.to_string(),
        value: value.to_string(),
    }
}

/// An unsigned number, decimal or `0x` hex, up to 128 bits.
pub(crate) fn parse_uint(s: &str) -> Option<u128> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if h.is_empty() || !h.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        u128::from_str_radix(h, 16).ok()
    } else {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse::<u128>().ok()
    }
}

/// A number no larger than `max`, with errors naming `field`.
pub(crate) fn parse_int_max(field: &str, s: &str, max: u128) -> Result<u128, FlowParseError> {
    match parse_uint(s) {
        None => {
            // Distinguish "too big" from "not a number".
            let too_big = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                Some(h) => !h.is_empty() && h.bytes().all(|c| c.is_ascii_hexdigit()),
                None => !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()),
            };
            if too_big {
                Err(range(field, s))
            } else {
                Err(invalid(field, "number", s))
            }
        }
        Some(v) if v > max => Err(range(field, s)),
        Some(v) => Ok(v),
    }
}

fn parse_mac(s: &str) -> Option<u128> {
    let m = dpif_netdev::wire::parse_mac(s)?;
    Some(m.iter().fold(0u128, |v, b| (v << 8) | u128::from(*b)))
}

fn parse_ipv4(s: &str) -> Option<u32> {
    s.parse::<Ipv4Addr>().ok().map(u32::from)
}

fn parse_ipv6(s: &str) -> Option<u128> {
    s.parse::<Ipv6Addr>().ok().map(u128::from)
}

/// TCP flag names, OVS's spelling, by bit.
pub(crate) const TCP_FLAGS: &[(&str, u16)] = &[
    ("fin", 0x001),
    ("syn", 0x002),
    ("rst", 0x004),
    ("psh", 0x008),
    ("ack", 0x010),
    ("urg", 0x020),
    ("ece", 0x040),
    ("cwr", 0x080),
    ("ns", 0x100),
];

fn tcp_flag(name: &str) -> Option<u16> {
    TCP_FLAGS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, b)| *b)
}

/// `+syn-ack` (value, mask), or `syn|ack` (exact).
fn parse_tcp_flags(s: &str) -> Option<(u128, u128)> {
    if s.starts_with('+') || s.starts_with('-') {
        let (mut v, mut m) = (0u16, 0u16);
        let mut rest = s;
        while let Some(c) = rest.chars().next() {
            if c != '+' && c != '-' {
                return None;
            }
            let body = &rest[1..];
            let end = body.find(['+', '-']).unwrap_or(body.len());
            let bit = tcp_flag(&body[..end])?;
            if m & bit != 0 {
                return None;
            }
            m |= bit;
            if c == '+' {
                v |= bit;
            }
            rest = &body[end..];
        }
        return Some((v as u128, m as u128));
    }
    if s.bytes().next().is_some_and(|c| c.is_ascii_alphabetic()) {
        let mut v = 0u16;
        for n in s.split('|') {
            v |= tcp_flag(n)?;
        }
        return Some((v as u128, 0xfff));
    }
    None
}

/// `nw_frag` keywords: (value, mask) over the two fragment bits.
fn parse_frag(s: &str) -> Option<(u128, u128)> {
    let (any, later) = (FRAG_ANY as u128, FRAG_LATER as u128);
    Some(match s {
        "no" => (0, any),
        "yes" => (any, any),
        "first" => (any, any | later),
        "later" => (any | later, any | later),
        "not_later" => (0, later),
        _ => return None,
    })
}

/// A port: number, reserved name (any case) or a name from `ports`.
pub(crate) fn parse_port(
    field: &str,
    s: &str,
    ports: &dyn PortNames,
) -> Result<u32, FlowParseError> {
    if let Some(n) = parse_uint(s) {
        let ok = n < ofp::MAX as u128 || (ofp::IN_PORT as u128..=ofp::NONE as u128).contains(&n);
        return if ok {
            Ok(n as u32)
        } else {
            Err(range(field, s))
        };
    }
    if let Some(p) = ofp::reserved_by_name(s) {
        return Ok(p);
    }
    let name = s
        .strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .unwrap_or(s);
    ports
        .port_by_name(name)
        .ok_or_else(|| FlowParseError::UnknownPort {
            field: field.to_string(),
            port: s.to_string(),
        })
}

/// Parses one value of field `f` (written `key` by the user) without a
/// mask, in the field's own format. Range-checked against the bits the
/// field can hold.
pub(crate) fn parse_value(
    f: Field,
    key: &str,
    s: &str,
    ports: &dyn PortNames,
) -> Result<u128, FlowParseError> {
    let v = match f.format() {
        Format::Decimal | Format::Hex => parse_int_max(key, s, u128::MAX)?,
        Format::Mac => parse_mac(s).ok_or_else(|| invalid(key, "MAC address", s))?,
        Format::Ipv4 => parse_ipv4(s).ok_or_else(|| invalid(key, "IP address", s))? as u128,
        Format::Ipv6 => parse_ipv6(s).ok_or_else(|| invalid(key, "IPv6 address", s))?,
        Format::Port => parse_port(key, s, ports)? as u128,
        Format::Frag | Format::TcpFlags => parse_int_max(key, s, u128::MAX)?,
    };
    let eff = exact_mask(f);
    if v & !eff != 0 {
        if f == Field::NwTos && v <= 0xff {
            return Err(invalid(key, "TOS value (low 2 bits must be zero)", s));
        }
        return Err(range(key, s));
    }
    Ok(v)
}

/// Parses `value` or `value/mask` for field `f`. Returns (value, mask),
/// the mask being [`exact_mask`] when none is written; the value is
/// already ANDed with the mask.
pub(crate) fn parse_masked(
    f: Field,
    key: &str,
    s: &str,
    ports: &dyn PortNames,
) -> Result<(u128, u128), FlowParseError> {
    let eff = exact_mask(f);
    match f.format() {
        Format::Frag => {
            if let Some(vm) = parse_frag(s) {
                return Ok(vm);
            }
            if parse_uint(s.split('/').next().unwrap_or("")).is_none() {
                return Err(invalid(key, "fragment keyword", s));
            }
        }
        Format::TcpFlags => {
            if let Some(vm) = parse_tcp_flags(s) {
                return Ok(vm);
            }
        }
        _ => {}
    }
    let Some((v, m)) = s.split_once('/') else {
        return Ok((parse_value(f, key, s, ports)?, eff));
    };
    if !maskable(f) {
        return Err(FlowParseError::MaskNotAllowed {
            field: key.to_string(),
        });
    }
    let value = parse_value(f, key, v, ports)?;
    let mask = match f.format() {
        Format::Ipv4 if !m.contains('.') => {
            let n = parse_int_max(key, m, 32)? as u32;
            (if n == 0 { 0 } else { u32::MAX << (32 - n) }) as u128
        }
        Format::Ipv6 if !m.contains(':') => {
            let n = parse_int_max(key, m, 128)? as u32;
            if n == 0 {
                0
            } else {
                u128::MAX << (128 - n)
            }
        }
        _ => parse_value(f, key, m, ports)?,
    };
    Ok((value & mask, mask))
}

/// Prints a port: reserved name, name from `ports`, or number.
pub(crate) fn format_port(p: u32, ports: &dyn PortNames) -> String {
    if let Some(n) = ofp::reserved_name(p) {
        return n.to_string();
    }
    match ports.port_name(p) {
        Some(n)
            if !n.is_empty() && parse_uint(&n).is_none() && ofp::reserved_by_name(&n).is_none() =>
        {
            n
        }
        _ => p.to_string(),
    }
}

fn format_mac(v: u128) -> String {
    let b = v.to_be_bytes();
    let mut m = [0u8; 6];
    m.copy_from_slice(&b[10..]);
    dpif_netdev::wire::format_mac(&m)
}

/// `%#x` as OVS prints it: `0` for zero, `0x..` otherwise.
pub(crate) fn hex(v: u128) -> String {
    if v == 0 {
        "0".into()
    } else {
        format!("{v:#x}")
    }
}

/// Prefix length when `mask` (of `bits` bits) is a CIDR mask.
fn cidr(mask: u128, bits: u32) -> Option<u32> {
    let n = mask.count_ones();
    if n > bits {
        return None;
    }
    let want = if n == 0 {
        0
    } else {
        crate::field::ones(n) << (bits - n)
    };
    (mask == want).then_some(n)
}

/// Prints a value of `f` (exact).
pub(crate) fn format_value(f: Field, v: u128, ports: &dyn PortNames) -> String {
    match f.format() {
        Format::Decimal => v.to_string(),
        Format::Hex | Format::TcpFlags | Format::Frag => {
            if f == Field::Ipv6Label {
                format!("{v:#07x}")
            } else if f == Field::EthType || f == Field::VlanTci {
                format!("{v:#06x}")
            } else {
                hex(v)
            }
        }
        Format::Mac => format_mac(v),
        Format::Ipv4 => Ipv4Addr::from(v as u32).to_string(),
        Format::Ipv6 => Ipv6Addr::from(v).to_string(),
        Format::Port => format_port(v as u32, ports),
    }
}

/// Prints `value` or `value/mask` of `f`, or None for a zero mask.
pub(crate) fn format_masked(f: Field, v: u128, m: u128, ports: &dyn PortNames) -> Option<String> {
    if m == 0 {
        return None;
    }
    let eff = exact_mask(f);
    match f.format() {
        Format::Frag => {
            let (any, later) = (FRAG_ANY as u128, FRAG_LATER as u128);
            let s = match (v, m) {
                (0, m) if m == any => "no",
                (v, m) if v == any && m == any => "yes",
                (v, m) if v == any && m == any | later => "first",
                (v, m) if v == any | later && m == any | later => "later",
                (0, m) if m == later => "not_later",
                _ => return Some(format!("{}/{}", hex(v), hex(m))),
            };
            return Some(s.to_string());
        }
        Format::TcpFlags if m & !0x1ff == 0 => {
            let mut s = String::new();
            for (name, bit) in TCP_FLAGS {
                let bit = *bit as u128;
                if m & bit != 0 {
                    s.push(if v & bit != 0 { '+' } else { '-' });
                    s.push_str(name);
                }
            }
            return Some(s);
        }
        _ => {}
    }
    let val = format_value(f, v, ports);
    if m == eff {
        return Some(val);
    }
    let mask = match f.format() {
        Format::Ipv4 => match cidr(m, 32) {
            Some(n) => n.to_string(),
            None => format_value(f, m, ports),
        },
        Format::Ipv6 => match cidr(m, 128) {
            Some(n) => n.to_string(),
            None => format_value(f, m, ports),
        },
        Format::Mac => format_mac(m),
        Format::Hex if f == Field::EthType || f == Field::VlanTci => format!("{m:#06x}"),
        _ => hex(m),
    };
    Some(format!("{val}/{mask}"))
}
