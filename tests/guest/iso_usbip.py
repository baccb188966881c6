# SPDX-License-Identifier: GPL-2.0
"""Isochronous OUT through usbip-host to QEMU's usb-audio, checked in its wav file.

  iso_usbip.py pattern SEED NBYTES OUT
      NBYTES (a multiple of 4) of seeded random audio with no all-zero
      4-byte frame, so silence a player inserts can be told apart.
  iso_usbip.py wavwait WAV EXPECT NEED SECS
      Waits until the data of WAV, with every all-zero frame removed, holds
      at least NEED bytes, and checks that it is exactly a prefix of the
      file EXPECT (nothing lost, altered, reordered or added but silence).
  iso_usbip.py wavpackets WAV EXPECT NEED SECS MAXLOSTPCT
      Like wavwait for a player that does not learn which packets the host
      controller failed to deliver (snd-usb-audio): the non-silent data must
      be whole 192-byte packets of EXPECT in increasing order up to the
      packet at NEED; at most MAXLOSTPCT per cent of them may be missing.
  iso_usbip.py sockfd BUSID free|busy
      Writes to usbip_sockfd what it must refuse (free: UDP, unconnected
      TCP and unix sockets, a file, a closed fd, -5, text; busy: a
      connected TCP socket while a client is attached) and checks errnos.
  iso_usbip.py hold BUSID NPKTS
      Keeps four iso URBs of NPKTS packets of silence in flight (resubmitting
      each as it comes back) until the server ends the connection.
  iso_usbip.py client BUSID WAV EXPECT MAXPKTS ordered|any
      Raw USB/IP client (via usbipd on 127.0.0.1) for a usb-audio device
      bound to usbip-host: isochronous CMD_SUBMITs with 1..MAXPKTS packets,
      contiguous, with gaps and in reverse buffer order, several queued at
      once, one whose buffer allocation fails (fail_alloc hook: -ENOMEM),
      and ones the host controller must refuse; checks every RET_SUBMIT
      field and iso descriptor, then waits for the played bytes in WAV
      (what it played is written to EXPECT).  Before that, the bad-input
      cases specific to iso, each of which must drop the connection.
      "ordered": start_frame is a plain frame counter (UHCI), so queued
      URBs must not overlap in it; "any": start_frames are only printed
      (xHCI reports an estimate).

Prints CLIENT-OK / WAV-OK lines with figures, or CLIENT-FAIL / WAV-FAIL and
exits non-zero.
"""
import os
import random
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import usbip_wire as w  # noqa: E402

RET_SUBMIT = w.RET_SUBMIT
URB_ISO_ASAP = w.URB_ISO_ASAP
PKT = 192                       # usb-audio: 48 frames of S16LE stereo per ms
GAP_BYTE = 0xEE
WAV_HDR = 44


def fail(tag, msg):
    print("%s-FAIL: %s" % (tag, msg), flush=True)
    sys.exit(1)


def pattern(seed, nbytes):
    """Seeded random bytes whose 4-byte frames are never all zero."""
    b = bytearray(random.Random(seed).randbytes(nbytes))
    for i in range(0, nbytes, 4):
        if not any(b[i:i + 4]):
            b[i] = 1
    return bytes(b)


def strip_silence(data):
    """Removes all-zero 4-byte frames; returns (data, frames removed)."""
    out = bytearray()
    zero = 0
    for i in range(0, len(data) - len(data) % 4, 4):
        f = data[i:i + 4]
        if f == b"\0\0\0\0":
            zero += 1
        else:
            out += f
    return bytes(out), zero


def wav_state(wav, expect):
    """(matching bytes, zero frames, mismatch offset or None, raw length)."""
    with open(wav, "rb") as f:
        raw = f.read()
    if len(raw) < WAV_HDR:
        return 0, 0, None, 0
    if raw[:4] != b"RIFF" or raw[8:12] != b"WAVE" or raw[36:40] != b"data":
        fail("WAV", "%s: not a canonical wav header: %r" % (wav, raw[:44]))
    got, zero = strip_silence(raw[WAV_HDR:])
    n = min(len(got), len(expect))
    if got[:n] != expect[:n]:
        off = next(i for i in range(n) if got[i] != expect[i])
        return len(got), zero, off, len(raw) - WAV_HDR
    if len(got) > len(expect):
        return len(got), zero, len(expect), len(raw) - WAV_HDR
    return len(got), zero, None, len(raw) - WAV_HDR


