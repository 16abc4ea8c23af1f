//! A parsed flow-table change (`add-flow`, `mod-flows`, `del-flows` line).
//!
//! # Thread safety
//! Plain data.

use crate::flow::Match;
use crate::ofaction::OfAction;

/// OpenFlow's default rule priority.
pub const DEFAULT_PRIORITY: u16 = 32768;

/// Which `ovs-ofctl` command a line is for; it decides which keys are
/// allowed (`actions` is required for add, not allowed for delete; `out_port`
/// only for delete) and the defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlowModCommand {
    /// `add-flow(s)`.
    Add,
    /// `mod-flows` (non-strict).
    Modify,
    /// `mod-flows --strict`.
    ModifyStrict,
    /// `del-flows` (non-strict).
    Delete,
    /// `del-flows --strict`.
    DeleteStrict,
}

/// One flow-table change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowMod {
    /// Which command.
    pub command: FlowModCommand,
    /// `table=`; None when not given (add/modify: table 0; delete: all).
    pub table: Option<u8>,
    /// `priority=` (default 32768).
    pub priority: u16,
    /// `cookie=`.
    pub cookie: u64,
    /// Cookie mask for modify/delete selection (`cookie=V/M`); 0 = any.
    pub cookie_mask: u64,
    /// `idle_timeout=` seconds (0 = none).
    pub idle_timeout: u16,
    /// `hard_timeout=` seconds (0 = none).
    pub hard_timeout: u16,
    /// `send_flow_rem` given.
    pub send_flow_rem: bool,
    /// `out_port=` filter for deletes.
    pub out_port: Option<u32>,
    /// The match.
    pub matches: Match,
    /// The actions (empty = drop).
    pub actions: Vec<OfAction>,
}

impl FlowMod {
    /// A change with every option at its default.
    pub fn new(command: FlowModCommand) -> FlowMod {
        FlowMod {
            command,
            table: None,
            priority: DEFAULT_PRIORITY,
            cookie: 0,
            cookie_mask: 0,
            idle_timeout: 0,
            hard_timeout: 0,
            send_flow_rem: false,
            out_port: None,
            matches: Match::ANY,
            actions: Vec::new(),
        }
    }
}

/// Maps port names to OpenFlow numbers and back, for flow syntax.
pub trait PortNames {
    /// The number of the port called `name`.
    fn port_by_name(&self, name: &str) -> Option<u32>;
    /// The name of port `port`.
    fn port_name(&self, port: u32) -> Option<String>;
    /// The bridge's Geneve TLV map, which places `tun_metadataN` fields
    /// (None: nothing is mapped). It rides along with the port names
    /// because both are per-bridge context that flow syntax needs.
    fn tlv_map(&self) -> Option<std::sync::Arc<dpif_netdev::tlv::TlvMap>> {
        None
    }
}

/// No port names: ports are numbers only.
impl PortNames for () {
    fn port_by_name(&self, _name: &str) -> Option<u32> {
        None
    }
    fn port_name(&self, _port: u32) -> Option<String> {
        None
    }
}

/// A fixed list of (number, name) pairs.
impl PortNames for [(u32, String)] {
    fn port_by_name(&self, name: &str) -> Option<u32> {
        self.iter().find(|(_, n)| n == name).map(|(p, _)| *p)
    }
    fn port_name(&self, port: u32) -> Option<String> {
        self.iter()
            .find(|(p, _)| *p == port)
            .map(|(_, n)| n.clone())
    }
}

/// A list of (number, name) pairs; `[(u32, String)]` itself is unsized and
/// cannot be passed as `&dyn PortNames`, a `Vec` can.
impl PortNames for Vec<(u32, String)> {
    fn port_by_name(&self, name: &str) -> Option<u32> {
        self.as_slice().port_by_name(name)
    }
    fn port_name(&self, port: u32) -> Option<String> {
        self.as_slice().port_name(port)
    }
}
