#!/bin/sh
# kiln vs QEMU benchmarks: bare-metal CPU programs and default-guest boot,
# interleaved in one run. `make bench` calls this after building kiln and the
# default guest.
#
#   bench/run.sh                 full run (< 10 minutes), markdown on stdout
#   bench/run.sh --quick         fewer rounds (about 2 minutes)
#   bench/run.sh --write-docs    regenerate docs/benchmarks.md from bench/benchmarks.md.in
#   bench/run.sh --only cpu|boot|exec  one benchmark (exec: bench/exec.sh, kiln exec vs qemu-riscv64)
#
# Progress goes to stderr; raw numbers to build/bench/results.json.
set -eu
cd "$(dirname "$0")/.."
exec python3 bench/bench.py --command "bench/run.sh${*:+ $*}" "$@"
