#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""stress/plot.py on tests/fixtures/bench/: two host runs (migration and
hwpoison skipped), the VM's two (timed, pool failures explained by the
poisoned page), continue_rate's host JSON, one migration count (huge timed,
hgm skipped), postcopy's host JSON (hgm4k skipped) and a VM one (every
2 MiB / 1 GiB mode timed but hgm4k_1g).  Checks figures.json, the SVGs'
panels, series and points, and the exit status for a passing and a
failing run."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLOT = os.path.join(TOP, "stress", "plot.py")
FIX = os.path.join(TOP, "tests", "fixtures", "bench")
SVG = "{http://www.w3.org/2000/svg}"
VM = "VM debian-6.12 (6.12.117, tcg, 2 nodes)"
errors = []


def check(cond, what):
    if not cond:
        errors.append(what)


def run(out):
    return subprocess.run([sys.executable, PLOT, out, "", "VM part skipped: test",
                           "", "1x1", "3", ""], capture_output=True, text=True)


def check_figures(out):
    with open(os.path.join(out, "figures.json")) as fh:
        fig = json.load(fh)
    check([r["mappings"] for r in fig["runs"]] == [1000, 10000], "host rows")
    check(fig["migration_skipped"].startswith("needs 2 NUMA nodes"), "host migration skip")
    vm = fig["vm"]["runs"]
    check([r["migration_ms"] for r in vm] == [2.0, 20.0], "VM migration_ms")
    check([r["hwpoison_ms"] for r in vm] == [5.0, 50.0], "VM hwpoison_ms")
    check(all(r["verdict"] == "PASS (pool keeps the poisoned page)" for r in vm),
          "VM verdicts: the poisoned page explains the pool")
    check(fig["continue"]["host"]["hgm"]["skipped"].startswith("kernel has no HGM"),
          "continue: hgm skipped")
    check(fig["continue"]["note"] == "VM part skipped: test", "continue note")
    row = fig["migration_hgm_vs_huge"]["host"]["rows"][0]
    check(row["huge"]["median_ms"] == 1.5 and row["huge"]["moves_ms"] == [1.5, 1.25, 2.0],
          "migration huge cell")
    check(row["hgm"]["absent"].startswith("not supported"), "migration hgm cell")
    check(row["hgm_ptes"] == 512 * 4096 // os.sysconf("SC_PAGE_SIZE"), "hgm PTEs")


def check_postcopy(out, stdout):
    with open(os.path.join(out, "figures.json")) as fh:
        post = json.load(fh)["postcopy"]
    host = {m["name"]: m for m in post["host"]["modes"]}
    check(host["hgm4k"]["skipped"].startswith("kernel has no HGM"), "postcopy: host hgm4k skipped")
    check(host["huge1g"]["faults"] == 1, "postcopy: host huge1g faults")
    check(post["vm"]["vm"]["accel"] == "tcg", "postcopy: VM accel")
    check(post["vm"]["ratios"]["hgm4k/huge1g"]["p99_stall"] == 100 / 900000, "postcopy: VM ratio")
    check("bench:   hgm4k / huge1g: p99 stall 0.000111, time to first access 0.0001" in stdout,
          "postcopy: the ratio line")
    check("bench:     hgm4k n/a: kernel has no HGM" in stdout, "postcopy: the host's n/a line")
    root = ET.parse(os.path.join(out, "postcopy.svg")).getroot()
    titles = [t.text for t in root.iter(SVG + "text") if t.get("font-size") == "15"]
    check(titles == ["post-copy: time to first access and p99 stall per fault",
                     "where a fault's stall goes: link (simulated) vs kernel, mean per fault"],
          "postcopy panels: %s" % titles)
    bars = [r.find(SVG + "title").text for r in root.iter(SVG + "rect")
            if r.find(SVG + "title") is not None]
    # host: 3 modes ran, VM: 4; two bars each in each panel
    check(len(bars) == 28, "postcopy: 28 bars, not %d" % len(bars))
    for want in ("VM tcg hgm4k: p99 stall 100 us", "VM tcg huge1g: first access 9e+05 us",
                 "host shmem4k: p99 stall 124.2 us", "kernel 30 us"):
        check(want in bars, "postcopy bar '%s'" % want)
    na = [t.text for t in root.iter(SVG + "text") if (t.text or "").startswith("n/a: ")]
    check(na.count("n/a: kernel has no HGM for 1048576 kB pages") == 2, "postcopy: hgm4k_1g n/a twice")


def check_svg(out):
    root = ET.parse(os.path.join(out, "plot.svg")).getroot()
    titles = [t.text for t in root.iter(SVG + "text") if t.get("font-size") == "15"]
    check(titles == ["reverse-map walk cost vs mappings of one huge page",
                     "migration of one 2 MiB page: HGM (4 KiB PTEs) vs huge",
                     "mapping rate vs mappings of one huge page"], "panels: %s" % titles)
    check(len(list(root.iter(SVG + "polyline"))) == 8, "8 series")
    points = [c.find(SVG + "title").text for c in root.iter(SVG + "circle")]
    check(len(points) == 15, "15 points, not %d" % len(points))
    for want in (VM + ": move_pages MOVE_ALL, 1000 mappings: 2",
                 VM + ": move_pages MOVE_ALL, 10000 mappings: 20",
                 VM + ": migratepages back, 10000 mappings: 30",
                 VM + ": MADV_HWPOISON, 1000 mappings: 5",
                 "host: huge, 1 mappings: 1.5",
                 VM + ": stress, 10000 mappings: 2e+04"):
        check(want in points, "point '%s'" % want)
    check(sum(p.endswith("stress (all processes), 1000 mappings: 2.5e+05") for p in points) == 1,
          "host stress point at 1000")


def main():
    with tempfile.TemporaryDirectory() as out:
        for f in os.listdir(FIX):
            shutil.copy(os.path.join(FIX, f), out)
        r = run(out)
        check(r.returncode == 0, "exit %d on passing runs: %s" % (r.returncode, r.stderr))
        check("bench:   hgm n/a: not supported" in r.stdout, "the hgm n/a line")
        if r.returncode == 0:
            check_figures(out)
            check_svg(out)
            check_postcopy(out, r.stdout)
        path = os.path.join(out, "vm-postcopy.json")
        with open(path) as fh:
            good = fh.read()
        post = json.loads(good)
        post.update(verdict="FAIL", failures="hgm4k: wrong data at offset 0x1000; ")
        with open(path, "w") as fh:
            json.dump(post, fh)
        check(run(out).returncode == 1, "exit 1 when postcopy failed")
        with open(path, "w") as fh:
            fh.write(good)
        path = os.path.join(out, "run-1000.json")
        with open(path) as fh:
            run1k = json.load(fh)
        run1k.update(verdict="FAIL", failures="kpagecount head 1 tail 1 != model 2; ")
        with open(path, "w") as fh:
            json.dump(run1k, fh)
        check(run(out).returncode == 1, "exit 1 when a run failed")
    for e in errors:
        print("plot_test: " + e)
    print("plot_test: %s" % ("FAIL" if errors else "ok"))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
