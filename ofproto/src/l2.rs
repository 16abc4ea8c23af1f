//! What NORMAL needs to know about a bridge beyond its OpenFlow tables:
//! each port's VLAN configuration (OVS's `vlan_mode`, `tag`, `trunks`) and
//! the MAC learning table.
//!
//! VLAN rules, as OVS applies them (VLAN 0 means "untagged"):
//!
//! | mode              | untagged in | tagged VID v in        | out on VLAN v         |
//! |-------------------|-------------|------------------------|-----------------------|
//! | `access`, tag T   | VLAN T      | v = 0: VLAN T, else drop | v = T: untagged      |
//! | `trunk`           | VLAN 0      | v if trunked           | v trunked: tagged v   |
//! | `native-untagged` | VLAN T      | v if trunked or T      | T: untagged; trunked: tagged |
//! | `native-tagged`   | VLAN T      | v if trunked or T      | T or trunked: tagged  |
//!
//! A trunk with no `trunks` list carries every VLAN (0 included, sent
//! untagged); a port with neither `tag` nor `vlan_mode` is such a trunk.
//!
//! # Thread safety
//! [`PortVlan`] is plain data. [`L2Bridge`] implementations are called from
//! slow-path threads and keep their MAC table behind their own lock.

use crate::mac_learning::Learned;

/// A port's VLAN mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum VlanMode {
    /// Carries the VLANs in `trunks` (all when none are listed), tagged.
    #[default]
    Trunk,
    /// Belongs to VLAN `tag`; frames are untagged on the wire.
    Access,
    /// VLAN `tag` untagged on the wire, `trunks` tagged.
    NativeUntagged,
    /// VLAN `tag` and `trunks`, all tagged on the wire.
    NativeTagged,
}

impl VlanMode {
    /// The mode by its OVS name.
    pub fn from_name(s: &str) -> Option<VlanMode> {
        Some(match s {
            "trunk" => VlanMode::Trunk,
            "access" => VlanMode::Access,
            "native-untagged" => VlanMode::NativeUntagged,
            "native-tagged" => VlanMode::NativeTagged,
            _ => return None,
        })
    }

    /// The OVS name.
    pub fn name(self) -> &'static str {
        match self {
            VlanMode::Trunk => "trunk",
            VlanMode::Access => "access",
            VlanMode::NativeUntagged => "native-untagged",
            VlanMode::NativeTagged => "native-tagged",
        }
    }
}

/// A port's VLAN configuration.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PortVlan {
    /// The mode.
    pub mode: VlanMode,
    /// The access or native VLAN (1..=4095); required by every mode but
    /// trunk.
    pub tag: u16,
    /// VLANs carried tagged; empty = all.
    pub trunks: Vec<u16>,
}

impl PortVlan {
    /// A trunk of every VLAN (the default).
    pub fn trunk_all() -> PortVlan {
        PortVlan::default()
    }

    /// An access port of VLAN `tag`.
    pub fn access(tag: u16) -> PortVlan {
        PortVlan {
            mode: VlanMode::Access,
            tag,
            trunks: Vec::new(),
        }
    }

    fn trunks(&self, vlan: u16) -> bool {
        self.trunks.is_empty() || self.trunks.contains(&vlan)
    }

    /// Whether the port carries VLAN `vlan`.
    pub fn includes(&self, vlan: u16) -> bool {
        match self.mode {
            VlanMode::Access => vlan == self.tag,
            VlanMode::Trunk => self.trunks(vlan),
            VlanMode::NativeUntagged | VlanMode::NativeTagged => {
                vlan == self.tag || (vlan != 0 && self.trunks(vlan))
            }
        }
    }

    /// The VLAN a frame received on this port belongs to, given its outer
    /// tag's VID (None: untagged); None when the port must drop it.
    pub fn input_vlan(&self, vid: Option<u16>) -> Option<u16> {
        match (self.mode, vid) {
            (VlanMode::Access, None | Some(0)) => Some(self.tag),
            (VlanMode::Access, Some(_)) => None,
            (VlanMode::Trunk, None | Some(0)) => self.trunks(0).then_some(0),
            (VlanMode::Trunk, Some(v)) => self.trunks(v).then_some(v),
            (_, None | Some(0)) => Some(self.tag),
            (_, Some(v)) => self.includes(v).then_some(v),
        }
    }

    /// How a frame of VLAN `vlan` leaves this port: None if the port does
    /// not carry the VLAN, Some(None) untagged, Some(Some(vid)) tagged.
    pub fn output_tag(&self, vlan: u16) -> Option<Option<u16>> {
        if !self.includes(vlan) {
            return None;
        }
        Some(match self.mode {
            VlanMode::Access => None,
            VlanMode::NativeUntagged if vlan == self.tag => None,
            _ if vlan == 0 => None,
            _ => Some(vlan),
        })
    }
}

/// NORMAL's view of a bridge: port VLANs and MAC learning.
pub trait L2Bridge {
    /// The VLAN configuration of OpenFlow port `ofport`.
    fn port_vlan(&self, ofport: u32) -> PortVlan;
    /// Learns `mac` on `ofport` in `vlan` (a no-op returning
    /// [`Learned::Ignored`] where this translation may not learn, such as
    /// traces and revalidation).
    fn learn(&self, vlan: u16, mac: [u8; 6], ofport: u32) -> Learned;
    /// The port `mac` was learned on in `vlan`.
    fn lookup(&self, vlan: u16, mac: &[u8; 6]) -> Option<u32>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_ports_tag_and_untag() {
        let p = PortVlan::access(100);
        assert_eq!(p.input_vlan(None), Some(100));
        assert_eq!(p.input_vlan(Some(0)), Some(100));
        assert_eq!(p.input_vlan(Some(100)), None);
        assert_eq!(p.output_tag(100), Some(None));
        assert_eq!(p.output_tag(200), None);
        assert_eq!(p.output_tag(0), None);
    }

    #[test]
    fn trunks_filter_by_allowed_vlans() {
        let all = PortVlan::trunk_all();
        assert_eq!(all.input_vlan(None), Some(0));
        assert_eq!(all.input_vlan(Some(7)), Some(7));
        assert_eq!(all.output_tag(7), Some(Some(7)));
        assert_eq!(all.output_tag(0), Some(None));
        let some = PortVlan {
            trunks: vec![100, 300],
            ..PortVlan::default()
        };
        assert_eq!(some.input_vlan(Some(100)), Some(100));
        assert_eq!(some.input_vlan(Some(200)), None);
        assert_eq!(some.input_vlan(None), None);
        assert_eq!(some.output_tag(300), Some(Some(300)));
        assert_eq!(some.output_tag(200), None);
    }

    #[test]
    fn native_modes() {
        let nu = PortVlan {
            mode: VlanMode::NativeUntagged,
            tag: 10,
            trunks: vec![20],
        };
        assert_eq!(nu.input_vlan(None), Some(10));
        assert_eq!(nu.input_vlan(Some(20)), Some(20));
        assert_eq!(nu.input_vlan(Some(30)), None);
        assert_eq!(nu.output_tag(10), Some(None));
        assert_eq!(nu.output_tag(20), Some(Some(20)));
        let nt = PortVlan {
            mode: VlanMode::NativeTagged,
            ..nu
        };
        assert_eq!(nt.output_tag(10), Some(Some(10)));
        assert_eq!(nt.input_vlan(None), Some(10));
    }
}
