//! Geneve TLV maps: which Geneve option (class, type, length) is which
//! `tun_metadataN` field, and where its data lives in the flow key.
//!
//! This is OVS's `add-tlv-map` table (`{class=0xffff,type=0,len=4}->
//! tun_metadata0`), one per bridge. As OVS allocates space for each mapped
//! option in its metadata area when the map is set, a [`TlvMap`] gives
//! each mapping a byte offset in the key's compact option area
//! ([`crate::key::FlowKey::tun_metadata`], [`TUN_METADATA_BYTES`] bytes,
//! four 64-bit words): the datapath's `tnl_pop` copies a received option's
//! data there and sets the field's bit in
//! [`crate::key::FlowKey::tun_md_present`]; flows match those bytes with
//! ordinary word-wise masks.
//!
//! Geometry and limits (rvs's, smaller than OVS's 64 fields and 124-byte
//! options): [`TUN_METADATA_FIELDS`] fields `tun_metadata0..7`; each
//! option's data is 4..=[`TLV_MAX_LEN`] bytes in steps of 4 (flow syntax
//! handles field values as 128-bit numbers); all mappings together fit in
//! [`TUN_METADATA_BYTES`]. An option lives in one contiguous run of the
//! area, allocated first-fit when it is added, so a map whose total
//! length fits may still be refused after deletions fragment the area
//! (the error says so).
//!
//! Text form, as `ovs-ofctl add-tlv-map` takes it: a comma-separated list
//! of `{class=C,type=T,len=L}->tun_metadataN`; numbers decimal or `0x` hex.
//!
//! # Thread safety
//! Plain data; a bridge swaps its map whole (`Arc`) under its own lock and
//! datapath actions carry an `Arc` of the map they were translated with.

/// Number of `tun_metadataN` fields.
pub const TUN_METADATA_FIELDS: usize = 8;
/// Bytes of option data the flow key holds, across all fields.
pub const TUN_METADATA_BYTES: usize = 32;
/// Longest option data one field can map (bytes).
pub const TLV_MAX_LEN: u8 = 16;
/// The critical bit of a Geneve option's type (RFC 8926 section 3.5).
pub const GENEVE_CRIT_TYPE: u8 = 0x80;

/// One mapping as written by a user (no offset yet).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TlvMapping {
    /// Option class.
    pub class: u16,
    /// Option type (the critical bit included).
    pub typ: u8,
    /// Option data length in bytes.
    pub len: u8,
    /// `tun_metadataN`'s `N`.
    pub idx: u8,
}

/// One mapping with the place of its data in the key's option area.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TlvEntry {
    /// The mapping.
    pub map: TlvMapping,
    /// Byte offset in [`crate::key::FlowKey::tun_metadata`];
    /// `ofs + len <= TUN_METADATA_BYTES`.
    pub ofs: u8,
}

/// Why a TLV map text or change was refused. The map is left as it was.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TlvError {
    /// The text is not `{class=..,type=..,len=..}->tun_metadataN`.
    #[error("\"{text}\": {reason} (expected {{class=C,type=T,len=L}}->tun_metadataN)")]
    Syntax {
        /// The mapping as written.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `len` is not a multiple of 4 within 4..=[`TLV_MAX_LEN`].
    #[error("\"{text}\": len={len} must be a multiple of 4 from 4 to {TLV_MAX_LEN}")]
    BadLength {
        /// The mapping as written.
        text: String,
        /// The length given.
        len: u64,
    },
    /// A field number that is not 0..=7.
    #[error("\"{text}\": tun_metadata{idx} does not exist (tun_metadata0..{})", TUN_METADATA_FIELDS - 1)]
    BadIndex {
        /// The mapping as written.
        text: String,
        /// The number given.
        idx: u64,
    },
    /// The field already has a mapping (in the map or earlier in the
    /// same request).
    #[error("tun_metadata{0} is already mapped")]
    DuplicateIndex(u8),
    /// The option (class, type) already has a mapping.
    #[error("option class=0x{class:x},type=0x{typ:x} is already mapped")]
    DuplicateOption {
        /// Class.
        class: u16,
        /// Type.
        typ: u8,
    },
    /// The option area has no room for the new mappings.
    #[error("no room for tun_metadata{idx} (len={len}): option space is {TUN_METADATA_BYTES} bytes, {used} in use{}", if *frag { " (free space is fragmented: delete and re-add mappings)" } else { "" })]
    NoSpace {
        /// The mapping that did not fit.
        idx: u8,
        /// Its length.
        len: u8,
        /// Bytes already allocated.
        used: usize,
        /// Whether it would have fit without fragmentation.
        frag: bool,
    },
    /// `del-tlv-map` of a mapping that is not in the map.
    #[error("{0} is not in the TLV map")]
    NotMapped(String),
    /// The field is used by flows of the bridge.
    #[error("tun_metadata{0} is used by flows; delete them first")]
    InUse(u8),
}

