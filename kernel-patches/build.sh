#!/bin/sh
# build.sh - build the patched kernel that `run_tests.sh --vm=patched` boots.
#
# Applies kernel-patches/series to a git copy of KSRC (default: Debian's
# linux-source-6.12, unpacked once into the cache), merges x86_64_defconfig
# + kvm_guest.config + config/qemu-base.config + config/battery.config,
# checks that battery.config survived olddefconfig, and builds bzImage and
# modules out of tree with ccache, under nice.  Leaves
#   $HGMT_CACHE/kernel-build/bzImage
#   $HGMT_CACHE/kernel-build/modules/lib/modules/<release>/
# Environment: KSRC, HGMT_CACHE, JOBS (default: nproc), LINUX_SOURCE_TARBALL,
# FLAVOUR (default; debug: + config/debug.config; coverage:
# + config/coverage.config and gcov for common.sh's gcov_files; each
# built in $HGMT_CACHE/kernel-build-<flavour>/ with the same layout).
# Incremental: the object tree is kept; the series is re-applied only when
# it changed.  Errors are one line on stderr; exit 2 on bad usage.
set -eu

me=build.sh
case ${1:-} in
-h | --help)
	sed -n '2,15s/^# \{0,1\}//p' "$0"
	exit 0
	;;
esac
[ $# -eq 0 ] || { printf '%s: usage: build.sh (no arguments; environment KSRC, HGMT_CACHE, JOBS, FLAVOUR)\n' "$me" >&2; exit 2; }

# shellcheck source=kernel-patches/common.sh
. "$(dirname "$0")/common.sh"

start=$(date +%s)
take_lock
find_ksrc
prepare_src
# shellcheck disable=SC2046
apply_patches $(series_patches)
enable_gcov
make_config

log=$kb/build.log
note "building in $obj (log: $log)"
kmake bzImage modules >"$log" 2>&1 || {
	note "$(grep -E 'error|Error' "$log" | head -n 1)"
	die "make bzImage modules failed: see $log"
}
release=$(kmake -s kernelrelease 2>/dev/null) || die "make kernelrelease failed"
[ -n "$release" ] || die "empty kernel release"

rm -rf "$kb/modules.new"
kmake INSTALL_MOD_PATH="$kb/modules.new" DEPMOD=/sbin/depmod modules_install \
	>"$kb/modules_install.log" 2>&1 || die "make modules_install failed: see $kb/modules_install.log"
[ -d "$kb/modules.new/lib/modules/$release" ] || die "modules_install left no lib/modules/$release"
# the build/ and source/ links point into the cache tree: not for the guest
rm -f "$kb/modules.new/lib/modules/$release/build" "$kb/modules.new/lib/modules/$release/source"
rm -rf "$kb/modules"
mv "$kb/modules.new" "$kb/modules" || die "cannot move the modules into $kb/modules"
if ! { cp "$obj/arch/x86/boot/bzImage" "$kb/bzImage.new" && mv "$kb/bzImage.new" "$kb/bzImage"; }; then
	die "cannot copy bzImage"
fi
printf '%s\n' "$release" >"$kb/release"
note "built $release in $(($(date +%s) - start)) s: $kb/bzImage, $kb/modules/lib/modules/$release"
