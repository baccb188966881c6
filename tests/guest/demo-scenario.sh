# SPDX-License-Identifier: GPL-2.0
#
# Guest side of "make demo" (tests/demo.sh).  Not a test of tests/run: it
# walks a newcomer through USB/IP inside one VM, explaining each step:
#
#   1. our four modules: usbip-core, usbip-host, vhci-hcd, usbip-vudc;
#   2. a USB disk and a USB serial port, made as configfs gadgets;
#   3. exported once the classic way (the gadgets on dummy_hcd, bound to
#      usbip-host, usbipd on port 3240), once as gadgets on usbip-vudc
#      (usbipd --device, a second daemon on port 3241);
#   4. each time listed with "usbip list -r", attached, shown with
#      "usbip port" and lsblk, a file written through the disk and read back
#      with a checksum, a line echoed through the serial port, detached;
#   5. figures: MB/s through USB/IP against the local gadget.
#
# Our tools (build/tools/src) do everything when they are built, Debian's
# otherwise.  The vudc half says "SKIPPED: usbip-vudc not functional yet"
# while our usbip-vudc module does not provide its interface yet.

MIB=32
if [ -f /run/vmtest/demo.conf ]; then
	# shellcheck disable=SC1091
	. /run/vmtest/demo.conf
fi
OURS=${REPO:-}/build/tools/src/usbip
OURSD=${REPO:-}/build/tools/src/usbipd
STUB_PORT=3240
VUDC_PORT=3241
BACKING=/tmp/demo-disk.img
MNT=/mnt/usbip

# Figures and verdicts, printed at the end.
declare -gA FIG
RESULTS=()

say() {
	echo "    $*"
}

# tool_for CMD: our usbip when it implements CMD, else Debian's.
tool_for() {
	if [ -x "$OURS" ] && "$OURS" help "$1" >/dev/null 2>&1; then
		echo "$OURS"
	else
		echo "$USBIP"
	fi
}

# u [-t PORT] CMD ARGS...: runs "usbip [--tcp-port PORT] CMD ARGS", echoed.
u() {
	local t pre=()
	if [ "$1" = -t ]; then
		pre=(--tcp-port "$2")
		shift 2
	fi
	t=$(tool_for "$1")
	echo "    \$ ${t#"$REPO"/}${pre[*]:+ ${pre[*]}} $*"
	"$t" "${pre[@]}" "$@" 2>&1 | sed 's/^/      /'
}

# daemon PORT PIDFILE [ARGS...]: starts usbipd in the background.
daemon() {
	local port=$1 pidfile=$2 d=$USBIPD
	shift 2
	[ -x "$OURSD" ] && d=$OURSD
	run "$d" -D -t "$port" -P "$pidfile" "$@"
	wait_for "usbipd on port $port" 30 port_listening "$port"
	ss -Hltn "sport = :$port" | sed 's/^/      listening: /'
}

