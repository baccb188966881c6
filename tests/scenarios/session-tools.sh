# SPDX-License-Identifier: GPL-2.0
# @desc: sessions through the tools: our usbipd --device exports a mass-storage gadget on usbip-vudc.0, "usbip attach --persistent" imports it over ::1 and stays; a read/write loop with per-chunk sha256 runs while the link is cut 4 times (nft: RST, drops); the tool reconnects and resumes by itself each time (new connection, same disk, no I/O error), every chunk checked on the disk and in the gadget's backing file; usbip detach ends the tool with status 0; a cut longer than the resume window: the tool gives up (status 1), the port is freed and usbipd exports the gadget again
# @kernels: 6.1 6.12
# @vms: 1
# @modules: ours
# @timeout: 420
#
# One VM: usbipd --device on ::1 serves the gadget; the client side is our
# "usbip attach --persistent" (tools/usb/usbip/src/usbip_persist.c), run in
# the background with its output in /tmp/attach.log.  A cut blocks every
# packet to or from TCP port 3240 on lo (nft, output hook), so that the
# tool's new connections fail too while it lasts (RST: refused at once;
# drop: the SYN goes unanswered) and it has to retry.
#
#  1. A MIB MiB mass-storage gadget on usbip-vudc.0, exported by usbipd
#     --device; usbip attach --persistent agrees a session (window 30 s);
#     the disk appears; usbip port shows "session: active".
#  2. A loop writes random 1 MiB chunks (O_DIRECT, fsync) and reads each
#     back (O_DIRECT), comparing sha256.  CUTS times while it runs: the
#     link is cut (odd rounds RST, even rounds drops), the port goes
#     "reconnecting", the cut lasts HOLD s more, then ends; the tool
#     resumes by itself (session file "active", a "resumed after" line, one
#     connection to 3240 with a new client port), the loop goes on.
#  3. Every chunk's last sha256 matches the disk (O_DIRECT) and the
#     gadget's backing file; no I/O error or device reset in the log; the
#     disk node never changed.
#  4. usbip detach -p PORT: the tool exits 0 ("detached; exiting"), the
#     gadget is available again.
#  5. --resume-window 3 and a drop cut that outlasts it: the tool says
#     "gave up", exits 1, the port is free, usbip_session "none", and
#     usbipd lists the gadget again.

MIB=32
CUTS=${SESSION_CUTS:-4}
HOLD=2
VHCI=/sys/devices/platform/vhci_hcd.0
VUDC=usbip-vudc.0
SYS_VUDC=/sys/devices/platform/$VUDC
OURS=${REPO:-}/build/tools/src/usbip
OURSD=${REPO:-}/build/tools/src/usbipd

session_state() {
	awk -v p="$PORT" '$1 == p { print $2 }' "$VHCI/session"
}

session_is() {
	[ "$(session_state)" = "$1" ]
}

port_free() {
	vhci_port_free "$PORT"
}

vudc_status_is() {
	[ "$(cat "$SYS_VUDC/usbip_status")" = "$1" ]
}

# cut_start KIND: every packet of TCP port 3240 on lo rejected with an RST
# to its sender (KIND reset) or dropped (KIND drop).  The RSTs themselves
# pass (the one reject sends goes through this hook too): a socket that
# sends during a reset cut is reset, a new connection refused.
cut_start() {
	nft add table inet vmcut
	nft add chain inet vmcut out '{ type filter hook output priority 0; }'
	if [ "$1" = reset ]; then
		nft add rule inet vmcut out tcp sport 3240 tcp flags '&' rst != rst reject with tcp reset
		nft add rule inet vmcut out tcp dport 3240 tcp flags '&' rst != rst reject with tcp reset
	else
		nft add rule inet vmcut out tcp sport 3240 drop
		nft add rule inet vmcut out tcp dport 3240 drop
	fi
}

cut_end() {
	nft delete table inet vmcut 2>/dev/null || true
}

# client_ports: the local ports of the established connections to 3240
# (the client's side; vhci-hcd holds the socket, so no process shows).
client_ports() {
	ss -Htn state established '( dport = :3240 )' |
		awk '{ for (i = 2; i <= NF; i++) if ($i ~ /:3240$/) { n = split($(i - 1), a, ":"); print a[n] } }'
}

