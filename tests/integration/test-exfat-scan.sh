#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The exFAT scanner (lib/fs/exfat.c) on volumes made by mkfs.exfat and
# populated and thinned through exfat-fuse: cluster sizes 512 B to 128 KiB,
# a packed bitmap (mkfs.exfat of exfatprogs 1.2 makes 512-byte sectors on a
# file).  Oracles, none of them ours:
#   - the free cluster count equals dump.exfat's "Free Clusters";
#   - the destructive oracle (FS-AWARE.md §4.2): random data over every
#     byte the scan calls free, then fsck.exfat -n is clean and every
#     file's sha256 (read through a read-only mount) is unchanged;
#   - VolumeDirty and MediaFailure: not clean, nothing granted unless forced;
#   - a bad boot checksum, MustBeZero bytes, fields out of bounds, TexFAT,
#     no bitmap entry: refused naming the field.

source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/vfat-functions.sh"
requires mkfs.exfat fsck.exfat dump.exfat mount.exfat-fuse mountpoint sha256sum truncate
requires_env FSSCAN
[[ -c /dev/fuse ]] || skip "no /dev/fuse"
make_tmpdir

# spec: SIZE:CLUSTER:SECTOR[:EXTRA-MKFS-OPTION]
for spec in 256M:4K:512 1G:32K:512 100M:512:512 300M:128K:512:--pack-bitmap 777M:64K:512; do
    IFS=: read -r size cs ss extra <<<"$spec"
    img=$tmpdir/exfat-$cs-$ss.img
    rm -f "$img"; truncate -s "$size" "$img"
    mkfs.exfat -c "$cs" -L "X$cs" ${extra:+"$extra"} "$img" >/dev/null || fail "mkfs.exfat $spec"
    exfat_populate "$img" "${cs%K}"
    fsck.exfat -n "$img" >/dev/null 2>&1 || fail "$spec: not clean after populating"
    exfat_manifest "$img" "$tmpdir/before.sha"

    out=$tmpdir/scan.txt
    "$FSSCAN" "$img" >"$out" || fail "$spec: scan failed: $(cat "$out")"
    [[ $(fsscan_field "$out" fs) = exfat ]] || fail "$spec: probed as $(fsscan_field "$out" fs)"
    [[ $(fsscan_field "$out" clean) = yes ]] || fail "$spec: not clean"
    want=$(dump.exfat "$img" 2>/dev/null | awk -F: '/^Free Clusters/ { gsub(/[ \t]/, "", $2); print $2 }')
    total=$(dump.exfat "$img" 2>/dev/null | awk -F: '/^Cluster Count/ { gsub(/[ \t]/, "", $2); print $2 }')
    [[ -n $want ]] || fail "$spec: no count from dump.exfat"
    [[ $(fsscan_field "$out" free_clusters) = "$want" ]] ||
        fail "$spec: $(fsscan_field "$out" free_clusters) free, dump.exfat says $want"
    [[ $(fsscan_field "$out" total_clusters) = "$total" ]] || fail "$spec: cluster count"
    cbytes=$(fsscan_field "$out" cluster_size)
    (( $(fsscan_field "$out" free_bytes) == want * cbytes )) || fail "$spec: free bytes"

    "$FSSCAN" --clobber "$img" >/dev/null || fail "$spec: clobber"
    fsck.exfat -n "$img" >"$tmpdir/fsck.txt" 2>&1 || fail "$spec: fsck.exfat after clobbering: $(cat "$tmpdir/fsck.txt")"
    exfat_manifest "$img" "$tmpdir/after.sha"
    cmp -s "$tmpdir/before.sha" "$tmpdir/after.sha" || fail "$spec: files changed after clobbering"
    echo "ok $spec: $want/$total free, clobbered, fsck.exfat clean, hashes equal"
done

img=$tmpdir/exfat-4K-512.img
poke () { cp "$img" "$tmpdir/bad.img"; printf "$2" | dd of="$tmpdir/bad.img" bs=1 seek=$(( $1 )) conv=notrunc status=none; }

