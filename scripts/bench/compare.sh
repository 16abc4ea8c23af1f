#!/usr/bin/env bash
# rvs side by side with OVS-DPDK and the I/O ceiling (dpdk-testpmd io
# forwarding), scenario by scenario, on the same virtual devices, traffic
# and core.
#
#   scripts/bench/compare.sh [options] [SCENARIO...]      (default: all)
#
#   --seconds S      measured seconds per run (default 10; 2 s warm-up before)
#   --repeats N      runs per tool and scenario, interleaved (default 3)
#   --hugepages      EAL with hugepages (--in-memory; reserve them first,
#                    see hugepages.md); default: --no-huge -m 1024
#   --tools LIST     comma-separated subset of rvs,testpmd,ovs (default: all
#                    that are installed)
#   --rvs PATH       the rvs binary (default: cargo build --release --features dpdk)
#   --no-write       print the table only (default: also write it into
#                    BENCHMARKS.md between the compare.sh markers)
#   --list           list the scenarios and what each measures
#
# Each scenario is a directory under scripts/bench/scenarios/: gen.py DIR
# writes DIR/in.pcap (and, where the table is large, DIR/flows.txt; NORMAL
# also DIR/learn.pcap), flows.txt is the OpenFlow table (ovs-ofctl syntax),
# `measures` says what it measures, scenario.conf (optional) sets TOPO
# (p2p | p2p2 | vxlan-encap | vxlan-decap), SETUP=1 (measure flow setups/s first),
# LEARN=1 (port 2 replays learn.pcap once, so NORMAL learns MACs there).
#
# Traffic: port 1 is net_pcap (rx_pcap=in.pcap, infinite_rx=1), port 2 is
# net_null (no-rx=1). One PMD (core 1) for every tool; p2p2 has two input
# and two output ports and two PMDs. rvs: Mpps and cycles/packet from
# `rvs ctl dpif-netdev/pmd-stats-show --json`; OVS from `ovs-appctl
# dpif-netdev/pmd-stats-show`; both after a warm-up and a pmd-stats-clear;
# cycles/packet = (busy + idle cycles) / received packets, summed over PMDs.
# testpmd: mean of its per-second Rx-pps on the input port(s).
# OVS (openvswitch-switch-dpdk, ovs-vswitchd-dpdk) runs in a private
# directory with its own ovsdb-server; a system OVS is never touched.
# Every process started here is stopped by pid at exit, also on failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
sdir=$root/scripts/bench/scenarios

secs=10 repeats=3 huge=0 tools="" rvs="" write=1 list=0
scenarios=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) secs=$2; shift 2 ;;
        --repeats) repeats=$2; shift 2 ;;
        --hugepages) huge=1; shift ;;
        --tools) tools=$2; shift 2 ;;
        --rvs) rvs=$2; shift 2 ;;
        --no-write) write=0; shift ;;
        --list) list=1; shift ;;
        -h|--help) sed -n '2,36p' "$0"; exit 0 ;;
        -*) echo "compare.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) scenarios+=("${1%/}"); shift ;;
    esac
done
all=$(cd "$sdir" && for d in */; do [ -f "$d/gen.py" ] && echo "${d%/}"; done)
if [ "$list" = 1 ]; then
    for s in $all; do printf '%-22s %s\n' "$s" "$(cat "$sdir/$s/measures")"; done
    exit 0
