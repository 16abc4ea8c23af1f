//! The megaflow contract, as a property test.
//!
//! Plan: build random OpenFlow pipelines (1-3 tables, up to 50 rules with
//! overlapping masks and distinct priorities per table, with rewrites,
//! register loads and moves, VLAN push/pop, dec_ttl, resubmits and
//! goto_table to later tables) and random packet keys. For each packet P:
//! (a) run the datapath actions `xlate` returns on P's key with a tiny
//!     datapath simulator, and compare what comes out of each port with a
//!     naive reference evaluation of the tables written separately here
//!     (linear scan by priority, actions applied to the flow directly);
//! (b) take random keys Q that agree with P on every bit of the megaflow
//!     mask: `xlate(Q)` must give exactly P's datapath actions, and those
//!     actions must also be right for Q by the reference.
//! Rules may use NORMAL, over a fixed bridge of four ports with different
//! VLAN modes and a fixed MAC table (translations here do not learn, so
//! NORMAL is a pure function of the packet and the table).
//! `PROPTEST_CASES` sets the number of cases (CI runs thousands).

use dpif_netdev::actions::{DpAction, SetAction};
use dpif_netdev::key::{FlowKey, VLAN_CFI};
use ofproto::field::Field;
use ofproto::flow::{Flow, Match};
use ofproto::flow_mod::{FlowMod, FlowModCommand};
use ofproto::l2::{L2Bridge, PortVlan, VlanMode};
use ofproto::mac_learning::{is_multicast, Learned};
use ofproto::ofaction::{ofp, OfAction, SetStyle};
use ofproto::table::Tables;
use ofproto::xlate::{xlate, XlatePorts};
use proptest::prelude::*;

const PORTS: [u32; 4] = [1, 2, 3, 4];

/// The bridge NORMAL sees: port 1 a trunk of everything, port 2 access
/// VLAN 10, port 3 a trunk of 10 and 20, port 4 native-untagged VLAN 20
/// with 10 trunked; a fixed MAC table.
struct L2Ports;

fn port_vlan(p: u32) -> PortVlan {
    match p {
        2 => PortVlan::access(10),
        3 => PortVlan {
            trunks: vec![10, 20],
            ..PortVlan::default()
        },
        4 => PortVlan {
            mode: VlanMode::NativeUntagged,
            tag: 20,
            trunks: vec![10],
        },
        _ => PortVlan::default(),
    }
}

/// The learned MACs: (VLAN, last byte of 02:00:00:00:00:xx) -> port.
fn mac_port(vlan: u16, mac: &[u8; 6]) -> Option<u32> {
    if mac[..5] != [2, 0, 0, 0, 0] {
        return None;
    }
    match (vlan, mac[5]) {
        (0, 9) => Some(1),
        (0, 1) => Some(3),
        (10, 9) => Some(2),
        (10, 0) => Some(3),
        (20, 9) => Some(4),
        (20, 1) => Some(3),
        _ => None,
    }
}

impl XlatePorts for L2Ports {
    fn odp_port(&self, p: u32) -> Option<u32> {
        PORTS.contains(&p).then_some(p)
    }
    fn ofport(&self, p: u32) -> Option<u32> {
        PORTS.contains(&p).then_some(p)
    }
    fn ofports(&self) -> Vec<u32> {
        PORTS.to_vec()
    }
    fn l2(&self) -> Option<&dyn L2Bridge> {
        Some(self)
    }
}

impl L2Bridge for L2Ports {
    fn port_vlan(&self, p: u32) -> PortVlan {
        port_vlan(p)
    }
    fn learn(&self, _vlan: u16, _mac: [u8; 6], _p: u32) -> Learned {
        Learned::Ignored
    }
    fn lookup(&self, vlan: u16, mac: &[u8; 6]) -> Option<u32> {
        mac_port(vlan, mac)
    }
}

#[derive(Clone, Debug)]
struct GenRule {
    table: u8,
    priority: u16,
    matches: Match,
    actions: Vec<OfAction>,
}

fn set_field(m: &mut Match, f: Field, v: u128, mask: u128) {
    f.set(&mut m.mask, mask);
    f.set(&mut m.flow, v & mask);
}

