# SPDX-License-Identifier: GPL-2.0
# @desc: our vhci-hcd (client) against Debian's usbip-host/usbipd (server), driven by Debian's usbip attach/detach; 32 MiB (16 on 6.12) O_DIRECT and page-cache checksums, detach, a drop (connection reset) frees the port and Debian's server frees the device as without sessions, re-attach
# @kernels: 6.1 6.12
# @vms: 2
# @modules: reference ours
# @timeout: 1200
#
# vm1 (server, fd00:5b1b::1, Debian's modules and tools) exports a
# mass-storage gadget on dummy_hcd backed by MIB MiB of random data.  vm2
# (client, fd00:5b1b::2) loads our vhci-hcd and attaches the disk with
# Debian's /usr/sbin/usbip, which only talks to our sysfs files.  The
# client checks the sysfs ABI, reads the disk with O_DIRECT, writes new
# data with O_DIRECT and reads it back, writes again through the page
# cache and reads it back after dropping the caches, detaches; attaches and
# resets the connection (nft, tcp_reset_cut_start): without a session the
# next read fails, the port goes, and Debian's server makes the device
# available again; attaches again and reads the last data once more.  The server finally checks that
# its backing file holds exactly the client's last data.

# 32 MiB on 6.1 and 16 on 6.12 (the same paths on another kernel) keep the
# suite short; every MiB more is one more identical 1 MiB request.
case "$(uname -r)" in
6.1.*) MIB=${VHCI_INTEROP_MIB:-32} ;;
*) MIB=${VHCI_INTEROP_MIB:-16} ;;
esac
READY_PORT=5111   # server -> client: "busid=B sha=S"
DONE_PORT=5112    # client -> server: "read=S last=S rc=N"

vm1() {
	local backing=/tmp/disk.img busid sum_old msg

	step "server: Debian's usbip-host, a ${MIB} MiB gadget disk on dummy_hcd"
	run modprobe usbip-host
	gadget_disk vhcidisk "$backing" "$MIB"
	sum_old=$(sha_file "$backing")
	busid=$GADGET_BUSID
	info "gadget busid $busid, sha256 $sum_old"

	step "server: usbipd -D, usbip bind -b $busid"
	usbip_export "$busid"

	step "server: tell the client the busid and checksum"
	msg_send "$PEER_ADDR" "$READY_PORT" 240 "busid=$busid sha=$sum_old" ||
		die "client never listened for the ready message"

	step "server: wait for the client's report"
	msg=$(msg_wait "$DONE_PORT" 800) || die "no report from the client"
	info "client says: $msg"
	case "$msg" in *"rc=0"*) ;; *) die "client failed: $msg" ;; esac
	[ "$(echo "$msg" | sed -n 's/.*read=\([0-9a-f]*\).*/\1/p')" = "$sum_old" ] ||
		die "client read different data than exported"
	same_sum "backing file after the client's writes" "$(sha_file "$backing")" \
		"$(echo "$msg" | sed -n 's/.*last=\([0-9a-f]*\).*/\1/p')"
	wait_for "$busid available again after the detach" 60 \
		grep -qx 1 "/sys/bus/usb/devices/$busid/usbip_status"
}

# vhci_check_sysfs: the files Debian's usbip reads, in the expected format.
vhci_check_sysfs() {
	local d=/sys/devices/platform/vhci_hcd.0 nports hcs ports_per_hub lines
	[ -d "$d" ] || die "no $d"
	nports=$(cat "$d/nports")
	hcs=$(ls -d /sys/devices/platform/vhci_hcd.* | wc -l)
	ports_per_hub=$(cat /sys/module/vhci_hcd/parameters/nports)
	info "nports $nports, $hcs controllers, $ports_per_hub ports per hub"
	[ "$nports" -eq $((hcs * 2 * ports_per_hub)) ] || die "nports $nports != $hcs * 2 * $ports_per_hub"
	[ "$(head -n1 "$d/status")" = "hub port sta spd dev      sockfd local_busid" ] ||
		die "status header differs: $(head -n1 "$d/status")"
	lines=$(cat "$d"/status* | grep -c -E '^(hs|ss)  [0-9]{4} 004 000 00000000 000000 0-0$')
	[ "$lines" -eq "$nports" ] || die "$lines free port lines in the status files, expected $nports"
	# first port of controller 1 (if any) and the first USB 3 port of controller 0
	grep -q "^ss  $(printf %04d "$ports_per_hub") 004" "$d/status" ||
		die "port $ports_per_hub is not the first USB 3 port"
	if [ "$hcs" -gt 1 ]; then
		grep -q "^hs  $(printf %04d $((2 * ports_per_hub))) 004" "$d/status.1" ||
			die "status.1 does not start at port $((2 * ports_per_hub))"
	fi
	info "status files: header and $nports port lines as expected"
}

