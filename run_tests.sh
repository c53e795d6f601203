#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Runs the HugeTLB/HGM battery on the running kernel (default) or in a VM
# (--vm), one harness case at a time, and writes KTAP, JSON, JUnit and the
# kernel log into results/.  POSIX sh: the same script runs inside the
# VM's busybox initramfs.  See --help and README.md.

set -u

ME=run_tests.sh
TOP=$(cd "$(dirname "$0")" && pwd)

usage() {
	cat <<'EOF'
Usage: run_tests.sh [OPTIONS] [FILTER...]

Runs the battery, one case at a time, on the running kernel or in a VM.
FILTER is a shell glob on case names ("program:FIXTURE.VARIANT.TEST" or
"FIXTURE.VARIANT.TEST"); several filters are OR'ed; none means all.

  -h, --help             this text
  -l, --list             list the selected cases, one per line, and exit
  --results DIR          results root (default: results/ next to this script)
  --expect FILE|auto     compare with an expected-outcome file; a deviation
                         is a failure ("auto": expected/<kernel id>.txt)
  --bisect               exit 0 good, 1 bad, 125 when everything skipped
  --timeout SECONDS      per-case timeout (default: selftests/settings)
  --allow-destructive    run hwpoison cases on this machine (default: VM only)
  --stress               also run the long refcount-overflow stress
  --background-load      run the battery under stress-ng load (stress/*.job)
  --vm[=KERNEL]          run in qemu; KERNEL: debian-6.12 (default),
                         debian-6.1, patched, patched-debug, or PATH[:MODDIR]
                         to a bzImage
  --vm-nodes N           NUMA nodes with memory in the VM (default 2)
  --vm-timeout SECONDS   whole-VM timeout per boot (default 3600)
  --vm-append ARGS       extra guest kernel command line arguments
  --matrix K1,K2,...     run in the VM on each kernel; print a table
EOF
}

die() {
	echo "$ME: $*" >&2
	exit 2
}

# ---- options ---------------------------------------------------------------
LIST=0 BISECT=0 RESULTS_ROOT="$TOP/results" EXPECT="" TIMEOUT=""
DESTRUCTIVE=0 STRESS=0 BGLOAD=0 VM="" VM_NODES=2 VM_TIMEOUT=3600 MATRIX=""
IN_VM=0 FILTERS="" VM_APPEND=""
while [ $# -gt 0 ]; do
	case "$1" in
	-h | --help) usage; exit 0 ;;
	-l | --list) LIST=1 ;;
	--results) [ $# -ge 2 ] || die "--results needs a directory"
		RESULTS_ROOT=$2; shift ;;
	--results=*) RESULTS_ROOT=${1#*=} ;;
	--expect) [ $# -ge 2 ] || die "--expect needs a file or 'auto'"
		EXPECT=$2; shift ;;
	--expect=*) EXPECT=${1#*=} ;;
	--bisect) BISECT=1 ;;
	--timeout) [ $# -ge 2 ] || die "--timeout needs seconds"
		TIMEOUT=$2; shift ;;
	--timeout=*) TIMEOUT=${1#*=} ;;
	--allow-destructive) DESTRUCTIVE=1 ;;
	--stress) STRESS=1 ;;
	--background-load) BGLOAD=1 ;;
	--vm) VM=debian-6.12 ;;
	--vm=*) VM=${1#*=}; [ -n "$VM" ] || die "--vm= needs a kernel" ;;
	--vm-nodes) [ $# -ge 2 ] || die "--vm-nodes needs a number"
		VM_NODES=$2; shift ;;
	--vm-nodes=*) VM_NODES=${1#*=} ;;
	--vm-timeout) [ $# -ge 2 ] || die "--vm-timeout needs seconds"
		VM_TIMEOUT=$2; shift ;;
	--vm-timeout=*) VM_TIMEOUT=${1#*=} ;;
	--vm-append) [ $# -ge 2 ] || die "--vm-append needs arguments"
		VM_APPEND=$2; shift ;;
	--vm-append=*) VM_APPEND=${1#*=} ;;
	--matrix) [ $# -ge 2 ] || die "--matrix needs a kernel list"
		MATRIX=$2; shift ;;
	--matrix=*) MATRIX=${1#*=} ;;
	--in-vm) IN_VM=1 ;;
	--) shift; FILTERS="$FILTERS $*"; break ;;
	-*) die "unknown option: $1 (see --help)" ;;
	*) FILTERS="$FILTERS $1" ;;
	esac
	shift
done

is_uint() {
	case "$1" in '' | *[!0-9]*) return 1 ;; esac
	return 0
}
if [ -n "$TIMEOUT" ] && { ! is_uint "$TIMEOUT" || [ "$TIMEOUT" -eq 0 ]; }; then
	die "--timeout: not a positive number: $TIMEOUT"
fi
if ! is_uint "$VM_NODES" || [ "$VM_NODES" -lt 1 ] || [ "$VM_NODES" -gt 8 ]; then
	die "--vm-nodes: not a number from 1 to 8: $VM_NODES"
fi
if ! is_uint "$VM_TIMEOUT" || [ "$VM_TIMEOUT" -eq 0 ]; then
	die "--vm-timeout: not a positive number: $VM_TIMEOUT"
fi
[ -z "$VM" ] || [ -z "$MATRIX" ] || die "--vm and --matrix exclude each other"
[ -z "$EXPECT" ] || [ "$EXPECT" = auto ] || [ -r "$EXPECT" ] ||
	die "--expect: cannot read $EXPECT"


if [ "$BGLOAD" = 1 ] && ! command -v stress-ng >/dev/null; then
	die "--background-load: stress-ng is not installed (make deps)"
fi
if [ "$BGLOAD" = 1 ] && { [ -n "$VM" ] || [ -n "$MATRIX" ]; }; then
	die "--background-load runs on this machine only, not with --vm/--matrix"
fi

# ---- where the programs are ------------------------------------------------
# Source tree: build/; installed layout or VM payload: next to this script.
if [ -n "${HT_BIN:-}" ]; then
	BIN=$HT_BIN # the runner's own tests point it at fake programs
	SETTINGS="$BIN/settings"
elif [ -d "$TOP/selftests" ] && [ -f "$TOP/Makefile" ]; then
	BIN="$TOP/build/selftests"
	SETTINGS="$TOP/selftests/settings"
else
	BIN="$TOP"
	SETTINGS="$TOP/settings"
fi
PROGRAMS=${HT_PROGRAMS:-"smaps_accounting uffd_minor hgm_paths refcount migration hwpoison"}

settings_get() {
	[ -r "$SETTINGS" ] || return 1
	sed -n "s/^$1=//p" "$SETTINGS" | tail -n 1
}
[ -n "$TIMEOUT" ] || TIMEOUT=$(settings_get timeout) || true
is_uint "${TIMEOUT:-}" || TIMEOUT=300

ensure_built() {
	for p in $PROGRAMS; do
		[ -x "$BIN/$p" ] && continue
		[ -f "$TOP/Makefile" ] || die "missing program $BIN/$p"
		echo "# building the battery (make)" >&2
		make -s -C "$TOP" all >&2 || die "build failed: run 'make' to see why"
		break
	done
	[ "$STRESS" = 0 ] || [ -x "$STRESS_BIN" ] ||
		die "--stress: no refcount_stress next to the battery (make)"
}

STRESS_BIN="$TOP/build/stress/refcount_stress"
[ -x "$STRESS_BIN" ] || STRESS_BIN="$TOP/refcount_stress"

# Every case as "program:FIXTURE.VARIANT.TEST", filtered; with --stress the
# refcount-overflow stress (processes x max_map_count VMAs) comes last.
list_cases() {
	list_battery
	[ "$STRESS" = 0 ] || echo "stress:refcount_overflow"
}

list_battery() {
	for p in $PROGRAMS; do
		"$BIN/$p" --list-cases | while read -r c; do
			name="$p:$c"
			if [ -z "$FILTERS" ]; then
				echo "$name"
				continue
			fi
			for f in $FILTERS; do
				# shellcheck disable=SC2254
				case "$name" in $f) echo "$name"; break ;; esac
				# shellcheck disable=SC2254
				case "$c" in $f) echo "$name"; break ;; esac
			done
		done
	done
}

# ---- machine state: snapshot, restore, compare -----------------------------
state_files() {
	for f in /sys/kernel/mm/hugepages/hugepages-*/nr_overcommit_hugepages \
		/sys/devices/system/node/node*/hugepages/hugepages-*/nr_hugepages \
		/proc/sys/vm/max_map_count /proc/sys/vm/memory_failure_early_kill \
		/proc/sys/vm/memory_failure_recovery /proc/sys/vm/enable_soft_offline \
		/sys/kernel/debug/hugetlb/refcount_limit; do
		[ -r "$f" ] && echo "$f"
	done
	# Without per-node files the global count is the pool.
	for f in /sys/kernel/mm/hugepages/hugepages-*/nr_hugepages; do
		[ -r "$f" ] && echo "$f"
	done
}

snapshot() { # file
	: >"$1"
	for f in $(state_files); do
		printf '%s %s\n' "$f" "$(cat "$f" 2>/dev/null)" >>"$1"
	done
	if [ -r /proc/mounts ]; then
		awk '{print "mount", $2}' /proc/mounts | sort >>"$1"
	fi
}

# Per-node pool files exist (node ids may be sparse)?
NODE_POOLS=0
for d in /sys/devices/system/node/node*/hugepages; do
	[ -d "$d" ] && NODE_POOLS=1 && break
done

# Writes back everything the snapshot holds; per-node pools shrink first so
# growing another node is not refused, and global counts only where no
# per-node file speaks for them.
restore() { # file
	[ -n "${1:-}" ] && [ -r "$1" ] || return 0
	[ "$(id -u)" = 0 ] || return 0
	while read -r f v; do
		case "$f" in
		mount | */hugepages/hugepages-*/nr_hugepages) continue ;;
		esac
		cur=""
		read -r cur <"$f" 2>/dev/null
		[ "$cur" = "$v" ] || echo "$v" >"$f" 2>/dev/null
	done <"$1"
	for pass in shrink grow; do
		while read -r f v; do
			case "$f" in
			/sys/devices/system/node/*/nr_hugepages) ;;
			/sys/kernel/mm/hugepages/*/nr_hugepages)
				[ "$NODE_POOLS" = 1 ] && continue ;;
			*) continue ;;
			esac
			read -r cur <"$f" 2>/dev/null || continue
			[ "$cur" = "$v" ] && continue
			if [ "$pass" = shrink ] && [ "$cur" -gt "$v" ]; then
				echo "$v" >"$f" 2>/dev/null
			elif [ "$pass" = grow ] && [ "$cur" -lt "$v" ]; then
				echo "$v" >"$f" 2>/dev/null
			fi
		done <"$1"
	done
	# Mounts the run added (none today; the check keeps it that way).
	awk '{print $2}' /proc/mounts 2>/dev/null | while read -r m; do
		grep -qx "mount $m" "$1" || umount "$m" 2>/dev/null
	done
	return 0
}

