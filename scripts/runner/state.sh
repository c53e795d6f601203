# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
# shellcheck disable=SC2034 # set here, read by the other parts
#
# run_tests.sh, part 3 of 7: the machine's state and the kernel log.
# Snapshots the HugeTLB pools, sysctls, mounts and the cgroup2 hugetlb
# controller's delegation, puts them back after each case (removing the
# cgroups a case left), and compares them at the end (the runner's own
# case runner:state_restored); watches the kernel log for the complaints
# lib/complaints.h lists and the taint flags.
#
# INPUTS   TOP ME, die (run_tests.sh); SNAP RUN_DIR HWC0 (main);
#          IND, say, emit_case (ktap.sh); sanitize (case.sh).
# OUTPUTS  NODE_POOLS COMPLAINTS (dies without complaints.h), POISON_NOTE;
#          functions cg2_root, cg_leftovers, cg_brief, cg_restore,
#          state_files, snapshot, restore, pool_brief,
#          hw_corrupted_kb, poisoned_explains, check_restored, log_lines,
#          taint, log_complaints, is_fatal, take_machine_lock (exports
#          HT_LOCK_FD).

# ---- one run per machine ----------------------------------------------------
# Two runs that size pools at once restore each other's snapshots and read
# each other's pages as leaks.  The runner holds lib/machine_lock.c's lock
# from its first probe to its last restore and hands it to the programs
# as HT_LOCK_FD (fd 9); a nested runner (--matrix, --bisect) reuses it.
# The guest runs nothing else, and its busybox has no flock.
take_machine_lock() {
	lock=${HT_LOCK_FILE:-/run/lock/hugetlb-hgm-tests.lock}
	if [ -n "${HT_LOCK_FD:-}" ] && flock -n "$HT_LOCK_FD" 2>/dev/null; then
		return 0
	fi
	if [ "$IN_VM" = 1 ] || ! command -v flock >/dev/null 2>&1; then
		return 0
	fi
	mkdir -p "$(dirname "$lock")" 2>/dev/null
	exec 9>>"$lock" || die "cannot open $lock"
	if ! flock -n 9; then
		die "another hugetlb test run (pid $(head -n 1 "$lock" 2>/dev/null || echo '?')) holds $lock: pools cannot be shared; wait for it, or run this one with --vm"
	fi
	echo $$ >"$lock"
	HT_LOCK_FD=9
	export HT_LOCK_FD
}

# ---- cgroups: lib/cgroup.c's groups and +hugetlb ----------------------------
# A case of cgroup_hugetlb makes its groups below hgmt-<pid> at the root of
# the cgroup2 hierarchy, may enable +hugetlb in the root's
# cgroup.subtree_control and may mount cgroup2 (in the VM nothing else
# does); it undoes all of it, unless it is killed.  Whatever hgmt-* group
# exists between cases is such a leftover.

# The mount point of the cgroup2 hierarchy's root ("" when not mounted).
cg2_root() {
	awk '{
		for (i = 7; i <= NF && $i != "-"; i++) ;
		if ($(i + 1) == "cgroup2" && $4 == "/") { print $5; exit }
	}' /proc/self/mountinfo 2>/dev/null
}

# 1 when the root delegates hugetlb to its children, else 0.
cg2_hugetlb_on() { # root
	if grep -qw hugetlb "$1/cgroup.subtree_control" 2>/dev/null; then
		echo 1
	else
		echo 0
	fi
}

# The snapshot's line.  With cgroup2 mounted nowhere (the VM), a mount of
# our own for the moment of reading: a case mounts it there.
cg2_snapshot() {
	grep -qw cgroup2 /proc/filesystems 2>/dev/null || return 0
	r=$(cg2_root)
	if [ -n "$r" ]; then
		echo "cgroup2 hugetlb=$(cg2_hugetlb_on "$r")"
		return 0
	fi
	t=$(mktemp -d /tmp/hgmt-runner-cg2.XXXXXX) || return 0
	if mount -t cgroup2 none "$t" 2>/dev/null; then
		echo "cgroup2 hugetlb=$(cg2_hugetlb_on "$t")"
		umount "$t"
	fi
	rmdir "$t"
}

