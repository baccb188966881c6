#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Sessions of a server device (usbip-host or usbip-vudc), raw client.

    session_server.py DEVDIR BUFLEN

DEVDIR is the sysfs directory of the exported device, the one with
usbip_sockfd, usbip_status and usbip_session (/sys/bus/usb/devices/BUSID
or /sys/devices/platform/usbip-vudc.N).  The device is a Loopback gadget
(usb_f_ss_lb) whose bulk_buflen is BUFLEN: the data of each OUT request
comes back once, as one request, on its bulk IN endpoint, in order.  Every
OUT payload here is numbered, random and of an odd length (so a short
packet ends each request), and every IN must bring back the next payload
sent: an OUT that ran twice, or an IN lost or answered twice, shows as a
payload out of order, and usbip_wire.SessionClient refuses a second answer
for any seqnum.  The client speaks the session itself (usbip_ext.rst,
"Sessions"): it counts commands and answers, keeps each command until its
answer, cuts links with an RST and resumes on a new ::1 connection.

  a) normal session: round trips; the journal (usbip_session) holds the
     answers until EXT_ACK, shrinks with a partial one, empties with the
     rest; PING gets EXT_ACK_REP counting every command sent.
  b) RST cuts, each followed by a resume: after an OUT before its answer
     (3 times), with an IN pending, in the middle of an OUT payload (not
     counted, sent again), after answers arrived but before they were
     acknowledged, after answers were sent but before they were read (sent
     again), right after 16 OUT/IN pairs were sent (3 times: the server
     is still reading commands and sending answers), and resumes that replace a connection still up (idle, OUT in
     flight, IN pending), and resumes whose connections close (FIN)
     before EXT_RESUME: the session stays resumable with whichever token
     the client's tools hold (see cut_handshake()).  While cut: usbip_session "resumable
     left_ms=...", usbip_status 2.  A wrong token and the old token after
     a resume with new= are refused (EACCES) in between.  An orderly close
     then ends the session.
  c) refusals: resume with no session (ESTALE), or on a plain connection
     (ESTALE); EXT_ACK ahead of the answers sent, behind an earlier one, or
     with an unknown flag: connection closed, session ended, device
     available again; a session message on a plain connection: closed.
  d) window expiry: cut with window=1500 and an IN pending; usbip_status
     goes back to 1 and usbip_session to "none" after the window, not
     before; the token is then stale; a plain connection works.

Prints one line per check and "session_server: PASS"; exits 1 on the
first failure.
"""
import errno
import os
import random
import socket
import struct
import sys
import time

import usbip_wire as w

NAME = "session_server"
WINDOW = 60000
SHORT_WINDOW = 1500
TIMEOUT = 30 * w.TIME_SCALE


def fail(msg):
    print(f"{NAME}: FAIL {msg}", flush=True)
    sys.exit(1)


def ok(msg):
    print(f"{NAME}: ok {msg}", flush=True)


class Dev:
    """The exported device's sysfs attributes."""

    def __init__(self, path):
        self.path = path
        self.sockfd = path + "/usbip_sockfd"
        if os.path.exists(path + "/busnum"):        # usbip-host checks the devid
            self.devid = int(self.read("busnum")) << 16 | int(self.read("devnum"))
        else:
            self.devid = (1 << 16) | 2

    def read(self, name):
        with open(f"{self.path}/{name}") as f:
            return f.read().strip()

    def status(self):
        return int(self.read("usbip_status"))

    def session(self):
        return self.read("usbip_session")

    def journal(self):
        s = self.session()
        if not s.startswith("active journal="):
            fail(f"usbip_session is '{s}', want 'active journal=BYTES'")
        return int(s.split("=", 1)[1])

    def wait(self, what, cond, secs=30):
        """Polls cond() until true; fails after secs (times TIME_SCALE)."""
        end = time.monotonic() + secs * w.TIME_SCALE
        while not cond():
            if time.monotonic() > end:
                fail(f"timed out waiting for {what}: usbip_status {self.status()}, "
                     f"usbip_session '{self.session()}'")
            time.sleep(0.02)

    def available(self, what):
        self.wait(f"the device available after {what}",
                  lambda: self.status() == 1 and self.session() == "none")

    def resume_errno(self, token):
        """errno of a resume write that must be refused."""
        cli, srv = w.loopback_pair()
        try:
            w.resume_write(self.sockfd, srv.fileno(), token)
        except OSError as e:
            return e.errno
        finally:
            cli.close()
            srv.close()
        fail("a resume that should have been refused was accepted")
        return 0


