//! Datapath actions: what a megaflow does to the packets that hit it.
//!
//! These are the userspace datapath's actions in the sense of OVS's
//! `OVS_ACTION_ATTR_*`: a flat list run left to right on each packet, with
//! no tables and no lookups. The slow path (ofproto's xlate) produces them;
//! [`crate::execute`] runs them; [`crate::odp`] prints and parses them in
//! `ovs-appctl dpctl/dump-flows` form (`actions:set(ipv4(ttl=63)),2`).
//!
//! An empty list means drop.
//!
//! # Thread safety
//! Immutable once built; shared by `Arc` between a megaflow's owner PMD and
//! readers (revalidator, dump commands).

use std::sync::Arc;

/// A value with a mask: only the bits set in `mask` are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Masked<T> {
    /// New value (bits outside `mask` are ignored and kept zero).
    pub value: T,
    /// Bits to write.
    pub mask: T,
}

impl<T: Copy + Default + PartialEq> Masked<T> {
    /// A field left alone.
    pub fn none() -> Self {
        Masked::default()
    }

    /// Whether this field writes no bit.
    pub fn is_none(&self) -> bool {
        self.mask == T::default()
    }
}

macro_rules! masked_exact {
    ($($t:ty => $all:expr),*) => {$(
        impl Masked<$t> {
            /// Writes every bit of the field with `value`.
            pub fn exact(value: $t) -> Self {
                Masked { value, mask: $all }
            }
            /// Whether every bit of the field is written.
            pub fn is_exact(&self) -> bool {
                self.mask == $all
            }
        }
    )*};
}
masked_exact!(u8 => u8::MAX, u16 => u16::MAX, u32 => u32::MAX,
    [u8; 6] => [0xff; 6], [u8; 16] => [0xff; 16]);

/// A masked header rewrite, as `set(...)` in dpctl output. Only fields with
/// a non-zero mask are written. The packet must carry the header (the slow
/// path only emits a set after matching its prerequisites); a packet that
/// does not is left unchanged.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SetAction {
    /// `set(eth(src=..,dst=..))`.
    Eth {
        /// Source MAC.
        src: Masked<[u8; 6]>,
        /// Destination MAC.
        dst: Masked<[u8; 6]>,
    },
    /// `set(ipv4(src=..,dst=..,tos=..,ttl=..))`; the IPv4 header checksum
    /// and the TCP/UDP pseudo-header checksum are updated incrementally.
    Ipv4 {
        /// Source address.
        src: Masked<u32>,
        /// Destination address.
        dst: Masked<u32>,
        /// TOS byte (DSCP and ECN).
        tos: Masked<u8>,
        /// TTL.
        ttl: Masked<u8>,
    },
    /// `set(ipv6(src=..,dst=..,label=..,tclass=..,hlimit=..))`; TCP, UDP and
    /// ICMPv6 checksums follow address changes.
    Ipv6 {
        /// Source address.
        src: Masked<[u8; 16]>,
        /// Destination address.
        dst: Masked<[u8; 16]>,
        /// Flow label (20 bits).
        label: Masked<u32>,
        /// Traffic class.
        tclass: Masked<u8>,
        /// Hop limit.
        hlimit: Masked<u8>,
    },
    /// `set(tcp(src=..,dst=..))`.
    Tcp {
        /// Source port.
        src: Masked<u16>,
        /// Destination port.
        dst: Masked<u16>,
    },
    /// `set(udp(src=..,dst=..))`; a zero UDP checksum stays zero.
    Udp {
        /// Source port.
        src: Masked<u16>,
        /// Destination port.
        dst: Masked<u16>,
    },
    /// `set(sctp(src=..,dst=..))`; the CRC32c is recomputed.
    Sctp {
        /// Source port.
        src: Masked<u16>,
        /// Destination port.
        dst: Masked<u16>,
    },
    /// `set(tunnel(...))`: tunnel metadata for the next encapsulation
    /// (flow-based tunnel ports).
    Tunnel(crate::packet::TunnelMeta),
}

/// Tunnel header kinds for `tnl_push`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TunnelType {
    /// VXLAN (RFC 7348), UDP port 4789 by default.
    Vxlan,
    /// Geneve (RFC 8926), UDP port 6081 by default.
    Geneve,
}

/// The data of a `tnl_push` action: a prebuilt outer header (Ethernet, IPv4
/// or IPv6, UDP, VXLAN/Geneve) copied in front of the frame, whose lengths,
/// IPv4 checksum, UDP source port (from the inner flow's hash) and UDP
/// checksum (when enabled) are filled at execution.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TnlPush {
    /// Tunnel port this encapsulation belongs to (for dpctl output).
    pub tnl_port: u32,
    /// Underlay port the encapsulated packet is sent to.
    pub out_port: u32,
    /// Tunnel header kind.
    pub tnl_type: TunnelType,
    /// The outer header template, Ethernet first.
    pub header: Box<[u8]>,
    /// Whether the outer IP header is IPv6 (else IPv4).
    pub ipv6: bool,
    /// Whether to compute the outer UDP checksum (always done for IPv6).
    pub udp_csum: bool,
}

/// The data of a `tnl_pop` action.
///
/// The TLV map travels with the action (rather than the datapath looking
/// up a per-port map) because where each Geneve option's data goes in the
/// flow key is part of what the megaflow means: the slow path resolves
/// the map of the bridge whose tunnel ports the vport serves when it
/// translates, and a map change bumps the translation version, so the
/// revalidator replaces every `tnl_pop` that carried the old map. The PMD
/// reads the map through the action's `Arc`, with no lock and no lookup.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TnlPop {
    /// The tunnel vport the inner packet comes back on.
    pub port: u32,
    /// Where Geneve options go (None: no option is mapped; unknown
    /// critical options still drop the packet).
    pub tlv: Option<Arc<crate::tlv::TlvMap>>,
}

impl TnlPop {
    /// A `tnl_pop` without a TLV map.
    pub fn plain(port: u32) -> TnlPop {
        TnlPop { port, tlv: None }
    }
}

/// One datapath action.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DpAction {
    /// Send to a datapath port (printed as the bare number).
    Output(u32),
    /// Rewrite header fields.
    Set(SetAction),
    /// Push an 802.1Q/802.1ad tag. `tci` is the wire TCI (PCP, DEI, VID).
    PushVlan {
        /// Tag protocol identifier (0x8100 or 0x88a8).
        tpid: u16,
        /// Tag control information as written on the wire.
        tci: u16,
    },
    /// Remove the outermost VLAN tag.
    PopVlan,
    /// Re-run the datapath lookup with this recirculation id.
    Recirc(u32),
    /// Compute a 5-tuple hash into `dp_hash` (`hash(l4(basis))`).
    Hash {
        /// Hash basis.
        basis: u32,
    },
    /// Encapsulate and output to the underlay.
    TnlPush(Arc<TnlPush>),
    /// Decapsulate, fill tunnel metadata (Geneve options through the TLV
    /// map) and recirculate with `in_port` = the tunnel vport.
    TnlPop(TnlPop),
    /// Send to the slow path / controller (`userspace(...)`), with an
    /// opaque cookie.
    Userspace {
        /// Cookie passed to the receiver.
        cookie: u64,
    },
}

/// A megaflow's action list. Empty means drop.
pub type DpActions = Vec<DpAction>;
