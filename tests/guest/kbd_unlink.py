#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Raw USB/IP client of the stub-qemu-int scenario: QEMU's usb-kbd through
usbip-host (via usbipd on 127.0.0.1).

    kbd_unlink.py BUSID

A keyboard sends nothing until a key changes, so after SET_IDLE 0 an
interrupt IN URB to it stays pending: three are unlinked, each answered
RET_UNLINK -ECONNRESET with no RET_SUBMIT before it; an unknown seqnum is
answered RET_UNLINK 0.  After SET_IDLE 4 ms the keyboard repeats its report:
five interrupt IN URBs complete with status 0 and 8 bytes.  Answers must come
in order.  Prints CLIENT-OK, or CLIENT-FAIL and exits 1.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import usbip_wire as w  # noqa: E402


def fail(msg):
    print("CLIENT-FAIL: " + msg)
    sys.exit(1)


def brief(m):
    return (m["cmd"], m["seq"], m["status"], m.get("actual", 0))


def read_msg(c):
    try:
        return c.read_msg()
    except EOFError:
        fail("connection closed")


def wait(c, seq):
    """The next answer, which must be the one for seq."""
    m = read_msg(c)
    if m["seq"] != seq:
        fail("expected an answer to %d, got %r" % (seq, brief(m)))
    return m


def ctrl(c, rt, req, val, idx, length):
    m = wait(c, c.submit(0, w.DIR_IN if rt & 0x80 else w.DIR_OUT, length,
                         setup_pkt=w.setup(rt, req, val, idx, length)))
    if m["cmd"] != w.RET_SUBMIT or m["status"] != 0:
        fail("control %02x/%02x: %r" % (rt, req, brief(m)))
    return m["data"]


def main(busid):
    try:
        c = w.Client.import_(busid, timeout=60, retry_secs=0)
    except RuntimeError:
        fail("import refused")
    dev = ctrl(c, 0x80, 6, 0x100, 0, 18)
    if w.desc_u16(dev, 8) != 0x0627:
        fail("not QEMU's keyboard: %r" % dev)
    cfg = ctrl(c, 0x80, 6, 0x200, 0, 255)
    ep = interval = None
    for e in w.endpoints(cfg):
        if e["type"] == w.EP_INT and e["addr"] & 0x80:
            ep, interval = e["addr"] & 0x0f, e["interval"]
    if ep is None:
        fail("no interrupt IN endpoint")
    ctrl(c, 0x00, 9, 1, 0, 0)
    ctrl(c, 0x21, 0x0a, 0, 0, 0)               # SET_IDLE 0: report on change only
    for _ in range(3):
        p = c.submit(ep, w.DIR_IN, 8, interval=interval)
        time.sleep(0.3)
        u = c.unlink(p)
        m = read_msg(c)
        if m["cmd"] != w.RET_UNLINK or m["seq"] != u or m["status"] != -w.ECONNRESET:
            fail("unlink of pending interrupt URB %d: %r" % (p, brief(m)))
    m = wait(c, c.unlink(4242))
    if m["cmd"] != w.RET_UNLINK or m["status"] != 0:
        fail("unlink of unknown seqnum: %r" % (brief(m),))
    ctrl(c, 0x21, 0x0a, 1 << 8, 0, 0)          # SET_IDLE 4 ms: repeat the report
    for _ in range(5):
        m = wait(c, c.submit(ep, w.DIR_IN, 8, interval=interval))
        if m["cmd"] != w.RET_SUBMIT or m["status"] != 0 or m["actual"] != 8 or \
           len(m["data"]) != 8:
            fail("interrupt IN with idle repeat: %r" % (brief(m),))
    print("CLIENT-OK %s interrupt endpoint %d, 3 unlinks, 5 reports" % (busid, ep))
    c.close()


if __name__ == "__main__":
    main(sys.argv[1])
