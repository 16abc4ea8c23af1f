//! Datapath action execution (being written; see issue 2).
