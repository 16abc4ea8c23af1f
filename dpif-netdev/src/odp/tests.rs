//! Tests of the dpctl text form: exact strings, round trips, errors and
//! properties.

use super::tnl::{GeneveOpt, Hdr, Tun, L3};
use super::*;
use crate::actions::{Masked, SetAction, TnlPush, TunnelType};
use crate::key::{ethertype, ipproto, VLAN_CFI};
use crate::packet::{tun_flags, TunnelMeta};
use proptest::prelude::*;
use std::sync::Arc;

fn ip(s: &str) -> u32 {
    u32::from(s.parse::<std::net::Ipv4Addr>().unwrap())
}
fn ip6(s: &str) -> [u8; 16] {
    s.parse::<std::net::Ipv6Addr>().unwrap().octets()
}

fn udp_key() -> FlowKey {
    let mut k = FlowKey::ZERO;
    k.in_port = 1;
    k.eth_src = [0, 0, 0, 0, 0, 1];
    k.eth_dst = [0, 0, 0, 0, 0, 2];
    k.eth_type = ethertype::IPV4;
    k.nw_src = ip("10.0.0.1");
    k.nw_dst = ip("10.1.2.3");
    k.nw_proto = ipproto::UDP;
    k.nw_ttl = 64;
    k.tp_src = 1234;
    k.tp_dst = 53;
    k
}

fn check_key_rt(k: &FlowKey, m: &FlowMask) {
    let s = format_key(k, Some(m));
    let (k2, m2) = parse_key(&s).unwrap_or_else(|e| panic!("{s}: {e}"));
    assert_eq!(m2, *m, "mask differs for {s}");
    assert_eq!(
        k2,
        k.masked(m),
        "key differs for {s}: {}",
        format_key(&k2, Some(&m2))
    );
}

#[test]
fn exact_udp_key() {
    let k = udp_key();
    let s = format_key(&k, None);
    assert_eq!(
        s,
        "recirc_id(0),in_port(1),eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02),eth_type(0x0800),\
         ipv4(src=10.0.0.1,dst=10.1.2.3,proto=17,tos=0,ttl=64,frag=no),udp(src=1234,dst=53)"
    );
    let (k2, m2) = parse_key(&s).unwrap();
    assert_eq!(m2, relevant_mask(&k));
    assert_eq!(k2, k.masked(&m2));
    assert_eq!(format_key(&k2, Some(&m2)), s);
    assert_eq!(format!("{k:?}"), format!("FlowKey({s})"));
}

#[test]
fn masked_udp_megaflow_line() {
    let k = udp_key();
    let mut m = FlowMask::default();
    m.0.recirc_id = u32::MAX;
    m.0.in_port = u32::MAX;
    m.0.eth_type = 0xffff;
    m.0.vlan_tci[0] = 0xffff;
    m.0.nw_dst = 0xff00_0000;
    m.0.nw_proto = 0xff;
    m.0.nw_frag = 0xff;
    m.0.tp_dst = 0xffff;
    let f = Megaflow::new(&k, m, vec![DpAction::Output(2)], 1);
    f.stats.add(10, 640, 1000, 0);
    let line = format_flow(&f, 1500);
    assert_eq!(
        line,
        "recirc_id(0),in_port(1),eth_type(0x0800),ipv4(dst=10.0.0.0/255.0.0.0,proto=17,frag=no),\
         udp(dst=53), packets:10, bytes:640, used:0.500s, actions:2"
    );
    let (k2, m2, a) = parse_flow(&line).unwrap();
    assert_eq!((k2, m2, a), (f.key, f.mask, f.actions.clone()));
    let (k3, m3, _) = parse_flow("recirc_id(0),in_port(1),eth_type(0x0800),ipv4(dst=10.0.0.0/8,proto=17,frag=no),udp(dst=53) actions:2").unwrap();
    assert_eq!((k3, m3), (f.key, f.mask));
}

#[test]
fn stats_forms() {
    let s = StatsSnapshot {
        packets: 1,
        bytes: 60,
        used: 0,
        tcp_flags: 0,
    };
    assert_eq!(format_stats(&s, 5), "packets:1, bytes:60, used:never");
    let s = StatsSnapshot {
        used: 996,
        tcp_flags: 0x12,
        ..s
    };
    assert_eq!(
        format_stats(&s, 1000),
        "packets:1, bytes:60, used:0.004s, flags:S."
    );
    let f = Megaflow::new(
        &udp_key(),
        FlowMask::default(),
        vec![],
        0x0123_4567_89ab_cdef_0011_2233_4455_6677,
    );
    let names = |p: u32| (p == 2).then(|| "br0".to_string());
    let opts = FormatOptions {
        port_names: Some(&names),
        ufid: true,
    };
    assert_eq!(
        format_flow_with(&f, 0, &opts),
        "ufid:01234567-89ab-cdef-0011-223344556677, , packets:0, bytes:0, used:never, actions:drop"
    );
    assert_eq!(
        format_actions_with(&[DpAction::Output(2), DpAction::Output(3)], Some(&names)),
        "br0,3"
    );
}

