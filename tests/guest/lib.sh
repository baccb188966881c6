# SPDX-License-Identifier: GPL-2.0
#
# tests/guest/lib.sh - helpers for scenarios running inside a test VM.
#
# Sourced by tests/guest/stage2.sh before the scenario file.  Everything here
# runs as root in the guest, on the host's file system (read-only 9p under a
# tmpfs overlay), with no udev: drivers are loaded by hand with modprobe.
#
# Conventions
#   step "text"          numbered step, printed on the console
#   info "text"          indented detail line
#   die "text"           prints "TEST-ERROR: text" and fails the test
#   metric NAME VALUE U  records a figure ("METRIC name=value unit"), also
#                        appended to /run/vmtest/metrics for the host
#   wait_for "what" SECS CMD...   polls CMD until it succeeds, dies on timeout
#
# Environment from vm.env: REPO KVER VM_INDEX VM_COUNT VM_MODE SCENARIO
# SCENARIO_NAME VM_ADDR PEER_ADDR.

USBIP=${USBIP:-/usr/sbin/usbip}
USBIPD=${USBIPD:-/usr/sbin/usbipd}
GADGET_ROOT=/sys/kernel/config/usb_gadget
SERVER_ADDR=fd00:5b1b::1
CLIENT_ADDR=fd00:5b1b::2
MSG_PORT=5101

_step_no=0
_cleanups=()

step() {
	_step_no=$((_step_no + 1))
	echo "==> [vm${VM_INDEX:-?} $(cut -d' ' -f1 /proc/uptime)s] step $_step_no: $*"
}

info() {
	echo "    $*"
}

die() {
	echo "TEST-ERROR: $*"
	exit 1
}

metric() {
	echo "METRIC $1=$2 $3"
	if [ -d /run/vmtest ]; then
		echo "$1=$2 $3" >>/run/vmtest/metrics
	fi
}

# Runs a command, echoing it first, so the console shows what was done.
run() {
	echo "    \$ $*"
	"$@"
}

# at_exit CMD...: run CMD when the test ends (last registered runs first).
at_exit() {
	_cleanups+=("$*")
}

_run_cleanups() {
	local i
	for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do
		eval "${_cleanups[$i]}" >/dev/null 2>&1 || true
	done
	_cleanups=()
}

# guest_run FUNC: runs the scenario function with errexit, reports the
# failing command, runs the cleanups, and returns the function's status.
guest_run() {
	local fn=$1 rc
	(
		set -eE -o pipefail
		trap 'rc=$?; echo "TEST-ERROR: command failed (status $rc) at ${BASH_SOURCE[0]##*/}:$LINENO: $BASH_COMMAND"; exit $rc' ERR
		trap _run_cleanups EXIT
		"$fn"
	)
	rc=$?
	if [ "$rc" -eq 0 ]; then
		dmesg_check || rc=1
	fi
	return "$rc"
}

# wait_for "what" SECS CMD...: polls CMD (every 0.2 s) until it succeeds.
# SECS is multiplied by VMTEST_TIME_SCALE (4 on the debug kernel).
wait_for() {
	local what=$1 secs=$(($2 * ${VMTEST_TIME_SCALE:-1})) start now
	shift 2
	start=$(date +%s)
	while ! "$@" >/dev/null 2>&1; do
		now=$(date +%s)
		if [ $((now - start)) -ge "$secs" ]; then
			die "timed out after ${secs}s waiting for $what"
		fi
		sleep 0.2
	done
}

# prints CMD...: succeeds when CMD prints something (for wait_for).
prints() {
	[ -n "$("$@" 2>/dev/null)" ]
}

now_ns() {
	date +%s%N
}

# mbps BYTES NS: throughput in MB/s (10^6 bytes) with one decimal.
mbps() {
	awk -v b="$1" -v ns="$2" 'BEGIN { if (ns <= 0) ns = 1; printf "%.1f", b / 1e6 / (ns / 1e9) }'
}

# ---------------------------------------------------------------------------
# Kernel log

# Patterns that fail a test when they appear in the kernel log.
DMESG_BAD='WARNING:|BUG:|BUG |Oops|general protection|Kernel panic|possible circular locking|possible recursive locking|inconsistent lock state|suspicious RCU usage|KASAN|UBSAN|blocked for more than|kernel BUG|refcount_t:|list_add corruption|list_del corruption'

dmesg_mark() {
	echo "vmtest-mark: $*" >/dev/kmsg
}

# refpeer_vm: this VM runs Debian's in-tree usbip on the debug kernel, and
# no module of ours was ever loaded (no out-of-tree taint, bit 12).  Its
# kernel reports are judged by the host, which tells the reference peer's
# own bugs from anything else (tests/vm/README.md, "Reference-peer
# findings").
refpeer_vm() {
	[ "${VM_MODE:-}" = reference ] || return 1
	case "$KVER" in *-usbip-debug) ;; *) return 1 ;; esac
	[ $(($(cat /proc/sys/kernel/tainted) >> 12 & 1)) = 0 ]
}

