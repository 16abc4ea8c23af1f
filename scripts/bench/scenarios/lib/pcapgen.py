"""Deterministic pcap writing for the benchmark scenarios (standard library only).

Every scenario's gen.py imports this and writes its captures into the
directory it is given; nothing generated is committed.
"""
import struct

SRC_MAC = "02:00:00:00:00:01"
DST_MAC = "02:00:00:00:00:02"


def mac(s):
    return bytes(int(x, 16) for x in s.split(":"))


def mac_n(prefix, n):
    """02:PP:00:nn:nn:nn style MAC number n (prefix is one byte)."""
    return bytes([0x02, prefix]) + n.to_bytes(4, "big")


def ip4(s):
    return bytes(int(x) for x in s.split("."))


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4_hdr(src, dst, proto, payload_len, ttl=64):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_len, 0, 0x4000, ttl,
                    proto, 0, src, dst)
    return h[:10] + struct.pack("!H", csum(h)) + h[12:]


def udp4(src_ip=b"\x0a\x00\x00\x01", dst_ip=b"\x0a\x00\x00\x02", sport=1024,
         dport=5001, size=64, src_mac=None, dst_mac=None, vlan=None):
    """An Ethernet/IPv4/UDP frame of SIZE bytes (without FCS)."""
    src_mac = src_mac or mac(SRC_MAC)
    dst_mac = dst_mac or mac(DST_MAC)
    l2 = dst_mac + src_mac
    if vlan is not None:
        l2 += struct.pack("!HH", 0x8100, vlan)
    l2 += b"\x08\x00"
    plen = max(size - len(l2) - 20 - 8, 0)
    udp = struct.pack("!HHHH", sport, dport, 8 + plen, 0) + b"\x5a" * plen
    return l2 + ipv4_hdr(src_ip, dst_ip, 17, len(udp)) + udp


def vxlan4(inner, vni, outer_src, outer_dst, src_mac, dst_mac, sport=49152):
    """INNER wrapped in Ethernet/IPv4/UDP(4789)/VXLAN."""
    vx = struct.pack("!II", 0x08000000, vni << 8) + inner
    udp = struct.pack("!HHHH", sport, 4789, 8 + len(vx), 0) + vx
    return dst_mac + src_mac + b"\x08\x00" + ipv4_hdr(outer_src, outer_dst, 17, len(udp)) + udp


def write(path, frames):
    """Write FRAMES (an iterable of bytes) as a pcap file; returns the count."""
    n = 0
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for fr in frames:
            f.write(struct.pack("<IIII", n // 1000000, n % 1000000, len(fr), len(fr)) + fr)
            n += 1
    return n


def nth_ip(base, n):
    """BASE (4 bytes) + n, as 4 bytes."""
    return (int.from_bytes(base, "big") + n).to_bytes(4, "big")


def write_udp_flows(path, n):
    """Write N 64-byte UDP packets, each its own exact-match flow (source
    10.1.0.0 + i, source port 1024 + i % 50000), as a pcap file."""
    base = ip4("10.1.0.0")
    return write(path, (udp4(src_ip=nth_ip(base, i), sport=1024 + i % 50000) for i in range(n)))
