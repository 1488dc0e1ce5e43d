#!/usr/bin/env bash
# kiln as an OCI runtime under containerd: start-to-exit latency of `ctr run --rm IMG true`
# (a riscv64 busybox image built offline, median of RUNS) and the memory of each running
# container (`sleep`, COUNT of them at once: RSS and PSS of the container's host processes,
# and of its containerd shim). Beside it: runc running the same image through qemu-riscv64
# via binfmt_misc when the host has that registered, and qemu-riscv64 on the bare binary.
# Needs root and containerd (scripts/deps.sh). Prints a markdown table.
# KILN=path/to/kiln (default build/kiln); RUNS (default 10); COUNT (default 4).
set -eu
cd "$(dirname "$0")/.."
ROOT=$PWD
KILN=${KILN:-build/kiln}
case $KILN in /*) ;; *) KILN=$ROOT/$KILN ;; esac
RUNC=$(dirname "$KILN")/kiln-runc
RUNS=${RUNS:-10}
COUNT=${COUNT:-4}
[ "$(id -u)" -eq 0 ] || { echo "bench/oci.sh: needs root (containerd)" >&2; exit 1; }
command -v containerd >/dev/null && command -v ctr >/dev/null ||
    { echo "bench/oci.sh: containerd not installed (scripts/deps.sh)" >&2; exit 1; }
[ -x "$RUNC" ] || { echo "bench/oci.sh: $RUNC missing (make)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/kiln-ocibench-XXXXXX)
SOCK=$tmp/containerd.sock
NS=kilnbench
IMG=kiln.test/busybox:latest
cat >"$tmp/config.toml" <<EOF
version = 2
root = "$tmp/root"
state = "$tmp/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
EOF
setsid containerd --config "$tmp/config.toml" >"$tmp/containerd.log" 2>&1 </dev/null &
daemon=$!
ctr() { command ctr --address "$SOCK" --namespace "$NS" "$@"; }
cleanup() {
    for i in $(seq "$COUNT"); do
        ctr task kill -s SIGKILL "mem$i" >/dev/null 2>&1 || true
        ctr task rm -f "mem$i" >/dev/null 2>&1 || true
        ctr container rm "mem$i" >/dev/null 2>&1 || true
    done
    kill "$daemon" 2>/dev/null || true
    wait "$daemon" 2>/dev/null || true
    grep -o " $tmp[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
for _ in $(seq 100); do ctr version >/dev/null 2>&1 && break; sleep 0.1; done

python3 - "$tmp" <<'EOF'
import sys
sys.path.insert(0, "tests/integration")
from oci_common import build_rootfs, oci_archive
build_rootfs(sys.argv[1] + "/rootfs")
oci_archive(sys.argv[1] + "/rootfs", sys.argv[1] + "/img.tar")
EOF
ctr image import --base-name kiln.test/busybox --platform linux/riscv64 "$tmp/img.tar" >/dev/null

now() { date +%s.%N; }
median_ms() { # command... (run RUNS times; "@N" in the arguments becomes the run number)
    local t=() i
    for i in $(seq "$RUNS"); do
        local args=("${@//@N/$i}") s e
        s=$(now)
        "${args[@]}" >/dev/null 2>&1 || { echo "failed: ${args[*]}" >&2; return 1; }
        e=$(now)
        t+=("$(echo "($e - $s) * 1000" | bc -l)")
    done
    printf '%s\n' "${t[@]}" | sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.0f", m}'
}
# Sum of a field (kB) of /proc/PID/smaps_rollup over pids.
mem_kb() { # field pids...
    local f=$1 sum=0 p v
    shift
    for p in "$@"; do
        v=$(awk -v f="$f:" '$1 == f {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
        sum=$((sum + ${v:-0}))
    done
    echo "$sum"
}

RUN=(run --platform linux/riscv64 --runtime io.containerd.runc.v2)
k_lat=$(median_ms ctr "${RUN[@]}" --runc-binary "$RUNC" --rm "$IMG" "lat@N" true)
# The system-VM kind boots a kernel per container: fewer runs.
s_lat=$(RUNS=$(( RUNS < 3 ? RUNS : 3 )) median_ms ctr "${RUN[@]}" --runc-binary "$RUNC" --rm \
    --annotation run.kiln.vm=system "$IMG" "slat@N" true)
binfmt=/proc/sys/fs/binfmt_misc/qemu-riscv64
if [ -e "$binfmt" ] && grep -q enabled "$binfmt" && command -v runc >/dev/null; then
    q_lat="$(median_ms ctr "${RUN[@]}" --rm "$IMG" "qlat@N" true) ms"
else
    q_lat="n/a (no qemu-riscv64 binfmt_misc entry)"
fi
bare=n/a
command -v qemu-riscv64 >/dev/null && bare="$(median_ms qemu-riscv64 "$tmp/rootfs/bin/busybox" true) ms"
kiln_bare="$(median_ms "$KILN" exec --dir "$tmp/rootfs:/" "$tmp/rootfs/bin/busybox" true) ms"

# Memory: COUNT containers sleeping at once.
for i in $(seq "$COUNT"); do
    ctr "${RUN[@]}" --runc-binary "$RUNC" -d "$IMG" "mem$i" sleep 600 >/dev/null
done
sleep 1
rss=0 pss=0 shim_rss=0 n=0
for i in $(seq "$COUNT"); do
    pids=$(ctr task ps "mem$i" | awk 'NR > 1 {print $1}')
    [ -n "$pids" ] || continue
    # shellcheck disable=SC2086
    rss=$((rss + $(mem_kb Rss $pids)))
    # shellcheck disable=SC2086
    pss=$((pss + $(mem_kb Pss $pids)))
    first=$(echo "$pids" | head -1)
    shim=$(awk '{print $4}' "/proc/$first/stat")
    shim_rss=$((shim_rss + $(mem_kb Rss "$shim")))
    n=$((n + 1))
done
[ "$n" -gt 0 ] || { echo "bench/oci.sh: no container ran" >&2; exit 1; }
# One system-VM container at its workload's sleep: the keeper and the VM process.
ctr "${RUN[@]}" --runc-binary "$RUNC" -d --annotation run.kiln.vm=system "$IMG" sysmem sleep 600 >/dev/null
sleep 8
spids=$(ctr task ps sysmem | awk 'NR > 1 {print $1}')
for p in $spids; do spids="$spids $(cat "/proc/$p/task/$p/children" 2>/dev/null)"; done
# shellcheck disable=SC2086
s_rss=$(mem_kb Rss $spids)
# shellcheck disable=SC2086
s_pss=$(mem_kb Pss $spids)
ctr task kill -s SIGKILL sysmem >/dev/null 2>&1 || true
sleep 1
ctr task rm -f sysmem >/dev/null 2>&1 || true
ctr container rm sysmem >/dev/null 2>&1 || true

echo "| benchmark | kiln-runc (process VM) | runc + qemu-riscv64 (binfmt) |"
echo "|---|---|---|"
echo "| \`ctr run --rm\` busybox \`true\`, start to exit (median of $RUNS) | ${k_lat} ms | ${q_lat} |"
echo "| the bare program (no engine): \`kiln exec\` / \`qemu-riscv64\` busybox \`true\` | ${kiln_bare} | ${bare} |"
echo "| RSS per running container (\`sleep\`, $n at once; the VM's host processes) | $((rss / n)) KiB | |"
echo "| PSS per running container (shared pages split) | $((pss / n)) KiB | |"
echo "| RSS of its containerd shim | $((shim_rss / n)) KiB | |"
echo "| system-VM kind (\`run.kiln.vm=system\`): \`ctr run --rm\` busybox \`true\` (median of up to 3) | ${s_lat} ms | |"
echo "| system-VM kind: RSS / PSS of one running container (keeper + VM, 256 MiB guest) | ${s_rss} / ${s_pss} KiB | |"