one_client_port_not() {
	local p
	p=$(client_ports)
	[ "$(printf '%s\n' "$p" | grep -c .)" = 1 ] && [ "$p" != "$1" ]
}

log_count() {
	grep -c -- "$1" /tmp/attach.log || true
}

log_more_than() {
	[ "$(log_count "$1")" -gt "$2" ]
}

# alive PID: the process runs (a child that exited is a zombie until waited
# for, which kill -0 would still find).
alive() {
	local st
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

attach_running() {
	alive "$APID"
}

attach_exited() {
	! alive "$APID"
}

attach_stop() {
	if [ -n "${APID:-}" ] && alive "$APID"; then kill "$APID"; fi
}

# show_logs: the tool's and usbipd's output, on the console (fd 7) when the
# test failed (cleanups run with their output discarded).
show_logs() {
	[ -e /tmp/session-tools.done ] && return 0
	{
		sed 's/^/    attach| /' /tmp/attach.log
		tail -n 30 /tmp/usbipd.log | sed 's/^/    usbipd| /'
		ss -Htna '( sport = :3240 or dport = :3240 )' | sed 's/^/    ss| /'
	} >&7 2>&1
}

rounds() {
	cat /tmp/rw.count 2>/dev/null || echo 0
}

more_rounds_than() {
	[ "$(rounds)" -gt "$1" ]
}

# rw_loop: 1 MiB chunks of random data written to DISK (O_DIRECT, fsync),
# each read back (O_DIRECT) and compared; the last sha256 of chunk K in
# /tmp/rw.sum.K.  Stops at /tmp/rw.stop, or on a mismatch or an I/O error
# (/tmp/rw.err says which).
rw_loop() {
	local i=0 k sum back
	while [ ! -e /tmp/rw.stop ]; do
		k=$((i % MIB))
		head -c 1048576 /dev/urandom >/tmp/rw.chunk
		sum=$(sha256sum </tmp/rw.chunk | cut -d' ' -f1)
		if ! dd if=/tmp/rw.chunk of="$DISK" bs=1M seek="$k" count=1 oflag=direct \
			conv=fsync,notrunc status=none 2>/tmp/rw.dd; then
			echo "round $i: writing chunk $k failed: $(cat /tmp/rw.dd)" >/tmp/rw.err
			return 1
		fi
		back=$(dd if="$DISK" bs=1M skip="$k" count=1 iflag=direct status=none 2>/tmp/rw.dd |
			sha256sum | cut -d' ' -f1)
		if [ "$back" != "$sum" ]; then
			echo "round $i: chunk $k read back differs: $(cat /tmp/rw.dd)" >/tmp/rw.err
			return 1
		fi
		echo "$sum" >"/tmp/rw.sum.$k"
		i=$((i + 1))
		echo "$i" >/tmp/rw.count.tmp && mv /tmp/rw.count.tmp /tmp/rw.count
	done
}

# attach_persistent ARGS...: usbip attach --persistent in the background
# (APID); waits for its attach line and sets PORT.
attach_persistent() {
	: >/tmp/attach.log
	"$OURS" attach --persistent --peer-timeout 4 -r ::1 -d "$VUDC" "$@" >/tmp/attach.log 2>&1 &
	APID=$!
	wait_for "usbip attach --persistent to attach" 60 grep -q ' to port [0-9]*$' /tmp/attach.log
	PORT=$(sed -n 's/^usbip: attached remote device .* to port \([0-9][0-9]*\)$/\1/p' \
		/tmp/attach.log)
	[ -n "$PORT" ] || die "no port in: $(cat /tmp/attach.log)"
	attach_running || die "usbip attach --persistent exited: $(cat /tmp/attach.log)"
}

vm1() {
	local disk devno i kind n0 cport t0 lost resumed ms rc bad k sum

	[ -x "$OURS" ] && [ -x "$OURSD" ] || die "our tools are not built (make tools)"
	exec 7>&1
	rm -f /tmp/session-tools.done
	at_exit show_logs
	run modprobe usbip-core
	run modprobe vhci-hcd
	run modprobe usbip-vudc num=1
	load_storage
	nft_hooks_hold
	run modprobe libcomposite
	at_exit cut_end
	[ "$(cat "$VHCI/ext_caps")" = 1 ] || die "vhci ext_caps is not 1"

	step "a ${MIB} MiB mass-storage gadget on $VUDC, exported by usbipd --device on ::1"
	truncate -s "${MIB}M" /tmp/disk.img
	gadget_storage_on_udc sdisk /tmp/disk.img "$VUDC"
	at_exit gadget_remove sdisk
	wait_for "$VUDC speed" 30 sh -c "[ \"\$(cat /sys/class/udc/$VUDC/current_speed)\" != UNKNOWN ]"
	"$OURSD" -e -6 --peer-timeout 4 >/tmp/usbipd.log 2>&1 &
	at_exit kill $!
	wait_for "usbipd listening on 3240" 30 port_listening 3240

	step "usbip attach --persistent: a session, the disk, usbip port"
	attach_persistent
	at_exit attach_stop
	grep -q "port $PORT: session agreed (resume window 30000 ms, heartbeat 5000 ms)" \
		/tmp/attach.log || die "no session agreed: $(cat /tmp/attach.log)"
	wait_for "port $PORT session active" 30 session_is active
	[ "$(cut -d' ' -f1 "$SYS_VUDC/usbip_session")" = active ] || die "server session not active"
	wait_disk disk 120 disk_of_vhci
	DISK=$disk
	devno=$(stat -c %t:%T "$disk")
	echo 120 >"/sys/block/${disk#/dev/}/device/timeout"
	"$OURS" port | sed 's/^/    port| /'
	"$OURS" port | grep -q '^       session: active$' || die "usbip port shows no active session"
	"$OURS" port --json | grep -q '"session":{"state":"active"}' ||
		die "usbip port --json shows no active session"
	cport=$(client_ports)
	info "port $PORT, disk $disk ($devno), client tcp port $cport"

	step "read/write loop; $CUTS cuts of every packet of port 3240, the tool resumes each time"
	rm -f /tmp/rw.*
	rw_loop &
	RWPID=$!
	at_exit touch /tmp/rw.stop
	wait_for "the first rounds" 60 more_rounds_than 3
	for i in $(seq 1 "$CUTS"); do
		if [ $((i % 2)) = 1 ]; then kind=reset; else kind=drop; fi
		n0=$(rounds)
		lost=$(log_count 'connection lost, reconnecting')
		resumed=$(log_count 'resumed after')
		dmesg_mark "cut $i ($kind)"
		t0=$(now_ns)
		cut_start "$kind"
		wait_for "port $PORT reconnecting after cut $i ($kind)" 60 session_is reconnecting
		wait_for "the tool to see the loss (cut $i)" 10 log_more_than \
			'connection lost, reconnecting' "$lost"
		if [ "$kind" = reset ]; then
			# New connections are refused while the cut lasts: a retry line.
			wait_for "a refused reconnection (cut $i)" 10 grep -q \
				'still reconnecting: .*Connection refused' /tmp/attach.log
		fi
		sleep "$HOLD"	# the outage itself: the link stays down this long
		session_is reconnecting || die "cut $i: the session left 'reconnecting' during the cut"
		cut_end
		wait_for "the tool to resume (cut $i)" 30 log_more_than 'resumed after' "$resumed"
		wait_for "session active after cut $i" 10 session_is active
		wait_for "one connection to 3240 on a new client port (cut $i)" 10 \
			one_client_port_not "$cport"
		cport=$(client_ports)
		wait_for "I/O going on after cut $i" 60 more_rounds_than "$n0"
		[ ! -e /tmp/rw.err ] || die "read/write loop: $(cat /tmp/rw.err)"
		alive "$RWPID" || die "the read/write loop died after cut $i"
		attach_running || die "usbip attach exited after cut $i: $(cat /tmp/attach.log)"
		ms=$(grep 'resumed after' /tmp/attach.log | tail -n1 |
			sed 's/.*resumed after \([0-9]*\) ms.*/\1/')
		info "cut $i ($kind): rounds $n0 -> $(rounds); $(grep 'resumed after' /tmp/attach.log | tail -n1); client port now $cport; $((($(now_ns) - t0) / 1000000)) ms from the cut"
		metric "session_tools_resumed_after_ms_$i" "$ms" ms
		dmesg_check || die "kernel log has warnings after cut $i"
	done
	sed 's/^/    attach| /' /tmp/attach.log

	step "loop stopped; every chunk on the disk and in the backing file"
	touch /tmp/rw.stop
	rc=0
	wait "$RWPID" || rc=$?
	[ "$rc" = 0 ] || die "read/write loop failed: $(cat /tmp/rw.err 2>/dev/null)"
	info "$(rounds) rounds of 1 MiB written and read back"
	sync
	echo 3 >/proc/sys/vm/drop_caches
	bad=0
	for k in $(seq 0 $((MIB - 1))); do
		[ -e "/tmp/rw.sum.$k" ] || continue
		sum=$(cat "/tmp/rw.sum.$k")
		[ "$(dd if="$disk" bs=1M skip="$k" count=1 iflag=direct status=none | sha256sum |
			cut -d' ' -f1)" = "$sum" ] || { bad=$((bad + 1)); info "chunk $k differs on $disk"; }
		[ "$(dd if=/tmp/disk.img bs=1M skip="$k" count=1 status=none | sha256sum |
			cut -d' ' -f1)" = "$sum" ] ||
			{ bad=$((bad + 1)); info "chunk $k differs in the backing file"; }
	done
	[ "$bad" = 0 ] || die "$bad chunk copies differ"
	info "$(find /tmp -maxdepth 1 -name "rw.sum.*" | wc -l) chunks: sha256 match on $disk and in /tmp/disk.img"
	if dmesg | grep -E 'I/O error|Buffer I/O|reset high-speed USB device'; then
		die "I/O errors or a device reset in the kernel log"
	fi
	[ "$(stat -c %t:%T "$disk")" = "$devno" ] || die "disk node changed"
	[ "$(disk_of_vhci)" = "$disk" ] || die "disk is no longer $disk"
	[ "$(log_count 'connection lost, reconnecting')" = "$CUTS" ] ||
		die "want $CUTS 'connection lost' lines"
	[ "$(log_count 'resumed after')" = "$CUTS" ] || die "want $CUTS 'resumed after' lines"

	step "usbip detach: the persistent attach exits 0"
	run "$OURS" detach -p "$PORT"
	wait_for "usbip attach --persistent to exit" 30 attach_exited
	rc=0
	wait "$APID" || rc=$?
	[ "$rc" = 0 ] || die "usbip attach --persistent exited $rc after the detach: $(cat /tmp/attach.log)"
	grep -q "port $PORT: detached; exiting" /tmp/attach.log || die "no 'detached' line"
	wait_for "vhci port $PORT free" 30 port_free
	wait_for "$VUDC available" 30 vudc_status_is 1

	step "a cut longer than the window (--resume-window 3): the tool gives up"
	attach_persistent --resume-window 3
	grep -q "session agreed (resume window 3000 ms" /tmp/attach.log ||
		die "no 3 s window: $(cat /tmp/attach.log)"
	wait_for "port $PORT session active" 30 session_is active
	wait_disk disk 120 disk_of_vhci
	t0=$(now_ns)
	cut_start drop
	wait_for "port $PORT reconnecting" 60 session_is reconnecting
	wait_for "usbip attach --persistent to give up" 60 attach_exited
	rc=0
	wait "$APID" || rc=$?
	info "gave up $((($(now_ns) - t0) / 1000000)) ms after the cut: $(grep 'gave up' /tmp/attach.log)"
	[ "$rc" = 1 ] || die "usbip attach --persistent exited $rc, not 1: $(cat /tmp/attach.log)"
	grep -q "port $PORT: gave up: the resume window ended" /tmp/attach.log ||
		die "no 'gave up' line: $(cat /tmp/attach.log)"
	port_free || die "port $PORT not free after the tool gave up"
	cut_end
	wait_for "$VUDC available after the window" 60 vudc_status_is 1
	wait_for "$VUDC session none" 30 sh -c "[ \"\$(cat $SYS_VUDC/usbip_session)\" = none ]"
	wait_for "usbipd to list $VUDC again" 30 sh -c "'$OURS' list -r ::1 | grep -q '$VUDC'"
	sed 's/^/    attach| /' /tmp/attach.log
	sed 's/^/    usbipd| /' /tmp/usbipd.log | tail -n 20
	dmesg_check || die "kernel log has warnings"
	touch /tmp/session-tools.done
}
