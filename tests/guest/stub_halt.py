#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Raw USB/IP client for the stub-halt scenario (usbip-host, via usbipd).

    stub_halt.py halt-stick BUSID SHA MIB    a QEMU usb-storage stick whose
                                             drive is read-throttled
    flood BUSID NCONF NRESET                 SET_CONFIGURATION, port resets
    variants BUSID                           special requests with the
                                             direction bit set or an odd
                                             recipient

halt-stick: (1) a bulk IN without a CBW (QEMU's usb-storage stalls it; a
real stick would NAK), CLEAR_FEATURE(HALT) of both bulk endpoints; (2) the
CBW of a READ(10) of the whole disk, its data URB, and at once
CLEAR_FEATURE(HALT) of the IN endpoint while that URB is queued: the URB
must be answered exactly once (RET_SUBMIT -ECONNRESET), the clear-halt
with 0 and a later CMD_UNLINK of the URB with RET_UNLINK 0; Bulk-Only reset
recovery; (3) READ(10)s of the whole disk compared with the image's sha256
(the endpoint works, toggles in step).
variants: each inconsistent special request must be answered -EPIPE, and
usbmon must not see it on the bus.

Uses only usbip_wire.  Prints one line per check; exits 1 on failure.
"""
import hashlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import usbip_wire as w  # noqa: E402


def fail(msg):
    print("CLIENT-FAIL: " + msg, flush=True)
    sys.exit(1)


def ok(msg):
    print("    ok: " + msg, flush=True)


def ctrl(c, rt, req, val, idx, length, data=b"", want=0):
    m = c.ctrl(rt, req, val, idx, length, data)
    if m["cmd"] != w.RET_SUBMIT:
        fail("control %02x %02x answered with command %d" % (rt, req, m["cmd"]))
    if want is not None and m["status"] != want:
        fail("control %02x %02x %04x %04x: status %d, expected %d" %
             (rt, req, val, idx, m["status"], want))
    return m


def configure(c):
    """SET_CONFIGURATION 1; returns {type: (in_ep, out_ep)} of the config."""
    total = w.desc_u16(ctrl(c, 0x80, 6, 0x0200, 0, 9)["data"], 2)
    cfg = ctrl(c, 0x80, 6, 0x0200, 0, total)["data"]
    eps = {}
    for e in w.endpoints(cfg):
        eps.setdefault(("in" if e["addr"] & 0x80 else "out", e["type"]), e["addr"] & 0x0f)
    ctrl(c, 0x00, 9, 1, 0, 0)
    return eps


def sync(c):
    """A synchronous ep0 request: once it is answered, every earlier
    CMD_SUBMIT has been handed to the host controller (one rx thread)."""
    ctrl(c, 0x80, 0, 0, 0, 2)      # GET_STATUS(device)


def answer(c, seq, what):
    try:
        return c.wait(seq)
    except OSError as e:
        fail("%s (seqnum %d) never answered: %s" % (what, seq, e))


def bot(c, ein, eout, tag, cb, dlen, din):
    m = c.wait(c.submit(eout, w.DIR_OUT, 31, cbw(tag, cb, dlen, din)))
    if m["status"]:
        fail("CBW %02x: status %d" % (cb[0], m["status"]))
    data = b""
    if dlen:
        m = c.wait(c.submit(ein, w.DIR_IN, dlen))
        if m["status"]:
            fail("data stage of %02x: status %d" % (cb[0], m["status"]))
        data = m["data"]
    m = c.wait(c.submit(ein, w.DIR_IN, 13))
    if m["status"] or len(m["data"]) != 13:
        fail("CSW of %02x: %r" % (cb[0], m))
    sig, rtag, _res, st = w.parse_csw(m["data"])
    if sig != w.CSW_SIG or rtag != tag:
        fail("bad CSW %r" % m["data"])
    return data, st


def ready(c, ein, eout, tag):
    """INQUIRY, then TEST UNIT READY until the unit attention (after a
    reset) is fetched with REQUEST SENSE.  Returns the last tag used."""
    tag += 1
    bot(c, ein, eout, tag, bytes([0x12, 0, 0, 0, 36, 0]), 36, True)
    for _ in range(3):
        tag += 1
        _, st = bot(c, ein, eout, tag, bytes(6), 0, False)
        if st == 0:
            return tag
        tag += 1
        bot(c, ein, eout, tag, bytes([0x03, 0, 0, 0, 18, 0]), 18, True)
    fail("TEST UNIT READY keeps failing")


def read10(lba, blocks):
    return w.scsi_rw10(w.SCSI_READ10, lba, blocks)


def cbw(tag, cb, dlen, din):
    return w.cbw(tag, dlen, din, cb)


def halt_stick(busid, sha, mib):
    c = w.Client.import_(busid, timeout=30)
    eps = configure(c)
    if ("in", 2) not in eps or ("out", 2) not in eps:
        fail("no bulk endpoints: %r" % eps)
    ein, eout = eps[("in", 2)], eps[("out", 2)]
    clear_in = w.setup(0x02, 1, 0, 0x80 | ein, 0)

    # 1. a real halt: QEMU's usb-storage stalls a bulk IN without a CBW
    # (a real stick would NAK it, leaving it queued as in part 2)
    nocbw = c.submit(ein, w.DIR_IN, 512)
    sync(c)
    ch = c.submit(0, w.DIR_OUT, 0, setup_pkt=clear_in)
    m = answer(c, nocbw, "the bulk IN without a CBW")
    if m["cmd"] != w.RET_SUBMIT or m["status"] not in (-w.EPIPE, -w.ECONNRESET):
        fail("bulk IN without a CBW answered %r" % m)
    ok("bulk IN without a CBW answered once: status %d" % m["status"])
    m = answer(c, ch, "CLEAR_FEATURE(HALT)")
    if m["status"] != 0:
        fail("CLEAR_FEATURE(HALT) IN: %r" % m)
    ctrl(c, 0x02, 1, 0, eout, 0)
    ok("CLEAR_FEATURE(HALT) of both bulk endpoints answered 0")
    tag = ready(c, ein, eout, 0)

    # 2. CLEAR_FEATURE(HALT) while a READ(10) data URB is queued on the
    # endpoint (the drive is throttled: the transfer takes about a second)
    tag += 1
    m = c.wait(c.submit(eout, w.DIR_OUT, 31,
                        cbw(tag, read10(0, (mib << 20) // 512), mib << 20, True)))
    if m["status"]:
        fail("CBW of the READ(10) to interrupt: status %d" % m["status"])
    busy = c.submit(ein, w.DIR_IN, mib << 20)
    ch = c.submit(0, w.DIR_OUT, 0, setup_pkt=clear_in)
    m = answer(c, busy, "the data URB in flight")
    if m["cmd"] != w.RET_SUBMIT or m["status"] != -w.ECONNRESET:
        fail("data URB in flight during CLEAR_FEATURE(HALT): cmd %d status %s actual %s,"
             " expected RET_SUBMIT -ECONNRESET" % (m["cmd"], m.get("status"), m.get("actual")))
    ok("data URB in flight answered once: RET_SUBMIT %d after %d of %d bytes" %
       (m["status"], m["actual"], mib << 20))
    m = answer(c, ch, "CLEAR_FEATURE(HALT)")
    if m["cmd"] != w.RET_SUBMIT or m["status"] != 0:
        fail("CLEAR_FEATURE(HALT) with an URB in flight answered %r" % m)
    ok("CLEAR_FEATURE(HALT) ep %#x answered 0" % (0x80 | ein))
    u = c.unlink(busy)
    m = answer(c, u, "CMD_UNLINK of the answered URB")
    if m["cmd"] != w.RET_UNLINK or m["status"] != 0:
        fail("unlink of the answered URB: %r" % m)
    ok("a later CMD_UNLINK of it: RET_UNLINK 0")
    # Bulk-Only reset recovery: Mass Storage Reset, then both halts
    ctrl(c, 0x21, 0xff, 0, 0, 0)
    ctrl(c, 0x02, 1, 0, 0x80 | ein, 0)
    ctrl(c, 0x02, 1, 0, eout, 0)
    tag = ready(c, ein, eout, tag)

    # 3. the endpoints work and their toggles are in step: the whole disk
    h = hashlib.sha256()
    chunk = 1 << 20
    for off in range(0, mib << 20, chunk):
        tag += 1
        data, st = bot(c, ein, eout, tag, read10(off // 512, chunk // 512), chunk, True)
        if st or len(data) != chunk:
            fail("READ(10) at %d: status %d, %d bytes" % (off, st, len(data)))
        h.update(data)
    if h.hexdigest() != sha:
        fail("READ(10) of %d MiB: sha256 %s, image %s" % (mib, h.hexdigest(), sha))
    for s in (nocbw, busy):
        if s in c.early:
            fail("seqnum %d answered twice: %r" % (s, c.early[s]))
    ok("READ(10) of %d MiB matches the image sha256; no URB answered twice" % mib)
    c.close()


def flood(busid, nconf, nreset):
    c = w.Client.import_(busid, timeout=30)
    configure(c)
    for _ in range(nconf):
        ctrl(c, 0x00, 9, 1, 0, 0)
    for _ in range(nreset):
        ctrl(c, 0x23, 3, 4, 1, 0)                  # SET_FEATURE(PORT_RESET)
    configure(c)
    dev = ctrl(c, 0x80, 6, 0x0100, 0, 18)["data"]
    if len(dev) != 18 or dev[1] != 1:
        fail("device descriptor after the flood: %r" % dev)
    ok("%d SET_CONFIGURATION and %d port resets answered 0" % (nconf, nreset))
    c.close()


# (bmRequestType, bRequest, wValue, wIndex): inconsistent forms of the
# requests usbip-host carries out itself
VARIANTS = [
    (0x80, 9, 1, 0),        # SET_CONFIGURATION, direction IN
    (0x01, 9, 1, 0),        # SET_CONFIGURATION to an interface
    (0x81, 11, 0, 0),       # SET_INTERFACE, direction IN
    (0x00, 11, 0, 0),       # SET_INTERFACE to the device
    (0x82, 1, 0, 0x81),     # CLEAR_FEATURE(HALT), direction IN
    (0x03, 1, 0, 0x81),     # CLEAR_FEATURE to "other"
    (0x80, 5, 9, 0),        # SET_ADDRESS, direction IN
    (0x02, 5, 9, 0),        # SET_ADDRESS to an endpoint
    (0x02, 1, 0, 0x0181),   # CLEAR_FEATURE(HALT), wIndex with reserved bits
]


def usbmon_events(fd):
    """The usbmon text events queued on fd (opened O_NONBLOCK)."""
    out = []
    while True:
        try:
            b = os.read(fd, 8192)
        except BlockingIOError:
            return out
        if not b:
            return out
        out.append(b.decode(errors="replace"))


def variants(busid):
    c = w.Client.import_(busid, timeout=30)
    configure(c)
    # usbmon shows every control request that reaches the bus
    mon = os.open("/sys/kernel/debug/usb/usbmon/%du" % int(busid.split("-")[0]),
                  os.O_RDONLY | os.O_NONBLOCK)
    bad = []
    for rt, req, val, idx in VARIANTS:
        m = ctrl(c, rt, req, val, idx, 0, want=None)
        if m["status"] != -w.EPIPE:
            bad.append("%02x %02x %04x %04x answered %d" % (rt, req, val, idx, m["status"]))
    ctrl(c, 0x80, 6, 0x0100, 0, 18)        # must be seen on the bus
    events = "".join(usbmon_events(mon))
    os.close(mon)
    if " s 80 06 0100 0000 0012" not in events:
        fail("usbmon did not show GET_DESCRIPTOR: %r" % events[:400])
    for rt, req, val, idx in VARIANTS:
        if " s %02x %02x %04x %04x" % (rt, req, val, idx) in events:
            bad.append("%02x %02x %04x %04x reached the device" % (rt, req, val, idx))
    if bad:
        fail("inconsistent special requests: " + "; ".join(bad))
    ok("%d inconsistent special requests answered -EPIPE, none reached the bus" %
       len(VARIANTS))
    c.close()


def main():
    case, busid = sys.argv[1], sys.argv[2]
    if case == "halt-stick":
        halt_stick(busid, sys.argv[3], int(sys.argv[4]))
    elif case == "flood":
        flood(busid, int(sys.argv[3]), int(sys.argv[4]))
    elif case == "variants":
        variants(busid)
    else:
        fail("unknown case " + case)
    print("CLIENT-OK " + case, flush=True)


if __name__ == "__main__":
    main()
