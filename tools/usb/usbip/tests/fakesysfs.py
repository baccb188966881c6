# SPDX-License-Identifier: GPL-2.0
"""A fake sysfs tree with the usbip-host, usbip-vudc and vhci-hcd interfaces,
and TAP helpers.

The server side of libusbip reads and writes sysfs under $USBIP_SYSFS_ROOT,
so usbipd and "usbip bind/unbind" can run against this tree of plain files
and symlinks: writes to the driver's control files simply land in the files,
where the tests read them back.  Python 3 standard library only.
"""

import os
import struct
import sys

PCI = "devices/pci0000:00/0000:00:1d.0"

# busid -> attributes.  "driver" is the device-level driver, "status" the
# usbip_status of devices bound to usbip-host, "intf" the interfaces as
# (class, subclass, protocol, interface driver).
DEVICES = {
    "usb1": dict(parent="", busnum=1, devnum=1, vid=0x1d6b, pid=0x0002, bcd=0x0601,
                 cls=0x09, sub=0, proto=0, cfg=1, ncfg=1, speed="480", driver="usb",
                 intf=[(0x09, 0, 0, "hub")]),
    "1-1": dict(parent="usb1", busnum=1, devnum=2, vid=0x0525, pid=0xa4a5, bcd=0x0100,
                cls=0, sub=0, proto=0, cfg=1, ncfg=1, speed="480", driver="usbip-host",
                status=1, intf=[(0x08, 0x06, 0x50, None)]),
    "1-2": dict(parent="usb1", busnum=1, devnum=3, vid=0x046d, pid=0xc52b, bcd=0x1201,
                cls=0, sub=0, proto=0, cfg=1, ncfg=1, speed="12", driver="usbip-host",
                status=2, intf=[(0x03, 0x01, 0x01, None), (0x03, 0x01, 0x02, None)]),
    "1-3": dict(parent="usb1", busnum=1, devnum=4, vid=0x0525, pid=0xa4a6, bcd=0x0100,
                cls=0x02, sub=0, proto=0, cfg=1, ncfg=1, speed="480", driver="usbip-host",
                status=3, intf=[(0x02, 0x02, 0x01, None), (0x0a, 0, 0, None)]),
    "1-10": dict(parent="usb1", busnum=1, devnum=9, vid=0x1d6b, pid=0x0104, bcd=0x0100,
                 cls=0xef, sub=0x02, proto=0x01, cfg=2, ncfg=2, speed="5000",
                 driver="usbip-host", status=1,
                 intf=[(0xff, 0x00, 0x00, None), (0x08, 0x06, 0x50, None),
                       (0x0e, 0x01, 0x00, None)]),
    "usb2": dict(parent="", busnum=2, devnum=1, vid=0x1d6b, pid=0x0002, bcd=0x0601,
                 cls=0x09, sub=0, proto=0, cfg=1, ncfg=1, speed="480", driver="usb",
                 intf=[(0x09, 0, 0, "hub")]),
    "2-1": dict(parent="usb2", busnum=2, devnum=2, vid=0x0525, pid=0xa4a5, bcd=0x0100,
                cls=0, sub=0, proto=0, cfg=1, ncfg=1, speed="480", driver="usb",
                intf=[(0x08, 0x06, 0x50, "usb-storage")]),
    "2-2": dict(parent="usb2", busnum=2, devnum=3, vid=0x05e3, pid=0x0608, bcd=0x8537,
                cls=0x09, sub=0, proto=0x01, cfg=1, ncfg=1, speed="480", driver="usb",
                intf=[(0x09, 0, 0, "hub")]),
}

HOST_FILES = ("bind", "unbind", "match_busid", "rebind", "uevent")


def dev_dir(busid):
    """sysfs path of a device below the root, without the leading "/"."""
    d = DEVICES[busid]
    if not d["parent"]:
        return "%s/%s" % (PCI, busid)
    return "%s/%s" % (dev_dir(d["parent"]), busid)


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def _rel_link(link, target):
    os.symlink(os.path.relpath(target, os.path.dirname(link)), link)


