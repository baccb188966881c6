# SPDX-License-Identifier: GPL-2.0
"""The USB/IP wire for the test peers: one encoder and decoder for all.

Every raw client or fake server in tests/ speaks USB/IP through this module
(import it with sys.path.insert(0, "<checkout>/tests/guest")); none writes
its own struct.pack of a header.

    recv_exact(sock, n)                  n bytes or EOFError
    setup(rtype, req, value, index, length)   8-byte setup packet
    cmd_submit(...), cmd_unlink(...), ret_submit(...), ret_unlink(...)
                                         48-byte headers
    iso_descs([(offset, length, actual, status), ...])
    parse_header(h48) -> dict            any of the four
    op_req_import(busid), op_req_devlist(), parse_op_common(h8),
    parse_udev(rec312), parse_uintf(rec4)
    raw_header(cmd, seq, devid, dir, ep, body)
                                         any 48-byte header, e.g. of an
                                         unknown command (hostile peers)
    ext_ack(count, ping), ext_ack_rep(count), ext_resume(count, seqs),
    ext_resume_rep(count, n)             the session messages
                                         (usbip_ext.rst, "Sessions");
                                         parse_header() gives their 'arg'
    op_import(busid, host, port)         (socket, status, udev dict)
    op_rep_devlist(devs), op_rep_import(udev)
                                         a fake usbipd's answers;
    serve_op(sock, devs)                 answers one OP_REQ with them
    loopback_pair(), write_sysfs(path, text)
    link_pair(netns, addr)               a TCP pair over a link: the server
                                         end listens on addr in network
                                         namespace netns (ip netns add)
    Client                               client end of the URB protocol
    Client.import_(busid)                through usbipd (OP_REQ_IMPORT)
    Client.sockfd(path, devid)           a ::1 TCP pair, the server end
                                         written to a usbip_sockfd file
    SessionClient.session(path, devid, token, window, journal)
                                         the same with a session (caps=1):
                                         counts commands and answers, keeps
                                         every command until its answer,
                                         ack()/ping(), rst() (cut the link
                                         with an RST), resume() on a new
                                         pair (EXT_RESUME, resend above C)
    resume_write(path, fd, token, new)   "resume FD token=.. [new=..]" to a
                                         usbip_sockfd file
    FakeServer.attach(vhci, port, devid, speed)
                                         server end of a vhci port: a ::1
                                         pair, the client end written to
                                         vhci's attach file
    FakeDevice(server, dev_desc, conf_desc)
                                         a thread that plays a device
                                         behind a FakeServer: ep0 standard
                                         requests answered, other URBs
                                         held until unlinked
    device_desc(), config_desc(), endpoints(cfg)
                                         USB descriptors built and parsed
    cbw(), parse_csw(), scsi_rw10()      Bulk-Only mass storage pieces

Hostile peers build their bad bytes with these encoders (explicit field
values, raw_header, then cut or overwrite bytes); nothing else here checks
what a caller asks for.

Numbers are host ints; the header fields are big-endian on the wire
(Documentation/usb/usbip_protocol.rst).
"""
import ctypes
import os
import socket
import struct
import threading
import time

VERSION = 0x0111

CMD_SUBMIT, CMD_UNLINK, RET_SUBMIT, RET_UNLINK = 1, 2, 3, 4
# URB-phase messages of a session (Documentation/usb/usbip_ext.rst)
EXT_ACK, EXT_ACK_REP, EXT_RESUME, EXT_RESUME_REP = 0x00010001, 0x00010002, 0x00010003, 0x00010004
EXT_COMMANDS = (EXT_ACK, EXT_ACK_REP, EXT_RESUME, EXT_RESUME_REP)
EXT_ACK_PING = 0x1                       # EXT_ACK flags: an EXT_ACK_REP is wanted
CAP_SESSION = 0x1                        # capability bit of sessions
TOKEN_LEN = 16                           # bytes of a session token
OP_REQ_DEVLIST, OP_REP_DEVLIST = 0x8005, 0x0005
OP_REQ_IMPORT, OP_REP_IMPORT = 0x8003, 0x0003
DIR_OUT, DIR_IN = 0, 1

# transfer_flags on the wire (the in-tree URB_* values)
URB_SHORT_NOT_OK = 0x0001
URB_ISO_ASAP = 0x0002
URB_NO_TRANSFER_DMA_MAP = 0x0004
URB_ZERO_PACKET = 0x0040
URB_NO_INTERRUPT = 0x0080
URB_FREE_BUFFER = 0x0100
URB_DIR_IN = 0x0200

# OP_REP status
ST_OK, ST_NA, ST_DEV_BUSY, ST_DEV_ERR, ST_NODEV, ST_ERROR = 0, 1, 2, 3, 4, 5

# errno values that appear in RET_SUBMIT/RET_UNLINK status (negated)
ENOENT, EIO, ENOMEM, EINVAL, EPIPE, EOVERFLOW = 2, 5, 12, 22, 32, 75
ECONNRESET, ESHUTDOWN, ETIMEDOUT, EREMOTEIO = 104, 108, 110, 121

HDR_LEN = 48
ISO_DESC_LEN = 16
UDEV_LEN = 312
UINTF_LEN = 4


def recv_exact(sock, n):
    """Exactly n bytes from sock; EOFError if the peer closes first."""
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise EOFError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return bytes(buf)


