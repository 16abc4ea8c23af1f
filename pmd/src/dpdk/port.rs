//! The receive queues and transmit side of a DPDK port.
//!
//! Receive: one [`RxQueue`] per device queue; a burst is one
//! `rte_eth_rx_burst` through the shim, which also returns a view of each
//! mbuf, and each mbuf becomes a packet without a copy (see [`super::mbuf`]).
//! The NIC's RSS hash, when the device gives one, goes into the packet's
//! metadata.
//!
//! Transmit: the device's queues, each behind its own mutex. PMD `i`
//! sends on queue `i % n_txq`: with one queue per PMD (the default
//! `n_txq`) no two PMDs share a queue and the lock is never contended (an
//! uncontended lock per burst of up to 32 packets); with fewer queues
//! than PMDs, PMDs share queues and the lock serialises them, as OVS's
//! XPS spinlocks do. Packets the device does not take are freed and
//! counted in `tx_dropped`.
//!
//! # Thread safety
//! A receive queue is `Send` and polled by one PMD at a time (it moves
//! between PMDs only by value, when queues are reassigned). The transmit
//! side is shared by `Arc`; its queues' scratch arrays are only touched
//! under their mutex. The device is closed when the last queue and the
//! transmit side are gone, i.e. after every PMD has let go of the port.

use super::ethdev::{DeviceSetup, DeviceStats, EthDev, LinkState};
use super::mbuf::{frame_len, into_mbuf, mbuf_from_frame, packet_from_mbuf, rx_view, set_tx_frame};
use super::DpdkError;
use crate::port::{PortStats, RxQueue, TxPort};
use dpdk_sys::rte_mbuf;
use dpif_netdev::packet::{PacketBatch, PacketPool, MAX_BURST};
use std::sync::{Arc, Mutex};

/// Settings of a DPDK port (`type = "dpdk"` in the config).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpdkPortConfig {
    /// What to attach: a PCI address or a virtual device with its
    /// arguments (`net_pcap0,rx_pcap=in.pcap`).
    pub devargs: String,
    /// Receive queues (RSS spreads flows over them).
    pub n_rxq: u16,
    /// Transmit queues; `None`: one per PMD, or as many as the device
    /// has when that is fewer (PMDs then share them).
    pub n_txq: Option<u16>,
    /// Receive descriptors per queue.
    pub rxq_size: u16,
    /// Transmit descriptors per queue.
    pub txq_size: u16,
    /// MTU.
    pub mtu: u16,
}

impl Default for DpdkPortConfig {
    fn default() -> Self {
        DpdkPortConfig {
            devargs: String::new(),
            n_rxq: 1,
            n_txq: None,
            rxq_size: 2048,
            txq_size: 2048,
            mtu: 1500,
        }
    }
}

/// A DPDK port's receive queues and transmit side.
pub type DpdkPort = (Vec<Box<dyn RxQueue>>, Arc<DpdkTx>);

/// Opens DPDK port `name` for a datapath of `n_pmds` PMDs: its receive
/// queues and transmit side. The EAL must be initialised
/// ([`super::eal_init`]).
pub fn open_dpdk(
    name: &str,
    cfg: &DpdkPortConfig,
    n_pmds: usize,
    stats: Arc<PortStats>,
) -> Result<DpdkPort, DpdkError> {
    let n_pmds = n_pmds.clamp(1, u16::MAX as usize) as u16;
    let setup = DeviceSetup {
        n_rxq: cfg.n_rxq,
        n_txq: cfg.n_txq.unwrap_or(n_pmds),
        n_txq_explicit: cfg.n_txq.is_some(),
        rxq_size: cfg.rxq_size,
        txq_size: cfg.txq_size,
        mtu: cfg.mtu,
    };
    // Beyond the descriptors: a burst and a cache for every PMD, and
    // mbufs held in upcall queues and other devices' rings.
    let extra = n_pmds as u32 * (MAX_BURST as u32 + super::mempool::CACHE_SIZE * 3 / 2) + 16384;
    let dev = Arc::new(EthDev::open(name, &cfg.devargs, &setup, extra)?);
    let rxqs = (0..dev.n_rxq())
        .map(|q| {
            Box::new(DpdkRxq {
                dev: dev.clone(),
                qid: q,
                mbufs: [std::ptr::null_mut(); MAX_BURST],
                stats: stats.clone(),
            }) as Box<dyn RxQueue>
        })
        .collect();
    let queues = (0..dev.n_txq())
        .map(|_| {
            Mutex::new(TxScratch {
                mbufs: [std::ptr::null_mut(); MAX_BURST],
            })
        })
        .collect();
    Ok((rxqs, Arc::new(DpdkTx { dev, queues, stats })))
}

