//! Action lists: `output:2,mod_dl_src:...,load:...,resubmit(,2)`.

use super::parse_match::prereq_ok;
use super::token::Tokens;
use super::value::{exact_mask, parse_int_max, parse_masked, parse_port, parse_uint, parse_value};
use super::FlowParseError;
use crate::field::Field;
use crate::flow::Match;
use crate::flow_mod::PortNames;
use crate::ofaction::{ofp, OfAction, SetStyle};

fn bad(action: &str, reason: impl Into<String>) -> FlowParseError {
    FlowParseError::BadAction {
        action: action.to_string(),
        reason: reason.into(),
    }
}

/// `mod_*` actions: (name, field written).
pub(crate) const MOD_ACTIONS: &[(&str, Field)] = &[
    ("mod_dl_src", Field::EthSrc),
    ("mod_dl_dst", Field::EthDst),
    ("mod_nw_src", Field::Ipv4Src),
    ("mod_nw_dst", Field::Ipv4Dst),
    ("mod_nw_tos", Field::NwTos),
    ("mod_nw_ecn", Field::NwEcn),
    ("mod_nw_ttl", Field::NwTtl),
    ("mod_tp_src", Field::TpSrc),
    ("mod_tp_dst", Field::TpDst),
    ("mod_vlan_vid", Field::DlVlan),
    ("mod_vlan_pcp", Field::VlanPcp),
];

/// A port to output to: regular ports and the reserved ports that make
/// sense in a rule.
fn output_port(action: &str, s: &str, ports: &dyn PortNames) -> Result<u32, FlowParseError> {
    let p = parse_port(action, s, ports)?;
    if p == ofp::NONE || p == ofp::TABLE {
        return Err(bad(action, format!("cannot output to port \"{s}\"")));
    }
    Ok(p)
}

fn output_action(p: u32, max_len: u16) -> OfAction {
    if p == ofp::CONTROLLER {
        OfAction::Controller { max_len }
    } else {
        OfAction::Output(p)
    }
}

/// `F[]`, `F[a]`, `F[a..b]` → (field, ofs, n_bits).
fn parse_subfield(
    action: &str,
    s: &str,
    ports: &dyn PortNames,
) -> Result<(Field, u32, u32), FlowParseError> {
    let s = s.trim();
    let (name, range) = match s.find('[') {
        Some(i) => (&s[..i], Some(&s[i..])),
        None => (s, None),
    };
    let f = super::resolve_field(name, ports)?;
    let w = f.width();
    let Some(range) = range else {
        return Err(bad(
            action,
            format!("\"{s}\": missing bit range (use {name}[])"),
        ));
    };
    let inner = range
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .ok_or_else(|| bad(action, format!("\"{s}\": bad bit range")))?;
    if inner.is_empty() {
        return Ok((f, 0, w));
    }
    let num = |x: &str| {
        parse_uint(x)
            .filter(|v| *v < 1 << 16)
            .map(|v| v as u32)
            .ok_or_else(|| bad(action, format!("\"{s}\": bad bit range")))
    };
    let (a, b) = match inner.split_once("..") {
        Some((a, b)) => (num(a)?, num(b)?),
        None => {
            let a = num(inner)?;
            (a, a)
        }
    };
    if a > b || b >= w {
        return Err(bad(
            action,
            format!("\"{s}\": bits {a}..{b} do not fit {name}, which is {w} bits wide"),
        ));
    }
    Ok((f, a, b - a + 1))
}

fn parse_u8_table(action: &str, s: &str) -> Result<u8, FlowParseError> {
    Ok(parse_int_max(action, s, 254)? as u8)
}

