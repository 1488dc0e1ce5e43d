#!/usr/bin/env python3
"""The jail around VM processes (issue 9, docs/jail.md): a jailed `kiln run` runs as an
unprivileged uid with no capabilities, no_new_privs and seccomp on every thread (a second,
stricter filter on hart threads), sees only its minimal root, and a forbidden system call
stops it with the documented message and status; user networking keeps the host's
loopback closed unless host-loopback=on; the daemon gives each VM memory and pids limits
and reports an out-of-memory kill as a crash.

Env: KILN (build/kiln), KILN_CACHE (guest cache).
"""
import http.server
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from kiln_guest import KILN, Guest, GuestError, Report

rep = Report()
tmp = tempfile.mkdtemp(prefix="kiln-jail-")
CACHE = os.path.join(os.environ.get("KILN_CACHE", os.path.expanduser("~/.cache/kiln")), "guest")
ROOT = os.geteuid() == 0
SECCOMP_STATUS = 159
MSG = re.compile(r"kiln: seccomp: forbidden system call \d+ \((\w+)\) in (.*?);")


def skip(name, why):
    print("ok %s # skip %s" % (name, why), flush=True)


def status_fields(path):
    out = {}
    try:
        with open(path) as f:
            for line in f:
                k, _, v = line.partition(":")
                out[k] = v.strip()
    except OSError:
        pass
    return out


def threads(pid):
    """{tid: status fields} of every thread of pid."""
    res = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        res[int(tid)] = status_fields("/proc/%d/task/%s/status" % (pid, tid))
    return res


def root_files(pid):
    """Every path below /proc/PID/root except its /proc/self bind (the process's own files)."""
    base = "/proc/%d/root" % pid
    found = []
    for d, dirs, files in os.walk(base):
        rel = os.path.relpath(d, base)
        if rel == "proc":
            dirs[:] = []
            found.append("/proc/" + ",".join(sorted(os.listdir(d))))
            continue
        for f in files:
            found.append(os.path.normpath("/" + os.path.join(rel, f)))
    return sorted(found)


def read(path):
    try:
        return open(path).read().strip()
    except OSError:
        return None


def wait_for(pred, timeout):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    return pred()


def selftest(kind):
    env = dict(os.environ, KILN_JAIL_SELFTEST=kind)
    p = subprocess.run([KILN, "run"], env=env, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=60)
    return p.returncode, p.stderr


def boot(args, body, name):
    g = Guest(*args)
    try:
        g.boot(120)
        body(g)
        g.send("poweroff\n")
        rc = g.wait(60)
        rep.check(name + ": poweroff exits 0", rc == 0, "status %s\n%s" % (rc, g.stderr[-500:]))
    except GuestError as e:
        rep.check(name, False, str(e)[-1500:])
    finally:
        g.kill()
    return g


# ---- the jailed process ----