/// One receive queue of a DPDK port.
pub struct DpdkRxq {
    dev: Arc<EthDev>,
    qid: u16,
    mbufs: [*mut rte_mbuf; MAX_BURST],
    stats: Arc<PortStats>,
}

// SAFETY: the raw pointers are scratch space filled and emptied within
// one rx_burst call; between calls they own nothing. The queue itself is
// polled by one thread at a time (`&mut self`), which is all DPDK asks of
// an rx queue.
unsafe impl Send for DpdkRxq {}

impl DpdkRxq {
    /// Receives up to `room` (at most [`MAX_BURST`]) mbufs into the
    /// queue's scratch array and returns how many. They are the caller's
    /// to hand on, with [`DpdkRxq::wrap`] or [`super::direct`], before the
    /// next call.
    #[inline]
    pub fn receive(&mut self, room: usize) -> usize {
        let room = room.min(MAX_BURST);
        if room == 0 {
            return 0;
        }
        // SAFETY: a started device and queue owned by this thread; the
        // array has room for `room` <= MAX_BURST entries.
        (unsafe {
            dpdk_sys::rvs_rx_burst(
                self.dev.port_id(),
                self.qid,
                self.mbufs.as_mut_ptr(),
                room as u16,
            )
        }) as usize
    }

    /// The first `n` mbufs of the last [`DpdkRxq::receive`].
    #[inline]
    pub(crate) fn received(&self, n: usize) -> &[*mut rte_mbuf] {
        &self.mbufs[..n.min(MAX_BURST)]
    }

    /// The port's counters.
    pub(crate) fn stats(&self) -> &PortStats {
        &self.stats
    }

    /// Makes packets of the first `n` mbufs of the last
    /// [`DpdkRxq::receive`] into `batch` (which must have room for them)
    /// and counts them; returns how many became packets (the rest were
    /// dropped and counted).
    pub fn wrap(&mut self, n: usize, batch: &mut PacketBatch, pool: &mut PacketPool) -> usize {
        let n = n.min(MAX_BURST);
        let (mut got, mut bytes, mut dropped) = (0usize, 0u64, 0u64);
        for &m in &self.mbufs[..n] {
            // SAFETY: m was just handed to us by rx_burst.
            let v = unsafe { rx_view(m) };
            let pkt = if v.chained {
                None
            } else if v.shared {
                // Not ours alone: copy, then let go of the mbuf.
                // SAFETY: the view describes m's live data room.
                let frame = unsafe {
                    std::slice::from_raw_parts(
                        v.buf_addr.add(v.data_off as usize),
                        v.data_len as usize,
                    )
                };
                let p = pool.alloc_from(frame).ok();
                // SAFETY: m was handed to us by rx_burst and is not kept.
                unsafe { dpdk_sys::rvs_pktmbuf_free(m) };
                p
            } else {
                // SAFETY: a single-segment, unshared mbuf just received
                // and handed over; its view came from it.
                unsafe { packet_from_mbuf(pool, m, &v) }
            };
            match pkt {
                Some(mut p) => {
                    if let Some(h) = v.rss {
                        p.md.rss_hash = h;
                        p.md.rss_valid = true;
                    }
                    bytes += p.len() as u64;
                    // Cannot fail: n is at most the batch's free room.
                    let _ = batch.push(p);
                    got += 1;
                }
                None => {
                    if v.chained {
                        // SAFETY: ours; frees the whole chain.
                        unsafe { dpdk_sys::rvs_pktmbuf_free(m) };
                    }
                    dropped += 1;
                }
            }
        }
        if n > 0 {
            PortStats::add(&self.stats.rx_packets, got as u64);
            PortStats::add(&self.stats.rx_bytes, bytes);
            if dropped > 0 {
                PortStats::add(&self.stats.rx_dropped, dropped);
            }
        }
        got
    }
}

