#!/usr/bin/env bash
# kiln img convert -c vs qemu-img convert -c: time (median of RUNS, in seconds, file
# sync included for both) and output size on a 64 MiB raw image of mixed content
# (a quarter each: zero, random, repeated text, low-entropy bytes; docs/disk-images.md).
# Prints a markdown table. KILN=path/to/kiln (default build/kiln).
set -eu
cd "$(dirname "$0")/.."
KILN=${KILN:-build/kiln}
RUNS=${RUNS:-5}
command -v qemu-img >/dev/null || { echo "bench/img.sh: qemu-img not installed" >&2; exit 1; }
T=$(mktemp -d /tmp/kiln-bench-img-XXXXXX)
trap 'rm -rf "$T"' EXIT
python3 - "$T/src.raw" <<'PY'
import os, random, sys
random.seed(1)
with open(sys.argv[1], "wb") as f:
    for i in range(1024):
        k = i % 4
        if k == 0: f.write(bytes(65536))
        elif k == 1: f.write(os.urandom(65536))
        elif k == 2: f.write((b"kiln bench %04d " % i) * 4096)
        else: f.write(bytes(random.getrandbits(4) for _ in range(65536)))
PY
sync # the source written back first: a later fsync must not pay for it
now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.2f", m}'; }
# "wall cpu": medians of wall-clock seconds (the file synced) and of user+system CPU seconds
# (the shared 2-core host makes wall time noisy; CPU time is the compressor's own cost).
median_s() {
    local w=() c=()
    for _ in $(seq "$RUNS"); do
        rm -f "$T/out.qcow2"
        local s e
        s=$(now); /usr/bin/time -f '%U %S' -o "$T/cpu" "$@" >/dev/null 2>&1; sync "$T/out.qcow2"; e=$(now)
        w+=("$(echo "$e - $s" | bc -l)")
        c+=("$(awk '{print $1 + $2}' "$T/cpu")")
    done
    echo "$(printf '%s\n' "${w[@]}" | median) $(printf '%s\n' "${c[@]}" | median)"
}
read -r k_t k_c < <(median_s "$KILN" img convert -c -O qcow2 "$T/src.raw" "$T/out.qcow2")
k_size=$(stat -c %s "$T/out.qcow2")
qemu-img check -q "$T/out.qcow2"
read -r q_t q_c < <(median_s qemu-img convert -c -f raw -O qcow2 "$T/src.raw" "$T/out.qcow2")
q_size=$(stat -c %s "$T/out.qcow2")
echo "| 64 MiB mixed image, convert -c -O qcow2 | kiln img | qemu-img |"
echo "|---|---|---|"
echo "| wall time (s, median of $RUNS, synced) | $k_t | $q_t |"
echo "| CPU time (s, user + system, median) | $k_c | $q_c |"
echo "| output size (MiB) | $(echo "$k_size / 1048576" | bc -l | awk '{printf "%.1f", $1}') | $(echo "$q_size / 1048576" | bc -l | awk '{printf "%.1f", $1}') |"
