#!/usr/bin/env python3
"""Live migration between two kiln daemons over loopback (issue 12, docs/migration.md).

Two daemons with their own state dirs; the destination listens with --migrate-listen and a
token file. A daemon VM (the default guest, jailed) runs a workload that writes blocks to its
virtio disk (fsync'ed each time) and checks a sha256 of a growing file in a loop, printing
progress; it is migrated mid-way with `kiln migrate`. On the destination the workload must
finish with the results Python computes for the same data (a run that never moved), the disk
image on the host must hold every block, the console must answer, and the source daemon must
have logged the downtime. The same with 2 harts, with --copy-disks (the disk copied into
the destination's state dir, the VM renamed with --name), and with a qcow2 overlay over a raw
base, on shared storage and copied, while a second job allocates clusters (qemu-img check
clean, every cluster and the base's data read back); a 2-hart VM with two disk-writing jobs
moved back and forth eight times (both daemons listen). Every migration's RAM is checked
page by page (KILN_MIGRATE_VERIFY=1). Failures: no listener there, a wrong token
(refused, the source runs on), the destination's VM process killed mid-migration (the source
runs on and answers), and hostile streams sent by this script to the listener (refused, the
destination daemon stays up and keeps no VM).
"""
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib

import kiln_daemon
from kiln_daemon import Daemon, check, failed

KILN = os.path.abspath(os.environ.get("KILN", os.path.join(os.path.dirname(__file__), "../../build/kiln")))
CACHE = os.environ.get("KILN_CACHE", os.path.expanduser("~/.cache/kiln"))
TMP = tempfile.mkdtemp(prefix="kiln-mig-")
SRC = os.path.join(TMP, "src")
DST = os.path.join(TMP, "dst")
TOKEN = os.path.join(TMP, "token")
N_BLOCKS = int(os.environ.get("KILN_MIG_BLOCKS", "300"))
daemons = []


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def env(state):
    # Every migration's RAM is checked page by page (docs/migration.md "Dirty-page tracking").
    return dict(os.environ, KILN_STATE_DIR=state, KILN_MIGRATE_VERIFY="1")


_daemons_by_state = {}


def daemon_of(state):
    """The test fixture (kiln_daemon.py) for the daemon whose KILN_STATE_DIR is state."""
    if state not in _daemons_by_state:
        _daemons_by_state[state] = Daemon(None, tmp=TMP, state=state, http_timeout=300)
    return _daemons_by_state[state]


def kiln(state, *args, timeout=300):
    return daemon_of(state).kiln(*args, timeout=timeout)


def start_daemon(state, *extra):
    os.makedirs(state, exist_ok=True)
    log = open(os.path.join(TMP, os.path.basename(state) + "-daemon.log"), "w")
    p = subprocess.Popen([KILN, "daemon", *extra], env=env(state), stdout=log, stderr=log,
                         stdin=subprocess.DEVNULL)
    daemons.append(p)
    sock = os.path.join(state, "kiln.sock")
    for _ in range(100):
        if os.path.exists(sock):
            break
        time.sleep(0.1)
    return p


def daemon_log(state):
    with open(os.path.join(TMP, os.path.basename(state) + "-daemon.log")) as f:
        return f.read()


def http(state, method, path, body=None, timeout=300):
    return daemon_of(state).http(method, path, body, timeout=timeout)


def console_log(state, name):
    return daemon_of(state).console_log(name)


def vm(state, name):
    st, v = http(state, "GET", "/v1/vms/" + name)
    return v if st == 200 else None


def vm_state(state, name):
    v = vm(state, name)
    return v.get("state") if v else None


def wait_for(pred, timeout, step=0.5):
    return kiln_daemon.wait_for(pred, timeout, step)


def console_cmd(state, name, cmd, marker, timeout=60):
    try:
        return daemon_of(state).console_cmd(name, cmd, marker, timeout)
    except OSError as e:
        return None, "console of %s: %s" % (name, e)


# ---- the workload and what it must produce ----

def block(i):
    return ("block %06d %d\n" % (i, i * 7919 % 100003)).encode()


def expected(n):
    disk = bytearray(64 * n)
    acc = b""
    for i in range(n):
        b = block(i)
        disk[64 * i:64 * i + len(b)] = b
        acc += b
    return hashlib.sha256(bytes(disk)).hexdigest(), hashlib.sha256(acc).hexdigest(), bytes(disk)