impl RxQueue for DpdkRxq {
    fn rx_burst(&mut self, batch: &mut PacketBatch, pool: &mut PacketPool) -> usize {
        let n = self.receive(MAX_BURST.saturating_sub(batch.len()));
        self.wrap(n, batch, pool)
    }

    fn as_dpdk(&mut self) -> Option<&mut DpdkRxq> {
        Some(self)
    }
}

struct TxScratch {
    mbufs: [*mut rte_mbuf; MAX_BURST],
}

// SAFETY: the pointers are filled and handed to the device (or freed)
// within one `send`, under the queue's mutex; between calls they own
// nothing.
unsafe impl Send for TxScratch {}

/// The transmit side of a DPDK port, which also answers for the device
/// (statistics, link).
pub struct DpdkTx {
    dev: Arc<EthDev>,
    queues: Vec<Mutex<TxScratch>>,
    stats: Arc<PortStats>,
}

impl DpdkTx {
    /// The device.
    pub fn device(&self) -> &EthDev {
        &self.dev
    }
}

impl DpdkTx {
    /// Sends `mbufs` on queue `qid % n_txq` (taking its lock), as
    /// [`TxPort::send`] does with packets: what the device does not take is
    /// freed and counted as dropped.
    ///
    /// # Safety
    /// Every pointer must be a valid, single-segment mbuf that the caller
    /// owns and hands over, its frame set for transmit ([`set_tx_frame`];
    /// one sent as received needs nothing when its receive set no
    /// transmit offload flags, [`super::mbuf::RxView::tx_offloads`]);
    /// `bytes` their frame bytes.
    #[inline]
    pub(crate) unsafe fn send_mbufs(&self, qid: usize, mbufs: &mut [*mut rte_mbuf], bytes: u64) {
        let q = qid % self.queues.len();
        let _queue = self.queues[q].lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: the queue's lock is held; the caller's contract.
        unsafe { self.transmit(q, mbufs, bytes, 0) };
    }

    /// Hands `mbufs` to device queue `q`, frees and counts what it does
    /// not take, and counts the rest (`bytes` in all) and `dropped`
    /// packets the caller could not send.
    ///
    /// # Safety
    /// The caller holds queue `q`'s lock; the mbufs are as in
    /// [`DpdkTx::send_mbufs`].
    unsafe fn transmit(
        &self,
        q: usize,
        mbufs: &mut [*mut rte_mbuf],
        mut bytes: u64,
        mut dropped: u64,
    ) {
        let k = mbufs.len().min(MAX_BURST);
        if k == 0 {
            if dropped > 0 {
                PortStats::add(&self.stats.tx_dropped, dropped);
            }
            return;
        }
        // SAFETY: a started device; queue q is used only under its lock
        // (the caller's contract); the array holds k valid mbufs we own,
        // their frames set.
        let sent = unsafe {
            dpdk_sys::rvs_tx_burst(self.dev.port_id(), q as u16, mbufs.as_mut_ptr(), k as u16)
        } as usize;
        if sent < k {
            for &m in &mbufs[sent..k] {
                // SAFETY: the device did not take these; still ours.
                bytes -= unsafe { frame_len(m) } as u64;
            }
            // SAFETY: as above.
            unsafe {
                dpdk_sys::rvs_pktmbuf_free_n(mbufs.as_mut_ptr().add(sent), (k - sent) as u32)
            };
            dropped += (k - sent) as u64;
        }
        PortStats::add(&self.stats.tx_packets, sent as u64);
        PortStats::add(&self.stats.tx_bytes, bytes);
        if dropped > 0 {
            PortStats::add(&self.stats.tx_dropped, dropped);
        }
    }
}

