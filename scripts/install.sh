#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# install.sh INSTALL_PATH - the suite as a collection of an installed
# kselftest tree (make install): INSTALL_PATH/hugetlb_hgm/ with the
# programs, settings, config, run_tests.sh with its parts (scripts/runner/)
# and what its --expect and --vm need (expected/, scripts/report.py,
# scripts/vm/, static builds), and hugetlb_hgm:<program> lines merged into
# INSTALL_PATH/kselftest-list.txt (other collections' lines stay).  Run
# from the source tree after "make all static".
set -eu

me=install.sh
die() { printf '%s: %s\n' "$me" "$*" >&2; exit 2; }
{ [ $# -eq 1 ] && [ -n "$1" ]; } || die "usage: install.sh INSTALL_PATH"
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
programs=$(cat selftests/programs)
dst=$1/hugetlb_hgm

for p in $programs; do
	[ -x "build/selftests/$p" ] || die "build/selftests/$p missing: run make"
	[ -x "build/static/selftests/$p" ] || die "build/static/selftests/$p missing: run make static"
done
mkdir -p "$dst/static" "$dst/scripts/vm" "$dst/scripts/runner" "$dst/expected"
for p in $programs; do
	cp "build/selftests/$p" "$dst/"
	cp "build/static/selftests/$p" "$dst/static/"
done
# --stress and --fuzz: the refcount stress and the sequence tester.
for s in refcount_stress hgm_seq; do
	cp "build/stress/$s" "$dst/" 2>/dev/null || true
	cp "build/static/stress/$s" "$dst/static/" 2>/dev/null || true
done
cp selftests/config selftests/programs run_tests.sh lib/complaints.h "$dst/"
cp scripts/report.py scripts/coverage.py scripts/gcov_dump.sh "$dst/scripts/"
cp scripts/vm/*.sh scripts/vm/README.md "$dst/scripts/vm/"
cp scripts/runner/*.sh "$dst/scripts/runner/"
cp expected/*.txt "$dst/expected/"

# run_kselftest.sh gives a whole program "timeout=" seconds, while the
# harness bounds each case (TEST_F_TIMEOUT, else 30 s): the slowest
# program's cases added up, plus a tenth, always fit.
budget() { # program
	"build/selftests/$1" --list-cases | awk -v src="selftests/$1.c" '
	BEGIN {
		while ((getline l < src) > 0)
			if (match(l, /TEST_F_TIMEOUT\([a-z0-9_]+, *[a-z0-9_]+, *[0-9]+\)/)) {
				s = substr(l, RSTART + 15, RLENGTH - 16)
				gsub(/ /, "", s)
				split(s, f, ",")
				t[f[1] "." f[2]] = f[3]
			}
	}
	{
		n = split($0, c, ".")
		k = c[1] "." c[n]
		sum += (k in t) ? t[k] : 30
	}
	END { print int(sum * 1.1) + 60 }'
}
max=0
for p in $programs; do
	b=$(budget "$p")
	[ "$b" -le "$max" ] || max=$b
done
{
	echo "# run_kselftest.sh: seconds for one whole program (the slowest's"
	echo "# harness timeouts added up); run_tests.sh: seconds for one case."
	echo "timeout=$max"
	echo "case_timeout=$(sed -n 's/^timeout=//p' selftests/settings | tail -n 1)"
	sed -n '/^fresh_boot=/p' selftests/settings
} >"$dst/settings"

list=$1/kselftest-list.txt
tmp=$list.tmp.$$
{
	[ ! -f "$list" ] || grep -v '^hugetlb_hgm:' "$list" || true
	for p in $programs; do echo "hugetlb_hgm:$p"; done
} >"$tmp"
mv "$tmp" "$list"
echo "installed into $dst (settings: timeout=$max per program); $list merged"
