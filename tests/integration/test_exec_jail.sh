#!/usr/bin/env bash
# The jail around `kiln exec` started as root (issue 9, docs/jail.md "kiln exec"):
# the supervisor and every guest process run in new pid, mount, IPC, UTS (and
# network) namespaces, in a root holding only a procfs, with no capability left,
# no_new_privs and seccomp; --user changes the uid; --no-jail / --no-seccomp turn
# it off. Reads /proc/PID of the real host processes. Prints "ok NAME" /
# "not ok NAME" (or "ok NAME # SKIP why"); exits non-zero if any failed.
set -u
cd "$(dirname "$0")/../.."
KILN=${KILN:-build/kiln}
case $KILN in /*) ;; *) KILN=$PWD/$KILN ;; esac
CACHE=${KILN_CACHE:-$HOME/.cache/kiln}
OUT=$PWD/build/user-tests
BB=$CACHE/guest/busybox
failures=0

ok() { echo "ok $1"; }
nok() { echo "not ok $1${2:+ # $2}"; failures=$((failures + 1)); }
skip() { echo "ok $1 # SKIP $2"; }

if [ "$(id -u)" != 0 ]; then
    skip exec-jail "needs root (unprivileged users get no_new_privs, seccomp and rlimits only)"
    exit 0
fi
if ! tests/user/build.sh "$OUT" >/dev/null 2>build/user-tests.log; then
    nok build-user-tests "see build/user-tests.log"
    exit 1
fi
[ -x "$KILN" ] || { nok kiln-binary "$KILN missing (make)"; exit 1; }

tmp=$(mktemp -d)
mkdir "$tmp/skel"
bg=
cleanup() {
    [ -n "$bg" ] && kill "$bg" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

field() { awk -v k="$2:" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "/proc/$1/status"; }
kids() { cat /proc/"$1"/task/*/children 2>/dev/null; }

# Starts kiln exec in the background and waits until its process tree is NPROC deep
# (kiln, supervisor, first program[, a guest child]); 2 without the jail. Sets bg, sup, first, guest.
start() {
    local depth=$1
    shift
    TMPDIR=$tmp/skel "$KILN" exec --time 30 "$@" >"$tmp/out" 2>"$tmp/err" &
    bg=$!
    sup= first= guest=
    for _ in $(seq 100); do
        sup=$(kids "$bg" | awk '{print $1}')
        [ -n "$sup" ] && first=$(kids "$sup" | awk '{print $1}')
        [ -n "$first" ] && guest=$(kids "$first" | awk '{print $1}')
        if [ "$depth" = 2 ] && [ -n "$sup" ]; then break; fi
        if [ "$depth" = 3 ] && [ -n "$first" ]; then break; fi
        if [ "$depth" = 4 ] && [ -n "$guest" ]; then break; fi
        sleep 0.05
    done
}
stop() {
    kill "$bg" 2>/dev/null
    wait "$bg" 2>/dev/null
    bg=
}

# What a jailed host process must show; $2 = expected uid.
jailed() {
    local p=$1 uid=$2 why=
    [ -d "/proc/$p" ] || { echo "no process"; return; }
    [ "$(readlink /proc/$p/ns/mnt)" != "$(readlink /proc/self/ns/mnt)" ] || why+=" same-mount-ns"
    [ "$(readlink /proc/$p/ns/pid)" != "$(readlink /proc/self/ns/pid)" ] || why+=" same-pid-ns"
    [ "$(readlink /proc/$p/ns/ipc)" != "$(readlink /proc/self/ns/ipc)" ] || why+=" same-ipc-ns"
    [ "$(readlink /proc/$p/ns/uts)" != "$(readlink /proc/self/ns/uts)" ] || why+=" same-uts-ns"
    local root
    root=$(ls -A "/proc/$p/root" 2>&1 | tr '\n' ' ')
    [ "$root" = "proc " ] || why+=" root=[$root]"
    [ "$(field "$p" CapEff)" = 0000000000000000 ] || why+=" CapEff=$(field "$p" CapEff)"
    [ "$(field "$p" CapPrm)" = 0000000000000000 ] || why+=" CapPrm=$(field "$p" CapPrm)"
    [ "$(field "$p" CapBnd)" = 0000000000000000 ] || why+=" CapBnd=$(field "$p" CapBnd)"
    [ "$(field "$p" NoNewPrivs)" = 1 ] || why+=" NoNewPrivs=$(field "$p" NoNewPrivs)"
    [ "$(field "$p" Seccomp)" = 2 ] || why+=" Seccomp=$(field "$p" Seccomp)"
    [ "$(field "$p" Uid | awk '{print $1, $2, $3, $4}')" = "$uid $uid $uid $uid" ] ||
        why+=" Uid=$(field "$p" Uid)"
    echo "$why"
}

