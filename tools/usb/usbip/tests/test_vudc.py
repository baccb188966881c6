# SPDX-License-Identifier: GPL-2.0
"""Device mode against a fake sysfs tree: "usbip list --device" (plain and
parsable), "usbipd --device" DEVLIST and IMPORT replies byte-checked (gadgets
in use, in error or without a gadget are hidden and refused with the right
status), the socket handed to usbip_sockfd, "usbip attach -d" through that
daemon onto a fake vhci-hcd, and the command lines.  TAP output.  Python 3
standard library only."""

import os
import re
import shutil
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakesysfs  # noqa: E402
import usbiptest  # noqa: E402

from usbiptest import (REP_DEVLIST, REP_IMPORT, ST_BUSY, ST_DEV_ERR,  # noqa: E402
                       ST_NODEV, ST_OK, VERSION, devlist_req, free_port, import_req,
                       request, stop)
from usbiptest import read_file as read  # noqa: E402

tap = fakesysfs.Tap()
usbip, usbipd = usbiptest.programs("USBIP_BIN", "USBIPD_BIN")
srcdir = os.environ.get("top_srcdir", os.path.join(os.path.dirname(__file__), ".."))

tmp, root = usbiptest.scratch("usbip-vudc-test.")
os.mkdir(os.path.join(tmp, "run"))
records = os.path.join(tmp, "run/vhci_hcd")
logpath = os.path.join(tmp, "usbipd.log")
USB_IDS = os.path.join(srcdir, "tests/data/usb.ids")
ENV = dict(os.environ, USBIP_SYSFS_ROOT=root, USBIP_VHCI_RECORD_DIR=records,
           USBIP_USB_IDS=USB_IDS, USBIPD_TIMEOUT_MS="2000")


def run(*args, port=None):
    argv = [usbip] + (["--tcp-port", str(port)] if port else []) + list(args)
    return subprocess.run(argv, capture_output=True, text=True, env=ENV, timeout=60)


def describe(r):
    return "status %d\nstdout:\n%s\nstderr:\n%s" % (r.returncode, r.stdout, r.stderr)


def start_usbipd(port, extra=()):
    return usbiptest.start_usbipd([usbipd, "-t", str(port)] + list(extra), port, ENV, logpath)


def test_list_device():
    want = (" - busid usbip-vudc.0 (1d6b:0104)\n"
            "   Linux Foundation : unknown product (1d6b:0104)\n\n"
            " - busid usbip-vudc.1 (1d6b:0105)\n"
            "   Linux Foundation : unknown product (1d6b:0105)\n\n"
            " - busid usbip-vudc.3 (0525:a4a6)\n"
            "   Netchip Technology, Inc. : Linux-USB Ethernet/RNDIS Gadget (0525:a4a6)\n\n"
            " - busid usbip-vudc.10 (0525:a4a5)\n"
            "   Netchip Technology, Inc. : Linux-USB File-backed Storage Gadget (0525:a4a5)\n\n")
    r = run("list", "--device")
    tap.check(r.returncode == 0 and r.stdout == want,
              "list --device: every controller with a gadget, in any state, in natural order; "
              "usbip-vudc.2 (no gadget) left out", describe(r) + "\n--- want\n" + want)
    want_p = ("busid=usbip-vudc.0#usbid=1d6b:0104#\n"
              "busid=usbip-vudc.1#usbid=1d6b:0105#\n"
              "busid=usbip-vudc.3#usbid=0525:a4a6#\n"
              "busid=usbip-vudc.10#usbid=0525:a4a5#\n")
    r = run("list", "-d", "-p")
    tap.check(r.returncode == 0 and r.stdout == want_p, "list -d -p: one parsable line each",
              describe(r))
    r = run("list", "-d", "-l")
    tap.check(r.returncode == 2 and "exclude each other" in r.stderr,
              "list -d -l is a usage error", describe(r))
    r = run("list", "-d", "-r", "127.0.0.1")
    tap.check(r.returncode == 2 and "exclude each other" in r.stderr,
              "list -d -r is a usage error", describe(r))

    drv = os.path.join(root, "bus/platform/drivers/usbip-vudc")
    os.rename(drv, drv + ".away")
    r = run("list", "--device")
    os.rename(drv + ".away", drv)
    tap.check(r.returncode == 1 and "modprobe usbip-vudc" in r.stderr and r.stdout == "",
              "list --device without usbip-vudc loaded: status 1, says to load it", describe(r))

    # A descriptor that is not one: the controller is skipped, others listed.
    desc = os.path.join(root, fakesysfs.vudc_dir("usbip-vudc.3"), "dev_desc")
    with open(desc, "rb") as f:
        good = f.read()
    with open(desc, "wb") as f:
        f.write(b"\x09\x02" + good[2:9])
    r = run("list", "-d", "-p")
    with open(desc, "wb") as f:
        f.write(good)
    tap.check(r.returncode == 0 and r.stdout == want_p.replace(
        "busid=usbip-vudc.3#usbid=0525:a4a6#\n", ""),
        "list -d: a 9-byte dev_desc is skipped, the others are listed", describe(r))