def setup(rtype, req, value, index, length):
    """A control setup packet (little-endian, as on the bus)."""
    return struct.pack("<BBHHH", rtype, req, value, index, length)


def _basic(cmd, seq, devid, direction, ep):
    return struct.pack(">IIIII", cmd, seq & 0xffffffff, devid, direction, ep)


def raw_header(cmd, seq, devid=0, direction=0, ep=0, body=b""):
    """A 48-byte header with any command code: the 20-byte basic part,
    then body padded with zeros (or cut) to 28 bytes."""
    return _basic(cmd, seq, devid, direction, ep) + bytes(body).ljust(28, b"\0")[:28]


def cmd_submit(seq, devid, direction, ep, length, flags=None, start_frame=0,
               npackets=0, interval=0, setup_pkt=b"\0" * 8):
    """CMD_SUBMIT header.  flags defaults to URB_DIR_IN for IN, 0 for OUT;
    npackets may be 0xffffffff (a non-iso form some clients send)."""
    if flags is None:
        flags = URB_DIR_IN if direction == DIR_IN else 0
    assert len(setup_pkt) == 8
    return (_basic(CMD_SUBMIT, seq, devid, direction, ep) +
            struct.pack(">IiiIi", flags, length, start_frame,
                        npackets & 0xffffffff, interval) + setup_pkt)


def cmd_unlink(seq, devid, unlink_seq, direction=0, ep=0):
    """CMD_UNLINK header for the URB with seqnum unlink_seq."""
    return (_basic(CMD_UNLINK, seq, devid, direction, ep) +
            struct.pack(">I", unlink_seq & 0xffffffff) + bytes(24))


def ret_submit(seq, status=0, actual=0, start_frame=0, npackets=0, errors=0,
               devid=0, direction=0, ep=0):
    """RET_SUBMIT header (a server's answer)."""
    return (_basic(RET_SUBMIT, seq, devid, direction, ep) +
            struct.pack(">iiiIi", status, actual, start_frame,
                        npackets & 0xffffffff, errors) + bytes(8))


def ret_unlink(seq, status, devid=0, direction=0, ep=0):
    """RET_UNLINK header."""
    return _basic(RET_UNLINK, seq, devid, direction, ep) + struct.pack(">i", status) + bytes(24)


def _ext(cmd, count, arg):
    return _basic(cmd, count, 0, 0, 0) + struct.pack(">I", arg & 0xffffffff) + bytes(24)


def ext_ack(count, ping=False, flags=None):
    """EXT_ACK: the client has received count answers; ping asks for an
    EXT_ACK_REP (flags overrides the whole flags word)."""
    return _ext(EXT_ACK, count, (EXT_ACK_PING if ping else 0) if flags is None else flags)


def ext_ack_rep(count):
    """EXT_ACK_REP: the server has received count commands."""
    return _ext(EXT_ACK_REP, count, 0)


def ext_resume(count, seqs):
    """EXT_RESUME: count answers received, then the seqnums (u32 each) of
    the commands still without an answer."""
    return _ext(EXT_RESUME, count, len(seqs)) + b"".join(
        struct.pack(">I", q & 0xffffffff) for q in seqs)


def ext_resume_rep(count, n):
    """EXT_RESUME_REP: count commands received, n answers sent again."""
    return _ext(EXT_RESUME_REP, count, n)


def iso_descs(descs):
    """Iso packet descriptors: (offset, length[, actual[, status]]) each."""
    out = b""
    for d in descs:
        d = tuple(d) + (0,) * (4 - len(d))
        out += struct.pack(">IIIi", *d)
    return out


def parse_iso_descs(raw):
    """List of (offset, length, actual, status)."""
    return [struct.unpack(">IIIi", raw[i:i + ISO_DESC_LEN])
            for i in range(0, len(raw), ISO_DESC_LEN)]


def parse_header(h):
    """Decodes any 48-byte header into a dict with 'cmd', 'seq', 'devid',
    'dir', 'ep' and the fields of its kind."""
    if len(h) != HDR_LEN:
        raise ValueError("header of %d bytes" % len(h))
    cmd, seq, devid, direction, ep = struct.unpack(">IIIII", h[:20])
    d = dict(cmd=cmd, seq=seq, devid=devid, dir=direction, ep=ep)
    if cmd == CMD_SUBMIT:
        flags, length, sf, npk, interval = struct.unpack(">IiiIi", h[20:40])
        d.update(flags=flags, length=length, start_frame=sf, npackets=npk,
                 interval=interval, setup=h[40:48])
    elif cmd == RET_SUBMIT:
        status, actual, sf, npk, errors = struct.unpack(">iiiIi", h[20:40])
        d.update(status=status, actual=actual, start_frame=sf, npackets=npk,
                 errors=errors)
    elif cmd == CMD_UNLINK:
        d["unlink_seq"] = struct.unpack(">I", h[20:24])[0]
    elif cmd == RET_UNLINK:
        d["status"] = struct.unpack(">i", h[20:24])[0]
    elif cmd in EXT_COMMANDS:
        d["arg"] = struct.unpack(">I", h[20:24])[0]
    return d


def is_iso_count(npackets):
    """True when a header's number_of_packets announces iso descriptors."""
    return npackets not in (0, 0xffffffff)


