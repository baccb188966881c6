# SPDX-License-Identifier: GPL-2.0
# @desc: our usbipd and usbip bind/unbind/list -r on Debian's usbip-host: Debian's client attaches, disk sha256 through vhci, list -r identical to Debian's, unbind returns the disk to usb-storage
# @kernels: 6.1
# @vms: 1
# @modules: reference
# @timeout: 420
#
# Server side is ours (build/tools/src/usbipd and usbip bind/unbind/list -r)
# on Debian's usbip-host module; the client side is Debian's usbip attach on
# Debian's vhci-hcd.  A 16 MiB configfs mass-storage gadget on dummy_hcd is
# exported over 127.0.0.1, read through the vhci disk and compared with its
# backing file; afterwards our unbind must give the device back to
# usb-storage, whose disk must read the same data.

MIB=16
DEB_USBIP=/usr/sbin/usbip

# stdout of "usbip list -r" from both clients must be byte-identical.
same_listing() {
	local host=$1
	"$OURS" list -r "$host" >/tmp/ours.txt 2>/tmp/ours.err || die "our list -r $host failed"
	"$DEB_USBIP" list -r "$host" >/tmp/ref.txt 2>/tmp/ref.err || die "Debian's list -r $host failed"
	cat /tmp/ours.txt
	diff -u /tmp/ref.txt /tmp/ours.txt || die "list -r $host differs from Debian's"
}

usbip_status_of() {
	cat "/sys/bus/usb/devices/$1/usbip_status"
}

driver_of() {
	basename "$(readlink "/sys/bus/usb/devices/$1/driver")"
}

