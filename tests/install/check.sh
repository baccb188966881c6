#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/install/check.sh: host-side checks of what "make install" and
# "make dkms-install" put in place.  Run by "make install-check" (part of
# "make check"); needs root only for nothing: everything goes to DESTDIRs
# and a private DKMS tree under a temporary directory.
#
#   1. make install DESTDIR=... puts the expected files in place, and
#      make uninstall removes every one of them
#   2. PREFIX=/usr is honoured by the tools and the systemd units
#   3. systemd-analyze verify accepts the three units
#   4. man --warnings is silent on usbip(8) and usbipd(8), and the
#      Documentation/usb/*.rst files build without a warning
#   5. usbip-keep-attached runs usbip attach --persistent, retries after
#      failures, stops on SIGTERM and after a detach (driven against a
#      scripted fake usbip)
#   6. DKMS builds the four modules from the dkms-install tree
# One PASS/FAIL line per check, then "N passed, N failed".

set -uo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
cd "$TOP" || exit 1
TMP=$(mktemp -d /tmp/usbip-install-check.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
passed=0
failed=0

pass() {
	echo "PASS install: $*"
	passed=$((passed + 1))
}

fail() {
	echo "FAIL install: $*"
	failed=$((failed + 1))
}

KVER=$(make -s --no-print-directory --eval 'pkver: ; @echo $(KVER)' pkver)
VERSION=$(make -s --no-print-directory --eval 'pver: ; @echo $(VERSION)' pver)

# 1. The file list of a DESTDIR install, then a clean uninstall.
D1=$TMP/dest
expected=(
	"lib/modules/$KVER/updates/usbip-core.ko"
	"lib/modules/$KVER/updates/vhci-hcd.ko"
	"lib/modules/$KVER/updates/usbip-host.ko"
	"lib/modules/$KVER/updates/usbip-vudc.ko"
	usr/local/sbin/usbip
	usr/local/sbin/usbipd
	usr/local/sbin/usbip-keep-attached
	usr/local/share/man/man8/usbip.8
	usr/local/share/man/man8/usbipd.8
	usr/local/lib/systemd/system/usbipd.service
	usr/local/lib/systemd/system/usbip-bind@.service
	usr/local/lib/systemd/system/usbip-attach@.service
	usr/local/share/doc/usbip/README
	usr/local/share/doc/usbip/examples/usbip-client.modules-load.conf
	usr/local/share/doc/usbip/examples/usbip-server.modules-load.conf
	usr/local/share/doc/usbip/examples/usbip.modprobe.conf
	usr/local/share/doc/usbip/examples/attach-example.conf
	usr/local/lib/libusbip.a
	usr/local/lib/pkgconfig/libusbip.pc
	usr/local/include/usbip/linux/usbip.h
	usr/local/include/usbip/usbip_common.h
	usr/local/include/usbip/usbip_proto.h
	usr/local/include/usbip/usbip_names.h
	usr/local/include/usbip/usbip_devices.h
	usr/local/include/usbip/usbip_host.h
	usr/local/include/usbip/usbip_vhci.h
	usr/local/include/usbip/usbip_vudc.h
	usr/local/include/usbip/usbip_net.h
	usr/local/include/usbip/usbip_kmod.h
	usr/local/include/usbip/usbip_json.h
	usr/local/share/usbip/usbip-json.schema.json
	usr/local/share/bash-completion/completions/usbip
	usr/local/share/bash-completion/completions/usbipd
)
# no_test_code WHAT KO...: a release build carries no test code: no symbol
# of the self-test or a test hook (selftest*, fail_alloc) and no test
# parameter (their descriptions start with "testing:").
no_test_code() {
	local what=$1 ko bad=()
	shift
	for ko in "$@"; do
		if nm "$ko" | grep -qiE 'selftest|fail_alloc' ||
			modinfo -F parm "$ko" | grep -qE 'testing:|selftest|fail_alloc'; then
			bad+=("$(basename "$ko")")
		fi
	done
	if [ $# -eq 4 ] && [ ${#bad[@]} -eq 0 ]; then
		pass "$what: no self-test or test hook in the 4 modules (nm, modinfo)"
	else
		fail "$what: test code in ${bad[*]:-?} ($# modules checked)"
	fi
}

if make -s install DESTDIR="$D1" >"$TMP/install.log" 2>&1; then
	no_test_code "make install" "$D1/lib/modules/$KVER/updates/"*.ko
	missing=()
	for f in "${expected[@]}"; do
		[ -e "$D1/$f" ] || missing+=("$f")
	done
	for f in usr/local/sbin/usbip usr/local/sbin/usbipd usr/local/sbin/usbip-keep-attached; do
		[ -x "$D1/$f" ] || missing+=("$f (not executable)")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		pass "make install DESTDIR: all ${#expected[@]} expected files"
	else
		fail "make install DESTDIR: missing ${missing[*]}"
	fi
	if grep -rq '@[A-Z]*@' "$D1/usr/local/lib/systemd/system" "$D1/usr/local/sbin/usbip-keep-attached"; then
		fail "make install: unsubstituted @VARIABLE@ left in the units or the script"
	else
		pass "make install: units and script fully substituted"
	fi
	# libusbip through pkg-config in the DESTDIR: flags, then a program
	# that includes the headers and links the library.
	pc=$(PKG_CONFIG_SYSROOT_DIR="$D1" PKG_CONFIG_PATH="$D1/usr/local/lib/pkgconfig" \
		pkg-config --cflags --libs libusbip 2>&1)
	cat >"$TMP/pc.c" <<'EOF'
#include <stdio.h>
#include <usbip_proto.h>
#include <usbip_json.h>
int main(void)
{
	struct usbip_ophdr h = { USBIP_VERSION, USBIP_OP_REQ_DEVLIST, 0 };
	unsigned char b[USBIP_OP_HDR_WIRE_SIZE];

	usbip_pack_ophdr(b, &h);
	usbip_json_string(stdout, "x\"y");
	printf(" %02x%02x\n", b[2], b[3]);
	return 0;
}
EOF
	# shellcheck disable=SC2086
	if [[ $pc == *"-I$D1/usr/local/include/usbip"* && $pc == *"-L$D1/usr/local/lib"* &&
		$pc == *-lusbip* ]] &&
		gcc -Wall -Wextra -Werror -o "$TMP/pc" "$TMP/pc.c" $pc >"$TMP/pc.log" 2>&1 &&
		[ "$("$TMP/pc")" = '"x\"y" 8005' ]; then
		pass "pkg-config --cflags --libs libusbip in the DESTDIR: a program builds and runs"
	else
		fail "libusbip via pkg-config: '$pc' $(tail -n 5 "$TMP/pc.log" 2>/dev/null)"
	fi
	if make -s uninstall DESTDIR="$D1" >"$TMP/uninstall.log" 2>&1; then
		left=$(cd "$D1" && find . ! -type d | sort)
		if [ -z "$left" ]; then
			pass "make uninstall DESTDIR: nothing left"
		else
			fail "make uninstall DESTDIR left: $(echo "$left" | tr '\n' ' ')"
		fi
	else
		fail "make uninstall DESTDIR failed: $(tail -n 5 "$TMP/uninstall.log")"
	fi
else
	fail "make install DESTDIR failed: $(tail -n 5 "$TMP/install.log")"
fi

# 2. PREFIX=/usr, built in a separate tools directory so that the shared
#    build/tools keeps its configuration.
D2=$TMP/dest-usr
if make -s install PREFIX=/usr DESTDIR="$D2" TOOLS_BUILD="$TMP/tools-usr" \
	>"$TMP/install-usr.log" 2>&1; then
	if [ -x "$D2/usr/sbin/usbip" ] && [ -x "$D2/usr/sbin/usbipd" ] &&
		grep -qx 'ExecStart=/usr/sbin/usbipd $USBIPD_OPTS' "$D2/usr/lib/systemd/system/usbipd.service" &&
		[ -f "$D2/usr/share/man/man8/usbip.8" ] && [ ! -e "$D2/usr/local" ]; then
		pass "make install PREFIX=/usr: tools, man pages and units under /usr"
	else
		fail "make install PREFIX=/usr: files not where expected: $(cd "$D2" && find . ! -type d | tr '\n' ' ')"
	fi
else
	fail "make install PREFIX=/usr failed: $(tail -n 5 "$TMP/install-usr.log")"
fi

# 3. systemd-analyze verify, with the unit paths pointed at the DESTDIR
#    binaries (verify insists that ExecStart= binaries exist).  Template
#    units are checked through an instance whose name has no ':' (the
#    verify tool misreads a ':' in a file name; systemctl does not).
if command -v systemd-analyze >/dev/null; then
	U=$TMP/units
	mkdir -p "$U"
	for f in usbipd.service usbip-bind@.service usbip-attach@.service; do
		sed "s|/usr/sbin/|$D2/usr/sbin/|g" "$D2/usr/lib/systemd/system/$f" >"$U/$f"
	done
	cp "$U/usbip-bind@.service" "$U/usbip-bind@1-1.service"
	cp "$U/usbip-attach@.service" "$U/usbip-attach@office.service"
	for f in usbipd.service usbip-bind@1-1.service usbip-attach@office.service; do
		if out=$(cd "$U" && systemd-analyze verify "./$f" 2>&1) && [ -z "$out" ]; then
			pass "systemd-analyze verify $f"
		else
			fail "systemd-analyze verify $f: $out"
		fi
	done
	expo=$(cd "$U" && systemd-analyze security --offline=true ./usbipd.service 2>/dev/null |
		sed -n 's/.*Overall exposure level for usbipd.service: \([0-9.]*\).*/\1/p')
	if [ -n "$expo" ] && awk -v e="$expo" 'BEGIN { exit !(e <= 3.0) }'; then
		pass "usbipd.service sandbox: systemd-analyze security exposure $expo (<= 3.0)"
	else
		fail "usbipd.service sandbox: exposure '${expo:-unknown}' is above 3.0"
	fi
else
	fail "systemd-analyze not installed (make deps)"
fi

# 4. Man-page lint.
for page in tools/usb/usbip/doc/usbip.8 tools/usb/usbip/doc/usbipd.8; do
	out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 "$page" 2>&1 >/dev/null)
	if [ -z "$out" ]; then
		pass "man --warnings $(basename "$page")"
	else
		fail "man --warnings $(basename "$page"): $out"
	fi
done

# Documentation: the reStructuredText files build without a warning.
if command -v rst2html >/dev/null; then
	for doc in Documentation/usb/*.rst; do
		if out=$(rst2html --halt=warning "$doc" 2>&1 >/dev/null); then
			pass "rst2html --halt=warning $doc"
		else
			fail "rst2html $doc: $out"
		fi
	done
fi

# 5. usbip-keep-attached against a fake usbip whose "attach --persistent"
#    fails twice (unreachable), then attaches on port 3 and ends with
#    status 1 after a while (the import ended), then attaches on port 5
#    and stays; SIGTERM then makes it detach port 5 (the fake's TERM trap)
#    and the supervisor exit 0.  A second run: the attach ends with status
#    0 (detached by "usbip detach"): the supervisor exits 0 at once.
F=$TMP/fake
mkdir -p "$F"
cat >"$F/usbip" <<'FAKE'
#!/bin/bash
d=$(dirname "$0")
echo "$*" >>"$d/calls"
[ "$1" = --tcp-port ] && shift 2
case "$1" in
attach)
	n=$(cat "$d/attach-n" 2>/dev/null || echo 0); n=$((n + 1)); echo $n >"$d/attach-n"
	[ -e "$d/detached-by-user" ] && {
		echo "usbip: attached remote device fd00::1/1-1 to port 4"
		echo "usbip: port 4: detached; exiting"; exit 0; }
	case $n in
	1|2) echo "usbip: error: cannot connect to fd00::1 port 3240: Connection refused" >&2; exit 1 ;;
	3) echo "usbip: attached remote device fd00::1/1-1 to port 3"
	   sleep 0.5
	   echo "usbip: error: port 3: the import of fd00::1/1-1 ended" >&2; exit 1 ;;
	*) sleep 100 &
	   s=$!
	   trap 'kill $s; echo "usbip: port 5: detached (signal 15)"; echo "detached 5" >>"$d/calls"; exit 0' TERM
	   echo "usbip: attached remote device fd00::1/1-1 to port 5"
	   wait $s ;;
	esac ;;
esac
FAKE
chmod +x "$F/usbip"
USBIP=$F/usbip RETRY=0.2 "$D2/usr/sbin/usbip-keep-attached" fd00::1:1-1 >"$F/log" 2>&1 &
kpid=$!
for _ in $(seq 100); do
	grep -q 'to port 5' "$F/log" 2>/dev/null && break
	sleep 0.1
done
kill -TERM "$kpid" 2>/dev/null
wait "$kpid"
krc=$?
attach='--tcp-port 3240 attach --persistent -r fd00::1 -b 1-1'
want_calls="$attach"$'\n'"$attach"$'\n'"$attach"$'\n'"$attach"$'\ndetached 5'
got=$(cat "$F/calls" 2>/dev/null)
if [ "$krc" -eq 0 ] && [ "$got" = "$want_calls" ] &&
	[ "$(grep -c 'ended with status 1 .*retrying in 0.2 s' "$F/log")" = 3 ] &&
	grep -q 'port 5: detached (signal 15)' "$F/log"; then
	pass "usbip-keep-attached: runs attach --persistent, retries after failures and ends, the attach detaches on SIGTERM"
else
	fail "usbip-keep-attached: exit $krc, calls: $(tr '\n' ';' <"$F/calls"), log: $(tr '\n' ';' <"$F/log")"
fi
rm -f "$F/calls"
touch "$F/detached-by-user"
USBIP=$F/usbip RETRY=0.2 timeout 20 "$D2/usr/sbin/usbip-keep-attached" fd00::1:1-1 >"$F/log" 2>&1
krc=$?
if [ "$krc" -eq 0 ] && [ "$(cat "$F/calls")" = "$attach" ] &&
	grep -q 'was detached (usbip detach); stopping' "$F/log"; then
	pass "usbip-keep-attached: an attach ended by 'usbip detach' (status 0) stops it, exit 0"
else
	fail "usbip-keep-attached: after a detach: exit $krc, calls: $(tr '\n' ';' <"$F/calls"), log: $(tr '\n' ';' <"$F/log")"
fi
if "$D2/usr/sbin/usbip-keep-attached" nonexistent-name >/dev/null 2>&1; [ $? -eq 2 ]; then
	pass "usbip-keep-attached: a missing configuration exits 2"
else
	fail "usbip-keep-attached: a missing configuration does not exit 2"
fi
if command -v shellcheck >/dev/null; then
	if out=$(shellcheck -s sh tools/usb/usbip/systemd/usbip-keep-attached.in 2>&1); then
		pass "shellcheck usbip-keep-attached"
	else
		fail "shellcheck usbip-keep-attached: $out"
	fi
fi

# 6. DKMS, in a private tree: the dkms-install copy builds all four modules.
conf_ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' dkms.conf)
if [ "$conf_ver" = "$VERSION" ]; then
	pass "dkms.conf PACKAGE_VERSION $conf_ver matches configure.ac"
else
	fail "dkms.conf PACKAGE_VERSION '$conf_ver' differs from configure.ac's '$VERSION'"
fi
if command -v dkms >/dev/null; then
	D3=$TMP/dkms-root
	mkdir -p "$TMP/dkms-tree"
	if make -s dkms-install DESTDIR="$D3" >"$TMP/dkms-install.log" 2>&1 &&
		dkms build "usbip/$VERSION" -k "$KVER" --sourcetree "$D3/usr/src" \
			--dkmstree "$TMP/dkms-tree" >"$TMP/dkms.log" 2>&1; then
		n=$(find "$TMP/dkms-tree/usbip/$VERSION/$KVER" -name '*.ko*' | wc -l)
		if [ "$n" -eq 4 ]; then
			pass "dkms build usbip/$VERSION for $KVER: 4 modules"
			mapfile -t kos < <(find "$TMP/dkms-tree/usbip/$VERSION/$KVER" -name '*.ko')
			no_test_code "dkms build" "${kos[@]}"
		else
			fail "dkms build usbip/$VERSION: $n modules instead of 4"
		fi
	else
		fail "dkms build failed: $(tail -n 8 "$TMP/dkms-install.log" "$TMP/dkms.log" 2>/dev/null)"
	fi
else
	fail "dkms not installed (make deps)"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
