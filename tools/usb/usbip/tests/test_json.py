# SPDX-License-Identifier: GPL-2.0
"""usbip list -l/-r/--device and usbip port with --json and -o json: every
document validates against doc/usbip-json.schema.json (python3-jsonschema),
lists exactly the devices/ports the text output lists, list -l shows the
sessions of our usbip-host (text and JSON), and names with
quotes, backslashes, control characters, non-ASCII and invalid UTF-8 come
out as valid, correctly escaped JSON.  Runs our usbipd against a fake sysfs
tree on 127.0.0.1.  TAP output."""

import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakesysfs  # noqa: E402
import usbiptest  # noqa: E402
from usbiptest import free_port  # noqa: E402

tap = fakesysfs.Tap()
usbip, usbipd = usbiptest.programs("USBIP_BIN", "USBIPD_BIN")
srcdir = os.environ.get("top_srcdir", os.path.join(os.path.dirname(__file__), ".."))
try:
    import jsonschema
except ImportError:
    print("Bail out! python3-jsonschema is not installed")
    sys.exit(99)

with open(os.path.join(srcdir, "doc/usbip-json.schema.json")) as f:
    SCHEMA = json.load(f)
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

tmp, root = usbiptest.scratch("usbip-json-test.")
records = os.path.join(tmp, "records")
os.mkdir(records)

# A usb.ids whose names need escaping.  The file is bytes: the Netchip
# vendor name holds a quote, a backslash, a tab and a C1-free control byte,
# the storage gadget's product name an invalid UTF-8 byte, the Linux
# Foundation vendor non-ASCII UTF-8.
ODD_VENDOR = b'Net"chip\\ \x01\x1f tab\there'
ODD_PRODUCT = b"File \xff Storage </script>"
UNI_VENDOR = "Linux Foundation \u00e9\u4e2d\U0001f600".encode()
ids = os.path.join(tmp, "usb.ids")
with open(ids, "wb") as f:
    f.write(b"0525  " + ODD_VENDOR + b"\n\ta4a5  " + ODD_PRODUCT + b"\n")
    f.write(b"1d6b  " + UNI_VENDOR + b"\n\t0104  Multifunction Composite Gadget\n")
    f.write(b"C 08  Mass Storage\nC ff  Vendor Specific Class\n")
ENV = dict(os.environ, USBIP_SYSFS_ROOT=root, USBIP_USB_IDS=ids, USBIP_VHCI_RECORD_DIR=records,
           USBIP_NO_AUTOLOAD="1")


def run(*args, port=None, env=None):
    argv = [usbip] + (["--tcp-port", str(port)] if port else []) + list(args)
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=env or ENV, timeout=60)


def describe(r):
    return "exit %d\nstdout: %r\nstderr: %r" % (r.returncode, r.stdout[:2000], r.stderr[:2000])


