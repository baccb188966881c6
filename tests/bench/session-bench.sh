#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/bench/session-bench.sh - what a session costs and what it buys, on
# one boot of one QEMU VM (tests/bench/session-bench-vm.sh): throughput of a
# mass-storage gadget, on usbip-host and on usbip-vudc, through our vhci-hcd
# imported with and without a session, alternated ROUNDS times
# (min/median/max of each and the ratio of the medians), and the time from
# a restored link to I/O flowing again after CUTS cuts.  A benchmark, not a
# test: no pass mark; it fails only when a step fails (wrong data, a kernel
# warning, a timeout).
#
#   tests/bench/session-bench.sh [6.1|6.12]     (default 6.1)
#   MIB=64 ROUNDS=3 CUTS=5 tests/bench/session-bench.sh
#
# Our modules must be built first (make modules).  Logs and figures:
# build/bench-logs/session-bench-KVER/vm1/.

set -uo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/bench/lib.sh
. "$TOP/tests/bench/lib.sh"

bench_prepare session-bench "${1:-6.1}" 1
bench_scenario_copy -e "s/^MIB=.*/MIB=${MIB:-64}/" -e "s/^ROUNDS=.*/ROUNDS=${ROUNDS:-3}/" \
	-e "s/^CUTS=.*/CUTS=${CUTS:-5}/"
bench_boot "" 1
echo "session-bench [$KVER] ($((SECONDS - BENCH_T0))s VM):"
grep '^SUMMARY' "$RUN_DIR/vm1/console.log" | sed 's/^SUMMARY /  /'
