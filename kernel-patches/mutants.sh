#!/bin/sh
# mutants.sh [--list] [--build-only|--run-only] [--battery FILTER]...
#            [--fuzz SECONDS [--fuzz-seed N] [--fuzz-page-size 2M|1G]]
#            [MUTANT.patch...] - the
# planted-bug measurement: does the battery notice a small semantic bug?
#
# Builds the patched kernel (default config) in $HGMT_CACHE/kernel-build-
# mutant/, then for each mutant (default: kernel-patches/mutants/*.patch,
# each a one- or two-line bug on top of the series) applies it, builds
# bzImage (only the mutated file recompiles), keeps the image as
# mutants/<name>.bzImage and takes the bug out again.  Then runs the
# battery (or the --battery filters) in the VM on each image against
# expected/patched.txt: a red run means the bug was caught.  Prints one
# line per mutant, "caught" with the programs that went red (and how
# many of their cases), or "MISSED"; the
# table is also in results/mutants-<time>/table.txt.  Exit 0 when every
# mutant built and was caught, 1 when one was missed or did not build.
# Environment: as build.sh (HGMT_CACHE, KSRC, JOBS); HGMT_ACCEL for qemu;
# MUTANT_BASE=debug to use the debug flavour's tree (see below).
# --fuzz SECONDS: hgm_seq's random sequences instead of the battery (only
# fuzz:hgm_seq unless --battery is given too), from seed N (default 1) for
# at most SECONDS, on 2 MiB pages or (--fuzz-page-size 1G) 1 GiB ones;
# the line says how many sequences it took to find the bug.  Default
# mutants then: those whose text says "Planted for hgm_seq".
set -eu

me=mutants.sh
case ${1:-} in
-h | --help)
	sed -n '2,24s/^# \{0,1\}//p' "$0"
	exit 0
	;;
esac
# MUTANT_BASE=debug plants the bugs in the debug flavour's tree instead
# (fault injection: mutants that only selftests/fault_inject.c can reach).
case ${MUTANT_BASE:-mutant} in
mutant) expect=patched.txt ;;
debug) expect=patched-debug.txt ;;
*)
	printf 'mutants.sh: MUTANT_BASE must be mutant or debug, not %s\n' "$MUTANT_BASE" >&2
	exit 2
	;;
esac
FLAVOUR=${MUTANT_BASE:-mutant}
export FLAVOUR
# shellcheck source=kernel-patches/common.sh
. "$(dirname "$0")/common.sh"
top=$(cd "$kp/.." && pwd -P)

