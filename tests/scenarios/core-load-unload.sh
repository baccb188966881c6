# SPDX-License-Identifier: GPL-2.0
# @desc: our usbip-core loads and unloads 10 times, runs its in-kernel self-test over TCP and AF_UNIX sockets (SG/iso payloads, event handler), then all four of our modules load and unload; dmesg stays clean
# @kernels: 6.1 6.12
# @vms: 1
# @modules: ours
# @timeout: 400
#
# Each round checks that modprobe loads usbip-core from our copy under
# /lib/modules/KVER/updates/ (modprobe -v names the file it inserts), that
# the loaded module is the out-of-tree one (its taint flags carry "O", which
# Debian's in-tree module never has), and that /sys/module/usbip_core
# appears on load and disappears on unload.  Then usbip-core's self-test
# (selftest=1 over loopback TCP, selftest=2 over AF_UNIX socket pairs)
# pushes SG and iso payloads and event storms through real sockets.

ROUNDS=10

# is_ours MOD: the loaded module MOD (sysfs name) is an out-of-tree build.
is_ours() {
	local t=
	read -r t <"/sys/module/$1/taint" 2>/dev/null
	[[ $t == *O* ]]
}

# selftest: usbip-core's self-test over TCP, then over AF_UNIX.
selftest() {
	local line

	step "load usbip-core with selftest=1"
	modprobe -r usbip-core 2>/dev/null || true
	run modprobe usbip-core selftest=1
	dmesg | grep 'usbip-core: selftest:' || true
	line=$(dmesg | grep -E 'usbip-core: selftest: [0-9]+ passed, [0-9]+ failed' | tail -n1)
	info "summary: $line"
	echo "$line" | grep -qE 'selftest: [1-9][0-9]* passed, 0 failed' || die "selftest did not pass"

	step "debug mask parameter"
	echo 0x9 >/sys/module/usbip_core/parameters/usbip_debug
	[ "$(cat /sys/module/usbip_core/parameters/usbip_debug)" = 9 ] || die "usbip_debug not writable"
	echo 0 >/sys/module/usbip_core/parameters/usbip_debug

	step "unload; self-test again over AF_UNIX socket pairs (selftest=2)"
	run modprobe -r usbip-core
	dmesg -C
	run modprobe usbip-core selftest=2
	line=$(dmesg | grep -E 'usbip-core: selftest: [0-9]+ passed, [0-9]+ failed' | tail -n1)
	info "summary: $line"
	echo "$line" | grep -qE 'selftest: [1-9][0-9]* passed, 0 failed' || die "AF_UNIX selftest did not pass"
	dmesg | grep -q 'usbip-core: selftest: using AF_UNIX socket pairs' || die "selftest=2 did not use AF_UNIX"

	step "unload and reload without the self-test"
	run modprobe -r usbip-core
	run modprobe usbip-core
	run modprobe -r usbip-core
}

vm1() {
	local i path mod out
	local -A sysname=([usbip-core]=usbip_core [vhci-hcd]=vhci_hcd
		[usbip-host]=usbip_host [usbip-vudc]=usbip_vudc)

	step "modprobe resolves every one of our modules to updates/"
	for mod in usbip-core vhci-hcd usbip-host usbip-vudc; do
		path=$(modinfo -n "$mod")
		case "$path" in
		*/updates/*) info "$mod -> $path" ;;
		*) die "$mod resolves to $path, not our updates/ copy" ;;
		esac
	done
	[ ! -d /sys/module/usbip_core ] || die "usbip_core already loaded before the test"

	step "modprobe usbip-core / modprobe -r usbip-core, $ROUNDS rounds"
	for ((i = 1; i <= ROUNDS; i++)); do
		out=$(modprobe -v usbip-core) || die "round $i: modprobe usbip-core failed"
		[[ $out == *"/updates/usbip-core.ko"* ]] ||
			die "round $i: modprobe did not insert updates/usbip-core.ko: $out"
		[ -d /sys/module/usbip_core ] || die "round $i: /sys/module/usbip_core missing after load"
		is_ours usbip_core || die "round $i: loaded usbip_core is not ours (taint '$(cat /sys/module/usbip_core/taint)')"
		modprobe -r usbip-core || die "round $i: modprobe -r usbip-core failed"
		[ ! -d /sys/module/usbip_core ] || die "round $i: /sys/module/usbip_core still there after unload"
	done
	info "$ROUNDS rounds ok"

	selftest

	step "load all four of our modules, check them, unload them"
	run modprobe -a usbip-core vhci-hcd usbip-host usbip-vudc
	for mod in usbip-core vhci-hcd usbip-host usbip-vudc; do
		[ -d "/sys/module/${sysname[$mod]}" ] || die "$mod not loaded"
		is_ours "${sysname[$mod]}" || die "$mod loaded is not ours"
		info "$mod loaded, taint $(cat "/sys/module/${sysname[$mod]}/taint")"
	done
	run modprobe -r usbip-vudc usbip-host vhci-hcd usbip-core
	for mod in usbip-core vhci-hcd usbip-host usbip-vudc; do
		[ ! -d "/sys/module/${sysname[$mod]}" ] || die "$mod still loaded after modprobe -r"
	done

	step "the kernel log is clean"
	dmesg_check || die "kernel warnings"
	info "no warnings"
}
