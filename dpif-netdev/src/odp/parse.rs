//! Hand-written recursive-descent parsers for keys, masks and actions.
//!
//! Nesting is bounded (at most two `encap(...)` levels, fixed action
//! shapes), so no input can exhaust the stack; every slice is taken at an
//! ASCII delimiter, so no input can split a UTF-8 character.

use super::format::{TCP_FLAG_NAMES, TUN_FLAGS_EXACT, TUN_FLAG_NAMES};
use super::tnl::{self, GeneveOpt, Hdr, Tun, L3};
use super::OdpParseError as E;
use crate::actions::{DpAction, DpActions, Masked, SetAction, TnlPush};
use crate::key::{ethertype, FlowKey, FlowMask, FRAG_ANY, FRAG_LATER, VLAN_CFI};
use crate::packet::TunnelMeta;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

type R<T> = Result<T, E>;

/// A cursor over the input. Offsets in errors are byte offsets into the
/// whole input.
pub(crate) struct Cur<'a> {
    s: &'a str,
    pub pos: usize,
    end: usize,
}

impl<'a> Cur<'a> {
    pub fn new(s: &'a str) -> Self {
        Cur {
            s,
            pos: 0,
            end: s.len(),
        }
    }

    fn b(&self) -> &'a [u8] {
        self.s.as_bytes()
    }

    pub fn ws(&mut self) {
        while self.pos < self.end && self.b()[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    pub fn at_end(&mut self) -> bool {
        self.ws();
        self.pos >= self.end
    }

    pub fn peek(&mut self) -> Option<u8> {
        self.ws();
        (self.pos < self.end).then(|| self.b()[self.pos])
    }

    pub fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Up to 16 characters at the cursor, for error messages.
    pub fn found(&self) -> String {
        let rest = self.s.get(self.pos..self.end).unwrap_or("");
        if rest.is_empty() {
            "end of input".into()
        } else {
            rest.chars().take(16).collect()
        }
    }

    pub fn expect(&mut self, c: u8, what: &'static str) -> R<()> {
        if self.eat(c) {
            Ok(())
        } else {
            self.ws();
            Err(E::Expected {
                expected: what,
                found: self.found(),
                offset: self.pos,
            })
        }
    }

    /// `[A-Za-z0-9_]*` (possibly empty), after whitespace.
    pub fn ident(&mut self) -> (&'a str, usize) {
        self.ws();
        let start = self.pos;
        while self.pos < self.end
            && (self.b()[self.pos].is_ascii_alphanumeric() || self.b()[self.pos] == b'_')
        {
            self.pos += 1;
        }
        (&self.s[start..self.pos], start)
    }

    /// A non-empty identifier, or an error naming `what`.
    pub fn name(&mut self, what: &'static str) -> R<(&'a str, usize)> {
        let (n, off) = self.ident();
        if n.is_empty() {
            return Err(E::Expected {
                expected: what,
                found: self.found(),
                offset: off,
            });
        }
        Ok((n, off))
    }

    /// A value: everything up to `,`, `(`, `)`, `{`, `}` or end, trimmed.
    pub fn token(&mut self) -> (&'a str, usize) {
        self.ws();
        let start = self.pos;
        while self.pos < self.end && !matches!(self.b()[self.pos], b',' | b'(' | b')' | b'{' | b'}')
        {
            self.pos += 1;
        }
        (self.s[start..self.pos].trim_end(), start)
    }

    /// The text up to the next `)` (not consumed), for `flags(...)`.
    fn until_close(&mut self) -> (&'a str, usize) {
        let start = self.pos;
        while self.pos < self.end && self.b()[self.pos] != b')' {
            self.pos += 1;
        }
        (&self.s[start..self.pos], start)
    }
}

/// One `name=value[/mask]`, `name(...)` or bare `name` inside an attribute.
struct Field<'a> {
    name: &'a str,
    off: usize,
    val: &'a str,
    mask: Option<&'a str>,
    voff: usize,
    paren: bool,
}

impl Field<'_> {
    fn unknown(&self, attr: &str) -> E {
        E::UnknownField {
            attr: attr.into(),
            name: self.name.into(),
            offset: self.off,
        }
    }
}

/// Parses fields after an opening `(` through the closing `)`.
fn fields<'a>(c: &mut Cur<'a>) -> R<Vec<Field<'a>>> {
    let mut out = Vec::new();
    if c.eat(b')') {
        return Ok(out);
    }
    loop {
        let (name, off) = c.name("field name")?;
        let f = if c.eat(b'(') {
            let (val, voff) = c.until_close();
            c.expect(b')', "')'")?;
            Field {
                name,
                off,
                val,
                mask: None,
                voff,
                paren: true,
            }
        } else if c.eat(b'=') {
            let (tok, voff) = c.token();
            let (val, mask) = match tok.split_once('/') {
                Some((v, m)) => (v.trim(), Some(m.trim())),
                None => (tok, None),
            };
            Field {
                name,
                off,
                val,
                mask,
                voff,
                paren: false,
            }
        } else {
            Field {
                name,
                off,
                val: "",
                mask: None,
                voff: off,
                paren: false,
            }
        };
        out.push(f);
        if c.eat(b',') {
            continue;
        }
        c.expect(b')', "',' or ')'")?;
        return Ok(out);
    }
}

fn bad(what: &str, tok: &str, off: usize) -> E {
    E::BadValue {
        what: what.into(),
        token: tok.into(),
        offset: off,
    }
}

