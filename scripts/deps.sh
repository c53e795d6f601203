#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Installs the Debian packages the suite needs; idempotent (make deps).
set -eu

PKGS="build-essential libnuma-dev linux-source-6.12 python3 shellcheck
libxml2-utils jq qemu-system-x86 busybox-static cpio xz-utils kmod
numactl stress-ng ccache flex bison bc libelf-dev libssl-dev dwarves
rsync clang-format lcov pyflakes3"

# The kernel source the patch series applies to, at its pinned version.
base=$(dirname "$0")/../kernel-patches/base
ksver=$(awk '!/^#/ && $1 == "linux-source-6.12" { print $2 }' "$base")
[ -n "$ksver" ] || { echo "deps.sh: no linux-source-6.12 version in $base" >&2; exit 1; }

missing=""
for p in $PKGS; do
	if [ "$p" = linux-source-6.12 ]; then
		[ "$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null)" = "$ksver" ] ||
			missing="$missing $p=$ksver"
		continue
	fi
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "deps.sh: all packages present"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "deps.sh: missing:$missing (run as root to install)" >&2
	exit 1
fi
echo "deps.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists yet.
apt-get update -qq
# shellcheck disable=SC2086 # one word per package
apt-get install -y -qq --no-install-recommends --allow-downgrades $missing
