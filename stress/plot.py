#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""bench.sh's figures: reads the runs' JSON in OUTDIR, writes
OUTDIR/figures.json and OUTDIR/plot.svg (hand-written SVG: no plotting
library to install), prints the tables.

  plot.py OUTDIR VMNOTE CNOTE MNOTE MCOUNTS MROUNDS [PNOTE]

OUTDIR holds run-<n>.json and vm-run-<n>.json (refcount_stress, the rate
and rmap-walk figures), continue-host.json and vm-continue.json
(continue_rate), migrate-host-<huge|hgm>-<PxV>.json and vm-migrate-...
(refcount_stress --migrate-rounds), postcopy.json and vm-postcopy.json
(postcopy: then also OUTDIR/postcopy.svg); any may be missing.  The notes
say why a VM part is absent ("" when it is not; PNOTE the post-copy one);
MCOUNTS is the migration figure's "PxV ..." list ("" when it did not run).
Exit 1 when a run's verdict is FAIL (continue, postcopy: anything but
PASS), else 0.  tests/plot_test.py runs it on tests/fixtures/bench/.
"""
import glob
import json
import math
import os
import re
import sys

if len(sys.argv) not in (7, 8):
    sys.exit(__doc__.strip())

out, vmnote, cnote, mnote, mcounts = sys.argv[1:6]
mrounds = int(sys.argv[6])
pnote = sys.argv[7] if len(sys.argv) == 8 else ""

def load(pattern):
    runs = []
    for f in glob.glob(os.path.join(out, pattern)):
        try:
            with open(f) as fh:
                runs.append(json.load(fh))
        except (OSError, ValueError):
            pass
    runs.sort(key=lambda r: r["stress"]["mappings"])
    return runs

# A destructive run leaves its poisoned huge page allocated for ever, so
# the pool cannot be put back: with hwpoison done, a FAIL whose only
# failures are pool differences is not the stress failing.
def poison_explained(r):
    h = r.get("hwpoison") or {}
    if r["verdict"] != "FAIL" or "ms" not in h:
        return False
    parts = [p.strip() for p in r.get("failures", "").split(";") if p.strip()]
    return bool(parts) and all(
        re.match(r"^(not restored: )?\w+ pool: [^;]*$", p) and "max_map_count" not in p
        for p in parts)

def rows_of(runs):
    rows = []
    skip = {"migration": None, "hwpoison": None}
    for r in runs:
        m, h = r.get("migration"), r.get("hwpoison")
        verdict = r["verdict"]
        if poison_explained(r):
            verdict = "PASS (pool keeps the poisoned page)"
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
            "verdict": verdict,
            "failures": r.get("failures", ""),
            "migration_ms": None, "migratepages_ms": None, "hwpoison_ms": None,
        }
        if m and "skipped" not in m:
            if m.get("errno", 0) == 0:
                row["migration_ms"] = m["move_ms"]
            if m["migratepages_ms"] >= 0:
                row["migratepages_ms"] = m["migratepages_ms"]
        elif m:
            skip["migration"] = m["skipped"]
        if h and "skipped" not in h:
            row["hwpoison_ms"] = h["ms"]
        elif h:
            skip["hwpoison"] = h["skipped"]
        rows.append(row)
    return rows, skip

host_runs, vm_runs = load("run-*.json"), load("vm-run-*.json")
host_rows, host_skip = rows_of(host_runs)
vm_rows, vm_skip = rows_of(vm_runs)
host_kernel = os.uname().release
vm_info = vm_runs[0]["vm"] if vm_runs else None
vm_label = None
if vm_info:
    vm_label = "VM %s (%s, %s, %d nodes)" % (
        vm_info["kernel_name"], vm_info["kernel"], vm_info["accel"], vm_info["nodes"])

# The continue figure: one line per side, from continue_rate's JSON (or
# its one-line skip when it wrote none).
def cont_side(name):
    try:
        with open(os.path.join(out, name + ".json")) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        pass
    try:
        with open(os.path.join(out, name + ".txt")) as fh:
            return {"note": fh.readline().strip()}
    except OSError:
        return None

def cont_line(r):
    if "note" in r:
        return r["note"]
    def op(x):
        if "skipped" in x:
            # the probe's reason up to its detail: "kernel has no HGM for 2048 kB pages"
            return "skip (%s)" % x["skipped"].split(": ")[0]
        if x.get("median_ns") is None:
            return "no figure"
        rate = x["ops_per_s"]
        rate = "%.3gM" % (rate / 1e6) if rate >= 1e6 else "%.3gk" % (rate / 1e3)
        return "%.3g us/op (%s/s)" % (x["median_ns"] / 1e3, rate)
    line = "hgm 2 MiB %s vs shmem %s, huge 2 MiB %s; kernel %s" % (
        op(r["hgm"]), op(r["shmem"]), op(r["huge"]), r["kernel"])
    if r["verdict"] != "PASS":
        line += "; %s: %s" % (r["verdict"], r["failures"].strip())
    return line

cont = {"note": cnote or None}
for side, name in (("host", "continue-host"), ("vm", "vm-continue")):
    r = cont_side(name)
    cont[side] = None if r is None else dict(
        {k: r.get(k) for k in ("kernel", "verdict", "failures", "vm", "note") if k in r},
        **{k: r[k] for k in ("hgm", "huge", "shmem") if k in r})

# The migration figure: one row per count and side; a cell is the median
# move time of one granularity, or why it is absent: the run's own skip
# line (no HGM: the probe's reason) or the migration's skip reason.
def migr_cell(path):
    try:
        with open(path + ".json") as fh:
            r = json.load(fh)
    except (OSError, ValueError):
        try:
            with open(path + ".txt") as fh:
                return {"absent": fh.readline().strip() or "no output", "verdict": "skip"}, None
        except OSError:
            return None, None
    m = r.get("migration") or {}
    cell = {"verdict": r["verdict"], "failures": r.get("failures", "")}
    if "skipped" in m:
        cell["absent"] = m["skipped"]
    elif m.get("moves_ms"):
        cell.update(median_ms=m["move_median_ms"], min_ms=m["move_min_ms"],
                    moves_ms=m["moves_ms"])
        if m.get("failed_move"):
            cell["refused"] = "move %d of %d refused: errno %d, status %d" % (
                m["failed_move"], m["rounds"], m["failed_errno"], m["failed_status"])
    else:
        cell["absent"] = "move_pages refused: errno %d, status %d" % (
            m.get("errno", 0), m.get("status", 0))
    return cell, r

def migr_rows(prefix):
    rows, info = [], None
    for c in mcounts.split():
        p, v = (int(x) for x in c.split("x"))
        row = {"mappings": p * v, "processes": p, "vmas_per_process": v,
               "hgm_ptes": None, "ratio_hgm_to_huge": None}
        for g in ("huge", "hgm"):
            row[g], r = migr_cell(os.path.join(out, "%s%s-%s" % (prefix, g, c)))
            if r:
                info = info or r.get("vm")
                row["hgm_ptes"] = p * v * r["config"]["page_size"] // os.sysconf("SC_PAGE_SIZE")
        if row["huge"] is None and row["hgm"] is None:
            continue
        h, g = row["huge"] or {}, row["hgm"] or {}
        if h.get("median_ms") and g.get("median_ms"):
            row["ratio_hgm_to_huge"] = g["median_ms"] / h["median_ms"]
        rows.append(row)
    return rows, info

migr_host, _ = migr_rows("migrate-host-")
migr_vm, migr_vm_info = migr_rows("vm-migrate-")
migr = None if not mcounts else {
    "page_size": "2M", "rounds": mrounds, "note": mnote or None,
    "host": {"kernel": host_kernel, "rows": migr_host} if migr_host else None,
    "vm": None if not migr_vm else dict(
        {k: (migr_vm_info or {}).get(k) for k in ("kernel", "kernel_name", "accel", "nodes")},
        rows=migr_vm),
}

# The post-copy figure: postcopy's JSON per side (or its one-line skip).
post = {"note": pnote or None}
for side, name in (("host", "postcopy"), ("vm", "vm-postcopy")):
    r = cont_side(name)
    post[side] = None if r is None else {
        k: r[k] for k in ("kernel", "verdict", "failures", "config", "modes",
                          "ratios", "vm", "note") if k in r}

fig = {
    # the host's figures stay at the top level, as before the VM part
    "kernel": host_kernel,
    "runs": host_rows,
    "migration_skipped": host_skip["migration"],
    "hwpoison_skipped": host_skip["hwpoison"],
    "vm": None if not vm_runs else {
        "kernel": vm_info["kernel"], "kernel_name": vm_info["kernel_name"],
        "accel": vm_info["accel"], "nodes": vm_info["nodes"],
        "runs": vm_rows,
        "migration_skipped": vm_skip["migration"],
        "hwpoison_skipped": vm_skip["hwpoison"],
    },
    "vm_note": vmnote or None,
    "continue": cont,
    "migration_hgm_vs_huge": migr,
    "postcopy": None,
}
if post["host"] or post["vm"] or pnote:
    fig["postcopy"] = post
with open(os.path.join(out, "figures.json"), "w") as fh:
    json.dump(fig, fh, indent=2)

fmt = lambda v: "-" if v is None else "%.3f" % v
def table(title, rows):
    print("bench: %s" % title)
    print("bench: %10s %5s %12s %12s %8s %12s %13s %12s  %s" % (
        "mappings", "procs", "maps/s", "baseline/s", "ratio", "migrate ms",
        "migr.pages ms", "hwpoison ms", "verdict"))
    for r in rows:
        print("bench: %10d %5d %12.0f %12.0f %8.2f %12s %13s %12s  %s" % (
            r["mappings"], r["processes"], r["rate"], r["baseline_rate"],
            r["ratio_to_baseline"], fmt(r["migration_ms"]),
            fmt(r["migratepages_ms"]), fmt(r["hwpoison_ms"]), r["verdict"]))

table("host (%s)" % host_kernel, host_rows)
if host_skip["migration"]:
    print("bench: migration curve not available on the host: " + host_skip["migration"])
if host_skip["hwpoison"]:
    print("bench: hwpoison curve not available on the host: " + host_skip["hwpoison"])
if vm_rows:
    table(vm_label + " (rates under emulation: not comparable with the host's)", vm_rows)
    if vm_skip["migration"]:
        print("bench: migration curve not available in the VM: " + vm_skip["migration"])
    if vm_skip["hwpoison"]:
        print("bench: hwpoison curve not available in the VM: " + vm_skip["hwpoison"])
    for r in vm_rows:
        if r["verdict"].startswith("PASS ("):
            print("bench: VM %d mappings: %s (%s)" % (r["mappings"], r["verdict"], r["failures"].strip()))
if vmnote:
    print("bench: " + vmnote)
if cont["host"]:
    print("bench: continue 4 KiB (host): " + cont_line(cont["host"]))
if cont["vm"]:
    v = cont["vm"].get("vm") or {}
    print("bench: continue 4 KiB (VM %s, %s): %s" % (
        v.get("kernel_name", "?"), v.get("accel", "?"), cont_line(cont["vm"])))
elif cnote:
    print("bench: continue 4 KiB (VM): " + cnote)

def migr_table(title, rows):
    print("bench: migration of one 2 MiB page, HGM (4 KiB PTEs) vs huge (PMD), "
          "median (min) of %d move_pages(MOVE_ALL): %s" % (mrounds, title))
    print("bench: %10s %5s %7s %10s %19s %19s %9s  %s" % (
        "mappings", "procs", "VMAs/p", "hgm PTEs", "huge ms", "hgm ms",
        "hgm/huge", "verdict huge/hgm"))
    why = []
    for r in rows:
        cols = []
        for g in ("huge", "hgm"):
            c = r[g]
            if c is None:
                cols.append("-")
            elif "median_ms" in c:
                cols.append("%.3f (%.3f)" % (c["median_ms"], c["min_ms"]))
            else:
                cols.append("n/a")
            note = c and (c.get("absent") or c.get("refused"))
            if note and (g, note) not in why:
                why.append((g, note))
        ratio = r["ratio_hgm_to_huge"]
        print("bench: %10d %5d %7d %10s %19s %19s %9s  %s" % (
            r["mappings"], r["processes"], r["vmas_per_process"],
            "-" if r["hgm_ptes"] is None else r["hgm_ptes"], cols[0], cols[1],
            "-" if ratio is None else "%.2f" % ratio,
            "/".join((r[g] or {}).get("verdict", "-") for g in ("huge", "hgm"))))
        for g in ("huge", "hgm"):
            f = (r[g] or {}).get("failures", "").strip()
            if (r[g] or {}).get("verdict") == "FAIL" and f:
                print("bench:   %d mappings, %s: %s" % (r["mappings"], g, f))
    for g, note in why:
        print("bench:   %s n/a: %s" % (g, note))

if migr_host:
    migr_table("host (%s)" % host_kernel, migr_host)
if migr_vm:
    v = migr_vm_info or {}
    migr_table("VM %s (%s, %s, %s nodes; emulated: compare hgm with huge, not with the host)" % (
        v.get("kernel_name", "?"), v.get("kernel", "?"), v.get("accel", "?"),
        v.get("nodes", "?")), migr_vm)
if mcounts and mnote:
    print("bench: migration HGM vs huge (VM): " + mnote)

# The plot.  Panel 1 (when any rmap-walk time exists, host or VM): time vs
# mappings, log-log.  Panel 2 (always): the mapping rate and the baseline's.
esc = lambda s: s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
def xlab(d):
    if d >= 1e6:
        return "%dM" % (d // 1000000)
    if d >= 1000:
        return "%dk" % (d // 1000)
    return "%d" % d

def ylab(y):
    for div, suf in ((1e6, "M"), (1e3, "k")):
        if y >= div:
            return "%.3g%s" % (y / div, suf)
    return "%.3g" % y

def panel(svg, top, W, H, title, ylabel, series, ylog, note=""):
    L, R, T, B = 90, 30, 40, 60
    svg.append('<text x="%d" y="%d" font-size="15" text-anchor="middle">%s</text>' % (W // 2, top + 24, esc(title)))
    pts = [p for s in series for p in s[3]]
    if not pts:
        svg.append('<text x="%d" y="%d" text-anchor="middle">no runs produced figures</text>' % (W // 2, top + H // 2))
        return
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    x0 = 10 ** math.floor(math.log10(min(xs)))
    x1 = 10 ** math.ceil(math.log10(max(xs)))
    if x1 <= x0:
        x1 = x0 * 10
    if ylog:
        y0 = 10 ** math.floor(math.log10(min(ys)))
        y1 = 10 ** math.ceil(math.log10(max(ys)))
        if y1 <= y0:
            y1 = y0 * 10
        fy = lambda y: (math.log10(y) - math.log10(y0)) / (math.log10(y1) - math.log10(y0))
    else:
        y0, y1 = 0.0, max(ys) * 1.1 or 1.0
        fy = lambda y: y / y1
    px = lambda x: L + (math.log10(x) - math.log10(x0)) / (math.log10(x1) - math.log10(x0)) * (W - L - R)
    py = lambda y: top + H - B - fy(y) * (H - T - B)
    bot = top + H - B
    svg.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (L, bot, W - R, bot))
    svg.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (L, top + T, L, bot))
    d = x0
    while d <= x1:
        x = px(d)
        svg.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>' % (x, top + T, x, bot))
        svg.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (x, bot + 18, xlab(d)))
        d *= 10
    if ylog:
        ticks = []
        d = y0
        while d <= y1 * 1.0001:
            ticks.append(d)
            d *= 10
    else:
        ticks = [y1 * i / 5 for i in range(6)]
    for y in ticks:
        svg.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>' % (L, py(y), W - R, py(y)))
        svg.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (L - 6, py(y) + 4, ylab(y)))
    svg.append('<text x="%d" y="%d" text-anchor="middle">mappings of the page (log scale)</text>' % ((L + W - R) // 2, bot + 36))
    cy = top + (T + H - B) // 2
    svg.append('<text x="18" y="%d" text-anchor="middle" transform="rotate(-90 18 %d)">%s</text>' % (cy, cy, esc(ylabel)))
    for i, (name, col, dash, sp) in enumerate(series):
        sp = sorted(sp)
        if not sp:
            continue
        da = ' stroke-dasharray="6,4"' if dash else ""
        svg.append('<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>' % (
            col, da, " ".join("%.1f,%.1f" % (px(x), py(y)) for x, y in sp)))
        for x, y in sp:
            svg.append('<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s, %d mappings: %.4g</title></circle>' % (
                px(x), py(y), col, esc(name), x, y))
        ly = top + T + 8 + 16 * i
        svg.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"%s/>' % (L + 12, ly, L + 30, ly, col, da))
        svg.append('<text x="%d" y="%d">%s</text>' % (L + 36, ly + 4, esc(name)))
    if note:
        svg.append('<text x="%d" y="%d" text-anchor="middle" fill="#555">%s</text>' % (W // 2, bot + 52, esc(note)))

walk = []
for rows, who, dash in ((host_rows, "host", False), (vm_rows, vm_label, True)):
    for key, name, col in (("migration_ms", "move_pages MOVE_ALL", "#c0392b"),
                           ("migratepages_ms", "migratepages back", "#8e44ad"),
                           ("hwpoison_ms", "MADV_HWPOISON", "#2471a3")):
        pts = [(r["mappings"], r[key]) for r in rows if r[key] is not None and r[key] > 0]
        if pts:
            walk.append(("%s: %s" % (who, name), col, dash, pts))
rate = [("host %s: stress (all processes)" % host_kernel, "#c0392b", False,
         [(r["mappings"], r["rate"]) for r in host_rows if r["rate"] > 0]),
        ("host %s: single-process baseline" % host_kernel, "#2471a3", False,
         [(r["mappings"], r["baseline_rate"]) for r in host_rows if r["baseline_rate"] > 0])]
if vm_rows:
    rate += [(vm_label + ": stress", "#e59866", True,
              [(r["mappings"], r["rate"]) for r in vm_rows if r["rate"] > 0]),
             (vm_label + ": baseline", "#7fb3d5", True,
              [(r["mappings"], r["baseline_rate"]) for r in vm_rows if r["baseline_rate"] > 0])]
W, PH = 820, 460
panels = []
if walk:
    who = sorted(set(s[0].split(":")[0] for s in walk))
    panels.append(("reverse-map walk cost vs mappings of one huge page", "milliseconds (log scale)",
                   walk, True, "source: " + ", ".join(who) + ("; TCG times are emulated, compare their growth, not their size"
                                                              if vm_info and vm_info["accel"] == "tcg" else "")))
mseries = []
for rows, who, dash in ((migr_host, "host", False), (migr_vm, "VM", True)):
    for g, col in (("huge", "#2471a3"), ("hgm", "#c0392b")):
        pts = [(r["mappings"], r[g]["median_ms"]) for r in rows
               if r[g] and r[g].get("median_ms", 0) > 0]
        if pts:
            mseries.append(("%s: %s" % (who, g), col, dash, pts))
if mseries:
    panels.append(("migration of one 2 MiB page: HGM (4 KiB PTEs) vs huge",
                   "median move_pages ms (log scale)", mseries, True,
                   "median of %d moves; the hgm line walks 512 PTEs per mapping" % mrounds))
rnote = ""
if not walk:
    rnote = "migration curve not available here" + (": " + host_skip["migration"] if host_skip["migration"] else "")
    if vmnote:
        rnote += "; " + vmnote
# log y when the VM's emulated rates (an order of magnitude lower) are there
panels.append(("mapping rate vs mappings of one huge page",
               "mappings per second" + (" (log scale)" if vm_rows else ""),
               rate, bool(vm_rows), rnote))
svg = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">' % (W, PH * len(panels)),
       '<rect width="100%" height="100%" fill="white"/>']
for i, (title, ylabel, series, ylog, note) in enumerate(panels):
    panel(svg, i * PH, W, PH, title, ylabel, series, ylog, note)
svg.append("</svg>")
with open(os.path.join(out, "plot.svg"), "w") as fh:
    fh.write("\n".join(svg) + "\n")
print("bench: wrote %s and %s" % (os.path.join(out, "figures.json"), os.path.join(out, "plot.svg")))

# The post-copy figure: a table per side, and postcopy.svg: time to first
# access and p99 stall per mode (log scale), then each mode's mean stall
# split into link (simulated) and kernel time.
def unit_name(b):
    for div, suf in ((1 << 30, "G"), (1 << 20, "M"), (1 << 10, "K")):
        if b >= div:
            return "%d%s" % (b // div, suf)
    return str(b)

def fmt_us(v):
    if v >= 1e6:
        return "%.3g s" % (v / 1e6)
    if v >= 1e3:
        return "%.3g ms" % (v / 1e3)
    return "%.3g us" % v

def post_label(side, r):
    if side == "host":
        return "host (%s)" % r.get("kernel", "?")
    v = r.get("vm") or {}
    return "VM %s (%s, %s)" % (v.get("kernel_name", "?"), r.get("kernel", "?"), v.get("accel", "?"))

def post_table(side, r):
    if "modes" not in r:
        print("bench: post-copy (%s): %s" % (side, r.get("note") or "no output"))
        return
    c = r["config"]
    print("bench: post-copy of %d MiB, %s, %d touches of 4 KiB, link %g Gbit/s + %d us per request: %s" % (
        c["bytes"] >> 20, c["pattern"], c["touches"], c["link_gbit"], c["rtt_us"], post_label(side, r)))
    print("bench: %9s %5s %7s %14s %12s %12s %12s %12s %12s %9s" % (
        "mode", "unit", "faults", "first acc. ms", "stall p50 us", "p99 us", "max us",
        "link p50 us", "kern. p50 us", "total s"))
    for m in r["modes"]:
        if "skipped" in m:
            print("bench: %9s n/a: %s" % (m["name"], m["skipped"]))
        elif m.get("time_to_first_access_us") is None:
            print("bench: %9s no fault completed" % m["name"])
        else:
            print("bench: %9s %5s %7d %14.3f %12.1f %12.1f %12.1f %12.1f %12.1f %9.2f" % (
                m["name"], unit_name(m["unit"]), m["faults"], m["time_to_first_access_us"] / 1e3,
                m["stall_us"]["p50"], m["stall_us"]["p99"], m["stall_us"]["max"],
                m["link_us"]["p50"], m["kernel_us"]["p50"], m["total_ms"] / 1e3))
    for k, v in sorted((r.get("ratios") or {}).items()):
        if v:
            print("bench:   %s: p99 stall %.3g, time to first access %.3g" % (
                k.replace("/", " / "), v["p99_stall"], v["time_to_first_access"]))
    if r["verdict"] != "PASS":
        print("bench:   %s: %s" % (r["verdict"], r.get("failures", "").strip()))

def post_rows():
    rows = []
    for side in ("host", "vm"):
        r = post[side]
        for m in (r or {}).get("modes", []):
            who = "host" if side == "host" else "VM %s" % ((r.get("vm") or {}).get("accel", "?"))
            rows.append(("%s %s" % (who, m["name"]), m))
    return rows

def post_panel1(svg, top, W, rows):
    L, R, T, RH = 170, 90, 60, 34
    vals = [m[k] if k == "time_to_first_access_us" else m[k]["p99"]
            for _, m in rows if m.get("time_to_first_access_us")
            for k in ("time_to_first_access_us", "stall_us")]
    svg.append('<text x="%d" y="%d" font-size="15" text-anchor="middle">post-copy: time to first access and p99 stall per fault</text>' % (W // 2, top + 24))
    if not vals:
        svg.append('<text x="%d" y="%d" text-anchor="middle">no mode produced figures</text>' % (W // 2, top + 60))
        return top + 90
    x0 = 10 ** math.floor(math.log10(min(vals)))
    x1 = 10 ** math.ceil(math.log10(max(vals)))
    x1 = x1 if x1 > x0 else x0 * 10
    px = lambda v: L + (math.log10(v) - math.log10(x0)) / (math.log10(x1) - math.log10(x0)) * (W - L - R)
    bot = top + T + RH * len(rows)
    d = x0
    while d <= x1 * 1.0001:
        svg.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>' % (px(d), top + T, px(d), bot))
        svg.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (px(d), bot + 16, ylab(d)))
        d *= 10
    svg.append('<text x="%d" y="%d" text-anchor="middle">microseconds (log scale)</text>' % ((L + W - R) // 2, bot + 34))
    for i, (name, m) in enumerate(rows):
        y = top + T + RH * i
        svg.append('<text x="%d" y="%d" text-anchor="end">%s</text>' % (L - 8, y + 20, esc(name)))
        if not m.get("time_to_first_access_us"):
            # the probe's reason up to its detail, as the continue line has it
            why = m.get("skipped", "no fault completed").split(": ")[0]
            svg.append('<text x="%d" y="%d" fill="#888">n/a: %s</text>' % (L + 4, y + 20, esc(why[:90])))
            continue
        for j, (v, col, what) in enumerate(((m["time_to_first_access_us"], "#c0392b", "first access"),
                                            (m["stall_us"]["p99"], "#2471a3", "p99 stall"))):
            svg.append('<rect x="%d" y="%d" width="%.1f" height="12" fill="%s"><title>%s: %s %.4g us</title></rect>' % (
                L, y + 4 + 14 * j, max(px(v) - L, 1), col, esc(name), what, v))
            svg.append('<text x="%.1f" y="%d" font-size="10">%s</text>' % (max(px(v), L + 1) + 4, y + 14 + 14 * j, fmt_us(v)))
    for j, (col, what) in enumerate((("#c0392b", "time to first access"), ("#2471a3", "p99 stall per fault"))):
        svg.append('<rect x="%d" y="%d" width="14" height="10" fill="%s"/><text x="%d" y="%d">%s</text>' % (
            L + 200 * j, top + 36, col, L + 200 * j + 18, top + 45, what))
    return bot + 50

def post_panel2(svg, top, W, rows):
    L, R, T, RH = 170, 30, 50, 26
    rows = [(n, m) for n, m in rows if m.get("time_to_first_access_us")]
    svg.append('<text x="%d" y="%d" font-size="15" text-anchor="middle">where a fault\'s stall goes: link (simulated) vs kernel, mean per fault</text>' % (W // 2, top + 24))
    for i, (name, m) in enumerate(rows):
        y = top + T + RH * i
        link, kern = m["link_us"]["mean"], m["kernel_us"]["mean"]
        tot = (link + kern) or 1
        wl = (W - L - R) * link / tot
        svg.append('<text x="%d" y="%d" text-anchor="end">%s</text>' % (L - 8, y + 14, esc(name)))
        svg.append('<rect x="%d" y="%d" width="%.1f" height="18" fill="#95a5a6"><title>link %.4g us</title></rect>' % (L, y, wl, link))
        svg.append('<rect x="%.1f" y="%d" width="%.1f" height="18" fill="#e67e22"><title>kernel %.4g us</title></rect>' % (L + wl, y, (W - L - R) - wl, kern))
        svg.append('<text x="%d" y="%d" font-size="10">link %s + kernel %s (%.0f%% kernel)</text>' % (
            L + 4, y + 13, fmt_us(link), fmt_us(kern), 100 * kern / tot))
    return top + T + RH * len(rows) + 20

prows = post_rows()
if prows:
    for side in ("host", "vm"):
        if post[side]:
            post_table(side, post[side])
    if pnote:
        print("bench: post-copy (VM): " + pnote)
    PW = 820
    psvg = []
    h = post_panel1(psvg, 0, PW, prows)
    h = post_panel2(psvg, h, PW, prows)
    note = "link: --link-gbit and --rtt-us, simulated (the copy overlaps it); kernel: fault delivery, CONTINUE, wake-up"
    if ((post["vm"] or {}).get("vm") or {}).get("accel") == "tcg":
        note += "; TCG times are emulated"
    psvg.append('<text x="%d" y="%d" text-anchor="middle" fill="#555">%s</text>' % (PW // 2, h, esc(note)))
    with open(os.path.join(out, "postcopy.svg"), "w") as fh:
        fh.write('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">\n'
                 '<rect width="100%%" height="100%%" fill="white"/>\n' % (PW, h + 20))
        fh.write("\n".join(psvg) + "\n</svg>\n")
    print("bench: wrote %s" % os.path.join(out, "postcopy.svg"))
elif pnote:
    print("bench: post-copy (VM): " + pnote)

sys.exit(1 if any(r["verdict"] == "FAIL" for r in host_rows + vm_rows) or
         any(c and c.get("verdict") not in (None, "PASS") for c in (cont["host"], cont["vm"])) or
         any(p and "modes" in p and p.get("verdict") != "PASS" for p in (post["host"], post["vm"])) or
         any((r[g] or {}).get("verdict") == "FAIL" for r in migr_host + migr_vm for g in ("huge", "hgm"))
         else 0)
