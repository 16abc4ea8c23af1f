//! The `ovs-ofctl` flow syntax: parsing `add-flow` / `mod-flows` /
//! `del-flows` lines into [`FlowMod`]s and printing them back in
//! `dump-flows` form.
//!
//! A line is a comma- or whitespace-separated list of `key=value`,
//! `key:value` and bare keywords, with `actions=` taking the rest of the
//! line:
//!
//! ```text
//! table=0,priority=10,tcp,in_port=1,nw_dst=10.0.0.0/8,tp_dst=80 actions=output:2
//! ```
//!
//! - [`parse_flow_mod`] / [`parse_flow_mods`]: one line / a whole file.
//! - [`parse_match`]: just the match part (`del-flows`, `ofproto/trace`).
//! - [`parse_actions`]: just the actions.
//! - [`format_match`], [`format_actions`], [`format_flow_mod`]: the
//!   printing side; what they print parses back to the same value.
//!
//! Field names, widths, prerequisites and value formats come from the
//! [`crate::field`] registry. Errors are [`FlowParseError`]s naming the
//! field and the offending text; nothing in here panics on any input.
//!
//! Not supported (yet): conjunctive matches, connection tracking fields and
//! actions, MPLS, groups, meters, learn, bundle, multipath,
//! `check_overlap` and the other OpenFlow 1.3 flags. `tun_metadataN` is
//! resolved through the bridge's TLV map ([`PortNames::tlv_map`]).
//!
//! # Thread safety
//! Pure functions.

mod format;
mod parse_actions;
mod parse_match;
mod token;
mod value;

#[cfg(test)]
mod tests;

pub use format::{format_actions, format_match};
pub use parse_actions::{check_actions, parse_actions};
pub use parse_match::parse_match;

use crate::field::Field;
use crate::flow_mod::{FlowMod, FlowModCommand, PortNames, DEFAULT_PRIORITY};
use parse_match::MatchBuilder;
use token::Tokens;

