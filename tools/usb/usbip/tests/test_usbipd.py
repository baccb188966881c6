# SPDX-License-Identifier: GPL-2.0
"""usbipd against a fake sysfs tree on 127.0.0.1: byte-exact DEVLIST and
IMPORT answers, busy/unknown/error devices, malformed and malicious clients
(each costing exactly one log line), many connections, SIGTERM; sessions
(usbip_ext.rst): the import's token and parameters, the line written to
usbip_sockfd, OP_REQ_RESUME answered or refused (the driver's refusals
come from the ebusy_preload.so helper), usbip_net_resume() through the
resume_client helper.  TAP output.  Python 3 standard library only."""

import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakesysfs  # noqa: E402
import usbiptest  # noqa: E402

from usbiptest import (REP_DEVLIST, REP_IMPORT, REP_RESUME, REQ_DEVLIST,  # noqa: E402
                       REQ_IMPORT, REQ_RESUME, ST_BUSY, ST_DEV_ERR, ST_NA, ST_NODEV, ST_OK,
                       VERSION, connect, devlist_req, free_port, import_req, recv_all,
                       request)

TIMEOUT_MS = 2000

tap = fakesysfs.Tap()
usbipd, = usbiptest.programs("USBIPD_BIN")
usbip = os.environ.get("USBIP_BIN")
srcdir = os.environ.get("top_srcdir", os.path.join(os.path.dirname(__file__), ".."))
preload = os.environ.get("EBUSY_PRELOAD", "")
resume_client = os.environ.get("RESUME_CLIENT", "")

tmp, root = usbiptest.scratch("usbipd-test.")
pidfile = os.path.join(tmp, "usbipd.pid")
logpath = os.path.join(tmp, "usbipd.log")


def closed_quietly(s):
    """True when the peer closed without sending anything."""
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True


def log_lines():
    with open(logpath, errors="replace") as f:
        return f.read().splitlines()


def new_log_lines(before, settle=0.3):
    """Log lines written since the log had `before` lines."""
    time.sleep(settle)
    return log_lines()[before:]


def one_line(before, pattern, what, wait=3.0):
    """Checks that exactly one new log line appeared and that it matches."""
    end = time.time() + wait
    lines = []
    while time.time() < end:
        lines = log_lines()[before:]
        if lines:
            break
        time.sleep(0.05)
    time.sleep(0.3)
    lines = log_lines()[before:]
    tap.check(len(lines) == 1 and re.search(pattern, lines[0]) is not None,
              "%s: exactly one log line matching /%s/" % (what, pattern), "\n".join(lines))


SESSION = 1
# Every token seen on the wire or in usbip_sockfd; none may reach the log.
tokens = set()


def hello_field(busid, version=1, caps=SESSION, window=0, flags=0):
    """A 32-byte bus id field with the extension hello in its tail."""
    return busid.encode().ljust(20, b"\0") + b"UIPX" + bytes([version, flags]) + \
        struct.pack(">HI", window, caps)


def import_hello(busid, **kw):
    return struct.pack(">HHI", VERSION, REQ_IMPORT, 0) + hello_field(busid, **kw)


def resume_req(busid, token, hello=True, **kw):
    """OP_REQ_RESUME: op header, bus id field (with a hello), token."""
    field = hello_field(busid, **kw) if hello else busid.encode().ljust(32, b"\0")
    return struct.pack(">HHI", VERSION, REQ_RESUME, 0) + field + token


def answered_record(busid, version=1, window=0, caps=0, vudc=False):
    """The device record whose bus id tail carries an answer."""
    rec = bytearray(fakesysfs.vudc_record(busid) if vudc else
                    fakesysfs.device_record(busid, False))
    rec[256 + 20:256 + 32] = b"UIPX" + bytes([version, 1]) + struct.pack(">HI", window, caps)
    return bytes(rec)


def block_fields(blk):
    """The fields of a 48-byte extension block as a dict."""
    magic, version, flags, length, caps = struct.unpack(">4sBBHI", blk[:12])
    window, heartbeat, journal = struct.unpack(">III", blk[28:40])
    return dict(magic=magic, version=version, flags=flags, length=length, caps=caps,
                token=blk[12:28], window=window, heartbeat=heartbeat, journal=journal,
                reserved=blk[40:48])


def sockfd_path(busid, vudc=False):
    return os.path.join(root, fakesysfs.vudc_dir(busid) if vudc else fakesysfs.dev_dir(busid),
                        "usbip_sockfd")


def sockfd_text(busid, vudc=False):
    """What usbipd wrote to the device's usbip_sockfd (and empties it)."""
    path = sockfd_path(busid, vudc)
    text = usbiptest.read_file(path)
    open(path, "w").close()
    return text


