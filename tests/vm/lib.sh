# SPDX-License-Identifier: GPL-2.0
#
# tests/vm/lib.sh - host side of the QEMU VM tests (sourced by tests/run and
# tests/demo.sh).
#
# A VM boots a Debian kernel fetched into build/kernels/KVER with the
# initramfs of tests/vm/mkinitramfs.  Its root is the host's / over read-only
# 9p with a tmpfs overlay; a second, writable 9p share (tag "testrun") is
# the VM's run directory RUN_DIR/vmN, holding vm.env (what the guest should
# do) and receiving dmesg.txt, rc and metrics.  The serial console goes to
# RUN_DIR/vmN/console.log.  VMs of a pair are joined by a QEMU socket
# netdev on 127.0.0.1 and talk IPv6 ULA (fd00:5b1b::/64) to each other.
#
# Scenario header (comment lines at the top of tests/scenarios/NAME.sh):
#   # @desc: one line
#   # @kernels: 6.1 6.12           kernel series it runs on
#   # @vms: 1                      1 or 2
#   # @modules: ours reference     module mode per VM (one word = all VMs)
#   # @timeout: 300                seconds for the whole boot + test
#   # @mem: 2048                   MiB per VM
#   # @qemu: ARGS                  extra QEMU arguments for every VM
#   # @qemu1: ARGS / @qemu2: ARGS  extra QEMU arguments for one VM
# The body defines vm1 (and vm2) to run in the guest, and optionally
# host_prepare, run on the host before the boot; it may call
# vm_usb_storage_image and friends below to add emulated USB devices.

