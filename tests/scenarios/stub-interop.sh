# SPDX-License-Identifier: GPL-2.0
# @desc: our usbip-host + Debian's usbipd export a dummy_hcd mass-storage gadget to Debian's vhci-hcd; 32 MiB (16 on 6.12) write/read sha256, detach, a drop (connection reset) frees Debian's port and our device as without sessions, re-attach, verify
# @kernels: 6.1 6.12
# @vms: 2
# @modules: ours reference
# @timeout: 900
#
# vm1 (server, our modules): a configfs mass-storage gadget on dummy_hcd
# backed by MIB MiB of random data, usb-storage loaded (so a port claim that
# fails to keep the server's drivers away would show up as a local disk),
# Debian's usbipd and "usbip bind".  vm2 (client, Debian's vhci-hcd and
# usbip): attach, read all MIB MiB and compare, write MIB MiB of new data and
# read it back, detach; attach, and the server resets the connection (nft,
# tcp_reset_cut_start): the client's next read fails and its port goes, and
# our usbip-host notices by its keepalive (no session with Debian's tools)
# and makes the device available; attach again and verify once more.  The
# server checks usbip_status (2 while attached, back to 1 after each detach), that
# no local disk appears while exported, that the gadget's backing file holds
# the client's data, and that "usbip unbind" gives the device back to its
# usual drivers.

# 32 MiB on 6.1 and 16 on 6.12 (the same paths on another kernel) keep the
# suite short; every MiB more is one more identical 1 MiB request.
case "$(uname -r)" in
6.1.*) MIB=${STUB_INTEROP_MIB:-32} ;;
*) MIB=${STUB_INTEROP_MIB:-16} ;;
esac

# stub_status BUSID: the usbip_status value of a device bound to usbip-host.
stub_status() {
	cat "/sys/bus/usb/devices/$1/usbip_status"
}

status_is() {
	[ "$(stub_status "$1")" = "$2" ]
}

vm1() {
	local backing=/tmp/disk.img busid sum_old sum_new msg local_dev

	step "server: load our usbip-host, usb-storage, the gadget"
	nft_hooks_hold
	run modprobe usbip-host
	info "usbip-host: $(modinfo -n usbip-host)"
	load_storage
	gadget_disk usbipdisk "$backing" "$MIB"
	sum_old=$(sha_file "$backing")
	busid=$GADGET_BUSID
	wait_disk local_dev 60 disk_of_usb "$busid"
	info "gadget $busid, local disk $local_dev before export"

	step "server: usbipd and usbip bind -b $busid"
	usbip_export "$busid"
	grep -qx "$busid" /sys/bus/usb/drivers/usbip-host/match_busid ||
		die "match_busid does not list $busid"
	wait_for "local disk of $busid to go away" 30 sh -c "! test -b $local_dev"
	[ "$(stub_status "$busid")" = 1 ] || die "usbip_status is $(stub_status "$busid"), not 1"
	info "usbip_status 1, match_busid: $(tr '\n' ' ' </sys/bus/usb/drivers/usbip-host/match_busid)"
	run msg_send "$CLIENT_ADDR" "$MSG_PORT" 120 "ready $busid $sum_old"

	step "server: client attached: status 2, no local disk"
	msg=$(msg_wait "$MSG_PORT" 600) || die "no word from the client"
	[ "$msg" = attached ] || die "client says: $msg"
	[ "$(stub_status "$busid")" = 2 ] || die "usbip_status is $(stub_status "$busid") while attached"
	if disk_of_usb "$busid" >/dev/null; then
		die "a local driver bound to the exported device's interfaces"
	fi
	info "usbip_status 2, no local disk"
	run msg_send "$CLIENT_ADDR" "$MSG_PORT" 60 checked

	step "server: after the first detach the device is available again"
	msg=$(msg_wait "$MSG_PORT" 600) || die "no word from the client"
	[ "$msg" = detached ] || die "client says: $msg"
	wait_for "usbip_status 1 after detach" 30 status_is "$busid" 1
	info "usbip_status back to 1"
	run msg_send "$CLIENT_ADDR" "$MSG_PORT" 60 available

	step "server: a drop (connection reset): Debian's client loses the port, the device comes back"
	# no session with Debian's tools: a drop ends the connection as in
	# protocol 1.1.1; usbip-core's peer_timeout (keepalive, 10 s) notices
	msg=$(msg_wait "$MSG_PORT" 600) || die "no word from the client"
	[ "$msg" = attached-again ] || die "client says: $msg"
	wait_for "usbip_status 2 before the drop" 30 status_is "$busid" 2
	tcp_reset_cut_start server
	run msg_send "$CLIENT_ADDR" "$MSG_PORT" 60 cut
	msg=$(msg_wait "$MSG_PORT" 600) || die "no word from the client"
	[ "$msg" = port-free ] || die "client says: $msg"
	wait_for "usbip_status 1 after the drop" 60 status_is "$busid" 1
	tcp_reset_cut_end
	info "usbip_status back to 1 after the drop"
	run msg_send "$CLIENT_ADDR" "$MSG_PORT" 60 available

	step "server: the client's data is in the gadget's backing file"
	msg=$(msg_wait "$MSG_PORT" 900) || die "no word from the client"
	case "$msg" in done\ *) sum_new=${msg#done } ;; *) die "client says: $msg" ;; esac
	wait_for "usbip_status 1 after the last detach" 30 status_is "$busid" 1
	same_sum "gadget backing file" "$(sha_file "$backing")" "$sum_new"

	step "server: usbip unbind gives the device back to usb-storage"
	run "$USBIP" unbind -b "$busid"
	wait_for "$busid unbound from usbip-host" 30 sh -c "! test -e /sys/bus/usb/drivers/usbip-host/$busid"
	[ -z "$(cat /sys/bus/usb/drivers/usbip-host/match_busid)" ] || die "match_busid not empty"
	wait_disk local_dev 60 disk_of_usb "$busid"
	same_sum "local read after unbind" "$(sha_dev "$local_dev" "$MIB")" "$sum_new"
	dmesg | grep -E 'usbip|usb-storage' | tail -n 20 | sed 's/^/    dmesg| /'
}