# ---- the default: uid 0 without capabilities ----
start 3 "$OUT/loop"
w=$(jailed "$sup" 0)
[ -z "$w" ] && ok exec-jail-supervisor || nok exec-jail-supervisor "$w"
w=$(jailed "$first" 0)
[ -z "$w" ] && ok exec-jail-first-program || nok exec-jail-first-program "$w"
[ "$(readlink /proc/$first/ns/net)" != "$(readlink /proc/self/ns/net)" ] &&
    ok exec-jail-own-net-ns || nok exec-jail-own-net-ns "same network namespace without --net"
# The VM sees only its own processes: the jail's /proc lists the supervisor and the program.
pids=$(ls /proc/$first/root/proc 2>/dev/null | grep -E '^[0-9]+$' | sort -n | tr '\n' ' ')
[ "$pids" = "1 2 " ] && ok exec-jail-proc-only-the-vm || nok exec-jail-proc-only-the-vm "pids [$pids]"
stop
[ -z "$(ls -A "$tmp/skel")" ] && ok exec-jail-skeleton-removed ||
    nok exec-jail-skeleton-removed "left in TMPDIR: $(ls "$tmp/skel")"

# ---- kill -9 of kiln: the supervisor (init of the VM's pid namespace) and the VM go too ----
start 3 "$OUT/loop"
kill -9 "$bg"
wait "$bg" 2>/dev/null
bg=
for _ in $(seq 40); do
    [ -d "/proc/$first" ] || break
    sleep 0.05
done
st=$(field "$sup" State 2>/dev/null | cut -c1)
[ ! -d "/proc/$first" ] && { [ -z "$st" ] || [ "$st" = Z ]; } && ok exec-jail-kill9-ends-vm ||
    nok exec-jail-kill9-ends-vm "first program $(field "$first" State 2>/dev/null), supervisor $st"

# ---- a forked guest process is jailed as well ----
if [ -x "$BB" ]; then
    start 4 "$BB" sh -c 'sleep 20 & wait'
    w=$(jailed "$guest" 0)
    [ -z "$w" ] && ok exec-jail-forked-guest || nok exec-jail-forked-guest "$w"
    stop
else
    skip exec-jail-forked-guest "no busybox in $CACHE/guest"
fi

# ---- --user ----
start 3 --user 1000:1001 "$OUT/loop"
w=$(jailed "$first" 1000)
g=$(field "$first" Gid | awk '{print $1}')
[ -z "$w" ] && [ "$g" = 1001 ] && ok exec-jail-user || nok exec-jail-user "$w gid=$g"
w=$(jailed "$sup" 1000)
[ -z "$w" ] && ok exec-jail-user-supervisor || nok exec-jail-user-supervisor "$w"
stop
if [ -x "$BB" ]; then
    out=$("$KILN" exec --user 1000 "$BB" sh -c 'ls / && id -u' 2>&1)
    case $out in *lib*1000) ok exec-jail-user-busybox ;; *) nok exec-jail-user-busybox "$out" ;; esac
else
    skip exec-jail-user-busybox "no busybox"
fi
"$KILN" exec --user 0 "$OUT/hello" >/dev/null 2>"$tmp/err"
[ $? = 2 ] && grep -q 'bad --user' "$tmp/err" && ok exec-jail-user-bad || nok exec-jail-user-bad "$(cat "$tmp/err")"

