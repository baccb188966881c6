# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash disable=SC2034  # GADGET_BUSID, BUSID: set for the scenarios
#
# tests/guest/lib-gadget.sh - configfs gadgets: on dummy_hcd (the host side sees them as local USB
# devices) and on any UDC (e.g. usbip-vudc.N).
#
# Sourced by tests/guest/lib.sh (scenarios source lib.sh only).

gadget_prepare() {
	modprobe dummy_hcd
	modprobe libcomposite
	wait_for "dummy_udc.0" 20 test -e /sys/class/udc/dummy_udc.0
}

# _gadget_skeleton NAME SERIAL VID PID PRODUCT
_gadget_skeleton() {
	local g=$GADGET_ROOT/$1
	mkdir "$g"
	echo "$3" >"$g/idVendor"
	echo "$4" >"$g/idProduct"
	echo 0x0200 >"$g/bcdUSB"
	echo 0x0100 >"$g/bcdDevice"
	mkdir "$g/strings/0x409"
	echo "$2" >"$g/strings/0x409/serialnumber"
	echo "usbip tests" >"$g/strings/0x409/manufacturer"
	echo "$5" >"$g/strings/0x409/product"
	mkdir "$g/configs/c.1"
	mkdir "$g/configs/c.1/strings/0x409"
	echo "test config" >"$g/configs/c.1/strings/0x409/configuration"
	echo 120 >"$g/configs/c.1/MaxPower"
}

# gadget_storage_create NAME BACKING_FILE: mass-storage gadget named NAME
# (serial number NAME too) on dummy_udc.0, backed by BACKING_FILE.  Sets
# GADGET_BUSID to its busid on the dummy_hcd host side.
gadget_storage_create() {
	local name=$1
	gadget_prepare
	gadget_storage_on_udc "$name" "$2" dummy_udc.0
	wait_for "gadget $name on dummy_hcd" 30 prints dummy_hcd_busid "$name"
	GADGET_BUSID=$(dummy_hcd_busid "$name")
}

# gadget_disk NAME FILE [MIB]: a mass-storage gadget NAME on dummy_udc.0
# backed by FILE (first filled with MIB MiB of random data when MIB is
# given), removed when the test ends.  Sets GADGET_BUSID.
gadget_disk() {
	[ -z "${3:-}" ] || random_file "$2" "$3"
	gadget_storage_create "$1" "$2"
	at_exit gadget_remove "$1"
}

# gadget_acm_create NAME: CDC ACM serial gadget; the gadget side is
# /dev/ttyGS0 once the host side has configured it.  Sets GADGET_BUSID.
gadget_acm_create() {
	local name=$1
	gadget_prepare
	gadget_acm_on_udc "$name" dummy_udc.0
	wait_for "gadget $name on dummy_hcd" 30 prints dummy_hcd_busid "$name"
	GADGET_BUSID=$(dummy_hcd_busid "$name")
}

# gadget_remove NAME: unbinds and tears the gadget down.
gadget_remove() {
	local g=$GADGET_ROOT/$1 f
	[ -d "$g" ] || return 0
	echo "" >"$g/UDC" 2>/dev/null || true
	for f in "$g"/configs/c.1/*.[0-9]*; do
		[ -L "$f" ] && rm "$f"
	done
	rmdir "$g"/configs/c.1/strings/0x409 2>/dev/null || true
	rmdir "$g"/configs/c.1
	for f in "$g"/functions/*; do
		[ -d "$f" ] && rmdir "$f"
	done
	rmdir "$g"/strings/0x409
	rmdir "$g"
}

# gadget_storage_on_udc NAME BACKING_FILE UDC: mass-storage gadget named
# NAME (serial number NAME too) bound to UDC, backed by BACKING_FILE.
gadget_storage_on_udc() {
	local name=$1 file=$2 udc=$3 g=$GADGET_ROOT/$1
	modprobe libcomposite
	_gadget_skeleton "$name" "$name" 0x1d6b 0x0104 "usbip test disk"
	mkdir "$g/functions/mass_storage.0"
	echo 0 >"$g/functions/mass_storage.0/lun.0/removable"
	echo 0 >"$g/functions/mass_storage.0/lun.0/ro"
	echo "$file" >"$g/functions/mass_storage.0/lun.0/file"
	ln -s "$g/functions/mass_storage.0" "$g/configs/c.1/"
	echo "$udc" >"$g/UDC"
}

# gadget_acm_on_udc NAME UDC: CDC ACM serial gadget named NAME bound to UDC.
gadget_acm_on_udc() {
	local name=$1 udc=$2 g=$GADGET_ROOT/$1
	modprobe libcomposite
	_gadget_skeleton "$name" "$name" 0x1d6b 0x0104 "usbip test serial"
	mkdir "$g/functions/acm.0"
	ln -s "$g/functions/acm.0" "$g/configs/c.1/"
	echo "$udc" >"$g/UDC"
}

# gadget_on_dummy NAME N storage FILE | NAME N acm: gadget NAME (serial NAME)
# on dummy_udc.N; sets BUSID to its busid on dummy_hcd.N's host side.
gadget_on_dummy() {
	local name=$1 n=$2
	case "$3" in
	storage) gadget_storage_on_udc "$name" "$4" "dummy_udc.$n" ;;
	acm) gadget_acm_on_udc "$name" "dummy_udc.$n" ;;
	*) die "gadget_on_dummy: unknown kind $3" ;;
	esac
	wait_for "gadget $name on dummy_hcd.$n" 30 prints _dummy_busid_on "$n" "$name"
	BUSID=$(_dummy_busid_on "$n" "$name")
}

_dummy_busid_on() {
	usb_busid_under "$(readlink -f "/sys/devices/platform/dummy_hcd.$1")" "$2" | head -n1
}
