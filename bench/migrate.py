#!/usr/bin/env python3
"""Live migration over loopback TCP: kiln beside QEMU (issue 12; docs/migration.md).

  bench/migrate.py [--mem 256M] [--downtime 100] [--no-qemu]

For an idle guest (at its shell prompt) and a busy one (rewriting a 64 MiB file in its
RAM-backed /tmp in a loop), each migrated once from a source VM to a destination VM waiting
for it on 127.0.0.1:
  - kiln: `kiln run --no-jail --control S` and `kiln run --no-jail --incoming --control D`;
    the two ends of one TCP connection are handed to them with {"cmd":"migrate"} and
    {"cmd":"incoming"} (what the daemons do after their handshake, docs/migration.md).
  - QEMU (TCG): the same kernel and initramfs, `-incoming tcp:127.0.0.1:PORT` and QMP
    `migrate`, with downtime-limit = --downtime and max-bandwidth unlimited.
Total time, downtime (as each reports it), data sent, dirty rounds (kiln) and whether the
destination answers on its console afterwards. Not part of `make test`. Prints markdown.
"""
import argparse
import array
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../tests/integration"))
from kiln_guest import KILN, Guest  # noqa: E402

CACHE = os.path.expanduser(os.environ.get("KILN_CACHE", "~/.cache/kiln"))
# 32 MiB of non-zero data, copied over and over (zero pages would not need sending).
BUSY = ("yes abcdefghijklmnop | head -c 33554432 > /tmp/src; (while true; do cat /tmp/src > /tmp/dirty; "
        "done) &")


def tcp_pair():
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    a = socket.create_connection(ls.getsockname())
    b, _ = ls.accept()
    ls.close()
    return a, b


def ctl(path, req, fd, out, key):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendmsg([req.encode() + b"\n"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))])
    buf = b""
    while not buf.endswith(b"\n"):
        c = s.recv(4096)
        if not c:
            break
        buf += c
    try:
        out[key] = json.loads(buf)
    except ValueError:
        out[key] = {"error": buf.decode(errors="replace")}


def answers(g, timeout=120):
    """The destination's shell answers (input typed while it still loads may be lost: retry)."""
    for _ in range(3):
        try:
            g.send("echo mig-$((6*7))\n")
            g.expect(r"mig-42", timeout / 3)
            return True
        except Exception:
            pass
    return False


def kiln_case(tmp, a, busy):
    s_sock, d_sock = os.path.join(tmp, "s.sock"), os.path.join(tmp, "d.sock")
    for p in (s_sock, d_sock):
        if os.path.exists(p):
            os.unlink(p)
    src = Guest("--no-jail", "--mem", a.mem, "--control", s_sock, timeout=600)
    dst = None
    try:
        src.boot()
        if busy:
            src.send(BUSY + "\n")
            time.sleep(8)  # the 32 MiB source file written, the copy loop running
        time.sleep(3)
        dst = Guest("--no-jail", "--mem", a.mem, "--incoming", "--control", d_sock, timeout=600)
        for _ in range(100):
            if os.path.exists(d_sock):
                break
            time.sleep(0.1)
        time.sleep(0.5)
        x, y = tcp_pair()
        res = {}
        th = threading.Thread(target=ctl, args=(d_sock, '{"cmd":"incoming","fds":true}', y.fileno(), res, "d"))
        th.start()
        t0 = time.monotonic()
        ctl(s_sock, '{"cmd":"migrate","fds":true,"downtime_ms":%d}' % a.downtime, x.fileno(), res, "s")
        wall = (time.monotonic() - t0) * 1000
        th.join()
        s = res.get("s", {})
        ok = s.get("ok") and res.get("d", {}).get("ok") and answers(dst)
        return {"total": s.get("total_ms"), "down": s.get("downtime_ms"), "mib": (s.get("bytes") or 0) / 1048576,
                "rounds": s.get("rounds"), "ok": bool(ok), "wall": wall,
                "err": None if s.get("ok") else s.get("error")}
    finally:
        src.kill()
        if dst:
            dst.kill()


