//! An mbuf as a [`Packet`] without copying, and back.
//!
//! A received mbuf's header is read once ([`RxView`]: first cache line
//! only). A single-segment one becomes a packet with foreign storage:
//! the buffer is the mbuf's data room (`buf_addr`, `buf_len`), the frame
//! starts at `data_off` and is `data_len` long, and dropping the packet
//! frees the mbuf ([`release_mbuf`]). Pushing a VLAN tag or tunnel header
//! moves the frame start into the headroom exactly as `rte_pktmbuf_prepend`
//! would. For transmit, [`into_mbuf`] takes the packet apart again and
//! gives the mbuf with the frame's offset and length, which
//! [`set_tx_frame`] writes back into the mbuf before `rte_eth_tx_burst`.
//!
//! What is not zero-copy: a chained (multi-segment) mbuf is dropped (rvs
//! configures no scatter, so a device produces none for frames within its
//! MTU); a shared mbuf (refcount above 1, or indirect) is copied, since a
//! packet must own its bytes; a heap packet sent to a DPDK port is copied
//! into a fresh mbuf ([`mbuf_from_frame`]).
//!
//! # Thread safety
//! An mbuf may be freed on any thread (the pool is MP/MC), so a packet
//! holding one may move between threads as any packet does.

use super::mempool::Mempool;
use dpdk_sys::rte_mbuf;
use dpif_netdev::packet::{ForeignBuf, Packet, PacketPool};
use std::ptr::NonNull;

/// Frees the mbuf `token` points at: the release function of every packet
/// made by [`packet_from_mbuf`].
///
/// # Safety
/// `token` must be an `rte_mbuf` pointer that nobody else uses any more.
pub unsafe fn release_mbuf(token: usize) {
    // SAFETY: the caller's contract: a valid mbuf, owned by the caller.
    unsafe { dpdk_sys::rvs_pktmbuf_free(token as *mut rte_mbuf) }
}

/// What rx needs of a received mbuf, all from the first cache line of its
/// header (DPDK keeps the receive fields there; `next` is in the second,
/// and a single-segment mbuf's `next` is NULL by DPDK's rules, so
/// `nb_segs` alone tells a chain).
#[derive(Clone, Copy)]
pub struct RxView {
    /// Start of the data room (headroom included).
    pub buf_addr: *mut u8,
    /// Size of the data room.
    pub buf_len: u32,
    /// Frame start within the data room.
    pub data_off: u16,
    /// Frame length in this segment.
    pub data_len: u16,
    /// The device's RSS hash, when it gave one.
    pub rss: Option<u32>,
    /// More than one segment.
    pub chained: bool,
    /// Refcount above 1, or an indirect / external buffer: others may
    /// read the bytes, so the packet must not write them in place.
    pub shared: bool,
    /// Transmit offload flags are set (a device may set them on receive,
    /// as vhost-user does for a guest's partial checksums): sent on as
    /// received, the frame would ask the output device for offloads
    /// whose lengths nobody set.
    pub tx_offloads: bool,
    /// None of `chained`, `shared` and `tx_offloads`: one segment, ours
    /// alone, sendable as received. Taken in two tests (one of both
    /// counts, one of the flags) for the direct path, which asks only
    /// this: its three tests were ~16 instructions a packet (callgrind
    /// vxlan-encap).
    pub sendable: bool,
}

// `refcnt` and `nb_segs` are adjacent, so one 32-bit load reads both.
const _: () =
    assert!(std::mem::offset_of!(rte_mbuf, nb_segs) == std::mem::offset_of!(rte_mbuf, refcnt) + 2);

/// `refcnt` and `nb_segs` both 1, read as one `u32` (either byte order).
const ONE_REF_ONE_SEG: u32 = 0x0001_0001;