class Loop:
    """The Loopback gadget through one client: numbered OUT payloads, each
    expected back once, in order, on bulk IN."""

    def __init__(self, c, buflen):
        self.c, self.buflen, self.n = c, buflen, 0
        m = c.ctrl(0x80, 6, 0x0200, 0, 1024)
        if m["status"]:
            fail(f"GET_DESCRIPTOR(CONFIG): status {m['status']}")
        eps = {}
        for e in w.endpoints(m["data"]):
            if e["type"] == w.EP_BULK:
                eps.setdefault("in" if e["addr"] & 0x80 else "out", e["addr"] & 0x0f)
        if len(eps) != 2:
            fail(f"no bulk IN and OUT endpoints in {m['data'].hex()}")
        self.ep_in, self.ep_out = eps["in"], eps["out"]
        m = c.ctrl(0x00, 9, 1, 0, 0)
        if m["status"]:
            fail(f"SET_CONFIGURATION 1: status {m['status']}")

    def payload(self, big=False):
        self.n += 1
        size = self.buflen - 1 if big else random.randrange(65, self.buflen, 2)
        return struct.pack(">I", self.n) + os.urandom(size - 4)

    def out(self, p, **kw):
        return self.c.submit(self.ep_out, w.DIR_OUT, len(p), p, **kw)

    def in_(self):
        return self.c.submit(self.ep_in, w.DIR_IN, self.buflen)

    def check_out(self, seq, p):
        m = self.c.wait(seq)
        if m["cmd"] != w.RET_SUBMIT or m["status"] or m["actual"] != len(p):
            fail(f"OUT #{struct.unpack('>I', p[:4])[0]} (seqnum {seq}): command {m['cmd']} "
                 f"status {m.get('status')} actual {m.get('actual')}, want {len(p)}")

    def check_in(self, seq, p):
        m = self.c.wait(seq)
        want = struct.unpack(">I", p[:4])[0]
        if m["cmd"] != w.RET_SUBMIT or m["status"]:
            fail(f"IN seqnum {seq}: command {m['cmd']} status {m.get('status')}")
        if m["data"] != p:
            got = struct.unpack(">I", m["data"][:4])[0] if len(m["data"]) >= 4 else None
            fail(f"IN seqnum {seq} brought back payload #{got} ({len(m['data'])} bytes), "
                 f"want #{want} ({len(p)} bytes): an OUT ran twice or an IN was lost")

    def roundtrip(self, k=1):
        ps = [self.payload() for _ in range(k)]
        outs = [self.out(p) for p in ps]
        ins = [self.in_() for _ in ps]
        for q, p in zip(outs, ps):
            self.check_out(q, p)
        for q, p in zip(ins, ps):
            self.check_in(q, p)


def new_session(dev, buflen, window=WINDOW, token=None):
    c = w.SessionClient.session(dev.sockfd, dev.devid, token, window, timeout=TIMEOUT)
    if dev.status() != 2:
        fail(f"usbip_status {dev.status()} after a session started, want 2")
    return c, Loop(c, buflen)


# ------------------------------------------------------------------ a)