pool_brief() {
	out=""
	for d in /sys/kernel/mm/hugepages/hugepages-*; do
		[ -d "$d" ] || continue
		kb=${d##*-}
		kb=${kb%kB}
		read -r nr <"$d/nr_hugepages"
		read -r fr <"$d/free_hugepages"
		out="$out${out:+ }${kb}kB:$nr/$fr"
	done
	echo "$out"
}

# ---- kernel log ------------------------------------------------------------
log_lines() { dmesg -r 2>/dev/null | wc -l; }
taint() { cat /proc/sys/kernel/tainted 2>/dev/null || echo 0; }

# New kernel log lines since line $1 that are complaints; the same list as
# lib/kmsg.c (lockdep, might_sleep, KFENCE and page_table_check reports
# start with WARNING:, BUG: or kernel BUG; DEBUG_LIST's text precedes its
# WARNING on a line of its own).
log_complaints() {
	dmesg -r 2>/dev/null | tail -n +"$(($1 + 1))" | awk '
	{
		lvl = 7
		if (match($0, /^<[0-9]+>/))
			lvl = substr($0, 2, RLENGTH - 2) % 8
		msg = $0
		sub(/^<[0-9]+>(\[[ 0-9.]+\] )?/, "", msg)
		if (msg ~ /WARNING:|BUG:|Oops|Bad page|bad rss-counter|refcount_t|general protection|Call Trace|kernel BUG|list_add corruption|list_del corruption/ ||
		    (lvl <= 4 && tolower(msg) ~ /hugetlb/))
			print msg
	}'
}

# ---- one case --------------------------------------------------------------
# Kills every process of session $1: a harness case runs in a process group
# of its own (setpgrp), so the runner's setsid session is what holds all.
kill_session() { # sid
	# shellcheck disable=SC2046 # one pid per word
	kill -KILL $(cat /proc/[0-9]*/stat 2>/dev/null | awk -v s="$1" '
		{ pid = $1; sub(/.*\) /, ""); if ($4 == s) print pid }') 2>/dev/null
	return 0
}

now_ms() {
	# busybox date has no %N; /proc/uptime is everywhere.
	awk '{printf "%d\n", $1 * 1000}' /proc/uptime
}

sanitize() { tr -d '\r' | tr '\t\n' '  ' | sed 's/  */ /g; s/ $//'; }

# Runs $1 (program:case); sets V (verdict), R (reason), LOG.
run_case() {
	prog=${1%%:*}
	case_name=${1#*:}
	out="$RUN_DIR/out/$prog:$case_name.txt"
	l0=$(log_lines)
	t0=$(taint)
	if [ "$prog" = stress ]; then
		# The long stress speaks exit codes (0 pass, 4 skip, 1 fail).
		setsid "$STRESS_BIN" --json "$RUN_DIR/stress.json" \
			>"$out" 2>&1 </dev/null &
	else
		setsid "$BIN/$prog" -r "$case_name" >"$out" 2>&1 </dev/null &
	fi
	pid=$!
	echo "$pid" >"$RUN_DIR/current.pid"
	echo "$1" >"$RUN_DIR/current.case"
	(
		i=0
		while [ $i -lt "$TIMEOUT" ]; do
			sleep 1
			kill -0 "$pid" 2>/dev/null || exit 0
			i=$((i + 1))
		done
		echo "#@TIMEOUT" >>"$out"
		kill_session "$pid"
	) &
	dog=$!
	wait "$pid"
	rc=$?
	kill "$dog" 2>/dev/null
	wait "$dog" 2>/dev/null
	# Whatever the case left behind in its session goes too.
	kill_session "$pid"
	rm -f "$RUN_DIR/current.pid" "$RUN_DIR/current.case"

	line=$(grep -E '^(not )?ok [0-9]+ ' "$out" | tail -n 1)
	if [ "$prog" = stress ]; then
		case $rc in
		0) line="ok 1 $case_name" ;;
		4) line="ok 1 $case_name # SKIP $(tail -n 1 "$out")" ;;
		*) line="not ok 1 $case_name"
			echo "# $(tail -n 1 "$out")" >>"$out" ;;
		esac
	fi
	V=fail
	R=""
	case "$line" in
	"ok "*"# SKIP"*) V=skip; R=${line#*# SKIP}; R=${R# } ;;
	"ok "*"# XFAIL"*) V=xfail; R=${line#*# XFAIL}; R=${R# } ;;
	"ok "*) V=pass ;;
	"not ok "*) V=fail
		R=$(grep -A1 -E '^# .*(Expected|terminated|failed|teardown)' "$out" |
			grep -v '^--' | head -n 6 | sed 's/^# //' | sanitize) ;;
	*) R="no KTAP result line (exit status $rc)" ;;
	esac
	if grep -q '^#@TIMEOUT' "$out"; then
		V=fail
		R="timeout after ${TIMEOUT}s; process group killed"
	fi
	LOG=$(log_complaints "$l0" | head -n 20)
	if [ -n "$LOG" ] && [ "$V" != fail ]; then
		V=fail
		R="kernel log complaint: $(echo "$LOG" | head -n 1 | sanitize)"
	fi
	if [ "$(taint)" != "$t0" ]; then
		[ "$V" = fail ] || R="kernel taint changed $t0 -> $(taint)"
		V=fail
	fi
	if [ -n "$SNAP" ]; then
		restore "$SNAP"
	fi
	return 0
}

