#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Checks that a file is KTAP version 1 (Documentation/dev-tools/ktap.rst)
# as run_tests.sh writes it: a version line opens the document and every
# subtest (indented two spaces a level), a plan follows it, results at a
# level are numbered 1..N and match the plan when the parent's result
# line (or the end) closes it, a subtest closes with its parent's result,
# every other line is a "#" diagnostic, and the last line is one too.
awk '
function close_level(d) {
	if (!(d in open)) return
	if (plan[d] == "") { print NR ": level " d " has no plan"; bad = 1 }
	else if (plan[d] != count[d]) { print NR ": level " d ": plan " plan[d] " but " count[d] " results"; bad = 1 }
	delete open[d]
}
{
	body = $0
	sub(/^ */, "", body)
	ind = length($0) - length(body)
	if (ind % 2) { print NR ": odd indentation"; bad = 1; next }
	d = ind / 2
	last = body
}
NR == 1 && body != "KTAP version 1" { print "line 1: not \"KTAP version 1\""; bad = 1 }
body == "KTAP version 1" {
	if (NR > 1 && !((d - 1) in open)) { print NR ": subtest without a parent"; bad = 1 }
	if (d in open) { print NR ": version line inside an open level " d; bad = 1 }
	open[d] = 1; plan[d] = ""; count[d] = 0; want_plan[d] = 1
	next
}
/^ *1\.\.[0-9]+$/ {
	if (!(d in open) || !want_plan[d]) { print NR ": plan out of place"; bad = 1 }
	plan[d] = substr(body, 4) + 0; want_plan[d] = 0
	next
}
body ~ /^(not )?ok [0-9]+( |$)/ {
	if (!(d in open)) { print NR ": result at a level never opened"; bad = 1; next }
	for (e = d + 1; e in open; e++) { close_level(e); sub_closed = 1 }
	want_plan[d] = 0
	split(body, w, " ")
	n = (w[1] == "not") ? w[3] : w[2]
	if (n != count[d] + 1) { print NR ": result " n " after " count[d]; bad = 1 }
	count[d] = n
	next
}
body ~ /^#/ { next }
{ print NR ": not KTAP: " $0; bad = 1 }
END {
	for (e = 1; e in open; e++) close_level(e)
	if (NR == 0) { print "empty"; bad = 1 }
	else close_level(0)
	if (last !~ /^#/) { print "the last line is not a diagnostic"; bad = 1 }
	exit bad
}' "$1"
