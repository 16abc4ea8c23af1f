//! The TOML configuration of `rvs run --config rvs.toml`.
//!
//! One file describes the whole switch: the control socket, the PMD threads
//! and their tuning knobs (OVS's `other_config:pmd-cpu-mask`,
//! `emc-insert-inv-prob`, `n-handler-threads`, `max-idle`, `flow-limit`),
//! and the bridges with their ports and OpenFlow flows:
//!
//! ```toml
//! [control]
//! socket = "rvs.ctl"            # relative to this file's directory
//!
//! [pmd]
//! cores = [1]                   # one PMD thread per core
//! emc_insert_inv_prob = 100     # 0 = never insert into the EMC
//! emc_auto = true               # skip EMC lookups while they cost more than they save
//! handler_threads = 1
//! max_idle_ms = 10000
//! revalidate_interval_ms = 500
//! flow_limit = 200000           # megaflows per PMD
//!
//! [[bridge]]
//! name = "br0"
//! flows = ["priority=10,in_port=1,actions=output:2"]  # or flows_file = "flows.txt"
//!
//! [[bridge.port]]
//! name = "p0"
//! ofport = 1                    # optional: lowest free number from 1 up
//! type = "pcap"                 # "pcap" | "dummy" | "ring" | "afpacket"
//! rx_pcap = "in.pcap"           # pcap only
//! tx_pcap = "p0-out.pcap"       # pcap and dummy
//! loop = false                  # pcap only: replay rx_pcap forever
//! # iface = "veth0"             # afpacket only: the Linux interface
//! # vlan_mode = "access"        # access | trunk | native-untagged | native-tagged
//! # tag = 100                   # access / native VLAN
//! # trunks = [100, 200]         # VLANs a trunk carries (default: all)
//!
//! [[bridge.port]]
//! name = "dpdk0"
//! type = "dpdk"                 # a DPDK ethdev (needs rvs built with --features dpdk)
//! devargs = "0000:03:00.0"      # PCI address, or a vdev: "net_pcap0,rx_pcap=in.pcap"
//! n_rxq = 2                     # receive queues (RSS); default 1
//! n_txq = 2                     # transmit queues; default one per PMD
//! rxq_size = 2048               # descriptors per queue; default 2048
//! txq_size = 2048
//! mtu = 1500
//!
//! [dpdk]
//! eal_args = ["--in-memory", "-l", "0"]   # rte_eal_init arguments (this is the default)
//! ```
//!
//! Tunnel ports (`type = "vxlan"` or `"geneve"`) take OVS's options:
//! `remote_ip` (an IPv4 address or `"flow"`), `local_ip`, `key` (a number
//! or `"flow"`), `dst_port`, `tos` and `ttl` (numbers, or `"inherit"`
//! from the inner IP header), `df_default`, `csum`. Underlay
//! routes beyond the connected ones of internal port addresses are
//! `[[route]]` tables: `prefix = "172.31.0.0/16"`, `bridge = "br-phy"`
//! (whose internal port the route leaves by), optional `gateway` and `src`.
//!
//! A bridge's `tlv_map` (a list of `"{class=0xffff,type=0,len=4}->tun_metadata0"`
//! strings, as `add-tlv-map` takes them) maps Geneve options to
//! `tun_metadata0..7` for its flows.
//!
//! A bridge also has `mac_aging_s` (default 300) and `mac_table_size`
//! (default 2048) for NORMAL's MAC learning, and `internal` (default true):
//! its LOCAL port, a TAP device named after the bridge, as OVS creates one
//! per bridge. A bridge that gives neither `flows` nor `flows_file` starts
//! with `priority=0,actions=normal`, as OVS does.
//!
//! Every relative path (the socket, `flows_file`, `rx_pcap`, `tx_pcap`) is
//! resolved against the directory of the config file, so a config works the
//! same whatever directory `rvs run` starts in.
//!
//! # Errors
//!
//! A bad config is refused whole, with one error naming the file and the key
//! in the file's own terms: `rvs.toml: bridge[0].port[2].type: unknown port
//! type "pcpa"`. Unknown keys are errors (a typo must not silently fall back
//! to a default). TOML syntax errors keep toml's line/column report.
//!
//! What this module does not check: that files exist or cores are present
//! on this machine, and the flows' syntax. Those are checked by `rvs run`
//! when it opens ports, pins threads and parses the flows, each error again
//! naming what it came from.

use ofproto::l2::{PortVlan, VlanMode};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Highest OpenFlow port number a port may have (OFPP_MAX - 1: 0xff00 and
/// above are reserved ports such as LOCAL and CONTROLLER).
pub const OFPORT_MAX: u32 = 0xfeff;

/// Socket file name used when `[control] socket` is not given.
pub const DEFAULT_SOCKET: &str = "rvs.ctl";

/// The whole switch configuration, validated, with every path resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The control socket (`[control]`).
    pub control: ControlConfig,
    /// PMD threads and datapath tuning (`[pmd]`).
    pub pmd: PmdConfig,
    /// The bridges (`[[bridge]]`), in file order.
    pub bridges: Vec<BridgeConfig>,
    /// Underlay routes for tunnels (`[[route]]`).
    pub routes: Vec<ofproto::tunnel::Route>,
    /// DPDK's EAL (`[dpdk]`), used when a port has `type = "dpdk"`.
    pub dpdk: DpdkConfig,
}

/// `[dpdk]`: how DPDK's EAL is initialised (once, when the first DPDK
/// port opens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpdkConfig {
    /// Arguments of `rte_eal_init` (the program name is added). Default
    /// [`DEFAULT_EAL_ARGS`]: no shared files, main lcore on core 0
    /// (hugepages needed; see hugepages.md, or `--no-huge` for tests).
    pub eal_args: Vec<String>,
}

/// `[dpdk] eal_args` when the config gives none.
pub const DEFAULT_EAL_ARGS: &[&str] = &["--in-memory", "-l", "0"];

impl Default for DpdkConfig {
    fn default() -> Self {
        DpdkConfig {
            eal_args: DEFAULT_EAL_ARGS.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// `[pmd] rxq_assign`: how receive queues are spread over PMDs (OVS's
/// `pmd-rxq-assign`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RxqAssign {
    /// In port and queue order, one PMD after the other.
    RoundRobin,
    /// Busiest queue first (measured processing cycles), each to the PMD
    /// with the fewest cycles so far, PMDs taken in turn (OVS's default).
    #[default]
    Cycles,
    /// Busiest queue first, each to the least loaded PMD.
    Group,
}

/// `[control]`: where `rvs ctl` finds the running switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlConfig {
    /// Path of the unix control socket; default `rvs.ctl` next to the config
    /// file.
    pub socket: PathBuf,
}

/// `[pmd]`: PMD threads and the knobs of the datapath around them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PmdConfig {
    /// One PMD thread pinned to each of these cores (default `[0]`); never
    /// empty, no duplicates.
    pub cores: Vec<usize>,
    /// EMC inverse insertion probability: a missed flow enters the EMC with
    /// probability 1/N; 0 never inserts (OVS's `emc-insert-inv-prob`,
    /// default 100).
    pub emc_insert_inv_prob: u32,
    /// Whether each PMD times its bursts with and without EMC lookups now
    /// and then and skips the lookups while they cost more than they save
    /// (default true; false: always look up, as OVS does). See
    /// `pmd::emc_auto`.
    pub emc_auto: bool,
    /// Upcall handler threads (default 1, at least 1).
    pub handler_threads: usize,
    /// Idle megaflows expire after this many milliseconds (OVS's
    /// `max-idle`, default 10000).
    pub max_idle_ms: u64,
    /// Revalidator period in milliseconds (default 500).
    pub revalidate_interval_ms: u64,
    /// Most megaflows per PMD (OVS's `flow-limit`, default 200000).
    pub flow_limit: usize,
    /// How receive queues are assigned to PMDs (default cycles).
    pub rxq_assign: RxqAssign,
    /// Reassign receive queues by themselves when PMD loads are uneven
    /// (OVS's `pmd-auto-lb`, default false).
    pub pmd_auto_lb: bool,
    /// How often auto load balancing looks at the loads, in milliseconds
    /// (default 60000, OVS's `pmd-auto-lb-rebal-interval` of one minute).
    pub pmd_auto_lb_interval_ms: u64,
}

impl Default for PmdConfig {
    fn default() -> Self {
        PmdConfig {
            cores: vec![0],
            emc_insert_inv_prob: 100,
            emc_auto: true,
            handler_threads: 1,
            max_idle_ms: 10_000,
            revalidate_interval_ms: 500,
            flow_limit: 200_000,
            rxq_assign: RxqAssign::default(),
            pmd_auto_lb: false,
            pmd_auto_lb_interval_ms: 60_000,
        }
    }
}

/// `[[bridge]]`: one bridge, its OpenFlow flows and its ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeConfig {
    /// Bridge name, unique among bridges.
    pub name: String,
    /// Flows in `ovs-ofctl add-flow` syntax, given inline (`flows = [...]`).
    pub flows: Vec<String>,
    /// A file of flows in `ovs-ofctl add-flows` syntax (resolved path);
    /// never given together with `flows`.
    pub flows_file: Option<PathBuf>,
    /// The ports (`[[bridge.port]]`), in file order.
    pub ports: Vec<PortConfig>,
    /// MAC learning entries age out after this many seconds (OVS's
    /// `mac-aging-time`, default 300).
    pub mac_aging_s: u64,
    /// Most MAC learning entries (OVS's `mac-table-size`, default 2048).
    pub mac_table_size: usize,
    /// Whether to create the LOCAL port's TAP device (default true).
    pub internal: bool,
    /// Whether the config gave no flows at all (then the bridge starts
    /// with `priority=0,actions=normal`).
    pub default_flows: bool,
    /// The Geneve TLV map (`tlv_map = ["{class=..,type=..,len=..}->tun_metadataN"]`,
    /// as `add-tlv-map` takes it), set before the bridge's flows are
    /// parsed so they can use `tun_metadataN`.
    pub tlv_map: dpif_netdev::tlv::TlvMap,
}

