# SPDX-License-Identifier: GPL-2.0
# @desc: debug kernel only: our usbip-host exports a dummy_hcd gadget disk to our vhci-hcd over loopback while a few percent of the slab and page allocations of our rx/tx threads and of usbip attach/detach fail (failslab + fail_page_alloc, task filter); every transfer ends with the right data or an I/O error, every attach/detach/connection cut with success or a clear error, no hang; then with faults off the same port and device work (sha256 both ways) and kmemleak finds nothing
# @kernels: debug
# @vms: 1
# @modules: ours
# @timeout: 600
#
# Faults are limited to our code's context with the fault-injection task
# filter (CONFIG_FAULT_INJECTION_STACKTRACE_FILTER, which would limit them
# to our modules' text, does not exist on x86_64): only tasks with
# /proc/PID/make-it-fail set see failures, and never in interrupt context.
# Marked: the connection threads of usbip-core ("BUSID-rx/-tx" of
# usbip-host, "vhci port N-rx/-tx" of vhci-hcd), which do the receiving,
# URB building, submitting and replying of both modules, and the usbip
# attach/detach processes and the shell writing usbip_sockfd, during their
# writes to sysfs (the sysfs paths of both modules) and nothing else they
# do: see tests/guest/fi_preload.c for what went wrong otherwise.
# failslab and fail_page_alloc fail, sleeping allocations included
# (ignore-gfp-wait=N), in odd rounds FI_PERCENT (default 3) percent of the
# marked tasks' allocations, in even rounds one in FI_SPARSE (default 3000):
# at 3% an 8 MiB read never got through (6 of 6 connections died in it),
# so the write and the cut under faults were never reached; sparse
# failures let transfers finish and hit the later steps.  "times" counts
# the injected failures, and a run that injected none fails (it would have
# tested nothing).
#
# Each of ROUNDS rounds: attach (retried; each failure must be a non-zero
# exit with a message, and after a detach the port is free and the device
# available), an O_DIRECT read of the whole disk (data equal to the backing
# file, or an I/O error), an O_DIRECT write of new data (then, faults off
# for the check, what the disk shows equals the backing file), and a cut
# while dd reads the disk in a loop: odd rounds "usbip detach" on the
# client, even rounds -1 into the server's usbip_sockfd (a cut that fails
# under faults, with its message, is repeated without).  The loop must end
# with an error, never a timeout; the port must become free and the device
# available again.  No dd may hang
# (timeout 124 fails the test), and the hung-task detector panics the guest
# on a task stuck for 120 s.  Afterwards, faults off: attach, read and write
# the whole disk with sha256 checks, detach.  The modules stay loaded, so
# that kmemleak's report (stage 2, before power-off) names them.

# The preload library of fi_run, built on the host (the guest has no
# compiler of its own: it runs the host's).
host_prepare() {
	cc -shared -fPIC -O2 -Wall -Wextra -Werror -o "$RUN_DIR/vm1/fi_preload.so" \
		"$VM_TOP/tests/guest/fi_preload.c" -ldl
}

MIB=8
ROUNDS=${ROUNDS:-6}
FI_PERCENT=${FI_PERCENT:-3}
FI_SPARSE=${FI_SPARSE:-3000}
FI_MODE=dense
FI_TIMES=1000000
FI_DIRS="/sys/kernel/debug/failslab /sys/kernel/debug/fail_page_alloc"
SCALE=${VMTEST_TIME_SCALE:-1}
BACKING=/tmp/fidisk.img

fi_setup() {
	local d
	for d in $FI_DIRS; do
		[ -d "$d" ] || die "no $d: this is not the debug kernel (CONFIG_FAILSLAB, CONFIG_FAIL_PAGE_ALLOC, CONFIG_FAULT_INJECTION_DEBUG_FS)"
		echo 0 >"$d/probability"
		echo 1 >"$d/interval"
		echo "$FI_TIMES" >"$d/times"
		echo 0 >"$d/space"
		echo 0 >"$d/verbose"
		echo Y >"$d/task-filter"
		echo N >"$d/ignore-gfp-wait"
	done
	echo N >/sys/kernel/debug/fail_page_alloc/ignore-gfp-highmem
	echo 0 >/sys/kernel/debug/fail_page_alloc/min-order
}

# fi_set PERCENT [INTERVAL]: fail PERCENT percent of the marked tasks'
# allocations; with INTERVAL, only every INTERVAL-th is a candidate.
fi_set() {
	local d
	for d in $FI_DIRS; do
		echo "${2:-1}" >"$d/interval"
		echo "$1" >"$d/probability"
	done
}

# fi_on: the current round's faults (FI_MODE: dense or sparse).
fi_on() {
	if [ "$FI_MODE" = sparse ]; then
		fi_set 100 "$FI_SPARSE"
	else
		fi_set "$FI_PERCENT"
	fi
}
fi_off() { fi_set 0; }

# fi_what: the current round's faults, in words.
fi_what() {
	if [ "$FI_MODE" = sparse ]; then
		echo "one in $FI_SPARSE of our allocations fails"
	else
		echo "${FI_PERCENT}% of our allocations fail"
	fi
}