#[test]
fn vlan_and_qinq() {
    let mut k = udp_key();
    k.vlan_tpid[0] = ethertype::VLAN;
    k.vlan_tci[0] = VLAN_CFI | 10;
    let s = format_key(&k, None);
    assert!(
        s.contains("eth_type(0x8100),vlan(vid=10,pcp=0),encap(eth_type(0x0800),ipv4(src=10.0.0.1,dst=10.1.2.3,proto=17,tos=0,ttl=64,frag=no),udp(src=1234,dst=53))"),
        "{s}"
    );
    check_key_rt(&k, &relevant_mask(&k));
    k.vlan_tpid = [ethertype::QINQ, ethertype::VLAN];
    k.vlan_tci = [VLAN_CFI | 100 | (3 << 13), VLAN_CFI | 20];
    let s = format_key(&k, None);
    assert!(
        s.contains("eth_type(0x88a8),vlan(vid=100,pcp=3),encap(eth_type(0x8100),vlan(vid=20,pcp=0),encap(eth_type(0x0800),ipv4("),
        "{s}"
    );
    check_key_rt(&k, &relevant_mask(&k));
    // Masked: only the outer vid matters.
    let mut m = FlowMask::default();
    m.0.vlan_tci[0] = VLAN_CFI | 0xfff;
    m.0.in_port = u32::MAX;
    assert_eq!(format_key(&k, Some(&m)), "in_port(1),vlan(vid=100),encap()");
    check_key_rt(&k, &m);
}

#[test]
fn arp_nd_icmp_tcp() {
    let mut k = FlowKey::ZERO;
    k.eth_type = ethertype::ARP;
    k.nw_src = ip("10.0.0.1");
    k.nw_dst = ip("10.0.0.2");
    k.nw_proto = 1;
    k.arp_sha = [0, 0, 0, 0, 0, 1];
    let s = format_key(&k, None);
    assert!(s.ends_with(
        "eth_type(0x0806),arp(sip=10.0.0.1,tip=10.0.0.2,op=1,sha=00:00:00:00:00:01,tha=00:00:00:00:00:00)"
    ));
    check_key_rt(&k, &relevant_mask(&k));

    let mut k = FlowKey::ZERO;
    k.eth_type = ethertype::IPV6;
    k.ipv6_src = ip6("fe80::1");
    k.ipv6_dst = ip6("ff02::1:ff00:2");
    k.nw_proto = ipproto::ICMPV6;
    k.nw_ttl = 255;
    k.tp_src = 135;
    k.nd_target = ip6("fe80::2");
    k.arp_sha = [0, 0, 0, 0, 0, 1];
    let s = format_key(&k, None);
    assert!(
        s.ends_with(
            "eth_type(0x86dd),ipv6(src=fe80::1,dst=ff02::1:ff00:2,label=0,proto=58,tclass=0,hlimit=255,frag=no),\
             icmpv6(type=135,code=0),nd(target=fe80::2,sll=00:00:00:00:00:01,tll=00:00:00:00:00:00)"
        ),
        "{s}"
    );
    check_key_rt(&k, &relevant_mask(&k));

    let mut k = udp_key();
    k.nw_proto = ipproto::ICMP;
    k.tp_src = 8;
    k.tp_dst = 0;
    assert!(format_key(&k, None).ends_with("icmp(type=8,code=0)"));
    k.nw_proto = ipproto::TCP;
    k.tcp_flags = 0x12;
    assert!(format_key(&k, None).ends_with("tcp(src=8,dst=0),tcp_flags(syn|ack)"));
    let mut m = relevant_mask(&k);
    m.0.tcp_flags = 0x17;
    assert!(format_key(&k, Some(&m)).ends_with("tcp_flags(-fin+syn-rst+ack)"));
    check_key_rt(&k, &m);
    k.tcp_flags = 0;
    assert!(format_key(&k, None).ends_with("tcp_flags(0)"));
    k.nw_proto = ipproto::SCTP;
    assert!(format_key(&k, None).ends_with("sctp(src=8,dst=0)"));
}

