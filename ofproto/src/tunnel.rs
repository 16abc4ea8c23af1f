//! Tunnel ports (OVS's `vxlan` and `geneve` interface types) as the slow
//! path sees them: their options, how a decapsulated packet finds its
//! port, and the underlay's route and neighbor tables that encapsulation
//! resolves against.
//!
//! Native tunneling, as OVS's userspace datapath does it: output to a
//! tunnel port becomes `tnl_push(header)` of a prebuilt outer header,
//! followed by what the underlay bridge does with a packet from its
//! internal (LOCAL) port carrying that header; a packet for a local tunnel
//! endpoint that the underlay bridge would hand to LOCAL becomes
//! `tnl_pop(vport)` instead, and comes back through the datapath with
//! `in_port` = the vport and the tunnel metadata filled, which picks the
//! tunnel port by remote IP, local IP and key.
//!
//! IPv4 and IPv6 underlays. Route lookups are longest-prefix over a short
//! list (a few routes per host; a linear scan beats a trie at that size),
//! within the destination's address family. Nothing here reads a clock or
//! does I/O.
//!
//! # Thread safety
//! Plain data; the bridge layer keeps the tables behind mutexes taken by
//! slow-path threads only.

use dpif_netdev::actions::TunnelType;
use dpif_netdev::key::FlowKey;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Where a tunnel sends to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Remote {
    /// A fixed remote endpoint.
    Ip(IpAddr),
    /// `remote_ip=flow`: the flow's `tun_dst` (set with `set_field`).
    Flow,
}

/// The tunnel key (VNI).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TunKey {
    /// A fixed key.
    Fixed(u32),
    /// `key=flow`: the flow's `tun_id` (set with `set_tunnel`).
    Flow,
}

/// A tunnel port's options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunnelSpec {
    /// VXLAN or Geneve.
    pub kind: TunnelType,
    /// `remote_ip`.
    pub remote: Remote,
    /// `local_ip`: the source address of encapsulated packets, and the
    /// only destination decapsulated packets may have (None: the route's
    /// source; any local address).
    pub local_ip: Option<IpAddr>,
    /// `key`.
    pub key: TunKey,
    /// `dst_port`.
    pub dst_port: u16,
    /// `tos` of the outer header (DSCP bits; unused with `tos_inherit`).
    /// The ECN bits always come from an inner IP packet, as in OVS.
    pub tos: u8,
    /// `tos=inherit`: the outer DSCP is the inner IP packet's (0 for a
    /// non-IP inner packet).
    pub tos_inherit: bool,
    /// `ttl` of the outer header (unused with `ttl_inherit` for IP).
    pub ttl: u8,
    /// `ttl=inherit`: the outer TTL is the inner IP packet's TTL / hop
    /// limit (`ttl` for a non-IP inner packet).
    pub ttl_inherit: bool,
    /// `df_default`: set DF in the outer header.
    pub df: bool,
    /// `csum`: compute the outer UDP checksum.
    pub csum: bool,
}

impl TunnelSpec {
    /// Default UDP port of a tunnel type.
    pub fn default_port(kind: TunnelType) -> u16 {
        match kind {
            TunnelType::Vxlan => 4789,
            TunnelType::Geneve => 6081,
        }
    }

    /// How well this port claims a decapsulated packet (higher is more
    /// specific), or None. Fixed remote and key beat `flow` ones, as in
    /// OVS's tunnel port lookup.
    pub fn claims(&self, k: &FlowKey) -> Option<u8> {
        let mut rank = 0;
        match self.remote {
            Remote::Ip(ip) if ip == tun_src(k) => rank += 2,
            Remote::Ip(_) => return None,
            Remote::Flow => {}
        }
        match self.key {
            TunKey::Fixed(v) if u64::from(v) == k.tun_id => rank += 1,
            TunKey::Fixed(_) => return None,
            TunKey::Flow => {}
        }
        if let Some(l) = self.local_ip {
            if l != tun_dst(k) {
                return None;
            }
        }
        Some(rank)
    }
}

/// A decapsulated packet's outer source address (IPv6 when the key has
/// one).
pub fn tun_src(k: &FlowKey) -> IpAddr {
    if k.tun_ipv6_src != [0; 16] {
        IpAddr::from(k.tun_ipv6_src)
    } else {
        IpAddr::from(k.tun_ipv4_src.to_be_bytes())
    }
}

/// A decapsulated packet's outer destination address.
pub fn tun_dst(k: &FlowKey) -> IpAddr {
    if k.tun_ipv6_dst != [0; 16] {
        IpAddr::from(k.tun_ipv6_dst)
    } else {
        IpAddr::from(k.tun_ipv4_dst.to_be_bytes())
    }
}

/// Where a route came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RouteOrigin {
    /// The address of a bridge's internal port (a connected route).
    Cached,
    /// The config's `[[route]]` or `tnl/route/add`.
    User,
}