expect_not_clean ()
{
    local what=$1 out=$tmpdir/dirty.txt
    "$FSSCAN" "$tmpdir/bad.img" >"$out" || fail "$what: scan failed"
    [[ $(fsscan_field "$out" clean) = no ]] || fail "$what: called clean"
    [[ $(fsscan_field "$out" free_bytes) = 0 ]] || fail "$what: granted space"
    grep -q '^problem fs-not-clean exfat.boot.volume_flags 106$' "$out" || fail "$what: $(grep problem "$out")"
    "$FSSCAN" --force-dirty "$tmpdir/bad.img" >"$out" || fail "$what: forced scan failed"
    (( $(fsscan_field "$out" free_bytes) > 0 )) || fail "$what: forced scan granted nothing"
    echo "ok not clean: $what"
}
# VolumeFlags is outside the checksum: only the flag changes.
poke 0x6A '\002'; expect_not_clean VolumeDirty
poke 0x6A '\004'; expect_not_clean MediaFailure

expect_refused ()
{
    local what=$1 id=$2 field=$3 out=$tmpdir/refused.txt
    if "$FSSCAN" "$tmpdir/bad.img" >"$out" 2>/dev/null; then
        fail "$what: scanned: $(cat "$out")"
    fi
    grep -q "^problem $id $field " "$out" || fail "$what: $(grep problem "$out")"
    echo "ok refused: $what"
}
poke 0x200 '\377'; expect_refused "a byte of the extended boot sectors changed (checksum)" fs-corrupt exfat.boot.checksum
poke 0x70 '\077'; "$FSSCAN" "$tmpdir/bad.img" >/dev/null || fail "PercentInUse is outside the checksum"
poke 0x20 '\001'; expect_refused "MustBeZero" fs-corrupt exfat.boot.must_be_zero
poke 0x6E '\002'; expect_refused "TexFAT" fs-unsupported exfat.boot.number_of_fats
poke 0x69 '\002'; expect_refused "revision 2" fs-unsupported exfat.boot.revision
poke 0x6C '\010'; expect_refused "256-byte sectors" fs-corrupt exfat.boot.bytes_per_sector_shift
poke 0x48 '\377\377\377\377\377'; expect_refused "volume longer than the disk" fs-corrupt exfat.boot.volume_length
# Fields inside the checksum: poke, then make the checksum right again, so
# the bounds themselves are what refuses.
fix_checksum ()
{
    python3 - "$tmpdir/bad.img" <<'PY'
import struct, sys
f = open(sys.argv[1], 'r+b'); d = bytearray(f.read(12 * 512)); s = 0
for i in range(11 * 512):
    if i in (106, 107, 112): continue
    s = (((s & 1) << 31) | (s >> 1)) + d[i] & 0xFFFFFFFF
f.seek(11 * 512); f.write(struct.pack('<I', s) * 128); f.close()
PY
}
poke 0x48 '\000\020\000\000\000\000\000\000'; fix_checksum; expect_refused "clusters past the volume's length" fs-corrupt exfat.boot.cluster_count
poke 0x60 '\377\377\377\000'; fix_checksum; expect_refused "root cluster out of range" fs-corrupt exfat.boot.first_cluster_of_root
poke 0x54 '\001\000\000\000'; fix_checksum; expect_refused "FAT too short" fs-corrupt exfat.boot.fat_length
# The bitmap entry (type 0x81, the root's first) made a deleted one (0x01).
heap=$(od -A n -t u4 -j $(( 0x58 )) -N 4 "$img" | tr -d ' ')
root=$(od -A n -t u4 -j $(( 0x60 )) -N 4 "$img" | tr -d ' ')
rootat=$(( (heap + (root - 2) * 8) * 512 ))
off=$(od -A d -t x1 -v -w32 -j "$rootat" -N 4096 "$img" | awk '$2 == "81" && !found { print $1; found = 1 }')
[[ -n $off ]] || fail "no bitmap entry in the root directory"
poke "$off" '\001'; expect_refused "no bitmap entry" fs-corrupt exfat.root
poke $(( off + 24 )) '\001\000\000\000\000\000\000\000'; expect_refused "a bitmap too short" fs-corrupt exfat.root.bitmap.data_length
poke $(( off + 20 )) '\377\377\377\377'; expect_refused "a bitmap outside the heap" fs-corrupt exfat.root.bitmap.first_cluster
