#!/bin/sh
# Builds kiln's default RISC-V Linux guest into a cache:
#
#   $KILN_CACHE/guest/{Image,initramfs.cpio.gz,busybox,fw_dynamic.bin,fw_jump.bin}
#
# (KILN_CACHE defaults to ~/.cache/kiln). Each of kernel, busybox and initramfs
# has its own key, a sha256 over its inputs; a part is rebuilt only when its key
# changes. Builds happen in $CACHE/guest/work and results are renamed into
# place only when complete, so an interrupted build never leaves an artifact
# that passes for valid. Full logs go to $CACHE/guest/logs/. See docs/guest.md.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${KILN_CACHE:-$HOME/.cache/kiln}
OUT=$CACHE/guest
WORK=$OUT/work
KEYS=$OUT/keys
LOGS=$OUT/logs
CROSS=riscv64-linux-gnu-
JOBS=$(nproc 2>/dev/null || echo 2)
LINUX_TARBALL=/usr/src/linux-source-6.1.tar.xz
OPENSBI_DIR=/usr/lib/riscv64-linux-gnu/opensbi/generic
LOG=/dev/null

say() { printf 'kiln: %s\n' "$*"; }

die() {
	printf 'kiln: error: %s\n' "$*" >&2
	exit 1
}

# Run a command with its output appended to the current stage's log; on
# failure show where the log is and its tail.
run() {
	if ! "$@" >>"$LOG" 2>&1; then
		printf 'kiln: error: `%s` failed; full log: %s\n' "$*" "$LOG" >&2
		printf -- '--- last 30 lines ---\n' >&2
		tail -n 30 "$LOG" >&2
		exit 1
	fi
}

# Start a stage: announce it and truncate its log.
stage() {
	LOG=$LOGS/$1.log
	: >"$LOG"
	shift
	say "$*"
}

pkgver() {
	dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo none
}

