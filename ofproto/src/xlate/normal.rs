//! The NORMAL action: L2 switching with MAC learning and port VLANs, as
//! OVS's `xlate_normal` does it.
//!
//! NORMAL reads the input port, the outer VLAN tag (whole TCI), the source
//! MAC (learning) and the destination MAC; the megaflow it leaves matches
//! those and nothing else (besides what the datapath always matches). It
//! learns the source MAC, then sends to the learned port of the
//! destination, or floods to every other port of the VLAN when the
//! destination is unknown, multicast or broadcast. It never sends back to
//! the input port. Frames to IEEE reserved group addresses
//! (01:80:c2:00:00:0x: STP, LACP, LLDP, ...) are dropped, as OVS does
//! without `forward-bpdu`. Each output carries the tag the output port's
//! VLAN mode asks for (802.1Q, TPID 0x8100, keeping the input's PCP); the
//! flow's VLAN is restored afterwards, so actions after `normal` see the
//! packet as it came.

use super::Ctx;
use crate::flow::Flow;
use crate::l2::L2Bridge;
use crate::mac_learning::is_multicast;
use dpif_netdev::key::VLAN_CFI;

const VID_MASK: u16 = 0x0fff;
const PCP_MASK: u16 = 0xe000;

impl Ctx<'_> {
    pub(super) fn normal(&mut self) {
        let Some(l2) = self.ports.l2() else {
            self.note("this bridge has no L2 switching: NORMAL dropped");
            return;
        };
        let in_port = self.flow.key.in_port;
        let saved = (self.flow.key.vlan_tci[0], self.flow.key.vlan_tpid[0]);

        // Input VLAN: the outer tag, all of it (PCP is carried over).
        let tagged = self.outer_vlan_present();
        let mut read = Flow::ZERO;
        let in_tci = self.flow.key.vlan_tci[0];
        let vid = if tagged {
            read.key.vlan_tci[0] = 0xffff;
            read.key.vlan_tpid[0] = 0xffff;
            Some(in_tci & VID_MASK)
        } else {
            None
        };
        read.key.eth_src = [0xff; 6];
        read.key.eth_dst = [0xff; 6];
        self.merge_wc(&read);

        let in_vlan = l2.port_vlan(in_port);
        let Some(vlan) = in_vlan.input_vlan(vid) else {
            self.note(format!(
                "dropping VLAN {} packet received on port {in_port} ({} mode, tag {})",
                vid.unwrap_or(0),
                in_vlan.mode.name(),
                in_vlan.tag
            ));
            return;
        };
        let pcp = if tagged { in_tci & PCP_MASK } else { 0 };

        let (src, dst) = (self.flow.key.eth_src, self.flow.key.eth_dst);
        if dst[..5] == [0x01, 0x80, 0xc2, 0x00, 0x00] && dst[5] & 0xf0 == 0 {
            self.note("dropping frame to a reserved multicast address (802.1D)");
            return;
        }
        self.learns = true;
        let learned = l2.learn(vlan, src, in_port);
        if learned.changes_forwarding() {
            self.note(format!(
                "learned {} on port {in_port} in VLAN {vlan}",
                dpif_netdev::wire::format_mac(&src)
            ));
        }

        let mut state = Outer::Input;
        let target = if is_multicast(&dst) {
            None
        } else {
            l2.lookup(vlan, &dst)
        };
        match target {
            Some(p) if p == in_port => {
                self.note("learned port is the input port: dropping");
            }
            Some(p) => {
                self.note(format!("forwarding to learned port {p}"));
                self.normal_output(l2, p, vlan, pcp, saved, &mut state);
            }
            None => {
                self.note(format!(
                    "no learned MAC for destination, flooding VLAN {vlan}"
                ));
                for p in self.ports.ofports() {
                    if p != in_port {
                        self.normal_output(l2, p, vlan, pcp, saved, &mut state);
                    }
                }
            }
        }
        self.restore_outer_vlan(saved, &mut state);
    }

    /// Outputs to `port` with the tag its VLAN mode asks for (nothing if
    /// the port does not carry `vlan`). Each output starts from the input
    /// tag, put back if an earlier output changed it (`state` says how),
    /// so the packet's inner tags stay as they came.
    fn normal_output(
        &mut self,
        l2: &dyn L2Bridge,
        port: u32,
        vlan: u16,
        pcp: u16,
        saved: (u16, u16),
        state: &mut Outer,
    ) {
        let Some(tag) = l2.port_vlan(port).output_tag(vlan) else {
            return;
        };
        self.restore_outer_vlan(saved, state);
        let tagged = saved.0 & VLAN_CFI != 0;
        match tag {
            None if tagged => {
                self.pop_vlan();
                *state = Outer::Popped;
            }
            None => {}
            // Tagged output is 802.1Q, whatever TPID the frame came in
            // with.
            Some(vid) => {
                let tci = vid | pcp;
                let dot1q = dpif_netdev::key::ethertype::VLAN;
                if !tagged {
                    self.push_vlan(dot1q, tci);
                    *state = Outer::Pushed;
                } else if saved.0 & !VLAN_CFI != tci || saved.1 != dot1q {
                    self.flow.key.vlan_tci[0] = tci | VLAN_CFI;
                    self.flow.key.vlan_tpid[0] = dot1q;
                    self.rewrite_outer_vlan();
                    *state = Outer::Rewritten;
                }
            }
        }
        self.output_to(port);
    }

    /// Undoes what the last output did to the outer tag, back to the input
    /// tag `(tci, tpid)` (datapath actions follow only at the next output).
    fn restore_outer_vlan(&mut self, (tci, tpid): (u16, u16), state: &mut Outer) {
        match *state {
            Outer::Input => {}
            Outer::Popped => self.push_vlan(tpid, tci & !VLAN_CFI),
            Outer::Pushed => self.pop_vlan(),
            Outer::Rewritten => {
                self.flow.key.vlan_tci[0] = tci;
                self.flow.key.vlan_tpid[0] = tpid;
                self.rewrite_outer_vlan();
            }
        }
        *state = Outer::Input;
    }
}

