//! The OpenFlow field registry: names, widths, prerequisites, and bit-level
//! access to a [`Flow`] (values and masks alike).
//!
//! Every name `ovs-ofctl` accepts for a field maps to one [`Field`]
//! (`dl_src`, `eth_src`, `NXM_OF_ETH_SRC`, `OXM_OF_ETH_SRC` are all
//! [`Field::EthSrc`]). Values are handled as `u128` right-aligned in the
//! field's width, so `load`, `move` and `set_field` work on any field with
//! one code path. Sub-byte fields (`ip_dscp`, `nw_ecn`, `dl_vlan`,
//! `vlan_pcp`) read and write only their bits of the shared storage.
//!
//! # Thread safety
//! Pure functions over plain data.

use crate::flow::Flow;
use dpif_netdev::key::{ethertype, ipproto};

/// One OpenFlow field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// Ingress OpenFlow port.
    InPort,
    /// OpenFlow metadata.
    Metadata,
    /// Register `n` (0..16).
    Reg(u8),
    /// Tunnel id.
    TunId,
    /// Tunnel outer IPv4 source.
    TunSrc,
    /// Tunnel outer IPv4 destination.
    TunDst,
    /// Tunnel outer IPv6 source.
    TunIpv6Src,
    /// Tunnel outer IPv6 destination.
    TunIpv6Dst,
    /// Tunnel flags (`tun_flags`).
    TunFlags,
    /// Outer IP TOS of a decapsulated packet (`tun_tos`).
    TunTos,
    /// Outer IP TTL of a decapsulated packet (`tun_ttl`).
    TunTtl,
    /// `tun_metadata{idx}`: the data of the Geneve option a bridge's TLV
    /// map gives that field, `len` bytes at `ofs` in the key's option
    /// area ([`dpif_netdev::key::FlowKey::tun_metadata`]). Resolved
    /// against the map when a flow is parsed ([`Field::tun_metadata`]);
    /// the map cannot change a mapping flows use, so the place stays
    /// right for as long as the flow exists.
    TunMetadata {
        /// Field number, 0..8.
        idx: u8,
        /// Byte offset in the option area.
        ofs: u8,
        /// Length in bytes (4..=16).
        len: u8,
    },
    /// Ethernet source.
    EthSrc,
    /// Ethernet destination.
    EthDst,
    /// Ethertype (after VLAN tags).
    EthType,
    /// Outer VLAN TCI, with the present bit (0x1000) as in OVS.
    VlanTci,
    /// `dl_vlan`: the 12-bit VLAN id.
    DlVlan,
    /// `vlan_vid` (OXM): present bit plus VLAN id, 13 bits.
    VlanVid,
    /// VLAN priority, 3 bits.
    VlanPcp,
    /// `nw_src`: IPv4 source or ARP sender address.
    NwSrc,
    /// `nw_dst`: IPv4 destination or ARP target address.
    NwDst,
    /// `ip_src` / `ipv4_src`: IPv4 only.
    Ipv4Src,
    /// `ip_dst` / `ipv4_dst`: IPv4 only.
    Ipv4Dst,
    /// IP protocol (or ARP opcode for `arp`, as OVS allows).
    NwProto,
    /// `nw_tos`: the DSCP bits in the TOS byte's position (low 2 bits 0).
    NwTos,
    /// `ip_dscp`: the 6-bit DSCP.
    IpDscp,
    /// `nw_ecn`: the 2-bit ECN.
    NwEcn,
    /// IP TTL / hop limit.
    NwTtl,
    /// Fragment bits.
    NwFrag,
    /// IPv6 source.
    Ipv6Src,
    /// IPv6 destination.
    Ipv6Dst,
    /// IPv6 flow label, 20 bits.
    Ipv6Label,
    /// `tp_src`: TCP, UDP or SCTP source port.
    TpSrc,
    /// `tp_dst`: TCP, UDP or SCTP destination port.
    TpDst,
    /// TCP source port.
    TcpSrc,
    /// TCP destination port.
    TcpDst,
    /// UDP source port.
    UdpSrc,
    /// UDP destination port.
    UdpDst,
    /// SCTP source port.
    SctpSrc,
    /// SCTP destination port.
    SctpDst,
    /// TCP flags, 12 bits.
    TcpFlags,
    /// ICMPv4 type.
    IcmpType,
    /// ICMPv4 code.
    IcmpCode,
    /// ICMPv6 type.
    Icmpv6Type,
    /// ICMPv6 code.
    Icmpv6Code,
    /// ARP opcode.
    ArpOp,
    /// ARP sender protocol address.
    ArpSpa,
    /// ARP target protocol address.
    ArpTpa,
    /// ARP sender hardware address.
    ArpSha,
    /// ARP target hardware address.
    ArpTha,
    /// ND target address.
    NdTarget,
    /// ND source link-layer address.
    NdSll,
    /// ND target link-layer address.
    NdTll,
}

