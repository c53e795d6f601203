#!/bin/sh
# cross.sh - the series builds mm/ on arm64, alpha, mips, parisc and xtensa.
#
# Usage: cross.sh [ARCH...]   (default: arm64 alpha mips parisc xtensa)
# For each ARCH whose Debian cross compiler is installed: KSRC + the whole
# series in $HGMT_CACHE/kernel-cross/src (its own copy, so the tree of
# build.sh is never touched), `make ARCH=... defconfig` in the O= tree
# $HGMT_CACHE/kernel-cross/ARCH, then `make mm/` with ccache and -Werror.
# An ARCH without a compiler is reported as skipped, not failed.
# Environment: KSRC, HGMT_CACHE, JOBS as build.sh.  Errors are one line on
# stderr; exit 1 when an ARCH fails, 2 on bad usage.
set -eu

me=cross.sh
case ${1:-} in
-h | --help)
	sed -n '2,11s/^# \{0,1\}//p' "$0"
	exit 0
	;;
esac

# arch:compiler prefix.  xtensa: Debian 12 has only gcc-xtensa-lx106, a
# bare-metal (ESP8266) compiler with no Linux target.
all_arches="arm64:aarch64-linux-gnu alpha:alpha-linux-gnu mips:mips-linux-gnu parisc:hppa-linux-gnu xtensa:xtensa-linux-gnu"
want=
for a in "$@"; do
	case " $all_arches" in
	*" $a:"*) want="$want $a" ;;
	*) printf '%s: unknown architecture %s (known: arm64 alpha mips parisc xtensa)\n' "$me" "$a" >&2; exit 2 ;;
	esac
done

# shellcheck source=kernel-patches/common.sh
. "$(dirname "$0")/common.sh"

# common.sh's helpers work on $kb/$src: point them at a tree of our own,
# so that `make kernel`'s tree and its lock stay out of this.
kb=$cache/kernel-cross
src=$kb/src
obj=$kb/none

start=$(date +%s)
take_lock
find_ksrc
patches=$(series_patches)
[ -n "$patches" ] || die "$kp/series names no patch"
old_ksrc=$(cat "$kb/ksrc" 2>/dev/null || true)
prepare_src
if [ "$old_ksrc" != "$ksrc" ]; then
	# The copy keeps KSRC's mtimes: objects of an older tree would look new.
	for pair in $all_arches; do rm -rf "${kb:?}/${pair%%:*}" "$kb/conf-${pair%%:*}"; done
fi
# shellcheck disable=SC2086
apply_patches $patches

failed=
skipped=
ok=
for pair in $all_arches; do
	arch=${pair%%:*}
	cross=${pair#*:}
	[ -z "$want" ] || case "$want " in *" $arch "*) ;; *) continue ;; esac
	if ! command -v "$cross-gcc" >/dev/null 2>&1; then
		case $arch in
		xtensa) why="Debian 12 has no Linux cross compiler for it" ;;
		*) why="apt-get install gcc-$cross" ;;
		esac
		note "$arch: skipped, no $cross-gcc ($why)"
		skipped="$skipped $arch"
		continue
	fi
	t0=$(date +%s)
	o=$kb/$arch
	conf=$kb/conf-$arch
	log=$kb/$arch.log
	mkdir -p "$o" "$conf" || die "cannot create $o"
	set -- -C "$src" ARCH="$arch" CROSS_COMPILE="$cross-" \
		CC="ccache $cross-gcc" HOSTCC="ccache gcc" LOCALVERSION=
	# defconfig in a scratch tree, copied only when it changed: a rewritten
	# .config would make kbuild re-run syncconfig and recheck everything.
	if ! nice -n 19 make -s "$@" O="$conf" defconfig >"$log" 2>&1; then
		note "$arch: FAILED, make defconfig: $(grep -m 1 -iE 'error' "$log" || tail -n 1 "$log") (log: $log)"
		failed="$failed $arch"
		continue
	fi
	cmp -s "$conf/.config" "$o/.config" || cp "$conf/.config" "$o/.config" ||
		die "cannot write $o/.config"
	# -Werror rather than grepping the log: an object that compiled with a
	# warning is up to date, so the next run would not print it again.
	if ! nice -n 19 make "$@" O="$o" -j"$jobs" KCFLAGS=-Werror mm/ >>"$log" 2>&1; then
		note "$arch: FAILED, make mm/: $(grep -m 1 -E 'error|Error' "$log") (log: $log)"
		failed="$failed $arch"
		continue
	fi
	if grep -q 'warning:' "$log"; then
		note "$arch: FAILED, make mm/ warns: $(grep -m 1 'warning:' "$log") (log: $log)"
		failed="$failed $arch"
		continue
	fi
	n=$(find "$o/mm" -name '*.o' | wc -l)
	note "$arch: mm/ builds ($n objects, $(($(date +%s) - t0)) s)"
	ok="$ok $arch"
done
note "built:${ok:- none}; skipped:${skipped:- none}; failed:${failed:- none} ($(($(date +%s) - start)) s)"
[ -z "$failed" ] || exit 1
