#!/usr/bin/env bash
# The JIT against the interpreter (docs/jit.md): every ISA program in tests/guest
# passes with --jit=off, on and verify, every bare-metal benchmark in bench/cpu
# (built small) prints the same result in all three modes, and the default guest
# boots to /init with --jit=on and verify on 1 and 4 harts, and with a code cache so
# small it is flushed over and over (when the guest is built).
set -u
cd "$(dirname "$0")/../.."
KILN=${KILN:-build/kiln}
OUT=build/jit-tests
mkdir -p "$OUT"
fails=0
ok() { echo "ok $1"; }
ko() { echo "not ok $1${2:+ # $2}"; fails=$((fails + 1)); }

if [ ! -x "$KILN" ]; then
    ko jit/build "$KILN missing"
    exit 1
fi
if ! command -v riscv64-linux-gnu-gcc >/dev/null 2>&1; then
    echo "ok jit # SKIP riscv64-linux-gnu-gcc not installed"
    exit 0
fi

if tests/guest/build.sh build/guest-tests >"$OUT/guest-build.log" 2>&1; then
    for elf in build/guest-tests/*.elf; do
        name=$(basename "$elf" .elf)
        src=$(ls tests/guest/"$name".* 2>/dev/null | head -1)
        args=$(grep -h '^[#/]* *kiln-args:' "$src" 2>/dev/null | head -1 | sed 's/.*kiln-args://')
        # Threshold 1: ISA programs mostly run each line once, so translate on first entry.
        for mode in off on verify; do
            # shellcheck disable=SC2086
            if timeout 120 "$KILN" run --mem 64M --jit=$mode --jit-threshold 1 --firmware "$elf" $args \
                </dev/null >"$OUT/isa-$name-$mode.log" 2>&1; then
                ok "jit/isa/$name/$mode"
            else
                ko "jit/isa/$name/$mode" "$(tail -1 "$OUT/isa-$name-$mode.log")"
            fi
        done
    done
else
    ko jit/isa-build "see $OUT/guest-build.log"
fi

# Benchmarks at a fraction of their size: the same output (checksums) in every mode.
if BENCH_CFLAGS="-DITERS=2000000" bench/cpu/build.sh "$OUT/bench" >"$OUT/bench-build.log" 2>&1; then
    for elf in "$OUT"/bench/*.elf; do
        name=$(basename "$elf" .elf)
        [ "$name" = empty ] && continue
        ref=""
        for mode in off on verify; do
            if ! timeout 300 "$KILN" run --mem 128M --jit=$mode --firmware "$elf" </dev/null \
                >"$OUT/bench-$name-$mode.log" 2>&1; then
                ko "jit/bench/$name/$mode" "$(tail -1 "$OUT/bench-$name-$mode.log")"
                continue
            fi
            got=$(grep "^$name:" "$OUT/bench-$name-$mode.log")
            if [ -z "$got" ]; then
                ko "jit/bench/$name/$mode" "no result line"
            elif [ -z "$ref" ]; then
                ref=$got
                ok "jit/bench/$name/$mode"
            elif [ "$got" = "$ref" ]; then
                ok "jit/bench/$name/$mode"
            else
                ko "jit/bench/$name/$mode" "'$got' differs from --jit=off's '$ref'"
            fi
        done
    done
else
    ko jit/bench-build "see $OUT/bench-build.log"
fi
# The default Linux guest: /init runs and powers off (kiln.run=poweroff), exit status 0;
# verify mode stops the VM with status 1 at the first block that differs.
GUEST=${KILN_CACHE:-$HOME/.cache/kiln}/guest
if [ -e "$GUEST/Image" ] && [ -e "$GUEST/initramfs.cpio.gz" ] && [ -e "$GUEST/fw_dynamic.bin" ]; then
    for cpus in 1 4; do
        for mode in off on verify; do
            name="jit/boot/$mode/${cpus}cpu"
            if timeout 300 "$KILN" run --mem 256M --cpus $cpus --jit=$mode --append "console=ttyS0 kiln.run=poweroff" \
                </dev/null >"$OUT/boot-$mode-$cpus.log" 2>&1 && grep -q "kiln-init: ready" "$OUT/boot-$mode-$cpus.log"; then
                ok "$name"
            else
                ko "$name" "$(grep -m1 'jit verify' "$OUT/boot-$mode-$cpus.log" || tail -1 "$OUT/boot-$mode-$cpus.log")"
            fi
        done
    done
    # A 1 MiB cache and threshold 8: the cache fills and is flushed dozens of times per boot.
    name=jit/boot/tiny-cache
    if timeout 300 "$KILN" run -v --mem 256M --jit=on --jit-cache 1M --jit-threshold 8 \
        --append "console=ttyS0 kiln.run=poweroff" </dev/null >"$OUT/boot-tiny.log" 2>&1 &&
        grep -q "kiln-init: ready" "$OUT/boot-tiny.log" && ! grep -q " 0 flushes" "$OUT/boot-tiny.log"; then
        ok "$name"
    else
        ko "$name" "$(tail -1 "$OUT/boot-tiny.log")"
    fi
    # Code that reaches guest RAM by DMA (tests/user/jitdma.c): a function read with
    # O_DIRECT into an executable page is called until translated, then another is read by
    # the device into the same page; FENCE.I (riscv_flush_icache) must make it run.
    name=jit/boot/dma-code
    if ! command -v mkfs.ext4 >/dev/null 2>&1; then
        echo "ok $name # SKIP mkfs.ext4 not installed"
    elif tests/user/build.sh build/user-tests >"$OUT/user-build.log" 2>&1; then
        rm -rf "$OUT/dmafs" "$OUT/dma.img"
        mkdir -p "$OUT/dmafs"
        cp build/user-tests/jitdma "$OUT/dmafs/"
        # block 0: addi a0, a0, 1; ret    block 1: slli a0, a0, 1; ret
        python3 -c 'import struct, sys
blk = lambda *w: struct.pack("<%dI" % len(w), *w).ljust(4096, b"\0")
sys.stdout.buffer.write(blk(0x00150513, 0x00008067) + blk(0x00151513, 0x00008067))' >"$OUT/dmafs/code.bin"
        truncate -s 16M "$OUT/dma.img"
        mkfs.ext4 -q -d "$OUT/dmafs" "$OUT/dma.img"
        printf '%s\n' 'mkdir -p /mnt && mount /dev/vda /mnt && /mnt/jitdma /mnt/code.bin' 'poweroff' |
            timeout 300 "$KILN" run -v --mem 128M --disk "$OUT/dma.img" --append console=ttyS0 \
                >"$OUT/boot-dma.log" 2>&1
        # sum of i + 1, then of 2 i, for i < 1000
        if grep -q "^jitdma round 0: 500500" "$OUT/boot-dma.log" &&
            grep -q "^jitdma round 1: 999000" "$OUT/boot-dma.log"; then
            ok "$name"
        else
            ko "$name" "$(grep -a '^jitdma' "$OUT/boot-dma.log" | tr '\n' ' '); see $OUT/boot-dma.log"
        fi
    else
        ko "$name" "see $OUT/user-build.log"
    fi
    # An idle guest gives its code back (jit_idle: two quiet seconds in a row), and code that
    # runs again afterwards is translated again and still right.
    name=jit/boot/idle-release
    (sleep 7; echo 'echo idle-sum-$((40+2))'; sleep 1; echo poweroff) |
        timeout 300 "$KILN" run -v --mem 128M --jit=on --append console=ttyS0 >"$OUT/boot-idle.log" 2>&1
    released=$(sed -n 's/.*flushes (\([0-9]*\) released while idle).*/\1/p' "$OUT/boot-idle.log" | head -1)
    if grep -q "idle-sum-42" "$OUT/boot-idle.log" && [ "${released:-0}" -ge 1 ]; then
        ok "$name"
    else
        ko "$name" "released=${released:-none}; $(tail -1 "$OUT/boot-idle.log")"
    fi
else
    echo "ok jit/boot # SKIP default guest not built (make guest)"
fi
exit $((fails > 0))
