#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The exFAT scanner (lib/fs/exfat.c) on volumes made by mkfs.exfat and
# populated and thinned through exfat-fuse: cluster sizes 512 B to 128 KiB,
# a packed bitmap; 512-byte sectors (what mkfs.exfat of exfatprogs 1.2
# makes on a file) and 4 KiB ones (BytesPerSectorShift 12: mkfs.exfat takes
# the device's logical sector size, so it formats a loop device made with
# `losetup --sector-size 4096`; the boot region is then 12 sectors of 4 KiB,
# its checksum over the first 11).  Oracles, none of them ours:
#   - the free cluster count equals dump.exfat's "Free Clusters";
#   - the destructive oracle (FS-AWARE.md §4.2): random data over every
#     byte the scan calls free, then fsck.exfat -n is clean and every
#     file's sha256 (read through a read-only mount) is unchanged;
#   - VolumeDirty and MediaFailure: not clean, nothing granted unless forced;
#   - a bad boot checksum, MustBeZero bytes, fields out of bounds, TexFAT,
#     no bitmap entry: refused naming the field;
#   - the allocation bitmap's FAT chain: a fragmented bitmap (its second
#     cluster moved elsewhere, the chain, the bits and the entry made to
#     agree, as the specification allows; fsck.exfat finds it clean) is
#     refused as unsupported (Linux's driver reads the bitmap as one run, so
#     readers would disagree); a chain that ends early, runs on, loops or
#     leaves the heap, as corrupt or unsupported.

source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/vfat-functions.sh"
requires mkfs.exfat fsck.exfat dump.exfat mount.exfat-fuse mountpoint sha256sum truncate losetup od
requires_env FSSCAN
[[ -c /dev/fuse ]] || skip "no /dev/fuse"
make_tmpdir

# spec: SIZE:CLUSTER:SECTOR[:EXTRA-MKFS-OPTION]
for spec in 256M:4K:512 1G:32K:512 100M:512:512 300M:128K:512:--pack-bitmap 777M:64K:512 \
            256M:4K:4096 300M:64K:4096:--pack-bitmap; do
    IFS=: read -r size cs ss extra <<<"$spec"
    img=$tmpdir/exfat-$cs-$ss.img
    rm -f "$img"; truncate -s "$size" "$img"
    if (( ss == 512 )); then
        mkfs.exfat -c "$cs" -L "X$cs" ${extra:+"$extra"} "$img" >/dev/null || fail "mkfs.exfat $spec"
    else
        dev=$(losetup -f --show --sector-size "$ss" "$img") || fail "$spec: losetup --sector-size $ss"
        rc=0; mkfs.exfat -c "$cs" -L "X$cs" ${extra:+"$extra"} "$dev" >/dev/null || rc=$?
        losetup -d "$dev"
        (( rc == 0 )) || fail "mkfs.exfat $spec"
    fi
    [[ $(od -A n -t u1 -j $(( 0x6C )) -N 1 "$img" | tr -d ' ') = $(( ss == 512 ? 9 : 12 )) ]] ||
        fail "$spec: test setup: BytesPerSectorShift is not that of $ss-byte sectors"
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

# The bitmap's FAT chain.  In the 4 KiB-cluster volume the bitmap (8 KiB
# for 65,536 clusters) takes 2 clusters; poke_fat CLUSTER VALUE sets a FAT
# entry.
img=$tmpdir/exfat-4K-512.img
fat=$(( $(od -A n -t u4 -j $(( 0x50 )) -N 4 "$img" | tr -d ' ') * 512 ))
bmc=$(dump.exfat "$img" 2>/dev/null | awk -F: '/^Bitmap start cluster/ { gsub(/[ \t]/, "", $2); print $2 }')
[[ $(od -A n -t u4 -j $(( fat + bmc * 4 )) -N 8 "$img" | tr -s ' ') = " $(( bmc + 1 )) 4294967295" ]] ||
    fail "test setup: the bitmap is not 2 clusters chained from $bmc"
