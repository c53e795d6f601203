# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
# shellcheck disable=SC2034,SC2153 # state shared with run_tests.sh
#
# run_tests.sh --vm / --matrix: sourced by run_tests.sh after its options
# are checked; uses its expectations (pick_expect, apply_expect:
# scripts/runner/expect.sh) and its KTAP output (plan_build, begin_case,
# emit_case, ktap_totals: scripts/runner/ktap.sh).  Boots the
# battery's static build in qemu (scripts/vm/boot.sh), reads the guest's
# records from the results port while the guest runs, and writes the same
# results/ layout as a local run.
#
# A guest that dies (panic, hang, timeout) fails the case it was in, with
# the console's last lines; a guest that saw a fatal kernel complaint
# (Oops, BUG, lockdep, KASAN) stops after that case.  Either way the VM
# boots again from the next case, so one kernel bug costs one case.

VMDIR="$TOP/scripts/vm"
# Static builds: build/static/ in the source tree, static/ where
# installed (scripts/install.sh); the runner's own tests put fake
# programs in HT_STATIC_BIN.
if [ -f "$TOP/Makefile" ]; then
	STATIC_BIN=${HT_STATIC_BIN:-$TOP/build/static/selftests}
	STATIC_STRESS=$TOP/build/static/stress/refcount_stress
	STATIC_FUZZ=$TOP/build/static/stress/hgm_seq
else
	STATIC_BIN=${HT_STATIC_BIN:-$TOP/static}
	STATIC_STRESS=$TOP/static/refcount_stress
	STATIC_FUZZ=$TOP/static/hgm_seq
fi
# How often the host reads the results port while the guest runs.
VM_POLL=${HT_VM_POLL:-2}

vm_die() {
	echo "$ME: $*" >&2
	exit 2
}

# Cases, in the order the guest runs them, from the static binaries.
vm_cases() {
	# shellcheck disable=SC2034 # list_cases reads BIN
	BIN=$STATIC_BIN
	list_cases
}

vm_payload() { # dir
	rm -rf "$1"
	mkdir -p "$1"
	for p in $PROGRAMS; do
		cp "$STATIC_BIN/$p" "$1/" || return 1
	done
	if [ "$STRESS" = 1 ]; then
		cp "$STATIC_STRESS" "$1/" || return 1
	fi
	if [ "$FUZZ" != 0 ]; then
		cp "$STATIC_FUZZ" "$1/" || return 1
	fi
	cp "$TOP/run_tests.sh" "$COMPLAINTS" "$1/"
	# The runner's parts, where its TOP (/suite) looks for them.
	mkdir -p "$1/scripts/runner"
	cp "$TOP"/scripts/runner/*.sh "$1/scripts/runner/" || return 1
	[ "$COVERAGE" = 0 ] || cp "$TOP/scripts/gcov_dump.sh" "$1/" || return 1
	# The programs' own settings where they bring them (the runner's fake
	# battery does), else the battery's.
	if [ -r "$STATIC_BIN/settings" ]; then
		cp "$STATIC_BIN/settings" "$1/settings"
	elif [ -r "$TOP/selftests/settings" ]; then
		cp "$TOP/selftests/settings" "$1/settings"
	else
		cp "$TOP/settings" "$1/settings" # installed layout
	fi
	printf '%s\n' "$CASES" >"$1/cases"
	# The guest runs the cases listed in /suite/cases from the index given
	# as ht_from= on the kernel command line (a reboot resumes there).
	cat >"$1/guest-run" <<EOF
#!/bin/sh
from=\$(sed -n 's/.*ht_from=\\([0-9]*\\).*/\\1/p' /proc/cmdline)
cd /suite || exit 1
export HT_ALLOW_DESTRUCTIVE=1 HT_PROGRAMS="$PROGRAMS"
./run_tests.sh --in-vm --timeout $TIMEOUT $([ "$STRESS" = 0 ] || echo --stress) --fuzz $FUZZ $([ -z "$FUZZ_SEED" ] || echo --fuzz-seed "$FUZZ_SEED") $([ "$FUZZ_MORE" = 0 ] || echo --fuzz-more-ops) $([ -z "$FUZZ_PSIZE" ] || echo --fuzz-page-size "$FUZZ_PSIZE") \$(tail -n +"\${from:-1}" cases)
rc=\$?
$([ "$COVERAGE" = 0 ] || echo "./gcov_dump.sh")
exit \$rc
EOF
	chmod +x "$1/guest-run"
}

