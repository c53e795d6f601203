#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# bench_vm.sh OUTDIR: the rmap-walk half of `make bench` in a qemu guest with
# 2 NUMA nodes and CONFIG_MEMORY_FAILURE (scripts/vm/), for hosts where
# move_pages has nowhere to go or MADV_HWPOISON does not exist.
#
# Builds build/static/stress/refcount_stress, boots it with a busybox
# guest-run that runs every count with --migrate --hwpoison --json (with
# HT_ALLOW_DESTRUCTIVE=1: the guest is thrown away), and writes into OUTDIR
#   vm-run-<mappings>.json   refcount_stress's JSON plus "vm": {kernel, ...}
#   vm-run-<mappings>.txt    its text report
#   vm-console.log, vm-stream.log, vm-qemu.log   the raw guest output
# bench.sh reads the vm-run-*.json beside its own run-*.json.
#
# Environment:
#   BENCH_VM_COUNTS   "PROCSxVMAS ..." (default: 1x1000 1x10000 2x50000 16x62500)
#   BENCH_VM_KERNEL   a scripts/vm/kernel.sh name (default: debian-6.12)
#   BENCH_VM_MEM_MB   guest memory, split over 2 nodes (default: 6144)
#   BENCH_VM_TIMEOUT  seconds before the guest is killed (default: 1200)
#   BENCH_ARGS        extra refcount_stress options, as for bench.sh
# Exit: 0 the guest ran every count (whatever the verdicts: bench.sh judges
# them), 1 the guest died or lost a count, 2 setup failed (build, kernel, qemu).
set -u

me=bench_vm.sh
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
vmdir=$top/scripts/vm
counts=${BENCH_VM_COUNTS:-"1x1000 1x10000 2x50000 16x62500"}
kname=${BENCH_VM_KERNEL:-debian-6.12}
mem=${BENCH_VM_MEM_MB:-6144}
tmo=${BENCH_VM_TIMEOUT:-1200}

die() {
	echo "$me: $*" >&2
	exit 2
}

[ $# -eq 1 ] || die "usage: bench_vm.sh OUTDIR"
out=$1
[ -d "$out" ] || die "$out is not a directory"
for c in $counts; do
	case $c in
	[0-9]*x[0-9]*) ;;
	*) die "BENCH_VM_COUNTS entry '$c' is not PROCSxVMAS" ;;
	esac
done
command -v qemu-system-x86_64 >/dev/null ||
	die "qemu-system-x86_64 not installed (make deps)"

nice -n 10 make -s -C "$top" build/static/stress/refcount_stress >&2 ||
	die "static build failed (make static)"
info=$("$vmdir/kernel.sh" "$kname") || die "kernel.sh $kname failed"
kimg=$(echo "$info" | sed -n 's/^KERNEL=//p')
kmod=$(echo "$info" | sed -n 's/^MODDIR=//p')
krel=$(echo "$info" | sed -n 's/^RELEASE=//p')

