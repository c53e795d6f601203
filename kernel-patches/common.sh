# shellcheck shell=sh
# Sourced by build.sh and check.sh: the kernel tree, the series, the config.
#
# Layout under ${HGMT_CACHE:-$HOME/.cache/hgmt}:
#   kernel-src/<version>/linux-source-6.12/   Debian's tarball, unpacked once
#                                   per version (KSRC default)
#   kernel-build-debug/             FLAVOUR=debug: the same layout as kernel-build/
#   kernel-build-coverage/          FLAVOUR=coverage: the same, + obj/**/*.gcno
#   kernel-build/src/               git copy of KSRC: commit "pristine" + the series
#   kernel-build/obj/               the O= object tree (kept: incremental builds)
#   kernel-build/conf/              scratch O= tree where the .config is merged
#   kernel-build/applied            hash of the patches applied in src/
#   kernel-build/bzImage, kernel-build/modules/lib/modules/<release>/
#   ccache/                         CCACHE_DIR
# $me must be set by the caller.

me=${me:-common.sh}
die() { printf '%s: %s\n' "$me" "$*" >&2; exit 1; }
usage_error() { printf '%s: %s\n' "$me" "$*" >&2; exit 2; }
note() { printf '%s: %s\n' "$me" "$*" >&2; }

kp=$(cd "$(dirname "$0")" && pwd -P)
cache=${HGMT_CACHE:-${HOME:-/root}/.cache/hgmt}
# Each flavour has its own src/ and obj/ (and lock): switching flavours
# would otherwise rewrite obj/.config and rebuild everything both ways.
# The ccache is shared.  $checked: the fragments whose every line must
# survive olddefconfig.
case ${FLAVOUR:-default} in
default)
	kb=$cache/kernel-build
	fragments="qemu-base.config battery.config"
	checked="battery.config"
	;;
debug)
	kb=$cache/kernel-build-debug
	fragments="qemu-base.config battery.config debug.config"
	checked="battery.config debug.config"
	;;
mutant)
	# mutants.sh: the default config in a tree of its own, where one
	# planted bug at a time is applied on top of the series.
	kb=$cache/kernel-build-mutant
	fragments="qemu-base.config battery.config"
	checked="battery.config"
	;;
coverage)
	kb=$cache/kernel-build-coverage
	fragments="qemu-base.config battery.config coverage.config"
	checked="battery.config coverage.config"
	;;
*) usage_error "FLAVOUR must be default, debug, coverage or mutant: $FLAVOUR" ;;
esac
# FLAVOUR=coverage: the files gcov profiles (run_tests.sh --coverage
# reports on them).  Profiling all of mm/ and fs/ makes every page fault
# and syscall of the battery pay for counters under TCG; these are the
# files where HugeTLB code lives or branches off.
gcov_files="mm/hugetlb.c mm/hugetlb_vmemmap.c fs/hugetlbfs/inode.c
mm/userfaultfd.c fs/userfaultfd.c mm/memory-failure.c mm/migrate.c
mm/mempolicy.c mm/madvise.c fs/proc/task_mmu.c mm/page_vma_mapped.c
mm/rmap.c mm/hugetlb_cgroup.c"
src=$kb/src
obj=$kb/obj
tarball=${LINUX_SOURCE_TARBALL:-/usr/src/linux-source-6.12.tar.xz}
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
case $jobs in '' | *[!0-9]*) usage_error "JOBS must be a positive integer: $jobs" ;; esac

export CCACHE_DIR="${CCACHE_DIR:-$cache/ccache}"
# src/ and obj/ are siblings wherever the cache is: relative paths hit.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$cache}"
export KBUILD_BUILD_USER=hgmt KBUILD_BUILD_HOST=hgmt
command -v ccache >/dev/null 2>&1 || die "ccache not found (apt-get install ccache)"
command -v git >/dev/null 2>&1 || die "git not found (apt-get install git)"

# One build at a time in kernel-build/.
take_lock() {
	mkdir -p "$kb" || die "cannot create $kb"
	exec 9>"$kb/lock"
	if command -v flock >/dev/null 2>&1; then
		flock -n 9 || die "another build.sh/check.sh holds $kb/lock"
	fi
}