# dmesg_check: fails if the kernel log has a line matching DMESG_BAD
# (except in a reference-peer VM: see refpeer_vm).
dmesg_check() {
	local bad
	bad=$(dmesg | grep -E "$DMESG_BAD" | grep -v 'vmtest-mark:' || true)
	if [ -n "$bad" ] && refpeer_vm; then
		echo "    kernel reports in a reference-peer VM: the host's verdict sorts them" \
			"(tests/vm/lib.sh, vm_kernel_reports)"
		return 0
	fi
	if [ -n "$bad" ]; then
		echo "TEST-ERROR: kernel log has warnings:"
		echo "$bad" | head -n 20 | sed 's/^/    dmesg| /'
		return 1
	fi
	return 0
}

# ---------------------------------------------------------------------------
# Data and checksums

# random_file PATH MIB: PATH gets MIB MiB of random data.
random_file() {
	head -c "$(($2 * 1024 * 1024))" /dev/urandom >"$1.tmp" && mv "$1.tmp" "$1"
}

sha_file() {
	sha256sum "$1" | cut -d' ' -f1
}

# sha_dev DEV MIB: checksum of the first MIB MiB of DEV, read with O_DIRECT.
sha_dev() {
	dd if="$1" iflag=direct bs=1M count="$2" status=none | sha256sum | cut -d' ' -f1
}

# same_sum WHAT A B: dies unless the two checksums are equal.
same_sum() {
	if [ "$2" != "$3" ]; then
		die "$1: checksum mismatch ($2 != $3)"
	fi
	info "$1: sha256 $2 matches"
}

# dev_read DEV OUT MIB [NAME]: copies MIB MiB from DEV into OUT with
# O_DIRECT, records NAME_read_MBps when NAME is given, echoes nothing.
dev_read() {
	local dev=$1 out=$2 mib=$3 name=${4:-} t0 t1
	t0=$(now_ns)
	dd if="$dev" of="$out" iflag=direct bs=1M count="$mib" status=none
	t1=$(now_ns)
	[ "$(stat -c %s "$out")" -eq $((mib * 1024 * 1024)) ] || die "short read from $dev"
	LAST_MBPS=$(mbps $((mib * 1024 * 1024)) $((t1 - t0)))
	[ -z "$name" ] || metric "${name}_read_MBps" "$LAST_MBPS" MB/s
}

# dev_write DEV IN MIB [NAME]: writes IN to DEV with O_DIRECT and fsync.
dev_write() {
	local dev=$1 in=$2 mib=$3 name=${4:-} t0 t1
	t0=$(now_ns)
	dd if="$in" of="$dev" oflag=direct bs=1M count="$mib" conv=fsync,notrunc status=none
	t1=$(now_ns)
	LAST_MBPS=$(mbps $((mib * 1024 * 1024)) $((t1 - t0)))
	[ -z "$name" ] || metric "${name}_write_MBps" "$LAST_MBPS" MB/s
}

# ---------------------------------------------------------------------------
# USB devices and disks

# usb_busid_under SYSPATH_PREFIX [SERIAL]: busids of the USB devices (not
# root hubs, not interfaces) whose sysfs path lies under the prefix,
# optionally only those with the given serial number.
usb_busid_under() {
	local prefix=$1 serial=${2:-} d real name
	for d in /sys/bus/usb/devices/*; do
		name=${d##*/}
		case "$name" in usb*|*:*) continue ;; esac
		real=$(readlink -f "$d")
		case "$real" in "$prefix"/*) ;; *) continue ;; esac
		if [ -n "$serial" ]; then
			[ "$(cat "$d/serial" 2>/dev/null)" = "$serial" ] || continue
		fi
		echo "$name"
	done
}

# dummy_hcd_busid [SERIAL]: busid of the gadget device seen by dummy_hcd's
# host side.
dummy_hcd_busid() {
	usb_busid_under "$(readlink -f /sys/devices/platform/dummy_hcd.0)" "${1:-}" | head -n1
}

# vhci_busids: busids of the devices currently attached through vhci_hcd.
vhci_busids() {
	local p
	for p in /sys/devices/platform/vhci_hcd.*; do
		[ -d "$p" ] || continue
		usb_busid_under "$(readlink -f "$p")"
	done
}

# disk_of_syspath SYSPATH: /dev/sdX whose device lies under SYSPATH.
disk_of_syspath() {
	local prefix b real
	prefix=$(readlink -f "$1")
	for b in /sys/block/sd*; do
		[ -e "$b" ] || continue
		real=$(readlink -f "$b")
		case "$real" in "$prefix"/*)
			[ "$(cat "$b/size")" -gt 0 ] || continue
			echo "/dev/${b##*/}"
			return 0
			;;
		esac
	done
	return 1
}

