//! Header views (being written; see issue 2).
