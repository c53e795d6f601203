#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# make install as a collection of an installed kselftest tree (make check):
# kselftest-list.txt is merged, not overwritten; the installed copy has
# what --expect and --vm need; settings fits the slowest program; and the
# kernel's own run_kselftest.sh (from Debian's linux-source-6.12, laid out
# as "make -C tools/testing/selftests install" does) runs and reports it
# per program.  Runs the battery on this machine once, through the harness.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
TARBALL=${LINUX_SOURCE_TARBALL:-/usr/src/linux-source-6.12.tar.xz}
WORK=$(mktemp -d /tmp/ht-install-test.XXXXXX)
K=$WORK/kselftest
PROGRAMS="smaps_accounting uffd_minor hgm_paths refcount migration hwpoison pool_sysfs"
# shellcheck source=tests/runner/tap.sh
. "$HERE/tap.sh"

echo "KTAP version 1"
mkdir -p "$K"
tar -xJf "$TARBALL" -C "$K" --strip-components=4 \
	linux-source-6.12/tools/testing/selftests/run_kselftest.sh \
	linux-source-6.12/tools/testing/selftests/kselftest ||
	{ echo "Bail out! cannot unpack run_kselftest.sh from $TARBALL"; exit 1; }
printf 'mm:run_vmtests.sh\nhugetlb_hgm:gone\n' >"$K/kselftest-list.txt"

make -s -C "$TOP" install INSTALL_PATH="$K" >"$WORK/install.log" 2>&1
same "make install succeeds" $? 0
make -s -C "$TOP" install INSTALL_PATH="$K" >>"$WORK/install.log" 2>&1
same "kselftest-list.txt merged: others kept, ours once, a stale one gone" \
	"$(cat "$K/kselftest-list.txt")" "mm:run_vmtests.sh
$(for p in $PROGRAMS; do echo "hugetlb_hgm:$p"; done)"
D=$K/hugetlb_hgm
for f in settings config run_tests.sh complaints.h scripts/report.py scripts/vm/run_in_vm.sh \
	scripts/vm/boot.sh scripts/vm/kernel.sh scripts/vm/initramfs.sh \
	expected/environment.txt expected/debian-6.12.txt static/smaps_accounting; do
	check "installed: $f" [ -s "$D/$f" ]
done
t=$(sed -n 's/^timeout=//p' "$D/settings")
check "settings: a program's timeout (${t}s) fits refcount's 900 s case and the rest" \
	[ "${t:-0}" -ge 1500 ]
same "settings: the runner's per-case timeout" "$(sed -n 's/^case_timeout=//p' "$D/settings")" 300
same "the installed runner lists the VM's cases from its static builds" \
	"$("$D/run_tests.sh" --vm --list 'smaps_private.*')" \
	"$("$TOP/run_tests.sh" --vm --list 'smaps_private.*')"

same "run_kselftest.sh -l lists the collection" "$("$K/run_kselftest.sh" -l | grep hugetlb_hgm)" \
	"$(for p in $PROGRAMS; do echo "hugetlb_hgm:$p"; done)"
# Through a pipe: runner.sh's writers would overwrite each other in a file.
"$K/run_kselftest.sh" -c hugetlb_hgm 2>&1 | cat >"$WORK/ksft.log"
check "run_kselftest.sh -c hugetlb_hgm ran" [ -s "$WORK/ksft.log" ]
same "it reports per program, in order" \
	"$(grep -E '^(not )?ok [0-9]+ ' "$WORK/ksft.log" | sed 's/^not ok/ok/; s/ # .*//')" \
	"$(i=0; for p in $PROGRAMS; do i=$((i + 1)); echo "ok $i selftests: hugetlb_hgm: $p"; done)"
same "with the settings timeout for each" "$(grep -c "^# timeout set to $t\$" "$WORK/ksft.log")" 6
same "each program's own KTAP is nested" "$(grep -c '^# 1\.\.[0-9]' "$WORK/ksft.log")" 6

echo "1..$N"
[ "$FAILS" = 0 ] && rm -rf "$WORK"
echo "# $((N - FAILS)) passed, $FAILS failed"
[ "$FAILS" = 0 ]
