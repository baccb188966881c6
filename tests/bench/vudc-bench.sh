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
# shellcheck source=tests/bench/lib.sh
. "$TOP/tests/bench/lib.sh"

bench_disk vudc-bench "${1:-6.1}" 64 64 local intree ours