/// An unsigned number, decimal or `0x` hex, at most `max`.
pub(crate) fn num(tok: &str, off: usize, what: &str, max: u64) -> R<u64> {
    let t = tok.trim();
    let v = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(h, 16)
    } else {
        t.parse::<u64>()
    };
    match v {
        Ok(v) if v <= max && !t.contains('+') => Ok(v),
        _ => Err(bad(what, tok, off)),
    }
}

fn vm(f: &Field<'_>, what: &str, max: u64) -> R<(u64, u64)> {
    let v = num(f.val, f.voff, what, max)?;
    let m = match f.mask {
        Some(m) => num(m, f.voff, what, max)?,
        None => max,
    };
    Ok((v & m, m))
}

/// `md=0xBYTES[/0xBYTES]`: the key's Geneve option area from its first
/// byte; bytes not given are zero and wildcarded, and without a mask the
/// given bytes are exact.
fn md_area(f: &Field<'_>) -> R<([u8; 32], [u8; 32])> {
    let area = |tok: &str| -> R<([u8; 32], usize)> {
        let b = hex_bytes(tok, f.voff, "md bytes")?;
        if b.is_empty() || b.len() > 32 {
            return Err(bad("md bytes", tok, f.voff));
        }
        let mut a = [0u8; 32];
        a[..b.len()].copy_from_slice(&b);
        Ok((a, b.len()))
    };
    let (mut v, n) = area(f.val)?;
    let m = match f.mask {
        Some(mk) => area(mk)?.0,
        None => {
            let mut a = [0u8; 32];
            a[..n].fill(0xff);
            a
        }
    };
    for (x, y) in v.iter_mut().zip(m) {
        *x &= y;
    }
    Ok((v, m))
}

fn ip4(tok: &str, off: usize) -> R<u32> {
    tok.parse::<Ipv4Addr>()
        .map(u32::from)
        .map_err(|_| bad("IPv4 address", tok, off))
}

fn ip6(tok: &str, off: usize) -> R<[u8; 16]> {
    tok.parse::<Ipv6Addr>()
        .map(|a| a.octets())
        .map_err(|_| bad("IPv6 address", tok, off))
}

fn vm_ip4(f: &Field<'_>) -> R<(u32, u32)> {
    let v = ip4(f.val, f.voff)?;
    let m = match f.mask {
        None => u32::MAX,
        Some(m) if m.contains('.') => ip4(m, f.voff)?,
        Some(m) => {
            let n = num(m, f.voff, "IPv4 prefix length", 32)?;
            if n == 0 {
                0
            } else {
                u32::MAX << (32 - n)
            }
        }
    };
    Ok((v & m, m))
}

fn vm_ip6(f: &Field<'_>) -> R<([u8; 16], [u8; 16])> {
    let v = ip6(f.val, f.voff)?;
    let m = match f.mask {
        None => [0xff; 16],
        Some(m) if m.contains(':') => ip6(m, f.voff)?,
        Some(m) => {
            let n = num(m, f.voff, "IPv6 prefix length", 128)?;
            let bits = if n == 0 { 0 } else { u128::MAX << (128 - n) };
            bits.to_be_bytes()
        }
    };
    let mut out = v;
    for (o, b) in out.iter_mut().zip(m) {
        *o &= b;
    }
    Ok((out, m))
}

pub(crate) fn mac(tok: &str, off: usize) -> R<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = tok.split(':');
    for o in out.iter_mut() {
        let p = parts.next().ok_or_else(|| bad("MAC address", tok, off))?;
        if p.is_empty() || p.len() > 2 {
            return Err(bad("MAC address", tok, off));
        }
        *o = u8::from_str_radix(p, 16).map_err(|_| bad("MAC address", tok, off))?;
    }
    if parts.next().is_some() {
        return Err(bad("MAC address", tok, off));
    }
    Ok(out)
}

fn vm_mac(f: &Field<'_>) -> R<([u8; 6], [u8; 6])> {
    let v = mac(f.val, f.voff)?;
    let m = match f.mask {
        None => [0xff; 6],
        Some(m) => mac(m, f.voff)?,
    };
    let mut out = v;
    for (o, b) in out.iter_mut().zip(m) {
        *o &= b;
    }
    Ok((out, m))
}

/// `-df+csum+key`: (value, mask); exact (mask all ones) when df, csum and
/// key are all listed.
fn tun_flags(tok: &str, off: usize) -> R<(u16, u16)> {
    let (mut v, mut m) = (0u16, 0u16);
    let mut rest = tok.trim();
    while !rest.is_empty() {
        let plus = match rest.as_bytes()[0] {
            b'+' => true,
            b'-' => false,
            _ => return Err(bad("tunnel flags", tok, off)),
        };
        rest = &rest[1..];
        let n = rest.find(['+', '-']).unwrap_or(rest.len());
        let name = rest[..n].trim();
        rest = &rest[n..];
        let bit = TUN_FLAG_NAMES
            .iter()
            .find(|(_, s)| *s == name)
            .map(|(b, _)| *b)
            .ok_or_else(|| bad("tunnel flag", name, off))?;
        m |= bit;
        if plus {
            v |= bit;
        }
    }
    if m & TUN_FLAGS_EXACT == TUN_FLAGS_EXACT {
        m = u16::MAX;
    }
    Ok((v, m))
}

fn tcp_flag_bit(name: &str, off: usize) -> R<u16> {
    TCP_FLAG_NAMES
        .iter()
        .position(|s| *s == name)
        .map(|i| 1u16 << i)
        .ok_or_else(|| bad("TCP flag", name, off))
}

