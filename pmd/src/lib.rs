//! # pmd: the running datapath
//!
//! PMD threads ([`pmd`]), upcall handlers ([`upcall`]), the revalidator
//! ([`revalidator`]) and the datapath that starts them over a set of ports
//! ([`datapath`]); the port interface ([`port`]) and the pure-Rust port
//! drivers: pcap files, dummy ports fed by `netdev-dummy/receive`,
//! in-memory rings for tests and benchmarks, AF_PACKET rings on Linux
//! interfaces, TAP devices for bridges' internal ports, and with the
//! `dpdk` feature, DPDK ethdev ports ([`dpdk`]).

#![deny(missing_docs)]
// `unsafe` lives only in the port drivers that talk to the kernel or to
// DPDK (FFI: AF_PACKET rings, TAP, DPDK), each block with a `// SAFETY:`
// comment.
#![deny(unsafe_code)]

#[allow(unsafe_code)]
pub mod afpacket;
pub mod cycles;
pub mod datapath;
#[cfg(feature = "dpdk")]
#[allow(unsafe_code)]
#[warn(clippy::undocumented_unsafe_blocks)]
pub mod dpdk;
pub mod dummy;
pub mod emc_auto;
pub mod error;
pub mod pcap_port;
pub mod pmd;
pub mod port;
pub mod revalidator;
pub mod ring;
pub mod rxqs;
pub mod sched;
pub mod stats;
#[allow(unsafe_code)]
pub mod tap;
pub mod upcall;

pub use afpacket::{open_afpacket, AfPacketConfig};
pub use datapath::{Datapath, DatapathConfig, DatapathError, PortSpec};
pub use dummy::{open_dummy, DummyInjector, DummyPort, InjectError};
pub use error::PortError;
pub use pcap_port::{open_pcap, read_frames, PcapPort, PcapPortConfig, PcapSink};
pub use port::{DeviceCounters, NullTx, PortStats, RxQueue, TxPort};
pub use ring::{ring_port, ring_wire, RingEnd};
pub use tap::{open_tap, TapInjector};
pub use upcall::{TranslateError, Translation, Translator};
