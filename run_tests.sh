#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Runs the HugeTLB/HGM battery on the running kernel (default) or in a VM
# (--vm), one harness case at a time, and writes one KTAP stream (stdout
# and results/.../ktap.log) from which scripts/report.py derives JSON,
# JUnit and the summary.  POSIX sh: the same script runs inside the VM's
# busybox initramfs.  See --help and README.md.

set -u

ME=run_tests.sh
TOP=$(cd "$(dirname "$0")" && pwd)

usage() {
	cat <<'USAGE'
Usage: run_tests.sh [OPTIONS] [FILTER...]

Runs the battery, one case at a time, on the running kernel or in a VM.
FILTER is a shell glob on case names ("program:FIXTURE.VARIANT.TEST" or
"FIXTURE.VARIANT.TEST"); several filters are OR'ed; none means all.

  -h, --help             this text
  -l, --list             list the selected cases, one per line, and exit
  --results DIR          results root (default: results/ next to this script)
  --expect FILE|auto     compare with an expected-outcome file; a deviation
                         is a failure ("auto": expected/<kernel id>.txt);
                         expected/environment.txt always applies with it
  --bisect               exit 0 good, 1 bad, 125 when everything skipped
                         (interrupted: 128+signal, which aborts git bisect)
  --timeout SECONDS      per-case timeout (default: settings, case_timeout=)
  --allow-destructive    run hwpoison cases on this machine (default: VM only)
  --stress               also run the long refcount-overflow stress
  --background-load      run the battery under stress-ng load (stress/*.job)
  --vm[=KERNEL]          run in qemu; KERNEL: debian-6.12 (default),
                         debian-6.1, patched, patched-debug, or PATH[:MODDIR]
                         to a bzImage
  --vm-nodes N           NUMA nodes with memory in the VM (default 2)
  --vm-no-1g             VM CPU without 1 GiB pages (-cpu ...,-pdpe1gb)
  --vm-timeout SECONDS   whole-VM timeout per boot (default 3600)
  --vm-append ARGS       extra guest kernel command line arguments
  --matrix K1,K2,...     run in the VM on each kernel; one KTAP document
                         with a subtest per kernel, and a table
USAGE
}

die() {
	echo "$ME: $*" >&2
	exit 2
}

# ---- options ---------------------------------------------------------------
LIST=0 BISECT=0 RESULTS_ROOT="$TOP/results" EXPECT="" TIMEOUT=""
DESTRUCTIVE=0 STRESS=0 BGLOAD=0 VM="" VM_NODES=2 VM_TIMEOUT=3600 MATRIX=""
IN_VM=0 FILTERS="" VM_APPEND="" VM_NO_1G=0 MATRIX_SET=0
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
	--vm-no-1g) VM_NO_1G=1 ;;
	--vm-timeout) [ $# -ge 2 ] || die "--vm-timeout needs seconds"
		VM_TIMEOUT=$2; shift ;;
	--vm-timeout=*) VM_TIMEOUT=${1#*=} ;;
	--vm-append) [ $# -ge 2 ] || die "--vm-append needs arguments"
		VM_APPEND=$2; shift ;;
	--vm-append=*) VM_APPEND=${1#*=} ;;
	--matrix) [ $# -ge 2 ] || die "--matrix needs a kernel list"
		MATRIX=$2; MATRIX_SET=1; shift ;;
	--matrix=*) MATRIX=${1#*=}; MATRIX_SET=1 ;;
	--in-vm) IN_VM=1 ;;
	--) shift
		for f in "$@"; do
			[ -n "$f" ] || die "empty filter"
			FILTERS="$FILTERS $f"
		done
		break ;;
	-*) die "unknown option: $1 (see --help)" ;;
	'') die "empty filter" ;;
	*) FILTERS="$FILTERS $1" ;;
	esac
	shift
done

is_uint() {
	case "$1" in '' | *[!0-9]*) return 1 ;; esac
	return 0
}

# A kernel for --vm/--matrix: a name kernel.sh knows, or a bzImage file
# (the x86 boot protocol puts "HdrS" at offset 0x202), checked before
# anything is built or booted.
check_kernel() { # name
	case "$1" in
	debian-6.12 | debian-6.1) return 0 ;;
	patched)
		[ -f "${HGMT_CACHE:-${HOME:-/root}/.cache/hgmt}/kernel-build/bzImage" ] ||
			die "--vm=patched: the patched kernel is not built (make kernel)"
		return 0 ;;
	esac
	k=$1 m=""
	if [ ! -e "$k" ]; then
		case "$1" in *:*) k=${1%%:*} m=${1#*:} ;; esac
	fi
	if [ ! -e "$k" ]; then
		die "unknown kernel '$1': not debian-6.12, debian-6.1, patched, or an existing bzImage"
	fi
	{ [ -f "$k" ] && [ -r "$k" ]; } || die "kernel $k: not a readable file"
	[ "$(od -An -c -j 514 -N 4 "$k" 2>/dev/null | tr -d ' ')" = HdrS ] ||
		die "kernel $k: not an x86 bzImage (no HdrS boot header)"
	[ -z "$m" ] || [ -d "$m" ] || die "kernel $1: module directory $m does not exist"
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
[ -z "$VM" ] || [ "$MATRIX_SET" = 0 ] || die "--vm and --matrix exclude each other"
if [ "$MATRIX_SET" = 1 ]; then
	case ",$MATRIX," in
	,, | *,,*) die "--matrix: empty kernel name in '$MATRIX'" ;;
	esac
	for k in $(echo "$MATRIX" | tr ',' ' '); do check_kernel "$k"; done
	[ "$BISECT" = 0 ] || die "--bisect needs one kernel, not --matrix"
fi
[ -z "$VM" ] || check_kernel "$VM"
if [ -n "$EXPECT" ] && [ "$EXPECT" != auto ] &&
	{ [ ! -f "$EXPECT" ] || [ ! -r "$EXPECT" ]; }; then
	die "--expect: cannot read $EXPECT"
fi
[ ! -e "$RESULTS_ROOT" ] || [ -d "$RESULTS_ROOT" ] ||
	die "--results: $RESULTS_ROOT is not a directory"
if [ "$EXPECT" = auto ]; then
	# A kernel given by path has no expected file of its own.
	for k in $VM $(echo "$MATRIX" | tr ',' ' '); do
		[ -r "$TOP/expected/$k.txt" ] ||
			die "--expect auto: no expected/$k.txt for kernel $k (give --expect FILE)"
	done
fi
if [ "$VM_NO_1G" = 1 ] && [ -z "$VM$MATRIX" ]; then
	die "--vm-no-1g: only with --vm or --matrix"
fi
if [ "$BGLOAD" = 1 ] && { [ -n "$VM" ] || [ -n "$MATRIX" ]; }; then
	die "--background-load runs on this machine only, not with --vm/--matrix"
fi
if [ "$BGLOAD" = 1 ] && ! command -v stress-ng >/dev/null; then
	die "--background-load: stress-ng is not installed (make deps)"
fi
case "$VM_APPEND" in
*ht_from=*) die "--vm-append: ht_from= is the runner's own parameter" ;;
esac

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
PROGRAMS=${HT_PROGRAMS:-"smaps_accounting uffd_minor hgm_paths refcount migration hwpoison pool_sysfs"}

settings_get() {
	[ -r "$SETTINGS" ] || return 1
	v=$(sed -n "s/^$1=//p" "$SETTINGS" | tail -n 1)
	[ -n "$v" ] && echo "$v"
}
# "timeout=" is per program for run_kselftest.sh; the runner's per-case
# limit is "case_timeout=" when the file has one.
[ -n "$TIMEOUT" ] || TIMEOUT=$(settings_get case_timeout) ||
	TIMEOUT=$(settings_get timeout) || true
is_uint "${TIMEOUT:-}" || TIMEOUT=300

STRESS_BIN="$TOP/build/stress/refcount_stress"
[ -x "$STRESS_BIN" ] || STRESS_BIN="$TOP/refcount_stress"

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

# ---- environment -----------------------------------------------------------
# Facts about the machine the cases run on that decide whether a case can
# run at all.  Expectations about resources are keyed on these, not on a
# file written for another machine (expected/environment.txt).  Printed
# as words; a fact that is absent is simply not in the list.
detect_env() {
	f=""
	for s in 2048:hugepages_2M 1048576:hugepages_1G; do
		[ -d "/sys/kernel/mm/hugepages/hugepages-${s%%:*}kB" ] && f="$f ${s#*:}"
	done
	n=0
	for d in /sys/devices/system/node/node[0-9]*; do
		[ -r "$d/meminfo" ] || continue
		awk '/MemTotal:/ { exit !($4 > 0) }' "$d/meminfo" && n=$((n + 1))
	done
	[ "$n" -gt 0 ] || n=1 # no NUMA in the kernel: one node
	[ "$n" -lt 2 ] || f="$f nodes_2"
	f="$f memory_nodes=$n"
	[ "$(id -u)" != 0 ] || f="$f root"
	[ -r /dev/kvm ] && [ -w /dev/kvm ] && f="$f kvm"
	{ [ "$DESTRUCTIVE" = 1 ] || [ "${HT_ALLOW_DESTRUCTIVE:-}" = 1 ]; } &&
		f="$f destructive"
	grep -qw pdpe1gb /proc/cpuinfo 2>/dev/null && f="$f cpu_pdpe1gb"
	# The runner's own tests pretend to be other machines.
	[ -z "${HT_ENV:-}" ] || f=$HT_ENV
	echo "${f# }"
}

has_fact() { # fact
	case " $ENV_FACTS " in *" $1 "*) return 0 ;; esac
	return 1
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

# The complaint patterns are lib/kmsg.c's: one list, lib/complaints.h
# (next to this script where installed or in the VM).
COMPLAINTS="$TOP/lib/complaints.h"
[ -r "$COMPLAINTS" ] || COMPLAINTS="$TOP/complaints.h"
[ -r "$COMPLAINTS" ] || die "no complaints.h next to $ME: the kernel log cannot be watched"

# New kernel log lines since line $1 that are complaints.
log_complaints() {
	dmesg -r 2>/dev/null | tail -n +"$(($1 + 1))" | awk -v pats="$COMPLAINTS" '
	BEGIN {
		while ((getline l < pats) > 0)
			if (match(l, /^"[^"]*",$/))
				p[++n] = substr(l, 2, RLENGTH - 3)
	}
	{
		lvl = 7
		if (match($0, /^<[0-9]+>/))
			lvl = substr($0, 2, RLENGTH - 2) % 8
		msg = $0
		sub(/^<[0-9]+>(\[[ 0-9.]+\] )?/, "", msg)
		for (i = 1; i <= n; i++)
			if (index(msg, p[i])) {
				print msg
				next
			}
		# hugetlb speaking at warning level or worse, as lib/kmsg.c.
		if (lvl <= 4 && tolower(msg) ~ /hugetlb/)
			print msg
	}'
}

# Complaints after which the kernel cannot be trusted: an Oops or BUG
# (the dead task may hold locks), lockdep and KASAN reports.  In the VM
# the boot ends there and the next case gets a fresh kernel.
is_fatal() { # complaint lines
	printf '%s\n' "$1" | grep -qE 'Oops|kernel BUG|BUG:|general protection|KASAN|WARNING: possible|WARNING: inconsistent lock|INFO: possible'
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

# Runs $1 (program:case); sets V (verdict), R (reason), D (KTAP directive
# of a failure: TIMEOUT, ERROR or empty), LOG (kernel log complaints).
# The case's pid is in CASE_PID while it runs, for the signal handler.
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
	CASE_PID=$pid
	# The watchdog also ends a case at the first fatal kernel complaint,
	# so a case that hangs on locks a dead task held fails in seconds.
	(
		i=0
		while [ $i -lt "$TIMEOUT" ]; do
			sleep 1
			kill -0 "$pid" 2>/dev/null || exit 0
			i=$((i + 1))
			if [ $((i % 5)) = 0 ] && is_fatal "$(log_complaints "$l0")"; then
				sleep 2 # the rest of the report
				echo "#@FATAL" >>"$out"
				kill_session "$pid"
				exit 0
			fi
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
	CASE_PID=""

	line=$(grep -E '^(not )?ok [0-9]+ ' "$out" | tail -n 1)
	if [ "$prog" = stress ]; then
		case $rc in
		0) line="ok 1 $case_name" ;;
		4) line="ok 1 $case_name # SKIP $(tail -n 1 "$out")" ;;
		*) line="not ok 1 $case_name"
			echo "# $(tail -n 1 "$out")" >>"$out" ;;
		esac
	fi
	V=fail R="" D=""
	case "$line" in
	"ok "*"# SKIP"*) V=skip; R=${line#*# SKIP}; R=${R# } ;;
	"ok "*"# XFAIL"*) V=xfail; R=${line#*# XFAIL}; R=${R# } ;;
	"ok "*) V=pass ;;
	"not ok "*) V=fail
		R=$(grep -A1 -E '^# .*(Expected|terminated|failed|teardown)' "$out" |
			grep -v '^--\|^ok \|^not ok ' | head -n 6 | sed 's/^# //' | sanitize) ;;
	*) D=ERROR R="no KTAP result line (exit status $rc)" ;;
	esac
	if grep -q '^#@TIMEOUT' "$out"; then
		V=fail D=TIMEOUT
		R="timeout after ${TIMEOUT}s; process group killed"
	fi
	LOG=$(log_complaints "$l0" | head -n 20)
	if grep -q '^#@FATAL' "$out"; then
		V=fail D=ERROR
		R="killed after a fatal kernel complaint: $(echo "$LOG" | head -n 1 | sanitize)"
	fi
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
# Kernel files (expected/<kernel>.txt): "<verdict> <glob> [text]"; first
# match wins; no match means pass.  A deviation turns the case into a
# failure.  Verdicts: skip (reason must contain the text), xfail (must
# fail, saying one of the "a|b" texts if given), flaky (a known
# nondeterministic kernel bug: pass, or fail with one of the texts).  A
# line may start with "[fact]" or "[!fact]": it then counts only on
# machines that have (or lack) that environment fact.
#
# expected/environment.txt, consulted first: "<fact> <text>": a case that
# skips with a reason containing the text is as expected when the run's
# environment lacks the fact, whatever the kernel file says.  A skip the
# environment does not explain falls through to the kernel file.
env_explains_skip() { # reason
	[ -r "$ENV_RULES" ] || return 1
	while read -r fact text; do
		case "$fact" in '' | '#'*) continue ;; esac
		has_fact "$fact" && continue
		case "$1" in *"$text"*) return 0 ;; esac
	done <"$ENV_RULES"
	return 1
}

# "[fact]" / "[!fact]" on a line: true when it holds here.
cond_holds() { # [fact] or [!fact]
	c=${1#[}
	c=${c%]}
	case "$c" in
	!*) ! has_fact "${c#!}" ;;
	*) has_fact "$c" ;;
	esac
}

apply_expect() { # name
	[ -n "$EXPECT_FILE" ] || return 0
	if [ "$V" = skip ] && env_explains_skip "$R"; then
		return 0
	fi
	want=pass
	want_reason=""
	while read -r ev eg er; do
		case "$ev" in '' | '#'*) continue ;; esac
		case "$ev" in
		\[*\])
			cond_holds "$ev" || continue
			ev=$eg
			eg=${er%% *}
			er=${er#"$eg"}
			er=${er# } ;;
		esac
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
			V=xfail D=""
			R="expected failure: $R"
		else
			R="expected failure failed differently than expected ('$want_reason'): $R"
		fi
		return 0 ;;
	flaky:fail)
		# A known nondeterministic kernel bug: its failure must still
		# say one of the texts ("a|b") the expectation file names.
		if reason_has_one_of "$R" "$want_reason"; then
			V=xfail D=""
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

# Sets EXPECT_FILE for kernel id $1 (expected/<id>.txt with --expect auto).
pick_expect() {
	EXPECT_FILE=""
	ENV_RULES=""
	[ -n "$EXPECT" ] || return 0
	ENV_RULES="$TOP/expected/environment.txt"
	if [ "$EXPECT" = auto ]; then
		EXPECT_FILE="$TOP/expected/$1.txt"
		[ -r "$EXPECT_FILE" ] || die "--expect auto: no $EXPECT_FILE"
	else
		EXPECT_FILE=$EXPECT
	fi
}

# ---- output: one KTAP stream -----------------------------------------------
# Top level: one subtest per program, then the runner's own checks
# ("runner"), as run_kselftest.sh nests programs.  Each case's
# diagnostics come before its result line.  Lines go to stdout (indented
# further by BASE_IND inside a --matrix document) and to KTAP_FILE.
IND="" BASE_IND="" KTAP_FILE=""
K=0 BEGUN=0 NPASS=0 NFAIL=0 NSKIP=0 NXFAIL=0 NERR=0 NNOTRUN=0
PROG_BAD=0 PROG_RAN=0

say() { # line
	printf '%s%s\n' "$BASE_IND$IND" "$1"
	[ -z "$KTAP_FILE" ] || printf '%s%s\n' "$IND" "$1" >>"$KTAP_FILE"
}

say_lines() { # prefix text (several lines)
	[ -n "$2" ] || return 0
	printf '%s\n' "$2" | while IFS= read -r l; do say "$1$l"; done
}

# $RUN_DIR/plan, line k: "name program index-in-program cases-in-program
# program-number" for every case and the runner's own checks.
plan_build() { # cases
	{
		printf '%s\n' "$1"
		[ "$BGLOAD" = 0 ] || echo runner:background_load
		echo runner:state_restored
	} | awk '
	$0 != "" {
		n[++c] = $0; p = $0; sub(/:.*/, "", p); prog[c] = p; cnt[p]++
		if (!(p in no)) no[p] = ++np
	}
	END { for (i = 1; i <= c; i++) { p = prog[i]; idx[p]++; print n[i], p, idx[p], cnt[p], no[p] } }' >"$PLAN"
	NPROGS=$(tail -n 1 "$PLAN" | cut -d' ' -f5)
	NPLAN=$(wc -l <"$PLAN")
}