/// Parses a list of actions (what follows `actions=`). `drop` alone and
/// the empty string both give the empty list.
pub fn parse_actions(s: &str, ports: &dyn PortNames) -> Result<Vec<OfAction>, FlowParseError> {
    let mut out = Vec::new();
    let mut drop = false;
    for tok in Tokens::new(s) {
        let tok = tok?;
        let key = tok.key;
        let arg = tok.value;
        let need = || {
            arg.filter(|v| !v.is_empty())
                .ok_or_else(|| FlowParseError::MissingValue {
                    key: key.to_string(),
                })
        };
        let no_arg = || match arg {
            Some(_) if !key.eq_ignore_ascii_case("dec_ttl") => Err(bad(key, "takes no argument")),
            _ => Ok(()),
        };
        if let Some((_, f)) = MOD_ACTIONS.iter().find(|(n, _)| *n == key) {
            let v = need()?;
            let value = match f {
                Field::DlVlan => parse_int_max(key, v, 0xfff)?,
                Field::VlanPcp => parse_int_max(key, v, 7)?,
                Field::NwEcn => parse_int_max(key, v, 3)?,
                _ => parse_value(*f, key, v, ports)?,
            };
            out.push(OfAction::SetField {
                field: *f,
                value,
                mask: f.all_ones(),
                style: SetStyle::Mod,
            });
            continue;
        }
        let a = match key {
            "drop" => {
                no_arg()?;
                drop = true;
                continue;
            }
            "output" => {
                let v = need()?;
                if tok.paren {
                    let mut port = None;
                    for t in Tokens::new(v) {
                        let t = t?;
                        match (t.key, t.value) {
                            ("port", Some(p)) => port = Some(output_port(key, p, ports)?),
                            ("max_len", _) => {
                                return Err(bad(key, "max_len (truncation) is not supported"))
                            }
                            (k, _) => return Err(bad(key, format!("unknown argument \"{k}\""))),
                        }
                    }
                    let p = port.ok_or_else(|| bad(key, "missing port"))?;
                    output_action(p, u16::MAX)
                } else {
                    output_action(output_port(key, v, ports)?, u16::MAX)
                }
            }
            "controller" => {
                let mut max_len = u16::MAX;
                match arg {
                    None => {}
                    Some(v) if !tok.paren => max_len = parse_int_max(key, v, 0xffff)? as u16,
                    Some(v) => {
                        for t in Tokens::new(v) {
                            let t = t?;
                            match t.key {
                                "max_len" => {
                                    let n =
                                        t.value.ok_or_else(|| FlowParseError::MissingValue {
                                            key: "max_len".into(),
                                        })?;
                                    max_len = parse_int_max("max_len", n, 0xffff)? as u16;
                                }
                                "reason" | "id" | "userdata" | "pause" | "meter_id" => {}
                                k => return Err(bad(key, format!("unknown argument \"{k}\""))),
                            }
                        }
                    }
                }
                OfAction::Controller { max_len }
            }
            "strip_vlan" | "pop_vlan" => {
                no_arg()?;
                OfAction::StripVlan {
                    pop: key == "pop_vlan",
                }
            }
            "push_vlan" => {
                let v = need()?;
                let t = parse_int_max(key, v, 0xffff)? as u16;
                if t != 0x8100 && t != 0x88a8 {
                    return Err(bad(key, format!("ethertype {v} is not 0x8100 or 0x88a8")));
                }
                OfAction::PushVlan(t)
            }
            "dec_ttl" => {
                if let Some(ids) = arg {
                    for id in ids.split(',').map(str::trim).filter(|x| !x.is_empty()) {
                        parse_int_max(key, id, 0xffff)?;
                    }
                }
                OfAction::DecTtl
            }
            "set_field" => {
                let v = need()?;
                let (val, fname) = v
                    .rsplit_once("->")
                    .ok_or_else(|| bad(key, format!("\"{v}\": expected VALUE->FIELD")))?;
                let f = super::resolve_field(fname.trim(), ports)?;
                if !f.is_writable() {
                    return Err(bad(key, format!("{fname} is not writable")));
                }
                let (value, mask) = match val.split_once('/') {
                    // Frag and tcp_flags are not writable; every other
                    // field's masked form is VALUE/MASK.
                    Some((v, m)) => (
                        parse_value(f, fname, v, ports)?,
                        parse_value_or_prefix(f, fname, m, ports)?,
                    ),
                    None => (parse_value(f, fname, val, ports)?, f.all_ones()),
                };
                OfAction::SetField {
                    field: f,
                    value: value & mask,
                    mask,
                    style: SetStyle::SetField,
                }
            }
            "load" => {
                let v = need()?;
                let (val, dst) = v
                    .split_once("->")
                    .ok_or_else(|| bad(key, format!("\"{v}\": expected VALUE->FIELD[]")))?;
                let (dst, ofs, n_bits) = parse_subfield(key, dst, ports)?;
                if !dst.is_writable() {
                    return Err(bad(key, format!("{} is not writable", dst.name())));
                }
                let value = match parse_uint(val) {
                    Some(x) => x,
                    // A whole-field load may use the field's own syntax
                    // (an IP or MAC address).
                    None if ofs == 0 && n_bits == dst.width() => parse_value(dst, key, val, ports)?,
                    None => return Err(bad(key, format!("\"{val}\" is not a number"))),
                };
                if value & !crate::field::ones(n_bits) != 0 {
                    return Err(bad(
                        key,
                        format!("value {val} does not fit into {n_bits} bits"),
                    ));
                }
                OfAction::Load {
                    dst,
                    ofs,
                    n_bits,
                    value,
                }
            }
            "move" => {
                let v = need()?;
                let (src, dst) = v
                    .split_once("->")
                    .ok_or_else(|| bad(key, format!("\"{v}\": expected FIELD[]->FIELD[]")))?;
                let (src, src_ofs, n) = parse_subfield(key, src, ports)?;
                let (dst, dst_ofs, m) = parse_subfield(key, dst, ports)?;
                if n != m {
                    return Err(bad(
                        key,
                        format!("source has {n} bits but destination has {m} bits"),
                    ));
                }
                if !dst.is_writable() {
                    return Err(bad(key, format!("{} is not writable", dst.name())));
                }
                OfAction::Move {
                    src,
                    src_ofs,
                    dst,
                    dst_ofs,
                    n_bits: n,
                }
            }
            "resubmit" => {
                let v = arg.unwrap_or_default();
                let (p, t) = if tok.paren {
                    let mut parts = v.split(',');
                    let p = parts.next().unwrap_or("").trim();
                    let t = parts.next().unwrap_or("").trim();
                    match parts.next().map(str::trim) {
                        None | Some("") => {}
                        Some(x) => return Err(bad(key, format!("unsupported argument \"{x}\""))),
                    }
                    (p, t)
                } else {
                    (need()?, "")
                };
                let port = if p.is_empty() {
                    None
                } else {
                    Some(parse_port(key, p, ports)?).filter(|p| *p != ofp::IN_PORT)
                };
                let table = if t.is_empty() {
                    None
                } else {
                    Some(parse_int_max(key, t, 255)? as u8).filter(|t| *t != 255)
                };
                if port.is_none() && table.is_none() {
                    return Err(bad(key, "at least one of port and table must be given"));
                }
                OfAction::Resubmit { port, table }
            }
            "goto_table" => OfAction::GotoTable(parse_u8_table(key, need()?)?),
            "write_metadata" => {
                let v = need()?;
                let (val, mask) = v.split_once('/').unwrap_or((v, "0xffffffffffffffff"));
                OfAction::WriteMetadata {
                    value: parse_int_max(key, val, u64::MAX as u128)? as u64,
                    mask: parse_int_max(key, mask, u64::MAX as u128)? as u64,
                }
            }
            "set_tunnel" | "set_tunnel64" => {
                let id = parse_int_max(key, need()?, u64::MAX as u128)? as u64;
                OfAction::SetTunnel {
                    id,
                    wide: key == "set_tunnel64" || id > u32::MAX as u64,
                }
            }
            "note" => OfAction::Note(parse_note(arg.unwrap_or_default())?),
            _ => {
                // A bare port: number, reserved name or port name. The
                // value, if any, is the controller's max_len.
                let Ok(p) = parse_port(key, key, ports) else {
                    return Err(FlowParseError::UnknownAction(key.to_string()));
                };
                if p == ofp::NONE || p == ofp::TABLE {
                    return Err(FlowParseError::UnknownAction(key.to_string()));
                }
                let max_len = match arg {
                    Some(v) if p == ofp::CONTROLLER => parse_int_max(key, v, 0xffff)? as u16,
                    Some(_) => return Err(bad(key, "takes no argument")),
                    None => u16::MAX,
                };
                output_action(p, max_len)
            }
        };
        out.push(a);
    }
    if drop && !out.is_empty() {
        return Err(FlowParseError::DropWithOtherActions);
    }
    if let Some(i) = out.iter().position(|a| matches!(a, OfAction::GotoTable(_))) {
        if i + 1 != out.len() {
            return Err(FlowParseError::GotoTableNotLast);
        }
    }
    let mut seen_meta = false;
    for a in &out {
        match a {
            OfAction::WriteMetadata { .. } if seen_meta => {
                return Err(bad("write_metadata", "given more than once"))
            }
            OfAction::WriteMetadata { .. } => seen_meta = true,
            OfAction::GotoTable(_) => {}
            _ if seen_meta => {
                return Err(bad(
                    "write_metadata",
                    "is an instruction: only goto_table may follow it",
                ))
            }
            _ => {}
        }
    }
    Ok(out)
}

