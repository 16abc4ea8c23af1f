//! The `rvs ctl` commands of a running switch, under OVS's names
//! (`ovs-appctl` and `ovs-ofctl` ones alike): each is registered with its
//! usage line, one line of help and an example, next to its code.
//!
//! Flow changes go through [`pmd::Datapath::change_tables`], so when a
//! command that changes flows returns, every megaflow made from the old
//! tables has been fixed or removed. A bad flow changes nothing.

use crate::bridge::{Bridge, PortMap};
use crate::ctl::Commands;
use crate::run::Switch;
use dpif_netdev::extract::extract_frame;
use dpif_netdev::key::FlowKey;
use dpif_netdev::odp;
use dpif_netdev::packet::PacketMeta;
use ofproto::flow_mod::{FlowMod, FlowModCommand};
use ofproto::ofctl;
use ofproto::xlate::XlatePorts;
use pmd::stats::PmdStatsSnapshot;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

type CmdResult = Result<String, String>;

fn bridge<'a>(sw: &'a Switch, name: &str) -> Result<&'a Bridge, String> {
    sw.bridges
        .get(name)
        .ok_or_else(|| format!("{name}: no such bridge"))
}

fn pct(part: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        part as f64 * 100.0 / total as f64
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

fn core_label(core: Option<usize>) -> String {
    core.map_or("?".into(), |c| c.to_string())
}

/// `dpif-netdev/pmd-stats-show`, OVS 3.x text.
pub fn pmd_stats_text(stats: &[(Option<usize>, PmdStatsSnapshot)]) -> String {
    let mut s = String::new();
    for (core, p) in stats {
        let passes = p.rx_packets + p.recirc_packets;
        let success = p.upcalls.saturating_sub(p.upcalls_failed);
        let total = p.busy_cycles + p.idle_cycles;
        let _ = writeln!(s, "pmd thread numa_id 0 core_id {}:", core_label(*core));
        let _ = writeln!(s, "  packets received: {}", p.rx_packets);
        let _ = writeln!(s, "  packet recirculations: {}", p.recirc_packets);
        let _ = writeln!(
            s,
            "  avg. datapath passes per packet: {:.2}",
            ratio(passes, p.rx_packets)
        );
        let _ = writeln!(s, "  simple match hits: {}", p.simple_match_hits);
        let _ = writeln!(s, "  emc hits: {}", p.emc_hits);
        if p.emc_plain_hits > 0 {
            // rvs's own line, like the one below: the EMC hits that
            // needed no key extraction (`dpif_netdev::plain_key`).
            let _ = writeln!(s, "  emc plain-lane hits: {}", p.emc_plain_hits);
        }
        if p.emc_skipped > 0 {
            let _ = writeln!(s, "  emc lookups skipped (emc_auto): {}", p.emc_skipped);
        }
        let _ = writeln!(s, "  megaflow hits: {}", p.megaflow_hits);
        let _ = writeln!(
            s,
            "  avg. subtable lookups per megaflow hit: {:.2}",
            ratio(p.subtable_lookups, p.megaflow_hits)
        );
        let _ = writeln!(s, "  miss with success upcall: {success}");
        let _ = writeln!(s, "  miss with failed upcall: {}", p.upcalls_failed);
        let _ = writeln!(s, "  lost upcalls (queue full): {}", p.upcalls_dropped);
        let _ = writeln!(s, "  packets sent: {}", p.tx_packets);
        let _ = writeln!(s, "  megaflows: {}", p.megaflows);
        let _ = writeln!(
            s,
            "  idle cycles: {} ({:.2}%)",
            p.idle_cycles,
            pct(p.idle_cycles, total)
        );
        let _ = writeln!(
            s,
            "  processing cycles: {} ({:.2}%)",
            p.busy_cycles,
            pct(p.busy_cycles, total)
        );
        if p.rx_packets > 0 {
            let _ = writeln!(
                s,
                "  avg cycles per packet: {:.2} ({}/{})",
                ratio(total, p.rx_packets),
                total,
                p.rx_packets
            );
            let _ = writeln!(
                s,
                "  avg processing cycles per packet: {:.2} ({}/{})",
                ratio(p.busy_cycles, p.rx_packets),
                p.busy_cycles,
                p.rx_packets
            );
        }
    }
    s
}

/// `dpif-netdev/pmd-stats-show --json`: one object per PMD.
fn pmd_stats_json(stats: &[(Option<usize>, PmdStatsSnapshot)]) -> String {
    let v: Vec<serde_json::Value> = stats
        .iter()
        .map(|(core, p)| {
            serde_json::json!({
                "core": core,
                "rx_packets": p.rx_packets,
                "recirc_packets": p.recirc_packets,
                "simple_match_hits": p.simple_match_hits,
                "emc_hits": p.emc_hits,
                "emc_plain_hits": p.emc_plain_hits,
                "emc_skipped": p.emc_skipped,
                "megaflow_hits": p.megaflow_hits,
                "upcalls": p.upcalls.saturating_sub(p.upcalls_failed),
                "failed_upcalls": p.upcalls_failed,
                "lost_upcalls": p.upcalls_dropped,
                "tx_packets": p.tx_packets,
                "busy_cycles": p.busy_cycles,
                "idle_cycles": p.idle_cycles,
                "iterations": p.iterations,
                "megaflows": p.megaflows,
                "avg_subtable_lookups_per_hit": ratio(p.subtable_lookups, p.megaflow_hits),
            })
        })
        .collect();
    serde_json::Value::Array(v).to_string()
}

/// `dpif-netdev/pmd-perf-show`: OVS's per-PMD performance view.
fn pmd_perf_text(stats: &[(Option<usize>, PmdStatsSnapshot)], secs: f64) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Measurement duration: {secs:.3} s\n");
    for (core, p) in stats {
        let total = p.busy_cycles + p.idle_cycles;
        let idle_it = p.iterations.saturating_sub(p.busy_iterations);
        let passes = p.rx_packets + p.recirc_packets;
        let _ = writeln!(s, "pmd thread numa_id 0 core_id {}:\n", core_label(*core));
        let _ = writeln!(
            s,
            "  Iterations:        {:>12}  ({:.2} us/it)",
            p.iterations,
            ratio((secs * 1e6) as u64, p.iterations)
        );
        let _ = writeln!(s, "  - Used TSC cycles: {:>12}", total);
        let _ = writeln!(
            s,
            "  - idle iterations:{:>12}  ({:5.1} % of used cycles)",
            idle_it,
            pct(p.idle_cycles, total)
        );
        let _ = writeln!(
            s,
            "  - busy iterations:{:>12}  ({:5.1} % of used cycles)",
            p.busy_iterations,
            pct(p.busy_cycles, total)
        );
        let _ = writeln!(
            s,
            "  Rx packets:        {:>12}  ({:.0} Kpps, {:.0} cycles/pkt)",
            p.rx_packets,
            p.rx_packets as f64 / secs.max(1e-9) / 1000.0,
            ratio(p.busy_cycles, p.rx_packets)
        );
        let _ = writeln!(
            s,
            "  Datapath passes:   {:>12}  ({:.2} passes/pkt)",
            passes,
            ratio(passes, p.rx_packets)
        );
        let _ = writeln!(
            s,
            "  - Simple match:    {:>12}  ({:5.1} %)",
            p.simple_match_hits,
            pct(p.simple_match_hits, passes)
        );
        let _ = writeln!(
            s,
            "  - EMC hits:        {:>12}  ({:5.1} %)",
            p.emc_hits,
            pct(p.emc_hits, passes)
        );
        let _ = writeln!(
            s,
            "  - Megaflow hits:   {:>12}  ({:5.1} %, {:.2} subtbl lookups/hit)",
            p.megaflow_hits,
            pct(p.megaflow_hits, passes),
            ratio(p.subtable_lookups, p.megaflow_hits)
        );
        let _ = writeln!(
            s,
            "  - Upcalls:         {:>12}  ({:5.1} %)",
            p.upcalls,
            pct(p.upcalls, passes)
        );
        let _ = writeln!(
            s,
            "  - Lost upcalls:    {:>12}  ({:5.1} %)",
            p.upcalls_dropped,
            pct(p.upcalls_dropped, passes)
        );
        let _ = writeln!(
            s,
            "  Tx packets:        {:>12}  ({:.0} Kpps)\n",
            p.tx_packets,
            p.tx_packets as f64 / secs.max(1e-9) / 1000.0
        );
    }
    s
}

