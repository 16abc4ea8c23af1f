//! The per-burst fast path: extract → EMC → dpcls → execute.
//!
//! [`FastPath`] is the part of a PMD thread that touches packets, as a
//! library: the PMD (in `pmd/`) owns one, feeds it rx bursts, hands it the
//! sinks for output and misses, and applies install/remove messages to its
//! `dpcls` between bursts. Stages run over the whole burst before the next
//! stage starts (VPP's lesson): keys and EMC hashes for every packet, then
//! EMC lookups, then one batched classifier lookup for the EMC misses, then
//! execution in arrival order.
//!
//! Before those stages, a burst from a port whose megaflows are all
//! "simple" (they match only in_port, eth_type, the outer VLAN tag and
//! the fragment bits) is first looked up by [`crate::simple_match`], which
//! needs no flow key; packets it does not answer go on. Then plain frames
//! (untagged IPv4 TCP/UDP, [`crate::plain_key`]) are looked up in the
//! EMC's plain lane by six words read from their headers, again with no
//! flow key; only what is left is extracted and goes on as above.
//!
//! Accounting: every packet of a burst lands in exactly one of
//! `simple_hits`, `emc_hits` (either EMC lane; `emc_plain_hits` counts the
//! plain lane's share), `megaflow_hits`, `misses` or `runts` (a test checks
//! `packets` equals their sum); `malformed` counts packets whose headers
//! stopped parsing early but which were still processed on the fields
//! that parsed, as OVS does.
//!
//! # Thread safety
//! Owned by one PMD thread (`&mut self`); see [`crate::emc`] and
//! [`crate::dpcls`] for the megaflows it shares by `Arc`.

use crate::dpcls::Dpcls;
use crate::drop::DropReason;
use crate::emc::{Emc, DEFAULT_ENTRIES, DEFAULT_INSERT_INV_PROB};
use crate::execute::{execute_batch, ActionSink};
use crate::extract::extract;
use crate::hash::emc_hash;
use crate::key::{parse_err, FlowKey};
use crate::megaflow::{run_end, Megaflow};
use crate::packet::{Packet, PacketBatch, MAX_BURST};
use crate::plain_key::{self, PlainKey};
use crate::simple_match::{self, SimpleKey};
use std::sync::Arc;

/// Recirculation passes allowed per packet (OVS's MAX_RECIRC_DEPTH); the
/// callers that feed recirculated packets back (PMD, `rvs replay`) stop
/// there and drop with `DropReason::RecircDepth`.
pub const MAX_RECIRC_DEPTH: usize = 6;

/// Counters of a [`FastPath`], bumped once per burst.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FastPathStats {
    /// Packets processed (including recirculated passes).
    pub packets: u64,
    /// Packets answered by simple match ([`crate::simple_match`]): no
    /// key, no EMC, no subtable.
    pub simple_hits: u64,
    /// Packets that hit the EMC (either lane).
    pub emc_hits: u64,
    /// Of `emc_hits`, those answered by the EMC's plain lane
    /// ([`crate::plain_key`]): no key extraction.
    pub emc_plain_hits: u64,
    /// Packets that missed the EMC and hit a megaflow.
    pub megaflow_hits: u64,
    /// Subtables probed for the megaflow hits (for the average per hit).
    pub subtable_probes: u64,
    /// Packets that matched no megaflow (handed to the miss sink).
    pub misses: u64,
    /// Packets dropped because they are shorter than an Ethernet header.
    pub runts: u64,
    /// Packets processed whose headers stopped parsing early.
    pub malformed: u64,
    /// Packets whose EMC lookup was skipped ([`FastPath::set_emc_lookups`]
    /// off); they went straight to the classifier.
    pub emc_skipped: u64,
}

/// The fast path of one PMD: its EMC, its classifier and scratch space.
pub struct FastPath {
    /// Exact-match cache.
    pub emc: Emc,
    /// Megaflow classifier.
    pub dpcls: Dpcls,
    /// Counters.
    pub stats: FastPathStats,
    keys: [FlowKey; MAX_BURST],
    hashes: [u32; MAX_BURST],
    plain_keys: [PlainKey; MAX_BURST],
    plain_hashes: [u32; MAX_BURST],
    /// Whether bursts look packets up in the EMC (insertion goes on
    /// either way, so the cache stays warm for when lookups resume).
    emc_lookups: bool,
    /// Whether plain frames use the EMC's plain lane.
    plain_lane: bool,
}

impl Default for FastPath {
    fn default() -> Self {
        FastPath::new(DEFAULT_ENTRIES, DEFAULT_INSERT_INV_PROB, 1)
    }
}

impl FastPath {
    /// A fast path with an EMC of `emc_entries` entries and the given
    /// inverse insertion probability.
    pub fn new(emc_entries: usize, emc_insert_inv_prob: u32, seed: u32) -> FastPath {
        FastPath {
            emc: Emc::new(emc_entries, emc_insert_inv_prob, seed),
            dpcls: Dpcls::new(),
            stats: FastPathStats::default(),
            keys: [FlowKey::ZERO; MAX_BURST],
            hashes: [0; MAX_BURST],
            plain_keys: [PlainKey::NONE; MAX_BURST],
            plain_hashes: [0; MAX_BURST],
            emc_lookups: true,
            plain_lane: true,
        }
    }

    /// Turns EMC lookups on or off (on by default). Off, every packet goes
    /// straight to the classifier, and classifier hits are still inserted
    /// into the EMC as usual. For a PMD that finds its EMC costs more than
    /// it saves (many flows, one cheap subtable); see `pmd`'s `emc_auto`.
    pub fn set_emc_lookups(&mut self, on: bool) {
        self.emc_lookups = on;
    }

    /// Whether EMC lookups are on.
    pub fn emc_lookups(&self) -> bool {
        self.emc_lookups
    }

    /// Turns the EMC's plain lane ([`crate::plain_key`]) on or off (on by
    /// default). Off, plain frames are extracted and take the full-key
    /// lane like every other frame: for measuring what the lane saves
    /// (`cargo bench --bench fastpath -- burst`).
    pub fn set_plain_lane(&mut self, on: bool) {
        self.plain_lane = on;
    }

    /// Counts `n` packets answered by simple match and executed outside
    /// [`FastPath::process`] (a PMD's direct forwarding of DPDK bursts,
    /// which does exactly what stage 0 and stage 4 would have done), so
    /// the counters keep adding up.
    pub fn count_simple_hits(&mut self, n: u64) {
        self.stats.packets += n;
        self.stats.simple_hits += n;
    }

