#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# bench_vm.sh [--continue|--migrate|--postcopy] OUTDIR: the rmap-walk half
# of `make bench` in a qemu guest with 2 NUMA nodes and CONFIG_MEMORY_FAILURE
# (scripts/vm/), for hosts where move_pages has nowhere to go or
# MADV_HWPOISON does not exist.
# With --continue: continue_rate (4 KiB UFFDIO_CONTINUE, HGM vs shmem) once,
# in a 1-node guest of the suite's patched kernel, which has HGM.
# With --migrate: the migration time of one 2 MiB page mapped at 4 KiB (HGM)
# against the same page mapped huge, in a 2-node guest of the patched
# kernel: refcount_stress -g huge and -g hgm at each count, with
# --migrate-rounds (no hwpoison: the page is moved again and again).
# With --postcopy: postcopy (the stall per post-copy fault, HGM 4 KiB vs
# whole 2 MiB / 1 GiB pages vs shmem) once, in a 1-node guest of the
# patched kernel (boot.sh reserves its 1 GiB page at boot).
#
# Builds build/static/stress/refcount_stress, boots it with a busybox
# guest-run that runs every count with --migrate --hwpoison --json (with
# HT_ALLOW_DESTRUCTIVE=1: the guest is thrown away), and writes into OUTDIR
#   vm-run-<mappings>.json   refcount_stress's JSON plus "vm": {kernel, ...}
#   vm-run-<mappings>.txt    its text report
#   vm-console.log, vm-stream.log, vm-qemu.log   the raw guest output
# bench.sh reads the vm-run-*.json beside its own run-*.json.
# --continue writes vm-continue.{json,txt} and vm-continue-{console,stream,
# qemu}.log instead; --migrate vm-migrate-{huge,hgm}-<PROCSxVMAS>.{json,txt}
# (and vm-migrate-warmup-*) and vm-migrate-{console,stream,qemu}.log;
# --postcopy vm-postcopy.{json,txt} and vm-postcopy-{console,stream,qemu}.log.
#
# Environment:
#   BENCH_VM_COUNTS   "PROCSxVMAS ..." (default: 1x1000 1x10000 2x50000 16x62500)
#   BENCH_VM_KERNEL   a scripts/vm/kernel.sh name (default: debian-6.12)
#   BENCH_VM_MEM_MB   guest memory, split over 2 nodes (default: 6144)
#   BENCH_VM_TIMEOUT  seconds before the guest is killed (default: 1200)
#   BENCH_ARGS        extra refcount_stress options, as for bench.sh
# and with --continue:
#   BENCH_CONTINUE_KERNEL   a scripts/vm/kernel.sh name (default: patched)
#   BENCH_CONTINUE_ARGS     extra continue_rate options (e.g. "--pages 64")
#   BENCH_CONTINUE_MEM_MB   guest memory, one node (default: 3072)
#   BENCH_CONTINUE_TIMEOUT  seconds before the guest is killed (default: 600)
# and with --migrate:
#   BENCH_MIGRATE_COUNTS    "PROCSxVMAS ..." (default: 1x1 1x1000 4x250 4x1000)
#   BENCH_MIGRATE_ROUNDS    moves of the page per run, for the median (default 7)
#   BENCH_MIGRATE_KERNEL    a scripts/vm/kernel.sh name (default: patched)
#   BENCH_MIGRATE_MEM_MB    guest memory, split over 2 nodes (default: 4096)
#   BENCH_MIGRATE_TIMEOUT   seconds before the guest is killed (default: 900)
# and with --postcopy:
#   BENCH_POSTCOPY_ARGS     extra postcopy options (e.g. "--size 256M")
#   BENCH_POSTCOPY_KERNEL   a scripts/vm/kernel.sh name (default: patched)
#   BENCH_POSTCOPY_MEM_MB   guest memory, one node (default: 4096: the boot's
#                           1 GiB page, then source and region of 1 GiB each)
#   BENCH_POSTCOPY_TIMEOUT  seconds before the guest is killed (default: 1200)
# Exit: 0 the guest ran every count (whatever the verdicts: bench.sh judges
# them), 1 the guest died or lost a count, 2 setup failed (build, kernel, qemu).
set -u

