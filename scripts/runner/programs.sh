# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
#
# run_tests.sh, part 2 of 7: the battery's programs and the machine.
# Where the programs and settings are (source tree, installed layout, VM
# payload), the per-case timeout, building what is missing, listing the
# selected cases, and the environment facts expectations are keyed on.
#
# INPUTS   TOP; TIMEOUT STRESS FUZZ FILTERS DESTRUCTIVE, is_uint (options.sh);
#          die (run_tests.sh); ENV_FACTS (main, or vm_drain) for has_fact;
#          environment HT_BIN, HT_PROGRAMS, HT_ALLOW_DESTRUCTIVE, HT_ENV.
# OUTPUTS  BIN SETTINGS PROGRAMS STRESS_BIN FUZZ_BIN, TIMEOUT (its default);
#          functions settings_get, ensure_built, list_cases, list_battery,
#          detect_env, has_fact.

# ---- where the programs are ------------------------------------------------
# Source tree: build/; installed layout or VM payload: next to this script.
if [ -n "${HT_BIN:-}" ]; then
	BIN=$HT_BIN # the runner's own tests point it at fake programs
	SETTINGS="$BIN/settings"
elif [ -d "$TOP/selftests" ] && [ -f "$TOP/Makefile" ]; then
	BIN="$TOP/build/selftests"
	SETTINGS="$TOP/selftests/settings"
else
	BIN="$TOP"
	SETTINGS="$TOP/settings"
fi
# The battery's programs, in order: selftests/programs (source tree) or
# programs next to them (installed); the VM guest gets HT_PROGRAMS.
if [ -z "${HT_PROGRAMS:-}" ]; then
	for f in "$TOP/selftests/programs" "$BIN/programs"; do
		[ -r "$f" ] && HT_PROGRAMS=$(cat "$f") && break
	done
fi
[ -n "${HT_PROGRAMS:-}" ] || die "no selftests/programs (the list of programs) next to $ME"
PROGRAMS=$(printf '%s\n' "$HT_PROGRAMS" | tr '\n' ' ' | sed 's/ *$//')

settings_get() {
	[ -r "$SETTINGS" ] || return 1
	v=$(sed -n "s/^$1=//p" "$SETTINGS" | tail -n 1)
	[ -n "$v" ] && echo "$v"
}
# "timeout=" is per program for run_kselftest.sh; the runner's per-case
# limit is "case_timeout=" when the file has one.
[ -n "$TIMEOUT" ] || TIMEOUT=$(settings_get case_timeout) ||
	TIMEOUT=$(settings_get timeout) || true
is_uint "${TIMEOUT:-}" || TIMEOUT=300

STRESS_BIN="$TOP/build/stress/refcount_stress"
[ -x "$STRESS_BIN" ] || STRESS_BIN="$TOP/refcount_stress"
FUZZ_BIN="$TOP/build/stress/hgm_seq"
[ -x "$FUZZ_BIN" ] || FUZZ_BIN="$TOP/hgm_seq"

ensure_built() {
	for p in $PROGRAMS; do
		[ -x "$BIN/$p" ] && continue
		[ -f "$TOP/Makefile" ] || die "missing program $BIN/$p"
		echo "# building the battery (make)" >&2
		mkdir -p "$TOP/build"
		flock "$TOP/build/.make.lock" make -s -C "$TOP" all >&2 ||
			die "build failed: run 'make' to see why"
		break
	done
	[ "$STRESS" = 0 ] || [ -x "$STRESS_BIN" ] ||
		die "--stress: no refcount_stress next to the battery (make)"
	[ "$FUZZ" = 0 ] || [ -x "$FUZZ_BIN" ] ||
		die "--fuzz: no hgm_seq next to the battery (make)"
}

# Every case as "program:FIXTURE.VARIANT.TEST", filtered; with --stress the
# refcount-overflow stress (processes x max_map_count VMAs) comes last, and
# with --fuzz the random sequence tester after it.
list_cases() {
	list_battery
	[ "$STRESS" = 0 ] || echo "stress:refcount_overflow"
	[ "$FUZZ" = 0 ] || echo "fuzz:hgm_seq"
}