# The cache path as shown to the user.
pretty() {
	case $1 in
	"$HOME"/*) printf '~/%s' "${1#"$HOME"/}" ;;
	*) printf '%s' "$1" ;;
	esac
}

# key NAME: the key stored for a built artifact, or nothing.
stored_key() {
	cat "$KEYS/$1" 2>/dev/null || true
}

# install_artifact SRC DEST KEYNAME KEY: rename SRC over DEST and record KEY.
# The old key goes first, so a crash between the steps leaves "needs rebuild",
# never a stale key vouching for a different file.
install_artifact() {
	rm -f "$KEYS/$3"
	mv -f "$1" "$2"
	printf '%s\n' "$4" >"$KEYS/$3.tmp"
	mv -f "$KEYS/$3.tmp" "$KEYS/$3"
}

# check_config FRAGMENT CONFIG: every "=value" line of FRAGMENT appears verbatim
# in CONFIG, every "is not set" symbol is not enabled. Kconfig silently drops
# options whose dependencies are missing; this is where we notice.
check_config() {
	bad=$(awk '
		FNR == NR {
			if ($0 ~ /^CONFIG_[A-Za-z0-9_]+=/) want[$0] = 1
			else if ($0 ~ /^# CONFIG_[A-Za-z0-9_]+ is not set$/) off[$2] = 1
			next
		}
		{ have[$0] = 1; if ($0 ~ /^CONFIG_[A-Za-z0-9_]+=/) { split($0, kv, "="); on[kv[1]] = 1 } }
		END {
			for (l in want) if (!(l in have)) print "  wanted " l
			for (s in off) if (s in on) print "  wanted " s " off"
		}' "$1" "$2" | sort)
	if [ -n "$bad" ]; then
		printf 'kiln: error: %s did not take (missing dependencies?):\n%s\n' \
			"$(basename "$1")" "$bad" >&2
		exit 1
	fi
}

# ---------------------------------------------------------------- keys
# Cheap to compute (no apt, no compiler runs) so the up-to-date path is fast.

LINUX_VER=$(pkgver linux-source-6.1)
GCC_VER=$(pkgver gcc-riscv64-linux-gnu)
BINUTILS_VER=$(pkgver binutils-riscv64-linux-gnu)
LIBC_VER=$(pkgver libc6-dev-riscv64-cross)
[ "$LINUX_VER" != none ] && [ -r "$LINUX_TARBALL" ] ||
	die "linux-source-6.1 is not installed (run scripts/deps.sh)"
[ "$GCC_VER" != none ] || die "gcc-riscv64-linux-gnu is not installed (run scripts/deps.sh)"

mkdir -p "$OUT" "$WORK" "$KEYS" "$LOGS"

# One build at a time per cache (tests may call `make guest` in parallel).
if command -v flock >/dev/null 2>&1; then
	exec 9>"$OUT/.lock"
	if ! flock -n 9; then
		say "waiting for another guest build to finish…"
		flock 9
	fi
fi

# Version of Debian's busybox source. Asking apt takes about a second, so the
# answer is remembered together with the mtime of apt's list directory, which
# changes whenever `apt-get update` brings new indexes.
busybox_srcver() {
	lists=$(stat -c %Y /var/lib/apt/lists 2>/dev/null || echo 0)
	memo=$WORK/busybox-srcver
	if [ -r "$memo" ] && [ "$(sed -n 1p "$memo")" = "$lists" ]; then
		sed -n 2p "$memo"
		return
	fi
	# A binary package's "Source:" names the source version when it differs
	# (binNMUs); otherwise the binary version is the source version.
	v=$(apt-cache show --no-all-versions busybox 2>/dev/null | awk '
		/^Source:/ && $3 != "" { gsub(/[()]/, "", $3); src = $3 }
		/^Version:/ { ver = $2 }
		END { print (src != "" ? src : ver) }')
	[ -n "$v" ] || die "apt knows no busybox package; is the Debian archive configured?"
	printf '%s\n%s\n' "$lists" "$v" >"$memo.tmp"
	mv -f "$memo.tmp" "$memo"
	printf '%s\n' "$v"
}
BUSYBOX_VER=$(busybox_srcver)

# hash_inputs LABEL... -- FILE...: sha256 over the labels and file contents.
hash_inputs() {
	{
		while [ $# -gt 0 ] && [ "$1" != -- ]; do
			printf '%s\n' "$1"
			shift
		done
		shift
		for f in "$@"; do
			printf '== %s\n' "$(basename "$f")"
			cat "$f"
		done
	} | sha256sum | cut -d' ' -f1
}

LINUX_KEY=$(hash_inputs "linux-source-6.1 $LINUX_VER" "gcc $GCC_VER" \
	"binutils $BINUTILS_VER" -- "$HERE/linux.config" "$HERE/build.sh")
BUSYBOX_KEY=$(hash_inputs "busybox $BUSYBOX_VER" "gcc $GCC_VER" \
	"binutils $BINUTILS_VER" "libc $LIBC_VER" -- "$HERE/busybox.config" "$HERE/build.sh")
INITRAMFS_KEY=$(hash_inputs "busybox-key $BUSYBOX_KEY" "linux-source-6.1 $LINUX_VER" "gcc $GCC_VER" \
	"libc $LIBC_VER" -- "$HERE/init" "$HERE/telinit" "$HERE/udhcpc.script" "$HERE/kiln-rootfs.c" \
	"$HERE/build.sh")

need_linux=1 need_busybox=1 need_initramfs=1
[ "$(stored_key linux)" = "$LINUX_KEY" ] && [ -s "$OUT/Image" ] && need_linux=0
[ "$(stored_key busybox)" = "$BUSYBOX_KEY" ] && [ -s "$OUT/busybox" ] && need_busybox=0
[ "$(stored_key initramfs)" = "$INITRAMFS_KEY" ] && [ -s "$OUT/initramfs.cpio.gz" ] &&
	need_initramfs=0

# ---------------------------------------------------------------- firmware
# Debian's OpenSBI, copied so the cache is self-contained; cmp is cheap.
for fw in fw_dynamic.bin fw_jump.bin; do
	[ -r "$OPENSBI_DIR/$fw" ] || die "$OPENSBI_DIR/$fw missing (is opensbi installed?)"
	if ! cmp -s "$OPENSBI_DIR/$fw" "$OUT/$fw"; then
		cp "$OPENSBI_DIR/$fw" "$OUT/.$fw.tmp"
		mv -f "$OUT/.$fw.tmp" "$OUT/$fw"
	fi
done

if [ $need_linux$need_busybox$need_initramfs = 000 ]; then
	say "guest image up to date ($(pretty "$OUT"))"
	exit 0
fi

START=$(date +%s)

# ---------------------------------------------------------------- linux
LSRC=$WORK/linux-src
LOBJ=$WORK/linux-obj
LINUX_UPSTREAM=${LINUX_VER%%-*}

kmake() {
	run make -C "$LSRC" O="$LOBJ" ARCH=riscv CROSS_COMPILE="$CROSS" "$@"
}

# The extracted tree is kept between builds (with its objects) so a config
# change is an incremental rebuild; it is re-extracted when the package changes.
linux_source() {
	if [ "$(cat "$WORK/linux-src.version" 2>/dev/null)" = "$LINUX_VER" ] &&
		[ -f "$LSRC/Makefile" ]; then
		return
	fi
	rm -rf "$LSRC" "$LOBJ" "$WORK/linux-src.version" "$WORK/linux-src.tmp"
	mkdir -p "$WORK/linux-src.tmp"
	run tar -xJf "$LINUX_TARBALL" -C "$WORK/linux-src.tmp" --strip-components=1
	mv "$WORK/linux-src.tmp" "$LSRC"
	printf '%s\n' "$LINUX_VER" >"$WORK/linux-src.version"
}

if [ $need_linux = 1 ]; then
	stage linux "[1/3] linux $LINUX_UPSTREAM: configuring…"
	linux_source
	mkdir -p "$LOBJ"
	# tinyconfig, then our fragment, then fill in defaults for the rest.
	kmake tinyconfig
	run "$LSRC/scripts/kconfig/merge_config.sh" -m -O "$LOBJ" "$LOBJ/.config" "$HERE/linux.config"
	kmake olddefconfig
	check_config "$HERE/linux.config" "$LOBJ/.config"
	say "[1/3] linux $LINUX_UPSTREAM: building (this takes a few minutes)…"
	kmake -j"$JOBS" Image
	cp "$LOBJ/arch/riscv/boot/Image" "$OUT/.Image.tmp"
	install_artifact "$OUT/.Image.tmp" "$OUT/Image" linux "$LINUX_KEY"
fi

# ---------------------------------------------------------------- busybox
BBSRC=$WORK/busybox-src
BBOBJ=$WORK/busybox-obj

# `apt-get source` needs a deb-src entry. Add one mirroring Debian's own
# binary entries (same archives, suites, components and keyring), once.
ensure_deb_src() {
	if grep -qs '^Types:.*deb-src' /etc/apt/sources.list.d/*.sources ||
		grep -qs '^[[:space:]]*deb-src[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list; then
		return 1
	fi
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	if [ -r /etc/apt/sources.list.d/debian.sources ]; then
		# deb822: copy each enabled "Types: deb" stanza as "Types: deb-src".
		awk '
			function flush() {
				if (n && types ~ /(^|[ \t])deb([ \t]|$)/ && enabled !~ /^[ \t]*no/) {
					print "Types: deb-src"
					for (i = 1; i <= n; i++) print f[i]
					print ""
				}
				n = 0; types = ""; enabled = ""
			}
			/^[ \t]*$/ { flush(); next }
			/^#/ { next }
			/^Types:/ { types = substr($0, 7); next }
			/^Enabled:/ { enabled = substr($0, 9) }
			/^(URIs|Suites|Components|Signed-By|Architectures|Trusted|Enabled):/ ||
				/^[ \t]/ { f[++n] = $0 }
			END { flush() }' /etc/apt/sources.list.d/debian.sources >"$WORK/kiln-src.sources"
		dest=/etc/apt/sources.list.d/kiln-src.sources
	elif [ -r /etc/apt/sources.list ]; then
		# One-line format: "deb [opts] uri suite comps" -> "deb-src ...".
		sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' /etc/apt/sources.list >"$WORK/kiln-src.sources"
		dest=/etc/apt/sources.list.d/kiln-src.list
	else
		die "no Debian apt sources found to derive a deb-src entry from"
	fi
	[ -s "$WORK/kiln-src.sources" ] || die "could not derive a deb-src entry from apt's sources"
	say "adding a deb-src entry for Debian's archive ($dest)"
	$sudo cp "$WORK/kiln-src.sources" "$dest"
	$sudo chmod 644 "$dest"
	return 0
}

busybox_source() {
	if [ "$(cat "$WORK/busybox-src.version" 2>/dev/null)" = "$BUSYBOX_VER" ] &&
		[ -f "$BBSRC/Makefile" ]; then
		return
	fi
	if ensure_deb_src; then
		sudo=""
		[ "$(id -u)" -eq 0 ] || sudo=sudo
		run $sudo apt-get update -qq
	fi
	rm -rf "$BBSRC" "$BBOBJ" "$WORK/busybox-src.version" "$WORK/busybox-dl"
	mkdir -p "$WORK/busybox-dl"
	# Pin the version the key was computed from. If apt's source index is
	# missing (an earlier update failed), refresh it once and retry.
	if ! (cd "$WORK/busybox-dl" && apt-get source -qq "busybox=$BUSYBOX_VER") >>"$LOG" 2>&1; then
		sudo=""
		[ "$(id -u)" -eq 0 ] || sudo=sudo
		run $sudo apt-get update -qq
		rm -rf "$WORK/busybox-dl"
		mkdir -p "$WORK/busybox-dl"
		(cd "$WORK/busybox-dl" && run apt-get source -qq "busybox=$BUSYBOX_VER")
	fi
	dir=$(find "$WORK/busybox-dl" -mindepth 1 -maxdepth 1 -type d -name 'busybox-*' | head -n 1)
	[ -n "$dir" ] && [ -f "$dir/Makefile" ] || die "apt-get source busybox left no source tree (see $LOG)"
	mv "$dir" "$BBSRC"
	rm -rf "$WORK/busybox-dl"
	printf '%s\n' "$BUSYBOX_VER" >"$WORK/busybox-src.version"
}

bbmake() {
	run make -C "$BBSRC" O="$BBOBJ" CROSS_COMPILE="$CROSS" "$@"
}

if [ $need_busybox = 1 ]; then
	BUSYBOX_UPSTREAM=${BUSYBOX_VER#*:}
	BUSYBOX_UPSTREAM=${BUSYBOX_UPSTREAM%%-*}
	stage busybox "[2/3] busybox $BUSYBOX_UPSTREAM: configuring…"
	busybox_source
	mkdir -p "$BBOBJ"
	bbmake defconfig
	# Drop every symbol the fragment mentions, append the fragment, settle.
	syms=$(sed -n 's/^\(CONFIG_[A-Za-z0-9_]*\)=.*/\1/p; s/^# \(CONFIG_[A-Za-z0-9_]*\) is not set$/\1/p' \
		"$HERE/busybox.config")
	for s in $syms; do
		sed -i -e "/^$s=/d" -e "/^# $s is not set\$/d" "$BBOBJ/.config"
	done
	grep -E '^(CONFIG_|# CONFIG_)' "$HERE/busybox.config" >>"$BBOBJ/.config"
	yes '' | run make -C "$BBSRC" O="$BBOBJ" CROSS_COMPILE="$CROSS" oldconfig
	check_config "$HERE/busybox.config" "$BBOBJ/.config"
	say "[2/3] busybox $BUSYBOX_UPSTREAM: building…"
	bbmake -j"$JOBS" busybox busybox.links
	! "${CROSS}readelf" -l "$BBOBJ/busybox" | grep -q INTERP ||
		die "busybox came out dynamically linked (is CONFIG_STATIC in busybox.config?)"
	cp "$BBOBJ/busybox" "$OUT/.busybox.tmp"
	cp "$BBOBJ/busybox.links" "$OUT/.busybox.links.tmp"
	# The applet list is part of the busybox artifact: replace it first.
	rm -f "$KEYS/busybox"
	mv -f "$OUT/.busybox.links.tmp" "$OUT/busybox.links"
	install_artifact "$OUT/.busybox.tmp" "$OUT/busybox" busybox "$BUSYBOX_KEY"
	need_initramfs=1
