//! `rvs run`: build the switch from a config file and run it until told to
//! stop (SIGINT, SIGTERM, `rvs ctl exit`, or with `--exit-on-eof` when every
//! non-looping capture has been replayed and every packet has left).
//!
//! Startup is all or nothing: a bad config, a bad flow, a missing capture or
//! an unavailable core stops it before any thread starts, with an error that
//! names the file, key or line.

use crate::bridge::{Bridge, BridgePort, Bridges, LocalPort, PortMap};
use crate::commands;
use crate::config::{self, Config, PortKind};
use crate::ctl::CtlServer;
use crate::tunnels::{TunnelState, Vport};
use ofproto::flow_mod::FlowModCommand;
use ofproto::l2::PortVlan;
use ofproto::mac_learning::MacTable;
use ofproto::ofaction::ofp;
use ofproto::ofctl;
use ofproto::table::Tables;
use pmd::dummy::{open_dummy, DummyInjector};
use pmd::pcap_port::{open_pcap, PcapPortConfig};
use pmd::ring::ring_port;
use pmd::{open_afpacket, open_tap, AfPacketConfig, Datapath, DatapathConfig, PortSpec, PortStats};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Why `rvs run` could not start or failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The config file is invalid.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// A flow in the config (or its flows file) is invalid.
    #[error("{0}")]
    Flow(String),
    /// A port could not be opened.
    #[error("bridge {bridge}: port {port}: {source}")]
    Port {
        /// Bridge name.
        bridge: String,
        /// Port name.
        port: String,
        /// What failed.
        source: pmd::PortError,
    },
    /// The datapath could not start.
    #[error(transparent)]
    Datapath(#[from] pmd::DatapathError),
    /// The control socket could not be opened.
    #[error("control socket: {0}")]
    Ctl(#[from] crate::ctl::CtlError),
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signal(std::io::Error),
}

/// The running switch, shared with the control commands.
pub struct Switch {
    /// The datapath.
    pub dp: Datapath,
    /// The bridges and their tables.
    pub bridges: Arc<Bridges>,
    /// Dummy ports' injectors by port name.
    pub dummies: HashMap<String, DummyInjector>,
    /// Set to stop the switch.
    pub exit: Arc<AtomicBool>,
    /// The config it started from (`add-port` opens ports with its
    /// `[dpdk]` and `[pmd]` settings).
    pub config: Config,
    /// Directory relative paths in `add-port` resolve against (the
    /// config file's).
    pub base_dir: PathBuf,
    /// Serialises `add-port` and `del-port`.
    pub port_changes: std::sync::Mutex<()>,
}

/// Parses a bridge's initial flows, all or nothing; errors name the config
/// key (`bridge[0].flows[3]`) or the flows file line (`flows.txt:12`).
fn initial_flows(
    bi: usize,
    b: &config::BridgeConfig,
    ports: &PortMap,
) -> Result<Vec<ofproto::flow_mod::FlowMod>, RunError> {
    b.flow_lines()?
        .into_iter()
        .map(|(origin, line)| {
            let at = match origin {
                config::FlowOrigin::Inline { .. } => format!("bridge[{bi}].{origin}"),
                config::FlowOrigin::File { .. } => origin.to_string(),
            };
            ofctl::parse_flow_mod(&line, FlowModCommand::Add, ports)
                .map_err(|e| RunError::Flow(format!("{at}: {e}")))
        })
        .collect()
}

/// Opens every port and builds the bridges. Nothing runs yet.
#[allow(clippy::type_complexity)]
fn build(
    cfg: &Config,
) -> Result<
    (
        Vec<PortSpec>,
        Vec<Bridge>,
        HashMap<String, DummyInjector>,
        TunnelState,
    ),
    RunError,
> {
    let mut specs = Vec::new();
    let mut bridges = Vec::new();
    let mut dummies = HashMap::new();
    let mut vports: Vec<Vport> = Vec::new();
    let mut odp = 1u32;
    for (bi, b) in cfg.bridges.iter().enumerate() {
        let mut map = Vec::new();
        for p in &b.ports {
            if let PortKind::Tunnel(t) = &p.kind {
                // Tunnel ports share one datapath vport per type and UDP
                // port; it has no device.
                let v = match vports
                    .iter()
                    .find(|v| v.kind == t.kind && v.dst_port == t.dst_port)
                {
                    Some(v) => v.odp,
                    None => {
                        let name = Vport::name_for(t.kind, t.dst_port);
                        let stats = Arc::new(PortStats::default());
                        specs.push(PortSpec {
                            odp,
                            name: name.clone(),
                            rxqs: Vec::new(),
                            finite: false,
                            tx: Arc::new(pmd::NullTx {
                                stats: stats.clone(),
                            }),
                            stats,
                        });
                        vports.push(Vport {
                            name,
                            kind: t.kind,
                            dst_port: t.dst_port,
                            odp,
                        });
                        odp += 1;
                        odp - 1
                    }
                };
                map.push(BridgePort {
                    name: p.name.clone(),
                    ofport: p.ofport,
                    odp: v,
                    vlan: p.vlan.clone(),
                    tunnel: Some(t.clone()),
                });
                continue;
            }
            let stats = Arc::new(PortStats::default());
            let perr = |source| RunError::Port {
                bridge: b.name.clone(),
                port: p.name.clone(),
                source,
            };
            tracing::debug!(bridge = %b.name, port = %p.name, kind = p.kind.type_name(), "opening port");
            let (rxqs, finite, tx) =
                open_port(cfg, &p.name, &p.kind, &stats, &mut dummies).map_err(perr)?;
            specs.push(PortSpec {
                odp,
                name: p.name.clone(),
                rxqs,
                finite,
                tx,
                stats,
            });
            map.push(BridgePort {
                name: p.name.clone(),
                ofport: p.ofport,
                odp,
                vlan: p.vlan.clone(),
                tunnel: None,
            });
            odp += 1;
        }
        let mut local = None;
        if b.internal {
            let (spec, lp) = open_local(&b.name, odp, &mut dummies);
            specs.push(spec);
            local = Some(lp);
            map.push(BridgePort {
                name: b.name.clone(),
                ofport: ofp::LOCAL,
                odp,
                vlan: PortVlan::trunk_all(),
                tunnel: None,
            });
            odp += 1;
        }
        let map = PortMap::new(map);
        map.set_tlv(b.tlv_map.clone());
        let mut mods = initial_flows(bi, b, &map)?;
        if b.default_flows {
            // As OVS: a bridge nobody gave flows to is a learning switch.
            mods = ofctl::parse_flow_mods("priority=0,actions=normal", FlowModCommand::Add, &map)
                .map_err(|e| RunError::Flow(e.to_string()))?;
        }
        let mut tables = Tables::new();
        tables
            .apply(&mods, 0)
            .map_err(|e| RunError::Flow(format!("bridge[{bi}] ({}): {e}", b.name)))?;
        let macs = MacTable::new(b.mac_aging_s * 1000, b.mac_table_size);
        bridges.push(Bridge::new(b.name.clone(), map, tables, macs, local));
    }
    let tunnels = TunnelState::new(vports, cfg.routes.clone());
    Ok((specs, bridges, dummies, tunnels))
}

/// The bridge's LOCAL port: a TAP device named after the bridge. Where
/// one cannot be made (no TUN support, not permitted, the name taken) the
/// switch runs on, as OVS does, with a LOCAL port that has no device (a
/// dummy port: what is sent to it is counted and dropped, and
/// `netdev-dummy/receive` can still feed it).
fn open_local(
    bridge: &str,
    odp: u32,
    dummies: &mut HashMap<String, DummyInjector>,
) -> (PortSpec, LocalPort) {
    let stats = Arc::new(PortStats::default());
    let (rxqs, tx, local): (Vec<Box<dyn pmd::RxQueue>>, Arc<dyn pmd::TxPort>, LocalPort) =
        match open_tap(bridge, bridge, stats.clone()) {
            Ok(((rx, tx), inj)) => {
                let mac = std::fs::read_to_string(format!("/sys/class/net/{bridge}/address"))
                    .ok()
                    .and_then(|s| crate::tunnels::parse_mac(s.trim()))
                    .unwrap_or_else(|| made_up_mac(bridge));
                let local = LocalPort {
                    odp,
                    mac,
                    ifname: Some(bridge.to_owned()),
                    inject: Box::new(move |f| inj.inject(f)),
                };
                (vec![rx], tx, local)
            }
            Err(e) => {
                tracing::warn!(bridge, error = %e, "internal port has no device");
                eprintln!("rvs: warning: bridge {bridge}: {e}; its LOCAL port has no device");
                // Cannot fail: only creating a capture file can.
                let (rx, tx, inj) = match open_dummy(bridge, None, stats.clone()) {
                    Ok(d) => d,
                    Err(e) => unreachable!("dummy port without a capture: {e}"),
                };
                dummies.insert(bridge.to_owned(), inj.clone());
                let local = LocalPort {
                    odp,
                    mac: made_up_mac(bridge),
                    ifname: None,
                    inject: Box::new(move |f| inj.inject(vec![f]).is_ok()),
                };
                (vec![rx], tx, local)
            }
        };
    let spec = PortSpec {
        odp,
        name: bridge.to_owned(),
        rxqs,
        finite: false,
        tx,
        stats,
    };
    (spec, local)
}

/// A stable, locally administered MAC for a LOCAL port without a device.
fn made_up_mac(bridge: &str) -> [u8; 6] {
    let h = bridge.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    let b = h.to_be_bytes();
    [0x02, b[0], b[1], b[2], b[3], b[4]]
}

/// What an opened port gives the datapath: receive queues, whether they
/// end (non-looping capture), and the transmit side.
pub type OpenedPort = (Vec<Box<dyn pmd::RxQueue>>, bool, Arc<dyn pmd::TxPort>);

/// Opens one port of type `kind` (at startup, or by `add-port`); dummy
/// ports' injectors go into `dummies`.
pub fn open_port(
    cfg: &Config,
    name: &str,
    kind: &PortKind,
    stats: &Arc<PortStats>,
    dummies: &mut HashMap<String, DummyInjector>,
) -> Result<OpenedPort, pmd::PortError> {
    Ok(match kind {
        PortKind::Pcap {
            rx_pcap,
            tx_pcap,
            looping,
        } => {
            let pc = PcapPortConfig {
                rx_pcap: rx_pcap.clone(),
                tx_pcap: tx_pcap.clone(),
                looping: *looping,
            };
            let (rx, tx) = open_pcap(name, &pc, stats.clone())?;
            let finite = rx.is_some() && !*looping;
            (rx.into_iter().collect(), finite, tx)
        }
        PortKind::Dummy { tx_pcap } => {
            let (rx, tx, inj) = open_dummy(name, tx_pcap.as_deref(), stats.clone())?;
            dummies.insert(name.to_string(), inj);
            (vec![rx], false, tx)
        }
        PortKind::Ring => {
            let (rx, tx, _end) = ring_port(name, 4096, stats.clone());
            (vec![rx], false, tx)
        }
        PortKind::Dpdk { .. } => {
            let n_pmds = cfg.pmd.cores.len();
            let (rx, tx) = crate::dpdk_port::open(&cfg.dpdk, name, kind, n_pmds, stats.clone())?;
            (rx, false, tx)
        }
        PortKind::AfPacket { iface } => {
            let ac = AfPacketConfig {
                name: name.to_string(),
                iface: iface.clone(),
            };
            let (rx, tx) = open_afpacket(&ac, stats.clone())?;
            (vec![rx], false, tx)
        }
        PortKind::Tunnel(_) => {
            return Err(pmd::PortError::Config {
                port: name.to_string(),
                reason: "a tunnel port has no device of its own (it joins its vport)".into(),
            })
        }
    })
}

/// Removes OpenFlow rules whose idle or hard timeout has passed (idle
/// time counts from the last hit the revalidator pushed into the rule),
/// through the datapath so their megaflows go with them.
fn expire_rules(sw: &Switch) {
    let now = sw.dp.now_ms();
    for b in &sw.bridges.bridges {
        let due = b
            .tables
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .any_expired(now);
        if due {
            let gone = sw.dp.change_tables(|| {
                let g = b
                    .tables
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .expire(now);
                if !g.is_empty() {
                    sw.bridges.bump_version();
                }
                g
            });
            for (r, why) in gone {
                tracing::info!(bridge = %b.name, priority = r.priority, reason = ?why, "flow expired");
            }
        }
    }
}

/// Runs the switch described by `config_path`.
pub fn run(config_path: &Path, exit_on_eof: bool) -> Result<(), RunError> {
    let cfg = config::load(config_path)?;
    let (specs, bridges, dummies, tunnels) = build(&cfg)?;
    let bridges = Arc::new(Bridges::new(bridges, tunnels));
    for b in &bridges.bridges {
        let others = bridges.tlv_conflicts(b);
        if !others.is_empty() {
            eprintln!(
                "rvs: warning: bridge {} shares a Geneve UDP port with {} but has a different tlv_map: options on that port are not mapped",
                b.name,
                others.join(", ")
            );
        }
    }
    bridges.tunnels.refresh_local_addrs(&bridges.bridges);
    let dpcfg = DatapathConfig {
        cores: cfg.pmd.cores.clone(),
        emc_insert_inv_prob: cfg.pmd.emc_insert_inv_prob,
        emc_auto: cfg.pmd.emc_auto,
        handler_threads: cfg.pmd.handler_threads,
        max_idle_ms: cfg.pmd.max_idle_ms,
        revalidate_interval_ms: cfg.pmd.revalidate_interval_ms,
        flow_limit: cfg.pmd.flow_limit,
        rxq_assign: match cfg.pmd.rxq_assign {
            config::RxqAssign::RoundRobin => pmd::sched::RxqAssign::RoundRobin,
            config::RxqAssign::Cycles => pmd::sched::RxqAssign::Cycles,
            config::RxqAssign::Group => pmd::sched::RxqAssign::Group,
        },
        auto_lb: cfg.pmd.pmd_auto_lb.then(|| pmd::rxqs::AutoLb {
            interval_ms: cfg.pmd.pmd_auto_lb_interval_ms,
            ..pmd::rxqs::AutoLb::default()
        }),
        ..DatapathConfig::default()
    };
    let exit = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, exit.clone()).map_err(RunError::Signal)?;
    }
    let server = CtlServer::bind(&cfg.control.socket)?;
    let dp = Datapath::start(dpcfg, specs, bridges.clone())?;
    let switch = Arc::new(Switch {
        dp,
        bridges,
        dummies,
        exit: exit.clone(),
        base_dir: config_path.parent().unwrap_or(Path::new("")).to_path_buf(),
        config: cfg,
        port_changes: std::sync::Mutex::new(()),
    });
    let socket: PathBuf = server.path().to_path_buf();
    tracing::info!(
        socket = %socket.display(),
        bridges = switch.bridges.bridges.len(),
        ports = switch.dp.ports().len(),
        "rvs running"
    );
    eprintln!("rvs: running; control socket {}", socket.display());

    let handler = commands::build(switch.clone()).into_handler();
    let stop_ctl = Arc::new(AtomicBool::new(false));
    let ctl_thread = {
        let stop = stop_ctl.clone();
        std::thread::Builder::new()
            .name("ctl".into())
            .spawn(move || server.serve(handler, stop))
            .map_err(RunError::Signal)?
    };

    if exit_on_eof && !switch.dp.has_finite_rx() {
        tracing::warn!("--exit-on-eof: no non-looping pcap rx port; running until stopped");
    }
    let mut last_expiry = std::time::Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(10));
        if exit.load(Ordering::Acquire) {
            break;
        }
        if last_expiry.elapsed() >= Duration::from_millis(250) {
            last_expiry = std::time::Instant::now();
            expire_rules(&switch);
            let aged = switch.bridges.age_macs();
            if aged > 0 {
                tracing::debug!(aged, "MAC entries aged out");
            }
            if switch.bridges.tunnels.has_vports()
                && switch
                    .bridges
                    .tunnels
                    .refresh_local_addrs(&switch.bridges.bridges)
            {
                // New local addresses and connected routes: tunnel
                // megaflows are translated again.
                switch.bridges.bump_version();
            }
        }
        if exit_on_eof && switch.dp.finite_rx_done() {
            // Every capture is read: wait for in-flight packets, upcalls
            // included, to leave.
            if !switch.dp.drain() {
                tracing::warn!("exiting although a PMD did not finish its upcalls");
            }
            break;
        }
    }
    stop_ctl.store(true, Ordering::Release);
    let _ = ctl_thread.join();
    switch.dp.stop();
    eprint!("{}", commands::port_summary(&switch));
    Ok(())
}
