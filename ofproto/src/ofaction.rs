//! OpenFlow actions and instructions (what a rule does), as parsed from
//! `ovs-ofctl` syntax and run by translation ([`crate::xlate`]).
//!
//! OpenFlow 1.1+ instructions (`goto_table`, `write_metadata`) are kept in
//! the same list, as `ovs-ofctl` accepts them there; the parser checks that
//! `goto_table` comes last.
//!
//! # Thread safety
//! Immutable data, shared by `Arc` inside rules.

use crate::field::Field;

/// OpenFlow port numbers, OVS's 16-bit numbering: physical and logical
/// ports are 1..=0xfeff, the rest are reserved ports.
pub mod ofp {
    /// Largest number of a regular port.
    pub const MAX: u32 = 0xff00;
    /// `in_port`: send back out the input port.
    pub const IN_PORT: u32 = 0xfff8;
    /// `table`: run the tables (packet-out only).
    pub const TABLE: u32 = 0xfff9;
    /// `normal`: L2 learning switch behaviour.
    pub const NORMAL: u32 = 0xfffa;
    /// `flood`: every port but the input port (and non-flood ports).
    pub const FLOOD: u32 = 0xfffb;
    /// `all`: every port but the input port.
    pub const ALL: u32 = 0xfffc;
    /// `controller`.
    pub const CONTROLLER: u32 = 0xfffd;
    /// `local`: the bridge's internal port.
    pub const LOCAL: u32 = 0xfffe;
    /// `none` / any.
    pub const NONE: u32 = 0xffff;

    /// The reserved port's name in `ovs-ofctl` syntax, upper case as
    /// dump-flows prints it.
    pub fn reserved_name(port: u32) -> Option<&'static str> {
        Some(match port {
            IN_PORT => "IN_PORT",
            TABLE => "TABLE",
            NORMAL => "NORMAL",
            FLOOD => "FLOOD",
            ALL => "ALL",
            CONTROLLER => "CONTROLLER",
            LOCAL => "LOCAL",
            NONE => "NONE",
            _ => return None,
        })
    }

    /// A reserved port by name, any case (`local`, `LOCAL`, `in_port`).
    pub fn reserved_by_name(name: &str) -> Option<u32> {
        Some(match name.to_ascii_uppercase().as_str() {
            "IN_PORT" => IN_PORT,
            "TABLE" => TABLE,
            "NORMAL" => NORMAL,
            "FLOOD" => FLOOD,
            "ALL" => ALL,
            "CONTROLLER" => CONTROLLER,
            "LOCAL" => LOCAL,
            "NONE" | "ANY" => NONE,
            _ => return None,
        })
    }
}

/// How a header rewrite was written; it changes behaviour only for VLAN
/// ids (`mod_vlan_vid` pushes a tag on an untagged packet, `set_field`
/// does not), and otherwise only how it prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SetStyle {
    /// `set_field:V->F` (or `V/M->F`).
    SetField,
    /// An OpenFlow 1.0 `mod_*` action (`mod_dl_src:...`).
    Mod,
}

/// One OpenFlow action or instruction.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum OfAction {
    /// `output:P`, a bare port number or name, or a reserved port
    /// (`in_port`, `flood`, `all`, `local`, `normal`).
    Output(u32),
    /// `controller` / `controller:max_len` / `controller(...)`: send to
    /// the controller (counted and dropped while none is connected).
    Controller {
        /// Bytes of the packet to send (65535 = all).
        max_len: u16,
    },
    /// `set_field:V/M->F` or `mod_*:V`: write `value` under `mask` into
    /// `field` (value and mask right-aligned in the field's width).
    SetField {
        /// Field written.
        field: Field,
        /// New value.
        value: u128,
        /// Bits written (all ones for an unmasked set).
        mask: u128,
        /// How it was written.
        style: SetStyle,
    },
    /// `load:V->F[a..b]`: write `n_bits` bits at `ofs` of `dst`.
    Load {
        /// Field written.
        dst: Field,
        /// First bit.
        ofs: u32,
        /// Number of bits.
        n_bits: u32,
        /// Value (right-aligned).
        value: u128,
    },
    /// `move:F[a..b]->G[c..d]`: copy bits between fields.
    Move {
        /// Source field.
        src: Field,
        /// First source bit.
        src_ofs: u32,
        /// Destination field.
        dst: Field,
        /// First destination bit.
        dst_ofs: u32,
        /// Number of bits.
        n_bits: u32,
    },
    /// `strip_vlan` (or `pop_vlan`): remove the outer VLAN tag.
    StripVlan {
        /// Whether it was written `pop_vlan`.
        pop: bool,
    },
    /// `push_vlan:ETHERTYPE`: push a tag with VID 0 and PCP 0.
    PushVlan(u16),
    /// `dec_ttl`: decrement the IP TTL; at TTL <= 1 stop (invalid_ttl).
    DecTtl,
    /// `resubmit:P`, `resubmit(P,T)`, `resubmit(,T)`.
    Resubmit {
        /// Port to look up as (None = the current in_port).
        port: Option<u32>,
        /// Table (None = the current table).
        table: Option<u8>,
    },
    /// `goto_table:T` (instruction; last).
    GotoTable(u8),
    /// `write_metadata:V/M` (instruction).
    WriteMetadata {
        /// Value.
        value: u64,
        /// Mask.
        mask: u64,
    },
    /// `set_tunnel:V` (32-bit) or `set_tunnel64:V`.
    SetTunnel {
        /// Tunnel id.
        id: u64,
        /// Whether written `set_tunnel64`.
        wide: bool,
    },
    /// `note:XX.XX...`: a comment carried with the rule; does nothing.
    Note(Vec<u8>),
}