def start(port, extra=(), env_extra=None):
    """Starts usbipd on `port` and waits until it is done starting: it
    accepts connections as soon as it listens, but writes its pid file and
    its "listening on" line only after that."""
    env = dict(os.environ, USBIP_SYSFS_ROOT=root, USBIPD_TIMEOUT_MS=str(TIMEOUT_MS))
    env.update(env_extra or {})
    p = usbiptest.start_usbipd([usbipd, "-t", str(port), "-P", pidfile] + list(extra), port,
                               env, logpath)
    end = time.time() + 10
    while time.time() < end and p.poll() is None and \
            not any("listening on TCP port %d " % port in ln for ln in log_lines()):
        time.sleep(0.02)
    return p


def main():
    port = free_port()
    proc = start(port)
    if not tap.check(proc.poll() is None, "usbipd starts and listens on 127.0.0.1:%d" % port,
                     "\n".join(log_lines())):
        tap.done()
    try:
        run_tests(port, proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        tap.diag("usbipd log:\n" + "\n".join(log_lines()))
        shutil.rmtree(tmp, ignore_errors=True)
    tap.done()


def run_tests(port, proc):
    try:
        with open(pidfile) as f:
            text = f.read()
    except OSError as e:
        text = str(e)
    tap.check(text == "%d\n" % proc.pid, "pid file holds the daemon's pid", repr(text))

    # DEVLIST: 1-1 and 1-10 are available; 1-2 (in use) and 1-3 (error)
    # are hidden; 2-1 and the hubs are not bound to usbip-host.
    want = struct.pack(">HHII", VERSION, REP_DEVLIST, ST_OK, 2)
    want += fakesysfs.device_record("1-1") + fakesysfs.device_record("1-10")
    before = len(log_lines())
    got = request(port, devlist_req())
    tap.check(got == want, "DEVLIST reply is byte-exact (%d bytes, 2 available devices)" % len(want),
              "got  %s\nwant %s" % (got.hex(), want.hex()))
    tap.check(new_log_lines(before) == [], "DEVLIST logs nothing")

    s = connect(port, socket.AF_INET6, "::1") if socket.has_ipv6 else None
    if s:
        s.sendall(devlist_req())
        tap.check(recv_all(s) == want, "DEVLIST over IPv6 (::1) is the same")
        s.close()

    # SO_KEEPALIVE on accepted connections shows as a keepalive timer.
    if shutil.which("ss"):
        s = connect(port)
        time.sleep(0.2)
        r = subprocess.run(["ss", "-Htno", "state", "established", "sport = :%d" % port],
                           capture_output=True, text=True)
        s.close()
        tap.check("keepalive" in r.stdout, "accepted connections have SO_KEEPALIVE", r.stdout)
    else:
        tap.skip("ss not installed")

    # IMPORT of an available device: OP_REP_IMPORT OK + the record, the
    # socket's fd number written to usbip_sockfd, then usbipd lets go.
    sockfd = os.path.join(root, fakesysfs.dev_dir("1-1"), "usbip_sockfd")
    open(sockfd, "w").close()
    got = request(port, import_req(b"1-1"))
    want = struct.pack(">HHI", VERSION, REP_IMPORT, ST_OK) + fakesysfs.device_record("1-1", False)
    tap.check(got == want, "IMPORT 1-1: status 0 and the 312-byte record, byte-exact",
              "got  %s\nwant %s" % (got.hex(), want.hex()))
    with open(sockfd) as f:
        text = f.read()
    tap.check(re.fullmatch(r"[0-9]+", text) is not None and int(text) > 2,
              "IMPORT 1-1: a socket fd number was written to usbip_sockfd", repr(text))

    # IMPORT with the extension hello (Documentation/usb/usbip_ext.rst):
    # the answer in the record's bus id tail (the version both speak, no
    # capability), then a 48-byte extension block with nothing granted.
    def hello(version=1, caps=0xffffffff, window=30, magic=b"UIPX", flags=0):
        return b"1-1".ljust(20, b"\0") + magic + bytes([version, flags]) + \
            struct.pack(">HI", window, caps)
    answer = b"UIPX\x01\x01" + b"\0" * 6
    block = b"UIPX\x01\0" + struct.pack(">HI", 48, 0) + b"\0" * 36
    rec = bytearray(fakesysfs.device_record("1-1", False))
    rec[256 + 20:256 + 32] = answer
    want_ext = struct.pack(">HHI", VERSION, REP_IMPORT, ST_OK) + bytes(rec) + block
    for version in (1, 7):
        got = request(port, struct.pack(">HHI", VERSION, REQ_IMPORT, 0) + hello(version))
        tap.check(got == want_ext, "IMPORT 1-1 with a version %d hello: answer version 1, "
                  "no capabilities, 48-byte block, byte-exact" % version,
                  "got  %s\nwant %s" % (got.hex(), want_ext.hex()))
    for tail, what in ((hello(magic=b"UIPY"), "a wrong magic"),
                       (hello(version=0), "version 0"),
                       (hello(flags=1), "an answer (the answer flag set)"),
                       (b"1-1\0" + b"\xff" * 28, "garbage")):
        got = request(port, struct.pack(">HHI", VERSION, REQ_IMPORT, 0) + tail)
        tap.check(got == want, "IMPORT 1-1 with %s after the bus id: the plain reply" % what,
                  got.hex())

    for busid, status, what in ((b"1-2", ST_BUSY, "in use -> DEV_BUSY"),
                                (b"1-3", ST_DEV_ERR, "error state -> DEV_ERR"),
                                (b"9-9", ST_NODEV, "unknown -> NODEV"),
                                (b"2-1", ST_NODEV, "not bound to usbip-host -> NODEV"),
                                (b"2-1:1.0", ST_NODEV, "an interface -> NODEV")):
        got = request(port, import_req(busid))
        want = struct.pack(">HHI", VERSION, REP_IMPORT, status)
        tap.check(got == want, "IMPORT %s: %s, 8 bytes" % (busid.decode(), what), got.hex())

    # Malformed requests: one log line each, and the daemon carries on.
    before = len(log_lines())
    s = connect(port)
    s.sendall(devlist_req()[:4])
    s.shutdown(socket.SHUT_WR)
    tap.check(closed_quietly(s), "short read (4 of 8 bytes, then EOF): closed")
    s.close()
    one_line(before, r"closed after 4 of 8", "short read")

    before = len(log_lines())
    s = connect(port)
    s.sendall(struct.pack(">HHI", 0x0106, REQ_DEVLIST, 0))
    tap.check(closed_quietly(s), "wrong version 0x0106: connection closed without a reply")
    s.close()
    one_line(before, r"version 0x0106", "wrong version")

    before = len(log_lines())
    s = connect(port)
    s.sendall(struct.pack(">HHI", VERSION, 0x8002, 0))
    tap.check(closed_quietly(s), "unknown op code 0x8002: connection closed without a reply")
    s.close()
    one_line(before, r"unknown op code 0x8002", "unknown op code")

    before = len(log_lines())
    got = request(port, struct.pack(">HHI", VERSION, REQ_IMPORT, 0) + b"1-1" + b"x" * 29)
    tap.check(got == struct.pack(">HHI", VERSION, REP_IMPORT, ST_NA),
              "unterminated bus id: OP_REP_IMPORT with status NA", got.hex())
    one_line(before, r"not NUL-terminated", "unterminated bus id")

    before = len(log_lines())
    got = request(port, import_req(b"../1-1"))
    tap.check(got == struct.pack(">HHI", VERSION, REP_IMPORT, ST_NA),
              "bus id with a slash: OP_REP_IMPORT with status NA", got.hex())
    one_line(before, r"invalid byte", "bus id with a slash")

    before = len(log_lines())
    got = request(port, devlist_req() + b"\xde\xad\xbe\xef" * 64)
    tap.check(got == struct.pack(">HHI", VERSION, REP_DEVLIST, ST_NA),
              "oversized DEVLIST request: reply with status NA", got.hex())
    one_line(before, r"unexpected data", "oversized request")

    before = len(log_lines())
    s = connect(port)
    s.close()
    tap.check(new_log_lines(before) == [], "connect and close without a request logs nothing")

    # Slowloris: one header byte every 0.4 s never completes within the
    # deadline; meanwhile another client is served at once.
    before = len(log_lines())
    slow = connect(port)
    slow.sendall(b"\x01")
    t0 = time.time()
    quick = connect(port)
    quick.sendall(devlist_req())
    got = recv_all(quick)
    quick.close()
    dt = time.time() - t0
    tap.check(got[:8] == struct.pack(">HHI", VERSION, REP_DEVLIST, ST_OK) and dt < 1.0,
              "a second client gets its DEVLIST while a slow one dribbles (%.3f s)" % dt)
    dropped = False
    for b in b"\x11\x80\x05\x00\x00\x00\x00" * 20:
        try:
            slow.sendall(bytes([b]))
            time.sleep(0.4)
            slow.settimeout(0.01)
            if slow.recv(1) == b"":
                dropped = True
                break
        except socket.timeout:
            continue
        except OSError:
            dropped = True
            break
    elapsed = time.time() - t0
    slow.close()
    tap.check(dropped and elapsed < TIMEOUT_MS / 1000 + 2,
              "the slow client is dropped at its deadline (after %.1f s)" % elapsed)
    one_line(before, r"no complete request within", "slowloris")

    # A client that never reads does not hold anyone up either.
    hog = connect(port)
    hog.sendall(devlist_req())
    t0 = time.time()
    got = request(port, devlist_req())
    tap.check(got[:8] == struct.pack(">HHI", VERSION, REP_DEVLIST, ST_OK) and
              time.time() - t0 < 1.0, "a client that does not read its reply blocks nobody")
    hog.close()

    # 200 connections at once, then closed.
    before = len(log_lines())
    socks = []
    try:
        for _ in range(200):
            socks.append(connect(port))
    except OSError as e:
        tap.diag("connection %d: %s" % (len(socks) + 1, e))
    tap.check(len(socks) == 200, "200 simultaneous connections accepted")
    for s in socks[:100]:
        s.sendall(devlist_req())
    ok = sum(1 for s in socks[:100] if recv_all(s)[:8] == struct.pack(">HHI", VERSION,
                                                                       REP_DEVLIST, ST_OK))
    tap.check(ok == 100, "100 of them get their DEVLIST (%d did)" % ok)
    for s in socks:
        s.close()
    got = request(port, devlist_req())
    tap.check(proc.poll() is None and len(got) == 8 + 4 + 2 * 312 + 4 * 4,
              "after 200 connections closed, usbipd still answers")
    tap.check(new_log_lines(before) == [], "well-behaved connections log nothing")

    # A flood of idle connections from one host (127.0.0.2) fills every
    # slot; a new client must still be served at once: the oldest
    # connection makes room, with one log line each.
    before = len(log_lines())
    hog = []
    try:
        for _ in range(300):
            s = socket.socket()
            s.settimeout(5)
            # Reset on close: no lingering local port a later bind could hit.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.bind(("127.0.0.2", 0))
            s.connect(("127.0.0.1", port))
            hog.append(s)
    except OSError as e:
        tap.diag("idle connection %d: %s" % (len(hog) + 1, e))
    # All accepted by usbipd: the last one has its slot when it can be
    # answered (a DEVLIST request on it gets a reply).
    hog[-1].sendall(devlist_req())
    last = recv_all(hog[-1])
    t0 = time.time()
    got = request(port, devlist_req())
    dt = time.time() - t0
    for s in hog:
        s.close()
    tap.check(last[:8] == struct.pack(">HHI", VERSION, REP_DEVLIST, ST_OK) and
              got[:8] == struct.pack(">HHI", VERSION, REP_DEVLIST, ST_OK) and dt < 1.0,
              "300 idle connections from one host: a new client still gets its DEVLIST "
              "(%.3f s)" % dt, "last hog: %s, client: %s" % (last[:8].hex(), got[:8].hex()))
    # Each idle connection costs at most one line: dropped to make room,
    # or reset by the test's close.
    lines = new_log_lines(before)
    dropped = [ln for ln in lines if re.search(r"127\.0\.0\.2:[0-9]+: dropped", ln)]
    reset = [ln for ln in lines if re.search(r"127\.0\.0\.2:[0-9]+: .*reset by peer", ln)]
    summary = [ln for ln in lines if re.search(r"connection messages suppressed", ln)]
    tap.check(len(dropped) >= 1 and len(dropped) + len(reset) + len(summary) == len(lines),
              "at most one log line per idle connection (%d dropped, %d reset)" %
              (len(dropped), len(reset)), "\n".join(lines[:5]))
    # ... and a flood is rate-limited: at most LOG_BURST (50) lines of
    # connection incidents per 10 s, the rest counted in one summary line.
    tap.check(len(lines) <= 51, "a flood of 300 connections logs at most 50 lines (%d)" %
              len(lines))

    # usbip list -r against it: our output, and Debian's if installed.
    if usbip:
        env = dict(os.environ, USBIP_USB_IDS=os.path.join(srcdir, "tests/data/usb.ids"))
        r = subprocess.run([usbip, "--tcp-port", str(port), "list", "-r", "127.0.0.1"],
                           capture_output=True, text=True, env=env)
        want = ("Exportable USB devices\n"
                "======================\n"
                " - 127.0.0.1\n"
                "        1-1: Netchip Technology, Inc. : Linux-USB File-backed Storage Gadget (0525:a4a5)\n"
                "           : /sys/devices/pci0000:00/0000:00:1d.0/usb1/1-1\n"
                "           : (Defined at Interface level) (00/00/00)\n"
                "           :  0 - Mass Storage / SCSI / Bulk-Only (08/06/50)\n"
                "\n"
                "       1-10: Linux Foundation : unknown product (1d6b:0104)\n"
                "           : /sys/devices/pci0000:00/0000:00:1d.0/usb1/1-10\n"
                "           : unknown class / unknown subclass / unknown protocol (ef/02/01)\n"
                "           :  0 - Vendor Specific Class / unknown subclass / "
                "unknown protocol (ff/00/00)\n"
                "           :  1 - Mass Storage / SCSI / Bulk-Only (08/06/50)\n"
                "           :  2 - unknown class / unknown subclass / unknown protocol (0e/01/00)\n"
                "\n")
        tap.check(r.returncode == 0 and r.stdout == want, "usbip list -r output",
                  "status %d\n%s\n--- want\n%s" % (r.returncode, r.stdout + r.stderr, want))
        both = usbiptest.list_remote_twice(usbip, port)
        if both:
            r1, r2 = both
            tap.check(r1.stdout == r2.stdout and r1.stdout.count(" - 127.0.0.1") == 1,
                      "usbip list -r prints what Debian's /usr/sbin/usbip prints",
                      "ours:\n%s\nDebian's:\n%s" % (r1.stdout, r2.stdout))
        else:
            tap.skip("Debian's usbip not installed")
    else:
        tap.skip("USBIP_BIN not set")

    if usbip:
        r1 = subprocess.run([usbip, "--tcp-port", str(port), "list", "-r", "127.0.0.1"],
                            capture_output=True, text=True)
        r2 = subprocess.run([usbip, "--tcp-port", str(port), "list", "-p", "-r", "127.0.0.1"],
                            capture_output=True, text=True)
        tap.check(r2.returncode == 0 and r1.stdout == r2.stdout,
                  "usbip list -p -r is accepted and prints what list -r prints")

    # usbip-host not loaded: an empty list, imports refused as unknown.
    host = os.path.join(root, "bus/usb/drivers/usbip-host")
    os.rename(host, host + ".away")
    got = request(port, devlist_req())
    tap.check(got == struct.pack(">HHII", VERSION, REP_DEVLIST, ST_OK, 0),
              "usbip-host not loaded: DEVLIST lists 0 devices", got.hex())
    got = request(port, import_req(b"1-1"))
    tap.check(got == struct.pack(">HHI", VERSION, REP_IMPORT, ST_NODEV),
              "usbip-host not loaded: IMPORT 1-1 is NODEV", got.hex())
    os.rename(host + ".away", host)

    # SIGTERM: exit 0, pid file gone, port closed.
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(5)
    except subprocess.TimeoutExpired:
        rc = None
    tap.check(rc == 0, "SIGTERM: usbipd exits with status 0 (got %s)" % rc)
    tap.check(not os.path.exists(pidfile), "SIGTERM: pid file removed")
    try:
        connect(port).close()
        refused = False
    except OSError:
        refused = True
    tap.check(refused, "SIGTERM: the port is closed")

    # Command line.
    r = subprocess.run([usbipd, "-t", "0"], capture_output=True, text=True)
    tap.check(r.returncode == 2 and "not a port number" in r.stderr, "usbipd -t 0 is refused")
    r = subprocess.run([usbipd, "-v"], capture_output=True, text=True)
    tap.check(r.returncode == 0 and r.stdout.startswith("usbipd (usbip-utils) "), "usbipd -v")
    r = subprocess.run([usbipd, "-h"], capture_output=True, text=True)
    tap.check(r.returncode == 0 and "--tcp-port" in r.stdout and "--pid" in r.stdout, "usbipd -h")
    r = subprocess.run([usbipd, "extra"], capture_output=True, text=True)
    tap.check(r.returncode == 2, "usbipd with an operand is a usage error")

    # -4 only: no IPv6 listener; SIGINT also stops it cleanly.
    port = free_port()
    p = start(port, ["-4"])
    v6 = True
    try:
        connect(port, socket.AF_INET6, "::1").close()
    except OSError:
        v6 = False
    tap.check(p.poll() is None and not v6, "usbipd -4 listens on IPv4 only")
    p.send_signal(signal.SIGINT)
    try:
        rc = p.wait(5)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = None
    tap.check(rc == 0 and not os.path.exists(pidfile), "SIGINT: exit 0, pid file removed")

    # -D: the parent returns at once, the daemon answers and writes its pid.
    port = free_port()
    env = dict(os.environ, USBIP_SYSFS_ROOT=root)
    r = subprocess.run([usbipd, "-D", "-t", str(port), "--pid", pidfile], env=env,
                       capture_output=True, text=True, timeout=10)
    pid = None
    for _ in range(100):
        try:
            with open(pidfile) as f:
                pid = int(f.read())
            break
        except (OSError, ValueError):
            time.sleep(0.05)
    answered = False
    if pid:
        try:
            answered = request(port, devlist_req())[:8] == struct.pack(">HHI", VERSION,
                                                                       REP_DEVLIST, ST_OK)
        except OSError:
            pass
    tap.check(r.returncode == 0 and pid and answered,
              "usbipd -D --pid FILE: detaches, writes its pid, answers", r.stderr)
    if pid:
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if not os.path.exists(pidfile):
                break
            time.sleep(0.05)
    tap.check(pid and not os.path.exists(pidfile), "usbipd -D: SIGTERM removes the pid file")

    r = subprocess.run([usbipd, "-h"], capture_output=True, text=True)
    tap.check("--max-resume-window" in r.stdout, "usbipd -h: --max-resume-window")
    for bad in ("3601", "-1", "x", "", "30s"):
        r = subprocess.run([usbipd, "--max-resume-window", bad, "-t", "1"],
                           capture_output=True, text=True)
        tap.check(r.returncode == 2 and "--max-resume-window" in r.stderr,
                  "--max-resume-window '%s' is a usage error" % bad, r.stderr)
    session_tests()
    refusal_tests()
    other_daemon_tests()
    text = "\n".join(log_lines())
    leaked = [t.hex() for t in tokens if t.hex() in text or t.hex().upper() in text]
    tap.check(len(tokens) >= 8 and not leaked,
              "none of the %d tokens seen is in usbipd's log" % len(tokens), leaked)


def import_session(port, busid, window=0, want_window=None, vudc=False, what=""):
    """Imports `busid` offering SESSION; checks the reply (answer, block with
    a new non-zero token and the parameters) and the extended line written
    to usbip_sockfd.  Returns the token, None when something was wrong."""
    want_window = want_window if want_window is not None else window or 30
    sockfd_text(busid, vudc)
    got = request(port, import_hello(busid, window=window))
    what = "%s: IMPORT %s offering SESSION (window %d s)" % (what or busid, busid, window)
    if not tap.check(len(got) == 368, "%s: 368 bytes" % what, got.hex()):
        return None
    blk = block_fields(got[320:])
    tokens.add(blk["token"])
    tap.check(got[:8] == struct.pack(">HHI", VERSION, REP_IMPORT, ST_OK) and
              got[8:320] == answered_record(busid, window=want_window, caps=SESSION, vudc=vudc),
              "%s: the answer grants SESSION and %d s" % (what, want_window),
              got[8 + 256:8 + 288].hex())
    tap.check(blk["magic"] == b"UIPX" and blk["version"] == 1 and blk["flags"] == 0 and
              blk["length"] == 48 and blk["caps"] == SESSION and
              len(blk["token"]) == 16 and blk["token"] != b"\0" * 16 and
              blk["window"] == want_window * 1000 and blk["heartbeat"] == 5000 and
              blk["journal"] == 16 << 20 and blk["reserved"] == b"\0" * 8,
              "%s: block: caps 1, a non-zero 16-byte token, window %d ms, heartbeat "
              "5000 ms, journal 16 MiB" % (what, want_window * 1000), repr(blk))
    text = sockfd_text(busid, vudc)
    m = re.fullmatch(r"([0-9]+) caps=1 token=([0-9a-f]{32}) window=([0-9]+) heartbeat=5000 "
                     r"journal=16777216", text or "")
    tap.check(m is not None and int(m.group(1)) > 2 and m.group(2) == blk["token"].hex() and
              int(m.group(3)) == want_window * 1000,
              "%s: usbip_sockfd got \"FD caps=1 token=<the block's> window=%d heartbeat=5000 "
              "journal=16777216\"" % (what, want_window * 1000), repr(text))
    return blk["token"]


def resume_ok(port, busid, token, want_window, what, **kw):
    """A resume the driver accepts: the reply, its new token and the line
    written to usbip_sockfd.  Returns the new token or None."""
    sockfd_text(busid)
    got = request(port, resume_req(busid, token, **kw))
    if not tap.check(len(got) == 368, "%s: OP_REP_RESUME of 368 bytes" % what, got.hex()):
        return None
    blk = block_fields(got[320:])
    tokens.add(blk["token"])
    tap.check(got[:8] == struct.pack(">HHI", VERSION, REP_RESUME, ST_OK) and
              got[8:320] == answered_record(busid, window=want_window, caps=SESSION),
              "%s: status 0 and the record with an answer (SESSION, %d s)" %
              (what, want_window), got[:8].hex() + " " + got[8 + 256:8 + 288].hex())
    tap.check(blk["magic"] == b"UIPX" and blk["caps"] == SESSION and
              blk["token"] not in (b"\0" * 16, token) and blk["window"] == want_window * 1000 and
              blk["heartbeat"] == 5000 and blk["journal"] == 16 << 20,
              "%s: the block carries a new non-zero token" % what, repr(blk))
    text = sockfd_text(busid)
    m = re.fullmatch(r"resume ([0-9]+) token=([0-9a-f]{32}) new=([0-9a-f]{32})", text or "")
    tap.check(m is not None and m.group(2) == token.hex() and m.group(3) == blk["token"].hex(),
              "%s: usbip_sockfd got \"resume FD token=<old> new=<the block's>\"" % what,
              repr(text))
    return blk["token"]


def refused(port, payload, code, what):
    """The reply is exactly the 8-byte op header with status 1, then EOF."""
    got = request(port, payload)
    want = struct.pack(">HHI", VERSION, code, ST_NA)
    tap.check(got == want, "%s: status 1, 8 bytes, then the connection closes" % what,
              got.hex())


def run_resume_client(port, busid, token, window=0):
    """resume_client's output as a dict of its key=value words."""
    r = subprocess.run([resume_client, str(port), busid, token.hex(), str(window)],
                       capture_output=True, text=True, timeout=30)
    out = dict(w.split("=", 1) for w in r.stdout.split() if "=" in w)
    out["exit"] = r.returncode
    if "token" in out:
        tokens.add(bytes.fromhex(out["token"]))
    return out


def session_tests():
    """Sessions, with default options, on a daemon of its own (whose log
    limiter no flood has used up)."""
    port = free_port()
    p = start(port)
    try:
        session_tests_on(port)
    finally:
        usbiptest.stop(p)


def session_tests_on(port):
    # Offered, and the driver lists SESSION in usbip_ext_caps.
    fakesysfs.set_session_driver(root, "1-1", "1")
    before = len(log_lines())
    t1 = import_session(port, "1-1", window=60)
    one_line(before, r"1-1 exported with a session \(resume window 60 s\)",
             "IMPORT with a session")
    t2 = import_session(port, "1-1", window=60, what="again")
    tap.check(t1 and t2 and t1 != t2, "each import draws a new token")
    import_session(port, "1-1", window=0, want_window=30, what="no window asked")
    import_session(port, "1-1", window=1000, want_window=300, what="over --max-resume-window")
    t1 = import_session(port, "1-1", window=60, what="for the resumes")

    # Offered, but the driver has no usbip_ext_caps (the in-tree ones), or
    # lists nothing: no session, the plain line.
    plain_block = b"UIPX\x01\0" + struct.pack(">HI", 48, 0) + b"\0" * 36
    for busid, caps, what in (("1-10", None, "without usbip_ext_caps"),
                              ("1-10", "0", "with usbip_ext_caps 0")):
        fakesysfs.set_session_driver(root, busid, caps)
        sockfd_text(busid)
        got = request(port, import_hello(busid, window=60))
        tap.check(got == struct.pack(">HHI", VERSION, REP_IMPORT, ST_OK) +
                  answered_record(busid) + plain_block,
                  "SESSION offered, driver %s: caps 0, window 0, zero token" % what, got.hex())
        text = sockfd_text(busid)
        tap.check(re.fullmatch(r"[0-9]+", text or "") is not None,
                  "SESSION offered, driver %s: the plain fd number in usbip_sockfd" % what,
                  repr(text))
    fakesysfs.set_session_driver(root, "1-10", None)

    # Not offered (a hello with caps 0, or no hello): no session either.
    got = request(port, import_hello("1-1", caps=0, window=60))
    tap.check(got == struct.pack(">HHI", VERSION, REP_IMPORT, ST_OK) +
              answered_record("1-1") + plain_block,
              "hello without SESSION, driver with it: caps 0", got.hex())
    text = sockfd_text("1-1")
    tap.check(re.fullmatch(r"[0-9]+", text or "") is not None,
              "hello without SESSION: the plain fd number in usbip_sockfd", repr(text))
    got = request(port, import_req(b"1-1"))
    tap.check(got == struct.pack(">HHI", VERSION, REP_IMPORT, ST_OK) +
              fakesysfs.device_record("1-1", False),
              "plain import (no hello), driver with SESSION: the plain 320-byte reply", got.hex())
    text = sockfd_text("1-1")
    tap.check(re.fullmatch(r"[0-9]+", text or "") is not None,
              "plain import: the plain fd number in usbip_sockfd", repr(text))

    # OP_REQ_RESUME of 1-1: the import's window (60 s, remembered), not the
    # resume's hello's (0).
    before = len(log_lines())
    n1 = resume_ok(port, "1-1", t1, 60, "RESUME 1-1 with its token")
    one_line(before, r"session of 1-1 resumed on a new connection", "RESUME accepted")
    n2 = resume_ok(port, "1-1", n1 or b"\1" * 16, 60, "RESUME 1-1 with the new token")
    # A device in use (1-2) whose import usbipd did not see: the hello's window.
    fakesysfs.set_session_driver(root, "1-2", "1")
    resume_ok(port, "1-2", b"\x11" * 16, 45, "RESUME 1-2 asking for 45 s", window=45)
    resume_ok(port, "1-2", b"\x12" * 16, 30, "RESUME 1-2 without a hello", hello=False)

    # usbip_net_resume(), the client's side, through resume_client.
    if resume_client and os.access(resume_client, os.X_OK) and n2:
        sockfd_text("1-1")
        out = run_resume_client(port, "1-1", n2)
        text = sockfd_text("1-1")
        m = re.fullmatch(r"resume [0-9]+ token=([0-9a-f]{32}) new=([0-9a-f]{32})", text or "")
        tap.check(out.get("exit") == 0 and out.get("ret") == "0" and out.get("status") == "0" and
                  out.get("busid") == "1-1" and out.get("version") == "1" and
                  out.get("caps") == "1" and out.get("window_s") == "60" and
                  out.get("window_ms") == "60000" and out.get("heartbeat_ms") == "5000" and
                  out.get("journal_max") == str(16 << 20),
                  "usbip_net_resume(): status 0, device 1-1, SESSION, 60 s, 5000 ms, 16 MiB",
                  repr(out))
        tap.check(m is not None and m.group(1) == n2.hex() and m.group(2) == out.get("token"),
                  "usbip_net_resume(): the driver got the old token, the client the new one",
                  "%r %r" % (text, out))
        out = run_resume_client(port, "9-9", n2)
        tap.check(out.get("exit") == 0 and out.get("ret") == "0" and out.get("status") == "1",
                  "usbip_net_resume() of an unknown device: status 1", repr(out))
    else:
        tap.skip("resume_client not built")
        tap.skip("resume_client not built")
        tap.skip("resume_client not built")

    # Refused by usbipd itself: unknown device, a driver without sessions,
    # a malformed request.  One log line each.
    before = len(log_lines())
    refused(port, resume_req("9-9", b"\x21" * 16), REP_RESUME, "RESUME of an unknown device")
    one_line(before, r"resume of 9-9 refused: no USB device", "RESUME of an unknown device")
    before = len(log_lines())
    refused(port, resume_req("1-10", b"\x22" * 16), REP_RESUME,
            "RESUME of a device whose driver has no usbip_ext_caps")
    one_line(before, r"resume of 1-10 refused: its driver has no sessions",
             "RESUME, driver without sessions")
    tap.check(sockfd_text("1-10") == "", "... and nothing was written to its usbip_sockfd")
    before = len(log_lines())
    refused(port, struct.pack(">HHI", VERSION, REQ_RESUME, 0) + b"1-1" + b"x" * 29 +
            b"\x23" * 16, REP_RESUME, "RESUME with an unterminated bus id")
    one_line(before, r"malformed resume request: .*not NUL-terminated",
             "RESUME with an unterminated bus id")
    fakesysfs.set_session_driver(root, "1-1", None)
    fakesysfs.set_session_driver(root, "1-2", None)


def refusal_tests():
    """The driver refuses a line: a daemon whose writes to usbip_sockfd fail
    as ebusy_preload.so makes them; run with -d, so that debug lines are
    checked for tokens too; --max-resume-window 20."""
    if not (preload and os.path.exists(preload)):
        for _ in range(9):
            tap.skip("EBUSY_PRELOAD helper not built")
        return
    port = free_port()
    p = start(port, ["-d", "--max-resume-window", "20"], {"LD_PRELOAD": preload})
    try:
        fakesysfs.set_session_driver(root, "1-1", "1")
        fakesysfs.set_session_driver(root, "1-2", "1")
        import_session(port, "1-1", window=60, want_window=20, what="--max-resume-window 20")
        for rule, pattern in (("EACCES", r"wrong token \(EACCES\)"),
                              ("ESTALE", r"no session to resume, or its window is over "
                                         r"\(ESTALE\)"),
                              ("EBUSY", r"the session's old connection does not let go \(EBUSY\)")):
            fakesysfs.set_sockfd_refusal(root, "1-2", rule + " resume")
            before = len(log_lines())
            refused(port, resume_req("1-2", b"\x31" * 16), REP_RESUME,
                    "RESUME refused by the driver with %s" % rule)
            lines = [ln for ln in new_log_lines(before) if "resume of" in ln]
            tap.check(len(lines) == 1 and re.search(r"resume of 1-2 refused: " + pattern,
                                                    lines[0]),
                      "%s: one log line saying why" % rule, "\n".join(lines))
        if resume_client and os.access(resume_client, os.X_OK):
            out = run_resume_client(port, "1-2", b"\x32" * 16)
            tap.check(out.get("ret") == "0" and out.get("status") == "1",
                      "usbip_net_resume() refused by the driver (EBUSY): status 1", repr(out))
        else:
            tap.skip("resume_client not built")
        # The driver refuses the extended line of an import: an error reply,
        # never a session the driver does not hold, nor a silent plain one.
        fakesysfs.set_sockfd_refusal(root, "1-1", "EINVAL")
        before = len(log_lines())
        refused(port, import_hello("1-1", window=20), REP_IMPORT,
                "IMPORT with SESSION, the driver refuses the extended line")
        lines = [ln for ln in new_log_lines(before) if "import of" in ln]
        tap.check(len(lines) == 1 and "handing the connection to usbip-host failed" in lines[0]
                  and "token=(hidden)" in lines[0],
                  "... one log line, the token left out", "\n".join(lines))
    finally:
        fakesysfs.set_sockfd_refusal(root, "1-1", None)
        fakesysfs.set_sockfd_refusal(root, "1-2", None)
        fakesysfs.set_session_driver(root, "1-1", None)
        fakesysfs.set_session_driver(root, "1-2", None)
        usbiptest.stop(p)
    debug = [ln for ln in log_lines() if "wrote \"" in ln and "usbip_sockfd" in ln]
    tap.check(any("token=(hidden)" in ln for ln in debug),
              "-d: the lines written to usbip_sockfd are logged without their tokens",
              "\n".join(debug[-3:]))


def other_daemon_tests():
    """--max-resume-window 0 switches sessions off; --device has them too."""
    port = free_port()
    p = start(port, ["--max-resume-window", "0"])
    try:
        fakesysfs.set_session_driver(root, "1-1", "1")
        got = request(port, import_hello("1-1", window=60))
        tap.check(len(got) == 368 and got[8:320] == answered_record("1-1") and
                  block_fields(got[320:])["caps"] == 0,
                  "--max-resume-window 0: SESSION offered and listed, none agreed", got.hex())
        tap.check(re.fullmatch(r"[0-9]+", sockfd_text("1-1") or "") is not None,
                  "--max-resume-window 0: the plain line")
    finally:
        fakesysfs.set_session_driver(root, "1-1", None)
        usbiptest.stop(p)
    port = free_port()
    p = start(port, ["--device"])
    try:
        fakesysfs.set_session_driver(root, "usbip-vudc.0", "1", vudc=True)
        import_session(port, "usbip-vudc.0", window=10, vudc=True, what="--device")
    finally:
        fakesysfs.set_session_driver(root, "usbip-vudc.0", None, vudc=True)
        usbiptest.stop(p)


main()
