# SPDX-License-Identifier: GPL-2.0
#
# Guest side of "make demo" (tests/demo.sh).  Not a test of tests/run: it
# walks a newcomer through exporting a USB disk with USB/IP inside one VM,
# explaining each step, and ends with the checksum comparison.
#
# Uses our usbip tool (build/tools/src/usbip) for every command it
# implements and Debian's /usr/sbin/usbip for the rest; the kernel modules
# are the VM's module mode (reference = Debian's, ours = build/kmod).

MIB=16
OURS=$REPO/build/tools/src/usbip

say() {
	echo "    $*"
}

# tool_for CMD: our usbip when it implements CMD, else Debian's.
tool_for() {
	if [ -x "$OURS" ] && "$OURS" help "$1" >/dev/null 2>&1 &&
	   ! "$OURS" --help 2>&1 | grep -i 'not implemented' | grep -qw -- "$1"; then
		echo "$OURS"
	else
		echo "$USBIP"
	fi
}

# u CMD ARGS...: runs "usbip CMD ARGS" with our tool when it implements
# CMD, and with Debian's when ours says it does not (yet).
u() {
	local t out rc
	t=$(tool_for "$1")
	if [ "$t" = "$OURS" ]; then
		info "(our tool: ${OURS#"$REPO"/})"
		echo "    \$ $OURS $*"
		rc=0
		out=$("$OURS" "$@" 2>&1) || rc=$?
		if [ "$rc" -eq 0 ] || ! echo "$out" | grep -qi 'not implemented'; then
			echo "$out"
			return "$rc"
		fi
		info "(ours says: $(echo "$out" | head -n1); using Debian's tool instead)"
	else
		info "(Debian's tool: $USBIP)"
	fi
	run "$USBIP" "$@"
}

