#!/usr/bin/env python3
"""A file tree into the guest over virtio-9p against virtio-blk (issue 13), kiln beside
QEMU on the same default guest: the tree is shared read-only (`--share` / QEMU's
`-fsdev local` + `virtio-9p-device`) and copied with `cp -a` to the guest's tmpfs; the
same tree as a tar archive on a read-only raw disk is unpacked with `tar -x` from
/dev/vda (page cache dropped first). Host wall time of each guest command; rounds
alternate kiln and QEMU. Not part of `make test`.

usage: bench/share.py [--rounds N] [--files N] [--file-kib N] [--big-mib N]
"""
import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import KILN, PROMPT, QEMU, BenchError, Guest, guest_files, log  # noqa: E402


def make_tree(root, files, kib, big_mib):
    rnd = random.Random(13)
    tree = os.path.join(root, "tree")
    for i in range(files):
        d = os.path.join(tree, "d%02d" % (i % 16))
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "f%04d" % i), "wb") as f:
            f.write(rnd.randbytes(kib * 1024))
    with open(os.path.join(tree, "big"), "wb") as f:
        for _ in range(big_mib):
            f.write(rnd.randbytes(1 << 20))
    total = sum(os.path.getsize(os.path.join(dp, n)) for dp, _, ns in os.walk(tree) for n in ns)
    tar = os.path.join(root, "tree.tar")
    with tarfile.open(tar, "w", format=tarfile.USTAR_FORMAT) as t:
        t.add(tree, arcname="tree")
    size = os.path.getsize(tar)
    with open(tar, "ab") as f:
        f.truncate((size + 511) // 512 * 512)
    return total, tar


def vm_cmd(vmm, g, share_dir, tar):
    if vmm == "kiln":
        return [KILN, "run", "--mem", "512M", "--cpus", "1", "--firmware", g["firmware"], "--kernel", g["kernel"],
                "--initrd", g["initrd"], "--append", "console=ttyS0", "--share", share_dir + ":host:ro",
                "--disk", tar + ",ro"]
    return [QEMU, "-M", "virt", "-m", "512M", "-smp", "1", "-nographic", "-bios", g["firmware"],
            "-kernel", g["kernel"], "-initrd", g["initrd"], "-append", "console=ttyS0",
            "-fsdev", "local,id=f0,path=%s,security_model=none,readonly=on" % share_dir,
            "-device", "virtio-9p-device,fsdev=f0,mount_tag=host",
            "-drive", "file=%s,format=raw,if=none,id=d0,readonly=on" % tar, "-device", "virtio-blk-device,drive=d0"]


def one_round(vmm, g, share_dir, tar, total, timeout):
    c = Guest(vm_cmd(vmm, g, share_dir, tar))
    try:
        c.expect(PROMPT, timeout)
        c.run("mkdir -p /mnt/host && mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 host /mnt/host",
              timeout)
        res = {}
        for key, cmd in (("9p", "cp -a /mnt/host/tree /tmp/t9"),
                         ("blk", "mkdir /tmp/tb && tar -x -f /dev/vda -C /tmp/tb")):
            c.run("sync; echo 3 > /proc/sys/vm/drop_caches", timeout)
            _, t, _ = c.run(cmd, timeout)
            res[key] = total / t / 1e6
        out, _, _ = c.run("du -s /tmp/t9/ /tmp/tb/tree/ | cut -f1", timeout)
        sizes = [l for l in out.split() if l.isdigit()]
        if len(sizes) != 2 or sizes[0] != sizes[1]:
            raise BenchError("%s: copies differ in size: %r" % (vmm, out))
        c.poweroff(timeout)
    finally:
        c.kill()
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--files", type=int, default=400)
    ap.add_argument("--file-kib", type=int, default=32)
    ap.add_argument("--big-mib", type=int, default=16)
    ap.add_argument("--timeout", type=float, default=300)
    a = ap.parse_args()
    g, missing = guest_files()
    if missing:
        raise SystemExit("bench/share.py: default guest not built (missing %s)" % ", ".join(missing))
    tmp = tempfile.mkdtemp(prefix="kiln-share-bench-")
    os.chmod(tmp, 0o755)  # the jailed kiln serves the share as uid 65534 (docs/jail.md)
    try:
        total, tar = make_tree(tmp, a.files, a.file_kib, a.big_mib)
        log("tree: %d files of %d KiB + %d MiB, %.1f MB" % (a.files, a.file_kib, a.big_mib, total / 1e6))
        res = {"kiln": [], "qemu": []}
        for r in range(a.rounds):
            for vmm in ("kiln", "qemu") if r % 2 == 0 else ("qemu", "kiln"):
                res[vmm].append(one_round(vmm, g, tmp, tar, total, a.timeout))
                log("round %d %s: 9p %.1f MB/s, blk %.1f MB/s" % (r + 1, vmm, res[vmm][-1]["9p"], res[vmm][-1]["blk"]))
        print("| copy of a %.1f MB tree (%d files + one %d MiB file) | kiln MB/s | QEMU MB/s | kiln/QEMU |"
              % (total / 1e6, a.files, a.big_mib))
        print("|---|---|---|---|")
        for key, what in (("9p", "virtio-9p, `cp -a` from the share"), ("blk", "virtio-blk, `tar -x` from /dev/vda")):
            k = [x[key] for x in res["kiln"]]
            q = [x[key] for x in res["qemu"]]
            print("| %s | %.1f (%.1f-%.1f) | %.1f (%.1f-%.1f) | %.2f |" % (
                what, statistics.median(k), min(k), max(k), statistics.median(q), min(q), max(q),
                statistics.median(k) / statistics.median(q)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
