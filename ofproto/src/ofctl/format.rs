//! Printing matches and actions in `ovs-ofctl dump-flows` form.

use super::parse_actions::MOD_ACTIONS;
use super::value::{exact_mask, format_masked, format_port, format_value, hex};
use crate::field::{Field, Format};
use crate::flow::{Flow, Match};
use crate::flow_mod::PortNames;
use crate::ofaction::{ofp, OfAction, SetStyle};
use dpif_netdev::key::{ethertype, ipproto, VLAN_CFI, VLAN_PCP_MASK, VLAN_VID_MASK};

/// Collects `name=value` items, remembering which bits were printed.
struct Printer<'a> {
    m: &'a Match,
    /// Mask bits not yet printed.
    left: Flow,
    out: Vec<String>,
    ports: &'a dyn PortNames,
}

impl Printer<'_> {
    /// Prints `f` under `name` if any of its mask bits are left.
    fn field_as(&mut self, f: Field, name: &str) {
        let mask = f.get(&self.left);
        if mask == 0 {
            return;
        }
        let v = f.get(&self.m.flow) & mask;
        if let Some(s) = format_masked(f, v, mask, self.ports) {
            self.out.push(format!("{name}={s}"));
        }
        f.set(&mut self.left, 0);
    }

    fn field(&mut self, f: Field) {
        self.field_as(f, &f.name());
    }
}

/// The shorthand keyword for an exact eth_type (and nw_proto), as OVS
/// prints it, and whether it covered nw_proto.
fn shorthand(m: &Match) -> Option<(&'static str, bool)> {
    let k = &m.flow.key;
    let mk = &m.mask.key;
    if mk.eth_type != 0xffff {
        return None;
    }
    let proto = (mk.nw_proto == 0xff).then_some(k.nw_proto);
    let (v4, v6) = match proto {
        Some(ipproto::ICMP) => (Some("icmp"), None),
        Some(ipproto::ICMPV6) => (None, Some("icmp6")),
        Some(ipproto::TCP) => (Some("tcp"), Some("tcp6")),
        Some(ipproto::UDP) => (Some("udp"), Some("udp6")),
        Some(ipproto::SCTP) => (Some("sctp"), Some("sctp6")),
        _ => (None, None),
    };
    match k.eth_type {
        ethertype::IPV4 => Some(v4.map_or(("ip", false), |s| (s, true))),
        ethertype::IPV6 => Some(v6.map_or(("ipv6", false), |s| (s, true))),
        ethertype::ARP => Some(("arp", false)),
        ethertype::RARP => Some(("rarp", false)),
        _ => None,
    }
}

