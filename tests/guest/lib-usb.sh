# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# tests/guest/lib-usb.sh - USB devices seen by the guest: busids, disks, ttys, input devices,
# and the devices QEMU emulates (see vm_usb_* in tests/vm/lib.sh for the host
# side that creates them).
#
# Sourced by tests/guest/lib.sh (scenarios source lib.sh only).

# usb_busid_under SYSPATH_PREFIX [SERIAL]: busids of the USB devices (not
# root hubs, not interfaces) whose sysfs path lies under the prefix,
# optionally only those with the given serial number.
usb_busid_under() {
	local prefix=$1 serial=${2:-} d real name
	for d in /sys/bus/usb/devices/*; do
		name=${d##*/}
		case "$name" in usb*|*:*) continue ;; esac
		real=$(readlink -f "$d")
		case "$real" in "$prefix"/*) ;; *) continue ;; esac
		if [ -n "$serial" ]; then
			[ "$(cat "$d/serial" 2>/dev/null)" = "$serial" ] || continue
		fi
		echo "$name"
	done
}

# dummy_hcd_busid [SERIAL]: busid of the gadget device seen by dummy_hcd's
# host side.
dummy_hcd_busid() {
	usb_busid_under "$(readlink -f /sys/devices/platform/dummy_hcd.0)" "${1:-}" | head -n1
}

# disk_of_syspath SYSPATH: /dev/sdX whose device lies under SYSPATH.
disk_of_syspath() {
	local prefix b real
	prefix=$(readlink -f "$1")
	for b in /sys/block/sd*; do
		[ -e "$b" ] || continue
		real=$(readlink -f "$b")
		case "$real" in "$prefix"/*)
			[ "$(cat "$b/size")" -gt 0 ] || continue
			echo "/dev/${b##*/}"
			return 0
			;;
		esac
	done
	return 1
}

# disk_of_usb BUSID: /dev/sdX of the USB device BUSID.
disk_of_usb() {
	disk_of_syspath "/sys/bus/usb/devices/$1"
}

# disk_of_vhci: /dev/sdX of a disk attached through vhci_hcd.
disk_of_vhci() {
	local p
	for p in /sys/devices/platform/vhci_hcd.*; do
		[ -d "$p" ] || continue
		disk_of_syspath "$p" && return 0
	done
	return 1
}

# wait_disk VAR SECS FUNC ARGS...: polls FUNC until it prints a disk that
# exists in /dev, stores it in VAR.
wait_disk() {
	local _wd_var=$1 _wd_secs=$2 _wd_start _wd_dev
	shift 2
	_wd_start=$(date +%s)
	while :; do
		_wd_dev=$("$@" 2>/dev/null || true)
		if [ -n "$_wd_dev" ] && [ -b "$_wd_dev" ]; then
			printf -v "$_wd_var" '%s' "$_wd_dev"
			return 0
		fi
		[ $(($(date +%s) - _wd_start)) -lt "$_wd_secs" ] ||
			die "timed out after ${_wd_secs}s waiting for disk ($*)"
		sleep 0.2
	done
}

# load_storage: usb-storage without its default one-second wait before the
# SCSI scan of every new device (the tests attach disks many times), and
# sd_mod.
load_storage() {
	modprobe usb-storage delay_use=0
	modprobe sd_mod
}

# tty_of_usb BUSID: /dev/ttyACMn of a CDC ACM device (cdc_acm loaded).
tty_of_usb() {
	local t real prefix
	prefix=$(readlink -f "/sys/bus/usb/devices/$1")
	for t in /sys/class/tty/ttyACM*; do
		[ -e "$t" ] || continue
		real=$(readlink -f "$t")
		case "$real" in "$prefix"/*) echo "/dev/${t##*/}"; return 0 ;; esac
	done
	return 1
}

# qemu_usb_prepare: loads the host controller drivers QEMU may provide.
qemu_usb_prepare() {
	modprobe xhci_pci 2>/dev/null || true
	modprobe uhci_hcd 2>/dev/null || true
	modprobe ehci_pci 2>/dev/null || true
	modprobe ohci_pci 2>/dev/null || true
}

