# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash disable=SC2034  # MSG_PORT: for the scenarios
#
# tests/guest/lib.sh - helpers for scenarios running inside a test VM.
#
# Sourced by tests/guest/stage2.sh before the scenario file.  This file has
# the basics (steps, waiting, cleanups, the kernel log, data and checksums)
# and sources the rest by topic: lib-usb.sh (devices, disks, QEMU's
# devices), lib-gadget.sh (configfs gadgets), lib-usbip.sh (usbipd, bind,
# export, vhci ports), lib-net.sh (the two VMs of a pair talking),
# lib-bench.sh (benchmarks).  Everything here
# runs as root in the guest, on the host's file system (read-only 9p under a
# tmpfs overlay), with no udev: drivers are loaded by hand with modprobe.
#
# Conventions
#   step "text"          numbered step, printed on the console
#   info "text"          indented detail line
#   die "text"           prints "TEST-ERROR: text" and fails the test
#   metric NAME VALUE U  records a figure ("METRIC name=value unit"), also
#                        appended to /run/vmtest/metrics for the host
#   wait_for "what" SECS CMD...   polls CMD until it succeeds, dies on timeout
#
# Environment from vm.env: REPO KVER VM_INDEX VM_COUNT VM_MODE SCENARIO
# SCENARIO_NAME VM_ADDR PEER_ADDR.

USBIP=${USBIP:-/usr/sbin/usbip}
USBIPD=${USBIPD:-/usr/sbin/usbipd}
GADGET_ROOT=/sys/kernel/config/usb_gadget
SERVER_ADDR=fd00:5b1b::1
CLIENT_ADDR=fd00:5b1b::2
MSG_PORT=5101

_step_no=0
_cleanups=()

step() {
	_step_no=$((_step_no + 1))
	echo "==> [vm${VM_INDEX:-?} $(cut -d' ' -f1 /proc/uptime)s] step $_step_no: $*"
}

info() {
	echo "    $*"
}

die() {
	echo "TEST-ERROR: $*"
	exit 1
}

metric() {
	echo "METRIC $1=$2 $3"
	if [ -d /run/vmtest ]; then
		echo "$1=$2 $3" >>/run/vmtest/metrics
	fi
}

# Runs a command, echoing it first, so the console shows what was done.
run() {
	echo "    \$ $*"
	"$@"
}

# at_exit CMD...: run CMD when the test ends (last registered runs first).
at_exit() {
	_cleanups+=("$*")
}

_run_cleanups() {
	local i
	for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do
		eval "${_cleanups[$i]}" >/dev/null 2>&1 || true
	done
	_cleanups=()
}

# guest_run FUNC: runs the scenario function with errexit, reports the
# failing command, runs the cleanups, and returns the function's status.
guest_run() {
	local fn=$1 rc
	(
		set -eE -o pipefail
		trap 'rc=$?; echo "TEST-ERROR: command failed (status $rc) at ${BASH_SOURCE[0]##*/}:$LINENO: $BASH_COMMAND"; exit $rc' ERR
		trap _run_cleanups EXIT
		"$fn"
	)
	rc=$?
	if [ "$rc" -eq 0 ]; then
		dmesg_check || rc=1
	fi
	return "$rc"
}

# wait_for "what" SECS CMD...: polls CMD (every 0.2 s) until it succeeds.
# SECS is multiplied by VMTEST_TIME_SCALE (4 on the debug kernel).
wait_for() {
	local what=$1 secs=$(($2 * ${VMTEST_TIME_SCALE:-1})) start now
	shift 2
	start=$(date +%s)
	while ! "$@" >/dev/null 2>&1; do
		now=$(date +%s)
		if [ $((now - start)) -ge "$secs" ]; then
			die "timed out after ${secs}s waiting for $what"
		fi
		sleep 0.2
	done
}

# prints CMD...: succeeds when CMD prints something (for wait_for).
prints() {
	[ -n "$("$@" 2>/dev/null)" ]
}

now_ns() {
	date +%s%N
}

# mbps BYTES NS: throughput in MB/s (10^6 bytes) with one decimal.
mbps() {
	awk -v b="$1" -v ns="$2" 'BEGIN { if (ns <= 0) ns = 1; printf "%.1f", b / 1e6 / (ns / 1e9) }'
}

# ---------------------------------------------------------------------------
# Kernel log

# Patterns that fail a test when they appear in the kernel log.
DMESG_BAD='WARNING:|BUG:|BUG |Oops|general protection|Kernel panic|possible circular locking|possible recursive locking|inconsistent lock state|suspicious RCU usage|KASAN|UBSAN|blocked for more than|kernel BUG|refcount_t:|list_add corruption|list_del corruption'