/// `tcp_flags(syn|ack)`, `tcp_flags(0)`, `tcp_flags(+syn-ack)` or
/// `tcp_flags(0x12/0x12)`.
fn tcp_flags(tok: &str, off: usize) -> R<(u16, u16)> {
    let t = tok.trim();
    if t.starts_with(['+', '-']) {
        let (mut v, mut m) = (0u16, 0u16);
        let mut rest = t;
        while !rest.is_empty() {
            let plus = rest.as_bytes()[0] == b'+';
            if !rest.starts_with(['+', '-']) {
                return Err(bad("TCP flags", tok, off));
            }
            rest = &rest[1..];
            let n = rest.find(['+', '-']).unwrap_or(rest.len());
            let bit = tcp_flag_bit(rest[..n].trim(), off)?;
            rest = &rest[n..];
            m |= bit;
            if plus {
                v |= bit;
            }
        }
        return Ok((v, m));
    }
    if let Some((a, b)) = t.split_once('/') {
        let m = num(b, off, "TCP flags mask", 0xffff)? as u16;
        return Ok((num(a, off, "TCP flags", 0xffff)? as u16 & m, m));
    }
    let mut v = 0u16;
    for p in t.split('|') {
        let p = p.trim();
        v |= if p.starts_with(|c: char| c.is_ascii_digit()) {
            num(p, off, "TCP flags", 0xffff)? as u16
        } else {
            tcp_flag_bit(p, off)?
        };
    }
    Ok((v, u16::MAX))
}

fn frag(f: &Field<'_>) -> R<(u8, u8)> {
    let v = match f.val {
        "no" => Some(0),
        "first" => Some(FRAG_ANY),
        "later" => Some(FRAG_ANY | FRAG_LATER),
        _ => None,
    };
    match v {
        Some(v) if f.mask.is_none() => Ok((v, u8::MAX)),
        Some(_) => Err(bad("frag", f.mask.unwrap_or(""), f.voff)),
        None => {
            let (v, m) = vm(f, "frag", 0xff)?;
            Ok((v as u8, m as u8))
        }
    }
}

// ------------------------------------------------------------------ keys

/// Key parser state.
pub(crate) struct KeyParser {
    pub key: FlowKey,
    pub mask: FlowMask,
    pending: Option<(u16, u16)>,
    vlan_seen: [bool; 3],
}

impl KeyParser {
    pub fn new() -> Self {
        KeyParser {
            key: FlowKey::ZERO,
            mask: FlowMask::WILDCARD_ALL,
            pending: None,
            vlan_seen: [false; 3],
        }
    }

    /// Applies a pending `eth_type(...)` as the packet's ethertype at
    /// `level`; no vlan at this level then means "untagged here".
    fn flush(&mut self, level: usize) {
        if let Some((v, m)) = self.pending.take() {
            self.set_eth_type(level, v, m);
        }
    }

    fn set_eth_type(&mut self, level: usize, v: u16, m: u16) {
        self.key.eth_type = v;
        self.mask.0.eth_type = m;
        if m != 0 && level < 2 && !self.vlan_seen[level] {
            self.mask.0.vlan_tci[level] = u16::MAX;
            self.key.vlan_tci[level] = 0;
        }
    }

    /// Infers `eth_type` from an L3 attribute when none was given.
    fn infer_eth_type(&mut self, level: usize, t: u16) {
        if self.mask.0.eth_type == 0 {
            self.set_eth_type(level, t, u16::MAX);
        }
    }

    fn infer_proto(&mut self, p: u8) {
        if self.mask.0.nw_proto == 0 {
            self.key.nw_proto = p;
            self.mask.0.nw_proto = u8::MAX;
        }
    }

    /// Parses comma-separated attributes up to end, `)`, or (at level 0) a
    /// `name:` stats/actions field.
    pub fn attrs(&mut self, c: &mut Cur<'_>, level: usize) -> R<()> {
        loop {
            if c.at_end() || c.peek() == Some(b')') {
                break;
            }
            let save = c.pos;
            let (name, off) = c.name("attribute")?;
            if level == 0 && c.peek() == Some(b':') {
                c.pos = save;
                break;
            }
            self.attr(c, name, off, level)?;
            if !c.eat(b',') {
                break;
            }
        }
        self.flush(level);
        Ok(())
    }

