//! The DPDK Environment Abstraction Layer: initialised once per process.
//!
//! `rte_eal_init` may run only once in a process (a second call fails
//! with `EALREADY`, even after a failure), so [`init`] runs it at most
//! once and remembers the outcome: later calls return the first result,
//! whatever arguments they pass. The calling thread's CPU affinity is
//! restored after init (EAL pins it to its main lcore; threads rvs starts
//! afterwards must not inherit that).
//!
//! PMD threads are not EAL threads; [`ThreadRegistration`] registers one
//! with `rte_thread_register` so it gets an lcore id, which the mbuf
//! pools' per-lcore caches need (without one every mbuf alloc and free
//! goes to the shared ring). Registration fails quietly (logged once)
//! when every lcore id is taken: the thread still works, uncached.
//!
//! # Thread safety
//! `init` is serialised by a mutex; the outcome is published through a
//! `OnceLock`. Registration is per thread (DPDK's own thread-local state).

use super::{last_error, DpdkError};
use std::ffi::{c_char, CString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

static OUTCOME: OnceLock<Result<(), String>> = OnceLock::new();
static INIT_LOCK: Mutex<()> = Mutex::new(());

/// Initialises the EAL with `args` (the `[dpdk] eal_args` config list;
/// the program name is prepended). Only the first call does anything.
pub fn init(args: &[String]) -> Result<(), DpdkError> {
    let _g = INIT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let outcome = OUTCOME.get_or_init(|| run_init(args));
    outcome.clone().map_err(|reason| DpdkError::EalInit {
        args: args.to_vec(),
        reason,
    })
}

/// Whether the EAL has been initialised successfully.
pub fn is_initialised() -> bool {
    matches!(OUTCOME.get(), Some(Ok(())))
}

fn run_init(args: &[String]) -> Result<(), String> {
    let mut owned = Vec::with_capacity(args.len() + 1);
    owned.push(CString::new("rvs").expect("no NUL in a literal"));
    for a in args {
        owned.push(
            CString::new(a.as_str()).map_err(|_| format!("argument {a:?} holds a NUL byte"))?,
        );
    }
    // rte_eal_init may permute argv (getopt), so it gets its own array of
    // pointers into `owned`, which outlives the call. DPDK keeps no
    // pointer into argv after init returns except for the program name,
    // which is leaked on purpose (a few bytes, once per process).
    let mut argv: Vec<*mut c_char> = owned.iter().map(|s| s.as_ptr() as *mut c_char).collect();
    let argc = argv.len() as i32;
    argv.push(std::ptr::null_mut());
    // SAFETY: argv holds argc valid NUL-terminated strings and a final
    // NULL, alive for the call; init runs once per process (OnceLock
    // under INIT_LOCK), as DPDK requires.
    let ret = unsafe { dpdk_sys::rvs_eal_init(argc, argv.as_mut_ptr()) };
    std::mem::forget(owned);
    if ret < 0 {
        return Err(last_error());
    }
    tracing::info!(?args, "DPDK EAL initialised");
    Ok(())
}

/// Makes the current thread an EAL thread (an lcore id) for as long as it
/// lives; see the module doc.
pub struct ThreadRegistration {
    registered: bool,
    /// Not `Send`: the registration belongs to the thread that made it.
    _thread: std::marker::PhantomData<*const ()>,
}

static WARNED: AtomicBool = AtomicBool::new(false);

impl ThreadRegistration {
    /// Registers the current thread if the EAL is up (does nothing
    /// otherwise).
    pub fn new() -> ThreadRegistration {
        if !is_initialised() {
            return ThreadRegistration {
                registered: false,
                _thread: std::marker::PhantomData,
            };
        }
        // SAFETY: the EAL is initialised (checked above); registration
        // concerns only the calling thread's DPDK thread-local state.
        let ret = unsafe { dpdk_sys::rte_thread_register() };
        if ret != 0 && !WARNED.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                error = %last_error(),
                "cannot register a PMD thread with DPDK (no free lcore id?): mbuf pools run without per-thread caches; give the EAL fewer lcores (-l 0)"
            );
        }
        ThreadRegistration {
            registered: ret == 0,
            _thread: std::marker::PhantomData,
        }
    }
}

impl Default for ThreadRegistration {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for ThreadRegistration {
    fn drop(&mut self) {
        if self.registered {
            // SAFETY: this thread registered itself in `new` (it is not
            // Send, so drop runs on the same thread).
            unsafe { dpdk_sys::rte_thread_unregister() };
        }
    }
}
