#!/usr/bin/env python3
"""virtio-balloon, free page reporting, the control socket and graceful powerdown (issue #5).

Boots the default guest with --mem 512M --control SOCK, makes the guest touch and free
200 MiB and checks that kiln's RSS comes back down (free page reporting), balloons the
guest down to 128 MiB and back, sends hostile control requests, then powers the guest
off through the control socket and through SIGTERM.
"""
import json
import os
import signal
import socket
import tempfile
import time

from kiln_guest import Guest, GuestError, Report

rep = Report()
tmp = tempfile.mkdtemp(prefix="kiln-balloon-")


def ctl_raw(path, data, timeout=10):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    s.sendall(data)
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    s.close()
    return buf.decode()


def ctl(path, obj):
    return json.loads(ctl_raw(path, (json.dumps(obj) + "\n").encode()))


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return -1


def wait_until(pred, timeout, step=0.5):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def guest_free_mib(g):
    # busybox free -m: "Mem: total used free shared buff/cache available"
    for line in g.run("free -m").split("\n"):
        if line.startswith("Mem:"):
            f = line.split()
            return int(f[1]), int(f[2]), int(f[3])
    return None


def balloon_case():
    sock = os.path.join(tmp, "control.sock")
    g = Guest("--mem", "512M", "--control", sock)
    try:
        secs = g.boot(timeout=300)
        print("# shell after %.1f s" % secs, flush=True)
        pid = g.vm_pid
        rep.check("control socket is mode 0600", (os.stat(sock).st_mode & 0o777) == 0o600,
                  oct(os.stat(sock).st_mode))
        st = ctl(sock, {"cmd": "stats"})
        rep.check("stats: ram and a running balloon driver",
                  st.get("ram_mib") == 512 and st.get("balloon", {}).get("driver") is True, str(st))

        # Free page reporting: touch 200 MiB in tmpfs, free it, RSS must come back down.
        base = rss_mib(pid)
        g.run("dd if=/dev/zero of=/tmp/big bs=1M count=200 2>/dev/null", timeout=120)
        high = rss_mib(pid)
        g.run("rm /tmp/big")
        low = wait_until(lambda: (rss_mib(pid) < base + 0.4 * (high - base)) and rss_mib(pid), 40)
        low = rss_mib(pid)
        print("# RSS: %.0f MiB after boot, %.0f MiB with 200 MiB touched, %.0f MiB after free page "
              "reporting" % (base, high, low), flush=True)
        rep.check("touching 200 MiB raises RSS", high - base > 150, "%.0f -> %.0f" % (base, high))
        rep.check("free page reporting gives most of it back",
                  low < base + 0.4 * (high - base), "base %.0f high %.0f low %.0f" % (base, high, low))

        # Balloon down to 128 MiB.
        r = ctl(sock, {"cmd": "balloon", "target_mib": 128})
        rep.check("balloon 128 accepted", r.get("ok") is True, str(r))
        got = wait_until(lambda: ctl(sock, {"cmd": "stats"})["balloon"]["actual_mib"] >= 384, 60)
        st = ctl(sock, {"cmd": "stats"})
        rep.check("balloon inflates to 384 MiB", bool(got), str(st))
        total, used, free = guest_free_mib(g)
        print("# guest free -m at 128 MiB: total %d used %d free %d; RSS %.0f MiB" %
              (total, used, free, rss_mib(pid)), flush=True)
        # With DEFLATE_ON_OOM Linux keeps MemTotal and counts the balloon as used memory.
        rep.check("guest's free memory drops below the target", free < 128 and used >= 350,
                  "total %d used %d free %d" % (total, used, free))
        rep.check("RSS stays low while ballooned", rss_mib(pid) < base + 64,
                  "%.0f MiB (base %.0f)" % (rss_mib(pid), base))
        rep.check("the guest still runs", g.run("echo alive") == "alive")

        # Hostile requests: errors, and the VM keeps running.
        bad = [b"{\"cmd\":\"balloon\",\"target_mib\":999999}\n", b"{\"cmd\":\"balloon\",\"target_mib\":-1}\n",
               b"{\"cmd\":\"balloon\"}\n", b"{\"cmd\":\"nope\"}\n", b"not json\n", b"{\"cmd\":[1]}\n",
               b"{\"cmd\":\"stats\",\"cmd\":\"quit\"}\n", b"x" * 10000 + b"\n", b"\xff\xfe\x00\n",
               b"{\"cmd\":\"stats\"} trailing\n"]
        answers = [ctl_raw(sock, b) for b in bad]
        rep.check("hostile requests get errors",
                  all(json.loads(a).get("error") for a in answers), repr(answers))
        rep.check("the VM survives hostile requests", g.proc.poll() is None and g.run("echo alive") == "alive")

        # Back up to 512 MiB: the guest can use the memory again.
        r = ctl(sock, {"cmd": "balloon", "target_mib": 512})
        got = wait_until(lambda: ctl(sock, {"cmd": "stats"})["balloon"]["actual_mib"] == 0, 60)
        rep.check("balloon deflates to 0", bool(got) and r.get("ok") is True, str(ctl(sock, {"cmd": "stats"})))
        total, used, free = guest_free_mib(g)
        rep.check("guest has its memory back", free > 400, "free %d" % free)
        out = g.run("dd if=/dev/zero of=/tmp/big bs=1M count=200 2>&1 | tail -1; rm /tmp/big", timeout=120)
        rep.check("guest can fill 200 MiB after deflating", "209715200" in out or "200.0" in out, out)

        # Graceful powerdown through the control socket.
        t0 = time.monotonic()
        r = ctl(sock, {"cmd": "powerdown"})
        rc = g.wait(30)
        rep.check("powerdown: kiln exits 0 within a few seconds",
                  r.get("ok") is True and rc == 0 and time.monotonic() - t0 < 15,
                  "answer %s, exit %s after %.1f s" % (r, rc, time.monotonic() - t0))
        rep.check("control socket removed at exit", not os.path.exists(sock))
    except GuestError as e:
        rep.check("balloon: guest boots and answers", False, str(e)[-2000:])
    finally:
        g.kill()


