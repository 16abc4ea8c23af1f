#!/usr/bin/env python3
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import pcapgen as g
out = sys.argv[1]
# Writes in.pcap and flows.txt (100,000 rules: generated, not committed).
N = 100000
base = g.ip4("10.128.0.0")
with open(os.path.join(out, "flows.txt"), "w") as f:
    for i in range(N):
        ip = ".".join(str(b) for b in g.nth_ip(base, i))
        f.write(f"priority=10,ip,nw_src={ip},actions=output:2\n")
    f.write("priority=0,actions=drop\n")
g.write(os.path.join(out, "in.pcap"), (g.udp4(src_ip=g.nth_ip(base, i)) for i in range(N)))
