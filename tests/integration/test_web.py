#!/usr/bin/env python3
"""kiln web (issue 14): the browser dashboard and console gateway.

Starts a daemon in a temporary KILN_STATE_DIR, boots two VMs (the default Linux guest and a
CPU-capped bare-firmware loop), runs `kiln web` on a free loopback port, checks its security
rules with raw HTTP and WebSocket requests, then drives Debian's chromium headless with
puppeteer-core (tests/integration/test_web.browser.js): dashboard, graphs, create form,
consoles, stop. Saves build/test-logs/web.png. Env: KILN, KILN_CACHE, KILN_WEB_DIR, and
KILN_WEB_BIN to run only the gateway from another binary (e.g. build/san/kiln, ASan).
"""
import base64
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
import kiln_daemon
from kiln_daemon import CACHE, KILN, Daemon, check, count_failure, failed

D = Daemon("kiln-web-")
TMP, STATE, ENV, SOCK = D.tmp, D.state, D.env, D.sock
LOGS = os.path.join(ROOT, "build/test-logs")
SHOT = os.path.join(LOGS, "web.png")
web_proc = None
kiln, api = D.kiln, D.http


def wait_for(pred, timeout, step=0.5):
    return kiln_daemon.wait_for(pred, timeout, step)


def raw(port, head, body=b"", read_all=True, timeout=10):
    """Sends a raw request to the gateway: (status, headers dict (lowercase), body bytes, socket)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(head.encode() + body)
    out = b""
    while b"\r\n\r\n" not in out:
        c = s.recv(65536)
        if not c:
            break
        out += c
    if read_all:
        while True:
            try:
                c = s.recv(65536)
            except socket.timeout:
                break
            if not c:
                break
            out += c
    h, _, rest = out.partition(b"\r\n\r\n")
    lines = h.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1]) if lines and len(lines[0].split(" ")) > 1 else 0
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs.setdefault(k.strip().lower(), []).append(v.strip())
    if read_all:
        s.close()
        s = None
    return status, hdrs, rest, s


def req(port, method, path, host=None, cookie=None, origin=None, extra="", body=b""):
    h = "%s %s HTTP/1.1\r\nHost: %s\r\n" % (method, path, host or "127.0.0.1:%d" % port)
    if cookie:
        h += "Cookie: kiln_session=%s\r\n" % cookie
    if origin:
        h += "Origin: %s\r\n" % origin
    if body or method in ("POST", "PATCH", "DELETE"):
        h += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
    return raw(port, h + extra + "\r\n", body)


WS_KEY = base64.b64encode(os.urandom(16)).decode()
WS_HEAD = ("Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
           "Sec-WebSocket-Key: %s\r\n" % WS_KEY)


def ws_frame(op, payload, fin=True, mask=True):
    b0 = (0x80 if fin else 0) | op
    n = len(payload)
    if n < 126:
        h = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
    elif n < 65536:
        h = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
    else:
        h = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
    if not mask:
        return h + payload
    m = os.urandom(4)
    return h + m + bytes(c ^ m[i & 3] for i, c in enumerate(payload))


def ws_read(s, buf, timeout=10):
    """Reads one server frame: (op, payload, rest of buf) or (None, None, buf) on EOF/timeout."""
    end = time.time() + timeout
    while True:
        if len(buf) >= 2:
            n = buf[1] & 0x7f
            off = 2
            if n == 126 and len(buf) >= 4:
                n, off = struct.unpack("!H", buf[2:4])[0], 4
            elif n == 127 and len(buf) >= 10:
                n, off = struct.unpack("!Q", buf[2:10])[0], 10
            if (buf[1] & 0x7f) < 126 or off > 2:
                if len(buf) >= off + n:
                    return buf[0] & 0x0f, buf[off:off + n], buf[off + n:]
        if time.time() > end:
            return None, None, buf
        try:
            s.settimeout(max(0.1, end - time.time()))
            c = s.recv(65536)
        except socket.timeout:
            return None, None, buf
        if not c:
            return None, None, buf
        buf += c


def ws_until_close(s, buf, timeout=10):
    """Skips console output until the server's close frame: (op, payload, buf); op None on EOF."""
    end = time.time() + timeout
    while time.time() < end:
        op, p, buf = ws_read(s, buf, max(0.1, end - time.time()))
        if op in (8, None):
            return op, p, buf
    return None, None, buf


def build_loop_firmware():
    fw = kiln_daemon.build_firmware(TMP, {"loop": "_start: j _start\n"})
    return fw and fw["loop"]


