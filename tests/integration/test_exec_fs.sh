#!/usr/bin/env bash
# Integration tests for the walls of a process VM (`kiln exec`): the virtual
# descriptor table, read-only mappings, socket options and ioctls, the host's
# network, and the poll/select/epoll/eventfd calls (compared with
# qemu-riscv64). Each escape of issue 9 is tried by a riscv64 program and
# the host is checked afterwards. Prints "ok NAME" / "not ok NAME" lines;
# exits non-zero if any failed.
set -u
cd "$(dirname "$0")/../.."
KILN=${KILN:-build/kiln}
case $KILN in /*) ;; *) KILN=$PWD/$KILN ;; esac
OUT=build/user-tests
failures=0

ok() { echo "ok $1"; }
nok() { echo "not ok $1${2:+ # $2}"; failures=$((failures + 1)); }

if ! tests/user/build.sh "$OUT" >/dev/null 2>build/user-tests.log; then
    nok build-user-tests "see build/user-tests.log"
    exit 1
fi
[ -x "$KILN" ] || { nok kiln-binary "$KILN missing (make)"; exit 1; }
have_qemu=0
command -v qemu-riscv64 >/dev/null && have_qemu=1

tmp=$(mktemp -d)
srv_pid=
trap '[ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null; rm -rf "$tmp"' EXIT

run_kiln() { # name args... -> $tmp/NAME.kiln, $tmp/NAME.kerr, status in $tmp/NAME.krc
    local name=$1; shift
    timeout 120 "$KILN" exec "$@" >"$tmp/$name.kiln" 2>"$tmp/$name.kerr"
    echo $? >"$tmp/$name.krc"
}

# Every line of the expected text must be in the output, in order.
expect_lines() { # name want-rc want-text
    local name=$1 rc want=$3
    rc=$(cat "$tmp/$name.krc")
    if [ "$rc" != "$2" ]; then
        nok "$name" "exit $rc, want $2; stderr: $(head -2 "$tmp/$name.kerr" | tr '\n' ' ')"
    elif ! diff <(printf '%s\n' "$want") "$tmp/$name.kiln" >"$tmp/$name.diff"; then
        nok "$name" "$(grep '^[<>]' "$tmp/$name.diff" | head -4 | tr '\n' ' ')"
    else
        ok "$name"
    fi
}

# ---- the descriptor table ----
# kiln holds 20 mount descriptors and cannot move them high (ulimit -n 40);
# the shell hands it fd 7. The guest sees 0-2 only, closes every number and
# writes through each: the mapped files and kiln stay intact.
mkdir -p "$tmp/w"
dirs=()
for i in $(seq 1 20); do
    mkdir -p "$tmp/d$i"
    echo "keep $i" >"$tmp/d$i/f"
    dirs+=(--dir "$tmp/d$i:/d$i")
done
echo inherited >"$tmp/inherited"
(ulimit -n 40; exec 7<"$tmp/inherited"; run_kiln fdtable "${dirs[@]}" --dir "$tmp/w:/w" "$OUT/fdtab" /w)
expect_lines fdtable 0 "open at start: 3
nofile: 1024 1024
dup3 to 1023: 1023 cloexec=1
dup3 to 1024: -1 Bad file descriptor
F_DUPFD_CLOEXEC 500: 500 cloexec=1
F_SETFD 0: cloexec=0
dup3 same: -1
close_range cloexec: 0
after: cloexec=1
close_range: 0 open=0
fill: Too many open files after 1020
highest: 1023
writes through closed numbers: 0
open after closing all: 0
write: 12"
intact=1
for i in $(seq 1 20); do [ "$(cat "$tmp/d$i/f")" = "keep $i" ] || intact=0; done
[ "$(cat "$tmp/inherited")" = inherited ] || intact=0
[ $intact = 1 ] && [ "$(cat "$tmp/w/after.txt" 2>/dev/null)" = "still works" ] &&
    ok fdtable-kiln-descriptors-intact || nok fdtable-kiln-descriptors-intact

# Across execve: a descriptor without close-on-exec stays, an O_CLOEXEC one goes, and nothing
# kiln inherited (fd 7 here) appears.
mkdir -p "$tmp/x"
cp "$OUT/fdtab" "$tmp/x/fdtab"
(exec 7<"$tmp/inherited"; run_kiln fdtable-exec --dir "$tmp/x" "$tmp/x/fdtab" "$tmp/x" exec)
expect_lines fdtable-exec 0 "after exec: fd5 inherited
after exec: fd6 closed
after exec: open 4"

# ---- read-only mappings refuse every change ----
mkdir -p "$tmp/ro" "$tmp/rw"
printf 'original\n' >"$tmp/ro/f"
chmod 644 "$tmp/ro/f"
touch -d '2020-01-02 03:04:05' "$tmp/ro/f"
before="$(sha256sum <"$tmp/ro/f") $(stat -c '%a %Y %s %i %h' "$tmp/ro/f")"
run_kiln ro-escapes --dir "$tmp/ro:/data:ro" --dir "$tmp/rw:/work" "$OUT/roescape" /data /work
RO=$(printf '%s' "Read-only file system")
expect_lines ro-escapes 0 "open rdonly: OK
write: Bad file descriptor
pwrite: Bad file descriptor
ftruncate: $RO
fallocate: $RO
fchmod: $RO
fchown: $RO
futimens: $RO
utimensat empty path: $RO
fchownat empty path: $RO
fsetxattr: $RO
fremovexattr: $RO
mmap shared writable: Permission denied
mmap shared read-only: OK
mprotect shared writable: Permission denied
fchmodat via dirfd: $RO
unlinkat via dirfd: $RO
open wronly: $RO
open rdwr: $RO
open trunc: $RO
open append: $RO
open creat: $RO
open tmpfile: $RO
truncate: $RO
chmod: $RO
chown: $RO
utimensat: $RO
setxattr: $RO
mknod fifo: $RO
symlink: $RO
mkdir: $RO
unlink: $RO
link out: Invalid cross-device link
rename out: $RO
rename in: $RO
renameat2 exchange: $RO
access W_OK: $RO
statfs: OK
statfs read-only: 1
read: OK
content: original"
after="$(sha256sum <"$tmp/ro/f") $(stat -c '%a %Y %s %i %h' "$tmp/ro/f")"
[ "$before" = "$after" ] && [ "$(ls -A "$tmp/ro")" = f ] && [ ! -e "$tmp/rw/hard" ] && [ ! -e "$tmp/rw/moved" ] &&
    ok ro-file-unchanged || nok ro-file-unchanged "before: $before after: $after; ro: $(ls -A "$tmp/ro" | tr '\n' ' ')"

# ---- socket options, ioctls, control messages ----
run_kiln sockopt --net "$OUT/sockopt"
expect_lines sockopt 0 "socket: OK
SO_ATTACH_FILTER: Protocol not available
SO_GET_FILTER: Protocol not available
SO_ATTACH_BPF: Protocol not available
SO_BINDTODEVICE: Protocol not available
SO_PEERCRED: Protocol not available
SO_REUSEADDR set: OK
SO_REUSEADDR get: OK
value 1 len 4
TCP_NODELAY set: OK
SO_TYPE get: OK
type 1
SO_TYPE set: Protocol not available
short optlen: Invalid argument
SO_LINGER: OK
SO_RCVTIMEO: OK
SO_RCVTIMEO get: OK
timeout 2
ioctl SIOCGIFCONF: Inappropriate ioctl for device
ioctl TIOCSTI: Inappropriate ioctl for device
ioctl FIONREAD: OK
ioctl FIOCLEX: OK
socketpair: OK
sendmsg SCM_RIGHTS: Invalid argument
sendmsg plain: OK
recvmsg: OK
got x controllen 0
connect abstract: Permission denied
bind abstract: Permission denied
raw socket: Permission denied"
[ -s "$tmp/sockopt.kerr" ] && nok sockopt-quiet "$(head -2 "$tmp/sockopt.kerr" | tr '\n' ' ')" || ok sockopt-quiet

# ---- the host's network: closed by default, open with host-loopback=on ----
cat >"$tmp/srv.py" <<'PY'
import socket, sys, threading, time
six = socket.has_ipv6
try:
    t = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    t.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind(("::", 0))
except OSError:
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind(("0.0.0.0", 0))
t.listen(16)
port = t.getsockname()[1]
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("127.0.0.1", port))
n = {"tcp": 0, "udp": 0}
def acc():
    while True:
        c, _ = t.accept(); n["tcp"] += 1; c.close()
def udp():
    while True:
        u.recv(100); n["udp"] += 1
threading.Thread(target=acc, daemon=True).start()
threading.Thread(target=udp, daemon=True).start()
open(sys.argv[1] + ".tmp", "w").write(str(port))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while not os.path.exists(sys.argv[2]):
    time.sleep(0.05)
open(sys.argv[3], "w").write("%d %d\n" % (n["tcp"], n["udp"]))
PY
python3 "$tmp/srv.py" "$tmp/port" "$tmp/phase" "$tmp/count1" &
srv_pid=$!
for _ in $(seq 100); do [ -f "$tmp/port" ] && break; sleep 0.05; done
port=$(cat "$tmp/port" 2>/dev/null)
hostip=$(ip -4 -o addr show scope global 2>/dev/null | awk '{sub("/.*", "", $4); print $4; exit}')
if [ -z "$port" ]; then
    nok net-listener "python3 listener did not start"
else
    DENY="Permission denied"
    want="tcp 127.0.0.1: $DENY
tcp 127.9.9.9: $DENY
tcp 0.0.0.0: $DENY
tcp ::ffff:127.0.0.1: $DENY
tcp ::1: $DENY
tcp ::: $DENY${hostip:+
tcp $hostip: $DENY}
udp 127.0.0.1: $DENY
udp connect 127.0.0.1: $DENY
own listener: OK
own listener read: 2 hi"
    run_kiln net-closed-by-default --net "$OUT/netconn" "$port" ${hostip:+"$hostip"}
    expect_lines net-closed-by-default 0 "$want"
    run_kiln net-closed-user --net user "$OUT/netconn" "$port"
    grep -qx "tcp 127.0.0.1: $DENY" "$tmp/net-closed-user.kiln" && ok net-user-closed || nok net-user-closed
    touch "$tmp/phase"
    wait "$srv_pid"
    srv_pid=
    [ "$(cat "$tmp/count1")" = "0 0" ] && ok net-host-listener-untouched || nok net-host-listener-untouched "connections/datagrams: $(cat "$tmp/count1")"

    # Opened on request: the same listener is reachable.
    rm -f "$tmp/port" "$tmp/phase"
    python3 "$tmp/srv.py" "$tmp/port" "$tmp/phase" "$tmp/count2" &
    srv_pid=$!
    for _ in $(seq 100); do [ -f "$tmp/port" ] && break; sleep 0.05; done
    port=$(cat "$tmp/port")
    run_kiln net-open --net user,host-loopback=on "$OUT/netconn" "$port"
    grep -qx "tcp 127.0.0.1: OK" "$tmp/net-open.kiln" && grep -qx "udp 127.0.0.1: OK" "$tmp/net-open.kiln" &&
        ok net-host-loopback-on || nok net-host-loopback-on "$(head -3 "$tmp/net-open.kiln" | tr '\n' ' ')"
    sleep 0.3
    touch "$tmp/phase"
    wait "$srv_pid"
    srv_pid=
    read -r tcp udp <"$tmp/count2"
    [ "$tcp" -ge 3 ] && [ "$udp" -ge 1 ] && ok net-host-listener-reached || nok net-host-listener-reached "tcp $tcp udp $udp"
fi
run_kiln net-bad --net user,host-loopback=maybe "$OUT/netconn" 1
[ "$(cat "$tmp/net-bad.krc")" = 2 ] && grep -q "bad --net" "$tmp/net-bad.kerr" && ok net-bad-option || nok net-bad-option

# ---- named AF_UNIX sockets are guest paths ----
mkdir -p "$tmp/uw" "$tmp/ur" "$tmp/uo"
ln -s "$tmp/uo/out.sock" "$tmp/uw/evil"
cat >"$tmp/usrv.py" <<'PY'
import os, socket, sys, threading, time
n = {}
def serve(path):
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.listen(8)
    n[path] = 0
    def loop():
        while True:
            c, _ = s.accept(); n[path] += 1; c.close()
    threading.Thread(target=loop, daemon=True).start()
serve(sys.argv[1]); serve(sys.argv[2])
open(sys.argv[3], "w").write("ready")
while not os.path.exists(sys.argv[4]):
    time.sleep(0.05)
time.sleep(0.1)
open(sys.argv[5], "w").write("%d %d\n" % (n[sys.argv[1]], n[sys.argv[2]]))
PY
python3 "$tmp/usrv.py" "$tmp/ur/host.sock" "$tmp/uo/out.sock" "$tmp/uready" "$tmp/ustop" "$tmp/ucount" &
srv_pid=$!
for _ in $(seq 100); do [ -f "$tmp/uready" ] && break; sleep 0.05; done
run_kiln unix-named --net --dir "$tmp/uw:/w" --dir "$tmp/ur:/r:ro" "$OUT/unixsock" /w /r
touch "$tmp/ustop"
wait "$srv_pid"
srv_pid=
expect_lines unix-named 0 "bind in mapping: OK
listen: OK
connect in mapping: OK
exchange: hi
getsockname: family 1 len 2
connect relative: OK
bind datagram: OK
sendto datagram: OK
recv datagram: OK
datagram: dg
connect symlink out: Connection refused
sendto symlink out: Connection refused
bind over symlink: Address already in use
bind read-only: Read-only file system
connect mapped host socket: OK
connect outside mappings: No such file or directory
connect dotdot: No such file or directory"
[ "$(cat "$tmp/ucount" 2>/dev/null)" = "1 0" ] && [ "$(ls -A "$tmp/ur")" = host.sock ] && [ ! -e "$tmp/uo/x.sock" ] &&
    ok unix-outside-untouched || nok unix-outside-untouched "connections (mapped, outside): $(cat "$tmp/ucount" 2>/dev/null)"

# ---- select, poll, epoll, eventfd: the same as qemu-riscv64 ----
run_kiln evloop "$OUT/evloop"
if [ $have_qemu = 1 ]; then
    timeout 120 qemu-riscv64 "$OUT/evloop" >"$tmp/evloop.qemu" 2>/dev/null
    qrc=$?
    if ! cmp -s "$tmp/evloop.kiln" "$tmp/evloop.qemu"; then
        nok poll-select-epoll "stdout differs from qemu-riscv64: $(diff "$tmp/evloop.qemu" "$tmp/evloop.kiln" | head -3 | tr '\n' ' ')"
    elif [ "$(cat "$tmp/evloop.krc")" != "$qrc" ]; then
        nok poll-select-epoll "exit $(cat "$tmp/evloop.krc"), qemu-riscv64 $qrc"
    else
        ok poll-select-epoll
    fi
else
    grep -q 'event loop: eventfd total=3 pipe=1 bad=0' "$tmp/evloop.kiln" && [ "$(cat "$tmp/evloop.krc")" = 5 ] &&
        ok poll-select-epoll || nok poll-select-epoll
fi
[ -s "$tmp/evloop.kerr" ] && nok poll-select-epoll-quiet "$(head -2 "$tmp/evloop.kerr" | tr '\n' ' ')" || ok poll-select-epoll-quiet

# ---- the stdio kiln's caller hands in and the host's /dev/null: read and written, never changed ----
printf 'stdin bytes\n' >"$tmp/in"
chmod 644 "$tmp/in"
touch -d '2020-01-02 03:04:05' "$tmp/in"
before="$(stat -c '%a %u %g %Y %s' "$tmp/in")"
run_kiln stdio-meta "$OUT/stdiometa" <"$tmp/in"
PERM=$(printf '%s' "Operation not permitted")
RO=$(printf '%s' "Read-only file system")
expect_lines stdio-meta 0 "read stdin: OK
fchmod stdin: $PERM
fchown stdin: $PERM
futimens stdin: $RO
utimensat empty path stdin: $RO
fchownat empty path stdin: $RO
ftruncate stdin: $PERM
fchmod stderr: $PERM
fchmod dup of stdin: $PERM
write /dev/null: OK
fchmod /dev/null: $PERM
chmod /dev/null: $PERM
chown /dev/null: $PERM
utimensat /dev/null: $PERM"
after="$(stat -c '%a %u %g %Y %s' "$tmp/in")"
[ "$after" = "644 0 0 $(date -d '2020-01-02 03:04:05' +%s) 12" ] && [ "$(stat -c %a "$tmp/stdio-meta.kerr")" != 0 ] &&
    [ "$(stat -c '%a %u' /dev/null)" = "666 0" ] &&
    ok stdio-meta-host-unchanged || nok stdio-meta-host-unchanged "stdin now: $after (before: $before); /dev/null $(stat -c '%a %u' /dev/null)"

# ---- random calls of this layer: kiln answers every one and keeps running ----
mkdir -p "$tmp/fz"
run_kiln syscall-fuzz --dir "$tmp/fz:/w" "$OUT/sysfuzz" 7 3000 </dev/null
if [ "$(cat "$tmp/syscall-fuzz.krc")" = 0 ] && grep -aq '^done$' "$tmp/syscall-fuzz.kiln" &&
    ! grep -aqE 'AddressSanitizer|runtime error' "$tmp/syscall-fuzz.kerr"; then
    ok syscall-fuzz-smoke
else
    nok syscall-fuzz-smoke "exit $(cat "$tmp/syscall-fuzz.krc"); $(grep -av unsupported "$tmp/syscall-fuzz.kerr" | head -2 | tr '\n' ' ')"
fi

exit $((failures > 0))
