#!/usr/bin/env bash
# `kiln run --rootfs DIR -- CMD` (docs/rootfs.md): the default guest boots with a
# riscv64 busybox tree as its root and runs one program. Checks stdout/stderr
# are the program's alone, exit statuses (plain, signals, not found), argv,
# environment, working directory, uid/gid, stdin (small, binary, at EOF),
# writes reaching the host and a read-only rootfs refusing them. Prints
# "ok NAME" / "not ok NAME" lines and the start-to-exit time of /bin/true.
set -u
cd "$(dirname "$0")/../.."
KILN=${KILN:-build/kiln}
case $KILN in /*) ;; *) KILN=$PWD/$KILN ;; esac
CACHE=${KILN_CACHE:-$HOME/.cache/kiln}
GUEST=$CACHE/guest
failures=0

ok() { echo "ok $1"; }
nok() { echo "not ok $1${2:+ # $2}"; failures=$((failures + 1)); }

[ -x "$KILN" ] || { nok kiln-binary "$KILN missing (make)"; exit 1; }
for f in Image initramfs.cpio.gz busybox busybox.links; do
    [ -r "$GUEST/$f" ] || { nok default-guest "$GUEST/$f missing (make guest)"; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
root=$tmp/rootfs
# A container-like rootfs: busybox and its applet links, the mount points kiln fills.
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,etc,data,root}
cp "$GUEST/busybox" "$root/bin/busybox"
grep -v '^/bin/busybox$' "$GUEST/busybox.links" | sort -u | while read -r p; do
    ln -sf /bin/busybox "$root$p"
done
echo original >"$root/data/keep.txt"
# Started as root, kiln serves the share as its jail's user (65534 unless --user):
# the tree is that user's, as an unpacked image would be the runtime's.
if [ "$(id -u)" = 0 ]; then chown -R 65534:65534 "$root"; fi

# run NAME [kiln-args...] -- CMD...: stdout, stderr, status in $tmp/NAME.{out,err,rc}.
# stdin comes from $tmp/NAME.in when present, else /dev/null.
run() {
    local name=$1; shift
    local in=/dev/null
    [ -e "$tmp/$name.in" ] && in=$tmp/$name.in
    timeout 180 "$KILN" run "$@" <"$in" >"$tmp/$name.out" 2>"$tmp/$name.err"
    echo $? >"$tmp/$name.rc"
}
rc() { cat "$tmp/$1.rc"; }
why() { # a short reason from the captured output
    echo "status $(rc "$1"), stdout '$(head -c 200 "$tmp/$1.out" | tr '\n' '~')', stderr '$(head -c 300 "$tmp/$1.err" | tr '\n' '~')'"
}
# expect NAME STATUS STDOUT [kiln-args...]: status and exact stdout; stderr must be empty.
expect() {
    local name=$1 status=$2 out=$3; shift 3
    run "$name" "$@"
    if [ "$(rc "$name")" = "$status" ] && [ "$(cat "$tmp/$name.out"; echo .)" = "$out." ] &&
        [ ! -s "$tmp/$name.err" ]; then
        ok "$name"
    else
        nok "$name" "$(why "$name")"
    fi
}

expect echo 0 $'hi\n' --rootfs "$root" -- /bin/echo hi
expect exit-0 0 '' --rootfs "$root" -- /bin/sh -c 'exit 0'
expect exit-3 3 '' --rootfs "$root" -- /bin/sh -c 'exit 3'
expect exit-255 255 '' --rootfs "$root" -- /bin/sh -c 'exit 255'
expect signal-kill 137 '' --rootfs "$root" -- /bin/sh -c 'kill -9 $$'
expect signal-term 143 '' --rootfs "$root" -- /bin/sh -c 'kill -TERM $$'
expect args 0 $'a b|c\'d|e\nf||"g"|k=v|' --rootfs "$root" -- /bin/sh -c 'printf "%s|" "$@"' x 'a b' "c'd" $'e\nf' '' '"g"' k=v
expect path-lookup 0 $'hi there\n' --rootfs "$root" -- echo 'hi there'
expect env 0 $'bar baz|x=y\nz|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --rootfs "$root" --env 'FOO=bar baz' --env $'Q=x=y\nz' -- /bin/sh -c 'printf "%s|%s|%s" "$FOO" "$Q" "$PATH"'
expect workdir 0 $'/etc\n' --rootfs "$root" --workdir /etc -- /bin/pwd
expect uid 0 $'1000\n1001\n' --rootfs "$root" --uid 1000:1001 -- /bin/sh -c 'id -u; id -g'
expect uid-root 0 $'0\n0\n' --rootfs "$root" -- /bin/sh -c 'id -u; id -g'

# --tty: a pty in the guest (its line discipline turns \n into \r\n).
run tty --rootfs "$root" --tty -- /bin/sh -c 'tty; echo "$TERM"; exit 5'
if [ "$(rc tty)" = 5 ] && [ "$(cat "$tmp/tty.out")" = $'/dev/pts/0\r\nxterm\r' ]; then ok tty; else nok tty "$(why tty)"; fi

# --tty on a host terminal: a shell, the window size at start and after a resize, exit status.
cat >"$tmp/pty_session.py" <<'EOF'
import fcntl, os, pty, select, struct, sys, termios, time
kiln, root = sys.argv[1], sys.argv[2]
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 90, 0, 0))
    os.execv(kiln, [kiln, "run", "--rootfs", root, "--tty", "--", "/bin/sh"])
out = b""
def read_until(pat, t=60):
    global out
    end = time.time() + t
    while pat not in out and time.time() < end:
        if select.select([fd], [], [], 0.5)[0]:
            try:
                out += os.read(fd, 4096)
            except OSError:
                break
    return pat in out
first = read_until(b"# ")
os.write(fd, b"stty size\r")
size = first and read_until(b"30 90")
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 120, 0, 0))
time.sleep(1)
os.write(fd, b"stty size; echo $((6*7))x\r")
resized = read_until(b"50 120") and read_until(b"42x")
os.write(fd, b"exit 9\r")
code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
if not (size and resized and code == 9):
    print("size %s, resize and input %s, status %d, output %r" % (size, resized, code, out[-300:]))
    sys.exit(1)
EOF
if msg=$(timeout 180 python3 "$tmp/pty_session.py" "$KILN" "$root" 2>&1); then ok tty-interactive; else nok tty-interactive "$msg"; fi

# stdout and stderr stay apart.
run stderr --rootfs "$root" -- /bin/sh -c 'echo out; echo err >&2; exit 4'
if [ "$(rc stderr)" = 4 ] && [ "$(cat "$tmp/stderr.out")" = out ] && [ "$(cat "$tmp/stderr.err")" = err ]; then
    ok stderr
else
    nok stderr "$(why stderr)"
fi

# stdin: a line, then 300 KiB of random bytes (more than every buffer on the way), then none.
echo data >"$tmp/stdin.in"
expect stdin 0 $'data\n' --rootfs "$root" -- /bin/cat
head -c 307200 /dev/urandom >"$tmp/stdin-binary.in"
run stdin-binary --rootfs "$root" -- /bin/cat
if [ "$(rc stdin-binary)" = 0 ] && cmp -s "$tmp/stdin-binary.in" "$tmp/stdin-binary.out"; then
    ok stdin-binary
else
    nok stdin-binary "status $(rc stdin-binary), $(wc -c <"$tmp/stdin-binary.out") of 307200 bytes back"
fi
expect stdin-eof 0 $'0\n' --rootfs "$root" -- /bin/sh -c 'wc -c | tr -d " "'
printf 'one\ntwo\n' | timeout 180 "$KILN" run --rootfs "$root" -- /bin/sh -c 'read a; read b; echo "$b $a"' \
    >"$tmp/stdin-pipe.out" 2>"$tmp/stdin-pipe.err"
echo $? >"$tmp/stdin-pipe.rc"
[ "$(cat "$tmp/stdin-pipe.out")" = "two one" ] && ok stdin-pipe || nok stdin-pipe "$(why stdin-pipe)"

# A closed stdin is an empty one; a closed stdout loses the output, never mixes it elsewhere.
timeout 180 "$KILN" run --rootfs "$root" -- /bin/sh -c 'cat; echo out; echo err >&2; exit 6' <&- \
    >"$tmp/closed-in.out" 2>"$tmp/closed-in.err"
echo $? >"$tmp/closed-in.rc"
if [ "$(rc closed-in)" = 6 ] && [ "$(cat "$tmp/closed-in.out")" = out ] && [ "$(cat "$tmp/closed-in.err")" = err ]; then
    ok closed-stdin
else
    nok closed-stdin "$(why closed-in)"
fi
timeout 180 "$KILN" run --rootfs "$root" -- /bin/sh -c 'echo out; echo err >&2; exit 6' </dev/null >&- \
    2>"$tmp/closed-out.err"
echo $? >"$tmp/closed-out.rc"; : >"$tmp/closed-out.out"
if [ "$(rc closed-out)" = 6 ] && [ "$(cat "$tmp/closed-out.err")" = err ]; then ok closed-stdout; else nok closed-stdout "$(why closed-out)"; fi

# Writes reach the host; a read-only rootfs refuses them and the host file stays.
expect write 0 '' --rootfs "$root" -- /bin/sh -c 'echo "from the guest" >/data/new.txt'
if [ "$(cat "$root/data/new.txt" 2>/dev/null)" = "from the guest" ]; then ok write-host; else nok write-host "no /data/new.txt on the host"; fi
run readonly --rootfs "$root:ro" -- /bin/sh -c 'echo changed >/data/keep.txt'
if [ "$(rc readonly)" != 0 ] && grep -q -i -e 'read-only' -e 'permission denied' "$tmp/readonly.err" &&
    [ "$(cat "$root/data/keep.txt")" = original ]; then
    ok readonly
else
    nok readonly "$(why readonly); host file: $(cat "$root/data/keep.txt")"
fi
expect readonly-read 0 $'original\n' --rootfs "$root:ro" -- /bin/cat /data/keep.txt

# Not found: 127 and a shell-like message; found but not runnable: 126.
run missing --rootfs "$root" -- /no/such/program
if [ "$(rc missing)" = 127 ] && grep -q '/no/such/program: No such file or directory' "$tmp/missing.err" &&
    [ ! -s "$tmp/missing.out" ]; then ok missing-cmd; else nok missing-cmd "$(why missing)"; fi
run missing-path --rootfs "$root" -- nosuchcommand
if [ "$(rc missing-path)" = 127 ] && grep -q 'nosuchcommand: command not found' "$tmp/missing-path.err"; then
    ok missing-cmd-path
else
    nok missing-cmd-path "$(why missing-path)"
fi
run not-exec --rootfs "$root" -- /data/keep.txt
if [ "$(rc not-exec)" = 126 ] && grep -q 'keep.txt' "$tmp/not-exec.err"; then ok not-executable; else nok not-executable "$(why not-exec)"; fi
run bad-workdir --rootfs "$root" --workdir /nope -- /bin/true
if [ "$(rc bad-workdir)" = 125 ] && grep -q '/nope' "$tmp/bad-workdir.err"; then ok bad-workdir; else nok bad-workdir "$(why bad-workdir)"; fi

# A missing directory is kiln's own error, before any boot.
start=$(date +%s%N)
run missing-dir --rootfs "$tmp/no-such-dir" -- /bin/true
ms=$(( ($(date +%s%N) - start) / 1000000 ))
if [ "$(rc missing-dir)" = 1 ] && grep -q "no-such-dir: No such file or directory" "$tmp/missing-dir.err" && [ $ms -lt 2000 ]; then
    ok missing-dir
else
    nok missing-dir "$(why missing-dir), ${ms} ms"
fi
run no-cmd --rootfs "$root"
if [ "$(rc no-cmd)" = 2 ] && grep -q 'needs a command' "$tmp/no-cmd.err"; then ok no-command; else nok no-command "$(why no-cmd)"; fi

# SIGTERM to kiln reaches the program (SysRq e in the guest): its handler's status, or 143.
sigterm() { # name expected-status cmd...
    local name=$1 want=$2; shift 2
    # --foreground: timeout(1) passes SIGTERM on once, to kiln only (without it, to its process
    # group as well, and a second SIGTERM stops a VM at once).
    timeout --foreground 180 "$KILN" run --rootfs "$root" -- "$@" </dev/null >"$tmp/$name.out" 2>"$tmp/$name.err" &
    local pid=$!
    # Until the program runs: it prints "up" first.
    for _ in $(seq 300); do grep -q up "$tmp/$name.out" 2>/dev/null && break; sleep 0.1; done
    kill -TERM $pid
    wait $pid
    echo $? >"$tmp/$name.rc"
    if [ "$(rc "$name")" = "$want" ]; then ok "$name"; else nok "$name" "$(why "$name")"; fi
}
sigterm sigterm-default 143 /bin/sh -c 'echo up; exec sleep 100'
sigterm sigterm-trapped 7 /bin/sh -c 'trap "exit 7" TERM; echo up; while :; do sleep 1; done'

# Start-to-exit latency of /bin/true (reported, not a pass criterion).
start=$(date +%s%N)
run latency --rootfs "$root" -- /bin/true
ms=$(( ($(date +%s%N) - start) / 1000000 ))
if [ "$(rc latency)" = 0 ]; then ok latency; else nok latency "$(why latency)"; fi
echo "# kiln run --rootfs DIR -- /bin/true: ${ms} ms start to exit"

exit $((failures > 0))
