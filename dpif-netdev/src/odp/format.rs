//! Printing keys, masks and actions in `dpctl/dump-flows` form.

use super::tnl::{self, Hdr, Tun, L3};
use super::PortNames;
use crate::actions::{DpAction, Masked, SetAction, TnlPush};
use crate::key::{ethertype, ipproto, FlowKey, FlowMask, FRAG_ANY, FRAG_LATER, VLAN_CFI};
use crate::packet::{tun_flags, TunnelMeta};
use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

/// `%#x` as C prints it: `0` for zero, `0x..` otherwise.
pub(crate) fn hx(v: u64) -> String {
    if v == 0 {
        "0".to_string()
    } else {
        format!("{v:#x}")
    }
}

pub(crate) use crate::wire::format_mac as mac;

/// How an integer value prints.
#[derive(Clone, Copy)]
pub(crate) enum Style {
    /// Decimal.
    Dec,
    /// C's `%#x` (`0` for zero).
    Hex,
    /// Always `0x..`.
    Hex0x,
}

fn num_str(v: u64, style: Style) -> String {
    match style {
        Style::Dec => v.to_string(),
        Style::Hex => hx(v),
        Style::Hex0x => format!("0x{v:x}"),
    }
}

/// Comma-separated `field=value[/mask]` list of one attribute.
#[derive(Default)]
pub(crate) struct Fields {
    pub s: String,
}

impl Fields {
    pub fn raw(&mut self, piece: &str) {
        if !self.s.is_empty() {
            self.s.push(',');
        }
        self.s.push_str(piece);
    }

    /// An integer field; exact when the mask keeps every bit of `full`.
    pub fn num(&mut self, name: &str, v: u64, m: u64, full: u64, style: Style) {
        if m == 0 {
            return;
        }
        let val = num_str(v, style);
        if m & full == full {
            self.raw(&format!("{name}={val}"));
        } else {
            self.raw(&format!("{name}={val}/{m:#x}"));
        }
    }

    pub fn ip4(&mut self, name: &str, v: u32, m: u32) {
        if m == 0 {
            return;
        }
        if m == u32::MAX {
            self.raw(&format!("{name}={}", Ipv4Addr::from(v)));
        } else {
            self.raw(&format!(
                "{name}={}/{}",
                Ipv4Addr::from(v),
                Ipv4Addr::from(m)
            ));
        }
    }

    pub fn ip6(&mut self, name: &str, v: &[u8; 16], m: &[u8; 16]) {
        if *m == [0; 16] {
            return;
        }
        if *m == [0xff; 16] {
            self.raw(&format!("{name}={}", Ipv6Addr::from(*v)));
        } else {
            self.raw(&format!(
                "{name}={}/{}",
                Ipv6Addr::from(*v),
                Ipv6Addr::from(*m)
            ));
        }
    }

    pub fn mac(&mut self, name: &str, v: &[u8; 6], m: &[u8; 6]) {
        if *m == [0; 6] {
            return;
        }
        if *m == [0xff; 6] {
            self.raw(&format!("{name}={}", mac(v)));
        } else {
            self.raw(&format!("{name}={}/{}", mac(v), mac(m)));
        }
    }

    fn into_attr(self, name: &str, out: &mut Vec<String>) {
        if !self.s.is_empty() {
            out.push(format!("{name}({})", self.s));
        }
    }
}

/// Tunnel flag names, in print order.
pub(crate) const TUN_FLAG_NAMES: [(u16, &str); 4] = [
    (tun_flags::DONT_FRAGMENT, "df"),
    (tun_flags::CSUM, "csum"),
    (tun_flags::KEY, "key"),
    (tun_flags::OAM, "oam"),
];
/// Tunnel flag bits that have names.
pub(crate) const TUN_FLAGS_ALL: u16 =
    tun_flags::DONT_FRAGMENT | tun_flags::CSUM | tun_flags::KEY | tun_flags::OAM;
/// Tunnel flags whose presence in a `flags(...)` list means "exact".
pub(crate) const TUN_FLAGS_EXACT: u16 = tun_flags::DONT_FRAGMENT | tun_flags::CSUM | tun_flags::KEY;

