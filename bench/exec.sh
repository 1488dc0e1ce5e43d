#!/usr/bin/env bash
# kiln exec vs qemu-riscv64: start-up latency (a static program returning 0,
# 20 runs, median) and a CPU-bound program (prime sieve) run time.
# Prints a markdown table. KILN=path/to/kiln (default build/kiln).
set -eu
cd "$(dirname "$0")/.."
KILN=${KILN:-build/kiln}
OUT=build/user-tests
RUNS=${RUNS:-20}
SIEVE_N=${SIEVE_N:-30000000}
tests/user/build.sh "$OUT" >/dev/null
command -v qemu-riscv64 >/dev/null || { echo "bench/exec.sh: qemu-riscv64 not installed" >&2; exit 1; }

now() { date +%s.%N; }
# median of RUNS timings of a command, in milliseconds
median_ms() {
    local t=()
    for _ in $(seq "$RUNS"); do
        local s e
        s=$(now); "$@" >/dev/null 2>&1; e=$(now)
        t+=("$(echo "($e - $s) * 1000" | bc -l)")
    done
    printf '%s\n' "${t[@]}" | sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m}'
}
once_s() {
    local s e
    s=$(now); "$@" >/dev/null; e=$(now)
    echo "$e - $s" | bc -l | awk '{printf "%.2f", $1}'
}

k_start=$(median_ms "$KILN" exec "$OUT/truth")
q_start=$(median_ms qemu-riscv64 "$OUT/truth")
k_dyn=$(median_ms "$KILN" exec "$OUT/hello-dyn")
q_dyn=$(median_ms qemu-riscv64 -L /usr/riscv64-linux-gnu "$OUT/hello-dyn")
k_cpu=$(once_s "$KILN" exec "$OUT/sieve" "$SIEVE_N")
q_cpu=$(once_s qemu-riscv64 "$OUT/sieve" "$SIEVE_N")
ratio() { echo "$1 / $2" | bc -l | awk '{printf "%.2fx", $1}'; }

echo "| benchmark | kiln exec | qemu-riscv64 | kiln / qemu |"
echo "|---|---|---|---|"
echo "| start-up, static \`true\` (median of $RUNS) | ${k_start} ms | ${q_start} ms | $(ratio "$k_start" "$q_start") |"
echo "| start-up, dynamic hello (median of $RUNS) | ${k_dyn} ms | ${q_dyn} ms | $(ratio "$k_dyn" "$q_dyn") |"
echo "| prime sieve to $SIEVE_N | ${k_cpu} s | ${q_cpu} s | $(ratio "$k_cpu" "$q_cpu") |"