/// Reads `m`'s receive fields.
///
/// # Safety
/// `m` must be a valid mbuf that the caller owns (just received).
#[inline(always)]
pub unsafe fn rx_view(m: *const rte_mbuf) -> RxView {
    // SAFETY: the caller's contract: m points at a live mbuf header that
    // nobody else writes. `hash` is a union of 32-bit views of one word;
    // `rss` is the one DPDK fills when RX_RSS_HASH is set, and any bit
    // pattern is a valid u32 either way.
    unsafe {
        let h = &*m;
        let flags = h.ol_flags;
        // In bounds and aligned (refcnt is at an even offset of an
        // 8-aligned header; read unaligned anyway, which costs nothing
        // on x86 and Arm).
        let counts = std::ptr::read_unaligned(std::ptr::addr_of!(h.refcnt).cast::<u32>());
        let odd_flags = dpdk_sys::RTE_MBUF_F_INDIRECT
            | dpdk_sys::RTE_MBUF_F_EXTERNAL
            | dpdk_sys::RTE_MBUF_F_TX_OFFLOAD_MASK;
        RxView {
            buf_addr: h.buf_addr as *mut u8,
            buf_len: h.buf_len as u32,
            data_off: h.data_off,
            data_len: h.data_len,
            rss: (flags & dpdk_sys::RTE_MBUF_F_RX_RSS_HASH as u64 != 0)
                .then_some(h.__bindgen_anon_2.hash.rss),
            chained: h.nb_segs > 1,
            shared: h.refcnt != 1
                || flags & (dpdk_sys::RTE_MBUF_F_INDIRECT | dpdk_sys::RTE_MBUF_F_EXTERNAL) != 0,
            tx_offloads: flags & dpdk_sys::RTE_MBUF_F_TX_OFFLOAD_MASK != 0,
            sendable: counts == ONE_REF_ONE_SEG && flags & odd_flags == 0,
        }
    }
}

/// The packet over a received mbuf (its box from `pool`'s shells); `None`
/// when its header holds no buffer.
///
/// # Safety
/// `m` must be a valid, single-segment, unshared mbuf that the caller
/// owns and hands over, and `v` its [`rx_view`].
#[inline(always)]
pub unsafe fn packet_from_mbuf(
    pool: &mut PacketPool,
    m: *mut rte_mbuf,
    v: &RxView,
) -> Option<Packet> {
    let ptr = NonNull::new(v.buf_addr)?;
    let buf = ForeignBuf {
        ptr,
        cap: v.buf_len,
        token: m as usize,
        release: release_mbuf,
    };
    // SAFETY: the data room is valid for buf_len bytes and owned by the
    // caller (this function's contract); DPDK guarantees data_off +
    // data_len <= buf_len for a valid mbuf.
    Some(unsafe { pool.wrap_foreign(buf, v.data_off as u32, v.data_len as u32) })
}

/// Sets `m`'s frame to `data_off`, `len` (one segment) and clears its
/// offload flags (receive-side flags mean nothing on transmit, and a
/// receive may have set transmit ones: see [`RxView::tx_offloads`]), for
/// `rte_eth_tx_burst`.
///
/// # Safety
/// `m` must be a valid, single-segment mbuf that the caller owns, with
/// `data_off + len` within its data room.
#[inline(always)]
pub unsafe fn set_tx_frame(m: NonNull<rte_mbuf>, data_off: u16, len: u16) {
    // SAFETY: the caller's contract: ours alone, so plain writes to its
    // header are what rte_pktmbuf_* would do.
    unsafe {
        let h = &mut *m.as_ptr();
        h.data_off = data_off;
        h.data_len = len;
        h.pkt_len = len as u32;
        h.ol_flags = 0;
    }
}

/// Bytes `off .. off + len` of `m`'s data room, writable.
///
/// # Safety
/// `m` must be a valid mbuf that the caller owns alone (unshared), with
/// `off + len` within its data room, and the slice must not outlive the
/// caller's ownership of it.
#[inline(always)]
pub unsafe fn mbuf_bytes_mut<'a>(m: NonNull<rte_mbuf>, off: u16, len: u16) -> &'a mut [u8] {
    // SAFETY: the caller's contract: the range lies in the data room of an
    // mbuf nobody else reads or writes.
    unsafe {
        let base = (*m.as_ptr()).buf_addr as *mut u8;
        std::slice::from_raw_parts_mut(base.add(off as usize), len as usize)
    }
}

