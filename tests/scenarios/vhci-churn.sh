# SPDX-License-Identifier: GPL-2.0
# @desc: our vhci-hcd against Debian's usbip-host: the server cuts the connection in the middle of an O_DIRECT write 8 times (I/O error, device gone, port free), data checked after; 80 attach/detach cycles with no slab growth; clean unload
# @kernels: 6.1
# @vms: 2
# @modules: reference ours
# @timeout: 2400
# @append: slub_debug=U,kmalloc-*
#
# vm1 (server, fd00:5b1b::1): Debian's usbip-host and usbipd export a
# mass-storage gadget on dummy_hcd.  vm2 (client, fd00:5b1b::2): our
# vhci-hcd, attached with Debian's usbip.
#
# Connection loss: the client writes ROUND_MIB of zeros to the remote disk
# with O_DIRECT; the server watches the bytes its file-storage thread has
# written to the backing file (wchar in /proc/PID/io) and, once 0.25-2 MiB
# (random) have gone through, ends the connection by writing -1 to the
# device's usbip_sockfd.  The client's dd must then fail within DD_SECS,
# the disk and the USB device must vanish, the port must be free (status
# 004) with exactly one "connection closed" line in the kernel log, and the
# next round attaches again (a WARNING would panic the guest:
# panic_on_warn=1; the log is checked at the end).  After ROUNDS rounds the client writes
# FINAL_MIB of random data, reads it back, and the server checks its
# backing file.
#
# Churn: without usb-storage, CYCLES attach/detach cycles through the
# sysfs files (a Python loop doing OP_REQ_IMPORT itself); every other cycle
# waits for the device to be configured before detaching, the others
# detach at once (racing the hub driver's enumeration).  Leaks are looked
# for in two ways, before and after the cycles:
# - every kmalloc object that vhci-hcd or usbip-core allocated and still
#   holds, counted exactly from the allocation traces that slub_debug=U
#   keeps (see module_objects); it must grow by fewer than CYCLES/20;
# - the caches of what a leaked connection or device would hold: sockets
#   and their inodes, tasks, kernfs nodes and any usbip/vhci cache, from
#   /proc/slabinfo (see slab_snapshot); a leak leaks at least one object
#   per cycle, or one every other cycle if only one kind of cycle leaks,
#   so CYCLES/2 objects or more fail the test, while an idle guest stays
#   within a few.  The kmalloc and filp caches are too noisy for that:
#   their active-object counts swing by dozens to hundreds between
#   readings (open sysfs files of the guest's own tools: kernfs_open_file
#   objects in kmalloc-96, with their filps), which once failed the test
#   with no leak behind it.
# Then vhci-hcd and usbip-core unload with no reference left.

# Counts (VMTEST_ENV="VHCI_CHURN_ROUNDS=20 VHCI_CHURN_CYCLES=200" for the
# figures this test first had).  A cut round takes about 9 s under TCG and
# a cycle 0.6 s.  Every round checks the same things at a random cut point;
# both ways the writer fails (EIO, ENODEV) show within a few rounds.  The
# leak limits scale with CYCLES (below): with 80 cycles a leak in one kind
# of cycle leaves 40 objects, against limits of 4 (kmalloc objects of our
# modules) and 40 (watched caches), while an idle guest shows 0-2.
ROUNDS=${VHCI_CHURN_ROUNDS:-8}     # connection cuts
ROUND_MIB=64       # size of the write that gets cut (also the disk size)
DD_SECS=60         # the cut writer must fail within this
FINAL_MIB=8        # checked write after the cuts
CYCLES=${VHCI_CHURN_CYCLES:-80}    # attach/detach cycles (at least 40)
READY_PORT=5121    # server -> client: "busid=B"
FINAL_PORT=5122    # client -> server: "sha=S"
DONE_PORT=5123     # client -> server: "rc=N"

