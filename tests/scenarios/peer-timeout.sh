# SPDX-License-Identifier: GPL-2.0
# @desc: extension hello between our tools, and dead-peer detection: with the link silently cut (netem loss 100% on lo), the client's port and the server's device are freed within the peer timeout, idle and busy: tools' --peer-timeout (default 10 s), usbip_core's peer_timeout for sockets the tools leave alone, a control with both off that stays attached and resumes after the cut, and our tools on Debian's modules
# @kernels: 6.1 6.12
# @vms: 1
# @modules: ours
# @timeout: 600
#
# One VM, client and server over ::1: a configfs mass-storage gadget on
# dummy_hcd (MIB MiB of random data) bound to usbip-host and exported by
# our usbipd, imported by our usbip attach.  A cut drops every packet on
# lo (netem loss 100%), so neither side hears of the other: only the
# timers can notice.  For each case the time from the cut to the client's
# port being free and to the server's usbip_status being 1 again is
# measured and must lie within [T/2, T + slack] for a peer timeout of T.
#
#  A. Defaults (usbipd and usbip attach without options: 10 s), idle.  On
#     6.1 (and the debug kernel) only: the 10 s are the tools' own default,
#     the same build on every kernel, and on 6.12 B, C and E drive the same
#     kernel timers, idle and busy, with a shorter timeout.
#  B. --peer-timeout 3 on both tools, busy (a read loop runs on the disk).
#  C. --peer-timeout 0 on both tools, usbip_core peer_timeout=3: the
#     kernel's own timers on the sockets userspace left alone (what
#     Debian's tools get from our modules), idle.
#  D. Control: tools 0 and peer_timeout=0: after 3 T both sides are still
#     attached; the cut ends and the disk reads correctly again.
#  E. Debian's in-tree usbip-core, usbip-host and vhci-hcd with our tools
#     (--peer-timeout 3), idle: the timers travel with the socket (not on
#     the debug kernel, where the in-tree modules report bugs of their own).

MIB=8
VHCI=/sys/devices/platform/vhci_hcd.0
OURS=${REPO:-}/build/tools/src/usbip
OURSD=${REPO:-}/build/tools/src/usbipd
CORE_PARAM=/sys/module/usbip_core/parameters/peer_timeout
SLACK=$((4 * ${VMTEST_TIME_SCALE:-1}))

cut_start() {
	tc qdisc add dev lo root netem loss 100%
}

cut_end() {
	tc qdisc del dev lo root 2>/dev/null || true
}

status_of() {
	cat "/sys/bus/usb/devices/$BUSID/usbip_status"
}

# start_server ARGS...: our usbipd with ARGS, listening.
start_server() {
	run "$OURSD" -D -P /tmp/usbipd.pid "$@"
	wait_for "usbipd listening on 3240" 30 port_listening 3240
}

stop_server() {
	if [ -s /tmp/usbipd.pid ]; then kill "$(cat /tmp/usbipd.pid)" 2>/dev/null || true; fi
	wait_for "usbipd to exit" 30 sh -c '! ss -Hltn "sport = :3240" | grep -q .'
	rm -f /tmp/usbipd.pid
}

# attach ARGS...: our usbip attach over ::1; sets PORT and DEV, checks the
# data and that our tools agreed on the protocol extension (version 1, no
# capability yet: Documentation/usb/usbip_ext.rst).
attach() {
	"$OURS" --debug attach -r ::1 -b "$BUSID" "$@" >/tmp/attach.out 2>&1 ||
		{ cat /tmp/attach.out; die "usbip attach $* failed"; }
	grep -q "speaks extension version 1; capabilities agreed: 0x0" /tmp/attach.out ||
		{ cat /tmp/attach.out; die "our attach and usbipd did not agree on extension version 1"; }
	wait_disk DEV 60 disk_of_vhci
	PORT=$(vhci_ports_in_use | head -n1)
	[ -n "$PORT" ] || die "no vhci port in use after attach"
	[ "$(status_of)" = 2 ] || die "usbip_status is not 2 after attach"
	same_sum "read through $DEV" "$(sha_dev "$DEV" "$MIB")" "$SUM"
	ss -Htno state established "( sport = :3240 or dport = :3240 )" | sed 's/^/    ss| /'
}

# port_free: the vhci port is free (state 4 in vhci_hcd.0/status).
port_free() {
	awk -v p="$PORT" '$1 != "hub" && $2 + 0 == p && $3 + 0 == 4 { f = 1 } END { exit !f }' \
		"$VHCI"/status*
}

# cut_measure NAME T: cuts the link, waits for both sides to let go, ends
# the cut; the two delays must lie in [T/2, T + SLACK] seconds.
cut_measure() {
	local name=$1 t=$2 t0 now c_ms='' s_ms='' limit
	limit=$(((t + SLACK) * 1000))
	t0=$(now_ns)
	cut_start
	while [ -z "$c_ms" ] || [ -z "$s_ms" ]; do
		now=$((($(now_ns) - t0) / 1000000))
		[ -n "$c_ms" ] || ! port_free || c_ms=$now
		[ -n "$s_ms" ] || [ "$(status_of)" != 1 ] || s_ms=$now
		if [ "$now" -gt $((limit + 5000)) ]; then
			cut_end
			die "$name: after ${now} ms the client port is ${c_ms:+free}${c_ms:-still used}, the server device ${s_ms:+available}${s_ms:-still in use} (peer timeout ${t} s)"
		fi
		sleep 0.1
	done
	cut_end
	info "$name: peer timeout ${t} s: client let go after ${c_ms} ms, server after ${s_ms} ms"
	metric "${name}_client_ms" "$c_ms" ms
	metric "${name}_server_ms" "$s_ms" ms
	for now in "$c_ms" "$s_ms"; do
		[ "$now" -ge $((t * 500)) ] || die "$name: freed after ${now} ms, before half the peer timeout: not the timers"
		[ "$now" -le "$limit" ] || die "$name: freed after ${now} ms, over ${t} s + ${SLACK} s"
	done
	wait_for "vhci disk to go" 30 sh -c "! test -b $DEV"
}