def load(r, what):
    """Parses and validates; returns the document or None after a failed check."""
    try:
        doc = json.loads(r.stdout.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        tap.check(False, "%s: valid UTF-8 JSON" % what, "%s\n%s" % (e, describe(r)))
        return None
    errors = [e.message for e in VALIDATOR.iter_errors(doc)]
    tap.check(r.returncode == 0 and not errors, "%s: exit 0, valid against the schema" % what,
              "\n".join(errors) + "\n" + describe(r))
    return doc


def start_usbipd(port, extra=()):
    return usbiptest.start_usbipd([usbipd, "-4", "-t", str(port)] + list(extra), port, ENV,
                                  os.path.join(tmp, "usbipd.log"), wait=20)


def busids_text(r):
    return [ln.split()[0].rstrip(":") for ln in r.stdout.decode("utf-8", "replace").splitlines()
            if ln.startswith("      ") is False and ln.strip()[:1].isdigit()
            and ":" in ln.split()[0]]


def main():
    # 1. list -r HOST against our usbipd on the fake sysfs tree.
    port = free_port()
    proc = start_usbipd(port)
    try:
        r = run("list", "-r", "127.0.0.1", "--json", port=port)
        doc = load(r, "list -r --json")
        if doc:
            got = [d["busid"] for d in doc["devices"]]
            want = sorted((b for b, d in fakesysfs.DEVICES.items()
                           if d["driver"] == "usbip-host" and d.get("status") == 1),
                          key=lambda b: [int(x) for x in b.replace("-", ".").split(".")])
            tap.check(doc["mode"] == "remote" and doc["host"] == "127.0.0.1" and
                      doc["tcp_port"] == port and got == want,
                      "list -r --json: mode, host, port and the exportable bus ids %s" % want,
                      "got %s" % got)
            d = {x["busid"]: x for x in doc["devices"]}
            one = d.get("1-1", {})
            tap.check(one.get("vendor") == ODD_VENDOR.decode() and
                      one.get("product") == ODD_PRODUCT.decode("utf-8", "replace") and
                      one.get("vendor_id") == "0525" and one.get("product_id") == "a4a5" and
                      one.get("speed") == "high" and one.get("busnum") == 1 and
                      one.get("devnum") == 2 and one.get("bcd_device") == "0100",
                      "odd names round-trip: quote, backslash, control bytes, invalid UTF-8",
                      repr(one))
            ten = d.get("1-10", {})
            tap.check(ten.get("vendor") == UNI_VENDOR.decode() and ten.get("speed") == "super" and
                      [i["class"] for i in ten.get("interfaces", [])] == ["ff", "08", "0e"] and
                      ten["interfaces"][1]["class_name"] == "Mass Storage" and
                      ten["interfaces"][2]["class_name"] is None and ten.get("class") == "ef" and
                      ten.get("configuration") == 2,
                      "non-ASCII names unchanged; interfaces, classes and unknown names (null)",
                      repr(ten))
            raw = r.stdout
            tap.check(b"\\u0001" in raw and b"\\u001f" in raw and b"\\t" in raw and
                      b'\\"' in raw and b"\\\\" in raw and b"\\ufffd" in raw and
                      b"\xff" not in raw, "escapes in the raw output: \\u0001 \\u001f \\t \\\" "
                      "\\\\ and U+FFFD for the invalid byte")
        r2 = run("list", "-r", "127.0.0.1", "-o", "json", port=port)
        tap.check(r2.returncode == 0 and r2.stdout == r.stdout,
                  "list -r -o json prints the same document as --json", describe(r2))
    finally:
        proc.kill()
        proc.wait()
    r = run("list", "-r", "127.0.0.1", "--json", port=port)
    tap.check(r.returncode == 1 and r.stdout == b"",
              "list -r --json with no server: exit 1, nothing on stdout", describe(r))

    # 2. list --device: the usbip-vudc gadgets.
    r = run("list", "--device", "--json")
    doc = load(r, "list --device --json")
    if doc:
        p = run("list", "-d", "-p")
        want = [ln.split("#")[0][len("busid="):] for ln in p.stdout.decode().splitlines()]
        got = [d["busid"] for d in doc["devices"]]
        tap.check(doc["mode"] == "device" and got == want and got,
                  "list --device --json: the same gadgets as list -d -p %s" % want, repr(got))

    # 3. list -l on this host (libudev, the real /sys).
    env = dict(os.environ, USBIP_USB_IDS=ids)
    env.pop("USBIP_SYSFS_ROOT", None)
    r = run("list", "-l", "--json", env=env)
    doc = load(r, "list -l --json (this host's devices)")
    if doc:
        p = run("list", "-l", "-p", env=env)
        want = [ln.split("#")[0][len("busid="):] for ln in p.stdout.decode().splitlines()]
        got = [d["busid"] for d in doc["devices"]]
        tap.check(doc["mode"] == "local" and got == want,
                  "list -l --json: the same %d devices as list -l -p" % len(want), repr(got))

    # 3b. list -l on the fake tree: usbip_session of our usbip-host shows
    # (resumable with the seconds left, active), only where the file is.
    for busid, text in (("1-1", "resumable left_ms=12001"), ("1-2", "active journal=4096"),
                        ("1-10", "none"), ("1-3", "bogus")):
        fakesysfs.set_session_driver(root, busid, "1", session=text)
    r = run("list", "-l", "--json")
    doc = load(r, "list -l --json on the fake tree with sessions")
    if doc:
        d = {x["busid"]: x for x in doc["devices"]}
        tap.check(sorted(d) == ["1-1", "1-10", "1-2", "1-3", "2-1"] and
                  d["1-1"].get("session") == {"state": "resumable", "left_s": 13} and
                  d["1-2"].get("session") == {"state": "active"} and
                  all("session" not in d[b] for b in ("1-10", "1-3", "2-1")),
                  "list -l --json: 1-1 resumable for 13 s, 1-2 active, no session elsewhere "
                  "(none, unreadable, no file)", repr({b: x.get("session") for b, x in d.items()}))
    r = run("list", "-l")
    out = r.stdout.decode("utf-8", "replace")
    blocks = {b.split()[2]: b for b in out.split("\n\n") if b.startswith(" - busid ")}
    tap.check(r.returncode == 0 and
              blocks.get("1-1", "").endswith("\n   session: resumable, 13 s left") and
              blocks.get("1-2", "").endswith("\n   session: active") and
              sum("session:" in b for b in blocks.values()) == 2 and len(blocks) == 5,
              "list -l: \"session: resumable, 13 s left\" and \"session: active\", nothing "
              "else", describe(r))
    r = run("list", "-l", "-p")
    tap.check(r.returncode == 0 and b"session" not in r.stdout and
              r.stdout.decode().splitlines()[0] == "busid=1-1#usbid=0525:a4a5#",
              "list -l -p: unchanged by sessions", describe(r))
    for busid in ("1-1", "1-2", "1-10", "1-3"):
        fakesysfs.set_session_driver(root, busid, None)
        os.unlink(os.path.join(root, fakesysfs.dev_dir(busid), "usbip_session"))

    # 4. usbip port --json against a fake vhci-hcd with three used ports.
    used = {0: (fakesysfs.VDEV_USED, 3, 0x00010002, 5, "1-1"),
            3: (fakesysfs.VDEV_USED, 5, 0x0001000a, 6, "1-10"),
            5: (fakesysfs.VDEV_USED, 2, 0x00020003, 7, "9-9")}
    fakesysfs.build_vhci(root, ncontrollers=2, hs=2, ss=2, used=used)
    with open(os.path.join(records, "port0"), "w") as f:
        f.write('ser"ver\\1 3240 1-1\n')
    with open(os.path.join(records, "port3"), "w") as f:
        f.write("fd00:5b1b::1 3241 1-10\n")
    r = run("port", "--json")
    doc = load(r, "port --json")
    if doc:
        ports = {p["port"]: p for p in doc["ports"]}
        p0, p3, p5 = ports.get(0, {}), ports.get(3, {}), ports.get(5, {})
        tap.check(sorted(ports) == [0, 3, 5] and doc["nports"] == 8,
                  "port --json: the three used ports of 8", repr(doc))
        tap.check(p0.get("hub") == "hs" and p0.get("status") == "in use" and
                  p0.get("speed") == "high" and p0.get("devid") == 0x10002 and
                  p0.get("remote_busnum") == 1 and p0.get("remote_devnum") == 2 and
                  p0.get("local_busid") == "1-1" and p0.get("vendor_id") == "0525" and
                  p0.get("vendor") == ODD_VENDOR.decode() and
                  p0.get("remote") == {"host": 'ser"ver\\1', "tcp_port": 3240, "busid": "1-1"},
                  "port 0: hub, status, speed, devid, local device names, escaped remote host",
                  repr(p0))
        tap.check(p3.get("hub") == "ss" and p3.get("speed") == "super" and
                  p3.get("remote") == {"host": "fd00:5b1b::1", "tcp_port": 3241,
                                       "busid": "1-10"},
                  "port 3: SuperSpeed, IPv6 remote", repr(p3))
        tap.check(p5.get("remote") is None and p5.get("vendor_id") is None and
                  p5.get("local_busid") == "9-9",
                  "port 5: no record and no local device yet -> null", repr(p5))
    r2 = run("port", "-o", "json")
    tap.check(r2.returncode == 0 and r2.stdout == r.stdout, "port -o json == port --json",
              describe(r2))
    # Sessions (our vhci-hcd's session file): one more member, last.
    with open(os.path.join(root, fakesysfs.VHCI, "session"), "w") as f:
        f.write("0 active\n3 reconnecting 12001\n")
    r3 = run("port", "--json")
    doc = load(r3, "port --json with sessions")
    if doc:
        ports = {p["port"]: p for p in doc["ports"]}
        tap.check(ports[0].get("session") == {"state": "active"} and
                  ports[3].get("session") == {"state": "reconnecting", "left_s": 13} and
                  "session" not in ports[5] and
                  r3.stdout.decode().replace(',"session":{"state":"active"}', "", 1)
                  .replace(',"session":{"state":"reconnecting","left_s":13}', "", 1) ==
                  r.stdout.decode(),
                  "port --json: session active / reconnecting with left_s rounded up, "
                  "nothing else changed", repr(doc))
    with open(os.path.join(root, fakesysfs.VHCI, "session"), "w") as f:
        f.write("0 active\n0 active\n")
    r3 = run("port", "--json")
    tap.check(r3.returncode == 0 and r3.stdout == r.stdout,
              "port --json: a malformed session file shows no session", describe(r3))
    os.unlink(os.path.join(root, fakesysfs.VHCI, "session"))
    fakesysfs.build_vhci(root, ncontrollers=2, hs=2, ss=2, used={})
    doc = load(run("port", "--json"), "port --json with no device attached")
    tap.check(bool(doc) and doc["ports"] == [], "no device attached: an empty ports array")

    # 5. Usage errors.
    for args, what in ((("list", "-l", "-o", "yaml"), "-o yaml"),
                       (("list", "-l", "-p", "--json"), "--json with -p"),
                       (("port", "-o"), "-o without a format")):
        r = run(*args)
        tap.check(r.returncode == 2 and r.stdout == b"", "%s is a usage error (exit 2)" % what,
                  describe(r))


try:
    main()
finally:
    shutil.rmtree(tmp, ignore_errors=True)
tap.done()