fi
[ ${#scenarios[@]} -gt 0 ] || read -r -a scenarios <<<"$(echo $all)"
for s in "${scenarios[@]}"; do
    [ -f "$sdir/$s/gen.py" ] || { echo "compare.sh: no scenario $s (--list)" >&2; exit 2; }
done
warm=2

ovs_bin=/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk
if [ -z "$tools" ]; then
    tools=rvs
    command -v dpdk-testpmd >/dev/null && tools=$tools,testpmd
    [ -x "$ovs_bin" ] && command -v ovsdb-server >/dev/null && tools=$tools,ovs
fi
has() { case ",$tools," in *",$1,"*) return 0 ;; esac; return 1; }
if has testpmd; then command -v dpdk-testpmd >/dev/null || { echo "dpdk-testpmd not found: scripts/setup-dpdk.sh" >&2; exit 1; }; fi
if has ovs; then [ -x "$ovs_bin" ] || { echo "$ovs_bin not found: apt-get install openvswitch-switch-dpdk" >&2; exit 1; }; fi
if has rvs && [ -z "$rvs" ]; then
    echo "building rvs (release, --features dpdk)..." >&2
    cargo build --release --features dpdk --bin rvs >&2
    rvs=$root/target/release/rvs
fi

if [ "$huge" = 1 ]; then eal="--in-memory -m 1024 --no-pci"; ovs_extra="--in-memory -m 1024 --no-pci --file-prefix=rvs-compare-ovs"
else eal="--no-huge -m 1024 --no-shconf --no-pci"; ovs_extra="--no-huge -m 1024 --legacy-mem --no-pci --no-shconf --file-prefix=rvs-compare-ovs"; fi
# PMD cores: 1 (and 2, or 0 on a 2-core machine) ; core 0 is EAL's main lcore.
ncpu=$(nproc)
core1=1; core2=2; [ "$ncpu" -ge 3 ] || core2=0

work=$(mktemp -d /tmp/rvs-compare.XXXXXX)
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do
        if kill -0 "$p" 2>/dev/null; then kill "$p" 2>/dev/null || true; fi
    done
    for p in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$p" 2>/dev/null; then kill -9 "$p" 2>/dev/null || true; fi
        wait "$p" 2>/dev/null || true
    done
    pids=()
}
# OVS's netdev datapath makes TAP devices for its bridges, and a killed
# ovs-vswitchd leaves them: remove those that were not there before.
ovs_taps="ovs-netdev br0 br-int ovsphy"
taps_before=$(for t in $ovs_taps; do ip link show "$t" >/dev/null 2>&1 && echo "$t"; done || true)
remove_taps() {
    local t
    for t in $ovs_taps; do
        case " $(echo $taps_before) " in *" $t "*) continue ;; esac
        ip link show "$t" >/dev/null 2>&1 && ip link del "$t" 2>/dev/null || true
    done
}
finish() { cleanup; remove_taps; rm -rf "$work"; }
trap finish EXIT
trap 'exit 130' INT TERM
forget() { local keep=() p; for p in "${pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done; pids=("${keep[@]}"); }

results=$work/results.txt
: >"$results"
now() { date +%s.%N; }

# Read one scenario's settings into TOPO, SETUP, LEARN.
load_conf() {
    TOPO=p2p SETUP=0 LEARN=0
    # shellcheck disable=SC1090
    [ -f "$sdir/$1/scenario.conf" ] && . "$sdir/$1/scenario.conf"
    return 0
}

# Device strings for port N (1-based) of the topology, in $d/.
in_dev() {
    if [ "$NQ" = 2 ]; then echo "net_pcap$1,rx_pcap=$2/in-a.pcap,rx_pcap=$2/in-b.pcap,infinite_rx=1"
    else echo "net_pcap$1,rx_pcap=$2/in.pcap,infinite_rx=1"; fi
}
# net_pcap with infinite_rx=1 loads the whole capture into mbufs of the
# port's pool before it starts. rvs sizes its pool from the descriptor
# counts (at most 32768 per queue): a capture of more than 20,000 packets
# (100k flows, flow setup) is split in two halves, one per receive queue of
# the input port (NQ=2: both queues on the same PMD; OVS and testpmd get the
# same two queues).
split_big() {
    NQ=1
    python3 - "$1" <<'PY' && NQ=2 || true
import struct, sys
d = sys.argv[1]
data = open(f"{d}/in.pcap", "rb").read()
hdr, off, pkts = data[:24], 24, []
while off < len(data):
    n = struct.unpack_from("<I", data, off + 8)[0]
    pkts.append(data[off:off + 16 + n]); off += 16 + n
if len(pkts) <= 20000:
    sys.exit(1)
for name, part in (("a", pkts[0::2]), ("b", pkts[1::2])):
    open(f"{d}/in-{name}.pcap", "wb").write(hdr + b"".join(part))
PY
}
rvs_in_extra() {
    if [ "$NQ" = 2 ]; then printf 'n_rxq = 2\nrxq_size = 32768\ntxq_size = 32768\n'; fi
}
out_dev() {
    if [ "$LEARN" = 1 ]; then echo "net_pcap9$1,rx_pcap=$2/learn.pcap"; else echo "net_null$1,no-rx=1"; fi
}

# ---------------------------------------------------------------- rvs
rvs_run() {  # scenario dir, flows file
    local d=$1 flows=$2 r=$work/rvs
    rm -rf "$r"; mkdir -p "$r"
    local eal_toml cores
    eal_toml=$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1].split() + ["-l", "0"]))' "$eal")
    cores="$core1"; [ "$TOPO" = p2p2 ] && cores="$core1, $core2"
    {
        echo "[control]"; echo "socket = \"$r/rvs.ctl\""
        echo "[pmd]"; echo "cores = [$cores]"
        echo "flow_limit = 200000"
        echo "[dpdk]"; echo "eal_args = $eal_toml"
        if [ "$TOPO" = vxlan-encap ] || [ "$TOPO" = vxlan-decap ]; then
            # Overlay br-int (the VTEP vx0, ofport 10), underlay rvsphy
            # (internal port 198.18.0.1/24). Encap: in on br-int, out on
            # rvsphy; decap: in on rvsphy (in_port=1,actions=LOCAL), out on br-int.
            local int_port=in int_dev phy_port=out phy_dev int_no=1 phy_no=2 phy_flow="in_port=LOCAL,actions=output:2" int_extra phy_extra=""
            int_dev=$(in_dev 0 "$d"); phy_dev=$(out_dev 0 "$d"); int_extra=$(rvs_in_extra "$d")
            if [ "$TOPO" = vxlan-decap ]; then
                int_port=out int_dev=$(out_dev 0 "$d") int_no=2 int_extra=""
                phy_port=in phy_dev=$(in_dev 0 "$d") phy_no=1 phy_extra=$(rvs_in_extra "$d")
                phy_flow="in_port=1,actions=LOCAL"
            fi
            cat <<TOML
[[bridge]]
name = "br-int"
flows_file = "$flows"
[[bridge.port]]
name = "$int_port"
ofport = $int_no
type = "dpdk"
devargs = "$int_dev"
$int_extra
[[bridge.port]]
name = "vx0"
ofport = 10
type = "vxlan"
remote_ip = "198.18.0.2"
local_ip = "198.18.0.1"
key = 5000
[[bridge]]
name = "rvsphy"
internal = true
flows = ["$phy_flow"]
[[bridge.port]]
name = "$phy_port"
ofport = $phy_no
type = "dpdk"
devargs = "$phy_dev"
$phy_extra
TOML
        else
            echo "[[bridge]]"; echo "name = \"br0\""; echo "flows_file = \"$flows\""
            # Input ports first: rx queues go to the PMDs round-robin in
            # port order, so with two PMDs in0 and in1 land on different
            # PMDs (out0/out1 have rx queues too, which never receive).
            local ins=0 i
            [ "$TOPO" = p2p2 ] && ins="0 1"
            for i in $ins; do
                printf '[[bridge.port]]\nname = "in%s"\nofport = %s\ntype = "dpdk"\ndevargs = "%s"\n' "$i" $((2 * i + 1)) "$(in_dev $i "$d")"
                rvs_in_extra "$d"
            done
            for i in $ins; do
                printf '[[bridge.port]]\nname = "out%s"\nofport = %s\ntype = "dpdk"\ndevargs = "%s"\n' "$i" $((2 * i + 2)) "$(out_dev $i "$d")"
            done
        fi
    } >"$r/rvs.toml"
    ctl() { "$rvs" ctl --socket "$r/rvs.ctl" "$@"; }
    local t_start; t_start=$(now)
    "$rvs" run --config "$r/rvs.toml" 2>"$r/rvs.log" &
    local pid=$!; pids+=("$pid")
    for _ in $(seq 600); do ctl list-commands >/dev/null 2>&1 && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    ctl list-commands >/dev/null 2>&1 || { tail -20 "$r/rvs.log" >&2; echo "rvs did not start" >&2; return 1; }
    if [ "${TOPO#vxlan-}" != "$TOPO" ]; then
        ip addr add 198.18.0.1/24 dev rvsphy && ip link set rvsphy up
        ctl tnl/arp/set rvsphy 198.18.0.2 02:00:00:00:00:99 >/dev/null
    fi
    local setup=""
    if [ "$SETUP" = 1 ]; then
        setup=$(poll_setup rvs_upcalls "$r")
    fi
    sleep "$warm"
    ctl dpif-netdev/pmd-stats-clear >/dev/null
    local t0 t1 json; t0=$(now)
    sleep "$secs"
    json=$(ctl --json dpif-netdev/pmd-stats-show); t1=$(now)
    ctl exit >/dev/null 2>&1 || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; forget "$pid"
    python3 - "$json" "$t0" "$t1" "$setup" <<'PY'
