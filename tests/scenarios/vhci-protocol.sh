# SPDX-License-Identifier: GPL-2.0
# @desc: our vhci-hcd against a fake USB/IP server: sysfs errors, 32x15 ports, bad server input drops the connection with one clear line, unlink races are not errors, seqnum wrap, early RET_UNLINK, bounded CMD_UNLINK records, a detached device's requests kept from the next server on its port, bounded unlink wait, detach vs unbind, unload with a device attached
# @kernels: 6.1
# @vms: 1
# @modules: ours
# @timeout: 1200
# @append: slub_debug=FZPU
#
# A Python "server" on [::1] is attached to a vhci port by writing its
# client socket to the attach file, then plays one case against the first
# CMD_SUBMIT the hub driver sends (GET_DESCRIPTOR of the new device).  Bad
# input must end the connection with the expected reason in the kernel
# log and free the port; an unlink answered by RET_UNLINK 0 followed by a
# late RET_SUBMIT, and a RET_UNLINK for an unknown seqnum, must not.

VHCI=/sys/devices/platform/vhci_hcd.0

fake_server() {
	python3 - "$@" <<'PY'
import socket, struct, sys, time

case, port = sys.argv[1], int(sys.argv[2])
speed = int(sys.argv[3]) if len(sys.argv) > 3 else 3
DEVDESC = bytes([18, 1, 0, 2, 0, 0, 0, 64, 0x6b, 0x1d, 4, 1, 0, 1, 0, 0, 0, 1])

ls = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
ls.bind(("::1", 0))
ls.listen(1)
c = socket.create_connection(("::1", ls.getsockname()[1]))
try:
    with open("/sys/devices/platform/vhci_hcd.0/attach", "w") as f:
        f.write("%d %d %d %d" % (port, c.fileno(), 0x10002, speed))
except OSError as e:
    print("attach-error %d" % e.errno)
    sys.exit(0)
s, _ = ls.accept()
c.close()
s.settimeout(20)

def recv_exact(n):
    b = b""
    while len(b) < n:
        chunk = s.recv(n - len(b))
        if not chunk:
            raise EOFError
        b += chunk
    return b

def read_cmd():
    h = recv_exact(48)
    cmd, seq, devid, direction, ep = struct.unpack(">5I", h[:20])
    d = dict(cmd=cmd, seq=seq, dir=direction, ep=ep)
    if cmd == 1:
        flags, buflen, start, np, interval = struct.unpack(">Ii3i", h[20:40])
        d.update(buflen=buflen, np=np, setup=h[40:48])
        if direction == 0 and buflen > 0:
            recv_exact(buflen)
        if np > 0 and np != 0xffffffff:
            recv_exact(16 * np)
    elif cmd == 2:
        d["target"] = struct.unpack(">I", h[20:24])[0]
    return d

def ret_submit(seq, status=0, actual=0, np=0, data=b"", direction=0):
    s.sendall(struct.pack(">5I5i", 3, seq, 0, direction, 0, status, actual, 0, np, 0) +
              bytes(8) + data)

def ret_unlink(seq, status):
    s.sendall(struct.pack(">5Ii", 4, seq, 0, 0, 0, status) + bytes(24))

def wait_eof(secs=20):
    # the client must shut the connection down
    end = time.time() + secs
    while time.time() < end:
        try:
            if not s.recv(65536):
                print("eof")
                return
        except socket.timeout:
            continue
    print("no-eof")

cmd = read_cmd()
print("first %s seq %d dir %d ep %d len %d setup %s" %
      ({1: "CMD_SUBMIT", 2: "CMD_UNLINK"}.get(cmd["cmd"], "?"), cmd["seq"], cmd["dir"],
       cmd["ep"], cmd.get("buflen", 0), cmd.get("setup", b"").hex()))
if case == "unknown_seqnum":
    ret_submit(cmd["seq"] + 1000)
    wait_eof()
elif case == "actual_above":
    ret_submit(cmd["seq"], actual=cmd["buflen"] + 1, data=bytes(cmd["buflen"] + 1))
    wait_eof()
elif case == "more_iso":
    ret_submit(cmd["seq"], np=1, data=bytes(16))
    wait_eof()
elif case == "cmd_to_client":
    s.sendall(struct.pack(">5I5i", 1, 1, 0, 1, 0, 0, 0, 0, 0, 0) + bytes(8))
    wait_eof()
elif case == "cut":
    ret_submit(cmd["seq"], actual=18)
    s.sendall(DEVDESC[:5])
    s.close()
    print("eof")
elif case == "unlink_race":
    # let the 5 s control timeout unlink the first request
    u = read_cmd()
    if u["cmd"] != 2 or u["target"] != cmd["seq"]:
        print("expected CMD_UNLINK of %d, got %r" % (cmd["seq"], u))
        sys.exit(1)
    print("unlink seq %d of %d" % (u["seq"], u["target"]))
    ret_unlink(u["seq"], 0)                   # "already completed" ...
    ret_submit(cmd["seq"], actual=18, data=DEVDESC)   # ... and its late RET_SUBMIT
    ret_unlink(777777, -104)                  # unknown seqnum: ignored
    nxt = read_cmd()                          # the hub retries: still connected
    print("next %d cmd %d" % (nxt["seq"], nxt["cmd"]))
    ret_submit(nxt["seq"], status=-32)        # stall it
    with open("/sys/devices/platform/vhci_hcd.0/status") as f:
        st = [l for l in f if l.startswith("hs  %04d " % port)][0].split()
    print("status-after %s" % st[2])
    s.close()
    print("closed")
elif case == "hold":
    # stay attached without answering, until the module goes away
    wait_eof(120)
PY
}