#[test]
fn tunnel_key() {
    let mut k = udp_key();
    k.tun_id = 5;
    k.tun_ipv4_src = ip("1.1.1.1");
    k.tun_ipv4_dst = ip("2.2.2.2");
    k.tun_ttl = 64;
    k.tun_tp_dst = 4789;
    k.tun_flags = tun_flags::KEY;
    let s = format_key(&k, None);
    assert!(
        s.starts_with(
            "tunnel(tun_id=0x5,src=1.1.1.1,dst=2.2.2.2,tos=0,ttl=64,tp_src=0,tp_dst=4789,flags(-df-csum+key)),recirc_id(0),in_port(1),"
        ),
        "{s}"
    );
    check_key_rt(&k, &relevant_mask(&k));
    let mut m = FlowMask::default();
    m.0.tun_id = u64::MAX;
    m.0.tun_ipv4_dst = u32::MAX;
    m.0.tun_flags = tun_flags::KEY;
    assert_eq!(
        format_key(&k, Some(&m)),
        "tunnel(tun_id=0x5,dst=2.2.2.2,flags(+key))"
    );
    check_key_rt(&k, &m);
    k.tun_ipv4_src = 0;
    k.tun_ipv4_dst = 0;
    k.tun_ipv6_src = ip6("2001:db8::1");
    k.tun_ipv6_dst = ip6("2001:db8::2");
    k.tun_flags |= tun_flags::OAM;
    let s = format_key(&k, None);
    assert!(
        s.contains("ipv6_src=2001:db8::1,ipv6_dst=2001:db8::2,"),
        "{s}"
    );
    assert!(s.contains("flags(-df-csum+key+oam)"), "{s}");
    check_key_rt(&k, &relevant_mask(&k));
    // Geneve option data: presence bits and the raw option area.
    k.tun_md_present = 0x5;
    k.tun_metadata[..4].copy_from_slice(&[0, 0, 0x12, 0x34]);
    check_key_rt(&k, &relevant_mask(&k));
    let mut m = FlowMask::default();
    m.0.tun_md_present = 0x1;
    m.0.tun_metadata[2..4].copy_from_slice(&[0xff, 0x00]);
    assert_eq!(
        format_key(&k, Some(&m)),
        "tunnel(md_present=0x1/0x1,md=0x000012/0x0000ff)"
    );
    check_key_rt(&k, &m);
    m.0.tun_metadata[..4].fill(0xff);
    assert_eq!(
        format_key(&k, Some(&m)),
        "tunnel(md_present=0x1/0x1,md=0x00001234)"
    );
    check_key_rt(&k, &m);
}

#[test]
fn tnl_pop_with_a_tlv_map() {
    let mut map = crate::tlv::TlvMap::default();
    map.add(&crate::tlv::parse_mappings("{class=0xffff,type=0,len=4}->tun_metadata0").unwrap())
        .unwrap();
    let a = vec![DpAction::TnlPop(crate::actions::TnlPop {
        port: 3,
        tlv: Some(Arc::new(map)),
    })];
    let s = format_actions(&a);
    assert_eq!(
        s,
        "tnl_pop(3,tlv({class=0xffff,type=0x0,len=4,ofs=0}->tun_metadata0))"
    );
    assert_eq!(parse_actions(&s).unwrap(), a);
    assert!(parse_actions("tnl_pop(3,tlv({class=1,type=0,len=4}->tun_metadata0))").is_err());
    assert!(parse_actions("tnl_pop(3,map(x))").is_err());
}

#[test]
fn parse_err_and_dp_hash() {
    let mut k = udp_key();
    k.parse_err = 0x10;
    k.dp_hash = 0xabcd;
    let s = format_key(&k, None);
    assert!(
        s.starts_with("recirc_id(0),dp_hash(0xabcd),in_port(1),parse_err(0x10),eth("),
        "{s}"
    );
    check_key_rt(&k, &relevant_mask(&k));
}

#[test]
fn frag_forms() {
    let mut k = udp_key();
    let mut m = relevant_mask(&k);
    for (v, t) in [
        (0, "frag=no"),
        (1, "frag=first"),
        (3, "frag=later"),
        (2, "frag=0x2"),
    ] {
        k.nw_frag = v;
        assert!(format_key(&k, Some(&m)).contains(t));
        check_key_rt(&k, &m);
    }
    m.0.nw_frag = 1;
    k.nw_frag = 1;
    assert!(format_key(&k, Some(&m)).contains("frag=0x1/0x1"));
    check_key_rt(&k, &m);
}

