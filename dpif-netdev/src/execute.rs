//! Datapath action execution: runs a megaflow's [`DpAction`] list on
//! packets and hands the results to an [`ActionSink`].
//!
//! # Semantics
//!
//! Actions run left to right on one packet. The *consuming* actions
//! (`Output`, `Recirc`, `TnlPush`, `TnlPop`, `Userspace`) give a packet
//! away; the last consuming action of the list gets the packet itself and
//! every earlier one gets a copy from [`ActionSink::clone_packet`], so `N`
//! outputs cost `N - 1` copies. Actions after the last consuming one can
//! have no visible effect and are not run (the packet is handed to
//! [`ActionSink::free`]; OVS frees it too, and does not count it as a
//! drop). A list with no action at all is an explicit drop:
//! [`ActionSink::dropped`] with [`DropReason::FlowAction`].
//!
//! Header rewrites (`set(...)`) are masked, `new = (old & !mask) | (value &
//! mask)`, and keep every checksum valid with RFC 1624 incremental updates
//! (the SCTP CRC32c is recomputed over the SCTP packet, so a corrupt one
//! becomes a correct one). They find their header through `md.l3_ofs` /
//! `md.l4_ofs` (set by key extraction) and leave a packet that lacks the
//! header (offset [`NO_OFS`], wrong IP version, too short, inconsistent
//! offsets) unchanged. L4 fields and checksums are only touched when the
//! packet is not a later fragment and `md.l4_ofs` is where the IP header
//! says L4 starts. For IPv6 the L4 protocol is found by walking the
//! hop-by-hop, routing, destination-options, AH and fragment headers from
//! `l3_ofs`; the walk must end at `md.l4_ofs`. As in OVS, an IPv6
//! destination change does not update the L4 checksum when a routing
//! header with segments left is present (the pseudo header then holds the
//! final destination, which is not the field being written).
//!
//! `push_vlan` / `pop_vlan` move only the 12 MAC bytes, using headroom;
//! `l3_ofs` / `l4_ofs` move with the headers. No headroom for a push drops
//! the packet ([`DropReason::NoHeadroom`]).
//!
//! `hash` and the tunnel source port use [`hash_5tuple`].
//!
//! `tnl_push` and `tnl_pop` are described on [`tnl_push`] and [`tnl_pop`].
//!
//! Header byte offsets are local constants until the shared `wire` views
//! land; nothing here panics on any input (the property tests feed it
//! random frames).
//!
//! # Thread safety
//! Pure functions over packets the caller owns (`&mut` / by value); a
//! [`TxBatches`] belongs to one PMD.

use crate::actions::{DpAction, Masked, SetAction, TnlPop, TnlPush};
use crate::drop::DropReason;
use crate::hash::{fmix64, hash_add};
use crate::key::{ethertype, ipproto};
use crate::packet::{tun_flags, Packet, PacketBatch, TunnelMeta, MAX_BURST, NO_OFS};
use crate::wire::checksum as csum;
use std::ops::{BitAnd, BitOr, Not};

#[cfg(test)]
mod tests;

mod off {
    //! Header offsets and sizes, taken from the `wire` modules' `field`
    //! layouts (one source of truth) under the short names this module
    //! uses.
    use crate::wire::{eth, icmpv6, ipv4, ipv6, sctp, tcp, udp, vlan, vxlan};

    pub const ETH_HLEN: usize = eth::field::PAYLOAD;
    pub const ETH_TYPE: usize = eth::field::ETHERTYPE.start;
    pub const VLAN_HLEN: usize = vlan::field::PAYLOAD;

    pub const IP4_VER_IHL: usize = ipv4::field::VER_IHL;
    pub const IP4_TOS: usize = ipv4::field::TOS;
    pub const IP4_TOT_LEN: usize = ipv4::field::LENGTH.start;
    pub const IP4_FRAG: usize = ipv4::field::FLG_OFF.start;
    pub const IP4_TTL: usize = ipv4::field::TTL;
    pub const IP4_PROTO: usize = ipv4::field::PROTOCOL;
    pub const IP4_CSUM: usize = ipv4::field::CHECKSUM.start;
    pub const IP4_SRC: usize = ipv4::field::SRC_ADDR.start;
    pub const IP4_DST: usize = ipv4::field::DST_ADDR.start;
    pub const IP4_MIN_HLEN: usize = ipv4::field::OPTIONS;
    /// Fragment offset bits of the flags/offset word.
    pub const IP4_FRAG_OFS_MASK: u16 = 0x1fff;
    /// More-fragments bit.
    pub const IP4_MF: u16 = 0x2000;
    /// Don't-fragment bit.
    pub const IP4_DF: u16 = 0x4000;

    pub const IP6_PLEN: usize = ipv6::field::LENGTH.start;
    pub const IP6_NXT: usize = ipv6::field::NXT_HDR;
    pub const IP6_HLIM: usize = ipv6::field::HOP_LIMIT;
    pub const IP6_SRC: usize = ipv6::field::SRC_ADDR.start;
    pub const IP6_DST: usize = ipv6::field::DST_ADDR.start;
    pub const IP6_HLEN: usize = ipv6::field::PAYLOAD;

    pub const TCP_CSUM: usize = tcp::field::CHECKSUM.start;
    pub const TCP_MIN_HLEN: usize = tcp::field::OPTIONS;
    pub const UDP_LEN: usize = udp::field::LENGTH.start;
    pub const UDP_CSUM: usize = udp::field::CHECKSUM.start;
    pub const UDP_HLEN: usize = udp::field::PAYLOAD;
    pub const SCTP_CSUM: usize = sctp::field::CHECKSUM.start;
    pub const SCTP_HLEN: usize = sctp::field::CHUNKS;
    pub const ICMP6_CSUM: usize = icmpv6::field::CHECKSUM.start;

    pub const VXLAN_HLEN: usize = vxlan::field::PAYLOAD;
    /// The "I" (valid VNI) flag in the first VXLAN byte.
    pub const VXLAN_FLAG_I: u8 = 0x08;
    pub const GENEVE_HLEN: usize = 8;
    /// Geneve OAM bit in the second header byte.
    pub const GENEVE_OAM: u8 = 0x80;
    /// Transparent Ethernet Bridging, the only Geneve payload handled.
    pub const ETH_TYPE_TEB: u16 = 0x6558;
}

/// UDP destination port that `tnl_pop` treats as VXLAN.
pub const VXLAN_PORT: u16 = 4789;
/// UDP destination port that `tnl_pop` treats as Geneve.
pub const GENEVE_PORT: u16 = 6081;
/// Lowest UDP source port of an encapsulated packet (OVS's default).
pub const TNL_SRC_PORT_MIN: u16 = 32768;
/// Highest UDP source port of an encapsulated packet (OVS's default).
pub const TNL_SRC_PORT_MAX: u16 = 61000;

/// Where the results of action execution go.
pub trait ActionSink {
    /// Transmit `pkt` on datapath port `port`.
    fn output(&mut self, port: u32, pkt: Packet);
    /// Transmit every packet of `pkts`, in order, on `port` (a run of one
    /// flow whose actions are a lone `output`). Override to do the
    /// per-port work once per run.
    #[inline]
    fn output_run<I: Iterator<Item = Packet>>(&mut self, port: u32, pkts: I)
    where
        Self: Sized,
    {
        for pkt in pkts {
            self.output(port, pkt);
        }
    }
    /// Run `pkt` through the datapath again (`md.recirc_id` is already set).
    fn recirculate(&mut self, pkt: Packet);
    /// Send `pkt` to the slow path with `cookie`.
    fn userspace(&mut self, pkt: Packet, cookie: u64);
    /// `pkt` was dropped for `reason`.
    fn dropped(&mut self, pkt: Packet, reason: DropReason);
    /// A copy of `pkt` for a consuming action that is not the last one.
    /// Override to copy into a pool buffer.
    fn clone_packet(&mut self, pkt: &Packet) -> Packet {
        pkt.clone_heap()
    }
    /// `pkt` is done with after its last consuming action was a copy (not a
    /// drop). Override to recycle the buffer into a pool.
    fn free(&mut self, pkt: Packet) {
        drop(pkt)
    }
}

