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


def main():
    encoders()
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
