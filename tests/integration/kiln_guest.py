"""Drives a kiln guest through its serial console, the way a person at the terminal would.

Used by the integration tests: start kiln with a pipe for stdin/stdout, wait for
the shell prompt, type commands, read their output, and collect the exit status.
"""
import os
import re
import select
import subprocess
import sys
import time

KILN = os.environ.get("KILN", os.path.join(os.path.dirname(__file__), "../../build/kiln"))
PROMPT = "~ # "


class GuestError(Exception):
    pass


def vm_pid_of(pid, timeout=10):
    """pid, or the VM child of pid when pid is a pid-namespace keeper (comm kiln-keeper)."""
    deadline = time.time() + timeout
    while True:
        try:
            with open("/proc/%d/comm" % pid) as f:
                if f.read().strip() != "kiln-keeper":
                    return pid
            with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                kids = [int(k) for k in f.read().split()]
            for k in kids:  # the VM is pid 1 of its namespace; the socket cleaner is not
                with open("/proc/%d/status" % k) as f:
                    if any(l.startswith("NSpid:") and l.split()[-1] == "1" for l in f):
                        return k
        except OSError:
            return pid
        if time.time() > deadline:
            return pid
        time.sleep(0.02)


def threads_alive(pid):
    """true while any thread of pid has not finished exiting."""
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return False
    for t in tids:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, t)) as f:
                if f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X"):
                    return True
        except OSError:
            pass
    return False


class Guest:
    def __init__(self, *args, timeout=120, command="run"):
        self.cmd = [KILN, command, *args]
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, bufsize=0)
        self.buf = ""
        self.log = ""
        self.timeout = timeout
        self.t0 = time.monotonic()

    def _read(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select([self.proc.stdout], [], [], min(left, 1.0))
        if r:
            data = os.read(self.proc.stdout.fileno(), 65536)
            if not data:
                return None
            text = data.decode("utf-8", "replace").replace("\r", "")
            self.buf += text
            self.log += text
        return True

    def expect(self, pattern, timeout=None):
        """Waits until pattern (a regex) appears in the output; returns the text before it."""
        deadline = time.monotonic() + (timeout or self.timeout)
        rx = re.compile(pattern)
        while True:
            m = rx.search(self.buf)
            if m:
                before = self.buf[:m.start()]
                self.buf = self.buf[m.end():]
                return before
            r = self._read(deadline)
            if r is None:
                raise GuestError("kiln exited while waiting for %r; output:\n%s" % (pattern, self.tail()))
            if r is False:
                raise GuestError("timeout waiting for %r; output:\n%s" % (pattern, self.tail()))

    def send(self, text):
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def boot(self, timeout=None):
        self.expect(re.escape(PROMPT), timeout or self.timeout)
        return time.monotonic() - self.t0

    def run(self, command, timeout=None):
        """Runs one shell command; returns its output (without the echoed command line)."""
        marker = "__kiln_done__"
        self.send(command + "; echo " + marker + "\n")
        out = self.expect(marker + r"\n" + re.escape(PROMPT), timeout)
        lines = out.split("\n")
        # Drop the echo of the typed command (the tty echoes it back).
        lines = [l for l in lines if marker not in l]
        return "\n".join(lines).strip()

    def wait(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while self.proc.poll() is None:
            if self._read(deadline) is False:
                self.kill()
                raise GuestError("kiln did not exit in time; output:\n%s" % self.tail())
        while self._read(time.monotonic() + 0.2):
            pass
        self.stderr = self.proc.stderr.read().decode("utf-8", "replace")
        return self.proc.returncode

    @property
    def vm_pid(self):
        """The pid of the VM process itself: a jailed kiln run started by root runs the VM
        as init of its own pid namespace, in a child of the process we started (its keeper,
        docs/jail.md); otherwise the process we started."""
        return vm_pid_of(self.proc.pid)

    def kill(self):
        if self.proc.poll() is None:
            vm = self.vm_pid
            self.proc.kill()
            self.proc.wait()
            # Behind a keeper the VM dies of its keeper's death a moment later (docs/jail.md):
            # wait, so its disks are unlocked when we return.
            # Its files (disk locks) go with its last thread, which may exit after the main
            # thread already shows as a zombie.
            deadline = time.time() + 10
            while vm != self.proc.pid and time.time() < deadline and threads_alive(vm):
                time.sleep(0.02)

    def tail(self, n=40):
        text = "\n".join(self.log.split("\n")[-n:])
        # Once kiln has exited, what it said on stderr is usually the reason.
        if self.proc.poll() is not None and not hasattr(self, "stderr"):
            try:
                self.stderr = self.proc.stderr.read().decode("utf-8", "replace")
            except (OSError, ValueError):
                self.stderr = ""
        err = getattr(self, "stderr", "")
        return text + ("\n[kiln exited %s; stderr:]\n%s" % (self.proc.returncode, err[-1500:]) if err else "")


class Restored(Guest):
    """A guest started by `kiln restore DIR ...` (or a clone) instead of `kiln run`."""

    def __init__(self, *args, timeout=120):
        super().__init__(*args, timeout=timeout, command="restore")


class Report:
    """Prints TAP-like lines "ok NAME" / "not ok NAME" that tests/run.sh counts."""

    def __init__(self):
        self.failed = 0

    def check(self, name, cond, detail=""):
        if cond:
            print("ok " + name, flush=True)
        else:
            self.failed += 1
            print("not ok " + name + (" -- " + detail if detail else ""), flush=True)

    def exit(self):
        sys.exit(1 if self.failed else 0)
