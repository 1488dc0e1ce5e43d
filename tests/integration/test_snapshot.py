#!/usr/bin/env python3
"""Snapshots, restore and clones of a system VM (issue 12, docs/snapshots.md).

A guest computing a long checksum in its shell is snapshotted mid-way through the
control socket; the snapshot is restored in a new kiln process, which must finish
with the same result as the computation done in Python (and as the original VM,
which keeps running). The same with 2 and 4 harts (one loop per hart), with a
virtio disk being written, with a TCP connection through hostfwd, restoring twice from one snapshot (the memory file must
stay untouched), clones (each its own MAC and its own random numbers), and broken
snapshots (corrupted, truncated, wrong version, wrong checksum, disk resized), each
refused with its message before anything runs.

Every VM here runs in the default jail (docs/jail.md): `kiln snapshot` creates the files
and hands their descriptors to the VM over the control socket; the jail's seccomp
filter, uid and empty root stay as they were (checked after a snapshot).
"""
import hashlib
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib

import kiln_guest
from kiln_guest import KILN, Guest, GuestError, Report, Restored

rep = Report()
tmp = tempfile.mkdtemp(prefix="kiln-snap-")
N_LOOP = int(os.environ.get("KILN_SNAP_LOOP", "100000"))


def expected(seed, n):
    s = seed
    for i in range(n):
        s = (s * 31 + i) % 1000003
    return s