    /// Processes one burst, emptying `batch`. Hits are executed into
    /// `sink`; each miss is handed to `miss` with its key, in arrival
    /// order. `now` is the caller's millisecond clock, stamped on megaflow
    /// stats.
    pub fn process<S: ActionSink>(
        &mut self,
        batch: &mut PacketBatch,
        now: u64,
        sink: &mut S,
        mut miss: impl FnMut(Packet, &FlowKey),
    ) {
        let n = batch.len();
        if n == 0 {
            return;
        }
        let all = u32::MAX >> (32 - n);
        let mut flows: [Option<&Arc<Megaflow>>; MAX_BURST] = [None; MAX_BURST];
        let mut tcp_flags = [0u16; MAX_BURST];
        const PREFETCH_AHEAD: usize = 4;

        // Stage 0: simple match ([`crate::simple_match`]), when every
        // megaflow of the burst's input port is simple. Packets it answers
        // skip key extraction, the EMC and the subtables; the rest (other
        // ports, recirculated, unusual frames, misses) take the full path.
        let mut simple = 0u32;
        let pkts = batch.packets_mut();
        if let Some(port) = self.dpcls.simple().port(pkts[0].md.in_port) {
            let in_port = pkts[0].md.in_port;
            for p in pkts.iter().take(PREFETCH_AHEAD) {
                p.prefetch();
            }
            // The previous packet's answer: a burst is mostly one flow.
            let mut last: Option<(SimpleKey, &Arc<Megaflow>)> = None;
            for i in 0..n {
                if let Some(p) = pkts.get(i + PREFETCH_AHEAD) {
                    p.prefetch();
                }
                let pkt = &mut pkts[i];
                if pkt.md.recirc_id != 0 || pkt.md.in_port != in_port {
                    continue;
                }
                let Some(f) = simple_match::parse(pkt.data()) else {
                    continue;
                };
                pkt.md.l3_ofs = f.l3_ofs;
                pkt.md.l4_ofs = f.l4_ofs;
                // A decapsulated packet (recirculated by tnl_pop, on its
                // tunnel's port) is looked up with its tunnel metadata.
                let tunnel = pkt.md.has_tunnel().then(|| pkt.md.tunnel());
                let bits = port.key(&f, pkt.data(), tunnel);
                let flow = match last {
                    Some((b, flow)) if b == bits => flow,
                    _ => match port.lookup_key(&bits) {
                        Some(flow) => {
                            last = Some((bits, flow));
                            flow
                        }
                        None => continue,
                    },
                };
                flows[i] = Some(flow);
                tcp_flags[i] = f.tcp_flags;
                simple |= 1 << i;
            }
        }
        let mut full = all & !simple;

        // Stage 0b: the EMC's plain lane ([`crate::plain_key`]) for the
        // rest: frames of the common layout are looked up by six words read
        // from their headers, with no key extraction. Skipped with the
        // rest of the EMC when lookups are off. `plain`: packets with a
        // plain key (kept with its hash for insertion in stage 5).
        let mut plain = 0u32;
        let mut plain_hits = 0u32;
        let mut cand = [0u32; MAX_BURST];
        let mut touched = simple != 0;
        if full != 0 && self.emc_lookups && self.plain_lane {
            let pkts = batch.packets_mut();
            for p in pkts.iter().take(PREFETCH_AHEAD) {
                p.prefetch();
            }
            let emc = &self.emc;
            let mut probe = 0u32;
            let mut fetched = u32::MAX;
            for i in 0..n {
                if let Some(p) = pkts.get(i + PREFETCH_AHEAD) {
                    p.prefetch();
                }
                if full & (1 << i) == 0 {
                    continue;
                }
                let pkt = &pkts[i];
                let Some(k) = PlainKey::parse(pkt.data(), &pkt.md) else {
                    continue;
                };
                let h = k.hash();
                self.plain_keys[i] = k;
                self.plain_hashes[i] = h;
                plain |= 1 << i;
                if let Some(idx) = emc.probe_plain(h) {
                    cand[i] = idx;
                    probe |= 1 << i;
                    if idx != fetched {
                        emc.prefetch_plain(idx);
                        fetched = idx;
                    }
                }
            }
            touched = true;
            while probe != 0 {
                let i = probe.trailing_zeros() as usize;
                probe &= probe - 1;
                let k = &self.plain_keys[i];
                if let Some(f) = emc.lookup_plain_at(k, cand[i]) {
                    flows[i] = Some(f);
                    tcp_flags[i] = k.tcp_flags();
                    let md = &mut pkts[i].md;
                    (md.l3_ofs, md.l4_ofs) = (plain_key::L3_OFS, plain_key::L4_OFS);
                    plain_hits |= 1 << i;
                }
            }
            full &= !plain_hits;
        }

        // Stage 1: keys for the rest of the burst, then their EMC hashes.
        // Two loops on purpose: hashing reads the key in 64-bit words right
        // after extraction wrote it in 8/16/32-bit stores, which stalls on
        // store-to-load forwarding (measured: ~15% of a burst); by the
        // time the second loop runs the stores have drained.
        // Headers are prefetched a few packets ahead of extraction.
        let mut runts = 0u32;
        let mut malformed = 0u64;
        let mut todo = 0u32;
        if full != 0 {
            let pkts = batch.packets_mut();
            if !touched {
                for p in pkts.iter().take(PREFETCH_AHEAD) {
                    p.prefetch();
                }
            }
            for i in 0..n {
                if !touched {
                    if let Some(p) = pkts.get(i + PREFETCH_AHEAD) {
                        p.prefetch();
                    }
                }
                if full & (1 << i) != 0 {
                    extract(&mut pkts[i], &mut self.keys[i]);
                }
            }
            // The same loop finds each packet's EMC candidate from the
            // EMC's hash array alone and starts loading that entry, so that
            // with many flows the entries' cache misses overlap with the
            // rest of the burst instead of stalling each lookup in turn.
            let emc = &self.emc;
            let lookups = self.emc_lookups;
            // Entry prefetched for the previous packet: a train of one
            // flow's packets needs its four lines loaded once, not per
            // packet (each prefetch takes a load slot).
            let mut fetched = u32::MAX;
            for (i, pkt) in batch.packets_mut().iter_mut().enumerate() {
                if full & (1 << i) == 0 {
                    continue;
                }
                let key = &self.keys[i];
                tcp_flags[i] = key.tcp_flags;
                if key.parse_err != 0 {
                    if key.parse_err & parse_err::L2_TRUNCATED != 0 {
                        runts |= 1 << i;
                        continue;
                    }
                    malformed += 1;
                }
                // The EMC hash is not kept as the packet's flow hash (OVS
                // keeps it): tunnel encapsulation takes its UDP source port
                // from the flow hash, and packets that simple match or the
                // direct path serve have no EMC hash, so one flow's
                // packets would leave with different source ports by path
                // (its first packet, an upcall, with one port and the rest
                // with another), reordering it across an ECMP underlay.
                let h = emc_hash(key, &pkt.md);
                self.hashes[i] = h;
                match lookups.then(|| emc.probe(h)).flatten() {
                    Some(idx) => {
                        cand[i] = idx;
                        if idx != fetched {
                            emc.prefetch_entry(idx);
                            fetched = idx;
                        }
                    }
                    None => todo |= 1 << i,
                }
            }
        }
        let skipped = if self.emc_lookups {
            0
        } else {
            (todo & !runts).count_ones() as u64
        };

        // Stage 2: EMC, for the packets with a candidate entry.
        let emc = &self.emc;
        let mut emc_hits = 0u64;
        let mut probe = full & !(todo | runts);
        while probe != 0 {
            let i = probe.trailing_zeros() as usize;
            probe &= probe - 1;
            match emc.lookup_at(&self.keys[i], cand[i]) {
                Some(f) => {
                    flows[i] = Some(f);
                    emc_hits += 1;
                }
                None => todo |= 1 << i,
            }
        }

        // Stage 3: one batched classifier lookup for the EMC misses.
        let mut from_dpcls: [Option<&Arc<Megaflow>>; MAX_BURST] = [None; MAX_BURST];
        let mut missed = 0u32;
        let mut lookup = Default::default();
        if todo != 0 {
            (missed, lookup) = self
                .dpcls
                .lookup_batch(&self.keys[..n], todo, &mut from_dpcls);
            for i in 0..n {
                if from_dpcls[i].is_some() {
                    flows[i] = from_dpcls[i];
                }
            }
        }

        // Stage 4: execute in arrival order, a run of consecutive packets
        // of one flow at a time (OVS's per-flow batches): the flow's stats
        // are updated once per run, and a run whose actions are a lone
        // `output` goes to the sink in one call, so the port is looked up
        // once per run rather than once per packet.
        // Frame lengths first, for the runs' byte counts: summing them
        // while the packets stream into the sink kept the running total
        // in memory (a store-forwarding chain through every packet).
        let mut lens = [0u32; MAX_BURST];
        for (l, p) in lens.iter_mut().zip(batch.packets()) {
            *l = p.len() as u32;
        }
        let mut pkts = batch.drain();
        let mut i = 0;
        while i < n {
            let Some(flow) = flows[i] else {
                // Runts and misses have no flow.
                if let Some(pkt) = pkts.next() {
                    if runts & (1 << i) != 0 {
                        sink.dropped(pkt, DropReason::RuntFrame);
                    } else {
                        miss(pkt, &self.keys[i]);
                    }
                }
                i += 1;
                continue;
            };
            let j = run_end(&flows[..n], i);
            let run = pkts.by_ref().take(j - i);
            execute_batch(&flow.actions, run, sink);
            flow.stats.add_run(&lens[i..j], &tcp_flags[i..j], now);
            i = j;
        }
        drop(pkts);

        // Stage 5: EMC insertion (after the EMC's references above are
        // dead): classifier hits go into the full-key lane, or into the
        // plain lane when they have a plain key; so do plain frames that
        // the full-key lane answered (found again there: the first
        // lookup's reference could not live across the insertion).
        let mut hits = todo & !missed;
        while hits != 0 {
            let i = hits.trailing_zeros() as usize;
            hits &= hits - 1;
            if let Some(f) = from_dpcls[i] {
                if plain & (1 << i) == 0 {
                    self.emc.maybe_insert(&self.keys[i], self.hashes[i], f);
                } else if self.emc.draw_insert() {
                    self.emc
                        .insert_plain(&self.plain_keys[i], self.plain_hashes[i], f);
                }
            }
        }
        let mut moved = plain & !plain_hits & full & !todo;
        while moved != 0 {
            let i = moved.trailing_zeros() as usize;
            moved &= moved - 1;
            if !self.emc.draw_insert() {
                continue;
            }
            if let Some(f) = self.emc.lookup_at(&self.keys[i], cand[i]).cloned() {
                self.emc
                    .insert_plain(&self.plain_keys[i], self.plain_hashes[i], &f);
            }
        }

        let s = &mut self.stats;
        s.packets += n as u64;
        s.emc_hits += emc_hits + u64::from(plain_hits.count_ones());
        s.emc_plain_hits += u64::from(plain_hits.count_ones());
        s.simple_hits += simple.count_ones() as u64;
        s.megaflow_hits += lookup.hits as u64;
        s.subtable_probes += lookup.probes as u64;
        s.misses += missed.count_ones() as u64;
        s.runts += runts.count_ones() as u64;
        s.malformed += malformed;
        s.emc_skipped += skipped;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::{DpAction, Masked, SetAction};
    use crate::execute::execute;
    use crate::key::FlowMask;
    use crate::wire::build;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    #[derive(Default)]
    struct Collect {
        out: Vec<(u32, Vec<u8>)>,
        dropped: Vec<DropReason>,
    }

    impl ActionSink for Collect {
        fn output(&mut self, port: u32, pkt: Packet) {
            self.out.push((port, pkt.data().to_vec()));
        }
        fn recirculate(&mut self, _pkt: Packet) {}
        fn userspace(&mut self, _pkt: Packet, _cookie: u64) {}
        fn dropped(&mut self, _pkt: Packet, reason: DropReason) {
            self.dropped.push(reason);
        }
    }

    fn udp(dst: [u8; 4], sport: u16) -> Vec<u8> {
        build::udp4(
            [2, 0, 0, 0, 0, 1],
            [2, 0, 0, 0, 0, 2],
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::from(dst),
            sport,
            80,
            18,
        )
    }

    fn batch_of(frames: &[Vec<u8>]) -> PacketBatch {
        let mut b = PacketBatch::new();
        for f in frames {
            let mut p = Packet::from_bytes(f);
            p.md.in_port = 1;
            b.push(p).unwrap();
        }
        b
    }

    /// A megaflow on the source (10.0.0.1, every test frame's) and
    /// destination addresses: not simple, so its packets take keys, the
    /// EMC and the subtables.
    fn dst_flow(dst: u32, out: u32) -> Arc<Megaflow> {
        let mut k = FlowKey::ZERO;
        k.in_port = 1;
        k.eth_type = 0x0800;
        k.nw_src = 0x0a00_0001;
        k.nw_dst = dst;
        let mut m = FlowMask::default();
        m.0.in_port = u32::MAX;
        m.0.recirc_id = u32::MAX;
        m.0.eth_type = 0xffff;
        m.0.nw_src = u32::MAX;
        m.0.nw_dst = u32::MAX;
        Arc::new(Megaflow::new(
            &k,
            m,
            vec![DpAction::Output(out)],
            out as u128,
        ))
    }

    /// A port-to-port megaflow (in_port, recirc_id, eth_type, nw_frag),
    /// plus the outer VLAN tag's VID and CFI when `tci` is given.
    fn simple_flow(
        in_port: u32,
        eth_type: u16,
        frag: u8,
        tci: Option<u16>,
        out: u32,
    ) -> Arc<Megaflow> {
        crate::simple_match::test_megaflow(in_port, eth_type, frag, out, |k, m| {
            if let Some(t) = tci {
                k.vlan_tci[0] = t;
                m.0.vlan_tci[0] = 0x1fff;
            }
        })
    }

    #[test]
    fn a_flows_tunnel_source_port_does_not_depend_on_the_path() {
        // The same encapsulation through simple match (port-to-port
        // megaflow) and through keys and the EMC (a megaflow on nw_dst)
        // must pick the same UDP source port for each inner flow: the
        // executor's answer for a packet that took neither.
        let mut h = build::udp4(
            [2, 0, 0, 0, 0, 0xfe],
            [2, 0, 0, 0, 0, 0x99],
            Ipv4Addr::new(198, 18, 0, 1),
            Ipv4Addr::new(198, 18, 0, 2),
            0,
            4789,
            8,
        );
        let vx = h.len() - 8;
        h[vx..].copy_from_slice(&[0x08, 0, 0, 0, 0, 0, 1, 0]);
        let push = vec![DpAction::TnlPush(Arc::new(crate::actions::TnlPush {
            tnl_port: 9,
            out_port: 2,
            tnl_type: crate::actions::TunnelType::Vxlan,
            header: h.into_boxed_slice(),
            ipv6: false,
            udp_csum: false,
        }))];
        let frames: Vec<Vec<u8>> = (0..8).map(|i| udp([10, 0, 0, 5], 100 + i)).collect();
        let want: Vec<_> = frames
            .iter()
            .map(|f| {
                let mut sink = Collect::default();
                let mut p = Packet::from_bytes(f);
                crate::extract::extract(&mut p, &mut FlowKey::ZERO.clone());
                execute(&push, p, &mut sink);
                (2, sink.out.remove(0).1)
            })
            .collect();
        let simple = crate::simple_match::test_megaflow(1, 0x0800, 0, 2, |_, _| {});
        let keyed = dst_flow(u32::from(Ipv4Addr::new(10, 0, 0, 5)), 2);
        for flow in [simple, keyed] {
            let flow = Arc::new(Megaflow::new(&flow.key, flow.mask, push.clone(), 1));
            let mut fp = FastPath::new(1024, 1, 1);
            fp.dpcls.insert(flow).unwrap();
            // Twice: the second burst hits the EMC on the keyed path.
            for _ in 0..2 {
                let mut sink = Collect::default();
                fp.process(&mut batch_of(&frames), 5, &mut sink, |_, _| {});
                assert_eq!(sink.out, want);
            }
        }
        assert!(
            want.iter()
                .map(|(_, f)| &f[34..36])
                .collect::<std::collections::HashSet<_>>()
                .len()
                > 1,
            "source ports differ between inner flows"
        );
    }

    #[test]
    fn simple_match_answers_port_to_port_flows_without_keys() {
        let mut fp = FastPath::new(1024, 1, 1);
        let f = simple_flow(1, 0x0800, 0, None, 2);
        fp.dpcls.insert(f.clone()).unwrap();
        let mut frames: Vec<Vec<u8>> = (0..6).map(|i| udp([10, 0, 0, i], i.into())).collect();
        let syn = build::tcp4(
            [2, 0, 0, 0, 0, 1],
            [2, 0, 0, 0, 0, 2],
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 9),
            1,
            2,
            0x002,
            0,
        );
        frames.push(syn);
        frames.push(vec![0xff; 10]); // runt: full path, dropped
        let mut bad = udp([10, 0, 0, 7], 7);
        bad[14] = 0x44; // IHL 4: malformed, full path, still matches
        frames.push(bad);
        let mut sink = Collect::default();
        let mut misses = 0;
        fp.process(&mut batch_of(&frames), 5, &mut sink, |_, _| misses += 1);
        let s = fp.stats;
        assert_eq!(misses, 0);
        assert_eq!((s.simple_hits, s.runts, s.malformed), (7, 1, 1));
        assert_eq!(
            s.simple_hits + s.emc_hits + s.megaflow_hits + s.misses + s.runts,
            s.packets
        );
        // Every packet but the runt forwarded, in order, unchanged.
        let want: Vec<(u32, Vec<u8>)> = frames
            .iter()
            .filter(|f| f.len() > 14)
            .map(|f| (2, f.clone()))
            .collect();
        assert_eq!(sink.out, want);
        let st = f.stats.snapshot();
        assert_eq!((st.packets, st.used, st.tcp_flags), (8, 5, 0x002));

        // An IPv6 packet has no simple megaflow: it misses (full path).
        let v6 = build::udp6(
            [2, 0, 0, 0, 0, 1],
            [2, 0, 0, 0, 0, 2],
            "fe80::1".parse().unwrap(),
            "fe80::2".parse().unwrap(),
            1,
            2,
            8,
        );
        let mut missed = Vec::new();
        fp.process(
            &mut batch_of(std::slice::from_ref(&v6)),
            6,
            &mut sink,
            |p, k| missed.push((p.data().to_vec(), k.eth_type)),
        );
        assert_eq!(missed, vec![(v6, 0x86dd)]);

        // Removed: no longer answered.
        assert!(fp.dpcls.remove_flow(&f));
        let mut misses = 0;
        fp.process(&mut batch_of(&frames[..2]), 7, &mut sink, |_, _| {
            misses += 1
        });
        assert_eq!((misses, fp.stats.simple_hits), (2, 7));
    }

