#!/bin/sh
# Builds the guest side of the disk benchmark into OUTDIR (bench/bench.py calls it):
#   OUTDIR/randread                 static RV64 Linux program (randread.c)
#   OUTDIR/initramfs-bench.cpio.gz  the default guest's initramfs with /bin/randread appended
# Usage: bench/io/build.sh OUTDIR INITRAMFS
# Linux accepts concatenated gzip'd newc archives as one initramfs, so the
# default initramfs is copied unchanged and a second archive is appended.
set -eu

if [ $# -ne 2 ]; then
	echo "usage: $0 OUTDIR INITRAMFS" >&2
	exit 2
fi
out=$1
initramfs=$2
dir=$(cd "$(dirname "$0")" && pwd)
CC="${CROSS:-riscv64-linux-gnu-}gcc"

if ! command -v "$CC" >/dev/null 2>&1; then
	echo "$0: $CC not found; install gcc-riscv64-linux-gnu" >&2
	exit 1
fi
for tool in cpio gzip; do
	command -v $tool >/dev/null 2>&1 || { echo "$0: $tool not found" >&2; exit 1; }
done

mkdir -p "$out/root/bin"
"$CC" -static -O2 -Wall -Werror -o "$out/randread" "$dir/randread.c"
cp "$out/randread" "$out/root/bin/randread"
cp "$initramfs" "$out/initramfs-bench.cpio.gz.tmp"
(cd "$out/root" && echo bin/randread | cpio --quiet -o -H newc -R 0:0 | gzip -9) >>"$out/initramfs-bench.cpio.gz.tmp"
mv "$out/initramfs-bench.cpio.gz.tmp" "$out/initramfs-bench.cpio.gz"