# A program that cannot list its cases stops the run (exit 2, one line on
# stderr): its cases must not silently drop out of the plan (a binary
# relinked by a concurrent make, say).
list_battery() {
	for p in $PROGRAMS; do
		names=$("$BIN/$p" --list-cases 2>/dev/null) || names=""
		if [ -z "$names" ]; then
			echo "run_tests.sh: $BIN/$p --list-cases failed: rebuild it (make)" >&2
			exit 2
		fi
		printf '%s\n' "$names" | while read -r c; do
			name="$p:$c"
			if [ -z "$FILTERS" ]; then
				echo "$name"
				continue
			fi
			for f in $FILTERS; do
				# shellcheck disable=SC2254
				case "$name" in $f) echo "$name"; break ;; esac
				# shellcheck disable=SC2254
				case "$c" in $f) echo "$name"; break ;; esac
			done
		done
	done
}

# ---- environment -----------------------------------------------------------
# Facts about the machine the cases run on that decide whether a case can
# run at all.  Expectations about resources are keyed on these, not on a
# file written for another machine (expected/environment.txt).  Printed
# as words; a fact that is absent is simply not in the list.
# Every memory node has a free 1 GiB page, or can get one at run time: what
# the 1 GiB cases that move a page between nodes need.  Not so in a guest
# whose node 0 KASAN's shadow has cut up: the boot-time pages asked for
# node 0 land on node 1.
has_1g_every_node() {
	[ -d /sys/kernel/mm/hugepages/hugepages-1048576kB ] || return 1
	set -- /sys/devices/system/node/node*/hugepages/hugepages-1048576kB
	[ -d "$1" ] || set -- /sys/kernel/mm/hugepages/hugepages-1048576kB
	for d in "$@"; do
		read -r fr <"$d/free_hugepages" || return 1
		[ "$fr" -ge 1 ] && continue
		[ "$(id -u)" = 0 ] && grows_by_one "$d" || return 1
	done
}

# Can the pool in sysfs directory $1 take one more page now?  The count is
# put back.
grows_by_one() { # dir
	read -r was <"$1/nr_hugepages" || return 1
	echo $((was + 1)) >"$1/nr_hugepages" 2>/dev/null
	read -r got <"$1/nr_hugepages"
	echo "$was" >"$1/nr_hugepages" 2>/dev/null
	[ "$got" -gt "$was" ]
}

# One more 1 GiB page on every node (or globally without node pools), at
# run time, then the count put back: what the 1 GiB cases that grow a pool
# first need (pool_sysfs).  Measured only when such a program runs.
probe_1g_runtime() {
	[ "$(id -u)" = 0 ] || return 1
	[ -d /sys/kernel/mm/hugepages/hugepages-1048576kB ] || return 1
	set -- /sys/devices/system/node/node*/hugepages/hugepages-1048576kB
	[ -d "$1" ] || set -- /sys/kernel/mm/hugepages/hugepages-1048576kB
	ok=1
	for d in "$@"; do
		[ -r "$d/nr_hugepages" ] || return 1
		grows_by_one "$d" || ok=0
	done
	[ "$ok" = 1 ]
}

detect_env() {
	f=""
	for s in 2048:hugepages_2M 1048576:hugepages_1G; do
		[ -d "/sys/kernel/mm/hugepages/hugepages-${s%%:*}kB" ] && f="$f ${s#*:}"
	done
	n=0
	for d in /sys/devices/system/node/node[0-9]*; do
		[ -r "$d/meminfo" ] || continue
		awk '/MemTotal:/ { exit !($4 > 0) }' "$d/meminfo" && n=$((n + 1))
	done
	[ "$n" -gt 0 ] || n=1 # no NUMA in the kernel: one node
	[ "$n" -lt 2 ] || f="$f nodes_2"
	f="$f memory_nodes=$n"
	[ "$(id -u)" != 0 ] || f="$f root"
	[ -r /dev/kvm ] && [ -w /dev/kvm ] && f="$f kvm"
	{ [ "$DESTRUCTIVE" = 1 ] || [ "${HT_ALLOW_DESTRUCTIVE:-}" = 1 ]; } &&
		f="$f destructive"
	grep -qw pdpe1gb /proc/cpuinfo 2>/dev/null && f="$f cpu_pdpe1gb"
	case " $PROGRAMS " in
	*" pool_sysfs "*) probe_1g_runtime && f="$f hugepages_1G_runtime" ;;
	esac
	has_1g_every_node && f="$f hugepages_1G_every_node"
	# The runner's own tests pretend to be other machines.
	[ -z "${HT_ENV:-}" ] || f=$HT_ENV
	echo "${f# }"
}

has_fact() { # fact
	case " $ENV_FACTS " in *" $1 "*) return 0 ;; esac
	return 1
}