    #[test]
    fn simple_match_leaves_ports_with_other_megaflows_to_the_classifier() {
        let mut fp = FastPath::new(1024, 1, 1);
        fp.dpcls.insert(simple_flow(1, 0x0800, 0, None, 2)).unwrap();
        let mut frames: Vec<Vec<u8>> = (0..4).map(|i| udp([10, 0, 0, 2], i)).collect();
        let mut sink = Collect::default();
        fp.process(&mut batch_of(&frames), 1, &mut sink, |_, _| {});
        assert_eq!(fp.stats.simple_hits, 4);
        // A megaflow on port 1 matching a source address (of ARP packets,
        // so it does not overlap the IPv4 one): port 1's packets now go
        // through keys, EMC and subtables.
        let l3 = dst_flow(0x0a00_0003, 3);
        let mut arp = l3.key;
        arp.eth_type = 0x0806;
        arp.nw_src = 0x0a00_0001;
        let mut mask = l3.mask;
        mask.0.nw_src = u32::MAX;
        let arp = Megaflow::new(&arp, mask, l3.actions.clone(), 3);
        fp.dpcls.insert(Arc::new(arp)).unwrap();
        frames.push(build::arp(
            [2, 0, 0, 0, 0, 1],
            [0xff; 6],
            1,
            [2, 0, 0, 0, 0, 1],
            Ipv4Addr::new(10, 0, 0, 1),
            [0; 6],
            Ipv4Addr::new(10, 0, 0, 3),
        ));
        fp.process(&mut batch_of(&frames), 2, &mut sink, |_, _| {
            panic!("no miss")
        });
        assert_eq!(fp.stats.simple_hits, 4);
        assert_eq!(fp.stats.megaflow_hits, 5);
        let ports: Vec<u32> = sink.out.iter().map(|(p, _)| *p).collect();
        assert_eq!(ports, [2, 2, 2, 2, 2, 2, 2, 2, 3]);
        // Recirculated packets never take the shortcut.
        let mut fp = FastPath::new(1024, 1, 1);
        fp.dpcls.insert(simple_flow(1, 0x0800, 0, None, 2)).unwrap();
        let mut b = batch_of(&frames[..1]);
        b.packets_mut()[0].md.recirc_id = 1;
        let mut misses = 0;
        fp.process(&mut b, 1, &mut sink, |_, _| misses += 1);
        assert_eq!((misses, fp.stats.simple_hits), (1, 0));
    }

