#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The VM runner's own tests (make check), with the fake battery: a guest
# that panics fails exactly that case; a guest Oops ends the boot after
# its case and the next case runs on a fresh kernel; results stream while
# the guest runs; expectations follow the guest's environment (a CPU
# without 1 GiB pages, one node); a signal stops qemu and reports; and
# --matrix prints one KTAP document.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
WORK=$(mktemp -d /tmp/ht-vm-test.XXXXXX)
export HT_STATIC_BIN="$HERE/fake" HT_PROGRAMS=fake_battery
unset HT_ENV HT_FAKE_NO_1G
# shellcheck source=tests/runner/tap.sh
. "$HERE/tap.sh"
field() { # dir case key
	python3 -c "
import json
d = json.load(open('$1/results.json'))
print(''.join(str(c['$3']) for c in d['cases'] if c['name'] == 'fake_battery:$2'))"
}
# Waits up to $2 seconds for a line matching $1 in $3.
wait_for() {
	i=0
	while ! grep -q "$1" "$3" 2>/dev/null; do
		i=$((i + 1))
		[ "$i" -le $(($2 * 2)) ] || return 1
		sleep 0.5
	done
}
# Boots of a VM run (one console log each).
boots() { # results dir
	set -- "$1"/console.*.log
	echo $#
}
# qemu processes of this test still alive.
our_qemus() { pgrep -fc "^qemu-system.*$WORK"; }

echo "KTAP version 1"

# --- panic, Oops, timeout, live results ---
start=$(date +%s)
"$TOP/run_tests.sh" --vm=debian-6.12 --vm-timeout 300 --timeout 20 --results "$WORK/r" \
	f.passes f.panics f.oopses f.skips f.hangs f.warns >"$WORK/out" 2>&1 &
rpid=$!
# f.hangs holds boot 3 for 20 s: f.skips must be on stdout before it ends.
wait_for '^  ok 4 fake_battery:f.skips' 280 "$WORK/out"
check "results stream while the guest runs (f.skips before boot 3 ended)" \
	sh -c "! grep -q '^  # vm: boot 3 ended' '$WORK/out'"
wait "$rpid"
rc=$?
took=$(($(date +%s) - start))
d="$WORK/r/latest"
same "a run with a panicking case exits 1" "$rc" 1
same "the case before the panic passed" "$(field "$d" f.passes verdict)" pass
same "the panicking case failed" "$(field "$d" f.panics verdict)" fail
check "its reason names the dead guest" grep -q '^  not ok 2 fake_battery:f.panics # ERROR guest died' "$d/ktap.log"
check "the panic lines are attached" grep -q '^  # kernel: .*Kernel panic' "$d/ktap.log"
same "the Oops case failed with the console lines" "$(field "$d" f.oopses reason | cut -c1-70)" \
	"killed after a fatal kernel complaint: BUG: kernel NULL pointer derefe"
check "the Oops lines are attached" grep -q '^  # kernel: Oops: 0002 \[#1\]' "$d/ktap.log"
same "the case after the Oops ran (on a fresh boot)" "$(field "$d" f.skips verdict)" skip
check "three boots: after the panic and after the Oops" [ -f "$d/console.3.log" ] && [ ! -f "$d/console.4.log" ]
check "the Oops boot ended at the runner's request" grep -q '^#@REBOOT' "$d/stream.2.log"
check "the case after the Oops ran in boot 3" grep -q '^#@START fake_battery:f.skips' "$d/stream.3.log"
same "a hanging case: TIMEOUT" "$(field "$d" f.hangs directive)" TIMEOUT
same "the guest's log watch fails a case that logs a WARNING" "$(field "$d" f.warns verdict)" fail
check "the WARNING line came back from the guest" grep -q 'injected by the runner' "$d/ktap.log"
check "results.json and junit.xml were written" [ -s "$d/results.json" ] && [ -s "$d/junit.xml" ]
check "ktap.log is KTAP version 1" "$HERE/ktap_check.sh" "$d/ktap.log"
check "stdout is ktap.log" cmp -s "$WORK/out" "$d/ktap.log"
check "RUN lines count what is left and the time" grep -q '^  # RUN fake_battery:f.hangs (5/6, 1 left after it, [0-9]* s elapsed, boot 3)$' "$d/ktap.log"
check "within the timeout (took ${took}s)" [ "$took" -lt 300 ]
same "the summary is the last line" "$(tail -n 1 "$WORK/out")" "# 2 passed, 4 failed, 1 skipped"
[ "$FAILS" = 0 ] || sed 's/^/# /' "$WORK/out"

# --- --vm-timeout bounds the guest's silence, not the boot ---
# Boot 1 lasts longer than 30 s (boot, 20 s, 4 s), but the guest speaks
# at every case; in f.silences_guest (the last case in the fake's order)
# its runner stops, and 30 s later the host stops the guest.
start=$(date +%s)
"$TOP/run_tests.sh" --vm=debian-6.12 --vm-timeout 30 --timeout 25 --results "$WORK/q" \
	f.passes f.sleeps20 f.declares_timeout f.silences_guest f.skips >"$WORK/outq" 2>&1
took=$(($(date +%s) - start))
d="$WORK/q/latest"
same "a guest that speaks outlives --vm-timeout: f.sleeps20 passed" \
	"$(field "$d" f.sleeps20 verdict)" pass
