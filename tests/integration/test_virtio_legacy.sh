#!/usr/bin/env bash
# A virtio-blk driver that does not accept VIRTIO_F_VERSION_1 (issue 11) gets a working disk,
# as on QEMU's virtio-mmio version 2: tests/guest/virtio_legacy.c negotiates like xv6 (low
# feature word only, then FEATURES_OK) and reads sector 0, then the legacy way (no
# FEATURES_OK) and reads sector 1; the bytes it prints must be the disk's, with random markers.
set -u
cd "$(dirname "$0")/../.."
KILN=${KILN:-build/kiln}
fails=0
ok() { echo "ok $1"; }
notok() { echo "not ok $1${2:+ -- $2}"; fails=$((fails + 1)); }
if ! command -v riscv64-linux-gnu-gcc >/dev/null 2>&1; then
    echo "ok virtio-legacy # SKIP riscv64-linux-gnu-gcc not installed"
    exit 0
fi
if ! tests/guest/build.sh build/guest-tests >/dev/null 2>&1; then
    notok virtio-legacy/build
    exit 1
fi
T=$(mktemp -d /tmp/kiln-legacy-XXXXXX)
trap 'rm -rf "$T"' EXIT
m0=$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
m1=$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
truncate -s 3M "$T/disk.img"
printf 'S0%s' "$m0" | dd of="$T/disk.img" conv=notrunc status=none
printf 'S1%s' "$m1" | dd of="$T/disk.img" bs=512 seek=1 conv=notrunc status=none
for jit in on off; do
    if timeout 60 "$KILN" run --mem 64M --jit=$jit --firmware build/guest-tests/virtio_legacy.elf \
        --disk "$T/disk.img" </dev/null >"$T/out" 2>&1; then
        ok "virtio-legacy/$jit/passes"
    else
        notok "virtio-legacy/$jit/passes" "$(tail -2 "$T/out" | tr '\n' ' ')"
    fi
    grep -q "^capacity 00001800$" "$T/out" && ok "virtio-legacy/$jit/config-capacity" ||
        notok "virtio-legacy/$jit/config-capacity" "$(grep capacity "$T/out")"
    grep -q "^sector0 S0${m0:0:14}$" "$T/out" && ok "virtio-legacy/$jit/features-ok-driver" ||
        notok "virtio-legacy/$jit/features-ok-driver" "$(grep sector0 "$T/out")"
    grep -q "^sector1 S1${m1:0:14}$" "$T/out" && ok "virtio-legacy/$jit/legacy-driver" ||
        notok "virtio-legacy/$jit/legacy-driver" "$(grep sector1 "$T/out")"
done
exit $((fails > 0))