    fn arb_frame() -> impl Strategy<Value = Vec<u8>> {
        (
            0usize..7,
            any::<u16>(),
            any::<bool>(),
            0usize..4,
            any::<(usize, u8)>(),
        )
            .prop_map(|(kind, vid, tag, frag, (at, val))| {
                let a = [2, 0, 0, 0, 0, 1];
                let b = [2, 0, 0, 0, 0, 2];
                let (s4, d4) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
                let mut f = match kind {
                    0 | 1 => build::udp4(a, b, s4, d4, 1, 2, 18),
                    2 => build::tcp4(a, b, s4, d4, 1, 2, 0x18, 0),
                    3 => build::udp6(
                        a,
                        b,
                        "fe80::1".parse().unwrap(),
                        "fe80::2".parse().unwrap(),
                        1,
                        2,
                        8,
                    ),
                    4 => build::arp(a, b, 1, a, s4, [0; 6], d4),
                    5 => build::ethernet(a, b, 0x88cc, &[0; 46]),
                    _ => vec![0xff; 12],
                };
                if (kind == 0 || kind == 2) && frag > 0 {
                    // First or later fragment.
                    let fo: u16 = if frag == 1 { 0x2000 } else { 0x00b9 };
                    f[20..22].copy_from_slice(&fo.to_be_bytes());
                }
                if tag {
                    f = build::push_vlan(&f, 0x8100, vid & 0xefff);
                }
                if frag == 3 && at % 64 < f.len() {
                    f[at % 64] = val;
                }
                f
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Simple match gives every packet the megaflow the classifier
        /// gives its extracted key, whatever the burst holds.
        #[test]
        fn simple_match_agrees_with_the_classifier(
            frames in proptest::collection::vec(arb_frame(), 1..=32),
            tunnels in proptest::collection::vec(0u8..4, 32),
            installed in proptest::collection::vec(any::<bool>(), 12),
            vlan_port in any::<bool>(),
            variant in 0u8..4,
        ) {
            let mut fp = FastPath::new(1024, 1, 1);
            let mut out = 10;
            let mut k = 0;
            for et in [0x0800u16, 0x86dd, 0x0806, 0x88cc] {
                for frag in [0u8, 1, 3] {
                    if installed[k] && (frag == 0 || et == 0x0800) {
                        let tci = vlan_port.then_some(crate::key::VLAN_CFI);
                        // Variants replace a flow by disjoint ones on the
                        // destination word, on tunnel metadata or on the
                        // Ethernet addresses (NORMAL's megaflows; frames
                        // mutated there match neither).
                        let tweaks: Vec<fn(&mut FlowKey, &mut FlowMask)> = match (variant, et, frag) {
                            (1, 0x0800, 0) => vec![
                                |k, m| {
                                    (k.nw_proto, k.tp_dst, k.nw_dst) = (17, 2, 0x0a00_0002);
                                    (m.0.nw_proto, m.0.tp_dst, m.0.nw_dst) = (0xff, 0xffff, u32::MAX);
                                },
                                |k, m| {
                                    k.nw_proto = 6;
                                    m.0.nw_proto = 0xff;
                                },
                            ],
                            (1, 0x0806, 0) => vec![|k, m| {
                                (k.nw_proto, k.nw_dst) = (1, 0x0a00_0002);
                                (m.0.nw_proto, m.0.nw_dst) = (0xff, 0xffff_ff00);
                            }],
                            (2, 0x0800 | 0x86dd, 0) => vec![
                                |k, m| {
                                    (k.tun_id, k.tun_ipv4_src, k.tun_ipv4_dst) = (5, 1, 2);
                                    (m.0.tun_id, m.0.tun_ipv4_src, m.0.tun_ipv4_dst) = (u64::MAX, u32::MAX, u32::MAX);
                                },
                                |_, m| {
                                    (m.0.tun_id, m.0.tun_ipv4_src, m.0.tun_ipv4_dst) = (u64::MAX, u32::MAX, u32::MAX);
                                },
                            ],
                            (3, _, 0) => vec![
                                |k, m| {
                                    (k.eth_src, k.eth_dst) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
                                    (m.0.eth_src, m.0.eth_dst) = ([0xff; 6], [0xff; 6]);
                                },
                                |k, m| {
                                    (k.eth_src, k.eth_dst) = ([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1]);
                                    (m.0.eth_src, m.0.eth_dst) = ([0xff; 6], [0xff; 6]);
                                },
                            ],
                            _ => vec![|_, _| {}],
                        };
                        for (i, tweak) in tweaks.into_iter().enumerate() {
                            let base = simple_flow(1, et, frag, tci, out + 100 * i as u32);
                            let (mut key, mut mask) = (base.key, base.mask);
                            tweak(&mut key, &mut mask);
                            let flow = Megaflow::new(&key, mask, base.actions.clone(), base.ufid);
                            fp.dpcls.insert(Arc::new(flow)).unwrap();
                        }
                    }
                    k += 1;
                    out += 1;
                }
            }
            // Some packets come decapsulated (tunnel 5 from 1 to 2, or
            // from 9 to 2).
            let tunnel = |i: usize| match tunnels[i] {
                1 => Some((5u64, 1u32, 2u32)),
                2 => Some((5, 9, 2)),
                _ => None,
            };
            let with_tunnel = |p: &mut Packet, i: usize| {
                if let Some((id, src, dst)) = tunnel(i) {
                    let t = p.md.tunnel_mut();
                    (t.tun_id, t.ipv4_src, t.ipv4_dst) = (id, src, dst);
                }
            };
            // The reference: extract, classify, per packet.
            let mut want = Vec::new();
            let mut want_miss = 0;
            for (i, f) in frames.iter().enumerate() {
                let mut p = Packet::from_bytes(f);
                p.md.in_port = 1;
                with_tunnel(&mut p, i);
                let mut key = FlowKey::ZERO;
                crate::extract::extract(&mut p, &mut key);
                if key.parse_err & parse_err::L2_TRUNCATED != 0 {
                    continue;
                }
                match fp.dpcls.lookup(&key).0 {
                    Some(flow) => want.push((flow.actions.clone(), f.clone())),
                    None => want_miss += 1,
                }
            }
            let want: Vec<(u32, Vec<u8>)> = want
                .into_iter()
                .map(|(a, f)| match a[..] {
                    [DpAction::Output(o)] => (o, f),
                    _ => unreachable!(),
                })
                .collect();
            let mut sink = Collect::default();
            let mut misses = 0;
            let mut batch = batch_of(&frames);
            for (i, p) in batch.packets_mut().iter_mut().enumerate() {
                with_tunnel(p, i);
            }
            fp.process(&mut batch, 1, &mut sink, |_, _| misses += 1);
            prop_assert_eq!(&sink.out, &want);
            prop_assert_eq!(misses, want_miss);
            let s = fp.stats;
            prop_assert_eq!(s.simple_hits + s.emc_hits + s.megaflow_hits + s.misses + s.runts, s.packets);
        }
    }

    #[test]
    fn emc_lookups_off_sends_every_packet_to_the_classifier_and_still_inserts() {
        let mut fp = FastPath::new(1024, 1, 1);
        fp.dpcls.insert(dst_flow(0x0a00_0002, 2)).unwrap();
        let frames: Vec<Vec<u8>> = (0..4).map(|i| udp([10, 0, 0, 2], i)).collect();
        let mut sink = Collect::default();
        // Warm: the EMC learns the four flows (insertion always).
        fp.process(&mut batch_of(&frames), 1, &mut sink, |_, _| {});
        fp.process(&mut batch_of(&frames), 2, &mut sink, |_, _| {});
        assert_eq!(fp.stats.emc_hits, 4);
        fp.set_emc_lookups(false);
        assert!(!fp.emc_lookups());
        let mut runt = frames.clone();
        runt.push(vec![0xff; 10]);
        fp.process(&mut batch_of(&runt), 3, &mut sink, |_, _| panic!("no miss"));
        let s = fp.stats;
        assert_eq!(
            (s.emc_hits, s.megaflow_hits, s.emc_skipped, s.runts),
            (4, 8, 4, 1)
        );
        assert_eq!(s.emc_hits + s.megaflow_hits + s.misses + s.runts, s.packets);
        fp.set_emc_lookups(true);
        fp.process(&mut batch_of(&frames), 4, &mut sink, |_, _| {});
        assert_eq!((fp.stats.emc_hits, fp.stats.emc_skipped), (8, 4));
        assert_eq!(sink.out.len(), 16);
        assert!(sink.out.iter().all(|(port, _)| *port == 2));
    }

    #[test]
    fn hits_misses_and_runts_add_up_and_stats_count() {
        let mut fp = FastPath::new(1024, 1, 1);
        let f = dst_flow(0x0a00_0002, 2);
        fp.dpcls.insert(f.clone()).unwrap();
        let mut frames: Vec<Vec<u8>> = (0..20).map(|i| udp([10, 0, 0, 2], i)).collect();
        frames.push(udp([10, 0, 0, 3], 1)); // miss
        frames.push(vec![0xff; 10]); // runt
        let mut sink = Collect::default();
        let mut missed = Vec::new();
        fp.process(&mut batch_of(&frames), 5, &mut sink, |p, k| {
            missed.push((p.len(), k.nw_dst))
        });
        assert_eq!(sink.out.len(), 20);
        assert!(sink.out.iter().all(|(port, _)| *port == 2));
        assert_eq!(missed, vec![(frames[20].len(), 0x0a00_0003)]);
        assert_eq!(sink.dropped, vec![DropReason::RuntFrame]);
        let s = fp.stats;
        assert_eq!(s.packets, 22);
        assert_eq!(s.emc_hits + s.megaflow_hits + s.misses + s.runts, s.packets);
        // 20 distinct 5-tuples, EMC empty at first: all hit dpcls.
        assert_eq!((s.emc_hits, s.megaflow_hits), (0, 20));
        let st = f.stats.snapshot();
        assert_eq!(st.packets, 20);
        assert_eq!(st.bytes, 20 * frames[0].len() as u64);
        assert_eq!(st.used, 5);

        // Second pass: the EMC (insert always) now has every flow.
        fp.process(&mut batch_of(&frames[..20]), 6, &mut sink, |_, _| {
            panic!("unexpected miss")
        });
        assert_eq!(fp.stats.emc_hits, 20);
        assert_eq!(f.stats.snapshot().packets, 40);
    }

    #[test]
    fn removed_megaflow_is_not_used_from_the_emc() {
        let mut fp = FastPath::new(1024, 1, 1);
        let f = dst_flow(0x0a00_0002, 2);
        fp.dpcls.insert(f.clone()).unwrap();
        let frames = vec![udp([10, 0, 0, 2], 1)];
        let mut sink = Collect::default();
        fp.process(&mut batch_of(&frames), 1, &mut sink, |_, _| {});
        fp.process(&mut batch_of(&frames), 1, &mut sink, |_, _| {});
        assert_eq!(fp.stats.emc_hits, 1);
        fp.dpcls.remove(&f.key, &f.mask).unwrap();
        let mut misses = 0;
        fp.process(&mut batch_of(&frames), 1, &mut sink, |_, _| misses += 1);
        assert_eq!(misses, 1);
        assert_eq!(sink.out.len(), 2);
        // A replacement with other actions is used at once.
        fp.dpcls.insert(dst_flow(0x0a00_0002, 7)).unwrap();
        fp.process(&mut batch_of(&frames), 1, &mut sink, |_, _| {});
        assert_eq!(sink.out.last().unwrap().0, 7);
    }

    #[test]
    fn plain_frames_are_served_by_the_plain_lane_and_others_by_the_full_key() {
        let mut fp = FastPath::new(1024, 1, 1);
        let f = dst_flow(0x0a00_0002, 2);
        fp.dpcls.insert(f.clone()).unwrap();
        let mut frames: Vec<Vec<u8>> = (0..4).map(|i| udp([10, 0, 0, 2], i)).collect();
        // Tagged: the same megaflow (it does not match the tag), but no
        // plain key.
        frames.push(build::push_vlan(&frames[0], 0x8100, 5));
        let mut sink = Collect::default();
        // First burst: classifier hits, inserted into the lanes.
        fp.process(&mut batch_of(&frames), 1, &mut sink, |_, _| panic!("miss"));
        assert_eq!((fp.stats.megaflow_hits, fp.stats.emc_hits), (5, 0));
        assert_eq!(fp.emc.len(), 5);
        fp.process(&mut batch_of(&frames), 2, &mut sink, |_, _| panic!("miss"));
        let s = fp.stats;
        assert_eq!((s.emc_hits, s.emc_plain_hits), (5, 4));
        assert_eq!(s.emc_hits + s.megaflow_hits + s.misses + s.runts, s.packets);
        assert_eq!(f.stats.snapshot().packets, 10);
        // Plain hits set the header offsets the actions use.
        let mut b = batch_of(&frames[..1]);
        let mut offsets = Vec::new();
        struct Offsets<'a>(&'a mut Vec<(u16, u16)>);
        impl ActionSink for Offsets<'_> {
            fn output(&mut self, _port: u32, pkt: Packet) {
                self.0.push((pkt.md.l3_ofs, pkt.md.l4_ofs));
            }
            fn recirculate(&mut self, _pkt: Packet) {}
            fn userspace(&mut self, _pkt: Packet, _cookie: u64) {}
            fn dropped(&mut self, _pkt: Packet, _reason: DropReason) {}
        }
        fp.process(&mut b, 3, &mut Offsets(&mut offsets), |_, _| panic!());
        assert_eq!(fp.stats.emc_plain_hits, 5);
        assert_eq!(offsets, [(14, 34)]);
        assert_eq!(sink.out.len(), 10);
        assert!(sink.out.iter().all(|(port, _)| *port == 2));
        // A removed megaflow is not used from the plain lane.
        fp.dpcls.remove(&f.key, &f.mask).unwrap();
        let mut misses = 0;
        fp.process(&mut batch_of(&frames), 4, &mut sink, |_, _| misses += 1);
        assert_eq!((misses, fp.stats.emc_plain_hits), (5, 5));
    }

