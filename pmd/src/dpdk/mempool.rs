//! mbuf pools.
//!
//! Each DPDK port gets a pool sized for its queues (OVS's per-port
//! sizing): `n_rxq * rxq_size + n_txq * txq_size` descriptors, plus a
//! burst and a per-lcore cache for every PMD, plus 16384 for mbufs held
//! elsewhere (upcall queues, other ports' transmit rings). Data room:
//! [`HEADROOM`](dpif_netdev::packet::HEADROOM)-sized headroom (DPDK's
//! `RTE_PKTMBUF_HEADROOM`, 128) plus the larger of 2048 bytes and the
//! MTU's frame.
//!
//! A pool is never freed while the process runs: an mbuf of a removed
//! port may still sit in another device's transmit ring or an upcall
//! queue, and freeing its pool under it would be a use after free (OVS
//! refcounts its pools for the same reason). Instead a removed port's
//! pool is retired, and reused by the next port that asks for the same
//! geometry; a switch that adds and removes ports forever holds at most
//! one pool per distinct geometry beyond the live ports.
//!
//! # Thread safety
//! `rte_mempool` is multi-producer multi-consumer: any thread may take or
//! return mbufs. Creating and retiring pools happens on the control
//! thread, under a mutex.

use super::{last_error, DpdkError};
use std::ffi::CString;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

/// mbufs kept in each lcore's cache (DPDK's maximum is 512).
pub const CACHE_SIZE: u32 = 256;

/// An mbuf pool.
pub struct Mempool {
    ptr: NonNull<dpdk_sys::rte_mempool>,
    mbufs: u32,
    data_room: u16,
    socket: i32,
}

// SAFETY: an rte_mempool is designed for concurrent use from any thread
// (MP/MC ring ops); the pointer stays valid for the life of the process
// (pools are never freed, see the module doc).
unsafe impl Send for Mempool {}
// SAFETY: as above: every operation on the pool is thread-safe in DPDK.
unsafe impl Sync for Mempool {}

static RETIRED: Mutex<Vec<Mempool>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU32 = AtomicU32::new(0);

impl Mempool {
    /// A pool of `mbufs` mbufs with `data_room` bytes each (headroom
    /// included) on NUMA `socket` (`-1`: any), reusing a retired one of
    /// the same geometry when there is one.
    pub fn get(mbufs: u32, data_room: u16, socket: i32) -> Result<Mempool, DpdkError> {
        {
            let mut r = RETIRED.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(i) = r
                .iter()
                .position(|p| p.mbufs == mbufs && p.data_room == data_room && p.socket == socket)
            {
                return Ok(r.swap_remove(i));
            }
        }
        let name = format!("rvs_mp{}", NEXT_ID.fetch_add(1, Ordering::Relaxed));
        let cname = CString::new(name).expect("no NUL in a formatted name");
        // SAFETY: the name is a valid C string for the call; sizes are
        // plain values (DPDK checks them and fails with rte_errno).
        let p = unsafe {
            dpdk_sys::rte_pktmbuf_pool_create(
                cname.as_ptr(),
                mbufs,
                CACHE_SIZE,
                0,
                data_room,
                socket,
            )
        };
        let ptr = NonNull::new(p).ok_or_else(|| DpdkError::Mempool {
            mbufs,
            reason: last_error(),
        })?;
        Ok(Mempool {
            ptr,
            mbufs,
            data_room,
            socket,
        })
    }

    /// The raw pool (for queue setup and allocation).
    pub fn as_ptr(&self) -> *mut dpdk_sys::rte_mempool {
        self.ptr.as_ptr()
    }

    /// Hands the pool back for reuse (see the module doc).
    pub fn retire(self) {
        RETIRED.lock().unwrap_or_else(|e| e.into_inner()).push(self);
    }

    /// mbufs currently free in the pool (caches included).
    pub fn available(&self) -> u32 {
        // SAFETY: the pool is valid for the life of the process.
        unsafe { dpdk_sys::rte_mempool_avail_count(self.ptr.as_ptr()) }
    }
}