fi

# ---------------------------------------------------------------- initramfs
GEN_CPIO=$WORK/gen_init_cpio

# The kernel's own cpio writer: makes device nodes and root-owned entries
# from a text list, no privileges needed. Built from the tarball on its own so
# the initramfs does not need a kernel build tree.
gen_init_cpio_tool() {
	if [ "$(cat "$GEN_CPIO.version" 2>/dev/null)" = "$LINUX_VER" ] && [ -x "$GEN_CPIO" ]; then
		return
	fi
	if [ -f "$LSRC/usr/gen_init_cpio.c" ] &&
		[ "$(cat "$WORK/linux-src.version" 2>/dev/null)" = "$LINUX_VER" ]; then
		cp "$LSRC/usr/gen_init_cpio.c" "$WORK/gen_init_cpio.c"
	else
		run tar -xJf "$LINUX_TARBALL" -C "$WORK" --strip-components=2 \
			--wildcards '*/usr/gen_init_cpio.c'
	fi
	run cc -O2 -o "$GEN_CPIO" "$WORK/gen_init_cpio.c"
	printf '%s\n' "$LINUX_VER" >"$GEN_CPIO.version"
}

if [ $need_initramfs = 1 ]; then
	stage initramfs "[3/3] initramfs: packing…"
	gen_init_cpio_tool
	R=$WORK/initramfs
	rm -rf "$R"
	mkdir -p "$R"
	# PID 1 of `kiln run --rootfs` (docs/rootfs.md): static, like busybox.
	run "${CROSS}gcc" -static -O2 -Wall -o "$R/kiln-rootfs" "$HERE/kiln-rootfs.c"
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$R/passwd"
	printf 'root:x:0:\n' >"$R/group"
	printf 'kiln\n' >"$R/hostname"
	{
		for d in /bin /sbin /usr /usr/bin /usr/sbin /dev /proc /sys /tmp /run \
			/etc /root /mnt /var; do
			echo "dir $d 0755 0 0"
		done
		echo "nod /dev/console 0600 0 0 c 5 1"
		echo "nod /dev/null 0666 0 0 c 1 3"
		echo "file /bin/busybox $OUT/busybox 0755 0 0"
		echo "file /init $HERE/init 0755 0 0"
		echo "file /sbin/telinit $HERE/telinit 0755 0 0"
		echo "file /sbin/kiln-rootfs $R/kiln-rootfs 0755 0 0"
		echo "file /etc/udhcpc.script $HERE/udhcpc.script 0755 0 0"
		echo "file /etc/passwd $R/passwd 0644 0 0"
		echo "file /etc/group $R/group 0644 0 0"
		echo "file /etc/hostname $R/hostname 0644 0 0"
		# busybox.links lists applets by their install path (/bin/ls,
		# /usr/sbin/chroot...); every one is a symlink to /bin/busybox.
		grep -v '^/bin/busybox$' "$OUT/busybox.links" | sort -u | while read -r p; do
			echo "slink $p /bin/busybox 0777 0 0"
		done
	} >"$R/list"
	# Fixed timestamp and gzip -n: same inputs, same bytes.
	run sh -c '"$1" -t 0 "$2" | gzip -9n >"$3"' sh "$GEN_CPIO" "$R/list" "$OUT/.initramfs.cpio.gz.tmp"
	install_artifact "$OUT/.initramfs.cpio.gz.tmp" "$OUT/initramfs.cpio.gz" initramfs "$INITRAMFS_KEY"
fi

say "guest image built in $(($(date +%s) - START))s ($(pretty "$OUT"))"
