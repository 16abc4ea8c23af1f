//! Tests of action execution. Frames are built by hand with a tiny builder
//! ([`Spec`]) whose checksums come from the reference implementations
//! below (plain 16-bit loops and a bitwise CRC32c), independent of
//! `wire::checksum`. Most tests compare the output frame byte for byte with
//! the frame the builder makes for the expected field values.

use super::*;
use crate::actions::{TnlPush, TunnelType};
use crate::packet::HEADROOM;
use proptest::prelude::*;
use std::sync::Arc;

const TCP: u8 = ipproto::TCP;
const UDP: u8 = ipproto::UDP;
const SCTP: u8 = ipproto::SCTP;
const ICMP: u8 = ipproto::ICMP;
const ICMPV6: u8 = ipproto::ICMPV6;

/// `Masked::exact` for any field type, picked by inference.
trait Ex: Sized {
    fn ex(self) -> Masked<Self>;
}

macro_rules! ex_impl {
    ($($t:ty),*) => {$(
        impl Ex for $t {
            fn ex(self) -> Masked<$t> {
                Masked::<$t>::exact(self)
            }
        }
    )*};
}
ex_impl!(u8, u16, u32, [u8; 6], [u8; 16]);

fn ex<T: Ex>(v: T) -> Masked<T> {
    v.ex()
}

// ---------------------------------------------------------------------------
// Reference checksums.

fn ref_csum(data: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            ((c[0] as u32) << 8) | c[1] as u32
        } else {
            (c[0] as u32) << 8
        };
        s += w;
        if s > 0xffff {
            s -= 0xffff;
        }
    }
    !(s as u16)
}

fn ref_crc32c(d: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in d {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82f6_3b78
            } else {
                c >> 1
            };
        }
    }
    !c
}

// ---------------------------------------------------------------------------
// Frame builder.

#[derive(Clone, Debug)]
enum Ip {
    V4 {
        src: [u8; 4],
        dst: [u8; 4],
        tos: u8,
        ttl: u8,
        frag: u16,
    },
    V6 {
        src: [u8; 16],
        dst: [u8; 16],
        tclass: u8,
        label: u32,
        hlim: u8,
        hbh: bool,
    },
}

#[derive(Clone, Debug)]
struct Spec {
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    vlans: Vec<(u16, u16)>,
    ip: Ip,
    proto: u8,
    sport: u16,
    dport: u16,
    payload: Vec<u8>,
    udp_zero: bool,
}

fn v4(proto: u8) -> Spec {
    Spec {
        dst_mac: [0x02, 0, 0, 0, 0, 0xbb],
        src_mac: [0x02, 0, 0, 0, 0, 0xaa],
        vlans: vec![],
        ip: Ip::V4 {
            src: [10, 0, 0, 1],
            dst: [10, 0, 0, 2],
            tos: 0xb8,
            ttl: 64,
            frag: 0x4000,
        },
        proto,
        sport: 1234,
        dport: 80,
        payload: b"hello, world!".to_vec(),
        udp_zero: false,
    }
}

