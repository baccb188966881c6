#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Command-line behaviour of the usbip binary: exit statuses, messages,
# output formats.  TAP output, one line per check.

usbip=${USBIP_BIN:?USBIP_BIN is not set}
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"

# run EXPECTED_STATUS ARGS...: runs usbip, output in $tmp/out and $tmp/err.
run() {
	want=$1
	shift
	"$usbip" "$@" >"$tmp/out" 2>"$tmp/err"
	got=$?
	if [ "$got" != "$want" ]; then
		echo "# usbip $*: exit $got, want $want; stderr:"
		sed 's/^/#   /' "$tmp/err"
		return 1
	fi
	return 0
}

run 0 version && head -n1 "$tmp/out" | grep -qx "usbip (usbip-utils) ${PACKAGE_VERSION:-[0-9.]*}" &&
	sed -n 2p "$tmp/out" | grep -qx 'USB/IP protocol version 1.1.1'
ok $? "version prints the package and protocol versions"

run 2
ok $? "no command is a usage error (2)"

run 0 help && grep -q '^  list ' "$tmp/out" && grep -q '^  attach ' "$tmp/out" &&
	grep -q '^  bind ' "$tmp/out" && grep -q '^  unbind ' "$tmp/out" &&
	grep -q '^  detach ' "$tmp/out" && grep -q '^  port ' "$tmp/out" &&
	! grep -q 'Not implemented' "$tmp/out"
ok $? "help lists every command, none as missing"

run 0 help list && grep -q -- '--parsable' "$tmp/out"
ok $? "help list shows the list usage"

for cmd in attach detach port; do
	run 0 help "$cmd" && grep -q "^usage: usbip .*$cmd" "$tmp/out"
	ok $? "help $cmd shows its usage"
	run 2 "$cmd" extra && grep -q "unexpected argument 'extra'" "$tmp/err"
	ok $? "$cmd with an extra argument is a usage error"
done
run 2 attach -b 1-1 && grep -q 'attach: give the server with -r HOST' "$tmp/err"
ok $? "attach without -r is a usage error"
run 2 attach -r localhost && grep -q 'attach: give the server with -r HOST' "$tmp/err"
ok $? "attach without -b is a usage error"
run 2 attach -r localhost -b ../x && grep -q 'not a valid bus id' "$tmp/err"
ok $? "attach with a bus id holding a slash is a usage error"
run 2 attach --remote localhost --device ../x &&
	grep -q "not a valid bus id" "$tmp/err"
ok $? "attach --device with a slash is a usage error"
for bad in abc -1 3601 10s ''; do
	run 2 attach -r localhost -b 1-1 --peer-timeout "$bad" &&
		grep -q "peer timeout \"$bad\" is not 0 to 3600 seconds" "$tmp/err"
	ok $? "attach --peer-timeout '$bad' is a usage error"
done
run 0 help attach && grep -q -- '--peer-timeout SECS' "$tmp/out"
ok $? "help attach shows --peer-timeout"
run 2 detach && grep -q 'detach: which port' "$tmp/err"
ok $? "detach without -p is a usage error"
for bad in abc -1 1x ''; do
	run 2 detach -p "$bad" && grep -q "'$bad' is not a port number" "$tmp/err"
	ok $? "detach -p '$bad' is a usage error"
done

for cmd in bind unbind; do
	run 2 "$cmd" && grep -q "$cmd: which device" "$tmp/err"
	ok $? "$cmd without -b is a usage error"
	run 2 "$cmd" -b 1-1 extra && grep -q "unexpected argument 'extra'" "$tmp/err"
	ok $? "$cmd with an extra argument is a usage error"
	run 0 help "$cmd" && grep -q -- "--busid" "$tmp/out"
	ok $? "help $cmd shows its usage"
done
run 2 list -r && grep -q 'missing argument' "$tmp/err"
ok $? "list -r without a host is a usage error"
run 2 list -l -r localhost && grep -q 'exclude each other' "$tmp/err"
ok $? "list -l -r is a usage error"
run 1 --tcp-port 1 list -r 127.0.0.1 && grep -q 'cannot connect to 127.0.0.1:1' "$tmp/err"
ok $? "list -r to a closed port fails with status 1"
run 1 list -r host.invalid && grep -q 'cannot resolve host.invalid' "$tmp/err"
ok $? "list -r to an unknown host fails with status 1"
run 2 list --device extra && grep -q "unexpected argument 'extra'" "$tmp/err"
ok $? "list --device with an extra argument is a usage error"
run 2 list && grep -q -- '--local' "$tmp/err"
ok $? "list without --local is a usage error"
run 2 list -l extra && grep -q "unexpected argument 'extra'" "$tmp/err"
ok $? "list -l with an extra argument is a usage error"
run 2 list -q
ok $? "list with an unknown option is a usage error"
run 2 frobnicate && grep -q "unknown command 'frobnicate'" "$tmp/err"
ok $? "unknown command is a usage error"
run 2 help frobnicate
ok $? "help on an unknown command is a usage error"
run 2 --tcp-port 70000 version && grep -q "'70000' is not a port number" "$tmp/err"
ok $? "--tcp-port 70000 is refused"
run 2 --tcp-port 12x version
ok $? "--tcp-port 12x is refused"
run 0 --tcp-port 3240 --debug version && grep -q 'tcp port 3240' "$tmp/err"
ok $? "--tcp-port 3240 --debug is accepted"