/// `flags(-df-csum+key)`. Exact masks list df, csum and key always and oam
/// only when set.
pub(crate) fn tun_flags_str(v: u16, m: u16) -> Option<String> {
    let mm = m & TUN_FLAGS_ALL;
    if mm == 0 {
        return None;
    }
    let exact = mm == TUN_FLAGS_ALL;
    let mut s = String::from("flags(");
    for (bit, name) in TUN_FLAG_NAMES {
        let show = if exact {
            bit != tun_flags::OAM || v & bit != 0
        } else {
            mm & bit != 0
        };
        if show {
            s.push(if v & bit != 0 { '+' } else { '-' });
            s.push_str(name);
        }
    }
    s.push(')');
    Some(s)
}

/// TCP flag names by bit, as OVS's `packet_tcp_flag_to_string`.
pub(crate) const TCP_FLAG_NAMES: [&str; 12] = [
    "fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr", "ns", "[200]", "[400]", "[800]",
];

fn tcp_flags_attr(v: u16, m: u16) -> Option<String> {
    let mm = m & 0x0fff;
    if mm == 0 {
        return None;
    }
    let mut s = String::new();
    if mm == 0x0fff {
        if v == 0 {
            s.push('0');
        }
        for (i, name) in TCP_FLAG_NAMES.iter().enumerate() {
            if v & (1 << i) != 0 {
                if !s.is_empty() {
                    s.push('|');
                }
                s.push_str(name);
            }
        }
        if v & !0x0fff != 0 {
            if !s.is_empty() {
                s.push('|');
            }
            let _ = write!(s, "{:#x}", v & !0x0fff);
        }
    } else {
        for (i, name) in TCP_FLAG_NAMES.iter().enumerate() {
            if mm & (1 << i) != 0 {
                s.push(if v & (1 << i) != 0 { '+' } else { '-' });
                s.push_str(name);
            }
        }
    }
    Some(format!("tcp_flags({s})"))
}

/// `flags:S.` letters of dump-flows stats, as OVS's `packet_format_tcp_flags`.
pub(crate) fn stats_tcp_flags(f: u16) -> String {
    if f == 0 {
        return "none".into();
    }
    let mut s = String::new();
    for (bit, c) in [
        (0x002, "S"),
        (0x001, "F"),
        (0x008, "P"),
        (0x004, "R"),
        (0x020, "U"),
        (0x010, "."),
        (0x040, "E"),
        (0x080, "C"),
        (0x100, "N"),
        (0x200, "[200]"),
        (0x400, "[400]"),
        (0x800, "[800]"),
    ] {
        if f & bit != 0 {
            s.push_str(c);
        }
    }
    s
}

fn single(name: &str, v: u64, m: u64, full: u64, style: Style, out: &mut Vec<String>) {
    if m == 0 {
        return;
    }
    if m & full == full {
        out.push(format!("{name}({})", num_str(v, style)));
    } else {
        out.push(format!("{name}({}/{m:#x})", num_str(v, style)));
    }
}

fn eth_type_attr(v: u16, m: u16, out: &mut Vec<String>) {
    if m == 0 {
        return;
    }
    if m == 0xffff {
        out.push(format!("eth_type(0x{v:04x})"));
    } else {
        out.push(format!("eth_type(0x{v:04x}/0x{m:04x})"));
    }
}

/// The `frag=` field: `no`/`first`/`later` when exact, hex otherwise.
fn frag_field(f: &mut Fields, v: u8, m: u8) {
    if m == 0 {
        return;
    }
    if m & 3 == 3 {
        let name = match v {
            0 => Some("no"),
            FRAG_ANY => Some("first"),
            x if x == FRAG_ANY | FRAG_LATER => Some("later"),
            _ => None,
        };
        match name {
            Some(n) => f.raw(&format!("frag={n}")),
            None => f.raw(&format!("frag={v:#x}")),
        }
    } else {
        f.raw(&format!("frag={}/{m:#x}", hx(v.into())));
    }
}

