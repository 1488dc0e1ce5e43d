#!/usr/bin/env bash
# The process-VM boundary of `kiln exec` tried as an attacker would (issue 9):
# riscv64 programs in tests/user/sandbox.c attempt each escape and each test
# checks the host is untouched (no host code run, no host process signalled,
# no host file reached, limits held across execve and fork, nothing left
# running). Prints "ok NAME" / "not ok NAME"; exits non-zero if any failed.
set -u
cd "$(dirname "$0")/../.."
KILN=${KILN:-build/kiln}
case $KILN in /*) ;; *) KILN=$PWD/$KILN ;; esac
CACHE=${KILN_CACHE:-$HOME/.cache/kiln}
OUT=$PWD/build/user-tests
failures=0

ok() { echo "ok $1"; }
nok() { echo "not ok $1${2:+ # $2}"; failures=$((failures + 1)); }

if ! tests/user/build.sh "$OUT" >/dev/null 2>build/user-tests.log; then
    nok build-user-tests "see build/user-tests.log"
    exit 1
fi
[ -x "$KILN" ] || { nok kiln-binary "$KILN missing (make)"; exit 1; }

tmp=$(mktemp -d)
sleep_pid=
cleanup() {
    [ -n "$sleep_pid" ] && kill "$sleep_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
# kiln's root skeletons go here, so leftovers are ours to see.
export TMPDIR=$tmp/skel
mkdir -p "$TMPDIR"
SB=(--dir "$OUT:/t:ro" "$OUT/sandbox")
# A mark in kiln's command line: every process of the VM carries it (none is a host exec).
MARK="KILN_SANDBOX_TEST=$$"

run() { # name kiln-args... -> $tmp/NAME.out, .err, .rc
    local name=$1; shift
    timeout 120 "$KILN" exec "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
    echo $? >"$tmp/$name.rc"
}
rc() { cat "$tmp/$1.rc"; }
leftovers() { pgrep -f "$MARK-$1" 2>/dev/null; }

# 1. LD_PRELOAD: the guest puts an x86-64 object in its writable dir and execs itself with
#    LD_PRELOAD pointing at it. No host loader may ever see the guest's environment.
mkdir -p "$tmp/so" "$tmp/w"
cat >"$tmp/evil.c" <<EOF
#include <stdio.h>
__attribute__((constructor)) static void evil(void)
{
    FILE *f = fopen("$tmp/MARKER", "w");
    if (f) { fputs("host code ran\n", f); fclose(f); }
}
EOF
if gcc -shared -fPIC -o "$tmp/so/evil.so" "$tmp/evil.c" && LD_PRELOAD=$tmp/so/evil.so /bin/true &&
    [ -f "$tmp/MARKER" ]; then
    rm -f "$tmp/MARKER" # the object works natively: the test below can fail
    # The writable dir sits at its host path, so the object's guest path is a host path too.
    run preload --dir "$tmp/so:/so:ro" --dir "$tmp/w" "${SB[@]}" preload /t/sandbox /so/evil.so "$tmp/w"
    if [ -e "$tmp/MARKER" ]; then
        nok ld-preload-escape "host code ran: $(cat "$tmp/MARKER")"
    elif [ "$(rc preload)" = 0 ] && [ "$(cat "$tmp/preload.out")" = "stage2 LD_PRELOAD=$tmp/w/evil.so" ]; then
        ok ld-preload-escape
    else
        nok ld-preload-escape "exit $(rc preload): $(tr '\n' '|' <"$tmp/preload.out" "$tmp/preload.err")"
    fi
else
    nok ld-preload-escape "cannot build the x86-64 object with gcc"
fi

# 2. Host pids: kill() of a host process's pid reaches nothing; getppid is not kiln's parent.
sleep 300 &
sleep_pid=$!
run host-pid "${SB[@]}" kill "$sleep_pid"
want="kill: No such process
kill0: No such process
kill-group: No such process
pid=1 ppid=0"
if ! kill -0 "$sleep_pid" 2>/dev/null; then
    nok host-pid-kill "the host sleep process was killed"
elif [ "$(cat "$tmp/host-pid.out")" != "$want" ]; then
    nok host-pid-kill "$(tr '\n' '|' <"$tmp/host-pid.out")"
else
    ok host-pid-kill
fi
grep -q "ppid=$$\$" "$tmp/host-pid.out" && nok host-ppid "getppid() is the host parent" || ok host-ppid

# 3. The VM's own pids: fork, getppid, wait4, waitid, kill of a child, groups, sessions.
run pids "${SB[@]}" pids
want="pid=1 ppid=0 pgid=1 sid=1
child sees parent: y
wait4: same pid yes, exited 1 status 7
wait4 again: No child processes
kill child: OK
waitid: 0 pid same code KILLED sig 15
setpgid child: 0
child own group: 0
setsid leader: Operation not permitted
no children: No child processes"
[ "$(cat "$tmp/pids.out")" = "$want" ] && ok virtual-pids || nok virtual-pids "$(tr '\n' '|' <"$tmp/pids.out")"

# 4. PT_INTERP outside every mapping: absolute with "..", relative with "..", and a missing
#    file, which must fail the same way (the error tells nothing of the host). The same ELF
#    runs its interpreter when it is inside a mapping, so the escape is real if it works.
mkdir -p "$tmp/outside"
cp "$OUT/hello" "$tmp/outside/hello"
CC=${RISCV_CC:-riscv64-linux-gnu-gcc}
crafted() { "$CC" -O2 -o "$tmp/crafted-$1" -Wl,--dynamic-linker="$2" tests/user/hello.c; }
crafted abs "/../../../../../../..$tmp/outside/hello" &&
    crafted rel "../../../../../../..$tmp/outside/hello" &&
    crafted none "/../../../../../../..$tmp/outside/nothere" &&
    crafted inside /o/hello
run interp-inside --dir "$tmp/outside:/o:ro" "$tmp/crafted-inside"
if [ "$(cat "$tmp/interp-inside.out")" != "hello from riscv64" ]; then
    nok pt-interp-escape "control: the crafted ELF does not run its interpreter ($(head -1 "$tmp/interp-inside.err"))"
else
    bad=
    for k in abs rel none; do
        run "interp-$k" "$tmp/crafted-$k"
        grep -q hello "$tmp/interp-$k.out" && bad="$bad $k:ran"
        [ "$(rc "interp-$k")" = 0 ] && bad="$bad $k:exit0"
    done
    # Existing and missing host files give the same message, paths aside.
    a=$(sed 's/crafted-[a-z]*/X/; s/hello\|nothere/F/' "$tmp/interp-abs.err")
    n=$(sed 's/crafted-[a-z]*/X/; s/hello\|nothere/F/' "$tmp/interp-none.err")
    [ "$a" != "$n" ] && bad="$bad messages-differ"
    [ -z "$bad" ] && ok pt-interp-escape || nok pt-interp-escape "$bad"
