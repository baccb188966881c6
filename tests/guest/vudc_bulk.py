#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Bulk OUT URBs that usbip-vudc receives in pieces, with a raw client.

    vudc_bulk.py VUDC BUFLEN

VUDC must have a Loopback gadget function (usb_f_ss_lb) bound whose
bulk_buflen is BUFLEN: each OUT request it queues is BUFLEN bytes long, and
what one OUT request received goes back, as one request, on its bulk IN
endpoint.  usbip-vudc receives an OUT payload above 64 KiB in 64 KiB
pieces and moves each piece into the gadget's request as it arrives; a
request must still end only when it is full or the URB ends (a short
packet), never because the rest of the payload has not arrived yet.

BUFLEN should not divide 64 KiB evenly (e.g. 96 KiB) so that request and
piece boundaries differ.  For each OUT size below, random bytes are sent in
one OUT URB and read back with IN URBs of BUFLEN bytes: every request-sized
chunk must come back whole, with the same bytes, and the short tail as a
short transfer.  Prints one line per check and "vudc_bulk: PASS"; exits 1
on the first failure.

Then a client sends an OUT URB of two requests but only 70 KiB of its
payload and closes the connection: the UDC must drop it, give the gadget's
partly filled request back, and be available again; a new client then
moves one request's worth through the gadget once more.
"""
import os
import sys

from usbip_wire import DIR_IN, DIR_OUT, TIME_SCALE, Client, vudc_status_wait

DEVID = (1 << 16) | 2


def fail(msg):
    print(f"vudc_bulk: FAIL {msg}")
    sys.exit(1)


def ok(msg):
    print(f"vudc_bulk: ok {msg}")


def bulk_endpoints(c):
    """(IN address, OUT address) of the first interface with both."""
    m = c.ctrl(0x80, 6, 0x0200, 0, 1024)
    cfg = m["data"]
    if m["status"] or len(cfg) < 9:
        fail(f"GET_DESCRIPTOR(CONFIG): status {m['status']}, {len(cfg)} bytes")
    ep_in = ep_out = None
    i = 0
    while i + 2 <= len(cfg) and cfg[i] >= 2:
        if cfg[i + 1] == 5 and cfg[i + 3] & 3 == 2:
            if cfg[i + 2] & 0x80:
                ep_in = ep_in or cfg[i + 2] & 0x0f
            else:
                ep_out = ep_out or cfg[i + 2] & 0x0f
        i += cfg[i]
    if not ep_in or not ep_out:
        fail(f"no bulk IN and OUT endpoint in the configuration ({cfg.hex()})")
    return ep_in, ep_out


def connect(vudc, buflen):
    c = Client.sockfd(f"/sys/devices/platform/{vudc}/usbip_sockfd", DEVID,
                      timeout=60 * TIME_SCALE)
    ep_in, ep_out = bulk_endpoints(c)
    m = c.ctrl(0x00, 9, 1, 0, 0)
    if m["status"]:
        fail(f"SET_CONFIGURATION 1: status {m['status']}")
    ok(f"configured: bulk IN ep {ep_in}, bulk OUT ep {ep_out}, requests of {buflen} bytes")
    return c, ep_in, ep_out


def wait_available(vudc, what):
    err = vudc_status_wait(vudc, 1)
    if err:
        fail(f"not available again after {what}: {err}")


def roundtrip(c, ep_in, ep_out, buflen, sizes):
    for size in sizes:
        data = os.urandom(size)
        m = c.wait(c.submit(ep_out, DIR_OUT, size, data))
        if m["status"] or m["actual"] != size:
            fail(f"OUT {size}: status {m['status']} actual {m['actual']}")
        back = b""
        while len(back) < size:
            want = min(buflen, size - len(back))
            m = c.wait(c.submit(ep_in, DIR_IN, buflen))
            if m["status"] or m["actual"] != want:
                fail(f"OUT {size}: request {len(back) // buflen + 1} came back as "
                     f"{m['actual']} bytes (status {m['status']}), want {want}: "
                     "a request ended before it was full")
            back += m["data"]
        if back != data:
            fail(f"OUT {size}: the bytes that came back differ")
        ok(f"OUT URB of {size} bytes: back in requests of {buflen}, same bytes")


def main():
    vudc, buflen = sys.argv[1], int(sys.argv[2])
    c, ep_in, ep_out = connect(vudc, buflen)
    roundtrip(c, ep_in, ep_out, buflen, (buflen, 2 * buflen, buflen + 1000, 3 * buflen + 513))
    c.close()
    wait_available(vudc, "the client closed")

    c, ep_in, ep_out = connect(vudc, buflen)
    c.submit(ep_out, DIR_OUT, 2 * buflen, os.urandom(70 * 1024))
    c.close()
    wait_available(vudc, "a connection cut 70 KiB into an OUT payload")
    ok(f"connection cut 70 KiB into an OUT URB of {2 * buflen} bytes: available again")
    c, ep_in, ep_out = connect(vudc, buflen)
    roundtrip(c, ep_in, ep_out, buflen, (buflen,))
    c.close()
    print("vudc_bulk: PASS")


if __name__ == "__main__":
    main()