/// One underlay route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// Prefix (IPv4 or IPv6).
    pub prefix: IpAddr,
    /// Prefix length (at most 32 or 128).
    pub len: u8,
    /// Bridge whose internal port the route leaves by.
    pub bridge: String,
    /// Gateway (None: directly connected), of the prefix's family.
    pub gateway: Option<IpAddr>,
    /// Source address for encapsulated packets, of the prefix's family.
    pub src: Option<IpAddr>,
    /// Origin.
    pub origin: RouteOrigin,
}

/// `ip` with every bit past `len` cleared (IPv4 addresses as the low 32
/// bits).
fn masked(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let m = if len == 0 {
                0
            } else {
                u32::MAX << (32 - len.min(32))
            };
            IpAddr::from((u32::from(a) & m).to_be_bytes())
        }
        IpAddr::V6(a) => {
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len.min(128))
            };
            IpAddr::from((u128::from(a) & m).to_be_bytes())
        }
    }
}

impl Route {
    /// Whether `ip` is in the prefix (never across address families).
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.prefix.is_ipv4()
            && masked(ip, self.len) == masked(self.prefix, self.len)
    }
}

/// The underlay route table.
#[derive(Clone, Debug, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
}

impl RouteTable {
    /// Adds (or replaces, same prefix and origin) a route.
    pub fn add(&mut self, r: Route) {
        let r = Route {
            prefix: masked(r.prefix, r.len),
            ..r
        };
        self.routes
            .retain(|o| !(o.prefix == r.prefix && o.len == r.len && o.origin == r.origin));
        self.routes.push(r);
    }

    /// Replaces every route of origin `origin` by `routes`.
    pub fn set_origin(&mut self, origin: RouteOrigin, routes: Vec<Route>) {
        self.routes.retain(|o| o.origin != origin);
        for r in routes {
            self.add(Route { origin, ..r });
        }
    }

    /// The longest-prefix route to `ip` (user routes win ties).
    pub fn lookup(&self, ip: IpAddr) -> Option<&Route> {
        self.routes
            .iter()
            .filter(|r| r.contains(ip))
            .max_by_key(|r| (r.len, r.origin))
    }

    /// Every route, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter()
    }

    /// Every route, longest prefix first.
    pub fn routes(&self) -> Vec<&Route> {
        let mut v: Vec<&Route> = self.routes.iter().collect();
        v.sort_by(|a, b| {
            (a.prefix.is_ipv6(), b.len, b.origin, a.prefix).cmp(&(
                b.prefix.is_ipv6(),
                a.len,
                a.origin,
                b.prefix,
            ))
        });
        v
    }
}

/// One neighbor (ARP) entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Neighbor {
    /// Its MAC.
    pub mac: [u8; 6],
    /// The bridge it was seen on.
    pub bridge: String,
    /// Whether it was set by `tnl/arp/set` (not replaced by snooping).
    pub static_entry: bool,
}

/// The neighbor (ARP) table of the underlay.
#[derive(Clone, Debug, Default)]
pub struct NeighTable {
    map: BTreeMap<IpAddr, Neighbor>,
}

impl NeighTable {
    /// Records what an ARP packet said; returns whether the table changed.
    pub fn snoop(&mut self, ip: IpAddr, mac: [u8; 6], bridge: &str) -> bool {
        if ip.is_unspecified() || mac == [0; 6] || mac[0] & 1 != 0 {
            return false;
        }
        match self.map.get(&ip) {
            Some(n) if n.static_entry || (n.mac == mac && n.bridge == bridge) => false,
            _ => {
                self.map.insert(
                    ip,
                    Neighbor {
                        mac,
                        bridge: bridge.to_owned(),
                        static_entry: false,
                    },
                );
                true
            }
        }
    }

    /// `tnl/arp/set`.
    pub fn set(&mut self, ip: IpAddr, mac: [u8; 6], bridge: &str) {
        self.map.insert(
            ip,
            Neighbor {
                mac,
                bridge: bridge.to_owned(),
                static_entry: true,
            },
        );
    }

    /// The MAC of `ip`.
    pub fn lookup(&self, ip: IpAddr) -> Option<[u8; 6]> {
        self.map.get(&ip).map(|n| n.mac)
    }

    /// `tnl/arp/flush`: forgets every entry; returns how many.
    pub fn flush(&mut self) -> usize {
        let n = self.map.len();
        self.map.clear();
        n
    }

