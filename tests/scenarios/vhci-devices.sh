# SPDX-License-Identifier: GPL-2.0
# @desc: our vhci-hcd with four kinds of device from Debian's usbip-host: SuperSpeed gadget disk (O_DIRECT, odd SG splits), ACM serial both ways, QEMU usb-kbd keys injected from the host, QEMU usb-storage; parallel attaches, port suspend/resume, Debian's and our tools, lsusb -t, clean unload
# @kernels: 6.1
# @vms: 2
# @modules: reference ours
# @timeout: 1200
#
# vm1 (server, fd00:5b1b::1): Debian's usbip-host and usbipd.  dummy_hcd
# with num=2 is_super_speed=1 gives two SuperSpeed UDCs: a mass-storage
# gadget (MIB MiB of random data) on the first, a CDC ACM gadget on the
# second.  qemu-xhci carries QEMU's usb-kbd and a usb-storage stick.  All
# four are bound to usbip-host.  The host side keeps a monitor socket on
# vm1's QEMU and types keys on the keyboard when vm2 asks for them (a file
# in vm2's run directory).
#
# vm2 (client, fd00:5b1b::2): our vhci-hcd.
#   - four parallel "usbip attach" (ours) land on distinct ports; the port,
#     hub (USB 2 or USB 3 root hub) and speed of each device agree between
#     the attach output, sysfs, "usbip port" (ours and Debian's) and lsusb -t;
#   - the gadget disk runs at 5000 Mb/s on the USB 3 hub: MIB MiB written
#     and read back with O_DIRECT in 1 MiB requests (average request size
#     checked in the disk's stat), then 4 MiB written and read with O_DIRECT
#     from buffers starting 512 bytes into a page, in 31.5 KiB (a 3584-byte
#     SG entry and seven 4096-byte ones) and 1 MiB - 512 requests; sha256 on
#     the client and of the server's backing file;
#   - ports suspended and resumed by runtime PM: the ACM device (USB 3 link
#     state U3/U0) and the keyboard (USB 2 suspend/resume);
#   - ACM: 256 KiB of random bytes each way through ttyACM <-> ttyGS0 in
#     raw mode, sha256 compared;
#   - HID: the input device appears with usbhid bound; keys typed by the
#     host on vm1's keyboard arrive as EV_KEY events on /dev/input/eventN;
#   - QEMU usb-storage: read with O_DIRECT, sha256 of the host's image;
#   - Debian's usbip detach of all four, Debian's attach of all four (one
#     after the other), every device back, disks read again, our detach of
#     all four; ports free, vhci-hcd unloads.
#
# Messages: the server sends "ready ..." to the client (REP_PORT), then
# answers requests "REQ" (REQ_PORT) with one line each (REP_PORT).

# gadget disk size and O_DIRECT write/read size: 32 MiB are 32 requests of
# 1 MiB each way, as many as the request-size checks and the checksums need
# (64 before: VMTEST_ENV="VHCI_DEVICES_MIB=64")
MIB=${VHCI_DEVICES_MIB:-32}
ODD_MIB=4               # part rewritten/read from misaligned buffers
REREAD_MIB=8            # read again after the re-attach
QMIB=8                  # QEMU usb-storage image
# shellcheck disable=SC2034  # read by acm_serve and acm_exchange (tests/guest/lib.sh)
ACM_BYTES=$((256 * 1024))
KEYS="u s b i p 1 2 3"
KEY_CODES="22 31 48 23 25 2 3 4"   # Linux KEY_U KEY_S KEY_B KEY_I KEY_P KEY_1 KEY_2 KEY_3
REQ_PORT=5121           # client -> server requests
REP_PORT=5122           # server -> client answers
OURS_USBIP=build/tools/src/usbip
DEB_USBIP=/usr/sbin/usbip
VHCI=/sys/devices/platform/vhci_hcd.0

# ---------------------------------------------------------------------------
# Host side

host_prepare() {
	vm_xhci_kbd_stick 1 "$QMIB" 2
}