/// Prints a match as `ovs-ofctl dump-flows` does: `priority=` (when
/// given), the protocol keyword, then the fields in OVS's order. Exact
/// fields print as `name=value`, masked ones as `name=value/mask`, IP
/// prefix masks in CIDR form. The empty match with no priority prints as
/// the empty string.
pub fn format_match(m: &Match, priority: Option<u16>, ports: &dyn PortNames) -> String {
    let mut m = *m;
    m.normalize();
    let mut p = Printer {
        m: &m,
        left: m.mask,
        out: Vec::new(),
        ports,
    };
    if let Some(prio) = priority {
        p.out.push(format!("priority={prio}"));
    }
    let k = m.flow.key;
    let mk = m.mask.key;
    if let Some((kw, covers_proto)) = shorthand(&m) {
        p.out.push(kw.to_string());
        Field::EthType.set(&mut p.left, 0);
        if covers_proto {
            Field::NwProto.set(&mut p.left, 0);
        }
    }
    for r in 0..16 {
        p.field(Field::Reg(r));
    }
    for f in [
        Field::TunId,
        Field::TunSrc,
        Field::TunDst,
        Field::TunIpv6Src,
        Field::TunIpv6Dst,
        Field::TunFlags,
        Field::TunTos,
        Field::TunTtl,
    ] {
        p.field(f);
    }
    // tun_metadataN, placed by the bridge's TLV map; presence is implied
    // by the field being printed (a parsed match always sets both).
    if let Some(map) = ports.tlv_map() {
        for e in map.entries() {
            let Some(f) = Field::tun_metadata(&map, e.map.idx) else {
                continue;
            };
            if mk.tun_md_present & f.present_bit() == 0 {
                continue;
            }
            if f.get(&p.left) == 0 {
                // Only presence is matched.
                p.out.push(format!("{}=0/0", f.name()));
            } else {
                p.field(f);
            }
        }
    }
    p.left.key.tun_md_present = 0;
    for f in [Field::Metadata, Field::InPort] {
        p.field(f);
    }
    // VLAN: dl_vlan / dl_vlan_pcp when they say it all, else vlan_tci.
    let tci_m = mk.vlan_tci[0];
    if tci_m != 0 {
        let tci = k.vlan_tci[0];
        let vid_m = tci_m & VLAN_VID_MASK;
        let pcp_m = tci_m & VLAN_PCP_MASK;
        if tci_m & VLAN_CFI != 0
            && tci & VLAN_CFI != 0
            && (vid_m == 0 || vid_m == VLAN_VID_MASK)
            && (pcp_m == 0 || pcp_m == VLAN_PCP_MASK)
            && (vid_m != 0 || pcp_m != 0)
        {
            if vid_m != 0 {
                p.out.push(format!("dl_vlan={}", tci & VLAN_VID_MASK));
            }
            if pcp_m != 0 {
                p.out.push(format!("dl_vlan_pcp={}", tci >> 13));
            }
            Field::VlanTci.set(&mut p.left, 0);
        } else {
            p.field_as(Field::VlanTci, "vlan_tci");
        }
    }
    p.field_as(Field::EthSrc, "dl_src");
    p.field_as(Field::EthDst, "dl_dst");
    p.field_as(Field::EthType, "dl_type");
    let exact_type = |t: u16| mk.eth_type == 0xffff && k.eth_type == t;
    let arp = exact_type(ethertype::ARP) || exact_type(ethertype::RARP);
    let ip4 = exact_type(ethertype::IPV4);
    let ip6 = exact_type(ethertype::IPV6);
    if ip6 {
        p.field(Field::Ipv6Src);
        p.field(Field::Ipv6Dst);
        p.field(Field::Ipv6Label);
    } else if arp {
        p.field(Field::ArpSpa);
        p.field(Field::ArpTpa);
    } else {
        p.field(Field::NwSrc);
        p.field(Field::NwDst);
    }
    if arp {
        p.field(Field::ArpOp);
        p.field(Field::ArpSha);
        p.field(Field::ArpTha);
    } else {
        p.field(Field::NwProto);
    }
    if mk.nw_tos & 0xfc == 0xfc {
        p.field(Field::NwTos);
    } else {
        p.field(Field::IpDscp);
    }
    p.field(Field::NwEcn);
    p.field(Field::NwTtl);
    p.field(Field::NwFrag);
    let proto = (mk.nw_proto == 0xff).then_some(k.nw_proto);
    if ip4 && proto == Some(ipproto::ICMP) {
        p.field_as(Field::IcmpType, "icmp_type");
        p.field_as(Field::IcmpCode, "icmp_code");
    } else if ip6 && proto == Some(ipproto::ICMPV6) {
        p.field(Field::Icmpv6Type);
        p.field(Field::Icmpv6Code);
        p.field(Field::NdTarget);
        p.field(Field::NdSll);
        p.field(Field::NdTll);
    } else {
        p.field(Field::TpSrc);
        p.field(Field::TpDst);
    }
    p.field(Field::TcpFlags);
    // Anything left (only reachable for matches no parse produces):
    // print it under a generic name so nothing is silently lost.
    for f in [
        Field::Ipv6Src,
        Field::Ipv6Dst,
        Field::Ipv6Label,
        Field::NwSrc,
        Field::NwDst,
        Field::NwProto,
        Field::ArpSha,
        Field::ArpTha,
        Field::NdTarget,
        Field::TpSrc,
        Field::TpDst,
    ] {
        p.field(f);
    }
    p.out.join(",")
}

