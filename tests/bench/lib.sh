# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash disable=SC2034  # the VM_* and BENCH_* set here are read elsewhere
#
# tests/bench/lib.sh - host side of the benchmarks in tests/bench: boots
# tests/bench/NAME-vm.sh with the harness library (tests/vm/lib.sh, sourced
# here) rather than tests/run, so a tests/run in the same tree keeps its
# build/vm-logs/metrics.txt.  Sourced by tests/bench/NAME.sh once it has set
# TOP (the top of the tree).

VM_TOP=$TOP
# shellcheck source=tests/vm/lib.sh
. "$TOP/tests/vm/lib.sh"

# bench_prepare NAME SERIES VMS: resolves the kernel of SERIES (KVER), checks
# that our modules for it are built, makes RUN_DIR
# (build/bench-logs/NAME-KVER/vm1..VMS), fetches the kernel and builds the
# initramfs, and sets what vm_run_all needs for VMS VMs booting
# tests/bench/NAME-vm.sh (SCENARIO): every VM in mode "ours" (change
# VM_MODES[] after), no extra QEMU arguments.  Exits on failure.
bench_prepare() {
	local name=$1 series=$2 vms=$3 i
	BENCH=$name
	SCENARIO=$TOP/tests/bench/$name-vm.sh
	KVER=$(vm_kver "$series") || { echo "$name: cannot resolve the $series kernel" >&2; exit 1; }
	ls "$TOP/build/kmod/$KVER/drivers/usb/usbip/"*.ko >/dev/null 2>&1 ||
		{ echo "$name: our modules for $KVER are not built" >&2; exit 1; }
	RUN_DIR=$TOP/build/bench-logs/$name-$KVER
	rm -rf "$RUN_DIR"
	for i in $(seq "$vms"); do
		mkdir -p "$RUN_DIR/vm$i"
	done
	vm_prepare_kernel "$KVER" >"$RUN_DIR/prepare.log" 2>&1 ||
		{ echo "$name: kernel fetch or initramfs failed, see $RUN_DIR/prepare.log" >&2; exit 1; }
	VM_COUNT=$vms
	VM_MEM=$(scenario_header "$SCENARIO" mem)
	VM_QEMU_COMMON=
	VM_MODES=()
	for i in $(seq "$vms"); do
		VM_MODES[i]=ours
		eval "VM_QEMU_EXTRA_$i=()"
	done
}

# bench_scenario_copy SED_ARG...: the guest does not see the host's
# environment, so sizes go into a copy of the scenario file, made with
# "sed SED_ARG..."; SCENARIO becomes the copy.
bench_scenario_copy() {
	sed "$@" "$SCENARIO" >"$RUN_DIR/$BENCH-vm.sh"
	SCENARIO=$RUN_DIR/$BENCH-vm.sh
}

# bench_boot WHAT LOG_VM: boots the VMs (echoing WHAT); on failure prints
# the reason and the end of the console of the failed VM (LOG_VM if none is
# named) and exits 1.  Sets BENCH_T0 to the start time.
bench_boot() {
	local vm
	echo "$BENCH: booting $KVER$1 (logs: $RUN_DIR)"
	BENCH_T0=$SECONDS
	if ! vm_run_all "$(scenario_header "$SCENARIO" timeout)"; then
		vm=${VM_FAILED_IDX:-$2}
		echo "FAIL $BENCH [$KVER]: $VM_REASON"
		echo "    log: $RUN_DIR/vm$vm/console.log"
		tail -n 40 "$RUN_DIR/vm$vm/console.log" 2>/dev/null | sed 's/^/    | /'
		exit 1
	fi
}

# fig NAME: the value of metric NAME in BENCH_METRICS (a VM's metrics file).
fig() {
	sed -n "s/^$1=\([0-9.]*\) .*/\1/p" "$BENCH_METRICS"
}

# ratio A B: A / B with three decimals, n/a when either is missing.
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b <= 0) print "n/a"; else printf "%.3f", a / b }'
}

# bench_table3 BASE OTHER OURS: read and write MB/s of the three runs, then
# per operation the ratios OTHER/BASE, OURS/BASE and OURS/OTHER.
bench_table3() {
	local m op
	printf '  %-10s %12s %12s\n' "" "read MB/s" "write MB/s"
	for m in "$@"; do
		printf '  %-10s %12s %12s\n' "$m" "$(fig "${m}_read_MBps")" "$(fig "${m}_write_MBps")"
	done
	for op in read write; do
		printf '  %-5s %s/%s %s  %s/%s %s  %s/%s %s\n' "$op" \
			"$2" "$1" "$(ratio "$(fig "$2_${op}_MBps")" "$(fig "$1_${op}_MBps")")" \
			"$3" "$1" "$(ratio "$(fig "$3_${op}_MBps")" "$(fig "$1_${op}_MBps")")" \
			"$3" "$2" "$(ratio "$(fig "$3_${op}_MBps")" "$(fig "$2_${op}_MBps")")"
	done
}

# bench_disk NAME SERIES READ_DEF WRITE_DEF BASE OTHER OURS: the whole run of
# a one-VM disk benchmark (tests/bench/NAME-vm.sh, whose READ_MIB and
# WRITE_MIB become READ_MIB and WRITE_MIB from the environment, READ_DEF and
# WRITE_DEF if unset) and its table of the BASE, OTHER and OURS runs.
bench_disk() {
	local name=$1 read_mib=${READ_MIB:-$3} write_mib=${WRITE_MIB:-$4}
	bench_prepare "$name" "$2" 1
	bench_scenario_copy -e "s/^READ_MIB=.*/READ_MIB=$read_mib/" \
		-e "s/^WRITE_MIB=.*/WRITE_MIB=$write_mib/"
	bench_boot "" 1
	BENCH_METRICS=$RUN_DIR/vm1/metrics
	echo "$name [$KVER]: $read_mib MiB reads, $write_mib MiB writes, O_DIRECT, 1 MiB blocks" \
		"($((SECONDS - BENCH_T0))s VM)"
	bench_table3 "$5" "$6" "$7"
}
