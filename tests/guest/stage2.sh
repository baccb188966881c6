#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Stage 2 of a test VM, PID 1 after switch_root.  The root is the host's /
# (read-only 9p) under a tmpfs overlay.  This script mounts the pseudo file
# systems, mounts the per-VM run directory shared by the host (9p tag
# "testrun", read-write) and reads its vm.env, lays the kernel's module tree
# over /lib/modules/KVER, installs our modules into updates/ when the VM's
# module mode is "ours", brings the network up, runs the scenario's function
# vmN, and prints the result marker that the host looks for:
#
#   VMTEST-RESULT rc=N
#
# There is no udev and no init system: drivers are loaded by hand.

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C LC_ALL=C TERM=dumb
umask 022
# The host's boot watchdog (tests/vm/lib.sh, vm_booted) stops here: from
# now on the boot is past the kernel's own early start.
echo "VMTEST-STAGE2"

finish() {
	local rc=$1
	echo "VMTEST-RESULT rc=$rc"
	if mountpoint -q /run/vmtest; then
		dmesg >/run/vmtest/dmesg.txt 2>/dev/null
		echo "$rc" >/run/vmtest/rc
		sync
		umount /run/vmtest 2>/dev/null
	fi
	sync
	echo o >/proc/sysrq-trigger
	# The power-off runs asynchronously; PID 1 must not exit before it (that
	# would panic), and the 9p root may already be gone: builtins only.
	while :; do
		read -r -t 1 _ </dev/console 2>/dev/null || :
	done
}

# kmemleak_check: on a kernel with kmemleak (the debug kernel of make
# check-debug), scans for leaks after a passing test and fails on any
# unreferenced object, except those whose report matches a line of
# tests/debug-kernel/kmemleak-ignore (kernel-internal ones, each with its
# reason there).  Every report is printed and kept in the run directory as
# kmemleak.txt.  kmemleak does not report objects younger than 5 s, and a
# pointer in flight can make an object look unreferenced once: scan, let 5 s
# pass since the test ended, scan again, and count what the second scan still
# finds.  Objects of a module unloaded since show raw addresses in their
# backtraces, not symbols: hence any report fails, not only those naming
# our modules.
kmemleak_check() {
	local f=/sys/kernel/debug/kmemleak ign=$REPO/tests/debug-kernel/kmemleak-ignore
	local t0 t n
	[ -e "$f" ] || return 0
	t0=$(cut -d. -f1 /proc/uptime)
	echo "vm$VM_INDEX: kmemleak: scanning"
	if ! echo scan >"$f" 2>/dev/null; then
		echo "TEST-ERROR: kmemleak: scan failed (kmemleak disabled itself? see dmesg)"
		return 1
	fi
	t=$(cut -d. -f1 /proc/uptime)
	# kmemleak's minimum object age (MSECS_MIN_AGE): not a poll target.
	[ $((t - t0)) -ge 6 ] || sleep $((6 - (t - t0)))
	echo scan >"$f"
	cat "$f" >/tmp/kmemleak.all
	grep -v '^[[:space:]]*\(#\|$\)' "$ign" 2>/dev/null >/tmp/kmemleak.ign || :
	# A reference-peer VM (Debian's in-tree usbip, no module of ours ever
	# loaded: no out-of-tree taint, bit 12) reports a leak with a frame in
	# an in-tree usbip module as a reference-peer finding, not a failure
	# (tests/vm/README.md).
	refpeer=0
	# (refpeer_vm of tests/guest/lib.sh, which stage 2 does not source)
	[ "$VM_MODE" = reference ] && [ $(($(cat /proc/sys/kernel/tainted) >> 12 & 1)) = 0 ] &&
		case "$KVER" in *-usbip-debug) true ;; *) false ;; esac && refpeer=1
	: >/tmp/kmemleak.ref
	awk -v ignfile=/tmp/kmemleak.ign -v refpeer=$refpeer '
		BEGIN { while ((getline l < ignfile) > 0) ign[++ni] = l }
		function flush(  i) {
			if (rec == "") return
			for (i = 1; i <= ni; i++) if (rec ~ ign[i]) { rec = ""; return }
			if (refpeer && rec ~ /\[(usbip_core|usbip_host|vhci_hcd|usbip_vudc)\]/) {
				printf "%s", rec >"/tmp/kmemleak.ref"; rec = ""; return
			}
			printf "%s", rec; rec = ""
		}
		/^unreferenced object/ { flush() }
		{ rec = rec $0 "\n" }
		END { flush() }' /tmp/kmemleak.all >/tmp/kmemleak.bad
	n=$(grep -c '^unreferenced object' /tmp/kmemleak.all)
	cp /tmp/kmemleak.all /run/vmtest/kmemleak.txt 2>/dev/null
	echo "vm$VM_INDEX: kmemleak: $n unreferenced object(s), $(grep -c '^unreferenced object' /tmp/kmemleak.bad) not ignored ($(($(cut -d. -f1 /proc/uptime) - t0))s)"
	[ "$n" -eq 0 ] || sed 's/^/kmemleak| /' /tmp/kmemleak.all
	[ ! -s /tmp/kmemleak.ref ] ||
		echo "vm$VM_INDEX: kmemleak: reference-peer finding (Debian's in-tree usbip, not ours): $(grep -c '^unreferenced object' /tmp/kmemleak.ref) object(s)"
	if [ -s /tmp/kmemleak.bad ]; then
		echo "TEST-ERROR: kmemleak: $(grep -c '^unreferenced object' /tmp/kmemleak.bad) leaked object(s), first: $(grep -m1 '^unreferenced object' /tmp/kmemleak.bad)"
		return 1
	fi
	return 0
}

