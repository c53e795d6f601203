#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Checks that a file is well-formed KTAP as run_tests.sh writes it: the
# version line first, one plan, result lines numbered 1..N in order, the
# plan's count matching, every other line a "# " diagnostic.
awk '
NR == 1 { if ($0 != "TAP version 13") { print "line 1: no TAP version"; bad = 1 } next }
/^1\.\.[0-9]+$/ { if (plan != "") { print NR ": second plan"; bad = 1 } plan = substr($0, 4) + 0; next }
/^(not )?ok [0-9]+ / {
	n = ($1 == "not") ? $3 : $2
	if (n != count + 1) { print NR ": result " n " after " count; bad = 1 }
	count = n
	next
}
/^#/ { next }
{ print NR ": not KTAP: " $0; bad = 1 }
END {
	if (plan == "") { print "no plan"; bad = 1 }
	else if (plan != count) { print "plan " plan " but " count " results"; bad = 1 }
	exit bad
}' "$1"