cg_leftovers() {
	r=$(cg2_root)
	[ -n "$r" ] || return 0
	for g in "$r"/hgmt-*; do
		[ -d "$g" ] && echo "$g"
	done
	return 0
}

# What a case must leave as it found it, in one line.
cg_brief() {
	r=$(cg2_root)
	if [ -z "$r" ]; then
		echo "cgroup2 not mounted"
		return 0
	fi
	lo=$(cg_leftovers | tr '\n' ' ')
	lo=${lo% }
	echo "cgroup2 at $r: hugetlb in subtree_control $(cg2_hugetlb_on "$r"), groups left: ${lo:-none}"
}

# Removes every leftover group, depth first, its tasks moved to the root
# first (an exiting task keeps its group busy a moment), then puts the
# root's +hugetlb back as snapshot $1 has it.
cg_restore() { # snapshot or ""
	r=$(cg2_root)
	[ -n "$r" ] || return 0
	for top in $(cg_leftovers); do
		find "$top" -depth -type d | while read -r g; do
			i=0
			while [ -d "$g" ] && [ $i -lt 25 ]; do
				while read -r p; do
					echo "$p" >"$r/cgroup.procs"
				done <"$g/cgroup.procs" 2>/dev/null
				rmdir "$g" 2>/dev/null || sleep 0.2
				i=$((i + 1))
			done
		done
	done
	want=""
	[ -z "$1" ] || want=$(sed -n 's/^cgroup2 hugetlb=//p' "$1" 2>/dev/null)
	have=$(cg2_hugetlb_on "$r")
	if [ "$want" = 0 ] && [ "$have" = 1 ]; then
		echo -hugetlb >"$r/cgroup.subtree_control" 2>/dev/null
	elif [ "$want" = 1 ] && [ "$have" = 0 ]; then
		echo +hugetlb >"$r/cgroup.subtree_control" 2>/dev/null
	fi
	return 0
}

# ---- machine state: snapshot, restore, compare -----------------------------
state_files() {
	for f in /sys/kernel/mm/hugepages/hugepages-*/nr_overcommit_hugepages \
		/sys/devices/system/node/node*/hugepages/hugepages-*/nr_hugepages \
		/proc/sys/vm/max_map_count /proc/sys/vm/memory_failure_early_kill \
		/proc/sys/vm/memory_failure_recovery /proc/sys/vm/enable_soft_offline \
		/sys/kernel/debug/hugetlb/refcount_limit; do
		[ -r "$f" ] && echo "$f"
	done
	# Without per-node files the global count is the pool.
	for f in /sys/kernel/mm/hugepages/hugepages-*/nr_hugepages; do
		[ -r "$f" ] && echo "$f"
	done
}

snapshot() { # file
	: >"$1"
	for f in $(state_files); do
		printf '%s %s\n' "$f" "$(cat "$f" 2>/dev/null)" >>"$1"
	done
	cg2_snapshot >>"$1"
	if [ -r /proc/mounts ]; then
		awk '{print "mount", $2}' /proc/mounts | sort >>"$1"
	fi
}

# Per-node pool files exist (node ids may be sparse)?
NODE_POOLS=0
for d in /sys/devices/system/node/node*/hugepages; do
	[ -d "$d" ] && NODE_POOLS=1 && break
done