    fn attr(&mut self, c: &mut Cur<'_>, name: &str, off: usize, level: usize) -> R<()> {
        if name != "vlan" && name != "eth_type" {
            self.flush(level);
        }
        c.expect(b'(', "'('")?;
        let k = &mut self.key;
        let m = &mut self.mask.0;
        let single = |c: &mut Cur<'_>, what: &str, max: u64| -> R<(u64, u64)> {
            let (tok, voff) = c.token();
            c.expect(b')', "')'")?;
            let (v, mk) = match tok.split_once('/') {
                Some((v, mk)) => (v, Some(mk)),
                None => (tok, None),
            };
            let f = Field {
                name: what,
                off: voff,
                val: v,
                mask: mk,
                voff,
                paren: false,
            };
            vm(&f, what, max)
        };
        match name {
            "recirc_id" => {
                let (v, mk) = single(c, "recirc_id", u32::MAX.into())?;
                (k.recirc_id, m.recirc_id) = (v as u32, mk as u32);
            }
            "dp_hash" => {
                let (v, mk) = single(c, "dp_hash", u32::MAX.into())?;
                (k.dp_hash, m.dp_hash) = (v as u32, mk as u32);
            }
            "in_port" => {
                let (v, mk) = single(c, "in_port", u32::MAX.into())?;
                (k.in_port, m.in_port) = (v as u32, mk as u32);
            }
            "parse_err" => {
                let (v, mk) = single(c, "parse_err", 0xff)?;
                (k.parse_err, m.parse_err) = (v as u8, mk as u8);
            }
            "eth_type" => {
                let (v, mk) = single(c, "eth_type", 0xffff)?;
                self.flush(level);
                self.pending = Some((v as u16, mk as u16));
            }
            "packet_type" => {
                // OVS prints packet_type(ns=0,id=0) for Ethernet packets; rvs
                // only has Ethernet packets and accepts it for convenience.
                for f in fields(c)? {
                    match f.name {
                        "ns" => {
                            num(f.val, f.voff, "ns", 0)?;
                        }
                        "id" => {
                            num(f.val, f.voff, "id", 0)?;
                        }
                        _ => return Err(f.unknown(name)),
                    }
                }
            }
            "tunnel" => {
                for f in fields(c)? {
                    match (f.name, f.paren) {
                        ("tun_id", false) => (k.tun_id, m.tun_id) = vm(&f, "tun_id", u64::MAX)?,
                        ("src", false) => (k.tun_ipv4_src, m.tun_ipv4_src) = vm_ip4(&f)?,
                        ("dst", false) => (k.tun_ipv4_dst, m.tun_ipv4_dst) = vm_ip4(&f)?,
                        ("ipv6_src", false) => (k.tun_ipv6_src, m.tun_ipv6_src) = vm_ip6(&f)?,
                        ("ipv6_dst", false) => (k.tun_ipv6_dst, m.tun_ipv6_dst) = vm_ip6(&f)?,
                        ("tos", false) => {
                            let (v, mk) = vm(&f, "tos", 0xff)?;
                            (k.tun_tos, m.tun_tos) = (v as u8, mk as u8);
                        }
                        ("ttl", false) => {
                            let (v, mk) = vm(&f, "ttl", 0xff)?;
                            (k.tun_ttl, m.tun_ttl) = (v as u8, mk as u8);
                        }
                        ("tp_src", false) => {
                            let (v, mk) = vm(&f, "tp_src", 0xffff)?;
                            (k.tun_tp_src, m.tun_tp_src) = (v as u16, mk as u16);
                        }
                        ("tp_dst", false) => {
                            let (v, mk) = vm(&f, "tp_dst", 0xffff)?;
                            (k.tun_tp_dst, m.tun_tp_dst) = (v as u16, mk as u16);
                        }
                        ("flags", true) => (k.tun_flags, m.tun_flags) = tun_flags(f.val, f.voff)?,
                        ("md_present", false) => {
                            let (v, mk) = vm(&f, "md_present", 0xff)?;
                            (k.tun_md_present, m.tun_md_present) = (v as u8, mk as u8);
                        }
                        ("md", false) => (k.tun_metadata, m.tun_metadata) = md_area(&f)?,
                        _ => return Err(f.unknown(name)),
                    }
                }
            }
            "eth" => {
                for f in fields(c)? {
                    match f.name {
                        "src" => (k.eth_src, m.eth_src) = vm_mac(&f)?,
                        "dst" => (k.eth_dst, m.eth_dst) = vm_mac(&f)?,
                        _ => return Err(f.unknown(name)),
                    }
                }
            }
            "vlan" => {
                if level >= 2 || self.vlan_seen[level] {
                    return Err(E::Invalid {
                        what: "too many VLAN tags".into(),
                        offset: off,
                    });
                }
                self.vlan_seen[level] = true;
                let (tpid, tpid_m) = self.pending.take().unwrap_or((0, 0));
                let k = &mut self.key;
                let m = &mut self.mask.0;
                k.vlan_tpid[level] = tpid;
                m.vlan_tpid[level] = tpid_m;
                let (mut t, mut tm) = (VLAN_CFI, VLAN_CFI);
                for f in fields(c)? {
                    match f.name {
                        "vid" => {
                            let (v, mk) = vm(&f, "vid", 0xfff)?;
                            t |= v as u16;
                            tm |= mk as u16;
                        }
                        "pcp" => {
                            let (v, mk) = vm(&f, "pcp", 7)?;
                            t |= (v as u16) << 13;
                            tm |= (mk as u16) << 13;
                        }
                        _ => return Err(f.unknown(name)),
                    }
                }
                (k.vlan_tci[level], m.vlan_tci[level]) = (t, tm);
            }
            "encap" => {
                if level >= 2 || !self.vlan_seen[level] {
                    return Err(E::Invalid {
                        what: "encap without vlan".into(),
                        offset: off,
                    });
                }
                self.attrs(c, level + 1)?;
                c.expect(b')', "')'")?;
            }
            "ipv4" | "ipv6" | "arp" => {
                let t = match name {
                    "ipv4" => ethertype::IPV4,
                    "ipv6" => ethertype::IPV6,
                    _ => ethertype::ARP,
                };
                let fs = fields(c)?;
                self.infer_eth_type(level, t);
                let k = &mut self.key;
                let m = &mut self.mask.0;
                for f in fs {
                    let u8f = |f: &Field<'_>, what: &str| -> R<(u8, u8)> {
                        let (v, mk) = vm(f, what, 0xff)?;
                        Ok((v as u8, mk as u8))
                    };
                    match (name, f.name) {
                        ("ipv4", "src") | ("arp", "sip") => (k.nw_src, m.nw_src) = vm_ip4(&f)?,
                        ("ipv4", "dst") | ("arp", "tip") => (k.nw_dst, m.nw_dst) = vm_ip4(&f)?,
                        ("ipv6", "src") => (k.ipv6_src, m.ipv6_src) = vm_ip6(&f)?,
                        ("ipv6", "dst") => (k.ipv6_dst, m.ipv6_dst) = vm_ip6(&f)?,
                        ("ipv6", "label") => {
                            let (v, mk) = vm(&f, "label", u32::MAX.into())?;
                            (k.ipv6_label, m.ipv6_label) = (v as u32, mk as u32);
                        }
                        ("ipv4" | "ipv6", "proto") | ("arp", "op") => {
                            (k.nw_proto, m.nw_proto) = u8f(&f, f.name)?
                        }
                        ("ipv4", "tos") | ("ipv6", "tclass") => {
                            (k.nw_tos, m.nw_tos) = u8f(&f, f.name)?
                        }
                        ("ipv4", "ttl") | ("ipv6", "hlimit") => {
                            (k.nw_ttl, m.nw_ttl) = u8f(&f, f.name)?
                        }
                        ("ipv4" | "ipv6", "frag") => (k.nw_frag, m.nw_frag) = frag(&f)?,
                        ("arp", "sha") => (k.arp_sha, m.arp_sha) = vm_mac(&f)?,
                        ("arp", "tha") => (k.arp_tha, m.arp_tha) = vm_mac(&f)?,
                        _ => return Err(f.unknown(name)),
                    }
                }
            }
            "tcp" | "udp" | "sctp" | "icmp" | "icmpv6" => {
                let (p, s, d) = match name {
                    "tcp" => (6, "src", "dst"),
                    "udp" => (17, "src", "dst"),
                    "sctp" => (132, "src", "dst"),
                    "icmp" => (1, "type", "code"),
                    _ => (58, "type", "code"),
                };
                let fs = fields(c)?;
                self.infer_proto(p);
                let k = &mut self.key;
                let m = &mut self.mask.0;
                for f in fs {
                    let (v, mk) = vm(&f, f.name, 0xffff)?;
                    if f.name == s {
                        (k.tp_src, m.tp_src) = (v as u16, mk as u16);
                    } else if f.name == d {
                        (k.tp_dst, m.tp_dst) = (v as u16, mk as u16);
                    } else {
                        return Err(f.unknown(name));
                    }
                }
            }
            "tcp_flags" => {
                let (tok, voff) = c.until_close();
                c.expect(b')', "')'")?;
                (k.tcp_flags, m.tcp_flags) = tcp_flags(tok, voff)?;
            }
            "nd" => {
                for f in fields(c)? {
                    match f.name {
                        "target" => (k.nd_target, m.nd_target) = vm_ip6(&f)?,
                        "sll" => (k.arp_sha, m.arp_sha) = vm_mac(&f)?,
                        "tll" => (k.arp_tha, m.arp_tha) = vm_mac(&f)?,
                        _ => return Err(f.unknown(name)),
                    }
                }
            }
            _ => {
                return Err(E::UnknownAttribute {
                    name: name.into(),
                    offset: off,
                })
            }
        }
        Ok(())
    }
}

