//! `rvs replay`: a capture through the fast path with given megaflows.
//!
//! The flows file holds datapath flows in `dpctl/dump-flows` form. Packets
//! are fed in bursts of 32 to one [`FastPath`] (extract → EMC → dpcls →
//! execute), exactly as a PMD would; outputs go to one capture per port.
//! With no slow path in this command, a packet that matches no megaflow is
//! counted as a miss and dropped. Recirculated packets go through again,
//! up to [`MAX_RECIRC_DEPTH`] passes, as in OVS.

use dpif_netdev::execute::ActionSink;
use dpif_netdev::odp;
use dpif_netdev::packet::{Packet, PacketBatch};
use dpif_netdev::pipeline::{FastPath, MAX_RECIRC_DEPTH};
use dpif_netdev::{DropReason, Megaflow};
use pmd::{read_frames, PcapSink, PortError};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// What `rvs replay` was asked to do.
pub struct Options {
    /// Datapath flows file.
    pub flows: PathBuf,
    /// Input capture.
    pub pcap: PathBuf,
    /// Input port.
    pub in_port: u32,
    /// Output directory.
    pub out_dir: PathBuf,
    /// Passes over the capture.
    pub repeat: u32,
    /// EMC inverse insertion probability.
    pub emc_insert_inv_prob: u32,
}

