# SPDX-License-Identifier: GPL-2.0
"""usbip attach / detach / port against a fake vhci_hcd.0 (plain files under
$USBIP_SYSFS_ROOT) and a fake USB/IP server on 127.0.0.1 answering
OP_REQ_IMPORT: the exact attach/detach lines, port choice by speed across
controllers, full hubs, EBUSY retries (LD_PRELOAD helper), the records in
$USBIP_VHCI_RECORD_DIR, the "usbip port" listing, and every error message.
TAP output.  Python 3 standard library only."""

import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakesysfs  # noqa: E402
import usbiptest  # noqa: E402

from usbiptest import (REP_IMPORT, REQ_IMPORT, ST_BUSY, ST_DEV_ERR, ST_NA,  # noqa: E402
                       ST_NODEV, ST_OK, VERSION)
from usbiptest import read_file as read  # noqa: E402

tap = fakesysfs.Tap()
usbip, = usbiptest.programs("USBIP_BIN")
srcdir = os.environ.get("top_srcdir", os.path.join(os.path.dirname(__file__), ".."))
preload = os.environ.get("EBUSY_PRELOAD", "")

tmp, root = usbiptest.scratch("usbip-vhci-test.")
os.mkdir(os.path.join(tmp, "run"))
records = os.path.join(tmp, "run/vhci_hcd")
VHCI = os.path.join(root, fakesysfs.VHCI)
ATTACH = os.path.join(VHCI, "attach")
DETACH = os.path.join(VHCI, "detach")
USB_IDS = os.path.join(srcdir, "tests/data/usb.ids")


