//! Errors of opening a port.
//!
//! Every error names what it is about (the file, or the port), so that a
//! bad configuration is reported at startup with something a person can
//! act on: `in.pcap: not a valid pcap file: truncated in packet 3`.
//!
//! # Thread safety
//! Plain data (`Send + Sync`); nothing shared.

use std::io;
use std::path::PathBuf;

/// Why a port could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// A file could not be opened, read, created or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// A capture file is not a valid (classic, Ethernet) pcap file, or is
    /// truncated.
    #[error("{}: not a valid pcap file: {reason}", path.display())]
    BadPcap {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The port's configuration is unusable.
    #[error("port {port}: {reason}")]
    Config {
        /// The port's name.
        port: String,
        /// What is wrong.
        reason: String,
    },
    /// A system call on the port's device failed.
    #[error("port {port}: {what}: {source}")]
    Os {
        /// The port's name.
        port: String,
        /// What was being done (naming the interface).
        what: String,
        /// What the OS said.
        source: io::Error,
    },
    /// A DPDK device could not be attached or set up.
    #[cfg(feature = "dpdk")]
    #[error(transparent)]
    Dpdk(#[from] crate::dpdk::DpdkError),
}
