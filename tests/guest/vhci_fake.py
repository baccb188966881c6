#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Fake USB/IP servers behind our vhci-hcd, for the vhci-protocol scenario.

    vhci_fake.py server CASE PORT [SPEED]
        Attaches to PORT of vhci_hcd.0 (a ::1 pair, the client end written
        to its attach file; "attach-error ERRNO" if the write fails) and
        plays CASE against the first command the hub driver sends
        (GET_DESCRIPTOR of the new device): bad input the client must drop
        the connection for (unknown_seqnum, actual_above, more_iso,
        cmd_to_client, cut), unlink_race, or hold.  Prints what it saw and
        "eof"/"no-eof" for whether the client closed the connection.
    vhci_fake.py wire CASE PORT [SECS]
        A whole device (one vendor interface, bulk IN ep 1, bulk OUT ep 2:
        usbip_wire.FakeDevice), driven from usbfs in the same process: enum,
        wrap, early_unlink, unlink_orphans, stale, unlink_unanswered,
        half_payload, hold.  Prints what it saw; "FAIL ..." lines name a
        broken rule (exit 1).

Everything on the wire goes through usbip_wire.
"""
import ctypes
import os
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import usbip_wire as w  # noqa: E402

VHCI = "/sys/devices/platform/vhci_hcd.0"
PARAM = "/sys/module/vhci_hcd/parameters/"
# the first command's answer in the server cases: a plain device
DEVDESC = w.device_desc()
# the device of the wire cases: a vendor interface with two bulk endpoints
DEV = w.device_desc(vid=0x1209, pid=0x0001, cls=0xff)
CONF = w.config_desc([(0, 0, 0xff, 0, 0, [(0x81, w.EP_BULK, 512, 0),
                                          (0x02, w.EP_BULK, 512, 0)])])
libc = ctypes.CDLL(None, use_errno=True)
USBDEVFS_CONTROL, USBDEVFS_SUBMITURB = 0xC0185500, 0x8038550A
USBDEVFS_DISCARDURB, USBDEVFS_REAPURB, USBDEVFS_CLAIMINTERFACE = 0x550B, 0x4008550C, 0x8004550F
USBDEVFS_REAPURBNDELAY = 0x4008550D
fails = []


# ---------------------------------------------------------------------------
# server CASE PORT [SPEED]
def server(case, port, speed=3):
    try:
        srv = w.FakeServer.attach(port, devid=0x10002, speed=speed, vhci=VHCI, timeout=20)
    except OSError as e:
        print("attach-error %d" % e.errno)
        return 0

    def wait_eof(secs=20):
        # the client must shut the connection down
        print("eof" if srv.closed(secs) else "no-eof")

    cmd = srv.read_cmd()
    print("first %s seq %d dir %d ep %d len %d setup %s" %
          ({w.CMD_SUBMIT: "CMD_SUBMIT", w.CMD_UNLINK: "CMD_UNLINK"}.get(cmd["cmd"], "?"),
           cmd["seq"], cmd["dir"], cmd["ep"], cmd.get("length", 0),
           cmd.get("setup", b"").hex()))
    if case == "unknown_seqnum":
        srv.ret_submit(cmd["seq"] + 1000)
        wait_eof()
    elif case == "actual_above":
        srv.ret_submit(cmd["seq"], actual=cmd["length"] + 1, data=bytes(cmd["length"] + 1))
        wait_eof()
    elif case == "more_iso":
        # one iso descriptor for a request submitted without any
        srv.ret_submit(cmd["seq"], npackets=1, data=bytes(16))
        wait_eof()
    elif case == "cmd_to_client":
        srv.send_raw(w.cmd_submit(1, 0, w.DIR_IN, 0, 0, flags=0))
        wait_eof()
    elif case == "cut":
        srv.ret_submit(cmd["seq"], actual=18)
        srv.send_raw(DEVDESC[:5])
        srv.close()
        print("eof")
    elif case == "unlink_race":
        # let the 5 s control timeout unlink the first request
        u = srv.read_cmd()
        if u["cmd"] != w.CMD_UNLINK or u["unlink_seq"] != cmd["seq"]:
            print("expected CMD_UNLINK of %d, got %r" % (cmd["seq"], u))
            return 1
        print("unlink seq %d of %d" % (u["seq"], u["unlink_seq"]))
        srv.ret_unlink(u["seq"], 0)                        # "already completed" ...
        srv.ret_submit(cmd["seq"], actual=18, data=DEVDESC)   # ... and its late RET_SUBMIT
        srv.ret_unlink(777777, -w.ECONNRESET)              # unknown seqnum: ignored
        nxt = srv.read_cmd()                               # the hub retries: still connected
        print("next %d cmd %d" % (nxt["seq"], nxt["cmd"]))
        srv.ret_submit(nxt["seq"], status=-w.EPIPE)        # stall it
        with open(VHCI + "/status") as f:
            st = [line for line in f if line.startswith("hs  %04d " % port)][0].split()
        print("status-after %s" % st[2])
        srv.close()
        print("closed")
    elif case == "hold":
        # stay attached without answering, until the module goes away
        wait_eof(120)
    else:
        print("unknown case %s" % case)
        return 1
    return 0


# ---------------------------------------------------------------------------
# wire CASE PORT [SECS]
def fail(msg):
    print("FAIL " + msg)
    fails.append(msg)


def ioctl(fd, req, arg):
    r = libc.ioctl(fd, ctypes.c_ulong(req), arg)
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


def status_line(p):
    with open(VHCI + "/status" + ("" if p < 16 else ".1")) as f:
        for line in f:
            x = line.split()
            if len(x) > 2 and x[1] == "%04d" % p:
                return x
    return None


def wait(what, secs, cond):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        r = cond()
        if r:
            return r
        time.sleep(0.1)
    raise SystemExit("FAIL timed out after %ds waiting for %s" % (secs, what))


class Device(w.FakeDevice):
    """usbip_wire's fake device; a command that does not come is a FAIL."""

    def next_cmd(self, start, secs=20):
        try:
            return super().next_cmd(start, secs)
        except RuntimeError as e:
            raise SystemExit("FAIL %s" % e)