import json, sys
ps = json.loads(sys.argv[1])
secs = float(sys.argv[3]) - float(sys.argv[2])
rx = sum(p["rx_packets"] for p in ps)
cyc = sum(p["busy_cycles"] + p["idle_cycles"] for p in ps)
tx = sum(p["tx_packets"] for p in ps)
print(f"{rx / secs / 1e6:.3f} {cyc / max(rx, 1):.0f} {sys.argv[4] or '-'} {100 * tx / max(rx, 1):.0f}")
PY
}
rvs_upcalls() {
    "$rvs" ctl --socket "$1/rvs.ctl" --json dpif-netdev/pmd-stats-show |
        python3 -c 'import json,sys; print(sum(p["upcalls"] for p in json.load(sys.stdin)))'
}

# Flow setup: sample the successful upcall counter every 0.1 s until it
# stops at (about) the number of rules; setups/s over the sampled span.
poll_setup() {  # counter-function arg
    local fn=$1 arg=$2 target=100000 t u samples=""
    local deadline; deadline=$(( $(date +%s) + 120 ))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        u=$($fn "$arg" 2>/dev/null || echo 0); t=$(now)
        samples="$samples $t:$u"
        [ "${u:-0}" -ge $((target * 99 / 100)) ] && break
        sleep 0.1
    done
    python3 - $samples <<'PY'
import sys
s = [tuple(map(float, x.split(":"))) for x in sys.argv[1:]]
s = [x for x in s if x[1] > 0] or s
if len(s) < 2 or s[-1][0] == s[0][0] or s[-1][1] == s[0][1]:
    print("nan")
else:
    print(f"{(s[-1][1] - s[0][1]) / (s[-1][0] - s[0][0]):.0f}")
PY
}