/// What NORMAL's last output did to the flow's outer VLAN tag.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outer {
    /// Nothing: it is the input tag (or absence of one).
    Input,
    /// Popped the input tag.
    Popped,
    /// Pushed a tag on an untagged packet.
    Pushed,
    /// Rewrote the input tag's TCI/TPID in place.
    Rewritten,
}

#[cfg(test)]
mod tests {
    use super::super::{xlate, IdentityPorts, XlatePorts};
    use crate::flow_mod::FlowModCommand;
    use crate::l2::{L2Bridge, PortVlan};
    use crate::mac_learning::{Learned, MacTable};
    use crate::ofctl::parse_flow_mods;
    use crate::table::Tables;
    use dpif_netdev::actions::DpAction;
    use dpif_netdev::key::{FlowKey, FlowMask, VLAN_CFI};
    use std::cell::RefCell;
    use std::collections::HashMap;

    /// Ports 1..=n with the given VLAN settings and a MAC table.
    struct Br {
        ports: IdentityPorts,
        vlans: HashMap<u32, PortVlan>,
        macs: RefCell<MacTable>,
        learn: bool,
    }

    impl Br {
        fn new(n: u32) -> Br {
            Br {
                ports: IdentityPorts((1..=n).collect()),
                vlans: HashMap::new(),
                macs: RefCell::new(MacTable::default()),
                learn: true,
            }
        }
    }

    impl XlatePorts for Br {
        fn odp_port(&self, p: u32) -> Option<u32> {
            self.ports.odp_port(p)
        }
        fn ofport(&self, p: u32) -> Option<u32> {
            self.ports.ofport(p)
        }
        fn ofports(&self) -> Vec<u32> {
            self.ports.ofports()
        }
        fn l2(&self) -> Option<&dyn L2Bridge> {
            Some(self)
        }
    }

