# SPDX-License-Identifier: GPL-2.0
# @desc: raw USB/IP client against our usbip-host (via Debian's usbipd): control/bulk data, SG and split short-transfer semantics, server-side requests, unlink answers, -ENOMEM answers that keep the connection, and 10 kinds of bad input each dropped with one error line
# @kernels: 6.1
# @vms: 1
# @modules: ours
# @timeout: 600
#
# One VM: a mass-storage gadget on dummy_hcd backed by /tmp/disk.img is
# bound to our usbip-host and exported by Debian's usbipd; a Python client
# (tests/guest/stub_protocol.py, on tests/guest/usbip_wire.py) imports it
# over 127.0.0.1 (OP_REQ_IMPORT) and speaks the URB protocol itself.
# "good" runs Bulk-Only-Transport commands (INQUIRY, READ(10) of 1 MiB
# compared with the backing file, WRITE(10) then read back, a 64 KiB
# IN URB that a 20 KiB read plus the 13-byte CSW ends short in its second
# 16 KiB piece), SET_CONFIGURATION / SET_INTERFACE / CLEAR_FEATURE(HALT) /
# port reset, once with scatter-gather and once with use_sg=N (split URBs).
# "unlink" checks the RET_UNLINK answers.  "nomem" makes usbip-host's
# transfer buffer allocations fail (its fail_alloc test hook) for OUT
# transfers of 31 bytes to 3 MiB and an IN one: each must be answered
# -ENOMEM, with one warning, and the connection must stay in step.  Every bad-input case must end the
# connection with exactly one new error line from usbip-host naming the
# problem, and the device must become available again.

# uclient BUSID CASE: the raw client (tests/guest/stub_protocol.py).
uclient() {
	PYTHONDONTWRITEBYTECODE=1 python3 "$REPO/tests/guest/stub_protocol.py" "$@"
}

status_is() {
	[ "$(cat "/sys/bus/usb/devices/$1/usbip_status")" = "$2" ]
}

# err_lines: error-level kernel log lines from usbip-host so far.
err_lines() {
	dmesg -l err | grep -c 'usbip-host' || true
}

vm1() {
	local backing=/tmp/disk.img busid before after line c reason sg split nomem
	local -A reasons=(
		[devid]="devid is not the exported device"
		[dup]="seqnum of an URB still in flight"
		[ep]="endpoint not in the current configuration"
		[dir]="direction does not match the endpoint"
		[cap]="transfer_buffer_length above limit"
		[isocount]="number_of_packets out of range"
		[isononiso]="iso packets for a non-iso endpoint"
		[cut]="OUT payload cut short"
		[garbage]="unknown command"
		[ret]="reply command sent to the server"
	)

	step "server: our usbip-host, a mass-storage gadget, usbipd, usbip bind"
	run modprobe usbip-host
	gadget_disk_export protodisk "$backing" 8
	busid=$GADGET_BUSID

	# usbip-host's per-URB debug lines say which buffer kind each bulk
	# transfer got (buf 2: one scatter-gather URB, buf 3: split pieces)
	echo $((1 << 17)) >/sys/module/usbip_core/parameters/usbip_debug
	# (a kernel without dynamic debug, the debug kernel, gets our modules
	# built with their debug messages in: tests/run, kmake_flags)
	[ ! -e /sys/kernel/debug/dynamic_debug/control ] ||
		echo 'module usbip_host +p' >/sys/kernel/debug/dynamic_debug/control
	for c in good:Y good:N unlink:Y nomem:Y; do
		step "case ${c%%:*} (use_sg=${c##*:})"
		echo "${c##*:}" >/sys/module/usbip_host/parameters/use_sg
		dmesg_mark "case $c"
		before=$(err_lines)
		uclient "$busid" "${c%%:*}" || die "case ${c%%:*} failed"
		wait_for "usbip_status 1" 30 status_is "$busid" 1
		after=$(err_lines)
		[ "$after" -eq "$before" ] || die "case ${c%%:*} logged errors: $(dmesg -l err | tail -n 3)"
		sg=$(dmesg | awk -v m="vmtest-mark: case $c" 'index($0, m) { on = 1 } on' |
			grep -c ' buf 2$' || true)
		split=$(dmesg | awk -v m="vmtest-mark: case $c" 'index($0, m) { on = 1 } on' |
			grep -c ' buf 3$' || true)
		info "bulk URBs: $sg scatter-gather, $split split"
		if [ "$c" = good:N ] && { [ "$split" -eq 0 ] || [ "$sg" -ne 0 ]; }; then
			die "use_sg=N did not split the large transfers"
		fi
		if [ "$c" = nomem:Y ]; then
			nomem=$(dmesg | awk -v m="vmtest-mark: case $c" 'index($0, m) { on = 1 } on' |
				grep -c 'answering -ENOMEM' || true)
			[ "$nomem" -eq 4 ] || die "$nomem -ENOMEM warnings for 4 failed allocations"
		fi
		info "PASS: ${c%%:*} (use_sg=${c##*:})"
	done
	echo Y >/sys/module/usbip_host/parameters/use_sg
	echo 0 >/sys/module/usbip_core/parameters/usbip_debug
	[ ! -e /sys/kernel/debug/dynamic_debug/control ] ||
		echo 'module usbip_host -p' >/sys/kernel/debug/dynamic_debug/control

	for c in devid dup ep dir cap isocount isononiso cut garbage ret; do
		step "bad input: $c"
		before=$(err_lines)
		uclient "$busid" "$c" || die "case $c failed"
		wait_for "usbip_status 1 after $c" 30 status_is "$busid" 1
		after=$(err_lines)
		[ "$after" -eq $((before + 1)) ] ||
			die "case $c: $((after - before)) new error lines, expected 1"
		line=$(dmesg -l err | grep 'usbip-host' | tail -n 1)
		reason=${reasons[$c]}
		case "$line" in *"$reason"*) ;; *) die "case $c: log line '$line' lacks '$reason'" ;; esac
		info "PASS: $c -> $line"
	done

	step "the device still works after all that"
	uclient "$busid" good || die "good after the bad cases failed"
	wait_for "usbip_status 1" 30 status_is "$busid" 1

	step "unbind, unload usbip-host"
	run "$USBIP" unbind -b "$busid"
	run modprobe -r usbip-host
	[ ! -d /sys/module/usbip_host ] || die "usbip_host still loaded"
}
