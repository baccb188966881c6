# SPDX-License-Identifier: GPL-2.0
#
# TAP helpers of the shell tests, sourced (POSIX sh): a scratch directory
# $tmp removed on exit, ok STATUS WHAT and skip WHAT print one line per
# check, tap_done prints the plan and exits 1 when a check failed.

tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
n=0
failed=0

ok() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=1
	fi
}

skip() {
	n=$((n + 1))
	echo "ok $n - # SKIP $1"
}

tap_done() {
	echo "1..$n"
	exit $failed
}