# daemon_stop PIDFILE
daemon_stop() {
	local pid
	pid=$(cat "$1" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null || true
	wait_for "usbipd $pid to exit" 30 sh -c "! kill -0 $pid 2>/dev/null"
}

# gadget_new NAME PRODUCT FUNCTION: a configfs gadget with one function
# (mass_storage.0 backed by $BACKING, or acm.0), not yet bound to a UDC.
gadget_new() {
	local name=$1 g=$GADGET_ROOT/$1
	_gadget_skeleton "$name" "$name" 0x1d6b 0x0104 "$2"
	mkdir "$g/functions/$3"
	if [ "$3" = mass_storage.0 ]; then
		echo 0 >"$g/functions/$3/lun.0/removable"
		echo "$BACKING" >"$g/functions/$3/lun.0/file"
	fi
	ln -s "$g/functions/$3" "$g/configs/c.1/"
}

# gadget_bind NAME UDC: plugs the gadget into a device controller ("" = unplug).
gadget_bind() {
	echo "    \$ echo ${2:-\"\"} > $GADGET_ROOT/$1/UDC"
	echo "$2" >"$GADGET_ROOT/$1/UDC"
}

# busid_on PLATFORM_DEV SERIAL: busid of a gadget as seen by a host controller.
busid_on() {
	usb_busid_under "$(readlink -f "/sys/devices/platform/$1")" "$2" | head -n1
}

# vhci_tty: the ttyACM of a device attached through vhci-hcd.
vhci_tty() {
	local b
	for b in $(vhci_busids); do
		tty_of_usb "$b" && return 0
	done
	return 1
}

# poll SECS CMD...: like wait_for, but returns 1 on timeout instead of dying.
poll() {
	local secs=$1 start
	shift
	start=$(date +%s)
	until "$@" >/dev/null 2>&1; do
		[ $(($(date +%s) - start)) -lt "$secs" ] || return 1
		sleep 0.2
	done
}

# disk_test DEV LABEL: raw write and read of $MIB MiB with O_DIRECT (MB/s),
# then a file through ext4, both checked with sha256.
disk_test() {
	local dev=$1 label=$2 sum_w sum_orig sum_back

	step "$label: measure the disk: write and read ${MIB} MiB with O_DIRECT"
	echo
	say "O_DIRECT bypasses the page cache, so every byte really travels as USB"
	say "bulk transfers over TCP to the gadget and back."
	random_file /tmp/new.bin "$MIB"
	sum_w=$(sha_file /tmp/new.bin)
	dev_write "$dev" /tmp/new.bin "$MIB" "demo_${label}"
	FIG[$label.write]=$LAST_MBPS
	info "wrote ${MIB} MiB: $LAST_MBPS MB/s"
	dev_read "$dev" /tmp/read.bin "$MIB" "demo_${label}"
	FIG[$label.read]=$LAST_MBPS
	info "read ${MIB} MiB:  $LAST_MBPS MB/s"
	same_sum "data read back through USB/IP" "$(sha_file /tmp/read.bin)" "$sum_w"
	same_sum "the gadget's backing file" "$(sha_file "$BACKING")" "$sum_w"
	rm -f /tmp/new.bin /tmp/read.bin

	step "$label: write a file through USB/IP and read it back"
	echo
	say "A file system on the imported disk, a file of random data, unmount"
	say "(everything goes over the wire), drop the caches, mount, read it back."
	run mkfs.ext4 -q -F "$dev"
	mkdir -p "$MNT"
	run mount "$dev" "$MNT"
	head -c 4M /dev/urandom >/tmp/original.bin
	sum_orig=$(sha_file /tmp/original.bin)
	run cp /tmp/original.bin "$MNT/hello.bin"
	run umount "$MNT"
	echo 3 >/proc/sys/vm/drop_caches
	run mount -o ro "$dev" "$MNT"
	ls -l "$MNT" | sed 's/^/      /'
	sum_back=$(sha_file "$MNT/hello.bin")
	run umount "$MNT"
	echo "    sha256 of the file written : $sum_orig"
	echo "    sha256 of the file read    : $sum_back"
	if [ "$sum_orig" != "$sum_back" ]; then
		echo "    RESULT: $label: MISMATCH"
		die "$label: checksums differ"
	fi
	RESULTS+=("RESULT: $label: file checksum MATCH (sha256 ${sum_orig:0:16}...)")
}

# serial_test TTY LABEL: one line each way between TTY and /dev/ttyGS0.
serial_test() {
	local tty=$1 label=$2 line back msg

	step "$label: echo a line through the serial port"
	echo
	say "$tty is the client's end of the imported serial gadget; /dev/ttyGS0"
	say "is the gadget's own end.  Both go to raw mode, a line goes from the"
	say "client to the gadget, and the gadget sends it back."
	exec 5<>"$tty" 6<>/dev/ttyGS0
	stty -F "$tty" raw -echo
	stty -F /dev/ttyGS0 raw -echo
	msg="hello through USB/IP ($label) $(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
	echo "    client -> gadget: $msg"
	echo "$msg" >&5
	read -r -t 30 line <&6 || die "$label: nothing arrived on /dev/ttyGS0"
	echo "    gadget received : $line"
	echo "$line" >&6
	read -r -t 30 back <&5 || die "$label: nothing came back on $tty"
	echo "    client received : $back"
	exec 5>&- 6>&-
	if [ "$back" != "$msg" ]; then
		echo "    RESULT: $label: serial MISMATCH"
		die "$label: the line came back different"
	fi
	RESULTS+=("RESULT: $label: serial line echoed intact")
}

# ratio A B: A as a percentage of B.
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else print "n/a" }'
}

