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
import re
import select
import shlex
import signal
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
        proc.wait()
        t = time.perf_counter() - t0
        timer.cancel()
        out.seek(0)
        err.seek(0)
        return (t, proc.returncode, out.read().decode("utf-8", "replace"),
                err.read().decode("utf-8", "replace"), read_rss(rss.name))


def vmm_cpu_cmd(vmm, elf):
    if vmm == "kiln":
        return [KILN, "run", "--firmware", elf, "--mem", "128M"]
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
                t, rc, out, err, rss = run_timed(vmm_cpu_cmd(vmm, elf), timeout)
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
    if vmm == "kiln":
        return [KILN, "run", "--mem", "256M", "--cpus", "1", "--firmware", g["firmware"],
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

    def hwm_kb(self):
        """VmHWM of the VMM itself (the child of GNU time)."""
        try:
            with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
                kids = f.read().split()
        except OSError:
            return None
        return vm_hwm_kb(int(kids[0])) if kids else None

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
            if self.proc.poll() is not None:
                t = self.elapsed()
                self.maxrss = read_rss(self.rss.name)
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
            "hwm": hwm, "maxrss": c.maxrss}


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


def bench_exec(quick, timeout):
    script = os.path.join(BENCH, "exec.sh")
    if not os.access(script, os.X_OK):
        return "Not measured yet (`bench/exec.sh` does not exist).\n"
    env = dict(os.environ, KILN=KILN)
    if quick:
        env.setdefault("RUNS", "5")
    log("exec: bench/exec.sh")
    try:
        p = subprocess.run([script], cwd=ROOT, env=env, stdout=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "Not measured: `bench/exec.sh` did not finish within %.0f s.\n" % timeout
    if p.returncode != 0:
        log("bench: bench/exec.sh failed with exit status %d" % p.returncode)
        return "Not measured: `bench/exec.sh` failed (exit status %d).\n" % p.returncode
    return "Produced by `bench/exec.sh`%s (its own method: medians, runs not interleaved):\n\n%s\n" % (
        " with `RUNS=%s`" % env["RUNS"] if "RUNS" in env else "", p.stdout.decode("utf-8", "replace").strip())


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


def render(template, fields):
    def sub(m):
        return fields.get(m.group(1), m.group(0))
    return re.sub(r"@@(\w+)@@", sub, template)


def main():
    ap = argparse.ArgumentParser(description="kiln vs QEMU benchmarks (see docs/benchmarks.md)")
    ap.add_argument("--quick", action="store_true", help="fewer rounds (about 2 minutes)")
    ap.add_argument("--write-docs", action="store_true", help="regenerate docs/benchmarks.md")
    ap.add_argument("--only", choices=("cpu", "boot", "exec"), help="run one benchmark")
    ap.add_argument("--cpu-reps", type=int, help="rounds of the CPU programs (default 5, quick 3)")
    ap.add_argument("--boot-runs", type=int, help="boots per VMM (default 10, quick 4)")
    ap.add_argument("--timeout", type=float, default=300, help="per-run timeout, s")
    ap.add_argument("--command", help=argparse.SUPPRESS)
    args = ap.parse_args()
    cpu_reps = args.cpu_reps or (3 if args.quick else 5)
    boot_runs = args.boot_runs or (4 if args.quick else 10)
    command = args.command or ("bench/bench.py " + " ".join(sys.argv[1:]))

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
              "LOAD": host["load"], "CPU_REPS": str(cpu_reps), "BOOT_RUNS": str(boot_runs)}
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
        if args.only in (None, "exec"):
            fields["EXEC_SECTION"] = bench_exec(args.quick, args.timeout)
        else:
            fields["EXEC_SECTION"] = "Not run (`--only %s`).\n" % args.only
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
