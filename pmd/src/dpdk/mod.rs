//! DPDK ethdev ports: every device DPDK drives (a PCI NIC bound to
//! vfio-pci, or a virtual device such as `net_vhost`, `net_memif`,
//! `net_af_packet`, `net_tap`, `net_pcap`, `net_ring`, `net_null`) as an
//! rvs port, like OVS's `type=dpdk` interfaces.
//!
//! One small safe module per DPDK concept, each owning its `unsafe`:
//!
//! - [`eal`]: the Environment Abstraction Layer, initialised once per
//!   process from `[dpdk] eal_args`; PMD threads register with it so the
//!   mbuf pools' per-lcore caches work for them;
//! - [`mempool`]: mbuf pools, one per port, never freed while an mbuf of
//!   theirs may be in flight (a removed port's pool is kept for reuse);
//! - [`mbuf`]: an mbuf as a [`Packet`](dpif_netdev::packet::Packet)
//!   without copying (foreign storage) and back again for transmit;
//! - [`ethdev`]: probe, configure (queues, RSS, MTU), start, stop, close
//!   and detach a device; its statistics, extended statistics and link;
//! - [`port`]: the [`RxQueue`](crate::port::RxQueue) and
//!   [`TxPort`](crate::port::TxPort) of a DPDK port;
//! - [`direct`]: port-to-port bursts forwarded mbuf to mbuf, without
//!   making packets of them, when simple match answers every packet with
//!   one output to a DPDK port.
//!
//! Packets stay in their mbufs from receive to transmit: the receive
//! queue wraps each mbuf's data room as the packet's buffer, and the
//! transmit side hands the same mbuf to the device with the frame's
//! current offset and length. Only packets that are not mbufs (from other
//! port types, or copies made for a second output) are copied into an
//! mbuf of the transmitting port's pool.
//!
//! # Thread safety
//! See each module. In short: EAL init and device setup run on the
//! control thread, serialised by a process-wide lock; a receive queue is
//! polled by the one PMD that owns it; each transmit queue is behind its
//! own mutex (uncontended when every PMD has its own queue, which is the
//! default; shared when the device has fewer queues than PMDs).

pub mod direct;
pub mod eal;
pub mod ethdev;
pub mod mbuf;
pub mod mempool;
pub mod port;

pub use eal::{init as eal_init, is_initialised as eal_is_initialised};
pub use ethdev::{DeviceStats, LinkState};
pub use port::{open_dpdk, DpdkPortConfig};

use std::ffi::CStr;

/// Why a DPDK operation failed. Every variant names what it was about.
#[derive(Debug, thiserror::Error)]
pub enum DpdkError {
    /// `rte_eal_init` failed.
    #[error(
        "DPDK EAL initialisation failed (dpdk.eal_args = {args:?}): {reason}; \
         DPDK needs hugepages (see hugepages.md), or for testing without them \
         eal_args = [\"--no-huge\", \"-m\", \"1024\", \"--no-shconf\"]"
    )]
    EalInit {
        /// The arguments given.
        args: Vec<String>,
        /// What DPDK said.
        reason: String,
    },
    /// A DPDK port was used before the EAL was initialised.
    #[error("DPDK EAL is not initialised")]
    NoEal,
    /// An argument or devargs string holds a NUL byte.
    #[error("{what}: contains a NUL byte")]
    Nul {
        /// Which string.
        what: String,
    },
    /// `rte_dev_probe` refused the devargs.
    #[error("devargs \"{devargs}\": cannot attach the device: {reason}")]
    Probe {
        /// The devargs.
        devargs: String,
        /// What DPDK said.
        reason: String,
    },
    /// The devargs attached no ethdev port.
    #[error("devargs \"{devargs}\": no ethernet device found for it")]
    NoPort {
        /// The devargs.
        devargs: String,
    },
    /// The device is already an rvs port.
    #[error("devargs \"{devargs}\": device {device} is already used by port {other}")]
    InUse {
        /// The devargs.
        devargs: String,
        /// The ethdev name.
        device: String,
        /// The port using it.
        other: String,
    },
    /// A port setting the device cannot honour.
    #[error("{key}: {reason}")]
    Setting {
        /// The setting (`n_rxq`, `mtu`, ...).
        key: &'static str,
        /// Why.
        reason: String,
    },
    /// A device operation failed.
    #[error("device {device}: {op} failed: {reason}")]
    Device {
        /// The ethdev name.
        device: String,
        /// The DPDK function.
        op: &'static str,
        /// What DPDK said.
        reason: String,
    },
    /// An mbuf pool could not be created.
    #[error("cannot create an mbuf pool of {mbufs} mbufs: {reason} (see hugepages.md)")]
    Mempool {
        /// Its size.
        mbufs: u32,
        /// What DPDK said.
        reason: String,
    },
}

/// DPDK's text for an errno value (positive or negative).
pub(crate) fn strerror(errnum: i32) -> String {
    // SAFETY: rte_strerror accepts any value and returns a pointer to a
    // static or thread-local NUL-terminated string, copied out at once.
    let p = unsafe { dpdk_sys::rte_strerror(errnum.abs()) };
    if p.is_null() {
        return format!("error {errnum}");
    }
    // SAFETY: non-null, NUL-terminated (rte_strerror's contract), read
    // before anything else on this thread can overwrite it.
    let s = unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
    format!("{s} ({})", errnum.abs())
}

/// The calling thread's `rte_errno`, as text.
pub(crate) fn last_error() -> String {
    // SAFETY: reads a thread-local int.
    strerror(unsafe { dpdk_sys::rvs_errno() })
}