/// A bridge's TLV map (see the module docs). Entries are kept sorted by
/// field number; at most one per field and per (class, type).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TlvMap {
    entries: Vec<TlvEntry>,
}

fn parse_num(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) if !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()) => {
            u64::from_str_radix(h, 16).ok()
        }
        Some(_) => None,
        None if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) => s.parse().ok(),
        None => None,
    }
}

/// Parses one `{class=C,type=T,len=L}->tun_metadataN`. When `with_ofs`,
/// an `ofs=O` key is also accepted (the datapath action's printed form);
/// it is returned as the second value.
fn parse_one(text: &str, with_ofs: bool) -> Result<(TlvMapping, Option<u8>), TlvError> {
    let syntax = |reason: &str| TlvError::Syntax {
        text: text.to_owned(),
        reason: reason.to_owned(),
    };
    let t = text.trim();
    let (lhs, rhs) = t.split_once("->").ok_or_else(|| syntax("missing \"->\""))?;
    let body = lhs
        .trim()
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .ok_or_else(|| syntax("the option must be in braces"))?;
    let (mut class, mut typ, mut len, mut ofs) = (None, None, None, None);
    for kv in body.split(',') {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| syntax(&format!("\"{}\" is not key=value", kv.trim())))?;
        let v = parse_num(v).ok_or_else(|| syntax(&format!("\"{}\" is not a number", v.trim())))?;
        let slot = match k.trim() {
            "class" => &mut class,
            "type" => &mut typ,
            "len" => &mut len,
            "ofs" if with_ofs => &mut ofs,
            other => return Err(syntax(&format!("unknown key \"{other}\""))),
        };
        if slot.replace(v).is_some() {
            return Err(syntax(&format!("{} given twice", k.trim())));
        }
    }
    let class = class.ok_or_else(|| syntax("missing class"))?;
    let typ = typ.ok_or_else(|| syntax("missing type"))?;
    let len = len.ok_or_else(|| syntax("missing len"))?;
    let class = u16::try_from(class).map_err(|_| syntax("class is 16 bits"))?;
    let typ = u8::try_from(typ).map_err(|_| syntax("type is 8 bits"))?;
    if len == 0 || len % 4 != 0 || len > u64::from(TLV_MAX_LEN) {
        return Err(TlvError::BadLength {
            text: text.to_owned(),
            len,
        });
    }
    let field = rhs.trim();
    let n = field
        .strip_prefix("tun_metadata")
        .ok_or_else(|| syntax(&format!("\"{field}\" is not tun_metadataN")))?;
    let idx = parse_num(n)
        .filter(|_| n.chars().all(|c| c.is_ascii_digit()))
        .ok_or_else(|| syntax(&format!("\"{field}\" is not tun_metadataN")))?;
    if idx >= TUN_METADATA_FIELDS as u64 {
        return Err(TlvError::BadIndex {
            text: text.to_owned(),
            idx,
        });
    }
    let ofs = match ofs {
        None => None,
        Some(o) if o % 4 == 0 && o + len <= TUN_METADATA_BYTES as u64 => Some(o as u8),
        Some(_) => return Err(syntax("ofs out of the option area")),
    };
    Ok((
        TlvMapping {
            class,
            typ,
            len: len as u8,
            idx: idx as u8,
        },
        ofs,
    ))
}

/// Splits a list of mappings at the commas between them (not those
/// inside braces).
fn split_list(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// Parses `add-tlv-map` text: one or more comma-separated mappings.
pub fn parse_mappings(s: &str) -> Result<Vec<TlvMapping>, TlvError> {
    if s.trim().is_empty() {
        return Err(TlvError::Syntax {
            text: s.to_owned(),
            reason: "no mapping given".into(),
        });
    }
    split_list(s)
        .into_iter()
        .map(|t| parse_one(t, false).map(|(m, _)| m))
        .collect()
}

impl std::fmt::Display for TlvMapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{{class=0x{:x},type=0x{:x},len={}}}->tun_metadata{}",
            self.class, self.typ, self.len, self.idx
        )
    }
}

