#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs test binaries given as PATH:TAG, shows their PASS/FAIL lines, counts
# them and ends with "N passed, N failed".  A binary that dies or exits
# non-zero without a FAIL line counts as one failed case.  Exit 1 on failure.
set -u
passed=0
failed=0
for spec in "$@"; do
	bin=${spec%%:*}
	tag=${spec#*:}
	out=$("$bin" "$tag" 2>&1)
	rc=$?
	printf '%s\n' "$out"
	p=$(grep -c '^PASS ' <<<"$out")
	f=$(grep -c '^FAIL ' <<<"$out")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "FAIL $(basename "$bin") $tag (exit status $rc)"
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