VM_TOP=${VM_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
VM_SERVER_ADDR=fd00:5b1b::1
VM_CLIENT_ADDR=fd00:5b1b::2

# Kernel log lines (they carry a "[ seconds.micro]" stamp: printk.time=1)
# that fail a run.
# "BUG kmalloc-64 (Tainted: ...): Poison overwritten" is SLUB debugging's.
VM_BAD_RE='WARNING:|BUG:|kernel BUG|BUG [^ ]+ \((Not tainted|Tainted)|Oops|general protection|Kernel panic|possible circular locking|possible recursive locking|inconsistent lock state|suspicious RCU usage|KASAN|UBSAN|blocked for more than|refcount_t:|list_add corruption|list_del corruption'

# vm_series_list "6.1 6.12|all|6.1": expands a kernel selection.
vm_kver() {
	"$VM_TOP/tests/vm/kver" "$1"
}

# vm_prepare_kernel KVER: fetches the kernel and builds the initramfs.
# Serialised with a lock: several runs may share build/kernels.
vm_prepare_kernel() {
	mkdir -p "$VM_TOP/build/kernels"
	(
		flock 9
		"$VM_TOP/tests/vm/fetch" "$1" >/dev/null || exit 1
		"$VM_TOP/tests/vm/mkinitramfs" "$1" >/dev/null || exit 1
	) 9>"$VM_TOP/build/kernels/.lock"
}

# vm_ours_depmod KVER: prints a directory holding the depmod index files
# (modules.dep, .alias, ...) of Debian's module tree for KVER plus our
# modules in updates/.  depmod inside a TCG guest reads the whole tree over
# 9p and takes minutes, so it runs here on the host over a hard-link farm of
# the same tree; the result is cached per set of our .ko files.
vm_ours_depmod() {
	local kver=$1 kmod=$VM_TOP/build/kmod/$1/drivers/usb/usbip sum cache farm f
	local tree=$VM_TOP/build/kernels/$kver/lib/modules/$kver
	sum=$(cat "$kmod"/*.ko | sha256sum | cut -c1-16)
	# An empty sum would make the cache path depmod-ours/ itself, and the
	# rm -rf below would wipe every cached index of the shared tree.
	[ ${#sum} -eq 16 ] || return 1
	cache=$VM_TOP/build/kernels/$kver/depmod-ours/$sum
	(
		flock 9
		[ -f "$cache/modules.dep" ] && exit 0
		farm=$(mktemp -d "$VM_TOP/build/kernels/$kver/.farm.XXXXXX")
		trap 'rm -rf "$farm"' EXIT
		mkdir -p "$farm/lib/modules"
		cp -al "$tree" "$farm/lib/modules/" 2>/dev/null ||
			cp -as "$tree" "$farm/lib/modules/" || exit 1
		# Index files get real copies: depmod must not write through links.
		for f in "$tree"/modules.*; do
			cp --remove-destination "$f" "$farm/lib/modules/$kver/"
		done
		mkdir -p "$farm/lib/modules/$kver/updates"
		cp "$kmod"/*.ko "$farm/lib/modules/$kver/updates/"
		depmod -b "$farm" "$kver" || exit 1
		mkdir -p "$cache.tmp"
		cp "$farm/lib/modules/$kver"/modules.* "$cache.tmp/"
		rm -rf "$cache"
		mv "$cache.tmp" "$cache"
	) 9>"$VM_TOP/build/kernels/.lock" || return 1
	echo "$cache"
}

# vm_env_check: VMTEST_ENV ("NAME=VALUE ...", no blank in a value) is well
# formed; says what is wrong otherwise.  Those variables set the scenarios'
# overridable defaults (ROUNDS=${VHCI_CHURN_ROUNDS:-8} and the like), which
# a guest could not see otherwise: its environment is its stage 2's.  The
# names vm.env itself sets are refused.
vm_env_check() {
	local kv kvs
	read -r -a kvs <<<"${VMTEST_ENV:-}"
	for kv in "${kvs[@]}"; do
		if ! [[ $kv =~ ^[A-Za-z_][A-Za-z0-9_]*= ]]; then
			echo "VMTEST_ENV: '$kv' is not NAME=VALUE" >&2
			return 1
		fi
		case "${kv%%=*}" in
		VM_* | VMTEST_* | REPO | KVER | SCENARIO | SCENARIO_NAME | PEER_ADDR | PATH | HOME)
			echo "VMTEST_ENV: ${kv%%=*} belongs to the harness" >&2
			return 1
			;;
		esac
	done
}

# vm_env_exports: the variables of VMTEST_ENV as "export NAME=VALUE" lines
# for vm.env, which stage 2 sources before it runs the scenario.
vm_env_exports() {
	local kv kvs
	vm_env_check || return 1
	read -r -a kvs <<<"${VMTEST_ENV:-}"
	for kv in "${kvs[@]}"; do
		printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"
	done
}

# vm_free_port: a TCP port on 127.0.0.1 nobody listens on.
vm_free_port() {
	local p i
	for i in $(seq 50); do
		p=$((20000 + RANDOM % 40000))
		if ! ss -Hltn "sport = :$p" | grep -q .; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# scenario_header FILE KEY: value of "# @KEY:" in the scenario header.
scenario_header() {
	sed -n "s/^# @$2:[[:space:]]*//p" "$1" | head -n1
}

# ---------------------------------------------------------------------------
# Emulated USB devices, for host_prepare.  Each appends QEMU arguments to
# VM_QEMU_EXTRA_<n> of the VM given as first argument.

_vm_add_args() {
	local idx=$1
	shift
	eval "VM_QEMU_EXTRA_$idx+=(\"\$@\")"
}

# vm_usb_controller IDX xhci|uhci|ehci: adds a USB host controller.
vm_usb_controller() {
	case "$2" in
	xhci) _vm_add_args "$1" -device qemu-xhci,id=xhci ;;
	uhci) _vm_add_args "$1" -device piix3-usb-uhci,id=uhci ;;
	ehci) _vm_add_args "$1" -device usb-ehci,id=ehci ;;
	*) echo "vm_usb_controller: unknown controller $2" >&2; return 1 ;;
	esac
}