def workload(n, tag, files="", seek=0, progress=True):
    # One 64-byte slot of /dev/vda per block from seek on, fsync'ed (virtio-blk writes during the
    # migration), and a sha256 of the growing file each round (CPU and page-cache writes). files
    # names this job's /tmp files, so several can run at once; progress prints P<tag> every 25.
    acc, b = "/tmp/acc" + files, "/tmp/b" + files
    return ("i=0; : > %s; while [ $i -lt %d ]; do printf 'block %%06d %%d\\n' $i "
            "$((i*7919 %% 100003)) > %s; dd if=%s of=/dev/vda bs=64 seek=$((i+%d)) conv=fsync "
            "2>/dev/null; cat %s >> %s; s=$(sha256sum %s | cut -c1-8); %s"
            "i=$((i+1)); done; sync; "
            "echo D%s=$(dd if=/dev/vda bs=64 skip=%d count=%d 2>/dev/null | sha256sum | cut -c1-64); "
            "echo F%s=$(sha256sum %s | cut -c1-64)"
            % (acc, n, b, b, seek, b, acc, acc,
               "[ $((i %% 25)) = 0 ] && echo P%s $i $s; " % tag if progress else "",
               tag, seek, n, tag, acc))


def boot(state, name, *extra):
    rc, out, err = kiln(state, "create", name, "--mem", "256M", *extra)
    rc2, out2, err2 = kiln(state, "start", name)
    ok = rc == 0 and rc2 == 0 and wait_for(lambda: "kiln-init: ready" in console_log(state, name), 300, 1)
    return check("%s boots under the source daemon" % name, ok, err + err2 + console_log(state, name)[-500:])


# The qcow2 case's second job: a new cluster allocated every round (L2 and refcount updates while
# the image changes hands), each holding its number; base.img's marker must read through.
QCOW2_JOB = ("(j=16; while [ $j -lt %d ]; do echo q$j | dd of=/dev/vda bs=65536 seek=$j conv=fsync "
             "2>/dev/null; j=$((j+1)); sleep 0.05; done; echo QDONE) & ")
QCOW2_CLUSTERS = 160
BASE_MARKER = b"base-marker-below-the-overlay\n"


def qcow2_overlay(name):
    """A raw base with a marker at 12 MiB (past the job's clusters) and a qcow2 overlay over it (relative backing name)."""
    base = os.path.join(TMP, name + "-base.img")
    with open(base, "wb") as f:
        f.truncate(16 << 20)
        f.seek(12 << 20)
        f.write(BASE_MARKER)
    disk = os.path.join(TMP, name + ".qcow2")
    subprocess.run([KILN, "img", "create", "-f", "qcow2", "-b", os.path.basename(base), "-F", "raw", disk],
                   check=True, capture_output=True)
    return disk


def check_qcow2_image(name, path, n):
    """The overlay: consistent for qemu-img, every cluster the second job wrote, the base below."""
    chk = subprocess.run(["qemu-img", "check", path], capture_output=True, text=True)
    check("%s: qemu-img check finds the qcow2 overlay clean" % name, chk.returncode == 0,
          chk.stdout + chk.stderr)
    raw = path + ".raw"
    subprocess.run(["qemu-img", "convert", "-O", "raw", path, raw], check=True, capture_output=True)
    with open(raw, "rb") as f:
        data = f.read()
    os.unlink(raw)
    bad = [j for j in range(16, QCOW2_CLUSTERS) if data[j << 16:(j << 16) + 8].split(b"\n")[0] != b"q%d" % j]
    check("%s: every cluster allocated before, during and after the move holds its number" % name,
          not bad, "wrong clusters: %s" % bad[:20])
    check("%s: the backing file's data reads through the overlay" % name,
          data[12 << 20:(12 << 20) + len(BASE_MARKER)] == BASE_MARKER, data[12 << 20:(12 << 20) + 40])
    return data[:64 * n]