/// Why a flow, match or action string did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowParseError {
    /// A key that is neither a field, a keyword nor a flow option.
    #[error("unknown field \"{0}\"")]
    UnknownField(String),
    /// A value that does not parse as the field's kind of value.
    #[error("{field}: invalid {kind} \"{value}\"")]
    InvalidValue {
        /// The field or key, as written.
        field: String,
        /// What was expected ("IP address", "MAC address", "number", ...).
        kind: &'static str,
        /// The text that did not parse.
        value: String,
    },
    /// A number too large for the field (or otherwise out of its range).
    #[error("{field}: value \"{value}\" out of range")]
    OutOfRange {
        /// The field or key, as written.
        field: String,
        /// The value, as written.
        value: String,
    },
    /// A `/mask` on a field that cannot be masked.
    #[error("{field}: field does not support masking")]
    MaskNotAllowed {
        /// The field, as written.
        field: String,
    },
    /// A field (or keyword) given twice.
    #[error("{field}: field specified more than once")]
    DuplicateField {
        /// The field, as written the second time.
        field: String,
    },
    /// A field that contradicts an earlier one (`tcp,udp`).
    #[error("{field}: value conflicts with an earlier field")]
    ConflictingField {
        /// The field, as written.
        field: String,
    },
    /// A field whose prerequisites the match does not guarantee
    /// (`tp_dst=80` without `tcp`, `udp` or `sctp`).
    #[error("{field}: prerequisites not met (needs {needs})")]
    Prerequisites {
        /// The field, as written.
        field: String,
        /// What the match must say, in flow syntax words.
        needs: &'static str,
    },
    /// A key with no value (`nw_src=`, or `priority` alone).
    #[error("{key}: missing value")]
    MissingValue {
        /// The key.
        key: String,
    },
    /// `tun_metadataN` that the bridge's TLV map does not map.
    #[error("{field}: not mapped by the bridge's TLV map (add one with add-tlv-map)")]
    UnmappedTunMetadata {
        /// The field, as written.
        field: String,
    },
    /// A key not allowed for this command (`actions` on a delete,
    /// `out_port` on an add, a cookie mask on an add).
    #[error("{key}: not allowed for {command}")]
    NotAllowed {
        /// The key.
        key: String,
        /// The command, in words ("add-flow", "del-flows").
        command: &'static str,
    },
    /// An add or modify without `actions=`.
    #[error("must specify an action")]
    MissingActions,
    /// An action keyword that is not an action nor a port.
    #[error("unknown action \"{0}\"")]
    UnknownAction(String),
    /// An action whose argument is wrong.
    #[error("{action}: {reason}")]
    BadAction {
        /// The action keyword.
        action: String,
        /// What is wrong.
        reason: String,
    },
    /// A `set_field`, `mod_*`, `load` or `move` on a field the match does
    /// not guarantee exists (`mod_tp_dst` on a non-TCP/UDP flow).
    #[error("{action} {field} lacks prerequisites")]
    ActionPrerequisites {
        /// The action keyword (`set_field`, `load`, `move`).
        action: &'static str,
        /// The field's canonical name.
        field: String,
    },
    /// `drop` together with other actions.
    #[error("\"drop\" must not be accompanied by any other action")]
    DropWithOtherActions,
    /// `goto_table` followed by something.
    #[error("goto_table must be the last action")]
    GotoTableNotLast,
    /// `goto_table` to the same or an earlier table.
    #[error("goto_table:{to}: must go to a later table than {from}")]
    GotoTableBackwards {
        /// The rule's table.
        from: u8,
        /// The target table.
        to: u8,
    },
    /// Unbalanced parentheses in an action list.
    #[error("unbalanced parentheses in \"{0}\"")]
    Unbalanced(String),
    /// A port name that is neither reserved nor known.
    #[error("{field}: unknown port \"{port}\"")]
    UnknownPort {
        /// The field or action, as written.
        field: String,
        /// The port, as written.
        port: String,
    },
}

/// A [`FlowParseError`] on a numbered line of a flow file; displays as
/// `LINE: ERROR`, so that callers prefix the file name to get
/// `flows.txt:12: unknown field "nw_dest"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}: {error}")]
pub struct LineError {
    /// 1-based line number (of the first line of a continued flow).
    pub line: usize,
    /// What was wrong.
    pub error: FlowParseError,
}

/// The command in the words `ovs-ofctl` uses.
fn command_name(cmd: FlowModCommand) -> &'static str {
    match cmd {
        FlowModCommand::Add => "add-flow",
        FlowModCommand::Modify => "mod-flows",
        FlowModCommand::ModifyStrict => "mod-flows --strict",
        FlowModCommand::Delete => "del-flows",
        FlowModCommand::DeleteStrict => "del-flows --strict",
    }
}

fn is_delete(cmd: FlowModCommand) -> bool {
    matches!(cmd, FlowModCommand::Delete | FlowModCommand::DeleteStrict)
}

/// Splits `s` at its `actions=` (or `action=`) key: (flow part, actions).
fn split_actions(s: &str) -> (&str, Option<&str>) {
    let bytes = s.as_bytes();
    let mut from = 0;
    while let Some(i) = s[from..].find("action") {
        let at = from + i;
        let boundary = at == 0 || matches!(bytes[at - 1], b',' | b' ' | b'\t' | b'\r' | b'\n');
        let rest = &s[at + "action".len()..];
        let rest = rest.strip_prefix('s').unwrap_or(rest);
        if boundary {
            if let Some(acts) = rest.strip_prefix('=') {
                return (&s[..at], Some(acts));
            }
        }
        from = at + 1;
    }
    (s, None)
}

