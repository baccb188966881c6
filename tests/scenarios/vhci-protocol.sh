# SPDX-License-Identifier: GPL-2.0
# @desc: our vhci-hcd against a fake USB/IP server: sysfs errors, 32x15 ports, bad server input drops the connection with one clear line, unlink races are not errors, unload with a device attached
# @kernels: 6.1
# @vms: 1
# @modules: ours
# @timeout: 600
#
# A Python "server" on [::1] is attached to a vhci port by writing its
# client socket to the attach file, then plays one case against the first
# CMD_SUBMIT the hub driver sends (GET_DESCRIPTOR of the new device).  Bad
# input must end the connection with the expected reason in the kernel
# log and free the port; an unlink answered by RET_UNLINK 0 followed by a
# late RET_SUBMIT, and a RET_UNLINK for an unknown seqnum, must not.

VHCI=/sys/devices/platform/vhci_hcd.0

fake_server() {
	python3 - "$@" <<'PY'
import socket, struct, sys, time

case, port = sys.argv[1], int(sys.argv[2])
speed = int(sys.argv[3]) if len(sys.argv) > 3 else 3
DEVDESC = bytes([18, 1, 0, 2, 0, 0, 0, 64, 0x6b, 0x1d, 4, 1, 0, 1, 0, 0, 0, 1])

ls = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
ls.bind(("::1", 0))
ls.listen(1)
c = socket.create_connection(("::1", ls.getsockname()[1]))
try:
    with open("/sys/devices/platform/vhci_hcd.0/attach", "w") as f:
        f.write("%d %d %d %d" % (port, c.fileno(), 0x10002, speed))
except OSError as e:
    print("attach-error %d" % e.errno)
    sys.exit(0)
s, _ = ls.accept()
c.close()
s.settimeout(20)

def recv_exact(n):
    b = b""
    while len(b) < n:
        chunk = s.recv(n - len(b))
        if not chunk:
            raise EOFError
        b += chunk
    return b

def read_cmd():
    h = recv_exact(48)
    cmd, seq, devid, direction, ep = struct.unpack(">5I", h[:20])
    d = dict(cmd=cmd, seq=seq, dir=direction, ep=ep)
    if cmd == 1:
        flags, buflen, start, np, interval = struct.unpack(">Ii3i", h[20:40])
        d.update(buflen=buflen, np=np, setup=h[40:48])
        if direction == 0 and buflen > 0:
            recv_exact(buflen)
        if np > 0 and np != 0xffffffff:
            recv_exact(16 * np)
    elif cmd == 2:
        d["target"] = struct.unpack(">I", h[20:24])[0]
    return d

def ret_submit(seq, status=0, actual=0, np=0, data=b"", direction=0):
    s.sendall(struct.pack(">5I5i", 3, seq, 0, direction, 0, status, actual, 0, np, 0) +
              bytes(8) + data)

def ret_unlink(seq, status):
    s.sendall(struct.pack(">5Ii", 4, seq, 0, 0, 0, status) + bytes(24))

def wait_eof(secs=20):
    # the client must shut the connection down
    end = time.time() + secs
    while time.time() < end:
        try:
            if not s.recv(65536):
                print("eof")
                return
        except socket.timeout:
            continue
    print("no-eof")

cmd = read_cmd()
print("first %s seq %d dir %d ep %d len %d setup %s" %
      ({1: "CMD_SUBMIT", 2: "CMD_UNLINK"}.get(cmd["cmd"], "?"), cmd["seq"], cmd["dir"],
       cmd["ep"], cmd.get("buflen", 0), cmd.get("setup", b"").hex()))
if case == "unknown_seqnum":
    ret_submit(cmd["seq"] + 1000)
    wait_eof()
elif case == "actual_above":
    ret_submit(cmd["seq"], actual=cmd["buflen"] + 1, data=bytes(cmd["buflen"] + 1))
    wait_eof()
elif case == "more_iso":
    ret_submit(cmd["seq"], np=1, data=bytes(16))
    wait_eof()
elif case == "cmd_to_client":
    s.sendall(struct.pack(">5I5i", 1, 1, 0, 1, 0, 0, 0, 0, 0, 0) + bytes(8))
    wait_eof()
elif case == "cut":
    ret_submit(cmd["seq"], actual=18)
    s.sendall(DEVDESC[:5])
    s.close()
    print("eof")
elif case == "unlink_race":
    # let the 5 s control timeout unlink the first request
    u = read_cmd()
    if u["cmd"] != 2 or u["target"] != cmd["seq"]:
        print("expected CMD_UNLINK of %d, got %r" % (cmd["seq"], u))
        sys.exit(1)
    print("unlink seq %d of %d" % (u["seq"], u["target"]))
    ret_unlink(u["seq"], 0)                   # "already completed" ...
    ret_submit(cmd["seq"], actual=18, data=DEVDESC)   # ... and its late RET_SUBMIT
    ret_unlink(777777, -104)                  # unknown seqnum: ignored
    nxt = read_cmd()                          # the hub retries: still connected
    print("next %d cmd %d" % (nxt["seq"], nxt["cmd"]))
    ret_submit(nxt["seq"], status=-32)        # stall it
    with open("/sys/devices/platform/vhci_hcd.0/status") as f:
        st = [l for l in f if l.startswith("hs  %04d " % port)][0].split()
    print("status-after %s" % st[2])
    s.close()
    print("closed")
elif case == "hold":
    # stay attached without answering, until the module goes away
    wait_eof(120)
PY
}