# ---- --no-jail, --no-seccomp, --net ----
# No jail, no pid namespace: kiln is the supervisor itself, its child the first program.
start 2 --no-jail "$OUT/loop"
[ "$(readlink /proc/$sup/ns/mnt)" = "$(readlink /proc/self/ns/mnt)" ] && [ "$(field "$sup" Seccomp)" = 0 ] &&
    [ "$(field "$sup" CapEff)" != 0000000000000000 ] &&
    ok exec-no-jail || nok exec-no-jail "Seccomp=$(field "$sup" Seccomp) CapEff=$(field "$sup" CapEff)"
stop
start 3 --no-seccomp "$OUT/loop"
w=$(jailed "$first" 0)
[ "$w" = " Seccomp=0" ] && ok exec-no-seccomp || nok exec-no-seccomp "$w"
stop
start 3 --net "$OUT/loop"
[ "$(readlink /proc/$first/ns/net)" = "$(readlink /proc/self/ns/net)" ] && [ -z "$(jailed "$first" 0)" ] &&
    ok exec-jail-net-host-ns || nok exec-jail-net-host-ns "$(jailed "$first" 0)"
stop

# ---- what the jail stops: a host path, and other owners' files ----
# A confinement bug would hand an absolute host path to open(2): inside the jail it names nothing.
KILN_JAIL_SELFTEST=hostpath "$KILN" exec "$OUT/hello" >/dev/null 2>"$tmp/err"
grep -q "host $OUT/hello: No such file or directory" "$tmp/err" && ok exec-jail-host-path-gone ||
    nok exec-jail-host-path-gone "$(cat "$tmp/err")"
KILN_JAIL_SELFTEST=hostpath "$KILN" exec --no-jail "$OUT/hello" >/dev/null 2>"$tmp/err"
grep -q "host $OUT/hello: opened" "$tmp/err" && ok exec-no-jail-host-path-opens ||
    nok exec-no-jail-host-path-opens "$(cat "$tmp/err")"
if [ -x "$BB" ]; then
    mkdir -p "$tmp/d"
    echo secret >"$tmp/d/theirs"
    chown 1000:1000 "$tmp/d/theirs"
    chmod 600 "$tmp/d/theirs"
    out=$("$KILN" exec --dir "$tmp/d:/d" "$BB" sh -c 'echo mine > /d/mine && cat /d/mine; cat /d/theirs' 2>&1)
    [ "$(cat "$tmp/d/mine" 2>/dev/null)" = mine ] && [ "$(stat -c %u "$tmp/d/mine")" = 0 ] &&
        ok exec-jail-writes-root-dir || nok exec-jail-writes-root-dir "$out"
    case $out in *"Permission denied"*) ok exec-jail-no-dac-override ;;
        *) nok exec-jail-no-dac-override "read another owner's 0600 file: $out" ;; esac
    chmod 755 "$tmp/d"
    out=$("$KILN" exec --user 1000 --dir "$tmp/d:/d" "$BB" sh -c 'echo x > /d/user-file' 2>&1)
    [ ! -e "$tmp/d/user-file" ] && case $out in *"Permission denied"*) true ;; *) false ;; esac &&
        ok exec-jail-user-cannot-write-root-dir || nok exec-jail-user-cannot-write-root-dir "$out"
else
    skip exec-jail-writes-root-dir "no busybox"
    skip exec-jail-no-dac-override "no busybox"
    skip exec-jail-user-cannot-write-root-dir "no busybox"
fi

# ---- not root: today's layers only (no namespaces), and --user is ignored with a note ----
if command -v setpriv >/dev/null; then
    mkdir -p "$tmp/pub"
    chmod 711 "$tmp"
    cp "$KILN" "$OUT/hello" "$tmp/pub/"
    chmod -R a+rX "$tmp/pub"
    out=$(setpriv --reuid=1000 --regid=1000 --clear-groups "$tmp/pub/kiln" exec --user 5 "$tmp/pub/hello" 2>&1)
    case $out in *"hello from riscv64"*"--user only applies"*|*"--user only applies"*"hello from riscv64"*)
        ok exec-unprivileged-runs ;; *) nok exec-unprivileged-runs "$out" ;; esac
else
    skip exec-unprivileged-runs "no setpriv"
fi

[ "$failures" = 0 ]