/// Runs `actions` on `pkt` (see the module docs).
///
/// A lone `output` (the commonest megaflow) is handed to the sink right
/// here, so after inlining the packet moves once, from the caller's batch
/// into the sink; every other list goes through the general interpreter.
/// (Each extra by-value move of a just-written `Packet` costs a
/// store-forwarding stall: measured 10+ ns per packet.)
#[inline(always)]
pub fn execute<S: ActionSink + ?Sized>(actions: &[DpAction], pkt: Packet, sink: &mut S) {
    if let [DpAction::Output(port)] = actions {
        sink.output(*port, pkt);
        return;
    }
    run(actions, last_consumer(actions), pkt, sink)
}

/// Runs `actions` on every packet of `pkts`, in order. A lone `output`
/// hands the whole run to [`ActionSink::output_run`], so the sink does its
/// per-port work once (the fast path calls this once per run of packets
/// of one megaflow).
#[inline]
pub fn execute_batch<S: ActionSink>(
    actions: &[DpAction],
    pkts: impl Iterator<Item = Packet>,
    sink: &mut S,
) {
    match actions {
        [DpAction::Output(port)] => {
            sink.output_run(*port, pkts);
            return;
        }
        // Rewrites, then one output or encapsulation (VLAN push, set
        // fields, VXLAN encap): the survivors of a run still reach the sink
        // as runs, so the port is looked up once per run.
        [mods @ .., DpAction::Output(port)] if !mods.iter().any(is_consumer) => {
            run_to_port(mods, *port, None, pkts, sink);
            return;
        }
        [mods @ .., DpAction::TnlPush(t)] if !mods.iter().any(is_consumer) => {
            run_to_port(mods, t.out_port, Some(t), pkts, sink);
            return;
        }
        _ => {}
    }
    let last = last_consumer(actions);
    for pkt in pkts {
        run(actions, last, pkt, sink);
    }
}

/// [`execute_batch`] for actions `mods` (no consumer among them) then
/// one `output(port)`, or a `tnl_push` (`push`) whose output is `port`:
/// each packet is rewritten (and encapsulated), and those that survive go
/// to [`ActionSink::output_run`] in groups of up to [`MAX_BURST`], in
/// order.
fn run_to_port<S: ActionSink>(
    mods: &[DpAction],
    port: u32,
    push: Option<&TnlPush>,
    pkts: impl Iterator<Item = Packet>,
    sink: &mut S,
) {
    let mut ready: [Option<Packet>; MAX_BURST] = [const { None }; MAX_BURST];
    let mut n = 0;
    for mut pkt in pkts {
        if let Err(reason) = mods.iter().try_for_each(|a| modify(a, &mut pkt)) {
            sink.dropped(pkt, reason);
            continue;
        }
        if let Some(t) = push {
            pkt = match tnl_encap(pkt, t) {
                Ok(p) => p,
                Err((p, reason)) => {
                    sink.dropped(p, reason);
                    continue;
                }
            };
        }
        ready[n] = Some(pkt);
        n += 1;
        if n == MAX_BURST {
            sink.output_run(port, ready.iter_mut().filter_map(Option::take));
            n = 0;
        }
    }
    if n > 0 {
        sink.output_run(port, ready[..n].iter_mut().filter_map(Option::take));
    }
}

fn is_consumer(a: &DpAction) -> bool {
    matches!(
        a,
        DpAction::Output(_)
            | DpAction::Recirc(_)
            | DpAction::TnlPush(_)
            | DpAction::TnlPop(_)
            | DpAction::Userspace { .. }
    )
}

fn last_consumer(actions: &[DpAction]) -> Option<usize> {
    actions.iter().rposition(is_consumer)
}

#[inline(never)]
fn run<S: ActionSink + ?Sized>(
    actions: &[DpAction],
    last: Option<usize>,
    mut pkt: Packet,
    sink: &mut S,
) {
    let Some(last) = last else {
        if actions.is_empty() {
            sink.dropped(pkt, DropReason::FlowAction);
        } else {
            // Only rewrites: nothing can observe them.
            sink.free(pkt);
        }
        return;
    };
    for (i, a) in actions[..=last].iter().enumerate() {
        if is_consumer(a) {
            if i == last {
                consume(a, pkt, sink);
                return;
            }
            let copy = sink.clone_packet(&pkt);
            consume(a, copy, sink);
        } else if let Err(reason) = modify(a, &mut pkt) {
            sink.dropped(pkt, reason);
            return;
        }
    }
    // Not reached: the action at `last` is a consumer and returns above.
    sink.free(pkt);
}

#[inline]
fn consume<S: ActionSink + ?Sized>(a: &DpAction, mut pkt: Packet, sink: &mut S) {
    match a {
        DpAction::Output(port) => sink.output(*port, pkt),
        DpAction::Recirc(id) => {
            pkt.md.recirc_id = *id;
            sink.recirculate(pkt)
        }
        DpAction::TnlPush(t) => tnl_push(pkt, t, sink),
        DpAction::TnlPop(t) => tnl_pop(pkt, t, sink),
        DpAction::Userspace { cookie } => sink.userspace(pkt, *cookie),
        DpAction::Set(_)
        | DpAction::PushVlan { .. }
        | DpAction::PopVlan
        | DpAction::Hash { .. } => sink.free(pkt),
    }
}