# wire_case CASE PORT: a fake server built on tests/guest/usbip_wire.py that
# can also play a whole device (one vendor interface, bulk IN ep 1, bulk
# OUT ep 2), driven from usbfs in the same process.  Prints what it saw;
# "FAIL ..." lines name a broken rule.
wire_case() {
	python3 - "$@" <<'PY'
import ctypes, os, socket, struct, sys, threading, time
sys.path.insert(0, os.environ["REPO"] + "/tests/guest")
import usbip_wire as w

case, port = sys.argv[1], int(sys.argv[2])
VHCI = "/sys/devices/platform/vhci_hcd.0"
PARAM = "/sys/module/vhci_hcd/parameters/"
DEV = bytes([18, 1, 0, 2, 0xff, 0, 0, 64, 0x09, 0x12, 0x01, 0x00, 0, 1, 0, 0, 0, 1])
CONF = bytes([9, 2, 32, 0, 1, 1, 0, 0x80, 50,
              9, 4, 0, 0, 2, 0xff, 0, 0, 0,
              7, 5, 0x81, 2, 0, 2, 0,
              7, 5, 0x02, 2, 0, 2, 0])
libc = ctypes.CDLL(None, use_errno=True)
USBDEVFS_CONTROL, USBDEVFS_SUBMITURB = 0xC0185500, 0x8038550A
USBDEVFS_DISCARDURB, USBDEVFS_REAPURB, USBDEVFS_CLAIMINTERFACE = 0x550B, 0x4008550C, 0x8004550F
USBDEVFS_REAPURBNDELAY = 0x4008550D
fails = []

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
        for l in f:
            x = l.split()
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

class Device(threading.Thread):
    """Serves ep0 like a plain device; keeps bulk URBs pending ("held")
    until unlinked; on_cmd(c) may take a command over (returns True)."""
    def __init__(self, srv):
        super().__init__(daemon=True)
        self.srv, self.cmds, self.held, self.on_cmd = srv, [], {}, None
        self.lock, self.cv, self.eof = threading.Lock(), threading.Condition(), False

    def send(self, data):
        with self.lock:
            self.srv.send_raw(data)

    def ctrl(self, c):
        rt, req, val, idx, ln = struct.unpack("<BBHHH", c["setup"])
        d = None
        if rt == 0x80 and req == 6:
            d = {1: DEV, 2: CONF}.get(val >> 8)
        elif rt == 0x80 and req == 0:
            d = b"\1\0"
        elif not rt & 0x80:
            d = b""
        if d is None:
            self.send(w.ret_submit(c["seq"], status=-32))
        else:
            d = d[:ln]
            self.send(w.ret_submit(c["seq"], actual=len(d), direction=c["dir"]) + d)

    def run(self):
        try:
            while True:
                c = self.srv.read_cmd()
                with self.cv:
                    self.cmds.append(c)
                    self.cv.notify_all()
                if self.on_cmd and self.on_cmd(c):
                    continue
                if c["cmd"] == w.CMD_SUBMIT and c["ep"] == 0:
                    self.ctrl(c)
                elif c["cmd"] == w.CMD_SUBMIT:
                    self.held[c["seq"]] = c
                elif c["cmd"] == w.CMD_UNLINK:
                    gone = self.held.pop(c["unlink_seq"], None)
                    self.send(w.ret_unlink(c["seq"], -104 if gone else 0))
        except (EOFError, OSError, ValueError):
            pass
        with self.cv:
            self.eof = True
            self.cv.notify_all()

    def next_cmd(self, start, secs=20):
        """The first command received at index >= start."""
        with self.cv:
            if not self.cv.wait_for(lambda: len(self.cmds) > start or self.eof, secs) or \
               len(self.cmds) <= start:
                raise SystemExit("FAIL no command from the client (eof %s)" % self.eof)
            return self.cmds[start]

def attach_device(p):
    srv = w.FakeServer.attach(p, speed=3)
    dev = Device(srv)
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
    left = wait("records freed on detach", 20, lambda: (live_unlinks() - base <= 0) or None)
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
        dev2 = Device(srv2)
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
    if srv.closed(float(sys.argv[3])):
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
    if srv.closed(float(sys.argv[3])):
        print("eof after %.1f s" % (time.monotonic() - t0))
    else:
        print("no-eof")

elif case == "hold":
    srv = w.FakeServer.attach(port, speed=3, vhci=VHCI)
    print("attached", flush=True)
    srv.closed(120)

sys.exit(1 if fails else 0)
PY
}