# stub_status BUSID: usbip_status of the exported device (1 free, 2 used).
stub_status() {
	cat "/sys/bus/usb/devices/$1/usbip_status" 2>/dev/null
}

stub_status_is() {
	[ "$(stub_status "$1")" = "$2" ]
}

# fsg_wchar: bytes the mass-storage gadget's thread (FSG_PID) has written
# so far; shell builtins only, as it is polled.
fsg_wchar() {
	local k v
	while read -r k v; do
		[ "$k" != wchar: ] || { echo "$v"; return 0; }
	done <"/proc/$FSG_PID/io"
	return 1
}

fsg_wchar_reached() {
	local w
	w=$(fsg_wchar) || return 1
	[ "$w" -ge "$1" ]
}

vm1() {
	local backing=/tmp/disk.img busid msg i w0 cut sum

	step "server: Debian's usbip-host, a ${ROUND_MIB} MiB gadget disk on dummy_hcd, usbipd"
	run modprobe usbip-host
	head -c $((ROUND_MIB * 1024 * 1024)) /dev/zero >"$backing"
	gadget_disk_export churndisk "$backing"
	busid=$GADGET_BUSID
	FSG_PID=$(pgrep -x file-storage | head -n1)
	fsg_wchar >/dev/null || die "no file-storage thread"
	msg_send "$PEER_ADDR" "$READY_PORT" 240 "busid=$busid" || die "client never listened"

	step "server: cut the connection $ROUNDS times in the middle of the client's write"
	for ((i = 1; i <= ROUNDS; i++)); do
		wait_for "round $i: $busid imported" 180 stub_status_is "$busid" 2
		FSG_PID=$(pgrep -x file-storage | head -n1)
		w0=$(fsg_wchar)
		cut=$(((256 + RANDOM % 1792) * 1024))
		wait_for "round $i: $((cut / 1024)) KiB written through the gadget" 120 \
			fsg_wchar_reached $((w0 + cut))
		echo -1 >"/sys/bus/usb/devices/$busid/usbip_sockfd"
		info "round $i: cut after $((($(fsg_wchar) - w0) / 1024)) KiB"
		wait_for "round $i: $busid available again" 60 stub_status_is "$busid" 1
	done

	step "server: the client's final data is in the backing file"
	msg=$(msg_wait "$FINAL_PORT" 600) || die "no final checksum from the client"
	sum=${msg#sha=}
	same_sum "backing file after the final write" \
		"$(head -c $((FINAL_MIB * 1024 * 1024)) "$backing" | sha256sum | cut -d' ' -f1)" "$sum"

	step "server: wait for the client's churn"
	msg=$(msg_wait "$DONE_PORT" 900) || die "no report from the client"
	info "client says: $msg"
	[ "$msg" = "rc=0" ] || die "client failed: $msg"
	wait_for "$busid available after the churn" 60 stub_status_is "$busid" 1
}

# port_line PORT: the status file line of PORT.
port_line() {
	grep -hE "^(hs|ss)  $(printf %04d "$1") " /sys/devices/platform/vhci_hcd.0/status
}

no_vhci_device() {
	[ -z "$(vhci_busids)" ]
}

port_free() {
	port_line "$1" | grep -qE '^(hs|ss)  [0-9]{4} 004 000 00000000 000000 0-0$'
}

# attach_disk BUSID VAR: attaches BUSID (retrying while the server still
# resets it), stores the disk in VAR and the port in PORT.
attach_disk() {
	wait_for "usbip attach of $1" 60 "$USBIP" attach -r "$PEER_ADDR" -b "$1"
	wait_disk "$2" 120 disk_of_vhci
	PORT=$(vhci_ports_in_use | head -n1)
	[ -n "$PORT" ] || die "usbip port lists no port"
}

# cut_round N BUSID: one attach, a write the server cuts, the checks.
cut_round() {
	local n=$1 busid=$2 dev pid t0 t1 rc mark="churn round $1" closed
	attach_disk "$busid" dev
	dmesg_mark "$mark"
	t0=$(date +%s%N)
	dd if=/dev/zero of="$dev" bs=1M count="$ROUND_MIB" oflag=direct status=none 2>/tmp/dd.err &
	pid=$!
	wait_for "round $n: the writer to end" "$DD_SECS" sh -c "! kill -0 $pid"
	rc=0
	wait "$pid" || rc=$?
	t1=$(date +%s%N)
	[ "$rc" -ne 0 ] || die "round $n: the ${ROUND_MIB} MiB write completed; the server did not cut it"
	wait_for "round $n: disk $dev to disappear" 60 sh -c "! test -b $dev"
	wait_for "round $n: the USB device to disappear" 60 no_vhci_device
	wait_for "round $n: port $PORT free" 60 port_free "$PORT"
	[ -z "$(vhci_ports_in_use)" ] || die "round $n: usbip port still lists a port"
	closed=$(dmesg | sed -n "/vmtest-mark: $mark\$/,\$p" | grep -c "vhci port $PORT: connection closed" || true)
	[ "$closed" -eq 1 ] || die "round $n: $closed 'connection closed' lines for port $PORT"
	info "round $n: port $PORT, writer failed after $(((t1 - t0) / 1000000)) ms ($(head -c 80 /tmp/dd.err | tr '\n' ' ')), device gone, port free"
}

# slab_snapshot FILE: "cache active_objs" of the caches the churn watches.
# Objects freed through RCU (files, kfree_rcu batches) stay allocated for
# seconds, and free objects in per-cpu slabs count as active, so the
# snapshot is the smallest count of each cache over 8 readings one second
# apart, every cache shrunk (per-cpu slabs flushed) before each reading.
slab_snapshot() {
	local c i
	sync
	echo 3 >/proc/sys/vm/drop_caches
	for i in 1 2 3 4 5 6 7 8; do
		[ "$i" -eq 1 ] || sleep 1
		for c in /sys/kernel/slab/*/shrink; do
			echo 1 >"$c" 2>/dev/null || true
		done
		cat /proc/slabinfo >"$1.$i"
	done
	awk 'FNR > 2 && ($1 ~ /usbip|vhci/ ||
		$1 ~ /^(TCP|TCPv6|sock_inode_cache|kernfs_node_cache|task_struct)$/) {
		if (!($1 in m) || $2 < m[$1]) m[$1] = $2
	} END { for (c in m) print c, m[c] }' "$1".[1-8] | sort >"$1"
}

# module_objects: live kmalloc objects allocated by vhci-hcd or usbip-core.
# With slub_debug=U, each alloc_traces entry starts with "COUNT CALLER
# [MODULE]" (the stack follows on lines of its own).
module_objects() {
	cat /sys/kernel/debug/slab/*kmalloc-*/alloc_traces 2>/dev/null |
		awk '$1 ~ /^[0-9]+$/ && $3 ~ /^\[(vhci_hcd|usbip_core)\]$/ { n += $1 } END { print n + 0 }'
}

# churn SERVER BUSID CYCLES: attach/detach cycles (tests/guest/vhci_churn.py).
churn() {
	PYTHONDONTWRITEBYTECODE=1 python3 "$REPO/tests/guest/vhci_churn.py" "$@"
}

vm2() {
	local msg busid dev i sum before after growth out t0 mod0 mod1
	rc=1
	# below 40 the limits (CYCLES/20, CYCLES/2) leave no room for noise
	[ "$CYCLES" -ge 40 ] || die "CYCLES=$CYCLES: the leak limits need at least 40 cycles"

	step "client: our vhci-hcd, usb-storage; wait for the server"
	run modprobe vhci-hcd
	[[ $(cat /sys/module/vhci_hcd/taint) == *O* ]] || die "the loaded vhci_hcd is not ours"
	load_storage
	msg=$(msg_wait "$READY_PORT" 300) || die "no ready message from the server"
	busid=${msg#busid=}
	report() {
		msg_send "$PEER_ADDR" "$DONE_PORT" 60 "rc=$rc" || true
	}
	at_exit report
	info "server exports $busid"

	step "client: $ROUNDS writes of ${ROUND_MIB} MiB cut by the server"
	t0=$SECONDS
	for ((i = 1; i <= ROUNDS; i++)); do
		cut_round "$i" "$busid"
	done
	metric vhci_cut_rounds_s $((SECONDS - t0)) s
	dmesg_check || die "kernel warnings after the cuts"

	step "client: attach again, write ${FINAL_MIB} MiB of random data, read it back"
	attach_disk "$busid" dev
	random_file /tmp/final.bin "$FINAL_MIB"
	sum=$(sha_file /tmp/final.bin)
	dev_write "$dev" /tmp/final.bin "$FINAL_MIB"
	rm -f /tmp/final.bin
	same_sum "O_DIRECT read-back" "$(sha_dev "$dev" "$FINAL_MIB")" "$sum"
	run "$USBIP" detach -p "$PORT"
	wait_for "disk to disappear" 60 sh -c "! test -b $dev"
	wait_for "port $PORT free" 60 port_free "$PORT"
	msg_send "$PEER_ADDR" "$FINAL_PORT" 120 "sha=$sum" || die "server did not take the checksum"

	step "client: $CYCLES attach/detach cycles (no usb-storage), slabinfo before and after"
	run modprobe -r uas usb-storage
	out=$(churn "$PEER_ADDR" "$busid" 10) || die "warm-up churn failed: $out"
	slab_snapshot /tmp/slab.before
	mod0=$(module_objects)
	[ "$mod0" -gt 0 ] || die "no allocation traces of vhci-hcd/usbip-core objects (slub_debug=U)"
	t0=$SECONDS
	out=$(churn "$PEER_ADDR" "$busid" "$CYCLES") || die "churn failed: $out"
	info "$out"
	metric vhci_churn_s $((SECONDS - t0)) s
	slab_snapshot /tmp/slab.after
	mod1=$(module_objects)
	info "kmalloc objects held by vhci-hcd and usbip-core: $mod0 before, $mod1 after"
	[ $((mod1 - mod0)) -lt $((CYCLES / 20)) ] ||
		die "vhci-hcd/usbip-core hold $((mod1 - mod0)) more kmalloc objects after $CYCLES cycles"
	growth=$(join /tmp/slab.before /tmp/slab.after | awk '{ print $3 - $2, $1 }' | sort -k1rn)
	info "slab growth over $CYCLES cycles (active objects, largest first):"
	echo "$growth" | head -n 6 | sed 's/^/      /'
	before=$(echo "$growth" | awk -v lim=$((CYCLES / 2)) '$1 >= lim' | head -n 3)
	[ -z "$before" ] || die "slab caches grew by $((CYCLES / 2)) objects or more: $(echo $before)"
	after=$(echo "$growth" | awk '$1 > 0 { s += $1 } END { print s + 0 }')
	metric vhci_churn_slab_growth "$after" objects
	dmesg_check || die "kernel warnings after the churn"

	step "client: unload vhci-hcd and usbip-core"
	[ "$(cat /sys/module/vhci_hcd/refcnt)" -eq 0 ] || die "vhci_hcd refcnt $(cat /sys/module/vhci_hcd/refcnt)"
	run modprobe -r vhci-hcd
	[ ! -d /sys/module/vhci_hcd ] || die "vhci_hcd still loaded"
	if [ -d /sys/module/usbip_core ]; then
		[ "$(cat /sys/module/usbip_core/refcnt)" -eq 0 ] ||
			die "usbip_core refcnt $(cat /sys/module/usbip_core/refcnt) after vhci-hcd left"
		run modprobe -r usbip-core
	fi
	[ ! -d /sys/module/usbip_core ] || die "usbip_core still loaded"
	dmesg_check || die "kernel warnings after the unload"
	rc=0
}