def security_checks(port, token, cookie):
    base = "http://127.0.0.1:%d" % port
    st, h, b, _ = req(port, "GET", "/")
    check("no session: / is 401", st == 401, (st, b))
    st, h, b, _ = req(port, "GET", "/api/v1/vms")
    check("no session: API is 401", st == 401, (st, b))
    st, h, b, _ = req(port, "GET", "/login")
    check("login without a token is 401", st == 401, (st, b))
    st, h, b, _ = req(port, "GET", "/login?token=" + "0" * 64)
    check("login with a wrong token is 401, no cookie", st == 401 and "set-cookie" not in h, (st, h))
    st, h, b, _ = req(port, "GET", "/login?token=" + token[:-1])
    check("login with a truncated token is 401", st == 401, (st, b))
    st, h, b, _ = req(port, "GET", "/", cookie="f" * 64)
    check("a made-up session cookie is 401", st == 401, (st, b))
    st, h, b, _ = req(port, "GET", "/login?token=" + token)
    sc = (h.get("set-cookie") or [""])[0]
    check("login: 303 to / (the token leaves the address bar)",
          st == 303 and h.get("location") == ["/"], (st, h))
    check("session cookie is HttpOnly, SameSite=Strict, Path=/",
          re.match(r"kiln_session=[0-9a-f]{64}; ", sc) and "HttpOnly" in sc and "SameSite=Strict" in sc
          and "Path=/" in sc, sc)
    csp = (h.get("content-security-policy") or [""])[0]
    check("strict CSP: scripts only from self, no framing",
          "script-src 'self';" in csp and "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
          and "unsafe-eval" not in csp, csp)
    st, h, b, _ = req(port, "GET", "/", cookie=cookie)
    check("with the session: / serves the page", st == 200 and b"<title>kiln</title>" in b, (st, b[:200]))
    for host in ("evil.example:%d" % port, "evil.example", "127.0.0.1:1", "localhost.evil.example:%d" % port):
        st, h, b, _ = req(port, "GET", "/api/v1/vms", host=host, cookie=cookie)
        check("foreign Host %s is 403" % host, st == 403, (st, b))
    st, h, b, _ = req(port, "GET", "/login?token=" + token, host="rebound.example:%d" % port)
    check("foreign Host cannot even log in (403)", st == 403, (st, b))
    st, h, b, _ = req(port, "GET", "/api/v1/host", host="localhost:%d" % port, cookie=cookie)
    check("Host localhost:PORT is accepted", st == 200, (st, b))
    st, h, b, _ = raw(port, "GET /api/v1/host HTTP/1.1\r\nCookie: kiln_session=%s\r\n\r\n" % cookie)
    check("no Host header is 400", st == 400, (st, b))
    body = json.dumps({"name": "csrf1", "mem": "64M"}).encode()
    st, h, b, _ = req(port, "POST", "/api/v1/vms", cookie=cookie, origin="http://evil.example", body=body)
    check("POST with a foreign Origin is 403", st == 403, (st, b))
    st, h, b, _ = req(port, "POST", "/api/v1/vms", cookie=cookie, body=body)
    check("POST without an Origin is 403", st == 403, (st, b))
    st, h, b, _ = req(port, "POST", "/api/v1/vms/alpha/kill", cookie=cookie, origin="http://127.0.0.1:1")
    check("kill with another port's Origin is 403", st == 403, (st, b))
    st, h, b, _ = req(port, "DELETE", "/api/v1/vms/beta", cookie=cookie, origin="null")
    check("DELETE with Origin null is 403", st == 403, (st, b))
    check("nothing was created or killed by the refused requests",
          api("GET", "/v1/vms/csrf1")[0] == 404 and api("GET", "/v1/vms/alpha")[1].get("state") == "running",
          api("GET", "/v1/vms/alpha")[1])
    st, h, b, _ = req(port, "GET", "/ws/console/alpha", cookie=cookie, origin="http://evil.example",
                      extra=WS_HEAD)
    check("WebSocket upgrade with a foreign Origin is 403", st == 403, (st, b))
    st, h, b, _ = req(port, "GET", "/ws/console/alpha", cookie=cookie, extra=WS_HEAD)
    check("WebSocket upgrade without an Origin is 403", st == 403, (st, b))
    st, h, b, _ = req(port, "GET", "/ws/console/alpha", origin=base, extra=WS_HEAD)
    check("WebSocket upgrade without a session is 401", st == 401, (st, b))
    st, h, b, _ = req(port, "GET", "/ws/console/nosuchvm", cookie=cookie, origin=base, extra=WS_HEAD)
    check("console WebSocket of a VM that does not exist: 404 with the daemon's error",
          st == 404 and b"no VM named 'nosuchvm'" in b, (st, b))
    st, h, b, _ = req(port, "GET", "/ws/console/alpha", cookie=cookie, origin=base,
                      extra=WS_HEAD.replace("Version: 13", "Version: 8"))
    check("WebSocket version other than 13 is 426", st == 426, (st, b))
    st, h, b, _ = req(port, "GET", "/static/../kiln.db", cookie=cookie)
    check("no path traversal to the state dir", st == 404, (st, b[:100]))
    st, h, b, _ = req(port, "POST", "/api/v1/vms", cookie=cookie, origin=base,
                      body=json.dumps({"name": "bad name"}).encode())
    check("the API's validation reaches the page (400 with the daemon's error)",
          st == 400 and b"error" in b, (st, b))


