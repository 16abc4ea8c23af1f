#!/usr/bin/env python3
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import pcapgen as g
out = sys.argv[1]
import random
# Writes in.pcap and flows.txt (the table is generated, not committed).
rnd = random.Random(8)
LENS = [8, 10, 12, 14, 16, 17, 18, 19, 20, 21, 22, 23, 24, 26, 28, 32]
routes = []  # (prefix int, length)
for li, plen in enumerate(LENS):
    for k in range(8):
        first = 20 + li * 8 + k          # one first octet per route: no overlaps
        addr = (first << 24) | rnd.getrandbits(24)
        mask = (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF
        routes.append((addr & mask, plen))
with open(os.path.join(out, "flows.txt"), "w") as f:
    for a, plen in routes:
        ip = ".".join(str(b) for b in a.to_bytes(4, "big"))
        f.write(f"priority={plen},ip,nw_dst={ip}/{plen},actions=output:2\n")
    f.write("priority=0,ip,actions=output:2\n")
def pkts():
    for i in range(10000):
        a, plen = routes[i % len(routes)]
        host = rnd.getrandbits(32 - plen) if plen < 32 else 0
        dst = (a | host).to_bytes(4, "big")
        src = g.nth_ip(g.ip4("10.0.0.0"), rnd.getrandbits(16))
        yield g.udp4(src_ip=src, dst_ip=dst, sport=1024 + rnd.getrandbits(12))
g.write(os.path.join(out, "in.pcap"), pkts())