# The pinned linux-source-6.12 version (kernel-patches/base).
base_version() {
	awk '!/^#/ && $1 == "linux-source-6.12" { print $2 }' "$kp/base"
}

# KSRC: given, or Debian's linux-source-6.12 unpacked once per tarball into
# the cache (kernel-src/<stamp>/: a new tarball is a new tree, never the old
# one reused).  The default tarball must be the version the series is for.
find_ksrc() {
	if [ -n "${KSRC:-}" ]; then
		if [ ! -f "$KSRC/Makefile" ] || [ ! -f "$KSRC/mm/hugetlb.c" ]; then
			usage_error "KSRC=$KSRC is not a kernel source tree"
		fi
		ksrc=$(cd "$KSRC" && pwd -P)
		return 0
	fi
	[ -r "$tarball" ] || die "no $tarball: make deps, or give KSRC=/path/to/linux"
	if [ -z "${LINUX_SOURCE_TARBALL:-}" ]; then
		want=$(base_version)
		have=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null || true)
		[ "$have" = "$want" ] ||
			die "linux-source-6.12 is ${have:-not installed}; the series applies to $want (make deps installs it)"
		stamp=$want
	else
		stamp=$(stat -L -c '%s-%Y' "$tarball") || die "cannot stat $tarball"
	fi
	stamp=$(printf '%s' "$stamp" | tr -c 'A-Za-z0-9.+-' '_')
	ksrc=$cache/kernel-src/$stamp/linux-source-6.12
	[ -f "$cache/kernel-src/$stamp/.complete" ] && return 0
	note "unpacking $tarball into $cache/kernel-src/$stamp (once)"
	rm -rf "$cache/kernel-src/$stamp" "$cache/kernel-src/$stamp.tmp"
	mkdir -p "$cache/kernel-src/$stamp.tmp" || die "cannot create $cache/kernel-src/$stamp.tmp"
	nice -n 19 tar -xJf "$tarball" -C "$cache/kernel-src/$stamp.tmp" || die "cannot unpack $tarball"
	[ -f "$cache/kernel-src/$stamp.tmp/linux-source-6.12/Makefile" ] || die "$tarball holds no linux-source-6.12/"
	mv "$cache/kernel-src/$stamp.tmp" "$cache/kernel-src/$stamp" || die "cannot move the unpacked tree"
	: >"$cache/kernel-src/$stamp/.complete"
}

g() { git -C "$src" -c user.name=hgmt -c user.email=hgmt@localhost "$@"; }

# src/: a git copy of $ksrc whose first commit is the pristine tree; made
# again only when KSRC changes.
prepare_src() {
	if [ -d "$src/.git" ] && [ "$(cat "$kb/ksrc" 2>/dev/null)" = "$ksrc" ] &&
		g rev-parse -q --verify refs/tags/hgmt-pristine >/dev/null; then
		return 0
	fi
	note "copying $ksrc into $src (once per KSRC)"
	rm -rf "$src" "$obj" "$kb/applied" "$kb/ksrc"
	mkdir -p "$src" || die "cannot create $src"
	(cd "$ksrc" && tar --exclude=.git -cf - .) | (cd "$src" && tar -xf -) ||
		die "cannot copy $ksrc to $src"
	[ ! -f "$src/.config" ] || die "$ksrc has a .config: give a clean tree (make mrproper)"
	if ! { g init -q && g config gc.auto 0 && g add -A -f . &&
		g commit -q -m pristine && g tag hgmt-pristine; }; then
		die "cannot make a git repository in $src"
	fi
	printf '%s\n' "$ksrc" >"$kb/ksrc"
}

# The patch names of kernel-patches/series, in order (quilt format).
series_patches() {
	[ -f "$kp/series" ] || die "no $kp/series"
	sed -e 's/#.*//' "$kp/series" | awk 'NF { print $1 }'
}