# ------------------------------------------------------------ testpmd
testpmd_run() {  # scenario dir
    local d=$1 t=$work/testpmd.log vdevs nb=1 lcores="0,$core1"
    vdevs=(--vdev "$(in_dev 0 "$d")" --vdev "$(out_dev 0 "$d")")
    if [ "$TOPO" = p2p2 ]; then
        vdevs+=(--vdev "$(in_dev 1 "$d")" --vdev "$(out_dev 1 "$d")")
        nb=2; lcores="0@0,1@$core1,2@$core2"
    fi
    local lopt=(-l "$lcores"); [ "$TOPO" = p2p2 ] && lopt=(--lcores "$lcores")
    # shellcheck disable=SC2086
    timeout -s INT $((secs + warm + 4)) dpdk-testpmd "${lopt[@]}" $eal "${vdevs[@]}" \
        -- --forward-mode=io --nb-cores=$nb --rxq=$NQ --txq=$NQ --stats-period=1 --no-lsc-interrupt \
        >"$t" 2>&1 &
    local pid=$!; pids+=("$pid")
    wait "$pid" 2>/dev/null || true; forget "$pid"
    python3 - "$t" "$warm" "$TOPO" <<'PY'
import re, sys
text = open(sys.argv[1], errors="replace").read()
ports = [0, 2] if sys.argv[3] == "p2p2" else [0]
total = 0.0
for port in ports:
    pps = []
    for b in text.split(f"NIC statistics for port {port}")[1:]:
        m = re.search(r"Rx-pps:\s+(\d+)", b)
        if m:
            pps.append(int(m.group(1)))
    pps = pps[int(sys.argv[2]):]
    if not pps:
        print("nan - - -"); sys.exit()
    total += sum(pps) / len(pps)
print(f"{total / 1e6:.3f} - - -")
PY
}