/// One rule in `ovs-ofctl dump-flows` form.
fn rule_line(r: &ofproto::table::Rule, now: u64, ports: &PortMap) -> String {
    let (packets, bytes, used) = r.stats.get();
    let dur = now.saturating_sub(r.created) as f64 / 1000.0;
    let mut s = format!(
        " cookie={:#x}, duration={dur:.3}s, table={}, n_packets={packets}, n_bytes={bytes}",
        r.cookie, r.table_id
    );
    if r.idle_timeout > 0 {
        let _ = write!(s, ", idle_timeout={}", r.idle_timeout);
    }
    if r.hard_timeout > 0 {
        let _ = write!(s, ", hard_timeout={}", r.hard_timeout);
    }
    if used > 0 {
        let _ = write!(s, ", idle_age={}", now.saturating_sub(used) / 1000);
    }
    let prio = (r.priority != ofproto::flow_mod::DEFAULT_PRIORITY).then_some(r.priority);
    let m = ofctl::format_match(&r.matches, prio, ports);
    let sep = if m.is_empty() { "" } else { ", " };
    let _ = write!(
        s,
        "{sep}{m} actions={}",
        ofctl::format_actions(&r.actions, ports)
    );
    s
}

/// Applies flow changes to a bridge through the datapath (so megaflows
/// are revalidated before this returns). All or nothing.
fn change_flows(sw: &Switch, b: &Bridge, mods: &[FlowMod]) -> CmdResult {
    let now = sw.dp.now_ms();
    let res = sw.dp.change_tables(|| {
        let mut t = b.tables.write().unwrap_or_else(|e| e.into_inner());
        let r = t.apply(mods, now);
        if r.is_ok() {
            sw.bridges.bump_version();
        }
        r
    });
    res.map(|_| String::new()).map_err(|e| e.to_string())
}

