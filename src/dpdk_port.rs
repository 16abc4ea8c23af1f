//! Opening `type = "dpdk"` ports for `rvs run` and `add-port`: the EAL
//! first (once per process, from `[dpdk] eal_args`), then the device.
//!
//! Without the `dpdk` feature the same calls fail with an error saying how
//! to build rvs with DPDK, so a config with a DPDK port is refused
//! clearly instead of being misread.

use crate::config::{DpdkConfig, PortKind};
use pmd::{PortError, PortStats, RxQueue, TxPort};
use std::sync::Arc;

/// Receive queues and transmit side of an opened port.
pub type Opened = (Vec<Box<dyn RxQueue>>, Arc<dyn TxPort>);

/// Initialises DPDK's EAL if it is not yet (errors point at hugepages.md).
#[cfg(feature = "dpdk")]
pub fn init_eal(cfg: &DpdkConfig) -> Result<(), PortError> {
    pmd::dpdk::eal_init(&cfg.eal_args).map_err(PortError::from)
}

/// Opens DPDK port `name` (`kind` must be [`PortKind::Dpdk`]) for a
/// datapath of `n_pmds` PMDs, initialising the EAL first if needed.
#[cfg(feature = "dpdk")]
pub fn open(
    eal: &DpdkConfig,
    name: &str,
    kind: &PortKind,
    n_pmds: usize,
    stats: Arc<PortStats>,
) -> Result<Opened, PortError> {
    let PortKind::Dpdk {
        devargs,
        n_rxq,
        n_txq,
        rxq_size,
        txq_size,
        mtu,
    } = kind
    else {
        return Err(PortError::Config {
            port: name.into(),
            reason: format!("not a dpdk port (type {})", kind.type_name()),
        });
    };
    init_eal(eal)?;
    let cfg = pmd::dpdk::DpdkPortConfig {
        devargs: devargs.clone(),
        n_rxq: *n_rxq,
        n_txq: *n_txq,
        rxq_size: *rxq_size,
        txq_size: *txq_size,
        mtu: *mtu,
    };
    let (rxqs, tx) = pmd::dpdk::open_dpdk(name, &cfg, n_pmds, stats)?;
    Ok((rxqs, tx))
}

/// Without DPDK support: always an error naming the way out.
#[cfg(not(feature = "dpdk"))]
pub fn open(
    _eal: &DpdkConfig,
    name: &str,
    _kind: &PortKind,
    _n_pmds: usize,
    _stats: Arc<PortStats>,
) -> Result<Opened, PortError> {
    Err(PortError::Config {
        port: name.into(),
        reason: "type \"dpdk\" needs rvs built with DPDK support: \
                 scripts/setup-dpdk.sh, then cargo build --release --features dpdk"
            .into(),
    })
}