    impl L2Bridge for Br {
        fn port_vlan(&self, p: u32) -> PortVlan {
            self.vlans.get(&p).cloned().unwrap_or_default()
        }
        fn learn(&self, vlan: u16, mac: [u8; 6], p: u32) -> Learned {
            if !self.learn {
                return Learned::Ignored;
            }
            self.macs.borrow_mut().learn(vlan, mac, p, 0)
        }
        fn lookup(&self, vlan: u16, mac: &[u8; 6]) -> Option<u32> {
            self.macs.borrow().lookup(vlan, mac)
        }
    }

    const A: [u8; 6] = [2, 0, 0, 0, 0, 0xa];
    const B: [u8; 6] = [2, 0, 0, 0, 0, 0xb];

    fn tables(flows: &str) -> Tables {
        let mut t = Tables::new();
        let mods = parse_flow_mods(flows, FlowModCommand::Add, &()).unwrap();
        t.apply(&mods, 0).unwrap();
        t
    }

    fn arp(in_port: u32, src: [u8; 6], dst: [u8; 6], vid: Option<u16>) -> FlowKey {
        let mut k = FlowKey::ZERO;
        k.in_port = in_port;
        k.eth_src = src;
        k.eth_dst = dst;
        if let Some(v) = vid {
            k.vlan_tpid[0] = 0x8100;
            k.vlan_tci[0] = VLAN_CFI | v;
        }
        k.eth_type = 0x0806;
        k.nw_proto = 1;
        k.nw_src = 0x0a00_0001;
        k.nw_dst = 0x0a00_0002;
        k
    }

    /// The mask NORMAL must leave for a non-IP packet: in_port, both MACs,
    /// the outer TCI, and what the datapath always matches.
    fn l2_mask() -> FlowMask {
        let mut m = FlowKey::ZERO;
        m.recirc_id = u32::MAX;
        m.in_port = u32::MAX;
        m.eth_src = [0xff; 6];
        m.eth_dst = [0xff; 6];
        m.vlan_tci[0] = VLAN_CFI;
        FlowMask(m)
    }

    #[test]
    fn unknown_unicast_floods_then_learned_macs_go_direct() {
        let t = tables("actions=normal");
        let br = Br::new(4);
        // A (port 1) to unknown B: flood to every other port.
        let x = xlate(&t, &br, &arp(1, A, B, None), false);
        assert_eq!(
            x.actions,
            vec![
                DpAction::Output(2),
                DpAction::Output(3),
                DpAction::Output(4)
            ]
        );
        assert_eq!(x.mask, l2_mask());
        assert_eq!(br.macs.borrow().lookup(0, &A), Some(1));
        // B answers from port 3: straight to A's port.
        let y = xlate(&t, &br, &arp(3, B, A, None), false);
        assert_eq!(y.actions, vec![DpAction::Output(1)]);
        assert_eq!(y.mask, l2_mask());
        // And now A to B is unicast too.
        let z = xlate(&t, &br, &arp(1, A, B, None), false);
        assert_eq!(z.actions, vec![DpAction::Output(3)]);
    }

    #[test]
    fn ip_megaflows_add_only_what_the_datapath_always_matches() {
        let t = tables("actions=normal");
        let br = Br::new(2);
        let mut k = arp(1, A, B, None);
        k.eth_type = 0x0800;
        k.nw_proto = 6;
        k.tp_src = 1234;
        k.tp_dst = 80;
        k.nw_ttl = 64;
        let x = xlate(&t, &br, &k, false);
        let mut want = l2_mask();
        want.0.eth_type = 0xffff;
        want.0.nw_frag = dpif_netdev::key::FRAG_MASK;
        assert_eq!(x.mask, want);
        assert_eq!(x.actions, vec![DpAction::Output(2)]);
    }

    #[test]
    fn broadcast_floods_and_never_returns_to_the_input_port() {
        let t = tables("actions=normal");
        let br = Br::new(3);
        br.macs.borrow_mut().learn(0, B, 2, 0);
        let x = xlate(&t, &br, &arp(2, A, [0xff; 6], None), false);
        assert_eq!(x.actions, vec![DpAction::Output(1), DpAction::Output(3)]);
        // Destination learned on the input port: dropped.
        let y = xlate(&t, &br, &arp(2, A, B, None), false);
        assert!(y.actions.is_empty());
    }

