# SPDX-License-Identifier: GPL-2.0
# @desc: our usbip/usbipd load vhci-hcd, usbip-host and usbip-vudc on demand (libkmod), with the not-root and conflicting-in-tree-copy errors; loopback export of a gadget disk with list -l/-r/--device and port --json validated against the JSON Schema, sha256 through the attach
# @kernels: 6.1
# @vms: 1
# @modules: ours
# @timeout: 420
#
# Starts with no usbip module loaded.  Checks, in one boot:
#   - a non-root "usbip port" fails with the "needs root" error and loads
#     nothing;
#   - with Debian's in-tree usbip-core loaded by hand, "usbip port" refuses
#     to load our vhci-hcd and names the conflicting copy;
#   - "usbip port" loads our vhci-hcd (+ usbip-core), "usbipd" our
#     usbip-host, "usbipd --device" our usbip-vudc, "usbip bind" usbip-host
#     again after it was unloaded (taint O: ours);
#   - list -l, list -r ::1, list --device and port, all with --json or
#     -o json, validate against tools/usb/usbip/doc/usbip-json.schema.json
#     (python3-jsonschema of the host, through the 9p root) and name the
#     exported gadget and the attached port;
#   - the MIB MiB disk reads back through vhci-hcd with the sha256 of its
#     backing file.

MIB=${TOOLS_KMOD_MIB:-8}
# tests/run reads this file on the host too, where REPO is unset.
USBIP=${REPO:-}/build/tools/src/usbip
USBIPD=${REPO:-}/build/tools/src/usbipd
SCHEMA=${REPO:-}/tools/usb/usbip/doc/usbip-json.schema.json

# json_check FILE PYEXPR: FILE validates against the schema and PYEXPR
# (over the parsed document d) is true.
json_check() {
	python3 - "$SCHEMA" "$1" "$2" <<'PY'
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
d = json.load(open(sys.argv[2]))
jsonschema.Draft202012Validator(schema).validate(d)
if not eval("(" + sys.argv[3] + ")", {"d": d}):
    print("condition failed: %s on %s" % (sys.argv[3], json.dumps(d)))
    sys.exit(1)
PY
}

loaded() {
	[ -d "/sys/module/$1" ] && [ "$(cat "/sys/module/$1/initstate" 2>/dev/null)" = live ]
}

ours_loaded() {
	loaded "$1" || die "$1 is not loaded"
	[[ $(cat "/sys/module/$1/taint") == *O* ]] || die "$1 is loaded but not ours (taint '$(cat "/sys/module/$1/taint")')"
	info "$1 loaded, taint $(cat "/sys/module/$1/taint")"
}

no_vhci_disk() {
	[ -z "$(disk_of_vhci)" ]
}

