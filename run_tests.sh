#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Runs the HugeTLB/HGM battery on the running kernel (default) or in a VM
# (--vm), one harness case at a time, and writes one KTAP stream (stdout
# and results/.../ktap.log) from which scripts/report.py derives JSON,
# JUnit and the summary.  POSIX sh: the same script runs inside the VM's
# busybox initramfs.  See --help and README.md.
#
# The work is done by the parts in scripts/runner/, one job each, sourced
# below in this order: options.sh (the command line), programs.sh (the
# programs, the cases, the environment), state.sh (machine state, kernel
# log), case.sh (one case), expect.sh (expected outcomes), ktap.sh (the
# KTAP stream, reports), local.sh (a run on this machine); --vm and
# --matrix add scripts/vm/run_in_vm.sh.  Each part's header lists its
# inputs and outputs.

set -u

ME=run_tests.sh
TOP=$(cd "$(dirname "$0")" && pwd)

usage() {
	cat <<'USAGE'
Usage: run_tests.sh [OPTIONS] [FILTER...]

Runs the battery, one case at a time, on the running kernel or in a VM.
FILTER is a shell glob on case names ("program:FIXTURE.VARIANT.TEST" or
"FIXTURE.VARIANT.TEST"); several filters are OR'ed; none means all.

  -h, --help             this text
  -l, --list             list the selected cases, one per line, and exit
  --results DIR          results root (default: results/ next to this script)
  --expect FILE|auto     compare with an expected-outcome file; a deviation
                         is a failure ("auto": expected/<kernel id>.txt);
                         expected/environment.txt always applies with it
  --bisect               exit 0 good, 1 bad, 125 when everything skipped
                         (interrupted: 128+signal, which aborts git bisect)
  --timeout SECONDS      per-case timeout (default: settings, case_timeout=;
                         a case that declares a longer one gets its own)
  --allow-destructive    run hwpoison cases on this machine (default: VM only)
  --stress               also run the long refcount-overflow stress
  --fuzz SECONDS         also run hgm_seq, the random sequence tester, for
                         SECONDS (fuzz:hgm_seq; results/.../fuzz*)
  --fuzz-seed N          its first sequence's seed (default: from the clock;
                         the same N replays the same sequences)
  --fuzz-more-ops        hgm_seq --more-ops: GUP writes (process_vm_writev)
                         and reads through vmsplice() pins too
  --fuzz-page-size SIZE  hgm_seq --page-size: 2M (default) or 1G
  --background-load      run the battery under stress-ng load (stress/*.job)
  --coverage             kernel gcov counters at the end (each boot with
                         --vm; the kernel needs CONFIG_GCOV_KERNEL, e.g.
                         --vm=patched-coverage): results/.../coverage/
  --vm[=KERNEL]          run in qemu; KERNEL: debian-6.12 (default),
                         debian-6.1, patched, patched-debug,
                         patched-coverage, or PATH[:MODDIR]
                         to a bzImage
  --vm-nodes N           NUMA nodes with memory in the VM (default 2)
  --vm-no-1g             VM CPU without 1 GiB pages (-cpu ...,-pdpe1gb)
  --vm-timeout SECONDS   the guest is stopped (its case fails) when it sends
                         nothing for SECONDS (default 3600; a case writes at
                         its start and end; with --fuzz at least FUZZ+1200)
  --vm-append ARGS       extra guest kernel command line arguments
  --matrix K1,K2,...     run in the VM on each kernel; one KTAP document
                         with a subtest per kernel, and a table
USAGE
}

die() {
	echo "$ME: $*" >&2
	exit 2
}

# The parts sit in scripts/runner/ next to this script in every layout:
# the source tree, the installed collection (scripts/install.sh) and the
# VM's /suite (vm_payload).  Options first: --help and bad input end the
# run before anything else is looked at.
[ -d "$TOP/scripts/runner" ] || die "no scripts/runner/ next to $ME"
# shellcheck source=scripts/runner/options.sh
. "$TOP/scripts/runner/options.sh"
# shellcheck source=scripts/runner/programs.sh
. "$TOP/scripts/runner/programs.sh"
# shellcheck source=scripts/runner/state.sh
. "$TOP/scripts/runner/state.sh"
# shellcheck source=scripts/runner/case.sh
. "$TOP/scripts/runner/case.sh"
# shellcheck source=scripts/runner/expect.sh
. "$TOP/scripts/runner/expect.sh"
# shellcheck source=scripts/runner/ktap.sh
. "$TOP/scripts/runner/ktap.sh"
# shellcheck source=scripts/runner/local.sh
. "$TOP/scripts/runner/local.sh"

# ---- main ------------------------------------------------------------------
KREL=$(uname -r)
CASE_PID="" CUR="" SNAP="" LOG0=0 d0=0 b=""
if [ -n "$VM" ] || [ "$MATRIX_SET" = 1 ]; then
	# shellcheck source=scripts/vm/run_in_vm.sh
	. "$TOP/scripts/vm/run_in_vm.sh"
	vm_main
	exit $?
fi

if [ "$IN_VM" = 1 ]; then
	RUN_DIR=/tmp/results
else
	RUN_DIR="$RESULTS_ROOT/$(date -u +%Y%m%dT%H%M%SZ)-$KREL"
fi
pick_expect "$(kernel_id)"
ensure_built
CASES=$(list_cases) || exit 2
if [ "$LIST" = 1 ]; then
	[ -z "$CASES" ] || echo "$CASES"
	exit 0
fi
[ -n "$CASES" ] || die "no case matches:$FILTERS"
# Before the probes: the 1 GiB run-time probe resizes a pool.
[ "$(id -u)" != 0 ] || take_machine_lock
mkdir -p "$RUN_DIR/out" || die "cannot create $RUN_DIR"
: >"$RUN_DIR/records.tsv"
: >"$RUN_DIR/ktap.log"
KTAP_FILE="$RUN_DIR/ktap.log"
PLAN="$RUN_DIR/plan"
plan_build "$CASES"
ENV_FACTS=$(detect_env)

if [ "$(id -u)" = 0 ]; then
	SNAP="$RUN_DIR/state.before"
	snapshot "$SNAP"
fi
trap 'on_signal INT 130' INT
trap 'on_signal TERM 143' TERM
trap 'on_signal HUP 129' HUP
trap 'restore "$SNAP"' EXIT

LOG0=$(log_lines)
HWC0=$(hw_corrupted_kb)
if ! run_local; then
	# In the guest after a fatal complaint: the host reboots.
	exit 0
fi
check_restored
if [ "$COVERAGE" = 1 ]; then
	"$TOP/scripts/gcov_dump.sh" >"$RUN_DIR/gcov.stream"
	coverage_report "$RUN_DIR" "$RUN_DIR/gcov.stream"
fi
finish
