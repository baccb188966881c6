# SPDX-License-Identifier: GPL-2.0
# @desc: our usbip-vudc (num=2) + our usbipd --device export a mass-storage and an ACM gadget to Debian's vhci-hcd and usbip in another VM; O_DIRECT read/write sha256 checked on both ends, 64 KiB each way through ttyACM/ttyGS0, detach, status back to available
# @kernels: 6.1
# @vms: 2
# @modules: ours reference
# @timeout: 900
#
# vm1 (server, fd00:5b1b::1, our modules and our tools from build/tools/src):
# usbip-vudc num=2, a mass-storage gadget on usbip-vudc.0 backed by MIB MiB
# of random data, an ACM gadget on usbip-vudc.1, our "usbipd --device".
# vm2 (client, fd00:5b1b::2, Debian's in-tree vhci-hcd and /usr/sbin/usbip):
# "usbip list -r" shows both gadgets; the disk is attached with
# "attach -b usbip-vudc.0" and the serial port with "attach -d usbip-vudc.1"
# (Debian's attach takes either option for a bus id).  The client reads the
# disk with O_DIRECT and compares with the server's checksum, writes new
# random data and reads it back; the server checks that its backing file
# holds the client's data.  Then BYTES random bytes go client -> server
# (ttyACM -> ttyGS0) and other random bytes server -> client, both ttys in
# raw mode, sha256 compared by the receiver.  The client detaches both; the
# server sees usbip_status go back to 1 (available) on both controllers.
# Both kernel logs must stay clean.
#
# Messages on MSG_PORT (each VM listens on its own address):
#   server "ready SHA"  -> client "attached" -> server "checked"
#   client "written SHA" -> server "stored"
#   client "tty"        -> server "go" -> client "sent SHA" -> server "got"
#   client "listening"  -> server "sent SHA" -> client "detached"
#   server "available"

# 16 MiB: the read, the write and the read back are 1 MiB O_DIRECT requests,
# each the same as the one before (32 MiB took 30 s of them under TCG)
MIB=${VUDC_INTEROP_MIB:-16}
BYTES=${VUDC_INTEROP_BYTES:-$((64 * 1024))}

vudc_status_is() {
	[ "$(cat "/sys/devices/platform/$1/usbip_status")" = "$2" ]
}

# expect MSG: waits for the peer's next message and dies unless it is MSG.
expect() {
	local msg
	msg=$(msg_wait "$MSG_PORT" 600) || die "no word from the peer (waiting for '$1')"
	[ "$msg" = "$1" ] || die "peer says: $msg (expected '$1')"
}

# expect_sum WORD: waits for "WORD SHA" from the peer, sets PEER_SUM.
expect_sum() {
	local msg
	msg=$(msg_wait "$MSG_PORT" 600) || die "no word from the peer (waiting for '$1')"
	case "$msg" in "$1 "*) PEER_SUM=${msg#"$1 "} ;; *) die "peer says: $msg (expected '$1 SHA')" ;; esac
}

