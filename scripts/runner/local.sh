# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
#
# run_tests.sh, part 7 of 7: a run on this machine (or, with --in-vm, in
# the guest).  The background load, the loop over the cases, the end of
# the run and its exit status, and the signal handler.
#
# INPUTS   TOP ME; DESTRUCTIVE IN_VM BGLOAD BISECT (options.sh); CASES
#          RUN_DIR SNAP LOG0 KREL ENV_FACTS d0 b (main); NPLAN NPROGS K
#          NPASS NFAIL NSKIP NNOTRUN, say, ktap_header, begin_case,
#          emit_case, ktap_totals, emit_not_run, make_reports (ktap.sh);
#          run_case, V R D LOG CASE_PID, kill_session, now_ms, sanitize
#          (case.sh); pool_brief, restore, is_fatal, check_restored,
#          cg_leftovers, cg_restore (state.sh); apply_expect (expect.sh).
# OUTPUTS  BGLOAD_PID RUN_T0 CUR; functions bgload_start, bgload_stop,
#          run_local, finish, on_signal.

# ---- background load (stress-ng job files in stress/) ----------------------
# The job is bounded in time; it runs again and again until the battery
# ends.  stress-ng's own kernel-log check must stay clean.  Its stressors
# make scratch directories in --temp-path (default: the current directory)
# and, killed, leave them there: they go to a directory of the run's own.
# shellcheck disable=SC2016 # expanded by the inner sh
bgload_start() {
	: >"$RUN_DIR/bgload.rc"
	mkdir -p "$RUN_DIR/bgload.tmp"
	setsid sh -c 'while :; do
		nice -n 19 stress-ng --job "$1/stress/background.job" --klog-check \
			--temp-path "$2/bgload.tmp" >>"$2/bgload.log" 2>&1
		echo $? >>"$2/bgload.rc"
	done' bgload "$TOP" "$RUN_DIR" </dev/null >/dev/null 2>&1 &
	BGLOAD_PID=$!
	say "# background load: stress-ng --job stress/background.job --klog-check (looped)"
}

bgload_stop() {
	[ -n "${BGLOAD_PID:-}" ] || return 0
	kill_session "$BGLOAD_PID"
	left=$(session_pids "$BGLOAD_PID" | wc -l)
	BGLOAD_PID=""
	rm -rf "$RUN_DIR/bgload.tmp"
	bad=$(grep -cv '^0$' "$RUN_DIR/bgload.rc")
	runs=$(wc -l <"$RUN_DIR/bgload.rc")
	if [ "$left" -gt 0 ]; then
		emit_case "runner:background_load" fail \
			"$left stress-ng processes outlived SIGKILL" "" "" "" "" ""
	elif [ "$bad" -eq 0 ]; then
		emit_case "runner:background_load" pass "" "" "" "" "" ""
	else
		emit_case "runner:background_load" fail \
			"stress-ng failed $bad of $runs runs: $(grep -E 'fail|klog' "$RUN_DIR/bgload.log" | head -n 3 | sanitize)" "" "" "" "" ""
	fi
}

# ---- a run on this machine (or, with --in-vm, in the guest) ------------------
# A case named by a "fresh_boot=" glob of settings runs first in a boot
# of its own in the VM: it arranges where pages lie in memory, which the
# cases before it would have scattered.
needs_fresh_boot() { # case
	# A variant whose page size this kernel does not offer skips in any
	# boot: a new one would only cost time.
	case "$1" in
	*_1G.*) has_fact hugepages_1G || return 1 ;;
	*_2M.*) has_fact hugepages_2M || return 1 ;;
	esac
	set -f
	for g in $(settings_get fresh_boot); do
		# shellcheck disable=SC2254 # the glob is the pattern
		case "$1" in $g) set +f; return 0 ;; esac
	done
	set +f
	return 1
}

run_local() {
	if [ "$(id -u)" = 0 ]; then
		modprobe hwpoison_inject 2>/dev/null || true
	fi
	[ "$DESTRUCTIVE" = 1 ] && export HT_ALLOW_DESTRUCTIVE=1
	total=$((NPLAN - 1 - BGLOAD))
	ktap_header "kernel $KREL; $total cases in $((NPROGS - 1)) programs; results in $RUN_DIR"
	[ "$(id -u)" = 0 ] || say "# not root: cases that need root skip with the reason"
	lo=$(cg_leftovers | tr '\n' ' ')
	lo=${lo% }
	if [ -n "$lo" ] && [ "$(id -u)" = 0 ]; then
		say "# cgroups an earlier run left, removed: $lo"
		cg_restore ""
	fi
	[ "$IN_VM" = 0 ] || echo "#@ENV $ENV_FACTS"
	[ "$BGLOAD" = 0 ] || bgload_start
	RUN_T0=$(now_ms)
	in_boot=0
	for c in $CASES; do
		if [ "$IN_VM" = 1 ] && [ "$in_boot" -gt 0 ] && needs_fresh_boot "$c"; then
			# The host boots again from this case.
			echo "#@REBOOT before $c (settings: fresh_boot)"
			return 1
		fi
		in_boot=$((in_boot + 1))
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