# vm_usb_storage_image IDX NAME MIB BUS [DRIVEOPTS]: creates RUN_DIR/NAME.img
# with MIB MiB of random data (its sha256 in RUN_DIR/vmIDX/NAME.sha256, which
# the guest reads with qemu_image_sha) and plugs a usb-storage device with
# serial NAME into BUS (e.g. xhci.0, uhci.0 or ehci.0).  DRIVEOPTS are extra
# -drive options, e.g. throttling.bps-read=N to keep transfers in flight.
vm_usb_storage_image() {
	local idx=$1 name=$2 mib=$3 bus=$4 img=$RUN_DIR/$2.img
	head -c $((mib * 1024 * 1024)) /dev/urandom >"$img"
	sha256sum "$img" | cut -d' ' -f1 >"$RUN_DIR/vm$idx/$name.sha256"
	_vm_add_args "$idx" -drive "if=none,id=$name,format=raw,file=$img${5:+,$5}" \
		-device "usb-storage,bus=$bus,drive=$name,serial=$name"
}

# vm_usb_kbd IDX BUS: plugs an emulated keyboard (0627:0001).
vm_usb_kbd() {
	_vm_add_args "$1" -device "usb-kbd,bus=$2"
}

# ---------------------------------------------------------------------------
# Booting

# vm_start IDX: boots VM IDX of the current run.  Uses RUN_DIR, KVER,
# SCENARIO, VM_COUNT, VM_MODES[IDX], VM_MEM, VM_SMP (vCPUs, default 2),
# VM_NET_PORT, VM_QEMU_COMMON and VM_QEMU_EXTRA_IDX.  Sets VM_PID[IDX].
vm_start() {
	local idx=$1 dir=$RUN_DIR/vm$1 kdir=$VM_TOP/build/kernels/$KVER addr= peer= net=()
	local extra_name="VM_QEMU_EXTRA_$idx[@]"
	mkdir -p "$dir"
	rm -f "$dir/console.log" "$dir/dmesg.txt" "$dir/rc" "$dir/metrics"
	cp "$SCENARIO" "$dir/scenario.sh"
	rm -rf "$dir/depmod"
	if [ "${VM_MODES[$idx]}" = ours ]; then
		local dm
		dm=$(vm_ours_depmod "$KVER") || { echo "vm_start: host depmod failed" >&2; return 1; }
		mkdir -p "$dir/depmod"
		cp "$dm"/modules.* "$dir/depmod/"
	fi
	if [ "$VM_COUNT" -gt 1 ]; then
		if [ "$idx" = 1 ]; then
			addr=$VM_SERVER_ADDR peer=$VM_CLIENT_ADDR
			net=(-netdev "socket,id=net0,listen=127.0.0.1:$VM_NET_PORT")
		else
			addr=$VM_CLIENT_ADDR peer=$VM_SERVER_ADDR
			net=(-netdev "socket,id=net0,connect=127.0.0.1:$VM_NET_PORT")
		fi
		net+=(-device "virtio-net-pci,netdev=net0,mac=52:54:00:5b:1b:0$idx")
	fi
	cat >"$dir/vm.env" <<-EOF
	REPO='$VM_TOP'
	KVER='$KVER'
	VM_INDEX=$idx
	VM_COUNT=$VM_COUNT
	VM_MODE='${VM_MODES[$idx]}'
	VMTEST_TIME_SCALE=${VM_TIME_SCALE:-1}
	VMTEST_GUEST_DEPMOD='${VMTEST_GUEST_DEPMOD:-}'
	SCENARIO=/run/vmtest/scenario.sh
	SCENARIO_NAME='$(basename "$SCENARIO" .sh)'
	VM_ADDR='$addr'
	PEER_ADDR='$peer'
	EOF
	vm_env_exports >>"$dir/vm.env" || return 1
	local append="console=ttyS0,115200 loglevel=7 printk.time=1 panic=-1"
	# A reference-peer VM on the debug kernel goes on after a report, so
	# that the run can tell Debian's modules' bugs from ours (vm_kernel_reports).
	vm_refpeer_vm "$idx" || append+=" panic_on_warn=1"
	# A TCG vCPU on a busy host can stall for seconds: soft lockups are
	# reported after 2 * watchdog_thresh = 60 s instead of 20 s.
	append+=" oops=panic softlockup_panic=1 hung_task_panic=1 watchdog_thresh=30"
	append+=" net.ifnames=0"
	# An overloaded host can starve the emulated timer during the IO-APIC
	# check at boot ("IO-APIC + timer doesn't work" panics); skip it.
	append+=" no_timer_check"
	append+=" rdinit=/init vmtest_stage2=$VM_TOP/tests/guest/stage2.sh"
	# The debug kernel with 5-level paging (QEMU's -cpu max offers LA57)
	# once took an interrupt in early boot with a direct-map address
	# KASAN could not check ("wild-memory-access" at ff11...): use 4 levels.
	#
	# Its ACPI interpreter (KASAN, lockdep, under TCG) also needs more than
	# ACPICA's 30 s loop limit for the loop in i440FX's \_SB.PCI0._PRT:
	# every PCI device then waited 30 s at boot and got no INTx line
	# ("_PRT ... AE_AML_LOOP_TIMEOUT", "PCI INT A: no GSI"), which left
	# EHCI and UHCI dead.  acpi=noirq routes PCI interrupts by the BIOS's
	# MP table instead.
	case "$KVER" in *-usbip-debug) append+=" no5lvl acpi=noirq" ;; esac
	# Extra kernel parameters a scenario asks for (@append:).
	append+="${VM_APPEND:+ $VM_APPEND}"
	# shellcheck disable=SC2086
	qemu-system-x86_64 -name "vmtest-vm$idx" \
		-accel tcg -cpu max -smp "${VM_SMP:-2}" -m "${VM_MEM:-2048}" \
		-nodefaults -display none -monitor none -no-reboot \
		-serial "file:$dir/console.log" \
		-kernel "$kdir/boot/vmlinuz-$KVER" -initrd "$kdir/initramfs.cpio.gz" \
		-append "$append" \
		-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
		-virtfs "local,path=$dir,mount_tag=testrun,security_model=none,multidevs=remap" \
		"${net[@]}" $VM_QEMU_COMMON "${!extra_name}" \
		</dev/null >"$dir/qemu.out" 2>&1 &
	VM_PID[$idx]=$!
	echo "${VM_PID[$idx]}" >"$dir/qemu.pid"
}

