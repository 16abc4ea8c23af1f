//! A port backed by pcap files: replay a capture as received traffic,
//! write transmitted packets to a capture.
//!
//! Pure Rust, nothing installed; classic (libpcap) Ethernet captures only,
//! microsecond or nanosecond, either byte order (not pcapng).
//!
//! - **Receive** (`rx_pcap`): the whole capture is read into memory when
//!   the port opens, so a missing, truncated or malformed file is an error
//!   at startup that names the file. Frames longer than [`MAX_FRAME`] (what
//!   a default packet buffer holds behind its headroom) are skipped and
//!   counted once, at open, in `rx_dropped`. Bursts are served from memory
//!   (one copy into a pool buffer per packet) and never block. Without
//!   `looping` the queue reports [`RxQueue::is_exhausted`] after its last
//!   frame; with it the capture restarts at its first frame forever. An
//!   empty capture receives nothing (a looping empty capture returns 0, it
//!   does not spin). Capture timestamps are ignored: replay runs as fast as
//!   the PMD polls.
//! - **Transmit** (`tx_pcap`): every sent packet is appended to the file,
//!   created (truncated) at open, through a buffer that [`TxPort::flush`]
//!   and dropping the port push to the file. Timestamps are the time since
//!   the port was opened. Without `tx_pcap` packets are counted and freed,
//!   like a null device. A write error is logged once; the packets that
//!   could not be written are counted in `tx_dropped`.
//!
//! # Thread safety
//! The receive queue is owned by one PMD thread (`Send`, no locks). The
//! transmit side is shared by every PMD (`Send + Sync`): the capture writer
//! sits behind a `Mutex`, taken once per burst; without a file the
//! transmit side takes no lock. Counters are relaxed atomics in the shared
//! [`PortStats`].

use crate::error::PortError;
use crate::port::{PortStats, RxQueue, TxPort};
use dpif_netdev::packet::{PacketBatch, PacketPool, DEFAULT_BUF_SIZE, HEADROOM, MAX_BURST};
use pcap_file::pcap::{PcapHeader, PcapParser};
use pcap_file::{DataLink, Endianness, PcapError};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// Longest frame a pcap port receives: a default packet buffer minus its
/// headroom. Longer frames in a capture are skipped and counted.
pub const MAX_FRAME: usize = DEFAULT_BUF_SIZE - HEADROOM;

/// What a pcap port reads and writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PcapPortConfig {
    /// Capture replayed as received traffic; no receive queue when `None`.
    pub rx_pcap: Option<PathBuf>,
    /// Capture that transmitted packets are written to; they are counted
    /// and freed when `None`.
    pub tx_pcap: Option<PathBuf>,
    /// Restart `rx_pcap` at its first frame after the last one, forever.
    pub looping: bool,
}

/// An opened pcap port: its receive queue (when it has a capture to
/// replay) and its transmit side.
pub type PcapPort = (Option<Box<dyn RxQueue>>, Arc<dyn TxPort>);

/// Opens a pcap port: its receive queue (if `cfg.rx_pcap` is set) and its
/// transmit side. Counts into `stats`.
///
/// # Errors
/// [`PortError::Io`] when a file cannot be read or created,
/// [`PortError::BadPcap`] when `rx_pcap` is not a complete, valid Ethernet
/// pcap file. Both name the file.
pub fn open_pcap(
    name: &str,
    cfg: &PcapPortConfig,
    stats: Arc<PortStats>,
) -> Result<PcapPort, PortError> {
    let rx = match &cfg.rx_pcap {
        Some(path) => {
            let cap = read_capture(path, MAX_FRAME)?;
            if cap.oversize > 0 {
                tracing::warn!(
                    port = name,
                    file = %path.display(),
                    skipped = cap.oversize,
                    "frames longer than {MAX_FRAME} bytes skipped"
                );
                PortStats::add(&stats.rx_dropped, cap.oversize);
            }
            Some(Box::new(PcapRx {
                cap,
                next: 0,
                looping: cfg.looping,
                stats: stats.clone(),
            }) as Box<dyn RxQueue>)
        }
        None => None,
    };
    let sink = match &cfg.tx_pcap {
        Some(path) => Some(Mutex::new(PcapSink::create(name, path)?)),
        None => None,
    };
    Ok((rx, Arc::new(PcapTx { sink, stats })))
}

