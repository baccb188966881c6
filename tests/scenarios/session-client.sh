# SPDX-License-Identifier: GPL-2.0
# @desc: sessions end to end, vhci-hcd over usbip-vudc in one VM: ext4 on the imported disk with continuous fsync'd writes survives link cuts (RST via nft reject, silent drops caught by the heartbeat) with a resume after each; no I/O error, same disk node, every file's sha256 and e2fsck clean; a cut past the resume window tears down cleanly on both sides
# @kernels: 6.1 6.12
# @vms: 1
# @modules: ours
# @timeout: 900
#
# No usbipd: tests/guest/session_attach.py holds both ends of a ::1
# connection and writes them, with the session's words, to usbip-vudc.0's
# usbip_sockfd and vhci_hcd.0's attach; after a cut it makes a new
# connection and writes it to usbip_sockfd ("resume FD token=...") and to
# vhci's resume file, as usbipd and usbip attach --persistent do.
#
#  1. A mass-storage gadget (MIB MiB) on usbip-vudc.0, imported with a
#     session (window 30 s, heartbeat 1 s); ext4 on it, mounted.
#  2. A writer puts 256 KiB files of random data on it, each fsync'd, and
#     records their sha256.  CUTS times, while it runs, the connection is
#     cut: odd rounds with "reject with tcp reset" (both ends get an RST
#     when they send), even rounds by dropping every packet (only the
#     client's heartbeat notices).  The cut lasts 1 to 3 s after the
#     client's port shows "reconnecting"; then the rule goes and the
#     session is resumed on a new connection (a new token each time).
#     The time from the resume to the writer's next file is recorded.
#  3. The writer stops; caches dropped; every file's sha256 matches; no
#     I/O error in the kernel log; the disk is the same node (major:minor)
#     as before the cuts; e2fsck -fn finds the filesystem clean.
#  4. Past the window: a second import with a 2 s window, cut by drops and
#     not resumed: the vhci port becomes free and usbip-vudc.0 available
#     again, usbip_session "none"; a plain import then reads the disk.

MIB=64
CUTS=${SESSION_CUTS:-6}
VHCI=/sys/devices/platform/vhci_hcd.0
VUDC=usbip-vudc.0
SYS_VUDC=/sys/devices/platform/$VUDC
ATT=${REPO:-}/tests/guest/session_attach.py

vhci_session_state() {
	awk -v p="$PORT" '$1 == p { print $2 }' "$VHCI/session"
}

session_is() {
	[ "$(vhci_session_state)" = "$1" ]
}

vhci_port_free() {
	awk -v p="$1" 'NR > 1 && $2 + 0 == p && $3 + 0 == 4 { f = 1 } END { exit !f }' \
		"$VHCI/status"
}

vudc_status_is() {
	[ "$(cat "$SYS_VUDC/usbip_status")" = "$1" ]
}

new_token() {
	od -An -tx1 -N16 /dev/urandom | tr -d ' \n'
}

# cut_start KIND: cut the connection of client port CPORT (nft table vmcut)
cut_start() {
	local verdict
	if [ "$1" = reset ]; then verdict="reject with tcp reset"; else verdict=drop; fi
	nft add table inet vmcut
	nft add chain inet vmcut out '{ type filter hook output priority 0; }'
	nft add rule inet vmcut out tcp sport "$CPORT" "$verdict"
	nft add rule inet vmcut out tcp dport "$CPORT" "$verdict"
}

cut_end() {
	nft delete table inet vmcut
}

# files_written: how many files the writer finished
files_written() {
	cat /tmp/writer.count 2>/dev/null || echo 0
}

more_files_than() {
	[ "$(files_written)" -gt "$1" ]
}

writer() {
	local i=0
	while [ ! -e /tmp/writer.stop ]; do
		i=$((i + 1))
		head -c 262144 /dev/urandom >"/tmp/w.tmp"
		cp /tmp/w.tmp "/mnt/s/f$i"
		sync "/mnt/s/f$i" || { echo "fsync of f$i failed" >/tmp/writer.err; return 1; }
		echo "$(sha256sum </tmp/w.tmp | cut -d' ' -f1) f$i" >>/tmp/writer.sums
		echo "$i" >/tmp/writer.count.tmp && mv /tmp/writer.count.tmp /tmp/writer.count
	done
}

