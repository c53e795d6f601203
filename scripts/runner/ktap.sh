# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
# shellcheck disable=SC2153 # PLAN is set by main in run_tests.sh
#
# run_tests.sh, part 6 of 7: the output.  One KTAP stream (stdout and
# KTAP_FILE) with a subtest per program and the runner's own checks, the
# journal records.tsv, the reports scripts/report.py makes from it, and
# the coverage report.
#
# INPUTS   TOP; BGLOAD IN_VM RESULTS_ROOT (options.sh); RUN_DIR PLAN KREL
#          ENV_FACTS (main); sanitize (case.sh); environment HT_GCOV_FILES.
# OUTPUTS  IND BASE_IND KTAP_FILE K BEGUN NPASS NFAIL NSKIP NXFAIL NERR
#          NNOTRUN PROG_BAD PROG_RAN, NPROGS NPLAN (plan_build); functions
#          say, say_lines, plan_build, plan_field, ktap_header, begin_case,
#          emit_case, ktap_totals, emit_not_run, make_reports,
#          coverage_report.

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
		[ -z "$3" ] || say "# $1: $3"
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

# coverage_report RUN_DIR STREAM...: the gcov dumps (scripts/gcov_dump.sh,
# one per boot) turned into RUN_DIR/coverage/ and its table printed as
# diagnostics.  A failure here is reported, not fatal: the verdicts stand.
coverage_report() {
	cdir=$1/coverage
	shift
	if python3 "$TOP/scripts/coverage.py" --out "$cdir" ${HT_GCOV_FILES:+--files "$HT_GCOV_FILES"} \
		"$@" >"$cdir.txt" 2>"$cdir.err"; then
		say "# coverage: $cdir/summary.txt, $cdir/html/index.html"
		say_lines "# " "$(sed -n '1,/^$/p' "$cdir.txt" | sed '/^$/d')"
	else
		say "# coverage: no report: $(tail -n 1 "$cdir.err")"
	fi
	rm -f "$cdir.txt"
	[ -s "$cdir.err" ] || rm -f "$cdir.err"
}