# ------------------------------------------------------------------
# Management messages (usbipd, TCP port 3240)

def op_common(code, status=0, version=VERSION):
    return struct.pack(">HHI", version, code, status)


def parse_op_common(h):
    version, code, status = struct.unpack(">HHI", h[:8])
    return dict(version=version, code=code, status=status)


def op_req_devlist():
    return op_common(OP_REQ_DEVLIST)


def op_req_import(busid):
    b = busid.encode() if isinstance(busid, str) else busid
    return op_common(OP_REQ_IMPORT) + b.ljust(32, b"\0")[:32]


def parse_udev(rec):
    """The 312-byte exported-device record."""
    path = rec[:256].split(b"\0", 1)[0].decode(errors="replace")
    busid = rec[256:288].split(b"\0", 1)[0].decode(errors="replace")
    busnum, devnum, speed = struct.unpack(">III", rec[288:300])
    vid, pid, bcd = struct.unpack(">HHH", rec[300:306])
    cls, sub, proto, cfg, ncfg, nintf = struct.unpack(">BBBBBB", rec[306:312])
    return dict(path=path, busid=busid, busnum=busnum, devnum=devnum, speed=speed,
                idVendor=vid, idProduct=pid, bcdDevice=bcd, bDeviceClass=cls,
                bDeviceSubClass=sub, bDeviceProtocol=proto, bConfigurationValue=cfg,
                bNumConfigurations=ncfg, bNumInterfaces=nintf,
                devid=(busnum << 16) | devnum)


def udev_record(busid="1-1", path="/sys/devices/fake/1-1", busnum=1, devnum=2, speed=3,
                vid=0x1d6b, pid=0x0104, bcd=0x0100, cls=0, sub=0, proto=0, cfg=1,
                ncfg=1, nintf=1):
    """A 312-byte exported-device record (for fake servers)."""
    return (path.encode().ljust(256, b"\0") + busid.encode().ljust(32, b"\0") +
            struct.pack(">IIIHHHBBBBBB", busnum, devnum, speed, vid, pid, bcd,
                        cls, sub, proto, cfg, ncfg, nintf))


def parse_uintf(rec):
    cls, sub, proto, _pad = struct.unpack(">BBBB", rec[:4])
    return dict(bInterfaceClass=cls, bInterfaceSubClass=sub, bInterfaceProtocol=proto)


def uintf_record(cls=8, sub=6, proto=0x50):
    """A 4-byte interface record (class, subclass, protocol, padding)."""
    return struct.pack(">BBBB", cls, sub, proto, 0)


def op_rep_devlist(devs, status=ST_OK):
    """OP_REP_DEVLIST: devs is a list of (udev_record bytes, [uintf_record
    bytes, ...])."""
    out = op_common(OP_REP_DEVLIST, status) + struct.pack(">I", len(devs))
    for rec, intfs in devs:
        out += rec + b"".join(intfs)
    return out


def op_rep_import(rec=None, status=ST_OK):
    """OP_REP_IMPORT: the device record follows only when status is OK."""
    return op_common(OP_REP_IMPORT, status) + (rec if status == ST_OK else b"")


def serve_op(sock, devs):
    """A fake usbipd's side of one request on sock: answers OP_REQ_DEVLIST
    with devs (as op_rep_devlist takes them) or OP_REQ_IMPORT with the
    record whose busid matches (ST_NODEV if none).  Returns the imported
    device's parsed record (the socket then carries the URB protocol), or
    None."""
    req = parse_op_common(recv_exact(sock, 8))
    if req["code"] == OP_REQ_DEVLIST:
        sock.sendall(op_rep_devlist(devs))
        return None
    if req["code"] == OP_REQ_IMPORT:
        busid = recv_exact(sock, 32).split(b"\0", 1)[0].decode(errors="replace")
        for rec, _intfs in devs:
            udev = parse_udev(rec)
            if udev["busid"] == busid:
                sock.sendall(op_rep_import(rec))
                return udev
        sock.sendall(op_rep_import(status=ST_NODEV))
        return None
    raise RuntimeError("unknown OP request %#x" % req["code"])


def op_import(busid, host="127.0.0.1", port=3240, timeout=30):
    """One OP_REQ_IMPORT: (socket, ST_OK, udev dict) on success, (None,
    status, None) when refused.  A reply that is not OP_REP_IMPORT raises
    RuntimeError."""
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.sendall(op_req_import(busid))
        rep = parse_op_common(recv_exact(s, 8))
        if rep["code"] != OP_REP_IMPORT:
            raise RuntimeError("OP_REQ_IMPORT answered with code %#x" % rep["code"])
        if rep["status"] != ST_OK:
            s.close()
            return None, rep["status"], None
        return s, ST_OK, parse_udev(recv_exact(s, UDEV_LEN))
    except BaseException:
        s.close()
        raise


def loopback_pair():
    """Both ends of one TCP connection over ::1: (client end, server end)."""
    lsn = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        lsn.bind(("::1", 0))
        lsn.listen(1)
        cli = socket.create_connection(("::1", lsn.getsockname()[1]))
        srv, _ = lsn.accept()
    finally:
        lsn.close()
    return cli, srv


CLONE_NEWNET = 0x40000000


