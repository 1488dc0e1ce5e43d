#!/usr/bin/env python3
"""podman runs the offline-built riscv64 busybox image with --runtime build/kiln-runc (its own
--root/--runroot in a temp dir, vfs storage, cgroupfs, no systemd): `run --rm` (output and
exit code), a detached container with `podman logs` and `podman stop`, `podman exec`, and an
interactive `run -it` shell through conmon's console socket, driven on a pseudo-terminal.
The hard RLIMIT_NOFILE here is below podman's defaults, so runs pass --ulimit. Prints
"ok NAME" / "not ok NAME"; exit 77 without podman."""
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from oci_common import on_pty, RUNC, BUSYBOX, Report, build_rootfs, oci_archive  # noqa: E402

r = Report()
for tool in ("podman", "conmon"):
    if not shutil.which(tool) and not os.path.exists("/usr/libexec/podman/conmon"):
        print(f"skip: {tool} not installed (apt-get install podman)")
        sys.exit(77)
if os.geteuid() != 0:
    print("skip: this test runs podman as root")
    sys.exit(77)
if not os.path.exists(RUNC) or not os.path.exists(BUSYBOX):
    print(f"not ok setup # {RUNC} or {BUSYBOX} missing")
    sys.exit(1)

tmp = tempfile.mkdtemp(prefix="kiln-podman-")
IMG = "kiln.test/busybox:latest"
PODMAN = ["podman", "--root", f"{tmp}/root", "--runroot", f"{tmp}/runroot", "--storage-driver", "vfs",
          "--cgroup-manager", "cgroupfs", "--events-backend", "file", "--tmpdir", f"{tmp}/tmp",
          "--runtime", RUNC]
ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]


def podman(*args, timeout=120):
    p = subprocess.run([*PODMAN, *args], capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


try:
    rootfs = os.path.join(tmp, "rootfs")
    build_rootfs(rootfs)
    archive = oci_archive(rootfs, os.path.join(tmp, "busybox-riscv64.tar"), tag=IMG)
    rc, out, err = podman("load", "-i", archive)
    r.check("podman-load", rc == 0 and IMG in out + err, out + err)

    t0 = time.time()
    rc, out, err = podman("run", "--rm", *ULIMITS, IMG, "echo", "hi")
    r.check("podman-run-rm", rc == 0 and out == "hi\n", f"rc {rc} {out!r} {err}")
    print(f"# podman run --rm echo hi: {time.time() - t0:.3f} s", flush=True)
    rc, out, err = podman("run", "--rm", *ULIMITS, "-e", "WHO=kiln", "-w", "/tmp", IMG, "sh", "-c",
                          "echo $WHO; pwd; exit 5")
    r.check("podman-run-exit-code-env-cwd", rc == 5 and out == "kiln\n/tmp\n", f"rc {rc} {out!r} {err}")
    rc, out, err = podman("run", "--rm", *ULIMITS, IMG, "no-such-program")
    r.check("podman-run-missing-program", rc == 127 and "executable file not found" in err, f"rc {rc} {err}")

    # The engine's network applies: podman's bridge puts the container in a namespace of its own
    # (config.json's network path); kiln-runc joins it, so a host server sees a bridge address.
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.client_address[0])
            body = b"served-by-host\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass
    srv = http.server.HTTPServer(("0.0.0.0", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    rc, out, err = podman("network", "inspect", "podman")
    try:
        subnet = json.loads(out)[0]["subnets"][0]
        gw = subnet["gateway"]
    except (ValueError, KeyError, IndexError):
        gw = None
    if gw:
        rc, out, err = podman("run", "--rm", *ULIMITS, IMG, "wget", "-q", "-O", "-",
                              f"http://{gw}:{srv.server_address[1]}/")
        prefix = subnet["subnet"].split(".")[:2]
        r.check("podman-network-namespace", rc == 0 and out == "served-by-host\n" and seen and
                seen[0].split(".")[:2] == prefix and seen[0] != gw, f"rc {rc} {out!r} from {seen} {err[-300:]}")
    else:
        r.nok("podman-network-namespace", f"no podman network: {out} {err}")
    srv.shutdown()

    rc, out, err = podman("run", "-d", "--name", "bg", *ULIMITS, IMG, "sh", "-c",
                          "echo started; while :; do sleep 0.2; done")
    r.check("podman-run-detached", rc == 0, err)
    logs = ""
    for _ in range(50):
        logs = podman("logs", "bg")[1]
        if "started" in logs:
            break
        time.sleep(0.1)
    r.check("podman-logs", logs == "started\n", repr(logs))
    rc, out, err = podman("exec", "bg", "sh", "-c", "echo in-exec; exit 2")
    r.check("podman-exec", rc == 2 and out == "in-exec\n", f"rc {rc} {out!r} {err}")
    # Joined to the container's process VM: the exec'd shell is not pid 1 and sees pid 1.
    rc, out, err = podman("exec", "bg", "sh", "-c", "echo $$; kill -0 1 && echo pid1-alive")
    r.check("podman-exec-shares-pids", rc == 0 and out.split()[1:] == ["pid1-alive"] and out.split()[0] != "1",
            f"rc {rc} {out!r} {err}")
    buf, done, code = on_pty(["podman", *PODMAN[1:], "exec", "-it", "bg", "sh", "-c",
                              "test -t 0 && echo exec-tty; read x; echo got-$x"], [(b"exec-tty", b"zz\r")],
                             timeout=90)
    r.check("podman-exec-it", done and b"got-zz" in buf and code == 0, f"code {code} {buf[-300:]!r}")
    rc, out, err = podman("stop", "-t", "5", "bg")
    rc2, out2, _ = podman("ps", "-a", "--format", "{{.Names}} {{.Status}}")
    r.check("podman-stop", rc == 0 and "bg Exited (143)" in out2, out + err + out2)
    rc, out, err = podman("rm", "bg")
    r.check("podman-rm", rc == 0, err)

    # An interactive shell: conmon hands kiln-runc a console socket, kiln-runc sends the pty master.
    buf, done, code = on_pty(["podman", *PODMAN[1:], "run", "-it", "--rm", *ULIMITS, IMG, "sh"],
                             [(b"# ", b"test -t 0 && echo tty-$((6*7))\r"), (b"tty-42", b"exit 9\r")], timeout=90)
    r.check("podman-run-it", done and b"tty-42" in buf and code == 9, f"code {code} {buf[-300:]!r}")
finally:
    podman("rm", "-f", "-a", timeout=60)
    podman("rmi", "-a", "-f", timeout=60)
    with open("/proc/self/mounts") as f:
        for line in reversed(f.read().splitlines()):
            if line.split()[1].startswith(tmp):
                subprocess.run(["umount", "-l", line.split()[1]])
    shutil.rmtree(tmp, ignore_errors=True)

sys.exit(1 if r.failures else 0)
