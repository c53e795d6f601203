#!/bin/sh
# kernel.sh NAME - resolve a kernel image for the VM tests.
#
# NAME: debian-6.12 | debian-6.1 | patched | patched-debug | patched-coverage | /path/to/bzImage[:MODDIR]
# Prints on stdout exactly four lines:
#   KERNEL=<abs path of the bzImage/vmlinuz>
#   MODDIR=<abs path of lib/modules/<release>, or empty>
#   RELEASE=<kernel release, or empty>
#   VERSION=<Debian package version, or 'local'>
# Debian kernels are downloaded (apt-get download, no install) and unpacked
# with dpkg -x into ${HGMT_CACHE:-$HOME/.cache/hgmt}/kernels/<package>_<version>/
# and reused from there.
set -eu

me=kernel.sh
die() { printf '%s: %s\n' "$me" "$*" >&2; exit 1; }
usage() { printf '%s: usage: kernel.sh debian-6.12|debian-6.1|patched|patched-debug|patched-coverage|BZIMAGE[:MODDIR]\n' "$me" >&2; exit 2; }
warn() { printf '%s: warning: %s\n' "$me" "$*" >&2; }

[ $# -eq 1 ] || usage
name=$1
[ -n "$name" ] || usage

cache=${HGMT_CACHE:-${HOME:-/root}/.cache/hgmt}

abspath() { (cd "$(dirname "$1")" && printf '%s/%s\n' "$(pwd -P)" "$(basename "$1")"); }

# Release string from a bzImage's setup header (offset 0x20e holds the
# offset-0x200 of a NUL-terminated version string, "6.12.0-foo (user@host) #1 ...").
bzimage_release() {
	off=$(od -An -tu2 -j 526 -N 2 "$1" 2>/dev/null | tr -d ' ') || return 0
	[ -n "$off" ] && [ "$off" -gt 0 ] || return 0
	dd if="$1" bs=1 skip=$((off + 512)) count=200 2>/dev/null |
		tr '\000' '\n' | head -n 1 | sed -n 's/^\([^ ][^ ]*\).*/\1/p'
}

# Given a directory that is either lib/modules/<release> or a tree holding
# lib/modules/<release>, print the lib/modules/<release> path.
find_moddir() {
	if [ -f "$1/modules.dep" ] || [ -f "$1/modules.order" ] || [ -d "$1/kernel" ]; then
		abspath "$1"
		return 0
	fi
	found=
	for d in "$1"/lib/modules/*/; do
		[ -d "$d" ] || continue
		[ -z "$found" ] || die "several kernel releases under $1/lib/modules: pass the one to use"
		found=${d%/}
	done
	[ -n "$found" ] || die "no lib/modules/<release> in $1"
	abspath "$found"
}

emit() {
	printf 'KERNEL=%s\nMODDIR=%s\nRELEASE=%s\nVERSION=%s\n' "$1" "$2" "$3" "$4"
}

# Debian: newest package whose name matches $1 (an ERE), by candidate version.
debian_kernel() {
	pattern=$1
	kdir=$cache/kernels
	mkdir -p "$kdir" || die "cannot create $kdir"
	best_pkg=
	best_ver=
	prefix=$2
	pkgs=$(apt-cache pkgnames "$prefix" 2>/dev/null | grep -E "$pattern" || true)
	if [ -n "$pkgs" ]; then
		# shellcheck disable=SC2086
		cands=$(apt-cache policy $pkgs 2>/dev/null |
			awk '/^[^ ]/ { sub(/:$/, ""); p = $0 } /^ *Candidate:/ && $2 != "(none)" { print p, $2 }')
		while read -r p v; do
			[ -n "$p" ] || continue
			if [ -z "$best_ver" ] || dpkg --compare-versions "$v" gt "$best_ver"; then
				best_pkg=$p
				best_ver=$v
			fi
		done <<EOF2
$cands
EOF2
	fi
	if [ -z "$best_pkg" ]; then
		# Offline / no apt lists: fall back to the newest one already unpacked.
		for d in "$kdir"/*/.complete; do
			[ -f "$d" ] || continue
			d=${d%/.complete}
			b=$(basename "$d")
			p=${b%%_*}
			v=${b#*_}
			printf '%s\n' "$p" | grep -Eq "$pattern" || continue
			if [ -z "$best_ver" ] || dpkg --compare-versions "$v" gt "$best_ver"; then
				best_pkg=$p
				best_ver=$v
			fi
		done
		[ -n "$best_pkg" ] || die "no package matching $pattern in apt (run apt-get update) and none cached in $kdir"
		warn "apt knows no package matching $pattern; using cached $best_pkg $best_ver"
	fi
	dir=$kdir/${best_pkg}_$best_ver
	if [ ! -f "$dir/.complete" ]; then
		tmp=$(mktemp -d "$kdir/.tmp.XXXXXX") || die "cannot create a temporary dir in $kdir"
		# shellcheck disable=SC2064
		trap "rm -rf '$tmp'" EXIT INT TERM
		chmod 755 "$tmp"
		if ! (cd "$tmp" && apt-get download "$best_pkg=$best_ver") >"$tmp/download.log" 2>&1; then
			die "apt-get download $best_pkg=$best_ver failed: $(grep -E '^(E|W):' "$tmp/download.log" | head -n 1)"
		fi
		deb=
		for f in "$tmp"/*.deb; do
			[ -f "$f" ] && deb=$f
		done
		[ -n "$deb" ] || die "apt-get download $best_pkg=$best_ver produced no .deb"
		dpkg -x "$deb" "$tmp/root" || die "dpkg -x $deb failed"
		rm -f "$deb" "$tmp/download.log"
		rm -rf "$dir"
		mv "$tmp/root" "$dir" || die "cannot move the unpacked kernel to $dir"
		printf '%s %s\n' "$best_pkg" "$best_ver" >"$dir/.complete"
		rm -rf "$tmp"
		trap - EXIT INT TERM
	fi
	kernel=
	for k in "$dir"/boot/vmlinuz-*; do
		[ -f "$k" ] || continue
		[ -z "$kernel" ] || die "several vmlinuz in $dir/boot"
		kernel=$k
	done
	[ -n "$kernel" ] || die "no boot/vmlinuz-* in $dir"
	release=${kernel##*/vmlinuz-}
	moddir=$dir/lib/modules/$release
	[ -d "$moddir" ] || die "no $moddir"
	# Debian packages ship no modules.dep (their postinst runs depmod).
	if [ ! -s "$moddir/modules.dep" ]; then
		depmod -b "$dir" "$release" 2>/dev/null || die "depmod -b $dir $release failed"
	fi
	emit "$kernel" "$moddir" "$release" "$best_ver"
}

case $name in
debian-6.12)
	debian_kernel '^linux-image-6\.12\.[0-9]+\+deb12-amd64-unsigned$' linux-image-6.12.
	;;
