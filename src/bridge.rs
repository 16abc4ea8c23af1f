//! Bridges: OpenFlow tables over a set of ports, and the translator that
//! lets the datapath's upcall handlers run packets through them.
//!
//! Every port has an OpenFlow number within its bridge (`ofport`) and a
//! datapath number unique across bridges (`odp`, assigned from 1 in config
//! order). A packet's datapath `in_port` picks its bridge.
//!
//! Each bridge also has a MAC learning table for NORMAL. Upcall
//! translations learn; revalidation and traces do not (they would learn
//! from stale or made-up packets); traffic that keeps flowing through a
//! megaflow refreshes the source MAC's age when the revalidator credits
//! its hits ([`Translator::on_traffic`]), as OVS's stats push does.
//! Learning a new MAC, a MAC moving, aging, and `fdb/flush` change the
//! version, so every megaflow is translated again by the next revalidator
//! pass: a flood becomes a unicast once the destination is learned, and a
//! moved MAC is followed.
//!
//! # Thread safety
//! `Bridges` is shared (`Arc`) by the control thread, which changes tables
//! (write lock, inside `Datapath::change_tables`), and the handler and
//! revalidator threads, which translate (read lock). The version counter
//! changes after every table change and every MAC table change. A MAC
//! table's mutex is taken by slow-path threads only, never while holding
//! another bridge lock but the tables' read lock.

use dpif_netdev::key::{FlowKey, VLAN_CFI};
use dpif_netdev::tlv::TlvMap;
use ofproto::flow_mod::PortNames;
use ofproto::l2::{L2Bridge, PortVlan};
use ofproto::mac_learning::{FdbRow, Learned, MacTable};
use ofproto::table::Tables;
use ofproto::xlate::{xlate, XlatePorts};
use pmd::{TranslateError, Translation, Translator};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

/// One port of a bridge.
#[derive(Clone, Debug)]
pub struct BridgePort {
    /// Name.
    pub name: String,
    /// OpenFlow port number.
    pub ofport: u32,
    /// Datapath port number.
    pub odp: u32,
    /// VLAN mode, tag and trunks.
    pub vlan: PortVlan,
    /// Tunnel options, for a tunnel port (its `odp` is its vport's).
    pub tunnel: Option<ofproto::tunnel::TunnelSpec>,
}

/// The ports of one bridge, for translation and flow syntax. Ports are
/// added and removed at run time (`add-port`, `del-port`), so the list
/// sits behind a lock; change it inside `Datapath::change_tables`, so
/// that no translation sees it half-changed and megaflows are
/// revalidated after.
///
/// The bridge's Geneve TLV map lives here too: flow syntax reaches it
/// through [`PortNames::tlv_map`] (it places `tun_metadataN`), and it
/// changes under the same rules (inside `change_tables`, with a version
/// bump, so megaflows carrying the old map in their `tnl_pop` or built
/// from flows that read it are revalidated).
#[derive(Debug, Default)]
pub struct PortMap {
    ports: RwLock<Vec<BridgePort>>,
    tlv: RwLock<Arc<TlvMap>>,
}

impl PortMap {
    /// A map of these ports.
    pub fn new(ports: Vec<BridgePort>) -> PortMap {
        PortMap {
            ports: RwLock::new(ports),
            tlv: RwLock::default(),
        }
    }