    #[test]
    fn a_plain_flow_the_full_key_lane_answers_moves_to_the_plain_lane() {
        let mut fp = FastPath::new(1024, 1, 1);
        let f = dst_flow(0x0a00_0002, 2);
        fp.dpcls.insert(f.clone()).unwrap();
        let frames: Vec<Vec<u8>> = (0..3)
            .map(|i| {
                build::tcp4(
                    [2, 0, 0, 0, 0, 1],
                    [2, 0, 0, 0, 0, 2],
                    Ipv4Addr::new(10, 0, 0, 1),
                    Ipv4Addr::new(10, 0, 0, 2),
                    1000 + i as u16,
                    80,
                    [0x002, 0x010, 0x011][i],
                    4,
                )
            })
            .collect();
        let mut sink = Collect::default();
        // With lookups off there is no plain key: the classifier's hits go
        // into the full-key lane.
        fp.set_emc_lookups(false);
        fp.process(&mut batch_of(&frames), 1, &mut sink, |_, _| panic!("miss"));
        fp.set_emc_lookups(true);
        fp.process(&mut batch_of(&frames), 2, &mut sink, |_, _| panic!("miss"));
        assert_eq!((fp.stats.emc_hits, fp.stats.emc_plain_hits), (3, 0));
        fp.process(&mut batch_of(&frames), 3, &mut sink, |_, _| panic!("miss"));
        assert_eq!((fp.stats.emc_hits, fp.stats.emc_plain_hits), (6, 3));
        // Each TCP flags value is its own exact-match entry, and the flags
        // reach the megaflow's stats on every path.
        let st = f.stats.snapshot();
        assert_eq!((st.packets, st.tcp_flags), (9, 0x013));
        assert_eq!(sink.out.len(), 9);
    }