plan_field() { # k field
	sed -n "$1p" "$PLAN" | cut -d' ' -f"$2"
}

ktap_header() { # diagnostic line
	IND=""
	say "KTAP version 1"
	say "# $1"
	[ -z "$ENV_FACTS" ] || say "# environment: $ENV_FACTS"
	say "1..$NPROGS"
}

# Opens case K+1: its program's subtest header when it is the first.
begin_case() {
	[ "$BEGUN" -ne $((K + 1)) ] || return 0
	BEGUN=$((K + 1))
	if [ "$(plan_field "$BEGUN" 3)" = 1 ]; then
		IND="  "
		say "KTAP version 1"
		say "# Subtest: $(plan_field "$BEGUN" 2)"
		say "1..$(plan_field "$BEGUN" 4)"
		PROG_BAD=0 PROG_RAN=0
	fi
	IND="  "
}

# Result of case K+1; closes its program's subtest after the last case.
emit_case() { # name verdict reason directive duration_ms pool_before pool_after log [output-file]
	begin_case
	K=$((K + 1))
	idx=$(plan_field "$K" 3)
	IND="  "
	[ -z "$5$6$7" ] || say "# stats $1: $5 ms; pools ${6:--} -> ${7:--}"
	case "$2" in
	pass) NPASS=$((NPASS + 1)) PROG_RAN=1
		say "ok $idx $1" ;;
	xfail) NPASS=$((NPASS + 1)) NXFAIL=$((NXFAIL + 1)) PROG_RAN=1
		say "ok $idx $1 # XFAIL $3" ;;
	skip) NSKIP=$((NSKIP + 1))
		say "ok $idx $1 # SKIP $3" ;;
	*) PROG_BAD=1 PROG_RAN=1
		case "$3" in
		"not run:"*) NNOTRUN=$((NNOTRUN + 1)) ;;
		*) NFAIL=$((NFAIL + 1)) ;;
		esac
		[ "$4" != ERROR ] || NERR=$((NERR + 1))
		[ -z "$3" ] || say "# $1: $3"
		say_lines "# kernel: " "$8"
		# A failed case's whole output, as diagnostics.
		if [ -n "${9:-}" ] && [ -r "$9" ]; then
			say_lines "" "$(grep -v '^ok\|^not ok\|^TAP\|^1\.\.\|^#@' "$9" |
				sed 's/^#* */# /' | head -n 60)"
		fi
		if [ -n "$4" ]; then
			say "not ok $idx $1 # $4 $3"
		else
			say "not ok $idx $1"
		fi ;;
	esac
	case "$1" in
	*_2M*) ps=2M ;;
	*_1G*) ps=1G ;;
	*) ps="" ;;
	esac
	# The journal: numbering for the signal handler, transport from the
	# guest (#@REC), the matrix table.  Reports are made from the KTAP.
	rec=$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s' "$1" "${1%%:*}" \
		"$2" "$(printf %s "$3" | sanitize)" "$5" "$KREL" "$ps" "$6" "$7" \
		"$(printf %s "$8" | sed 's/$/ |/' | sanitize)" "$4")
	printf '%s\n' "$rec" >>"$RUN_DIR/records.tsv"
	[ "$IN_VM" = 0 ] || printf '#@REC\t%s\n' "$rec"
	if [ "$idx" = "$(plan_field "$K" 4)" ]; then
		IND=""
		pno=$(plan_field "$K" 5)
		pname=$(plan_field "$K" 2)
		if [ "$PROG_BAD" = 1 ]; then
			say "not ok $pno $pname"
		elif [ "$PROG_RAN" = 0 ]; then
			say "ok $pno $pname # SKIP every case skipped"
		else
			say "ok $pno $pname"
		fi
	fi
}

