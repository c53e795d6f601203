# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
#
# run_tests.sh --vm / --matrix: sourced by run_tests.sh, uses its options,
# emit(), apply_expect() and finish().  Boots the battery's static build in
# qemu (scripts/vm/boot.sh), reads the guest's records back from the
# results port, and writes the same results/ layout as a local run.
#
# A guest that dies (panic, hang, timeout) fails the case it was in, with
# the console's last lines, and the VM boots again from the next case, so
# no case is silently lost.

VMDIR="$TOP/scripts/vm"
# The runner's own tests put fake programs here.
STATIC_BIN=${HT_STATIC_BIN:-$TOP/build/static/selftests}

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
		cp "$TOP/build/static/stress/refcount_stress" "$1/" || return 1
	fi
	cp "$TOP/run_tests.sh" "$1/"
	cp "$TOP/selftests/settings" "$1/settings"
	printf '%s\n' "$CASES" >"$1/cases"
	# The guest runs the cases listed in /suite/cases from the index given
	# as ht_from= on the kernel command line (a reboot resumes there).
	cat >"$1/guest-run" <<EOF
#!/bin/sh
from=\$(sed -n 's/.*ht_from=\\([0-9]*\\).*/\\1/p' /proc/cmdline)
cd /suite || exit 1
export HT_ALLOW_DESTRUCTIVE=1 HT_PROGRAMS="$PROGRAMS"
exec ./run_tests.sh --in-vm --timeout $TIMEOUT $([ "$STRESS" = 0 ] || echo --stress) \$(tail -n +"\${from:-1}" cases)
EOF
	chmod +x "$1/guest-run"
}

# Turns one guest stream into records; prints the name of a case that
# started and never finished, if any.
vm_collect() { # stream
	tr -d '\r' <"$1" | awk -F'\t' -v recs="$RUN_DIR/records.tsv" '
		/^#@START / { started = substr($0, 9); next }
		/^#@REC\t/ {
			sub(/^#@REC\t/, "")
			print >> recs
			split($0, f, "\t")
			if (f[1] == started) started = ""
			done++
			next
		}
		END { if (started != "") print started }'
}

vm_run_one() { # kernel-name
	K=$1
	info=$("$VMDIR/kernel.sh" "$K") || vm_die "--vm=$K: cannot get the kernel"
	KIMG=$(echo "$info" | sed -n 's/^KERNEL=//p')
	KMOD=$(echo "$info" | sed -n 's/^MODDIR=//p')
	KREL=$(echo "$info" | sed -n 's/^RELEASE=//p')
	KVER=$(echo "$info" | sed -n 's/^VERSION=//p')
	[ -n "$KREL" ] || KREL=$(basename "$KIMG")
	RUN_DIR="$RESULTS_ROOT/$(date -u +%Y%m%dT%H%M%SZ)-$KREL"
	open_run "$K"
	vm_payload "$RUN_DIR/payload" || vm_die "cannot build the VM payload"
	set -- ${KMOD:+--modules "$KMOD"}
	"$VMDIR/initramfs.sh" --payload "$RUN_DIR/payload" \
		--out "$RUN_DIR/initramfs.cpio.gz" "$@" 2>"$RUN_DIR/initramfs.log" ||
		vm_die "initramfs build failed: $(tail -n 1 "$RUN_DIR/initramfs.log")"
	total=$(printf '%s\n' "$CASES" | wc -l)
	echo "TAP version 13"
	echo "# vm: kernel $K ($KREL, $KVER), $VM_NODES nodes; results in $RUN_DIR"
	from=1 boot=0
	: >"$RUN_DIR/dmesg.log"
	while [ "$from" -le "$total" ]; do
		boot=$((boot + 1))
		con="$RUN_DIR/console.$boot.log"
		str="$RUN_DIR/stream.$boot.log"
		"$VMDIR/boot.sh" --kernel "$KIMG" --initrd "$RUN_DIR/initramfs.cpio.gz" \
			--nodes "$VM_NODES" --timeout "$VM_TIMEOUT" \
			--append "ht_from=$from${VM_APPEND:+ $VM_APPEND}" \
			--console "$con" --stream "$str" \
			>"$RUN_DIR/qemu.$boot.log" 2>&1
		qrc=$?
		echo "# vm: boot $boot from case $from: $(tail -n 1 "$RUN_DIR/qemu.$boot.log")"
		cat "$con" >>"$RUN_DIR/dmesg.log"
		before=$(wc -l <"$RUN_DIR/records.tsv")
		dead=$(vm_collect "$str")
		after=$(wc -l <"$RUN_DIR/records.tsv")
		from=$((from + after - before))
		if grep -q '^#@GUEST-EXIT' "$str" && [ -z "$dead" ]; then
			# Only the guest runner's own case follows the battery.
			break
		fi
		if [ -z "$dead" ]; then
			dead=$(printf '%s\n' "$CASES" | sed -n "${from}p")
			[ -n "$dead" ] || break
		fi
		why="guest died (qemu exit $qrc$([ "$qrc" = 124 ] && echo ", timeout ${VM_TIMEOUT}s")) in this case"
		tailc=$(tr -d "\r" <"$con" | grep -aE 'Kernel panic|BUG|Oops|WARNING|RIP:|Call Trace' | tail -n 15)
		[ -n "$tailc" ] || tailc=$(tr -d "\r" <"$con" | tail -n 15)
		printf '%s\t%s\tfail\t%s\t0\t%s\t\t\t\t%s\n' "$dead" "${dead%%:*}" \
			"$why" "$KREL" "$(printf '%s' "$tailc" | sed 's/$/ |/' | tr '\t\n' '  ')" \
			>>"$RUN_DIR/records.tsv"
		from=$((from + 1))
	done
	# Replay the guest's records through the host's expectations.
	mv "$RUN_DIR/records.tsv" "$RUN_DIR/records.guest.tsv"
	: >"$RUN_DIR/records.tsv"
	# Tabs would collapse as IFS whitespace: split on a non-blank byte.
	us=$(printf '\037')
	tr '\t' '\037' <"$RUN_DIR/records.guest.tsv" |
	while IFS="$us" read -r name _ V R dur _ _ pb pa LOG; do
		apply_expect "$name"
		emit "$name" "$V" "$R" "$dur" "$pb" "$pa" "$(printf %s "$LOG" | sed 's/ | /\n/g; s/ |$//')"
	done
	# A case the guest never reported is a failure, not a silent loss.
	printf '%s\n' "$CASES" | while read -r c; do
		[ -n "$c" ] || continue
		cut -f1 "$RUN_DIR/records.tsv" | grep -qxF "$c" && continue
		echo "$c" >>"$RUN_DIR/lost"
	done
	if [ -s "$RUN_DIR/lost" ]; then
		# The replay numbered its cases in a subshell of its own.
		# shellcheck disable=SC2034 # emit() numbers from N
		N=$(wc -l <"$RUN_DIR/records.tsv")
		while read -r c; do
			emit "$c" fail "never reported by the guest" 0 "" "" ""
		done <"$RUN_DIR/lost"
	fi
	# The plan comes last: the guest adds its own runner case, a dead guest
	# may not.
	echo "1..$(wc -l <"$RUN_DIR/records.tsv")"
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
	cat "$out"
	echo "# matrix saved in $out"
}