# ---------------------------------------------------------------- OVS
ovs_run() {  # scenario dir, flows file
    local d=$1 flows=$2 o=$work/ovs
    rm -rf "$o"; mkdir -p "$o"
    export OVS_RUNDIR=$o OVS_DBDIR=$o OVS_LOGDIR=$o OVS_SYSCONFDIR=$o
    local db="unix:$o/db.sock"
    vsctl() { ovs-vsctl --db="$db" --timeout=60 "$@"; }
    appctl() { ovs-appctl -t "$o/vswitchd.ctl" "$@"; }
    ovsdb-tool create "$o/conf.db" /usr/share/openvswitch/vswitch.ovsschema
    ovsdb-server "$o/conf.db" --remote="punix:$o/db.sock" --unixctl="$o/ovsdb.ctl" \
        --log-file="$o/ovsdb.log" --pidfile="$o/ovsdb.pid" 2>>"$o/ovsdb.err" &
    local dbpid=$!; pids+=("$dbpid")
    for _ in $(seq 100); do [ -S "$o/db.sock" ] && break; sleep 0.1; done
    local pmdmask; pmdmask=$(printf '0x%x' $(( 1 << core1 )))
    [ "$TOPO" = p2p2 ] && pmdmask=$(printf '0x%x' $(( (1 << core1) | (1 << core2) )))
    vsctl --no-wait init
    vsctl --no-wait set Open_vSwitch . other_config:dpdk-init=true \
        other_config:dpdk-lcore-mask=0x1 other_config:pmd-cpu-mask="$pmdmask" \
        other_config:dpdk-extra="$ovs_extra"
    "$ovs_bin" "$db" --unixctl="$o/vswitchd.ctl" --log-file="$o/vswitchd.log" \
        --pidfile="$o/vswitchd.pid" 2>>"$o/vswitchd.err" &
    local vpid=$!; pids+=("$vpid")
    for _ in $(seq 300); do appctl version >/dev/null 2>&1 && break; kill -0 "$vpid" 2>/dev/null || break; sleep 0.1; done
    appctl version >/dev/null 2>&1 || { tail -20 "$o/vswitchd.log" >&2; echo "ovs-vswitchd did not start" >&2; return 1; }
    local br=br0
    if [ "${TOPO#vxlan-}" != "$TOPO" ]; then
        br=br-int
        vsctl add-br br-int -- set bridge br-int datapath_type=netdev
        vsctl add-br ovsphy -- set bridge ovsphy datapath_type=netdev \
            other_config:hwaddr=02:00:00:00:00:fe
        ovs-ofctl del-flows ovsphy
        if [ "$TOPO" = vxlan-encap ]; then ovs-ofctl add-flow ovsphy "in_port=LOCAL,actions=output:2"
        else ovs-ofctl add-flow ovsphy "in_port=1,actions=LOCAL"; fi
        ip addr add 198.18.0.1/24 dev ovsphy && ip link set ovsphy up
        appctl ovs/route/add 198.18.0.2/32 ovsphy >/dev/null || true
        appctl tnl/arp/set ovsphy 198.18.0.2 02:00:00:00:00:99 >/dev/null
    else
        vsctl add-br br0 -- set bridge br0 datapath_type=netdev
    fi
    # The table first, then the ports: traffic starts when a port is added.
    ovs-ofctl --strict del-flows "$br" 2>/dev/null || ovs-ofctl del-flows "$br"
    ovs-ofctl add-flows "$br" "$flows"
    local t_start; t_start=$(now)
    if [ "${TOPO#vxlan-}" != "$TOPO" ]; then
        vsctl add-port br-int vx0 -- set interface vx0 type=vxlan options:remote_ip=198.18.0.2 \
            options:local_ip=198.18.0.1 options:key=5000 ofport_request=10
        local obr=ovsphy ibr=br-int
        [ "$TOPO" = vxlan-decap ] && obr=br-int ibr=ovsphy
        vsctl add-port $obr out -- set interface out type=dpdk \
            "options:dpdk-devargs=$(out_dev 0 "$d")" ofport_request=2
        vsctl add-port $ibr in -- set interface in type=dpdk \
            "options:dpdk-devargs=$(in_dev 0 "$d")" options:n_rxq=$NQ ofport_request=1
    else
        local n=1 i
        for i in 0 1; do
            [ "$i" = 1 ] && [ "$TOPO" != p2p2 ] && break
            vsctl add-port br0 "out$i" -- set interface "out$i" type=dpdk \
                "options:dpdk-devargs=$(out_dev $i "$d")" ofport_request=$((n + 1))
            vsctl add-port br0 "in$i" -- set interface "in$i" type=dpdk \
                "options:dpdk-devargs=$(in_dev $i "$d")" options:n_rxq=$NQ ofport_request=$n
            n=$((n + 2))
        done
    fi
    local setup=""
    if [ "$SETUP" = 1 ]; then
        setup=$(poll_setup ovs_upcalls "$o")
    fi
    sleep "$warm"
    local tx0 tx1
    tx0=$(ovs_tx "$br")
    appctl dpif-netdev/pmd-stats-clear >/dev/null
    local t0 t1 txt; t0=$(now)
    sleep "$secs"
    txt=$(appctl dpif-netdev/pmd-stats-show); t1=$(now)
    tx1=$(ovs_tx "$br")
    echo "$txt" >"$o/pmd-stats.txt"
    appctl exit --cleanup >/dev/null 2>&1 || true
    for _ in $(seq 50); do kill -0 "$vpid" 2>/dev/null || break; sleep 0.1; done
    kill "$vpid" 2>/dev/null || true; wait "$vpid" 2>/dev/null || true; forget "$vpid"
    kill "$dbpid" 2>/dev/null || true; wait "$dbpid" 2>/dev/null || true; forget "$dbpid"
    unset OVS_RUNDIR OVS_DBDIR OVS_LOGDIR OVS_SYSCONFDIR
    python3 - "$txt" "$t0" "$t1" "$setup" "$((tx1 - tx0))" <<'PY'
import re, sys
text, secs = sys.argv[1], float(sys.argv[3]) - float(sys.argv[2])
rx = cyc = 0
for block in text.split("pmd thread")[1:]:
    g = lambda k: int((re.search(k + r":\s+(\d+)", block) or [0, 0])[1])
    rx += g("packets received")
    cyc += g("idle cycles") + g("processing cycles")
print(f"{rx / secs / 1e6:.3f} {cyc / max(rx, 1):.0f} {sys.argv[4] or '-'} {100 * int(sys.argv[5]) / max(rx, 1):.0f}")
PY
}
# Packets sent on the output ports (ofport 2 and 4 of the bridge, or of
# the underlay bridge for the tunnel), live from the datapath.
ovs_tx() {
    local b=$1; [ "$TOPO" = vxlan-encap ] && b=ovsphy
    ovs-ofctl dump-ports "$b" | awk '/port +[24]:/ {p = 1; next} /port/ {p = 0} p && /tx pkts=/ {sub(/.*tx pkts=/, ""); sub(/,.*/, ""); s += $0} END {print s + 0}'
}
ovs_upcalls() {
    ovs-appctl -t "$1/vswitchd.ctl" dpif-netdev/pmd-stats-show |
        awk -F: '/miss with success upcall/ {s += $2} END {print s + 0}'
}

