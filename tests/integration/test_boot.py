#!/usr/bin/env python3
"""Boots the default Linux guest and checks it the way issue #3 asks."""
import re

from kiln_guest import Guest, GuestError, Report

rep = Report()


def boot_and_check(name, cpus, mem, checks):
    g = Guest("--cpus", str(cpus), "--mem", mem)
    try:
        secs = g.boot(timeout=300)
        print("# %s: shell after %.1f s" % (name, secs), flush=True)
        checks(g)
        g.send("poweroff\n")
        rc = g.wait(60)
        rep.check(name + ": poweroff exits 0", rc == 0, "exit %s, stderr %s" % (rc, getattr(g, "stderr", "")))
    except GuestError as e:
        rep.check(name + ": boots to a shell", False, str(e)[-2000:])
    finally:
        g.kill()


def basic(g):
    rep.check("uname -m is riscv64", g.run("uname -m") == "riscv64")
    rep.check("nproc is 1", g.run("nproc") == "1")
    out = g.run("echo kiln-was-here > /tmp/f && cat /tmp/f")
    rep.check("file in /tmp reads back", out == "kiln-was-here", repr(out))
    # Linux 6.1 prints the extensions it knows from the device tree's riscv,isa (issue 11).
    isa = g.run("grep -m1 '^isa' /proc/cpuinfo")
    for ext in ("zicbom", "zihintpause", "svpbmt", "svinval", "sstc"):
        rep.check("/proc/cpuinfo isa has " + ext, ext in isa.split(":")[-1].strip().split("_"), repr(isa))


boot_and_check("1 cpu", 1, "256M", basic)

for n in (2, 4):
    boot_and_check("%d cpus" % n, n, "256M",
                   lambda g, n=n: rep.check("nproc is %d" % n, g.run("nproc") == str(n)))


def mem_check(want_mib):
    def check(g):
        out = g.run("free -m | grep Mem:")
        total = int(out.split()[1]) if out.split()[1:] else 0
        # The kernel keeps some for itself and OpenSBI reserves 512K; allow 20% slack below.
        rep.check("free shows ~%d MiB" % want_mib, want_mib * 0.8 <= total <= want_mib, out)
    return check


boot_and_check("64M", 1, "64M", mem_check(64))
boot_and_check("2G", 1, "2G", mem_check(2048))

# `reboot` restarts the guest in the same kiln process; poweroff afterwards still exits 0.
g = Guest("--mem", "128M")
try:
    g.boot(timeout=300)
    g.send("reboot\n")
    g.expect("kiln-init: ready", 300)
    g.boot(timeout=120)
    rep.check("guest reboots to a shell again", g.run("echo back") == "back")
    g.send("poweroff\n")
    rep.check("poweroff after reboot exits 0", g.wait(60) == 0)
except GuestError as e:
    rep.check("reboot", False, str(e)[-2000:])
finally:
    g.kill()

# A forced kernel panic must end kiln with a non-zero status and a one-line reason.
g = Guest("--mem", "128M")
try:
    g.boot(timeout=300)
    g.send("echo c > /proc/sysrq-trigger\n")
    rc = g.wait(120)
    rep.check("panic gives non-zero status", rc != 0, "exit %s" % rc)
    rep.check("panic reason on stderr", "panic" in g.stderr.lower(), g.stderr)
except GuestError as e:
    rep.check("panic", False, str(e)[-2000:])
finally:
    g.kill()

rep.exit()