/// The mask that makes every field relevant to `key`'s packet type exact:
/// what [`super::format_key`] prints when given no mask.
pub fn relevant_mask(key: &FlowKey) -> FlowMask {
    let mut m = FlowKey::ZERO;
    let k = key;
    let tun_v6 = k.tun_ipv6_src != [0; 16] || k.tun_ipv6_dst != [0; 16];
    let tun = k.tun_id != 0
        || k.tun_ipv4_src != 0
        || k.tun_ipv4_dst != 0
        || tun_v6
        || k.tun_tp_src != 0
        || k.tun_tp_dst != 0
        || k.tun_flags != 0
        || k.tun_tos != 0
        || k.tun_ttl != 0;
    if tun {
        m.tun_id = u64::MAX;
        if tun_v6 {
            m.tun_ipv6_src = [0xff; 16];
            m.tun_ipv6_dst = [0xff; 16];
        } else {
            m.tun_ipv4_src = u32::MAX;
            m.tun_ipv4_dst = u32::MAX;
        }
        m.tun_tos = u8::MAX;
        m.tun_ttl = u8::MAX;
        m.tun_tp_src = u16::MAX;
        m.tun_tp_dst = u16::MAX;
        m.tun_flags = u16::MAX;
        if k.tun_md_present != 0 {
            m.tun_md_present = u8::MAX;
            m.tun_metadata = [0xff; crate::tlv::TUN_METADATA_BYTES];
        }
    }
    m.recirc_id = u32::MAX;
    m.in_port = u32::MAX;
    if k.dp_hash != 0 {
        m.dp_hash = u32::MAX;
    }
    if k.parse_err != 0 {
        m.parse_err = u8::MAX;
    }
    m.eth_src = [0xff; 6];
    m.eth_dst = [0xff; 6];
    m.eth_type = u16::MAX;
    for i in 0..2 {
        m.vlan_tci[i] = u16::MAX;
        if k.vlan_tci[i] & VLAN_CFI == 0 {
            break;
        }
        m.vlan_tpid[i] = u16::MAX;
    }
    let l3 = matches!(k.eth_type, ethertype::IPV4 | ethertype::IPV6);
    match k.eth_type {
        ethertype::IPV4 => {
            m.nw_src = u32::MAX;
            m.nw_dst = u32::MAX;
        }
        ethertype::IPV6 => {
            m.ipv6_src = [0xff; 16];
            m.ipv6_dst = [0xff; 16];
            m.ipv6_label = u32::MAX;
        }
        ethertype::ARP | ethertype::RARP => {
            m.nw_src = u32::MAX;
            m.nw_dst = u32::MAX;
            m.nw_proto = u8::MAX;
            m.arp_sha = [0xff; 6];
            m.arp_tha = [0xff; 6];
        }
        _ => {}
    }
    if l3 {
        m.nw_proto = u8::MAX;
        m.nw_tos = u8::MAX;
        m.nw_ttl = u8::MAX;
        m.nw_frag = u8::MAX;
        let v4 = k.eth_type == ethertype::IPV4;
        match k.nw_proto {
            ipproto::TCP => {
                m.tp_src = u16::MAX;
                m.tp_dst = u16::MAX;
                m.tcp_flags = u16::MAX;
            }
            ipproto::UDP | ipproto::SCTP => {
                m.tp_src = u16::MAX;
                m.tp_dst = u16::MAX;
            }
            ipproto::ICMP if v4 => {
                m.tp_src = u16::MAX;
                m.tp_dst = u16::MAX;
            }
            ipproto::ICMPV6 if !v4 => {
                m.tp_src = u16::MAX;
                m.tp_dst = u16::MAX;
                if k.tp_src == 135 || k.tp_src == 136 {
                    m.nd_target = [0xff; 16];
                    m.arp_sha = [0xff; 6];
                    m.arp_tha = [0xff; 6];
                }
            }
            _ => {}
        }
    }
    FlowMask(m)
}

/// The option area as `0xVALUE[/0xMASK]`, up to the last byte the mask
/// keeps (None when it keeps none); the mask is left out when it keeps
/// every printed byte whole.
fn md_bytes(v: &[u8], m: &[u8]) -> Option<String> {
    let n = m.iter().rposition(|b| *b != 0)? + 1;
    let hexs = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let val = hexs(&v[..n]);
    if m[..n].iter().all(|b| *b == 0xff) {
        Some(format!("0x{val}"))
    } else {
        Some(format!("0x{val}/0x{}", hexs(&m[..n])))
    }
}

