//! A DPDK ethernet device: attach by devargs, configure, start, and on
//! drop stop, close and detach it.
//!
//! Setup, as OVS's netdev-dpdk does it: `rte_dev_probe(devargs)` (a PCI
//! address such as `0000:03:00.0`, or a virtual device such as
//! `net_pcap0,rx_pcap=in.pcap`; a device already attached, for instance
//! by `--vdev` in the EAL arguments, is used as it is), find its ethdev
//! port, check the queue counts against the device's limits, configure
//! RSS over IP/TCP/UDP when there is more than one receive queue and the
//! device hashes, set the MTU, set up every queue with descriptors
//! adjusted to the device's limits, start, and turn promiscuous mode on
//! (a switch port sees every frame).
//!
//! # Thread safety
//! Setup and teardown run on the control thread, serialised by
//! `DEVICES`, which also records which rvs port uses which device. The
//! statistics calls are thread-safe in DPDK and may run on any thread
//! while PMDs poll.

use super::mempool::Mempool;
use super::{strerror, DpdkError};
use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::sync::Mutex;

/// ethdev port id → rvs port name, for every device rvs has set up.
static DEVICES: Mutex<Option<HashMap<u16, String>>> = Mutex::new(None);

/// The queue geometry and MTU asked of a device.
#[derive(Clone, Copy, Debug)]
pub struct DeviceSetup {
    /// Receive queues.
    pub n_rxq: u16,
    /// Transmit queues.
    pub n_txq: u16,
    /// Whether `n_txq` was asked for explicitly: when not, it is cut to
    /// what the device has (PMDs then share queues under a lock).
    pub n_txq_explicit: bool,
    /// Receive descriptors per queue.
    pub rxq_size: u16,
    /// Transmit descriptors per queue.
    pub txq_size: u16,
    /// MTU.
    pub mtu: u16,
}

/// Device counters (`rte_eth_stats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceStats {
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets the device dropped for lack of room (`imissed`) or
    /// buffers (`rx_nombuf`).
    pub rx_dropped: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Transmit errors.
    pub tx_errors: u64,
}

/// Link state (`rte_eth_link_get_nowait`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkState {
    /// Whether the link is up.
    pub up: bool,
    /// Speed in Mbps (0 when unknown).
    pub speed_mbps: u32,
    /// Full duplex.
    pub full_duplex: bool,
}

/// A started device.
pub struct EthDev {
    port_id: u16,
    name: String,
    device: *mut dpdk_sys::rte_device,
    pool: Option<Mempool>,
    n_rxq: u16,
    n_txq: u16,
    rss: bool,
    /// Whether the device is recorded in `DEVICES` (set once `open`
    /// succeeds; a failed `open` tears down under its own lock).
    registered: bool,
}

// SAFETY: `device` is only an identifier handed back to DPDK at close,
// on whatever thread drops the last reference; ethdev control functions
// are not tied to a thread (calls are serialised by DEVICES).
unsafe impl Send for EthDev {}
// SAFETY: shared references only call DPDK's thread-safe statistics and
// link functions.
unsafe impl Sync for EthDev {}

fn cstring(what: &str, s: &str) -> Result<CString, DpdkError> {
    CString::new(s).map_err(|_| DpdkError::Nul { what: what.into() })
}