    /// Every entry, by address.
    pub fn entries(&self) -> impl Iterator<Item = (&IpAddr, &Neighbor)> {
        self.map.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn route(p: &str, len: u8, origin: RouteOrigin, br: &str) -> Route {
        Route {
            prefix: ip(p),
            len,
            bridge: br.into(),
            gateway: None,
            src: None,
            origin,
        }
    }

    #[test]
    fn longest_prefix_wins_and_user_routes_win_ties() {
        let mut t = RouteTable::default();
        t.add(route("0.0.0.0", 0, RouteOrigin::User, "default"));
        t.add(route("172.31.0.0", 16, RouteOrigin::User, "wide"));
        t.add(route("172.31.1.9", 24, RouteOrigin::Cached, "cached"));
        assert_eq!(t.lookup(ip("172.31.1.2")).unwrap().bridge, "cached");
        assert_eq!(t.lookup(ip("172.31.2.2")).unwrap().bridge, "wide");
        assert_eq!(t.lookup(ip("8.8.8.8")).unwrap().bridge, "default");
        t.add(route("172.31.1.0", 24, RouteOrigin::User, "user"));
        assert_eq!(t.lookup(ip("172.31.1.2")).unwrap().bridge, "user");
        // The prefix is stored masked.
        assert_eq!(t.routes()[0].prefix, ip("172.31.1.0"));
        t.set_origin(RouteOrigin::Cached, vec![]);
        assert_eq!(t.routes().len(), 3);
    }

    #[test]
    fn neighbors_snoop_but_keep_static_entries() {
        let mut n = NeighTable::default();
        let m1 = [2, 0, 0, 0, 0, 1];
        let m2 = [2, 0, 0, 0, 0, 2];
        assert!(n.snoop(ip("10.0.0.1"), m1, "br"));
        assert!(!n.snoop(ip("10.0.0.1"), m1, "br"));
        assert!(n.snoop(ip("10.0.0.1"), m2, "br"));
        assert!(!n.snoop(ip("10.0.0.2"), [0xff; 6], "br"));
        n.set(ip("10.0.0.3"), m1, "br");
        assert!(!n.snoop(ip("10.0.0.3"), m2, "br"));
        assert_eq!(n.lookup(ip("10.0.0.3")), Some(m1));
        assert_eq!(n.flush(), 2);
    }

    #[test]
    fn decapsulated_packets_find_the_most_specific_port() {
        let spec = |remote, key| TunnelSpec {
            kind: TunnelType::Vxlan,
            remote,
            local_ip: None,
            key,
            dst_port: 4789,
            tos: 0,
            tos_inherit: false,
            ttl: 64,
            ttl_inherit: false,
            df: true,
            csum: false,
        };
        let v4 = |s: &str| s.parse::<std::net::Ipv4Addr>().map(u32::from).unwrap();
        let mut k = FlowKey::ZERO;
        k.tun_ipv4_src = v4("172.31.0.2");
        k.tun_id = 5000;
        let exact = spec(Remote::Ip(ip("172.31.0.2")), TunKey::Fixed(5000));
        let any_key = spec(Remote::Ip(ip("172.31.0.2")), TunKey::Flow);
        let any = spec(Remote::Flow, TunKey::Flow);
        let other = spec(Remote::Ip(ip("172.31.0.3")), TunKey::Fixed(5000));
        assert_eq!(exact.claims(&k), Some(3));
        assert_eq!(any_key.claims(&k), Some(2));
        assert_eq!(any.claims(&k), Some(0));
        assert_eq!(other.claims(&k), None);
        k.tun_id = 1;
        assert_eq!(exact.claims(&k), None);
        let mut local = exact.clone();
        local.local_ip = Some(ip("172.31.0.1"));
        k.tun_id = 5000;
        assert_eq!(local.claims(&k), None);
        k.tun_ipv4_dst = v4("172.31.0.1");
        assert_eq!(local.claims(&k), Some(3));
        // IPv6 outer addresses.
        let mut six = exact.clone();
        six.remote = Remote::Ip(ip("fd31::2"));
        assert_eq!(six.claims(&k), None);
        let mut k6 = FlowKey::ZERO;
        k6.tun_ipv6_src = "fd31::2".parse::<std::net::Ipv6Addr>().unwrap().octets();
        k6.tun_id = 5000;
        assert_eq!(six.claims(&k6), Some(3));
    }

    #[test]
    fn ipv6_routes_stay_in_their_family() {
        let mut t = RouteTable::default();
        t.add(route("0.0.0.0", 0, RouteOrigin::User, "v4"));
        t.add(route("fd31::", 64, RouteOrigin::User, "v6"));
        t.add(route("::", 0, RouteOrigin::User, "v6-default"));
        assert_eq!(t.lookup(ip("fd31::9")).unwrap().bridge, "v6");
        assert_eq!(t.lookup(ip("fd32::9")).unwrap().bridge, "v6-default");
        assert_eq!(t.lookup(ip("10.0.0.1")).unwrap().bridge, "v4");
        t.add(route("fd31::1234", 64, RouteOrigin::Cached, "c"));
        assert_eq!(
            t.routes().iter().find(|r| r.bridge == "c").unwrap().prefix,
            ip("fd31::")
        );
    }
}
