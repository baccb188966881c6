#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/demo.sh (make demo) - boots one QEMU VM and shows, step by step and
# live, what the project does: load our four modules, make a USB disk and a
# USB serial port as gadgets, export them with usbipd (usbip-host on
# dummy_hcd, then usbip-vudc), list, attach, use and detach them, and end
# with checksums and MB/s figures (RESULT lines).
#
#   tests/demo.sh [--kernel 6.1|6.12] [--modules reference|ours] [--mib N] [--raw]
#
#   --kernel   Debian kernel series to boot (default 6.1)
#   --modules  ours (default): build/kmod/KVER, our usbip-core, usbip-host,
#              vhci-hcd and usbip-vudc (make modules); reference: Debian's
#   --mib      size of the gadget disk and of the timed transfers (default 32,
#              or $DEMO_MIB)
#   --raw      show the whole console, boot messages included
#
# The guest script is tests/guest/demo-scenario.sh; the console is kept in
# build/vm-logs/demo-KVER/vm1/console.log.

set -uo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
VM_TOP=$TOP
# shellcheck source=tests/vm/lib.sh
. "$TOP/tests/vm/lib.sh"

series=6.1
mode=${DEMO_MODULES:-ours}
raw=
mib=${DEMO_MIB:-32}
while [ $# -gt 0 ]; do
	case "$1" in
	--kernel) series=${2:?}; shift ;;
	--modules) mode=${2:?}; shift ;;
	--mib) mib=${2:?}; shift ;;
	--raw) raw=1 ;;
	-h|--help) sed -n '4,19s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "demo: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
case "$mib" in
''|*[!0-9]*) echo "demo: --mib wants a number of MiB" >&2; exit 2 ;;
esac
[ "$mib" -ge 8 ] && [ "$mib" -le 256 ] || { echo "demo: --mib wants 8 to 256" >&2; exit 2; }

KVER=$(vm_kver "$series") || { echo "demo: cannot resolve the $series kernel" >&2; exit 1; }
echo "demo: kernel $KVER, modules: $mode"
echo "demo: fetching the kernel package and building the initramfs (cached after the first time)..."
vm_prepare_kernel "$KVER" || { echo "demo: kernel preparation failed" >&2; exit 1; }
if [ "$mode" = ours ] && ! ls "$TOP/build/kmod/$KVER/drivers/usb/usbip/"*.ko >/dev/null 2>&1; then
	kdir=/usr/src/linux-headers-$KVER
	[ "$series" = 6.12 ] && kdir="\$(tests/vm/headers $KVER)"
	echo "demo: our modules are not built for $KVER (make modules KDIR=$kdir)" >&2
	exit 1
fi
if [ -x "$TOP/build/tools/src/usbip" ]; then
	echo "demo: our usbip tool is built; it runs every command it implements"
else
	echo "demo: our usbip tool is not built (make tools); Debian's tools do everything"
fi

RUN_DIR=$TOP/build/vm-logs/demo-$KVER
mkdir -p "$TOP/build/vm-logs"
exec 8>"$RUN_DIR.lock"
if ! flock -n 8; then
	echo "demo: another demo is running in this tree; waiting for it..."
	flock 8
fi
rm -rf "$RUN_DIR"
mkdir -p "$RUN_DIR/vm1"
# Settings for the guest script, which reads /run/vmtest/demo.conf.
echo "MIB=$mib" >"$RUN_DIR/vm1/demo.conf"
SCENARIO=$TOP/tests/guest/demo-scenario.sh
VM_COUNT=1
VM_MEM=1536
VM_QEMU_COMMON=
VM_QEMU_EXTRA_1=()
declare -a VM_MODES
VM_MODES[1]=$mode

echo "demo: booting the VM (QEMU without KVM: about 10-40 s before the first step)..."
echo

# The VM runs in the background; its console is streamed as it grows.
(
	vm_run_all 600
	echo "${VM_REASON}" >"$RUN_DIR/reason"
) &
runner=$!

console=$RUN_DIR/vm1/console.log
while [ ! -f "$console" ] && kill -0 "$runner" 2>/dev/null; do
	sleep 0.2
done

# Kernel lines worth showing a newcomer; the rest of the boot noise is hidden.
interesting='usbip|vhci|vudc|dummy_hcd|usb [0-9]+-[0-9]|usb-storage|cdc_acm|ttyACM|scsi host|\[sd[a-z]\]|EXT4-fs \(sd|WARNING|BUG|Oops|panic|Mass Storage'
tail -n +1 -F --pid="$runner" "$console" 2>/dev/null |
	if [ -n "$raw" ]; then
		cat
	else
		awk -v re="$interesting" '
			/VMTEST-RESULT/ { next }
			/usb usb[0-9]+:|vhci_hcd vhci_hcd|dummy_hcd dummy_hcd|created sysfs vhci/ { next }
			/^\[ *[0-9]+\.[0-9]+\]/ {
				if ($0 ~ re) { sub(/^\[ *[0-9]+\.[0-9]+\] /, ""); print "      kernel: " $0; fflush() }
				next
			}
			{ print; fflush() }'
	fi

wait "$runner"
reason=$(cat "$RUN_DIR/reason" 2>/dev/null)
echo
if [ -z "$reason" ]; then
	echo "demo: finished; the whole console is in $console"
	echo "demo: summary:"
	grep -a -E 'sha256 of the file|RESULT:' "$console" | tr -d '\r'
	exit 0
fi
echo "demo: FAILED: $reason"
echo "demo: the whole console is in $console"
exit 1