fn v6(proto: u8) -> Spec {
    let mut src = [0u8; 16];
    src[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    let mut dst = src;
    src[15] = 1;
    dst[15] = 2;
    Spec {
        ip: Ip::V6 {
            src,
            dst,
            tclass: 0x28,
            label: 0x12345,
            hlim: 64,
            hbh: false,
        },
        ..v4(proto)
    }
}

impl Spec {
    fn l3(&self) -> usize {
        14 + 4 * self.vlans.len()
    }

    fn l4(&self) -> usize {
        self.l3()
            + match self.ip {
                Ip::V4 { .. } => 20,
                Ip::V6 { hbh, .. } => 40 + if hbh { 8 } else { 0 },
            }
    }

    fn l4_bytes(&self) -> Vec<u8> {
        let mut l4 = Vec::new();
        let (s, d) = (self.sport.to_be_bytes(), self.dport.to_be_bytes());
        match self.proto {
            TCP => {
                l4.extend_from_slice(&s);
                l4.extend_from_slice(&d);
                l4.extend_from_slice(&[1, 2, 3, 4, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
            }
            UDP => {
                l4.extend_from_slice(&s);
                l4.extend_from_slice(&d);
                l4.extend_from_slice(&((8 + self.payload.len()) as u16).to_be_bytes());
                l4.extend_from_slice(&[0, 0]);
            }
            SCTP => {
                l4.extend_from_slice(&s);
                l4.extend_from_slice(&d);
                l4.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0]);
            }
            ICMP | ICMPV6 => {
                let t = if self.proto == ICMP { 8 } else { 128 };
                l4.extend_from_slice(&[t, 0, 0, 0, 0x12, 0x34, 0, 1]);
            }
            _ => {}
        }
        l4.extend_from_slice(&self.payload);
        l4
    }

    fn later_fragment(&self) -> bool {
        matches!(self.ip, Ip::V4 { frag, .. } if frag & 0x1fff != 0)
    }

    fn bytes(&self) -> Vec<u8> {
        let mut l4 = self.l4_bytes();
        let mut pseudo = Vec::new();
        match &self.ip {
            Ip::V4 { src, dst, .. } => {
                pseudo.extend_from_slice(src);
                pseudo.extend_from_slice(dst);
                pseudo.extend_from_slice(&[0, self.proto]);
                pseudo.extend_from_slice(&(l4.len() as u16).to_be_bytes());
            }
            Ip::V6 { src, dst, .. } => {
                pseudo.extend_from_slice(src);
                pseudo.extend_from_slice(dst);
                pseudo.extend_from_slice(&(l4.len() as u32).to_be_bytes());
                pseudo.extend_from_slice(&[0, 0, 0, self.proto]);
            }
        }
        let with_pseudo = |l4: &[u8]| {
            let mut v = pseudo.clone();
            v.extend_from_slice(l4);
            ref_csum(&v)
        };
        if !self.later_fragment() {
            match self.proto {
                TCP => {
                    let c = with_pseudo(&l4);
                    l4[16..18].copy_from_slice(&c.to_be_bytes());
                }
                UDP if !self.udp_zero => {
                    let c = match with_pseudo(&l4) {
                        0 => 0xffff,
                        c => c,
                    };
                    l4[6..8].copy_from_slice(&c.to_be_bytes());
                }
                ICMPV6 => {
                    let c = with_pseudo(&l4);
                    l4[2..4].copy_from_slice(&c.to_be_bytes());
                }
                ICMP => {
                    let c = ref_csum(&l4);
                    l4[2..4].copy_from_slice(&c.to_be_bytes());
                }
                SCTP => {
                    let c = ref_crc32c(&l4);
                    l4[8..12].copy_from_slice(&c.to_le_bytes());
                }
                _ => {}
            }
        }
        let mut f = Vec::new();
        f.extend_from_slice(&self.dst_mac);
        f.extend_from_slice(&self.src_mac);
        for (tpid, tci) in &self.vlans {
            f.extend_from_slice(&tpid.to_be_bytes());
            f.extend_from_slice(&tci.to_be_bytes());
        }
        match &self.ip {
            Ip::V4 {
                src,
                dst,
                tos,
                ttl,
                frag,
            } => {
                f.extend_from_slice(&[0x08, 0x00]);
                let mut h = vec![0x45, *tos];
                h.extend_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
                h.extend_from_slice(&[0x12, 0x34]);
                h.extend_from_slice(&frag.to_be_bytes());
                h.extend_from_slice(&[*ttl, self.proto, 0, 0]);
                h.extend_from_slice(src);
                h.extend_from_slice(dst);
                let c = ref_csum(&h);
                h[10..12].copy_from_slice(&c.to_be_bytes());
                f.extend_from_slice(&h);
            }
            Ip::V6 {
                src,
                dst,
                tclass,
                label,
                hlim,
                hbh,
            } => {
                f.extend_from_slice(&[0x86, 0xdd]);
                let w = (6u32 << 28) | ((*tclass as u32) << 20) | (label & 0xf_ffff);
                f.extend_from_slice(&w.to_be_bytes());
                let ext = if *hbh { 8 } else { 0 };
                f.extend_from_slice(&((ext + l4.len()) as u16).to_be_bytes());
                f.push(if *hbh { 0 } else { self.proto });
                f.push(*hlim);
                f.extend_from_slice(src);
                f.extend_from_slice(dst);
                if *hbh {
                    f.extend_from_slice(&[self.proto, 0, 1, 4, 0, 0, 0, 0]);
                }
            }
        }
        f.extend_from_slice(&l4);
        f
    }

    fn packet(&self) -> Packet {
        let mut p = Packet::from_bytes(&self.bytes());
        p.md.l3_ofs = self.l3() as u16;
        p.md.l4_ofs = self.l4() as u16;
        p
    }
}

// ---------------------------------------------------------------------------
// Running actions.

fn run(actions: &[DpAction], pkt: Packet) -> TxBatches {
    let mut tx = TxBatches::new();
    execute(actions, pkt, &mut tx);
    tx
}

/// Every output packet, with its port, in flush order.
fn outputs(tx: &mut TxBatches) -> Vec<(u32, Packet)> {
    let mut out = Vec::new();
    tx.flush(|port, b| out.extend(b.drain().map(|p| (port, p))));
    out
}

/// Runs `actions` and returns the one packet output on port 1.
fn run_out1(actions: &[DpAction], pkt: Packet) -> Packet {
    let mut tx = run(actions, pkt);
    let mut out = outputs(&mut tx);
    assert_eq!(out.len(), 1, "expected one output");
    assert!(tx.dropped.is_empty());
    let (port, p) = out.pop().unwrap();
    assert_eq!(port, 1);
    p
}

fn set_then_out(s: SetAction) -> Vec<DpAction> {
    vec![DpAction::Set(s), DpAction::Output(1)]
}

fn ipv4_set(src: Masked<u32>, dst: Masked<u32>, tos: Masked<u8>, ttl: Masked<u8>) -> SetAction {
    SetAction::Ipv4 { src, dst, tos, ttl }
}

fn none4() -> SetAction {
    ipv4_set(
        Masked::none(),
        Masked::none(),
        Masked::none(),
        Masked::none(),
    )
}

fn ipv6_set() -> SetAction {
    SetAction::Ipv6 {
        src: Masked::none(),
        dst: Masked::none(),
        label: Masked::none(),
        tclass: Masked::none(),
        hlimit: Masked::none(),
    }
}

/// Checks every checksum of an Ethernet/IP/L4 frame against the reference
/// (a zero UDP checksum is accepted).
fn verify_checksums(f: &[u8], l3: usize, l4: usize) {
    let mut pseudo = Vec::new();
    let (proto, end) = if f[l3] >> 4 == 4 {
        assert_eq!(ref_csum(&f[l3..l3 + 20]), 0, "IPv4 header checksum");
        let end = l3 + u16::from_be_bytes([f[l3 + 2], f[l3 + 3]]) as usize;
        pseudo.extend_from_slice(&f[l3 + 12..l3 + 20]);
        pseudo.extend_from_slice(&[0, f[l3 + 9]]);
        pseudo.extend_from_slice(&((end - l4) as u16).to_be_bytes());
        (f[l3 + 9], end)
    } else {
        let end = l3 + 40 + u16::from_be_bytes([f[l3 + 4], f[l3 + 5]]) as usize;
        let proto = if f[l3 + 6] == 0 {
            f[l3 + 40]
        } else {
            f[l3 + 6]
        };
        pseudo.extend_from_slice(&f[l3 + 8..l3 + 40]);
        pseudo.extend_from_slice(&((end - l4) as u32).to_be_bytes());
        pseudo.extend_from_slice(&[0, 0, 0, proto]);
        (proto, end)
    };
    assert_eq!(end, f.len());
    pseudo.extend_from_slice(&f[l4..end]);
    match proto {
        TCP | ICMPV6 => assert_eq!(ref_csum(&pseudo), 0, "L4 checksum"),
        UDP if f[l4 + 6..l4 + 8] != [0, 0] => assert_eq!(ref_csum(&pseudo), 0, "UDP checksum"),
        SCTP => {
            let mut s = f[l4..end].to_vec();
            let stored = u32::from_le_bytes([s[8], s[9], s[10], s[11]]);
            s[8..12].fill(0);
            assert_eq!(stored, ref_crc32c(&s), "SCTP CRC32c");
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// Basic semantics.

#[test]
fn empty_actions_drop() {
    let tx = run(&[], v4(UDP).packet());
    assert_eq!(tx.stats.drops_for(DropReason::FlowAction), 1);
    assert_eq!(tx.dropped.len(), 1);
    assert_eq!(tx.queued_total(), 0);
}

/// Counts the copies it is asked for.
#[derive(Default)]
struct Counting {
    tx: TxBatches,
    clones: usize,
}

impl ActionSink for Counting {
    fn output(&mut self, port: u32, pkt: Packet) {
        self.tx.output(port, pkt)
    }
    fn recirculate(&mut self, pkt: Packet) {
        self.tx.recirculate(pkt)
    }
    fn userspace(&mut self, pkt: Packet, cookie: u64) {
        self.tx.userspace(pkt, cookie)
    }
    fn dropped(&mut self, pkt: Packet, reason: DropReason) {
        self.tx.dropped(pkt, reason)
    }
    fn clone_packet(&mut self, pkt: &Packet) -> Packet {
        self.clones += 1;
        pkt.clone_heap()
    }
    fn free(&mut self, pkt: Packet) {
        self.tx.free(pkt)
    }
}

#[test]
fn n_outputs_make_n_minus_one_copies() {
    let frame = v4(UDP).bytes();
    let mut s = Counting::default();
    let acts = [
        DpAction::Output(1),
        DpAction::Output(2),
        DpAction::Output(3),
    ];
    execute(&acts, v4(UDP).packet(), &mut s);
    assert_eq!(s.clones, 2);
    let out = outputs(&mut s.tx);
    assert_eq!(out.len(), 3);
    for (i, (port, p)) in out.iter().enumerate() {
        assert_eq!(*port, i as u32 + 1);
        assert_eq!(p.data(), &frame[..]);
    }
    assert_eq!(s.tx.stats.freed, 0);
}

#[test]
fn trailing_rewrites_after_last_output_are_skipped_not_dropped() {
    let mut s = Counting::default();
    let acts = [
        DpAction::Output(1),
        DpAction::Set(ipv4_set(
            Masked::none(),
            Masked::none(),
            Masked::none(),
            ex(1),
        )),
    ];
    execute(&acts, v4(UDP).packet(), &mut s);
    assert_eq!(s.clones, 0);
    assert_eq!(s.tx.stats.total_drops(), 0);
    assert_eq!(outputs(&mut s.tx)[0].1.data(), &v4(UDP).bytes()[..]);

    // Only rewrites: freed, not counted as a drop.
    let tx = run(&[DpAction::Set(none4())], v4(UDP).packet());
    assert_eq!(tx.stats.freed, 1);
    assert_eq!(tx.stats.total_drops(), 0);
}

#[test]
fn output_rewrite_output_sends_before_and_after() {
    let acts = [
        DpAction::Output(1),
        DpAction::Set(ipv4_set(
            Masked::none(),
            Masked::none(),
            Masked::none(),
            ex(9),
        )),
        DpAction::Output(2),
    ];
    let mut tx = run(&acts, v4(TCP).packet());
    let out = outputs(&mut tx);
    assert_eq!(out[0].1.data(), &v4(TCP).bytes()[..]);
    let mut exp = v4(TCP);
    if let Ip::V4 { ttl, .. } = &mut exp.ip {
        *ttl = 9;
    }
    assert_eq!(out[1].1.data(), &exp.bytes()[..]);
}

#[test]
fn execute_batch_runs_every_packet() {
    let mut tx = TxBatches::new();
    let pkts = (0..5).map(|_| v4(UDP).packet());
    execute_batch(&[DpAction::Output(4)], pkts, &mut tx);
    assert_eq!(tx.queued(4), 5);
    execute_batch(&[], (0..3).map(|_| v4(UDP).packet()), &mut tx);
    assert_eq!(tx.stats.drops_for(DropReason::FlowAction), 3);
}

#[test]
fn userspace_gets_cookie_and_copy_when_not_last() {
    let acts = [DpAction::Userspace { cookie: 77 }, DpAction::Output(1)];
    let mut tx = run(&acts, v4(UDP).packet());
    assert_eq!(tx.userspace.len(), 1);
    assert_eq!(tx.userspace[0].1, 77);
    assert_eq!(tx.userspace[0].0.data(), &v4(UDP).bytes()[..]);
    assert_eq!(outputs(&mut tx).len(), 1);
}

// ---------------------------------------------------------------------------
// set(eth), set(ipv4)

#[test]
fn set_eth_exact_and_masked() {
    let p = run_out1(
        &set_then_out(SetAction::Eth {
            src: ex([0x02, 1, 2, 3, 4, 5]),
            dst: Masked {
                value: [0xff, 0, 0, 0, 0, 0x0f],
                mask: [0, 0, 0, 0, 0, 0x0f],
            },
        }),
        v4(UDP).packet(),
    );
    let mut exp = v4(UDP);
    exp.src_mac = [0x02, 1, 2, 3, 4, 5];
    exp.dst_mac = [0x02, 0, 0, 0, 0, 0xbf];
    assert_eq!(p.data(), &exp.bytes()[..]);
}

fn with_v4(mut s: Spec, f: impl FnOnce(&mut [u8; 4], &mut [u8; 4], &mut u8, &mut u8)) -> Spec {
    if let Ip::V4 {
        src, dst, tos, ttl, ..
    } = &mut s.ip
    {
        f(src, dst, tos, ttl);
    }
    s
}

#[test]
fn set_ipv4_addresses_fix_ip_and_l4_checksums() {
    for proto in [TCP, UDP, ICMP, SCTP] {
        let s = ipv4_set(
            ex(0xc0a8_0101),
            ex(0x0808_0808),
            Masked::none(),
            Masked::none(),
        );
        let p = run_out1(&set_then_out(s), v4(proto).packet());
        let exp = with_v4(v4(proto), |src, dst, _, _| {
            *src = [192, 168, 1, 1];
            *dst = [8, 8, 8, 8];
        });
        assert_eq!(p.data(), &exp.bytes()[..], "proto {proto}");
        verify_checksums(p.data(), exp.l3(), exp.l4());
    }
}

#[test]
fn set_ipv4_ttl_and_tos() {
    let s = ipv4_set(Masked::none(), Masked::none(), ex(0x10), ex(63));
    let p = run_out1(&set_then_out(s), v4(TCP).packet());
    let exp = with_v4(v4(TCP), |_, _, tos, ttl| {
        *tos = 0x10;
        *ttl = 63;
    });
    assert_eq!(p.data(), &exp.bytes()[..]);
}

#[test]
fn set_ipv4_masked_ecn_bits_only() {
    let s = ipv4_set(
        Masked::none(),
        Masked::none(),
        Masked {
            value: 0x03,
            mask: 0x03,
        },
        Masked::none(),
    );
    let p = run_out1(&set_then_out(s), v4(UDP).packet());
    let exp = with_v4(v4(UDP), |_, _, tos, _| *tos = 0xbb);
    assert_eq!(p.data(), &exp.bytes()[..]);
}

#[test]
fn set_ipv4_masked_prefix() {
    let s = ipv4_set(
        Masked {
            value: 0xac10_0000,
            mask: 0xffff_0000,
        },
        Masked::none(),
        Masked::none(),
        Masked::none(),
    );
    let p = run_out1(&set_then_out(s), v4(TCP).packet());
    let exp = with_v4(v4(TCP), |src, _, _, _| *src = [172, 16, 0, 1]);
    assert_eq!(p.data(), &exp.bytes()[..]);
}

#[test]
fn set_ipv4_keeps_zero_udp_checksum() {
    let mut spec = v4(UDP);
    spec.udp_zero = true;
    let s = ipv4_set(
        ex(0x0102_0304),
        Masked::none(),
        Masked::none(),
        Masked::none(),
    );
    let p = run_out1(&set_then_out(s), spec.packet());
    let exp = with_v4(spec, |src, _, _, _| *src = [1, 2, 3, 4]);
    assert_eq!(p.data(), &exp.bytes()[..]);
    assert_eq!(&p.data()[exp.l4() + 6..exp.l4() + 8], &[0, 0]);
}

#[test]
fn udp_checksum_that_becomes_zero_is_sent_as_ffff() {
    // Search a source address that makes the UDP checksum come out 0.
    let spec = v4(UDP);
    let frame = spec.bytes();
    let l4 = spec.l4();
    let c = u16::from_be_bytes([frame[l4 + 6], frame[l4 + 7]]);
    // The sum is !c; raising the low source word by c (ones' complement)
    // moves it to 0xffff, i.e. the checksum to 0.
    let old_lo = 0x0001u16;
    let mut new_lo = old_lo as u32 + c as u32;
    if new_lo > 0xffff {
        new_lo -= 0xffff;
    }
    let new_src = 0x0a00_0000 | new_lo;
    let s = ipv4_set(ex(new_src), Masked::none(), Masked::none(), Masked::none());
    let p = run_out1(&set_then_out(s), spec.packet());
    assert_eq!(&p.data()[l4 + 6..l4 + 8], &[0xff, 0xff]);
    let exp = with_v4(v4(UDP), |src, _, _, _| *src = new_src.to_be_bytes());
    assert_eq!(p.data(), &exp.bytes()[..]);
}

#[test]
fn set_ipv4_on_later_fragment_leaves_l4_alone() {
    let mut spec = v4(UDP);
    if let Ip::V4 { frag, .. } = &mut spec.ip {
        *frag = 100; // offset 800 bytes
    }
    let before = spec.bytes();
    let s = ipv4_set(
        ex(0x0102_0304),
        Masked::none(),
        Masked::none(),
        Masked::none(),
    );
    let p = run_out1(&set_then_out(s), spec.packet());
    let mut exp = before.clone();
    exp[14 + 12..14 + 16].copy_from_slice(&[1, 2, 3, 4]);
    exp[14 + 10..14 + 12].fill(0);
    let c = ref_csum(&exp[14..34]);
    exp[14 + 10..14 + 12].copy_from_slice(&c.to_be_bytes());
    assert_eq!(p.data(), &exp[..]);
    assert_eq!(&p.data()[34..], &before[34..]);
}

#[test]
fn sets_without_their_header_leave_the_packet_unchanged() {
    let v6_frame = v6(TCP).bytes();
    // IPv4 set on IPv6, ports of the wrong protocol, and no offsets at all.
    for s in [
        ipv4_set(ex(1), ex(2), ex(3), ex(4)),
        SetAction::Udp {
            src: ex(1),
            dst: ex(2),
        },
        SetAction::Sctp {
            src: ex(1),
            dst: ex(2),
        },
    ] {
        let p = run_out1(&set_then_out(s), v6(TCP).packet());
        assert_eq!(p.data(), &v6_frame[..]);
    }
    let mut pkt = v4(TCP).packet();
    pkt.md.l3_ofs = NO_OFS;
    pkt.md.l4_ofs = NO_OFS;
    let s = ipv4_set(ex(1), Masked::none(), Masked::none(), Masked::none());
    let p = run_out1(&set_then_out(s), pkt);
    assert_eq!(p.data(), &v4(TCP).bytes()[..]);
    // Truncated in the middle of the IP header.
    let mut pkt = v4(TCP).packet();
    pkt.set_len(25).unwrap();
    let p = run_out1(
        &set_then_out(ipv4_set(
            ex(1),
            Masked::none(),
            Masked::none(),
            Masked::none(),
        )),
        pkt,
    );
    assert_eq!(p.data(), &v4(TCP).bytes()[..25]);
}

// ---------------------------------------------------------------------------
// set(ipv6)

fn with_v6(mut s: Spec, f: impl FnOnce(&mut [u8; 16], &mut [u8; 16])) -> Spec {
    if let Ip::V6 { src, dst, .. } = &mut s.ip {
        f(src, dst);
    }
    s
}

#[test]
fn set_ipv6_addresses_fix_l4_checksums() {
    for proto in [TCP, UDP, ICMPV6] {
        for hbh in [false, true] {
            let mut spec = v6(proto);
            if let Ip::V6 { hbh: h, .. } = &mut spec.ip {
                *h = hbh;
            }
            let mut new_src = [0u8; 16];
            new_src[0] = 0xfd;
            new_src[15] = 0x42;
            let s = SetAction::Ipv6 {
                src: ex(new_src),
                dst: Masked {
                    value: [0xff; 16],
                    mask: {
                        let mut m = [0; 16];
                        m[14] = 0xff;
                        m
                    },
                },
                label: Masked::none(),
                tclass: Masked::none(),
                hlimit: Masked::none(),
            };
            let p = run_out1(&set_then_out(s), spec.packet());
            let exp = with_v6(spec, |src, dst| {
                *src = new_src;
                dst[14] = 0xff;
            });
            assert_eq!(p.data(), &exp.bytes()[..], "proto {proto} hbh {hbh}");
            verify_checksums(p.data(), exp.l3(), exp.l4());
        }
    }
}

#[test]
fn set_ipv6_label_tclass_hlimit() {
    let s = SetAction::Ipv6 {
        src: Masked::none(),
        dst: Masked::none(),
        label: Masked {
            value: 0xabcde,
            mask: 0xf00ff,
        },
        tclass: Masked {
            value: 0x01,
            mask: 0x03,
        },
        hlimit: ex(1),
    };
    let p = run_out1(&set_then_out(s), v6(UDP).packet());
    let mut exp = v6(UDP);
    if let Ip::V6 {
        tclass,
        label,
        hlim,
        ..
    } = &mut exp.ip
    {
        *tclass = 0x29;
        *label = 0xa23de;
        *hlim = 1;
    }
    assert_eq!(p.data(), &exp.bytes()[..]);
    // An all-none IPv6 set changes nothing.
    let p = run_out1(&set_then_out(ipv6_set()), v6(UDP).packet());
    assert_eq!(p.data(), &v6(UDP).bytes()[..]);
}

// ---------------------------------------------------------------------------
// set(tcp), set(udp), set(sctp)

#[test]
fn set_tcp_and_udp_ports() {
    for spec in [v4(TCP), v4(UDP), v6(TCP), v6(UDP)] {
        let s = if spec.proto == TCP {
            SetAction::Tcp {
                src: ex(4321),
                dst: Masked {
                    value: 0x1f00,
                    mask: 0xff00,
                },
            }
        } else {
            SetAction::Udp {
                src: ex(4321),
                dst: Masked {
                    value: 0x1f00,
                    mask: 0xff00,
                },
            }
        };
        let p = run_out1(&set_then_out(s), spec.packet());
        let mut exp = spec.clone();
        exp.sport = 4321;
        exp.dport = 0x1f50;
        assert_eq!(p.data(), &exp.bytes()[..]);
        verify_checksums(p.data(), exp.l3(), exp.l4());
    }
}

#[test]
fn set_udp_ports_keeps_zero_checksum() {
    let mut spec = v4(UDP);
    spec.udp_zero = true;
    let s = SetAction::Udp {
        src: ex(1),
        dst: ex(2),
    };
    let p = run_out1(&set_then_out(s), spec.packet());
    let mut exp = spec;
    exp.sport = 1;
    exp.dport = 2;
    assert_eq!(p.data(), &exp.bytes()[..]);
}

#[test]
fn set_sctp_ports_recomputes_crc32c() {
    for spec in [v4(SCTP), v6(SCTP)] {
        let s = SetAction::Sctp {
            src: ex(5000),
            dst: ex(6000),
        };
        let p = run_out1(&set_then_out(s), spec.packet());
        let mut exp = spec.clone();
        exp.sport = 5000;
        exp.dport = 6000;
        assert_eq!(p.data(), &exp.bytes()[..]);
        verify_checksums(p.data(), exp.l3(), exp.l4());
    }
}

#[test]
fn set_sctp_ignores_ethernet_padding() {
    let spec = v4(SCTP);
    let mut frame = spec.bytes();
    frame.extend_from_slice(&[0xee; 6]);
    let mut pkt = Packet::from_bytes(&frame);
    pkt.md.l3_ofs = spec.l3() as u16;
    pkt.md.l4_ofs = spec.l4() as u16;
    let s = SetAction::Sctp {
        src: ex(5000),
        dst: Masked::none(),
    };
    let p = run_out1(&set_then_out(s), pkt);
    let mut exp = spec.clone();
    exp.sport = 5000;
    let mut e = exp.bytes();
    e.extend_from_slice(&[0xee; 6]);
    assert_eq!(p.data(), &e[..]);
}

#[test]
fn set_tunnel_sets_metadata() {
    let t = TunnelMeta {
        tun_id: 5,
        ipv4_dst: 0x0a00_0001,
        ..TunnelMeta::default()
    };
    let p = run_out1(&set_then_out(SetAction::Tunnel(t)), v4(UDP).packet());
    assert_eq!(*p.md.tunnel(), t);
}

// ---------------------------------------------------------------------------
// VLAN

#[test]
fn push_vlan_inserts_tag_after_macs() {
    let spec = v4(TCP);
    let p = run_out1(
        &[
            DpAction::PushVlan {
                tpid: 0x8100,
                tci: 0x2064,
            },
            DpAction::Output(1),
        ],
        spec.packet(),
    );
    let mut exp = spec.clone();
    exp.vlans = vec![(0x8100, 0x2064)];
    assert_eq!(p.data(), &exp.bytes()[..]);
    assert_eq!(p.md.l3_ofs as usize, exp.l3());
    assert_eq!(p.md.l4_ofs as usize, exp.l4());
    assert_eq!(p.headroom(), HEADROOM - 4);
}

#[test]
fn push_vlan_on_tagged_makes_qinq() {
    let mut spec = v6(UDP);
    spec.vlans = vec![(0x8100, 100)];
    let p = run_out1(
        &[
            DpAction::PushVlan {
                tpid: 0x88a8,
                tci: 200,
            },
            DpAction::Output(1),
        ],
        spec.packet(),
    );
    let mut exp = spec.clone();
    exp.vlans = vec![(0x88a8, 200), (0x8100, 100)];
    assert_eq!(p.data(), &exp.bytes()[..]);
    assert_eq!(p.md.l3_ofs as usize, exp.l3());
    assert_eq!(p.md.l4_ofs as usize, exp.l4());
}

#[test]
fn pop_vlan_removes_outer_tag() {
    let mut spec = v4(UDP);
    spec.vlans = vec![(0x88a8, 200), (0x8100, 100)];
    let p = run_out1(&[DpAction::PopVlan, DpAction::Output(1)], spec.packet());
    let mut exp = spec.clone();
    exp.vlans = vec![(0x8100, 100)];
    assert_eq!(p.data(), &exp.bytes()[..]);
    assert_eq!(p.md.l3_ofs as usize, exp.l3());
    assert_eq!(p.md.l4_ofs as usize, exp.l4());
    let p = run_out1(&[DpAction::PopVlan, DpAction::Output(1)], p);
    assert_eq!(p.data(), &v4(UDP).bytes()[..]);
    assert_eq!(p.md.l3_ofs, 14);
    // Untagged: unchanged.
    let p = run_out1(&[DpAction::PopVlan, DpAction::Output(1)], p);
    assert_eq!(p.data(), &v4(UDP).bytes()[..]);
    assert_eq!(p.md.l3_ofs, 14);
}

#[test]
fn push_then_pop_vlan_is_identity() {
    let spec = v6(TCP);
    let acts = [
        DpAction::PushVlan {
            tpid: 0x8100,
            tci: 7,
        },
        DpAction::PopVlan,
        DpAction::Output(1),
    ];
    let p = run_out1(&acts, spec.packet());
    assert_eq!(p.data(), &spec.bytes()[..]);
    assert_eq!(p.md.l4_ofs as usize, spec.l4());
}

/// A packet holding `frame` with only `headroom` bytes in front.
fn with_headroom(frame: &[u8], headroom: usize) -> Packet {
    let mut p = Packet::from_bytes(frame);
    let cut = HEADROOM - headroom;
    let d = p.push_head(cut).unwrap();
    d.copy_within(cut.., 0);
    p.set_len(frame.len()).unwrap();
    assert_eq!(p.headroom(), headroom);
    assert_eq!(p.data(), frame);
    p
}

#[test]
fn push_vlan_without_headroom_drops() {
    let pkt = with_headroom(&v4(UDP).bytes(), 2);
    let acts = [
        DpAction::Output(2),
        DpAction::PushVlan {
            tpid: 0x8100,
            tci: 1,
        },
        DpAction::Output(1),
    ];
    let mut tx = run(&acts, pkt);
    assert_eq!(tx.stats.drops_for(DropReason::NoHeadroom), 1);
    assert_eq!(outputs(&mut tx).len(), 1);
}

#[test]
fn vlan_actions_on_runt_frames_do_not_panic() {
    for len in 0..20 {
        let frame: Vec<u8> = (0..len as u8).map(|b| b | 0x80).collect();
        for a in [
            DpAction::PopVlan,
            DpAction::PushVlan {
                tpid: 0x8100,
                tci: 1,
            },
        ] {
            let mut tx = run(&[a, DpAction::Output(1)], Packet::from_bytes(&frame));
            assert_eq!(outputs(&mut tx).len(), 1);
        }
    }
}

// ---------------------------------------------------------------------------
// Recirculation and hash

#[test]
fn recirc_sets_id_and_copies_when_not_last() {
    let acts = [DpAction::Recirc(7), DpAction::Output(1)];
    let mut tx = run(&acts, v4(UDP).packet());
    assert_eq!(tx.recirculated.len(), 1);
    assert_eq!(tx.recirculated[0].md.recirc_id, 7);
    let out = outputs(&mut tx);
    assert_eq!(out[0].1.md.recirc_id, 0);
    let tx = run(&[DpAction::Recirc(9)], v4(UDP).packet());
    assert_eq!(tx.recirculated[0].md.recirc_id, 9);
    assert_eq!(tx.stats.recirculated, 1);
}

#[test]
fn hash_is_deterministic_nonzero_and_depends_on_flow_and_basis() {
    let h = |spec: &Spec, basis| {
        let acts = [DpAction::Hash { basis }, DpAction::Output(1)];
        run_out1(&acts, spec.packet()).md.dp_hash
    };
    let a = h(&v4(TCP), 0);
    assert_ne!(a, 0);
    assert_eq!(a, h(&v4(TCP), 0));
    assert_ne!(a, h(&v4(TCP), 1));
    let mut other = v4(TCP);
    other.sport = 1235;
    assert_ne!(a, h(&other, 0));
    // The payload is not part of the hash.
    let mut same_flow = v4(TCP);
    same_flow.payload = vec![1, 2, 3];
    assert_eq!(a, h(&same_flow, 0));
    assert_ne!(h(&v6(UDP), 0), h(&v6(TCP), 0));
    // Non-IP falls back to L2 and is still non-zero.
    let mut arp = Packet::from_bytes(&[0u8; 42]);
    arp.data_mut()[12..14].copy_from_slice(&[0x08, 0x06]);
    assert_ne!(hash_5tuple(&arp, 0), 0);
    assert_ne!(hash_5tuple(&Packet::from_bytes(&[]), 0), 0);
}

/// `hash_5tuple` as first written (ports through `l4_of` for every IP
/// version): the IPv4 shortcut must give the same values.
fn hash_5tuple_reference(pkt: &Packet, basis: u32) -> u32 {
    let d = pkt.data();
    let md = &pkt.md;
    let mut h = basis as u64;
    let mut ip = false;
    if let Some((l3, _)) = ipv4_hdr(d, md.l3_ofs) {
        h = hash_add(h, be32(d, l3 + off::IP4_SRC) as u64) ^ 4;
        h = hash_add(h, be32(d, l3 + off::IP4_DST) as u64);
        h = hash_add(h, d[l3 + off::IP4_PROTO] as u64);
        ip = true;
    } else if let Some(l3) = ipv6_hdr(d, md.l3_ofs) {
        for at in [l3 + off::IP6_SRC, l3 + off::IP6_DST] {
            let hi = ((be32(d, at) as u64) << 32) | be32(d, at + 4) as u64;
            let lo = ((be32(d, at + 8) as u64) << 32) | be32(d, at + 12) as u64;
            h = hash_add(hash_add(h, hi), lo);
        }
        let proto = ipv6_walk(d, l3).map_or(d[l3 + off::IP6_NXT], |w| w.proto);
        h = hash_add(h, proto as u64) ^ 6;
        ip = true;
    }
    if ip {
        if let Some(l4) = l4_of(d, md.l3_ofs, md.l4_ofs) {
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn hash_5tuple_keeps_its_values(
        bytes in proptest::collection::vec(any::<u8>(), 0..120),
        et in prop::sample::select(vec![0x0800u16, 0x86dd, 0x0806]),
        vi in prop::sample::select(vec![0x45u8, 0x46, 0x44, 0x60, 0x55]),
        proto in prop::sample::select(vec![6u8, 17, 132, 1, 58]),
        frag in prop::sample::select(vec![0u16, 0x2000, 0x00b9]),
        basis in any::<u32>(),
    ) {
        let mut b = bytes;
        if b.len() >= 34 {
            b[12..14].copy_from_slice(&et.to_be_bytes());
            b[14] = vi;
            if et == 0x0800 {
                b[23] = proto;
                b[20..22].copy_from_slice(&frag.to_be_bytes());
            } else if b.len() >= 21 {
                b[20] = proto;
            }
        }
        let mut p = Packet::from_bytes(&b);
        let mut key = crate::key::FlowKey::ZERO;
        crate::extract::extract(&mut p, &mut key);
        prop_assert_eq!(hash_5tuple(&p, basis), hash_5tuple_reference(&p, basis));
        // Offsets that disagree with the headers (a set action moved them).
        p.md.l4_ofs = p.md.l4_ofs.wrapping_add(4);
        prop_assert_eq!(hash_5tuple(&p, basis), hash_5tuple_reference(&p, basis));
        // An L4 offset right after a 20-byte header, even for fragments.
        p.md.l4_ofs = p.md.l3_ofs.wrapping_add(20);
        prop_assert_eq!(hash_5tuple(&p, basis), hash_5tuple_reference(&p, basis));
    }
}

// ---------------------------------------------------------------------------
// Tunnels

const OUTER_SRC4: [u8; 4] = [192, 168, 0, 1];
const OUTER_DST4: [u8; 4] = [192, 168, 0, 2];

fn outer_eth(ethertype: u16) -> Vec<u8> {
    let mut h = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01];
    h.extend_from_slice(&ethertype.to_be_bytes());
    h
}

fn tnl_hdr(ty: TunnelType, vni: u32, geneve_opts: &[u8], oam: bool) -> Vec<u8> {
    let mut h = Vec::new();
    match ty {
        TunnelType::Vxlan => h.extend_from_slice(&[0x08, 0, 0, 0]),
        TunnelType::Geneve => {
            h.push((geneve_opts.len() / 4) as u8);
            h.push(if oam { 0x80 } else { 0 });
            h.extend_from_slice(&[0x65, 0x58]);
        }
    }
    h.extend_from_slice(&(vni << 8).to_be_bytes());
    h.extend_from_slice(geneve_opts);
    h
}

fn udp_hdr(ty: TunnelType) -> Vec<u8> {
    let port = match ty {
        TunnelType::Vxlan => VXLAN_PORT,
        TunnelType::Geneve => GENEVE_PORT,
    };
    let mut h = vec![0, 0];
    h.extend_from_slice(&port.to_be_bytes());
    h.extend_from_slice(&[0, 0, 0, 0]);
    h
}

fn template_v4(ty: TunnelType, vni: u32, udp_csum: bool, geneve_opts: &[u8]) -> TnlPush {
    let mut h = outer_eth(0x0800);
    h.extend_from_slice(&[0x45, 0x08, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0]);
    h.extend_from_slice(&OUTER_SRC4);
    h.extend_from_slice(&OUTER_DST4);
    h.extend_from_slice(&udp_hdr(ty));
    h.extend_from_slice(&tnl_hdr(ty, vni, geneve_opts, false));
    TnlPush {
        tnl_port: 100,
        out_port: 1,
        tnl_type: ty,
        header: h.into_boxed_slice(),
        ipv6: false,
        udp_csum,
    }
}

fn outer_v6(i: u8) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[..2].copy_from_slice(&[0xfd, 0x00]);
    a[15] = i;
    a
}

fn template_v6(ty: TunnelType, vni: u32, geneve_opts: &[u8], oam: bool) -> TnlPush {
    let mut h = outer_eth(0x86dd);
    h.extend_from_slice(&[0x60, 0x00, 0x00, 0x00, 0, 0, 17, 64]);
    h.extend_from_slice(&outer_v6(1));
    h.extend_from_slice(&outer_v6(2));
    h.extend_from_slice(&udp_hdr(ty));
    h.extend_from_slice(&tnl_hdr(ty, vni, geneve_opts, oam));
    TnlPush {
        tnl_port: 100,
        out_port: 1,
        tnl_type: ty,
        header: h.into_boxed_slice(),
        ipv6: true,
        udp_csum: false,
    }
}

fn push(t: &TnlPush, pkt: Packet) -> Packet {
    run_out1(&[DpAction::TnlPush(Arc::new(t.clone()))], pkt)
}

fn udp_csum_ok(f: &[u8], l3: usize, l4: usize, v6: bool) -> bool {
    let ulen = u16::from_be_bytes([f[l4 + 4], f[l4 + 5]]) as usize;
    let mut p = Vec::new();
    if v6 {
        p.extend_from_slice(&f[l3 + 8..l3 + 40]);
        p.extend_from_slice(&(ulen as u32).to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 17]);
    } else {
        p.extend_from_slice(&f[l3 + 12..l3 + 20]);
        p.extend_from_slice(&[0, 17]);
        p.extend_from_slice(&(ulen as u16).to_be_bytes());
    }
    p.extend_from_slice(&f[l4..l4 + ulen]);
    ref_csum(&p) == 0
}

#[test]
fn tnl_push_ipv4_vxlan() {
    for udp_csum in [false, true] {
        let t = template_v4(TunnelType::Vxlan, 0x123456, udp_csum, &[]);
        let inner = v4(TCP);
        let inner_bytes = inner.bytes();
        let p = push(&t, inner.packet());
        let f = p.data();
        let hl = t.header.len();
        assert_eq!(f.len(), hl + inner_bytes.len());
        assert_eq!(&f[hl..], &inner_bytes[..]);
        // Ethernet and addresses from the template.
        assert_eq!(&f[..14], &t.header[..14]);
        assert_eq!(&f[26..34], &t.header[26..34]);
        // IPv4 total length and header checksum.
        assert_eq!(u16::from_be_bytes([f[16], f[17]]) as usize, f.len() - 14);
        assert_eq!(ref_csum(&f[14..34]), 0);
        // UDP length, ports, checksum.
        assert_eq!(u16::from_be_bytes([f[38], f[39]]) as usize, f.len() - 34);
        let sport = u16::from_be_bytes([f[34], f[35]]);
        assert!((TNL_SRC_PORT_MIN..=TNL_SRC_PORT_MAX).contains(&sport));
        assert_eq!(&f[36..38], &VXLAN_PORT.to_be_bytes());
        if udp_csum {
            assert_ne!(&f[40..42], &[0, 0]);
            assert!(udp_csum_ok(f, 14, 34, false));
        } else {
            assert_eq!(&f[40..42], &[0, 0]);
        }
        assert_eq!(&f[42..50], &[0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0]);
        assert_eq!((p.md.l3_ofs, p.md.l4_ofs), (14, 34));
        assert!(!p.md.tunnel().is_set());
    }
}

#[test]
fn tnl_push_ipv6_vxlan() {
    let t = template_v6(TunnelType::Vxlan, 42, &[], false);
    let inner = v6(UDP);
    let inner_bytes = inner.bytes();
    let p = push(&t, inner.packet());
    let f = p.data();
    let hl = t.header.len();
    assert_eq!(hl, 14 + 40 + 8 + 8);
    assert_eq!(&f[hl..], &inner_bytes[..]);
    assert_eq!(
        u16::from_be_bytes([f[18], f[19]]) as usize,
        f.len() - 14 - 40
    );
    assert_eq!(u16::from_be_bytes([f[58], f[59]]) as usize, f.len() - 54);
    assert_ne!(&f[60..62], &[0, 0]);
    assert!(udp_csum_ok(f, 14, 54, true));
    assert_eq!((p.md.l3_ofs, p.md.l4_ofs), (14, 54));
}

#[test]
fn tnl_push_source_port_is_per_flow() {
    let t = template_v4(TunnelType::Vxlan, 1, false, &[]);
    let sport_of = |spec: &Spec| {
        let p = push(&t, spec.packet());
        u16::from_be_bytes([p.data()[34], p.data()[35]])
    };
    let a = sport_of(&v4(UDP));
    assert_eq!(a, sport_of(&v4(UDP)));
    let mut ports = std::collections::HashSet::new();
    for sp in 0..32 {
        let mut s = v4(UDP);
        s.sport = 1000 + sp;
        let p = sport_of(&s);
        assert!((TNL_SRC_PORT_MIN..=TNL_SRC_PORT_MAX).contains(&p));
        ports.insert(p);
    }
    assert!(ports.len() > 16, "source ports should spread: {ports:?}");
    // The RSS hash wins when valid.
    let mut pkt = v4(UDP).packet();
    pkt.md.rss_valid = true;
    pkt.md.rss_hash = 0;
    let p = push(&t, pkt);
    assert_eq!(
        u16::from_be_bytes([p.data()[34], p.data()[35]]),
        TNL_SRC_PORT_MIN
    );
    assert_eq!(tnl_src_port(u32::MAX), TNL_SRC_PORT_MAX);
}

#[test]
fn tnl_push_copies_when_not_last_and_drops_without_headroom() {
    let t = Arc::new(template_v4(TunnelType::Vxlan, 1, false, &[]));
    let acts = [DpAction::TnlPush(t.clone()), DpAction::Output(2)];
    let mut tx = run(&acts, v4(UDP).packet());
    let out = outputs(&mut tx);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].0, 1);
    assert_eq!(out[0].1.len(), t.header.len() + v4(UDP).bytes().len());
    assert_eq!(out[1].0, 2);
    assert_eq!(out[1].1.data(), &v4(UDP).bytes()[..]);

    let pkt = with_headroom(&v4(UDP).bytes(), 20);
    let tx = run(&[DpAction::TnlPush(t)], pkt);
    assert_eq!(tx.stats.drops_for(DropReason::NoHeadroom), 1);

    let mut bad = template_v4(TunnelType::Vxlan, 1, false, &[]);
    bad.header = bad.header[..40].into();
    let tx = run(&[DpAction::TnlPush(Arc::new(bad))], v4(UDP).packet());
    assert_eq!(tx.stats.drops_for(DropReason::MalformedForAction), 1);
}

fn pop(pkt: Packet, port: u32) -> TxBatches {
    run(&[DpAction::TnlPop(TnlPop::plain(port))], pkt)
}

#[test]
fn tnl_pop_on_other_ports_reads_the_header() {
    for (ty, port) in [(TunnelType::Vxlan, 8472u16), (TunnelType::Geneve, 6082)] {
        let t = template_v4(ty, 77, false, &[]);
        let inner = v4(UDP);
        let outer = push(&t, inner.packet());
        let mut f = outer.data().to_vec();
        f[36..38].copy_from_slice(&port.to_be_bytes());
        let tx = pop(Packet::from_bytes(&f), 9);
        assert_eq!(tx.recirculated.len(), 1, "{ty:?}: {:?}", tx.stats);
        let p = &tx.recirculated[0];
        assert_eq!(p.data(), &inner.bytes()[..], "{ty:?}");
        assert_eq!(
            (p.md.tunnel().tun_id, p.md.tunnel().tp_dst),
            (77, port),
            "{ty:?}"
        );
    }
    // VXLAN-shaped but without the I flag on another port: malformed.
    let t = template_v4(TunnelType::Vxlan, 77, false, &[]);
    let mut f = push(&t, v4(UDP).packet()).data().to_vec();
    f[36..38].copy_from_slice(&8472u16.to_be_bytes());
    f[42] = 0;
    let tx = pop(Packet::from_bytes(&f), 9);
    assert_eq!(tx.stats.drops_for(DropReason::TunnelPopMalformed), 1);
}

#[test]
fn tnl_pop_round_trip_ipv4_vxlan() {
    for udp_csum in [false, true] {
        let t = template_v4(TunnelType::Vxlan, 0xabcdef, udp_csum, &[]);
        let inner = v4(TCP);
        let mut pkt = inner.packet();
        pkt.md.recirc_id = 3;
        let outer = push(&t, pkt);
        let sport = u16::from_be_bytes([outer.data()[34], outer.data()[35]]);
        let tx = pop(outer, 9);
        assert_eq!(tx.recirculated.len(), 1, "{:?}", tx.stats);
        let p = &tx.recirculated[0];
        assert_eq!(p.data(), &inner.bytes()[..]);
        assert_eq!(p.md.in_port, 9);
        assert_eq!(p.md.recirc_id, 3);
        assert_eq!((p.md.l3_ofs, p.md.l4_ofs), (NO_OFS, NO_OFS));
        let mut flags = tun_flags::KEY | tun_flags::DONT_FRAGMENT;
        if udp_csum {
            flags |= tun_flags::CSUM;
        }
        assert_eq!(
            *p.md.tunnel(),
            TunnelMeta {
                tun_id: 0xabcdef,
                ipv4_src: u32::from_be_bytes(OUTER_SRC4),
                ipv4_dst: u32::from_be_bytes(OUTER_DST4),
                tos: 0x08,
                ttl: 64,
                tp_src: sport,
                tp_dst: VXLAN_PORT,
                flags,
                ..TunnelMeta::default()
            }
        );
    }
}

#[test]
fn tnl_pop_round_trip_ipv6_vxlan_and_geneve() {
    // A non-critical option (type 0x01): skipped without a TLV map.
    let opts = [0x01, 0x02, 0x01, 0x01, 0xaa, 0xbb, 0xcc, 0xdd];
    for (ty, o, oam) in [
        (TunnelType::Vxlan, &[][..], false),
        (TunnelType::Geneve, &opts[..], true),
        (TunnelType::Geneve, &[][..], false),
    ] {
        let t = template_v6(ty, 77, o, oam);
        let inner = v6(UDP);
        let outer = push(&t, inner.packet());
        let tx = pop(outer, 4);
        assert_eq!(tx.recirculated.len(), 1, "{ty:?}");
        let p = &tx.recirculated[0];
        assert_eq!(p.data(), &inner.bytes()[..]);
        let tm = *p.md.tunnel();
        assert_eq!(tm.tun_id, 77);
        assert_eq!(tm.ipv6_src, outer_v6(1));
        assert_eq!(tm.ipv6_dst, outer_v6(2));
        assert_eq!((tm.ipv4_src, tm.ipv4_dst), (0, 0));
        assert_eq!(tm.ttl, 64);
        let mut flags = tun_flags::KEY | tun_flags::CSUM;
        if oam {
            flags |= tun_flags::OAM;
        }
        assert_eq!(tm.flags, flags);
    }
    // Geneve over IPv4 too.
    let t = template_v4(TunnelType::Geneve, 5, false, &opts);
    let outer = push(&t, v4(UDP).packet());
    let tx = pop(outer, 4);
    assert_eq!(tx.recirculated[0].data(), &v4(UDP).bytes()[..]);
    assert_eq!(tx.recirculated[0].md.tunnel().tp_dst, GENEVE_PORT);
}

#[test]
fn tnl_pop_strips_ethernet_padding_and_accepts_a_vlan() {
    let t = template_v4(TunnelType::Vxlan, 1, true, &[]);
    let outer = push(&t, v4(UDP).packet());
    let mut f = outer.data().to_vec();
    f.extend_from_slice(&[0; 7]);
    let tx = pop(Packet::from_bytes(&f), 1);
    assert_eq!(tx.recirculated[0].data(), &v4(UDP).bytes()[..]);
    // Tagged outer frame.
    let mut tagged = f[..12].to_vec();
    tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x0a]);
    tagged.extend_from_slice(&f[12..]);
    let tx = pop(Packet::from_bytes(&tagged), 1);
    assert_eq!(tx.recirculated[0].data(), &v4(UDP).bytes()[..]);
}

