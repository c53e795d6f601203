# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
# shellcheck disable=SC2034 # set here, read by the other parts
#
# run_tests.sh, part 4 of 7: one case.  Runs one harness case (or the
# refcount stress) in a session of its own under a watchdog (timeout, fatal
# kernel complaint), and turns its output, the kernel log and the taint
# into a verdict.
#
# INPUTS   BIN STRESS_BIN FUZZ_BIN TIMEOUT (programs.sh); FUZZ FUZZ_SEED FUZZ_MORE FUZZ_PSIZE IN_VM
#          (options.sh);
#          RUN_DIR SNAP (main);
#          log_lines, taint, log_complaints, is_fatal, restore,
#          pool_resv_surp, hw_corrupted_kb, cg_brief (state.sh).
# OUTPUTS  V R D LOG (the verdict of run_case), CASE_PID (while it runs);
#          functions session_pids, kill_session, now_ms, sanitize, log_headline, run_case.

# ---- one case --------------------------------------------------------------
# Kills every process of session $1: a harness case runs in a process group
# of its own (setpgrp), so the runner's setsid session is what holds all.
# A process that forks between the scan of /proc and the kill (stress-ng
# starting a worker) would outlive the session: scan again until none is
# left.  session_pids prints what is still there (zombies are not: their
# parent reaps them).
session_pids() { # sid
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v s="$1" '
		{ pid = $1; sub(/.*\) /, ""); if ($4 == s && $1 != "Z") print pid }'
}

kill_session() { # sid
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		pids=$(session_pids "$1")
		[ -n "$pids" ] || return 0
		# shellcheck disable=SC2086 # one pid per word
		kill -KILL $pids 2>/dev/null
		sleep 1
	done
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
# The line that names the complaint: a report's "CPU:" or "Tainted:"
# lines may come first when the case started in the middle of one.
log_headline() {
	{
		echo "$LOG" | grep -m1 -E '^(BUG|WARNING|Oops|Kernel panic|kernel BUG)'
		echo "$LOG" | head -n 1
	} | head -n 1 | sanitize
}

# The limit for one case: the runner's (--timeout, settings), or the
# longer one the case declares (TEST_F_TIMEOUT, listed by the program with
# HT_LIST_TIMEOUTS set; a program that does not list them gets the
# runner's).
case_timeout() { # prog case
	t=$TIMEOUT
	if [ -x "$BIN/$1" ]; then
		d=$(HT_LIST_TIMEOUTS=1 "$BIN/$1" --list-cases 2>/dev/null |
			awk -v c="$2" '$1 == c && $2 ~ /^[0-9]+$/ { print $2; exit }')
		[ -n "$d" ] && [ "$d" -gt "$t" ] && t=$d
	fi
	echo "$t"
}

run_case() {
	prog=${1%%:*}
	case_name=${1#*:}
	out="$RUN_DIR/out/$prog:$case_name.txt"
	l0=$(log_lines)
	t0=$(taint)
	rs0=$(pool_resv_surp)
	hc0=$(hw_corrupted_kb)
	cg0=$(cg_brief)
	tmo=$(case_timeout "$prog" "$case_name")
	if [ "$prog" = stress ]; then
		# The long stress speaks exit codes (0 pass, 4 skip, 1 fail).
		setsid "$STRESS_BIN" --json "$RUN_DIR/stress.json" \
			>"$out" 2>&1 </dev/null &
	elif [ "$prog" = fuzz ]; then
		# So does hgm_seq; a failure is shrunk after the budget.
		tmo=$((FUZZ + 900))
		more=""
		[ "$FUZZ_MORE" = 0 ] || more=--more-ops
		# shellcheck disable=SC2086 # no seed, no --more-ops: no words
		setsid "$FUZZ_BIN" --seconds "$FUZZ" --json "$RUN_DIR/fuzz.json" \
			${FUZZ_SEED:+--seed $FUZZ_SEED} $more \
			${FUZZ_PSIZE:+--page-size $FUZZ_PSIZE} \
			--out "$RUN_DIR/fuzz" >"$out" 2>&1 </dev/null &
	else
		setsid "$BIN/$prog" -r "$case_name" >"$out" 2>&1 </dev/null &
	fi
	pid=$!
	CASE_PID=$pid
	# The watchdog also ends a case at the first fatal kernel complaint,
	# so a case that hangs on locks a dead task held fails in seconds.
	(
		i=0
		while [ $i -lt "$tmo" ]; do
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
	if [ "$prog" = stress ] || [ "$prog" = fuzz ]; then
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
	# The stress programs' last line is their summary (figures, verdict,
	# where it failed).
	if [ "$D" != ERROR ] && { [ "$prog" = stress ] || [ "$prog" = fuzz ]; }; then
		R=$(tail -n 1 "$out" | sed 's/^# //' | sanitize)
	fi
	if grep -q '^#@TIMEOUT' "$out"; then
		V=fail D=TIMEOUT
		R="timeout after ${tmo}s; process group killed"
	fi
	LOG=$(log_complaints "$l0" | head -n 20)
	if grep -q '^#@FATAL' "$out"; then
		V=fail D=ERROR
		R="killed after a fatal kernel complaint: $(log_headline)"
	fi
	if [ -n "$LOG" ] && [ "$V" != fail ]; then
		V=fail
		R="kernel log complaint: $(log_headline)"
	fi
	if [ "$(taint)" != "$t0" ]; then
		[ "$V" = fail ] || R="kernel taint changed $t0 -> $(taint)"
		V=fail
	fi
	# A case removes its cgroups itself (lib/cgroup.c), killed or not
	# (FIXTURE_TEARDOWN_PARENT): what is left is the case's failure.
	cg1=$(cg_brief)
	if [ -n "$SNAP" ]; then
		restore "$SNAP"
	fi
	if [ "$cg1" != "$cg0" ] && [ "$V" != fail ]; then
		V=fail
		R="cgroup state not back after the case (removed now): $cg0 -> $cg1"
	fi
	# Exiting processes drop their reservations a moment after the kill.
	n=0
	while rs1=$(pool_resv_surp) && [ "$rs1" != "$rs0" ] && [ $n -lt 5 ]; do
		sleep 1
		n=$((n + 1))
	done
	# A poisoned huge page that is still in use stays in the pool as a
	# surplus page until it is freed: hwpoison cases may leave surplus.
	if [ "$(hw_corrupted_kb)" != "$hc0" ]; then
		rs0=$(echo "$rs0" | sed 's/:[0-9]*\( \|$\)/\1/g')
		rs1=$(echo "$rs1" | sed 's/:[0-9]*\( \|$\)/\1/g')
	fi
	if [ "$rs1" != "$rs0" ] && [ "$V" != fail ]; then
		V=fail
		R="HugePages_Rsvd/Surp not back after the case (kB:resv:surplus): $rs0 -> $rs1"
	fi
	[ "$prog" != fuzz ] || send_files "$RUN_DIR/fuzz"
	return 0
}

# In the guest, the files a case wrote (hgm_seq's shrunk sequence and its
# C reproducer) go to the host with the records, a line at a time, as
# "#@FILE name<TAB>line"; the host writes them under its own run directory.
send_files() { # dir
	[ "$IN_VM" = 1 ] && [ -d "$1" ] || return 0
	for f in "$1"/*; do
		[ -f "$f" ] || continue
		sed "s/^/#@FILE $(basename "$f")	/" "$f"
	done
}
