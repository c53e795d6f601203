#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make bench: refcount_stress at 1k, 10k, 100k and 1M mappings of one huge
# page.  Prints the mapping rate against the single-process baseline and
# the cost of the reverse-map walk (migration, hwpoison where they can run)
# against the number of mappings, and writes
#   results/bench-<UTC time>/{run-<mappings>.json,run-<mappings>.txt,figures.json,plot.svg}
# Speed figures are printed, never judged; the exit status is 1 only when a
# run's own verdict is FAIL (wrong count, kernel complaint, leftovers).
#
# Environment:
#   BENCH_COUNTS   "PROCSxVMAS ..." (default: 1x1000 1x10000 2x50000 16x62500)
#   BENCH_ARGS     extra refcount_stress options (e.g. "--populate read")
#   RESULTS        results root (default: results/ next to this script's parent)
#   HT_ALLOW_DESTRUCTIVE=1   also time hwpoison (the VM sets it)
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
bin=${STRESS_BIN:-$top/build/stress/refcount_stress}
counts=${BENCH_COUNTS:-"1x1000 1x10000 2x50000 16x62500"}
root=${RESULTS:-$top/results}
out=$root/bench-$(date -u +%Y%m%dT%H%M%SZ)

if [ ! -x "$bin" ]; then
	echo "bench: $bin not built (run make)" >&2
	exit 2
fi
for c in $counts; do
	case $c in
	[0-9]*x[0-9]*) ;;
	*) echo "bench: BENCH_COUNTS entry '$c' is not PROCSxVMAS" >&2; exit 2 ;;
	esac
done
mkdir -p "$out" || exit 2
echo "bench: results in $out"

fail=0
for c in $counts; do
	p=${c%x*}
	v=${c#*x}
	n=$((p * v))
	# shellcheck disable=SC2086 # BENCH_ARGS is a list of options
	nice -n 10 "$bin" -p "$p" -v "$v" --migrate --hwpoison \
		--json "$out/run-$n.json" ${BENCH_ARGS:-} >"$out/run-$n.txt" 2>&1
	rc=$?
	case $rc in
	0) v_="pass" ;;
	4) v_="skip: $(head -n1 "$out/run-$n.txt")" ;;
	*) v_="FAIL (exit $rc)"; fail=1 ;;
	esac
	printf 'bench: %8d mappings (%s): %s\n' "$n" "$c" "$v_"
	[ "$rc" = 1 ] && grep -E '^verdict' "$out/run-$n.txt" | sed 's/^/bench:   /'
done

python3 - "$out" <<'EOF'
import glob, json, math, os, sys

out = sys.argv[1]
runs = []
for f in glob.glob(os.path.join(out, "run-*.json")):
    try:
        with open(f) as fh:
            runs.append(json.load(fh))
    except (OSError, ValueError):
        pass
runs.sort(key=lambda r: r["stress"]["mappings"])

rows = []
mig_skip = hwp_skip = None
for r in runs:
    m, h = r.get("migration"), r.get("hwpoison")
    row = {
        "mappings": r["stress"]["mappings"],
        "processes": r["config"]["processes"],
        "vmas_per_process": r["config"]["vmas_per_process"],
        "rate": r["stress"]["rate"],
        "baseline_rate": r["baseline"]["rate"],
        "ratio_to_baseline": r["stress"]["ratio_to_baseline"],
        "seconds": r["stress"]["seconds"],
        "teardown_seconds": r["teardown"]["seconds"],
        "kpagecount": (r.get("peak") or {}).get("kpagecount"),
        "slab_delta_kb": (r.get("peak") or {}).get("slab_delta_kb"),
        "pagetables_delta_kb": (r.get("peak") or {}).get("pagetables_delta_kb"),
        "verdict": r["verdict"],
        "migration_ms": None, "migratepages_ms": None, "hwpoison_ms": None,
    }
    if m and "skipped" not in m:
        row["migration_ms"] = m["move_ms"]
        row["migratepages_ms"] = m["migratepages_ms"]
    elif m:
        mig_skip = m["skipped"]
    if h and "skipped" not in h:
        row["hwpoison_ms"] = h["ms"]
    elif h:
        hwp_skip = h["skipped"]
    rows.append(row)

fig = {"runs": rows, "migration_skipped": mig_skip, "hwpoison_skipped": hwp_skip}
with open(os.path.join(out, "figures.json"), "w") as fh:
    json.dump(fig, fh, indent=2)

print("bench: %10s %5s %12s %12s %8s %12s %12s %12s" % (
    "mappings", "procs", "maps/s", "baseline/s", "ratio", "migrate ms",
    "migr.pages ms", "hwpoison ms"))
