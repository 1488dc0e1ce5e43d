#!/usr/bin/env bash
# qcow2 images (issue 12): round trips with qemu-img in both directions (plain,
# over a backing file, compressed clusters), kiln img create|info|convert, bad
# images refused, and a real guest on a qcow2 overlay over a raw base: its writes
# land in the overlay (the base untouched), convert back to raw matches, and a
# kill -9 after the guest's fsync leaves a `qemu-img check`-clean image holding
# the synced data.
set -u
cd "$(dirname "$0")/../.."
KILN=${KILN:-build/kiln}
fails=0
ok() { echo "ok $1"; }
notok() { echo "not ok $1${2:+ -- $2}"; fails=$((fails + 1)); }
check() { if eval "$2"; then ok "$1"; else notok "$1" "${3:-}"; fi; }

if ! command -v qemu-img >/dev/null; then
    echo "ok qcow2 # SKIP qemu-img not installed (qemu-utils)"
    exit 0
fi
T=$(mktemp -d /tmp/kiln-qcow2-XXXXXX)
trap 'rm -rf "$T"' EXIT

# qemu-img check: 0 = clean, 3 = leaked clusters only (acceptable after kill -9).
qcheck() { qemu-img check -q -f qcow2 "$1" >/dev/null 2>&1; local r=$?; [ $r -eq 0 ] || [ $r -eq 3 ]; }

# A raw image with data, holes and a tail that is not cluster-aligned.
head -c 3M /dev/urandom >"$T/data.raw"
truncate -s 20M "$T/data.raw"
printf 'tail-marker' | dd of="$T/data.raw" bs=1 seek=$((20 * 1024 * 1024 - 700)) conv=notrunc 2>/dev/null
dd if=/dev/urandom of="$T/data.raw" bs=4096 seek=3000 count=3 conv=notrunc 2>/dev/null

# 1. qemu-img writes, kiln reads.
qemu-img convert -q -f raw -O qcow2 "$T/data.raw" "$T/q.qcow2"
check "kiln reads a qemu-img qcow2" \
    "$KILN img convert -O raw '$T/q.qcow2' '$T/q.raw' && cmp -s '$T/q.raw' '$T/data.raw'"
qemu-img convert -q -c -f raw -O qcow2 "$T/data.raw" "$T/c.qcow2"
check "kiln reads compressed clusters (qemu-img convert -c)" \
    "$KILN img convert -O raw '$T/c.qcow2' '$T/c.raw' && cmp -s '$T/c.raw' '$T/data.raw'"
qemu-img convert -q -c -f raw -O qcow2 -o compat=0.10,cluster_size=4096 "$T/data.raw" "$T/c2.qcow2"
check "kiln reads qcow2 v2 with 4 KiB compressed clusters" \
    "$KILN img convert -O raw '$T/c2.qcow2' '$T/c2.raw' && cmp -s '$T/c2.raw' '$T/data.raw'"
qemu-img create -q -f qcow2 -b data.raw -F raw "$T/qov.qcow2"
qemu-io -c "write -P 0x5c 1M 100k" -c "write -z 2M 64k" -c "discard 3000k 64k" "$T/qov.qcow2" >/dev/null
qemu-img convert -q -O raw "$T/qov.qcow2" "$T/qov.ref"
check "kiln reads a qemu-img overlay over a raw base" \
    "$KILN img convert -O raw '$T/qov.qcow2' '$T/qov.raw' && cmp -s '$T/qov.raw' '$T/qov.ref'"

# 2. kiln writes, qemu-img reads and checks.
$KILN img convert -f raw -O qcow2 "$T/data.raw" "$T/k.qcow2"
check "kiln img convert -O qcow2 passes qemu-img check" "qemu-img check -q '$T/k.qcow2'"
check "qemu-img reads kiln's qcow2" "qemu-img compare -q -f raw -F qcow2 '$T/data.raw' '$T/k.qcow2'"
$KILN img convert -O qcow2 "$T/c.qcow2" "$T/k2.qcow2"
check "qcow2 -> qcow2 (compressed in) round trip" \
    "qemu-img check -q '$T/k2.qcow2' && qemu-img compare -q '$T/data.raw' '$T/k2.qcow2'"