# wire_expect CASE PORT REASON SECS: CASE must end with the connection
# dropped for REASON within SECS, one log line, the port free and usable.
wire_expect() {
	local out mark="case $1 port $2"
	dmesg_mark "$mark"
	out=$(wire_case "$1" "$2" "$4" 2>&1) || true
	echo "$out" | sed 's/^/    server| /'
	if ! echo "$out" | grep -q '^eof after'; then
		case_fail "$1: the client did not drop the connection within $4 s"
		# what a user had to do (unless the server's exit closed it)
		echo "$2" 2>/dev/null >$VHCI/detach || true
	fi
	wait_for "port $2 free after $1" 20 sh -c "[ \"\$(cat $VHCI/status* | awk '\$2 == \"$(printf %04d "$2")\" { print \$3 }')\" = 004 ]"
	dmesg | sed -n "/vmtest-mark: $mark\$/,\$p" | grep 'connection closed' | sed 's/^/    dmesg| /'
	dmesg | sed -n "/vmtest-mark: $mark\$/,\$p" | grep -q "vhci port $2: connection closed: $3" ||
		case_fail "$1: no '$3' line in the kernel log"
	[ "$(dmesg | sed -n "/vmtest-mark: $mark\$/,\$p" | grep -c 'connection closed')" -eq 1 ] ||
		case_fail "$1: not exactly one connection-closed line"
	wire_enum "$2" "$1"
}

# wire_enum PORT AFTER: a device on PORT enumerates and answers (the port is usable).
wire_enum() {
	local out
	out=$(wire_case enum "$1" 2>&1) || case_fail "port $1 unusable after $2: $out"
	echo "$out" | sed 's/^/    enum| /'
	wait_for "port $1 free after the enumeration check" 20 sh -c "[ \"\$(cat $VHCI/status* | awk '\$2 == \"$(printf %04d "$1")\" { print \$3 }')\" = 004 ]"
}

