#!/usr/bin/env python3
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import pcapgen as g
out = sys.argv[1]
# Outer: 02:00:00:00:00:99 (the remote VTEP) -> 02:00:00:00:00:fe (the
# underlay bridge's MAC, set by compare.sh), 198.18.0.2 -> 198.18.0.1,
# UDP 4789, VNI 5000; inner: the 64-byte frame of p2p-1flow.
pkt = g.vxlan4(g.udp4(), 5000, g.ip4("198.18.0.2"), g.ip4("198.18.0.1"),
               g.mac("02:00:00:00:00:99"), g.mac("02:00:00:00:00:fe"))
g.write(os.path.join(out, "in.pcap"), [pkt] * 64)