    #[test]
    fn reserved_multicast_is_dropped() {
        let t = tables("actions=normal");
        let br = Br::new(3);
        let x = xlate(&t, &br, &arp(1, A, [1, 0x80, 0xc2, 0, 0, 0], None), false);
        assert!(x.actions.is_empty());
    }

    #[test]
    fn access_and_trunk_ports_tag_untag_and_separate_vlans() {
        let t = tables("actions=normal");
        let mut br = Br::new(4);
        br.vlans.insert(1, PortVlan::access(100));
        br.vlans.insert(2, PortVlan::access(200));
        br.vlans.insert(
            3,
            PortVlan {
                trunks: vec![100, 200],
                ..PortVlan::default()
            },
        );
        br.vlans.insert(4, PortVlan::access(100));
        // Untagged from access 100: untagged to port 4, tagged 100 to the
        // trunk, nothing to VLAN 200.
        let x = xlate(&t, &br, &arp(1, A, [0xff; 6], None), false);
        assert_eq!(
            x.actions,
            vec![
                DpAction::PushVlan {
                    tpid: 0x8100,
                    tci: 100
                },
                DpAction::Output(3),
                DpAction::PopVlan,
                DpAction::Output(4),
            ]
        );
        assert_eq!(x.mask, l2_mask());
        // Tagged 100 from the trunk (PCP 5 kept on trunks): to A untagged.
        let tci = 100 | (5 << 13);
        let y = xlate(&t, &br, &arp(3, B, A, Some(tci)), false);
        assert_eq!(y.actions, vec![DpAction::PopVlan, DpAction::Output(1)]);
        let mut m = l2_mask();
        m.0.vlan_tci[0] = 0xffff;
        m.0.vlan_tpid[0] = 0xffff;
        assert_eq!(y.mask, m);
        // Tagged 300 from the trunk: not trunked there, dropped.
        let z = xlate(&t, &br, &arp(3, B, A, Some(300)), false);
        assert!(z.actions.is_empty());
        // Tagged frames on an access port are dropped.
        let w = xlate(&t, &br, &arp(2, B, A, Some(200)), false);
        assert!(w.actions.is_empty());
        // VLAN 200's host never learned A: a flood in VLAN 200 only
        // reaches the trunk, tagged 200.
        let v = xlate(&t, &br, &arp(2, B, A, None), false);
        assert_eq!(
            v.actions,
            vec![
                DpAction::PushVlan {
                    tpid: 0x8100,
                    tci: 200
                },
                DpAction::Output(3)
            ]
        );
    }

    #[test]
    fn actions_after_normal_see_the_packet_as_it_came() {
        let t = tables("actions=normal,output:3");
        let mut br = Br::new(3);
        br.vlans.insert(1, PortVlan::access(100));
        br.vlans.insert(2, PortVlan::default());
        br.vlans.insert(3, PortVlan::access(300));
        let x = xlate(&t, &br, &arp(1, A, [0xff; 6], None), false);
        assert_eq!(
            x.actions,
            vec![
                DpAction::PushVlan {
                    tpid: 0x8100,
                    tci: 100
                },
                DpAction::Output(2),
                DpAction::PopVlan,
                DpAction::Output(3),
            ]
        );
    }

    #[test]
    fn a_translation_that_may_not_learn_leaves_the_table_alone() {
        let t = tables("actions=normal");
        let mut br = Br::new(2);
        br.learn = false;
        let x = xlate(&t, &br, &arp(1, A, B, None), false);
        assert_eq!(x.actions, vec![DpAction::Output(2)]);
        assert!(br.macs.borrow().is_empty());
    }

    #[test]
    fn without_l2_state_normal_drops() {
        let t = tables("actions=normal");
        let x = xlate(&t, &IdentityPorts(vec![1, 2]), &arp(1, A, B, None), false);
        assert!(x.actions.is_empty());
    }
}