impl TxPort for DpdkTx {
    fn send(&self, qid: usize, batch: &mut PacketBatch, pool: &mut PacketPool) {
        let q = qid % self.queues.len();
        let mut s = self.queues[q].lock().unwrap_or_else(|e| e.into_inner());
        let s = &mut *s;
        let (mut k, mut dropped, mut bytes) = (0usize, 0u64, 0u64);
        for p in batch.drain() {
            let m = match into_mbuf(pool, p) {
                Ok(m) => Some(m),
                Err(p) => {
                    let m = mbuf_from_frame(self.dev.pool(), p.data());
                    pool.free(p);
                    m
                }
            };
            // A batch holds at most MAX_BURST packets, so k stays in range.
            match m {
                Some((m, off, len)) if k < MAX_BURST => {
                    // SAFETY: ours (into_mbuf / mbuf_from_frame), one
                    // segment, off + len within its data room.
                    unsafe { set_tx_frame(m, off, len) };
                    s.mbufs[k] = m.as_ptr();
                    bytes += len as u64;
                    k += 1;
                }
                Some((m, _, _)) => {
                    // SAFETY: ours, not handed to the device.
                    unsafe { dpdk_sys::rvs_pktmbuf_free(m.as_ptr()) };
                    dropped += 1;
                }
                None => dropped += 1,
            }
        }
        // SAFETY: the lock on queue q is held (`s`); the mbufs are ours,
        // single-segment, their frames set.
        unsafe { self.transmit(q, &mut s.mbufs[..k], bytes, dropped) };
    }

    fn as_dpdk(&self) -> Option<&DpdkTx> {
        Some(self)
    }

    fn device_stats(&self) -> Option<crate::port::DeviceCounters> {
        self.dev
            .stats()
            .map(|s: DeviceStats| crate::port::DeviceCounters {
                rx_packets: s.rx_packets,
                rx_bytes: s.rx_bytes,
                rx_dropped: s.rx_dropped,
                rx_errors: s.rx_errors,
                tx_packets: s.tx_packets,
                tx_bytes: s.tx_bytes,
                // rte_eth_stats has no transmit drop counter: packets the
                // device refuses are the driver's (PortStats::tx_dropped).
                tx_dropped: 0,
                tx_errors: s.tx_errors,
            })
    }

    fn xstats(&self) -> Option<Result<Vec<(String, u64)>, String>> {
        Some(self.dev.xstats().map_err(|e| e.to_string()))
    }

