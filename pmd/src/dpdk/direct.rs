//! Direct forwarding of a received burst, mbuf to mbuf.
//!
//! The common NFV case is port to port: every megaflow of the input port
//! is "simple" ([`dpif_netdev::simple_match`]) and its actions are one
//! `output` to another DPDK port, a VLAN tag push and that output
//! (`mod_vlan_vid` on an access port), or a tunnel push whose underlay
//! port is DPDK (a VXLAN/Geneve VTEP's encapsulation). For a burst where
//! that holds for every packet, the PMD forwards the mbufs themselves: each
//! frame is parsed in place and looked up by simple match, the megaflows'
//! and the ports' counters are updated, a pushed tag or outer header is
//! written into the mbuf's headroom as the executor writes it, and the mbuf
//! pointers go to the output device.
//! No packet is made of an mbuf, so the packet shells, the batch, the
//! action executor and the per-port transmit batches are skipped (the
//! receive and transmit glue was 136 of 535 instructions per packet on the
//! p2p-1flow benchmark; see BENCHMARKS.md for what this path measures).
//!
//! A burst with anything else in it (a frame simple match does not parse,
//! a miss, other actions, an output to a port that is not DPDK, a chained
//! or shared mbuf, one whose receive set transmit offload flags, a tag or
//! tunnel header to push without headroom for it, a malformed tunnel
//! template) is left untouched here and goes the usual way whole, so the
//! packets of one burst are never reordered against each other. What
//! this path does is exactly what the usual one would do with the same
//! burst: the same megaflow per packet (the same lookup), the same
//! counters, the same bytes on the wire.
//!
//! # Thread safety
//! Runs on the PMD that owns the receive queue; transmit takes the output
//! queue's lock as [`DpdkTx`]'s `send` does.

use super::mbuf::{mbuf_bytes_mut, rx_view, set_tx_frame, RxView};
use super::port::{DpdkRxq, DpdkTx};
use crate::pmd::DpPortTx;
use crate::port::PortStats;
use dpdk_sys::rte_mbuf;
use dpif_netdev::actions::DpAction;
use dpif_netdev::actions::TnlPush;
use dpif_netdev::execute::parse_tunnel;
use dpif_netdev::execute::{hash_5tuple_frame, write_pushed_vlan, write_tnl_header, TnlLayout};
use dpif_netdev::key::ethertype;
use dpif_netdev::megaflow::run_end;
use dpif_netdev::packet::{prefetch_lines, MAX_BURST};
use dpif_netdev::simple_match::{self, PortIndex, SimpleFields, SimpleIndex, SimpleKey};
use dpif_netdev::Megaflow;
use std::ptr::NonNull;
use std::sync::Arc;

/// What is written in front of a directly forwarded frame.
#[derive(Clone, Copy)]
enum Push<'p> {
    /// Nothing.
    None,
    /// A VLAN tag (TPID, wire TCI).
    Vlan(u16, u16),
    /// A tunnel's outer headers, from a well-formed template.
    Tunnel(&'p TnlPush, TnlLayout),
}

/// Where a directly forwarded packet goes: the output port's number and
/// transmit side, and what to push first (`push_len` bytes: the length of
/// `push`, kept because the burst loops read it for every packet).
#[derive(Clone, Copy)]
struct Out<'p> {
    port: u32,
    tx: &'p DpdkTx,
    push: Push<'p>,
    push_len: u16,
}

/// The output of a megaflow whose actions are one `output` to a DPDK
/// port, optionally after one `push_vlan`, or one `tnl_push` to a DPDK
/// underlay port with a well-formed template (a malformed one drops the
/// packet: the usual path does that).
fn dpdk_output<'p>(flow: &'p Megaflow, ports: &'p [Option<DpPortTx>]) -> Option<Out<'p>> {
    let (port, push) = match &flow.actions[..] {
        [DpAction::Output(port)] => (*port, Push::None),
        [DpAction::PushVlan { tpid, tci }, DpAction::Output(port)] => {
            (*port, Push::Vlan(*tpid, *tci))
        }
        [DpAction::TnlPush(t)] => (t.out_port, Push::Tunnel(t, TnlLayout::of(t)?)),
        _ => return None,
    };
    let push_len = match push {
        Push::None => 0,
        Push::Vlan(..) => VLAN_HLEN,
        Push::Tunnel(t, _) => u16::try_from(t.header.len()).ok()?,
    };
    let tx = ports.get(port as usize)?.as_ref()?.tx.as_dpdk()?;
    Some(Out {
        port,
        tx,
        push,
        push_len,
    })
}

/// The output step of `flow`, a first lookup's answer: `prev`'s (the
/// previous lookup's flow and step) when that flow has the same actions
/// (many flows to one port, as NORMAL's megaflows are: a burst of them is
/// still one output and one transmit; callgrind normal-1k, an output entry
/// per packet and the grouping transmit loop were ~100 instructions a
/// packet), else a new entry of `dests`. `None` when the burst must go the
/// usual way: actions this path does not take, or a tunnel push unless
/// `ENCAP`.
#[inline(always)]
fn output_step<'p, const ENCAP: bool>(
    flow: &'p Megaflow,
    prev: Option<(&Megaflow, Step<'p>)>,
    ports: &'p [Option<DpPortTx>],
    dests: &mut Dests<'p>,
) -> Option<Step<'p>> {
    if let Some((p, step @ Step::Out(..))) = prev {
        if p.actions == flow.actions {
            return Some(step);
        }
    }
    let out = dpdk_output(flow, ports)?;
    if !ENCAP && matches!(out.push, Push::Tunnel(..)) {
        return None;
    }
    Some(Step::Out(dests.add(out)?, out.push_len))
}

/// What [`hash_5tuple_frame`] reads of IPv4 frame `frame` parsed as `f`:
/// the header offsets, the version/IHL, fragment and protocol fields, the
/// addresses, and the first four L4 bytes when the frame has them. Two
/// frames with equal inputs hash alike (the memo's key for IPv4 frames
/// that are not plain: tagged, with options). `None` for other frames:
/// hash those each.
#[inline(always)]
fn ipv4_hash_inputs(frame: &[u8], f: &SimpleFields) -> Option<[u64; 3]> {
    if f.eth_type != ethertype::IPV4 {
        return None;
    }
    let ip = frame.get(usize::from(f.l3_ofs)..)?.first_chunk::<20>()?;
    let addrs = u64::from_ne_bytes(*ip[12..].first_chunk::<8>()?);
    let l4 = frame
        .get(usize::from(f.l4_ofs)..)
        .and_then(|d| d.first_chunk::<4>())
        .map_or(0, |p| u64::from(u32::from_ne_bytes(*p)) | 1 << 32);
    let misc = u64::from(ip[0])
        | u64::from(ip[9]) << 8
        | u64::from(u16::from_ne_bytes([ip[6], ip[7]])) << 16
        | u64::from(f.l3_ofs) << 32
        | u64::from(f.l4_ofs) << 48;
    Some([addrs, l4, misc])
}

