#!/bin/sh
# boot.sh --kernel K --initrd I --console FILE --stream FILE [--nodes N] [--no-1g]
#         [--mem-mb M] [--cpus C] [--append "ARGS"] [--timeout SECONDS]
#
# Boots qemu-system-x86_64 (KVM if a cached probe says it works, else TCG)
# with N NUMA nodes, one 1 GiB hugetlb page reserved per node at boot, the
# kernel console on the first serial port (-> --console FILE) and the
# results port on the second (-> --stream FILE). Prints only, at the end:
#   #@QEMU-EXIT <rc> accel=<kvm|tcg> seconds=<wall seconds>
# Exits with qemu's status, or 124 when --timeout expired (qemu is killed).
# HGMT_ACCEL=kvm|tcg skips the probe.
set -eu

me=boot.sh
die() { printf '%s: %s\n' "$me" "$*" >&2; exit 1; }
usage() {
	if [ $# -gt 0 ]; then
		printf '%s: %s\n' "$me" "$*" >&2
	else
		printf '%s: usage: boot.sh --kernel K --initrd I --console FILE --stream FILE [--nodes N] [--mem-mb M] [--cpus C] [--append ARGS] [--timeout SECONDS] [--no-1g]\n' "$me" >&2
	fi
	exit 2
}
isnum() { case $1 in '' | *[!0-9]*) return 1 ;; *) [ "$1" -gt 0 ] ;; esac }

kernel=
initrd=
console=
stream=
nodes=2
mem=6144
cpus=2
append=
timeout=1800
no1g=0
while [ $# -gt 0 ]; do
	case $1 in
	--kernel | --initrd | --console | --stream | --nodes | --mem-mb | --cpus | --append | --timeout)
		[ $# -ge 2 ] || usage "$1 needs an argument"
		case $1 in
		--kernel) kernel=$2 ;;
		--initrd) initrd=$2 ;;
		--console) console=$2 ;;
		--stream) stream=$2 ;;
		--nodes) nodes=$2 ;;
		--mem-mb) mem=$2 ;;
		--cpus) cpus=$2 ;;
		--append) append=$2 ;;
		--timeout) timeout=$2 ;;
		esac
		shift 2
		;;
	--no-1g) no1g=1; shift ;;
	-h | --help) usage ;;
	*) usage "unknown argument: $1" ;;
	esac
done
[ -n "$kernel" ] || usage "--kernel K is required"
[ -n "$initrd" ] || usage "--initrd I is required"
[ -n "$console" ] || usage "--console FILE is required"
[ -n "$stream" ] || usage "--stream FILE is required"
[ -f "$kernel" ] || usage "kernel $kernel does not exist"
[ -f "$initrd" ] || usage "initrd $initrd does not exist"
isnum "$nodes" || usage "--nodes must be a positive integer: $nodes"
isnum "$mem" || usage "--mem-mb must be a positive integer: $mem"
isnum "$cpus" || usage "--cpus must be a positive integer: $cpus"
isnum "$timeout" || usage "--timeout must be a positive integer: $timeout"
permb=$((mem / nodes))
# each node holds a 1 GiB page reserved at boot, and needs room beside it
[ "$permb" -ge 1536 ] || usage "--mem-mb $mem gives $permb MiB per node; each node needs >= 1536 (one 1 GiB page plus room)"
for f in "$console" "$stream"; do
	case $f in *,*) usage "file names with a comma are not supported by qemu: $f" ;; esac
	d=$(dirname "$f")
	[ -d "$d" ] || usage "directory $d does not exist"
done

qemu="qemu-system-x86_64"
command -v "$qemu" >/dev/null 2>&1 || die "$qemu not found (apt-get install qemu-system-x86)"
cache=${HGMT_CACHE:-${HOME:-/root}/.cache/hgmt}
mkdir -p "$cache" || die "cannot create $cache"