# disk_of_usb BUSID: /dev/sdX of the USB device BUSID.
disk_of_usb() {
	disk_of_syspath "/sys/bus/usb/devices/$1"
}

# disk_of_vhci: /dev/sdX of a disk attached through vhci_hcd.
disk_of_vhci() {
	local p
	for p in /sys/devices/platform/vhci_hcd.*; do
		[ -d "$p" ] || continue
		disk_of_syspath "$p" && return 0
	done
	return 1
}

# wait_disk VAR SECS FUNC ARGS...: polls FUNC until it prints a disk that
# exists in /dev, stores it in VAR.
wait_disk() {
	local _wd_var=$1 _wd_secs=$2 _wd_start _wd_dev
	shift 2
	_wd_start=$(date +%s)
	while :; do
		_wd_dev=$("$@" 2>/dev/null || true)
		if [ -n "$_wd_dev" ] && [ -b "$_wd_dev" ]; then
			printf -v "$_wd_var" '%s' "$_wd_dev"
			return 0
		fi
		[ $(($(date +%s) - _wd_start)) -lt "$_wd_secs" ] ||
			die "timed out after ${_wd_secs}s waiting for disk ($*)"
		sleep 0.2
	done
}

# load_storage: usb-storage without its default one-second wait before the
# SCSI scan of every new device (the tests attach disks many times), and
# sd_mod.
load_storage() {
	modprobe usb-storage delay_use=0
	modprobe sd_mod
}

# ---------------------------------------------------------------------------
# configfs gadgets on dummy_hcd

gadget_prepare() {
	modprobe dummy_hcd
	modprobe libcomposite
	wait_for "dummy_udc.0" 20 test -e /sys/class/udc/dummy_udc.0
}

# _gadget_skeleton NAME SERIAL VID PID PRODUCT
_gadget_skeleton() {
	local g=$GADGET_ROOT/$1
	mkdir "$g"
	echo "$3" >"$g/idVendor"
	echo "$4" >"$g/idProduct"
	echo 0x0200 >"$g/bcdUSB"
	echo 0x0100 >"$g/bcdDevice"
	mkdir "$g/strings/0x409"
	echo "$2" >"$g/strings/0x409/serialnumber"
	echo "usbip tests" >"$g/strings/0x409/manufacturer"
	echo "$5" >"$g/strings/0x409/product"
	mkdir "$g/configs/c.1"
	mkdir "$g/configs/c.1/strings/0x409"
	echo "test config" >"$g/configs/c.1/strings/0x409/configuration"
	echo 120 >"$g/configs/c.1/MaxPower"
}

# gadget_storage_create NAME BACKING_FILE: mass-storage gadget named NAME
# (serial number NAME too) on dummy_udc.0, backed by BACKING_FILE.  Sets
# GADGET_BUSID to its busid on the dummy_hcd host side.
gadget_storage_create() {
	local name=$1 file=$2 g=$GADGET_ROOT/$1
	gadget_prepare
	_gadget_skeleton "$name" "$name" 0x1d6b 0x0104 "usbip test disk"
	mkdir "$g/functions/mass_storage.0"
	echo 0 >"$g/functions/mass_storage.0/lun.0/removable"
	echo 0 >"$g/functions/mass_storage.0/lun.0/ro"
	echo "$file" >"$g/functions/mass_storage.0/lun.0/file"
	ln -s "$g/functions/mass_storage.0" "$g/configs/c.1/"
	echo dummy_udc.0 >"$g/UDC"
	wait_for "gadget $name on dummy_hcd" 30 prints dummy_hcd_busid "$name"
	GADGET_BUSID=$(dummy_hcd_busid "$name")
}

# gadget_acm_create NAME: CDC ACM serial gadget; the gadget side is
# /dev/ttyGS0 once the host side has configured it.  Sets GADGET_BUSID.
gadget_acm_create() {
	local name=$1 g=$GADGET_ROOT/$1
	gadget_prepare
	_gadget_skeleton "$name" "$name" 0x1d6b 0x0104 "usbip test serial"
	mkdir "$g/functions/acm.0"
	ln -s "$g/functions/acm.0" "$g/configs/c.1/"
	echo dummy_udc.0 >"$g/UDC"
	wait_for "gadget $name on dummy_hcd" 30 prints dummy_hcd_busid "$name"
	GADGET_BUSID=$(dummy_hcd_busid "$name")
}

# tty_of_usb BUSID: /dev/ttyACMn of a CDC ACM device (cdc_acm loaded).
tty_of_usb() {
	local t real prefix
	prefix=$(readlink -f "/sys/bus/usb/devices/$1")
	for t in /sys/class/tty/ttyACM*; do
		[ -e "$t" ] || continue
		real=$(readlink -f "$t")
		case "$real" in "$prefix"/*) echo "/dev/${t##*/}"; return 0 ;; esac
	done
	return 1
}

