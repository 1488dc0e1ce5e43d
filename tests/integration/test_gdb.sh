#!/usr/bin/env bash
# The GDB stub (docs/gdb.md): Debian's gdb-multiarch in batch mode against
# `kiln run --gdb PORT --gdb-wait` running a bare-metal C program (tests/guest/gdb_prog.c) on
# two harts: both harts listed as threads, a breakpoint on a function hit twice with the
# argument register and a counter in memory read each time, a single step, CSRs read through
# the target description, a memory write seen by the guest, a software watchpoint that fires
# (gdb single-steps), hardware read and write watchpoints (Sdtrig triggers), and the program
# run to its end (its HTIF exit reaches gdb as an exit).
# Also: hostile packets (bad checksums, oversized, garbage) never stop the stub.
set -u
cd "$(dirname "$0")/../.."
KILN=${KILN:-build/kiln}
OUT=build/gdb-tests
fails=0
ok() { echo "ok $1"; }
notok() { echo "not ok $1${2:+ -- $2}"; fails=$((fails + 1)); }

if ! command -v gdb-multiarch >/dev/null 2>&1; then
    echo "ok gdb # SKIP gdb-multiarch not installed (scripts/deps.sh)"
    exit 0
fi
if ! command -v riscv64-linux-gnu-gcc >/dev/null 2>&1; then
    echo "ok gdb # SKIP riscv64-linux-gnu-gcc not installed"
    exit 0
fi
mkdir -p "$OUT"
if ! tests/guest/build.sh build/guest-tests >"$OUT/build.log" 2>&1; then
    notok gdb/build "see $OUT/build.log"
    exit 1
fi
ELF=build/guest-tests/gdb_prog.elf
KPID=
cleanup() { [ -n "$KPID" ] && kill "$KPID" 2>/dev/null; }
trap cleanup EXIT

# A free port: kiln says when it cannot listen, then try another.
start_kiln() {
    for _ in 1 2 3 4 5; do
        PORT=$((20000 + RANDOM % 20000))
        "$KILN" run --cpus 2 --mem 64M --gdb "$PORT" --gdb-wait --firmware "$ELF" "$@" \
            </dev/null >"$OUT/kiln.log" 2>&1 &
        KPID=$!
        for _ in $(seq 50); do
            grep -q "listening on 127.0.0.1:$PORT" "$OUT/kiln.log" && return 0
            kill -0 "$KPID" 2>/dev/null || break
            sleep 0.1
        done
        kill "$KPID" 2>/dev/null
        wait "$KPID" 2>/dev/null
        KPID=
    done
    return 1
}

if ! start_kiln; then
    notok gdb/listen "$(tail -2 "$OUT/kiln.log")"
    exit 1
fi
if ss -ltn 2>/dev/null | grep -q "127.0.0.1:$PORT "; then
    ok gdb/listen-loopback
elif command -v ss >/dev/null 2>&1; then
    notok gdb/listen-loopback "$(ss -ltn | grep ":$PORT ")"
fi

timeout 120 gdb-multiarch -nx -batch \
    -ex 'set pagination off' -ex 'set confirm off' \
    -ex 'set can-use-hw-watchpoints 0' \
    -ex "target remote 127.0.0.1:$PORT" \
    -ex 'info threads' \
    -ex 'break gdb_target_fn' \
    -ex 'continue' \
    -ex 'printf "A0=%d\n", $a0' \
    -ex 'printf "COUNTER=%d\n", *(long*)&gdb_counter' \
    -ex 'printf "PC1=%#lx\n", $pc' \
    -ex 'stepi' \
    -ex 'printf "PC2=%#lx\n", $pc' \
    -ex 'printf "MHARTID=%d MISA=%#lx\n", $mhartid, $misa' \
    -ex 'continue' \
    -ex 'printf "A0=%d\n", $a0' \
    -ex 'printf "COUNTER=%d\n", *(long*)&gdb_counter' \
    -ex 'thread 2' \
    -ex 'printf "T2MHARTID=%d\n", $mhartid' \
    -ex 'thread 1' \
    -ex 'delete' \
    -ex 'watch *(long*)&gdb_watched' \
    -ex 'continue' \
    -ex 'printf "WATCHED=%d\n", *(long*)&gdb_watched' \
    -ex 'delete' \
    -ex 'continue' \
    "$ELF" >"$OUT/gdb.log" 2>&1