vm1() {
	local m err backing=/tmp/disk.img sum busid local_dev vdev port

	step "no usbip module is loaded at start"
	for m in usbip_core vhci_hcd usbip_host usbip_vudc; do
		! loaded "$m" || die "$m is already loaded"
	done
	run "$USBIP" version

	step "non-root: usbip port says loading needs root, loads nothing"
	if err=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$USBIP" port 2>&1); then
		die "usbip port as uid 65534 succeeded: $err"
	fi
	info "$err"
	[[ $err == *"vhci-hcd module is not loaded, and loading it needs root"* ]] ||
		die "not the not-root error: $err"
	! loaded vhci_hcd || die "vhci_hcd got loaded by a non-root user"

	step "in-tree usbip-core loaded by hand: usbip port names the conflict"
	modprobe usbcore
	insmod /lib/modules/"$(uname -r)"/kernel/drivers/usb/usbip/usbip-core.ko* ||
		die "cannot insmod Debian's usbip-core"
	if err=$("$USBIP" port 2>&1); then
		die "usbip port loaded vhci-hcd over the in-tree usbip-core: $err"
	fi
	info "$err"
	[[ $err == *"conflicting copy is already loaded: loaded usbip_core is in-tree"*"run 'modprobe -r usbip_core' first" ]] ||
		die "not the conflict error: $err"
	! loaded vhci_hcd || die "vhci_hcd got loaded despite the conflict"
	rmmod usbip_core

	step "usbip port loads our vhci-hcd; port --json on no device"
	"$USBIP" port --json >/tmp/port0.json || die "usbip port failed"
	ours_loaded vhci_hcd
	ours_loaded usbip_core
	json_check /tmp/port0.json 'd["ports"] == [] and d["nports"] >= 2' ||
		die "port --json with nothing attached"

	step "usbipd loads usbip-host, usbipd --device loads usbip-vudc"
	usbipd_start
	ours_loaded usbip_host
	"$USBIPD" -e -t 3241 -D
	wait_for "usbipd --device on 3241" 30 port_listening 3241
	ours_loaded usbip_vudc
	"$USBIP" list --device -o json >/tmp/dev.json || die "list --device -o json failed"
	json_check /tmp/dev.json 'd["mode"] == "device" and isinstance(d["devices"], list)' ||
		die "list --device --json"
	usbipd_stop
	wait_for "usbipds gone" 30 bash -c '! pidof usbipd'
	rmmod usbip_vudc usbip_host

	step "a ${MIB} MiB gadget disk; usbip bind loads usbip-host again"
	load_storage
	gadget_disk kjdisk "$backing" "$MIB"
	sum=$(sha_file "$backing")
	busid=$GADGET_BUSID
	wait_disk local_dev 60 disk_of_usb "$busid"
	"$USBIP" list -l --json >/tmp/local.json || die "list -l --json failed"
	json_check /tmp/local.json "d['mode'] == 'local' and any(x['busid'] == '$busid' and
		x['vendor_id'] == '1d6b' and x['product_id'] == '0104' and
		[i['class'] for i in x['interfaces']] == ['08'] for x in d['devices'])" ||
		die "list -l --json does not show $busid as 1d6b:0104 mass storage"
	! loaded usbip_host || die "usbip_host still loaded"
	run "$USBIP" bind -b "$busid"
	at_exit "$USBIP" unbind -b "$busid"
	ours_loaded usbip_host
	usbipd_start
	at_exit usbipd_stop

	step "list -r ::1 --json, attach, port --json, sha256 through vhci-hcd"
	"$USBIP" list -r ::1 --json >/tmp/remote.json || die "list -r --json failed"
	json_check /tmp/remote.json "d['mode'] == 'remote' and d['host'] == '::1' and
		d['tcp_port'] == 3240 and [x['busid'] for x in d['devices']] == ['$busid']" ||
		die "list -r --json does not list exactly $busid"
	run "$USBIP" attach -r ::1 -b "$busid"
	wait_disk vdev 60 disk_of_vhci
	"$USBIP" port -o json >/tmp/port1.json || die "usbip port -o json failed"
	json_check /tmp/port1.json "len(d['ports']) == 1 and d['ports'][0]['status'] == 'in use' and
		d['ports'][0]['remote'] == {'host': '::1', 'tcp_port': 3240, 'busid': '$busid'} and
		d['ports'][0]['vendor_id'] == '1d6b' and d['ports'][0]['speed'] == 'high'" ||
		die "port --json does not describe the attached disk"
	port=$(python3 -c 'import json; print(json.load(open("/tmp/port1.json"))["ports"][0]["port"])')
	[ "$(sha_dev "$vdev" "$MIB")" = "$sum" ] || die "sha256 through vhci-hcd differs"
	info "sha256 of $MIB MiB through vhci port $port ($vdev) matches: $sum"
	run "$USBIP" detach -p "$port"
	wait_for "vhci disk gone" 60 no_vhci_disk
	"$USBIP" port --json >/tmp/port2.json || die "usbip port --json failed"
	json_check /tmp/port2.json 'd["ports"] == []' || die "port still listed after detach"
}