/// Two tun_metadata fields as a TLV map would place them
/// (`tun_metadata0`: 4 bytes at 0, `tun_metadata1`: 8 bytes at 4).
const MD0: Field = Field::TunMetadata {
    idx: 0,
    ofs: 0,
    len: 4,
};
const MD1: Field = Field::TunMetadata {
    idx: 1,
    ofs: 4,
    len: 8,
};

fn prefix_mask(width: u32, len: u32) -> u128 {
    if len == 0 {
        0
    } else {
        (u128::MAX << (128 - len)) >> (128 - width)
    }
}

prop_compose! {
    fn arb_match()(
        in_port in proptest::option::of(1u32..=4),
        l3 in 0u8..4,
        src in (0u32..4, prop::sample::select(vec![8u32, 16, 24, 30, 32])),
        dst in proptest::option::of((0u32..8, prop::sample::select(vec![8u32, 16, 24, 30, 31, 32]))),
        proto in proptest::option::of(prop::sample::select(vec![6u8, 17])),
        tp_dst in proptest::option::of((prop::sample::select(vec![80u16, 443, 53]), any::<bool>())),
        use_src in any::<bool>(),
        v6dst in proptest::option::of((0u128..4, prop::sample::select(vec![64u32, 126, 127, 128]))),
        vlan in proptest::option::of(prop::sample::select(vec![0u16, 10, 20])),
        reg0 in proptest::option::of((0u32..4, any::<bool>())),
        meta in proptest::option::of(0u64..4),
        dl_src in proptest::option::of(0u8..2),
        md in proptest::option::of((any::<bool>(), 0u32..3, any::<bool>())),
    ) -> Match {
        let mut m = Match::ANY;
        if let Some(p) = in_port { set_field(&mut m, Field::InPort, p as u128, u32::MAX as u128); }
        match l3 {
            1 | 3 => {
                set_field(&mut m, Field::EthType, 0x0800, 0xffff);
                if use_src {
                    set_field(&mut m, Field::NwSrc, (0x0a00_0000 | src.0) as u128, prefix_mask(32, src.1));
                }
                if let Some((d, len)) = dst {
                    set_field(&mut m, Field::NwDst, (0x0a00_0000 | d << 6) as u128, prefix_mask(32, len));
                }
            }
            2 => {
                set_field(&mut m, Field::EthType, 0x86dd, 0xffff);
                if let Some((d, len)) = v6dst {
                    set_field(&mut m, Field::Ipv6Dst, (0xfd00u128 << 112) | d, prefix_mask(128, len));
                }
            }
            _ => {}
        }
        if l3 != 0 {
            if let Some(p) = proto {
                set_field(&mut m, Field::NwProto, p as u128, 0xff);
                if let Some((port, masked)) = tp_dst {
                    set_field(&mut m, Field::TpDst, port as u128, if masked { 0xfff0 } else { 0xffff });
                }
            }
        }
        if let Some(vid) = vlan {
            if vid == 0 {
                set_field(&mut m, Field::VlanTci, 0, 0xffff);
            } else {
                set_field(&mut m, Field::VlanTci, (VLAN_CFI | vid) as u128, 0x1fff);
            }
        }
        if let Some((r, masked)) = reg0 {
            set_field(&mut m, Field::Reg(0), r as u128, if masked { 1 } else { u32::MAX as u128 });
        }
        if let Some(md) = meta { set_field(&mut m, Field::Metadata, md as u128, u64::MAX as u128); }
        if let Some(s) = dl_src { set_field(&mut m, Field::EthSrc, 0x0200_0000_0000 | s as u128, (1u128 << 48) - 1); }
        if let Some((first, v, masked)) = md {
            // As flow syntax does: a tun_metadata match requires presence.
            let f = if first { MD0 } else { MD1 };
            set_field(&mut m, f, v as u128, if masked { 1 } else { f.all_ones() });
            m.mask.key.tun_md_present |= f.present_bit();
            m.flow.key.tun_md_present |= f.present_bit();
        }
        m
    }
}

