#!/usr/bin/env python3
"""kiln-runc driven directly, as an engine's shim would: the OCI lifecycle (create, start,
state, kill, delete, ps, exec, pause, resume), its error rules, stdio and the console
socket, config.json mapping (env, cwd, uid/gid, read-only root, bind and tmpfs mounts,
memory and pids limits, network namespace) and malformed config.json files. The test is
a child subreaper, as containerd's shim and conmon are, so it reaps the container's
process and sees its exit status. Prints "ok NAME" / "not ok NAME"."""
import ctypes
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from oci_common import RUNC, BUSYBOX, Report, build_rootfs, config, write_bundle  # noqa: E402

r = Report()
if not os.path.exists(RUNC):
    print(f"not ok kiln-runc # {RUNC} missing (make)")
    sys.exit(1)
if not os.path.exists(BUSYBOX):
    print(f"not ok busybox # {BUSYBOX} missing (guest/build.sh)")
    sys.exit(1)
if os.geteuid() != 0:
    print("skip: kiln-runc needs root, as runc does")
    sys.exit(77)

PR_SET_CHILD_SUBREAPER = 36
ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)

tmp = tempfile.mkdtemp(prefix="kiln-oci-")
STATE = os.path.join(tmp, "state")
ROOTFS = os.path.join(tmp, "rootfs")
build_rootfs(ROOTFS)
n_bundle = 0