/// Why `rvs replay` failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The flows file could not be read.
    #[error("{path}: {source}")]
    FlowsIo {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A line of the flows file did not parse.
    #[error("{path}:{line}: {source}")]
    FlowSyntax {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        source: odp::OdpParseError,
    },
    /// Two lines give the same key and mask.
    #[error("{path}:{line}: duplicate flow (same key and mask as an earlier line)")]
    DuplicateFlow {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
    /// The output directory could not be created.
    #[error("{path}: {source}")]
    OutDir {
        /// The directory.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Reading or creating a capture failed.
    #[error(transparent)]
    Pcap(#[from] PortError),
    /// Writing an output capture failed (the error was logged).
    #[error("{0}: cannot write the capture")]
    Write(PathBuf),
}

/// One output capture and how many frames went into it.
struct Output {
    sink: PcapSink,
    path: PathBuf,
    count: u64,
}

/// Collects outputs into per-port captures and counts everything else.
struct ReplaySink {
    out_dir: PathBuf,
    writers: BTreeMap<u32, Output>,
    recirc: Vec<Packet>,
    drops: BTreeMap<DropReason, u64>,
    userspace: u64,
    error: Option<ReplayError>,
}

impl ActionSink for ReplaySink {
    fn output(&mut self, port: u32, pkt: Packet) {
        if self.error.is_some() {
            return;
        }
        let w = match self.writers.entry(port) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(v) => {
                let path = self.out_dir.join(format!("port-{port}.pcap"));
                match PcapSink::create(&format!("{port}"), &path) {
                    Ok(sink) => v.insert(Output {
                        sink,
                        path,
                        count: 0,
                    }),
                    Err(e) => {
                        self.error = Some(e.into());
                        return;
                    }
                }
            }
        };
        if w.sink.write(pkt.data()) {
            w.count += 1;
        } else {
            self.error = Some(ReplayError::Write(w.path.clone()));
        }
    }

    fn recirculate(&mut self, pkt: Packet) {
        self.recirc.push(pkt);
    }

    fn userspace(&mut self, _pkt: Packet, _cookie: u64) {
        self.userspace += 1;
    }

    fn dropped(&mut self, _pkt: Packet, reason: DropReason) {
        *self.drops.entry(reason).or_default() += 1;
    }
}

/// Runs the replay and returns the report to print.
pub fn run(opts: &Options) -> Result<String, ReplayError> {
    let text = std::fs::read_to_string(&opts.flows).map_err(|source| ReplayError::FlowsIo {
        path: opts.flows.clone(),
        source,
    })?;
    let mut fp = FastPath::new(
        dpif_netdev::emc::DEFAULT_ENTRIES,
        opts.emc_insert_inv_prob,
        1,
    );
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let (key, mask, actions) =
            odp::parse_flow(line).map_err(|source| ReplayError::FlowSyntax {
                path: opts.flows.clone(),
                line: n + 1,
                source,
            })?;
        let flow = Arc::new(Megaflow::new(&key, mask, actions, n as u128 + 1));
        fp.dpcls
            .insert(flow)
            .map_err(|_| ReplayError::DuplicateFlow {
                path: opts.flows.clone(),
                line: n + 1,
            })?;
    }

    let frames = read_frames(&opts.pcap)?;
    std::fs::create_dir_all(&opts.out_dir).map_err(|source| ReplayError::OutDir {
        path: opts.out_dir.clone(),
        source,
    })?;
    let mut sink = ReplaySink {
        out_dir: opts.out_dir.clone(),
        writers: BTreeMap::new(),
        recirc: Vec::new(),
        drops: BTreeMap::new(),
        userspace: 0,
        error: None,
    };
    let start = Instant::now();
    let mut misses = 0u64;
    let mut batch = PacketBatch::new();
    for _ in 0..opts.repeat {
        for chunk in frames.chunks(dpif_netdev::packet::MAX_BURST) {
            for frame in chunk {
                let mut p = Packet::from_bytes(frame);
                p.md.in_port = opts.in_port;
                // Cannot fail: chunks are at most a burst.
                let _ = batch.push(p);
            }
            let now = start.elapsed().as_millis() as u64 + 1;
            fp.process(&mut batch, now, &mut sink, |_, _| misses += 1);
            let mut depth = 1;
            while !sink.recirc.is_empty() {
                let pkts = std::mem::take(&mut sink.recirc);
                if depth >= MAX_RECIRC_DEPTH {
                    for p in pkts {
                        sink.dropped(p, DropReason::RecircDepth);
                    }
                    break;
                }
                for p in pkts {
                    if let Err(p) = batch.push(p) {
                        fp.process(&mut batch, now, &mut sink, |_, _| misses += 1);
                        let _ = batch.push(p);
                    }
                }
                fp.process(&mut batch, now, &mut sink, |_, _| misses += 1);
                depth += 1;
            }
        }
    }
    if let Some(e) = sink.error.take() {
        return Err(e);
    }
    let elapsed_ms = start.elapsed().as_millis() as u64 + 1;

    let mut r = String::new();
    let _ = writeln!(
        r,
        "replayed {} packets from {} on port {} ({} pass{})",
        frames.len() as u64 * opts.repeat as u64,
        opts.pcap.display(),
        opts.in_port,
        opts.repeat,
        if opts.repeat == 1 { "" } else { "es" }
    );
    let s = &fp.stats;
    let _ = writeln!(r, "fast path:");
    let _ = writeln!(r, "  packets received: {}", s.packets);
    let _ = writeln!(r, "  simple match hits: {}", s.simple_hits);
    let _ = writeln!(r, "  emc hits: {}", s.emc_hits);
    if s.emc_plain_hits > 0 {
        let _ = writeln!(r, "  emc plain-lane hits: {}", s.emc_plain_hits);
    }
    let _ = writeln!(r, "  megaflow hits: {}", s.megaflow_hits);
    let avg = if s.megaflow_hits == 0 {
        0.0
    } else {
        s.subtable_probes as f64 / s.megaflow_hits as f64
    };
    let _ = writeln!(r, "  avg. subtable lookups per megaflow hit: {avg:.2}");
    let _ = writeln!(r, "  miss with no megaflow (dropped): {misses}");
    let _ = writeln!(
        r,
        "  malformed (processed on parsed fields): {}",
        s.malformed
    );
    for (reason, n) in &sink.drops {
        let _ = writeln!(r, "  dropped, {}: {n}", reason.description());
    }
    if sink.userspace > 0 {
        let _ = writeln!(
            r,
            "  to userspace (no controller, dropped): {}",
            sink.userspace
        );
    }
    let _ = writeln!(r, "ports:");
    for (port, w) in std::mem::take(&mut sink.writers) {
        let _ = writeln!(
            r,
            "  port {port}: sent {} packets -> {}",
            w.count,
            w.path.display()
        );
        let mut w = w;
        w.sink.flush();
    }
    let _ = writeln!(r, "megaflows:");
    for f in fp.dpcls.iter() {
        let _ = writeln!(r, "  {}", odp::format_flow(f, elapsed_ms));
    }
    Ok(r)
}
