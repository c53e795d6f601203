#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make bench: refcount_stress at 1k, 10k, 100k and 1M mappings of one huge
# page.  Prints the mapping rate against the single-process baseline and
# the cost of the reverse-map walk (migration, hwpoison where they can run)
# against the number of mappings, and writes
#   results/bench-<UTC time>/{run-<mappings>.json,run-<mappings>.txt,figures.json,plot.svg}
# When this host has fewer than 2 memory nodes (move_pages has nowhere to
# go), the rmap-walk figures come from a qemu guest instead (bench_vm.sh:
# debian-6.12, 2 nodes, hwpoison allowed), as vm-run-<mappings>.{json,txt}
# in the same folder, printed and plotted as VM figures.
# Then the continue figure (continue_rate): 4 KiB UFFDIO_CONTINUE on a 2 MiB
# hugetlb page split by HGM vs on shmem 4 KiB pages, on the host (whose
# kernel has no HGM: hgm skips) and in a guest of the patched kernel
# (bench_vm.sh --continue), as continue-host.{json,txt} and
# vm-continue.{json,txt}, one summary line per side.
# Then the migration of one 2 MiB page mapped at 4 KiB (HGM) against the
# same page mapped huge, at a few mapping counts, median of several moves:
# on the host (where a kernel without HGM or a single node says why a side
# is absent) and in a 2-node guest of the patched kernel (bench_vm.sh
# --migrate), as migrate-host-<huge|hgm>-<PROCSxVMAS>.{json,txt} and
# vm-migrate-<huge|hgm>-<PROCSxVMAS>.{json,txt}, a table per side.
# Then the post-copy figure (postcopy): the stall per userfaultfd MINOR fault
# of a region restored over a simulated link, 4 KiB pieces of split 2 MiB
# pages (HGM) vs whole 2 MiB / 1 GiB pages vs shmem, on the host (no HGM:
# hgm4k skips) and in a guest of the patched kernel (bench_vm.sh
# --postcopy), as postcopy.{json,txt} and vm-postcopy.{json,txt}, a table
# per side and postcopy.svg.
# Speed figures are printed, never judged; the exit status is 1 only when a
# run's own verdict is FAIL (wrong count, kernel complaint, leftovers) or the
# guest died.
#
# Environment:
#   BENCH_COUNTS   "PROCSxVMAS ..." (default: 1x1000 1x10000 2x50000 16x62500)
#   BENCH_ARGS     extra refcount_stress options (e.g. "--populate read")
#   RESULTS        results root (default: results/ next to this script's parent)
#   HT_ALLOW_DESTRUCTIVE=1   also time hwpoison (the VM sets it)
#   BENCH_VM       0: no VM part; 1: always; unset: when < 2 memory nodes
#   BENCH_VM_*     the VM's counts, kernel, memory, timeout (see bench_vm.sh)
#   BENCH_CONTINUE 0: no continue figure; host: the host's only; 1 (default):
#                  host and the patched kernel's VM (skipped with a note when
#                  it is not built)
#   BENCH_CONTINUE_ARGS, BENCH_CONTINUE_*   continue_rate options; the VM's
#                  kernel, memory, timeout (see bench_vm.sh)
#   BENCH_MIGRATE  0: no HGM-vs-huge migration figure; host: the host's
#                  only; 1 (default): host and the patched kernel's VM
#   BENCH_MIGRATE_COUNTS   "PROCSxVMAS ..." (default: 1x1 1x1000 4x250 4x1000)
#   BENCH_MIGRATE_ROUNDS   moves per run, for the median (default 7)
#   BENCH_MIGRATE_*        the VM's kernel, memory, timeout (see bench_vm.sh)
#   BENCH_POSTCOPY 0: no post-copy figure; host: the host's only; 1 (default):
#                  host and the patched kernel's VM
#   BENCH_POSTCOPY_ARGS, BENCH_POSTCOPY_*   postcopy options, host and VM
#                  (e.g. "--size 256M"); the VM's kernel, memory, timeout
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
bin=${STRESS_BIN:-$top/build/stress/refcount_stress}
cbin=$top/build/stress/continue_rate
pbin=$top/build/stress/postcopy
counts=${BENCH_COUNTS:-"1x1000 1x10000 2x50000 16x62500"}
root=${RESULTS:-$top/results}
out=$root/bench-$(date -u +%Y%m%dT%H%M%SZ)

if [ ! -x "$bin" ]; then
	echo "bench: $bin not built (run make)" >&2
	exit 2
fi
for c in $counts; do
	case $c in
	[0-9]*x[0-9]*) ;;
	*) echo "bench: BENCH_COUNTS entry '$c' is not PROCSxVMAS" >&2; exit 2 ;;
	esac