/// What [`hash_5tuple_frame`] reads of a plain IPv4 frame (untagged, no
/// options, L4 header at byte 34, 38 bytes or more), as three words
/// loaded straight from the frame: the version/IHL and fragment fields
/// (bytes 14..22 masked; the layout implies them, as simple match gives
/// a later fragment no L4 offset, but kept so that the words alone
/// decide), the protocol and source (22..30 masked), and
/// the destination and first four L4 bytes (30..38). For such a frame the
/// hash is a function of these alone. Building [`ipv4_hash_inputs`]'
/// words took ~40 instructions a packet on vxlan-encap (callgrind);
/// these take a few. `None` for other frames.
#[inline(always)]
fn plain_hash_inputs(frame: &[u8], f: &SimpleFields) -> Option<[u64; 3]> {
    if f.eth_type != ethertype::IPV4 || f.l3_ofs != 14 || f.l4_ofs != 34 {
        return None;
    }
    let b = frame.first_chunk::<38>()?;
    // Constant ranges of a 38-byte array: the compiler drops the checks.
    let w = |at: usize| b[at..].first_chunk::<8>().map(|c| u64::from_le_bytes(*c));
    Some([
        w(14)? & 0xffff_0000_0000_00ff,
        w(22)? & 0xffff_ffff_0000_ff00,
        w(30)?,
    ])
}

/// The last flow hashes taken, by their inputs, so that a burst's train
/// of one flow is hashed once (the hash was ~70 of ~640 instructions per
/// encapsulated packet under callgrind).
struct HashMemo {
    /// [`plain_hash_inputs`] of the last plain frame hashed, all zero
    /// for none (a plain frame's version/IHL byte is never zero), and
    /// its hash.
    plain: ([u64; 3], u32),
    /// [`ipv4_hash_inputs`] of the last other IPv4 frame, and its hash.
    other: Option<([u64; 3], u32)>,
}

impl HashMemo {
    const fn new() -> HashMemo {
        HashMemo {
            plain: ([0; 3], 0),
            other: None,
        }
    }
}

/// The flow hash of `frame` (parsed as `f`) for a tunnel's source port,
/// as `tnl_encap` takes it with the offsets simple match sets: reused
/// from `memo` when the inputs are those of the last frame of its kind.
#[inline(always)]
fn flow_hash(frame: &[u8], f: &SimpleFields, memo: &mut HashMemo) -> u32 {
    if let Some(inputs) = plain_hash_inputs(frame, f) {
        if memo.plain.0 != inputs {
            memo.plain = (inputs, hash_5tuple_frame(frame, f.l3_ofs, f.l4_ofs, 0));
        }
        return memo.plain.1;
    }
    let Some(inputs) = ipv4_hash_inputs(frame, f) else {
        return hash_5tuple_frame(frame, f.l3_ofs, f.l4_ofs, 0);
    };
    match &memo.other {
        Some((k, h)) if *k == inputs => *h,
        _ => {
            let h = hash_5tuple_frame(frame, f.l3_ofs, f.l4_ofs, 0);
            memo.other = Some((inputs, h));
            h
        }
    }
}

/// The hash `tnl_encap` takes for a tunnel's source port: the device's
/// (`rss`), else the 5-tuple's of `frame` (parsed as `f`, with the
/// offsets simple match sets on the usual path), through `memo`.
#[inline(always)]
fn encap_hash(rss: Option<u32>, frame: &[u8], f: &SimpleFields, memo: &mut HashMemo) -> u32 {
    match rss {
        Some(h) => h,
        None => flow_hash(frame, f, memo),
    }
}

/// Bytes of a VLAN tag.
const VLAN_HLEN: u16 = 4;

/// How many packets ahead the transmit loop starts loading the headroom
/// a push writes.
const HEADROOM_AHEAD: usize = 4;

/// What the first lookup of a packet led to.
#[derive(Clone, Copy)]
enum Step<'p> {
    /// Output `.0` of the burst's [`Dests`], which pushes `.1` bytes (its
    /// `push_len`, kept here so that the parse loop does not load the
    /// output for packets that push nothing).
    Out(u8, u16),
    /// `tnl_pop` to a tunnel port whose megaflows are all simple (this
    /// index): the inner frame is looked up there.
    Pop(&'p PortIndex),
}

/// The outputs a burst's lookups found, one per lookup (a burst has a
/// few; the same port may appear more than once), which its packets name
/// by index. Noting a packet's output is then a byte, not a copy of an
/// [`Out`]: that copy was ~14 instructions per packet under callgrind.
struct Dests<'p> {
    outs: [Option<Out<'p>>; MAX_BURST],
    n: usize,
}

impl<'p> Dests<'p> {
    fn new() -> Self {
        Dests {
            outs: [None; MAX_BURST],
            n: 0,
        }
    }

    /// Adds `out`; `None` when full (a burst does at most one lookup
    /// that ends in an output per packet, so it is not).
    #[inline]
    fn add(&mut self, out: Out<'p>) -> Option<u8> {
        let d = self.n;
        *self.outs.get_mut(d)? = Some(out);
        self.n += 1;
        Some(d as u8)
    }
}

/// What a direct forward did, for the PMD's counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Forwarded {
    /// Packets decapsulated and looked up again (recirculated, in the
    /// usual path's terms: each was a second simple-match hit).
    pub decapsulated: usize,
}

/// Forwards the first `n` mbufs of `rxq`'s last receive, which came in
/// on datapath port `in_port` whose megaflows are all simple (`index`;
/// `simple` finds a tunnel port's, for decapsulated packets), when every
/// one of them can be (see the module docs); transmit uses queue `qid` of
/// the output ports and `now` stamps the megaflows. Returns `None`, having
/// changed nothing, when the burst must take the usual path.
pub fn forward(
    rxq: &DpdkRxq,
    n: usize,
    index: &PortIndex,
    simple: &SimpleIndex,
    ports: &[Option<DpPortTx>],
    qid: usize,
    now: u64,
) -> Option<Forwarded> {
    // Instances by what the port's megaflows need, so that each pays
    // only for that (callgrind p2p-1flow, instructions per packet): the
    // decapsulating one only for ports with a tunnel to terminate (its
    // second lookup's bookkeeping cost the others ~15); four-word keys
    // only where a shape keeps more than word 0 (~10); tunnel push only
    // where a megaflow pushes one (its template-carrying outputs and the
    // header offsets its flow hash reads cost ~50: the other instances'
    // parse drops the offsets as dead).
    match (
        index.pops_tunnels(),
        index.key_is_one_word(),
        index.pushes_tunnels(),
    ) {
        (true, _, _) => forward_in::<false, true, true>(rxq, n, index, simple, ports, qid, now),
        (false, true, false) => {
            forward_in::<true, false, false>(rxq, n, index, simple, ports, qid, now)
        }
        (false, true, true) => {
            forward_in::<true, true, false>(rxq, n, index, simple, ports, qid, now)
        }
        (false, false, _) => {
            forward_in::<false, true, false>(rxq, n, index, simple, ports, qid, now)
        }
    }
}