def jailed(g):
    pid = g.vm_pid
    time.sleep(0.5)
    ts = threads(pid)
    main = ts[pid]
    if ROOT:
        rep.check("jailed kiln run: uid/gid 65534", main.get("Uid", "").split() == ["65534"] * 4
                  and main.get("Gid", "").split() == ["65534"] * 4, str(main.get("Uid")))
        rep.check("jailed kiln run: no capabilities in any thread",
                  all(t.get("CapEff") == "0000000000000000" and t.get("CapPrm") == "0000000000000000"
                      for t in ts.values()), str([t.get("CapEff") for t in ts.values()]))
        rep.check("jailed kiln run: one supplementary group list, empty",
                  main.get("Groups", "x") == "", main.get("Groups"))
        files = root_files(pid)
        want = sorted([os.path.join(CACHE, "Image"), os.path.join(CACHE, "initramfs.cpio.gz"),
                       os.path.join(CACHE, "fw_dynamic.bin")])
        got = [f for f in files if not f.startswith("/proc/")]
        rep.check("jailed kiln run: its root holds only the boot images and /proc/self",
                  got == want and any(f.startswith("/proc/self") for f in files), str(files))
        rep.check("jailed kiln run: no /etc, /dev or /tmp in its root",
                  not any(os.path.exists("/proc/%d/root/%s" % (pid, d)) for d in ("etc", "dev", "tmp", "usr")))
        rep.check("jailed kiln run: own mount, IPC and UTS namespaces",
                  all(os.readlink("/proc/%d/ns/%s" % (pid, n)) != os.readlink("/proc/self/ns/" + n)
                      for n in ("mnt", "ipc", "uts")))
        rep.check("jailed kiln run: a VM without a NIC gets its own network namespace",
                  os.readlink("/proc/%d/ns/net" % pid) != os.readlink("/proc/self/ns/net"))
        rep.check("jailed kiln run: the VM is pid 1 of its own pid namespace",
                  main.get("NSpid", "").split()[-1:] == ["1"] and
                  os.readlink("/proc/%d/ns/pid" % pid) != os.readlink("/proc/self/ns/pid"), str(main.get("NSpid")))
        keeper = status_fields("/proc/%d/status" % g.proc.pid)
        rep.check("jailed kiln run: the process started is its keeper, under seccomp and no_new_privs",
                  pid != g.proc.pid and keeper.get("Name") == "kiln-keeper" and keeper.get("Seccomp") == "2"
                  and keeper.get("NoNewPrivs") == "1" and keeper.get("Threads") == "1", str(keeper))
    else:
        skip("jailed kiln run: uid, root and namespaces", "not root")
    rep.check("jailed kiln run: NoNewPrivs and seccomp on every thread",
              all(t.get("NoNewPrivs") == "1" and t.get("Seccomp") == "2" for t in ts.values()),
              str([(t.get("Name"), t.get("NoNewPrivs"), t.get("Seccomp")) for t in ts.values()]))
    nfilters = sorted(int(t.get("Seccomp_filters", "0")) for t in ts.values())
    rep.check("jailed kiln run: hart threads carry a second filter",
              nfilters.count(2) >= 1 and nfilters.count(1) >= 1, str(nfilters))
    lim = open("/proc/%d/limits" % pid).read()
    core = re.search(r"Max core file size\s+(\S+)\s+(\S+)", lim)
    nofile = re.search(r"Max open files\s+(\S+)\s+(\S+)", lim)
    rep.check("jailed kiln run: no core dumps, a descriptor cap",
              core and core.groups() == ("0", "0") and nofile and int(nofile.group(2)) < 1024, lim)
    # SIGUSR1 still dumps the harts (read from stderr at exit).
    g.proc.send_signal(signal.SIGUSR1)
    # The guest still works: files, time, randomness.
    out = g.run("echo jailed > /tmp/f && cat /tmp/f && head -c 8 /dev/hwrng | wc -c")
    rep.check("jailed guest works (files, hwrng)", "jailed" in out and "8" in out, out)


g_jailed = boot([], jailed, "jailed kiln run")
rep.check("jailed kiln run: SIGUSR1 dumps every hart", g_jailed and "hart 0: pc=0x" in g_jailed.stderr,
          (g_jailed.stderr if g_jailed else "")[-300:])

if ROOT:
    def other_user(g):
        st = status_fields("/proc/%d/status" % g.vm_pid)
        rep.check("--user 4321:4322 runs the VM as that uid/gid",
                  st.get("Uid", "").split()[0] == "4321" and st.get("Gid", "").split()[0] == "4322", str(st.get("Uid")))
    boot(["--user", "4321:4322"], other_user, "--user")

    def unjailed(g):
        st = status_fields("/proc/%d/status" % g.proc.pid)
        rep.check("--no-jail: root, no seccomp, host root",
                  st.get("Uid", "").split()[0] == "0" and st.get("Seccomp") == "0" and
                  os.path.exists("/proc/%d/root/etc" % g.proc.pid), str(st))
    boot(["--no-jail"], unjailed, "--no-jail")

def noseccomp(g):
    st = status_fields("/proc/%d/status" % g.vm_pid)
    rep.check("--no-seccomp: no filter, still no_new_privs", st.get("Seccomp") == "0" and st.get("NoNewPrivs") == "1", str(st))
boot(["--no-seccomp"], noseccomp, "--no-seccomp")

# ---- the pid namespace's keeper: signals reach the VM, its death ends the VM ----