    fn arb_lane_frame() -> impl Strategy<Value = (Vec<u8>, u32, bool)> {
        (
            (0u8..2, 0u8..2, 0u16..2, 0u8..2, 0u8..2, 0usize..3),
            0u8..6,
            (1u32..3, any::<bool>()),
            any::<(u8, u8)>(),
        )
            .prop_map(
                |((src, dst, sport, ttl, tos, flags), kind, (port, tunnel), (at, val))| {
                    let (a, b) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2 + src]);
                    let (s4, d4) = (
                        Ipv4Addr::new(10, 0, 0, 1 + src),
                        Ipv4Addr::new(10, 0, 0, 5 + dst),
                    );
                    let mut f = match kind {
                        0 | 1 => build::udp4(a, b, s4, d4, 100 + sport, 53, 18),
                        2 | 3 => build::tcp4(
                            a,
                            b,
                            s4,
                            d4,
                            100 + sport,
                            80,
                            [0x002, 0x010, 0x018][flags],
                            2,
                        ),
                        4 => build::push_vlan(
                            &build::udp4(a, b, s4, d4, 100 + sport, 53, 18),
                            0x8100,
                            7,
                        ),
                        _ => build::udp6(
                            a,
                            b,
                            "fe80::1".parse().unwrap(),
                            "fe80::2".parse().unwrap(),
                            sport,
                            53,
                            8,
                        ),
                    };
                    if kind < 4 {
                        f[22] = 63 + ttl;
                        f[15] = tos << 2;
                    }
                    if kind == 1 || kind == 3 {
                        // A mutated header byte: fragments, options, lengths.
                        let at = 12 + usize::from(at) % 40;
                        f[at] = val;
                    }
                    (f, port, tunnel && kind % 2 == 0)
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Property (a) through both EMC lanes: over bursts that fill the
        /// lanes, with megaflows removed between bursts, every packet is
        /// executed by a live megaflow that matches its extracted key, and
        /// misses are exactly the packets no installed megaflow matches.
        #[test]
        fn emc_lanes_only_answer_with_matching_live_megaflows(
            frames in proptest::collection::vec(arb_lane_frame(), 1..=32),
            masks in proptest::collection::vec((0usize..4, 0usize..32), 1..8),
            removals in proptest::collection::vec(0usize..8, 3),
        ) {
            let mut fp = FastPath::new(64, 1, 1);
            // Megaflows cut from the burst's own keys with a few masks:
            // plain fields, Ethernet and TCP flags, tunnel id, everything.
            let keyed: Vec<(Packet, FlowKey)> = frames
                .iter()
                .map(|(f, port, tunnel)| {
                    let mut p = Packet::from_bytes(f);
                    p.md.in_port = *port;
                    if *tunnel {
                        p.md.tunnel_mut().tun_id = 9;
                    }
                    let mut key = FlowKey::ZERO;
                    crate::extract::extract(&mut p, &mut key);
                    (p, key)
                })
                .collect();
            let mut flows = Vec::new();
            for &(m, at) in &masks {
                let key = keyed[at % keyed.len()].1;
                let mut mask = FlowMask::default();
                (mask.0.in_port, mask.0.recirc_id, mask.0.eth_type) = (u32::MAX, u32::MAX, 0xffff);
                match m {
                    0 => (mask.0.nw_src, mask.0.nw_ttl, mask.0.tp_src) = (u32::MAX, 0xff, 0xffff),
                    1 => (mask.0.eth_src, mask.0.tcp_flags, mask.0.nw_tos) = ([0xff; 6], 0x0fff, 0xfc),
                    2 => (mask.0.tun_id, mask.0.nw_dst, mask.0.nw_frag) = (u64::MAX, u32::MAX, 0xff),
                    _ => mask = FlowMask::exact(),
                }
                // Output port 100 + its index in `flows`.
                let n = flows.len() as u32;
                let flow = Arc::new(Megaflow::new(&key, mask, vec![DpAction::Output(100 + n)], n.into()));
                if fp.dpcls.insert(flow.clone()).is_ok() {
                    flows.push(flow);
                }
            }
            for pass in 0..3 {
                let mut batch = PacketBatch::new();
                for (p, _) in &keyed {
                    let mut q = Packet::from_bytes(p.data());
                    q.md = p.md;
                    (q.md.l3_ofs, q.md.l4_ofs) = (crate::packet::NO_OFS, crate::packet::NO_OFS);
                    batch.push(q).unwrap();
                }
                let mut sink = Collect::default();
                let mut missed = Vec::new();
                fp.process(&mut batch, pass + 1, &mut sink, |p, _| missed.push(p.data().to_vec()));
                let mut out = sink.out.iter();
                let mut misses = missed.iter();
                for (p, key) in &keyed {
                    if key.parse_err & parse_err::L2_TRUNCATED != 0 {
                        continue;
                    }
                    let live = flows.iter().any(|f| f.is_alive() && f.matches(key));
                    if live {
                        let (port, data) = out.next().expect("an output per matched packet");
                        prop_assert_eq!(data.as_slice(), p.data());
                        let f = &flows[(*port - 100) as usize];
                        prop_assert!(f.is_alive() && f.matches(key), "pass {} port {}", pass, port);
                    } else {
                        prop_assert_eq!(misses.next().map(|m| m.as_slice()), Some(p.data()));
                    }
                }
                prop_assert!(out.next().is_none() && misses.next().is_none());
                let f = &flows[removals[pass as usize] % flows.len()];
                fp.dpcls.remove(&f.key, &f.mask);
                f.kill();
            }
            let s = fp.stats;
            prop_assert_eq!(s.simple_hits + s.emc_hits + s.megaflow_hits + s.misses + s.runts, s.packets);
        }
    }