def test_usbipd_device(port):
    # DEVLIST: available gadgets only, sorted, no interface records.
    want = struct.pack(">HHII", VERSION, REP_DEVLIST, ST_OK, 2)
    want += fakesysfs.vudc_record("usbip-vudc.0") + fakesysfs.vudc_record("usbip-vudc.10")
    got = request(port, devlist_req())
    tap.check(got == want, "usbipd -e DEVLIST is byte-exact: usbip-vudc.0 and usbip-vudc.10, "
              "%d bytes; in use / error / no gadget hidden" % len(want),
              "got  %s\nwant %s" % (got.hex(), want.hex()))
    rec = fakesysfs.vudc_record("usbip-vudc.10")
    tap.check(struct.unpack(">I", rec[296:300])[0] == 5,
              "usbip-vudc.10: current_speed UNKNOWN, so the speed is maximum_speed (5)")
    tap.check(b"1-1\0" not in got and b"/usb1/" not in got,
              "usbipd -e does not list usbip-host devices")

    sockfd = os.path.join(root, fakesysfs.vudc_dir("usbip-vudc.0"), "usbip_sockfd")
    got = request(port, import_req("usbip-vudc.0"))
    want = struct.pack(">HHI", VERSION, REP_IMPORT, ST_OK) + fakesysfs.vudc_record("usbip-vudc.0")
    tap.check(got == want, "IMPORT usbip-vudc.0: status 0 and the 312-byte record, byte-exact",
              "got  %s\nwant %s" % (got.hex(), want.hex()))
    text = read(sockfd)
    tap.check(re.fullmatch(r"[0-9]+", text or "") is not None and int(text) > 2,
              "IMPORT usbip-vudc.0: a socket fd number was written to its usbip_sockfd",
              repr(text))

    for busid, status, what in (("usbip-vudc.1", ST_BUSY, "in use (status 2) -> DEV_BUSY"),
                                ("usbip-vudc.3", ST_DEV_ERR, "error state -> DEV_ERR"),
                                ("usbip-vudc.2", ST_NODEV, "no gadget bound -> NODEV"),
                                ("usbip-vudc.7", ST_NODEV, "unknown controller -> NODEV"),
                                ("1-1", ST_NODEV, "a usbip-host device -> NODEV"),
                                ("module", ST_NODEV, "the driver's module link -> NODEV")):
        path = os.path.join(root, fakesysfs.vudc_dir(busid), "usbip_sockfd")
        if os.path.exists(path):
            open(path, "w").close()
        got = request(port, import_req(busid))
        tap.check(got == struct.pack(">HHI", VERSION, REP_IMPORT, status) and
                  not read(path),
                  "IMPORT %s: %s, 8 bytes, usbip_sockfd untouched" % (busid, what), got.hex())

    # usbip list -r against it, ours and Debian's.
    want = ("Exportable USB devices\n"
            "======================\n"
            " - 127.0.0.1\n"
            "usbip-vudc.0: Linux Foundation : unknown product (1d6b:0104)\n"
            "           : /sys/devices/platform/usbip-vudc.0\n"
            "           : (Defined at Interface level) (00/00/00)\n"
            "\n"
            "usbip-vudc.10: Netchip Technology, Inc. : Linux-USB File-backed Storage Gadget "
            "(0525:a4a5)\n"
            "           : /sys/devices/platform/usbip-vudc.10\n"
            "           : unknown class / unknown subclass / unknown protocol (ef/02/01)\n"
            "\n")
    r = run("list", "-r", "127.0.0.1", port=port)
    tap.check(r.returncode == 0 and r.stdout == want, "usbip list -r shows the gadgets",
              describe(r) + "\n--- want\n" + want)
    both = usbiptest.list_remote_twice(usbip, port)
    if both:
        r1, r2 = both
        tap.check(r1.stdout == r2.stdout and "usbip-vudc.10" in r1.stdout,
                  "usbip list -r of gadgets prints what Debian's /usr/sbin/usbip prints",
                  "ours:\n%s\nDebian's:\n%s" % (r1.stdout, r2.stdout))
    else:
        tap.skip("Debian's usbip not installed")

    # attach -d through this daemon onto the fake vhci: devid 0, high speed.
    vhci = fakesysfs.build_vhci(root)
    attach = os.path.join(vhci, "attach")
    open(attach, "w").close()
    r = run("attach", "-r", "127.0.0.1", "-d", "usbip-vudc.0", port=port)
    line = read(attach) or ""
    m = re.fullmatch(r"(\d+) (\d+) (\d+) (\d+)", line)
    rec = read(os.path.join(records, "port0"))
    tap.check(r.returncode == 0 and m is not None and m.group(1) == "0" and
              int(m.group(2)) >= 3 and m.group(3) == "0" and m.group(4) == "3" and
              r.stdout == "usbip: attached remote device 127.0.0.1/usbip-vudc.0 to port 0\n" and
              rec == "127.0.0.1 %d usbip-vudc.0\n" % port,
              "attach -r 127.0.0.1 -d usbip-vudc.0: vhci port 0, devid 0, speed 3, recorded",
              describe(r) + "\nattach: %r\nrecord: %r" % (line, rec))
    open(attach, "w").close()
    r = run("attach", "-r", "127.0.0.1", "--device", "usbip-vudc.1", port=port)
    tap.check(r.returncode == 1 and "busy" in r.stderr and read(attach) == "",
              "attach --device of a gadget in use: 'busy', nothing attached", describe(r))

    # usbip-vudc unloaded: an empty list, imports refused as unknown.
    drv = os.path.join(root, "bus/platform/drivers/usbip-vudc")
    os.rename(drv, drv + ".away")
    got = request(port, devlist_req())
    got2 = request(port, import_req("usbip-vudc.0"))
    os.rename(drv + ".away", drv)
    tap.check(got == struct.pack(">HHII", VERSION, REP_DEVLIST, ST_OK, 0) and
              got2 == struct.pack(">HHI", VERSION, REP_IMPORT, ST_NODEV),
              "usbip-vudc not loaded: DEVLIST lists 0 devices, IMPORT is NODEV",
              got.hex() + " " + got2.hex())


