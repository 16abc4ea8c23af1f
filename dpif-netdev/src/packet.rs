//! Packet buffers, per-packet metadata and batches.
//!
//! A [`Packet`] is one contiguous frame inside a buffer that has room in
//! front of it (headroom, at least [`HEADROOM`] bytes for buffers this module
//! allocates) so that VLAN tags and tunnel headers can be pushed without a
//! copy. Who owns the buffer is abstract, and only asked when the packet
//! is taken apart or dropped:
//!
//! - heap: a boxed byte slice, normally recycled through a [`PacketPool`]
//!   so that steady-state forwarding does no heap allocation;
//! - foreign ([`ForeignBuf`]): memory owned by someone else (a DPDK mbuf),
//!   described by a pointer, a capacity, an opaque token and a release
//!   function that is called exactly once when the packet is dropped.
//!   Handing the packet back to its owner (for transmit) goes through
//!   [`Packet::into_foreign`], which does not call the release function.
//!
//! Either way the packet keeps the buffer's start and size as plain fields,
//! so reaching the bytes (every header read on the fast path) is a pointer
//! and a length, with no look at who owns them.
//!
//! The frame is `buf[head .. head + len]`. `l3_ofs` / `l4_ofs` in the
//! metadata are offsets from the frame start, set by key extraction and kept
//! up to date by the actions that move headers (push/pop VLAN, tunnels).
//!
//! # Thread safety
//! A `Packet` is owned by exactly one thread at a time and moves between
//! threads by value (PMD → upcall handler → PMD). It is `Send` but not
//! `Sync`; nothing in it is shared.

use std::ptr::NonNull;

/// Headroom reserved in front of every frame this module allocates: enough
/// for an IPv6 + UDP + Geneve header with options plus two VLAN tags.
pub const HEADROOM: usize = 128;
/// Default buffer size for heap packets (headroom + a 2 KB frame, like a
/// default DPDK mbuf).
pub const DEFAULT_BUF_SIZE: usize = HEADROOM + 2048;
/// Largest number of packets in a [`PacketBatch`] (a PMD rx burst).
pub const MAX_BURST: usize = 32;
/// `l3_ofs` / `l4_ofs` value meaning "no such header".
pub const NO_OFS: u16 = u16::MAX;

/// Tunnel flag bits carried in [`TunnelMeta::flags`] (OVS's values).
pub mod tun_flags {
    /// Outer IPv4 header had the don't-fragment bit.
    pub const DONT_FRAGMENT: u16 = 1 << 1;
    /// Outer UDP checksum present / to be computed.
    pub const CSUM: u16 = 1 << 2;
    /// A key (VNI) is present.
    pub const KEY: u16 = 1 << 3;
    /// Geneve OAM frame.
    pub const OAM: u16 = 1 << 4;
}

/// Outer-header metadata of a decapsulated packet, or the metadata a
/// `set(tunnel(...))` action asks the next encapsulation to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TunnelMeta {
    /// Tunnel id (VNI).
    pub tun_id: u64,
    /// Outer IPv4 source (0 when IPv6 or none).
    pub ipv4_src: u32,
    /// Outer IPv4 destination (0 when IPv6 or none).
    pub ipv4_dst: u32,
    /// Outer IPv6 source (all zero when IPv4 or none).
    pub ipv6_src: [u8; 16],
    /// Outer IPv6 destination (all zero when IPv4 or none).
    pub ipv6_dst: [u8; 16],
    /// Outer TOS / traffic class.
    pub tos: u8,
    /// Outer TTL / hop limit.
    pub ttl: u8,
    /// Outer UDP source port.
    pub tp_src: u16,
    /// Outer UDP destination port.
    pub tp_dst: u16,
    /// [`tun_flags`] bits.
    pub flags: u16,
    /// Which `tun_metadataN` the Geneve options filled (bit N), as
    /// [`crate::key::FlowKey::tun_md_present`].
    pub md_present: u8,
    /// The mapped Geneve options' data, laid out by the TLV map that
    /// `tnl_pop` was given, as [`crate::key::FlowKey::tun_metadata`].
    pub metadata: [u8; crate::tlv::TUN_METADATA_BYTES],
}

impl Default for TunnelMeta {
    #[inline(always)]
    fn default() -> Self {
        TunnelMeta::NONE
    }
}

impl TunnelMeta {
    /// No tunnel: all zero.
    pub const NONE: TunnelMeta = TunnelMeta {
        tun_id: 0,
        ipv4_src: 0,
        ipv4_dst: 0,
        ipv6_src: [0; 16],
        ipv6_dst: [0; 16],
        tos: 0,
        ttl: 0,
        tp_src: 0,
        tp_dst: 0,
        flags: 0,
        md_present: 0,
        metadata: [0; crate::tlv::TUN_METADATA_BYTES],
    };

