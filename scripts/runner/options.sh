# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
# shellcheck disable=SC2034 # set here, read by the other parts
#
# run_tests.sh, part 1 of 7: the command line.  Parses the options, checks
# them before anything is built or booted, and fills the defaults.  Sourced
# first: --help (exit 0) and bad input (one line on stderr, exit 2) end the
# run here.
#
# INPUTS   run_tests.sh's positional parameters (consumed with shift);
#          TOP; usage, die (run_tests.sh); environment HGMT_CACHE, HOME,
#          HT_GCOV_DIR.
# OUTPUTS  LIST BISECT RESULTS_ROOT EXPECT TIMEOUT (empty: programs.sh
#          fills it) DESTRUCTIVE STRESS FUZZ FUZZ_SEED FUZZ_MORE FUZZ_PSIZE BGLOAD COVERAGE IN_VM FILTERS
#          VM VM_NODES VM_TIMEOUT VM_APPEND VM_NO_1G MATRIX MATRIX_SET;
#          functions is_uint, check_kernel.

# ---- options ---------------------------------------------------------------
LIST=0 BISECT=0 RESULTS_ROOT="$TOP/results" EXPECT="" TIMEOUT=""
DESTRUCTIVE=0 STRESS=0 FUZZ=0 FUZZ_SEED="" FUZZ_MORE=0 FUZZ_PSIZE="" BGLOAD=0 VM="" VM_NODES=2 VM_TIMEOUT=3600 MATRIX=""
IN_VM=0 FILTERS="" VM_APPEND="" VM_NO_1G=0 MATRIX_SET=0 COVERAGE=0
while [ $# -gt 0 ]; do
	case "$1" in
	-h | --help) usage; exit 0 ;;
	-l | --list) LIST=1 ;;
	--results) [ $# -ge 2 ] || die "--results needs a directory"
		RESULTS_ROOT=$2; shift ;;
	--results=*) RESULTS_ROOT=${1#*=} ;;
	--expect) [ $# -ge 2 ] || die "--expect needs a file or 'auto'"
		EXPECT=$2; shift ;;
	--expect=*) EXPECT=${1#*=} ;;
	--bisect) BISECT=1 ;;
	--timeout) [ $# -ge 2 ] || die "--timeout needs seconds"
		TIMEOUT=$2; shift ;;
	--timeout=*) TIMEOUT=${1#*=} ;;
	--allow-destructive) DESTRUCTIVE=1 ;;
	--stress) STRESS=1 ;;
	--fuzz) [ $# -ge 2 ] || die "--fuzz needs seconds"
		FUZZ=$2; shift ;;
	--fuzz=*) FUZZ=${1#*=} ;;
	--fuzz-seed) [ $# -ge 2 ] || die "--fuzz-seed needs a number"
		FUZZ_SEED=$2; shift ;;
	--fuzz-seed=*) FUZZ_SEED=${1#*=} ;;
	--fuzz-more-ops) FUZZ_MORE=1 ;;
	--fuzz-page-size) [ $# -ge 2 ] || die "--fuzz-page-size needs 2M or 1G"
		FUZZ_PSIZE=$2; shift ;;
	--fuzz-page-size=*) FUZZ_PSIZE=${1#*=} ;;
	--background-load) BGLOAD=1 ;;
	--coverage) COVERAGE=1 ;;
	--vm) VM=debian-6.12 ;;
	--vm=*) VM=${1#*=}; [ -n "$VM" ] || die "--vm= needs a kernel" ;;
	--vm-nodes) [ $# -ge 2 ] || die "--vm-nodes needs a number"
		VM_NODES=$2; shift ;;
	--vm-nodes=*) VM_NODES=${1#*=} ;;
	--vm-no-1g) VM_NO_1G=1 ;;
	--vm-timeout) [ $# -ge 2 ] || die "--vm-timeout needs seconds"
		VM_TIMEOUT=$2; shift ;;
	--vm-timeout=*) VM_TIMEOUT=${1#*=} ;;
	--vm-append) [ $# -ge 2 ] || die "--vm-append needs arguments"
		VM_APPEND=$2; shift ;;
	--vm-append=*) VM_APPEND=${1#*=} ;;
	--matrix) [ $# -ge 2 ] || die "--matrix needs a kernel list"
		MATRIX=$2; MATRIX_SET=1; shift ;;
	--matrix=*) MATRIX=${1#*=}; MATRIX_SET=1 ;;
	--in-vm) IN_VM=1 ;;
	--) shift
		for f in "$@"; do
			[ -n "$f" ] || die "empty filter"
			FILTERS="$FILTERS $f"
		done
		break ;;
	-*) die "unknown option: $1 (see --help)" ;;
	'') die "empty filter" ;;
	*) FILTERS="$FILTERS $1" ;;
	esac
	shift
done

is_uint() {
	case "$1" in '' | *[!0-9]*) return 1 ;; esac
	return 0
}

