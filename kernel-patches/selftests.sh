#!/bin/sh
# selftests.sh [--kernels K1,K2,...] [--results DIR] [--timeout SECONDS]
#
# The kernel's own hugetlb mm selftests (the hugetlb and userfaultfd part of
# tools/testing/selftests/mm/run_vmtests.sh), built statically from KSRC
# (default: Debian's linux-source-6.12 in the cache), run in qemu on each
# kernel (default: debian-6.12,patched; any name scripts/vm/kernel.sh
# knows), and compared: results/<UTC time>-mm-selftests.txt holds one row
# per test and one column per kernel.  A test that passes on the first
# kernel and not on another is a regression: exit 1.  Exit 2 on bad usage.
set -eu

me=selftests.sh
usage() {
	[ $# -eq 0 ] || printf '%s: %s\n' "$me" "$*" >&2
	[ $# -gt 0 ] || printf '%s: usage: selftests.sh [--kernels K1,K2,...] [--results DIR] [--timeout SECONDS]\n' "$me" >&2
	exit 2
}
kernels=debian-6.12,patched
suite=$(cd "$(dirname "$0")/.." && pwd -P)
results=$suite/results
timeout=600
while [ $# -gt 0 ]; do
	case $1 in
	--kernels | --results | --timeout)
		[ $# -ge 2 ] || usage "$1 needs an argument"
		case $1 in
		--kernels) kernels=$2 ;;
		--results) results=$2 ;;
		--timeout) timeout=$2 ;;
		esac
		shift 2
		;;
	-h | --help)
		sed -n '2,11s/^# \{0,1\}//p' "$0"
		exit 0
		;;
	*) usage "unknown argument: $1" ;;
	esac
done
case $timeout in '' | *[!0-9]* | 0) usage "--timeout must be a positive integer: $timeout" ;; esac
case ,$kernels, in *,,*) usage "empty kernel name in --kernels $kernels" ;; esac
[ -d "$results" ] || usage "results directory $results does not exist"

# shellcheck source=kernel-patches/common.sh
. "$(dirname "$0")/common.sh"

vm=$suite/scripts/vm
mst=$cache/mm-selftests
tests="hugepage-mmap hugepage-shm map_hugetlb hugepage-mremap hugepage-vmemmap
hugetlb-madvise hugetlb_dio hugetlb_fault_after_madv hugetlb_madv_vs_map
thuge-gen hugetlb-soft-offline hugetlb-read-hwpoison uffd-unit-tests uffd-stress"

# Static binaries, built once per KSRC (uapi headers from the same tree).
build_tests() {
	find_ksrc
	if [ "$(cat "$mst/ksrc" 2>/dev/null)" = "$ksrc" ]; then
		ok=1
		for t in $tests; do [ -x "$mst/bin/$t" ] || ok=; done
		[ -z "$ok" ] || return 0
	fi
	rm -rf "$mst"
	mkdir -p "$mst/bin" || die "cannot create $mst"
	note "building the mm selftests from $ksrc into $mst"
	nice -n 19 make -s -C "$ksrc" O="$mst/hdr" headers_install \
		INSTALL_HDR_PATH="$mst/hdr/usr" >"$mst/build.log" 2>&1 ||
		die "make headers_install failed: see $mst/build.log"
	set --
	for t in $tests; do set -- "$@" "$mst/bin/$t"; done
	nice -n 19 make -C "$ksrc/tools/testing/selftests/mm" OUTPUT="$mst/bin" \
		KHDR_INCLUDES="-isystem $mst/hdr/usr/include" EXTRA_CFLAGS=-static \
		"$@" >>"$mst/build.log" 2>&1 || die "building the mm selftests failed: see $mst/build.log"
	printf '%s\n' "$ksrc" >"$mst/ksrc"
}

# The guest side: the hugetlb part of run_vmtests.sh, one result line per
# test on the results port: "#@MM <test> <verdict> <rc> <seconds>".
write_payload() {
	mkdir -p "$1/bin" || die "cannot create $1"
	for t in $tests; do cp "$mst/bin/$t" "$1/bin/" || die "cannot copy $t"; done
	cat >"$1/guest-run" <<EOF
#!/bin/sh
cd /suite/bin || exit 1
T=$timeout
EOF
	cat >>"$1/guest-run" <<'EOF'
mkdir -p /mnt/huge && mount -t hugetlbfs none /mnt/huge
run() { # name args...
	name=$1
	shift
	s=$(date +%s)
	echo "# ---- $name $*"
	timeout "$T" "$@" 2>&1 | sed 's/^/# /'
	rc=$(cat /tmp/rc 2>/dev/null || echo 255)
	case $rc in
	0) v=pass ;;
	4) v=skip ;;
	124 | 143) v=timeout ;;
	*) v=fail ;;
	esac
	echo "#@MM $name $v $rc $(($(date +%s) - s))"
}
# busybox sh has no PIPESTATUS: the exit status goes through a file
timeout() { t=$1; shift; busybox timeout "$t" "$@"; echo $? >/tmp/rc; }
echo 256 >/proc/sys/vm/nr_hugepages
echo "# nr_hugepages $(cat /proc/sys/vm/nr_hugepages)"
run hugepage-mmap ./hugepage-mmap
shmmax=$(cat /proc/sys/kernel/shmmax)
shmall=$(cat /proc/sys/kernel/shmall)
echo 268435456 >/proc/sys/kernel/shmmax
echo 4194304 >/proc/sys/kernel/shmall
run hugepage-shm ./hugepage-shm
echo "$shmmax" >/proc/sys/kernel/shmmax
echo "$shmall" >/proc/sys/kernel/shmall
run map_hugetlb ./map_hugetlb
run hugepage-mremap ./hugepage-mremap
run hugepage-vmemmap ./hugepage-vmemmap
run hugetlb-madvise ./hugetlb-madvise
run hugetlb_dio ./hugetlb_dio
nr=$(cat /proc/sys/vm/nr_hugepages)
echo 1 >/proc/sys/vm/nr_hugepages
run hugetlb_fault_after_madv ./hugetlb_fault_after_madv
run hugetlb_madv_vs_map ./hugetlb_madv_vs_map
echo "$nr" >/proc/sys/vm/nr_hugepages
run uffd-unit-tests ./uffd-unit-tests
run uffd-stress-hugetlb ./uffd-stress hugetlb 64 16
run uffd-stress-hugetlb-private ./uffd-stress hugetlb-private 64 16
run thuge-gen ./thuge-gen
echo 8 >/proc/sys/vm/nr_hugepages
run hugetlb-soft-offline ./hugetlb-soft-offline
echo "$nr" >/proc/sys/vm/nr_hugepages
run hugetlb-read-hwpoison ./hugetlb-read-hwpoison
exit 0
EOF
	chmod +x "$1/guest-run"
}