# fi_injected: failures injected so far, both kinds.
fi_injected() {
	local d n=0
	for d in $FI_DIRS; do n=$((n + FI_TIMES - $(cat "$d/times"))); done
	echo "$n"
}

# fi_mark_threads: make-it-fail on every connection thread of our modules.
fi_mark_threads() {
	local c p comm n=0
	for c in /proc/[0-9]*/comm; do
		comm=$(cat "$c" 2>/dev/null) || continue
		case "$comm" in
		"$BUSID-rx" | "$BUSID-tx" | "vhci port "*-rx | "vhci port "*-tx)
			p=${c%/comm}
			echo 1 >"$p/make-it-fail" 2>/dev/null && n=$((n + 1))
			;;
		esac
	done
	echo "$n"
}

# fi_run CMD...: CMD with make-it-fail set during its writes to sysfs
# files, where it enters our modules (tests/guest/fi_preload.c, built by
# host_prepare).
fi_run() {
	LD_PRELOAD=/run/vmtest/fi_preload.so "$@"
}

stub_status() {
	cat "/sys/bus/usb/devices/$BUSID/usbip_status" 2>/dev/null
}

server_available() {
	[ "$(stub_status)" = 1 ]
}

no_port_used() {
	[ -z "$(vhci_ports_in_use)" ]
}

# settle: after an incident, the client has no port in use and the server
# offers the device again.
settle() {
	wait_for "every vhci port free" 60 no_port_used
	wait_for "$BUSID available on the server (usbip_status 1)" 60 server_available
}

# attach_faulty: usbip attach under faults until it succeeds (at most 20
# tries); each failure must end with a message, and after a detach of
# whatever it left attached, every port free and the device available.
attach_faulty() {
	local i out rc
	for i in $(seq 20); do
		rc=0
		out=$(fi_run "$USBIP" attach -r 127.0.0.1 -b "$BUSID" 2>&1) || rc=$?
		if [ "$rc" -eq 0 ]; then
			info "attach try $i: ok"
			ATTACH_FAILS=$((ATTACH_FAILS + i - 1))
			return 0
		fi
		[ -n "$out" ] || die "usbip attach failed (status $rc) without a message"
		info "attach try $i: status $rc: $(echo "$out" | head -n1)"
		# The tool may fail after the kernel attached (e.g. writing its
		# record under /run): the port is then in use, and a detach
		# must free it, as a user would do.
		fi_off
		detach_all
		fi_on
	done
	die "usbip attach failed 20 times in a row ($(fi_what))"
}

# wait_attached VAR: the vhci disk, or empty if the connection died first
# (an injected failure may end it at any time: then the port frees itself).
wait_attached() {
	local _wa_end=$(($(date +%s) + 60 * SCALE)) _wa_dev
	while [ "$(date +%s)" -lt "$_wa_end" ]; do
		_wa_dev=$(disk_of_vhci 2>/dev/null || true)
		if [ -n "$_wa_dev" ] && [ -b "$_wa_dev" ]; then
			printf -v "$1" '%s' "$_wa_dev"
			return 0
		fi
		if no_port_used; then
			printf -v "$1" '%s' ""
			return 0
		fi
		sleep 0.2
	done
	die "attached device neither showed a disk nor went away in $((60 * SCALE))s"
}