    /// Verifies every checksum of an IPv4/IPv6 TCP/UDP frame (with
    /// optional VLAN tags) with the independent reference implementation.
    fn checksums_ok(frame: &[u8], key: &FlowKey, l3: usize, l4: usize) -> bool {
        let ck = |c: &[&[u8]]| build::reference_checksum(c) == 0;
        let l4b = &frame[l4..];
        if key.eth_type == 0x0800 {
            let ihl = (frame[l3] & 0x0f) as usize * 4;
            let tot = u16::from_be_bytes([frame[l3 + 2], frame[l3 + 3]]) as usize;
            if !ck(&[&frame[l3..l3 + ihl]]) {
                return false;
            }
            let seg = &frame[l4..l3 + tot];
            if key.nw_proto == 17 && seg[6..8] == [0, 0] {
                return true;
            }
            let pseudo = [
                &frame[l3 + 12..l3 + 20],
                &[0, key.nw_proto],
                &(seg.len() as u16).to_be_bytes()[..],
            ]
            .concat();
            ck(&[&pseudo, seg])
        } else {
            let plen = u16::from_be_bytes([frame[l3 + 4], frame[l3 + 5]]) as usize;
            let seg = &frame[l4..l3 + 40 + plen];
            let _ = l4b;
            let pseudo = [
                &frame[l3 + 8..l3 + 40],
                &(seg.len() as u32).to_be_bytes()[..],
                &[0, 0, 0, key.nw_proto],
            ]
            .concat();
            ck(&[&pseudo, seg])
        }
    }