fn arb_action(n_tables: u8, table: u8) -> impl Strategy<Value = OfAction> {
    let later = table + 1..n_tables.max(table + 2);
    let can_jump = table + 1 < n_tables;
    prop_oneof![
        4 => (1u32..=5).prop_map(OfAction::Output),
        1 => Just(OfAction::Output(ofp::IN_PORT)),
        1 => Just(OfAction::Output(ofp::FLOOD)),
        2 => Just(OfAction::Output(ofp::NORMAL)),
        1 => Just(OfAction::Controller { max_len: 65535 }),
        1 => (0u32..4).prop_map(|v| OfAction::SetField { field: Field::Ipv4Dst, value: (0x0a09_0900 | v) as u128, mask: u32::MAX as u128, style: SetStyle::SetField }),
        1 => prop::sample::select(vec![80u16, 8080]).prop_map(|v| OfAction::SetField { field: Field::TpDst, value: v as u128, mask: 0xffff, style: SetStyle::Mod }),
        1 => Just(OfAction::SetField { field: Field::EthSrc, value: 0x0200_0000_00aa, mask: (1u128 << 48) - 1, style: SetStyle::Mod }),
        1 => Just(OfAction::SetField { field: Field::NwEcn, value: 3, mask: 3, style: SetStyle::SetField }),
        1 => Just(OfAction::DecTtl),
        1 => (0u32..4).prop_map(|v| OfAction::Load { dst: Field::Reg(0), ofs: 0, n_bits: 32, value: v as u128 }),
        1 => Just(OfAction::Move { src: Field::NwSrc, src_ofs: 0, dst: Field::Reg(0), dst_ofs: 0, n_bits: 2 }),
        1 => Just(OfAction::Move { src: Field::Reg(0), src_ofs: 0, dst: Field::TpSrc, dst_ofs: 0, n_bits: 4 }),
        1 => Just(OfAction::Move { src: MD1, src_ofs: 0, dst: Field::Reg(0), dst_ofs: 0, n_bits: 2 }),
        1 => (0u64..4).prop_map(|v| OfAction::WriteMetadata { value: v, mask: 3 }),
        1 => Just(OfAction::PushVlan(0x8100)),
        1 => Just(OfAction::StripVlan { pop: false }),
        1 => Just(OfAction::SetField { field: Field::DlVlan, value: 30, mask: 0xfff, style: SetStyle::Mod }),
        1 => Just(OfAction::SetField { field: Field::VlanPcp, value: 5, mask: 7, style: SetStyle::SetField }),
        2 => (proptest::option::of(1u32..=4), later.clone())
            .prop_map(move |(p, t)| if can_jump {
                OfAction::Resubmit { port: p, table: Some(t) }
            } else {
                OfAction::Output(1)
            }),
    ]
}

fn arb_rules() -> impl Strategy<Value = (u8, Vec<GenRule>)> {
    (1u8..=3).prop_flat_map(|n_tables| {
        let rule = (0..n_tables).prop_flat_map(move |table| {
            (
                any::<u16>(),
                arb_match(),
                prop::collection::vec(arb_action(n_tables, table), 0..4),
                proptest::option::of(table + 1..n_tables.max(table + 2)),
            )
                .prop_map(move |(priority, matches, mut actions, goto)| {
                    if let Some(t) = goto.filter(|_| table + 1 < n_tables) {
                        actions.push(OfAction::GotoTable(t));
                    }
                    GenRule {
                        table,
                        priority,
                        matches,
                        actions,
                    }
                })
        });
        (Just(n_tables), prop::collection::vec(rule, 0..50))
    })
}