# gadget_remove NAME: unbinds and tears the gadget down.
gadget_remove() {
	local g=$GADGET_ROOT/$1 f
	[ -d "$g" ] || return 0
	echo "" >"$g/UDC" 2>/dev/null || true
	for f in "$g"/configs/c.1/*.[0-9]*; do
		[ -L "$f" ] && rm "$f"
	done
	rmdir "$g"/configs/c.1/strings/0x409 2>/dev/null || true
	rmdir "$g"/configs/c.1
	for f in "$g"/functions/*; do
		[ -d "$f" ] && rmdir "$f"
	done
	rmdir "$g"/strings/0x409
	rmdir "$g"
}

# ---------------------------------------------------------------------------
# QEMU-emulated USB devices (see vm_usb_* in tests/vm/lib.sh for the host
# side that creates them)

# qemu_usb_prepare: loads the host controller drivers QEMU may provide.
qemu_usb_prepare() {
	modprobe xhci_pci 2>/dev/null || true
	modprobe uhci_hcd 2>/dev/null || true
	modprobe ehci_pci 2>/dev/null || true
	modprobe ohci_pci 2>/dev/null || true
}

# qemu_usb_busid VID:PID [SERIAL]: busid of an emulated device (QEMU's
# usb-storage is 46f4:0001, usb-kbd 0627:0001, usb-mouse 0627:0001 too).
qemu_usb_busid() {
	local vid=${1%%:*} pid=${1##*:} serial=${2:-} d
	for d in /sys/bus/usb/devices/*; do
		[ -f "$d/idVendor" ] || continue
		case "${d##*/}" in usb*) continue ;; esac
		[ "$(cat "$d/idVendor")" = "$vid" ] || continue
		[ "$(cat "$d/idProduct")" = "$pid" ] || continue
		if [ -n "$serial" ]; then
			[ "$(cat "$d/serial" 2>/dev/null)" = "$serial" ] || continue
		fi
		echo "${d##*/}"
		return 0
	done
	return 1
}

# qemu_image_sha NAME: checksum the host computed for $RUN_DIR/NAME.img.
qemu_image_sha() {
	cat "/run/vmtest/$1.sha256"
}

# ---------------------------------------------------------------------------
# USB/IP helpers

# usbipd_start [ARGS...]: starts the daemon and waits until it answers.
usbipd_start() {
	"$USBIPD" -D "$@"
	wait_for "usbipd listening on port 3240" 30 port_listening 3240
}

port_listening() {
	ss -Hltn "sport = :$1" | grep -q .
}

usbipd_stop() {
	local p
	for p in $(pidof usbipd 2>/dev/null); do kill "$p" 2>/dev/null || true; done
	wait_for "usbipd to exit" 30 sh -c '! pidof usbipd'
}

# vhci_port_of_busid BUSID: vhci port number ("usbip port") holding the
# imported device whose busid on the server is BUSID.
vhci_port_of_busid() {
	"$USBIP" port 2>/dev/null | awk -v b="$1" '
		/^Port [0-9]+:/ { p = $2; sub(":", "", p); p += 0 }
		/usbip:\/\// { n = split($NF, a, "/"); if (a[n] == b) { print p; exit } }'
}

# vhci_ports_in_use: port numbers listed by "usbip port".
vhci_ports_in_use() {
	"$USBIP" port 2>/dev/null | sed -n 's/^Port \([0-9]*\):.*/\1/p' | sed 's/^0*\([0-9]\)/\1/'
}

# ---------------------------------------------------------------------------
# Two-VM message channel (python3 one-shot TCP over the ULA link)

# msg_wait PORT SECS: waits for one line from the peer, prints it.  SECS
# is multiplied by VMTEST_TIME_SCALE, as in wait_for: the peer's steps take
# that much longer too.
msg_wait() {
	python3 - "$1" "$(($2 * ${VMTEST_TIME_SCALE:-1}))" <<'PY'
import socket, sys
port, secs = int(sys.argv[1]), float(sys.argv[2])
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", port))
s.listen(1)
s.settimeout(secs)
try:
    c, _ = s.accept()
except socket.timeout:
    sys.exit(2)
c.settimeout(secs)
data = b""
while not data.endswith(b"\n"):
    chunk = c.recv(4096)
    if not chunk:
        break
    data += chunk
print(data.decode().strip())
PY
}

# msg_send ADDR PORT SECS TEXT: sends one line, retrying until the peer
# listens (SECS scaled as in msg_wait).
msg_send() {
	python3 - "$1" "$2" "$(($3 * ${VMTEST_TIME_SCALE:-1}))" "$4" <<'PY'
import socket, sys, time
addr, port, secs, text = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
end = time.time() + secs
while True:
    try:
        c = socket.create_connection((addr, port), timeout=5)
        c.sendall((text + "\n").encode())
        c.close()
        break
    except OSError:
        if time.time() > end:
            sys.exit(2)
        time.sleep(0.2)
PY
}

