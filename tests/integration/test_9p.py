#!/usr/bin/env python3
"""virtio-9p (--share, docs/9p.md) with a real guest: Linux's v9fs mounts a host
directory; the guest reads, writes, renames, lists and stats files and the host sees
the changes; '..' and symlinks never reach outside the share; a read-only share
refuses every write; bad --share arguments are usage errors."""
import hashlib
import os
import shutil
import subprocess
import tempfile

from kiln_guest import KILN, Guest, GuestError, Report

rep = Report()
tmp = tempfile.mkdtemp(prefix="kiln-9p-")
share = os.path.join(tmp, "share")
roshare = os.path.join(tmp, "ro")
outside = os.path.join(tmp, "outside")
for d in (share, roshare, outside, os.path.join(share, "sub")):
    os.makedirs(d)
SECRET = "HOST-SECRET-%d" % os.getpid()
with open(os.path.join(outside, "secret"), "w") as f:
    f.write(SECRET)
with open(os.path.join(share, "hello.txt"), "w") as f:
    f.write("hello from the host\n")
with open(os.path.join(share, "sub", "inner"), "w") as f:
    f.write("inner\n")
with open(os.path.join(roshare, "keep.txt"), "w") as f:
    f.write("read only\n")
host_blob = os.urandom(1 << 20)
with open(os.path.join(share, "blob.bin"), "wb") as f:
    f.write(host_blob)
# Run as root, kiln's jail serves the share as uid 65534 (docs/jail.md): give it the share.
if os.geteuid() == 0:
    for dirpath, dirnames, filenames in os.walk(share):
        for n in [dirpath] + [os.path.join(dirpath, x) for x in filenames]:
            os.chown(n, 65534, 65534)
# Host symlinks pointing out of the share: absolute and relative.
os.symlink(outside, os.path.join(share, "abs"))
os.symlink("../outside", os.path.join(share, "rel"))
os.symlink(os.path.join(outside, "secret"), os.path.join(share, "absfile"))


def host(*p):
    return os.path.join(share, *p)


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


# 1. Bad --share arguments are usage errors; a missing directory is a clear error.
for bad in ("/tmp", "/tmp:", "/tmp:bad tag", "/tmp:" + "x" * 40):
    p = subprocess.run([KILN, "run", "--share", bad, "--dump-dtb", os.path.join(tmp, "x.dtb")],
                       capture_output=True, text=True)
    rep.check("9p_share_bad_spec %r" % bad[:12], p.returncode == 2 and "--share" in p.stderr,
              "rc %d: %s" % (p.returncode, p.stderr.strip()))
p = subprocess.run([KILN, "run", "--share", os.path.join(tmp, "nope") + ":t"],
                   capture_output=True, text=True, timeout=60)
rep.check("9p_share_missing_dir", p.returncode != 0 and "No such file" in p.stderr,
          "rc %d: %s" % (p.returncode, p.stderr.strip()))

# Run as root, a read-write share the jailed VM's uid cannot write draws a warning.
if os.geteuid() == 0:
    p = subprocess.run([KILN, "run", "--share", roshare + ":t", "--dump-dtb", os.path.join(tmp, "x.dtb")],
                       capture_output=True, text=True, timeout=60)
    rep.check("9p_jail_uid_warning", p.returncode == 0 and "cannot write" in p.stderr and "--user" in p.stderr,
              p.stderr.strip())