/// What must be true of a packet for a field to exist in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Prereq {
    /// Always present.
    None,
    /// ARP or RARP.
    Arp,
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
    /// IPv4 or IPv6.
    IpAny,
    /// IPv4 or ARP.
    Ipv4OrArp,
    /// IPv4/IPv6 with protocol TCP.
    Tcp,
    /// IPv4/IPv6 with protocol UDP.
    Udp,
    /// IPv4/IPv6 with protocol SCTP.
    Sctp,
    /// IPv4/IPv6 with protocol TCP, UDP or SCTP.
    L4Ports,
    /// IPv4 with protocol ICMP.
    Icmpv4,
    /// IPv6 with protocol ICMPv6.
    Icmpv6,
    /// ICMPv6 neighbour solicitation or advertisement.
    Nd,
    /// ICMPv6 neighbour solicitation.
    NdSolicit,
    /// ICMPv6 neighbour advertisement.
    NdAdvert,
}

/// How a field's values are written in flow syntax.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Decimal (hex accepted with 0x).
    Decimal,
    /// Hexadecimal with 0x.
    Hex,
    /// Ethernet address.
    Mac,
    /// IPv4 address (CIDR or mask accepted).
    Ipv4,
    /// IPv6 address (prefix accepted).
    Ipv6,
    /// `no`, `yes`, `first`, `later`, `not_later`.
    Frag,
    /// `+syn-ack` or hex.
    TcpFlags,
    /// OpenFlow port number or name.
    Port,
}