def runc(*args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60, extra=()):
    p = subprocess.run([RUNC, "--root", STATE, *extra, *args], stdout=stdout, stderr=stderr,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    return p.returncode, (p.stdout or b"").decode(errors="replace") if stdout == subprocess.PIPE else "", \
        (p.stderr or b"").decode(errors="replace")


def bundle(cfg):
    global n_bundle
    n_bundle += 1
    b = os.path.join(tmp, f"bundle{n_bundle}")
    write_bundle(b, cfg, ROOTFS)
    return b


def state(cid):
    rc, out, err = runc("state", cid)
    return json.loads(out) if rc == 0 else {"status": None, "err": err}


def reap(pid, timeout=30):
    """waitpid with a deadline: the exit status (128+N for signal N), or None."""
    end = time.time() + timeout
    while time.time() < end:
        got, st = os.waitpid(pid, os.WNOHANG)
        if got == pid:
            return os.waitstatus_to_exitcode(st) if os.WIFEXITED(st) else 128 + os.WTERMSIG(st)
        time.sleep(0.02)
    return None


def create(cid, cfg, out_path=None, console=None):
    b = bundle(cfg)
    fname = cid.replace("/", "_")
    pidf = os.path.join(tmp, fname + ".pid")
    out = open(out_path or os.path.join(tmp, fname + ".out"), "wb")
    errf = os.path.join(tmp, fname + ".err")
    errw = open(errf, "wb")
    args = ["create", "--bundle", b, "--pid-file", pidf]
    if console:
        args += ["--console-socket", console]
    # The container keeps create's stdio (as an engine's pipes): files, not pipes waited on.
    p = subprocess.run([RUNC, "--root", STATE, *args, cid], stdout=out, stderr=errw,
                       stdin=subprocess.DEVNULL, timeout=60)
    out.close()
    errw.close()
    pid = int(open(pidf).read()) if p.returncode == 0 and os.path.exists(pidf) else None
    with open(errf, "rb") as f:
        return p.returncode, pid, f.read().decode(errors="replace")


def output(cid, ext=".out"):
    with open(os.path.join(tmp, cid + ext), "rb") as f:
        return f.read().decode(errors="replace")


def ppid_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


try:
    # ---- the lifecycle, end to end
    cfg = config(["sh", "-c", "echo hello $FOO; id -u; id -g; pwd; exit 7"],
                 env=["PATH=/bin:/usr/bin", "FOO=bar"], cwd="/work/dir", uid=1000, gid=1000)
    rc, pid, err = create("life", cfg)
    if r.check("create", rc == 0 and pid, f"rc {rc}: {err.strip()}"):
        st = state("life")
        r.check("state-created", st["status"] == "created" and st["pid"] == pid and
                st["ociVersion"].startswith("1.") and st["id"] == "life" and
                st["bundle"].endswith("bundle1") and "annotations" in st, json.dumps(st))
        r.check("create-pid-is-caller-descendant", ppid_of(pid) == os.getpid(),
                f"ppid {ppid_of(pid)}, test {os.getpid()}")
        time.sleep(0.3)
        r.check("create-waits-for-start", output("life") == "" and state("life")["status"] == "created",
                repr(output("life")))
        rc, _, err = runc("start", "life")
        r.check("start", rc == 0, err.strip())
        code = reap(pid)
        r.check("exit-status", code == 7, f"status {code}")
        r.check("stdio-env-cwd-uid", output("life") == "hello bar\n1000\n1000\n/work/dir\n",
                repr(output("life")))
        st = state("life")
        r.check("state-stopped", st["status"] == "stopped", json.dumps(st))
        rc, _, err = runc("start", "life")
        r.check("start-stopped-fails", rc != 0 and "stopped" in err, err.strip())
        rc, _, err = runc("kill", "life", "KILL")
        r.check("kill-stopped-fails", rc != 0 and "not running" in err, err.strip())
        rc, _, err = runc("delete", "life")
        r.check("delete-stopped", rc == 0 and not os.path.exists(os.path.join(STATE, "life")), err.strip())
        rc, _, err = runc("state", "life")
        r.check("state-after-delete-fails", rc != 0 and "does not exist" in err, err.strip())

    # ---- run: create + start + wait + delete in one command (what buildah uses)
    b = bundle(config(["sh", "-c", "echo via-run; exit 6"]))
    with open(os.path.join(tmp, "run.out"), "wb") as out:
        p = subprocess.run([RUNC, "--root", STATE, "run", "--bundle", b, "runcmd"], stdout=out,
                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=60)
    r.check("run-foreground", p.returncode == 6 and output("run") == "via-run\n" and
            not os.path.exists(os.path.join(STATE, "runcmd")), f"rc {p.returncode} {output('run')!r}")

    # ---- a running container: start twice, delete running, ps, exec, pause/resume, kill
    cfg = config(["sh", "-c", "echo up; while :; do echo tick; sleep 0.1; done"],
                 mounts=[{"destination": "/scratch", "type": "tmpfs", "source": "tmpfs"}])
    rc, pid, err = create("run1", cfg)
    runc("start", "run1")
    time.sleep(0.5)
    rc, _, err = runc("start", "run1")
    r.check("start-twice-fails", rc != 0 and "running" in err, err.strip())
    rc, _, err = runc("delete", "run1")
    r.check("delete-running-fails", rc != 0 and "not stopped" in err and state("run1")["status"] == "running",
            err.strip())
    rc, out, err = runc("ps", "--format", "json", "run1")
    pids = json.loads(out) if rc == 0 else []
    r.check("ps-json", pid in pids and len(pids) >= 2, out + err)
    rc, out, err = runc("ps", "run1")
    r.check("ps-table", rc == 0 and "PID" in out and str(pid) in out, out + err)
    rc, out, err = runc("list")
    r.check("list", rc == 0 and "run1" in out and "running" in out, out + err)
    rc, out, err = runc("list", "--format", "json")
    r.check("list-json", rc == 0 and any(c["id"] == "run1" for c in json.loads(out)), out + err)

    # exec: a second process over the same files, attached (exit status) and detached (pid file)
    rc, out, err = runc("exec", "run1", "sh", "-c", "echo shared > /scratch/f; echo in-exec; exit 5")
    r.check("exec-attached", rc == 5 and out == "in-exec\n", f"rc {rc} out {out!r} {err}")
    rc, out, err = runc("exec", "--env", "X=from-flag", "--cwd", "/scratch", "run1", "sh", "-c",
                        "cat f; echo $X; pwd")
    r.check("exec-shares-files-env-cwd", rc == 0 and out == "shared\nfrom-flag\n/scratch\n", f"{out!r} {err}")
    proc = {"terminal": False, "user": {"uid": 0, "gid": 0}, "args": ["sh", "-c", "echo via-process; exit 3"],
            "env": ["PATH=/bin"], "cwd": "/"}
    pf = os.path.join(tmp, "process.json")
    with open(pf, "w") as f:
        json.dump(proc, f)
    epid = os.path.join(tmp, "exec.pid")
    eout = open(os.path.join(tmp, "exec.out"), "wb")
    p = subprocess.run([RUNC, "--root", STATE, "exec", "--process", pf, "--detach", "--pid-file", epid, "run1"],
                       stdout=eout, stderr=subprocess.PIPE, timeout=60)
    eout.close()
    code = reap(int(open(epid).read())) if p.returncode == 0 else None
    with open(os.path.join(tmp, "exec.out")) as f:
        r.check("exec-process-detached", code == 3 and f.read() == "via-process\n",
                f"rc {p.returncode} code {code} {p.stderr.decode()}")
    rc, out, err = runc("exec", "run1", "no-such-program")
    r.check("exec-missing-program-fails", rc != 0 and "executable file not found" in err, err.strip())

    # exec joins the container's process VM (one pid table): a VM pid of its own, seen by
    # kill(2) from another exec and from the first program; `runc ps` lists its host process.
    rc, out, _ = runc("ps", "--format", "json", "run1")
    n_before = len(json.loads(out)) if rc == 0 else -1
    dout = open(os.path.join(tmp, "join.out"), "wb")
    p = subprocess.run([RUNC, "--root", STATE, "exec", "--detach", "--pid-file", epid, "run1", "sh", "-c",
                        "echo $$ > /scratch/vpid; trap 'echo trapped; exit 3' USR1; "
                        "while :; do sleep 0.1; done"], stdout=dout, stderr=dout, stdin=subprocess.DEVNULL,
                       timeout=60)
    dout.close()
    proxy = int(open(epid).read()) if p.returncode == 0 else None
    time.sleep(0.5)
    r.check("exec-detached-proxy-is-our-child", proxy and ppid_of(proxy) == os.getpid(), f"rc {p.returncode}")
    rc, out, err = runc("exec", "run1", "sh", "-c", "v=$(cat /scratch/vpid); echo $v; kill -0 $v && echo alive; "
                        "kill -0 1 && echo init; echo $$")
    lines = out.split()
    r.check("exec-shares-pid-table", rc == 0 and len(lines) == 4 and lines[1:3] == ["alive", "init"] and
            lines[0] not in ("1", lines[3]), f"rc {rc} {out!r} {err}")
    rc, out, _ = runc("ps", "--format", "json", "run1")
    r.check("ps-lists-exec", rc == 0 and len(json.loads(out)) > n_before and proxy not in json.loads(out),
            f"{n_before} -> {out}")
    if proxy:
        os.kill(proxy, signal.SIGUSR1)  # relayed by the proxy: the guest's trap runs and exits 3
        code = reap(proxy)
        with open(os.path.join(tmp, "join.out")) as f:
            jout = f.read()
        r.check("exec-detached-signal-status", code == 3 and "trapped" in jout, f"code {code} {jout!r}")
    p = subprocess.run([RUNC, "--root", STATE, "exec", "--detach", "--pid-file", epid, "run1", "sleep", "100"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, timeout=60)
    proxy = int(open(epid).read()) if p.returncode == 0 else None
    time.sleep(0.3)
    if proxy:
        os.kill(proxy, signal.SIGTERM)
        got, st = os.waitpid(proxy, 0)
    r.check("exec-detached-ends-by-signal", proxy and os.WIFSIGNALED(st) and os.WTERMSIG(st) == signal.SIGTERM,
            f"proxy {proxy}")
    rc, out, err = runc("exec", "run1", "sh", "-c", "kill -TERM $$")
    r.check("exec-status-signal", rc == 128 + signal.SIGTERM, f"rc {rc} {err}")

    # A broken or hostile request gets an error answer; the container runs on.
    sock_path = os.path.join(STATE, "run1", "ctl.sock")
    answers = []
    hdr = (0x6b786331).to_bytes(4, sys.byteorder)
    for payload in (b"", b"junk" * 10, hdr + b"\xff" * 20, os.urandom(3000),
                    hdr + bytes(8) + (1).to_bytes(4, sys.byteorder) + bytes(4) + b"/bin/sh\0/\0",
                    hdr + bytes(12) + (1 << 30).to_bytes(4, sys.byteorder) + bytes(4),
                    # well formed, but without the program and stdio descriptors
                    hdr + bytes(12) + (1).to_bytes(4, sys.byteorder) + bytes(4) + b"sh\0/\0sh\0"):
        s_ = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s_.settimeout(10)
        try:
            s_.connect(sock_path)
            if payload:
                s_.sendmsg([payload])
            else:
                s_.shutdown(socket.SHUT_WR)
            m = s_.recv(256)
            answers.append(int.from_bytes(m[4:8], sys.byteorder) == 3)
        except OSError as e:
            answers.append(f"{e}")
        s_.close()
    s_ = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s_.connect(sock_path)
    s_.close()  # connected and gone without a word
    # Silent callers fill the waiting slots: one too many is turned away at once, and each
    # silent one is dropped with an answer after a few seconds; exec works after.
    silent = []
    for _ in range(9):
        s_ = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s_.connect(sock_path)
        s_.settimeout(15)
        silent.append(s_)
    t0 = time.time()
    try:
        kinds = [int.from_bytes(s_.recv(256)[4:8], sys.byteorder) for s_ in silent]
    except OSError as e:
        kinds = [str(e)]
    r.check("exec-silent-callers-dropped", kinds == [3] * 9 and time.time() - t0 < 12, f"{kinds}")
    for s_ in silent:
        s_.close()
    rc, out, err = runc("exec", "run1", "sh", "-c", "echo after-garbage")
    r.check("exec-garbage-request-answered", answers == [True] * 7 and state("run1")["status"] == "running" and
            out == "after-garbage\n", f"{answers} {out!r} {err}")
    # Only root or the container's owner may connect (the socket is 0600; SO_PEERCRED).
    child = os.fork()
    if child == 0:
        os.setgid(65534)
        os.setuid(65534)
        s_ = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            s_.connect(sock_path)
            os._exit(1)
        except PermissionError:
            os._exit(0)
        except BaseException:
            os._exit(2)
    _, st = os.waitpid(child, 0)
    r.check("exec-socket-owner-only", os.waitstatus_to_exitcode(st) == 0 and
            os.stat(sock_path).st_mode & 0o777 == 0o600, f"{st}")

    # pause / resume: no output while paused
    rc, _, err = runc("pause", "run1")
    st = state("run1")
    time.sleep(0.3)
    n1 = output("run1").count("tick")
    time.sleep(0.8)
    n2 = output("run1").count("tick")
    r.check("pause", rc == 0 and st["status"] == "paused" and n1 == n2, f"rc {rc} {st['status']} {n1} {n2} {err}")
    rc, _, err = runc("pause", "run1")
    r.check("pause-paused-fails", rc != 0, err.strip())
    rc, _, err = runc("exec", "run1", "true")
    r.check("exec-paused-fails", rc != 0 and "paused" in err, err.strip())
    rc, _, err = runc("resume", "run1")
    time.sleep(0.8)
    n3 = output("run1").count("tick")
    r.check("resume", rc == 0 and state("run1")["status"] == "running" and n3 > n2, f"{n2} {n3} {err}")
    rc, _, err = runc("resume", "run1")
    r.check("resume-running-fails", rc != 0 and "not paused" in err, err.strip())
    rc, _, err = runc("kill", "run1", "SIGTERM")
    code = reap(pid)
    r.check("kill-term", rc == 0 and code == 128 + signal.SIGTERM, f"rc {rc} status {code} {err}")
    rc, _, err = runc("kill", "run1", "9")
    r.check("kill-stopped-fails-2", rc != 0, err)
    rc, _, err = runc("exec", "run1", "true")
    r.check("exec-stopped-refused", rc != 0 and "cannot exec in a stopped container" in err, err.strip())

    # An exec'd shell signals the container's first program by its VM pid (1), and the
    # VM's process cap (pids.limit) counts exec'd processes.
    rc, jpid, err = create("join2", config(["sh", "-c", "trap 'echo got-usr1; exit 4' USR1; "
                                                         "while :; do sleep 0.1; done"]))
    runc("start", "join2")
    time.sleep(0.5)
    rc, out, err = runc("exec", "join2", "sh", "-c", "kill -USR1 1")
    code = reap(jpid)
    r.check("exec-kills-first-program", rc == 0 and code == 4 and "got-usr1" in output("join2"),
            f"rc {rc} code {code} {output('join2')!r} {err}")
    runc("delete", "--force", "join2")
    rc, jpid, err = create("join3", config(["sleep", "100"], resources={"pids": {"limit": 1}}))
    runc("start", "join3")
    time.sleep(0.3)
    rc, out, err = runc("exec", "join3", "true")
    r.check("exec-counts-against-pids-limit", rc != 0 and "process table is full" in err, f"rc {rc} {err}")
    runc("delete", "--force", "join3")
    reap(jpid, timeout=5)
    runc("delete", "run1")

    # A signal kiln exec does not forward itself still reaches the guest's first program.
    rc, pid, err = create("pwr", config(["sh", "-c", "trap 'echo got-pwr; exit 4' PWR; echo ready; "
                                               "while :; do sleep 0.1; done"]))
    runc("start", "pwr")
    for _ in range(100):
        if "ready" in output("pwr"):
            break
        time.sleep(0.05)
    rc, _, err = runc("kill", "pwr", "PWR")
    code = reap(pid)
    r.check("kill-signal-reaches-guest", rc == 0 and code == 4 and "got-pwr" in output("pwr"),
            f"rc {rc} code {code} {output('pwr')!r} {err}")
    runc("delete", "pwr")

    # kill --all and delete --force of a running container
    rc, pid, err = create("run2", config(["sh", "-c", "sleep 100 & sleep 100"]))
    runc("start", "run2")
    time.sleep(0.3)
    rc, _, err = runc("delete", "--force", "run2")
    code = reap(pid, 10)
    r.check("delete-force-running", rc == 0 and code is not None and not os.path.exists(os.path.join(STATE, "run2")),
            f"rc {rc} code {code} {err}")
    rc, pid, err = create("run3", config(["sh", "-c", "sleep 100 & sleep 100"]))
    runc("start", "run3")
    time.sleep(0.3)
    rc, _, err = runc("kill", "--all", "run3", "KILL")
    code = reap(pid, 10)
    r.check("kill-all", rc == 0 and code == 128 + signal.SIGKILL, f"rc {rc} code {code} {err}")
    runc("delete", "run3")
    rc, pid, err = create("run4", config(["true"]))
    rc, _, err = runc("delete", "run4")
    r.check("delete-created", rc == 0 and reap(pid, 10) is not None, err)
    rc, _, err = runc("delete", "--force", "never-there")
    r.check("delete-force-missing", rc == 0, err)
    rc, _, err = runc("delete", "never-there")
    r.check("delete-missing-fails", rc != 0 and "does not exist" in err, err)

    # A caller with stdin closed: no descriptor of kiln-runc's (the locked state directory) may
    # take fd 0 and reach the container, which would then block every later command.
    b = bundle(config(["sh", "-c", "echo closed-stdin-ok"]))
    with open(os.path.join(tmp, "cs.out"), "wb") as out:
        p = subprocess.run([RUNC, "--root", STATE, "create", "--bundle", b, "--pid-file",
                            os.path.join(tmp, "cs.pid"), "cs"], stdout=out, stderr=out,
                           preexec_fn=lambda: os.close(0), timeout=60)
    rc, _, err = runc("start", "cs", timeout=15)
    code = reap(int(open(os.path.join(tmp, "cs.pid")).read())) if p.returncode == 0 else None
    r.check("create-with-stdin-closed", rc == 0 and code == 0 and output("cs") == "closed-stdin-ok\n",
            f"rc {rc} code {code} {output('cs')!r} {err}")
    runc("delete", "--force", "cs")

    # ---- config.json mapping
    rc, pid, err = create("ro", config(["sh", "-c", "echo x > /f"], readonly=True))
    runc("start", "ro")
    code = reap(pid)
    r.check("readonly-rootfs", code not in (0, None) and "Read-only" in output("ro", ".err") and
            not os.path.exists(os.path.join(ROOTFS, "f")), f"code {code} {output('ro')}")
    runc("delete", "ro")
    host_rw = os.path.join(tmp, "host-rw")
    host_ro = os.path.join(tmp, "host-ro")
    os.makedirs(host_rw)
    os.makedirs(host_ro)
    with open(os.path.join(host_ro, "in"), "w") as f:
        f.write("from-host\n")
    mounts = [{"destination": "/data", "type": "bind", "source": host_rw, "options": ["rbind", "rw"]},
              {"destination": "/in", "type": "bind", "source": host_ro, "options": ["rbind", "ro"]}]
    rc, pid, err = create("binds", config(["sh", "-c", "cat /in/in; echo out > /data/out; echo no > /in/x"],
                                          mounts=mounts))
    runc("start", "binds")
    code = reap(pid)
    ok = (os.path.exists(os.path.join(host_rw, "out")) and open(os.path.join(host_rw, "out")).read() == "out\n"
          and not os.path.exists(os.path.join(host_ro, "x")) and "from-host" in output("binds") and code != 0)
    r.check("bind-mounts-rw-ro", ok, f"code {code} {output('binds')!r} {err}")
    runc("delete", "binds")
    prog = "x=$(head -c 16000000 /dev/zero | tr '\\0' a); echo ${#x}"
    rc, pid, err = create("mem", config(["sh", "-c", prog], resources={"memory": {"limit": 8 << 20}}))
    runc("start", "mem")
    c1 = reap(pid)
    rc, pid, err = create("mem2", config(["sh", "-c", prog], resources={"memory": {"limit": 256 << 20}}))
    runc("start", "mem2")
    c2 = reap(pid)
    # Under 8M the 16 MB string cannot be built: whichever process the limit stops (the shell,
    # or head/tr in the command substitution, leaving $x empty), the length never comes out.
    r.check("memory-limit", (c1 != 0 or output("mem") != "16000000\n") and c2 == 0 and
            output("mem2") == "16000000\n",
            f"8M: {c1} {output('mem')!r}; 256M: {c2} {output('mem2')!r}")
    runc("delete", "mem")
    runc("delete", "mem2")
    rc, pid, err = create("pids", config(["sh", "-c", "sleep 1 & sleep 1 & sleep 1 & sleep 1 & wait; echo all"],
                                         resources={"pids": {"limit": 3}}))
    runc("start", "pids")
    code = reap(pid)
    r.check("pids-limit", code != 0 and "fork" in output("pids", ".err"), f"code {code} {output('pids', '.err')!r}")
    runc("delete", "pids")
    cfg = config(["sh", "-c", "sleep 1 & sleep 1 & sleep 1 & sleep 1 & wait; echo all"])
    cfg["process"]["rlimits"].append({"type": "RLIMIT_NPROC", "soft": 3, "hard": 3})
    rc, pid, err = create("nproc", cfg)
    runc("start", "nproc")
    code = reap(pid)
    r.check("rlimit-nproc-caps-processes", code != 0 and "fork" in output("nproc", ".err"),
            f"code {code} {output('nproc', '.err')!r}")
    runc("delete", "nproc")
    big = {f"org.example.key{i}": "v" * 1000 for i in range(200)}
    rc, pid, err = create("bigann", config(["true"], annotations=big))
    st = state("bigann")
    r.check("large-annotations", rc == 0 and st.get("annotations") == big, err + str(st.get("err")))
    runc("delete", "--force", "bigann")
    reap(pid, 10) if pid else None
    rc, pid, err = create("script", config(["/bin/hello.sh", "arg1"]))
    rc2 = 1
    if rc == 0:
        rc2 = 0
    r.check("script-missing-fails", rc != 0 and "executable file not found" in err or "no such" in err.lower(), err)
    with open(os.path.join(ROOTFS, "hello.sh"), "w") as f:
        f.write("#!/bin/sh -e\necho script $0 $1\n")
    os.chmod(os.path.join(ROOTFS, "hello.sh"), 0o755)
    rc, pid, err = create("script2", config(["/hello.sh", "arg1"]))
    runc("start", "script2")
    code = reap(pid)
    r.check("shebang-script", code == 0 and output("script2") == "script /hello.sh arg1\n",
            f"{code} {output('script2')!r} {err}")
    runc("delete", "script2")
    os.unlink(os.path.join(ROOTFS, "hello.sh"))

    # network namespace: the VM's own process joins the one config.json names
    if shutil.which("ip") and subprocess.run(["ip", "netns", "add", f"kilnoci{os.getpid()}"]).returncode == 0:
        ns = f"/run/netns/kilnoci{os.getpid()}"
        rc, pid, err = create("net", config(["sleep", "5"], namespaces=[{"type": "pid"}, {"type": "network", "path": ns}]))
        same = rc == 0 and os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(ns).st_ino
        r.check("netns-path-joined", same and os.stat(f"/proc/{pid}/ns/net").st_ino != os.stat("/proc/self/ns/net").st_ino,
                err)
        runc("delete", "--force", "net")
        reap(pid, 10)
        subprocess.run(["ip", "netns", "del", f"kilnoci{os.getpid()}"])
    else:
        print("ok netns-path-joined # SKIP no ip netns")

    # ---- hooks: host programs with the state JSON on stdin
    hooklog = os.path.join(tmp, "hooks.log")
    hook = os.path.join(tmp, "hook.sh")
    with open(hook, "w") as f:
        f.write(f"#!/bin/sh\nread state\necho \"$1 $KIND $state\" >> {hooklog}\n"
                "[ \"$1\" = fail ] && { echo hook-says-no >&2; exit 3; }\n"
                "[ \"$1\" = slow ] && sleep 10\nexit 0\n")
    os.chmod(hook, 0o755)

    def hk(kind, arg="ok", timeout=None):
        h = {"path": hook, "args": ["hook.sh", arg], "env": [f"KIND={kind}"]}
        if timeout:
            h["timeout"] = timeout
        return h
    cfg = config(["true"], extra={"hooks": {k: [hk(k)] for k in ("prestart", "createRuntime", "poststart",
                                                                  "poststop")}})
    rc, pid, err = create("hooks", cfg)
    after_create = open(hooklog).read() if os.path.exists(hooklog) else ""
    runc("start", "hooks")
    reap(pid)
    after_start = open(hooklog).read()
    runc("delete", "hooks")
    lines = open(hooklog).read().splitlines()
    kinds = [l.split()[1] for l in lines]
    st0 = json.loads(lines[0].split(" ", 2)[2]) if lines else {}
    r.check("hooks-run-in-order", rc == 0 and kinds == ["prestart", "createRuntime", "poststart", "poststop"] and
            "poststart" not in after_create and "poststart" in after_start and st0.get("id") == "hooks" and
            st0.get("pid") == pid, f"{lines} {err}")
    cfg = config(["true"], extra={"hooks": {"createRuntime": [hk("createRuntime", "fail")]}})
    rc, pid, err = create("hookfail", cfg)
    r.check("hook-failure-fails-create", rc != 0 and "exit status 3" in err and "hook-says-no" in err and
            not os.path.exists(os.path.join(STATE, "hookfail")), err)
    cfg = config(["true"], extra={"hooks": {"prestart": [hk("prestart", "slow", timeout=1)]}})
    t0 = time.time()
    rc, pid, err = create("hookslow", cfg)
    r.check("hook-timeout", rc != 0 and "timed out" in err and time.time() - t0 < 8, err)
    rc, pid, err = create("hookbad", config(["true"], extra={"hooks": {"poststop": [{"path": "rel/hook"}]}}))
    r.check("hook-relative-path-refused", rc != 0 and "hooks.poststop[0].path must be absolute" in err, err)

    # ---- console socket: the master comes over SCM_RIGHTS, the process gets the slave as its tty
    sock_path = os.path.join(tmp, "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(1)
    got = {}

    def accept():
        c, _ = srv.accept()
        msg, fds, _, _ = socket.recv_fds(c, 1024, 1)
        got["fd"] = fds[0] if fds else None
        c.close()
    import threading
    t = threading.Thread(target=accept)
    t.start()
    cfg = config(["sh", "-c", "test -t 0 && test -t 1 && echo is-a-tty; read line; echo got:$line"], terminal=True)
    cfg["process"]["consoleSize"] = {"height": 30, "width": 100}
    rc, pid, err = create("tty", cfg, console=sock_path)
    t.join(10)
    master = got.get("fd")
    if r.check("console-socket-master", rc == 0 and master is not None, err):
        runc("start", "tty")
        os.write(master, b"hello\n")
        buf = b""
        end = time.time() + 20
        while time.time() < end and b"got:hello" not in buf:
            rd, _, _ = select.select([master], [], [], 0.5)
            if rd:
                try:
                    buf += os.read(master, 4096)
                except OSError:
                    break
        code = reap(pid)
        r.check("console-tty-io", b"is-a-tty" in buf and b"got:hello" in buf and code == 0, f"{buf!r} {code}")
        os.close(master)
    runc("delete", "--force", "tty")
    srv.close()
    rc, pid, err = create("tty2", config(["true"], terminal=True))
    r.check("terminal-without-socket-fails", rc != 0 and "console-socket" in err, err)

    # ---- refused: ids, duplicates, the system-VM kind, malformed config.json files
    rc, pid, err = create("dup", config(["sleep", "10"]))
    rc2, _, err2 = create("dup", config(["true"]))
    r.check("create-duplicate-id-fails", rc == 0 and rc2 != 0 and "already exists" in err2, err2)
    runc("delete", "--force", "dup")
    reap(pid, 10)
    rc, _, err = create("a..b/c", config(["true"]))
    r.check("create-bad-id-fails", rc != 0 and "invalid container id" in err, err)
    # ---- the system-VM kind: kiln's kernel boots with the rootfs over virtio-9p as /
    rc, pid, err = create("sys", config(["sh", "-c", "echo sys-$((6*7)) $FOO; grep -m1 ^isa /proc/cpuinfo; "
                                         "id -u; pwd; exit 5"],
                                        env=["PATH=/bin:/usr/bin", "FOO=bar"], cwd="/work/dir", uid=1000, gid=1000,
                                        annotations={"run.kiln.vm": "system"}))
    if r.check("system-vm-create", rc == 0 and pid, f"rc {rc}: {err.strip()}"):
        r.check("system-vm-state-created", state("sys")["status"] == "created", json.dumps(state("sys")))
        rc, _, err = runc("start", "sys")
        code = reap(pid, 180)
        out = output("sys")
        r.check("system-vm-runs-the-process-in-a-guest-kernel",
                rc == 0 and code == 5 and out.startswith("sys-42 bar\n") and "rv64" in out and
                out.endswith("1000\n/work/dir\n"), f"start rc {rc} status {code}: {out!r} {err.strip()}")
        r.check("system-vm-state-stopped", state("sys")["status"] == "stopped", json.dumps(state("sys")))
        runc("delete", "sys")
    rc, pid, err = create("sys2", config(["sleep", "120"], annotations={"run.kiln.vm": "system"}))
    if r.check("system-vm-create-2", rc == 0 and pid, err.strip()):
        runc("start", "sys2")
        time.sleep(1)
        up = state("sys2")["status"] == "running"
        rc2, _, err2 = runc("exec", "sys2", "true")
        r.check("system-vm-exec-refused", rc2 != 0 and "system-VM" in err2, err2.strip())
        rc, _, err = runc("kill", "sys2", "TERM")
        code = reap(pid, 120)
        r.check("system-vm-kill-term-ends-the-workload", up and rc == 0 and code == 143,
                f"running {up}, kill rc {rc} {err.strip()}, status {code}")
        runc("delete", "--force", "sys2")
    base = config(["true"])

    def variant(fn):
        c = json.loads(json.dumps(base))
        fn(c)
        return c
    bad = [
        ("not-json", '{"ociVersion": "1.0.2", ', "not valid JSON"),
        ("trailing-data", json.dumps(base) + " {}", "extra data"),
        ("not-object", "[1, 2]", "must be a JSON object"),
        ("unknown-top-level", variant(lambda c: c.update(proccess={})), "unknown top-level field 'proccess'"),
        ("bad-version", variant(lambda c: c.update(ociVersion="2.0.0")), "not a 1.x"),
        ("no-version", variant(lambda c: c.pop("ociVersion")), "ociVersion is required"),
        ("no-root", variant(lambda c: c.pop("root")), "root is required"),
        ("no-process", variant(lambda c: c.pop("process")), "process is required"),
        ("args-empty", variant(lambda c: c["process"].update(args=[])), "process.args must be a non-empty"),
        ("args-string", variant(lambda c: c["process"].update(args="sh")), "process.args must be an array"),
        ("args-number", variant(lambda c: c["process"].update(args=["sh", 1])), "process.args[1] must be a string"),
        ("cwd-relative", variant(lambda c: c["process"].update(cwd="tmp")), "process.cwd must be an absolute"),
        ("env-no-equals", variant(lambda c: c["process"].update(env=["PATH"])), "is not NAME=VALUE"),
        ("uid-string", variant(lambda c: c["process"]["user"].update(uid="0")), "process.user.uid must be an integer"),
        ("uid-negative", variant(lambda c: c["process"]["user"].update(uid=-1)), "out of range"),
        ("terminal-string", variant(lambda c: c["process"].update(terminal="yes")), "must be true or false"),
        ("rlimit-unknown", variant(lambda c: c["process"].update(rlimits=[{"type": "RLIMIT_FOO", "soft": 1, "hard": 1}])),
         "unknown rlimit"),
        ("rlimit-soft-above-hard", variant(lambda c: c["process"].update(rlimits=[{"type": "RLIMIT_NOFILE", "soft": 9, "hard": 1}])),
         "above the hard limit"),
        ("rlimit-duplicate", variant(lambda c: c["process"].update(rlimits=[{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1}] * 2)),
         "given twice"),
        ("mount-relative", variant(lambda c: c["mounts"].append({"destination": "data", "type": "bind", "source": "/tmp"})),
         "destination must be an absolute"),
        ("bind-no-source", variant(lambda c: c["mounts"].append({"destination": "/data", "type": "bind"})),
         "needs a source"),
        ("bind-missing-source", variant(lambda c: c["mounts"].append({"destination": "/d", "type": "bind", "source": "/nonexistent/x"})),
         "bind source /nonexistent/x"),
        ("namespace-unknown", variant(lambda c: c["linux"]["namespaces"].append({"type": "bogus"})), "unknown namespace"),
        ("namespace-duplicate", variant(lambda c: c["linux"]["namespaces"].append({"type": "pid"})), "given twice"),
        ("netns-missing", variant(lambda c: c["linux"]["namespaces"].append({"type": "network", "path": "/nonexistent/ns"})),
         "network namespace /nonexistent/ns"),
        ("memory-string", variant(lambda c: c["linux"].update(resources={"memory": {"limit": "1G"}})), "must be an integer"),
        ("annotation-number", variant(lambda c: c.update(annotations={"a": 1})), "annotations.a must be a string"),
        ("vm-kind-bad", variant(lambda c: c.update(annotations={"run.kiln.vm": "fast"})), "must be 'process' or 'system'"),
        ("windows-section", variant(lambda c: c.update(windows={})), "Linux containers only"),
        ("program-missing", variant(lambda c: c["process"].update(args=["no-such-prog"])), "executable file not found"),
        ("root-missing", variant(lambda c: c["root"].update(path="/nonexistent/rootfs")), "root.path"),
    ]
    for name, cfg, want in bad:
        rc, pid, err = create("bad-" + name, cfg)
        r.check("config-" + name, rc != 0 and want in err and not os.path.exists(os.path.join(STATE, "bad-" + name)),
                f"rc {rc}: {err.strip()!r} (want {want!r})")
        if rc == 0:
            runc("delete", "--force", "bad-" + name)

    # ---- --log --log-format json (what containerd's shim reads back), features, version
    logf = os.path.join(tmp, "log.json")
    rc, _, err = runc("start", "nope", extra=("--log", logf, "--log-format", "json"))
    lines = [json.loads(x) for x in open(logf)] if os.path.exists(logf) else []
    r.check("log-json", rc != 0 and any(x.get("level") == "error" and "nope" in x.get("msg", "") for x in lines),
            repr(lines))
    rc, out, err = runc("features")
    f = json.loads(out) if rc == 0 else {}
    r.check("features", f.get("ociVersionMin") == "1.0.0" and "linux" in f and "namespaces" in f["linux"], out + err)
    rc, out, err = runc("--version")
    r.check("version", rc == 0 and "kiln-runc version" in out and "spec:" in out, out + err)
    p = subprocess.run([os.path.join(os.path.dirname(RUNC), "kiln"), "oci", "--root", STATE, "list", "-q"],
                       capture_output=True, timeout=30)
    r.check("kiln-oci-alias", p.returncode == 0, p.stderr.decode())
finally:
    for cid in os.listdir(STATE) if os.path.isdir(STATE) else []:
        runc("delete", "--force", cid)
    shutil.rmtree(tmp, ignore_errors=True)

sys.exit(1 if r.failures else 0)