me=bench_vm.sh
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
vmdir=$top/scripts/vm

die() {
	echo "$me: $*" >&2
	exit 2
}

mode=refcount
case ${1:-} in
--continue | --migrate | --postcopy)
	mode=${1#--}
	shift
	;;
esac
[ $# -eq 1 ] || die "usage: bench_vm.sh [--continue|--migrate|--postcopy] OUTDIR"
out=$1
[ -d "$out" ] || die "$out is not a directory"
# Per mode: the program, the guest, the files: <logpre>{console,stream,
# qemu}.log and <runfmt>.{json,txt} per run ({n}: its id, the mappings of
# a refcount run).  The guest runs one "run ID COMMAND..." line per run
# (runs: "ID COMMAND...;" items).
case $mode in
continue)
	prog=continue_rate
	runs="1 ./continue_rate ${BENCH_CONTINUE_ARGS:-};"
	kname=${BENCH_CONTINUE_KERNEL:-patched}
	nodes=1
	mem=${BENCH_CONTINUE_MEM_MB:-3072}
	tmo=${BENCH_CONTINUE_TIMEOUT:-600}
	logpre=vm-continue-
	runfmt=vm-continue
	;;
postcopy)
	prog=postcopy
	# Under TCG every 4 KiB fault costs a guest wake-up (a millisecond or
	# more on a loaded host): 16384 random touches (every 2 MiB page
	# still faulted, 16384 4 KiB faults) unless BENCH_POSTCOPY_ARGS says
	# otherwise (a later --touches wins).
	runs="1 ./postcopy --touches 16384 ${BENCH_POSTCOPY_ARGS:-};"
	kname=${BENCH_POSTCOPY_KERNEL:-patched}
	nodes=1
	mem=${BENCH_POSTCOPY_MEM_MB:-4096}
	tmo=${BENCH_POSTCOPY_TIMEOUT:-1200}
	logpre=vm-postcopy-
	runfmt=vm-postcopy
	;;
migrate)
	prog=refcount_stress
	counts=${BENCH_MIGRATE_COUNTS:-"1x1 1x1000 4x250 4x1000"}
	rounds=${BENCH_MIGRATE_ROUNDS:-7}
	case $rounds in
	'' | *[!0-9]* | 0*) die "BENCH_MIGRATE_ROUNDS must be 1..100: $rounds" ;;
	esac
	[ "$rounds" -le 100 ] || die "BENCH_MIGRATE_ROUNDS must be 1..100: $rounds"
	kname=${BENCH_MIGRATE_KERNEL:-patched}
	nodes=2
	mem=${BENCH_MIGRATE_MEM_MB:-4096}
	tmo=${BENCH_MIGRATE_TIMEOUT:-900}
	logpre=vm-migrate-
	runfmt='vm-migrate-{n}'
	;;
*)
	prog=refcount_stress
	counts=${BENCH_VM_COUNTS:-"1x1000 1x10000 2x50000 16x62500"}
	kname=${BENCH_VM_KERNEL:-debian-6.12}
	nodes=2
	mem=${BENCH_VM_MEM_MB:-6144}
	tmo=${BENCH_VM_TIMEOUT:-1200}
	logpre=vm-
	runfmt='vm-run-{n}'
	;;
