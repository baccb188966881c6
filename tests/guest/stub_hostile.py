#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Hostile raw clients of the stub-hostile scenario (usbip-host via usbipd).

    stub_hostile.py BUSID CASE

CASE is good, setaddr, reset, noread, unlink, pinned, detach or unbind (the
scenario's header says what each checks).  Everything on the wire goes
through usbip_wire; the memory bounds through backpressure.py.  Prints
CLIENT-OK CASE, or CLIENT-FAIL CASE: why and exits 1.
"""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import usbip_wire as w  # noqa: E402
from backpressure import (MIB, MemBound, abort, meminfo, paced, pump,  # noqa: E402
                          send_and_read, settle, slab_objects)

BUSID, CASE = sys.argv[1], sys.argv[2]
DISK = "/tmp/disk.img"
SYSDEV = "/sys/bus/usb/devices/" + BUSID


def fail(msg):
    print("CLIENT-FAIL %s: %s" % (CASE, msg), flush=True)
    sys.exit(1)


def info(msg):
    print("    " + msg, flush=True)


def sysread(path):
    with open(path) as f:
        return f.read().strip()


def param(name, default):
    try:
        return int(sysread("/sys/module/usbip_host/parameters/" + name))
    except OSError:
        return default


def xfer(c, ep, din, length, data=b"", setup_pkt=b"\0" * 8, want=0):
    m = c.wait(c.submit(ep, din, length, data, setup_pkt))
    if m["cmd"] != w.RET_SUBMIT:
        fail("seqnum %d answered with command %d" % (m["seq"], m["cmd"]))
    if want is not None and m["status"] != want:
        fail("ep %d: status %d, expected %d" % (ep, m["status"], want))
    return m


def ctrl(c, rt, req, val, idx, length, data=b"", want=0):
    return xfer(c, 0, w.DIR_IN if rt & 0x80 else w.DIR_OUT, length, data,
                w.setup(rt, req, val, idx, length), want)


def configure(c):
    m = ctrl(c, 0x80, 6, 0x0200, 0, 255)
    cfg, eps = m["data"], {}
    for e in w.endpoints(cfg):
        if e["type"] == w.EP_BULK:
            eps["in" if e["addr"] & 0x80 else "out"] = e["addr"] & 0x0f
    if "in" not in eps or "out" not in eps:
        fail("no bulk endpoints in %r" % cfg)
    ctrl(c, 0x00, 9, 1, 0, 0)
    return eps["in"], eps["out"]


def bot(c, ein, eout, cb, dlen, din, data=b"", check=True):
    tag = c.seq + 1000
    xfer(c, eout, w.DIR_OUT, 31, w.cbw(tag, dlen, din, cb))
    got = b""
    if dlen and din:
        got = xfer(c, ein, w.DIR_IN, dlen)["data"]
    elif dlen:
        xfer(c, eout, w.DIR_OUT, dlen, data)
    csw = xfer(c, ein, w.DIR_IN, 13)["data"]
    sig, rtag, _res, st = w.parse_csw(csw)
    if sig != w.CSW_SIG or rtag != tag or (st != 0 and check):
        fail("bad CSW %r for command %02x" % (csw, cb[0]))
    return got


def read10(lba, n):
    return w.scsi_rw10(w.SCSI_READ10, lba, n)


def works(c, ein, eout):
    """INQUIRY, the unit attention, then READ(10) of 1 MiB == backing file."""
    if len(bot(c, ein, eout, w.scsi_inquiry(), 36, True)) != 36:
        fail("INQUIRY")
    bot(c, ein, eout, bytes(6), 0, False, check=False)
    bot(c, ein, eout, w.scsi_request_sense(), 18, True)
    with open(DISK, "rb") as f:
        disk = f.read(MIB)
    if bot(c, ein, eout, read10(0, 2048), MIB, True) != disk:
        fail("READ(10) of 1 MiB differs from the backing file")


class Usbmon:
    """Text usbmon of the device's bus, read by a thread."""

    def __init__(self):
        self.bus = int(sysread(SYSDEV + "/busnum"))
        self.lines = []
        self.f = open("/sys/kernel/debug/usb/usbmon/%du" % self.bus, "rb", buffering=0)
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        buf = b""
        while True:
            chunk = self.f.read(65536)
            if not chunk:
                return
            buf += chunk
            *done, buf = buf.split(b"\n")
            self.lines.extend(x.decode(errors="replace") for x in done)

    def find(self, pred, secs=10):
        end = time.monotonic() + secs
        while time.monotonic() < end:
            for i, l in enumerate(list(self.lines)):
                if pred(l.split()):
                    return i
            time.sleep(0.05)
        return -1


def open_client():
    c = w.Client.import_(BUSID, timeout=60)
    return c


# ---------------------------------------------------------------------------
def case_good():
    c = open_client()
    ein, eout = configure(c)
    works(c, ein, eout)
    c.close()


def case_setaddr():
    c = open_client()
    ein, eout = configure(c)
    mon = Usbmon()
    dev = int(sysread(SYSDEV + "/devnum"))
    m = ctrl(c, 0x00, 5, 42, 0, 0, want=None)
    if m["status"] != 0:
        fail("SET_ADDRESS answered %d" % m["status"])
    # a request the client sends after it marks the end of what to look at
    ctrl(c, 0x80, 0, 0, 0, 2)
    addr = "Co:%d:%03d:0" % (mon.bus, dev)
    if mon.find(lambda f: len(f) > 6 and f[2] == "S" and f[3] == "Ci:%d:%03d:0" % (mon.bus, dev)
                and f[5:7] == ["80", "00"], 10) < 0:
        fail("the GET_STATUS after SET_ADDRESS is not in usbmon")
    hit = [l for l in mon.lines if (" S %s s 00 05 " % addr) in l]
    if hit:
        fail("SET_ADDRESS reached the device behind the host: %s" % hit[0])
    now = int(sysread(SYSDEV + "/devnum"))
    if now != dev:
        fail("devnum %d -> %d" % (dev, now))
    works(c, ein, eout)
    info("SET_ADDRESS(42) answered 0, not on the bus, devnum %d kept" % dev)
    c.close()


def case_reset():
    c = open_client()
    ein, eout = configure(c)
    mon = Usbmon()
    dev = int(sysread(SYSDEV + "/devnum"))
    port = int(BUSID.rsplit(".", 1)[-1].rsplit("-", 1)[-1])
    ep = "Bi:%d:%03d:%d" % (mon.bus, dev, ein)
    pend = c.submit(ein, w.DIR_IN, 512)
    if mon.find(lambda f: len(f) > 3 and f[2] == "S" and f[3] == ep) < 0:
        fail("the pending bulk IN URB never reached the bus")
    rst = c.submit(0, w.DIR_OUT, 0, b"", w.setup(0x23, 3, 4, port, 0))
    a = c.wait(pend)
    b = c.wait(rst)
    if a["cmd"] != w.RET_SUBMIT or a["status"] == 0:
        fail("pending URB answered %r" % ({k: a[k] for k in ("cmd", "status")},))
    if b["cmd"] != w.RET_SUBMIT or b["status"] != 0:
        fail("port reset answered %r" % ({k: b[k] for k in ("cmd", "status")},))
    done = mon.find(lambda f: len(f) > 3 and f[2] == "C" and f[3] == ep)
    rh = mon.find(lambda f: len(f) > 7 and f[2] == "S" and f[3] == "Co:%d:001:0" % mon.bus
                  and f[4:7] == ["s", "23", "03"] and f[7] == "0004")
    if done < 0 or rh < 0:
        fail("usbmon: URB callback at %d, root hub port reset at %d" % (done, rh))
    if done > rh:
        fail("the bulk IN URB was still queued when the port was reset "
             "(usbmon: %s | %s)" % (mon.lines[rh], mon.lines[done]))
    ein, eout = configure(c)
    works(c, ein, eout)
    if pend in c.early or rst in c.early:
        fail("a second answer for a request")
    info("pending URB answered %d before the port reset, reset answered 0" % a["status"])
    c.close()


def case_noread():
    c = open_client()
    configure(c)
    bound = param("max_bytes", 64 * MIB)
    check = MemBound(bound + 32 * MIB, "replies not read")
    n = 12000
    first = c.seq + 1
    gd = w.setup(0x80, 6, 0x0100, 0, 65535)
    sent, all_read = paced(c, lambda i: w.cmd_submit(first + i, c.devid, w.DIR_IN, 0, 65535,
                                           setup_pkt=gd), n, 16, check)
    check()
    info("%d GET_DESCRIPTOR(64 KiB) sent of %d; server memory +%d MiB (peak +%d MiB, "
         "limit %d MiB)" % (sent, n, check.used() // MIB, check.peak // MIB,
                            check.limit // MIB))
    if all_read:
        fail("usbip-host read all %d requests while their replies were not read" % n)
    # the well-behaved part: read every reply, send the rest
    c.seq = first - 1
    for i in range(n):
        c.dirs[first + i] = w.DIR_IN
    rest = b"".join(w.cmd_submit(first + i, c.devid, w.DIR_IN, 0, 65535, setup_pkt=gd)
                    for i in range(sent, n))
    got = send_and_read(c, rest, n, lambda i, m: m["cmd"] == w.RET_SUBMIT and
                        m["seq"] == first + i and m["status"] == 0 and len(m["data"]) == 18)
    if got != n:
        fail("replies read: %d of %d in order" % (got, n))
    c.seq = first + n
    info("then all %d replies read, in order, 18 bytes each" % n)
    c.close()


def case_unlink():
    c = open_client()
    configure(c)
    # Well past where the send blocks (about 7500 with the scenario's small
    # socket buffers) and past the kmalloc-32 limit below: a server that
    # read them all, or kept a record of each, fails as it did with the
    # 200000 this case first sent, which took 15 s more to read back under
    # TCG.
    n = int(os.environ.get("STUB_HOSTILE_UNLINKS", "50000"))
    first = c.seq + 1
    base_m, base_k = meminfo(), slab_objects("kmalloc-32")

    def gen():
        for j in range(0, n, 5000):
            yield b"".join(w.cmd_unlink(first + i, c.devid, 0x7fff0000 + i)
                           for i in range(j, min(n, j + 5000)))
    sent, blocked = pump(c, gen())
    if not blocked:
        settle(c, lambda: None)
    m, k = meminfo(), slab_objects("kmalloc-32")
    dk = k - base_k
    dslab = m["Slab"] - base_m["Slab"]
    info("%d of %d CMD_UNLINKs sent (%s); kmalloc-32 %+d objects, Slab %+d KiB, "
         "MemAvailable %+d KiB" % (sent // w.HDR_LEN, n, "send blocked" if blocked else "all sent",
                                   dk, dslab // 1024,
                                   (m["MemAvailable"] - base_m["MemAvailable"]) // 1024))
    if dk > 20000 or dslab > 16 * MIB:
        fail("unlink flood: kmalloc-32 %+d objects, Slab %+d KiB" % (dk, dslab // 1024))
    if not blocked:
        fail("usbip-host read all %d CMD_UNLINKs while their answers were not read" % n)
    # the rest, from the byte where the blocked send stopped
    rest = b"".join(w.cmd_unlink(first + i, c.devid, 0x7fff0000 + i)
                    for i in range(sent // w.HDR_LEN, n))[sent % w.HDR_LEN:]
    got = send_and_read(c, rest, n, lambda i, m: m["cmd"] == w.RET_UNLINK and
                        m["seq"] == first + i and m["status"] == 0)
    if got != n:
        fail("RET_UNLINKs read: %d of %d in order" % (got, n))
    c.seq = first + n
    ein, eout = configure(c)
    works(c, ein, eout)
    info("then all %d RET_UNLINK 0 read in order; the connection still works" % n)
    c.close()


def case_pinned():
    c = open_client()
    ein, eout = configure(c)
    c.s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
    bound = param("max_bytes", 64 * MIB)
    check = MemBound(bound + 32 * MIB, "pinned", c)
    first = c.seq + 1
    n = 4000
    sent, all_read = paced(c, lambda i: w.cmd_submit(first + i, c.devid, w.DIR_IN, ein, MIB),
                           n, 8, check)
    info("usbip-host stopped reading after %d 1 MiB IN URBs: memory +%d MiB (limit %d MiB)"
         % (sent, check.peak // MIB, check.limit // MIB))
    if all_read:
        fail("all %d URBs (%d MiB) read" % (n, n))
    # the client's sends block: push headers until the socket takes no more
    def gen():
        for j in range(sent, sent + 400000, 5000):
            yield b"".join(w.cmd_submit(first + i, c.devid, w.DIR_IN, ein, MIB)
                           for i in range(j, j + 5000))
    more, blocked = pump(c, gen())
    check()
    info("then the client's send blocked after %d more headers (%s): memory +%d MiB "
         "(peak +%d MiB)" % (more // w.HDR_LEN, blocked, check.used() // MIB, check.peak // MIB))
    if not blocked:
        fail("the client's send never blocked")
    abort(c)
    used = check.back(lambda: sysread(SYSDEV + "/usbip_status") == "1")
    info("after the abortive close: memory back (+%d MiB), device available" % (used // MIB))
    metric("pinned_peak_mib", check.peak // MIB, "MiB")


def fill(c, ein, check):
    """1 MiB IN URBs that never complete until usbip-host stops reading."""
    first = c.seq + 1
    sent, all_read = paced(c, lambda i: w.cmd_submit(first + i, c.devid, w.DIR_IN, ein, MIB),
                           4000, 8, check)
    if all_read:
        fail("all 4000 URBs read")
    return sent


def case_detach():
    """The rx thread waits for budget when the server detaches."""
    c = open_client()
    ein, eout = configure(c)
    check = MemBound(1 << 62, "detach")
    n = fill(c, ein, lambda: None)
    t = time.monotonic()
    with open(SYSDEV + "/usbip_sockfd", "w") as f:
        f.write("-1")
    if not c.closed(20):
        fail("usbip_sockfd -1 did not close a connection whose rx thread waits for budget")
    used = check.back(lambda: sysread(SYSDEV + "/usbip_status") == "1")
    info("%d URBs pinned, detach through usbip_sockfd closed it in %.1f s, memory back (+%d MiB)"
         % (n, time.monotonic() - t, used // MIB))
    c.close()


def case_unbind():
    """The rx thread waits for budget when the device is unbound."""
    import subprocess
    c = open_client()
    ein, eout = configure(c)
    n = fill(c, ein, lambda: None)
    t = time.monotonic()
    subprocess.run([os.environ.get("USBIP", "/usr/sbin/usbip"), "unbind", "-b", BUSID],
                   check=True, timeout=60)
    if not c.closed(20):
        fail("unbind did not close the connection")
    info("%d URBs pinned, usbip unbind took %.1f s" % (n, time.monotonic() - t))
    c.close()


def late_poller(cpu, knob, delay, res, ready):
    """Child process pinned to cpu: says so on the pipe ready, then, once
    the hook holds a completion, the first poller to see it (an O_EXCL file
    decides) unbinds the device and writes "cpu took held errno" to res."""
    os.sched_setaffinity(0, {cpu})
    os.write(ready, b"r")
    end = time.monotonic() + 60 + delay / 1000
    while sysread(knob) != "1":
        if os.path.exists(res) or time.monotonic() > end:
            os._exit(0)
        time.sleep(0.005)
    try:
        os.close(os.open(res + ".won", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        os._exit(0)
    # the unbind stops the connection's threads: keep them off the held CPU
    for pid in os.listdir("/proc"):
        try:
            with open("/proc/%s/comm" % pid) as f:
                comm = f.read().strip()
            if comm in ("%.12s-rx" % BUSID, "%.12s-tx" % BUSID):
                os.sched_setaffinity(int(pid), {cpu})
        except (OSError, ValueError):
            pass
    # the driver's own unbind file: it returns once the device is freed
    # (usbip unbind would also wait for the re-probe, on the held bus)
    t = time.monotonic()
    try:
        with open("/sys/bus/usb/drivers/usbip-host/unbind", "w") as f:
            f.write(BUSID)
        rc = 0
    except OSError as e:
        rc = e.errno
    took = time.monotonic() - t
    held = sysread(knob) == "1"
    with open(res + ".tmp", "w") as f:
        f.write("%d %.2f %d %d" % (cpu, took, held, rc))
    os.rename(res + ".tmp", res)
    os._exit(0)

LATE_TRIES = 10

def late_wait_released(knob, delay, what):
    """Waits until the hook reads 0: the held completion has returned."""
    end = time.monotonic() + 60 + delay / 1000
    while sysread(knob) != "0":
        if time.monotonic() > end:
            fail(what)
        time.sleep(0.05)

def late_try(knob, delay, res, cpus):
    """One try of case late: (held, cpu, took).  Leaves the device bound
    to usbip-host again."""
    for f in (res, res + ".won"):
        if os.path.exists(f):
            os.unlink(f)
    c = open_client()
    configure(c)
    # the pollers must sit on their CPUs before a CPU is held
    rd, wr = os.pipe()
    pids = []
    for cpu in cpus:
        pid = os.fork()
        if pid == 0:
            late_poller(cpu, knob, delay, res, wr)
        pids.append(pid)
    for _ in cpus:
        if os.read(rd, 1) != b"r":
            fail("a poller did not start")
    os.close(rd)
    os.close(wr)
    with open(knob, "w") as f:
        f.write(str(delay))
    c.submit(0, w.DIR_IN, 18, b"", w.setup(0x80, 6, 0x0100, 0, 18))
    for pid in pids:
        os.waitpid(pid, 0)
    if not os.path.exists(res):
        # no poller saw the hold: the free one may have waited, for the
        # whole hold, for a lock the held CPU's poller had (reading a
        # module parameter takes one)
        late_wait_released(knob, delay, "no poller saw a held completion, and the hook "
                           "still holds one")
        c.close()
        return False, -1, 0.0
    cpu, took, held, rc = sysread(res).split()
    cpu, took, held, rc = int(cpu), float(took), held == "1", int(rc)
    if rc:
        fail("unbinding %s from usbip-host failed: %s" % (BUSID, os.strerror(rc)))
    late_wait_released(knob, delay, "the held completion handler never returned")
    c.close()
    # usbip-host still matches the busid: bind it again
    with open("/sys/bus/usb/drivers/usbip-host/bind", "w") as f:
        f.write(BUSID)
    end = time.monotonic() + 60
    while not os.path.exists(SYSDEV + "/usbip_status") or sysread(SYSDEV + "/usbip_status") != "1":
        if time.monotonic() > end:
            fail("%s not available again after binding it back" % BUSID)
        time.sleep(0.05)
    return held, cpu, took

def case_late():
    """Unbind while an URB's completion handler still runs.  The test hook
    selftest_complete_delay_ms holds the handler (busy, in softirq) once it
    has handed its request on, and reads 1 meanwhile.  The unbind frees the
    device in that window, so from then on the handler must touch nothing
    of it (a use after free otherwise: KASAN on the debug kernel, slab
    poisoning here, see @append).  The held CPU runs nothing else, so one
    poller process per CPU, pinned, watches the hook: the one that sees the
    hold unbinds from the free CPU.  The unbind may still need the held CPU
    (a thread to stop that sits there) and then ends only after the hold:
    such a try tested nothing, so up to LATE_TRIES are made, and the case
    fails unless one freed the device inside the window."""
    knob = "/sys/module/usbip_host/parameters/selftest_complete_delay_ms"
    if not os.path.exists(knob):
        fail("usbip-host lacks the test hook selftest_complete_delay_ms (USBIP_SELFTEST)")
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        fail("case late needs two CPUs, has %r" % cpus)
    for cache in ("kmalloc-512", "kmalloc-1k"):
        poison = "/sys/kernel/slab/%s/poison" % cache
        if os.path.exists(poison) and sysread(poison) != "1":
            fail("%s is not poisoned (slub_debug, see @append): a stale use "
                 "would go unseen" % cache)
    # interrupts may be off on the held CPU: long enough for the unbind on
    # the debug kernel, far below the RCU stall report (21 s)
    delay = min(2000 * int(os.environ.get("VMTEST_TIME_SCALE", "1")), 8000)
    for n in range(1, LATE_TRIES + 1):
        held, cpu, took = late_try(knob, delay, "/tmp/late.result", cpus)
        if held:
            info("try %d: the unbind from CPU %d freed the device in %.1f s while a completion "
                 "handler was held for %d ms; the handler then returned" % (n, cpu, took, delay))
            return
        if cpu < 0:
            info("try %d: no poller saw the hold: tested nothing, again" % n)
        else:
            info("try %d: the unbind (from CPU %d) took %.1f s and ended after the hold: "
                 "tested nothing, again" % (n, cpu, took))
    fail("no try of %d unbound the device while a completion handler was held"
         % LATE_TRIES)

def metric(name, value, unit):
    print("METRIC %s=%s %s" % (name, value, unit), flush=True)
    try:
        with open("/run/vmtest/metrics", "a") as f:
            f.write("%s=%s %s\n" % (name, value, unit))
    except OSError:
        pass

CASES = dict(good=case_good, setaddr=case_setaddr, reset=case_reset, noread=case_noread,
             unlink=case_unlink, pinned=case_pinned, detach=case_detach, unbind=case_unbind,
             late=case_late)

if __name__ == "__main__":
    CASES[CASE]()
    print("CLIENT-OK " + CASE, flush=True)
