#!/usr/bin/env bash
# Bad input to `kiln run` gets one clear line on stderr and a non-zero status, never a crash.
set -u
KILN=${KILN:-build/kiln}
CACHE=${KILN_CACHE:-$HOME/.cache/kiln}/guest
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# expect_error NAME PATTERN -- ARGS...: status in 1..127, exactly one stderr line matching PATTERN.
expect_error() {
    local name=$1 pattern=$2
    shift 3
    "$KILN" "$@" </dev/null >"$T/out" 2>"$T/err"
    local rc=$? lines
    lines=$(wc -l <"$T/err")
    if [ "$rc" -ge 1 ] && [ "$rc" -lt 128 ] && [ "$lines" -eq 1 ] && grep -qiE "$pattern" "$T/err"; then
        echo "ok $name"
    else
        echo "not ok $name -- status $rc, stderr: $(head -c 300 "$T/err")"
    fi
}

expect_error "unknown flag" "unknown option" -- run --frobnicate
expect_error "unknown command" "unknown command" -- frob
expect_error "flag without value" "needs a value" -- run --mem
expect_error "bad size suffix" "not a size" -- run --mem 12Q
expect_error "zero size" "not a size" -- run --mem 0
expect_error "size too small" "between" -- run --mem 1K
expect_error "size too big" "between" -- run --mem 1T
expect_error "cpus zero" "cpus" -- run --cpus 0
expect_error "cpus too many" "cpus" -- run --cpus 33
expect_error "cpus not a number" "cpus" -- run --cpus two
expect_error "missing kernel" "no such file" -- run --kernel "$T/nope"
expect_error "missing initrd" "no such file" -- run --kernel "$CACHE/Image" --initrd "$T/nope"
expect_error "missing firmware" "no such file" -- run --firmware "$T/nope"
head -c 100000 /dev/urandom >"$T/junk"
# A file without ELF or Image magic is a raw binary, loaded as is (as QEMU does: issue 11), so
# a corrupt kernel is an Image cut short (its header says how big it is) or a compressed one.
head -c 4096 "$CACHE/Image" >"$T/cut-Image"
expect_error "corrupt kernel" "truncated|not a RISC-V Linux Image" -- run --kernel "$T/cut-Image"
gzip -c "$T/junk" >"$T/junk.gz"
expect_error "compressed kernel" "gzip-compressed" -- run --kernel "$T/junk.gz"
printf '\177ELF\002\001\001' >"$T/badelf"
head -c 200 /dev/urandom >>"$T/badelf"
expect_error "corrupt firmware ELF" "firmware|ELF|header" -- run --firmware "$T/badelf"
expect_error "memory too small for the images" "too small|does not fit|outside guest RAM|more than guest RAM" -- run --mem 4M
expect_error "missing disk" "no such file|disk" -- run --disk "$T/nope.img"
expect_error "bad disk option" "unknown option" -- run --disk "$T/x.img,frob"
expect_error "bad disk cache" "cache" -- run --disk "$T/x.img,cache=maybe"
expect_error "bad net spec" "net" -- run --net bogus
expect_error "bad hostfwd" "port|hostfwd" -- run --net user,hostfwd=tcp:127.0.0.1:99999-:22
expect_error "initrd without kernel" "needs --kernel" -- run --firmware "$CACHE/fw_dynamic.bin" --initrd "$T/junk"

# The same kind of mistake gets the same status: a malformed --disk or --net is a usage error.
KILN_STATE_DIR="$T/state" "$KILN" run --net bogus </dev/null >/dev/null 2>"$T/err"; net_rc=$?
"$KILN" run --disk "$T/x.img,frob" </dev/null >/dev/null 2>&1; disk_rc=$?
if [ "$net_rc" -eq 2 ] && [ "$disk_rc" -eq 2 ]; then echo "ok bad --net and bad --disk both exit 2"; else
    echo "not ok bad --net and bad --disk both exit 2 -- net $net_rc, disk $disk_rc"; fi
"$KILN" run --disk "$T/nope.img" </dev/null >/dev/null 2>"$T/err"
if grep -q "disk: disk" "$T/err"; then echo "not ok disk errors do not stutter -- $(cat "$T/err")"; else echo "ok disk errors do not stutter"; fi
expect_error "QEMU habit: --mem 256 suggests 256M" "did you mean 256M" -- run --mem 256
KILN_STATE_DIR="$T/state" expect_error "stop --timeout abc is a usage error" "timeout 'abc'" -- stop vm --timeout abc
KILN_STATE_DIR="$T/no/such/state" expect_error "a KILN_STATE_DIR without a parent is refused" "parent" -- ls
if [ ! -e "$T/no" ]; then echo "ok ... and nothing is created there"; else echo "not ok ... and nothing is created there"; fi

# The Makefile asks pkg-config nothing before `make deps` has installed it.
mkdir -p "$T/fakebin"
printf '#!/bin/sh\necho pkg-config-was-called >&2\nexit 1\n' >"$T/fakebin/pkg-config"
chmod +x "$T/fakebin/pkg-config"
if PATH="$T/fakebin:$PATH" make -n deps 2>&1 | grep -q pkg-config-was-called; then
    echo "not ok make deps runs before pkg-config is asked"
else
    echo "ok make deps runs before pkg-config is asked"
fi

# Two kiln processes cannot write the same disk image.
truncate -s 16M "$T/locked.img"
"$KILN" run --disk "$T/locked.img" </dev/null >/dev/null 2>&1 &
pid=$!
sleep 1
expect_error "disk locked by another kiln" "in use" -- run --disk "$T/locked.img"
kill $pid 2>/dev/null
wait $pid 2>/dev/null

# Good input that ends at once.
if "$KILN" --version | grep -q '^kiln '; then echo "ok --version"; else echo "not ok --version"; fi
if "$KILN" run --help | grep -q -- '--mem'; then echo "ok run --help"; else echo "not ok run --help"; fi
if "$KILN" run --cpus 2 --dump-dtb "$T/k.dtb" && dtc -I dtb -O dts "$T/k.dtb" 2>/dev/null | grep -q 'cpu@1'; then
    echo "ok --dump-dtb writes a valid device tree"
else
    echo "not ok --dump-dtb writes a valid device tree"
fi
