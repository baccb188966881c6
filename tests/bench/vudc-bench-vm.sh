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
# shellcheck disable=SC2034  # read by bench_local and bench_measure (tests/guest/lib.sh)
BACKING=/tmp/disk.img
G=/sys/kernel/config/usb_gadget/benchdisk

# over_vudc NAME: bind the gadget to usbip-vudc.0, export it with Debian's
# usbipd --device, attach it over ::1, measure, detach, unbind the gadget.
over_vudc() {
	bench_vudc_attach "$G" "$READ_MIB"
	info "$1: vhci disk $BENCH_VDEV on port $BENCH_VPORT, $(cat /sys/class/udc/usbip-vudc.0/current_speed)"
	bench_measure "$1" "$BENCH_VDEV"
	bench_vudc_detach "$G"
}

vm1() {
	bench_local
	echo "" >"$G/UDC"
	wait_for "local disk to disappear" 60 sh -c "! test -b $BENCH_DEV"

	step "intree: Debian's usbip-core, vhci-hcd, usbip-vudc by path"
	deb_modules_load usbip-core vhci-hcd usbip-vudc
	over_vudc intree
	run rmmod usbip-vudc vhci-hcd usbip-core
	[ ! -d /sys/module/usbip_core ] || die "usbip-core still loaded"

	step "ours: our usbip-core, vhci-hcd, usbip-vudc from updates/"
	ours_modules_load vhci-hcd usbip-vudc
	over_vudc ours
	run modprobe -r usbip-vudc vhci-hcd

	step "summary"
	bench_summary local intree ours
}
