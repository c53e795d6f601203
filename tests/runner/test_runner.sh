#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The runner's own tests (make check): arguments, verdicts from KTAP,
# timeouts, a killed case, SIGINT in the middle of a case, the kernel log
# watch, restore of the machine state, and the result files' formats.
# Uses tests/runner/fake/fake_battery instead of the real battery.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
RUN="$TOP/run_tests.sh"
WORK=$(mktemp -d /tmp/ht-runner-test.XXXXXX)
POOL=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
export HT_BIN="$HERE/fake" HT_PROGRAMS=fake_battery HT_FAKE_MARK="$WORK/mark"
FAILS=0 N=0

ok() { N=$((N + 1)); echo "ok $N $1"; }
bad() { N=$((N + 1)); FAILS=$((FAILS + 1)); echo "not ok $N $1"; shift; for l in "$@"; do echo "# $l"; done; }
check() { # name condition-command...
	name=$1
	shift
	if "$@"; then ok "$name"; else bad "$name" "failed: $*"; fi
}

# Field $2 of case $1 in the newest records.
verdict() { awk -F'\t' -v c="fake_battery:$1" '$1 == c { print $3 }' "$WORK/r/latest/records.tsv"; }
reason() { awk -F'\t' -v c="fake_battery:$1" '$1 == c { print $4 }' "$WORK/r/latest/records.tsv"; }

echo "TAP version 13"

# An xfail counts as passed in the summary line.

# --- bad input: one line on stderr, exit 2 ---
for args in "--no-such-option" "--timeout abc" "--timeout 0" "--vm-nodes 0" \
	"--vm-nodes x" "--expect /nonexistent" "--results" "--vm=" \
	"--vm --matrix a,b" "no-such-case-*"; do
	# shellcheck disable=SC2086 # split on purpose
	"$RUN" --results "$WORK/bad" $args >/dev/null 2>"$WORK/err"
	rc=$?
	lines=$(wc -l <"$WORK/err")
	if [ "$rc" = 2 ] && [ "$lines" = 1 ]; then
		ok "bad input '$args': exit 2, one line"
	else
		bad "bad input '$args'" "exit $rc, $lines stderr lines: $(head -n 3 "$WORK/err")"
	fi
done

