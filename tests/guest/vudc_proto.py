#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Scripted USB/IP client against usbip-vudc, speaking the URB protocol raw.

    vudc_proto.py VUDC

VUDC (e.g. usbip-vudc.1) must have a CDC ACM gadget bound (bulk IN on
endpoint 1, see the scenario).  For each connection the script holds both
ends of a ::1 TCP connection and writes the server end to usbip_sockfd.

Checks: GET_DESCRIPTOR(DEVICE) equals the dev_desc file; SET_CONFIGURATION;
GET_STATUS of an endpoint; a pending bulk IN URB unlinked (RET_UNLINK
-ECONNRESET and no RET_SUBMIT); unlink of an unknown seqnum (RET_UNLINK 0);
SET_FEATURE(ENDPOINT_HALT) makes the next bulk IN fail with -EPIPE and
CLEAR_FEATURE(ENDPOINT_HALT) clears it; then bad input (a RET_SUBMIT sent to
the server, an unknown command, a transfer length above the limit, a
duplicate seqnum) each closes the connection and leaves the device
available.  Prints one line per check; exits 1 on the first failure.
"""
import os
import socket
import struct
import sys

from usbip_wire import vudc_status, vudc_status_wait

CMD_SUBMIT, CMD_UNLINK, RET_SUBMIT, RET_UNLINK = 1, 2, 3, 4
DIR_OUT, DIR_IN = 0, 1
EPIPE, ECONNRESET = 32, 104
DEVID = (1 << 16) | 2


def fail(msg):
    print(f"vudc_proto: FAIL {msg}")
    sys.exit(1)


def ok(msg):
    print(f"vudc_proto: ok {msg}")


class Conn:
    def __init__(self, vudc):
        self.vudc = vudc
        lsn = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        lsn.bind(("::1", 0))
        lsn.listen(1)
        self.cli = socket.create_connection(("::1", lsn.getsockname()[1]))
        srv, _ = lsn.accept()
        lsn.close()
        fd = os.open(f"/sys/devices/platform/{vudc}/usbip_sockfd", os.O_WRONLY)
        try:
            os.write(fd, f"{srv.fileno()}".encode())
        finally:
            os.close(fd)
        srv.close()
        self.cli.settimeout(30)
        self.seq = 0

    def submit(self, ep, direction, length, setup=b"\0" * 8, data=b"", flags=0):
        self.seq += 1
        hdr = struct.pack(">IIIII", CMD_SUBMIT, self.seq, DEVID, direction, ep)
        hdr += struct.pack(">IiiiI", flags | (0x200 if direction else 0), length, 0, 0, 0)
        hdr += setup
        self.cli.sendall(hdr + data)
        return self.seq

    def unlink(self, seqnum):
        self.seq += 1
        hdr = struct.pack(">IIIII", CMD_UNLINK, self.seq, DEVID, 0, 0)
        hdr += struct.pack(">I", seqnum) + b"\0" * 24
        self.cli.sendall(hdr)
        return self.seq

    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.cli.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def reply(self, direction_in=False):
        """Returns (command, seqnum, status, actual, data)."""
        hdr = self.recv_exact(48)
        cmd, seq, _devid, _dir, _ep = struct.unpack(">IIIII", hdr[:20])
        status, actual = struct.unpack(">ii", hdr[20:28])
        data = b""
        if cmd == RET_SUBMIT and direction_in and actual > 0:
            data = self.recv_exact(actual)
        return cmd, seq, status, actual, data

    def ctrl(self, rtype, req, value, index, length, data=b""):
        setup = struct.pack("<BBHHH", rtype, req, value, index, length)
        din = bool(rtype & 0x80)
        seq = self.submit(0, DIR_IN if din else DIR_OUT, length, setup, data)
        cmd, rseq, status, actual, rdata = self.reply(din)
        if cmd != RET_SUBMIT or rseq != seq:
            fail(f"control {req:#x}: got command {cmd} seqnum {rseq}, want RET_SUBMIT {seq}")
        return status, rdata

    def closed(self):
        """True once the server closed the connection."""
        try:
            while True:
                if not self.cli.recv(4096):
                    return True
        except (ConnectionResetError, EOFError):
            return True
        except socket.timeout:
            return False

    def close(self):
        self.cli.close()


def wait_status(vudc, want, what):
    err = vudc_status_wait(vudc, want)
    if err:
        fail(f"{what}: {err}")


def main():
    vudc = sys.argv[1]
    with open(f"/sys/devices/platform/{vudc}/dev_desc", "rb") as f:
        dev_desc = f.read()
    if len(dev_desc) != 18:
        fail(f"dev_desc has {len(dev_desc)} bytes")

    c = Conn(vudc)
    if vudc_status(vudc) != 2:
        fail("usbip_status is not 2 while a client is connected")
    st, data = c.ctrl(0x80, 6, 0x0100, 0, 64)
    if st or data != dev_desc:
        fail(f"GET_DESCRIPTOR(DEVICE): status {st}, {data.hex()} != dev_desc {dev_desc.hex()}")
    ok("GET_DESCRIPTOR(DEVICE) with wLength 64 returns the 18 bytes of dev_desc")
    st, _ = c.ctrl(0x00, 9, 1, 0, 0)
    if st:
        fail(f"SET_CONFIGURATION 1: status {st}")
    ok("SET_CONFIGURATION 1")
    st, data = c.ctrl(0x82, 0, 0, 0x81, 2)
    if st or data != b"\0\0":
        fail(f"GET_STATUS ep 0x81: status {st} data {data.hex()}")
    ok("GET_STATUS(ep 0x81) = 0")

    # bulk IN on an idle serial port waits; unlink it
    pend = c.submit(1, DIR_IN, 512)
    ul = c.unlink(pend)
    cmd, seq, st, _, _ = c.reply(True)
    if (cmd, seq, st) != (RET_UNLINK, ul, -ECONNRESET):
        fail(f"unlink of a pending bulk IN: got cmd {cmd} seq {seq} status {st}")
    ok("pending bulk IN unlinked: RET_UNLINK -ECONNRESET")
    ul = c.unlink(9999)
    cmd, seq, st, _, _ = c.reply()
    if (cmd, seq, st) != (RET_UNLINK, ul, 0):
        fail(f"unlink of an unknown seqnum: got cmd {cmd} seq {seq} status {st}")
    ok("unlink of an unknown seqnum: RET_UNLINK 0")

    st, _ = c.ctrl(0x02, 3, 0, 0x81, 0)
    if st:
        fail(f"SET_FEATURE(HALT) ep 0x81: status {st}")
    st, data = c.ctrl(0x82, 0, 0, 0x81, 2)
    if st or data != b"\1\0":
        fail(f"GET_STATUS ep 0x81 after SET_FEATURE(HALT): status {st} data {data.hex()}")
    seq = c.submit(1, DIR_IN, 512)
    cmd, rseq, st, _, _ = c.reply(True)
    if (cmd, rseq, st) != (RET_SUBMIT, seq, -EPIPE):
        fail(f"bulk IN on a halted endpoint: cmd {cmd} seq {rseq} status {st}")
    st, _ = c.ctrl(0x02, 1, 0, 0x81, 0)
    st2, data = c.ctrl(0x82, 0, 0, 0x81, 2)
    if st or st2 or data != b"\0\0":
        fail(f"CLEAR_FEATURE(HALT): status {st}/{st2} data {data.hex()}")
    ok("ENDPOINT_HALT: SET_FEATURE stalls bulk IN with -EPIPE, CLEAR_FEATURE clears it")
    c.close()
    wait_status(vudc, 1, "client closed the connection")
    ok("client closed: usbip_status 1")

    bad = [
        ("RET_SUBMIT sent to the server",
         struct.pack(">IIIII", RET_SUBMIT, 1, DEVID, 0, 0) + b"\0" * 28),
        ("unknown command 0x99",
         struct.pack(">IIIII", 0x99, 1, DEVID, 0, 0) + b"\0" * 28),
        ("transfer length above the limit",
         struct.pack(">IIIII", CMD_SUBMIT, 1, DEVID, DIR_IN, 1) +
         struct.pack(">IiiiI", 0x200, 0x7fffffff, 0, 0, 0) + b"\0" * 8),
    ]
    for what, msg in bad:
        c = Conn(vudc)
        c.cli.sendall(msg)
        if not c.closed():
            fail(f"{what}: the server kept the connection")
        c.close()
        wait_status(vudc, 1, what)
        ok(f"bad input ({what}): connection dropped, usbip_status 1")

    c = Conn(vudc)
    c.submit(1, DIR_IN, 512)
    c.seq -= 1
    c.submit(1, DIR_IN, 512)
    if not c.closed():
        fail("duplicate seqnum: the server kept the connection")
    c.close()
    wait_status(vudc, 1, "duplicate seqnum")
    ok("bad input (duplicate seqnum of a pending URB): connection dropped, usbip_status 1")
    print("vudc_proto: PASS")


if __name__ == "__main__":
    main()
