#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# `vhdctl analyze` of VHDX (issue 14 item 6): read-only on any format,
# partitions read with the disk's logical sector size, and the exact size
# a file-system compaction gives (issue 15), which `vhdctl compact --mode
# fs` then reaches.
#   - a 4096-byte-sector disk: GPT made by sfdisk on a loop device with
#     4096-byte sectors (so the GPT header is at byte 4096, LBA 1), NTFS
#     made by mkntfs with 4096-byte sectors, copied into a 4K VHDX by the
#     fixture builder (mkvhdx --from-raw; qemu cannot make 4K VHDX);
#   - a 512-byte-sector disk: GPT and NTFS on a file, qemu-img convert to
#     a dynamic VHDX;
# each analyzed: one NTFS volume at 1 MiB, free bytes found, the blocks
# of old data in free clusters found free, compaction-supported and a
# final size below the file's; the image byte-identical afterwards.  Then
# compacted (--mode fs): the file has exactly that size, `vhdctl check` is
# clean, and the disk (read by 7-Zip when here, else by the plugin) is the
# raw disk with the free blocks of old data read as zeros.
set -euo pipefail
. "$(dirname "$0")/functions.sh"
requires qemu-img sfdisk mkntfs losetup python3 cmp nbdkit
requires_env VHDCTL VHD_PLUGIN MKVHDX
(( EUID == 0 )) || skip "needs root for the loop device"
make_tmpdir
cd "$tmpdir"

gpt='label: gpt
start=1MiB, size=200MiB, type=EBD0A0A2-B9E5-4433-87C0-68B9B97299C7'

# 4096-byte sectors, through a loop device that has them.
truncate -s 256M k4.raw
loop=$(losetup --sector-size 4096 -P -f --show k4.raw) || skip "cannot attach a 4096-byte-sector loop device"
detach () { [[ -z ${loop:-} ]] || losetup -d "$loop" 2>/dev/null || true; }
cleanup_fn detach
[[ $(blockdev --getss "$loop") = 4096 ]] || fail "the loop device does not have 4096-byte sectors"
sfdisk -q "$loop" <<<"$gpt" || fail "sfdisk on the 4K loop device"
udevadm settle 2>/dev/null || true
[[ -b ${loop}p1 ]] || partx -a "$loop" 2>/dev/null || true
[[ -b ${loop}p1 ]] || skip "no partition device for $loop"
mkntfs -q -F -f -s 4096 -c 4096 -L k4 "${loop}p1" >/dev/null 2>&1 || fail "mkntfs -s 4096 on ${loop}p1"
losetup -d "$loop"; loop=
cmp -s -n 8 -i 4096:0 k4.raw <(printf 'EFI PART') || fail "(test) the GPT header is not at byte 4096"
# Old data in free clusters (blocks 180-189 MiB): allocated blocks that
# the scan must find free.
oldjunk () { head -c 10M /dev/urandom | dd of="$1" bs=1M seek=180 conv=notrunc status=none; }
oldjunk k4.raw
"$MKVHDX" --sector 4096 --size 256M --block-size 1M --from-raw k4.raw --expected k4.expect k4.vhdx ||
    fail "mkvhdx --from-raw"
cmp -s k4.expect k4.raw || fail "(test) the builder's image does not read as the raw disk"

# 512-byte sectors: sfdisk and mkntfs on a file, qemu-img convert.
truncate -s 256M s5.raw
sfdisk -q s5.raw <<<"$gpt" || fail "sfdisk on s5.raw"
truncate -s 200M s5.vol
mkntfs -q -F -f -s 512 -c 4096 -p 2048 -H 0 -S 0 -L s5 s5.vol >/dev/null 2>&1 || fail "mkntfs -s 512"
dd if=s5.vol of=s5.raw bs=1M seek=1 conv=notrunc,sparse status=none
oldjunk s5.raw
qemu-img convert -f raw -O vhdx -o block_size=1M s5.raw s5.vhdx

for n in k4 s5; do
    cp -- "$n.vhdx" "$n.orig"
    vhdctl_attaching analyze --json "$n.vhdx" > "$n.json" || fail "$n: analyze failed: $(cat "$n.json")"
    python3 - "$n.json" "$(file_size "$n.vhdx")" <<'PY' || fail "$n: analyze says: $(cat "$n.json")"
import json, sys
a = json.load(open(sys.argv[1]))
assert a["partition-scheme"] == "gpt", a["partition-scheme"]
v = [x for x in a["volumes"] if x.get("filesystem") == "ntfs" and x.get("scanned")]
assert len(v) == 1, a["volumes"]
assert v[0]["offset"] == 1048576 and v[0]["size"] == 200 * 1048576, v[0]
assert a["free-bytes"] > 150 * 1048576, a["free-bytes"]
assert a["block-classes"][180:190] == "F" * 10, a["block-classes"]
assert a["compaction-supported"] is True
assert a["final-size"] <= int(sys.argv[2]) - 10 * 1048576, (a["final-size"], sys.argv[2])
assert a["file-size"] == int(sys.argv[2])
PY
    vhdctl_attaching analyze "$n.vhdx" > "$n.txt" || fail "$n: analyze (text) failed"
    grep -q 'would make the file' "$n.txt" || fail "$n: no size after compaction: $(cat "$n.txt")"
    cmp -s -- "$n.vhdx" "$n.orig" || fail "$n: analyze changed the image"
    final=$(sed -n 's/.*"final-size": \([0-9]*\).*/\1/p' "$n.json")
    vhdctl_attaching compact --local --mode fs "$n.vhdx" >/dev/null 2>&1 || fail "$n: compact --mode fs failed"
    [[ $(file_size "$n.vhdx") = "$final" ]] || fail "$n: compacted to $(file_size "$n.vhdx") bytes, analyze said $final"
    "$VHDCTL" check "$n.vhdx" >/dev/null || fail "$n: check is not clean after compaction"
    dd if=/dev/zero of="$n.raw" bs=1M seek=180 count=10 conv=notrunc status=none
    if command -v 7zz >/dev/null 2>&1; then
        # -tvhdx: the disk itself, not the file systems 7-Zip finds in it.
        rm -rf 7z && 7zz x -y -tvhdx -o7z -- "$n.vhdx" >/dev/null || fail "$n: 7zz cannot extract the compacted disk"
        cmp -s 7z/* "$n.raw" || fail "$n: 7-Zip reads the compacted disk differently"
    else
        serve "$n.vhdx" readonly=1 --run "nbdcopy \"\$uri\" $n.out" && cmp -s "$n.out" "$n.raw" ||
            fail "$n: the compacted disk reads differently"
    fi
done
echo ok
