#!/usr/bin/env python3
"""Snapshots of a VM with virtio-9p shares (docs/snapshots.md, docs/9p.md).

A guest mounts a read-write and a read-only share, opens a shared file on fd 3 of
its shell (a 9P fid held open) and reads its first line; a background loop keeps
appending to another shared file. The VM is snapshotted mid-way and stopped. The
restored VM (and a clone) read the next line from the same fd 3 (the fid was
reopened beneath the share), write new files that appear on the host, and still
cannot write the read-only share. A restore after the shared file was deleted on
the host fails with a message naming it. Run as root, every VM here is jailed.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import kiln_guest
from kiln_guest import KILN, Guest, GuestError, Report, Restored

rep = Report()
tmp = tempfile.mkdtemp(prefix="kiln-snap9p-")
share = os.path.join(tmp, "share")
roshare = os.path.join(tmp, "ro")
os.makedirs(share)
os.makedirs(roshare)
LINES = ["line%d-%d" % (i, os.getpid()) for i in range(1, 6)]
with open(os.path.join(share, "f"), "w") as f:
    f.write("\n".join(LINES) + "\n")
with open(os.path.join(roshare, "keep.txt"), "w") as f:
    f.write("read only\n")
# Run as root, the jailed VM serves the share as uid 65534 (docs/jail.md): give it the share.
if os.geteuid() == 0:
    for d, _, files in os.walk(share):
        for n in [d] + [os.path.join(d, x) for x in files]:
            os.chown(n, 65534, 65534)

MOUNT = ("mkdir -p /mnt/s /mnt/r && mount -t 9p -o trans=virtio,version=9p2000.L hs /mnt/s && "
         "mount -t 9p -o trans=virtio,version=9p2000.L ro /mnt/r && echo MOUNTED")


def stop(g):
    try:
        g.send("poweroff -f\n")
        g.wait(30)
    except Exception:
        g.kill()


def after_restore(name, h, want_line):
    """The restored guest: fd 3 still reads, new files reach the host, ro stays ro."""
    h.send("\n")
    h.expect(re.escape(kiln_guest.PROMPT), 120)
    out = h.run("read -r b <&3; echo GOT2=$b", 60)
    rep.check(name + " the fid held open across the snapshot reads the next line",
              "GOT2=" + want_line in out, out)
    marker = "%s-%d" % (name.replace(" ", "_"), os.getpid())
    h.run("echo %s > /mnt/s/new-%s.txt && sync" % (marker, name.replace(" ", "_")), 60)
    path = os.path.join(share, "new-%s.txt" % name.replace(" ", "_"))
    got = open(path).read().strip() if os.path.exists(path) else None
    rep.check(name + " a file written after the restore appears on the host", got == marker, repr(got))
    out = h.run("echo x > /mnt/r/keep.txt 2>&1; echo RC=$?; cat /mnt/r/keep.txt", 60)
    rep.check(name + " the read-only share stays read-only",
              "RC=0" not in out and "read only" in out and
              open(os.path.join(roshare, "keep.txt")).read() == "read only\n", out)
    out = h.run("ls /mnt/s | grep -c . ; cat /mnt/s/f | head -1", 60)
    rep.check(name + " new walks and opens work", LINES[0] in out, out)


def main():
    guest = os.path.join(os.path.expanduser("~/.cache/kiln/guest"), "Image")
    if not os.path.exists(guest) and not os.environ.get("KILN_CACHE"):
        print("ok # SKIP the default guest is not built")
        return
    sock = os.path.join(tmp, "vm.sock")
    snapdir = os.path.join(tmp, "snap")
    g = Guest("--control", sock, "--share", share + ":hs", "--share", roshare + ":ro:ro")
    try:
        g.boot(timeout=300)
        out = g.run(MOUNT, 60)
        rep.check("snap9p mount", "MOUNTED" in out, out)
        out = g.run("exec 3</mnt/s/f; read -r a <&3; echo GOT1=$a", 60)
        rep.check("snap9p first line read before the snapshot", "GOT1=" + LINES[0] in out, out)
        # A background writer: its file is open (a writable fid) when the snapshot is taken.
        g.run("( exec 4>>/mnt/s/log; i=0; while :; do echo tick$i >&4; i=$((i+1)); sleep 0.2; done ) & true", 60)
        time.sleep(1.5)
        r = subprocess.run([KILN, "snapshot", "--control", sock, snapdir], capture_output=True,
                           text=True, timeout=120)
        rep.check("snap9p snapshot of a VM with shares answered ok", r.returncode == 0,
                  r.stderr + r.stdout)
        # The original keeps running; its share still works.
        out = g.run("echo alive > /mnt/s/orig.txt; cat /mnt/s/orig.txt", 60)
        rep.check("snap9p original VM's share works after the snapshot", "alive" in out, out)
    except GuestError as e:
        rep.check("snap9p original VM", False, str(e)[-1500:])
        return
    finally:
        stop(g)
    if not os.path.exists(os.path.join(snapdir, "state.kiln")):
        return
    log_before = os.path.getsize(os.path.join(share, "log"))
    for name, args in (("restore", [snapdir]), ("clone", [snapdir, "--clone"])):
        h = Restored(*args)
        try:
            after_restore("snap9p " + name, h, LINES[1])
            time.sleep(1.0)
        except GuestError as e:
            rep.check("snap9p " + name, False, str(e)[-1500:])
        finally:
            stop(h)
    # The background writer's fid (O_APPEND) kept writing after each restore.
    rep.check("snap9p the background writer's open file grew after the restores",
              os.path.getsize(os.path.join(share, "log")) > log_before)
    # The share directory itself is gone: refused, naming it.
    os.rename(share, share + ".moved")
    r = subprocess.run([KILN, "restore", snapdir], capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL)
    os.rename(share + ".moved", share)
    rep.check("snap9p restore refused when the share directory is gone",
              r.returncode != 0 and share in r.stderr and "No such file" in r.stderr, r.stderr)
    # The file behind fd 3 is gone: the restore must refuse, naming it.
    os.unlink(os.path.join(share, "f"))
    r = subprocess.run([KILN, "restore", snapdir], capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL)
    print("# " + r.stderr.strip().replace("\n", "\n# "))
    rep.check("snap9p restore refused when a shared open file was deleted",
              r.returncode != 0 and "'f'" in r.stderr and "No such file" in r.stderr, r.stderr)


try:
    main()
finally:
    shutil.rmtree(tmp, ignore_errors=True)
rep.exit()