vm1() {
	local backing=/tmp/disk.img pid dd_rc base t0
	[ -x "$OURS" ] && [ -x "$OURSD" ] || die "our tools are not built (make tools)"
	modprobe sch_netem
	load_storage
	run modprobe usbip-host
	run modprobe vhci-hcd
	[ "$(cat "$CORE_PARAM")" = 10 ] || die "usbip_core peer_timeout is not 10 by default"
	if echo 3601 >"$CORE_PARAM" 2>/dev/null; then die "peer_timeout took 3601 (most is 3600)"; fi
	[ "$(cat "$CORE_PARAM")" = 10 ] || die "a refused peer_timeout changed the value"

	step "a ${MIB} MiB gadget disk, bound to usbip-host"
	random_file "$backing" "$MIB"
	SUM=$(sha_file "$backing")
	gadget_storage_create ptdisk "$backing"
	at_exit gadget_remove ptdisk
	BUSID=$GADGET_BUSID
	at_exit cut_end
	run "$OURS" bind -b "$BUSID"
	wait_for "$BUSID on usbip-host" 30 test -e "/sys/bus/usb/drivers/usbip-host/$BUSID"

	case "$KVER" in
	6.1.*)	# Debian's 6.1 and the debug kernel
		step "A: defaults (10 s), idle"
		start_server
		attach
		cut_measure idle_default 10
		wait_available "$BUSID"
		stop_server
		;;
	*) info "A (the tools' default of 10 s, idle) runs on 6.1 only" ;;
	esac

	step "B: --peer-timeout 3 on both tools, busy"
	start_server --peer-timeout 3
	attach --peer-timeout 3
	base=$(awk '{ print $3 }' "/sys/block/${DEV#/dev/}/stat")
	(while dd if="$DEV" of=/dev/null iflag=direct bs=64k count=$((MIB * 16)) status=none; do :; done) &
	pid=$!
	wait_for "reads on $DEV" 30 sh -c "[ \$(awk '{ print \$3 }' /sys/block/${DEV#/dev/}/stat) -gt $((base + 2048)) ]"
	cut_measure busy_3s 3
	dd_rc=0
	wait "$pid" || dd_rc=$?
	info "the read loop ended with status $dd_rc (the disk went away)"
	wait_available "$BUSID"
	stop_server

	step "C: tools 0, usbip_core peer_timeout=3, idle"
	echo 3 >"$CORE_PARAM"
	start_server --peer-timeout 0
	attach --peer-timeout 0
	cut_measure kernel_param_3s 3
	wait_available "$BUSID"

	step "D: control, tools 0 and peer_timeout=0: still attached after 9 s of cut"
	echo 0 >"$CORE_PARAM"
	attach --peer-timeout 0
	cut_start
	# The claim under test is that nothing happens for 3 T: watch for 9 s.
	t0=$(date +%s)
	while [ $(($(date +%s) - t0)) -lt 9 ]; do
		port_free && die "control: the port was freed with every timer off"
		[ "$(status_of)" = 2 ] || die "control: the server let go with every timer off"
		sleep 0.2
	done
	cut_end
	same_sum "control: read after the cut" "$(sha_dev "$DEV" "$MIB")" "$SUM"
	run "$OURS" detach -p "$PORT"
	wait_available "$BUSID"
	echo 10 >"$CORE_PARAM"
	stop_server
	run "$OURS" unbind -b "$BUSID"

	# Debian's in-tree modules on the debug kernel have reports of their
	# own (tests/vm/README.md, "Reference-peer findings"), which a VM of
	# ours must not take for ours: E runs on Debian's kernels only.
	case "$KVER" in *-usbip-debug)
		info "E skipped on the debug kernel (Debian's in-tree modules)"
		return 0 ;;
	esac
	step "E: Debian's modules, our tools with --peer-timeout 3, idle"
	wait_for "usb-storage back on $BUSID" 30 sh -c "[ \"\$(basename \"\$(readlink /sys/bus/usb/devices/$BUSID/driver)\")\" = usb ]"
	run rmmod vhci-hcd usbip-host usbip-core
	deb_modules_load usbip-core usbip-host vhci-hcd
	run "$OURS" bind -b "$BUSID"
	wait_for "$BUSID on usbip-host" 30 test -e "/sys/bus/usb/drivers/usbip-host/$BUSID"
	start_server --peer-timeout 3
	attach --peer-timeout 3
	cut_measure debian_modules_3s 3
	wait_available "$BUSID"
	stop_server
	run "$OURS" unbind -b "$BUSID"
	run rmmod vhci-hcd usbip-host usbip-core
}