fn vxlan_push(v6: bool) -> TnlPush {
    let l3 = if v6 {
        L3::V6 {
            src: ip6("2001:db8::1"),
            dst: ip6("2001:db8::2"),
            label: 0,
            proto: 17,
            tclass: 0,
            hlimit: 64,
        }
    } else {
        L3::V4 {
            src: ip("1.1.1.1"),
            dst: ip("2.2.2.2"),
            proto: 17,
            tos: 0,
            ttl: 64,
            frag: 0x4000,
        }
    };
    let h = Hdr {
        eth_dst: [0, 0, 0, 0, 0, 2],
        eth_src: [0, 0, 0, 0, 0, 1],
        l3,
        udp_src: 0,
        udp_dst: 4789,
        udp_csum: 0,
        tun: Tun::Vxlan {
            flags: 0x0800_0000,
            vni: 5,
        },
    };
    TnlPush {
        tnl_port: 4,
        out_port: 1,
        tnl_type: TunnelType::Vxlan,
        header: h.encode().unwrap().into_boxed_slice(),
        ipv6: v6,
        udp_csum: false,
    }
}

#[test]
fn tnl_push_text() {
    let a = vec![DpAction::TnlPush(Arc::new(vxlan_push(false)))];
    let s = format_actions(&a);
    assert_eq!(
        s,
        "tnl_push(tnl_port(4),header(size=50,type=4,eth(dst=00:00:00:00:00:02,src=00:00:00:00:00:01,dl_type=0x0800),\
         ipv4(src=1.1.1.1,dst=2.2.2.2,proto=17,tos=0,ttl=64,frag=0x4000),udp(src=0,dst=4789,csum=0x0),\
         vxlan(flags=0x8000000,vni=0x5)),out_port(1))"
    );
    assert_eq!(parse_actions(&s).unwrap(), a);
    let a = vec![DpAction::TnlPush(Arc::new(vxlan_push(true)))];
    let s = format_actions(&a);
    assert!(
        s.contains("size=70,type=4,eth(dst=00:00:00:00:00:02,src=00:00:00:00:00:01,dl_type=0x86dd),ipv6(src=2001:db8::1,dst=2001:db8::2,label=0,proto=17,tclass=0x0,hlimit=64),"),
        "{s}"
    );
    assert_eq!(parse_actions(&s).unwrap(), a);
    // Geneve with an option.
    let h = Hdr {
        tun: Tun::Geneve {
            oam: false,
            crit: true,
            vni: 0x10,
            opts: vec![GeneveOpt {
                class: 0x102,
                typ: 0x80,
                data: vec![0, 2, 0, 7],
            }],
        },
        ..Hdr::decode(&vxlan_push(false).header, TunnelType::Vxlan).unwrap()
    };
    let p = TnlPush {
        tnl_type: TunnelType::Geneve,
        header: h.encode().unwrap().into_boxed_slice(),
        ..vxlan_push(false)
    };
    let a = vec![DpAction::TnlPush(Arc::new(p))];
    let s = format_actions(&a);
    assert!(s.contains("type=5,"), "{s}");
    assert!(
        s.contains("geneve(crit,vni=0x10,options({class=0x102,type=0x80,len=4,0x20007}))"),
        "{s}"
    );
    assert_eq!(parse_actions(&s).unwrap(), a);
    // A template that is not canonical prints raw and still round trips.
    let mut p = vxlan_push(false);
    p.header = vec![1, 2, 3].into_boxed_slice();
    p.udp_csum = true;
    let a = vec![DpAction::TnlPush(Arc::new(p))];
    let s = format_actions(&a);
    assert_eq!(
        s,
        "tnl_push(tnl_port(4),header(size=3,type=4,raw=0x010203,ipv6=0,udp_csum=1),out_port(1))"
    );
    assert_eq!(parse_actions(&s).unwrap(), a);
}

#[test]
fn action_texts() {
    let a = vec![
        DpAction::Set(SetAction::Eth {
            src: Masked::<[u8; 6]>::exact([0, 0, 0, 0, 0, 1]),
            dst: Masked::none(),
        }),
        DpAction::Set(SetAction::Ipv4 {
            src: Masked::<u32>::exact(ip("1.1.1.1")),
            dst: Masked::none(),
            tos: Masked {
                value: 0x20,
                mask: 0xfc,
            },
            ttl: Masked::<u8>::exact(63),
        }),
        DpAction::PushVlan {
            tpid: ethertype::VLAN,
            tci: 10,
        },
        DpAction::PushVlan {
            tpid: ethertype::QINQ,
            tci: 10 | VLAN_CFI | (5 << 13),
        },
        DpAction::PopVlan,
        DpAction::Recirc(1),
        DpAction::Hash { basis: 0 },
        DpAction::TnlPop(crate::actions::TnlPop::plain(4)),
        DpAction::Userspace { cookie: 0xff },
        DpAction::Set(SetAction::Tunnel(TunnelMeta {
            tun_id: 5,
            ipv4_dst: ip("2.2.2.2"),
            ttl: 64,
            tp_dst: 4789,
            flags: tun_flags::KEY,
            ..Default::default()
        })),
        DpAction::Output(2),
    ];
    let s = format_actions(&a);
    assert_eq!(
        s,
        "set(eth(src=00:00:00:00:00:01)),set(ipv4(src=1.1.1.1,tos=0x20/0xfc,ttl=63)),push_vlan(vid=10,pcp=0),\
         push_vlan(tpid=0x88a8,vid=10,pcp=5,cfi=1),pop_vlan,recirc(0x1),hash(l4(0)),tnl_pop(4),\
         userspace(cookie=0xff),set(tunnel(tun_id=0x5,dst=2.2.2.2,ttl=64,tp_dst=4789,flags(-df-csum+key))),2"
    );
    assert_eq!(parse_actions(&s).unwrap(), a);
    assert_eq!(format_actions(&[]), "drop");
    assert_eq!(parse_actions("drop").unwrap(), vec![]);
}

