# SPDX-License-Identifier: GPL-2.0
# @desc: raw USB/IP client against our usbip-host serving QEMU usb-kbd on qemu-xhci and on UHCI: interrupt IN data, unlink of pending interrupt URBs on real host controllers
# @kernels: 6.1
# @vms: 1
# @modules: ours
# @timeout: 420
#
# A keyboard sends nothing until a key changes, so an interrupt IN URB to
# it stays pending: CMD_UNLINK must answer -ECONNRESET and no RET_SUBMIT
# may follow.  After SET_IDLE the keyboard repeats its 8-byte report, so an
# interrupt IN URB must complete with status 0 and 8 bytes.

host_prepare() {
	vm_usb_controller 1 xhci
	vm_usb_kbd 1 xhci.0
	vm_usb_controller 1 uhci
	vm_usb_kbd 1 uhci.0
}

kbd_py() {
	cat >/tmp/kbd.py <<'PY'
import socket, struct, sys, time

BUSID = sys.argv[1]

def fail(msg):
    print("CLIENT-FAIL: " + msg)
    sys.exit(1)

def recvall(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            fail("connection closed")
        b += c
    return b

s = socket.create_connection(("127.0.0.1", 3240), timeout=60)
s.sendall(struct.pack(">HHI", 0x0111, 0x8003, 0) + BUSID.encode().ljust(32, b"\0"))
if struct.unpack(">HHI", recvall(s, 8))[2] != 0:
    fail("import refused")
rec = recvall(s, 312)
busnum, devnum = struct.unpack(">II", rec[288:296])
devid = busnum << 16 | devnum
seq = 0
dirs = {}

def submit(ep, din, length, setup=b"\0" * 8, interval=0):
    global seq
    seq += 1
    dirs[seq] = din
    s.sendall(struct.pack(">IIIIIIiiii", 1, seq, devid, din, ep, 0x200 if din else 0,
                          length, 0, 0, interval) + setup)
    return seq

def unlink(target):
    global seq
    seq += 1
    s.sendall(struct.pack(">IIIIII", 2, seq, devid, 0, 0, target) + b"\0" * 24)
    return seq

def read_msg():
    h = recvall(s, 48)
    cmd, sq = struct.unpack(">II", h[:8])
    st, act = struct.unpack(">ii", h[20:28])
    data = recvall(s, act) if cmd == 3 and dirs.get(sq) else b""
    return cmd, sq, st, act, data

def wait(sq):
    m = read_msg()
    if m[1] != sq:
        fail("expected an answer to %d, got %r" % (sq, m[:4]))
    return m

def ctrl(rt, req, val, idx, length):
    m = wait(submit(0, 1 if rt & 0x80 else 0, length, struct.pack("<BBHHH", rt, req, val, idx, length)))
    if m[0] != 3 or m[2] != 0:
        fail("control %02x/%02x: %r" % (rt, req, m[:4]))
    return m[4]

dev = ctrl(0x80, 6, 0x100, 0, 18)
if struct.unpack("<H", dev[8:10])[0] != 0x0627:
    fail("not QEMU's keyboard: %r" % dev)
cfg = ctrl(0x80, 6, 0x200, 0, 255)
ep, i = None, 0
while i < len(cfg):
    if cfg[i + 1] == 5 and cfg[i + 3] & 3 == 3 and cfg[i + 2] & 0x80:
        ep, interval = cfg[i + 2] & 0x0f, cfg[i + 6]
    i += cfg[i]
if ep is None:
    fail("no interrupt IN endpoint")
ctrl(0x00, 9, 1, 0, 0)
ctrl(0x21, 0x0a, 0, 0, 0)                  # SET_IDLE 0: report on change only
for n in range(3):
    p = submit(ep, 1, 8, interval=interval)
    time.sleep(0.3)
    u = unlink(p)
    m = read_msg()
    if m[0] != 4 or m[1] != u or m[2] != -104:
        fail("unlink of pending interrupt URB %d: %r" % (p, m[:4]))
u = unlink(4242)
m = wait(u)
if m[0] != 4 or m[2] != 0:
    fail("unlink of unknown seqnum: %r" % (m[:4],))
ctrl(0x21, 0x0a, 1 << 8, 0, 0)             # SET_IDLE 4 ms: repeat the report
for n in range(5):
    m = wait(submit(ep, 1, 8, interval=interval))
    if m[0] != 3 or m[2] != 0 or m[3] != 8 or len(m[4]) != 8:
        fail("interrupt IN with idle repeat: %r" % (m[:4],))
print("CLIENT-OK %s interrupt endpoint %d, 3 unlinks, 5 reports" % (BUSID, ep))
s.close()
PY
}

status_is() {
	[ "$(cat "/sys/bus/usb/devices/$1/usbip_status")" = "$2" ]
}

vm1() {
	local busid before ctl

	step "server: host controllers, our usbip-host, usbipd"
	qemu_usb_prepare
	run modprobe usbip-host
	usbipd_start
	at_exit usbipd_stop
	kbd_py
	for ctl in xhci uhci; do
		step "keyboard on $ctl"
		wait_for "a keyboard on $ctl" 60 prints kbd_on "$ctl"
		busid=$(kbd_on "$ctl")
		run "$USBIP" bind -b "$busid"
		wait_for "$busid bound to usbip-host" 30 test -e "/sys/bus/usb/drivers/usbip-host/$busid"
		before=$(dmesg -l err | grep -c usbip-host || true)
		python3 /tmp/kbd.py "$busid" || die "raw client failed on $ctl"
		wait_for "usbip_status 1" 30 status_is "$busid" 1
		[ "$(dmesg -l err | grep -c usbip-host || true)" -eq "$before" ] || die "errors logged"
		run "$USBIP" unbind -b "$busid"
		info "PASS: interrupt IN and unlink on $ctl"
	done
}

# kbd_on xhci|uhci: busid of QEMU's keyboard behind that controller.
kbd_on() {
	local d pci
	pci=$(ctl_pci "$1")
	[ -n "$pci" ] || return 1
	for d in /sys/bus/usb/devices/*; do
		[ -f "$d/idVendor" ] || continue
		[ "$(cat "$d/idVendor"):$(cat "$d/idProduct")" = 0627:0001 ] || continue
		case "$(readlink -f "$d")" in
		*/"$pci"/*) echo "${d##*/}"; return 0 ;;
		esac
	done
	return 1
}

# ctl_pci xhci|uhci: PCI address of the first controller bound to that driver.
ctl_pci() {
	local drv
	case "$1" in xhci) drv=xhci_hcd ;; uhci) drv=uhci_hcd ;; esac
	local p
	for p in /sys/bus/pci/drivers/"$drv"/0000:*; do
		[ -e "$p" ] && basename "$p" && return 0
	done
	return 1
}
