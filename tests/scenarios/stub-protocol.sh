# SPDX-License-Identifier: GPL-2.0
# @desc: raw USB/IP client against our usbip-host (via Debian's usbipd): control/bulk data, SG and split short-transfer semantics, server-side requests, unlink answers, -ENOMEM answers that keep the connection, and 10 kinds of bad input each dropped with one error line
# @kernels: 6.1
# @vms: 1
# @modules: ours
# @timeout: 600
#
# One VM: a mass-storage gadget on dummy_hcd backed by /tmp/disk.img is
# bound to our usbip-host and exported by Debian's usbipd; a Python client
# imports it over 127.0.0.1 (OP_REQ_IMPORT) and speaks the URB protocol
# itself.  "good" runs Bulk-Only-Transport commands (INQUIRY, READ(10) of
# 1 MiB compared with the backing file, WRITE(10) then read back, a 64 KiB
# IN URB that a 20 KiB read plus the 13-byte CSW ends short in its second
# 16 KiB piece), SET_CONFIGURATION / SET_INTERFACE / CLEAR_FEATURE(HALT) /
# port reset, once with scatter-gather and once with use_sg=N (split URBs).
# "unlink" checks the RET_UNLINK answers.  "nomem" makes usbip-host's
# transfer buffer allocations fail (its fail_alloc test hook) for OUT
# transfers of 31 bytes to 3 MiB and an IN one: each must be answered
# -ENOMEM, with one warning, and the connection must stay in step.  Every bad-input case must end the
# connection with exactly one new error line from usbip-host naming the
# problem, and the device must become available again.

