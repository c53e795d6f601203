#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turns a run's ktap.log into results.json, junit.xml and summary.txt.

The KTAP stream run_tests.sh prints is the one record of a run; this is
the only parser of it and the only place that knows the output formats
(results/README.md documents them).

    report.py RESULTS_DIR        write the three files from RESULTS_DIR/ktap.log
    report.py --json KTAP_FILE   print the parsed run as JSON (tests)
"""
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

RESULT = re.compile(r"^(not ok|ok) (\d+)(?: ([^#]*?))?\s*(?:# ?(.*))?$")
DIRECTIVE = re.compile(r"^(SKIP|XFAIL|TIMEOUT|ERROR|TODO)\b ?(.*)$")
STATS = re.compile(r"^# stats (\S+): (\d*) ms; pools (.*) -> (.*)$")


def parse(lines):
    """Cases (result lines whose name is "program:case", at any depth) with
    the diagnostics that came before them at their depth."""
    run = {"kernel": "", "environment": {"facts": [], "memory_nodes": None},
           "interrupted": "", "cases": []}
    pending = {}
    for raw in lines:
        raw = raw.rstrip("\n")
        body = raw.lstrip(" ")
        depth = (len(raw) - len(body)) // 2
        m = RESULT.match(body)
        if not m:
            if body.startswith("#"):
                pending.setdefault(depth, []).append(body)
                if depth == 0:
                    top_diag(run, body)
            continue
        diags = pending.pop(depth, [])
        name = (m.group(3) or "").strip()
        if ":" not in name:
            continue  # a program's or kernel's own result line
        run["cases"].append(case(m, name, diags, run["kernel"]))
    return run


def top_diag(run, line):
    if line.startswith("# kernel ") and not run["kernel"]:
        run["kernel"] = line[len("# kernel "):].split(";")[0]
    elif line.startswith("# environment:"):
        facts = line.split(":", 1)[1].split()
        env = run["environment"]
        for f in facts:
            if f.startswith("memory_nodes="):
                env["memory_nodes"] = int(f.split("=", 1)[1])
            else:
                env["facts"].append(f)
    elif line.startswith("# interrupted by "):
        run["interrupted"] = line[len("# interrupted by "):].split(":")[0]


def case(m, name, diags, kernel):
    ok = m.group(1) == "ok"
    directive, data = "", ""
    if m.group(4) is not None:
        d = DIRECTIVE.match(m.group(4))
        if d:
            directive, data = d.group(1), d.group(2)
    if ok:
        verdict = {"SKIP": "skip", "XFAIL": "xfail"}.get(directive, "pass")
    else:
        verdict = "fail"
    c = {"name": name, "program": name.split(":", 1)[0], "verdict": verdict,
         "directive": directive if directive in ("TIMEOUT", "ERROR") else "",
         "reason": data if verdict != "pass" else "", "duration_ms": 0,
         "kernel": kernel, "page_size": "", "pool_before": "",
         "pool_after": "", "log": [], "output": []}
    for v in ("2M", "1G"):
        if "_" + v in name:
            c["page_size"] = v
    for d in diags:
        s = STATS.match(d)
        if s:
            c["duration_ms"] = int(s.group(2) or 0)
            c["pool_before"] = "" if s.group(3) == "-" else s.group(3)
            c["pool_after"] = "" if s.group(4) == "-" else s.group(4)
        elif d.startswith("# kernel: "):
            c["log"].append(d[len("# kernel: "):])
        elif d.startswith("# " + name + ": "):
            if verdict == "fail":
                c["reason"] = d[len("# " + name + ": "):]
        elif not d.startswith(("# RUN ", "# Subtest: ", "# vm: ")):
            c["output"].append(d[2:] if d.startswith("# ") else d[1:])
    return c


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
            msg = c["reason"] or "failed"
            if c["directive"]:
                msg = c["directive"] + ": " + msg
            fail = ET.SubElement(tc, "failure", message=msg)
            fail.text = "\n".join([c["reason"]] + c["log"] + c["output"])
        elif c["verdict"] == "skip":
            ET.SubElement(tc, "skipped", message=c["reason"])
        elif c["verdict"] == "xfail":
            out = ET.SubElement(tc, "system-out")
            out.text = c["reason"]
    return ET.ElementTree(suite)


def counts(cases):
    n = {v: sum(c["verdict"] == v for c in cases)
         for v in ("pass", "fail", "skip", "xfail")}
    n["error"] = sum(c["directive"] == "ERROR" for c in cases)
    n["timeout"] = sum(c["directive"] == "TIMEOUT" for c in cases)
    return n


def document(run):
    cases = run["cases"]
    kernel = run["kernel"] or (cases[0]["kernel"] if cases else "")
    return {"format": 2, "kernel": kernel, "environment": run["environment"],
            "interrupted": run["interrupted"], "counts": counts(cases),
            "cases": cases}


def main():
    args = sys.argv[1:]
    if len(args) == 2 and args[0] == "--json":
        with open(args[1], encoding="utf-8", errors="replace") as f:
            doc = document(parse(f))
        json.dump(doc, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return
    if len(args) != 1:
        sys.exit("usage: report.py RESULTS_DIR | --json KTAP_FILE")
    d = args[0]
    path = os.path.join(d, "ktap.log")
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            doc = document(parse(f))
    except OSError as e:
        sys.exit(f"report.py: {path}: {e.strerror}")
    with open(os.path.join(d, "results.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    tree = junit(doc["cases"], doc["kernel"])
    ET.indent(tree)
    tree.write(os.path.join(d, "junit.xml"), encoding="utf-8",
               xml_declaration=True)
    n = doc["counts"]
    with open(os.path.join(d, "summary.txt"), "w") as f:
        f.write(f"kernel {doc['kernel']}\n")
        env = doc["environment"]
        f.write("environment " + " ".join(env["facts"]) +
                f" memory_nodes={env['memory_nodes']}\n")
        if doc["interrupted"]:
            f.write(f"interrupted by {doc['interrupted']}\n")
        for v in ("pass", "xfail", "skip", "fail"):
            f.write(f"{v:6} {n[v]}\n")
        for c in doc["cases"]:
            if c["verdict"] != "pass":
                d_ = f" [{c['directive']}]" if c["directive"] else ""
                f.write(f"{c['verdict']:6} {c['name']}{d_}: {c['reason']}\n")


if __name__ == "__main__":
    main()