# ---- expected outcomes -----------------------------------------------------
# Lines: "<verdict> <glob> [reason substring]"; first match wins; no match
# means pass.  A deviation turns the case into a failure.  Verdicts: pass,
# skip (reason must contain the text), xfail (must fail, saying one of the
# texts if given), flaky (a known nondeterministic kernel bug: pass, or fail
# with one of the texts in the reason).
apply_expect() { # name
	[ -n "$EXPECT_FILE" ] || return 0
	want=pass
	want_reason=""
	while read -r ev eg er; do
		case "$ev" in '' | '#'*) continue ;; esac
		# shellcheck disable=SC2254
		case "$1" in $eg)
			want=$ev
			want_reason=$er
			break ;;
		esac
	done <"$EXPECT_FILE"
	case "$want:$V" in
	pass:pass | skip:skip | xfail:xfail | flaky:pass) ;;
	xfail:fail)
		# A known failure must fail the known way, if a text is named.
		if [ -z "$want_reason" ] || reason_has_one_of "$R" "$want_reason"; then
			V=xfail
			R="expected failure: $R"
		else
			R="expected failure failed differently than expected ('$want_reason'): $R"
		fi
		return 0 ;;
	flaky:fail)
		# A known nondeterministic kernel bug: its failure must still
		# say one of the texts ("a|b") the expectation file names.
		if reason_has_one_of "$R" "$want_reason"; then
			V=xfail
			R="known flaky kernel behaviour: $R"
		else
			R="flaky case failed differently than expected ('$want_reason'): $R"
		fi
		return 0 ;;
	*) R="expected $want, got $V${R:+: $R}"; V=fail; return 0 ;;
	esac
	if [ "$want" = skip ] && [ -n "$want_reason" ]; then
		case "$R" in
		*"$want_reason"*) ;;
		*) R="skip reason changed: wanted '$want_reason', got '$R'"; V=fail ;;
		esac
	fi
	return 0
}

