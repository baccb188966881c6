#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Isochronous URBs through usbip-vudc, with a raw USB/IP client.

    vudc_iso.py VUDC

VUDC must have a UAC2 audio gadget bound (f_uac2 with playback and
capture).  The script connects like vudc_proto.py, reads the configuration
descriptor, selects SET_CONFIGURATION 1 and the first non-zero alternate
setting of each streaming interface, then submits an isochronous IN URB
and an isochronous OUT URB of PACKETS packets each and checks the answers:
status 0, PACKETS descriptors, the per-packet lengths adding up to
actual_length and, for IN, exactly that many payload bytes.  Prints one
line per check and "vudc_iso: PASS"; exits 1 on failure.
"""
import struct
import sys

from usbip_wire import vudc_status
from vudc_proto import CMD_SUBMIT, DEVID, DIR_IN, DIR_OUT, RET_SUBMIT, Conn, fail

PACKETS = 8


def iso_submit(c, ep, direction, psize, data=b""):
    c.seq += 1
    length = psize * PACKETS
    hdr = struct.pack(">IIIII", CMD_SUBMIT, c.seq, DEVID, direction, ep)
    hdr += struct.pack(">IiiiI", 0x2 | (0x200 if direction else 0), length, 0, PACKETS, 1)
    hdr += b"\0" * 8
    descs = b"".join(struct.pack(">IIIi", i * psize, psize, 0, 0) for i in range(PACKETS))
    c.cli.sendall(hdr + (data if direction == DIR_OUT else b"") + descs)
    rhdr = c.recv_exact(48)
    cmd, seq = struct.unpack(">II", rhdr[:8])
    st, actual, _sf, npk, errs = struct.unpack(">iiiii", rhdr[20:40])
    if cmd != RET_SUBMIT or seq != c.seq:
        fail(f"iso ep {ep}: got command {cmd} seqnum {seq}")
    payload = c.recv_exact(actual) if direction == DIR_IN and actual > 0 else b""
    rdescs = [struct.unpack(">IIIi", c.recv_exact(16)) for _ in range(max(npk, 0))]
    if st or npk != PACKETS or errs:
        fail(f"iso ep {ep}: status {st} packets {npk} errors {errs}")
    if sum(d[2] for d in rdescs) != actual:
        fail(f"iso ep {ep}: packet lengths {[d[2] for d in rdescs]} do not add up to {actual}")
    return actual, payload


def main():
    vudc = sys.argv[1]
    c = Conn(vudc)
    st, cfg = c.ctrl(0x80, 6, 0x0200, 0, 1024)
    if st or len(cfg) < 9:
        fail(f"GET_DESCRIPTOR(CONFIG): status {st}")
    # (interface, alt) -> list of (address, attributes, maxpacket)
    alts, cur, i = {}, None, 0
    while i + 2 <= len(cfg):
        blen, btype = cfg[i], cfg[i + 1]
        if blen < 2:
            break
        if btype == 4:
            cur = (cfg[i + 2], cfg[i + 3])
            alts.setdefault(cur, [])
        elif btype == 5 and cur:
            addr, attr, maxp = cfg[i + 2], cfg[i + 3], struct.unpack("<H", cfg[i + 4:i + 6])[0]
            alts[cur].append((addr, attr, maxp & 0x7ff))
        i += blen
    iso = {k: [e for e in v if e[1] & 3 == 1] for k, v in alts.items()}
    iso = {k: v for k, v in iso.items() if v and k[1]}
    if not iso:
        fail(f"no isochronous endpoint in the configuration descriptor: {alts}")
    st, _ = c.ctrl(0x00, 9, 1, 0, 0)
    if st:
        fail(f"SET_CONFIGURATION 1: status {st}")
    seen = set()
    for (intf, alt), eps in sorted(iso.items()):
        if intf in seen:
            continue
        seen.add(intf)
        st, _ = c.ctrl(0x01, 11, alt, intf, 0)
        if st:
            fail(f"SET_INTERFACE {intf} alt {alt}: status {st}")
        for addr, _attr, maxp in eps:
            if addr & 0x80:
                actual, payload = iso_submit(c, addr & 0xf, DIR_IN, maxp)
                if len(payload) != actual:
                    fail(f"iso IN ep {addr:#x}: {len(payload)} payload bytes, actual {actual}")
                print(f"vudc_iso: ok iso IN ep {addr:#x} (intf {intf} alt {alt}): "
                      f"{PACKETS} packets, {actual} bytes")
            else:
                data = bytes(range(256)) * (maxp * PACKETS // 256 + 1)
                actual, _ = iso_submit(c, addr & 0xf, DIR_OUT, maxp, data[:maxp * PACKETS])
                print(f"vudc_iso: ok iso OUT ep {addr:#x} (intf {intf} alt {alt}): "
                      f"{PACKETS} packets, {actual} bytes")
    c.close()
    if vudc_status(vudc) not in (1, 2):
        fail("bad usbip_status")
    print("vudc_iso: PASS")


if __name__ == "__main__":
    main()