# read_started PID DEV: dd PID has requests in flight on DEV, or has ended.
read_started() {
	! kill -0 "$1" 2>/dev/null ||
		[ "$(awk '{ print $1 + $2 }' "/sys/block/${2#/dev/}/inflight" 2>/dev/null)" -gt 0 ] 2>/dev/null
}

# conn_cut ROUND FAULTY: cuts the connection, odd rounds with "usbip detach" on
# the client, even rounds with -1 into the server's usbip_sockfd, under
# faults if FAULTY is 1.  Fails with the command's message on the console.
conn_cut() {
	local port runner=
	[ "$2" = 1 ] && runner=fi_run
	if [ $(($1 % 2)) -eq 1 ]; then
		port=$(vhci_ports_in_use | head -n1)
		[ -n "$port" ] || return 0   # already gone (an injected failure)
		info "cut: usbip detach -p $port on the client${runner:+, faults on}"
		$runner "$USBIP" detach -p "$port" >/tmp/cut.out 2>&1 ||
			{ info "detach: $(head -n1 /tmp/cut.out)"; return 1; }
	else
		info "cut: -1 into the server's usbip_sockfd${runner:+, faults on}"
		$runner sh -c "echo -1 >/sys/bus/usb/devices/$BUSID/usbip_sockfd" >/tmp/cut.out 2>&1 ||
			{ info "usbip_sockfd: $(head -n1 /tmp/cut.out)"; return 1; }
	fi
	return 0
}

# io_check WHAT RC: a dd status: 0 or an error, never a timeout.
io_check() {
	[ "$2" -ne 124 ] || die "$1: dd hung (timeout)"
	if [ "$2" -eq 0 ]; then
		IO_OK=$((IO_OK + 1))
	else
		IO_ERR=$((IO_ERR + 1))
		info "$1: dd status $2: $(tail -n1 /tmp/dd.err 2>/dev/null)"
	fi
}

# detach_all: detaches whatever is attached (faults off), waits for settle.
detach_all() {
	local p
	for p in $(vhci_ports_in_use); do
		"$USBIP" detach -p "$p" >/dev/null 2>&1 || true
	done
	settle
}

# consistent DEV: with faults off, DEV (if still attached) shows exactly
# the backing file.
consistent() {
	local dev=$1
	[ -n "$dev" ] && [ -b "$dev" ] || return 0
	sync
	same_sum "disk vs backing file" "$(sha_dev "$dev" "$MIB")" "$(sha_file "$BACKING")"
}

vm1() {
	local dev r rc sum injected pid tmo=$((120 * SCALE))

	step "modules (ours), a ${MIB} MiB mass-storage gadget on dummy_hcd, bound to usbip-host"
	ours_modules_load usbip-host vhci-hcd
	load_storage
	fi_setup
	gadget_disk_export fidisk "$BACKING" "$MIB"
	BUSID=$GADGET_BUSID
	at_exit detach_all
	ATTACH_FAILS=0 IO_OK=0 IO_ERR=0

	for r in $(seq "$ROUNDS"); do
		FI_MODE=dense
		[ $((r % 2)) = 1 ] || FI_MODE=sparse
		step "round $r/$ROUNDS: $(fi_what): attach, read, write, cut"
		fi_on
		attach_faulty
		info "$(fi_mark_threads) connection threads marked"
		wait_attached dev
		if [ -z "$dev" ]; then
			info "the connection died before the disk appeared (injected failure)"
			settle
			continue
		fi

		rc=0
		timeout "$tmo" dd if="$dev" of=/tmp/r.bin iflag=direct bs=64k count=$((MIB * 16)) \
			status=none 2>/tmp/dd.err || rc=$?
		io_check "read" "$rc"
		if [ "$rc" -eq 0 ]; then
			fi_off
			same_sum "read under faults" "$(sha_file /tmp/r.bin)" "$(sha_file "$BACKING")"
			fi_on
		fi
		rm -f /tmp/r.bin

		if [ -b "$dev" ]; then
			random_file /tmp/w.bin "$MIB"
			rc=0
			timeout "$tmo" dd if=/tmp/w.bin of="$dev" oflag=direct bs=64k \
				conv=fsync,notrunc status=none 2>/tmp/dd.err || rc=$?
			io_check "write" "$rc"
			fi_off
			if [ "$rc" -eq 0 ]; then
				same_sum "write under faults, backing file" "$(sha_file "$BACKING")" \
					"$(sha_file /tmp/w.bin)"
			fi
			consistent "$dev"
			rm -f /tmp/w.bin
			fi_on
		fi

		if [ -b "$dev" ]; then
			# Reads the disk over and over until the cut ends it with an
			# error: the cut always meets a busy connection.
			timeout "$tmo" sh -c "while :; do dd if=$dev of=/dev/null iflag=direct \
				bs=64k status=none || exit; done" 2>/tmp/dd.err &
			pid=$!
			wait_for "the read to start" 30 read_started "$pid" "$dev"
			if ! conn_cut "$r" 1; then
				info "the cut failed under faults (clear error above); again, faults off"
				fi_off
				conn_cut "$r" 0 || die "the cut failed with faults off"
				fi_on
			fi
			rc=0
			wait "$pid" || rc=$?
			[ "$rc" -ne 0 ] || die "the read loop ended without an error"
			io_check "read being cut" "$rc"
		fi
		fi_off
		detach_all
	done
	fi_off
	injected=$(fi_injected)
	info "injected failures: $injected (failslab $((FI_TIMES - $(cat /sys/kernel/debug/failslab/times))), fail_page_alloc $((FI_TIMES - $(cat /sys/kernel/debug/fail_page_alloc/times))))"
	info "transfers: $IO_OK ok, $IO_ERR ended with an error; failed attach tries: $ATTACH_FAILS"
	metric fault_injected "$injected" failures
	metric fault_io_errors "$IO_ERR" transfers
	metric fault_attach_fails "$ATTACH_FAILS" tries
	[ "$injected" -gt 0 ] || die "no allocation failure was injected: the test tested nothing"

	step "faults off: the same device and port work: attach, read, write, detach"
	run "$USBIP" attach -r 127.0.0.1 -b "$BUSID"
	wait_disk dev 60 disk_of_vhci
	sum=$(sha_file "$BACKING")
	dev_read "$dev" /tmp/r.bin "$MIB"
	same_sum "read after the faults" "$(sha_file /tmp/r.bin)" "$sum"
	rm -f /tmp/r.bin
	random_file /tmp/w.bin "$MIB"
	sum=$(sha_file /tmp/w.bin)
	dev_write "$dev" /tmp/w.bin "$MIB"
	same_sum "read-back after the faults" "$(sha_dev "$dev" "$MIB")" "$sum"
	same_sum "backing file after the faults" "$(sha_file "$BACKING")" "$sum"
	rm -f /tmp/w.bin
	detach_all
	info "port free, $BUSID available again"
}