# Writes back everything the snapshot holds; per-node pools shrink first so
# growing another node is not refused, and global counts only where no
# per-node file speaks for them.
restore() { # file
	[ -n "${1:-}" ] && [ -r "$1" ] || return 0
	[ "$(id -u)" = 0 ] || return 0
	while read -r f v; do
		case "$f" in
		mount | cgroup2 | */hugepages/hugepages-*/nr_hugepages) continue ;;
		esac
		cur=""
		read -r cur <"$f" 2>/dev/null
		[ "$cur" = "$v" ] || echo "$v" >"$f" 2>/dev/null
	done <"$1"
	for pass in shrink grow; do
		while read -r f v; do
			case "$f" in
			/sys/devices/system/node/*/nr_hugepages) ;;
			/sys/kernel/mm/hugepages/*/nr_hugepages)
				[ "$NODE_POOLS" = 1 ] && continue ;;
			*) continue ;;
			esac
			read -r cur <"$f" 2>/dev/null || continue
			[ "$cur" = "$v" ] && continue
			if [ "$pass" = shrink ] && [ "$cur" -gt "$v" ]; then
				echo "$v" >"$f" 2>/dev/null
			elif [ "$pass" = grow ] && [ "$cur" -lt "$v" ]; then
				echo "$v" >"$f" 2>/dev/null
			fi
		done <"$1"
	done
	# Groups first: a cgroup2 mount a case made goes with the mounts.
	cg_restore "$1"
	# Mounts the run added (a killed case's; the check keeps it that way).
	awk '{print $2}' /proc/mounts 2>/dev/null | while read -r m; do
		grep -qx "mount $m" "$1" || umount "$m" 2>/dev/null
	done
	return 0
}

pool_brief() {
	out=""
	for d in /sys/kernel/mm/hugepages/hugepages-*; do
		[ -d "$d" ] || continue
		kb=${d##*-}
		kb=${kb%kB}
		read -r nr <"$d/nr_hugepages"
		read -r fr <"$d/free_hugepages"
		out="$out${out:+ }${kb}kB:$nr/$fr"
	done
	echo "$out"
}

# The runner's own case: did the machine come back as it was?
# Rsvd and Surp of every size, "kB:resv:surplus ...".  After a case, with
# its processes gone and the pools put back, both must read what they read
# before it: a reservation that leaked, or a surplus page that never went
# back, shows in the case that caused it, whatever program it is in.
pool_resv_surp() {
	out=""
	for d in /sys/kernel/mm/hugepages/hugepages-*; do
		[ -d "$d" ] || continue
		kb=${d##*-}
		read -r rs <"$d/resv_hugepages"
		read -r sp <"$d/surplus_hugepages"
		out="$out${out:+ }${kb}:$rs:$sp"
	done
	echo "$out"
}

hw_corrupted_kb() {
	awk '/^HardwareCorrupted:/ { print $2; f = 1 } END { if (!f) print 0 }' /proc/meminfo
}

# A poisoned huge page never goes back to the pool: a shared one stays
# allocated (the pool cannot shrink), an anonymous one is dissolved (the
# pool cannot grow back).  Destructive cases (VM, --allow-destructive) may
# so move the pools by at most one huge page per poisoned raw page.
# Anything else is a real difference.
poisoned_explains() { # before after
	poisoned=$((($(hw_corrupted_kb) - HWC0) / 4))
	[ "$poisoned" -gt 0 ] || return 1
	extra=$(grep -vxFf "$1" "$2" | while read -r f v; do
		case "$f" in
		/sys/devices/system/node/*/nr_hugepages)
			[ "$NODE_POOLS" = 1 ] || { echo bad; exit; } ;;
		/sys/kernel/mm/hugepages/*/nr_hugepages)
			[ "$NODE_POOLS" = 0 ] || continue ;;
		*) echo bad; exit ;;
		esac
		was=$(grep -F "$f " "$1" | cut -d' ' -f2)
		# In use for ever (shared, poisoned) or dissolved (anonymous).
		if [ "$v" -gt "$was" ]; then echo $((v - was)); else echo $((was - v)); fi
	done | awk '$1 == "bad" { bad = 1 } { s += $1 } END { print bad ? "bad" : s + 0 }')
	[ "$extra" != bad ] || return 1
	[ "$extra" -le "$poisoned" ] || return 1
	POISON_NOTE="$extra huge page(s) stay allocated: hwpoisoned during the run ($poisoned raw pages, HardwareCorrupted)"
	return 0
}