reason_has_one_of() { # reason "text1|text2|..."
	printf '%s\n' "$2" | tr '|' '\n' | while read -r t; do
		case "$1" in *"$t"*) echo yes; break ;; esac
	done | grep -q yes
}

kernel_id() {
	if [ -n "${HT_KERNEL_ID:-}" ]; then
		echo "$HT_KERNEL_ID"
	else
		echo "host-$(uname -r | cut -d. -f1-2)"
	fi
}

# ---- emitting --------------------------------------------------------------
N=0 NPASS=0 NFAIL=0 NSKIP=0
emit() { # name verdict reason duration_ms pool_before pool_after log
	N=$((N + 1))
	case "$2" in
	pass) NPASS=$((NPASS + 1)); echo "ok $N $1" ;;
	xfail) NPASS=$((NPASS + 1)); echo "ok $N $1 # XFAIL $3" ;;
	skip) NSKIP=$((NSKIP + 1)); echo "ok $N $1 # SKIP $3" ;;
	*) NFAIL=$((NFAIL + 1))
		[ -z "$3" ] || echo "# $1: $3"
		[ -z "$7" ] || echo "$7" | sed "s/^/# kernel: /"
		echo "not ok $N $1" ;;
	esac
	case "$1" in
	*_2M*) ps=2M ;;
	*_1G*) ps=1G ;;
	*) ps="" ;;
	esac
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "${1%%:*}" \
		"$2" "$(printf %s "$3" | sanitize)" "$4" "$KREL" "$ps" "$5" "$6" \
		"$(printf %s "$7" | sed 's/$/ |/' | sanitize)" >>"$RUN_DIR/records.tsv"
	# In the VM the host collects records from the results port.
	[ "$IN_VM" = 0 ] || tail -n 1 "$RUN_DIR/records.tsv" | sed 's/^/#@REC	/'
}

