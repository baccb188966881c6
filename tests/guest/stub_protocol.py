#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Raw USB/IP client of the stub-protocol scenario (usbip-host via usbipd).

    stub_protocol.py BUSID CASE

Imports BUSID (a mass-storage gadget backed by /tmp/disk.img) over
127.0.0.1 and plays CASE:
  good      Bulk-Only-Transport commands (INQUIRY, READ(10) of 1 MiB compared
            with the backing file, WRITE(10) then read back, a 64 KiB IN URB
            that a 20 KiB read plus the 13-byte CSW ends short),
            SET_INTERFACE, CLEAR_FEATURE(HALT), port reset
  unlink    RET_UNLINK answers: pending, twice, unknown, completed
  nomem     usbip-host's fail_alloc hook: -ENOMEM answers keep the connection
  devid dup ep dir cap isocount isononiso cut garbage ret
            one kind of bad input each; the server must drop the connection
Prints CLIENT-OK CASE, or CLIENT-FAIL and exits 1.  Everything on the wire
goes through usbip_wire.
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import usbip_wire as w  # noqa: E402

DISK = "/tmp/disk.img"
BUSID = CASE = None


def fail(msg):
    print("CLIENT-FAIL: " + msg)
    sys.exit(1)


def connect():
    try:
        return w.Client.import_(BUSID, timeout=60, retry_secs=0)
    except RuntimeError as e:
        fail(str(e))


def xfer(c, ep, din, length, data=b"", setup_pkt=b"\0" * 8, want=0):
    seq = c.submit(ep, din, length, data, setup_pkt)
    m = c.wait(seq)
    if m["cmd"] != w.RET_SUBMIT:
        fail("seqnum %d answered with command %d" % (seq, m["cmd"]))
    if want is not None and m["status"] != want:
        fail("seqnum %d ep %d: status %d, expected %d" % (seq, ep, m["status"], want))
    return m


def ctrl(c, rt, req, val, idx, length, data=b"", want=0):
    return xfer(c, 0, w.DIR_IN if rt & 0x80 else w.DIR_OUT, length, data,
                w.setup(rt, req, val, idx, length), want)


def configure(c):
    dev = ctrl(c, 0x80, 6, 0x0100, 0, 18)["data"]
    if len(dev) != 18 or w.desc_u16(dev, 8) != 0x1d6b:
        fail("bad device descriptor %r" % dev)
    total = w.desc_u16(ctrl(c, 0x80, 6, 0x0200, 0, 9)["data"], 2)
    m = ctrl(c, 0x80, 6, 0x0200, 0, 255)
    if m["actual"] != total:
        fail("config descriptor: short read gave %d bytes, wTotalLength %d" %
             (m["actual"], total))
    eps = {}
    for e in w.endpoints(m["data"]):
        if e["type"] == w.EP_BULK:
            eps["in" if e["addr"] & 0x80 else "out"] = e["addr"] & 0x0f
    if "in" not in eps or "out" not in eps:
        fail("no bulk endpoints in %r" % m["data"])
    ctrl(c, 0x00, 9, 1, 0, 0)
    return eps["in"], eps["out"]


def bot(c, ein, eout, cb, dlen, din, data=b"", inlen=None, check=True):
    tag = c.seq + 1000
    xfer(c, eout, w.DIR_OUT, 31, w.cbw(tag, dlen, din, cb))
    got = b""
    if dlen and din:
        got = xfer(c, ein, w.DIR_IN, inlen or dlen)["data"]
    elif dlen:
        xfer(c, eout, w.DIR_OUT, dlen, data)
    if inlen is None or len(got) <= dlen:
        csw = xfer(c, ein, w.DIR_IN, 13)["data"]
    else:
        csw, got = got[dlen:], got[:dlen]
    sig, rtag, _res, st = w.parse_csw(csw)
    if sig != w.CSW_SIG or rtag != tag or (st != 0 and check):
        if cb[0] != w.SCSI_REQUEST_SENSE:
            sense = bot(c, ein, eout, w.scsi_request_sense(), 18, True)
            fail("CSW %r for command %02x, sense %s" % (csw, cb[0], sense.hex()))
        fail("bad CSW %r" % csw)
    return got