vm1() {
	local token disk devno pid i kind n0 t0 t1 hold out bad
	run modprobe usbip-core
	run modprobe vhci-hcd
	run modprobe usbip-vudc num=1
	run modprobe usb-storage
	run modprobe sd_mod
	run modprobe ext4
	run modprobe nf_tables
	run modprobe nft_reject_inet
	gadget_prepare

	step "mass-storage gadget on $VUDC, imported with a session"
	truncate -s "${MIB}M" /tmp/disk.img
	gadget_storage_on_udc sdisk /tmp/disk.img "$VUDC"
	at_exit gadget_remove sdisk
	wait_for "$VUDC speed" 30 sh -c "[ \"\$(cat /sys/class/udc/$VUDC/current_speed)\" != UNKNOWN ]"
	[ "$(cat "$SYS_VUDC/usbip_ext_caps")" = 1 ] || die "$VUDC usbip_ext_caps is not 1"
	[ "$(cat "$VHCI/ext_caps")" = 1 ] || die "vhci ext_caps is not 1"
	token=$(new_token)
	out=$(python3 "$ATT" attach "$VUDC" "$token" 30000 1000) || die "session_attach.py attach failed"
	read -r PORT _ CPORT <<<"$out"
	info "port $PORT, client tcp port $CPORT"
	wait_for "session active" 30 session_is active
	[ "$(cut -d' ' -f1 "$SYS_VUDC/usbip_session")" = active ] || die "server session not active"
	wait_disk disk 120 disk_of_vhci
	devno=$(stat -c %t:%T "$disk")
	info "disk $disk ($devno)"
	echo 120 >"/sys/block/${disk#/dev/}/device/timeout"
	run mkfs.ext4 -q -F "$disk"
	mkdir -p /mnt/s
	run mount "$disk" /mnt/s

	step "writer running; $CUTS cuts with a resume after each"
	rm -f /tmp/writer.*
	writer &
	pid=$!
	wait_for "first files" 60 more_files_than 3
	for i in $(seq 1 "$CUTS"); do
		if [ $((i % 2)) = 1 ]; then kind=reset; else kind=drop; fi
		n0=$(files_written)
		dmesg_mark "cut $i ($kind)"
		cut_start "$kind"
		wait_for "port $PORT reconnecting after cut $i ($kind)" 30 session_is reconnecting
		hold=$((1 + i % 3))
		sleep "$hold"	# the outage itself: the time the link stays down
		cut_end
		token_new=$(new_token)
		t0=$(now_ns)
		CPORT=$(python3 "$ATT" resume "$VUDC" "$PORT" "$token" "$token_new") ||
			die "resume after cut $i failed"
		token=$token_new
		wait_for "session active after cut $i" 30 session_is active
		wait_for "writing again after cut $i" 60 more_files_than "$n0"
		t1=$(now_ns)
		info "cut $i ($kind, ${hold} s down): files $n0 -> $(files_written); I/O again $(((t1 - t0) / 1000000)) ms after the resume"
		metric "session_io_after_resume_ms_$i" $(((t1 - t0) / 1000000)) ms
		[ ! -e /tmp/writer.err ] || die "writer: $(cat /tmp/writer.err)"
		kill -0 "$pid" 2>/dev/null || die "writer died after cut $i"
		dmesg_check || die "kernel log has warnings after cut $i"
	done

	step "writer stopped; every file checked"
	touch /tmp/writer.stop
	wait "$pid" || die "writer failed: $(cat /tmp/writer.err 2>/dev/null)"
	sync
	echo 3 >/proc/sys/vm/drop_caches
	bad=0
	while read -r sum f; do
		[ "$(sha256sum <"/mnt/s/$f" | cut -d' ' -f1)" = "$sum" ] || { bad=$((bad + 1)); info "$f differs"; }
	done </tmp/writer.sums
	[ "$bad" = 0 ] || die "$bad files differ"
	info "$(wc -l </tmp/writer.sums) files, sha256 all match"
	if dmesg | grep -E 'I/O error|Buffer I/O|EXT4-fs error|reset high-speed USB device'; then
		die "I/O errors or a device reset in the kernel log"
	fi
	[ "$(stat -c %t:%T "$disk")" = "$devno" ] || die "disk node changed"
	[ "$(disk_of_vhci)" = "$disk" ] || die "disk is no longer $disk"
	run umount /mnt/s
	run e2fsck -fn "$disk"
	echo "$PORT" >"$VHCI/detach"
	wait_for "vhci port $PORT free" 60 vhci_port_free "$PORT"
	wait_for "$VUDC available" 60 vudc_status_is 1

	step "past the window: a 2 s window, cut and not resumed"
	token=$(new_token)
	out=$(python3 "$ATT" attach "$VUDC" "$token" 2000 500) || die "attach failed"
	read -r PORT _ CPORT <<<"$out"
	wait_for "session active" 30 session_is active
	wait_disk disk 120 disk_of_vhci
	cut_start drop
	wait_for "port $PORT reconnecting" 30 session_is reconnecting
	wait_for "vhci port $PORT free after the window" 60 vhci_port_free "$PORT"
	cut_end
	wait_for "$VUDC available after the window" 60 vudc_status_is 1
	wait_for "$VUDC session none" 30 sh -c "[ \"\$(cat $SYS_VUDC/usbip_session)\" = none ]"
	python3 "$REPO/tests/guest/vudc_attach.py" "$VUDC" >/tmp/plain.out || die "plain attach failed"
	read -r PORT _ </tmp/plain.out
	wait_disk disk 120 disk_of_vhci
	run e2fsck -fn "$disk"
	echo "$PORT" >"$VHCI/detach"
	wait_for "vhci port $PORT free" 60 vhci_port_free "$PORT"
	dmesg_check || die "kernel log has warnings"
}
