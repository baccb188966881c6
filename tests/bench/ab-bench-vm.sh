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
# Each path measures, DD_RUNS times, O_DIRECT dd with 1 MiB blocks
# (READ_MIB read and compared with the backing file, WRITE_MIB written, read
# back and found in the backing file), and URB_RUNS times URB_N
# GET_DESCRIPTOR control transfers through usbfs, one at a time: each is
# one URB's round trip through vhci-hcd, the socket and the server
# (bench_urb_rate, tests/guest/lib-bench.sh).  Each run is a figure of its
# own, so that one stall of the host weighs one run, not the load's only
# figure.  Figures:
# METRIC {A,B}_{stub,vudc}_rR_{read_MBps,write_MBps,urb_per_s}.
#
# With AB_PERF=1 each path then runs its URB round trips twice more under
# the host's perf (the guest sees the host's root): once under "perf stat
# -a" (context switches, migrations, wakeups and IPIs of the whole guest,
# in /run/vmtest/stat-NAME.txt), once under "perf record -a -g" sampling
# cpu-clock (the reports by symbol and by command in
# /run/vmtest/report-NAME.txt; ab-bench.sh turns the latter into CPU time
# figures).  Their URB rates are {A,B}_{stubperf,vudcperf}_rR_urb_per_s,
# apart from the others: perf slows the guest.

ROUNDS=${ROUNDS:-3}
READ_MIB=${READ_MIB:-64}
WRITE_MIB=${WRITE_MIB:-32}
URB_N=${URB_N:-2000}
URB_RUNS=${URB_RUNS:-5}
DD_RUNS=${DD_RUNS:-3}
AB_PERF=${AB_PERF:-0}
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

# ab_perf_run NAME USB_BUSID PERF_ARGS...: the URB round trips while
# "perf PERF_ARGS" counts the whole guest; perf starts disabled and counts
# exactly the round trips (its control FIFO), not its own start-up.
ab_perf_run() {
	local name=$1 usb=$2 pid ctl ack
	shift 2
	rm -f /tmp/perf.ctl /tmp/perf.ack
	mkfifo /tmp/perf.ctl /tmp/perf.ack
	perf "$@" -a -D -1 --control fifo:/tmp/perf.ctl,/tmp/perf.ack 2>/dev/null &
	pid=$!
	exec {ctl}>/tmp/perf.ctl {ack}</tmp/perf.ack
	echo enable >&$ctl
	read -r -t 120 -u $ack || die "$name: perf did not start"
	bench_urb_rate "${name/_r/perf_r}" "$usb" "$URB_N"
	echo disable >&$ctl
	read -r -t 120 -u $ack || die "$name: perf did not stop"
	kill -INT $pid
	wait $pid || true
	exec {ctl}>&- {ack}<&-
	rm -f /tmp/perf.ctl /tmp/perf.ack
}

# ab_perf NAME USB_BUSID: the URB round trips under perf (see the header).
ab_perf() {
	local name=$1 usb=$2
	[ "$AB_PERF" = 1 ] || return 0
	command -v perf >/dev/null || die "AB_PERF=1 needs perf on the host (package linux-perf)"
	mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing
	ab_perf_run "$name" "$usb" stat -e task-clock,context-switches,cpu-migrations \
		-e sched:sched_wakeup,irq_vectors:reschedule_entry \
		-e irq_vectors:call_function_single_entry,irq_vectors:local_timer_entry \
		-o "/run/vmtest/stat-$name.txt"
	ab_perf_run "$name" "$usb" record -g -e cpu-clock -F 2000 -o /tmp/perf.data
	perf report -i /tmp/perf.data --no-children --sort sym --stdio -g none \
		>/tmp/perf.txt 2>/dev/null
	sed -n 1,120p /tmp/perf.txt >"/run/vmtest/report-$name.txt"
	perf report -i /tmp/perf.data --no-children --sort comm --stdio -g none \
		>/tmp/perf.txt 2>/dev/null
	sed -n 1,40p /tmp/perf.txt >>"/run/vmtest/report-$name.txt"
	rm -f /tmp/perf.data /tmp/perf.txt
}

# ab_measure NAME DEV: DD_RUNS runs of the reads and writes of DEV.
ab_measure() {
	local _
	for _ in $(seq "$DD_RUNS"); do
		bench_measure "$1" "$2"
	done
}

# ab_urb_rate NAME USB_BUSID: URB_RUNS runs of URB_N round trips.
ab_urb_rate() {
	local _
	for _ in $(seq "$URB_RUNS"); do
		bench_urb_rate "$1" "$2" "$URB_N"
	done
}

# ab_stub SET ROUND / ab_vudc SET ROUND: one path (see the header).
ab_stub() {
	local name=$1_stub_r$2 busid
	echo dummy_udc.0 >"$G/UDC"
	wait_for "gadget on dummy_hcd" 30 prints dummy_hcd_busid abdisk
	busid=$(dummy_hcd_busid abdisk)
	bench_stub_attach "$busid" "$READ_MIB"
	info "$name: vhci disk $BENCH_VDEV on port $BENCH_VPORT ($BENCH_VUSB)"
	ab_measure "$name" "$BENCH_VDEV"
	ab_urb_rate "$name" "$BENCH_VUSB"
	ab_perf "$name" "$BENCH_VUSB"
	bench_stub_detach "$busid"
	echo "" >"$G/UDC"
}

ab_vudc() {
	local name=$1_vudc_r$2
	bench_vudc_attach "$G" "$READ_MIB"
	info "$name: vhci disk $BENCH_VDEV on port $BENCH_VPORT ($BENCH_VUSB)"
	ab_measure "$name" "$BENCH_VDEV"
	ab_urb_rate "$name" "$BENCH_VUSB"
	ab_perf "$name" "$BENCH_VUSB"
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