#[test]
fn tnl_pop_drops_truncated_packets() {
    for (t, csum) in [
        (template_v4(TunnelType::Vxlan, 1, false, &[]), false),
        (template_v4(TunnelType::Vxlan, 1, true, &[]), true),
        (template_v6(TunnelType::Geneve, 1, &[0; 8], false), true),
    ] {
        let outer = push(&t, v4(UDP).packet());
        let f = outer.data().to_vec();
        for len in 0..f.len() {
            let tx = pop(Packet::from_bytes(&f[..len]), 1);
            // Any cut disagrees with the IP length (or is shorter than
            // the headers), so every prefix is malformed.
            assert_eq!(
                tx.stats.drops_for(DropReason::TunnelPopMalformed),
                1,
                "len {len} csum {csum}"
            );
            assert!(tx.recirculated.is_empty());
        }
    }
}

#[test]
fn tnl_pop_drops_malformed_packets() {
    let t = template_v4(TunnelType::Vxlan, 1, true, &[]);
    let good = push(&t, v4(UDP).packet()).data().to_vec();
    type Corrupt = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: Vec<(&str, Corrupt)> = vec![
        ("bad ip checksum", Box::new(|f| f[24] ^= 1)),
        ("bad udp checksum", Box::new(|f| f[60] ^= 1)),
        ("no I flag", Box::new(|f| f[42] = 0)),
        ("not udp", Box::new(|f| f[23] = 6)),
        ("not ip", Box::new(|f| f[12] = 0x09)),
        ("ip version", Box::new(|f| f[14] = 0x65)),
        ("short ihl", Box::new(|f| f[14] = 0x44)),
        ("fragment", Box::new(|f| f[20] = 0x20)),
        ("udp len short", Box::new(|f| f[39] = 4)),
        ("udp len long", Box::new(|f| f[38] = 0xff)),
        ("ip len long", Box::new(|f| f[16] = 0xff)),
    ];
    for (name, corrupt) in cases {
        let mut f = good.clone();
        corrupt(&mut f);
        let tx = pop(Packet::from_bytes(&f), 1);
        assert_eq!(
            tx.stats.drops_for(DropReason::TunnelPopMalformed),
            1,
            "{name}"
        );
    }
    // Geneve: bad version and unknown protocol.
    let t = template_v4(TunnelType::Geneve, 1, false, &[]);
    let good = push(&t, v4(UDP).packet()).data().to_vec();
    for (name, at, v) in [("version", 42, 0x40), ("proto", 44, 0x08)] {
        let mut f = good.clone();
        f[at] = v;
        let tx = pop(Packet::from_bytes(&f), 1);
        assert_eq!(
            tx.stats.drops_for(DropReason::TunnelPopMalformed),
            1,
            "{name}"
        );
    }
    // Geneve options longer than the packet.
    let mut f = good.clone();
    f[42] = 0x3f;
    let tx = pop(Packet::from_bytes(&f), 1);
    assert_eq!(tx.stats.drops_for(DropReason::TunnelPopMalformed), 1);
}

