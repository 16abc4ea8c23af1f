#!/usr/bin/env bash
# Port-to-port throughput of rvs with DPDK ports, against dpdk-testpmd's io
# forwarding on the same virtual devices and traffic (the I/O ceiling).
#
#   scripts/bench/dpdk-p2p.sh [--flows N] [--size BYTES] [--seconds S]
#                             [--repeats R] [--core C] [--rvs PATH]
#                             [--eal "ARGS"]
#
# Input: net_pcap replaying a capture forever (infinite_rx=1: the driver
# copies each packet into a fresh mbuf, like a NIC's DMA); output: net_null
# (no-rx=1: frees what it is given). One forwarding core for both: the rvs
# PMD (one rule in_port=1,actions=output:2) and testpmd's forwarding lcore
# are both pinned to core C (default 1); EAL's main lcore is core 0.
#
# rvs: Mpps and cycles/packet come from the PMD's own counters
# (`rvs ctl dpif-netdev/pmd-stats-show --json` after a warm-up and a
# `pmd-stats-clear`): Mpps = rx_packets / measured seconds, cycles/packet =
# (busy + idle cycles) / rx_packets. testpmd: the average of its
# per-second Rx-pps on the input port after the warm-up.
#
# --repeats R alternates the two R times (rvs, testpmd, rvs, ...) and
# reports each pair and the medians: on a shared VM the speed drifts
# between runs, so one pair's ratio can be far off (37-68% within minutes
# on the project's 2-vCPU VM); the median of pairs is what to quote.
#
# Defaults: 1 flow, 64-byte frames, 10 s each, 1 repeat, EAL without hugepages
# ("--no-huge -m 1024 --no-shconf --no-pci"); pass --eal "--in-memory" (and
# reserve hugepages, see hugepages.md) to measure with hugepages.
# Needs: cargo, python3, dpdk-testpmd (scripts/setup-dpdk.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."

flows=1 size=64 secs=10 repeats=1 core=1 rvs="" eal="--no-huge -m 1024 --no-shconf --no-pci"
while [ $# -gt 0 ]; do
    case "$1" in
        --flows) flows=$2; shift 2 ;;
        --size) size=$2; shift 2 ;;
        --seconds) secs=$2; shift 2 ;;
        --repeats) repeats=$2; shift 2 ;;
        --core) core=$2; shift 2 ;;
        --rvs) rvs=$2; shift 2 ;;
        --eal) eal=$2; shift 2 ;;
        -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
        *) echo "dpdk-p2p.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
warm=2

if [ -z "$rvs" ]; then
    echo "building rvs (release, --features dpdk)..." >&2
    cargo build --release --features dpdk --bin rvs >&2
    rvs=target/release/rvs
fi
command -v dpdk-testpmd >/dev/null || { echo "dpdk-testpmd not found: scripts/setup-dpdk.sh" >&2; exit 1; }

work=$(mktemp -d /tmp/rvs-dpdk-p2p.XXXXXX)
rvs_pid=""
cleanup() {
    if [ -n "$rvs_pid" ] && kill -0 "$rvs_pid" 2>/dev/null; then kill "$rvs_pid"; wait "$rvs_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# Traffic: FLOWS UDP flows (source ports 1024..), SIZE-byte frames, 64 packets
# per flow in the capture, interleaved.
python3 - "$work/in.pcap" "$flows" "$size" <<'PY'
import struct, sys
out, flows, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack(f"!{len(b)//2}H", b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
def frame(sport):
    plen = max(size - 14 - 20 - 8, 0)
    udp = struct.pack("!HHHH", sport, 5001, 8 + plen, 0) + b"\x5a" * plen
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return bytes.fromhex("020000000002020000000001") + b"\x08\x00" + ip + udp
with open(out, "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    for i in range(64 * flows):
        fr = frame(1024 + i % flows)
        f.write(struct.pack("<IIII", 0, i, len(fr), len(fr)) + fr)
PY

eal_toml=$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1].split() + ["-l", "0"]))' "$eal")
cat > "$work/rvs.toml" <<TOML
[control]
socket = "$work/rvs.ctl"
[pmd]
cores = [$core]
[dpdk]
eal_args = $eal_toml
[[bridge]]
name = "br0"
flows = ["in_port=1,actions=output:2"]
[[bridge.port]]
name = "in"
ofport = 1
type = "dpdk"
devargs = "net_pcap0,rx_pcap=$work/in.pcap,infinite_rx=1"
[[bridge.port]]
name = "out"
ofport = 2
type = "dpdk"
devargs = "net_null0,no-rx=1"
TOML

