#!/bin/sh
# Builds a plain `defconfig` riscv64 Linux Image (Debian's linux-source-6.1, the
# same tree the default guest uses) for the boot benchmark's second kernel:
# issue #10 measures boot on the default guest and on a defconfig kernel.
# Cached: later runs print the path and return at once.
#
#   bench/defconfig.sh           prints the Image's path (builds it first if needed)
#
# Needs the default guest's work tree (`make guest` extracts the sources);
# takes 20-40 minutes of CPU on 2 cores, at nice 10.
set -eu
CACHE=${KILN_CACHE:-$HOME/.cache/kiln}
LSRC=$CACHE/guest/work/linux-src
OUT=$CACHE/bench/defconfig
LOBJ=$OUT/obj
CROSS=${CROSS:-riscv64-linux-gnu-}
ver=$(cat "$CACHE/guest/work/linux-src.version" 2>/dev/null || true)
if [ -z "$ver" ] || [ ! -f "$LSRC/Makefile" ]; then
	echo "$0: no kernel sources in $LSRC: run 'make guest' first" >&2
	exit 1
fi
if [ -f "$OUT/Image" ] && [ "$(cat "$OUT/Image.version" 2>/dev/null)" = "$ver" ]; then
	echo "$OUT/Image"
	exit 0
fi
mkdir -p "$LOBJ"
echo "defconfig kernel $ver: configuring…" >&2
make -s -C "$LSRC" O="$LOBJ" ARCH=riscv CROSS_COMPILE="$CROSS" defconfig >&2
echo "defconfig kernel $ver: building Image (20-40 minutes)…" >&2
nice -n 10 make -s -C "$LSRC" O="$LOBJ" ARCH=riscv CROSS_COMPILE="$CROSS" -j"$(nproc)" Image >&2
cp "$LOBJ/arch/riscv/boot/Image" "$OUT/Image.tmp"
mv -f "$OUT/Image.tmp" "$OUT/Image"
printf '%s\n' "$ver" >"$OUT/Image.version"
echo "$OUT/Image"
