#!/bin/sh
# Run every guest test ELF in OUTDIR on QEMU's spike machine (the reference
# implementation) and print PASS/FAIL per program.
# Usage: tests/guest/check-qemu.sh OUTDIR
# Builds first. Exit status is non-zero if any program fails.
set -u

if [ $# -ne 1 ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
out=$1
dir=$(cd "$(dirname "$0")" && pwd)
QEMU=${QEMU:-qemu-system-riscv64}

"$dir/build.sh" "$out" || exit 1

fails=0
total=0
for src in "$dir"/*.S "$dir"/*.c; do
	[ -e "$src" ] || continue
	base=$(basename "$src")
	name=${base%.*}
	# Same convention the kiln runner uses: "# kiln-args: --cpus N".
	args=$(grep -h '^[#/]* *kiln-args:' "$src" | sed 's/^[#/]* *kiln-args://')
	smp=1
	set -- $args
	while [ $# -gt 0 ]; do
		case $1 in
		--cpus) smp=$2; shift ;;
		--cpus=*) smp=${1#--cpus=} ;;
		esac
		shift
	done
	# "# qemu-skip: why": a program for extensions this QEMU lacks.
	skip=$(grep -h '^[#/]* *qemu-skip:' "$src" | head -1 | sed 's/^[#/]* *qemu-skip: *//')
	if [ -n "$skip" ]; then
		echo "SKIP  $name ($skip)"
		continue
	fi
	# "# qemu-cpu: rv64,Ext=true": extensions QEMU leaves off by default.
	cpu=$(grep -h '^[#/]* *qemu-cpu:' "$src" | head -1 | sed 's/^[#/]* *qemu-cpu: *//')
	total=$((total + 1))
	timeout 10 "$QEMU" -M spike ${cpu:+-cpu "$cpu"} -nographic -bios none -smp "$smp" \
		-kernel "$out/$name.elf" </dev/null >"$out/$name.qemu.log" 2>&1
	rc=$?
	if [ $rc -eq 0 ]; then
		echo "PASS  $name"
	elif [ $rc -eq 124 ]; then
		echo "FAIL  $name (timeout)"
		fails=$((fails + 1))
	else
		echo "FAIL  $name (test case $rc)"
		fails=$((fails + 1))
	fi
done
echo "$((total - fails))/$total passed on QEMU spike"
[ $fails -eq 0 ]