check_restored() {
	if [ -z "$SNAP" ]; then
		emit_case "runner:state_restored" pass "" "" "" "" "" ""
		return 0
	fi
	restore "$SNAP"
	after="$RUN_DIR/state.after"
	# Give exiting children a moment to free their pages.
	i=0
	while :; do
		snapshot "$after"
		cmp -s "$SNAP" "$after" && break
		i=$((i + 1))
		[ $i -ge 10 ] && break
		sleep 1
		restore "$SNAP"
	done
	if cmp -s "$SNAP" "$after"; then
		emit_case "runner:state_restored" pass "" "" "" "" "" ""
	elif poisoned_explains "$SNAP" "$after"; then
		IND="  "
		say "# $POISON_NOTE"
		emit_case "runner:state_restored" pass "" "" "" "" "" ""
	else
		# busybox diff prints unified diffs: compare lines with grep.
		was=$(grep -vxFf "$after" "$SNAP" | sanitize)
		now=$(grep -vxFf "$SNAP" "$after" | sanitize)
		emit_case "runner:state_restored" fail \
			"machine state differs after the run: was: $was; now: $now" "" "" "" "" ""
	fi
}

# ---- kernel log ------------------------------------------------------------
log_lines() { dmesg -r 2>/dev/null | wc -l; }
taint() { cat /proc/sys/kernel/tainted 2>/dev/null || echo 0; }

# The complaint patterns are lib/kmsg.c's: one list, lib/complaints.h
# (next to this script where installed or in the VM).
COMPLAINTS="$TOP/lib/complaints.h"
[ -r "$COMPLAINTS" ] || COMPLAINTS="$TOP/complaints.h"
[ -r "$COMPLAINTS" ] || die "no complaints.h next to $ME: the kernel log cannot be watched"

# New kernel log lines since line $1 that are complaints.
log_complaints() {
	dmesg -r 2>/dev/null | tail -n +"$(($1 + 1))" | awk -v pats="$COMPLAINTS" '
	BEGIN {
		while ((getline l < pats) > 0)
			if (match(l, /^"![^"]*",$/))
				x[++m] = substr(l, 3, RLENGTH - 4)
			else if (match(l, /^"[^"]*",$/))
				p[++n] = substr(l, 2, RLENGTH - 3)
	}
	{
		# The level the kernel gave; a line user space wrote has a
		# facility other than 0 (run_kselftest.sh writes "kselftest:
		# Running tests in hugetlb_hgm") and is judged by the patterns
		# only, as in lib/kmsg.c.
		lvl = 7
		if (match($0, /^<[0-9]+>/) && substr($0, 2, RLENGTH - 2) + 0 < 8)
			lvl = substr($0, 2, RLENGTH - 2) % 8
		msg = $0
		sub(/^<[0-9]+>(\[[ 0-9.]+\] )?/, "", msg)
		for (i = 1; i <= m; i++)
			if (index(msg, x[i]))
				next
		for (i = 1; i <= n; i++)
			if (index(msg, p[i])) {
				print msg
				next
			}
		# hugetlb speaking at warning level or worse, as lib/kmsg.c.
		if (lvl <= 4 && tolower(msg) ~ /hugetlb/)
			print msg
	}'
}

# Complaints after which the kernel cannot be trusted: an Oops or BUG
# (the dead task may hold locks), lockdep and KASAN reports.  In the VM
# the boot ends there and the next case gets a fresh kernel.
is_fatal() { # complaint lines
	printf '%s\n' "$1" | grep -qE 'Oops|kernel BUG|BUG:|general protection|KASAN|WARNING: possible|WARNING: inconsistent lock|INFO: possible'
}