work=$(mktemp -d "${TMPDIR:-/tmp}/hgmt-boot.XXXXXX") || die "cannot create a temporary directory"
qpid=
wpid=
# shellcheck disable=SC2317
cleanup() {
	if [ -n "$wpid" ]; then kill "$wpid" 2>/dev/null || true; fi
	if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
		kill -TERM "$qpid" 2>/dev/null || true
		sleep 1
		kill -KILL "$qpid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# --- accelerator ------------------------------------------------------------
# The probe boots a 512-byte boot sector (mov al,1; out 0xf4,al; hlt) with the
# same -accel kvm -cpu host as the real run; isa-debug-exit makes a working
# qemu exit with status (1<<1)|1 = 3. Anything else (abort, KVM internal
# error, hang past 10 s) means KVM is unusable.
probe_kvm() {
	[ -r /dev/kvm ] && [ -w /dev/kvm ] || return 1
	img=$work/probe.img
	{
		printf '\260\001\346\364\364'
		dd if=/dev/zero bs=505 count=1 2>/dev/null
		printf '\125\252'
	} >"$img"
	prc=0
	timeout -s KILL 10 "$qemu" -accel kvm -cpu host -m 32 -nodefaults -display none \
		-no-reboot -device isa-debug-exit,iobase=0xf4,iosize=1 \
		-drive "file=$img,format=raw,if=ide" </dev/null >"$work/probe.log" 2>&1 || prc=$?
	[ "$prc" -eq 3 ] || return 1
	# Some nested hosts run that sector and then hang a real kernel right
	# after the option ROM: boot the kernel itself until its "no root"
	# panic (-no-reboot exits on it).  Well under a second with KVM.
	prc=0
	timeout -s KILL 30 "$qemu" -accel kvm -cpu host -m 256 -nodefaults -display none \
		-no-reboot -serial "file:$work/probe-kernel.log" -kernel "$kernel" \
		-append "console=ttyS0 panic=-1 root=/dev/hgmt-none" </dev/null \
		>"$work/probe.log" 2>&1 || prc=$?
	[ "$prc" -eq 0 ] && grep -q 'Kernel panic' "$work/probe-kernel.log"
}
accel=${HGMT_ACCEL:-}
case $accel in
kvm | tcg) ;;
'')
	key="probe2 $(uname -r) $("$qemu" --version | head -n 1)"
	pfile=$cache/kvm-probe
	if [ -f "$pfile" ] && [ "$(sed -n 2p "$pfile")" = "$key" ]; then
		accel=$(sed -n 1p "$pfile")
	fi
	case $accel in
	kvm | tcg) ;;
	*)
		if probe_kvm; then accel=kvm; else accel=tcg; fi
		printf '%s\n%s\n' "$accel" "$key" >"$pfile.$$" && mv "$pfile.$$" "$pfile"
		;;
	esac
	;;
*) usage "HGMT_ACCEL must be kvm or tcg: $accel" ;;
esac
if [ "$accel" = kvm ]; then
	set -- -accel kvm -cpu "host$([ "$no1g" = 0 ] || echo ,-pdpe1gb)"
else
	# TCG runs "rep stosb/movsb" a byte at a time: without ERMS/FSRM the
	# kernel and libc use wider loops.  Measured on 6.12: a 1 GiB fault
	# 6.5 s -> 2.2 s, memset of it 7.6 s -> 0.4 s.  HGMT_CPU overrides.
	set -- -accel tcg -cpu "${HGMT_CPU:-max,-erms,-fsrm}$([ "$no1g" = 0 ] || echo ,-pdpe1gb)"
fi

