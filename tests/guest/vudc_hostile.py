#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A hostile USB/IP client against usbip-vudc (the vudc-protocol scenario).

    vudc_hostile.py CASE...

Gadgets (set up by tests/scenarios/vudc-protocol.sh):
    usbip-vudc.0  mass storage backed by $VUDC_DISK, imported through our
                  "usbipd --device" (OP_REQ_IMPORT on localhost:3240)
    usbip-vudc.1  UAC2 audio (isochronous IN and OUT), connected through
                  usbip_sockfd directly

Cases (each prints "vudc_hostile: ok ..." lines, or "vudc_hostile: FAIL
CASE: reason"; with VUDC_KEEP_GOING=1 the next case still runs):
    devdesc   dev_desc read while a client is attached: from memory (the
              gadget sees no extra setup, counted by the selftest_setups
              attribute), well under a second, same bytes as the client's
              GET_DESCRIPTOR(DEVICE); usbipd's devlist stays fast
    dir       control transfers whose wire direction and setup packet
              disagree, OUT data shorter than wLength, an iso-form submit
              to a bulk endpoint
    partial   OUT URBs whose payload arrives in two parts: a non-iso URB
              on an iso endpoint, bulk OUT that the gadget halts on, the
              rest sent late, an unlink right after the rest, and payloads
              never completed (disconnect) on bulk, iso and ep0
    flood     control, unlink and pending bulk IN floods
    pinned    the connection's budget (max_bytes): 1 MiB bulk IN URBs that
              never complete; the server stops reading at its bound
              (backpressure: the client's send blocks, the connection
              stays), its memory stays within the bound + slack (measured)
              and comes back after an abortive close
    full_unlink  max_urbs=8 and 8 bulk IN URBs that never complete: the
              budget is full, and CMD_UNLINKs of those URBs must still be
              read and answered (RET_UNLINK -ECONNRESET each), and the
              connection then work
    unlinks   the budget again (max_urbs): 100k CMD_UNLINKs while no reply
              is read; the server stops reading, kmalloc-32 and Slab stay
              bounded, then every RET_UNLINK arrives once the client reads
    cut       headers and payloads cut short, then a disconnect
    ep0       standard requests with every recipient and wIndex values
              naming no endpoint

After each case the gadget is imported again and a data round trip is
checked (WRITE(10)/READ(10) through the mass-storage gadget compared with
the written data and the backing file; iso OUT+IN on the audio gadget).
Every connection must end answered or dropped with at most one "closing
the connection" line in the kernel log, and the kernel log must stay clean.
"""
import os
import select
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import backpressure as bp  # noqa: E402
import usbip_wire as w  # noqa: E402

STORAGE = "usbip-vudc.0"
AUDIO = "usbip-vudc.1"
DISK = os.environ.get("VUDC_DISK", "/tmp/vudc-disk.img")
KEEP_GOING = os.environ.get("VUDC_KEEP_GOING") == "1"
PLAT = "/sys/devices/platform"
BAD = ("WARNING:", "BUG:", "BUG ", "Oops", "general protection", "Kernel panic",
       "KASAN", "UBSAN", "Poison overwritten", "kernel BUG", "list_add corruption",
       "list_del corruption", "refcount_t:", "blocked for more than")


class CaseFail(Exception):
    pass


def ok(msg):
    print("vudc_hostile: ok " + msg, flush=True)


def check(cond, msg):
    if not cond:
        raise CaseFail(msg)


def dmesg():
    return subprocess.run(["dmesg"], capture_output=True, text=True).stdout.splitlines()


def wait_status(vudc, want, what, secs=60):
    err = w.vudc_status_wait(vudc, want, secs)
    check(err is None, f"{what}: {err}")


def setups(vudc):
    with open(f"{PLAT}/{vudc}/selftest_setups") as f:
        return int(f.read())


class Log:
    """Kernel log lines of one connection: at most one error line, no
    warning."""

    def __init__(self, vudc):
        self.vudc = vudc
        self.start = len(dmesg())

    def new(self):
        return dmesg()[self.start:]

    def errors(self):
        return [ln for ln in self.new()
                if f"{self.vudc}:" in ln and "closing the connection" in ln]

    def end(self, what, want_error=None):
        """want_error: True (exactly one line), False (none), None (<= 1)."""
        lines = self.new()
        bad = [ln for ln in lines if any(b in ln for b in BAD)]
        check(not bad, f"{what}: kernel log: {bad[:3]}")
        n = len(self.errors())
        check(n <= 1, f"{what}: {n} error lines for one connection: {self.errors()}")
        if want_error is True:
            check(n == 1, f"{what}: no error line for a dropped connection")
        if want_error is False:
            check(n == 0, f"{what}: error line {self.errors()} for a good connection")
        return self.errors()


def connect(vudc):
    """Storage through usbipd --device, audio through usbip_sockfd."""
    if vudc == STORAGE:
        return w.Client.import_(vudc, host="localhost", retry_secs=60)
    wait_status(vudc, 1, "before usbip_sockfd")
    return w.Client.sockfd(f"{PLAT}/{vudc}/usbip_sockfd", (1 << 16) | 2)


def answered(m, seq, what, statuses=(0,)):
    check(m["cmd"] == w.RET_SUBMIT and m["seq"] == seq,
          f"{what}: got command {m['cmd']} seqnum {m['seq']}, want RET_SUBMIT {seq}")
    check(m["status"] in statuses, f"{what}: status {m['status']}, want one of {statuses}")
    return m


def dropped(c, vudc, log, what):
    check(c.closed(20), f"{what}: the server kept the connection")
    c.close()
    wait_status(vudc, 1, what)
    errs = log.end(what, want_error=True)
    ok(f"{what}: dropped, one log line: {errs[0].split(': ', 1)[-1]}")


def config(c):
    """SET_CONFIGURATION 1; returns {(intf, alt): [(addr, attr, maxp)]}."""
    m = c.ctrl(0x80, 6, 0x0200, 0, 1024)
    answered(m, m["seq"], "GET_DESCRIPTOR(CONFIG)")
    alts = {}
    for e in w.endpoints(m["data"]):
        alts.setdefault((e["intf"], e["alt"]), []).append((e["addr"], e["attr"],
                                                           e["maxp"] & 0x7ff))
    m = c.ctrl(0x00, 9, 1, 0, 0)
    answered(m, m["seq"], "SET_CONFIGURATION 1")
    return alts


def bulk_eps(alts):
    eps = [e for v in alts.values() for e in v if e[1] & 3 == 2]
    bin_ = [e[0] for e in eps if e[0] & 0x80][0] & 0xf
    bout = [e[0] for e in eps if not e[0] & 0x80][0] & 0xf
    return bin_, bout


def audio_iso(c, alts):
    """SET_INTERFACE to the streaming alt settings; returns
    [(intf, alt, addr, maxp)] of the iso endpoints."""
    out = []
    for (intf, alt), eps in sorted(alts.items()):
        iso = [e for e in eps if e[1] & 3 == 1]
        if not alt or not iso or any(o[0] == intf for o in out):
            continue
        m = c.ctrl(0x01, 11, alt, intf, 0)
        answered(m, m["seq"], f"SET_INTERFACE {intf} alt {alt}")
        out += [(intf, alt, e[0], e[2]) for e in iso]
    check(out, f"no iso endpoint in {alts}")
    return out


# ---- mass storage Bulk-Only Transport --------------------------------

def bot(c, ep_in, ep_out, tag, cdb, din, length, data=b"", any_status=False):
    seq = c.submit(ep_out, w.DIR_OUT, 31, w.cbw(tag, length, din, cdb))
    answered(c.wait(seq), seq, "CBW")
    got = b""
    if length:
        if din:
            seq = c.submit(ep_in, w.DIR_IN, length)
            got = answered(c.wait(seq), seq, "BOT data IN")["data"]
        else:
            seq = c.submit(ep_out, w.DIR_OUT, length, data)
            answered(c.wait(seq), seq, "BOT data OUT")
    seq = c.submit(ep_in, w.DIR_IN, 13)
    csw = answered(c.wait(seq), seq, "CSW")["data"]
    check(len(csw) == 13, f"CSW of {len(csw)} bytes")
    sig, rtag, _res, st = w.parse_csw(csw)
    check(sig == w.CSW_SIG and rtag == tag and (st == 0 or any_status),
          f"CSW {csw.hex()} for tag {tag}")
    return got


def storage_roundtrip(what, blocks=16):
    """Imports the storage gadget, writes random blocks, reads them back,
    compares them with the backing file too."""
    log = Log(STORAGE)
    c = connect(STORAGE)
    ep_in, ep_out = bulk_eps(config(c))
    lba = 1000 + (int.from_bytes(os.urandom(2), "little") % 4000)
    data = os.urandom(blocks * 512)
    # the first command after a reset reports the reset (unit attention)
    bot(c, ep_in, ep_out, 10, bytes(6), False, 0, any_status=True)
    bot(c, ep_in, ep_out, 11, w.scsi_request_sense(), True, 18, any_status=True)
    # (the 10-byte commands padded to 16: bCBWCBLength 16, as always sent)
    bot(c, ep_in, ep_out, 1, w.scsi_rw10(w.SCSI_WRITE10, lba, blocks) + bytes(6),
        False, len(data), data)
    got = bot(c, ep_in, ep_out, 2, w.scsi_rw10(w.SCSI_READ10, lba, blocks) + bytes(6),
              True, len(data))
    check(got == data, f"{what}: READ(10) of LBA {lba} differs from what was written")
    c.close()
    wait_status(STORAGE, 1, f"{what}: round trip closed")
    with open(DISK, "rb") as f:
        f.seek(lba * 512)
        check(f.read(len(data)) == data, f"{what}: backing file differs at LBA {lba}")
    log.end(f"{what}: round trip", want_error=False)
    ok(f"{what}: storage imported again, {len(data)} bytes written and read back at LBA {lba}")


def iso_submit(c, ep, direction, psize, npk=4, data=None):
    length = psize * npk
    if direction == w.DIR_OUT and data is None:
        data = os.urandom(length)
    seq = c.submit(ep, direction, length, data if direction == w.DIR_OUT else b"",
                   flags=w.URB_ISO_ASAP | (w.URB_DIR_IN if direction else 0),
                   iso=[(i * psize, psize) for i in range(npk)], interval=1)
    m = answered(c.wait(seq), seq, f"iso ep {ep}")
    check(len(m["descs"]) == npk, f"iso ep {ep}: {len(m['descs'])} descriptors")
    check(sum(d[2] for d in m["descs"]) == m["actual"], f"iso ep {ep}: lengths do not add up")
    if direction == w.DIR_IN:
        check(len(m["data"]) == m["actual"], f"iso IN ep {ep}: payload size")
    else:
        check(m["actual"] == length, f"iso OUT ep {ep}: actual {m['actual']} of {length}")
    return m


def audio_roundtrip(what):
    log = Log(AUDIO)
    c = connect(AUDIO)
    isos = audio_iso(c, config(c))
    for _i, _a, addr, maxp in isos:
        iso_submit(c, addr & 0xf, w.DIR_IN if addr & 0x80 else w.DIR_OUT, maxp)
    c.close()
    wait_status(AUDIO, 1, f"{what}: audio round trip closed")
    log.end(f"{what}: audio round trip", want_error=False)
    ok(f"{what}: audio imported again, iso IN and OUT answered")


def silent(c, secs):
    """True if the server sends nothing for secs (negative check)."""
    r, _, _ = select.select([c.s], [], [], secs)
    return not r


# ---- cases -----------------------------------------------------------

def case_devdesc():
    with open(f"{PLAT}/{STORAGE}/dev_desc", "rb") as f:
        idle = f.read()
    check(len(idle) == 18 and idle[:2] == b"\x12\x01", f"dev_desc {idle.hex()}")
    log = Log(STORAGE)
    c = connect(STORAGE)
    m = c.ctrl(0x80, 6, 0x0100, 0, 18)
    answered(m, m["seq"], "GET_DESCRIPTOR(DEVICE)")
    check(m["data"] == idle, f"GET_DESCRIPTOR(DEVICE) {m['data'].hex()} != dev_desc {idle.hex()}")
    config(c)
    n0 = setups(STORAGE)
    worst = 0.0
    for _ in range(5):
        t = time.monotonic()
        with open(f"{PLAT}/{STORAGE}/dev_desc", "rb") as f:
            d = f.read()
        worst = max(worst, time.monotonic() - t)
        check(d == idle, f"dev_desc while attached: {d.hex()} != {idle.hex()}")
    n1 = setups(STORAGE)
    check(n1 == n0, f"5 dev_desc reads while a client is attached gave the gadget "
          f"{n1 - n0} setup requests (want 0)")
    check(worst < 0.5, f"dev_desc read took {worst:.2f} s while attached")
    ok(f"dev_desc while attached: from memory, no setup to the gadget, slowest read {worst:.3f} s")
    # usbipd lists the idle audio gadget (the storage one is in use): its
    # dev_desc comes from memory too, the audio gadget gets no setup either
    a0 = setups(AUDIO)
    t = time.monotonic()
    devs = w.devlist(host="localhost")
    took = time.monotonic() - t
    ids = {d["busid"]: (d["idVendor"], d["idProduct"]) for d in devs}
    check(ids.get(AUDIO) == (0x1d6b, 0x0104) and STORAGE not in ids, f"devlist: {ids}")
    check(setups(STORAGE) == n1 and setups(AUDIO) == a0,
          f"usbipd's devlist sent setups to the gadgets: storage {setups(STORAGE) - n1}, "
          f"audio {setups(AUDIO) - a0}")
    check(took < 1.0, f"OP_REQ_DEVLIST took {took:.2f} s")
    ok(f"usbipd --device devlist while one gadget is attached: {sorted(ids)} in {took:.3f} s, "
       "no setup to either gadget")
    c.close()
    wait_status(STORAGE, 1, "devdesc closed")
    log.end("devdesc", want_error=False)
    storage_roundtrip("devdesc")


def case_dir():
    # wire IN, setup OUT without a data stage but with a buffer: nothing
    # of the buffer is received, it must not become OUT data
    log = Log(STORAGE)
    c = connect(STORAGE)
    seq = c.submit(0, w.DIR_IN, 64, setup_pkt=w.setup(0x00, 3, 1, 0, 0))
    dropped(c, STORAGE, log, "wire IN, OUT setup (SET_FEATURE) with a 64-byte buffer")
    del seq
    # wire IN, OUT setup with a data stage
    log = Log(STORAGE)
    c = connect(STORAGE)
    c.submit(0, w.DIR_IN, 8, setup_pkt=w.setup(0x21, 0x20, 0, 0, 8))
    dropped(c, STORAGE, log, "wire IN, OUT setup with wLength 8")
    # the reverse: wire OUT with payload, IN setup
    log = Log(STORAGE)
    c = connect(STORAGE)
    c.submit(0, w.DIR_OUT, 18, os.urandom(18), setup_pkt=w.setup(0x80, 6, 0x0100, 0, 18))
    dropped(c, STORAGE, log, "wire OUT with 18 payload bytes, IN setup")
    # OUT data stage shorter than wLength
    log = Log(STORAGE)
    c = connect(STORAGE)
    c.submit(0, w.DIR_OUT, 4, os.urandom(4), setup_pkt=w.setup(0x21, 0x20, 0, 0, 64))
    dropped(c, STORAGE, log, "OUT data of 4 bytes for wLength 64")
    # iso-form submit to a bulk OUT endpoint: answered with an error
    log = Log(STORAGE)
    c = connect(STORAGE)
    _ep_in, ep_out = bulk_eps(config(c))
    seq = c.submit(ep_out, w.DIR_OUT, 512, os.urandom(512), iso=[(0, 256), (256, 256)])
    m = c.wait(seq)
    answered(m, seq, "iso-form submit to bulk OUT", statuses=(-w.EINVAL,))
    c.close()
    wait_status(STORAGE, 1, "iso-form submit")
    log.end("iso-form submit", want_error=False)
    ok("iso-form submit to a bulk OUT endpoint: answered -EINVAL")
    storage_roundtrip("dir")


def partial_iso_ep(mode):
    """A non-iso OUT URB larger than a receive piece on the iso OUT
    endpoint of the audio gadget, payload in two parts."""
    log = Log(AUDIO)
    c = connect(AUDIO)
    isos = audio_iso(c, config(c))
    ep = [i[2] for i in isos if not i[2] & 0x80][0] & 0xf
    size, first = 512 * 1024, 200 * 1024
    data = os.urandom(size)
    seq = c.submit(ep, w.DIR_OUT, size, data[:first])
    early = not silent(c, 3)
    if mode == "never":
        c.close()
        wait_status(AUDIO, 1, "iso ep: partial payload, disconnect")
        log.end("iso ep: partial payload, disconnect")
        check(not early, "a non-iso OUT URB on an iso endpoint was answered while "
              "its payload was still being received")
        ok("non-iso OUT URB on an iso endpoint, payload never completed, disconnect: clean")
        return
    # the rest goes out even after an early answer: into freed memory then,
    # which slab poisoning reports
    c.send_raw(data[first:])
    check(not early, "a non-iso OUT URB on an iso endpoint was answered while its "
          "payload was still being received (the rest went to freed memory)")
    m = c.wait(seq)
    answered(m, seq, "non-iso OUT URB on an iso endpoint", statuses=(-w.EINVAL,))
    # the connection still works
    for _i, _a, addr, maxp in isos:
        iso_submit(c, addr & 0xf, w.DIR_IN if addr & 0x80 else w.DIR_OUT, maxp)
    c.close()
    wait_status(AUDIO, 1, "iso ep partial")
    log.end("iso ep partial", want_error=False)
    ok("non-iso OUT URB on an iso endpoint, rest sent late: answered -EINVAL after the "
       "whole payload, connection still works")


def case_partial():
    partial_iso_ep("late")
    partial_iso_ep("never")
    audio_roundtrip("partial iso")

    # bulk OUT of 512 KiB that the storage gadget takes for a bad CBW and
    # halts on, the rest sent late
    log = Log(STORAGE)
    c = connect(STORAGE)
    ep_in, ep_out = bulk_eps(config(c))
    size, first = 512 * 1024, 150 * 1024
    data = os.urandom(size)
    seq = c.submit(ep_out, w.DIR_OUT, size, data[:first])
    check(silent(c, 2), "a partly received bulk OUT URB was answered")
    c.send_raw(data[first:])
    m = c.wait(seq)
    answered(m, seq, "bulk OUT the gadget halted on", statuses=(0, -w.EPIPE))
    ok(f"bulk OUT of {size} bytes in two parts: answered {m['status']} after the payload")
    # an unlink right behind the rest of a partly sent OUT URB
    seq = c.submit(ep_out, w.DIR_OUT, size, data[:first])
    c.send_raw(data[first:])
    ul = c.unlink(seq)
    got = {}
    while ul not in got or (got[ul]["status"] == 0 and seq not in got):
        m = c.read_msg()
        got[m["seq"]] = m
    check(got[ul]["cmd"] == w.RET_UNLINK and got[ul]["status"] in (0, -w.ECONNRESET),
          f"unlink: {got[ul]}")
    check((got[ul]["status"] == -w.ECONNRESET) == (seq not in got),
          f"unlink answered {got[ul]['status']} with{'out' if seq not in got else ''} "
          "a RET_SUBMIT")
    ok(f"unlink behind a late OUT payload: RET_UNLINK {got[ul]['status']}")
    # the rest never sent
    c.submit(ep_out, w.DIR_OUT, size, data[:first])
    c.close()
    wait_status(STORAGE, 1, "bulk OUT partial, disconnect")
    log.end("bulk OUT partial")
    ok("bulk OUT payload never completed, disconnect: clean")

    # the rest never sent, connection ended by the server side
    log = Log(AUDIO)
    c = connect(AUDIO)
    isos = audio_iso(c, config(c))
    ep = [i[2] for i in isos if not i[2] & 0x80][0] & 0xf
    c.submit(ep, w.DIR_OUT, size, data[:first])
    silent(c, 1)
    with open(f"{PLAT}/{AUDIO}/usbip_sockfd", "w") as f:
        f.write("-1")
    check(c.closed(60), "usbip_sockfd -1 did not close the connection")
    c.close()
    wait_status(AUDIO, 1, "usbip_sockfd -1")
    log.end("usbip_sockfd -1 during a partial payload")
    ok("partial OUT payload, then -1 > usbip_sockfd: clean")

    # ep0 OUT payload cut short
    log = Log(STORAGE)
    c = connect(STORAGE)
    c.submit(0, w.DIR_OUT, 4096, os.urandom(100), setup_pkt=w.setup(0x21, 0x20, 0, 0, 4096))
    c.close()
    wait_status(STORAGE, 1, "ep0 partial")
    log.end("ep0 partial payload")
    ok("ep0 OUT payload cut short, disconnect: clean")
    storage_roundtrip("partial")
    audio_roundtrip("partial")


def case_flood():
    log = Log(STORAGE)
    c = connect(STORAGE)
    ep_in, _ep_out = bulk_eps(config(c))
    n = 300
    seqs = [c.submit(0, w.DIR_IN, 2, setup_pkt=w.setup(0x80, 0, 0, 0, 2)) for _ in range(n)]
    for s in seqs:
        answered(c.wait(s), s, "GET_STATUS flood")
    uls = [c.unlink(0x7fff0000 + i) for i in range(n)]
    for s in uls:
        m = c.wait(s)
        check(m["cmd"] == w.RET_UNLINK and m["status"] == 0, f"unlink flood: {m}")
    pend = [c.submit(ep_in, w.DIR_IN, 512) for _ in range(64)]
    for s in pend[:32]:
        c.unlink(s)
    c.close()
    wait_status(STORAGE, 1, "flood")
    log.end("flood")
    ok(f"{n} control transfers and {n} unlinks answered, 64 pending bulk IN dropped")
    storage_roundtrip("flood")


def vudc_param(name, default):
    try:
        with open(f"/sys/module/usbip_vudc/parameters/{name}") as f:
            return int(f.read())
    except OSError:
        return default


class SmallTcpBuffers:
    """128 KiB socket buffers at most (instead of 4-6 MiB), so that the
    server's bound shows before the sockets' buffers hide it."""
    FILES = {"/proc/sys/net/ipv4/tcp_wmem": "4096 16384 131072",
             "/proc/sys/net/ipv4/tcp_rmem": "4096 32768 131072"}

    def __enter__(self):
        self.old = {}
        for path, val in self.FILES.items():
            with open(path) as f:
                self.old[path] = f.read().strip()
            with open(path, "w") as f:
                f.write(val)

    def __exit__(self, *exc):
        for path, val in self.old.items():
            with open(path, "w") as f:
                f.write(val)


def bound_pinned():
    log = Log(STORAGE)
    c = connect(STORAGE)
    ep_in, _ep_out = bulk_eps(config(c))
    bound = vudc_param("max_bytes", 64 * bp.MIB)
    mem = bp.MemBound(bound + 32 * bp.MIB, "pinned bulk IN URBs", c)
    first = c.seq + 1
    # no CBW: the gadget queues no IN request, the URBs never complete
    sent, all_read = bp.paced(c, lambda i: w.cmd_submit(first + i, c.devid, w.DIR_IN, ep_in,
                                                        bp.MIB), 1000, 8, mem)
    check(not all_read, f"all 1000 URBs of 1 MiB read ({mem.peak // bp.MIB} MiB)")

    def more():
        for j in range(sent, sent + 400000, 5000):
            yield b"".join(w.cmd_submit(first + i, c.devid, w.DIR_IN, ep_in, bp.MIB)
                           for i in range(j, j + 5000))
    extra, blocked = bp.pump(c, more())
    mem()
    check(blocked, "the client's send never blocked")
    check(w.vudc_status(STORAGE) == 2, f"pinned: usbip_status {w.vudc_status(STORAGE)} while connected")
    bp.abort(c)
    used = mem.back(lambda: w.vudc_status(STORAGE) == 1)
    log.end("pinned")
    ok(f"pinned: reading stopped after {sent} URBs of 1 MiB (memory peak +{mem.peak // bp.MIB} "
       f"MiB, bound {bound // bp.MIB} MiB), then the client's send blocked after "
       f"{extra // w.HDR_LEN} more headers; after an abortive close memory back "
       f"(+{used // bp.MIB} MiB)")


def case_full_unlink():
    path = "/sys/module/usbip_vudc/parameters/max_urbs"
    with open(path) as f:
        old = f.read().strip()
    with open(path, "w") as f:
        f.write("8")
    try:
        log = Log(STORAGE)
        c = connect(STORAGE)     # the limit is read when the connection starts
    finally:
        with open(path, "w") as f:
            f.write(old)
    ep_in, _ep_out = bulk_eps(config(c))
    pend = [c.submit(ep_in, w.DIR_IN, 512) for _ in range(8)]
    c.s.settimeout(30)
    for s in pend:
        u = c.unlink(s)
        try:
            m = c.wait(u)
        except OSError as e:
            raise CaseFail(f"full budget: no answer to the CMD_UNLINK of {s} ({e})")
        check(m["cmd"] == w.RET_UNLINK and m["status"] == -w.ECONNRESET,
              f"full budget: CMD_UNLINK of {s} answered {m}")
    m = c.ctrl(0x80, 0, 0, 0, 2)
    answered(m, m["seq"], "GET_STATUS after the unlinks")
    c.close()
    wait_status(STORAGE, 1, "full_unlink")
    log.end("full_unlink", want_error=False)
    ok("full budget (max_urbs=8, 8 pending bulk IN): all 8 CMD_UNLINKs answered -ECONNRESET")
    storage_roundtrip("full_unlink")


def bound_unlinks():
    log = Log(STORAGE)
    c = connect(STORAGE)
    # Well past where the send blocks (about 7500 with SmallTcpBuffers) and
    # past the kmalloc-32 limit below, as the 100000 this case first sent
    # (VUDC_HOSTILE_UNLINKS), which took several seconds more to read back.
    n = int(os.environ.get("VUDC_HOSTILE_UNLINKS", "30000"))
    first = c.seq + 1
    base_m, base_k = bp.meminfo(), bp.slab_objects("kmalloc-32")

    def unlinks(lo, hi):
        return b"".join(w.cmd_unlink(first + i, c.devid, 0x7fff0000 + i) for i in range(lo, hi))

    sent, blocked = bp.pump(c, (unlinks(j, min(n, j + 5000)) for j in range(0, n, 5000)))
    if not blocked:
        bp.settle(c, lambda: None)
    dk = bp.slab_objects("kmalloc-32") - base_k
    dslab = bp.meminfo()["Slab"] - base_m["Slab"]
    check(dk <= 20000 and dslab <= 16 * bp.MIB,
          f"unlink flood: kmalloc-32 {dk:+d} objects, Slab {dslab // 1024:+d} KiB")
    check(blocked, f"the server read all {n} CMD_UNLINKs while no answer was read")
    # the rest, from the byte where the blocked send stopped
    got = bp.send_and_read(c, unlinks(sent // w.HDR_LEN, n)[sent % w.HDR_LEN:], n,
                           lambda i, m: m["cmd"] == w.RET_UNLINK and m["seq"] == first + i
                           and m["status"] == 0)
    check(got == n, f"RET_UNLINKs read: {got} of {n} in order")
    c.seq = first + n
    m = c.ctrl(0x80, 0, 0, 0, 2)
    answered(m, m["seq"], "GET_STATUS after the flood")
    c.close()
    wait_status(STORAGE, 1, "unlinks")
    log.end("unlinks", want_error=False)
    ok(f"unlinks: {sent // w.HDR_LEN} of {n} CMD_UNLINKs sent before the send blocked, "
       f"kmalloc-32 {dk:+d} objects, Slab {dslab // 1024:+d} KiB; then all {n} RET_UNLINK 0 "
       f"read in order and the connection still works")


def case_pinned():
    with SmallTcpBuffers():
        bound_pinned()
    storage_roundtrip("pinned")


def case_unlinks():
    with SmallTcpBuffers():
        bound_unlinks()
    storage_roundtrip("unlinks")


def case_cut():
    for what, raw in [
        ("header cut after 20 bytes", w.cmd_submit(1, 0, w.DIR_IN, 1, 512)[:20]),
        ("OUT header without its payload", w.cmd_submit(1, 0, w.DIR_OUT, 1, 65536)),
        ("iso header without its descriptors",
         w.cmd_submit(1, 0, w.DIR_OUT, 1, 0, npackets=8)),
    ]:
        log = Log(STORAGE)
        c = connect(STORAGE)
        c.send_raw(raw)
        c.close()
        wait_status(STORAGE, 1, what)
        log.end(what)
        ok(f"{what}, disconnect: clean")
    storage_roundtrip("cut")


def case_ep0():
    log = Log(STORAGE)
    c = connect(STORAGE)
    config(c)
    indexes = [0, 0x01, 0x81, 0x02, 0x82, 0x0f, 0x8f, 0x7f, 0x40, 0xc0, 0x100, 0x181,
               0x8000, 0xffff]
    n = 0
    for recip in range(4):
        for index in indexes:
            for rtype, req, value, length in [
                    (0x80, 0, 0, 2),        # GET_STATUS
                    (0x00, 3, 0, 0),        # SET_FEATURE(0: ENDPOINT_HALT)
                    (0x00, 1, 0, 0),        # CLEAR_FEATURE(0)
                    (0x00, 3, 1, 0),        # SET_FEATURE(1)
                    (0x00, 1, 1, 0),        # CLEAR_FEATURE(1)
                    (0x80, 0, 0, 0),        # GET_STATUS without a data stage
                    (0x80, 10, 0, 1),       # GET_INTERFACE
                    (0x80, 0x0c, 0, 2)]:    # SYNCH_FRAME
                m = c.ctrl(rtype | recip, req, value, index, length)
                answered(m, m["seq"], f"request {rtype | recip:#04x} {req:#x} value {value} "
                         f"index {index:#x}", statuses=(0, -w.EPIPE))
                n += 1
    c.close()
    wait_status(STORAGE, 1, "ep0")
    log.end("ep0", want_error=False)
    ok(f"{n} standard requests, every recipient, wIndex {len(indexes)} values: all answered")
    storage_roundtrip("ep0")


CASES = {"devdesc": case_devdesc, "dir": case_dir, "partial": case_partial,
         "flood": case_flood, "pinned": case_pinned, "full_unlink": case_full_unlink, "unlinks": case_unlinks, "cut": case_cut, "ep0": case_ep0}


def main():
    failed = []
    for name in sys.argv[1:]:
        print(f"vudc_hostile: case {name}", flush=True)
        try:
            CASES[name]()
        except (CaseFail, EOFError, OSError, RuntimeError) as e:
            print(f"vudc_hostile: FAIL {name}: {e}", flush=True)
            failed.append(name)
            if not KEEP_GOING:
                break
            for v in (STORAGE, AUDIO):
                try:
                    wait_status(v, 1, "after a failed case")
                except CaseFail:
                    pass
    if failed:
        print("vudc_hostile: FAILED " + " ".join(failed))
        sys.exit(1)
    print("vudc_hostile: PASS")


if __name__ == "__main__":
    main()
