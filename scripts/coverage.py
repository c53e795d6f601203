#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Kernel coverage of a run (run_tests.sh --coverage).

coverage.py --out DIR [--files "mm/hugetlb.c fs/hugetlbfs/inode.c ..."] STREAM...

Each STREAM is a file in which scripts/gcov_dump.sh wrote one block
("#@GCOV-BEGIN n", base64 of a tar.gz of .gcda files, "#@GCOV-END") or a
"#@GCOV-NONE reason" line; a run has one per boot.  The .gcda files sit
under the build paths of the kernel's object tree; the .gcno files are
taken from that tree (the kernel must have been built on this machine,
or the tree copied to the same path).  Writes into DIR:
  boot.<n>.info, all.info lcov tracefiles (all.info: the reported files:
                          --files, or every profiled .c file of the dump)
  html/                   genhtml report
  summary.txt             per file: functions and lines executed / total,
                          the HugeTLB functions of files that are not
                          HugeTLB code as a whole, and the functions never
                          executed, sorted by file and line
  summary.json            the same numbers
Exit 0, or 2 with one line on stderr when nothing could be read.
"""

import argparse
import base64
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile

ME = "coverage.py"

# Files that are HugeTLB code as a whole: every function counts.  In the
# other files only the HugeTLB functions count for the target (names as
# below); the table shows both.
WHOLE = ("mm/hugetlb.c", "mm/hugetlb_vmemmap.c", "fs/hugetlbfs/inode.c",
         "mm/hugetlb_cgroup.c")
HUGETLB_NAME = re.compile(r"hugetlb|^huge_|_huge_pte|hugepage")
# In the other files, HugeTLB code is also the body of an if whose
# condition asks one of these (not negated).
HUGETLB_TEST = re.compile(
    r"(?<!!)\b(is_vm_hugetlb_page|folio_test_hugetlb|PageHuge|is_file_hugepages|"
    r"vma_is_hugetlb|hugetlb_entry|is_hugetlb_entry_migration|is_hugetlb_entry_hwpoisoned)\(")


def die(msg):
    print(f"{ME}: {msg}", file=sys.stderr)
    sys.exit(2)


def blocks(path):
    """(tar bytes or None, reason) for every dump in a stream file."""
    out, cur = [], None
    with open(path, "rb") as f:
        for raw in f:
            line = raw.decode("ascii", "replace").strip("\r\n")
            if line.startswith("#@GCOV-NONE"):
                out.append((None, line[len("#@GCOV-NONE"):].strip()))
            elif line.startswith("#@GCOV-BEGIN"):
                cur = []
            elif line.startswith("#@GCOV-END") and cur is not None:
                try:
                    out.append((base64.b64decode("".join(cur)), ""))
                except ValueError as e:
                    out.append((None, f"damaged dump: {e}"))
                cur = None
            elif cur is not None:
                cur.append(line.strip())
    if cur is not None:
        out.append((None, "dump cut short (the guest died while writing it)"))
    return out


def unpack(data, dest):
    """Extracts the .gcda files and puts each build tree .gcno beside it."""
    n = 0
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as t:
        for m in t.getmembers():
            if not m.isfile() or not m.name.endswith(".gcda"):
                continue
            rel = os.path.normpath(m.name).lstrip("./")
            if rel.startswith("..") or os.path.isabs(rel):
                die(f"unsafe path in the dump: {m.name}")
            dst = os.path.join(dest, rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            with open(dst, "wb") as w:
                w.write(t.extractfile(m).read())
            gcno = "/" + rel[: -len(".gcda")] + ".gcno"
            if not os.path.isfile(gcno):
                die(f"no {gcno}: --coverage needs the object tree the kernel was built in")
            shutil.copy(gcno, dst[: -len(".gcda")] + ".gcno")
            n += 1
    return n


def run(cmd, log):
    with open(log, "a") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    if r.returncode:
        die(f"{cmd[0]} failed (exit {r.returncode}): see {log}")


def parse_info(path):
    """{source: {"fn": {name: (line, hits)}, "lines": {line: hits}}}"""
    files, cur = {}, None
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            key, _, val = line.partition(":")
            if key == "SF":
                cur = files.setdefault(val, {"fn": {}, "lines": {}})
            elif key == "FN" and cur is not None:
                ln, name = val.split(",", 1)
                old = cur["fn"].get(name, (int(ln), 0))
                cur["fn"][name] = (int(ln), old[1])
            elif key == "FNDA" and cur is not None:
                hits, name = val.split(",", 1)
                ln = cur["fn"].get(name, (0, 0))[0]
                cur["fn"][name] = (ln, cur["fn"].get(name, (0, 0))[1] + int(hits))
            elif key == "DA" and cur is not None:
                ln, hits = val.split(",")[:2]
                cur["lines"][int(ln)] = cur["lines"].get(int(ln), 0) + int(hits)
    return files


def profiled(info):
    """Kernel-relative .c paths in a tracefile: the files of WHOLE first."""
    found = []
    for src in parse_info(info):
        if not src.endswith(".c"):
            continue
        m = re.search(r".*/((?:mm|fs|kernel|lib|include)/.*)$", src)
        found.append(m.group(1) if m else os.path.basename(src))
    return sorted(set(found), key=lambda f: (f not in WHOLE, f))


# Comments and string or character literals, whose braces do not count.
STRIP = re.compile(r"//.*|/\*.*?\*/|\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'")


def body_end(lines, i):
    """Index of the line that ends the statement or block starting at i."""
    depth, seen = 0, False
    for j in range(i, len(lines)):
        code = STRIP.sub("", lines[j])
        for ch in code:
            if ch == "{":
                depth += 1
                seen = True
            elif ch == "}":
                depth -= 1
                if seen and depth == 0:
                    return j
            elif ch == ";" and not seen and depth == 0:
                return j
    return len(lines) - 1


def read_lines(src):
    try:
        with open(src, errors="replace") as f:
            return f.read().split("\n")
    except OSError:
        return None


def inlined_hits(src, d):
    """The functions with their hit counts, where a function whose entry
    gcov never counted but one of whose lines ran counts as executed: gcc
    inlined it into its callers (an exported helper used in its own file,
    e.g. huge_pmd_unshare_flush), and only the inlined copies ran."""
    lines = read_lines(src)
    out = {}
    for name, (ln, h) in d["fn"].items():
        if not h and lines and 0 < ln <= len(lines):
            end = body_end(lines, ln - 1) + 1
            h = max((c for l, c in d["lines"].items() if ln <= l <= end), default=0)
        out[name] = (ln, h)
    return out


def hugetlb_ranges(src, fns):
    """1-based (first, last) line ranges of HugeTLB code in a source file:
    the HugeTLB functions (by name) and the bodies of ifs on HUGETLB_TEST."""
    lines = read_lines(src)
    if lines is None:
        return []
    ranges = []
    for name, (ln, _) in fns.items():
        if HUGETLB_NAME.search(name) and 0 < ln <= len(lines):
            ranges.append((ln, body_end(lines, ln - 1) + 1))
    for i, line in enumerate(lines):
        if re.search(r"\bif\s*\(", line) and HUGETLB_TEST.search(line):
            ranges.append((i + 1, body_end(lines, i) + 1))
    return ranges


def spans(nums):
    """[3, 4, 5, 9] -> "3-5 9"."""
    out, i = [], 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] <= nums[j] + 3:
            j += 1
        out.append(str(nums[i]) if i == j else f"{nums[i]}-{nums[j]}")
        i = j + 1
    return " ".join(out)


def pct(a, b):
    return f"{100.0 * a / b:5.1f}%" if b else "    -"


def summarize(info, wanted, boots, out):
    files = parse_info(info)
    rows, never, js = [], [], {"boots": boots, "files": {}}
    for want in wanted:
        src = next((s for s in files if s.endswith("/" + want)), None)
        if src is None:
            rows.append(f"{want:28} (no data: not profiled, or never loaded)")
            js["files"][want] = None
            continue
        d = files[src]
        fns = inlined_hits(src, d)
        fh = sum(1 for _, h in fns.values() if h)
        lh = sum(1 for h in d["lines"].values() if h)
        hug = {n: v for n, v in fns.items() if HUGETLB_NAME.search(n)}
        hh = sum(1 for _, h in hug.values() if h)
        whole = want in WHOLE
        rng = [] if whole else hugetlb_ranges(src, fns)
        hl = [h for ln, h in d["lines"].items() if any(a <= ln <= b for a, b in rng)]
        hlh = sum(1 for h in hl if h)
        rows.append(
            f"{want:28} {fh:5}/{len(fns):<5} {pct(fh, len(fns))}  "
            f"{lh:6}/{len(d['lines']):<6} {pct(lh, len(d['lines']))}  "
            + ("      (whole file)" if whole else
               f"{hh:4}/{len(hug):<4} {pct(hh, len(hug))}  {hlh:5}/{len(hl):<5} {pct(hlh, len(hl))}")
        )
        js["files"][want] = {
            "functions": [fh, len(fns)], "lines": [lh, len(d["lines"])],
            "hugetlb_functions": [hh, len(hug)], "hugetlb_lines": [hlh, len(hl)],
            "whole_file": whole,
        }
        for name, (ln, h) in sorted(fns.items(), key=lambda kv: kv[1][0]):
            if not h and (whole or name in hug):
                never.append(f"{want}:{ln} {name}")
        dark = sorted(ln for ln, h in d["lines"].items()
                      if not h and any(a <= ln <= b for a, b in rng))
        if dark:
            never.append(f"{want}: HugeTLB lines never executed: " + spans(dark))
    head = (f"# kernel coverage: {boots['with_data']} of {boots['total']} boots gave counters"
            + (f" ({'; '.join(boots['missing'])})" if boots["missing"] else "") + "\n"
            f"{'file':28} {'functions':>11} {'':6}  {'lines':>13} {'':6}  "
            "HugeTLB functions / HugeTLB lines\n")
    text = head + "\n".join(rows) + "\n\n# never executed (whole files; HugeTLB functions of the others):\n"
    text += "\n".join(never) + ("\n" if never else "(none)\n")
    with open(os.path.join(out, "summary.txt"), "w") as f:
        f.write(text)
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(js, f, indent=1)
    return text


def main():
    ap = argparse.ArgumentParser(prog=ME, description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--files", default="",
                    help="source files to report, blank separated (default: all profiled)")
    ap.add_argument("--no-html", action="store_true")
    ap.add_argument("streams", nargs="+")
    a = ap.parse_args()
    for tool in ("lcov", "genhtml", "gcov"):
        if not shutil.which(tool):
            die(f"{tool} not found (make deps)")
    os.makedirs(a.out, exist_ok=True)
    log = os.path.join(a.out, "lcov.log")
    open(log, "w").close()
    infos, missing, total = [], [], 0
    for i, s in enumerate(a.streams, 1):
        if not os.path.isfile(s):
            die(f"no stream file {s}")
        found = blocks(s)
        if not found:
            found = [(None, "no dump (the guest died before the end of the boot)")]
        for data, why in found:
            total += 1
            if data is None:
                missing.append(f"boot {i}: {why}")
                continue
            work = os.path.join(a.out, f"gcda.{total}")
            shutil.rmtree(work, ignore_errors=True)
            unpack(data, work)
            info = os.path.join(a.out, f"boot.{total}.info")
            run(["lcov", "--quiet", "--capture", "--directory", work,
                 "--output-file", info], log)
            shutil.rmtree(work, ignore_errors=True)
            infos.append(info)
    if not infos:
        die("no coverage data: " + "; ".join(missing))
    merged = os.path.join(a.out, "merged.info")
    cmd = ["lcov", "--quiet", "--output-file", merged]
    for i in infos:
        cmd += ["--add-tracefile", i]
    run(cmd, log)
    wanted = a.files.split() or profiled(merged)
    allinfo = os.path.join(a.out, "all.info")
    run(["lcov", "--quiet", "--extract", merged] + ["*/" + w for w in wanted]
        + ["--output-file", allinfo], log)
    if not a.no_html:
        run(["genhtml", "--quiet", "--output-directory", os.path.join(a.out, "html"),
             allinfo], log)
    boots = {"total": total, "with_data": len(infos), "missing": missing}
    sys.stdout.write(summarize(allinfo, wanted, boots, a.out))


if __name__ == "__main__":
    main()
