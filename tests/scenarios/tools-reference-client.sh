# SPDX-License-Identifier: GPL-2.0
# @desc: our usbip attach/port/detach on Debian's vhci-hcd: disk sha256 through the attached port, usbip port identical to Debian's, records shared both ways, error messages, 4 parallel attaches on distinct ports
# @kernels: 6.1
# @vms: 1
# @modules: reference
# @timeout: 600
#
# The client side is ours (build/tools/src/usbip attach, port, detach) on
# Debian's vhci-hcd, the server side Debian's usbipd and usbip bind on
# Debian's usbip-host.  dummy_hcd with num=4 gives four UDCs, each with one
# mass-storage gadget whose backing file has a known sha256.

DEB_USBIP=/usr/sbin/usbip
DEB_USBIPD=/usr/sbin/usbipd
VHCI=/sys/devices/platform/vhci_hcd.0
RECORDS=/var/run/vhci_hcd
NGADGETS=4

# vhci_disks: every /dev/sdX behind vhci-hcd, one a line.
vhci_disks() {
	local b real
	for b in /sys/block/sd*; do
		[ -e "$b" ] || continue
		real=$(readlink -f "$b")
		case "$real" in /sys/devices/platform/vhci_hcd.*)
			[ "$(cat "$b/size")" -gt 0 ] && echo "/dev/${b##*/}" ;;
		esac
	done
}

# vhci_disks_ready: NGADGETS vhci disks have their size and a device node.
vhci_disks_ready() {
	local d n=0
	for d in $(vhci_disks); do
		[ -b "$d" ] && n=$((n + 1))
	done
	[ "$n" -ge "$NGADGETS" ]
}

# port_state PORT: the status column of PORT in the vhci status files.
port_state() {
	cat "$VHCI"/status* | awk -v p="$1" '$1 != "hub" && $2 + 0 == p { print $3 + 0 }'
}

# port_used PORT: the port holds an addressed device (VDEV_ST_USED).
port_used() {
	[ "$(port_state "$1")" = 6 ]
}

# expect_fail STATUS PATTERN CMD...: CMD must exit STATUS and say PATTERN.
expect_fail() {
	local want=$1 pattern=$2 rc=0
	shift 2
	"$@" >/tmp/out 2>/tmp/err || rc=$?
	info "\$ ${*#"$REPO"/} -> exit $rc: $(cat /tmp/err)"
	[ "$rc" -eq "$want" ] || die "$*: exit $rc, expected $want"
	grep -q -- "$pattern" /tmp/err || die "$*: no '$pattern' in the error"
}

# attach_ours HOST BUSID [--debug]: our attach; echoes the port it reports.
attach_ours() {
	"$OURS" ${3:+"$3"} attach -r "$1" -b "$2" >"/tmp/attach.$2" 2>&1 || {
		cat "/tmp/attach.$2"
		return 1
	}
	sed -n "s|^usbip: attached remote device .*/$2 to port \([0-9]*\)$|\1|p" "/tmp/attach.$2"
}