/// Splits a leading `--strict` off the arguments.
fn strict(args: &[String]) -> (bool, &[String]) {
    match args.first() {
        Some(a) if a == "--strict" => (true, &args[1..]),
        _ => (false, args),
    }
}

fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let s: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .collect();
    // `from_str_radix` would take "+f"; only hex digits make a packet.
    if s.is_empty() || s.len() & 1 != 0 || !s.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The key `ofproto/trace` starts from: a flow in match syntax, or a
/// packet in hex (with the input port in the flow).
fn trace_key(b: &Bridge, args: &[String]) -> Result<FlowKey, String> {
    let m = ofctl::parse_match(&args[0], &b.ports).map_err(|e| e.to_string())?;
    let ofport = m.flow.key.in_port;
    if m.mask.key.in_port == 0 {
        return Err("the flow must give in_port".into());
    }
    let odp = b
        .ports
        .odp_port(ofport)
        .ok_or_else(|| format!("in_port={ofport}: no such port on bridge {}", b.name))?;
    match args.get(1) {
        Some(hex) => {
            let frame = parse_hex(hex).ok_or_else(|| format!("\"{hex}\": not a hex packet"))?;
            let mut md = PacketMeta::NEW;
            md.in_port = odp;
            let mut k = FlowKey::ZERO;
            extract_frame(&frame, &md, &mut k);
            Ok(k)
        }
        None => {
            let mut k = m.flow.key;
            k.in_port = odp;
            Ok(k)
        }
    }
}

