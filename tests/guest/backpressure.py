# SPDX-License-Identifier: GPL-2.0
"""What a hostile client needs to see a server's backpressure from inside
the guest: the server's memory, how much of what the client sent the server
has not read yet, and senders that push until the server stops reading.

Used by the stub-hostile and vudc-protocol scenarios with a
usbip_wire.Client `c` connected over loopback.  Failures raise
RuntimeError, which the callers report as their case's failure.
"""
import select
import socket
import struct
import threading
import time

from usbip_wire import TIME_SCALE

MIB = 1 << 20


def meminfo():
    """/proc/meminfo in bytes."""
    d = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":")
            d[k] = int(v.split()[0]) * 1024
    return d


def slab_objects(cache="kmalloc-32"):
    """Active objects of one slab cache."""
    with open("/proc/slabinfo") as f:
        for line in f:
            if line.startswith(cache + " "):
                return int(line.split()[1])
    return 0


def _queues(path):
    with open(path) as f:
        next(f)
        for line in f:
            p = line.split()
            lport, rport = int(p[1].split(":")[-1], 16), int(p[2].split(":")[-1], 16)
            tx, rx = (int(x, 16) for x in p[4].split(":"))
            yield lport, rport, tx, rx


def outstanding(c):
    """Bytes the client sent that the server has not read yet: the client
    socket's send queue plus the server socket's receive queue (loopback,
    IPv4 or IPv6)."""
    mine = c.s.getsockname()[1]
    peer = c.s.getpeername()[1]
    total = 0
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        for lport, rport, tx, rx in _queues(path):
            if lport == mine and rport == peer:
                total += tx
            elif lport == peer and rport == mine:
                total += rx
    return total


def abort(c):
    """Abortive close: an RST, as a client that goes away does."""
    c.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()


def pump(c, gen, stall=3.0):
    """Sends the byte chunks of gen without blocking until the socket
    accepts nothing for `stall` seconds.  Returns (bytes sent, blocked)."""
    s = c.s
    s.setblocking(False)
    sent, pend, last = 0, b"", time.monotonic()
    try:
        while True:
            if not pend:
                pend = next(gen, b"")
                if not pend:
                    return sent, False
            try:
                n = s.send(pend[:1 << 16])
            except BlockingIOError:
                n = 0
            if n:
                sent += n
                pend = pend[n:]
                last = time.monotonic()
            elif time.monotonic() - last > stall:
                return sent, True
            else:
                select.select([], [s], [], 0.2)
    finally:
        s.settimeout(60)


def settle(c, check, stall=3.0, secs=120):
    """Waits until the server read all that was sent (True) or stopped
    reading for `stall` seconds (False); check() runs meanwhile."""
    end = time.monotonic() + secs
    prev, last = -1, time.monotonic()
    while time.monotonic() < end:
        check()
        q = outstanding(c)
        if q == 0:
            return True
        if q != prev:
            prev, last = q, time.monotonic()
        elif time.monotonic() - last > stall:
            return False
        time.sleep(0.05)
    raise RuntimeError("the server neither read nor stopped reading within %d s" % secs)


def paced(c, make, n, per, check):
    """Sends n messages (make(i) -> bytes), `per` at a time, each batch
    once the server has read all before it.  Returns (number sent, True
    if the server read them all)."""
    i = 0
    while i < n:
        if not settle(c, check):
            return i, False
        c.send_raw(b"".join(make(j) for j in range(i, min(n, i + per))))
        i = min(n, i + per)
    return n, settle(c, check)


class MemBound:
    """Fails (RuntimeError, after abort(c) if given) once the memory the
    kernel gave out since creation exceeds `limit` bytes; keeps the peak."""

    def __init__(self, limit, what, c=None):
        self.base = meminfo()["MemAvailable"]
        self.limit, self.what, self.c, self.peak = limit, what, c, 0

    def used(self):
        return self.base - meminfo()["MemAvailable"]

    def __call__(self):
        used = self.used()
        self.peak = max(self.peak, used)
        if used > self.limit:
            if self.c:
                abort(self.c)
            raise RuntimeError("%s: server memory grew by %d MiB (limit %d MiB)"
                               % (self.what, used // MIB, self.limit // MIB))

    def back(self, cond, slack=16 * MIB, secs=60):
        """Waits until the memory is back within `slack` and cond() holds."""
        end = time.monotonic() + secs
        while time.monotonic() < end:
            used = self.used()
            if used < slack and cond():
                return used
            time.sleep(0.2)
        raise RuntimeError("%s: memory still +%d MiB after the close"
                           % (self.what, self.used() // MIB))


def send_and_read(c, rest, n, good, secs=600):
    """The well-behaved end of a flood: reads n answers in a thread, each
    checked by good(i, msg), while sending `rest` (the bytes of the flood
    the server had not taken yet).  Returns how many answers were read,
    in order, before the first bad one.  The socket timeout is `secs`
    (times VMTEST_TIME_SCALE, as every wait of the tests) for the send as a
    whole (a KASAN guest under TCG reads megabytes of commands slowly) and
    the read thread gets as long."""
    secs *= TIME_SCALE
    got = [0]

    def reader():
        for i in range(n):
            if not good(i, c.read_msg()):
                return
            got[0] = i + 1
    c.s.settimeout(secs)
    t = threading.Thread(target=reader)
    t.start()
    c.send_raw(rest)
    t.join(secs)
    c.s.settimeout(60)
    return got[0]
