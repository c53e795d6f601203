#!/bin/sh
# initramfs.sh --payload DIR --out FILE [--modules MODDIR] [--module NAME]...
#
# Builds a gzip'd newc cpio initramfs holding a static busybox, /init, the
# payload directory as /suite and the named kernel modules (default:
# hwpoison_inject) with their dependencies from MODDIR (lib/modules/<release>),
# decompressed, under /lib/modules/<release>/. See README.md for /init.
set -eu

me=initramfs.sh
die() { printf '%s: %s\n' "$me" "$*" >&2; exit 1; }
usage() {
	[ $# -eq 0 ] || printf '%s: %s\n' "$me" "$*" >&2
	[ $# -gt 0 ] || printf '%s: usage: initramfs.sh --payload DIR --out FILE [--modules MODDIR] [--module NAME]...\n' "$me" >&2
	exit 2
}
warn() { printf '%s: warning: %s\n' "$me" "$*" >&2; }

payload=
out=
moddir=
modules=
modules_given=
while [ $# -gt 0 ]; do
	case $1 in
	--payload | --out | --modules | --module)
		[ $# -ge 2 ] || usage "$1 needs an argument"
		case $1 in
		--payload) payload=$2 ;;
		--out) out=$2 ;;
		--modules) moddir=$2 ;;
		--module)
			case $2 in
			'' | *[!A-Za-z0-9_-]*) usage "bad module name: '$2'" ;;
			esac
			modules="$modules $2"
			modules_given=1
			;;
		esac
		shift 2
		;;
	-h | --help) usage ;;
	*) usage "unknown argument: $1" ;;
	esac
done
[ -n "$payload" ] || usage "--payload DIR is required"
[ -n "$out" ] || usage "--out FILE is required"
[ -d "$payload" ] || usage "payload directory $payload does not exist"
[ -z "$moddir" ] || [ -d "$moddir" ] || usage "module directory $moddir does not exist"
[ -n "$modules_given" ] || modules=hwpoison_inject
outdir=$(dirname "$out")
[ -d "$outdir" ] || usage "output directory $outdir does not exist"
out=$(cd "$outdir" && pwd -P)/$(basename "$out")
payload=$(cd "$payload" && pwd -P)
[ -z "$moddir" ] || moddir=$(cd "$moddir" && pwd -P)

for t in cpio gzip; do
	command -v "$t" >/dev/null 2>&1 || die "$t not found (apt-get install $t)"
done
busybox=
for b in /bin/busybox /usr/bin/busybox "$(command -v busybox 2>/dev/null || true)"; do
	if [ -n "$b" ] && [ -x "$b" ]; then
		busybox=$b
		break
	fi
done
[ -n "$busybox" ] || die "busybox not found (apt-get install busybox-static)"
if LC_ALL=C grep -q '\.interp' "$busybox"; then
	die "$busybox is dynamically linked (apt-get install busybox-static)"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/hgmt-initramfs.XXXXXX") || die "cannot create a temporary directory"
trap 'rm -rf "$work"' EXIT
trap 'exit 1' INT TERM HUP
root=$work/root
mkdir -p "$root" || die "cannot create $root"
cd "$root" || die "cannot enter $root"
mkdir -p bin sbin usr/bin usr/sbin dev proc sys tmp run etc root suite lib/modules mnt
chmod 1777 tmp
cp "$busybox" bin/busybox || die "cannot copy $busybox"
for applet in $("$busybox" --list-full); do
	[ -e "$applet" ] || [ -L "$applet" ] || ln -s /bin/busybox "$applet"
done
[ -e bin/sh ] || ln -s busybox bin/sh
(cd "$payload" && tar -cf - .) | (cd suite && tar -xf -) || die "cannot copy payload $payload"