def normal(dev, buflen):
    c, lp = new_session(dev, buflen)
    dev.journal()
    for k in (1, 4, 2):
        lp.roundtrip(k)
    ok(f"session: {lp.n} OUT/IN round trips, data back in order")
    j0 = dev.journal()
    if j0 <= 0:
        fail(f"journal {j0} with {c.answers} answers not acknowledged")
    a = c.answers
    c.ack(count=a - 2)
    cmds = c.ping(count=a - 2)
    j1 = dev.journal()
    if not 0 < j1 < j0:
        fail(f"journal {j0} -> {j1} after EXT_ACK of {a - 2} of {a} answers")
    cmds = c.ping()
    j2 = dev.journal()
    if j2 != 0:
        fail(f"journal {j2} after EXT_ACK of every answer")
    if cmds != c.cmds:
        fail(f"EXT_ACK_REP counts {cmds} commands, {c.cmds} were sent")
    ok(f"journal {j0} -> {j1} (EXT_ACK {a - 2}/{a}) -> 0 (EXT_ACK {a}); "
       f"PING: EXT_ACK_REP counts {cmds} commands = sent")
    return c, lp


# ------------------------------------------------------------------ b)

def suspended(dev, what, window=WINDOW):
    """Waits until the cut suspended the session; checks what sysfs says."""
    end = time.monotonic() + 30 * w.TIME_SCALE
    while not dev.session().startswith("resumable"):
        if dev.status() == 1:
            fail(f"{what} ended the session (usbip_status 1), want it suspended")
        if time.monotonic() > end:
            fail(f"{what}: usbip_session '{dev.session()}' after 30 s, want resumable")
        time.sleep(0.02)
    s = dev.session()
    try:
        left = int(s.split("left_ms=", 1)[1])
    except (IndexError, ValueError):
        left = -1
    if not 0 < left <= window:
        fail(f"usbip_session '{s}' after {what}, window {window}")
    if dev.status() != 2:
        fail(f"usbip_status {dev.status()} while the session is suspended, want 2")
    return left


def resume(c, what, new=None):
    try:
        cmds, n = c.resume(new=new)
    except OSError as e:
        fail(f"resume after {what}: {os.strerror(e.errno)}")
    return cmds, n


def expect(cond, what):
    if not cond:
        fail(what)


def cut_after_out(dev, c, lp, i):
    what = f"an RST after an OUT before its answer ({i})"
    p = lp.payload()
    q = lp.out(p)
    c.rst()
    suspended(dev, what)
    cmds, n = resume(c, what)
    counted = cmds == c.cmds
    expect(counted or (cmds == c.cmds - 1 and c.resent == [q] and n == 0),
           f"{what}: EXT_RESUME_REP counts {cmds} of {c.cmds} commands, {n} answers "
           f"again, resent {c.resent}")
    expect(not counted or (c.resent == [] and n in (0, 1)),
           f"{what}: counted, but {n} answers again and resent {c.resent}")
    lp.check_out(q, p)
    lp.check_in(lp.in_(), p)
    ok(f"{what}: server had {'counted' if counted else 'not counted'} it, "
       f"{n} answer(s) again; OUT answered once, data back once")


def cut_in_pending(dev, c, lp):
    what = "an RST with an IN pending"
    i = lp.in_()
    expect(c.ping() == c.cmds, f"{what}: the IN did not reach the server")
    c.rst()
    left = suspended(dev, what)
    e = dev.resume_errno(os.urandom(w.TOKEN_LEN))
    expect(e == errno.EACCES, f"resume with a wrong token: {os.strerror(e)}, want EACCES")
    ok(f"while cut: usbip_session 'resumable left_ms={left}', usbip_status 2; "
       "a wrong token is refused (EACCES)")
    cmds, n = resume(c, what)
    expect(cmds == c.cmds and n == 0 and c.resent == [],
           f"{what}: EXT_RESUME_REP {cmds}/{c.cmds} commands, {n} answers again, "
           f"resent {c.resent}")
    p = lp.payload()
    q = lp.out(p)
    lp.check_out(q, p)
    lp.check_in(i, p)
    ok(f"{what}: resumed; the IN completes once, with the OUT sent after the resume")