#[test]
fn errors_name_token_and_offset() {
    let e = parse_key("recirc_id(0),ipv5(src=1.1.1.1)").unwrap_err();
    assert_eq!(e.to_string(), "unknown attribute \"ipv5\" at offset 13");
    let e = parse_key("ipv4(src=1.1.1.300)").unwrap_err();
    assert_eq!(e.to_string(), "bad IPv4 address \"1.1.1.300\" at offset 9");
    let e = parse_key("ipv4(srcc=1.1.1.1)").unwrap_err();
    assert!(
        matches!(e, OdpParseError::UnknownField { offset: 5, .. }),
        "{e}"
    );
    assert!(parse_key("in_port(1").is_err());
    assert!(parse_key("in_port(99999999999)").is_err());
    assert!(parse_key("vlan(vid=1),encap(vlan(vid=2),encap(vlan(vid=3)))").is_err());
    assert!(parse_key("encap(eth_type(0x0800))").is_err());
    assert!(parse_key("eth(src=00:00:00:00:00)").is_err());
    assert!(parse_key("tcp_flags(syn|bogus)").is_err());
    assert!(parse_key("in_port(1) junk").is_err());
    let e = parse_actions("2,frobnicate").unwrap_err();
    assert_eq!(e.to_string(), "unknown action \"frobnicate\" at offset 2");
    assert!(parse_actions("").is_err());
    assert!(parse_actions("2,").is_err());
    assert!(parse_actions("push_vlan(vid=4096)").is_err());
    assert!(parse_actions("hash(l3(0))").is_err());
    assert!(
        parse_actions("tnl_push(tnl_port(4),header(size=3,type=9,raw=0x010203),out_port(1))")
            .is_err()
    );
    assert!(
        parse_actions("tnl_push(tnl_port(4),header(size=4,type=4,raw=0x010203),out_port(1))")
            .is_err()
    );
    assert!(parse_flow("in_port(1), packets:1").is_err());
    assert!(parse_flow("in_port(1), bogus:1, actions:2").is_err());
}

// ------------------------------------------------------------- properties

/// A tiny deterministic RNG so that one seed builds a whole consistent
/// key/mask pair.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0u8; N];
        a.iter_mut().for_each(|b| *b = self.next() as u8);
        a
    }
    /// 0, all ones, or a partial mask of `full`'s bits (never all of them).
    fn mask(&mut self, all: u64, full: u64) -> u64 {
        match self.below(3) {
            0 => 0,
            1 => all,
            _ => {
                let r = self.next() & full;
                if r == full {
                    0
                } else {
                    r
                }
            }
        }
    }
    fn bmask<const N: usize>(&mut self) -> [u8; N] {
        match self.below(3) {
            0 => [0; N],
            1 => [0xff; N],
            _ => self.bytes(),
        }
    }
}