/// `[[bridge.port]]`: one port of a bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConfig {
    /// Port name, unique across all bridges (as in OVS).
    pub name: String,
    /// OpenFlow port number, 1..=[`OFPORT_MAX`], unique in its bridge;
    /// assigned (lowest free number from 1 up) when the config gives none.
    pub ofport: u32,
    /// What kind of port it is, with its type-specific settings.
    pub kind: PortKind,
    /// VLAN mode, tag and trunks (for NORMAL).
    pub vlan: PortVlan,
}

/// The port types (`type = "..."`) and their settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortKind {
    /// `type = "pcap"`: receives the packets of a capture, writes what it
    /// sends to another.
    Pcap {
        /// Capture to receive from (`rx_pcap`, resolved); none: receives
        /// nothing.
        rx_pcap: Option<PathBuf>,
        /// Capture to write transmitted packets to (`tx_pcap`, resolved);
        /// none: transmitted packets are counted and dropped.
        tx_pcap: Option<PathBuf>,
        /// `loop = true`: replay `rx_pcap` forever (requires `rx_pcap`).
        looping: bool,
    },
    /// `type = "dummy"`: receives nothing; optionally captures what it sends.
    Dummy {
        /// Capture to write transmitted packets to (`tx_pcap`, resolved).
        tx_pcap: Option<PathBuf>,
    },
    /// `type = "ring"`: an in-memory ring, fed and drained by the program
    /// (tests and benches).
    Ring,
    /// `type = "afpacket"`: a Linux network interface through AF_PACKET
    /// rings.
    AfPacket {
        /// The interface (`iface`).
        iface: String,
    },
    /// `type = "vxlan"` or `"geneve"`: a tunnel port (native tunneling).
    Tunnel(ofproto::tunnel::TunnelSpec),
    /// `type = "dpdk"`: a DPDK ethdev (a PCI NIC or a virtual device).
    Dpdk {
        /// `devargs`: PCI address or vdev string, required.
        devargs: String,
        /// `n_rxq`: receive queues (default 1).
        n_rxq: u16,
        /// `n_txq`: transmit queues (default: one per PMD).
        n_txq: Option<u16>,
        /// `rxq_size`: receive descriptors per queue (default 2048).
        rxq_size: u16,
        /// `txq_size`: transmit descriptors per queue (default 2048).
        txq_size: u16,
        /// `mtu` (default 1500).
        mtu: u16,
    },
}

impl PortKind {
    /// The `type` string this kind is written as in the config.
    pub fn type_name(&self) -> &'static str {
        match self {
            PortKind::Pcap { .. } => "pcap",
            PortKind::Dummy { .. } => "dummy",
            PortKind::Ring => "ring",
            PortKind::AfPacket { .. } => "afpacket",
            PortKind::Tunnel(t) => match t.kind {
                dpif_netdev::actions::TunnelType::Vxlan => "vxlan",
                dpif_netdev::actions::TunnelType::Geneve => "geneve",
            },
            PortKind::Dpdk { .. } => "dpdk",
        }
    }
}

/// Where one flow of a bridge came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowOrigin {
    /// `flows[index]` in the config file (0-based, as the key path).
    Inline {
        /// Index in the `flows` list.
        index: usize,
    },
    /// Line `line` (1-based) of `path`, the bridge's `flows_file`.
    File {
        /// The flows file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
}

impl fmt::Display for FlowOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlowOrigin::Inline { index } => write!(f, "flows[{index}]"),
            FlowOrigin::File { path, line } => write!(f, "{}:{line}", path.display()),
        }
    }
}

impl BridgeConfig {
    /// The bridge's flows, each with where it came from: the inline `flows`,
    /// or the lines of `flows_file` (as `ovs-ofctl add-flows` reads them:
    /// blank lines and lines starting with `#` are skipped, surrounding
    /// whitespace is trimmed).
    pub fn flow_lines(&self) -> Result<Vec<(FlowOrigin, String)>, ConfigError> {
        let Some(path) = &self.flows_file else {
            return Ok(self
                .flows
                .iter()
                .enumerate()
                .map(|(index, f)| (FlowOrigin::Inline { index }, f.clone()))
                .collect());
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.clone(),
            source,
        })?;
        Ok(text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
            .map(|(line, l)| {
                (
                    FlowOrigin::File {
                        path: path.clone(),
                        line,
                    },
                    l.to_string(),
                )
            })
            .collect())
    }
}

