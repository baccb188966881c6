# SPDX-License-Identifier: GPL-2.0
# @desc: usbip-host: CLEAR_FEATURE(HALT) on an endpoint with a queued URB (EHCI and xHCI) answers that URB once and warns nothing, the endpoint then carries a sha256-checked READ(10); SET_CONFIGURATION/port-reset floods add no log lines of ours; inconsistent special requests are stalled before the bus
# @kernels: 6.1
# @vms: 1
# @modules: ours
# @timeout: 900
#
# One VM with QEMU's usb-ehci and qemu-xhci, each with a usb-storage stick
# (random image, sha256 known) and a usb-kbd (high speed, so it works on
# EHCI without companion controllers).  Each device in turn is bound to our
# usbip-host and exported by Debian's usbipd; tests/guest/stub_halt.py is
# the raw client (usbip_wire only).
#
# halt-pending (usb-kbd): the keyboard's interrupt IN endpoint NAKs until a
#   key is pressed, so an IN URB stays queued on the host controller; then
#   CLEAR_FEATURE(ENDPOINT_HALT) on that endpoint.  Before the fix the stub
#   called usb_clear_halt() with the URB queued: EHCI's endpoint_reset
#   WARNs "clear_halt for a busy endpoint" (panic_on_warn), xHCI logs "EP
#   not empty, refuse reset" and the URB is never answered.  QEMU's
#   usb-storage cannot give such an URB: it stalls a bulk IN without a CBW
#   at once (a real stick NAKs), and the EHCI/xHCI endpoint reset is the
#   same code for bulk and interrupt endpoints.
# halt-stick (usb-storage): bulk IN without a CBW (stalled), CLEAR_FEATURE
#   of both bulk endpoints, then READ(10) of the whole image, sha256 checked.
# flood: NCONF SET_CONFIGURATION and NRESET port resets on one connection;
#   usbip-host adds no kernel log line for them (usbcore prints one
#   "reset ... USB device" line per reset, not ours to silence): the bound
#   is NRESET + 4 lines in all, at most 3 of them not usbcore's reset line
#   (the export line, the end of the connection and the reset after it).
# variants: SET_CONFIGURATION / SET_INTERFACE / CLEAR_FEATURE / SET_ADDRESS
#   with the direction bit set or an odd recipient (and a CLEAR_FEATURE
#   whose wIndex has reserved bits) are answered -EPIPE and, per usbmon,
#   never reach the device.
#
# Every part runs even when an earlier one failed, so one run shows every
# failure; the EHCI halt-pending case runs last because before the fix it
# panics the VM.

MIB=4
NCONF=200
NRESET=20

host_prepare() {
	vm_usb_controller 1 ehci
	vm_usb_controller 1 xhci
	vm_usb_storage_image 1 estick "$MIB" ehci.0
	vm_usb_storage_image 1 xstick "$MIB" xhci.0
	vm_usb_kbd 1 ehci.0 ekbd
	vm_usb_kbd 1 xhci.0 xkbd
}

FAILED=()

status_is() {
	[ "$(cat "/sys/bus/usb/devices/$1/usbip_status")" = "$2" ]
}

# client CASE BUSID ARGS...: one run of the raw client; a failure is
# recorded, not fatal.
client() {
	local case=$1 busid=$2
	info "client $case on $busid"
	if ! python3 "$REPO/tests/guest/stub_halt.py" "$@"; then
		FAILED+=("$case on $busid")
		info "FAIL: $case on $busid"
	fi
	wait_for "usbip_status 1 of $busid after $case" 30 status_is "$busid" 1
}

# ep_not_empty: xHCI's "EP not empty, refuse reset" lines so far.
ep_not_empty() {
	dmesg | grep -c 'EP not empty' || true
}

export_dev() {
	run "$USBIP" bind -b "$1"
	wait_for "$1 bound to usbip-host" 30 test -e "/sys/bus/usb/drivers/usbip-host/$1"
}

halt_pending() {
	local busid=$1 before after
	step "halt-pending on $busid"
	before=$(ep_not_empty)
	client halt-pending "$busid"
	after=$(ep_not_empty)
	if [ "$after" -ne "$before" ]; then
		dmesg | grep 'EP not empty' | tail -n 2 | sed 's/^/    dmesg| /'
		FAILED+=("halt-pending on $busid: $((after - before)) 'EP not empty' lines")
	fi
}

vm1() {
	local ekbd xkbd estick xstick b before after ours lines
	step "server: EHCI + xHCI, usbmon, our usbip-host, usbipd"
	qemu_usb_prepare
	run modprobe usbmon
	run modprobe usbip-host
	usbipd_start
	at_exit usbipd_stop
	wait_for "EHCI stick" 60 prints qemu_usb_busid 46f4:0001 estick
	wait_for "xHCI stick" 60 prints qemu_usb_busid 46f4:0001 xstick
	wait_for "EHCI keyboard" 60 prints qemu_usb_busid 0627:0001 ekbd
	wait_for "xHCI keyboard" 60 prints qemu_usb_busid 0627:0001 xkbd
	estick=$(qemu_usb_busid 46f4:0001 estick)
	xstick=$(qemu_usb_busid 46f4:0001 xstick)
	ekbd=$(qemu_usb_busid 0627:0001 ekbd)
	xkbd=$(qemu_usb_busid 0627:0001 xkbd)
	for b in "$estick" "$xstick" "$ekbd" "$xkbd"; do
		info "$b: $(cat "/sys/bus/usb/devices/$b/serial") speed $(cat "/sys/bus/usb/devices/$b/speed")"
		export_dev "$b"
		at_exit "$USBIP" unbind -b "$b"
	done

	step "variants: inconsistent special requests on $xstick"
	client variants "$xstick"

	step "flood: $NCONF SET_CONFIGURATION + $NRESET port resets on $estick"
	dmesg_mark "flood start"
	before=$(dmesg | wc -l)
	client flood "$estick" "$NCONF" "$NRESET"
	after=$(dmesg | wc -l)
	lines=$(dmesg | awk '/vmtest-mark: flood start/ { on = 1; next } on')
	ours=$(echo "$lines" | grep -v 'reset high-speed USB device number' | grep -c . || true)
	info "dmesg grew by $((after - before)) lines, $ours of them not usbcore's reset line"
	metric stub_halt_flood_log_lines "$((after - before))" lines
	# usbcore: one line per reset, one more for the reset after the
	# connection; others: the export line, the end of the connection
	if [ "$((after - before))" -gt $((NRESET + 4)) ] || [ "$ours" -gt 3 ]; then
		echo "$lines" | sort | uniq -c | sort -rn | head -n 5 | sed 's/^/    dmesg| /'
		FAILED+=("flood: dmesg grew by $((after - before)) lines ($ours not usbcore's), bound $((NRESET + 4)) and 3")
	fi

	step "halt-stick: xHCI then EHCI"
	client halt-stick "$xstick" "$(qemu_image_sha xstick)" "$MIB"
	client halt-stick "$estick" "$(qemu_image_sha estick)" "$MIB"

	halt_pending "$xkbd"
	halt_pending "$ekbd"

	dmesg_check || FAILED+=("kernel warnings")
	if [ "${#FAILED[@]}" -ne 0 ]; then
		die "failed: $(IFS=';'; echo "${FAILED[*]}")"
	fi
}