/// The ethdev name of port `id`.
fn port_name(id: u16) -> String {
    let mut buf = [0 as std::ffi::c_char; 64];
    // SAFETY: buf has room for RTE_ETH_NAME_MAX_LEN (64) bytes.
    let r = unsafe { dpdk_sys::rte_eth_dev_get_name_by_port(id, buf.as_mut_ptr()) };
    if r != 0 {
        return format!("port{id}");
    }
    // SAFETY: DPDK wrote a NUL-terminated name into buf.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// The ethdev port the devargs attached: by the name before the first
/// comma (virtual devices, full PCI addresses), else by DPDK's devargs
/// iterator (PCI short forms, class syntax).
fn find_port(devargs: &CString, text: &str) -> Option<u16> {
    let mut id = 0u16;
    let name = text.split(',').next().unwrap_or(text).trim();
    let cname = CString::new(name).ok()?;
    // SAFETY: a valid C string and a place for the id.
    if unsafe { dpdk_sys::rte_eth_dev_get_port_by_name(cname.as_ptr(), &mut id) } == 0 {
        return Some(id);
    }
    let mut it = dpdk_sys::rte_dev_iterator::default();
    // SAFETY: `it` is a zeroed iterator and devargs a C string, both alive
    // across init, next and cleanup.
    unsafe {
        if dpdk_sys::rte_eth_iterator_init(&mut it, devargs.as_ptr()) != 0 {
            return None;
        }
        let id = dpdk_sys::rte_eth_iterator_next(&mut it);
        dpdk_sys::rte_eth_iterator_cleanup(&mut it);
        ((id as u32) < dpdk_sys::RTE_MAX_ETHPORTS).then_some(id)
    }
}

impl EthDev {
    /// Attaches and starts the device `devargs` for rvs port `port`, with
    /// `mbufs` mbufs in its pool.
    pub fn open(
        port: &str,
        devargs: &str,
        setup: &DeviceSetup,
        extra_mbufs: u32,
    ) -> Result<EthDev, DpdkError> {
        if !super::eal::is_initialised() {
            return Err(DpdkError::NoEal);
        }
        let mut devices = DEVICES.lock().unwrap_or_else(|e| e.into_inner());
        let devices = devices.get_or_insert_with(HashMap::new);
        let cdev = cstring("devargs", devargs)?;
        // SAFETY: a valid C string; probing is serialised by DEVICES.
        let r = unsafe { dpdk_sys::rte_dev_probe(cdev.as_ptr()) };
        if r < 0 && r != -(libc_eexist()) {
            return Err(DpdkError::Probe {
                devargs: devargs.into(),
                reason: strerror(r),
            });
        }
        let port_id = find_port(&cdev, devargs).ok_or_else(|| DpdkError::NoPort {
            devargs: devargs.into(),
        })?;
        let name = port_name(port_id);
        if let Some(other) = devices.get(&port_id) {
            return Err(DpdkError::InUse {
                devargs: devargs.into(),
                device: name,
                other: other.clone(),
            });
        }
        let mut info = dpdk_sys::rte_eth_dev_info::default();
        // SAFETY: a valid port id and a place for the info.
        let r = unsafe { dpdk_sys::rte_eth_dev_info_get(port_id, &mut info) };
        let dev_err = |op: &'static str, r: i32| DpdkError::Device {
            device: name.clone(),
            op,
            reason: strerror(r),
        };
        if r != 0 {
            return Err(dev_err("rte_eth_dev_info_get", r));
        }
        let mut dev = EthDev {
            port_id,
            name: name.clone(),
            device: info.device,
            pool: None,
            n_rxq: setup.n_rxq,
            n_txq: setup.n_txq,
            rss: false,
            registered: false,
        };
        // From here on, dropping `dev` stops, closes and detaches.
        if setup.n_rxq == 0 || setup.n_rxq > info.max_rx_queues {
            return Err(DpdkError::Setting {
                key: "n_rxq",
                reason: format!(
                    "{} receive queues asked; device {name} has 1 to {}",
                    setup.n_rxq, info.max_rx_queues
                ),
            });
        }
        if !setup.n_txq_explicit && setup.n_txq > info.max_tx_queues && info.max_tx_queues > 0 {
            tracing::info!(device = %name, pmds = setup.n_txq, txqs = info.max_tx_queues, "fewer transmit queues than PMDs: PMDs share them under a lock");
            dev.n_txq = info.max_tx_queues;
        }
        let n_txq = dev.n_txq;
        if n_txq == 0 || n_txq > info.max_tx_queues {
            return Err(DpdkError::Setting {
                key: "n_txq",
                reason: format!(
                    "{} transmit queues asked; device {name} has 1 to {}",
                    n_txq, info.max_tx_queues
                ),
            });
        }
        let max_mtu = info.max_mtu;
        if setup.mtu < info.min_mtu.max(68) || setup.mtu > max_mtu {
            return Err(DpdkError::Setting {
                key: "mtu",
                reason: format!(
                    "{} out of the device's range {}-{}",
                    setup.mtu,
                    info.min_mtu.max(68),
                    max_mtu
                ),
            });
        }
        let mut conf = dpdk_sys::rte_eth_conf::default();
        // SAFETY: reads a constant.
        let want_hf = unsafe { dpdk_sys::rvs_rss_hf_default() };
        let hf = want_hf & info.flow_type_rss_offloads;
        if setup.n_rxq > 1 && hf != 0 {
            conf.rxmode.mq_mode = dpdk_sys::rte_eth_rx_mq_mode::RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_hf = hf;
            dev.rss = true;
        } else if setup.n_rxq > 1 {
            tracing::warn!(device = %name, "device does not hash (no RSS): its receive queues are filled as the device decides");
        }
        conf.rxmode.mtu = setup.mtu as u32;
        // SAFETY: valid port id, queue counts checked, conf fully built.
        let r = unsafe { dpdk_sys::rte_eth_dev_configure(port_id, setup.n_rxq, n_txq, &conf) };
        if r != 0 {
            return Err(dev_err("rte_eth_dev_configure", r));
        }
        let (mut nb_rx, mut nb_tx) = (setup.rxq_size, setup.txq_size);
        // SAFETY: valid port id and places for the adjusted sizes.
        let r =
            unsafe { dpdk_sys::rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &mut nb_rx, &mut nb_tx) };
        if r != 0 {
            return Err(dev_err("rte_eth_dev_adjust_nb_rx_tx_desc", r));
        }
        // SAFETY: valid port id.
        let socket = unsafe { dpdk_sys::rte_eth_dev_socket_id(port_id) };
        let mbufs = setup.n_rxq as u32 * nb_rx as u32 + n_txq as u32 * nb_tx as u32 + extra_mbufs;
        // Frame: MTU + Ethernet header + two VLAN tags + CRC.
        let frame = (setup.mtu as u32 + 14 + 8 + 4).max(2048);
        let data_room = (dpdk_sys::RTE_PKTMBUF_HEADROOM + frame).min(u16::MAX as u32) as u16;
        let pool = Mempool::get(mbufs, data_room, socket)?;
        let pool_ptr = pool.as_ptr();
        dev.pool = Some(pool);
        for q in 0..setup.n_rxq {
            // SAFETY: configured port, queue in range, a valid pool that
            // outlives the device (pools are never freed).
            let r = unsafe {
                dpdk_sys::rte_eth_rx_queue_setup(
                    port_id,
                    q,
                    nb_rx,
                    socket as u32,
                    std::ptr::null(),
                    pool_ptr,
                )
            };
            if r != 0 {
                return Err(dev_err("rte_eth_rx_queue_setup", r));
            }
        }
        for q in 0..n_txq {
            // SAFETY: configured port, queue in range.
            let r = unsafe {
                dpdk_sys::rte_eth_tx_queue_setup(port_id, q, nb_tx, socket as u32, std::ptr::null())
            };
            if r != 0 {
                return Err(dev_err("rte_eth_tx_queue_setup", r));
            }
        }
        // SAFETY: every queue is set up.
        let r = unsafe { dpdk_sys::rte_eth_dev_start(port_id) };
        if r != 0 {
            return Err(dev_err("rte_eth_dev_start", r));
        }
        // SAFETY: a started port; failure (unsupported) is harmless.
        unsafe { dpdk_sys::rte_eth_promiscuous_enable(port_id) };
        devices.insert(port_id, port.to_owned());
        dev.registered = true;
        tracing::info!(port, device = %name, port_id, n_rxq = setup.n_rxq, n_txq, rxq_size = nb_rx, txq_size = nb_tx, mtu = setup.mtu, rss = dev.rss, mbufs, "DPDK device started");
        Ok(dev)
    }

    /// The ethdev port id.
    pub fn port_id(&self) -> u16 {
        self.port_id
    }

    /// The ethdev name (`net_pcap0`, `0000:03:00.0`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Receive queues.
    pub fn n_rxq(&self) -> u16 {
        self.n_rxq
    }

    /// Transmit queues.
    pub fn n_txq(&self) -> u16 {
        self.n_txq
    }

    /// Whether RSS spreads packets over the receive queues.
    pub fn rss(&self) -> bool {
        self.rss
    }

    /// The device's mbuf pool.
    pub fn pool(&self) -> &Mempool {
        self.pool.as_ref().expect("a started device has its pool")
    }

    /// Device counters.
    pub fn stats(&self) -> Option<DeviceStats> {
        let mut s = dpdk_sys::rte_eth_stats::default();
        // SAFETY: a started port and a place for the stats.
        if unsafe { dpdk_sys::rte_eth_stats_get(self.port_id, &mut s) } != 0 {
            return None;
        }
        Some(DeviceStats {
            rx_packets: s.ipackets,
            rx_bytes: s.ibytes,
            rx_dropped: s.imissed + s.rx_nombuf,
            rx_errors: s.ierrors,
            tx_packets: s.opackets,
            tx_bytes: s.obytes,
            tx_errors: s.oerrors,
        })
    }

    /// Extended statistics, by name, in the device's order.
    pub fn xstats(&self) -> Result<Vec<(String, u64)>, DpdkError> {
        let err = |op, r: i32| DpdkError::Device {
            device: self.name.clone(),
            op,
            reason: strerror(r),
        };
        // SAFETY: a NULL array with size 0 asks for the count.
        let n =
            unsafe { dpdk_sys::rte_eth_xstats_get_names(self.port_id, std::ptr::null_mut(), 0) };
        if n < 0 {
            return Err(err("rte_eth_xstats_get_names", n));
        }
        let mut names = vec![dpdk_sys::rte_eth_xstat_name::default(); n as usize];
        let mut vals = vec![dpdk_sys::rte_eth_xstat::default(); n as usize];
        // SAFETY: both arrays have n entries.
        let got_n = unsafe {
            dpdk_sys::rte_eth_xstats_get_names(self.port_id, names.as_mut_ptr(), n as u32)
        };
        // SAFETY: as above.
        let got_v =
            unsafe { dpdk_sys::rte_eth_xstats_get(self.port_id, vals.as_mut_ptr(), n as u32) };
        if got_n < 0 || got_v < 0 {
            return Err(err("rte_eth_xstats_get", got_n.min(got_v)));
        }
        let k = (got_n.min(got_v) as usize).min(n as usize);
        Ok(vals[..k]
            .iter()
            .map(|v| {
                let name = names
                    .get(v.id as usize)
                    .map(|nm| {
                        // SAFETY: DPDK NUL-terminates every name in its
                        // 64-byte array.
                        unsafe { CStr::from_ptr(nm.name.as_ptr()) }
                            .to_string_lossy()
                            .into_owned()
                    })
                    .unwrap_or_else(|| format!("xstat{}", v.id));
                (name, v.value)
            })
            .collect())
    }

    /// Link state, without waiting.
    pub fn link(&self) -> Option<LinkState> {
        let mut l = dpdk_sys::rte_eth_link::default();
        // SAFETY: a started port and a place for the link.
        if unsafe { dpdk_sys::rte_eth_link_get_nowait(self.port_id, &mut l) } != 0 {
            return None;
        }
        Some(LinkState {
            up: l.link_status() != 0,
            speed_mbps: l.link_speed,
            full_duplex: l.link_duplex() != 0,
        })
    }
}

fn libc_eexist() -> i32 {
    17 // EEXIST on Linux
}

impl Drop for EthDev {
    fn drop(&mut self) {
        // A failed `open` drops its half-made device while holding the
        // lock already.
        let mut guard = self
            .registered
            .then(|| DEVICES.lock().unwrap_or_else(|e| e.into_inner()));
        // SAFETY: the port id is ours (recorded in DEVICES, or set up by
        // `open` which failed part-way); stop and close accept a port in
        // any state. The device is detached only when no ethdev port of it
        // remains, as OVS does.
        unsafe {
            let _ = dpdk_sys::rte_eth_dev_stop(self.port_id);
            let _ = dpdk_sys::rte_eth_dev_close(self.port_id);
            if !self.device.is_null() {
                let r = dpdk_sys::rte_dev_remove(self.device);
                if r != 0 {
                    tracing::warn!(device = %self.name, error = %strerror(r), "cannot detach DPDK device");
                }
            }
        }
        if let Some(d) = guard.as_mut().and_then(|g| g.as_mut()) {
            d.remove(&self.port_id);
        }
        if let Some(p) = self.pool.take() {
            p.retire();
        }
        tracing::info!(device = %self.name, "DPDK device closed");
    }
}
