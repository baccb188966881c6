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