def attach_device(p):
    srv = w.FakeServer.attach(p, speed=3)
    dev = Device(srv, DEV, CONF)
    dev.start()

    def configured():
        st = status_line(p)
        if not st or st[2] != "006" or st[6] == "0-0":
            return None
        try:
            with open("/sys/bus/usb/devices/%s/bConfigurationValue" % st[6]) as f:
                if f.read().strip() != "1":
                    return None
            with open("/sys/bus/usb/devices/%s/busnum" % st[6]) as f:
                bus = int(f.read())
            with open("/sys/bus/usb/devices/%s/devnum" % st[6]) as f:
                num = int(f.read())
        except OSError:
            return None
        path = "/dev/bus/usb/%03d/%03d" % (bus, num)
        return path if os.path.exists(path) else None
    path = wait("port %d enumerated" % p, 60, configured)
    fd = os.open(path, os.O_RDWR)
    ioctl(fd, USBDEVFS_CLAIMINTERFACE, ctypes.byref(ctypes.c_uint(0)))
    print("enumerated on %s" % path)
    return srv, dev, fd


class Urb:
    def __init__(self, ep, length):
        self.buf = ctypes.create_string_buffer(length)
        self.raw = ctypes.create_string_buffer(
            struct.pack("<BBxxiIxxxxQiiiiiIQ", 3, ep, 0, 0, ctypes.addressof(self.buf),
                        length, 0, 0, 0, 0, 0, 0), 56)

    def status(self):
        return struct.unpack_from("<i", self.raw, 4)[0]


def submit(fd, ep, length):
    u = Urb(ep, length)
    ioctl(fd, USBDEVFS_SUBMITURB, u.raw)
    return u


