# SPDX-License-Identifier: GPL-2.0
# @desc: our usbip-host + our usbipd/bind export a CDC ACM gadget to Debian's vhci-hcd; 256 KiB of random bytes each way through ttyACM/ttyGS0 in raw mode, sha256 compared
# @kernels: 6.1
# @vms: 2
# @modules: ours reference
# @timeout: 900
#
# vm1 (server, our modules and our tools from build/tools/src): a configfs
# ACM serial gadget on dummy_hcd, our usbipd and "usbip bind".  vm2 (client,
# Debian's vhci-hcd and /usr/sbin/usbip): attach, load cdc_acm by hand, find
# the ttyACM of the imported device.  Both ends put their tty in raw mode
# (no echo, no CR/LF mapping, no flow-control characters), then 256 KiB of
# random bytes go client -> server (read on /dev/ttyGS0) and 256 KiB of other
# random bytes server -> client; each receiver compares the sha256 of what
# it read with the sender's.  Bulk IN and OUT through our stub, the ACM
# control requests (SET_LINE_CODING, SET_CONTROL_LINE_STATE) and the
# interrupt endpoint's pending URB are all exercised.
#
# Messages (msg_send/msg_wait on MSG_PORT, each VM listens on its own
# address): server "ready BUSID" -> client "tty" -> server "go" -> client
# "sent SHA" -> server "got" -> client "listening" -> server "sent SHA" ->
# client "done".

BYTES=$((256 * 1024))

vm1() {
	local busid msg sum_c2s sum_s2c pid
	local ours=$REPO/build/tools/src/usbip oursd=$REPO/build/tools/src/usbipd

	[ -x "$ours" ] && [ -x "$oursd" ] || die "our tools are not built (make tools)"

	step "server: our usbip-host, an ACM gadget on dummy_hcd"
	run modprobe usbip-host
	info "usbip-host: $(modinfo -n usbip-host)"
	gadget_acm_create usbipacm
	at_exit gadget_remove usbipacm
	busid=$GADGET_BUSID
	wait_for "/dev/ttyGS0" 30 test -c /dev/ttyGS0
	info "gadget busid $busid, gadget tty /dev/ttyGS0"

	step "server: our usbipd, our usbip bind -b $busid"
	run "$oursd" -D -P /tmp/usbipd.pid
	wait_for "usbipd listening on 3240" 30 port_listening 3240
	at_exit 'kill $(cat /tmp/usbipd.pid)'
	run "$ours" bind -b "$busid"
	at_exit "$ours" unbind -b "$busid"
	[ "$(basename "$(readlink "/sys/bus/usb/devices/$busid/driver")")" = usbip-host ] ||
		die "$busid is not bound to usbip-host"
	[ "$(cat "/sys/bus/usb/devices/$busid/usbip_status")" = 1 ] || die "usbip_status is not 1"
	run msg_send "$CLIENT_ADDR" "$MSG_PORT" 120 "ready $busid"

	step "server: client has its tty; open /dev/ttyGS0 raw, receive ${BYTES} bytes"
	msg=$(msg_wait "$MSG_PORT" 600) || die "no word from the client"
	[ "$msg" = tty ] || die "client says: $msg"
	[ "$(cat "/sys/bus/usb/devices/$busid/usbip_status")" = 2 ] || die "usbip_status is not 2 while attached"
	exec 3<>/dev/ttyGS0
	at_exit 'exec 3>&-'
	run stty -F /dev/ttyGS0 raw -echo
	info "ttyGS0: $(stty -F /dev/ttyGS0 -a | head -n1)"
	timeout 300 head -c "$BYTES" <&3 >/tmp/c2s.rx &
	pid=$!
	run msg_send "$CLIENT_ADDR" "$MSG_PORT" 60 go
	msg=$(msg_wait "$MSG_PORT" 600) || die "no word from the client"
	case "$msg" in sent\ *) sum_c2s=${msg#sent } ;; *) die "client says: $msg" ;; esac
	wait "$pid" || die "reading ttyGS0 failed or timed out ($(stat -c %s /tmp/c2s.rx) of $BYTES bytes)"
	[ "$(stat -c %s /tmp/c2s.rx)" -eq "$BYTES" ] || die "short read on ttyGS0"
	same_sum "client -> server" "$(sha_file /tmp/c2s.rx)" "$sum_c2s"

	step "server: send ${BYTES} bytes to the client"
	head -c "$BYTES" /dev/urandom >/tmp/s2c
	sum_s2c=$(sha_file /tmp/s2c)
	[ "$sum_s2c" != "$sum_c2s" ] || die "both directions carry the same data"
	run msg_send "$CLIENT_ADDR" "$MSG_PORT" 60 got
	msg=$(msg_wait "$MSG_PORT" 600) || die "no word from the client"
	[ "$msg" = listening ] || die "client says: $msg"
	timeout 300 cat /tmp/s2c >&3 || die "writing ttyGS0 failed or timed out"
	run msg_send "$CLIENT_ADDR" "$MSG_PORT" 60 "sent $sum_s2c"
	msg=$(msg_wait "$MSG_PORT" 600) || die "no word from the client"
	[ "$msg" = done ] || die "client says: $msg"
	exec 3>&-
	wait_for "usbip_status 1 after the detach" 60 \
		sh -c "[ \"\$(cat /sys/bus/usb/devices/$busid/usbip_status)\" = 1 ]"
	run "$ours" unbind -b "$busid"
	dmesg | grep -E 'usbip|acm|gadget' | tail -n 15 | sed 's/^/    dmesg| /'
}

