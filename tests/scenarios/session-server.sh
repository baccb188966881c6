# SPDX-License-Identifier: GPL-2.0
# @desc: server half of sessions (usbip_ext.rst): a raw session client against a Loopback gadget on our usbip-vudc and on our usbip-host: journal and EXT_ACK/PING, RST cuts at several points each resumed (every URB answered once, no OUT run twice, payloads back in order), replaced connections, token refusals, protocol errors, window expiry
# @kernels: 6.1 6.12
# @vms: 1
# @modules: ours
# @timeout: 300
#
# tests/guest/session_server.py (usbip_wire.SessionClient) talks to the
# device's usbip_sockfd directly (no usbipd): "FD caps=1 token=.. window=.."
# to start a session, "resume FD token=.. [new=..]" after each cut.  The
# device is a Loopback gadget (usb_f_ss_lb, BUFLEN-byte requests): each OUT
# payload comes back once on bulk IN, so an OUT the server ran twice or an
# IN it lost shows in the data.  The same client runs twice:
#
#  1. usbip-vudc.0 serves the gadget;
#  2. the gadget on dummy_hcd, its device bound to our usbip-host.
#
# After each run the kernel log must have one "connection lost ... session
# kept" line per cut (18: 11 RSTs, 3 replaced connections, 3 resumes closed
# before EXT_RESUME, the expiry case), one "session resumed on a new
# connection" per resume (17) and one "session ended: resume window
# expired".

BUFLEN=16384

# loopback_gadget NAME UDC: a Loopback gadget NAME bound to UDC, removed at
# exit.
loopback_gadget() {
	local g=$GADGET_ROOT/$1 f
	run modprobe libcomposite
	run modprobe usb_f_ss_lb
	_gadget_skeleton "$1" "$1" 0x1d6b 0x0104 "usbip test loopback"
	f=$g/functions/Loopback.0
	mkdir "$f" || die "no Loopback gadget function (usb_f_ss_lb)"
	echo "$BUFLEN" >"$f/bulk_buflen"
	ln -s "$f" "$g/configs/c.1/"
	echo "$2" >"$g/UDC"
	at_exit gadget_remove "$1"
}

# since MARK PATTERN: kernel log lines matching PATTERN after dmesg_mark MARK.
since() {
	dmesg | awk -v m="vmtest-mark: $1" 'index($0, m) { on = 1 } on' | grep -c -- "$2" || true
}

# sclient NAME DEVDIR: session_server.py on DEVDIR, then its log lines.
sclient() {
	local name=$1 dir=$2 t0 t1 lost resumed expired

	dmesg_mark "session-server $name"
	t0=$(now_ns)
	if ! PYTHONDONTWRITEBYTECODE=1 python3 "$REPO/tests/guest/session_server.py" "$dir" \
		"$BUFLEN" | sed 's/^/    /'; then
		dmesg | awk -v m="vmtest-mark: session-server $name" 'index($0, m) { on = 1 } on' |
			tail -n 40 | sed 's/^/    dmesg| /'
		die "session_server.py failed on $name"
	fi
	t1=$(now_ns)
	metric "session_server_${name}_s" "$(awk -v ns=$((t1 - t0)) 'BEGIN { printf "%.1f", ns / 1e9 }')" s
	lost=$(since "session-server $name" 'connection lost: .*session kept for')
	resumed=$(since "session-server $name" 'session resumed on a new connection')
	expired=$(since "session-server $name" 'session ended: resume window expired')
	info "$name: $lost 'connection lost', $resumed 'session resumed', $expired 'window expired' lines"
	if [ "$lost" != 18 ] || [ "$resumed" != 17 ] || [ "$expired" != 1 ]; then
		die "$name: want 18, 17 and 1 of those lines"
	fi
	dmesg_check || die "kernel log has warnings after the $name run"
}

vm1() {
	local busid

	step "usbip-vudc: a Loopback gadget on usbip-vudc.0, sessions through usbip_sockfd"
	run modprobe usbip-vudc
	wait_for "UDC usbip-vudc.0" 30 test -e /sys/class/udc/usbip-vudc.0
	loopback_gadget vudcloop usbip-vudc.0
	sclient vudc /sys/devices/platform/usbip-vudc.0
	gadget_remove vudcloop
	run modprobe -r usbip-vudc

	step "usbip-host: a Loopback gadget on dummy_hcd, bound to usbip-host"
	run modprobe usbip-host
	gadget_prepare
	loopback_gadget hostloop dummy_udc.0
	wait_for "gadget hostloop on dummy_hcd" 30 prints dummy_hcd_busid hostloop
	busid=$(dummy_hcd_busid hostloop)
	bind_all "$USBIP" "$busid"
	sclient host "/sys/bus/usb/devices/$busid"

	step "unbind, unload"
	run "$USBIP" unbind -b "$busid"
	gadget_remove hostloop
	run modprobe -r usbip-host
	run modprobe -r usbip-core
	[ ! -e /sys/module/usbip_core ] || die "usbip-core still loaded"
}
