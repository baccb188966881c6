#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# run.sh OUTDIR TARGET:SEEDDIR...: for each target, replays its seed corpus
# (OUTDIR/SEEDDIR), then fuzzes it for FUZZ_TIME seconds, or for FUZZ_RUNS
# executions when FUZZ_RUNS is set (make long).  One PASS/FAIL line per
# step, with the execution count, then "N passed, N failed"; exit 1 on
# failure.  A crash leaves its input as OUTDIR/TARGET-crash-*.
set -u
out=$1
shift
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

for spec in "$@"; do
	name=${spec%%:*}
	seeds=$out/${spec#*:}
	bin=$out/$name

	# 1. every seed once; all must be accepted without a crash
	"$bin" "$seeds"/* >"$out/$name-replay.log" 2>&1
	rc=$?
	n=$(grep -c '^Running: ' "$out/$name-replay.log")
	[ "$n" -gt 0 ] || rc=1
	result "$rc" "$name seed replay" "$n seeds"
	[ "$rc" = 0 ] || tail -n 30 "$out/$name-replay.log"

	# 2. fuzz; new inputs go to a scratch corpus
	if [ -n "${FUZZ_RUNS:-}" ]; then
		limit=(-runs="$FUZZ_RUNS")
		what="$FUZZ_RUNS runs"
	else
		limit=(-max_total_time="${FUZZ_TIME:-30}")
		what="${FUZZ_TIME:-30}s"
	fi
	mkdir -p "$out/$name-corpus"
	start=$(date +%s)
	"$bin" "${limit[@]}" -max_len=70000 -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$out/$name-" \
		"$out/$name-corpus" "$seeds" >"$out/$name-fuzz.log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$name-fuzz.log")
	cov=$(grep -o 'cov: [0-9]*' "$out/$name-fuzz.log" | tail -n1)
	if [ -n "${FUZZ_RUNS:-}" ] && [ "${execs:-0}" -lt "$FUZZ_RUNS" ]; then
		rc=1
	fi
	result "$rc" "$name $what" \
		"${execs:-?} executions in $(($(date +%s) - start)) s, ${cov:-cov: ?}"
	[ "$rc" = 0 ] || tail -n 40 "$out/$name-fuzz.log"
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