def sigterm_case():
    g = Guest("--mem", "128M")
    try:
        g.boot(timeout=300)
        t0 = time.monotonic()
        g.proc.send_signal(signal.SIGTERM)
        rc = g.wait(40)
        rep.check("SIGTERM: the guest powers off, exit 0",
                  rc == 0 and "asking the guest to power off" in g.stderr,
                  "exit %s after %.1f s, stderr %r" % (rc, time.monotonic() - t0, g.stderr[-300:]))
        print("# SIGTERM to exit: %.1f s" % (time.monotonic() - t0), flush=True)
    except GuestError as e:
        rep.check("SIGTERM: guest boots", False, str(e)[-2000:])
    finally:
        g.kill()

    g = Guest("--mem", "128M")
    try:
        g.boot(timeout=300)
        g.proc.send_signal(signal.SIGTERM)
        time.sleep(0.05)
        g.proc.send_signal(signal.SIGTERM)
        rc = g.wait(20)
        rep.check("second SIGTERM stops at once with 143", rc == 143, "exit %s" % rc)
    except GuestError as e:
        rep.check("double SIGTERM: guest boots", False, str(e)[-2000:])
    finally:
        g.kill()

    # A guest that ignores SysRq: SIGTERM's 30 s grace ends in an immediate stop (143).
    g = Guest("--mem", "128M")
    try:
        g.boot(timeout=300)
        g.run("echo 0 > /proc/sys/kernel/sysrq")
        t0 = time.monotonic()
        g.proc.send_signal(signal.SIGTERM)
        rc = g.wait(60)
        took = time.monotonic() - t0
        rep.check("SIGTERM to a guest that ignores SysRq: 143 after the 30 s grace",
                  rc == 143 and 29 <= took <= 40, "exit %s after %.1f s" % (rc, took))
    except GuestError as e:
        rep.check("SysRq off: guest boots", False, str(e)[-2000:])
    finally:
        g.kill()


balloon_case()
sigterm_case()
rep.exit()