    fn masked<
        T: Copy
            + std::ops::BitAnd<Output = T>
            + std::ops::BitOr<Output = T>
            + std::ops::Not<Output = T>,
    >(
        old: T,
        m: &Masked<T>,
    ) -> T {
        (old & !m.mask) | (m.value & m.mask)
    }

    proptest! {
        // Property (b): a set action followed by re-extraction yields the
        // set values, and every checksum is valid.
        #[test]
        fn set_then_reextract_gives_set_values(
            v6 in any::<bool>(),
            tcp in any::<bool>(),
            vlans in 0usize..3,
            ports in (any::<u16>(), any::<u16>()),
            l3 in (any::<u32>(), any::<u32>(), any::<u8>(), 1u8..=255),
            l3m in (any::<u32>(), any::<u32>(), any::<u8>(), any::<u8>()),
            a6 in (any::<u128>(), any::<u128>(), any::<u128>(), any::<u128>()),
            l4 in (any::<u16>(), any::<u16>(), any::<u16>(), any::<u16>()),
            mac in (any::<[u8; 6]>(), any::<[u8; 6]>()),
            payload in 0usize..40,
        ) {
            let (sm, dm) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
            let mut frame = match (v6, tcp) {
                (false, false) => build::udp4(sm, dm, Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2), ports.0, ports.1, payload),
                (false, true) => build::tcp4(sm, dm, Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2), ports.0, ports.1, 0x18, payload),
                (true, false) => build::udp6(sm, dm, "fd00::1".parse().unwrap(), "fd00::2".parse().unwrap(), ports.0, ports.1, payload),
                (true, true) => build::tcp6(sm, dm, "fd00::1".parse().unwrap(), "fd00::2".parse().unwrap(), ports.0, ports.1, 0x18, payload),
            };
            for i in 0..vlans {
                frame = build::push_vlan(&frame, 0x8100, 10 + i as u16);
            }
            let mut pkt = Packet::from_bytes(&frame);
            let mut before = FlowKey::ZERO;
            extract(&mut pkt, &mut before);
            prop_assert_eq!(before.parse_err, 0);
            let eth = SetAction::Eth { src: Masked { value: mac.0, mask: [0xff, 0, 0xff, 0, 0xf0, 0x0f] }, dst: Masked::<[u8; 6]>::exact(mac.1) };
            let l3set = if v6 {
                SetAction::Ipv6 {
                    src: Masked { value: a6.0.to_be_bytes(), mask: a6.1.to_be_bytes() },
                    dst: Masked { value: a6.2.to_be_bytes(), mask: a6.3.to_be_bytes() },
                    label: Masked { value: l3.0 & 0xfffff, mask: l3m.0 & 0xfffff },
                    tclass: Masked { value: l3.2, mask: l3m.2 },
                    hlimit: Masked { value: l3.3, mask: l3m.3 },
                }
            } else {
                SetAction::Ipv4 {
                    src: Masked { value: l3.0, mask: l3m.0 },
                    dst: Masked { value: l3.1, mask: l3m.1 },
                    tos: Masked { value: l3.2, mask: l3m.2 },
                    ttl: Masked { value: l3.3, mask: l3m.3 },
                }
            };
            let src = Masked { value: l4.0, mask: l4.1 };
            let dst = Masked { value: l4.2, mask: l4.3 };
            let l4set = if tcp { SetAction::Tcp { src, dst } } else { SetAction::Udp { src, dst } };
            let actions = vec![
                DpAction::Set(eth.clone()),
                DpAction::Set(l3set.clone()),
                DpAction::Set(l4set),
                DpAction::Output(1),
            ];
            let mut sink = Collect::default();
            execute(&actions, pkt, &mut sink);
            prop_assert_eq!(sink.out.len(), 1);
            let out = sink.out.pop().unwrap().1;
            let mut p2 = Packet::from_bytes(&out);
            let mut after = FlowKey::ZERO;
            extract(&mut p2, &mut after);
            prop_assert_eq!(after.parse_err, 0);
            let mut want = before;
            if let SetAction::Eth { src, dst } = &eth {
                for i in 0..6 {
                    want.eth_src[i] = masked(before.eth_src[i], &Masked { value: src.value[i], mask: src.mask[i] });
                    want.eth_dst[i] = masked(before.eth_dst[i], &Masked { value: dst.value[i], mask: dst.mask[i] });
                }
            }
            match &l3set {
                SetAction::Ipv4 { src, dst, tos, ttl } => {
                    want.nw_src = masked(before.nw_src, src);
                    want.nw_dst = masked(before.nw_dst, dst);
                    want.nw_tos = masked(before.nw_tos, tos);
                    want.nw_ttl = masked(before.nw_ttl, ttl);
                }
                SetAction::Ipv6 { src, dst, label, tclass, hlimit } => {
                    let m16 = |o: [u8; 16], m: &Masked<[u8; 16]>| {
                        let wide = Masked { value: u128::from_be_bytes(m.value), mask: u128::from_be_bytes(m.mask) };
                        masked(u128::from_be_bytes(o), &wide)
                    };
                    want.ipv6_src = m16(before.ipv6_src, src).to_be_bytes();
                    want.ipv6_dst = m16(before.ipv6_dst, dst).to_be_bytes();
                    want.ipv6_label = masked(before.ipv6_label, label);
                    want.nw_tos = masked(before.nw_tos, tclass);
                    want.nw_ttl = masked(before.nw_ttl, hlimit);
                }
                _ => unreachable!(),
            }
            want.tp_src = masked(before.tp_src, &src);
            want.tp_dst = masked(before.tp_dst, &dst);
            prop_assert_eq!(after, want);
            prop_assert!(checksums_ok(&out, &after, p2.md.l3_ofs as usize, p2.md.l4_ofs as usize));
        }
    }
}
