#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Function bodies in lib/, selftests/ and stress/ over MAX (default 80) lines.
# A long function hides which step of a case failed; split it into
# named steps.  Kernel style puts a function's braces at column 0, so a
# function is its first line (the last one starting at column 0 before
# the "{" alone on a line) through its "}" alone on a line; declarative
# tables open with "= {" and are not counted.
#
#   tests/func_len.sh [-a] [MAX] [FILE...]
#   -a: list every function with its length, longest first, and exit 0
set -u

all=0
if [ "${1:-}" = -a ]; then
	all=1
	shift
fi
max=80
case ${1:-} in
[0-9]*)
	max=$1
	shift
	;;
esac
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP" || exit 2
if [ $# = 0 ]; then
	set -- lib/*.[ch] selftests/*.c stress/*.c
fi

awk -v max="$max" -v all="$all" '
/^[A-Za-z_]/ { head = $0; headline = FNR }
/^\{/ { start = FNR; name = head; next }
/^\}/ && start {
	n = FNR - headline + 1
	sub(/\(.*/, "", name)
	if (name ~ /^(TEST_F|FIXTURE|TEST)/ || name == "")
		name = head
	printf "%d %s:%d %s\n", n, FILENAME, headline, name
	start = 0
}' "$@" | sort -rn | awk -v max="$max" -v all="$all" '
{ if (all || $1 > max) print; if ($1 > max) bad++ }
END { if (!all && bad) { printf "%d function(s) over %d lines\n", bad, max; exit 1 } }'
