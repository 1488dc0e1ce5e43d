#!/usr/bin/env python3
"""Snapshots of daemon VMs (issue 12): kiln snapshot NAME DIR, kiln restore DIR --name NEW
[--paused], kiln clone NAME NEW --count N, and their API (docs/api.md).

A daemon VM (the default guest, jailed as every daemon VM) computes a checksum in its
shell; it is snapshotted mid-way, restored paused under a new name, resumed, and the
restored VM must print the result Python computes. A booted VM with a NIC is cloned
into 3 VMs, each of which answers on its console and, once its virtio-net driver probes
again, reports its own MAC. Bad inputs get clean errors. Uses a temporary KILN_STATE_DIR;
the daemon and every VM are killed at the end.
"""
import json
import os
import re
import subprocess
import sys
import time

from kiln_daemon import CACHE, Daemon, check, failed, wait_for

D = Daemon("kiln-snapd-")
TMP, STATE, ENV, SOCK = D.tmp, D.state, D.env, D.sock
N_LOOP = int(os.environ.get("KILN_SNAP_LOOP", "60000"))
kiln, http, console_log, console_cmd, state = D.kiln, D.http, D.console_log, D.console_cmd, D.state_of


def expected(seed, n):
    s = seed
    for i in range(n):
        s = (s * 31 + i) % 1000003
    return s


def state(name):
    st, v = http("GET", "/v1/vms/" + name)
    return v.get("state") if st == 200 else None


def boot(name, *extra):
    rc, out, err = kiln("create", name, "--mem", "256M", *extra)
    rc2, out2, err2 = kiln("start", name)
    ok = rc == 0 and rc2 == 0 and wait_for(lambda: "kiln-init: ready" in console_log(name), 300, 1)
    return check("%s boots under the daemon" % name, ok, err + err2 + console_log(name)[-500:])