vm1() {
	local i busid port dev p out ports sums sum n
	local -a busids files
	OURS=$REPO/build/tools/src/usbip
	[ -x "$OURS" ] || die "our tools are not built (make tools)"

	step "modules: Debian's usbip-host, dummy_hcd with $NGADGETS UDCs, usb-storage"
	run modprobe usbip-host
	run modprobe dummy_hcd num=$NGADGETS
	run modprobe libcomposite
	load_storage
	wait_for "dummy_udc.$((NGADGETS - 1))" 20 test -e "/sys/class/udc/dummy_udc.$((NGADGETS - 1))"

	step "without vhci-hcd: attach and port say how to load it"
	expect_fail 1 "vhci-hcd is not loaded (modprobe vhci-hcd)" env USBIP_NO_AUTOLOAD=1 "$OURS" attach -r 127.0.0.1 -b 1-1
	expect_fail 1 "vhci-hcd is not loaded (modprobe vhci-hcd)" env USBIP_NO_AUTOLOAD=1 "$OURS" port
	run modprobe vhci-hcd
	info "nports $(cat $VHCI/nports), $(ls -d $VHCI/status* | wc -l) status files"

	step "$NGADGETS mass-storage gadgets, exported by Debian's usbipd"
	for i in $(seq 0 $((NGADGETS - 1))); do
		files[i]=/tmp/disk$i.img
		random_file "${files[i]}" $((i == 0 ? 16 : 4))
		gadget_on_dummy "disk$i" "$i" storage "${files[i]}"
		at_exit gadget_remove "disk$i"
		busids[i]=$BUSID
		info "disk$i: busid $BUSID, sha256 $(sha_file "${files[i]}")"
	done
	run "$DEB_USBIPD" -D
	at_exit usbipd_stop
	wait_for "usbipd listening on 3240" 30 port_listening 3240
	for busid in "${busids[@]}"; do
		run "$DEB_USBIP" bind -b "$busid"
		at_exit "$DEB_USBIP" unbind -b "$busid"
	done

	step "our attach of ${busids[0]} over 127.0.0.1, with the extension hello"
	# Our attach puts the hello of Documentation/usb/usbip_ext.rst after the
	# bus id; Debian's usbipd must ignore it and answer as plain 1.1.1.
	port=$(attach_ours 127.0.0.1 "${busids[0]}" --debug) || die "our attach failed"
	cat "/tmp/attach.${busids[0]}"
	grep -q "127.0.0.1 speaks plain USB/IP 1.1.1" "/tmp/attach.${busids[0]}" ||
		die "our attach did not see Debian's usbipd as a plain server"
	[ -n "$port" ] || die "attach did not say which port it used"
	at_exit "$OURS" detach -p "$port"
	# 5 (not assigned) until the hub driver has addressed the device
	wait_for "port $port in use (state 6)" 60 port_used "$port"
	[ "$(cat "$RECORDS/port$port")" = "127.0.0.1 3240 ${busids[0]}" ] ||
		die "record $RECORDS/port$port is '$(cat "$RECORDS/port$port")'"
	info "vhci status: $(grep -v '^hub' $VHCI/status | awk -v p="$port" '$2 + 0 == p')"

	step "our usbip port and Debian's agree byte for byte"
	"$OURS" port >/tmp/ours.txt || die "our usbip port failed"
	"$DEB_USBIP" port >/tmp/ref.txt || die "Debian's usbip port failed"
	cat /tmp/ours.txt
	diff -u /tmp/ref.txt /tmp/ours.txt || die "usbip port differs from Debian's"
	grep -q "^Port 0*$port: <Port in Use> at High Speed(480Mbps)$" /tmp/ours.txt ||
		die "no 'Port $port: <Port in Use>' line"
	grep -q "(1d6b:0104)$" /tmp/ours.txt || die "no vendor/product line"
	grep -q -- "-> usbip://127.0.0.1:3240/${busids[0]}$" /tmp/ours.txt || die "no usbip:// URL"
	[ "$(vhci_port_of_busid "${busids[0]}")" = "$port" ] || die "vhci_port_of_busid disagrees"

	step "read 16 MiB through our attached port"
	wait_disk dev 60 disk_of_vhci
	dev_read "$dev" /tmp/read.bin 16 tools_client
	same_sum "vhci read" "$(sha_file /tmp/read.bin)" "$(sha_file "${files[0]}")"
	rm -f /tmp/read.bin

	step "errors: busy, unknown device, refused, unresolvable, bad usage"
	expect_fail 1 "busy" "$OURS" attach -r 127.0.0.1 -b "${busids[0]}"
	expect_fail 1 "unknown device" "$OURS" attach -r 127.0.0.1 -b 99-9
	expect_fail 1 "Connection refused" "$OURS" --tcp-port 1 attach -r 127.0.0.1 -b "${busids[1]}"
	expect_fail 1 "cannot resolve host.invalid" "$OURS" attach -r host.invalid -b "${busids[1]}"
	expect_fail 2 "-r HOST" "$OURS" attach -b "${busids[1]}"
	expect_fail 2 "not a port number" "$OURS" detach -p abc
	expect_fail 1 "out of range" "$OURS" detach -p 100000
	p=$((port + 1))
	expect_fail 1 "port $p is not in use" "$OURS" detach -p "$p"
	[ "$(port_state "$port")" = 6 ] || die "the errors disturbed port $port"

	step "our detach -p $port: disk gone, port free, record removed"
	run "$OURS" detach -p "$port"
	wait_for "vhci disk to disappear" 60 sh -c "! test -b $dev"
	wait_for "port $port free" 30 sh -c "[ \"\$(cat $VHCI/status* | awk -v p=$port '\$1 != \"hub\" && \$2 + 0 == p { print \$3 + 0 }')\" = 4 ]"
	[ ! -e "$RECORDS/port$port" ] || die "record of port $port left behind"
	"$OURS" port >/tmp/ours.txt
	[ "$(wc -l </tmp/ours.txt)" -eq 2 ] || die "usbip port still lists a device"
	"$DEB_USBIP" port >/tmp/ref.txt
	diff -u /tmp/ref.txt /tmp/ours.txt || die "empty usbip port differs from Debian's"
	wait_for "${busids[0]} available again" 30 sh -c "[ \"\$(cat /sys/bus/usb/devices/${busids[0]}/usbip_status)\" = 1 ]"

	step "Debian's attach is shown and detached by ours"
	run "$DEB_USBIP" attach -r 127.0.0.1 -b "${busids[1]}"
	wait_for "Debian's attach to be listed" 30 prints vhci_port_of_busid "${busids[1]}"
	p=$(vhci_port_of_busid "${busids[1]}")
	"$OURS" port >/tmp/ours.txt
	cat /tmp/ours.txt
	grep -q -- "-> usbip://127.0.0.1:3240/${busids[1]}$" /tmp/ours.txt || die "Debian's record not shown"
	run "$OURS" detach -p "$p"
	[ ! -e "$RECORDS/port$p" ] || die "Debian's record of port $p left behind"
	wait_for "port $p free" 30 sh -c "[ \"\$(cat $VHCI/status* | awk -v p=$p '\$1 != \"hub\" && \$2 + 0 == p { print \$3 + 0 }')\" = 4 ]"
	wait_for "${busids[1]} available again" 30 sh -c "[ \"\$(cat /sys/bus/usb/devices/${busids[1]}/usbip_status)\" = 1 ]"

	step "$NGADGETS parallel attaches (127.0.0.1, ::1, localhost) end on distinct ports"
	local hosts=(127.0.0.1 ::1 localhost 127.0.0.1)
	for i in $(seq 0 $((NGADGETS - 1))); do
		"$OURS" --debug attach -r "${hosts[i]}" -b "${busids[i]}" >"/tmp/par.$i" 2>&1 &
	done
	n=0
	for i in $(seq 0 $((NGADGETS - 1))); do
		wait -n || { n=$((n + 1)); }
	done
	grep -hv 'debug:' /tmp/par.*
	[ "$n" -eq 0 ] || { cat /tmp/par.*; die "$n parallel attaches failed"; }
	info "ports found taken by a racing attach and retried: $(cat /tmp/par.* | grep -c 'taken meanwhile' || true)"
	ports=$(sed -n 's/^usbip: attached remote device .* to port \([0-9]*\)$/\1/p' /tmp/par.* | sort -n)
	info "ports: $(echo $ports)"
	[ "$(echo "$ports" | sort -u | wc -l)" -eq "$NGADGETS" ] || die "ports not distinct: $(echo $ports)"
	for p in $ports; do
		at_exit "$OURS" detach -p "$p"
		wait_for "port $p in use (state 6)" 60 port_used "$p"
	done
	"$OURS" port >/tmp/ours.txt
	cat /tmp/ours.txt
	[ "$(grep -c '^Port [0-9]*: <Port in Use>' /tmp/ours.txt)" -eq "$NGADGETS" ] || die "usbip port does not list $NGADGETS devices"
	grep -q -- "-> usbip://\[::1\]:3240/${busids[1]}$" /tmp/ours.txt || die "no IPv6 URL for ${busids[1]}"
	grep -q -- "-> usbip://localhost:3240/${busids[2]}$" /tmp/ours.txt || die "no localhost URL for ${busids[2]}"

	step "every attached disk reads its gadget's data"
	wait_for "$NGADGETS vhci disks" 90 sh -c "[ \$(for b in /sys/block/sd*; do readlink -f \$b; done | grep -c vhci_hcd) -ge $NGADGETS ]"
	sums=$(for i in $(seq 0 $((NGADGETS - 1))); do sha_file "${files[i]}"; done | sort)
	wait_for "$NGADGETS vhci disks with a size and a node" 60 vhci_disks_ready
	out=$(for dev in $(vhci_disks); do
		n=$(($(cat "/sys/block/${dev#/dev/}/size") / 2048))
		sha_dev "$dev" "$n"
	done | sort)
	[ "$out" = "$sums" ] || die "vhci disks read $(echo $out), expected $(echo $sums)"
	info "$NGADGETS disks match their backing files"

	step "detach all; every port free, no record left"
	for p in $ports; do
		run "$OURS" detach -p "$p"
	done
	for p in $ports; do
		wait_for "port $p free" 30 sh -c "[ \"\$(cat $VHCI/status* | awk -v p=$p '\$1 != \"hub\" && \$2 + 0 == p { print \$3 + 0 }')\" = 4 ]"
	done
	[ ! -e "$RECORDS" ] || [ -z "$(ls -A "$RECORDS")" ] || die "records left: $(ls "$RECORDS")"
	"$OURS" port >/tmp/ours.txt
	[ "$(wc -l </tmp/ours.txt)" -eq 2 ] || die "usbip port still lists devices"
}
