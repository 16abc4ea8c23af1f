//! # dpif-netdev: the rvs fast path as a library
//!
//! Everything a PMD thread does to a packet, with no threads, no I/O and no
//! clock: packet buffers and batches ([`packet`]), header views ([`wire`]),
//! flow key extraction ([`extract`]), keys and masks ([`key`]), hashing
//! ([`hash`]), the exact-match cache ([`emc`]), the megaflow classifier
//! ([`dpcls`]) with its entries ([`megaflow`]), datapath actions
//! ([`actions`]) and their execution ([`execute`]), and the
//! `ovs-appctl dpctl/dump-flows` text form ([`odp`]).
//!
//! Callers pass time in (`now` in milliseconds of their own clock) and get
//! output through sinks, so every piece is deterministic and testable with
//! plain byte buffers.

#![deny(missing_docs)]

pub mod actions;
pub mod dpcls;
pub mod drop;
pub mod emc;
pub mod execute;
pub mod extract;
pub mod hash;
pub mod key;
pub mod megaflow;
pub mod odp;
pub mod packet;
pub mod pipeline;
pub mod plain_key;
pub mod simple_match;
pub mod tlv;
pub mod wire;

pub use actions::{DpAction, DpActions, Masked, SetAction};
pub use drop::DropReason;
pub use key::{FlowKey, FlowMask};
pub use megaflow::Megaflow;
pub use packet::{Packet, PacketBatch, PacketMeta, PacketPool};
