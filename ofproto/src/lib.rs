//! # ofproto: the rvs slow path as a library
//!
//! OpenFlow tables, the `ovs-ofctl` flow syntax, and translation of a
//! packet's key through the tables into datapath actions plus the megaflow
//! mask. No threads, no I/O: the upcall handler and the control socket call
//! in with a key and a clock and get results back.

#![deny(missing_docs)]

pub mod cls;
pub mod field;
pub mod flow;
pub mod flow_mod;
pub mod l2;
pub mod mac_learning;
pub mod ofaction;
pub mod ofctl;
pub mod table;
pub mod trace;
pub mod tunnel;
pub mod xlate;