# ---------------------------------------------------------------------------
# Server

vm1() {
	local req busids=() speeds=()

	step "server: Debian's usbip-host, dummy_hcd num=2 is_super_speed=1, qemu-xhci"
	run modprobe usbip-host
	run modprobe dummy_hcd num=2 is_super_speed=1
	run modprobe libcomposite
	qemu_usb_prepare
	wait_for "dummy_udc.1" 20 test -e /sys/class/udc/dummy_udc.1

	step "server: ${MIB} MiB mass-storage gadget on dummy_udc.0, ACM gadget on dummy_udc.1"
	server_four_devices "$MIB"
	busids=("${SRV_BUSIDS[@]}") speeds=("${SRV_SPEEDS[@]}")

	step "server: Debian's usbipd, usbip bind of the four devices"
	usbipd_start
	at_exit usbipd_stop
	bind_all "$DEB_USBIP" "${busids[@]}"
	msg_send "$CLIENT_ADDR" "$REP_PORT" 300 "ready disk=${busids[0]} acm=${busids[1]} kbd=${busids[2]} stick=${busids[3]} speeds=$(IFS=,; echo "${speeds[*]}") dsha=$(sha_file /tmp/ssdisk.img) qsha=$(qemu_image_sha qstick)" ||
		die "the client never listened"

	step "server: answer the client's requests"
	rpc_serve server_four_serve
	req=$RPC_DONE

	step "server: every device available again, backing file as the client left it"
	wait_available "${busids[@]}"
	same_sum "backing file" "$(sha_file /tmp/ssdisk.img)" "$(echo "$req" | sed -n 's/.*dsha=\([0-9a-f]*\).*/\1/p')"
}

# ---------------------------------------------------------------------------
# Client

# vhci_buses: bus numbers of every vhci root hub.
vhci_buses() {
	cat /sys/devices/platform/vhci_hcd.*/usb*/busnum | sort -n | tr '\n' ' '
}

