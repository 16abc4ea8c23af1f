//! dpctl text form (being written; see issue 2).
use crate::key::{FlowKey, FlowMask};

/// Formats a key (placeholder).
pub fn format_key(key: &FlowKey, mask: Option<&FlowMask>) -> String {
    let _ = mask;
    format!("{:x?}", key.words())
}