# ---------------------------------------------------------------------------
# configfs gadgets on any UDC (e.g. usbip-vudc.N), without dummy_hcd

# gadget_storage_on_udc NAME BACKING_FILE UDC: mass-storage gadget named
# NAME (serial number NAME too) bound to UDC, backed by BACKING_FILE.
gadget_storage_on_udc() {
	local name=$1 file=$2 udc=$3 g=$GADGET_ROOT/$1
	modprobe libcomposite
	_gadget_skeleton "$name" "$name" 0x1d6b 0x0104 "usbip test disk"
	mkdir "$g/functions/mass_storage.0"
	echo 0 >"$g/functions/mass_storage.0/lun.0/removable"
	echo 0 >"$g/functions/mass_storage.0/lun.0/ro"
	echo "$file" >"$g/functions/mass_storage.0/lun.0/file"
	ln -s "$g/functions/mass_storage.0" "$g/configs/c.1/"
	echo "$udc" >"$g/UDC"
}

# gadget_acm_on_udc NAME UDC: CDC ACM serial gadget named NAME bound to UDC.
gadget_acm_on_udc() {
	local name=$1 udc=$2 g=$GADGET_ROOT/$1
	modprobe libcomposite
	_gadget_skeleton "$name" "$name" 0x1d6b 0x0104 "usbip test serial"
	mkdir "$g/functions/acm.0"
	ln -s "$g/functions/acm.0" "$g/configs/c.1/"
	echo "$udc" >"$g/UDC"
}

# ---------------------------------------------------------------------------
# One server exporting four devices to one client (vhci-devices, ours-e2e):
# two dummy_hcd gadgets, QEMU's usb-kbd and usb-storage; the client asks the
# server with rpc_ask, the server answers in rpc_serve.

# gadget_on_dummy NAME N storage FILE | NAME N acm: gadget NAME (serial NAME)
# on dummy_udc.N; sets BUSID to its busid on dummy_hcd.N's host side.
gadget_on_dummy() {
	local name=$1 n=$2
	case "$3" in
	storage) gadget_storage_on_udc "$name" "$4" "dummy_udc.$n" ;;
	acm) gadget_acm_on_udc "$name" "dummy_udc.$n" ;;
	*) die "gadget_on_dummy: unknown kind $3" ;;
	esac
	wait_for "gadget $name on dummy_hcd.$n" 30 prints _dummy_busid_on "$n" "$name"
	BUSID=$(_dummy_busid_on "$n" "$name")
}

_dummy_busid_on() {
	usb_busid_under "$(readlink -f "/sys/devices/platform/dummy_hcd.$1")" "$2" | head -n1
}

# server_four_devices MIB: with dummy_hcd num=2 is_super_speed=1 and QEMU's
# usb-kbd and usb-storage (serial qstick) plugged: a mass-storage gadget
# backed by /tmp/ssdisk.img (MIB MiB of random data) on dummy_udc.0, a CDC
# ACM gadget on dummy_udc.1.  Sets SRV_BUSIDS[] and SRV_SPEEDS[] (disk, acm,
# kbd, stick); the disk must run at SuperSpeed.
server_four_devices() {
	local i names=(disk acm kbd stick)
	SRV_BUSIDS=() SRV_SPEEDS=()
	random_file /tmp/ssdisk.img "$1"
	gadget_on_dummy ssdisk 0 storage /tmp/ssdisk.img
	at_exit gadget_remove ssdisk
	SRV_BUSIDS[0]=$BUSID
	gadget_on_dummy ssacm 1 acm
	at_exit gadget_remove ssacm
	SRV_BUSIDS[1]=$BUSID
	wait_for "/dev/ttyGS0" 30 test -c /dev/ttyGS0
	wait_for "QEMU usb-kbd" 60 prints qemu_usb_busid 0627:0001
	SRV_BUSIDS[2]=$(qemu_usb_busid 0627:0001)
	wait_for "QEMU usb-storage" 60 prints qemu_usb_busid 46f4:0001 qstick
	SRV_BUSIDS[3]=$(qemu_usb_busid 46f4:0001 qstick)
	for i in 0 1 2 3; do
		SRV_SPEEDS[i]=$(cat "/sys/bus/usb/devices/${SRV_BUSIDS[i]}/speed")
		info "${names[i]}: busid ${SRV_BUSIDS[i]}, speed ${SRV_SPEEDS[i]}"
	done
	[ "${SRV_SPEEDS[0]}" = 5000 ] || die "the gadget disk runs at ${SRV_SPEEDS[0]}, not SuperSpeed"
}