# A kernel for --vm/--matrix: a name kernel.sh knows, or a bzImage file
# (the x86 boot protocol puts "HdrS" at offset 0x202), checked before
# anything is built or booted.
check_kernel() { # name
	case "$1" in
	debian-6.12 | debian-6.1) return 0 ;;
	patched | patched-debug | patched-coverage)
		fl=${1#patched}
		fl=${fl#-}
		[ -f "${HGMT_CACHE:-${HOME:-/root}/.cache/hgmt}/kernel-build${fl:+-$fl}/bzImage" ] ||
			die "--vm=$1: the kernel is not built (make kernel${fl:+ FLAVOUR=$fl})"
		return 0 ;;
	esac
	k=$1 m=""
	if [ ! -e "$k" ]; then
		case "$1" in *:*) k=${1%%:*} m=${1#*:} ;; esac
	fi
	if [ ! -e "$k" ]; then
		die "unknown kernel '$1': not debian-6.12, debian-6.1, patched, patched-debug, patched-coverage, or an existing bzImage"
	fi
	{ [ -f "$k" ] && [ -r "$k" ]; } || die "kernel $k: not a readable file"
	[ "$(od -An -c -j 514 -N 4 "$k" 2>/dev/null | tr -d ' ')" = HdrS ] ||
		die "kernel $k: not an x86 bzImage (no HdrS boot header)"
	[ -z "$m" ] || [ -d "$m" ] || die "kernel $1: module directory $m does not exist"
	return 0
}

if [ -n "$TIMEOUT" ] && { ! is_uint "$TIMEOUT" || [ "$TIMEOUT" -eq 0 ]; }; then
	die "--timeout: not a positive number: $TIMEOUT"
fi
if ! is_uint "$FUZZ" || [ "$FUZZ" -gt 86400 ]; then
	die "--fuzz: not a number of seconds up to 86400: $FUZZ"
fi
if [ -n "$FUZZ_SEED" ]; then
	if ! is_uint "$FUZZ_SEED" || [ ${#FUZZ_SEED} -gt 18 ]; then
		die "--fuzz-seed: not a number of at most 18 digits: $FUZZ_SEED"
	fi
	[ "$FUZZ" != 0 ] || die "--fuzz-seed without --fuzz: no sequence tester runs"
fi
if [ "$FUZZ_MORE" = 1 ] && [ "$FUZZ" = 0 ]; then
	die "--fuzz-more-ops without --fuzz: no sequence tester runs"
fi
case $FUZZ_PSIZE in
'' | 2M | 1G) ;;
*) die "--fuzz-page-size: 2M or 1G, not $FUZZ_PSIZE" ;;
esac
if [ -n "$FUZZ_PSIZE" ] && [ "$FUZZ" = 0 ]; then
	die "--fuzz-page-size without --fuzz: no sequence tester runs"
fi
if ! is_uint "$VM_NODES" || [ "$VM_NODES" -lt 1 ] || [ "$VM_NODES" -gt 8 ]; then
	die "--vm-nodes: not a number from 1 to 8: $VM_NODES"
fi
if ! is_uint "$VM_TIMEOUT" || [ "$VM_TIMEOUT" -eq 0 ]; then
	die "--vm-timeout: not a positive number: $VM_TIMEOUT"
fi
[ -z "$VM" ] || [ "$MATRIX_SET" = 0 ] || die "--vm and --matrix exclude each other"
if [ "$MATRIX_SET" = 1 ]; then
	case ",$MATRIX," in
	,, | *,,*) die "--matrix: empty kernel name in '$MATRIX'" ;;
	esac
	for k in $(echo "$MATRIX" | tr ',' ' '); do check_kernel "$k"; done
	[ "$BISECT" = 0 ] || die "--bisect needs one kernel, not --matrix"
fi
[ -z "$VM" ] || check_kernel "$VM"
if [ -n "$EXPECT" ] && [ "$EXPECT" != auto ] &&
	{ [ ! -f "$EXPECT" ] || [ ! -r "$EXPECT" ]; }; then
	die "--expect: cannot read $EXPECT"
fi
[ ! -e "$RESULTS_ROOT" ] || [ -d "$RESULTS_ROOT" ] ||
	die "--results: $RESULTS_ROOT is not a directory"
if [ "$EXPECT" = auto ]; then
	# A kernel given by path has no expected file of its own.
	for k in $VM $(echo "$MATRIX" | tr ',' ' '); do
		[ -r "$TOP/expected/$k.txt" ] ||
			die "--expect auto: no expected/$k.txt for kernel $k (give --expect FILE)"
	done
fi
if [ "$VM_NO_1G" = 1 ] && [ -z "$VM$MATRIX" ]; then
	die "--vm-no-1g: only with --vm or --matrix"
fi
if [ "$BGLOAD" = 1 ] && { [ -n "$VM" ] || [ -n "$MATRIX" ]; }; then
	die "--background-load runs on this machine only, not with --vm/--matrix"
fi
if [ "$BGLOAD" = 1 ] && ! command -v stress-ng >/dev/null; then
	die "--background-load: stress-ng is not installed (make deps)"
fi
case "$VM_APPEND" in
*ht_from=*) die "--vm-append: ht_from= is the runner's own parameter" ;;
esac
if [ "$COVERAGE" = 1 ] && [ "$IN_VM" = 0 ]; then
	for t in python3 lcov genhtml gcov; do
		command -v "$t" >/dev/null || die "--coverage: $t is not installed (make deps)"
	done
	[ -n "$VM$MATRIX" ] || [ -d "${HT_GCOV_DIR:-/sys/kernel/debug/gcov}" ] ||
		die "--coverage: no ${HT_GCOV_DIR:-/sys/kernel/debug/gcov}: this kernel has no CONFIG_GCOV_KERNEL (or debugfs is not mounted); try --vm=patched-coverage"
fi
