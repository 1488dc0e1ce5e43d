#!/usr/bin/env bash
# A long fuzz campaign (docs/security.md "Long runs"): runs each target until it has done
# RUNS executions (default 10 million) or SECONDS have passed (default 3600), keeping its
# corpus in build/fuzz/corpus-NAME, and appends one line per target to
# build/fuzz/campaign.tsv: date, commit, target, executions, seconds, result.
# Usage: tests/fuzz/campaign.sh [-r RUNS] [-t SECONDS] [TARGET...]   (default: every target)
set -u
cd "$(dirname "$0")/../.."
runs=10000000 secs=3600
while getopts r:t: o; do
    case $o in r) runs=$OPTARG ;; t) secs=$OPTARG ;; *) exit 2 ;; esac
done
shift $((OPTIND - 1))
tests/fuzz/build.sh >/dev/null || { echo "campaign: tests/fuzz/build.sh failed" >&2; exit 1; }
targets=("$@")
[ ${#targets[@]} -gt 0 ] || for f in build/fuzz/fuzz_*; do [ -x "$f" ] && targets+=("$(basename "$f")"); done
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
for t in "${targets[@]}"; do
    mkdir -p "build/fuzz/corpus-$t"
    log="build/fuzz/campaign-$t.log"
    start=$(date +%s)
    (cd build/fuzz && "./$t" -runs="$runs" -max_total_time="$secs" -rss_limit_mb=2048 \
        -print_final_stats=1 "corpus-$t") >"$log" 2>&1
    rc=$?
    took=$(( $(date +%s) - start ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    result=clean
    [ $rc -ne 0 ] && result="FAILED (exit $rc, see $log)"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%F)" "$commit" "$t" "${execs:-?}" "$took" "$result" |
        tee -a build/fuzz/campaign.tsv
done