vm1() {
	local disk_busid ser_busid dev tty port_d port_s vudc_why=

	echo
	echo "======================================================================"
	echo " USB/IP demo: share a USB disk and a USB serial port over TCP/IP,"
	echo " inside one VM; kernel $(uname -r), kernel modules: $VM_MODE"
	echo "======================================================================"

	step "load the USB/IP kernel modules"
	echo
	say "usbip-core is the shared protocol code.  usbip-host is the classic"
	say "server side: it takes a USB device away from its driver and serves it"
	say "over TCP.  usbip-vudc is the other server side: a virtual USB device"
	say "controller, to which a gadget (a USB device made in software) binds"
	say "and which serves that gadget over TCP.  vhci-hcd is the client side:"
	say "a virtual host controller whose ports hold devices that really live"
	say "on another machine.  There is no udev here, so we load them by hand."
	run modprobe usbip-host
	run modprobe vhci-hcd
	if ! run modprobe usbip-vudc num=2; then
		vudc_why="modprobe usbip-vudc failed"
	fi
	local m
	for m in usbip-core usbip-host vhci-hcd usbip-vudc; do
		info "$m: $(modinfo -n "$m" 2>/dev/null || echo 'not found')"
	done
	lsmod | grep -E '^(usbip|vhci)' | sed 's/^/      /' || true

	step "make a USB disk and a USB serial port: configfs gadgets on dummy_hcd"
	echo
	say "There is no USB hardware here.  dummy_hcd is a software USB host"
	say "controller wired to software device controllers (dummy_udc.0 and .1)."
	say "With configfs we build two gadgets: a flash disk of ${MIB} MiB (the"
	say "mass-storage function) and a serial port (the CDC ACM function)."
	run modprobe dummy_hcd num=2
	gadget_prepare
	wait_for "dummy_udc.1" 20 test -e /sys/class/udc/dummy_udc.1
	load_storage
	modprobe cdc_acm
	random_file "$BACKING" "$MIB"
	gadget_new demodisk "usbip demo disk" mass_storage.0
	at_exit gadget_remove demodisk
	gadget_new demoserial "usbip demo serial" acm.0
	at_exit gadget_remove demoserial
	gadget_bind demodisk dummy_udc.0
	gadget_bind demoserial dummy_udc.1
	wait_for "the disk gadget on dummy_hcd" 30 prints busid_on dummy_hcd.0 demodisk
	wait_for "the serial gadget on dummy_hcd" 30 prints busid_on dummy_hcd.1 demoserial
	disk_busid=$(busid_on dummy_hcd.0 demodisk)
	ser_busid=$(busid_on dummy_hcd.1 demoserial)
	info "the disk is USB device $disk_busid, the serial port USB device $ser_busid"

	step "measure the local gadget disk, without USB/IP"
	echo
	say "The same gadget read and written through dummy_hcd and usb-storage"
	say "directly: the reference the USB/IP figures are compared with."
	wait_disk dev 60 disk_of_usb "$disk_busid"
	random_file /tmp/new.bin "$MIB"
	dev_write "$dev" /tmp/new.bin "$MIB" demo_local
	FIG[local.write]=$LAST_MBPS
	dev_read "$dev" /tmp/read.bin "$MIB" demo_local
	FIG[local.read]=$LAST_MBPS
	same_sum "local read-back" "$(sha_file /tmp/read.bin)" "$(sha_file /tmp/new.bin)"
	rm -f /tmp/new.bin /tmp/read.bin
	info "local disk $dev: write ${FIG[local.write]} MB/s, read ${FIG[local.read]} MB/s"

	# ------------------------------------------------------------------
	echo
	echo "---------- part 1: usbip-host, the gadgets as USB devices ----------"

	step "stub: list the local USB devices"
	echo
	say "'usbip list -l' shows every USB device this machine could export; the"
	say "bus id (like $disk_busid) names a device in the other commands."
	u list -l

	step "stub: start the USB/IP server daemon, usbipd, on port $STUB_PORT"
	echo
	say "usbipd answers clients that ask which devices are exported and that"
	say "want to import one."
	daemon "$STUB_PORT" /run/usbipd-stub.pid
	at_exit daemon_stop /run/usbipd-stub.pid

	step "stub: export both devices: usbip bind"
	echo
	say "bind takes a device away from its usual driver (usb-storage, cdc_acm)"
	say "and hands it to usbip-host, so that nothing on the server uses it."
	u bind -b "$disk_busid"
	at_exit "$USBIP" unbind -b "$disk_busid"
	u bind -b "$ser_busid"
	at_exit "$USBIP" unbind -b "$ser_busid"
	wait_for "bound to usbip-host" 30 test -e "/sys/bus/usb/drivers/usbip-host/$ser_busid"

	step "stub: ask the server what it exports: usbip list -r 127.0.0.1"
	echo
	say "A client would use the server's address; client and server are the"
	say "same VM here, so we talk to ourselves over the loopback address."
	u list -r 127.0.0.1

	step "stub: import both: usbip attach -r 127.0.0.1 -b BUSID"
	echo
	say "attach asks the server for the device and hands the TCP connection to"
	say "vhci-hcd: the device is plugged into a virtual port, and every USB"
	say "transfer now travels over TCP to usbip-host and the gadget."
	u attach -r 127.0.0.1 -b "$disk_busid"
	u attach -r 127.0.0.1 -b "$ser_busid"
	wait_disk dev 60 disk_of_vhci
	wait_for "the ttyACM of the imported serial port" 60 prints vhci_tty
	tty=$(vhci_tty)
	port_d=$(vhci_port_of_busid "$disk_busid")
	port_s=$(vhci_port_of_busid "$ser_busid")
	at_exit "$USBIP" detach -p "$port_d"
	at_exit "$USBIP" detach -p "$port_s"
	u port
	say "The kernel sees new USB devices behind vhci_hcd: a SCSI disk $dev"
	say "(usb-storage) and a serial port $tty (cdc_acm)."
	lsblk -o NAME,SIZE,TRAN,VENDOR,MODEL "$dev" | sed 's/^/      /'

	disk_test "$dev" stub
	serial_test "$tty" stub

	step "stub: detach both: usbip detach -p PORT"
	echo
	say "The virtual ports are freed and the devices disappear from the client."
	u detach -p "$port_d"
	u detach -p "$port_s"
	wait_for "disk gone" 60 sh -c "! test -b $dev"

	step "stub: give the devices back and stop usbipd"
	echo
	say "unbind returns each device to its usual driver on the server."
	u unbind -b "$disk_busid"
	u unbind -b "$ser_busid"
	daemon_stop /run/usbipd-stub.pid

	# ------------------------------------------------------------------
	echo
	echo "---------- part 2: usbip-vudc, the gadgets exported directly ----------"

	step "vudc: is our usbip-vudc ready?"
	echo
	say "Now the gadgets leave dummy_hcd: they bind to usbip-vudc.0 and .1,"
	say "device controllers whose only 'cable' is a USB/IP connection."
	if [ -z "$vudc_why" ]; then
		local f
		for f in /sys/class/udc/usbip-vudc.0 /sys/class/udc/usbip-vudc.1 \
			 /sys/devices/platform/usbip-vudc.0/usbip_sockfd \
			 /sys/devices/platform/usbip-vudc.0/usbip_status \
			 /sys/devices/platform/usbip-vudc.0/dev_desc; do
			if [ ! -e "$f" ]; then
				vudc_why="no $f"
				break
			fi
		done
	fi
	if [ -z "$vudc_why" ]; then
		gadget_bind demodisk ""
		gadget_bind demoserial ""
		gadget_bind demodisk usbip-vudc.0 || vudc_why="the disk gadget does not bind"
	fi
	if [ -z "$vudc_why" ]; then
		gadget_bind demoserial usbip-vudc.1 || vudc_why="the serial gadget does not bind"
	fi
	if [ -z "$vudc_why" ] &&
	   [ "$(head -c 18 /sys/devices/platform/usbip-vudc.0/dev_desc 2>/dev/null | wc -c)" != 18 ]; then
		vudc_why="dev_desc of usbip-vudc.0 is not a device descriptor"
	fi
	if [ -z "$vudc_why" ] && ! vudc_part; then
		# A checksum mismatch still ends the demo (die); anything else
		# means usbip-vudc cannot serve the gadgets yet.
		[ -n "$vudc_why" ] || vudc_why="a step of this part failed; see above"
	fi
	if [ -n "$vudc_why" ]; then
		echo "    SKIPPED: usbip-vudc not functional yet ($vudc_why)"
		RESULTS+=("RESULT: vudc: SKIPPED: usbip-vudc not functional yet ($vudc_why)")
	fi

	# ------------------------------------------------------------------
	step "clean up"
	gadget_remove demoserial
	gadget_remove demodisk
	_cleanups=()

	step "the figures"
	echo
	say "MB/s of ${MIB} MiB with O_DIRECT (10^6 bytes/s), and the share of the"
	say "local gadget's speed (dummy_hcd + usb-storage, no USB/IP) each reaches."
	echo "    RESULT: local gadget      : read ${FIG[local.read]} MB/s, write ${FIG[local.write]} MB/s"
	echo "    RESULT: usbip-host (stub) : read ${FIG[stub.read]} MB/s ($(ratio "${FIG[stub.read]}" "${FIG[local.read]}") of local), write ${FIG[stub.write]} MB/s ($(ratio "${FIG[stub.write]}" "${FIG[local.write]}") of local)"
	if [ -n "${FIG[vudc.read]:-}" ]; then
		echo "    RESULT: usbip-vudc        : read ${FIG[vudc.read]} MB/s ($(ratio "${FIG[vudc.read]}" "${FIG[local.read]}") of local), write ${FIG[vudc.write]} MB/s ($(ratio "${FIG[vudc.write]}" "${FIG[local.write]}") of local)"
	else
		echo "    RESULT: usbip-vudc        : SKIPPED: usbip-vudc not functional yet${vudc_why:+ ($vudc_why)}"
	fi
	local r
	for r in "${RESULTS[@]}"; do
		echo "    $r"
	done
}