/// A random key and a mask that follows the printer's conventions.
fn random_key_mask(seed: u64) -> (FlowKey, FlowMask) {
    let mut r = Rng(seed | 1);
    let mut k = FlowKey::ZERO;
    let mut m = FlowKey::ZERO;
    macro_rules! num {
        ($f:ident, $t:ty, $full:expr) => {{
            k.$f = r.next() as $t;
            m.$f = r.mask(<$t>::MAX as u64, $full) as $t;
        }};
    }
    macro_rules! arr {
        ($f:ident) => {{
            k.$f = r.bytes();
            m.$f = r.bmask();
        }};
    }
    if r.below(2) == 0 {
        num!(tun_id, u64, u64::MAX);
        if r.below(2) == 0 {
            num!(tun_ipv4_src, u32, u32::MAX as u64);
            num!(tun_ipv4_dst, u32, u32::MAX as u64);
        } else {
            arr!(tun_ipv6_src);
            arr!(tun_ipv6_dst);
        }
        num!(tun_tos, u8, 0xff);
        num!(tun_ttl, u8, 0xff);
        num!(tun_tp_src, u16, 0xffff);
        num!(tun_tp_dst, u16, 0xffff);
        if r.below(2) == 0 {
            num!(tun_md_present, u8, 0xff);
            arr!(tun_metadata);
        }
        k.tun_flags = r.next() as u16 & 0x1e;
        m.tun_flags = match r.below(3) {
            0 => 0,
            1 => u16::MAX,
            _ => {
                let s = r.next() as u16 & 0x1e;
                if s & 0x0e == 0x0e {
                    s & 0x16
                } else {
                    s
                }
            }
        };
    }
    num!(recirc_id, u32, u32::MAX as u64);
    num!(in_port, u32, u32::MAX as u64);
    num!(dp_hash, u32, u32::MAX as u64);
    num!(parse_err, u8, 0xff);
    arr!(eth_src);
    arr!(eth_dst);
    let nv = r.below(3) as usize;
    for i in 0..nv {
        k.vlan_tpid[i] = r.next() as u16;
        m.vlan_tpid[i] = r.mask(0xffff, 0xffff) as u16;
        k.vlan_tci[i] = r.next() as u16 | VLAN_CFI;
        m.vlan_tci[i] = VLAN_CFI | r.mask(0xfff, 0xfff) as u16 | ((r.mask(7, 7) as u16) << 13);
    }
    k.eth_type = [
        ethertype::IPV4,
        ethertype::IPV6,
        ethertype::ARP,
        ethertype::RARP,
        r.next() as u16,
    ][r.below(5) as usize];
    m.eth_type = if r.below(8) == 0 { 0 } else { 0xffff };
    if m.eth_type != 0 && nv < 2 {
        m.vlan_tci[nv] = 0xffff;
    }
    if m.eth_type == 0 {
        return (k, FlowMask(m));
    }
    let ip = matches!(k.eth_type, ethertype::IPV4 | ethertype::IPV6);
    match k.eth_type {
        ethertype::IPV4 => {
            num!(nw_src, u32, u32::MAX as u64);
            num!(nw_dst, u32, u32::MAX as u64);
        }
        ethertype::IPV6 => {
            arr!(ipv6_src);
            arr!(ipv6_dst);
            num!(ipv6_label, u32, 0xfffff);
        }
        ethertype::ARP | ethertype::RARP => {
            num!(nw_src, u32, u32::MAX as u64);
            num!(nw_dst, u32, u32::MAX as u64);
            num!(nw_proto, u8, 0xff);
            arr!(arp_sha);
            arr!(arp_tha);
        }
        _ => {}
    }
    if !ip {
        return (k, FlowMask(m));
    }
    num!(nw_tos, u8, 0xff);
    num!(nw_ttl, u8, 0xff);
    num!(nw_frag, u8, 0x3);
    k.nw_proto = [6, 17, 132, 1, 58, r.next() as u8][r.below(6) as usize];
    m.nw_proto = if r.below(6) == 0 { 0 } else { 0xff };
    if m.nw_proto == 0 {
        return (k, FlowMask(m));
    }
    let v4 = k.eth_type == ethertype::IPV4;
    match k.nw_proto {
        6 => {
            num!(tp_src, u16, 0xffff);
            num!(tp_dst, u16, 0xffff);
            num!(tcp_flags, u16, 0xfff);
        }
        17 | 132 => {
            num!(tp_src, u16, 0xffff);
            num!(tp_dst, u16, 0xffff);
        }
        1 if v4 => {
            num!(tp_src, u16, 0xff);
            num!(tp_dst, u16, 0xff);
        }
        58 if !v4 => {
            num!(tp_src, u16, 0xff);
            num!(tp_dst, u16, 0xff);
            if r.below(2) == 0 {
                k.tp_src = 135 + r.below(2) as u16;
                m.tp_src = 0xffff;
                arr!(nd_target);
                arr!(arp_sha);
                arr!(arp_tha);
            }
        }
        _ => {}
    }
    (k, FlowMask(m))
}

fn random_masked<const N: usize>(r: &mut Rng) -> Masked<[u8; N]> {
    let mask = r.bmask::<N>();
    let mut value = r.bytes::<N>();
    value.iter_mut().zip(mask).for_each(|(v, m)| *v &= m);
    Masked { value, mask }
}

macro_rules! rmask {
    ($r:expr, $t:ty) => {{
        let mask = $r.mask(<$t>::MAX as u64, <$t>::MAX as u64) as $t;
        Masked {
            value: $r.next() as $t & mask,
            mask,
        }
    }};
}