def wav_packets(wav, expect):
    """Packet mode: (highest packet index reached, packets found, mismatch
    offset or None, zero frames).  The non-silent data must be whole
    192-byte packets of EXPECT in increasing order, some possibly missing."""
    with open(wav, "rb") as f:
        raw = f.read()
    if len(raw) < WAV_HDR:
        return -1, 0, None, 0
    got, zero = strip_silence(raw[WAV_HDR:])
    index = {}
    for k in range(len(expect) // PKT):
        index.setdefault(expect[k * PKT:(k + 1) * PKT], k)
    last, found = -1, 0
    for j in range(len(got) // PKT):
        k = index.get(got[j * PKT:(j + 1) * PKT])
        if k is None or k <= last:
            return last, found, j * PKT, zero
        last, found = k, found + 1
    tail = got[len(got) - len(got) % PKT:]
    if tail and expect[(last + 1) * PKT:(last + 1) * PKT + len(tail)] != tail:
        # an unflushed packet must at least start like one that may follow
        if not any(expect[k * PKT:k * PKT + len(tail)] == tail
                   for k in range(last + 1, len(expect) // PKT)):
            return last, found, len(got) - len(tail), zero
    return last, found, None, zero


def wavwait_packets(wav, expect_path, need, secs, max_lost_pct):
    with open(expect_path, "rb") as f:
        expect = f.read()
    need_pk = need // PKT
    end = time.time() + secs
    while True:
        last, found, bad, zero = wav_packets(wav, expect)
        if bad is not None:
            fail("WAV", "%s: non-silent byte %d is not the next whole packet of what was played "
                 "(after packet %d)" % (wav, bad, last))
        if last + 1 >= need_pk:
            lost = (last + 1) - found
            if lost * 100 > (last + 1) * max_lost_pct:
                fail("WAV", "%s: %d of %d packets missing" % (wav, lost, last + 1))
            print("WAV-OK %s: packets 0..%d of %d played found in order, %d missing, %d bytes of "
                  "silence frames skipped" % (os.path.basename(wav), last, len(expect) // PKT,
                                              lost, zero * 4), flush=True)
            return
        if time.time() > end:
            fail("WAV", "%s: only packets up to %d of the %d required after %ds" %
                 (wav, last, need_pk, secs))
        time.sleep(0.2)


def wavwait(wav, expect_path, need, secs):
    with open(expect_path, "rb") as f:
        expect = f.read()
    end = time.time() + secs
    while True:
        got, zero, bad, raw = wav_state(wav, expect)
        if bad is not None:
            fail("WAV", "%s: byte %d of the non-silent data differs from what was played "
                 "(%d non-silent bytes, %d expected)" % (wav, bad, got, len(expect)))
        if got >= need:
            print("WAV-OK %s: %d bytes played = %d non-silent bytes in the wav, first %d "
                  "required, %d bytes of silence frames skipped" %
                  (os.path.basename(wav), len(expect), got, need, zero * 4), flush=True)
            return
        if time.time() > end:
            fail("WAV", "%s: only %d of %d required bytes after %ds (raw data %d bytes)" %
                 (wav, got, need, secs, raw))
        time.sleep(0.2)


# ---------------------------------------------------------------------------
# Raw USB/IP client (usbip_wire)

def connect(busid):
    """Imports busid through usbipd.  After a dropped connection usbip-host
    resets the device before it is available again, so usbipd answers "not
    available" or "busy" for a moment: those are retried for up to 30 s."""
    try:
        return w.Client.import_(busid, timeout=60, retry_secs=30)
    except RuntimeError as e:
        fail("CLIENT", str(e))


def ctrl(c, rt, req, val, idx, length, data=b"", want=0):
    # transfer_flags 0 whatever the direction, as this client always sent
    m = c.wait(c.submit(0, w.DIR_IN if rt & 0x80 else w.DIR_OUT, length, data,
                        w.setup(rt, req, val, idx, length), flags=0))
    if m["cmd"] != RET_SUBMIT or m["status"] != want:
        fail("CLIENT", "control %02x/%02x: %r" % (rt, req, {k: m[k] for k in ("cmd", "status")}))
    return m


def closed(c):
    if not c.closed(30):
        fail("CLIENT", "server did not drop the connection")


def find_iso_out(c):
    """Configures the device; returns (interface, alt, endpoint number,
    wMaxPacketSize) of the iso OUT endpoint."""
    total = w.desc_u16(ctrl(c, 0x80, 6, 0x0200, 0, 9)["data"], 2)
    cfg = ctrl(c, 0x80, 6, 0x0200, 0, total)["data"]
    ctrl(c, 0x00, 9, cfg[5], 0, 0)              # SET_CONFIGURATION
    for e in w.endpoints(cfg):
        if e["type"] == w.EP_ISO and not e["addr"] & 0x80:
            return e["intf"], e["alt"], e["addr"] & 0x0f, e["maxp"]
    fail("CLIENT", "no isochronous OUT endpoint in %s" % cfg.hex())


class Player:
    """Builds iso OUT URBs from the next bytes of the audio stream."""

    def __init__(self, c, ep, seed):
        self.c, self.ep = c, ep
        self.stream = pattern(seed, 1 << 20)
        self.pos = 0
        self.played = bytearray()
        self.urbs = {}
        self.lost = 0
        self.statuses = {}

    def urb(self, npk, layout="contiguous", flags=URB_ISO_ASAP):
        """Submits one URB of npk 192-byte packets; returns its seqnum."""
        chunk = self.stream[self.pos:self.pos + npk * PKT]
        self.pos += npk * PKT
        if layout == "contiguous":
            offs = [i * PKT for i in range(npk)]
            size = npk * PKT
        elif layout == "gaps":              # 64 bytes the device must never get
            offs = [i * (PKT + 64) for i in range(npk)]
            size = npk * (PKT + 64)
        elif layout == "reverse":           # packet 0 at the end of the buffer
            offs = [(npk - 1 - i) * PKT for i in range(npk)]
            size = npk * PKT
        buf = bytearray([GAP_BYTE]) * size
        for i, off in enumerate(offs):
            buf[off:off + PKT] = chunk[i * PKT:(i + 1) * PKT]
        iso = [(off, PKT) for off in offs]
        seq = self.c.submit(self.ep, w.DIR_OUT, size, bytes(buf), iso=iso, flags=flags,
                            interval=1)
        self.urbs[seq] = (npk, iso, chunk, size)
        return seq

    def check(self, seq):
        """Waits for the RET_SUBMIT of a good URB and checks every field.

        A packet the host controller could not deliver in its frame (under
        TCG the emulated controller can lose frames) must say so: status
        negative, actual_length 0, counted in error_count.  Only delivered
        packets count as played."""
        npk, iso, chunk, size = self.urbs.pop(seq)
        m = self.c.wait(seq)
        if m["cmd"] != RET_SUBMIT:
            fail("CLIENT", "seqnum %d answered with command %d" % (seq, m["cmd"]))
        what = "iso URB seqnum %d (%d packets)" % (seq, npk)
        if m["status"] != 0:
            fail("CLIENT", "%s: status %d" % (what, m["status"]))
        if m["npackets"] != npk or len(m["descs"]) != npk:
            fail("CLIENT", "%s: number_of_packets %d" % (what, m["npackets"]))
        if m["devid"] != self.c.devid or m["ep"] != self.ep or m["dir"] != 0:
            fail("CLIENT", "%s: devid/ep/direction %x/%d/%d" % (what, m["devid"], m["ep"], m["dir"]))
        if m["data"]:
            fail("CLIENT", "%s: RET_SUBMIT of an OUT URB carries %d bytes" % (what, len(m["data"])))
        errors = 0
        for i, (off, ln, act, st) in enumerate(m["descs"]):
            if (off, ln) != iso[i]:
                fail("CLIENT", "%s: packet %d came back as offset %d length %d, sent offset %d "
                     "length %d" % (what, i, off, ln, iso[i][0], iso[i][1]))
            if st == 0 and act == ln:
                self.played += chunk[i * PKT:(i + 1) * PKT]
            elif st < 0 and act == 0:
                errors += 1
                self.statuses[st] = self.statuses.get(st, 0) + 1
            else:
                fail("CLIENT", "%s: packet %d actual_length %d status %d" % (what, i, act, st))
        if m["errors"] != errors:
            fail("CLIENT", "%s: error_count %d, %d packets failed" % (what, m["errors"], errors))
        if m["actual"] != (npk - errors) * PKT:
            fail("CLIENT", "%s: actual_length %d, %d packets delivered" %
                 (what, m["actual"], npk - errors))
        self.lost += errors
        return m

    def refused(self, npk, length, iso, want, what):
        """An URB the host controller or USB core must refuse with status want."""
        seq = self.c.submit(self.ep, w.DIR_OUT, length, bytes([GAP_BYTE]) * length, iso=iso,
                            npackets=npk, flags=URB_ISO_ASAP, interval=1)
        m = self.c.wait(seq)
        if m["cmd"] != RET_SUBMIT or m["status"] != want:
            fail("CLIENT", "%s: status %d, expected %d" % (what, m.get("status"), want))
        if m["npackets"] != npk or m["actual"] != 0:
            fail("CLIENT", "%s: number_of_packets %d actual_length %d" % (what, m["npackets"],
                                                                           m["actual"]))
        return m


def bad_input(busid, intf, alt, ep):
    """Iso bad input: each case must end the connection."""
    for name, npk, iso, length in [
            ("number_of_packets 1025", 1025, [(i * PKT, PKT) for i in range(1025)], 1025 * PKT),
            ("number_of_packets -5", -5, [], PKT),
            ("iso frame beyond the buffer", 2, [(0, PKT), (PKT, PKT)], PKT + 10)]:
        c = connect(busid)
        find_iso_out(c)
        ctrl(c, 0x01, 11, alt, intf, 0)
        try:
            c.submit(ep, w.DIR_OUT, length, bytes([GAP_BYTE]) * length, iso=iso, npackets=npk,
                     flags=URB_ISO_ASAP, interval=1)
        except (BrokenPipeError, ConnectionResetError):
            pass
        closed(c)
        print("CLIENT-OK bad input '%s': connection dropped" % name, flush=True)


def client(busid, wav, expect_path, maxpkts, frames):
    c = connect(busid)
    intf, alt, ep, maxp = find_iso_out(c)
    if maxp != PKT:
        fail("CLIENT", "wMaxPacketSize %d, expected %d" % (maxp, PKT))
    c.close()
    bad_input(busid, intf, alt, ep)

    # a good client after the bad ones
    c = connect(busid)
    find_iso_out(c)
    ctrl(c, 0x01, 11, alt, intf, 0)              # SET_INTERFACE: streaming on
    p = Player(c, ep, busid)
    nurbs = npkts = 0

    # one at a time, each layout and size
    single = []
    for npk, layout in [(1, "contiguous"), (8, "contiguous"), (16, "gaps"), (32, "reverse"),
                        (64, "contiguous"), (maxpkts, "contiguous")]:
        single.append(p.check(p.urb(npk, layout))["start_frame"])
        nurbs, npkts = nurbs + 1, npkts + npk

    # eight queued back to back, without URB_ISO_ASAP as snd-usb-audio
    # sends them: answered in submission order
    sizes = (8, 16, 8, 24, 8, 16, 8, 40)
    seqs = [p.urb(n, flags=0) for n in sizes]
    arrival = [c.read_msg() for _ in seqs]
    if [m["seq"] for m in arrival] != seqs:
        fail("CLIENT", "queued iso URBs %s answered in the order %s" %
             (seqs, [m["seq"] for m in arrival]))
    c.early.update((m["seq"], m) for m in arrival)
    queued = [p.check(seq)["start_frame"] for seq in seqs]
    nurbs, npkts = nurbs + len(sizes), npkts + sum(sizes)
    if frames == "ordered":
        # a frame counter that does not wrap here: no URB may start
        # before the one queued ahead of it has had all its frames
        for k in range(len(sizes) - 1):
            if queued[k + 1] - queued[k] < sizes[k]:
                fail("CLIENT", "queued URB %d starts at frame %d, before URB %d (frame %d, "
                     "%d packets) is over" % (k + 1, queued[k + 1], k, queued[k], sizes[k]))

    # no memory for the buffer (usbip-host's fail_alloc test hook): the
    # URB is answered -ENOMEM without packets, its payload and descriptors
    # are consumed, nothing is played, and the connection goes on
    with open("/sys/module/usbip_host/parameters/fail_alloc", "w") as f:
        f.write("1")
    seq = p.urb(16, flags=URB_ISO_ASAP)
    p.urbs.pop(seq)
    m = c.wait(seq)
    if m["cmd"] != RET_SUBMIT or m["status"] != -12 or m["actual"] != 0 or m["npackets"] != 0:
        fail("CLIENT", "iso URB without memory: %r" %
             {k: m.get(k) for k in ("cmd", "status", "actual", "npackets")})

    # refused by the USB core or the HCD: answered with the error, nothing played
    p.refused(0, PKT, [], -22, "iso URB with 0 packets")
    p.refused(1, PKT + 1, [(0, PKT + 1)], -90, "iso packet above wMaxPacketSize")
    big = maxpkts < 1024
    if big:
        p.refused(1024, 1024 * PKT, [(i * PKT, PKT) for i in range(1024)], -27,
                  "1024-packet URB on a controller that takes %d" % maxpkts)

    # more URBs push the checked part out of QEMU's stdio buffer
    need = len(p.played)
    for seq in [p.urb(64) for _ in range(4)]:
        p.check(seq)
    nurbs, npkts = nurbs + 4, npkts + 256
    if c.early:
        fail("CLIENT", "unexpected answers %s" % sorted(c.early))
    # QEMU's UHCI skips the frames its timer runs late for (TCG on a busy
    # host), so some packets fail with -EXDEV; they are accounted exactly
    # above, this only keeps the check from passing on next to nothing
    if p.lost * 2 > npkts:
        fail("CLIENT", "%d of %d packets not delivered (statuses %s)" % (p.lost, npkts, p.statuses))
    with open(expect_path, "wb") as f:
        f.write(p.played)
    wavwait(wav, expect_path, need, 120)
    ctrl(c, 0x01, 11, 0, intf, 0)                # streaming off
    c.close()
    print("CLIENT-OK %s: %d iso URBs, %d packets, %d not delivered by the HCD %s, %d bytes "
          "played; start_frame of single URBs %s, of queued URBs %s%s" %
          (busid, nurbs, npkts, p.lost, p.statuses, len(p.played), single, queued,
           "; 1024 packets refused with -EFBIG" if big else ""), flush=True)


def hold(busid, maxpkts):
    """Keeps four iso URBs of silence in flight until the server ends the
    connection (the scenario writes -1 to usbip_sockfd)."""
    c = connect(busid)
    intf, alt, ep, _ = find_iso_out(c)
    ctrl(c, 0x01, 11, alt, intf, 0)
    iso = [(i * PKT, PKT) for i in range(maxpkts)]
    silence = bytes(maxpkts * PKT)

    def one():
        return c.submit(ep, w.DIR_OUT, len(silence), silence, iso=iso, flags=URB_ISO_ASAP,
                        interval=1)

    for _ in range(4):
        one()
    print("HOLD-READY", flush=True)
    c.s.settimeout(60)
    answered = 0
    try:
        while True:
            m = c.read_msg()
            if m["cmd"] != RET_SUBMIT or m["status"] != 0:
                fail("CLIENT", "held URB seqnum %d: %r" % (m["seq"], (m["cmd"], m.get("status"))))
            answered += 1
            one()
    except (EOFError, ConnectionResetError):
        print("CLIENT-OK held connection ended by the server after %d iso URBs of %d packets"
              % (answered, maxpkts), flush=True)
    except socket.timeout:
        fail("CLIENT", "the server did not end the held connection")


def sockfd(busid, state):
    """Writes what usbip_sockfd must refuse; each write must fail with the
    errno given, and nothing may start serving."""
    import errno
    path = "/sys/bus/usb/devices/%s/usbip_sockfd" % busid
    lsn = socket.create_server(("127.0.0.1", 0))
    conn = socket.create_connection(lsn.getsockname())
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.connect(("127.0.0.1", 9))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    unix = socket.socketpair()[0]
    null = os.open("/dev/null", os.O_RDONLY)
    if state == "busy":
        cases = [("a connected TCP socket while in use", str(conn.fileno()), errno.EBUSY)]
    else:
        cases = [("a UDP socket", str(udp.fileno()), None),
                 ("an unconnected TCP socket", str(tcp.fileno()), errno.ENOTCONN),
                 ("a unix stream socket", str(unix.fileno()), None),
                 ("/dev/null", str(null), errno.ENOTSOCK),
                 ("a closed fd", "987", errno.EBADF),
                 ("-5", "-5", errno.EINVAL),
                 ("text", "abc", errno.EINVAL)]
    for what, text, want in cases:
        try:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, text.encode())
            finally:
                os.close(fd)
        except OSError as e:
            if want is not None and e.errno != want:
                fail("CLIENT", "usbip_sockfd refused %s with %s, expected %s" %
                     (what, errno.errorcode.get(e.errno), errno.errorcode[want]))
            print("CLIENT-OK usbip_sockfd refused %s: %s" % (what, errno.errorcode.get(e.errno)),
                  flush=True)
            continue
        fail("CLIENT", "usbip_sockfd took %s" % what)


def main():
    cmd = sys.argv[1]
    if cmd == "pattern":
        with open(sys.argv[4], "wb") as f:
            f.write(pattern(sys.argv[2], int(sys.argv[3])))
    elif cmd == "wavwait":
        wavwait(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    elif cmd == "wavpackets":
        wavwait_packets(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]),
                        int(sys.argv[6]))
    elif cmd == "sockfd":
        sockfd(sys.argv[2], sys.argv[3])
    elif cmd == "hold":
        hold(sys.argv[2], int(sys.argv[3]))
    elif cmd == "client":
        client(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6])
    else:
        fail("USAGE", "unknown command %s" % cmd)


if __name__ == "__main__":
    main()
