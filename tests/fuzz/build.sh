#!/usr/bin/env bash
# Builds every tests/fuzz/fuzz_*.c as a libFuzzer binary in build/fuzz/, against all of
# kiln's library sources compiled with ASan + UBSan + fuzzer coverage.
# Targets: every tests/fuzz/fuzz_*.c (fuzz_snapshot: the snapshot state file, docs/snapshots.md).
# Long runs by hand: build/fuzz/fuzz_X -max_total_time=3600 build/fuzz/corpus-fuzz_X
set -eu
cd "$(dirname "$0")/../.."
OUT=build/fuzz
OBJ=$OUT/obj
mkdir -p "$OBJ"
CC=${FUZZ_CC:-clang}
FLAGS="-g -O1 -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Isrc -pthread -fsanitize=address,undefined -fno-sanitize-recover=undefined"
# Each library file once, with coverage instrumentation but without libFuzzer's main.
objs=()
for src in $(find src -name '*.c' ! -path 'src/cli/*' | sort); do
    o="$OBJ/$(echo "${src%.c}" | tr / _).o"
    if [ ! -e "$o" ] || [ "$src" -nt "$o" ] || [ -n "$(find src -name '*.h' -newer "$o" | head -1)" ]; then
        $CC $FLAGS -fsanitize=fuzzer-no-link -c "$src" -o "$o"
    fi
    objs+=("$o")
done
rm -f "$OBJ/libkiln-fuzz.a"
ar rcs "$OBJ/libkiln-fuzz.a" "${objs[@]}"
for t in tests/fuzz/fuzz_*.c; do
    [ -e "$t" ] || continue
    name=$(basename "$t" .c)
    # -lcrypto: the WebSocket handshake's SHA-1 (src/api/websocket.c); -lz: the qcow2 driver;
    # -ljson-c: the OCI config.json parser (src/oci/spec.c).
    $CC $FLAGS -fsanitize=fuzzer "$t" "$OBJ/libkiln-fuzz.a" -lfdt -lm -lcrypto -lz -ljson-c -o "$OUT/$name"
    echo "built $OUT/$name"
done
