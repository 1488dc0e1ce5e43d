#!/usr/bin/env bash
# Runs every kiln test: unit tests (plain and under ASan/UBSan), ISA programs on the
# emulated hart, integration tests that boot real guests, and short fuzz runs.
# Ends with one line "N passed, M failed" (and ", K skipped").
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=$(nproc 2>/dev/null || echo 2)
LOG=build/test-logs
mkdir -p "$LOG"
pass=0 fail=0 skip=0
failed_names=()

say() { printf '%s\n' "$*"; }
ok() { pass=$((pass + 1)); say "  PASS  $1"; }
ko() { fail=$((fail + 1)); failed_names+=("$1"); say "  FAIL  $1${2:+ ($2)}"; }
sk() { skip=$((skip + 1)); say "  SKIP  $1${2:+ ($2)}"; }

# cmocka prints "[  PASSED  ] N test(s)." and "[  FAILED  ] N test(s)"; count its cases.
run_cmocka() { # label binary
    local label=$1 bin=$2 name out rc p f
    name=$(basename "$bin")
    out="$LOG/$label-$name.log"
    timeout 300 "$bin" >"$out" 2>&1
    rc=$?
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
    p=${p:-0} f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    pass=$((pass + p)); fail=$((fail + f))
    if [ "$f" -ne 0 ]; then
        failed_names+=("$label/$name")
        say "  FAIL  $label/$name: $p passed, $f failed (log: $out)"
        grep -E '^\[  (FAILED|  ERROR)|ERROR|error|Sanitizer' "$out" | head -5 | sed 's/^/        /'
    else
        say "  PASS  $label/$name: $p cases"
    fi
}

say "== build"
if ! make -s -j"$JOBS" all unit >"$LOG/build.log" 2>&1; then
    tail -30 "$LOG/build.log"
    ko build "see $LOG/build.log"
    say "$pass passed, $fail failed, $skip skipped"
    exit 1
fi
ok build

say "== unit tests"
for t in build/tests/test_*; do
    [ -x "$t" ] && run_cmocka unit "$t"
done

say "== unit tests under AddressSanitizer + UBSan"
if make -s -j"$JOBS" SAN=1 unit >"$LOG/build-san.log" 2>&1; then
    for t in build/san/tests/test_*; do
        [ -x "$t" ] && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 run_cmocka asan "$t"
    done
else
    tail -20 "$LOG/build-san.log"
    ko "asan build" "see $LOG/build-san.log"
fi

say "== ISA programs (tests/guest) on kiln's hart"
if [ -x tests/guest/build.sh ]; then
    if tests/guest/build.sh build/guest-tests >"$LOG/guest-tests-build.log" 2>&1; then
        for elf in build/guest-tests/*.elf; do
            [ -e "$elf" ] || continue
            name=$(basename "$elf" .elf)
            src=$(ls tests/guest/"$name".* 2>/dev/null | head -1)
            args=$(grep -h '^[#/]* *kiln-args:' "$src" 2>/dev/null | head -1 | sed 's/.*kiln-args://')
            # shellcheck disable=SC2086
            if timeout 120 build/kiln run --mem 64M --firmware "$elf" $args </dev/null >"$LOG/isa-$name.log" 2>&1; then
                ok "isa/$name"
            else
                ko "isa/$name" "$(tail -1 "$LOG/isa-$name.log")"
            fi
        done
    else
        tail -20 "$LOG/guest-tests-build.log"
        ko "isa build" "see $LOG/guest-tests-build.log"
    fi
fi

say "== guest image"
if guest/build.sh; then
    ok "guest image"
    guest_ok=1
else
    ko "guest image" "guest/build.sh failed"
    guest_ok=0
fi

say "== integration tests (real guests)"
export KILN="$ROOT/build/kiln"
export KILN_CACHE="${KILN_CACHE:-$HOME/.cache/kiln}"
for t in tests/integration/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    if [ "$guest_ok" -ne 1 ]; then sk "integration/$name" "no guest image"; continue; fi
    timeout 900 "$t" >"$LOG/int-$name.log" 2>&1
    rc=$?
    # An integration script may report several cases as lines "ok NAME" / "not ok NAME".
    p=$(grep -c '^ok ' "$LOG/int-$name.log")
    f=$(grep -c '^not ok ' "$LOG/int-$name.log")
    if [ "$rc" -eq 77 ]; then
        sk "integration/$name" "$(tail -1 "$LOG/int-$name.log")"
    elif [ "$p" -gt 0 ] || [ "$f" -gt 0 ]; then
        grep -E '^(ok|not ok) ' "$LOG/int-$name.log" | sed "s|^|        |"
        pass=$((pass + p)); fail=$((fail + f))
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then ko "integration/$name" "exit $rc"; fi
        [ "$f" -gt 0 ] && failed_names+=("integration/$name")
    elif [ "$rc" -eq 0 ]; then
        ok "integration/$name"
    else
        ko "integration/$name" "exit $rc, log $LOG/int-$name.log"
        tail -5 "$LOG/int-$name.log" | sed 's/^/        /'
    fi
done

say "== fuzz (short runs; see docs/security.md for long ones)"
if [ -x tests/fuzz/build.sh ] && tests/fuzz/build.sh >"$LOG/fuzz-build.log" 2>&1; then
    for f in build/fuzz/fuzz_*; do
        [ -x "$f" ] || continue
        name=$(basename "$f")
        mkdir -p "build/fuzz/corpus-$name"
        if timeout 120 "$f" -max_total_time="${KILN_FUZZ_SECONDS:-15}" -rss_limit_mb=2048 \
            "build/fuzz/corpus-$name" >"$LOG/$name.log" 2>&1; then
            ok "fuzz/$name"
        else
            ko "fuzz/$name" "see $LOG/$name.log"
        fi
    done
elif [ -x tests/fuzz/build.sh ]; then
    ko "fuzz build" "see $LOG/fuzz-build.log"
fi

say ""
[ "$fail" -gt 0 ] && say "failed: ${failed_names[*]}"
say "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
