# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# tests/guest/lib-usbip.sh - USB/IP: usbipd, binding and exporting, vhci-hcd ports, and one server
# exporting four devices to one client (vhci-devices, ours-e2e): two
# dummy_hcd gadgets, QEMU's usb-kbd and usb-storage.
#
# Sourced by tests/guest/lib.sh (scenarios source lib.sh only).

# vhci_busids: busids of the devices currently attached through vhci_hcd.
vhci_busids() {
	local p
	for p in /sys/devices/platform/vhci_hcd.*; do
		[ -d "$p" ] || continue
		usb_busid_under "$(readlink -f "$p")"
	done
}

# usbipd_start [ARGS...]: starts the daemon and waits until it answers.
# shellcheck disable=SC2120  # the scenarios pass usbipd options
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

# usbip_export [BUSID...]: usbipd started (stopped when the test ends), then
# each BUSID bound to usbip-host with $USBIP (unbound at the end) and
# waited for.
usbip_export() {
	usbipd_start
	at_exit usbipd_stop
	bind_all "$USBIP" "$@"
}

# gadget_disk_export NAME FILE [MIB]: the setup of most server VMs: a
# gadget disk (gadget_disk NAME FILE [MIB]) exported by usbipd
# (usbip_export).  Sets GADGET_BUSID.  usbip-host must be loaded.
gadget_disk_export() {
	gadget_disk "$@"
	usbip_export "$GADGET_BUSID"
}

# wait_available BUSID...: each device exported again (usbip_status 1).
wait_available() {
	local b
	for b in "$@"; do
		wait_for "$b available again" 60 grep -qx 1 "/sys/bus/usb/devices/$b/usbip_status"
	done
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

# nft_hooks_hold: loads nf_tables and nft_reject_inet and registers empty
# input and output base chains (table inet vmkeep) for the rest of the boot.
# Call it before any traffic a test cuts with nft.  The first base chain
# on a hook flips a static key, which patches kernel text with int3 while
# other CPUs run it; under QEMU's TCG a CPU can still hit the int3 after
# the patch is done ("Oops: int3" in ip6_xmit was seen on 6.12 while a
# connection was sending).  With the keys held on, later tables only count.
nft_hooks_hold() {
	run modprobe nf_tables
	run modprobe nft_reject_inet
	nft list table inet vmkeep >/dev/null 2>&1 && return 0
	run nft add table inet vmkeep
	run nft add chain inet vmkeep in '{ type filter hook input priority 100; }'
	run nft add chain inet vmkeep out '{ type filter hook output priority 100; }'
}

# tcp_reset_cut_start SIDE: cuts this VM's usbip connections (TCP port
# 3240) as a reset would: every packet from the peer except an RST is
# answered with an RST and dropped (nft table "resetcut", input hook).
# SIDE: "server" (the peer's packets come to port 3240) or "client" (they
# come from it).  The peer hears of it on its next packet (a command, an
# answer or a keepalive probe), this VM when its next packet meets the
# peer's RST.  Needs nft_hooks_hold first, before the traffic.
tcp_reset_cut_start() {
	local port=sport
	[ "$1" = server ] && port=dport
	nft add table inet resetcut
	nft add chain inet resetcut in '{ type filter hook input priority 0; }'
	nft add rule inet resetcut in tcp "$port" 3240 tcp flags '&' rst != rst reject with tcp reset
}

tcp_reset_cut_end() {
	nft delete table inet resetcut
}
