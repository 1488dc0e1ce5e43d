#!/usr/bin/env python3
"""Boots the cached default guest under QEMU (TCG) and checks its contract.

Checks: the shell works (uname -m, nproc == 2), `poweroff` and `exit` power
the machine off, `echo c > /proc/sysrq-trigger` panics, and
`kiln.run=poweroff` powers off right after "kiln-init: ready".

Usage: guest/smoke-qemu.py [CACHE_GUEST_DIR]   (default ~/.cache/kiln/guest)
This is a check of the guest image against a reference machine, not of kiln.
"""
import os
import select
import subprocess
import sys
import time

GUEST = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.environ.get("KILN_CACHE", os.path.expanduser("~/.cache/kiln")), "guest")
READY = "kiln-init: ready"
PROMPT = "~ # "


class Guest:
    def __init__(self, append="console=ttyS0"):
        cmd = ["qemu-system-riscv64", "-M", "virt", "-m", "256M", "-smp", "2",
               "-nographic", "-no-reboot",
               "-bios", os.path.join(GUEST, "fw_dynamic.bin"),
               "-kernel", os.path.join(GUEST, "Image"),
               "-initrd", os.path.join(GUEST, "initramfs.cpio.gz"),
               "-append", append]
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT)
        self.out = ""
        self.start = time.monotonic()

    def expect(self, text, timeout=120):
        """Read console output until `text` appears after the read mark."""
        deadline = time.monotonic() + timeout
        while text not in self.out:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {text!r}; output:\n{self.out}")
            r, _, _ = select.select([self.p.stdout], [], [], left)
            if r:
                chunk = os.read(self.p.stdout.fileno(), 4096)
                if not chunk:
                    raise AssertionError(f"qemu exited waiting for {text!r}; output:\n{self.out}")
                self.out += chunk.decode(errors="replace")
        i = self.out.index(text) + len(text)
        seen, self.out = self.out[:i], self.out[i:]
        return seen

    def send(self, line):
        self.p.stdin.write((line + "\n").encode())
        self.p.stdin.flush()

    def wait_exit(self, timeout=60):
        try:
            rest, _ = self.p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            raise AssertionError("qemu did not exit (guest did not power off)")
        self.out += rest.decode(errors="replace")
        return self.p.returncode

    def kill(self):
        self.p.kill()
        self.p.wait()


def check(name, fn):
    t = time.monotonic()
    fn()
    print(f"ok   {name} ({time.monotonic() - t:.1f}s)")


def shell_and_poweroff():
    g = Guest()
    before = g.expect(READY)
    # Nothing from userspace before the ready line: only kernel/firmware text.
    assert "kiln-init" not in before[:-len(READY)], before
    g.expect(PROMPT)
    g.send("uname -m; nproc; hostname; echo sh-$((40+2))")
    out = g.expect("sh-42")
    lines = [l.strip() for l in out.splitlines()]
    assert "riscv64" in lines and "2" in lines and "kiln" in lines, out
    g.expect(PROMPT)
    # Job control: the console is the controlling tty, so ^C reaches `sleep`.
    g.send("sleep 60")
    time.sleep(1)
    g.p.stdin.write(b"\x03")
    g.p.stdin.flush()
    g.send("echo int-$((40+2))")
    g.expect("int-42", timeout=20)
    g.expect(PROMPT)
    g.send("poweroff")
    assert g.wait_exit() == 0


def exit_powers_off():
    g = Guest()
    g.expect(PROMPT)
    g.send("exit")
    assert g.wait_exit() == 0
    assert "Kernel panic" not in g.out, g.out


def sysrq_panics():
    g = Guest()
    g.expect(PROMPT)
    g.send("echo c > /proc/sysrq-trigger")
    g.expect("Kernel panic")
    g.kill()


def run_poweroff():
    g = Guest("console=ttyS0 kiln.run=poweroff")
    g.expect(READY)
    assert g.wait_exit() == 0
    assert PROMPT not in g.out, g.out


if __name__ == "__main__":
    check("shell: uname -m = riscv64, nproc = 2, ^C, poweroff exits", shell_and_poweroff)
    check("exit from the shell powers off", exit_powers_off)
    check("sysrq c panics", sysrq_panics)
    check("kiln.run=poweroff", run_poweroff)