prop_compose! {
    fn arb_key()(
        in_port in 1u32..=4,
        l3 in 0u8..4,
        src in 0u32..8,
        dst in prop::sample::select(vec![0u32, 1, 0x40, 0x41, 0x80, 0xc0, 0x1c0, 0xffff]),
        v6 in 0u128..6,
        proto in prop::sample::select(vec![6u8, 17, 1]),
        sport in 0u16..20,
        dport in prop::sample::select(vec![80u16, 81, 443, 53, 90]),
        ttl in prop::sample::select(vec![0u8, 1, 2, 64]),
        frag in prop::sample::select(vec![0u8, 0, 0, 0, 1, 3]),
        vlans in prop::sample::select(vec![vec![], vec![], vec![10u16], vec![20], vec![10, 20]]),
        dl_src in 0u8..3,
        dl_dst in prop::sample::select(vec![9u8, 9, 0, 1, 7, 0xff]),
        tos in any::<u8>(),
        md_present in 0u8..4,
        md0 in 0u32..3,
        md1 in 0u64..3,
    ) -> FlowKey {
        let mut k = FlowKey::ZERO;
        // Geneve option data as tnl_pop leaves it: only present fields
        // have (possibly zero) data.
        k.tun_md_present = md_present;
        if md_present & 1 != 0 {
            k.tun_metadata[..4].copy_from_slice(&md0.to_be_bytes());
        }
        if md_present & 2 != 0 {
            k.tun_metadata[4..12].copy_from_slice(&md1.to_be_bytes());
        }
        k.in_port = in_port;
        k.eth_src = [2, 0, 0, 0, 0, dl_src];
        k.eth_dst = if dl_dst == 0xff { [0xff; 6] } else { [2, 0, 0, 0, 0, dl_dst] };
        for (i, v) in vlans.iter().enumerate() {
            k.vlan_tpid[i] = 0x8100;
            k.vlan_tci[i] = VLAN_CFI | v;
        }
        match l3 {
            1 | 3 => {
                k.eth_type = 0x0800;
                k.nw_src = 0x0a00_0000 | src;
                k.nw_dst = 0x0a00_0000 | dst;
            }
            2 => {
                k.eth_type = 0x86dd;
                k.ipv6_dst = ((0xfd00u128 << 112) | v6).to_be_bytes();
            }
            _ => {
                k.eth_type = 0x0806;
                k.nw_proto = 1;
                k.nw_src = 0x0a00_0000 | src;
                k.nw_dst = 0x0a00_0000 | dst;
            }
        }
        if l3 != 0 {
            k.nw_proto = proto;
            k.nw_ttl = ttl;
            k.nw_tos = tos;
            k.nw_frag = frag;
            if frag & 2 == 0 {
                k.tp_src = sport;
                k.tp_dst = dport;
            }
        }
        k
    }
}

fn build_tables(rules: &[GenRule]) -> (Tables, Vec<Vec<GenRule>>) {
    let mut t = Tables::new();
    let mut by_table: Vec<Vec<GenRule>> = vec![Vec::new(); 3];
    let mut mods = Vec::new();
    for r in rules {
        // Distinct priorities per table: overlapping equal priorities are
        // OpenFlow's undefined case.
        if by_table[r.table as usize]
            .iter()
            .any(|o| o.priority == r.priority)
        {
            continue;
        }
        by_table[r.table as usize].push(r.clone());
        let mut fm = FlowMod::new(FlowModCommand::Add);
        fm.table = Some(r.table);
        fm.priority = r.priority;
        fm.matches = r.matches;
        fm.actions = r.actions.clone();
        mods.push(fm);
    }
    t.apply(&mods, 0).unwrap();
    for v in &mut by_table {
        v.sort_by_key(|r| std::cmp::Reverse(r.priority));
    }
    (t, by_table)
}

/// What leaves the switch: (port, header fields at that moment, VLAN tags
/// deeper than the key's two slots), with the in_port cleared (it is not a
/// header).
type Outputs = Vec<(u32, FlowKey, Vec<(u16, u16)>)>;

fn emit(out: &mut Outputs, port: u32, k: &FlowKey, deep: &[(u16, u16)]) {
    let mut k = *k;
    k.in_port = 0;
    out.push((port, k, deep.to_vec()));
}

/// A packet's VLAN stack is not bounded by the key's two slots: pushing onto
/// a double-tagged packet keeps the innermost tag in the frame, and a later
/// pop brings it back into view. Both models keep those deeper tags
/// (outermost first) so that push-then-pop is the identity it is on the
/// wire.
fn push_tag(k: &mut FlowKey, deep: &mut Vec<(u16, u16)>, tpid: u16, tci: u16) {
    if k.vlan_tci[1] & VLAN_CFI != 0 {
        deep.insert(0, (k.vlan_tpid[1], k.vlan_tci[1]));
    }
    k.vlan_tci[1] = k.vlan_tci[0];
    k.vlan_tpid[1] = k.vlan_tpid[0];
    k.vlan_tci[0] = tci | VLAN_CFI;
    k.vlan_tpid[0] = tpid;
}