// --------------------------------------------------------------- actions

fn paren_num(c: &mut Cur<'_>, what: &str, max: u64) -> R<u64> {
    c.expect(b'(', "'('")?;
    let (tok, off) = c.token();
    c.expect(b')', "')'")?;
    num(tok, off, what, max)
}

fn no_mask<T>(f: &Field<'_>, v: T) -> R<T> {
    match f.mask {
        Some(mk) => Err(bad(f.name, mk, f.voff)),
        None => Ok(v),
    }
}

macro_rules! masked_num {
    ($f:expr, $t:ty) => {{
        let (v, m) = vm($f, $f.name, <$t>::MAX.into())?;
        Masked {
            value: v as $t,
            mask: m as $t,
        }
    }};
}

fn set_action(c: &mut Cur<'_>) -> R<SetAction> {
    c.expect(b'(', "'('")?;
    let (name, off) = c.name("set attribute")?;
    c.expect(b'(', "'('")?;
    let fs = fields(c)?;
    c.expect(b')', "')'")?;
    let mmac = |f: &Field<'_>| -> R<Masked<[u8; 6]>> {
        let (value, mask) = vm_mac(f)?;
        Ok(Masked { value, mask })
    };
    let mip6 = |f: &Field<'_>| -> R<Masked<[u8; 16]>> {
        let (value, mask) = vm_ip6(f)?;
        Ok(Masked { value, mask })
    };
    Ok(match name {
        "eth" => {
            let (mut src, mut dst) = (Masked::none(), Masked::none());
            for f in fs {
                match f.name {
                    "src" => src = mmac(&f)?,
                    "dst" => dst = mmac(&f)?,
                    _ => return Err(f.unknown(name)),
                }
            }
            SetAction::Eth { src, dst }
        }
        "ipv4" => {
            let (mut src, mut dst, mut tos, mut ttl) = (
                Masked::none(),
                Masked::none(),
                Masked::none(),
                Masked::none(),
            );
            for f in fs {
                match f.name {
                    "src" | "dst" => {
                        let (value, mask) = vm_ip4(&f)?;
                        let v = Masked { value, mask };
                        if f.name == "src" {
                            src = v
                        } else {
                            dst = v
                        }
                    }
                    "tos" => tos = masked_num!(&f, u8),
                    "ttl" => ttl = masked_num!(&f, u8),
                    _ => return Err(f.unknown(name)),
                }
            }
            SetAction::Ipv4 { src, dst, tos, ttl }
        }
        "ipv6" => {
            let (mut src, mut dst) = (Masked::none(), Masked::none());
            let (mut label, mut tclass, mut hlimit) =
                (Masked::none(), Masked::none(), Masked::none());
            for f in fs {
                match f.name {
                    "src" => src = mip6(&f)?,
                    "dst" => dst = mip6(&f)?,
                    "label" => label = masked_num!(&f, u32),
                    "tclass" => tclass = masked_num!(&f, u8),
                    "hlimit" => hlimit = masked_num!(&f, u8),
                    _ => return Err(f.unknown(name)),
                }
            }
            SetAction::Ipv6 {
                src,
                dst,
                label,
                tclass,
                hlimit,
            }
        }
        "tcp" | "udp" | "sctp" => {
            let (mut src, mut dst) = (Masked::none(), Masked::none());
            for f in fs {
                match f.name {
                    "src" => src = masked_num!(&f, u16),
                    "dst" => dst = masked_num!(&f, u16),
                    _ => return Err(f.unknown(name)),
                }
            }
            match name {
                "tcp" => SetAction::Tcp { src, dst },
                "udp" => SetAction::Udp { src, dst },
                _ => SetAction::Sctp { src, dst },
            }
        }
        "tunnel" => {
            let mut t = TunnelMeta::default();
            for f in fs {
                match (f.name, f.paren) {
                    ("tun_id", false) => {
                        t.tun_id = no_mask(&f, num(f.val, f.voff, "tun_id", u64::MAX)?)?
                    }
                    ("src", false) => t.ipv4_src = no_mask(&f, ip4(f.val, f.voff)?)?,
                    ("dst", false) => t.ipv4_dst = no_mask(&f, ip4(f.val, f.voff)?)?,
                    ("ipv6_src", false) => t.ipv6_src = no_mask(&f, ip6(f.val, f.voff)?)?,
                    ("ipv6_dst", false) => t.ipv6_dst = no_mask(&f, ip6(f.val, f.voff)?)?,
                    ("tos", false) => t.tos = no_mask(&f, num(f.val, f.voff, "tos", 0xff)? as u8)?,
                    ("ttl", false) => t.ttl = no_mask(&f, num(f.val, f.voff, "ttl", 0xff)? as u8)?,
                    ("tp_src", false) => {
                        t.tp_src = no_mask(&f, num(f.val, f.voff, "tp_src", 0xffff)? as u16)?
                    }
                    ("tp_dst", false) => {
                        t.tp_dst = no_mask(&f, num(f.val, f.voff, "tp_dst", 0xffff)? as u16)?
                    }
                    ("flags", true) => t.flags = tun_flags(f.val, f.voff)?.0,
                    _ => return Err(f.unknown(name)),
                }
            }
            SetAction::Tunnel(t)
        }
        _ => {
            return Err(E::UnknownAttribute {
                name: name.into(),
                offset: off,
            })
        }
    })
}

