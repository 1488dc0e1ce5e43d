#!/usr/bin/env bash
# A bootloader from Debian's packages on kiln (issue 11): S-mode U-Boot for QEMU's virt board
# (u-boot-qemu: qemu-riscv64_smode/u-boot.bin, a raw .bin) is loaded by --kernel at 0x80200000,
# started by OpenSBI, finds extlinux/extlinux.conf on the first partition of a partitioned
# virtio disk, loads the default guest's Image and initramfs from it and boots them to the
# busybox prompt, the way distributions boot.
set -u
cd "$(dirname "$0")/../.."
KILN=${KILN:-build/kiln}
GUEST=${KILN_GUEST:-$HOME/.cache/kiln/guest}
UBOOT=${KILN_UBOOT:-/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin}
fails=0
ok() { echo "ok $1"; }
notok() { echo "not ok $1${2:+ -- $2}"; fails=$((fails + 1)); }

for need in "$UBOOT" "$GUEST/Image" "$GUEST/initramfs.cpio.gz" "$GUEST/fw_dynamic.bin"; do
    if [ ! -r "$need" ]; then
        echo "ok uboot # SKIP $need missing (scripts/deps.sh: u-boot-qemu; guest/build.sh)"
        exit 0
    fi
done
for tool in sfdisk mkfs.ext4; do
    if ! command -v $tool >/dev/null 2>&1 && [ ! -x /usr/sbin/$tool ] && [ ! -x /sbin/$tool ]; then
        echo "ok uboot # SKIP $tool not installed (scripts/deps.sh)"
        exit 0
    fi
done
PATH=$PATH:/usr/sbin:/sbin
T=$(mktemp -d /tmp/kiln-uboot-XXXXXX)
KPID=
cleanup() { [ -n "$KPID" ] && kill "$KPID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT

# The boot partition's files, as a distribution lays them out.
mkdir -p "$T/boot/extlinux"
cp "$GUEST/Image" "$T/boot/Image"
cp "$GUEST/initramfs.cpio.gz" "$T/boot/initramfs.cpio.gz"
cat >"$T/boot/extlinux/extlinux.conf" <<'CONF'
default kiln
timeout 1
label kiln
    kernel /Image
    initrd /initramfs.cpio.gz
    append console=ttyS0 kiln.uboot=1
CONF
# An MBR disk: one bootable Linux partition from 1 MiB, ext4 built from the directory.
truncate -s 64M "$T/disk.img"
echo 'start=2048, type=83, bootable' | sfdisk -q "$T/disk.img" >/dev/null
truncate -s 63M "$T/part.img"
if ! mkfs.ext4 -q -F -L boot -d "$T/boot" "$T/part.img" >/dev/null 2>&1; then
    notok uboot/disk "mkfs.ext4 -d failed"
    exit 1
fi
dd if="$T/part.img" of="$T/disk.img" bs=1M seek=1 conv=notrunc status=none
ok uboot/disk

# The serial console: U-Boot's autoboot runs distro_bootcmd (virtio0 -> extlinux.conf).
mkfifo "$T/in"
"$KILN" run --mem 512M --firmware "$GUEST/fw_dynamic.bin" --kernel "$UBOOT" \
    --disk "$T/disk.img" <"$T/in" >"$T/out" 2>&1 &
KPID=$!
exec 3>"$T/in"
deadline=$((SECONDS + ${KILN_UBOOT_TIMEOUT:-240}))
seen() { grep -q "$1" "$T/out"; }
while [ $SECONDS -lt $deadline ] && kill -0 "$KPID" 2>/dev/null; do
    seen '~ # ' && break
    sleep 1
done
if seen 'U-Boot 20'; then ok uboot/banner; else notok uboot/banner "$(tail -3 "$T/out")"; fi
if seen 'extlinux.conf'; then ok uboot/extlinux; else notok uboot/extlinux "$(tail -3 "$T/out")"; fi
if seen '~ # '; then
    printf 'cat /proc/cmdline; echo marker-$((6*7))\n' >&3
    for _ in $(seq 30); do seen 'marker-42' && break; sleep 1; done
    if seen 'kiln.uboot=1' && seen 'marker-42'; then
        ok uboot/linux-prompt
    else
        notok uboot/linux-prompt "no command output: $(tail -3 "$T/out")"
    fi
else
    notok uboot/linux-prompt "no busybox prompt: $(tail -5 "$T/out" | tr -d '\r')"
fi
exec 3>&-
kill "$KPID" 2>/dev/null
wait "$KPID" 2>/dev/null
KPID=
[ $fails -eq 0 ] || cp "$T/out" build/uboot-last.log 2>/dev/null
exit $((fails > 0))