# One guest record ("#@REC" line without the prefix): expectations, then
# the KTAP result.  The guest's own state check is folded into one
# runner:state_restored at the end.
vm_record() { # tab-separated record
	us=$(printf '\037')
	oldifs=$IFS
	IFS=$us
	set -f
	# shellcheck disable=SC2046 # split on the unit separator on purpose
	set -- $(printf '%s' "$1" | tr '\t' "$us")
	set +f
	IFS=$oldifs
	name=$1 V=$3 R=$4 dur=$5 pb=$8 pa=$9 LOG=${10:-} D=${11:-}
	case "$name" in
	runner:*)
		[ "$V" != fail ] || RUNNER_WHY="${RUNNER_WHY:+$RUNNER_WHY; }boot $BOOT: $R"
		return 0 ;;
	esac
	STARTED=""
	apply_expect "$name"
	emit_case "$name" "$V" "$R" "$D" "$dur" "$pb" "$pa" \
		"$(printf %s "$LOG" | sed 's/ | /\n/g; s/ |$//')"
}

# One line of a file the guest sent (scripts/runner/case.sh send_files):
# "name<TAB>line", appended to RUN_DIR/fuzz/name.
vm_file() { # name<TAB>line
	name=${1%%"$(printf '\t')"*}
	case "$name" in '' | .* | *[!A-Za-z0-9._-]*) return 0 ;; esac
	mkdir -p "$RUN_DIR/fuzz" || return 0
	printf '%s\n' "${1#*"$(printf '\t')"}" >>"$RUN_DIR/fuzz/$name"
}

# Handles the complete lines the guest wrote since the last call.
vm_drain() { # stream file
	[ -r "$1" ] || return 0
	n=$(wc -l <"$1")
	[ "$n" -gt "$SEEN" ] || return 0
	tr -d '\r' <"$1" | sed -n "$((SEEN + 1)),${n}p" >"$RUN_DIR/chunk"
	SEEN=$n
	while IFS= read -r line; do
		case "$line" in
		"#@ENV "*)
			[ -z "$ENV_FACTS" ] || continue
			ENV_FACTS=${line#"#@ENV "}
			i0=$IND
			IND=""
			say "# environment: $ENV_FACTS"
			IND=$i0 ;;
		"#@START "*)
			STARTED=${line#"#@START "}
			begin_case
			say "# RUN $STARTED ($((K + 1))/$TOTAL, $((TOTAL - K - 1)) left after it, $(($(date +%s) - VM_T0)) s elapsed, boot $BOOT)" ;;
		"#@REC	"*) vm_record "${line#"#@REC	"}" ;;
		"#@FILE "*) vm_file "${line#"#@FILE "}" ;;
		"#@REBOOT"*) REBOOT=1 ;;
		esac
	done <"$RUN_DIR/chunk"
	rm -f "$RUN_DIR/chunk"
}

# A dead guest fails the case it was in (or the next one) with the
# console's kernel lines.
vm_dead_case() { # case qemu-exit console
	why="guest died (qemu exit $2$([ "$2" = 124 ] && echo ", nothing from the guest for ${IDLE}s")) in this case"
	tailc=$(tr -d "\r" <"$3" | grep -aE 'Kernel panic|BUG|Oops|WARNING|RIP:|Call Trace' | tail -n 15)
	[ -n "$tailc" ] || tailc=$(tr -d "\r" <"$3" | tail -n 15)
	STARTED=""
	V=fail R=$why D=ERROR LOG=$tailc
	apply_expect "$1"
	emit_case "$1" "$V" "$R" "$D" "" "" "" "$tailc"
}

