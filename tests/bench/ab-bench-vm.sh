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
# WRITE_MIB and URB_N in a copy of this file.  One gadget disk (READ_MIB
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
# the backing file) and URB_N GET_DESCRIPTOR control transfers through
# usbfs, one at a time: each is one URB's round trip through vhci-hcd, the
# socket and the server (bench_urb_rate, tests/guest/lib-bench.sh).  Figures:
# METRIC {A,B}_{stub,vudc}_rR_{read_MBps,write_MBps,urb_per_s}.

ROUNDS=${ROUNDS:-3}
READ_MIB=${READ_MIB:-64}
WRITE_MIB=${WRITE_MIB:-32}
URB_N=${URB_N:-2000}
# shellcheck disable=SC2034  # read by bench_measure (tests/guest/lib.sh)
BACKING=/tmp/disk.img
G=$GADGET_ROOT/abdisk

# ab_load SET: insmod SET's usbip-core, usbip-host, vhci-hcd, usbip-vudc by
# path; each must be out of tree (ours).
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

# ab_stub SET ROUND / ab_vudc SET ROUND: one path (see the header).
ab_stub() {
	local name=$1_stub_r$2 busid
	echo dummy_udc.0 >"$G/UDC"
	wait_for "gadget on dummy_hcd" 30 prints dummy_hcd_busid abdisk
	busid=$(dummy_hcd_busid abdisk)
	bench_stub_attach "$busid" "$READ_MIB"
	info "$name: vhci disk $BENCH_VDEV on port $BENCH_VPORT ($BENCH_VUSB)"
	bench_measure "$name" "$BENCH_VDEV"
	bench_urb_rate "$name" "$BENCH_VUSB" "$URB_N"
	bench_stub_detach "$busid"
	echo "" >"$G/UDC"
}

ab_vudc() {
	local name=$1_vudc_r$2
	bench_vudc_attach "$G" "$READ_MIB"
	info "$name: vhci disk $BENCH_VDEV on port $BENCH_VPORT ($BENCH_VUSB)"
	bench_measure "$name" "$BENCH_VDEV"
	bench_urb_rate "$name" "$BENCH_VUSB" "$URB_N"
	bench_vudc_detach "$G"
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