def test_host_mode_ignores_gadgets(port):
    got = request(port, devlist_req())
    ok = got[:12] == struct.pack(">HHII", VERSION, REP_DEVLIST, ST_OK, 2) and \
        b"usbip-vudc" not in got
    tap.check(ok, "usbipd without -e lists no gadget", got[:12].hex())
    got = request(port, import_req("usbip-vudc.0"))
    tap.check(got == struct.pack(">HHI", VERSION, REP_IMPORT, ST_NODEV),
              "usbipd without -e: IMPORT usbip-vudc.0 is NODEV", got.hex())


def main():
    try:
        test_list_device()
        port = free_port()
        p = start_usbipd(port, ["-e"])
        if tap.check(p.poll() is None, "usbipd -e starts and listens on port %d" % port,
                     read(logpath)):
            try:
                test_usbipd_device(port)
            finally:
                stop(p)
        port = free_port()
        p = start_usbipd(port, ["--device", "-4"])
        try:
            log = read(logpath) or ""
            tap.check(p.poll() is None and "exporting usbip-vudc devices" in log,
                      "usbipd --device -4 says it exports usbip-vudc devices", log)
        finally:
            stop(p)
        port = free_port()
        p = start_usbipd(port)
        try:
            test_host_mode_ignores_gadgets(port)
        finally:
            stop(p)
        r = subprocess.run([usbipd, "-h"], capture_output=True, text=True)
        tap.check(r.returncode == 0 and "--device" in r.stdout and "usbip-vudc" in r.stdout,
                  "usbipd -h describes --device")
        r = run("help", "list")
        tap.check(r.returncode == 0 and "--device" in r.stdout and
                  "not implemented" not in r.stdout.lower(), "usbip help list describes --device")
        r = run("help", "attach")
        tap.check(r.returncode == 0 and "-d, --device" in r.stdout,
                  "usbip help attach describes -d")
    finally:
        tap.diag("usbipd log:\n" + (read(logpath) or ""))
        shutil.rmtree(tmp, ignore_errors=True)
    tap.done()


main()