def discard(fd, u):
    ioctl(fd, USBDEVFS_DISCARDURB, u.raw)


def reap(fd, u, wait=True):
    p = ctypes.c_void_p()
    try:
        ioctl(fd, USBDEVFS_REAPURB if wait else USBDEVFS_REAPURBNDELAY, ctypes.byref(p))
    except BlockingIOError:
        return None
    if p.value != ctypes.addressof(u.raw):
        fail("reaped an URB that was not submitted")
    return u.status()


def get_status(fd):
    buf = ctypes.create_string_buffer(2)
    req = ctypes.create_string_buffer(struct.pack("<BBHHHI4xQ", 0x80, 0, 0, 0, 2, 5000,
                                                  ctypes.addressof(buf)), 24)
    return ioctl(fd, USBDEVFS_CONTROL, req)


def held_submit(dev, start):
    i = start
    while True:
        c = dev.next_cmd(i)
        i += 1
        if c["cmd"] == w.CMD_SUBMIT and c["ep"] != 0:
            return c, i


def detach(p):
    with open(VHCI + "/detach", "w") as f:
        f.write("%d" % p)


def param(name, value):
    with open(PARAM + name, "w") as f:
        f.write(str(value))


def wire(case, port, argv):
    fails.clear()
    if case == "enum":
        # the port works: a device enumerates, a control transfer goes through
        srv, dev, fd = attach_device(port)
        if get_status(fd) != 2:
            fail("GET_STATUS")
        os.close(fd)
        detach(port)

    elif case == "wrap":
        # an URB stays pending while the sequence numbers wrap around 2^32
        srv, dev, fd = attach_device(port)
        u = submit(fd, 0x81, 512)
        held, nxt = held_submit(dev, len(dev.cmds))
        print("pending bulk IN URB seq %d" % held["seq"])
        reused = []

        def check(c):
            if c["seq"] == 0 or (c["seq"] == held["seq"] and c is not held):
                reused.append(c["seq"])
                dev.srv.close()       # a reused number cannot be answered
                return True
            return False
        dev.on_cmd = check
        param("selftest_seqnum", 0xffffffff - 3)
        seqs = []
        try:
            for i in range(held["seq"] + 6):
                get_status(fd)
                seqs.append(dev.cmds[-1]["seq"])
        except OSError as e:
            print("control transfer failed: %s" % e)
        print("after the wrap: %s" % " ".join("%#x" % s for s in seqs))
        if reused:
            fail("CMD_SUBMIT with seqnum %d while the URB with that number is pending" % reused[0])
        else:
            dev.on_cmd = None
            discard(fd, u)
            st = reap(fd, u)
            print("pending URB given back with %d" % st)
            if any(s == 0 for s in seqs) or len(seqs) != held["seq"] + 6:
                fail("sequence numbers after the wrap: %r" % seqs)
        os.close(fd)
        if not reused:
            detach(port)

    elif case == "early_unlink":
        # RET_UNLINK sent for the CMD_UNLINK the client is about to send
        # (the numbers are predictable); the tx thread is slowed between taking
        # the CMD_UNLINK off its queue and sending it, so the answer arrives
        # in that window every time
        srv, dev, fd = attach_device(port)
        param("selftest_unlink_delay_ms", 500)
        n, early = 0, 0
        try:
            for i in range(12):
                start = len(dev.cmds)
                u = submit(fd, 0x81, 512)
                c, nxt = held_submit(dev, start)
                # DISCARDURB waits for the URB (usb_kill_urb): from another thread
                t = threading.Thread(target=discard, args=(fd, u))
                t.start()
                time.sleep(0.05)     # let the tx thread take the CMD_UNLINK
                dev.send(w.ret_unlink(c["seq"] + 1, -104))
                # the URB comes back at once if the RET_UNLINK landed in the window
                t.join(0.3)
                early += not t.is_alive()
                t.join()
                ul = dev.next_cmd(nxt)
                if ul["cmd"] != w.CMD_UNLINK or ul["seq"] != c["seq"] + 1 or \
                   ul["unlink_seq"] != c["seq"]:
                    fail("after an early RET_UNLINK the client sent cmd %d seq %#x target %#x "
                         "(expected CMD_UNLINK %#x of %#x)" % (ul["cmd"], ul["seq"],
                         ul.get("unlink_seq", 0), c["seq"] + 1, c["seq"]))
                    break
                reap(fd, u)
                n += 1
        finally:
            param("selftest_unlink_delay_ms", 0)
        print("%d rounds, %d RET_UNLINKs taken before their CMD_UNLINK was sent" % (n, early))
        if n == 12 and not early:
            fail("no RET_UNLINK arrived while its CMD_UNLINK was being sent: the case tests nothing")
        os.close(fd)
        detach(port)

    elif case == "unlink_orphans":
        # each bulk IN URB is discarded; the server answers its CMD_UNLINK with
        # the URB's RET_SUBMIT (data and status 0: it completed meanwhile) and
        # never with a RET_UNLINK.  The CMD_UNLINK records the client keeps to
        # match a later RET_UNLINK must stay bounded (counted by the kmalloc
        # alloc traces of slub_debug=U: their caller is vhci_urb_dequeue).
        N, BOUND = 300, 64
        if not os.path.isdir("/sys/kernel/debug/slab"):
            os.system("mount -t debugfs none /sys/kernel/debug")

        def live_unlinks():
            import glob
            n = 0
            for t in glob.glob("/sys/kernel/debug/slab/*kmalloc-*/alloc_traces"):
                # a KASAN kernel keeps freed objects in its quarantine, where
                # they still count as allocated; shrinking the cache empties it
                try:
                    with open("/sys/kernel/slab/%s/shrink" % t.split("/")[-2], "w") as f:
                        f.write("1")
                except OSError:
                    pass
                with open(t) as f:
                    for l in f:
                        x = l.split()
                        if len(x) > 2 and x[0].isdigit() and x[1].startswith("vhci_urb_dequeue+") \
                           and x[2] == "[vhci_hcd]":
                            n += int(x[0])
            return n
        srv, dev, fd = attach_device(port)
        base = live_unlinks()
        answered = {}

        def on_cmd(c):
            if c["cmd"] != w.CMD_UNLINK:
                return False
            h = dev.held.pop(c["unlink_seq"], None)
            if h:
                d = answered[h["seq"]] = os.urandom(h["length"])
                dev.send(w.ret_submit(h["seq"], actual=len(d), direction=h["dir"]) + d)
            return True
        dev.on_cmd = on_cmd
        ok = 0
        for i in range(N):
            start = len(dev.cmds)
            u = submit(fd, 0x81, 512)
            c, nxt = held_submit(dev, start)
            discard(fd, u)       # usb_kill_urb: back once the RET_SUBMIT is in
            st = reap(fd, u)     # a killed URB reads -ENOENT; the data is there
            if st != -2 or u.buf.raw != answered.get(c["seq"]):
                fail("round %d: URB back with status %d and %s data" %
                     (i, st, "the server's" if u.buf.raw == answered.get(c["seq"]) else "wrong"))
                break
            ok += 1
        live = live_unlinks() - base
        print("%d URBs discarded and completed with the server's data, no RET_UNLINK: "
              "%d CMD_UNLINK records live" % (ok, live))
        if live > BOUND:
            fail("%d CMD_UNLINK records kept for %d unanswered CMD_UNLINKs (bound %d)" %
                 (live, ok, BOUND))
        elif live < 1:
            fail("no CMD_UNLINK record seen in the alloc traces: the case tests nothing")
        st = status_line(port)
        if not st or st[2] != "006":
            fail("port %d not in use after the rounds: %r" % (port, st))
        elif get_status(fd) != 2:
            fail("GET_STATUS after the rounds")
        os.close(fd)
        detach(port)
        wait("port %d free" % port, 20, lambda: status_line(port)[2] == "004")
        wait("records freed on detach", 20, lambda: (live_unlinks() - base <= 0) or None)
        print("records freed on detach")

    elif case == "stale":
        # A device's driver submits after its port was detached and a second
        # server attached to the same port, before the hub driver has seen
        # either change (selftest_hub_hold keeps the root hubs quiet, as a busy
        # hub_wq would): the request must fail, and never reach the second
        # server as if its device had sent it.
        srv, dev, fd = attach_device(port)
        old_dev = "/sys/bus/usb/devices/" + status_line(port)[6]
        param("selftest_hub_hold", 1)
        try:
            detach(port)
            wait("port %d free" % port, 20, lambda: status_line(port)[2] == "004")
            srv2 = w.FakeServer.attach(port, speed=3)
            dev2 = Device(srv2, DEV, CONF)
            dev2.start()
            wait("port %d in use" % port, 20, lambda: status_line(port)[2] == "006")
            try:
                get_status(fd)
                print("the detached device's GET_STATUS was answered")
            except OSError as e:
                print("the detached device's GET_STATUS failed: %s" % e)
            if not os.path.exists(old_dev):
                fail("the hub driver had disconnected the old device already: the case tests nothing")
            time.sleep(0.5)      # negative check: what the second server got
            with dev2.cv:
                got = list(dev2.cmds)
            if got:
                fail("a request of the detached device reached the server attached after it: "
                     "cmd %d ep %d setup %s" % (got[0]["cmd"], got[0]["ep"],
                                                got[0].get("setup", b"").hex()))
        finally:
            param("selftest_hub_hold", 0)
        os.close(fd)
        # the hub driver now sees the change: the second device enumerates
        def enumerated():
            st = status_line(port)
            with dev2.cv:
                seen = any(c["cmd"] == w.CMD_SUBMIT for c in dev2.cmds)
            return st and st[6] != "0-0" and seen
        wait("port %d: the second device enumerated" % port, 60, enumerated)
        print("the second device enumerated once the hub saw the change")
        detach(port)

    elif case == "unlink_unanswered":
        # the hub's 5 s control timeout unlinks the first request; the server
        # never answers the CMD_UNLINK
        srv = w.FakeServer.attach(port, speed=3, timeout=30)
        c = srv.read_cmd()
        u = srv.read_cmd()
        t0 = time.monotonic()
        print("CMD_UNLINK %d of %d, not answered" % (u["seq"], u["unlink_seq"]))
        if srv.closed(float(argv[4])):
            print("eof after %.1f s" % (time.monotonic() - t0))
        else:
            print("no-eof")

    elif case == "half_payload":
        # RET_SUBMIT of the first IN request with half of its payload, then silence
        srv = w.FakeServer.attach(port, speed=3, timeout=30)
        c = srv.read_cmd()
        t0 = time.monotonic()
        srv.ret_submit(c["seq"], actual=18, data=DEV[:9], direction=1)
        print("RET_SUBMIT %d with 9 of 18 bytes" % c["seq"])
        if srv.closed(float(argv[4])):
            print("eof after %.1f s" % (time.monotonic() - t0))
        else:
            print("no-eof")

    elif case == "hold":
        srv = w.FakeServer.attach(port, speed=3, vhci=VHCI)
        print("attached", flush=True)
        srv.closed(120)

    else:
        print("unknown case %s" % case)
        return 1
    return 1 if fails else 0


def main(argv):
    mode, case, port = argv[1], argv[2], int(argv[3])
    if mode == "server":
        return server(case, port, int(argv[4]) if len(argv) > 4 else 3)
    if mode == "wire":
        return wire(case, port, argv)
    print("usage: vhci_fake.py server|wire CASE PORT [ARG]")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
