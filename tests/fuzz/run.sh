#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# run.sh OUTDIR: replays the seed corpus through the fuzz target, then fuzzes
# for FUZZ_TIME seconds.  One PASS/FAIL line per step, then
# "N passed, N failed"; exit 1 on failure.
set -u
out=$1
bin=$out/fuzz_proto
passed=0
failed=0

result() {	# result OK NAME [DETAIL]
	if [ "$1" = 0 ]; then
		echo "PASS $2${3:+ ($3)}"
		passed=$((passed + 1))
	else
		echo "FAIL $2${3:+ ($3)}"
		failed=$((failed + 1))
	fi
}

# 1. every seed once; all must be accepted without a crash
"$bin" "$out"/seeds/* >"$out/replay.log" 2>&1
rc=$?
n=$(grep -c '^Running: ' "$out/replay.log")
[ "$n" -gt 0 ] || rc=1
result "$rc" "fuzz_proto seed replay" "$n seeds"
[ "$rc" = 0 ] || tail -n 30 "$out/replay.log"

# 2. fuzz; new inputs go to a scratch corpus
mkdir -p "$out/corpus"
"$bin" -max_total_time="${FUZZ_TIME:-30}" -max_len=70000 -timeout=10 \
	-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$out/" \
	"$out/corpus" "$out/seeds" >"$out/fuzz.log" 2>&1
rc=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/fuzz.log")
cov=$(grep -o 'cov: [0-9]*' "$out/fuzz.log" | tail -n1)
result "$rc" "fuzz_proto ${FUZZ_TIME:-30}s" "${execs:-?} executions, ${cov:-cov: ?}"
[ "$rc" = 0 ] || tail -n 40 "$out/fuzz.log"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
