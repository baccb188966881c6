# SPDX-License-Identifier: GPL-2.0
# @desc: our usbip-host exports QEMU usb-storage disks to Debian's vhci-hcd and usbip: 16 MiB on qemu-xhci (scatter-gather URBs) and 4 MiB on piix3-usb-uhci with use_sg=N (split URBs); read, write, detach, re-attach, read back, sha256 each time
# @kernels: 6.1
# @vms: 2
# @modules: ours reference
# @timeout: 1200
#
# vm1 (server, our modules, Debian's usbipd) has two emulated disks with
# random contents whose checksums the host computed.  Each one in turn is
# bound to usbip-host and attached by vm2 (Debian's vhci-hcd and usbip),
# which reads it whole and compares, writes new random data, detaches,
# attaches again, reads the new data back and compares, and detaches.
# The server then unbinds the device, lets usb-storage take it back and
# checks the new data locally.  The UHCI disk is served with
# usbip-host's use_sg=N, so every bulk transfer above 16 KiB is split into
# pieces submitted one after the other.
#
# Sizes: each disk is read, written and read back whole with O_DIRECT in
# 1 MiB requests, and every MiB goes through the same usb-storage commands
# as the one before, at about 4 MB/s (xHCI) and 0.7 MB/s (full-speed
# UHCI) under TCG.  16 and 4 MiB keep every kind of transfer (scatter-gather
# lists, split transfers) in a quarter and a half of the time; the sizes
# this test first had are
# VMTEST_ENV="STUB_QEMU_USB_XHCI_MIB=64 STUB_QEMU_USB_UHCI_MIB=8".

XHCI_MIB=${STUB_QEMU_USB_XHCI_MIB:-16}
UHCI_MIB=${STUB_QEMU_USB_UHCI_MIB:-4}

host_prepare() {
	vm_usb_controller 1 xhci
	vm_usb_storage_image 1 xdisk "$XHCI_MIB" xhci.0
	vm_usb_controller 1 uhci
	vm_usb_storage_image 1 udisk "$UHCI_MIB" uhci.0
}

status_is() {
	[ "$(cat "/sys/bus/usb/devices/$1/usbip_status")" = "$2" ]
}

# serve NAME MIB USE_SG: export one emulated disk and check it afterwards.
serve() {
	local name=$1 mib=$2 use_sg=$3 busid dev msg sum_new

	step "server: export the $name disk (${mib} MiB, use_sg=$use_sg)"
	wait_for "$name on the USB bus" 60 qemu_usb_busid 46f4:0001 "$name"
	busid=$(qemu_usb_busid 46f4:0001 "$name")
	wait_disk dev 60 disk_of_usb "$busid"
	same_sum "$name local read before export" "$(sha_dev "$dev" "$mib")" "$(qemu_image_sha "$name")"
	echo "$use_sg" >/sys/module/usbip_host/parameters/use_sg
	run "$USBIP" bind -b "$busid"
	wait_for "$busid bound to usbip-host" 30 test -e "/sys/bus/usb/drivers/usbip-host/$busid"
	wait_for "local disk $dev to go away" 30 sh -c "! test -b $dev"
	status_is "$busid" 1 || die "usbip_status is not 1 after bind"
	run msg_send "$CLIENT_ADDR" "$MSG_PORT" 120 "ready $busid $(qemu_image_sha "$name") $mib"

	msg=$(msg_wait "$MSG_PORT" 900) || die "no word from the client"
	case "$msg" in done\ *) sum_new=${msg#done } ;; *) die "client says: $msg" ;; esac
	wait_for "usbip_status 1 after detach" 30 status_is "$busid" 1

	step "server: unbind $busid, check the client's data locally"
	run "$USBIP" unbind -b "$busid"
	wait_for "$busid unbound" 30 sh -c "! test -e /sys/bus/usb/drivers/usbip-host/$busid"
	wait_disk dev 60 disk_of_usb "$busid"
	same_sum "$name local read after the client wrote" "$(sha_dev "$dev" "$mib")" "$sum_new"
}

vm1() {
	step "server: host controllers, usb-storage, our usbip-host, usbipd"
	qemu_usb_prepare
	load_storage
	run modprobe usbip-host
	usbip_export
	serve xdisk "$XHCI_MIB" Y
	serve udisk "$UHCI_MIB" N
	run msg_send "$CLIENT_ADDR" "$MSG_PORT" 120 end
}

# use_disk BUSID SHA MIB: one attach / read / write / read-back / detach.
use_disk() {
	local busid=$1 sum_old=$2 mib=$3 dev port sum_new

	step "client: attach $busid, read ${mib} MiB"
	run "$USBIP" attach -r "$SERVER_ADDR" -b "$busid"
	wait_disk dev 60 disk_of_vhci
	port=$(vhci_ports_in_use | head -n1)
	at_exit "$USBIP" detach -p "$port"
	[ "$(cat "/sys/block/${dev#/dev/}/size")" -eq $((mib * 2048)) ] || die "wrong disk size"
	dev_read "$dev" /tmp/read.bin "$mib" "stub_${busid//-/_}"
	same_sum "read of $busid" "$(sha_file /tmp/read.bin)" "$sum_old"
	rm -f /tmp/read.bin

	step "client: write ${mib} MiB to $busid, detach"
	random_file /tmp/new.bin "$mib"
	sum_new=$(sha_file /tmp/new.bin)
	dev_write "$dev" /tmp/new.bin "$mib" "stub_${busid//-/_}"
	rm -f /tmp/new.bin
	run "$USBIP" detach -p "$port"
	wait_for "vhci disk to disappear" 60 sh -c "! test -b $dev"
	wait_for "vhci port $port free" 30 sh -c "! $USBIP port 2>/dev/null | grep -q '^Port 0*$port:'"

	step "client: attach $busid again, read back what was written, detach"
	run "$USBIP" attach -r "$SERVER_ADDR" -b "$busid"
	wait_disk dev 60 disk_of_vhci
	port=$(vhci_ports_in_use | head -n1)
	same_sum "read of $busid after re-attach" "$(sha_dev "$dev" "$mib")" "$sum_new"
	run "$USBIP" detach -p "$port"
	wait_for "vhci disk to disappear" 60 sh -c "! test -b $dev"
	run msg_send "$SERVER_ADDR" "$MSG_PORT" 60 "done $sum_new"
}

vm2() {
	local msg busid sum mib

	step "client: Debian's vhci-hcd and usb-storage"
	run modprobe vhci-hcd
	load_storage
	for _ in 1 2 3; do
		msg=$(msg_wait "$MSG_PORT" 900) || die "no word from the server"
		[ "$msg" != end ] || return 0
		read -r _ busid sum mib <<<"$msg"
		use_disk "$busid" "$sum" "$mib"
	done
	die "server did not say end"
}