build_tests
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=$results/$stamp-mm-selftests
mkdir -p "$out" || die "cannot create $out"
write_payload "$out/payload"

names=
oldifs=$IFS
IFS=,
for k in $kernels; do
	IFS=$oldifs
	kinfo=$("$vm/kernel.sh" "$k") || die "kernel.sh $k failed"
	kernel=$(printf '%s\n' "$kinfo" | sed -n 's/^KERNEL=//p')
	moddir=$(printf '%s\n' "$kinfo" | sed -n 's/^MODDIR=//p')
	# a column name: the kernel's name, or for a path the bzImage's directory
	case $k in
	*/*) n=$(basename "$(dirname "${k%%:*}")") ;;
	*) n=$k ;;
	esac
	n=$(printf '%s' "$n" | tr -c 'A-Za-z0-9._-' '_')
	case " $names " in *" $n "*) n=$n.$(($(printf '%s' "$names" | wc -w) + 1)) ;; esac
	names="$names $n"
	"$vm/initramfs.sh" --payload "$out/payload" --out "$out/initrd.$n.gz" \
		${moddir:+--modules "$moddir"} >"$out/initramfs.$n.log" 2>&1 ||
		die "initramfs.sh for $k failed: see $out/initramfs.$n.log"
	note "running the mm selftests on $k"
	"$vm/boot.sh" --kernel "$kernel" --initrd "$out/initrd.$n.gz" \
		--console "$out/console.$n.log" --stream "$out/stream.$n.log" \
		--timeout $((timeout * 20)) >"$out/qemu.$n.log" 2>&1 || true
	grep -q '^#@GUEST-EXIT' "$out/stream.$n.log" ||
		note "$k: the guest did not finish (see $out/console.$n.log)"
	IFS=,
done
IFS=$oldifs

# The table: test x kernel, plus kernel log complaints per kernel.
table=$results/$stamp-mm-selftests.txt
first=${names# }
first=${first%% *}
regress=
{
	printf '# mm selftests (hugetlb + userfaultfd subset of run_vmtests.sh), %s\n' "$stamp"
	printf '%-28s' test
	for n in $names; do printf ' %-20s' "$n"; done
	printf '\n'
	for t in hugepage-mmap hugepage-shm map_hugetlb hugepage-mremap hugepage-vmemmap \
		hugetlb-madvise hugetlb_dio hugetlb_fault_after_madv hugetlb_madv_vs_map \
		uffd-unit-tests uffd-stress-hugetlb uffd-stress-hugetlb-private thuge-gen \
		hugetlb-soft-offline hugetlb-read-hwpoison; do
		printf '%-28s' "$t"
		base=
		for n in $names; do
			v=$(awk -v t="$t" '$1 == "#@MM" && $2 == t { print $3 }' "$out/stream.$n.log" 2>/dev/null | tail -n 1)
			v=${v:-missing}
			if [ "$t" = uffd-unit-tests ]; then
				c=$(sed -n 's/.*Userfaults unit tests: \(pass=[0-9]*, skip=[0-9]*, fail=[0-9]*\).*/\1/p' "$out/stream.$n.log" | tr -d ' ')
				[ -z "$c" ] || v="$v($c)"
			fi
			printf ' %-20s' "$v"
			if [ "$n" = "$first" ]; then
				base=$v
			elif [ "${base%%(*}" = pass ] && [ "${v%%(*}" != pass ]; then
				regress="$regress $t@$n"
			fi
		done
		printf '\n'
	done
	printf '%-28s' 'kernel log complaints'
	for n in $names; do
		c=$(grep -cE 'WARNING:|BUG:|Oops|Bad page|bad rss-counter|refcount_t|general protection|Call Trace|kernel BUG|list_add corruption|list_del corruption' "$out/console.$n.log" 2>/dev/null || true)
		printf ' %-20s' "${c:-0}"
	done
	printf '\n'
	printf 'regressions against %s:%s\n' "$first" "${regress:- none}"
	printf 'logs: %s\n' "$out"
} >"$table"
cat "$table"
[ -z "$regress" ] || exit 1