client_py() {
	cat >/tmp/uclient.py <<'PY'
import os, socket, struct, sys, time

BUSID, CASE = sys.argv[1], sys.argv[2]
DISK = "/tmp/disk.img"
CMD_SUBMIT, CMD_UNLINK, RET_SUBMIT, RET_UNLINK = 1, 2, 3, 4
ECONNRESET = -104

def fail(msg):
    print("CLIENT-FAIL: " + msg)
    sys.exit(1)

def recvall(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError("closed after %d of %d bytes" % (len(b), n))
        b += c
    return b

def connect():
    s = socket.create_connection(("127.0.0.1", 3240), timeout=60)
    s.sendall(struct.pack(">HHI", 0x0111, 0x8003, 0) + BUSID.encode().ljust(32, b"\0"))
    ver, code, st = struct.unpack(">HHI", recvall(s, 8))
    if st != 0:
        fail("import refused, status %d" % st)
    rec = recvall(s, 312)
    busnum, devnum = struct.unpack(">II", rec[288:296])
    return s, busnum << 16 | devnum

class Conn:
    def __init__(self):
        self.s, self.devid = connect()
        self.seq = 0
        self.dirs = {}
        self.early = {}

    def nseq(self):
        self.seq += 1
        return self.seq

    def submit(self, ep, din, length, data=b"", setup=b"\0" * 8, seq=None, npk=0,
               devid=None, send=True):
        seq = self.nseq() if seq is None else seq
        hdr = struct.pack(">IIIIIIiiii", CMD_SUBMIT, seq,
                          self.devid if devid is None else devid, din, ep,
                          0x200 if din else 0, length, 0, npk, 0) + setup
        self.dirs[seq] = din
        if send:
            self.s.sendall(hdr + data)
        return seq, hdr

    def unlink(self, target):
        seq = self.nseq()
        self.s.sendall(struct.pack(">IIIIII", CMD_UNLINK, seq, self.devid, 0, 0, target)
                       + b"\0" * 24)
        return seq

    def read_msg(self):
        h = recvall(self.s, 48)
        cmd, seq = struct.unpack(">II", h[:8])
        if cmd == RET_SUBMIT:
            st, act, sf, npk, ec = struct.unpack(">iiiii", h[20:40])
            data = recvall(self.s, act) if self.dirs.get(seq) else b""
            if npk > 0:
                recvall(self.s, 16 * npk)
            return (cmd, seq, st, act, data)
        if cmd == RET_UNLINK:
            st, = struct.unpack(">i", h[20:24])
            return (cmd, seq, st, 0, b"")
        fail("server sent command %d" % cmd)

    def wait(self, seq):
        if seq in self.early:
            return self.early.pop(seq)
        while True:
            m = self.read_msg()
            if m[1] == seq:
                return m
            self.early[m[1]] = m

    def xfer(self, ep, din, length, data=b"", setup=b"\0" * 8, want=0):
        seq, _ = self.submit(ep, din, length, data, setup)
        m = self.wait(seq)
        if m[0] != RET_SUBMIT:
            fail("seqnum %d answered with command %d" % (seq, m[0]))
        if want is not None and m[2] != want:
            fail("seqnum %d ep %d: status %d, expected %d" % (seq, ep, m[2], want))
        return m

    def ctrl(self, rt, req, val, idx, length, data=b"", want=0):
        setup = struct.pack("<BBHHH", rt, req, val, idx, length)
        return self.xfer(0, 1 if rt & 0x80 else 0, length, data, setup, want)

    def wait_eof(self):
        self.s.settimeout(30)
        try:
            while True:
                self.read_msg()
        except (EOFError, ConnectionResetError):
            return
        except socket.timeout:
            fail("server did not drop the connection")

def configure(c):
    dev = c.ctrl(0x80, 6, 0x0100, 0, 18)[4]
    if len(dev) != 18 or struct.unpack("<H", dev[8:10])[0] != 0x1d6b:
        fail("bad device descriptor %r" % dev)
    total = struct.unpack("<H", c.ctrl(0x80, 6, 0x0200, 0, 9)[4][2:4])[0]
    m = c.ctrl(0x80, 6, 0x0200, 0, 255)
    if m[3] != total:
        fail("config descriptor: short read gave %d bytes, wTotalLength %d" % (m[3], total))
    cfg, i, eps = m[4], 0, {}
    while i < len(cfg):
        if cfg[i + 1] == 5 and cfg[i + 3] & 3 == 2:
            eps["in" if cfg[i + 2] & 0x80 else "out"] = cfg[i + 2] & 0x0f
        i += cfg[i]
    if "in" not in eps or "out" not in eps:
        fail("no bulk endpoints in %r" % cfg)
    c.ctrl(0x00, 9, 1, 0, 0)
    return eps["in"], eps["out"]

def bot(c, ein, eout, cb, dlen, din, data=b"", inlen=None, check=True):
    tag = c.seq + 1000
    cbw = struct.pack("<IIIBBB", 0x43425355, tag, dlen, 0x80 if din else 0, 0, len(cb)) \
        + cb.ljust(16, b"\0")
    c.xfer(eout, 0, 31, cbw)
    got = b""
    if dlen and din:
        got = c.xfer(ein, 1, inlen or dlen)[4]
    elif dlen:
        c.xfer(eout, 0, dlen, data)
    if inlen is None or len(got) <= dlen:
        csw = c.xfer(ein, 1, 13)[4]
    else:
        csw, got = got[dlen:], got[:dlen]
    sig, rtag, res, st = struct.unpack("<IIIB", csw)
    if sig != 0x53425355 or rtag != tag or (st != 0 and check):
        if cb[0] != 0x03:
            sense = bot(c, ein, eout, bytes([0x03, 0, 0, 0, 18, 0]), 18, True)
            fail("CSW %r for command %02x, sense %s" % (csw, cb[0], sense.hex()))
        fail("bad CSW %r" % csw)
    return got

def rw10(op, lba, n):
    return bytes([op, 0]) + struct.pack(">I", lba) + b"\0" + struct.pack(">H", n) + b"\0"

def case_good():
    c = Conn()
    ein, eout = configure(c)
    c.ctrl(0x01, 11, 0, 0, 0)                      # SET_INTERFACE 0/0
    c.ctrl(0x02, 1, 0, 0x80 | ein, 0)              # CLEAR_FEATURE(HALT)
    c.ctrl(0x02, 1, 0, eout, 0)
    inq = bot(c, ein, eout, bytes([0x12, 0, 0, 0, 36, 0]), 36, True)
    if len(inq) != 36 or inq[0] & 0x1f != 0:
        fail("bad INQUIRY data %r" % inq)
    # the first TEST UNIT READY after a reset reports (and clears) a unit
    # attention, and REQUEST SENSE fetches it
    bot(c, ein, eout, bytes(6), 0, False, check=False)
    bot(c, ein, eout, bytes([0x03, 0, 0, 0, 18, 0]), 18, True)
    with open(DISK, "rb") as f:
        disk = f.read(1 << 20)
    got = bot(c, ein, eout, rw10(0x28, 0, 2048), 1 << 20, True)
    if got != disk:
        fail("READ(10) of 1 MiB differs from the backing file")
    new = os.urandom(65536)
    bot(c, ein, eout, rw10(0x2a, 4096, 128), 65536, False, new)
    if bot(c, ein, eout, rw10(0x28, 4096, 128), 65536, True) != new:
        fail("WRITE(10)+READ(10) of 64 KiB gave other data")
    # a 64 KiB IN URB that gets 20 KiB of data and the CSW, short in piece 2
    got = bot(c, ein, eout, rw10(0x28, 0, 40), 20480, True, inlen=65536)
    if got != disk[:20480]:
        fail("short 64 KiB URB: wrong data")
    # TEST UNIT READY: the CSW alone ends a 64 KiB IN URB in its first piece
    cbw = struct.pack("<IIIBBB", 0x43425355, 77, 0, 0, 0, 6) + b"\0" * 16
    c.xfer(eout, 0, 31, cbw)
    m = c.xfer(ein, 1, 65536)
    if m[3] != 13 or m[4][:4] != b"USBS":
        fail("CSW in a 64 KiB URB: actual %d" % m[3])
    c.ctrl(0x23, 3, 4, 1, 0)                       # port reset
    configure(c)
    inq2 = bot(c, ein, eout, bytes([0x12, 0, 0, 0, 36, 0]), 36, True)
    if inq2 != inq:
        fail("INQUIRY after the port reset differs")
    c.s.close()

def case_unlink():
    c = Conn()
    ein, eout = configure(c)
    pend, _ = c.submit(ein, 1, 512)                # no CBW: stays pending
    time.sleep(0.5)
    u1 = c.unlink(pend)
    m = c.wait(u1)
    if m[0] != RET_UNLINK or m[2] != ECONNRESET:
        fail("unlink of a pending URB: %r" % (m[:3],))
    u2 = c.unlink(pend)
    m = c.wait(u2)
    if m[0] != RET_UNLINK or m[2] != 0:
        fail("second unlink: %r" % (m[:3],))
    u3 = c.unlink(999999)
    m = c.wait(u3)
    if m[0] != RET_UNLINK or m[2] != 0:
        fail("unlink of an unknown seqnum: %r" % (m[:3],))
    done = c.ctrl(0x80, 6, 0x0100, 0, 18)
    u4 = c.unlink(done[1])
    m = c.wait(u4)
    if m[0] != RET_UNLINK or m[2] != 0:
        fail("unlink of a completed URB: %r" % (m[:3],))
    if pend in c.early:
        fail("RET_SUBMIT sent for the unlinked URB")
    bot(c, ein, eout, bytes([0x12, 0, 0, 0, 36, 0]), 36, True)
    if pend in c.early:
        fail("RET_SUBMIT sent for the unlinked URB")
    c.s.close()

def case_nomem():
    # the fail_alloc test hook makes usbip-host's next transfer buffer
    # allocations fail: each CMD_SUBMIT must come back -ENOMEM with its
    # payload consumed, and the connection must go on in step
    ENOMEM = -12
    hook = "/sys/module/usbip_host/parameters/fail_alloc"
    c = Conn()
    ein, eout = configure(c)
    for din, length in [(0, 65536), (1, 512), (0, 3 << 20), (0, 31)]:
        with open(hook, "w") as f:
            f.write("1")
        m = c.xfer(eout if not din else ein, din, length,
                   os.urandom(length) if not din else b"", want=ENOMEM)
        if m[3] != 0 or m[4]:
            fail("-ENOMEM answer with actual_length %d" % m[3])
        with open(hook) as f:
            if f.read().strip() != "0":
                fail("fail_alloc hook not consumed")
    inq = bot(c, ein, eout, bytes([0x12, 0, 0, 0, 36, 0]), 36, True)
    if len(inq) != 36:
        fail("INQUIRY after -ENOMEM answers: %r" % inq)
    bot(c, ein, eout, bytes(6), 0, False, check=False)      # the unit attention
    bot(c, ein, eout, bytes([0x03, 0, 0, 0, 18, 0]), 18, True)
    with open(DISK, "rb") as f:
        disk = f.read(65536)
    if bot(c, ein, eout, rw10(0x28, 0, 128), 65536, True) != disk:
        fail("READ(10) after -ENOMEM answers gave other data")
    c.s.close()

def bad(build):
    c = Conn()
    ein, eout = configure(c)
    build(c, ein, eout)
    c.wait_eof()

def b_devid(c, ein, eout):
    c.submit(0, 1, 18, setup=struct.pack("<BBHHH", 0x80, 6, 0x100, 0, 18), devid=c.devid ^ 0x10000)

def b_dup(c, ein, eout):
    c.submit(ein, 1, 512, seq=500)
    c.submit(ein, 1, 512, seq=500)

def b_ep(c, ein, eout):
    c.submit(15, 1, 512)

def b_dir(c, ein, eout):
    if ein == eout:
        fail("bulk in and out share a number, cannot test")
    c.submit(ein, 0, 4, b"abcd")

def b_cap(c, ein, eout):
    c.submit(ein, 1, (64 << 20) + 1)

def b_iso_count(c, ein, eout):
    c.submit(ein, 1, 512, npk=1025)

def b_iso_noniso(c, ein, eout):
    _, h = c.submit(ein, 1, 512, npk=1, send=False)
    c.s.sendall(h + struct.pack(">IIIi", 0, 512, 0, 0))

def b_cut(c, ein, eout):
    _, h = c.submit(eout, 0, 4096, send=False)
    c.s.sendall(h + b"x" * 100)
    c.s.shutdown(socket.SHUT_WR)

def b_garbage(c, ein, eout):
    c.submit(0, 1, 18, setup=struct.pack("<BBHHH", 0x80, 6, 0x100, 0, 18))
    c.s.sendall(b"\xa5" * 48)

def b_ret(c, ein, eout):
    c.s.sendall(struct.pack(">IIIIIiiiii", RET_SUBMIT, 900, c.devid, 0, 0, 0, 0, 0, 0, 0)
                + b"\0" * 8)

CASES = {"good": case_good, "unlink": case_unlink, "nomem": case_nomem}
for name, fn in [("devid", b_devid), ("dup", b_dup), ("ep", b_ep), ("dir", b_dir),
                 ("cap", b_cap), ("isocount", b_iso_count), ("isononiso", b_iso_noniso),
                 ("cut", b_cut), ("garbage", b_garbage), ("ret", b_ret)]:
    CASES[name] = (lambda f: lambda: bad(f))(fn)
CASES[CASE]()
print("CLIENT-OK " + CASE)
PY
}

status_is() {
	[ "$(cat "/sys/bus/usb/devices/$1/usbip_status")" = "$2" ]
}

# err_lines: error-level kernel log lines from usbip-host so far.
err_lines() {
	dmesg -l err | grep -c 'usbip-host' || true
}

vm1() {
	local backing=/tmp/disk.img busid before after line c reason sg split nomem
	local -A reasons=(
		[devid]="devid is not the exported device"
		[dup]="seqnum of an URB still in flight"
		[ep]="endpoint not in the current configuration"
		[dir]="direction does not match the endpoint"
		[cap]="transfer_buffer_length above limit"
		[isocount]="number_of_packets out of range"
		[isononiso]="iso packets for a non-iso endpoint"
		[cut]="OUT payload cut short"
		[garbage]="unknown command"
		[ret]="reply command sent to the server"
	)

	step "server: our usbip-host, a mass-storage gadget, usbipd, usbip bind"
	run modprobe usbip-host
	random_file "$backing" 8
	gadget_storage_create protodisk "$backing"
	at_exit gadget_remove protodisk
	busid=$GADGET_BUSID
	usbipd_start
	at_exit usbipd_stop
	run "$USBIP" bind -b "$busid"
	at_exit "$USBIP" unbind -b "$busid"
	wait_for "$busid bound to usbip-host" 30 test -e "/sys/bus/usb/drivers/usbip-host/$busid"
	client_py

	# usbip-host's per-URB debug lines say which buffer kind each bulk
	# transfer got (buf 2: one scatter-gather URB, buf 3: split pieces)
	echo $((1 << 17)) >/sys/module/usbip_core/parameters/usbip_debug
	# (a kernel without dynamic debug, the debug kernel, gets our modules
	# built with their debug messages in: tests/run, kmake_flags)
	[ ! -e /sys/kernel/debug/dynamic_debug/control ] ||
		echo 'module usbip_host +p' >/sys/kernel/debug/dynamic_debug/control
	for c in good:Y good:N unlink:Y nomem:Y; do
		step "case ${c%%:*} (use_sg=${c##*:})"
		echo "${c##*:}" >/sys/module/usbip_host/parameters/use_sg
		dmesg_mark "case $c"
		before=$(err_lines)
		python3 /tmp/uclient.py "$busid" "${c%%:*}" || die "case ${c%%:*} failed"
		wait_for "usbip_status 1" 30 status_is "$busid" 1
		after=$(err_lines)
		[ "$after" -eq "$before" ] || die "case ${c%%:*} logged errors: $(dmesg -l err | tail -n 3)"
		sg=$(dmesg | awk -v m="vmtest-mark: case $c" 'index($0, m) { on = 1 } on' |
			grep -c ' buf 2$' || true)
		split=$(dmesg | awk -v m="vmtest-mark: case $c" 'index($0, m) { on = 1 } on' |
			grep -c ' buf 3$' || true)
		info "bulk URBs: $sg scatter-gather, $split split"
		if [ "$c" = good:N ] && { [ "$split" -eq 0 ] || [ "$sg" -ne 0 ]; }; then
			die "use_sg=N did not split the large transfers"
		fi
		if [ "$c" = nomem:Y ]; then
			nomem=$(dmesg | awk -v m="vmtest-mark: case $c" 'index($0, m) { on = 1 } on' |
				grep -c 'answering -ENOMEM' || true)
			[ "$nomem" -eq 4 ] || die "$nomem -ENOMEM warnings for 4 failed allocations"
		fi
		info "PASS: ${c%%:*} (use_sg=${c##*:})"
	done
	echo Y >/sys/module/usbip_host/parameters/use_sg
	echo 0 >/sys/module/usbip_core/parameters/usbip_debug
	[ ! -e /sys/kernel/debug/dynamic_debug/control ] ||
		echo 'module usbip_host -p' >/sys/kernel/debug/dynamic_debug/control

	for c in devid dup ep dir cap isocount isononiso cut garbage ret; do
		step "bad input: $c"
		before=$(err_lines)
		python3 /tmp/uclient.py "$busid" "$c" || die "case $c failed"
		wait_for "usbip_status 1 after $c" 30 status_is "$busid" 1
		after=$(err_lines)
		[ "$after" -eq $((before + 1)) ] ||
			die "case $c: $((after - before)) new error lines, expected 1"
		line=$(dmesg -l err | grep 'usbip-host' | tail -n 1)
		reason=${reasons[$c]}
		case "$line" in *"$reason"*) ;; *) die "case $c: log line '$line' lacks '$reason'" ;; esac
		info "PASS: $c -> $line"
	done

	step "the device still works after all that"
	python3 /tmp/uclient.py "$busid" good || die "good after the bad cases failed"
	wait_for "usbip_status 1" 30 status_is "$busid" 1

	step "unbind, unload usbip-host"
	run "$USBIP" unbind -b "$busid"
	run modprobe -r usbip-host
	[ ! -d /sys/module/usbip_host ] || die "usbip_host still loaded"
}