fn modify(a: &DpAction, pkt: &mut Packet) -> Result<(), DropReason> {
    match a {
        DpAction::Set(s) => set(s, pkt),
        DpAction::PushVlan { tpid, tci } => return push_vlan(pkt, *tpid, *tci),
        DpAction::PopVlan => pop_vlan(pkt),
        DpAction::Hash { basis } => pkt.md.dp_hash = hash_5tuple(pkt, *basis),
        _ => {}
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Small byte helpers. Callers check bounds first; `get` keeps them panic-free
// anyway.

#[inline]
fn be16(d: &[u8], at: usize) -> u16 {
    match d.get(at..at + 2) {
        Some(b) => u16::from_be_bytes([b[0], b[1]]),
        None => 0,
    }
}

#[inline]
fn be32(d: &[u8], at: usize) -> u32 {
    match d.get(at..at + 4) {
        Some(b) => u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        None => 0,
    }
}

#[inline]
fn put16(d: &mut [u8], at: usize, v: u16) {
    if let Some(b) = d.get_mut(at..at + 2) {
        b.copy_from_slice(&v.to_be_bytes());
    }
}

#[inline]
fn put32(d: &mut [u8], at: usize, v: u32) {
    if let Some(b) = d.get_mut(at..at + 4) {
        b.copy_from_slice(&v.to_be_bytes());
    }
}

#[inline]
fn ofs(o: u16) -> Option<usize> {
    (o != NO_OFS).then_some(o as usize)
}

/// `(old & !mask) | (value & mask)`.
#[inline]
fn apply<T>(old: T, m: &Masked<T>) -> T
where
    T: Copy + BitAnd<Output = T> + BitOr<Output = T> + Not<Output = T>,
{
    (old & !m.mask) | (m.value & m.mask)
}

/// Masked write of a byte array field; returns the new bytes.
#[inline]
fn apply_bytes<const N: usize>(old: &[u8], m: &Masked<[u8; N]>) -> [u8; N] {
    let mut out = [0u8; N];
    for i in 0..N {
        out[i] = (old[i] & !m.mask[i]) | (m.value[i] & m.mask[i]);
    }
    out
}

// ---------------------------------------------------------------------------
// Locating headers.

/// A valid IPv4 header at `l3_ofs` (a packet's `md.l3_ofs`): `(l3,
/// header length)`.
fn ipv4_hdr(d: &[u8], l3_ofs: u16) -> Option<(usize, usize)> {
    let l3 = ofs(l3_ofs)?;
    let vi = *d.get(l3 + off::IP4_VER_IHL)?;
    let hl = (vi & 0x0f) as usize * 4;
    if vi >> 4 != 4 || hl < off::IP4_MIN_HLEN || l3 + hl > d.len() {
        return None;
    }
    Some((l3, hl))
}

/// A full IPv6 fixed header at `l3_ofs` (a packet's `md.l3_ofs`).
fn ipv6_hdr(d: &[u8], l3_ofs: u16) -> Option<usize> {
    let l3 = ofs(l3_ofs)?;
    if l3 + off::IP6_HLEN > d.len() || d[l3] >> 4 != 6 {
        return None;
    }
    Some(l3)
}

/// Where the IPv6 extension header chain starting at `l3` ends.
struct V6Walk {
    /// Final next header.
    proto: u8,
    /// Offset of the header after the chain.
    ofs: usize,
    /// A fragment header with a non-zero offset was met.
    later_frag: bool,
    /// A routing header with segments left was met.
    routing: bool,
}

fn ipv6_walk(d: &[u8], l3: usize) -> Option<V6Walk> {
    let mut w = V6Walk {
        proto: *d.get(l3 + off::IP6_NXT)?,
        ofs: l3 + off::IP6_HLEN,
        later_frag: false,
        routing: false,
    };
    // A bound on the chain length keeps a crafted packet from costing much.
    for _ in 0..8 {
        let h = w.ofs;
        match w.proto {
            ipproto::HOPOPTS | ipproto::ROUTING | ipproto::DSTOPTS => {
                let b = d.get(h..h + 8)?;
                if w.proto == ipproto::ROUTING && b[3] != 0 {
                    w.routing = true;
                }
                w.proto = b[0];
                w.ofs = h + (b[1] as usize + 1) * 8;
            }
            ipproto::AH => {
                let b = d.get(h..h + 8)?;
                w.proto = b[0];
                w.ofs = h + (b[1] as usize + 2) * 4;
            }
            ipproto::FRAGMENT => {
                let b = d.get(h..h + 8)?;
                w.proto = b[0];
                w.ofs = h + 8;
                if u16::from_be_bytes([b[2], b[3]]) & 0xfff8 != 0 {
                    w.later_frag = true;
                    return Some(w);
                }
            }
            _ => return (w.ofs <= d.len()).then_some(w),
        }
        if w.ofs > d.len() {
            return None;
        }
    }
    None
}

/// The L4 header of a packet, for rewriting ports and checksums.
#[derive(Clone, Copy, Debug)]
struct L4 {
    ofs: usize,
    proto: u8,
    /// End of the IP payload (clamped to the frame).
    end: usize,
    /// IPv6 routing header with segments left present.
    routing: bool,
}

/// The L4 header at `l4_ofs` when it is present, consistent with the IP
/// header at `l3_ofs` (a packet's `md.l3_ofs` and `md.l4_ofs`) and not in
/// a later fragment.
fn l4_of(d: &[u8], l3_ofs: u16, l4_ofs: u16) -> Option<L4> {
    let l4 = ofs(l4_ofs)?;
    if let Some((l3, hl)) = ipv4_hdr(d, l3_ofs) {
        if be16(d, l3 + off::IP4_FRAG) & off::IP4_FRAG_OFS_MASK != 0 || l4 != l3 + hl {
            return None;
        }
        let end = (l3 + be16(d, l3 + off::IP4_TOT_LEN) as usize).min(d.len());
        return Some(L4 {
            ofs: l4,
            proto: d[l3 + off::IP4_PROTO],
            end: end.max(l4),
            routing: false,
        });
    }
    let l3 = ipv6_hdr(d, l3_ofs)?;
    let w = ipv6_walk(d, l3)?;
    if w.later_frag || w.ofs != l4 {
        return None;
    }
    let end = (l3 + off::IP6_HLEN + be16(d, l3 + off::IP6_PLEN) as usize).min(d.len());
    Some(L4 {
        ofs: l4,
        proto: w.proto,
        end: end.max(l4),
        routing: w.routing,
    })
}

/// Offset of the checksum covering the pseudo header in this L4 header,
/// and whether it is a UDP checksum (where 0 means "none").
fn pseudo_csum_at(d: &[u8], l4: &L4, icmp6: bool) -> Option<(usize, bool)> {
    let (at, need, udp) = match l4.proto {
        ipproto::TCP => (off::TCP_CSUM, off::TCP_MIN_HLEN, false),
        ipproto::UDP => (off::UDP_CSUM, off::UDP_HLEN, true),
        ipproto::ICMPV6 if icmp6 => (off::ICMP6_CSUM, 4, false),
        _ => return None,
    };
    (l4.ofs + need <= d.len()).then_some((l4.ofs + at, udp))
}

/// Applies `f` to the L4 checksum at `at`; a zero UDP checksum stays zero
/// and a UDP checksum that comes out zero is sent as 0xffff.
fn update_l4_csum(d: &mut [u8], at: usize, udp: bool, f: impl FnOnce(u16) -> u16) {
    let c = be16(d, at);
    if udp && c == 0 {
        return;
    }
    let mut n = f(c);
    if udp && n == 0 {
        n = 0xffff;
    }
    put16(d, at, n);
}

// ---------------------------------------------------------------------------
// set(...)

fn set(s: &SetAction, pkt: &mut Packet) {
    match s {
        SetAction::Eth { src, dst } => set_eth(pkt.data_mut(), src, dst),
        SetAction::Ipv4 { src, dst, tos, ttl } => set_ipv4(pkt, src, dst, tos, ttl),
        SetAction::Ipv6 {
            src,
            dst,
            label,
            tclass,
            hlimit,
        } => set_ipv6(pkt, src, dst, label, tclass, hlimit),
        SetAction::Tcp { src, dst } => set_ports(pkt, ipproto::TCP, src, dst),
        SetAction::Udp { src, dst } => set_ports(pkt, ipproto::UDP, src, dst),
        SetAction::Sctp { src, dst } => set_sctp(pkt, src, dst),
        SetAction::Tunnel(t) => pkt.md.set_tunnel(*t),
    }
}

fn set_eth(d: &mut [u8], src: &Masked<[u8; 6]>, dst: &Masked<[u8; 6]>) {
    if d.len() < off::ETH_HLEN {
        return;
    }
    let new_dst = apply_bytes(&d[0..6], dst);
    let new_src = apply_bytes(&d[6..12], src);
    d[0..6].copy_from_slice(&new_dst);
    d[6..12].copy_from_slice(&new_src);
}

fn set_ipv4(
    pkt: &mut Packet,
    src: &Masked<u32>,
    dst: &Masked<u32>,
    tos: &Masked<u8>,
    ttl: &Masked<u8>,
) {
    let md = pkt.md;
    let d = pkt.data_mut();
    let Some((l3, _)) = ipv4_hdr(d, md.l3_ofs) else {
        return;
    };
    let l4c = l4_of(d, md.l3_ofs, md.l4_ofs).and_then(|l4| pseudo_csum_at(d, &l4, false));
    let mut ip_csum = be16(d, l3 + off::IP4_CSUM);
    for (at, m) in [(off::IP4_SRC, src), (off::IP4_DST, dst)] {
        if m.is_none() {
            continue;
        }
        let old = be32(d, l3 + at);
        let new = apply(old, m);
        if old == new {
            continue;
        }
        put32(d, l3 + at, new);
        ip_csum = csum::update32(ip_csum, old, new);
        if let Some((c, udp)) = l4c {
            update_l4_csum(d, c, udp, |v| csum::update32(v, old, new));
        }
    }
    // TOS and TTL are the high bytes of header words 0 and 4.
    for (at, m) in [(off::IP4_TOS, tos), (off::IP4_TTL, ttl)] {
        if m.is_none() {
            continue;
        }
        let word_at = l3 + (at & !1);
        let old = be16(d, word_at);
        d[l3 + at] = apply(d[l3 + at], m);
        let new = be16(d, word_at);
        ip_csum = csum::update16(ip_csum, old, new);
    }
    put16(d, l3 + off::IP4_CSUM, ip_csum);
}

fn set_ipv6(
    pkt: &mut Packet,
    src: &Masked<[u8; 16]>,
    dst: &Masked<[u8; 16]>,
    label: &Masked<u32>,
    tclass: &Masked<u8>,
    hlimit: &Masked<u8>,
) {
    let md = pkt.md;
    let d = pkt.data_mut();
    let Some(l3) = ipv6_hdr(d, md.l3_ofs) else {
        return;
    };
    let l4 = l4_of(d, md.l3_ofs, md.l4_ofs);
    let l4c = l4.and_then(|l4| pseudo_csum_at(d, &l4, true));
    let routing = l4.is_some_and(|l| l.routing);
    for (at, m, follows) in [(off::IP6_SRC, src, true), (off::IP6_DST, dst, !routing)] {
        if m.is_none() {
            continue;
        }
        let a = l3 + at;
        let old: [u8; 16] = d[a..a + 16].try_into().unwrap_or([0; 16]);
        let new = apply_bytes(&old, m);
        if old == new {
            continue;
        }
        d[a..a + 16].copy_from_slice(&new);
        if let (Some((c, udp)), true) = (l4c, follows) {
            update_l4_csum(d, c, udp, |v| csum::update_bytes(v, &old, &new));
        }
    }
    if !label.is_none() || !tclass.is_none() {
        let w = be32(d, l3);
        let tc = apply(((w >> 20) & 0xff) as u8, tclass) as u32;
        let lm = Masked {
            value: label.value & 0xf_ffff,
            mask: label.mask & 0xf_ffff,
        };
        let fl = apply(w & 0xf_ffff, &lm);
        put32(d, l3, (w & 0xf000_0000) | (tc << 20) | fl);
    }
    if !hlimit.is_none() {
        d[l3 + off::IP6_HLIM] = apply(d[l3 + off::IP6_HLIM], hlimit);
    }
}

fn set_ports(pkt: &mut Packet, proto: u8, src: &Masked<u16>, dst: &Masked<u16>) {
    let md = pkt.md;
    let d = pkt.data_mut();
    let Some(l4) = l4_of(d, md.l3_ofs, md.l4_ofs) else {
        return;
    };
    if l4.proto != proto {
        return;
    }
    let Some((c, udp)) = pseudo_csum_at(d, &l4, false) else {
        return;
    };
    for (at, m) in [(0, src), (2, dst)] {
        if m.is_none() {
            continue;
        }
        let old = be16(d, l4.ofs + at);
        let new = apply(old, m);
        if old != new {
            put16(d, l4.ofs + at, new);
            update_l4_csum(d, c, udp, |v| csum::update16(v, old, new));
        }
    }
}

fn set_sctp(pkt: &mut Packet, src: &Masked<u16>, dst: &Masked<u16>) {
    let md = pkt.md;
    let d = pkt.data_mut();
    let Some(l4) = l4_of(d, md.l3_ofs, md.l4_ofs) else {
        return;
    };
    if l4.proto != ipproto::SCTP || l4.ofs + off::SCTP_HLEN > l4.end {
        return;
    }
    let s = &mut d[l4.ofs..l4.end];
    let ns = apply(be16(s, 0), src);
    let nd = apply(be16(s, 2), dst);
    put16(s, 0, ns);
    put16(s, 2, nd);
    if let Some(crc) = csum::sctp_crc(s) {
        s[off::SCTP_CSUM..off::SCTP_CSUM + 4].copy_from_slice(&crc.to_le_bytes());
    }
}

// ---------------------------------------------------------------------------
// VLAN

fn is_vlan_tpid(t: u16) -> bool {
    t == ethertype::VLAN || t == ethertype::QINQ
}

fn push_vlan(pkt: &mut Packet, tpid: u16, tci: u16) -> Result<(), DropReason> {
    if pkt.len() < off::ETH_HLEN {
        return Ok(());
    }
    let d = pkt
        .push_head(off::VLAN_HLEN)
        .map_err(|_| DropReason::NoHeadroom)?;
    write_pushed_vlan(d, tpid, tci);
    Ok(())
}

/// The bytes of a `push_vlan`: `frame` starts with 4 new bytes in front
/// of an Ethernet frame (at least [`off::ETH_HLEN`] long); the MAC
/// addresses move into them and the tag follows. For buffers the caller
/// grew itself (DPDK's direct forwarding writes into an mbuf's headroom).
/// Does nothing to a frame too short to hold both.
pub fn write_pushed_vlan(frame: &mut [u8], tpid: u16, tci: u16) {
    if frame.len() < off::VLAN_HLEN + off::ETH_HLEN {
        return;
    }
    frame.copy_within(off::VLAN_HLEN..off::VLAN_HLEN + 12, 0);
    put16(frame, off::ETH_TYPE, tpid);
    put16(frame, off::ETH_TYPE + 2, tci);
}

fn pop_vlan(pkt: &mut Packet) {
    let d = pkt.data_mut();
    if d.len() < off::ETH_HLEN + off::VLAN_HLEN || !is_vlan_tpid(be16(d, off::ETH_TYPE)) {
        return;
    }
    d.copy_within(0..12, off::VLAN_HLEN);
    // Cannot fail: the frame is longer than the tag.
    let _ = pkt.pull_head(off::VLAN_HLEN);
}

// ---------------------------------------------------------------------------
// Hash

/// A 5-tuple hash of `pkt`, as used by the `hash` action (with its basis)
/// and for the UDP source port of an encapsulated packet (basis 0).
///
/// For IPv4 and IPv6 (found at `md.l3_ofs`) it mixes the basis, source and
/// destination addresses, the protocol (the final IPv6 next header) and,
/// for TCP, UDP and SCTP packets whose L4 header is present and not in a
/// later fragment, the two ports. Other packets (including those without
/// `l3_ofs`) hash their Ethernet addresses and type instead. The words are
/// combined with [`hash_add`] and finished with [`fmix64`]; the result is
/// never 0 (0 becomes 1, as in OVS). Deterministic: a function of the
/// frame bytes, the offsets and the basis only.
pub fn hash_5tuple(pkt: &Packet, basis: u32) -> u32 {
    hash_5tuple_frame(pkt.data(), pkt.md.l3_ofs, pkt.md.l4_ofs, basis)
}

/// [`hash_5tuple`] of frame `d` whose L3 and L4 headers start at `l3_ofs`
/// and `l4_ofs` (`NO_OFS` when absent), as a packet's metadata would say:
/// for callers that hold a frame but no [`Packet`] (direct forwarding of
/// DPDK mbufs).
#[inline]
pub fn hash_5tuple_frame(d: &[u8], l3_ofs: u16, l4_ofs: u16, basis: u32) -> u32 {
    let mut h = basis as u64;
    let ip4 =
        ipv4_hdr(d, l3_ofs).and_then(|(l3, hl)| Some((l3, hl, d.get(l3..)?.first_chunk::<20>()?)));
    if let Some((l3, hl, ip4)) = ip4 {
        // The fixed header is read through one bounds-checked view, and
        // the L4 ports are found from it instead of validating the header
        // again in `l4_of` (same answer: ports only when `l4_ofs` is right
        // after this header and the packet is not a later fragment).
        // Tunnel encapsulation of simple-match packets, which carry no
        // flow hash, hashes every packet here.
        let w = |at: usize| u32::from_be_bytes([ip4[at], ip4[at + 1], ip4[at + 2], ip4[at + 3]]);
        let proto = ip4[off::IP4_PROTO];
        h = hash_add(h, w(off::IP4_SRC) as u64) ^ 4;
        h = hash_add(h, w(off::IP4_DST) as u64);
        h = hash_add(h, proto as u64);
        let frag = u16::from_be_bytes([ip4[off::IP4_FRAG], ip4[off::IP4_FRAG + 1]]);
        let l4 = l3 + hl;
        if matches!(proto, ipproto::TCP | ipproto::UDP | ipproto::SCTP)
            && ofs(l4_ofs) == Some(l4)
            && frag & off::IP4_FRAG_OFS_MASK == 0
            && l4 + 4 <= d.len()
        {
            h = hash_add(h, be32(d, l4) as u64);
        }
    } else if let Some(l3) = ipv6_hdr(d, l3_ofs) {
        for at in [l3 + off::IP6_SRC, l3 + off::IP6_DST] {
            let hi = ((be32(d, at) as u64) << 32) | be32(d, at + 4) as u64;
            let lo = ((be32(d, at + 8) as u64) << 32) | be32(d, at + 12) as u64;
            h = hash_add(hash_add(h, hi), lo);
        }
        let proto = ipv6_walk(d, l3).map_or(d[l3 + off::IP6_NXT], |w| w.proto);
        h = hash_add(h, proto as u64) ^ 6;
        if let Some(l4) = l4_of(d, l3_ofs, l4_ofs) {
            if matches!(l4.proto, ipproto::TCP | ipproto::UDP | ipproto::SCTP)
                && l4.ofs + 4 <= d.len()
            {
                h = hash_add(h, be32(d, l4.ofs) as u64);
            }
        }
    } else if d.len() >= off::ETH_HLEN {
        let a = u64::from_be_bytes(d[0..8].try_into().unwrap_or([0; 8]));
        let b = ((be32(d, 8) as u64) << 16) | be16(d, 12) as u64;
        h = hash_add(hash_add(h, a), b);
    }
    let h = fmix64(h);
    match (h ^ (h >> 32)) as u32 {
        0 => 1,
        v => v,
    }
}

// ---------------------------------------------------------------------------
// Tunnels

/// The UDP source port for an encapsulated packet whose inner flow hashes
/// to `hash`: spread over [`TNL_SRC_PORT_MIN`]`..=`[`TNL_SRC_PORT_MAX`]
/// by a multiply-shift, as OVS does.
pub fn tnl_src_port(hash: u32) -> u16 {
    let span = (TNL_SRC_PORT_MAX - TNL_SRC_PORT_MIN) as u64 + 1;
    TNL_SRC_PORT_MIN + ((hash as u64 * span) >> 32) as u16
}

/// Offset of the IP header in a tunnel header template or outer frame
/// (after at most one VLAN tag), and the ethertype found there.
fn l3_after_eth(d: &[u8]) -> Option<(usize, u16)> {
    if d.len() < off::ETH_HLEN {
        return None;
    }
    let et = be16(d, off::ETH_TYPE);
    if is_vlan_tpid(et) {
        let l3 = off::ETH_HLEN + off::VLAN_HLEN;
        (d.len() >= l3).then(|| (l3, be16(d, off::ETH_TYPE + off::VLAN_HLEN)))
    } else {
        Some((off::ETH_HLEN, et))
    }
}

/// Checks a `tnl_push` header template: `(l3, l4)` offsets.
fn template_layout(h: &[u8], ipv6: bool) -> Option<(usize, usize)> {
    let (l3, et) = l3_after_eth(h)?;
    let l4 = if ipv6 {
        if et != ethertype::IPV6
            || h.len() < l3 + off::IP6_HLEN
            || h[l3] >> 4 != 6
            || h[l3 + off::IP6_NXT] != ipproto::UDP
        {
            return None;
        }
        l3 + off::IP6_HLEN
    } else {
        let vi = *h.get(l3)?;
        let hl = (vi & 0x0f) as usize * 4;
        if et != ethertype::IPV4
            || vi >> 4 != 4
            || hl < off::IP4_MIN_HLEN
            || h.len() < l3 + hl
            || h[l3 + off::IP4_PROTO] != ipproto::UDP
        {
            return None;
        }
        l3 + hl
    };
    // UDP plus at least the 8-byte VXLAN/Geneve base header.
    (h.len() >= l4 + off::UDP_HLEN + 8).then_some((l3, l4))
}

/// Encapsulates `pkt` with `t.header` and outputs it to `t.out_port`.
///
/// The template is Ethernet (at most one VLAN tag), IPv4 (options allowed)
/// or IPv6 (no extension headers), UDP, and the VXLAN or Geneve header with
/// its options; it is copied in front of the frame using headroom. Then:
/// IPv4 total length and a fresh header checksum, or the IPv6 payload
/// length; the UDP length; the UDP source port from the inner flow's hash
/// (`md.rss_hash` when `md.rss_valid`, else [`hash_5tuple`] of the inner
/// frame with basis 0) through [`tnl_src_port`]; the UDP checksum, computed
/// in full for IPv6 or when `t.udp_csum` (0 sent as 0xffff), else 0. The
/// packet leaves with `l3_ofs` / `l4_ofs` on the outer headers and
/// `md.tunnel` cleared. A malformed template or an encapsulated packet too
/// long for the IP length field drops the packet with
/// [`DropReason::MalformedForAction`], missing headroom with
/// [`DropReason::NoHeadroom`].
pub fn tnl_push<S: ActionSink + ?Sized>(pkt: Packet, t: &TnlPush, sink: &mut S) {
    match tnl_encap(pkt, t) {
        Ok(pkt) => sink.output(t.out_port, pkt),
        Err((pkt, reason)) => sink.dropped(pkt, reason),
    }
}

/// The encapsulation of [`tnl_push`] without the output: the packet with
/// its new outer headers, or the packet back with why it must be dropped.
pub fn tnl_encap(mut pkt: Packet, t: &TnlPush) -> Result<Packet, (Packet, DropReason)> {
    let hash = if pkt.md.rss_valid {
        pkt.md.rss_hash
    } else {
        hash_5tuple(&pkt, 0)
    };
    let Some(layout) = TnlLayout::of(t).filter(|l| l.fits(t, pkt.len())) else {
        return Err((pkt, DropReason::MalformedForAction));
    };
    let d = match pkt.push_head(t.header.len()) {
        Ok(d) => d,
        Err(_) => return Err((pkt, DropReason::NoHeadroom)),
    };
    write_tnl_header(d, t, layout, hash);
    pkt.md.l3_ofs = layout.l3;
    pkt.md.l4_ofs = layout.l4;
    pkt.md.clear_tunnel();
    Ok(pkt)
}

/// Where the outer IP and UDP headers of a [`TnlPush`] template start, and
/// what of its IPv4 header checksum does not depend on the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TnlLayout {
    /// Offset of the outer IP header.
    pub l3: u16,
    /// Offset of the outer UDP header.
    pub l4: u16,
    /// IPv4: the partial sum of the template's IP header without its
    /// total length and checksum words, folded (0 for IPv6). Each packet
    /// adds its total length.
    pub ip4_sum: u16,
}

impl TnlLayout {
    /// The layout of `t`'s template when it is well formed (see
    /// [`tnl_push`]).
    #[inline]
    pub fn of(t: &TnlPush) -> Option<TnlLayout> {
        let h = &t.header[..];
        let (l3, l4) = template_layout(h, t.ipv6)?;
        // The template's own length and checksum words are taken out
        // (adding a word's complement subtracts it in ones' complement).
        let ip4_sum = if t.ipv6 {
            0
        } else {
            csum::fold(
                csum::sum(&h[l3..l4], 0)
                    + u64::from(!be16(h, l3 + off::IP4_TOT_LEN))
                    + u64::from(!be16(h, l3 + off::IP4_CSUM)),
            )
        };
        Some(TnlLayout {
            l3: u16::try_from(l3).ok()?,
            l4: u16::try_from(l4).ok()?,
            ip4_sum,
        })
    }

    /// Whether an inner frame of `inner_len` bytes fits the outer length
    /// fields (else the packet is dropped as malformed for the action).
    #[inline]
    pub fn fits(self, t: &TnlPush, inner_len: usize) -> bool {
        t.header.len() + inner_len - usize::from(self.l3) <= u16::MAX as usize
    }
}

/// Copies `src` over `dst` (the same length). Lengths of 16 to 64 bytes,
/// every tunnel header but large Geneve options, take two overlapping
/// fixed-size copies instead of a `memcpy` call (~40 instructions per
/// encapsulated packet under callgrind, for 50 bytes).
#[inline(always)]
fn copy_header(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    if dst.len() != n {
        return;
    }
    match n {
        32..=64 => {
            dst[..32].copy_from_slice(&src[..32]);
            dst[n - 32..].copy_from_slice(&src[n - 32..]);
        }
        16..=31 => {
            dst[..16].copy_from_slice(&src[..16]);
            dst[n - 16..].copy_from_slice(&src[n - 16..]);
        }
        _ => dst.copy_from_slice(src),
    }
}

/// Writes `t`'s outer headers at the start of `d`, the whole encapsulated
/// frame (the inner frame already follows the template's length), with
/// `layout` from [`TnlLayout::of`] (checked to [`TnlLayout::fits`] this frame) and `hash`
/// the inner flow hash (for the UDP source port): the template, then the
/// lengths, source port and checksums as [`tnl_push`] describes. Used by
/// [`tnl_encap`] and by direct forwarding of DPDK mbufs, so both write the
/// same bytes. Does nothing when `d` is shorter than the template (the
/// callers make room first). Always inlined: as a call from the direct
/// forwarding loop its register saves and restores were ~18 of its ~65
/// instructions per packet (callgrind, vxlan-encap).
#[inline(always)]
pub fn write_tnl_header(d: &mut [u8], t: &TnlPush, layout: TnlLayout, hash: u32) {
    let h = &t.header[..];
    let (l3, l4) = (usize::from(layout.l3), usize::from(layout.l4));
    let total = d.len();
    if total < h.len() || h.len() < l4 + off::UDP_HLEN || l4 < l3 + off::IP4_MIN_HLEN {
        return;
    }
    copy_header(&mut d[..h.len()], h);
    let udp_len = (total - l4) as u16;
    put16(d, l4, tnl_src_port(hash));
    put16(d, l4 + off::UDP_LEN, udp_len);
    put16(d, l4 + off::UDP_CSUM, 0);
    let pseudo = if t.ipv6 {
        put16(d, l3 + off::IP6_PLEN, (total - l3 - off::IP6_HLEN) as u16);
        let src: [u8; 16] = d[l3 + off::IP6_SRC..l3 + off::IP6_SRC + 16]
            .try_into()
            .unwrap_or([0; 16]);
        let dst: [u8; 16] = d[l3 + off::IP6_DST..l3 + off::IP6_DST + 16]
            .try_into()
            .unwrap_or([0; 16]);
        Some(csum::pseudo_ipv6(&src, &dst, ipproto::UDP, udp_len as u32))
    } else {
        let tot = (total - l3) as u16;
        put16(d, l3 + off::IP4_TOT_LEN, tot);
        // The template's part of the header checksum was summed once
        // (`TnlLayout::ip4_sum`); summing the copy just written instead
        // stalled on store forwarding (`perf annotate`: ~30% of the
        // encapsulation), and summing the template per packet was ~35
        // instructions.
        let acc = u64::from(layout.ip4_sum) + u64::from(tot);
        put16(d, l3 + off::IP4_CSUM, csum::finish(acc));
        t.udp_csum.then(|| {
            csum::pseudo_ipv4(
                be32(h, l3 + off::IP4_SRC),
                be32(h, l3 + off::IP4_DST),
                ipproto::UDP,
                udp_len,
            )
        })
    };
    if let Some(p) = pseudo {
        let c = match csum::finish(csum::sum(&d[l4..], p)) {
            0 => 0xffff,
            c => c,
        };
        put16(d, l4 + off::UDP_CSUM, c);
    }
}

/// What [`parse_tunnel`] found in an encapsulated frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decap {
    /// Offset of the inner Ethernet frame.
    pub inner_ofs: usize,
    /// Length of the inner frame (up to the end of the outer UDP payload).
    pub inner_len: usize,
    /// The outer headers as tunnel metadata (Geneve options not yet
    /// applied: see [`geneve_options`]).
    pub tunnel: TunnelMeta,
    /// Byte range of the Geneve options in the frame (empty for VXLAN
    /// and for Geneve without options).
    pub opts: std::ops::Range<usize>,
}