wait "$KPID"
krc=$?
KPID=
log=$OUT/gdb.log
has() { grep -q -- "$1" "$log"; }
if has 'Thread 1 (hart 0)' && has 'Thread 2 (hart 1)'; then ok gdb/threads; else notok gdb/threads "$(grep -m2 Thread "$log")"; fi
if [ "$(grep -c 'hit Breakpoint 1, .* in gdb_target_fn' "$log")" -eq 2 ]; then
    ok gdb/breakpoint
else
    notok gdb/breakpoint "$(grep -m3 -i 'breakpoint' "$log")"
fi
# The first call is gdb_target_fn(1) with the counter still 0, the second (2) after 1.
if [ "$(grep '^A0=' "$log" | tr '\n' ' ')" = "A0=1 A0=2 " ]; then ok gdb/register; else notok gdb/register "$(grep '^A0=' "$log" | tr '\n' ' ')"; fi
if [ "$(grep '^COUNTER=' "$log" | tr '\n' ' ')" = "COUNTER=0 COUNTER=1 " ]; then ok gdb/memory; else notok gdb/memory "$(grep '^COUNTER=' "$log" | tr '\n' ' ')"; fi
pc1=$(sed -n 's/^PC1=//p' "$log")
pc2=$(sed -n 's/^PC2=//p' "$log")
if [ -n "$pc1" ] && [ -n "$pc2" ] && [ $((pc2 - pc1)) -ge 2 ] && [ $((pc2 - pc1)) -le 4 ]; then
    ok gdb/stepi
else
    notok gdb/stepi "pc $pc1 -> $pc2"
fi
if has 'MHARTID=0 MISA=0x8000000000' && has 'T2MHARTID=1'; then ok gdb/csr; else notok gdb/csr "$(grep -m2 'MHARTID' "$log")"; fi
if has 'Watchpoint 2: \*(long\*)&gdb_watched' && has 'New value = 60' && has 'WATCHED=60'; then
    ok gdb/watchpoint
else
    notok gdb/watchpoint "$(grep -m3 -i -A2 'watchpoint' "$log" | tr '\n' ' ')"
fi
if has 'exited normally' && [ $krc -eq 0 ]; then ok gdb/run-to-end; else notok gdb/run-to-end "kiln status $krc: $(tail -2 "$log")"; fi

# Hardware watchpoints (Z2/Z3 on the Sdtrig trigger module): a read watchpoint on the counter
# fires in gdb_target_fn before any write to it, then a write watchpoint fires with 60.
if start_kiln; then
    timeout 60 gdb-multiarch -nx -batch -ex 'set confirm off' -ex "target remote 127.0.0.1:$PORT" \
        -ex 'rwatch *(long*)&gdb_counter' -ex 'continue' -ex 'printf "RPC=%#lx\n", $pc' -ex 'delete' \
        -ex 'watch *(long*)&gdb_watched' -ex 'continue' -ex 'delete' -ex 'continue' \
        "$ELF" >"$OUT/gdb-hw.log" 2>&1
    wait "$KPID"
    krc=$?
    KPID=
    tfn=$(riscv64-linux-gnu-nm "$ELF" | sed -n 's/^\([0-9a-f]*\) T gdb_target_fn$/\1/p')
    rpc=$(sed -n 's/^RPC=//p' "$OUT/gdb-hw.log")
    if grep -q 'Hardware read watchpoint 1: \*(long\*)&gdb_counter' "$OUT/gdb-hw.log" &&
        grep -q 'Value = 0' "$OUT/gdb-hw.log" && [ -n "$rpc" ] && [ $((rpc - 0x$tfn)) -ge 0 ] &&
        [ $((rpc - 0x$tfn)) -lt 32 ]; then
        ok gdb/hw-read-watchpoint
    else
        notok gdb/hw-read-watchpoint "$(grep -m3 -i 'watchpoint\|RPC\|Value' "$OUT/gdb-hw.log" | tr '\n' ' ')"
    fi
    if grep -q 'Hardware watchpoint 2: \*(long\*)&gdb_watched' "$OUT/gdb-hw.log" &&
        grep -q 'New value = 60' "$OUT/gdb-hw.log" && grep -q 'exited normally' "$OUT/gdb-hw.log" && [ $krc -eq 0 ]; then
        ok gdb/hw-write-watchpoint
    else
        notok gdb/hw-write-watchpoint "$(tail -3 "$OUT/gdb-hw.log" | tr '\n' ' ')"
    fi
