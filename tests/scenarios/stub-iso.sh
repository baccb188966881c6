# SPDX-License-Identifier: GPL-2.0
# @desc: isochronous OUT through our usbip-host to QEMU usb-audio on qemu-xhci and UHCI: raw iso CMD_SUBMITs (1..1024 packets, gaps, reverse order, queued, refused, bad input, usbip_sockfd -1 with URBs in flight) and Debian's vhci-hcd + snd-usb-audio + aplay; every played byte checked in the devices' wav files
# @kernels: 6.1
# @vms: 2
# @modules: ours reference
# @timeout: 720
#
# vm1 (server: our usbip-host, Debian's usbipd) has four QEMU usb-audio
# devices, each writing what it plays to its own wav file in the run
# directory, which the guest reads back over 9p (tests/vm/lib.sh
# vm_usb_audio).  QEMU's usb-audio takes 192-byte packets on one iso OUT
# endpoint; with the mixing engine off its bytes reach the file unchanged.
#
# xiso (qemu-xhci) and uiso (UHCI): usbip_sockfd must refuse UDP,
# unconnected TCP and unix sockets, a file, a closed fd, -5 and text, and
# a connected TCP socket while the device is in use.
# tests/guest/iso_usbip.py imports the device over 127.0.0.1 and keeps
# four iso URBs of 200 packets of silence in flight until the server
# writes -1 to usbip_sockfd, which must end the connection and make the
# device available again.  New clients then send
# iso bad input (number_of_packets 1025 and -5, a frame beyond the
# buffer: each must drop the connection with one usbip-host error line).
# The last client plays seeded random audio with no all-zero frame in
# URBs of 1, 8, 16 (packets separated by gap bytes that must not be
# played), 32 (packets in reverse buffer order), 64 and 1024 (UHCI: 900,
# its limit; 1024 there must come back -EFBIG) packets, then eight URBs
# queued at once without URB_ISO_ASAP (answers in order; on UHCI their
# start_frames must not overlap), then one URB whose buffer allocation
# fails (usbip-host's fail_alloc test hook: answered -ENOMEM without
# packets, the connection goes on), then URBs the core refuses (0
# packets: -EINVAL, a packet above wMaxPacketSize: -EMSGSIZE).  Each RET_SUBMIT's
# status, actual_length, number_of_packets, error_count and every iso
# descriptor are checked (a packet may fail only as a whole, with its
# status negative and counted in error_count: QEMU's UHCI skips the frames
# its timer runs late for, which under TCG on a busy host gives -EXDEV),
# and the wav file, once all-zero frames are removed, must be exactly a
# prefix of the packets reported delivered, covering all but the last
# four URBs (which only push the rest out of QEMU's stdio buffer).
#
# xplay (qemu-xhci) and uplay (UHCI): vm2 (Debian's vhci-hcd, usbip and
# snd-usb-audio, aplay from alsa-utils) attaches the device and plays 2 s
# of seeded random audio on hw:N,0.  Periods are 50 packets, so that even
# after an underrun every packet is a 192-byte piece of the pattern; the
# buffer is 4 s because snd-usb-audio keeps only some 18 ms of audio in
# flight, so over USB/IP with TCG round trips the stream runs at a
# fraction of real time, and ALSA fails a write with EIO when no period
# completes within 1.1 buffer times.  vm1 checks that its wav holds the
# packets of the first 1.5 s (the last 0.5 s covers what closing the PCM
# may cut off: SET_INTERFACE 0 makes QEMU drop its buffer) in order,
# silence aside, with at most 25% missing: snd-usb-audio does not look
# at per-packet errors, so packets the emulated controller fails to send
# in their frame cannot be told apart from ones lost on the way (QEMU's
# UHCI skips the frames its timer runs late for, and under TCG on a busy
# host it does: -EXDEV).  The raw client above sees every packet's status
# and checks exactly which ones were played.
#
# QEMU has no device with an iso IN endpoint usable here, so iso IN is
# not covered by this scenario.

PLAY_NEED=$((192000 * 3 / 2))
PLAY_TOTAL=$((192000 * 2))

host_prepare() {
	vm_usb_controller 1 xhci
	vm_usb_controller 1 uhci
	vm_usb_audio 1 xiso xhci.0
	vm_usb_audio 1 uiso uhci.0
	vm_usb_audio 1 xplay xhci.0
	vm_usb_audio 1 uplay uhci.0
}

iso_py() {
	python3 "$REPO/tests/guest/iso_usbip.py" "$@"
}

status_is() {
	[ "$(cat "/sys/bus/usb/devices/$1/usbip_status")" = "$2" ]
}

err_lines() {
	dmesg -l err | grep -c 'usbip-host' || true
}

# audio_busid NAME: busid of the usb-audio device with serial NAME.
audio_busid() {
	qemu_usb_busid 46f4:0002 "$1"
}

bind_audio() {
	local name=$1 busid
	wait_for "$name on the USB bus" 60 audio_busid "$name"
	busid=$(audio_busid "$name")
	run "$USBIP" bind -b "$busid" >&2
	wait_for "$busid bound to usbip-host" 30 test -e "/sys/bus/usb/drivers/usbip-host/$busid"
	status_is "$busid" 1 || die "usbip_status of $busid is not 1 after bind"
	echo "$busid"
}