# bind_all TOOL BUSID...: "TOOL bind" of each device (unbound at exit),
# each waited for on usbip-host.
bind_all() {
	local tool=$1 b
	shift
	for b in "$@"; do
		run "$tool" bind -b "$b"
		at_exit "$tool" unbind -b "$b"
		wait_for "$b bound to usbip-host" 30 test -e "/sys/bus/usb/drivers/usbip-host/$b"
	done
}

# wait_available BUSID...: each device exported again (usbip_status 1).
wait_available() {
	local b
	for b in "$@"; do
		wait_for "$b available again" 60 grep -qx 1 "/sys/bus/usb/devices/$b/usbip_status"
	done
}

# rpc_serve HANDLER: answers the client's requests (REQ_PORT, answers to
# CLIENT_ADDR:REP_PORT): HANDLER REQUEST runs in this shell and sets
# ANSWER, or returns 1 for a request it does not know.  Returns on
# "done ...", which it leaves in RPC_DONE; dies unless it says rc=0.
rpc_serve() {
	local req
	while :; do
		req=$(msg_wait "$REQ_PORT" 900) || die "no request from the client"
		case "$req" in
		done\ *)
			info "client: $req"
			break
			;;
		esac
		"$1" "$req" || ANSWER="bad: unknown request '$req'"
		info "request '$req' -> '$ANSWER'"
		msg_send "$CLIENT_ADDR" "$REP_PORT" 120 "$ANSWER" || die "the client went away"
	done
	RPC_DONE=$req
	case "$req" in *rc=0*) ;; *) die "client failed: $req" ;; esac
}

# server_four_serve REQUEST: rpc_serve handler for the devices of
# server_four_devices: the ACM requests of acm_exchange, and "disk-sha"
# (answer "sha=" and the sha256 of /tmp/ssdisk.img).
server_four_serve() {
	acm_serve "$1" && return 0
	case "$1" in
	disk-sha) ANSWER="sha=$(sha_file /tmp/ssdisk.img)" ;;
	*) return 1 ;;
	esac
}

# rpc_ask REQUEST: asks the server (SERVER_ADDR:REQ_PORT), sets ANSWER to
# its one-line answer.
rpc_ask() {
	msg_send "$SERVER_ADDR" "$REQ_PORT" 120 "$1" || die "server does not take request '$1'"
	ANSWER=$(msg_wait "$REP_PORT" 600) || die "no answer from the server to '$1'"
}

# acm_serve REQUEST: the server's half of acm_exchange, on /dev/ttyGS0 (fd 3,
# with reader and writer jobs that must stay in this shell); BYTES is
# ACM_BYTES.  Sets ANSWER; returns 1 for a request that is not about ACM.
acm_serve() {
	local sum
	case "$1" in
	acm-open)
		exec 3<>/dev/ttyGS0
		if ! stty -F /dev/ttyGS0 raw -echo; then
			ANSWER="bad: stty ttyGS0"
			return 0
		fi
		timeout 300 head -c "$ACM_BYTES" <&3 >/tmp/c2s.rx &
		ACM_RPID=$!
		head -c "$ACM_BYTES" /dev/urandom >/tmp/s2c
		ANSWER="ok s2c=$(sha_file /tmp/s2c)"
		;;
	acm-go)
		timeout 300 cat /tmp/s2c >&3 &
		ACM_WPID=$!
		ANSWER=ok
		;;
	acm-check\ *)
		sum=${1#acm-check }
		if ! wait "$ACM_WPID"; then
			ANSWER="bad: writing ttyGS0 failed or timed out"
		elif ! wait "$ACM_RPID"; then
			ANSWER="bad: reading ttyGS0 failed ($(stat -c %s /tmp/c2s.rx) of $ACM_BYTES bytes)"
		elif [ "$(sha_file /tmp/c2s.rx)" != "$sum" ]; then
			ANSWER="bad: ttyGS0 received $(sha_file /tmp/c2s.rx), the client sent $sum"
		else
			ANSWER=ok
		fi
		exec 3>&-
		;;
	*)
		return 1
		;;
	esac
}

# acm_exchange TTY: ACM_BYTES random bytes each way between TTY (a ttyACM
# of a device the server exports) and the server's ttyGS0 in raw mode, at
# the same time; each side's sha256 is checked by the receiver (the server
# runs acm_serve).
acm_exchange() {
	local tty=$1 pid sum_c2s sum_s2c
	rpc_ask acm-open
	case "$ANSWER" in "ok s2c="*) sum_s2c=${ANSWER#ok s2c=} ;; *) die "server: $ANSWER" ;; esac
	wait_for "$tty" 30 test -c "$tty"
	exec 4<>"$tty"
	at_exit 'exec 4>&-'
	run stty -F "$tty" raw -echo
	timeout 300 head -c "$ACM_BYTES" <&4 >/tmp/s2c.rx &
	pid=$!
	head -c "$ACM_BYTES" /dev/urandom >/tmp/c2s
	sum_c2s=$(sha_file /tmp/c2s)
	rpc_ask acm-go
	[ "$ANSWER" = ok ] || die "server: $ANSWER"
	timeout 300 cat /tmp/c2s >&4 || die "writing $tty failed or timed out"
	wait "$pid" || die "reading $tty failed ($(stat -c %s /tmp/s2c.rx) of $ACM_BYTES bytes)"
	same_sum "server -> client over ACM" "$(sha_file /tmp/s2c.rx)" "$sum_s2c"
	rpc_ask "acm-check $sum_c2s"
	[ "$ANSWER" = ok ] || die "client -> server over ACM: $ANSWER"
	info "client -> server over ACM: the server's sha256 matches"
	exec 4>&-
}

