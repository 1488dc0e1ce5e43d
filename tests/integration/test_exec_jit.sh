#!/usr/bin/env bash
# The JIT in process VMs (`kiln exec --jit=off|on|verify`, docs/jit.md,
# docs/process-vm.md): every program gives the same stdout and exit status in
# the three modes (and under qemu-riscv64 where it is deterministic), with the
# default threshold and with --jit-threshold 1 (nearly every block translated);
# tests/user/jitcode (code generated at run time, rewritten, run by another
# thread, across fork) must print exactly what qemu-riscv64 prints; busybox
# pipelines (fork, execve in place, pipes) work with the JIT.
# Prints "ok NAME" / "not ok NAME"; exits non-zero if any failed.
set -u
cd "$(dirname "$0")/../.."
KILN=${KILN:-build/kiln}
case $KILN in /*) ;; *) KILN=$PWD/$KILN ;; esac
CACHE=${KILN_CACHE:-$HOME/.cache/kiln}
OUT=build/user-tests
failures=0

ok() { echo "ok $1"; }
nok() { echo "not ok $1${2:+ # $2}"; failures=$((failures + 1)); }

if ! tests/user/build.sh "$OUT" >/dev/null 2>build/user-tests.log; then
    nok build-user-tests "see build/user-tests.log"
    exit 1
fi
[ -x "$KILN" ] || { nok kiln-binary "$KILN missing (make)"; exit 1; }
have_qemu=0
command -v qemu-riscv64 >/dev/null && have_qemu=1

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export TMPDIR=$tmp/skel
mkdir -p "$TMPDIR"

# name, then kiln exec arguments: runs them with --jit=off, on, verify and on with
# threshold 1; all four must agree (stdout and status), and with qemu-riscv64
# when the first argument after the name is --qemu.
modes() {
    local name=$1; shift
    local want_qemu=0
    if [ "$1" = --qemu ]; then want_qemu=$have_qemu; shift; fi
    local ref="" refrc="" m
    if [ $want_qemu = 1 ]; then
        { timeout 120 qemu-riscv64 "$@" >"$tmp/$name.qemu"; } 2>/dev/null
        refrc=$?
        ref=$tmp/$name.qemu
    fi
    for m in off on verify on1; do
        local args=(--jit="${m%1}")
        [ $m = on1 ] && args+=(--jit-threshold 1)
        timeout 300 "$KILN" exec "${args[@]}" "$@" >"$tmp/$name.$m" 2>"$tmp/$name.$m.err"
        local rc=$?
        if grep -q "jit verify" "$tmp/$name.$m.err"; then
            nok "$name" "--jit=$m: $(grep -m1 -A3 'jit verify' "$tmp/$name.$m.err" | tr '\n' ' ')"
            return
        fi
        if [ -z "$ref" ]; then
            ref=$tmp/$name.$m
            refrc=$rc
            continue
        fi
        if ! cmp -s "$ref" "$tmp/$name.$m"; then
            nok "$name" "--jit=$m stdout differs from $(basename "$ref"): $(diff "$ref" "$tmp/$name.$m" | head -3 | tr '\n' ' ')"
            return
        fi
        if [ "$rc" != "$refrc" ]; then
            nok "$name" "--jit=$m exit $rc, $(basename "$ref") $refrc: $(head -c 300 "$tmp/$name.$m.err")"
            return
        fi
    done
    ok "$name"
}

modes jit-hello --qemu "$OUT/hello"
modes jit-sieve --qemu "$OUT/sieve" 2000000
modes jit-threads-counter --qemu "$OUT/counter"
modes jit-threads-pipe --qemu "$OUT/pipe_threads"
modes jit-signals --qemu "$OUT/signals"
modes jit-sigsegv --qemu "$OUT/segv"
modes jit-generated-code --qemu "$OUT/jitcode"
# Direct memory access (docs/jit.md, Process VMs): stores to read-only pages, loads
# from unmapped and PROT_NONE pages, munmap, accesses straddling into an unmapped
# page and addresses at or beyond 2^38, each caught by a guest handler; contents
# kept across PROT_NONE; fork; a deep stack grown a page at a time.
modes jit-direct-faults --qemu "$OUT/directmem"
if command -v strace >/dev/null; then
    # The faults above must come from translated code: kiln's threads take host SIGSEGVs.
    n=$(strace -f -e trace=none "$KILN" exec --jit-threshold 1 "$OUT/directmem" 2>&1 >/dev/null | grep -c -- '--- SIGSEGV')
    if [ "${n:-0}" -ge 20 ]; then ok jit-direct-host-faults; else nok jit-direct-host-faults "only ${n:-0} host faults"; fi
fi
# 200 threads one after another: a thread's start and end do not grow with the
# address space (the decoded-code table of a hart spans the 2^38-byte window).
start=$(date +%s)
"$KILN" exec "$OUT/threadchurn" 200 >"$tmp/churn.out" 2>"$tmp/churn.err"
rc=$? secs=$(( $(date +%s) - start ))
if [ $rc = 0 ] && grep -q "^200 threads" "$tmp/churn.out" && [ $secs -lt 20 ]; then
    ok jit-thread-churn
else
    nok jit-thread-churn "exit $rc after ${secs}s: $(head -c 300 "$tmp/churn.err")"
fi
# The stack's pages are charged to --mem as translated code touches them: 6 MiB do not fit in 4.
"$KILN" exec --mem 4M --jit-threshold 1 "$OUT/directmem" deep >"$tmp/deep.out" 2>"$tmp/deep.err"
rc=$?
if [ $rc = 135 ] && grep -q "out of guest memory" "$tmp/deep.err"; then
    ok jit-direct-mem-limit
else
    nok jit-direct-mem-limit "exit $rc: $(head -c 300 "$tmp/deep.err")"
fi
"$KILN" exec --mem 16M --jit-threshold 1 "$OUT/directmem" deep >"$tmp/deep.out" 2>"$tmp/deep.err"
rc=$?
if [ $rc = 0 ] && grep -q "^deep " "$tmp/deep.out"; then ok jit-direct-stack-fits; else nok jit-direct-stack-fits "exit $rc: $(head -c 300 "$tmp/deep.err")"; fi

# The bench/cpu programs built as Linux processes (bench/cpu/build.sh --user), small.
if BENCH_CFLAGS="-DITERS=2000000 -DCRC_ROUNDS=1 -DSHA_ROUNDS=1 -DFMM_ROUNDS=2 -DMEMCPY_ROUNDS=2 -DOPS=200000" \
    bench/cpu/build.sh --user "$tmp/cpu" >"$tmp/cpu.log" 2>&1; then
    for p in intloop sha256 crc32 fmatmul memcpy memrand; do
        modes "jit-cpu-$p" --qemu "$tmp/cpu/$p"
    done
else
    nok jit-cpu-build "$(head -3 "$tmp/cpu.log" | tr '\n' ' ')"
fi

# busybox: fork + execve (in place) + pipes, many short-lived processes.
BB=$CACHE/guest/busybox
if [ -x "$BB" ]; then
    modes jit-busybox-pipeline --dir /tmp "$BB" sh -c 'echo hi | sha256sum; seq 1 2000 | md5sum'
    modes jit-busybox-loop "$BB" sh -c 'i=0; while [ $i -lt 300 ]; do i=$((i+1)); done; echo $i; for w in a b c; do echo $w | tr a-c x-z; done | sort -r'
    modes jit-busybox-awk "$BB" sh -c 'seq 1 20000 | awk "{s+=\$1*\$1} END {print s}" | sha256sum'
else
    nok "jit-busybox (missing)" "build it with guest/build.sh into $BB"
fi

# Bad flags get one clear line and status 2.
for bad in "--jit=fast" "--jit-cache 10" "--jit-threshold 0"; do
    # shellcheck disable=SC2086
    "$KILN" exec $bad "$OUT/hello" >"$tmp/bad.out" 2>"$tmp/bad.err"
    rc=$?
    if [ $rc = 2 ] && grep -q "bad --jit" "$tmp/bad.err" && [ ! -s "$tmp/bad.out" ]; then
        ok "jit-bad-flag ${bad%% *}"
    else
        nok "jit-bad-flag ${bad%% *}" "exit $rc: $(cat "$tmp/bad.err")"
    fi
done

[ $failures = 0 ]
