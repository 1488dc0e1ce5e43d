#!/usr/bin/env bash
# The tap backend against a real tap device in a throwaway network namespace:
# the kernel answers an ARP request sent through kiln's backend. Needs root and
# `ip`; exits 77 (skip) otherwise. Prints "ok NAME" / "not ok NAME" lines.
set -u
cd "$(dirname "$0")/../.."
if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null; then
    echo "skip: needs root and iproute2"
    exit 77
fi
NS=kiln-tap-test-$$
TAP=ktap$$
TAP=${TAP:0:15}
OUT=build/tests/tap_helper
mkdir -p build/tests
cleanup() { ip netns del "$NS" 2>/dev/null; }
trap cleanup EXIT

# Only the backend sources: the helper must not depend on the rest of libkiln building.
if gcc -std=gnu11 -O1 -g -Wall -Wextra -Werror -Wno-unused-parameter -Isrc -pthread $(pkg-config --cflags slirp) \
    tests/integration/tap_helper.c src/backend/tap.c src/backend/slirp.c src/util/log.c src/util/token_bucket.c \
    -o "$OUT" $(pkg-config --libs slirp glib-2.0) 2>build/tests/tap_helper.log; then
    echo "ok tap_helper_builds"
else
    cat build/tests/tap_helper.log
    echo "not ok tap_helper_builds"
    exit 1
fi

if ! ip netns add "$NS" 2>/dev/null; then
    echo "skip: cannot create a network namespace here"
    exit 77
fi
if ip netns exec "$NS" ip tuntap add dev "$TAP" mode tap &&
    ip netns exec "$NS" ip addr add 192.168.77.1/24 dev "$TAP" &&
    ip netns exec "$NS" ip link set "$TAP" up; then
    echo "ok tap_device_created"
else
    echo "not ok tap_device_created"
    exit 1
fi

if ip netns exec "$NS" timeout 20 "$OUT" "$TAP" 192.168.77.2 192.168.77.1; then
    echo "ok tap_backend_arp_roundtrip"
else
    echo "not ok tap_backend_arp_roundtrip"
fi

# A name the kernel would reject must be refused up front with a clear message.
if "$OUT" "bad/name" 192.168.77.2 192.168.77.1 2>build/tests/tap_helper.err; then
    echo "not ok tap_bad_name_reports_error"
elif grep -q "bad tap interface name" build/tests/tap_helper.err; then
    echo "ok tap_bad_name_reports_error"
else
    echo "not ok tap_bad_name_reports_error"
fi
