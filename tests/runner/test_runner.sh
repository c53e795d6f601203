#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The runner's own tests (make check): arguments and bad input, verdicts
# from KTAP, expectations keyed by kernel and by environment, timeouts, a
# killed case, signals in the middle of a case, the kernel log watch,
# restore of the machine state, the KTAP stream and the files derived from
# it.  Uses tests/runner/fake/fake_battery instead of the real battery.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
RUN="$TOP/run_tests.sh"
WORK=$(mktemp -d /tmp/ht-runner-test.XXXXXX)
POOL=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
export HT_BIN="$HERE/fake" HT_STATIC_BIN="$HERE/fake" HT_PROGRAMS=fake_battery
export HT_FAKE_MARK="$WORK/mark"
unset HT_ENV HT_FAKE_NO_1G
# shellcheck source=tests/runner/tap.sh
. "$HERE/tap.sh"

# Field $2 of case $1 in the newest run's results.json.
field() { # dir case key
	python3 -c "
import json, sys
d = json.load(open('$1/results.json'))
print(''.join(str(c['$3']) for c in d['cases'] if c['name'] == 'fake_battery:$2'))"
}
verdict() { field "$WORK/r/latest" "$1" verdict; }
verdict_in() { field "$1/latest" "$2" verdict; } # results-dir case
reason() { field "$WORK/r/latest" "$1" reason; }

echo "KTAP version 1"

# --- bad input: one line on stderr, exit 2, nothing booted ---
# A qemu that only leaves a mark shows whether anything tried to boot.
mkdir -p "$WORK/bin"
printf '#!/bin/sh\ntouch "%s/booted"\nexit 1\n' "$WORK" >"$WORK/bin/qemu-system-x86_64"
chmod +x "$WORK/bin/qemu-system-x86_64"
bad_input() { # want-text args...
	want=$1
	shift
	rm -f "$WORK/booted"
	PATH="$WORK/bin:$PATH" "$RUN" --results "$WORK/bad" "$@" >"$WORK/out" 2>"$WORK/err" </dev/null
	rc=$?
	lines=$(wc -l <"$WORK/err")
	if [ "$rc" = 2 ] && [ "$lines" = 1 ] && grep -qF -- "$want" "$WORK/err" &&
		[ ! -e "$WORK/booted" ] && [ ! -s "$WORK/out" ]; then
		ok "bad input '$*': exit 2, one line"
	else
		bad "bad input '$*'" "exit $rc, $lines stderr lines, booted: $([ -e "$WORK/booted" ] && echo yes || echo no)" \
			"$(head -n 3 "$WORK/err")" "stdout: $(head -n 2 "$WORK/out")"
	fi
}
tab=$(printf '\t')
while IFS="$tab" read -r args want; do
	case "$args" in '' | '#'*) continue ;; esac
	# shellcheck disable=SC2086 # the table's arguments split on spaces
	bad_input "$want" $args
done <"$HERE/bad_input.txt"
bad_input "empty filter" ''
bad_input "--matrix: empty kernel name" --matrix ''

# --- listing and filters ---
out=$("$RUN" --list 'f.pass*' 'fake_battery:f.fails')
same "--list with filters" "$out" "fake_battery:f.passes
fake_battery:f.fails"

# --- verdicts come from KTAP, not exit codes; expectations apply ---
cat >"$WORK/expect" <<'X'
skip *f.skips no such feature
xfail *f.exit0_but_ktap_fail
X
pool0=$(cat $POOL)
"$RUN" --results "$WORK/r" --expect "$WORK/expect" f.passes f.fails f.skips \
	f.exit0_but_ktap_fail f.leaks_pool f.warns >"$WORK/out1" 2>"$WORK/err1"
rc=$?
d="$WORK/r/latest"
same "a failing run exits 1" "$rc" 1
same "pass verdict" "$(verdict f.passes)" pass
same "fail verdict" "$(verdict f.fails)" fail
same "skip read from KTAP although exit 0" "$(verdict f.skips)" skip
same "skip reason kept" "$(reason f.skips)" "no such feature here"
same "exit 0 with 'not ok' is a failure, here expected (xfail)" \
	"$(verdict f.exit0_but_ktap_fail)" xfail