done
case ${BENCH_VM:-} in
'' | 0 | 1) ;;
*) echo "bench: BENCH_VM must be 0 or 1: $BENCH_VM" >&2; exit 2 ;;
esac
cont=${BENCH_CONTINUE:-1}
case $cont in
0 | 1 | host) ;;
*) echo "bench: BENCH_CONTINUE must be 0, 1 or host: $cont" >&2; exit 2 ;;
esac
if [ "$cont" != 0 ] && [ ! -x "$cbin" ]; then
	echo "bench: $cbin not built (run make)" >&2
	exit 2
fi
migr=${BENCH_MIGRATE:-1}
case $migr in
0 | 1 | host) ;;
*) echo "bench: BENCH_MIGRATE must be 0, 1 or host: $migr" >&2; exit 2 ;;
esac
mcounts=${BENCH_MIGRATE_COUNTS:-"1x1 1x1000 4x250 4x1000"}
mrounds=${BENCH_MIGRATE_ROUNDS:-7}
for c in $mcounts; do
	case $c in
	[0-9]*x[0-9]*) ;;
	*) echo "bench: BENCH_MIGRATE_COUNTS entry '$c' is not PROCSxVMAS" >&2; exit 2 ;;
	esac
done
case $mrounds in
'' | *[!0-9]* | 0*) echo "bench: BENCH_MIGRATE_ROUNDS must be 1..100: $mrounds" >&2; exit 2 ;;
esac
[ "$mrounds" -le 100 ] || { echo "bench: BENCH_MIGRATE_ROUNDS must be 1..100: $mrounds" >&2; exit 2; }
export BENCH_MIGRATE_COUNTS=$mcounts BENCH_MIGRATE_ROUNDS=$mrounds
post=${BENCH_POSTCOPY:-1}
case $post in
0 | 1 | host) ;;
*) echo "bench: BENCH_POSTCOPY must be 0, 1 or host: $post" >&2; exit 2 ;;
esac
if [ "$post" != 0 ] && [ ! -x "$pbin" ]; then
	echo "bench: $pbin not built (run make)" >&2
	exit 2
fi
mkdir -p "$out" || exit 2
echo "bench: results in $out"

# Memory nodes: the nodes whose meminfo has MemTotal > 0 (one without NUMA).
memory_nodes() {
	n=0
	for m in /sys/devices/system/node/node[0-9]*/meminfo; do
		[ -r "$m" ] || continue
		awk '/MemTotal:/ { exit !($4 > 0) }' "$m" && n=$((n + 1))
	done
	echo $((n > 0 ? n : 1))
}

fail=0
for c in $counts; do
	p=${c%x*}
	v=${c#*x}
	n=$((p * v))
	# shellcheck disable=SC2086 # BENCH_ARGS is a list of options
	nice -n 10 "$bin" -p "$p" -v "$v" --migrate --hwpoison \
		--json "$out/run-$n.json" ${BENCH_ARGS:-} >"$out/run-$n.txt" 2>&1
	rc=$?
	case $rc in
	0) v_="pass" ;;
	4) v_="skip: $(head -n1 "$out/run-$n.txt")" ;;
	*) v_="FAIL (exit $rc)"; fail=1 ;;
	esac
	printf 'bench: %8d mappings (%s): %s\n' "$n" "$c" "$v_"
	[ "$rc" = 1 ] && grep -E '^verdict' "$out/run-$n.txt" | sed 's/^/bench:   /'
done

nodes=$(memory_nodes)
vm=${BENCH_VM:-}
if [ -z "$vm" ]; then
	if [ "$nodes" -lt 2 ]; then vm=1; else vm=0; fi
fi
vmnote=
if [ "$vm" = 1 ]; then
	[ -n "${BENCH_VM_COUNTS:-}" ] || BENCH_VM_COUNTS=$counts
	export BENCH_VM_COUNTS
	echo "bench: host has $nodes memory node(s): rmap-walk figures from a VM"
	"$here/bench_vm.sh" "$out"
	case $? in
	0) ;;
	1) fail=1; vmnote="the guest died or lost counts (see $out/vm-console.log)" ;;
	*) vmnote="VM part did not run (bench_vm.sh setup failed)" ;;
	esac
elif [ -n "${BENCH_VM:-}" ]; then
	vmnote="VM part skipped (BENCH_VM=0)"
fi

