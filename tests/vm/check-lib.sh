#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/vm/check-lib.sh - host-side checks of the VM harness's verdict
# (tests/vm/lib.sh): which kernel reports fail a run, and which are
# reference-peer findings (Debian's in-tree usbip on the debug kernel).
# Run by "make unit"; prints a PASS or FAIL line a case.
set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/vm/lib.sh
. "$TOP/tests/vm/lib.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
KVER=6.1.192-usbip-debug

check() {
	local name=$1 want=$2 got=$3
	if [ "$got" = "$want" ]; then
		echo "PASS harness $name"
		passed=$((passed + 1))
	else
		echo "FAIL harness $name: want '$want', got '$got'"
		failed=$((failed + 1))
	fi
}

# verdicts FILE REFPEER: the classes of the reported lines, one word.
verdicts() {
	vm_kernel_reports "$1" "$2" | cut -f1 | tr '\n' ' ' | sed 's/ $//'
}

# A lockdep report with a frame in in-tree usbip-host (the shape seen in
# vhci-churn), its taint line given as $1.
lockdep_report() {
	cat <<-EOF
	[  508.104864] =====================================
	[  508.105275] WARNING: bad unlock balance detected!
	[  508.105275] 6.1.192-usbip-debug #1 $1
	[  508.105275] -------------------------------------
	[  508.105275] bash/122 is trying to release lock (&sdev->ud.sysfs_lock) at:
	[  508.105275] [<ffffffffc025fb06>] usbip_sockfd_store.cold+0x93/0x46e [usbip_host]
	[  508.105275] but there are no more locks to release!
	[  508.113454] stack backtrace:
	[  508.113454] CPU: 1 PID: 122 Comm: bash $1 6.1.192-usbip-debug #1
	[  508.113454] Call Trace:
	[  508.113454]  <TASK>
	[  508.113454]  dump_stack_lvl+0x4c/0x63
	[  508.113454]  usbip_sockfd_store.cold+0x93/0x46e [usbip_host]
	[  508.113454]  kernfs_fop_write_iter+0x3a5/0x560
	[  508.113454]  </TASK>
	EOF
}

kasan_report() {
	cat <<-EOF
	[ 1326.477880] ==================================================================
	[ 1326.482846] BUG: KASAN: use-after-free in stub_rx_loop+0x23db/0x2690 [usbip_host]
	[ 1326.482846] Read of size 4 at addr ffff88800498f470 by task stub_rx/1109
	[ 1326.482846] CPU: 0 PID: 1109 Comm: stub_rx $1 6.1.192-usbip-debug #1
	[ 1326.482846] Call Trace:
	[ 1326.482846]  <TASK>
	[ 1326.482846]  kasan_report+0xd7/0x180
	[ 1326.482846]  stub_rx_loop+0x23db/0x2690 [usbip_host]
	[ 1326.482846]  </TASK>
	EOF
}

warn_report() {
	cat <<-EOF
	[  600.000001] ------------[ cut here ]------------
	[  600.000001] WARNING: CPU: 1 PID: 7 at mm/slub.c:100 kfree+0x10/0x20
	[  600.000001] CPU: 1 PID: 7 Comm: kworker/1:0 $1 6.1.192-usbip-debug #1
	[  600.000001] Call Trace:
	[  600.000001]  <TASK>
	[  600.000001]  kfree+0x10/0x20
	[  600.000001]  </TASK>
	EOF
}

lockdep_report "Not tainted" >"$tmp/lockdep"
check "in-tree lockdep report in a reference-peer VM is a finding" \
	"REF" "$(verdicts "$tmp/lockdep" 1)"
check "the same report in any other VM fails" "BAD" "$(verdicts "$tmp/lockdep" 0)"

lockdep_report "Tainted: G           O      " >"$tmp/lockdep-oot"
check "a report after a module of ours was loaded (taint O) fails" \
	"BAD" "$(verdicts "$tmp/lockdep-oot" 1)"

kasan_report "Tainted: G    B             " >"$tmp/kasan"
check "in-tree KASAN report, tainted B only, is a finding" "REF" "$(verdicts "$tmp/kasan" 1)"

{ kasan_report "Not tainted"
  echo "    dmesg| [ 1326.482846] BUG: KASAN: use-after-free in stub_rx_loop+0x23db/0x2690 [usbip_host]"
} >"$tmp/echoed"
check "a guest's echo of a kernel line (dmesg| ...) is no report of its own" \
	"REF" "$(verdicts "$tmp/echoed" 1)"

sed 's/$/\r/' "$tmp/kasan" >"$tmp/kasan-crlf"
check "a report reads the same from the console (CR LF) and from dmesg.txt" \
	"$(vm_kernel_reports "$tmp/kasan" 1)" "$(vm_kernel_reports "$tmp/kasan-crlf" 1)"

warn_report "Not tainted" >"$tmp/warn"
check "a report without a usbip frame fails" "BAD" "$(verdicts "$tmp/warn" 1)"

{ kasan_report "Not tainted"; warn_report "Tainted: G    B             "; } >"$tmp/both"
check "a finding does not hide a later report of another kind" \
	"REF BAD" "$(verdicts "$tmp/both" 1)"

grep -v 'Tainted\|tainted' "$tmp/kasan" >"$tmp/notaint"
check "a report without a taint line fails" "BAD" "$(verdicts "$tmp/notaint" 1)"

printf '[    1.000000] usbip: registered new interface driver usbip-host\n' >"$tmp/clean"
check "a clean log has no report" "" "$(verdicts "$tmp/clean" 1)"

declare -a VM_MODES=([1]=reference [2]=ours)
r=
vm_refpeer_vm 1 && r+=1
vm_refpeer_vm 2 && r+=2
KVER=6.1.0-57-amd64
vm_refpeer_vm 1 && r+=3
check "reference-peer VMs: reference mode on the debug kernel only" "1" "$r"

# VMTEST_ENV: what a guest's vm.env gets (stage 2 sources it, then runs the
# scenario in a child bash, which must see the values as given).
check "VMTEST_ENV reaches the guest's scenario unchanged" "[64][*.sh][it's][]" \
	"$(VMTEST_ENV="X_MIB=64 X_GLOB=*.sh X_QUOTE=it's X_EMPTY=" vm_env_exports >"$tmp/vm.env" &&
		bash -c '. "$1"; bash -c '\''echo "[$X_MIB][$X_GLOB][$X_QUOTE][$X_EMPTY]"'\' _ "$tmp/vm.env")"
r=
VMTEST_ENV='NOEQUALS' vm_env_check 2>/dev/null || r+=1
VMTEST_ENV='VM_INDEX=2' vm_env_check 2>/dev/null || r+=2
VMTEST_ENV='1X=2' vm_env_check 2>/dev/null || r+=3
VMTEST_ENV='' vm_env_check && r+=4
check "VMTEST_ENV: malformed words and the harness's own names refused" "1234" "$r"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
