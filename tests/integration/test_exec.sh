#!/usr/bin/env bash
# Integration tests for `kiln exec` (process VMs): builds tests/user, runs each
# program under kiln and, where the output must match, under qemu-riscv64 too,
# comparing stdout and exit status. Prints "ok NAME" / "not ok NAME" lines;
# exits non-zero if any failed.
set -u
cd "$(dirname "$0")/../.."
KILN=${KILN:-build/kiln}
case $KILN in /*) ;; *) KILN=$PWD/$KILN ;; esac
CACHE=${KILN_CACHE:-$HOME/.cache/kiln}
OUT=build/user-tests
SYSROOT=/usr/riscv64-linux-gnu
failures=0

ok() { echo "ok $1"; }
nok() { echo "not ok $1${2:+ # $2}"; failures=$((failures + 1)); }

if ! tests/user/build.sh "$OUT" >/dev/null 2>build/user-tests.log; then
    nok build-user-tests "see build/user-tests.log"
    exit 1
fi
ok build-user-tests
[ -x "$KILN" ] || { nok kiln-binary "$KILN missing (make)"; exit 1; }
have_qemu=0
command -v qemu-riscv64 >/dev/null && have_qemu=1

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# kiln's root skeletons go here: other runs of kiln on the machine leave theirs elsewhere.
export TMPDIR=$tmp/skel
mkdir -p "$TMPDIR"

run_kiln() { # name args... -> $tmp/NAME.kiln, status in $tmp/NAME.krc
    local name=$1; shift
    timeout 120 "$KILN" exec "$@" >"$tmp/$name.kiln" 2>"$tmp/$name.kerr"
    echo $? >"$tmp/$name.krc"
}

# Compares kiln with qemu-riscv64 on the same program (stdout + exit status).
compare() { # name [--dyn] prog args...
    local name=$1; shift
    local qemu_args=()
    if [ "$1" = --dyn ]; then qemu_args=(-L "$SYSROOT"); shift; fi
    run_kiln "$name" "$@"
    if [ $have_qemu = 1 ]; then
        timeout 120 qemu-riscv64 "${qemu_args[@]}" "$@" >"$tmp/$name.qemu" 2>/dev/null
        local qrc=$?
        if ! cmp -s "$tmp/$name.kiln" "$tmp/$name.qemu"; then
            nok "$name" "stdout differs from qemu-riscv64: $(diff "$tmp/$name.qemu" "$tmp/$name.kiln" | head -3 | tr '\n' ' ')"
            return
        fi
        if [ "$(cat "$tmp/$name.krc")" != "$qrc" ]; then
            nok "$name" "exit $(cat "$tmp/$name.krc"), qemu-riscv64 $qrc"
            return
        fi
    fi
    ok "$name"
}

expect() { # name expected-status expected-stdout-file-or-string kiln-args...
    local name=$1 want_rc=$2 want=$3; shift 3
    run_kiln "$name" "$@"
    local rc
    rc=$(cat "$tmp/$name.krc")
    if [ "$rc" != "$want_rc" ]; then
        nok "$name" "exit $rc, want $want_rc; stderr: $(head -2 "$tmp/$name.kerr" | tr '\n' ' ')"
    elif [ "$(cat "$tmp/$name.kiln")" != "$want" ]; then
        nok "$name" "output: $(head -5 "$tmp/$name.kiln" | tr '\n' '|')"
    else
        ok "$name"
    fi
}

compare hello "$OUT/hello"
compare hello-dynamic --dyn "$OUT/hello-dyn"
compare argv-env "$OUT/argenv" one "two words" '' "$(printf 'x\ty')"
for code in 0 1 42 255; do
    compare "exit-$code" "$OUT/exitcode" $code
done
compare exit-raw "$OUT/exitcode" 7 raw
compare threads-pipe "$OUT/pipe_threads"
compare threads-futex-counter "$OUT/counter"
compare signals "$OUT/signals"
compare sigsuspend "$OUT/sigsuspend"
compare sigsegv "$OUT/segv"
compare cpu-sieve "$OUT/sieve" 3000000

# Environment: clean by default (kiln's own variables do not leak), --env sets, --env-inherit passes all.
KILN_TEST_HOST=leak run_kiln env --env KILN_TEST_ENV=round-trip --env KILN_TEST_TWO=2 "$OUT/argenv"
grep -qx 'env KILN_TEST_ENV=round-trip' "$tmp/env.kiln" && grep -qx 'env KILN_TEST_TWO=2' "$tmp/env.kiln" &&
    ! grep -q KILN_TEST_HOST "$tmp/env.kiln" && ok env-round-trip || nok env-round-trip "$(tr '\n' '|' <"$tmp/env.kiln")"
KILN_TEST_HOST=inherited run_kiln env-inherit --env-inherit "$OUT/argenv"
grep -qx 'env KILN_TEST_HOST=inherited' "$tmp/env-inherit.kiln" && ok env-inherit || nok env-inherit

# Files inside a mapped directory (same output as qemu-riscv64 on the host directory).
mkdir -p "$tmp/w1" "$tmp/w2"
run_kiln fileio --dir "$tmp/w1:/work" "$OUT/fileio" /work
if [ $have_qemu = 1 ]; then
    (cd "$tmp/w2" && qemu-riscv64 "$OLDPWD/$OUT/fileio" "$tmp/w2") | sed "s|$tmp/w2|/work|" >"$tmp/fileio.qemu"
    cmp -s "$tmp/fileio.kiln" "$tmp/fileio.qemu" && [ "$(cat "$tmp/fileio.krc")" = 0 ] &&
        ok file-io || nok file-io "$(diff "$tmp/fileio.qemu" "$tmp/fileio.kiln" | head -3 | tr '\n' ' ')"
else
    grep -q 'lines=1000' "$tmp/fileio.kiln" && ok file-io || nok file-io
fi
[ -z "$(ls -A "$tmp/w1")" ] && ok file-io-cleanup || nok file-io-cleanup "left: $(ls "$tmp/w1")"

# Escapes: "..", an absolute path outside the mappings, symlinks out of the mapping.
mkdir -p "$tmp/jail"
expect escape-denied 0 "dotdot: No such file or directory
absolute: No such file or directory
symlink-abs: Permission denied
symlink-rel: Permission denied" --dir "$tmp/jail:/jail" "$OUT/escape" /jail

# Read-only mapping refuses writes, still reads.
mkdir -p "$tmp/ro"
echo data >"$tmp/ro/existing"
expect dir-ro 0 "create: Read-only file system
mkdir: Read-only file system
unlink: Read-only file system
read: OK" --dir "$tmp/ro:/data:ro" "$OUT/rofs" /data
[ -f "$tmp/ro/existing" ] && [ ! -e "$tmp/ro/new.txt" ] && ok dir-ro-untouched || nok dir-ro-untouched

# The current directory is not visible unless mapped.
(cd "$tmp/w1" && echo data >existing && "$KILN" exec "$OLDPWD/$OUT/rofs" "$tmp/w1" >/dev/null 2>&1; echo $? >"$tmp/cwd.rc"; rm -f existing)
[ "$(cat "$tmp/cwd.rc")" = 2 ] && ok cwd-not-mapped || nok cwd-not-mapped "chdir to an unmapped dir worked"

# No network without --net.
expect no-net 0 "socket: Permission denied" "$OUT/netdeny"
expect with-net 0 "socket: OK" --net "$OUT/netdeny"

# --time kills a looping program with 137 and a message.
start=$(date +%s)
run_kiln time-limit --time 1 "$OUT/loop"
end=$(date +%s)
if [ "$(cat "$tmp/time-limit.krc")" = 137 ] && grep -q 'time limit' "$tmp/time-limit.kerr" && [ $((end - start)) -lt 10 ]; then
    ok time-limit
else
    nok time-limit "exit $(cat "$tmp/time-limit.krc"), $((end - start)) s"
fi

# --mem is a real limit: a 64 MiB program does not fit in 16 MiB.
run_kiln mem-limit --mem 16M "$OUT/sieve" 60000000
[ "$(cat "$tmp/mem-limit.krc")" != 0 ] && ok mem-limit || nok mem-limit "sieve of 60M ran in 16M"

# Bad input: one clear line and a non-zero status.
bad() { # name want-rc path pattern
    run_kiln "$1" "$3"
    local rc lines
    rc=$(cat "$tmp/$1.krc")
    lines=$(wc -l <"$tmp/$1.kerr")
    if [ "$rc" = "$2" ] && [ "$lines" = 1 ] && grep -q "$4" "$tmp/$1.kerr"; then
        ok "$1"
    else
        nok "$1" "exit $rc, stderr: $(tr '\n' '|' <"$tmp/$1.kerr")"
    fi
}
bad missing-program 127 "$tmp/does-not-exist" "No such file"
printf 'just text\n' >"$tmp/notelf"
bad not-elf 126 "$tmp/notelf" "not an ELF"
bad wrong-arch 126 /bin/true "wrong architecture"
run_kiln no-args
[ "$(cat "$tmp/no-args.krc")" = 2 ] && ok no-program-usage || nok no-program-usage

# busybox: a shell with a pipeline (fork, pipe, wait4, execve of applets).
BB=$CACHE/guest/busybox
if [ -x "$BB" ]; then
    want=$(printf 'hi\n' | sha256sum | cut -d' ' -f1)
    run_kiln busybox --dir /tmp "$BB" sh -c 'echo hi | sha256sum'
    got=$(cut -d' ' -f1 <"$tmp/busybox.kiln")
    [ "$got" = "$want" ] && ok busybox-pipeline || nok busybox-pipeline "got '$got' exit $(cat "$tmp/busybox.krc")"
    # "wait" sleeps in rt_sigsuspend until SIGCHLD's handler has run.
    run_kiln busybox-wait "$BB" sh -c 'sleep 0.1 & true & wait; echo waited'
    [ "$(cat "$tmp/busybox-wait.kiln")" = waited ] && [ "$(cat "$tmp/busybox-wait.krc")" = 0 ] &&
        ok busybox-wait || nok busybox-wait "exit $(cat "$tmp/busybox-wait.krc")"
    run_kiln busybox-ls --dir "$tmp/ro:/data:ro" "$BB" ls /data
    [ "$(cat "$tmp/busybox-ls.kiln")" = existing ] && ok busybox-ls || nok busybox-ls
else
    nok "busybox (missing)" "build it with guest/build.sh into $BB"
fi

[ -z "$(ls -A "$TMPDIR")" ] && ok no-leftover-skeleton || nok no-leftover-skeleton "$(ls "$TMPDIR" | tr '\n' ' ')"
exit $((failures > 0))