run_local() {
	if [ "$(id -u)" = 0 ]; then
		modprobe hwpoison_inject 2>/dev/null || true
	else
		echo "# not root: cases that need root skip with the reason"
	fi
	[ "$DESTRUCTIVE" = 1 ] && export HT_ALLOW_DESTRUCTIVE=1
	[ "$BGLOAD" = 0 ] || bgload_start
	total=$(echo "$CASES" | wc -l)
	echo "TAP version 13"
	echo "1..$((total + 1))"
	echo "# kernel $KREL; $total cases; results in $RUN_DIR"
	for c in $CASES; do
		# The VM host reads these to find the case a dead guest was in.
		[ "$IN_VM" = 1 ] && echo "#@START $c"
		b=$(pool_brief)
		d0=$(now_ms)
		run_case "$c"
		d1=$(now_ms)
		apply_expect "$c"
		emit "$c" "$V" "$R" $((d1 - d0)) "$b" "$(pool_brief)" "$LOG"
		# A failed case's whole output, as KTAP diagnostics.
		[ "$V" != fail ] || grep -v '^ok\|^not ok\|^TAP\|^1\.\.' \
			"$RUN_DIR/out/$c.txt" | sed 's/^#*/#/' | head -n 60
	done
	[ "$BGLOAD" = 0 ] || bgload_stop
	return 0
}