fn pop_tag(k: &mut FlowKey, deep: &mut Vec<(u16, u16)>) {
    k.vlan_tci[0] = k.vlan_tci[1];
    k.vlan_tpid[0] = k.vlan_tpid[1];
    (k.vlan_tpid[1], k.vlan_tci[1]) = if deep.is_empty() {
        (0, 0)
    } else {
        deep.remove(0)
    };
}

/// The naive reference: tables scanned linearly, actions applied to the
/// flow, outputs recorded as they happen.
struct Reference<'a> {
    tables: &'a [Vec<GenRule>],
    out: Outputs,
    /// VLAN tags below the flow's two (see `push_tag`).
    deep: Vec<(u16, u16)>,
}

impl Reference<'_> {
    fn run(tables: &[Vec<GenRule>], key: &FlowKey) -> Outputs {
        let mut flow = Flow::from_key(*key);
        let ip = key.eth_type == 0x0800 || key.eth_type == 0x86dd;
        if ip && key.nw_frag & 1 != 0 {
            flow.key.tp_src = 0;
            flow.key.tp_dst = 0;
        }
        let mut r = Reference {
            tables,
            out: Vec::new(),
            deep: Vec::new(),
        };
        r.table(&mut flow, 0);
        r.out
    }

    fn table(&mut self, flow: &mut Flow, t: u8) {
        let rule = self.tables[t as usize]
            .iter()
            .find(|r| r.matches.matches(flow))
            .cloned();
        if let Some(rule) = rule {
            self.actions(flow, t, &rule.actions);
        }
    }

    /// NORMAL, straight from the VLAN rules and the fixed MAC table.
    fn normal(&mut self, flow: &Flow) {
        let in_port = flow.key.in_port;
        let tagged = Self::has_vlan(flow);
        let tci = flow.key.vlan_tci[0];
        let Some(vlan) = port_vlan(in_port).input_vlan(tagged.then_some(tci & 0xfff)) else {
            return;
        };
        let pcp = if tagged { tci & 0xe000 } else { 0 };
        let dst = flow.key.eth_dst;
        let targets: Vec<u32> = match (is_multicast(&dst), mac_port(vlan, &dst)) {
            (false, Some(p)) if p == in_port => vec![],
            (false, Some(p)) => vec![p],
            _ => PORTS.iter().copied().filter(|&p| p != in_port).collect(),
        };
        for p in targets {
            let Some(tag) = port_vlan(p).output_tag(vlan) else {
                continue;
            };
            let mut k = flow.key;
            let mut deep = self.deep.clone();
            match (tag, tagged) {
                (None, true) => pop_tag(&mut k, &mut deep),
                (None, false) => {}
                (Some(v), true) => {
                    k.vlan_tci[0] = v | pcp | VLAN_CFI;
                    k.vlan_tpid[0] = 0x8100;
                }
                (Some(v), false) => push_tag(&mut k, &mut deep, 0x8100, v | pcp),
            }
            emit(&mut self.out, p, &k, &deep);
        }
    }

    fn has_vlan(flow: &Flow) -> bool {
        flow.key.vlan_tci[0] & VLAN_CFI != 0
    }

    fn push(&mut self, flow: &mut Flow, tpid: u16) {
        push_tag(&mut flow.key, &mut self.deep, tpid, 0);
    }

    fn actions(&mut self, flow: &mut Flow, t: u8, actions: &[OfAction]) {
        for a in actions {
            match a {
                OfAction::Output(p) => {
                    let in_port = flow.key.in_port;
                    match *p {
                        ofp::IN_PORT => emit(&mut self.out, in_port, &flow.key, &self.deep),
                        ofp::FLOOD => {
                            for q in PORTS {
                                if q != in_port {
                                    emit(&mut self.out, q, &flow.key, &self.deep);
                                }
                            }
                        }
                        ofp::NORMAL => self.normal(flow),
                        p if p == in_port => {}
                        p if PORTS.contains(&p) => emit(&mut self.out, p, &flow.key, &self.deep),
                        _ => {}
                    }
                }
                OfAction::Controller { .. } => {
                    emit(&mut self.out, ofp::CONTROLLER, &flow.key, &self.deep)
                }
                OfAction::SetField {
                    field,
                    value,
                    mask,
                    style,
                } => {
                    let vlan = matches!(field, Field::DlVlan | Field::VlanPcp);
                    if vlan {
                        if !Self::has_vlan(flow) {
                            if *style == SetStyle::Mod {
                                self.push(flow, 0x8100);
                            } else {
                                continue;
                            }
                        }
                    } else if !field.prereq().holds(flow) {
                        continue;
                    }
                    let old = field.get(flow);
                    field.set(flow, (old & !mask) | (value & mask));
                }
                OfAction::Load {
                    dst,
                    ofs,
                    n_bits,
                    value,
                } => {
                    if dst.prereq().holds(flow) {
                        dst.set_bits(flow, *ofs, *n_bits, *value);
                    }
                }
                OfAction::Move {
                    src,
                    src_ofs,
                    dst,
                    dst_ofs,
                    n_bits,
                } => {
                    if src.prereq().holds(flow) && dst.prereq().holds(flow) {
                        let v = src.get_bits(flow, *src_ofs, *n_bits);
                        dst.set_bits(flow, *dst_ofs, *n_bits, v);
                    }
                }
                OfAction::StripVlan { .. } => {
                    if Self::has_vlan(flow) {
                        pop_tag(&mut flow.key, &mut self.deep);
                    }
                }
                OfAction::PushVlan(tpid) => self.push(flow, *tpid),
                OfAction::DecTtl => {
                    if flow.key.eth_type == 0x0800 || flow.key.eth_type == 0x86dd {
                        if flow.key.nw_ttl <= 1 {
                            return;
                        }
                        flow.key.nw_ttl -= 1;
                    }
                }
                OfAction::Resubmit { port, table } => {
                    let saved = flow.key.in_port;
                    if let Some(p) = port {
                        flow.key.in_port = *p;
                    }
                    self.table(flow, table.unwrap_or(t));
                    flow.key.in_port = saved;
                }
                OfAction::GotoTable(next) => {
                    self.table(flow, *next);
                    return;
                }
                OfAction::WriteMetadata { value, mask } => {
                    flow.metadata = (flow.metadata & !mask) | (value & mask);
                }
                _ => unreachable!("not generated: {a:?}"),
            }
        }
    }
}