def migrate_case(port, name, cpus, n, copy=False, new=None, qcow2=False):
    """Migrates NAME mid-workload; with copy, --copy-disks and --name NEW (the disk then lives
    in the destination's state dir, and the source's image keeps only what was written before);
    with qcow2, the disk is a qcow2 overlay on shared storage and a second job allocates clusters."""
    disk = os.path.join(TMP, name + ".img")
    if qcow2:
        disk = qcow2_overlay(name)
    else:
        with open(disk, "wb") as f:
            f.truncate(16 << 20)
    if not boot(SRC, name, "--cpus", str(cpus), "--disk", disk):
        return
    tag = name.upper()
    dname = new or name
    job = QCOW2_JOB % QCOW2_CLUSTERS if qcow2 else ""
    m, buf = console_cmd(SRC, name, job + workload(n, tag), r"P%s 50 " % tag, 600)
    check("%s: the workload runs (%d harts)" % (name, cpus), m, buf[-300:])
    t0 = time.time()
    extra = ["--copy-disks", "--name", new] if copy else []
    rc, out, err = kiln(SRC, "migrate", name, "--to", "127.0.0.1:%d" % port, "--token-file", TOKEN,
                        "--json", *extra, timeout=600)
    took = time.time() - t0
    try:
        ans = json.loads(out)
    except ValueError:
        ans = {}
    what = "kiln migrate --copy-disks --name --json" if copy else "kiln migrate --json"
    if not check("%s: %s succeeds" % (name, what), rc == 0 and ans.get("state") == "migrated" and
                 "downtime_ms" in ans, out + err + daemon_log(DST)[-600:]):
        kiln(SRC, "kill", name)
        return
    print("# %s (%d harts%s): migrated in %.2f s: total %s ms, downtime %s ms, %s rounds, %s bytes" %
          (name, cpus, ", disks copied" if copy else "", took, ans.get("total_ms"), ans.get("downtime_ms"),
           ans.get("rounds"), ans.get("bytes")), flush=True)
    check("%s: the source daemon logs the downtime" % name,
          re.search(r"VM '%s' migrated to .*downtime_ms" % name, daemon_log(SRC)), daemon_log(SRC)[-800:])
    check("%s: the source daemon no longer has the VM" % name, vm(SRC, name) is None, vm(SRC, name))
    check("%s: it runs on the destination%s" % (name, " as " + dname if new else ""),
          vm_state(DST, dname) == "running", vm(DST, dname))
    check("%s: it was mid-way when it moved" % name,
          not re.search(r"D%s=[0-9a-f]{64}" % tag, console_log(DST, dname)), console_log(DST, dname)[-300:])
    got = wait_for(lambda: re.search(r"F%s=([0-9a-f]{64})" % tag, console_log(DST, dname)), 900, 1)
    log = console_log(DST, dname)
    want_disk, want_file, want_bytes = expected(n)
    d = re.search(r"D%s=([0-9a-f]{64})" % tag, log)
    check("%s: the workload finishes on the destination with the right checksums" % name,
          got and d and got.group(1) == want_file and d.group(1) == want_disk,
          "got %s/%s want %s/%s; %s" % (d and d.group(1), got and got.group(1), want_disk, want_file,
                                        log[-400:]))
    target = disk
    if copy:
        args = (vm(DST, dname) or {}).get("args") or []
        target = next((a.split(",")[0] for a in args if a.startswith(os.path.join(DST, "disks") + "/")), None)
        check("%s: the copy is in the destination's state dir, the definition points at it" % name,
              target and os.path.exists(target), args)
    if copy and not qcow2:
        with open(disk, "rb") as f:
            src_bytes = f.read(64 * n)
        check("%s: the source's image kept only the blocks written before the copy" % name,
              src_bytes != want_bytes and want_bytes.startswith(src_bytes.rstrip(b"\0")[:64 * 50]),
              src_bytes[:200])
    if qcow2:
        check("%s: the cluster-allocating job finished" % name,
              wait_for(lambda: "QDONE" in console_log(DST, dname), 300, 1), console_log(DST, dname)[-300:])
        kiln(DST, "kill", dname)
        host = check_qcow2_image(name, target, n) if target else b""
        check("%s: the disk image on the host holds every block" % name, host == want_bytes,
              "first difference at %s" % next((i for i in range(len(host)) if host[i] != want_bytes[i]), None))
        return
    if target:
        with open(target, "rb") as f:
            host = f.read(64 * n)
        check("%s: the disk image on the host holds every block" % name, host == want_bytes,
              "first difference at %s" % next((i for i in range(len(host)) if host[i] != want_bytes[i]), None))
    m, buf = console_cmd(DST, dname, "echo alive-$((40+2))", r"alive-42", 60)
    check("%s: the migrated VM answers on its console" % name, m, buf[-300:])
    kiln(DST, "kill", dname)