# ---- background load (stress-ng job files in stress/) ----------------------
# The job is bounded in time; it runs again and again until the battery
# ends.  stress-ng's own kernel-log check must stay clean.
# shellcheck disable=SC2016 # expanded by the inner sh
bgload_start() {
	: >"$RUN_DIR/bgload.rc"
	setsid sh -c 'while :; do
		nice -n 19 stress-ng --job "$1/stress/background.job" --klog-check \
			>>"$2/bgload.log" 2>&1
		echo $? >>"$2/bgload.rc"
	done' bgload "$TOP" "$RUN_DIR" </dev/null >/dev/null 2>&1 &
	echo $! >"$RUN_DIR/bgload.pid"
	echo "# background load: stress-ng --job stress/background.job --klog-check (looped)"
}

bgload_stop() {
	kill_session "$(cat "$RUN_DIR/bgload.pid")"
	rm -f "$RUN_DIR/bgload.pid"
	bad=$(grep -cv '^0$' "$RUN_DIR/bgload.rc")
	runs=$(wc -l <"$RUN_DIR/bgload.rc")
	if [ "$bad" -eq 0 ]; then
		emit "runner:background_load" pass "" 0 "" "" ""
	else
		emit "runner:background_load" fail \
			"stress-ng failed $bad of $runs runs: $(grep -E 'fail|klog' "$RUN_DIR/bgload.log" | head -n 3 | sanitize)" 0 "" "" ""
	fi
}

# The runner's own case: did the machine come back as it was?
hw_corrupted_kb() {
	awk '/^HardwareCorrupted:/ { print $2; f = 1 } END { if (!f) print 0 }' /proc/meminfo
}

