#!/usr/bin/env python3
"""Snapshot restore and clone density (issue 12; docs/snapshots.md, docs/benchmarks.md).

  bench/snapshot.py [--rounds N] [--clones N] [--mem 256M] [--qemu]

1. Boots the default guest (--mem, default 256M), waits for its shell, writes a
   snapshot through the control socket (time reported by the VM: how long it was stopped).
2. Restores it --rounds times: time to the first instruction (kiln restore --timing)
   and wall time from fork to a console answer (`echo` through the serial console).
3. Starts --clones clones at once, has each answer on its console, then reports each
   clone's RSS and PSS (/proc/PID/smaps_rollup: shared pages split between sharers).
4. --qemu: the same restore with QEMU (savevm to a qcow2 disk + -loadvm), if installed.

Not part of `make test`. Prints markdown.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../tests/integration"))
from kiln_guest import KILN, Guest  # noqa: E402


def rss_pss(pid):
    rss = pss = 0
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    return rss / 1024, pss / 1024


def spawn_restore(snap, *extra):
    return subprocess.Popen([KILN, "restore", snap, "--no-jail", *extra], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)


def wait_for(p, pattern, timeout):
    buf = b""
    deadline = time.monotonic() + timeout
    os.set_blocking(p.stdout.fileno(), False)
    while time.monotonic() < deadline:
        try:
            d = os.read(p.stdout.fileno(), 65536)
        except BlockingIOError:
            time.sleep(0.01)
            continue
        if not d:
            return False
        buf += d
        if pattern in buf:
            return True
    return False


def answer(p, timeout=60):
    """Types a command on the console, returns when its output came back."""
    p.stdin.write(b"echo ans$((6*7))\n")
    p.stdin.flush()
    buf = b""
    deadline = time.monotonic() + timeout
    os.set_blocking(p.stdout.fileno(), False)
    while time.monotonic() < deadline:
        try:
            d = os.read(p.stdout.fileno(), 65536)
        except BlockingIOError:
            time.sleep(0.0005)
            continue
        if not d:
            break
        buf += d
        if b"ans42" in buf:
            return True
    return False


def stop(p):
    if p.poll() is None:
        p.kill()
    p.wait()


def summary(xs):
    return "%.1f / %.1f / %.1f" % (min(xs), statistics.median(xs), max(xs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--clones", type=int, default=20)
    ap.add_argument("--mem", default="256M")
    ap.add_argument("--qemu", action="store_true")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="kiln-bench-snap-")
    try:
        sock = os.path.join(tmp, "c.sock")
        snap = os.path.join(tmp, "snap")
        g = Guest("--no-jail", "--mem", a.mem, "--control", sock)
        g.boot()
        g.run("echo warm")
        r = subprocess.run([KILN, "snapshot", "--control", sock, snap, "--paused"],
                           capture_output=True, text=True)
        g.kill()
        m = re.search(r'"ms":(\d+)', r.stdout)
        st = os.stat(os.path.join(snap, "memory.raw"))
        print("## Snapshots (issue 12)\n")
        print("Measured by `bench/snapshot.py --rounds %d --clones %d` on %s (UTC); guest RAM %s.\n"
              % (a.rounds, a.clones, time.strftime("%Y-%m-%d"), a.mem))
        print("- snapshot of the booted guest: VM stopped %s ms (harts stopped, devices quiesced, "
              "memory and state written and fsynced); memory file %d MiB apparent, %.1f MiB on disk"
              % (m.group(1) if m else "?", st.st_size >> 20, st.st_blocks * 512 / 2**20))

        first, console = [], []
        for _ in range(a.rounds):
            t0 = time.monotonic()
            p = spawn_restore(snap, "--timing")
            ok = answer(p)
            t1 = time.monotonic()
            stop(p)
            err = p.stderr.read().decode()
            mm = re.search(r"restored in ([0-9.]+) ms", err)
            if mm:
                first.append(float(mm.group(1)))
            if ok:
                console.append((t1 - t0) * 1000)
        print("\n| restore, %d rounds (min / median / max) | ms |\n|---|---|" % a.rounds)
        if first:
            print("| kiln: `kiln restore` start to first guest instruction | %s |" % summary(first))
        if console:
            print("| kiln: fork to a console answer (`echo` typed, output read back) | %s |"
                  % summary(console))

        if a.qemu and shutil.which("qemu-system-riscv64"):
            qemu_restore(tmp, a)

        procs = []
        t0 = time.monotonic()
        for _ in range(a.clones):
            procs.append(spawn_restore(snap, "--clone"))
        answered = sum(1 for p in procs if answer(p, 120))
        t_all = time.monotonic() - t0
        time.sleep(1)
        vals = [rss_pss(p.pid) for p in procs if p.poll() is None]
        for p in procs:
            stop(p)
        if vals:
            rss = [v[0] for v in vals]
            pss = [v[1] for v in vals]
            print("\n%d clones of the snapshot started at once; %d answered on their consoles "
                  "within %.1f s of the first fork.\n" % (a.clones, answered, t_all))
            print("| per clone (min / median / max) | MiB |\n|---|---|")
            print("| RSS (counts shared pages fully) | %s |" % summary(rss))
            print("| PSS (shared pages split between the clones) | %s |" % summary(pss))
            print("| sum of PSS over all clones | %.1f |" % sum(pss))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def qemu_restore(tmp, a):
    """QEMU: savevm into a qcow2 disk once, then -loadvm to a console answer."""
    cache = os.path.expanduser("~/.cache/kiln/guest")
    disk = os.path.join(tmp, "q.qcow2")
    subprocess.run(["qemu-img", "create", "-f", "qcow2", disk, "16M"], capture_output=True)
    base = ["qemu-system-riscv64", "-M", "virt", "-m", a.mem, "-nographic", "-bios",
            os.path.join(cache, "fw_dynamic.bin"), "-kernel", os.path.join(cache, "Image"),
            "-initrd", os.path.join(cache, "initramfs.cpio.gz"), "-append", "console=ttyS0",
            "-drive", "file=%s,if=none,id=d0,format=qcow2" % disk,
            "-device", "virtio-blk-device,drive=d0", "-monitor", "none"]
    mon = os.path.join(tmp, "qmon.sock")
    p = subprocess.Popen(base + ["-qmp", "unix:%s,server=on,wait=off" % mon],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         bufsize=0)
    if not wait_for(p, b"~ # ", 600) or not answer(p, 60):
        stop(p)
        print("| QEMU: did not boot | - |")
        return
    import json
    import socket
    s = socket.socket(socket.AF_UNIX)
    s.connect(mon)
    f = s.makefile("rw")
    f.readline()
    # savevm answers on the QMP socket once the snapshot is in the qcow2 file.
    for cmd in ({"execute": "qmp_capabilities"},
                {"execute": "human-monitor-command", "arguments": {"command-line": "savevm s1"}}):
        f.write(json.dumps(cmd) + "\n")
        f.flush()
        while '"return"' not in f.readline():  # events (STOP, RESUME) come first
            pass
    stop(p)
    times = []
    for _ in range(a.rounds):
        t0 = time.monotonic()
        q = subprocess.Popen(base + ["-loadvm", "s1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, bufsize=0)
        ok = answer(q, 120)
        t1 = time.monotonic()
        stop(q)
        if ok:
            times.append((t1 - t0) * 1000)
    if times:
        print("| QEMU TCG `-loadvm`: fork to a console answer | %s |" % summary(times))


if __name__ == "__main__":
    main()
