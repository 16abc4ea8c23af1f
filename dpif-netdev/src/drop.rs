//! Why the datapath dropped a packet. Declared once, with a description
//! each, so counters and `pmd-perf-show` style output agree on names.
//!
//! # Thread safety
//! Plain data.

/// A reason for dropping a packet in the fast path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum DropReason {
    /// The megaflow's action list is empty (an explicit drop).
    FlowAction = 0,
    /// The frame is shorter than an Ethernet header.
    RuntFrame,
    /// A header the actions needed to change was missing or malformed.
    MalformedForAction,
    /// Not enough headroom to push a VLAN tag or tunnel header.
    NoHeadroom,
    /// A `tnl_pop` met a packet that is not a well-formed tunnel packet.
    TunnelPopMalformed,
    /// Recirculation nested too deep (a loop in the actions).
    RecircDepth,
    /// The output port does not exist.
    InvalidPort,
    /// The upcall queue was full.
    UpcallQueueFull,
    /// The slow path failed to translate the packet.
    UpcallError,
    /// The packet went to a controller and none is connected.
    NoController,
    /// The transmit queue of the output port was full.
    TxQueueFull,
    /// A Geneve packet carried an unknown critical option, or a mapped
    /// option whose length differs from its TLV mapping (OVS drops both).
    TunnelPopOption,
}

impl DropReason {
    /// Every reason, in counter order.
    pub const ALL: [DropReason; 12] = [
        DropReason::FlowAction,
        DropReason::RuntFrame,
        DropReason::MalformedForAction,
        DropReason::NoHeadroom,
        DropReason::TunnelPopMalformed,
        DropReason::RecircDepth,
        DropReason::InvalidPort,
        DropReason::UpcallQueueFull,
        DropReason::UpcallError,
        DropReason::NoController,
        DropReason::TxQueueFull,
        DropReason::TunnelPopOption,
    ];

    /// Short counter name, as in OVS's `datapath_drop_*` coverage counters.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::FlowAction => "datapath_drop_flow_action",
            DropReason::RuntFrame => "datapath_drop_rx_runt",
            DropReason::MalformedForAction => "datapath_drop_malformed_for_action",
            DropReason::NoHeadroom => "datapath_drop_no_headroom",
            DropReason::TunnelPopMalformed => "datapath_drop_tunnel_pop_error",
            DropReason::RecircDepth => "datapath_drop_recirc_depth",
            DropReason::InvalidPort => "datapath_drop_invalid_port",
            DropReason::UpcallQueueFull => "datapath_drop_upcall_queue_full",
            DropReason::UpcallError => "datapath_drop_upcall_error",
            DropReason::NoController => "datapath_drop_no_controller",
            DropReason::TxQueueFull => "datapath_drop_tx_queue_full",
            DropReason::TunnelPopOption => "datapath_drop_tunnel_pop_option",
        }
    }

    /// One line for people.
    pub fn description(self) -> &'static str {
        match self {
            DropReason::FlowAction => "the flow's actions drop the packet",
            DropReason::RuntFrame => "frame shorter than an Ethernet header",
            DropReason::MalformedForAction => "header needed by an action missing or malformed",
            DropReason::NoHeadroom => "no headroom to push a header",
            DropReason::TunnelPopMalformed => "malformed or truncated tunnel packet",
            DropReason::RecircDepth => "too many recirculations",
            DropReason::InvalidPort => "output to a port that does not exist",
            DropReason::UpcallQueueFull => "upcall queue full",
            DropReason::UpcallError => "slow path could not translate the packet",
            DropReason::NoController => "sent to controller, none connected",
            DropReason::TxQueueFull => "transmit queue full",
            DropReason::TunnelPopOption => {
                "Geneve option unknown and critical, or of the wrong length"
            }
        }
    }
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_reason_once_in_order() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
            assert!(!r.description().is_empty());
        }
        let mut names: Vec<_> = DropReason::ALL.iter().map(|r| r.name()).collect();
        names.dedup();
        assert_eq!(names.len(), DropReason::ALL.len());
    }
}