def pingpong_case(ports, n, moves, name="pp", keep_on_failure=False):
    """A 2-hart VM with two jobs writing the disk at once is moved back and forth between the
    daemons while they run: every move carries virtio-blk requests queued or completing at the
    pause (a restored device once lost the interrupt of a request it completed while loading,
    and the guest's I/O hung)."""
    disk = os.path.join(TMP, name + ".img")
    with open(disk, "wb") as f:
        f.truncate(16 << 20)
    if not boot(SRC, name, "--cpus", "2", "--disk", disk):
        return
    # Results go to a file, not the console: a console's history stays with the daemon it was
    # written on, and the jobs may end just before a move.
    jobs = ["(%s)" % workload(n, t, files=t, seek=seek, progress=False) for t, seek in (("X", 0), ("Y", 4096))]
    console_cmd(SRC, name, "(" + jobs[0] + " & " + jobs[1] + " & wait) > /tmp/res; "
                ": > /tmp/alldone", r"\n", 5)
    where, other, moved, failed_move = SRC, DST, 0, None
    while moved < moves:
        time.sleep(0.5)
        rc, out, err = kiln(where, "migrate", name, "--to", "127.0.0.1:%d" % ports[other], "--token-file",
                            TOKEN, "--downtime", "5", timeout=120)
        if rc != 0:
            failed_move = out + err
            break
        moved += 1
        where, other = other, where
    check("pp: %d moves back and forth while two jobs write the disk" % moves,
          moved == moves and failed_move is None, failed_move or "finished after %d moves" % moved)
    m, log = console_cmd(where, name, "i=0; while [ ! -e /tmp/alldone ] && [ $i -lt 240 ]; do sleep 1; "
                         "i=$((i+1)); done; cat /tmp/res; echo waited $i s, dd left: $(ps | grep -c '[d]d if'); "
                         "echo END$((6*7))", r"END42", 300)
    want_disk, want_file, _ = expected(n)
    got = {t: (re.search(r"D%s=([0-9a-f]{64})" % t, log), re.search(r"F%s=([0-9a-f]{64})" % t, log))
           for t in "XY"}
    ok = check("pp: both jobs finish with the right checksums (no I/O lost in a move)",
               m and all(d and f and d.group(1) == want_disk and f.group(1) == want_file
                         for d, f in got.values()), log[-600:])
    if ok or not keep_on_failure:
        kiln(where, "kill", name)
    return ok, where