def ws_checks(port, cookie):
    base = "http://127.0.0.1:%d" % port
    h = "GET /ws/console/alpha HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nCookie: kiln_session=%s\r\nOrigin: %s\r\n%s\r\n" % (
        port, cookie, base, WS_HEAD)
    st, hd, rest, s = raw(port, h, read_all=False)
    import hashlib
    want = base64.b64encode(hashlib.sha1((WS_KEY + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
    check("console WebSocket: 101 with the RFC 6455 accept key",
          st == 101 and hd.get("sec-websocket-accept") == [want.decode()], (st, hd))
    if st != 101:
        return
    # the ring's history first, as binary frames
    buf, seen = rest, b""
    end = time.time() + 10
    while b"~ # " not in seen and time.time() < end:
        op, p, buf = ws_read(s, buf, 2)
        if op == 2:
            seen += p
    check("console WebSocket replays the history (guest prompt) in binary frames", b"~ # " in seen, seen[-200:])
    # a command split over a fragmented binary message, plus a ping and a resize in between
    s.sendall(ws_frame(2, b"echo ws-$((", fin=False) + ws_frame(9, b"hi") + ws_frame(0, b"6*7))\n"))
    s.sendall(ws_frame(1, json.dumps({"type": "resize", "cols": 100, "rows": 30}).encode()))
    seen, pong = b"", False
    end = time.time() + 20
    while b"ws-42" not in seen and time.time() < end:
        op, p, buf = ws_read(s, buf, 2)
        if op == 2:
            seen += p
        elif op == 10 and p == b"hi":
            pong = True
    check("fragmented input reaches the guest, output comes back", b"ws-42" in seen, seen[-300:])
    check("ping is answered with a pong carrying its data", pong)
    s.sendall(ws_frame(2, b"x", mask=False))
    op, p, buf = ws_until_close(s, buf)
    check("an unmasked client frame ends the connection with 1002",
          op == 8 and p[:2] == struct.pack("!H", 1002), (op, p))
    s.close()
    # an oversized message: refused from its header, before any payload arrives
    st, hd, rest, s = raw(port, h, read_all=False)
    s.sendall(ws_frame(2, b"a" * ((64 << 10) + 1))[:14])
    op, p, _ = ws_until_close(s, rest)
    check("a frame above 64 KiB is refused with 1009", op == 8 and p[:2] == struct.pack("!H", 1009), (op, p))
    s.close()
    # a close from the client is echoed with its status
    st, hd, rest, s = raw(port, h, read_all=False)
    s.sendall(ws_frame(8, struct.pack("!H", 1000) + b"bye"))
    op, p, _ = ws_until_close(s, rest)
    check("a client close is answered with a close (1000)", op == 8 and p[:2] == struct.pack("!H", 1000), (op, p))
    s.close()
    check("the VM runs on after WebSocket clients left", api("GET", "/v1/vms/alpha")[1].get("state") == "running")


def cleanup():
    if web_proc and web_proc.poll() is None:
        web_proc.send_signal(signal.SIGTERM)
        try:
            web_proc.wait(5)
        except subprocess.TimeoutExpired:
            web_proc.kill()
    D.stop()
    time.sleep(0.5)
    D.remove()


def main():
    global web_proc
    image = os.path.join(CACHE, "guest", "Image")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    puppeteer = os.path.join(ROOT, "web/node_modules/puppeteer-core")
    web_dir = os.environ.get("KILN_WEB_DIR", os.path.join(os.path.dirname(KILN), "web"))
    for what, ok in (("no default guest at " + image, os.path.exists(image)),
                     ("no chromium (scripts/deps.sh installs it)", chromium),
                     ("no node", shutil.which("node")),
                     ("no web/node_modules/puppeteer-core: run `make web`", os.path.isdir(puppeteer)),
                     ("no %s/index.html: run `make web`" % web_dir, os.path.exists(os.path.join(web_dir, "index.html")))):
        if not ok:
            print(what)
            return 77
    loop = build_loop_firmware()
    if not loop:
        print("no riscv64-linux-gnu-gcc for the test firmware")
        return 77
    os.makedirs(LOGS, exist_ok=True)

    rc, out, err = kiln("create", "alpha", "--mem", "256M")
    rc2, out2, err2 = kiln("start", "alpha")
    check("boot VM alpha (default Linux guest)", rc == 0 and rc2 == 0, err + err2)
    rc, out, err = kiln("create", "beta", "--mem", "64M", "--firmware", loop, "--cpu-cap", "30")
    rc2, out2, err2 = kiln("start", "beta")
    check("boot VM beta (firmware busy loop, 30% CPU cap)", rc == 0 and rc2 == 0, err + err2)

    web_bin = os.path.abspath(os.environ.get("KILN_WEB_BIN", KILN))
    web_proc = subprocess.Popen([web_bin, "web", "--listen", "127.0.0.1:0", "--assets", web_dir], env=ENV,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    line = ""
    end = time.time() + 15
    while "token=" not in line and time.time() < end:
        line = web_proc.stdout.readline()
        if not line:
            break
    m = re.search(r"(http://127\.0\.0\.1:(\d+))/login\?token=([0-9a-f]{64})", line)
    if not check("kiln web prints a ready-to-open login URL", m, line + web_proc.stderr.read()
                 if web_proc.poll() is not None else line):
        return 1
    base, port, token = m.group(1), int(m.group(2)), m.group(3)
    tok_path = os.path.join(STATE, "web.token")
    check("token stored in the state dir with mode 0600",
          os.path.exists(tok_path) and (os.stat(tok_path).st_mode & 0o777) == 0o600
          and open(tok_path).read().strip() == token)

    booted = wait_for(lambda: b"kiln-init: ready" in (api("GET", "/v1/vms/alpha/console")[1] or b""), 300, 1)
    if not check("alpha's guest booted", booted, api("GET", "/v1/vms/alpha/console")[1][-500:]):
        return 1
    time.sleep(1)
    st, h, b, _ = req(port, "GET", "/login?token=" + token)
    cookie = re.search(r"kiln_session=([0-9a-f]{64})", (h.get("set-cookie") or [""])[0])
    cookie = cookie.group(1) if cookie else ""
    security_checks(port, token, cookie)
    ws_checks(port, cookie)

    # --- the browser
    node = subprocess.run(["node", os.path.join(ROOT, "tests/integration/test_web.browser.js")],
                          env=dict(ENV, KILN_WEB_URL=base + "/login?token=" + token, KILN_WEB_BASE=base,
                                   CHROMIUM=chromium, SHOT=SHOT, NODE_PATH=os.path.join(ROOT, "web/node_modules")),
                          capture_output=True, text=True, timeout=600)
    for ln in node.stdout.splitlines():
        print(ln, flush=True)
        if ln.startswith("not ok"):
            count_failure()
    check("browser test ran to the end", node.returncode == 0 and "# browser done" in node.stdout,
          node.stderr[-2000:])
    v = api("GET", "/v1/vms/alpha")[1]
    check("closing the pages leaves the VM running", v.get("state") == "running", v)
    check("the VM created in the browser was stopped and deleted from it",
          api("GET", "/v1/vms/gamma")[0] == 404, api("GET", "/v1/vms/gamma"))
    check("the cap set in the browser reached the daemon", api("GET", "/v1/vms/beta")[1].get("cpu_cap") == 50)

    # --- token rotation ends sessions
    rc, out, err = kiln("web", "--rotate-token", "--listen", "127.0.0.1:%d" % port, timeout=10)
    new = open(tok_path).read().strip()
    st, h, b, _ = req(port, "GET", "/api/v1/host", cookie=cookie)
    check("--rotate-token writes a new token and ends existing sessions", new != token and st == 401, (st, b))
    st, h, b, _ = req(port, "GET", "/login?token=" + token)
    check("the old token no longer logs in", st == 401, (st, b))

    # --- the gateway ends on SIGTERM, without a sanitizer report when built with one
    web_proc.send_signal(signal.SIGTERM)
    try:
        web_proc.wait(10)
    except subprocess.TimeoutExpired:
        pass
    err = web_proc.stderr.read() if web_proc.poll() is not None else "still running"
    check("kiln web ends on SIGTERM, cleanly (no sanitizer report)",
          web_proc.poll() == 0 and "Sanitizer" not in err and "runtime error" not in err, err)
    return 1 if failed() else 0


if __name__ == "__main__":
    try:
        rc = main()
    finally:
        cleanup()
    sys.exit(rc)