poke_fat ()
{
    python3 -c 'import struct, sys
f = open(sys.argv[1], "r+b"); f.seek(int(sys.argv[2])); f.write(struct.pack("<I", int(sys.argv[3], 0)))' \
        "$tmpdir/bad.img" $(( fat + $1 * 4 )) "$2"
}
cp "$img" "$tmpdir/bad.img"; poke_fat $(( bmc + 1 )) 0
expect_refused "the bitmap's chain ends after 1 of 2 clusters" fs-corrupt exfat.bitmap.chain
cp "$img" "$tmpdir/bad.img"; poke_fat $(( bmc + 1 )) $(( bmc + 2 ))
expect_refused "the bitmap's chain runs on" fs-corrupt exfat.bitmap.chain
cp "$img" "$tmpdir/bad.img"; poke_fat "$bmc" "$bmc"
expect_refused "the bitmap's chain loops on itself" fs-unsupported exfat.bitmap.chain
cp "$img" "$tmpdir/bad.img"; poke_fat "$bmc" 0xFFFFFFF7
expect_refused "the bitmap's chain goes to a bad cluster" fs-corrupt exfat.bitmap.chain
# A valid fragmented bitmap: its second cluster copied to the last cluster
# of the heap (free: the populated files are far smaller), the chain
# bmc -> last, the old cluster freed in FAT and bitmap, the last marked
# used.  fsck.exfat (exfatprogs 1.2) finds it valid, as the specification
# does; Linux's driver would read the bitmap's second half from the old
# cluster, now zeros: the readings differ, which is why the scan refuses.
python3 - "$img" "$tmpdir/bad.img" "$bmc" <<'PY'
import struct, sys
src, dst, bmc = sys.argv[1], sys.argv[2], int(sys.argv[3])
d = bytearray(open(src, 'rb').read())
u32 = lambda o: struct.unpack_from('<I', d, o)[0]
bps = 1 << d[0x6C]; cs = bps << d[0x6D]
fat, heap, count = u32(0x50) * bps, u32(0x58) * bps, u32(0x5C)
at = lambda c: heap + (c - 2) * cs
last = count + 1
bm = d[at(bmc):at(bmc) + 2 * cs]
assert not bm[(last - 2) // 8] & (1 << ((last - 2) % 8)), "the last cluster is in use"
assert u32(fat + last * 4) == 0
bm[(last - 2) // 8] |= 1 << ((last - 2) % 8)
bm[(bmc - 1) // 8] &= ~(1 << ((bmc - 1) % 8)) & 0xFF
d[at(bmc):at(bmc) + cs] = bm[:cs]
d[at(last):at(last) + cs] = bm[cs:]
d[at(bmc + 1):at(bmc + 1) + cs] = bytes(cs)
struct.pack_into('<I', d, fat + bmc * 4, last)
struct.pack_into('<I', d, fat + (bmc + 1) * 4, 0)
struct.pack_into('<I', d, fat + last * 4, 0xFFFFFFFF)
open(dst, 'wb').write(d)
PY
fsck.exfat -n "$tmpdir/bad.img" >"$tmpdir/fsck.txt" 2>&1 ||
    fail "test setup: fsck.exfat finds the fragmented bitmap invalid: $(cat "$tmpdir/fsck.txt")"
expect_refused "a fragmented bitmap (fsck.exfat clean)" fs-unsupported exfat.bitmap.chain

# 4 KiB sectors: the checksum covers all 11 sectors of 4 KiB (a byte of
# sector 5, past 11 * 512, counts) and sits in sector 11 at 44 KiB.
img=$tmpdir/exfat-4K-4096.img
poke $(( 5 * 4096 + 7 )) '\377'; expect_refused "4 KiB sectors: a byte of extended boot sector 5 changed" fs-corrupt exfat.boot.checksum
poke $(( 11 * 4096 + 4000 )) '\377'; expect_refused "4 KiB sectors: the end of the checksum sector changed" fs-corrupt exfat.boot.checksum
poke $(( 12 * 4096 + 11 * 4096 )) '\377'; "$FSSCAN" "$tmpdir/bad.img" >/dev/null ||
    fail "4 KiB sectors: the backup boot region's checksum sector is not the main one's"
echo "ok 4 KiB sectors: the checksum spans 11 sectors of 4 KiB"