    /// Whether any outer destination is set, i.e. the packet was tunnelled.
    pub fn is_set(&self) -> bool {
        self.ipv4_dst != 0 || self.ipv6_dst != [0; 16]
    }
}

/// Per-packet metadata that is not in the frame.
///
/// Layout: the fields every packet uses come first (24 bytes), the tunnel
/// metadata (96 bytes) last and only behind [`PacketMeta::tunnel`] /
/// [`PacketMeta::set_tunnel`]. A packet fresh from a port is reset with
/// [`PacketMeta::reset`], which writes the first part only, so a packet
/// that was never tunnelled never touches the cache lines of the tunnel
/// metadata (whatever they hold then is never read). With the buffer
/// fields in front, [`PacketInner`] keeps all of it in its first cache
/// line.
#[derive(Clone, Copy)]
#[repr(C)]
pub struct PacketMeta {
    /// Datapath port the packet arrived on.
    pub in_port: u32,
    /// Recirculation id (0 on first pass).
    pub recirc_id: u32,
    /// Hash from the last `hash` action.
    pub dp_hash: u32,
    /// RSS hash from the NIC (or computed), valid when `rss_valid`.
    pub rss_hash: u32,
    /// Whether `rss_hash` holds a hash.
    pub rss_valid: bool,
    /// Whether `tunnel` holds the packet's tunnel metadata; when false the
    /// packet has none (all zero) and `tunnel` is stale.
    has_tunnel: bool,
    /// Offset of the L3 header from the frame start, or [`NO_OFS`].
    pub l3_ofs: u16,
    /// Offset of the L4 header from the frame start, or [`NO_OFS`].
    pub l4_ofs: u16,
    tunnel: TunnelMeta,
}

impl PacketMeta {
    /// The metadata of a packet fresh from a port (no tunnel). A constant
    /// on purpose: assigning it writes the fields in place, where building
    /// a default value field by field on the stack and then copying it
    /// into the packet made the copy's wide loads wait on the narrow
    /// stores (store-to-load forwarding). Recycled packets use
    /// [`PacketMeta::reset`], which leaves the tunnel area alone.
    pub const NEW: PacketMeta = PacketMeta {
        in_port: 0,
        recirc_id: 0,
        dp_hash: 0,
        rss_hash: 0,
        rss_valid: false,
        has_tunnel: false,
        l3_ofs: NO_OFS,
        l4_ofs: NO_OFS,
        tunnel: TunnelMeta::NONE,
    };

    /// Makes this the metadata of a packet fresh from a port, writing only
    /// the fields before the tunnel area.
    #[inline(always)]
    pub fn reset(&mut self) {
        self.in_port = 0;
        self.recirc_id = 0;
        self.dp_hash = 0;
        self.rss_hash = 0;
        self.rss_valid = false;
        self.has_tunnel = false;
        self.l3_ofs = NO_OFS;
        self.l4_ofs = NO_OFS;
    }

    /// The tunnel metadata ([`TunnelMeta::NONE`] when not tunnelled).
    #[inline(always)]
    pub fn tunnel(&self) -> &TunnelMeta {
        if self.has_tunnel {
            &self.tunnel
        } else {
            &TunnelMeta::NONE
        }
    }

    /// Whether the packet carries tunnel metadata (decapsulated, or given
    /// some by a `set(tunnel(...))`).
    #[inline(always)]
    pub fn has_tunnel(&self) -> bool {
        self.has_tunnel
    }

    /// Sets the tunnel metadata.
    #[inline]
    pub fn set_tunnel(&mut self, t: TunnelMeta) {
        self.tunnel = t;
        self.has_tunnel = true;
    }

    /// The tunnel metadata, writable (all zero first if there was none).
    pub fn tunnel_mut(&mut self) -> &mut TunnelMeta {
        if !self.has_tunnel {
            self.tunnel = TunnelMeta::NONE;
            self.has_tunnel = true;
        }
        &mut self.tunnel
    }

    /// Removes the tunnel metadata.
    #[inline]
    pub fn clear_tunnel(&mut self) {
        self.has_tunnel = false;
    }
}

impl Default for PacketMeta {
    #[inline(always)]
    fn default() -> Self {
        PacketMeta::NEW
    }
}

