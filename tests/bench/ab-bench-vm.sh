# SPDX-License-Identifier: GPL-2.0
# @desc: benchmark (not a test of make check): two builds of our modules, A and B, loaded alternately in one boot on the same gadget disk, MB/s and URB round trips per second through usbip-host and through usbip-vudc
# @kernels: 6.1 6.12
# @vms: 1
# @modules: reference
# @timeout: 3600
# @mem: 2048
#
# Booted by tests/bench/ab-bench.sh, which puts the two module sets in the
# run directory (/run/vmtest/A, /run/vmtest/B) and sets ROUNDS, READ_MIB,
# WRITE_MIB and RTT_COUNT in a copy of this file.  One gadget disk (READ_MIB
# of random data in tmpfs) serves every measurement.  Round r loads A then B
# when r is odd, B then A when r is even, so that a slow drift of the host
# does not favour one set.  One load of a set (insmod by path, nothing from
# updates/):
#   stub   the gadget on dummy_udc.0, exported by usbip-host with Debian's
#          usbipd, attached over 127.0.0.1 into vhci-hcd with Debian's usbip
#   vudc   the same gadget moved to usbip-vudc.0, exported with Debian's
#          usbipd --device, attached over ::1
# Each path measures O_DIRECT dd with 1 MiB blocks (READ_MIB read and
# compared with the backing file, WRITE_MIB written, read back and found in
# the backing file) and RTT_COUNT GET_STATUS control transfers through
# usbfs, one at a time: each is one URB's round trip through vhci-hcd, the
# socket and the server.  Figures: METRIC
# {A,B}_{stub,vudc}_rR_{read_MBps,write_MBps,rtt_per_s}.

ROUNDS=${ROUNDS:-3}
READ_MIB=${READ_MIB:-64}
WRITE_MIB=${WRITE_MIB:-32}
RTT_COUNT=${RTT_COUNT:-2000}
# shellcheck disable=SC2034  # read by bench_measure (tests/guest/lib.sh)
BACKING=/tmp/disk.img
G=$GADGET_ROOT/abdisk
DEB_USBIP=/usr/sbin/usbip
DEB_USBIPD=/usr/sbin/usbipd

# ab_load SET: insmod SET's usbip-core, usbip-host, vhci-hcd, usbip-vudc by
# path; each must be out of tree (ours) and come from SET.
ab_load() {
	local m
	for m in usbip-core usbip-host vhci-hcd usbip-vudc; do
		run insmod "/run/vmtest/$1/$m.ko"
		module_loaded_as "${m//-/_}" ours
	done
}

ab_unload() {
	run rmmod usbip-vudc vhci-hcd usbip-host usbip-core
	[ ! -d /sys/module/usbip_core ] || die "usbip-core still loaded"
}

# ab_rtt NAME BUSID: RTT_COUNT GET_STATUS requests to the vhci device BUSID
# through usbfs, one at a time; metric NAME_rtt_per_s.
ab_rtt() {
	local name=$1 d=/sys/bus/usb/devices/$2 node rate
	node=$(printf '/dev/bus/usb/%03d/%03d' "$(cat "$d/busnum")" "$(cat "$d/devnum")")
	[ -c "$node" ] || die "no usbfs node $node for $2"
	rate=$(python3 - "$node" "$RTT_COUNT" <<-'PY'
	import fcntl, struct, sys, time, ctypes
	node, n = sys.argv[1], int(sys.argv[2])
	buf = ctypes.create_string_buffer(2)
	# struct usbdevfs_ctrltransfer: u8 bRequestType, u8 bRequest,
	# u16 wValue, u16 wIndex, u16 wLength, u32 timeout (ms), void *data
	req = struct.pack("=BBHHHI4xQ", 0x80, 0, 0, 0, 2, 5000, ctypes.addressof(buf))
	USBDEVFS_CONTROL = (3 << 30) | (len(req) << 16) | (ord("U") << 8) | 0
	with open(node, "rb+", buffering=0) as f:
	    t0 = time.monotonic()
	    for _ in range(n):
	        got = fcntl.ioctl(f, USBDEVFS_CONTROL, req)
	        if struct.unpack("=BBHHHI4xQ", got)[4] != 2:
	            sys.exit("GET_STATUS: wLength changed")
	    dt = time.monotonic() - t0
	print("%.1f" % (n / dt))
	PY
	) || die "$name: GET_STATUS round trips through $node failed"
	metric "${name}_rtt_per_s" "$rate" 1/s
}

