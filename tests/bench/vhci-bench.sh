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
# shellcheck source=tests/bench/lib.sh
. "$TOP/tests/bench/lib.sh"

bench_prepare vhci-bench "${1:-6.1}" 2
VM_MODES[1]=reference
read_mib=${READ_MIB:-64}
write_mib=${WRITE_MIB:-$read_mib}
urb_n=${URB_N:-2000}
[ "$write_mib" -le "$read_mib" ] || { echo "vhci-bench: WRITE_MIB > READ_MIB" >&2; exit 1; }
bench_scenario_copy -e "s/^READ_MIB=.*/READ_MIB=$read_mib/" -e "s/^WRITE_MIB=.*/WRITE_MIB=$write_mib/" \
	-e "s/^URB_N=.*/URB_N=$urb_n/"

bench_boot ", server + client" 2

BENCH_METRICS=$RUN_DIR/vm2/metrics
echo "vhci-bench [$KVER]: $read_mib MiB reads, $write_mib MiB writes (O_DIRECT, 1 MiB blocks)," \
	"$urb_n GET_DESCRIPTOR round trips ($((SECONDS - BENCH_T0))s VMs)"
printf '  %-22s %12s %12s %12s\n' "" "read MB/s" "write MB/s" "URB/s"
printf '  %-22s %12s %12s %12s\n' "in-tree vhci-hcd" "$(fig intree_read_MBps)" \
	"$(fig intree_write_MBps)" "$(fig intree_urb_per_s)"
printf '  %-22s %12s %12s %12s\n' "our vhci-hcd" "$(fig ours_read_MBps)" \
	"$(fig ours_write_MBps)" "$(fig ours_urb_per_s)"
printf '  %-22s %12s %12s %12s\n' "ratio ours/in-tree" \
	"$(ratio "$(fig ours_read_MBps)" "$(fig intree_read_MBps)")" \
	"$(ratio "$(fig ours_write_MBps)" "$(fig intree_write_MBps)")" \
	"$(ratio "$(fig ours_urb_per_s)" "$(fig intree_urb_per_s)")"