vm1() {
	local backing=/tmp/vudc-disk.img v sum_old sum_new sum_c2s sum_s2c pid
	local ours=$REPO/build/tools/src/usbip oursd=$REPO/build/tools/src/usbipd

	[ -x "$ours" ] && [ -x "$oursd" ] || die "our tools are not built (make tools)"

	step "server: our usbip-vudc num=2"
	run modprobe usbip-vudc num=2
	[[ $(cat /sys/module/usbip_vudc/taint) == *O* ]] || die "the loaded usbip_vudc is not ours"
	info "usbip-vudc: $(modinfo -n usbip-vudc)"
	for v in usbip-vudc.0 usbip-vudc.1; do
		wait_for "UDC $v" 30 test -e "/sys/class/udc/$v"
	done

	step "server: ${MIB} MiB mass-storage gadget on usbip-vudc.0, ACM gadget on usbip-vudc.1"
	random_file "$backing" "$MIB"
	sum_old=$(sha_file "$backing")
	gadget_storage_on_udc vudcdisk "$backing" usbip-vudc.0
	at_exit gadget_remove vudcdisk
	gadget_acm_on_udc vudcacm usbip-vudc.1
	at_exit gadget_remove vudcacm
	wait_for "/dev/ttyGS0" 30 test -c /dev/ttyGS0
	for v in usbip-vudc.0 usbip-vudc.1; do
		wait_for "$v speed" 30 sh -c \
			"[ \"\$(cat /sys/class/udc/$v/current_speed)\" != UNKNOWN ]"
		vudc_status_is "$v" 1 || die "$v: usbip_status is not 1"
		info "$v: $(cat /sys/class/udc/$v/current_speed), usbip_status 1"
	done
	info "backing file sha256 $sum_old"

	step "server: our usbipd --device; our usbip list --device"
	run "$oursd" --device -D -P /tmp/usbipd.pid
	wait_for "usbipd listening on 3240" 30 port_listening 3240
	at_exit 'kill $(cat /tmp/usbipd.pid)'
	"$ours" list --device 2>&1 | sed 's/^/    /' || true
	run msg_send "$CLIENT_ADDR" "$MSG_PORT" 120 "ready $sum_old"

	step "server: client attached both: usbip_status 2"
	expect attached
	for v in usbip-vudc.0 usbip-vudc.1; do
		vudc_status_is "$v" 2 || die "$v: usbip_status is not 2 while attached"
	done
	info "usbip-vudc.0 and usbip-vudc.1: usbip_status 2"
	run msg_send "$CLIENT_ADDR" "$MSG_PORT" 60 checked

	step "server: the client's data is in the backing file"
	expect_sum written
	sum_new=$PEER_SUM
	[ "$sum_new" != "$sum_old" ] || die "the client wrote the old data"
	same_sum "backing file after the client's write" "$(sha_file "$backing")" "$sum_new"
	run msg_send "$CLIENT_ADDR" "$MSG_PORT" 60 stored

	step "server: client has its tty; receive ${BYTES} bytes on /dev/ttyGS0"
	expect tty
	exec 3<>/dev/ttyGS0
	at_exit 'exec 3>&-'
	run stty -F /dev/ttyGS0 raw -echo
	timeout 300 head -c "$BYTES" <&3 >/tmp/c2s.rx &
	pid=$!
	run msg_send "$CLIENT_ADDR" "$MSG_PORT" 60 go
	expect_sum sent
	sum_c2s=$PEER_SUM
	wait "$pid" || die "reading ttyGS0 failed or timed out ($(stat -c %s /tmp/c2s.rx) of $BYTES bytes)"
	same_sum "client -> server" "$(sha_file /tmp/c2s.rx)" "$sum_c2s"

	step "server: send ${BYTES} bytes to the client"
	head -c "$BYTES" /dev/urandom >/tmp/s2c
	sum_s2c=$(sha_file /tmp/s2c)
	[ "$sum_s2c" != "$sum_c2s" ] || die "both directions carry the same data"
	run msg_send "$CLIENT_ADDR" "$MSG_PORT" 60 got
	expect listening
	timeout 300 cat /tmp/s2c >&3 || die "writing ttyGS0 failed or timed out"
	run msg_send "$CLIENT_ADDR" "$MSG_PORT" 60 "sent $sum_s2c"

	step "server: after the detaches both gadgets are available again"
	expect detached
	exec 3>&-
	for v in usbip-vudc.0 usbip-vudc.1; do
		wait_for "$v usbip_status 1" 60 vudc_status_is "$v" 1
	done
	[ "$(cat "$GADGET_ROOT/vudcdisk/UDC")" = usbip-vudc.0 ] || die "the disk gadget lost its UDC"
	[ "$(cat "$GADGET_ROOT/vudcacm/UDC")" = usbip-vudc.1 ] || die "the ACM gadget lost its UDC"
	info "usbip_status 1 on both, gadgets still bound"
	same_sum "backing file at the end" "$(sha_file "$backing")" "$sum_new"
	run msg_send "$CLIENT_ADDR" "$MSG_PORT" 60 available
	dmesg | grep -E 'usbip|vudc|acm|gadget' | tail -n 15 | sed 's/^/    dmesg| /'
	dmesg_check || die "kernel log has warnings"
}

# acm_tty_of_vhci: /dev/ttyACMn of a device imported through vhci_hcd.
acm_tty_of_vhci() {
	local b
	for b in $(vhci_busids); do
		tty_of_usb "$b" && return 0
	done
	return 1
}

