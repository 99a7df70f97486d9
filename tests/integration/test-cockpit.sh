#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The Cockpit page (cockpit/, issue 18 item 1) in a real browser: headless
# Chromium driven by python3-selenium (cockpit-driver.py) against
# `cockpit-ws --no-tls --local-session=cockpit-bridge` on 127.0.0.1, whose
# bridge finds the page through XDG_DATA_DIRS (a scratch share/cockpit/
# vhdcompact linking to the source tree's cockpit/) and talks to
# vhd-compactd on a private system bus (bus-functions.sh; the bridge reads
# DBUS_SYSTEM_BUS_ADDRESS).  The daemon slows its moves
# (VHDCOMPACT_TEST_WORKER_SLOW_MS).  Checked, on the page:
#   - it reaches the service (its Version shows);
#   - Analyze of a missing file shows the service's error as
#     "org.freedesktop.DBus.Error.FileNotFound: ...";
#   - a folder added lists exactly its two disks (FindImages), is kept in
#     localStorage, and a click on one fills the path field;
#   - Analyze of a 64 MiB dynamic VHD holding an ext4 partition (files in,
#     free space over random bytes) shows the file's size before, a
#     smaller size after, and one volume with a bar whose used and
#     reclaimable parts have width;
#   - Compact: a new job row, the progress bar at 100 %, state done, the
#     size after shown equal to the file's new size and to Analyze's
#     prediction, smaller than before;
#   - a job started by another client (busctl) appears and ends done;
#   - a slowed job shows, while moving, a progress between 0 and 100 %, a
#     rate and an ETA; Cancel ends it "cancelled" with
#     org.vhd.Compact.Error.Cancelled shown;
# and, outside the page: the cancelled image passes `vhdctl check` and
# reads as before (qemu-img compare), the compacted one passes `vhdctl
# check`, e2fsck -fn of its partition is clean and every file reads as it
# was written.  A screenshot of the page mid-job is kept in
# $TOP_BUILDDIR/meson-logs/test-cockpit.png (path printed).
set -euo pipefail
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/bus-functions.sh"
(( EUID == 0 )) || skip "needs root (the daemon on a private system bus, cockpit-ws's local session)"
requires dbus-daemon busctl qemu-img qemu-io sfdisk mkfs.ext4 e2fsck debugfs sha256sum
requires_env VHD_COMPACTD VHD_WORKER VHDCTL
ws=
for c in /usr/lib/cockpit/cockpit-ws /usr/libexec/cockpit-ws; do
    [[ -x $c ]] && ws=$c && break
done
[[ -n $ws ]] || skip "cockpit-ws is not installed (Debian package cockpit-ws)"
command -v cockpit-bridge >/dev/null || skip "cockpit-bridge is not installed (Debian package cockpit-bridge)"
[[ -f /usr/share/cockpit/base1/cockpit.js || -f /usr/share/cockpit/base1/cockpit.js.gz ]] ||
    skip "cockpit's base1 package is missing (/usr/share/cockpit/base1)"
[[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]] ||
    skip "chromium and chromedriver are not installed (Debian packages chromium, chromium-driver)"
/usr/bin/python3 -c 'import selenium' 2>/dev/null || skip "python3-selenium is not installed"
srcroot=${TOP_SRCDIR:-$(cd "$srcdir/../.." && pwd)}
[[ -f $srcroot/cockpit/manifest.json ]] || fail "no cockpit/manifest.json in $srcroot"
make_tmpdir
d=$tmpdir
cleanup_fn show_daemon_log_on_failure

echo "== disks"
# disk.vhd: random bytes, an MBR, ext4 at 1-63 MiB holding files.
head -c $((64 << 20)) /dev/urandom > "$d/raw"
printf 'label: dos\nstart=2048, size=126976, type=83\n' | sfdisk -q "$d/raw"
mkdir "$d/src"
for i in 1 2 3 4 5 6; do head -c $((i * 400000)) /dev/urandom > "$d/src/f$i"; done
head -c $((62 << 20)) /dev/urandom > "$d/p1"
mkfs.ext4 -q -F -E nodiscard -d "$d/src" "$d/p1" >/dev/null
dd if="$d/p1" of="$d/raw" bs=1M seek=1 conv=notrunc status=none
qemu-img convert -f raw -O vpc -o subformat=dynamic "$d/raw" "$d/disk.vhd"
rm -f -- "$d/raw" "$d/p1"
# slow.vhd: zeros over its first half, data in the second: a compaction
# drops 32 blocks and moves 32 (slowed); other.vhd: small, for another client.
qemu-img create -q -f vpc -o subformat=dynamic "$d/slow.vhd" 128M
qemu-io -f vpc -c "write -q -P 0 0 64M" -c "write -q -P 0x5a 64M 64M" "$d/slow.vhd" >/dev/null
cp -- "$d/slow.vhd" "$d/slow.vhd.orig"
qemu-img create -q -f vpc -o subformat=dynamic "$d/other.vhd" 16M
qemu-io -f vpc -c "write -q -P 0 0 4M" -c "write -q -P 0x33 4M 4M" "$d/other.vhd" >/dev/null
mkdir -p "$d/images/sub"
qemu-img create -q -f vpc -o subformat=dynamic "$d/images/a.vhd" 8M
qemu-img create -q -f vhdx "$d/images/sub/b.vhdx" 8M
echo "not a disk" > "$d/images/notes.txt"
ln -s "$d/disk.vhd" "$d/images/link.vhd"