debian-6.1)
	debian_kernel '^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$' linux-image-6.1.0-
	;;
patched | patched-debug | patched-coverage)
	# make kernel FLAVOUR=<flavour> builds into a tree of its own
	kb=$cache/kernel-build
	build="make kernel"
	if [ "$name" != patched ]; then
		kb=$cache/kernel-build-${name#patched-}
		build="make kernel FLAVOUR=${name#patched-}"
	fi
	[ -f "$kb/bzImage" ] || die "$name kernel not built: run $build"
	kernel=$(abspath "$kb/bzImage")
	moddir=
	release=
	if [ -d "$kb/modules/lib/modules" ]; then
		moddir=$(find_moddir "$kb/modules")
		release=$(basename "$moddir")
	else
		warn "no modules in $kb/modules/lib/modules"
		release=$(bzimage_release "$kernel")
	fi
	emit "$kernel" "$moddir" "$release" local
	;;
debian-*)
	printf '%s: unknown kernel %s (known: debian-6.12, debian-6.1, patched, patched-debug, patched-coverage, or a path)\n' "$me" "$name" >&2
	exit 2
	;;
*)
	kpath=$name
	mpath=
	if [ ! -e "$kpath" ]; then
		case $name in
		*:*)
			kpath=${name%%:*}
			mpath=${name#*:}
			;;
		esac
	fi
	[ -e "$kpath" ] || {
		printf '%s: unknown kernel %s: not debian-6.12, debian-6.1, patched, patched-debug, patched-coverage, or an existing file\n' "$me" "$kpath" >&2
		exit 2
	}
	[ -f "$kpath" ] || die "$kpath is not a file"
	kernel=$(abspath "$kpath")
	moddir=
	release=
	if [ -n "$mpath" ]; then
		[ -d "$mpath" ] || die "module dir $mpath does not exist"
		moddir=$(find_moddir "$mpath")
		release=$(basename "$moddir")
	else
		release=$(bzimage_release "$kernel")
	fi
	emit "$kernel" "$moddir" "$release" local
	;;
esac