vm_run_one() { # kernel-name
	VK=$1
	K=0 BEGUN=0 NPASS=0 NFAIL=0 NSKIP=0 NXFAIL=0 NERR=0 NNOTRUN=0
	ENV_FACTS="" RUNNER_WHY="" STARTED="" BOOT=0 PLAN_READY=0 str=""
	info=$("$VMDIR/kernel.sh" "$VK" 2>"$RESULTS_ROOT/.kernel.$$.log") ||
		vm_die "--vm=$VK: $(tail -n 1 "$RESULTS_ROOT/.kernel.$$.log")"
	rm -f "$RESULTS_ROOT/.kernel.$$.log"
	KIMG=$(echo "$info" | sed -n 's/^KERNEL=//p')
	KMOD=$(echo "$info" | sed -n 's/^MODDIR=//p')
	KREL=$(echo "$info" | sed -n 's/^RELEASE=//p')
	KVER=$(echo "$info" | sed -n 's/^VERSION=//p')
	[ -n "$KREL" ] || KREL=$(basename "$KIMG")
	RUN_DIR="$RESULTS_ROOT/$(date -u +%Y%m%dT%H%M%SZ)-$KREL"
	mkdir -p "$RUN_DIR" || vm_die "cannot create $RUN_DIR"
	: >"$RUN_DIR/records.tsv"
	: >"$RUN_DIR/ktap.log"
	: >"$RUN_DIR/dmesg.log"
	KTAP_FILE="$RUN_DIR/ktap.log"
	PLAN="$RUN_DIR/plan"
	pick_expect "$VK"
	plan_build "$CASES"
	vm_payload "$RUN_DIR/payload" || vm_die "cannot build the VM payload"
	set -- ${KMOD:+--modules "$KMOD"}
	"$VMDIR/initramfs.sh" --payload "$RUN_DIR/payload" \
		--out "$RUN_DIR/initramfs.cpio.gz" "$@" 2>"$RUN_DIR/initramfs.log" ||
		vm_die "initramfs build failed: $(tail -n 1 "$RUN_DIR/initramfs.log")"
	TOTAL=$((NPLAN - 1))
	ktap_header "kernel $KREL; vm: $VK ($KVER), $VM_NODES nodes$([ "$VM_NO_1G" = 0 ] || echo ", CPU without 1 GiB pages"); $TOTAL cases in $((NPROGS - 1)) programs; results in $RUN_DIR"
	PLAN_READY=1
	VM_T0=$(date +%s)
	# Kernel BUGs and Oopses panic, so that a damaged kernel runs nothing
	# more; the runner in the guest ends the boot at lockdep and KASAN.
	vm_append="oops=panic${VM_APPEND:+ $VM_APPEND}"
	no1g=""
	[ "$VM_NO_1G" = 0 ] || no1g=--no-1g
	# KASAN's shadow (an eighth of memory) cuts node 0's 1 GiB-aligned
	# ranges up in a 6 GiB guest: the debug flavour gets 8 GiB, so that
	# each node holds its boot-time 1 GiB page (hugepages_1G_every_node).
	mem_mb=${HT_VM_MEM_MB:-}
	[ -n "$mem_mb" ] || [ "$VK" != patched-debug ] || mem_mb=8192
	# --vm-timeout bounds the guest's silence on the results port (it
	# writes when a case starts and ends), not the boot: a whole battery
	# on the debug flavour takes hours in one boot.  A fuzz case is
	# silent for its budget and its shrinking.
	IDLE=$VM_TIMEOUT
	[ "$FUZZ" = 0 ] || [ $((FUZZ + 1200)) -le "$IDLE" ] || IDLE=$((FUZZ + 1200))
	while [ "$K" -lt "$TOTAL" ]; do
		BOOT=$((BOOT + 1))
		con="$RUN_DIR/console.$BOOT.log"
		str="$RUN_DIR/stream.$BOOT.log"
		SEEN=0 REBOOT=0
		# boot.sh's own limit only backs the watchdog below up.
		"$VMDIR/boot.sh" --kernel "$KIMG" --initrd "$RUN_DIR/initramfs.cpio.gz" \
			--nodes "$VM_NODES" --timeout $((IDLE * (TOTAL - K + 1))) \
			${mem_mb:+--mem-mb "$mem_mb"} \
			${no1g:+"$no1g"} \
			--append "ht_from=$((K + 1)) $vm_append" \
			--console "$con" --stream "$str" \
			>"$RUN_DIR/qemu.$BOOT.log" 2>&1 </dev/null &
		BOOT_PID=$!
		# Results as they arrive; the signal handler runs between polls.
		heard=$(date +%s) seen0=0 silent=0
		while kill -0 "$BOOT_PID" 2>/dev/null; do
			sleep "$VM_POLL"
			vm_drain "$str"
			if [ "$SEEN" != "$seen0" ]; then
				seen0=$SEEN heard=$(date +%s)
			elif [ $(($(date +%s) - heard)) -gt "$IDLE" ] && [ "$silent" = 0 ]; then
				silent=1
				kill -TERM "$BOOT_PID" 2>/dev/null
			fi
		done
		wait "$BOOT_PID"
		qrc=$?
		[ "$silent" = 0 ] || qrc=124
		BOOT_PID=""
		vm_drain "$str"
		say "# vm: boot $BOOT ended: $(tail -n 1 "$RUN_DIR/qemu.$BOOT.log")"
		cat "$con" >>"$RUN_DIR/dmesg.log"
		[ "$K" -lt "$TOTAL" ] || break
		if [ -n "$STARTED" ]; then
			vm_dead_case "$STARTED" "$qrc" "$con"
		elif [ "$REBOOT" = 0 ]; then
			# Died between cases, or before the first: the next one
			# takes the blame, so that no case is silently lost.
			vm_dead_case "$(plan_field $((K + 1)) 1)" "$qrc" "$con"
		fi
	done
	if [ -z "$RUNNER_WHY" ]; then
		emit_case runner:state_restored pass "" "" "" "" "" ""
	else
		emit_case runner:state_restored fail "$RUNNER_WHY" "" "" "" "" ""
	fi
	if [ "$COVERAGE" = 1 ]; then
		set --
		b=0
		while [ "$b" -lt "$BOOT" ]; do
			b=$((b + 1))
			set -- "$@" "$RUN_DIR/stream.$b.log"
		done
		coverage_report "$RUN_DIR" "$@"
	fi
	ktap_totals
	say "# $NPASS passed, $NFAIL failed, $NSKIP skipped"
	make_reports "$RUN_DIR"
	PLAN_READY=0
}