impl TlvMap {
    /// The entries, by field number.
    pub fn entries(&self) -> &[TlvEntry] {
        &self.entries
    }

    /// Whether nothing is mapped.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry of `tun_metadata{idx}`.
    pub fn get(&self, idx: u8) -> Option<&TlvEntry> {
        self.entries.iter().find(|e| e.map.idx == idx)
    }

    /// The entry of option (class, type).
    #[inline]
    pub fn find(&self, class: u16, typ: u8) -> Option<&TlvEntry> {
        self.entries
            .iter()
            .find(|e| e.map.class == class && e.map.typ == typ)
    }

    /// Bytes of the option area allocated.
    pub fn allocated(&self) -> usize {
        self.entries.iter().map(|e| usize::from(e.map.len)).sum()
    }

    /// Bitmap of the allocated bytes of the option area.
    fn used_bits(&self) -> u32 {
        self.entries
            .iter()
            .fold(0, |acc, e| acc | span_bits(e.ofs, e.map.len))
    }

    /// Adds mappings, all or nothing, giving each the first free run of
    /// its length.
    pub fn add(&mut self, new: &[TlvMapping]) -> Result<(), TlvError> {
        let mut next = self.clone();
        for m in new {
            if usize::from(m.idx) >= TUN_METADATA_FIELDS {
                return Err(TlvError::BadIndex {
                    text: m.to_string(),
                    idx: m.idx.into(),
                });
            }
            if m.len == 0 || m.len % 4 != 0 || m.len > TLV_MAX_LEN {
                return Err(TlvError::BadLength {
                    text: m.to_string(),
                    len: m.len.into(),
                });
            }
            if next.get(m.idx).is_some() {
                return Err(TlvError::DuplicateIndex(m.idx));
            }
            if next.find(m.class, m.typ).is_some() {
                return Err(TlvError::DuplicateOption {
                    class: m.class,
                    typ: m.typ,
                });
            }
            let used = next.used_bits();
            let Some(ofs) = (0..=TUN_METADATA_BYTES as u8 - m.len)
                .step_by(4)
                .find(|o| used & span_bits(*o, m.len) == 0)
            else {
                let allocated = next.allocated();
                return Err(TlvError::NoSpace {
                    idx: m.idx,
                    len: m.len,
                    used: allocated,
                    frag: allocated + usize::from(m.len) <= TUN_METADATA_BYTES,
                });
            };
            next.entries.push(TlvEntry { map: *m, ofs });
            next.entries.sort_by_key(|e| e.map.idx);
        }
        *self = next;
        Ok(())
    }

    /// Removes mappings, all or nothing; each must be in the map exactly
    /// as given.
    pub fn remove(&mut self, del: &[TlvMapping]) -> Result<(), TlvError> {
        let mut next = self.clone();
        for m in del {
            let before = next.entries.len();
            next.entries.retain(|e| e.map != *m);
            if next.entries.len() == before {
                return Err(TlvError::NotMapped(m.to_string()));
            }
        }
        *self = next;
        Ok(())
    }

