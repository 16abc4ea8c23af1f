//! Finds the system libdpdk with pkg-config, compiles the C shim against
//! it and generates the Rust bindings with bindgen (needs libclang).
//!
//! Everything is taken from `pkg-config --cflags libdpdk`, which includes
//! `-include rte_config.h`: the shim and bindgen see the same
//! configuration the library was built with.
//!
//! Without the `link` feature this does nothing (the crate is empty).

#[cfg(feature = "link")]
use std::path::PathBuf;
#[cfg(feature = "link")]
use std::process::Command;

#[cfg(feature = "link")]
const MIN_VERSION: &str = "22.11";
#[cfg(feature = "link")]
const HINT: &str = "install DPDK with scripts/setup-dpdk.sh \
    (apt-get install dpdk dpdk-dev libdpdk-dev libclang-dev pkg-config), \
    or build rvs without the `dpdk` feature";

#[cfg(feature = "link")]
fn cflags() -> Vec<String> {
    let pc = std::env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".into());
    let out = Command::new(&pc)
        .args(["--cflags", "libdpdk"])
        .output()
        .unwrap_or_else(|e| panic!("dpdk-sys: cannot run {pc}: {e}; {HINT}"));
    if !out.status.success() {
        panic!(
            "dpdk-sys: `{pc} --cflags libdpdk` failed: {}; {HINT}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

#[cfg(not(feature = "link"))]
fn main() {}

#[cfg(feature = "link")]
fn main() {
    println!("cargo:rerun-if-changed=shim/shim.c");
    println!("cargo:rerun-if-changed=shim/shim.h");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    let lib = pkg_config::Config::new()
        .atleast_version(MIN_VERSION)
        .probe("libdpdk")
        .unwrap_or_else(|e| panic!("dpdk-sys: libdpdk >= {MIN_VERSION} not found: {e}\n{HINT}"));
    let flags = cflags();

    // The shim: DPDK's static-inline functions as real symbols.
    let mut cc = cc::Build::new();
    cc.file("shim/shim.c").include("shim").warnings(true);
    // `-include rte_config.h`, `-march=...` and the include paths, as DPDK
    // asks; `-include` takes its file as the next argument.
    let mut it = flags.iter();
    while let Some(f) = it.next() {
        if f == "-include" {
            if let Some(h) = it.next() {
                cc.flag("-include").flag(h);
            }
        } else {
            cc.flag(f);
        }
    }
    cc.compile("rvs_dpdk_shim");

    // Bindings for the shim and the parts of DPDK rvs uses.
    let mut b = bindgen::Builder::default()
        .header("shim/shim.h")
        .clang_args(
            lib.include_paths
                .iter()
                .map(|p| format!("-I{}", p.display())),
        )
        .clang_args(flags.iter().filter(|f| !f.starts_with("-march")))
        .allowlist_function("rvs_.*")
        .allowlist_function("rte_eal_(cleanup|process_type)")
        .allowlist_function("rte_eth_(dev_.*|stats_.*|xstats_.*|link_get_nowait|iterator_.*|promiscuous_enable|rx_queue_setup|tx_queue_setup|find_next_owned_by)")
        .allowlist_function("rte_dev_(probe|remove)")
        .allowlist_function("rte_pktmbuf_pool_create")
        .allowlist_function("rte_mempool_(free|avail_count|in_use_count)")
        .allowlist_function("rte_strerror|rte_socket_id|rte_thread_(un)?register|rte_lcore_id")
        .allowlist_type("rte_mbuf|rte_eth_conf|rte_eth_dev_info|rte_eth_stats|rte_eth_xstat.*|rte_eth_link|rte_eth_dev_iterator|rte_eth_rxconf|rte_eth_txconf")
        .allowlist_var("RTE_PKTMBUF_HEADROOM|RTE_MBUF_DEFAULT_BUF_SIZE|RTE_ETH_NAME_MAX_LEN|RTE_MAX_ETHPORTS|SOCKET_ID_ANY|RTE_ETH_XSTATS_NAME_SIZE|RTE_ETH_LINK_UP|RTE_MBUF_F_RX_RSS_HASH|RTE_MBUF_F_INDIRECT|RTE_MBUF_F_EXTERNAL|RTE_MBUF_F_TX_OFFLOAD_MASK|RTE_MBUF_F_TX_IP_CKSUM|RTE_MBUF_F_TX_IPV4")
        .rustified_enum("rte_eth_rx_mq_mode")
        .derive_default(true)
        .layout_tests(false)
        .generate_comments(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()));
    if std::env::var("DOCS_RS").is_ok() {
        b = b.clang_arg("-w");
    }
    let bindings = b
        .generate()
        .unwrap_or_else(|e| panic!("dpdk-sys: bindgen failed: {e}; {HINT}"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("dpdk-sys: cannot write bindings.rs");
}
