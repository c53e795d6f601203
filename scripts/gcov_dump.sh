#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# gcov_dump.sh [GCOV_DIR] - the kernel's gcov counters as text on stdout,
# for run_tests.sh --coverage.  Runs in the VM's busybox and on a host.
#
# GCOV_DIR (default /sys/kernel/debug/gcov, or $HT_GCOV_DIR) mirrors the
# kernel's build tree: <obj path>/mm/hugetlb.gcda.  debugfs reports size
# 0 for these files, so tar cannot read them: each is copied with cat.
# Prints
#   #@GCOV-BEGIN <files>
#   base64 of a gzip'd tar of the .gcda files under their build paths
#   #@GCOV-END
# or one line "#@GCOV-NONE <reason>" (exit 1).
dir=${1:-${HT_GCOV_DIR:-/sys/kernel/debug/gcov}}
if [ ! -d "$dir" ]; then
	echo "#@GCOV-NONE no $dir: the kernel has no CONFIG_GCOV_KERNEL (make kernel FLAVOUR=coverage) or debugfs is not mounted"
	exit 1
fi
tmp=${TMPDIR:-/tmp}/gcov_dump.$$
rm -rf "$tmp"
mkdir -p "$tmp/d" || { echo "#@GCOV-NONE cannot create $tmp"; exit 1; }
n=0
# The counters are copied in one pass; the battery has ended, so they
# no longer move.
for f in $(cd "$dir" && find . -name '*.gcda'); do
	if ! { mkdir -p "$tmp/d/${f%/*}" && cat "$dir/$f" >"$tmp/d/$f"; }; then
		echo "#@GCOV-NONE cannot copy $dir/$f"
		rm -rf "$tmp"
		exit 1
	fi
	n=$((n + 1))
done
if [ "$n" = 0 ]; then
	echo "#@GCOV-NONE no .gcda file under $dir: no file of this kernel is built with GCOV_PROFILE"
	rm -rf "$tmp"
	exit 1
fi
echo "#@GCOV-BEGIN $n"
tar -C "$tmp/d" -cf - . | gzip -c | base64
echo "#@GCOV-END"
rm -rf "$tmp"