ktap_totals() {
	IND=""
	say "# Totals: pass:$((NPASS - NXFAIL)) fail:$((NFAIL + NNOTRUN - NERR)) xfail:$NXFAIL xpass:0 skip:$NSKIP error:$NERR"
}

# Cases K+1.. that are not the runner's own, reported as never run.
emit_not_run() {
	while [ "$K" -lt "$NPLAN" ]; do
		n=$(plan_field $((K + 1)) 1)
		case "$n" in runner:*) return 0 ;; esac
		emit_case "$n" fail "not run: the run was interrupted" ERROR "" "" "" ""
	done
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
	if [ -z "$SNAP" ]; then
		emit_case "runner:state_restored" pass "" "" "" "" "" ""
		return 0
	fi
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
		emit_case "runner:state_restored" pass "" "" "" "" "" ""
	elif poisoned_explains "$SNAP" "$after"; then
		IND="  "
		say "# $POISON_NOTE"
		emit_case "runner:state_restored" pass "" "" "" "" "" ""
	else
		# busybox diff prints unified diffs: compare lines with grep.
		was=$(grep -vxFf "$after" "$SNAP" | sanitize)
		now=$(grep -vxFf "$SNAP" "$after" | sanitize)
		emit_case "runner:state_restored" fail \
			"machine state differs after the run: was: $was; now: $now" "" "" "" "" ""
	fi
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
	BGLOAD_PID=$!
	say "# background load: stress-ng --job stress/background.job --klog-check (looped)"
}

