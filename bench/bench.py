#!/usr/bin/env python3
"""kiln against QEMU (TCG), same guest, same run, interleaved.

Driven by bench/run.sh; see docs/benchmarks.md for what each benchmark does and
how to read the numbers. The host is shared and noisy, so every measurement
alternates kiln and QEMU runs (the order flips every round) and the report gives
min / median / max and kiln/QEMU ratios of runs taken side by side.

Speed and memory targets live here and in docs/benchmarks.md, never in tests.
"""
import argparse
import datetime
import json
import os
import platform
import random
import re
import select
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BENCH = os.path.join(ROOT, "bench")
OUT = os.path.join(ROOT, "build", "bench")
KILN = os.environ.get("KILN", os.path.join(ROOT, "build", "kiln"))
QEMU = os.environ.get("QEMU", "qemu-system-riscv64")
CACHE = os.environ.get("KILN_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "kiln"))
GUEST = os.path.join(CACHE, "guest")
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
# A jailed kiln run started by root runs the VM behind a keeper (docs/jail.md): its own pid.
from kiln_guest import vm_pid_of as past_keeper  # noqa: E402
PROMPT = "~ # "
READY = "kiln-init: ready"

# Bare-metal programs in bench/cpu, in report order, with a line describing the work.
CPU_PROGS = [
    ("intloop", "50 M iterations of 8 ALU/branch insns (400 M insns)"),
    ("memrand", "2 M random 64-bit read+write over 16 MiB, S-mode Sv39 4 KiB pages"),
    ("memcpy", "8 MiB copied 32 times (256 MiB), S-mode Sv39 4 KiB pages"),
    ("sha256", "SHA-256 of 4 MiB, twice"),
    ("crc32", "CRC-32 (table) of 4 MiB, 4 times"),
    ("fmatmul", "96x96 double matrix multiply, 16 times (28 M flops)"),
]


class BenchError(Exception):
    pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def stats(xs):
    return min(xs), statistics.median(xs), max(xs)


def fmt_s(xs, digits=2):
    lo, med, hi = stats(xs)
    if len(xs) == 1:
        return "%.*f" % (digits, med)
    return "%.*f / **%.*f** / %.*f" % (digits, lo, digits, med, digits, hi)


def fmt_ratio(rs):
    lo, med, hi = stats(rs)
    if len(rs) == 1:
        return "%.2f" % med
    return "%.2f / **%.2f** / %.2f" % (lo, med, hi)


def mib(kb):
    return "%.0f" % (kb / 1024.0)


# ---------------------------------------------------------------------------
# Running one VMM process


TIME = "/usr/bin/time"


def timed(cmd, rssfile):
    """cmd under GNU time, which writes the child's max RSS (KiB) to rssfile.

    The RSS must come from a small parent: Linux carries the high-water mark
    across execve, so a child forked from this Python process would report
    Python's own RSS (~15 MiB) as a floor."""
    return [TIME, "-f", "%M", "-o", rssfile, "--"] + cmd


def killpg(proc):
    """Kills GNU time and the VMM under it (their own session, started by us)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def read_rss(rssfile):
    try:
        with open(rssfile) as f:
            return int(f.read().split()[-1])
    except (OSError, ValueError, IndexError):
        return None


def run_timed(cmd, timeout):
    """Runs cmd with stdin from /dev/null; returns (seconds, rc, stdout, stderr, maxrss KiB).

    Wall time runs from just before the fork to the reaping of the child, so it
    includes the VMM's start-up and tear-down, as a user would see it."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile() as rss:
        t0 = time.perf_counter()
        proc = subprocess.Popen(timed(cmd, rss.name), stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                start_new_session=True)
        timer = threading.Timer(timeout, killpg, (proc,))
        timer.start()
        cpu, rc = reap(proc)
        t = time.perf_counter() - t0
        timer.cancel()
        out.seek(0)
        err.seek(0)
        return (t, rc, out.read().decode("utf-8", "replace"),
                err.read().decode("utf-8", "replace"), read_rss(rss.name), cpu)


def reap(proc, block=True):
    """Waits for proc (GNU time over the VMM): (user + system CPU s of both, exit code), or None
    when not block and it still runs. wait4's rusage counts the reaped descendants too, to the
    microsecond (GNU time's own %U %S are in hundredths)."""
    pid, status, ru = os.wait4(proc.pid, 0 if block else os.WNOHANG)
    if pid == 0:
        return None
    proc.returncode = os.waitstatus_to_exitcode(status)
    return ru.ru_utime + ru.ru_stime, proc.returncode


# kiln's extra options per configuration: "kiln" is the default (JIT on), "kiln-interp" the interpreter.
KILN_ARGS = {"kiln": [], "kiln-interp": ["--jit=off"], "kiln-v": ["-v"]}


def vmm_cpu_cmd(vmm, elf):
    if vmm.startswith("kiln"):
        return [KILN, "run"] + KILN_ARGS[vmm] + ["--firmware", elf, "--mem", "128M"]
    return [QEMU, "-M", "virt", "-m", "128M", "-nographic", "-bios", elf]


def result_lines(text):
    """The benchmark's own output lines ("name: ..."), without console noise."""
    return [l.strip() for l in text.replace("\r", "").split("\n") if re.match(r"^\w+: ", l.strip())]


# ---------------------------------------------------------------------------
# CPU benchmarks (issue #2)


def build_cpu():
    out = os.path.join(OUT, "cpu")
    subprocess.run([os.path.join(BENCH, "cpu", "build.sh"), out], check=True)
    return out


def bench_cpu(reps, timeout):
    elfdir = build_cpu()
    progs = [("empty", "start-up and power-off only")] + CPU_PROGS
    res = {name: {"kiln": [], "qemu": [], "kiln_rss": [], "qemu_rss": [], "out": None}
           for name, _ in progs}
    for r in range(reps):
        for i, (name, _) in enumerate(progs):
            elf = os.path.join(elfdir, name + ".elf")
            order = ("kiln", "qemu") if (r + i) % 2 == 0 else ("qemu", "kiln")
            outs = {}
            for vmm in order:
                t, rc, out, err, rss, _ = run_timed(vmm_cpu_cmd(vmm, elf), timeout)
                lines = result_lines(out)
                if rc != 0 or not lines or not lines[-1].startswith(name + ": "):
                    raise BenchError("%s failed on %s (exit %d, %.1f s)\ncommand: %s\nstdout:\n%s\nstderr:\n%s"
                                     % (name, vmm, rc, t, shlex.join(vmm_cpu_cmd(vmm, elf)), out, err))
                outs[vmm] = lines
                res[name][vmm].append(t)
                res[name][vmm + "_rss"].append(rss)
            if outs["kiln"] != outs["qemu"]:
                raise BenchError("%s: kiln and QEMU disagree\nkiln: %s\nqemu: %s"
                                 % (name, outs["kiln"], outs["qemu"]))
            if res[name]["out"] is None:
                res[name]["out"] = outs["kiln"]
            elif res[name]["out"] != outs["kiln"]:
                raise BenchError("%s: output changed between rounds: %s vs %s"
                                 % (name, res[name]["out"], outs["kiln"]))
            log("cpu round %d/%d %-8s kiln %6.2f s  qemu %6.2f s  %s"
                % (r + 1, reps, name, res[name]["kiln"][-1], res[name]["qemu"][-1], outs["kiln"][-1]))
    return res


def insns_of(line):
    m = re.search(r"insns=([0-9a-f]+)", line)
    return int(m.group(1), 16) if m else None


def cpu_table(res):
    base_k = statistics.median(res["empty"]["kiln"])
    base_q = statistics.median(res["empty"]["qemu"])
    rows = []
    rows.append("| program | work | kiln s | QEMU s | kiln / QEMU | kiln max RSS MiB | QEMU max RSS MiB |")
    rows.append("|---|---|---|---|---|---|---|")
    e = res["empty"]
    rows.append("| empty (start-up, not subtracted) | %s | %s | %s | %s | %s | %s |"
                % ("start-up and power-off only", fmt_s(e["kiln"], 3), fmt_s(e["qemu"], 3),
                   fmt_ratio([k / q for k, q in zip(e["kiln"], e["qemu"])]),
                   mib(max(e["kiln_rss"])), mib(max(e["qemu_rss"]))))
    mips = None
    for name, work in CPU_PROGS:
        x = res[name]
        nk = [t - base_k for t in x["kiln"]]
        nq = [t - base_q for t in x["qemu"]]
        ratios = [k / q if q > 0 else float("inf") for k, q in zip(nk, nq)]
        rows.append("| %s | %s | %s | %s | %s | %s | %s |"
                    % (name, work, fmt_s(nk), fmt_s(nq), fmt_ratio(ratios),
                       mib(max(x["kiln_rss"])), mib(max(x["qemu_rss"]))))
        n = insns_of(x["out"][-1]) if x["out"] else None
        if n:
            mips = (n / 1e6 / statistics.median(nk), n / 1e6 / statistics.median(nq),
                    [n / 1e6 / t for t in nk], [n / 1e6 / t for t in nq])
    text = "\n".join(rows) + "\n"
    if mips:
        text += ("\nGuest MIPS on `intloop` (instructions / median time with start-up subtracted): "
                 "**kiln %.0f**, QEMU %.0f (kiln min-max %.0f-%.0f, QEMU %.0f-%.0f).\n"
                 % (mips[0], mips[1], min(mips[2]), max(mips[2]), min(mips[3]), max(mips[3])))
    text += ("\nChecksums (identical on kiln and QEMU in every round):\n\n```\n%s\n```\n"
             % "\n".join(res[name]["out"][-1] for name, _ in CPU_PROGS))
    return text


# ---------------------------------------------------------------------------
# Boot benchmark (issue #3)


def guest_files():
    files = {k: os.path.join(GUEST, f) for k, f in
             (("kernel", "Image"), ("initrd", "initramfs.cpio.gz"), ("firmware", "fw_dynamic.bin"))}
    missing = [f for f in files.values() if not os.path.exists(f)]
    return files, missing


def vmm_boot_cmd(vmm, g, append):
    if vmm.startswith("kiln"):
        return [KILN, "run"] + KILN_ARGS[vmm] + ["--mem", "256M", "--cpus", "1", "--firmware", g["firmware"],
                "--kernel", g["kernel"], "--initrd", g["initrd"], "--append", append]
    return [QEMU, "-M", "virt", "-m", "256M", "-smp", "1", "-nographic", "-bios", g["firmware"],
            "-kernel", g["kernel"], "-initrd", g["initrd"], "-append", append]


def vm_hwm_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class Console:
    """One VMM process whose serial console is a pair of pipes."""

    def __init__(self, cmd):
        self.cmd = cmd
        self.err = tempfile.TemporaryFile()
        self.rss = tempfile.NamedTemporaryFile()
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(timed(cmd, self.rss.name), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.err, bufsize=0,
                                     start_new_session=True)
        self.buf = ""
        self.log = ""
        self.maxrss = None
        self.cpu = None

    def rss_kb(self):
        """Resident memory of the VMM itself now (smaps_rollup Rss: shared pages counted once)."""
        try:
            with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
                kids = f.read().split()
            with open("/proc/%d/smaps_rollup" % past_keeper(int(kids[0]))) as f:
                for line in f:
                    if line.startswith("Rss:"):
                        return int(line.split()[1])
        except (OSError, IndexError, ValueError):
            return None
        return None

    def hwm_kb(self):
        """VmHWM of the VMM itself (the child of GNU time)."""
        try:
            with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
                kids = f.read().split()
        except OSError:
            return None
        return vm_hwm_kb(past_keeper(int(kids[0]))) if kids else None

    def elapsed(self):
        return time.perf_counter() - self.t0

    def expect(self, text, timeout):
        deadline = time.perf_counter() + timeout
        fd = self.proc.stdout.fileno()
        while True:
            k = self.buf.find(text)
            if k >= 0:
                t = self.elapsed()
                self.buf = self.buf[k + len(text):]
                return t
            left = deadline - time.perf_counter()
            if left <= 0:
                raise BenchError("timeout after %.0f s waiting for %r\ncommand: %s\nconsole tail:\n%s"
                                 % (timeout, text, shlex.join(self.cmd), self.tail()))
            r, _, _ = select.select([fd], [], [], min(left, 1.0))
            if r:
                data = os.read(fd, 65536)
                if not data:
                    raise BenchError("VMM exited while waiting for %r\ncommand: %s\nconsole tail:\n%s%s"
                                     % (text, shlex.join(self.cmd), self.tail(), self.stderr()))
                s = data.decode("utf-8", "replace").replace("\r", "")
                self.buf += s
                self.log += s

    def send(self, text):
        self.proc.stdin.write(text.encode())

    def wait_exit(self, timeout):
        """Reaps the VMM (draining its console); returns (seconds, exit code)."""
        deadline = time.perf_counter() + timeout
        fd = self.proc.stdout.fileno()
        while True:
            done = reap(self.proc, block=False) if self.proc.returncode is None else (self.cpu, self.proc.returncode)
            if done:
                t = self.elapsed()
                self.maxrss = read_rss(self.rss.name)
                self.cpu = done[0]
                return t, self.proc.returncode
            left = deadline - time.perf_counter()
            if left <= 0:
                self.kill()
                raise BenchError("VMM did not exit within %.0f s\ncommand: %s\nconsole tail:\n%s"
                                 % (timeout, shlex.join(self.cmd), self.tail()))
            r, _, _ = select.select([fd], [], [], min(left, 0.002))
            if r:
                data = os.read(fd, 65536)
                if data:
                    self.log += data.decode("utf-8", "replace").replace("\r", "")
                else:
                    # EOF: the process is exiting; poll its reaping closely.
                    time.sleep(0.0005)

    def kill(self):
        if self.proc.returncode is None:
            killpg(self.proc)
            self.proc.wait()

    def stderr(self):
        self.err.seek(0)
        s = self.err.read().decode("utf-8", "replace")
        return ("\nstderr:\n" + s) if s else ""

    def tail(self, n=30):
        return "\n".join(self.log.split("\n")[-n:])


def boot_once(vmm, g, timeout):
    """Full boot: start -> ready -> prompt; type poweroff -> exit."""
    c = Console(vmm_boot_cmd(vmm, g, "console=ttyS0"))
    try:
        t_ready = c.expect(READY, timeout)
        t_prompt = c.expect(PROMPT, timeout)
        hwm = c.hwm_kb()
        t_cmd = c.elapsed()
        c.send("poweroff\n")
        t_exit, rc = c.wait_exit(timeout)
    finally:
        c.kill()
    if rc != 0:
        raise BenchError("%s: exit status %d after poweroff%s" % (vmm, rc, c.stderr()))
    return {"ready": t_ready, "prompt": t_prompt, "poweroff": t_exit - t_cmd, "exit": t_exit,
            "hwm": hwm, "maxrss": c.maxrss, "cpu": c.cpu}


def init_once(vmm, g, timeout):
    """kiln.run=poweroff: start -> ready -> exit."""
    c = Console(vmm_boot_cmd(vmm, g, "console=ttyS0 kiln.run=poweroff"))
    try:
        t_ready = c.expect(READY, timeout)
        t_exit, rc = c.wait_exit(timeout)
    finally:
        c.kill()
    if rc != 0:
        raise BenchError("%s: exit status %d with kiln.run=poweroff%s" % (vmm, rc, c.stderr()))
    return {"ready": t_ready, "exit": t_exit, "maxrss": c.maxrss}


def bench_boot(runs, timeout):
    g, missing = guest_files()
    if missing:
        return None, "default guest not built (missing %s; run `make guest`)" % ", ".join(missing)
    res = {"boot": {"kiln": [], "qemu": []}, "init": {"kiln": [], "qemu": []}}
    for r in range(runs):
        for kind, fn in (("boot", boot_once), ("init", init_once)):
            order = ("kiln", "qemu") if r % 2 == 0 else ("qemu", "kiln")
            for vmm in order:
                x = fn(vmm, g, timeout)
                res[kind][vmm].append(x)
            log("boot run %d/%d %-4s kiln %s  qemu %s" % (
                r + 1, runs, kind,
                " ".join("%s=%.2f" % (k, v) for k, v in res[kind]["kiln"][-1].items() if isinstance(v, float)),
                " ".join("%s=%.2f" % (k, v) for k, v in res[kind]["qemu"][-1].items() if isinstance(v, float))))
    return res, None


def boot_table(res):
    b, i = res["boot"], res["init"]
    rows = ["| measurement | kiln | QEMU | kiln / QEMU |", "|---|---|---|---|"]

    def row(label, runs, key, unit="s", digits=2):
        k = [x[key] for x in runs["kiln"]]
        q = [x[key] for x in runs["qemu"]]
        if unit == "MiB":
            if None in k or None in q:
                return
            k = [v / 1024.0 for v in k]
            q = [v / 1024.0 for v in q]
            digits = 0
        ratios = [a / c for a, c in zip(k, q) if c > 0]
        rows.append("| %s | %s | %s | %s |" % (label, fmt_s(k, digits), fmt_s(q, digits), fmt_ratio(ratios)))

    row("start → `kiln-init: ready`, s", b, "ready")
    row("start → first `~ # ` prompt, s", b, "prompt")
    row("`poweroff` typed → VMM exited, s", b, "poweroff")
    row("start → exit (whole session), s", b, "exit")
    row("host RSS at the prompt (VmHWM), MiB", b, "hwm", "MiB")
    row("host max RSS of the run, MiB", b, "maxrss", "MiB")
    row("`kiln.run=poweroff`: start → `kiln-init: ready`, s", i, "ready")
    row("`kiln.run=poweroff`: start → exit, s", i, "exit")
    row("`kiln.run=poweroff`: host max RSS, MiB", i, "maxrss", "MiB")
    return "\n".join(rows) + "\n"


# ---------------------------------------------------------------------------
# Process VMs: bench/exec.sh (another engineer's) prints its own markdown table.


# Process VMs: kiln exec (JIT and interpreter) against qemu-riscv64 on CPU-bound programs.
EXEC_VMMS = ("kiln", "kiln-interp", "qemu")
SIEVE_N = 30000000
EXEC_PROGS = [("sieve", "`tests/user/sieve` (glibc, malloc): primes to %d M, 30 MiB of memory" % (SIEVE_N // 1000000))] + \
    [(name, work.replace(", S-mode Sv39 4 KiB pages", ", U-mode, the OS's 4 KiB pages")) for name, work in CPU_PROGS]


def exec_cmd(vmm, path, args):
    if vmm == "qemu":
        return ["qemu-riscv64", path] + args
    return [KILN, "exec"] + (["--jit=off"] if vmm == "kiln-interp" else []) + [path] + args


def bench_exec_cpu(reps, timeout):
    """The bench/cpu programs built as Linux processes, and the sieve, under kiln exec with and without
    the JIT and qemu-riscv64, interleaved (the order rotates every round)."""
    udir = os.path.join(OUT, "cpu-user")
    subprocess.run([os.path.join(BENCH, "cpu", "build.sh"), "--user", udir], check=True)
    tdir = os.path.join(ROOT, "build", "user-tests")
    subprocess.run([os.path.join(ROOT, "tests", "user", "build.sh"), tdir], check=True, stdout=subprocess.DEVNULL)
    progs = [("empty", os.path.join(udir, "empty"), [])]
    for name, _ in EXEC_PROGS:
        if name == "sieve":
            progs.append((name, os.path.join(tdir, "sieve"), [str(SIEVE_N)]))
        else:
            progs.append((name, os.path.join(udir, name), []))
    res = {n: {v: [] for v in EXEC_VMMS} for n, _, _ in progs}
    outs_seen = {}
    for r in range(reps):
        for i, (name, path, args) in enumerate(progs):
            order = EXEC_VMMS[(r + i) % 3:] + EXEC_VMMS[:(r + i) % 3]
            outs = {}
            for vmm in order:
                t, rc, out, err, _, _ = run_timed(exec_cmd(vmm, path, args), timeout)
                if rc != 0:
                    raise BenchError("exec %s failed on %s (exit %d)\ncommand: %s\n%s"
                                     % (name, vmm, rc, shlex.join(exec_cmd(vmm, path, args)), err))
                outs[vmm] = out
                res[name][vmm].append(t)
            if len(set(outs.values())) != 1:
                raise BenchError("exec %s: outputs differ: %s" % (name, outs))
            outs_seen[name] = outs["kiln"].strip()
            log("exec round %d/%d %-8s %s" % (r + 1, reps, name, "  ".join(
                "%s %.3f" % (v, res[name][v][-1]) for v in EXEC_VMMS)))
    return res, outs_seen


def exec_cpu_table(res, outs):
    base = {v: statistics.median(res["empty"][v]) for v in EXEC_VMMS}
    rows = ["| program | work | kiln exec JIT s | kiln exec interpreter s | qemu-riscv64 s | JIT / qemu-riscv64 "
            "| JIT speed-up over the interpreter |", "|---|---|---|---|---|---|---|"]
    e = res["empty"]
    rows.append("| empty (start-up, not subtracted) | start and exit only | %s | %s | %s | %s | |" % (
        fmt_s(e["kiln"], 3), fmt_s(e["kiln-interp"], 3), fmt_s(e["qemu"], 3),
        fmt_ratio([a / b for a, b in zip(e["kiln"], e["qemu"])])))
    for name, work in EXEC_PROGS:
        t = {v: [x - base[v] for x in res[name][v]] for v in EXEC_VMMS}
        rows.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            name, work, fmt_s(t["kiln"]), fmt_s(t["kiln-interp"]), fmt_s(t["qemu"]),
            fmt_ratio([a / b for a, b in zip(t["kiln"], t["qemu"]) if b > 0]),
            fmt_ratio([b / a for a, b in zip(t["kiln"], t["kiln-interp"]) if a > 0])))
    raw = [statistics.median(res[n]["kiln"]) / statistics.median(res[n]["qemu"]) for n, _ in EXEC_PROGS]
    text = "\n".join(rows) + "\n"
    text += ("\nWithout subtracting start-up (whole runs, medians), kiln exec JIT / qemu-riscv64 is %s "
             "(%s).\n" % (", ".join("%s %.2f" % (n, x) for (n, _), x in zip(EXEC_PROGS, raw)),
                          "geometric mean %.2f" % (statistics.geometric_mean(raw))))
    text += "\nOutputs (identical in the three runs of every round):\n\n```\n%s\n```\n" % "\n".join(
        outs[n] for n, _ in EXEC_PROGS)
    return text


def bench_exec(quick, reps, timeout):
    script = os.path.join(BENCH, "exec.sh")
    env = dict(os.environ, KILN=KILN)
    if quick:
        env.setdefault("RUNS", "5")
    env["SIEVE_N"] = env.get("SIEVE_N", str(SIEVE_N))
    log("exec: bench/exec.sh")
    try:
        p = subprocess.run([script], cwd=ROOT, env=env, stdout=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "Not measured: `bench/exec.sh` did not finish within %.0f s.\n" % timeout
    if p.returncode != 0:
        log("bench: bench/exec.sh failed with exit status %d" % p.returncode)
        return "Not measured: `bench/exec.sh` failed (exit status %d).\n" % p.returncode
    text = "Start-up, produced by `bench/exec.sh`%s (its own method: medians, runs not interleaved; " \
        "its sieve row is one run of each):\n\n%s\n" % (
            " with `RUNS=%s`" % env["RUNS"] if "RUNS" in env else "", p.stdout.decode("utf-8", "replace").strip())
    res, outs = bench_exec_cpu(reps, timeout)
    text += ("\nCPU-bound programs, %d rounds: the `bench/cpu` programs built as static riscv64 Linux "
             "executables (`bench/cpu/build.sh --user`: the same C, output through `write`, buffers in "
             "`.bss`, no paging of their own) and the sieve, each run by `kiln exec` (JIT, the default), "
             "`kiln exec --jit=off` and `qemu-riscv64`, interleaved (the order rotates every round). "
             "Start-up (`empty`) is subtracted per VMM.\n\n" % reps) + exec_cpu_table(res, outs)
    return text


# ---------------------------------------------------------------------------
# Disk, network (issue #4) and density (issue #5): a guest driven through its
# serial console, host CPU time of the VMM process from /proc/PID/stat.

CLK_TCK = os.sysconf("SC_CLK_TCK")
DISK_MIB = 256          # size of the raw disk image
GUEST_PORT = 5001       # guest's nc -l port for host -> guest


def proc_cpu_s(pid):
    """utime + stime of a whole process (all threads), seconds."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def proc_rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Guest(Console):
    """A booted default guest with a shell on the console: run() types one
    command and returns its output, the host seconds it took and the VMM's
    host CPU seconds over it."""

    def vmm_pid(self):
        try:
            with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
                kids = f.read().split()
            return past_keeper(int(kids[0])) if kids else None
        except OSError:
            return None

    def cpu_s(self):
        pid = self.vmm_pid()
        return proc_cpu_s(pid) if pid else None

    def start_cmd(self, cmd):
        # The marker is typed as DO""NE: the tty's echo of the command line
        # never contains the marker itself.
        self.buf = ""
        self.mark = len(self.log)
        self.cpu0 = self.cpu_s()
        self.t0cmd = time.perf_counter()
        self.send("%s; echo DO\"\"NE$?\n" % cmd)

    def finish_cmd(self, timeout, check=True):
        self.expect("\nDONE", timeout)
        self.expect("\n", 10)
        t = time.perf_counter() - self.t0cmd
        cpu = self.cpu_s()
        out = self.log[self.mark:]
        m = re.search(r"\nDONE(\d+)", out)
        rc = int(m.group(1)) if m else -1
        out = out[:m.start()] if m else out
        if check and rc != 0:
            raise BenchError("guest command failed (status %d): %s\ncommand: %s\nconsole tail:\n%s"
                             % (rc, self.lastcmd, shlex.join(self.cmd), self.tail()))
        return out, t, (cpu - self.cpu0) if cpu is not None and self.cpu0 is not None else None

    def run(self, cmd, timeout, check=True):
        self.lastcmd = cmd
        self.start_cmd(cmd)
        return self.finish_cmd(timeout, check)

    def poweroff(self, timeout):
        try:
            self.buf = ""
            self.send("poweroff\n")
            t, rc = self.wait_exit(timeout)
        finally:
            self.kill()
        return rc


def io_guest_cmd(vmm, g, initrd, disk=None, hostfwd=None, mem="256M"):
    if vmm == "kiln":
        cmd = [KILN, "run", "--mem", mem, "--cpus", "1", "--firmware", g["firmware"],
               "--kernel", g["kernel"], "--initrd", initrd, "--append", "console=ttyS0"]
        if disk:
            cmd += ["--disk", disk + ",cache=writeback"]
        if hostfwd is not None:
            cmd += ["--net", "user,hostfwd=tcp:127.0.0.1:%d-:%d" % (hostfwd, GUEST_PORT)]
        return cmd
    cmd = [QEMU, "-M", "virt", "-m", mem, "-smp", "1", "-nographic", "-bios", g["firmware"],
           "-kernel", g["kernel"], "-initrd", initrd, "-append", "console=ttyS0"]
    if disk:
        cmd += ["-drive", "file=%s,format=raw,if=none,id=d0,cache=writeback" % disk,
                "-device", "virtio-blk-device,drive=d0"]
    if hostfwd is not None:
        cmd += ["-netdev", "user,id=n0,hostfwd=tcp:127.0.0.1:%d-:%d" % (hostfwd, GUEST_PORT),
                "-device", "virtio-net-device,netdev=n0"]
    return cmd


def build_io(g):
    out = os.path.join(OUT, "io")
    subprocess.run([os.path.join(BENCH, "io", "build.sh"), out, g["initrd"]], check=True)
    return out


def boot_guest(cmd, timeout):
    c = Guest(cmd)
    try:
        c.expect(PROMPT, timeout)
    except BaseException:
        c.kill()
        raise
    return c


DD_RE = re.compile(r"(\d+) bytes \([^)]*\) copied, ([\d.]+) seconds")
RR_RE = re.compile(r"randread: n=(\d+) bytes=(\d+) secs=([\d.]+) iops=(\d+) sum=([0-9a-f]+)")


def disk_round(vmm, g, io, img, mib, nrand, timeout):
    c = boot_guest(io_guest_cmd(vmm, g, os.path.join(io, "initramfs-bench.cpio.gz"), disk=img), timeout)
    res = {}
    try:
        for key, cmd in (("write", "dd if=/dev/zero of=/dev/vda bs=1M count=%d conv=fsync" % mib),
                         ("drop", "sync; echo 3 > /proc/sys/vm/drop_caches"),
                         ("read", "dd if=/dev/vda of=/dev/null bs=1M count=%d" % mib),
                         ("randread", "randread /dev/vda %d" % nrand)):
            out, t, cpu = c.run(cmd, timeout)
            if key == "drop":
                continue
            if key == "randread":
                m = RR_RE.search(out)
                if not m:
                    raise BenchError("%s: no randread line in:\n%s" % (vmm, out))
                nbytes, secs = int(m.group(2)), float(m.group(3))
                res[key] = {"iops": int(m.group(1)) / secs, "secs": secs, "host_s": t, "cpu": cpu,
                            "bytes": nbytes, "sum": m.group(5)}
            else:
                m = DD_RE.search(out)
                if not m:
                    raise BenchError("%s: no dd summary in:\n%s" % (vmm, out))
                nbytes, secs = int(m.group(1)), float(m.group(2))
                res[key] = {"mbs": nbytes / secs / 1e6, "secs": secs, "host_s": t, "cpu": cpu, "bytes": nbytes}
        rc = c.poweroff(timeout)
    finally:
        c.kill()
    if rc != 0:
        raise BenchError("%s: exit status %d after poweroff%s" % (vmm, rc, c.stderr()))
    return res


def make_disk(path, mib):
    """A raw image full of pseudo-random bytes (not sparse: every block is real)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rnd = random.Random(4)
    chunk = rnd.randbytes(1 << 20)
    with open(path, "wb") as f:
        for i in range(mib):
            f.write(chunk[i:] + chunk[:i])


def bench_disk(rounds, mib, nrand, timeout):
    g, missing = guest_files()
    if missing:
        return None, "default guest not built (missing %s; run `make guest`)" % ", ".join(missing)
    io = build_io(g)
    img = os.path.join(io, "disk.img")
    make_disk(img, DISK_MIB)
    res = {"kiln": [], "qemu": [], "mib": mib, "nrand": nrand}
    for r in range(rounds):
        for vmm in (("kiln", "qemu") if r % 2 == 0 else ("qemu", "kiln")):
            res[vmm].append(disk_round(vmm, g, io, img, mib, nrand, timeout))
        k, q = res["kiln"][-1], res["qemu"][-1]
        if k["randread"]["sum"] != q["randread"]["sum"]:
            raise BenchError("disk: randread checksums differ: kiln %s, QEMU %s"
                             % (k["randread"]["sum"], q["randread"]["sum"]))
        log("disk round %d/%d  kiln write %.1f read %.1f MB/s %.0f IOPS  qemu write %.1f read %.1f MB/s %.0f IOPS"
            % (r + 1, rounds, k["write"]["mbs"], k["read"]["mbs"], k["randread"]["iops"],
               q["write"]["mbs"], q["read"]["mbs"], q["randread"]["iops"]))
    os.unlink(img)
    return res, None


def cpu_per_gib(x):
    return x["cpu"] / (x["bytes"] / float(1 << 30)) if x["cpu"] is not None else None


def pair_rows(res, rows_spec, digits_default=1):
    rows = ["| measurement | kiln | QEMU | kiln / QEMU |", "|---|---|---|---|"]
    for label, fn, digits in rows_spec:
        k = [fn(x) for x in res["kiln"]]
        q = [fn(x) for x in res["qemu"]]
        if None in k or None in q:
            continue
        ratios = [a / b for a, b in zip(k, q) if b > 0]
        rows.append("| %s | %s | %s | %s |" % (label, fmt_s(k, digits), fmt_s(q, digits), fmt_ratio(ratios)))
    return rows


def disk_table(res):
    rows = pair_rows(res, [
        ("sequential write, MB/s (higher is better)", lambda x: x["write"]["mbs"], 1),
        ("sequential read, MB/s (higher is better)", lambda x: x["read"]["mbs"], 1),
        ("4 KiB random read, IOPS (higher is better)", lambda x: x["randread"]["iops"], 0),
        ("host CPU per GiB written, s", lambda x: cpu_per_gib(x["write"]), 1),
        ("host CPU per GiB read, s", lambda x: cpu_per_gib(x["read"]), 1),
        ("host CPU per GiB random-read, s", lambda x: cpu_per_gib(x["randread"]), 0),
    ])
    return "\n".join(rows) + "\n\nrandread checksum (same on kiln and QEMU in every round): `%s`\n" % (
        res["kiln"][0]["randread"]["sum"])


# -- network


class Sink(threading.Thread):
    """Host side of guest -> host: accepts one connection on 127.0.0.1, reads
    until `want` bytes arrived, then closes it (which ends the guest's nc)."""

    def __init__(self, want, timeout):
        super().__init__(daemon=True)
        self.want = want
        self.timeout = timeout
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.got = 0
        self.t_accept = self.t_last = None
        self.error = None

    def run(self):
        try:
            self.sock.settimeout(self.timeout)
            conn, _ = self.sock.accept()
            self.t_accept = time.perf_counter()
            conn.settimeout(self.timeout)
            while self.got < self.want:
                data = conn.recv(1 << 20)
                if not data:
                    break
                self.got += len(data)
            self.t_last = time.perf_counter()
            conn.close()
        except OSError as e:
            self.error = e
        finally:
            self.sock.close()


def send_to_guest(port, nbytes, timeout):
    """Host -> guest through the hostfwd: connect, send, half-close, wait for
    the guest to close. Retries while the guest's nc is not listening yet
    (user-mode networking accepts on the host side first, then resets)."""
    chunk = b"\0" * (1 << 16)
    last = None
    for attempt in range(10):
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        t0 = time.perf_counter()
        try:
            sent = 0
            while sent < nbytes:
                sent += s.send(chunk[:min(len(chunk), nbytes - sent)])
            s.shutdown(socket.SHUT_WR)
            while s.recv(65536):
                pass
            return time.perf_counter() - t0
        except OSError as e:
            last = e
            time.sleep(1)
        finally:
            s.close()
    raise BenchError("host -> guest: could not send after 10 attempts: %s" % last)


def guest_tcpext(c, timeout):
    """The guest's TcpExt counters (/proc/net/netstat): out-of-order arrivals
    there mean the VMM or slirp lost a frame on the way in."""
    out = c.run("grep TcpExt: /proc/net/netstat", timeout)[0]
    ls = [l.split() for l in out.split("\n") if l.startswith("TcpExt:")]
    if len(ls) < 2:
        return {}
    return dict(zip(ls[-2][1:], (int(v) for v in ls[-1][1:] if v.lstrip("-").isdigit())))


def net_round(vmm, g, io, mib, timeout):
    port = free_port()
    c = boot_guest(io_guest_cmd(vmm, g, os.path.join(io, "initramfs-bench.cpio.gz"), hostfwd=port), timeout)
    nbytes = mib << 20
    res = {}
    try:
        c.run("i=0; until ip -4 addr show eth0 | grep -q inet; do i=$((i+1)); [ $i -gt 60 ] && exit 1; "
              "sleep 1; done", timeout)
        # guest -> host
        sink = Sink(nbytes, timeout)
        sink.start()
        out, t, cpu = c.run("dd if=/dev/zero bs=64k count=%d 2>/dev/null | nc 10.0.2.2 %d"
                            % (nbytes >> 16, sink.port), timeout, check=False)
        sink.join(timeout)
        if sink.error or sink.got != nbytes or sink.t_accept is None:
            raise BenchError("%s: guest -> host got %d of %d bytes (%s)\nconsole tail:\n%s"
                             % (vmm, sink.got, nbytes, sink.error, c.tail()))
        secs = sink.t_last - sink.t_accept
        res["tx"] = {"mbs": nbytes / secs / 1e6, "secs": secs, "host_s": t, "cpu": cpu, "bytes": nbytes}
        # host -> guest
        ext0 = guest_tcpext(c, timeout)
        c.lastcmd = "nc -l -p %d </dev/null | wc -c" % GUEST_PORT
        c.start_cmd(c.lastcmd)
        time.sleep(1.0)
        secs = send_to_guest(port, nbytes, timeout)
        out, t, cpu = c.finish_cmd(timeout)
        got = [int(l) for l in out.split("\n") if l.strip().isdigit()]
        if not got or got[-1] != nbytes:
            raise BenchError("%s: host -> guest: guest counted %s of %d bytes\nconsole tail:\n%s"
                             % (vmm, got, nbytes, c.tail()))
        ext1 = guest_tcpext(c, timeout)
        res["rx"] = {"mbs": nbytes / secs / 1e6, "secs": secs, "host_s": t, "cpu": cpu, "bytes": nbytes,
                     "guest_ofo": ext1.get("TCPOFOQueue", 0) - ext0.get("TCPOFOQueue", 0)}
        rc = c.poweroff(timeout)
    finally:
        c.kill()
    if rc != 0:
        raise BenchError("%s: exit status %d after poweroff%s" % (vmm, rc, c.stderr()))
    return res


def bench_net(rounds, mib, timeout):
    g, missing = guest_files()
    if missing:
        return None, "default guest not built (missing %s; run `make guest`)" % ", ".join(missing)
    io = build_io(g)
    res = {"kiln": [], "qemu": [], "mib": mib}
    for r in range(rounds):
        for vmm in (("kiln", "qemu") if r % 2 == 0 else ("qemu", "kiln")):
            res[vmm].append(net_round(vmm, g, io, mib, timeout))
        k, q = res["kiln"][-1], res["qemu"][-1]
        log("net round %d/%d  kiln tx %.1f rx %.1f MB/s (rx %.1f s wall, %.1f s CPU, %d out-of-order)  "
            "qemu tx %.1f rx %.1f MB/s (rx %.1f s wall, %.1f s CPU, %d out-of-order)"
            % (r + 1, rounds, k["tx"]["mbs"], k["rx"]["mbs"], k["rx"]["secs"], k["rx"]["cpu"] or 0,
               k["rx"]["guest_ofo"], q["tx"]["mbs"], q["rx"]["mbs"], q["rx"]["secs"], q["rx"]["cpu"] or 0,
               q["rx"]["guest_ofo"]))
    return res, None


def net_table(res):
    return "\n".join(pair_rows(res, [
        ("TCP guest → host, MB/s (higher is better)", lambda x: x["tx"]["mbs"], 1),
        ("TCP host → guest, MB/s (higher is better)", lambda x: x["rx"]["mbs"], 1),
        ("host CPU per GiB guest → host, s", lambda x: cpu_per_gib(x["tx"]), 1),
        ("host CPU per GiB host → guest, s", lambda x: cpu_per_gib(x["rx"]), 1),
    ])) + "\n"


# -- density


def density_cmd(vmm, g):
    if vmm == "kiln":
        return [KILN, "run", "--mem", "64M", "--cpus", "1", "--firmware", g["firmware"],
                "--kernel", g["kernel"], "--initrd", g["initrd"], "--append", "console=ttyS0"]
    return [QEMU, "-M", "virt", "-m", "64M", "-smp", "1", "-nographic", "-bios", g["firmware"],
            "-kernel", g["kernel"], "-initrd", g["initrd"], "-append", "console=ttyS0"]


def density_once(vmm, g, k, idle, timeout):
    """K idle VMs at once: launch all, wait for every `kiln-init: ready` and
    prompt, settle 2 s, then sample CPU and RSS over `idle` seconds."""
    cmd = density_cmd(vmm, g)
    procs, bufs, ready, prompt = [], [], [None] * k, [None] * k
    t0 = time.perf_counter()
    try:
        for i in range(k):
            procs.append(subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=subprocess.DEVNULL, bufsize=0, start_new_session=True))
            bufs.append("")
        t_launched = time.perf_counter() - t0
        fds = {p.stdout.fileno(): i for i, p in enumerate(procs)}
        deadline = t0 + timeout
        while None in prompt:
            left = deadline - time.perf_counter()
            if left <= 0:
                n = sum(x is not None for x in ready)
                raise BenchError("density %s K=%d: only %d of %d VMs ready after %.0f s\ncommand: %s\n"
                                 "console tail of a slow one:\n%s"
                                 % (vmm, k, n, k, timeout, shlex.join(cmd),
                                    bufs[prompt.index(None)][-1500:]))
            r, _, _ = select.select(list(fds), [], [], min(left, 1.0))
            now = time.perf_counter() - t0
            for fd in r:
                i = fds[fd]
                data = os.read(fd, 65536)
                if not data:
                    raise BenchError("density %s K=%d: VM %d exited (status %s)\nconsole tail:\n%s"
                                     % (vmm, k, i, procs[i].wait(), bufs[i][-1500:]))
                bufs[i] = (bufs[i] + data.decode("utf-8", "replace").replace("\r", ""))[-4096:]
                if ready[i] is None and READY in bufs[i]:
                    ready[i] = now
                if ready[i] is not None and prompt[i] is None and PROMPT in bufs[i].split(READY, 1)[-1]:
                    prompt[i] = now
        t_all = max(ready)

        def drain(t):
            end = time.perf_counter() + t
            while True:
                left = end - time.perf_counter()
                if left <= 0:
                    return
                r, _, _ = select.select(list(fds), [], [], left)
                for fd in r:
                    os.read(fd, 65536)

        drain(2.0)
        pids = [p.pid for p in procs]
        c0 = [proc_cpu_s(p) for p in pids]
        w0 = time.perf_counter()
        drain(idle)
        c1 = [proc_cpu_s(p) for p in pids]
        w = time.perf_counter() - w0
        rss = [proc_rss_kb(p) for p in pids]
        if None in c0 or None in c1 or None in rss:
            raise BenchError("density %s K=%d: a VM exited while idle" % (vmm, k))
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for p in procs:
            p.wait()
    cpu_pct = 100.0 * (sum(c1) - sum(c0)) / w
    return {"k": k, "launched": t_launched, "all_ready": t_all, "rate": k / t_all,
            "ready": ready, "idle_cpu_pct": cpu_pct, "idle_cpu_pct_per_vm": cpu_pct / k,
            "rss_kb": sum(rss), "rss_kb_per_vm": sum(rss) / k, "idle_s": w}


def bench_density(ks, idle, timeout):
    g, missing = guest_files()
    if missing:
        return None, "default guest not built (missing %s; run `make guest`)" % ", ".join(missing)
    res = {"ks": ks, "idle": idle, "kiln": {}, "qemu": {}}
    for j, k in enumerate(ks):
        for vmm in (("kiln", "qemu") if j % 2 == 0 else ("qemu", "kiln")):
            x = density_once(vmm, g, k, idle, timeout + 15 * k)
            res[vmm][k] = x
            log("density K=%-3d %-4s all ready %.1f s (%.2f VMs/s), idle CPU %.1f%% (%.2f%%/VM), RSS %.0f MiB "
                "(%.1f MiB/VM)" % (k, vmm, x["all_ready"], x["rate"], x["idle_cpu_pct"],
                                   x["idle_cpu_pct_per_vm"], x["rss_kb"] / 1024.0, x["rss_kb_per_vm"] / 1024.0))
    return res, None


def density_table(res):
    rows = ["| K VMs | VMM | launch → all `kiln-init: ready`, s | VMs / s | idle host CPU, % of a core (total) "
            "| idle CPU per VM, % | RSS total, MiB | RSS per VM, MiB |",
            "|---|---|---|---|---|---|---|---|"]
    for k in res["ks"]:
        for vmm, name in (("kiln", "kiln"), ("qemu", "QEMU")):
            x = res[vmm][k]
            rows.append("| %d | %s | %.1f | %.2f | %.1f | %.2f | %.0f | %.1f |"
                        % (k, name, x["all_ready"], x["rate"], x["idle_cpu_pct"], x["idle_cpu_pct_per_vm"],
                           x["rss_kb"] / 1024.0, x["rss_kb_per_vm"] / 1024.0))
    rows.append("")
    rows.append("kiln / QEMU at each K (lower is better for kiln):")
    rows.append("")
    rows.append("| K VMs | time to all ready | idle CPU | RSS |")
    rows.append("|---|---|---|---|")

    def ratio(a, b):
        return "%.2f" % (a / b) if b > 0 else ("n/a (QEMU 0)" if a > 0 else "1.00 (both 0)")

    for k in res["ks"]:
        a, b = res["kiln"][k], res["qemu"][k]
        rows.append("| %d | %s | %s | %s |" % (k, ratio(a["all_ready"], b["all_ready"]),
                                               ratio(a["idle_cpu_pct"], b["idle_cpu_pct"]),
                                               ratio(a["rss_kb"], b["rss_kb"])))
    return "\n".join(rows) + "\n"


# ---------------------------------------------------------------------------
# Report


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, cwd=ROOT).stdout.strip()
    except OSError:
        return ""


def host_info():
    model = sh("lscpu | sed -n 's/^Model name: *//p' | head -1") or platform.processor()
    return {
        "cpu": model,
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "qemu": sh("%s --version | head -1" % shlex.quote(QEMU)),
        "kiln": sh("git rev-parse --short HEAD") + (" (with uncommitted changes)"
                                                     if sh("git status --porcelain -- src Makefile") else ""),
        "load": "%.2f %.2f %.2f" % os.getloadavg(),
    }


# ---------------------------------------------------------------------------
# JIT benchmark (issue #10): kiln with the JIT, kiln interpreting, QEMU, interleaved


JIT_VMMS = ("kiln", "kiln-interp", "qemu")
JIT_STATS = re.compile(r"jit: hart \d+: (\d+) blocks translated in ([0-9.]+) ms, (\d+) invalidated, "
                       r"(\d+) flushes \(\d+ released while idle\), (\d+) KiB of code, \d+ chained, (\d+)% of instructions")


def jit_stats(text):
    """Sums kiln -v's per-hart JIT lines: blocks, translation ms, invalidated, flushes, KiB of code,
    and the last hart's share (%) of instructions run translated."""
    tot = [0, 0.0, 0, 0, 0, 0]
    for m in JIT_STATS.finditer(text):
        for k in range(5):
            tot[k] += float(m.group(k + 1)) if k == 1 else int(m.group(k + 1))
        tot[5] = int(m.group(6))
    return tot


def bench_jit(reps, boot_runs, timeout):
    elfdir = build_cpu()
    progs = ["empty"] + [name for name, _ in CPU_PROGS]
    res = {"cpu": {n: {v: [] for v in JIT_VMMS} for n in progs},
           "cput": {n: {v: [] for v in JIT_VMMS} for n in progs}, "stats": {}, "boot": None}
    for r in range(reps):
        for i, name in enumerate(progs):
            elf = os.path.join(elfdir, name + ".elf")
            order = JIT_VMMS[(r + i) % 3:] + JIT_VMMS[:(r + i) % 3]
            outs = {}
            for vmm in order:
                t, rc, out, err, _, cpu = run_timed(vmm_cpu_cmd(vmm, elf), timeout)
                if rc != 0:
                    raise BenchError("%s failed on %s (exit %d)\n%s" % (name, vmm, rc, err))
                outs[vmm] = result_lines(out)
                res["cpu"][name][vmm].append(t)
                res["cput"][name][vmm].append(cpu)
            if len(set(tuple(o) for o in outs.values())) != 1:
                raise BenchError("%s: outputs differ: %s" % (name, outs))
            log("jit round %d/%d %-8s %s" % (r + 1, reps, name, "  ".join(
                "%s %.3f" % (v, res["cpu"][name][v][-1]) for v in JIT_VMMS)))
    for name in progs:
        _, _, _, err, _, _ = run_timed(vmm_cpu_cmd("kiln-v", os.path.join(elfdir, name + ".elf")), timeout)
        res["stats"][name] = jit_stats(err)
    g, missing = guest_files()
    if missing:
        res["boot"] = None
        return res
    kernels = [("default", g)]
    defconfig = defconfig_kernel()
    if defconfig:
        kernels.append(("defconfig", dict(g, kernel=defconfig)))
    res["boot"] = {}
    for kname, gk in kernels:
        runs = res["boot"][kname] = {v: [] for v in JIT_VMMS}
        for r in range(boot_runs):
            order = JIT_VMMS[r % 3:] + JIT_VMMS[:r % 3]
            for vmm in order:
                runs[vmm].append(boot_once(vmm, gk, timeout))
            log("jit boot %s %d/%d %s" % (kname, r + 1, boot_runs, "  ".join(
                "%s ready %.2f prompt %.2f cpu %.2f" % (v, runs[v][-1]["ready"], runs[v][-1]["prompt"],
                                                       runs[v][-1]["cpu"] or 0) for v in JIT_VMMS)))
        c = Console(vmm_boot_cmd("kiln-v", gk, "console=ttyS0 kiln.run=poweroff"))
        try:
            c.expect(READY, timeout)
            c.wait_exit(timeout)
        finally:
            c.kill()
        res["stats"]["boot-" + kname] = jit_stats(c.stderr())
    res["idle"] = {v: [idle_rss_once(v, g, timeout) for _ in range(2)] for v in JIT_VMMS}
    log("jit idle RSS %s" % "  ".join("%s %s" % (v, res["idle"][v]) for v in JIT_VMMS))
    return res


IDLE_S = 8


def idle_rss_once(vmm, g, timeout):
    """The default guest, 64 MiB, at its prompt for IDLE_S seconds: the VMM's Rss (KiB) then."""
    cmd = vmm_boot_cmd(vmm, g, "console=ttyS0")
    cmd[cmd.index("256M")] = "64M"
    c = Console(cmd)
    try:
        c.expect(PROMPT, timeout)
        time.sleep(IDLE_S)
        kb = c.rss_kb()
        c.send("poweroff\n")
        c.wait_exit(timeout)
    finally:
        c.kill()
    return kb


def defconfig_kernel():
    """A plain `defconfig` kernel (bench/defconfig.sh builds it once, 10-40 minutes), or None."""
    log("defconfig kernel: bench/defconfig.sh (builds it the first time)")
    p = subprocess.run(["bench/defconfig.sh"], stdout=subprocess.PIPE, text=True)
    path = p.stdout.strip().split("\n")[-1] if p.returncode == 0 else ""
    return path if path and os.path.exists(path) else None


def jit_table(res):
    cpu = res["cpu"]
    base = {v: statistics.median(cpu["empty"][v]) for v in JIT_VMMS}
    cput = res["cput"]
    cbase = {v: statistics.median(cput["empty"][v]) for v in JIT_VMMS}
    rows = ["| program | kiln JIT s | kiln interpreter s | QEMU s | JIT / QEMU | JIT / QEMU, CPU time "
            "| JIT speed-up over the interpreter | blocks translated | translation ms |",
            "|---|---|---|---|---|---|---|---|---|"]
    for name, _ in CPU_PROGS:
        t = {v: [x - base[v] for x in cpu[name][v]] for v in JIT_VMMS}
        c = {v: [x - cbase[v] for x in cput[name][v]] for v in JIT_VMMS}
        st = res["stats"].get(name, [0, 0.0, 0, 0, 0, 0])
        rows.append("| %s | %s | %s | %s | %s | %s | %s | %d | %.1f |" % (
            name, fmt_s(t["kiln"]), fmt_s(t["kiln-interp"]), fmt_s(t["qemu"]),
            fmt_ratio([a / b for a, b in zip(t["kiln"], t["qemu"]) if b > 0]),
            fmt_ratio([a / b for a, b in zip(c["kiln"], c["qemu"]) if b > 0]),
            fmt_ratio([b / a for a, b in zip(t["kiln"], t["kiln-interp"]) if a > 0]), st[0], st[1]))
    text = "\n".join(rows) + ("\n\nStart-up (`empty`, subtracted above, wall / CPU): kiln %.3f / %.3f s, "
                              "QEMU %.3f / %.3f s.\n" % (base["kiln"], cbase["kiln"], base["qemu"], cbase["qemu"]))
    idle = res.get("idle")
    if idle:
        med = {v: statistics.median([x for x in idle[v] if x]) / 1024.0 for v in JIT_VMMS if any(idle[v])}
        if len(med) == 3:
            text += ("\nIdle default guest (64 MiB, one hart, %d s at its prompt; `smaps_rollup` Rss of the VMM, "
                     "median of two boots): kiln JIT **%.1f MiB**, kiln interpreter %.1f MiB (JIT %+.1f MiB), "
                     "QEMU %.1f MiB.\n" % (IDLE_S, med["kiln"], med["kiln-interp"],
                                          med["kiln"] - med["kiln-interp"], med["qemu"]))
    for kname, b in (res["boot"] or {}).items():
        label = {"default": "the default guest", "defconfig": "a `defconfig` kernel (same initramfs)"}[kname]
        text += ("\nBoot of %s, one hart, 256 MiB: wall time from start to `kiln-init: ready` and to the "
                 "first prompt, and CPU time (user + system, all threads) of the whole session, `poweroff` "
                 "included.\n\n| %s | kiln JIT | kiln interpreter | QEMU | JIT / QEMU | interpreter / QEMU |\n"
                 "|---|---|---|---|---|---|\n" % (label, kname))
        for key, what in (("ready", "start → `kiln-init: ready`, s"), ("prompt", "start → first prompt, s"),
                          ("cpu", "CPU time of the session, s")):
            v = {m: [x[key] for x in b[m] if x[key] is not None] for m in JIT_VMMS}
            text += "| %s | %s | %s | %s | %s | %s |\n" % (
                what, fmt_s(v["kiln"]), fmt_s(v["kiln-interp"]), fmt_s(v["qemu"]),
                fmt_ratio([x / y for x, y in zip(v["kiln"], v["qemu"]) if y > 0]),
                fmt_ratio([x / y for x, y in zip(v["kiln-interp"], v["qemu"]) if y > 0]))
        st = res["stats"].get("boot-" + kname, [0, 0.0, 0, 0, 0, 0])
        text += ("\nDuring one boot of %s to `/init` the JIT translated %d blocks in %.0f ms (%d KiB of host "
                 "code in the cache at exit, %d invalidated, %d cache flushes); %d%% of the instructions ran "
                 "as translated code.\n" % (label, st[0], st[1], st[4], st[2], st[3], st[5]))
    return text


def render(template, fields):
    def sub(m):
        return fields.get(m.group(1), m.group(0))
    return re.sub(r"@@(\w+)@@", sub, template)


def main():
    ap = argparse.ArgumentParser(description="kiln vs QEMU benchmarks (see docs/benchmarks.md)")
    ap.add_argument("--quick", action="store_true", help="fewer rounds (about 5 minutes)")
    ap.add_argument("--write-docs", action="store_true", help="regenerate docs/benchmarks.md")
    ap.add_argument("--only", choices=("cpu", "boot", "exec", "disk", "net", "density", "jit"),
                    help="run one benchmark")
    ap.add_argument("--full", action="store_true", help="also density with K=20 VMs")
    ap.add_argument("--io-rounds", type=int, help="disk and network rounds per VMM (default 3, quick 1)")
    ap.add_argument("--disk-mib", type=int, default=128, help="MiB per sequential dd (default 128)")
    ap.add_argument("--randread", type=int, default=4000, help="4 KiB random reads (default 4000)")
    ap.add_argument("--net-mib", type=int, default=16, help="MiB per TCP transfer (default 16)")
    ap.add_argument("--density", help="comma-separated K values (default 1,5,10; --full 1,5,10,20; quick 1,5)")
    ap.add_argument("--idle", type=float, default=10, help="density idle window, s (default 10)")
    ap.add_argument("--cpu-reps", type=int, help="rounds of the CPU programs (default 5, quick 3)")
    ap.add_argument("--boot-runs", type=int, help="boots per VMM (default 10, quick 4)")
    ap.add_argument("--timeout", type=float, default=300, help="per-run timeout, s")
    ap.add_argument("--command", help=argparse.SUPPRESS)
    args = ap.parse_args()
    cpu_reps = args.cpu_reps or (3 if args.quick else 5)
    boot_runs = args.boot_runs or (4 if args.quick else 10)
    command = args.command or ("bench/bench.py " + " ".join(sys.argv[1:]))
    io_rounds = args.io_rounds or (1 if args.quick else 3)
    if args.density:
        ks = [int(x) for x in args.density.split(",")]
    else:
        ks = [1, 5] if args.quick else ([1, 5, 10, 20] if args.full else [1, 5, 10])

    if not os.access(KILN, os.X_OK):
        raise SystemExit("bench: %s not found; run `make` first" % KILN)
    if not os.access(TIME, os.X_OK):
        raise SystemExit("bench: %s not found; install Debian's time package" % TIME)
    if subprocess.run(["sh", "-c", "command -v " + shlex.quote(QEMU)], capture_output=True).returncode:
        raise SystemExit("bench: %s not found; install qemu-system-misc" % QEMU)

    host = host_info()
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    log("bench: host %s, %s CPUs, load %s; kiln %s; %s"
        % (host["cpu"], host["cpus"], host["load"], host["kiln"], host["qemu"]))
    t_start = time.perf_counter()
    fields = {"DATE": date, "COMMAND": command, "HOST_CPU": host["cpu"], "HOST_CPUS": str(host["cpus"]),
              "HOST_KERNEL": host["kernel"], "QEMU_VERSION": host["qemu"], "KILN_COMMIT": host["kiln"],
              "LOAD": host["load"], "CPU_REPS": str(cpu_reps), "BOOT_RUNS": str(boot_runs),
              "IO_ROUNDS": str(io_rounds), "DISK_MIB": str(args.disk_mib), "DISK_IMG_MIB": str(DISK_MIB),
              "RANDREAD": str(args.randread), "NET_MIB": str(args.net_mib),
              "DENSITY_KS": ", ".join(map(str, ks)), "IDLE": "%g" % args.idle}
    results = {"host": host, "date": date, "command": command}
    status = 0

    try:
        if args.only in (None, "cpu"):
            cpu = bench_cpu(cpu_reps, args.timeout)
            results["cpu"] = cpu
            fields["CPU_TABLE"] = cpu_table(cpu)
        else:
            fields["CPU_TABLE"] = "Not run (`--only %s`).\n" % args.only
        if args.only in (None, "boot"):
            boot, why = bench_boot(boot_runs, args.timeout)
            results["boot"] = boot
            fields["BOOT_TABLE"] = boot_table(boot) if boot else "Not measured: %s.\n" % why
            if why:
                log("bench: boot skipped: " + why)
        else:
            fields["BOOT_TABLE"] = "Not run (`--only %s`).\n" % args.only
        if args.only in (None, "jit"):
            jit = bench_jit(cpu_reps, boot_runs, args.timeout)
            results["jit"] = jit
            fields["JIT_TABLE"] = jit_table(jit)
        else:
            fields["JIT_TABLE"] = "Not run (`--only %s`).\n" % args.only
        if args.only in (None, "exec"):
            fields["EXEC_SECTION"] = bench_exec(args.quick, cpu_reps, args.timeout)
        else:
            fields["EXEC_SECTION"] = "Not run (`--only %s`).\n" % args.only
        for name, run, table in (
                ("disk", lambda: bench_disk(io_rounds, args.disk_mib, args.randread, args.timeout), disk_table),
                ("net", lambda: bench_net(io_rounds, args.net_mib, args.timeout), net_table),
                ("density", lambda: bench_density(ks, args.idle, args.timeout), density_table)):
            key = name.upper() + "_TABLE"
            if args.only in (None, name):
                r, why = run()
                results[name] = r
                fields[key] = table(r) if r else "Not measured: %s.\n" % why
                if why:
                    log("bench: %s skipped: %s" % (name, why))
            else:
                fields[key] = "Not run (`--only %s`).\n" % args.only
    except BenchError as e:
        log("\nBENCHMARK FAILED: %s" % e)
        status = 1
    fields["ELAPSED"] = "%.0f" % (time.perf_counter() - t_start)

    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(results, f, indent=1, default=str)
    if status:
        sys.exit(status)

    with open(os.path.join(BENCH, "benchmarks.md.in")) as f:
        doc = render(f.read(), fields)
    if args.write_docs:
        path = os.path.join(ROOT, "docs", "benchmarks.md")
        with open(path, "w") as f:
            f.write(doc)
        log("bench: wrote %s (%s s)" % (os.path.relpath(path, ROOT), fields["ELAPSED"]))
    else:
        print(doc)


if __name__ == "__main__":
    main()