# vhci_port_state PORT: the status column of PORT in vhci_hcd.0's status
# files (4 free, 6 in use).
vhci_port_state() {
	cat /sys/devices/platform/vhci_hcd.0/status* |
		awk -v p="$1" '$1 != "hub" && $2 + 0 == p { print $3 + 0 }'
}

vhci_port_used() {
	[ "$(vhci_port_state "$1")" = 6 ]
}

vhci_port_free() {
	[ "$(vhci_port_state "$1")" = 4 ]
}

# vhci_root_bus C hs|ss: bus number of vhci_hcd.C's USB 2 or USB 3 root hub.
vhci_root_bus() {
	local r want=480
	[ "$2" = ss ] && want=5000
	for r in /sys/devices/platform/vhci_hcd."$1"/usb*; do
		[ "$(cat "$r/speed")" = "$want" ] && cat "$r/busnum" && return 0
	done
	return 1
}

# vhci_local_busid PORT: busid on this machine of the device on vhci port
# PORT (controller PORT / 2P, its USB 2 hub for the first P ports, USB 3
# after), P being NPORTS (vhci_hcd's nports).
vhci_local_busid() {
	local c=$(($1 / (2 * NPORTS))) r=$(($1 % (2 * NPORTS)))
	if [ "$r" -lt "$NPORTS" ]; then
		echo "$(vhci_root_bus "$c" hs)-$((r + 1))"
	else
		echo "$(vhci_root_bus "$c" ss)-$((r - NPORTS + 1))"
	fi
}

# input_of_usb BUSID: /dev/input/eventN of the first input device of BUSID.
input_of_usb() {
	local e
	for e in /sys/bus/usb/devices/"$1"/"$1":*/*/input/input*/event*; do
		[ -e "$e" ] && { echo "/dev/input/${e##*/}"; return 0; }
	done
	return 1
}

# hid_input_wait BUSID: usbhid is bound to the keyboard BUSID; waits for
# its input device, sets EVDEV to it.
hid_input_wait() {
	[ "$(basename "$(readlink "/sys/bus/usb/devices/$1:1.0/driver")")" = usbhid ] ||
		die "usbhid is not bound to $1:1.0"
	wait_for "input device of $1" 60 prints input_of_usb "$1"
	EVDEV=$(input_of_usb "$1")
	info "$EVDEV: $(cat "/sys/class/input/${EVDEV##*/}/device/name")"
}

# host_keys_check EVDEV KEYS CODES: the host types KEYS (QEMU sendkey
# names) on the server's keyboard (vm_key_typist in tests/vm/lib.sh); the
# key codes pressed and released on EVDEV must be CODES, in order.
host_keys_check() {
	local evdev=$1 keys=$2 codes=$3 n pid
	# keys.py EVDEV N SECS: prints "ready", then the key codes pressed and
	# released ("press C C ..." / "release C C ...") once N releases came.
	cat >/tmp/keys.py <<-'PY'
	import os, select, struct, sys, time
	fd = os.open(sys.argv[1], os.O_RDONLY)
	want, end = int(sys.argv[2]), time.time() + float(sys.argv[3])
	print("ready", flush=True)
	size = struct.calcsize("llHHi")
	press, release, buf = [], [], b""
	while len(release) < want and time.time() < end:
	    if not select.select([fd], [], [], 0.5)[0]:
	        continue
	    buf += os.read(fd, size * 64)
	    while len(buf) >= size:
	        _, _, typ, code, value = struct.unpack("llHHi", buf[:size])
	        buf = buf[size:]
	        if typ == 1 and value == 1:
	            press.append(code)
	        elif typ == 1 and value == 0:
	            release.append(code)
	print("press " + " ".join(map(str, press)))
	print("release " + " ".join(map(str, release)))
	PY
	n=$(echo "$keys" | wc -w)
	python3 /tmp/keys.py "$evdev" "$n" 90 >/tmp/keys.out &
	pid=$!
	wait_for "key reader" 30 grep -q ready /tmp/keys.out
	echo "$keys" >/run/vmtest/keys.req.tmp
	mv /run/vmtest/keys.req.tmp /run/vmtest/keys.req
	wait_for "the host to type the keys" 120 test -f /run/vmtest/keys.done
	[ "$(cat /run/vmtest/keys.done)" = rc=0 ] ||
		die "the host could not type: $(cat /run/vmtest/keys.log 2>/dev/null)"
	wait "$pid" || die "key reader failed"
	sed 's/^/    /' /tmp/keys.out
	grep -qx "press $codes" /tmp/keys.out || die "pressed keys are not $codes"
	grep -qx "release $codes" /tmp/keys.out || die "released keys are not $codes"
	info "$n keys typed on the server's keyboard arrived in order"
}

# ---------------------------------------------------------------------------
# Benchmarks (tests/bench/*-vm.sh)

# metric_of NAME: the value this boot recorded for metric NAME.
metric_of() {
	sed -n "s/^$1=\([0-9.]*\).*/\1/p" /run/vmtest/metrics
}

# deb_ko NAME: path of Debian's in-tree module NAME (.ko or .ko.xz).
deb_ko() {
	local f
	for f in "/lib/modules/$KVER/kernel/drivers/usb/usbip/$1".ko*; do
		[ -f "$f" ] && { echo "$f"; return 0; }
	done
	die "no Debian module $1 under /lib/modules/$KVER/kernel/drivers/usb/usbip"
}

# module_loaded_as MOD ours|debian: the loaded module MOD is ours (out of
# tree, taint flag O) or Debian's in-tree one (no O).
module_loaded_as() {
	local taint
	taint=$(cat "/sys/module/$1/taint")
	case "$2:$taint" in
	ours:*O*|debian:) ;;
	debian:*O*) die "$1 is an out-of-tree module, not Debian's" ;;
	ours:*) die "$1 is not out of tree (taint '$taint'), not ours" ;;
	*) die "$1 has taint '$taint', not $2" ;;
	esac
	info "$1 loaded, taint '$taint' ($2)"
}