# check_topology: the ports of PORTS[] agree with sysfs, both "usbip port"
# outputs and lsusb -t.  Sets LB[] (local busids).
check_topology() {
	local i p lb want_ss sp t0=$SECONDS
	"$OURS" port >/tmp/port.ours || die "our usbip port failed"
	"$DEB_USBIP" port >/tmp/port.deb || die "Debian's usbip port failed"
	sed 's/^/    ours| /' /tmp/port.ours
	# ours puts an IPv6 address in brackets in the URL, Debian's does not
	sed 's|usbip://\[\([^]]*\)\]:|usbip://\1:|' /tmp/port.ours | diff -u /tmp/port.deb - ||
		die "our usbip port differs from Debian's"
	# "port|speed text|local busid|remote busid" per imported device
	awk '/^Port [0-9]+:/ { p = $2; sub(":", "", p); p += 0; sp = $0; sub(/.* at /, "", sp) }
	     /-> usbip:\/\// { n = split($NF, a, "/"); print p "|" sp "|" $1 "|" a[n] }' \
		/tmp/port.deb >/tmp/port.parsed
	[ "$(wc -l </tmp/port.parsed)" -eq 4 ] || die "usbip port lists $(wc -l </tmp/port.parsed) devices, not 4"
	for i in 0 1 2 3; do
		p=${PORTS[i]} sp=${SPEEDS[i]}
		want_ss=0
		[ "$sp" -ge 5000 ] && want_ss=1
		[ $((p % (2 * NPORTS) >= NPORTS)) -eq "$want_ss" ] ||
			die "${NAMES[i]} (speed $sp) on port $p, the wrong root hub"
		lb=$(vhci_local_busid "$p")
		LB[i]=$lb
		[ -d "/sys/bus/usb/devices/$lb" ] || die "no $lb for port $p"
		case "$(readlink -f "/sys/bus/usb/devices/$lb")" in
		/sys/devices/platform/vhci_hcd.*/*) ;;
		*) die "$lb is not under a vhci_hcd" ;;
		esac
		[ "$(cat "/sys/bus/usb/devices/$lb/speed")" = "$sp" ] ||
			die "$lb runs at $(cat "/sys/bus/usb/devices/$lb/speed"), the server's device at $sp"
		[ "$(cat "/sys/bus/usb/devices/$lb/idVendor"):$(cat "/sys/bus/usb/devices/$lb/idProduct")" = "${IDS[i]}" ] ||
			die "$lb is not a ${IDS[i]}"
		grep -qx "$p|.*(${sp}Mbps)|$lb|${B[i]}" /tmp/port.parsed ||
			die "usbip port: no 'port $p, ${sp}Mbps, $lb, ${B[i]}' in: $(cat /tmp/port.parsed)"
		info "${NAMES[i]}: server ${B[i]} -> port $p -> $lb, ${sp} Mb/s"
	done
	lsusb -t | sed 's/^/    lsusb-t| /'
	# "bus port dev speed" of the devices on vhci's root hubs, both views
	lsusb -t | awk -v buses=" $(vhci_buses) " '
		/^\/:  Bus / { bus = $3; sub(/\..*/, "", bus); bus += 0; next }
		/^    \|__ Port / && index(buses, " " bus " ") {
			port = $3; sub(":", "", port); dev = $5; sub(",", "", dev)
			print bus, port + 0, dev + 0, $NF }' | sort -u >/tmp/lsusb.view
	for lb in /sys/devices/platform/vhci_hcd.*/usb*/*-*; do
		[ -f "$lb/devnum" ] || continue
		case "${lb##*/}" in *:*|*.*) continue ;; esac
		echo "$(cat "$lb/busnum") ${lb##*-} $(cat "$lb/devnum") $(cat "$lb/speed")M"
	done | sort -u >/tmp/sysfs.view
	diff -u /tmp/sysfs.view /tmp/lsusb.view || die "lsusb -t and sysfs disagree on vhci's ports"
	[ "$(wc -l </tmp/lsusb.view)" -eq 4 ] || die "lsusb -t shows $(wc -l </tmp/lsusb.view) devices on vhci"
	info "ports, usbip port and lsusb -t agree ($((SECONDS - t0)) s)"
}

# attach_all TOOL parallel|serial: attaches B[0..3] with TOOL, four
# processes at once or one after the other (each waiting for the previous
# device to show up in sysfs); sets PORTS[].
attach_all() {
	local tool=$1 mode=$2 i pids=() fails=0 t0=$SECONDS
	for i in 0 1 2 3; do
		if [ "$mode" = parallel ]; then
			"$tool" attach -r "$SERVER_ADDR" -b "${B[i]}" >"/tmp/att.$i" 2>&1 &
			pids[i]=$!
			continue
		fi
		"$tool" attach -r "$SERVER_ADDR" -b "${B[i]}" >"/tmp/att.$i" 2>&1 ||
			die "attach of ${B[i]} failed: $(cat "/tmp/att.$i")"
		wait_for "${B[i]} listed by usbip port" 60 prints vhci_port_of_busid "${B[i]}"
		PORTS[i]=$(vhci_port_of_busid "${B[i]}")
		wait_for "the device on port ${PORTS[i]} in sysfs" 90 \
			test -e "/sys/bus/usb/devices/$(vhci_local_busid "${PORTS[i]}")/idVendor"
	done
	for i in "${!pids[@]}"; do
		wait "${pids[i]}" || { fails=$((fails + 1)); info "attach of ${B[i]} failed: $(cat "/tmp/att.$i")"; }
	done
	[ "$fails" -eq 0 ] || die "$fails of 4 parallel attaches failed"
	for i in 0 1 2 3; do
		if [ "$mode" = parallel ]; then
			# our attach names the port; check_topology checks it
			# against "usbip port"
			PORTS[i]=$(sed -n "s|^usbip: attached remote device .*/${B[i]} to port \([0-9]*\)$|\1|p" "/tmp/att.$i")
			[ -n "${PORTS[i]}" ] || die "attach of ${B[i]} named no port: $(cat "/tmp/att.$i")"
		fi
		at_exit "$OURS" detach -p "${PORTS[i]}"
	done
	info "ports: ${PORTS[*]} ($((SECONDS - t0)) s)"
	[ "$(printf '%s\n' "${PORTS[@]}" | sort -u | wc -l)" -eq 4 ] || die "ports not distinct: ${PORTS[*]}"
	for i in 0 1 2 3; do
		wait_for "port ${PORTS[i]} in use (state 6)" 90 vhci_port_used "${PORTS[i]}"
		wait_for "the device on port ${PORTS[i]} in sysfs" 90 \
			test -e "/sys/bus/usb/devices/$(vhci_local_busid "${PORTS[i]}")/idVendor"
	done
}