# port_state PORT: the status column of PORT in the status file.
port_state() {
	awk -v p="$(printf %04d "$1")" '$2 == p { print $3 }' "$VHCI/status"
}

# expect_drop CASE REASON [PORT SPEED]: runs CASE (default: port 0, high
# speed) and checks the outcome.
expect_drop() {
	local out p=${3:-0} sp=${4:-3} mark="case $1 port ${3:-0}"
	dmesg_mark "$mark"
	out=$(fake_server "$1" "$p" "$sp")
	echo "$out" | sed 's/^/    server| /'
	echo "$out" | grep -qx eof || die "$1: the client did not close the connection"
	wait_for "port $p free after $1" 20 sh -c "[ \"\$(awk '\$2 == \"$(printf %04d "$p")\" { print \$3 }' $VHCI/status)\" = 004 ]"
	dmesg | sed -n "/vmtest-mark: $mark\$/,\$p" | grep -q "vhci port $p: connection closed: $2" ||
		die "$1: no '$2' line in the kernel log"
	[ "$(dmesg | sed -n "/vmtest-mark: $mark\$/,\$p" | grep -c 'connection closed')" -eq 1 ] ||
		die "$1: more than one connection-closed line"
	info "$1 (port $p, speed $sp): connection dropped with '$2', port free again"
}