vm1() {
	local backing=/tmp/disk.img busid dev local_dev sum pid port hub
	OURS=$REPO/build/tools/src/usbip
	OURSD=$REPO/build/tools/src/usbipd
	[ -x "$OURS" ] && [ -x "$OURSD" ] || die "our tools are not built (make tools)"

	step "modules: Debian's usbip-host and vhci-hcd, usb-storage"
	run modprobe usbip-host
	run modprobe vhci-hcd
	load_storage

	step "a ${MIB} MiB mass-storage gadget on dummy_hcd, seen by usb-storage"
	random_file "$backing" "$MIB"
	sum=$(sha_file "$backing")
	gadget_storage_create toolsdisk "$backing"
	at_exit gadget_remove toolsdisk
	busid=$GADGET_BUSID
	wait_disk local_dev 60 disk_of_usb "$busid"
	info "busid $busid, local disk $local_dev, driver $(driver_of "$busid"), sha256 $sum"

	step "our usbipd -D -P /tmp/usbipd.pid"
	run "$OURSD" -D -P /tmp/usbipd.pid
	wait_for "usbipd listening on 3240" 30 port_listening 3240
	pid=$(cat /tmp/usbipd.pid)
	[ -d "/proc/$pid" ] || die "pid file holds $pid, not a running process"
	at_exit kill "$pid"
	ss -Hltn "sport = :3240" | sed 's/^/    /'
	[ "$(ss -Hltn "sport = :3240" | wc -l)" -eq 2 ] || die "usbipd should listen on IPv4 and IPv6"

	step "nothing bound yet: list -r prints nothing, says so on stderr"
	"$OURS" list -r 127.0.0.1 >/tmp/empty.txt 2>/tmp/empty.err || die "list -r failed"
	cat /tmp/empty.err
	[ ! -s /tmp/empty.txt ] || die "list -r printed devices before any bind"
	grep -q 'no exportable devices found on 127.0.0.1' /tmp/empty.err || die "no 'no exportable devices' message"

	step "our usbip bind -b $busid"
	run "$OURS" --debug bind -b "$busid"
	at_exit "$OURS" unbind -b "$busid"
	[ "$(driver_of "$busid")" = usbip-host ] || die "$busid is bound to $(driver_of "$busid")"
	[ "$(usbip_status_of "$busid")" = 1 ] || die "usbip_status is not 1 (available)"
	info "driver usbip-host, usbip_status 1; match_busid: $(cat /sys/bus/usb/drivers/usbip-host/match_busid)"

	step "errors: bind again, unknown bus id, a hub"
	if "$OURS" bind -b "$busid" 2>/tmp/err; then die "second bind succeeded"; fi
	cat /tmp/err
	grep -q 'already bound' /tmp/err || die "no 'already bound' message"
	if "$OURS" bind -b 99-9 2>/tmp/err; then die "bind of 99-9 succeeded"; fi
	cat /tmp/err
	grep -q 'no USB device with bus id 99-9' /tmp/err || die "no 'no USB device' message"
	hub=$(basename "$(readlink -f "/sys/bus/usb/devices/$busid/..")")
	if "$OURS" bind -b "$hub" 2>/tmp/err; then die "bind of hub $hub succeeded"; fi
	cat /tmp/err
	grep -q 'hub' /tmp/err || die "no 'hub' message for $hub"

	step "list -r: ours and Debian's byte-identical over 127.0.0.1, ::1 and localhost"
	same_listing 127.0.0.1
	grep -q "^ *$busid: .*(1d6b:0104)$" /tmp/ours.txt || die "$busid not listed"
	same_listing ::1
	same_listing localhost

	step "Debian's usbip attach -r 127.0.0.1 -b $busid"
	run "$DEB_USBIP" attach -r 127.0.0.1 -b "$busid"
	wait_disk dev 60 disk_of_vhci
	port=$(vhci_ports_in_use | head -n1)
	[ -n "$port" ] || die "no vhci port in use"
	at_exit "$DEB_USBIP" detach -p "$port"
	info "vhci disk $dev on port $port"
	[ "$(usbip_status_of "$busid")" = 2 ] || die "usbip_status is not 2 (in use)"

	step "read ${MIB} MiB through USB/IP and compare with the backing file"
	dev_read "$dev" /tmp/read.bin "$MIB" tools_usbip
	same_sum "vhci read" "$(sha_file /tmp/read.bin)" "$sum"
	rm -f /tmp/read.bin

	step "in use: hidden from list -r, second import refused as busy"
	"$OURS" list -r 127.0.0.1 >/tmp/busy.txt 2>/dev/null || die "list -r failed"
	[ ! -s /tmp/busy.txt ] || die "a device in use is listed"
	if "$DEB_USBIP" attach -r 127.0.0.1 -b "$busid" >/tmp/err 2>&1; then
		die "second attach succeeded"
	fi
	cat /tmp/err
	grep -qi 'busy' /tmp/err || die "second attach not refused as busy"
	if "$DEB_USBIP" attach -r 127.0.0.1 -b 99-9 >/tmp/err 2>&1; then
		die "attach of 99-9 succeeded"
	fi
	cat /tmp/err
	grep -qi 'not found' /tmp/err || die "attach of 99-9 not refused as unknown"

	step "Debian's usbip detach; the device becomes available again"
	run "$DEB_USBIP" detach -p "$port"
	wait_for "vhci disk to disappear" 60 sh -c "! test -b $dev"
	wait_for "usbip_status 1" 30 sh -c "[ \"\$(cat /sys/bus/usb/devices/$busid/usbip_status)\" = 1 ]"
	same_listing 127.0.0.1
	grep -q "^ *$busid: " /tmp/ours.txt || die "$busid not listed again after detach"

	step "our usbip unbind -b $busid: back to usb-storage, same data"
	run "$OURS" --debug unbind -b "$busid"
	wait_for "$busid back on the usb driver" 30 sh -c "[ \"\$(basename \"\$(readlink /sys/bus/usb/devices/$busid/driver)\")\" = usb ]"
	wait_for "usb-storage on $busid:1.0" 30 sh -c "[ \"\$(basename \"\$(readlink /sys/bus/usb/devices/$busid:1.0/driver)\")\" = usb-storage ]"
	grep -qw "$busid" /sys/bus/usb/drivers/usbip-host/match_busid && die "$busid still in match_busid"
	wait_disk local_dev 60 disk_of_usb "$busid"
	same_sum "usb-storage read after unbind" "$(sha_dev "$local_dev" "$MIB")" "$sum"
	if "$OURS" unbind -b "$busid" 2>/tmp/err; then die "second unbind succeeded"; fi
	cat /tmp/err
	grep -q 'not bound to usbip-host' /tmp/err || die "no 'not bound' message"
	"$OURS" list -r 127.0.0.1 >/tmp/empty.txt 2>/dev/null || die "list -r failed"
	[ ! -s /tmp/empty.txt ] || die "list -r still shows a device after unbind"

	step "SIGTERM: usbipd exits and removes its pid file"
	run kill "$pid"
	wait_for "usbipd $pid to exit" 30 sh -c "! test -d /proc/$pid"
	[ ! -e /tmp/usbipd.pid ] || die "pid file left behind"
	port_listening 3240 && die "port 3240 still listening"

	step "bind without the usbip-host module, autoloading off: says how to load it"
	run rmmod usbip-host
	if USBIP_NO_AUTOLOAD=1 "$OURS" bind -b "$busid" 2>/tmp/err; then
		die "bind without usbip-host succeeded"
	fi
	cat /tmp/err
	grep -q "modprobe usbip-host" /tmp/err || die "no modprobe hint"
	[ "$(driver_of "$busid")" = usb ] || die "failed bind changed the driver"

	step "bind without the usbip-host module: loads it on demand"
	run "$OURS" bind -b "$busid"
	[ -d /sys/module/usbip_host ] || die "bind did not load usbip-host"
	wait_for "$busid bound to usbip-host" 30 test -e "/sys/bus/usb/drivers/usbip-host/$busid"
	run "$OURS" unbind -b "$busid"
	wait_for "$busid back with its own driver" 30 sh -c "[ \"\$(basename \"\$(readlink /sys/bus/usb/devices/$busid/driver)\")\" = usb ]"
}
