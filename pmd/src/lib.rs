//! # pmd: the running datapath
//!
//! PMD threads ([`pmd`]), upcall handlers ([`upcall`]), the revalidator
//! ([`revalidator`]) and the datapath that starts them over a set of ports
//! ([`datapath`]); the port interface ([`port`]) and the pure-Rust port
//! drivers: pcap files, dummy ports fed by `netdev-dummy/receive`,
//! in-memory rings for tests and benchmarks, AF_PACKET rings on Linux
//! interfaces, and TAP devices for bridges' internal ports.

#![deny(missing_docs)]

pub mod afpacket;
pub mod datapath;
pub mod dummy;
pub mod error;
pub mod pcap_port;
pub mod pmd;
pub mod port;
pub mod revalidator;
pub mod ring;
pub mod stats;
pub mod tap;
pub mod upcall;

pub use afpacket::{open_afpacket, AfPacketConfig};
pub use datapath::{Datapath, DatapathConfig, DatapathError, PortSpec};
pub use dummy::{open_dummy, DummyInjector, DummyPort, InjectError};
pub use error::PortError;
pub use pcap_port::{open_pcap, read_frames, PcapPort, PcapPortConfig, PcapSink};
pub use port::{NullTx, PortStats, RxQueue, TxPort};
pub use ring::{ring_port, ring_wire, RingEnd};
pub use tap::{open_tap, TapInjector};
pub use upcall::{TranslateError, Translation, Translator};
