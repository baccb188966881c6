# SPDX-License-Identifier: GPL-2.0
# @desc: our usbip list -l and -l -p on a dummy_hcd gadget and QEMU HID devices, byte-identical to Debian's usbip
# @kernels: 6.1
# @vms: 1
# @modules: reference
# @timeout: 300
# @qemu: -device qemu-xhci,id=xhci -device usb-kbd,bus=xhci.0 -device usb-tablet,bus=xhci.0
#
# No USB/IP driver is involved: it checks that the local listing of our
# build/tools/src/usbip shows the same devices, in the same format, as
# Debian's reference /usr/sbin/usbip, that hubs are left out, that the
# library reads real sysfs devices correctly (the test_devices unit test of
# tools/usb/usbip/tests, built on the host first), and that a missing
# usb.ids gives numeric names.  No other tools-* scenario compares list -l
# or list -l -p with Debian's, or runs test_devices on real devices.

# test_devices is a check program of the tools (make tools-check builds it,
# make tools does not): build it here, on the host, before the boot.
host_prepare() {
	make -C "$TOP/build/tools/tests" test_devices
}

vm1() {
	local ours=$REPO/build/tools/src/usbip busid

	[ -x "$ours" ] || die "$ours not built (make tools)"
	qemu_usb_prepare
	gadget_acm_create acmtest
	at_exit gadget_remove acmtest
	busid=$GADGET_BUSID
	wait_for "QEMU keyboard and tablet" 30 sh -c \
		'[ "$(grep -l 0627 /sys/bus/usb/devices/*/idVendor 2>/dev/null | wc -l)" -ge 2 ]'

	step "devices in sysfs"
	for d in /sys/bus/usb/devices/*; do
		[ -f "$d/idVendor" ] || continue
		info "${d##*/} $(cat "$d/idVendor"):$(cat "$d/idProduct") class $(cat "$d/bDeviceClass") speed $(cat "$d/speed")"
	done

	step "list -l: ours against Debian's"
	"$ours" list -l >/tmp/ours.txt || die "our list -l failed"
	/usr/sbin/usbip list -l >/tmp/ref.txt || die "Debian's list -l failed"
	cat /tmp/ours.txt
	diff -u /tmp/ref.txt /tmp/ours.txt || die "list -l differs from Debian's"
	grep -q "^ - busid $busid (1d6b:0104)$" /tmp/ours.txt || die "gadget $busid not listed"
	grep -q '^ - busid usb' /tmp/ours.txt && die "a root hub is listed"

	step "list -l -p: ours against Debian's (which wants -p first)"
	"$ours" list -l -p >/tmp/ours.p || die "our list -l -p failed"
	/usr/sbin/usbip list -p -l >/tmp/ref.p || die "Debian's list -p -l failed"
	cat /tmp/ours.p
	diff -u /tmp/ref.p /tmp/ours.p || die "list -l -p differs from Debian's"

	step "libusbip unit test on real devices"
	srcdir=$REPO/tools/usb/usbip/tests "$REPO/build/tools/tests/test_devices" ||
		die "test_devices failed"

	step "missing usb.ids: numeric names"
	USBIP_USB_IDS=/nonexistent "$ours" list -l >/tmp/num.txt || die "list -l without usb.ids failed"
	cat /tmp/num.txt
	grep -q "^   unknown vendor : unknown product (1d6b:0104)$" /tmp/num.txt ||
		die "no numeric fallback"
}