same "... and so did f.declares_timeout, in the same boot" "$(field "$d" f.declares_timeout verdict)" pass
check "... boot 1 still ran f.silences_guest" grep -q '^#@START fake_battery:f.silences_guest' "$d/stream.1.log"
same "a silent guest fails its case" "$(field "$d" f.silences_guest reason)" \
	"guest died (qemu exit 124, nothing from the guest for 30s) in this case"
# 20 s + 4 s of cases and 30 s of silence at least.
check "... after 30 s of silence: the run took ${took} s >= 54" [ "$took" -ge 54 ]

# --- the environment: a CPU without 1 GiB pages, one node ---
printf 'flaky *f.needs_* Shared_Hugetlb\nflaky *f.skips Shared_Hugetlb\n' >"$WORK/expect"
"$TOP/run_tests.sh" --vm=debian-6.12 --vm-no-1g --vm-nodes 1 --expect "$WORK/expect" \
	--results "$WORK/e1" f.needs_1g f.needs_2nodes f.fresh_1G.needs_1g >"$WORK/oute1" 2>&1
same "no 1 GiB pages, one node: their skips are as expected (exit 0)" $? 0
same "... f.needs_1g skipped" "$(field "$WORK/e1/latest" f.needs_1g verdict)" skip
same "... f.needs_2nodes skipped" "$(field "$WORK/e1/latest" f.needs_2nodes verdict)" skip
check "... the guest's environment is in results.json" python3 -c "
import json
e = json.load(open('$WORK/e1/latest/results.json'))['environment']
assert 'hugepages_1G' not in e['facts'] and 'cpu_pdpe1gb' not in e['facts'], e
assert e['memory_nodes'] == 1, e"
check "... qemu had no pdpe1gb" grep -q 'CPU without 1 GiB pages' "$WORK/e1/latest/ktap.log"
same "... a fresh_boot case of a page size the guest lacks costs no boot" \
	"$(field "$WORK/e1/latest" f.fresh_1G.needs_1g verdict):$(boots "$WORK/e1/latest")" skip:1
"$TOP/run_tests.sh" --vm=debian-6.12 --expect "$WORK/expect" \
	--results "$WORK/e2" f.needs_1g f.needs_2nodes f.skips f.fresh_1G.needs_1g >"$WORK/oute2" 2>&1
same "1 GiB pages and 2 nodes: a skip nothing explains is red (exit 1)" $? 1
same "... f.needs_1g passed" "$(field "$WORK/e2/latest" f.needs_1g verdict)" pass
same "... f.needs_2nodes passed" "$(field "$WORK/e2/latest" f.needs_2nodes verdict)" pass
same "... the fresh_boot case ran in a boot of its own" \
	"$(field "$WORK/e2/latest" f.fresh_1G.needs_1g verdict):$(boots "$WORK/e2/latest")" pass:2
same "... f.skips failed" "$(field "$WORK/e2/latest" f.skips reason)" \
	"expected flaky, got skip: no such feature here"

# --- a signal stops the VM and reports ---
"$TOP/run_tests.sh" --vm=debian-6.12 --timeout 100 --results "$WORK/s" \
	f.passes f.hangs f.needs_1g >"$WORK/outs" 2>&1 &
rpid=$!
wait_for '^  # RUN fake_battery:f.hangs' 200 "$WORK/outs"
sleep "${HT_VM_POLL:-2}"
kill -TERM "$rpid"
wait "$rpid"
same "SIGTERM: exit 143" $? 143
same "SIGTERM: no qemu left" "$(our_qemus)" 0
same "SIGTERM: the last line says so" "$(tail -n 1 "$WORK/outs")" \
	"# interrupted by SIGTERM: 2 passed, 1 failed, 0 skipped, 1 not run"
same "SIGTERM: running case interrupted, the next never ran" \
	"$(grep -E '^  (not )?ok ' "$WORK/s/latest/ktap.log")" \
	"  ok 1 fake_battery:f.passes
  not ok 2 fake_battery:f.hangs # ERROR interrupted by SIGTERM
  not ok 3 fake_battery:f.needs_1g # ERROR not run: the run was interrupted
  ok 1 runner:state_restored"
check "SIGTERM: ktap.log is KTAP" "$HERE/ktap_check.sh" "$WORK/s/latest/ktap.log"

# --- --matrix: one KTAP document, a subtest per kernel, and a table ---
"$TOP/run_tests.sh" --matrix debian-6.12,debian-6.1 --results "$WORK/m" \
	f.passes f.skips >"$WORK/mout" 2>&1
same "--matrix exits 0" $? 0
check "--matrix prints one KTAP document" "$HERE/ktap_check.sh" "$WORK/mout"
same "--matrix: a result per kernel" "$(grep -E '^(not )?ok |^1\.\.' "$WORK/mout")" "1..2
ok 1 debian-6.12
ok 2 debian-6.1"
table=$(find "$WORK/m" -name "*-matrix.txt" | head -n 1)
check "--matrix saves its table" [ -s "$table" ]
check "the table has a row per case and a column per kernel" \
	grep -Eq '^fake_battery:f.skips +skip +skip' "$table"
check "the table is in the document as diagnostics" \
	grep -Eq '^# fake_battery:f.skips +skip +skip' "$WORK/mout"
same "--matrix summary line" "$(tail -n 1 "$WORK/mout")" "# 4 passed, 0 failed, 2 skipped"
[ "$FAILS" = 0 ] || sed 's/^/# /' "$WORK/mout"
echo "1..$N"
[ "$FAILS" = 0 ] && rm -rf "$WORK"
echo "# $((N - FAILS)) passed, $FAILS failed"
[ "$FAILS" = 0 ]