fi

# 5. --time holds across execve and fork: the parent and a forked child both exec a loop.
start=$(date +%s)
run time-exec-fork --env "$MARK-time" --time 2 "${SB[@]}" timefork /t/loop
end=$(date +%s)
sleep 0.5
if [ "$(rc time-exec-fork)" = 137 ] && grep -q 'time limit' "$tmp/time-exec-fork.err" &&
    [ $((end - start)) -lt 10 ] && [ -z "$(leftovers time)" ]; then
    ok time-across-exec-fork
else
    nok time-across-exec-fork "exit $(rc time-exec-fork) after $((end - start)) s, left: $(leftovers time | tr '\n' ' ')"
fi

# 6. --mem is for the whole VM: 8 children each touching 40 MiB under --mem 64M.
run mem-children --mem 64M "${SB[@]}" forkmem 8 40
touched=$(sed -n 's/.*touched=\([0-9]*\) MiB/\1/p' "$tmp/mem-children.out")
run mem-children-1g --mem 1G "${SB[@]}" forkmem 8 40
all=$(sed -n 's/.*touched=\([0-9]*\) MiB/\1/p' "$tmp/mem-children-1g.out")
if [ "${all:-0}" != 320 ]; then
    nok mem-across-children "control under 1G: ${all:-none} MiB"
elif [ -n "$touched" ] && [ "$touched" -le 64 ] && [ "$touched" -ge 40 ]; then
    ok mem-across-children
else
    nok mem-across-children "touched ${touched:-?} MiB under --mem 64M: $(tr '\n' '|' <"$tmp/mem-children.out")"
fi

