#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The bash completion (completion/usbip): sourced in bash, _usbip and
# _usbipd are called with COMP_WORDS/COMP_CWORD set, against a fake sysfs
# tree (fakesysfs.py) for bus ids and ports.  TAP output.

usbip=${USBIP_BIN:?USBIP_BIN is not set}
src=${top_srcdir:?top_srcdir is not set}
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"

# shellcheck source=/dev/null
. "$src/completion/usbip" || { echo "Bail out! cannot source completion/usbip"; exit 99; }

# comp FUNC WORD...: completes the last WORD; sorted candidates in $got.
comp() {
	local fn=$1
	shift
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	"$fn"
	got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ')
	got=${got% }
}

# expect WANT WHAT FUNC WORD...
expect() {
	local want=$1 what=$2
	shift 2
	comp "$@"
	[ "$got" = "$want" ]
	ok $? "$what"
	[ "$got" = "$want" ] || echo "#   got '$got', want '$want'"
}

complete -p usbip 2>/dev/null | grep -q '_usbip usbip$' && complete -p usbipd | grep -q '_usbipd usbipd$'
ok $? "sourcing registers _usbip for usbip and _usbipd for usbipd"

expect "attach bind detach help list port unbind version" "subcommands" _usbip usbip ""
expect "bind" "subcommand prefix 'bi'" _usbip usbip bi
expect "detach" "subcommand after global options (-d -t 3241 de)" _usbip usbip -d -t 3241 de
expect "--debug --help --tcp-port -d -h -t" "global options" _usbip usbip -
expect "--device --help --json --local --output --parsable --remote -d -h -j -l -o -p -r" \
	"list options" _usbip usbip list -
expect "json text" "list -o formats" _usbip usbip list -l -o ""
expect "--json" "port --j" _usbip usbip port --j
expect "--busid --device --help --peer-timeout --persistent --remote --resume-window -b -d -h -p -r" \
	"attach options" _usbip usbip attach -
expect "" "attach --resume-window takes a number: no candidates" _usbip usbip attach -p \
	--resume-window ""
expect "list" "help takes a command" _usbip usbip help li
expect "--daemon --debug --device --help --ipv4 --ipv6 --peer-timeout --pid --tcp-port --version" \
	"usbipd long options" _usbipd usbipd --
expect "" "usbipd -t takes a number: no candidates" _usbipd usbipd -t ""

# Bus ids: devices only, no interfaces and no root hubs.
python3 "$src/tests/fakesysfs.py" "$tmp/sys" || exit 99
mkdir -p "$tmp/sys/bus/usb/devices/1-1:1.0"
export USBIP_SYSFS_ROOT=$tmp/sys
want=$(cd "$tmp/sys/bus/usb/devices" && ls | grep -v -e : -e '^usb' | sort | tr '\n' ' ')
want=${want% }
expect "$want" "bind -b: local bus ids without interfaces and root hubs ($want)" \
	_usbip usbip bind -b ""
expect "1-1 1-10" "unbind --busid 1-1 prefix" _usbip usbip unbind --busid 1-1
[ -n "$want" ] && ! [[ " $want " == *" usb1 "* ]] && ! [[ " $want " == *":"* ]]
ok $? "no root hub and no interface among the bus ids"

# Ports for detach: the used ports of a fake vhci-hcd, from our usbip port.
python3 - "$tmp/sys" "$src/tests" <<'PY' || exit 99
import sys
sys.path.insert(0, sys.argv[2])
import fakesysfs
fakesysfs.build_vhci(sys.argv[1], ncontrollers=2, hs=2, ss=2,
                     used={1: (6, 3, 0x10002, 5, "3-1"), 6: (6, 5, 0x10003, 6, "4-1")})
PY
export USBIP_VHCI_RECORD_DIR=$tmp/records USBIP_NO_AUTOLOAD=1
expect "1 6" "detach -p: the ports in use" _usbip "$usbip" detach -p ""
expect "--help --port -h -p" "detach options" _usbip "$usbip" detach -

tap_done