# bench_measure NAME DEV: READ_MIB MiB read from DEV (a disk backed by the
# file BACKING) compared with BACKING, then WRITE_MIB MiB of new data
# written, read back and found in BACKING; metrics NAME_{read,write}_MBps.
bench_measure() {
	local name=$1 dev=$2 sum
	sum=$(sha_file "$BACKING")
	dev_read "$dev" /tmp/read.bin "$READ_MIB" "$name"
	same_sum "$name read" "$(sha_file /tmp/read.bin)" "$sum"
	rm -f /tmp/read.bin
	random_file /tmp/write.bin "$WRITE_MIB"
	sum=$(sha_file /tmp/write.bin)
	dev_write "$dev" /tmp/write.bin "$WRITE_MIB" "$name"
	rm -f /tmp/write.bin
	same_sum "$name write read-back" "$(sha_dev "$dev" "$WRITE_MIB")" "$sum"
	same_sum "$name write in the backing file" \
		"$(head -c $((WRITE_MIB * 1024 * 1024)) "$BACKING" | sha256sum | cut -d' ' -f1)" "$sum"
}

# deb_modules_load MOD...: insmod of each of Debian's in-tree MOD by path
# (deb_ko), in order; then each must be loaded as Debian's.
deb_modules_load() {
	local m
	for m in "$@"; do
		run insmod "$(deb_ko "$m")"
	done
	for m in "$@"; do
		module_loaded_as "${m//-/_}" debian
	done
}

# ours_modules_load MOD...: modprobe of each MOD (ours, from updates/), in
# order; then usbip_core and each must be loaded as ours.
ours_modules_load() {
	local m
	for m in "$@"; do
		run modprobe "$m"
	done
	for m in usbip-core "$@"; do
		module_loaded_as "${m//-/_}" ours
	done
}

# bench_summary MODE...: read and write MB/s recorded for each MODE.
bench_summary() {
	local m
	for m in "$@"; do
		info "$(printf '%-10s read %8s MB/s   write %8s MB/s' "$m" \
			"$(metric_of "${m}_read_MBps")" "$(metric_of "${m}_write_MBps")")"
	done
}

# bench_local: the gadget disk "benchdisk" on dummy_udc.0 (gadget_storage_create),
# backed by BACKING filled with READ_MIB MiB of random data, measured as
# "local" through usb-storage (bench_measure).  Sets BENCH_DEV to its disk.
bench_local() {
	step "a ${READ_MIB} MiB gadget disk on dummy_hcd, usb-storage"
	load_storage
	random_file "$BACKING" "$READ_MIB"
	gadget_storage_create benchdisk "$BACKING"
	at_exit gadget_remove benchdisk
	info "busid $GADGET_BUSID"

	step "local: dummy_hcd + usb-storage"
	wait_disk BENCH_DEV 60 disk_of_usb "$GADGET_BUSID"
	bench_measure local "$BENCH_DEV"
}