def failure_cases(port, dead_port):
    name = "f"
    if not boot(SRC, name):
        return
    rc, out, err = kiln(SRC, "migrate", name, "--to", "127.0.0.1:%d" % dead_port, "--token-file", TOKEN)
    check("migrate to a daemon without --migrate-listen fails clearly",
          rc != 0 and "cannot connect" in err and "--migrate-listen" in err, out + err)
    check("... and the VM runs on", vm_state(SRC, name) == "running", vm(SRC, name))
    bad = os.path.join(TMP, "bad-token")
    with open(bad, "w") as f:
        f.write("not the right token\n")
    os.chmod(bad, 0o600)
    rc, out, err = kiln(SRC, "migrate", name, "--to", "127.0.0.1:%d" % port, "--token-file", bad)
    check("a wrong token is refused", rc != 0 and "token" in err, out + err)
    check("... the destination logs the refusal and keeps no VM",
          "wrong migration token" in daemon_log(DST) and vm(DST, name) is None, daemon_log(DST)[-500:])
    m, buf = console_cmd(SRC, name, "echo still-$((40+1))", r"still-41", 60)
    check("... and the source VM runs on and answers", vm_state(SRC, name) == "running" and m, buf[-300:])
    # The destination's VM process dies mid-migration: the source must resume. The guest keeps
    # rewriting 32 MiB and the downtime target is 1 ms, so dirty rounds go on (up to the cap)
    # long after the destination's RAM filled up to the point where it is killed.
    m, buf = console_cmd(SRC, name, "yes abcdefghijklmnop | head -c 33554432 > /tmp/src; "
                         "(while true; do cat /tmp/src > /tmp/dirty; done) & echo busy-$((40+4))",
                         r"busy-44", 120)
    # A 5% CPU cap (sent along with the definition, so both ends have it) stretches the
    # stream over seconds: the destination is surely caught mid-stream on a loaded host too.
    kiln(SRC, "set", name, "--cpu-cap", "5")
    p = subprocess.Popen([KILN, "migrate", name, "--to", "127.0.0.1:%d" % port, "--token-file", TOKEN,
                          "--downtime", "1"],
                         env=env(SRC), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pid = wait_for(lambda: (vm(DST, name) or {}).get("pid"), 60, 0.05)

    def rss_mib():
        try:
            with open("/proc/%d/status" % pid) as f:
                return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024
        except (OSError, StopIteration):
            return 0
    if pid:
        # Frozen as soon as it exists, the destination stops reading: the source is then surely
        # mid-stream (blocked on a full socket) when the destination dies, however loaded the
        # host is and however fast a quiet guest would converge.
        base = rss_mib()
        wait_for(lambda: rss_mib() > base + 4 or p.poll() is not None, 60, 0.005)
        os.kill(pid, signal.SIGSTOP)
        time.sleep(1)
        print("# destination VM frozen at %.0f MiB RSS (started at %.0f), migration %s; killed" %
              (rss_mib(), base, "still running" if p.poll() is None else "already over"), flush=True)
        os.kill(pid, signal.SIGKILL)
    out, err = p.communicate(timeout=300)
    check("destination VM killed mid-migration: kiln migrate fails", pid and p.returncode != 0 and
          "runs on here" in err, "pid %s rc %s %s" % (pid, p.returncode, out + err))
    check("... the source VM is running", vm_state(SRC, name) == "running", vm(SRC, name))
    m, buf = console_cmd(SRC, name, "kill %1; echo usable-$((40+3))", r"usable-43", 60)
    check("... and usable (answers on its console)", m, buf[-300:])
    check("... the destination discarded its half VM",
          wait_for(lambda: vm(DST, name) is None, 30), vm(DST, name))
    kiln(SRC, "kill", name)


# ---- hostile streams against the listener ----

MAGIC = 0x31474d4b


def rec(t, payload, magic=MAGIC, crc=None):
    h = struct.pack("<IHHI", magic, t, 0, len(payload))
    c = zlib.crc32(h + payload) if crc is None else crc
    return h + struct.pack("<I", c) + payload


def read_rec(s):
    h = b""
    while len(h) < 16:
        c = s.recv(16 - len(h))
        if not c:
            return None, b""
        h += c
    magic, t, _, n, crc = struct.unpack("<IHHII", h)
    body = b""
    while len(body) < n:
        c = s.recv(n - len(body))
        if not c:
            break
        body += c
    return t, body


def authed(port, token):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    t, hello = read_rec(s)
    nonce = secrets.token_bytes(32)
    mac = hmac.new(token, b"kiln-migrate src" + hello[4:36] + nonce, hashlib.sha256).digest()
    s.sendall(rec(3 - 1, nonce + mac))  # AUTH = 2
    t, ok = read_rec(s)
    return s, t


def hostile_cases(port):
    token = open(TOKEN, "rb").read().strip()

    def alive():
        st, h = http(DST, "GET", "/v1/host", timeout=10)
        return st == 200

    def sent(data, label):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            read_rec(s)
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            t, body = read_rec(s)
            s.close()
        except OSError:
            pass
        time.sleep(0.3)
        check("hostile stream refused, the destination daemon stays up: " + label, alive(),
              daemon_log(DST)[-400:])

    sent(os.urandom(4096), "random bytes")
    sent(rec(2, os.urandom(64), magic=0xdeadbeef), "bad magic")
    sent(rec(2, os.urandom(64), crc=1), "bad CRC")
    sent(struct.pack("<IHHI", MAGIC, 2, 0, 0xffffffff) + b"\0" * 4, "huge length")
    sent(rec(2, b"x" * 10)[:20], "truncated record")
    sent(rec(4, b"{}"), "CONFIG before AUTH")
    # Authenticated, then garbage where the definition belongs, then hostile memory streams.
    s, t = authed(port, token)
    check("the test client authenticates with the token (HMAC-SHA256)", t == 3, t)
    s.sendall(rec(4, b"{\"vm\": [1, 2"))
    t, body = read_rec(s)
    check("a malformed VM definition is refused", t == 6 and b"malformed" in body, (t, body))
    s.close()
    base = {"name": "hostile", "mem": 64 << 20, "cpus": 1, "args": []}
    cases = [
        ("START with another RAM size", [rec(16, struct.pack("<QII", 1 << 30, 1, 4096))], b"does not match"),
        ("PAGES outside guest RAM", [rec(16, struct.pack("<QII", 64 << 20, 1, 4096)),
                                     rec(17, struct.pack("<QII", (64 << 20) // 4096, 1, 1))], b"outside"),
        ("PAGES whose length lies", [rec(16, struct.pack("<QII", 64 << 20, 1, 4096)),
                                     rec(17, struct.pack("<QII", 0, 2, 0) + b"\0" * 4096)], b"length"),
        ("a corrupted state record", [rec(16, struct.pack("<QII", 64 << 20, 1, 4096)),
                                      rec(18, b"KILNSNAP" + os.urandom(200)), rec(19, b"\0" * 8)], b"state"),
        ("a stream cut in the middle", [rec(16, struct.pack("<QII", 64 << 20, 1, 4096)),
                                        rec(17, struct.pack("<QII", 0, 4, 0) + b"\1" * 16384)[:9000]],
         None),
    ]
    for label, recs, word in cases:
        s, t = authed(port, token)
        s.sendall(rec(4, json.dumps({"vm": base, "limits": {}}).encode()))
        t, body = read_rec(s)
        ok = t == 5
        for r in recs:
            s.sendall(r)
        if word is None:
            s.shutdown(socket.SHUT_WR)
        t, body = read_rec(s)
        s.close()
        gone = wait_for(lambda: vm(DST, "hostile") is None, 30)
        check("hostile memory stream refused: %s" % label,
              ok and (word is None or (t == 6 and word in body)) and gone and alive(),
              "%s %s gone=%s" % (t, body, gone))


def main():
    if not os.path.exists(os.path.join(CACHE, "guest", "Image")):
        print("ok # SKIP the default guest is not built")
        return 0
    with open(TOKEN, "w") as f:
        f.write(secrets.token_hex(32) + "\n")
    os.chmod(TOKEN, 0o600)
    port, dead, back = free_port(), free_port(), free_port()
    # The source listens too, for the back-and-forth case.
    start_daemon(SRC, "--migrate-listen", "127.0.0.1:%d" % back, "--migrate-token-file", TOKEN)
    start_daemon(DST, "--migrate-listen", "127.0.0.1:%d" % port, "--migrate-token-file", TOKEN)
    check("the destination daemon listens for migrations",
          "listening for migrations on 127.0.0.1:%d" % port in daemon_log(DST), daemon_log(DST))
    rc, out, err = kiln(SRC, "daemon", "--migrate-listen", "127.0.0.1:1")
    check("--migrate-listen without a token file is refused", rc == 2 and "token" in err, out + err)
    migrate_case(port, "w1", 1, N_BLOCKS)
    failure_cases(port, dead)
    hostile_cases(port)
    migrate_case(port, "w2", 2, N_BLOCKS)
    migrate_case(port, "w3", 1, N_BLOCKS, copy=True, new="w3b")
    migrate_case(port, "q1", 2, N_BLOCKS, qcow2=True)
    migrate_case(port, "q2", 1, N_BLOCKS, copy=True, new="q2b", qcow2=True)
    pingpong_case({SRC: back, DST: port}, int(os.environ.get("KILN_MIG_PINGPONG_BLOCKS", "300")),
                  int(os.environ.get("KILN_MIG_PINGPONG_MOVES", "8")))
    return 0


def cleanup():
    for state in (SRC, DST):
        try:
            st, vms = http(state, "GET", "/v1/vms", timeout=5)
            for v in vms if st == 200 else []:
                if v.get("pid"):
                    http(state, "POST", "/v1/vms/%s/kill" % v["name"], timeout=15)
        except (OSError, ValueError, TypeError, AttributeError):
            pass
    for p in daemons:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
    shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))  # cleanup() still runs
    try:
        rc = main()
    except Exception as e:
        import traceback
        traceback.print_exc()
        print("not ok test_migrate raised %s" % e)
        rc = 1
    finally:
        cleanup()
    sys.exit(1 if failed() or rc else 0)
