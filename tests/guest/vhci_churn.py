#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Attach/detach cycles of one exported device through our vhci-hcd, for
the vhci-churn scenario (no usbip tool: the import and the attach are done
here, with usbip_wire).

    vhci_churn.py SERVER BUSID CYCLES

Each cycle imports BUSID from usbipd on SERVER (retrying while usbipd
refuses it), writes the socket to vhci_hcd.0's attach file on the first
port of the hub that fits the speed, and detaches it again: every other
cycle once the device is configured, the others at once ("early").  Waits
for the port to be free and the device gone each time.  Prints
"churn-ok ..." with the time per cycle, or "churn-fail ..." and exits 1.
"""
import glob
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import usbip_wire as w  # noqa: E402

server, busid, cycles = sys.argv[1], sys.argv[2], int(sys.argv[3])
VH = "/sys/devices/platform/vhci_hcd.0"
with open(VH + "/status") as f:
    per_hub = int([line.split()[1] for line in f if line.startswith("ss ")][0])


def fail(msg):
    print("churn-fail " + msg)
    sys.exit(1)


def wait(what, secs, fn):
    end = time.monotonic() + secs
    while True:
        r = fn()
        if r:
            return r
        if time.monotonic() > end:
            fail("timed out waiting for " + what)
        time.sleep(0.01)


def status(port):
    with open(VH + "/status") as f:
        for line in f:
            x = line.split()
            if x[1] == "%04d" % port:
                return x
    fail("no port %d in the status file" % port)


def try_import():
    try:
        s, st, udev = w.op_import(busid, server, 3240, timeout=30)
    except RuntimeError as e:
        fail(str(e))
    if st != w.ST_OK:
        return None
    return s, udev["devid"], udev["speed"]


def configured():
    for p in glob.glob(VH + "/usb*/[0-9]*-[0-9]*/bConfigurationValue"):
        with open(p) as f:
            if f.read().strip():
                return True
    return False


def gone():
    return not [p for p in glob.glob(VH + "/usb*/[0-9]*-[0-9]*") if ":" not in p]


times = {True: [], False: []}
for i in range(cycles):
    t0 = time.monotonic()
    s, devid, speed = wait("the server to export %s again" % busid, 60, try_import)
    port = per_hub if speed >= 5 else 0
    w.write_sysfs(VH + "/attach", "%d %d %d %d" % (port, s.fileno(), devid, speed))
    s.close()
    if status(port)[2] != "006":
        fail("cycle %d: port %d not in use after attach: %s" % (i, port, status(port)))
    early = i % 2 == 1
    if not early:
        wait("cycle %d: device configured" % i, 60, configured)
    with open(VH + "/detach", "w") as f:
        f.write("%d" % port)
    wait("cycle %d: port %d free" % (i, port), 60, lambda: status(port)[2:] ==
         ["004", "000", "00000000", "000000", "0-0"])
    wait("cycle %d: device gone" % i, 60, gone)
    times[early].append(time.monotonic() - t0)
t = times[True] + times[False]
print("churn-ok %d cycles, %.0f ms per cycle (max %.0f ms; %.0f ms enumerated, %.0f ms early)" %
      (cycles, 1000 * sum(t) / len(t), 1000 * max(t),
       1000 * sum(times[False]) / max(1, len(times[False])),
       1000 * sum(times[True]) / max(1, len(times[True]))))
