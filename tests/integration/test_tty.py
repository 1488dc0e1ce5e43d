#!/usr/bin/env python3
"""The console on a real terminal (a pty): raw mode while kiln runs, Ctrl-A h prints help,
Ctrl-A x quits with status 0, and the terminal settings are restored afterwards."""
import os
import pty
import select
import signal
import subprocess
import sys
import tempfile
import termios
import time

sys.path.insert(0, os.path.dirname(__file__))
from kiln_guest import KILN, Report

rep = Report()
tmp = tempfile.mkdtemp(prefix="kiln-tty-")
src, elf = os.path.join(tmp, "spin.S"), os.path.join(tmp, "spin.elf")
with open(src, "w") as f:
    f.write(".globl _start\n_start: wfi\n j _start\n")
ld = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "guest", "link.ld")
subprocess.run(["riscv64-linux-gnu-gcc", "-nostdlib", "-nostartfiles", "-static",
                "-Wl,--build-id=none", "-T", ld, "-o", elf, src], check=True)

master, slave = pty.openpty()
before = termios.tcgetattr(slave)
proc = subprocess.Popen([KILN, "run", "--firmware", elf], stdin=slave, stdout=slave,
                        stderr=slave, close_fds=True)


def read_for(secs):
    out = b""
    end = time.monotonic() + secs
    while time.monotonic() < end:
        r, _, _ = select.select([master], [], [], 0.1)
        if r:
            try:
                out += os.read(master, 4096)
            except OSError:
                break
    return out.decode(errors="replace")


time.sleep(1.0)
during = termios.tcgetattr(slave)
rep.check("terminal is in raw mode while kiln runs",
          not (during[3] & termios.ICANON) and not (during[3] & termios.ECHO))
os.write(master, b"\x01h")
rep.check("Ctrl-A h prints the console keys", "x" in read_for(1.5).lower())
os.write(master, b"\x01x")
try:
    rc = proc.wait(10)
except subprocess.TimeoutExpired:
    proc.kill()
    rc = None
rep.check("Ctrl-A x quits with status 0", rc == 0, "status %s" % rc)
after = termios.tcgetattr(slave)
rep.check("terminal settings restored", after == before)

# A SIGTERM on a firmware that never reads the serial port stops at once, and also restores.
proc = subprocess.Popen([KILN, "run", "--firmware", elf], stdin=slave, stdout=slave,
                        stderr=slave, close_fds=True)
time.sleep(1.0)
proc.terminate()
try:
    rc = proc.wait(40)
except subprocess.TimeoutExpired:
    proc.kill()
    rc = None
rep.check("SIGTERM ends kiln with 143", rc == 143, "status %s" % rc)
rep.check("terminal settings restored after SIGTERM", termios.tcgetattr(slave) == before)

# A hang-up (SIGHUP, the terminal closed) never ends the VM (issue 15): it keeps running
# and still answers its console; Ctrl-A x still quits it.
proc = subprocess.Popen([KILN, "run", "--firmware", elf], stdin=slave, stdout=slave,
                        stderr=slave, close_fds=True)
time.sleep(1.0)
proc.send_signal(signal.SIGHUP)
time.sleep(1.5)
rep.check("SIGHUP leaves the VM running", proc.poll() is None, "status %s" % proc.poll())
read_for(0.3)
os.write(master, b"\x01h")
rep.check("the console still answers after SIGHUP", "x" in read_for(1.5).lower())
os.write(master, b"\x01x")
try:
    rc = proc.wait(10)
except subprocess.TimeoutExpired:
    proc.kill()
    rc = None
rep.check("Ctrl-A x after SIGHUP quits with status 0", rc == 0, "status %s" % rc)
rep.exit()