vm_alive() {
	kill -0 "${VM_PID[$1]}" 2>/dev/null
}

vm_kill() {
	if vm_alive "$1"; then
		kill "${VM_PID[$1]}" 2>/dev/null
		wait "${VM_PID[$1]}" 2>/dev/null
	fi
}

# vm_listening PORT: QEMU of VM 1 listens for the pair's socket netdev.
vm_listening() {
	ss -Hltn "sport = :$1" | grep -q .
}

# vm_guest_rc IDX: the rc of the result marker, empty if none yet.
vm_guest_rc() {
	sed -n 's/.*VMTEST-RESULT rc=\([0-9]*\).*/\1/p' "$RUN_DIR/vm$1/console.log" 2>/dev/null | tail -n1
}

# vm_guest_error IDX: the first TEST-ERROR message of VM IDX, if any.
vm_guest_error() {
	grep -a 'TEST-ERROR:' "$RUN_DIR/vm$1/console.log" 2>/dev/null | head -n1 |
		sed 's/.*TEST-ERROR: //' | cut -c1-160
}

# Modules of Linux's in-tree USB/IP, as a stack frame names them.
VM_REF_MODS_RE='\[(usbip_core|usbip_host|vhci_hcd|usbip_vudc)\]'

# vm_refpeer_vm IDX: VM IDX runs the reference peer on the debug kernel.
# Such a VM boots without panic_on_warn and its reports are sorted by
# vm_kernel_reports (see tests/vm/README.md, "Reference-peer findings").
vm_refpeer_vm() {
	[ "${VM_MODES[$1]}" = reference ] && case "$KVER" in *-usbip-debug) ;; *) false ;; esac
}