bgload_stop() {
	[ -n "${BGLOAD_PID:-}" ] || return 0
	kill_session "$BGLOAD_PID"
	BGLOAD_PID=""
	bad=$(grep -cv '^0$' "$RUN_DIR/bgload.rc")
	runs=$(wc -l <"$RUN_DIR/bgload.rc")
	if [ "$bad" -eq 0 ]; then
		emit_case "runner:background_load" pass "" "" "" "" "" ""
	else
		emit_case "runner:background_load" fail \
			"stress-ng failed $bad of $runs runs: $(grep -E 'fail|klog' "$RUN_DIR/bgload.log" | head -n 3 | sanitize)" "" "" "" "" ""
	fi
}

# ---- a run on this machine (or, with --in-vm, in the guest) ------------------
run_local() {
	if [ "$(id -u)" = 0 ]; then
		modprobe hwpoison_inject 2>/dev/null || true
	fi
	[ "$DESTRUCTIVE" = 1 ] && export HT_ALLOW_DESTRUCTIVE=1
	total=$((NPLAN - 1 - BGLOAD))
	ktap_header "kernel $KREL; $total cases in $((NPROGS - 1)) programs; results in $RUN_DIR"
	[ "$(id -u)" = 0 ] || say "# not root: cases that need root skip with the reason"
	[ "$IN_VM" = 0 ] || echo "#@ENV $ENV_FACTS"
	[ "$BGLOAD" = 0 ] || bgload_start
	RUN_T0=$(now_ms)
	for c in $CASES; do
		begin_case
		say "# RUN $c ($((K + 1))/$total, $((total - K - 1)) left after it, $((($(now_ms) - RUN_T0) / 1000)) s elapsed)"
		# The VM host reads these to find the case a dead guest was in.
		[ "$IN_VM" = 0 ] || echo "#@START $c"
		b=$(pool_brief)
		d0=$(now_ms)
		CUR=$c
		run_case "$c"
		d1=$(now_ms)
		apply_expect "$c"
		emit_case "$c" "$V" "$R" "$D" $((d1 - d0)) "$b" "$(pool_brief)" "$LOG" \
			"$RUN_DIR/out/$c.txt"
		CUR=""
		if [ "$IN_VM" = 1 ] && [ -n "$LOG" ] && is_fatal "$LOG"; then
			# The next case needs a kernel it can trust: the host
			# boots again from the case after this one.
			echo "#@REBOOT after a fatal kernel complaint"
			return 1
		fi
	done
	bgload_stop
	return 0
}