# Local listing: whatever this machine has, the two formats must agree.
run 0 list -l && cp "$tmp/out" "$tmp/human"
ok $? "list -l exits 0"
run 0 list -l -p && cp "$tmp/out" "$tmp/parsable"
ok $? "list -l -p exits 0"
! grep -qv '^busid=[!-~]*#usbid=[0-9a-f]\{4\}:[0-9a-f]\{4\}#$' "$tmp/parsable"
ok $? "every parsable line is busid=BUSID#usbid=VVVV:PPPP#"
sed -n 's/^busid=\([^#]*\)#usbid=\([^#]*\)#$/ - busid \1 (\2)/p' "$tmp/parsable" >"$tmp/a"
grep '^ - busid ' "$tmp/human" >"$tmp/b"
cmp -s "$tmp/a" "$tmp/b" && [ $(($(wc -l <"$tmp/parsable") * 3)) -eq "$(wc -l <"$tmp/human")" ]
ok $? "list -l and list -l -p show the same $(wc -l <"$tmp/parsable") devices"
echo "# $(wc -l <"$tmp/parsable") local devices"

USBIP_USB_IDS=/nonexistent/usb.ids run 0 list -l &&
	grep '^ - busid ' "$tmp/out" | cmp -s - "$tmp/b" &&
	! grep '^   ' "$tmp/out" | grep -qv '^   unknown vendor : unknown product ([0-9a-f:]*)$'
ok $? "list -l without usb.ids exits 0 with numeric names"

if [ -w /dev/full ]; then
	"$usbip" version >/dev/full 2>"$tmp/err"
	st=$?
	[ "$st" = 1 ] && grep -q 'writing output' "$tmp/err"
	ok $? "a failed write of the output exits 1"
else
	skip "no /dev/full"
fi

# Every command has --help, -h and "usbip help CMD", all the same text.
for cmd in list bind unbind attach detach port version help; do
	run 0 "$cmd" --help && grep -q "^usage: usbip .*$cmd" "$tmp/out" && cp "$tmp/out" "$tmp/h1" &&
		run 0 "$cmd" -h && cmp -s "$tmp/out" "$tmp/h1" &&
		run 0 help "$cmd" && cmp -s "$tmp/out" "$tmp/h1"
	ok $? "usbip $cmd --help, -h and usbip help $cmd print the same usage, exit 0"
	grep -q "^.B $cmd\>" "$top_srcdir/doc/usbip.8"
	ok $? "usbip.8 documents $cmd"
done
run 0 --help
st=$?
for cmd in list bind unbind attach detach port version help; do
	grep -q "^  $cmd " "$tmp/out" || st=1
done
ok $st "usbip --help lists every command"

# man_has PAGE OPTION...: every --long option appears (as \-\-long) in PAGE.
man_has() {
	page=$1
	shift
	st=0
	for o in "$@"; do
		m=$(printf '%s' "$o" | sed 's/-/\\-/g')
		grep -qF -- "$m" "$top_srcdir/doc/$page" || { echo "# $page lacks $o"; st=1; }
	done
	return $st
}
"${USBIPD_BIN:?}" --help >"$tmp/out" 2>&1 && grep -q '^usage: usbipd' "$tmp/out" &&
	man_has usbipd.8 $(grep -o -- '--[a-z][a-z0-9-]*' "$tmp/out" | sort -u)
ok $? "usbipd --help: every long option is documented in usbipd.8"
for cmd in list attach detach port bind unbind; do
	"$usbip" "$cmd" --help >"$tmp/out" &&
		man_has usbip.8 $(grep -o -- '--[a-z][a-z0-9-]*' "$tmp/out" | sort -u)
	ok $? "usbip $cmd: every long option of --help is in usbip.8"
done

# On-demand module loading: a modules directory without usbip modules.
mkdir -p "$tmp/sys" "$tmp/kmod/9.9.9-test"
for cmd in "port" "bind -b 1-1" "detach -p 0"; do
	env -u USBIP_NO_AUTOLOAD USBIP_SYSFS_ROOT="$tmp/sys" USBIP_KMOD_DIR="$tmp/kmod/9.9.9-test" \
		"$usbip" $cmd >"$tmp/out" 2>"$tmp/err"
	st=$?
	[ "$st" = 1 ] && grep -q 'module is not loaded and not installed for kernel 9.9.9-test' "$tmp/err"
	ok $? "usbip $cmd: a missing module is reported as not installed for the kernel"
done
USBIP_NO_AUTOLOAD=1 USBIP_SYSFS_ROOT="$tmp/sys" USBIP_KMOD_DIR="$tmp/kmod/9.9.9-test" \
	"$usbip" port >"$tmp/out" 2>"$tmp/err"
[ $? = 1 ] && grep -q 'vhci-hcd is not loaded' "$tmp/err" && ! grep -q 'not installed' "$tmp/err"
ok $? "USBIP_NO_AUTOLOAD=1: no load attempt, the plain 'not loaded' error"

if command -v man >/dev/null 2>&1 && [ -n "$top_srcdir" ]; then
	for page in usbip.8 usbipd.8; do
		man --warnings -l "$top_srcdir/doc/$page" >/dev/null 2>"$tmp/err" && ! [ -s "$tmp/err" ]
		ok $? "man page $page formats without warnings"
	done
else
	skip "man not available"
	skip "man not available"
fi

tap_done