work=$(mktemp -d "${TMPDIR:-/tmp}/hgmt-bench-vm.XXXXXX") || die "no temporary directory"
qpid=
cleanup() {
	# boot.sh kills its qemu on TERM
	if [ -n "$qpid" ]; then kill -TERM "$qpid" 2>/dev/null && wait "$qpid"; fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

pay=$work/payload
mkdir -p "$pay/bin" "$pay/lib"
cp "$top/build/static/stress/refcount_stress" "$pay/" || die "cannot copy refcount_stress"

# numastat(8) and migratepages(8) (the stress's cross-check and its
# "migratepages back" figure) are dynamic: carry them with their libraries
# and run them through the loader.  Without numactl on the host the guest
# reports them as unavailable (migratepages_ms -1), nothing else changes.
ld=/lib64/ld-linux-x86-64.so.2
for t in numastat migratepages; do
	p=$(command -v "$t" 2>/dev/null) || continue
	[ -r "$ld" ] || break
	cp "$p" "$pay/lib/$t.bin" || continue
	for l in $(ldd "$p" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'); do
		cp -n "$l" "$pay/lib/" 2>/dev/null
	done
	cp -n "$ld" "$pay/lib/ld.so" 2>/dev/null
	printf '#!/bin/sh\nexec /suite/lib/ld.so --library-path /suite/lib /suite/lib/%s.bin "$@"\n' \
		"$t" >"$pay/bin/$t"
	chmod +x "$pay/bin/$t"
done

# The guest: each count with its JSON and text between marker lines on the
# results port (stdout), the status of every run on its BEGIN line.
{
	cat <<'EOF'
#!/bin/sh
export PATH=/suite/bin:$PATH HT_ALLOW_DESTRUCTIVE=1
cd /suite || exit 1
rel=$(uname -r)
nodes=$(ls -d /sys/devices/system/node/node[0-9]* 2>/dev/null | wc -l)
# Console: KERN_CRIT and worse only.  memory_failure() prints a pr_err line
# per mapping it signals, which on the emulated serial port would be timed
# as part of MADV_HWPOISON; the stress reads /dev/kmsg for complaints itself.
echo 3 >/proc/sys/kernel/printk
echo "#@BENCH-GUEST kernel=$rel nodes=$nodes"
EOF
	printf 'args="%s"\n' "${BENCH_ARGS:-}"
	printf 'counts="%s"\n' "$counts"
	cat <<'EOF'
for c in $counts; do
	p=${c%x*} v=${c#*x}
	n=$((p * v))
	t0=$(date +%s)
	# shellcheck disable=SC2086
	./refcount_stress -p "$p" -v "$v" --migrate --hwpoison \
		--json /tmp/run-$n.json $args >/tmp/run-$n.txt 2>&1
	rc=$?
	t1=$(date +%s)
	echo "#@BENCH-BEGIN $n rc=$rc seconds=$((t1 - t0)) kernel=$rel"
	echo "#@BENCH-TXT"
	cat /tmp/run-$n.txt
	echo "#@BENCH-JSON"
	cat /tmp/run-$n.json 2>/dev/null
	echo "#@BENCH-END $n"
	rm -f /tmp/run-$n.json /tmp/run-$n.txt
done
EOF
} >"$pay/guest-run"
chmod +x "$pay/guest-run"

set -- ${kmod:+--modules "$kmod"}
"$vmdir/initramfs.sh" --payload "$pay" --out "$work/initrd.gz" "$@" \
	2>"$work/initramfs.log" ||
	die "initramfs build failed: $(tail -n 1 "$work/initramfs.log")"

con=$out/vm-console.log
str=$out/vm-stream.log
ncounts=$(echo "$counts" | wc -w)
echo "bench: VM: $kname ($krel), 2 nodes, ${mem} MiB, counts $counts (timeout ${tmo}s)"
nice -n 10 "$vmdir/boot.sh" --kernel "$kimg" --initrd "$work/initrd.gz" \
	--nodes 2 --mem-mb "$mem" --cpus 2 --append mitigations=off \
	--timeout "$tmo" --console "$con" --stream "$str" \
	>"$out/vm-qemu.log" 2>&1 &
qpid=$!
# Progress: one line per finished count.
seen=0
while kill -0 "$qpid" 2>/dev/null; do
	sleep 3
	now=$(grep -ac '^#@BENCH-BEGIN ' "$str" 2>/dev/null)
	while [ "${now:-0}" -gt "$seen" ]; do
		seen=$((seen + 1))
		grep -a '^#@BENCH-BEGIN ' "$str" | sed -n "${seen}p" |
			awk -v k="$ncounts" -v i="$seen" \
				'{ sub(/rc=/, "", $3); sub(/seconds=/, "", $4); printf "bench: VM %d/%d: %8d mappings: exit %s, %s s in the guest (verdicts below)\n", i, k, $2, $3, $4 }'
	done
done
wait "$qpid"
qrc=$?
qpid=
echo "bench: VM: $(tail -n 1 "$out/vm-qemu.log")"

# Split the stream: vm-run-<n>.json (with where it ran) and vm-run-<n>.txt.
python3 - "$str" "$out" "$kname" "$krel" <<'EOF'
import json, os, re, sys

stream, out, kname, krel = sys.argv[1:5]
accel = "?"
try:
    with open(os.path.join(out, "vm-qemu.log")) as fh:
        m = re.search(r"accel=(\w+)", fh.read())
        accel = m.group(1) if m else accel
except OSError:
    pass
with open(stream, "rb") as fh:
    lines = fh.read().decode("utf-8", "replace").replace("\r", "").split("\n")
cur = part = None
txt, js = [], []
for line in lines:
    m = re.match(r"#@BENCH-BEGIN (\d+) rc=(\d+) seconds=(\d+) kernel=(\S+)", line)
    if m:
        cur = dict(n=int(m.group(1)), rc=int(m.group(2)),
                   seconds=int(m.group(3)), kernel=m.group(4))
        txt, js, part = [], [], None
        continue
    if cur is None:
        continue
    if line == "#@BENCH-TXT":
        part = txt
    elif line == "#@BENCH-JSON":
        part = js
    elif line.startswith("#@BENCH-END "):
        n = cur["n"]
        with open(os.path.join(out, "vm-run-%d.txt" % n), "w") as fh:
            fh.write("\n".join(txt) + "\n")
        try:
            r = json.loads("\n".join(js))
        except ValueError:
            r = None
        if r is not None:
            r["vm"] = {"kernel": cur["kernel"], "kernel_name": kname,
                       "release": krel, "accel": accel, "nodes": 2,
                       "exit": cur["rc"], "guest_seconds": cur["seconds"]}
            with open(os.path.join(out, "vm-run-%d.json" % n), "w") as fh:
                json.dump(r, fh, indent=2)
                fh.write("\n")
        else:
            print("bench: VM %d mappings: no JSON (exit %d): %s" % (
                n, cur["rc"], (txt[-1] if txt else "no output")))
        cur = part = None
    elif part is not None:
        part.append(line)
EOF

got=$(grep -ac '^#@BENCH-END ' "$str")
if ! grep -aq '^#@GUEST-EXIT' "$str" || [ "$got" -lt "$ncounts" ]; then
	why="qemu exit $qrc"
	[ "$qrc" = 124 ] && why="timeout ${tmo}s"
	echo "bench: VM: the guest finished $got of $ncounts counts ($why); console: $con"
	tr -d '\r' <"$con" | grep -aE 'Kernel panic|BUG|Oops|Out of memory|RIP:' |
		head -n 5 | sed 's/^/bench:   /'
	exit 1
fi
exit 0
