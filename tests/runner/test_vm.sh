#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The VM runner's own test (make check): a guest that panics in a case
# fails exactly that case with the panic lines, the VM boots again and
# the cases after it still run and report.  Uses the fake battery.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
WORK=$(mktemp -d /tmp/ht-vm-test.XXXXXX)
export HT_STATIC_BIN="$HERE/fake" HT_PROGRAMS=fake_battery
N=0 FAILS=0
check() {
	N=$((N + 1))
	name=$1
	shift
	if "$@"; then echo "ok $N $name"; else FAILS=$((FAILS + 1)); echo "not ok $N $name"; fi
}
field() { awk -F'\t' -v c="fake_battery:$1" '$1 == c { print $'"$2"' }' "$WORK/r/latest/records.tsv"; }

echo "TAP version 13"
start=$(date +%s)
"$TOP/run_tests.sh" --vm=debian-6.12 --vm-timeout 300 --results "$WORK/r" \
	f.passes f.panics f.skips f.warns >"$WORK/out" 2>&1
rc=$?
took=$(($(date +%s) - start))
check "a run with a panicking case exits 1" [ "$rc" = 1 ]
check "the case before the panic passed" [ "$(field f.passes 3)" = pass ]
check "the panicking case failed" [ "$(field f.panics 3)" = fail ]
check "its reason names the dead guest" sh -c "echo '$(field f.panics 4)' | grep -q 'guest died'"
check "the panic lines are attached" grep -q 'Kernel panic' "$WORK/r/latest/records.tsv"
check "the case after the panic ran after a reboot" [ "$(field f.skips 3)" = skip ]
check "the guest's log watch fails a case that logs a WARNING" [ "$(field f.warns 3)" = fail ]
check "the WARNING line came back from the guest" grep -q 'injected by the runner' "$WORK/r/latest/records.tsv"
check "results.json and junit.xml were written" [ -s "$WORK/r/latest/results.json" ] && [ -s "$WORK/r/latest/junit.xml" ]
check "ktap.log is well-formed KTAP" "$HERE/ktap_check.sh" "$WORK/r/latest/ktap.log"
check "two boots happened" [ -f "$WORK/r/latest/console.2.log" ]
check "within the timeout (took ${took}s)" [ "$took" -lt 300 ]
check "the summary is the last line" [ "$(tail -n 1 "$WORK/out")" = "2 passed, 2 failed, 1 skipped" ]
[ "$FAILS" = 0 ] || sed 's/^/# /' "$WORK/out"

# --matrix: one table of cases x kernels.
"$TOP/run_tests.sh" --matrix debian-6.12,debian-6.1 --results "$WORK/m" \
	f.passes f.skips >"$WORK/mout" 2>&1
check "--matrix exits 0" [ $? = 0 ]
table=$(find "$WORK/m" -name "*-matrix.txt" | head -n 1)
check "--matrix saves its table" [ -s "$table" ]
check "the table has a row per case and a column per kernel" \
	grep -Eq '^fake_battery:f.skips +skip +skip' "$table"
check "--matrix summary line" [ "$(tail -n 1 "$WORK/mout")" = "4 passed, 0 failed, 2 skipped" ]
echo "1..$N"
[ "$FAILS" = 0 ] && rm -rf "$WORK"
echo "$((N - FAILS)) passed, $FAILS failed"
[ "$FAILS" = 0 ]