if ROOT:
    def keeper_case(name, body):
        g = Guest()
        try:
            g.boot(120)
            body(g)
        except (GuestError, OSError) as e:
            rep.check(name, False, str(e)[-1500:])
        finally:
            g.kill()

    def keeper_term(g):
        vm = g.vm_pid
        g.proc.send_signal(signal.SIGTERM)  # to the keeper only: it relays
        rc = g.wait(60)
        rep.check("SIGTERM to the keeper powers the guest off (relayed once, not twice)",
                  rc == 0 and "asking the guest to power off" in g.stderr and "Power down" in g.log,
                  "status %s, stderr %r" % (rc, g.stderr[-300:]))
        rep.check("the VM process is gone with it", vm != g.proc.pid and not os.path.exists("/proc/%d" % vm))
    keeper_case("keeper relays SIGTERM", keeper_term)

    def keeper_killed(g):
        vm = g.vm_pid
        g.proc.kill()
        g.proc.wait()
        gone = wait_for(lambda: not os.path.exists("/proc/%d/status" % vm) or
                        status_fields("/proc/%d/status" % vm).get("State", "").startswith("Z"), 10)
        rep.check("kill -9 of the keeper ends the VM (no VM left behind)", vm != g.proc.pid and gone)
    keeper_case("keeper killed", keeper_killed)

# ---- the control socket leaves with kiln, even when its whole process group is signalled ----

sock = os.path.join(tmp, "ctl.sock")
p = subprocess.Popen([KILN, "run", "--control", sock], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     stderr=subprocess.DEVNULL, start_new_session=True)
up = wait_for(lambda: status_fields("/proc/%d/status" % p.pid).get("Seccomp") == "2" and os.path.exists(sock), 30)
os.killpg(p.pid, signal.SIGINT)  # as Ctrl-C on a terminal: kiln and every process of its group
try:
    rc = p.wait(30)
except subprocess.TimeoutExpired:
    p.kill()
    rc = None
rep.check("control socket removed at exit after SIGINT to kiln's process group",
          up and rc == 128 + signal.SIGINT and not os.path.exists(sock), "up %s, status %s" % (up, rc))

# ---- a forbidden system call ----

for kind, call, where in (("main", "ptrace", "main thread"), ("hart", "openat", "hart 0")):
    rc, err = selftest(kind)
    m = MSG.search(err)
    rep.check("forbidden %s in the %s stops kiln with status %d and says so" % (call, where, SECCOMP_STATUS),
              rc == SECCOMP_STATUS and m and m.group(1) == call and m.group(2) == where,
              "status %s, stderr %r" % (rc, err[-300:]))

# ---- kiln exec ----