/// Equal when every field a packet can observe is: a stale tunnel area
/// behind `has_tunnel == false` compares as no tunnel.
impl PartialEq for PacketMeta {
    fn eq(&self, o: &Self) -> bool {
        self.in_port == o.in_port
            && self.recirc_id == o.recirc_id
            && self.dp_hash == o.dp_hash
            && self.rss_hash == o.rss_hash
            && self.rss_valid == o.rss_valid
            && self.l3_ofs == o.l3_ofs
            && self.l4_ofs == o.l4_ofs
            && self.tunnel() == o.tunnel()
    }
}

impl Eq for PacketMeta {}

impl std::fmt::Debug for PacketMeta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacketMeta")
            .field("in_port", &self.in_port)
            .field("recirc_id", &self.recirc_id)
            .field("dp_hash", &self.dp_hash)
            .field("rss_hash", &self.rss_hash)
            .field("rss_valid", &self.rss_valid)
            .field("tunnel", self.tunnel())
            .field("l3_ofs", &self.l3_ofs)
            .field("l4_ofs", &self.l4_ofs)
            .finish()
    }
}

/// A buffer owned by someone else, such as a DPDK mbuf.
pub struct ForeignBuf {
    /// Start of the buffer's data room (headroom included).
    pub ptr: NonNull<u8>,
    /// Size of the data room in bytes.
    pub cap: u32,
    /// Opaque handle for the owner (for DPDK: the `rte_mbuf` pointer).
    pub token: usize,
    /// Called once with `token` when the packet is dropped.
    pub release: unsafe fn(usize),
}

/// Who owns the bytes of a [`Packet`] (its `base` and `cap`), and so how
/// they are given back.
enum Owner {
    /// A `Box<[u8]>` of exactly `cap` bytes at `base`, leaked into the
    /// packet and rebuilt to be freed when it drops. A shell (no buffer) is
    /// the empty box: `cap` 0, `base` dangling, nothing to free.
    Heap,
    /// A buffer owned elsewhere, released through `release(token)`.
    Foreign {
        token: usize,
        release: unsafe fn(usize),
    },
}

/// Errors of buffer operations. The packet is unchanged when one is returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BufError {
    /// Not enough headroom to push `need` bytes (only `have`).
    #[error("not enough headroom: need {need} bytes, have {have}")]
    NoHeadroom {
        /// Bytes requested.
        need: usize,
        /// Headroom available.
        have: usize,
    },
    /// The frame is shorter than the bytes to pull or cut.
    #[error("frame too short: need {need} bytes, have {have}")]
    TooShort {
        /// Bytes requested.
        need: usize,
        /// Frame length.
        have: usize,
    },
    /// The frame does not fit in the buffer.
    #[error("frame of {len} bytes does not fit a {cap}-byte buffer")]
    TooLong {
        /// Requested length.
        len: usize,
        /// Buffer capacity behind the frame start.
        cap: usize,
    },
}

/// One packet: a handle (one pointer) to its [`PacketInner`], the frame's
/// buffer and metadata. Methods and `md` are reached through `Deref`.
///
/// Why a handle: packets move by value through every stage (batch → sink →
/// tx batch → queue). Moving the ~120-byte inner struct right after it was
/// written stalls on store-to-load forwarding; measured on this machine,
/// moving a packet in and out of a batch cost 18.7 ns with the inline
/// struct. The inner struct lives in a recycled box ([`PacketPool`]), like
/// the metadata in front of a DPDK mbuf.
pub struct Packet {
    inner: Box<PacketInner>,
}

/// The frame's buffer, its position, and the packet's metadata. Laid out
/// (C order, line-aligned) so that the buffer fields and the metadata every
/// packet uses share the first cache line; see [`PacketMeta`].
///
/// Invariants (every constructor and mutator in this module keeps them):
/// `base` is valid for reads and writes of `cap` bytes and exclusively this
/// packet's while it lives (see [`Owner`] for who frees it), and
/// `head + len <= cap`.
#[repr(C, align(64))]
pub struct PacketInner {
    /// Start of the buffer (headroom included).
    base: NonNull<u8>,
    owner: Owner,
    /// Size of the buffer in bytes.
    cap: u32,
    head: u32,
    len: u32,
    /// Metadata (ports, recirculation, tunnel, header offsets).
    pub md: PacketMeta,
}

// SAFETY: the only non-Send part is the buffer pointer `base`. A packet is
// the sole owner of the buffer it points at (the struct's invariant), so
// moving it to another thread moves exclusive access with it; a foreign
// owner's `release` is a plain fn that its contract says may run on any
// thread.
unsafe impl Send for PacketInner {}

impl std::ops::Deref for Packet {
    type Target = PacketInner;
    #[inline(always)]
    fn deref(&self) -> &PacketInner {
        &self.inner
    }
}