# 7. A fork bomb hits the process cap (--procs, default 64) with EAGAIN, and everything is reaped.
run forkbomb --procs 16 "${SB[@]}" forkbomb
[ "$(cat "$tmp/forkbomb.out")" = "forked=15 then EAGAIN
reaped=15" ] && ok fork-bomb-cap || nok fork-bomb-cap "$(tr '\n' '|' <"$tmp/forkbomb.out")"
run forkbomb-default "${SB[@]}" forkbomb
head -1 "$tmp/forkbomb-default.out" | grep -qx 'forked=63 then EAGAIN' && ok fork-bomb-default-cap ||
    nok fork-bomb-default-cap "$(tr '\n' '|' <"$tmp/forkbomb-default.out")"

run ignchld --procs 8 "${SB[@]}" ignchld
[ "$(cat "$tmp/ignchld.out")" = "forked=100" ] && ok sigchld-ignored-reaps ||
    nok sigchld-ignored-reaps "$(tr '\n' '|' <"$tmp/ignchld.out")"

# 8. kill -9 of kiln leaves no guest process behind.
"$KILN" exec --env "$MARK-k9" "${SB[@]}" sleepers 4 >"$tmp/k9.out" 2>&1 &
k9=$!
disown "$k9" # its death by SIGKILL is the point, not news
for _ in $(seq 100); do grep -q ready "$tmp/k9.out" && break; sleep 0.1; done
before=$(leftovers k9 | wc -l)
kill -9 "$k9"

for _ in $(seq 50); do [ -z "$(leftovers k9)" ] && break; sleep 0.1; done
if [ "$before" -ge 6 ] && [ -z "$(leftovers k9)" ]; then
    ok kill9-no-leftover
else
    nok kill9-no-leftover "$before processes before, left: $(leftovers k9 | tr '\n' ' ')"
    leftovers k9 | xargs -r kill -9
fi

# 9. execve with a huge argv/envp fails with E2BIG without kiln copying it; one that fits works.
run e2big --mem 256M "${SB[@]}" e2big /t/sandbox
rss=$(sed -n 's/maxrss_kib=//p' "$tmp/e2big.out")
if [ "$(sed -n 1,3p "$tmp/e2big.out")" = "long string: Argument list too long
huge argv: Argument list too long
huge envp: Argument list too long" ] && [ -n "$rss" ] && [ "$rss" -lt 65536 ] &&
    grep -qx 'argc=251' "$tmp/e2big.out"; then
    ok execve-e2big
else
    nok execve-e2big "$(tr '\n' '|' <"$tmp/e2big.out" | cut -c1-200)"
fi

# 10. execve from a process whose other threads are blocked in the host, and what it keeps.
run exec-threads "${SB[@]}" execthreads /t/sandbox
[ "$(cat "$tmp/exec-threads.out")" = "argc=3 from-threads" ] && ok execve-ends-threads ||
    nok execve-ends-threads "exit $(rc exec-threads): $(tr '\n' '|' <"$tmp/exec-threads.out" "$tmp/exec-threads.err")"
run fexec "${SB[@]}" fexec /t/sandbox
[ "$(cat "$tmp/fexec.out")" = "argc=3 via-fd" ] && ok fexecve ||
    nok fexecve "exit $(rc fexec): $(tr '\n' '|' <"$tmp/fexec.out" "$tmp/fexec.err")"
run sigexec "${SB[@]}" sigexec /t/sandbox
[ "$(cat "$tmp/sigexec.out")" = "USR1 default
USR2 ignored
HUP blocked" ] && ok execve-signal-state || nok execve-signal-state "$(tr '\n' '|' <"$tmp/sigexec.out")"

# 10b. F_GETLK never shows a host pid: the parent's vpid for its lock, -1 for an open file
#      description lock, 0 for a holder outside the VM (a host process), as in a pid namespace.
mkdir -p "$tmp/lk"
: >"$tmp/lk/f"
python3 -c 'import fcntl, sys, time
f = open(sys.argv[1], "r+"); fcntl.lockf(f, fcntl.LOCK_EX, 1, 200, 0)
open(sys.argv[2], "w").close(); time.sleep(60)' "$tmp/lk/f" "$tmp/lk/ready" &
lk_pid=$!
for _ in $(seq 100); do [ -e "$tmp/lk/ready" ] && break; sleep 0.1; done
run getlk --dir "$tmp/lk:/lk" "${SB[@]}" getlk /lk/f
kill "$lk_pid" 2>/dev/null
wait "$lk_pid" 2>/dev/null
[ "$(cat "$tmp/getlk.out")" = "posix parent
ofd -1
host 0" ] && ok getlk-pids || nok getlk-pids "$(tr '\n' '|' <"$tmp/getlk.out" "$tmp/getlk.err")"

# 11. No host execve at all, even for a shell pipeline that forks and execs applets.
BB=$CACHE/guest/busybox
if [ -x "$BB" ] && command -v strace >/dev/null; then
    strace -f -qq -e trace=execve,execveat -o "$tmp/strace.out" \
        "$KILN" exec --dir /tmp "$BB" sh -c 'echo hi | cat | tr h H; ls / >/dev/null' >"$tmp/bb.out" 2>/dev/null
    n=$(grep -c 'execve\(at\)\?(' "$tmp/strace.out")
    [ "$n" = 1 ] && [ "$(cat "$tmp/bb.out")" = Hi ] && ok no-host-execve ||
        nok no-host-execve "$n host execs, output '$(cat "$tmp/bb.out")'"
else
    nok no-host-execve "needs $BB and strace"
fi

# 11b. On a terminal: an interactive shell with job control (its process groups are the
#     VM's, the terminal's foreground group too); Ctrl-C ends the foreground job only.
if [ -x "$BB" ] && command -v python3 >/dev/null; then
    timeout 60 python3 tests/integration/exec_pty.py "$KILN" "$BB" >"$tmp/pty.out" 2>&1
    if grep -qx 'pid=1' "$tmp/pty.out" && grep -qx b "$tmp/pty.out" && grep -qx after-int "$tmp/pty.out" &&
        grep -qx 'status=3' "$tmp/pty.out"; then
        ok interactive-shell
    else
        nok interactive-shell "$(tr '\n' '|' <"$tmp/pty.out" | cut -c1-300)"
    fi
else
    nok interactive-shell "needs $BB and python3"
fi

# 11c. "#!" scripts run inside the VM, a script interpreter being a script too (up to 4
#     levels, then ELOOP as on Linux), and a file without an execute bit is EACCES.
if [ -x "$BB" ]; then
    sd=$tmp/scripts
    mkdir -p "$sd"
    printf '#!/bin/sh -e\necho script $0 $1 $2\n' >"$sd/s1"
    for i in 2 3 4 5; do printf '#!%s/s%d\n' "$sd" $((i - 1)) >"$sd/s$i"; done
    printf 'echo plain\n' >"$sd/plain"
    chmod +x "$sd"/s?
    run scripts --dir "$sd" "$BB" sh -c "$sd/s1 a; $sd/s2 b; $sd/s5 c; $sd/plain"
    want="script $sd/s1 a
script $sd/s1 $sd/s2 b"
    if [ "$(cat "$tmp/scripts.out")" = "$want" ] && grep -q 's5: Too many levels' "$tmp/scripts.err" &&
        grep -q 'plain: Permission denied' "$tmp/scripts.err"; then
        ok execve-scripts
    else
        nok execve-scripts "$(tr '\n' '|' <"$tmp/scripts.out" "$tmp/scripts.err")"
    fi
else
    nok execve-scripts "needs $BB"
fi

# 12. A program killed by a signal says so like qemu-riscv64; a directory is not a program.
run segv "$OUT/segv"
[ "$(rc segv)" = 139 ] && grep -qx 'kiln exec: uncaught target signal 11 (Segmentation fault)' "$tmp/segv.err" &&
    ok signal-message || nok signal-message "exit $(rc segv): $(cat "$tmp/segv.err")"
run isdir "$tmp"
[ "$(rc isdir)" = 126 ] && grep -q ': is a directory$' "$tmp/isdir.err" && ok is-a-directory ||
    nok is-a-directory "exit $(rc isdir): $(cat "$tmp/isdir.err")"

# Every run cleaned its root skeleton up, except the one kill -9 (test 8) gave no chance to.
n=$(ls -A "$TMPDIR" | wc -l)
[ "$n" -le 1 ] && ok skeletons-removed || nok skeletons-removed "$(ls "$TMPDIR" | tr '\n' ' ')"
exit $((failures > 0))