vm1() {
	local backing=/tmp/gadget-backing.img busid dev port sum_orig sum_back mnt=/mnt/usbip

	echo
	echo "======================================================================"
	echo " USB/IP demo: share a USB disk over TCP/IP, inside one VM"
	echo " kernel $(uname -r), kernel modules: $VM_MODE"
	echo "======================================================================"

	step "load the USB/IP kernel modules"
	echo
	say "usbip-core is the shared protocol code, usbip-host is the server side (it"
	say "takes a real USB device away from its driver and serves it over TCP), and"
	say "vhci-hcd is the client side: a virtual USB host controller whose ports"
	say "hold devices that really live on another machine.  There is no udev in"
	say "this VM, so modules are loaded by hand."
	run modprobe usbip-host
	run modprobe vhci-hcd
	info "usbip-core comes from $(modinfo -n usbip-core)"

	step "create a USB disk to share: a mass-storage gadget on dummy_hcd"
	echo
	say "We have no real USB hardware here.  dummy_hcd is a software USB host"
	say "controller wired to a software USB device controller; with configfs we"
	say "make that device side a USB flash disk holding ${MIB} MiB of random data."
	random_file "$backing" "$MIB"
	gadget_storage_create demodisk "$backing"
	at_exit gadget_remove demodisk
	busid=$GADGET_BUSID
	info "the disk appeared as USB device $busid ($(cat "/sys/bus/usb/devices/$busid/product"))"

	step "list the local USB devices"
	echo
	say "'usbip list -l' shows every USB device this machine could export; the"
	say "bus id (like $busid) names a device in all other commands."
	u list -l

	step "start the USB/IP server daemon, usbipd"
	echo
	say "usbipd listens on TCP port 3240 and answers clients that ask which"
	say "devices are exported and that want to import one."
	if [ -x "$REPO/build/tools/src/usbipd" ]; then
		info "(our daemon: build/tools/src/usbipd)"
		run "$REPO/build/tools/src/usbipd" -D || true
		local t
		for t in $(seq 50); do port_listening 3240 && break; sleep 0.2; done
		if ! port_listening 3240; then
			info "(our usbipd is not listening; using Debian's /usr/sbin/usbipd instead)"
			usbipd_stop 2>/dev/null || true
			run "$USBIPD" -D
		fi
	else
		info "(Debian's daemon: $USBIPD)"
		run "$USBIPD" -D
	fi
	wait_for "usbipd listening" 30 port_listening 3240
	at_exit usbipd_stop
	ss -Hltn "sport = :3240" | sed 's/^/    /'

	step "export the disk: usbip bind -b $busid"
	echo
	say "bind detaches the device from its usual driver (usb-storage) and hands"
	say "it to usbip-host, so that no program on the server uses it any more."
	u bind -b "$busid"
	at_exit "$USBIP" unbind -b "$busid"
	wait_for "bound to usbip-host" 30 test -e "/sys/bus/usb/drivers/usbip-host/$busid"
	info "driver of $busid: $(basename "$(readlink -f "/sys/bus/usb/devices/$busid/driver")")"

	step "ask the server what it exports: usbip list -r 127.0.0.1"
	echo
	say "A client would use the server's address; here client and server are the"
	say "same VM, so we talk to ourselves over the loopback address."
	u list -r 127.0.0.1

	step "import the disk: usbip attach -r 127.0.0.1 -b $busid"
	echo
	say "attach opens a TCP connection, asks for $busid, and hands the socket to"
	say "vhci-hcd: the device is now plugged into a virtual port, and every USB"
	say "transfer travels over TCP to usbip-host and the real device."
	load_storage
	u attach -r 127.0.0.1 -b "$busid"
	wait_disk dev 60 disk_of_vhci
	port=$(vhci_ports_in_use | head -n1)
	at_exit "$USBIP" detach -p "$port"
	u port

	step "look at the imported disk"
	echo
	say "The kernel sees a new USB disk behind vhci_hcd and usb-storage makes it"
	say "a SCSI disk, $dev, like any USB stick."
	lsusb 2>/dev/null | grep -i -e 1d6b:0104 | sed 's/^/    /' || true
	lsblk -o NAME,SIZE,TRAN,VENDOR,MODEL "$dev" | sed 's/^/    /'
	info "sysfs path: $(readlink -f "/sys/block/${dev#/dev/}")"

	step "write a file through USB/IP and read it back"
	echo
	say "We make a file system on the imported disk, write a file of random data,"
	say "unmount it (everything goes over the wire to the gadget), mount it again"
	say "with cold caches and read the file back."
	run mkfs.ext4 -q -F "$dev"
	mkdir -p "$mnt"
	run mount "$dev" "$mnt"
	head -c 4M /dev/urandom >/tmp/original.bin
	sum_orig=$(sha_file /tmp/original.bin)
	run cp /tmp/original.bin "$mnt/hello.bin"
	run umount "$mnt"
	echo 3 >/proc/sys/vm/drop_caches
	run mount -o ro "$dev" "$mnt"
	ls -l "$mnt" | sed 's/^/    /'
	sum_back=$(sha_file "$mnt/hello.bin")
	run umount "$mnt"

	step "detach the disk: usbip detach -p $port"
	echo
	say "The virtual port is freed and the disk disappears from the client."
	u detach -p "$port"
	wait_for "disk gone" 60 sh -c "! test -b $dev"

	step "clean up: give the device back, stop usbipd, remove the gadget"
	echo
	say "unbind returns the device to its usual driver on the server (usb-storage"
	say "picks it up again as a local disk), then the daemon and gadget go away."
	u unbind -b "$busid"
	usbipd_stop
	gadget_remove demodisk
	_cleanups=()

	step "compare the checksums"
	echo "    sha256 of the file written : $sum_orig"
	echo "    sha256 of the file read    : $sum_back"
	if [ "$sum_orig" = "$sum_back" ]; then
		echo "    RESULT: MATCH - the data made the round trip through USB/IP intact"
	else
		echo "    RESULT: MISMATCH"
		die "checksums differ"
	fi
}