same "a leaked pool is put back after the case" "$(cat $POOL)" "$pool0"
same "kernel log WARNING fails the case" "$(verdict f.warns)" fail
check "the WARNING line is attached" grep -q '^  # kernel: .*injected by the runner' "$d/ktap.log"
same "the last line is the summary, a diagnostic" "$(tail -n 1 "$WORK/out1")" "# 4 passed, 2 failed, 1 skipped"
same "the Totals line comes before it" "$(tail -n 2 "$WORK/out1" | head -n 1)" \
	"# Totals: pass:3 fail:2 xfail:1 xpass:0 skip:1 error:0"
same "runner's own restore case passed" "$(python3 -c "
import json; print([c['verdict'] for c in json.load(open('$d/results.json'))['cases'] if c['name'] == 'runner:state_restored'][0])")" pass

# --- the KTAP stream: one, conforming, the source of every report ---
for f in ktap.log results.json junit.xml dmesg.log summary.txt; do
	check "results has $f" [ -f "$d/$f" ]
done
check "stdout is exactly ktap.log" cmp -s "$WORK/out1" "$d/ktap.log"
check "ktap.log is KTAP version 1 (tests/runner/ktap_check.sh)" "$HERE/ktap_check.sh" "$d/ktap.log"
same "first line" "$(head -n 1 "$d/ktap.log")" "KTAP version 1"
same "top level: one subtest per program plus the runner's" \
	"$(grep -E '^(not )?ok |^1\.\.' "$d/ktap.log")" "1..2
not ok 1 fake_battery
ok 2 runner"
same "a failed case's reason comes before its result line" \
	"$(grep -B1 '^  not ok 2 fake_battery:f.fails$' "$d/ktap.log" | head -n 1 | cut -c1-60)" \
	"  # f.fails: Expected 1 (1) == 2 (2)"
check "its reason line is there" grep -q '^  # fake_battery:f.fails: expected pass, got fail: f.fails: Expected 1 (1) == 2 (2)$' "$d/ktap.log"
same "a RUN line when each case starts" "$(grep -c '^  # RUN fake_battery:' "$d/ktap.log")" 6
check "the RUN line counts cases left" grep -q '^  # RUN fake_battery:f.skips (3/6, 3 left after it, ' "$d/ktap.log"
same "the environment is recorded" "$(grep -c '^# environment: .*memory_nodes=' "$d/ktap.log")" 1
check "results.json: counts and fields, from the KTAP" python3 -c "
import json
d = json.load(open('$d/results.json'))
c = d['counts']
assert c == {'pass': 3, 'fail': 2, 'skip': 1, 'xfail': 1, 'error': 0, 'timeout': 0}, c
for k in ('name', 'program', 'verdict', 'reason', 'duration_ms', 'kernel', 'page_size', 'pool_before', 'pool_after', 'log'):
    assert all(k in x for x in d['cases']), k
assert isinstance(d['environment']['memory_nodes'], int), d['environment']
"
check "junit.xml validates against the JUnit schema" \
	sh -c "xmllint --noout --schema '$HERE/junit.xsd' '$d/junit.xml' 2>/dev/null"