fn random_action(r: &mut Rng) -> DpAction {
    match r.below(12) {
        0 => DpAction::Output(r.next() as u32),
        1 => DpAction::Set(SetAction::Eth {
            src: random_masked(r),
            dst: random_masked(r),
        }),
        2 => {
            let mut ipm = || {
                let mask = match r.below(3) {
                    0 => 0,
                    1 => u32::MAX,
                    _ => r.next() as u32,
                };
                Masked {
                    value: r.next() as u32 & mask,
                    mask,
                }
            };
            let (src, dst) = (ipm(), ipm());
            DpAction::Set(SetAction::Ipv4 {
                src,
                dst,
                tos: rmask!(r, u8),
                ttl: rmask!(r, u8),
            })
        }
        3 => DpAction::Set(SetAction::Ipv6 {
            src: random_masked(r),
            dst: random_masked(r),
            label: rmask!(r, u32),
            tclass: rmask!(r, u8),
            hlimit: rmask!(r, u8),
        }),
        4 => {
            let (src, dst) = (rmask!(r, u16), rmask!(r, u16));
            DpAction::Set(match r.below(3) {
                0 => SetAction::Tcp { src, dst },
                1 => SetAction::Udp { src, dst },
                _ => SetAction::Sctp { src, dst },
            })
        }
        5 => DpAction::Set(SetAction::Tunnel(TunnelMeta {
            tun_id: r.next(),
            ipv4_src: r.next() as u32 * r.below(2) as u32,
            ipv4_dst: r.next() as u32 * r.below(2) as u32,
            ipv6_src: if r.below(2) == 0 { [0; 16] } else { r.bytes() },
            ipv6_dst: if r.below(2) == 0 { [0; 16] } else { r.bytes() },
            tos: r.next() as u8,
            ttl: r.next() as u8,
            tp_src: r.next() as u16,
            tp_dst: r.next() as u16,
            flags: r.next() as u16 & 0x1e,
            ..TunnelMeta::default()
        })),
        6 => DpAction::PushVlan {
            tpid: [ethertype::VLAN, ethertype::QINQ, r.next() as u16][r.below(3) as usize],
            tci: r.next() as u16,
        },
        7 => DpAction::PopVlan,
        8 => DpAction::Recirc(r.next() as u32),
        9 => DpAction::Hash {
            basis: r.next() as u32,
        },
        10 => {
            if r.below(2) == 0 {
                let mut t = crate::actions::TnlPop::plain(r.next() as u32);
                if r.below(2) == 0 {
                    let mut map = crate::tlv::TlvMap::default();
                    map.add(
                        &[
                            crate::tlv::TlvMapping {
                                class: r.next() as u16,
                                typ: 0,
                                len: 4 * (1 + r.below(4) as u8),
                                idx: r.below(8) as u8,
                            },
                            crate::tlv::TlvMapping {
                                class: 0xffff,
                                typ: 0x80 | r.next() as u8,
                                len: 4,
                                idx: r.below(8) as u8,
                            },
                        ][..1 + (r.below(2) as usize)],
                    )
                    .ok();
                    t.tlv = Some(Arc::new(map));
                }
                DpAction::TnlPop(t)
            } else {
                DpAction::Userspace { cookie: r.next() }
            }
        }
        _ => DpAction::TnlPush(Arc::new(random_push(r))),
    }
}

fn random_push(r: &mut Rng) -> TnlPush {
    let tnl_port = r.next() as u32;
    let out_port = r.next() as u32;
    if r.below(5) == 0 {
        let n = r.below(80) as usize;
        return TnlPush {
            tnl_port,
            out_port,
            tnl_type: if r.below(2) == 0 {
                TunnelType::Vxlan
            } else {
                TunnelType::Geneve
            },
            header: (0..n).map(|_| r.next() as u8).collect(),
            ipv6: r.below(2) == 0,
            udp_csum: r.below(2) == 0,
        };
    }
    let l3 = if r.below(2) == 0 {
        L3::V4 {
            src: r.next() as u32,
            dst: r.next() as u32,
            proto: r.next() as u8,
            tos: r.next() as u8,
            ttl: r.next() as u8,
            frag: r.next() as u16,
        }
    } else {
        L3::V6 {
            src: r.bytes(),
            dst: r.bytes(),
            label: r.next() as u32 & 0xfffff,
            proto: r.next() as u8,
            tclass: r.next() as u8,
            hlimit: r.next() as u8,
        }
    };
    let tun = if r.below(2) == 0 {
        Tun::Vxlan {
            flags: r.next() as u32,
            vni: r.next() as u32 & 0xff_ffff,
        }
    } else {
        let n = r.below(3);
        Tun::Geneve {
            oam: r.below(2) == 0,
            crit: r.below(2) == 0,
            vni: r.next() as u32 & 0xff_ffff,
            opts: (0..n)
                .map(|_| {
                    let len = r.below(4) as usize * 4;
                    GeneveOpt {
                        class: r.next() as u16,
                        typ: r.next() as u8,
                        data: (0..len).map(|_| r.next() as u8).collect(),
                    }
                })
                .collect(),
        }
    };
    let udp_csum = if r.below(2) == 0 { 0 } else { r.next() as u16 };
    let h = Hdr {
        eth_dst: r.bytes(),
        eth_src: r.bytes(),
        l3,
        udp_src: r.next() as u16,
        udp_dst: r.next() as u16,
        udp_csum,
        tun,
    };
    TnlPush {
        tnl_port,
        out_port,
        tnl_type: h.tnl_type(),
        header: h.encode().unwrap().into_boxed_slice(),
        ipv6: h.is_ipv6(),
        udp_csum: udp_csum != 0,
    }
}