/// Parses one `ovs-ofctl` flow line for `cmd`.
///
/// ```
/// use ofproto::flow_mod::FlowModCommand;
/// let fm = ofproto::ofctl::parse_flow_mod(
///     "priority=10,tcp,tp_dst=80,actions=output:2", FlowModCommand::Add, &()).unwrap();
/// assert_eq!(fm.priority, 10);
/// ```
pub fn parse_flow_mod<'a>(
    s: &'a str,
    cmd: FlowModCommand,
    ports: &dyn PortNames,
) -> Result<FlowMod, FlowParseError> {
    let mut fm = FlowMod::new(cmd);
    let (flow_part, acts) = split_actions(s);
    let delete = is_delete(cmd);
    let add_or_mod = !delete;
    let not_allowed = |key: &str| FlowParseError::NotAllowed {
        key: key.to_string(),
        command: command_name(cmd),
    };
    let mut mb = MatchBuilder::new(ports);
    let mut seen_opts: Vec<&str> = Vec::new();
    for tok in Tokens::new(flow_part) {
        let tok = tok?;
        let key = tok.key;
        let opt = matches!(
            key,
            "table"
                | "priority"
                | "cookie"
                | "idle_timeout"
                | "hard_timeout"
                | "send_flow_rem"
                | "out_port"
        );
        if opt {
            if seen_opts.contains(&key) {
                return Err(FlowParseError::DuplicateField {
                    field: key.to_string(),
                });
            }
            seen_opts.push(key);
        }
        let need = |v: Option<&'a str>| -> Result<&'a str, FlowParseError> {
            v.filter(|v| !v.is_empty())
                .ok_or_else(|| FlowParseError::MissingValue {
                    key: key.to_string(),
                })
        };
        match key {
            "table" => {
                let v = need(tok.value)?;
                let t = value::parse_int_max(key, v, 255)? as u8;
                fm.table = if t == 255 && delete { None } else { Some(t) };
                if t == 255 && !delete {
                    return Err(FlowParseError::OutOfRange {
                        field: key.to_string(),
                        value: v.to_string(),
                    });
                }
            }
            "priority" => {
                let v = need(tok.value)?;
                fm.priority = value::parse_int_max(key, v, 0xffff)? as u16;
            }
            "cookie" => {
                let v = need(tok.value)?;
                match v.split_once('/') {
                    Some((c, m)) => {
                        if cmd == FlowModCommand::Add {
                            return Err(FlowParseError::NotAllowed {
                                key: "cookie mask".into(),
                                command: command_name(cmd),
                            });
                        }
                        fm.cookie = value::parse_int_max(key, c, u64::MAX as u128)? as u64;
                        fm.cookie_mask = value::parse_int_max(key, m, u64::MAX as u128)? as u64;
                    }
                    None => {
                        if delete {
                            // As OVS: a cookie without a mask sets the
                            // cookie, which a delete cannot do.
                            return Err(not_allowed("cookie without a mask"));
                        }
                        fm.cookie = value::parse_int_max(key, v, u64::MAX as u128)? as u64;
                    }
                }
            }
            "idle_timeout" | "hard_timeout" => {
                if !add_or_mod {
                    return Err(not_allowed(key));
                }
                let v = need(tok.value)?;
                let t = value::parse_int_max(key, v, 0xffff)? as u16;
                if key == "idle_timeout" {
                    fm.idle_timeout = t;
                } else {
                    fm.hard_timeout = t;
                }
            }
            "send_flow_rem" => {
                if !add_or_mod {
                    return Err(not_allowed(key));
                }
                if tok.value.is_some() {
                    return Err(FlowParseError::InvalidValue {
                        field: key.to_string(),
                        kind: "flag (takes no value)",
                        value: tok.value.unwrap_or_default().to_string(),
                    });
                }
                fm.send_flow_rem = true;
            }
            "out_port" => {
                if !delete {
                    return Err(not_allowed(key));
                }
                let v = need(tok.value)?;
                fm.out_port = Some(value::parse_port(key, v, ports)?);
            }
            // Statistics in dump-flows output, ignored as OVS does so that
            // its output can be fed back.
            "duration" | "n_packets" | "n_bytes" | "idle_age" | "hard_age" => {}
            _ => mb.add_token(key, tok.value)?,
        }
    }
    fm.matches = mb.finish()?;
    match (acts, delete) {
        (Some(_), true) => return Err(not_allowed("actions")),
        (None, false) => return Err(FlowParseError::MissingActions),
        (None, true) => {}
        (Some(a), false) => {
            fm.actions = parse_actions(a, ports)?;
            check_actions(&fm.actions, &fm.matches, fm.table.unwrap_or(0))?;
        }
    }
    Ok(fm)
}