# qemu_usb_busid VID:PID [SERIAL]: busid of an emulated device (QEMU's
# usb-storage is 46f4:0001, usb-kbd 0627:0001, usb-mouse 0627:0001 too).
qemu_usb_busid() {
	local vid=${1%%:*} pid=${1##*:} serial=${2:-} d
	for d in /sys/bus/usb/devices/*; do
		[ -f "$d/idVendor" ] || continue
		case "${d##*/}" in usb*) continue ;; esac
		[ "$(cat "$d/idVendor")" = "$vid" ] || continue
		[ "$(cat "$d/idProduct")" = "$pid" ] || continue
		if [ -n "$serial" ]; then
			[ "$(cat "$d/serial" 2>/dev/null)" = "$serial" ] || continue
		fi
		echo "${d##*/}"
		return 0
	done
	return 1
}

# qemu_image_sha NAME: checksum the host computed for $RUN_DIR/NAME.img.
qemu_image_sha() {
	cat "/run/vmtest/$1.sha256"
}

# input_of_usb BUSID: /dev/input/eventN of the first input device of BUSID.
input_of_usb() {
	local e
	for e in /sys/bus/usb/devices/"$1"/"$1":*/*/input/input*/event*; do
		[ -e "$e" ] && { echo "/dev/input/${e##*/}"; return 0; }
	done
	return 1
}

# hid_input_wait BUSID: usbhid is bound to the keyboard BUSID; waits for
# its input device, sets EVDEV to it.
hid_input_wait() {
	[ "$(basename "$(readlink "/sys/bus/usb/devices/$1:1.0/driver")")" = usbhid ] ||
		die "usbhid is not bound to $1:1.0"
	wait_for "input device of $1" 60 prints input_of_usb "$1"
	EVDEV=$(input_of_usb "$1")
	info "$EVDEV: $(cat "/sys/class/input/${EVDEV##*/}/device/name")"
}

# host_keys_check EVDEV KEYS CODES: the host types KEYS (QEMU sendkey
# names) on the server's keyboard (vm_key_typist in tests/vm/lib.sh); the
# key codes pressed and released on EVDEV must be CODES, in order.
host_keys_check() {
	local evdev=$1 keys=$2 codes=$3 n pid
	# keys.py EVDEV N SECS: prints "ready", then the key codes pressed and
	# released ("press C C ..." / "release C C ...") once N releases came.
	cat >/tmp/keys.py <<-'PY'
	import os, select, struct, sys, time
	fd = os.open(sys.argv[1], os.O_RDONLY)
	want, end = int(sys.argv[2]), time.time() + float(sys.argv[3])
	print("ready", flush=True)
	size = struct.calcsize("llHHi")
	press, release, buf = [], [], b""
	while len(release) < want and time.time() < end:
	    if not select.select([fd], [], [], 0.5)[0]:
	        continue
	    buf += os.read(fd, size * 64)
	    while len(buf) >= size:
	        _, _, typ, code, value = struct.unpack("llHHi", buf[:size])
	        buf = buf[size:]
	        if typ == 1 and value == 1:
	            press.append(code)
	        elif typ == 1 and value == 0:
	            release.append(code)
	print("press " + " ".join(map(str, press)))
	print("release " + " ".join(map(str, release)))
	PY
	n=$(echo "$keys" | wc -w)
	python3 /tmp/keys.py "$evdev" "$n" 90 >/tmp/keys.out &
	pid=$!
	wait_for "key reader" 30 grep -q ready /tmp/keys.out
	echo "$keys" >/run/vmtest/keys.req.tmp
	mv /run/vmtest/keys.req.tmp /run/vmtest/keys.req
	wait_for "the host to type the keys" 120 test -f /run/vmtest/keys.done
	[ "$(cat /run/vmtest/keys.done)" = rc=0 ] ||
		die "the host could not type: $(cat /run/vmtest/keys.log 2>/dev/null)"
	wait "$pid" || die "key reader failed"
	sed 's/^/    /' /tmp/keys.out
	grep -qx "press $codes" /tmp/keys.out || die "pressed keys are not $codes"
	grep -qx "release $codes" /tmp/keys.out || die "released keys are not $codes"
	info "$n keys typed on the server's keyboard arrived in order"
}