fmt = lambda v: "-" if v is None else "%.3f" % v
for r in rows:
    print("bench: %10d %5d %12.0f %12.0f %8.2f %12s %12s %12s" % (
        r["mappings"], r["processes"], r["rate"], r["baseline_rate"],
        r["ratio_to_baseline"], fmt(r["migration_ms"]),
        fmt(r["migratepages_ms"]), fmt(r["hwpoison_ms"])))
if mig_skip:
    print("bench: migration curve not available here: " + mig_skip)
if hwp_skip:
    print("bench: hwpoison curve not available here: " + hwp_skip)

# The plot: log-x mappings; y = rmap-walk times where they exist, else
# the mapping rate (and the baseline's) so the page is never empty.
series = []
if any(r["migration_ms"] is not None for r in rows):
    ylabel, title = "milliseconds", "reverse-map walk cost vs mappings of one huge page"
    for key, name, col in (("migration_ms", "move_pages MOVE_ALL", "#c0392b"),
                           ("migratepages_ms", "migratepages back", "#8e44ad"),
                           ("hwpoison_ms", "MADV_HWPOISON", "#2471a3")):
        pts = [(r["mappings"], r[key]) for r in rows if r[key] is not None and r[key] >= 0]
        if pts:
            series.append((name, col, pts))
    note = ""
else:
    ylabel, title = "mappings per second", "mapping rate vs mappings of one huge page"
    series.append(("stress (all processes)", "#c0392b",
                   [(r["mappings"], r["rate"]) for r in rows if r["rate"] > 0]))
    series.append(("single-process baseline", "#2471a3",
                   [(r["mappings"], r["baseline_rate"]) for r in rows if r["baseline_rate"] > 0]))
    note = "migration curve not available here" + (": " + mig_skip if mig_skip else "")

W, H, L, R, T, B = 760, 460, 90, 30, 50, 70
pts = [p for s in series for p in s[2]]
svg = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">' % (W, H),
       '<rect width="100%" height="100%" fill="white"/>',
       '<text x="%d" y="24" font-size="15" text-anchor="middle">%s</text>' % (W // 2, title)]
if pts:
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    x0 = 10 ** math.floor(math.log10(min(xs)))
    x1 = 10 ** math.ceil(math.log10(max(xs)))
    if x1 <= x0:
        x1 = x0 * 10
    y1 = max(ys) * 1.1 or 1.0
    px = lambda x: L + (math.log10(x) - math.log10(x0)) / (math.log10(x1) - math.log10(x0)) * (W - L - R)
    py = lambda y: H - B - y / y1 * (H - T - B)
    svg.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (L, H - B, W - R, H - B))
    svg.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (L, T, L, H - B))
    d = x0
    while d <= x1:
        x = px(d)
        svg.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>' % (x, T, x, H - B))
        lab = "%dk" % (d // 1000) if d < 1e6 and d >= 1000 else ("%dM" % (d // 1000000) if d >= 1e6 else "%d" % d)
        svg.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (x, H - B + 18, lab))
        d *= 10
    for i in range(6):
        y = y1 * i / 5
        svg.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>' % (L, py(y), W - R, py(y)))
        svg.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (L - 6, py(y) + 4, ("%.3g" % y)))
    svg.append('<text x="%d" y="%d" text-anchor="middle">mappings of the page (log scale)</text>' % ((L + W - R) // 2, H - 30))
    svg.append('<text x="18" y="%d" text-anchor="middle" transform="rotate(-90 18 %d)">%s</text>' % ((T + H - B) // 2, (T + H - B) // 2, ylabel))
    for i, (name, col, sp) in enumerate(series):
        sp = sorted(sp)
        if not sp:
            continue
        svg.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (
            col, " ".join("%.1f,%.1f" % (px(x), py(y)) for x, y in sp)))
        for x, y in sp:
            svg.append('<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%d: %.4g</title></circle>' % (px(x), py(y), col, x, y))
        svg.append('<rect x="%d" y="%d" width="14" height="3" fill="%s"/>' % (L + 12, T + 10 + 16 * i, col))
        svg.append('<text x="%d" y="%d">%s</text>' % (L + 32, T + 15 + 16 * i, name))
else:
    svg.append('<text x="%d" y="%d" text-anchor="middle">no runs produced figures</text>' % (W // 2, H // 2))
if note:
    esc = note.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    svg.append('<text x="%d" y="%d" text-anchor="middle" fill="#555">%s</text>' % (W // 2, H - 8, esc))
svg.append("</svg>")
with open(os.path.join(out, "plot.svg"), "w") as fh:
    fh.write("\n".join(svg) + "\n")
print("bench: wrote %s and %s" % (os.path.join(out, "figures.json"), os.path.join(out, "plot.svg")))
EOF
exit $fail