/// The frame length of `m` (its `data_len`).
///
/// # Safety
/// `m` must be a valid mbuf that the caller owns.
#[inline]
pub unsafe fn frame_len(m: *const rte_mbuf) -> u16 {
    // SAFETY: the caller's contract.
    unsafe { (*m).data_len }
}

/// Whether `pkt` is an mbuf made by [`packet_from_mbuf`] (compared by
/// release function; a false "no" only costs a copy).
fn is_mbuf(f: &ForeignBuf) -> bool {
    let ours: unsafe fn(usize) = release_mbuf;
    f.release as *const () == ours as *const ()
}

/// Takes a packet apart into its mbuf and the frame's offset and length
/// (its box goes back to `pool`'s shells), or gives the packet back when
/// it is not an mbuf (heap, or foreign of another kind).
#[inline]
pub fn into_mbuf(
    pool: &mut PacketPool,
    pkt: Packet,
) -> Result<(NonNull<rte_mbuf>, u16, u16), Packet> {
    let (f, head, len) = pool.take_foreign(pkt)?;
    let m = NonNull::new(f.token as *mut rte_mbuf);
    match m {
        Some(m) if is_mbuf(&f) && head + len <= u16::MAX as u32 => Ok((m, head as u16, len as u16)),
        // SAFETY: rebuilding the packet exactly as it was: the same
        // buffer, owned by us again after take_foreign, head + len <= cap.
        _ => Err(unsafe { pool.wrap_foreign(f, head, len) }),
    }
}

/// A fresh mbuf from `pool` holding a copy of `frame`, with its offset and
/// length; `None` when the pool is empty or the frame does not fit.
pub fn mbuf_from_frame(pool: &Mempool, frame: &[u8]) -> Option<(NonNull<rte_mbuf>, u16, u16)> {
    // SAFETY: the pool is valid for the life of the process.
    let m = NonNull::new(unsafe { dpdk_sys::rvs_pktmbuf_alloc(pool.as_ptr()) })?;
    // SAFETY: m is a fresh mbuf we own; these read its header fields.
    let (base, cap, off) = unsafe {
        (
            dpdk_sys::rvs_mbuf_buf_addr(m.as_ptr()) as *mut u8,
            dpdk_sys::rvs_mbuf_buf_len(m.as_ptr()) as usize,
            dpdk_sys::rvs_mbuf_data_off(m.as_ptr()) as usize,
        )
    };
    if base.is_null() || off + frame.len() > cap {
        // SAFETY: ours, unused.
        unsafe { dpdk_sys::rvs_pktmbuf_free(m.as_ptr()) };
        return None;
    }
    // SAFETY: base + off .. + frame.len() lies inside the mbuf's data room
    // (checked above), which nobody else uses; the source is a separate
    // Rust slice.
    unsafe { std::ptr::copy_nonoverlapping(frame.as_ptr(), base.add(off), frame.len()) };
    Some((m, off as u16, frame.len() as u16))
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// `sendable` is the three flags' "none", on headers with any
        /// counts and flags (a zero segment count, invalid in DPDK, is
        /// not sendable either).
        #[test]
        fn sendable_is_one_segment_unshared_without_transmit_offloads(
            refcnt in 0u16..4,
            nb_segs in 0u16..4,
            flag_bits in proptest::collection::vec(0u32..64, 0..4),
        ) {
            // SAFETY: rte_mbuf is plain data (integers and pointers),
            // for which all zeroes is a valid value.
            let mut h: rte_mbuf = unsafe { std::mem::zeroed() };
            h.refcnt = refcnt;
            h.nb_segs = nb_segs;
            h.ol_flags = flag_bits.iter().fold(0u64, |f, &b| f | 1 << b);
            // SAFETY: a live header, ours alone.
            let v = unsafe { rx_view(&h) };
            proptest::prop_assert_eq!(
                v.sendable,
                !v.chained && !v.shared && !v.tx_offloads && nb_segs == 1
            );
        }
    }
}
