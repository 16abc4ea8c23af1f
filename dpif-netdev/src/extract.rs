//! Flow key extraction (being written; see issue 2).
use crate::key::FlowKey;
use crate::packet::Packet;

/// Extracts the flow key of `pkt` into `key` (placeholder).
pub fn extract(pkt: &mut Packet, key: &mut FlowKey) {
    let _ = pkt;
    *key = FlowKey::ZERO;
}
