# SPDX-License-Identifier: GPL-2.0
"""The client against hostile servers: "usbip list -r" and "usbip attach"
talk to a scripted server on 127.0.0.1 that answers with oversized counts,
too many interfaces, unterminated or unprintable strings, a record of
another device, impossible speeds, truncated replies, silence and a reply
dribbled byte by byte.  Each case must end in a clear error within the
timeout (USBIP_NET_TIMEOUT_MS, shortened here), with bounded memory, and
nothing attached.  TAP output.  Python 3 standard library only."""

import os
import resource
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakesysfs  # noqa: E402
import usbiptest  # noqa: E402

from usbiptest import REP_DEVLIST, REP_IMPORT, ST_OK, VERSION  # noqa: E402

TIMEOUT_MS = 1500
# A client may use a few MiB for the largest list USB/IP allows; far less
# than what a count taken at its word would cost.
MAX_RSS_KB = 48 * 1024

tap = fakesysfs.Tap()
usbip, = usbiptest.programs("USBIP_BIN")
tmp, root = usbiptest.scratch("usbip-hostile-test.")
VHCI = os.path.join(root, fakesysfs.VHCI)
ATTACH = os.path.join(VHCI, "attach")
DETACH = os.path.join(VHCI, "detach")


def record(busid=b"1-1", path=b"/sys/devices/pci0000:00/0000:00:1d.0/usb1/1-1", busnum=1,
           devnum=2, speed=3, nintf=0, raw_busid=None, raw_path=None):
    """A 312-byte device record; raw_* give the exact field bytes."""
    rec = raw_path if raw_path is not None else path.ljust(256, b"\0")
    rec += raw_busid if raw_busid is not None else busid.ljust(32, b"\0")
    return rec + struct.pack(">IIIHHHBBBBBB", busnum, devnum, speed, 0x0525, 0xa4a5, 0x0100,
                             0, 0, 0, 1, 1, nintf)


def devlist(count, body=b"", status=ST_OK, version=VERSION, code=REP_DEVLIST):
    return struct.pack(">HHII", version, code, status, count) + body


def import_ok(rec):
    return struct.pack(">HHI", VERSION, REP_IMPORT, ST_OK) + rec


