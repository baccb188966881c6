# SPDX-License-Identifier: GPL-2.0
# @desc: make install into the guest for real (over Debian's own usbip modules), then the installed systemd units' commands run a loopback export, installed usbip's JSON checked against the installed schema: usbipd.service, usbip-bind@, usbip-attach@ (keep-attached re-attaches after the server drops the connection, detaches on stop); disk sha256 each time
# @kernels: 6.1
# @vms: 1
# @modules: reference
# @timeout: 600
#
# The host stages "make install" in RUN_DIR/vm1/stage; the guest copies it
# over its root (a tmpfs overlay) and runs depmod, exactly what make install
# does on a real machine.  Debian's in-tree usbip modules are present, so
# modprobe must pick ours from updates/.  The commands come from the
# installed unit files (ExecStartPre=, ExecStart=, ExecStop=, with %i
# expanded), so a wrong path or option in a unit fails here.

MIB=16
PREFIX=/usr/local
UNITS=$PREFIX/lib/systemd/system

# depmod over the whole module tree takes minutes in a TCG guest (it reads
# every module over 9p), so the host computes the same indexes, for exactly
# the staged .ko files, and stages them beside them.  What the guest checks
# is the outcome: modinfo and modprobe resolve to updates/.
host_prepare() {
	local idx
	# With the test build's flags: "make install" builds the modules in
	# build/kmod/KVER, which every later scenario loads, and a release
	# build there would take their test hooks away.  The release build's
	# own install is checked by tests/install/check.sh.
	# shellcheck disable=SC2086 # VM_KMAKE_FLAGS is a list of VAR=value
	make -s -C "$VM_TOP" install USBIP_SELFTEST=1 KDIR="$VM_KDIR" $VM_KMAKE_FLAGS \
		DESTDIR="$RUN_DIR/vm1/stage" || return 1
	cmp -s <(cat "$RUN_DIR/vm1/stage/lib/modules/$KVER/updates/"*.ko) \
		<(cat "$VM_TOP/build/kmod/$KVER/drivers/usb/usbip/"*.ko) || return 1
	idx=$(vm_ours_depmod "$KVER") || return 1
	cp "$idx"/modules.* "$RUN_DIR/vm1/stage/lib/modules/$KVER/"
}

# unit_cmds UNIT KEY INSTANCE: the KEY= command lines of an installed unit,
# with systemd's "-+!@:" prefixes removed and %i set to INSTANCE.
unit_cmds() {
	sed -n "s/^$2=[-+!@:]*//p" "$UNITS/$1" | sed "s|%i|$3|g"
}

# unit_run UNIT KEY INSTANCE: runs those commands in order, as systemd
# would (a "-" prefix would ignore failures; none of ours may fail here).
unit_run() {
	local line
	while read -r line; do
		[ -n "$line" ] || continue
		info "[$1 $2] $line"
		eval "$line" || die "$1: $2=$line failed"
	done <<<"$(unit_cmds "$@")"
}

stub_status() {
	cat "/sys/bus/usb/devices/$1/usbip_status" 2>/dev/null
}

status_is() {
	[ "$(stub_status "$1")" = "$2" ]
}

no_vhci_disk() {
	[ -z "$(disk_of_vhci)" ]
}

attached_twice() {
	[ "$(grep -c 'attached remote device ::1/' /tmp/keep.log)" -ge 2 ]
}

# json_check ARGS...: the installed usbip's JSON output for ARGS validates
# against the installed schema.
json_check() {
	"$USBIP" "$@" >/tmp/out.json || die "usbip $* failed"
	python3 - "$PREFIX/share/usbip/usbip-json.schema.json" /tmp/out.json <<'PY' ||
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator(schema).validate(json.load(open(sys.argv[2])))
PY
		die "usbip $*: output does not match the installed schema"
	info "usbip $*: valid against the installed schema ($(wc -c </tmp/out.json) bytes)"
}