vm_matrix_table() { # kernel dirs...
	out="$RESULTS_ROOT/$(date -u +%Y%m%dT%H%M%SZ)-matrix.txt"
	{
		printf '%-70s' case
		for k in $MATRIX_KERNELS; do printf ' %-12s' "$k"; done
		echo
		cut -f1 "$1/records.tsv" | while read -r c; do
			printf '%-70s' "$c"
			for d in "$@"; do
				v=$(awk -F'\t' -v c="$c" '$1 == c { print $3 }' "$d/records.tsv")
				printf ' %-12s' "${v:--}"
			done
			echo
		done
	} >"$out"
	IND=""
	say "# matrix of cases x kernels, saved in $out:"
	say_lines "# " "$(cat "$out")"
}

# Counters of the whole --matrix document.
vm_add_counts() {
	MP=$((MP + NPASS)) MF=$((MF + NFAIL)) MS=$((MS + NSKIP))
	MX=$((MX + NXFAIL)) ME=$((ME + NERR)) MN=$((MN + NNOTRUN))
}

vm_kernel_result() { # index kernel
	BASE_IND="" IND="" KTAP_FILE=""
	if [ "$NFAIL" -gt 0 ] || [ "$NNOTRUN" -gt 0 ]; then
		say "not ok $1 $2"
	else
		say "ok $1 $2"
	fi
}

