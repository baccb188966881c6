# SPDX-License-Identifier: GPL-2.0
# @desc: usbip-core in-kernel self-test (socket paths, sg/iso payloads, event handler) and module unload
# @kernels: 6.1 6.12
# @vms: 1
# @modules: ours
# @timeout: 240

vm1() {
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
