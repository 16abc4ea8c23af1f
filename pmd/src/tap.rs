//! TAP ports: the bridge's internal (LOCAL) port, a Linux TAP device named
//! after the bridge, as OVS's `internal` interface type on the userspace
//! datapath. The host gets a network interface on the bridge: give it an
//! address and it talks to the hosts behind the switch.
//!
//! Frames the host sends through the device are read by the PMD (one
//! non-blocking `read` per frame, until the burst is full or nothing is
//! left); frames the switch sends to LOCAL are written to it. No
//! `IFF_VNET_HDR`: the kernel computes checksums before handing frames to a
//! TAP device that advertises no offloads, so frames arrive complete.
//! The device exists while the port is open (not persistent) and is
//! created down, as OVS leaves it for the administrator to bring up.
//!
//! The slow path can also send frames into the switch as if the host had
//! sent them through the device ([`TapInjector`]): native tunneling's ARP
//! requests for unresolved next hops leave that way, from the bridge's own
//! address, as OVS sends them from its internal port.
//!
//! # Thread safety
//! The receive half is owned by one PMD. Writes of whole frames to a TAP
//! descriptor are atomic in the kernel, so the transmit half is shared by
//! PMDs without a lock. Injected frames pass through a bounded lock-free
//! queue (any thread pushes, the PMD pops).

#![warn(clippy::undocumented_unsafe_blocks)]

use crate::error::PortError;
use crate::port::{PortHalves, PortStats, RxQueue, TxPort};
use crossbeam::queue::ArrayQueue;
use dpif_netdev::packet::{PacketBatch, PacketPool, MAX_BURST};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::Arc;

/// Longest interface name (IFNAMSIZ - 1).
pub const MAX_IFNAME: usize = 15;
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const IFF_TAP: libc::c_short = 0x0002;
const IFF_NO_PI: libc::c_short = 0x1000;
/// Largest frame read from the device (MTU up to 9000 plus headers).
const MAX_FRAME: usize = 9216;
/// Injected frames waiting for the PMD, at most.
const INJECT_CAPACITY: usize = 256;

/// Sends frames into the switch as if they came from the TAP device.
#[derive(Clone)]
pub struct TapInjector {
    queue: Arc<ArrayQueue<Vec<u8>>>,
}

impl TapInjector {
    /// Queues one frame; false when the queue is full (the frame is
    /// dropped).
    pub fn inject(&self, frame: Vec<u8>) -> bool {
        self.queue.push(frame).is_ok()
    }
}