is_num() { case $1 in '' | *[!0-9]*) return 1 ;; esac; [ ${#1} -le 18 ]; }
filters=
mutants=
phase=all
fuzz=0
fuzz_seed=1
fuzz_psize=2M
while [ $# -gt 0 ]; do
	case $1 in
	--battery)
		[ $# -ge 2 ] || usage_error "--battery needs a case filter"
		filters="$filters $2"
		shift
		;;
	--fuzz)
		if [ $# -lt 2 ] || ! is_num "$2" || [ "$2" -eq 0 ]; then
			usage_error "--fuzz needs a positive number of seconds"
		fi
		fuzz=$2
		shift
		;;
	--fuzz-seed)
		{ [ $# -ge 2 ] && is_num "$2"; } || usage_error "--fuzz-seed needs a number"
		fuzz_seed=$2
		shift
		;;
	--fuzz-page-size)
		case ${2:-} in
		2M | 1G) fuzz_psize=$2 ;;
		*) usage_error "--fuzz-page-size needs 2M or 1G" ;;
		esac
		shift
		;;
	--build-only) phase=build ;;
	--run-only) phase=run ;;
	--list)
		ls "$kp"/mutants/*.patch
		exit 0
		;;
	-*) usage_error "unknown option: $1 (see --help)" ;;
	*)
		[ -f "$1" ] || usage_error "no mutant patch $1"
		mutants="$mutants $(cd "$(dirname "$1")" && pwd -P)/$(basename "$1")"
		;;
	esac
	shift
done
# By default each base runs the mutants it can catch: those whose text says
# "needs fault injection" only on the debug base, the others only on the
# default one.
if [ -z "$mutants" ]; then
	for m in "$kp"/mutants/*.patch; do
		[ -f "$m" ] || continue
		if [ "$fuzz" != 0 ]; then
			grep -q 'Planted for hgm_seq' "$m" || continue
		fi
		if grep -q 'needs fault injection' "$m"; then
			[ "$FLAVOUR" = debug ] || continue
		else
			[ "$FLAVOUR" = mutant ] || continue
		fi
		mutants="$mutants $m"
	done
	[ -n "$mutants" ] || usage_error "no kernel-patches/mutants/*.patch"
fi

# A mutant left applied by a killed run is taken out before anything.
unplant() {
	[ -f "$kb/planted" ] || return 0
	g apply -R "$(cat "$kb/planted")" || die "cannot take out $(cat "$kb/planted"): reset $src"
	rm -f "$kb/planted"
}

build_all() {
	take_lock
	find_ksrc
	prepare_src
	unplant
	# shellcheck disable=SC2046
	apply_patches $(series_patches)
	make_config
	trap 'unplant; exit 130' INT
	trap 'unplant; exit 143' TERM

	start=$(date +%s)
	log=$kb/build.log
	note "building the base kernel in $obj (log: $log)"
	kmake bzImage modules >"$log" 2>&1 || die "base build failed: see $log"
	release=$(kmake -s kernelrelease 2>/dev/null)
	rm -rf "$kb/modules"
	kmake INSTALL_MOD_PATH="$kb/modules" DEPMOD=/sbin/depmod modules_install \
		>"$kb/modules_install.log" 2>&1 || die "modules_install failed: see $kb/modules_install.log"
	rm -f "$kb/modules/lib/modules/$release/build" "$kb/modules/lib/modules/$release/source"
	mkdir -p "$kb/mutants"
	note "base kernel $release built in $(($(date +%s) - start)) s"

	built=
	for m in $mutants; do
		name=$(basename "$m" .patch)
		rm -f "$kb/mutants/$name.bzImage"
		g apply "$m" 2>"$kb/mutants/$name.log" || {
			note "$name: does not apply: $(head -n 1 "$kb/mutants/$name.log")"
			continue
		}
		printf '%s\n' "$m" >"$kb/planted"
		t0=$(date +%s)
		if kmake bzImage >>"$kb/mutants/$name.log" 2>&1; then
			cp "$obj/arch/x86/boot/bzImage" "$kb/mutants/$name.bzImage"
			built="$built $name"
			note "$name: built in $(($(date +%s) - t0)) s"
		else
			note "$name: does not build: see $kb/mutants/$name.log"
		fi
		unplant
	done
	# The tree and obj/ hold the base kernel again.
	kmake bzImage >>"$log" 2>&1 || die "rebuilding the base failed: see $log"
	printf '%s\n' "$release" >"$kb/release"
}

[ "$phase" = run ] || build_all
[ "$phase" != build ] || exit 0
release=$(cat "$kb/release" 2>/dev/null) || die "no base kernel in $kb: run mutants.sh --build-only first"

res=$top/results/mutants-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$res"
rc=0
more=
if [ "$fuzz" != 0 ]; then
	more="--fuzz $fuzz --fuzz-seed $fuzz_seed --fuzz-page-size $fuzz_psize"
	[ -n "$filters" ] || filters='fuzz:*'
fi
# hgm_seq's summary line (sequences, where it failed), a diagnostic of
# the fuzz case.
fuzz_reason() { # ktap
	sed -n 's/^ *# fuzz:hgm_seq: //p' "$1" | tail -n 1
}
for m in $mutants; do
	name=$(basename "$m" .patch)
	img=$kb/mutants/$name.bzImage
	if [ ! -f "$img" ]; then
		printf '%-40s NOT BUILT\n' "$name" | tee -a "$res/table.txt"
		rc=1
		continue
	fi
	# shellcheck disable=SC2086 # filters: one glob each, no blanks
	"$top/run_tests.sh" --vm="$img:$kb/modules/lib/modules/$release" \
		--expect "$top/expected/$expect" --results "$res/$name" \
		$more $filters >"$res/$name.ktap" 2>&1 && r=0 || r=$?
	red=$(sed -n 's/^ *not ok [0-9]* \([^ ]*\):.*/\1/p' "$res/$name.ktap" |
		uniq -c | awk '{ printf "%s(%s) ", $2, $1 }')
	[ "$fuzz" = 0 ] ||
		red="$red$(fuzz_reason "$res/$name.ktap")"
	case $r in
	0) printf '%-40s MISSED %s\n' "$name" "$red" ;;
	1) printf '%-40s caught: %s\n' "$name" "$red" ;;
	*) printf '%-40s ERROR (run_tests.sh exit %s): see %s\n' "$name" "$r" "$res/$name.ktap" ;;
	esac | tee -a "$res/table.txt"
	[ "$r" = 1 ] || rc=1
done
note "table: $res/table.txt"
exit $rc
