//! Exact-match cache (being written).