/// [`forward`]: with keys of one word when `ONE_WORD` (see
/// [`PortIndex::key_is_one_word`]), else of four; pushing tunnels when
/// `ENCAP` (else a burst that would push one goes the usual way);
/// decapsulating when `DECAP` (else a `tnl_pop` megaflow sends the burst
/// the usual way, as any other unknown action does).
#[inline(always)]
fn forward_in<const ONE_WORD: bool, const ENCAP: bool, const DECAP: bool>(
    rxq: &DpdkRxq,
    n: usize,
    index: &PortIndex,
    simple: &SimpleIndex,
    ports: &[Option<DpPortTx>],
    qid: usize,
    now: u64,
) -> Option<Forwarded> {
    let mbufs = rxq.received(n);
    let n = mbufs.len();
    if n == 0 {
        return None;
    }
    // Each packet's megaflow, and for a decapsulated packet the inner
    // frame's (the second pass of the usual path).
    let mut flows: [Option<&Arc<Megaflow>>; MAX_BURST] = [None; MAX_BURST];
    let mut inner_flows: [Option<&Arc<Megaflow>>; MAX_BURST] = [None; MAX_BURST];
    // Each packet's output, an index into `dests`.
    let mut dests = Dests::new();
    let mut dest = [0u8; MAX_BURST];
    // Received lengths (port and first megaflow counters), and the frame
    // to send: offset in the mbuf before any push, and (`DECAP` only;
    // else it is the received length) length (the received frame, or the
    // inner frame of a decapsulated one).
    let mut rx_lens = [0u16; MAX_BURST];
    let mut lens = [0u16; MAX_BURST];
    let mut offs = [0u16; MAX_BURST];
    let mut tcp_flags = [0u16; MAX_BURST];
    let mut inner_tcp_flags = [0u16; MAX_BURST];
    // Inner flow hashes, for a tunnel header's UDP source port.
    let mut hashes = [0u32; MAX_BURST];
    let mut memo = HashMemo::new();
    let mut decapsulated = 0usize;
    // The previous packet's answers (first and inner lookups): a burst is
    // mostly one flow. Kept as plain locals (as an Option of a tuple it
    // went through the stack: ~6 instructions per packet). `last_key`
    // starts as no packet's key. `lookups`: first-pass lookups done (1:
    // every packet has `last_flow`).
    let mut last_key = SimpleKey::NONE;
    let mut last_flow: Option<&Arc<Megaflow>> = None;
    let mut last_step = Step::Out(0, 0);
    let mut lookups = 0u32;
    let mut last_inner: Option<(SimpleKey, &Arc<Megaflow>, u8, u16)> = None;
    if ONE_WORD && !DECAP {
        // Port to port, VLAN push or tunnel push: parse the whole burst
        // first, then look it up (one lookup when every packet's key word
        // is the same, the usual case). One loop doing both kept the
        // lookup's state in registers the parse needed: ~15 instructions
        // per packet in spills and branches (callgrind p2p-1flow).
        let mut words = [0u64; MAX_BURST];
        // The least headroom of the burst, for the push check below, and
        // (`ENCAP`) its longest frame, for the tunnel length check.
        let mut min_off = u16::MAX;
        let mut longest = 0usize;
        for (i, mp) in mbufs.iter().enumerate() {
            let (v, frame) = received_frame(mp)?;
            let f = simple_match::parse(frame)?;
            words[i] = f.bits();
            rx_lens[i] = v.data_len;
            tcp_flags[i] = f.tcp_flags;
            offs[i] = v.data_off;
            min_off = min_off.min(v.data_off);
            if ENCAP {
                // Taken for every packet, pushing or not: it does not
                // depend on the lookup, which comes after.
                hashes[i] = encap_hash(v.rss, frame, &f, &mut memo);
                longest = longest.max(frame.len());
            }
        }
        let w0 = words[0];
        if words[..n].iter().fold(0, |acc, &w| acc | (w ^ w0)) == 0 {
            let flow = index.lookup_key(&SimpleKey::word0(w0))?;
            // Every packet's `dest` is this one, 0.
            output_step::<ENCAP>(flow, None, ports, &mut dests)?;
            (last_flow, lookups) = (Some(flow), 1);
        } else {
            for (i, &w) in words[..n].iter().enumerate() {
                if w != last_key.0[0] {
                    let flow = index.lookup_key(&SimpleKey::word0(w))?;
                    let prev = last_flow.map(|p| (&**p, last_step));
                    last_step = output_step::<ENCAP>(flow, prev, ports, &mut dests)?;
                    (last_key.0[0], last_flow) = (w, Some(flow));
                    lookups += 1;
                }
                flows[i] = last_flow;
                if let Step::Out(d, _) = last_step {
                    dest[i] = d;
                }
            }
        }
        // A packet without the headroom for its push is dropped by the
        // executor: such a burst goes the usual way. Checked against the
        // burst's least headroom and longest push (a burst with a packet
        // of little headroom that pushes nothing goes the usual way too,
        // which is only slower): a per-packet check and headroom prefetch
        // pass was ~25 instructions a packet (callgrind vlan-push); the
        // transmit loop prefetches the headroom instead.
        let max_push = dests.outs[..dests.n]
            .iter()
            .flatten()
            .map(|o| o.push_len)
            .max()
            .unwrap_or(0);
        if min_off < max_push {
            return None;
        }
        // A frame too long for a tunnel's outer length fields is dropped
        // by the usual path: such a burst goes that way (`fits` grows with
        // the length, so the longest frame decides).
        if ENCAP {
            for out in dests.outs[..dests.n].iter().flatten() {
                if let Push::Tunnel(t, layout) = out.push {
                    if !layout.fits(t, longest) {
                        return None;
                    }
                }
            }
        }
    } else {
        for (i, mp) in mbufs.iter().enumerate() {
            let (v, frame) = received_frame(mp)?;
            let f = simple_match::parse(frame)?;
            let key = match ONE_WORD {
                // What `key` gives on this port.
                true => SimpleKey::word0(f.bits()),
                false => index.key(&f, frame, None),
            };
            let same = match ONE_WORD {
                true => last_key.0[0] == key.0[0],
                false => last_key == key,
            };
            if !same {
                let flow = index.lookup_key(&key)?;
                last_step = match &flow.actions[..] {
                    [DpAction::TnlPop(t)] if DECAP => Step::Pop(simple.port(t.port)?),
                    _ => {
                        let prev = last_flow.map(|p| (&**p, last_step));
                        output_step::<ENCAP>(flow, prev, ports, &mut dests)?
                    }
                };
                (last_key, last_flow) = (key, Some(flow));
                lookups += 1;
            }
            let (flow, step) = (last_flow?, last_step);
            flows[i] = Some(flow);
            rx_lens[i] = v.data_len;
            tcp_flags[i] = f.tcp_flags;
            let (d, push_len, frame, f, off, rss) = match step {
                Step::Out(d, push_len) => (d, push_len, frame, f, v.data_off, v.rss),
                Step::Pop(_) if !DECAP => return None,
                Step::Pop(vindex) => {
                    // tnl_pop as the executor does it: a frame it would drop
                    // (malformed) or that needs Geneve options mapped goes
                    // the usual way.
                    let dc = parse_tunnel(frame)?;
                    if !dc.opts.is_empty() {
                        return None;
                    }
                    let inner = frame.get(dc.inner_ofs..dc.inner_ofs + dc.inner_len)?;
                    let f = simple_match::parse(inner)?;
                    let key = vindex.key(&f, inner, Some(&dc.tunnel));
                    let (flow, d, push_len) = match last_inner {
                        Some((k, flow, d, push_len)) if k == key => (flow, d, push_len),
                        _ => {
                            let flow = vindex.lookup_key(&key)?;
                            let out = dpdk_output(flow, ports)?;
                            let d = dests.add(out)?;
                            last_inner = Some((key, flow, d, out.push_len));
                            (flow, d, out.push_len)
                        }
                    };
                    inner_flows[i] = Some(flow);
                    inner_tcp_flags[i] = f.tcp_flags;
                    decapsulated += 1;
                    // The device's hash was the outer flow's (tnl_pop drops
                    // it).
                    let off = v.data_off + dc.inner_ofs as u16;
                    (d, push_len, inner, f, off, None)
                }
            };
            if push_len != 0 {
                if off < push_len {
                    // The executor drops it for want of headroom; let it.
                    return None;
                }
                // The headroom's last line, written below, was not touched by
                // the receive: start loading it now, behind the rest of the
                // burst's parsing, rather than stalling on it then.
                prefetch_lines(v.buf_addr.wrapping_add(usize::from(off - push_len)), 1);
                // (Matched by reference: copying the Option<Out> out of the
                // table was ~10 instructions per packet.)
                if let (
                    true,
                    Some(Out {
                        push: Push::Tunnel(t, layout),
                        ..
                    }),
                ) = (ENCAP, &dests.outs[usize::from(d)])
                {
                    if !layout.fits(t, frame.len()) {
                        // Too long for the outer length fields: dropped as the
                        // usual path drops it.
                        return None;
                    }
                    hashes[i] = encap_hash(rss, frame, &f, &mut memo);
                }
            }
            dest[i] = d;
            offs[i] = off;
            if DECAP {
                lens[i] = frame.len() as u16;
            }
        }
    }
    let lens = if DECAP { &lens } else { &rx_lens };

    // Every packet goes: count them as the usual path would.
    let stats = rxq.stats();
    let rx_bytes: u64 = rx_lens[..n].iter().map(|&l| u64::from(l)).sum();
    PortStats::add(&stats.rx_packets, n as u64);
    PortStats::add(&stats.rx_bytes, rx_bytes);
    match (lookups, last_flow) {
        // One megaflow for the whole burst: no runs to find.
        (1, Some(flow)) => flow.stats.add_run(&rx_lens[..n], &tcp_flags[..n], now),
        _ => count_runs(&flows[..n], &rx_lens, &tcp_flags, now),
    }
    if decapsulated != 0 {
        count_runs(&inner_flows[..n], lens, &inner_tcp_flags, now);
    }

    let mut burst = [std::ptr::null_mut::<rte_mbuf>(); MAX_BURST];
    if let (1, Some(out)) = (dests.n, &dests.outs[0]) {
        if out.push_len == 0 && !DECAP {
            // One output and nothing to write (port to port): every frame
            // goes as it came, so the received pointers are the transmit burst
            // (no loop over the packets: ~10 instructions per packet,
            // callgrind p2p-1flow).
            burst[..n].copy_from_slice(mbufs);
            // SAFETY: the n mbufs are ours (received), single-segment,
            // unshared, with no transmit offload flags (all checked by the
            // first loop) and their frames as received; handed over here.
            unsafe { out.tx.send_mbufs(qid, &mut burst[..n], rx_bytes) };
            return Some(Forwarded { decapsulated });
        }
        // The burst's one lookup found every packet's output (a burst of
        // one flow, the usual case): one transmit, no grouping by port
        // (the loop below costs ~25 instructions per packet more,
        // callgrind p2p-1flow).
        let mut bytes = 0u64;
        // The plain instance's first loop did not touch the headroom a
        // push writes (the frame starts on a line boundary, so the push
        // lands in the line before it): load it a few packets ahead.
        let ahead = ONE_WORD && !DECAP && out.push_len != 0;
        // (Zipped, not indexed: the indexed loop kept its bounds checks.)
        let each = mbufs
            .iter()
            .zip(&offs)
            .zip(lens)
            .zip(&hashes)
            .zip(&mut burst);
        for (i, ((((&m, &off), &len), &hash), slot)) in each.enumerate() {
            if ahead {
                if let (Some(&next), Some(&next_off)) =
                    (mbufs.get(i + HEADROOM_AHEAD), offs.get(i + HEADROOM_AHEAD))
                {
                    // SAFETY: received and checked by the first loop: a
                    // valid mbuf, not yet handed on.
                    let buf = unsafe { rx_view(next) }.buf_addr;
                    prefetch_lines(buf.wrapping_add(usize::from(next_off - out.push_len)), 1);
                }
            }
            // SAFETY: not null (checked by the first loop), received,
            // unshared, one segment, with the frame at off, len and
            // headroom for the push (all checked by the first loop).
            bytes += u64::from(unsafe {
                ready::<DECAP>(NonNull::new_unchecked(m), off, len, out, hash)
            });
            *slot = m;
        }
        // SAFETY: the n mbufs are ours, single-segment, set for transmit,
        // and handed over here (none is in any other list).
        unsafe { out.tx.send_mbufs(qid, &mut burst[..n], bytes) };
        return Some(Forwarded { decapsulated });
    }
    // One transmit per output port, in arrival order within each.
    let mut left = u32::MAX >> (32 - n);
    while left != 0 {
        let first = usize::from(dest[left.trailing_zeros() as usize]);
        let Some(Out { port, tx, .. }) = dests.outs[first] else {
            break;
        };
        let (mut k, mut bytes) = (0usize, 0u64);
        let mut rest = left;
        while rest != 0 {
            let i = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            let Some(out) = dests.outs[usize::from(dest[i])]
                .as_ref()
                .filter(|o| o.port == port)
            else {
                continue;
            };
            left &= !(1 << i);
            let Some(m) = NonNull::new(mbufs[i]) else {
                continue;
            };
            // SAFETY: as above.
            bytes += u64::from(unsafe { ready::<DECAP>(m, offs[i], lens[i], out, hashes[i]) });
            burst[k] = m.as_ptr();
            k += 1;
        }
        // SAFETY: the k mbufs are ours, single-segment, set for transmit,
        // and handed over here (none is in any other list).
        unsafe { tx.send_mbufs(qid, &mut burst[..k], bytes) };
    }
    Some(Forwarded { decapsulated })
}

