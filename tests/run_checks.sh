#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# make check: the project's own tests, then the battery against the
# expected outcomes of this machine's kernel and of the VM kernels.
#
#   HT_CHECK_VM=0      skip the VM part (no qemu runs)
#   HT_CHECK_KERNELS   VM kernels to check, each KERNEL[/no-1g][/nodes-N]
#                      (default: debian-6.12/no-1g/nodes-1,debian-6.1)
#
# The stock 6.12 runs on a guest CPU without 1 GiB pages and with one node:
# the expectations must hold on such a machine too (they are keyed on the
# environment the run detects), and every make check shows it.  1 GiB
# pages and two nodes are checked on 6.1 and on the patched kernel, whose
# huge_* twins are stock 6.12's.
#   HT_CHECK_PATCHED=0 skip building and checking the patched kernel
set -u

START=$(date +%s)
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP" || exit 2
N=0 FAILS=0
step() { # name command...
	name=$1
	shift
	N=$((N + 1))
	# One KTAP stream (the runner's format): a step's own output
	# becomes diagnostics.
	log=$(mktemp)
	t0=$(date +%s)
	"$@" >"$log" 2>&1
	rc=$?
	sed 's/^/# /' "$log"
	rm -f "$log"
	# CI has a hard time limit: every step says what it cost.
	echo "# $name: $(($(date +%s) - t0)) s (make check at $(($(date +%s) - START)) s)"
	if [ "$rc" = 0 ]; then
		echo "ok $N $name"
	else
		FAILS=$((FAILS + 1))
		echo "not ok $N $name"
	fi
}

shell_scripts() {
	echo run_tests.sh
	find scripts tests kernel-patches stress -name '*.sh' 2>/dev/null
	echo tests/runner/fake/fake_battery
}

lint_shell() {
	# shellcheck disable=SC2046 # one word per file
	shellcheck -x $(shell_scripts)
}

lint_python() {
	pyflakes3 stress/plot.py tests/plot_test.py stress/bench_split.py \
		tests/bench_split_test.py
}

lint_c() {
	# shellcheck disable=SC2046
	clang-format --dry-run -Werror $(find lib selftests stress tests/unit -name '*.[ch]')
}

results_valid() { # dir
	python3 -m json.tool "$1/results.json" >/dev/null &&
		xmllint --noout --schema tests/runner/junit.xsd "$1/junit.xml" 2>/dev/null &&
		tests/runner/ktap_check.sh "$1/ktap.log"
}

battery_host() {
	./run_tests.sh --expect auto >/tmp/ht-check-host.log 2>&1
	rc=$?
	tail -n 1 /tmp/ht-check-host.log
	grep -E '^ *not ok|^ *# [a-z_]+:.*: ' /tmp/ht-check-host.log | head -n 40
	[ "$rc" = 0 ] && results_valid results/latest
}

battery_vm() { # kernel [run_tests.sh options]
	k=$1
	shift
	./run_tests.sh --vm="$k" --expect auto "$@" >"/tmp/ht-check-$k.log" 2>&1
	rc=$?
	tail -n 1 "/tmp/ht-check-$k.log"
	grep -E '^ *not ok|^ *# [a-z_]+:.*: ' "/tmp/ht-check-$k.log" | head -n 40
	[ "$rc" = 0 ] && results_valid results/latest
}

# The patched kernel's build (make kernel-check, then make kernel: the
# longest part of a cold make check) needs nothing the other steps do:
# it runs from the start, at build.sh's nice 19, beside them, in its own
# process group so that an interrupted make check stops it too.
kernel_pid='' kernel_dir=''
if [ "${HT_CHECK_VM:-1}" = 1 ] && [ "${HT_CHECK_PATCHED:-1}" = 1 ]; then
	kernel_dir=$(mktemp -d)
	# kernel-check first: it walks the prefixes up to the whole series
	# in the object tree that make kernel then only finishes (bzImage,
	# modules).  The other order costs a cold cache one more full
	# build: prefix 1's mm.h differs from the series'.
	# setsid does not fork here (a background job of a shell without
	# job control is no group leader): $! leads the new group.
	# shellcheck disable=SC2016 # expanded by the inner sh
	setsid sh -c 'make -s kernel-check >"$1/check.log" 2>&1
		echo $? >"$1/check.rc"
		make -s kernel >"$1/kernel.log" 2>&1
		echo $? >"$1/kernel.rc"' sh "$kernel_dir" &
	kernel_pid=$!
	trap 'kill -- -"$kernel_pid" 2>/dev/null; rm -rf "$kernel_dir"' EXIT
	trap 'exit 130' INT TERM HUP
fi

# kernel_result check|kernel: the background build's log and status.
kernel_result() {
	cat "$kernel_dir/$1.log"
	[ "$(cat "$kernel_dir/$1.rc" 2>/dev/null)" = 0 ]
}

echo "KTAP version 1"
step "shellcheck" lint_shell
step "clang-format (kernel style)" lint_c
step "functions in lib/, selftests/ and stress/ at most 80 lines" tests/func_len.sh
step "pyflakes (stress/*.py, tests/*_test.py)" lint_python
step "parser unit tests" build/unit/parse_test
step "case names: FIXTURE.{huge,hgm}_{2M,1G}.TEST" tests/case_names.sh
step "stress/README.md option lists = the programs' tables" tests/stress_readme.sh
step "bench plotter (stress/plot.py) on a fixture" tests/plot_test.py
step "bench stream splitter (stress/bench_split.py) on a made-up stream" \
	tests/bench_split_test.py
step "hgm_seq unit tests (model, shrinker, reproducer)" build/unit/seq_test
step "runner tests" tests/runner/test_runner.sh
step "installed as a kselftest collection (run_kselftest.sh)" tests/runner/test_install.sh
step "battery on this kernel ($(uname -r)) vs expected/" battery_host
if [ "${HT_CHECK_VM:-1}" = 1 ]; then
	step "VM runner tests" tests/runner/test_vm.sh
	for e in $(echo "${HT_CHECK_KERNELS:-debian-6.12/no-1g/nodes-1,debian-6.1}" | tr ',' ' '); do
		k=${e%%/*} opts='' env=''
		case "/$e/" in */no-1g/*) opts="--vm-no-1g" env=", no 1 GiB pages" ;; esac
		n=$(printf '%s\n' "$e" | sed -n 's,.*/nodes-\([0-9]*\).*,\1,p')
		[ -z "$n" ] || { opts="$opts --vm-nodes $n" env="$env, $n node(s)"; }
		# shellcheck disable=SC2086 # opts: words
		step "battery in the VM on $k$env vs expected/" battery_vm "$k" $opts
	done
	if [ -n "$kernel_pid" ]; then
		t0=$(date +%s)
		wait "$kernel_pid"
		echo "# the kernel builds ended at $(($(date +%s) - START)) s; waited $(($(date +%s) - t0)) s for them"
		step "every patch builds alone, checkpatch clean (make kernel-check)" \
			kernel_result check
		step "patched kernel builds (make kernel)" kernel_result kernel
		step "battery in the VM on the patched kernel vs expected/" \
			battery_vm patched
	fi
fi
echo "1..$N"
echo "# $((N - FAILS)) passed, $FAILS failed"
[ "$FAILS" = 0 ]