vm2() {
	local msg busid port tty pid sum_c2s sum_s2c

	step "client: Debian's vhci-hcd; wait for the server"
	run modprobe vhci-hcd
	msg=$(msg_wait "$MSG_PORT" 600) || die "no word from the server"
	read -r _ busid <<<"$msg"
	info "server exports $busid"

	step "client: attach $busid, load cdc_acm, find the tty"
	run "$USBIP" attach -r "$SERVER_ADDR" -b "$busid"
	wait_for "an imported device" 60 prints vhci_busids
	port=$(vhci_ports_in_use | head -n1)
	at_exit "$USBIP" detach -p "$port"
	run modprobe cdc_acm
	wait_for "ttyACM of the imported device" 60 prints tty_of_usb "$(vhci_busids | head -n1)"
	tty=$(tty_of_usb "$(vhci_busids | head -n1)")
	wait_for "$tty" 30 test -c "$tty"
	exec 4<>"$tty"
	at_exit 'exec 4>&-'
	run stty -F "$tty" raw -echo
	info "$tty on vhci port $port: $(stty -F "$tty" -a | head -n1)"
	run msg_send "$SERVER_ADDR" "$MSG_PORT" 60 tty

	step "client: send ${BYTES} random bytes to the server"
	head -c "$BYTES" /dev/urandom >/tmp/c2s
	sum_c2s=$(sha_file /tmp/c2s)
	msg=$(msg_wait "$MSG_PORT" 600) || die "no word from the server"
	[ "$msg" = go ] || die "server says: $msg"
	timeout 300 cat /tmp/c2s >&4 || die "writing $tty failed or timed out"
	run msg_send "$SERVER_ADDR" "$MSG_PORT" 60 "sent $sum_c2s"
	msg=$(msg_wait "$MSG_PORT" 600) || die "no word from the server"
	[ "$msg" = got ] || die "server says: $msg"

	step "client: receive ${BYTES} bytes from the server"
	timeout 300 head -c "$BYTES" <&4 >/tmp/s2c.rx &
	pid=$!
	run msg_send "$SERVER_ADDR" "$MSG_PORT" 60 listening
	msg=$(msg_wait "$MSG_PORT" 600) || die "no word from the server"
	case "$msg" in sent\ *) sum_s2c=${msg#sent } ;; *) die "server says: $msg" ;; esac
	wait "$pid" || die "reading $tty failed or timed out ($(stat -c %s /tmp/s2c.rx) of $BYTES bytes)"
	same_sum "server -> client" "$(sha_file /tmp/s2c.rx)" "$sum_s2c"

	step "client: close the tty, detach"
	exec 4>&-
	run "$USBIP" detach -p "$port"
	wait_for "vhci port $port free" 60 sh -c "! $USBIP port 2>/dev/null | grep -q '^Port 0*$port:'"
	run msg_send "$SERVER_ADDR" "$MSG_PORT" 60 done
}