vm2() {
	local msg busid sum_old sum_new dev port

	step "client: Debian's vhci-hcd and usb-storage"
	run modprobe vhci-hcd
	load_storage
	msg=$(msg_wait "$MSG_PORT" 600) || die "no word from the server"
	read -r _ busid sum_old <<<"$msg"
	info "server exports $busid, data sha256 $sum_old"
	local listing
	listing=$("$USBIP" list -r "$SERVER_ADDR")
	echo "$listing"
	echo "$listing" | grep -q "$busid" || die "usbip list -r does not show $busid"

	step "client: attach and read ${MIB} MiB"
	run "$USBIP" attach -r "$SERVER_ADDR" -b "$busid"
	wait_disk dev 60 disk_of_vhci
	port=$(vhci_ports_in_use | head -n1)
	at_exit "$USBIP" detach -p "$port"
	[ "$(cat "/sys/block/${dev#/dev/}/size")" -eq $((MIB * 2048)) ] || die "wrong disk size"
	dev_read "$dev" /tmp/read.bin "$MIB" stub_read
	same_sum "read through our usbip-host" "$(sha_file /tmp/read.bin)" "$sum_old"
	rm -f /tmp/read.bin
	run msg_send "$SERVER_ADDR" "$MSG_PORT" 60 attached
	msg=$(msg_wait "$MSG_PORT" 120) || die "no word from the server"
	[ "$msg" = checked ] || die "server says: $msg"

	step "client: write ${MIB} MiB of new data, read back"
	random_file /tmp/new.bin "$MIB"
	sum_new=$(sha_file /tmp/new.bin)
	dev_write "$dev" /tmp/new.bin "$MIB" stub_write
	rm -f /tmp/new.bin
	same_sum "read-back" "$(sha_dev "$dev" "$MIB")" "$sum_new"

	step "client: detach"
	run "$USBIP" detach -p "$port"
	wait_for "vhci disk to disappear" 60 sh -c "! test -b $dev"
	wait_for "vhci port $port free" 30 sh -c "! $USBIP port 2>/dev/null | grep -q '^Port 0*$port:'"
	run msg_send "$SERVER_ADDR" "$MSG_PORT" 60 detached
	msg=$(msg_wait "$MSG_PORT" 120) || die "no word from the server"
	[ "$msg" = available ] || die "server says: $msg"

	step "client: a drop (the server resets the connection): the port goes"
	run "$USBIP" attach -r "$SERVER_ADDR" -b "$busid"
	wait_disk dev 60 disk_of_vhci
	port=$(vhci_ports_in_use | head -n1)
	run msg_send "$SERVER_ADDR" "$MSG_PORT" 60 attached-again
	msg=$(msg_wait "$MSG_PORT" 120) || die "no word from the server"
	[ "$msg" = cut ] || die "server says: $msg"
	if timeout 120 dd if="$dev" of=/dev/null iflag=direct bs=64k count=1 status=none; then
		die "a read through a reset connection succeeded"
	fi
	wait_for "vhci port $port free after the drop" 60 \
		sh -c "! $USBIP port 2>/dev/null | grep -q '^Port 0*$port:'"
	wait_for "vhci disk to disappear after the drop" 60 sh -c "! test -b $dev"
	run msg_send "$SERVER_ADDR" "$MSG_PORT" 60 port-free
	msg=$(msg_wait "$MSG_PORT" 120) || die "no word from the server"
	[ "$msg" = available ] || die "server says: $msg"

	step "client: attach again and verify"
	run "$USBIP" attach -r "$SERVER_ADDR" -b "$busid"
	wait_disk dev 60 disk_of_vhci
	port=$(vhci_ports_in_use | head -n1)
	same_sum "read after re-attach" "$(sha_dev "$dev" "$MIB")" "$sum_new"
	run "$USBIP" detach -p "$port"
	wait_for "vhci disk to disappear" 60 sh -c "! test -b $dev"
	run msg_send "$SERVER_ADDR" "$MSG_PORT" 60 "done $sum_new"
}
