#!/usr/bin/env python3
"""A host that speaks only 802.1Q-tagged frames, for kernels without VLAN
subinterfaces (CONFIG_VLAN_8021Q off).

Run inside a network namespace on an interface with no IP address:

    vlan_peer.py IFACE VID MAC IP SECONDS [PING_IP]

For SECONDS it answers ARP requests for IP and ICMP echo requests to IP,
but only when they arrive tagged with VID, and answers tagged with VID.
With PING_IP it also resolves PING_IP by ARP and sends it echo requests,
tagged, counting the replies. It then prints a JSON report:

    {"tags": {"100": 12}, "untagged": 0, "arp_answered": 1,
     "echo_answered": 3, "echo_replies": 3, "ping_mac": "..."}

`tags` counts every received frame by the VLAN it carried on the wire
(the kernel strips the tag into packet aux data; it is read from there).
Standard library only.
"""

import json
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_AUXDATA = 8
TP_STATUS_VLAN_VALID = 1 << 4


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def mac_bytes(m):
    return bytes(int(x, 16) for x in m.split(":"))


def ip_bytes(a):
    return socket.inet_aton(a)


def tagged(dst, src, vid, ethertype, payload):
    frame = dst + src + struct.pack("!HHH", 0x8100, vid, ethertype) + payload
    return frame + b"\0" * max(0, 64 - len(frame))


def arp(op, sha, spa, tha, tpa):
    return struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + sha + spa + tha + tpa


def ipv4(src, dst, proto, payload, ident=1):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0,
                      64, proto, 0, src, dst)
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + payload


def icmp_echo(typ, ident, seq, data):
    body = struct.pack("!BBHHH", typ, 0, 0, ident, seq) + data
    return body[:2] + struct.pack("!H", csum(body)) + body[4:]


def main():
    iface, vid, mac, ip, seconds = sys.argv[1:6]
    vid, seconds = int(vid), float(seconds)
    ping_ip = sys.argv[6] if len(sys.argv) > 6 else None
    my_mac, my_ip = mac_bytes(mac), ip_bytes(ip)

    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    s.bind((iface, 0))
    s.settimeout(0.05)

    report = {"tags": {}, "untagged": 0, "arp_answered": 0, "echo_answered": 0,
              "echo_replies": 0, "ping_mac": None}
    ping_mac = None
    next_send = 0.0
    seq = 0
    deadline = time.time() + seconds
    while time.time() < deadline:
        now = time.time()
        if ping_ip and now >= next_send:
            next_send = now + 0.2
            if ping_mac is None:
                req = arp(1, my_mac, my_ip, b"\0" * 6, ip_bytes(ping_ip))
                s.send(tagged(b"\xff" * 6, my_mac, vid, 0x0806, req))
            elif seq < 5:
                seq += 1
                pkt = ipv4(my_ip, ip_bytes(ping_ip), 1,
                           icmp_echo(8, 0x4242, seq, b"rvs-vlan-peer" * 4), seq)
                s.send(tagged(ping_mac, my_mac, vid, 0x0800, pkt))
        try:
            data, anc, _flags, _addr = s.recvmsg(65535, socket.CMSG_SPACE(32))
        except socket.timeout:
            continue
        if len(data) < 14:
            continue
        tag = None
        for level, typ, cdata in anc:
            if level == SOL_PACKET and typ == PACKET_AUXDATA and len(cdata) >= 20:
                # struct tpacket_auxdata, native byte order.
                status, _l, _sl, _mac, _net, tci, _tpid = struct.unpack("=IIIHHHH", cdata[:20])
                if status & TP_STATUS_VLAN_VALID:
                    tag = tci & 0x0FFF
        dst, src = data[0:6], data[6:12]
        ethertype = struct.unpack("!H", data[12:14])[0]
        payload = data[14:]
        if ethertype == 0x8100 and len(data) >= 18:
            # Tag still in the frame (no VLAN offload on this kernel path).
            tag = struct.unpack("!H", data[14:16])[0] & 0x0FFF
            ethertype = struct.unpack("!H", data[16:18])[0]
            payload = data[18:]
        if src == my_mac:
            continue  # our own transmission
        if tag is None:
            report["untagged"] += 1
        else:
            report["tags"][str(tag)] = report["tags"].get(str(tag), 0) + 1
        if tag != vid:
            continue
        if ethertype == 0x0806 and len(payload) >= 28:
            op = struct.unpack("!H", payload[6:8])[0]
            sha, spa, tpa = payload[8:14], payload[14:18], payload[24:28]
            if op == 1 and tpa == my_ip:
                s.send(tagged(sha, my_mac, vid, 0x0806, arp(2, my_mac, my_ip, sha, spa)))
                report["arp_answered"] += 1
            elif op == 2 and ping_ip and spa == ip_bytes(ping_ip):
                ping_mac = sha
                report["ping_mac"] = ":".join("%02x" % b for b in sha)
        elif ethertype == 0x0800 and len(payload) >= 28 and payload[9] == 1:
            ihl = (payload[0] & 0x0F) * 4
            src_ip, dst_ip = payload[12:16], payload[16:20]
            icmp = payload[ihl:]
            if dst_ip != my_ip or len(icmp) < 8:
                continue
            if icmp[0] == 8:
                reply = icmp_echo(0, struct.unpack("!H", icmp[4:6])[0],
                                  struct.unpack("!H", icmp[6:8])[0], icmp[8:])
                s.send(tagged(src, my_mac, vid, 0x0800, ipv4(my_ip, src_ip, 1, reply)))
                report["echo_answered"] += 1
            elif icmp[0] == 0 and struct.unpack("!H", icmp[4:6])[0] == 0x4242:
                report["echo_replies"] += 1
    print(json.dumps(report))


if __name__ == "__main__":
    main()
