# SPDX-License-Identifier: GPL-2.0
# @desc: our usbip-core loads and unloads 50 times, then all four of our modules once; dmesg stays clean
# @kernels: 6.1 6.12
# @vms: 1
# @modules: ours
# @timeout: 300
#
# Each round checks that modprobe loads usbip-core from our copy under
# /lib/modules/KVER/updates/ (modprobe -v names the file it inserts), that
# the loaded module is the out-of-tree one (its taint flags carry "O", which
# Debian's in-tree module never has), and that /sys/module/usbip_core
# appears on load and disappears on unload.

ROUNDS=50

# is_ours MOD: the loaded module MOD (sysfs name) is an out-of-tree build.
is_ours() {
	local t=
	read -r t <"/sys/module/$1/taint" 2>/dev/null
	[[ $t == *O* ]]
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
		if [ $((i % 10)) -eq 0 ]; then
			info "round $i/$ROUNDS ok"
		fi
	done

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
