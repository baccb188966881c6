#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Loopback import with a session, and its resume, without usbipd.

    session_attach.py attach SERVER TOKEN WINDOW_MS HEARTBEAT_MS
    session_attach.py resume SERVER PORT TOKEN NEW_TOKEN
    session_attach.py plain SERVER

SERVER is a usbip-vudc device (usbip-vudc.N) or the bus id of a USB device
bound to usbip-host (e.g. 3-1).

attach: like vudc_attach.py (both ends of one ::1 connection, the server end
to SERVER's usbip_sockfd, the client end to vhci_hcd.0's attach), but with the
session's words: "FD caps=1 token=TOKEN window=WINDOW_MS journal=BYTES" for
usbip-vudc and "PORT FD DEVID SPEED caps=1 window=WINDOW_MS
heartbeat=HEARTBEAT_MS" for vhci-hcd, as usbipd and usbip attach write them
after an import that agreed SESSION.  Prints "PORT SPEED CLIENT_TCP_PORT".

resume: a new ::1 connection; "resume FD token=TOKEN new=NEW_TOKEN" to
VUDC's usbip_sockfd (the server checks the token and takes the new one),
then "PORT FD" to vhci_hcd.0's resume, as usbipd and usbip attach
--persistent do after OP_REQ_RESUME.  Prints "CLIENT_TCP_PORT".

With SESSION_NETNS and SESSION_ADDR in the environment, the connections
cross a link instead of ::1: the server end is made in network namespace
SESSION_NETNS and listens on SESSION_ADDR there (usbip_wire.link_pair), so
that taking the link down cuts them.

plain: the same import without a session (plain "FD" and "PORT FD DEVID
SPEED" lines), for comparisons.  Prints what attach prints.

TOKEN and NEW_TOKEN are 32 hex digits.  CLIENT_TCP_PORT (the client end's
local port) lets a test cut exactly this connection with nft.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import usbip_wire as w  # noqa: E402

SPEEDS = {"low-speed": 1, "full-speed": 2, "high-speed": 3, "wireless": 4,
          "super-speed": 5, "super-speed-plus": 6}
VHCI = "/sys/devices/platform/vhci_hcd.0"
VDEV_ST_NULL = 4
JOURNAL = 16 << 20


USB_SPEEDS = {"1.5": 1, "12": 2, "480": 3, "5000": 5, "10000": 6, "20000": 6}


def new_pair():
    """A new connection: over the link of SESSION_NETNS, else over ::1."""
    netns = os.environ.get("SESSION_NETNS")
    if netns:
        return w.link_pair(netns, os.environ["SESSION_ADDR"])
    return w.loopback_pair()


def server(dev):
    """(usbip_sockfd path, speed, devid) of SERVER."""
    if dev.startswith("usbip-vudc."):
        with open(f"/sys/class/udc/{dev}/current_speed") as f:
            name = f.read().strip()
        if name not in SPEEDS:
            sys.exit(f"{dev}: gadget speed is {name!r}, is a gadget bound?")
        return f"/sys/devices/platform/{dev}/usbip_sockfd", SPEEDS[name], (1 << 16) | 2
    d = f"/sys/bus/usb/devices/{dev}"
    with open(f"{d}/speed") as f:
        speed = USB_SPEEDS[f.read().strip()]
    with open(f"{d}/busnum") as f:
        busnum = int(f.read())
    with open(f"{d}/devnum") as f:
        devnum = int(f.read())
    return f"{d}/usbip_sockfd", speed, (busnum << 16) | devnum


def free_port(speed):
    """The first free vhci port of the root hub for speed."""
    hub = "ss" if speed >= SPEEDS["super-speed"] else "hs"
    with open(f"{VHCI}/status") as f:
        free = [int(x[1]) for x in (line.split() for line in f.readlines()[1:])
                if len(x) >= 3 and x[0] == hub and int(x[2]) == VDEV_ST_NULL]
    if not free:
        sys.exit(f"no free {hub} port on vhci-hcd")
    return free[0]


def attach(dev, token=None, window=0, heartbeat=0):
    """Imports dev with a session, or plain (token None)."""
    sockfd, speed, devid = server(dev)
    port = free_port(speed)
    srv_words = cli_words = ""
    if token is not None:
        srv_words = (f" caps=1 token={token} window={window} heartbeat={heartbeat} "
                     f"journal={JOURNAL}")
        cli_words = f" caps=1 window={window} heartbeat={heartbeat}"
    cli, srv = new_pair()
    w.write_sysfs(sockfd, f"{srv.fileno()}{srv_words}\n")
    try:
        w.write_sysfs(f"{VHCI}/attach", f"{port} {cli.fileno()} {devid} {speed}{cli_words}")
    except OSError as e:
        try:
            w.write_sysfs(sockfd, "-1\n")
        except OSError:
            pass
        sys.exit(f"vhci attach port {port}: {e}")
    print(port, speed, cli.getsockname()[1])
    srv.close()
    cli.close()


def resume(dev, port, token, new):
    cli, srv = new_pair()
    try:
        w.write_sysfs(server(dev)[0], f"resume {srv.fileno()} token={token} new={new}\n")
    except OSError as e:
        sys.exit(f"{dev} resume: {e}")
    try:
        w.write_sysfs(f"{VHCI}/resume", f"{port} {cli.fileno()}")
    except OSError as e:
        sys.exit(f"vhci resume port {port}: {e}")
    print(cli.getsockname()[1])
    srv.close()
    cli.close()


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "attach":
        attach(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    elif len(sys.argv) == 3 and sys.argv[1] == "plain":
        attach(sys.argv[2])
    elif len(sys.argv) == 6 and sys.argv[1] == "resume":
        resume(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