/// Parses the outer headers of a VXLAN or Geneve packet: Ethernet (at most
/// one VLAN tag), IPv4 (header checksum valid, not a fragment) or IPv6
/// (UDP as the first next header), UDP (checksum valid when non-zero), then
/// by UDP destination port [`VXLAN_PORT`] → VXLAN (I flag set) or
/// [`GENEVE_PORT`] → Geneve (version 0, protocol 0x6558; the options'
/// range is returned in [`Decap::opts`], for [`geneve_options`]); on any
/// other port, Geneve when the header carries
/// protocol 0x6558, else VXLAN. Returns `None` for anything else or anything
/// truncated. Tunnel flags: KEY always, DONT_FRAGMENT for IPv4 DF, CSUM for
/// a non-zero UDP checksum, OAM for the Geneve O bit.
///
/// Always inlined: as a call, returning the [`Decap`] through memory was
/// ~27 of its ~135 own instructions per packet on the direct path
/// (callgrind, vxlan-decap), and its callers read few of the fields.
#[inline(always)]
pub fn parse_tunnel(d: &[u8]) -> Option<Decap> {
    let (l3, et) = l3_after_eth(d)?;
    let mut t = TunnelMeta::default();
    let (l4, end) = match et {
        ethertype::IPV4 => {
            let vi = *d.get(l3)?;
            let hl = (vi & 0x0f) as usize * 4;
            if vi >> 4 != 4 || hl < off::IP4_MIN_HLEN || d.len() < l3 + hl {
                return None;
            }
            let tot = be16(d, l3 + off::IP4_TOT_LEN) as usize;
            let frag = be16(d, l3 + off::IP4_FRAG);
            if tot < hl
                || l3 + tot > d.len()
                || csum::checksum(&d[l3..l3 + hl]) != 0
                || frag & (off::IP4_MF | off::IP4_FRAG_OFS_MASK) != 0
                || d[l3 + off::IP4_PROTO] != ipproto::UDP
            {
                return None;
            }
            if frag & off::IP4_DF != 0 {
                t.flags |= tun_flags::DONT_FRAGMENT;
            }
            t.ipv4_src = be32(d, l3 + off::IP4_SRC);
            t.ipv4_dst = be32(d, l3 + off::IP4_DST);
            t.tos = d[l3 + off::IP4_TOS];
            t.ttl = d[l3 + off::IP4_TTL];
            (l3 + hl, l3 + tot)
        }
        ethertype::IPV6 => {
            if d.len() < l3 + off::IP6_HLEN
                || d[l3] >> 4 != 6
                || d[l3 + off::IP6_NXT] != ipproto::UDP
            {
                return None;
            }
            let end = l3 + off::IP6_HLEN + be16(d, l3 + off::IP6_PLEN) as usize;
            if end > d.len() {
                return None;
            }
            t.ipv6_src
                .copy_from_slice(&d[l3 + off::IP6_SRC..l3 + off::IP6_SRC + 16]);
            t.ipv6_dst
                .copy_from_slice(&d[l3 + off::IP6_DST..l3 + off::IP6_DST + 16]);
            t.tos = ((be16(d, l3) >> 4) & 0xff) as u8;
            t.ttl = d[l3 + off::IP6_HLIM];
            (l3 + off::IP6_HLEN, end)
        }
        _ => return None,
    };
    if l4 + off::UDP_HLEN > end {
        return None;
    }
    let ulen = be16(d, l4 + off::UDP_LEN) as usize;
    if ulen < off::UDP_HLEN || l4 + ulen > end {
        return None;
    }
    let udp_end = l4 + ulen;
    if be16(d, l4 + off::UDP_CSUM) != 0 {
        let pseudo = if et == ethertype::IPV4 {
            csum::pseudo_ipv4(t.ipv4_src, t.ipv4_dst, ipproto::UDP, ulen as u16)
        } else {
            csum::pseudo_ipv6(&t.ipv6_src, &t.ipv6_dst, ipproto::UDP, ulen as u32)
        };
        if csum::finish(csum::sum(&d[l4..udp_end], pseudo)) != 0 {
            return None;
        }
        t.flags |= tun_flags::CSUM;
    }
    t.tp_src = be16(d, l4);
    t.tp_dst = be16(d, l4 + 2);
    let th = l4 + off::UDP_HLEN;
    // The IANA ports say which header follows. On another port (a tunnel
    // configured with its own `dst_port`; the slow path only pops UDP to
    // such ports) the header says it: Geneve carries protocol type 0x6558
    // where VXLAN has reserved zero bytes.
    let kind = match t.tp_dst {
        VXLAN_PORT => VXLAN_PORT,
        GENEVE_PORT => GENEVE_PORT,
        _ if udp_end >= th + off::GENEVE_HLEN && be16(d, th + 2) == off::ETH_TYPE_TEB => {
            GENEVE_PORT
        }
        _ => VXLAN_PORT,
    };
    let mut opts = 0..0;
    let inner_ofs = match kind {
        VXLAN_PORT => {
            if th + off::VXLAN_HLEN > udp_end || d[th] & off::VXLAN_FLAG_I == 0 {
                return None;
            }
            t.tun_id = (be32(d, th + 4) >> 8) as u64;
            th + off::VXLAN_HLEN
        }
        GENEVE_PORT => {
            if th + off::GENEVE_HLEN > udp_end
                || d[th] >> 6 != 0
                || be16(d, th + 2) != off::ETH_TYPE_TEB
            {
                return None;
            }
            if d[th + 1] & off::GENEVE_OAM != 0 {
                t.flags |= tun_flags::OAM;
            }
            t.tun_id = (be32(d, th + 4) >> 8) as u64;
            let o = th + off::GENEVE_HLEN;
            opts = o..o + (d[th] & 0x3f) as usize * 4;
            opts.end
        }
        _ => return None,
    };
    if inner_ofs + off::ETH_HLEN > udp_end {
        return None;
    }
    t.flags |= tun_flags::KEY;
    Some(Decap {
        inner_ofs,
        inner_len: udp_end - inner_ofs,
        tunnel: t,
        opts,
    })
}

