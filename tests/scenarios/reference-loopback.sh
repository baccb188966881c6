# SPDX-License-Identifier: GPL-2.0
# @desc: Debian's usbip modules and tools export a dummy_hcd mass-storage gadget over loopback; 64 MiB checksums both ways and MB/s baseline
# @kernels: 6.1
# @suite: extra
# @vms: 1
# @modules: reference
# @timeout: 420
#
# One VM is both server and client.  A configfs mass-storage gadget on
# dummy_hcd, backed by 64 MiB of random data in tmpfs, is first read locally
# (dummy_hcd + usb-storage, the ratio's denominator), then exported with
# usbipd/usbip bind and attached through vhci_hcd over 127.0.0.1.  The vhci
# disk is read whole with O_DIRECT and compared with the backing file, 64 MiB
# of new data are written with O_DIRECT+fsync, read back and compared, and
# the gadget's backing file must hold the new data too.

MIB=64

vm1() {
	local backing=/tmp/disk.img local_dev dev busid port sum_old sum_new local_mbps rd wr

	step "load the modules by hand (no udev): usbip-host, vhci-hcd, usb-storage, sd_mod"
	run modprobe usbip-host
	run modprobe vhci-hcd
	load_storage
	info "usbip-core: $(modinfo -n usbip-core)"

	step "create a ${MIB} MiB random backing file and a mass-storage gadget on dummy_hcd"
	gadget_disk usbipdisk "$backing" "$MIB"
	sum_old=$(sha_file "$backing")
	busid=$GADGET_BUSID
	info "gadget busid on the dummy_hcd side: $busid, backing sha256 $sum_old"

	step "read the gadget disk locally (dummy_hcd + usb-storage) as the reference speed"
	wait_disk local_dev 60 disk_of_usb "$busid"
	info "local disk: $local_dev"
	dev_read "$local_dev" /tmp/local.bin "$MIB" local
	local_mbps=$LAST_MBPS
	same_sum "local read" "$(sha_file /tmp/local.bin)" "$sum_old"
	rm -f /tmp/local.bin

	step "export the gadget: usbipd -D, usbip bind -b $busid"
	usbip_export "$busid"
	local listing
	listing=$("$USBIP" list -r 127.0.0.1)
	echo "$listing"
	echo "$listing" | grep -q "$busid" || die "usbip list -r does not show $busid"

	step "attach it through vhci_hcd: usbip attach -r 127.0.0.1 -b $busid"
	run "$USBIP" attach -r 127.0.0.1 -b "$busid"
	wait_disk dev 60 disk_of_vhci
	"$USBIP" port
	port=$(vhci_ports_in_use | head -n1)
	[ -n "$port" ] || die "usbip port lists no port"
	at_exit "$USBIP" detach -p "$port"
	info "vhci disk: $dev ($(cat "/sys/block/${dev#/dev/}/size") sectors), vhci port $port"
	[ "$(cat "/sys/block/${dev#/dev/}/size")" -eq $((MIB * 2048)) ] || die "vhci disk has the wrong size"

	step "read all ${MIB} MiB through USB/IP with O_DIRECT and compare"
	dev_read "$dev" /tmp/read.bin "$MIB" usbip
	rd=$LAST_MBPS
	same_sum "usbip read" "$(sha_file /tmp/read.bin)" "$sum_old"
	rm -f /tmp/read.bin

	step "write ${MIB} MiB of new random data through USB/IP (O_DIRECT + fsync), read back"
	random_file /tmp/new.bin "$MIB"
	sum_new=$(sha_file /tmp/new.bin)
	[ "$sum_new" != "$sum_old" ] || die "new data equals old data"
	dev_write "$dev" /tmp/new.bin "$MIB" usbip
	wr=$LAST_MBPS
	rm -f /tmp/new.bin
	same_sum "usbip read-back" "$(sha_dev "$dev" "$MIB")" "$sum_new"
	same_sum "gadget backing file" "$(sha_file "$backing")" "$sum_new"

	step "detach port $port and check the disk goes away"
	run "$USBIP" detach -p "$port"
	wait_for "vhci disk to disappear" 60 sh -c "! test -b $dev"
	wait_for "vhci port $port free" 30 sh -c "! $USBIP port 2>/dev/null | grep -q '^Port 0*$port:'"
	run "$USBIP" unbind -b "$busid"

	metric usbip_over_local_read_ratio "$(awk -v a="$rd" -v b="$local_mbps" 'BEGIN { printf "%.3f", a / b }')" x
	info "baseline: usbip read $rd MB/s, usbip write $wr MB/s, local read $local_mbps MB/s"
}