    /// The bridge's TLV map (empty when nothing is mapped).
    pub fn tlv(&self) -> Arc<TlvMap> {
        self.tlv.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the bridge's TLV map (call inside `change_tables` and
    /// bump the version).
    pub fn set_tlv(&self, map: TlvMap) {
        *self.tlv.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(map);
    }

    /// The ports, for reading (slow path; held briefly).
    pub(crate) fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<BridgePort>> {
        self.ports.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The ports, in the order they were added.
    pub fn list(&self) -> Vec<BridgePort> {
        self.read().clone()
    }

    /// Adds a port.
    pub fn add(&self, p: BridgePort) {
        self.ports
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(p);
    }

    /// Removes the port called `name`, returning it.
    pub fn remove(&self, name: &str) -> Option<BridgePort> {
        let mut v = self.ports.write().unwrap_or_else(|e| e.into_inner());
        let at = v.iter().position(|p| p.name == name)?;
        Some(v.remove(at))
    }

    /// Whether datapath port `odp` is one of these.
    pub fn has_odp(&self, odp: u32) -> bool {
        self.read().iter().any(|p| p.odp == odp)
    }
}

impl XlatePorts for PortMap {
    fn odp_port(&self, ofport: u32) -> Option<u32> {
        self.read()
            .iter()
            .find(|p| p.ofport == ofport)
            .map(|p| p.odp)
    }
    fn ofport(&self, odp: u32) -> Option<u32> {
        self.read().iter().find(|p| p.odp == odp).map(|p| p.ofport)
    }
    fn ofports(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.read().iter().map(|p| p.ofport).collect();
        v.sort_unstable();
        v
    }
}

impl PortMap {
    /// The name of OpenFlow port `ofport`.
    pub fn port_name_of(&self, ofport: u32) -> Option<String> {
        self.read()
            .iter()
            .find(|p| p.ofport == ofport)
            .map(|p| p.name.clone())
    }
}

impl PortNames for PortMap {
    fn port_by_name(&self, name: &str) -> Option<u32> {
        self.read()
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.ofport)
    }
    fn port_name(&self, port: u32) -> Option<String> {
        self.read()
            .iter()
            .find(|p| p.ofport == port)
            .map(|p| p.name.clone())
    }
    fn tlv_map(&self) -> Option<Arc<TlvMap>> {
        Some(self.tlv()).filter(|m| !m.is_empty())
    }
}

/// A bridge: a name, its ports, its OpenFlow tables and its MAC table.
pub struct Bridge {
    /// Name.
    pub name: String,
    /// Ports.
    pub ports: PortMap,
    /// Tables.
    pub tables: RwLock<Tables>,
    /// MAC learning for NORMAL.
    pub macs: Mutex<MacTable>,
    /// The internal (LOCAL) port, when the bridge has one.
    pub local: Option<LocalPort>,
}

impl Bridge {
    /// A bridge with a default MAC table.
    pub fn new(
        name: String,
        ports: PortMap,
        tables: Tables,
        macs: MacTable,
        local: Option<LocalPort>,
    ) -> Bridge {
        Bridge {
            name,
            ports,
            tables: RwLock::new(tables),
            macs: Mutex::new(macs),
            local,
        }
    }

    pub(crate) fn macs(&self) -> std::sync::MutexGuard<'_, MacTable> {
        self.macs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The tunnel options of OpenFlow port `ofport`, if it is a tunnel.
    pub(crate) fn tunnel_spec(&self, ofport: u32) -> Option<ofproto::tunnel::TunnelSpec> {
        self.ports
            .read()
            .iter()
            .find(|p| p.ofport == ofport)
            .and_then(|p| p.tunnel.clone())
    }

    pub(crate) fn port_vlan(&self, ofport: u32) -> PortVlan {
        self.ports
            .read()
            .iter()
            .find(|p| p.ofport == ofport)
            .map(|p| p.vlan.clone())
            .unwrap_or_default()
    }
}

/// A bridge's internal port, as tunneling uses it.
pub struct LocalPort {
    /// Its datapath port.
    pub odp: u32,
    /// Its MAC (the TAP device's; the source of encapsulated packets).
    pub mac: [u8; 6],
    /// The Linux interface, when there is a TAP device.
    pub ifname: Option<String>,
    /// Sends a frame into the switch as if the host sent it on LOCAL.
    pub inject: Box<dyn Fn(Vec<u8>) -> bool + Send + Sync>,
}

/// Every bridge of the switch; the datapath's translator.
pub struct Bridges {
    /// The bridges, in config order.
    pub bridges: Vec<Bridge>,
    version: AtomicU64,
    /// The MAC tables' clock starts here.
    epoch: Instant,
    /// Tunnel vports, routes and neighbors.
    pub tunnels: crate::tunnels::TunnelState,
}

/// One bridge as a translation sees it: ports, VLANs, MAC learning,
/// tunnels.
pub(crate) struct XlateView<'a> {
    pub(crate) bridges: &'a Bridges,
    pub(crate) bridge: &'a Bridge,
    pub(crate) now: u64,
    pub(crate) may_learn: bool,
    /// The tunnel port a decapsulated packet came in on.
    pub(crate) tunnel_in: Option<u32>,
    /// Tunnel encapsulations this translation is nested in.
    pub(crate) depth: u32,
}

