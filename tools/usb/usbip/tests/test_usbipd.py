# SPDX-License-Identifier: GPL-2.0
"""usbipd against a fake sysfs tree on 127.0.0.1: byte-exact DEVLIST and
IMPORT answers, busy/unknown/error devices, malformed and malicious clients
(each costing exactly one log line), many connections, SIGTERM.  TAP output.
Python 3 standard library only."""

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

from usbiptest import (REP_DEVLIST, REP_IMPORT, REQ_DEVLIST, REQ_IMPORT,  # noqa: E402
                       ST_BUSY, ST_DEV_ERR, ST_NA, ST_NODEV, ST_OK, VERSION, connect,
                       devlist_req, free_port, import_req, recv_all, request)

TIMEOUT_MS = 2000

tap = fakesysfs.Tap()
usbipd, = usbiptest.programs("USBIPD_BIN")
usbip = os.environ.get("USBIP_BIN")
srcdir = os.environ.get("top_srcdir", os.path.join(os.path.dirname(__file__), ".."))

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


def start(port, extra=(), env_extra=None):
    env = dict(os.environ, USBIP_SYSFS_ROOT=root, USBIPD_TIMEOUT_MS=str(TIMEOUT_MS))
    env.update(env_extra or {})
    return usbiptest.start_usbipd([usbipd, "-t", str(port), "-P", pidfile] + list(extra), port,
                                  env, logpath)


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


main()