# --- kernel modules -------------------------------------------------------
: >etc/hgmt-modules # load order, one /lib/modules/... path a line
if [ -n "$moddir" ] && [ -n "$modules" ]; then
	release=$(basename "$(cd "$moddir" && pwd -P)")
	gmod=lib/modules/$release
	mkdir -p "$gmod"
	depfile=$work/modules.dep
	if [ -s "$moddir/modules.dep" ]; then
		cp "$moddir/modules.dep" "$depfile"
	else
		# No depmod output: list the module files and ask modinfo for the
		# dependencies of the ones needed.
		warn "no modules.dep in $moddir: reading dependencies with modinfo"
		(cd "$moddir" && find -L . -name '*.ko' -o -name '*.ko.*') | sed 's|^\./|NODEP |' >"$depfile"
	fi
	# modpath NAME: path (relative to moddir) of module NAME, "-" and "_" alike.
	modpath() {
		awk -v n="$1" '{ p = $1; if (p == "NODEP") p = $2; sub(/:$/, "", p); b = p; sub(/.*\//, "", b); sub(/\.ko.*$/, "", b); gsub(/-/, "_", b); m = n; gsub(/-/, "_", m); if (b == m) { print p; exit } }' "$depfile"
	}
	moddeps() {
		if [ -s "$moddir/modules.dep" ]; then
			awk -v p="$1" -F: '$1 == p { print $2; exit }' "$depfile"
		else
			for n in $(modinfo -F depends "$moddir/$1" 2>/dev/null | tr ',' ' '); do
				modpath "$n"
			done
		fi
	}
	seen=" "
	# add PATH: add PATH's dependencies (recursively), then PATH, to the load order.
	add() {
		case $seen in *" $1 "*) return 0 ;; esac
		seen="$seen$1 "
		for dep in $(moddeps "$1"); do
			add "$dep"
		done
		src=$moddir/$1
		base=$(basename "$1")
		case $base in
		*.ko.xz) dst=${1%.xz} && xz -dc "$src" >"$gmod/$base.tmp" ;;
		*.ko.gz) dst=${1%.gz} && gzip -dc "$src" >"$gmod/$base.tmp" ;;
		*.ko.zst) dst=${1%.zst} && zstd -qdc "$src" >"$gmod/$base.tmp" ;;
		*.ko) dst=$1 && cp "$src" "$gmod/$base.tmp" ;;
		*) die "unknown module file type: $src" ;;
		esac || die "cannot decompress $src"
		mkdir -p "$gmod/$(dirname "$dst")"
		mv "$gmod/$base.tmp" "$gmod/$dst"
		printf '/%s/%s\n' "$gmod" "$dst" >>etc/hgmt-modules
		# modules.dep for the guest, so that busybox modprobe works too
		gdeps=
		for dep in $(moddeps "$1"); do
			gdeps="$gdeps ${dep%.ko*}.ko"
		done
		printf '%s:%s\n' "$dst" "$gdeps" >>"$gmod/modules.dep"
	}
	for m in $modules; do
		p=$(modpath "$m")
		if [ -z "$p" ]; then
			warn "module $m not found in $moddir: not included"
			continue
		fi
		add "$p"
	done
elif [ -n "$modules_given" ]; then
	warn "no --modules MODDIR given: modules$modules not included"
fi

# --- /init ----------------------------------------------------------------
cat >init <<'EOF'
#!/bin/sh
# hgmt VM init: console on ttyS0, results on ttyS1 (see scripts/vm/README.md)
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export HOME=/root TERM=dumb
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || mount -t tmpfs -o mode=755 dev /dev
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tmpfs -o mode=1777 tmpfs /tmp
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts 2>/dev/null
mount -t tmpfs -o mode=1777 tmpfs /dev/shm 2>/dev/null
[ -e /dev/ttyS1 ] || mknod /dev/ttyS1 c 4 65
R=/dev/ttyS1
# raw: no \n -> \r\n translation in the results stream
stty -F $R raw -echo 2>/dev/null
echo "hgmt-init: $(uname -r) up, loading modules" >/dev/console
while read -r ko; do
	[ -n "$ko" ] || continue
	if ! msg=$(insmod "$ko" 2>&1); then
		echo "#@INSMOD-FAIL $ko $(echo "$msg" | tr '\n' ' ' | sed 's/ *$//')" >$R
	fi
done </etc/hgmt-modules
echo "hgmt-init: running the suite" >/dev/console
cd /suite 2>/dev/null || cd /
if [ -f /suite/guest-run ]; then
	[ -x /suite/guest-run ] || chmod +x /suite/guest-run
	/suite/guest-run </dev/null >$R 2>&1
	rc=$?
elif [ -f /suite/guest-cmd ]; then
	sh -c "$(cat /suite/guest-cmd)" </dev/null >$R 2>&1
	rc=$?
else
	echo "hgmt-init: no /suite/guest-run nor /suite/guest-cmd" >$R
	rc=127
fi
echo "#@GUEST-EXIT $rc" >$R
echo "hgmt-init: suite exited with $rc, powering off" >/dev/console
sync
# let the UART drain the last line before the machine goes away
sleep 0.2
poweroff -f
EOF
chmod 755 init

cd "$root" || exit 1
tmpout=$out.tmp.$$
if ! find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 | gzip -6 >"$tmpout"; then
	rm -f "$tmpout"
	die "cannot write $out"
fi
mv "$tmpout" "$out" || die "cannot write $out"