/// A set_field mask: the field's syntax, or a prefix length for IPs.
fn parse_value_or_prefix(
    f: Field,
    key: &str,
    m: &str,
    ports: &dyn PortNames,
) -> Result<u128, FlowParseError> {
    // Reuse the match parser's mask handling with a dummy value.
    let zero = match f.format() {
        crate::field::Format::Ipv4 => "0.0.0.0",
        crate::field::Format::Ipv6 => "::",
        crate::field::Format::Mac => "00:00:00:00:00:00",
        _ => "0",
    };
    if f.format() == crate::field::Format::Port {
        return parse_value(f, key, m, ports);
    }
    let (_, mask) = parse_masked(f, key, &format!("{zero}/{m}"), ports).or_else(|e| {
        // Fields that do not take masks in a match may in set_field.
        if matches!(e, FlowParseError::MaskNotAllowed { .. }) {
            parse_value(f, key, m, ports).map(|m| (0, m))
        } else {
            Err(e)
        }
    })?;
    Ok(mask & exact_mask(f))
}

/// `note:` bytes: hex pairs, dots allowed between them.
fn parse_note(s: &str) -> Result<Vec<u8>, FlowParseError> {
    let digits: Vec<u8> = s.bytes().filter(|c| *c != b'.').collect();
    let hexval = |c: u8| (c as char).to_digit(16);
    if digits.len() & 1 == 1 {
        return Err(bad("note", format!("\"{s}\": odd number of hex digits")));
    }
    digits
        .chunks(2)
        .map(|p| match (hexval(p[0]), hexval(p[1])) {
            (Some(h), Some(l)) => Ok((h * 16 + l) as u8),
            _ => Err(bad("note", format!("\"{s}\": not hex bytes"))),
        })
        .collect()
}