/// Parses a flow file: one flow per line, blank lines and `#` comments
/// skipped, a line ending in `\` continued on the next. All or nothing:
/// the first bad line is the error and no flows are returned.
pub fn parse_flow_mods(
    text: &str,
    cmd: FlowModCommand,
    ports: &dyn PortNames,
) -> Result<Vec<FlowMod>, LineError> {
    let mut out = Vec::new();
    let mut pending = String::new();
    let mut start = 0usize;
    for (i, raw) in text.lines().enumerate() {
        if pending.is_empty() {
            start = i + 1;
        }
        let line = match raw.find('#') {
            Some(h) => &raw[..h],
            None => raw,
        };
        if let Some(head) = line.trim_end().strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        let flow = std::mem::take(&mut pending);
        if flow.trim().is_empty() {
            continue;
        }
        let fm =
            parse_flow_mod(&flow, cmd, ports).map_err(|error| LineError { line: start, error })?;
        out.push(fm);
    }
    if !pending.trim().is_empty() {
        let fm = parse_flow_mod(&pending, cmd, ports)
            .map_err(|error| LineError { line: start, error })?;
        out.push(fm);
    }
    Ok(out)
}

/// Prints a flow-table change as a line that [`parse_flow_mod`] accepts
/// back for the same command (`table=1, cookie=0x5, priority=10,tcp,...
/// actions=...`).
pub fn format_flow_mod(fm: &FlowMod, ports: &dyn PortNames) -> String {
    let mut head: Vec<String> = Vec::new();
    if let Some(t) = fm.table {
        head.push(format!("table={t}"));
    }
    if fm.cookie_mask != 0 || (is_delete(fm.command) && fm.cookie != 0) {
        head.push(format!("cookie={:#x}/{:#x}", fm.cookie, fm.cookie_mask));
    } else if fm.cookie != 0 {
        head.push(format!("cookie={:#x}", fm.cookie));
    }
    if fm.idle_timeout != 0 {
        head.push(format!("idle_timeout={}", fm.idle_timeout));
    }
    if fm.hard_timeout != 0 {
        head.push(format!("hard_timeout={}", fm.hard_timeout));
    }
    if fm.send_flow_rem {
        head.push("send_flow_rem".into());
    }
    if let Some(p) = fm.out_port {
        head.push(format!("out_port={}", value::format_port(p, ports)));
    }
    let prio = (fm.priority != DEFAULT_PRIORITY).then_some(fm.priority);
    let m = format_match(&fm.matches, prio, ports);
    if !m.is_empty() {
        head.push(m);
    }
    let mut out = head.join(", ");
    if !is_delete(fm.command) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str("actions=");
        out.push_str(&format_actions(&fm.actions, ports));
    }
    out
}

/// The field called `name`: a fixed field, or `tun_metadataN` placed by
/// the bridge's TLV map.
pub(crate) fn resolve_field(name: &str, ports: &dyn PortNames) -> Result<Field, FlowParseError> {
    if let Some(idx) = Field::tun_metadata_index(name) {
        return ports
            .tlv_map()
            .and_then(|m| Field::tun_metadata(&m, idx))
            .ok_or_else(|| FlowParseError::UnmappedTunMetadata {
                field: name.to_string(),
            });
    }
    Field::from_name(name).ok_or_else(|| FlowParseError::UnknownField(name.to_string()))
}
