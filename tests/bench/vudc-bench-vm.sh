# SPDX-License-Identifier: GPL-2.0
# @desc: benchmark (not a test of make check): one configfs mass-storage gadget MB/s locally on dummy_hcd, on Debian's usbip-vudc + vhci-hcd, on ours, on one boot
# @kernels: 6.1 6.12
# @vms: 1
# @modules: ours
# @timeout: 1800
# @mem: 2048
#
# Booted by tests/bench/vudc-bench.sh (or "tests/run -v tests/bench/vudc-bench-vm.sh").
# One gadget (READ_MIB of random data in tmpfs) is moved between UDCs and
# measured with O_DIRECT dd, 1 MiB blocks: READ_MIB read, WRITE_MIB written
# (fsync)
#   local   on dummy_udc.0, used by usb-storage through dummy_hcd
#   intree  on Debian's usbip-vudc.0 (insmod by path from
#           kernel/drivers/usb/usbip), imported over ::1 into Debian's vhci-hcd
#   ours    on our usbip-vudc.0 (modprobe, from updates/), into our vhci-hcd
# Debian's "usbipd --device" and "usbip attach" drive both USB/IP runs, so
# only the kernel side differs.  Both module sets are called usbip-core, so
# one set is unloaded completely before the other is loaded.  Every read is
# compared with the backing file and every write read back, so a figure is
# never taken on wrong data.  Figures: METRIC {local,intree,ours}_{read,write}_MBps.

READ_MIB=${READ_MIB:-64}
WRITE_MIB=${WRITE_MIB:-64}
BACKING=/tmp/disk.img
G=/sys/kernel/config/usb_gadget/benchdisk
DEB_USBIP=/usr/sbin/usbip
DEB_USBIPD=/usr/sbin/usbipd

# measure NAME DEV: READ_MIB read and WRITE_MIB write on DEV, both checked.
measure() {
	local name=$1 dev=$2 sum
	sum=$(sha_file "$BACKING")
	dev_read "$dev" /tmp/read.bin "$READ_MIB" "$name"
	same_sum "$name read" "$(sha_file /tmp/read.bin)" "$sum"
	rm -f /tmp/read.bin
	random_file /tmp/write.bin "$WRITE_MIB"
	sum=$(sha_file /tmp/write.bin)
	dev_write "$dev" /tmp/write.bin "$WRITE_MIB" "$name"
	rm -f /tmp/write.bin
	same_sum "$name write read-back" "$(sha_dev "$dev" "$WRITE_MIB")" "$sum"
	same_sum "$name write in the backing file" \
		"$(head -c $((WRITE_MIB * 1024 * 1024)) "$BACKING" | sha256sum | cut -d' ' -f1)" "$sum"
}

# loaded_as MOD ours|debian: the loaded module MOD is ours (taint O) or
# Debian's in-tree one (no O).
loaded_as() {
	local taint
	taint=$(cat "/sys/module/$1/taint")
	case "$2:$taint" in
	ours:*O*|debian:) ;;
	*) die "$1 has taint '$taint', not $2" ;;
	esac
	info "$1 loaded, taint '$taint' ($2)"
}

vudc_status_is() {
	[ "$(cat /sys/devices/platform/usbip-vudc.0/usbip_status)" = "$1" ]
}

# over_vudc NAME: bind the gadget to usbip-vudc.0, export it with Debian's
# usbipd --device, attach it over ::1, measure, detach, unbind the gadget.
over_vudc() {
	local name=$1 dev port
	wait_for "UDC usbip-vudc.0" 30 test -e /sys/class/udc/usbip-vudc.0
	echo usbip-vudc.0 >"$G/UDC"
	wait_for "usbip-vudc.0 available" 30 vudc_status_is 1
	"$DEB_USBIPD" --device -D
	wait_for "usbipd listening on port 3240" 30 port_listening 3240
	run "$DEB_USBIP" attach -r ::1 -b usbip-vudc.0
	wait_disk dev 60 disk_of_vhci
	port=$(vhci_ports_in_use | head -n1)
	info "$name: vhci disk $dev on port $port, $(cat /sys/class/udc/usbip-vudc.0/current_speed)"
	[ "$(cat "/sys/block/${dev#/dev/}/size")" -eq $((READ_MIB * 2048)) ] || die "wrong disk size"
	measure "$name" "$dev"
	run "$DEB_USBIP" detach -p "$port"
	wait_for "vhci disk to disappear" 60 sh -c "! test -b $dev"
	wait_for "usbip-vudc.0 available again" 60 vudc_status_is 1
	usbipd_stop
	echo "" >"$G/UDC"
}

# deb_ko NAME: path of Debian's in-tree module NAME (.ko or .ko.xz).
deb_ko() {
	local f
	for f in "/lib/modules/$KVER/kernel/drivers/usb/usbip/$1".ko*; do
		[ -f "$f" ] && { echo "$f"; return 0; }
	done
	die "no Debian module $1 under /lib/modules/$KVER/kernel/drivers/usb/usbip"
}

vm1() {
	local dev m

	step "a ${READ_MIB} MiB gadget disk on dummy_hcd, usb-storage"
	load_storage
	random_file "$BACKING" "$READ_MIB"
	gadget_storage_create benchdisk "$BACKING"
	at_exit gadget_remove benchdisk
	info "busid $GADGET_BUSID"

	step "local: dummy_hcd + usb-storage"
	wait_disk dev 60 disk_of_usb "$GADGET_BUSID"
	measure local "$dev"
	echo "" >"$G/UDC"
	wait_for "local disk to disappear" 60 sh -c "! test -b $dev"

	step "intree: Debian's usbip-core, vhci-hcd, usbip-vudc by path"
	for m in usbip-core vhci-hcd usbip-vudc; do
		run insmod "$(deb_ko "$m")"
	done
	for m in usbip_core vhci_hcd usbip_vudc; do
		loaded_as "$m" debian
	done
	over_vudc intree
	run rmmod usbip-vudc vhci-hcd usbip-core
	[ ! -d /sys/module/usbip_core ] || die "usbip-core still loaded"

	step "ours: our usbip-core, vhci-hcd, usbip-vudc from updates/"
	run modprobe vhci-hcd
	run modprobe usbip-vudc
	for m in usbip_core vhci_hcd usbip_vudc; do
		loaded_as "$m" ours
	done
	over_vudc ours
	run modprobe -r usbip-vudc vhci-hcd

	step "summary"
	for m in local intree ours; do
		info "$(printf '%-8s read %8s MB/s   write %8s MB/s' "$m" \
			"$(sed -n "s/^${m}_read_MBps=\([0-9.]*\).*/\1/p" /run/vmtest/metrics)" \
			"$(sed -n "s/^${m}_write_MBps=\([0-9.]*\).*/\1/p" /run/vmtest/metrics)")"
	done
}