vm_on_signal() { # signal name, exit status
	trap '' INT TERM HUP
	echo "$ME: interrupted by SIG$1: stopping the VM" >&2
	if [ -n "${BOOT_PID:-}" ]; then
		# boot.sh's own handler kills qemu and removes its files.
		kill -TERM "$BOOT_PID" 2>/dev/null
		wait "$BOOT_PID" 2>/dev/null
	fi
	if [ "${PLAN_READY:-0}" = 1 ]; then
		vm_drain "$str"
		[ -z "$STARTED" ] ||
			emit_case "$STARTED" fail "interrupted by SIG$1" ERROR "" "" "" ""
		emit_not_run
		emit_case runner:state_restored pass "" "" "" "" "" ""
		ktap_totals
		say "# interrupted by SIG$1: $NPASS passed, $NFAIL failed, $NSKIP skipped, $NNOTRUN not run"
		make_reports "$RUN_DIR"
		vm_add_counts
		[ "$MATRIX_SET" = 0 ] || vm_kernel_result "$MI" "$VK"
	fi
	if [ "$MATRIX_SET" = 1 ]; then
		# Kernels the matrix never reached.
		i=0
		for k in $MATRIX_KERNELS; do
			i=$((i + 1))
			[ "$i" -gt "$MI" ] || continue
			BASE_IND="" IND="" KTAP_FILE=""
			say "not ok $i $k # ERROR not run: the run was interrupted"
		done
	fi
	if [ "$MATRIX_SET" = 1 ] || [ "${PLAN_READY:-0}" = 0 ]; then
		BASE_IND="" IND="" KTAP_FILE=""
		NPASS=$MP NFAIL=$MF NSKIP=$MS NXFAIL=$MX NERR=$ME NNOTRUN=$MN
		[ "$MATRIX_SET" = 0 ] || ktap_totals
		say "# interrupted by SIG$1: $NPASS passed, $NFAIL failed, $NSKIP skipped, $NNOTRUN not run"
	fi
	exit "$2"
}

vm_main() {
	command -v qemu-system-x86_64 >/dev/null ||
		vm_die "qemu-system-x86_64 not installed (make deps)"
	if [ -z "${HT_STATIC_BIN:-}" ] && [ -f "$TOP/Makefile" ]; then
		set --
		for p in $PROGRAMS; do set -- "$@" "build/static/selftests/$p"; done
		[ "$STRESS" = 0 ] || set -- "$@" build/static/stress/refcount_stress
		[ "$FUZZ" = 0 ] || set -- "$@" build/static/stress/hgm_seq
		mkdir -p "$TOP/build"
		# one make at a time: a concurrent run's relink would leave
		# this one listing a half-written binary
		flock "$TOP/build/.make.lock" make -s -C "$TOP" "$@" \
			>"$TOP/build/static.log" 2>&1 ||
			vm_die "static build failed: see build/static.log (make static)"
	fi
	CASES=$(vm_cases) || exit 2
	if [ "$LIST" = 1 ]; then
		[ -z "$CASES" ] || echo "$CASES"
		return 0
	fi
	[ -n "$CASES" ] || vm_die "no case matches:$FILTERS"
	MATRIX_KERNELS=$(echo "${MATRIX:-$VM}" | tr ',' ' ')
	mkdir -p "$RESULTS_ROOT" || vm_die "cannot create $RESULTS_ROOT"
	MP=0 MF=0 MS=0 MX=0 ME=0 MN=0 MI=0 BOOT_PID="" PLAN_READY=0
	trap 'vm_on_signal INT 130' INT
	trap 'vm_on_signal TERM 143' TERM
	trap 'vm_on_signal HUP 129' HUP
	if [ "$MATRIX_SET" = 1 ]; then
		say "KTAP version 1"
		say "# matrix: $(echo "$MATRIX_KERNELS" | wc -w) kernels, one subtest each"
		say "1..$(echo "$MATRIX_KERNELS" | wc -w)"
	fi
	dirs=""
	for k in $MATRIX_KERNELS; do
		MI=$((MI + 1))
		[ "$MATRIX_SET" = 0 ] || BASE_IND="  "
		vm_run_one "$k"
		dirs="$dirs $RUN_DIR"
		vm_add_counts
		[ "$MATRIX_SET" = 0 ] || vm_kernel_result "$MI" "$k"
	done
	BASE_IND="" IND="" KTAP_FILE=""
	if [ "$MATRIX_SET" = 1 ]; then
		# shellcheck disable=SC2086 # word splitting of the folder list is wanted
		vm_matrix_table $dirs
		NPASS=$MP NFAIL=$MF NSKIP=$MS NXFAIL=$MX NERR=$ME NNOTRUN=$MN
		ktap_totals
	fi
	rc=0
	[ "$MF" -eq 0 ] || rc=1
	if [ "$BISECT" = 1 ] && [ "$MF" -eq 0 ] && [ "$MP" -le 1 ]; then
		rc=125
	fi
	[ "$MATRIX_SET" = 0 ] || say "# $MP passed, $MF failed, $MS skipped"
	return $rc
}