CASE_FAILS=
case_fail() {
	echo "CASE-FAIL: $*"
	CASE_FAILS="$CASE_FAILS
$*"
}

# port_state PORT: the status column of PORT in the status file.
port_state() {
	awk -v p="$(printf %04d "$1")" '$2 == p { print $3 }' "$VHCI/status"
}

# expect_drop CASE REASON [PORT SPEED]: runs CASE (default: port 0, high
# speed) and checks the outcome.
expect_drop() {
	local out p=${3:-0} sp=${4:-3} mark="case $1 port ${3:-0}"
	dmesg_mark "$mark"
	out=$(fake_server "$1" "$p" "$sp")
	echo "$out" | sed 's/^/    server| /'
	echo "$out" | grep -qx eof || die "$1: the client did not close the connection"
	wait_for "port $p free after $1" 20 sh -c "[ \"\$(awk '\$2 == \"$(printf %04d "$p")\" { print \$3 }' $VHCI/status)\" = 004 ]"
	dmesg | sed -n "/vmtest-mark: $mark\$/,\$p" | grep -q "vhci port $p: connection closed: $2" ||
		die "$1: no '$2' line in the kernel log"
	[ "$(dmesg | sed -n "/vmtest-mark: $mark\$/,\$p" | grep -c 'connection closed')" -eq 1 ] ||
		die "$1: more than one connection-closed line"
	info "$1 (port $p, speed $sp): connection dropped with '$2', port free again"
}

# wire_check CASE OK: runs wire_case CASE on port 0; says OK if it passed,
# records a case failure with its first FAIL line if not; shows the fake
# server's lines and waits until the port is free again.
wire_check() {
	local out
	if out=$(wire_case "$1" 0 2>&1); then
		info "$2"
	else
		case_fail "$1: $(echo "$out" | grep FAIL | head -n 1)"
	fi
	echo "$out" | sed 's/^/    server| /'
	wait_for "port 0 free after $1" 20 sh -c "[ \"\$(awk '\$2 == \"0000\" { print \$3 }' $VHCI/status)\" = 004 ]"
}