finish() {
	[ -z "$SNAP" ] || dmesg -r 2>/dev/null | tail -n +"$((LOG0 + 1))" >"$RUN_DIR/dmesg.log"
	ktap_totals
	rc=0
	[ "$NFAIL" -eq 0 ] || rc=1
	if [ "$BISECT" = 1 ] && [ "$NFAIL" -eq 0 ] && [ "$NPASS" -le 1 ]; then
		rc=125 # only the runner's own case ran: the kernel cannot test
	fi
	say "# $NPASS passed, $NFAIL failed, $NSKIP skipped"
	make_reports "$RUN_DIR"
	exit $rc
}

make_reports() { # run dir
	[ "$IN_VM" = 0 ] || return 0
	if command -v python3 >/dev/null; then
		report="$TOP/scripts/report.py"
		[ -f "$report" ] || report="$TOP/report.py" # installed layout
		python3 "$report" "$1" ||
			echo "# report.py failed; ktap.log is still there" >&2
	fi
	ln -sfn "$(basename "$1")" "$RESULTS_ROOT/latest"
}

# Signals: stop the case, put the machine back, report the case as
# interrupted and the rest as never run, exit 128 + signal number (which
# also aborts "git bisect run").
on_signal() { # signal name, exit status
	trap '' INT TERM HUP
	echo "$ME: interrupted by SIG$1: stopping the running case, restoring the machine" >&2
	[ -z "${CASE_PID:-}" ] || kill_session "$CASE_PID"
	[ -z "${BGLOAD_PID:-}" ] || kill_session "$BGLOAD_PID"
	restore "$SNAP"
	if [ -n "${CUR:-}" ]; then
		emit_case "$CUR" fail "interrupted by SIG$1" ERROR $(($(now_ms) - d0)) \
			"$b" "$(pool_brief)" "" \
			"$RUN_DIR/out/$CUR.txt"
	fi
	emit_not_run
	[ "$BGLOAD" = 0 ] || bgload_stop
	check_restored
	[ -z "$SNAP" ] || dmesg -r 2>/dev/null | tail -n +"$((LOG0 + 1))" >"$RUN_DIR/dmesg.log"
	ktap_totals
	say "# interrupted by SIG$1: $NPASS passed, $NFAIL failed, $NSKIP skipped, $NNOTRUN not run"
	make_reports "$RUN_DIR"
	exit "$2"
}