impl XlatePorts for XlateView<'_> {
    fn odp_port(&self, ofport: u32) -> Option<u32> {
        self.bridge.ports.odp_port(ofport)
    }
    fn ofport(&self, odp: u32) -> Option<u32> {
        self.bridge.ports.ofport(odp)
    }
    fn ofports(&self) -> Vec<u32> {
        self.bridge.ports.ofports()
    }
    fn l2(&self) -> Option<&dyn L2Bridge> {
        Some(self)
    }
    fn in_port(&self, key: &FlowKey, wc: &mut ofproto::flow::Flow) -> Option<u32> {
        match self.tunnel_in {
            Some(p) => {
                // The port was picked by key and outer addresses. A
                // packet of the other family has zeros there, so masking
                // only the family in use keeps megaflows apart.
                wc.key.tun_id = u64::MAX;
                if key.tun_ipv6_src != [0; 16] || key.tun_ipv6_dst != [0; 16] {
                    wc.key.tun_ipv6_src = [0xff; 16];
                    wc.key.tun_ipv6_dst = [0xff; 16];
                } else {
                    wc.key.tun_ipv4_src = u32::MAX;
                    wc.key.tun_ipv4_dst = u32::MAX;
                }
                Some(p)
            }
            None => self.bridge.ports.ofport(key.in_port),
        }
    }
    fn output(
        &self,
        ofport: u32,
        flow: &ofproto::flow::Flow,
        wc: &mut ofproto::flow::Flow,
    ) -> ofproto::xlate::PortOutput {
        self.tunnel_output(ofport, flow, wc)
    }
    fn snoop(&self, flow: &ofproto::flow::Flow, wc: &mut ofproto::flow::Flow) {
        self.snoop_arp(flow, wc);
    }
}

impl L2Bridge for XlateView<'_> {
    fn port_vlan(&self, ofport: u32) -> PortVlan {
        self.bridge.port_vlan(ofport)
    }
    fn learn(&self, vlan: u16, mac: [u8; 6], ofport: u32) -> Learned {
        if !self.may_learn {
            return Learned::Ignored;
        }
        let l = self.bridge.macs().learn(vlan, mac, ofport, self.now);
        if l.changes_forwarding() {
            self.bridges.bump_version();
        }
        l
    }
    fn lookup(&self, vlan: u16, mac: &[u8; 6]) -> Option<u32> {
        self.bridge.macs().lookup(vlan, mac)
    }
}

impl Bridges {
    /// Bridges with their initial tables.
    pub fn new(bridges: Vec<Bridge>, tunnels: crate::tunnels::TunnelState) -> Bridges {
        Bridges {
            bridges,
            version: AtomicU64::new(1),
            epoch: Instant::now(),
            tunnels,
        }
    }

    /// The MAC tables' clock, in milliseconds.
    pub fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    pub(crate) fn view<'a>(&'a self, b: &'a Bridge, may_learn: bool) -> XlateView<'a> {
        XlateView {
            bridges: self,
            bridge: b,
            now: self.now_ms(),
            may_learn,
            tunnel_in: None,
            depth: 0,
        }
    }

    /// Runs `f` with bridge `b` as translations see it, without learning
    /// (for `ofproto/trace`).
    pub fn with_view<R>(&self, b: &Bridge, f: impl FnOnce(&dyn XlatePorts) -> R) -> R {
        f(&self.view(b, false))
    }

    /// Removes aged-out MACs from every bridge; megaflows that used them
    /// are revalidated. Returns how many went.
    pub fn age_macs(&self) -> usize {
        let now = self.now_ms();
        let mut n = 0;
        for b in &self.bridges {
            n += b.macs().age(now);
        }
        if n > 0 {
            self.bump_version();
        }
        n
    }

    /// `fdb/flush`: forgets every learned MAC of bridge `b`.
    pub fn flush_macs(&self, b: &Bridge) -> usize {
        let n = b.macs().flush();
        self.bump_version();
        n
    }

    /// `fdb/show`: the learned MACs of bridge `b`.
    pub fn fdb_rows(&self, b: &Bridge) -> Vec<FdbRow> {
        b.macs().rows(self.now_ms())
    }

    /// The bridge called `name`.
    pub fn get(&self, name: &str) -> Option<&Bridge> {
        self.bridges.iter().find(|b| b.name == name)
    }

    /// The bridge owning datapath port `odp`.
    pub fn by_odp(&self, odp: u32) -> Option<&Bridge> {
        self.bridges.iter().find(|b| b.ports.has_odp(odp))
    }

    /// The bridge a packet belongs to, and for a decapsulated one the
    /// tunnel port it came in on (the most specific claim of every tunnel
    /// port on its vport).
    pub fn resolve(&self, key: &FlowKey) -> Option<(&Bridge, Option<u32>)> {
        if !self.tunnels.is_vport(key.in_port) {
            return self.by_odp(key.in_port).map(|b| (b, None));
        }
        let mut best: Option<(u8, &Bridge, u32)> = None;
        for b in &self.bridges {
            for p in b.ports.read().iter() {
                let Some(t) = p.tunnel.as_ref().filter(|_| p.odp == key.in_port) else {
                    continue;
                };
                if let Some(r) = t.claims(key) {
                    if best.is_none_or(|(br, _, _)| r > br) {
                        best = Some((r, b, p.ofport));
                    }
                }
            }
        }
        best.map(|(_, b, p)| (b, Some(p)))
    }

