# SPDX-License-Identifier: GPL-2.0
# @desc: ours end to end over IPv6: our usbip-host + usbipd + usbip bind and our usbip-vudc + usbipd --device on one VM, our vhci-hcd + usbip attach on the other; dummy_hcd SuperSpeed gadget disk and vudc gadget disk sha256 both ways, ACM 64 KiB each way, QEMU usb-kbd keys from the host, QEMU usb-storage read; detach, clean dmesg, every module unloads
# @kernels: 6.1
# @vms: 2
# @modules: ours ours
# @timeout: 900
#
# vm1 (server, fd00:5b1b::1): our usbip-host, usbip-vudc and tools
# (build/tools/src).  dummy_hcd num=2 is_super_speed=1: a mass-storage
# gadget (MIB MiB, 16-32 chosen at random per run) on dummy_udc.0, a CDC ACM
# gadget on dummy_udc.1; qemu-xhci carries QEMU's usb-kbd and a usb-storage
# stick.  Those four are bound with our "usbip bind" and exported by our
# usbipd on port 3240.  usbip-vudc.0 carries a second mass-storage gadget
# (VMIB MiB), exported by our "usbipd --device -t 3241".  The host types
# keys on vm1's keyboard through a QEMU monitor socket when vm2 asks (a file
# in vm2's run directory).
#
# vm2 (client, fd00:5b1b::2): our vhci-hcd and our usbip.
#   - "usbip attach -r fd00:5b1b::1 -b BUSID" for the four devices and
#     "usbip --tcp-port 3241 attach -r fd00:5b1b::1 -d usbip-vudc.0";
#     each lands on its own port, on the root hub that fits its speed;
#   - both disks: read with O_DIRECT and compared with the server's
#     checksum, new random data written with O_DIRECT and read back, and the
#     server's backing file checked to hold it;
#   - ACM: 64 KiB of random bytes each way through ttyACM <-> ttyGS0 in raw
#     mode, sha256 compared by the receiver;
#   - HID: keys typed by the host arrive as EV_KEY events on the client;
#   - QEMU usb-storage: read with O_DIRECT, sha256 of the host's image;
#   - our usbip detach of all five; ports free; vhci-hcd unloads.
# Then the server sees every device available again (usbip_status 1 for the
# four and for usbip-vudc.0), unbinds with our usbip, stops both daemons,
# and usbip-host, usbip-vudc and usbip-core unload.  Both kernel logs clean.
#
# Messages: the server sends "ready ..." to the client (REP_PORT), then
# answers requests "REQ" (REQ_PORT) with one line each (REP_PORT).

MIB=$((16 + RANDOM % 17))   # dummy_hcd gadget disk, 16-32 MiB
VMIB=8                  # usbip-vudc gadget disk
QMIB=4                  # QEMU usb-storage image
ACM_BYTES=$((64 * 1024))
VUDC_PORT=3241
KEYS="u s b i p 1 2 3"
KEY_CODES="22 31 48 23 25 2 3 4"   # Linux KEY_U KEY_S KEY_B KEY_I KEY_P KEY_1 KEY_2 KEY_3
REQ_PORT=5121           # client -> server requests
REP_PORT=5122           # server -> client answers
VHCI=/sys/devices/platform/vhci_hcd.0
VUDC_SYS=/sys/devices/platform/usbip-vudc.0

# ---------------------------------------------------------------------------
# Host side

host_prepare() {
	vm_xhci_kbd_stick 1 "$QMIB" 2
}

# ---------------------------------------------------------------------------
# Server

# serve_request LINE: rpc_serve handler: the four devices' requests and
# "vudc-sha" (sha256 of the usbip-vudc gadget's backing file, usbip_status).
serve_request() {
	server_four_serve "$1" && return 0
	case "$1" in
	vudc-sha) ANSWER="sha=$(sha_file /tmp/vudcdisk.img) status=$(cat "$VUDC_SYS/usbip_status")" ;;
	*) return 1 ;;
	esac
}

