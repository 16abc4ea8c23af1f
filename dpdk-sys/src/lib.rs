//! # dpdk-sys: raw bindings to the system libdpdk
//!
//! Generated at build time by bindgen from the headers `pkg-config
//! --cflags libdpdk` points at (Debian 12: DPDK 22.11), plus a small C
//! shim (`shim/shim.c`) that gives DPDK's static-inline fast-path
//! functions (`rte_eth_rx_burst`, `rte_eth_tx_burst`, `rte_pktmbuf_alloc`,
//! `rte_pktmbuf_free`, ...) real symbols, one call per burst where it can.
//!
//! Only what rvs uses is bound (EAL, ethdev, mbuf pools, the shim).
//! Nothing here is safe to call without reading DPDK's documentation: the
//! safe wrappers live in `pmd::dpdk`.
//!
//! Everything is behind the `link` feature (pmd's `dpdk` feature turns it
//! on); without it the crate is empty and needs nothing installed.
//!
//! Linking: the libraries `pkg-config --libs libdpdk` lists. Debian's
//! DPDK loads its drivers (`net_pcap`, `net_ring`, `net_null`, PCI NIC
//! drivers, ...) as plugins from `RTE_EAL_PMD_PATH` at EAL init, so no
//! driver library needs linking.

#![allow(non_upper_case_globals, non_camel_case_types, non_snake_case)]
#![allow(missing_docs, clippy::all)]

#[cfg(feature = "link")]
include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
