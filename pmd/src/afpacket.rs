//! AF_PACKET ports: a Linux network interface (a veth, a physical NIC
//! without DPDK, ...) attached through memory-mapped packet rings, in pure
//! Rust.
//!
//! Geometry: one `SOCK_RAW` AF_PACKET socket per port with a TPACKET_V2
//! receive ring of [`RX_FRAMES`] frames and a transmit ring of
//! [`TX_FRAMES`] frames, both mapped into this process. Receiving is a
//! poll of the next frame's status word: no system call per packet or per
//! burst. Transmitting writes frames into the ring and kicks the kernel
//! with one `sendto` per burst. Frames are copied out of the receive ring
//! into pool buffers (the ring slot goes back to the kernel at once) and
//! into the transmit ring from the packet.
//!
//! What the kernel does to frames, undone here:
//! - VLAN offload: the outer tag is taken out of the frame into the ring
//!   header (`TP_STATUS_VLAN_VALID`); it is put back into the frame.
//! - Transmit checksum offload of the sending host (veth, TAP): frames
//!   arrive with a partial TCP/UDP checksum (`TP_STATUS_CSUMNOTREADY`); the
//!   full checksum is computed, so the switch forwards correct packets
//!   without asking anyone to turn offloads off. The socket asks for a
//!   `virtio_net_hdr` in front of each frame (`PACKET_VNET_HDR`), which
//!   says where the partial checksum is: for a packet a kernel VXLAN
//!   device encapsulated it is the inner TCP/UDP checksum, not the outer
//!   one. (Where the kernel refuses the option, the outermost TCP/UDP
//!   checksum is completed instead.) Transmitted frames then carry an
//!   all-zero header: no offload asked of the kernel.
//! - Frames whose payload exceeds the interface MTU (GSO super-frames from
//!   a host with TSO/GSO on, or a misconfigured peer) are counted in
//!   `rx_dropped` and dropped, as are frames truncated by the ring.
//!
//! The socket is promiscuous (membership, removed when the socket closes),
//! ignores its own transmissions (`PACKET_IGNORE_OUTGOING`), and survives
//! the interface going down and up again: the kernel unhooks and rehooks a
//! bound packet socket on its own, so the port resumes without a restart.
//! While the link is down transmits fail and are counted as drops.
//!
//! # Thread safety
//! The receive half is owned by one PMD thread; the transmit half is shared
//! by every PMD and serialised by a mutex held for one burst. Each ring
//! slot is owned by the kernel or by us according to its `tp_status` word:
//! we read a slot only after an acquire load sees it handed to user space,
//! and give it back with a release store after our last access; the kernel
//! does the same on its side.

#![warn(clippy::undocumented_unsafe_blocks)]

use crate::error::PortError;
use crate::port::{PortHalves, PortStats, RxQueue, TxPort};
use dpif_netdev::packet::{PacketBatch, PacketPool, MAX_BURST};
use dpif_netdev::wire::csum_complete::{complete_l4_checksum, complete_partial_checksum};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// Receive ring frames.
pub const RX_FRAMES: usize = 2048;
/// Transmit ring frames.
pub const TX_FRAMES: usize = 512;
/// Ring block size (a multiple of the page size and of the frame size).
const BLOCK_SIZE: usize = 1 << 16;
/// Where frame data starts in a transmit slot: the aligned V2 header
/// (the kernel's `TPACKET2_HDRLEN - sizeof(struct sockaddr_ll)`).
const TX_DATA_OFFSET: usize = 32;
/// `struct virtio_net_hdr` (without `num_buffers`).
const VNET_HDR_LEN: usize = 10;
/// `virtio_net_hdr.flags`: the checksum at csum_start/csum_offset is
/// partial.
const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;
const PACKET_VNET_HDR: libc::c_int = 15;
const ETH_HLEN: usize = 14;
const VLAN_HLEN: usize = 4;

// The ring ABI (linux/if_packet.h). Status bits of a slot.
const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
const TP_STATUS_CSUMNOTREADY: u32 = 1 << 3;
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
const TP_STATUS_VLAN_TPID_VALID: u32 = 1 << 6;
const TP_STATUS_AVAILABLE: u32 = 0;
const TP_STATUS_SEND_REQUEST: u32 = 1;
const TP_STATUS_WRONG_FORMAT: u32 = 1 << 2;