else
    notok gdb/hw-watchpoint "kiln did not listen"
fi

# Memory writes: gdb stores into the guest's accumulator check; the guest then fails its
# HTIF check (tohost = 3), so the write really reached guest RAM and its code saw it.
if start_kiln; then
    timeout 60 gdb-multiarch -nx -batch -ex 'set confirm off' -ex "target remote 127.0.0.1:$PORT" \
        -ex 'break gdb_finish' -ex 'continue' -ex 'set var $a0 = 61' -ex 'delete' -ex 'continue' \
        "$ELF" >"$OUT/gdb-write.log" 2>&1
    wait "$KPID"
    krc=$?
    KPID=
    if [ $krc -ne 0 ] && grep -q 'test 1 failed' "$OUT/kiln.log"; then
        ok gdb/register-write
    else
        notok gdb/register-write "kiln status $krc: $(tail -1 "$OUT/kiln.log")"
    fi
else
    notok gdb/register-write "kiln did not listen"
fi

# Hostile input: garbage, bad checksums, an oversized packet, then a valid query still works.
if start_kiln; then
    python3 - "$PORT" >"$OUT/hostile.log" 2>&1 <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
def pkt(d):
    return b"$" + d + b"#%02x" % (sum(d) & 0xff)
s.sendall(b"\x00\xff garbage $qC#00 $#zz $" + b"A" * 70000 + b"#00")
s.sendall(pkt(b"m80000000,ffffffffffffffff") + pkt(b"Z0,1") + pkt(b"X80000000,4:}") + pkt(b"p99999"))
s.sendall(pkt(b"qC"))
buf = b""
while b"QC1" not in buf:
    d = s.recv(65536)
    if not d:
        break
    buf += d
print("QC1" if b"QC1" in buf else "no answer: %r" % buf[-200:])
s.sendall(pkt(b"k"))
PY
    wait "$KPID"
    KPID=
    if grep -q '^QC1$' "$OUT/hostile.log"; then ok gdb/hostile-packets; else notok gdb/hostile-packets "$(tail -1 "$OUT/hostile.log")"; fi
else
    notok gdb/hostile-packets "kiln did not listen"
fi
# Ctrl-C: gdb writes "j ." over gdb_finish (M packet), continues, and 0x03 stops the spinning
# hart and the sleeping one; the stop reply says SIGINT and the pc is in the loop.
fin=$(riscv64-linux-gnu-nm "$ELF" | sed -n 's/^\([0-9a-f]*\) T gdb_finish$/\1/p')
if start_kiln; then
    python3 - "$PORT" "$fin" >"$OUT/interrupt.log" 2>&1 <<'PY'
import socket, sys, time, re
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
fin = int(sys.argv[2], 16)
buf = b""
def send(d):
    s.sendall(b"$" + d + b"#%02x" % (sum(d) & 0xff))
def reply():
    global buf
    while True:
        m = re.search(rb"\$([^#]*)#..", buf)
        if m:
            buf = buf[m.end():]
            return m.group(1)
        d = s.recv(65536)
        if not d:
            raise SystemExit("connection closed")
        buf += d