/// `struct ifreq` as TUNSETIFF reads it: a name and flags, padded to the
/// union's size.
#[repr(C)]
struct IfReq {
    name: [libc::c_char; 16],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// Creates TAP device `ifname` for port `name`.
///
/// # Errors
/// [`PortError::Os`] when `/dev/net/tun` cannot be opened (no TUN support,
/// not permitted) or the device cannot be created (name taken by a device
/// of another kind, or by a TAP another process holds).
pub fn open_tap(
    name: &str,
    ifname: &str,
    stats: Arc<PortStats>,
) -> Result<(PortHalves, TapInjector), PortError> {
    let err = |what: &str, source: io::Error| PortError::Os {
        port: name.to_owned(),
        what: format!("TAP device {ifname}: {what}"),
        source,
    };
    if ifname.is_empty() || ifname.len() > MAX_IFNAME || ifname.contains(['/', ' ', '\0']) {
        return Err(err(
            "not a valid interface name (1 to 15 characters, no '/' or spaces)",
            io::ErrorKind::InvalidInput.into(),
        ));
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/net/tun")
        .map_err(|e| err("opening /dev/net/tun", e))?;
    let mut req = IfReq {
        name: [0; 16],
        flags: IFF_TAP | IFF_NO_PI,
        _pad: [0; 22],
    };
    for (d, s) in req.name.iter_mut().zip(ifname.bytes()) {
        *d = s as libc::c_char;
    }
    // SAFETY: TUNSETIFF reads (and may write back the name of) an ifreq;
    // `req` is a live, correctly laid out ifreq for the whole call.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), TUNSETIFF as _, &mut req as *mut IfReq) };
    if rc < 0 {
        return Err(err("creating the device", io::Error::last_os_error()));
    }
    let file = Arc::new(file);
    let queue = Arc::new(ArrayQueue::new(INJECT_CAPACITY));
    let rx = TapRx {
        file: file.clone(),
        stats: stats.clone(),
        scratch: vec![0u8; MAX_FRAME],
        injected: queue.clone(),
    };
    Ok((
        (Box::new(rx), Arc::new(TapTx { file, stats })),
        TapInjector { queue },
    ))
}

/// How long an idle tap may go unpolled (see
/// [`RxQueue::idle_poll_interval_us`]): a `read` that finds nothing costs
/// ~150 ns of a PMD's time, so polling an idle tap every 20 us costs a
/// busy PMD under 1%, and a frame from the host waits at most 20 us more.
/// Frames injected by the slow path wait the same.
const TAP_IDLE_POLL_US: u32 = 20;

struct TapRx {
    file: Arc<File>,
    stats: Arc<PortStats>,
    /// Frames are read here first: a pool buffer may be smaller than what
    /// the host sends, and a short read would cut the frame silently.
    scratch: Vec<u8>,
    /// Frames from the slow path, received before the device's.
    injected: Arc<ArrayQueue<Vec<u8>>>,
}

impl RxQueue for TapRx {
    fn idle_poll_interval_us(&self) -> u32 {
        TAP_IDLE_POLL_US
    }

    fn rx_burst(&mut self, batch: &mut PacketBatch, pool: &mut PacketPool) -> usize {
        let room = MAX_BURST.saturating_sub(batch.len());
        let (mut got, mut bytes, mut dropped) = (0usize, 0u64, 0u64);
        while got < room {
            let Some(f) = self.injected.pop() else {
                break;
            };
            match pool.alloc_from(&f) {
                Ok(p) => {
                    bytes += f.len() as u64;
                    let _ = batch.push(p);
                    got += 1;
                }
                Err(_) => dropped += 1,
            }
        }
        while got < room {
            let n = match (&*self.file).read(&mut self.scratch) {
                Ok(n) => n,
                // WouldBlock: nothing waiting. Other errors (the device was
                // deleted under us) also end the burst; the port stays.
                Err(_) => break,
            };
            match pool.alloc_from(&self.scratch[..n]) {
                Ok(p) if n >= 14 => {
                    bytes += n as u64;
                    let _ = batch.push(p);
                    got += 1;
                }
                Ok(p) => {
                    pool.free(p);
                    dropped += 1;
                }
                Err(_) => dropped += 1,
            }
        }
        PortStats::add(&self.stats.rx_packets, got as u64);
        PortStats::add(&self.stats.rx_bytes, bytes);
        PortStats::add(&self.stats.rx_dropped, dropped);
        got
    }
}

struct TapTx {
    file: Arc<File>,
    stats: Arc<PortStats>,
}

impl TxPort for TapTx {
    fn send(&self, _qid: usize, batch: &mut PacketBatch, pool: &mut PacketPool) {
        let (mut sent, mut bytes, mut dropped) = (0u64, 0u64, 0u64);
        for p in batch.drain() {
            // A TAP device that is down refuses writes (EIO): counted.
            match (&*self.file).write(p.data()) {
                Ok(n) if n == p.len() => {
                    sent += 1;
                    bytes += n as u64;
                }
                _ => dropped += 1,
            }
            pool.free(p);
        }
        PortStats::add(&self.stats.tx_packets, sent);
        PortStats::add(&self.stats.tx_bytes, bytes);
        PortStats::add(&self.stats.tx_dropped, dropped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_names_are_refused_before_any_system_call() {
        for bad in ["", "a-name-that-is-too-long", "a/b", "a b"] {
            let e = open_tap("LOCAL", bad, Arc::default()).err().unwrap();
            assert!(e.to_string().contains("not a valid interface name"), "{e}");
        }
    }
}