    fn link_up(&self) -> Option<bool> {
        self.dev.link().map(|l: LinkState| l.up)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! Plan: one EAL per test process (`--no-huge --no-pci`), and a
    //! `net_ring` device per test: with no arguments its transmit and
    //! receive share one ring, so whatever the transmit side sends comes
    //! back on the receive queue, through DPDK's real burst functions and
    //! mbufs. That shows a received packet's bytes are the mbuf's (the
    //! same address after a round trip: no copy), that a header pushed
    //! into the headroom reaches the wire, that heap packets are copied in,
    //! and that counters add up.

    use super::*;
    use crate::dpdk::eal;
    use dpif_netdev::packet::{Packet, DEFAULT_BUF_SIZE};

    fn eal_up() {
        let args: Vec<String> = [
            "--no-huge",
            "-m",
            "256",
            "--no-shconf",
            "--no-pci",
            "-l",
            "0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        eal::init(&args).expect("EAL init with --no-huge");
    }

    fn frame(n: u8, len: usize) -> Vec<u8> {
        let mut f = vec![n; len];
        f[..12].copy_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f
    }

    pub(crate) fn ring_port(name: &str) -> (Vec<Box<dyn RxQueue>>, Arc<DpdkTx>, Arc<PortStats>) {
        eal_up();
        let stats = Arc::new(PortStats::default());
        let cfg = DpdkPortConfig {
            devargs: name.into(),
            rxq_size: 256,
            txq_size: 256,
            ..DpdkPortConfig::default()
        };
        let (rx, tx) = open_dpdk(name, &cfg, 1, stats.clone()).expect("open net_ring");
        (rx, tx, stats)
    }

    pub(crate) fn rx_all(rx: &mut dyn RxQueue, pool: &mut PacketPool) -> Vec<Packet> {
        let mut batch = PacketBatch::new();
        let mut out = Vec::new();
        for _ in 0..100 {
            rx.rx_burst(&mut batch, pool);
            out.extend(batch.drain());
            if !out.is_empty() {
                break;
            }
        }
        out
    }

    #[test]
    fn round_trip_keeps_the_mbuf_and_pushed_headers() {
        let (mut rxqs, tx, stats) = ring_port("net_ring0");
        let mut pool = PacketPool::new(DEFAULT_BUF_SIZE, 64);
        let mut batch = PacketBatch::new();
        let frames: Vec<_> = (0..4).map(|i| frame(i, 60 + i as usize)).collect();
        for f in &frames {
            batch.push(Packet::from_bytes(f)).unwrap();
        }
        // Heap packets are copied into mbufs.
        tx.send(0, &mut batch, &mut pool);
        let got = rx_all(rxqs[0].as_mut(), &mut pool);
        assert_eq!(
            got.iter().map(|p| p.data().to_vec()).collect::<Vec<_>>(),
            frames
        );
        let addrs: Vec<_> = got.iter().map(|p| p.data().as_ptr() as usize).collect();

        // Send the received (mbuf) packets back, one with a pushed tag:
        // the same buffers come back.
        for (i, mut p) in got.into_iter().enumerate() {
            if i == 0 {
                let d = p.push_head(4).unwrap();
                let mac: Vec<u8> = d[4..16].to_vec();
                d[..12].copy_from_slice(&mac);
                d[12..16].copy_from_slice(&[0x81, 0x00, 0x00, 0x0a]);
            }
            batch.push(p).unwrap();
        }
        tx.send(0, &mut batch, &mut pool);
        let again = rx_all(rxqs[0].as_mut(), &mut pool);
        assert_eq!(again.len(), 4);
        assert_eq!(again[0].data().as_ptr() as usize, addrs[0] - 4, "no copy");
        for (p, a) in again.iter().zip(&addrs).skip(1) {
            assert_eq!(p.data().as_ptr() as usize, *a, "no copy");
        }
        let mut tagged = frames[0][..12].to_vec();
        tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x0a]);
        tagged.extend_from_slice(&frames[0][12..]);
        assert_eq!(again[0].data(), &tagged[..]);
        drop(again);
        let s = stats.snapshot();
        assert_eq!((s.rx_packets, s.tx_packets), (8, 8));
        assert_eq!(s.tx_dropped, 0);
        assert!(tx.device_stats().is_some());
        assert!(tx.xstats().unwrap().is_ok());
    }

    #[test]
    fn bad_devargs_and_settings_are_errors() {
        eal_up();
        let stats = Arc::new(PortStats::default());
        let bad = DpdkPortConfig {
            devargs: "net_nosuchdriver0".into(),
            ..DpdkPortConfig::default()
        };
        let e = open_dpdk("p", &bad, 1, stats.clone())
            .err()
            .expect("must fail");
        assert!(
            e.to_string()
                .starts_with("devargs \"net_nosuchdriver0\": cannot attach the device"),
            "{e}"
        );
        let too_many = DpdkPortConfig {
            devargs: "net_ring1".into(),
            n_rxq: 64,
            ..DpdkPortConfig::default()
        };
        let e = open_dpdk("p", &too_many, 1, stats.clone())
            .err()
            .expect("must fail");
        assert!(
            e.to_string().starts_with("n_rxq: 64 receive queues asked"),
            "{e}"
        );
        // The failed open detached the device: it can be opened again.
        let ok = DpdkPortConfig {
            devargs: "net_ring1".into(),
            rxq_size: 256,
            txq_size: 256,
            ..DpdkPortConfig::default()
        };
        let (_rx, _tx) = open_dpdk("p", &ok, 1, stats.clone()).expect("reopen");
        let e = open_dpdk("q", &ok, 1, stats).err().expect("in use");
        assert!(e.to_string().contains("already used by port p"), "{e}");
    }
}
