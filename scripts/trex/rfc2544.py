#!/usr/bin/env python3
"""RFC 2544 throughput: the highest rate with zero frame loss, by binary search.

Runs against a TRex server in stateless mode (`./t-rex-64 -i`) on a host
whose ports are cabled to the switch under test (TRex port 0 -> switch
port 1 -> switch port 2 -> TRex port 1):

    python3 scripts/trex/rfc2544.py --server 127.0.0.1 --scenario p2p-1flow \
        --size 64 --duration 60 --tx-port 0 --rx-port 1

Each trial sends the scenario's stream (scripts/trex/rvs_scenarios.py) at a
percentage of line rate for --duration seconds, waits for the switch to
drain, and compares the frames sent on the tx port with those received on
the rx port. The search halves the interval between the highest rate that
lost nothing and the lowest that lost something until they are within
--resolution percent; RFC 2544 asks for 60 s trials and a zero-loss
criterion (--loss-tolerance 0). Prints one line per trial and the result in
Mpps and Gbit/s (L1, including preamble and inter-frame gap).

Needs the TRex client library on PYTHONPATH (trex_client/interactive from
the TRex package). Not run in this project's CI (no TRex, no NICs).
"""
import argparse
import os
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", default="127.0.0.1")
    ap.add_argument("--scenario", default="p2p-1flow")
    ap.add_argument("--size", type=int, default=64, help="frame size without FCS")
    ap.add_argument("--flows", type=int, default=None)
    ap.add_argument("--tx-port", type=int, default=0)
    ap.add_argument("--rx-port", type=int, default=1)
    ap.add_argument("--duration", type=float, default=60.0, help="seconds per trial")
    ap.add_argument("--resolution", type=float, default=0.5, help="percent of line rate")
    ap.add_argument("--loss-tolerance", type=float, default=0.0,
                    help="accepted loss in percent of frames sent (0: RFC 2544)")
    ap.add_argument("--max-rate", type=float, default=100.0, help="percent of line rate")
    args = ap.parse_args()

    from trex_stl_lib.api import STLClient, STLProfile

    profile_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rvs_scenarios.py")
    tunables = {"scenario": args.scenario, "size": args.size}
    if args.flows is not None:
        tunables["flows"] = args.flows

    c = STLClient(server=args.server)
    c.connect()
    try:
        ports = [args.tx_port, args.rx_port]
        c.reset(ports=ports)
        profile = STLProfile.load_py(profile_path, **tunables)
        c.add_streams(profile.get_streams(), ports=[args.tx_port])

        def trial(rate):
            c.clear_stats(ports=ports)
            c.start(ports=[args.tx_port], mult="%f%%" % rate, duration=args.duration)
            c.wait_on_traffic(ports=[args.tx_port])
            time.sleep(2)  # let the switch drain its queues
            st = c.get_stats(ports=ports)
            sent = st[args.tx_port]["opackets"]
            recv = st[args.rx_port]["ipackets"]
            loss = 100.0 * (sent - recv) / sent if sent else 100.0
            pps = sent / args.duration
            print("rate %6.2f%%  sent %12d  received %12d  loss %.6f%%  %.3f Mpps"
                  % (rate, sent, recv, max(loss, 0.0), pps / 1e6), flush=True)
            return loss <= args.loss_tolerance, pps

        lo, hi, best = 0.0, args.max_rate, None
        ok, pps = trial(hi)
        if ok:
            best = (hi, pps)
        else:
            while hi - lo > args.resolution:
                mid = (lo + hi) / 2
                ok, pps = trial(mid)
                if ok:
                    lo, best = mid, (mid, pps)
                else:
                    hi = mid
        if best is None:
            print("no rate without loss above %.2f%% of line rate" % args.resolution)
            return 1
        rate, pps = best
        l1 = pps * (args.size + 4 + 20) * 8  # FCS, preamble + SFD, IFG
        print("RFC 2544 throughput (%s, %d-byte frames): %.2f%% of line rate, %.3f Mpps, %.2f Gbit/s L1"
              % (args.scenario, args.size, rate, pps / 1e6, l1 / 1e9))
        return 0
    finally:
        c.stop(ports=[args.tx_port])
        c.disconnect()


if __name__ == "__main__":
    sys.exit(main())