setup_fail() {
	echo "TEST-ERROR: vm setup: $*"
	finish 98
}

mount_fs() {
	local type=$1 src=$2 dir=$3 opts=${4:-}
	mkdir -p "$dir"
	mountpoint -q "$dir" && return 0
	mount -t "$type" ${opts:+-o "$opts"} "$src" "$dir" || setup_fail "mount $type on $dir"
}

mount_fs proc proc /proc
mount_fs sysfs sysfs /sys
mount_fs devtmpfs devtmpfs /dev
mount_fs devpts devpts /dev/pts gid=5,mode=620,ptmxmode=666
mount_fs tmpfs tmpfs /dev/shm mode=1777
mount_fs tmpfs tmpfs /tmp mode=1777
mount_fs tmpfs tmpfs /run mode=0755

# A boot in which ACPI's interpreter gave up on a loop (AE_AML_LOOP_TIMEOUT:
# the vCPU starved for 30 s on an overloaded host) leaves PCI devices
# without interrupt routing ("PCI INT D: no GSI").  Devices with MSI
# (virtio, xHCI) do not care; QEMU's EHCI, UHCI and OHCI controllers (PCI
# class 0c03, interface 00/10/20) have only INTx and then never address a
# device.  With one of those, that is no test result: say so and stop; the
# host boots the VMs again (tests/vm/lib.sh, vm_run_all).
if grep -qE '^0x0c03(00|10|20)$' /sys/bus/pci/devices/*/class 2>/dev/null &&
	dmesg | grep -q 'AE_AML_LOOP_TIMEOUT'; then
	echo "VMTEST-BOOT-BROKEN: ACPI AML loop timeout during boot, and a USB controller that needs INTx"
	sync
	echo o >/proc/sysrq-trigger
	while :; do read -r -t 1 _ </dev/console 2>/dev/null || :; done
fi

mount_fs 9p testrun /run/vmtest trans=virtio,version=9p2000.L,msize=512000
[ -f /run/vmtest/vm.env ] || setup_fail "no vm.env in the run directory"
# shellcheck disable=SC1091
. /run/vmtest/vm.env
export VMTEST_TIME_SCALE=${VMTEST_TIME_SCALE:-1}
export REPO KVER VMTEST_GUEST_DEPMOD VM_INDEX VM_COUNT VM_MODE SCENARIO SCENARIO_NAME VM_ADDR PEER_ADDR RUN_TAG

[ "$(uname -r)" = "$KVER" ] || setup_fail "booted $(uname -r), expected $KVER"
hostname "vm$VM_INDEX" 2>/dev/null

# The tmpfs mounts above hide whatever the host keeps there.  A checkout
# under /tmp or /run (CI may clone anywhere) must stay visible: bring it
# back from the host root, with a tmpfs upper layer so it stays writable.
case "$REPO" in
/tmp/* | /run/* | /dev/shm/*)
	mkdir -p "$REPO" /run/repotree/upper /run/repotree/work
	mount -t overlay -o "lowerdir=/.vmhost$REPO,upperdir=/run/repotree/upper,workdir=/run/repotree/work" \
		repotree "$REPO" || setup_fail "overlay of the checkout on $REPO"
	;;
esac

# /lib/modules/KVER comes from build/kernels/KVER with a tmpfs upper layer,
# so that modules can be added (updates/) and depmod can write its indexes.
lower=/.vmhost$REPO/build/kernels/$KVER/lib/modules/$KVER
[ -d "$lower" ] || setup_fail "module tree $lower missing"
mkdir -p /run/modtree/upper /run/modtree/work "/lib/modules/$KVER"
mount -t overlay -o "lowerdir=$lower,upperdir=/run/modtree/upper,workdir=/run/modtree/work" \
	modtree "/lib/modules/$KVER" || setup_fail "overlay on /lib/modules/$KVER"

modprobe configfs 2>/dev/null
mount_fs configfs configfs /sys/kernel/config
mount_fs debugfs debugfs /sys/kernel/debug
echo 1 >/proc/sys/kernel/sysrq

case "$VM_MODE" in
ours)
	kmod=$REPO/build/kmod/$KVER/drivers/usb/usbip
	ls "$kmod"/*.ko >/dev/null 2>&1 || setup_fail "no modules built in $kmod (make modules KDIR=...)"
	mkdir -p "/lib/modules/$KVER/updates"
	cp "$kmod"/*.ko "/lib/modules/$KVER/updates/" || setup_fail "copy our modules"
	# depmod over the whole tree via 9p takes minutes under TCG: the host
	# ran it on the same tree plus these files (tests/vm/lib.sh,
	# vm_ours_depmod) unless VMTEST_GUEST_DEPMOD=1 asks for it here.
	if [ -n "${VMTEST_GUEST_DEPMOD:-}" ] || [ ! -f /run/vmtest/depmod/modules.dep ]; then
		depmod -a "$KVER" || setup_fail "depmod"
	else
		cp /run/vmtest/depmod/modules.* "/lib/modules/$KVER/" || setup_fail "copy depmod indexes"
	fi
	where=$(modinfo -n usbip-core 2>/dev/null)
	case "$where" in
	*/updates/*) echo "vm$VM_INDEX: module mode ours: usbip-core is $where" ;;
	*) setup_fail "modinfo -n usbip-core gives '$where', not our updates/ copy" ;;
	esac
	;;
reference)
	echo "vm$VM_INDEX: module mode reference: usbip-core is $(modinfo -n usbip-core 2>/dev/null)"
	;;
*)	setup_fail "unknown module mode '$VM_MODE'" ;;
esac

ip link set lo up || setup_fail "loopback up"
if [ -n "${VM_ADDR:-}" ]; then
	modprobe virtio_net || setup_fail "modprobe virtio_net"
	for _ in $(seq 100); do
		[ -e /sys/class/net/eth0 ] && break
		sleep 0.1
	done
	ip link set eth0 up || setup_fail "eth0 up"
	ip -6 addr add "$VM_ADDR/64" dev eth0 nodad || setup_fail "address $VM_ADDR"
	echo "vm$VM_INDEX: eth0 $VM_ADDR (peer ${PEER_ADDR:-none})"
fi

cd /tmp || setup_fail "cd /tmp"
echo "vm$VM_INDEX: running scenario $SCENARIO_NAME (vm$VM_INDEX of $VM_COUNT, kernel $KVER)"
bash -c '
	set -o pipefail
	. "$REPO/tests/guest/lib.sh" || exit 97
	. "$SCENARIO" || exit 97
	declare -F "vm$VM_INDEX" >/dev/null || { echo "TEST-ERROR: scenario has no vm$VM_INDEX function"; exit 97; }
	guest_run "vm$VM_INDEX"
' </dev/null
rc=$?
[ "$rc" -ne 0 ] || kmemleak_check || rc=96
finish $rc
