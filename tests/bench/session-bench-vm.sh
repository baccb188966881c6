# SPDX-License-Identifier: GPL-2.0
# @desc: benchmark (not a test of make check): a mass-storage gadget through vhci-hcd with and without a session, on usbip-vudc and on usbip-host, alternated in one boot (MB/s min/median/max, ratio), and time from a restored link to I/O after cuts
# @kernels: 6.1 6.12
# @vms: 1
# @modules: ours
# @timeout: 1800
# @mem: 2048
#
# Booted by tests/bench/session-bench.sh.  For each server, a mass-storage
# gadget (MIB MiB of random data in tmpfs): on usbip-vudc.0, then on
# dummy_hcd bound to usbip-host.  Imported over ::1 without usbipd
# (tests/guest/session_attach.py: "plain", or with a session, heartbeat
# 1 s).  ROUNDS times, plain then session: MIB MiB read and MIB MiB written
# with O_DIRECT dd in 1 MiB blocks, each checked by sha256.  Then (on
# usbip-vudc) CUTS silent cuts (nft drop) of a session while a read loop
# runs: after the client notices (its heartbeat), the link stays down 1 s,
# is restored and the session resumed; the time from the restore to the
# next MiB read is the figure.  Lines "SUMMARY ..." are the result.

MIB=64
ROUNDS=3
CUTS=5
VHCI=/sys/devices/platform/vhci_hcd.0
VUDC=usbip-vudc.0
SRV=$VUDC	# the server device of import() and unimport()
ATT=${REPO:-}/tests/guest/session_attach.py
G=/sys/kernel/config/usb_gadget/benchdisk

port_free() {
	awk -v p="$PORT" 'NR > 1 && $2 + 0 == p && $3 + 0 == 4 { f = 1 } END { exit !f }' \
		"$VHCI/status"
}

srv_available() {
	local d=/sys/devices/platform/$SRV
	[ -d "$d" ] || d=/sys/bus/usb/devices/$SRV
	[ "$(cat "$d/usbip_status")" = 1 ]
}

session_is() {
	[ "$(awk -v p="$PORT" '$1 == p { print $2 }' "$VHCI/session")" = "$1" ]
}

token() {
	od -An -tx1 -N16 /dev/urandom | tr -d ' \n'
}

# import plain|session: SRV imported; sets PORT, CPORT, DISK, TOKEN
import() {
	local out
	if [ "$1" = plain ]; then
		out=$(python3 "$ATT" plain "$SRV") || die "plain attach of $SRV failed"
	else
		TOKEN=$(token)
		out=$(python3 "$ATT" attach "$SRV" "$TOKEN" 30000 1000) ||
			die "session attach of $SRV failed"
	fi
	read -r PORT _ CPORT <<<"$out"
	wait_disk DISK 120 disk_of_vhci
}

unimport() {
	echo "$PORT" >"$VHCI/detach"
	wait_for "port $PORT free" 60 port_free
	wait_for "$SRV available" 60 srv_available
}

# stats LIST...: "min median max"
stats() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%s %s %s", v[1], v[int((NR + 1) / 2)], v[NR] }'
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'
}

