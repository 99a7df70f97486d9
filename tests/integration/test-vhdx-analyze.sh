#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# `vhdctl analyze` of VHDX (issue 14 item 6): read-only on any format,
# partitions read with the disk's logical sector size, and a plain word
# that compaction of VHDX is not supported yet instead of a size after.
#   - a 4096-byte-sector disk: GPT made by sfdisk on a loop device with
#     4096-byte sectors (so the GPT header is at byte 4096, LBA 1), NTFS
#     made by mkntfs with 4096-byte sectors, copied into a 4K VHDX by the
#     fixture builder (mkvhdx --from-raw; qemu cannot make 4K VHDX);
#   - a 512-byte-sector disk: GPT and NTFS on a file, qemu-img convert to
#     a dynamic VHDX;
# each analyzed: one NTFS volume at 1 MiB, free bytes found, the blocks
# of old data in free clusters found free, compaction-supported false and the same final size as the file;
# the image byte-identical afterwards.
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
assert a["compaction-supported"] is False
assert a["final-size"] == int(sys.argv[2]) == a["file-size"]
PY
    vhdctl_attaching analyze "$n.vhdx" > "$n.txt" || fail "$n: analyze (text) failed"
    grep -q '^compaction of vhdx images is not supported yet' "$n.txt" || fail "$n: no plain word: $(cat "$n.txt")"
    grep -q 'would make the file' "$n.txt" && fail "$n: a size after compaction is promised"
    cmp -s -- "$n.vhdx" "$n.orig" || fail "$n: analyze changed the image"
done
echo ok