vm1() {
	local b req busids=() speeds=() m ready
	OURS=$REPO/build/tools/src/usbip
	OURSD=$REPO/build/tools/src/usbipd
	[ -x "$OURS" ] && [ -x "$OURSD" ] || die "our tools are not built (make tools)"

	step "server: our usbip-host and usbip-vudc, dummy_hcd num=2 is_super_speed=1, qemu-xhci"
	run modprobe usbip-host
	run modprobe usbip-vudc
	for m in usbip_core usbip_host usbip_vudc; do
		[[ $(cat /sys/module/$m/taint) == *O* ]] || die "the loaded $m is not ours"
	done
	run modprobe dummy_hcd num=2 is_super_speed=1
	run modprobe libcomposite
	qemu_usb_prepare
	wait_for "dummy_udc.1" 20 test -e /sys/class/udc/dummy_udc.1
	wait_for "UDC usbip-vudc.0" 30 test -e /sys/class/udc/usbip-vudc.0

	step "server: ${MIB} MiB disk gadget on dummy_udc.0, ACM gadget on dummy_udc.1," \
		"${VMIB} MiB disk gadget on usbip-vudc.0"
	server_four_devices "$MIB"
	busids=("${SRV_BUSIDS[@]}") speeds=("${SRV_SPEEDS[@]}")
	random_file /tmp/vudcdisk.img "$VMIB"
	gadget_storage_on_udc vudcdisk /tmp/vudcdisk.img usbip-vudc.0
	at_exit gadget_remove vudcdisk
	wait_for "usbip-vudc.0 speed" 30 sh -c \
		'[ "$(cat /sys/class/udc/usbip-vudc.0/current_speed)" != UNKNOWN ]'
	[ "$(cat "$VUDC_SYS/usbip_status")" = 1 ] ||
		die "usbip-vudc.0: usbip_status is not 1"
	info "usbip-vudc.0: $(cat /sys/class/udc/usbip-vudc.0/current_speed), usbip_status 1"

	step "server: our usbipd (3240) and usbip bind of four devices; our usbipd --device -t $VUDC_PORT"
	run "$OURSD" -D --pid=/tmp/usbipd-host.pid
	wait_for "usbipd listening on 3240" 30 port_listening 3240
	at_exit 'kill $(cat /tmp/usbipd-host.pid)'
	run "$OURSD" --device -D -t "$VUDC_PORT" --pid=/tmp/usbipd-vudc.pid
	wait_for "usbipd --device listening on $VUDC_PORT" 30 port_listening "$VUDC_PORT"
	at_exit 'kill $(cat /tmp/usbipd-vudc.pid)'
	bind_all "$OURS" "${busids[@]}"
	"$OURS" list -l 2>&1 | sed 's/^/    /' || true
	ready="ready disk=${busids[0]} acm=${busids[1]} kbd=${busids[2]} stick=${busids[3]}"
	ready+=" speeds=$(IFS=,; echo "${speeds[*]}") mib=$MIB dsha=$(sha_file /tmp/ssdisk.img)"
	ready+=" vsha=$(sha_file /tmp/vudcdisk.img) qsha=$(qemu_image_sha qstick)"
	msg_send "$CLIENT_ADDR" "$REP_PORT" 300 "$ready" || die "the client never listened"

	step "server: answer the client's requests"
	rpc_serve serve_request
	req=$RPC_DONE

	step "server: every device available again, backing files as the client left them"
	wait_available "${busids[@]}"
	wait_for "usbip-vudc.0 available again" 60 grep -qx 1 "$VUDC_SYS/usbip_status"
	[ "$(cat "$GADGET_ROOT/vudcdisk/UDC")" = usbip-vudc.0 ] || die "the vudc disk gadget lost its UDC"
	same_sum "dummy_hcd gadget backing file" "$(sha_file /tmp/ssdisk.img)" \
		"$(echo "$req" | sed -n 's/.* dsha=\([0-9a-f]*\).*/\1/p')"
	same_sum "usbip-vudc gadget backing file" "$(sha_file /tmp/vudcdisk.img)" \
		"$(echo "$req" | sed -n 's/.* vsha=\([0-9a-f]*\).*/\1/p')"

	step "server: our usbip unbind, both usbipd stop, usbip-vudc, usbip-host and usbip-core unload"
	for b in "${busids[@]}"; do
		run "$OURS" unbind -b "$b"
		wait_for "$b off usbip-host" 30 sh -c "! test -e /sys/bus/usb/drivers/usbip-host/$b"
	done
	kill "$(cat /tmp/usbipd-host.pid)" "$(cat /tmp/usbipd-vudc.pid)"
	wait_for "both usbipd to exit" 30 sh -c '! pidof usbipd'
	gadget_remove vudcdisk
	dmesg_check || die "kernel log has warnings"
	run modprobe -r usbip-vudc usbip-host
	for m in usbip_vudc usbip_host usbip_core; do
		! grep -q "^$m " /proc/modules || die "$m still loaded"
	done
	info "usbip_vudc, usbip_host, usbip_core unloaded"
	dmesg | grep -E 'usbip|vudc' | tail -n 10 | sed 's/^/    dmesg| /'
}