/// A port's counters for `dump-ports`: the device's own where it keeps
/// them (DPDK's `rte_eth_stats`: what reached the wire, plus the drops the
/// device saw), with the driver's software drops added; the driver's
/// software counters otherwise.
fn port_counters(p: &pmd::datapath::PortInfo) -> pmd::DeviceCounters {
    let sw = p.stats.snapshot();
    match p.tx.device_stats() {
        Some(d) => pmd::DeviceCounters {
            rx_dropped: d.rx_dropped + sw.rx_dropped,
            tx_dropped: d.tx_dropped + sw.tx_dropped,
            ..d
        },
        None => pmd::DeviceCounters {
            rx_packets: sw.rx_packets,
            rx_bytes: sw.rx_bytes,
            rx_dropped: sw.rx_dropped,
            rx_errors: 0,
            tx_packets: sw.tx_packets,
            tx_bytes: sw.tx_bytes,
            tx_dropped: sw.tx_dropped,
            tx_errors: 0,
        },
    }
}

/// PMD and port counters, printed at exit.
pub fn port_summary(sw: &Switch) -> String {
    let mut s = pmd_stats_text(&sw.dp.pmd_stats());
    for (r, n) in sw.dp.drop_stats() {
        let _ = writeln!(s, "  dropped, {}: {n}", r.description());
    }
    for p in sw.dp.ports() {
        let st = p.stats.snapshot();
        let _ = writeln!(
            s,
            "rvs: port {}: rx {} pkts, tx {} pkts, drop rx {} tx {}",
            p.name, st.rx_packets, st.tx_packets, st.rx_dropped, st.tx_dropped
        );
    }
    s
}