/// Names and aliases, canonical name first for each field.
const NAMES: &[(&str, Field)] = &[
    ("in_port", Field::InPort),
    ("in_port_oxm", Field::InPort),
    ("NXM_OF_IN_PORT", Field::InPort),
    ("OXM_OF_IN_PORT", Field::InPort),
    ("metadata", Field::Metadata),
    ("OXM_OF_METADATA", Field::Metadata),
    ("tun_id", Field::TunId),
    ("tunnel_id", Field::TunId),
    ("NXM_NX_TUN_ID", Field::TunId),
    ("OXM_OF_TUNNEL_ID", Field::TunId),
    ("tun_src", Field::TunSrc),
    ("NXM_NX_TUN_IPV4_SRC", Field::TunSrc),
    ("tun_dst", Field::TunDst),
    ("NXM_NX_TUN_IPV4_DST", Field::TunDst),
    ("tun_ipv6_src", Field::TunIpv6Src),
    ("NXM_NX_TUN_IPV6_SRC", Field::TunIpv6Src),
    ("tun_ipv6_dst", Field::TunIpv6Dst),
    ("NXM_NX_TUN_IPV6_DST", Field::TunIpv6Dst),
    ("tun_flags", Field::TunFlags),
    ("NXM_NX_TUN_FLAGS", Field::TunFlags),
    ("tun_tos", Field::TunTos),
    ("tun_ttl", Field::TunTtl),
    ("dl_src", Field::EthSrc),
    ("eth_src", Field::EthSrc),
    ("NXM_OF_ETH_SRC", Field::EthSrc),
    ("OXM_OF_ETH_SRC", Field::EthSrc),
    ("dl_dst", Field::EthDst),
    ("eth_dst", Field::EthDst),
    ("NXM_OF_ETH_DST", Field::EthDst),
    ("OXM_OF_ETH_DST", Field::EthDst),
    ("dl_type", Field::EthType),
    ("eth_type", Field::EthType),
    ("NXM_OF_ETH_TYPE", Field::EthType),
    ("OXM_OF_ETH_TYPE", Field::EthType),
    ("vlan_tci", Field::VlanTci),
    ("NXM_OF_VLAN_TCI", Field::VlanTci),
    ("dl_vlan", Field::DlVlan),
    ("vlan_vid", Field::VlanVid),
    ("OXM_OF_VLAN_VID", Field::VlanVid),
    ("dl_vlan_pcp", Field::VlanPcp),
    ("vlan_pcp", Field::VlanPcp),
    ("OXM_OF_VLAN_PCP", Field::VlanPcp),
    ("nw_src", Field::NwSrc),
    ("nw_dst", Field::NwDst),
    ("ip_src", Field::Ipv4Src),
    ("ipv4_src", Field::Ipv4Src),
    ("NXM_OF_IP_SRC", Field::Ipv4Src),
    ("OXM_OF_IPV4_SRC", Field::Ipv4Src),
    ("ip_dst", Field::Ipv4Dst),
    ("ipv4_dst", Field::Ipv4Dst),
    ("NXM_OF_IP_DST", Field::Ipv4Dst),
    ("OXM_OF_IPV4_DST", Field::Ipv4Dst),
    ("nw_proto", Field::NwProto),
    ("ip_proto", Field::NwProto),
    ("NXM_OF_IP_PROTO", Field::NwProto),
    ("OXM_OF_IP_PROTO", Field::NwProto),
    ("nw_tos", Field::NwTos),
    ("NXM_OF_IP_TOS", Field::NwTos),
    ("ip_dscp", Field::IpDscp),
    ("OXM_OF_IP_DSCP", Field::IpDscp),
    ("nw_ecn", Field::NwEcn),
    ("ip_ecn", Field::NwEcn),
    ("NXM_NX_IP_ECN", Field::NwEcn),
    ("OXM_OF_IP_ECN", Field::NwEcn),
    ("nw_ttl", Field::NwTtl),
    ("NXM_NX_IP_TTL", Field::NwTtl),
    ("nw_frag", Field::NwFrag),
    ("ip_frag", Field::NwFrag),
    ("NXM_NX_IP_FRAG", Field::NwFrag),
    ("ipv6_src", Field::Ipv6Src),
    ("NXM_NX_IPV6_SRC", Field::Ipv6Src),
    ("OXM_OF_IPV6_SRC", Field::Ipv6Src),
    ("ipv6_dst", Field::Ipv6Dst),
    ("NXM_NX_IPV6_DST", Field::Ipv6Dst),
    ("OXM_OF_IPV6_DST", Field::Ipv6Dst),
    ("ipv6_label", Field::Ipv6Label),
    ("NXM_NX_IPV6_LABEL", Field::Ipv6Label),
    ("OXM_OF_IPV6_FLABEL", Field::Ipv6Label),
    ("tp_src", Field::TpSrc),
    ("tp_dst", Field::TpDst),
    ("tcp_src", Field::TcpSrc),
    ("NXM_OF_TCP_SRC", Field::TcpSrc),
    ("OXM_OF_TCP_SRC", Field::TcpSrc),
    ("tcp_dst", Field::TcpDst),
    ("NXM_OF_TCP_DST", Field::TcpDst),
    ("OXM_OF_TCP_DST", Field::TcpDst),
    ("udp_src", Field::UdpSrc),
    ("NXM_OF_UDP_SRC", Field::UdpSrc),
    ("OXM_OF_UDP_SRC", Field::UdpSrc),
    ("udp_dst", Field::UdpDst),
    ("NXM_OF_UDP_DST", Field::UdpDst),
    ("OXM_OF_UDP_DST", Field::UdpDst),
    ("sctp_src", Field::SctpSrc),
    ("OXM_OF_SCTP_SRC", Field::SctpSrc),
    ("sctp_dst", Field::SctpDst),
    ("OXM_OF_SCTP_DST", Field::SctpDst),
    ("tcp_flags", Field::TcpFlags),
    ("NXM_NX_TCP_FLAGS", Field::TcpFlags),
    ("OXM_OF_TCP_FLAGS", Field::TcpFlags),
    ("icmp_type", Field::IcmpType),
    ("icmpv4_type", Field::IcmpType),
    ("NXM_OF_ICMP_TYPE", Field::IcmpType),
    ("OXM_OF_ICMPV4_TYPE", Field::IcmpType),
    ("icmp_code", Field::IcmpCode),
    ("icmpv4_code", Field::IcmpCode),
    ("NXM_OF_ICMP_CODE", Field::IcmpCode),
    ("OXM_OF_ICMPV4_CODE", Field::IcmpCode),
    ("icmpv6_type", Field::Icmpv6Type),
    ("NXM_NX_ICMPV6_TYPE", Field::Icmpv6Type),
    ("OXM_OF_ICMPV6_TYPE", Field::Icmpv6Type),
    ("icmpv6_code", Field::Icmpv6Code),
    ("NXM_NX_ICMPV6_CODE", Field::Icmpv6Code),
    ("OXM_OF_ICMPV6_CODE", Field::Icmpv6Code),
    ("arp_op", Field::ArpOp),
    ("NXM_OF_ARP_OP", Field::ArpOp),
    ("OXM_OF_ARP_OP", Field::ArpOp),
    ("arp_spa", Field::ArpSpa),
    ("NXM_OF_ARP_SPA", Field::ArpSpa),
    ("OXM_OF_ARP_SPA", Field::ArpSpa),
    ("arp_tpa", Field::ArpTpa),
    ("NXM_OF_ARP_TPA", Field::ArpTpa),
    ("OXM_OF_ARP_TPA", Field::ArpTpa),
    ("arp_sha", Field::ArpSha),
    ("NXM_NX_ARP_SHA", Field::ArpSha),
    ("OXM_OF_ARP_SHA", Field::ArpSha),
    ("arp_tha", Field::ArpTha),
    ("NXM_NX_ARP_THA", Field::ArpTha),
    ("OXM_OF_ARP_THA", Field::ArpTha),
    ("nd_target", Field::NdTarget),
    ("NXM_NX_ND_TARGET", Field::NdTarget),
    ("OXM_OF_IPV6_ND_TARGET", Field::NdTarget),
    ("nd_sll", Field::NdSll),
    ("NXM_NX_ND_SLL", Field::NdSll),
    ("OXM_OF_IPV6_ND_SLL", Field::NdSll),
    ("nd_tll", Field::NdTll),
    ("NXM_NX_ND_TLL", Field::NdTll),
    ("OXM_OF_IPV6_ND_TLL", Field::NdTll),
];