/// The frames of a capture, stored back to back.
#[derive(Debug, Default)]
struct Capture {
    data: Vec<u8>,
    /// `(offset, length)` of each frame in `data`.
    spans: Vec<(usize, usize)>,
    /// Frames skipped for being longer than the limit.
    oversize: u64,
}

/// Every frame of a classic Ethernet pcap file, whatever its length (for
/// tools such as `rvs replay`; ports use their own size limit). A missing,
/// truncated or non-Ethernet file is an error naming it.
pub fn read_frames(path: &Path) -> Result<Vec<Vec<u8>>, PortError> {
    let cap = read_capture(path, usize::MAX)?;
    Ok(cap
        .spans
        .iter()
        .map(|&(o, l)| cap.data[o..o + l].to_vec())
        .collect())
}

/// Reads every frame of a classic Ethernet pcap file, skipping (and
/// counting) frames longer than `max_frame`.
fn read_capture(path: &Path, max_frame: usize) -> Result<Capture, PortError> {
    let bytes = std::fs::read(path).map_err(|source| PortError::Io {
        path: path.to_owned(),
        source,
    })?;
    let bad = |reason: String| PortError::BadPcap {
        path: path.to_owned(),
        reason,
    };
    let (mut rest, parser) = PcapParser::new(&bytes).map_err(|e| match e {
        PcapError::IncompleteBuffer => bad(format!(
            "truncated file header ({} of 24 bytes)",
            bytes.len()
        )),
        e => bad(e.to_string()),
    })?;
    let link = parser.header().datalink;
    if link != DataLink::ETHERNET {
        return Err(bad(format!("link type {link:?} is not Ethernet")));
    }
    let mut cap = Capture::default();
    let mut index = 0u64;
    while !rest.is_empty() {
        index += 1;
        let offset = bytes.len() - rest.len();
        let (r, pkt) = parser.next_raw_packet(rest).map_err(|e| match e {
            PcapError::IncompleteBuffer => bad(format!(
                "truncated in packet {index} (record at byte {offset})"
            )),
            e => bad(format!("packet {index} (record at byte {offset}): {e}")),
        })?;
        rest = r;
        if pkt.data.len() > max_frame {
            cap.oversize += 1;
            continue;
        }
        cap.spans.push((cap.data.len(), pkt.data.len()));
        cap.data.extend_from_slice(&pkt.data);
    }
    Ok(cap)
}

/// The receive queue: serves a capture held in memory.
struct PcapRx {
    cap: Capture,
    /// Index of the next frame to receive.
    next: usize,
    looping: bool,
    stats: Arc<PortStats>,
}

impl RxQueue for PcapRx {
    fn rx_burst(&mut self, batch: &mut PacketBatch, pool: &mut PacketPool) -> usize {
        let frames = self.cap.spans.len();
        if frames == 0 {
            return 0;
        }
        let room = MAX_BURST.saturating_sub(batch.len());
        let (mut got, mut bytes, mut dropped) = (0usize, 0u64, 0u64);
        // One frame per step at most, so a looping capture cannot spin.
        for _ in 0..room {
            if self.next >= frames {
                if !self.looping {
                    break;
                }
                self.next = 0;
            }
            let (off, len) = self.cap.spans[self.next];
            self.next += 1;
            match pool.alloc_from(&self.cap.data[off..off + len]) {
                Ok(pkt) => {
                    if let Err(pkt) = batch.push(pkt) {
                        // Not reached: `room` counted the free slots.
                        pool.free(pkt);
                        self.next -= 1;
                        break;
                    }
                    got += 1;
                    bytes += len as u64;
                }
                // The pool's buffers are smaller than MAX_FRAME.
                Err(_) => dropped += 1,
            }
        }
        if got > 0 {
            PortStats::add(&self.stats.rx_packets, got as u64);
            PortStats::add(&self.stats.rx_bytes, bytes);
        }
        if dropped > 0 {
            PortStats::add(&self.stats.rx_dropped, dropped);
        }
        got
    }

    fn is_exhausted(&self) -> bool {
        !self.looping && self.next >= self.cap.spans.len()
    }
}