fn hex_bytes(tok: &str, off: usize, what: &str) -> R<Vec<u8>> {
    let h = tok.strip_prefix("0x").ok_or_else(|| bad(what, tok, off))?;
    if h.len() % 2 != 0 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad(what, tok, off));
    }
    (0..h.len() / 2)
        .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).map_err(|_| bad(what, tok, off)))
        .collect()
}

/// `{class=0x102,type=0x80,len=4,0x20007},...` up to the closing `)`.
fn geneve_opts(c: &mut Cur<'_>) -> R<Vec<GeneveOpt>> {
    let mut opts = Vec::new();
    loop {
        if c.peek() == Some(b')') {
            return Ok(opts);
        }
        c.expect(b'{', "'{'")?;
        let (mut class, mut typ, mut len, mut data) = (0u16, 0u8, 0usize, None);
        loop {
            let (name, off) = c.name("geneve option field")?;
            if c.eat(b'=') {
                let (tok, voff) = c.token();
                match name {
                    "class" => class = num(tok, voff, "class", 0xffff)? as u16,
                    "type" => typ = num(tok, voff, "type", 0xff)? as u8,
                    "len" => len = num(tok, voff, "len", 124)? as usize,
                    _ => {
                        return Err(E::UnknownField {
                            attr: "geneve option".into(),
                            name: name.into(),
                            offset: off,
                        })
                    }
                }
            } else {
                let h = name
                    .strip_prefix("0x")
                    .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
                    .ok_or_else(|| bad("geneve option data", name, off))?;
                let h = h.trim_start_matches('0');
                if h.len() > len * 2 {
                    return Err(bad("geneve option data", name, off));
                }
                let padded = format!("0x{h:0>width$}", width = len * 2);
                data = Some(hex_bytes(&padded, off, "geneve option data")?);
            }
            if !c.eat(b',') {
                break;
            }
        }
        c.expect(b'}', "'}'")?;
        if len % 4 != 0 {
            return Err(bad("geneve option len", &len.to_string(), c.pos));
        }
        let data = data.unwrap_or_else(|| vec![0; len]);
        opts.push(GeneveOpt { class, typ, data });
        c.eat(b',');
    }
}