def build(root):
    """Creates the tree under root (which must exist)."""
    drivers = os.path.join(root, "bus/usb/drivers")
    for drv in ("usb", "usbip-host", "usb-storage", "hub"):
        os.makedirs(os.path.join(drivers, drv))
        for f in HOST_FILES if drv == "usbip-host" else ("bind", "unbind", "uevent"):
            _write(os.path.join(drivers, drv, f), "")
    os.makedirs(os.path.join(root, "module/usbip_host"))
    _rel_link(os.path.join(drivers, "usbip-host/module"), os.path.join(root, "module/usbip_host"))
    os.makedirs(os.path.join(root, "bus/usb/devices"))
    _write(os.path.join(root, "bus/usb/drivers_probe"), "")
    for busid, d in DEVICES.items():
        path = os.path.join(root, dev_dir(busid))
        os.makedirs(path)
        attrs = {
            "busnum": "%d" % d["busnum"], "devnum": "%d" % d["devnum"],
            "idVendor": "%04x" % d["vid"], "idProduct": "%04x" % d["pid"],
            "bcdDevice": "%04x" % d["bcd"], "bDeviceClass": "%02x" % d["cls"],
            "bDeviceSubClass": "%02x" % d["sub"], "bDeviceProtocol": "%02x" % d["proto"],
            "bConfigurationValue": "%d" % d["cfg"], "bNumConfigurations": "%d" % d["ncfg"],
            "bNumInterfaces": "%2d" % len(d["intf"]), "speed": d["speed"],
            "version": " 2.00", "product": "fake %s" % busid,
        }
        if d["driver"] == "usbip-host":
            attrs["usbip_status"] = "%d" % d["status"]
            attrs["usbip_sockfd"] = ""
        for k, v in attrs.items():
            _write(os.path.join(path, k), v + "\n")
        _rel_link(os.path.join(path, "driver"), os.path.join(drivers, d["driver"]))
        _rel_link(os.path.join(drivers, d["driver"], busid), path)
        _rel_link(os.path.join(root, "bus/usb/devices", busid), path)
        for i, (c, s, p, idrv) in enumerate(d["intf"]):
            name = "%s:%d.%d" % (busid if d["parent"] else busid[3:] + "-0", d["cfg"], i)
            ipath = os.path.join(path, name)
            os.makedirs(ipath)
            for k, v in (("bInterfaceNumber", "%02x" % i), ("bInterfaceClass", "%02x" % c),
                         ("bInterfaceSubClass", "%02x" % s),
                         ("bInterfaceProtocol", "%02x" % p)):
                _write(os.path.join(ipath, k), v + "\n")
            _rel_link(os.path.join(root, "bus/usb/devices", name), ipath)
            if idrv:
                _rel_link(os.path.join(ipath, "driver"), os.path.join(drivers, idrv))
    # Something that looks like a device entry but is not a symlink.
    _write(os.path.join(drivers, "usbip-host/new_id"), "")
    build_vudc(root)


def set_session_driver(root, busid, caps="1", session=None, vudc=False):
    """Gives a device the attributes of our drivers with sessions:
    usbip_ext_caps (None removes it, as on the in-tree drivers) and, when
    `session` is given, usbip_session ("none", "active journal=N",
    "resumable left_ms=N").  Returns the device's directory."""
    d = os.path.join(root, vudc_dir(busid) if vudc else dev_dir(busid))
    path = os.path.join(d, "usbip_ext_caps")
    if caps is None:
        if os.path.exists(path):
            os.unlink(path)
    else:
        _write(path, caps + "\n")
    if session is not None:
        _write(os.path.join(d, "usbip_session"), session + "\n")
    return d


def set_sockfd_refusal(root, busid, rule, vudc=False):
    """Makes writes to the device's usbip_sockfd fail, under the
    ebusy_preload.so helper: `rule` is "ERRNO [PREFIX]" (the errno named
    EACCES, ESTALE, EBUSY or EINVAL, for writes starting with PREFIX), None
    lifts it."""
    d = os.path.join(root, vudc_dir(busid) if vudc else dev_dir(busid))
    path = os.path.join(d, "usbip_sockfd.fail")
    if rule is None:
        if os.path.exists(path):
            os.unlink(path)
    else:
        _write(path, rule + "\n")


