#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Host-side self-check of tests/guest/usbip_wire.py, the wire library of
the VM tests' raw clients and fake servers (run by "make unit").

Known byte strings for each encoder (from the protocol's layout, not from
the encoder), then a loopback session on 127.0.0.1 in which the library's
fake usbipd and fake device serve the library's client: OP_REQ_DEVLIST,
OP_REQ_IMPORT (a refused one too), control transfers, bulk OUT/IN data
compared by checksum, iso OUT/IN with descriptors, CMD_UNLINK of a held and
of an unknown URB, the server closing.  Prints "PASS wire NAME" or
"FAIL wire NAME: why" per check; exits 1 on any failure.
"""
import hashlib
import os
import socket
import sys
import tempfile
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "guest"))
import usbip_wire as w  # noqa: E402

failed = []


def check(name, cond, why=""):
    if cond:
        print("PASS wire %s" % name)
    else:
        print("FAIL wire %s%s" % (name, ": " + why if why else ""))
        failed.append(name)


def h(*parts):
    return bytes.fromhex("".join(parts))


def encoders():
    gd = w.setup(0x80, 6, 0x0100, 0, 18)
    check("setup", gd == h("8006000100001200"))
    check("cmd_submit",
          w.cmd_submit(7, 0x10002, w.DIR_IN, 0, 18, setup_pkt=gd) ==
          h("00000001", "00000007", "00010002", "00000001", "00000000",
            "00000200", "00000012", "00000000", "00000000", "00000000", "8006000100001200"))
    # number_of_packets -5 and 0xffffffff go out as the same 32 bits
    check("cmd_submit npackets",
          w.cmd_submit(1, 2, w.DIR_OUT, 3, 4, flags=w.URB_ISO_ASAP, start_frame=-1,
                       npackets=-5, interval=1)[20:40] ==
          h("00000002", "00000004", "ffffffff", "fffffffb", "00000001"))
    check("cmd_unlink", w.cmd_unlink(9, 0x10002, 7) ==
          h("00000002", "00000009", "00010002", "00000000", "00000000", "00000007") + bytes(24))
    check("ret_submit", w.ret_submit(7, status=-32, actual=5, npackets=2, errors=1,
                                     direction=1) ==
          h("00000003", "00000007", "00000000", "00000001", "00000000",
            "ffffffe0", "00000005", "00000000", "00000002", "00000001") + bytes(8))
    check("ret_unlink", w.ret_unlink(9, -104) ==
          h("00000004", "00000009", "00000000", "00000000", "00000000", "ffffff98") + bytes(24))
    check("raw_header", w.raw_header(0x99, 1, 0x10002) ==
          h("00000099", "00000001", "00010002", "00000000", "00000000") + bytes(28) and
          w.raw_header(w.CMD_SUBMIT, 1, body=b"\xa5" * 40) == w._basic(1, 1, 0, 0, 0) + b"\xa5" * 28)
    check("iso_descs", w.iso_descs([(0, 192), (192, 192, 100, -18)]) ==
          h("00000000", "000000c0", "00000000", "00000000",
            "000000c0", "000000c0", "00000064", "ffffffee"))
    check("parse_iso_descs", w.parse_iso_descs(w.iso_descs([(0, 192), (192, 192, 100, -18)])) ==
          [(0, 192, 0, 0), (192, 192, 100, -18)])
    ok = True
    for hdr, want in [
            (w.cmd_submit(7, 0x10002, 1, 2, 512, npackets=3, interval=4),
             dict(cmd=1, seq=7, devid=0x10002, dir=1, ep=2, flags=0x200, length=512,
                  npackets=3, interval=4)),
            (w.ret_submit(8, status=-2, actual=9, start_frame=5, npackets=0xffffffff),
             dict(cmd=3, seq=8, status=-2, actual=9, start_frame=5, npackets=0xffffffff)),
            (w.cmd_unlink(9, 1, 8), dict(cmd=2, seq=9, unlink_seq=8)),
            (w.ret_unlink(10, -104), dict(cmd=4, seq=10, status=-104))]:
        d = w.parse_header(hdr)
        ok &= all(d[k] == v for k, v in want.items())
    check("parse_header", ok)
    check("is_iso_count", not w.is_iso_count(0) and not w.is_iso_count(0xffffffff) and
          w.is_iso_count(1))
    check("op_req_import", w.op_req_import("1-1") == h("01118003", "00000000") +
          b"1-1".ljust(32, b"\0"))
    check("op_req_devlist", w.op_req_devlist() == h("01118005", "00000000"))
    rec = w.udev_record(busid="3-2", busnum=3, devnum=7, speed=5, vid=0x46f4, pid=1)
    u = w.parse_udev(rec)
    check("udev_record", len(rec) == w.UDEV_LEN and u["busid"] == "3-2" and
          u["devid"] == 0x30007 and u["speed"] == 5 and u["idVendor"] == 0x46f4 and
          rec[288:300] == h("00000003", "00000007", "00000005"))
    check("op_rep_import", w.op_rep_import(rec) == h("01110003", "00000000") + rec and
          w.op_rep_import(status=w.ST_NODEV) == h("01110003", "00000004"))
    cfg = w.config_desc([(0, 0, 1, 2, 0, []), (1, 1, 1, 2, 0, [(0x01, 0x09, 192, 1)]),
                         (2, 1, 8, 6, 0x50, [(0x81, 2, 512, 0), (0x02, 2, 512, 0)])])
    eps = w.endpoints(cfg)
    check("config_desc/endpoints", w.desc_u16(cfg, 2) == len(cfg) == 9 + 3 * 9 + 3 * 7 and
          cfg[4] == 3 and
          [(e["intf"], e["alt"], e["addr"], e["type"], e["maxp"]) for e in eps] ==
          [(1, 1, 1, w.EP_ISO, 192), (2, 1, 0x81, w.EP_BULK, 512), (2, 1, 2, w.EP_BULK, 512)])
    check("cbw", w.cbw(5, 512, True, w.scsi_rw10(w.SCSI_READ10, 0x10, 1)) ==
          h("55534243", "05000000", "00020000", "80", "00", "0a",
            "28000000001000000100") + bytes(6))
    check("parse_csw", w.parse_csw(h("55534253", "05000000", "00000000", "01")) ==
          (w.CSW_SIG, 5, 0, 1))
    check("ext_ack", w.ext_ack(5, ping=True) ==
          h("00010001", "00000005", "00000000", "00000000", "00000000", "00000001") + bytes(24)
          and w.ext_ack(0xffffffff) == h("00010001", "ffffffff") + bytes(40))
    check("ext_ack_rep", w.ext_ack_rep(7) == h("00010002", "00000007") + bytes(40))
    check("ext_resume", w.ext_resume(3, [7, 0x10002]) ==
          h("00010003", "00000003", "00000000", "00000000", "00000000", "00000002") +
          bytes(24) + h("00000007", "00010002") and
          w.ext_resume(0, []) == h("00010003") + bytes(44))
    check("ext_resume_rep", w.ext_resume_rep(9, 2) ==
          h("00010004", "00000009", "00000000", "00000000", "00000000", "00000002") + bytes(24))
    ok = all(w.parse_header(m)["cmd"] == c and w.parse_header(m)["seq"] == q and
             w.parse_header(m)["arg"] == a for m, c, q, a in [
                 (w.ext_ack(4, ping=True), 0x00010001, 4, 1),
                 (w.ext_ack_rep(6), 0x00010002, 6, 0),
                 (w.ext_resume(8, [1, 2, 3])[:48], 0x00010003, 8, 3),
                 (w.ext_resume_rep(0xfffffffe, 5), 0x00010004, 0xfffffffe, 5)])
    check("parse_header EXT", ok)
    check("count_after", w.count_after(1, 0xffffffff) and not w.count_after(0xffffffff, 1) and
          not w.count_after(5, 5) and w.count_after(6, 5))


DEV = w.device_desc(vid=0x1209, pid=0x0001, cls=0xff, strings=(1, 0, 0))
CONF = w.config_desc([(0, 0, 0xff, 0, 0, [(0x81, w.EP_BULK, 512, 0), (0x02, w.EP_BULK, 512, 0),
                                          (0x83, w.EP_ISO, 192, 1), (0x03, w.EP_ISO, 192, 1)])])
BUSID = "9-1"
UDEV = w.udev_record(busid=BUSID, busnum=9, devnum=3, speed=3, vid=0x1209, pid=1, cls=0xff,
                     nintf=1)
DEVS = [(UDEV, [w.uintf_record(0xff, 0, 0)])]


def usbipd(lsn, sessions):
    """Answers connections on lsn; an imported device is served by a
    FakeDevice that keeps bulk OUT data for bulk IN and iso OUT packets for
    iso IN."""
    while True:
        try:
            s, _ = lsn.accept()
        except OSError:
            return
        udev = w.serve_op(s, DEVS)
        if udev is None:
            s.close()
            continue
        dev = w.FakeDevice(w.FakeServer(s), DEV, CONF, strings={1: "wire"})
        stored = {"bulk": b"", "iso": []}

        def on_cmd(c, dev=dev, stored=stored):
            if c["cmd"] != w.CMD_SUBMIT or c["ep"] == 0:
                return False
            if c["ep"] == 2 and c["dir"] == w.DIR_OUT:
                stored["bulk"] += c["data"]
                dev.send(w.ret_submit(c["seq"], actual=len(c["data"])))
            elif c["ep"] == 1 and c["dir"] == w.DIR_IN and stored["bulk"]:
                d, stored["bulk"] = stored["bulk"][:c["length"]], stored["bulk"][c["length"]:]
                dev.send(w.ret_submit(c["seq"], actual=len(d), direction=1) + d)
            elif c["ep"] == 3 and c["dir"] == w.DIR_OUT:
                stored["iso"] = [c["data"][o:o + n] for o, n, _a, _s in c["descs"]]
                dev.send(w.ret_submit(c["seq"], actual=len(c["data"]),
                                      npackets=len(c["descs"])) +
                         w.iso_descs([(o, n, n, 0) for o, n, _a, _s in c["descs"]]))
            elif c["ep"] == 3 and c["dir"] == w.DIR_IN:
                pk = stored["iso"]
                descs = []
                for i, (o, n, _a, _s) in enumerate(c["descs"]):
                    descs.append((o, n, len(pk[i]), 0))
                data = b"".join(pk)        # IN payload: the actual bytes, packed
                dev.send(w.ret_submit(c["seq"], actual=len(data), npackets=len(descs),
                                      direction=1) + data + w.iso_descs(descs))
            else:
                return False               # held until unlinked
            return True
        dev.on_cmd = on_cmd
        sessions.append(dev)               # before it can answer anything
        dev.start()


def session():
    lsn = socket.create_server(("127.0.0.1", 0))
    port = lsn.getsockname()[1]
    sessions = []
    threading.Thread(target=usbipd, args=(lsn, sessions), daemon=True).start()
    try:
        devs = w.devlist(port=port)
        check("devlist", len(devs) == 1 and devs[0]["busid"] == BUSID and
              devs[0]["devid"] == 0x90003 and
              devs[0]["interfaces"] == [dict(bInterfaceClass=0xff, bInterfaceSubClass=0,
                                             bInterfaceProtocol=0)], repr(devs))
        s, status, udev = w.op_import("9-9", port=port)
        check("import refused", s is None and status == w.ST_NODEV and udev is None)
        c = w.Client.import_(BUSID, port=port, retry_secs=0, timeout=10)
        check("import", c.devid == 0x90003 and c.udev["idVendor"] == 0x1209)

        m = c.ctrl(0x80, 6, 0x0100, 0, 64)
        check("GET_DESCRIPTOR(DEVICE)", m["cmd"] == w.RET_SUBMIT and m["status"] == 0 and
              m["data"] == DEV and m["actual"] == 18)
        m = c.ctrl(0x80, 6, 0x0200, 0, 9)
        total = w.desc_u16(m["data"], 2)
        m = c.ctrl(0x80, 6, 0x0200, 0, total)
        check("GET_DESCRIPTOR(CONFIG)", m["data"] == CONF and len(w.endpoints(m["data"])) == 4)
        m = c.ctrl(0x80, 6, 0x0301, 0x0409, 255)
        check("GET_DESCRIPTOR(STRING)", m["data"] == b"\x0a\x03" + "wire".encode("utf-16-le"))
        check("SET_CONFIGURATION", c.ctrl(0x00, 9, 1, 0, 0)["status"] == 0)
        check("unknown request stalled", c.ctrl(0xc0, 0x33, 0, 0, 4)["status"] == -w.EPIPE)

        data = os.urandom(100000)
        seqs = [c.submit(2, w.DIR_OUT, len(data[i:i + 30000]), data[i:i + 30000])
                for i in range(0, len(data), 30000)]
        outs = [c.wait(q) for q in reversed(seqs)]
        got = b""
        while len(got) < len(data):
            m = c.wait(c.submit(1, w.DIR_IN, 16384))
            got += m["data"]
        check("bulk OUT/IN", all(m["status"] == 0 for m in outs) and
              hashlib.sha256(got).digest() == hashlib.sha256(data).digest(),
              "%d of %d bytes back" % (len(got), len(data)))

        pk = [os.urandom(n) for n in (192, 100, 192, 0)]
        layout = [(0, 192), (192, 192), (400, 192), (600, 192)]
        buf = bytearray(800)
        for (o, _n), p in zip(layout, pk):
            buf[o:o + len(p)] = p
        out_iso = [(o, len(p)) for (o, _n), p in zip(layout, pk)]
        m = c.wait(c.submit(3, w.DIR_OUT, 800, bytes(buf), flags=w.URB_ISO_ASAP,
                            iso=out_iso, interval=1))
        check("iso OUT", m["status"] == 0 and m["npackets"] == 4 and
              [d[2] for d in m["descs"]] == [len(p) for p in pk])
        m = c.wait(c.submit(3, w.DIR_IN, 800, flags=w.URB_ISO_ASAP | w.URB_DIR_IN,
                            iso=layout, interval=1))
        back, off = [], 0
        for _o, _n, act, _st in m["descs"]:
            back.append(m["data"][off:off + act])
            off += act
        check("iso IN", m["status"] == 0 and len(m["descs"]) == 4 and back == pk and
              m["actual"] == sum(len(p) for p in pk))

        held = c.submit(1, w.DIR_IN, 512)          # nothing stored: held
        u = c.unlink(held)
        m = c.wait(u)
        check("unlink of a held URB", m["cmd"] == w.RET_UNLINK and
              m["status"] == -w.ECONNRESET)
        m = c.wait(c.unlink(424242))
        check("unlink of an unknown URB", m["cmd"] == w.RET_UNLINK and m["status"] == 0)
        m = c.ctrl(0x80, 0, 0, 0, 2)
        check("nothing for the unlinked URB", held not in c.early and m["data"] == b"\1\0")

        c2 = w.Client.import_(BUSID, port=port, retry_secs=0, timeout=10)
        q, raw = c2.submit(0, w.DIR_IN, 18, setup_pkt=w.setup(0x80, 6, 0x100, 0, 18),
                           devid=0x12345, send=False)
        check("submit overrides", w.parse_header(raw[:48])["devid"] == 0x12345 and
              q == 1 and len(raw) == 48)
        c2.send_raw(raw)
        check("wait", c2.wait(q)["data"] == DEV)
        sessions[-1].srv.s.shutdown(socket.SHUT_RDWR)
        check("closed", c2.closed(5))
        c2.close()
        c.close()
        check("server sees the client close",
              sessions[0].join(5) is None and not sessions[0].is_alive() and sessions[0].eof)
    finally:
        lsn.close()


def sysfs_writers():
    d = tempfile.mkdtemp(prefix="wire-check.")
    try:
        open(os.path.join(d, "attach"), "w").close()
        srv = w.FakeServer.attach(5, devid=0x20003, speed=3, vhci=d)
        with open(os.path.join(d, "attach")) as f:
            got = f.read().split()
        check("FakeServer.attach", len(got) == 4 and got[0] == "5" and got[1].isdigit() and
              got[2:] == [str(0x20003), "3"] and srv.closed(2))
        srv.close()
        path = os.path.join(d, "usbip_sockfd")
        open(path, "w").close()
        c = w.Client.sockfd(path, 0x10002)
        with open(path) as f:
            got = f.read()
        check("Client.sockfd", got.isdigit() and c.devid == 0x10002 and c.closed(2))
        c.close()
    finally:
        for f in os.listdir(d):
            os.unlink(os.path.join(d, f))
        os.rmdir(d)


def session_client():
    """SessionClient against a scripted server end: counting, EXT_ACK and
    PING, a duplicate answer refused, an RST, a resume that sends again
    exactly the commands above the server's count."""
    d = tempfile.mkdtemp(prefix="wire-check.")
    path = os.path.join(d, "usbip_sockfd")
    open(path, "w").close()
    cli, srv_sock = w.loopback_pair()
    srv = w.FakeServer(srv_sock, timeout=5)
    try:
        c = w.SessionClient(cli, 0x10002, timeout=5)
        c.token, c.path = bytes(range(16)), path
        q1 = c.submit(1, w.DIR_OUT, 5, b"hello")
        q2 = c.submit(1, w.DIR_IN, 64)
        q3 = c.unlink(q2)
        got = [srv.read_cmd() for _ in range(3)]
        check("session counts commands", c.cmds == 3 and list(c.unanswered) == [q1, q2, q3] and
              [g["seq"] for g in got] == [q1, q2, q3] and got[0]["data"] == b"hello" and
              got[2]["unlink_seq"] == q2)
        srv.ret_submit(q1, actual=5)
        check("session counts answers", c.wait(q1)["actual"] == 5 and c.answers == 1 and
              q1 not in c.unanswered)
        c.ack()
        check("ext_ack sent", w.recv_exact(srv.s, 48) == w.ext_ack(1))
        srv.ret_unlink(q3, -w.ECONNRESET)
        srv.send_raw(w.ext_ack_rep(3))
        pong = c.ping()
        check("ping", pong == 3 and w.recv_exact(srv.s, 48) == w.ext_ack(1, ping=True) and
              q3 in c.early and c.answers == 2 and not c.unanswered,
              "pong %r, answers %d, unanswered %r" % (pong, c.answers, c.unanswered))
        srv.ret_submit(q1, actual=5)
        try:
            c.read_msg()
            check("second answer refused", False, "read_msg took it")
        except RuntimeError as e:
            check("second answer refused", "had its answer already" in str(e), str(e))

        q4 = c.submit(1, w.DIR_OUT, 8, b"A" * 8)
        q5, raw5 = c.submit(1, w.DIR_OUT, 8, b"B" * 8, send=False)
        c.send_cmd(q5, raw5, w.DIR_OUT, cut=20)
        check("cut command sent in part", srv.read_cmd()["seq"] == q4 and
              w.recv_exact(srv.s, 20) == raw5[:20] and c.cmds == 5)
        c.rst()
        try:
            rst = srv.s.recv(100)
            check("rst", False, "server end read %r, not a reset" % rst)
        except ConnectionResetError:
            check("rst", True)
        srv.close()

        os.unlink(path)
        try:
            c.resume()
            check("refused resume", False, "resume() wrote to a missing file")
        except OSError:
            check("refused resume", c.s.fileno() == -1 and c.cmds == 5)
        open(path, "w").close()
        cli2, srv2 = w.loopback_pair()
        keep = w.FakeServer(srv2.dup(), timeout=5)
        keep.send_raw(w.ext_resume_rep(4, 1))
        new = bytes(range(16, 32))
        cnt, n = c.resume(pair=(cli2, srv2), new=new)
        with open(path) as f:
            text = f.read().split()
        check("resume writes usbip_sockfd", text[0] == "resume" and text[1].isdigit() and
              text[2:] == ["token=" + bytes(range(16)).hex(), "new=" + new.hex()] and
              c.token == new, repr(text))
        check("EXT_RESUME", w.recv_exact(keep.s, 56) == w.ext_resume(2, [q4, q5]))
        check("resend above C", (cnt, n) == (4, 1) and c.resent == [q5] and
              keep.read_cmd()["data"] == b"B" * 8)
        keep.ret_submit(q5, actual=8)
        keep.ret_submit(q4, actual=8)
        check("answers after resume", c.wait(q4)["actual"] == 8 and c.wait(q5)["actual"] == 8 and
              c.answers == 4 and not c.unanswered)
        c.rst()
        keep.close()
        cli3, srv3 = w.loopback_pair()
        keep = w.FakeServer(srv3.dup(), timeout=5)
        keep.send_raw(w.ext_resume_rep(7, 0))
        try:
            c.resume(pair=(cli3, srv3))
            check("count ahead refused", False, "EXT_RESUME_REP counting 7 of 5 taken")
        except RuntimeError as e:
            check("count ahead refused", "5 were sent" in str(e), str(e))
        keep.close()
        c.close()
    finally:
        for f in os.listdir(d):
            os.unlink(os.path.join(d, f))
        os.rmdir(d)


def main():
    encoders()
    try:
        session_client()
    except Exception as e:      # noqa: BLE001
        check("session client", False, "%s: %s" % (type(e).__name__, e))
    try:
        session()
    except Exception as e:      # noqa: BLE001 - any error is one failed case
        check("session", False, "%s: %s" % (type(e).__name__, e))
    try:
        sysfs_writers()
    except Exception as e:      # noqa: BLE001
        check("sysfs writers", False, "%s: %s" % (type(e).__name__, e))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
