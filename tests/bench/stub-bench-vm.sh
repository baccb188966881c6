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
# shellcheck disable=SC2034  # read by bench_local and bench_measure (tests/guest/lib.sh)
BACKING=/tmp/disk.img

# over_usbip NAME: export the gadget with Debian's tools, attach it over
# 127.0.0.1, measure, detach, unbind.
over_usbip() {
	bench_stub_attach "$GADGET_BUSID" "$READ_MIB"
	info "$1: vhci disk $BENCH_VDEV on port $BENCH_VPORT"
	bench_measure "$1" "$BENCH_VDEV"
	bench_stub_detach "$GADGET_BUSID"
}

vm1() {
	bench_local

	step "reference: Debian's usbip-core, usbip-host, vhci-hcd by path"
	deb_modules_load usbip-core usbip-host vhci-hcd
	over_usbip reference
	run rmmod vhci-hcd usbip-host usbip-core
	[ ! -d /sys/module/usbip_core ] || die "usbip-core still loaded"

	step "ours: our usbip-core, usbip-host, vhci-hcd from updates/"
	ours_modules_load usbip-host vhci-hcd
	case "$(modinfo -n usbip-core)" in */updates/*) ;; *) die "usbip-core is not ours" ;; esac
	over_usbip ours
	run modprobe -r vhci-hcd usbip-host

	step "summary"
	bench_summary local reference ours
}
