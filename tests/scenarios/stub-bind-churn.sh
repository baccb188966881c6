# SPDX-License-Identifier: GPL-2.0
# @desc: 30 rounds of our usbip bind/unbind on a dummy_hcd mass-storage gadget claimed by usb-storage; driver links and usbip_status each round, then the disk reads back intact through usb-storage
# @kernels: 6.1
# @vms: 1
# @modules: ours
# @timeout: 1200
#
# A configfs mass-storage gadget on dummy_hcd, backed by 16 MiB of random
# data, is first read through usb-storage.  Then, ROUNDS times: our "usbip bind"
# (the device's driver link must point at usbip-host, usbip_status read 1,
# match_busid list the device, no interface driver left), our "usbip unbind"
# (the driver goes back to "usb", usbip_status disappears, match_busid is
# empty, usb-storage claims the interface again).  Rounds do not wait for the
# SCSI disk to come up, so bind also races usb-storage's probe and scan.
# Afterwards the disk must appear again and read back identical to the
# backing file; the usbip-host module must unload.
#
# A round takes about 1.6 s under TCG (usb-storage probes the interface
# again each time).  Every round makes the same checks and meets
# usb-storage's probe at a point of its own; 30 rounds keep both, in a
# third of the time of the 100 this test first had
# (VMTEST_ENV="STUB_BIND_CHURN_ROUNDS=100" runs those).

MIB=16
ROUNDS=${STUB_BIND_CHURN_ROUNDS:-30}

driver_of() {
	basename "$(readlink "/sys/bus/usb/devices/$1/driver" 2>/dev/null)" 2>/dev/null
}

driver_is() {
	[ "$(driver_of "$1")" = "$2" ]
}

vm1() {
	local backing=/tmp/disk.img busid dev sum i t0 t1 match
	local ours=$REPO/build/tools/src/usbip

	[ -x "$ours" ] || die "our tools are not built (make tools)"

	step "our usbip-host, usb-storage, a ${MIB} MiB gadget disk on dummy_hcd"
	run modprobe usbip-host
	info "usbip-host: $(modinfo -n usbip-host)"
	load_storage
	random_file "$backing" "$MIB"
	sum=$(sha_file "$backing")
	gadget_storage_create churndisk "$backing"
	at_exit gadget_remove churndisk
	busid=$GADGET_BUSID
	wait_disk dev 60 disk_of_usb "$busid"
	same_sum "local read before the churn" "$(sha_dev "$dev" "$MIB")" "$sum"
	info "busid $busid, disk $dev, driver $(driver_of "$busid"), interface driver $(driver_of "$busid:1.0")"
	driver_is "$busid" usb || die "device driver is $(driver_of "$busid"), not usb"
	driver_is "$busid:1.0" usb-storage || die "interface driver is not usb-storage"

	step "$ROUNDS rounds of usbip bind -b $busid / usbip unbind -b $busid"
	at_exit "$ours" unbind -b "$busid"
	t0=$(now_ns)
	for ((i = 1; i <= ROUNDS; i++)); do
		"$ours" bind -b "$busid" >/tmp/bind.out 2>&1 ||
			die "round $i: bind failed: $(cat /tmp/bind.out)"
		driver_is "$busid" usbip-host || die "round $i: driver after bind is '$(driver_of "$busid")'"
		[ "$(cat "/sys/bus/usb/devices/$busid/usbip_status")" = 1 ] ||
			die "round $i: usbip_status is '$(cat "/sys/bus/usb/devices/$busid/usbip_status")'"
		match=$(cat /sys/bus/usb/drivers/usbip-host/match_busid)
		[ "$match" = "$busid" ] || die "round $i: match_busid is '$match'"
		[ -z "$(driver_of "$busid:1.0")" ] ||
			die "round $i: interface still bound to $(driver_of "$busid:1.0")"
		"$ours" unbind -b "$busid" >/tmp/unbind.out 2>&1 ||
			die "round $i: unbind failed: $(cat /tmp/unbind.out)"
		driver_is "$busid" usb || die "round $i: driver after unbind is '$(driver_of "$busid")'"
		[ ! -e "/sys/bus/usb/devices/$busid/usbip_status" ] ||
			die "round $i: usbip_status still there after unbind"
		match=$(cat /sys/bus/usb/drivers/usbip-host/match_busid)
		[ -z "$match" ] || die "round $i: match_busid is '$match' after unbind"
		wait_for "round $i: usb-storage on $busid:1.0" 30 driver_is "$busid:1.0" usb-storage
		if [ $((i % 10)) -eq 0 ]; then
			info "round $i done"
		fi
	done
	t1=$(now_ns)
	metric bind_unbind_round_ms "$(awk -v ns=$((t1 - t0)) -v n="$ROUNDS" 'BEGIN { printf "%.1f", ns / 1e6 / n }')" ms

	step "the disk comes back through usb-storage and reads back intact"
	wait_disk dev 60 disk_of_usb "$busid"
	[ "$(cat "/sys/block/${dev#/dev/}/size")" -eq $((MIB * 2048)) ] || die "disk has the wrong size"
	same_sum "local read after $ROUNDS rounds" "$(sha_dev "$dev" "$MIB")" "$sum"
	info "disk $dev, interface driver $(driver_of "$busid:1.0")"

	step "usbip-host unloads"
	run modprobe -r usbip-host
	[ ! -d /sys/bus/usb/drivers/usbip-host ] || die "usbip-host driver still registered"
	driver_is "$busid:1.0" usb-storage || die "usb-storage lost the interface on unload"
}
