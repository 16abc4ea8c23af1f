//! `ofproto/trace`: a translation explained step by step, printed the way
//! `ovs-appctl ofproto/trace` prints it, so an OVS user can read it:
//!
//! ```text
//! Flow: udp,in_port=1,dl_src=...,nw_dst=10.0.0.2,...,tp_dst=80
//!
//! bridge("br0")
//! -------------
//!  0. ip,in_port=1, priority 10, cookie 0x1
//!     set_field:10.0.0.9->ip_dst
//!     resubmit(,1)
//!      1. No match.
//!             drop
//!
//! Final flow: udp,in_port=1,...,nw_dst=10.0.0.9,...
//! Megaflow: recirc_id=0,eth,ip,in_port=1,nw_frag=no
//! Datapath actions: set(ipv4(dst=10.0.0.9))
//! ```
//!
//! # Thread safety
//! Pure function of its inputs.

use crate::flow::{Flow, Match};
use crate::flow_mod::PortNames;
use crate::ofctl::{format_actions, format_match};
use crate::table::Tables;
use crate::xlate::{xlate, TraceStep, XlateOut, XlatePorts};
use dpif_netdev::key::FlowKey;
use dpif_netdev::odp;
use std::fmt::Write as _;

/// The packet as a match with every relevant field exact, `in_port` as
/// the OpenFlow port.
fn flow_text(flow: &Flow, names: &dyn PortNames) -> String {
    let mask = odp::relevant_mask(&flow.key);
    let mut m = Match {
        flow: *flow,
        mask: Flow::from_key(mask.0),
    };
    m.mask.key.recirc_id = 0;
    m.mask.key.dp_hash = 0;
    m.mask.key.parse_err = 0;
    m.normalize();
    format_match(&m, None, names)
}

/// Translates `key` (datapath `in_port`) with tracing and renders the
/// explanation. Returns the text and the translation.
pub fn trace(
    tables: &Tables,
    ports: &dyn XlatePorts,
    names: &dyn PortNames,
    bridge: &str,
    key: &FlowKey,
) -> (String, XlateOut) {
    let x = xlate(tables, ports, key, true);
    let mut in_flow = Flow::from_key(*key);
    if let Some(p) = ports.ofport(key.in_port) {
        in_flow.key.in_port = p;
    }
    let mut s = String::new();
    let _ = writeln!(s, "Flow: {}", flow_text(&in_flow, names));
    let _ = writeln!(s);
    let title = format!("bridge(\"{bridge}\")");
    let _ = writeln!(s, "{title}");
    let _ = writeln!(s, "{}", "-".repeat(title.len()));
    for step in &x.trace {
        match step {
            TraceStep::Lookup { depth, table, rule } => {
                let ind = " ".repeat(1 + 4 * *depth as usize);
                match rule {
                    Some(r) => {
                        let m = format_match(&r.matches, None, names);
                        let sep = if m.is_empty() { "" } else { ", " };
                        let _ = write!(s, "{ind}{table}. {m}{sep}priority {}", r.priority);
                        if r.cookie != 0 {
                            let _ = write!(s, ", cookie {:#x}", r.cookie);
                        }
                        let _ = writeln!(s);
                        if r.actions.is_empty() {
                            let _ = writeln!(s, "{ind}   drop");
                        }
                    }
                    None => {
                        let _ = writeln!(s, "{ind}{table}. No match.");
                        let _ = writeln!(s, "{ind}   drop");
                    }
                }
            }
            TraceStep::Action { depth, action } => {
                let ind = " ".repeat(4 + 4 * *depth as usize);
                let _ = writeln!(
                    s,
                    "{ind}{}",
                    format_actions(std::slice::from_ref(action), names)
                );
            }
            TraceStep::Note { depth, text } => {
                let ind = " ".repeat(4 + 4 * *depth as usize);
                let _ = writeln!(s, "{ind} >> {text}");
            }
        }
    }
    let _ = writeln!(s);
    let mut out_flow = x.final_flow;
    out_flow.metadata = 0;
    out_flow.regs = [0; 16];
    let final_text = flow_text(&out_flow, names);
    let in_text = flow_text(&in_flow, names);
    if final_text == in_text {
        let _ = writeln!(s, "Final flow: unchanged");
    } else {
        let _ = writeln!(s, "Final flow: {final_text}");
    }
    let mut mf = Match {
        flow: Flow::from_key(key.masked(&x.mask)),
        mask: Flow::from_key(x.mask.0),
    };
    if let Some(p) = ports.ofport(key.in_port) {
        mf.flow.key.in_port = p;
    }
    mf.mask.key.recirc_id = 0;
    mf.normalize();
    let mtext = format_match(&mf, None, names);
    let sep = if mtext.is_empty() { "" } else { "," };
    let _ = writeln!(s, "Megaflow: recirc_id={}{sep}{mtext}", key.recirc_id);
    if let Some(e) = x.error {
        let _ = writeln!(
            s,
            "Translation failed ({e}), so the datapath actions are: drop"
        );
    }
    let _ = writeln!(s, "Datapath actions: {}", odp::format_actions(&x.actions));
    (s, x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow_mod::FlowModCommand;
    use crate::ofctl::parse_flow_mods;
    use crate::xlate::IdentityPorts;

    #[test]
    fn trace_reads_like_ovs() {
        let mut t = Tables::new();
        let mods = parse_flow_mods(
            "table=0,priority=10,ip,in_port=1,actions=dec_ttl,resubmit(,1)\n\
             table=1,priority=5,ip,nw_dst=10.0.0.0/8,actions=mod_dl_src:02:00:00:00:00:aa,output:2\n",
            FlowModCommand::Add,
            &(),
        )
        .unwrap();
        t.apply(&mods, 0).unwrap();
        let mut k = FlowKey::ZERO;
        k.in_port = 1;
        k.eth_type = 0x0800;
        k.nw_proto = 17;
        k.nw_src = 0x0a00_0001;
        k.nw_dst = 0x0a00_0002;
        k.nw_ttl = 64;
        k.tp_src = 1000;
        k.tp_dst = 80;
        let (text, x) = trace(&t, &IdentityPorts(vec![1, 2]), &(), "br0", &k);
        assert!(text.starts_with("Flow: udp,in_port=1,"), "{text}");
        assert!(text.contains("bridge(\"br0\")\n-------------\n"), "{text}");
        assert!(text.contains(" 0. ip,in_port=1, priority 10\n"), "{text}");
        assert!(text.contains("    dec_ttl\n    resubmit(,1)\n"), "{text}");
        assert!(
            text.contains("     1. ip,nw_dst=10.0.0.0/8, priority 5\n"),
            "{text}"
        );
        assert!(text.contains("nw_ttl=63"), "{text}");
        assert!(
            text.contains(
                "Datapath actions: set(eth(src=02:00:00:00:00:aa)),set(ipv4(ttl=63)),2\n"
            ),
            "{text}"
        );
        assert!(text.contains("Megaflow: recirc_id=0,"), "{text}");
        assert_eq!(x.rules.len(), 2);
    }
}
