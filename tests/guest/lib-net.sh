# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash disable=SC2034  # RPC_DONE: read by the scenarios
#
# tests/guest/lib-net.sh - the two VMs of a pair talking: one-line messages (python3 one-shot TCP
# over the ULA link), the client asking the server (rpc_ask/rpc_serve), and
# the ACM data exchange between them.
#
# Sourced by tests/guest/lib.sh (scenarios source lib.sh only).

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