def _setns(fd):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def link_pair(netns, addr):
    """Both ends of one TCP connection that crosses a link: (client end,
    server end).  The server end is made in network namespace netns (a name
    from "ip netns add", e.g. joined to this one by a veth pair) and listens
    on its address addr; the client end, in this namespace, connects to it.
    A socket stays in the namespace it was made in, so cutting the link
    (ip link set ... down) cuts this connection."""
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        target = os.open(f"/run/netns/{netns}", os.O_RDONLY)
        try:
            _setns(target)
            try:
                lsn = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
                lsn.bind((addr, 0))
            finally:
                _setns(own)
        finally:
            os.close(target)
    finally:
        os.close(own)
    try:
        lsn.listen(1)
        cli = socket.create_connection((addr, lsn.getsockname()[1]), timeout=10)
        cli.settimeout(None)
        srv, _ = lsn.accept()
    finally:
        lsn.close()
    return cli, srv


def write_sysfs(path, text):
    """One write(2) of text to path (sysfs stores take one write)."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode() if isinstance(text, str) else text)
    finally:
        os.close(fd)


def devlist(host="127.0.0.1", port=3240, timeout=30):
    """OP_REQ_DEVLIST: list of device dicts, each with 'interfaces'."""
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.sendall(op_req_devlist())
        rep = parse_op_common(recv_exact(s, 8))
        if rep["code"] != OP_REP_DEVLIST or rep["status"] != ST_OK:
            raise RuntimeError("OP_REP_DEVLIST: %r" % rep)
        n = struct.unpack(">I", recv_exact(s, 4))[0]
        devs = []
        for _ in range(n):
            d = parse_udev(recv_exact(s, UDEV_LEN))
            d["interfaces"] = [parse_uintf(recv_exact(s, UINTF_LEN))
                               for _ in range(d["bNumInterfaces"])]
            devs.append(d)
        return devs
    finally:
        s.close()


TIME_SCALE = float(os.environ.get("VMTEST_TIME_SCALE", "1"))
"""How much slower this guest runs than a plain one (the harness sets
VMTEST_TIME_SCALE, e.g. for the debug kernel); waits that use it, such as
vudc_status_wait(), multiply their timeouts by it."""


def vudc_status(vudc):
    """usbip_status of the usbip-vudc platform device VUDC (e.g.
    usbip-vudc.1): 1 available, 2 used by a client."""
    with open(f"/sys/devices/platform/{vudc}/usbip_status") as f:
        return int(f.read())


def vudc_status_wait(vudc, want, secs=60):
    """Poll VUDC's usbip_status until it is WANT; secs (times TIME_SCALE)
    at most.  Returns None once it is, or, on timeout, a sentence that says
    what it stayed at."""
    end = time.monotonic() + secs * TIME_SCALE
    while True:
        now = vudc_status(vudc)
        if now == want:
            return None
        if time.monotonic() > end:
            return (f"{vudc} usbip_status stays {now}, want {want}, after "
                    f"{secs * TIME_SCALE:.0f} s")
        time.sleep(0.05)


def wait_closed(sock, secs):
    """True once the peer closes sock within secs (what it sends until then
    is read and dropped); False if it stays open.  The socket's timeout is
    restored."""
    end = time.monotonic() + secs
    old = sock.gettimeout()
    try:
        while time.monotonic() < end:
            sock.settimeout(max(0.05, end - time.monotonic()))
            try:
                if not sock.recv(1 << 16):
                    return True
            except (ConnectionResetError, BrokenPipeError):
                return True
            except socket.timeout:
                return False
        return False
    finally:
        sock.settimeout(old)


# ------------------------------------------------------------------
# The client end of the URB protocol

class Client:
    """A client connection to an exported device.

    submit()/unlink() send and return the seqnum used; read_msg() returns
    the next message as parse_header() does plus 'data' (IN payload) and
    'descs' (iso descriptors); wait(seq) the answer for one seqnum, keeping
    the others for later."""

    def __init__(self, sock, devid, timeout=30):
        self.s = sock
        self.s.settimeout(timeout)
        self.devid = devid
        self.seq = 0
        self.dirs = {}
        self.early = {}

    @classmethod
    def import_(cls, busid, host="127.0.0.1", port=3240, retry_secs=30, timeout=30):
        """OP_REQ_IMPORT through usbipd.  'not available' and 'busy' (a
        device being reset after a dropped connection) are retried for up
        to retry_secs."""
        end = time.monotonic() + retry_secs
        while True:
            s, status, udev = op_import(busid, host, port, timeout)
            if status == ST_OK:
                break
            if status not in (ST_NA, ST_DEV_BUSY) or time.monotonic() > end:
                raise RuntimeError("import of %s refused, status %d" % (busid, status))
            time.sleep(0.1)
        c = cls(s, udev["devid"], timeout)
        c.udev = udev
        return c

    @classmethod
    def sockfd(cls, path, devid, timeout=30, fmt="%d"):
        """Connects a ::1 TCP pair and writes the server end's fd to the
        usbip_sockfd file at path (fmt gives the text written, e.g. "%d")."""
        cli, srv = loopback_pair()
        try:
            write_sysfs(path, fmt % srv.fileno())
        except BaseException:
            cli.close()
            raise
        finally:
            srv.close()
        return cls(cli, devid, timeout)

    def next_seq(self):
        self.seq = (self.seq + 1) & 0xffffffff
        return self.seq

    def submit(self, ep, direction, length, data=b"", setup_pkt=b"\0" * 8, flags=None,
               iso=None, npackets=None, interval=0, seq=None, start_frame=0, devid=None,
               send=True):
        """CMD_SUBMIT; iso is a list of (offset, length) packet descriptors.
        data is sent as given (so a cut payload can be sent on purpose);
        npackets and devid override what the header says.  send=False
        only builds: returns (seq, bytes) for the caller to send."""
        seq = self.next_seq() if seq is None else seq
        iso = iso or []
        n = len(iso) if npackets is None else npackets
        self.dirs[seq] = direction
        msg = (cmd_submit(seq, self.devid if devid is None else devid, direction, ep,
                          length, flags, start_frame, n, interval, setup_pkt) +
               data + iso_descs(iso))
        if not send:
            return seq, msg
        self.s.sendall(msg)
        return seq

    def unlink(self, target, seq=None):
        seq = self.next_seq() if seq is None else seq
        self.s.sendall(cmd_unlink(seq, self.devid, target))
        return seq

    def send_raw(self, data):
        self.s.sendall(data)

    def read_msg(self):
        d = parse_header(recv_exact(self.s, HDR_LEN))
        d["data"], d["descs"] = b"", []
        if d["cmd"] == RET_SUBMIT:
            if self.dirs.pop(d["seq"], DIR_OUT) == DIR_IN and d["actual"] > 0:
                d["data"] = recv_exact(self.s, d["actual"])
            if is_iso_count(d["npackets"]):
                d["descs"] = parse_iso_descs(recv_exact(self.s, ISO_DESC_LEN * d["npackets"]))
        elif d["cmd"] != RET_UNLINK:
            raise RuntimeError("server sent command %d" % d["cmd"])
        return d

    def wait(self, seq):
        if seq in self.early:
            return self.early.pop(seq)
        while True:
            m = self.read_msg()
            if m["seq"] == seq:
                return m
            self.early[m["seq"]] = m

    def ctrl(self, rtype, req, value, index, length, data=b""):
        """A control transfer on ep0; returns the RET_SUBMIT dict."""
        din = DIR_IN if rtype & 0x80 else DIR_OUT
        return self.wait(self.submit(0, din, length, data,
                                     setup(rtype, req, value, index, length)))

    def closed(self, secs=30):
        """True once the server closes the connection within secs (what it
        sends until then is read and dropped); False if it stays open."""
        return wait_closed(self.s, secs)

    def close(self):
        self.s.close()


# ------------------------------------------------------------------
# The client end of a session (usbip_ext.rst, "Sessions")

COUNT_MASK = 0xffffffff


def count_after(a, b):
    """True when stream counter a is after b (modulo 2^32, as the
    protocol compares them)."""
    return 0 < ((a - b) & COUNT_MASK) < 0x80000000


def resume_write(path, fd, token, new=None):
    """Writes "resume FD token=HEX32 new=HEX32" to the usbip_sockfd file at
    path (OSError if refused: EACCES wrong token, ESTALE nothing to resume).
    A resume always draws a new token: new defaults to 16 random bytes.
    Returns the new token."""
    if new is None:
        new = os.urandom(TOKEN_LEN)
    write_sysfs(path, "resume %d token=%s new=%s" % (fd, token.hex(), new.hex()))
    return new


class SessionClient(Client):
    """A client connection with a session: what a session-aware vhci would
    do, in Python, for raw tests of a server.

    Counts commands sent (cmds, the C of the protocol: CMD_SUBMIT and
    CMD_UNLINK) and answers received (answers, A: RET_SUBMIT and
    RET_UNLINK) from 0 at the import, modulo 2^32.  Every command is kept
    (its number, its bytes, its direction) in `unanswered` until its
    answer has been read whole; an answer for a seqnum that has none
    pending (a second answer for one URB, or one for a URB never sent)
    raises RuntimeError, so every URB completes exactly once or the test
    fails.  A RET_UNLINK -ECONNRESET answers its target URB too.

    ack()/ping() send EXT_ACK (ping() waits for the EXT_ACK_REP and returns
    the server's command count; answers read meanwhile wait in `early`).
    rst() cuts the link with an RST.  resume() hands the server end of a
    new ::1 pair to usbip_sockfd as "resume FD token=..", sends
    EXT_RESUME, reads EXT_RESUME_REP and sends again, in order and
    byte-identical, exactly the commands numbered above the server's
    count.  submit(..., cut=N) sends only the first N bytes of a command
    (counted and kept whole: a link cut in its middle means the server
    did not count it, and resume() sends it again)."""

    def __init__(self, sock, devid, timeout=30):
        super().__init__(sock, devid, timeout)
        self.timeout = timeout
        self.token = None
        self.path = None
        self.cmds = 0
        self.answers = 0
        self.unanswered = {}           # seqnum -> dict(idx, msg, dir, target), in send order
        self.answered = set()
        self.answered_idx = 0          # the highest command number answered
        self.pongs = []                # counts of the EXT_ACK_REP received
        self.resent = []               # seqnums resume() sent again, last time
        self.prev = None               # the replaced socket, if resume() found it open

    @classmethod
    def session(cls, path, devid, token=None, window=30000, journal=None, timeout=30):
        """Connects a ::1 pair and writes "FD caps=1 token=HEX32
        window=MS [journal=BYTES]" to the usbip_sockfd file at path."""
        token = os.urandom(TOKEN_LEN) if token is None else token
        fmt = "%%d caps=%x token=%s window=%d" % (CAP_SESSION, token.hex(), window)
        if journal is not None:
            fmt += " journal=%d" % journal
        c = cls.sockfd(path, devid, timeout, fmt)
        c.token = token
        c.path = path
        return c

    def send_cmd(self, seq, msg, direction, target=None, cut=None):
        """Counts and keeps a command, then sends it (its first cut bytes
        only, if cut is given)."""
        if seq in self.unanswered:
            raise RuntimeError("seqnum %d is still waiting for its answer" % seq)
        self.cmds = (self.cmds + 1) & COUNT_MASK
        self.unanswered[seq] = dict(idx=self.cmds, msg=msg, dir=direction, target=target)
        self.s.sendall(msg if cut is None else msg[:cut])

    def submit(self, *args, send=True, cut=None, **kw):
        """Client.submit() (same arguments), counted and kept."""
        seq, msg = Client.submit(self, *args, send=False, **kw)
        if not send:
            return seq, msg
        self.send_cmd(seq, msg, parse_header(msg[:HDR_LEN])["dir"], cut=cut)
        return seq

    def unlink(self, target, seq=None, cut=None):
        seq = self.next_seq() if seq is None else seq
        self.send_cmd(seq, cmd_unlink(seq, self.devid, target), DIR_OUT, target=target, cut=cut)
        return seq

    def read_msg(self):
        """The next message, whole: an answer (counted, its command
        forgotten) or EXT_ACK_REP / EXT_RESUME_REP (not counted; an
        EXT_ACK_REP's count is appended to pongs)."""
        d = parse_header(recv_exact(self.s, HDR_LEN))
        d["data"], d["descs"] = b"", []
        if d["cmd"] == EXT_ACK_REP:
            self.pongs.append(d["seq"])
            return d
        if d["cmd"] == EXT_RESUME_REP:
            return d
        if d["cmd"] not in (RET_SUBMIT, RET_UNLINK):
            raise RuntimeError("server sent command %#x" % d["cmd"])
        u = self.unanswered.get(d["seq"])
        if u is None:
            raise RuntimeError("%s for seqnum %d, which %s" % (
                "RET_SUBMIT" if d["cmd"] == RET_SUBMIT else "RET_UNLINK", d["seq"],
                "had its answer already" if d["seq"] in self.answered else
                "the client never sent"))
        if (d["cmd"] == RET_UNLINK) != (u["target"] is not None):
            raise RuntimeError("seqnum %d answered with command %d" % (d["seq"], d["cmd"]))
        if d["cmd"] == RET_SUBMIT:
            if u["dir"] == DIR_IN and d["actual"] > 0:
                d["data"] = recv_exact(self.s, d["actual"])
            if is_iso_count(d["npackets"]):
                d["descs"] = parse_iso_descs(recv_exact(self.s, ISO_DESC_LEN * d["npackets"]))
        self.answers = (self.answers + 1) & COUNT_MASK
        del self.unanswered[d["seq"]]
        self.answered.add(d["seq"])
        if count_after(u["idx"], self.answered_idx):
            self.answered_idx = u["idx"]
        if d["cmd"] == RET_UNLINK and d["status"] == -ECONNRESET and \
           u["target"] in self.unanswered:
            del self.unanswered[u["target"]]
            self.answered.add(u["target"])
        return d

    def wait(self, seq):
        if seq in self.early:
            return self.early.pop(seq)
        while True:
            m = self.read_msg()
            if m["cmd"] == EXT_ACK_REP:
                continue
            if m["cmd"] == EXT_RESUME_REP:
                raise RuntimeError("EXT_RESUME_REP in the middle of a connection")
            if m["seq"] == seq:
                return m
            self.early[m["seq"]] = m

    def ack(self, ping=False, count=None):
        """EXT_ACK of the answers received (or of count)."""
        self.s.sendall(ext_ack(self.answers if count is None else count, ping))

    def ping(self, count=None):
        """EXT_ACK with PING (acknowledging count, default all answers
        received); returns the command count of the EXT_ACK_REP."""
        n = len(self.pongs)
        self.ack(True, count)
        while len(self.pongs) == n:
            m = self.read_msg()
            if m["cmd"] in (RET_SUBMIT, RET_UNLINK):
                self.early[m["seq"]] = m
            elif m["cmd"] != EXT_ACK_REP:
                raise RuntimeError("server sent command %#x before EXT_ACK_REP" % m["cmd"])
        return self.pongs[-1]

    def rst(self):
        """Cuts the link: SO_LINGER on with 0 s, then close (the peer gets
        an RST, not an orderly end of stream)."""
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.s.close()

    def resume(self, token=None, new=None, pair=None):
        """Resumes the session on a new connection (pair: (client end,
        server end), default a new loopback_pair()): writes "resume FD
        token=HEX32 [new=HEX32]" to usbip_sockfd, sends EXT_RESUME, reads
        EXT_RESUME_REP and sends again the commands above its count.
        Returns (C, n) of the EXT_RESUME_REP.  A refused write raises its
        OSError and leaves the client as it was.  An old socket still
        open is kept in prev (for the caller to see it closed)."""
        cli, srv = pair or loopback_pair()
        try:
            new = resume_write(self.path, srv.fileno(), token or self.token, new)
        except BaseException:
            cli.close()
            raise
        finally:
            srv.close()
        self.prev = self.s if self.s.fileno() != -1 else None
        self.s = cli
        self.s.settimeout(self.timeout)
        self.token = new
        self.s.sendall(ext_resume(self.answers, list(self.unanswered)))
        rep = self.read_msg()
        if rep["cmd"] != EXT_RESUME_REP:
            raise RuntimeError("resumed connection starts with command %#x, not EXT_RESUME_REP"
                               % rep["cmd"])
        count, n = rep["seq"], rep["arg"]
        if count_after(count, self.cmds):
            raise RuntimeError("EXT_RESUME_REP counts %d commands, %d were sent" %
                               (count, self.cmds))
        self.resent = []
        for seq, u in self.unanswered.items():
            if count_after(u["idx"], count):
                self.s.sendall(u["msg"])
                self.resent.append(seq)
        if count_after(self.answered_idx, count):
            raise RuntimeError("EXT_RESUME_REP counts %d commands, but command %d was "
                               "answered" % (count, self.answered_idx))
        return count, n


# ------------------------------------------------------------------
# A fake server behind a vhci port

class FakeServer:
    """The server end of a vhci port.  read_cmd() returns the next command
    as parse_header() does plus 'data' (OUT payload) and 'descs'."""

    def __init__(self, sock, timeout=20):
        self.s = sock
        self.s.settimeout(timeout)

    @classmethod
    def attach(cls, port, devid=0x10002, speed=3,
               vhci="/sys/devices/platform/vhci_hcd.0", timeout=20):
        """A ::1 TCP pair; the client end goes to vhci's attach file.
        Raises OSError if the attach write fails."""
        c, s = loopback_pair()
        try:
            with open(vhci + "/attach", "w") as f:
                f.write("%d %d %d %d" % (port, c.fileno(), devid, speed))
        except BaseException:
            s.close()
            raise
        finally:
            c.close()
        return cls(s, timeout)

    def read_cmd(self):
        d = parse_header(recv_exact(self.s, HDR_LEN))
        d["data"], d["descs"] = b"", []
        if d["cmd"] == CMD_SUBMIT:
            if d["dir"] == DIR_OUT and d["length"] > 0:
                d["data"] = recv_exact(self.s, d["length"])
            if is_iso_count(d["npackets"]):
                d["descs"] = parse_iso_descs(recv_exact(self.s, ISO_DESC_LEN * d["npackets"]))
        return d

    def ret_submit(self, seq, status=0, actual=0, data=b"", npackets=0, descs=b"",
                   direction=0):
        self.s.sendall(ret_submit(seq, status, actual, 0, npackets, 0, 0, direction) +
                       data + descs)

    def ret_unlink(self, seq, status):
        self.s.sendall(ret_unlink(seq, status))

    def send_raw(self, data):
        self.s.sendall(data)

    def closed(self, secs=20):
        """True once the client shuts the connection within secs."""
        return wait_closed(self.s, secs)

    def close(self):
        self.s.close()


# ------------------------------------------------------------------
# USB descriptors (little-endian, as on the bus)

def device_desc(vid=0x1d6b, pid=0x0104, bcd=0x0100, cls=0, sub=0, proto=0, maxp0=64,
                bcd_usb=0x0200, ncfg=1, strings=(0, 0, 0)):
    """An 18-byte device descriptor."""
    return struct.pack("<BBHBBBBHHHBBBB", 18, 1, bcd_usb, cls, sub, proto, maxp0, vid, pid,
                       bcd, strings[0], strings[1], strings[2], ncfg)


def config_desc(interfaces, value=1, attributes=0x80, max_power=50):
    """A configuration descriptor with its interfaces and endpoints.
    interfaces: list of (number, alt, class, subclass, protocol,
    [(address, attributes, wMaxPacketSize, bInterval), ...])."""
    body = b""
    nintf = len({i[0] for i in interfaces})
    for num, alt, cls, sub, proto, eps in interfaces:
        body += struct.pack("<BBBBBBBBB", 9, 4, num, alt, len(eps), cls, sub, proto, 0)
        for addr, attr, maxp, interval in eps:
            body += struct.pack("<BBBBHB", 7, 5, addr, attr, maxp, interval)
    return struct.pack("<BBHBBBBB", 9, 2, 9 + len(body), nintf, value, 0, attributes,
                       max_power) + body


def endpoints(cfg):
    """The endpoints of a configuration descriptor, in order: dicts with
    intf, alt (of the interface descriptor before them), addr, attr, type
    (attr & 3), maxp (wMaxPacketSize), interval."""
    eps, i, intf, alt = [], 0, None, None
    while i + 1 < len(cfg) and cfg[i] >= 2:
        if cfg[i + 1] == 4 and i + 3 < len(cfg):
            intf, alt = cfg[i + 2], cfg[i + 3]
        elif cfg[i + 1] == 5 and i + 6 < len(cfg):
            eps.append(dict(intf=intf, alt=alt, addr=cfg[i + 2], attr=cfg[i + 3],
                            type=cfg[i + 3] & 3,
                            maxp=struct.unpack("<H", cfg[i + 4:i + 6])[0],
                            interval=cfg[i + 6]))
        i += cfg[i]
    return eps


def desc_u16(desc, offset):
    """A little-endian 16-bit field of a descriptor (e.g. wTotalLength at 2,
    idVendor at 8)."""
    return struct.unpack("<H", desc[offset:offset + 2])[0]


EP_CONTROL, EP_ISO, EP_BULK, EP_INT = 0, 1, 2, 3


# ------------------------------------------------------------------
# Bulk-Only mass storage (what the test peers send through a disk)

CBW_SIG, CSW_SIG = 0x43425355, 0x53425355
SCSI_TEST_UNIT_READY, SCSI_REQUEST_SENSE, SCSI_INQUIRY = 0x00, 0x03, 0x12
SCSI_READ10, SCSI_WRITE10 = 0x28, 0x2a


def cbw(tag, dlen, din, cb, lun=0):
    """A 31-byte Command Block Wrapper around the command block cb."""
    return struct.pack("<IIIBBB", CBW_SIG, tag, dlen, 0x80 if din else 0, lun,
                       len(cb)) + bytes(cb).ljust(16, b"\0")


def parse_csw(raw):
    """(signature, tag, residue, status) of a 13-byte Command Status
    Wrapper."""
    return struct.unpack("<IIIB", raw[:13])


def scsi_rw10(op, lba, blocks):
    """A READ(10) or WRITE(10) command block."""
    return struct.pack(">BBIBHB", op, 0, lba, 0, blocks, 0)


def scsi_inquiry(length=36):
    return bytes([SCSI_INQUIRY, 0, 0, 0, length, 0])


def scsi_request_sense(length=18):
    return bytes([SCSI_REQUEST_SENSE, 0, 0, 0, length, 0])


# ------------------------------------------------------------------
# A fake device behind a FakeServer

class FakeDevice(threading.Thread):
    """Plays a device on the server end of a connection (a FakeServer):
    ep0 GET_DESCRIPTOR (device, configuration, and strings when given a
    dict {index: text}), GET_STATUS of the device and every OUT request are answered, other control requests stalled (-EPIPE);
    URBs on other endpoints are held until unlinked (a CMD_UNLINK of a held
    URB gets RET_UNLINK -ECONNRESET, of anything else 0).  on_cmd(c) may take
    a command over (returns True).  Every command read is appended to cmds;
    next_cmd(i) waits for the i-th."""

    def __init__(self, srv, dev=None, conf=None, strings=None):
        super().__init__(daemon=True)
        self.srv = srv
        self.dev = device_desc() if dev is None else dev
        self.conf = conf if conf is not None else config_desc(
            [(0, 0, 0xff, 0, 0, [(0x81, EP_BULK, 512, 0), (0x02, EP_BULK, 512, 0)])])
        self.strings = strings
        self.cmds, self.held, self.on_cmd = [], {}, None
        self.lock, self.cv, self.eof = threading.Lock(), threading.Condition(), False

    def send(self, data):
        with self.lock:
            self.srv.send_raw(data)

    def answer_ctrl(self, rt, req, val, idx, ln):
        """(status, data) for a control request."""
        d = None
        if rt == 0x80 and req == 6:
            kind, index = val >> 8, val & 0xff
            if kind == 1:
                d = self.dev
            elif kind == 2:
                d = self.conf
            elif kind == 3 and self.strings is not None:
                d = b"\4\3\x09\x04" if index == 0 else self.strings.get(index)
                if index and d is not None:
                    d = bytes([2 + 2 * len(d), 3]) + d.encode("utf-16-le")
        elif rt == 0x80 and req == 0:
            d = b"\1\0"                      # GET_STATUS(device): self-powered
        elif not rt & 0x80:
            d = b""
        if d is None:
            return -EPIPE, b""
        return 0, d[:ln]

    def ctrl(self, c):
        rt, req, val, idx, ln = struct.unpack("<BBHHH", c["setup"])
        status, d = self.answer_ctrl(rt, req, val, idx, ln)
        if status:
            self.send(ret_submit(c["seq"], status=status))
        else:
            self.send(ret_submit(c["seq"], actual=len(d), direction=c["dir"]) +
                      (d if c["dir"] == DIR_IN else b""))

    def run(self):
        try:
            while True:
                c = self.srv.read_cmd()
                with self.cv:
                    self.cmds.append(c)
                    self.cv.notify_all()
                if self.on_cmd and self.on_cmd(c):
                    continue
                if c["cmd"] == CMD_SUBMIT and c["ep"] == 0:
                    self.ctrl(c)
                elif c["cmd"] == CMD_SUBMIT:
                    self.held[c["seq"]] = c
                elif c["cmd"] == CMD_UNLINK:
                    gone = self.held.pop(c["unlink_seq"], None)
                    self.send(ret_unlink(c["seq"], -ECONNRESET if gone else 0))
        except (EOFError, OSError, ValueError):
            pass
        with self.cv:
            self.eof = True
            self.cv.notify_all()

    def next_cmd(self, start, secs=20):
        """The first command received at index >= start; RuntimeError if
        none comes within secs."""
        with self.cv:
            if not self.cv.wait_for(lambda: len(self.cmds) > start or self.eof, secs) or \
               len(self.cmds) <= start:
                raise RuntimeError("no command from the client (eof %s)" % self.eof)
            return self.cmds[start]
