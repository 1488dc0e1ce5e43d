#!/usr/bin/env python3
"""Disk and network limits (issue #5): a guest reading its disk under --disk ...,bps=4M takes
the time the limit says, and lifting the limit through the control socket makes it fast
again; the same for a download over --net user,bps=..."""
import http.server
import json
import os
import shutil
import socket
import tempfile
import threading
import time

from kiln_guest import Guest, GuestError, Report

rep = Report()
tmp = tempfile.mkdtemp(prefix="kiln-limits-")


def control(path, req):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(path)
    s.sendall((json.dumps(req) + "\n").encode())
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return json.loads(data)


def timed(g, cmd, timeout=300):
    t0 = time.monotonic()
    out = g.run(cmd, timeout=timeout)
    return time.monotonic() - t0, out


def session(name, args, body, timeout=300):
    g = Guest(*args)
    try:
        g.boot(timeout=timeout)
        body(g)
        g.send("poweroff\n")
        rc = g.wait(60)
        rep.check(name + ": clean poweroff", rc == 0, "exit %s" % rc)
    except GuestError as e:
        rep.check(name, False, str(e)[-1500:])
    finally:
        g.kill()


# 1. Disk: 16 MiB at 4 MiB/s with a 4 MiB burst takes >= 3 s; unlimited it is clearly faster.
img = os.path.join(tmp, "disk.img")
with open(img, "wb") as f:
    f.truncate(64 << 20)
sock = os.path.join(tmp, "ctl.sock")
DD = "echo 3 > /proc/sys/vm/drop_caches; dd if=/dev/vda of=/dev/null bs=1M count=16 skip=%d 2>&1"


def disk_body(g):
    st = control(sock, {"cmd": "stats"})
    rep.check("disk: stats report the limit", st.get("disks", [{}])[0].get("bps") == 4 << 20, str(st))
    slow, out = timed(g, DD % 0)
    rep.check("disk: 16 MiB at bps=4M takes >= 2.4 s", slow >= 2.4, "%.2f s: %s" % (slow, out))
    st = control(sock, {"cmd": "stats"})
    d = st["disks"][0]
    rep.check("disk: read bytes counted", d["read_bytes"] >= 16 << 20, str(d))
    rep.check("disk: throttled requests counted", d["throttled"] > 0, str(d))
    r = control(sock, {"cmd": "limits", "disk": 0, "bps": 0})
    rep.check("disk: limits answer ok", r.get("ok") is True, str(r))
    rep.check("disk: bad index refused", "error" in control(sock, {"cmd": "limits", "disk": 5, "bps": 0}))
    st = control(sock, {"cmd": "stats"})
    rep.check("disk: stats show the new limit", st["disks"][0]["bps"] == 0, str(st))
    fast, out = timed(g, DD % 32)
    rep.check("disk: unlimited is clearly faster", fast < slow * 0.6, "limited %.2f s, unlimited %.2f s" % (slow, fast))
    # And limiting again live slows it down again (iops this time: 1 MiB requests at most).
    control(sock, {"cmd": "limits", "disk": 0, "iops": 4})
    again, out = timed(g, DD % 16)
    rep.check("disk: iops=4 set live slows it down", again >= 1.5, "%.2f s: %s" % (again, out))


session("disk limit", ["--disk", img + ",bps=4M", "--control", sock], disk_body)

# 2. Network: a 2 MiB download at 256 KiB/s (burst 256 KiB) takes >= ~7 s; unlimited, less.
www = os.path.join(tmp, "www")
os.makedirs(www)
with open(os.path.join(www, "blob"), "wb") as f:
    f.write(os.urandom(2 << 20))
handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=www, **k)
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
port = server.server_address[1]
threading.Thread(target=server.serve_forever, daemon=True).start()
sock2 = os.path.join(tmp, "ctl2.sock")
WGET = "wget -q -O /dev/null http://10.0.2.2:%d/blob && echo fetched" % port


def net_body(g):
    g.run("i=0; while [ $i -lt 60 ] && ! ip -4 addr show eth0 | grep -q inet; do sleep 0.5; i=$((i+1)); done",
          timeout=60)
    slow, out = timed(g, WGET)
    rep.check("net: download completes under the limit", "fetched" in out, out)
    rep.check("net: 2 MiB at bps=256K takes >= 5 s", slow >= 5, "%.2f s" % slow)
    st = control(sock2, {"cmd": "stats"})
    n = st["nets"][0]
    rep.check("net: rx bytes and throttling counted", n["rx_bytes"] >= 2 << 20 and n["throttled"] > 0, str(n))
    control(sock2, {"cmd": "limits", "net": 0, "bps": 0})
    fast, out = timed(g, WGET)
    rep.check("net: unlimited download completes", "fetched" in out, out)
    rep.check("net: unlimited is clearly faster", fast < slow * 0.6, "limited %.2f s, unlimited %.2f s" % (slow, fast))


session("net limit", ["--net", "user,bps=256K,host-loopback=on", "--control", sock2], net_body)
server.shutdown()
shutil.rmtree(tmp, ignore_errors=True)
rep.exit()
