# SPDX-License-Identifier: GPL-2.0
"""usbip bind / unbind against a fake sysfs tree: the exact writes to the
usbip-host control files, and the errors (unknown bus id, already bound,
hub, not bound, module not loaded, not root).  TAP output."""

import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakesysfs  # noqa: E402
import usbiptest  # noqa: E402

tap = fakesysfs.Tap()
usbip, = usbiptest.programs("USBIP_BIN")

tmp, root = usbiptest.scratch("usbip-host-test.")
HOST = os.path.join(root, "bus/usb/drivers/usbip-host")
USB = os.path.join(root, "bus/usb/drivers/usb")
PROBE = os.path.join(root, "bus/usb/drivers_probe")
CONTROL = [os.path.join(HOST, f) for f in ("bind", "unbind", "match_busid", "rebind")] + \
    [os.path.join(USB, "unbind"), os.path.join(USB, "bind"), PROBE]


def reset():
    for f in CONTROL:
        if os.path.exists(f):
            open(f, "w").close()


def written():
    """{file relative to the root: content} of the control files written to."""
    out = {}
    for f in CONTROL:
        if os.path.exists(f):
            with open(f) as fh:
                text = fh.read()
            if text:
                out[os.path.relpath(f, root)] = text
    return out


def run(*args, env_extra=None, preexec=None):
    env = dict(os.environ, USBIP_SYSFS_ROOT=root)
    env.update(env_extra or {})
    return subprocess.run([usbip] + list(args), capture_output=True, text=True, env=env,
                          preexec_fn=preexec)


def expect(args, status, err_text, writes, what):
    reset()
    r = run(*args)
    got = written()
    tap.check(r.returncode == status and err_text in r.stderr and got == writes, what,
              "status %d (want %d)\nstderr: %s\nwrites: %r\nwant:   %r" %
              (r.returncode, status, r.stderr.strip(), got, writes))


expect(["bind", "-b", "2-1"], 0, "bind device on busid 2-1: complete",
       {"bus/usb/drivers/usbip-host/match_busid": "add 2-1",
        "bus/usb/drivers/usb/unbind": "2-1",
        "bus/usb/drivers/usbip-host/bind": "2-1"},
       "bind 2-1: add to match_busid, unbind from usb, bind to usbip-host")
expect(["bind", "--busid", "1-1"], 1, "1-1 is already bound to usbip-host", {},
       "bind of a device already on usbip-host fails, writes nothing")
expect(["bind", "-b", "9-9"], 1, "no USB device with bus id 9-9", {},
       "bind of an unknown bus id fails, writes nothing")
expect(["bind", "-b", "2-2"], 1, "2-2 is a USB hub", {}, "bind of a hub fails")
expect(["bind", "-b", "usb1"], 1, "usb1 is a USB hub", {}, "bind of a root hub fails")
expect(["bind", "-b", "2-1:1.0"], 1, "not a USB device", {}, "bind of an interface fails")
expect(["bind", "-b", "../2-1"], 1, "invalid byte 0x2f", {}, "bind of a bus id with a slash fails")
expect(["bind", "-b", "x" * 40], 1, "longer than 31", {}, "bind of a 40-character bus id fails")

expect(["unbind", "-b", "1-2"], 0, "unbind device on busid 1-2: complete",
       {"bus/usb/drivers/usbip-host/unbind": "1-2",
        "bus/usb/drivers/usbip-host/match_busid": "del 1-2",
        "bus/usb/drivers/usbip-host/rebind": "1-2"},
       "unbind 1-2: unbind from usbip-host, del from match_busid, rebind")
expect(["unbind", "-b", "2-1"], 1, "2-1 is not bound to usbip-host (its driver is usb)", {},
       "unbind of a device not on usbip-host fails, writes nothing")
expect(["unbind", "-b", "9-9"], 1, "no USB device with bus id 9-9", {},
       "unbind of an unknown bus id fails")

# Without a rebind attribute the bus is asked to probe the device.
os.rename(os.path.join(HOST, "rebind"), os.path.join(tmp, "rebind"))
expect(["unbind", "-b", "1-3"], 0, "complete",
       {"bus/usb/drivers/usbip-host/unbind": "1-3",
        "bus/usb/drivers/usbip-host/match_busid": "del 1-3",
        "bus/usb/drivers_probe": "1-3"},
       "unbind without usbip-host/rebind falls back to drivers_probe")
os.rename(os.path.join(tmp, "rebind"), os.path.join(HOST, "rebind"))

# A failing step is undone: usbip-host/bind missing -> match entry removed,
# device reprobed by its driver.
os.rename(os.path.join(HOST, "bind"), os.path.join(tmp, "bind"))
reset()
r = run("bind", "-b", "2-1")
got = written()
tap.check(r.returncode == 1 and "usbip-host/bind" in r.stderr and
          got == {"bus/usb/drivers/usbip-host/match_busid": "del 2-1",
                  "bus/usb/drivers/usb/unbind": "2-1", "bus/usb/drivers_probe": "2-1"},
          "a failed bind removes the match entry and reprobes the device",
          "status %d\nstderr: %s\nwrites: %r" % (r.returncode, r.stderr, got))
os.rename(os.path.join(tmp, "bind"), os.path.join(HOST, "bind"))

# usbip-host not loaded.
os.rename(HOST, os.path.join(tmp, "usbip-host"))
expect(["bind", "-b", "2-1"], 1, "modprobe usbip-host", {},
       "bind without usbip-host loaded says to modprobe it")
expect(["unbind", "-b", "1-1"], 1, "modprobe usbip-host", {},
       "unbind without usbip-host loaded says to modprobe it")
os.rename(os.path.join(tmp, "usbip-host"), HOST)


def drop_root():
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)


# Not root: the control files are root-writable only.
if os.geteuid() == 0:
    os.chmod(tmp, 0o755)
    reset()
    r = run("bind", "-b", "2-1", preexec=drop_root)
    tap.check(r.returncode == 1 and "needs root" in r.stderr and written() == {},
              "bind as an unprivileged user fails, says it needs root",
              "status %d\nstderr: %s" % (r.returncode, r.stderr))
    r = run("unbind", "-b", "1-1", preexec=drop_root)
    tap.check(r.returncode == 1 and "are you root" in r.stderr and written() == {},
              "unbind as an unprivileged user fails, asks 'are you root?'",
              "status %d\nstderr: %s" % (r.returncode, r.stderr))
else:
    r = run("bind", "-b", "2-1")
    tap.check(r.returncode == 0, "bind as the owner of the fake tree works")
    tap.skip("not root: cannot test the unprivileged case")

shutil.rmtree(tmp, ignore_errors=True)
tap.done()
