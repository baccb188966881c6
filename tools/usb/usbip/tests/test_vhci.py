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
import socket
import struct
import subprocess
import sys
import threading

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