# ---- main ------------------------------------------------------------------
KREL=$(uname -r)
CASE_PID="" CUR="" SNAP="" LOG0=0 d0=0 b=""
if [ -n "$VM" ] || [ "$MATRIX_SET" = 1 ]; then
	# shellcheck source=scripts/vm/run_in_vm.sh
	. "$TOP/scripts/vm/run_in_vm.sh"
	vm_main
	exit $?
fi

if [ "$IN_VM" = 1 ]; then
	RUN_DIR=/tmp/results
else
	RUN_DIR="$RESULTS_ROOT/$(date -u +%Y%m%dT%H%M%SZ)-$KREL"
fi
pick_expect "$(kernel_id)"
ensure_built
CASES=$(list_cases)
if [ "$LIST" = 1 ]; then
	[ -z "$CASES" ] || echo "$CASES"
	exit 0
fi
[ -n "$CASES" ] || die "no case matches:$FILTERS"
mkdir -p "$RUN_DIR/out" || die "cannot create $RUN_DIR"
: >"$RUN_DIR/records.tsv"
: >"$RUN_DIR/ktap.log"
KTAP_FILE="$RUN_DIR/ktap.log"
PLAN="$RUN_DIR/plan"
plan_build "$CASES"
ENV_FACTS=$(detect_env)

if [ "$(id -u)" = 0 ]; then
	SNAP="$RUN_DIR/state.before"
	snapshot "$SNAP"
fi
trap 'on_signal INT 130' INT
trap 'on_signal TERM 143' TERM
trap 'on_signal HUP 129' HUP
trap 'restore "$SNAP"' EXIT

LOG0=$(log_lines)
HWC0=$(hw_corrupted_kb)
if ! run_local; then
	# In the guest after a fatal complaint: the host reboots.
	exit 0
fi
check_restored
finish