    /// The datapath action's form: mappings with their offsets
    /// (`{class=0xffff,type=0x0,len=4,ofs=0}->tun_metadata0,...`).
    pub fn to_dp_string(&self) -> String {
        self.entries
            .iter()
            .map(|e| {
                format!(
                    "{{class=0x{:x},type=0x{:x},len={},ofs={}}}->tun_metadata{}",
                    e.map.class, e.map.typ, e.map.len, e.ofs, e.map.idx
                )
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Parses [`TlvMap::to_dp_string`] output back (offsets as given;
    /// overlapping or duplicate entries are refused).
    pub fn from_dp_string(s: &str) -> Result<TlvMap, TlvError> {
        let mut map = TlvMap::default();
        if s.trim().is_empty() {
            return Ok(map);
        }
        for t in split_list(s) {
            let (m, ofs) = parse_one(t, true)?;
            let ofs = ofs.ok_or_else(|| TlvError::Syntax {
                text: t.to_owned(),
                reason: "missing ofs".into(),
            })?;
            if map.get(m.idx).is_some() {
                return Err(TlvError::DuplicateIndex(m.idx));
            }
            if map.find(m.class, m.typ).is_some() {
                return Err(TlvError::DuplicateOption {
                    class: m.class,
                    typ: m.typ,
                });
            }
            if map.used_bits() & span_bits(ofs, m.len) != 0 {
                return Err(TlvError::Syntax {
                    text: t.to_owned(),
                    reason: "overlaps another mapping".into(),
                });
            }
            map.entries.push(TlvEntry { map: m, ofs });
        }
        map.entries.sort_by_key(|e| e.map.idx);
        Ok(map)
    }

    /// `dump-tlv-map` text, in the shape of `ovs-ofctl dump-tlv-map`.
    pub fn dump_text(&self) -> String {
        let mut s = format!(
            " max option space={TUN_METADATA_BYTES} max fields={TUN_METADATA_FIELDS}\n allocated option space={}\n",
            self.allocated()
        );
        if !self.entries.is_empty() {
            s += "\n mapping table:\n class\ttype\tlength\tmatch field\n";
            s += " ------\t----\t------\t--------------\n";
            for e in &self.entries {
                s += &format!(
                    " 0x{:x}\t0x{:x}\t{}\ttun_metadata{}\n",
                    e.map.class, e.map.typ, e.map.len, e.map.idx
                );
            }
        }
        s
    }
}

/// The bits of a `len`-byte run at `ofs` in a 32-bit byte bitmap.
fn span_bits(ofs: u8, len: u8) -> u32 {
    let ones = if len >= 32 {
        u32::MAX
    } else {
        (1u32 << len) - 1
    };
    ones.checked_shl(u32::from(ofs)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(class: u16, typ: u8, len: u8, idx: u8) -> TlvMapping {
        TlvMapping {
            class,
            typ,
            len,
            idx,
        }
    }

    #[test]
    fn parses_ovs_syntax() {
        let v = parse_mappings(
            "{class=0xffff,type=0,len=4}->tun_metadata0, {class=0x0102,type=0x80,len=8}->tun_metadata7",
        )
        .unwrap();
        assert_eq!(v, vec![m(0xffff, 0, 4, 0), m(0x102, 0x80, 8, 7)]);
        assert_eq!(
            v[0].to_string(),
            "{class=0xffff,type=0x0,len=4}->tun_metadata0"
        );
        assert_eq!(parse_mappings(&v[1].to_string()).unwrap(), vec![v[1]]);
    }

    #[test]
    fn bad_syntax_is_named() {
        for (text, want) in [
            ("", "no mapping"),
            ("{class=1,type=0,len=4}", "missing \"->\""),
            // Without braces the commas split mappings apart.
            ("class=1,type=0,len=4->tun_metadata0", "missing \"->\""),
            ("class=1->tun_metadata0", "braces"),
            ("{class=1,type=0}->tun_metadata0", "missing len"),
            ("{class=1,type=0,len=4,len=4}->tun_metadata0", "twice"),
            ("{class=0x10000,type=0,len=4}->tun_metadata0", "16 bits"),
            ("{class=1,type=256,len=4}->tun_metadata0", "8 bits"),
            ("{class=1,type=x,len=4}->tun_metadata0", "not a number"),
            ("{class=1,type=0,len=4,ofs=0}->tun_metadata0", "unknown key"),
            ("{class=1,type=0,len=4}->reg0", "tun_metadataN"),
            ("{class=1,type=0,len=4}->tun_metadata+1", "tun_metadataN"),
        ] {
            let e = parse_mappings(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn lengths_and_indexes_are_checked() {
        for len in [0, 3, 5, 20, 124] {
            let t = format!("{{class=1,type=0,len={len}}}->tun_metadata0");
            assert!(
                matches!(parse_mappings(&t), Err(TlvError::BadLength { .. })),
                "{t}"
            );
        }
        assert!(matches!(
            parse_mappings("{class=1,type=0,len=4}->tun_metadata8"),
            Err(TlvError::BadIndex { idx: 8, .. })
        ));
    }

    #[test]
    fn add_allocates_first_fit_and_refuses_duplicates_whole() {
        let mut t = TlvMap::default();
        t.add(&[m(1, 0, 4, 0), m(1, 1, 8, 1)]).unwrap();
        assert_eq!(t.get(0).unwrap().ofs, 0);
        assert_eq!(t.get(1).unwrap().ofs, 4);
        let before = t.clone();
        assert_eq!(
            t.add(&[m(2, 0, 4, 2), m(2, 1, 4, 0)]),
            Err(TlvError::DuplicateIndex(0))
        );
        assert_eq!(t, before, "a refused add changes nothing");
        assert_eq!(
            t.add(&[m(1, 1, 4, 3)]),
            Err(TlvError::DuplicateOption { class: 1, typ: 1 })
        );
        assert_eq!(
            t.add(&[m(3, 0, 4, 4), m(3, 1, 4, 4)]),
            Err(TlvError::DuplicateIndex(4))
        );
        assert_eq!(t, before);
        assert!(matches!(
            t.add(&[m(3, 0, 4, 8)]),
            Err(TlvError::BadIndex { idx: 8, .. })
        ));
        assert!(matches!(
            t.add(&[m(3, 0, 6, 5)]),
            Err(TlvError::BadLength { len: 6, .. })
        ));
        assert_eq!(t, before);
    }

    #[test]
    fn the_area_holds_32_bytes_and_says_when_it_is_fragmented() {
        let mut t = TlvMap::default();
        t.add(&[m(1, 0, 16, 0), m(1, 1, 16, 1)]).unwrap();
        assert_eq!(t.allocated(), 32);
        let e = t.add(&[m(1, 2, 4, 2)]).unwrap_err();
        assert!(matches!(e, TlvError::NoSpace { frag: false, .. }), "{e}");
        let mut t = TlvMap::default();
        t.add(&[m(1, 0, 4, 0), m(1, 1, 12, 1), m(1, 2, 4, 2)])
            .unwrap();
        t.remove(&[m(1, 0, 4, 0), m(1, 2, 4, 2)]).unwrap();
        // 20 bytes free, but as 4 + 16: a 16 fits, a second 16 does not.
        t.add(&[m(2, 0, 16, 3)]).unwrap();
        assert_eq!(t.get(3).unwrap().ofs, 16);
        let e = t.add(&[m(2, 1, 8, 4)]).unwrap_err();
        assert!(matches!(e, TlvError::NoSpace { frag: false, .. }), "{e}");
        assert!(e.to_string().contains("28 in use"), "{e}");
        let mut t = TlvMap::default();
        t.add(&[m(1, 0, 4, 0), m(1, 1, 12, 1), m(1, 2, 4, 2), m(1, 3, 12, 3)])
            .unwrap();
        t.remove(&[m(1, 0, 4, 0), m(1, 2, 4, 2)]).unwrap();
        let e = t.add(&[m(2, 0, 8, 4)]).unwrap_err();
        assert!(matches!(e, TlvError::NoSpace { frag: true, .. }), "{e}");
        assert!(e.to_string().contains("fragmented"), "{e}");
    }

    #[test]
    fn remove_needs_the_exact_mapping() {
        let mut t = TlvMap::default();
        t.add(&[m(1, 0, 4, 0)]).unwrap();
        assert!(matches!(
            t.remove(&[m(1, 0, 8, 0)]),
            Err(TlvError::NotMapped(_))
        ));
        t.remove(&[m(1, 0, 4, 0)]).unwrap();
        assert!(t.is_empty());
    }

    #[test]
    fn dp_string_round_trips_offsets() {
        let mut t = TlvMap::default();
        t.add(&[m(1, 0, 4, 0), m(0xffff, 0x81, 8, 5)]).unwrap();
        t.remove(&[m(1, 0, 4, 0)]).unwrap();
        let s = t.to_dp_string();
        assert_eq!(s, "{class=0xffff,type=0x81,len=8,ofs=4}->tun_metadata5");
        assert_eq!(TlvMap::from_dp_string(&s).unwrap(), t);
        assert!(TlvMap::from_dp_string(
            "{class=1,type=0,len=8,ofs=0}->tun_metadata0,{class=1,type=1,len=4,ofs=4}->tun_metadata1"
        )
        .is_err());
        assert!(TlvMap::from_dp_string("{class=1,type=0,len=8,ofs=28}->tun_metadata0").is_err());
    }

    #[test]
    fn dump_looks_like_ovs() {
        let mut t = TlvMap::default();
        t.add(&[m(0xffff, 0, 4, 0)]).unwrap();
        let s = t.dump_text();
        assert!(s.contains("allocated option space=4"), "{s}");
        assert!(s.contains(" 0xffff\t0x0\t4\ttun_metadata0\n"), "{s}");
    }
}
