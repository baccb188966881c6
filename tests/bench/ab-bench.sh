#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/bench/ab-bench.sh - is a change of our modules slower?  Builds our
# modules at two git revisions (A, the baseline, and B), loads them
# alternately on the same gadget disk in one boot of one QEMU VM
# (tests/bench/ab-bench-vm.sh), at least 3 rounds, and prints min, median
# and max of each figure per set, the ratio of the medians B/A, and whether
# any median of B fell by more than LIMIT_PCT (default 3) percent below A's.
# A benchmark, not a test: it is not part of make check; it fails when a
# step fails (wrong data, a kernel warning, a timeout), exits 3 when a
# median fell by more than the limit, and 4 when it fell by more but the
# runs of that figure spread (max - min over the median) more than twice
# the limit: then noise cannot be told from a loss, and only a quieter
# machine or more rounds decide.
#
#   tests/bench/ab-bench.sh [-k 6.1|6.12] [-r ROUNDS] [-c CPUS] REV_A [REV_B]
#     REV_B defaults to the working tree as it is (uncommitted changes too);
#     CPUS is the VM's vCPUs (default 2; 1 takes the cross-vCPU wakeups out)
#   READ_MIB=64 WRITE_MIB=32 DD_RUNS=3 URB_N=2000 URB_RUNS=5 LIMIT_PCT=3 \
#     tests/bench/ab-bench.sh main~3
#   AB_PERF=1 tests/bench/ab-bench.sh main    (also profiles, see ab-bench-vm.sh)
#
# Release builds (no USBIP_SELFTEST), as users get them.  Sources of a
# revision are checked out under build/bench-ab/REV (git worktree), logs go
# to build/bench-logs/ab-bench-KVER/vm1/.  Figures from two separate runs
# are not comparable on a shared machine; the ones of one run are.

set -uo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/bench/lib.sh
. "$TOP/tests/bench/lib.sh"

series=6.1 rounds=3 cpus=2
while getopts "k:r:c:" o; do
	case "$o" in
	k) series=$OPTARG ;;
	r) rounds=$OPTARG ;;
	c) cpus=$OPTARG ;;
	*) sed -n '17,22s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] && [ $# -le 2 ] || { sed -n '17,22s/^# \{0,1\}//p' "$0" >&2; exit 2; }
[ "$rounds" -ge 3 ] 2>/dev/null || { echo "ab-bench: at least 3 rounds" >&2; exit 2; }
[ "$cpus" -ge 1 ] 2>/dev/null || { echo "ab-bench: -c takes a number of vCPUs" >&2; exit 2; }
rev_a=$1 rev_b=${2:-}
limit=${LIMIT_PCT:-3}

kver=$(vm_kver "$series") || { echo "ab-bench: cannot resolve the $series kernel" >&2; exit 1; }
case "$series" in
6.12) "$TOP/tests/vm/headers" "$kver" >/dev/null || exit 1
	kdir=$("$TOP/tests/vm/headers" --dir "$kver") ;;
*) kdir=/usr/src/linux-headers-$kver ;;
esac

# build_set NAME REV: our modules of REV (the working tree if empty) for
# KVER; prints the directory holding the .ko files.
build_set() {
	local name=$1 rev=$2 src log
	log=$TOP/build/bench-ab/build-$name.log
	mkdir -p "$TOP/build/bench-ab"
	if [ -z "$rev" ]; then
		src=$TOP
	else
		local sha
		sha=$(git -C "$TOP" rev-parse --verify "$rev^{commit}") ||
			{ echo "ab-bench: no revision $rev" >&2; return 1; }
		src=$TOP/build/bench-ab/$sha
		if [ ! -d "$src" ]; then
			git -C "$TOP" worktree add --detach "$src" "$sha" >"$log" 2>&1 ||
				{ echo "ab-bench: git worktree add $rev failed, see $log" >&2; return 1; }
		fi
	fi
	make -C "$src" modules KDIR="$kdir" >>"$log" 2>&1 ||
		{ echo "ab-bench: make modules of ${rev:-the working tree} failed, see $log" >&2; return 1; }
	echo "$src/build/kmod/$kver/drivers/usb/usbip"
}

echo "ab-bench: building A (${rev_a}) and B (${rev_b:-working tree}) for $kver"
dir_a=$(build_set A "$rev_a") || exit 1
dir_b=$(build_set B "$rev_b") || exit 1

bench_prepare ab-bench "$series" 1
VM_MODES[1]=reference
for s in A B; do
	d=dir_${s,,}
	mkdir -p "$RUN_DIR/vm1/$s"
	cp "${!d}"/usbip-core.ko "${!d}"/usbip-host.ko "${!d}"/vhci-hcd.ko \
		"${!d}"/usbip-vudc.ko "$RUN_DIR/vm1/$s/" || { echo "ab-bench: set $s incomplete" >&2; exit 1; }