/// Every command of a running switch.
pub fn build(sw: Arc<Switch>) -> Commands {
    let mut c = Commands::new();
    let clear_time = Arc::new(std::sync::Mutex::new(Instant::now()));

    let s = sw.clone();
    c.register(
        "dpif-netdev/pmd-stats-show",
        "dpif-netdev/pmd-stats-show",
        "per-PMD packet and cycle counters (OVS 3.x view); --json for scripts",
        0,
        0,
        Box::new(move |_, json| {
            let st = s.dp.pmd_stats();
            Ok(if json {
                pmd_stats_json(&st)
            } else {
                pmd_stats_text(&st)
            })
        }),
    );
    let (s, ct) = (sw.clone(), clear_time.clone());
    c.register(
        "dpif-netdev/pmd-perf-show",
        "dpif-netdev/pmd-perf-show",
        "per-PMD iterations, cycles, Kpps, cycles/packet, lookup split, upcalls",
        0,
        0,
        Box::new(move |_, _| {
            let st = s.dp.pmd_stats();
            let secs = ct
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .elapsed()
                .as_secs_f64();
            Ok(pmd_perf_text(&st, secs))
        }),
    );
    let (s, ct) = (sw.clone(), clear_time);
    c.register(
        "dpif-netdev/pmd-stats-clear",
        "dpif-netdev/pmd-stats-clear",
        "reset the PMD counters shown by pmd-stats-show and pmd-perf-show",
        0,
        0,
        Box::new(move |_, _| {
            s.dp.clear_pmd_stats();
            *ct.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
            Ok(String::new())
        }),
    );
    let s = sw.clone();
    c.register(
        "dpif-netdev/pmd-rxq-show",
        "dpif-netdev/pmd-rxq-show",
        "which receive queues each PMD polls, with each queue's share of its PMD's cycles since the last assignment",
        0,
        0,
        Box::new(move |_, json| Ok(crate::rxq_commands::rxq_show(&s.dp.pmd_rxqs(), json))),
    );
    let s = sw.clone();
    c.register(
        "dpif-netdev/pmd-rxq-rebalance",
        "dpif-netdev/pmd-rxq-rebalance",
        "reassign receive queues to PMDs now by measured load (pmd.rxq_assign), moving only those that change PMD",
        0,
        0,
        Box::new(move |_, _| {
            let moves = s.dp.rebalance().map_err(|e| e.to_string())?;
            Ok(crate::rxq_commands::moves_text(&moves))
        }),
    );
    let s = sw.clone();
    c.register(
        "dpctl/dump-flows",
        "dpctl/dump-flows [-m]",
        "installed megaflows with their stats, as OVS prints them",
        0,
        1,
        Box::new(move |args, json| {
            let verbose = args.first().is_some_and(|a| a == "-m");
            let now = s.dp.now_ms();
            let flows = s.dp.dump_flows();
            if json {
                let v: Vec<_> = flows
                    .iter()
                    .map(|(pmd, f)| {
                        let st = f.stats.snapshot();
                        serde_json::json!({
                            "pmd": pmd,
                            "ufid": format!("{:032x}", f.ufid),
                            "match": odp::format_key(&f.key, Some(&f.mask)),
                            "actions": odp::format_actions(&f.actions),
                            "packets": st.packets,
                            "bytes": st.bytes,
                        })
                    })
                    .collect();
                return Ok(serde_json::Value::Array(v).to_string());
            }
            let mut out = String::new();
            let mut last = None;
            for (pmd, f) in flows {
                if last != Some(pmd) {
                    let core = s.dp.pmd_cores().get(pmd).copied().flatten();
                    let _ = writeln!(out, "flow-dump from pmd on cpu core: {}", core_label(core));
                    last = Some(pmd);
                }
                let line = odp::format_flow(&f, now);
                if verbose {
                    let _ = writeln!(out, "ufid:{:032x}, {line}", f.ufid);
                } else {
                    let _ = writeln!(out, "{line}");
                }
            }
            Ok(out)
        }),
    );
    let s = sw.clone();
    c.register(
        "dump-flows",
        "dump-flows BRIDGE",
        "OpenFlow rules with n_packets/n_bytes, as ovs-ofctl dump-flows",
        1,
        1,
        Box::new(move |args, _| {
            let b = bridge(&s, &args[0])?;
            // Rule stats come from the megaflows, pushed by the revalidator
            // every revalidate_interval_ms; push them now so the counts
            // include every packet processed before this command.
            s.dp.revalidate_now();
            let now = s.dp.now_ms();
            let t = b.tables.read().unwrap_or_else(|e| e.into_inner());
            let mut out = String::new();
            for r in t.rules() {
                let _ = writeln!(out, "{}", rule_line(&r, now, &b.ports));
            }
            Ok(out)
        }),
    );
    let s = sw.clone();
    c.register(
        "add-flow",
        "add-flow BRIDGE FLOW",
        "add a flow (ovs-ofctl syntax), e.g. add-flow br0 priority=10,in_port=1,actions=output:2",
        2,
        2,
        Box::new(move |args, _| {
            let b = bridge(&s, &args[0])?;
            let fm = ofctl::parse_flow_mod(&args[1], FlowModCommand::Add, &b.ports)
                .map_err(|e| e.to_string())?;
            change_flows(&s, b, &[fm])
        }),
    );
    let s = sw.clone();
    c.register(
        "add-flows",
        "add-flows BRIDGE FILE",
        "add every flow of FILE, all or nothing (errors name FILE:LINE)",
        2,
        2,
        Box::new(move |args, _| {
            let b = bridge(&s, &args[0])?;
            let text =
                std::fs::read_to_string(&args[1]).map_err(|e| format!("{}: {e}", args[1]))?;
            let mods = ofctl::parse_flow_mods(&text, FlowModCommand::Add, &b.ports)
                .map_err(|e| format!("{}:{e}", args[1]))?;
            change_flows(&s, b, &mods)
        }),
    );
    let s = sw.clone();
    c.register(
        "del-flows",
        "del-flows BRIDGE [--strict] [MATCH]",
        "delete the flows within MATCH (all without one), e.g. del-flows br0 in_port=1",
        1,
        3,
        Box::new(move |args, _| {
            let b = bridge(&s, &args[0])?;
            let (strict, rest) = strict(&args[1..]);
            let cmd = if strict {
                FlowModCommand::DeleteStrict
            } else {
                FlowModCommand::Delete
            };
            let fm = match rest.first() {
                Some(m) => ofctl::parse_flow_mod(m, cmd, &b.ports).map_err(|e| e.to_string())?,
                None => FlowMod::new(cmd),
            };
            change_flows(&s, b, &[fm])
        }),
    );
    let s = sw.clone();
    c.register(
        "mod-flows",
        "mod-flows BRIDGE [--strict] FLOW",
        "change the actions of the flows within FLOW's match",
        2,
        3,
        Box::new(move |args, _| {
            let b = bridge(&s, &args[0])?;
            let (strict, rest) = strict(&args[1..]);
            let cmd = if strict {
                FlowModCommand::ModifyStrict
            } else {
                FlowModCommand::Modify
            };
            let flow = rest.first().ok_or("mod-flows: missing FLOW")?;
            let fm = ofctl::parse_flow_mod(flow, cmd, &b.ports).map_err(|e| e.to_string())?;
            change_flows(&s, b, &[fm])
        }),
    );
    let s = sw.clone();
    c.register(
        "ofproto/trace",
        "ofproto/trace BRIDGE FLOW [HEX-PACKET]",
        "explain how a flow (or a packet, with in_port in FLOW) goes through the tables",
        2,
        3,
        Box::new(move |args, _| {
            let b = bridge(&s, &args[0])?;
            let key = trace_key(b, &args[1..])?;
            let t = b.tables.read().unwrap_or_else(|e| e.into_inner());
            let (text, _) = s
                .bridges
                .with_view(b, |v| ofproto::trace::trace(&t, v, &b.ports, &b.name, &key));
            Ok(text)
        }),
    );
    let s = sw.clone();
    c.register(
        "netdev-dummy/receive",
        "netdev-dummy/receive PORT HEX-PACKET...",
        "inject packets into a dummy port; returns once they are fully processed",
        2,
        usize::MAX,
        Box::new(move |args, _| {
            let inj = s
                .dummies
                .get(&args[0])
                .ok_or_else(|| format!("{}: no such dummy port", args[0]))?;
            let frames = args[1..]
                .iter()
                .map(|h| parse_hex(h).ok_or_else(|| format!("\"{h}\": not a hex packet")))
                .collect::<Result<Vec<_>, _>>()?;
            inj.inject(frames).map_err(|e| e.to_string())?;
            let deadline = Instant::now() + Duration::from_secs(10);
            while !inj.is_empty() {
                if Instant::now() > deadline {
                    return Err("packets not received by the PMD within 10 s".into());
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            if !s.dp.drain() {
                return Err(
                    "packets injected, but a PMD did not finish processing within 10 s".into(),
                );
            }
            Ok(String::new())
        }),
    );
    let s = sw.clone();
    c.register(
        "fdb/show",
        "fdb/show BRIDGE",
        "the MACs NORMAL has learned: port, VLAN, MAC, age in seconds (as ovs-appctl fdb/show)",
        1,
        1,
        Box::new(move |args, json| {
            let b = bridge(&s, &args[0])?;
            Ok(fdb_text(&s.bridges.fdb_rows(b), &b.ports, json))
        }),
    );
    let s = sw.clone();
    c.register(
        "fdb/flush",
        "fdb/flush [BRIDGE]",
        "forget the learned MACs of one bridge (or all); megaflows follow before it returns",
        0,
        1,
        Box::new(move |args, _| {
            let list: Vec<&Bridge> = match args.first() {
                Some(n) => vec![bridge(&s, n)?],
                None => s.bridges.bridges.iter().collect(),
            };
            // Credit the hits so far first: crediting them after the flush
            // would relearn MACs from traffic that came before it.
            s.dp.revalidate_now();
            s.dp.change_tables(|| {
                for b in &list {
                    s.bridges.flush_macs(b);
                }
            });
            Ok("table successfully flushed\n".into())
        }),
    );
    crate::tnl_commands::register(&mut c, &sw);
    crate::tlv_commands::register(&mut c, &sw);
    let s = sw.clone();
    c.register(
        "dump-ports",
        "dump-ports BRIDGE",
        "per-port counters, as ovs-ofctl dump-ports (DPDK ports: the device's counters and link state)",
        1,
        1,
        Box::new(move |args, json| {
            let b = bridge(&s, &args[0])?;
            let mut rows = Vec::new();
            let dp_ports = s.dp.ports();
            for bp in b.ports.list() {
                if let Some(p) = dp_ports.iter().find(|p| p.odp == bp.odp) {
                    rows.push((bp, port_counters(p), p.tx.link_up()));
                }
            }
            if json {
                let v: Vec<_> = rows
                    .iter()
                    .map(|(bp, st, link)| {
                        serde_json::json!({
                            "port": bp.ofport, "name": bp.name,
                            "rx_packets": st.rx_packets, "rx_bytes": st.rx_bytes, "rx_dropped": st.rx_dropped,
                            "rx_errors": st.rx_errors,
                            "tx_packets": st.tx_packets, "tx_bytes": st.tx_bytes, "tx_dropped": st.tx_dropped,
                            "tx_errors": st.tx_errors,
                            "link_up": link,
                        })
                    })
                    .collect();
                return Ok(serde_json::Value::Array(v).to_string());
            }
            let mut out = format!("OFPST_PORT reply: {} ports\n", rows.len());
            for (bp, st, link) in rows {
                let label = if bp.ofport == ofproto::ofaction::ofp::LOCAL {
                    "LOCAL".to_string()
                } else {
                    format!("{:>2}", bp.ofport)
                };
                let _ = writeln!(
                    out,
                    "  port {label}: rx pkts={}, bytes={}, drop={}, errs={}, frame=0, over=0, crc=0",
                    st.rx_packets, st.rx_bytes, st.rx_dropped, st.rx_errors
                );
                let _ = writeln!(
                    out,
                    "           tx pkts={}, bytes={}, drop={}, errs={}, coll=0{}",
                    st.tx_packets,
                    st.tx_bytes,
                    st.tx_dropped,
                    st.tx_errors,
                    // Only devices that know their link (DPDK) say.
                    match link {
                        Some(true) => ", link=up",
                        Some(false) => ", link=down",
                        None => "",
                    }
                );
            }
            Ok(out)
        }),
    );
    let s = sw.clone();
    c.register(
        "dpif-netdev/drop-stats",
        "dpif-netdev/drop-stats",
        "datapath drops by reason (OVS's datapath_drop_* coverage counters)",
        0,
        0,
        Box::new(move |_, _| {
            let mut out = String::new();
            for (r, n) in s.dp.drop_stats() {
                let _ = writeln!(out, "{}: {n} ({})", r.name(), r.description());
            }
            Ok(out)
        }),
    );
    crate::port_commands::register(&mut c, &sw);
    let s = sw;
    c.register(
        "exit",
        "exit",
        "stop the switch cleanly (PMDs stopped, pcap files flushed)",
        0,
        0,
        Box::new(move |_, _| {
            s.exit.store(true, Ordering::Release);
            Ok(String::new())
        }),
    );
    c
}

/// `fdb/show` text (OVS's columns) or JSON.
fn fdb_text(rows: &[ofproto::mac_learning::FdbRow], ports: &PortMap, json: bool) -> String {
    let port_label = |p: u32| {
        if p == ofproto::ofaction::ofp::LOCAL {
            "LOCAL".to_string()
        } else {
            p.to_string()
        }
    };
    let mac = dpif_netdev::wire::format_mac;
    if json {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "port": port_label(r.port),
                    "port_name": ports.port_name_of(r.port),
                    "vlan": r.vlan,
                    "mac": mac(&r.mac),
                    "age": r.age_s,
                })
            })
            .collect();
        return serde_json::Value::Array(v).to_string() + "\n";
    }
    let mut s = String::from(" port  VLAN  MAC                Age\n");
    for r in rows {
        let _ = writeln!(
            s,
            "{:>5}  {:>4}  {}  {:>3}",
            port_label(r.port),
            r.vlan,
            mac(&r.mac),
            r.age_s
        );
    }
    s
}
