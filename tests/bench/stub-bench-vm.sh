# SPDX-License-Identifier: GPL-2.0
# @desc: benchmark (not a test of make check): dummy_hcd mass-storage gadget MB/s locally, through Debian's usbip-host + vhci-hcd, through ours, on one boot
# @kernels: 6.1 6.12
# @vms: 1
# @modules: ours
# @timeout: 1800
# @mem: 2048
#
# Booted by tests/bench/stub-bench.sh (or "tests/run -v tests/bench/stub-bench-vm.sh").
# One gadget disk (READ_MIB of random data in tmpfs) on dummy_hcd is measured
# with O_DIRECT dd, 1 MiB blocks: READ_MIB read, WRITE_MIB written (fsync)
#   local      dummy_hcd + usb-storage
#   reference  Debian's usbip-core/usbip-host/vhci-hcd (insmod by path from
#              kernel/drivers/usb/usbip), exported and attached over 127.0.0.1
#   ours       our modules (modprobe, from updates/), same way
# Debian's usbipd/usbip drive both USB/IP runs, so only the kernel side
# differs.  Both module sets are called usbip-core, so one set is unloaded
# completely before the other is loaded.  Every read is compared with the
# backing file and every write read back, so a figure is never taken on
# wrong data.  Figures: METRIC {local,reference,ours}_{read,write}_MBps.

READ_MIB=${READ_MIB:-200}
WRITE_MIB=${WRITE_MIB:-64}
BACKING=/tmp/disk.img
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

# loaded_as MOD ours|debian: the loaded module MOD is ours (out of tree,
# taint flag O) or Debian's in-tree one (no O).
loaded_as() {
	local taint
	taint=$(cat "/sys/module/$1/taint")
	case "$2:$taint" in
	ours:*O*|debian:) ;;
	debian:*O*) die "$1 is an out-of-tree module, not Debian's" ;;
	ours:*) die "$1 is not out of tree (taint '$taint'), not ours" ;;
	*) die "$1 has taint '$taint'" ;;
	esac
	info "$1 loaded, taint '$taint' ($2)"
}

# over_usbip NAME: export the gadget with Debian's tools, attach it over
# 127.0.0.1, measure, detach, unbind.
over_usbip() {
	local name=$1 busid=$GADGET_BUSID dev port
	"$DEB_USBIPD" -D
	wait_for "usbipd listening on port 3240" 30 port_listening 3240
	run "$DEB_USBIP" bind -b "$busid"
	run "$DEB_USBIP" attach -r 127.0.0.1 -b "$busid"
	wait_disk dev 60 disk_of_vhci
	port=$(vhci_ports_in_use | head -n1)
	info "$name: vhci disk $dev on port $port"
	[ "$(cat "/sys/block/${dev#/dev/}/size")" -eq $((READ_MIB * 2048)) ] || die "wrong disk size"
	measure "$name" "$dev"
	run "$DEB_USBIP" detach -p "$port"
	wait_for "vhci disk to disappear" 60 sh -c "! test -b $dev"
	wait_for "vhci port $port free" 30 sh -c "! $DEB_USBIP port 2>/dev/null | grep -q '^Port 0*$port:'"
	run "$DEB_USBIP" unbind -b "$busid"
	usbipd_stop
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

	step "reference: Debian's usbip-core, usbip-host, vhci-hcd by path"
	for m in usbip-core usbip-host vhci-hcd; do
		run insmod "$(deb_ko "$m")"
	done
	for m in usbip_core usbip_host vhci_hcd; do
		loaded_as "$m" debian
	done
	over_usbip reference
	run rmmod vhci-hcd usbip-host usbip-core
	[ ! -d /sys/module/usbip_core ] || die "usbip-core still loaded"

	step "ours: our usbip-core, usbip-host, vhci-hcd from updates/"
	run modprobe usbip-host
	run modprobe vhci-hcd
	for m in usbip_core usbip_host vhci_hcd; do
		loaded_as "$m" ours
	done
	case "$(modinfo -n usbip-core)" in */updates/*) ;; *) die "usbip-core is not ours" ;; esac
	over_usbip ours
	run modprobe -r vhci-hcd usbip-host

	step "summary"
	for m in local reference ours; do
		info "$(printf '%-10s read %8s MB/s   write %8s MB/s' "$m" \
			"$(sed -n "s/^${m}_read_MBps=\([0-9.]*\).*/\1/p" /run/vmtest/metrics)" \
			"$(sed -n "s/^${m}_write_MBps=\([0-9.]*\).*/\1/p" /run/vmtest/metrics)")"
	done
}