done
if cmp -s <(cat "$dir_a"/*.ko) <(cat "$dir_b"/*.ko); then
	echo "ab-bench: note: A and B are the same modules, byte for byte"
fi
bench_scenario_copy -e "s/^ROUNDS=.*/ROUNDS=$rounds/" \
	-e "s/^READ_MIB=.*/READ_MIB=${READ_MIB:-64}/" \
	-e "s/^WRITE_MIB=.*/WRITE_MIB=${WRITE_MIB:-32}/" \
	-e "s/^URB_N=.*/URB_N=${URB_N:-2000}/" \
	-e "s/^URB_RUNS=.*/URB_RUNS=${URB_RUNS:-5}/" \
	-e "s/^DD_RUNS=.*/DD_RUNS=${DD_RUNS:-3}/" \
	-e "s/^AB_PERF=.*/AB_PERF=${AB_PERF:-0}/"
VM_SMP=$cpus
bench_boot ", A = ${rev_a}, B = ${rev_b:-working tree}, $rounds rounds, $cpus vCPUs" 1
echo "ab-bench [$KVER, $cpus vCPUs]: $rounds rounds of A and B alternated (ABBA...)," \
	"${DD_RUNS:-3} x ${READ_MIB:-64} MiB reads and ${WRITE_MIB:-32} MiB writes (O_DIRECT, 1 MiB)," \
	"${URB_RUNS:-5} x ${URB_N:-2000} GET_DESCRIPTOR round trips ($((SECONDS - BENCH_T0))s VM)"

# With AB_PERF=1: two more figures per path from each perf report (the
# samples of the whole guest by command), both "higher is better" as the
# others: URBs per ms of CPU time of the server's threads (BUSID-rx/-tx,
# usbip-vudc.N-rx/-tx), and the CPU time of vhci-hcd's threads over the
# server's.  The second compares the server against the client side of
# the same round trips, whose per-instruction cost under TCG varies as
# much as the server's; it means something only while vhci-hcd is the
# same in A and B.
if [ "${AB_PERF:-0}" = 1 ]; then
	for f in "$RUN_DIR"/vm1/report-*.txt; do
		[ -e "$f" ] || continue
		n=${f##*/report-} n=${n%.txt}	# A_stub_r1
		awk -v set="${n%%_*}" -v rest="${n#*_}" -v urbs="${URB_N:-2000}" '
			/Event count/ { ev = $NF }
			/Command/ { cmds = 1 }
			cmds && /%/ {
				pct = $1; sub("%", "", pct); $1 = ""
				comm = $0; sub(/^ +/, "", comm); sub(/ +$/, "", comm)
				if (comm ~ /^vhci port/) client += pct
				else if (comm ~ /-(rx|tx)$/) server += pct
			}
			END {
				if (!ev || !server) exit
				split(rest, r, "_")	# stub r1
				ms = ev * server / 100 / 1e6
				printf "%s_%scpu_%s_urb_per_srv_ms=%.2f URB/ms\n", set, r[1], r[2], urbs / ms
				printf "%s_%scpu_%s_vhci_per_srv=%.3f x\n", set, r[1], r[2], client / server
			}' "$f"
	done >>"$RUN_DIR/vm1/metrics"
fi

# The table: per path and figure, min/median/max of A and of B, B/A of the
# medians; a median of B more than LIMIT_PCT below A's is flagged.
awk -v limit="$limit" '
	{
		split($1, kv, "=")
		n = split(kv[1], p, "_")        # A_stub_r1_read_MBps, B_vudc_r2_urb_per_s
		set = p[1]; path = p[2]; fig = p[4]
		for (i = 5; i <= n; i++) fig = fig "_" p[i]
		key = path " " fig
		if (!(key in seen)) { seen[key] = 1; order[++nk] = key }
		v[set, key, ++c[set, key]] = kv[2] + 0
	}
	function sorted(set, key,  i, j, t, m) {
		m = c[set, key]
		for (i = 1; i <= m; i++) s[i] = v[set, key, i]
		for (i = 2; i <= m; i++) for (j = i; j > 1 && s[j - 1] > s[j]; j--) {
			t = s[j]; s[j] = s[j - 1]; s[j - 1] = t
		}
		return m
	}
	function f3(l, m, h,  f) {
		f = m < 10 ? "%.3f" : "%.1f"
		return sprintf(f "/" f "/" f, l, m, h)
	}
	function median(m) { return m % 2 ? s[(m + 1) / 2] : (s[m / 2] + s[m / 2 + 1]) / 2 }
	END {
		printf "  %-22s %28s %28s %8s %7s\n", "", "A min/median/max", "B min/median/max",
			"B/A", "spread"
		worse = 0; noisy = 0
		for (k = 1; k <= nk; k++) {
			key = order[k]
			m = sorted("A", key); la = s[1]; ma = median(m); ha = s[m]
			m = sorted("B", key); lb = s[1]; mb = median(m); hb = s[m]
			r = ma > 0 ? mb / ma : 0
			# spread: the larger (max - min) / median of the two sets.
			# A drop smaller than the spread cannot be told from noise.
			sa = ma > 0 ? (ha - la) / ma : 1; sb = mb > 0 ? (hb - lb) / mb : 1
			sp = sa > sb ? sa : sb
			flag = ""
			if (r < 1 - limit / 100) {
				if (sp > 2 * limit / 100) { flag = "  <- lower, within the noise"; noisy++ }
				else { flag = "  <- more than " limit "% slower"; worse++ }
			}
			printf "  %-22s %28s %28s %8.3f %6.0f%%%s\n", key,
				f3(la, ma, ha), f3(lb, mb, hb), r, sp * 100, flag
		}
		if (worse) { printf "ab-bench: %d median(s) of B more than %s%% below A\n", worse, limit; exit 3 }
		if (noisy) {
			printf "ab-bench: %d median(s) of B lower than A by more than %s%%, but the runs spread more than twice that: inconclusive; run again on an idle machine or with more rounds (-r)\n", noisy, limit
			exit 4
		}
		printf "ab-bench: no median of B more than %s%% below A\n", limit
	}' <(sed -n 's/^\([AB]_[a-z]*_r[0-9]*_[a-zA-Z_]*=[0-9.]*\) .*/\1/p' "$RUN_DIR/vm1/metrics")