ctl() { "$rvs" ctl --socket "$work/rvs.ctl" "$@"; }

# --- rvs: sets rvs_mpps, rvs_cpp
run_rvs() {
"$rvs" run --config "$work/rvs.toml" 2>"$work/rvs.log" &
rvs_pid=$!
for _ in $(seq 100); do ctl list-commands >/dev/null 2>&1 && break; sleep 0.1; done
ctl list-commands >/dev/null || { cat "$work/rvs.log" >&2; exit 1; }
sleep "$warm"
ctl dpif-netdev/pmd-stats-clear
t0=$(date +%s.%N)
sleep "$secs"
json=$(ctl --json dpif-netdev/pmd-stats-show)
t1=$(date +%s.%N)
ctl exit || true
wait "$rvs_pid" 2>/dev/null || true
rvs_pid=""
read -r rvs_mpps rvs_cpp rvs_hits <<<"$(python3 -c '
import json, sys
p = json.loads(sys.argv[1])[0]
secs = float(sys.argv[3]) - float(sys.argv[2])
rx = p["rx_packets"]
cyc = p["busy_cycles"] + p["idle_cycles"]
hits = p["emc_hits"] + p["megaflow_hits"]
print(f"{rx / secs / 1e6:.2f} {cyc / max(rx, 1):.0f} {hits}")
' "$json" "$t0" "$t1")"
}

# --- testpmd, same vdevs, same traffic, io forwarding on core $core: sets
# tp_mpps
run_testpmd() {
testpmd_out="$work/testpmd.log"
timeout -s INT $((secs + warm + 3)) dpdk-testpmd -l "0,$core" $eal \
    --vdev "net_pcap0,rx_pcap=$work/in.pcap,infinite_rx=1" --vdev "net_null0,no-rx=1" \
    -- --forward-mode=io --nb-cores=1 --rxq=1 --txq=1 --stats-period=1 --no-lsc-interrupt \
    >"$testpmd_out" 2>&1 || true
tp_mpps=$(python3 - "$testpmd_out" "$warm" <<'PY'
import re, sys
text = open(sys.argv[1], errors="replace").read()
# Per-second blocks list each port; port 0 is the pcap input.
blocks = text.split("NIC statistics for port 0")[1:]
pps = []
for b in blocks:
    m = re.search(r"Rx-pps:\s+(\d+)", b)
    if m:
        pps.append(int(m.group(1)))
pps = pps[int(sys.argv[2]):]
print(f"{sum(pps) / len(pps) / 1e6:.2f}" if pps else "nan")
PY
)
}

echo "dpdk-p2p: $flows flow(s), $size-byte frames, ${secs}s, core $core, EAL: $eal, $repeats repeat(s)"
pairs=""
for r in $(seq "$repeats"); do
    run_rvs
    run_testpmd
    pairs="$pairs $rvs_mpps,$rvs_cpp,$tp_mpps"
    if [ "$repeats" -gt 1 ]; then
        echo "  run $r: rvs $rvs_mpps Mpps ($rvs_cpp cycles/packet), testpmd $tp_mpps Mpps"
    fi
done
python3 - $pairs <<'PY'
import math, statistics, sys
runs = [tuple(float(x) for x in p.split(",")) for p in sys.argv[1:]]
med = lambda xs: statistics.median(xs)
rvs = med([r for r, _, _ in runs])
cpp = med([c for _, c, _ in runs])
tp = [t for _, _, t in runs if not math.isnan(t)]
what = "median of %d runs, " % len(runs) if len(runs) > 1 else ""
print(f"  rvs:      {rvs:.2f} Mpps, {cpp:.0f} cycles/packet ({what}PMD counters)")
if not tp:
    print("  ratio:    n/a (testpmd output not parsed)")
    sys.exit(0)
print(f"  testpmd:  {med(tp):.2f} Mpps ({what}io forwarding, same vdevs and traffic)")
ratios = [r / t for r, _, t in runs if not math.isnan(t)]
print(f"  ratio:    {100 * med(ratios):.0f}% of testpmd (target >= 60%)"
      + (f"; pairs {min(ratios) * 100:.0f}-{max(ratios) * 100:.0f}%" if len(ratios) > 1 else ""))
PY