esac
if [ "$mode" != continue ] && [ "$mode" != postcopy ]; then
	runs=
	# The first migration in a fresh TCG guest also pays for translating
	# the kernel's migration paths: one small run of each granularity
	# first, discarded by bench.sh.
	[ "$mode" = migrate ] &&
		for g in huge hgm; do
			runs="${runs}warmup-$g ./refcount_stress -g $g -m continue -s 2M -p 1 -v 1 --migrate-rounds 3 --no-baseline;"
		done
	for c in $counts; do
		case $c in
		[0-9]*x[0-9]*) ;;
		*) die "the count '$c' ($counts) is not PROCSxVMAS" ;;
		esac
		p=${c%x*} v=${c#*x}
		if [ "$mode" = migrate ]; then
			# Both sides populate through UFFDIO_CONTINUE into
			# MINOR-registered VMAs: they differ only in the
			# granularity of the page tables the move walks.
			for g in huge hgm; do
				runs="$runs$g-${p}x$v ./refcount_stress -g $g -m continue -s 2M -p $p -v $v --migrate-rounds $rounds --no-baseline;"
			done
		else
			runs="$runs$((p * v)) ./refcount_stress -p $p -v $v --migrate --hwpoison ${BENCH_ARGS:-};"
		fi
	done
fi
command -v qemu-system-x86_64 >/dev/null ||
	die "qemu-system-x86_64 not installed (make deps)"

nice -n 10 make -s -C "$top" "build/static/stress/$prog" >&2 ||
	die "static build failed (make static)"
info=$("$vmdir/kernel.sh" "$kname") || die "kernel.sh $kname failed"
kimg=$(echo "$info" | sed -n 's/^KERNEL=//p')
kmod=$(echo "$info" | sed -n 's/^MODDIR=//p')
krel=$(echo "$info" | sed -n 's/^RELEASE=//p')

work=$(mktemp -d "${TMPDIR:-/tmp}/hgmt-bench-vm.XXXXXX") || die "no temporary directory"
qpid=
cleanup() {
	# boot.sh kills its qemu on TERM
	if [ -n "$qpid" ]; then kill -TERM "$qpid" 2>/dev/null && wait "$qpid"; fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

pay=$work/payload
mkdir -p "$pay/bin" "$pay/lib"
cp "$top/build/static/stress/$prog" "$pay/" || die "cannot copy $prog"

# numastat(8) and migratepages(8) (the stress's cross-check and its
# "migratepages back" figure) are dynamic: carry them with their libraries
# and run them through the loader.  Without numactl on the host the guest
# reports them as unavailable (migratepages_ms -1), nothing else changes.
ld=/lib64/ld-linux-x86-64.so.2
for t in numastat migratepages; do
	case $mode in continue | postcopy) break ;; esac
	p=$(command -v "$t" 2>/dev/null) || continue
	[ -r "$ld" ] || break
	cp "$p" "$pay/lib/$t.bin" || continue
	for l in $(ldd "$p" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'); do
		cp -n "$l" "$pay/lib/" 2>/dev/null
	done
	cp -n "$ld" "$pay/lib/ld.so" 2>/dev/null
	printf '#!/bin/sh\nexec /suite/lib/ld.so --library-path /suite/lib /suite/lib/%s.bin "$@"\n' \
		"$t" >"$pay/bin/$t"
	chmod +x "$pay/bin/$t"
done

# The guest: each run with its JSON and text between marker lines on the
# results port (stdout), the status of every run on its BEGIN line.
{
	cat <<'EOF'
#!/bin/sh
export PATH=/suite/bin:$PATH HT_ALLOW_DESTRUCTIVE=1
cd /suite || exit 1
rel=$(uname -r)
nodes=$(ls -d /sys/devices/system/node/node[0-9]* 2>/dev/null | wc -l)
# Console: KERN_CRIT and worse only.  memory_failure() prints a pr_err line
# per mapping it signals, which on the emulated serial port would be timed
# as part of MADV_HWPOISON; the stress reads /dev/kmsg for complaints itself.
echo 3 >/proc/sys/kernel/printk
echo "#@BENCH-GUEST kernel=$rel nodes=$nodes"
EOF
	cat <<'EOF'
run() {
	n=$1
	shift
	t0=$(date +%s)
	"$@" --json /tmp/run-$n.json >/tmp/run-$n.txt 2>&1
	rc=$?
	t1=$(date +%s)
	echo "#@BENCH-BEGIN $n rc=$rc seconds=$((t1 - t0)) kernel=$rel"
	echo "#@BENCH-TXT"
	cat /tmp/run-$n.txt
	echo "#@BENCH-JSON"
	cat /tmp/run-$n.json 2>/dev/null
	echo "#@BENCH-END $n"
	rm -f /tmp/run-$n.json /tmp/run-$n.txt
}
EOF
	echo "$runs" | tr ';' '\n' | sed -n 's/^./run &/p'
} >"$pay/guest-run"
chmod +x "$pay/guest-run"

set -- ${kmod:+--modules "$kmod"}
"$vmdir/initramfs.sh" --payload "$pay" --out "$work/initrd.gz" "$@" \
	2>"$work/initramfs.log" ||
	die "initramfs build failed: $(tail -n 1 "$work/initramfs.log")"

con=$out/${logpre}console.log
str=$out/${logpre}stream.log
qlog=$out/${logpre}qemu.log
ncounts=$(echo "$runs" | tr -cd ';' | wc -c)
case $mode in
continue) echo "bench: VM: $kname ($krel), 1 node, ${mem} MiB, continue_rate${BENCH_CONTINUE_ARGS:+ $BENCH_CONTINUE_ARGS} (timeout ${tmo}s)" ;;
postcopy) echo "bench: VM: $kname ($krel), 1 node, ${mem} MiB, postcopy${BENCH_POSTCOPY_ARGS:+ $BENCH_POSTCOPY_ARGS} (timeout ${tmo}s)" ;;
migrate) echo "bench: VM: $kname ($krel), 2 nodes, ${mem} MiB, huge and hgm at $counts, $rounds moves each (timeout ${tmo}s)" ;;
*) echo "bench: VM: $kname ($krel), 2 nodes, ${mem} MiB, counts $counts (timeout ${tmo}s)" ;;
esac
nice -n 10 "$vmdir/boot.sh" --kernel "$kimg" --initrd "$work/initrd.gz" \
	--nodes "$nodes" --mem-mb "$mem" --cpus 2 --append mitigations=off \
	--timeout "$tmo" --console "$con" --stream "$str" \
	>"$qlog" 2>&1 &