g = Guest("--mem", "256M", "--share", share + ":hostshare", "--share", roshare + ":roshare:ro")
try:
    g.boot(timeout=300)
    g.run("mkdir -p /mnt/s /mnt/r")
    out = g.run("mount -t 9p -o trans=virtio,version=9p2000.L hostshare /mnt/s && "
                "mount -t 9p -o trans=virtio,version=9p2000.L roshare /mnt/r && echo MOUNTED")
    rep.check("9p_mount", "MOUNTED" in out, out)

    # 2. Reads: a small file and a 1 MiB one written by the host.
    rep.check("9p_read", g.run("cat /mnt/s/hello.txt") == "hello from the host", g.run("cat /mnt/s/hello.txt"))
    out = g.run("md5sum /mnt/s/blob.bin", timeout=120)
    rep.check("9p_read_1MiB", hashlib.md5(host_blob).hexdigest() in out, out)

    # 3. Writes reach the host: small, and 1 MiB from the guest.
    g.run("echo guest wrote this > /mnt/s/new.txt")
    rep.check("9p_write_host_sees", read(host("new.txt")) == "guest wrote this\n", repr(read(host("new.txt"))))
    out = g.run("dd if=/dev/urandom of=/mnt/s/gblob bs=65536 count=16 2>/dev/null; sync; md5sum /mnt/s/gblob",
                timeout=120)
    try:
        with open(host("gblob"), "rb") as f:
            hb = f.read()
    except OSError:
        hb = b""
    rep.check("9p_write_1MiB", len(hb) == 1 << 20 and hashlib.md5(hb).hexdigest() in out,
              "%d bytes; guest %s" % (len(hb), out))
    g.run("echo appended >> /mnt/s/new.txt")
    rep.check("9p_append", read(host("new.txt")) == "guest wrote this\nappended\n", repr(read(host("new.txt"))))

    # 4. Rename, list, stat.
    g.run("mv /mnt/s/new.txt /mnt/s/sub/moved.txt")
    rep.check("9p_rename", not os.path.exists(host("new.txt")) and
              read(host("sub", "moved.txt")) == "guest wrote this\nappended\n")
    out = g.run("ls /mnt/s/sub | cat")
    rep.check("9p_list", out.split() == ["inner", "moved.txt"], out)
    many = os.path.join(share, "many")
    os.makedirs(many)
    for i in range(300):
        open(os.path.join(many, "f%03d" % i), "w").close()
    out = g.run("ls /mnt/s/many | wc -l")
    rep.check("9p_list_300", out.strip() == "300", out)
    os.chmod(host("sub", "moved.txt"), 0o640)
    st = os.stat(host("sub", "moved.txt"))
    out = g.run("stat -c '%s %a %i' /mnt/s/sub/moved.txt")
    # Linux's v9fs_qid2ino() numbers the inode qid.path + 2 (fs/9p/vfs_inode.c).
    rep.check("9p_stat", out == "%d 640 %d" % (st.st_size, st.st_ino + 2), "guest %r host %d %d" % (out, st.st_size, st.st_ino))
    g.run("chmod 600 /mnt/s/sub/moved.txt; touch -d '2001-02-03 04:05:06' /mnt/s/sub/moved.txt")
    st = os.stat(host("sub", "moved.txt"))
    rep.check("9p_setattr", st.st_mode & 0o777 == 0o600 and int(st.st_mtime) == 981173106,
              "mode %o mtime %d" % (st.st_mode, st.st_mtime))
    out = g.run("df /mnt/s | tail -1")
    rep.check("9p_statfs", "hostshare" in out, out)

    # 5. Directories, symlinks, hard links, unlink, truncate.
    out = g.run("mkdir /mnt/s/d && ln -s sub/inner /mnt/s/d/l && readlink /mnt/s/d/l && "
                "ln /mnt/s/sub/inner /mnt/s/hard && cat /mnt/s/hard && rm /mnt/s/hard && "
                "truncate -s 3 /mnt/s/sub/inner && cat /mnt/s/sub/inner; echo; rmdir /mnt/s/many 2>&1 | head -1")
    rep.check("9p_namespace_ops", os.path.isdir(host("d")) and os.readlink(host("d", "l")) == "sub/inner"
              and not os.path.exists(host("hard")) and read(host("sub", "inner")) == "inn"
              and "not empty" in out, out)

    # 5b. Locks: a host process's lock conflicts with the guest's; released, the guest gets it.
    import fcntl
    lockf = open(host("lockme"), "w+")
    fcntl.lockf(lockf, fcntl.LOCK_EX)
    busy = g.run("flock -n -s /mnt/s/lockme -c 'echo GOT' || echo BUSY")
    fcntl.lockf(lockf, fcntl.LOCK_UN)
    lockf.close()
    free = g.run("flock -n -s /mnt/s/lockme -c 'echo GOT' || echo BUSY; flock -x /mnt/s/lockme -c 'echo XGOT'")
    rep.check("9p_lock", busy.endswith("BUSY") and "GOT" in free and "XGOT" in free, "%r / %r" % (busy, free))

    # 6. Escapes: '..' is the guest's own parent; symlinks resolve in the guest, never on the host.
    out = g.run("ls /mnt/s/.. | cat; cat /mnt/s/abs/secret /mnt/s/rel/secret /mnt/s/absfile 2>&1; "
                "ls /mnt/s/abs/ /mnt/s/rel/ 2>&1")
    rep.check("9p_escape_refused", SECRET not in out and "secret" not in out.replace("/secret", ""), out)
    out = g.run("echo pwned > /mnt/s/absfile 2>&1; echo pwned > /mnt/s/abs/new 2>&1; ls /mnt/s/rel/../ | cat")
    rep.check("9p_escape_write_refused", read(os.path.join(outside, "secret")) == SECRET and
              sorted(os.listdir(outside)) == ["secret"], out)

    # 7. The read-only share refuses every write; reading works.
    rep.check("9p_ro_read", g.run("cat /mnt/r/keep.txt") == "read only")
    out = g.run("echo x > /mnt/r/keep.txt; echo x > /mnt/r/new; mkdir /mnt/r/d; rm /mnt/r/keep.txt; "
                "touch /mnt/r/keep.txt; mv /mnt/r/keep.txt /mnt/r/k2; chmod 777 /mnt/r/keep.txt; "
                "ln -s x /mnt/r/l")
    rep.check("9p_readonly", os.listdir(roshare) == ["keep.txt"] and read(os.path.join(roshare, "keep.txt")) == "read only\n"
              and out.count("Read-only file system") >= 6, out)

    g.run("umount /mnt/s /mnt/r")
    g.send("poweroff\n")
    rc = g.wait(60)
    rep.check("9p_poweroff", rc == 0, "exit %s %s" % (rc, getattr(g, "stderr", "")))
except GuestError as e:
    rep.check("9p guest", False, str(e)[-2000:])
finally:
    g.kill()
    shutil.rmtree(tmp, ignore_errors=True)
rep.exit()
