# SPDX-License-Identifier: GPL-2.0
# @desc: hostile raw client (usbip_wire.py) against our usbip-vudc through our usbipd --device and usbip_sockfd: ep0 standard requests with every recipient and wIndex, OUT URBs received in parts (rest late, never, unlinked) on bulk, iso and ep0, wire/setup direction and iso-form mismatches, cut payloads, floods, the connection bound (pinned IN URBs, an unlink flood while no reply is read: memory measured), dev_desc served from memory while attached; after each case a data round trip; slab poisoning on
# @kernels: 6.1
# @vms: 1
# @modules: ours
# @timeout: 900
# @append: slub_debug=FZPU,kmalloc-*
#
# One VM, our modules and our tools (build/tools/src).  usbip-vudc num=2:
# a mass-storage gadget on usbip-vudc.0 backed by /tmp/vudc-disk.img,
# exported by our "usbipd --device" and imported by the client with
# OP_REQ_IMPORT; a UAC2 audio gadget (isochronous IN and OUT) on
# usbip-vudc.1, connected through usbip_sockfd.  tests/guest/vudc_hostile.py
# runs the cases named in VUDC_CASES (default: all, in the order below; see
# the script for what each sends and expects).  After each case both
# gadgets are imported again and move data: WRITE(10)+READ(10) through the
# storage gadget compared with the data and the backing file, iso OUT and
# IN on the audio gadget.  Each connection ends answered or dropped with at
# most one "closing the connection" line; slub_debug poisons freed
# kmalloc objects so that a write into a freed URB is reported.

VUDC_CASES=${VUDC_CASES:-devdesc dir partial flood pinned full_unlink unlinks cut ep0}

vudc_status_is() {
	[ "$(cat "/sys/devices/platform/$1/usbip_status")" = "$2" ]
}

vm1() {
	local oursd=$REPO/build/tools/src/usbipd g=$GADGET_ROOT/vudcaudio v

	[ -x "$oursd" ] || die "our tools are not built (make tools)"

	step "our usbip-vudc num=2; storage gadget on usbip-vudc.0, UAC2 on usbip-vudc.1"
	run modprobe usbip-vudc num=2
	[[ $(cat /sys/module/usbip_vudc/taint) == *O* ]] || die "the loaded usbip_vudc is not ours"
	for v in usbip-vudc.0 usbip-vudc.1; do
		wait_for "UDC $v" 30 test -e "/sys/class/udc/$v"
	done
	[ -e /sys/devices/platform/usbip-vudc.0/selftest_setups ] ||
		die "usbip-vudc has no selftest_setups attribute (build with USBIP_SELFTEST=1)"
	truncate -s 16M /tmp/vudc-disk.img
	gadget_storage_on_udc vudcdisk /tmp/vudc-disk.img usbip-vudc.0
	at_exit gadget_remove vudcdisk
	_gadget_skeleton vudcaudio vudcaudio 0x1d6b 0x0104 "usbip test audio"
	mkdir "$g/functions/uac2.0" || die "no UAC2 gadget function"
	ln -s "$g/functions/uac2.0" "$g/configs/c.1/"
	echo usbip-vudc.1 >"$g/UDC"
	at_exit gadget_remove vudcaudio
	for v in usbip-vudc.0 usbip-vudc.1; do
		wait_for "$v speed" 30 sh -c \
			"[ \"\$(cat /sys/class/udc/$v/current_speed)\" != UNKNOWN ]"
		vudc_status_is "$v" 1 || die "$v: usbip_status is not 1"
	done

	step "our usbipd --device"
	run "$oursd" --device -D -P /tmp/usbipd.pid
	wait_for "usbipd listening on 3240" 30 port_listening 3240
	at_exit 'kill $(cat /tmp/usbipd.pid)'

	step "hostile client: $VUDC_CASES"
	# shellcheck disable=SC2086
	VUDC_DISK=/tmp/vudc-disk.img PYTHONDONTWRITEBYTECODE=1 \
		python3 "$REPO/tests/guest/vudc_hostile.py" $VUDC_CASES 2>&1 | sed 's/^/    /'
	[ "${PIPESTATUS[0]}" = 0 ] || die "vudc_hostile.py failed"
	dmesg | grep -E 'usbip-vudc\.[01]: .*closing the connection' | sort | uniq -c |
		sort -rn | head -n 12 | sed 's/^/    dmesg| /'
	dmesg_check || die "kernel log has warnings"

	step "tear down"
	kill "$(cat /tmp/usbipd.pid)"
	gadget_remove vudcaudio
	gadget_remove vudcdisk
	run modprobe -r usbip-vudc
	dmesg_check || die "kernel log has warnings"
}