qpid=$!
# Progress: one line per finished count.
seen=0
while kill -0 "$qpid" 2>/dev/null; do
	sleep 3
	now=$(grep -ac '^#@BENCH-BEGIN ' "$str" 2>/dev/null)
	while [ "${now:-0}" -gt "$seen" ]; do
		seen=$((seen + 1))
		grep -a '^#@BENCH-BEGIN ' "$str" | sed -n "${seen}p" |
			awk -v k="$ncounts" -v i="$seen" -v mode="$mode" -v prog="$prog" \
				'{ sub(/rc=/, "", $3); sub(/seconds=/, "", $4)
				   if (mode == "continue" || mode == "postcopy") printf "bench: VM: %s: exit %s, %s s in the guest\n", prog, $3, $4
				   else if (mode == "migrate") printf "bench: VM %d/%d: %s: exit %s, %s s in the guest\n", i, k, $2, $3, $4
				   else printf "bench: VM %d/%d: %8d mappings: exit %s, %s s in the guest (verdicts below)\n", i, k, $2, $3, $4 }'
	done
done
wait "$qpid"
qrc=$?
qpid=
echo "bench: VM: $(tail -n 1 "$qlog")"

# Split the stream: vm-run-<n>.json (with where it ran) and vm-run-<n>.txt
# (vm-continue.{json,txt} with --continue, vm-postcopy.{json,txt} with
# --postcopy).
"$here/bench_split.py" "$str" "$out" "$kname" "$krel" "$qlog" "$runfmt" "$nodes"

got=$(grep -ac '^#@BENCH-END ' "$str")
if ! grep -aq '^#@GUEST-EXIT' "$str" || [ "$got" -lt "$ncounts" ]; then
	why="qemu exit $qrc"
	[ "$qrc" = 124 ] && why="timeout ${tmo}s"
	echo "bench: VM: the guest finished $got of $ncounts runs ($why); console: $con"
	tr -d '\r' <"$con" | grep -aE 'Kernel panic|BUG|Oops|Out of memory|RIP:' |
		head -n 5 | sed 's/^/bench:   /'
	exit 1
fi
exit 0