send(b"QStartNoAckMode"); print("noack", reply())
send(b"M%x,4:6f000000" % fin); print("write", reply())
send(b"m%x,4" % fin); print("read", reply())
send(b"c")
time.sleep(1.0)
s.sendall(b"\x03")
stop = reply(); print("stop", stop)
send(b"p20"); pc = reply()
pc = int.from_bytes(bytes.fromhex(pc.decode()), "little")
print("pc-in-loop" if pc == fin else "pc %x" % pc)
send(b"qfThreadInfo"); print("threads", reply())
send(b"k")
PY
    wait "$KPID"
    KPID=
    if grep -q "^stop b'T02thread:" "$OUT/interrupt.log" && grep -q '^pc-in-loop' "$OUT/interrupt.log" &&
        grep -q "^read b'6f000000'" "$OUT/interrupt.log"; then
        ok gdb/interrupt
    else
        notok gdb/interrupt "$(tr '\n' ' ' <"$OUT/interrupt.log")"
    fi
else
    notok gdb/interrupt "kiln did not listen"
fi
# A booted Linux guest (when the default guest and its vmlinux are built): gdb attaches to
# the running VM at the shell prompt, breaks in ksys_sync when the shell runs `sync`, reads
# the kernel's banner through the hart's Sv39/Sv48 view, detaches, and the guest runs on.
GUEST=${KILN_GUEST:-$HOME/.cache/kiln/guest}
VMLINUX=${KILN_VMLINUX:-$GUEST/work/linux-obj/vmlinux}
if [ -r "$GUEST/Image" ] && [ -r "$VMLINUX" ] && [ -r "$GUEST/initramfs.cpio.gz" ]; then
    rm -f "$OUT/in"
    mkfifo "$OUT/in"
    PORT=$((20000 + RANDOM % 20000))
    "$KILN" run --cpus 2 --gdb "$PORT" <"$OUT/in" >"$OUT/linux.log" 2>&1 &
    KPID=$!
    exec 3>"$OUT/in"
    for _ in $(seq 180); do grep -q '~ # ' "$OUT/linux.log" && break; sleep 1; done
    timeout 180 gdb-multiarch -nx -batch -ex 'set confirm off' -ex 'set pagination off' \
        -ex "target remote 127.0.0.1:$PORT" -ex 'break ksys_sync' -ex 'continue' \
        -ex 'printf "SATPMODE=%d\n", (unsigned long)$satp >> 60' \
        -ex 'x/s (char *)&linux_banner' -ex 'delete' -ex 'detach' \
        "$VMLINUX" >"$OUT/gdb-linux.log" 2>&1 &
    GPID=$!
    sleep 3
    echo sync >&3
    wait $GPID
    echo 'echo after-$((40+2))' >&3
    for _ in $(seq 30); do grep -q '^after-42' "$OUT/linux.log" && break; sleep 1; done
    exec 3>&-
    kill "$KPID" 2>/dev/null
    wait "$KPID" 2>/dev/null
    KPID=
    if grep -q 'hit Breakpoint 1, .* in ksys_sync' "$OUT/gdb-linux.log" &&
        grep -Eq '^SATPMODE=(8|9|10)$' "$OUT/gdb-linux.log" && grep -q 'linux_banner>:.*"Linux version' "$OUT/gdb-linux.log"; then
        ok gdb/linux-break-kernel-symbol
    else
        notok gdb/linux-break-kernel-symbol "$(tail -4 "$OUT/gdb-linux.log" | tr '\n' ' ')"
    fi
    if grep -q '^after-42' "$OUT/linux.log"; then ok gdb/linux-runs-after-detach; else notok gdb/linux-runs-after-detach; fi
else
    echo "ok gdb/linux # SKIP no default guest or vmlinux (guest/build.sh)"
fi
exit $((fails > 0))