# Compressed clusters written by kiln (img convert -c): mixed content, a tail that is
# not cluster-aligned; qemu-img checks and reads it, and kiln reads it back.
python3 - "$T/mixed.raw" <<'EOF'
import os, random, sys
random.seed(5)
with open(sys.argv[1], "wb") as f:
    for i in range(96):
        k = i % 4
        if k == 0: f.write(bytes(65536))
        elif k == 1: f.write(os.urandom(65536))
        elif k == 2: f.write((b"kiln compressed %03d " % i) * 3276 + bytes(16))
        else: f.write(bytes(random.getrandbits(3) for _ in range(65536)))
    f.write(b"tail" * 128)
EOF
$KILN img convert -c -O qcow2 "$T/mixed.raw" "$T/kc.qcow2"
check "kiln img convert -c passes qemu-img check" "qemu-img check -q '$T/kc.qcow2'"
check "kiln img convert -c: the image holds compressed clusters" \
    "qemu-img check '$T/kc.qcow2' | grep -Eq '[1-9][0-9.]*% compressed clusters'"
check "kiln img convert -c: qemu-img convert -O raw equals the source" \
    "qemu-img convert -q -O raw '$T/kc.qcow2' '$T/kc.raw' && cmp -s '$T/kc.raw' '$T/mixed.raw'"
check "kiln img convert -c: kiln reads it back" \
    "$KILN img convert -O raw '$T/kc.qcow2' '$T/kck.raw' && cmp -s '$T/kck.raw' '$T/mixed.raw'"
$KILN img convert -O qcow2 "$T/mixed.raw" "$T/kn.qcow2"
check "kiln img convert -c is smaller than without -c" \
    "[ $(stat -c %s "$T/kc.qcow2") -lt $(stat -c %s "$T/kn.qcow2") ]"
out=$($KILN img convert -c -O raw "$T/mixed.raw" "$T/x.raw" 2>&1); rc=$?
check "kiln img convert -c -O raw is a usage error" "[ $rc -eq 2 ] && grep -q 'needs -O qcow2' <<<\"\$out\"" "$out"
out=$($KILN img create --help 2>&1); rc=$?
check "kiln img create --help prints the usage" "[ $rc -eq 0 ] && grep -q 'usage: kiln img create' <<<\"\$out\"" "$out"
$KILN img create -f qcow2 -b data.raw -F raw "$T/kov.qcow2"
check "kiln img create -b: qemu-img sees the backing file and size" \
    "qemu-img info '$T/kov.qcow2' | grep -q 'backing file: data.raw' && \
     qemu-img info '$T/kov.qcow2' | grep -q '(20971520 bytes)' && qemu-img check -q '$T/kov.qcow2'"
check "kiln img info --json" \
    "$KILN img info --json '$T/kov.qcow2' | grep -q '\"backing-filename\":\"data.raw\"'"
check "kiln img info reads a raw image" "$KILN img info '$T/data.raw' | grep -q 'file format: raw'"
$KILN img create -f qcow2 "$T/big.qcow2" 2T
check "kiln img create 2T qcow2 passes qemu-img check" "qemu-img check -q '$T/big.qcow2'"

