//! Translation (xlate): one packet key through the OpenFlow tables into
//! datapath actions and a megaflow mask.
//!
//! The result honours the megaflow contract: every packet whose key agrees
//! with this one on the mask's bits gets exactly the same datapath actions.
//! The mask holds every bit a table lookup depended on (see [`crate::cls`]
//! for how few that can be), the prerequisite fields that actions checked,
//! the fields actions read (`move` sources, `dec_ttl`'s TTL, VLAN presence
//! for pops), plus what the userspace datapath always matches exactly
//! (`recirc_id`, `in_port`, and for IP `eth_type` and the fragment bits).
//!
//! Header rewrites are accumulated on the flow and "committed" as masked
//! datapath `set` actions (only the bits actions wrote) right before each
//! output, so a rewrite after the last output costs nothing and a field
//! written back to its old value is still written (which is what lets the
//! mask leave it wildcarded).
//!
//! OVS behaviours users rely on, kept here: `output:P` to the packet's own
//! input port sends nothing (only `in_port` does); `resubmit:P` looks the
//! table up as if the packet came in on P, then restores `in_port`;
//! `dec_ttl` at TTL <= 1 stops the current action list; IP fragments are
//! looked up with L4 ports 0 (fragment handling "normal"); `push_vlan`
//! pushes VID 0 PCP 0; `mod_vlan_vid` on an untagged packet pushes a tag;
//! resubmits nest at most [`MAX_DEPTH`] deep and at most [`MAX_RESUBMITS`]
//! in all. `normal` is L2 switching with MAC learning (see `normal.rs`).
//!
//! # Thread safety
//! Pure function of its inputs (table stats counters aside).

mod normal;

use crate::field::Field;
use crate::flow::Flow;
use crate::l2::L2Bridge;
use crate::ofaction::{ofp, OfAction, SetStyle};
use crate::table::{Rule, Tables};
use dpif_netdev::actions::{DpAction, DpActions, Masked, SetAction};
use dpif_netdev::key::{ethertype, ipproto, FlowKey, FlowMask, FRAG_ANY, FRAG_MASK, VLAN_CFI};
use std::sync::Arc;

/// Deepest resubmit nesting.
pub const MAX_DEPTH: u32 = 64;
/// Most resubmits in one translation.
pub const MAX_RESUBMITS: u32 = 4096;
/// Cookie of `userspace` actions that send to the controller.
pub const CONTROLLER_COOKIE: u64 = 0x636f_6e74_726f_6c00;

/// The bridge's ports as translation needs them.
pub trait XlatePorts {
    /// Datapath port of OpenFlow port `ofport`.
    fn odp_port(&self, ofport: u32) -> Option<u32>;
    /// OpenFlow port of datapath port `odp`.
    fn ofport(&self, odp: u32) -> Option<u32>;
    /// OpenFlow numbers of every port of the bridge, ascending.
    fn ofports(&self) -> Vec<u32>;
    /// Port VLANs and MAC learning for NORMAL (None: NORMAL drops).
    fn l2(&self) -> Option<&dyn L2Bridge> {
        None
    }
    /// The OpenFlow input port of a packet: by default the port of its
    /// datapath `in_port`; a tunnel vport picks the tunnel port by the
    /// tunnel metadata, adding what it read to `wc`.
    fn in_port(&self, key: &FlowKey, wc: &mut Flow) -> Option<u32> {
        let _ = wc;
        self.ofport(key.in_port)
    }
    /// What output to `ofport` means for this flow beyond "send to its
    /// datapath port": tunnel ports encapsulate, the internal port of an
    /// underlay bridge decapsulates packets for local tunnel endpoints.
    /// Bits of the flow it read go into `wc`.
    fn output(&self, ofport: u32, flow: &Flow, wc: &mut Flow) -> PortOutput {
        let _ = (ofport, flow, wc);
        PortOutput::Plain
    }
    /// Looks at every translated packet before the tables do (the underlay
    /// bridge learns ARP neighbors for tunnels this way); bits read go
    /// into `wc`.
    fn snoop(&self, flow: &Flow, wc: &mut Flow) {
        let _ = (flow, wc);
    }
}

/// What an output to a port becomes (see [`XlatePorts::output`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortOutput {
    /// `output` to the port's datapath number.
    Plain,
    /// These datapath actions instead (after the pending header changes).
    Actions(DpActions),
    /// Nothing is sent, for this reason (shown by `ofproto/trace`).
    Drop(String),
}

