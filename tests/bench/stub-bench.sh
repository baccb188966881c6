#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/bench/stub-bench.sh - throughput of a dummy_hcd mass-storage gadget
# locally, through Debian's usbip-host + vhci-hcd, and through ours, measured
# on one boot of one QEMU VM (tests/bench/stub-bench-vm.sh).  A benchmark, not
# a test: it is not part of make check and has no pass mark; it fails only
# when a step fails (wrong data, a kernel warning, a timeout).
#
#   tests/bench/stub-bench.sh [6.1|6.12]     (default 6.1)
#   READ_MIB=200 WRITE_MIB=64 tests/bench/stub-bench.sh
#
# Our modules must be built first (make modules [KDIR=...]).  It boots the VM
# with the harness library (tests/vm/lib.sh) rather than tests/run, so a
# tests/run in the same tree keeps its build/vm-logs/metrics.txt; logs go to
# build/bench-logs/stub-bench-KVER/vm1/.  Under TCG, and with anything else
# running on the host, the figures are only comparable within one run.

set -uo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/bench/lib.sh
. "$TOP/tests/bench/lib.sh"

bench_disk stub-bench "${1:-6.1}" 200 64 local reference ours