# rounds NAME: ROUNDS rounds of plain and session imports of SRV; adds its
# two lines to SUMMARIES.  The disk holds the data of sum at the start and
# at the end of each round.
rounds() {
	local name=$1 i kind r w pr=() pw=() sr=() sw=() pmed smed
	for i in $(seq 1 "$ROUNDS"); do
		for kind in plain session; do
			step "$name round $i: $kind"
			import "$kind"
			dev_read "$DISK" /tmp/read.bin "$MIB"
			r=$LAST_MBPS
			same_sum "$name $kind read" "$(sha_file /tmp/read.bin)" "$sum"
			dev_write "$DISK" /tmp/write.bin "$MIB"
			w=$LAST_MBPS
			if [ "$kind" = plain ]; then pr+=("$r") pw+=("$w"); else sr+=("$r") sw+=("$w"); fi
			same_sum "$name $kind write read back" "$(sha_dev "$DISK" "$MIB")" \
				"$(sha_file /tmp/write.bin)"
			dev_write "$DISK" /tmp/read.bin "$MIB"	# the next round reads sum again
			info "$name $kind: read $r MB/s, write $w MB/s"
			unimport
		done
	done
	pmed=$(stats "${pr[@]}" | cut -d' ' -f2)
	smed=$(stats "${sr[@]}" | cut -d' ' -f2)
	SUMMARIES+=("$name read MB/s  plain min/med/max $(stats "${pr[@]}" | tr ' ' /)  session $(stats "${sr[@]}" | tr ' ' /)  session/plain median $(ratio "$smed" "$pmed")")
	pmed=$(stats "${pw[@]}" | cut -d' ' -f2)
	smed=$(stats "${sw[@]}" | cut -d' ' -f2)
	SUMMARIES+=("$name write MB/s plain min/med/max $(stats "${pw[@]}" | tr ' ' /)  session $(stats "${sw[@]}" | tr ' ' /)  session/plain median $(ratio "$smed" "$pmed")")
}

vm1() {
	local i sum t0 t1 s0 ttio=() line new
	SUMMARIES=()
	run modprobe usbip-core
	run modprobe vhci-hcd
	run modprobe usbip-vudc num=1
	run modprobe usbip-host
	run modprobe usb-storage
	run modprobe sd_mod
	nft_hooks_hold
	gadget_prepare
	random_file /tmp/disk.img "$MIB"
	sum=$(sha_file /tmp/disk.img)
	random_file /tmp/write.bin "$MIB"

	gadget_storage_create hostdisk /tmp/disk.img
	at_exit gadget_remove hostdisk
	run "$USBIP" bind -b "$GADGET_BUSID"
	wait_for "$GADGET_BUSID bound to usbip-host" 30 \
		test -e "/sys/bus/usb/drivers/usbip-host/$GADGET_BUSID"
	SRV=$GADGET_BUSID
	rounds usbip-host
	run "$USBIP" unbind -b "$GADGET_BUSID"
	gadget_remove hostdisk

	gadget_storage_on_udc benchdisk /tmp/disk.img "$VUDC"
	at_exit gadget_remove benchdisk
	wait_for "$VUDC speed" 30 sh -c "[ \"\$(cat /sys/class/udc/$VUDC/current_speed)\" != UNKNOWN ]"
	SRV=$VUDC
	rounds usbip-vudc

	step "$CUTS cuts of a session on $VUDC under a read loop"
	import session
	(while dd if="$DISK" of=/dev/null iflag=direct bs=1M count="$MIB" status=none; do :; done) &
	for i in $(seq 1 "$CUTS"); do
		nft add table inet bcut
		nft add chain inet bcut out '{ type filter hook output priority 0; }'
		nft add rule inet bcut out tcp sport "$CPORT" drop
		nft add rule inet bcut out tcp dport "$CPORT" drop
		wait_for "reconnecting" 30 session_is reconnecting
		sleep 1	# the outage itself
		nft delete table inet bcut
		s0=$(awk '{ print $3 }' "/sys/block/${DISK#/dev/}/stat")
		t0=$(now_ns)
		new=$(token)
		CPORT=$(python3 "$ATT" resume "$SRV" "$PORT" "$TOKEN" "$new") || die "resume failed"
		TOKEN=$new
		wait_for "I/O after cut $i" 60 sh -c "[ \$(awk '{ print \$3 }' /sys/block/${DISK#/dev/}/stat) -gt $((s0 + 2048)) ]"
		t1=$(now_ns)
		ttio+=($(((t1 - t0) / 1000000)))
		info "cut $i: I/O again $(((t1 - t0) / 1000000)) ms after the link came back"
	done
	kill %1 2>/dev/null || true
	wait 2>/dev/null || true
	unimport

	for line in "${SUMMARIES[@]}"; do
		echo "SUMMARY $line"
	done
	echo "SUMMARY I/O after a restored link, ms: min/med/max $(stats "${ttio[@]}" | tr ' ' /) over $CUTS cuts"
	dmesg_check || die "kernel log has warnings"
}