class Server:
    """Accepts connections on 127.0.0.1; for each, reads the request and
    plays self.script: a list of (delay in s, bytes) steps, then closes when
    self.close_after, else holds the connection open until the client goes."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.script = []
        self.close_after = True
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c, list(self.script), self.close_after),
                             daemon=True).start()

    @staticmethod
    def serve(c, script, close_after):
        try:
            c.settimeout(30)
            req = c.recv(8)
            if len(req) == 8 and struct.unpack(">H", req[2:4])[0] == 0x8003:
                while len(req) < 40:
                    chunk = c.recv(40 - len(req))
                    if not chunk:
                        break
                    req += chunk
            for delay, data in script:
                time.sleep(delay)
                c.sendall(data)
            if close_after:
                c.shutdown(socket.SHUT_WR)
            while c.recv(4096):
                pass
        except OSError:
            pass
        c.close()


server = Server()


def run(*args):
    """Runs usbip with `args`; returns (status, stdout, stderr, seconds, max RSS in KiB)."""
    env = dict(os.environ, USBIP_SYSFS_ROOT=root, USBIP_NET_TIMEOUT_MS=str(TIMEOUT_MS),
               USBIP_VHCI_RECORD_DIR=os.path.join(tmp, "records"))
    t0 = time.time()
    p = subprocess.Popen([usbip, "--tcp-port", str(server.port)] + list(args),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        out, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    dt = time.time() - t0
    # ru_maxrss of the children waited for so far: usbip runs one at a time
    # and is the largest, so this is its peak.
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return p.returncode, out.decode(errors="replace"), err.decode(errors="replace"), dt, rss


def play(script, close_after=True):
    server.script = script
    server.close_after = close_after


def expect_list_error(script, text, what, close_after=True, max_s=TIMEOUT_MS / 1000 + 3):
    play(script, close_after)
    status, out, err, dt, rss = run("list", "-r", "127.0.0.1")
    tap.check(status == 1 and text in err and "Exportable" not in out and dt < max_s and
              rss < MAX_RSS_KB, "list -r: %s: error '%s' in %.1f s" % (what, text, dt),
              "status %s, %.1f s, rss %d KiB\nstdout: %s\nstderr: %s" %
              (status, dt, rss, out, err))


def reset_vhci():
    fakesysfs.build_vhci(root, 1, 2, 2, None)
    open(ATTACH, "w").close()
    open(DETACH, "w").close()
    shutil.rmtree(os.path.join(tmp, "records"), ignore_errors=True)


def expect_attach_error(script, text, what, busid="1-1", close_after=True,
                        max_s=TIMEOUT_MS / 1000 + 3):
    reset_vhci()
    play(script, close_after)
    status, out, err, dt, rss = run("attach", "-r", "127.0.0.1", "-b", busid)
    attached = usbiptest.read_file(ATTACH)
    tap.check(status == 1 and text in err and attached == "" and out == "" and dt < max_s,
              "attach: %s: error '%s', nothing attached, %.1f s" % (what, text, dt),
              "status %s, %.1f s\nstdout: %s\nstderr: %s\nattach file: %r" %
              (status, dt, out, err, attached))


# usbip list -r
play([(0, devlist(1, record(nintf=1) + b"\x08\x06\x50\x00"))])
status, out, err, dt, rss = run("list", "-r", "127.0.0.1")
tap.check(status == 0 and " 1-1: " in out and "(08/06/50)" in out,
          "list -r: the scripted server's well-formed list is printed", out + err)

expect_list_error([(0, devlist(0xffffffff))], "4294967295 devices",
                  "2^32-1 devices announced, then EOF")
expect_list_error([(0, devlist(4096))], "connection closed by the peer",
                  "4096 devices announced, then EOF")
expect_list_error([(0, devlist(4097))], "4097 devices", "4097 devices announced")
expect_list_error([(0, devlist(1, record(nintf=255)))], "255 interfaces",
                  "a device with 255 interfaces, then EOF")
expect_list_error([(0, devlist(1, record(nintf=33) + b"\0" * 33 * 4))], "33 interfaces",
                  "a device with 33 interfaces, all sent")
expect_list_error([(0, devlist(2, record(nintf=32) + b"\0" * 32 * 4))],
                  "connection closed by the peer", "second device missing")
expect_list_error([(0, devlist(1, record(raw_busid=b"x" * 32)))], "not NUL-terminated",
                  "unterminated bus id")
expect_list_error([(0, devlist(1, record(raw_path=b"p" * 256)))], "not NUL-terminated",
                  "unterminated path")
expect_list_error([(0, devlist(1, record(path=b"/sys/\x1b[2J")))], "invalid byte 0x1b",
                  "escape sequence in the path")
expect_list_error([(0, devlist(1, record(busid=b"1-1/../x")))], "invalid byte",
                  "bus id with a slash")
expect_list_error([(0, devlist(1, record(busnum=0x10000)))], "out of range",
                  "bus number beyond 16 bits")
expect_list_error([(0, struct.pack(">HHI", VERSION, REP_DEVLIST, 1))], "refused",
                  "status 1: refused")
expect_list_error([(0, devlist(0, version=0x0106))], "version 0x0106", "wrong version")
expect_list_error([(0, devlist(0, code=REP_IMPORT))], "unexpected op code", "wrong code")
expect_list_error([(0, devlist(0)[:6])], "connection closed by the peer", "truncated header")
expect_list_error([(0, devlist(1)[:8])], "no complete reply within",
                  "header, then silence (connection held open)", close_after=False)
expect_list_error([(0, b"")], "no complete reply within", "no reply at all", close_after=False)
trickle = devlist(1, record())
expect_list_error([(0, trickle[:12])] + [(0.05, trickle[i:i + 1]) for i in range(12, 200)],
                  "no complete reply within", "a reply dribbled one byte per 50 ms",
                  close_after=False)

# The largest list the limits allow is still read: 4096 devices of 32
# interfaces each (1.8 MB), within the memory bound.
big = b"".join(record(busid=b"%d-%d" % (1 + i // 100, 1 + i % 100), devnum=1 + i % 100,
                      nintf=32) + b"\xff\x00\x00\x00" * 32 for i in range(4096))
play([(0, devlist(4096, big))])
status, out, err, dt, rss = run("list", "-r", "127.0.0.1")
tap.check(status == 0 and out.count("(ff/00/00)") == 4096 * 32 and rss < MAX_RSS_KB,
          "list -r: the largest list allowed (4096 devices x 32 interfaces) is read "
          "(%.1f s, rss %d KiB)" % (dt, rss), "status %s\n%s" % (status, err[-2000:]))

# usbip attach
reset_vhci()
play([(0, import_ok(record()))])
status, out, err, dt, rss = run("attach", "-r", "127.0.0.1", "-b", "1-1")
tap.check(status == 0 and "attached" in out, "attach: a well-formed import is attached",
          out + err)

expect_attach_error([(0, import_ok(record(speed=99)))], "speed 99", "speed 99")
expect_attach_error([(0, import_ok(record(speed=0)))], "speed 0", "speed 0 (unknown)")
expect_attach_error([(0, import_ok(record(speed=4)))], "speed 4", "speed 4 (wireless)")
expect_attach_error([(0, import_ok(record(busid=b"1-2")))], "instead of \"1-1\"",
                    "record of another device")
expect_attach_error([(0, import_ok(record(raw_busid=b"1-1".ljust(32, b"x"))))],
                    "not NUL-terminated", "unterminated bus id")
expect_attach_error([(0, import_ok(record(devnum=0x10000)))], "out of range",
                    "device number beyond 16 bits")
expect_attach_error([(0, import_ok(record())[:100])], "connection closed by the peer",
                    "record cut short")
expect_attach_error([(0, import_ok(b"")[:8])], "no complete reply within",
                    "header, then silence (connection held open)", close_after=False)
rep = import_ok(record())
expect_attach_error([(0, rep[:8])] + [(0.05, rep[i:i + 1]) for i in range(8, 100)],
                    "no complete reply within", "a reply dribbled one byte per 50 ms",
                    close_after=False)
expect_attach_error([(0, struct.pack(">HHI", VERSION, REP_IMPORT, 77))], "refused",
                    "unknown status 77: refused")


# Protocol extensions (Documentation/usb/usbip_ext.rst): an answer in the
# record's bus id tail announces an extension block after the record.
def answer(version=1, caps=0, window=0, flags=1):
    return b"1-1".ljust(20, b"\0") + b"UIPX" + bytes([version, flags]) + \
        struct.pack(">HI", window, caps)


def block(version=1, caps=0, length=48, magic=b"UIPX"):
    return (magic + bytes([version, 0]) + struct.pack(">HI", length, caps) + b"\x5a" * 16 +
            struct.pack(">III", 0, 0, 0)).ljust(length, b"\0")


for blk, what in ((block(), "version 1 block"),
                  (block(length=100), "a longer block (a later version's fields ignored)")):
    reset_vhci()
    play([(0, import_ok(record(raw_busid=answer())) + blk)], close_after=False)
    status, out, err, dt, rss = run("--debug", "attach", "-r", "127.0.0.1", "-b", "1-1")
    tap.check(status == 0 and "attached" in out and "extension version 1" in err,
              "attach: answer + %s: attached, extension version 1" % what, out + err)
reset_vhci()
play([(0, import_ok(record()))], close_after=False)
status, out, err, dt, rss = run("--debug", "attach", "-r", "127.0.0.1", "-b", "1-1")
tap.check(status == 0 and "attached" in out and "plain USB/IP" in err,
          "attach: no answer: attached as plain, nothing more read", out + err)
# A server that echoes the request's bus id field sends our hello back,
# without the answer flag: a plain reply, nothing more is read.
reset_vhci()
play([(0, import_ok(record(raw_busid=answer(flags=0))))], close_after=False)
status, out, err, dt, rss = run("--debug", "attach", "-r", "127.0.0.1", "-b", "1-1")
tap.check(status == 0 and "attached" in out and "plain USB/IP" in err and dt < 5,
          "attach: our hello echoed back: attached as plain at once (%.1f s)" % dt, out + err)
expect_attach_error([(0, import_ok(record(raw_busid=answer())))], "connection closed by the peer",
                    "answer without its block")
expect_attach_error([(0, import_ok(record(raw_busid=answer())) + block(magic=b"UIPY"))],
                    "does not start with its magic", "block with a wrong magic")
expect_attach_error([(0, import_ok(record(raw_busid=answer())) + block()[:6] +
                      struct.pack(">H", 2000) + block()[8:])],
                    "2000 bytes, outside 48 to 1024", "block length 2000")
expect_attach_error([(0, import_ok(record(raw_busid=answer())) + block()[:6] +
                      struct.pack(">H", 47) + block()[8:])],
                    "47 bytes, outside 48 to 1024", "block length 47")
expect_attach_error([(0, import_ok(record(raw_busid=answer(caps=1))) + block(caps=1))],
                    "not offered", "capabilities that were not offered")
expect_attach_error([(0, import_ok(record(raw_busid=answer(version=2))) + block(version=2))],
                    "extension version 2", "a version above ours")
expect_attach_error([(0, import_ok(record(raw_busid=answer())) + block(caps=1))],
                    "contradicts the answer", "block contradicts the answer")
expect_attach_error([(0, import_ok(record(raw_busid=answer())) + block()[:30])],
                    "no complete reply within", "block cut short, connection held open",
                    close_after=False)

server.sock.close()
shutil.rmtree(tmp, ignore_errors=True)
tap.done()