/// Walks the Geneve options `opts` (the bytes between the Geneve base
/// header and the inner frame) and fills `t.metadata` / `t.md_present`
/// for each option `map` maps, as OVS does: an option of a mapped class
/// and type must have the mapped length; an unmapped option is skipped
/// unless its type has the critical bit ([`crate::tlv::GENEVE_CRIT_TYPE`]),
/// which drops the packet ([`DropReason::TunnelPopOption`]). An option
/// whose header or data runs past the option area drops it too
/// ([`DropReason::TunnelPopMalformed`]). Never reads outside `opts`.
pub fn geneve_options(
    opts: &[u8],
    map: Option<&crate::tlv::TlvMap>,
    t: &mut TunnelMeta,
) -> Result<(), DropReason> {
    let mut o = 0;
    while o < opts.len() {
        let Some(h) = opts.get(o..o + 4) else {
            return Err(DropReason::TunnelPopMalformed);
        };
        let (class, typ) = (u16::from_be_bytes([h[0], h[1]]), h[2]);
        let len = usize::from(h[3] & 0x1f) * 4;
        let Some(data) = opts.get(o + 4..o + 4 + len) else {
            return Err(DropReason::TunnelPopMalformed);
        };
        match map.and_then(|m| m.find(class, typ)) {
            Some(e) if usize::from(e.map.len) == len => {
                let ofs = usize::from(e.ofs);
                // TlvMap invariant: ofs + len <= TUN_METADATA_BYTES; `get_mut`
                // keeps a broken map from panicking all the same.
                if let Some(dst) = t.metadata.get_mut(ofs..ofs + len) {
                    dst.copy_from_slice(data);
                    t.md_present |= 1 << (e.map.idx & 7);
                }
            }
            Some(_) => return Err(DropReason::TunnelPopOption),
            None if typ & crate::tlv::GENEVE_CRIT_TYPE != 0 => {
                return Err(DropReason::TunnelPopOption)
            }
            None => {}
        }
        o += 4 + len;
    }
    Ok(())
}