/// `NAME[]`, `NAME[a]` or `NAME[a..b]`.
fn subfield(f: Field, ofs: u32, n: u32) -> String {
    let name = f.nxm_name();
    if ofs == 0 && n == f.width() {
        format!("{name}[]")
    } else if n == 1 {
        format!("{name}[{ofs}]")
    } else {
        format!("{name}[{ofs}..{}]", ofs.saturating_add(n.saturating_sub(1)))
    }
}

fn format_action(a: &OfAction, ports: &dyn PortNames) -> String {
    match a {
        OfAction::Output(p) => {
            if ofp::reserved_name(*p).is_some() {
                format_port(*p, ports)
            } else {
                format!("output:{}", format_port(*p, ports))
            }
        }
        OfAction::Controller { max_len } => format!("CONTROLLER:{max_len}"),
        OfAction::SetField {
            field,
            value,
            mask,
            style,
        } => {
            let full = *mask == field.all_ones();
            let mod_name = MOD_ACTIONS
                .iter()
                .find(|(_, f)| f == field)
                .map(|(n, _)| *n);
            match (style, mod_name) {
                (SetStyle::Mod, Some(name)) if full => {
                    format!("{name}:{}", format_value(*field, *value, ports))
                }
                _ => {
                    let v = format_value(*field, value & mask, ports);
                    if full {
                        format!("set_field:{v}->{}", field.name())
                    } else {
                        // The match syntax (CIDR for IPs, hex masks for
                        // numbers), except where a mask equal to the
                        // field's storage would print as no mask at all.
                        let vm = (*mask != exact_mask(*field))
                            .then(|| format_masked(*field, value & mask, *mask, ports))
                            .flatten();
                        let vm = vm.unwrap_or_else(|| {
                            let m = match field.format() {
                                Format::Mac | Format::Ipv4 | Format::Ipv6 => {
                                    format_value(*field, *mask, ports)
                                }
                                _ => hex(*mask),
                            };
                            format!("{v}/{m}")
                        });
                        format!("set_field:{vm}->{}", field.name())
                    }
                }
            }
        }
        OfAction::Load {
            dst,
            ofs,
            n_bits,
            value,
        } => format!("load:{}->{}", hex(*value), subfield(*dst, *ofs, *n_bits)),
        OfAction::Move {
            src,
            src_ofs,
            dst,
            dst_ofs,
            n_bits,
        } => format!(
            "move:{}->{}",
            subfield(*src, *src_ofs, *n_bits),
            subfield(*dst, *dst_ofs, *n_bits)
        ),
        OfAction::StripVlan { pop: false } => "strip_vlan".into(),
        OfAction::StripVlan { pop: true } => "pop_vlan".into(),
        OfAction::PushVlan(t) => format!("push_vlan:{t:#06x}"),
        OfAction::DecTtl => "dec_ttl".into(),
        OfAction::Resubmit { port, table } => match (port, table) {
            (Some(p), None) => format!("resubmit:{}", format_port(*p, ports)),
            _ => format!(
                "resubmit({},{})",
                port.map(|p| format_port(p, ports)).unwrap_or_default(),
                table.map(|t| t.to_string()).unwrap_or_default()
            ),
        },
        OfAction::GotoTable(t) => format!("goto_table:{t}"),
        OfAction::WriteMetadata { value, mask } => {
            if *mask == u64::MAX {
                format!("write_metadata:{}", hex(*value as u128))
            } else {
                format!(
                    "write_metadata:{}/{}",
                    hex(*value as u128),
                    hex(*mask as u128)
                )
            }
        }
        OfAction::SetTunnel { id, wide } => {
            if *wide {
                format!("set_tunnel64:{}", hex(*id as u128))
            } else {
                format!("set_tunnel:{}", hex(*id as u128))
            }
        }
        OfAction::Note(bytes) => format!(
            "note:{}",
            bytes
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(".")
        ),
    }
}

/// Prints actions as `dump-flows` does: comma-separated, `drop` for none.
pub fn format_actions(a: &[OfAction], ports: &dyn PortNames) -> String {
    if a.is_empty() {
        return "drop".into();
    }
    a.iter()
        .map(|x| format_action(x, ports))
        .collect::<Vec<_>>()
        .join(",")
}
