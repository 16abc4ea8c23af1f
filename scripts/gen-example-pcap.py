#!/usr/bin/env python3
"""Writes examples/p2p.pcap, the capture the README's quick start replays.

Deterministic: 96 IPv4/UDP packets in 4 flows from 10.0.0.1 to 10.0.0.2
(TTL 64), 2 ARP requests, 2 VLAN 10 tagged UDP packets, 2 IPv4/UDP
packets to 10.0.0.9 (no flow: a miss), in that order, repeated.
Usage: python3 scripts/gen-example-pcap.py [OUT]
"""
import struct
import sys


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def mac(s: str) -> bytes:
    return bytes(int(x, 16) for x in s.split(":"))


def ip(s: str) -> bytes:
    return bytes(int(x) for x in s.split("."))


def udp4(src, dst, sport, dport, payload, ttl=64):
    udp_len = 8 + len(payload)
    ip_hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0, 0x4000, ttl, 17, 0, ip(src), ip(dst))
    ip_hdr = ip_hdr[:10] + struct.pack("!H", csum(ip_hdr)) + ip_hdr[12:]
    pseudo = ip(src) + ip(dst) + struct.pack("!BBH", 0, 17, udp_len)
    udp = struct.pack("!HHHH", sport, dport, udp_len, 0) + payload
    c = csum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", c) + udp[8:]
    return ip_hdr + udp


def eth(dst, src, etype, payload):
    return mac(dst) + mac(src) + struct.pack("!H", etype) + payload


A, B = "02:00:00:00:00:01", "02:00:00:00:00:02"
frames = []
for rnd in range(2):
    for i in range(48):
        sport = 1000 + i % 4
        frames.append(eth(B, A, 0x0800, udp4("10.0.0.1", "10.0.0.2", sport, 80, bytes(18))))
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac(A), ip("10.0.0.1"), bytes(6), ip("10.0.0.2"))
    frames.append(eth("ff:ff:ff:ff:ff:ff", A, 0x0806, arp + bytes(18)))
    tagged = mac(B) + mac(A) + struct.pack("!HH", 0x8100, 10) + struct.pack("!H", 0x0800)
    frames.append(tagged + udp4("10.0.0.1", "10.0.0.2", 2000, 80, bytes(14)))
    frames.append(eth(B, A, 0x0800, udp4("10.0.0.1", "10.0.0.9", 3000, 80, bytes(18))))

out = sys.argv[1] if len(sys.argv) > 1 else "examples/p2p.pcap"
with open(out, "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for n, fr in enumerate(frames):
        f.write(struct.pack("<IIII", 1700000000, n, len(fr), len(fr)))
        f.write(fr)
print(f"wrote {len(frames)} frames to {out}")