/// Ports whose datapath and OpenFlow numbers are the same.
#[derive(Clone, Debug, Default)]
pub struct IdentityPorts(pub Vec<u32>);

impl XlatePorts for IdentityPorts {
    fn odp_port(&self, ofport: u32) -> Option<u32> {
        self.0.contains(&ofport).then_some(ofport)
    }
    fn ofport(&self, odp: u32) -> Option<u32> {
        self.0.contains(&odp).then_some(odp)
    }
    fn ofports(&self) -> Vec<u32> {
        let mut v = self.0.clone();
        v.sort_unstable();
        v
    }
}

/// Why a translation stopped early. Its datapath actions are "drop".
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum XlateError {
    /// Resubmits nested deeper than [`MAX_DEPTH`].
    #[error("resubmit nesting deeper than {MAX_DEPTH}")]
    RecursionTooDeep,
    /// More than [`MAX_RESUBMITS`] resubmits.
    #[error("more than {MAX_RESUBMITS} resubmits")]
    TooManyResubmits,
    /// The input port is not a port of this bridge.
    #[error("no such input port")]
    NoInPort,
}

/// One step of a translation, for `ofproto/trace`.
#[derive(Clone, Debug)]
pub enum TraceStep {
    /// A table lookup and the rule it found (None: table miss, drop).
    Lookup {
        /// Resubmit nesting depth.
        depth: u32,
        /// Table.
        table: u8,
        /// The rule found.
        rule: Option<Arc<Rule>>,
    },
    /// An action run.
    Action {
        /// Resubmit nesting depth.
        depth: u32,
        /// The action.
        action: OfAction,
    },
    /// Something worth telling about the last action.
    Note {
        /// Resubmit nesting depth.
        depth: u32,
        /// What.
        text: String,
    },
}

/// The result of a translation.
#[derive(Clone, Debug)]
pub struct XlateOut {
    /// Datapath actions (empty = drop).
    pub actions: DpActions,
    /// Megaflow mask.
    pub mask: FlowMask,
    /// Every rule that matched, in order (for pushing stats).
    pub rules: Vec<Arc<Rule>>,
    /// The flow after all actions (pipeline view).
    pub final_flow: Flow,
    /// Set when translation stopped early.
    pub error: Option<XlateError>,
    /// Whether NORMAL learned from (or could learn from) this packet: the
    /// megaflow's traffic should be learned from too.
    pub learns: bool,
    /// Steps, when tracing was asked for.
    pub trace: Vec<TraceStep>,
}

struct Ctx<'a> {
    tables: &'a Tables,
    ports: &'a dyn XlatePorts,
    flow: Flow,
    wc: Flow,
    written: Flow,
    /// Original tags removed (or rewritten) since the last commit.
    vlan_pops: u32,
    /// Outermost tags in `flow` that are not in the packet yet.
    vlan_new: u32,
    /// For each VLAN slot of `flow`, the slot of the packet's key it came
    /// from (None: pushed by an action, or emptied). Bits a decision read
    /// from a moved tag are un-wildcarded where the tag was in the packet.
    vlan_origin: [Option<usize>; 2],
    out: DpActions,
    rules: Vec<Arc<Rule>>,
    depth: u32,
    resubmits: u32,
    table_id: u8,
    error: Option<XlateError>,
    learns: bool,
    trace: Option<Vec<TraceStep>>,
}