vm_main() {
	command -v qemu-system-x86_64 >/dev/null ||
		vm_die "qemu-system-x86_64 not installed (make deps)"
	if [ "$LIST" = 0 ] && [ -z "${HT_STATIC_BIN:-}" ]; then
		set --
		for p in $PROGRAMS; do set -- "$@" "build/static/selftests/$p"; done
		[ "$STRESS" = 0 ] || set -- "$@" build/static/stress/refcount_stress
		make -s -C "$TOP" "$@" >&2 || vm_die "static build failed (make static)"
	fi
	CASES=$(vm_cases)
	if [ "$LIST" = 1 ]; then
		[ -z "$CASES" ] || echo "$CASES"
		return 0
	fi
	[ -n "$CASES" ] || vm_die "no case matches:$FILTERS"
	MATRIX_KERNELS=$(echo "${MATRIX:-$VM}" | tr ',' ' ')
	dirs="" anyfail=0 NPASS=0 NFAIL=0 NSKIP=0
	mkdir -p "$RESULTS_ROOT" || vm_die "cannot create $RESULTS_ROOT"
	RUN_DIR_TMP=$(mktemp)
	for k in $MATRIX_KERNELS; do
		vm_run_one "$k" | tee "$RUN_DIR_TMP"
		# vm_run_one ran in the pipeline's subshell: read back its folder.
		d=$(sed -n 's/^# vm: kernel .*; results in //p' "$RUN_DIR_TMP" | head -n 1)
		mv "$RUN_DIR_TMP" "$d/ktap.log"
		python3 "$TOP/scripts/report.py" "$d" || echo "# report.py failed" >&2
		ln -sfn "$(basename "$d")" "$RESULTS_ROOT/latest"
		dirs="$dirs $d"
		p=$(awk -F'\t' '$3=="pass"||$3=="xfail"' "$d/records.tsv" | wc -l)
		f=$(awk -F'\t' '$3=="fail"' "$d/records.tsv" | wc -l)
		s=$(awk -F'\t' '$3=="skip"' "$d/records.tsv" | wc -l)
		NPASS=$((NPASS + p)) NFAIL=$((NFAIL + f)) NSKIP=$((NSKIP + s))
		[ "$f" -eq 0 ] || anyfail=1
	done
	# shellcheck disable=SC2086 # word splitting of the folder list is wanted
	[ -z "$MATRIX" ] || vm_matrix_table $dirs
	rc=$anyfail
	if [ "$BISECT" = 1 ] && [ "$NFAIL" -eq 0 ] && [ "$NPASS" -le 1 ]; then
		rc=125
	fi
	echo "$NPASS passed, $NFAIL failed, $NSKIP skipped"
	return $rc
}