/// Formats `key` under `mask` (see [`super::format_key`]).
pub(crate) fn key_masked(key: &FlowKey, mask: &FlowMask, names: Option<PortNames<'_>>) -> String {
    let m = &mask.0;
    let k = key.masked(mask);
    let mut out = Vec::new();

    let mut f = Fields::default();
    f.num("tun_id", k.tun_id, m.tun_id, u64::MAX, Style::Hex0x);
    f.ip4("src", k.tun_ipv4_src, m.tun_ipv4_src);
    f.ip4("dst", k.tun_ipv4_dst, m.tun_ipv4_dst);
    f.ip6("ipv6_src", &k.tun_ipv6_src, &m.tun_ipv6_src);
    f.ip6("ipv6_dst", &k.tun_ipv6_dst, &m.tun_ipv6_dst);
    f.num("tos", k.tun_tos.into(), m.tun_tos.into(), 0xff, Style::Hex);
    f.num("ttl", k.tun_ttl.into(), m.tun_ttl.into(), 0xff, Style::Dec);
    f.num(
        "tp_src",
        k.tun_tp_src.into(),
        m.tun_tp_src.into(),
        0xffff,
        Style::Dec,
    );
    f.num(
        "tp_dst",
        k.tun_tp_dst.into(),
        m.tun_tp_dst.into(),
        0xffff,
        Style::Dec,
    );
    if let Some(s) = tun_flags_str(k.tun_flags, m.tun_flags) {
        f.raw(&s);
    }
    // Geneve options mapped to tun_metadataN: which are present, and the
    // raw option area (laid out by the TLV map of the `tnl_pop` that
    // filled it; without that map the bytes cannot be named per field).
    f.num(
        "md_present",
        k.tun_md_present.into(),
        m.tun_md_present.into(),
        0xff,
        Style::Hex0x,
    );
    if let Some(s) = md_bytes(&k.tun_metadata, &m.tun_metadata) {
        f.raw(&format!("md={s}"));
    }
    f.into_attr("tunnel", &mut out);

    single(
        "recirc_id",
        k.recirc_id.into(),
        m.recirc_id.into(),
        u32::MAX.into(),
        Style::Hex,
        &mut out,
    );
    single(
        "dp_hash",
        k.dp_hash.into(),
        m.dp_hash.into(),
        u32::MAX.into(),
        Style::Hex,
        &mut out,
    );
    if m.in_port == u32::MAX {
        let name = names.and_then(|n| n(k.in_port));
        out.push(format!(
            "in_port({})",
            name.unwrap_or_else(|| k.in_port.to_string())
        ));
    } else {
        single(
            "in_port",
            k.in_port.into(),
            m.in_port.into(),
            u32::MAX.into(),
            Style::Dec,
            &mut out,
        );
    }
    single(
        "parse_err",
        k.parse_err.into(),
        m.parse_err.into(),
        0xff,
        Style::Hex,
        &mut out,
    );

    let mut f = Fields::default();
    f.mac("src", &k.eth_src, &m.eth_src);
    f.mac("dst", &k.eth_dst, &m.eth_dst);
    f.into_attr("eth", &mut out);

    l2_rest(&k, m, 0, &mut out);
    out.join(",")
}

fn l2_rest(k: &FlowKey, m: &FlowKey, level: usize, out: &mut Vec<String>) {
    if level < 2 && k.vlan_tci[level] & VLAN_CFI != 0 {
        eth_type_attr(k.vlan_tpid[level], m.vlan_tpid[level], out);
        let (t, tm) = (k.vlan_tci[level], m.vlan_tci[level]);
        let mut f = Fields::default();
        f.num(
            "vid",
            (t & 0xfff).into(),
            (tm & 0xfff).into(),
            0xfff,
            Style::Dec,
        );
        f.num("pcp", (t >> 13).into(), (tm >> 13).into(), 7, Style::Dec);
        out.push(format!("vlan({})", f.s));
        let mut inner = Vec::new();
        l2_rest(k, m, level + 1, &mut inner);
        out.push(format!("encap({})", inner.join(",")));
        return;
    }
    eth_type_attr(k.eth_type, m.eth_type, out);
    l3_l4(k, m, out);
}