vm1() {
	local out

	step "32 controllers x 15 ports load and unload"
	dmesg_mark "case 32x15"
	run modprobe vhci-hcd num_controllers=32 nports=15
	# Linux has 63 USB bus numbers and a controller takes two: the
	# controllers that fit are kept, and every sysfs view agrees on them
	out=$(ls -d /sys/devices/platform/vhci_hcd.* | wc -l)
	info "$out controllers, nports $(cat $VHCI/nports), $(ls -d /sys/bus/usb/devices/usb* | wc -l) root hubs"
	[ "$out" -ge 31 ] || die "only $out controllers"
	[ "$(cat /sys/module/vhci_hcd/parameters/num_controllers)" -eq "$out" ] ||
		die "num_controllers reads $(cat /sys/module/vhci_hcd/parameters/num_controllers), $out controllers"
	[ "$(cat $VHCI/nports)" -eq $((out * 30)) ] || die "nports is $(cat $VHCI/nports), expected $((out * 30))"
	[ "$(ls $VHCI/status* | wc -l)" -eq "$out" ] || die "$(ls $VHCI/status* | wc -l) status files"
	[ "$(cat $VHCI/status* | grep -cE '^(hs|ss)  [0-9]{4} 004 ')" -eq $((out * 30)) ] ||
		die "not $((out * 30)) free port lines in the status files"
	[ "$(ls -d /sys/devices/platform/vhci_hcd.*/usb[0-9]* | wc -l)" -eq $((out * 2)) ] ||
		die "not two root hubs per controller"
	grep -q "^ss  $(printf %04d $((out * 30 - 1))) 004" "$VHCI/status.$((out - 1))" ||
		die "port $((out * 30 - 1)) is not the last USB 3 port of vhci_hcd.$((out - 1))"
	if [ "$out" -lt 32 ]; then
		[ "$(dmesg | sed -n '/vmtest-mark: case 32x15$/,$p' | grep -c "vhci-hcd: only $out of 32 controllers registered")" -eq 1 ] ||
			die "no single line saying $out of 32 controllers are registered"
	fi
	"$USBIP" port >/dev/null || die "Debian's usbip port fails on $out controllers"
	run modprobe -r vhci-hcd
	[ ! -d /sys/module/vhci_hcd ] || die "vhci_hcd still loaded"

	step "default load: sysfs errors"
	run modprobe vhci-hcd nports=8 num_controllers=2
	[ "$(cat $VHCI/nports)" -eq 32 ] || die "nports is $(cat $VHCI/nports)"
	! echo 3 >$VHCI/detach 2>/dev/null || die "detach of a free port succeeded"
	! echo 99 >$VHCI/detach 2>/dev/null || die "detach of port 99 succeeded"
	! echo "0 0 1 3" >$VHCI/attach 2>/dev/null || die "attach of a non-socket fd succeeded"
	out=$(fake_server hold 0 5)
	[ "$out" = "attach-error 22" ] || die "super-speed device on a USB 2.0 port: $out"
	out=$(fake_server hold 8 3)
	[ "$out" = "attach-error 22" ] || die "high-speed device on a USB 3 port: $out"
	info "errors as expected"

	step "bad input from the server: one clear line, connection dropped, port free"
	expect_drop unknown_seqnum "RET_SUBMIT for unknown seqnum"
	expect_drop actual_above "actual_length above the buffer"
	expect_drop more_iso "more iso packets than submitted"
	expect_drop cmd_to_client "CMD_\* sent to the client"
	expect_drop cut "stream cut mid-payload"
	# a super-speed device on the first USB 3 port gets reset and enumerated too
	expect_drop unknown_seqnum "RET_SUBMIT for unknown seqnum" 8 5

	step "unlink races: RET_UNLINK 0 then a late RET_SUBMIT, and an unknown RET_UNLINK, are not errors"
	dmesg_mark "case unlink_race"
	out=$(fake_server unlink_race 0)
	echo "$out" | sed 's/^/    server| /'
	echo "$out" | grep -q '^status-after 006$' || die "the port did not stay attached"
	echo "$out" | grep -qx closed || die "unlink_race did not finish"
	wait_for "port 0 free after the server closed" 20 sh -c "[ \"\$(awk '\$2 == \"0000\" { print \$3 }' $VHCI/status)\" = 004 ]"
	dmesg | sed -n '/vmtest-mark: case unlink_race$/,$p' | grep 'connection closed' | sed 's/^/    dmesg| /'
	[ "$(dmesg | sed -n '/vmtest-mark: case unlink_race$/,$p' | grep -c 'connection closed')" -eq 1 ] ||
		die "unexpected connection-closed lines"
	dmesg | sed -n '/vmtest-mark: case unlink_race$/,$p' | grep -q 'connection closed: server closed the connection' ||
		die "the connection ended for another reason than the server closing it"

	step "port in use: a second attach gets EBUSY"
	fake_server hold 1 >/tmp/hold.out &
	wait_for "port 1 in use" 20 sh -c "[ \"\$(awk '\$2 == \"0001\" { print \$3 }' $VHCI/status)\" = 006 ]"
	out=$(fake_server hold 1)
	[ "$out" = "attach-error 16" ] || die "attach to a used port: $out"
	info "EBUSY"

	step "unload with a device attached"
	run modprobe -r vhci-hcd
	[ ! -d /sys/module/vhci_hcd ] || die "vhci_hcd still loaded"
	wait
	grep -qx eof /tmp/hold.out || die "the held connection was not closed on unload"
	info "connection closed on unload"
	dmesg_check || die "kernel warnings"
}
