#!/usr/bin/env python3
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import pcapgen as g
out = sys.argv[1]
# 64 identical 64-byte frames, replayed forever.
g.write(os.path.join(out, "in.pcap"), [g.udp4()] * 64)