# vm_kernel_reports FILE REFPEER: every kernel log line of FILE matching
# VM_BAD_RE, as "BAD<tab>line", or as "REF<tab>line" when REFPEER is 1 and
# the report holding the line is a reference-peer finding: a report (from
# its first matching line to the end of its first stack trace, "</TASK>",
# at most 150 lines) that names a frame in an in-tree usbip module, in a
# kernel never tainted by an out-of-tree module.  That taint ("O" in the
# "Tainted:" flags of the report) is set by loading any module of ours,
# and stays: so once ours were loaded, every report counts as ours.  A
# report without a taint line or without a usbip frame counts as ours.
vm_kernel_reports() {
	[ -f "$1" ] || return 0
	# regular expressions through the environment: awk -v would eat "\["
	VMR_BAD="\[ *[0-9]+\.[0-9]+\].*($VM_BAD_RE)" VMR_MODS=$VM_REF_MODS_RE \
	awk -v refpeer="${2:-0}" -v kver="$KVER" '
	BEGIN { bad = ENVIRON["VMR_BAD"]; mods = ENVIRON["VMR_MODS"] }
	function flush(  i, ours) {
		if (!n) return
		ours = !(refpeer == 1 && usbip && taint == "clean")
		for (i = 1; i <= n; i++) print (ours ? "BAD" : "REF") "\t" hit[i]
		n = 0
	}
	function taint_of(l,  f, k) {
		if (l ~ /Not tainted/) return "clean"
		sub(/.*Tainted: /, "", l)
		k = index(l, kver)
		f = k ? substr(l, 1, k - 1) : l
		return f ~ /O/ ? "oot" : "clean"
	}
	# The serial console ends its lines with CR LF, dmesg.txt with LF:
	# the same report must read the same from both.
	{ sub(/\r$/, "") }
	# A guest echoing kernel lines (dmesg_check: "    dmesg| [ ...") only
	# repeats what the kernel put on the console and in dmesg.txt.
	/^    dmesg\| / { next }
	{
		if (inrep) {
			len++
			if ($0 ~ mods) usbip = 1
			if (taint == "" && $0 ~ /(Not tainted|Tainted: )/) taint = taint_of($0)
			if ($0 ~ bad) hit[++n] = $0
			if ($0 ~ /<\/TASK>/ || len >= 150) { flush(); inrep = 0 }
			next
		}
		if ($0 ~ bad) {
			inrep = 1; len = 1; n = 0; hit[++n] = $0
			usbip = ($0 ~ mods); taint = ""
			if ($0 ~ /(Not tainted|Tainted: )/) taint = taint_of($0)
		}
	}
	END { flush() }' "$1"
}

# vm_boot_broken IDX: VM IDX's stage 2 found its boot broken by the load
# of the host (VMTEST-BOOT-BROKEN) and powered off.
vm_boot_broken() {
	grep -aq "^VMTEST-BOOT-BROKEN" "$RUN_DIR/vm$1/console.log" 2>/dev/null
}

# vm_booted IDX: VM IDX reached stage 2 (tests/guest/stage2.sh), past the
# kernel's own start and before any module of ours is loaded.
vm_booted() {
	grep -aq "^VMTEST-STAGE2" "$RUN_DIR/vm$1/console.log" 2>/dev/null
}

