//! An mbuf as a [`Packet`] without copying, and back.
//!
//! A received single-segment mbuf becomes a packet with foreign storage:
//! the buffer is the mbuf's data room (`buf_addr`, `buf_len`), the frame
//! starts at `data_off` and is `data_len` long, and dropping the packet
//! frees the mbuf ([`release_mbuf`]). Pushing a VLAN tag or tunnel header
//! moves the frame start into the headroom exactly as `rte_pktmbuf_prepend`
//! would. For transmit, [`into_mbuf`] takes the packet apart again and
//! gives the mbuf with the frame's offset and length, which the shim
//! writes back into the mbuf before `rte_eth_tx_burst`.
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
use dpdk_sys::{rte_mbuf, rvs_mbuf_view};
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

/// The packet over a received mbuf (its box from `pool`'s shells); `None`
/// when its view holds no buffer.
///
/// # Safety
/// `m` must be a valid, single-segment, unshared mbuf that the caller
/// owns and hands over, and `v` its view from `rvs_rx_burst`.
#[inline]
pub unsafe fn packet_from_mbuf(
    pool: &mut PacketPool,
    m: *mut rte_mbuf,
    v: &rvs_mbuf_view,
) -> Option<Packet> {
    let ptr = NonNull::new(v.buf_addr as *mut u8)?;
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
