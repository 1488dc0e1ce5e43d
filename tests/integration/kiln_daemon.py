"""What the integration tests that drive a kiln daemon share: the TAP-like report lines
tests/run.sh counts, a daemon in a temporary KILN_STATE_DIR, raw requests on its API
socket (docs/api.md) and its consoles.

    from kiln_daemon import Daemon, check, skip, wait_for, failed
    d = Daemon("kiln-mytest-")
    rc, out, err = d.kiln("create", "vm1", ...)   # the CLI, against this daemon
    status, body = d.http("GET", "/v1/vms")       # body: parsed JSON, or bytes
    ...
    d.stop(); d.remove()
    sys.exit(1 if failed() else 0)
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

KILN = os.path.abspath(os.environ.get("KILN", os.path.join(os.path.dirname(__file__), "../../build/kiln")))
CACHE = os.environ.get("KILN_CACHE", os.path.expanduser("~/.cache/kiln"))

_failures = [0]


def check(name, cond, detail=""):
    """Prints "ok NAME" or "not ok NAME -- detail"; returns cond."""
    if cond:
        print("ok " + name, flush=True)
    else:
        _failures[0] += 1
        print("not ok " + name + (" -- " + str(detail)[-1500:] if detail else ""), flush=True)
    return cond


def skip(name, why):
    print("ok %s # skip %s" % (name, why), flush=True)


def count_failure():
    """A failure reported by a line printed elsewhere (a browser script's "not ok")."""
    _failures[0] += 1


def failed():
    """How many checks failed so far."""
    return _failures[0]


def wait_for(pred, timeout, step=0.1):
    """pred's first true value within timeout seconds, else its last value."""
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def _split_response(out):
    head, _, body = out.partition(b"\r\n\r\n")
    try:
        status = int(head.split(b" ")[1])
    except (IndexError, ValueError):
        return 0, head, out
    try:
        return status, head, json.loads(body)
    except ValueError:
        return status, head, body


class Daemon:
    """A kiln daemon of this test's own: KILN_STATE_DIR is TMP/state (the CLI starts the
    daemon on first use); nothing is shared with another test or the user's daemon."""

    def __init__(self, prefix, tmp=None, http_timeout=120, state=None):
        self.tmp = tmp or tempfile.mkdtemp(prefix=prefix)
        os.makedirs(self.tmp, exist_ok=True)
        self.state = state or os.path.join(self.tmp, "state")
        self.env = dict(os.environ, KILN_STATE_DIR=self.state)
        self.sock = os.path.join(self.state, "kiln.sock")
        self.http_timeout = http_timeout  # seconds of silence before a reply is taken as whole

    def kiln(self, *args, timeout=120, env=None, cwd=None, stdin=subprocess.DEVNULL):
        """Runs the CLI against this daemon: (status, stdout, stderr)."""
        p = subprocess.run([KILN] + list(args), env=env or self.env, capture_output=True, text=True,
                           timeout=timeout, stdin=stdin, cwd=cwd)
        return p.returncode, p.stdout, p.stderr

    def http_raw(self, data, timeout=None):
        """Sends bytes on the API socket, reads until it closes: (status, head, body)."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout or self.http_timeout)
        s.connect(self.sock)
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
        s.close()
        return _split_response(out)

    def http(self, method, path, body=None, raw=None, timeout=None):
        """One request: (status, parsed JSON or raw bytes). body: dict/list (as JSON) or bytes."""
        if raw is None:
            data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
            raw = ("%s %s HTTP/1.1\r\nHost: kiln\r\nContent-Length: %d\r\n\r\n"
                   % (method, path, len(data))).encode() + data
        status, _, b = self.http_raw(raw, timeout)
        return status, b

    def vm(self, name):
        return self.http("GET", "/v1/vms/" + name)[1]

    def state_of(self, name):
        st, v = self.http("GET", "/v1/vms/" + name)
        return v.get("state") if st == 200 and isinstance(v, dict) else None

    def console_log(self, name):
        st, b = self.http("GET", "/v1/vms/%s/console" % name)
        return b.decode(errors="replace") if st == 200 and isinstance(b, bytes) else ""

    def console_cmd(self, name, cmd, marker, timeout=60):
        """Types cmd on NAME's console (HTTP Upgrade) and reads until the regex marker:
        (match or None, what was read)."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(self.sock)
        s.sendall(("GET /v1/vms/%s/console HTTP/1.1\r\nConnection: Upgrade\r\n"
                   "Upgrade: kiln-console\r\n\r\n" % name).encode())
        time.sleep(0.3)
        s.sendall(cmd.encode() + b"\n")
        buf = b""
        end = time.time() + timeout
        m = None
        while time.time() < end:
            try:
                c = s.recv(4096)
            except socket.timeout:
                continue
            if not c:
                break
            buf += c
            m = re.search(marker, buf.decode(errors="replace"))
            if m:
                break
        s.close()
        return m, buf.decode(errors="replace")

    def stop(self):
        """Kills every VM of this daemon, then the daemon (SIGTERM); quiet if none runs."""
        try:
            if not os.path.exists(self.sock):
                return
            st, vms = self.http("GET", "/v1/vms", timeout=5)
            for v in vms if st == 200 and isinstance(vms, list) else []:
                if v.get("pid"):
                    self.http("POST", "/v1/vms/%s/kill" % v["name"], timeout=15)
            st, h = self.http("GET", "/v1/host", timeout=5)
            if st == 200 and isinstance(h, dict) and h.get("daemon_pid"):
                os.kill(h["daemon_pid"], signal.SIGTERM)
        except (OSError, ValueError, TypeError, AttributeError):
            pass

    def remove(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def build_firmware(directory, programs):
    """Bare-metal riscv64 programs ({name: assembly after a global _start}) linked at
    0x80000000 for `kiln run --firmware`: {name: ELF path}, or None without
    riscv64-linux-gnu-gcc."""
    cc = shutil.which("riscv64-linux-gnu-gcc")
    if not cc:
        return None
    out = {}
    for name, src in programs.items():
        s = os.path.join(directory, name + ".S")
        with open(s, "w") as f:
            f.write(".globl _start\n" + src)
        e = os.path.join(directory, name + ".elf")
        subprocess.run([cc, "-nostdlib", "-static", "-no-pie", "-Wl,-N", "-Wl,-Ttext=0x80000000",
                        "-Wl,--build-id=none", "-Wl,--no-warn-rwx-segments", "-o", e, s], check=True,
                       capture_output=True)
        out[name] = e
    return out