#[test]
fn fully_wildcarded_flow_round_trips() {
    // Found by flow_round_trip (seed 14397730441756431462): a mask that
    // keeps no bit prints an empty key.
    let f = Megaflow::new(
        &FlowKey::ZERO,
        FlowMask::default(),
        vec![DpAction::Output(3)],
        1,
    );
    f.stats.add(3, 200, 10, 0);
    let s = format_flow(&f, 20);
    let (k, m, a) = parse_flow(&s).unwrap();
    assert_eq!((k, m, a), (f.key, f.mask, f.actions.clone()), "{s}");
    assert_eq!(parse_flow("actions:drop").unwrap().2, vec![]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn key_mask_round_trip(seed in any::<u64>()) {
        let (k, m) = random_key_mask(seed);
        let s = format_key(&k, Some(&m));
        let (k2, m2) = parse_key(&s).map_err(|e| TestCaseError::fail(format!("{s}: {e}")))?;
        prop_assert_eq!(m2, m, "{}", s);
        prop_assert_eq!(k2, k.masked(&m), "{}", s);
    }

    #[test]
    fn exact_key_round_trip(seed in any::<u64>()) {
        let (k, _) = random_key_mask(seed);
        let s = format_key(&k, None);
        let (k2, m2) = parse_key(&s).map_err(|e| TestCaseError::fail(format!("{s}: {e}")))?;
        prop_assert_eq!(m2, relevant_mask(&k), "{}", s);
        prop_assert_eq!(format_key(&k2, Some(&m2)), s);
    }

    #[test]
    fn actions_round_trip(seed in any::<u64>(), n in 0usize..6) {
        let mut r = Rng(seed | 1);
        let a: DpActions = (0..n).map(|_| random_action(&mut r)).collect();
        let s = format_actions(&a);
        let b = parse_actions(&s).map_err(|e| TestCaseError::fail(format!("{s}: {e}")))?;
        prop_assert_eq!(b, a, "{}", s);
    }

    #[test]
    fn flow_round_trip(seed in any::<u64>()) {
        let (k, m) = random_key_mask(seed);
        let mut r = Rng(seed | 1);
        let a: DpActions = (0..3).map(|_| random_action(&mut r)).collect();
        let f = Megaflow::new(&k, m, a, seed.into());
        f.stats.add(3, 200, 10, (seed & 0xfff) as u16);
        let s = format_flow(&f, 20);
        let (k2, m2, a2) = parse_flow(&s).map_err(|e| TestCaseError::fail(format!("{s}: {e}")))?;
        prop_assert_eq!((k2, m2), (f.key, f.mask));
        prop_assert_eq!(a2, f.actions.clone());
    }

    #[test]
    fn random_strings_never_panic(s in ".{0,200}") {
        let _ = parse_key(&s);
        let _ = parse_actions(&s);
        let _ = parse_flow(&s);
    }

    #[test]
    fn mutated_flows_never_panic(seed in any::<u64>(), edits in proptest::collection::vec((any::<usize>(), any::<char>(), 0u8..3), 1..6)) {
        let (k, m) = random_key_mask(seed);
        let mut r = Rng(seed | 1);
        let a: DpActions = (0..3).map(|_| random_action(&mut r)).collect();
        let mut s: Vec<char> = format!("{}, actions:{}", format_key(&k, Some(&m)), format_actions(&a)).chars().collect();
        for (pos, ch, op) in edits {
            if s.is_empty() { break; }
            let i = pos % s.len();
            match op {
                0 => { s.remove(i); }
                1 => s.insert(i, ch),
                _ => s[i] = ch,
            }
        }
        let s: String = s.into_iter().collect();
        let _ = parse_key(&s);
        let _ = parse_actions(&s);
        let _ = parse_flow(&s);
    }
}

#[test]
fn signs_are_not_numbers() {
    assert!(parse_key("in_port(+1)").is_err());
    assert!(parse_key("in_port(0x+1)").is_err());
    let (k, m) = parse_key("in_port(0x10)").unwrap();
    assert_eq!((k.in_port, m.0.in_port), (16, u32::MAX));
}
