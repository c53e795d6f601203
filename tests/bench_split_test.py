#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""stress/bench_split.py on a made-up guest stream: two runs with their
text and JSON (the second with \\r\\n line ends and an exit status), one
whose JSON is cut off (text only, a line on stdout), lines outside any run
ignored; the "vm" object of each JSON; bad usage exits 2."""
import json
import os
import subprocess
import sys
import tempfile

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPLIT = os.path.join(TOP, "stress", "bench_split.py")
STREAM = (
    "boot noise\n"
    "#@BENCH-BEGIN 1 rc=0 seconds=12 kernel=6.12.117-hgmt\n"
    "#@BENCH-TXT\nrun one\nverdict PASS\n"
    "#@BENCH-JSON\n{\"verdict\": \"PASS\",\n \"mappings\": 1000}\n"
    "#@BENCH-END 1\n"
    "between runs\n"
    "#@BENCH-BEGIN 2 rc=1 seconds=30 kernel=6.12.117-hgmt\r\n"
    "#@BENCH-TXT\r\nrun two\r\n#@BENCH-JSON\r\n{\"verdict\": \"FAIL\"}\r\n"
    "#@BENCH-END 2\r\n"
    "#@BENCH-BEGIN 3 rc=137 seconds=5 kernel=6.12.117-hgmt\n"
    "#@BENCH-TXT\nkilled\n#@BENCH-JSON\n{\"verdict\":\n"
    "#@BENCH-END 3\n"
)
errors = []


def check(cond, what):
    if not cond:
        errors.append(what)


def main():
    with tempfile.TemporaryDirectory() as d:
        stream = os.path.join(d, "stream")
        qlog = os.path.join(d, "qemu.log")
        with open(stream, "w") as fh:
            fh.write(STREAM)
        with open(qlog, "w") as fh:
            fh.write("#@QEMU-EXIT 0 accel=tcg seconds=50\n")
        r = subprocess.run([sys.executable, SPLIT, stream, d, "patched",
                            "6.12.117-hgmt", qlog, "vm-run-{n}", "2"],
                           capture_output=True, text=True)
        check(r.returncode == 0, "exit %d: %s" % (r.returncode, r.stderr))
        with open(os.path.join(d, "vm-run-1.txt")) as fh:
            check(fh.read() == "run one\nverdict PASS\n", "run 1 text")
        with open(os.path.join(d, "vm-run-1.json")) as fh:
            j = json.load(fh)
        check(j["mappings"] == 1000, "run 1 JSON body")
        check(j["vm"] == {"kernel_name": "patched", "release": "6.12.117-hgmt",
                          "accel": "tcg", "nodes": 2,
                          "kernel": "6.12.117-hgmt", "exit": 0,
                          "guest_seconds": 12}, "run 1 vm: %s" % j["vm"])
        with open(os.path.join(d, "vm-run-2.json")) as fh:
            j = json.load(fh)
        check(j["verdict"] == "FAIL" and j["vm"]["exit"] == 1 and
              j["vm"]["guest_seconds"] == 30, "run 2 (CRLF)")
        with open(os.path.join(d, "vm-run-2.txt")) as fh:
            check(fh.read() == "run two\n", "run 2 text without CR")
        check(os.path.exists(os.path.join(d, "vm-run-3.txt")), "run 3 text")
        check(not os.path.exists(os.path.join(d, "vm-run-3.json")),
              "run 3: no JSON from a cut-off report")
        check(r.stdout == "bench: VM vm-run-3: no JSON (exit 137): killed\n",
              "run 3 line: %r" % r.stdout)
        check(sorted(os.listdir(d)) == sorted(
            ["stream", "qemu.log", "vm-run-1.txt", "vm-run-1.json",
             "vm-run-2.txt", "vm-run-2.json", "vm-run-3.txt"]),
              "files: %s" % sorted(os.listdir(d)))
        r = subprocess.run([sys.executable, SPLIT, stream],
                           capture_output=True, text=True)
        check(r.returncode == 2 and "usage" in r.stderr, "bad usage")
    for e in errors:
        print("FAIL: " + e)
    print("bench_split: %s" % ("FAIL" if errors else "ok"))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