/// Translates `key` (datapath in_port) through `tables`.
pub fn xlate(tables: &Tables, ports: &dyn XlatePorts, key: &FlowKey, trace: bool) -> XlateOut {
    let mut flow = Flow::from_key(*key);
    let mut wc = Flow::ZERO;
    wc.key.recirc_id = u32::MAX;
    wc.key.in_port = u32::MAX;
    let is_ip = key.eth_type == ethertype::IPV4 || key.eth_type == ethertype::IPV6;
    if is_ip {
        wc.key.eth_type = 0xffff;
        wc.key.nw_frag = FRAG_MASK;
    }
    let frag = is_ip && key.nw_frag & FRAG_ANY != 0;
    if frag {
        // Fragment handling "normal": tables see L4 ports as 0.
        flow.key.tp_src = 0;
        flow.key.tp_dst = 0;
    }
    let mut cx = Ctx {
        tables,
        ports,
        flow,
        wc,
        written: Flow::ZERO,
        vlan_pops: 0,
        vlan_new: 0,
        vlan_origin: [Some(0), Some(1)],
        out: Vec::new(),
        rules: Vec::new(),
        depth: 0,
        resubmits: 0,
        table_id: 0,
        error: None,
        learns: false,
        trace: trace.then(Vec::new),
    };
    let mut read = Flow::ZERO;
    match ports.in_port(key, &mut read) {
        Some(p) => {
            cx.merge_wc(&read);
            cx.flow.key.in_port = p;
            let mut read = Flow::ZERO;
            ports.snoop(&cx.flow, &mut read);
            cx.merge_wc(&read);
            cx.do_table(0);
        }
        None => cx.error = Some(XlateError::NoInPort),
    }
    let mut mask = cx.wc.key_mask();
    if frag {
        mask.0.tp_src = 0;
        mask.0.tp_dst = 0;
    }
    // Pipeline-only state never reaches the datapath mask; padding stays 0.
    mask.0._pad0 = [0; 2];
    mask.0._pad1 = 0;
    mask.0._pad2 = [0; 6];
    if cx.error.is_some() {
        cx.out.clear();
    }
    let mut final_flow = cx.flow;
    if frag {
        final_flow.key.tp_src = key.tp_src;
        final_flow.key.tp_dst = key.tp_dst;
    }
    XlateOut {
        actions: cx.out,
        mask,
        rules: cx.rules,
        final_flow,
        error: cx.error,
        learns: cx.learns,
        trace: cx.trace.unwrap_or_default(),
    }
}