# vudc_part: the second half, once the gadgets are bound to usbip-vudc.0/.1.
# Sets vudc_why (and returns 1) when usbip-vudc cannot serve them yet;
# checksum mismatches still fail the demo.
vudc_part() {
	local dev tty

	step "vudc: list the gadgets: usbip list --device"
	echo
	say "The bus id of a gadget is the name of its controller, usbip-vudc.N."
	u list --device

	step "vudc: a second daemon: usbipd --device on port $VUDC_PORT"
	echo
	say "usbipd -e (--device) exports gadgets instead of usbip-host devices; it"
	say "can run next to the first daemon on another TCP port."
	daemon "$VUDC_PORT" /run/usbipd-vudc.pid -e
	at_exit daemon_stop /run/usbipd-vudc.pid

	step "vudc: usbip --tcp-port $VUDC_PORT list -r 127.0.0.1"
	u -t "$VUDC_PORT" list -r 127.0.0.1

	step "vudc: import both: usbip attach -r 127.0.0.1 -d usbip-vudc.N"
	echo
	say "-d names the gadget's controller; on the client nothing differs from"
	say "an imported USB device."
	u -t "$VUDC_PORT" attach -r 127.0.0.1 -d usbip-vudc.0
	u -t "$VUDC_PORT" attach -r 127.0.0.1 -d usbip-vudc.1
	local p
	for p in $(vhci_ports_in_use); do
		at_exit "$USBIP" detach -p "$p"
	done
	if ! poll 60 prints disk_of_vhci || ! poll 60 prints vhci_tty; then
		u port
		vudc_why="attached, but no disk or tty appeared within 60 s"
		for p in $(vhci_ports_in_use); do
			u detach -p "$p" || true
		done
		daemon_stop /run/usbipd-vudc.pid
		return 1
	fi
	dev=$(disk_of_vhci)
	tty=$(vhci_tty)
	u port
	lsblk -o NAME,SIZE,TRAN,VENDOR,MODEL "$dev" | sed 's/^/      /'

	disk_test "$dev" vudc
	serial_test "$tty" vudc

	step "vudc: detach both and stop the second usbipd"
	for p in $(vhci_ports_in_use); do
		u detach -p "$p"
	done
	wait_for "disk gone" 60 sh -c "! test -b $dev"
	daemon_stop /run/usbipd-vudc.pid
	return 0
}