# 3. Bad images are refused with a message, not a crash.
$KILN img create -f qcow2 "$T/bad.qcow2" 1M
printf '\x00\x00\x00\x00\x00\x00\x01\x00' | dd of="$T/bad.qcow2" bs=1 seek=72 conv=notrunc 2>/dev/null
out=$($KILN img info "$T/bad.qcow2" 2>&1); rc=$?
check "unknown incompatible feature refused" "[ $rc -eq 1 ] && grep -q 'unknown incompatible' <<<\"\$out\"" "$out"
qemu-img create -q -f qcow2 -u -b loop2.qcow2 -F qcow2 "$T/loop1.qcow2" 1M
qemu-img create -q -f qcow2 -u -b loop1.qcow2 -F qcow2 "$T/loop2.qcow2" 1M
out=$($KILN img convert -O raw "$T/loop1.qcow2" "$T/loop.raw" 2>&1); rc=$?
check "backing chain loop refused" "[ $rc -ne 0 ] && grep -q 'loops' <<<\"\$out\"" "$out"
printf '\x00\x00\x00\x00\x00\x00\x00\x10' | dd of="$T/bad.qcow2" bs=1 seek=72 conv=notrunc 2>/dev/null
out=$($KILN run --disk "$T/bad.qcow2" </dev/null 2>&1); rc=$?
check "kiln run refuses a bad qcow2 disk with a message" \
    "[ $rc -ne 0 ] && grep -q 'extended L2' <<<\"\$out\"" "$out"

# 4. A real guest on a qcow2 overlay over a raw base.
CACHE=${KILN_CACHE:-$HOME/.cache/kiln}/guest
if [ ! -e "$CACHE/Image" ]; then
    echo "ok guest on qcow2 # SKIP no guest in $CACHE"
    [ $fails -eq 0 ]
    exit
fi
cp "$T/data.raw" "$T/base.raw"
base_sum=$(md5sum <"$T/base.raw")
$KILN img create -f qcow2 -b base.raw -F raw "$T/ov.qcow2"
$KILN img create -f qcow2 -b base.raw -F raw "$T/ov9.qcow2"
python3 - "$T" <<'EOF' || fails=$((fails + 1))
import os, re, signal, sys, time
sys.path.insert(0, os.path.join(os.getcwd(), "tests/integration"))
from kiln_guest import Guest, GuestError, Report

rep = Report()
T = sys.argv[1]
base = open(os.path.join(T, "base.raw"), "rb").read()
expect = bytearray(base)

