#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Every case of the built battery is named FIXTURE.VARIANT.TEST with
# VARIANT one of huge_2M, hgm_2M, huge_1G, hgm_1G, and neither FIXTURE nor
# TEST says a size, so that a glob on the variant ('*.huge_2M.*') selects
# every case of that kind (README.md, CONTRIBUTING.md).  Needs `make`.
#
#   tests/case_names.sh [BUILD_DIR]     (default: build)
set -u

TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP" || exit 2
B=${1:-build}
bad=0 n=0

regular() { # fixture.variant.test
	case $1 in
	*.*.*.* | *[!a-zA-Z0-9_.]*) return 1 ;;
	esac
	f=${1%%.*} t=${1##*.}
	v=${1#"$f".}
	v=${v%."$t"}
	case $v in
	huge_2M | hgm_2M | huge_1G | hgm_1G) ;;
	*) return 1 ;;
	esac
	# a size in the fixture or the test name: mig_shared_2M, huge_2M_x
	for w in "$f" "$t"; do
		case $w in
		'' | *[0-9][KMG]*) return 1 ;;
		esac
	done
}

while read -r p; do
	[ -x "$B/selftests/$p" ] || {
		echo "$B/selftests/$p: not built (make)"
		exit 2
	}
	names=$("$B/selftests/$p" --list-cases) || {
		echo "$p --list-cases failed"
		exit 2
	}
	for c in $names; do
		n=$((n + 1))
		regular "$c" && continue
		echo "irregular: $p:$c"
		bad=$((bad + 1))
	done
done <selftests/programs
echo "$n cases, $bad irregular"
[ "$bad" = 0 ]
