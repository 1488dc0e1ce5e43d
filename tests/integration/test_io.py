#!/usr/bin/env python3
"""Disks, network and console of a real guest (issue #4): data reaches host files,
read-only disks refuse writes, the guest reaches a host HTTP server through user-mode
networking, a forwarded port reaches a guest service, and fsync'ed data survives kill -9."""
import http.server
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

from kiln_guest import Guest, GuestError, Report

rep = Report()
tmp = tempfile.mkdtemp(prefix="kiln-io-")
CACHE = os.path.join(os.environ.get("KILN_CACHE", os.path.expanduser("~/.cache/kiln")), "guest")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def image(name, mib=16):
    path = os.path.join(tmp, name)
    with open(path, "wb") as f:
        f.truncate(mib << 20)
    return path


def session(name, args, body, timeout=300):
    g = Guest(*args)
    try:
        g.boot(timeout=timeout)
        body(g)
        g.send("poweroff\n")
        rc = g.wait(60)
        rep.check(name + ": clean poweroff", rc == 0, "exit %s %s" % (rc, getattr(g, "stderr", "")))
    except GuestError as e:
        rep.check(name, False, str(e)[-1500:])
    finally:
        g.kill()


# 1. A pattern written by the guest lands in the host file.
disk = image("rw.img")
pattern = "kiln-disk-pattern-%d" % random.randint(0, 1 << 30)


def write_pattern(g):
    g.run("printf '%s' | dd of=/dev/vda bs=4096 seek=100 conv=notrunc,fsync 2>/dev/null" % pattern)
    rep.check("guest sees /dev/vda", "vda" in g.run("ls /dev/vda"))


session("disk write", ["--disk", disk], write_pattern)
with open(disk, "rb") as f:
    f.seek(100 * 4096)
    got = f.read(len(pattern)).decode(errors="replace")
rep.check("host file holds the guest's pattern", got == pattern, repr(got))

# 2. A read-only disk refuses writes and the file stays untouched.
ro = image("ro.img")
with open(ro, "r+b") as f:
    f.write(b"original")


def try_write(g):
    out = g.run("echo overwrite | dd of=/dev/vda conv=notrunc,fsync 2>&1; echo status=$?")
    rep.check("read-only disk refuses the write", "status=0" not in out, out)


session("read-only disk", ["--disk", ro + ",ro"], try_write)
with open(ro, "rb") as f:
    rep.check("read-only image unchanged", f.read(8) == b"original")

# 3. The guest fetches a file from a host HTTP server over user-mode networking.
www = os.path.join(tmp, "www")
os.makedirs(www)
payload = os.urandom(200000)
with open(os.path.join(www, "blob"), "wb") as f:
    f.write(payload)
port = free_port()
handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=www, **k)
server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
server.RequestHandlerClass.log_message = lambda *a: None
threading.Thread(target=server.serve_forever, daemon=True).start()
import hashlib
want = hashlib.sha256(payload).hexdigest()


def wait_for_dhcp(g):
    """/init runs udhcpc in the background; give it time to configure eth0."""
    g.run("i=0; while [ $i -lt 60 ] && ! ip -4 addr show eth0 | grep -q inet; do sleep 0.5; i=$((i+1)); done",
          timeout=60)


def fetch(g):
    wait_for_dhcp(g)
    out = g.run("wget -q -O - http://10.0.2.2:%d/blob | sha256sum" % port, timeout=120)
    rep.check("guest fetches a host file over HTTP", want in out, out)


session("user networking", ["--net", "user,host-loopback=on"], fetch)
server.shutdown()

# 4. A forwarded host port reaches a service in the guest.
hport = free_port()


def serve(g):
    wait_for_dhcp(g)
    g.run("mkdir -p /tmp/www && echo kiln-guest-says-hi > /tmp/www/index.html && httpd -p 8080 -h /tmp/www")
    body = ""
    for _ in range(30):
        try:
            s = socket.create_connection(("127.0.0.1", hport), timeout=10)
            s.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            s.close()
            body = data.decode(errors="replace")
            if "kiln-guest-says-hi" in body:
                break
        except OSError:
            pass
        time.sleep(1)
    rep.check("host reaches a guest service through hostfwd", "kiln-guest-says-hi" in body, body[-300:])


session("port forward", ["--net", "user,hostfwd=tcp:127.0.0.1:%d-:8080" % hport], serve)

# 5. The virtio console (hvc0) carries guest output to a host file.
hvc = os.path.join(tmp, "hvc.txt")
session("virtio console", ["--hvc-out", hvc], lambda g: g.run("echo hello-from-hvc0 > /dev/hvc0"))
rep.check("hvc0 output reaches the host", "hello-from-hvc0" in open(hvc).read())

# 6. An ext4 root file system made on the host boots with root=/dev/vda.
root = os.path.join(tmp, "rootfs")
os.makedirs(root)
subprocess.run("cd %s && zcat %s/initramfs.cpio.gz | cpio -id --quiet 2>/dev/null" % (root, CACHE), shell=True)
with open(os.path.join(root, "etc-marker"), "w") as f:
    f.write("on-ext4\n")
rootimg = os.path.join(tmp, "root.img")
mk = subprocess.run(["mkfs.ext4", "-q", "-F", "-d", root, rootimg, "64M"], capture_output=True)
if mk.returncode == 0:
    g = Guest("--kernel", os.path.join(CACHE, "Image"), "--disk", rootimg,
              "--append", "console=ttyS0 root=/dev/vda rw rootfstype=ext4 init=/init")
    try:
        g.boot(timeout=300)
        rep.check("ext4 rootfs from the host boots", "on-ext4" in g.run("cat /etc-marker"))
        g.send("poweroff\n")
        g.wait(60)
    except GuestError as e:
        rep.check("ext4 rootfs from the host boots", False, str(e)[-1500:])
    finally:
        g.kill()
else:
    rep.check("mkfs.ext4 -d", False, mk.stderr.decode())

# 7. Durability: every record the guest reported as fsync'ed is on disk after kill -9.
for round_ in range(3):
    dimg = image("durable%d.img" % round_, 8)
    g = Guest("--disk", dimg)
    printed = []
    try:
        g.boot(timeout=300)
        g.send("i=0; while [ $i -lt 4000 ]; do printf 'rec%06d\\n' $i | dd of=/dev/vda bs=512 seek=$i "
               "conv=notrunc,fsync 2>/dev/null && echo done$i; i=$((i+1)); done\n")
        deadline = time.monotonic() + random.uniform(2.0, 6.0)
        while time.monotonic() < deadline:
            g._read(deadline)
        os.kill(g.proc.pid, signal.SIGKILL)
        g.proc.wait()
        while g._read(time.monotonic() + 0.2):
            pass
        import re
        printed = [int(m) for m in re.findall(r"^done(\d+)$", g.log, re.M)]
    except GuestError as e:
        rep.check("durability round %d" % round_, False, str(e)[-1500:])
        g.kill()
        continue
    with open(dimg, "rb") as f:
        data = f.read()
    bad = [i for i in printed if data[i * 512:i * 512 + 9] != b"rec%06d" % i]
    rep.check("durability round %d: %d fsync'ed records all on disk" % (round_, len(printed)),
              len(printed) > 0 and not bad, "missing %s" % bad[:5])

shutil.rmtree(tmp, ignore_errors=True)
rep.exit()