# ---------------------------------------------------------------- main
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
for s in "${scenarios[@]}"; do
    load_conf "$s"
    if [ "${TOPO#vxlan-}" != "$TOPO" ] && [ "$(id -u)" != 0 ]; then
        echo "== $s: skipped (needs root for the underlay bridge's TAP device)" >&2; continue
    fi
    d=$work/$s; mkdir -p "$d"
    python3 "$sdir/$s/gen.py" "$d"
    flows=$d/flows.txt; [ -f "$flows" ] || cp "$sdir/$s/flows.txt" "$flows"
    split_big "$d"
    for rep in $(seq "$repeats"); do
        for tool in rvs testpmd ovs; do
            has $tool || continue
            # testpmd forwards bytes: one ceiling per traffic, whatever the table.
            echo "== $s: $tool, run $rep/$repeats" >&2
            # Not in a subshell: the pids it starts must reach cleanup.
            if ${tool}_run "$d" "$flows" >"$work/line"; then line=$(tail -1 "$work/line"); else line="nan - - -"; fi
            cleanup
            echo "$s $tool $rep $line" | tee -a "$results" >&2
        done
    done
done

table=$(python3 - "$results" "$sdir" "${scenarios[@]}" <<'PY'
import statistics, sys
res, sdir, scen = sys.argv[1], sys.argv[2], sys.argv[3:]
data = {}
for line in open(res):
    s, tool, rep, mpps, cpp, setup, txpct = line.split()
    data.setdefault((s, tool), []).append((float(mpps), cpp, setup))
    if txpct != "-" and float(txpct) < 90:
        print(f"warning: {s} {tool} run {rep}: only {txpct}% of received packets were sent", file=sys.stderr)
def med(vals):
    vals = [v for v in vals if v == v]
    return statistics.median(vals) if vals else None
def col(s, tool, i):
    rows = data.get((s, tool), [])
    vals = []
    for r in rows:
        v = r[i]
        try: vals.append(float(v))
        except ValueError: pass
    return med(vals)
f = lambda v, fmt: "—" if v is None else format(v, fmt)
print("| scenario | rvs Mpps | rvs cycles/pkt | OVS-DPDK Mpps | OVS cycles/pkt | testpmd Mpps (ceiling) | rvs / OVS | rvs / ceiling | flow setups/s rvs / OVS |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for s in scen:
    r, o, t = col(s, "rvs", 0), col(s, "ovs", 0), col(s, "testpmd", 0)
    rc, oc = col(s, "rvs", 1), col(s, "ovs", 1)
    rs, os_ = col(s, "rvs", 2), col(s, "ovs", 2)
    ratio_o = f"{r / o:.2f}×" if r and o else "—"
    ratio_t = f"{100 * r / t:.0f}%" if r and t else "—"
    setup = "" if rs is None and os_ is None else f"{f(rs, ',.0f')} / {f(os_, ',.0f')}"
    print(f"| {s} | {f(r, '.2f')} | {f(rc, '.0f')} | {f(o, '.2f')} | {f(oc, '.0f')} | {f(t, '.2f')} | {ratio_o} | {ratio_t} | {setup} |")
PY
)
ovsver=""; has ovs && ovsver=$("$ovs_bin" --version 2>/dev/null | head -1 || true)
header="Measured $(date -u '+%Y-%m-%d %H:%M UTC') on \`$cpu\` ($ncpu CPUs), ${secs} s per run after a ${warm} s warm-up, median of $repeats interleaved runs, EAL: \`$eal\`; tools: $tools${ovsver:+; OVS: $ovsver}; PMD core(s) $core1 (two-PMD rows: $core1 and $core2)."
echo
echo "$header"
echo
echo "$table"
echo
echo "Command: scripts/bench/compare.sh --seconds $secs --repeats $repeats$([ "$huge" = 1 ] && echo " --hugepages") ${scenarios[*]}"
if [ "$write" = 1 ]; then
    python3 - "$root/BENCHMARKS.md" "$header" "$table" "scripts/bench/compare.sh --seconds $secs --repeats $repeats$([ "$huge" = 1 ] && echo " --hugepages") ${scenarios[*]}" <<'PY'
import sys
path, header, table, cmd = sys.argv[1:5]
begin, end = "<!-- compare.sh: begin -->", "<!-- compare.sh: end -->"
text = open(path).read()
block = f"{begin}\n{header}\n\n{table}\n\nCommand: `{cmd}`\n{end}"
if begin in text and end in text:
    a = text.index(begin); b = text.index(end) + len(end)
    text = text[:a] + block + text[b:]
else:
    text = text.rstrip("\n") + "\n\n## rvs vs OVS-DPDK vs the I/O ceiling (`scripts/bench/compare.sh`)\n\n" + block + "\n"
open(path, "w").write(text)
PY
    echo "written into BENCHMARKS.md" >&2
fi