# apply_patches NAME...: src/ = pristine + exactly these patches.  Only
# redone when the patches changed; git reset keeps untouched files' mtimes,
# so the object tree stays valid.
apply_patches() {
	stamp=$( (printf '%s\n' "$ksrc" "$@"; for p in "$@"; do
		[ -f "$kp/$p" ] || die "series names $p, which is not in $kp"
		cat "$kp/$p"
	done) | sha256sum | cut -d' ' -f1)
	[ "$(cat "$kb/applied" 2>/dev/null)" = "$stamp" ] && return 0
	rm -f "$kb/applied"
	if ! { g reset -q --hard hgmt-pristine && g clean -fdq; }; then
		die "cannot reset $src"
	fi
	for p in "$@"; do
		g apply --whitespace=error-all "$kp/$p" >"$kb/apply.log" 2>&1 ||
			die "patch $p does not apply: $(head -n 1 "$kb/apply.log")"
	done
	printf '%s\n' "$stamp" >"$kb/applied"
}

# enable_gcov: GCOV_PROFILE_<file>.o := y in the Makefile next to each of
# $gcov_files (FLAVOUR=coverage only; idempotent, redone after
# apply_patches resets src/).
enable_gcov() {
	[ "${FLAVOUR:-default}" = coverage ] || return 0
	for f in $gcov_files; do
		[ -f "$src/$f" ] || die "gcov_files names $f, which is not in $src"
		mk=$src/${f%/*}/Makefile
		line="GCOV_PROFILE_$(basename "$f" .c).o := y"
		grep -qxF "$line" "$mk" || printf '%s\n' "$line" >>"$mk" ||
			die "cannot write $mk"
	done
}

kmake() {
	nice -n 19 make -C "$src" O="$obj" -j"$jobs" CC="ccache gcc" \
		HOSTCC="ccache gcc" LOCALVERSION= "$@"
}

# obj/.config = x86_64_defconfig + kvm_guest.config + the flavour's
# fragments (qemu-base.config, battery.config [, debug.config]), merged in a
# scratch tree and copied only when it changed (an unchanged .config
# rebuilds nothing).
make_config() {
	conf=$kb/conf
	mkdir -p "$conf" "$obj" || die "cannot create $conf"
	paths=
	for f in $fragments; do
		[ -f "$kp/config/$f" ] || die "no $kp/config/$f"
		paths="$paths $kp/config/$f"
	done
	kvm=$src/kernel/configs/kvm_guest.config
	[ -f "$kvm" ] || kvm=$src/arch/x86/configs/kvm_guest.config
	[ -f "$kvm" ] || die "no kvm_guest.config in $src"
	rm -f "$conf/.config"
	# shellcheck disable=SC2086 # $paths: cache paths, no blanks
	"$src/scripts/kconfig/merge_config.sh" -m -O "$conf" \
		"$src/arch/x86/configs/x86_64_defconfig" "$kvm" $paths \
		>"$kb/merge_config.log" 2>&1 || die "merge_config.sh failed: see $kb/merge_config.log"
	nice -n 19 make -s -C "$src" O="$conf" HOSTCC="ccache gcc" olddefconfig \
		>>"$kb/merge_config.log" 2>&1 || die "make olddefconfig failed: see $kb/merge_config.log"
	for f in $checked; do
		check_fragment "$kp/config/$f"
	done
	cmp -s "$conf/.config" "$obj/.config" || cp "$conf/.config" "$obj/.config" ||
		die "cannot write $obj/.config"
}

# check_fragment FILE: every line of FILE is in $conf/.config as written.
check_fragment() {
	name=${1##*/}
	bad=
	while IFS= read -r line; do
		case $line in
		CONFIG_*=*)
			grep -qxF -- "$line" "$conf/.config" || bad="$bad ${line%%=*}"
			;;
		'# CONFIG_'*' is not set')
			sym=${line#\# }
			sym=${sym%% *}
			! grep -q "^$sym=" "$conf/.config" || bad="$bad $sym"
			;;
		esac
	done <"$1"
	# A symbol that no Kconfig of this tree defines comes from a later
	# patch of the series (check.sh builds every prefix): not an error.
	known=
	for s in $bad; do
		if grep -rqsxE "(menu)?config ${s#CONFIG_}" --include='Kconfig*' "$src"; then
			known="$known $s"
		fi
	done
	bad=$known
	if [ -n "$bad" ]; then
		for s in $bad; do
			want=$(grep -E "^(# )?${s}[= ]" "$1")
			got=$(grep -E "^(# )?${s}[= ]" "$conf/.config" || echo "$s undefined")
			note "$name asks '$want', olddefconfig gave '$got'"
		done
		die "$name options not set as asked:$bad"
	fi
}