#[test]
fn tnl_pop_copies_when_not_last() {
    let t = template_v4(TunnelType::Vxlan, 1, false, &[]);
    let outer = push(&t, v4(UDP).packet());
    let outer_bytes = outer.data().to_vec();
    let mut tx = run(
        &[DpAction::TnlPop(TnlPop::plain(3)), DpAction::Output(1)],
        outer,
    );
    assert_eq!(tx.recirculated.len(), 1);
    assert_eq!(outputs(&mut tx)[0].1.data(), &outer_bytes[..]);
}

// ---------------------------------------------------------------------------
// TxBatches

#[test]
fn tx_batches_overflow_and_flush() {
    let mut tx = TxBatches::new();
    for i in 0..40u8 {
        tx.output(1, Packet::from_bytes(&[i; 14]));
    }
    tx.output(2, Packet::from_bytes(&[0xff; 14]));
    assert!(tx.pending_full());
    assert_eq!(tx.queued(1), 40);
    assert_eq!(tx.batch(1).unwrap().len(), MAX_BURST);
    let mut seen = Vec::new();
    tx.flush(|port, b| {
        seen.push((port, b.len()));
        if port == 1 {
            // Send all but the last of each burst.
            let last = b.drain().next_back().unwrap();
            b.push(last).unwrap();
        } else {
            b.clear();
        }
    });
    assert_eq!(seen, vec![(1, 32), (1, 8), (2, 1)]);
    assert_eq!(tx.stats.drops_for(DropReason::TxQueueFull), 2);
    assert_eq!(tx.dropped[0].0.data(), &[31u8; 14]);
    assert_eq!(tx.dropped[1].0.data(), &[39u8; 14]);
    assert_eq!(tx.queued_total(), 0);
    assert!(!tx.pending_full());
    assert_eq!(tx.stats.output, 41);
    tx.reset_stats();
    assert_eq!(tx.stats, TxStats::default());
}

