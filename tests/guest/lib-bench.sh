# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# tests/guest/lib-bench.sh - benchmarks (tests/bench/*-vm.sh).
#
# Sourced by tests/guest/lib.sh (scenarios source lib.sh only).

# metric_of NAME: the value this boot recorded for metric NAME.
metric_of() {
	sed -n "s/^$1=\([0-9.]*\).*/\1/p" /run/vmtest/metrics
}

# deb_ko NAME: path of Debian's in-tree module NAME (.ko or .ko.xz).
deb_ko() {
	local f
	for f in "/lib/modules/$KVER/kernel/drivers/usb/usbip/$1".ko*; do
		[ -f "$f" ] && { echo "$f"; return 0; }
	done
	die "no Debian module $1 under /lib/modules/$KVER/kernel/drivers/usb/usbip"
}

# module_loaded_as MOD ours|debian: the loaded module MOD is ours (out of
# tree, taint flag O) or Debian's in-tree one (no O).
module_loaded_as() {
	local taint
	taint=$(cat "/sys/module/$1/taint")
	case "$2:$taint" in
	ours:*O*|debian:) ;;
	debian:*O*) die "$1 is an out-of-tree module, not Debian's" ;;
	ours:*) die "$1 is not out of tree (taint '$taint'), not ours" ;;
	*) die "$1 has taint '$taint', not $2" ;;
	esac
	info "$1 loaded, taint '$taint' ($2)"
}

