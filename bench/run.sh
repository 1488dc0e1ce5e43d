#!/bin/sh
# kiln vs QEMU benchmarks: bare-metal CPU programs, default-guest boot, disk,
# network and density (many idle VMs), interleaved in one run. `make bench`
# calls this after building kiln and the default guest.
#
#   bench/run.sh                 full run (< 15 minutes), markdown on stdout
#   bench/run.sh --quick         fewer rounds (about 5 minutes)
#   bench/run.sh --write-docs    regenerate docs/benchmarks.md from bench/benchmarks.md.in
#   bench/run.sh --only cpu|boot|exec|disk|net|density  one benchmark (exec: bench/exec.sh,
#                                kiln exec vs qemu-riscv64)
#   bench/run.sh --full          also 20 VMs at once in the density benchmark
#
# Progress goes to stderr; raw numbers to build/bench/results.json.
set -eu
cd "$(dirname "$0")/.."
exec python3 bench/bench.py --command "bench/run.sh${*:+ $*}" "$@"
