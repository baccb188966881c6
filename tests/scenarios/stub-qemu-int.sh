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
# interrupt IN URB must complete with status 0 and 8 bytes.  The raw client
# is tests/guest/kbd_unlink.py (on tests/guest/usbip_wire.py).

host_prepare() {
	vm_usb_controller 1 xhci
	vm_usb_kbd 1 xhci.0
	vm_usb_controller 1 uhci
	vm_usb_kbd 1 uhci.0
}

status_is() {
	[ "$(cat "/sys/bus/usb/devices/$1/usbip_status")" = "$2" ]
}

vm1() {
	local busid before ctl

	step "server: host controllers, our usbip-host, usbipd"
	qemu_usb_prepare
	run modprobe usbip-host
	usbip_export
	for ctl in xhci uhci; do
		step "keyboard on $ctl"
		wait_for "a keyboard on $ctl" 60 prints kbd_on "$ctl"
		busid=$(kbd_on "$ctl")
		run "$USBIP" bind -b "$busid"
		wait_for "$busid bound to usbip-host" 30 test -e "/sys/bus/usb/drivers/usbip-host/$busid"
		before=$(dmesg -l err | grep -c usbip-host || true)
		PYTHONDONTWRITEBYTECODE=1 python3 "$REPO/tests/guest/kbd_unlink.py" "$busid" || die "raw client failed on $ctl"
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