# raw_leg NAME MAXPKTS ordered|any: the raw client against one device.
raw_leg() {
	local name=$1 maxpkts=$2 frames=$3 busid before after bad hold_pid
	step "server: raw iso client on $name (up to $maxpkts packets per URB)"
	busid=$(bind_audio "$name")

	# usbip_sockfd refuses what is not a connected TCP socket, and any
	# socket while in use; "-1" ends a connection with iso URBs in flight
	iso_py sockfd "$busid" free || die "usbip_sockfd took a bad fd"
	status_is "$busid" 1 || die "usbip_status is not 1 after bad usbip_sockfd writes"
	iso_py hold "$busid" 200 >/tmp/hold.log 2>&1 &
	hold_pid=$!
	wait_for "the held connection" 60 grep -q HOLD-READY /tmp/hold.log
	status_is "$busid" 2 || die "usbip_status is not 2 with a client attached"
	# The busy case means something only while the held client still
	# holds its connection: if it ended, say why (its log), not "took".
	kill -0 "$hold_pid" 2>/dev/null ||
		{ cat /tmp/hold.log; die "the held client ended before the busy check"; }
	iso_py sockfd "$busid" busy ||
		{ kill -0 "$hold_pid" 2>/dev/null || cat /tmp/hold.log
		  die "usbip_sockfd took a second socket"; }
	echo -1 >"/sys/bus/usb/devices/$busid/usbip_sockfd"
	wait "$hold_pid" || { cat /tmp/hold.log; die "held client failed"; }
	cat /tmp/hold.log
	wait_for "usbip_status 1 after -1" 30 status_is "$busid" 1

	before=$(err_lines)
	iso_py client "$busid" "/run/vmtest/$name.wav" "/tmp/$name.expect" "$maxpkts" "$frames" ||
		die "raw iso client on $name failed"
	wait_for "usbip_status 1 after the raw client" 30 status_is "$busid" 1
	after=$(err_lines)
	[ "$after" -eq $((before + 3)) ] ||
		die "$name: $((after - before)) new usbip-host error lines for 3 bad inputs"
	bad=$(dmesg -l err | grep 'usbip-host' | tail -n 3)
	echo "$bad" | sed 's/^/    dmesg| /'
	[ "$(echo "$bad" | grep -c 'number_of_packets out of range')" -eq 2 ] ||
		die "$name: the bad packet counts were not logged as such"
	echo "$bad" | grep -q 'iso frame beyond the buffer' ||
		die "$name: the frame beyond the buffer was not logged as such"
	metric "${name}_bytes" "$(stat -c %s "/tmp/$name.expect")" B
	run "$USBIP" unbind -b "$busid"
	info "PASS: raw iso on $name"
}

# play_leg NAME: vm2 imports the device and plays into it.
play_leg() {
	local name=$1 busid msg
	step "server: export $name for Debian's vhci-hcd + snd-usb-audio"
	busid=$(bind_audio "$name")
	iso_py pattern "$name" "$PLAY_TOTAL" "/tmp/$name.expect"
	run msg_send "$CLIENT_ADDR" "$MSG_PORT" 120 "play $busid $name"
	msg=$(msg_wait "$MSG_PORT" 300) || die "no word from the client"
	[ "$msg" = "played $name" ] || die "client says: $msg"
	iso_py wavpackets "/run/vmtest/$name.wav" "/tmp/$name.expect" "$PLAY_NEED" 60 25 ||
		die "what vm2 played on $name is not in the wav file"
	wait_for "usbip_status 1 after the detach" 60 status_is "$busid" 1
	run "$USBIP" unbind -b "$busid"
	info "PASS: aplay through Debian's vhci-hcd on $name"
}

vm1() {
	step "server: host controllers, our usbip-host, Debian's usbipd"
	qemu_usb_prepare
	run modprobe usbip-host
	usbip_export
	raw_leg xiso 1024 any
	raw_leg uiso 900 ordered
	play_leg xplay
	play_leg uplay
	run msg_send "$CLIENT_ADDR" "$MSG_PORT" 120 end
}

# pcm_dev: the playback PCM of the one sound card (hw:N,0).
pcm_dev() {
	local p
	for p in /dev/snd/pcmC*D0p; do
		[ -e "$p" ] || return 1
		p=${p#/dev/snd/pcmC}
		echo "hw:${p%D0p},0"
		return 0
	done
	return 1
}

vm2() {
	local msg busid name port pcm t0 t1

	step "client: Debian's vhci-hcd and snd-usb-audio"
	run modprobe vhci-hcd
	run modprobe snd-usb-audio
	for _ in 1 2 3; do
		msg=$(msg_wait "$MSG_PORT" 600) || die "no word from the server"
		[ "$msg" != end ] || return 0
		read -r _ busid name <<<"$msg"

		step "client: attach $name ($busid), play $PLAY_TOTAL bytes with aplay"
		iso_py pattern "$name" "$PLAY_TOTAL" /tmp/play.raw
		run "$USBIP" attach -r "$SERVER_ADDR" -b "$busid"
		wait_for "the sound card of $name" 60 pcm_dev
		pcm=$(pcm_dev)
		port=$(vhci_port_of_busid "$busid")
		info "$name on vhci port $port, $pcm: $(cat /proc/asound/cards | head -n 2 | tail -n 1)"
		t0=$(now_ns)
		if ! aplay -q -D "$pcm" -t raw -f S16_LE -c 2 -r 48000 \
			--period-size=2400 --buffer-size=192000 /tmp/play.raw; then
			msg_send "$SERVER_ADDR" "$MSG_PORT" 60 "aplay failed on $name" || true
			die "aplay failed on $name"
		fi
		t1=$(now_ns)
		metric "${name}_aplay" $(((t1 - t0) / 1000000)) ms
		run "$USBIP" detach -p "$port"
		wait_for "the sound card to go away" 60 sh -c '! ls /dev/snd/pcmC*D0p'
		run msg_send "$SERVER_ADDR" "$MSG_PORT" 60 "played $name"
	done
	die "server did not say end"
}