impl std::ops::DerefMut for Packet {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut PacketInner {
        &mut self.inner
    }
}

impl Packet {
    /// A packet holding a copy of `frame`, with [`HEADROOM`] bytes in front.
    /// Allocates; the fast path takes buffers from a [`PacketPool`] instead.
    pub fn from_bytes(frame: &[u8]) -> Packet {
        let cap = (HEADROOM + frame.len()).max(DEFAULT_BUF_SIZE);
        let mut buf = vec![0u8; cap].into_boxed_slice();
        buf[HEADROOM..HEADROOM + frame.len()].copy_from_slice(frame);
        Packet {
            inner: Box::new(PacketInner::heap(buf, HEADROOM as u32, frame.len() as u32)),
        }
    }

    /// A packet over a foreign buffer whose frame is `buf[head..head+len]`.
    ///
    /// # Safety
    /// `buf.ptr` must be valid for reads and writes of `buf.cap` bytes, not
    /// be accessed by anyone else until `buf.release(buf.token)` is called
    /// or the packet is taken apart with [`Packet::into_foreign`], and
    /// `head + len <= cap`.
    pub unsafe fn from_foreign(buf: ForeignBuf, head: u32, len: u32) -> Packet {
        debug_assert!(head as u64 + len as u64 <= buf.cap as u64);
        Packet {
            inner: Box::new(PacketInner {
                base: buf.ptr,
                owner: Owner::Foreign {
                    token: buf.token,
                    release: buf.release,
                },
                cap: buf.cap,
                head,
                len,
                md: PacketMeta::default(),
            }),
        }
    }

    /// Takes a foreign packet apart without releasing its buffer, returning
    /// the buffer and the frame's current `head` and `len` so the owner can
    /// write them back (for DPDK: `data_off`, `data_len`, `pkt_len`).
    /// A heap packet is returned unchanged as `Err`.
    pub fn into_foreign(mut self) -> Result<(ForeignBuf, u32, u32), Packet> {
        let (head, len) = (self.inner.head, self.inner.len);
        match self.inner.take_foreign() {
            // The box drops as an empty shell: nothing else to free.
            Some(f) => Ok((f, head, len)),
            None => Err(self),
        }
    }
}

impl PacketInner {
    /// A packet's inner part over heap buffer `buf`, frame `head..head+len`
    /// (which must lie within `buf`).
    fn heap(buf: Box<[u8]>, head: u32, len: u32) -> PacketInner {
        // Buffers are a frame plus headroom: far below 4 GiB, so `cap`
        // always holds the exact length `Drop` rebuilds the box with.
        let cap = u32::try_from(buf.len()).expect("packet buffer below 4 GiB");
        debug_assert!(head as u64 + len as u64 <= cap as u64);
        PacketInner {
            base: NonNull::from(Box::leak(buf)).cast::<u8>(),
            owner: Owner::Heap,
            cap,
            head,
            len,
            md: PacketMeta::default(),
        }
    }

    /// Whether this is an empty shell (heap owner, no buffer).
    fn is_shell(&self) -> bool {
        matches!(self.owner, Owner::Heap) && self.cap == 0
    }

    /// Makes this an empty shell. Whatever it owned must have been given
    /// away or freed first.
    #[inline(always)]
    fn make_shell(&mut self) {
        self.base = NonNull::dangling();
        self.cap = 0;
        self.owner = Owner::Heap;
        self.head = 0;
        self.len = 0;
    }

    /// A foreign buffer handed back to its owner, unreleased, leaving an
    /// empty shell; `None` (and no change) for a heap buffer.
    #[inline(always)]
    fn take_foreign(&mut self) -> Option<ForeignBuf> {
        let Owner::Foreign { token, release } = self.owner else {
            return None;
        };
        let f = ForeignBuf {
            ptr: self.base,
            cap: self.cap,
            token,
            release,
        };
        self.make_shell();
        Some(f)
    }

    #[inline(always)]
    fn buf(&self) -> &[u8] {
        // SAFETY: the struct's invariant: `base` is valid for `cap` bytes
        // and this packet's alone while it lives.
        unsafe { std::slice::from_raw_parts(self.base.as_ptr(), self.cap as usize) }
    }