def rw10(op, lba, n):
    return w.scsi_rw10(op, lba, n)


def case_good():
    c = connect()
    ein, eout = configure(c)
    ctrl(c, 0x01, 11, 0, 0, 0)                     # SET_INTERFACE 0/0
    ctrl(c, 0x02, 1, 0, 0x80 | ein, 0)             # CLEAR_FEATURE(HALT)
    ctrl(c, 0x02, 1, 0, eout, 0)
    inq = bot(c, ein, eout, w.scsi_inquiry(), 36, True)
    if len(inq) != 36 or inq[0] & 0x1f != 0:
        fail("bad INQUIRY data %r" % inq)
    # the first TEST UNIT READY after a reset reports (and clears) a unit
    # attention, and REQUEST SENSE fetches it
    bot(c, ein, eout, bytes(6), 0, False, check=False)
    bot(c, ein, eout, w.scsi_request_sense(), 18, True)
    with open(DISK, "rb") as f:
        disk = f.read(1 << 20)
    got = bot(c, ein, eout, rw10(w.SCSI_READ10, 0, 2048), 1 << 20, True)
    if got != disk:
        fail("READ(10) of 1 MiB differs from the backing file")
    new = os.urandom(65536)
    bot(c, ein, eout, rw10(w.SCSI_WRITE10, 4096, 128), 65536, False, new)
    if bot(c, ein, eout, rw10(w.SCSI_READ10, 4096, 128), 65536, True) != new:
        fail("WRITE(10)+READ(10) of 64 KiB gave other data")
    # a 64 KiB IN URB that gets 20 KiB of data and the CSW, short in piece 2
    got = bot(c, ein, eout, rw10(w.SCSI_READ10, 0, 40), 20480, True, inlen=65536)
    if got != disk[:20480]:
        fail("short 64 KiB URB: wrong data")
    # TEST UNIT READY: the CSW alone ends a 64 KiB IN URB in its first piece
    xfer(c, eout, w.DIR_OUT, 31, w.cbw(77, 0, False, bytes(6)))
    m = xfer(c, ein, w.DIR_IN, 65536)
    if m["actual"] != 13 or m["data"][:4] != b"USBS":
        fail("CSW in a 64 KiB URB: actual %d" % m["actual"])
    ctrl(c, 0x23, 3, 4, 1, 0)                      # port reset
    configure(c)
    inq2 = bot(c, ein, eout, w.scsi_inquiry(), 36, True)
    if inq2 != inq:
        fail("INQUIRY after the port reset differs")
    c.close()


def case_unlink():
    c = connect()
    ein, eout = configure(c)
    pend = c.submit(ein, w.DIR_IN, 512)            # no CBW: stays pending
    time.sleep(0.5)

    def unlinked(target, want, what):
        m = c.wait(c.unlink(target))
        if m["cmd"] != w.RET_UNLINK or m["status"] != want:
            fail("%s: %r" % (what, (m["cmd"], m["seq"], m["status"])))

    unlinked(pend, -w.ECONNRESET, "unlink of a pending URB")
    unlinked(pend, 0, "second unlink")
    unlinked(999999, 0, "unlink of an unknown seqnum")
    done = ctrl(c, 0x80, 6, 0x0100, 0, 18)
    unlinked(done["seq"], 0, "unlink of a completed URB")
    if pend in c.early:
        fail("RET_SUBMIT sent for the unlinked URB")
    bot(c, ein, eout, w.scsi_inquiry(), 36, True)
    if pend in c.early:
        fail("RET_SUBMIT sent for the unlinked URB")
    c.close()