/// Where a field's bits live in a [`Flow`].
enum Loc {
    U8(fn(&mut Flow) -> &mut u8),
    U16(fn(&mut Flow) -> &mut u16),
    U32(fn(&mut Flow) -> &mut u32),
    U64(fn(&mut Flow) -> &mut u64),
    Bytes6(fn(&mut Flow) -> &mut [u8; 6]),
    Bytes16(fn(&mut Flow) -> &mut [u8; 16]),
}

impl Field {
    /// Looks a field up by any of its names (`nw_src`, `NXM_OF_IP_SRC`,
    /// `reg3`, `NXM_NX_REG3`, ...).
    pub fn from_name(name: &str) -> Option<Field> {
        if let Some(n) = name
            .strip_prefix("reg")
            .or_else(|| name.strip_prefix("NXM_NX_REG"))
        {
            return match n.parse::<u8>() {
                Ok(i) if i < 16 && !n.starts_with('+') && (n == "0" || !n.starts_with('0')) => {
                    Some(Field::Reg(i))
                }
                _ => None,
            };
        }
        NAMES.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    /// The number `N` of a `tun_metadataN` / `NXM_NX_TUN_METADATAN` name
    /// (which [`Field::from_name`] does not resolve: the place of the
    /// field depends on the bridge's TLV map).
    pub fn tun_metadata_index(name: &str) -> Option<u8> {
        let n = name
            .strip_prefix("tun_metadata")
            .or_else(|| name.strip_prefix("NXM_NX_TUN_METADATA"))?;
        if n.is_empty() || n.len() > 1 || !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        n.parse()
            .ok()
            .filter(|i| usize::from(*i) < dpif_netdev::tlv::TUN_METADATA_FIELDS)
    }

    /// `tun_metadata{idx}` as `map` places it (None: not mapped).
    pub fn tun_metadata(map: &dpif_netdev::tlv::TlvMap, idx: u8) -> Option<Field> {
        map.get(idx).map(|e| Field::TunMetadata {
            idx,
            ofs: e.ofs,
            len: e.map.len,
        })
    }

    /// The presence bit a `tun_metadata` field sets in
    /// [`dpif_netdev::key::FlowKey::tun_md_present`] (0 for other fields).
    pub fn present_bit(self) -> u8 {
        match self {
            Field::TunMetadata { idx, .. } => 1 << (idx & 7),
            _ => 0,
        }
    }

    /// The canonical name, as `ovs-ofctl dump-flows` prints it.
    pub fn name(self) -> String {
        match self {
            Field::Reg(n) => format!("reg{n}"),
            Field::TunMetadata { idx, .. } => format!("tun_metadata{idx}"),
            f => NAMES
                .iter()
                .find(|(_, g)| *g == f)
                .map(|(n, _)| n.to_string())
                .unwrap_or_default(),
        }
    }

    /// The NXM/OXM name used in `load`/`move` output (`NXM_OF_IP_SRC`).
    pub fn nxm_name(self) -> String {
        match self {
            Field::Reg(n) => format!("NXM_NX_REG{n}"),
            Field::TunMetadata { idx, .. } => format!("NXM_NX_TUN_METADATA{idx}"),
            f => NAMES
                .iter()
                .find(|(n, g)| *g == f && (n.starts_with("NXM_") || n.starts_with("OXM_")))
                .map(|(n, _)| n.to_string())
                .unwrap_or_else(|| f.name()),
        }
    }

    /// Width in bits.
    pub fn width(self) -> u32 {
        use Field::*;
        match self {
            InPort | Reg(_) | TunSrc | TunDst | NwSrc | NwDst | Ipv4Src | Ipv4Dst | ArpSpa
            | ArpTpa => 32,
            Metadata | TunId => 64,
            TunIpv6Src | TunIpv6Dst | Ipv6Src | Ipv6Dst | NdTarget => 128,
            EthSrc | EthDst | ArpSha | ArpTha | NdSll | NdTll => 48,
            EthType | VlanTci | TpSrc | TpDst | TcpSrc | TcpDst | UdpSrc | UdpDst | SctpSrc
            | SctpDst | ArpOp | TunFlags => 16,
            DlVlan | TcpFlags => 12,
            VlanVid => 13,
            VlanPcp => 3,
            NwProto | NwTos | NwTtl | TunTos | TunTtl | IcmpType | IcmpCode | Icmpv6Type
            | Icmpv6Code => 8,
            IpDscp => 6,
            NwEcn | NwFrag => 2,
            Ipv6Label => 20,
            TunMetadata { len, .. } => u32::from(len.min(16)) * 8,
        }
    }

    /// All-ones value of the field's width.
    pub fn all_ones(self) -> u128 {
        let w = self.width();
        if w == 128 {
            u128::MAX
        } else {
            (1u128 << w) - 1
        }
    }

    /// What a packet must be for the field to exist.
    pub fn prereq(self) -> Prereq {
        use Field::*;
        match self {
            InPort
            | Metadata
            | Reg(_)
            | TunId
            | TunSrc
            | TunDst
            | TunIpv6Src
            | TunIpv6Dst
            | TunFlags
            | TunTos
            | TunTtl
            | TunMetadata { .. }
            | EthSrc
            | EthDst
            | EthType
            | VlanTci
            | DlVlan
            | VlanVid
            | VlanPcp => Prereq::None,
            NwSrc | NwDst => Prereq::Ipv4OrArp,
            Ipv4Src | Ipv4Dst => Prereq::Ipv4,
            NwProto | NwTos | IpDscp | NwEcn | NwTtl | NwFrag => Prereq::IpAny,
            Ipv6Src | Ipv6Dst | Ipv6Label => Prereq::Ipv6,
            TpSrc | TpDst => Prereq::L4Ports,
            TcpSrc | TcpDst | TcpFlags => Prereq::Tcp,
            UdpSrc | UdpDst => Prereq::Udp,
            SctpSrc | SctpDst => Prereq::Sctp,
            IcmpType | IcmpCode => Prereq::Icmpv4,
            Icmpv6Type | Icmpv6Code => Prereq::Icmpv6,
            ArpOp | ArpSpa | ArpTpa | ArpSha | ArpTha => Prereq::Arp,
            NdTarget => Prereq::Nd,
            NdSll => Prereq::NdSolicit,
            NdTll => Prereq::NdAdvert,
        }
    }

    /// How values are written.
    pub fn format(self) -> Format {
        use Field::*;
        match self {
            InPort => Format::Port,
            EthSrc | EthDst | ArpSha | ArpTha | NdSll | NdTll => Format::Mac,
            NwSrc | NwDst | Ipv4Src | Ipv4Dst | ArpSpa | ArpTpa | TunSrc | TunDst => Format::Ipv4,
            Ipv6Src | Ipv6Dst | NdTarget | TunIpv6Src | TunIpv6Dst => Format::Ipv6,
            NwFrag => Format::Frag,
            TcpFlags => Format::TcpFlags,
            Metadata
            | TunId
            | EthType
            | VlanTci
            | Reg(_)
            | Ipv6Label
            | TunFlags
            | TunMetadata { .. } => Format::Hex,
            _ => Format::Decimal,
        }
    }

    /// Whether set_field/load/move may write the field. `in_port` may be
    /// loaded (OVS allows it, affecting later `in_port` actions and
    /// lookups); fragment bits and ND link-layer options may not.
    pub fn is_writable(self) -> bool {
        !matches!(self, Field::NwFrag | Field::TcpFlags)
    }

    /// (storage, shift, bits) of the field within its storage word.
    fn loc(self) -> (Loc, u32) {
        use Field::*;
        match self {
            InPort => (Loc::U32(|f| &mut f.key.in_port), 0),
            Metadata => (Loc::U64(|f| &mut f.metadata), 0),
            Reg(_) | TunMetadata { .. } => unreachable_reg(),
            TunId => (Loc::U64(|f| &mut f.key.tun_id), 0),
            TunSrc => (Loc::U32(|f| &mut f.key.tun_ipv4_src), 0),
            TunDst => (Loc::U32(|f| &mut f.key.tun_ipv4_dst), 0),
            TunIpv6Src => (Loc::Bytes16(|f| &mut f.key.tun_ipv6_src), 0),
            TunIpv6Dst => (Loc::Bytes16(|f| &mut f.key.tun_ipv6_dst), 0),
            TunFlags => (Loc::U16(|f| &mut f.key.tun_flags), 0),
            TunTos => (Loc::U8(|f| &mut f.key.tun_tos), 0),
            TunTtl => (Loc::U8(|f| &mut f.key.tun_ttl), 0),
            EthSrc => (Loc::Bytes6(|f| &mut f.key.eth_src), 0),
            EthDst => (Loc::Bytes6(|f| &mut f.key.eth_dst), 0),
            EthType => (Loc::U16(|f| &mut f.key.eth_type), 0),
            VlanTci | DlVlan | VlanVid => (Loc::U16(|f| &mut f.key.vlan_tci[0]), 0),
            VlanPcp => (Loc::U16(|f| &mut f.key.vlan_tci[0]), 13),
            NwSrc | Ipv4Src | ArpSpa => (Loc::U32(|f| &mut f.key.nw_src), 0),
            NwDst | Ipv4Dst | ArpTpa => (Loc::U32(|f| &mut f.key.nw_dst), 0),
            NwProto | ArpOp => (Loc::U8(|f| &mut f.key.nw_proto), 0),
            NwTos => (Loc::U8(|f| &mut f.key.nw_tos), 0),
            IpDscp => (Loc::U8(|f| &mut f.key.nw_tos), 2),
            NwEcn => (Loc::U8(|f| &mut f.key.nw_tos), 0),
            NwTtl => (Loc::U8(|f| &mut f.key.nw_ttl), 0),
            NwFrag => (Loc::U8(|f| &mut f.key.nw_frag), 0),
            Ipv6Src => (Loc::Bytes16(|f| &mut f.key.ipv6_src), 0),
            Ipv6Dst => (Loc::Bytes16(|f| &mut f.key.ipv6_dst), 0),
            Ipv6Label => (Loc::U32(|f| &mut f.key.ipv6_label), 0),
            TpSrc | TcpSrc | UdpSrc | SctpSrc | IcmpType | Icmpv6Type => {
                (Loc::U16(|f| &mut f.key.tp_src), 0)
            }
            TpDst | TcpDst | UdpDst | SctpDst | IcmpCode | Icmpv6Code => {
                (Loc::U16(|f| &mut f.key.tp_dst), 0)
            }
            TcpFlags => (Loc::U16(|f| &mut f.key.tcp_flags), 0),
            ArpSha | NdSll => (Loc::Bytes6(|f| &mut f.key.arp_sha), 0),
            ArpTha | NdTll => (Loc::Bytes6(|f| &mut f.key.arp_tha), 0),
            NdTarget => (Loc::Bytes16(|f| &mut f.key.nd_target), 0),
        }
    }

    /// Bits of the storage word that belong to the field (before shifting).
    fn storage_mask(self) -> u128 {
        match self {
            // nw_tos stores only DSCP bits; nw_ecn the low two.
            Field::NwTos => 0xfc,
            _ => self.all_ones(),
        }
    }

    /// Reads the field from `flow` (value or mask), right-aligned.
    pub fn get(self, flow: &Flow) -> u128 {
        if let Field::Reg(n) = self {
            return flow.regs[(n & 15) as usize] as u128;
        }
        if let Some(r) = self.md_range() {
            let mut x = [0u8; 16];
            let b = &flow.key.tun_metadata[r];
            x[16 - b.len()..].copy_from_slice(b);
            return u128::from_be_bytes(x);
        }
        let mut f = *flow;
        let (loc, shift) = self.loc();
        let raw = read(&loc, &mut f);
        (raw >> shift) & self.storage_mask()
    }

    /// Writes the field's bits in `flow` (value or mask), leaving every
    /// other bit alone. Bits of `v` beyond the width are ignored.
    pub fn set(self, flow: &mut Flow, v: u128) {
        if let Field::Reg(n) = self {
            flow.regs[(n & 15) as usize] = v as u32;
            return;
        }
        if let Some(r) = self.md_range() {
            let n = r.len();
            flow.key.tun_metadata[r].copy_from_slice(&v.to_be_bytes()[16 - n..]);
            return;
        }
        let (loc, shift) = self.loc();
        let m = self.storage_mask() << shift;
        let raw = read(&loc, flow);
        write(&loc, flow, (raw & !m) | ((v << shift) & m));
    }

    /// The bytes of a `tun_metadata` field in the option area (clamped
    /// to the area and to 16 bytes, so a hand-made field cannot panic).
    fn md_range(self) -> Option<std::ops::Range<usize>> {
        let Field::TunMetadata { ofs, len, .. } = self else {
            return None;
        };
        let area = dpif_netdev::tlv::TUN_METADATA_BYTES;
        let start = usize::from(ofs).min(area);
        Some(start..(start + usize::from(len.min(16))).min(area))
    }

    /// Reads bits `ofs..ofs+n` of the field.
    pub fn get_bits(self, flow: &Flow, ofs: u32, n: u32) -> u128 {
        (self.get(flow) >> ofs) & ones(n)
    }

    /// Writes bits `ofs..ofs+n` of the field.
    pub fn set_bits(self, flow: &mut Flow, ofs: u32, n: u32, v: u128) {
        let m = ones(n) << ofs;
        let old = self.get(flow);
        self.set(flow, (old & !m) | ((v << ofs) & m));
    }
}

/// `n` one bits, right-aligned.
pub fn ones(n: u32) -> u128 {
    if n >= 128 {
        u128::MAX
    } else {
        (1u128 << n) - 1
    }
}

fn unreachable_reg() -> (Loc, u32) {
    // Registers are handled before `loc` is consulted; map them somewhere
    // harmless rather than panic.
    (Loc::U64(|f| &mut f.metadata), 0)
}

fn read(loc: &Loc, f: &mut Flow) -> u128 {
    match loc {
        Loc::U8(a) => *a(f) as u128,
        Loc::U16(a) => *a(f) as u128,
        Loc::U32(a) => *a(f) as u128,
        Loc::U64(a) => *a(f) as u128,
        Loc::Bytes6(a) => {
            let b = a(f);
            let mut x = [0u8; 16];
            x[10..].copy_from_slice(b);
            u128::from_be_bytes(x)
        }
        Loc::Bytes16(a) => u128::from_be_bytes(*a(f)),
    }
}

fn write(loc: &Loc, f: &mut Flow, v: u128) {
    match loc {
        Loc::U8(a) => *a(f) = v as u8,
        Loc::U16(a) => *a(f) = v as u16,
        Loc::U32(a) => *a(f) = v as u32,
        Loc::U64(a) => *a(f) = v as u64,
        Loc::Bytes6(a) => a(f).copy_from_slice(&v.to_be_bytes()[10..]),
        Loc::Bytes16(a) => *a(f) = v.to_be_bytes(),
    }
}

impl Prereq {
    /// Whether `flow` satisfies the prerequisite.
    pub fn holds(self, flow: &Flow) -> bool {
        let k = &flow.key;
        let ip4 = k.eth_type == ethertype::IPV4;
        let ip6 = k.eth_type == ethertype::IPV6;
        let ip = ip4 || ip6;
        let arp = k.eth_type == ethertype::ARP || k.eth_type == ethertype::RARP;
        match self {
            Prereq::None => true,
            Prereq::Arp => arp,
            Prereq::Ipv4 => ip4,
            Prereq::Ipv6 => ip6,
            Prereq::IpAny => ip,
            Prereq::Ipv4OrArp => ip4 || arp,
            Prereq::Tcp => ip && k.nw_proto == ipproto::TCP,
            Prereq::Udp => ip && k.nw_proto == ipproto::UDP,
            Prereq::Sctp => ip && k.nw_proto == ipproto::SCTP,
            Prereq::L4Ports => {
                ip && matches!(k.nw_proto, ipproto::TCP | ipproto::UDP | ipproto::SCTP)
            }
            Prereq::Icmpv4 => ip4 && k.nw_proto == ipproto::ICMP,
            Prereq::Icmpv6 => ip6 && k.nw_proto == ipproto::ICMPV6,
            Prereq::Nd => {
                ip6 && k.nw_proto == ipproto::ICMPV6
                    && matches!(k.tp_src, 135 | 136)
                    && k.tp_dst == 0
            }
            Prereq::NdSolicit => {
                ip6 && k.nw_proto == ipproto::ICMPV6 && k.tp_src == 135 && k.tp_dst == 0
            }
            Prereq::NdAdvert => {
                ip6 && k.nw_proto == ipproto::ICMPV6 && k.tp_src == 136 && k.tp_dst == 0
            }
        }
    }