# detach_all TOOL: detaches PORTS[] with TOOL, waits until all are free.
detach_all() {
	local i
	for i in 0 1 2 3; do
		run "$1" detach -p "${PORTS[i]}"
	done
	for i in 0 1 2 3; do
		wait_for "port ${PORTS[i]} free" 60 vhci_port_free "${PORTS[i]}"
		wait_for "${LB[i]} gone" 60 sh -c "! test -e /sys/bus/usb/devices/${LB[i]}"
	done
	[ ! -d /var/run/vhci_hcd ] || [ -z "$(ls -A /var/run/vhci_hcd)" ] ||
		die "port records left: $(ls /var/run/vhci_hcd)"
	[ "$("$DEB_USBIP" port | grep -c '^Port')" -eq 0 ] || die "usbip port still lists devices"
}

# pm_cycle BUSID: runtime-suspends the device (its root hub port is
# suspended: USB 2 suspend or USB 3 U3), then resumes it.
pm_cycle() {
	local d=/sys/bus/usb/devices/$1
	echo 0 >"$d/power/autosuspend_delay_ms"
	echo auto >"$d/power/control"
	wait_for "$1 runtime-suspended" 60 grep -qx suspended "$d/power/runtime_status"
	echo on >"$d/power/control"
	wait_for "$1 resumed" 30 grep -qx active "$d/power/runtime_status"
	info "$1: suspended and resumed ($(cat "$d/power/runtime_suspended_time") ms suspended)"
}

write_helpers() {
	# oddio.py DEV FILE BYTES read|write: O_DIRECT I/O from a buffer that
	# starts 512 bytes into a page, alternately 31.5 KiB (3584 + 7 * 4096
	# bytes of pages) and 1 MiB - 512 per request.
	cat >/tmp/oddio.py <<-'PY'
	import mmap, os, sys
	dev, path, total, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
	area = mmap.mmap(-1, 4 << 20)
	buf = memoryview(area)[512:]
	sizes = [32256, (1 << 20) - 512]
	fd = os.open(dev, (os.O_WRONLY if mode == "write" else os.O_RDONLY) | os.O_DIRECT)
	f = open(path, "rb" if mode == "write" else "wb")
	pos, k = 0, 0
	while pos < total:
	    n = min(sizes[k % 2], total - pos)
	    if mode == "write":
	        buf[:n] = f.read(n)
	        done = os.pwrite(fd, buf[:n], pos)
	    else:
	        done = os.preadv(fd, [buf[:n]], pos)
	        f.write(buf[:n])
	    if done != n:
	        sys.exit("short %s at %d: %d of %d" % (mode, pos, done, n))
	    pos, k = pos + n, k + 1
	if mode == "write":
	    os.fsync(fd)
	print("%d requests" % k)
	PY
}

# blk_stat DEV FIELD: field of /sys/block/DEV/stat (1 = reads, 3 = read
# sectors, 5 = writes, 7 = written sectors).
blk_stat() {
	awk -v f="$2" '{ print $f }' "/sys/block/${1#/dev/}/stat"
}