# ---------------------------------------------------------------------------
# Client

# field NAME: value of NAME=... in the server's ready message.
field() {
	echo "$MSG" | sed -n "s/.* $1=\([^ ]*\).*/\1/p"
}

# attach_one I ARGS...: our usbip ARGS, sets PORTS[I] from its output.
attach_one() {
	local i=$1 out
	shift
	echo "    \$ $OURS $*"
	out=$("$OURS" "$@" 2>&1) || die "usbip $* failed: $out"
	info "$out"
	PORTS[i]=$(echo "$out" |
		sed -n "s|^usbip: attached remote device .*/${B[i]} to port \([0-9]*\)$|\1|p")
	[ -n "${PORTS[i]}" ] || die "usbip $* named no port: $out"
	at_exit "$OURS" detach -p "${PORTS[i]}"
}

# disk_both_ways NAME BUSID MIB SHA REQ: O_DIRECT read of the disk on
# BUSID compared with SHA, new data written and read back, and the
# server's backing file (request REQ) checked to hold it.  Sets NEW_SHA.
disk_both_ways() {
	local name=$1 lb=$2 mib=$3 sha=$4 req=$5 dev
	wait_disk dev 120 disk_of_usb "$lb"
	[ "$(cat "/sys/block/${dev#/dev/}/size")" -eq $((mib * 2048)) ] || die "$dev has the wrong size"
	dev_read "$dev" /tmp/r "$mib" "ours_e2e_$name"
	info "$dev: read $mib MiB at $LAST_MBPS MB/s"
	same_sum "$name: O_DIRECT read of the server's data" "$(sha_file /tmp/r)" "$sha"
	random_file /tmp/w "$mib"
	NEW_SHA=$(sha_file /tmp/w)
	[ "$NEW_SHA" != "$sha" ] || die "$name: new data equals the old"
	dev_write "$dev" /tmp/w "$mib" "ours_e2e_$name"
	info "$dev: wrote $mib MiB at $LAST_MBPS MB/s"
	same_sum "$name: O_DIRECT read-back" "$(sha_dev "$dev" "$mib")" "$NEW_SHA"
	rm -f /tmp/r /tmp/w
	rpc_ask "$req"
	case "$ANSWER" in sha=*) ;; *) die "server: $ANSWER" ;; esac
	same_sum "$name: server's backing file" "$(echo "$ANSWER" | sed 's/^sha=\([0-9a-f]*\).*/\1/')" \
		"$NEW_SHA"
}

