#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turns a run's records.tsv into results.json, junit.xml and summary.txt.

run_tests.sh writes one tab-separated record per case (on the host, or
streamed back from the VM); this is the only place that knows the output
formats, which results/README.md documents.
"""
import json
import os
import sys
import xml.etree.ElementTree as ET

FIELDS = ["name", "program", "verdict", "reason", "duration_ms", "kernel",
          "page_size", "pool_before", "pool_after", "log"]


def read_records(path):
    cases = []
    with open(path, encoding="utf-8", errors="replace", newline="\n") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            parts = line.split("\t")
            if len(parts) != len(FIELDS):
                sys.exit(f"report.py: {path}:{lineno}: {len(parts)} fields, "
                         f"want {len(FIELDS)}")
            rec = dict(zip(FIELDS, parts))
            rec["duration_ms"] = int(rec["duration_ms"] or 0)
            rec["log"] = [l.strip() for l in rec["log"].split(" |")
                          if l.strip()]
            cases.append(rec)
    return cases


def junit(cases, kernel):
    suite = ET.Element("testsuite", name="hugetlb-hgm", tests=str(len(cases)),
                       failures=str(sum(c["verdict"] == "fail" for c in cases)),
                       skipped=str(sum(c["verdict"] == "skip" for c in cases)),
                       time="%.3f" % (sum(c["duration_ms"] for c in cases) / 1000))
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="kernel", value=kernel)
    for c in cases:
        tc = ET.SubElement(suite, "testcase", classname=c["program"],
                           name=c["name"].split(":", 1)[-1],
                           time="%.3f" % (c["duration_ms"] / 1000))
        if c["verdict"] == "fail":
            fail = ET.SubElement(tc, "failure", message=c["reason"] or "failed")
            fail.text = "\n".join([c["reason"]] + c["log"])
        elif c["verdict"] == "skip":
            ET.SubElement(tc, "skipped", message=c["reason"])
        elif c["verdict"] == "xfail":
            out = ET.SubElement(tc, "system-out")
            out.text = "expected failure: " + c["reason"]
    return ET.ElementTree(suite)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: report.py RESULTS_DIR")
    d = sys.argv[1]
    cases = read_records(os.path.join(d, "records.tsv"))
    kernel = cases[0]["kernel"] if cases else os.uname().release
    counts = {v: sum(c["verdict"] == v for c in cases)
              for v in ("pass", "fail", "skip", "xfail")}
    doc = {"format": 1, "kernel": kernel, "counts": counts, "cases": cases}
    with open(os.path.join(d, "results.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    tree = junit(cases, kernel)
    ET.indent(tree)
    tree.write(os.path.join(d, "junit.xml"), encoding="utf-8",
               xml_declaration=True)
    with open(os.path.join(d, "summary.txt"), "w") as f:
        f.write(f"kernel {kernel}\n")
        for v in ("pass", "xfail", "skip", "fail"):
            f.write(f"{v:6} {counts[v]}\n")
        for c in cases:
            if c["verdict"] != "pass":
                f.write(f"{c['verdict']:6} {c['name']}: {c['reason']}\n")


if __name__ == "__main__":
    main()