/// `header(size=..,type=..,eth(...),ipv4(...)|ipv6(...),udp(...),vxlan(...)|geneve(...))`
/// or `header(size=..,type=..,raw=0x..,ipv6=0|1,udp_csum=0|1)`.
fn tnl_header(c: &mut Cur<'_>, tnl_port: u32) -> R<TnlPush> {
    let (h, hoff) = c.name("header")?;
    if h != "header" {
        return Err(bad("tnl_push", h, hoff));
    }
    c.expect(b'(', "'('")?;
    let (mut size, mut ty) = (None, None);
    let (mut raw, mut raw_v6, mut raw_csum) = (None, false, false);
    let (mut eth, mut l3, mut udp, mut tun) = (None, None, None, None);
    loop {
        let (name, off) = c.name("header field")?;
        if c.eat(b'=') {
            let (tok, voff) = c.token();
            match name {
                "size" => size = Some((num(tok, voff, "size", 0xffff)? as usize, voff)),
                "type" => {
                    ty = Some(
                        tnl::type_from_number(num(tok, voff, "type", 0xff)?)
                            .ok_or_else(|| bad("type", tok, voff))?,
                    )
                }
                "raw" => raw = Some(hex_bytes(tok, voff, "raw header")?),
                "ipv6" => raw_v6 = num(tok, voff, "ipv6", 1)? == 1,
                "udp_csum" => raw_csum = num(tok, voff, "udp_csum", 1)? == 1,
                _ => {
                    return Err(E::UnknownField {
                        attr: "header".into(),
                        name: name.into(),
                        offset: off,
                    })
                }
            }
        } else {
            c.expect(b'(', "'(' or '='")?;
            if name == "geneve" {
                let (mut oam, mut crit, mut vni, mut opts) = (false, false, 0, Vec::new());
                loop {
                    let (n, noff) = c.name("geneve field")?;
                    match n {
                        "oam" => oam = true,
                        "crit" => crit = true,
                        "vni" => {
                            c.expect(b'=', "'='")?;
                            let (tok, voff) = c.token();
                            vni = num(tok, voff, "vni", 0xff_ffff)? as u32;
                        }
                        "options" => {
                            c.expect(b'(', "'('")?;
                            opts = geneve_opts(c)?;
                            c.expect(b')', "')'")?;
                        }
                        _ => {
                            return Err(E::UnknownField {
                                attr: "geneve".into(),
                                name: n.into(),
                                offset: noff,
                            })
                        }
                    }
                    if !c.eat(b',') {
                        break;
                    }
                }
                c.expect(b')', "')'")?;
                tun = Some(Tun::Geneve {
                    oam,
                    crit,
                    vni,
                    opts,
                });
            } else {
                let fs = fields(c)?;
                let get = |n: &str| fs.iter().find(|f| f.name == n);
                for f in &fs {
                    let ok = match name {
                        "eth" => ["dst", "src", "dl_type"].contains(&f.name),
                        "ipv4" => ["src", "dst", "proto", "tos", "ttl", "frag"].contains(&f.name),
                        "ipv6" => {
                            ["src", "dst", "label", "proto", "tclass", "hlimit"].contains(&f.name)
                        }
                        "udp" => ["src", "dst", "csum"].contains(&f.name),
                        "vxlan" => ["flags", "vni"].contains(&f.name),
                        _ => {
                            return Err(E::UnknownField {
                                attr: "header".into(),
                                name: name.into(),
                                offset: off,
                            })
                        }
                    };
                    if !ok || f.mask.is_some() || f.paren {
                        return Err(f.unknown(name));
                    }
                }
                let n = |fname: &str, max: u64| -> R<u64> {
                    match get(fname) {
                        Some(f) => num(f.val, f.voff, fname, max),
                        None => Ok(0),
                    }
                };
                let addr4 =
                    |fname: &str| -> R<u32> { get(fname).map_or(Ok(0), |f| ip4(f.val, f.voff)) };
                let addr6 = |fname: &str| -> R<[u8; 16]> {
                    get(fname).map_or(Ok([0; 16]), |f| ip6(f.val, f.voff))
                };
                let hw = |fname: &str| -> R<[u8; 6]> {
                    get(fname).map_or(Ok([0; 6]), |f| mac(f.val, f.voff))
                };
                match name {
                    "eth" => {
                        eth = Some((hw("dst")?, hw("src")?, n("dl_type", 0xffff)? as u16, off))
                    }
                    "ipv4" => {
                        l3 = Some(L3::V4 {
                            src: addr4("src")?,
                            dst: addr4("dst")?,
                            proto: n("proto", 0xff)? as u8,
                            tos: n("tos", 0xff)? as u8,
                            ttl: n("ttl", 0xff)? as u8,
                            frag: n("frag", 0xffff)? as u16,
                        })
                    }
                    "ipv6" => {
                        l3 = Some(L3::V6 {
                            src: addr6("src")?,
                            dst: addr6("dst")?,
                            label: n("label", 0xfffff)? as u32,
                            proto: n("proto", 0xff)? as u8,
                            tclass: n("tclass", 0xff)? as u8,
                            hlimit: n("hlimit", 0xff)? as u8,
                        })
                    }
                    "udp" => {
                        udp = Some((
                            n("src", 0xffff)? as u16,
                            n("dst", 0xffff)? as u16,
                            n("csum", 0xffff)? as u16,
                        ))
                    }
                    _ => {
                        tun = Some(Tun::Vxlan {
                            flags: n("flags", u32::MAX.into())? as u32,
                            vni: n("vni", 0xff_ffff)? as u32,
                        })
                    }
                }
            }
        }
        if !c.eat(b',') {
            break;
        }
    }
    c.expect(b')', "')'")?;
    let here = c.pos;
    let missing = |what: &'static str| E::Invalid {
        what: format!("tnl_push header lacks {what}"),
        offset: here,
    };
    let (size, size_off) = size.ok_or_else(|| missing("size"))?;
    let tnl_type = ty.ok_or_else(|| missing("type"))?;
    let (header, ipv6, udp_csum) = if let Some(raw) = raw {
        (raw, raw_v6, raw_csum)
    } else {
        let (eth_dst, eth_src, dl_type, eoff) = eth.ok_or_else(|| missing("eth"))?;
        let l3 = l3.ok_or_else(|| missing("ipv4 or ipv6"))?;
        let want = if matches!(l3, L3::V6 { .. }) {
            ethertype::IPV6
        } else {
            ethertype::IPV4
        };
        if dl_type != want {
            return Err(bad("dl_type", &format!("{dl_type:#06x}"), eoff));
        }
        let (udp_src, udp_dst, csum) = udp.ok_or_else(|| missing("udp"))?;
        let tun = tun.ok_or_else(|| missing("vxlan or geneve"))?;
        let h = Hdr {
            eth_dst,
            eth_src,
            l3,
            udp_src,
            udp_dst,
            udp_csum: csum,
            tun,
        };
        if h.tnl_type() != tnl_type {
            return Err(E::Invalid {
                what: "tunnel header does not match type".into(),
                offset: here,
            });
        }
        let bytes = h.encode().ok_or_else(|| E::Invalid {
            what: "tunnel header cannot be encoded".into(),
            offset: here,
        })?;
        (bytes, h.is_ipv6(), csum != 0)
    };
    if header.len() != size {
        return Err(bad("size", &size.to_string(), size_off));
    }
    c.expect(b',', "','")?;
    let (o, ooff) = c.name("out_port")?;
    if o != "out_port" {
        return Err(bad("tnl_push", o, ooff));
    }
    let out_port = paren_num(c, "out_port", u32::MAX.into())? as u32;
    Ok(TnlPush {
        tnl_port,
        out_port,
        tnl_type,
        header: header.into_boxed_slice(),
        ipv6,
        udp_csum,
    })
}