/// Decapsulates `pkt` (see [`parse_tunnel`]) and recirculates the inner
/// frame with `md.tunnel` filled, `md.in_port = port`, `md.recirc_id`
/// unchanged, `l3_ofs` / `l4_ofs` cleared for re-extraction and the RSS
/// hash invalidated (it was the outer flow's). A packet that does not
/// parse is dropped with [`DropReason::TunnelPopMalformed`]. Geneve
/// options are applied with `t.tlv` by [`geneve_options`] (whose errors
/// drop the packet).
pub fn tnl_pop<S: ActionSink + ?Sized>(mut pkt: Packet, t: &TnlPop, sink: &mut S) {
    let port = t.port;
    let Some(mut dc) = parse_tunnel(pkt.data()) else {
        sink.dropped(pkt, DropReason::TunnelPopMalformed);
        return;
    };
    if !dc.opts.is_empty() {
        let opts = pkt.data().get(dc.opts.clone()).unwrap_or(&[]);
        if let Err(r) = geneve_options(opts, t.tlv.as_deref(), &mut dc.tunnel) {
            sink.dropped(pkt, r);
            return;
        }
    }
    if pkt.set_len(dc.inner_ofs + dc.inner_len).is_err() || pkt.pull_head(dc.inner_ofs).is_err() {
        sink.dropped(pkt, DropReason::TunnelPopMalformed);
        return;
    }
    let md = &mut pkt.md;
    md.set_tunnel(dc.tunnel);
    md.in_port = port;
    md.l3_ofs = NO_OFS;
    md.l4_ofs = NO_OFS;
    md.rss_valid = false;
    sink.recirculate(pkt);
}

