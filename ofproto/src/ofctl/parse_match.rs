//! The match part of a flow: fields, protocol shorthands, prerequisites.

use super::token::Tokens;
use super::value::{parse_int_max, parse_masked};
use super::FlowParseError;
use crate::field::{Field, Prereq};
use crate::flow::Match;
use crate::flow_mod::PortNames;
use dpif_netdev::key::{ethertype, ipproto, VLAN_CFI};

/// Protocol keywords: (name, eth_type, nw_proto).
pub(crate) const SHORTHANDS: &[(&str, u16, Option<u8>)] = &[
    ("ip", ethertype::IPV4, None),
    ("ipv6", ethertype::IPV6, None),
    ("icmp", ethertype::IPV4, Some(ipproto::ICMP)),
    ("icmp6", ethertype::IPV6, Some(ipproto::ICMPV6)),
    ("tcp", ethertype::IPV4, Some(ipproto::TCP)),
    ("tcp6", ethertype::IPV6, Some(ipproto::TCP)),
    ("udp", ethertype::IPV4, Some(ipproto::UDP)),
    ("udp6", ethertype::IPV6, Some(ipproto::UDP)),
    ("sctp", ethertype::IPV4, Some(ipproto::SCTP)),
    ("sctp6", ethertype::IPV6, Some(ipproto::SCTP)),
    ("arp", ethertype::ARP, None),
    ("rarp", ethertype::RARP, None),
];

/// What a prerequisite asks of a match, in flow syntax words.
pub(crate) fn prereq_words(p: Prereq) -> &'static str {
    match p {
        Prereq::None => "nothing",
        Prereq::Arp => "arp or rarp",
        Prereq::Ipv4 => "ip",
        Prereq::Ipv6 => "ipv6",
        Prereq::IpAny => "ip or ipv6",
        Prereq::Ipv4OrArp => "ip, arp or rarp",
        Prereq::Tcp => "tcp or tcp6",
        Prereq::Udp => "udp or udp6",
        Prereq::Sctp => "sctp or sctp6",
        Prereq::L4Ports => "tcp, udp or sctp",
        Prereq::Icmpv4 => "icmp",
        Prereq::Icmpv6 => "icmp6",
        Prereq::Nd => "icmp6 with icmp_type=135 or 136 and icmp_code=0",
        Prereq::NdSolicit => "icmp6 with icmp_type=135 and icmp_code=0",
        Prereq::NdAdvert => "icmp6 with icmp_type=136 and icmp_code=0",
    }
}

/// Whether `m` guarantees `f` exists. `icmp_type`/`icmp_code` are also
/// accepted on ICMPv6 flows (the same storage), as OVS prints them there.
pub(crate) fn prereq_ok(f: Field, m: &Match) -> bool {
    f.prereq().guaranteed_by(m)
        || (matches!(f, Field::IcmpType | Field::IcmpCode) && Prereq::Icmpv6.guaranteed_by(m))
}

/// Accumulates match fields one token at a time.
pub(crate) struct MatchBuilder<'p> {
    ports: &'p dyn PortNames,
    m: Match,
    /// Fields given, with the name the user wrote, for prerequisites.
    fields: Vec<(Field, String)>,
    /// Shorthand keywords given.
    shorthands: Vec<String>,
}

impl<'p> MatchBuilder<'p> {
    pub fn new(ports: &'p dyn PortNames) -> Self {
        MatchBuilder {
            ports,
            m: Match::ANY,
            fields: Vec::new(),
            shorthands: Vec::new(),
        }
    }

    /// ANDs `value/mask` of `f` into the match; bits already matched must
    /// agree.
    fn apply(&mut self, f: Field, v: u128, mask: u128, key: &str) -> Result<(), FlowParseError> {
        let old_m = f.get(&self.m.mask);
        let old_v = f.get(&self.m.flow);
        if (old_v ^ v) & old_m & mask != 0 {
            return Err(FlowParseError::ConflictingField {
                field: key.to_string(),
            });
        }
        f.set(&mut self.m.mask, old_m | mask);
        f.set(&mut self.m.flow, (old_v & old_m) | (v & mask));
        // A tun_metadata match also requires the option to be present,
        // as in OVS (so `tun_metadata0=0` does not match a packet without
        // the option).
        self.m.mask.key.tun_md_present |= f.present_bit();
        self.m.flow.key.tun_md_present |= f.present_bit();
        Ok(())
    }

    /// Adds one `key[=value]` item.
    pub fn add_token(&mut self, key: &str, value: Option<&str>) -> Result<(), FlowParseError> {
        if let Some((_, ty, proto)) = SHORTHANDS.iter().find(|(n, _, _)| *n == key) {
            if let Some(v) = value {
                return Err(FlowParseError::InvalidValue {
                    field: key.to_string(),
                    kind: "keyword (takes no value)",
                    value: v.to_string(),
                });
            }
            if self.shorthands.iter().any(|s| s == key) {
                return Err(FlowParseError::DuplicateField {
                    field: key.to_string(),
                });
            }
            self.shorthands.push(key.to_string());
            self.apply(Field::EthType, *ty as u128, 0xffff, key)?;
            if let Some(p) = proto {
                self.apply(Field::NwProto, *p as u128, 0xff, key)?;
            }
            return Ok(());
        }
        let f = super::resolve_field(key, self.ports)?;
        let Some(v) = value.filter(|v| !v.is_empty()) else {
            return Err(FlowParseError::MissingValue {
                key: key.to_string(),
            });
        };
        if self.fields.iter().any(|(g, _)| *g == f) {
            return Err(FlowParseError::DuplicateField {
                field: key.to_string(),
            });
        }
        let cfi = VLAN_CFI as u128;
        match f {
            Field::DlVlan | Field::VlanPcp => {
                if v.contains('/') {
                    return Err(FlowParseError::MaskNotAllowed {
                        field: key.to_string(),
                    });
                }
                let n = parse_int_max(key, v, 0xffff)?;
                let (val, mask) = match f {
                    Field::DlVlan if n == 0xffff => (0, 0xffff),
                    Field::DlVlan if n <= 0xfff => (cfi | n, 0x1fff),
                    Field::VlanPcp if n <= 7 => ((n << 13) | cfi, 0xf000),
                    _ => {
                        return Err(FlowParseError::OutOfRange {
                            field: key.to_string(),
                            value: v.to_string(),
                        })
                    }
                };
                self.apply(Field::VlanTci, val, mask, key)?;
            }
            _ => {
                let (val, mask) = parse_masked(f, key, v, self.ports)?;
                self.apply(f, val, mask, key)?;
            }
        }
        self.fields.push((f, key.to_string()));
        Ok(())
    }

    /// Checks prerequisites of every field given and returns the match.
    pub fn finish(self) -> Result<Match, FlowParseError> {
        for (f, key) in &self.fields {
            if !prereq_ok(*f, &self.m) {
                return Err(FlowParseError::Prerequisites {
                    field: key.clone(),
                    needs: prereq_words(f.prereq()),
                });
            }
        }
        let mut m = self.m;
        m.normalize();
        Ok(m)
    }
}

/// Parses just a match (`in_port=1,tcp,tp_dst=80`), as `del-flows` and
/// `ofproto/trace` take it. Flow options (`priority=`, `actions=`) are
/// not part of a match and are reported as unknown fields.
pub fn parse_match(s: &str, ports: &dyn PortNames) -> Result<Match, FlowParseError> {
    let mut mb = MatchBuilder::new(ports);
    for tok in Tokens::new(s) {
        let tok = tok?;
        mb.add_token(tok.key, tok.value)?;
    }
    mb.finish()
}
