#!/usr/bin/env python3
"""containerd runs riscv64 busybox containers in kiln process VMs: a containerd of its own
(root, state and socket in a temp dir, no CRI plugin), an OCI image built offline from the
guest cache's busybox and imported with `ctr image import`, then `ctr run --runtime
io.containerd.runc.v2 --runc-binary build/kiln-runc`: output, exit code, detached task with
`ctr task ps`, `ctr task exec`, pause/resume, `ctr task kill`, and a -t session on a pty.
containerd is torn down after. Prints "ok NAME" / "not ok NAME"; exit 77 without containerd."""
import os
import pty
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from oci_common import on_pty, RUNC, BUSYBOX, Report, build_rootfs, oci_archive  # noqa: E402

r = Report()
for tool in ("containerd", "ctr", "containerd-shim-runc-v2"):
    if not shutil.which(tool):
        print(f"skip: {tool} not installed (apt-get install containerd)")
        sys.exit(77)
if os.geteuid() != 0:
    print("skip: containerd needs root")
    sys.exit(77)
if not os.path.exists(RUNC) or not os.path.exists(BUSYBOX):
    print(f"not ok setup # {RUNC} or {BUSYBOX} missing")
    sys.exit(1)

tmp = tempfile.mkdtemp(prefix="kiln-ctrd-")
SOCK = os.path.join(tmp, "containerd.sock")
NS = "kilntest"
IMG = "kiln.test/busybox:latest"
with open(os.path.join(tmp, "config.toml"), "w") as f:
    f.write(f'''version = 2
root = "{tmp}/root"
state = "{tmp}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "{SOCK}"
[ttrpc]
  address = "{SOCK}.ttrpc"
''')
log = open(os.path.join(tmp, "containerd.log"), "wb")
daemon = subprocess.Popen(["containerd", "--config", os.path.join(tmp, "config.toml")], stdout=log,
                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)


def ctr(*args, timeout=120, **kw):
    p = subprocess.run(["ctr", "--address", SOCK, "--namespace", NS, *args], capture_output=True,
                       timeout=timeout, stdin=subprocess.DEVNULL, **kw)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


RUN = ["run", "--platform", "linux/riscv64", "--runtime", "io.containerd.runc.v2", "--runc-binary", RUNC]