def loop_cmd(seed, n, tag):
    # Pure shell arithmetic: the whole computation lives in guest RAM and registers.
    # HALF marks the middle, so the snapshot can be taken while it surely runs.
    return ("s=%d; i=0; while [ $i -lt %d ]; do s=$(( (s*31+i) %% 1000003 )); i=$((i+1)); "
            "[ $i = %d ] && echo HALF%s; done; echo %s=$s" % (seed, n, n // 2, tag, tag))


def blank_image(name, size):
    path = os.path.join(tmp, name)
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def snapshot(sock, d, paused=False):
    args = [KILN, "snapshot", "--control", sock, d] + (["--paused"] if paused else [])
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def jail_state(pid):
    """(every thread under a seccomp filter, uid of the main thread, the root has no /tmp)."""
    seccomp, uid = [], None
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                st = dict(l.split(":", 1) for l in f if ":" in l)
        except OSError:
            continue
        seccomp.append(st.get("Seccomp", "").strip())
        if tid == str(pid):
            uid = st.get("Uid", "").split()[0]
    return (all(x == "2" for x in seccomp) and len(seccomp) > 0, uid,
            not os.path.exists("/proc/%d/root/tmp" % pid))


def check_jail(name, pid):
    ok_sc, uid, no_tmp = jail_state(pid)
    rep.check(name + " VM still jailed after the snapshot (Seccomp 2 in every thread, uid 65534, "
              "empty root)", ok_sc and (uid == "65534" or os.getuid() != 0) and no_tmp,
              "seccomp %s uid %s root-without-tmp %s" % (ok_sc, uid, no_tmp))


def stop(g):
    try:
        g.send("poweroff -f\n")
        g.wait(30)
    except Exception:
        g.kill()


def checksum_case(name, cpus):
    sock = os.path.join(tmp, name + ".sock")
    snapdir = os.path.join(tmp, name)
    g = Guest("--cpus", str(cpus), "--control", sock)
    h = None
    try:
        g.boot()
        seeds = [7 + k for k in range(cpus)]
        # One loop per hart, in the background, then wait for all of them.
        cmd = " ".join("( %s ) &" % loop_cmd(sd, N_LOOP, "R%d" % k) for k, sd in enumerate(seeds))
        g.send(cmd + " wait; echo ALLDONE\n")
        g.expect("(?:^|\n)HALF", 600)  # mid-way: the first loop is half done
        r = snapshot(sock, snapdir)
        rep.check(name + " snapshot answered ok", r.returncode == 0, r.stderr + r.stdout)
        check_jail(name, g.vm_pid)
        g._read(time.monotonic() + 0.2)
        rep.check(name + " snapshot taken mid-way (the loops had not finished)",
                  "\nALLDONE" not in g.buf)
        out_orig = g.expect("\nALLDONE\n", 600)
        stop(g)
        h = Restored(snapdir)
        out = h.expect("\nALLDONE\n", 600)
        want = {"R%d" % k: expected(sd, N_LOOP) for k, sd in enumerate(seeds)}
        got = {}
        for line in out.split("\n"):
            for k in want:
                if line.strip().startswith(k + "="):
                    got[k] = int(line.strip().split("=")[1])
        got_orig = {}
        for line in out_orig.split("\n"):
            for k in want:
                if line.strip().startswith(k + "="):
                    got_orig[k] = int(line.strip().split("=")[1])
        rep.check(name + " restored result equals the uninterrupted computation", got == want,
                  "got %r want %r" % (got, want))
        rep.check(name + " the original VM got the same result", got_orig == want,
                  "got %r" % got_orig)
        # The restored guest is alive.
        h.expect(re.escape(kiln_guest.PROMPT), 60)
        up = h.run("echo $((1+1))", timeout=60)
        rep.check(name + " restored guest answers", up.strip().endswith("2"), up)
    except GuestError as e:
        rep.check(name, False, str(e)[-1500:])
    finally:
        stop(g)
        if h:
            stop(h)


def disk_case():
    name = "disk"
    sock = os.path.join(tmp, "disk.sock")
    snapdir = os.path.join(tmp, "disk-snap")
    img = blank_image("disk.img", 8 << 20)
    g = Guest("--control", sock, "--disk", img)
    h = None
    try:
        g.boot()
        nblk = 1500
        g.send("i=0; while [ $i -lt %d ]; do echo \"block $i\" | dd of=/dev/vda bs=512 seek=$i "
               "conv=notrunc 2>/dev/null; i=$((i+1)); done; sync; echo DISKDONE\n" % nblk)
        # Snapshot once the writes are under way on the host file (block 200 is there).
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            with open(img, "rb") as f:
                f.seek(200 * 512)
                if f.read(9) == b"block 200":
                    break
            time.sleep(0.05)
        r = snapshot(sock, snapdir)
        with open(img, "rb") as f:
            f.seek((nblk - 1) * 512)
            rep.check("disk snapshot taken mid-way through the writes", f.read(5) != b"block")
        rep.check("disk snapshot while writing answered ok", r.returncode == 0, r.stderr + r.stdout)
        g.kill()  # no clean shutdown: the restored VM must finish the job on its own
        h = Restored(snapdir)
        h.expect("(?:^|\n)DISKDONE\n", 600)
        h.expect(re.escape(kiln_guest.PROMPT), 60)  # typed before the prompt, the echo would match
        mid = h.run("dd if=/dev/vda bs=512 skip=%d count=1 2>/dev/null | head -c 9" % (nblk // 2), 60)
        rep.check("disk restored guest reads back its own writes", "block %d" % (nblk // 2) in mid,
                  repr(h.tail(12)))
        stop(h)
        h = None
        bad = []
        with open(img, "rb") as f:
            for i in range(nblk):
                f.seek(i * 512)
                want = ("block %d\n" % i).encode()
                if f.read(len(want)) != want:
                    bad.append(i)
        rep.check("disk every block written once on the host file", not bad, "bad blocks %r" % bad[:10])
    except GuestError as e:
        rep.check(name, False, str(e)[-1500:])
    finally:
        g.kill()
        if h:
            stop(h)


def restore_twice_case():
    """Two restores from one snapshot: the first must not have written the memory file."""
    sock = os.path.join(tmp, "twice.sock")
    snapdir = os.path.join(tmp, "twice")
    g = Guest("--control", sock)
    try:
        g.boot()
        g.run("echo before > /tmp/marker")
        r = snapshot(sock, snapdir)
        rep.check("twice snapshot answered ok", r.returncode == 0, r.stderr + r.stdout)
    except GuestError as e:
        rep.check("twice boot", False, str(e)[-1500:])
        return
    finally:
        stop(g)
    mem = os.path.join(snapdir, "memory.raw")
    before = hashlib.sha256(open(mem, "rb").read()).hexdigest()
    outs = []
    for k in range(2):
        h = Restored(snapdir)
        try:
            h.send("\n")
            h.expect(re.escape(kiln_guest.PROMPT), 60)
            out = h.run("cat /tmp/marker; echo run%d > /tmp/marker; cat /tmp/marker" % k, 60)
            outs.append(out)
        except GuestError as e:
            outs.append("error: " + str(e)[-500:])
        finally:
            stop(h)
    after = hashlib.sha256(open(mem, "rb").read()).hexdigest()
    rep.check("twice first restore sees the snapshot's file", "before" in outs[0] and "run0" in outs[0], outs[0])
    rep.check("twice second restore sees the snapshot's file, not the first restore's writes",
              len(outs) > 1 and "before" in outs[1] and "run0" not in outs[1], repr(outs[1:]))
    rep.check("twice memory file unchanged by the restored VMs (MAP_PRIVATE)", before == after)
    # Sparse: far fewer blocks than the guest's 256 MiB.
    st = os.stat(mem)
    rep.check("memory file is sparse (%d MiB allocated of %d MiB)" % (st.st_blocks * 512 >> 20, st.st_size >> 20),
              st.st_blocks * 512 < st.st_size // 2)


def reseed_tool():
    """tests/user/snap_reseed.c, cross-built; None without a riscv64 compiler."""
    out = os.path.join(os.path.dirname(__file__), "../../build/user-tests")
    script = os.path.join(os.path.dirname(__file__), "../user/build.sh")
    if subprocess.run([script, out], capture_output=True).returncode != 0:
        return None
    path = os.path.join(out, "snap_reseed")
    return path if os.path.exists(path) else None


def clones_case(n):
    sock = os.path.join(tmp, "clone.sock")
    snapdir = os.path.join(tmp, "clone-base")
    tool = reseed_tool()
    # A writable disk (vda): every clone writes its own overlay (temporary ones, under
    # TMPDIR, unlinked at once), the image and the other clones never see it.
    rw = blank_image("clones-rw.img", 4 << 20)
    args = ["--control", sock, "--net", "user", "--disk", rw]
    if tool:
        # The guest agent a clone runs after resume, handed to the parent on a raw disk.
        img = os.path.join(tmp, "reseed.img")
        shutil.copyfile(tool, img)
        size = os.path.getsize(img)
        with open(img, "ab") as f:
            f.truncate((size + 511) // 512 * 512)
        args += ["--disk", img + ",ro"]
    g = Guest(*args)
    try:
        g.boot()
        if tool:
            g.run("head -c %d /dev/vdb > /tmp/reseed; chmod +x /tmp/reseed" % size)
        orig_mac = g.run("cat /sys/class/net/eth0/address").strip().split("\n")[-1]
        r = snapshot(sock, snapdir, paused=True)
        rep.check("clones base snapshot (paused) answered ok", r.returncode == 0, r.stderr + r.stdout)
    except GuestError as e:
        rep.check("clones base boot", False, str(e)[-1500:])
        return
    finally:
        g.kill()
    clones = []
    overlay_dir = os.path.join(tmp, "clone-overlays")
    os.makedirs(overlay_dir, exist_ok=True)
    try:
        os.environ["TMPDIR"] = overlay_dir
        try:
            for k in range(n):
                clones.append(Restored(snapdir, "--clone"))
        finally:
            del os.environ["TMPDIR"]
        macs, nums = [], []
        # What a clone does after resume (docs/snapshots.md): re-probe its NIC, reseed.
        script = ("d=$(basename $(readlink /sys/class/net/eth0/device)); "
                  "echo $d > /sys/bus/virtio/drivers/virtio_net/unbind; "
                  "echo $d > /sys/bus/virtio/drivers/virtio_net/bind; "
                  + ("/tmp/reseed; " if tool else "head -c 256 /dev/hwrng > /dev/urandom; ") +
                  "echo MAC=$(cat /sys/class/net/eth0/address); "
                  "echo RND=$(head -c 8 /dev/urandom | od -An -tx8 | tr -d ' ')")
        disk_ok = []
        for k, c in enumerate(clones):
            out = c.run("printf 'clone-%d\\n' | dd of=/dev/vda bs=512 seek=1 conv=fsync 2>/dev/null; "
                        "sync; echo 3 > /proc/sys/vm/drop_caches; "
                        "echo DISK=$(dd if=/dev/vda bs=512 skip=1 count=1 2>/dev/null | head -n1)" % k, 60)
            disk_ok.append(("DISK=clone-%d" % k) in out.replace("\r", ""))
        for c in clones:
            c.send("\n")
            c.expect(re.escape(kiln_guest.PROMPT), 60)
            out = c.run(script, 120)
            mac = [l.split("=", 1)[1] for l in out.split("\n") if l.startswith("MAC=")]
            rnd = [l.split("=", 1)[1] for l in out.split("\n") if l.startswith("RND=")]
            if tool and "reseeded" not in out:
                rep.check("clones the reseed tool ran", False, out[-300:])
            macs.append(mac[0] if mac else None)
            nums.append(rnd[0] if rnd else None)
        rep.check("clones %d clones answered on their consoles" % n,
                  all(macs) and all(nums), repr(list(zip(macs, nums))))
        rep.check("clones each has its own MAC", len(set(macs)) == n and orig_mac not in macs,
                  "%r (original %s)" % (macs, orig_mac))
        rep.check("clones each reads a different number from /dev/urandom", len(set(nums)) == n, repr(nums))
        rep.check("clones each writes and reads back its own data on the same disk", all(disk_ok), repr(disk_ok))
        with open(rw, "rb") as f:
            rep.check("clones the image itself is untouched (writes went to overlays)",
                      f.read(4096) == bytes(4096), "")
        rep.check("clones the temporary overlays are already unlinked", os.listdir(overlay_dir) == [],
                  repr(os.listdir(overlay_dir)))
        rss = []
        for c in clones:
            try:
                with open("/proc/%d/smaps_rollup" % c.vm_pid) as f:
                    for line in f:
                        if line.startswith("Pss:"):
                            rss.append(int(line.split()[1]))
            except OSError:
                pass
        if rss:
            print("# clones: mean PSS %.1f MiB per clone" % (sum(rss) / len(rss) / 1024))
    except GuestError as e:
        rep.check("clones", False, str(e)[-1500:])
    finally:
        for c in clones:
            stop(c)


def control_case():
    """kiln restore --paused runs nothing until resume; pause/resume/snapshot/quit on the socket."""
    import socket
    snapdir = os.path.join(tmp, "twice")
    sock = os.path.join(tmp, "paused.sock")

    def ctl(req):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(sock)
        s.sendall(req.encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            d = s.recv(4096)
            if not d:
                break
            buf += d
        s.close()
        return buf.decode()

    h = Restored(snapdir, "--paused", "--control", sock)
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(sock) and time.monotonic() < deadline:
            time.sleep(0.05)
        h.send("echo awake-$((40+2))\n")
        h._read(time.monotonic() + 1.5)
        rep.check("paused restore runs nothing before resume", "awake-42" not in h.buf, h.buf[-200:])
        rep.check("resume answers ok", '"ok":true' in ctl('{"cmd":"resume"}'))
        h.expect("awake-42", 60)
        h.expect(re.escape(kiln_guest.PROMPT), 60)
        rep.check("pause and resume again", '"ok":true' in ctl('{"cmd":"pause"}') and
                  '"ok":true' in ctl('{"cmd":"resume"}'))
        again = os.path.join(tmp, "again")
        r = snapshot(sock, again)
        rep.check("a restored VM can be snapshotted again", r.returncode == 0 and
                  os.path.exists(os.path.join(again, "state.kiln")) and
                  not any(n.endswith(".tmp") for n in os.listdir(again)), r.stderr + r.stdout)
        check_jail("restored", h.vm_pid)
        r = ctl('{"cmd":"snapshot","dir":"%s"}' % again)
        rep.check("the dir form is refused by a jailed VM, with a pointer to the fds form",
                  '"error"' in r and "fds" in r, r)
        r = snapshot(sock, os.path.join(tmp, "no/such/dir"))
        rep.check("snapshot into a missing directory is an error, the VM runs on",
                  r.returncode != 0 and "No such file" in r.stderr and
                  "still" in h.run("echo still", 60), r.stderr)
        r = ctl('{"cmd":"snapshot","fds":true}')
        rep.check("fds:true without descriptors is an error", '"error"' in r and "SCM_RIGHTS" in r, r)
        rep.check("quit ends the restored VM", '"ok":true' in ctl('{"cmd":"quit"}') and h.wait(30) == 0)
    except GuestError as e:
        rep.check("paused restore", False, str(e)[-1500:])
    finally:
        h.kill()


def state_file_cases():
    """Broken snapshots are refused with a message, before any guest output."""
    good = os.path.join(tmp, "twice")
    state = open(os.path.join(good, "state.kiln"), "rb").read()

    def variant(name, data, mem_size=None):
        d = os.path.join(tmp, "bad-" + name)
        os.makedirs(d, exist_ok=True)
        open(os.path.join(d, "state.kiln"), "wb").write(data)
        m = os.path.join(d, "memory.raw")
        if os.path.exists(m):
            os.unlink(m)
        os.link(os.path.join(good, "memory.raw"), m) if mem_size is None else None
        if mem_size is not None:
            with open(m, "wb") as f:
                f.truncate(mem_size)
        return d

    def refused(name, d, pattern):
        r = subprocess.run([KILN, "restore", d], capture_output=True, text=True,
                           timeout=60, stdin=subprocess.DEVNULL)
        print("# %s: %s" % (name, r.stderr.strip()[:300]))
        rep.check("refuse " + name, r.returncode != 0 and pattern in r.stderr and r.stdout == "",
                  r.stderr + r.stdout[:200])

    def reheader(buf):
        # Recompute the header CRC (bytes 0..27) so only what we meant to break is broken.
        return buf[:28] + struct.pack("<I", zlib.crc32(buf[:28]) & 0xffffffff) + buf[32:]

    corrupt = bytearray(state)
    corrupt[len(corrupt) // 2] ^= 0x5a
    refused("corrupted", variant("corrupt", bytes(corrupt)), "checksum mismatch")
    refused("truncated", variant("trunc", state[: len(state) - 100]), "truncated")
    refused("truncated header", variant("trunc-hdr", state[:20]), "truncated")
    # A version from the future: one past the version this kiln writes.
    future = struct.unpack("<I", state[8:12])[0] + 1
    v2 = bytearray(state)
    v2[8:12] = struct.pack("<I", future)
    refused("wrong version", variant("version", reheader(bytes(v2))),
            "unsupported snapshot format version %d" % future)
    badcrc = bytearray(state)
    badcrc[24:28] = struct.pack("<I", (struct.unpack("<I", state[24:28])[0] ^ 1))
    refused("wrong checksum", variant("crc", reheader(bytes(badcrc))), "checksum mismatch")
    refused("memory file truncated", variant("memsize", state, mem_size=1 << 20), "truncated or wrong file")
    refused("not a snapshot", variant("magic", b"hello world, this is not a snapshot file at all"), "bad magic")
    # A payload that checks out but describes a machine this kiln cannot build.
    payload = bytearray(state[32:])
    # The first record is "machine": ram_size is its second u64 (after the 24-byte record header).
    payload[24 + 8:24 + 16] = struct.pack("<Q", 12345)
    hdr = bytearray(state[:32])
    hdr[24:28] = struct.pack("<I", zlib.crc32(bytes(payload)) & 0xffffffff)
    refused("bad machine record", variant("machine", reheader(bytes(hdr)) + bytes(payload)), "machine record")


def nojail_case():
    """Without the jail the VM still takes the dir form and writes and renames the files itself."""
    import socket
    sock = os.path.join(tmp, "nojail.sock")
    snapdir = os.path.join(tmp, "nojail")
    g = Guest("--no-jail", "--control", sock)
    h = None
    try:
        g.boot()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(60)
        s.connect(sock)
        s.sendall(('{"cmd":"snapshot","dir":"%s"}\n' % snapdir).encode())
        ans = s.recv(4096).decode()
        s.close()
        rep.check("unjailed VM: the dir form writes the snapshot itself", '"ok":true' in ans and
                  sorted(os.listdir(snapdir)) == ["memory.raw", "state.kiln"], ans)
        stop(g)
        h = Restored(snapdir, "--no-jail")
        up = h.run("echo $((2+3))", timeout=60)
        rep.check("unjailed snapshot restores", up.strip().endswith("5"), up)
    except GuestError as e:
        rep.check("nojail", False, str(e)[-1500:])
    finally:
        stop(g)
        if h:
            stop(h)


def net_case():
    """TCP through hostfwd (docs/snapshots.md, "Networks"): a connection open while the VM is
    snapshotted and runs on survives; in the restored VM (a new slirp) it is gone, and the
    forward is bound again so a new connection reaches the guest."""
    import socket
    port = free_port()
    sock = os.path.join(tmp, "net.sock")
    snapdir = os.path.join(tmp, "net-snap")
    g = Guest("--control", sock, "--net", "user,hostfwd=tcp:127.0.0.1:%d-:5001" % port)
    h = None
    try:
        g.boot()
        g.run("i=0; while [ $i -lt 60 ] && ! ip -4 addr show eth0 | grep -q inet; do sleep 0.5; "
              "i=$((i+1)); done", timeout=60)
        # In a subshell: no job-control "Done" line can land between a marker and its prompt.
        g.send("(nc -l -p 5001 > /tmp/recv &)\n")
        time.sleep(1)
        c = socket.create_connection(("127.0.0.1", port), timeout=30)
        c.sendall(b"before-snapshot\n")
        time.sleep(1)
        r = snapshot(sock, snapdir)
        rep.check("net snapshot with an open TCP connection answered ok", r.returncode == 0, r.stderr + r.stdout)
        c.sendall(b"after-snapshot\n")
        time.sleep(1)
        c.close()
        out = g.run("sleep 1; cat /tmp/recv", timeout=60)
        rep.check("net TCP connection through hostfwd survives a snapshot of the running VM",
                  "before-snapshot" in out and "after-snapshot" in out, out)
        stop(g)
        # The restored VM binds the same host port: wait until the original let it go.
        wait_port_free(port, 30)
        h = Restored(snapdir)
        h.send("\n")
        h.expect(re.escape(kiln_guest.PROMPT), 120)
        h.send("(nc -l -p 5001 > /tmp/recv2 &)\n")
        time.sleep(1)
        got = b""
        try:
            c = socket.create_connection(("127.0.0.1", port), timeout=30)
            c.sendall(b"to-the-restored-vm\n")
            time.sleep(1)
            c.close()
        except OSError as e:
            got = repr(e).encode()
        out = h.run("sleep 1; cat /tmp/recv2", timeout=60)
        rep.check("net the restored VM binds the forward again: a new connection reaches it",
                  "to-the-restored-vm" in out, out + got.decode())
    except (GuestError, OSError) as e:
        rep.check("net", False, "%s: %s" % (type(e).__name__, str(e)[-1500:]))
    finally:
        stop(g)
        if h:
            stop(h)


def wait_port_free(port, timeout):
    import socket
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            time.sleep(0.2)
        finally:
            s.close()
    return False


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def disk_resized_case():
    img = blank_image("resize.img", 4 << 20)
    sock = os.path.join(tmp, "resize.sock")
    snapdir = os.path.join(tmp, "resize")
    g = Guest("--control", sock, "--disk", img)
    try:
        g.boot()
        r = snapshot(sock, snapdir)
        rep.check("resize snapshot answered ok", r.returncode == 0, r.stderr + r.stdout)
    except GuestError as e:
        rep.check("resize boot", False, str(e)[-1500:])
        return
    finally:
        stop(g)
    with open(img, "ab") as f:
        f.truncate(8 << 20)
    r = subprocess.run([KILN, "restore", snapdir], capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    rep.check("refuse disk changed size", r.returncode != 0 and "changed size" in r.stderr, r.stderr)


def busy_disk_case():
    """A clone of a snapshot whose VM still writes its disk is refused with what to do; the
    same snapshot taken with --disks clones while that VM runs on."""
    sock = os.path.join(tmp, "busy.sock")
    img = blank_image("busy.img", 4 << 20)
    g = Guest("--control", sock, "--disk", img)
    h = None
    try:
        g.boot()
        g.run("printf 'busy-before\\n' | dd of=/dev/vda bs=512 conv=fsync 2>/dev/null")
        plain, copied = os.path.join(tmp, "busy-snap"), os.path.join(tmp, "busy-snap-disks")
        r = snapshot(sock, plain)
        rep.check("busy snapshot answered ok", r.returncode == 0, r.stderr + r.stdout)
        r = subprocess.run([KILN, "clone", plain], capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        rep.check("busy clone of a snapshot whose VM still writes the disk is refused, saying what to do",
                  r.returncode != 0 and "in use" in r.stderr and "--disks" in r.stderr, r.stderr[-500:])
        r = subprocess.run([KILN, "snapshot", "--control", sock, copied, "--disks"], capture_output=True,
                           text=True, timeout=120)
        rep.check("busy snapshot --disks answered ok, the copy is there",
                  r.returncode == 0 and os.path.exists(os.path.join(copied, "disk0.img")), r.stderr + r.stdout)
        g.run("printf 'busy-after\\n' | dd of=/dev/vda bs=512 conv=fsync 2>/dev/null")
        h = Restored(copied, "--clone")
        h.send("\n")
        h.expect(re.escape(kiln_guest.PROMPT), 60)
        out = h.run("sync; echo 3 > /proc/sys/vm/drop_caches; echo R$((1+100))=$(dd if=/dev/vda bs=512 "
                    "count=1 2>/dev/null | head -n1)/", 60)
        rep.check("busy the clone runs beside its VM and reads the disk as of the snapshot",
                  "R101=busy-before/" in out, out[-300:])
        rep.check("busy the VM runs on and its disk has its own last write",
                  "busy-after" in g.run("dd if=/dev/vda bs=512 count=1 2>/dev/null | head -n1"), "")
    except GuestError as e:
        rep.check("busy", False, str(e)[-1500:])
    finally:
        if h:
            stop(h)
        stop(g)


def main():
    guest = os.path.join(kiln_guest.os.path.expanduser("~/.cache/kiln/guest"), "Image")
    if not os.path.exists(guest) and not os.environ.get("KILN_CACHE"):
        print("ok # SKIP the default guest is not built")
        return
    only = sys.argv[1:]
    cases = [("checksum1", lambda: checksum_case("checksum 1 hart", 1)),
             ("checksum2", lambda: checksum_case("checksum 2 harts", 2)),
             ("checksum4", lambda: checksum_case("checksum 4 harts", 4)),
             ("disk", disk_case),
             ("twice", restore_twice_case),
             ("state", state_file_cases),
             ("control", control_case),
             ("resize", disk_resized_case),
             ("nojail", nojail_case),
             ("net", net_case),
             ("busy", busy_disk_case),
             ("clones", lambda: clones_case(int(os.environ.get("KILN_SNAP_CLONES", "20"))))]
    for key, fn in cases:
        if only and key not in only:
            continue
        if key in ("state", "control") and not os.path.exists(os.path.join(tmp, "twice", "state.kiln")):
            restore_twice_case()
        fn()


try:
    main()
finally:
    shutil.rmtree(tmp, ignore_errors=True)
rep.exit()
