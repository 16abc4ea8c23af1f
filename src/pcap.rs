//! Reading and writing pcap files (classic libpcap format) through the
//! `pcap-file` crate.

use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Errors reading or writing a capture, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum PcapError {
    /// The file could not be opened or created.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not a valid pcap file, or is truncated.
    #[error("{path}: not a valid pcap file: {source}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        source: pcap_file::PcapError,
    },
}

/// Reads every frame of a capture.
pub fn read_all(path: &Path) -> Result<Vec<Vec<u8>>, PcapError> {
    let file = File::open(path).map_err(|source| PcapError::Io {
        path: path.to_owned(),
        source,
    })?;
    let fmt = |source| PcapError::Format {
        path: path.to_owned(),
        source,
    };
    let mut reader = PcapReader::new(BufReader::new(file)).map_err(fmt)?;
    let mut out = Vec::new();
    while let Some(pkt) = reader.next_packet() {
        out.push(pkt.map_err(fmt)?.data.into_owned());
    }
    Ok(out)
}

/// A capture being written.
pub struct Writer {
    path: PathBuf,
    inner: PcapWriter<BufWriter<File>>,
    /// Frames written.
    pub count: u64,
}

impl Writer {
    /// Creates (truncates) a capture file.
    pub fn create(path: &Path) -> Result<Writer, PcapError> {
        let file = File::create(path).map_err(|source| PcapError::Io {
            path: path.to_owned(),
            source,
        })?;
        let inner = PcapWriter::new(BufWriter::new(file)).map_err(|source| PcapError::Format {
            path: path.to_owned(),
            source,
        })?;
        Ok(Writer {
            path: path.to_owned(),
            inner,
            count: 0,
        })
    }

    /// Appends one frame with timestamp `ts`.
    pub fn write(&mut self, ts: Duration, frame: &[u8]) -> Result<(), PcapError> {
        let pkt = PcapPacket::new(ts, frame.len() as u32, frame);
        self.inner
            .write_packet(&pkt)
            .map_err(|source| PcapError::Format {
                path: self.path.clone(),
                source,
            })?;
        self.count += 1;
        Ok(())
    }

    /// The file written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes buffered frames to the file.
    pub fn finish(self) -> Result<(), PcapError> {
        let path = self.path;
        self.inner
            .into_writer()
            .into_inner()
            .map_err(|e| PcapError::Io {
                path,
                source: e.into_error(),
            })
            .map(drop)
    }
}
