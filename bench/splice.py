#!/usr/bin/env python3
"""Puts sections of one `bench/run.sh --only NAME` report into docs/benchmarks.md.

    bench/run.sh --only cpu --cpu-reps 3 > /tmp/cpu.md
    bench/splice.py /tmp/cpu.md "## CPU" "bench/run.sh --only cpu --cpu-reps 3"

A full `bench/run.sh --write-docs` regenerates the whole page from
bench/benchmarks.md.in; on a shared host one section at a time is often all
there is room for. The section (from its `## ` heading to the next) replaces
the page's, with one italic line first saying when, at which commit, with
which command and at what load it was measured, taken from the report's own
header.
"""
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DOC = os.path.join(ROOT, "docs", "benchmarks.md")


def section(text, heading):
    lines = text.split("\n")
    start = next((i for i, l in enumerate(lines) if l.startswith(heading)), None)
    if start is None:
        raise SystemExit("splice: no section %r" % heading)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return start, end, lines


def main():
    if len(sys.argv) != 4:
        raise SystemExit("usage: bench/splice.py REPORT.md '## HEADING' 'COMMAND THAT MADE IT'")
    report, heading, command = sys.argv[1:]
    with open(report) as f:
        rep = f.read()
    m = re.search(r"^on (\S+) \(UTC\), kiln (.+?), against", rep, re.M)
    load = re.search(r"load average ([0-9. ]+) at the start", rep)
    if not m or not load:
        raise SystemExit("splice: %s has no report header" % report)
    s, e, rl = section(rep, heading)
    body = rl[s + 1:e]
    while body and (not body[0].strip() or body[0].startswith("*This section")):
        body.pop(0)
    note = ("*This section measured on %s at kiln %s with `%s`, load average %s at its start (a "
            "2-core host shared with other jobs: compare the side-by-side ratios, not seconds).*"
            % (m.group(1), m.group(2), command, load.group(1).strip()))
    with open(DOC) as f:
        doc = f.read()
    ds, de, dl = section(doc, heading)
    out = dl[:ds + 1] + ["", note, ""] + body + dl[de:]
    with open(DOC, "w") as f:
        f.write("\n".join(out))
    print("splice: %s replaced from %s" % (heading, report))


if __name__ == "__main__":
    main()