/// The view and frame of received mbuf `m`, when the direct path may
/// forward it: not null, one segment, unshared, with a buffer, and no
/// transmit offload flags (the usual path clears those; here a frame sent
/// as received is not written at all).
#[inline(always)]
fn received_frame(m: &*mut rte_mbuf) -> Option<(RxView, &[u8])> {
    let m = *m;
    if m.is_null() {
        return None;
    }
    // SAFETY: m was just handed to us by rx_burst (`receive`) and is not
    // handed on until `forward` or `wrap` does so.
    let v = unsafe { rx_view(m) };
    if !v.sendable || v.buf_addr.is_null() {
        return None;
    }
    // SAFETY: a valid, unshared, single-segment mbuf: its data room holds
    // data_len frame bytes from data_off, and nobody else touches them
    // while the receive's array (which the slice borrows from) is
    // borrowed, that is until `forward` or `wrap` hands the mbuf on.
    let frame = unsafe {
        std::slice::from_raw_parts(v.buf_addr.add(v.data_off as usize), v.data_len as usize)
    };
    Some((v, frame))
}

/// Makes `m`, whose frame to send is `len` bytes at `off` in its data
/// room, ready to transmit to `out`: writes `out`'s push in front of the
/// frame as the executor would (`hash`: the flow hash for a tunnel's
/// source port) and sets the frame. Returns its length on the wire.
/// Unless `DECAP`, a frame with nothing pushed is where the receive left
/// it, with no transmit offload flags (the first loop of [`forward_in`]
/// sends those the usual way), so nothing is written.
///
/// # Safety
/// `m` is ours alone (received, unshared, one segment), `off + len` lies
/// in its data room and `off >= out.push_len`.
#[inline(always)]
unsafe fn ready<const DECAP: bool>(
    m: NonNull<rte_mbuf>,
    mut off: u16,
    mut len: u16,
    out: &Out,
    hash: u32,
) -> u16 {
    if out.push_len == 0 && !DECAP {
        return len;
    }
    if out.push_len != 0 {
        off -= out.push_len;
        len += out.push_len;
        // SAFETY: ours alone; off + len is the old frame's end, within
        // the data room (whose size is a u16, so len cannot overflow).
        let b = unsafe { mbuf_bytes_mut(m, off, len) };
        match out.push {
            // The executor's push_vlan, into the headroom.
            Push::Vlan(tpid, tci) => write_pushed_vlan(b, tpid, tci),
            // The executor's tnl_push, into the headroom.
            Push::Tunnel(t, layout) => write_tnl_header(b, t, layout, hash),
            Push::None => {}
        }
    }
    // SAFETY: ours alone; off + len is within its data room (the frame,
    // plus what was pushed into its headroom).
    unsafe { set_tx_frame(m, off, len) };
    len
}

