#!/usr/bin/env python3
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import pcapgen as g
out = sys.argv[1]
N = 10000
base = g.ip4("10.1.0.0")
g.write(os.path.join(out, "in.pcap"),
        (g.udp4(src_ip=g.nth_ip(base, i), sport=1024 + i % 50000) for i in range(N)))
