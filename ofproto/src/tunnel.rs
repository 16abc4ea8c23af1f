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
//! IPv4 underlays only (an IPv6 `remote_ip` is refused by the config).
//! Route lookups are longest-prefix over a short list (a few routes per
//! host; a linear scan beats a trie at that size). Nothing here reads a
//! clock or does I/O.
//!
//! # Thread safety
//! Plain data; the bridge layer keeps the tables behind mutexes taken by
//! slow-path threads only.

use dpif_netdev::actions::TunnelType;
use dpif_netdev::key::FlowKey;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// Where a tunnel sends to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Remote {
    /// A fixed remote endpoint.
    Ip(Ipv4Addr),
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
    pub local_ip: Option<Ipv4Addr>,
    /// `key`.
    pub key: TunKey,
    /// `dst_port`.
    pub dst_port: u16,
    /// `tos` of the outer header.
    pub tos: u8,
    /// `ttl` of the outer header.
    pub ttl: u8,
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
            Remote::Ip(ip) if u32::from(ip) == k.tun_ipv4_src => rank += 2,
            Remote::Ip(_) => return None,
            Remote::Flow => {}
        }
        match self.key {
            TunKey::Fixed(v) if u64::from(v) == k.tun_id => rank += 1,
            TunKey::Fixed(_) => return None,
            TunKey::Flow => {}
        }
        if let Some(l) = self.local_ip {
            if u32::from(l) != k.tun_ipv4_dst {
                return None;
            }
        }
        Some(rank)
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
    /// Prefix.
    pub prefix: Ipv4Addr,
    /// Prefix length.
    pub len: u8,
    /// Bridge whose internal port the route leaves by.
    pub bridge: String,
    /// Gateway (None: directly connected).
    pub gateway: Option<Ipv4Addr>,
    /// Source address for encapsulated packets.
    pub src: Option<Ipv4Addr>,
    /// Origin.
    pub origin: RouteOrigin,
}

fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - len.min(32))
    }
}

impl Route {
    /// Whether `ip` is in the prefix.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.len) == u32::from(self.prefix) & mask(self.len)
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
        let p = Ipv4Addr::from(u32::from(r.prefix) & mask(r.len));
        let r = Route { prefix: p, ..r };
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
    pub fn lookup(&self, ip: Ipv4Addr) -> Option<&Route> {
        self.routes
            .iter()
            .filter(|r| r.contains(ip))
            .max_by_key(|r| (r.len, r.origin))
    }

    /// Every route, longest prefix first.
    pub fn routes(&self) -> Vec<&Route> {
        let mut v: Vec<&Route> = self.routes.iter().collect();
        v.sort_by(|a, b| (b.len, b.origin, a.prefix).cmp(&(a.len, a.origin, b.prefix)));
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
    map: BTreeMap<Ipv4Addr, Neighbor>,
}

impl NeighTable {
    /// Records what an ARP packet said; returns whether the table changed.
    pub fn snoop(&mut self, ip: Ipv4Addr, mac: [u8; 6], bridge: &str) -> bool {
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
    pub fn set(&mut self, ip: Ipv4Addr, mac: [u8; 6], bridge: &str) {
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
    pub fn lookup(&self, ip: Ipv4Addr) -> Option<[u8; 6]> {
        self.map.get(&ip).map(|n| n.mac)
    }

    /// `tnl/arp/flush`: forgets every entry; returns how many.
    pub fn flush(&mut self) -> usize {
        let n = self.map.len();
        self.map.clear();
        n
    }

    /// Every entry, by address.
    pub fn entries(&self) -> impl Iterator<Item = (&Ipv4Addr, &Neighbor)> {
        self.map.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
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
            ttl: 64,
            df: true,
            csum: false,
        };
        let mut k = FlowKey::ZERO;
        k.tun_ipv4_src = u32::from(ip("172.31.0.2"));
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
        k.tun_ipv4_dst = u32::from(ip("172.31.0.1"));
        assert_eq!(local.claims(&k), Some(3));
    }
}
