"""Drives `kiln exec BUSYBOX sh -i` on a pseudo-terminal for test_exec_sandbox.sh:
types a pipeline, starts a long job and interrupts it with Ctrl-C, then exits 3.
Prints what the terminal showed (CRs dropped) and `status=N`."""
import os
import pty
import select
import sys
import time

pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], ["kiln", "exec", sys.argv[2], "sh", "-i"])
out = b""


def read(t):
    global out
    end = time.time() + t
    while time.time() < end:
        if select.select([fd], [], [], 0.1)[0]:
            try:
                out += os.read(fd, 4096)
            except OSError:
                return


read(1)
os.write(fd, b"echo pid=$$; echo a | tr a b\n")
read(1.5)
os.write(fd, b"sleep 30\n")
read(0.5)
os.write(fd, b"\x03")
read(0.5)
os.write(fd, b"echo after-int\n")
read(1)
os.write(fd, b"exit 3\n")
read(1)
_, st = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace").replace("\r", ""))
print("status=%d" % (os.WEXITSTATUS(st) if os.WIFEXITED(st) else -1))
