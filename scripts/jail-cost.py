#!/usr/bin/env python3
"""The cost of the jail (docs/security.md): start-up time and RSS of `kiln run` and
`kiln exec` with and without it. Medians of N runs each, jailed and unjailed runs
interleaved so host noise hits both alike. Not part of `make test`.

usage: scripts/jail-cost.py [N]      (env KILN, KILN_CACHE as for the tests)
"""
import os
import select
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../tests/integration"))
from kiln_guest import vm_pid_of  # noqa: E402

KILN = os.path.abspath(os.environ.get("KILN", "build/kiln"))
CACHE = os.environ.get("KILN_CACHE", os.path.expanduser("~/.cache/kiln"))
N = int(sys.argv[1]) if len(sys.argv) > 1 else 5
PROMPT = b"~ # "


def rss_kib(pid, field="VmRSS:"):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def one_run(extra):
    t0 = time.monotonic()
    p = subprocess.Popen([KILN, "run", *extra], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, bufsize=0)
    first = prompt = None
    buf = b""
    while prompt is None and time.monotonic() - t0 < 120:
        r, _, _ = select.select([p.stdout], [], [], 1)
        if not r:
            continue
        data = os.read(p.stdout.fileno(), 65536)
        if not data:
            break
        if first is None:
            first = time.monotonic() - t0
        buf += data
        if PROMPT in buf:
            prompt = time.monotonic() - t0
    time.sleep(1)  # let the guest settle at its prompt
    # Jailed as root, the VM runs in a child of the process started (its keeper, docs/jail.md):
    # the keeper's own memory is counted too (its anonymous pages: the library pages it maps
    # are the VM's as well).
    rss = rss_kib(p.pid)
    vm = vm_pid_of(p.pid)
    if vm != p.pid:
        rss = rss_kib(vm) + rss_kib(p.pid, "RssAnon:")
    p.stdin.write(b"poweroff\n")
    try:
        p.wait(60)
    except subprocess.TimeoutExpired:
        p.kill()
    return first, prompt, rss


def one_exec(prog, env):
    t0 = time.monotonic()
    p = subprocess.Popen([KILN, "exec", prog], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    return time.monotonic() - t0, ru.ru_maxrss


def main():
    runs = {"jail": [], "--no-jail": []}
    for _ in range(N):
        runs["jail"].append(one_run([]))
        runs["--no-jail"].append(one_run(["--no-jail"]))
    print("kiln run, default guest, %d runs each (medians):" % N)
    print("| | first output (ms) | shell prompt (ms) | RSS at prompt (MiB) |")
    print("|---|---|---|---|")
    for k, v in runs.items():
        print("| %s | %.0f | %.0f | %.1f |" % (
            k, 1000 * statistics.median(r[0] for r in v), 1000 * statistics.median(r[1] for r in v),
            statistics.median(r[2] for r in v) / 1024))
    hello = "build/user-tests/hello"
    if os.path.exists(hello):
        ex = {"jail": [], "KILN_JAIL=off": []}
        for _ in range(4 * N):
            ex["jail"].append(one_exec(hello, dict(os.environ)))
            ex["KILN_JAIL=off"].append(one_exec(hello, dict(os.environ, KILN_JAIL="off")))
        print("\nkiln exec tests/user/hello, %d runs each (medians):" % (4 * N))
        print("| | wall time (ms) | max RSS (MiB) |")
        print("|---|---|---|")
        for k, v in ex.items():
            print("| %s | %.1f | %.1f |" % (k, 1000 * statistics.median(r[0] for r in v),
                                           statistics.median(r[1] for r in v) / 1024))


main()