    #[inline(always)]
    fn buf_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `buf`; `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.base.as_ptr(), self.cap as usize) }
    }

    /// The frame.
    #[inline(always)]
    pub fn data(&self) -> &[u8] {
        let (h, l) = (self.head as usize, self.len as usize);
        &self.buf()[h..h + l]
    }

    /// The frame, writable.
    #[inline(always)]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let (h, l) = (self.head as usize, self.len as usize);
        &mut self.buf_mut()[h..h + l]
    }

    /// Frame length in bytes.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the frame is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes free in front of the frame.
    pub fn headroom(&self) -> usize {
        self.head as usize
    }

    /// Bytes free behind the frame.
    pub fn tailroom(&self) -> usize {
        self.buf().len() - self.head as usize - self.len as usize
    }

    /// Offset of the frame in its buffer.
    pub fn head(&self) -> u32 {
        self.head
    }

    /// Grows the frame by `n` bytes at the front and returns the frame.
    /// Header offsets in the metadata move by `n`.
    pub fn push_head(&mut self, n: usize) -> Result<&mut [u8], BufError> {
        if n > self.head as usize {
            return Err(BufError::NoHeadroom {
                need: n,
                have: self.head as usize,
            });
        }
        self.head -= n as u32;
        self.len += n as u32;
        shift_ofs(&mut self.md, n as i32);
        Ok(self.data_mut())
    }

    /// Removes `n` bytes from the front of the frame. Header offsets in the
    /// metadata move by `-n` (those that fall before the new start are
    /// cleared).
    pub fn pull_head(&mut self, n: usize) -> Result<(), BufError> {
        if n > self.len as usize {
            return Err(BufError::TooShort {
                need: n,
                have: self.len as usize,
            });
        }
        self.head += n as u32;
        self.len -= n as u32;
        shift_ofs(&mut self.md, -(n as i32));
        Ok(())
    }

    /// Sets the frame length (shrinking, or growing into tailroom with
    /// whatever bytes the buffer holds there).
    pub fn set_len(&mut self, len: usize) -> Result<(), BufError> {
        let cap = self.buf().len() - self.head as usize;
        if len > cap {
            return Err(BufError::TooLong { len, cap });
        }
        self.len = len as u32;
        Ok(())
    }

    /// Replaces the frame with `frame` (same buffer, headroom kept where
    /// possible). Used by pools and tests.
    pub fn set_data(&mut self, frame: &[u8]) -> Result<(), BufError> {
        let cap = self.buf().len();
        let head = HEADROOM.min(cap.saturating_sub(frame.len()));
        if head + frame.len() > cap {
            return Err(BufError::TooLong {
                len: frame.len(),
                cap,
            });
        }
        self.head = head as u32;
        self.len = frame.len() as u32;
        self.data_mut().copy_from_slice(frame);
        self.md.reset();
        Ok(())
    }

    /// A heap copy of this packet (frame and metadata), with the same
    /// headroom. Used when one packet goes to several outputs.
    pub fn clone_heap(&self) -> Packet {
        let mut p = Packet::from_bytes(self.data());
        p.md = self.md;
        p
    }

    /// Hints the CPU to start loading the first cache line of the frame,
    /// so that a later stage finds the headers in L1. A no-op where the
    /// architecture has no prefetch instruction.
    #[inline(always)]
    pub fn prefetch(&self) {
        prefetch_lines(self.buf().as_ptr().wrapping_add(self.head as usize), 1);
    }

    /// The L3 header and everything after it, if known.
    pub fn l3(&self) -> Option<&[u8]> {
        let o = self.md.l3_ofs;
        (o != NO_OFS)
            .then(|| self.data().get(o as usize..))
            .flatten()
    }

    /// The L4 header and everything after it, if known.
    pub fn l4(&self) -> Option<&[u8]> {
        let o = self.md.l4_ofs;
        (o != NO_OFS)
            .then(|| self.data().get(o as usize..))
            .flatten()
    }
}

/// Hints the CPU to start loading `lines` cache lines from `p` into L1.
/// Never reads or faults, whatever `p` is; a no-op where the architecture
/// has no prefetch instruction. (The one prefetch primitive of the crate,
/// so its `unsafe` stays in this buffer module.)
#[inline(always)]
pub fn prefetch_lines(p: *const u8, lines: usize) {
    #[cfg(target_arch = "x86_64")]
    for l in 0..lines {
        // SAFETY: PREFETCHT0 is a hint: it never faults and has no
        // architectural effect whatever the address; SSE is part of the
        // x86_64 baseline. The address is only formed, not dereferenced.
        unsafe {
            core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
                p.wrapping_add(l * 64) as *const i8,
            )
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, lines);
}

fn shift_ofs(md: &mut PacketMeta, by: i32) {
    for o in [&mut md.l3_ofs, &mut md.l4_ofs] {
        if *o != NO_OFS {
            let v = *o as i32 + by;
            *o = if (0..NO_OFS as i32).contains(&v) {
                v as u16
            } else {
                NO_OFS
            };
        }
    }
}

impl Drop for PacketInner {
    fn drop(&mut self) {
        match self.owner {
            // SAFETY: the Heap owner's invariant: `base`/`cap` are a
            // `Box<[u8]>` of exactly `cap` bytes leaked by `heap` (or the
            // dangling empty slice of a shell, whose box frees nothing),
            // rebuilt once, here.
            Owner::Heap => unsafe {
                drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                    self.base.as_ptr(),
                    self.cap as usize,
                )))
            },
            // SAFETY: the packet owns the foreign buffer (from_foreign's
            // contract) and drop runs once; a buffer handed back
            // (take_foreign) left a shell behind instead.
            Owner::Foreign { token, release } => unsafe { release(token) },
        }
    }
}

impl std::fmt::Debug for Packet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packet")
            .field("len", &self.inner.len)
            .field("headroom", &self.inner.head)
            .field("md", &self.inner.md)
            .finish()
    }
}

/// A recycling pool of heap packets (buffer and metadata box together),
/// owned by one thread (a PMD or a port). `alloc` reuses a freed packet
/// when one is available, so a port that receives into pool packets and a
/// PMD that returns dropped/sent packets with `free` do no heap allocation
/// in steady state. Foreign packets (DPDK mbufs) recycle their metadata
/// boxes too, as buffer-less shells: [`PacketPool::wrap_foreign`] takes a
/// shell, [`PacketPool::take_foreign`] and `free` give it back (measured:
/// a malloc and a free per packet were 27% of a DPDK forwarding PMD).
pub struct PacketPool {
    // Boxes on purpose: a spare is handed out as a `Packet` (a box) with no
    // allocation, which a `Vec<PacketInner>` could not do.
    #[allow(clippy::vec_box)]
    free: Vec<Box<PacketInner>>,
    /// Metadata boxes without a buffer (an empty heap slice,
    /// which owns no memory), for foreign packets.
    #[allow(clippy::vec_box)]
    shells: Vec<Box<PacketInner>>,
    buf_size: usize,
    max_free: usize,
}

impl PacketPool {
    /// A pool of `buf_size`-byte buffers keeping at most `max_free` spares.
    pub fn new(buf_size: usize, max_free: usize) -> PacketPool {
        PacketPool {
            free: Vec::with_capacity(max_free),
            shells: Vec::new(),
            buf_size: buf_size.max(HEADROOM + 64),
            max_free,
        }
    }

    /// An empty packet (length 0, [`HEADROOM`] bytes of headroom).
    pub fn alloc(&mut self) -> Packet {
        let mut inner = self.free.pop().unwrap_or_else(|| {
            Box::new(PacketInner::heap(
                vec![0u8; self.buf_size].into_boxed_slice(),
                0,
                0,
            ))
        });
        inner.head = HEADROOM as u32;
        inner.len = 0;
        inner.md.reset();
        Packet { inner }
    }

    /// A packet holding a copy of `frame`, or an error if it does not fit.
    pub fn alloc_from(&mut self, frame: &[u8]) -> Result<Packet, BufError> {
        let mut p = self.alloc();
        match p.set_data(frame) {
            Ok(()) => Ok(p),
            Err(e) => {
                self.free(p);
                Err(e)
            }
        }
    }

    /// Returns a packet to the pool (foreign packets are released and
    /// their box kept as a shell).
    pub fn free(&mut self, pkt: Packet) {
        let mut inner = pkt.inner;
        match inner.take_foreign() {
            None => {
                if inner.cap as usize == self.buf_size && self.free.len() < self.max_free {
                    self.free.push(inner);
                }
                // Otherwise `inner` drops here and its memory is freed.
            }
            Some(f) => {
                // SAFETY: the packet owned the buffer (from_foreign's
                // contract); it is released once, here, and the shell no
                // longer refers to it.
                unsafe { (f.release)(f.token) }
                self.keep_shell(inner);
            }
        }
    }

    #[inline(always)]
    fn keep_shell(&mut self, inner: Box<PacketInner>) {
        if self.shells.len() < self.max_free {
            self.shells.push(inner);
        }
    }

    /// A packet over a foreign buffer whose frame is `buf[head..head+len]`,
    /// in a recycled shell when there is one (no allocation).
    ///
    /// # Safety
    /// As [`Packet::from_foreign`].
    #[inline]
    pub unsafe fn wrap_foreign(&mut self, buf: ForeignBuf, head: u32, len: u32) -> Packet {
        debug_assert!(head as u64 + len as u64 <= buf.cap as u64);
        match self.shells.pop() {
            Some(mut inner) => {
                // A shell owns nothing, so it is overwritten in place.
                debug_assert!(inner.is_shell());
                inner.base = buf.ptr;
                inner.cap = buf.cap;
                inner.owner = Owner::Foreign {
                    token: buf.token,
                    release: buf.release,
                };
                inner.head = head;
                inner.len = len;
                inner.md.reset();
                Packet { inner }
            }
            // SAFETY: the caller's contract is from_foreign's.
            None => unsafe { Packet::from_foreign(buf, head, len) },
        }
    }

    /// [`Packet::into_foreign`], keeping the packet's box as a shell for
    /// [`PacketPool::wrap_foreign`].
    #[inline]
    pub fn take_foreign(&mut self, pkt: Packet) -> Result<(ForeignBuf, u32, u32), Packet> {
        let mut inner = pkt.inner;
        let (head, len) = (inner.head, inner.len);
        match inner.take_foreign() {
            Some(f) => {
                self.keep_shell(inner);
                Ok((f, head, len))
            }
            None => Err(Packet { inner }),
        }
    }

    /// Number of spare packets held.
    pub fn spare(&self) -> usize {
        self.free.len()
    }
}

/// Up to [`MAX_BURST`] packets, as received in one burst. The vector is
/// allocated once with capacity [`MAX_BURST`] and reused.
pub struct PacketBatch {
    pkts: Vec<Packet>,
}

impl Default for PacketBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl PacketBatch {
    /// An empty batch.
    pub fn new() -> PacketBatch {
        PacketBatch {
            pkts: Vec::with_capacity(MAX_BURST),
        }
    }

    /// Adds a packet; gives it back when the batch is full.
    #[inline]
    pub fn push(&mut self, pkt: Packet) -> Result<(), Packet> {
        if self.pkts.len() >= MAX_BURST {
            return Err(pkt);
        }
        self.pkts.push(pkt);
        Ok(())
    }

    /// Number of packets.
    #[inline]
    pub fn len(&self) -> usize {
        self.pkts.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.pkts.is_empty()
    }

    /// Whether the batch holds [`MAX_BURST`] packets.
    pub fn is_full(&self) -> bool {
        self.pkts.len() >= MAX_BURST
    }

    /// The packets.
    pub fn packets(&self) -> &[Packet] {
        &self.pkts
    }

    /// The packets, writable.
    pub fn packets_mut(&mut self) -> &mut [Packet] {
        &mut self.pkts
    }

    /// Removes and yields every packet, leaving the batch empty (its
    /// capacity is kept).
    pub fn drain(&mut self) -> std::vec::Drain<'_, Packet> {
        self.pkts.drain(..)
    }

    /// Drops every packet.
    pub fn clear(&mut self) {
        self.pkts.clear()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn buffer_fields_and_common_metadata_share_the_first_cache_line() {
        let p = Packet::from_bytes(&[0; 64]);
        let base = &*p as *const PacketInner as usize;
        let tun = p.md.tunnel() as *const TunnelMeta as usize;
        // tunnel() of an untunnelled packet is the constant, not its area.
        assert_ne!(tun, base + std::mem::offset_of!(PacketInner, md));
        let md = base + std::mem::offset_of!(PacketInner, md);
        let hot_end = md + std::mem::offset_of!(PacketMeta, tunnel);
        assert_eq!(base % 64, 0);
        assert!(hot_end - base <= 64, "{} bytes", hot_end - base);
    }

    #[test]
    fn reset_leaves_no_tunnel_behind() {
        let mut md = PacketMeta::NEW;
        md.set_tunnel(TunnelMeta {
            tun_id: 5,
            ipv4_dst: 1,
            ..TunnelMeta::NONE
        });
        md.in_port = 3;
        assert_eq!(md.tunnel().tun_id, 5);
        md.reset();
        assert!(!md.has_tunnel());
        assert_eq!(*md.tunnel(), TunnelMeta::NONE);
        assert_eq!(md, PacketMeta::NEW);
        md.tunnel_mut().tp_dst = 4789;
        assert_eq!(md.tunnel().tun_id, 0);
        assert_eq!(md.tunnel().tp_dst, 4789);
        md.clear_tunnel();
        assert_eq!(md, PacketMeta::NEW);
    }

    #[test]
    fn push_and_pull_head_keep_offsets() {
        let mut p = Packet::from_bytes(&[1, 2, 3, 4, 5, 6]);
        p.md.l3_ofs = 2;
        p.md.l4_ofs = 4;
        assert_eq!(p.headroom(), HEADROOM);
        p.push_head(4)
            .unwrap()
            .copy_from_slice(&[9, 9, 9, 9, 1, 2, 3, 4, 5, 6]);
        assert_eq!(p.len(), 10);
        assert_eq!((p.md.l3_ofs, p.md.l4_ofs), (6, 8));
        p.pull_head(7).unwrap();
        assert_eq!(p.data(), &[4, 5, 6]);
        assert_eq!((p.md.l3_ofs, p.md.l4_ofs), (NO_OFS, 1));
    }

    #[test]
    fn push_beyond_headroom_fails_and_leaves_packet() {
        let mut p = Packet::from_bytes(&[1, 2]);
        let e = p.push_head(HEADROOM + 1).unwrap_err();
        assert_eq!(
            e,
            BufError::NoHeadroom {
                need: HEADROOM + 1,
                have: HEADROOM
            }
        );
        assert_eq!(p.data(), &[1, 2]);
        assert!(p.pull_head(3).is_err());
    }

    #[test]
    fn pool_recycles_buffers() {
        let mut pool = PacketPool::new(DEFAULT_BUF_SIZE, 4);
        let p = pool.alloc_from(&[0xaa; 60]).unwrap();
        assert_eq!(p.len(), 60);
        pool.free(p);
        assert_eq!(pool.spare(), 1);
        let p = pool.alloc();
        assert_eq!(pool.spare(), 0);
        assert_eq!(p.len(), 0);
        assert!(pool.alloc_from(&vec![0; DEFAULT_BUF_SIZE + 1]).is_err());
    }

    static RELEASED: AtomicUsize = AtomicUsize::new(0);
    unsafe fn release(token: usize) {
        // SAFETY: tokens in this test are leaked boxes made below.
        drop(unsafe { Box::from_raw(token as *mut [u8; 256]) });
        RELEASED.fetch_add(1, Ordering::SeqCst);
    }

    fn foreign() -> Packet {
        let b: Box<[u8; 256]> = Box::new([7; 256]);
        let raw = Box::into_raw(b);
        let buf = ForeignBuf {
            ptr: NonNull::new(raw as *mut u8).unwrap(),
            cap: 256,
            token: raw as usize,
            release,
        };
        // SAFETY: the box is valid for 256 bytes and owned only by the packet.
        unsafe { Packet::from_foreign(buf, 128, 64) }
    }

    #[test]
    fn foreign_buffers_release_exactly_once() {
        let before = RELEASED.load(Ordering::SeqCst);
        let mut p = foreign();
        p.data_mut()[0] = 1;
        p.push_head(4).unwrap();
        assert_eq!(p.len(), 68);
        drop(p);
        assert_eq!(RELEASED.load(Ordering::SeqCst), before + 1);
        let p = foreign();
        let (f, head, len) = p.into_foreign().ok().unwrap();
        assert_eq!((head, len), (128, 64));
        assert_eq!(RELEASED.load(Ordering::SeqCst), before + 1);
        // SAFETY: we own the buffer again after into_foreign.
        unsafe { (f.release)(f.token) };
        let mut pool = PacketPool::new(DEFAULT_BUF_SIZE, 4);
        pool.free(foreign());
        assert_eq!(RELEASED.load(Ordering::SeqCst), before + 3);
        assert_eq!(pool.spare(), 0);
    }

    #[test]
    fn foreign_shells_are_recycled() {
        let before = RELEASED.load(Ordering::SeqCst);
        let mut pool = PacketPool::new(DEFAULT_BUF_SIZE, 4);
        let p = foreign();
        let (f, head, len) = pool.take_foreign(p).ok().unwrap();
        assert_eq!((head, len), (128, 64));
        assert_eq!(pool.shells.len(), 1);
        assert_eq!(RELEASED.load(Ordering::SeqCst), before);
        // SAFETY: the buffer is ours again after take_foreign.
        let p = unsafe { pool.wrap_foreign(f, 100, 10) };
        assert_eq!(pool.shells.len(), 0);
        assert_eq!((p.head(), p.len()), (100, 10));
        pool.free(p);
        assert_eq!(pool.shells.len(), 1);
        assert_eq!(pool.spare(), 0);
        assert_eq!(RELEASED.load(Ordering::SeqCst), before + 1);
        let heap = Packet::from_bytes(&[1, 2, 3]);
        assert!(pool.take_foreign(heap).is_err());
    }

    #[test]
    fn batch_holds_at_most_a_burst() {
        let mut b = PacketBatch::new();
        for _ in 0..MAX_BURST {
            b.push(Packet::from_bytes(&[0; 14])).unwrap();
        }
        assert!(b.is_full());
        assert!(b.push(Packet::from_bytes(&[0; 14])).is_err());
        assert_eq!(b.drain().count(), MAX_BURST);
        assert!(b.is_empty());
    }
}
