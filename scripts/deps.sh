#!/bin/sh
# Installs what kiln needs to build, test and benchmark, from Debian's archive.
# Idempotent and quiet: does nothing when everything is already there.
set -e
PKGS="build-essential pkg-config libfdt-dev libcmocka-dev clang libclang-rt-14-dev \
gcc-riscv64-linux-gnu binutils-riscv64-linux-gnu libc6-dev-riscv64-cross \
opensbi qemu-system-misc qemu-user linux-source-6.1 bc flex bison libssl-dev libelf-dev \
cpio device-tree-compiler dpkg-dev xz-utils e2fsprogs iproute2 python3 libslirp-dev libglib2.0-dev \
libjson-c-dev libsqlite3-dev libseccomp-dev zlib1g-dev qemu-utils \
nodejs chromium gdb-multiarch u-boot-qemu fdisk containerd podman"
# nodejs/npm build the web dashboard's page (`make web`, docs/web.md) and chromium runs its
# test headless; kiln itself never needs them. gdb-multiarch (test_gdb), u-boot-qemu and fdisk's
# sfdisk (test_uboot: Debian's U-Boot from a partitioned disk) are for tests only too, and so are
# containerd and podman (test_oci_containerd.py, test_oci_podman.py drive kiln-runc through them).
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# Some nodejs packages carry npm themselves; Debian's own splits it out.
command -v npm >/dev/null 2>&1 || missing="$missing npm"
[ -z "$missing" ] && exit 0
echo "kiln: installing build dependencies:$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