vm2() {
	local sum_old sum_new sum_c2s sum_s2c dev tty pid p_disk p_acm listing

	step "client: Debian's vhci-hcd, usb-storage, cdc_acm"
	run modprobe vhci-hcd
	[[ $(cat /sys/module/vhci_hcd/taint) != *O* ]] || die "the loaded vhci_hcd is not Debian's"
	info "vhci-hcd: $(modinfo -n vhci-hcd)"
	load_storage
	run modprobe cdc_acm
	expect_sum ready
	sum_old=$PEER_SUM
	info "server's disk data sha256 $sum_old"

	step "client: usbip list -r $SERVER_ADDR (Debian's tool)"
	listing=$("$USBIP" list -r "$SERVER_ADDR")
	echo "$listing" | sed 's/^/    /'
	echo "$listing" | grep -q 'usbip-vudc\.0:' || die "usbip list -r does not show usbip-vudc.0"
	echo "$listing" | grep -q 'usbip-vudc\.1:' || die "usbip list -r does not show usbip-vudc.1"

	step "client: attach -b usbip-vudc.0 (disk) and -d usbip-vudc.1 (serial)"
	run "$USBIP" attach -r "$SERVER_ADDR" -b usbip-vudc.0
	wait_disk dev 120 disk_of_vhci
	p_disk=$(vhci_port_of_busid usbip-vudc.0)
	[ -n "$p_disk" ] || die "usbip port does not list usbip-vudc.0"
	at_exit "$USBIP" detach -p "$p_disk"
	run "$USBIP" attach -r "$SERVER_ADDR" -d usbip-vudc.1
	wait_for "ttyACM of the imported gadget" 120 prints acm_tty_of_vhci
	tty=$(acm_tty_of_vhci)
	wait_for "$tty" 30 test -c "$tty"
	p_acm=$(vhci_port_of_busid usbip-vudc.1)
	[ -n "$p_acm" ] || die "usbip port does not list usbip-vudc.1"
	at_exit "$USBIP" detach -p "$p_acm"
	"$USBIP" port | sed 's/^/    /'
	info "disk $dev on port $p_disk, $tty on port $p_acm"
	[ "$(cat "/sys/block/${dev#/dev/}/size")" -eq $((MIB * 2048)) ] || die "remote disk has the wrong size"
	run msg_send "$SERVER_ADDR" "$MSG_PORT" 60 attached
	expect checked

	step "client: read ${MIB} MiB with O_DIRECT and compare with the server's file"
	dev_read "$dev" /tmp/read.bin "$MIB" vudc_interop
	info "read: $LAST_MBPS MB/s"
	same_sum "O_DIRECT read" "$(sha_file /tmp/read.bin)" "$sum_old"
	rm -f /tmp/read.bin

	step "client: write ${MIB} MiB of new data with O_DIRECT, read back"
	random_file /tmp/new.bin "$MIB"
	sum_new=$(sha_file /tmp/new.bin)
	dev_write "$dev" /tmp/new.bin "$MIB" vudc_interop
	info "write: $LAST_MBPS MB/s"
	rm -f /tmp/new.bin
	same_sum "O_DIRECT read-back" "$(sha_dev "$dev" "$MIB")" "$sum_new"
	run msg_send "$SERVER_ADDR" "$MSG_PORT" 60 "written $sum_new"
	expect stored

	step "client: ${BYTES} random bytes to the server through $tty"
	exec 4<>"$tty"
	at_exit 'exec 4>&-'
	run stty -F "$tty" raw -echo
	head -c "$BYTES" /dev/urandom >/tmp/c2s
	sum_c2s=$(sha_file /tmp/c2s)
	run msg_send "$SERVER_ADDR" "$MSG_PORT" 60 tty
	expect go
	timeout 300 cat /tmp/c2s >&4 || die "writing $tty failed or timed out"
	run msg_send "$SERVER_ADDR" "$MSG_PORT" 60 "sent $sum_c2s"
	expect got

	step "client: receive ${BYTES} bytes from the server"
	timeout 300 head -c "$BYTES" <&4 >/tmp/s2c.rx &
	pid=$!
	run msg_send "$SERVER_ADDR" "$MSG_PORT" 60 listening
	expect_sum sent
	sum_s2c=$PEER_SUM
	wait "$pid" || die "reading $tty failed or timed out ($(stat -c %s /tmp/s2c.rx) of $BYTES bytes)"
	same_sum "server -> client" "$(sha_file /tmp/s2c.rx)" "$sum_s2c"

	step "client: close the tty, detach both"
	exec 4>&-
	run "$USBIP" detach -p "$p_acm"
	run "$USBIP" detach -p "$p_disk"
	wait_for "remote disk to disappear" 60 sh -c "! test -b $dev"
	wait_for "$tty to disappear" 60 sh -c "! test -e /sys/class/tty/${tty#/dev/}"
	wait_for "vhci ports free" 60 sh -c "[ -z \"\$($USBIP port 2>/dev/null | grep '^Port ')\" ]"
	run msg_send "$SERVER_ADDR" "$MSG_PORT" 60 detached
	expect available
	dmesg | grep -E 'vhci|usbip' | tail -n 10 | sed 's/^/    dmesg| /'
	dmesg_check || die "kernel log has warnings"
}
