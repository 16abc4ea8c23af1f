//! Megaflow classifier (being written).