vm2() {
	local i dev tty mib sp want_ss m
	OURS=$REPO/build/tools/src/usbip
	NAMES=(disk acm kbd stick vudc)
	B=() LB=() PORTS=() SPEEDS=()
	CLIENT_RC=1 DISK_SHA=none VUDC_SHA=none
	[ -x "$OURS" ] || die "our tools are not built (make tools)"

	step "client: our vhci-hcd; usb-storage, cdc_acm, usbhid, hid_generic, evdev"
	run modprobe vhci-hcd
	for m in usbip_core vhci_hcd; do
		[[ $(cat /sys/module/$m/taint) == *O* ]] || die "the loaded $m is not ours"
	done
	NPORTS=$(cat /sys/module/vhci_hcd/parameters/nports)
	load_storage
	for m in cdc_acm usbhid hid_generic evdev; do modprobe "$m"; done

	step "client: wait for the server"
	MSG=$(msg_wait "$REP_PORT" 600) || die "no ready message from the server"
	info "server: $MSG"
	for i in 0 1 2 3; do
		B[i]=$(field "${NAMES[i]}")
		SPEEDS[i]=$(field speeds | cut -d, -f$((i + 1)))
	done
	B[4]=usbip-vudc.0
	mib=$(field mib)
	report() {
		msg_send "$SERVER_ADDR" "$REQ_PORT" 60 "done rc=$CLIENT_RC dsha=$DISK_SHA vsha=$VUDC_SHA" || true
	}
	at_exit report

	step "client: our usbip attach of the four devices over IPv6, usbip-vudc.0 on port $VUDC_PORT"
	"$OURS" list -r "$SERVER_ADDR" 2>&1 | sed 's/^/    /'
	for i in 0 1 2 3; do
		attach_one "$i" attach -r "$SERVER_ADDR" -b "${B[i]}"
	done
	attach_one 4 --tcp-port "$VUDC_PORT" attach -r "$SERVER_ADDR" -d usbip-vudc.0
	[ "$(printf '%s\n' "${PORTS[@]}" | sort -u | wc -l)" -eq 5 ] ||
		die "ports not distinct: ${PORTS[*]}"
	for i in 0 1 2 3 4; do
		wait_for "port ${PORTS[i]} in use (state 6)" 90 vhci_port_used "${PORTS[i]}"
		LB[i]=$(vhci_local_busid "${PORTS[i]}")
		wait_for "the device on port ${PORTS[i]} in sysfs" 90 \
			test -e "/sys/bus/usb/devices/${LB[i]}/idVendor"
		sp=$(cat "/sys/bus/usb/devices/${LB[i]}/speed")
		[ "$i" -eq 4 ] || [ "$sp" = "${SPEEDS[i]}" ] ||
			die "${NAMES[i]} runs at $sp here, at ${SPEEDS[i]} on the server"
		want_ss=0
		[ "$sp" -ge 5000 ] && want_ss=1
		[ $((PORTS[i] % (2 * NPORTS) >= NPORTS)) -eq "$want_ss" ] ||
			die "${NAMES[i]} (speed $sp) on port ${PORTS[i]}, the wrong root hub"
		info "${NAMES[i]}: server ${B[i]} -> port ${PORTS[i]} -> ${LB[i]}, $sp Mb/s"
	done
	"$OURS" port | sed 's/^/    /'
	[ "$("$OURS" port | grep -c '^Port')" -eq 5 ] || die "usbip port does not list five devices"

	step "client: dummy_hcd SuperSpeed gadget disk, ${mib} MiB both ways"
	disk_both_ways ss_disk "${LB[0]}" "$mib" "$(field dsha)" disk-sha
	DISK_SHA=$NEW_SHA

	step "client: usbip-vudc gadget disk, ${VMIB} MiB both ways"
	disk_both_ways vudc_disk "${LB[4]}" "$VMIB" "$(field vsha)" vudc-sha
	VUDC_SHA=$NEW_SHA
	case "$ANSWER" in *status=2) ;; *) die "usbip-vudc.0 not in use (2) on the server: $ANSWER" ;; esac

	step "client: ACM serial: $ACM_BYTES bytes each way in raw mode"
	wait_for "ttyACM of ${LB[1]}" 60 prints tty_of_usb "${LB[1]}"
	tty=$(tty_of_usb "${LB[1]}")
	acm_exchange "$tty"

	step "client: HID keyboard: keys typed on the server's QEMU arrive here"
	hid_input_wait "${LB[2]}"
	host_keys_check "$EVDEV" "$KEYS" "$KEY_CODES"

	step "client: QEMU usb-storage: ${QMIB} MiB O_DIRECT read"
	wait_disk dev 120 disk_of_usb "${LB[3]}"
	dev_read "$dev" /tmp/q "$QMIB" ours_e2e_qemu_stick
	same_sum "QEMU usb-storage" "$(sha_file /tmp/q)" "$(field qsha)"
	rm -f /tmp/q

	step "client: our usbip detach of all five; vhci-hcd unloads"
	for i in 0 1 2 3 4; do
		run "$OURS" detach -p "${PORTS[i]}"
	done
	for i in 0 1 2 3 4; do
		wait_for "port ${PORTS[i]} free" 60 vhci_port_free "${PORTS[i]}"
		wait_for "${LB[i]} gone" 60 sh -c "! test -e /sys/bus/usb/devices/${LB[i]}"
	done
	[ "$("$OURS" port | grep -c '^Port')" -eq 0 ] || die "usbip port still lists devices"
	dmesg_check || die "kernel log has warnings"
	run modprobe -r vhci-hcd
	[ ! -e "$VHCI" ] || die "vhci_hcd.0 still there after the unload"
	for m in vhci_hcd usbip_core; do
		! grep -q "^$m " /proc/modules || die "$m still loaded"
	done
	info "vhci_hcd and usbip_core unloaded"
	CLIENT_RC=0
}