// ---------------------------------------------------------------------------
// TxBatches

/// Counters kept by [`TxBatches`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxStats {
    /// Packets queued for output.
    pub output: u64,
    /// Packets recirculated.
    pub recirculated: u64,
    /// Packets sent to userspace.
    pub userspace: u64,
    /// Packets freed after their last use was a copy.
    pub freed: u64,
    /// Drops by reason, indexed by `DropReason as usize`.
    pub drops: [u64; DropReason::ALL.len()],
}

impl TxStats {
    /// Drops counted for `reason`.
    pub fn drops_for(&self, reason: DropReason) -> u64 {
        self.drops[reason as usize]
    }

    /// Drops for every reason together.
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum()
    }
}

struct TxPort {
    port: u32,
    batch: PacketBatch,
    /// Packets beyond a full batch, in order; sent by the next flush.
    overflow: Vec<Packet>,
}

impl TxPort {
    /// Queues `pkt` behind everything already waiting for the port.
    #[inline(always)]
    fn queue(&mut self, pkt: Packet) {
        if self.overflow.is_empty() {
            if let Err(pkt) = self.batch.push(pkt) {
                self.overflow.push(pkt);
            }
        } else {
            self.overflow.push(pkt);
        }
    }
}

/// An [`ActionSink`] that collects one PMD's outputs into a [`PacketBatch`]
/// per port, and recirculated, userspace and dropped packets into vectors
/// for the caller to take.
///
/// Ports are kept in a small vector searched linearly (a PMD sends to a few
/// ports per burst; no hashing). Output never fails: when a port's batch
/// is full, further packets wait in that port's overflow vector (which
/// keeps its capacity, so a steady state does not allocate) and
/// [`TxBatches::pending_full`] turns true, telling the caller to
/// [`flush`](TxBatches::flush) before the next flow if it wants full
/// bursts on the wire early. `flush` sends every batch, then the overflow
/// in burst-sized batches, in order.
///
/// Dropped packets are kept in [`TxBatches::dropped`] (with their reason)
/// and counted in [`TxBatches::stats`]; the caller takes them (for example
/// to return buffers to a pool).
#[derive(Default)]
pub struct TxBatches {
    ports: Vec<TxPort>,
    /// Recirculated packets, in order.
    pub recirculated: Vec<Packet>,
    /// Packets for the slow path with their cookies, in order.
    pub userspace: Vec<(Packet, u64)>,
    /// Dropped packets with their reasons, in order.
    pub dropped: Vec<(Packet, DropReason)>,
    /// Counters since creation (or the last [`TxBatches::reset_stats`]).
    pub stats: TxStats,
}