def case_nomem():
    # the fail_alloc test hook makes usbip-host's next transfer buffer
    # allocations fail: each CMD_SUBMIT must come back -ENOMEM with its
    # payload consumed, and the connection must go on in step
    hook = "/sys/module/usbip_host/parameters/fail_alloc"
    c = connect()
    ein, eout = configure(c)
    for din, length in [(0, 65536), (1, 512), (0, 3 << 20), (0, 31)]:
        with open(hook, "w") as f:
            f.write("1")
        m = xfer(c, eout if not din else ein, din, length,
                 os.urandom(length) if not din else b"", want=-w.ENOMEM)
        if m["actual"] != 0 or m["data"]:
            fail("-ENOMEM answer with actual_length %d" % m["actual"])
        with open(hook) as f:
            if f.read().strip() != "0":
                fail("fail_alloc hook not consumed")
    inq = bot(c, ein, eout, w.scsi_inquiry(), 36, True)
    if len(inq) != 36:
        fail("INQUIRY after -ENOMEM answers: %r" % inq)
    bot(c, ein, eout, bytes(6), 0, False, check=False)      # the unit attention
    bot(c, ein, eout, w.scsi_request_sense(), 18, True)
    with open(DISK, "rb") as f:
        disk = f.read(65536)
    if bot(c, ein, eout, rw10(w.SCSI_READ10, 0, 128), 65536, True) != disk:
        fail("READ(10) after -ENOMEM answers gave other data")
    c.close()


# Bad input: each builds one malformed message with usbip_wire's encoder
# (explicit field values) and sends it after a good configuration.

GET_DEV = w.setup(0x80, 6, 0x100, 0, 18)


def b_devid(c, ein, eout):
    c.submit(0, w.DIR_IN, 18, setup_pkt=GET_DEV, devid=c.devid ^ 0x10000)


def b_dup(c, ein, eout):
    c.submit(ein, w.DIR_IN, 512, seq=500)
    c.submit(ein, w.DIR_IN, 512, seq=500)


def b_ep(c, ein, eout):
    c.submit(15, w.DIR_IN, 512)


def b_dir(c, ein, eout):
    if ein == eout:
        fail("bulk in and out share a number, cannot test")
    c.submit(ein, w.DIR_OUT, 4, b"abcd")


def b_cap(c, ein, eout):
    c.submit(ein, w.DIR_IN, (64 << 20) + 1)


def b_iso_count(c, ein, eout):
    c.submit(ein, w.DIR_IN, 512, npackets=1025)


def b_iso_noniso(c, ein, eout):
    c.submit(ein, w.DIR_IN, 512, iso=[(0, 512)])


def b_cut(c, ein, eout):
    c.submit(eout, w.DIR_OUT, 4096, b"x" * 100)     # 100 of 4096 bytes
    c.s.shutdown(socket.SHUT_WR)


def b_garbage(c, ein, eout):
    c.submit(0, w.DIR_IN, 18, setup_pkt=GET_DEV)
    c.send_raw(b"\xa5" * w.HDR_LEN)


def b_ret(c, ein, eout):
    c.send_raw(w.ret_submit(900, devid=c.devid))


def bad(build):
    c = connect()
    ein, eout = configure(c)
    build(c, ein, eout)
    if not c.closed(30):
        fail("server did not drop the connection")


BAD = {"devid": b_devid, "dup": b_dup, "ep": b_ep, "dir": b_dir, "cap": b_cap,
       "isocount": b_iso_count, "isononiso": b_iso_noniso, "cut": b_cut,
       "garbage": b_garbage, "ret": b_ret}


def main(argv):
    global BUSID, CASE
    BUSID, CASE = argv[1], argv[2]
    cases = {"good": case_good, "unlink": case_unlink, "nomem": case_nomem}
    if CASE in cases:
        cases[CASE]()
    elif CASE in BAD:
        bad(BAD[CASE])
    else:
        fail("unknown case %s" % CASE)
    print("CLIENT-OK " + CASE)


if __name__ == "__main__":
    main(sys.argv)