    /// The TLV map a `tnl_pop` to vport `odp` applies: that of the
    /// bridges whose Geneve ports the vport serves. The vport is shared
    /// by every Geneve port of its UDP port, and which port (so which
    /// bridge) a packet belongs to is only known after decapsulation, so
    /// bridges sharing a vport must agree on the map; when they do not,
    /// no option is mapped (critical ones then drop) and a warning says
    /// why.
    pub(crate) fn vport_tlv(&self, odp: u32) -> Option<Arc<TlvMap>> {
        let mut found: Option<Arc<TlvMap>> = None;
        for b in &self.bridges {
            let serves = b.ports.read().iter().any(|p| {
                p.odp == odp
                    && p.tunnel
                        .as_ref()
                        .is_some_and(|t| t.kind == dpif_netdev::actions::TunnelType::Geneve)
            });
            if !serves {
                continue;
            }
            let m = b.ports.tlv();
            match &found {
                None => found = Some(m),
                Some(f) if **f == *m => {}
                Some(_) => {
                    // Said once, by the command that made the maps differ
                    // (`tlv_commands::conflicts`); here it would repeat on
                    // every revalidation.
                    tracing::debug!(
                        vport = odp,
                        "bridges sharing a Geneve vport have different TLV maps: options not mapped"
                    );
                    return None;
                }
            }
        }
        found.filter(|m| !m.is_empty())
    }

    /// Bridges other than `b` that share a Geneve vport with `b` and have
    /// a different TLV map (then options on that vport are not mapped).
    pub(crate) fn tlv_conflicts(&self, b: &Bridge) -> Vec<String> {
        let geneve_vports = |x: &Bridge| -> Vec<u32> {
            x.ports
                .read()
                .iter()
                .filter(|p| {
                    p.tunnel
                        .as_ref()
                        .is_some_and(|t| t.kind == dpif_netdev::actions::TunnelType::Geneve)
                })
                .map(|p| p.odp)
                .collect()
        };
        let mine = geneve_vports(b);
        let map = b.ports.tlv();
        self.bridges
            .iter()
            .filter(|o| o.name != b.name && *o.ports.tlv() != *map)
            .filter(|o| geneve_vports(o).iter().any(|v| mine.contains(v)))
            .map(|o| o.name.clone())
            .collect()
    }

    /// Marks the tables changed (call after every change).
    pub fn bump_version(&self) {
        self.version.fetch_add(1, Ordering::AcqRel);
    }
}

impl Translator for Bridges {
    fn translate(&self, key: &FlowKey) -> Result<Translation, TranslateError> {
        self.translate_with(key, true)
    }

    fn retranslate(&self, key: &FlowKey) -> Result<Translation, TranslateError> {
        self.translate_with(key, false)
    }

    fn on_traffic(&self, key: &FlowKey) {
        let Some((b, tunnel_in)) = self.resolve(key) else {
            return;
        };
        let Some(ofport) = tunnel_in.or_else(|| b.ports.ofport(key.in_port)) else {
            return;
        };
        let vid = (key.vlan_tci[0] & VLAN_CFI != 0).then_some(key.vlan_tci[0] & 0x0fff);
        if let Some(vlan) = b.port_vlan(ofport).input_vlan(vid) {
            let l = b.macs().learn(vlan, key.eth_src, ofport, self.now_ms());
            if l.changes_forwarding() {
                self.bump_version();
            }
        }
    }

    fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }
}

impl Bridges {
    fn translate_with(
        &self,
        key: &FlowKey,
        may_learn: bool,
    ) -> Result<Translation, TranslateError> {
        let (b, tunnel_in) = self
            .resolve(key)
            .ok_or(TranslateError::NoSuchPort(key.in_port))?;
        let tables = b.tables.read().unwrap_or_else(|e| e.into_inner());
        let mut view = self.view(b, may_learn);
        view.tunnel_in = tunnel_in;
        let x = xlate(&tables, &view, key, false);
        if let Some(e) = x.error {
            tracing::debug!(bridge = %b.name, error = %e, "translation failed: drop");
        }
        Ok(x.into())
    }
}
