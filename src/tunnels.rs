//! Native tunneling in the bridge layer: what output to a tunnel port and
//! output of a tunnel packet to an underlay bridge's internal port become,
//! ARP snooping on underlay bridges, ARP requests for unresolved next hops,
//! and the state behind `tnl/*` commands.
//!
//! Encapsulation (output to a `vxlan`/`geneve` port): the remote endpoint
//! (the port's `remote_ip`, or the flow's `tun_dst`) is looked up in the
//! route table, which names the underlay bridge, the next hop and the
//! source address; the next hop's MAC comes from the neighbor table. The
//! outer header is built once, at translation, and the underlay bridge's
//! own tables decide where the outer packet goes, translated as if its
//! internal port had sent it (so NORMAL on `br-phy` picks the uplink, as in
//! OVS). Each underlay output becomes one `tnl_push(header, out_port)`.
//! Without a route, a source address or a neighbor the packet is dropped
//! (`ofproto/trace` says why) and, for a missing neighbor, an ARP request
//! goes out of the underlay bridge's internal port; the reply, snooped,
//! changes the version, and the revalidator fixes the megaflow.
//!
//! Decapsulation: a packet that an underlay bridge outputs to its internal
//! port, if it is IPv4/UDP to a local address and a tunnel vport's UDP
//! port, becomes `tnl_pop(vport)`; the inner packet comes back with the
//! vport as `in_port` and finds its tunnel port by remote IP, local IP and
//! key ([`crate::bridge::Bridges::resolve`]).
//!
//! Local addresses are those of the bridges' TAP devices (read from the
//! kernel every second; each also makes a connected route), tunnel ports'
//! `local_ip` and routes' `src`.
//!
//! # Thread safety
//! [`TunnelState`]'s tables sit behind mutexes taken by slow-path threads
//! (handlers, revalidator, control thread), never two at once.

use crate::bridge::{Bridge, Bridges, XlateView};
use dpif_netdev::actions::{DpAction, TnlPop, TnlPush, TunnelType};
use dpif_netdev::key::ethertype;
use dpif_netdev::odp::tnl::{GeneveOpt, Hdr, Tun, L3};
use ofproto::flow::Flow;
use ofproto::ofaction::ofp;
use ofproto::tunnel::{NeighTable, Remote, Route, RouteOrigin, RouteTable, TunKey, TunnelSpec};
use ofproto::xlate::{xlate, PortOutput};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard};

/// Deepest nesting of encapsulations (a tunnel whose underlay bridge
/// outputs to another tunnel).
const MAX_TUNNEL_DEPTH: u32 = 4;
/// At most one ARP request per next hop this often (ms).
const ARP_REQUEST_INTERVAL_MS: u64 = 1000;
const UDP: u8 = 17;
const ICMPV6: u8 = 58;
const ND_NS: u16 = 135;
const ND_NA: u16 = 136;
const ARP_REQUEST: u8 = 1;
const ARP_REPLY: u8 = 2;

/// A datapath port that decapsulated packets come back on: one per tunnel
/// type and UDP port (OVS's `vxlan_sys_4789`).
#[derive(Clone, Debug)]
pub struct Vport {
    /// Name, as OVS names it.
    pub name: String,
    /// Tunnel type.
    pub kind: TunnelType,
    /// UDP port.
    pub dst_port: u16,
    /// Datapath port number.
    pub odp: u32,
}