# bench_measure NAME DEV: READ_MIB MiB read from DEV (a disk backed by the
# file BACKING) compared with BACKING, then WRITE_MIB MiB of new data
# written, read back and found in BACKING; metrics NAME_{read,write}_MBps.
bench_measure() {
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

# deb_modules_load MOD...: insmod of each of Debian's in-tree MOD by path
# (deb_ko), in order; then each must be loaded as Debian's.
deb_modules_load() {
	local m
	for m in "$@"; do
		run insmod "$(deb_ko "$m")"
	done
	for m in "$@"; do
		module_loaded_as "${m//-/_}" debian
	done
}

# ours_modules_load MOD...: modprobe of each MOD (ours, from updates/), in
# order; then usbip_core and each must be loaded as ours.
ours_modules_load() {
	local m
	for m in "$@"; do
		run modprobe "$m"
	done
	for m in usbip-core "$@"; do
		module_loaded_as "${m//-/_}" ours
	done
}

# bench_summary MODE...: read and write MB/s recorded for each MODE.
bench_summary() {
	local m
	for m in "$@"; do
		info "$(printf '%-10s read %8s MB/s   write %8s MB/s' "$m" \
			"$(metric_of "${m}_read_MBps")" "$(metric_of "${m}_write_MBps")")"
	done
}

# bench_local: the gadget disk "benchdisk" on dummy_udc.0 (gadget_storage_create),
# backed by BACKING filled with READ_MIB MiB of random data, measured as
# "local" through usb-storage (bench_measure).  Sets BENCH_DEV to its disk.
bench_local() {
	step "a ${READ_MIB} MiB gadget disk on dummy_hcd, usb-storage"
	load_storage
	random_file "$BACKING" "$READ_MIB"
	gadget_storage_create benchdisk "$BACKING"
	at_exit gadget_remove benchdisk
	info "busid $GADGET_BUSID"

	step "local: dummy_hcd + usb-storage"
	wait_disk BENCH_DEV 60 disk_of_usb "$GADGET_BUSID"
	bench_measure local "$BENCH_DEV"
}

# Debian's usbipd and usbip drive every USB/IP run of a benchmark, so that
# only the kernel side differs between the runs compared.
DEB_USBIP=/usr/sbin/usbip
DEB_USBIPD=/usr/sbin/usbipd

# bench_urb_rate NAME USB_BUSID N: N synchronous GET_DESCRIPTOR(device)
# control transfers to USB device USB_BUSID through usbfs
# (USBDEVFS_CONTROL), one at a time, each reply compared with the first:
# each is one URB's round trip through the whole path.  Metric
# NAME_urb_per_s.
bench_urb_rate() {
	local name=$1 d=/sys/bus/usb/devices/$2 n=$3 bus dev node out
	bus=$(cat "$d/busnum") dev=$(cat "$d/devnum")
	node=$(printf '/dev/bus/usb/%03d/%03d' "$bus" "$dev")
	if [ ! -e "$node" ]; then	# no devtmpfs node: usbfs minors are (bus-1)*128 + dev-1
		mkdir -p "${node%/*}"
		mknod "$node" c 189 $(((bus - 1) * 128 + dev - 1))
	fi
	out=$(python3 - "$node" "$n" <<-'PY'
	import ctypes, fcntl, struct, sys, time
	node, n = sys.argv[1], int(sys.argv[2])
	USBDEVFS_CONTROL = 0xC0185500       # _IOWR('U', 0, struct usbdevfs_ctrltransfer), 24 bytes
	buf = ctypes.create_string_buffer(18)
	req = bytearray(struct.pack("<BBHHHI4xQ", 0x80, 6, 0x0100, 0, 18, 5000, ctypes.addressof(buf)))
	fd = open(node, "rb+", buffering=0)
	ref = None
	t0 = time.monotonic()
	for i in range(n):
	    r = fcntl.ioctl(fd, USBDEVFS_CONTROL, req, True)   # mutable: returns the ioctl's value
	    if r != 18:
	        sys.exit("short descriptor: %d" % r)
	    if ref is None:
	        ref = buf.raw
	    elif buf.raw != ref:
	        sys.exit("descriptor changed at %d" % i)
	t = time.monotonic() - t0
	print("%.1f %s" % (n / t, ref[8:12].hex()))
	PY
	) || die "$name: control transfers failed: $out"
	info "$name: $n GET_DESCRIPTOR round trips, $out"
	[ "${out#* }" = 6b1d0401 ] || die "$name: unexpected idVendor/idProduct ${out#* }"
	metric "${name}_urb_per_s" "${out%% *}" URB/s
}

# bench_vhci_disk MIB: after an attach, waits for the vhci disk of MIB MiB;
# sets BENCH_VDEV (/dev/sdX), BENCH_VPORT (vhci port), BENCH_VUSB (its USB
# busid on the client).
bench_vhci_disk() {
	wait_disk BENCH_VDEV 60 disk_of_vhci
	BENCH_VPORT=$(vhci_ports_in_use | head -n1)
	# shellcheck disable=SC2034 # read by the callers
	BENCH_VUSB=$(vhci_busids | head -n1)
	[ "$(cat "/sys/block/${BENCH_VDEV#/dev/}/size")" -eq $(($1 * 2048)) ] ||
		die "wrong disk size of $BENCH_VDEV"
}

# bench_vhci_detach: detaches BENCH_VPORT, waits until its disk is gone.
bench_vhci_detach() {
	run "$DEB_USBIP" detach -p "$BENCH_VPORT"
	wait_for "vhci disk to disappear" 60 sh -c "! test -b $BENCH_VDEV"
}

# bench_stub_attach BUSID MIB: exports USB device BUSID (a disk of MIB
# MiB) through usbip-host with usbipd and attaches it over 127.0.0.1
# (bench_vhci_disk).
bench_stub_attach() {
	"$DEB_USBIPD" -D
	wait_for "usbipd listening on port 3240" 30 port_listening 3240
	run "$DEB_USBIP" bind -b "$1"
	run "$DEB_USBIP" attach -r 127.0.0.1 -b "$1"
	bench_vhci_disk "$2"
}

# bench_stub_detach BUSID: undoes bench_stub_attach.
bench_stub_detach() {
	bench_vhci_detach
	wait_for "vhci port $BENCH_VPORT free" 30 \
		sh -c "! $DEB_USBIP port 2>/dev/null | grep -q '^Port 0*$BENCH_VPORT:'"
	run "$DEB_USBIP" unbind -b "$1"
	usbipd_stop
}

bench_vudc_available() {
	[ "$(cat /sys/devices/platform/usbip-vudc.0/usbip_status)" = 1 ]
}

# bench_vudc_attach GADGET_DIR MIB: binds the configfs gadget GADGET_DIR (a
# disk of MIB MiB) to usbip-vudc.0, exports it with usbipd --device and
# attaches it over ::1 (bench_vhci_disk).
bench_vudc_attach() {
	wait_for "UDC usbip-vudc.0" 30 test -e /sys/class/udc/usbip-vudc.0
	echo usbip-vudc.0 >"$1/UDC"
	wait_for "usbip-vudc.0 available" 30 bench_vudc_available
	"$DEB_USBIPD" --device -D
	wait_for "usbipd listening on port 3240" 30 port_listening 3240
	run "$DEB_USBIP" attach -r ::1 -b usbip-vudc.0
	bench_vhci_disk "$2"
}

# bench_vudc_detach GADGET_DIR: undoes bench_vudc_attach.
bench_vudc_detach() {
	bench_vhci_detach
	wait_for "usbip-vudc.0 available again" 60 bench_vudc_available
	usbipd_stop
	echo "" >"$1/UDC"
}