# --- listing and filters ---
out=$("$RUN" --list 'f.pass*' 'fake_battery:f.fails')
check "--list with filters" [ "$out" = "fake_battery:f.passes
fake_battery:f.fails" ]

# --- verdicts come from KTAP, not exit codes; expectations apply ---
cat >"$WORK/expect" <<'X'
skip *f.skips no such feature
xfail *f.exit0_but_ktap_fail
X
pool0=$(cat $POOL)
"$RUN" --results "$WORK/r" --expect "$WORK/expect" f.passes f.fails f.skips \
	f.exit0_but_ktap_fail f.leaks_pool f.warns >"$WORK/out1" 2>&1
rc=$?
check "a failing run exits 1" [ "$rc" = 1 ]
check "pass verdict" [ "$(verdict f.passes)" = pass ]
check "fail verdict" [ "$(verdict f.fails)" = fail ]
check "skip read from KTAP although exit 0" [ "$(verdict f.skips)" = skip ]
check "skip reason kept" [ "$(reason f.skips)" = "no such feature here" ]
check "exit 0 with 'not ok' is a failure, here expected (xfail)" \
	[ "$(verdict f.exit0_but_ktap_fail)" = xfail ]
check "a leaked pool is put back after the case" [ "$(cat $POOL)" = "$pool0" ]
check "kernel log WARNING fails the case" [ "$(verdict f.warns)" = fail ]
check "the WARNING line is attached" grep -q 'injected by the runner' "$WORK/r/latest/records.tsv"
check "last line is the summary" [ "$(tail -n 1 "$WORK/out1")" = "4 passed, 2 failed, 1 skipped" ]
check "runner's own restore case passed" [ "$(awk -F'\t' '$1=="runner:state_restored"{print $3}' "$WORK/r/latest/records.tsv")" = pass ]

# --- result files ---
d="$WORK/r/latest"
for f in ktap.log results.json junit.xml dmesg.log summary.txt; do
	check "results has $f" [ -f "$d/$f" ]
done
check "results.json parses and counts" python3 -c "
import json,sys
d=json.load(open('$d/results.json'))
c=d['counts']
assert c=={'pass':3,'fail':2,'skip':1,'xfail':1}, c
for k in ('name','program','verdict','reason','duration_ms','kernel','page_size','pool_before','pool_after'):
    assert all(k in x for x in d['cases']), k
"
check "junit.xml validates against the JUnit schema" \
	xmllint --noout --schema "$HERE/junit.xsd" "$d/junit.xml"
check "ktap.log is well-formed KTAP" "$HERE/ktap_check.sh" "$d/ktap.log"

# --- flaky: pass, or fail with the pinned text; any other failure is red ---
printf 'flaky *f.fails Expected 1\n' >"$WORK/flaky1"
"$RUN" --results "$WORK/f1" --expect "$WORK/flaky1" f.fails >/dev/null 2>&1
check "flaky with the pinned text is xfail (exit 0)" [ $? = 0 ]
printf 'flaky *f.fails other text|Expected 1 (1)\n' >"$WORK/flaky3"
"$RUN" --results "$WORK/f5" --expect "$WORK/flaky3" f.fails >/dev/null 2>&1
check "flaky accepts any of its '|' texts" [ $? = 0 ]
printf 'flaky *f.fails some other text\n' >"$WORK/flaky2"
"$RUN" --results "$WORK/f2" --expect "$WORK/flaky2" f.fails >/dev/null 2>&1
check "flaky failing differently is a failure" [ $? = 1 ]
printf 'xfail *f.fails Expected 1 (1)\n' >"$WORK/xfail1"
"$RUN" --results "$WORK/f6" --expect "$WORK/xfail1" f.fails >/dev/null 2>&1
check "xfail with its text is xfail (exit 0)" [ $? = 0 ]
printf 'xfail *f.fails some other text|and another\n' >"$WORK/xfail2"
"$RUN" --results "$WORK/f7" --expect "$WORK/xfail2" f.fails >/dev/null 2>&1
check "xfail failing differently is a failure" [ $? = 1 ]
printf 'skip *f.skips another reason\n' >"$WORK/skip2"
"$RUN" --results "$WORK/f3" --expect "$WORK/skip2" f.skips >/dev/null 2>&1
check "a skip whose reason changed is a failure" [ $? = 1 ]
"$RUN" --results "$WORK/f4" --expect "$WORK/flaky1" f.skips >/dev/null 2>&1
check "an unexpected skip is a failure" [ $? = 1 ]

# --- timeout: the case's whole session is killed ---
"$RUN" --results "$WORK/t" --timeout 2 f.hangs >"$WORK/out2" 2>&1
check "a hanging case fails with a timeout" grep -q 'timeout after 2s' "$WORK/t/latest/records.tsv"
hp=$(cat "$WORK/mark.hang" 2>/dev/null)
check "the hanging process is gone" [ -n "$hp" ] && ! kill -0 "$hp" 2>/dev/null

# --- a test child killed by SIGKILL ---
pool0=$(cat $POOL)
"$RUN" --results "$WORK/k" f.killed >"$WORK/out3" 2>&1
check "a killed case fails" [ "$(awk -F'\t' 'NR==1{print $3}' "$WORK/k/latest/records.tsv")" = fail ]
check "pool restored after the killed case" [ "$(cat $POOL)" = "$pool0" ]

# --- SIGINT in the middle of a case ---
pool0=$(cat $POOL)
rm -f "$WORK/mark.sleep"
"$RUN" --results "$WORK/i" f.sleeps f.passes >"$WORK/out4" 2>&1 &
rpid=$!
i=0
while [ ! -s "$WORK/mark.sleep" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
changed=$(cat $POOL)
kill -INT "$rpid"
wait "$rpid"
rc=$?
sp=$(cat "$WORK/mark.sleep" 2>/dev/null)
check "the case had changed the pool before SIGINT" [ "$changed" != "$pool0" ]
check "after SIGINT the pool reads as before" [ "$(cat $POOL)" = "$pool0" ]
check "after SIGINT the sleeping case is gone" [ -n "$sp" ] && ! kill -0 "$sp" 2>/dev/null
check "after SIGINT the summary is the last line" grep -q 'passed, .* failed, .* skipped' "$WORK/out4"
check "after SIGINT the runner reports its state check" grep -q 'runner:state_restored' "$WORK/out4"
check "after SIGINT the run exits 1 (got $rc)" [ "$rc" = 1 ]
check "the interrupted case is reported failed" grep -q 'not ok .* fake_battery:f.sleeps' "$WORK/out4"

# --- bisect exit codes ---
"$RUN" --results "$WORK/b" --bisect f.skips >/dev/null 2>&1
check "--bisect: everything skipped is 125" [ $? = 125 ]
"$RUN" --results "$WORK/b" --bisect f.passes >/dev/null 2>&1
check "--bisect: good is 0" [ $? = 0 ]
"$RUN" --results "$WORK/b" --bisect f.fails >/dev/null 2>&1
check "--bisect: bad is 1" [ $? = 1 ]

echo "1..$N"
rm -rf "$WORK"
echo "$((N - FAILS)) passed, $FAILS failed"
[ "$FAILS" = 0 ]
