#!/bin/sh
# Cross-builds the riscv64 Linux test programs for `kiln exec` into OUTDIR
# (default build/user-tests): every tests/user/*.c statically, plus a
# dynamically linked hello (hello-dyn) that needs /lib/ld-linux-riscv64-lp64d.so.1.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-build/user-tests}
CC=${RISCV_CC:-riscv64-linux-gnu-gcc}
command -v "$CC" >/dev/null || { echo "build.sh: $CC not found (apt-get install gcc-riscv64-linux-gnu)" >&2; exit 1; }
mkdir -p "$out"
for src in "$here"/*.c; do
    name=$(basename "$src" .c)
    if [ ! "$out/$name" -nt "$src" ]; then
        "$CC" -O2 -static -pthread -o "$out/$name" "$src"
    fi
done
if [ ! "$out/hello-dyn" -nt "$here/hello.c" ]; then
    "$CC" -O2 -o "$out/hello-dyn" "$here/hello.c"
fi
