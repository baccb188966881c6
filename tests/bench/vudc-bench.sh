#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/bench/vudc-bench.sh - throughput of one configfs mass-storage gadget
# locally on dummy_hcd, on Debian's in-tree usbip-vudc through Debian's
# in-tree vhci-hcd, and on our usbip-vudc through our vhci-hcd, measured on
# one boot of one QEMU VM (tests/bench/vudc-bench-vm.sh).  A benchmark, not
# a test: it is not part of make check and has no pass mark; it fails only
# when a step fails (wrong data, a kernel warning, a timeout).
#
#   tests/bench/vudc-bench.sh [6.1|6.12]     (default 6.1)
#   READ_MIB=64 WRITE_MIB=32 tests/bench/vudc-bench.sh
#
# Our modules must be built first (make modules [KDIR=...]).  It boots the VM
# with the harness library (tests/vm/lib.sh) rather than tests/run, so a
# tests/run in the same tree keeps its build/vm-logs/metrics.txt; logs go to
# build/bench-logs/vudc-bench-KVER/vm1/.  Under TCG, and with anything else
# running on the host, the figures are only comparable within one run.

set -uo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
VM_TOP=$TOP
# shellcheck source=tests/vm/lib.sh
. "$TOP/tests/vm/lib.sh"

series=${1:-6.1}
SCENARIO=$TOP/tests/bench/vudc-bench-vm.sh
KVER=$(vm_kver "$series") || { echo "vudc-bench: cannot resolve the $series kernel" >&2; exit 1; }
ls "$TOP/build/kmod/$KVER/drivers/usb/usbip/"*.ko >/dev/null 2>&1 ||
	{ echo "vudc-bench: our modules for $KVER are not built" >&2; exit 1; }
RUN_DIR=$TOP/build/bench-logs/vudc-bench-$KVER
rm -rf "$RUN_DIR"
mkdir -p "$RUN_DIR/vm1"
vm_prepare_kernel "$KVER" >"$RUN_DIR/prepare.log" 2>&1 ||
	{ echo "vudc-bench: kernel fetch or initramfs failed, see $RUN_DIR/prepare.log" >&2; exit 1; }

VM_COUNT=1
VM_MEM=$(scenario_header "$SCENARIO" mem)
VM_QEMU_COMMON=
declare -a VM_MODES
VM_MODES[1]=ours
VM_QEMU_EXTRA_1=()
# The guest does not see the host's environment: the sizes go into a copy
# of the scenario file.
read_mib=${READ_MIB:-64}
write_mib=${WRITE_MIB:-64}
sed -e "s/^READ_MIB=.*/READ_MIB=$read_mib/" -e "s/^WRITE_MIB=.*/WRITE_MIB=$write_mib/" \
	"$SCENARIO" >"$RUN_DIR/vudc-bench-vm.sh"
SCENARIO=$RUN_DIR/vudc-bench-vm.sh

echo "vudc-bench: booting $KVER (logs: $RUN_DIR/vm1)"
t0=$SECONDS
if ! vm_run_all "$(scenario_header "$SCENARIO" timeout)"; then
	echo "FAIL vudc-bench [$KVER]: $VM_REASON"
	echo "    log: $RUN_DIR/vm1/console.log"
	tail -n 40 "$RUN_DIR/vm1/console.log" 2>/dev/null | sed 's/^/    | /'
	exit 1
fi

fig() {
	sed -n "s/^$1=\([0-9.]*\) .*/\1/p" "$RUN_DIR/vm1/metrics"
}
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b <= 0) print "n/a"; else printf "%.3f", a / b }'
}

echo "vudc-bench [$KVER]: $read_mib MiB reads, $write_mib MiB writes, O_DIRECT, 1 MiB blocks ($((SECONDS - t0))s VM)"
printf '  %-10s %12s %12s\n' "" "read MB/s" "write MB/s"
for m in local intree ours; do
	printf '  %-10s %12s %12s\n' "$m" "$(fig "${m}_read_MBps")" "$(fig "${m}_write_MBps")"
done
for op in read write; do
	printf '  %-5s intree/local %s  ours/local %s  ours/intree %s\n' "$op" \
		"$(ratio "$(fig intree_${op}_MBps)" "$(fig local_${op}_MBps)")" \
		"$(ratio "$(fig ours_${op}_MBps)" "$(fig local_${op}_MBps)")" \
		"$(ratio "$(fig ours_${op}_MBps)" "$(fig intree_${op}_MBps)")"
done