    /// Un-wildcards in `mask` the fields [`Prereq::holds`] reads, so that a
    /// megaflow keeps the decision (used by translation).
    pub fn unwildcard(self, mask: &mut Flow) {
        let k = &mut mask.key;
        if self == Prereq::None {
            return;
        }
        k.eth_type = 0xffff;
        match self {
            Prereq::None | Prereq::Arp | Prereq::Ipv4 | Prereq::Ipv6 | Prereq::IpAny => {}
            Prereq::Ipv4OrArp => {}
            Prereq::Tcp | Prereq::Udp | Prereq::Sctp | Prereq::L4Ports => k.nw_proto = 0xff,
            Prereq::Icmpv4 | Prereq::Icmpv6 => k.nw_proto = 0xff,
            Prereq::Nd | Prereq::NdSolicit | Prereq::NdAdvert => {
                k.nw_proto = 0xff;
                k.tp_src = 0xffff;
                k.tp_dst = 0xffff;
            }
        }
    }

    /// Whether a match guarantees the prerequisite for every packet it
    /// accepts (used to check flows and set_field actions as OVS does).
    pub fn guaranteed_by(self, m: &crate::flow::Match) -> bool {
        let exact16 = |mask: u16| mask == 0xffff;
        let k = &m.flow.key;
        let mk = &m.mask.key;
        let ty = |t: u16| exact16(mk.eth_type) && k.eth_type == t;
        let proto = |p: u8| mk.nw_proto == 0xff && k.nw_proto == p;
        let ip = ty(ethertype::IPV4) || ty(ethertype::IPV6);
        match self {
            Prereq::None => true,
            Prereq::Arp => ty(ethertype::ARP) || ty(ethertype::RARP),
            Prereq::Ipv4 => ty(ethertype::IPV4),
            Prereq::Ipv6 => ty(ethertype::IPV6),
            Prereq::IpAny => ip,
            Prereq::Ipv4OrArp => ty(ethertype::IPV4) || ty(ethertype::ARP) || ty(ethertype::RARP),
            Prereq::Tcp => ip && proto(ipproto::TCP),
            Prereq::Udp => ip && proto(ipproto::UDP),
            Prereq::Sctp => ip && proto(ipproto::SCTP),
            Prereq::L4Ports => {
                ip && (proto(ipproto::TCP) || proto(ipproto::UDP) || proto(ipproto::SCTP))
            }
            Prereq::Icmpv4 => ty(ethertype::IPV4) && proto(ipproto::ICMP),
            Prereq::Icmpv6 => ty(ethertype::IPV6) && proto(ipproto::ICMPV6),
            Prereq::Nd | Prereq::NdSolicit | Prereq::NdAdvert => {
                // ICMP type and code are 8-bit fields stored in tp_src /
                // tp_dst, so a match on them has mask 0x00ff.
                let t = if mk.tp_src & 0xff == 0xff {
                    Some(k.tp_src)
                } else {
                    None
                };
                let ok_type = match self {
                    Prereq::NdSolicit => t == Some(135),
                    Prereq::NdAdvert => t == Some(136),
                    _ => matches!(t, Some(135) | Some(136)),
                };
                ty(ethertype::IPV6)
                    && proto(ipproto::ICMPV6)
                    && ok_type
                    && mk.tp_dst & 0xff == 0xff
                    && k.tp_dst == 0
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_resolves_to_a_field_whose_name_resolves_back() {
        for (name, f) in NAMES {
            assert_eq!(Field::from_name(name), Some(*f), "{name}");
            assert_eq!(Field::from_name(&f.name()), Some(*f));
        }
        assert_eq!(Field::from_name("reg15"), Some(Field::Reg(15)));
        assert_eq!(Field::from_name("NXM_NX_REG3"), Some(Field::Reg(3)));
        assert_eq!(Field::from_name("reg16"), None);
        assert_eq!(Field::from_name("reg01"), None);
        assert_eq!(Field::from_name("nw_dest"), None);
    }

    #[test]
    fn sub_byte_fields_touch_only_their_bits() {
        let mut f = Flow::ZERO;
        f.key.nw_tos = 0xff;
        Field::IpDscp.set(&mut f, 0);
        assert_eq!(f.key.nw_tos, 0x03);
        Field::NwEcn.set(&mut f, 2);
        assert_eq!(f.key.nw_tos, 0x02);
        Field::NwTos.set(&mut f, 0xb8);
        assert_eq!(f.key.nw_tos, 0xba);
        assert_eq!(Field::IpDscp.get(&f), 46);
        f.key.vlan_tci[0] = 0x1000 | 10;
        Field::VlanPcp.set(&mut f, 5);
        assert_eq!(f.key.vlan_tci[0], 0xb000 | 10);
        assert_eq!(Field::DlVlan.get(&f), 10);
        Field::DlVlan.set(&mut f, 20);
        assert_eq!(f.key.vlan_tci[0], 0xb000 | 20);
    }

    #[test]
    fn wide_fields_round_trip_through_u128() {
        let mut f = Flow::ZERO;
        Field::EthSrc.set(&mut f, 0x0200_0000_0001);
        assert_eq!(f.key.eth_src, [2, 0, 0, 0, 0, 1]);
        Field::Ipv6Src.set(&mut f, 0xfe80 << 112 | 1);
        assert_eq!(f.key.ipv6_src[0..2], [0xfe, 0x80]);
        assert_eq!(Field::Ipv6Src.get(&f), 0xfe80 << 112 | 1);
        Field::Reg(3).set_bits(&mut f, 8, 8, 0xab);
        assert_eq!(f.regs[3], 0xab00);
        assert_eq!(Field::Reg(3).get_bits(&f, 8, 4), 0xb);
    }
}