# A poisoned huge page never goes back to the pool: a shared one stays
# allocated (the pool cannot shrink), an anonymous one is dissolved (the
# pool cannot grow back).  Destructive cases (VM, --allow-destructive) may
# so move the pools by at most one huge page per poisoned raw page.
# Anything else is a real difference.
poisoned_explains() { # before after
	poisoned=$((($(hw_corrupted_kb) - HWC0) / 4))
	[ "$poisoned" -gt 0 ] || return 1
	extra=$(grep -vxFf "$1" "$2" | while read -r f v; do
		case "$f" in
		/sys/devices/system/node/*/nr_hugepages)
			[ "$NODE_POOLS" = 1 ] || { echo bad; exit; } ;;
		/sys/kernel/mm/hugepages/*/nr_hugepages)
			[ "$NODE_POOLS" = 0 ] || continue ;;
		*) echo bad; exit ;;
		esac
		was=$(grep -F "$f " "$1" | cut -d' ' -f2)
		# In use for ever (shared, poisoned) or dissolved (anonymous).
		if [ "$v" -gt "$was" ]; then echo $((v - was)); else echo $((was - v)); fi
	done | awk '$1 == "bad" { bad = 1 } { s += $1 } END { print bad ? "bad" : s + 0 }')
	[ "$extra" != bad ] || return 1
	[ "$extra" -le "$poisoned" ] || return 1
	POISON_NOTE="$extra huge page(s) stay allocated: hwpoisoned during the run ($poisoned raw pages, HardwareCorrupted)"
	return 0
}

check_restored() {
	[ -n "$SNAP" ] || return 0
	restore "$SNAP"
	after="$RUN_DIR/state.after"
	# Give exiting children a moment to free their pages.
	i=0
	while :; do
		snapshot "$after"
		cmp -s "$SNAP" "$after" && break
		i=$((i + 1))
		[ $i -ge 10 ] && break
		sleep 1
		restore "$SNAP"
	done
	if cmp -s "$SNAP" "$after"; then
		emit "runner:state_restored" pass "" 0 "" "" ""
	elif poisoned_explains "$SNAP" "$after"; then
		echo "# $POISON_NOTE"
		emit "runner:state_restored" pass "" 0 "" "" ""
	else
		# busybox diff prints unified diffs: compare lines with grep.
		was=$(grep -vxFf "$after" "$SNAP" | sanitize)
		now=$(grep -vxFf "$SNAP" "$after" | sanitize)
		emit "runner:state_restored" fail \
			"machine state differs after the run: was: $was; now: $now" 0 "" "" ""
	fi
}

finish() {
	rc=0
	[ "$NFAIL" -eq 0 ] || rc=1
	if [ "$BISECT" = 1 ] && [ "$NFAIL" -eq 0 ] && [ "$NPASS" -eq 1 ]; then
		rc=125 # only the runner's own case ran: the kernel cannot test
	fi
	if [ "$IN_VM" = 0 ] && command -v python3 >/dev/null; then
		report="$TOP/scripts/report.py"
		[ -f "$report" ] || report="$TOP/report.py" # installed layout
		python3 "$report" "$RUN_DIR" ||
			echo "# report.py failed; records.tsv is still there" >&2
		ln -sfn "$(basename "$RUN_DIR")" "$RESULTS_ROOT/latest"
	fi
	echo "$NPASS passed, $NFAIL failed, $NSKIP skipped"
	exit $rc
}

# Creates $RUN_DIR with an empty records.tsv and sets EXPECT_FILE for
# kernel id $1 (expected/<id>.txt with --expect auto).
open_run() {
	mkdir -p "$RUN_DIR" || die "cannot create $RUN_DIR"
	: >"$RUN_DIR/records.tsv"
	EXPECT_FILE=""
	if [ "$EXPECT" = auto ]; then
		EXPECT_FILE="$TOP/expected/$1.txt"
		[ -r "$EXPECT_FILE" ] || die "--expect auto: no $EXPECT_FILE"
	elif [ -n "$EXPECT" ]; then
		EXPECT_FILE=$EXPECT
	fi
}

# ---- main ------------------------------------------------------------------
KREL=$(uname -r)
if [ -n "$VM" ] || [ -n "$MATRIX" ]; then
	# shellcheck source=scripts/vm/run_in_vm.sh
	. "$TOP/scripts/vm/run_in_vm.sh"
	vm_main
	exit $?