vm1() {
	local backing=/tmp/disk.img busid sum dev local_dev mod path port keep_pid
	local usbipd_pid

	step "install: copy the staged 'make install' (+ depmod indexes) over /"
	[ -d /run/vmtest/stage ] || die "host_prepare staged nothing"
	# /lib is a symlink to usr/lib (merged /usr): keep it one.
	tar -C /run/vmtest/stage -cf - . | tar -C / -xf - --keep-directory-symlink ||
		die "unpacking the staged install failed"
	for mod in usbip-core vhci-hcd usbip-host usbip-vudc; do
		path=$(modinfo -n "$mod")
		case "$path" in
		*/updates/*) info "$mod -> $path" ;;
		*) die "after install, modprobe would load $mod from $path" ;;
		esac
	done
	for f in usbipd.service usbip-bind@.service usbip-attach@.service; do
		[ -f "$UNITS/$f" ] || die "$UNITS/$f not installed"
	done
	run "$PREFIX/sbin/usbip" version
	USBIP=$PREFIX/sbin/usbip
	USBIPD=$PREFIX/sbin/usbipd

	step "a ${MIB} MiB mass-storage gadget on dummy_hcd"
	load_storage
	gadget_disk instdisk "$backing" "$MIB"
	sum=$(sha_file "$backing")
	busid=$GADGET_BUSID
	wait_disk local_dev 60 disk_of_usb "$busid"
	info "busid $busid, local disk $local_dev, sha256 $sum"

	step "usbipd.service: ExecStartPre= and ExecStart= (foreground, as systemd runs it)"
	export USBIPD_OPTS=
	unit_cmds usbipd.service ExecStartPre x | while read -r line; do
		eval "$line" || exit 1
	done || die "usbipd.service ExecStartPre failed"
	line=$(unit_cmds usbipd.service ExecStart x)
	[[ $line == "$PREFIX/sbin/usbipd"* ]] || die "usbipd.service ExecStart=$line"
	eval "$line &"
	usbipd_pid=$!
	at_exit kill "$usbipd_pid"
	wait_for "usbipd listening on 3240" 30 port_listening 3240
	[[ $(cat /sys/module/usbip_host/taint 2>/dev/null) == *O* ]] ||
		die "the usbip-host that usbipd.service loaded is not ours"

	step "usbip-bind@$busid.service start"
	unit_run usbip-bind@.service ExecStartPre "$busid"
	unit_run usbip-bind@.service ExecStart "$busid"
	wait_for "$busid bound to usbip-host" 30 test -e "/sys/bus/usb/drivers/usbip-host/$busid"
	[ "$(stub_status "$busid")" = 1 ] || die "usbip_status $(stub_status "$busid"), not 1"

	step "usbip-attach@::1:$busid.service start (keep-attached supervisor)"
	unit_run usbip-attach@.service ExecStartPre "::1:$busid"
	line=$(unit_cmds usbip-attach@.service ExecStart "::1:$busid")
	[[ $line == "$PREFIX/sbin/usbip-keep-attached ::1:$busid" ]] ||
		die "usbip-attach@ ExecStart=$line"
	# The unit's RETRY=10; retries after a second here to keep the test short.
	RETRY=1 $line >/tmp/keep.log 2>&1 &
	keep_pid=$!
	at_exit kill "$keep_pid"
	wait_disk dev 90 disk_of_vhci
	port=$(vhci_port_of_busid "$busid")
	info "attached on port $port as $dev: $(grep attached /tmp/keep.log)"
	[ "$(sha_dev "$dev" "$MIB")" = "$sum" ] || die "disk through vhci differs from the gadget's data"
	info "sha256 through USB/IP matches"
	json_check port --json
	json_check list -l --json
	json_check list -r ::1 --json

	step "the server drops the connection: the supervisor attaches again"
	echo -1 >"/sys/bus/usb/devices/$busid/usbip_sockfd" ||
		die "writing -1 to usbip_sockfd failed"
	wait_for "the supervisor to notice the loss" 60 grep -q 'no longer holds' /tmp/keep.log
	wait_for "a second attach" 90 attached_twice
	wait_disk dev 90 disk_of_vhci
	random_file /tmp/new.img "$MIB"
	dev_write "$dev" /tmp/new.img "$MIB"
	[ "$(sha_dev "$dev" "$MIB")" = "$(sha_file /tmp/new.img)" ] || die "re-attached disk: read-back differs"
	info "re-attached as $dev; $MIB MiB written and read back"
	sed 's/^/    keep: /' /tmp/keep.log

	step "usbip-attach@ stop (SIGTERM): the port is detached"
	kill -TERM "$keep_pid"
	wait "$keep_pid" || die "usbip-keep-attached exited $? on SIGTERM"
	wait_for "the vhci disk to go" 60 no_vhci_disk
	[ -z "$(vhci_ports_in_use)" ] || die "ports still in use: $(vhci_ports_in_use)"
	wait_for "usbip_status 1 again" 30 status_is "$busid" 1

	step "usbip-bind@$busid.service stop: usb-storage gets the device back"
	unit_run usbip-bind@.service ExecStop "$busid"
	wait_disk local_dev 60 disk_of_usb "$busid"
	[ "$(sha_dev "$local_dev" "$MIB")" = "$(sha_file /tmp/new.img)" ] ||
		die "local disk after unbind does not hold the client's data"
	info "$local_dev holds the data written over USB/IP"

	step "stop usbipd.service (SIGTERM), unload"
	kill -TERM "$usbipd_pid"
	wait_for "usbipd to exit" 30 sh -c "! kill -0 $usbipd_pid 2>/dev/null"
	gadget_remove instdisk
	run modprobe -r vhci-hcd usbip-host
	dmesg_check || die "kernel warnings"
}