def cut_mid_payload(dev, c, lp):
    what = "an RST in the middle of an OUT payload"
    c.ping()
    p = lp.payload(big=True)
    q, raw = lp.out(p, send=False)
    c.send_cmd(q, raw, w.DIR_OUT, cut=w.HDR_LEN + len(p) // 2)
    c.rst()
    suspended(dev, what)
    new = os.urandom(w.TOKEN_LEN)
    old = c.token
    cmds, n = resume(c, what, new=new)
    expect(cmds == c.cmds - 1 and c.resent == [q] and n == 0,
           f"{what}: EXT_RESUME_REP {cmds}/{c.cmds} commands, {n} answers again, "
           f"resent {c.resent}, want the cut OUT not counted and sent again")
    lp.check_out(q, p)
    lp.check_in(lp.in_(), p)
    ok(f"{what} ({len(p) // 2} of {len(p)} bytes): not counted, sent again whole "
       "(resume with new=), data back once")
    return old


def cut_after_answers(dev, c, lp, old_token):
    what = "an RST after answers arrived, before EXT_ACK"
    lp.roundtrip(2)
    j = dev.journal()
    expect(j > 0, f"{what}: journal {j} before the cut")
    c.rst()
    suspended(dev, what)
    e = dev.resume_errno(old_token)
    expect(e == errno.EACCES,
           f"resume with the token replaced by new=: {os.strerror(e)}, want EACCES")
    ok("the token replaced by new= is refused (EACCES)")
    cmds, n = resume(c, what)
    expect(cmds == c.cmds and n == 0 and c.resent == [],
           f"{what}: EXT_RESUME_REP {cmds}/{c.cmds} commands, {n} answers again, "
           f"resent {c.resent}")
    lp.roundtrip(1)
    ok(f"{what} (journal {j}): nothing sent again either way, data in order")


def wait_buffered(c, want):
    """Waits until want bytes wait unread in the client's socket."""
    end = time.monotonic() + TIMEOUT
    while len(c.s.recv(want, socket.MSG_PEEK)) < want:
        if time.monotonic() > end:
            fail(f"fewer than {want} bytes of answers arrived")
        time.sleep(0.01)


def cut_answers_unread(dev, c, lp):
    what = "an RST after answers were sent, before they were read"
    p = lp.payload()
    q = lp.out(p)
    i = lp.in_()
    wait_buffered(c, 2 * w.HDR_LEN + len(p))
    c.rst()
    suspended(dev, what)
    cmds, n = resume(c, what)
    expect(cmds == c.cmds and n == 2 and c.resent == [],
           f"{what}: EXT_RESUME_REP {cmds}/{c.cmds} commands, {n} answers again "
           f"(want 2), resent {c.resent}")
    lp.check_out(q, p)
    lp.check_in(i, p)
    ok(f"{what}: both answers sent again, once")


def cut_burst(dev, c, lp, i, n_urbs=16):
    what = f"an RST while {n_urbs} OUT/IN pairs are under way ({i})"
    ps = [lp.payload(big=True) for _ in range(n_urbs)]
    outs = [lp.out(p) for p in ps]
    ins = [lp.in_() for _ in ps]
    c.rst()
    suspended(dev, what)
    cmds, n = resume(c, what)
    for q, p in zip(outs, ps):
        lp.check_out(q, p)
    for q, p in zip(ins, ps):
        lp.check_in(q, p)
    ok(f"{what}: {n} answers again, {len(c.resent)} commands sent again; "
       "every URB answered once, data in order")


def replace_live(dev, c, lp, where):
    what = f"a resume while the old connection is up ({where})"
    p = q = i = None
    if where == "OUT in flight":
        p = lp.payload()
        q = lp.out(p)
    elif where == "IN pending":
        i = lp.in_()
        c.ping()
    cmds, n = resume(c, what)
    old, c.prev = c.prev, None
    expect(old is not None, f"{what}: the old socket was already closed")
    expect(w.wait_closed(old, TIMEOUT), f"{what}: the server kept the old connection")
    old.close()
    expect(c.resent == [] or (where == "OUT in flight" and c.resent == [q]),
           f"{what}: EXT_RESUME_REP {cmds}/{c.cmds} commands, resent {c.resent}")
    if where == "OUT in flight":
        lp.check_out(q, p)
        lp.check_in(lp.in_(), p)
    elif where == "IN pending":
        p = lp.payload()
        lp.check_out(lp.out(p), p)
        lp.check_in(i, p)
    lp.roundtrip(1)
    ok(f"{what}: old one closed by the server, {n} answer(s) again, data in order")


def failed_attempt(dev, what, token):
    """A resume the link cuts before the client's driver spoke: its
    connection closes (with a FIN) before EXT_RESUME.  Returns the new
    token the server drew (which the client's tools may or may not have
    read)."""
    cli, srv = w.loopback_pair()
    try:
        new = w.resume_write(dev.sockfd, srv.fileno(), token)
    except OSError as e:
        fail(f"{what}: refused: {os.strerror(e.errno)}")
    finally:
        srv.close()
    cli.close()  # a FIN, and nothing sent
    suspended(dev, what)
    return new


def cut_handshake(dev, c, lp):
    """The link fails again during resumes, before the client's driver
    spoke.  The session must stay resumable with the token the client's
    tools hold, whether or not they read the reply: A with the token of
    before (reply not read), B with it again (reply read: the tools now
    hold its new token), C with B's token (reply not read).  Then the
    oldest token is refused and B's token resumes."""
    what = "resumes whose connections close before EXT_RESUME"
    p = lp.payload()
    q = lp.out(p)
    c.rst()
    suspended(dev, what)
    old = c.token
    failed_attempt(dev, what + " (A, the token of before)", old)
    held = failed_attempt(dev, what + " (B, the token of before again)", old)
    failed_attempt(dev, what + " (C, B's new token)", held)
    e = dev.resume_errno(old)
    expect(e == errno.EACCES,
           f"{what}: the token of before after a resume with a newer one: "
           f"{os.strerror(e)}, want EACCES")
    c.token = held
    cmds, n = resume(c, what + ", then a resume with B's token")
    expect(c.resent == [] or c.resent == [q],
           f"{what}: EXT_RESUME_REP {cmds}/{c.cmds} commands, resent {c.resent}")
    lp.check_out(q, p)
    lp.check_in(lp.in_(), p)
    lp.roundtrip(1)
    ok(f"{what}: still resumable with the token the client held each time, the oldest "
       f"refused once a newer one was proven; data in order")


def cuts(dev, c, lp):
    for i in (1, 2, 3):
        cut_after_out(dev, c, lp, i)
    cut_in_pending(dev, c, lp)
    old = cut_mid_payload(dev, c, lp)
    cut_after_answers(dev, c, lp, old)
    cut_answers_unread(dev, c, lp)
    for i in (1, 2, 3):
        cut_burst(dev, c, lp, i)
    for where in ("idle", "OUT in flight", "IN pending"):
        replace_live(dev, c, lp, where)
    cut_handshake(dev, c, lp)
    cmds = c.ping()
    expect(cmds == c.cmds and not c.unanswered and not c.early,
           f"at the end: EXT_ACK_REP {cmds}/{c.cmds}, unanswered {list(c.unanswered)}, "
           f"unclaimed answers {list(c.early)}")
    lp.roundtrip(1)
    ok(f"after the cuts: {c.cmds} commands, {c.answers} answers, each URB answered once, "
       f"{lp.n} payloads back in order")
    c.close()
    dev.available("an orderly close of a session")
    ok("orderly close: session ended, usbip_status 1, usbip_session 'none'")


# ------------------------------------------------------------------ c)

def closed_for(dev, c, what):
    expect(c.closed(TIMEOUT), f"{what}: the server kept the connection")
    c.close()
    dev.available(what)


def refusals(dev, buflen):
    e = dev.resume_errno(os.urandom(w.TOKEN_LEN))
    expect(e == errno.ESTALE, f"resume with no session: {os.strerror(e)}, want ESTALE")
    ok("resume with no session: ESTALE")

    c, lp = new_session(dev, buflen)
    lp.roundtrip(1)
    c.ack(count=c.answers + 1)
    closed_for(dev, c, "EXT_ACK ahead of the answers sent")
    e = dev.resume_errno(c.token)
    expect(e == errno.ESTALE, f"resume after a protocol error: {os.strerror(e)}, want ESTALE")
    ok("EXT_ACK ahead of the answers sent: closed, session ended (ESTALE), status 1")

    c, lp = new_session(dev, buflen)
    lp.roundtrip(2)
    c.ping()
    c.ack(count=c.answers - 1)
    closed_for(dev, c, "EXT_ACK behind an earlier one")
    ok("EXT_ACK behind an earlier one: closed, status 1")

    c, lp = new_session(dev, buflen)
    lp.roundtrip(1)
    c.send_raw(w.ext_ack(c.answers, flags=2))
    closed_for(dev, c, "EXT_ACK with an unknown flag")
    ok("EXT_ACK with an unknown flag: closed, status 1")

    c = w.Client.sockfd(dev.sockfd, dev.devid, timeout=TIMEOUT)
    lp = Loop(c, buflen)
    lp.roundtrip(1)
    expect(dev.session() == "none", f"usbip_session '{dev.session()}' on a plain connection")
    e = dev.resume_errno(os.urandom(w.TOKEN_LEN))
    expect(e == errno.ESTALE, f"resume on a plain connection: {os.strerror(e)}, want ESTALE")
    lp.roundtrip(1)
    c.send_raw(w.ext_ack(0))
    closed_for(dev, c, "EXT_ACK on a plain connection")
    ok("plain connection: usbip_session 'none', resume ESTALE, EXT_ACK closes it, status 1")


# ------------------------------------------------------------------ d)

def expiry(dev, buflen):
    c, lp = new_session(dev, buflen, window=SHORT_WINDOW)
    lp.roundtrip(1)
    lp.in_()
    c.ping()
    t0 = time.monotonic()
    c.rst()
    left = suspended(dev, "an RST", SHORT_WINDOW)
    while True:
        s, st = dev.session(), dev.status()
        if s.startswith("resumable") and st != 2:
            fail(f"usbip_status {st} while usbip_session is '{s}'")
        if st == 1 and s == "none":
            break
        if time.monotonic() - t0 > 30 * w.TIME_SCALE:
            fail(f"window of {SHORT_WINDOW} ms: still usbip_status {st}, '{s}' after 30 s")
        time.sleep(0.02)
    took = time.monotonic() - t0
    expect(took >= SHORT_WINDOW / 1000 - 0.1,
           f"the session ended {took:.2f} s after the cut, window {SHORT_WINDOW} ms")
    e = dev.resume_errno(c.token)
    expect(e == errno.ESTALE, f"resume after the window: {os.strerror(e)}, want ESTALE")
    ok(f"window {SHORT_WINDOW} ms (left_ms={left} at first look): session ended "
       f"{took:.2f} s after the cut, status 1, 'none', token stale (ESTALE)")
    c = w.Client.sockfd(dev.sockfd, dev.devid, timeout=TIMEOUT)
    lp = Loop(c, buflen)
    lp.roundtrip(3)
    c.close()
    dev.available("a plain connection closed")
    ok("a plain connection after the window: round trips, then available")


def main():
    dev, buflen = Dev(sys.argv[1]), int(sys.argv[2])
    if dev.read("usbip_ext_caps") != "1":
        fail(f"usbip_ext_caps is '{dev.read('usbip_ext_caps')}', want 1")
    if dev.status() != 1 or dev.session() != "none":
        fail(f"not available at the start: {dev.status()}, '{dev.session()}'")
    ok(f"{dev.path}: usbip_ext_caps 1, available, devid {dev.devid:#x}")
    c, lp = normal(dev, buflen)
    cuts(dev, c, lp)
    refusals(dev, buflen)
    expiry(dev, buflen)
    print(f"{NAME}: PASS", flush=True)


if __name__ == "__main__":
    try:
        main()
    except (OSError, EOFError, RuntimeError) as e:   # a timeout, a closed link, a bad answer
        fail(f"{type(e).__name__}: {e}")