def computation_case():
    if not boot("calc"):
        return
    seed = 11
    loop = ("s=%d; i=0; while [ $i -lt %d ]; do s=$(( (s*31+i) %% 1000003 )); i=$((i+1)); "
            "[ $i = %d ] && echo HALF; done; echo RESULT=$s" % (seed, N_LOOP, N_LOOP // 2))
    m, buf = console_cmd("calc", loop, r"\nHALF", 600)
    check("computation reached its middle", m, buf[-300:])
    snap = os.path.join(TMP, "calc-snap")
    rc, out, err = kiln("snapshot", "calc", snap, "--json")
    try:
        ans = json.loads(out)
    except ValueError:
        ans = {}
    check("kiln snapshot NAME DIR --json", rc == 0 and ans.get("name") == "calc" and "ms" in ans
          and os.path.exists(os.path.join(snap, "state.kiln")), out + err)
    # (the console echoes the typed command, "RESULT=$s": only digits are the answer)
    check("the snapshot was taken mid-way", not re.search(r"RESULT=\d", console_log("calc")),
          console_log("calc")[-300:])
    check("no temporary files left in the snapshot directory",
          sorted(os.listdir(snap)) == ["memory.raw", "state.kiln"], os.listdir(snap))
    check("the snapshotted VM runs on", state("calc") == "running", state("calc"))
    # The source is stopped first: the restored VM must not lean on it.
    kiln("kill", "calc")
    rc, out, err = kiln("restore", snap, "--name", "calc2", "--paused", "--json")
    try:
        v = json.loads(out)
    except ValueError:
        v = {}
    check("kiln restore DIR --name NEW --paused", rc == 0 and v.get("state") == "paused" and
          v.get("mem") is not None, out + err)
    time.sleep(2)
    check("a paused restore prints nothing before resume",
          not re.search(r"RESULT=\d", console_log("calc2")),
          console_log("calc2")[-200:])
    rc, out, err = kiln("resume", "calc2")
    check("kiln resume of the paused restore", rc == 0 and state("calc2") == "running", out + err)
    got = wait_for(lambda: re.search(r"RESULT=(\d+)", console_log("calc2")), 600, 1)
    want = expected(seed, N_LOOP)
    check("restored VM finishes the computation with the right result",
          got and int(got.group(1)) == want, "got %s want %d" % (got and got.group(1), want))
    m, buf = console_cmd("calc2", "echo alive-$((40+2))", r"alive-42", 60)
    check("restored VM answers on its console", m, buf[-300:])
    # A restored VM can be snapshotted again (it runs jailed like any daemon VM).
    rc, out, err = kiln("snapshot", "calc2", os.path.join(TMP, "calc2-snap"))
    check("a restored daemon VM can be snapshotted again", rc == 0, out + err)
    # A VM the daemon paused (SIGSTOP) is snapshotted and stays paused; resume lets it go on.
    rc, out, err = kiln("pause", "calc2")
    rc2, out2, err2 = kiln("snapshot", "calc2", os.path.join(TMP, "calc2-paused"))
    check("snapshot of a paused VM: ok, and it stays paused", rc == 0 and rc2 == 0 and
          state("calc2") == "paused", out + err + out2 + err2)
    rc, out, err = kiln("resume", "calc2")
    m, buf = console_cmd("calc2", "echo back-$((40+3))", r"back-43", 60)
    check("resume after a paused snapshot: the guest answers", rc == 0 and m and
          state("calc2") == "running", out + err + buf[-300:])
    # --paused: the harts stay stopped after the snapshot, until resume.
    rc, out, err = kiln("snapshot", "calc2", os.path.join(TMP, "calc2-p2"), "--paused")
    check("kiln snapshot --paused leaves the VM paused", rc == 0 and state("calc2") == "paused",
          out + err)
    rc, out, err = kiln("resume", "calc2")
    m, buf = console_cmd("calc2", "echo again-$((40+4))", r"again-44", 60)
    check("resume after snapshot --paused: the guest answers", rc == 0 and m, out + err + buf[-300:])
    return snap


def clone_case():
    if not boot("base", "--net", "user"):
        return
    mac_cmd = ("d=$(basename $(readlink /sys/class/net/eth0/device)); "
               "echo $d > /sys/bus/virtio/drivers/virtio_net/unbind; "
               "echo $d > /sys/bus/virtio/drivers/virtio_net/bind; "
               "echo MAC=$(cat /sys/class/net/eth0/address)")
    m, buf = console_cmd("base", "echo MAC=$(cat /sys/class/net/eth0/address)",
                         r"MAC=([0-9a-f:]{17})", 60)
    base_mac = m.group(1) if m else None
    t0 = time.time()
    rc, out, err = kiln("clone", "base", "c", "--count", "3", "--json", timeout=300)
    try:
        ans = json.loads(out)
    except ValueError:
        ans = {}
    names = [v.get("name") for v in ans.get("vms", [])]
    print("# clone of a booted VM into 3: %.1f s" % (time.time() - t0), flush=True)
    check("kiln clone NAME NEW --count 3 --json", rc == 0 and names == ["c-1", "c-2", "c-3"] and
          ans.get("snapshot", "").startswith(os.path.join(STATE, "snapshots")), out + err)
    macs = {}
    for n in names:
        check("clone %s is running" % n, state(n) == "running", state(n))
        m, buf = console_cmd(n, mac_cmd, r"MAC=([0-9a-f:]{17})", 90)
        if check("clone %s answers on its console" % n, m, buf[-300:]):
            macs[n] = m.group(1)
    check("every clone has its own MAC, none the original's",
          len(macs) == 3 and len(set(macs.values())) == 3 and base_mac not in macs.values(),
          "base %s clones %s" % (base_mac, macs))
    check("the cloned VM runs on", state("base") == "running", state("base"))
    rc, out, err = kiln("clone", "base", "c", "--count", "3")
    check("clone onto existing names is refused", rc != 0 and "c-1" in err and "already exists" in err,
          out + err)
    for n in names:
        kiln("kill", n)


def sector(path, n, length=32):
    with open(path, "rb") as f:
        f.seek(512 * n)
        return f.read(length).split(b"\0")[0].split(b"\n")[0]


def blank_image(name, size):
    path = os.path.join(TMP, name)
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def put(text, n):
    """Guest command: TEXT and a newline into sector N of /dev/vda, synced."""
    return "printf '%s\\n' | dd of=/dev/vda bs=512 seek=%d conv=fsync 2>/dev/null" % (text, n)


def get(n):
    """Guest command printing sector N's first line from the disk (not the page cache) as
    R<100+N>=LINE/; "R<100+N>=" appears only in the answer, not in the echoed command."""
    return ("sync; echo 3 > /proc/sys/vm/drop_caches; echo R$((%d+100))=$(dd if=/dev/vda bs=512 skip=%d "
            "count=1 2>/dev/null | head -n1)/" % (n, n))


def got(n):
    return r"R%d=([^/\s]*)/" % (n + 100)


def clone_disk_case():
    """Clones of a VM with a disk each write an overlay of their own over a copy of the disk
    taken at the clone; the parent goes on writing its own image."""
    disk = blank_image("dbase.img", 16 << 20)
    if not boot("dbase", "--disk", disk):
        return
    m, buf = console_cmd("dbase", put("parent-before", 0) + "; (i=0; while true; do " + put("run-$i", 1) +
                         "; i=$((i+1)); sleep 0.1; done) & echo W-$((40+1))", r"W-41", 60)
    check("the parent writes its disk", m, buf[-300:])
    rc, out, err = kiln("clone", "dbase", "dc", "--count", "2", "--json", timeout=300)
    try:
        ans = json.loads(out)
    except ValueError:
        ans = {}
    names = [v.get("name") for v in ans.get("vms", [])]
    snap = ans.get("snapshot", "")
    if not check("kiln clone of a VM with a disk", rc == 0 and names == ["dc-1", "dc-2"], out + err):
        kiln("kill", "dbase")
        return
    check("the snapshot holds a copy of the disk", os.path.exists(os.path.join(snap, "disk0.img")),
          os.listdir(snap) if os.path.isdir(snap) else snap)
    m, buf = console_cmd("dbase", put("parent-after", 0) + "; echo A-$((40+2))", r"A-42", 60)
    check("the parent runs on and writes its disk after the clone", state("dbase") == "running" and m,
          buf[-300:])
    for n in names:
        m, buf = console_cmd(n, get(0), got(0), 90)
        check("clone %s reads the disk as it was at the clone" % n, m and m.group(1) == "parent-before",
              buf[-300:])
        m, buf = console_cmd(n, put("clone-" + n, 2) + "; " + get(2), got(2), 90)
        check("clone %s writes and reads back its own data" % n, m and m.group(1) == "clone-" + n,
              buf[-300:])
    # A clone of a clone: its disk is an overlay over a copy of dc-1's overlay (a chain of three).
    rc, out, err = kiln("clone", names[0], "dcc", timeout=300)
    m, buf = console_cmd("dcc", get(2), got(2), 90) if rc == 0 else (None, out + err)
    m0, buf0 = console_cmd("dcc", get(0), got(0), 90) if rc == 0 else (None, "")
    check("a clone of a clone reads its parent's writes over the first copy",
          m and m.group(1) == "clone-" + names[0] and m0 and m0.group(1) == "parent-before", buf[-300:] + buf0[-300:])
    kiln("kill", "dcc")
    kiln("rm", "dcc")
    kiln("kill", "dbase")
    check("the parent's image has its own writes and none of the clones'",
          sector(disk, 0) == b"parent-after" and sector(disk, 2) == b"" and sector(disk, 1).startswith(b"run-"),
          [sector(disk, i) for i in range(3)])
    for n in names:  # all of them: a running clone's lock on the copy keeps qemu-img out
        kiln("kill", n)
    for n in names:
        ov = os.path.join(STATE, "vms", n, "clone-disk0.qcow2")
        if not check("clone %s's overlay is kept with the VM" % n, os.path.exists(ov), ov):
            continue
        chk = subprocess.run(["qemu-img", "check", ov], capture_output=True, text=True)
        check("qemu-img check finds %s's overlay clean" % n, chk.returncode == 0, chk.stdout + chk.stderr)
        raw = os.path.join(TMP, n + ".raw")
        subprocess.run(["qemu-img", "convert", "-O", "raw", ov, raw], capture_output=True)
        check("%s's overlay holds its write over the copy" % n,
              os.path.exists(raw) and sector(raw, 2) == ("clone-" + n).encode() and
              sector(raw, 0) == b"parent-before", os.path.exists(raw) and [sector(raw, i) for i in range(3)])
    # The daemon's clone snapshot goes with the last clone removed, not before.
    kiln("rm", names[0])
    kept = os.path.isdir(snap)
    kiln("rm", names[1])
    check("kiln rm of the last clone removes the snapshot the clone took (not before)",
          kept and not os.path.exists(snap), "kept after the first rm: %s, exists now: %s" % (kept, os.path.exists(snap)))


def snapshot_disks_case():
    """kiln snapshot --disks: the snapshot keeps the disk as it was; every restore starts from
    that copy (writing an overlay), the VM's own image goes on changing."""
    disk = blank_image("sd.img", 4 << 20)
    if not boot("sd", "--disk", disk):
        return
    console_cmd("sd", put("before", 0) + "; echo P-$((40+3))", r"P-43", 60)
    snap = os.path.join(TMP, "sd-snap")
    rc, out, err = kiln("snapshot", "sd", snap, "--disks", "--json")
    check("kiln snapshot --disks", rc == 0 and os.path.exists(os.path.join(snap, "disk0.img")) and
          state("sd") == "running", out + err + repr(os.listdir(snap) if os.path.isdir(snap) else None))
    m, buf = console_cmd("sd", put("after", 0) + "; echo P-$((40+4))", r"P-44", 60)
    check("the VM runs on after snapshot --disks and writes its disk", m, buf[-300:])
    kiln("kill", "sd")
    for k in (1, 2):
        name = "sdr%d" % k
        rc, out, err = kiln("restore", snap, "--name", name)
        m, buf = console_cmd(name, get(0), got(0), 90)
        check("restore %d of a --disks snapshot reads the disk as it was" % k,
              rc == 0 and m and m.group(1) == "before", out + err + buf[-300:])
        console_cmd(name, put("restored-%d" % k, 0) + "; echo P-$((40+5))", r"P-45", 60)
        kiln("kill", name)
    check("the copy in the snapshot never changes, the VM's image has its own last write",
          sector(os.path.join(snap, "disk0.img"), 0) == b"before" and sector(disk, 0) == b"after",
          [sector(os.path.join(snap, "disk0.img"), 0), sector(disk, 0)])
    # A new snapshot into the same directory without --disks drops the old copy.
    kiln("start", "sd")
    wait_for(lambda: "kiln-init: ready" in console_log("sd")[-2000:], 300, 1)
    rc, out, err = kiln("snapshot", "sd", snap)
    check("a snapshot without --disks into the same directory drops the old copy",
          rc == 0 and not os.path.exists(os.path.join(snap, "disk0.img")), out + err + repr(os.listdir(snap)))
    kiln("kill", "sd")


def bad_input_cases(snap):
    rc, out, err = kiln("create", "idle", "--mem", "64M")
    rc, out, err = kiln("snapshot", "idle", os.path.join(TMP, "idle-snap"))
    check("snapshot of a VM that is not running is refused", rc != 0 and "not running" in err, out + err)
    rc, out, err = kiln("snapshot", "idle")
    check("snapshot without DIR is a usage error", rc == 2 and "usage" in err, out + err)
    st, b = http("POST", "/v1/vms/idle/snapshot", {})
    check("API snapshot without dir: 400", st == 400 and "dir" in b.get("error", ""), b)
    st, b = http("POST", "/v1/vms/idle/snapshot", {"dir": "relative/x"})
    check("API snapshot with a relative dir: 400", st == 400 and "absolute" in b.get("error", ""), b)
    st, b = http("POST", "/v1/vms/nosuch/snapshot", {"dir": "/tmp/x"})
    check("snapshot of an unknown VM: 404", st == 404, b)
    rc, out, err = kiln("restore", os.path.join(TMP, "no-such-snapshot"), "--name", "x1")
    check("restore from a missing directory is refused", rc != 0 and "cannot restore" in err and
          state("x1") is None, out + err)
    if snap:
        rc, out, err = kiln("restore", snap, "--name", "idle")
        check("restore onto an existing name is refused", rc != 0 and "already exists" in err, out + err)
        live = "calc2" if state("calc2") == "running" else None
        if live:
            rc, out, err = kiln("snapshot", live, os.path.join(TMP, "no", "such", "dir"))
            check("snapshot into a missing directory: an error, the VM runs on",
                  rc != 0 and "No such file" in err and state(live) == "running", out + err)
    st, b = http("POST", "/v1/restore", {"name": "x2", "dir": "/x", "bogus": 1})
    check("API restore with an unknown field: 400", st == 400 and "bogus" in b.get("error", ""), b)
    st, b = http("GET", "/v1/restore")
    check("GET /v1/restore: 405", st == 405, b)
    rc, out, err = kiln("clone", "idle", "d", "--count", "0")
    check("clone --count 0 is refused", rc == 2, out + err)


D2 = Daemon(None, tmp=os.path.join(TMP, "second"))


def portable_case(snap):
    """A snapshot is a directory that can move: copied elsewhere (sparse), it restores on
    another daemon with its own state dir, and the computation ends with the right result."""
    if not snap or not os.path.exists(os.path.join(snap, "state.kiln")):
        check("portable snapshot: a snapshot to move", False, "the computation case made none")
        return
    moved = os.path.join(TMP, "moved-snap")
    subprocess.run(["cp", "-a", "--sparse=always", snap, moved], check=True)
    rc, out, err = D2.kiln("restore", moved, "--name", "far", "--json")
    st2, _ = D2.http("GET", "/v1/vms/far") if os.path.exists(D2.sock) else (0, None)
    st1, _ = http("GET", "/v1/vms/far")
    check("portable snapshot: restored on a second daemon with another state dir",
          rc == 0 and st2 == 200 and st1 == 404, "%s%s (second daemon %s, first %s)" % (out, err, st2, st1))
    got = wait_for(lambda: re.search(r"RESULT=(\d+)", D2.console_log("far")), 600, 1)
    want = expected(11, N_LOOP)
    check("portable snapshot: the computation ends with the right result there",
          got and int(got.group(1)) == want, "got %s want %d; %s" % (
              got and got.group(1), want, D2.console_log("far")[-300:]))


def main():
    if not os.path.exists(os.path.join(CACHE, "guest", "Image")):
        print("ok # SKIP the default guest is not built")
        return 0
    snap = computation_case()
    portable_case(snap)
    clone_case()
    clone_disk_case()
    snapshot_disks_case()
    bad_input_cases(snap)
    return 0


def cleanup():
    D2.stop()
    D.stop()
    time.sleep(0.5)
    D.remove()


if __name__ == "__main__":
    try:
        rc = main()
    except Exception as e:
        import traceback
        traceback.print_exc()
        check("test ran to the end", False, repr(e))
        rc = 1
    finally:
        cleanup()
    sys.exit(rc if rc else (1 if failed() else 0))
