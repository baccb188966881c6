# SPDX-License-Identifier: GPL-2.0
# @desc: usbip-host: CLEAR_FEATURE(HALT) on an endpoint with a queued URB (EHCI and xHCI usb-storage) answers that URB once and warns nothing, then a sha256-checked READ(10) of the disk; SET_CONFIGURATION/port-reset floods add no log lines of ours; inconsistent special requests are stalled before the bus
# @kernels: 6.1
# @vms: 1
# @modules: ours
# @timeout: 900
#
# One VM with QEMU's usb-ehci and qemu-xhci, each with a usb-storage stick
# (random image, sha256 known; the drive is read-throttled to 4 MiB/s so a
# READ(10) of the disk keeps its data URB queued for about a second).  Each
# stick is bound to our usbip-host and exported by Debian's usbipd;
# tests/guest/stub_halt.py is the raw client (usbip_wire only).
#
# halt-stick: CLEAR_FEATURE(ENDPOINT_HALT) of the bulk IN endpoint while a
#   data URB of ours is queued on it.  Before the fix the stub called
#   usb_clear_halt() with the URB queued: EHCI's endpoint_reset WARNs
#   "clear_halt for a busy endpoint" (panic_on_warn), xHCI logs "EP not
#   empty, refuse reset" (per request) and leaves the toggle alone.  After
#   it: the URB is answered once (-ECONNRESET), the clear-halt with 0, and
#   after Bulk-Only reset recovery a READ(10) of the whole disk matches the
#   image.  (A bulk IN without a CBW, the usual way to get a URB that never
#   completes, is stalled at once by QEMU's usb-storage; it is checked as
#   the plain halt case.)
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
# failure; the EHCI halt case runs last because before the fix it panics
# the VM.

MIB=4
NCONF=200
NRESET=20

host_prepare() {
	local slow=throttling.bps-read=$((4 << 20))
	vm_usb_controller 1 ehci
	vm_usb_controller 1 xhci
	vm_usb_storage_image 1 estick "$MIB" ehci.0 "$slow"
	vm_usb_storage_image 1 xstick "$MIB" xhci.0 "$slow"
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

# halt_stick BUSID NAME: the halt cases on one stick, and no "EP not empty".
halt_stick() {
	local busid=$1 name=$2 before after
	step "halt-stick on $busid ($name)"
	before=$(ep_not_empty)
	client halt-stick "$busid" "$(qemu_image_sha "$name")" "$MIB"
	after=$(ep_not_empty)
	if [ "$after" -ne "$before" ]; then
		dmesg | grep 'EP not empty' | tail -n 2 | sed 's/^/    dmesg| /'
		FAILED+=("halt-stick on $busid: $((after - before)) 'EP not empty' lines")
	fi
}

vm1() {
	local estick xstick b before after ours lines
	step "server: EHCI + xHCI, usbmon, our usbip-host, usbipd"
	qemu_usb_prepare
	run modprobe usbmon
	run modprobe usbip-host
	usbip_export
	wait_for "EHCI stick" 60 prints qemu_usb_busid 46f4:0001 estick
	wait_for "xHCI stick" 60 prints qemu_usb_busid 46f4:0001 xstick
	estick=$(qemu_usb_busid 46f4:0001 estick)
	xstick=$(qemu_usb_busid 46f4:0001 xstick)
	for b in "$estick" "$xstick"; do
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
		echo "$lines" | sed 's/^\[[^]]*\] //' | sort | uniq -c | sort -rn | head -n 5 |
			sed 's/^/    dmesg| /'
		FAILED+=("flood: dmesg grew by $((after - before)) lines ($ours not usbcore's), bound $((NRESET + 4)) and 3")
	fi

	halt_stick "$xstick" xstick
	halt_stick "$estick" estick

	dmesg_check || FAILED+=("kernel warnings")
	if [ "${#FAILED[@]}" -ne 0 ]; then
		die "failed: $(IFS=';'; echo "${FAILED[*]}")"
	fi
}