fn apply_masked<
    T: Copy + std::ops::BitAnd<Output = T> + std::ops::BitOr<Output = T> + std::ops::Not<Output = T>,
>(
    old: T,
    value: T,
    mask: T,
) -> T {
    (old & !mask) | (value & mask)
}

fn bytes_masked<const N: usize>(old: [u8; N], value: [u8; N], mask: [u8; N]) -> [u8; N] {
    let mut o = old;
    for i in 0..N {
        o[i] = apply_masked(old[i], value[i], mask[i]);
    }
    o
}

/// Runs datapath actions on a key the way the datapath would change the
/// packet's headers.
fn simulate(actions: &[DpAction], key: &FlowKey) -> Outputs {
    let mut k = *key;
    let ip = k.eth_type == 0x0800 || k.eth_type == 0x86dd;
    if ip && k.nw_frag & 1 != 0 {
        k.tp_src = 0;
        k.tp_dst = 0;
    }
    let mut out = Vec::new();
    let mut deep = Vec::new();
    for a in actions {
        match a {
            DpAction::Output(p) => emit(&mut out, *p, &k, &deep),
            DpAction::Userspace { .. } => emit(&mut out, ofp::CONTROLLER, &k, &deep),
            DpAction::PushVlan { tpid, tci } => push_tag(&mut k, &mut deep, *tpid, *tci),
            DpAction::PopVlan => pop_tag(&mut k, &mut deep),
            DpAction::Set(SetAction::Eth { src, dst }) => {
                k.eth_src = bytes_masked(k.eth_src, src.value, src.mask);
                k.eth_dst = bytes_masked(k.eth_dst, dst.value, dst.mask);
            }
            DpAction::Set(SetAction::Ipv4 { src, dst, tos, ttl }) => {
                assert_eq!(k.eth_type, 0x0800);
                k.nw_src = apply_masked(k.nw_src, src.value, src.mask);
                k.nw_dst = apply_masked(k.nw_dst, dst.value, dst.mask);
                k.nw_tos = apply_masked(k.nw_tos, tos.value, tos.mask);
                k.nw_ttl = apply_masked(k.nw_ttl, ttl.value, ttl.mask);
            }
            DpAction::Set(SetAction::Ipv6 {
                src,
                dst,
                label,
                tclass,
                hlimit,
            }) => {
                assert_eq!(k.eth_type, 0x86dd);
                k.ipv6_src = bytes_masked(k.ipv6_src, src.value, src.mask);
                k.ipv6_dst = bytes_masked(k.ipv6_dst, dst.value, dst.mask);
                k.ipv6_label = apply_masked(k.ipv6_label, label.value, label.mask);
                k.nw_tos = apply_masked(k.nw_tos, tclass.value, tclass.mask);
                k.nw_ttl = apply_masked(k.nw_ttl, hlimit.value, hlimit.mask);
            }
            DpAction::Set(SetAction::Tcp { src, dst })
            | DpAction::Set(SetAction::Udp { src, dst })
            | DpAction::Set(SetAction::Sctp { src, dst }) => {
                k.tp_src = apply_masked(k.tp_src, src.value, src.mask);
                k.tp_dst = apply_masked(k.tp_dst, dst.value, dst.mask);
            }
            other => panic!("unexpected datapath action {other:?}"),
        }
    }
    out
}