vm2() {
	local msg i dev sd tty rd0 rs0 wr0 ws0 avg
	OURS=$REPO/$OURS_USBIP
	USBIP=$DEB_USBIP
	NAMES=(disk acm kbd stick)
	B=() LB=() PORTS=() SPEEDS=() IDS=(1d6b:0104 1d6b:0104 0627:0001 46f4:0001)
	CLIENT_RC=1 DISK_SHA=none
	[ -x "$OURS" ] || die "our tools are not built (make tools)"

	step "client: our vhci-hcd; usb-storage, cdc_acm, usbhid, hid_generic, evdev"
	run modprobe vhci-hcd
	[[ $(cat /sys/module/vhci_hcd/taint) == *O* ]] || die "the loaded vhci_hcd is not ours"
	NPORTS=$(cat /sys/module/vhci_hcd/parameters/nports)
	info "$NPORTS ports per hub, $(ls -d /sys/devices/platform/vhci_hcd.* | wc -l) controllers; vhci_hcd.0: USB 2 root hub bus $(vhci_root_bus 0 hs), USB 3 root hub bus $(vhci_root_bus 0 ss)"
	load_storage
	for m in cdc_acm usbhid hid_generic evdev; do modprobe "$m"; done
	write_helpers

	step "client: wait for the server"
	msg=$(msg_wait "$REP_PORT" 600) || die "no ready message from the server"
	info "server: $msg"
	for i in 0 1 2 3; do
		B[i]=$(echo "$msg" | sed -n "s/.* ${NAMES[i]}=\([^ ]*\).*/\1/p")
		SPEEDS[i]=$(echo "$msg" | sed -n 's/.* speeds=\([^ ]*\).*/\1/p' | cut -d, -f$((i + 1)))
	done
	report() {
		msg_send "$SERVER_ADDR" "$REQ_PORT" 60 "done rc=$CLIENT_RC dsha=$DISK_SHA" || true
	}
	at_exit report

	step "client: four parallel attaches with our usbip"
	attach_all "$OURS" parallel
	check_topology

	step "client: SuperSpeed gadget disk: ${MIB} MiB O_DIRECT write + read back, request sizes"
	wait_disk dev 120 disk_of_usb "${LB[0]}"
	sd=${dev#/dev/}
	info "$dev: max_hw_sectors_kb $(cat /sys/block/$sd/queue/max_hw_sectors_kb), max_sectors_kb $(cat /sys/block/$sd/queue/max_sectors_kb), max_segments $(cat /sys/block/$sd/queue/max_segments), max_segment_size $(cat /sys/block/$sd/queue/max_segment_size)"
	[ "$(cat "/sys/block/$sd/size")" -eq $((MIB * 2048)) ] || die "$dev has the wrong size"
	random_file /tmp/d1 "$MIB"
	wr0=$(blk_stat "$dev" 5) ws0=$(blk_stat "$dev" 7)
	dev_write "$dev" /tmp/d1 "$MIB" vhci_ss
	avg=$((($(blk_stat "$dev" 7) - ws0) / 2 / ($(blk_stat "$dev" 5) - wr0)))
	metric vhci_ss_avg_write_request_KiB "$avg" KiB
	[ "$avg" -ge 512 ] || die "average write request $avg KiB: large requests are split"
	rd0=$(blk_stat "$dev" 1) rs0=$(blk_stat "$dev" 3)
	dev_read "$dev" /tmp/r1 "$MIB" vhci_ss
	avg=$((($(blk_stat "$dev" 3) - rs0) / 2 / ($(blk_stat "$dev" 1) - rd0)))
	metric vhci_ss_avg_read_request_KiB "$avg" KiB
	same_sum "O_DIRECT read-back" "$(sha_file /tmp/r1)" "$(sha_file /tmp/d1)"
	rm -f /tmp/r1
	[ "$avg" -ge 512 ] || die "average read request $avg KiB: large requests are split"

	step "client: ${ODD_MIB} MiB O_DIRECT from buffers 512 bytes into a page (31.5 KiB and 1 MiB - 512 requests)"
	random_file /tmp/d2 "$ODD_MIB"
	run python3 /tmp/oddio.py "$dev" /tmp/d2 $((ODD_MIB << 20)) write
	run python3 /tmp/oddio.py "$dev" /tmp/r2 $((ODD_MIB << 20)) read
	same_sum "misaligned O_DIRECT read-back" "$(sha_file /tmp/r2)" "$(sha_file /tmp/d2)"
	dd if=/tmp/d2 of=/tmp/d1 conv=notrunc status=none
	DISK_SHA=$(sha_file /tmp/d1)
	rpc_ask disk-sha
	same_sum "server's backing file" "${ANSWER#sha=}" "$DISK_SHA"
	rm -f /tmp/d2 /tmp/r2

	step "client: ACM serial: port suspend (U3) and resume, 256 KiB each way in raw mode"
	wait_for "ttyACM of ${LB[1]}" 60 prints tty_of_usb "${LB[1]}"
	tty=$(tty_of_usb "${LB[1]}")
	pm_cycle "${LB[1]}"
	acm_exchange "$tty"

	step "client: HID keyboard: usbhid bound, port suspend and resume, keys typed on the server's QEMU"
	hid_input_wait "${LB[2]}"
	echo enabled >"/sys/bus/usb/devices/${LB[2]}/power/wakeup"
	pm_cycle "${LB[2]}"
	host_keys_check "$EVDEV" "$KEYS" "$KEY_CODES"

	step "client: QEMU usb-storage: ${QMIB} MiB O_DIRECT read"
	wait_disk dev 120 disk_of_usb "${LB[3]}"
	dev_read "$dev" /tmp/q "$QMIB" vhci_qemu_stick
	same_sum "QEMU usb-storage" "$(sha_file /tmp/q)" "$(echo "$msg" | sed -n 's/.* qsha=\([0-9a-f]*\).*/\1/p')"
	rm -f /tmp/q

	step "client: Debian's usbip detach of all four"
	detach_all "$DEB_USBIP"

	# Debian's attach is not made for racing itself: seen here, the loser
	# of a race for a port retries that same port on EBUSY until it gives
	# up ("import device"), and some runs fail early with "open
	# vhci_driver".  Its attaches go one after the other.
	step "client: four attaches with Debian's usbip, one after the other"
	for i in 0 1 2 3; do
		wait_for "${B[i]} exported again" 60 sh -c "$DEB_USBIP list -r $SERVER_ADDR | grep -q ' ${B[i]}:'"
	done
	attach_all "$DEB_USBIP" serial
	check_topology
	wait_disk dev 120 disk_of_usb "${LB[0]}"
	same_sum "gadget disk after re-attach, first $REREAD_MIB MiB" "$(sha_dev "$dev" "$REREAD_MIB")" \
		"$(head -c $((REREAD_MIB << 20)) /tmp/d1 | sha256sum | cut -d' ' -f1)"
	wait_disk dev 120 disk_of_usb "${LB[3]}"
	same_sum "QEMU usb-storage after re-attach" "$(sha_dev "$dev" "$QMIB")" \
		"$(echo "$msg" | sed -n 's/.* qsha=\([0-9a-f]*\).*/\1/p')"
	wait_for "ttyACM of ${LB[1]}" 60 prints tty_of_usb "${LB[1]}"
	wait_for "input device of ${LB[2]}" 60 prints input_of_usb "${LB[2]}"
	info "ACM tty $(tty_of_usb "${LB[1]}"), keyboard $(input_of_usb "${LB[2]}")"

	step "client: our usbip detach of all four; vhci-hcd unloads"
	detach_all "$OURS"
	dmesg_check || die "kernel log has warnings"
	run modprobe -r vhci-hcd
	[ ! -e "$VHCI" ] || die "vhci_hcd.0 still there after the unload"
	! grep -q '^vhci_hcd ' /proc/modules || die "vhci_hcd still loaded"
	dmesg | grep -E 'vhci' | tail -n 12 | sed 's/^/    dmesg| /'
	CLIENT_RC=0
}
