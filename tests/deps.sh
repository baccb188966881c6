#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Installs every Debian 12 package that building and testing usbip need.
# Fast when everything is present: apt-get runs only for what is missing.
# With --debug-kernel, only what building the debug kernel of make
# check-debug needs (tests/debug-kernel/build).
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(
	# building the modules against Debian 12's kernels
	build-essential bc kmod linux-headers-amd64
	# userspace tools
	autoconf automake libtool pkg-config libudev-dev libwrap0-dev libkmod-dev usb.ids
	# static checks, unit tests, fuzzing
	sparse clang libfuzzer-14-dev libclang-rt-14-dev python3 python3-docutils
	# llvm-symbolizer: sanitizer reports name functions and lines
	llvm-14
	# the QEMU harness and the reference peer (Debian's usbip tools)
	qemu-system-x86 qemu-utils busybox-static cpio xz-utils zstd usbip usbutils
	iproute2 util-linux procps
	# link cuts of the session tests: nft reject with tcp reset, drop
	nftables
	# installation checks: DKMS, systemd unit verification, man-page lint
	dkms systemd man-db shellcheck
	# isochronous test: aplay plays audio into QEMU usb-audio through vhci
	alsa-utils
	# JSON output checked against its schema; bash completion tests
	python3-jsonschema bash-completion
)

missing() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
			grep -q '^install ok installed$' || echo "$p"
	done
}

updated=
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo

install_missing() {
	local need
	need=$(missing "$@")
	[ -z "$need" ] && return 0
	# shellcheck disable=SC2086 # one line, words split on purpose
	echo "deps: installing:" $need
	if [ -z "$updated" ]; then
		$SUDO apt-get update -q >/dev/null
		updated=1
	fi
	# No Recommends: they add about 330 packages (QEMU's GUI and block
	# drivers, GTK, mesa, ceph, gluster, llvm-14-dev...) that no test uses,
	# 610 MB to download instead of 329 MB on a fresh Debian 12.
	# shellcheck disable=SC2086
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $need
}

# apt-cache needs package lists to resolve the 6.12 kernel; a fresh machine
# may have none.
if ! apt-cache show linux-image-amd64 >/dev/null 2>&1; then
	$SUDO apt-get update -q >/dev/null
	updated=1
fi

if [ "${1:-}" = --debug-kernel ]; then
	install_missing linux-source-6.1 build-essential flex bison bc libelf-dev libssl-dev \
		rsync kmod xz-utils
	echo "deps: debug kernel build dependencies present"
	exit 0
fi

install_missing "${PKGS[@]}"

# The 6.12 kernel that Debian 12 ships, resolved at run time.  Its headers
# are not installed (linux-headers-6.12... depends on linux-image-6.12...,
# which would put a kernel into /boot and make it the default one): what
# they need on the host is, and tests/vm/headers unpacks them into a cache.
k612=$(bash tests/vm/kver 6.12)
mapfile -t hdeps < <(bash tests/vm/headers --host-deps "$k612")
[ ${#hdeps[@]} -gt 0 ] || { echo "deps: tests/vm/headers --host-deps $k612 failed" >&2; exit 1; }
install_missing "${hdeps[@]}"
kdir612=$(bash tests/vm/headers "$k612")
echo "deps: all present (6.1: $(bash tests/vm/kver 6.1), 6.12: $k612 in $kdir612)"
