//! Header views (being written; see issue 2).

pub mod checksum;
