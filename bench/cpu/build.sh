#!/bin/sh
# Cross-builds every bench/cpu/*.c into OUTDIR/NAME.elf (bare metal, linked at
# 0x80000000, entry _start in crt.S). Usage: bench/cpu/build.sh [--user] OUTDIR
# --user builds the same programs as static riscv64 Linux executables OUTDIR/NAME
# (crt_user.S; output by write(2)) for kiln exec and qemu-riscv64.
# Extra compiler flags (e.g. -DITERS=1000 for a smoke run) come from BENCH_CFLAGS.
set -eu

user=0
if [ "${1:-}" = --user ]; then
	user=1
	shift
fi
if [ $# -ne 1 ]; then
	echo "usage: $0 [--user] OUTDIR" >&2
	exit 2
fi
out=$1
dir=$(cd "$(dirname "$0")" && pwd)
CC="${CROSS:-riscv64-linux-gnu-}gcc"

if ! command -v "$CC" >/dev/null 2>&1; then
	echo "$0: $CC not found; install gcc-riscv64-linux-gnu" >&2
	exit 1
fi

# -fno-builtin and -fno-tree-loop-distribute-patterns keep GCC from turning the
# benchmark loops into calls to memcpy/memset, which do not exist here.
CFLAGS="-march=rv64gc -mabi=lp64d -mcmodel=medany -O2 -nostdlib -nostartfiles \
-static -ffreestanding -fno-builtin -fno-tree-loop-distribute-patterns \
-fno-pic -fno-pie -no-pie -fno-stack-protector -Wall -Werror \
-T $dir/link.ld -Wl,--build-id=none -Wl,--no-warn-rwx-segments ${BENCH_CFLAGS:-}"

UCFLAGS="-march=rv64gc -mabi=lp64d -O2 -nostdlib -nostartfiles -static -ffreestanding \
-fno-builtin -fno-tree-loop-distribute-patterns -fno-stack-protector -Wall -Werror \
-DBENCH_USER -Wl,--build-id=none ${BENCH_CFLAGS:-}"

mkdir -p "$out"
for src in "$dir"/*.c; do
	name=$(basename "$src" .c)
	if [ $user = 1 ]; then
		# shellcheck disable=SC2086
		$CC $UCFLAGS -o "$out/$name" "$dir/crt_user.S" "$src"
		continue
	fi
	# shellcheck disable=SC2086
	$CC $CFLAGS -o "$out/$name.elf" "$dir/crt.S" "$src"
done