/// Settings of an AF_PACKET port.
#[derive(Clone, Debug)]
pub struct AfPacketConfig {
    /// The port's name (for errors and logs).
    pub name: String,
    /// The Linux interface.
    pub iface: String,
}

/// The mapped rings of one socket.
struct Rings {
    fd: OwnedFd,
    map: *mut u8,
    map_len: usize,
    frame_size: usize,
    /// Whether frames carry a `virtio_net_hdr` (both directions).
    vnet: bool,
}

// SAFETY: `map` points to a shared mapping that lives as long as `Rings`;
// slot ownership between threads is decided by the status words (module
// docs): the receive half and the transmit half never touch each other's
// slots, and the transmit half is behind a mutex.
unsafe impl Send for Rings {}
// SAFETY: as above.
unsafe impl Sync for Rings {}

impl Drop for Rings {
    fn drop(&mut self) {
        // SAFETY: `map`/`map_len` are exactly what mmap returned, and no
        // reference into the mapping outlives `Rings` (both halves hold
        // it by `Arc`).
        unsafe {
            libc::munmap(self.map.cast(), self.map_len);
        }
    }
}

impl Rings {
    /// Start of receive slot `i` (< RX_FRAMES).
    fn rx_slot(&self, i: usize) -> *mut u8 {
        debug_assert!(i < RX_FRAMES);
        // SAFETY: in bounds: RX_FRAMES slots of `frame_size` come first in
        // the mapping.
        unsafe { self.map.add(i * self.frame_size) }
    }

    /// Start of transmit slot `i` (< TX_FRAMES).
    fn tx_slot(&self, i: usize) -> *mut u8 {
        debug_assert!(i < TX_FRAMES);
        // SAFETY: in bounds: the transmit ring follows the receive ring.
        unsafe { self.map.add((RX_FRAMES + i) * self.frame_size) }
    }

    /// The status word of a slot.
    fn status(slot: *mut u8) -> &'static AtomicU32 {
        // SAFETY: every slot starts with the 4-byte aligned `tp_status`
        // (slots are `frame_size`-aligned in a page-aligned mapping); the
        // kernel updates it concurrently, so it is only accessed
        // atomically. The 'static lifetime is never exposed beyond a
        // `Rings` borrow.
        unsafe { &*(slot as *const AtomicU32) }
    }
}