# vm_run_all TIMEOUT: boots VMs 1..VM_COUNT (VM 2 once VM 1's QEMU listens
# for the pair link), waits for all to power off, then judges each VM.
# Sets VM_REASON (empty on success) and VM_FAILED_IDX.
#
# A guest kernel that stops in its early boot, before its own stage 2 (so
# no code of ours ran in it), is booted once more with the whole set of
# VMs, however far the others got (vhci-interop's client once sat silent
# for 16 minutes while its server waited for it): the debug kernel under TCG on a loaded host has sat silent there
# for many minutes after "Running RCU-tasks wait API self tests", and once
# crashed in an interrupt there.  Stopped means: QEMU exited without a
# result marker, or the console did not grow for VM_BOOT_STALL (default
# 60) x VM_TIME_SCALE seconds.  The retry gets the whole timeout again, the
# first attempt's consoles stay as console.boot1.log, and the retry is
# said.  A second stop is judged as a failure.  The same holds for a boot
# that stage 2 found broken (VMTEST-BOOT-BROKEN: ACPI timed out in an
# AML loop, so PCI interrupts may be unrouted), whichever VM of a pair it
# was and however far the others got.
vm_run_all() {
	local timeout=$1 i
	VM_BOOT_RETRY=1 VM_BOOT_FAILED=
	_vm_run_once "$timeout" && return 0
	[ -n "$VM_BOOT_FAILED" ] || return 1
	for ((i = 1; i <= VM_COUNT; i++)); do
		mv -f "$RUN_DIR/vm$i/console.log" "$RUN_DIR/vm$i/console.boot1.log" 2>/dev/null
	done
	echo "tests/run: $(basename "$SCENARIO" .sh): $VM_REASON; booting again" >&2
	VM_BOOT_RETRY= VM_BOOT_FAILED=
	_vm_run_once "$timeout"
}

# _vm_boot_stopped IDX STALL: VM IDX stopped before stage 2; prints why.
_vm_boot_stopped() {
	local now mtime
	vm_booted "$1" && return 1
	if ! vm_alive "$1"; then
		[ -z "$(vm_guest_rc "$1")" ] || return 1
		echo "QEMU exited"
		return 0
	fi
	now=$(date +%s)
	mtime=$(stat -c %Y "$RUN_DIR/vm$1/console.log" 2>/dev/null || echo "$now")
	[ $((now - mtime)) -ge "$2" ] || return 1
	echo "console silent for $2 s"
}