def speed_enum(text):
    return {"1.5": 1, "12": 2, "480": 3, "5000": 5, "10000": 6}.get(text, 0)


def device_record(busid, with_interfaces=True):
    """The 312-byte device record (plus interface records) a server sends."""
    d = DEVICES[busid]
    rec = ("/sys/" + dev_dir(busid)).encode().ljust(256, b"\0")
    rec += busid.encode().ljust(32, b"\0")
    rec += struct.pack(">IIIHHHBBBBBB", d["busnum"], d["devnum"], speed_enum(d["speed"]),
                       d["vid"], d["pid"], d["bcd"], d["cls"], d["sub"], d["proto"],
                       d["cfg"], d["ncfg"], len(d["intf"]))
    if with_interfaces:
        for c, s, p, _ in d["intf"]:
            rec += struct.pack("BBBB", c, s, p, 0)
    return rec


# usbip-vudc.N -> the gadget bound to it (None: no gadget, dev_desc reads
# empty), the export status and the UDC's current/maximum speed.
VUDC = {
    "usbip-vudc.0": dict(gadget=dict(vid=0x1d6b, pid=0x0104, bcd=0x0100, cls=0, sub=0,
                                     proto=0, ncfg=1),
                         status=1, cur="high-speed", max="high-speed"),
    "usbip-vudc.1": dict(gadget=dict(vid=0x1d6b, pid=0x0105, bcd=0x0100, cls=0x02, sub=0,
                                     proto=0, ncfg=1),
                         status=2, cur="high-speed", max="high-speed"),
    "usbip-vudc.2": dict(gadget=None, status=1, cur="UNKNOWN", max="high-speed"),
    "usbip-vudc.3": dict(gadget=dict(vid=0x0525, pid=0xa4a6, bcd=0x0100, cls=0, sub=0,
                                     proto=0, ncfg=1),
                         status=3, cur="full-speed", max="high-speed"),
    "usbip-vudc.10": dict(gadget=dict(vid=0x0525, pid=0xa4a5, bcd=0x0317, cls=0xef, sub=0x02,
                                      proto=0x01, ncfg=2),
                          status=1, cur="UNKNOWN", max="super-speed"),
}
UDC_SPEED = {"UNKNOWN": 0, "low-speed": 1, "full-speed": 2, "high-speed": 3, "super-speed": 5,
             "super-speed-plus": 6}


def vudc_dir(name):
    return "devices/platform/%s" % name


def dev_desc(g):
    """The 18-byte device descriptor of a gadget (little-endian fields)."""
    return struct.pack("<BBHBBBBHHHBBBB", 18, 1, 0x0200, g["cls"], g["sub"], g["proto"], 64,
                       g["vid"], g["pid"], g["bcd"], 1, 2, 3, g["ncfg"])


def build_vudc(root):
    """usbip-vudc.N platform devices bound to the usbip-vudc driver, with
    their UDCs in class/udc."""
    drv = os.path.join(root, "bus/platform/drivers/usbip-vudc")
    os.makedirs(drv)
    for f in ("bind", "unbind", "uevent"):
        _write(os.path.join(drv, f), "")
    os.makedirs(os.path.join(root, "module/usbip_vudc"))
    _rel_link(os.path.join(drv, "module"), os.path.join(root, "module/usbip_vudc"))
    os.makedirs(os.path.join(root, "bus/platform/devices"), exist_ok=True)
    os.makedirs(os.path.join(root, "class/udc"), exist_ok=True)
    for name, v in VUDC.items():
        path = os.path.join(root, vudc_dir(name))
        os.makedirs(path)
        with open(os.path.join(path, "dev_desc"), "wb") as f:
            if v["gadget"]:
                f.write(dev_desc(v["gadget"]))
        _write(os.path.join(path, "usbip_status"), "%d\n" % v["status"])
        _write(os.path.join(path, "usbip_sockfd"), "")
        _write(os.path.join(path, "modalias"), "platform:usbip-vudc\n")
        _rel_link(os.path.join(path, "driver"), drv)
        _rel_link(os.path.join(drv, name), path)
        _rel_link(os.path.join(root, "bus/platform/devices", name), path)
        udc = os.path.join(path, "udc", name)
        os.makedirs(udc)
        _write(os.path.join(udc, "current_speed"), v["cur"] + "\n")
        _write(os.path.join(udc, "maximum_speed"), v["max"] + "\n")
        _write(os.path.join(udc, "state"), "not attached\n")
        _rel_link(os.path.join(root, "class/udc", name), udc)