fn merge(base: &FlowKey, other: &FlowKey, mask: &dpif_netdev::key::FlowMask) -> FlowKey {
    let mut k = *other;
    for ((w, b), m) in k
        .words_mut()
        .iter_mut()
        .zip(base.words())
        .zip(mask.0.words())
    {
        *w = (*w & !m) | (b & m);
    }
    k._pad0 = [0; 2];
    k._pad1 = 0;
    k._pad2 = [0; 6];
    k
}

proptest! {
    #[test]
    fn megaflows_keep_the_pipelines_promise(
        (_n, rules) in arb_rules(),
        p in arb_key(),
        others in prop::collection::vec(arb_key(), 1..8),
    ) {
        let (tables, by_table) = build_tables(&rules);
        let ports = L2Ports;
        let x = xlate(&tables, &ports, &p, false);
        prop_assert!(x.error.is_none());
        // (a) the actions do what the pipeline says.
        prop_assert_eq!(simulate(&x.actions, &p), Reference::run(&by_table, &p),
            "packet {:?}\nactions {:?}", p, x.actions);
        // (b) every packet agreeing on the mask gets the same actions, and
        // they are right for it too.
        for o in &others {
            let q = merge(&p, o, &x.mask);
            prop_assert!(ports.ofport(q.in_port).is_some());
            let y = xlate(&tables, &ports, &q, false);
            prop_assert_eq!(&y.actions, &x.actions, "p {:?}\nq {:?}\nmask {:?}", p, q, x.mask);
            prop_assert_eq!(simulate(&x.actions, &q), Reference::run(&by_table, &q),
                "q {:?}\nactions {:?}", q, x.actions);
        }
    }
}

/// CI found this one: `push_vlan` then `strip_vlan` on a double-tagged
/// packet must leave both tags in place, although the flow only has room for
/// two tags while the third is on the frame.
#[test]
fn push_then_strip_keeps_a_double_tagged_packet_whole() {
    let rules = vec![GenRule {
        table: 0,
        priority: 0,
        matches: Match::ANY,
        actions: vec![
            OfAction::PushVlan(0x8100),
            OfAction::StripVlan { pop: false },
            OfAction::Output(1),
        ],
    }];
    let (tables, by_table) = build_tables(&rules);
    let ports = L2Ports;
    let mut q = FlowKey::ZERO;
    q.in_port = 2;
    q.eth_src = [2, 0, 0, 0, 0, 0];
    q.eth_dst = [2, 0, 0, 0, 0, 9];
    q.vlan_tpid = [0x8100, 0x8100];
    q.vlan_tci = [VLAN_CFI | 10, VLAN_CFI | 20];
    q.eth_type = 0x0806;
    q.nw_proto = 1;
    q.nw_src = 0x0a00_0000;
    q.nw_dst = 0x0a00_0000;
    let x = xlate(&tables, &ports, &q, false);
    assert!(x.error.is_none());
    let got = simulate(&x.actions, &q);
    assert_eq!(got, Reference::run(&by_table, &q));
    let mut want = q;
    want.in_port = 0;
    assert_eq!(got, vec![(1, want, vec![])]);
}