/// Whether bits `ofs..ofs+n` exist in `f`.
fn fits(f: Field, ofs: u32, n: u32) -> bool {
    n >= 1 && ofs.checked_add(n).is_some_and(|end| end <= f.width())
}

/// Checks actions against the rule they belong to, as OVS does when a
/// flow is added: `set_field`/`mod_*`/`load`/`move` need their fields'
/// prerequisites guaranteed by the match (updated by earlier writes, so
/// `set_field:0x800->eth_type` makes IPv4 fields available), and
/// `goto_table` must go to a later table than `table`.
pub fn check_actions(actions: &[OfAction], m: &Match, table: u8) -> Result<(), FlowParseError> {
    let mut m = *m;
    let lacks = |action: &'static str, f: Field| FlowParseError::ActionPrerequisites {
        action,
        field: f.name(),
    };
    for a in actions {
        match a {
            OfAction::SetField {
                field,
                value,
                mask,
                style: _,
            } => {
                if !prereq_ok(*field, &m) {
                    return Err(lacks("set_field", *field));
                }
                let old_v = field.get(&m.flow);
                let old_m = field.get(&m.mask);
                field.set(&mut m.flow, (old_v & !mask) | (value & mask));
                field.set(&mut m.mask, old_m | mask);
            }
            OfAction::Load {
                dst,
                ofs,
                n_bits,
                value,
            } => {
                if !prereq_ok(*dst, &m) {
                    return Err(lacks("load", *dst));
                }
                if !fits(*dst, *ofs, *n_bits) {
                    return Err(bad("load", "bit range does not fit the field"));
                }
                dst.set_bits(&mut m.flow, *ofs, *n_bits, *value);
                dst.set_bits(&mut m.mask, *ofs, *n_bits, u128::MAX);
            }
            OfAction::Move {
                src,
                src_ofs,
                dst,
                dst_ofs,
                n_bits,
            } => {
                if !prereq_ok(*src, &m) {
                    return Err(lacks("move", *src));
                }
                if !prereq_ok(*dst, &m) {
                    return Err(lacks("move", *dst));
                }
                if !fits(*src, *src_ofs, *n_bits) || !fits(*dst, *dst_ofs, *n_bits) {
                    return Err(bad("move", "bit range does not fit the field"));
                }
                dst.set_bits(&mut m.mask, *dst_ofs, *n_bits, 0);
            }
            OfAction::GotoTable(t) if *t <= table => {
                return Err(FlowParseError::GotoTableBackwards {
                    from: table,
                    to: *t,
                });
            }
            _ => {}
        }
        m.normalize();
    }
    Ok(())
}
