#!/bin/sh
# check.sh - every patch of kernel-patches/series is checkpatch clean, and
# every prefix of the series (patch 1; patches 1..2; ...) builds.
#
# For each patch: scripts/checkpatch.pl --no-tree (no error, no warning).
# For each prefix: the tree of build.sh (pristine KSRC + the prefix), the
# config of build.sh, `make vmlinux` in the same object tree (incremental,
# ccache), and no compiler warning in what was rebuilt.  The tree is left
# with the whole series applied, so that a following `make kernel` only
# builds bzImage and modules.
# Environment: as build.sh (KSRC, HGMT_CACHE, JOBS).  Errors are one line on
# stderr naming the patch; exit 2 on bad usage.
set -eu

me=check.sh
case ${1:-} in
-h | --help)
	sed -n '2,13s/^# \{0,1\}//p' "$0"
	exit 0
	;;
esac
[ $# -eq 0 ] || { printf '%s: usage: check.sh (no arguments; environment KSRC, HGMT_CACHE, JOBS)\n' "$me" >&2; exit 2; }

# shellcheck source=kernel-patches/common.sh
. "$(dirname "$0")/common.sh"

start=$(date +%s)
take_lock
find_ksrc
patches=$(series_patches)
[ -n "$patches" ] || die "$kp/series names no patch"

for p in $patches; do
	[ -f "$kp/$p" ] || die "series names $p, which is not in $kp"
	log=$kb/checkpatch.log
	if ! perl "$ksrc/scripts/checkpatch.pl" --no-tree --no-summary --terse \
		"$kp/$p" >"$log" 2>&1; then
		die "patch $p is not checkpatch clean: $(grep -m 1 -E 'ERROR|WARNING' "$log" || head -n 1 "$log")"
	fi
done

prepare_src
n=0
prefix=
for p in $patches; do
	n=$((n + 1))
	prefix="$prefix $p"
	# shellcheck disable=SC2086
	apply_patches $prefix
	make_config
	log=$kb/check.$n.log
	t0=$(date +%s)
	kmake vmlinux >"$log" 2>&1 ||
		die "patch $p: the series up to it does not build: $(grep -m 1 -E 'error|Error' "$log") (log: $log)"
	if grep -q 'warning:' "$log"; then
		die "patch $p: the series up to it builds with a warning: $(grep -m 1 'warning:' "$log") (log: $log)"
	fi
	note "patch $n $p: checkpatch clean, series 1..$n builds ($(($(date +%s) - t0)) s)"
done
note "$n patches OK in $(($(date +%s) - start)) s"