impl TxBatches {
    /// An empty set of batches.
    pub fn new() -> TxBatches {
        TxBatches::default()
    }

    fn port_mut(&mut self, port: u32) -> &mut TxPort {
        let i = match self.ports.iter().position(|p| p.port == port) {
            Some(i) => i,
            None => {
                self.ports.push(TxPort {
                    port,
                    batch: PacketBatch::new(),
                    overflow: Vec::new(),
                });
                self.ports.len() - 1
            }
        };
        &mut self.ports[i]
    }

    /// The batch waiting for `port`, if that port was ever sent to.
    pub fn batch(&self, port: u32) -> Option<&PacketBatch> {
        self.ports.iter().find(|p| p.port == port).map(|p| &p.batch)
    }

    /// Packets waiting for `port` (batch and overflow).
    pub fn queued(&self, port: u32) -> usize {
        self.ports
            .iter()
            .find(|p| p.port == port)
            .map_or(0, |p| p.batch.len() + p.overflow.len())
    }

    /// Packets waiting for any port.
    pub fn queued_total(&self) -> usize {
        self.ports
            .iter()
            .map(|p| p.batch.len() + p.overflow.len())
            .sum()
    }

    /// Whether some port's batch is full (the caller should flush).
    pub fn pending_full(&self) -> bool {
        self.ports.iter().any(|p| p.batch.is_full())
    }

    /// Hands every non-empty batch to `f(port, batch)`, ports in the order
    /// they were first used, then each port's overflow in bursts of up to
    /// [`MAX_BURST`]. `f` should take the packets it sends out of the batch
    /// (e.g. with [`PacketBatch::drain`]); whatever it leaves is dropped
    /// with [`DropReason::TxQueueFull`].
    pub fn flush(&mut self, mut f: impl FnMut(u32, &mut PacketBatch)) {
        for p in &mut self.ports {
            loop {
                if p.batch.is_empty() {
                    if p.overflow.is_empty() {
                        break;
                    }
                    let n = p.overflow.len().min(MAX_BURST);
                    for pkt in p.overflow.drain(..n) {
                        // Cannot fail: the batch was empty and n <= MAX_BURST.
                        let _ = p.batch.push(pkt);
                    }
                }
                f(p.port, &mut p.batch);
                for pkt in p.batch.drain() {
                    self.stats.drops[DropReason::TxQueueFull as usize] += 1;
                    self.dropped.push((pkt, DropReason::TxQueueFull));
                }
            }
        }
    }

    /// Zeroes the counters.
    pub fn reset_stats(&mut self) {
        self.stats = TxStats::default();
    }
}

impl ActionSink for TxBatches {
    #[inline]
    fn output_run<I: Iterator<Item = Packet>>(&mut self, port: u32, pkts: I) {
        let p = self.port_mut(port);
        let mut count = 0u64;
        for pkt in pkts {
            count += 1;
            p.queue(pkt);
        }
        self.stats.output += count;
    }

    fn output(&mut self, port: u32, pkt: Packet) {
        self.stats.output += 1;
        self.port_mut(port).queue(pkt);
    }

    fn recirculate(&mut self, pkt: Packet) {
        self.stats.recirculated += 1;
        self.recirculated.push(pkt);
    }

    fn userspace(&mut self, pkt: Packet, cookie: u64) {
        self.stats.userspace += 1;
        self.userspace.push((pkt, cookie));
    }

    fn dropped(&mut self, pkt: Packet, reason: DropReason) {
        self.stats.drops[reason as usize] += 1;
        self.dropped.push((pkt, reason));
    }

    fn free(&mut self, pkt: Packet) {
        self.stats.freed += 1;
        drop(pkt);
    }
}