try:
    for _ in range(100):
        if os.path.exists(SOCK) and ctr("version", timeout=10)[0] == 0:
            break
        time.sleep(0.1)
    rc, out, err = ctr("version")
    if not r.check("containerd-up", rc == 0, err.strip()):
        raise SystemExit
    rootfs = os.path.join(tmp, "rootfs")
    build_rootfs(rootfs)
    archive = oci_archive(rootfs, os.path.join(tmp, "busybox-riscv64.tar"))
    rc, out, err = ctr("image", "import", "--base-name", IMG.split(":")[0], "--platform", "linux/riscv64", archive)
    rc2, out2, _ = ctr("image", "ls", "-q")
    r.check("image-import", rc == 0 and IMG in out2, out + err)

    t0 = time.time()
    rc, out, err = ctr(*RUN, "--rm", IMG, "echo1", "echo", "hi")
    r.check("ctr-run-echo", rc == 0 and out == "hi\n", f"rc {rc} {out!r} {err}")
    print(f"# ctr run --rm echo hi: {time.time() - t0:.3f} s", flush=True)
    rc, out, err = ctr(*RUN, "--rm", IMG, "exit3", "sh", "-c", "echo out; echo err >&2; exit 3")
    r.check("ctr-run-exit-code", rc == 3 and out == "out\n" and "err" in err, f"rc {rc} {out!r} {err!r}")
    rc, out, err = ctr(*RUN, "--rm", "--env", "GREETING=hello", "--cwd", "/tmp", IMG, "envcwd", "sh", "-c",
                       "echo $GREETING; pwd; id -u")
    r.check("ctr-run-env-cwd", rc == 0 and out == "hello\n/tmp\n0\n", f"rc {rc} {out!r} {err}")

    # A detached task: ps, exec, pause/resume, kill
    rc, out, err = ctr(*RUN, "-d", IMG, "bg", "sh", "-c", "trap 'echo bye; exit 0' TERM; while :; do sleep 0.2; done")
    r.check("ctr-run-detached", rc == 0, err)
    time.sleep(0.5)
    rc, out, err = ctr("task", "ls")
    r.check("ctr-task-ls-running", rc == 0 and any(l.split()[:1] == ["bg"] and "RUNNING" in l for l in out.splitlines()),
            out + err)
    rc, out, err = ctr("task", "ps", "bg")
    pids = [l.split()[0] for l in out.splitlines()[1:] if l.strip()]
    r.check("ctr-task-ps", rc == 0 and len(pids) >= 2 and all(os.path.exists(f"/proc/{p}") for p in pids),
            out + err)
    rc, out, err = ctr("task", "exec", "--exec-id", "e1", "bg", "sh", "-c", "echo exec-ok; exit 4")
    r.check("ctr-task-exec", rc == 4 and out == "exec-ok\n", f"rc {rc} {out!r} {err}")
    # The exec'd process joins the task's process VM: it is not the VM's pid 1 (the task's
    # first process is, and it sees it); a separate VM would make the exec'd shell pid 1.
    rc, out, err = ctr("task", "exec", "--exec-id", "e3", "bg", "sh", "-c", "echo $$; kill -0 1 && echo pid1-alive")
    r.check("ctr-task-exec-shares-pids", rc == 0 and out.split()[1:] == ["pid1-alive"] and out.split()[0] != "1",
            f"rc {rc} {out!r} {err}")
    buf, done, code = on_pty(["ctr", "--address", SOCK, "--namespace", NS, "task", "exec", "-t", "--exec-id", "e2",
                              "bg", "sh", "-c", "test -t 0 && echo exec-tty; read x; echo got-$x"],
                             [(b"exec-tty", b"zz\r")])
    r.check("ctr-task-exec-tty", done and b"got-zz" in buf and code == 0, f"code {code} {buf!r}")
    rc, out, err = ctr("task", "pause", "bg")
    rc2, out2, _ = ctr("task", "ls")
    r.check("ctr-task-pause", rc == 0 and "PAUSED" in out2, out2 + err)
    rc, out, err = ctr("task", "resume", "bg")
    rc2, out2, _ = ctr("task", "ls")
    r.check("ctr-task-resume", rc == 0 and "RUNNING" in out2, out2 + err)
    rc, out, err = ctr("task", "kill", "bg")
    stopped = False
    for _ in range(100):
        out2 = ctr("task", "ls")[1]
        if "STOPPED" in out2:
            stopped = True
            break
        time.sleep(0.1)
    r.check("ctr-task-kill", rc == 0 and stopped, out2 + err)
    rc, out, err = ctr("task", "rm", "bg")
    rc2, out2, err2 = ctr("container", "rm", "bg")
    r.check("ctr-task-container-rm", rc == 0 and rc2 == 0, err + err2)

    # ctr run -t: the shim's console socket gets kiln-runc's pty master
    buf, done, code = on_pty(["ctr", "--address", SOCK, "--namespace", NS, *RUN, "-t", "--rm", IMG, "tty1", "sh", "-c",
                              "test -t 0 && echo is-a-tty; read x; echo got-$x"], [(b"is-a-tty", b"abc\r")])
    r.check("ctr-run-tty", done and b"got-abc" in buf and code == 0, f"{buf!r} status {code}")

    # The system-VM kind: kiln's kernel boots with the image's rootfs over virtio-9p as /
    t0 = time.time()
    rc, out, err = ctr(*RUN, "--rm", "--annotation", "run.kiln.vm=system", IMG, "sys1", "sh", "-c",
                       "grep -m1 ^isa /proc/cpuinfo; echo sys-ok; exit 6", timeout=300)
    r.check("ctr-run-system-vm", rc == 6 and "sys-ok\n" in out and "rv64" in out, f"rc {rc} {out!r} {err[-500:]}")
    print(f"# ctr run --rm (system VM): {time.time() - t0:.3f} s", flush=True)
finally:
    for c in ("bg", "tty1", "sys1"):
        ctr("task", "kill", "-s", "SIGKILL", c, timeout=30)
        ctr("task", "rm", "-f", c, timeout=30)
        ctr("container", "rm", c, timeout=30)
    os.killpg(daemon.pid, signal.SIGTERM)
    try:
        daemon.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(daemon.pid, signal.SIGKILL)
        daemon.wait()
    # Snapshot mounts the shim left (none when every task was removed).
    with open("/proc/self/mounts") as f:
        for line in reversed(f.read().splitlines()):
            mnt = line.split()[1]
            if mnt.startswith(tmp):
                subprocess.run(["umount", "-l", mnt])
    shutil.rmtree(tmp, ignore_errors=True)

sys.exit(1 if r.failures else 0)
