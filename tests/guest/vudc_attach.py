#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Loopback import of a usbip-vudc gadget into our vhci-hcd, without usbipd.

    vudc_attach.py VUDC [INDEX]

VUDC is a platform device name such as usbip-vudc.0.  The script opens a TCP
listener on ::1, connects to it and accepts, so it holds both ends of one
connection.  It writes the accepted (server) end to VUDC's usbip_sockfd and
the connecting (client) end to vhci_hcd.0's attach as
"PORT SOCKFD DEVID SPEED", the way usbipd and "usbip attach" would after the
import handshake.  SPEED is the gadget's current speed as the UDC reports it;
PORT is the free port number INDEX (default 0: the first free one) of the
root hub that fits the speed (vhci-hcd's status file: "hs" for USB 2.0, "ss"
for SuperSpeed).  Both writes come
from this process, which owns the descriptors; the drivers keep their own
references, so the script can exit afterwards.  Prints "PORT SPEED".
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import usbip_wire as w  # noqa: E402

SPEEDS = {
    "low-speed": 1,
    "full-speed": 2,
    "high-speed": 3,
    "wireless": 4,
    "super-speed": 5,
    "super-speed-plus": 6,
}
VHCI = "/sys/devices/platform/vhci_hcd.0"
VDEV_ST_NULL = 4


def main():
    vudc = sys.argv[1]
    index = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    with open(f"/sys/class/udc/{vudc}/current_speed") as f:
        name = f.read().strip()
    if name not in SPEEDS:
        sys.exit(f"{vudc}: gadget speed is {name!r}, is a gadget bound?")
    speed = SPEEDS[name]
    hub = "ss" if speed >= SPEEDS["super-speed"] else "hs"
    with open(f"{VHCI}/status") as f:
        free = [int(w[1]) for w in (line.split() for line in f.readlines()[1:])
                if len(w) >= 3 and w[0] == hub and int(w[2]) == VDEV_ST_NULL]
    if len(free) <= index:
        sys.exit(f"no free {hub} port on vhci-hcd")
    port = free[index]
    devid = (1 << 16) | 2

    cli, srv = w.loopback_pair()
    w.write_sysfs(f"/sys/devices/platform/{vudc}/usbip_sockfd", f"{srv.fileno()}\n")
    try:
        w.write_sysfs(f"{VHCI}/attach", f"{port} {cli.fileno()} {devid} {speed}")
    except OSError as e:
        try:
            w.write_sysfs(f"/sys/devices/platform/{vudc}/usbip_sockfd", "-1\n")
        except OSError:
            pass
        sys.exit(f"vhci attach port {port}: {e}")
    srv.close()
    cli.close()
    print(port, speed)


if __name__ == "__main__":
    main()