fi

if [ "$IN_VM" = 1 ]; then
	RUN_DIR=/tmp/results
	HT_KERNEL_ID=${HT_KERNEL_ID:-}
else
	RUN_DIR="$RESULTS_ROOT/$(date -u +%Y%m%dT%H%M%SZ)-$KREL"
fi
open_run "$(kernel_id)"
mkdir -p "$RUN_DIR/out" || die "cannot create $RUN_DIR"

ensure_built
CASES=$(list_cases)
if [ "$LIST" = 1 ]; then
	[ -z "$CASES" ] || echo "$CASES"
	rm -rf "$RUN_DIR"
	exit 0
fi
[ -n "$CASES" ] || die "no case matches:$FILTERS"

SNAP=""
if [ "$(id -u)" = 0 ]; then
	SNAP="$RUN_DIR/state.before"
	snapshot "$SNAP"
fi

# Kills every descendant of $1 (the battery's subshells, not their cases,
# which run in sessions of their own: kill_session handles those).
# shellcheck disable=SC2317 # reached through the trap
kill_tree() {
	# shellcheck disable=SC2013 # pids are words
	for c in $(cat /proc/[0-9]*/stat 2>/dev/null | awk -v p="$1" '
		{ pid = $1; sub(/.*\) /, ""); if ($2 == p) print pid }'); do
		kill_tree "$c"
	done
	kill -KILL "$1" 2>/dev/null
	return 0
}

on_signal() {
	trap - INT TERM
	echo "# interrupted: stopping the running case, restoring the machine" >&2
	[ -z "${MAIN_JOB:-}" ] || kill_tree "$MAIN_JOB"
	[ -r "$RUN_DIR/current.pid" ] && kill_session "$(cat "$RUN_DIR/current.pid")"
	[ -r "$RUN_DIR/bgload.pid" ] && kill_session "$(cat "$RUN_DIR/bgload.pid")"
	sleep 1
	restore "$SNAP"
	[ -r "$RUN_DIR/ktap.log.tmp" ] && mv "$RUN_DIR/ktap.log.tmp" "$RUN_DIR/ktap.log"
	dmesg -r 2>/dev/null | tail -n +"$((LOG0 + 1))" >"$RUN_DIR/dmesg.log"
	recount
	# The case that was running is a failure: it never finished.
	if [ -r "$RUN_DIR/current.case" ]; then
		emit "$(cat "$RUN_DIR/current.case")" fail "interrupted by a signal" \
			0 "" "$(pool_brief)" "" | tee -a "$RUN_DIR/ktap.log"
		recount
	fi
	check_restored | tee -a "$RUN_DIR/ktap.log"
	recount
	finish
}
trap on_signal INT TERM
trap 'restore "$SNAP"' EXIT

# Counters live in the battery's subshell: count again from the records.
recount() {
	NPASS=$(awk -F'\t' '$3=="pass"||$3=="xfail"' "$RUN_DIR/records.tsv" | wc -l)
	NFAIL=$(awk -F'\t' '$3=="fail"' "$RUN_DIR/records.tsv" | wc -l)
	NSKIP=$(awk -F'\t' '$3=="skip"' "$RUN_DIR/records.tsv" | wc -l)
	N=$((NPASS + NFAIL + NSKIP))
}

LOG0=$(log_lines)
HWC0=$(hw_corrupted_kb)
# In the background, so a signal interrupts the wait at once.
(run_local | tee "$RUN_DIR/ktap.log.tmp") &
MAIN_JOB=$!
wait "$MAIN_JOB"
MAIN_JOB=""
recount
check_restored | tee -a "$RUN_DIR/ktap.log.tmp"
recount
mv "$RUN_DIR/ktap.log.tmp" "$RUN_DIR/ktap.log"
dmesg -r 2>/dev/null | tail -n +"$((LOG0 + 1))" >"$RUN_DIR/dmesg.log"
finish