impl Vport {
    /// OVS's name for a vport.
    pub fn name_for(kind: TunnelType, port: u16) -> String {
        match kind {
            TunnelType::Vxlan => format!("vxlan_sys_{port}"),
            TunnelType::Geneve => format!("genev_sys_{port}"),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Vports, routes, neighbors and local addresses.
#[derive(Default)]
pub struct TunnelState {
    /// The vports (a new one comes with the first tunnel port of its
    /// type and UDP port added at run time).
    vports: std::sync::RwLock<Vec<Vport>>,
    /// Underlay routes.
    pub routes: Mutex<RouteTable>,
    /// Underlay neighbors.
    pub neigh: Mutex<NeighTable>,
    /// Addresses of each bridge's internal port (bridge name → address,
    /// prefix length), as last read from the kernel.
    pub local_addrs: Mutex<HashMap<String, Vec<(IpAddr, u8)>>>,
    /// When an ARP request for a next hop last went out (ms).
    arp_sent: Mutex<HashMap<IpAddr, u64>>,
}

impl TunnelState {
    /// Tunnel state with these vports and user routes.
    pub fn new(vports: Vec<Vport>, routes: Vec<Route>) -> TunnelState {
        let mut t = RouteTable::default();
        for r in routes {
            t.add(r);
        }
        TunnelState {
            vports: std::sync::RwLock::new(vports),
            routes: Mutex::new(t),
            ..TunnelState::default()
        }
    }

    fn vport_list(&self) -> std::sync::RwLockReadGuard<'_, Vec<Vport>> {
        self.vports.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `odp` is a vport.
    pub fn is_vport(&self, odp: u32) -> bool {
        self.vport_list().iter().any(|v| v.odp == odp)
    }

    /// Whether there is any tunnel at all.
    pub fn has_vports(&self) -> bool {
        !self.vport_list().is_empty()
    }

    /// The vport of a tunnel type and UDP port.
    pub fn vport(&self, kind: TunnelType, port: u16) -> Option<Vport> {
        self.vport_list()
            .iter()
            .find(|v| v.kind == kind && v.dst_port == port)
            .cloned()
    }

    /// Registers a vport the datapath now has.
    pub fn add_vport(&self, v: Vport) {
        self.vports
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(v);
    }

    /// The vport decapsulating UDP port `port`.
    fn vport_for_udp(&self, port: u16) -> Option<u32> {
        self.vport_list()
            .iter()
            .find(|v| v.dst_port == port)
            .map(|v| v.odp)
    }

    /// Whether some route leaves through bridge `b` or it has addresses:
    /// it carries tunnel packets, so it snoops ARP and decapsulates.
    fn is_underlay(&self, b: &str) -> bool {
        lock(&self.routes).iter().any(|r| r.bridge == b)
            || lock(&self.local_addrs)
                .get(b)
                .is_some_and(|v| !v.is_empty())
    }

    /// Whether `ip` is a local tunnel endpoint address.
    fn is_local(&self, bridges: &Bridges, ip: IpAddr) -> bool {
        if lock(&self.local_addrs)
            .values()
            .any(|v| v.iter().any(|(a, _)| *a == ip))
        {
            return true;
        }
        if lock(&self.routes).iter().any(|r| r.src == Some(ip)) {
            return true;
        }
        bridges.bridges.iter().any(|b| {
            b.ports
                .read()
                .iter()
                .any(|p| p.tunnel.as_ref().is_some_and(|t| t.local_ip == Some(ip)))
        })
    }

    /// Reads the internal ports' addresses from the kernel; when they
    /// changed, replaces the connected routes and returns true.
    pub fn refresh_local_addrs(&self, bridges: &[Bridge]) -> bool {
        let mut now: HashMap<String, Vec<(IpAddr, u8)>> = HashMap::new();
        let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
            return false;
        };
        let names: HashMap<&str, &str> = bridges
            .iter()
            .filter_map(|b| {
                b.local
                    .as_ref()
                    .and_then(|l| l.ifname.as_deref())
                    .map(|i| (i, b.name.as_str()))
            })
            .collect();
        for a in addrs {
            let Some(&bridge) = names.get(a.interface_name.as_str()) else {
                continue;
            };
            let (Some(addr), Some(mask)) = (a.address.as_ref(), a.netmask.as_ref()) else {
                continue;
            };
            let entry = if let (Some(a4), Some(m4)) = (addr.as_sockaddr_in(), mask.as_sockaddr_in())
            {
                (IpAddr::V4(a4.ip()), u32::from(m4.ip()).count_ones() as u8)
            } else if let (Some(a6), Some(m6)) = (addr.as_sockaddr_in6(), mask.as_sockaddr_in6()) {
                // Link-local addresses are no tunnel endpoints.
                if a6.ip().segments()[0] & 0xffc0 == 0xfe80 {
                    continue;
                }
                (IpAddr::V6(a6.ip()), u128::from(m6.ip()).count_ones() as u8)
            } else {
                continue;
            };
            now.entry(bridge.to_owned()).or_default().push(entry);
        }
        for v in now.values_mut() {
            v.sort();
        }
        let mut cur = lock(&self.local_addrs);
        if *cur == now {
            return false;
        }
        let routes: Vec<Route> = now
            .iter()
            .flat_map(|(b, v)| {
                v.iter().map(|(a, len)| Route {
                    prefix: *a,
                    len: *len,
                    bridge: b.clone(),
                    gateway: None,
                    src: Some(*a),
                    origin: RouteOrigin::Cached,
                })
            })
            .collect();
        lock(&self.routes).set_origin(RouteOrigin::Cached, routes);
        *cur = now;
        true
    }

    /// `tnl/route/show` text.
    pub fn route_text(&self) -> String {
        let mut s = String::from("Route Table:\n");
        for r in lock(&self.routes).routes() {
            let kind = match r.origin {
                RouteOrigin::Cached => "Cached",
                RouteOrigin::User => "User",
            };
            s += &format!("{kind}: {}/{} dev {}", r.prefix, r.len, r.bridge);
            if let Some(g) = r.gateway {
                s += &format!(" GW {g}");
            }
            if let Some(src) = r.src {
                s += &format!(" SRC {src}");
            }
            if r.origin == RouteOrigin::Cached {
                s += " local";
            }
            s.push('\n');
        }
        s
    }

    /// `tnl/arp/show` text.
    pub fn arp_text(&self) -> String {
        let mut s = format!("{:<46}{:<20}Bridge\n", "IP", "MAC");
        s += &"=".repeat(74);
        s.push('\n');
        for (ip, n) in lock(&self.neigh).entries() {
            s += &format!(
                "{:<46}{:<20}{}\n",
                ip.to_string(),
                fmt_mac(&n.mac),
                n.bridge
            );
        }
        s
    }

    /// `tnl/ports/show` text.
    pub fn ports_text(&self, bridges: &Bridges) -> String {
        let mut s = String::from("Listening ports:\n");
        for v in self.vport_list().iter() {
            let refs: usize = bridges
                .bridges
                .iter()
                .map(|b| {
                    b.ports
                        .read()
                        .iter()
                        .filter(|p| p.odp == v.odp && p.tunnel.is_some())
                        .count()
                })
                .sum();
            s += &format!("{} ({}) ref_cnt={refs}\n", v.name, v.dst_port);
        }
        s
    }
}

pub use dpif_netdev::wire::{format_mac as fmt_mac, parse_mac};

/// IP ECN codepoints (RFC 3168).
const ECN_MASK: u8 = 0x03;
const ECN_ECT0: u8 = 0x02;
const ECN_CE: u8 = 0x03;
/// The DSCP bits of a TOS byte.
const DSCP_MASK: u8 = 0xfc;

/// The outer TOS and TTL of an encapsulation, as OVS computes them: the
/// port's `tos` (DSCP) or, with `tos=inherit`, the inner IP packet's DSCP;
/// the inner ECN bits always (CE becomes ECT(0), so congestion marks are
/// not cloned onto the outer header); the port's `ttl` or, with
/// `ttl=inherit`, the inner TTL / hop limit. Non-IP inner packets get the
/// fixed values (DSCP 0 with `tos=inherit`). Bits read go into `wc`.
fn outer_tos_ttl(spec: &TunnelSpec, flow: &Flow, wc: &mut Flow) -> (u8, u8) {
    let k = &flow.key;
    wc.key.eth_type = 0xffff;
    let ip = k.eth_type == ethertype::IPV4 || k.eth_type == ethertype::IPV6;
    if !ip {
        return (if spec.tos_inherit { 0 } else { spec.tos }, spec.ttl);
    }
    let mut tos = if spec.tos_inherit {
        wc.key.nw_tos |= DSCP_MASK;
        k.nw_tos & DSCP_MASK
    } else {
        spec.tos
    };
    wc.key.nw_tos |= ECN_MASK;
    tos |= match k.nw_tos & ECN_MASK {
        ECN_CE => ECN_ECT0,
        ecn => ecn,
    };
    let ttl = if spec.ttl_inherit {
        wc.key.nw_ttl = 0xff;
        k.nw_ttl
    } else {
        spec.ttl
    };
    (tos, ttl)
}

impl XlateView<'_> {
    /// [`ofproto::xlate::XlatePorts::output`] for bridges with tunnels.
    pub(crate) fn tunnel_output(&self, ofport: u32, flow: &Flow, wc: &mut Flow) -> PortOutput {
        if let Some(spec) = self.bridge.tunnel_spec(ofport) {
            return self.encap(&spec, flow, wc);
        }
        if ofport == ofp::LOCAL && self.bridges.tunnels.has_vports() {
            return self.decap(flow, wc);
        }
        PortOutput::Plain
    }

    fn decap(&self, flow: &Flow, wc: &mut Flow) -> PortOutput {
        let t = &self.bridges.tunnels;
        if !t.is_underlay(&self.bridge.name) {
            return PortOutput::Plain;
        }
        let k = &flow.key;
        wc.key.eth_type = 0xffff;
        let dst = match k.eth_type {
            ethertype::IPV4 => {
                wc.key.nw_dst = u32::MAX;
                IpAddr::from(k.nw_dst.to_be_bytes())
            }
            ethertype::IPV6 => {
                wc.key.ipv6_dst = [0xff; 16];
                IpAddr::from(k.ipv6_dst)
            }
            _ => return PortOutput::Plain,
        };
        wc.key.nw_proto = 0xff;
        wc.key.nw_frag = dpif_netdev::key::FRAG_MASK;
        if k.nw_proto != UDP || k.nw_frag != 0 || !t.is_local(self.bridges, dst) {
            return PortOutput::Plain;
        }
        wc.key.tp_dst = 0xffff;
        match t.vport_for_udp(k.tp_dst) {
            Some(odp) => PortOutput::Actions(vec![DpAction::TnlPop(TnlPop {
                port: odp,
                tlv: self.bridges.vport_tlv(odp),
            })]),
            None => PortOutput::Plain,
        }
    }

    fn encap(&self, spec: &TunnelSpec, flow: &Flow, wc: &mut Flow) -> PortOutput {
        let t = &self.bridges.tunnels;
        let remote = match spec.remote {
            Remote::Ip(a) => a,
            Remote::Flow => {
                wc.key.tun_ipv4_dst = u32::MAX;
                wc.key.tun_ipv6_dst = [0xff; 16];
                match ofproto::tunnel::tun_dst(&flow.key) {
                    a if a.is_unspecified() => {
                        return PortOutput::Drop(
                            "remote_ip=flow, but the flow has no tun_dst: dropped".into(),
                        )
                    }
                    a => a,
                }
            }
        };
        let vni = match spec.key {
            TunKey::Fixed(v) => v,
            TunKey::Flow => {
                wc.key.tun_id = u64::MAX;
                (flow.key.tun_id & 0xff_ffff) as u32
            }
        };
        let Some(vport) = t.vport(spec.kind, spec.dst_port) else {
            return PortOutput::Drop("tunnel port without a vport".into());
        };
        let Some(route) = lock(&t.routes).lookup(remote).cloned() else {
            return PortOutput::Drop(format!("no route to tunnel endpoint {remote}: dropped"));
        };
        let Some(ub) = self.bridges.get(&route.bridge) else {
            return PortOutput::Drop(format!("route to {remote} names no bridge: dropped"));
        };
        let Some(local) = ub.local.as_ref() else {
            return PortOutput::Drop(format!(
                "underlay bridge {} has no internal port: dropped",
                ub.name
            ));
        };
        let first_addr = || {
            lock(&t.local_addrs).get(&ub.name).and_then(|v| {
                v.iter()
                    .map(|(a, _)| *a)
                    .find(|a| a.is_ipv4() == remote.is_ipv4())
            })
        };
        let src = spec
            .local_ip
            .or(route.src)
            .or_else(first_addr)
            .filter(|a| a.is_ipv4() == remote.is_ipv4());
        let Some(src) = src else {
            return PortOutput::Drop(format!(
                "no source address for tunnel endpoint {remote}: give {} an address or set local_ip",
                ub.name
            ));
        };
        let next_hop = route.gateway.unwrap_or(remote);
        let Some(mac) = lock(&t.neigh).lookup(next_hop) else {
            self.request_neighbor(ub, local, src, next_hop);
            return PortOutput::Drop(format!(
                "no neighbor entry for next hop {next_hop} (ARP/ND request sent): dropped"
            ));
        };
        if self.depth >= MAX_TUNNEL_DEPTH {
            return PortOutput::Drop("tunnels nested too deep: dropped".into());
        }
        let (tos, ttl) = outer_tos_ttl(spec, flow, wc);
        let (opts, crit) = match spec.kind {
            TunnelType::Geneve => self.geneve_options(flow, wc),
            TunnelType::Vxlan => (Vec::new(), false),
        };
        let hdr = Hdr {
            eth_dst: mac,
            eth_src: local.mac,
            l3: match (src, remote) {
                (IpAddr::V4(s), IpAddr::V4(d)) => L3::V4 {
                    src: u32::from(s),
                    dst: u32::from(d),
                    proto: UDP,
                    tos,
                    ttl,
                    frag: if spec.df { 0x4000 } else { 0 },
                },
                (s, d) => L3::V6 {
                    src: v6_octets(s),
                    dst: v6_octets(d),
                    label: 0,
                    proto: UDP,
                    tclass: tos,
                    hlimit: ttl,
                },
            },
            udp_src: 0,
            udp_dst: spec.dst_port,
            udp_csum: 0,
            tun: match spec.kind {
                TunnelType::Vxlan => Tun::Vxlan {
                    flags: 0x0800_0000,
                    vni,
                },
                TunnelType::Geneve => Tun::Geneve {
                    oam: false,
                    crit,
                    vni,
                    opts,
                },
            },
        };
        let Some(header) = hdr.encode() else {
            return PortOutput::Drop("tunnel header cannot be encoded".into());
        };
        // The outer packet goes through the underlay bridge as if its
        // internal port had sent it.
        let mut ukey = dpif_netdev::key::FlowKey::ZERO;
        ukey.in_port = local.odp;
        ukey.eth_src = local.mac;
        ukey.eth_dst = mac;
        match (src, remote) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                ukey.eth_type = ethertype::IPV4;
                ukey.nw_src = u32::from(s);
                ukey.nw_dst = u32::from(d);
            }
            (s, d) => {
                ukey.eth_type = ethertype::IPV6;
                ukey.ipv6_src = v6_octets(s);
                ukey.ipv6_dst = v6_octets(d);
            }
        }
        ukey.nw_proto = UDP;
        ukey.nw_tos = tos;
        ukey.nw_ttl = ttl;
        ukey.tp_dst = spec.dst_port;
        let tables = ub.tables.read().unwrap_or_else(|e| e.into_inner());
        let mut view = self.bridges.view(ub, false);
        view.depth = self.depth + 1;
        let x = xlate(&tables, &view, &ukey, false);
        let header: Box<[u8]> = header.into_boxed_slice();
        let mut out = Vec::new();
        for a in x.actions {
            match a {
                DpAction::Output(p) => out.push(DpAction::TnlPush(Arc::new(TnlPush {
                    tnl_port: vport.odp,
                    out_port: p,
                    tnl_type: spec.kind,
                    header: header.clone(),
                    ipv6: remote.is_ipv6(),
                    udp_csum: spec.csum,
                }))),
                other => {
                    return PortOutput::Drop(format!(
                        "underlay bridge {} does {other:?} to tunnel packets; only outputs are supported: dropped",
                        ub.name
                    ))
                }
            }
        }
        if out.is_empty() {
            return PortOutput::Drop(format!(
                "underlay bridge {} sends tunnel packets nowhere: dropped",
                ub.name
            ));
        }
        PortOutput::Actions(out)
    }

    /// The Geneve options of an encapsulation: every `tun_metadataN` the
    /// bridge's TLV map maps and the flow has present (set by actions, or
    /// received with a decapsulated packet), in field order, and whether
    /// any is critical (the header's C bit, as OVS sets it). The presence
    /// of every mapped field and the data of the present ones go into
    /// `wc`: the header depends on them (data a set_field overwrote is
    /// un-wildcarded too, which is narrower than needed but never wrong).
    fn geneve_options(&self, flow: &Flow, wc: &mut Flow) -> (Vec<GeneveOpt>, bool) {
        let map = self.bridge.ports.tlv();
        let mut opts = Vec::new();
        let mut crit = false;
        for e in map.entries() {
            let bit = 1u8 << (e.map.idx & 7);
            wc.key.tun_md_present |= bit;
            if flow.key.tun_md_present & bit == 0 {
                continue;
            }
            let r = usize::from(e.ofs)..usize::from(e.ofs) + usize::from(e.map.len);
            let (Some(data), Some(m)) = (
                flow.key.tun_metadata.get(r.clone()),
                wc.key.tun_metadata.get_mut(r),
            ) else {
                continue;
            };
            m.fill(0xff);
            crit |= e.map.typ & dpif_netdev::tlv::GENEVE_CRIT_TYPE != 0;
            opts.push(GeneveOpt {
                class: e.map.class,
                typ: e.map.typ,
                data: data.to_vec(),
            });
        }
        (opts, crit)
    }

    /// Asks for `ip`'s MAC out of `ub`'s internal port: an ARP request,
    /// or for IPv6 a neighbor solicitation to its solicited-node address
    /// (at most once a second per address; never from traces or
    /// revalidation).
    fn request_neighbor(
        &self,
        ub: &Bridge,
        local: &crate::bridge::LocalPort,
        src: IpAddr,
        ip: IpAddr,
    ) {
        if !self.may_learn {
            return;
        }
        {
            let mut sent = lock(&self.bridges.tunnels.arp_sent);
            let last = sent.get(&ip).copied();
            if last.is_some_and(|l| self.now.saturating_sub(l) < ARP_REQUEST_INTERVAL_MS) {
                return;
            }
            sent.insert(ip, self.now);
        }
        let frame = match (src, ip) {
            (IpAddr::V4(s), IpAddr::V4(t)) => dpif_netdev::wire::build::arp(
                local.mac,
                [0xff; 6],
                u16::from(ARP_REQUEST),
                local.mac,
                s,
                [0; 6],
                t,
            ),
            (IpAddr::V6(s), IpAddr::V6(t)) => {
                let o = t.octets();
                let group = Ipv6Addr::new(
                    0xff02,
                    0,
                    0,
                    0,
                    0,
                    1,
                    0xff00 | u16::from(o[13]),
                    u16::from_be_bytes([o[14], o[15]]),
                );
                let mac = [0x33, 0x33, 0xff, o[13], o[14], o[15]];
                dpif_netdev::wire::build::nd_ns(local.mac, mac, s, group, t, Some(local.mac))
            }
            _ => return,
        };
        if !(local.inject)(frame) {
            tracing::debug!(bridge = %ub.name, %ip, "neighbor request not sent: queue full");
        }
    }

    /// [`ofproto::xlate::XlatePorts::snoop`]: ARP and IPv6 neighbor
    /// discovery on an underlay bridge teach the neighbor table (the
    /// fields read go into the megaflow, so every new neighbor comes
    /// through here).
    pub(crate) fn snoop_arp(&self, flow: &Flow, wc: &mut Flow) {
        let t = &self.bridges.tunnels;
        if !t.has_vports() || !t.is_underlay(&self.bridge.name) {
            return;
        }
        let k = &flow.key;
        wc.key.eth_type = 0xffff;
        let learned = match k.eth_type {
            ethertype::ARP => {
                wc.key.nw_proto = 0xff;
                wc.key.nw_src = u32::MAX;
                wc.key.arp_sha = [0xff; 6];
                (k.nw_proto == ARP_REPLY || k.nw_proto == ARP_REQUEST)
                    .then(|| (IpAddr::from(k.nw_src.to_be_bytes()), k.arp_sha))
            }
            ethertype::IPV6 => {
                wc.key.nw_proto = 0xff;
                if k.nw_proto != ICMPV6 {
                    return;
                }
                wc.key.tp_src = 0xffff;
                match k.tp_src {
                    // An advertisement: the target is at the target
                    // link-layer address (or the sender's MAC).
                    ND_NA => {
                        wc.key.nd_target = [0xff; 16];
                        wc.key.arp_tha = [0xff; 6];
                        wc.key.eth_src = [0xff; 6];
                        let mac = if k.arp_tha != [0; 6] {
                            k.arp_tha
                        } else {
                            k.eth_src
                        };
                        Some((IpAddr::from(k.nd_target), mac))
                    }
                    // A solicitation: its sender is at the source
                    // link-layer address.
                    ND_NS => {
                        wc.key.ipv6_src = [0xff; 16];
                        wc.key.arp_sha = [0xff; 6];
                        (k.arp_sha != [0; 6]).then(|| (IpAddr::from(k.ipv6_src), k.arp_sha))
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        let Some((ip, mac)) = learned.filter(|_| self.may_learn) else {
            return;
        };
        if lock(&t.neigh).snoop(ip, mac, &self.bridge.name) {
            self.bridges.bump_version();
        }
    }
}

/// The 16 bytes of an address (IPv4 as IPv4-mapped, never used: callers
/// pair families).
fn v6_octets(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V6(a) => a.octets(),
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridge::{BridgePort, LocalPort, PortMap};
    use dpif_netdev::wire::build::reference_checksum;
    use ofproto::flow_mod::FlowModCommand;
    use ofproto::l2::PortVlan;
    use ofproto::mac_learning::MacTable;
    use ofproto::table::Tables;
    use pmd::{TranslateError, Translator};
    use std::net::Ipv4Addr;
    use std::sync::Mutex as StdMutex;

    const LOCAL_MAC: [u8; 6] = [2, 0, 0, 0, 0xee, 1];
    const VTEP_MAC: [u8; 6] = [2, 0, 0, 0, 0xee, 2];
    const H1: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const H2: [u8; 6] = [2, 0, 0, 0, 0, 2];

    fn port(name: &str, ofport: u32, odp: u32, tunnel: Option<TunnelSpec>) -> BridgePort {
        BridgePort {
            name: name.into(),
            ofport,
            odp,
            vlan: PortVlan::default(),
            tunnel,
        }
    }

    fn tables(flows: &str) -> Tables {
        let mut t = Tables::new();
        let m = ofproto::ofctl::parse_flow_mods(flows, FlowModCommand::Add, &()).unwrap();
        t.apply(&m, 0).unwrap();
        t
    }

    fn normal_tables() -> Tables {
        tables("actions=normal")
    }

    /// br-int: h1 (odp 1), vx (vport odp 2, remote 172.31.0.2, VNI 5000);
    /// br-phy: up (odp 3), LOCAL (odp 4) at 172.31.0.1; frames injected
    /// from LOCAL are kept in the returned vector.
    fn switch() -> (Bridges, Arc<StdMutex<Vec<Vec<u8>>>>) {
        let spec = TunnelSpec {
            kind: TunnelType::Vxlan,
            remote: Remote::Ip(Ipv4Addr::new(172, 31, 0, 2).into()),
            local_ip: None,
            key: TunKey::Fixed(5000),
            dst_port: 4789,
            tos: 0,
            tos_inherit: false,
            ttl: 64,
            ttl_inherit: false,
            df: true,
            csum: false,
        };
        switch_with(spec, normal_tables())
    }

    fn switch_with(spec: TunnelSpec, int_tables: Tables) -> (Bridges, Arc<StdMutex<Vec<Vec<u8>>>>) {
        let (kind, dst_port) = (spec.kind, spec.dst_port);
        let int = Bridge::new(
            "br-int".into(),
            PortMap::new(vec![port("h1", 1, 1, None), port("vx", 2, 2, Some(spec))]),
            int_tables,
            MacTable::default(),
            None,
        );
        let sent = Arc::new(StdMutex::new(Vec::new()));
        let s2 = sent.clone();
        let phy = Bridge::new(
            "br-phy".into(),
            PortMap::new(vec![
                port("up", 1, 3, None),
                port("br-phy", ofp::LOCAL, 4, None),
            ]),
            normal_tables(),
            MacTable::default(),
            Some(LocalPort {
                odp: 4,
                mac: LOCAL_MAC,
                ifname: None,
                inject: Box::new(move |f| {
                    s2.lock().unwrap().push(f);
                    true
                }),
            }),
        );
        let vport = Vport {
            name: Vport::name_for(kind, dst_port),
            kind,
            dst_port,
            odp: 2,
        };
        let route = Route {
            prefix: Ipv4Addr::new(172, 31, 0, 0).into(),
            len: 24,
            bridge: "br-phy".into(),
            gateway: None,
            src: Some(Ipv4Addr::new(172, 31, 0, 1).into()),
            origin: RouteOrigin::User,
        };
        let b = Bridges::new(vec![int, phy], TunnelState::new(vec![vport], vec![route]));
        (b, sent)
    }

    fn inner(in_port: u32) -> dpif_netdev::key::FlowKey {
        let mut k = dpif_netdev::key::FlowKey::ZERO;
        k.in_port = in_port;
        k.eth_src = H1;
        k.eth_dst = H2;
        k.eth_type = 0x0806;
        k.nw_proto = 1;
        k
    }

    /// The template as RFC 7348 and OVS's template conventions spell it,
    /// assembled by hand: IPv4 length and id 0 with the checksum over that.
    fn expected_header() -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(&VTEP_MAC);
        h.extend_from_slice(&LOCAL_MAC);
        h.extend_from_slice(&[0x08, 0x00]);
        let mut ip = vec![
            0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 172, 31, 0, 1, 172, 31, 0, 2,
        ];
        let c = reference_checksum(&[&ip]);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        h.extend_from_slice(&ip);
        h.extend_from_slice(&[0, 0, 0x12, 0xb5, 0, 0, 0, 0]);
        h.extend_from_slice(&[0x08, 0, 0, 0, 0, 0x13, 0x88, 0]);
        h
    }

    #[test]
    fn encapsulation_resolves_the_neighbor_then_pushes_the_header() {
        let (b, sent) = switch();
        // No neighbor yet: dropped, and an ARP request leaves LOCAL.
        let t = b.translate(&inner(1)).unwrap();
        assert!(t.actions.is_empty(), "{:?}", t.actions);
        let reqs = sent.lock().unwrap().clone();
        assert_eq!(reqs.len(), 1);
        let want = dpif_netdev::wire::build::arp(
            LOCAL_MAC,
            [0xff; 6],
            1,
            LOCAL_MAC,
            Ipv4Addr::new(172, 31, 0, 1),
            [0; 6],
            Ipv4Addr::new(172, 31, 0, 2),
        );
        assert_eq!(reqs[0], want);
        // Not again within a second, and never from revalidation.
        b.translate(&inner(1)).unwrap();
        b.retranslate(&inner(1)).unwrap();
        assert_eq!(sent.lock().unwrap().len(), 1);

        // The VTEP's ARP reply arrives on the uplink: snooped (its ARP
        // fields are in the megaflow), and the version moves on.
        let v = b.version();
        let mut reply = dpif_netdev::key::FlowKey::ZERO;
        reply.in_port = 3;
        reply.eth_src = VTEP_MAC;
        reply.eth_dst = LOCAL_MAC;
        reply.eth_type = 0x0806;
        reply.nw_proto = 2;
        reply.nw_src = u32::from(Ipv4Addr::new(172, 31, 0, 2));
        reply.arp_sha = VTEP_MAC;
        let t = b.translate(&reply).unwrap();
        assert_eq!(t.mask.0.nw_src, u32::MAX);
        assert_eq!(t.mask.0.arp_sha, [0xff; 6]);
        assert!(b.version() > v);
        assert!(b.tunnels.arp_text().contains("02:00:00:00:ee:02"));

        // Now the packet is encapsulated; the underlay NORMAL has learned
        // the VTEP on the uplink, so one tnl_push to port 3.
        let t = b.translate(&inner(1)).unwrap();
        let [DpAction::TnlPush(p)] = &t.actions[..] else {
            panic!("{:?}", t.actions);
        };
        assert_eq!(
            (p.tnl_port, p.out_port, p.ipv6, p.udp_csum),
            (2, 3, false, false)
        );
        assert_eq!(&p.header[..], &expected_header()[..]);
    }

    #[test]
    fn decapsulation_pops_local_tunnel_traffic_and_finds_the_port() {
        let (b, _) = switch();
        b.tunnels.neigh.lock().unwrap().set(
            Ipv4Addr::new(172, 31, 0, 2).into(),
            VTEP_MAC,
            "br-phy",
        );
        // Teach br-phy where LOCAL's MAC is (the host sent something).
        let mut from_local = inner(4);
        from_local.eth_src = LOCAL_MAC;
        from_local.eth_dst = [0xff; 6];
        b.translate(&from_local).unwrap();

        let mut outer = underlay_udp_key(4789);
        outer.nw_ttl = 64;
        outer.tp_src = 50000;
        let t = b.translate(&outer).unwrap();
        assert_eq!(
            t.actions,
            vec![DpAction::TnlPop(dpif_netdev::actions::TnlPop::plain(2))]
        );
        assert_eq!((t.mask.0.nw_dst, t.mask.0.tp_dst), (u32::MAX, 0xffff));
        // Another UDP port, or another address: handed to LOCAL as is.
        let mut other = outer;
        other.tp_dst = 53;
        assert_eq!(
            b.translate(&other).unwrap().actions,
            vec![DpAction::Output(4)]
        );
        let mut other = outer;
        other.nw_dst = u32::from(Ipv4Addr::new(172, 31, 0, 9));
        assert_eq!(
            b.translate(&other).unwrap().actions,
            vec![DpAction::Output(4)]
        );

        // The inner packet comes back on the vport with its tunnel
        // metadata: VNI 5000 from the right remote is port vx of br-int.
        let mut back = inner(2);
        back.eth_src = H2;
        back.eth_dst = H1;
        back.tun_id = 5000;
        back.tun_ipv4_src = u32::from(Ipv4Addr::new(172, 31, 0, 2));
        back.tun_ipv4_dst = u32::from(Ipv4Addr::new(172, 31, 0, 1));
        let t = b.translate(&back).unwrap();
        assert_eq!(
            (t.mask.0.tun_id, t.mask.0.tun_ipv4_src),
            (u64::MAX, u32::MAX)
        );
        let fdb = b.fdb_rows(b.get("br-int").unwrap());
        assert_eq!((fdb[0].port, fdb[0].mac), (2, H2));
        // A VNI or a remote no port claims: no port, the upcall fails.
        let mut wrong = back;
        wrong.tun_id = 5001;
        assert_eq!(
            b.translate(&wrong).unwrap_err(),
            TranslateError::NoSuchPort(2)
        );
        let mut wrong = back;
        wrong.tun_ipv4_src = u32::from(Ipv4Addr::new(172, 31, 0, 3));
        assert!(b.translate(&wrong).is_err());
    }

    #[test]
    fn flow_based_remote_and_key_come_from_set_field_and_set_tunnel() {
        let spec = |kind, dst_port| TunnelSpec {
            kind,
            remote: Remote::Flow,
            local_ip: None,
            key: TunKey::Flow,
            dst_port,
            tos: 0,
            tos_inherit: false,
            ttl: 64,
            ttl_inherit: false,
            df: true,
            csum: false,
        };
        let (b, _) = switch_with(
            spec(TunnelType::Geneve, 6081),
            tables("in_port=1,actions=set_field:172.31.0.2->tun_dst,set_tunnel:77,output:2"),
        );
        b.tunnels.neigh.lock().unwrap().set(
            Ipv4Addr::new(172, 31, 0, 2).into(),
            VTEP_MAC,
            "br-phy",
        );
        b.get("br-phy").unwrap().macs().learn(0, VTEP_MAC, 1, 0);
        let t = b.translate(&inner(1)).unwrap();
        let [DpAction::TnlPush(p)] = &t.actions[..] else {
            panic!("{:?}", t.actions);
        };
        assert_eq!(p.tnl_type, TunnelType::Geneve);
        let h = &p.header;
        // Outer IPv4 destination, UDP port, and the Geneve VNI (77 << 8).
        assert_eq!(&h[30..34], &[172, 31, 0, 2]);
        assert_eq!(&h[36..38], &6081u16.to_be_bytes());
        assert_eq!(&h[46..50], &[0, 0, 77, 0]);
        // Without a tun_dst the packet is dropped, not sent anywhere.
        let (b, _) = switch_with(
            spec(TunnelType::Vxlan, 4789),
            tables("in_port=1,actions=output:2"),
        );
        assert!(b.translate(&inner(1)).unwrap().actions.is_empty());
    }

    /// A Geneve switch whose br-int maps {0xffff,0,4} -> tun_metadata0
    /// and {0x0102,0x80,8} -> tun_metadata1 and runs `flows` (parsed
    /// against that map).
    fn geneve_switch(tos_inherit: bool, ttl_inherit: bool, flows: &str) -> Bridges {
        let spec = TunnelSpec {
            kind: TunnelType::Geneve,
            remote: Remote::Ip(Ipv4Addr::new(172, 31, 0, 2).into()),
            local_ip: None,
            key: TunKey::Fixed(5001),
            dst_port: 6081,
            tos: 0x20,
            tos_inherit,
            ttl: 64,
            ttl_inherit,
            df: true,
            csum: false,
        };
        let (b, _) = switch_with(spec, normal_tables());
        let int = b.get("br-int").unwrap();
        let mut map = dpif_netdev::tlv::TlvMap::default();
        map.add(
            &dpif_netdev::tlv::parse_mappings(
                "{class=0xffff,type=0,len=4}->tun_metadata0,{class=0x0102,type=0x80,len=8}->tun_metadata1",
            )
            .unwrap(),
        )
        .unwrap();
        int.ports.set_tlv(map);
        let m = ofproto::ofctl::parse_flow_mods(flows, FlowModCommand::Add, &int.ports).unwrap();
        let mut t = Tables::new();
        t.apply(&m, 0).unwrap();
        *int.tables.write().unwrap() = t;
        b.tunnels.neigh.lock().unwrap().set(
            Ipv4Addr::new(172, 31, 0, 2).into(),
            VTEP_MAC,
            "br-phy",
        );
        b.get("br-phy").unwrap().macs().learn(0, VTEP_MAC, 1, 0);
        b
    }

    fn inner_ip(tos: u8, ttl: u8) -> dpif_netdev::key::FlowKey {
        let mut k = inner(1);
        k.eth_type = 0x0800;
        k.nw_proto = 17;
        k.nw_src = 0x0a00_0001;
        k.nw_dst = 0x0a00_0002;
        k.nw_tos = tos;
        k.nw_ttl = ttl;
        k
    }

    /// The Geneve template, assembled by hand from RFC 8926 and the
    /// template conventions: outer IPv4 with `tos`/`ttl`, then the
    /// Geneve header with these raw option bytes.
    fn geneve_header(tos: u8, ttl: u8, crit: bool, opts: &[u8]) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(&VTEP_MAC);
        h.extend_from_slice(&LOCAL_MAC);
        h.extend_from_slice(&[0x08, 0x00]);
        let mut ip = vec![
            0x45, tos, 0, 0, 0, 0, 0x40, 0, ttl, 17, 0, 0, 172, 31, 0, 1, 172, 31, 0, 2,
        ];
        let c = reference_checksum(&[&ip]);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        h.extend_from_slice(&ip);
        h.extend_from_slice(&[0, 0, 0x17, 0xc1, 0, 0, 0, 0]);
        h.push((opts.len() / 4) as u8);
        h.push(if crit { 0x40 } else { 0 });
        h.extend_from_slice(&[0x65, 0x58, 0x00, 0x13, 0x89, 0x00]);
        h.extend_from_slice(opts);
        h
    }

    #[test]
    fn geneve_encap_writes_tun_metadata_options() {
        let b = geneve_switch(
            false,
            false,
            "in_port=1,actions=set_field:0x1234->tun_metadata0,output:2",
        );
        let t = b.translate(&inner_ip(0, 9)).unwrap();
        let [DpAction::TnlPush(p)] = &t.actions[..] else {
            panic!("{:?}", t.actions);
        };
        let opt = [0xff, 0xff, 0x00, 0x01, 0x00, 0x00, 0x12, 0x34];
        assert_eq!(&p.header[..], &geneve_header(0x20, 64, false, &opt)[..]);
        // The header reads which mapped fields are present (all of them)
        // and, for the present one, its data.
        assert_eq!(t.mask.0.tun_md_present, 0b11);
        assert_eq!(t.mask.0.tun_metadata[..4], [0xff; 4]);
        assert_eq!(t.mask.0.tun_metadata[4..], [0; 28]);

        // Both options, the second critical (C bit set); field order.
        let b = geneve_switch(
            false,
            false,
            "in_port=1,actions=load:0xa->NXM_NX_TUN_METADATA1[0..7],set_field:0x1/0x1->tun_metadata0,output:2",
        );
        let t = b.translate(&inner_ip(0, 9)).unwrap();
        let [DpAction::TnlPush(p)] = &t.actions[..] else {
            panic!("{:?}", t.actions);
        };
        let mut opts = vec![0xff, 0xff, 0x00, 0x01, 0, 0, 0, 1];
        opts.extend_from_slice(&[0x01, 0x02, 0x80, 0x02, 0, 0, 0, 0, 0, 0, 0, 0x0a]);
        assert_eq!(&p.header[..], &geneve_header(0x20, 64, true, &opts)[..]);

        // Without a set_field: no options (opt_len 0), presence still read.
        let b = geneve_switch(false, false, "in_port=1,actions=output:2");
        let t = b.translate(&inner_ip(0, 9)).unwrap();
        let [DpAction::TnlPush(p)] = &t.actions[..] else {
            panic!("{:?}", t.actions);
        };
        assert_eq!(&p.header[..], &geneve_header(0x20, 64, false, &[])[..]);
        assert_eq!(t.mask.0.tun_md_present, 0b11);
        assert_eq!(t.mask.0.tun_metadata, [0; 32]);
    }

    /// The key of a UDP packet from the remote VTEP (172.31.0.2, behind
    /// port 3) to the local endpoint, to UDP port `dst_port`.
    fn underlay_udp_key(dst_port: u16) -> dpif_netdev::key::FlowKey {
        let mut k = dpif_netdev::key::FlowKey::ZERO;
        k.in_port = 3;
        k.eth_src = VTEP_MAC;
        k.eth_dst = LOCAL_MAC;
        k.eth_type = 0x0800;
        k.nw_src = u32::from(Ipv4Addr::new(172, 31, 0, 2));
        k.nw_dst = u32::from(Ipv4Addr::new(172, 31, 0, 1));
        k.nw_proto = 17;
        k.tp_dst = dst_port;
        k
    }

    #[test]
    fn geneve_decap_carries_the_tlv_map_and_matches_tun_metadata() {
        let b = geneve_switch(
            false,
            false,
            "tun_metadata0=0x1234,actions=output:1\ntun_metadata0=0x1235,actions=drop",
        );
        let outer = underlay_udp_key(6081);
        let t = b.translate(&outer).unwrap();
        let [DpAction::TnlPop(pop)] = &t.actions[..] else {
            panic!("{:?}", t.actions);
        };
        assert_eq!(pop.port, 2);
        assert_eq!(
            pop.tlv.as_deref(),
            Some(&*b.get("br-int").unwrap().ports.tlv())
        );
        // Back on the vport with tun_metadata0 = 0x1234: forwarded; a
        // megaflow that keeps only tun_metadata0's bytes and presence.
        let mut back = inner(2);
        back.tun_id = 5001;
        back.tun_ipv4_src = u32::from(Ipv4Addr::new(172, 31, 0, 2));
        back.tun_ipv4_dst = u32::from(Ipv4Addr::new(172, 31, 0, 1));
        back.tun_md_present = 1;
        back.tun_metadata[..4].copy_from_slice(&[0, 0, 0x12, 0x34]);
        let t = b.translate(&back).unwrap();
        assert_eq!(t.actions, vec![DpAction::Output(1)]);
        assert_eq!(t.mask.0.tun_metadata[..4], [0xff; 4]);
        assert_eq!(t.mask.0.tun_metadata[4..], [0; 28]);
        assert_eq!(t.mask.0.tun_md_present & 1, 1);
        back.tun_metadata[3] = 0x35;
        assert!(b.translate(&back).unwrap().actions.is_empty());
        // Absent option: neither rule.
        back.tun_md_present = 0;
        back.tun_metadata = [0; 32];
        assert!(b.translate(&back).unwrap().actions.is_empty());
    }

    #[test]
    fn bridges_sharing_a_geneve_vport_need_one_map() {
        let b = geneve_switch(false, false, "actions=drop");
        // A second overlay bridge with a Geneve port on the same vport.
        let spec = b.get("br-int").unwrap().tunnel_spec(2).unwrap();
        let other = Bridge::new(
            "br-two".into(),
            PortMap::new(vec![port("g2", 1, 2, Some(spec))]),
            normal_tables(),
            MacTable::default(),
            None,
        );
        let mut all: Vec<Bridge> = Vec::new();
        let Bridges { bridges, .. } = b;
        for x in bridges {
            all.push(x);
        }
        all.push(other);
        let b = Bridges::new(all, TunnelState::new(vec![], vec![]));
        let int = b.get("br-int").unwrap();
        let two = b.get("br-two").unwrap();
        assert_eq!(b.tlv_conflicts(int), vec!["br-two".to_string()]);
        assert_eq!(b.vport_tlv(2), None);
        two.ports.set_tlv((*int.ports.tlv()).clone());
        assert!(b.tlv_conflicts(int).is_empty());
        assert_eq!(b.vport_tlv(2), Some(int.ports.tlv()));
    }

    #[test]
    fn tos_and_ttl_inherit_as_ovs_does() {
        let flows = "in_port=1,actions=output:2";
        // Fixed tos 0x20: DSCP from the port, ECN from the inner packet.
        let b = geneve_switch(false, false, flows);
        let t = b.translate(&inner_ip(0xb9, 9)).unwrap();
        let [DpAction::TnlPush(p)] = &t.actions[..] else {
            panic!("{:?}", t.actions);
        };
        assert_eq!(&p.header[..], &geneve_header(0x21, 64, false, &[])[..]);
        assert_eq!((t.mask.0.nw_tos, t.mask.0.nw_ttl), (0x03, 0));
        // Inherit both: DSCP and TTL from the inner header; CE becomes
        // ECT(0).
        let b = geneve_switch(true, true, flows);
        let t = b.translate(&inner_ip(0xbb, 9)).unwrap();
        let [DpAction::TnlPush(p)] = &t.actions[..] else {
            panic!("{:?}", t.actions);
        };
        assert_eq!(&p.header[..], &geneve_header(0xba, 9, false, &[])[..]);
        assert_eq!((t.mask.0.nw_tos, t.mask.0.nw_ttl), (0xff, 0xff));
        // A non-IP inner packet: DSCP 0 and the fixed TTL.
        let t = b.translate(&inner(1)).unwrap();
        let [DpAction::TnlPush(p)] = &t.actions[..] else {
            panic!("{:?}", t.actions);
        };
        assert_eq!(&p.header[..], &geneve_header(0, 64, false, &[])[..]);
    }

    #[test]
    fn macs_parse_and_print() {
        let m = parse_mac("02:00:0a:ff:00:01").unwrap();
        assert_eq!(m, [2, 0, 0x0a, 0xff, 0, 1]);
        assert_eq!(fmt_mac(&m), "02:00:0a:ff:00:01");
        assert!(parse_mac("02:00:0a:ff:00").is_none());
        assert!(parse_mac("02:00:0a:ff:00:01:02").is_none());
        assert!(parse_mac("zz:00:0a:ff:00:01").is_none());
    }
}
