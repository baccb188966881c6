# SPDX-License-Identifier: GPL-2.0
# @desc: hostile raw clients against our usbip-host: SET_ADDRESS, port reset with a bulk IN pending, replies never read, a CMD_UNLINK flood, pinned IN URBs and an unbind while a completion handler still runs (test hook); the server's memory stays bounded (measured), nothing reaches the bus behind the host's back, and the device works after each
# @kernels: 6.1
# @vms: 1
# @modules: ours
# @timeout: 900
# @mem: 2048
# @append: slub_debug=FZPU,kmalloc-512,kmalloc-1k
#
# One VM: a mass-storage gadget on dummy_hcd backed by /tmp/disk.img, bound
# to our usbip-host and exported by Debian's usbipd; a Python client
# (tests/guest/stub_hostile.py, on tests/guest/usbip_wire.py) imports it
# over 127.0.0.1.  usbmon records the
# dummy_hcd bus, so the tests see what reaches the host controller.
#
#  setaddr  SET_ADDRESS(42) from the client is answered 0, never reaches the
#           bus (usbmon), and devnum in sysfs is unchanged.
#  reset    a bulk IN URB is pending (no CBW: it never completes) when the
#           client asks for a port reset: the pending URB is given back
#           (its callback on the bus) before the root hub's
#           SET_FEATURE(PORT_RESET), both requests get exactly one answer.
#  noread   the client sends thousands of GET_DESCRIPTOR requests with a
#           64 KiB buffer and never reads a reply: the server's memory
#           grows by at most the connection bound + slack, the server stops
#           reading (Recv-Q stays > 0), then the client reads every reply.
#  unlink   50k CMD_UNLINKs of unknown seqnums while not reading replies:
#           kmalloc-32 and Slab stay bounded, the client's sends block, then
#           it reads all 50k RET_UNLINKs (status 0, in order).
#  pinned   1 MiB bulk IN CMD_SUBMITs that never complete, 8 at a time: the
#           memory they pin stays below the bound, the client's send then
#           blocks (backpressure); after an abortive close everything is
#           freed (MemAvailable back) and the device is available again.
#  detach   the same pinned URBs, then a detach through usbip_sockfd (-1):
#           the rx thread waiting for budget ends, the memory comes back.
#  late     a completion handler is held (test hook) after it handed its
#           request on while an unbind frees the device: it must touch
#           nothing of the device any more (slab poisoning of kmalloc-512
#           and -1k: struct stub_device is 360 bytes on 6.1, more with
#           lockdep; or KASAN would show it); bound again, the device works.  Up to
#           10 tries, until an unbind ends inside the window (it may need
#           the held CPU).
#  unbind   (last) the same as pinned, then "usbip unbind" must return
#           promptly.
# After each case a fresh client reads 1 MiB (READ(10)) and compares it with
# the backing file.  The cases all run; the test fails at the end if any
# failed, naming them.

# hostile BUSID CASE: the raw client (tests/guest/stub_hostile.py).
hostile() {
	PYTHONDONTWRITEBYTECODE=1 python3 "$REPO/tests/guest/stub_hostile.py" "$@"
}

status_is() {
	[ "$(cat "/sys/bus/usb/devices/$1/usbip_status")" = "$2" ]
}

vm1() {
	local backing=/tmp/disk.img busid c failed=""

	step "server: our usbip-host, usbmon, a mass-storage gadget, usbipd, usbip bind"
	run modprobe usbip-host
	run modprobe usbmon
	mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug
	gadget_disk_export hostdisk "$backing" 8
	busid=$GADGET_BUSID
	info "limits: max_urbs=$(cat /sys/module/usbip_host/parameters/max_urbs 2>/dev/null || echo none) max_bytes=$(cat /sys/module/usbip_host/parameters/max_bytes 2>/dev/null || echo none)"
	# small socket buffers (the first hostile cases fill them before the
	# server's bound shows): 128 KiB at most each way instead of 4-6 MiB
	echo "4096 16384 131072" >/proc/sys/net/ipv4/tcp_wmem
	echo "4096 32768 131072" >/proc/sys/net/ipv4/tcp_rmem

	step "baseline: the device works"
	hostile "$busid" good || die "the good case fails before any hostile case"
	wait_for "usbip_status 1" 30 status_is "$busid" 1

	for c in setaddr reset noread unlink pinned detach; do
		step "case $c"
		dmesg_mark "case $c"
		if hostile "$busid" "$c"; then
			info "PASS: $c"
		else
			info "FAIL: $c"
			failed="$failed $c"
		fi
		wait_for "usbip_status 1 after $c" 60 status_is "$busid" 1
		hostile "$busid" good || die "the device does not work after case $c"
		wait_for "usbip_status 1" 30 status_is "$busid" 1
		info "the device works after $c (1 MiB READ(10) matches the backing file)"
	done
	[ -z "$failed" ] || die "failed cases:$failed"

	step "unbind while a completion handler still runs (test hook), bind again"
	dmesg_mark "case late"
	hostile "$busid" late || die "case late failed"
	dmesg_check || die "kernel log has warnings after case late"
	wait_for "$busid bound to usbip-host" 30 test -e "/sys/bus/usb/drivers/usbip-host/$busid"
	wait_for "usbip_status 1" 30 status_is "$busid" 1
	hostile "$busid" good || die "the device does not work after case late"

	step "unbind while the rx thread waits for budget, unload usbip-host"
	USBIP=$USBIP hostile "$busid" unbind || die "case unbind failed"
	wait_for "$busid back to its usual driver" 30 \
		sh -c "! test -e /sys/bus/usb/drivers/usbip-host/$busid"
	run modprobe -r usbip-host
}