fn action(c: &mut Cur<'_>) -> R<DpAction> {
    c.ws();
    if c.peek().is_some_and(|b| b.is_ascii_digit()) {
        let (tok, off) = c.token();
        return Ok(DpAction::Output(
            num(tok, off, "output port", u32::MAX.into())? as u32,
        ));
    }
    let (name, off) = c.name("action")?;
    Ok(match name {
        "set" => DpAction::Set(set_action(c)?),
        "pop_vlan" => DpAction::PopVlan,
        "push_vlan" => {
            c.expect(b'(', "'('")?;
            let (mut tpid, mut tci) = (ethertype::VLAN, 0u16);
            for f in fields(c)? {
                let v = |max| no_mask(&f, num(f.val, f.voff, f.name, max)).and_then(|x| x);
                match f.name {
                    "tpid" => tpid = v(0xffff)? as u16,
                    "vid" => tci |= v(0xfff)? as u16,
                    "pcp" => tci |= (v(7)? as u16) << 13,
                    "cfi" => tci |= (v(1)? as u16) << 12,
                    _ => return Err(f.unknown(name)),
                }
            }
            DpAction::PushVlan { tpid, tci }
        }
        "recirc" => DpAction::Recirc(paren_num(c, "recirc id", u32::MAX.into())? as u32),
        "tnl_pop" => {
            // `tnl_pop(PORT)` or `tnl_pop(PORT,tlv(MAPPINGS))`.
            c.expect(b'(', "'('")?;
            let (tok, off) = c.token();
            let port = num(tok, off, "tnl_pop port", u32::MAX.into())? as u32;
            let mut tlv = None;
            if c.eat(b',') {
                let (kw, koff) = c.name("tlv")?;
                if kw != "tlv" {
                    return Err(bad("tnl_pop option", kw, koff));
                }
                c.expect(b'(', "'('")?;
                let (body, boff) = c.until_close();
                let map = crate::tlv::TlvMap::from_dp_string(body)
                    .map_err(|_| bad("tlv map", body, boff))?;
                c.expect(b')', "')'")?;
                tlv = Some(Arc::new(map));
            }
            c.expect(b')', "')'")?;
            DpAction::TnlPop(crate::actions::TnlPop { port, tlv })
        }
        "hash" => {
            c.expect(b'(', "'('")?;
            let (h, hoff) = c.name("hash function")?;
            if h != "l4" {
                return Err(bad("hash function", h, hoff));
            }
            let basis = paren_num(c, "hash basis", u32::MAX.into())? as u32;
            c.expect(b')', "')'")?;
            DpAction::Hash { basis }
        }
        "userspace" => {
            c.expect(b'(', "'('")?;
            let mut cookie = 0;
            for f in fields(c)? {
                match f.name {
                    "cookie" => cookie = no_mask(&f, num(f.val, f.voff, "cookie", u64::MAX)?)?,
                    _ => return Err(f.unknown(name)),
                }
            }
            DpAction::Userspace { cookie }
        }
        "tnl_push" => {
            c.expect(b'(', "'('")?;
            let (t, toff) = c.name("tnl_port")?;
            if t != "tnl_port" {
                return Err(bad("tnl_push", t, toff));
            }
            let tnl_port = paren_num(c, "tnl_port", u32::MAX.into())? as u32;
            c.expect(b',', "','")?;
            let p = tnl_header(c, tnl_port)?;
            c.expect(b')', "')'")?;
            DpAction::TnlPush(Arc::new(p))
        }
        _ => {
            return Err(E::UnknownAction {
                name: name.into(),
                offset: off,
            })
        }
    })
}

/// Parses an action list (`drop` or comma-separated actions) up to the end
/// of the cursor's range.
pub(crate) fn actions(c: &mut Cur<'_>) -> R<DpActions> {
    let save = c.pos;
    let (w, _) = c.ident();
    if w == "drop" && c.at_end() {
        return Ok(Vec::new());
    }
    c.pos = save;
    let mut out = Vec::new();
    loop {
        out.push(action(c)?);
        if !c.eat(b',') {
            break;
        }
    }
    if !c.at_end() {
        return Err(E::Expected {
            expected: "',' or end of actions",
            found: c.found(),
            offset: c.pos,
        });
    }
    Ok(out)
}

/// Skips a `name:value` stats field's value, up to the next `,`.
pub(crate) fn skip_value(c: &mut Cur<'_>) {
    while c.pos < c.end && c.b()[c.pos] != b',' {
        c.pos += 1;
    }
}