_vm_run_once() {
	local timeout=$1 start i j idle_since= all_done reason stall why
	stall=$((${VM_BOOT_STALL:-60} * ${VM_TIME_SCALE:-1}))
	VM_REASON= VM_FAILED_IDX=
	VM_PID=()
	start=$SECONDS
	# An interrupted run takes its VMs with it.
	trap 'for i in "${!VM_PID[@]}"; do vm_kill "$i"; done; exit 130' INT TERM
	[ "$VM_COUNT" -gt 1 ] && VM_NET_PORT=$(vm_free_port)
	if ! vm_start 1; then
		VM_REASON="vm1: could not prepare the VM (host depmod)" VM_FAILED_IDX=1
		return 1
	fi
	if [ "$VM_COUNT" -gt 1 ]; then
		while ! vm_listening "$VM_NET_PORT"; do
			if ! vm_alive 1 || [ $((SECONDS - start)) -ge 30 ]; then
				VM_REASON="vm1 QEMU did not start listening on 127.0.0.1:$VM_NET_PORT"
				VM_FAILED_IDX=1
				vm_kill 1
				return 1
			fi
			sleep 0.1
		done
		for ((i = 2; i <= VM_COUNT; i++)); do
			if ! vm_start "$i"; then
				VM_REASON="vm$i: could not prepare the VM (host depmod)" VM_FAILED_IDX=$i
				vm_kill 1
				return 1
			fi
		done
	fi

	while :; do
		# A boot that failed (see vm_run_all): a VM whose stage 2 found
		# its boot broken (VMTEST-BOOT-BROKEN), or one that stopped in
		# early boot, before its own stage 2; whichever VM it was and
		# however far the others got.  All the VMs are stopped and, the
		# first time, booted again.
		why=
		for ((i = 1; i <= VM_COUNT; i++)); do
			if vm_boot_broken "$i"; then
				why="boot broken (ACPI AML loop timeout)"
			elif why=$(_vm_boot_stopped "$i" "$stall"); then
				why="stopped in early boot ($why), before stage 2"
			fi
			[ -z "$why" ] || break
		done
		if [ -n "$why" ]; then
			VM_FAILED_IDX=$i
			for ((j = 1; j <= VM_COUNT; j++)); do vm_kill "$j"; done
			if [ -n "$VM_BOOT_RETRY" ]; then
				VM_BOOT_FAILED=$i
				VM_REASON="vm$i $why"
				return 1
			fi
			VM_REASON="twice: $why"
			break
		fi
		all_done=1
		for ((i = 1; i <= VM_COUNT; i++)); do
			vm_alive "$i" && all_done=
		done
		[ -n "$all_done" ] && break
		if [ $((SECONDS - start)) -ge "$timeout" ]; then
			VM_REASON="timeout after ${timeout}s"
			for ((i = 1; i <= VM_COUNT; i++)); do
				if vm_alive "$i"; then
					VM_FAILED_IDX=${VM_FAILED_IDX:-$i}
				fi
				vm_kill "$i"
			done
			break
		fi
		# One VM of a pair ended badly: give the others a short grace.
		if [ "$VM_COUNT" -gt 1 ] && [ -z "$idle_since" ]; then
			for ((i = 1; i <= VM_COUNT; i++)); do
				if ! vm_alive "$i" && [ "$(vm_guest_rc "$i")" != 0 ]; then
					idle_since=$SECONDS
				fi
			done
		fi
		if [ -n "$idle_since" ] && [ $((SECONDS - idle_since)) -ge 20 ]; then
			for ((i = 1; i <= VM_COUNT; i++)); do vm_kill "$i"; done
		fi
		sleep 0.5
	done
	for ((i = 1; i <= VM_COUNT; i++)); do wait "${VM_PID[$i]}" 2>/dev/null; done

	# Judge: the first problem found wins, kernel warnings first.
	for ((i = 1; i <= VM_COUNT; i++)); do
		local dir=$RUN_DIR/vm$i bad rc refpeer=0 reps
		vm_refpeer_vm "$i" && refpeer=1
		reps=$( { vm_kernel_reports "$dir/console.log" $refpeer; vm_kernel_reports "$dir/dmesg.txt" $refpeer; } )
		printf '%s\n' "$reps" | sed -n 's/^REF\t//p' | sort -u >"$dir/reference-findings.txt"
		[ -s "$dir/reference-findings.txt" ] || rm -f "$dir/reference-findings.txt"
		bad=$(printf '%s\n' "$reps" | sed -n 's/^BAD\t//p' | head -n1)
		if [ -n "$bad" ]; then
			reason="vm$i kernel: $(echo "$bad" | sed 's/^.*\] //' | cut -c1-150)"
		else
			rc=$(vm_guest_rc "$i")
			if [ -z "$rc" ]; then
				if grep -q 'Kernel panic' "$dir/console.log" 2>/dev/null; then
					reason="vm$i kernel panic"
				elif [ -n "$VM_REASON" ]; then
					reason="vm$i: $VM_REASON"
				else
					reason="vm$i: no result marker (QEMU: $(tail -n1 "$dir/qemu.out" 2>/dev/null))"
				fi
			elif [ "$rc" != 0 ]; then
				local err
				err=$(vm_guest_error "$i")
				reason="vm$i guest test exited $rc${err:+: $err}"
			else
				continue
			fi
		fi
		VM_REASON=$reason
		VM_FAILED_IDX=$i
		return 1
	done
	if [ -n "$VM_REASON" ]; then
		VM_FAILED_IDX=${VM_FAILED_IDX:-1}
		return 1
	fi
	return 0
}

# vm_usb_audio IDX NAME BUS: plugs QEMU's usb-audio (46f4:0002, one
# isochronous OUT endpoint, 48 kHz S16LE stereo, 192-byte packets) with
# serial NAME into BUS.  What the device plays is written unchanged (no
# mixing engine, so no volume or format conversion) to RUN_DIR/vmIDX/NAME.wav,
# which the guest reads as /run/vmtest/NAME.wav.  The device buffers up to
# 4 MiB, so a guest sending faster than real time loses nothing.
vm_usb_audio() {
	local idx=$1 name=$2 bus=$3
	_vm_add_args "$idx" \
		-audiodev "wav,id=$name,path=$RUN_DIR/vm$idx/$name.wav,out.mixing-engine=off" \
		-device "usb-audio,bus=$bus,audiodev=$name,serial=$name,buffer=4194304"
}