/// Adds each run of packets of one megaflow in `flows` (`None`: no
/// megaflow at that pass) to its stats, with the packets' lengths and TCP
/// flags.
fn count_runs(flows: &[Option<&Arc<Megaflow>>], lens: &[u16], tcp_flags: &[u16], now: u64) {
    let mut i = 0;
    while i < flows.len() {
        let j = run_end(flows, i);
        if let Some(flow) = flows[i] {
            flow.stats.add_run(&lens[i..j], &tcp_flags[i..j], now);
        }
        i = j;
    }
}

#[cfg(test)]
mod tests {
    //! Plan: a `net_ring` device whose transmit feeds its own receive (see
    //! `port`'s tests), one simple megaflow `in_port=1, IPv4, not a
    //! fragment -> output:2` where port 2 is that same device: frames sent
    //! in come back on the receive queue as mbufs, `forward` sends them on
    //! again, and they are read back as packets to compare.

    use super::*;
    use crate::dpdk::port::tests::{ring_port, rx_all};
    use crate::port::{RxQueue, TxPort};
    use dpif_netdev::dpcls::Dpcls;
    use dpif_netdev::execute::{parse_tunnel, tnl_encap};
    use dpif_netdev::extract::extract;
    use dpif_netdev::key::{FlowKey, FlowMask};
    use dpif_netdev::packet::tun_flags;
    use dpif_netdev::packet::{Packet, PacketBatch, PacketPool, DEFAULT_BUF_SIZE};
    use dpif_netdev::wire::build;

    fn udp(sport: u16, len: usize) -> Vec<u8> {
        build::udp4(
            [2, 0, 0, 0, 0, 1],
            [2, 0, 0, 0, 0, 2],
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            sport,
            53,
            len,
        )
    }