dmesg_mark() {
	echo "vmtest-mark: $*" >/dev/kmsg
}

# refpeer_vm: this VM runs Debian's in-tree usbip on the debug kernel, and
# no module of ours was ever loaded (no out-of-tree taint, bit 12).  Its
# kernel reports are judged by the host, which tells the reference peer's
# own bugs from anything else (tests/vm/README.md, "Reference-peer
# findings").
refpeer_vm() {
	[ "${VM_MODE:-}" = reference ] || return 1
	case "$KVER" in *-usbip-debug) ;; *) return 1 ;; esac
	[ $(($(cat /proc/sys/kernel/tainted) >> 12 & 1)) = 0 ]
}

# dmesg_check: fails if the kernel log has a line matching DMESG_BAD
# (except in a reference-peer VM: see refpeer_vm).
dmesg_check() {
	local bad
	bad=$(dmesg | grep -E "$DMESG_BAD" | grep -v 'vmtest-mark:' || true)
	if [ -n "$bad" ] && refpeer_vm; then
		echo "    kernel reports in a reference-peer VM: the host's verdict sorts them" \
			"(tests/vm/lib.sh, vm_kernel_reports)"
		return 0
	fi
	if [ -n "$bad" ]; then
		echo "TEST-ERROR: kernel log has warnings:"
		echo "$bad" | head -n 20 | sed 's/^/    dmesg| /'
		return 1
	fi
	return 0
}

# ---------------------------------------------------------------------------
# Data and checksums

# random_file PATH MIB: PATH gets MIB MiB of random data.
random_file() {
	head -c "$(($2 * 1024 * 1024))" /dev/urandom >"$1.tmp" && mv "$1.tmp" "$1"
}

sha_file() {
	sha256sum "$1" | cut -d' ' -f1
}

# sha_dev DEV MIB: checksum of the first MIB MiB of DEV, read with O_DIRECT.
sha_dev() {
	dd if="$1" iflag=direct bs=1M count="$2" status=none | sha256sum | cut -d' ' -f1
}

# same_sum WHAT A B: dies unless the two checksums are equal.
same_sum() {
	if [ "$2" != "$3" ]; then
		die "$1: checksum mismatch ($2 != $3)"
	fi
	info "$1: sha256 $2 matches"
}

# dev_read DEV OUT MIB [NAME]: copies MIB MiB from DEV into OUT with
# O_DIRECT, records NAME_read_MBps when NAME is given, echoes nothing.
dev_read() {
	local dev=$1 out=$2 mib=$3 name=${4:-} t0 t1
	t0=$(now_ns)
	dd if="$dev" of="$out" iflag=direct bs=1M count="$mib" status=none
	t1=$(now_ns)
	[ "$(stat -c %s "$out")" -eq $((mib * 1024 * 1024)) ] || die "short read from $dev"
	LAST_MBPS=$(mbps $((mib * 1024 * 1024)) $((t1 - t0)))
	[ -z "$name" ] || metric "${name}_read_MBps" "$LAST_MBPS" MB/s
}

# dev_write DEV IN MIB [NAME]: writes IN to DEV with O_DIRECT and fsync.
dev_write() {
	local dev=$1 in=$2 mib=$3 name=${4:-} t0 t1
	t0=$(now_ns)
	dd if="$in" of="$dev" oflag=direct bs=1M count="$mib" conv=fsync,notrunc status=none
	t1=$(now_ns)
	LAST_MBPS=$(mbps $((mib * 1024 * 1024)) $((t1 - t0)))
	[ -z "$name" ] || metric "${name}_write_MBps" "$LAST_MBPS" MB/s
}

# The rest of the library, by topic; every function is available to the
# scenarios as before.
_guest_lib_dir=$(dirname "${BASH_SOURCE[0]}")
# shellcheck source=tests/guest/lib-usb.sh
. "$_guest_lib_dir/lib-usb.sh"
# shellcheck source=tests/guest/lib-gadget.sh
. "$_guest_lib_dir/lib-gadget.sh"
# shellcheck source=tests/guest/lib-usbip.sh
. "$_guest_lib_dir/lib-usbip.sh"
# shellcheck source=tests/guest/lib-net.sh
. "$_guest_lib_dir/lib-net.sh"
# shellcheck source=tests/guest/lib-bench.sh
. "$_guest_lib_dir/lib-bench.sh"
unset _guest_lib_dir