fn l3_l4(k: &FlowKey, m: &FlowKey, out: &mut Vec<String>) {
    let mut f = Fields::default();
    match k.eth_type {
        ethertype::IPV4 => {
            f.ip4("src", k.nw_src, m.nw_src);
            f.ip4("dst", k.nw_dst, m.nw_dst);
            f.num(
                "proto",
                k.nw_proto.into(),
                m.nw_proto.into(),
                0xff,
                Style::Dec,
            );
            f.num("tos", k.nw_tos.into(), m.nw_tos.into(), 0xff, Style::Hex);
            f.num("ttl", k.nw_ttl.into(), m.nw_ttl.into(), 0xff, Style::Dec);
            frag_field(&mut f, k.nw_frag, m.nw_frag);
            f.into_attr("ipv4", out);
        }
        ethertype::IPV6 => {
            f.ip6("src", &k.ipv6_src, &m.ipv6_src);
            f.ip6("dst", &k.ipv6_dst, &m.ipv6_dst);
            f.num(
                "label",
                k.ipv6_label.into(),
                m.ipv6_label.into(),
                0xfffff,
                Style::Hex,
            );
            f.num(
                "proto",
                k.nw_proto.into(),
                m.nw_proto.into(),
                0xff,
                Style::Dec,
            );
            f.num("tclass", k.nw_tos.into(), m.nw_tos.into(), 0xff, Style::Hex);
            f.num("hlimit", k.nw_ttl.into(), m.nw_ttl.into(), 0xff, Style::Dec);
            frag_field(&mut f, k.nw_frag, m.nw_frag);
            f.into_attr("ipv6", out);
        }
        ethertype::ARP | ethertype::RARP => {
            f.ip4("sip", k.nw_src, m.nw_src);
            f.ip4("tip", k.nw_dst, m.nw_dst);
            f.num("op", k.nw_proto.into(), m.nw_proto.into(), 0xff, Style::Dec);
            f.mac("sha", &k.arp_sha, &m.arp_sha);
            f.mac("tha", &k.arp_tha, &m.arp_tha);
            f.into_attr("arp", out);
            return;
        }
        _ => return,
    }
    let v4 = k.eth_type == ethertype::IPV4;
    let ports = |f: &mut Fields, full: u64| {
        f.num("src", k.tp_src.into(), m.tp_src.into(), full, Style::Dec);
        f.num("dst", k.tp_dst.into(), m.tp_dst.into(), full, Style::Dec);
    };
    let mut f = Fields::default();
    match k.nw_proto {
        ipproto::TCP => {
            ports(&mut f, 0xffff);
            f.into_attr("tcp", out);
            if let Some(s) = tcp_flags_attr(k.tcp_flags, m.tcp_flags) {
                out.push(s);
            }
        }
        ipproto::UDP => {
            ports(&mut f, 0xffff);
            f.into_attr("udp", out);
        }
        ipproto::SCTP => {
            ports(&mut f, 0xffff);
            f.into_attr("sctp", out);
        }
        ipproto::ICMP if v4 => {
            f.num("type", k.tp_src.into(), m.tp_src.into(), 0xff, Style::Dec);
            f.num("code", k.tp_dst.into(), m.tp_dst.into(), 0xff, Style::Dec);
            f.into_attr("icmp", out);
        }
        ipproto::ICMPV6 if !v4 => {
            f.num("type", k.tp_src.into(), m.tp_src.into(), 0xff, Style::Dec);
            f.num("code", k.tp_dst.into(), m.tp_dst.into(), 0xff, Style::Dec);
            f.into_attr("icmpv6", out);
            if k.tp_src == 135 || k.tp_src == 136 {
                let mut f = Fields::default();
                f.ip6("target", &k.nd_target, &m.nd_target);
                f.mac("sll", &k.arp_sha, &m.arp_sha);
                f.mac("tll", &k.arp_tha, &m.arp_tha);
                f.into_attr("nd", out);
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------- actions

trait MaskedFmt {
    fn put(&self, f: &mut Fields, name: &str, style: Style);
}

macro_rules! masked_int {
    ($($t:ty),*) => {$(
        impl MaskedFmt for Masked<$t> {
            fn put(&self, f: &mut Fields, name: &str, style: Style) {
                f.num(name, self.value.into(), self.mask.into(), <$t>::MAX.into(), style);
            }
        }
    )*};
}
masked_int!(u8, u16);

impl MaskedFmt for Masked<u32> {
    fn put(&self, f: &mut Fields, name: &str, style: Style) {
        f.num(
            name,
            self.value.into(),
            self.mask.into(),
            u32::MAX.into(),
            style,
        );
    }
}

fn put_ip4(f: &mut Fields, name: &str, v: &Masked<u32>) {
    f.ip4(name, v.value, v.mask);
}

/// Formats one `set(tunnel(...))` body.
pub(crate) fn tunnel_meta(t: &TunnelMeta) -> String {
    let mut f = Fields::default();
    f.raw(&format!("tun_id=0x{:x}", t.tun_id));
    if t.ipv4_src != 0 {
        f.ip4("src", t.ipv4_src, u32::MAX);
    }
    if t.ipv4_dst != 0 {
        f.ip4("dst", t.ipv4_dst, u32::MAX);
    }
    if t.ipv6_src != [0; 16] {
        f.ip6("ipv6_src", &t.ipv6_src, &[0xff; 16]);
    }
    if t.ipv6_dst != [0; 16] {
        f.ip6("ipv6_dst", &t.ipv6_dst, &[0xff; 16]);
    }
    if t.tos != 0 {
        f.raw(&format!("tos={}", hx(t.tos.into())));
    }
    f.raw(&format!("ttl={}", t.ttl));
    if t.tp_src != 0 {
        f.raw(&format!("tp_src={}", t.tp_src));
    }
    if t.tp_dst != 0 {
        f.raw(&format!("tp_dst={}", t.tp_dst));
    }
    if let Some(s) = tun_flags_str(t.flags, u16::MAX) {
        f.raw(&s);
    }
    f.s
}

fn set_action(s: &SetAction) -> String {
    let mut f = Fields::default();
    let name = match s {
        SetAction::Eth { src, dst } => {
            f.mac("src", &src.value, &src.mask);
            f.mac("dst", &dst.value, &dst.mask);
            "eth"
        }
        SetAction::Ipv4 { src, dst, tos, ttl } => {
            put_ip4(&mut f, "src", src);
            put_ip4(&mut f, "dst", dst);
            tos.put(&mut f, "tos", Style::Hex);
            ttl.put(&mut f, "ttl", Style::Dec);
            "ipv4"
        }
        SetAction::Ipv6 {
            src,
            dst,
            label,
            tclass,
            hlimit,
        } => {
            f.ip6("src", &src.value, &src.mask);
            f.ip6("dst", &dst.value, &dst.mask);
            label.put(&mut f, "label", Style::Hex);
            tclass.put(&mut f, "tclass", Style::Hex);
            hlimit.put(&mut f, "hlimit", Style::Dec);
            "ipv6"
        }
        SetAction::Tcp { src, dst }
        | SetAction::Udp { src, dst }
        | SetAction::Sctp { src, dst } => {
            src.put(&mut f, "src", Style::Dec);
            dst.put(&mut f, "dst", Style::Dec);
            match s {
                SetAction::Tcp { .. } => "tcp",
                SetAction::Udp { .. } => "udp",
                _ => "sctp",
            }
        }
        SetAction::Tunnel(t) => {
            f.s = tunnel_meta(t);
            "tunnel"
        }
    };
    format!("set({name}({}))", f.s)
}

fn hex_bytes(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// Geneve option data as one hex number without leading zeros (as OVS).
fn geneve_data(b: &[u8]) -> String {
    let h = hex_bytes(b);
    let t = h.trim_start_matches('0');
    if t.is_empty() {
        "0x0".into()
    } else {
        format!("0x{t}")
    }
}

fn tnl_header(p: &TnlPush) -> String {
    let ty = tnl::type_number(p.tnl_type);
    let size = p.header.len();
    let h = Hdr::decode(&p.header, p.tnl_type)
        .filter(|h| h.is_ipv6() == p.ipv6 && (h.udp_csum != 0) == p.udp_csum);
    let Some(h) = h else {
        return format!(
            "header(size={size},type={ty},raw=0x{},ipv6={},udp_csum={})",
            hex_bytes(&p.header),
            u8::from(p.ipv6),
            u8::from(p.udp_csum)
        );
    };
    let dl_type = if h.is_ipv6() {
        ethertype::IPV6
    } else {
        ethertype::IPV4
    };
    let mut s = format!(
        "header(size={size},type={ty},eth(dst={},src={},dl_type=0x{dl_type:04x}),",
        mac(&h.eth_dst),
        mac(&h.eth_src)
    );
    match &h.l3 {
        L3::V4 {
            src,
            dst,
            proto,
            tos,
            ttl,
            frag,
        } => {
            let _ = write!(
                s,
                "ipv4(src={},dst={},proto={proto},tos={},ttl={ttl},frag=0x{frag:x}),",
                Ipv4Addr::from(*src),
                Ipv4Addr::from(*dst),
                hx((*tos).into())
            );
        }
        L3::V6 {
            src,
            dst,
            label,
            proto,
            tclass,
            hlimit,
        } => {
            let _ = write!(
                s,
                "ipv6(src={},dst={},label={label},proto={proto},tclass=0x{tclass:x},hlimit={hlimit}),",
                Ipv6Addr::from(*src),
                Ipv6Addr::from(*dst)
            );
        }
    }
    let _ = write!(
        s,
        "udp(src={},dst={},csum=0x{:x}),",
        h.udp_src, h.udp_dst, h.udp_csum
    );
    match &h.tun {
        Tun::Vxlan { flags, vni } => {
            let _ = write!(s, "vxlan(flags=0x{flags:x},vni=0x{vni:x})");
        }
        Tun::Geneve {
            oam,
            crit,
            vni,
            opts,
        } => {
            s.push_str("geneve(");
            if *oam {
                s.push_str("oam,");
            }
            if *crit {
                s.push_str("crit,");
            }
            let _ = write!(s, "vni=0x{vni:x}");
            if !opts.is_empty() {
                s.push_str(",options(");
                for (i, o) in opts.iter().enumerate() {
                    if i > 0 {
                        s.push(',');
                    }
                    let _ = write!(
                        s,
                        "{{class={},type={},len={}",
                        hx(o.class.into()),
                        hx(o.typ.into()),
                        o.data.len()
                    );
                    if !o.data.is_empty() {
                        let _ = write!(s, ",{}", geneve_data(&o.data));
                    }
                    s.push('}');
                }
                s.push(')');
            }
            s.push(')');
        }
    }
    s.push(')');
    s
}

/// Formats one action (see [`super::format_actions`]).
pub(crate) fn action(a: &DpAction, names: Option<PortNames<'_>>) -> String {
    let port = |p: u32| names.and_then(|n| n(p)).unwrap_or_else(|| p.to_string());
    match a {
        DpAction::Output(p) => port(*p),
        DpAction::Set(s) => set_action(s),
        DpAction::PushVlan { tpid, tci } => {
            let mut f = Fields::default();
            if *tpid != ethertype::VLAN {
                f.raw(&format!("tpid=0x{tpid:04x}"));
            }
            f.raw(&format!("vid={},pcp={}", tci & 0xfff, tci >> 13));
            if tci & VLAN_CFI != 0 {
                f.raw("cfi=1");
            }
            format!("push_vlan({})", f.s)
        }
        DpAction::PopVlan => "pop_vlan".into(),
        DpAction::Recirc(id) => format!("recirc({})", hx((*id).into())),
        DpAction::Hash { basis } => format!("hash(l4({basis}))"),
        DpAction::TnlPop(p) => match &p.tlv {
            Some(m) => format!("tnl_pop({},tlv({}))", port(p.port), m.to_dp_string()),
            None => format!("tnl_pop({})", port(p.port)),
        },
        DpAction::Userspace { cookie } => format!("userspace(cookie={})", hx(*cookie)),
        DpAction::TnlPush(p) => format!(
            "tnl_push(tnl_port({}),{},out_port({}))",
            port(p.tnl_port),
            tnl_header(p),
            port(p.out_port)
        ),
    }
}
