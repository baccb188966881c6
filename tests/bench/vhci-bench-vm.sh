# SPDX-License-Identifier: GPL-2.0
# @desc: benchmark (not a test of make check): Debian's vhci-hcd vs ours against one Debian usbip-host server, same boot: O_DIRECT MB/s and control URB round trips per second
# @kernels: 6.1 6.12
# @vms: 2
# @modules: reference ours
# @timeout: 2400
# @mem: 2048
#
# Booted by tests/bench/vhci-bench.sh.  vm1 (server): Debian's usbip-host
# and usbipd export a mass-storage gadget on dummy_hcd backed by READ_MIB
# of random data.  vm2 (client) attaches it with Debian's usbip twice on
# one boot: first through Debian's usbip-core + vhci-hcd (insmod by path
# from kernel/drivers/usb/usbip), then, after unloading them, through ours
# (modprobe, from updates/); the two module sets share their names, so
# only one is loaded at a time.  Each time it measures
#   read   READ_MIB read with O_DIRECT dd, 1 MiB blocks, checked by sha256
#   write  WRITE_MIB of the same data written back with O_DIRECT + fsync,
#          read back and checked (the disk keeps its content for the next)
#   urb    URB_N synchronous GET_DESCRIPTOR(device) control transfers
#          through usbfs (USBDEVFS_CONTROL), each reply checked
# Figures: METRIC {intree,ours}_{read,write}_MBps, {intree,ours}_urb_per_s.

READ_MIB=64
WRITE_MIB=64
URB_N=2000
READY_PORT=5131    # server -> client: "busid=B sha=S"
DONE_PORT=5132     # client -> server: "rc=N"

vm1() {
	local backing=/tmp/disk.img busid msg

	step "server: Debian's usbip-host, a ${READ_MIB} MiB gadget disk on dummy_hcd, usbipd"
	run modprobe usbip-host
	gadget_disk_export benchdisk "$backing" "$READ_MIB"
	busid=$GADGET_BUSID
	msg_send "$PEER_ADDR" "$READY_PORT" 240 "busid=$busid sha=$(sha_file "$backing")" ||
		die "client never listened"
	step "server: wait for the client"
	msg=$(msg_wait "$DONE_PORT" 2200) || die "no report from the client"
	[ "$msg" = "rc=0" ] || die "client failed: $msg"
}

# measure NAME BUSID SHA: attach, the three figures, detach.
measure() {
	local name=$1 busid=$2 sum=$3 dev port udev
	run "$USBIP" attach -r "$PEER_ADDR" -b "$busid"
	wait_disk dev 120 disk_of_vhci
	port=$(vhci_ports_in_use | head -n1)
	udev=$(vhci_busids | head -n1)
	info "$name: $dev, port $port, usb device $udev"
	[ "$(cat "/sys/block/${dev#/dev/}/size")" -eq $((READ_MIB * 2048)) ] || die "wrong disk size"

	dev_read "$dev" /tmp/read.bin "$READ_MIB" "$name"
	same_sum "$name O_DIRECT read" "$(sha_file /tmp/read.bin)" "$sum"
	dev_write "$dev" /tmp/read.bin "$WRITE_MIB" "$name"
	same_sum "$name O_DIRECT write read-back" "$(sha_dev "$dev" "$READ_MIB")" "$sum"
	rm -f /tmp/read.bin
	bench_urb_rate "$name" "$udev" "$URB_N"

	run "$USBIP" detach -p "$port"
	wait_for "$name: disk to disappear" 60 sh -c "! test -b $dev"
	wait_for "$name: port $port free" 60 sh -c "! $USBIP port 2>/dev/null | grep -q '^Port 0*$port:'"
}

vm2() {
	local msg busid sum m
	rc=1
	report() {
		msg_send "$PEER_ADDR" "$DONE_PORT" 60 "rc=$rc" || true
	}
	at_exit report
	load_storage
	msg=$(msg_wait "$READY_PORT" 300) || die "no ready message from the server"
	busid=$(echo "$msg" | sed -n 's/.*busid=\([^ ]*\).*/\1/p')
	sum=$(echo "$msg" | sed -n 's/.*sha=\([0-9a-f]*\).*/\1/p')
	wait_for "$busid listed by the server" 120 sh -c "$USBIP list -r $PEER_ADDR | grep -q '$busid:'"

	step "in-tree: Debian's usbip-core and vhci-hcd by path"
	run modprobe usbcore
	run insmod "$(deb_ko usbip-core)"
	run insmod "$(deb_ko vhci-hcd)"
	[[ $(cat /sys/module/vhci_hcd/taint) != *O* ]] || die "vhci_hcd is not Debian's"
	measure intree "$busid" "$sum"
	run rmmod vhci-hcd usbip-core

	step "ours: our usbip-core and vhci-hcd from updates/"
	run modprobe vhci-hcd
	[[ $(cat /sys/module/vhci_hcd/taint) == *O* ]] || die "vhci_hcd is not ours"
	wait_for "$busid exported again" 60 sh -c "$USBIP list -r $PEER_ADDR | grep -q '$busid:'"
	measure ours "$busid" "$sum"
	run modprobe -r vhci-hcd

	step "summary"
	for m in intree ours; do
		info "$(printf '%-7s read %8s MB/s   write %8s MB/s   %8s URB/s' "$m" \
			"$(metric_of "${m}_read_MBps")" \
			"$(metric_of "${m}_write_MBps")" \
			"$(metric_of "${m}_urb_per_s")")"
	done
	rc=0
}
