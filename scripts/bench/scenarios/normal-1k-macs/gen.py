#!/usr/bin/env python3
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import pcapgen as g
out = sys.argv[1]
# in.pcap: 1,000 flows from 02:01:.. to 02:02:.. on port 1; learn.pcap: one
# frame from each 02:02:.. MAC, replayed once on port 2 so that the switch
# learns them there (then port 1's traffic is switched, not flooded).
N = 1000
g.write(os.path.join(out, "in.pcap"),
        (g.udp4(src_mac=g.mac_n(1, i), dst_mac=g.mac_n(2, i), sport=1024 + i) for i in range(N)))
g.write(os.path.join(out, "learn.pcap"),
        (g.udp4(src_mac=g.mac_n(2, i), dst_mac=g.mac_n(1, i), sport=1024 + i) for i in range(N)))