impl Ctx<'_> {
    fn note(&mut self, text: impl Into<String>) {
        let depth = self.depth;
        if let Some(t) = &mut self.trace {
            t.push(TraceStep::Note {
                depth,
                text: text.into(),
            });
        }
    }

    fn do_table(&mut self, table: u8) {
        let mut wc = Flow::ZERO;
        let rule = self.tables.lookup(table, &self.flow, &mut wc).cloned();
        self.merge_wc(&wc);
        let depth = self.depth;
        if let Some(t) = &mut self.trace {
            t.push(TraceStep::Lookup {
                depth,
                table,
                rule: rule.clone(),
            });
        }
        let Some(rule) = rule else {
            return;
        };
        self.rules.push(rule.clone());
        self.table_id = table;
        self.do_actions(&rule.actions);
    }

    fn do_actions(&mut self, actions: &[OfAction]) {
        for a in actions {
            if self.error.is_some() {
                return;
            }
            let depth = self.depth;
            if let Some(t) = &mut self.trace {
                t.push(TraceStep::Action {
                    depth,
                    action: a.clone(),
                });
            }
            match a {
                OfAction::Output(p) => self.output(*p),
                OfAction::Controller { .. } => {
                    self.commit();
                    self.out.push(DpAction::Userspace {
                        cookie: CONTROLLER_COOKIE,
                    });
                }
                OfAction::SetField {
                    field,
                    value,
                    mask,
                    style,
                } => self.set_field(*field, *value, *mask, *style),
                OfAction::Load {
                    dst,
                    ofs,
                    n_bits,
                    value,
                } => {
                    if self.check_prereq(*dst) && self.vlan_writable(*dst) {
                        dst.set_bits(&mut self.flow, *ofs, *n_bits, *value);
                        self.wrote(*dst, *ofs, *n_bits);
                    }
                }
                OfAction::Move {
                    src,
                    src_ofs,
                    dst,
                    dst_ofs,
                    n_bits,
                } => {
                    if self.check_prereq(*src)
                        && self.check_prereq(*dst)
                        && self.vlan_writable(*dst)
                    {
                        let v = src.get_bits(&self.flow, *src_ofs, *n_bits);
                        let mut wc = Flow::ZERO;
                        src.set_bits(&mut wc, *src_ofs, *n_bits, u128::MAX);
                        self.merge_wc(&wc);
                        dst.set_bits(&mut self.flow, *dst_ofs, *n_bits, v);
                        self.wrote(*dst, *dst_ofs, *n_bits);
                    }
                }
                OfAction::StripVlan { .. } => self.pop_vlan(),
                OfAction::PushVlan(tpid) => self.push_vlan(*tpid, 0),
                OfAction::DecTtl => {
                    if self.dec_ttl() {
                        return;
                    }
                }
                OfAction::Resubmit { port, table } => self.resubmit(*port, *table),
                OfAction::GotoTable(t) => {
                    self.do_table(*t);
                    return;
                }
                OfAction::WriteMetadata { value, mask } => {
                    self.flow.metadata = (self.flow.metadata & !mask) | (value & mask);
                }
                OfAction::SetTunnel { id, wide } => {
                    self.flow.key.tun_id = if *wide { *id } else { *id & 0xffff_ffff };
                    self.note("tunnel id set; it takes effect on output to a tunnel port");
                }
                OfAction::Note(_) => {}
            }
        }
    }

    /// Checks a field's prerequisites on the current flow, un-wildcarding
    /// what the check read. OVS skips an action whose field is absent.
    fn check_prereq(&mut self, f: Field) -> bool {
        let p = f.prereq();
        p.unwildcard(&mut self.wc);
        let ok = p.holds(&self.flow);
        if !ok {
            self.note(format!(
                "{} is not present in this packet: skipped",
                f.name()
            ));
        }
        ok
    }

    /// Adds bits read from the current flow to the megaflow mask, mapping
    /// VLAN slots back to where those tags were in the packet.
    fn merge_wc(&mut self, read: &Flow) {
        let mut r = *read;
        let (tci, tpid) = (r.key.vlan_tci, r.key.vlan_tpid);
        r.key.vlan_tci = [0; 2];
        r.key.vlan_tpid = [0; 2];
        self.wc.union_with(&r);
        for i in 0..2 {
            if let Some(j) = self.vlan_origin[i] {
                self.wc.key.vlan_tci[j] |= tci[i];
                self.wc.key.vlan_tpid[j] |= tpid[i];
            }
        }
    }

    /// Whether the outer tag is present, un-wildcarding what that read.
    fn outer_vlan_present(&mut self) -> bool {
        if let Some(j) = self.vlan_origin[0] {
            self.wc.key.vlan_tci[j] |= VLAN_CFI;
        }
        self.flow.key.vlan_tci[0] & VLAN_CFI != 0
    }

    fn is_vlan(f: Field) -> bool {
        matches!(
            f,
            Field::DlVlan | Field::VlanVid | Field::VlanPcp | Field::VlanTci
        )
    }

    /// VLAN fields can be written by load/move only when a tag is there.
    fn vlan_writable(&mut self, f: Field) -> bool {
        if !Self::is_vlan(f) {
            return true;
        }
        let ok = self.outer_vlan_present();
        if !ok {
            self.note("packet has no VLAN tag: write skipped");
        }
        ok
    }

    /// Records that bits of `f` were written by an action.
    fn wrote(&mut self, f: Field, ofs: u32, n_bits: u32) {
        if Self::is_vlan(f) {
            // The tag stays present whatever was loaded into the TCI.
            self.flow.key.vlan_tci[0] |= VLAN_CFI;
            self.rewrite_outer_vlan();
        } else {
            self.flow.key.tun_md_present |= f.present_bit();
            f.set_bits(&mut self.written, ofs, n_bits, u128::MAX);
        }
    }

    fn set_field(&mut self, field: Field, value: u128, mask: u128, style: SetStyle) {
        if Self::is_vlan(field) {
            if !self.outer_vlan_present() {
                if style == SetStyle::Mod && field != Field::VlanTci {
                    // mod_vlan_vid / mod_vlan_pcp push a tag when none.
                    self.push_vlan(ethertype::VLAN, 0);
                } else {
                    self.note("packet has no VLAN tag: set_field skipped");
                    return;
                }
            }
            let (old_v, old_m) = (field.get(&self.flow), mask);
            field.set(&mut self.flow, (old_v & !old_m) | (value & mask));
            self.flow.key.vlan_tci[0] |= VLAN_CFI;
            self.rewrite_outer_vlan();
            return;
        }
        if !self.check_prereq(field) {
            return;
        }
        let old = field.get(&self.flow);
        field.set(&mut self.flow, (old & !mask) | (value & mask));
        // Writing a tun_metadata field makes its option present (it goes
        // into the Geneve header on output to a Geneve port).
        self.flow.key.tun_md_present |= field.present_bit();
        let wm = field.get(&self.written);
        field.set(&mut self.written, wm | mask);
    }

    fn output(&mut self, port: u32) {
        let in_port = self.flow.key.in_port;
        match port {
            ofp::IN_PORT => self.output_to(in_port),
            ofp::FLOOD | ofp::ALL => {
                self.commit();
                for p in self.ports.ofports() {
                    if p != in_port {
                        self.output_to(p);
                    }
                }
            }
            ofp::NORMAL => self.normal(),
            ofp::CONTROLLER => {
                self.commit();
                self.out.push(DpAction::Userspace {
                    cookie: CONTROLLER_COOKIE,
                });
            }
            ofp::TABLE | ofp::NONE => self.note("output to this reserved port does nothing"),
            p if p == in_port => {
                self.note("skipping output to input port");
            }
            p => self.output_to(p),
        }
    }

    fn output_to(&mut self, ofport: u32) {
        let mut read = Flow::ZERO;
        let special = self.ports.output(ofport, &self.flow, &mut read);
        self.merge_wc(&read);
        match special {
            PortOutput::Plain => {}
            PortOutput::Actions(a) => {
                self.commit();
                self.out.extend(a);
                return;
            }
            PortOutput::Drop(why) => {
                self.note(why);
                return;
            }
        }
        match self.ports.odp_port(ofport) {
            Some(odp) => {
                self.commit();
                self.out.push(DpAction::Output(odp));
            }
            None => self.note(format!("output to nonexistent port {ofport}")),
        }
    }

    fn resubmit(&mut self, port: Option<u32>, table: Option<u8>) {
        if self.depth >= MAX_DEPTH {
            self.error = Some(XlateError::RecursionTooDeep);
            return;
        }
        self.resubmits += 1;
        if self.resubmits > MAX_RESUBMITS {
            self.error = Some(XlateError::TooManyResubmits);
            return;
        }
        let old_in = self.flow.key.in_port;
        let old_table = self.table_id;
        if let Some(p) = port.filter(|p| *p != ofp::IN_PORT) {
            self.flow.key.in_port = p;
        }
        self.depth += 1;
        self.do_table(table.unwrap_or(old_table));
        self.depth -= 1;
        self.table_id = old_table;
        self.flow.key.in_port = old_in;
    }

    /// Returns true when the action list must stop (TTL expired).
    fn dec_ttl(&mut self) -> bool {
        self.wc.key.eth_type = 0xffff;
        let k = &mut self.flow.key;
        if k.eth_type != ethertype::IPV4 && k.eth_type != ethertype::IPV6 {
            self.note("dec_ttl on a non-IP packet does nothing");
            return false;
        }
        self.wc.key.nw_ttl = 0xff;
        if k.nw_ttl <= 1 {
            self.note("TTL expired (invalid_ttl): no controller, dropped; action list stopped");
            return true;
        }
        k.nw_ttl -= 1;
        self.written.key.nw_ttl = 0xff;
        false
    }

    fn push_vlan(&mut self, tpid: u16, tci: u16) {
        self.vlan_origin = [None, self.vlan_origin[0]];
        let k = &mut self.flow.key;
        k.vlan_tci[1] = k.vlan_tci[0];
        k.vlan_tpid[1] = k.vlan_tpid[0];
        k.vlan_tci[0] = tci | VLAN_CFI;
        k.vlan_tpid[0] = tpid;
        self.vlan_new = (self.vlan_new + 1).min(2);
    }

    fn pop_vlan(&mut self) {
        if !self.outer_vlan_present() {
            self.note("packet has no VLAN tag: pop_vlan does nothing");
            return;
        }
        self.vlan_origin = [self.vlan_origin[1], None];
        let k = &mut self.flow.key;
        k.vlan_tci[0] = k.vlan_tci[1];
        k.vlan_tpid[0] = k.vlan_tpid[1];
        k.vlan_tci[1] = 0;
        k.vlan_tpid[1] = 0;
        if self.vlan_new > 0 {
            self.vlan_new -= 1;
        } else {
            self.vlan_pops += 1;
        }
    }

    /// The outer tag's TCI changed: if the tag is the packet's own, it is
    /// popped and pushed again at commit, carrying its TPID and the TCI
    /// bits no action wrote, so those become part of the megaflow.
    fn rewrite_outer_vlan(&mut self) {
        if self.vlan_new == 0 {
            if let Some(j) = self.vlan_origin[0] {
                self.wc.key.vlan_tci[j] = 0xffff;
                self.wc.key.vlan_tpid[j] = 0xffff;
            }
            self.vlan_origin[0] = None;
            self.vlan_pops += 1;
            self.vlan_new = 1;
        }
    }

    /// Emits datapath actions for the header changes since the last
    /// commit.
    fn commit(&mut self) {
        let (f, w) = (&self.flow.key, &self.written.key);
        let mut out = Vec::new();
        if w.eth_src != [0; 6] || w.eth_dst != [0; 6] {
            out.push(DpAction::Set(SetAction::Eth {
                src: masked_bytes(f.eth_src, w.eth_src),
                dst: masked_bytes(f.eth_dst, w.eth_dst),
            }));
        }
        for _ in 0..self.vlan_pops {
            out.push(DpAction::PopVlan);
        }
        for i in (0..self.vlan_new as usize).rev() {
            out.push(DpAction::PushVlan {
                tpid: f.vlan_tpid[i],
                tci: f.vlan_tci[i] & !VLAN_CFI,
            });
        }
        let l3 = w.nw_src | w.nw_dst != 0 || w.nw_tos | w.nw_ttl != 0;
        let l3v6 = w.ipv6_src != [0; 16] || w.ipv6_dst != [0; 16] || w.ipv6_label != 0;
        let mut dropped_writes = false;
        if l3 || l3v6 {
            match f.eth_type {
                ethertype::IPV4 => out.push(DpAction::Set(SetAction::Ipv4 {
                    src: Masked {
                        value: f.nw_src & w.nw_src,
                        mask: w.nw_src,
                    },
                    dst: Masked {
                        value: f.nw_dst & w.nw_dst,
                        mask: w.nw_dst,
                    },
                    tos: Masked {
                        value: f.nw_tos & w.nw_tos,
                        mask: w.nw_tos,
                    },
                    ttl: Masked {
                        value: f.nw_ttl & w.nw_ttl,
                        mask: w.nw_ttl,
                    },
                })),
                ethertype::IPV6 => out.push(DpAction::Set(SetAction::Ipv6 {
                    src: masked_bytes(f.ipv6_src, w.ipv6_src),
                    dst: masked_bytes(f.ipv6_dst, w.ipv6_dst),
                    label: Masked {
                        value: f.ipv6_label & w.ipv6_label,
                        mask: w.ipv6_label,
                    },
                    tclass: Masked {
                        value: f.nw_tos & w.nw_tos,
                        mask: w.nw_tos,
                    },
                    hlimit: Masked {
                        value: f.nw_ttl & w.nw_ttl,
                        mask: w.nw_ttl,
                    },
                })),
                _ => dropped_writes = true,
            }
        }
        if w.tp_src | w.tp_dst != 0 {
            let src = Masked {
                value: f.tp_src & w.tp_src,
                mask: w.tp_src,
            };
            let dst = Masked {
                value: f.tp_dst & w.tp_dst,
                mask: w.tp_dst,
            };
            let ip = f.eth_type == ethertype::IPV4 || f.eth_type == ethertype::IPV6;
            match f.nw_proto {
                ipproto::TCP if ip => out.push(DpAction::Set(SetAction::Tcp { src, dst })),
                ipproto::UDP if ip => out.push(DpAction::Set(SetAction::Udp { src, dst })),
                ipproto::SCTP if ip => out.push(DpAction::Set(SetAction::Sctp { src, dst })),
                _ => dropped_writes = true,
            }
        }
        if w.arp_sha != [0; 6] || w.arp_tha != [0; 6] || w.nd_target != [0; 16] {
            dropped_writes = true;
        }
        self.out.extend(out);
        if dropped_writes {
            self.note("the datapath cannot rewrite ARP, ICMP or ND fields: those rewrites are not applied");
        }
        // What is written is now in the packet.
        self.written.key = FlowKey::ZERO;
        self.vlan_pops = 0;
        self.vlan_new = 0;
    }
}

/// The written bits of a byte-array field as a masked set.
fn masked_bytes<const N: usize>(v: [u8; N], m: [u8; N]) -> Masked<[u8; N]> {
    let mut value = v;
    value.iter_mut().zip(m).for_each(|(a, b)| *a &= b);
    Masked { value, mask: m }
}
