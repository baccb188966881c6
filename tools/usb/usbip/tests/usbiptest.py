# SPDX-License-Identifier: GPL-2.0
"""Helpers shared by the Python tests: the programs under test, a scratch
directory holding the fake sysfs tree, usbipd started on a free local port
and stopped again, and USB/IP management requests sent to it.  Python 3
standard library only."""

import os
import socket
import struct
import subprocess
import sys
import tempfile
import time

import fakesysfs

VERSION = 0x0111
REQ_DEVLIST, REP_DEVLIST = 0x8005, 0x0005
REQ_IMPORT, REP_IMPORT = 0x8003, 0x0003
REQ_RESUME, REP_RESUME = 0x8010, 0x0010
ST_OK, ST_NA, ST_BUSY, ST_DEV_ERR, ST_NODEV = 0, 1, 2, 3, 4


def programs(*names):
    """The paths named by the environment variables `names` (USBIP_BIN,
    USBIPD_BIN), in that order; bails out (exit 99) when one is unset or not
    executable."""
    paths = [os.environ.get(n) for n in names]
    if not all(p and os.access(p, os.X_OK) for p in paths):
        print("Bail out! %s is not set or not executable" % " or ".join(names))
        sys.exit(99)
    return paths


def scratch(prefix):
    """A new temporary directory with the fake sysfs tree built in its sys/:
    returns (directory, sysfs root)."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    root = os.path.join(tmp, "sys")
    os.mkdir(root)
    fakesysfs.build(root)
    return tmp, root


def read_file(path):
    """The text of a file, None when it cannot be read."""
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_usbipd(argv, port, env, logpath, wait=10):
    """Runs the usbipd command line `argv` with its output appended to
    `logpath`, and waits up to `wait` seconds until it accepts connections
    on 127.0.0.1:`port` or exits.  Returns the process."""
    log = open(logpath, "a")
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
    log.close()
    end = time.time() + wait
    while time.time() < end and p.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    return p


def stop(p):
    """SIGTERM, then SIGKILL after 5 s."""
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def connect(port, family=socket.AF_INET, host="127.0.0.1"):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect((host, port))
    return s


def recv_all(s, limit=1 << 20):
    """Everything until EOF (or a 5 s timeout, which raises)."""
    data = b""
    while len(data) < limit:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def request(port, payload):
    """Sends `payload` to 127.0.0.1:`port`; returns all of the answer."""
    s = connect(port)
    s.sendall(payload)
    data = recv_all(s)
    s.close()
    return data


def devlist_req():
    return struct.pack(">HHI", VERSION, REQ_DEVLIST, 0)


def import_req(busid):
    """OP_REQ_IMPORT for `busid` (str or bytes), NUL-padded to 32 bytes."""
    if isinstance(busid, str):
        busid = busid.encode()
    return struct.pack(">HHI", VERSION, REQ_IMPORT, 0) + busid.ljust(32, b"\0")


def list_remote_twice(usbip, port, deb="/usr/sbin/usbip"):
    """"usbip list -r 127.0.0.1" by `usbip` and by Debian's `deb`: the two
    results, or None when Debian's is not installed."""
    if not os.access(deb, os.X_OK):
        return None
    return [subprocess.run([prog, "--tcp-port", str(port), "list", "-r", "127.0.0.1"],
                           capture_output=True, text=True) for prog in (usbip, deb)]
