#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/bench/vhci-bench.sh - our vhci-hcd against Debian's in-tree one, on
# one boot, with one server: Debian's usbip-host + usbipd exporting a
# dummy_hcd mass-storage gadget in a second VM (tests/bench/vhci-bench-vm.sh).
# Figures: O_DIRECT read and write MB/s and synchronous control URB round
# trips per second, for each client, and the ratios ours/in-tree.  A
# benchmark, not a test: it is not part of make check and has no pass mark;
# it fails only when a step fails (wrong data, a kernel warning, a timeout).
#
#   tests/bench/vhci-bench.sh [6.1|6.12]          (default 6.1)
#   READ_MIB=32 WRITE_MIB=32 URB_N=1000 tests/bench/vhci-bench.sh
#
# Our modules must be built first (make modules [KDIR=...]).  Logs go to
# build/bench-logs/vhci-bench-KVER/vm{1,2}/.  Under TCG, and with anything
# else running on the host, the figures are only comparable within one run
# (the in-tree client is measured first, then ours).

set -uo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
VM_TOP=$TOP
# shellcheck source=tests/vm/lib.sh
. "$TOP/tests/vm/lib.sh"

series=${1:-6.1}
SCENARIO=$TOP/tests/bench/vhci-bench-vm.sh
KVER=$(vm_kver "$series") || { echo "vhci-bench: cannot resolve the $series kernel" >&2; exit 1; }
ls "$TOP/build/kmod/$KVER/drivers/usb/usbip/"*.ko >/dev/null 2>&1 ||
	{ echo "vhci-bench: our modules for $KVER are not built" >&2; exit 1; }
RUN_DIR=$TOP/build/bench-logs/vhci-bench-$KVER
rm -rf "$RUN_DIR"
mkdir -p "$RUN_DIR/vm1" "$RUN_DIR/vm2"
vm_prepare_kernel "$KVER" >"$RUN_DIR/prepare.log" 2>&1 ||
	{ echo "vhci-bench: kernel fetch or initramfs failed, see $RUN_DIR/prepare.log" >&2; exit 1; }

VM_COUNT=2
VM_MEM=$(scenario_header "$SCENARIO" mem)
VM_QEMU_COMMON=
declare -a VM_MODES
VM_MODES[1]=reference
VM_MODES[2]=ours
VM_QEMU_EXTRA_1=()
VM_QEMU_EXTRA_2=()
# The guest does not see the host's environment: the sizes go into a copy
# of the scenario file.
read_mib=${READ_MIB:-64}
write_mib=${WRITE_MIB:-$read_mib}
urb_n=${URB_N:-2000}
[ "$write_mib" -le "$read_mib" ] || { echo "vhci-bench: WRITE_MIB > READ_MIB" >&2; exit 1; }
sed -e "s/^READ_MIB=.*/READ_MIB=$read_mib/" -e "s/^WRITE_MIB=.*/WRITE_MIB=$write_mib/" \
	-e "s/^URB_N=.*/URB_N=$urb_n/" "$SCENARIO" >"$RUN_DIR/vhci-bench-vm.sh"
SCENARIO=$RUN_DIR/vhci-bench-vm.sh

echo "vhci-bench: booting $KVER, server + client (logs: $RUN_DIR)"
t0=$SECONDS
if ! vm_run_all "$(scenario_header "$SCENARIO" timeout)"; then
	echo "FAIL vhci-bench [$KVER]: $VM_REASON"
	echo "    log: $RUN_DIR/vm${VM_FAILED_IDX:-2}/console.log"
	tail -n 40 "$RUN_DIR/vm${VM_FAILED_IDX:-2}/console.log" 2>/dev/null | sed 's/^/    | /'
	exit 1
fi

fig() {
	sed -n "s/^$1=\([0-9.]*\) .*/\1/p" "$RUN_DIR/vm2/metrics"
}
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b <= 0) print "n/a"; else printf "%.3f", a / b }'
}

echo "vhci-bench [$KVER]: $read_mib MiB reads, $write_mib MiB writes (O_DIRECT, 1 MiB blocks)," \
	"$urb_n GET_DESCRIPTOR round trips ($((SECONDS - t0))s VMs)"
printf '  %-22s %12s %12s %12s\n' "" "read MB/s" "write MB/s" "URB/s"
printf '  %-22s %12s %12s %12s\n' "in-tree vhci-hcd" "$(fig intree_read_MBps)" \
	"$(fig intree_write_MBps)" "$(fig intree_urb_per_s)"
printf '  %-22s %12s %12s %12s\n' "our vhci-hcd" "$(fig ours_read_MBps)" \
	"$(fig ours_write_MBps)" "$(fig ours_urb_per_s)"
printf '  %-22s %12s %12s %12s\n' "ratio ours/in-tree" \
	"$(ratio "$(fig ours_read_MBps)" "$(fig intree_read_MBps)")" \
	"$(ratio "$(fig ours_write_MBps)" "$(fig intree_write_MBps)")" \
	"$(ratio "$(fig ours_urb_per_s)" "$(fig intree_urb_per_s)")"
