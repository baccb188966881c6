# SPDX-License-Identifier: GPL-2.0
# @desc: two VMs over IPv6 ULA, Debian's modules and tools on both: server exports a gadget disk, client attaches it, checksums both ways
# @kernels: 6.1
# @suite: extra
# @vms: 2
# @modules: reference reference
# @timeout: 480
#
# vm1 (server, fd00:5b1b::1) creates a mass-storage gadget on dummy_hcd with
# 32 MiB of random data, starts usbipd, binds the gadget and tells vm2 its
# busid and checksum.  vm2 (client, fd00:5b1b::2) polls "usbip list -r" until
# the device is exported, attaches it, reads it whole and compares, writes
# 32 MiB of new data, reads them back, detaches, and reports its checksums.
# The server then checks its backing file holds exactly the client's data.

MIB=32
READY_PORT=5101   # server -> client: "busid=B sha=S"
DONE_PORT=5102    # client -> server: "read=S new=S rc=N"

vm1() {
	local backing=/tmp/disk.img busid sum_old msg

	step "server: load usbip-host, create a ${MIB} MiB gadget disk on dummy_hcd"
	run modprobe usbip-host
	gadget_disk netdisk "$backing" "$MIB"
	sum_old=$(sha_file "$backing")
	busid=$GADGET_BUSID
	info "gadget busid $busid, sha256 $sum_old"

	step "server: usbipd -D, usbip bind -b $busid"
	usbip_export "$busid"
	port_listening 3240 || die "usbipd is not listening"
	ss -Hltn "sport = :3240"

	step "server: tell the client (${PEER_ADDR}) the busid and checksum"
	msg_send "$PEER_ADDR" "$READY_PORT" 240 "busid=$busid sha=$sum_old" ||
		die "client never listened for the ready message"

	step "server: wait for the client's report"
	msg=$(msg_wait "$DONE_PORT" 400) || die "no report from the client"
	info "client says: $msg"
	case "$msg" in *"rc=0"*) ;; *) die "client failed: $msg" ;; esac
	[ "$(echo "$msg" | sed -n 's/.*read=\([0-9a-f]*\).*/\1/p')" = "$sum_old" ] ||
		die "client read different data than exported"
	same_sum "backing file after the client's write" "$(sha_file "$backing")" \
		"$(echo "$msg" | sed -n 's/.*new=\([0-9a-f]*\).*/\1/p')"
	# usbip_status: 1 available, 2 in use, 3 error.
	wait_for "$busid available again after the detach" 60 \
		grep -qx 1 "/sys/bus/usb/devices/$busid/usbip_status"
}

vm2() {
	local msg busid sum_old dev port
	# Globals: the report runs from the exit trap, after vm2 has returned.
	sum_read= sum_new= rc=1

	step "client: wait for the server's ready message"
	msg=$(msg_wait "$READY_PORT" 300) || die "no ready message from the server"
	busid=$(echo "$msg" | sed -n 's/.*busid=\([^ ]*\).*/\1/p')
	sum_old=$(echo "$msg" | sed -n 's/.*sha=\([0-9a-f]*\).*/\1/p')
	info "server exports $busid (sha256 $sum_old)"

	step "client: poll usbip list -r $PEER_ADDR until $busid is exported"
	wait_for "$busid listed by the server" 120 sh -c "$USBIP list -r $PEER_ADDR | grep -q '$busid:'"
	"$USBIP" list -r "$PEER_ADDR"

	step "client: load vhci-hcd, usb-storage, sd_mod; usbip attach -r $PEER_ADDR -b $busid"
	run modprobe vhci-hcd
	load_storage
	report() {
		msg_send "$PEER_ADDR" "$DONE_PORT" 60 "read=${sum_read:-none} new=${sum_new:-none} rc=$rc" || true
	}
	at_exit report
	run "$USBIP" attach -r "$PEER_ADDR" -b "$busid"
	wait_disk dev 90 disk_of_vhci
	"$USBIP" port
	port=$(vhci_ports_in_use | head -n1)
	at_exit "$USBIP" detach -p "$port"
	[ "$(cat "/sys/block/${dev#/dev/}/size")" -eq $((MIB * 2048)) ] || die "remote disk has the wrong size"

	step "client: read ${MIB} MiB over the network (O_DIRECT) and compare"
	dev_read "$dev" /tmp/read.bin "$MIB" net
	sum_read=$(sha_file /tmp/read.bin)
	rm -f /tmp/read.bin
	same_sum "network read" "$sum_read" "$sum_old"

	step "client: write ${MIB} MiB of new data (O_DIRECT + fsync), read back"
	random_file /tmp/new.bin "$MIB"
	sum_new=$(sha_file /tmp/new.bin)
	dev_write "$dev" /tmp/new.bin "$MIB" net
	rm -f /tmp/new.bin
	same_sum "network read-back" "$(sha_dev "$dev" "$MIB")" "$sum_new"

	step "client: detach port $port"
	run "$USBIP" detach -p "$port"
	wait_for "remote disk to disappear" 60 sh -c "! test -b $dev"
	rc=0
}