vm1() {
	local out

	step "32 controllers x 15 ports load and unload"
	dmesg_mark "case 32x15"
	run modprobe vhci-hcd num_controllers=32 nports=15
	# Linux has 63 USB bus numbers and a controller takes two: the
	# controllers that fit are kept, and every sysfs view agrees on them
	out=$(ls -d /sys/devices/platform/vhci_hcd.* | wc -l)
	info "$out controllers, nports $(cat $VHCI/nports), $(ls -d /sys/bus/usb/devices/usb* | wc -l) root hubs"
	[ "$out" -ge 31 ] || die "only $out controllers"
	[ "$(cat /sys/module/vhci_hcd/parameters/num_controllers)" -eq "$out" ] ||
		die "num_controllers reads $(cat /sys/module/vhci_hcd/parameters/num_controllers), $out controllers"
	[ "$(cat $VHCI/nports)" -eq $((out * 30)) ] || die "nports is $(cat $VHCI/nports), expected $((out * 30))"
	[ "$(ls $VHCI/status* | wc -l)" -eq "$out" ] || die "$(ls $VHCI/status* | wc -l) status files"
	[ "$(cat $VHCI/status* | grep -cE '^(hs|ss)  [0-9]{4} 004 ')" -eq $((out * 30)) ] ||
		die "not $((out * 30)) free port lines in the status files"
	[ "$(ls -d /sys/devices/platform/vhci_hcd.*/usb[0-9]* | wc -l)" -eq $((out * 2)) ] ||
		die "not two root hubs per controller"
	grep -q "^ss  $(printf %04d $((out * 30 - 1))) 004" "$VHCI/status.$((out - 1))" ||
		die "port $((out * 30 - 1)) is not the last USB 3 port of vhci_hcd.$((out - 1))"
	if [ "$out" -lt 32 ]; then
		[ "$(dmesg | sed -n '/vmtest-mark: case 32x15$/,$p' | grep -c "vhci-hcd: only $out of 32 controllers registered")" -eq 1 ] ||
			die "no single line saying $out of 32 controllers are registered"
	fi
	"$USBIP" port >/dev/null || die "Debian's usbip port fails on $out controllers"
	run modprobe -r vhci-hcd
	[ ! -d /sys/module/vhci_hcd ] || die "vhci_hcd still loaded"

	step "default load: sysfs errors"
	run modprobe vhci-hcd nports=8 num_controllers=2
	[ "$(cat $VHCI/nports)" -eq 32 ] || die "nports is $(cat $VHCI/nports)"
	! echo 3 >$VHCI/detach 2>/dev/null || die "detach of a free port succeeded"
	! echo 99 >$VHCI/detach 2>/dev/null || die "detach of port 99 succeeded"
	! echo "0 0 1 3" >$VHCI/attach 2>/dev/null || die "attach of a non-socket fd succeeded"
	out=$(fake_server hold 0 5)
	[ "$out" = "attach-error 22" ] || die "super-speed device on a USB 2.0 port: $out"
	out=$(fake_server hold 8 3)
	[ "$out" = "attach-error 22" ] || die "high-speed device on a USB 3 port: $out"
	info "errors as expected"

	step "bad input from the server: one clear line, connection dropped, port free"
	expect_drop unknown_seqnum "RET_SUBMIT for unknown seqnum"
	expect_drop actual_above "actual_length above the buffer"
	expect_drop more_iso "more iso packets than submitted"
	expect_drop cmd_to_client "CMD_\* sent to the client"
	expect_drop cut "stream cut mid-payload"
	# a super-speed device on the first USB 3 port gets reset and enumerated too
	expect_drop unknown_seqnum "RET_SUBMIT for unknown seqnum" 8 5

	step "unlink races: RET_UNLINK 0 then a late RET_SUBMIT, and an unknown RET_UNLINK, are not errors"
	dmesg_mark "case unlink_race"
	out=$(fake_server unlink_race 0)
	echo "$out" | sed 's/^/    server| /'
	echo "$out" | grep -q '^status-after 006$' || die "the port did not stay attached"
	echo "$out" | grep -qx closed || die "unlink_race did not finish"
	wait_for "port 0 free after the server closed" 20 sh -c "[ \"\$(awk '\$2 == \"0000\" { print \$3 }' $VHCI/status)\" = 004 ]"
	dmesg | sed -n '/vmtest-mark: case unlink_race$/,$p' | grep 'connection closed' | sed 's/^/    dmesg| /'
	[ "$(dmesg | sed -n '/vmtest-mark: case unlink_race$/,$p' | grep -c 'connection closed')" -eq 1 ] ||
		die "unexpected connection-closed lines"
	dmesg | sed -n '/vmtest-mark: case unlink_race$/,$p' | grep -q 'connection closed: server closed the connection' ||
		die "the connection ended for another reason than the server closing it"

	step "seqnum wrap: no new command takes the number of a pending URB (issue 10, defect 5)"
	dmesg_mark "case wrap"
	wire_check wrap "no number reused across the wrap"
	wire_enum 0 wrap

	step "RET_UNLINK arriving while the tx thread sends its CMD_UNLINK (issue 10, defect 4)"
	dmesg_mark "case early_unlink"
	wire_check early_unlink "every CMD_UNLINK sent intact"
	wire_enum 0 early_unlink

	step "a server that answers CMD_UNLINKs with RET_SUBMITs only: the records of the CMD_UNLINKs stay bounded"
	dmesg_mark "case unlink_orphans"
	wire_check unlink_orphans "CMD_UNLINK records bounded"
	[ "$(dmesg | sed -n '/vmtest-mark: case unlink_orphans$/,$p' | grep -c 'connection closed')" -le 1 ] ||
		case_fail "unlink_orphans: more than one connection-closed line"
	wire_enum 0 unlink_orphans

	step "a detached device's requests never reach the next server on its port"
	dmesg_mark "case stale"
	wire_check stale "the detached device's request failed; the second server saw only its own device"
	wire_enum 0 stale

	step "a server that stops answering: the wait for an unlinked URB is bounded (issue 10, defect 11)"
	bound=$(cat /sys/module/vhci_hcd/parameters/unlink_timeout 2>/dev/null || echo 10)
	# the hub unlinks its request after 5 s; then the bound, plus slack
	wire_expect unlink_unanswered 0 "unlinked URB not given back in time" $((bound + 8))
	wire_expect half_payload 0 "unlinked URB not given back in time" $((bound + 5 + 8))

	step "detach racing with the unbinding of its controller (issue 10, defect 9)"
	dmesg_mark "case detach_unbind"
	hits=0
	for i in 1 2 3 4 5 6; do
		# every other round, the detach write waits between requesting the
		# detach and waiting for it, so the controller goes away meanwhile
		# (5 s, scaled: a KASAN kernel on a loaded host took more than 3 s
		# to unbind, and the window was missed)
		echo $(((i % 2) * 5000 * ${VMTEST_TIME_SCALE:-1})) >/sys/module/vhci_hcd/parameters/selftest_detach_delay_ms
		wire_case hold 16 >/tmp/hold16.out 2>&1 &
		hp=$!
		wait_for "port 16 in use" 20 sh -c "[ \"\$(awk '\$2 == \"0016\" { print \$3 }' $VHCI/status.1)\" = 006 ]"
		sh -c "echo 16 >$VHCI/detach" 2>/dev/null &
		dp=$!
		if [ $((i % 2)) -eq 1 ]; then
			# the detach is done, its writer still in the window
			wait_for "port 16 detached" 20 sh -c "[ \"\$(awk '\$2 == \"0016\" { print \$3 }' $VHCI/status.1)\" = 004 ]"
		fi
		echo vhci_hcd.1 >/sys/bus/platform/drivers/vhci_hcd/unbind
		if [ $((i % 2)) -eq 1 ]; then
			# the controller is gone while the detach write is not done
			! kill -0 $dp 2>/dev/null || hits=$((hits + 1))
			wait $dp || case_fail "detach_unbind: the detach write failed"
		else
			wait $dp || true	# EINVAL if the unbind came first
		fi
		echo vhci_hcd.1 >/sys/bus/platform/drivers/vhci_hcd/bind
		wait $hp || true
	done
	echo 0 >/sys/module/vhci_hcd/parameters/selftest_detach_delay_ms
	dmesg_check || case_fail "detach_unbind: kernel warnings"
	wire_enum 16 detach_unbind
	info "6 detach/unbind/bind rounds, $hits of 3 with the controller removed under a waiting detach"
	[ "$hits" -ge 1 ] || case_fail "detach_unbind: the unbind never finished while a detach write waited"

	[ -z "$CASE_FAILS" ] || die "cases failed:$CASE_FAILS"

	step "port in use: a second attach gets EBUSY"
	fake_server hold 1 >/tmp/hold.out &
	wait_for "port 1 in use" 20 sh -c "[ \"\$(awk '\$2 == \"0001\" { print \$3 }' $VHCI/status)\" = 006 ]"
	out=$(fake_server hold 1)
	[ "$out" = "attach-error 16" ] || die "attach to a used port: $out"
	info "EBUSY"

	step "unload with a device attached"
	run modprobe -r vhci-hcd
	[ ! -d /sys/module/vhci_hcd ] || die "vhci_hcd still loaded"
	wait
	grep -qx eof /tmp/hold.out || die "the held connection was not closed on unload"
	info "connection closed on unload"
	dmesg_check || die "kernel warnings"
}
