"""Shared by the OCI runtime tests (test_oci*.py): a riscv64 busybox rootfs built offline
from the guest cache, config.json files, and an OCI image archive of that rootfs."""
import gzip
import hashlib
import io
import json
import os
import pty
import select
import shutil
import tarfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CACHE = os.environ.get("KILN_CACHE", os.path.expanduser("~/.cache/kiln"))
BUSYBOX = os.path.join(CACHE, "guest", "busybox")
KILN = os.environ.get("KILN", os.path.join(ROOT, "build", "kiln"))
if not os.path.isabs(KILN):
    KILN = os.path.join(ROOT, KILN)
RUNC = os.path.join(os.path.dirname(KILN), "kiln-runc")


class Report:
    def __init__(self):
        self.failures = 0

    def ok(self, name):
        print(f"ok {name}", flush=True)

    def nok(self, name, why=""):
        print(f"not ok {name}" + (f" # {why}" if why else ""), flush=True)
        self.failures += 1

    def check(self, name, cond, why=""):
        (self.ok if cond else lambda n: self.nok(n, why))(name)
        return cond


def build_rootfs(dst):
    """A riscv64 busybox root: /bin/busybox, one relative symlink per applet, /etc/passwd."""
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "tmp", "root", "proc", "sys", "dev"):
        os.makedirs(os.path.join(dst, d), exist_ok=True)
    os.chmod(os.path.join(dst, "tmp"), 0o1777)
    shutil.copy(BUSYBOX, os.path.join(dst, "bin", "busybox"))
    os.chmod(os.path.join(dst, "bin", "busybox"), 0o755)
    with open(BUSYBOX + ".links") as f:
        for line in f:
            path = line.strip().lstrip("/")
            if not path or path == "bin/busybox":
                continue
            full = os.path.join(dst, path)
            if os.path.lexists(full):
                continue
            os.makedirs(os.path.dirname(full), exist_ok=True)
            rel = os.path.relpath(os.path.join(dst, "bin", "busybox"), os.path.dirname(full))
            os.symlink(rel, full)
    with open(os.path.join(dst, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
    with open(os.path.join(dst, "etc", "group"), "w") as f:
        f.write("root:x:0:\nnogroup:x:65534:\n")


def config(args, env=None, cwd="/", terminal=False, uid=0, gid=0, readonly=False, mounts=None,
           namespaces=None, resources=None, annotations=None, extra=None):
    """A config.json like the ones engines write (runc spec's defaults, trimmed)."""
    c = {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": terminal,
            "user": {"uid": uid, "gid": gid},
            "args": args,
            "env": env if env is not None else ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": cwd,
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": readonly},
        "hostname": "kiln",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts"},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro"]},
        ] + (mounts or []),
        "linux": {
            "namespaces": namespaces if namespaces is not None else
            [{"type": t} for t in ("pid", "ipc", "uts", "mount")],
            "maskedPaths": ["/proc/kcore"],
            "readonlyPaths": ["/proc/sys"],
        },
    }
    if resources:
        c["linux"]["resources"] = resources
    if annotations:
        c["annotations"] = annotations
    if extra:
        c.update(extra)
    return c


def write_bundle(bundle, cfg, rootfs):
    """A bundle directory: config.json and rootfs (a symlink to a shared rootfs)."""
    os.makedirs(bundle, exist_ok=True)
    link = os.path.join(bundle, "rootfs")
    if not os.path.lexists(link):
        os.symlink(rootfs, link)
    with open(os.path.join(bundle, "config.json"), "w") as f:
        f.write(cfg if isinstance(cfg, str) else json.dumps(cfg))


def _blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(layout, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    return "sha256:" + digest


def oci_archive(rootfs, out_tar, tag="kiln.test/busybox:latest", cmd=("sh",)):
    """An OCI image layout (image-spec image-layout.md) of rootfs for linux/riscv64, as a tar."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name in sorted(os.listdir(rootfs)):
            t.add(os.path.join(rootfs, name), arcname=name)
    raw = layer.getvalue()
    gz = gzip.compress(raw, mtime=0)
    layout = out_tar + ".d"
    shutil.rmtree(layout, ignore_errors=True)
    os.makedirs(layout)
    layer_d = _blob(layout, gz)
    cfg = {
        "architecture": "riscv64", "os": "linux",
        "config": {"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": list(cmd), "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()]},
        "history": [{"created_by": "kiln tests (oci_common.py)"}],
    }
    cfg_b = json.dumps(cfg).encode()
    cfg_d = _blob(layout, cfg_b)
    man = {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg_d, "size": len(cfg_b)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_d, "size": len(gz)}],
    }
    man_b = json.dumps(man).encode()
    man_d = _blob(layout, man_b)
    index = {
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": man_d, "size": len(man_b),
            "platform": {"architecture": "riscv64", "os": "linux"},
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }],
    }
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump(index, f)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with tarfile.open(out_tar, "w") as t:
        for name in ("oci-layout", "index.json", "blobs"):
            t.add(os.path.join(layout, name), arcname=name)
    shutil.rmtree(layout)
    return out_tar


def on_pty(argv, steps, timeout=60):
    """Runs argv on a new pseudo-terminal; steps: (wait-for bytes, then send bytes). The output
    seen, whether every step was reached, and the exit status."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(argv[0], argv)
    buf, step, end = b"", 0, time.time() + timeout
    while time.time() < end:
        rd, _, _ = select.select([fd], [], [], 0.3)
        if rd:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
        if step < len(steps) and steps[step][0] in buf:
            os.write(fd, steps[step][1])
            step += 1
    _, st = os.waitpid(pid, 0)
    os.close(fd)
    return buf, step == len(steps), os.waitstatus_to_exitcode(st)