check "report.py parses captured streams as pinned (tests/runner/ktap/)" sh -c "
	for k in '$HERE'/ktap/*.ktap; do
		python3 '$TOP/scripts/report.py' --json \"\$k\" | diff -u \"\${k%.ktap}.json\" - || exit 1
	done"
check "captured streams are KTAP version 1" sh -c "
	for k in '$HERE'/ktap/*.ktap; do '$HERE/ktap_check.sh' \"\$k\" || exit 1; done"

# A TAP consumer from Debian (perl's prove) reads the top level.
"$RUN" --results "$WORK/p" f.passes f.skips >/dev/null 2>&1
check "prove accepts a passing run's ktap.log" sh -c "prove -e cat '$WORK/p/latest/ktap.log' >'$WORK/prove.out' 2>&1"
"$RUN" --results "$WORK/p2" f.fails >/dev/null 2>&1
check "prove rejects a failing run's ktap.log" sh -c "! prove -e cat '$WORK/p2/latest/ktap.log' >/dev/null 2>&1"

# --- directives ---
"$RUN" --results "$WORK/t" --timeout 2 f.hangs f.noline >"$WORK/out2" 2>&1
check "a hanging case: not ok # TIMEOUT" grep -q '^  not ok 1 fake_battery:f.hangs # TIMEOUT timeout after 2s; process group killed$' "$WORK/out2"
"$RUN" --results "$WORK/t2" --timeout 2 f.declares_timeout >"$WORK/out2b" 2>&1
check "a case that declares a longer timeout gets it" grep -q '^  ok 1 fake_battery:f.declares_timeout$' "$WORK/out2b"
hp=$(cat "$WORK/mark.hang" 2>/dev/null)
check "the hanging process is gone" [ -n "$hp" ] && ! kill -0 "$hp" 2>/dev/null
check "no result line: not ok # ERROR" grep -q '^  not ok 2 fake_battery:f.noline # ERROR no KTAP result line (exit status 3)$' "$WORK/out2"
same "Totals count the error" "$(grep '^# Totals' "$WORK/out2")" "# Totals: pass:1 fail:1 xfail:0 xpass:0 skip:0 error:1"

# --- --background-load: the plan matches the results ---
# stress-ng, killed, leaves its scratch directories in --temp-path (by
# default the directory it runs in); a case that lasts lets it make them.
mkdir -p "$WORK/bgcwd"
(cd "$WORK/bgcwd" && "$RUN" --results "$WORK/bg" --background-load f.passes f.declares_timeout) >"$WORK/out5" 2>&1
check "--background-load: nothing left in the working directory" [ -z "$(ls -A "$WORK/bgcwd")" ]
check "--background-load: no scratch directory left in the results" [ ! -e "$WORK/bg/latest/bgload.tmp" ]
check "--background-load: ktap.log is KTAP (plan = results)" "$HERE/ktap_check.sh" "$WORK/bg/latest/ktap.log"
check "--background-load: its check is a runner case" grep -q '^  ok 1 runner:background_load$' "$WORK/bg/latest/ktap.log"

# --- flaky: pass, or fail with the pinned text; any other failure is red ---
printf 'flaky *f.fails Expected 1\n' >"$WORK/flaky1"
"$RUN" --results "$WORK/f1" --expect "$WORK/flaky1" f.fails >/dev/null 2>&1
same "flaky with the pinned text is xfail (exit 0)" $? 0
printf 'flaky *f.fails other text|Expected 1 (1)\n' >"$WORK/flaky3"
"$RUN" --results "$WORK/f5" --expect "$WORK/flaky3" f.fails >/dev/null 2>&1
same "flaky accepts any of its '|' texts" $? 0
printf 'flaky *f.fails some other text\n' >"$WORK/flaky2"
"$RUN" --results "$WORK/f2" --expect "$WORK/flaky2" f.fails >/dev/null 2>&1
same "flaky failing differently is a failure" $? 1
printf 'xfail *f.fails Expected 1 (1)\n' >"$WORK/xfail1"
"$RUN" --results "$WORK/f6" --expect "$WORK/xfail1" f.fails >/dev/null 2>&1
same "xfail with its text is xfail (exit 0)" $? 0
printf 'xfail *f.fails some other text|and another\n' >"$WORK/xfail2"
"$RUN" --results "$WORK/f7" --expect "$WORK/xfail2" f.fails >/dev/null 2>&1
same "xfail failing differently is a failure" $? 1
printf 'bug *f.fails Expected 1 (1)\nbug *f.passes Expected 1 (1)\n' >"$WORK/bug1"
"$RUN" --results "$WORK/f8" --expect "$WORK/bug1" f.fails >/dev/null 2>&1
same "a known kernel bug failing its way is xfail (exit 0)" "$?:$(field "$WORK/f8/latest" f.fails verdict)" "0:xfail"
check "a known kernel bug says so" sh -c "grep -q 'known kernel bug: ' '$WORK/f8/latest/ktap.log'"
"$RUN" --results "$WORK/f8" --expect "$WORK/bug1" f.passes >/dev/null 2>&1
same "a known kernel bug that passes is red (the kernel was fixed)" $? 1
printf 'bug *f.fails some other text\n' >"$WORK/bug2"
"$RUN" --results "$WORK/f9" --expect "$WORK/bug2" f.fails >/dev/null 2>&1
same "a known kernel bug failing differently is a failure" $? 1
printf '# a flavour\ninclude xfail1\n' >"$WORK/incl1"
"$RUN" --results "$WORK/f10" --expect "$WORK/incl1" f.fails >/dev/null 2>&1
same "an included file's lines apply" "$?:$(field "$WORK/f10/latest" f.fails verdict)" "0:xfail"
printf 'pass *f.fails\ninclude xfail1\n' >"$WORK/incl2"
"$RUN" --results "$WORK/f11" --expect "$WORK/incl2" f.fails >/dev/null 2>&1
same "a pass line before an include overrides the included line" "$?:$(field "$WORK/f11/latest" f.fails verdict)" "1:fail"
printf 'skip *f.skips another reason\n' >"$WORK/skip2"
"$RUN" --results "$WORK/f3" --expect "$WORK/skip2" f.skips >/dev/null 2>&1
same "a skip whose reason changed is a failure" $? 1
"$RUN" --results "$WORK/f4" --expect "$WORK/flaky1" f.skips >/dev/null 2>&1
same "an unexpected skip is a failure" $? 1

# --- expectations and the environment (expected/environment.txt) ---
# The machine is described by HT_ENV; f.needs_1g skips as the battery's
# 1 GiB cases do where the kernel offers no 1 GiB pages.
printf 'flaky *f.needs_1g Shared_Hugetlb\nflaky *f.needs_2nodes Shared_Hugetlb\nflaky *f.skips Shared_Hugetlb\n' >"$WORK/env1"
HT_ENV="hugepages_2M memory_nodes=1 root" HT_FAKE_NO_1G=1 \
	"$RUN" --results "$WORK/e1" --expect "$WORK/env1" f.needs_1g >"$WORK/oute1" 2>&1
same "no 1 GiB pages here: their skip is as expected" $? 0
same "... and reported as a skip" "$(field "$WORK/e1/latest" f.needs_1g verdict)" skip
check "... the environment is in results.json" python3 -c "
import json
e = json.load(open('$WORK/e1/latest/results.json'))['environment']
assert e == {'facts': ['hugepages_2M', 'root'], 'memory_nodes': 1}, e"
HT_ENV="hugepages_2M hugepages_1G memory_nodes=1 root" HT_FAKE_NO_1G=1 \
	"$RUN" --results "$WORK/e2" --expect "$WORK/env1" f.needs_1g >/dev/null 2>&1
same "1 GiB pages here, yet the case skips for want of them: red" $? 1
same "... saying what was expected" "$(field "$WORK/e2/latest" f.needs_1g reason)" \
	"expected flaky, got skip: kernel offers no 1G huge pages"
HT_ENV="memory_nodes=1" \
	"$RUN" --results "$WORK/e3" --expect "$WORK/env1" f.skips >/dev/null 2>&1
same "a skip the environment does not explain stays red" $? 1
printf 'skip *f.needs_1g kernel has no HGM for 1048576 kB pages\n' >"$WORK/env2"
HT_ENV="hugepages_2M memory_nodes=1 root" HT_FAKE_NO_1G=1 \
	"$RUN" --results "$WORK/e4" --expect "$WORK/env2" f.needs_1g >/dev/null 2>&1
same "no 1 GiB pages: a different pinned skip reason is not a change" $? 0
HT_ENV="hugepages_2M hugepages_1G nodes_2 memory_nodes=2 root" \
	"$RUN" --results "$WORK/e5" --expect "$WORK/env1" f.needs_2nodes >/dev/null 2>&1
check "nodes: the verdict follows the machine (exit $?)" sh -c "
	if [ -d /sys/devices/system/node/node1 ]; then exit 0; fi
	[ \$(python3 -c \"import json; print(json.load(open('$WORK/e5/latest/results.json'))['counts']['fail'])\") = 1 ]"
printf '[!hugepages_1G] skip *f.needs_1g no 1G here\n[hugepages_1G] xfail *f.needs_1g\n' >"$WORK/env3"
HT_ENV="hugepages_2M memory_nodes=1" HT_FAKE_NO_1G=1 \
	"$RUN" --results "$WORK/e6" --expect "$WORK/env3" f.needs_1g >/dev/null 2>&1
same "a '[!fact]' line applies where the fact is absent" \
	"$(field "$WORK/e6/latest" f.needs_1g verdict)" skip
HT_ENV="hugepages_2M hugepages_1G memory_nodes=1" \
	"$RUN" --results "$WORK/e7" --expect "$WORK/env3" f.needs_1g >/dev/null 2>&1
same "a '[fact]' line applies where the fact holds (xfail that passed: red)" $? 1

# --- one list of kernel log complaints, lib/complaints.h, for lib/ and runner ---
"$RUN" --results "$WORK/c" f.taints >/dev/null 2>&1
same "a 'Tainted:' line (lib/complaints.h) fails the case" \
	"$(field "$WORK/c/latest" f.taints reason)" \
	"kernel log complaint: ht-runner-test: CPU: 0 PID: 1 Comm: fake Tainted: G W (injected)"
"$RUN" --results "$WORK/c2" f.reports >/dev/null 2>&1
same "the reason names a report's BUG line, not the CPU line before it" \
	"$(field "$WORK/c2/latest" f.reports reason)" \
	"kernel log complaint: BUG: Bad page state in process fake (ht-runner-test)"
printf 'bug *f.reports page_type: f4(hugetlb)\n' >"$WORK/bug3"
"$RUN" --results "$WORK/c3" --expect "$WORK/bug3" f.reports >/dev/null 2>&1
same "a known bug's text may be in any kernel log line of the case" \
	"$?:$(field "$WORK/c3/latest" f.reports verdict)" "0:xfail"
check "lib/kmsg.c takes its list from lib/complaints.h" \
	grep -q '^#include "complaints.h"$' "$TOP/lib/kmsg.c"

# --- a test child killed by SIGKILL ---
pool0=$(cat $POOL)
"$RUN" --results "$WORK/k" f.killed >"$WORK/out3" 2>&1
same "a killed case fails" "$(field "$WORK/k/latest" f.killed verdict)" fail
same "pool restored after the killed case" "$(cat $POOL)" "$pool0"

# --- cgroups a case left (lib/cgroup.c's hgmt-* groups, +hugetlb) ---
cg2=$(awk '{ for (i = 7; i <= NF && $i != "-"; i++) ;
	if ($(i + 1) == "cgroup2" && $4 == "/") { print $5; exit } }' /proc/self/mountinfo)
if [ -n "$cg2" ] && grep -qw hugetlb "$cg2/cgroup.controllers"; then
	hb0=$(grep -cw hugetlb "$cg2/cgroup.subtree_control")
	"$RUN" --results "$WORK/cg" f.leaks_cgroup >/dev/null 2>&1
	same "a case that leaves cgroups fails" "$(field "$WORK/cg/latest" f.leaks_cgroup verdict)" fail
	check "... saying what it left" sh -c "grep -q 'cgroup state not back after the case (removed now): .*groups left: none -> .*hgmt-fake' '$WORK/cg/latest/ktap.log'"
	same "its groups are gone" "$(find "$cg2" -maxdepth 1 -name 'hgmt-fake*' | wc -l)" 0
	same "+hugetlb at the root as before" "$(grep -cw hugetlb "$cg2/cgroup.subtree_control")" "$hb0"
	check "runner:state_restored passes" grep -q '^  ok 1 runner:state_restored$' "$WORK/cg/latest/ktap.log"
else
	ok "cgroups a case left # SKIP no cgroup2 mount with the hugetlb controller"
fi

# --- signals in the middle of a case ---
interrupt() { # signal exit-status [runner options]
	sig=$1 want=$2
	shift 2
	pool0=$(cat $POOL)
	rm -f "$WORK/mark.sleep"
	rm -rf "$WORK/i"
	# A shell ignores SIGINT in what it starts with "&", nohup SIGHUP:
	# give the runner the default actions back, as a terminal's job has.
	env --default-signal=INT,TERM,HUP "$RUN" --results "$WORK/i" "$@" f.sleeps f.needs_1g \
		>"$WORK/out4" 2>"$WORK/err4" &
	rpid=$!
	i=0
	while [ ! -s "$WORK/mark.sleep" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	changed=$(cat $POOL)
	kill -"$sig" "$rpid"
	wait "$rpid"
	rc=$?
	sp=$(cat "$WORK/mark.sleep" 2>/dev/null)
	check "SIG$sig: the case had changed the pool before" [ "$changed" != "$pool0" ]
	same "SIG$sig: the pool reads as before" "$(cat $POOL)" "$pool0"
	check "SIG$sig: the sleeping case is gone" [ -n "$sp" ] && ! kill -0 "$sp" 2>/dev/null
	same "SIG$sig $*: exit status" "$rc" "$want"
	same "SIG$sig: the last line says so" "$(tail -n 1 "$WORK/out4")" \
		"# interrupted by SIG$sig: 1 passed, 1 failed, 0 skipped, 1 not run"
	same "SIG$sig: the running case is an error, the next one never ran" \
		"$(grep -E '^  (not )?ok ' "$WORK/i/latest/ktap.log")" \
		"  not ok 1 fake_battery:f.sleeps # ERROR interrupted by SIG$sig
  not ok 2 fake_battery:f.needs_1g # ERROR not run: the run was interrupted
  ok 1 runner:state_restored"
	check "SIG$sig: ktap.log is still KTAP" "$HERE/ktap_check.sh" "$WORK/i/latest/ktap.log"
	same "SIG$sig: results.json says interrupted" "$(python3 -c "
import json; print(json.load(open('$WORK/i/latest/results.json'))['interrupted'])")" "SIG$sig"
}
interrupt INT 130
interrupt TERM 143
interrupt HUP 129
interrupt INT 130 --bisect

# --- --coverage: gcov counters of a fake kernel file into coverage/ ---
# A fake object tree as a kernel build leaves it (obj/mm/hugetlb.gcno,
# source ../src/mm/hugetlb.c) and a fake /sys/kernel/debug/gcov holding
# its counters at the build path.
mkdir -p "$WORK/k/src/mm" "$WORK/k/obj/mm"
cp "$HERE/fake/gcov_sample.c" "$WORK/k/src/mm/hugetlb.c"
g="$WORK/gcov$WORK/k/obj/mm"
if (cd "$WORK/k/obj" && gcc --coverage -O0 -c ../src/mm/hugetlb.c -o mm/hugetlb.o &&
	gcc --coverage mm/hugetlb.o -o sample && ./sample) &&
	mkdir -p "$g" && mv "$WORK/k/obj/mm/hugetlb.gcda" "$g/"; then
	HT_GCOV_DIR="$WORK/gcov" "$RUN" --results "$WORK/c" --coverage f.passes >"$WORK/out" 2>&1
	same "--coverage: the run passes" $? 0
	sum="$WORK/c/latest/coverage/summary.txt"
	same "--coverage: hugetlb.c functions and lines" \
		"$(awk '$1 == "mm/hugetlb.c" { print $2, $3, $4, $5 }' "$sum" 2>/dev/null)" "3/4 75.0% 7/10 70.0%"
	same "--coverage: the function never executed" \
		"$(sed -n '/^# never executed/,$p' "$sum" 2>/dev/null | sed 1d)" "mm/hugetlb.c:13 hugetlb_unused"
	check "--coverage: the table in the KTAP stream" grep -q '^# mm/hugetlb.c  *3/4' "$WORK/out"
	check "--coverage: an lcov HTML report" test -f "$WORK/c/latest/coverage/html/index.html"
	# A boot that died while dumping: reported, the verdicts stand.
	{ echo "#@GCOV-BEGIN 1"; echo "H4sIAAAA"; } >"$WORK/cut.stream"
	python3 "$TOP/scripts/coverage.py" --out "$WORK/cut" "$WORK/cut.stream" 2>"$WORK/err"
	same "--coverage: a dump cut short" "$?:$(cat "$WORK/err")" \
		"2:coverage.py: no coverage data: boot 1: dump cut short (the guest died while writing it)"
	HT_GCOV_DIR="$WORK/none" "$RUN" --results "$WORK/c" --coverage f.passes >"$WORK/out" 2>"$WORK/err"
	same "--coverage without gcov: exit 2, one line" "$?:$(wc -l <"$WORK/err")" "2:1"
else
	bad "--coverage: cannot build the gcov sample"
fi

# --- one run per machine (lib/machine_lock.c, take_machine_lock) ---
export HT_LOCK_FILE="$WORK/machine.lock"
"$RUN" --results "$WORK/l" f.holds_lock >"$WORK/out" 2>&1
same "the programs inherit the runner's machine lock" "$?:$(verdict_in "$WORK/l" f.holds_lock)" "0:pass"
flock "$HT_LOCK_FILE" sleep 30 &
holder=$!
sleep 0.5
"$RUN" --results "$WORK/l2" f.passes >"$WORK/out" 2>"$WORK/err"
rc=$?
same "a second run on a held lock: exit 2, one line" "$rc:$(wc -l <"$WORK/err")" "2:1"
check "... saying another run holds it" grep -q "another hugetlb test run (pid .*) holds $HT_LOCK_FILE" "$WORK/err"
check "... before it made a results directory" [ ! -e "$WORK/l2" ]
HT_LOCK_FD=9 "$RUN" --results "$WORK/l3" f.passes >"$WORK/out" 2>"$WORK/err"
same "... a stale HT_LOCK_FD does not get past it" "$?" 2
if [ -x "$TOP/build/stress/hgm_seq" ]; then
	"$TOP/build/stress/hgm_seq" --seconds 0 --steps 5 >"$WORK/out" 2>&1
	rc=$?
	if [ "$rc" = 4 ]; then
		ok "a program on a held lock fails # SKIP $(tail -n 1 "$WORK/out")"
	else
		same "a program on a held lock fails, saying why" \
			"$rc:$(grep -c 'error: another hugetlb test run' "$WORK/out")" "1:1"
	fi
fi
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
unset HT_LOCK_FILE

# --- a program that cannot list its cases stops the run ---
mkdir -p "$WORK/badbin"
cp "$HERE/fake/settings" "$WORK/badbin/"
printf '#!/bin/sh\nexit 1\n' >"$WORK/badbin/broken"
chmod +x "$WORK/badbin/broken"
HT_BIN="$WORK/badbin" HT_PROGRAMS=broken "$RUN" --results "$WORK/lc" --list >"$WORK/out" 2>"$WORK/err"
same "--list-cases failing: exit 2, one line" "$?:$(wc -l <"$WORK/err")" "2:1"
check "... naming the program" grep -q "broken --list-cases failed" "$WORK/err"

# --- bisect exit codes ---
"$RUN" --results "$WORK/b" --bisect f.skips >/dev/null 2>&1
same "--bisect: everything skipped is 125" $? 125
"$RUN" --results "$WORK/b" --bisect f.passes >/dev/null 2>&1
same "--bisect: good is 0" $? 0
"$RUN" --results "$WORK/b" --bisect f.fails >/dev/null 2>&1
same "--bisect: bad is 1" $? 1

echo "1..$N"
rm -rf "$WORK"
echo "# $((N - FAILS)) passed, $FAILS failed"
[ "$FAILS" = 0 ]