/// Opens an AF_PACKET port on `cfg.iface`.
///
/// # Errors
/// [`PortError::Os`] naming the interface and the step that failed (no
/// such interface, not permitted, ...).
pub fn open_afpacket(cfg: &AfPacketConfig, stats: Arc<PortStats>) -> Result<PortHalves, PortError> {
    let err = |what: &str, source: io::Error| PortError::Os {
        port: cfg.name.clone(),
        what: format!("interface {}: {what}", cfg.iface),
        source,
    };
    let cname = std::ffi::CString::new(cfg.iface.as_str())
        .map_err(|_| err("bad name", io::ErrorKind::InvalidInput.into()))?;
    // SAFETY: `cname` is a valid NUL-terminated string.
    let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) };
    if ifindex == 0 {
        return Err(err("no such interface", io::Error::last_os_error()));
    }
    let mtu = read_mtu(&cfg.iface).map_err(|e| err("reading the MTU", e))?;
    // Room in a frame for headroom, a reinserted tag and an MTU frame.
    let frame_size = (mtu + 256).next_power_of_two().max(2048);
    if frame_size > BLOCK_SIZE {
        return Err(err(
            "MTU too large for the packet ring",
            io::ErrorKind::InvalidInput.into(),
        ));
    }

    // Protocol 0 until the rings exist, so nothing is queued before.
    // SAFETY: plain socket(2) call; the result is checked.
    let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(err(
            "cannot open AF_PACKET socket",
            io::Error::last_os_error(),
        ));
    }
    // SAFETY: `raw` is a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let s = fd.as_raw_fd();

    setsockopt(
        s,
        libc::PACKET_VERSION,
        &(libc::tpacket_versions::TPACKET_V2 as libc::c_int),
    )
    .map_err(|e| err("PACKET_VERSION", e))?;
    let one: libc::c_int = 1;
    setsockopt(s, libc::PACKET_LOSS, &one).map_err(|e| err("PACKET_LOSS", e))?;
    setsockopt(s, libc::PACKET_IGNORE_OUTGOING, &one)
        .map_err(|e| err("PACKET_IGNORE_OUTGOING", e))?;
    let vnet = setsockopt(s, PACKET_VNET_HDR, &one).is_ok();
    if !vnet {
        tracing::info!(iface = %cfg.iface, "no PACKET_VNET_HDR: outer checksums completed");
    }
    let frames_per_block = BLOCK_SIZE / frame_size;
    let req = |frames: usize| libc::tpacket_req {
        tp_block_size: BLOCK_SIZE as u32,
        tp_block_nr: frames.div_ceil(frames_per_block) as u32,
        tp_frame_size: frame_size as u32,
        tp_frame_nr: frames as u32,
    };
    // Frame counts are multiples of frames_per_block (powers of two up to
    // 32), so the rings have no gaps and slot i is at i * frame_size.
    setsockopt(s, libc::PACKET_RX_RING, &req(RX_FRAMES)).map_err(|e| err("PACKET_RX_RING", e))?;
    setsockopt(s, libc::PACKET_TX_RING, &req(TX_FRAMES)).map_err(|e| err("PACKET_TX_RING", e))?;
    let map_len = (RX_FRAMES + TX_FRAMES) * frame_size;
    // SAFETY: maps the rings the kernel just made for this socket; the
    // result is checked against MAP_FAILED.
    let map = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            map_len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            s,
            0,
        )
    };
    if map == libc::MAP_FAILED {
        return Err(err("mapping the packet rings", io::Error::last_os_error()));
    }
    let rings = Arc::new(Rings {
        fd,
        map: map.cast(),
        map_len,
        frame_size,
        vnet,
    });

    let mreq = libc::packet_mreq {
        mr_ifindex: ifindex as libc::c_int,
        mr_type: libc::PACKET_MR_PROMISC as libc::c_ushort,
        mr_alen: 0,
        mr_address: [0; 8],
    };
    setsockopt(s, libc::PACKET_ADD_MEMBERSHIP, &mreq).map_err(|e| err("promiscuous mode", e))?;

    // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
    sll.sll_ifindex = ifindex as i32;
    // SAFETY: `sll` is a valid sockaddr_ll and its size is passed.
    let rc = unsafe {
        libc::bind(
            s,
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if rc < 0 {
        return Err(err("bind", io::Error::last_os_error()));
    }

    let rx = AfRx {
        rings: rings.clone(),
        next: 0,
        mtu,
        stats: stats.clone(),
    };
    let tx = AfTx {
        rings,
        next: Mutex::new(0),
        stats,
    };
    Ok((Box::new(rx), Arc::new(tx)))
}

fn setsockopt<T>(fd: libc::c_int, opt: libc::c_int, v: &T) -> io::Result<()> {
    // SAFETY: `v` points to a live T of the size passed; the kernel reads
    // it during the call only.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_PACKET,
            opt,
            (v as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn read_mtu(iface: &str) -> io::Result<usize> {
    let s = std::fs::read_to_string(format!("/sys/class/net/{iface}/mtu"))?;
    s.trim()
        .parse()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "unreadable MTU"))
}

/// The receive half.
struct AfRx {
    rings: Arc<Rings>,
    /// Next receive slot to look at.
    next: usize,
    mtu: usize,
    stats: Arc<PortStats>,
}

/// The fields of a `tpacket2_hdr` (and `virtio_net_hdr`) the receive
/// path uses.
struct RxHdr {
    len: usize,
    snaplen: usize,
    mac: usize,
    vlan_tci: u16,
    vlan_tpid: u16,
    /// Where a partial checksum is (start, offset from start), from the
    /// `virtio_net_hdr`.
    csum: Option<(usize, usize)>,
}

/// Reads the `virtio_net_hdr` the kernel put right before the frame.
fn read_vnet(slot: &[u8]) -> Option<(usize, usize)> {
    // Layout: flags u8, gso_type u8, hdr_len u16, gso_size u16,
    // csum_start u16, csum_offset u16; host byte order (little endian
    // virtio on the hosts rvs runs on).
    let h: [u8; VNET_HDR_LEN] = slot.try_into().ok()?;
    (h[0] & VIRTIO_NET_HDR_F_NEEDS_CSUM != 0).then(|| {
        (
            u16::from_ne_bytes([h[6], h[7]]) as usize,
            u16::from_ne_bytes([h[8], h[9]]) as usize,
        )
    })
}

fn read_rx_hdr(slot: *mut u8) -> RxHdr {
    // SAFETY: the slot belongs to user space (status seen with acquire),
    // starts with a tpacket2_hdr, and is suitably aligned.
    let h = unsafe { std::ptr::read_volatile(slot as *const libc::tpacket2_hdr) };
    RxHdr {
        len: h.tp_len as usize,
        snaplen: h.tp_snaplen as usize,
        mac: h.tp_mac as usize,
        vlan_tci: h.tp_vlan_tci,
        vlan_tpid: h.tp_vlan_tpid,
        csum: None,
    }
}

/// Number of VLAN tags at the front of a frame (at most 2 counted).
fn tags_in_frame(frame: &[u8]) -> usize {
    let mut n = 0;
    while n < 2 {
        let off = 12 + n * VLAN_HLEN;
        match frame.get(off..off + 2) {
            Some([0x81, 0x00]) | Some([0x88, 0xa8]) => n += 1,
            _ => break,
        }
    }
    n
}

impl RxQueue for AfRx {
    fn rx_burst(&mut self, batch: &mut PacketBatch, pool: &mut PacketPool) -> usize {
        let room = MAX_BURST.saturating_sub(batch.len());
        let (mut got, mut bytes, mut dropped) = (0usize, 0u64, 0u64);
        let frame_size = self.rings.frame_size;
        while got < room {
            let slot = self.rings.rx_slot(self.next);
            let status_word = Rings::status(slot);
            let status = status_word.load(Ordering::Acquire);
            if status & TP_STATUS_USER == 0 {
                break;
            }
            let mut h = read_rx_hdr(slot);
            let in_ring = h.mac < frame_size && h.snaplen <= frame_size - h.mac;
            if self.rings.vnet && in_ring && h.mac >= VNET_HDR_LEN {
                // SAFETY: the VNET_HDR_LEN bytes before the frame lie in
                // this slot (mac >= VNET_HDR_LEN, mac < frame_size), which
                // user space owns until the release store below.
                let vh = unsafe {
                    std::slice::from_raw_parts(slot.add(h.mac - VNET_HDR_LEN), VNET_HDR_LEN)
                };
                h.csum = read_vnet(vh);
            }
            if in_ring && h.snaplen == h.len && h.len >= ETH_HLEN {
                // SAFETY: [mac, mac + snaplen) lies inside this slot
                // (checked just above), which user space owns until the
                // release store below.
                let data = unsafe { std::slice::from_raw_parts(slot.add(h.mac), h.snaplen) };
                match self.receive(data, &h, status, pool) {
                    Some(p) => {
                        bytes += p.len() as u64;
                        let _ = batch.push(p);
                        got += 1;
                    }
                    None => dropped += 1,
                }
            } else {
                dropped += 1;
            }
            status_word.store(TP_STATUS_KERNEL, Ordering::Release);
            self.next = (self.next + 1) % RX_FRAMES;
        }
        PortStats::add(&self.stats.rx_packets, got as u64);
        PortStats::add(&self.stats.rx_bytes, bytes);
        PortStats::add(&self.stats.rx_dropped, dropped);
        got
    }
}

impl AfRx {
    /// Copies one received frame into a pool buffer, tag reinserted and
    /// checksum completed; None when it must be dropped.
    fn receive(
        &self,
        data: &[u8],
        h: &RxHdr,
        status: u32,
        pool: &mut PacketPool,
    ) -> Option<dpif_netdev::packet::Packet> {
        let aux_tag = status & TP_STATUS_VLAN_VALID != 0;
        let tags = tags_in_frame(data) + aux_tag as usize;
        let payload = data
            .len()
            .saturating_sub(ETH_HLEN + VLAN_HLEN * tags.min(2));
        if payload > self.mtu {
            return None;
        }
        let mut p = pool.alloc_from(&data[..12]).ok()?;
        let extra = data.len() - 12 + if aux_tag { VLAN_HLEN } else { 0 };
        let at = p.len();
        p.set_len(at + extra).ok()?;
        let buf = p.data_mut();
        let mut o = 12;
        if aux_tag {
            let tpid = if status & TP_STATUS_VLAN_TPID_VALID != 0 && h.vlan_tpid != 0 {
                h.vlan_tpid
            } else {
                0x8100
            };
            buf[12..14].copy_from_slice(&tpid.to_be_bytes());
            buf[14..16].copy_from_slice(&h.vlan_tci.to_be_bytes());
            o = 16;
        }
        buf[o..].copy_from_slice(&data[12..]);
        if status & TP_STATUS_CSUMNOTREADY != 0 {
            match h.csum {
                Some((start, offset)) => {
                    // Offsets count from the frame as the kernel gave it,
                    // without the tag put back in front.
                    let shift = if aux_tag { VLAN_HLEN } else { 0 };
                    let udp = offset == 6;
                    complete_partial_checksum(buf, start + shift, offset, udp);
                }
                None => {
                    complete_l4_checksum(buf);
                }
            }
        }
        Some(p)
    }
}

/// The transmit half.
struct AfTx {
    rings: Arc<Rings>,
    /// Next transmit slot; the lock serialises PMDs sending to this port.
    next: Mutex<usize>,
    stats: Arc<PortStats>,
}

impl TxPort for AfTx {
    fn send(&self, _qid: usize, batch: &mut PacketBatch, pool: &mut PacketPool) {
        let vnet = if self.rings.vnet { VNET_HDR_LEN } else { 0 };
        let room = self.rings.frame_size - TX_DATA_OFFSET - vnet;
        let (mut queued, mut bytes, mut dropped) = (0u64, 0u64, 0u64);
        {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            for p in batch.drain() {
                let slot = self.rings.tx_slot(*next);
                let status_word = Rings::status(slot);
                let st = status_word.load(Ordering::Acquire);
                let free = st == TP_STATUS_AVAILABLE || st & TP_STATUS_WRONG_FORMAT != 0;
                let data = p.data();
                if !free || data.len() > room || data.is_empty() {
                    dropped += 1;
                    pool.free(p);
                    continue;
                }
                // SAFETY: the slot is ours (status AVAILABLE, seen with
                // acquire); the header is within the slot, and the
                // virtio_net_hdr (when used) and the data fit after
                // TX_DATA_OFFSET (checked against `room`).
                unsafe {
                    let h = slot as *mut libc::tpacket2_hdr;
                    let len = (vnet + data.len()) as u32;
                    std::ptr::addr_of_mut!((*h).tp_len).write_volatile(len);
                    std::ptr::addr_of_mut!((*h).tp_snaplen).write_volatile(len);
                    std::ptr::write_bytes(slot.add(TX_DATA_OFFSET), 0, vnet);
                    std::ptr::copy_nonoverlapping(
                        data.as_ptr(),
                        slot.add(TX_DATA_OFFSET + vnet),
                        data.len(),
                    );
                }
                status_word.store(TP_STATUS_SEND_REQUEST, Ordering::Release);
                *next = (*next + 1) % TX_FRAMES;
                queued += 1;
                bytes += data.len() as u64;
                pool.free(p);
            }
            if queued > 0 {
                // SAFETY: a zero-length send on our socket only asks the
                // kernel to transmit the slots marked SEND_REQUEST.
                let rc = unsafe {
                    libc::sendto(
                        self.rings.fd.as_raw_fd(),
                        std::ptr::null(),
                        0,
                        libc::MSG_DONTWAIT,
                        std::ptr::null(),
                        0,
                    )
                };
                if rc < 0 {
                    // Link down, or the device queue is full: the slots
                    // stay queued and leave with a later kick (or are
                    // overwritten never: a busy slot refuses new frames,
                    // which are counted as drops above).
                    tracing::trace!(error = %io::Error::last_os_error(), "af_packet kick");
                }
            }
        }
        PortStats::add(&self.stats.tx_packets, queued);
        PortStats::add(&self.stats.tx_bytes, bytes);
        PortStats::add(&self.stats.tx_dropped, dropped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_tags_in_frames() {
        let mut f = vec![0u8; 60];
        assert_eq!(tags_in_frame(&f), 0);
        f[12..14].copy_from_slice(&[0x81, 0]);
        assert_eq!(tags_in_frame(&f), 1);
        f[16..18].copy_from_slice(&[0x81, 0]);
        assert_eq!(tags_in_frame(&f), 2);
        assert_eq!(tags_in_frame(&f[..13]), 0);
    }

    #[test]
    fn a_missing_interface_is_a_clear_error() {
        let e = open_afpacket(
            &AfPacketConfig {
                name: "p9".into(),
                iface: "rvs-nonexistent0".into(),
            },
            Arc::default(),
        )
        .err()
        .expect("no such interface");
        let s = e.to_string();
        assert!(
            s.starts_with("port p9: interface rvs-nonexistent0: no such interface"),
            "{s}"
        );
    }
}