def qmp(path):
    s = socket.socket(socket.AF_UNIX)
    for _ in range(100):
        try:
            s.connect(path)
            break
        except OSError:
            time.sleep(0.1)
    f = s.makefile("rw")
    f.readline()
    return s, f


def qmp_cmd(f, cmd, **args):
    f.write(json.dumps({"execute": cmd, "arguments": args} if args else {"execute": cmd}) + "\n")
    f.flush()
    while True:
        line = json.loads(f.readline())
        if "return" in line or "error" in line:
            return line


class Qemu(Guest):
    def __init__(self, tmp, a, name, *extra):
        self.qmp_path = os.path.join(tmp, name + ".qmp")
        self.cmd = ["qemu-system-riscv64", "-M", "virt", "-m", a.mem, "-nographic", "-bios",
                    os.path.join(CACHE, "guest", "fw_dynamic.bin"), "-kernel", os.path.join(CACHE, "guest", "Image"),
                    "-initrd", os.path.join(CACHE, "guest", "initramfs.cpio.gz"), "-append", "console=ttyS0",
                    "-monitor", "none", "-qmp", "unix:%s,server=on,wait=off" % self.qmp_path, *extra]
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, bufsize=0)
        self.buf = self.log = ""
        self.timeout = 900
        self.t0 = time.monotonic()


def qemu_case(tmp, a, busy):
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    pnum = port.getsockname()[1]
    port.close()
    src = Qemu(tmp, a, "qs")
    dst = None
    try:
        src.boot()
        if busy:
            src.send(BUSY + "\n")
            time.sleep(8)  # the 32 MiB source file written, the copy loop running
        time.sleep(3)
        dst = Qemu(tmp, a, "qd", "-incoming", "tcp:127.0.0.1:%d" % pnum)
        time.sleep(1)
        s, f = qmp(src.qmp_path)
        qmp_cmd(f, "qmp_capabilities")
        qmp_cmd(f, "migrate-set-parameters", **{"downtime-limit": a.downtime, "max-bandwidth": 1 << 40})
        t0 = time.monotonic()
        qmp_cmd(f, "migrate", uri="tcp:127.0.0.1:%d" % pnum)
        info = {}
        while time.monotonic() - t0 < 600:
            info = qmp_cmd(f, "query-migrate").get("return", {})
            if info.get("status") in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.05)
        wall = (time.monotonic() - t0) * 1000
        s.close()
        ram = info.get("ram", {})
        ok = info.get("status") == "completed" and answers(dst)
        return {"total": info.get("total-time"), "down": info.get("downtime"),
                "mib": ram.get("transferred", 0) / 1048576, "rounds": ram.get("dirty-sync-count"),
                "ok": bool(ok), "wall": wall, "err": info.get("error-desc")}
    finally:
        src.kill()
        if dst:
            dst.kill()


def row(name, r):
    if r is None:
        return "| %s | - | - | - | - | not run |" % name
    return "| %s | %s | %s | %.1f | %s | %s |" % (name, r["total"], r["down"], r["mib"], r["rounds"],
                                                  "yes" if r["ok"] else "NO (%s)" % r.get("err"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mem", default="256M")
    ap.add_argument("--downtime", type=int, default=100)
    ap.add_argument("--no-qemu", action="store_true")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="kiln-bmig-")
    try:
        res = {}
        for busy in (False, True):
            label = "busy" if busy else "idle"
            res["kiln " + label] = kiln_case(tmp, a, busy)
            if not a.no_qemu and shutil.which("qemu-system-riscv64"):
                res["QEMU TCG " + label] = qemu_case(tmp, a, busy)
        print("Live migration of a %s guest over loopback TCP (downtime target %d ms)\n" % (a.mem, a.downtime))
        print("| VM | total ms | downtime ms | MiB sent | rounds (QEMU: dirty syncs) | destination answers |")
        print("|---|---|---|---|---|---|")
        for k in sorted(res, key=lambda k: ("busy" in k, "QEMU" in k)):
            print(row(k, res[k]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