# The continue figure: the host's kernel has no HGM (its hgm line skips),
# the patched kernel's guest has.  A patched kernel that was never built is
# a note, not a failure.
cnote=
if [ "$cont" != 0 ]; then
	# shellcheck disable=SC2086 # BENCH_CONTINUE_ARGS is a list of options
	nice -n 10 "$cbin" --json "$out/continue-host.json" \
		${BENCH_CONTINUE_ARGS:-} >"$out/continue-host.txt" 2>&1
	rc=$?
	case $rc in
	0) v_="pass" ;;
	4) v_="skip: $(head -n1 "$out/continue-host.txt")" ;;
	*) v_="FAIL (exit $rc)"; fail=1 ;;
	esac
	echo "bench: continue_rate (host): $v_"
fi
if [ "$cont" = 1 ]; then
	ck=${BENCH_CONTINUE_KERNEL:-patched}
	if ! kerr=$("$top/scripts/vm/kernel.sh" "$ck" 2>&1 >/dev/null); then
		cnote="VM part skipped: $(echo "${kerr:-kernel.sh $ck failed}" | tail -n 1)"
	else
		"$here/bench_vm.sh" --continue "$out"
		case $? in
		0) ;;
		1) fail=1; cnote="the guest died (see $out/vm-continue-console.log)" ;;
		*) cnote="VM part did not run (bench_vm.sh --continue setup failed)" ;;
		esac
	fi
fi

# The migration figure: the same page, mapped huge and mapped at 4 KiB
# (HGM), moved again and again; the host's kernel has no HGM (its hgm side
# says why), the patched kernel's guest has.
mnote=
if [ "$migr" != 0 ]; then
	for c in $mcounts; do
		p=${c%x*}
		v=${c#*x}
		line="bench: migration $c (host): huge"
		for g in huge hgm; do
			[ "$g" = hgm ] && line="$line, hgm"
			f=$out/migrate-host-$g-$c
			nice -n 10 "$bin" -g "$g" -m continue -s 2M -p "$p" -v "$v" \
				--migrate-rounds "$mrounds" --no-baseline \
				--json "$f.json" >"$f.txt" 2>&1
			rc=$?
			case $rc in
			0) line="$line pass" ;;
			4) line="$line skip" ;;
			*) line="$line FAIL (exit $rc)"; fail=1 ;;
			esac
		done
		echo "$line"
	done
fi
if [ "$migr" = 1 ]; then
	mk=${BENCH_MIGRATE_KERNEL:-patched}
	if ! kerr=$("$top/scripts/vm/kernel.sh" "$mk" 2>&1 >/dev/null); then
		mnote="VM part skipped: $(echo "${kerr:-kernel.sh $mk failed}" | tail -n 1)"
	else
		"$here/bench_vm.sh" --migrate "$out"
		case $? in
		0) ;;
		1) fail=1; mnote="the guest died or lost runs (see $out/vm-migrate-console.log)" ;;
		*) mnote="VM part did not run (bench_vm.sh --migrate setup failed)" ;;
		esac
	fi
fi

# The post-copy figure: the stall per fault when memory arrives after the
# vCPU started; the host's kernel has no HGM (hgm4k says why), the patched
# kernel's guest has.  Not niced: it measures latencies of microseconds.
pnote=
if [ "$post" != 0 ]; then
	# shellcheck disable=SC2086 # BENCH_POSTCOPY_ARGS is a list of options
	"$pbin" --json "$out/postcopy.json" ${BENCH_POSTCOPY_ARGS:-} \
		>"$out/postcopy.txt" 2>&1
	rc=$?
	case $rc in
	0) v_="pass" ;;
	4) v_=$(grep -m 1 '^skip: ' "$out/postcopy.txt" || echo skip) ;;
	*) v_="FAIL (exit $rc)"; fail=1 ;;
	esac
	echo "bench: postcopy (host): $v_"
fi
if [ "$post" = 1 ]; then
	pk=${BENCH_POSTCOPY_KERNEL:-patched}
	if ! kerr=$("$top/scripts/vm/kernel.sh" "$pk" 2>&1 >/dev/null); then
		pnote="VM part skipped: $(echo "${kerr:-kernel.sh $pk failed}" | tail -n 1)"
	else
		"$here/bench_vm.sh" --postcopy "$out"
		case $? in
		0) ;;
		1) fail=1; pnote="the guest died (see $out/vm-postcopy-console.log)" ;;
		*) pnote="VM part did not run (bench_vm.sh --postcopy setup failed)" ;;
		esac
	fi
fi

# figures.json, the tables and plot.svg (stress/plot.py; tests/plot_test.py)
python3 "$here/plot.py" "$out" "$vmnote" "$cnote" "$mnote" \
	"$([ "$migr" = 0 ] || echo "$mcounts")" "$mrounds" "$pnote" || fail=1
exit $fail
