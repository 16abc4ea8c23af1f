//! Tests of the flow syntax: exact OVS-style strings, round trips for
//! every field and action, errors, flow files, and property tests.

use super::*;
use crate::field::Field;
use crate::flow::Match;
use crate::flow_mod::{FlowMod, FlowModCommand as C};
use crate::ofaction::{ofp, OfAction, SetStyle};
use dpif_netdev::key::{FRAG_ANY, FRAG_LATER};
use proptest::prelude::*;

fn names() -> Vec<(u32, String)> {
    vec![(1, "p1".into()), (2, "p2".into()), (7, "vhost0".into())]
}

fn add(s: &str) -> FlowMod {
    parse_flow_mod(s, C::Add, &names()).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn err(s: &str) -> String {
    err_cmd(s, C::Add)
}

fn err_cmd(s: &str, cmd: C) -> String {
    match parse_flow_mod(s, cmd, &names()) {
        Ok(fm) => panic!("{s}: parsed as {fm:?}"),
        Err(e) => e.to_string(),
    }
}

/// parse → format → parse gives the same FlowMod; returns the format.
fn round_trip_cmd(s: &str, cmd: C) -> String {
    let ports = names();
    let fm = parse_flow_mod(s, cmd, &ports).unwrap_or_else(|e| panic!("{s}: {e}"));
    let text = format_flow_mod(&fm, &ports);
    let back = parse_flow_mod(&text, cmd, &ports).unwrap_or_else(|e| panic!("{s} -> {text}: {e}"));
    assert_eq!(fm, back, "{s} -> {text}");
    // Without port names too.
    let text2 = format_flow_mod(&fm, &());
    let back2 = parse_flow_mod(&text2, cmd, &()).unwrap_or_else(|e| panic!("{s} -> {text2}: {e}"));
    assert_eq!(fm, back2, "{s} -> {text2}");
    text
}

fn round_trip(s: &str) -> String {
    round_trip_cmd(s, C::Add)
}

#[test]
fn typical_ovs_lines_print_as_dump_flows_does() {
    let cases = [
        (
            "priority=10,tcp,in_port=1,nw_dst=10.0.0.0/8,tp_dst=80,actions=output:2",
            "priority=10,tcp,in_port=p1,nw_dst=10.0.0.0/8,tp_dst=80 actions=output:p2",
        ),
        (
            "table=0, priority=100, in_port=LOCAL actions=NORMAL",
            "table=0, priority=100,in_port=LOCAL actions=NORMAL",
        ),
        ("actions=drop", "actions=drop"),
        ("actions=", "actions=drop"),
        (
            "ip,nw_src=192.168.1.0/255.255.255.0,nw_dst=10.1.2.3 actions=mod_nw_dst:10.0.0.1,output:3",
            "ip,nw_src=192.168.1.0/24,nw_dst=10.1.2.3 actions=mod_nw_dst:10.0.0.1,output:3",
        ),
        (
            "dl_vlan=100,dl_vlan_pcp=3,dl_src=00:11:22:33:44:55 actions=strip_vlan,flood",
            "dl_vlan=100,dl_vlan_pcp=3,dl_src=00:11:22:33:44:55 actions=strip_vlan,FLOOD",
        ),
        (
            "arp,arp_tpa=10.0.0.1,arp_op=1 actions=controller",
            "arp,arp_tpa=10.0.0.1,arp_op=1 actions=CONTROLLER:65535",
        ),
        (
            "cookie=0x10,idle_timeout=30,hard_timeout=60,send_flow_rem,udp6,ipv6_dst=2001:db8::/32,tp_src=53 actions=resubmit(,2)",
            "cookie=0x10, idle_timeout=30, hard_timeout=60, send_flow_rem, udp6,ipv6_dst=2001:db8::/32,tp_src=53 actions=resubmit(,2)",
        ),
        (
            "reg0=5,metadata=0x1/0xff,tun_id=0x64 actions=load:0x1->NXM_NX_REG0[0..3],move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],goto_table:1",
            "reg0=0x5,tun_id=0x64,metadata=0x1/0xff actions=load:0x1->NXM_NX_REG0[0..3],move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],goto_table:1",
        ),
        (
            "dl_vlan=0xffff actions=push_vlan:0x8100,mod_vlan_vid:10,output:vhost0",
            "vlan_tci=0x0000 actions=push_vlan:0x8100,mod_vlan_vid:10,output:vhost0",
        ),
        (
            "ip,nw_frag=later actions=write_metadata:0x1/0xff,goto_table:3",
            "ip,nw_frag=later actions=write_metadata:0x1/0xff,goto_table:3",
        ),
        (
            "tcp,tcp_flags=+syn-ack actions=set_field:10.0.0.1->ip_dst,output:in_port",
            "tcp,tcp_flags=+syn-ack actions=set_field:10.0.0.1->ip_dst,IN_PORT",
        ),
        (
            "icmp,icmp_type=8,icmp_code=0 actions=dec_ttl,output:2",
            "icmp,icmp_type=8,icmp_code=0 actions=dec_ttl,output:p2",
        ),
        ("dl_type=0x88cc actions=local", "dl_type=0x88cc actions=LOCAL"),
        ("ip,nw_tos=184,nw_ecn=1 actions=all", "ip,nw_tos=184,nw_ecn=1 actions=ALL"),
        (
            "in_port=3 actions=note:01.02.ab,set_tunnel:0x5,set_tunnel64:0x6",
            "in_port=3 actions=note:01.02.ab,set_tunnel:0x5,set_tunnel64:0x6",
        ),
    ];
    for (input, want) in cases {
        let fm = add(input);
        assert_eq!(format_flow_mod(&fm, &names()), want, "{input}");
        round_trip(input);
    }
}

#[test]
fn parsed_values_land_in_the_key() {
    let fm = add("priority=10,tcp,in_port=p1,nw_dst=10.0.0.0/8,tp_dst=80,actions=2");
    let m = fm.matches;
    assert_eq!(fm.priority, 10);
    assert_eq!(m.flow.key.eth_type, 0x0800);
    assert_eq!(m.flow.key.nw_proto, 6);
    assert_eq!((m.flow.key.in_port, m.mask.key.in_port), (1, u32::MAX));
    assert_eq!(
        (m.flow.key.nw_dst, m.mask.key.nw_dst),
        (0x0a00_0000, 0xff00_0000)
    );
    assert_eq!((m.flow.key.tp_dst, m.mask.key.tp_dst), (80, 0xffff));
    assert_eq!(fm.actions, vec![OfAction::Output(2)]);

    let m = add("dl_vlan=5 actions=drop").matches;
    assert_eq!(
        (m.flow.key.vlan_tci[0], m.mask.key.vlan_tci[0]),
        (0x1005, 0x1fff)
    );
    let m = add("dl_vlan_pcp=5 actions=drop").matches;
    assert_eq!(
        (m.flow.key.vlan_tci[0], m.mask.key.vlan_tci[0]),
        (0xb000, 0xf000)
    );
    let m = add("dl_vlan=0xffff actions=drop").matches;
    assert_eq!(
        (m.flow.key.vlan_tci[0], m.mask.key.vlan_tci[0]),
        (0, 0xffff)
    );
    let m = add("vlan_vid=0x1005/0x1fff actions=drop").matches;
    assert_eq!(
        (m.flow.key.vlan_tci[0], m.mask.key.vlan_tci[0]),
        (0x1005, 0x1fff)
    );
    let m = add("ip,nw_tos=0xb8 actions=drop").matches;
    assert_eq!((m.flow.key.nw_tos, m.mask.key.nw_tos), (0xb8, 0xfc));
    let m = add("ip,ip_dscp=46 actions=drop").matches;
    assert_eq!((m.flow.key.nw_tos, m.mask.key.nw_tos), (0xb8, 0xfc));
    let frag = [
        ("no", 0, FRAG_ANY),
        ("yes", FRAG_ANY, FRAG_ANY),
        ("first", FRAG_ANY, FRAG_ANY | FRAG_LATER),
        ("later", FRAG_ANY | FRAG_LATER, FRAG_ANY | FRAG_LATER),
        ("not_later", 0, FRAG_LATER),
    ];
    for (kw, v, mk) in frag {
        let m = add(&format!("ip,nw_frag={kw} actions=drop")).matches;
        assert_eq!((m.flow.key.nw_frag, m.mask.key.nw_frag), (v, mk), "{kw}");
    }
    let m = add("tcp,tcp_flags=+syn-ack actions=drop").matches;
    assert_eq!((m.flow.key.tcp_flags, m.mask.key.tcp_flags), (0x002, 0x012));
    let m = add("tcp,tcp_flags=0x012/0x0ff actions=drop").matches;
    assert_eq!((m.flow.key.tcp_flags, m.mask.key.tcp_flags), (0x012, 0x0ff));
    let m = add("ip,nw_src=10.1.0.0/255.0.255.0 actions=drop").matches;
    assert_eq!(
        (m.flow.key.nw_src, m.mask.key.nw_src),
        (0x0a00_0000, 0xff00_ff00)
    );
    let m = add("in_port=local actions=drop").matches;
    assert_eq!(m.flow.key.in_port, ofp::LOCAL);
    let fm = parse_flow_mod("cookie=0x5/0xff", C::Delete, &()).unwrap();
    assert_eq!((fm.cookie, fm.cookie_mask), (5, 0xff));
    assert!(fm.actions.is_empty());
    let fm = parse_flow_mod("out_port=2,table=255", C::DeleteStrict, &()).unwrap();
    assert_eq!((fm.out_port, fm.table), (Some(2), None));
}

#[test]
fn every_field_round_trips() {
    let lines = [
        "in_port=5",
        "in_port=p2",
        "in_port=CONTROLLER",
        "metadata=0x123456789",
        "metadata=0x1/0x1",
        "reg0=1",
        "reg7=0x10/0xf0",
        "reg15=0xffffffff",
        "NXM_NX_REG3=3",
        "tun_id=0x10",
        "tun_id=0x10/0xff",
        "tunnel_id=7",
        "tun_src=1.2.3.4",
        "tun_dst=1.2.3.0/24",
        "tun_ipv6_src=fe80::1",
        "tun_ipv6_dst=2001:db8::/64",
        "tun_flags=0x1",
        "dl_src=00:11:22:33:44:55",
        "dl_dst=01:00:00:00:00:00/01:00:00:00:00:00",
        "eth_src=aa:bb:cc:dd:ee:ff",
        "dl_type=0x0800",
        "eth_type=0x88cc",
        "dl_type=0x806",
        "vlan_tci=0x1005/0x1fff",
        "vlan_tci=0",
        "vlan_tci=0x0123/0x0fff",
        "dl_vlan=4095",
        "dl_vlan=0xffff",
        "dl_vlan_pcp=7",
        "vlan_vid=0x1001",
        "vlan_vid=0x1000/0x1000",
        "vlan_pcp=1",
        "ip,nw_src=10.0.0.1",
        "ip,nw_dst=10.0.0.0/8",
        "ip,nw_dst=10.0.255.0/255.0.255.0",
        "arp,nw_src=1.1.1.1",
        "ip,ip_src=1.2.3.4",
        "ip,ipv4_dst=1.2.3.0/24",
        "ip,nw_proto=47",
        "ipv6,nw_proto=47",
        "ip,nw_tos=252",
        "ipv6,ip_dscp=63",
        "ip,nw_ecn=3",
        "ip,ip_ecn=2",
        "ip,nw_ttl=64",
        "ip,nw_frag=no",
        "ip,nw_frag=yes",
        "ip,nw_frag=first",
        "ip,nw_frag=later",
        "ipv6,nw_frag=not_later",
        "ipv6,ipv6_src=2001:db8::1",
        "ipv6,ipv6_dst=2001:db8::/ffff:ffff::",
        "ipv6,ipv6_dst=::/ffff::ffff",
        "ipv6,ipv6_label=0x12345",
        "ipv6,ipv6_label=0x1/0xf",
        "tcp,tp_src=1",
        "udp,tp_dst=0x50/0xfff0",
        "sctp,tp_dst=9",
        "tcp,tcp_src=22",
        "tcp6,tcp_dst=443",
        "udp,udp_src=67",
        "udp6,udp_dst=547",
        "sctp,sctp_src=1",
        "sctp6,sctp_dst=2",
        "tcp,tcp_flags=+syn",
        "tcp,tcp_flags=-syn+ack-fin+ns",
        "tcp,tcp_flags=0x12",
        "tcp,tcp_flags=0x800/0xc00",
        "tcp6,tcp_flags=syn|ack",
        "icmp,icmp_type=3",
        "icmp,icmp_code=1",
        "icmp,icmpv4_type=0",
        "icmp6,icmpv6_type=128",
        "icmp6,icmpv6_code=0",
        "icmp6,icmp_type=1",
        "arp,arp_op=2",
        "arp,arp_spa=10.0.0.1",
        "rarp,arp_tpa=10.0.0.0/16",
        "arp,arp_sha=00:00:00:00:00:01",
        "arp,arp_tha=00:00:00:00:00:02/ff:ff:ff:00:00:00",
        "icmp6,icmpv6_type=135,icmpv6_code=0,nd_target=fe80::1",
        "icmp6,icmpv6_type=136,icmpv6_code=0,nd_target=fe80::/10",
        "icmp6,icmpv6_type=135,icmpv6_code=0,nd_sll=00:00:00:00:00:01",
        "icmp6,icmpv6_type=136,icmpv6_code=0,nd_tll=00:00:00:00:00:02",
        "NXM_OF_IN_PORT=1",
        "OXM_OF_ETH_SRC=00:00:00:00:00:09",
        "ip,NXM_OF_IP_SRC=9.9.9.9",
    ];
    for l in lines {
        round_trip(&format!("{l} actions=drop"));
        round_trip(&format!("priority=7,{l} actions=drop"));
        round_trip_cmd(l, C::Delete);
        round_trip_cmd(&format!("priority=1,{l}"), C::DeleteStrict);
        round_trip_cmd(&format!("{l},actions=1"), C::Modify);
        // parse_match agrees with the flow-mod parser.
        let m = parse_match(l, &names()).unwrap();
        assert_eq!(m, add(&format!("{l} actions=drop")).matches, "{l}");
        let text = format_match(&m, None, &names());
        assert_eq!(parse_match(&text, &names()).unwrap(), m, "{l} -> {text}");
    }
}

#[test]
fn every_action_round_trips() {
    let actions = [
        "output:1",
        "output:p2",
        "output(port=2)",
        "3",
        "vhost0",
        "in_port",
        "flood",
        "all",
        "local",
        "normal",
        "LOCAL",
        "controller",
        "controller:128",
        "controller(max_len=64)",
        "controller(reason=no_match,id=3,max_len=10)",
        "CONTROLLER:65535",
        "mod_dl_src:00:11:22:33:44:55",
        "mod_dl_dst:ff:ff:ff:ff:ff:ff",
        "mod_nw_src:1.2.3.4",
        "mod_nw_dst:5.6.7.8",
        "mod_nw_tos:184",
        "mod_nw_ecn:2",
        "mod_nw_ttl:9",
        "mod_tp_src:1",
        "mod_tp_dst:65535",
        "mod_vlan_vid:4095",
        "mod_vlan_pcp:7",
        "strip_vlan",
        "pop_vlan",
        "push_vlan:0x8100",
        "push_vlan:0x88a8",
        "dec_ttl",
        "dec_ttl(1,2)",
        "set_field:00:11:22:33:44:55->eth_src",
        "set_field:10.0.0.0/255.0.0.0->ip_dst",
        "set_field:10.0.0.0/8->nw_dst",
        "set_field:fe80::1->ipv6_src",
        "set_field:0x5/0xf->reg3",
        "set_field:4101->vlan_vid",
        "set_field:5->in_port",
        "set_field:0x64->tun_id",
        "set_field:184->nw_tos",
        "set_field:1->nw_ecn",
        "set_field:80->tp_dst",
        "set_field:p1->in_port",
        "load:0x1->NXM_NX_REG0[0..3]",
        "load:5->reg1[]",
        "load:1->NXM_NX_REG2[31]",
        "load:0xffffffffffffffff->OXM_OF_METADATA[]",
        "load:10.0.0.1->NXM_OF_IP_DST[]",
        "load:0x1->NXM_OF_VLAN_TCI[12]",
        "move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[]",
        "move:NXM_NX_REG0[0..15]->NXM_OF_TCP_DST[]",
        "move:reg1[0..7]->reg2[8..15]",
        "resubmit:3",
        "resubmit:p1",
        "resubmit(,2)",
        "resubmit(1,2)",
        "resubmit(p2)",
        "resubmit(in_port,4)",
        "goto_table:9",
        "write_metadata:0x1",
        "write_metadata:0x1/0xff",
        "set_tunnel:0x5",
        "set_tunnel:0x100000000",
        "set_tunnel64:0x5",
        "note:",
        "note:0102",
        "note:01.02.ab.CD",
    ];
    for a in actions {
        let prefix = if a.contains("ipv6") {
            "tcp6,priority=5"
        } else {
            "tcp,priority=5"
        };
        let t = round_trip(&format!("{prefix} actions={a}"));
        assert!(t.contains("actions="), "{t}");
        // In a list, between other actions (goto_table and write_metadata
        // must stay at the end).
        if !a.starts_with("goto_table") && !a.starts_with("write_metadata") {
            round_trip(&format!("{prefix} actions=output:1,{a},output:2"));
        }
        let acts = parse_actions(a, &names()).unwrap();
        assert_eq!(acts.len(), 1, "{a}");
        let printed = format_actions(&acts, &names());
        assert_eq!(
            parse_actions(&printed, &names()).unwrap(),
            acts,
            "{a} -> {printed}"
        );
    }
}

#[test]
fn actions_parse_to_the_expected_values() {
    let p = |s: &str| parse_actions(s, &names()).unwrap_or_else(|e| panic!("{s}: {e}"));
    assert_eq!(p("drop"), vec![]);
    assert_eq!(p(""), vec![]);
    assert_eq!(p("in_port"), vec![OfAction::Output(ofp::IN_PORT)]);
    assert_eq!(
        p("controller:100"),
        vec![OfAction::Controller { max_len: 100 }]
    );
    assert_eq!(
        p("mod_vlan_vid:5"),
        vec![OfAction::SetField {
            field: Field::DlVlan,
            value: 5,
            mask: 0xfff,
            style: SetStyle::Mod
        }]
    );
    assert_eq!(
        p("load:0x1->NXM_NX_REG0[0..3]"),
        vec![OfAction::Load {
            dst: Field::Reg(0),
            ofs: 0,
            n_bits: 4,
            value: 1
        }]
    );
    assert_eq!(
        p("resubmit(,2),resubmit:3,resubmit(4)"),
        vec![
            OfAction::Resubmit {
                port: None,
                table: Some(2)
            },
            OfAction::Resubmit {
                port: Some(3),
                table: None
            },
            OfAction::Resubmit {
                port: Some(4),
                table: None
            },
        ]
    );
    assert_eq!(p("note:01.02"), vec![OfAction::Note(vec![1, 2])]);
    assert_eq!(
        p("set_field:0x5/0xf->reg3"),
        vec![OfAction::SetField {
            field: Field::Reg(3),
            value: 5,
            mask: 0xf,
            style: SetStyle::SetField
        }]
    );
    assert_eq!(format_actions(&[], &()), "drop");
    assert_eq!(
        format_actions(&[OfAction::Output(ofp::IN_PORT), OfAction::Output(2)], &()),
        "IN_PORT,output:2"
    );
}

#[test]
fn errors_name_the_field_and_value() {
    assert_eq!(
        err("nw_dest=1.2.3.4 actions=drop"),
        "unknown field \"nw_dest\""
    );
    assert_eq!(err("actions=outptu:1"), "unknown action \"outptu\"");
    assert_eq!(
        err("ip,nw_src=10.0.0.300 actions=drop"),
        "nw_src: invalid IP address \"10.0.0.300\""
    );
    assert_eq!(err("priority=10,in_port=1"), "must specify an action");
    assert_eq!(err_cmd("in_port=1", C::Modify), "must specify an action");
    assert_eq!(
        err("tp_dst=80 actions=drop"),
        "tp_dst: prerequisites not met (needs tcp, udp or sctp)"
    );
    assert_eq!(
        err("nw_src=1.2.3.4 actions=drop"),
        "nw_src: prerequisites not met (needs ip, arp or rarp)"
    );
    assert!(err("udp,tcp_dst=1 actions=drop").contains("prerequisites not met"));
    assert!(err("ipv6,icmp_type=1 actions=drop").contains("prerequisites not met"));
    assert!(err("icmp6,nd_target=::1 actions=drop").contains("prerequisites not met"));
    assert!(
        err("icmp6,icmpv6_type=136,icmpv6_code=0,nd_sll=00:00:00:00:00:01 actions=drop")
            .contains("nd_sll: prerequisites")
    );
    assert_eq!(
        err("in_port=1,in_port=2 actions=drop"),
        "in_port: field specified more than once"
    );
    assert!(
        err("dl_src=00:00:00:00:00:01,eth_src=00:00:00:00:00:01 actions=drop")
            .contains("more than once")
    );
    assert!(err("tcp,tcp actions=drop").contains("more than once"));
    assert!(err("tcp,udp actions=drop").contains("conflicts"));
    assert!(err("priority=1,priority=2 actions=drop").contains("more than once"));
    assert_eq!(
        err("ip,nw_ttl=256 actions=drop"),
        "nw_ttl: value \"256\" out of range"
    );
    assert_eq!(
        err("priority=65536 actions=drop"),
        "priority: value \"65536\" out of range"
    );
    assert!(err("ip,nw_tos=3 actions=drop").contains("low 2 bits"));
    assert!(err("ip,ip_dscp=64 actions=drop").contains("out of range"));
    assert!(err("ip,nw_ecn=4 actions=drop").contains("out of range"));
    assert!(err("dl_vlan=4096 actions=drop").contains("out of range"));
    assert!(err("dl_vlan_pcp=8 actions=drop").contains("out of range"));
    assert!(err("in_port=1/1 actions=drop").contains("masking"));
    assert!(err("in_port=nosuch actions=drop").contains("unknown port \"nosuch\""));
    assert!(err("dl_src=00:11:22:33:44 actions=drop").contains("invalid MAC address"));
    assert!(err("ip,nw_src=1.2.3.4/33 actions=drop").contains("out of range"));
    assert!(err("ipv6,ipv6_src=fe80::g actions=drop").contains("invalid IPv6 address"));
    assert!(err("ip,nw_frag=maybe actions=drop").contains("invalid fragment keyword"));
    assert!(err("tcp,tcp_flags=+syn+bogus actions=drop").contains("tcp_flags"));
    assert!(err("reg16=1 actions=drop").contains("unknown field"));
    assert!(err("reg0=0x100000000 actions=drop").contains("out of range"));
    assert!(err("reg0= actions=drop").contains("missing value"));
    assert!(err("cookie=1/1 actions=drop").contains("not allowed"));
    assert!(err_cmd("cookie=1", C::Delete).contains("not allowed"));
    assert!(err_cmd("in_port=1 actions=drop", C::Delete).contains("actions: not allowed"));
    assert!(err("out_port=1 actions=drop").contains("not allowed"));
    assert!(err_cmd("idle_timeout=1", C::DeleteStrict).contains("not allowed"));
    // Actions.
    assert_eq!(
        err("actions=goto_table:2,output:1"),
        "goto_table must be the last action"
    );
    assert_eq!(
        err("table=3 actions=goto_table:3"),
        "goto_table:3: must go to a later table than 3"
    );
    assert!(err("table=3 actions=goto_table:1").contains("later table"));
    assert!(err("actions=drop,output:1").contains("drop"));
    assert!(err("actions=load:1->NXM_NX_REG0[0..32]").contains("do not fit"));
    assert!(err("actions=load:1->NXM_NX_REG0[5..3]").contains("do not fit"));
    assert!(err("actions=load:16->NXM_NX_REG0[0..3]").contains("does not fit into 4 bits"));
    assert!(err("actions=load:1->NXM_NX_REG0").contains("bit range"));
    assert!(err("actions=load:1->NXM_NX_NOPE[]").contains("unknown field"));
    assert!(err("actions=move:reg0[0..3]->reg1[0..4]").contains("4 bits but destination has 5"));
    assert!(err("actions=move:reg0[]->NXM_OF_ETH_SRC[]").contains("32 bits but"));
    assert!(err("actions=set_field:1->nw_frag").contains("not writable"));
    assert!(err("actions=set_field:1.2.3.4").contains("VALUE->FIELD"));
    assert_eq!(
        err("actions=mod_tp_dst:80"),
        "set_field tp_dst lacks prerequisites"
    );
    assert_eq!(
        err("udp6,actions=mod_nw_src:1.2.3.4"),
        "set_field ip_src lacks prerequisites"
    );
    assert_eq!(
        err("actions=set_field:1.2.3.4->nw_dst"),
        "set_field nw_dst lacks prerequisites"
    );
    assert_eq!(
        err("ip,actions=load:1->NXM_OF_TCP_DST[]"),
        "load tcp_dst lacks prerequisites"
    );
    assert!(err("actions=move:NXM_OF_IP_SRC[]->reg0[]").contains("move ip_src lacks"));
    assert!(err("actions=mod_nw_tos:3").contains("low 2 bits"));
    assert!(err("actions=mod_vlan_vid:4096").contains("out of range"));
    assert!(err("actions=push_vlan:0x800").contains("0x8100"));
    assert!(err("actions=resubmit(,)").contains("at least one"));
    assert!(err("actions=resubmit:in_port").contains("at least one"));
    assert!(err("actions=output(port=1,max_len=100)").contains("max_len"));
    assert!(err("actions=output:none").contains("cannot output"));
    assert!(err("actions=output:0xff00").contains("out of range"));
    assert!(err("actions=note:123").contains("odd"));
    assert!(err("actions=note:zz").contains("hex"));
    assert!(err("actions=resubmit(1,2").contains("unbalanced"));
    assert!(err("actions=write_metadata:1,output:1").contains("goto_table may follow"));
    assert!(err("actions=strip_vlan:1").contains("no argument"));
    // A set_field that changes eth_type makes IPv4 fields available.
    add("actions=set_field:0x800->eth_type,set_field:1.2.3.4->ip_src");
    add("tcp actions=mod_tp_dst:80,load:1->NXM_OF_TCP_DST[0]");
}

#[test]
fn flow_files_report_the_line() {
    let text = "# a comment\n\
                \n\
                priority=1 actions=drop\n\
                in_port=1, \\\n   actions=output:2  # trailing comment\n\
                tcp,tp_dst=80 actions=normal\n";
    let fms = parse_flow_mods(text, C::Add, &()).unwrap();
    assert_eq!(fms.len(), 3);
    assert_eq!(fms[1].actions, vec![OfAction::Output(2)]);
    assert_eq!(fms[1].matches.flow.key.in_port, 1);
    let bad = "priority=1 actions=drop\n\n\\\n# x\nip,nw_dest=1.2.3.4 actions=drop\n";
    let e = parse_flow_mods(bad, C::Add, &()).unwrap_err();
    assert_eq!(e.line, 5);
    assert_eq!(e.to_string(), "5: unknown field \"nw_dest\"");
    assert_eq!(
        format!("flows.txt:{e}"),
        "flows.txt:5: unknown field \"nw_dest\""
    );
    let cont = "ip,\\\nnw_dst=1.2.3.4/33,\\\nactions=drop\n";
    assert_eq!(parse_flow_mods(cont, C::Add, &()).unwrap_err().line, 1);
    assert!(parse_flow_mods("", C::Add, &()).unwrap().is_empty());
    let dels = parse_flow_mods("in_port=1\n\ntcp\n", C::Delete, &()).unwrap();
    assert_eq!(dels.len(), 2);
}

#[test]
fn dump_flows_output_feeds_back() {
    let line = "cookie=0x0, duration=12.345s, table=0, n_packets=10, n_bytes=600, idle_age=3, priority=10,tcp,tp_dst=80 actions=output:2";
    let fm = add(line);
    assert_eq!(fm.table, Some(0));
    assert_eq!(fm.priority, 10);
    assert_eq!(fm.actions, vec![OfAction::Output(2)]);
}

#[test]
fn format_match_prints_nothing_for_the_empty_match() {
    assert_eq!(format_match(&Match::ANY, None, &()), "");
    assert_eq!(format_match(&Match::ANY, Some(5), &()), "priority=5");
    assert_eq!(parse_match("", &()).unwrap(), Match::ANY);
}

// ---------------------------------------------------------------------
// Property tests.

/// A protocol context and the fields valid in it.
fn context() -> impl Strategy<Value = (&'static str, Vec<Field>)> {
    use Field::*;
    let common = vec![
        InPort,
        Metadata,
        Reg(0),
        Reg(5),
        Reg(15),
        TunId,
        TunSrc,
        TunDst,
        TunIpv6Src,
        TunIpv6Dst,
        TunFlags,
        EthSrc,
        EthDst,
        VlanTci,
    ];
    let ip = [NwTos, NwEcn, NwTtl, NwFrag];
    let ctxs: Vec<(&'static str, Vec<Field>)> = vec![
        ("", vec![]),
        ("ip", vec![NwSrc, NwDst, NwProto]),
        ("ipv6", vec![Ipv6Src, Ipv6Dst, Ipv6Label, NwProto]),
        ("tcp", vec![NwSrc, NwDst, TpSrc, TpDst, TcpFlags]),
        ("udp6", vec![Ipv6Src, Ipv6Dst, TpSrc, TpDst]),
        ("sctp", vec![NwSrc, NwDst, TpSrc, TpDst]),
        ("icmp", vec![NwSrc, NwDst, IcmpType, IcmpCode]),
        ("icmp6", vec![Ipv6Src, Ipv6Dst, Icmpv6Type, Icmpv6Code]),
        ("arp", vec![ArpSpa, ArpTpa, ArpOp, ArpSha, ArpTha]),
        ("rarp", vec![ArpSpa, ArpTpa, ArpSha, ArpTha]),
    ];
    proptest::sample::select(ctxs).prop_map(move |(name, mut fs)| {
        fs.extend(common.iter().copied());
        if !name.is_empty() && name != "arp" && name != "rarp" {
            fs.extend(ip);
        }
        (name, fs)
    })
}

/// A (value, mask) for `f` that flow syntax can express.
fn value_mask(f: Field, r: u128, r2: u128, exact: bool) -> (u128, u128) {
    use super::value::{exact_mask, maskable};
    let eff = exact_mask(f);
    match f {
        Field::NwFrag => {
            let opts = [(0, 1), (1, 1), (1, 3), (3, 3), (0, 2)];
            opts[(r % 5) as usize]
        }
        Field::InPort => {
            let p = (r % 0xfeff) as u32 + 1;
            let p = if r2 & 3 == 0 { ofp::LOCAL } else { p };
            (p as u128, eff)
        }
        _ => {
            let mask = if exact || !maskable(f) { eff } else { r2 & eff };
            (r & mask, mask)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn parsers_never_panic(s in "\\PC{0,60}") {
        let _ = parse_flow_mod(&s, C::Add, &names());
        let _ = parse_flow_mod(&s, C::DeleteStrict, &names());
        let _ = parse_match(&s, &names());
        let _ = parse_actions(&s, &names());
        let _ = parse_flow_mods(&s, C::Modify, &names());
    }

    #[test]
    fn parsers_never_panic_on_syntax_soup(
        parts in proptest::collection::vec(proptest::sample::select(vec![
            "tcp", "ip", "ipv6", "arp", ",", " ", "=", ":", "(", ")", "->", "/", "[", "]", "..",
            "actions=", "nw_src", "tp_dst", "dl_vlan", "tcp_flags", "+syn", "-ack", "load",
            "move", "set_field", "resubmit", "output", "NXM_NX_REG0", "reg1", "1", "0x",
            "ffff", "10.0.0.1", "fe80::1", "00:11:22:33:44:55", "128", "99999999999999999999999",
            "goto_table", "note", "controller", "dec_ttl", "in_port", "é", "\\", "\n", "#",
        ]), 0..24)
    ) {
        let s: String = parts.concat();
        let _ = parse_flow_mod(&s, C::Add, &names());
        let _ = parse_match(&s, &names());
        let _ = parse_actions(&s, &names());
        let _ = parse_flow_mods(&s, C::Add, &names());
    }

    #[test]
    fn random_matches_round_trip(
        (ctx, fields) in context(),
        picks in proptest::collection::vec((any::<u16>(), any::<u128>(), any::<u128>(), any::<bool>()), 0..8),
        prio in proptest::option::of(any::<u16>()),
    ) {
        let mut m = parse_match(ctx, &()).unwrap();
        for (i, r, r2, exact) in picks {
            let f = fields[i as usize % fields.len()];
            let (v, mk) = value_mask(f, r, r2, exact);
            let (ov, om) = (f.get(&m.flow), f.get(&m.mask));
            f.set(&mut m.mask, om | mk);
            f.set(&mut m.flow, (ov & !mk) | (v & mk));
            m.normalize();
        }
        let ports = names();
        let text = format_match(&m, None, &ports);
        let back = parse_match(&text, &ports);
        prop_assert_eq!(back.as_ref().ok(), Some(&m), "{} -> {:?}", text, back);
        // And as a whole flow with a priority.
        let fm_text = format!("{} actions=drop", format_match(&m, prio, &ports));
        let fm = parse_flow_mod(&fm_text, C::Add, &ports);
        prop_assert!(fm.is_ok(), "{} -> {:?}", fm_text, fm);
        let fm = fm.unwrap();
        prop_assert_eq!(fm.matches, m);
        prop_assert_eq!(fm.priority, prio.unwrap_or(crate::flow_mod::DEFAULT_PRIORITY));
    }
}

#[test]
fn check_actions_rejects_hand_built_out_of_range_bits() {
    let load = OfAction::Load {
        dst: Field::Reg(0),
        ofs: 200,
        n_bits: 4,
        value: 1,
    };
    assert!(check_actions(&[load], &Match::ANY, 0).is_err());
    let mv = OfAction::Move {
        src: Field::Reg(0),
        src_ofs: u32::MAX,
        dst: Field::Reg(1),
        dst_ofs: 0,
        n_bits: 2,
    };
    assert!(check_actions(std::slice::from_ref(&mv), &Match::ANY, 0).is_err());
    // Printing such actions does not panic either.
    let _ = format_actions(&[mv], &());
}
#[test]
fn masked_and_nd_forms_print_like_ovs() {
    let cases = [
        (
            "udp,tp_dst=0x50/0xfff0,nw_frag=first actions=mod_tp_src:5,set_field:0xb8/0xfc->nw_tos",
            "udp,nw_frag=first,tp_dst=80/0xfff0 actions=mod_tp_src:5,set_field:184/0xfc->nw_tos",
        ),
        (
            "ipv6,ipv6_label=0x12345,ipv6_src=::/ffff::ffff actions=set_field:fe80::/10->ipv6_dst",
            "ipv6,ipv6_src=::/ffff::ffff,ipv6_label=0x12345 actions=set_field:fe80::/10->ipv6_dst",
        ),
        (
            "icmp6,icmp_type=135,icmp_code=0,nd_target=fe80::1,nd_sll=00:00:00:00:00:01 actions=load:0->reg0[]",
            "icmp6,icmpv6_type=135,icmpv6_code=0,nd_target=fe80::1,nd_sll=00:00:00:00:00:01 actions=load:0->NXM_NX_REG0[]",
        ),
        (
            "vlan_tci=0x1000/0x1000,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=controller(max_len=0)",
            "vlan_tci=0x1000/0x1000,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=CONTROLLER:0",
        ),
    ];
    for (input, want) in cases {
        assert_eq!(format_flow_mod(&add(input), &names()), want, "{input}");
        round_trip(input);
    }
}

fn random_action() -> impl Strategy<Value = OfAction> {
    let reg = (0u8..16).prop_map(Field::Reg);
    let range = (0u32..32).prop_flat_map(|ofs| (Just(ofs), 1..=32 - ofs));
    prop_oneof![
        (1u32..0xff00).prop_map(OfAction::Output),
        proptest::sample::select(vec![
            ofp::IN_PORT,
            ofp::NORMAL,
            ofp::FLOOD,
            ofp::ALL,
            ofp::LOCAL
        ])
        .prop_map(OfAction::Output),
        any::<u16>().prop_map(|max_len| OfAction::Controller { max_len }),
        (reg.clone(), any::<u32>(), any::<u32>()).prop_map(|(field, v, m)| {
            let (value, mask) = if m == u32::MAX {
                (v as u128, u32::MAX as u128)
            } else {
                ((v & m) as u128, m as u128)
            };
            OfAction::SetField {
                field,
                value,
                mask,
                style: SetStyle::SetField,
            }
        }),
        (reg.clone(), range.clone(), any::<u128>()).prop_map(|(dst, (ofs, n_bits), v)| {
            OfAction::Load {
                dst,
                ofs,
                n_bits,
                value: v & crate::field::ones(n_bits),
            }
        }),
        (reg.clone(), reg, range, 0u32..32).prop_map(|(src, dst, (src_ofs, n_bits), d)| {
            OfAction::Move {
                src,
                src_ofs,
                dst,
                dst_ofs: d.min(32 - n_bits),
                n_bits,
            }
        }),
        any::<bool>().prop_map(|pop| OfAction::StripVlan { pop }),
        Just(OfAction::DecTtl),
        (
            proptest::option::of(1u32..0xff00),
            proptest::option::of(0u8..255)
        )
            .prop_filter("one of port/table", |(p, t)| p.is_some() || t.is_some())
            .prop_map(|(port, table)| OfAction::Resubmit { port, table }),
        any::<u64>().prop_map(|id| OfAction::SetTunnel { id, wide: true }),
        any::<u32>().prop_map(|id| OfAction::SetTunnel {
            id: id as u64,
            wide: false
        }),
        proptest::collection::vec(any::<u8>(), 0..8).prop_map(OfAction::Note),
    ]
}

proptest! {
    #[test]
    fn random_actions_round_trip(
        mut acts in proptest::collection::vec(random_action(), 0..6),
        meta in proptest::option::of((any::<u64>(), any::<u64>())),
        goto in proptest::option::of(1u8..255),
    ) {
        if let Some((v, m)) = meta {
            acts.push(OfAction::WriteMetadata { value: v & m, mask: m });
        }
        if let Some(t) = goto {
            acts.push(OfAction::GotoTable(t));
        }
        let ports = names();
        let text = format_actions(&acts, &ports);
        let back = parse_actions(&text, &ports);
        prop_assert_eq!(back.as_ref().ok(), Some(&acts), "{} -> {:?}", text, back);
        let mut fm = FlowMod::new(C::Add);
        fm.actions = acts;
        let line = format_flow_mod(&fm, &ports);
        prop_assert_eq!(parse_flow_mod(&line, C::Add, &ports).ok(), Some(fm));
    }
}

// --- tun_metadata (Geneve options through the bridge's TLV map) ------------

/// Port names plus a TLV map: tun_metadata0 = 4 bytes at 0,
/// tun_metadata2 = 8 bytes at 4.
struct WithTlv(std::sync::Arc<dpif_netdev::tlv::TlvMap>);

impl PortNames for WithTlv {
    fn port_by_name(&self, _name: &str) -> Option<u32> {
        None
    }
    fn port_name(&self, _port: u32) -> Option<String> {
        None
    }
    fn tlv_map(&self) -> Option<std::sync::Arc<dpif_netdev::tlv::TlvMap>> {
        Some(self.0.clone())
    }
}

fn with_tlv() -> WithTlv {
    let mut m = dpif_netdev::tlv::TlvMap::default();
    m.add(
        &dpif_netdev::tlv::parse_mappings(
            "{class=0xffff,type=0,len=4}->tun_metadata0,{class=0x102,type=0x80,len=8}->tun_metadata2",
        )
        .unwrap(),
    )
    .unwrap();
    WithTlv(std::sync::Arc::new(m))
}

#[test]
fn tun_metadata_matches_place_bytes_and_require_presence() {
    let p = with_tlv();
    let fm = parse_flow_mod("tun_metadata0=0x1234,actions=drop", C::Add, &p).unwrap();
    let (k, m) = (&fm.matches.flow.key, &fm.matches.mask.key);
    assert_eq!(m.tun_metadata[..4], [0xff; 4]);
    assert_eq!(m.tun_metadata[4..], [0; 28]);
    assert_eq!(k.tun_metadata[..4], [0, 0, 0x12, 0x34]);
    assert_eq!((k.tun_md_present, m.tun_md_present), (1, 1));
    assert_eq!(format_match(&fm.matches, None, &p), "tun_metadata0=0x1234");

    let fm = parse_flow_mod("tun_metadata2=0x1234/0xff00,actions=drop", C::Add, &p).unwrap();
    let (k, m) = (&fm.matches.flow.key, &fm.matches.mask.key);
    assert_eq!(m.tun_metadata[4..12], [0, 0, 0, 0, 0, 0, 0xff, 0]);
    assert_eq!(k.tun_metadata[10], 0x12);
    assert_eq!((k.tun_md_present, m.tun_md_present), (4, 4));
    assert_eq!(
        format_match(&fm.matches, None, &p),
        "tun_metadata2=0x1200/0xff00"
    );
    // Presence alone.
    let fm = parse_flow_mod("tun_metadata0=0/0,actions=drop", C::Add, &p).unwrap();
    assert_eq!(fm.matches.mask.key.tun_md_present, 1);
    assert_eq!(format_match(&fm.matches, None, &p), "tun_metadata0=0/0");
    // Round trips through dump-flows text, actions included.
    for s in [
        "priority=5,tun_id=0x5,tun_tos=184,tun_ttl=63,tun_metadata0=0xabcdef01,tun_metadata2=0x1/0x1 actions=output:1",
        "actions=set_field:0x1234->tun_metadata0,load:0x5->NXM_NX_TUN_METADATA2[0..7],move:NXM_NX_REG0[]->NXM_NX_TUN_METADATA0[],move:NXM_NX_TUN_METADATA2[0..31]->NXM_NX_REG1[]",
    ] {
        let fm = parse_flow_mod(s, C::Add, &p).unwrap_or_else(|e| panic!("{s}: {e}"));
        let text = format_flow_mod(&fm, &p);
        let back = parse_flow_mod(&text, C::Add, &p).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(fm, back, "{s} -> {text}");
    }
}

#[test]
fn tun_metadata_errors() {
    let p = with_tlv();
    let e = |s: &str, p: &dyn PortNames| match parse_flow_mod(s, C::Add, p) {
        Ok(fm) => panic!("{s}: parsed as {fm:?}"),
        Err(e) => e.to_string(),
    };
    let m = e("tun_metadata1=1,actions=drop", &p);
    assert!(m.contains("tun_metadata1: not mapped"), "{m}");
    let m = e("tun_metadata0=1,actions=drop", &());
    assert!(m.contains("tun_metadata0: not mapped"), "{m}");
    let m = e("actions=set_field:1->tun_metadata5", &p);
    assert!(m.contains("tun_metadata5: not mapped"), "{m}");
    let m = e("actions=move:NXM_NX_TUN_METADATA3[]->NXM_NX_REG0[]", &p);
    assert!(m.contains("not mapped"), "{m}");
    // Wider than the mapping's 4 bytes.
    let m = e("tun_metadata0=0x123456789,actions=drop", &p);
    assert!(m.contains("tun_metadata0"), "{m}");
    // Not a field at all.
    let m = e("tun_metadata8=1,actions=drop", &p);
    assert!(m.contains("unknown field"), "{m}");
}