vm2() {
	local msg busid sum_old dev port st
	sum_read= sum_last= rc=1

	step "client: wait for the server's ready message"
	msg=$(msg_wait "$READY_PORT" 300) || die "no ready message from the server"
	busid=$(echo "$msg" | sed -n 's/.*busid=\([^ ]*\).*/\1/p')
	sum_old=$(echo "$msg" | sed -n 's/.*sha=\([0-9a-f]*\).*/\1/p')
	info "server exports $busid (sha256 $sum_old)"
	report() {
		msg_send "$PEER_ADDR" "$DONE_PORT" 60 "read=${sum_read:-none} last=${sum_last:-none} rc=$rc" || true
	}
	at_exit report

	step "client: load our vhci-hcd, usb-storage, sd_mod; check the sysfs files"
	nft_hooks_hold
	run modprobe vhci-hcd
	[[ $(cat /sys/module/vhci_hcd/taint) == *O* ]] || die "the loaded vhci_hcd is not ours"
	info "vhci-hcd: $(modinfo -n vhci-hcd)"
	load_storage
	vhci_check_sysfs

	step "client: usbip attach -r $PEER_ADDR -b $busid (Debian's tool)"
	wait_for "$busid listed by the server" 120 sh -c "$USBIP list -r $PEER_ADDR | grep -q '$busid:'"
	run "$USBIP" attach -r "$PEER_ADDR" -b "$busid"
	wait_disk dev 120 disk_of_vhci
	"$USBIP" port
	port=$(vhci_ports_in_use | head -n1)
	[ -n "$port" ] || die "usbip port lists no port"
	at_exit "$USBIP" detach -p "$port"
	st=$(grep -E "^(hs|ss)  $(printf %04d "$port") " /sys/devices/platform/vhci_hcd.0/status)
	info "status line: $st"
	echo "$st" | grep -qE '^hs  [0-9]{4} 006 003 [0-9a-f]{8} [0-9]{6} [0-9]+-[0-9.]+$' ||
		die "unexpected status line for port $port: $st"
	lsusb -t | sed 's/^/    /'
	[ "$(cat "/sys/block/${dev#/dev/}/size")" -eq $((MIB * 2048)) ] || die "remote disk has the wrong size"

	step "client: read ${MIB} MiB with O_DIRECT and compare"
	dev_read "$dev" /tmp/read.bin "$MIB" vhci_direct
	sum_read=$(sha_file /tmp/read.bin)
	rm -f /tmp/read.bin
	same_sum "O_DIRECT read" "$sum_read" "$sum_old"

	step "client: write ${MIB} MiB with O_DIRECT + fsync, read back with O_DIRECT"
	random_file /tmp/new.bin "$MIB"
	sum_last=$(sha_file /tmp/new.bin)
	[ "$sum_last" != "$sum_old" ] || die "new data equals old data"
	dev_write "$dev" /tmp/new.bin "$MIB" vhci_direct
	rm -f /tmp/new.bin
	same_sum "O_DIRECT read-back" "$(sha_dev "$dev" "$MIB")" "$sum_last"

	step "client: write ${MIB} MiB through the page cache, drop caches, read back through it"
	random_file /tmp/new2.bin "$MIB"
	sum_last=$(sha_file /tmp/new2.bin)
	dd if=/tmp/new2.bin of="$dev" bs=1M count="$MIB" conv=fsync,notrunc status=none
	rm -f /tmp/new2.bin
	blockdev --flushbufs "$dev"
	echo 3 >/proc/sys/vm/drop_caches
	same_sum "page-cache read-back" \
		"$(dd if="$dev" bs=1M count="$MIB" status=none | sha256sum | cut -d' ' -f1)" "$sum_last"

	step "client: usbip detach -p $port; the disk and the port go away"
	run "$USBIP" detach -p "$port"
	wait_for "remote disk to disappear" 60 sh -c "! test -b $dev"
	wait_for "vhci port $port free" 30 sh -c "! $USBIP port 2>/dev/null | grep -q '^Port 0*$port:'"
	grep -qE "^hs  $(printf %04d "$port") 004 000 00000000 000000 0-0$" \
		/sys/devices/platform/vhci_hcd.0/status || die "port $port not free in the status file"

	step "client: a drop (the connection reset): the port goes, the server frees the device"
	# no session with Debian's usbipd: a drop ends the connection as in
	# protocol 1.1.1, on our side (the port) and on Debian's (the device)
	run "$USBIP" attach -r "$PEER_ADDR" -b "$busid"
	wait_disk dev 120 disk_of_vhci
	port=$(vhci_ports_in_use | head -n1)
	[ -n "$port" ] || die "usbip port lists no port"
	tcp_reset_cut_start client
	if timeout 120 dd if="$dev" of=/dev/null iflag=direct bs=64k count=1 status=none; then
		die "a read through a reset connection succeeded"
	fi
	wait_for "vhci port $port free after the drop" 60 \
		sh -c "! $USBIP port 2>/dev/null | grep -q '^Port 0*$port:'"
	wait_for "remote disk to disappear after the drop" 60 sh -c "! test -b $dev"
	tcp_reset_cut_end
	grep -qE "^hs  $(printf %04d "$port") 004 000 00000000 000000 0-0$" \
		/sys/devices/platform/vhci_hcd.0/status || die "port $port not free after the drop"
	info "port $port freed after the drop"

	step "client: attach again and read the last data with O_DIRECT"
	wait_for "$busid exported again" 60 sh -c "$USBIP list -r $PEER_ADDR | grep -q '$busid:'"
	run "$USBIP" attach -r "$PEER_ADDR" -b "$busid"
	wait_disk dev 120 disk_of_vhci
	port=$(vhci_ports_in_use | head -n1)
	[ -n "$port" ] || die "usbip port lists no port after the second attach"
	same_sum "read after re-attach" "$(sha_dev "$dev" "$MIB")" "$sum_last"

	step "client: detach again"
	run "$USBIP" detach -p "$port"
	wait_for "remote disk to disappear" 60 sh -c "! test -b $dev"
	dmesg | grep -E 'vhci' | tail -n 12 | sed 's/^/    dmesg| /'
	rc=0
}