# ---------------------------------------------------------------------------
# Keys typed from the host (vhci-devices, ours-e2e)

# vm_key_typist IDX CLIENT: gives VM IDX a QEMU monitor socket and starts a
# background typist: when guest CLIENT asks (host_keys_check in
# tests/guest/lib.sh), the keys it names are pressed on VM IDX's emulated
# keyboard (vm_usb_kbd).  Call from host_prepare.
vm_key_typist() {
	local sock=$RUN_DIR/mon.sock
	# a unix socket path has at most 107 bytes
	[ ${#sock} -lt 100 ] || sock=$(mktemp -u /tmp/vmtest-mon.XXXXXX)
	_vm_add_args "$1" -monitor "unix:$sock,server=on,wait=off"
	_vm_key_typist "$sock" "$1" "$2" </dev/null &
}

# _vm_key_typist SOCK IDX CLIENT: until VM IDX's QEMU is gone (or 30 min),
# waits for RUN_DIR/vmCLIENT/keys.req (written by the client guest), types
# the keys it names on VM IDX's keyboard through the monitor at SOCK, one
# every 0.3 s, and writes RUN_DIR/vmCLIENT/keys.done ("rc=N") and keys.log.
_vm_key_typist() {
	local sock=$1 cdir=$RUN_DIR/vm$3
	local req=$cdir/keys.req done=$cdir/keys.done pidf=$RUN_DIR/vm$2/qemu.pid
	local end=$((SECONDS + 1800)) keys rc dead_since=
	while [ "$SECONDS" -lt "$end" ] && [ -d "$cdir" ]; do
		# gone for 20 s: not merely between an early-boot stop and
		# its retry (vm_run_all), which writes a new qemu.pid
		if [ -f "$pidf" ] && ! kill -0 "$(cat "$pidf")" 2>/dev/null; then
			dead_since=${dead_since:-$SECONDS}
			[ $((SECONDS - dead_since)) -lt 20 ] || break
		else
			dead_since=
		fi
		if [ -f "$req" ]; then
			keys=$(cat "$req")
			rm -f "$req"
			rc=0
			# shellcheck disable=SC2086  # one argument a key
			python3 - "$sock" $keys <<-'PY' >"$cdir/keys.log" 2>&1 || rc=$?
			import socket, sys, time
			s = socket.socket(socket.AF_UNIX)
			s.settimeout(20)
			s.connect(sys.argv[1])
			def prompt():
			    b = b""
			    while not b.endswith(b"(qemu) "):
			        c = s.recv(4096)
			        if not c:
			            sys.exit("monitor closed")
			        b += c
			prompt()
			for k in sys.argv[2:]:
			    s.sendall(("sendkey %s\n" % k).encode())
			    prompt()
			    print("typed", k, flush=True)
			    time.sleep(0.3)
			PY
			echo "rc=$rc" >"$done.tmp" && mv "$done.tmp" "$done"
		fi
		sleep 0.3
	done
	case "$sock" in /tmp/vmtest-mon.*) rm -f "$sock" ;; esac
}

# vm_xhci_kbd_stick IDX MIB CLIENT: qemu-xhci in VM IDX with QEMU's usb-kbd
# and a usb-storage stick "qstick" of MIB MiB (vm_usb_storage_image) on it,
# and keys typed on that keyboard when guest CLIENT asks (vm_key_typist).
vm_xhci_kbd_stick() {
	vm_usb_controller "$1" xhci
	vm_usb_kbd "$1" xhci.0
	vm_usb_storage_image "$1" qstick "$2" xhci.0
	vm_key_typist "$1" "$3"
}
