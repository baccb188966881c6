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
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import usbip_wire as w  # noqa: E402

CMD_SUBMIT, RET_SUBMIT, RET_UNLINK = w.CMD_SUBMIT, w.RET_SUBMIT, w.RET_UNLINK
DIR_OUT, DIR_IN = w.DIR_OUT, w.DIR_IN
EPIPE, ECONNRESET = w.EPIPE, w.ECONNRESET
DEVID = (1 << 16) | 2


def fail(msg):
    print(f"vudc_proto: FAIL {msg}")
    sys.exit(1)


def ok(msg):
    print(f"vudc_proto: ok {msg}")


def Conn(vudc):
    """A usbip_wire.Client on a ::1 pair whose server end went to VUDC's
    usbip_sockfd."""
    return w.Client.sockfd(f"/sys/devices/platform/{vudc}/usbip_sockfd", DEVID, timeout=30)


def reply(c):
    """The next answer: (command, seqnum, status, actual, data)."""
    m = c.read_msg()
    return m["cmd"], m["seq"], m["status"], m.get("actual", 0), m["data"]


def ctrl(c, rtype, req, value, index, length, data=b""):
    """A control transfer whose answer must come next: (status, data)."""
    seq = c.submit(0, DIR_IN if rtype & 0x80 else DIR_OUT, length, data,
                   w.setup(rtype, req, value, index, length))
    cmd, rseq, status, _actual, rdata = reply(c)
    if cmd != RET_SUBMIT or rseq != seq:
        fail(f"control {req:#x}: got command {cmd} seqnum {rseq}, want RET_SUBMIT {seq}")
    return status, rdata


def wait_status(vudc, want, what):
    err = w.vudc_status_wait(vudc, want)
    if err:
        fail(f"{what}: {err}")


def main():
    vudc = sys.argv[1]
    with open(f"/sys/devices/platform/{vudc}/dev_desc", "rb") as f:
        dev_desc = f.read()
    if len(dev_desc) != 18:
        fail(f"dev_desc has {len(dev_desc)} bytes")

    c = Conn(vudc)
    if w.vudc_status(vudc) != 2:
        fail("usbip_status is not 2 while a client is connected")
    st, data = ctrl(c, 0x80, 6, 0x0100, 0, 64)
    if st or data != dev_desc:
        fail(f"GET_DESCRIPTOR(DEVICE): status {st}, {data.hex()} != dev_desc {dev_desc.hex()}")
    ok("GET_DESCRIPTOR(DEVICE) with wLength 64 returns the 18 bytes of dev_desc")
    st, _ = ctrl(c, 0x00, 9, 1, 0, 0)
    if st:
        fail(f"SET_CONFIGURATION 1: status {st}")
    ok("SET_CONFIGURATION 1")
    st, data = ctrl(c, 0x82, 0, 0, 0x81, 2)
    if st or data != b"\0\0":
        fail(f"GET_STATUS ep 0x81: status {st} data {data.hex()}")
    ok("GET_STATUS(ep 0x81) = 0")

    # bulk IN on an idle serial port waits; unlink it
    pend = c.submit(1, DIR_IN, 512)
    ul = c.unlink(pend)
    cmd, seq, st, _, _ = reply(c)
    if (cmd, seq, st) != (RET_UNLINK, ul, -ECONNRESET):
        fail(f"unlink of a pending bulk IN: got cmd {cmd} seq {seq} status {st}")
    ok("pending bulk IN unlinked: RET_UNLINK -ECONNRESET")
    ul = c.unlink(9999)
    cmd, seq, st, _, _ = reply(c)
    if (cmd, seq, st) != (RET_UNLINK, ul, 0):
        fail(f"unlink of an unknown seqnum: got cmd {cmd} seq {seq} status {st}")
    ok("unlink of an unknown seqnum: RET_UNLINK 0")

    st, _ = ctrl(c, 0x02, 3, 0, 0x81, 0)
    if st:
        fail(f"SET_FEATURE(HALT) ep 0x81: status {st}")
    st, data = ctrl(c, 0x82, 0, 0, 0x81, 2)
    if st or data != b"\1\0":
        fail(f"GET_STATUS ep 0x81 after SET_FEATURE(HALT): status {st} data {data.hex()}")
    seq = c.submit(1, DIR_IN, 512)
    cmd, rseq, st, _, _ = reply(c)
    if (cmd, rseq, st) != (RET_SUBMIT, seq, -EPIPE):
        fail(f"bulk IN on a halted endpoint: cmd {cmd} seq {rseq} status {st}")
    st, _ = ctrl(c, 0x02, 1, 0, 0x81, 0)
    st2, data = ctrl(c, 0x82, 0, 0, 0x81, 2)
    if st or st2 or data != b"\0\0":
        fail(f"CLEAR_FEATURE(HALT): status {st}/{st2} data {data.hex()}")
    ok("ENDPOINT_HALT: SET_FEATURE stalls bulk IN with -EPIPE, CLEAR_FEATURE clears it")
    c.close()
    wait_status(vudc, 1, "client closed the connection")
    ok("client closed: usbip_status 1")

    bad = [
        ("RET_SUBMIT sent to the server", w.ret_submit(1, devid=DEVID)),
        ("unknown command 0x99", w.raw_header(0x99, 1, DEVID)),
        ("transfer length above the limit",
         w.cmd_submit(1, DEVID, DIR_IN, 1, 0x7fffffff)),
    ]
    for what, msg in bad:
        c = Conn(vudc)
        c.send_raw(msg)
        if not c.closed(30):
            fail(f"{what}: the server kept the connection")
        c.close()
        wait_status(vudc, 1, what)
        ok(f"bad input ({what}): connection dropped, usbip_status 1")

    c = Conn(vudc)
    dup = c.submit(1, DIR_IN, 512)
    c.submit(1, DIR_IN, 512, seq=dup)
    if not c.closed(30):
        fail("duplicate seqnum: the server kept the connection")
    c.close()
    wait_status(vudc, 1, "duplicate seqnum")
    ok("bad input (duplicate seqnum of a pending URB): connection dropped, usbip_status 1")
    print("vudc_proto: PASS")


if __name__ == "__main__":
    main()
