#!/usr/bin/env bash
# Prepares a Debian 12 machine to build and run rvs with DPDK ports.
#
#   scripts/setup-dpdk.sh                 # packages only
#   scripts/setup-dpdk.sh --hugepages N   # packages, then N 2 MB hugepages
#                                         # reserved now and hugetlbfs mounted
#
# What it does, each step skipped when already done (safe to run again):
#   1. apt-get install dpdk dpdk-dev libdpdk-dev libclang-dev pkg-config
#      (DPDK 22.11: the libraries, headers, drivers as plugins, dpdk-testpmd
#      and dpdk-devbind.py; libclang for bindgen; pkg-config to find libdpdk).
#      net_pcap needs libpcap, which the dpdk package pulls in.
#   2. with --hugepages N: writes N to
#      /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages (if fewer are
#      reserved) and mounts hugetlbfs on /dev/hugepages (if not mounted).
#      This does not survive a reboot: see hugepages.md for boot parameters,
#      1 GB pages, binding NICs to vfio-pci and isolating PMD cores.
#
# Without hugepages, rvs and its tests run DPDK with
#   [dpdk] eal_args = ["--no-huge", "-m", "1024", "--no-shconf"]
# which is slower and only for testing.
set -euo pipefail

hugepages=""
while [ $# -gt 0 ]; do
    case "$1" in
        --hugepages) hugepages="${2:?--hugepages needs a count}"; shift 2 ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) echo "setup-dpdk.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

pkgs="dpdk dpdk-dev libdpdk-dev libclang-dev pkg-config"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "setup-dpdk: installing$missing"
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y $missing
else
    echo "setup-dpdk: packages already installed ($pkgs)"
fi
echo "setup-dpdk: libdpdk $(pkg-config --modversion libdpdk)"

if [ -n "$hugepages" ]; then
    nr=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
    have=$(cat "$nr")
    if [ "$have" -lt "$hugepages" ]; then
        echo "setup-dpdk: reserving $hugepages 2 MB hugepages (had $have)"
        echo "$hugepages" | $SUDO tee "$nr" >/dev/null
        echo "setup-dpdk: got $(cat "$nr") (fragmented memory may give fewer; reserve at boot, see hugepages.md)"
    else
        echo "setup-dpdk: $have 2 MB hugepages already reserved"
    fi
    if ! grep -qs " hugetlbfs " /proc/mounts; then
        $SUDO mkdir -p /dev/hugepages
        $SUDO mount -t hugetlbfs nodev /dev/hugepages
        echo "setup-dpdk: mounted hugetlbfs on /dev/hugepages"
    else
        echo "setup-dpdk: hugetlbfs already mounted"
    fi
fi