BUSYBOX = os.path.join(CACHE, "busybox")
if os.path.exists(BUSYBOX):
    exe_dir = os.path.join(tmp, "bin")
    os.makedirs(exe_dir, exist_ok=True)
    sleep_exe = os.path.join(exe_dir, "sleep")  # busybox picks its applet from argv[0]
    with open(BUSYBOX, "rb") as src, open(sleep_exe, "wb") as dst:
        dst.write(src.read())
    os.chmod(sleep_exe, 0o755)

    def exec_status(env_extra):
        env = dict(os.environ, **env_extra)
        p = subprocess.Popen([KILN, "exec", sleep_exe, "3"], env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        st = wait_for(lambda: (lambda f: f if f.get("Seccomp") == "2" else None)(
            status_fields("/proc/%d/status" % p.pid)), 10) or status_fields("/proc/%d/status" % p.pid)
        lim = read("/proc/%d/limits" % p.pid) or ""
        p.wait(30)
        return st, lim

    st, lim = exec_status({})
    rep.check("kiln exec: no_new_privs, seccomp, no core dumps",
              st.get("NoNewPrivs") == "1" and st.get("Seccomp") == "2" and
              re.search(r"Max core file size\s+0\s+0", lim), "%s %s" % (st.get("Seccomp"), lim))
    st, lim = exec_status({"KILN_JAIL": "off"})
    rep.check("kiln exec: KILN_JAIL=off runs without the filter", st.get("Seccomp") == "0", str(st.get("Seccomp")))
    p = subprocess.run([KILN, "exec", sleep_exe, "0"], env=dict(os.environ, KILN_JAIL_SELFTEST="exec"),
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    m = MSG.search(p.stderr)
    rep.check("kiln exec: a forbidden ptrace stops it with status %d and says so" % SECCOMP_STATUS,
              p.returncode == SECCOMP_STATUS and m and m.group(1) == "ptrace" and m.group(2) == "process VM",
              "status %s, stderr %r" % (p.returncode, p.stderr[-300:]))
else:
    skip("kiln exec jail", "no busybox in " + CACHE)

# ---- user networking: the host's loopback ----


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"host-loopback-secret\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
port = server.server_address[1]
threading.Thread(target=server.serve_forever, daemon=True).start()


def fetch(g):
    g.run("i=0; while [ $i -lt 60 ] && ! ip -4 addr show eth0 | grep -q inet; do sleep 0.5; i=$((i+1)); done",
          timeout=60)
    return g.run("wget -q -T 10 -O - http://10.0.2.2:%d/ 2>&1; echo rc=$?" % port, timeout=60)


def closed(g):
    if ROOT:
        files = [f for f in root_files(g.vm_pid) if not f.startswith("/proc/")]
        rep.check("--net user: the jail's root adds only /etc/resolv.conf (DNS forwarding)",
                  "/etc/resolv.conf" in files and len(files) == 4, str(files))
    out = fetch(g)
    rep.check("user networking: a 127.0.0.1 listener is refused through 10.0.2.2 by default",
              "host-loopback-secret" not in out and "rc=0" not in out, out)


def opened(g):
    out = fetch(g)
    rep.check("user networking: host-loopback=on reaches the 127.0.0.1 listener",
              "host-loopback-secret" in out and "rc=0" in out, out)


boot(["--net", "user"], closed, "host loopback closed")
boot(["--net", "user,host-loopback=on"], opened, "host loopback open")
server.shutdown()

# ---- a tap device, opened before the jail (in a throwaway network namespace) ----

if ROOT and subprocess.run(["sh", "-c", "command -v ip"], capture_output=True).returncode == 0:
    ns = "kiln-jail-%d" % os.getpid()
    tap = ("kjt%d" % os.getpid())[:15]
    setup = ["ip netns add %s" % ns, "ip -n %s tuntap add dev %s mode tap" % (ns, tap),
             "ip -n %s addr add 192.168.77.1/24 dev %s" % (ns, tap), "ip -n %s link set %s up" % (ns, tap)]
    ok = all(subprocess.run(c.split(), capture_output=True).returncode == 0 for c in setup)
    if ok:
        import kiln_guest
        # kiln runs inside the namespace that holds the tap device: a wrapper as "the binary".
        wrapper = os.path.join(tmp, "kiln-in-netns")
        with open(wrapper, "w") as f:
            f.write('#!/bin/sh\nexec ip netns exec %s %s "$@"\n' % (ns, KILN))
        os.chmod(wrapper, 0o755)
        saved, kiln_guest.KILN = kiln_guest.KILN, wrapper

        def tap_ping(g):
            out = g.run("ip addr add 192.168.77.2/24 dev eth0; ip link set eth0 up; "
                        "ping -c 2 -W 5 192.168.77.1 >/dev/null 2>&1; echo rc=$?", timeout=60)
            rep.check("jailed kiln run: tap networking works", "rc=0" in out, out)

        boot(["--net", "tap:" + tap], tap_ping, "tap")
        kiln_guest.KILN = saved
    else:
        skip("jailed kiln run: tap networking works", "cannot create a tap device in a network namespace")
    subprocess.run(["ip", "netns", "del", ns], capture_output=True)
else:
    skip("jailed kiln run: tap networking works", "needs root and iproute2")

# ---- the daemon: memory and pids limits, out-of-memory kills ----

VMM_ALLOWANCE_MIB = 192  # src/daemon/cgroup.h, docs/jail.md
PIDS_SPARE = 32


class Daemon:
    def __init__(self, tag, extra_env=None):
        self.state = os.path.join(tmp, "state-" + tag)
        self.env = dict(os.environ, KILN_STATE_DIR=self.state, **(extra_env or {}))
        self.sock = os.path.join(self.state, "kiln.sock")

    def kiln(self, *args):
        p = subprocess.run([KILN] + list(args), env=self.env, capture_output=True, text=True,
                           timeout=60, stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout + p.stderr

    def get(self, name, path=None):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect(self.sock)
        path = path or "/v1/vms/" + name
        s.sendall(b"GET %s HTTP/1.1\r\nHost: kiln\r\nContent-Length: 0\r\n\r\n" % path.encode())
        out = b""
        while True:
            c = s.recv(65536)
            if not c:
                break
            out += c
        s.close()
        try:
            return json.loads(out.partition(b"\r\n\r\n")[2])
        except ValueError:
            return {}

    def console(self, name, command, want, timeout=60):
        """Types command on the VM's console once its shell answers; returns what it printed."""
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(2)
        s.connect(self.sock)
        s.sendall(b"GET /v1/vms/%s/console HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: kiln-console\r\n\r\n" % name.encode())
        buf, end, sent = b"", time.time() + timeout, False
        while time.time() < end:
            if not sent and b"~ # " in buf:
                s.sendall(command.encode() + b"\n")
                sent = True
            elif not sent:
                s.sendall(b"\n")
            try:
                c = s.recv(65536)
            except socket.timeout:
                c = b"."
            if not c:
                break
            buf += c
            if sent and want(buf):
                break
        s.close()
        return buf

    def stop(self):
        try:
            pid = self.get(None, "/v1/host").get("daemon_pid")
        except OSError:
            pid = 0
        for d in os.listdir(os.path.join(self.state, "vms")) if os.path.isdir(os.path.join(self.state, "vms")) else []:
            self.kiln("kill", d)
        if pid:
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass


def cgroup_of(pid, controller):
    for line in open("/proc/%d/cgroup" % pid):
        _, ctrls, path = line.strip().split(":", 2)
        if controller in ctrls.split(","):
            return "/sys/fs/cgroup/%s%s" % (controller, path)
        if ctrls == "" and os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
            return "/sys/fs/cgroup" + path
    return None


if not ROOT or not os.path.isdir("/sys/fs/cgroup/memory") and not os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
    skip("daemon VM cgroup limits", "needs root and a memory cgroup controller")
else:
    tag = str(os.getpid())
    d = Daemon("limits")
    name = "jail-lim-" + tag
    try:
        rc, out = d.kiln("create", name, "--mem", "128M", "--cpus", "2")
        rc2, out2 = d.kiln("start", name)
        pid = wait_for(lambda: d.get(name).get("pid"), 30)
        rep.check("daemon starts a jailed VM", rc == 0 and rc2 == 0 and pid, out + out2)
        if pid:
            # vm.pid names the child right after fork; it joins its groups before it execs kiln run.
            wait_for(lambda: status_fields("/proc/%d/status" % pid).get("Seccomp") == "2", 30)
            mem = cgroup_of(pid, "memory")
            pids = cgroup_of(pid, "pids")
            v1 = mem and os.path.exists(os.path.join(mem, "memory.limit_in_bytes"))
            lim = read(os.path.join(mem, "memory.limit_in_bytes" if v1 else "memory.max")) if mem else None
            rep.check("daemon VM: memory limit is RAM + %d MiB in its own cgroup" % VMM_ALLOWANCE_MIB,
                      mem and mem.endswith("/kiln/" + name) and lim == str((128 + VMM_ALLOWANCE_MIB) << 20),
                      "%s: %s" % (mem, lim))
            pmax = read(os.path.join(pids, "pids.max")) if pids else None
            rep.check("daemon VM: pids limit is harts + %d" % PIDS_SPARE,
                      pids and pids.endswith("/kiln/" + name) and pmax == str(2 + PIDS_SPARE), "%s: %s" % (pids, pmax))
            st = status_fields("/proc/%d/status" % pid)
            rep.check("daemon VM runs jailed (uid 65534, seccomp)",
                      st.get("Uid", "").split()[:1] == ["65534"] and st.get("Seccomp") == "2", str(st))
        d.kiln("kill", name)
        wait_for(lambda: d.get(name).get("state") in ("stopped", "crashed"), 30)
        d.kiln("rm", name)
    finally:
        d.stop()

    # Out of memory: a small cgroup limit and a guest that fills its RAM.
    oom_mib = 96
    d = Daemon("oom", {"KILN_CGROUP_MEM_LIMIT_MIB": str(oom_mib)})
    name = "jail-oom-" + tag
    try:
        d.kiln("create", name, "--mem", "256M")
        d.kiln("start", name)
        d.console(name, "dd if=/dev/zero of=/tmp/fill bs=1M count=220", lambda b: False, timeout=90)
        v = wait_for(lambda: d.get(name) if d.get(name).get("state") == "crashed" else None, 60) or d.get(name)
        text = json.dumps(v)
        rep.check("daemon reports an out-of-memory kill as crashed with the cgroup limit",
                  v.get("state") == "crashed" and "out of memory (cgroup limit %d MiB)" % oom_mib in text, text[-600:])
        d.kiln("rm", name)
    finally:
        d.stop()

rep.exit()