/// The transmit side: an optional capture writer.
struct PcapTx {
    sink: Option<Mutex<PcapSink>>,
    stats: Arc<PortStats>,
}

impl TxPort for PcapTx {
    fn send(&self, _qid: usize, batch: &mut PacketBatch, pool: &mut PacketPool) {
        let (mut sent, mut bytes, mut dropped) = (0u64, 0u64, 0u64);
        match &self.sink {
            Some(sink) => {
                let mut sink = sink.lock().unwrap_or_else(PoisonError::into_inner);
                for pkt in batch.drain() {
                    if sink.write(pkt.data()) {
                        sent += 1;
                        bytes += pkt.len() as u64;
                    } else {
                        dropped += 1;
                    }
                    pool.free(pkt);
                }
            }
            None => {
                for pkt in batch.drain() {
                    sent += 1;
                    bytes += pkt.len() as u64;
                    pool.free(pkt);
                }
            }
        }
        count_tx(&self.stats, sent, bytes, dropped);
    }

    fn flush(&self) {
        if let Some(sink) = &self.sink {
            sink.lock().unwrap_or_else(PoisonError::into_inner).flush();
        }
    }
}

/// Adds a burst's transmit counts to `stats`.
pub(crate) fn count_tx(stats: &PortStats, sent: u64, bytes: u64, dropped: u64) {
    if sent > 0 {
        PortStats::add(&stats.tx_packets, sent);
        PortStats::add(&stats.tx_bytes, bytes);
    }
    if dropped > 0 {
        PortStats::add(&stats.tx_dropped, dropped);
    }
}

/// A capture file being written (classic pcap, microsecond timestamps,
/// this machine's byte order), buffered; flushed on drop. Also used by
/// `rvs replay` for its per-port output files.
pub struct PcapSink {
    port: String,
    path: PathBuf,
    out: BufWriter<File>,
    start: Instant,
    /// Whether a write error has been logged already.
    failed: bool,
}

impl PcapSink {
    /// Snapshot length written in the file header (and the longest record).
    const SNAPLEN: u32 = 65535;

    /// Creates (truncates) `path` and writes the file header.
    pub fn create(port: &str, path: &Path) -> Result<PcapSink, PortError> {
        let io = |source| PortError::Io {
            path: path.to_owned(),
            source,
        };
        // 1 MiB: a write(2) per ~500 full-size frames instead of per ~5
        // with the default 8 KiB, on the PMD thread.
        let mut out = BufWriter::with_capacity(1 << 20, File::create(path).map_err(io)?);
        let header = PcapHeader {
            snaplen: Self::SNAPLEN,
            datalink: DataLink::ETHERNET,
            endianness: Endianness::native(),
            ..PcapHeader::default()
        };
        header.write_to(&mut out).map_err(|e| match e {
            PcapError::IoError(source) => io(source),
            e => PortError::BadPcap {
                path: path.to_owned(),
                reason: e.to_string(),
            },
        })?;
        Ok(PcapSink {
            port: port.to_owned(),
            path: path.to_owned(),
            out,
            start: Instant::now(),
            failed: false,
        })
    }

    /// Appends one frame (cut to the snapshot length) stamped with the
    /// time since the file was created. False if it could not be written.
    pub fn write(&mut self, frame: &[u8]) -> bool {
        let ts = self.start.elapsed();
        let incl = frame.len().min(Self::SNAPLEN as usize);
        let mut rec = [0u8; 16];
        rec[0..4].copy_from_slice(&(ts.as_secs() as u32).to_ne_bytes());
        rec[4..8].copy_from_slice(&ts.subsec_micros().to_ne_bytes());
        rec[8..12].copy_from_slice(&(incl as u32).to_ne_bytes());
        rec[12..16].copy_from_slice(&(frame.len() as u32).to_ne_bytes());
        let r = self
            .out
            .write_all(&rec)
            .and_then(|()| self.out.write_all(&frame[..incl]));
        self.check(r)
    }

    /// Pushes buffered records to the file.
    pub fn flush(&mut self) {
        let r = self.out.flush();
        self.check(r);
    }