    /// An 802.3 LLC/SNAP frame, which simple match does not parse.
    fn snap() -> Vec<u8> {
        let mut payload = vec![0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00];
        payload.extend([7; 40]);
        build::ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2], 48, &payload)
    }

    /// A frame of the local experimental ethertype 0x88b5.
    fn other_type() -> Vec<u8> {
        let mut f = udp(3, 10);
        f[12..14].copy_from_slice(&[0x88, 0xb5]);
        f
    }

    /// The classifier with the port-to-port megaflow, and the megaflow.
    fn classifier(out: u32) -> (Dpcls, Arc<Megaflow>) {
        classifier_with(vec![DpAction::Output(out)])
    }

    /// The classifier with the port-to-port megaflow doing `actions`.
    fn classifier_with(actions: Vec<DpAction>) -> (Dpcls, Arc<Megaflow>) {
        let mut pkt = Packet::from_bytes(&udp(1, 10));
        pkt.md.in_port = 1;
        let mut key = FlowKey::ZERO;
        extract(&mut pkt, &mut key);
        let mask = port_mask();
        let flow = Arc::new(Megaflow::new(&key, mask, actions, 1));
        let mut dpcls = Dpcls::new();
        dpcls.insert(flow.clone()).unwrap();
        (dpcls, flow)
    }

    /// The mask of a port-to-port megaflow: recirc_id, in_port, eth_type
    /// and the fragment bits, as the slow path makes it.
    fn port_mask() -> FlowMask {
        let mut mask = FlowMask::default();
        mask.0.in_port = u32::MAX;
        mask.0.recirc_id = u32::MAX;
        mask.0.eth_type = 0xffff;
        mask.0.nw_frag = 0xff;
        mask
    }

    /// The classifier with a megaflow that pushes tag 0x200a and outputs
    /// to port 2, and the megaflow.
    fn vlan_push_classifier() -> (Dpcls, Arc<Megaflow>) {
        classifier_with(vec![
            DpAction::PushVlan {
                tpid: 0x8100,
                tci: 0x200a,
            },
            DpAction::Output(2),
        ])
    }

    /// A port table whose port 2 is the ring device.
    fn port_table(tx: &Arc<DpdkTx>, stats: &Arc<PortStats>) -> Vec<Option<DpPortTx>> {
        vec![
            None,
            None,
            Some(DpPortTx {
                odp: 2,
                tx: tx.clone(),
                stats: stats.clone(),
            }),
        ]
    }

    /// Puts `frames` into the ring and receives them as raw mbufs.
    fn arrive(rxq: &mut Box<dyn RxQueue>, tx: &DpdkTx, frames: &[Vec<u8>]) -> usize {
        let mut pool = PacketPool::new(DEFAULT_BUF_SIZE, 64);
        let mut batch = PacketBatch::new();
        for f in frames {
            batch.push(Packet::from_bytes(f)).unwrap();
        }
        tx.send(0, &mut batch, &mut pool);
        rxq.as_dpdk().unwrap().receive(MAX_BURST)
    }

    /// `forward` of the `n` mbufs just received on the ring's queue, as
    /// input port 1 of `dpcls`.
    fn forward_port1(
        rxqs: &mut [Box<dyn RxQueue>],
        n: usize,
        dpcls: &Dpcls,
        ports: &[Option<DpPortTx>],
        now: u64,
    ) -> Option<Forwarded> {
        let index = dpcls.simple().port(1).expect("port 1 is simple");
        forward(
            rxqs[0].as_dpdk().unwrap(),
            n,
            index,
            dpcls.simple(),
            ports,
            0,
            now,
        )
    }

    /// The frames the ring's queue gives back (what `forward` sent).
    fn frames_back(rxqs: &mut [Box<dyn RxQueue>]) -> Vec<Vec<u8>> {
        let mut pool = PacketPool::new(DEFAULT_BUF_SIZE, 64);
        rx_all(rxqs[0].as_mut(), &mut pool)
            .iter()
            .map(|p| p.data().to_vec())
            .collect()
    }

    #[test]
    fn a_simple_burst_goes_mbuf_to_mbuf_in_order_and_is_counted() {
        let (mut rxqs, tx, stats) = ring_port("net_ring20");
        let (dpcls, flow) = classifier(2);
        let ports = port_table(&tx, &stats);
        let frames: Vec<_> = (0..20).map(|i| udp(1000 + i, 10 + i as usize)).collect();
        let bytes: u64 = frames.iter().map(|f| f.len() as u64).sum();
        let n = arrive(&mut rxqs[0], &tx, &frames);
        assert_eq!(n, frames.len());
        assert!(forward_port1(&mut rxqs, n, &dpcls, &ports, 77).is_some());

        assert_eq!(frames_back(&mut rxqs), frames, "the same frames, in order");
        let fs = flow.stats.snapshot();
        assert_eq!((fs.packets, fs.bytes, fs.used), (20, bytes, 77));
        let s = stats.snapshot();
        // In: counted by forward and by the read-back; out: the first
        // send and forward's.
        assert_eq!((s.rx_packets, s.rx_bytes), (40, 2 * bytes));
        assert_eq!((s.tx_packets, s.tx_bytes, s.tx_dropped), (40, 2 * bytes, 0));
    }

    #[test]
    fn a_pushed_tag_is_written_into_the_headroom_as_the_executor_does() {
        let (mut rxqs, tx, stats) = ring_port("net_ring22");
        let (dpcls, flow) = vlan_push_classifier();
        let ports = port_table(&tx, &stats);
        // One untagged frame and one already tagged (the push makes it
        // QinQ-style, outer tag first).
        let frames = vec![udp(5, 30), build::push_vlan(&udp(6, 30), 0x8100, 7)];
        let bytes: u64 = frames.iter().map(|f| f.len() as u64).sum();
        let n = arrive(&mut rxqs[0], &tx, &frames);
        assert_eq!(n, 2);
        assert!(forward_port1(&mut rxqs, n, &dpcls, &ports, 9).is_some());
        let got = frames_back(&mut rxqs);
        let want: Vec<_> = frames
            .iter()
            .map(|f| build::push_vlan(f, 0x8100, 0x200a))
            .collect();
        assert_eq!(got, want);
        // The megaflow counts what came in; the port sent 4 bytes more
        // per packet.
        assert_eq!(flow.stats.snapshot().bytes, bytes);
        let s = stats.snapshot();
        assert_eq!(s.tx_bytes, bytes + bytes + 8);
    }

    #[test]
    fn a_tag_without_headroom_leaves_the_burst_to_the_usual_path() {
        let (mut rxqs, tx, stats) = ring_port("net_ring30");
        let (dpcls, flow) = vlan_push_classifier();
        let ports = port_table(&tx, &stats);
        let frames = vec![udp(5, 30), udp(6, 30), udp(7, 30)];
        let n = arrive(&mut rxqs[0], &tx, &frames);
        assert_eq!(n, 3);
        // The second frame moved to the start of its data room: 2 bytes
        // of headroom, short of a tag's 4.
        let m = rxqs[0].as_dpdk().unwrap().received(n)[1];
        // SAFETY: just received, ours alone; the frame (30 + 42 bytes)
        // is moved within the data room, as rte_pktmbuf_prepend would.
        unsafe {
            let h = &mut *m;
            let buf = h.buf_addr as *mut u8;
            std::ptr::copy(
                buf.add(usize::from(h.data_off)),
                buf.add(2),
                usize::from(h.data_len),
            );
            h.data_off = 2;
        }
        let before = stats.snapshot();
        assert!(forward_port1(&mut rxqs, n, &dpcls, &ports, 9).is_none());
        assert_eq!(flow.stats.snapshot().packets, 0, "nothing counted");
        assert_eq!(stats.snapshot().tx_packets, before.tx_packets);
        // The frames are as they came, for the usual path.
        let mut pool = PacketPool::new(DEFAULT_BUF_SIZE, 64);
        let mut batch = PacketBatch::new();
        let rxq = rxqs[0].as_dpdk().unwrap();
        assert_eq!(rxq.wrap(n, &mut batch, &mut pool), n);
        let got: Vec<_> = batch.drain().map(|p| p.data().to_vec()).collect();
        assert_eq!(got, frames);
    }

    #[test]
    fn flows_with_one_output_share_it_and_each_is_counted() {
        // IPv4 and ARP, two megaflows that both output to port 2: the
        // burst is one transmit (one output entry), each flow counted.
        let (mut rxqs, tx, stats) = ring_port("net_ring31");
        let (mut dpcls, ip_flow) = classifier(2);
        let (a, b) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
        let (s4, d4) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let arp = build::arp(a, b, 1, a, s4, [0; 6], d4);
        let mut pkt = Packet::from_bytes(&arp);
        pkt.md.in_port = 1;
        let mut key = FlowKey::ZERO;
        extract(&mut pkt, &mut key);
        let arp_flow = Arc::new(Megaflow::new(
            &key,
            port_mask(),
            vec![DpAction::Output(2)],
            2,
        ));
        dpcls.insert(arp_flow.clone()).unwrap();
        let ports = port_table(&tx, &stats);
        let frames = vec![udp(1, 20), arp.clone(), udp(2, 30), arp.clone(), arp];
        let n = arrive(&mut rxqs[0], &tx, &frames);
        assert_eq!(n, frames.len());
        assert!(forward_port1(&mut rxqs, n, &dpcls, &ports, 3).is_some());
        assert_eq!(frames_back(&mut rxqs), frames, "in order, as they came");
        assert_eq!(ip_flow.stats.snapshot().packets, 2);
        assert_eq!(arp_flow.stats.snapshot().packets, 3);
        let bytes: u64 = frames.iter().map(|f| f.len() as u64).sum();
        let s = stats.snapshot();
        assert_eq!((s.tx_packets, s.tx_bytes), (10, 2 * bytes));
    }

    #[test]
    fn a_burst_of_two_flows_keeps_its_order_and_each_flows_push() {
        // IPv4 goes out as it came, ARP with a tag pushed, both to port 2:
        // two outputs in one burst, so the grouping transmit loop runs.
        let (mut rxqs, tx, stats) = ring_port("net_ring28");
        let (mut dpcls, ip_flow) = classifier(2);
        let (a, b) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
        let arp = build::arp(
            a,
            b,
            1,
            a,
            "10.0.0.1".parse().unwrap(),
            [0; 6],
            "10.0.0.2".parse().unwrap(),
        );
        let mut pkt = Packet::from_bytes(&arp);
        pkt.md.in_port = 1;
        let mut key = FlowKey::ZERO;
        extract(&mut pkt, &mut key);
        let push = vec![
            DpAction::PushVlan {
                tpid: 0x8100,
                tci: 0x2005,
            },
            DpAction::Output(2),
        ];
        let arp_flow = Arc::new(Megaflow::new(&key, port_mask(), push, 2));
        dpcls.insert(arp_flow.clone()).unwrap();
        let ports = port_table(&tx, &stats);
        let frames = vec![
            udp(1, 20),
            arp.clone(),
            arp.clone(),
            udp(2, 30),
            arp.clone(),
        ];
        let n = arrive(&mut rxqs[0], &tx, &frames);
        assert_eq!(n, frames.len());
        assert!(forward_port1(&mut rxqs, n, &dpcls, &ports, 3).is_some());

        let tagged = build::push_vlan(&arp, 0x8100, 0x2005);
        let want = vec![
            udp(1, 20),
            tagged.clone(),
            tagged.clone(),
            udp(2, 30),
            tagged,
        ];
        assert_eq!(
            frames_back(&mut rxqs),
            want,
            "in order, each as its flow says"
        );
        assert_eq!(ip_flow.stats.snapshot().packets, 2);
        assert_eq!(arp_flow.stats.snapshot().packets, 3);
        let sent: u64 = frames.iter().map(|f| f.len() as u64).sum::<u64>() + 3 * 4;
        let s = stats.snapshot();
        let arrived: u64 = frames.iter().map(|f| f.len() as u64).sum();
        assert_eq!((s.tx_packets, s.tx_bytes), (10, arrived + sent));
    }

    /// A VXLAN (VNI 77) template over IPv4 to 198.18.0.2, out port 2.
    fn vxlan_template(udp_csum: bool) -> TnlPush {
        let mut h = build::udp4(
            [2, 0, 0, 0, 0, 0xfe],
            [2, 0, 0, 0, 0, 0x99],
            "198.18.0.1".parse().unwrap(),
            "198.18.0.2".parse().unwrap(),
            0,
            4789,
            8,
        );
        let vx = h.len() - 8;
        h[vx..].copy_from_slice(&[0x08, 0, 0, 0, 0, 0, 77, 0]);
        TnlPush {
            tnl_port: 10,
            out_port: 2,
            tnl_type: dpif_netdev::actions::TunnelType::Vxlan,
            header: h.into_boxed_slice(),
            ipv6: false,
            udp_csum,
        }
    }

    #[test]
    fn a_tunnel_header_is_written_into_the_headroom_as_the_executor_does() {
        for (dev, udp_csum) in [("net_ring23", false), ("net_ring24", true)] {
            let (mut rxqs, tx, stats) = ring_port(dev);
            let t = Arc::new(vxlan_template(udp_csum));
            let (dpcls, flow) = classifier_with(vec![DpAction::TnlPush(t.clone())]);
            let ports = port_table(&tx, &stats);
            // Different ports: different flow hashes, source ports.
            let frames: Vec<_> = (0..6).map(|i| udp(100 + i, 20 + i as usize)).collect();
            let n = arrive(&mut rxqs[0], &tx, &frames);
            assert_eq!(n, frames.len());
            assert!(forward_port1(&mut rxqs, n, &dpcls, &ports, 3).is_some());
            let got = frames_back(&mut rxqs);
            let mut ports_seen = std::collections::HashSet::new();
            for (g, f) in got.iter().zip(&frames) {
                // What the executor makes of the same packet on the
                // usual path (offsets from the parse, no device hash).
                let mut pkt = Packet::from_bytes(f);
                pkt.md.in_port = 1;
                extract(&mut pkt, &mut FlowKey::ZERO.clone());
                let want = match tnl_encap(pkt, &t) {
                    Ok(p) => p.data().to_vec(),
                    Err(_) => panic!("the executor encapsulates it"),
                };
                assert_eq!(g, &want, "udp_csum {udp_csum}");
                // And independently: a valid VXLAN packet around the
                // frame (parse_tunnel checks the IPv4 header checksum and
                // a non-zero UDP checksum).
                let dc = parse_tunnel(g).expect("a valid tunnel packet");
                assert_eq!(&g[dc.inner_ofs..dc.inner_ofs + dc.inner_len], &f[..]);
                assert_eq!(dc.tunnel.tun_id, 77);
                assert_eq!(dc.tunnel.flags & tun_flags::CSUM != 0, udp_csum);
                ports_seen.insert(dc.tunnel.tp_src);
            }
            assert_eq!(got.len(), frames.len());
            assert!(ports_seen.len() > 1, "source ports follow the inner flows");
            let bytes: u64 = frames.iter().map(|f| f.len() as u64).sum();
            assert_eq!(flow.stats.snapshot().bytes, bytes);
            let s = stats.snapshot();
            let outer = (t.header.len() * frames.len()) as u64;
            assert_eq!(s.tx_bytes, bytes + bytes + outer);
        }
    }

    /// `inner` in VXLAN (VNI 77, 198.18.0.1 -> 198.18.0.2), as the
    /// executor encapsulates it.
    fn vxlan_of(inner: &[u8]) -> Vec<u8> {
        let mut p = Packet::from_bytes(inner);
        extract(&mut p, &mut FlowKey::ZERO.clone());
        match tnl_encap(p, &vxlan_template(false)) {
            Ok(p) => p.data().to_vec(),
            Err(_) => panic!("encapsulated"),
        }
    }

    /// A classifier as a VTEP's slow path fills it: port 1's VXLAN to
    /// 198.18.0.2 -> tnl_pop(10); port 10's packets of tunnel 77 from
    /// 198.18.0.1 -> output:2. Both megaflows are simple.
    fn vtep() -> (Dpcls, Arc<Megaflow>, Arc<Megaflow>) {
        let mut outer = Packet::from_bytes(&vxlan_of(&udp(1, 10)));
        outer.md.in_port = 1;
        let mut key = FlowKey::ZERO;
        extract(&mut outer, &mut key);
        let mut mask = port_mask();
        mask.0.nw_dst = u32::MAX;
        mask.0.nw_proto = 0xff;
        mask.0.tp_dst = 0xffff;
        let pop = Arc::new(Megaflow::new(
            &key,
            mask,
            vec![DpAction::TnlPop(dpif_netdev::actions::TnlPop::plain(10))],
            1,
        ));
        let dc = parse_tunnel(outer.data()).expect("VXLAN");
        let mut inner = Packet::from_bytes(&udp(1, 10));
        inner.md.in_port = 10;
        inner.md.set_tunnel(dc.tunnel);
        let mut key = FlowKey::ZERO;
        extract(&mut inner, &mut key);
        let mut mask = port_mask();
        mask.0.tun_id = u64::MAX;
        mask.0.tun_ipv4_src = u32::MAX;
        mask.0.tun_ipv4_dst = u32::MAX;
        let out = Arc::new(Megaflow::new(&key, mask, vec![DpAction::Output(2)], 2));
        let mut dpcls = Dpcls::new();
        dpcls.insert(pop.clone()).unwrap();
        dpcls.insert(out.clone()).unwrap();
        (dpcls, pop, out)
    }

    #[test]
    fn a_tunnel_terminated_here_is_popped_in_the_mbuf_and_forwarded() {
        let (mut rxqs, tx, stats) = ring_port("net_ring26");
        let (dpcls, pop, out) = vtep();
        assert!(
            dpcls.simple().port(10).is_some(),
            "the tunnel port is simple"
        );
        let ports = port_table(&tx, &stats);
        let inner: Vec<_> = (0..9).map(|i| udp(300 + i, 12 + i as usize)).collect();
        let frames: Vec<_> = inner.iter().map(|f| vxlan_of(f)).collect();
        let n = arrive(&mut rxqs[0], &tx, &frames);
        let done = forward_port1(&mut rxqs, n, &dpcls, &ports, 4);
        assert_eq!(done, Some(Forwarded { decapsulated: 9 }));
        let got = frames_back(&mut rxqs);
        assert_eq!(got, inner, "the inner frames, in order");
        let outer_bytes: u64 = frames.iter().map(|f| f.len() as u64).sum();
        let inner_bytes: u64 = inner.iter().map(|f| f.len() as u64).sum();
        let (p, o) = (pop.stats.snapshot(), out.stats.snapshot());
        assert_eq!((p.packets, p.bytes, p.used), (9, outer_bytes, 4));
        assert_eq!((o.packets, o.bytes, o.used), (9, inner_bytes, 4));
    }

    #[test]
    fn a_tunnel_packet_the_executor_would_drop_goes_the_usual_way() {
        let (mut rxqs, tx, stats) = ring_port("net_ring27");
        let (dpcls, pop, _) = vtep();
        let ports = port_table(&tx, &stats);
        let good = vxlan_of(&udp(1, 10));
        let mut bad_csum = good.clone();
        bad_csum[24] ^= 0xff; // outer IPv4 header checksum
        let mut other_vni = good.clone();
        other_vni[48] = 78; // VNI 78: no megaflow for it
        for (what, bad) in [("bad checksum", bad_csum), ("unknown VNI", other_vni)] {
            let frames = vec![good.clone(), bad];
            let n = arrive(&mut rxqs[0], &tx, &frames);
            let index = dpcls.simple().port(1).expect("port 1 is simple");
            let rxq = rxqs[0].as_dpdk().unwrap();
            assert_eq!(
                forward(rxq, n, index, dpcls.simple(), &ports, 0, 4),
                None,
                "{what}"
            );
            let mut pool = PacketPool::new(DEFAULT_BUF_SIZE, 64);
            let mut batch = PacketBatch::new();
            assert_eq!(rxq.wrap(n, &mut batch, &mut pool), 2, "{what}");
            let got: Vec<_> = batch.drain().map(|p| p.data().to_vec()).collect();
            assert_eq!(got, frames, "{what}: untouched");
        }
        assert_eq!(pop.stats.snapshot().packets, 0);
    }

    #[test]
    fn a_malformed_tunnel_template_leaves_the_burst_to_the_usual_path() {
        let (mut rxqs, tx, stats) = ring_port("net_ring25");
        let mut t = vxlan_template(false);
        // Not UDP: the executor drops the packet as malformed for the
        // action, so this path must not send it.
        t.header[23] = 6;
        let (dpcls, _flow) = classifier_with(vec![DpAction::TnlPush(Arc::new(t))]);
        let ports = port_table(&tx, &stats);
        let n = arrive(&mut rxqs[0], &tx, &[udp(1, 10)]);
        let index = dpcls.simple().port(1).expect("port 1 is simple");
        let rxq = rxqs[0].as_dpdk().unwrap();
        assert!(forward(rxq, n, index, dpcls.simple(), &ports, 0, 5).is_none());
        let mut pool = PacketPool::new(DEFAULT_BUF_SIZE, 64);
        let mut batch = PacketBatch::new();
        assert_eq!(rxq.wrap(n, &mut batch, &mut pool), 1);
        assert_eq!(batch.packets_mut()[0].data(), &udp(1, 10)[..]);
    }

    /// A frame for the flow-hash memo test: IPv4 UDP/TCP (optionally with
    /// options, a later or first fragment, another protocol, a VLAN tag,
    /// or other fields the hash does not read) or IPv6
    /// UDP, from a few addresses and ports so that trains of equal flows
    /// and near misses both occur.
    fn hash_case(kind: u8, dst: u8, port: u16) -> Vec<u8> {
        use build::{Ipv4Spec, L4};
        let (a, b) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
        let src = std::net::Ipv4Addr::new(10, 0, 0, 1);
        let dst4 = std::net::Ipv4Addr::new(10, 0, 0, dst);
        let payload = [7u8; 12];
        let udp = L4::Udp {
            sport: port,
            dport: 53,
            payload: &payload,
        };
        let mut spec = Ipv4Spec::new(src, dst4);
        match kind {
            0 => build::udp4(a, b, src, dst4, port, 53, 12),
            1 => build::tcp4(a, b, src, dst4, port, 80, 0x10, 12),
            2 => {
                spec.options = vec![1, 1, 1, 1];
                build::ipv4_frame(a, b, &spec, &udp)
            }
            3 => {
                spec.dont_frag = false;
                spec.frag_offset = 8;
                build::ipv4_frame(a, b, &spec, &udp)
            }
            4 => {
                // The UDP bytes under another protocol number: no ports.
                let mut f = build::udp4(a, b, src, dst4, port, 53, 12);
                f[23] = 253;
                f
            }
            5 => build::push_vlan(&build::udp4(a, b, src, dst4, port, 53, 12), 0x8100, 9),
            // Another TTL and IP id (which the hash does not read), and a
            // first fragment (which it reads as not a later one).
            6 | 7 => {
                let mut f = build::udp4(a, b, src, dst4, port, 53, 12);
                f[18] ^= 0x5a;
                f[22] = 9;
                if kind == 7 {
                    f[20] |= 0x20;
                }
                f
            }
            _ => build::udp6(
                a,
                b,
                "fd00::1".parse().unwrap(),
                format!("fd00::{dst}").parse().unwrap(),
                port,
                53,
                12,
            ),
        }
    }

    proptest::proptest! {
        #[test]
        fn the_flow_hash_memo_gives_every_frame_its_own_hash(
            cases in proptest::collection::vec((0u8..9, 2u8..4, 1u16..3), 1..40)
        ) {
            let mut memo = HashMemo::new();
            for (kind, dst, port) in cases {
                let frame = hash_case(kind, dst, port);
                let f = simple_match::parse(&frame).expect("simple match parses it");
                proptest::prop_assert_eq!(
                    flow_hash(&frame, &f, &mut memo),
                    hash_5tuple_frame(&frame, f.l3_ofs, f.l4_ofs, 0),
                    "kind {} dst {} port {}", kind, dst, port
                );
            }
        }
    }

    #[test]
    fn an_mbuf_asking_for_transmit_offloads_goes_the_usual_way_which_clears_them() {
        let (mut rxqs, tx, stats) = ring_port("net_ring29");
        let mut pool = PacketPool::new(DEFAULT_BUF_SIZE, 64);
        let (dpcls, flow) = classifier(2);
        let ports = port_table(&tx, &stats);
        let frames = vec![udp(1, 10), udp(2, 10), udp(3, 10)];
        let n = arrive(&mut rxqs[0], &tx, &frames);
        assert_eq!(n, frames.len());
        // As vhost-user's receive does for a guest's partial checksum.
        let asked = dpdk_sys::RTE_MBUF_F_TX_IP_CKSUM | dpdk_sys::RTE_MBUF_F_TX_IPV4;
        let m = rxqs[0].as_dpdk().unwrap().received(n)[1];
        // SAFETY: just received, ours; a plain header write.
        unsafe { (*m).ol_flags |= asked };
        assert!(forward_port1(&mut rxqs, n, &dpcls, &ports, 5).is_none());
        assert_eq!(flow.stats.snapshot().packets, 0, "nothing counted");

        // The usual path sends them with the flags cleared.
        let rxq = rxqs[0].as_dpdk().unwrap();
        let mut batch = PacketBatch::new();
        assert_eq!(rxq.wrap(n, &mut batch, &mut pool), n);
        tx.send(0, &mut batch, &mut pool);
        let rxq = rxqs[0].as_dpdk().unwrap();
        assert_eq!(rxq.receive(MAX_BURST), n);
        for &m in rxq.received(n) {
            // SAFETY: just received, ours; a plain header read.
            let flags = unsafe { (*m).ol_flags };
            assert_eq!(flags & dpdk_sys::RTE_MBUF_F_TX_OFFLOAD_MASK, 0);
        }
        // The port-to-port burst is forwarded directly again, with its
        // frames as they came.
        assert!(forward_port1(&mut rxqs, n, &dpcls, &ports, 6).is_some());
        assert_eq!(frames_back(&mut rxqs), frames);
        assert_eq!(flow.stats.snapshot().packets, n as u64);
    }

    #[test]
    fn other_bursts_are_left_untouched_for_the_usual_path() {
        let (mut rxqs, tx, stats) = ring_port("net_ring21");
        let mut pool = PacketPool::new(DEFAULT_BUF_SIZE, 64);
        let (dpcls, flow) = classifier(2);
        let index = dpcls.simple().port(1).expect("port 1 is simple");
        let dpdk_out = port_table(&tx, &stats);
        type Case<'a> = (&'a str, Vec<Vec<u8>>, &'a [Option<DpPortTx>]);
        let cases: [Case; 3] = [
            (
                "a frame simple match does not parse",
                vec![udp(1, 10), snap(), udp(2, 10)],
                &dpdk_out,
            ),
            (
                "a miss (another ethertype)",
                vec![udp(1, 10), other_type()],
                &dpdk_out,
            ),
            (
                "an output to a port that is not DPDK",
                vec![udp(1, 10)],
                &[],
            ),
        ];
        for (what, frames, ports) in cases {
            let before = stats.snapshot();
            let n = arrive(&mut rxqs[0], &tx, &frames);
            assert_eq!(n, frames.len(), "{what}");
            let rxq = rxqs[0].as_dpdk().unwrap();
            assert!(
                forward(rxq, n, index, dpcls.simple(), ports, 0, 5).is_none(),
                "{what}"
            );
            // Nothing counted or sent; the mbufs become packets as usual.
            let after = stats.snapshot();
            assert_eq!(after.rx_packets, before.rx_packets, "{what}");
            assert_eq!(
                after.tx_packets,
                before.tx_packets + n as u64,
                "{what}: only the send in"
            );
            let mut batch = PacketBatch::new();
            assert_eq!(rxq.wrap(n, &mut batch, &mut pool), n, "{what}");
            let got: Vec<_> = batch.drain().map(|p| p.data().to_vec()).collect();
            assert_eq!(got, frames, "{what}");
        }
        assert_eq!(flow.stats.snapshot().packets, 0);
    }
}