/// Why a config was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: cannot read: {source}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// The file is not valid TOML; `message` is toml's report, with line and
    /// column.
    #[error("{}: {message}", file.display())]
    Syntax {
        /// The file.
        file: PathBuf,
        /// toml's report.
        message: String,
    },
    /// The TOML is well formed but a key is unknown, mistyped or invalid.
    #[error("{}: {key}: {message}", file.display())]
    Invalid {
        /// The file.
        file: PathBuf,
        /// The key path, as `bridge[0].port[2].type`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

impl ConfigError {
    /// The key path the error is about, when it is about one.
    #[cfg(test)]
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// Reads and validates the config file at `path`; relative paths in it are
/// resolved against `path`'s directory.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    let base_dir = path.parent().unwrap_or(Path::new(""));
    parse_as(&text, base_dir, path)
}

/// Parses and validates config text; relative paths in it are resolved
/// against `base_dir`. Errors name the file as `<config>`.
#[cfg(test)]
pub fn parse(text: &str, base_dir: &Path) -> Result<Config, ConfigError> {
    parse_as(text, base_dir, Path::new("<config>"))
}

/// Parses one port given as `KEY=VALUE` words (`rvs ctl add-port BR
/// NAME type=dpdk devargs=...`) with the checks and messages of a
/// `[[bridge.port]]` table; relative paths resolve against `base_dir`.
/// Values that look like integers or booleans are taken as such. Errors
/// name the key: `n_rxq: 0 out of range 1-1024`. Without `ofport=`, the
/// port gets 0 and the caller picks a free number.
pub fn parse_port_args(name: &str, args: &[String], base_dir: &Path) -> Result<PortConfig, String> {
    let mut t = toml::Table::new();
    t.insert("name".into(), toml::Value::String(name.into()));
    for a in args {
        let (k, v) = a
            .split_once('=')
            .ok_or_else(|| format!("\"{a}\": expected KEY=VALUE"))?;
        let v = if let Ok(i) = v.parse::<i64>() {
            toml::Value::Integer(i)
        } else if let Ok(b) = v.parse::<bool>() {
            toml::Value::Boolean(b)
        } else {
            toml::Value::String(v.into())
        };
        if t.insert(k.into(), v).is_some() {
            return Err(format!("{k}: given twice"));
        }
    }
    let given_ofport = t.contains_key("ofport");
    let raw: RawPort = serde_path_to_error::deserialize(toml::Value::Table(t)).map_err(|e| {
        let key = e.path().to_string();
        let msg = structural_message(&format!("bridge[0].port[0].{key}"), e.inner().message());
        format!("{key}: {msg}")
    })?;
    let bridge = RawBridge {
        name: Some("add-port".into()),
        flows: None,
        flows_file: None,
        mac_aging_s: None,
        mac_table_size: None,
        internal: None,
        tlv_map: None,
        ports: vec![raw],
    };
    let v = Validator {
        file: Path::new("add-port"),
        base_dir,
    };
    let mut b = v
        .bridge(0, bridge, &mut HashMap::new())
        .map_err(|e| match e {
            ConfigError::Invalid { key, message, .. } => {
                let key = key.strip_prefix("bridge[0].port[0].").unwrap_or(&key);
                format!("{key}: {message}")
            }
            other => other.to_string(),
        })?;
    let mut port = b.ports.remove(0);
    if !given_ofport {
        port.ofport = 0;
    }
    Ok(port)
}

// ---------------------------------------------------------------------------
// The file as written: every key optional, so that this module (not serde)
// says what is missing, and integers as TOML's i64, so that ranges are
// checked with messages that name the key.

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    control: RawControl,
    #[serde(default)]
    pmd: RawPmd,
    #[serde(default, rename = "bridge")]
    bridges: Vec<RawBridge>,
    #[serde(default, rename = "route")]
    routes: Vec<RawRoute>,
    #[serde(default)]
    dpdk: RawDpdk,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    prefix: Option<String>,
    bridge: Option<String>,
    gateway: Option<String>,
    src: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDpdk {
    eal_args: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawControl {
    socket: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPmd {
    cores: Option<Vec<i64>>,
    emc_insert_inv_prob: Option<i64>,
    emc_auto: Option<bool>,
    handler_threads: Option<i64>,
    max_idle_ms: Option<i64>,
    revalidate_interval_ms: Option<i64>,
    flow_limit: Option<i64>,
    rxq_assign: Option<String>,
    pmd_auto_lb: Option<bool>,
    pmd_auto_lb_interval_ms: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBridge {
    name: Option<String>,
    flows: Option<Vec<String>>,
    flows_file: Option<PathBuf>,
    mac_aging_s: Option<i64>,
    mac_table_size: Option<i64>,
    internal: Option<bool>,
    tlv_map: Option<Vec<String>>,
    #[serde(default, rename = "port")]
    ports: Vec<RawPort>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPort {
    name: Option<String>,
    ofport: Option<i64>,
    #[serde(rename = "type")]
    kind: Option<String>,
    rx_pcap: Option<PathBuf>,
    tx_pcap: Option<PathBuf>,
    #[serde(rename = "loop")]
    looping: Option<bool>,
    iface: Option<String>,
    vlan_mode: Option<String>,
    tag: Option<i64>,
    trunks: Option<Vec<i64>>,
    remote_ip: Option<String>,
    local_ip: Option<String>,
    key: Option<toml::Value>,
    dst_port: Option<i64>,
    tos: Option<toml::Value>,
    ttl: Option<toml::Value>,
    df_default: Option<bool>,
    csum: Option<bool>,
    devargs: Option<String>,
    n_rxq: Option<i64>,
    n_txq: Option<i64>,
    rxq_size: Option<i64>,
    txq_size: Option<i64>,
    mtu: Option<i64>,
}

/// What a key holds, for "expected ..." messages; `path` has its indices
/// removed (`bridge[].port[].ofport`).
fn expected(path: &str) -> Option<&'static str> {
    Some(match path {
        "control" | "pmd" | "dpdk" | "bridge[]" | "bridge[].port[]" => "a table",
        "dpdk.eal_args" => "a list of arguments (strings)",
        "dpdk.eal_args[]" => "an argument (string)",
        "pmd.rxq_assign" => "\"roundrobin\", \"cycles\" or \"group\"",
        "pmd.pmd_auto_lb" | "pmd.emc_auto" => "true or false",
        "bridge[].port[].devargs" => "a device (string)",
        "bridge[].port[].n_rxq"
        | "bridge[].port[].n_txq"
        | "bridge[].port[].rxq_size"
        | "bridge[].port[].txq_size"
        | "bridge[].port[].mtu" => "an integer",
        "control.socket"
        | "bridge[].flows_file"
        | "bridge[].port[].rx_pcap"
        | "bridge[].port[].tx_pcap" => "a path (string)",
        "pmd.cores" => "a list of core numbers",
        "pmd.cores[]" => "a core number",
        "pmd.emc_insert_inv_prob"
        | "pmd.handler_threads"
        | "pmd.max_idle_ms"
        | "pmd.revalidate_interval_ms"
        | "pmd.flow_limit"
        | "pmd.pmd_auto_lb_interval_ms" => "an integer",
        "bridge" => "an array of tables ([[bridge]])",
        "bridge[].name" | "bridge[].port[].name" => "a name (string)",
        "bridge[].flows" => "a list of flows (strings)",
        "bridge[].flows[]" => "a flow (string)",
        "bridge[].tlv_map" => "a list of TLV mappings (strings)",
        "bridge[].tlv_map[]" => "a TLV mapping (string)",
        "bridge[].port" => "an array of tables ([[bridge.port]])",
        "bridge[].port[].ofport" => "a port number",
        "bridge[].port[].type" => "a port type (string)",
        "bridge[].port[].loop" | "bridge[].internal" => "true or false",
        "bridge[].port[].iface" => "an interface name (string)",
        "bridge[].port[].vlan_mode" => "a VLAN mode (string)",
        "bridge[].port[].tag" | "bridge[].port[].trunks[]" => "a VLAN number",
        "bridge[].port[].trunks" => "a list of VLAN numbers",
        "bridge[].mac_aging_s" | "bridge[].mac_table_size" => "an integer",
        "bridge[].port[].remote_ip" | "bridge[].port[].local_ip" => "an IP address (string)",
        "bridge[].port[].dst_port" => "an integer",
        "bridge[].port[].tos" | "bridge[].port[].ttl" => "an integer or \"inherit\"",
        "bridge[].port[].df_default" | "bridge[].port[].csum" => "true or false",
        "route" => "an array of tables ([[route]])",
        "route[].prefix" | "route[].bridge" | "route[].gateway" | "route[].src" => "a string",
        _ => return None,
    })
}

/// `bridge[0].port[12].type` → `bridge[].port[].type`.
fn strip_indices(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_index = false;
    for c in path.chars() {
        match c {
            '[' => {
                in_index = true;
                out.push('[');
            }
            ']' => {
                in_index = false;
                out.push(']');
            }
            _ if in_index => {}
            _ => out.push(c),
        }
    }
    out
}

/// Turns serde's message for the key at `path` into ours.
fn structural_message(path: &str, serde_msg: &str) -> String {
    if serde_msg.starts_with("unknown field") {
        return "unknown key".to_string();
    }
    if serde_msg.starts_with("invalid type") || serde_msg.starts_with("invalid value") {
        if let Some(what) = expected(&strip_indices(path)) {
            return format!("expected {what}");
        }
    }
    serde_msg.to_string()
}

fn parse_as(text: &str, base_dir: &Path, file: &Path) -> Result<Config, ConfigError> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Syntax {
            file: file.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
    let raw: RawConfig =
        serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
            let key = e.path().to_string();
            let message = structural_message(&key, e.inner().message());
            ConfigError::Invalid {
                file: file.to_path_buf(),
                key,
                message,
            }
        })?;
    Validator { file, base_dir }.config(raw)
}

/// Checks the raw config and builds the resolved one.
struct Validator<'a> {
    file: &'a Path,
    base_dir: &'a Path,
}

impl Validator<'_> {
    fn err(&self, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_path_buf(),
            key: key.into(),
            message: message.into(),
        }
    }

    /// A path from the config, resolved against the config's directory.
    fn path(&self, key: &str, p: PathBuf) -> Result<PathBuf, ConfigError> {
        if p.as_os_str().is_empty() {
            return Err(self.err(key, "must not be empty"));
        }
        Ok(if p.is_absolute() {
            p
        } else {
            self.base_dir.join(p)
        })
    }

    fn opt_path(&self, key: &str, p: Option<PathBuf>) -> Result<Option<PathBuf>, ConfigError> {
        p.map(|p| self.path(key, p)).transpose()
    }

    /// An integer key in `min..=max`, or `default` when absent.
    fn int<T: TryFrom<i64>>(
        &self,
        key: &str,
        v: Option<i64>,
        min: i64,
        max: i64,
        default: T,
    ) -> Result<T, ConfigError> {
        let Some(v) = v else { return Ok(default) };
        if v < min || v > max {
            return Err(self.err(key, format!("{v} out of range {min}-{max}")));
        }
        T::try_from(v).map_err(|_| self.err(key, format!("{v} out of range {min}-{max}")))
    }

    fn name(&self, key: String, name: Option<String>) -> Result<String, ConfigError> {
        match name {
            None => Err(self.err(key, "required key is missing")),
            Some(n) if n.trim().is_empty() => Err(self.err(key, "must not be empty")),
            Some(n) => Ok(n),
        }
    }

    fn config(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let socket = match raw.control.socket {
            Some(p) => self.path("control.socket", p)?,
            None => self.base_dir.join(DEFAULT_SOCKET),
        };
        let pmd = self.pmd(raw.pmd)?;
        let dpdk = match raw.dpdk.eal_args {
            None => DpdkConfig::default(),
            Some(args) => {
                if let Some(i) = args.iter().position(|a| a.contains('\0')) {
                    return Err(self.err(format!("dpdk.eal_args[{i}]"), "contains a NUL byte"));
                }
                DpdkConfig { eal_args: args }
            }
        };
        let mut bridges = Vec::with_capacity(raw.bridges.len());
        let mut bridge_names: HashMap<String, usize> = HashMap::new();
        let mut port_names: HashMap<String, (usize, usize)> = HashMap::new();
        for (b, rb) in raw.bridges.into_iter().enumerate() {
            let bridge = self.bridge(b, rb, &mut port_names)?;
            if let Some(first) = bridge_names.insert(bridge.name.clone(), b) {
                return Err(self.err(
                    format!("bridge[{b}].name"),
                    format!(
                        "duplicate bridge name \"{}\" (also bridge[{first}])",
                        bridge.name
                    ),
                ));
            }
            bridges.push(bridge);
        }
        let mut routes = Vec::new();
        for (i, r) in raw.routes.into_iter().enumerate() {
            routes.push(self.route(i, r, &bridges)?);
        }
        Ok(Config {
            control: ControlConfig { socket },
            pmd,
            bridges,
            routes,
            dpdk,
        })
    }

    fn ip(&self, key: &str, s: &str) -> Result<std::net::IpAddr, ConfigError> {
        s.parse()
            .map_err(|_| self.err(key, format!("\"{s}\" is not an IP address")))
    }

    fn route(
        &self,
        i: usize,
        r: RawRoute,
        bridges: &[BridgeConfig],
    ) -> Result<ofproto::tunnel::Route, ConfigError> {
        let key = |k: &str| format!("route[{i}].{k}");
        let prefix = self.name(key("prefix"), r.prefix)?;
        let (addr, len) = match prefix.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (prefix.as_str(), None),
        };
        let addr = self.ip(&key("prefix"), addr)?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len: u8 = match len.map(str::parse) {
            None => max,
            Some(Ok(n)) if n <= max => n,
            Some(_) => {
                return Err(self.err(
                    key("prefix"),
                    format!("\"{prefix}\": prefix length must be 0 to {max}"),
                ))
            }
        };
        let bridge = self.name(key("bridge"), r.bridge)?;
        if !bridges.iter().any(|b| b.name == bridge) {
            return Err(self.err(key("bridge"), format!("no bridge named \"{bridge}\"")));
        }
        let family =
            |k: &str, v: Option<String>| -> Result<Option<std::net::IpAddr>, ConfigError> {
                let Some(v) = v else { return Ok(None) };
                let a = self.ip(&key(k), &v)?;
                if a.is_ipv4() != addr.is_ipv4() {
                    return Err(self.err(key(k), "not of the prefix's address family"));
                }
                Ok(Some(a))
            };
        Ok(ofproto::tunnel::Route {
            prefix: addr,
            len,
            bridge,
            gateway: family("gateway", r.gateway)?,
            src: family("src", r.src)?,
            origin: ofproto::tunnel::RouteOrigin::User,
        })
    }

    /// A tunnel port's options, checked.
    fn tunnel(
        &self,
        key: &dyn Fn(&str) -> String,
        kind: dpif_netdev::actions::TunnelType,
        rp: &RawPort,
    ) -> Result<ofproto::tunnel::TunnelSpec, ConfigError> {
        use ofproto::tunnel::{Remote, TunKey, TunnelSpec};
        let remote = match rp.remote_ip.as_deref() {
            None => {
                return Err(self.err(
                    key("remote_ip"),
                    "required key is missing (an IP address or \"flow\")",
                ))
            }
            Some("flow") => Remote::Flow,
            Some(s) => Remote::Ip(self.ip(&key("remote_ip"), s)?),
        };
        let local_ip = rp
            .local_ip
            .as_deref()
            .map(|s| self.ip(&key("local_ip"), s))
            .transpose()?;
        if let (Remote::Ip(r), Some(l)) = (remote, local_ip) {
            if r.is_ipv4() != l.is_ipv4() {
                return Err(self.err(key("local_ip"), "not of remote_ip's address family"));
            }
        }
        let tkey = match &rp.key {
            None => TunKey::Fixed(0),
            Some(toml::Value::String(s)) if s == "flow" => TunKey::Flow,
            Some(toml::Value::Integer(n)) => {
                TunKey::Fixed(self.int(&key("key"), Some(*n), 0, 0xff_ffff, 0)?)
            }
            Some(_) => {
                return Err(self.err(key("key"), "expected a VNI (0 to 16777215) or \"flow\""))
            }
        };
        let default_port = TunnelSpec::default_port(kind);
        let dst_port = self.int(&key("dst_port"), rp.dst_port, 1, 65535, default_port)?;
        // `tos` / `ttl`: a number, or "inherit" (from the inner IP header,
        // as OVS). A fixed TOS is DSCP only: the ECN bits are always
        // inherited, so OVS requires them zero and so does rvs.
        let (tos, tos_inherit) = match &rp.tos {
            Some(toml::Value::String(s)) if s == "inherit" => (0, true),
            Some(toml::Value::Integer(n)) => {
                let v: u8 = self.int(&key("tos"), Some(*n), 0, 255, 0)?;
                if v & 0x03 != 0 {
                    return Err(self.err(
                        key("tos"),
                        format!("{v}: the ECN bits (0x03) must be zero; they are always inherited"),
                    ));
                }
                (v, false)
            }
            None => (0, false),
            Some(_) => return Err(self.err(key("tos"), "expected 0 to 255 or \"inherit\"")),
        };
        let (ttl, ttl_inherit) = match &rp.ttl {
            Some(toml::Value::String(s)) if s == "inherit" => (64, true),
            Some(toml::Value::Integer(n)) => (self.int(&key("ttl"), Some(*n), 1, 255, 64)?, false),
            None => (64, false),
            Some(_) => return Err(self.err(key("ttl"), "expected 1 to 255 or \"inherit\"")),
        };
        Ok(TunnelSpec {
            kind,
            remote,
            local_ip,
            key: tkey,
            dst_port,
            tos,
            tos_inherit,
            ttl,
            ttl_inherit,
            df: rp.df_default.unwrap_or(true),
            csum: rp.csum.unwrap_or(false),
        })
    }

    fn pmd(&self, raw: RawPmd) -> Result<PmdConfig, ConfigError> {
        let d = PmdConfig::default();
        let cores = match raw.cores {
            None => d.cores,
            Some(list) => {
                if list.is_empty() {
                    return Err(self.err("pmd.cores", "must list at least one core"));
                }
                let mut seen = BTreeSet::new();
                let mut cores = Vec::with_capacity(list.len());
                for (i, c) in list.into_iter().enumerate() {
                    let key = format!("pmd.cores[{i}]");
                    let core = usize::try_from(c)
                        .map_err(|_| self.err(&key, format!("{c} is not a core number")))?;
                    if !seen.insert(core) {
                        return Err(self.err(key, format!("core {core} listed twice")));
                    }
                    cores.push(core);
                }
                cores
            }
        };
        const I64_MAX: i64 = i64::MAX;
        Ok(PmdConfig {
            cores,
            emc_insert_inv_prob: self.int(
                "pmd.emc_insert_inv_prob",
                raw.emc_insert_inv_prob,
                0,
                u32::MAX.into(),
                d.emc_insert_inv_prob,
            )?,
            emc_auto: raw.emc_auto.unwrap_or(d.emc_auto),
            handler_threads: self.int(
                "pmd.handler_threads",
                raw.handler_threads,
                1,
                1024,
                d.handler_threads,
            )?,
            max_idle_ms: self.int(
                "pmd.max_idle_ms",
                raw.max_idle_ms,
                1,
                I64_MAX,
                d.max_idle_ms,
            )?,
            revalidate_interval_ms: self.int(
                "pmd.revalidate_interval_ms",
                raw.revalidate_interval_ms,
                1,
                I64_MAX,
                d.revalidate_interval_ms,
            )?,
            flow_limit: self.int("pmd.flow_limit", raw.flow_limit, 1, I64_MAX, d.flow_limit)?,
            rxq_assign: match raw.rxq_assign.as_deref() {
                None => d.rxq_assign,
                Some("roundrobin") => RxqAssign::RoundRobin,
                Some("cycles") => RxqAssign::Cycles,
                Some("group") => RxqAssign::Group,
                Some(other) => {
                    return Err(self.err(
                        "pmd.rxq_assign",
                        format!(
                        "unknown assignment \"{other}\" (\"roundrobin\", \"cycles\" or \"group\")"
                    ),
                    ))
                }
            },
            pmd_auto_lb: raw.pmd_auto_lb.unwrap_or(d.pmd_auto_lb),
            pmd_auto_lb_interval_ms: self.int(
                "pmd.pmd_auto_lb_interval_ms",
                raw.pmd_auto_lb_interval_ms,
                1,
                I64_MAX,
                d.pmd_auto_lb_interval_ms,
            )?,
        })
    }

    fn bridge(
        &self,
        b: usize,
        raw: RawBridge,
        port_names: &mut HashMap<String, (usize, usize)>,
    ) -> Result<BridgeConfig, ConfigError> {
        let name = self.name(format!("bridge[{b}].name"), raw.name)?;
        if raw.flows.is_some() && raw.flows_file.is_some() {
            return Err(self.err(
                format!("bridge[{b}].flows_file"),
                "give either flows or flows_file, not both",
            ));
        }
        let flows_file = self.opt_path(&format!("bridge[{b}].flows_file"), raw.flows_file)?;

        let mut ports = Vec::with_capacity(raw.ports.len());
        // ofport -> index of the port that has it, for the explicit numbers.
        let mut used: BTreeMap<u32, usize> = BTreeMap::new();
        let mut unassigned = Vec::new();
        for (p, rp) in raw.ports.into_iter().enumerate() {
            let key = |k: &str| format!("bridge[{b}].port[{p}].{k}");
            let pname = self.name(key("name"), rp.name.clone())?;
            if let Some(&(ob, op)) = port_names.get(&pname) {
                return Err(self.err(
                    key("name"),
                    format!("duplicate port name \"{pname}\" (also bridge[{ob}].port[{op}])"),
                ));
            }
            port_names.insert(pname.clone(), (b, p));

            let ofport = match rp.ofport {
                None => {
                    unassigned.push(p);
                    0
                }
                Some(n) => {
                    let n: u32 = self.int(&key("ofport"), Some(n), 1, OFPORT_MAX.into(), 0)?;
                    if let Some(&other) = used.get(&n) {
                        return Err(self.err(
                            key("ofport"),
                            format!("duplicate ofport {n} (also bridge[{b}].port[{other}])"),
                        ));
                    }
                    used.insert(n, p);
                    n
                }
            };

            let Some(type_name) = rp.kind.clone() else {
                return Err(self.err(
                    key("type"),
                    "required key is missing (\"pcap\", \"dummy\", \"ring\", \"afpacket\", \"vxlan\", \"geneve\" or \"dpdk\")",
                ));
            };
            let only_pcap = |k: &str, given: bool| -> Result<(), ConfigError> {
                if given {
                    Err(self.err(key(k), format!("not allowed for a {type_name} port")))
                } else {
                    Ok(())
                }
            };
            if type_name != "dpdk" {
                for (k, given) in [
                    ("devargs", rp.devargs.is_some()),
                    ("n_rxq", rp.n_rxq.is_some()),
                    ("n_txq", rp.n_txq.is_some()),
                    ("rxq_size", rp.rxq_size.is_some()),
                    ("txq_size", rp.txq_size.is_some()),
                    ("mtu", rp.mtu.is_some()),
                ] {
                    only_pcap(k, given)?;
                }
            }
            let kind = match type_name.as_str() {
                "pcap" => {
                    let rx_pcap = self.opt_path(&key("rx_pcap"), rp.rx_pcap)?;
                    let looping = rp.looping.unwrap_or(false);
                    if looping && rx_pcap.is_none() {
                        return Err(self.err(key("loop"), "loop = true needs rx_pcap"));
                    }
                    PortKind::Pcap {
                        rx_pcap,
                        tx_pcap: self.opt_path(&key("tx_pcap"), rp.tx_pcap)?,
                        looping,
                    }
                }
                "dummy" => {
                    only_pcap("rx_pcap", rp.rx_pcap.is_some())?;
                    only_pcap("loop", rp.looping.is_some())?;
                    PortKind::Dummy {
                        tx_pcap: self.opt_path(&key("tx_pcap"), rp.tx_pcap)?,
                    }
                }
                "ring" => {
                    only_pcap("rx_pcap", rp.rx_pcap.is_some())?;
                    only_pcap("tx_pcap", rp.tx_pcap.is_some())?;
                    only_pcap("loop", rp.looping.is_some())?;
                    PortKind::Ring
                }
                "afpacket" => {
                    only_pcap("rx_pcap", rp.rx_pcap.is_some())?;
                    only_pcap("tx_pcap", rp.tx_pcap.is_some())?;
                    only_pcap("loop", rp.looping.is_some())?;
                    let iface = self.name(key("iface"), rp.iface.clone())?;
                    if iface.len() > 15 || iface.contains(['/', ' ']) {
                        return Err(self.err(
                            key("iface"),
                            format!("\"{iface}\" is not an interface name (at most 15 characters, no '/' or spaces)"),
                        ));
                    }
                    PortKind::AfPacket { iface }
                }
                "vxlan" | "geneve" => {
                    only_pcap("rx_pcap", rp.rx_pcap.is_some())?;
                    only_pcap("tx_pcap", rp.tx_pcap.is_some())?;
                    only_pcap("loop", rp.looping.is_some())?;
                    let kind = if type_name == "vxlan" {
                        dpif_netdev::actions::TunnelType::Vxlan
                    } else {
                        dpif_netdev::actions::TunnelType::Geneve
                    };
                    PortKind::Tunnel(self.tunnel(&key, kind, &rp)?)
                }
                "dpdk" => {
                    only_pcap("rx_pcap", rp.rx_pcap.is_some())?;
                    only_pcap("tx_pcap", rp.tx_pcap.is_some())?;
                    only_pcap("loop", rp.looping.is_some())?;
                    let devargs = match rp.devargs {
                        None => {
                            return Err(self.err(
                                key("devargs"),
                                "required key is missing (a PCI address or a vdev such as \"net_pcap0,rx_pcap=in.pcap\")",
                            ))
                        }
                        Some(d) if d.trim().is_empty() => {
                            return Err(self.err(key("devargs"), "must not be empty"))
                        }
                        Some(d) if d.contains('\0') => {
                            return Err(self.err(key("devargs"), "contains a NUL byte"))
                        }
                        Some(d) => d,
                    };
                    PortKind::Dpdk {
                        devargs,
                        n_rxq: self.int(&key("n_rxq"), rp.n_rxq, 1, 1024, 1)?,
                        n_txq: rp
                            .n_txq
                            .map(|n| self.int(&key("n_txq"), Some(n), 1, 1024, 1))
                            .transpose()?,
                        rxq_size: self.int(&key("rxq_size"), rp.rxq_size, 64, 32768, 2048)?,
                        txq_size: self.int(&key("txq_size"), rp.txq_size, 64, 32768, 2048)?,
                        mtu: self.int(&key("mtu"), rp.mtu, 68, 9702, 1500)?,
                    }
                }
                other => {
                    return Err(self.err(key("type"), format!("unknown port type \"{other}\"")));
                }
            };
            if rp.iface.is_some() && !matches!(kind, PortKind::AfPacket { .. }) {
                return Err(self.err(key("iface"), format!("not allowed for a {type_name} port")));
            }
            if !matches!(kind, PortKind::Tunnel(_)) {
                let given = [
                    ("remote_ip", rp.remote_ip.is_some()),
                    ("local_ip", rp.local_ip.is_some()),
                    ("key", rp.key.is_some()),
                    ("dst_port", rp.dst_port.is_some()),
                    ("tos", rp.tos.is_some()),
                    ("ttl", rp.ttl.is_some()),
                    ("df_default", rp.df_default.is_some()),
                    ("csum", rp.csum.is_some()),
                ];
                if let Some((k, _)) = given.iter().find(|(_, g)| *g) {
                    return Err(self.err(key(k), format!("not allowed for a {type_name} port")));
                }
            }
            let vlan = self.port_vlan(&key, rp.vlan_mode, rp.tag, rp.trunks)?;
            ports.push(PortConfig {
                name: pname,
                ofport,
                kind,
                vlan,
            });
        }

        // OVS gives a port without a requested number the lowest free one.
        let mut next = 1u32;
        for p in unassigned {
            while used.contains_key(&next) {
                next += 1;
            }
            if next > OFPORT_MAX {
                return Err(self.err(
                    format!("bridge[{b}].port[{p}].ofport"),
                    "no free port number left",
                ));
            }
            used.insert(next, p);
            ports[p].ofport = next;
        }

        let default_flows = raw.flows.is_none() && flows_file.is_none();
        let mut tlv_map = dpif_netdev::tlv::TlvMap::default();
        for (i, text) in raw.tlv_map.iter().flatten().enumerate() {
            dpif_netdev::tlv::parse_mappings(text)
                .and_then(|m| tlv_map.add(&m))
                .map_err(|e| self.err(format!("bridge[{b}].tlv_map[{i}]"), e.to_string()))?;
        }
        Ok(BridgeConfig {
            name,
            flows: raw.flows.unwrap_or_default(),
            flows_file,
            ports,
            mac_aging_s: self.int(
                &format!("bridge[{b}].mac_aging_s"),
                raw.mac_aging_s,
                1,
                1_000_000_000,
                ofproto::mac_learning::DEFAULT_AGING_S,
            )?,
            mac_table_size: self.int(
                &format!("bridge[{b}].mac_table_size"),
                raw.mac_table_size,
                1,
                10_000_000,
                ofproto::mac_learning::DEFAULT_MAX_ENTRIES,
            )?,
            internal: raw.internal.unwrap_or(true),
            default_flows,
            tlv_map,
        })
    }

    /// A port's `vlan_mode`, `tag` and `trunks`, checked as OVS does: a
    /// tag alone means access; access and the native modes need a tag;
    /// access takes no trunks.
    fn port_vlan(
        &self,
        key: &dyn Fn(&str) -> String,
        mode: Option<String>,
        tag: Option<i64>,
        trunks: Option<Vec<i64>>,
    ) -> Result<PortVlan, ConfigError> {
        let mode = match mode.as_deref() {
            None if tag.is_some() => VlanMode::Access,
            None => VlanMode::Trunk,
            Some(m) => VlanMode::from_name(m).ok_or_else(|| {
                self.err(
                    key("vlan_mode"),
                    format!("unknown VLAN mode \"{m}\" (access, trunk, native-untagged or native-tagged)"),
                )
            })?,
        };
        let tag: u16 = match tag {
            None if mode != VlanMode::Trunk => {
                return Err(self.err(
                    key("tag"),
                    format!("required for vlan_mode = \"{}\"", mode.name()),
                ));
            }
            None => 0,
            Some(_) if mode == VlanMode::Trunk => {
                return Err(self.err(key("tag"), "not allowed for vlan_mode = \"trunk\""));
            }
            Some(t) => self.int(&key("tag"), Some(t), 1, 4095, 0)?,
        };
        let mut list = Vec::new();
        if let Some(ts) = trunks {
            if mode == VlanMode::Access {
                return Err(self.err(key("trunks"), "not allowed for vlan_mode = \"access\""));
            }
            for (i, t) in ts.into_iter().enumerate() {
                let v: u16 = self.int(&format!("{}[{i}]", key("trunks")), Some(t), 0, 4095, 0)?;
                list.push(v);
            }
            if list.is_empty() {
                return Err(self.err(
                    key("trunks"),
                    "must list at least one VLAN (leave it out for all)",
                ));
            }
        }
        Ok(PortVlan {
            mode,
            tag,
            trunks: list,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> &'static Path {
        Path::new("/etc/rvs")
    }

    fn ok(text: &str) -> Config {
        match parse(text, base()) {
            Ok(c) => c,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }

    /// The error's text without the `<config>: ` file prefix.
    fn err(text: &str) -> String {
        match parse(text, base()) {
            Ok(c) => panic!("expected an error, got {c:?}"),
            Err(e) => {
                let s = e.to_string();
                s.strip_prefix("<config>: ").unwrap_or(&s).to_string()
            }
        }
    }

    const FULL: &str = r#"
[control]
socket = "rvs.ctl"

[pmd]
cores = [1, 3]
emc_insert_inv_prob = 0
handler_threads = 2
max_idle_ms = 5000
revalidate_interval_ms = 250
flow_limit = 1000

[[bridge]]
name = "br0"
flows = ["priority=10,in_port=1,actions=output:2", "actions=drop"]

[[bridge.port]]
name = "p0"
ofport = 1
type = "pcap"
rx_pcap = "in.pcap"
tx_pcap = "/var/tmp/p0-out.pcap"
loop = true

[[bridge.port]]
name = "p1"
type = "dummy"
tx_pcap = "out/p1.pcap"

[[bridge]]
name = "br1"
flows_file = "br1.flows"

[[bridge.port]]
name = "r0"
type = "ring"
"#;

    #[test]
    fn full_example() {
        let c = ok(FULL);
        assert_eq!(
            c,
            Config {
                control: ControlConfig {
                    socket: "/etc/rvs/rvs.ctl".into()
                },
                pmd: PmdConfig {
                    cores: vec![1, 3],
                    emc_insert_inv_prob: 0,
                    handler_threads: 2,
                    max_idle_ms: 5000,
                    revalidate_interval_ms: 250,
                    flow_limit: 1000,
                    ..PmdConfig::default()
                },
                bridges: vec![
                    BridgeConfig {
                        name: "br0".into(),
                        flows: vec![
                            "priority=10,in_port=1,actions=output:2".into(),
                            "actions=drop".into()
                        ],
                        flows_file: None,
                        ports: vec![
                            PortConfig {
                                name: "p0".into(),
                                ofport: 1,
                                kind: PortKind::Pcap {
                                    rx_pcap: Some("/etc/rvs/in.pcap".into()),
                                    tx_pcap: Some("/var/tmp/p0-out.pcap".into()),
                                    looping: true,
                                },
                                vlan: PortVlan::default(),
                            },
                            PortConfig {
                                name: "p1".into(),
                                ofport: 2,
                                kind: PortKind::Dummy {
                                    tx_pcap: Some("/etc/rvs/out/p1.pcap".into()),
                                },
                                vlan: PortVlan::default(),
                            },
                        ],
                        mac_aging_s: 300,
                        mac_table_size: 2048,
                        internal: true,
                        default_flows: false,
                        tlv_map: Default::default(),
                    },
                    BridgeConfig {
                        name: "br1".into(),
                        flows: vec![],
                        flows_file: Some("/etc/rvs/br1.flows".into()),
                        ports: vec![PortConfig {
                            name: "r0".into(),
                            ofport: 1,
                            kind: PortKind::Ring,
                            vlan: PortVlan::default(),
                        }],
                        mac_aging_s: 300,
                        mac_table_size: 2048,
                        internal: true,
                        default_flows: false,
                        tlv_map: Default::default(),
                    },
                ],
                routes: vec![],
                dpdk: DpdkConfig::default(),
            }
        );
        let kinds: Vec<_> = c
            .bridges
            .iter()
            .flat_map(|b| &b.ports)
            .map(|p| p.kind.type_name())
            .collect();
        assert_eq!(kinds, ["pcap", "dummy", "ring"]);
    }

    #[test]
    fn defaults() {
        let c = ok("");
        assert_eq!(c.control.socket, Path::new("/etc/rvs/rvs.ctl"));
        assert_eq!(c.pmd, PmdConfig::default());
        assert_eq!(c.pmd.cores, [0]);
        assert_eq!(c.pmd.emc_insert_inv_prob, 100);
        assert_eq!(c.pmd.handler_threads, 1);
        assert_eq!(c.pmd.max_idle_ms, 10_000);
        assert_eq!(c.pmd.revalidate_interval_ms, 500);
        assert_eq!(c.pmd.flow_limit, 200_000);
        assert!(c.bridges.is_empty());

        let c = ok("[[bridge]]\nname = \"br0\"\n[[bridge.port]]\nname = \"p\"\ntype = \"pcap\"");
        let b = &c.bridges[0];
        assert!(b.flows.is_empty() && b.flows_file.is_none());
        assert_eq!(
            b.ports[0].kind,
            PortKind::Pcap {
                rx_pcap: None,
                tx_pcap: None,
                looping: false
            }
        );
    }

    #[test]
    fn ofport_assignment_fills_lowest_free_numbers() {
        let c = ok(r#"
[[bridge]]
name = "br0"
[[bridge.port]]
name = "a"
type = "ring"
[[bridge.port]]
name = "b"
type = "ring"
ofport = 2
[[bridge.port]]
name = "c"
type = "ring"
[[bridge.port]]
name = "d"
type = "ring"
ofport = 4
[[bridge.port]]
name = "e"
type = "ring"
[[bridge]]
name = "br1"
[[bridge.port]]
name = "f"
type = "ring"
"#);
        let nums: Vec<_> = c.bridges[0]
            .ports
            .iter()
            .map(|p| (p.name.as_str(), p.ofport))
            .collect();
        assert_eq!(nums, [("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 5)]);
        // Numbers are per bridge.
        assert_eq!(c.bridges[1].ports[0].ofport, 1);
    }

    #[test]
    fn relative_paths_resolve_against_config_dir() {
        let c = ok(r#"
[control]
socket = "run/sw.ctl"
[[bridge]]
name = "br0"
flows_file = "../flows/br0.txt"
[[bridge.port]]
name = "p0"
type = "pcap"
rx_pcap = "in.pcap"
tx_pcap = "/abs/out.pcap"
"#);
        assert_eq!(c.control.socket, Path::new("/etc/rvs/run/sw.ctl"));
        assert_eq!(
            c.bridges[0].flows_file.as_deref(),
            Some(Path::new("/etc/rvs/../flows/br0.txt"))
        );
        let PortKind::Pcap {
            rx_pcap, tx_pcap, ..
        } = &c.bridges[0].ports[0].kind
        else {
            panic!()
        };
        assert_eq!(rx_pcap.as_deref(), Some(Path::new("/etc/rvs/in.pcap")));
        assert_eq!(tx_pcap.as_deref(), Some(Path::new("/abs/out.pcap")));

        // A relative base (config given as a bare file name) stays relative.
        let c = parse("[control]\nsocket = \"x.ctl\"", Path::new("")).unwrap();
        assert_eq!(c.control.socket, Path::new("x.ctl"));
    }

    #[test]
    fn load_names_the_file_and_resolves_against_its_dir() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rvs.toml");
        std::fs::write(
            &path,
            "[[bridge]]\nname = \"br0\"\nflows_file = \"f.txt\"\n",
        )
        .unwrap();
        let c = load(&path).unwrap();
        assert_eq!(c.control.socket, dir.path().join("rvs.ctl"));
        let ff = dir.path().join("f.txt");
        assert_eq!(c.bridges[0].flows_file.as_deref(), Some(ff.as_path()));

        std::fs::write(
            &ff,
            "# comment\n\n  priority=1,actions=drop  \nactions=NORMAL\n",
        )
        .unwrap();
        let lines = c.bridges[0].flow_lines().unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].1, "priority=1,actions=drop");
        assert_eq!(lines[0].0.to_string(), format!("{}:3", ff.display()));
        assert_eq!(
            lines[1].0,
            FlowOrigin::File {
                path: ff.clone(),
                line: 4
            }
        );

        std::fs::write(
            &path,
            "[[bridge]]\nname = \"br0\"\n[[bridge.port]]\ntype = \"pcpa\"\nname = \"p\"\n",
        )
        .unwrap();
        let e = load(&path).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}: bridge[0].port[0].type: unknown port type \"pcpa\"",
                path.display()
            )
        );
        assert_eq!(e.key(), Some("bridge[0].port[0].type"));

        let missing = dir.path().join("nope.toml");
        let e = load(&missing).unwrap_err();
        assert!(matches!(e, ConfigError::Read { .. }));
        assert!(e
            .to_string()
            .starts_with(&format!("{}: cannot read: ", missing.display())));
    }

    #[test]
    fn inline_flow_lines() {
        let c = ok("[[bridge]]\nname = \"br0\"\nflows = [\"a\", \"b\"]");
        let lines = c.bridges[0].flow_lines().unwrap();
        assert_eq!(lines[1], (FlowOrigin::Inline { index: 1 }, "b".to_string()));
        assert_eq!(lines[1].0.to_string(), "flows[1]");
    }

    #[test]
    fn syntax_error_keeps_line_and_column() {
        let e = parse("[pmd]\ncores = [1,\n", base()).unwrap_err();
        assert!(matches!(e, ConfigError::Syntax { .. }));
        let s = e.to_string();
        assert!(s.starts_with("<config>: TOML parse error at line 2"), "{s}");
        assert!(s.contains("column"), "{s}");
    }

    const PORT: &str = "[[bridge]]\nname = \"br0\"\n[[bridge.port]]\nname = \"p0\"\n";

    #[test]
    fn unknown_port_type() {
        assert_eq!(
            err(&format!("{PORT}type = \"pcpa\"")),
            "bridge[0].port[0].type: unknown port type \"pcpa\""
        );
    }

    #[test]
    fn afpacket_ports_need_an_interface() {
        let c = ok(&format!("{PORT}type = \"afpacket\"\niface = \"veth0\""));
        assert_eq!(
            c.bridges[0].ports[0].kind,
            PortKind::AfPacket {
                iface: "veth0".into()
            }
        );
        assert_eq!(
            err(&format!("{PORT}type = \"afpacket\"")),
            "bridge[0].port[0].iface: required key is missing"
        );
        assert!(err(&format!(
            "{PORT}type = \"afpacket\"\niface = \"a-very-long-interface\""
        ))
        .starts_with(
            "bridge[0].port[0].iface: \"a-very-long-interface\" is not an interface name"
        ));
        assert_eq!(
            err(&format!("{PORT}type = \"dummy\"\niface = \"veth0\"")),
            "bridge[0].port[0].iface: not allowed for a dummy port"
        );
    }

    #[test]
    fn port_vlans_as_ovs_takes_them() {
        let c = ok(&format!("{PORT}type = \"ring\"\ntag = 100"));
        assert_eq!(c.bridges[0].ports[0].vlan, PortVlan::access(100));
        let c = ok(&format!(
            "{PORT}type = \"ring\"\nvlan_mode = \"native-untagged\"\ntag = 10\ntrunks = [20, 30]"
        ));
        let v = &c.bridges[0].ports[0].vlan;
        assert_eq!(v.mode, VlanMode::NativeUntagged);
        assert_eq!((v.tag, v.trunks.as_slice()), (10, &[20u16, 30][..]));
        let c = ok(&format!("{PORT}type = \"ring\"\ntrunks = [5]"));
        assert_eq!(c.bridges[0].ports[0].vlan.mode, VlanMode::Trunk);
        assert_eq!(
            err(&format!("{PORT}type = \"ring\"\nvlan_mode = \"acess\"")),
            "bridge[0].port[0].vlan_mode: unknown VLAN mode \"acess\" (access, trunk, native-untagged or native-tagged)"
        );
        assert_eq!(
            err(&format!("{PORT}type = \"ring\"\nvlan_mode = \"access\"")),
            "bridge[0].port[0].tag: required for vlan_mode = \"access\""
        );
        assert!(err(&format!("{PORT}type = \"ring\"\ntag = 4096"))
            .starts_with("bridge[0].port[0].tag: "));
        assert_eq!(
            err(&format!("{PORT}type = \"ring\"\ntag = 1\ntrunks = [2]")),
            "bridge[0].port[0].trunks: not allowed for vlan_mode = \"access\""
        );
        assert!(err(&format!("{PORT}type = \"ring\"\ntrunks = [1, 9999]"))
            .starts_with("bridge[0].port[0].trunks[1]: "));
        assert_eq!(
            err(&format!("{PORT}type = \"ring\"\ntrunks = \"all\"")),
            "bridge[0].port[0].trunks: expected a list of VLAN numbers"
        );
    }

    #[test]
    fn bridges_without_flows_get_normal_and_mac_settings() {
        let c = ok(&format!("{PORT}type = \"ring\""));
        assert!(c.bridges[0].default_flows);
        assert!(c.bridges[0].internal);
        let c = ok("[[bridge]]\nname = \"b\"\nflows = []\ninternal = false\nmac_aging_s = 5\nmac_table_size = 10\n");
        let b = &c.bridges[0];
        assert!(!b.default_flows && !b.internal);
        assert_eq!((b.mac_aging_s, b.mac_table_size), (5, 10));
        assert!(err("[[bridge]]\nname = \"b\"\nmac_aging_s = 0\n")
            .starts_with("bridge[0].mac_aging_s: "));
    }

    #[test]
    fn tunnel_ports_and_routes() {
        let c = ok(&format!(
            "{PORT}type = \"vxlan\"\nremote_ip = \"172.31.0.2\"\nkey = 5000\n\
             [[route]]\nprefix = \"172.31.0.0/16\"\nbridge = \"br0\"\ngateway = \"172.31.0.254\"\n"
        ));
        let PortKind::Tunnel(t) = &c.bridges[0].ports[0].kind else {
            panic!("{c:?}");
        };
        assert_eq!(
            t.remote,
            ofproto::tunnel::Remote::Ip("172.31.0.2".parse().unwrap())
        );
        assert_eq!(
            (t.key, t.dst_port, t.ttl, t.df),
            (ofproto::tunnel::TunKey::Fixed(5000), 4789, 64, true)
        );
        assert_eq!(c.routes[0].len, 16);
        let c = ok(&format!(
            "{PORT}type = \"geneve\"\nremote_ip = \"flow\"\nkey = \"flow\""
        ));
        let PortKind::Tunnel(t) = &c.bridges[0].ports[0].kind else {
            panic!("{c:?}");
        };
        assert_eq!(
            (t.remote, t.key, t.dst_port),
            (
                ofproto::tunnel::Remote::Flow,
                ofproto::tunnel::TunKey::Flow,
                6081
            )
        );
        for (extra, want) in [
            (
                "",
                "bridge[0].port[0].remote_ip: required key is missing (an IP address or \"flow\")",
            ),
            (
                "remote_ip = \"10.0.0\"",
                "bridge[0].port[0].remote_ip: \"10.0.0\" is not an IP address",
            ),
            (
                "remote_ip = \"fd00::1\"\nlocal_ip = \"10.0.0.1\"",
                "bridge[0].port[0].local_ip: not of remote_ip's address family",
            ),
            (
                "remote_ip = \"10.0.0.1\"\nkey = 16777216",
                "bridge[0].port[0].key: 16777216 out of range 0-16777215",
            ),
            (
                "remote_ip = \"10.0.0.1\"\nkey = true",
                "bridge[0].port[0].key: expected a VNI (0 to 16777215) or \"flow\"",
            ),
            (
                "remote_ip = \"10.0.0.1\"\ndst_port = 0",
                "bridge[0].port[0].dst_port: 0 out of range 1-65535",
            ),
        ] {
            assert_eq!(err(&format!("{PORT}type = \"vxlan\"\n{extra}")), want);
        }
        assert_eq!(
            err(&format!("{PORT}type = \"dummy\"\nremote_ip = \"10.0.0.1\"")),
            "bridge[0].port[0].remote_ip: not allowed for a dummy port"
        );
        assert_eq!(
            err(&format!(
                "{PORT}type = \"dummy\"\n[[route]]\nprefix = \"10.0.0.0/8\"\nbridge = \"nope\""
            )),
            "route[0].bridge: no bridge named \"nope\""
        );
        assert_eq!(
            err(&format!(
                "{PORT}type = \"dummy\"\n[[route]]\nprefix = \"10.0.0.0/33\"\nbridge = \"br0\""
            )),
            "route[0].prefix: \"10.0.0.0/33\": prefix length must be 0 to 32"
        );
    }

    #[test]
    fn tos_ttl_inherit_and_tlv_maps() {
        let c = ok(&format!(
            "{PORT}type = \"geneve\"\nremote_ip = \"10.0.0.2\"\ntos = \"inherit\"\nttl = \"inherit\""
        ));
        let PortKind::Tunnel(t) = &c.bridges[0].ports[0].kind else {
            panic!("{c:?}");
        };
        assert!(t.tos_inherit && t.ttl_inherit);
        let c = ok(&format!(
            "{PORT}type = \"geneve\"\nremote_ip = \"10.0.0.2\"\ntos = 184\nttl = 9"
        ));
        let PortKind::Tunnel(t) = &c.bridges[0].ports[0].kind else {
            panic!("{c:?}");
        };
        assert_eq!(
            (t.tos, t.tos_inherit, t.ttl, t.ttl_inherit),
            (184, false, 9, false)
        );
        for (extra, want) in [
            (
                "tos = 185",
                "bridge[0].port[0].tos: 185: the ECN bits (0x03) must be zero; they are always inherited",
            ),
            (
                "tos = \"copy\"",
                "bridge[0].port[0].tos: expected 0 to 255 or \"inherit\"",
            ),
            ("ttl = 0", "bridge[0].port[0].ttl: 0 out of range 1-255"),
        ] {
            assert_eq!(
                err(&format!(
                    "{PORT}type = \"geneve\"\nremote_ip = \"10.0.0.2\"\n{extra}"
                )),
                want
            );
        }

        let map = "[[bridge]]\nname = \"b\"\ntlv_map = [\"{class=0xffff,type=0,len=4}->tun_metadata0\", \"{class=1,type=2,len=8}->tun_metadata3\"]";
        let c = ok(map);
        let m = &c.bridges[0].tlv_map;
        assert_eq!(m.entries().len(), 2);
        assert_eq!((m.get(3).unwrap().ofs, m.get(3).unwrap().map.len), (4, 8));
        for (list, want) in [
            (
                "[\"{class=1,type=0,len=6}->tun_metadata0\"]",
                "bridge[0].tlv_map[0]: \"{class=1,type=0,len=6}->tun_metadata0\": len=6 must be a multiple of 4 from 4 to 16",
            ),
            (
                "[\"{class=1,type=0,len=4}->tun_metadata0\", \"{class=1,type=1,len=4}->tun_metadata0\"]",
                "bridge[0].tlv_map[1]: tun_metadata0 is already mapped",
            ),
            ("[1]", "bridge[0].tlv_map[0]: expected a TLV mapping (string)"),
        ] {
            assert_eq!(
                err(&format!("[[bridge]]\nname = \"b\"\ntlv_map = {list}")),
                want
            );
        }
    }

    #[test]
    fn missing_port_type() {
        assert!(err(PORT).starts_with("bridge[0].port[0].type: required key is missing"));
    }

    #[test]
    fn unknown_keys() {
        assert_eq!(
            err(&format!("{PORT}type = \"pcap\"\n[[bridge.port]]\nname = \"p1\"\ntype = \"pcap\"\nrx_pacp = \"x\"")),
            "bridge[0].port[1].rx_pacp: unknown key"
        );
        assert_eq!(err("pmdd = 1"), "pmdd: unknown key");
        assert_eq!(err("[pmd]\ncore = [1]"), "pmd.core: unknown key");
        assert_eq!(err("[control]\nsock = \"x\""), "control.sock: unknown key");
        assert_eq!(
            err("[[bridge]]\nname = \"b\"\nflow = []"),
            "bridge[0].flow: unknown key"
        );
    }

    #[test]
    fn wrong_types() {
        assert_eq!(
            err("[pmd]\ncores = 1"),
            "pmd.cores: expected a list of core numbers"
        );
        assert_eq!(
            err("[pmd]\ncores = [1, \"2\"]"),
            "pmd.cores[1]: expected a core number"
        );
        assert_eq!(
            err("[pmd]\nflow_limit = \"many\""),
            "pmd.flow_limit: expected an integer"
        );
        assert_eq!(err("pmd = 3"), "pmd: expected a table");
        assert_eq!(
            err("[bridge]\nname = \"br0\""),
            "bridge: expected an array of tables ([[bridge]])"
        );
        assert_eq!(
            err("[[bridge]]\nname = 7"),
            "bridge[0].name: expected a name (string)"
        );
        assert_eq!(
            err("[[bridge]]\nname = \"b\"\nflows = \"x\""),
            "bridge[0].flows: expected a list of flows (strings)"
        );
        assert_eq!(
            err(&format!("{PORT}type = \"pcap\"\nloop = \"yes\"")),
            "bridge[0].port[0].loop: expected true or false"
        );
        assert_eq!(
            err(&format!("{PORT}type = \"pcap\"\nofport = \"1\"")),
            "bridge[0].port[0].ofport: expected a port number"
        );
        assert_eq!(
            err(&format!("{PORT}type = \"pcap\"\nrx_pcap = 1")),
            "bridge[0].port[0].rx_pcap: expected a path (string)"
        );
    }

    #[test]
    fn ofport_out_of_range() {
        assert_eq!(
            err(&format!("{PORT}type = \"ring\"\nofport = 70000")),
            "bridge[0].port[0].ofport: 70000 out of range 1-65279"
        );
        assert_eq!(
            err(&format!("{PORT}type = \"ring\"\nofport = 0")),
            "bridge[0].port[0].ofport: 0 out of range 1-65279"
        );
        ok(&format!("{PORT}type = \"ring\"\nofport = 65279"));
    }

    #[test]
    fn duplicate_bridge_names() {
        assert_eq!(
            err("[[bridge]]\nname = \"br0\"\n[[bridge]]\nname = \"br1\"\n[[bridge]]\nname = \"br0\""),
            "bridge[2].name: duplicate bridge name \"br0\" (also bridge[0])"
        );
    }

    #[test]
    fn duplicate_port_names_across_bridges() {
        assert_eq!(
            err(&format!("{PORT}type = \"ring\"\n[[bridge]]\nname = \"br1\"\n[[bridge.port]]\nname = \"p0\"\ntype = \"ring\"")),
            "bridge[1].port[0].name: duplicate port name \"p0\" (also bridge[0].port[0])"
        );
    }

    #[test]
    fn duplicate_ofports_in_a_bridge() {
        assert_eq!(
            err(&format!("{PORT}type = \"ring\"\nofport = 5\n[[bridge.port]]\nname = \"p1\"\ntype = \"ring\"\nofport = 5")),
            "bridge[0].port[1].ofport: duplicate ofport 5 (also bridge[0].port[0])"
        );
        // The same number in two bridges is fine.
        ok(&format!("{PORT}type = \"ring\"\nofport = 5\n[[bridge]]\nname = \"br1\"\n[[bridge.port]]\nname = \"p1\"\ntype = \"ring\"\nofport = 5"));
    }

    #[test]
    fn rx_pcap_on_dummy_port() {
        assert_eq!(
            err(&format!("{PORT}type = \"dummy\"\nrx_pcap = \"in.pcap\"")),
            "bridge[0].port[0].rx_pcap: not allowed for a dummy port"
        );
        assert_eq!(
            err(&format!("{PORT}type = \"dummy\"\nloop = false")),
            "bridge[0].port[0].loop: not allowed for a dummy port"
        );
        assert_eq!(
            err(&format!("{PORT}type = \"ring\"\ntx_pcap = \"o.pcap\"")),
            "bridge[0].port[0].tx_pcap: not allowed for a ring port"
        );
    }

    #[test]
    fn loop_without_rx_pcap() {
        assert_eq!(
            err(&format!(
                "{PORT}type = \"pcap\"\nloop = true\ntx_pcap = \"o.pcap\""
            )),
            "bridge[0].port[0].loop: loop = true needs rx_pcap"
        );
        ok(&format!("{PORT}type = \"pcap\"\nloop = false"));
    }

    #[test]
    fn empty_cores() {
        assert_eq!(
            err("[pmd]\ncores = []"),
            "pmd.cores: must list at least one core"
        );
    }

    #[test]
    fn bad_cores() {
        assert_eq!(
            err("[pmd]\ncores = [-1]"),
            "pmd.cores[0]: -1 is not a core number"
        );
        assert_eq!(
            err("[pmd]\ncores = [2, 4, 2]"),
            "pmd.cores[2]: core 2 listed twice"
        );
    }

    #[test]
    fn emc_auto_is_a_bool_on_by_default() {
        assert!(ok("").pmd.emc_auto);
        assert!(!ok("[pmd]\nemc_auto = false").pmd.emc_auto);
        assert_eq!(
            err("[pmd]\nemc_auto = 1"),
            "pmd.emc_auto: expected true or false"
        );
    }

    #[test]
    fn emc_insert_inv_prob_range() {
        assert_eq!(
            ok("[pmd]\nemc_insert_inv_prob = 0").pmd.emc_insert_inv_prob,
            0
        );
        assert_eq!(
            ok("[pmd]\nemc_insert_inv_prob = 1").pmd.emc_insert_inv_prob,
            1
        );
        assert_eq!(
            err("[pmd]\nemc_insert_inv_prob = -1"),
            "pmd.emc_insert_inv_prob: -1 out of range 0-4294967295"
        );
        assert_eq!(
            err("[pmd]\nemc_insert_inv_prob = 4294967296"),
            "pmd.emc_insert_inv_prob: 4294967296 out of range 0-4294967295"
        );
    }

    #[test]
    fn other_pmd_ranges() {
        assert_eq!(
            err("[pmd]\nhandler_threads = 0"),
            "pmd.handler_threads: 0 out of range 1-1024"
        );
        assert!(err("[pmd]\nmax_idle_ms = 0").starts_with("pmd.max_idle_ms: 0 out of range 1-"));
        assert!(err("[pmd]\nrevalidate_interval_ms = -5")
            .starts_with("pmd.revalidate_interval_ms: -5 out of range 1-"));
        assert!(err("[pmd]\nflow_limit = 0").starts_with("pmd.flow_limit: 0 out of range 1-"));
    }

    #[test]
    fn flows_and_flows_file_both_given() {
        assert_eq!(
            err("[[bridge]]\nname = \"br0\"\nflows = []\nflows_file = \"f\""),
            "bridge[0].flows_file: give either flows or flows_file, not both"
        );
    }

    #[test]
    fn bridge_without_name() {
        assert_eq!(
            err("[[bridge]]\nflows = []"),
            "bridge[0].name: required key is missing"
        );
        assert_eq!(
            err("[[bridge]]\nname = \" \""),
            "bridge[0].name: must not be empty"
        );
    }

    #[test]
    fn port_without_name() {
        assert_eq!(
            err("[[bridge]]\nname = \"br0\"\n[[bridge.port]]\ntype = \"ring\""),
            "bridge[0].port[0].name: required key is missing"
        );
    }

    #[test]
    fn empty_path() {
        assert_eq!(
            err("[control]\nsocket = \"\""),
            "control.socket: must not be empty"
        );
        assert_eq!(
            err(&format!("{PORT}type = \"pcap\"\nrx_pcap = \"\"")),
            "bridge[0].port[0].rx_pcap: must not be empty"
        );
    }

    const DPDK_PORT: &str =
        "[[bridge]]\nname = \"br0\"\n[[bridge.port]]\nname = \"d0\"\ntype = \"dpdk\"\n";

    #[test]
    fn dpdk_port_defaults_and_settings() {
        let c = ok(&format!("{DPDK_PORT}devargs = \"net_null0\""));
        assert_eq!(
            c.bridges[0].ports[0].kind,
            PortKind::Dpdk {
                devargs: "net_null0".into(),
                n_rxq: 1,
                n_txq: None,
                rxq_size: 2048,
                txq_size: 2048,
                mtu: 1500,
            }
        );
        assert_eq!(c.dpdk.eal_args, DEFAULT_EAL_ARGS);
        let c = ok(&format!(
            "[dpdk]\neal_args = [\"--no-huge\", \"-m\", \"1024\"]\n{DPDK_PORT}devargs = \"0000:03:00.0\"\nn_rxq = 4\nn_txq = 2\nrxq_size = 1024\ntxq_size = 512\nmtu = 9000"
        ));
        assert_eq!(c.dpdk.eal_args, ["--no-huge", "-m", "1024"]);
        assert_eq!(
            c.bridges[0].ports[0].kind,
            PortKind::Dpdk {
                devargs: "0000:03:00.0".into(),
                n_rxq: 4,
                n_txq: Some(2),
                rxq_size: 1024,
                txq_size: 512,
                mtu: 9000,
            }
        );
        assert_eq!(c.bridges[0].ports[0].kind.type_name(), "dpdk");
    }

    #[test]
    fn dpdk_port_errors_name_the_key() {
        assert_eq!(
            err(DPDK_PORT),
            "bridge[0].port[0].devargs: required key is missing (a PCI address or a vdev such as \"net_pcap0,rx_pcap=in.pcap\")"
        );
        assert_eq!(
            err(&format!("{DPDK_PORT}devargs = \" \"")),
            "bridge[0].port[0].devargs: must not be empty"
        );
        assert_eq!(
            err(&format!("{DPDK_PORT}devargs = \"x\"\nn_rxq = 0")),
            "bridge[0].port[0].n_rxq: 0 out of range 1-1024"
        );
        assert_eq!(
            err(&format!("{DPDK_PORT}devargs = \"x\"\nmtu = 10000")),
            "bridge[0].port[0].mtu: 10000 out of range 68-9702"
        );
        assert_eq!(
            err(&format!("{DPDK_PORT}devargs = \"x\"\nrxq_size = \"big\"")),
            "bridge[0].port[0].rxq_size: expected an integer"
        );
        assert_eq!(
            err(&format!(
                "{DPDK_PORT}devargs = \"x\"\nrx_pcap = \"in.pcap\""
            )),
            "bridge[0].port[0].rx_pcap: not allowed for a dpdk port"
        );
        assert_eq!(
            err(&format!("{PORT}type = \"pcap\"\ndevargs = \"net_null0\"")),
            "bridge[0].port[0].devargs: not allowed for a pcap port"
        );
        assert_eq!(err("[dpdk]\neal_arg = []"), "dpdk.eal_arg: unknown key");
        assert_eq!(
            err("[dpdk]\neal_args = \"--no-huge\""),
            "dpdk.eal_args: expected a list of arguments (strings)"
        );
    }

    #[test]
    fn rxq_assign_and_auto_lb() {
        let c = ok("");
        assert_eq!(c.pmd.rxq_assign, RxqAssign::Cycles);
        assert!(!c.pmd.pmd_auto_lb);
        let c = ok(
            "[pmd]\nrxq_assign = \"roundrobin\"\npmd_auto_lb = true\npmd_auto_lb_interval_ms = 100",
        );
        assert_eq!(c.pmd.rxq_assign, RxqAssign::RoundRobin);
        assert!(c.pmd.pmd_auto_lb);
        assert_eq!(c.pmd.pmd_auto_lb_interval_ms, 100);
        assert_eq!(
            ok("[pmd]\nrxq_assign = \"group\"").pmd.rxq_assign,
            RxqAssign::Group
        );
        assert_eq!(
            err("[pmd]\nrxq_assign = \"fair\""),
            "pmd.rxq_assign: unknown assignment \"fair\" (\"roundrobin\", \"cycles\" or \"group\")"
        );
        assert_eq!(
            err("[pmd]\npmd_auto_lb = 1"),
            "pmd.pmd_auto_lb: expected true or false"
        );
    }

    #[test]
    fn port_from_command_line_words() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let p = parse_port_args(
            "d9",
            &args(&["type=dpdk", "devargs=net_null0,no-rx=1", "n_rxq=2"]),
            base(),
        )
        .unwrap();
        assert_eq!(p.name, "d9");
        assert_eq!(p.ofport, 0);
        assert!(
            matches!(p.kind, PortKind::Dpdk { n_rxq: 2, ref devargs, .. } if devargs == "net_null0,no-rx=1")
        );
        let p = parse_port_args(
            "p",
            &args(&["type=pcap", "rx_pcap=in.pcap", "ofport=7"]),
            base(),
        )
        .unwrap();
        assert_eq!(p.ofport, 7);
        assert!(
            matches!(p.kind, PortKind::Pcap { rx_pcap: Some(ref r), .. } if r == Path::new("/etc/rvs/in.pcap"))
        );
        assert_eq!(
            parse_port_args("d", &args(&["type=dpdk", "devargs=x", "n_rxq=0"]), base())
                .unwrap_err(),
            "n_rxq: 0 out of range 1-1024"
        );
        assert_eq!(
            parse_port_args("d", &args(&["type=dpdk"]), base()).unwrap_err(),
            "devargs: required key is missing (a PCI address or a vdev such as \"net_pcap0,rx_pcap=in.pcap\")"
        );
        assert_eq!(
            parse_port_args("d", &args(&["type=dpdk", "devarg=x"]), base()).unwrap_err(),
            "devarg: unknown key"
        );
        assert_eq!(
            parse_port_args("d", &args(&["type=dpdk", "devargs"]), base()).unwrap_err(),
            "\"devargs\": expected KEY=VALUE"
        );
        assert_eq!(
            parse_port_args("d", &args(&["type=dpdk", "devargs=1", "devargs=2"]), base())
                .unwrap_err(),
            "devargs: given twice"
        );
    }
}
