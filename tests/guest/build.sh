#!/bin/sh
# Cross-build every tests/guest/*.S and *.c into OUTDIR/NAME.elf.
# Usage: tests/guest/build.sh OUTDIR
# Only rebuilds an ELF older than its source, a tests/guest/*.h header,
# link.ld or this script. Stops with a non-zero exit on the first compile error.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
out=$1
dir=$(cd "$(dirname "$0")" && pwd)
CROSS=${CROSS:-riscv64-linux-gnu-}
CC="${CROSS}gcc"

if ! command -v "$CC" >/dev/null 2>&1; then
	echo "$0: $CC not found; install gcc-riscv64-linux-gnu" >&2
	exit 1
fi

CFLAGS="-march=rv64gc -mabi=lp64d -mcmodel=medany -nostdlib -nostartfiles \
-static -fno-pic -fno-pie -no-pie -ffreestanding -fno-stack-protector -O2 -Wall \
-I$dir -T $dir/link.ld -Wl,--build-id=none -Wl,--no-warn-rwx-segments"

mkdir -p "$out"
built=0
for src in "$dir"/*.S "$dir"/*.c; do
	[ -e "$src" ] || continue
	base=$(basename "$src")
	name=${base%.*}
	elf="$out/$name.elf"
	stale=0
	if [ ! -e "$elf" ]; then
		stale=1
	else
		for dep in "$src" "$dir"/*.h "$dir/link.ld" "$dir/build.sh"; do
			if [ "$dep" -nt "$elf" ]; then
				stale=1
			fi
		done
	fi
	[ $stale -eq 1 ] || continue
	echo "  CC      $name.elf"
	# Build into a temporary name so a failed build never leaves a
	# fresh-looking ELF behind.
	if ! $CC $CFLAGS -o "$elf.tmp" "$src"; then
		rm -f "$elf.tmp"
		echo "$0: FAILED to build $base" >&2
		exit 1
	fi
	mv "$elf.tmp" "$elf"
	built=$((built + 1))
done
echo "guest tests: $built rebuilt, output in $out"