def vudc_record(name):
    """The 312-byte device record usbipd --device sends for a gadget: bus and
    device number 0, no active configuration, no interfaces."""
    v = VUDC[name]
    g = v["gadget"]
    speed = UDC_SPEED[v["cur"]] or UDC_SPEED[v["max"]]
    rec = ("/sys/" + vudc_dir(name)).encode().ljust(256, b"\0")
    rec += name.encode().ljust(32, b"\0")
    rec += struct.pack(">IIIHHHBBBBBB", 0, 0, speed, g["vid"], g["pid"], g["bcd"], g["cls"],
                       g["sub"], g["proto"], 0, g["ncfg"], 0)
    return rec


VHCI = "devices/platform/vhci_hcd.0"
VDEV_FREE, VDEV_USED = 4, 6


def vhci_ports(ncontrollers, hs, ss):
    """[(port, hub)] of a vhci-hcd with ncontrollers of hs + ss ports each."""
    out = []
    for c in range(ncontrollers):
        base = c * (hs + ss)
        out += [(base + i, "hs") for i in range(hs)]
        out += [(base + hs + i, "ss") for i in range(ss)]
    return out


def vhci_status_text(ports, used, first, last):
    """Text of one status file: ports first..last, used maps a port to
    (state, speed, devid, sockfd, local busid)."""
    lines = ["hub port sta spd dev      sockfd local_busid"]
    for port, hub in ports:
        if not first <= port <= last:
            continue
        sta, spd, devid, fd, busid = used.get(port, (VDEV_FREE, 0, 0, 0, "0-0"))
        lines.append("%s  %04d %03d %03d %08x %06d %s" % (hub, port, sta, spd, devid, fd, busid))
    return "\n".join(lines) + "\n"


def build_vhci(root, ncontrollers=2, hs=2, ss=2, used=None):
    """(Re)writes a fake vhci_hcd.0: nports, status/status.N, empty attach
    and detach files.  Returns the directory."""
    d = os.path.join(root, VHCI)
    os.makedirs(d, exist_ok=True)
    ports = vhci_ports(ncontrollers, hs, ss)
    per = hs + ss
    _write(os.path.join(d, "nports"), "%d\n" % len(ports))
    for c in range(ncontrollers):
        name = "status" if c == 0 else "status.%d" % c
        _write(os.path.join(d, name),
               vhci_status_text(ports, used or {}, c * per, c * per + per - 1))
    for f in ("attach", "detach"):
        path = os.path.join(d, f)
        if not os.path.exists(path) or os.path.isfile(path):
            _write(path, "")
    _write(os.path.join(d, "usbip_debug"), "0\n")
    return d


class Tap:
    """TAP output: one "ok N - what" / "not ok N - what" line per check."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def check(self, cond, what, diag=None):
        self.n += 1
        if cond:
            print("ok %d - %s" % (self.n, what))
        else:
            self.failed += 1
            print("not ok %d - %s" % (self.n, what))
            if diag:
                for line in str(diag).splitlines():
                    print("#   " + line)
        sys.stdout.flush()
        return cond

    def skip(self, what):
        self.n += 1
        print("ok %d - # SKIP %s" % (self.n, what))

    def diag(self, text):
        for line in str(text).splitlines():
            print("# " + line)

    def done(self):
        print("1..%d" % self.n)
        sys.exit(1 if self.failed else 0)


if __name__ == "__main__":
    build(sys.argv[1])
