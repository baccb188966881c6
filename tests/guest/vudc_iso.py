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
import sys

from vudc_proto import DIR_IN, DIR_OUT, RET_SUBMIT, Conn, ctrl, fail, w

PACKETS = 8


def iso_submit(c, ep, direction, psize, data=b""):
    length = psize * PACKETS
    seq = c.submit(ep, direction, length, data if direction == DIR_OUT else b"",
                   flags=w.URB_ISO_ASAP | (w.URB_DIR_IN if direction else 0),
                   iso=[(i * psize, psize) for i in range(PACKETS)], interval=1)
    m = c.read_msg()
    if m["cmd"] != RET_SUBMIT or m["seq"] != seq:
        fail(f"iso ep {ep}: got command {m['cmd']} seqnum {m['seq']}")
    st, actual, npk, errs = m["status"], m["actual"], m["npackets"], m["errors"]
    payload, rdescs = m["data"], m["descs"]
    if st or npk != PACKETS or errs:
        fail(f"iso ep {ep}: status {st} packets {npk} errors {errs}")
    if sum(d[2] for d in rdescs) != actual:
        fail(f"iso ep {ep}: packet lengths {[d[2] for d in rdescs]} do not add up to {actual}")
    return actual, payload


def main():
    vudc = sys.argv[1]
    c = Conn(vudc)
    st, cfg = ctrl(c, 0x80, 6, 0x0200, 0, 1024)
    if st or len(cfg) < 9:
        fail(f"GET_DESCRIPTOR(CONFIG): status {st}")
    # (interface, alt) -> list of (address, attributes, maxpacket)
    alts = {}
    for e in w.endpoints(cfg):
        alts.setdefault((e["intf"], e["alt"]), []).append((e["addr"], e["attr"],
                                                           e["maxp"] & 0x7ff))
    iso = {k: [e for e in v if e[1] & 3 == 1] for k, v in alts.items()}
    iso = {k: v for k, v in iso.items() if v and k[1]}
    if not iso:
        fail(f"no isochronous endpoint in the configuration descriptor: {alts}")
    st, _ = ctrl(c, 0x00, 9, 1, 0, 0)
    if st:
        fail(f"SET_CONFIGURATION 1: status {st}")
    seen = set()
    for (intf, alt), eps in sorted(iso.items()):
        if intf in seen:
            continue
        seen.add(intf)
        st, _ = ctrl(c, 0x01, 11, alt, intf, 0)
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
    if w.vudc_status(vudc) not in (1, 2):
        fail("bad usbip_status")
    print("vudc_iso: PASS")


if __name__ == "__main__":
    main()