g = Guest("--disk", os.path.join(T, "ov.qcow2"))
try:
    g.boot(timeout=300)
    # The guest reads the base through the overlay.
    got = g.run("dd if=/dev/vda bs=4096 skip=3000 count=3 2>/dev/null | md5sum")
    import hashlib
    want = hashlib.md5(base[3000 * 4096:3003 * 4096]).hexdigest()
    rep.check("guest reads the base image through the overlay", want in got, got)
    # Writes: partial clusters over base data, whole clusters, a hole, and a zeroed range.
    writes = [(512 * 7, 1000), (1 << 20, 200 * 1024), (5 << 20, 4096), (19 << 20, 70000)]
    for i, (off, n) in enumerate(writes):
        data = bytes(65 + (i * 7 + k * 13) % 26 for k in range(n))  # what the awk below prints
        expect[off:off + n] = data
    g.send("\n")
    for i, (off, n) in enumerate(writes):
        g.run("awk 'BEGIN{for(k=0;k<%d;k++) printf \"%%c\", 65+(%d*7+k*13)%%26}' > /tmp/w "
              "&& dd if=/tmp/w of=/dev/vda bs=512 seek=%d conv=notrunc,fsync 2>/dev/null"
              % (n, i, off // 512), timeout=300)
    g.run("sync")
    g.send("poweroff\n")
    rc = g.wait(120)
    rep.check("guest on qcow2 overlay: clean poweroff", rc == 0, "exit %s" % rc)
except GuestError as e:
    rep.check("guest on qcow2 overlay", False, str(e)[-1500:])
finally:
    g.kill()
open(os.path.join(T, "expect.raw"), "wb").write(expect)

# A guest on an image kiln compressed: its writes into compressed clusters (partial and
# whole) copy them out to new plain clusters; the rest still reads through inflate.
mixed = bytearray(open(os.path.join(T, "mixed.raw"), "rb").read())
g = Guest("--disk", os.path.join(T, "kc.qcow2") + ",format=qcow2")
try:
    g.boot(timeout=300)
    import hashlib
    got = g.run("dd if=/dev/vda bs=65536 skip=2 count=2 2>/dev/null | md5sum")
    rep.check("guest reads kiln's compressed clusters",
              hashlib.md5(bytes(mixed[2 * 65536:4 * 65536])).hexdigest() in got, got)
    for off, n in ((2 * 65536 + 4096, 8192), (7 * 65536, 65536)):
        data = bytes(97 + (k * 7) % 26 for k in range(n))
        mixed[off:off + n] = data
        g.run("awk 'BEGIN{for(k=0;k<%d;k++) printf \"%%c\", 97+(k*7)%%26}' > /tmp/w && "
              "dd if=/tmp/w of=/dev/vda bs=4096 seek=%d conv=notrunc,fsync 2>/dev/null" % (n, off // 4096),
              timeout=300)
    g.run("sync")
    g.send("poweroff\n")
    g.wait(120)
except GuestError as e:
    rep.check("guest on a compressed image", False, str(e)[-1500:])
finally:
    g.kill()
open(os.path.join(T, "kc.expect"), "wb").write(mixed)

# kill -9 after the guest's fsync: records it reported are in the image, which stays clean.
g = Guest("--disk", os.path.join(T, "ov9.qcow2"))
printed = []
try:
    g.boot(timeout=300)
    g.send("i=0; while [ $i -lt 4000 ]; do printf 'rec%06d\\n' $i | dd of=/dev/vda bs=512 "
           "seek=$((i*67)) conv=notrunc,fsync 2>/dev/null && echo done$i; i=$((i+1)); done\n")
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        g._read(deadline)
    os.kill(g.proc.pid, signal.SIGKILL)
    g.proc.wait()
    while g._read(time.monotonic() + 0.2):
        pass
    printed = [int(m) for m in re.findall(r"^done(\d+)$", g.log, re.M)]
except GuestError as e:
    rep.check("kill -9 on qcow2", False, str(e)[-1500:])
    g.kill()
open(os.path.join(T, "printed"), "w").write("\n".join(map(str, printed)))
rep.check("kill -9 on qcow2: the guest synced records (%d)" % len(printed), len(printed) > 0)
rep.exit()
EOF
check "guest writes went to the overlay, the base is untouched" "[ \"\$(md5sum <'$T/base.raw')\" = '$base_sum' ]"
check "overlay written by the guest passes qemu-img check" "qemu-img check -q '$T/ov.qcow2'"
check "kiln img convert of the guest's overlay matches the expected disk" \
    "$KILN img convert -O raw '$T/ov.qcow2' '$T/ov.raw' && cmp -s '$T/ov.raw' '$T/expect.raw'"
check "qemu-img reads the guest's overlay the same" "qemu-img compare -q '$T/expect.raw' '$T/ov.qcow2'"
check "after kill -9: qemu-img check finds no corruption (leaks allowed)" "qcheck '$T/ov9.qcow2'"
check "guest writes over compressed clusters: qemu-img check clean" "qemu-img check -q '$T/kc.qcow2'"
check "guest writes over compressed clusters: the image equals the expected disk" \
    "qemu-img compare -q -f raw -F qcow2 '$T/kc.expect' '$T/kc.qcow2'"
$KILN img convert -O raw "$T/ov9.qcow2" "$T/ov9.raw"
missing=$(python3 - "$T" <<'EOF'
import os, sys
T = sys.argv[1]
data = open(os.path.join(T, "ov9.raw"), "rb").read()
bad = [i for i in map(int, filter(None, open(os.path.join(T, "printed")).read().split()))
       if data[i * 67 * 512:i * 67 * 512 + 9] != b"rec%06d" % i]
print(len(bad))
EOF
)
check "after kill -9: every fsync'ed record is in the overlay" "[ '$missing' = 0 ]" "missing $missing"
[ $fails -eq 0 ]