#[test]
fn tx_batches_keep_order_across_overflow() {
    let mut tx = TxBatches::new();
    for i in 0..70u16 {
        tx.output(5, Packet::from_bytes(&i.to_be_bytes()));
    }
    let got: Vec<u16> = outputs(&mut tx)
        .iter()
        .map(|(_, p)| u16::from_be_bytes([p.data()[0], p.data()[1]]))
        .collect();
    assert_eq!(got, (0..70).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------
// Properties

fn arb_spec() -> impl Strategy<Value = Spec> {
    (
        (any::<bool>(), prop::sample::select(vec![TCP, UDP])),
        (any::<[u8; 4]>(), any::<[u8; 4]>(), any::<u8>(), any::<u8>()),
        (
            any::<[u8; 16]>(),
            any::<[u8; 16]>(),
            any::<u8>(),
            0u32..0x10_0000,
            any::<bool>(),
        ),
        (any::<u16>(), any::<u16>()),
        proptest::collection::vec(any::<u8>(), 0..64),
        (any::<bool>(), 0usize..3),
    )
        .prop_map(
            |(
                (is_v6, proto),
                (s4, d4, tos, ttl),
                (s6, d6, tc, label, hbh),
                (sp, dp),
                payload,
                (uz, nv),
            )| {
                let ip = if is_v6 {
                    Ip::V6 {
                        src: s6,
                        dst: d6,
                        tclass: tc,
                        label,
                        hlim: ttl,
                        hbh,
                    }
                } else {
                    Ip::V4 {
                        src: s4,
                        dst: d4,
                        tos,
                        ttl,
                        frag: 0x4000,
                    }
                };
                Spec {
                    dst_mac: [2, 0, 0, 0, 0, 1],
                    src_mac: [2, 0, 0, 0, 0, 2],
                    vlans: (0..nv).map(|i| (0x8100, i as u16)).collect(),
                    ip,
                    proto,
                    sport: sp,
                    dport: dp,
                    payload,
                    udp_zero: uz && proto == UDP,
                }
            },
        )
}

/// Random masked values for every settable field.
#[derive(Clone, Debug)]
struct RandSet {
    which: u8,
    a4: Masked<u32>,
    b4: Masked<u32>,
    tos: Masked<u8>,
    ttl: Masked<u8>,
    a6: Masked<[u8; 16]>,
    b6: Masked<[u8; 16]>,
    label: Masked<u32>,
    p1: Masked<u16>,
    p2: Masked<u16>,
}

fn arb_set() -> impl Strategy<Value = RandSet> {
    fn m<T: Arbitrary + Copy>() -> impl Strategy<Value = (T, T)> {
        (any::<T>(), any::<T>())
    }
    (
        0u8..3,
        (m::<u32>(), m::<u32>(), m::<u8>(), m::<u8>()),
        (m::<[u8; 16]>(), m::<[u8; 16]>(), m::<u32>()),
        (m::<u16>(), m::<u16>()),
    )
        .prop_map(|(which, (a4, b4, tos, ttl), (a6, b6, label), (p1, p2))| {
            // Value bits outside the mask must not matter: keep them.
            fn mk<T>((value, mask): (T, T)) -> Masked<T> {
                Masked { value, mask }
            }
            RandSet {
                which,
                a4: mk(a4),
                b4: mk(b4),
                tos: mk(tos),
                ttl: mk(ttl),
                a6: Masked {
                    value: a6.0,
                    mask: a6.1,
                },
                b6: Masked {
                    value: b6.0,
                    mask: b6.1,
                },
                label: mk(label),
                p1: mk(p1),
                p2: mk(p2),
            }
        })
}

fn ap<T>(old: T, m: &Masked<T>) -> T
where
    T: Copy + BitAnd<Output = T> + BitOr<Output = T> + Not<Output = T>,
{
    (old & !m.mask) | (m.value & m.mask)
}

fn ap16(old: [u8; 16], m: &Masked<[u8; 16]>) -> [u8; 16] {
    let mut o = old;
    for i in 0..16 {
        o[i] = (old[i] & !m.mask[i]) | (m.value[i] & m.mask[i]);
    }
    o
}

/// The action for `r` on a packet like `spec`, and `spec` as it should be
/// afterwards.
fn apply_rand(spec: &mut Spec, r: &RandSet) -> SetAction {
    match r.which {
        0 => match &mut spec.ip {
            Ip::V4 {
                src, dst, tos, ttl, ..
            } => {
                *src = ap(u32::from_be_bytes(*src), &r.a4).to_be_bytes();
                *dst = ap(u32::from_be_bytes(*dst), &r.b4).to_be_bytes();
                *tos = ap(*tos, &r.tos);
                *ttl = ap(*ttl, &r.ttl);
                SetAction::Ipv4 {
                    src: r.a4,
                    dst: r.b4,
                    tos: r.tos,
                    ttl: r.ttl,
                }
            }
            Ip::V6 {
                src,
                dst,
                tclass,
                label,
                hlim,
                ..
            } => {
                *src = ap16(*src, &r.a6);
                *dst = ap16(*dst, &r.b6);
                *tclass = ap(*tclass, &r.tos);
                *hlim = ap(*hlim, &r.ttl);
                *label = ap(*label, &r.label) & 0xf_ffff;
                SetAction::Ipv6 {
                    src: r.a6,
                    dst: r.b6,
                    label: r.label,
                    tclass: r.tos,
                    hlimit: r.ttl,
                }
            }
        },
        1 => {
            spec.sport = ap(spec.sport, &r.p1);
            spec.dport = ap(spec.dport, &r.p2);
            if spec.proto == TCP {
                SetAction::Tcp {
                    src: r.p1,
                    dst: r.p2,
                }
            } else {
                SetAction::Udp {
                    src: r.p1,
                    dst: r.p2,
                }
            }
        }
        _ => {
            let mut mac = [0u8; 16];
            mac[..6].copy_from_slice(&spec.src_mac);
            let new = ap16(mac, &r.a6);
            spec.src_mac.copy_from_slice(&new[..6]);
            let mut src = Masked::<[u8; 6]>::none();
            src.value.copy_from_slice(&r.a6.value[..6]);
            src.mask.copy_from_slice(&r.a6.mask[..6]);
            SetAction::Eth {
                src,
                dst: Masked::none(),
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_masked_sets_keep_checksums_valid(
        spec in arb_spec(),
        sets in proptest::collection::vec(arb_set(), 1..4),
    ) {
        let mut expected = spec.clone();
        let mut acts: Vec<DpAction> = sets
            .iter()
            .map(|r| DpAction::Set(apply_rand(&mut expected, r)))
            .collect();
        acts.push(DpAction::Output(1));
        let p = run_out1(&acts, spec.packet());
        verify_checksums(p.data(), spec.l3(), spec.l4());
        prop_assert_eq!(p.data(), &expected.bytes()[..]);
    }

    #[test]
    fn tunnel_push_pop_round_trips(
        spec in arb_spec(),
        vni in 0u32..0x100_0000,
        v6_outer in any::<bool>(),
        geneve in any::<bool>(),
        csum in any::<bool>(),
    ) {
        let ty = if geneve { TunnelType::Geneve } else { TunnelType::Vxlan };
        let t = if v6_outer {
            template_v6(ty, vni, &[], false)
        } else {
            template_v4(ty, vni, csum, &[])
        };
        let outer = push(&t, spec.packet());
        let tx = pop(outer, 2);
        prop_assert_eq!(tx.recirculated.len(), 1);
        prop_assert_eq!(tx.recirculated[0].data(), &spec.bytes()[..]);
        prop_assert_eq!(tx.recirculated[0].md.tunnel().tun_id, vni as u64);
    }

    #[test]
    fn no_action_panics_on_garbage(
        frame in proptest::collection::vec(any::<u8>(), 0..120),
        l3 in prop::option::of(0u16..130),
        l4 in prop::option::of(0u16..130),
        ipv4_hint in any::<bool>(),
        r in arb_set(),
    ) {
        let mut frame = frame;
        // Make IP-looking headers likely.
        if let Some(o) = l3 {
            if let Some(b) = frame.get_mut(o as usize) {
                *b = if ipv4_hint { 0x45 } else { 0x60 | (*b & 0x0f) };
            }
        }
        let mk = || {
            let mut p = Packet::from_bytes(&frame);
            p.md.l3_ofs = l3.unwrap_or(NO_OFS);
            p.md.l4_ofs = l4.unwrap_or(NO_OFS);
            p
        };
        let t4 = Arc::new(template_v4(TunnelType::Vxlan, 1, true, &[]));
        let t6 = Arc::new(template_v6(TunnelType::Geneve, 1, &[], false));
        let mut dummy = v4(UDP);
        let actions = [
            DpAction::Set(SetAction::Ipv4 { src: r.a4, dst: r.b4, tos: r.tos, ttl: r.ttl }),
            DpAction::Set(SetAction::Ipv6 { src: r.a6, dst: r.b6, label: r.label, tclass: r.tos, hlimit: r.ttl }),
            DpAction::Set(SetAction::Tcp { src: r.p1, dst: r.p2 }),
            DpAction::Set(SetAction::Udp { src: r.p1, dst: r.p2 }),
            DpAction::Set(SetAction::Sctp { src: r.p1, dst: r.p2 }),
            DpAction::Set(apply_rand(&mut dummy, &RandSet { which: 2, ..r.clone() })),
            DpAction::PushVlan { tpid: 0x8100, tci: 1 },
            DpAction::PopVlan,
            DpAction::Hash { basis: 3 },
            DpAction::TnlPush(t4),
            DpAction::TnlPush(t6),
            DpAction::TnlPop(TnlPop::plain(1)),
            DpAction::Recirc(1),
        ];
        for a in &actions {
            let mut tx = run(&[a.clone(), DpAction::Output(1)], mk());
            let _ = outputs(&mut tx);
        }
        let mut tx = run(&actions, mk());
        let _ = outputs(&mut tx);
    }
}

/// `spec` (IPv6 with a hop-by-hop header) with that header turned into
/// extension header `nh` whose bytes 2..4 are `b23`.
fn v6_with_ext(spec: &Spec, nh: u8, b23: [u8; 2]) -> Vec<u8> {
    let mut f = spec.bytes();
    let l3 = spec.l3();
    f[l3 + 6] = nh;
    f[l3 + 42..l3 + 44].copy_from_slice(&b23);
    f
}

fn v6_hbh(proto: u8) -> Spec {
    let mut s = v6(proto);
    if let Ip::V6 { hbh, .. } = &mut s.ip {
        *hbh = true;
    }
    s
}

#[test]
fn set_ipv6_dst_with_routing_header_leaves_l4_checksum() {
    let spec = v6_hbh(UDP);
    let frame = v6_with_ext(&spec, ipproto::ROUTING, [0, 1]);
    let mut pkt = Packet::from_bytes(&frame);
    pkt.md.l3_ofs = spec.l3() as u16;
    pkt.md.l4_ofs = spec.l4() as u16;
    let new_dst = outer_v6(9);
    let mut s = ipv6_set();
    if let SetAction::Ipv6 { dst, .. } = &mut s {
        *dst = ex(new_dst);
    }
    let p = run_out1(&set_then_out(s), pkt);
    let mut exp = frame.clone();
    exp[spec.l3() + 24..spec.l3() + 40].copy_from_slice(&new_dst);
    assert_eq!(p.data(), &exp[..]);

    // A source change still updates the checksum.
    let new_src = outer_v6(7);
    let mut pkt = Packet::from_bytes(&frame);
    pkt.md.l3_ofs = spec.l3() as u16;
    pkt.md.l4_ofs = spec.l4() as u16;
    let mut s = ipv6_set();
    if let SetAction::Ipv6 { src, .. } = &mut s {
        *src = ex(new_src);
    }
    let p = run_out1(&set_then_out(s), pkt);
    let exp_spec = with_v6(spec.clone(), |src, _| *src = new_src);
    let exp = v6_with_ext(&exp_spec, ipproto::ROUTING, [0, 1]);
    assert_eq!(p.data(), &exp[..]);
}

#[test]
fn set_ipv6_on_later_fragment_leaves_l4_alone() {
    let spec = v6_hbh(TCP);
    let frame = v6_with_ext(&spec, ipproto::FRAGMENT, [0x03, 0x20]);
    let mut pkt = Packet::from_bytes(&frame);
    pkt.md.l3_ofs = spec.l3() as u16;
    pkt.md.l4_ofs = spec.l4() as u16;
    let mut s = ipv6_set();
    if let SetAction::Ipv6 { src, .. } = &mut s {
        *src = ex(outer_v6(7));
    }
    let acts = [
        DpAction::Set(s),
        DpAction::Set(SetAction::Tcp {
            src: ex(1),
            dst: ex(2),
        }),
        DpAction::Output(1),
    ];
    let p = run_out1(&acts, pkt);
    let mut exp = frame.clone();
    exp[spec.l3() + 8..spec.l3() + 24].copy_from_slice(&outer_v6(7));
    assert_eq!(p.data(), &exp[..]);
}

// --- Geneve options (tun_metadata) -----------------------------------------

fn tlv_map(maps: &[(u16, u8, u8, u8)]) -> Arc<crate::tlv::TlvMap> {
    let mut m = crate::tlv::TlvMap::default();
    let v: Vec<_> = maps
        .iter()
        .map(|&(class, typ, len, idx)| crate::tlv::TlvMapping {
            class,
            typ,
            len,
            idx,
        })
        .collect();
    m.add(&v).unwrap();
    Arc::new(m)
}

fn pop_with(pkt: Packet, map: &Arc<crate::tlv::TlvMap>) -> TxBatches {
    run(
        &[DpAction::TnlPop(TnlPop {
            port: 4,
            tlv: Some(map.clone()),
        })],
        pkt,
    )
}

/// A Geneve/IPv4 packet with these raw option bytes (built by the test's
/// own header helpers, not by the code under test).
fn geneve_with_opts(opts: &[u8]) -> Packet {
    push(
        &template_v4(TunnelType::Geneve, 5001, false, opts),
        v4(UDP).packet(),
    )
}

#[test]
fn tnl_pop_fills_mapped_options_and_skips_unknown_ones() {
    // tun_metadata0 = {0x0102,0x01,len 4} at ofs 0, tun_metadata3 =
    // {0xffff,0x80 (critical, but mapped),len 8} at ofs 4.
    let map = tlv_map(&[(0x0102, 0x01, 4, 0), (0xffff, 0x80, 8, 3)]);
    let mut opts = vec![0xff, 0xff, 0x80, 0x02, 1, 2, 3, 4, 5, 6, 7, 8];
    // Unknown, not critical: skipped.
    opts.extend_from_slice(&[0x00, 0x07, 0x05, 0x01, 0xee, 0xee, 0xee, 0xee]);
    opts.extend_from_slice(&[0x01, 0x02, 0x01, 0x01, 0x00, 0x00, 0x12, 0x34]);
    let tx = pop_with(geneve_with_opts(&opts), &map);
    assert_eq!(tx.recirculated.len(), 1, "{:?}", tx.stats);
    let p = &tx.recirculated[0];
    assert_eq!(p.data(), &v4(UDP).bytes()[..]);
    assert_eq!(p.md.tunnel().md_present, 0b1001);
    let mut want = [0u8; 32];
    want[..4].copy_from_slice(&[0, 0, 0x12, 0x34]);
    want[4..12].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(p.md.tunnel().metadata, want);
    // The extractor carries them into the key.
    let mut k = crate::key::FlowKey::ZERO;
    crate::extract::extract_frame(p.data(), &p.md, &mut k);
    assert_eq!((k.tun_md_present, k.tun_metadata), (0b1001, want));
    // The same options over an IPv6 underlay.
    let v6 = push(
        &template_v6(TunnelType::Geneve, 5001, &opts, false),
        v4(UDP).packet(),
    );
    let tx = pop_with(v6, &map);
    assert_eq!(tx.recirculated.len(), 1, "{:?}", tx.stats);
    assert_eq!(tx.recirculated[0].md.tunnel().md_present, 0b1001);
    assert_eq!(tx.recirculated[0].md.tunnel().metadata, want);
    // Without the map nothing is filled and nothing is dropped (the only
    // critical option here is unknown then, though: see the next test).
    let tx = pop(geneve_with_opts(&opts[12..]), 4);
    assert_eq!(tx.recirculated.len(), 1);
    assert_eq!(tx.recirculated[0].md.tunnel().md_present, 0);
}

#[test]
fn tnl_pop_drops_unknown_critical_options() {
    let map = tlv_map(&[(0x0102, 0x01, 4, 0)]);
    let opts = [0x01, 0x02, 0x81, 0x01, 0, 0, 0, 1];
    for tx in [
        pop_with(geneve_with_opts(&opts), &map),
        pop(geneve_with_opts(&opts), 4),
    ] {
        assert!(tx.recirculated.is_empty());
        assert_eq!(tx.stats.drops_for(DropReason::TunnelPopOption), 1);
    }
}

#[test]
fn tnl_pop_drops_mapped_options_of_the_wrong_length() {
    let map = tlv_map(&[(0x0102, 0x01, 8, 0)]);
    let opts = [0x01, 0x02, 0x01, 0x01, 0, 0, 0, 1];
    let tx = pop_with(geneve_with_opts(&opts), &map);
    assert!(tx.recirculated.is_empty());
    assert_eq!(tx.stats.drops_for(DropReason::TunnelPopOption), 1);
}

#[test]
fn tnl_pop_drops_truncated_options() {
    let map = tlv_map(&[(0x0102, 0x01, 4, 0)]);
    // opt_len says 8 bytes; the option claims 8 bytes of data after its
    // 4-byte header: it runs past the option area.
    let opts = [0x01, 0x02, 0x01, 0x02, 0, 0, 0, 1];
    let tx = pop_with(geneve_with_opts(&opts), &map);
    assert!(tx.recirculated.is_empty());
    assert_eq!(tx.stats.drops_for(DropReason::TunnelPopMalformed), 1);
    // An option area too short for an option header (opt_len 1 word
    // holds only the header, so make the header claim data).
    let opts = [0x01, 0x02, 0x01, 0x01];
    let tx = pop_with(geneve_with_opts(&opts), &map);
    assert_eq!(tx.stats.drops_for(DropReason::TunnelPopMalformed), 1);
    // opt_len runs past the UDP payload: the frame is malformed.
    let mut f = geneve_with_opts(&[]).data().to_vec();
    f[42] = 0x3f;
    let tx = pop_with(Packet::from_bytes(&f), &map);
    assert_eq!(tx.stats.drops_for(DropReason::TunnelPopMalformed), 1);
}

proptest! {
    /// Any option bytes: never a panic, never a read outside the area,
    /// and a packet either recirculates with only mapped bits present or
    /// is dropped for an option reason.
    #[test]
    fn geneve_options_never_panic(opts in prop::collection::vec(any::<u8>(), 0..64)) {
        let map = tlv_map(&[(0x0102, 0x01, 4, 0), (0x0102, 0x02, 16, 7)]);
        let mut t = TunnelMeta::default();
        match geneve_options(&opts, Some(&map), &mut t) {
            Ok(()) => prop_assert_eq!(t.md_present & !0x81, 0),
            Err(r) => prop_assert!(matches!(
                r,
                DropReason::TunnelPopOption | DropReason::TunnelPopMalformed
            )),
        }
    }
}

/// `execute_batch` on a run gives what `execute` gives packet by packet:
/// the same frames on the same ports in the same order, the same drops.
/// Covers the run paths (rewrites then one output or encapsulation), in
/// runs longer than a burst, with packets that must be dropped mid-run.
#[test]
fn execute_batch_matches_execute_per_packet() {
    // A template whose own length and checksum words are not zero: the
    // encapsulation must take them out of the header checksum.
    let mut dirty = template_v4(TunnelType::Vxlan, 7, false, &[]);
    let mut h = dirty.header.to_vec();
    h[14 + 2..14 + 4].copy_from_slice(&[0x12, 0x34]);
    h[14 + 10..14 + 12].copy_from_slice(&[0xab, 0xcd]);
    dirty.header = h.into_boxed_slice();
    let mut broken = template_v4(TunnelType::Vxlan, 7, false, &[]);
    broken.header = broken.header[..20].to_vec().into_boxed_slice();
    let lists: Vec<Vec<DpAction>> = vec![
        vec![
            DpAction::PushVlan {
                tpid: 0x8100,
                tci: 0x1005,
            },
            DpAction::Output(3),
        ],
        set_then_out(ipv4_set(
            ex(0x0a00_0009),
            Masked::default(),
            ex(4),
            Masked::default(),
        )),
        vec![DpAction::TnlPush(Arc::new(template_v4(
            TunnelType::Vxlan,
            9,
            true,
            &[],
        )))],
        vec![DpAction::TnlPush(Arc::new(dirty))],
        vec![DpAction::TnlPush(Arc::new(broken))],
        vec![
            DpAction::Set(none4()),
            DpAction::TnlPush(Arc::new(template_v6(TunnelType::Geneve, 3, &[], false))),
        ],
    ];
    // Every fifth packet has no headroom left: pushes must drop it.
    let packet = |i: usize| {
        let mut p = v4(if i.is_multiple_of(2) { UDP } else { TCP }).packet();
        if i % 5 == 4 {
            // The same frame at the very start of its buffer.
            let (room, len, md) = (p.headroom(), p.len(), p.md);
            p.push_head(room).unwrap();
            p.data_mut().copy_within(room..room + len, 0);
            p.set_len(len).unwrap();
            p.md = md;
            assert_eq!(p.headroom(), 0);
        }
        p
    };
    let drops = [8, 0, 8, 8, 40, 8];
    for (actions, drops) in lists.iter().zip(drops) {
        let mut one = TxBatches::new();
        for i in 0..40 {
            execute(actions, packet(i), &mut one);
        }
        let mut batch = TxBatches::new();
        execute_batch(actions, (0..40).map(packet), &mut batch);
        let a: Vec<(u32, Vec<u8>)> = outputs(&mut one)
            .into_iter()
            .map(|(port, p)| (port, p.data().to_vec()))
            .collect();
        let b: Vec<(u32, Vec<u8>)> = outputs(&mut batch)
            .into_iter()
            .map(|(port, p)| (port, p.data().to_vec()))
            .collect();
        assert_eq!(a, b, "{actions:?}");
        assert_eq!(one.dropped.len(), drops, "{actions:?}");
        assert_eq!(batch.dropped.len(), drops, "{actions:?}");
        assert_eq!(a.len(), 40 - drops, "{actions:?}");
        assert_eq!(one.stats, batch.stats, "{actions:?}");
        for (_, f) in &a {
            // Every encapsulated IPv4 frame has a valid header checksum.
            if f.len() > 34 && f[12..14] == [0x08, 0x00] && f[23] == 17 && f.len() > 60 {
                assert_eq!(ref_csum(&f[14..34]), 0, "{actions:?}");
            }
        }
    }
}
