#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Splits the guest's benchmark stream (stress/bench_vm.sh) into one text
and one JSON file per run.

usage: bench_split.py STREAM OUT KERNEL_NAME RELEASE QEMU_LOG RUNFMT NODES

STREAM holds, per run, "#@BENCH-BEGIN N rc=R seconds=S kernel=K", then
"#@BENCH-TXT" and the program's text, "#@BENCH-JSON" and its JSON report,
then "#@BENCH-END N".  RUNFMT names a run's files ("vm-run-{n}" gives
vm-run-N.txt and vm-run-N.json).  The JSON gets a "vm" object: where it
ran (kernel, release, qemu's accel from QEMU_LOG, nodes, exit status,
seconds in the guest).  A run without valid JSON gets its text only and a
line on stdout."""
import json
import os
import re
import sys

BEGIN = re.compile(r"#@BENCH-BEGIN (\S+) rc=(\d+) seconds=(\d+) kernel=(\S+)")


def qemu_accel(qlog):
    try:
        with open(qlog) as fh:
            m = re.search(r"accel=(\w+)", fh.read())
    except OSError:
        return "?"
    return m.group(1) if m else "?"


def write_run(out, name, cur, txt, js, where):
    with open(os.path.join(out, name + ".txt"), "w") as fh:
        fh.write("\n".join(txt) + "\n")
    try:
        r = json.loads("\n".join(js))
    except ValueError:
        r = None
    if not isinstance(r, dict):
        print("bench: VM %s: no JSON (exit %d): %s" % (
            name, cur["rc"], (txt[-1] if txt else "no output")))
        return
    r["vm"] = dict(where, kernel=cur["kernel"], exit=cur["rc"],
                   guest_seconds=cur["seconds"])
    with open(os.path.join(out, name + ".json"), "w") as fh:
        json.dump(r, fh, indent=2)
        fh.write("\n")


def split(stream, out, where, runfmt):
    with open(stream, "rb") as fh:
        lines = fh.read().decode("utf-8", "replace").replace("\r", "").split("\n")
    cur = part = None
    txt, js = [], []
    for line in lines:
        m = BEGIN.match(line)
        if m:
            cur = dict(n=m.group(1), rc=int(m.group(2)),
                       seconds=int(m.group(3)), kernel=m.group(4))
            txt, js, part = [], [], None
        elif cur is None:
            continue
        elif line == "#@BENCH-TXT":
            part = txt
        elif line == "#@BENCH-JSON":
            part = js
        elif line.startswith("#@BENCH-END "):
            write_run(out, runfmt.format(n=cur["n"]), cur, txt, js, where)
            cur = part = None
        elif part is not None:
            part.append(line)


def main(argv):
    if len(argv) != 8:
        sys.stderr.write(__doc__.split("\n\n")[1] + "\n")
        return 2
    stream, out, kname, krel, qlog, runfmt, nodes = argv[1:8]
    where = {"kernel_name": kname, "release": krel,
             "accel": qemu_accel(qlog), "nodes": int(nodes)}
    split(stream, out, where, runfmt)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