class FakeServer:
    """Answers OP_REQ_IMPORT on a loopback address.  self.replies maps a bus
    id to a status, or to raw bytes for malformed answers (sent, then the
    connection is shut down); anything else is
    answered with the device record of that bus id from fakesysfs.  The
    connections are kept open, as a real server hands them to usbip-host."""

    def __init__(self, family=socket.AF_INET, addr="127.0.0.1"):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((addr, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.replies = {}
        self.requests = []
        self.raw = []
        self.on_tail = None
        self.conns = []
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            c.settimeout(5)
            try:
                req = b""
                while len(req) < 40:
                    chunk = c.recv(40 - len(req))
                    if not chunk:
                        break
                    req += chunk
            except OSError:
                continue
            if len(req) < 40:
                continue
            ver, code, status = struct.unpack(">HHI", req[:8])
            busid = req[8:].split(b"\0")[0].decode(errors="replace")
            self.requests.append((ver, code, status, busid))
            self.raw.append(req)
            rep = self.replies.get(busid, ST_OK)
            # A server that compares the whole field: bytes after the NUL
            # make the bus id unknown ("nodev"), or it hangs up ("close").
            if self.on_tail and req[8:] != busid.encode().ljust(32, b"\0"):
                if self.on_tail == "close":
                    c.shutdown(socket.SHUT_WR)
                    continue
                rep = ST_NODEV
            if isinstance(rep, bytes):
                c.sendall(rep)
                c.shutdown(socket.SHUT_WR)
            elif rep != ST_OK:
                c.sendall(struct.pack(">HHI", VERSION, REP_IMPORT, rep))
            else:
                c.sendall(struct.pack(">HHI", VERSION, REP_IMPORT, 0) +
                          fakesysfs.device_record(busid, with_interfaces=False))

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


server = FakeServer()
try:
    server6 = FakeServer(socket.AF_INET6, "::1")
except OSError:
    server6 = None


def reset(used=None, ncontrollers=2, hs=2, ss=2):
    """Fresh vhci files and no records."""
    if os.path.isdir(ATTACH) and not os.path.islink(ATTACH):
        os.rmdir(ATTACH)
    fakesysfs.build_vhci(root, ncontrollers, hs, ss, used)
    open(ATTACH, "w").close()
    open(DETACH, "w").close()
    shutil.rmtree(records, ignore_errors=True)


def run(*args, port=None, env_extra=None):
    env = dict(os.environ, USBIP_SYSFS_ROOT=root, USBIP_VHCI_RECORD_DIR=records,
               USBIP_USB_IDS=USB_IDS)
    env.update(env_extra or {})
    argv = [usbip]
    if port is not None:
        argv += ["--tcp-port", str(port)]
    return subprocess.run(argv + list(args), capture_output=True, text=True, env=env,
                          timeout=60)


def describe(r):
    return "status %d\nstdout: %s\nstderr: %s\nattach: %r\nrecords: %r" % (
        r.returncode, r.stdout.strip(), r.stderr.strip(), read(ATTACH),
        sorted(os.listdir(records)) if os.path.isdir(records) else None)


def attach_line_ok(text, port, devid, speed):
    """The attach file holds "PORT SOCKFD DEVID SPEED" with a plausible fd."""
    m = re.fullmatch(r"(\d+) (\d+) (\d+) (\d+)", text or "")
    return bool(m) and int(m.group(1)) == port and int(m.group(2)) >= 3 and \
        int(m.group(3)) == devid and int(m.group(4)) == speed


def expect_attach(busid, port, devid, speed, what, used=None, host="127.0.0.1", srv=None,
                  env_extra=None):
    srv = srv or server
    reset(used)
    r = run("attach", "-r", host, "-b", busid, port=srv.port, env_extra=env_extra)
    rec = read(os.path.join(records, "port%d" % port))
    tap.check(r.returncode == 0 and attach_line_ok(read(ATTACH), port, devid, speed) and
              r.stdout == "usbip: attached remote device %s/%s to port %d\n" % (host, busid, port)
              and rec == "%s %d %s\n" % (host, srv.port, busid), what, describe(r))
    return r


def expect_attach_error(busid, status, text, what, used=None, host="127.0.0.1", port=None,
                        env_extra=None):
    reset(used)
    r = run("attach", "-r", host, "-b", busid, port=server.port if port is None else port,
            env_extra=env_extra)
    tap.check(r.returncode == status and text in r.stderr and read(ATTACH) == "" and
              not os.path.exists(records) and r.stdout == "", what, describe(r))
    return r


HS_DEV = 1 << 16 | 2      # fakesysfs 1-1: bus 1 dev 2, 480 Mbit/s
SS_DEV = 1 << 16 | 9      # fakesysfs 1-10: bus 1 dev 9, 5000 Mbit/s
FS_DEV = 1 << 16 | 3      # fakesysfs 1-2: bus 1 dev 3, 12 Mbit/s


def used_port(busid="2-1", speed=3, devid=0x00110002, fd=3):
    return (fakesysfs.VDEV_USED, speed, devid, fd, busid)


# Layout: controller 0 has hs 0 1, ss 2 3; controller 1 hs 4 5, ss 6 7.
expect_attach("1-1", 0, HS_DEV, 3, "high-speed device on the first free hs port (0)")
r = run("--debug", "attach", "-r", "127.0.0.1", "-b", "1-1", port=server.port)
tap.check(server.requests[-1] == (VERSION, REQ_IMPORT, 0, "1-1"),
          "the server got OP_REQ_IMPORT version 0x0111 status 0 for 1-1",
          repr(server.requests[-1:]))
# The extension hello (Documentation/usb/usbip_ext.rst) in the bus id's
# tail: version 1, no window, no capabilities; a plain server's answer
# (no answer) is taken as plain.
tap.check(server.raw[-1][8:] == b"1-1".ljust(20, b"\0") + b"UIPX\x01\0" + b"\0" * 6 and
          "plain USB/IP 1.1.1" in r.stderr,
          "the import carries the extension hello after the bus id, the plain reply is plain",
          repr(server.raw[-1:]) + r.stderr)
long_id = "1-1.2.3.4.5.6.7.8.9"
server.replies[long_id] = server.replies[long_id + "0"] = ST_NODEV
r = run("attach", "-r", "127.0.0.1", "-b", long_id + "0", port=server.port)
tap.check(server.raw[-1][8:] == (long_id + "0").encode().ljust(32, b"\0"),
          "a 20-character bus id leaves no room: no hello, zeros after it",
          repr(server.raw[-1:]))
r = run("attach", "-r", "127.0.0.1", "-b", long_id, port=server.port)
tap.check(server.raw[-2][8:] == long_id.encode() + b"\0UIPX\x01\0" + b"\0" * 6 and
          server.raw[-1][8:] == long_id.encode().ljust(32, b"\0"),
          "a 19-character bus id still has room for the hello (NODEV: tried again without)",
          repr(server.raw[-2:]))
server.replies = {}
for mode in ("nodev", "close"):
    server.on_tail = mode
    n = len(server.raw)
    r = expect_attach("1-1", 0, HS_DEV, 3, "a server that %s on the hello: attached by a plain "
                      "retry" % ("answers NODEV" if mode == "nodev" else "hangs up"),
                      env_extra=None)
    tap.check(len(server.raw) == n + 2 and b"UIPX" in server.raw[n] and
              server.raw[n + 1][8:] == b"1-1".ljust(32, b"\0"),
              "%s: two connections, the hello on the first, none on the second" % mode,
              repr(server.raw[n:]))
server.on_tail = None
expect_attach("1-1", 1, HS_DEV, 3, "port 0 in use: next hs port (1)", used={0: used_port()})
expect_attach("1-1", 4, HS_DEV, 3, "hs ports of controller 0 in use: hs port 4 of controller 1",
              used={0: used_port(), 1: used_port("2-2")})
expect_attach("1-2", 0, FS_DEV, 2, "full-speed device on an hs port, speed 2 passed on")
expect_attach("1-10", 2, SS_DEV, 5, "SuperSpeed device on the first ss port (2)")
expect_attach("1-10", 6, SS_DEV, 5, "ss ports of controller 0 in use: ss port 6",
              used={2: used_port(speed=5), 3: used_port("2-2", speed=5)})
FULL_HS = {p: used_port("2-%d" % p) for p in (0, 1, 4, 5)}
expect_attach_error("1-1", 1, "no free port of that speed", "every hs port in use: refused",
                    used=FULL_HS)
expect_attach("1-10", 2, SS_DEV, 5, "every hs port in use: a SuperSpeed device still attaches",
              used=FULL_HS)
expect_attach("1-1", 5, HS_DEV, 3, "ports in error or being attached are not free",
              used={0: (7, 3, 1, 3, "0-0"), 1: (5, 3, 1, 3, "0-0"), 4: used_port()})
if server6:
    expect_attach("1-1", 0, HS_DEV, 3, "IPv6 server ::1, recorded as ::1", host="::1",
                  srv=server6)
else:
    tap.skip("no IPv6 loopback")
expect_attach("1-1", 0, HS_DEV, 3, "host name localhost", host="localhost")

# Racing attaches: the preload helper makes chosen ports answer EBUSY.
if preload and os.path.exists(preload):
    ebusy_log = os.path.join(tmp, "ebusy.log")

    def ebusy_env(ports):
        if os.path.exists(ebusy_log):
            os.unlink(ebusy_log)
        return {"LD_PRELOAD": preload, "USBIP_TEST_EBUSY_PORTS": ports,
                "USBIP_TEST_EBUSY_LOG": ebusy_log}

    expect_attach("1-1", 1, HS_DEV, 3, "EBUSY on port 0: retried on port 1",
                  env_extra=ebusy_env("0"))
    tap.check(read(ebusy_log) == "0\n", "exactly one refused write, to port 0",
              repr(read(ebusy_log)))
    expect_attach("1-1", 5, HS_DEV, 3, "EBUSY on ports 0 1 4: retried up to port 5",
                  env_extra=ebusy_env("0 1 4"))
    tap.check(read(ebusy_log) == "0\n1\n4\n", "ports tried in order 0, 1, 4",
              repr(read(ebusy_log)))
    r = expect_attach_error("1-1", 1, "no free port of that speed",
                            "EBUSY on every hs port: fails, no free port",
                            env_extra=ebusy_env("0 1 4 5"))
    tap.check("taken while attaching" in r.stderr and read(ebusy_log) == "0\n1\n4\n5\n",
              "every hs port tried once, the error says they were taken meanwhile",
              r.stderr + repr(read(ebusy_log)))
    expect_attach("1-10", 3, SS_DEV, 5, "EBUSY on ss port 2 does not send SuperSpeed to hs",
                  env_extra=ebusy_env("2 0 1"))
else:
    for _ in range(6):
        tap.skip("EBUSY_PRELOAD helper not built")

# Other write errors are not retried.
reset()
os.unlink(ATTACH)
os.mkdir(ATTACH)
r = run("attach", "-r", "127.0.0.1", "-b", "1-1", port=server.port)
tap.check(r.returncode == 1 and "Is a directory" in r.stderr and "attach" in r.stderr and
          not os.path.exists(records), "attach file not writable: error names it, no record",
          describe(r))
os.rmdir(ATTACH)
open(ATTACH, "w").close()

# Refusals and network errors.
server.replies = {"busy-1": ST_BUSY, "gone-1": ST_NODEV, "bad-1": ST_DEV_ERR, "na-1": ST_NA,
                  "short-1": struct.pack(">HHI", VERSION, REP_IMPORT, 0) + b"x" * 20,
                  "wrongcode-1": struct.pack(">HHI", VERSION, 0x0005, 0),
                  "other-1": struct.pack(">HHI", VERSION, REP_IMPORT, 0) +
                  fakesysfs.device_record("1-2", with_interfaces=False)}
expect_attach_error("busy-1", 1, "busy", "server says busy: 'busy' error")
expect_attach_error("gone-1", 1, "unknown device", "server says no such device: 'unknown device'")
expect_attach_error("bad-1", 1, "error state", "server says device error: 'error state'")
expect_attach_error("na-1", 1, "refused", "server says request failed: 'refused'")
expect_attach_error("short-1", 1, "connection closed by the peer",
                    "truncated device record: error, nothing attached")
expect_attach_error("wrongcode-1", 1, "unexpected op code", "wrong reply code: error")
expect_attach_error("other-1", 1, "instead of \"other-1\"",
                    "reply for another bus id: error, nothing attached")
closed = socket.socket()
closed.bind(("127.0.0.1", 0))
closed_port = closed.getsockname()[1]
closed.close()
expect_attach_error("1-1", 1, "Connection refused", "closed port: 'Connection refused'",
                    port=closed_port)
expect_attach_error("1-1", 1, "cannot resolve host.invalid", "unknown host name: not resolved",
                    host="host.invalid")
shutil.rmtree(VHCI)
n = len(server.requests)
r = run("attach", "-r", "127.0.0.1", "-b", "1-1", port=server.port)
tap.check(r.returncode == 1 and "vhci-hcd is not loaded (modprobe vhci-hcd)" in r.stderr and
          len(server.requests) == n,
          "vhci-hcd missing: attach says to modprobe it before asking the server", describe(r))
r = run("port")
tap.check(r.returncode == 1 and "vhci-hcd is not loaded (modprobe vhci-hcd)" in r.stderr,
          "vhci-hcd missing: port says to modprobe it", describe(r))
r = run("detach", "-p", "0")
tap.check(r.returncode == 1 and "vhci-hcd is not loaded (modprobe vhci-hcd)" in r.stderr,
          "vhci-hcd missing: detach says to modprobe it", describe(r))

# Malformed status files are errors, not guesses.
for bad, why in (("hub port\nhs 0000 004\n", "short line"),
                 ("hub port sta spd dev sockfd local_busid\nxx 0000 004 000 0 0 0-0\n", "bad hub"),
                 ("hub port sta spd dev sockfd local_busid\nhs 00z0 004 000 0 0 0-0\n", "bad port"),
                 ("hs 0000 004 000 00000000 000000 0-0\n", "no header"),
                 ("hub port sta spd dev sockfd local_busid\nhs 0009 004 000 0 0 0-0\n",
                  "port beyond nports")):
    reset()
    with open(os.path.join(VHCI, "status"), "w") as f:
        f.write(bad)
    r = run("attach", "-r", "127.0.0.1", "-b", "1-1", port=server.port)
    tap.check(r.returncode == 1 and "status" in r.stderr and read(ATTACH) == "",
              "malformed status (%s): attach fails, writes nothing" % why, describe(r))

# Odd but valid spacing, tabs and a trailing blank line are accepted.
reset()
with open(os.path.join(VHCI, "status"), "w") as f:
    f.write("hub port sta spd dev      sockfd local_busid\n"
            "hs\t0000 006 003 00010002 000003 2-1\n"
            "  hs   1  4 0 0 0 0-0  \n"
            "ss 0002 004 000 00000000 000000 0-0\n"
            "ss 0003 004 000 00000000 000000 0-0\n\n")
r = run("attach", "-r", "127.0.0.1", "-b", "1-1", port=server.port)
tap.check(r.returncode == 0 and attach_line_ok(read(ATTACH), 1, HS_DEV, 3),
          "status with tabs and irregular columns parses (port 1 chosen)", describe(r))

# usbip port: ports from the status files, records from the record directory.
reset({0: used_port("2-1", 3, 0x00110002, 3), 2: used_port("1-10", 5, 0x00020005, 4),
       5: used_port("9-9", 2, 0x00030004, 5), 6: (5, 3, 0x00040001, 6, "0-0")})
os.makedirs(records)
with open(os.path.join(records, "port0"), "w") as f:
    f.write("127.0.0.1 3240 17-1\n")
with open(os.path.join(records, "port2"), "w") as f:
    f.write("::1 4000 3-2\n")
with open(os.path.join(records, "port6"), "w") as f:
    f.write("garbage\n")
with open(os.path.join(records, "port1"), "w") as f:
    f.write("stale.example 3240 5-5\n")
r = run("port")
want = ("Imported USB devices\n"
        "====================\n"
        "Port 00: <Port in Use> at High Speed(480Mbps)\n"
        "       Netchip Technology, Inc. : Linux-USB File-backed Storage Gadget (0525:a4a5)\n"
        "       2-1 -> usbip://127.0.0.1:3240/17-1\n"
        "           -> remote bus/dev 017/002\n"
        "Port 02: <Port in Use> at Super Speed(5000Mbps)\n"
        "       Linux Foundation : unknown product (1d6b:0104)\n"
        "       1-10 -> usbip://[::1]:4000/3-2\n"
        "           -> remote bus/dev 002/005\n"
        "Port 05: <Port in Use> at Full Speed(12Mbps)\n"
        "       (no local device 9-9 yet)\n"
        "       9-9 -> unknown remote device (no record in %s)\n"
        "           -> remote bus/dev 003/004\n"
        "Port 06: <Port Being Attached> at High Speed(480Mbps)\n"
        "       (no local device 0-0 yet)\n"
        "       0-0 -> unknown remote device (unreadable record: Invalid argument)\n"
        "           -> remote bus/dev 004/001\n" % records)
tap.check(r.returncode == 0 and r.stdout == want,
          "port lists used ports with speed, names, local bus id, usbip:// URL, remote bus/dev",
          "status %d\n--- got\n%s--- want\n%s%s" % (r.returncode, r.stdout, want, r.stderr))
reset()
r = run("port")
tap.check(r.returncode == 0 and r.stdout == "Imported USB devices\n====================\n",
          "port with nothing imported prints the header only", describe(r))

# detach
reset({0: used_port(), 5: used_port("2-2")})
os.makedirs(records)
for p in (0, 5):
    with open(os.path.join(records, "port%d" % p), "w") as f:
        f.write("127.0.0.1 3240 1-%d\n" % p)
r = run("detach", "-p", "5")
tap.check(r.returncode == 0 and read(DETACH) == "5" and
          sorted(os.listdir(records)) == ["port0"] and
          r.stdout == "usbip: detached port 5\n",
          "detach -p 5: writes \"5\" to detach, removes only port5's record", describe(r))
r = run("detach", "--port", "0")
tap.check(r.returncode == 0 and read(DETACH) == "0" and not os.path.exists(records),
          "detach of the last record removes the record directory", describe(r))
reset({0: used_port()})
for args, status, text, what in (
        (["-p", "8"], 1, "port 8 is out of range: vhci-hcd has ports 0 to 7", "port 8 of 8"),
        (["-p", "99999999999999999999"], 2, "is not a port number", "overflowing number"),
        (["-p", "x1"], 2, "'x1' is not a port number", "not a number"),
        (["-p", "3"], 1, "port 3 is not in use", "free port"),
        (["-p", "+1"], 2, "is not a port number", "signed number")):
    open(DETACH, "w").close()
    r = run("detach", *args)
    tap.check(r.returncode == status and text in r.stderr and read(DETACH) == "",
              "detach error: %s (exit %d)" % (what, status), describe(r))


# Sessions (usbip_ext.rst): usbip attach --persistent against our usbipd
# (on the same fake tree: usbip-host's files are plain files too), a fake
# vhci-hcd whose session file the test writes as the kernel would, and
# the FakeServer for peers without sessions.
usbipd_bin = os.environ.get("USBIPD_BIN")
SESSION_FILE = os.path.join(VHCI, "session")
RESUME = os.path.join(VHCI, "resume")
EXT_CAPS = os.path.join(VHCI, "ext_caps")
SOCKFD_1_1 = os.path.join(root, fakesysfs.dev_dir("1-1"), "usbip_sockfd")


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def vhci_sessions(caps="1"):
    """reset(), then our vhci-hcd's files: ext_caps (None: the in-tree
    driver, without any of them), an empty session and resume file, and
    for ebusy_preload.so the port's state after a resume ("0 active")."""
    reset()
    for f in (EXT_CAPS, SESSION_FILE, RESUME, RESUME + ".fail", RESUME + ".session"):
        if os.path.exists(f):
            os.unlink(f)
    if caps is not None:
        write(EXT_CAPS, caps + "\n")
        write(SESSION_FILE, "")
        write(RESUME, "")
        write(RESUME + ".session", "0 active\n")


def set_used(used):
    """Rewrites the status files only (attach and detach keep what the tool
    wrote): the kernel's side of a port taken or freed."""
    ports = fakesysfs.vhci_ports(2, 2, 2)
    write(os.path.join(VHCI, "status"), fakesysfs.vhci_status_text(ports, used, 0, 3))
    write(os.path.join(VHCI, "status.1"), fakesysfs.vhci_status_text(ports, used, 4, 7))


def wait_until(cond, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


class Persistent:
    """"usbip --debug attach ARGS" in the background, its output (stdout
    and stderr) collected line by line."""

    def __init__(self, args, port, env_extra=None):
        env = dict(os.environ, USBIP_SYSFS_ROOT=root, USBIP_VHCI_RECORD_DIR=records,
                   USBIP_USB_IDS=USB_IDS)
        env.update(env_extra or {})
        self.p = subprocess.Popen([usbip, "--debug", "--tcp-port", str(port), "attach"] +
                                  list(args), stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, env=env)
        self.lines = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.append(line.rstrip("\n"))

    def has(self, pattern):
        return any(re.search(pattern, line) for line in self.lines)

    def wait(self, pattern, timeout=10.0):
        return wait_until(lambda: self.has(pattern), timeout)

    def exit(self, timeout=10.0):
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()

    def count(self, pattern):
        return sum(1 for line in self.lines if re.search(pattern, line))

    def out(self):
        wait_until(lambda: self.p.poll() is not None, 1)
        return "\n".join(self.lines)


def attached(a, devid=HS_DEV, speed=3):
    """Waits for the attach line; marks port 0 used with the device (the
    kernel's part).  Returns the line."""
    ok = wait_until(lambda: bool(read(ATTACH)))
    line = read(ATTACH) or ""
    m = re.match(r"0 (\d+) ", line)
    if ok and m:
        set_used({0: (fakesysfs.VDEV_USED, speed, devid, int(m.group(1)), "3-1")})
    return line


def start_session_usbipd(env_extra=None):
    port = usbiptest.free_port()
    env = dict(os.environ, USBIP_SYSFS_ROOT=root)
    env.update(env_extra or {})
    p = usbiptest.start_usbipd([usbipd_bin, "-4", "-t", str(port)], port, env,
                               os.path.join(tmp, "usbipd.log"))
    return p, port


def sockfd_line():
    return (read(SOCKFD_1_1) or "").strip()


# Without --persistent nothing changes, even with a vhci-hcd that has sessions.
vhci_sessions("1")
r = run("attach", "-r", "127.0.0.1", "-b", "1-1", port=server.port)
tap.check(r.returncode == 0 and attach_line_ok(read(ATTACH), 0, HS_DEV, 3) and
          server.raw[-1][8:] == b"1-1".ljust(20, b"\0") + b"UIPX\x01\0" + b"\0" * 6,
          "plain attach with a vhci-hcd that has sessions: hello offers nothing, plain line",
          describe(r) + repr(server.raw[-1:]))

# Usage errors of the new options.
for args, what in ((["-p", "--resume-window", "0"], "--resume-window 0"),
                   (["-p", "--resume-window", "3601"], "--resume-window 3601"),
                   (["-p", "--resume-window", "1x"], "--resume-window 1x"),
                   (["-p", "--resume-window", "-5"], "--resume-window -5"),
                   (["--resume-window", "30"], "--resume-window without --persistent")):
    vhci_sessions("1")
    r = run("attach", "-r", "127.0.0.1", "-b", "1-1", *args, port=server.port)
    tap.check(r.returncode == 2 and "resume window" in r.stderr.replace("-", " ") and
              read(ATTACH) == "", "attach %s: usage error (exit 2)" % what, describe(r))

# --persistent with the in-tree vhci-hcd (no ext_caps): warned, no session
# offered, a plain attach that stays; the kernel freeing the port while its
# record stays (connection lost) ends it with status 1.
vhci_sessions(None)
a = Persistent(["--persistent", "-r", "127.0.0.1", "-b", "1-1"], server.port)
line = attached(a)
tap.check(attach_line_ok(line, 0, HS_DEV, 3) and
          server.raw[-1][8:] == b"1-1".ljust(20, b"\0") + b"UIPX\x01\0" + b"\0" * 6 and
          a.wait("vhci-hcd has no sessions") and a.wait("port 0: staying until the port is "
                                                        "detached"),
          "--persistent, vhci-hcd without ext_caps: warning, no SESSION offered, plain line",
          line + "\n" + a.out())
set_used({})
rc = a.exit()
tap.check(rc == 1 and a.has("import of 127.0.0.1/1-1 ended .*cannot be resumed") and
          not os.path.exists(os.path.join(records, "port0")),
          "plain --persistent: port freed with its record left: exit 1, record removed",
          "exit %r\n%s" % (rc, a.out()))
a.stop()

# --persistent with a server that does not agree (FakeServer answers
# plainly): SESSION and the 30 s window offered, a warning, plain line;
# "usbip detach" (record removed, port freed) ends it with status 0.
vhci_sessions("1")
a = Persistent(["-p", "-r", "127.0.0.1", "-b", "1-1"], server.port)
line = attached(a)
tap.check(attach_line_ok(line, 0, HS_DEV, 3) and
          server.raw[-1][8:] == b"1-1".ljust(20, b"\0") + b"UIPX\x01\0" +
          struct.pack(">HI", 30, 1) and a.wait("did not agree to a session"),
          "-p, server without sessions: hello offers SESSION (30 s), warning, plain line",
          line + "\n" + repr(server.raw[-1:]) + "\n" + a.out())
a.wait("staying until")
r = run("detach", "-p", "0")
set_used({})
rc = a.exit()
tap.check(r.returncode == 0 and rc == 0 and a.has("port 0: detached; exiting"),
          "-p: 'usbip detach' of the port: the attach exits 0", describe(r) + "\n" + a.out())
a.stop()

# With a session, ebusy_preload.so plays the driver's part in the tool
# (the port active again after a resume, refusals) and in usbipd.
pre = {"LD_PRELOAD": preload} if preload and os.path.exists(preload) else None
if usbipd_bin and os.access(usbipd_bin, os.X_OK) and pre:
    fakesysfs.set_session_driver(root, "1-1", "1")
    d, dport = start_session_usbipd(pre)
    try:
        # A session: the extended attach line, then two resumes, each with
        # the token of the one before; usbip port shows the session.
        vhci_sessions("1")
        write(SOCKFD_1_1, "")
        a = Persistent(["-p", "--resume-window", "45", "-r", "127.0.0.1", "-b", "1-1"], dport,
                       env_extra=pre)
        line = attached(a)
        write(SESSION_FILE, "0 active\n")
        m = re.fullmatch(r"0 (\d+) 65538 3 caps=1 window=45000 heartbeat=5000", line)
        s0 = re.fullmatch(r"\d+ caps=1 token=([0-9a-f]{32}) window=45000 heartbeat=5000 "
                          r"journal=16777216", sockfd_line())
        tap.check(m is not None and s0 is not None and
                  a.wait(r"port 0: session agreed \(resume window 45000 ms, heartbeat 5000 ms\)"),
                  "-p --resume-window 45 with our usbipd: \"0 FD 65538 3 caps=1 window=45000 "
                  "heartbeat=5000\"", line + "\n" + sockfd_line() + "\n" + a.out())
        token = s0.group(1) if s0 else "?"
        r = run("port")
        tap.check(r.returncode == 0 and r.stdout.endswith("remote bus/dev 001/002\n"
                                                          "       session: active\n"),
                  "usbip port: 'session: active' after the remote line", describe(r))
        for i, left in enumerate((25000, 20001)):
            write(RESUME, "")
            write(SOCKFD_1_1, "")
            write(SESSION_FILE, "0 reconnecting %d\n" % left)
            if i == 0:
                r = run("port")
                tap.check(r.stdout.endswith("       session: reconnecting, 25 s left\n"),
                          "usbip port: 'session: reconnecting, 25 s left'", describe(r))
            ok = wait_until(lambda: bool(read(RESUME)))
            res = read(RESUME) or ""
            sl = re.fullmatch(r"resume (\d+) token=([0-9a-f]{32}) new=([0-9a-f]{32})",
                              sockfd_line())
            tap.check(ok and re.fullmatch(r"0 \d+", res) is not None and sl is not None and
                      sl.group(2) == token and
                      a.wait(r"port 0: connection lost, reconnecting \(%d s left\)" %
                             -(-left // 1000)),
                      "drop %d: reconnected, OP_REQ_RESUME with the %s token, \"0 FD\" to "
                      "resume" % (i + 1, "import's" if i == 0 else "last resume's"),
                      "resume %r, usbip_sockfd %r, token %s\n%s" % (res, sockfd_line(), token,
                                                                   a.out()))
            if sl:
                token = sl.group(3)
            tap.check(a.wait(r"port 0: resumed after \d+ ms \(1 attempt\)") and
                      a.p.poll() is None, "drop %d: 'resumed after N ms', still watching"
                      % (i + 1), a.out())
            a.lines.clear()

        # The server refuses (the driver says ESTALE): gave up, exit 1.
        fakesysfs.set_sockfd_refusal(root, "1-1", "ESTALE resume")
        write(RESUME, "")
        write(SESSION_FILE, "0 reconnecting 9000\n")
        rc = a.exit()
        tap.check(rc == 1 and a.has("port 0: gave up: the server refused the resume") and
                  read(RESUME) == "",
                  "resume refused by the server: 'gave up', exit 1, nothing to resume",
                  "exit %r\n%s" % (rc, a.out()))
        fakesysfs.set_sockfd_refusal(root, "1-1", None)
        a.stop()

        # vhci-hcd refuses the new socket (ESTALE: the window ended meanwhile).
        vhci_sessions("1")
        a = Persistent(["-p", "-r", "127.0.0.1", "-b", "1-1"], dport, env_extra=pre)
        attached(a)
        write(SESSION_FILE, "0 active\n")
        a.wait("session agreed")
        write(RESUME + ".fail", "ESTALE\n")
        write(SESSION_FILE, "0 reconnecting 9000\n")
        rc = a.exit()
        tap.check(rc == 1 and a.has("gave up: the server took the resume, but vhci-hcd "
                                    "holds no suspended session on port 0"),
                  "vhci-hcd's resume says ESTALE: 'gave up', exit 1",
                  "exit %r\n%s" % (rc, a.out()))
        a.stop()

        # SIGTERM: the attach detaches the port itself and exits 0.
        vhci_sessions("1")
        a = Persistent(["-p", "-r", "127.0.0.1", "-b", "1-1"], dport, env_extra=pre)
        attached(a)
        write(SESSION_FILE, "0 active\n")
        a.wait("session agreed")
        a.p.send_signal(signal.SIGTERM)
        rc = a.exit()
        tap.check(rc == 0 and read(DETACH) == "0" and a.has(r"port 0: detached \(signal 15\)")
                  and not os.path.exists(os.path.join(records, "port0")),
                  "SIGTERM: '0' written to detach, record removed, exit 0",
                  "exit %r, detach %r\n%s" % (rc, read(DETACH), a.out()))
        a.stop()

        # The server goes away: attempts with a growing pause, one line per
        # new reason; when vhci-hcd frees the port (window over): gave up.
        vhci_sessions("1")
        a = Persistent(["-p", "-r", "127.0.0.1", "-b", "1-1"], dport, env_extra=pre)
        attached(a)
        write(SESSION_FILE, "0 active\n")
        a.wait("session agreed")
        usbiptest.stop(d)
        d = None
        write(SESSION_FILE, "0 reconnecting 60000\n")
        ok = a.wait(r"still reconnecting: cannot connect to 127\.0\.0\.1:\d+: Connection "
                    r"refused; next attempt in 0\.2 s \(60 s left\)")
        t0 = time.time()
        ok = ok and a.wait(r"attempt 4: ", 10)
        elapsed = time.time() - t0
        tap.check(ok and a.count("still reconnecting") == 1 and 1.0 <= elapsed <= 4.0,
                  "server gone: one 'still reconnecting' line, attempts 2-4 after 0.2+0.4+0.8 "
                  "s (%.1f s)" % elapsed, a.out())
        write(SESSION_FILE, "")
        set_used({})
        rc = a.exit()
        tap.check(rc == 1 and a.has(r"gave up: the resume window ended before the session "
                                    r"could be resumed \(last attempt: cannot connect") and
                  not os.path.exists(os.path.join(records, "port0")),
                  "port freed while reconnecting: 'gave up: the resume window ended', exit 1",
                  "exit %r\n%s" % (rc, a.out()))
        a.stop()

        # The window runs out (700 ms as vhci-hcd counts it): one line says
        # what the tool waits for; then "usbip detach" while reconnecting
        # is a detach all the same, status 0.
        d, dport = start_session_usbipd(pre)
        vhci_sessions("1")
        a = Persistent(["-p", "-r", "127.0.0.1", "-b", "1-1"], dport, env_extra=pre)
        attached(a)
        write(SESSION_FILE, "0 active\n")
        a.wait("session agreed")
        usbiptest.stop(d)
        d = None
        write(SESSION_FILE, "0 reconnecting 700\n")
        ok = a.wait(r"no time left to reconnect \(last attempt: cannot connect .*Connection "
                    r"refused\); waiting for vhci-hcd to end the session")
        r = run("detach", "-p", "0")
        write(SESSION_FILE, "")
        set_used({})
        rc = a.exit()
        tap.check(ok and r.returncode == 0 and rc == 0 and a.count("no time left") == 1 and
                  a.has("port 0: detached while reconnecting; exiting"),
                  "window over: one 'no time left' line; usbip detach then: exit 0",
                  "exit %r\n%s" % (rc, a.out()))
        a.stop()
    finally:
        if d:
            usbiptest.stop(d)
        fakesysfs.set_session_driver(root, "1-1", None)
else:
    for _ in range(13):
        tap.skip("usbipd or the EBUSY_PRELOAD helper not built")

# usbip port with our vhci-hcd's session file: one more line per session.
vhci_sessions("1")
set_used({0: used_port("2-1", 3, 0x00110002, 3), 2: used_port("1-10", 5, 0x00020005, 4)})
r0 = run("port")
write(SESSION_FILE, "2 reconnecting 1000\n0 active\n")
r = run("port")
want = r0.stdout.replace("remote bus/dev 017/002\n", "remote bus/dev 017/002\n"
                         "       session: active\n").replace(
    "remote bus/dev 002/005\n", "remote bus/dev 002/005\n       session: reconnecting, 1 s left\n")
tap.check(r.returncode == 0 and r.stdout == want and want != r0.stdout,
          "usbip port: a session line under each port with a session, the rest unchanged",
          "--- got\n%s--- want\n%s" % (r.stdout, want))
write(SESSION_FILE, "0 bogus\n")
r = run("port")
tap.check(r.returncode == 0 and r.stdout == r0.stdout,
          "usbip port: a malformed session file shows no session", describe(r))

def drop_root():
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)


open(DETACH, "w").close()
if os.geteuid() == 0:
    os.chmod(tmp, 0o755)
    env = dict(os.environ, USBIP_SYSFS_ROOT=root, USBIP_VHCI_RECORD_DIR=records)
    r = subprocess.run([usbip, "detach", "-p", "0"], capture_output=True, text=True, env=env,
                       preexec_fn=drop_root, timeout=60)
    tap.check(r.returncode == 1 and "Permission denied (are you root?)" in r.stderr and
              read(DETACH) == "", "detach as an unprivileged user: asks 'are you root?'",
              describe(r))
    r = subprocess.run([usbip, "--tcp-port", str(server.port), "attach", "-r", "127.0.0.1",
                        "-b", "1-1"], capture_output=True, text=True, env=env,
                       preexec_fn=drop_root, timeout=60)
    tap.check(r.returncode == 1 and "Permission denied (are you root?)" in r.stderr and
              read(ATTACH) == "" and not os.path.exists(records),
              "attach as an unprivileged user: asks 'are you root?', no record", describe(r))
else:
    os.chmod(DETACH, 0o444)
    r = run("detach", "-p", "0")
    tap.check(r.returncode == 1 and "Permission denied (are you root?)" in r.stderr,
              "detach without write access: asks 'are you root?'", describe(r))

server.close()
if server6:
    server6.close()
shutil.rmtree(tmp, ignore_errors=True)
tap.done()