    fn check(&mut self, r: std::io::Result<()>) -> bool {
        match r {
            Ok(()) => true,
            Err(e) => {
                if !self.failed {
                    self.failed = true;
                    tracing::error!(
                        port = %self.port,
                        file = %self.path.display(),
                        error = %e,
                        "cannot write capture"
                    );
                }
                false
            }
        }
    }
}

impl Drop for PcapSink {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use dpif_netdev::wire::build;
    use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};
    use std::net::Ipv4Addr;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    /// A temporary file path, unique in this process and across runs;
    /// removed when dropped.
    pub(crate) struct TempPath(pub PathBuf);

    impl TempPath {
        pub(crate) fn new(tag: &str) -> TempPath {
            static N: AtomicU64 = AtomicU64::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            TempPath(std::env::temp_dir().join(format!(
                "rvs-pmd-{tag}-{}-{n}-{nanos}.pcap",
                std::process::id()
            )))
        }
    }

    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// A UDP frame whose source port is `i` and payload `len` bytes.
    pub(crate) fn frame(i: u16, len: usize) -> Vec<u8> {
        build::udp4(
            [2, 0, 0, 0, 0, 1],
            [2, 0, 0, 0, 0, 2],
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            i,
            53,
            len,
        )
    }

    fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
        let mut w = PcapWriter::new(File::create(path).unwrap()).unwrap();
        for (i, f) in frames.iter().enumerate() {
            w.write_packet(&PcapPacket::new(
                Duration::from_millis(i as u64),
                f.len() as u32,
                f,
            ))
            .unwrap();
        }
    }

    /// Every frame of a capture, read back with pcap-file.
    pub(crate) fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
        let mut r = PcapReader::new(File::open(path).unwrap()).unwrap();
        let mut out = Vec::new();
        while let Some(p) = r.next_packet() {
            out.push(p.unwrap().data.into_owned());
        }
        out
    }

    fn rx_only(path: &Path, looping: bool, stats: &Arc<PortStats>) -> Box<dyn RxQueue> {
        let cfg = PcapPortConfig {
            rx_pcap: Some(path.to_owned()),
            tx_pcap: None,
            looping,
        };
        open_pcap("p0", &cfg, stats.clone()).unwrap().0.unwrap()
    }

    fn frames_of(batch: &mut PacketBatch, pool: &mut PacketPool) -> Vec<Vec<u8>> {
        batch
            .drain()
            .map(|p| {
                let v = p.data().to_vec();
                pool.free(p);
                v
            })
            .collect()
    }

    #[test]
    fn replays_once_then_is_exhausted() {
        let tmp = TempPath::new("once");
        let frames: Vec<_> = (0..40).map(|i| frame(i, 10)).collect();
        write_pcap(&tmp.0, &frames);
        let stats = Arc::new(PortStats::default());
        let mut rx = rx_only(&tmp.0, false, &stats);
        let mut pool = PacketPool::new(DEFAULT_BUF_SIZE, 64);
        let mut batch = PacketBatch::new();
        assert!(!rx.is_exhausted());
        assert_eq!(rx.rx_burst(&mut batch, &mut pool), MAX_BURST);
        let mut got = frames_of(&mut batch, &mut pool);
        assert!(!rx.is_exhausted());
        assert_eq!(rx.rx_burst(&mut batch, &mut pool), 8);
        got.extend(frames_of(&mut batch, &mut pool));
        assert!(rx.is_exhausted());
        assert_eq!(rx.rx_burst(&mut batch, &mut pool), 0);
        assert_eq!(got, frames);
        let s = stats.snapshot();
        assert_eq!(s.rx_packets, 40);
        assert_eq!(
            s.rx_bytes,
            frames.iter().map(|f| f.len() as u64).sum::<u64>()
        );
        assert_eq!(s.rx_dropped, 0);
    }

    #[test]
    fn burst_fills_only_free_room() {
        let tmp = TempPath::new("room");
        write_pcap(&tmp.0, &[frame(1, 0), frame(2, 0), frame(3, 0)]);
        let stats = Arc::new(PortStats::default());
        let mut rx = rx_only(&tmp.0, true, &stats);
        let mut pool = PacketPool::new(DEFAULT_BUF_SIZE, 64);
        let mut batch = PacketBatch::new();
        for _ in 0..MAX_BURST - 2 {
            batch.push(pool.alloc()).unwrap();
        }
        assert_eq!(rx.rx_burst(&mut batch, &mut pool), 2);
        assert!(batch.is_full());
        assert_eq!(rx.rx_burst(&mut batch, &mut pool), 0);
    }

    #[test]
    fn looping_restarts_and_never_exhausts() {
        let tmp = TempPath::new("loop");
        let frames: Vec<_> = (0..3).map(|i| frame(i, 4)).collect();
        write_pcap(&tmp.0, &frames);
        let stats = Arc::new(PortStats::default());
        let mut rx = rx_only(&tmp.0, true, &stats);
        let mut pool = PacketPool::new(DEFAULT_BUF_SIZE, 64);
        let mut batch = PacketBatch::new();
        assert_eq!(rx.rx_burst(&mut batch, &mut pool), MAX_BURST);
        let got = frames_of(&mut batch, &mut pool);
        for (i, f) in got.iter().enumerate() {
            assert_eq!(f, &frames[i % 3]);
        }
        assert!(!rx.is_exhausted());
        assert_eq!(rx.rx_burst(&mut batch, &mut pool), MAX_BURST);
        assert_eq!(batch.packets()[0].data(), &frames[MAX_BURST % 3][..]);
        assert_eq!(stats.snapshot().rx_packets, 2 * MAX_BURST as u64);
    }

    #[test]
    fn empty_capture_receives_nothing() {
        let tmp = TempPath::new("empty");
        write_pcap(&tmp.0, &[]);
        let stats = Arc::new(PortStats::default());
        let mut pool = PacketPool::new(DEFAULT_BUF_SIZE, 64);
        let mut batch = PacketBatch::new();
        let mut rx = rx_only(&tmp.0, true, &stats);
        assert_eq!(rx.rx_burst(&mut batch, &mut pool), 0);
        assert!(!rx.is_exhausted());
        let mut rx = rx_only(&tmp.0, false, &stats);
        assert!(rx.is_exhausted());
        assert_eq!(rx.rx_burst(&mut batch, &mut pool), 0);
    }

    #[test]
    fn oversize_frame_is_skipped_and_counted() {
        let tmp = TempPath::new("big");
        let big = vec![0xab; MAX_FRAME + 1];
        let exact = vec![0xcd; MAX_FRAME];
        write_pcap(&tmp.0, &[frame(1, 0), big, exact.clone()]);
        let stats = Arc::new(PortStats::default());
        let mut rx = rx_only(&tmp.0, false, &stats);
        assert_eq!(stats.snapshot().rx_dropped, 1);
        let mut pool = PacketPool::new(DEFAULT_BUF_SIZE, 64);
        let mut batch = PacketBatch::new();
        assert_eq!(rx.rx_burst(&mut batch, &mut pool), 2);
        let got = frames_of(&mut batch, &mut pool);
        assert_eq!(got, vec![frame(1, 0), exact]);
        assert!(rx.is_exhausted());
        let s = stats.snapshot();
        assert_eq!((s.rx_packets, s.rx_dropped), (2, 1));
    }

    #[test]
    fn missing_file_names_the_path() {
        let tmp = TempPath::new("missing");
        let cfg = PcapPortConfig {
            rx_pcap: Some(tmp.0.clone()),
            ..Default::default()
        };
        let err = open_pcap("p0", &cfg, Arc::default()).err().unwrap();
        assert!(matches!(err, PortError::Io { ref path, .. } if *path == tmp.0));
        assert!(err.to_string().contains(&tmp.0.display().to_string()));
    }

    #[test]
    fn truncated_file_names_the_path() {
        let tmp = TempPath::new("trunc");
        write_pcap(&tmp.0, &[frame(1, 20), frame(2, 20)]);
        let full = std::fs::read(&tmp.0).unwrap();
        let cfg = PcapPortConfig {
            rx_pcap: Some(tmp.0.clone()),
            ..Default::default()
        };
        // Cut inside the second packet's data.
        std::fs::write(&tmp.0, &full[..full.len() - 5]).unwrap();
        let err = open_pcap("p0", &cfg, Arc::default()).err().unwrap();
        let msg = err.to_string();
        assert!(matches!(err, PortError::BadPcap { .. }), "{msg}");
        assert!(
            msg.starts_with(&format!("{}: not a valid pcap file: ", tmp.0.display())),
            "{msg}"
        );
        assert!(msg.contains("truncated in packet 2"), "{msg}");
        // Cut inside the file header.
        std::fs::write(&tmp.0, &full[..10]).unwrap();
        let msg = open_pcap("p0", &cfg, Arc::default())
            .err()
            .unwrap()
            .to_string();
        assert!(msg.contains("truncated file header"), "{msg}");
        // Not a pcap at all.
        std::fs::write(&tmp.0, [0u8; 64]).unwrap();
        let msg = open_pcap("p0", &cfg, Arc::default())
            .err()
            .unwrap()
            .to_string();
        assert!(msg.contains("not a valid pcap file"), "{msg}");
    }

    #[test]
    fn tx_writes_a_readable_capture() {
        let tmp = TempPath::new("tx");
        let cfg = PcapPortConfig {
            rx_pcap: None,
            tx_pcap: Some(tmp.0.clone()),
            looping: false,
        };
        let stats = Arc::new(PortStats::default());
        let (rx, tx) = open_pcap("p1", &cfg, stats.clone()).unwrap();
        assert!(rx.is_none());
        let frames: Vec<_> = (0..5).map(|i| frame(i, 30)).collect();
        let mut pool = PacketPool::new(DEFAULT_BUF_SIZE, 64);
        let mut batch = PacketBatch::new();
        for f in &frames[..3] {
            batch.push(pool.alloc_from(f).unwrap()).unwrap();
        }
        tx.send(0, &mut batch, &mut pool);
        assert!(batch.is_empty());
        assert_eq!(pool.spare(), 3);
        tx.flush();
        assert_eq!(read_pcap(&tmp.0), frames[..3].to_vec());
        for f in &frames[3..] {
            batch.push(pool.alloc_from(f).unwrap()).unwrap();
        }
        tx.send(1, &mut batch, &mut pool);
        drop(tx);
        assert_eq!(read_pcap(&tmp.0), frames);
        let s = stats.snapshot();
        assert_eq!(s.tx_packets, 5);
        assert_eq!(
            s.tx_bytes,
            frames.iter().map(|f| f.len() as u64).sum::<u64>()
        );
        assert_eq!(s.tx_dropped, 0);
    }

    #[test]
    fn tx_without_file_counts_and_frees() {
        let stats = Arc::new(PortStats::default());
        let (rx, tx) = open_pcap("null", &PcapPortConfig::default(), stats.clone()).unwrap();
        assert!(rx.is_none());
        let mut pool = PacketPool::new(DEFAULT_BUF_SIZE, 64);
        let mut batch = PacketBatch::new();
        batch.push(pool.alloc_from(&frame(1, 0)).unwrap()).unwrap();
        batch.push(pool.alloc_from(&frame(2, 0)).unwrap()).unwrap();
        tx.send(0, &mut batch, &mut pool);
        tx.flush();
        assert!(batch.is_empty());
        assert_eq!(pool.spare(), 2);
        assert_eq!(stats.snapshot().tx_packets, 2);
    }

    #[test]
    fn rx_and_tx_round_trip() {
        let (inp, out) = (TempPath::new("rt-in"), TempPath::new("rt-out"));
        let frames: Vec<_> = (0..50).map(|i| frame(i, i as usize)).collect();
        write_pcap(&inp.0, &frames);
        let cfg = PcapPortConfig {
            rx_pcap: Some(inp.0.clone()),
            tx_pcap: Some(out.0.clone()),
            looping: false,
        };
        let (rx, tx) = open_pcap("p", &cfg, Arc::default()).unwrap();
        let mut rx = rx.unwrap();
        let mut pool = PacketPool::new(DEFAULT_BUF_SIZE, 64);
        let mut batch = PacketBatch::new();
        while !rx.is_exhausted() {
            rx.rx_burst(&mut batch, &mut pool);
            tx.send(0, &mut batch, &mut pool);
        }
        tx.flush();
        assert_eq!(read_pcap(&out.0), frames);
    }
}