echo "== daemon and cockpit-ws"
start_test_bus
start_daemon VHDCOMPACT_TEST_WORKER_SLOW_MS=1500
mkdir -p "$d/share/cockpit" "$d/home"
ln -s "$srcroot/cockpit" "$d/share/cockpit/vhdcompact"
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
env -u LD_PRELOAD HOME="$d/home" XDG_DATA_DIRS="$d/share:/usr/local/share:/usr/share" \
    XDG_CONFIG_DIRS="$d/etc" DBUS_SYSTEM_BUS_ADDRESS="$DBUS_SYSTEM_BUS_ADDRESS" \
    "$ws" --no-tls --local-session=cockpit-bridge --address 127.0.0.1 --port "$port" \
    > "$d/cockpit-ws.log" 2>&1 &
ws_pid=$!
cleanup_fn _bus_stop_pid "$ws_pid" cockpit-ws
url=http://127.0.0.1:$port/cockpit/@localhost/vhdcompact/index.html
ok=0
for ((i = 0; i < 100; i++)); do
    kill -0 "$ws_pid" 2>/dev/null || { cat "$d/cockpit-ws.log" >&2; skip "cockpit-ws exited at start"; }
    if /usr/bin/python3 -c 'import sys, urllib.request; sys.exit(0 if b"vhdcompact.js" in urllib.request.urlopen(sys.argv[1], timeout=5).read() else 1)' \
           "$url" 2>/dev/null; then
        ok=1
        break
    fi
    sleep 0.2
done
(( ok )) || { cat "$d/cockpit-ws.log" >&2; fail "cockpit-ws does not serve $url"; }
echo "cockpit-ws (pid $ws_pid) serves $url"

echo "== the page in headless Chromium"
shotdir=${TOP_BUILDDIR:+$TOP_BUILDDIR/meson-logs}
shotdir=${shotdir:-/tmp}
mkdir -p "$shotdir"
shot=$shotdir/test-cockpit.png
size_before=$(stat -c %s "$d/disk.vhd")
rc=0
/usr/bin/python3 "$srcdir/cockpit-driver.py" "$url" "$d" "$shot" || rc=$?
(( rc != 77 )) || skip "headless Chromium cannot run here"
(( rc == 0 )) || { tail -n 30 "$d/cockpit-ws.log" >&2; fail "the page failed (screenshot: $shot)"; }

echo "== the images"
"$VHDCTL" check "$d/slow.vhd" >/dev/null || fail "the cancelled image: vhdctl check finds problems"
qemu-img compare -q -f vpc -F vpc "$d/slow.vhd.orig" "$d/slow.vhd" || fail "the cancelled image reads differently"
echo "cancelled image: valid, reads as before"
"$VHDCTL" check "$d/disk.vhd" >/dev/null || fail "the compacted image: vhdctl check finds problems"
size_after=$(stat -c %s "$d/disk.vhd")
(( size_after < size_before )) || fail "disk.vhd did not shrink: $size_before -> $size_after"
qemu-img convert -f vpc -O raw "$d/disk.vhd" "$d/after.raw"
dd if="$d/after.raw" of="$d/p1" bs=1M skip=1 count=62 status=none
e2fsck -fn "$d/p1" >/dev/null 2>&1 || fail "e2fsck -fn finds problems in the compacted disk's ext4"
for f in "$d"/src/*; do
    want=$(sha256sum < "$f")
    got=$(debugfs -R "cat /${f##*/}" "$d/p1" 2>/dev/null | sha256sum)
    [[ $got = "$want" ]] || fail "${f##*/} reads differently after the compaction"
done
echo "compacted image: $size_before -> $size_after bytes, valid, ext4 clean, files intact"
echo "screenshot: $shot"
echo "$testname: ok"