# ab_stub SET ROUND: the stub path (see the header).
ab_stub() {
	local name=$1_stub busid dev port vbus
	echo dummy_udc.0 >"$G/UDC"
	wait_for "gadget on dummy_hcd" 30 prints dummy_hcd_busid abdisk
	busid=$(dummy_hcd_busid abdisk)
	"$DEB_USBIPD" -D
	wait_for "usbipd listening on port 3240" 30 port_listening 3240
	run "$DEB_USBIP" bind -b "$busid"
	run "$DEB_USBIP" attach -r 127.0.0.1 -b "$busid"
	wait_disk dev 60 disk_of_vhci
	port=$(vhci_ports_in_use | head -n1)
	vbus=$(vhci_busids | head -n1)
	info "$name round $2: vhci disk $dev on port $port ($vbus)"
	bench_measure "${name}_r$2" "$dev"
	ab_rtt "${name}_r$2" "$vbus"
	run "$DEB_USBIP" detach -p "$port"
	wait_for "vhci disk to disappear" 60 sh -c "! test -b $dev"
	run "$DEB_USBIP" unbind -b "$busid"
	usbipd_stop
	echo "" >"$G/UDC"
}

vudc_status_is() {
	[ "$(cat /sys/devices/platform/usbip-vudc.0/usbip_status)" = "$1" ]
}

# ab_vudc SET ROUND: the vudc path (see the header).
ab_vudc() {
	local name=$1_vudc dev port vbus
	wait_for "UDC usbip-vudc.0" 30 test -e /sys/class/udc/usbip-vudc.0
	echo usbip-vudc.0 >"$G/UDC"
	wait_for "usbip-vudc.0 available" 30 vudc_status_is 1
	"$DEB_USBIPD" --device -D
	wait_for "usbipd listening on port 3240" 30 port_listening 3240
	run "$DEB_USBIP" attach -r ::1 -b usbip-vudc.0
	wait_disk dev 60 disk_of_vhci
	port=$(vhci_ports_in_use | head -n1)
	vbus=$(vhci_busids | head -n1)
	info "$name round $2: vhci disk $dev on port $port ($vbus)"
	bench_measure "${name}_r$2" "$dev"
	ab_rtt "${name}_r$2" "$vbus"
	run "$DEB_USBIP" detach -p "$port"
	wait_for "vhci disk to disappear" 60 sh -c "! test -b $dev"
	wait_for "usbip-vudc.0 available again" 60 vudc_status_is 1
	usbipd_stop
	echo "" >"$G/UDC"
}

vm1() {
	local r set
	step "a ${READ_MIB} MiB gadget disk, unbound"
	load_storage
	modprobe dummy_hcd
	modprobe udc-core
	random_file "$BACKING" "$READ_MIB"
	gadget_storage_create abdisk "$BACKING"
	at_exit gadget_remove abdisk
	echo "" >"$G/UDC"
	for r in $(seq "$ROUNDS"); do
		for set in A B; do
			[ $((r % 2)) = 1 ] || set=$([ "$set" = A ] && echo B || echo A)
			step "round $r of $ROUNDS: set $set"
			ab_load "$set"
			ab_stub "$set" "$r"
			ab_vudc "$set" "$r"
			ab_unload
		done
	done
}
