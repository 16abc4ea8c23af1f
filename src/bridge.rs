//! Bridges: OpenFlow tables over a set of ports, and the translator that
//! lets the datapath's upcall handlers run packets through them.
//!
//! Every port has an OpenFlow number within its bridge (`ofport`) and a
//! datapath number unique across bridges (`odp`, assigned from 1 in config
//! order). A packet's datapath `in_port` picks its bridge.
//!
//! # Thread safety
//! `Bridges` is shared (`Arc`) by the control thread, which changes tables
//! (write lock, inside `Datapath::change_tables`), and the handler and
//! revalidator threads, which translate (read lock). The version counter
//! changes after every table change.

use dpif_netdev::key::FlowKey;
use ofproto::flow_mod::PortNames;
use ofproto::table::Tables;
use ofproto::xlate::{xlate, XlatePorts};
use pmd::{TranslateError, Translation, Translator};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

/// One port of a bridge.
#[derive(Clone, Debug)]
pub struct BridgePort {
    /// Name.
    pub name: String,
    /// OpenFlow port number.
    pub ofport: u32,
    /// Datapath port number.
    pub odp: u32,
}

/// The ports of one bridge, for translation and flow syntax. Ports are
/// added and removed at run time (`add-port`, `del-port`), so the list
/// sits behind a lock; change it inside `Datapath::change_tables`, so
/// that no translation sees it half-changed and megaflows are
/// revalidated after.
#[derive(Debug, Default)]
pub struct PortMap {
    ports: RwLock<Vec<BridgePort>>,
}

impl PortMap {
    /// A map of these ports.
    pub fn new(ports: Vec<BridgePort>) -> PortMap {
        PortMap {
            ports: RwLock::new(ports),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<BridgePort>> {
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
}

/// A bridge: a name, its ports and its OpenFlow tables.
pub struct Bridge {
    /// Name.
    pub name: String,
    /// Ports.
    pub ports: PortMap,
    /// Tables.
    pub tables: RwLock<Tables>,
}

/// Every bridge of the switch; the datapath's translator.
pub struct Bridges {
    /// The bridges, in config order.
    pub bridges: Vec<Bridge>,
    version: AtomicU64,
}

impl Bridges {
    /// Bridges with their initial tables.
    pub fn new(bridges: Vec<Bridge>) -> Bridges {
        Bridges {
            bridges,
            version: AtomicU64::new(1),
        }
    }

    /// The bridge called `name`.
    pub fn get(&self, name: &str) -> Option<&Bridge> {
        self.bridges.iter().find(|b| b.name == name)
    }

    /// The bridge owning datapath port `odp`.
    pub fn by_odp(&self, odp: u32) -> Option<&Bridge> {
        self.bridges.iter().find(|b| b.ports.has_odp(odp))
    }

    /// Marks the tables changed (call after every change).
    pub fn bump_version(&self) {
        self.version.fetch_add(1, Ordering::AcqRel);
    }
}

impl Translator for Bridges {
    fn translate(&self, key: &FlowKey) -> Result<Translation, TranslateError> {
        let b = self
            .by_odp(key.in_port)
            .ok_or(TranslateError::NoSuchPort(key.in_port))?;
        let tables = b.tables.read().unwrap_or_else(|e| e.into_inner());
        let x = xlate(&tables, &b.ports, key, false);
        if let Some(e) = x.error {
            tracing::debug!(bridge = %b.name, error = %e, "translation failed: drop");
        }
        Ok(Translation {
            actions: x.actions,
            mask: x.mask,
            rules: x.rules,
        })
    }

    fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }
}