# --- NUMA topology ----------------------------------------------------------
# one socket per cpu (avoids the topology WARNING); cpus spread in blocks over
# the nodes; nodes beyond the cpu count are memory-only.
# Only 512 MiB of RAM below the 4 GiB PCI hole (the default is 3 GiB, i.e.
# all of node 0, where the initrd and kernel then break every 1 GiB-aligned
# block and node 0's 1 GiB page silently lands on node 1). Node 0 is then
# [0,512M) + [4G,...), and with >= 3 GiB per node every node keeps a free
# aligned 1 GiB block whatever KASLR does.
set -- "$@" -machine pc,max-ram-below-4g=512M
set -- "$@" -smp "$cpus,sockets=$cpus,cores=1,threads=1" -m "${mem}M"
i=0
hp=
while [ "$i" -lt "$nodes" ]; do
	sz=$permb
	[ "$i" -ne $((nodes - 1)) ] || sz=$((mem - permb * (nodes - 1)))
	set -- "$@" -object "memory-backend-ram,id=mem$i,size=${sz}M"
	if [ "$nodes" -le "$cpus" ]; then
		lo=$((i * cpus / nodes))
		hi=$(((i + 1) * cpus / nodes - 1))
		if [ "$lo" -eq "$hi" ]; then c=$lo; else c=$lo-$hi; fi
		set -- "$@" -numa "node,nodeid=$i,memdev=mem$i,cpus=$c"
	elif [ "$i" -lt "$cpus" ]; then
		set -- "$@" -numa "node,nodeid=$i,memdev=mem$i,cpus=$i"
	else
		set -- "$@" -numa "node,nodeid=$i,memdev=mem$i"
	fi
	hp="$hp${hp:+,}$i:1"
	i=$((i + 1))
done
# node-specific form: "hugepages=N" may put every 1 GiB page on one node;
# a CPU without pdpe1gb has no 1 GiB pages to reserve.
# no_timer_check: under TCG on a loaded host the boot-time IO-APIC timer
# check can miss its ticks and panic ("IO-APIC + timer doesn't work!").
gb="hugepagesz=1G hugepages=$hp "
[ "$no1g" = 0 ] || gb=
cmdline="console=ttyS0 panic=-1 loglevel=7 no_timer_check ${gb}default_hugepagesz=2M${append:+ $append}"

: >"$console" || die "cannot write $console"
: >"$stream" || die "cannot write $stream"
set -- "$@" -nographic -no-reboot -nodefaults -monitor none \
	-kernel "$kernel" -initrd "$initrd" -append "$cmdline" \
	-serial "file:$console" -serial "file:$stream"

# --- run with a watchdog ------------------------------------------------------
start=$(date +%s)
"$qemu" "$@" </dev/null >"$work/qemu.log" 2>&1 &
qpid=$!
(
	n=0
	while [ "$n" -lt "$timeout" ]; do
		sleep 1
		kill -0 "$qpid" 2>/dev/null || exit 0
		n=$((n + 1))
	done
	: >"$work/timedout"
	kill -TERM "$qpid" 2>/dev/null || exit 0
	n=0
	while [ "$n" -lt 5 ] && kill -0 "$qpid" 2>/dev/null; do
		sleep 1
		n=$((n + 1))
	done
	kill -KILL "$qpid" 2>/dev/null || true
) </dev/null >/dev/null 2>&1 &
wpid=$!
rc=0
wait "$qpid" || rc=$?
qpid=
# the watchdog notices within a second that qemu is gone (not killed, so that
# its "sleep 1" is not left behind)
wait "$wpid" 2>/dev/null || true
wpid=
end=$(date +%s)
if [ -e "$work/timedout" ]; then
	printf '%s: timeout: qemu killed after %s s\n' "$me" "$timeout" >&2
	rc=124
fi
# qemu's own messages (warnings, errors), one prefixed line each
# (less the known, harmless note about max-ram-below-4g not being 1G-aligned)
grep -v 'max_ram_below_4g .* not a multiple of 1G' "$work/qemu.log" |
	sed "s/^/$me: qemu: /" >&2 || true
printf '#@QEMU-EXIT %s accel=%s seconds=%s\n' "$rc" "$accel" "$((end - start))"
exit "$rc"
