#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The FAT scanner (lib/fs/fat.c) on volumes made by mkfs.fat and populated
# and thinned with mtools: FAT12, FAT16 (512 B and 4 KiB sectors), FAT32
# (one and two FATs, 512 B and 4 KiB sectors), several cluster sizes.
# Oracles, none of them ours:
#   - the free cluster count equals fsck.fat -n -v's total - used;
#   - the destructive oracle (FS-AWARE.md §4.2): random data over every
#     byte the scan calls free, then fsck.fat -n is clean and every file's
#     sha256 (read back with mcopy) is unchanged;
#   - dirty state byte, FAT[1] clean/error bits: not clean, nothing granted;
#     a BPB whose type by cluster count and shape disagree, and bounds
#     violations: refused naming the field.

source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/vfat-functions.sh"
requires mkfs.fat fsck.fat mcopy mdel sha256sum truncate
requires_env FSSCAN
make_tmpdir

# spec: FATBITS:SECTORS_PER_CLUSTER:SECTOR_SIZE:NFATS:SIZE
for spec in 12:1:512:2:1440K 12:4:512:2:8M 16:4:512:2:64M 16:1:4096:2:200M 16:64:512:2:1G \
            32:8:512:2:260M 32:1:512:1:300M 32:1:4096:2:600M; do
    IFS=: read -r bits spc ss nf size <<<"$spec"
    img=$tmpdir/fat-$bits-$spc-$ss-$nf.img
    truncate -s "$size" "$img"
    mkfs.fat -F "$bits" -s "$spc" -S "$ss" -f "$nf" -n "V$bits" "$img" >/dev/null || fail "mkfs.fat $spec"
    fat_populate "$img" "$bits$spc"
    fat_manifest "$img" "$tmpdir/before.sha"

    out=$tmpdir/scan.txt
    "$FSSCAN" "$img" >"$out" || fail "$spec: scan failed: $(cat "$out")"
    [[ $(fsscan_field "$out" fs) = fat ]] || fail "$spec: probed as $(fsscan_field "$out" fs)"
    [[ $(fsscan_field "$out" clean) = yes ]] || fail "$spec: not clean"
    [[ $(fsscan_field "$out" label) = "V$bits" ]] || fail "$spec: label '$(fsscan_field "$out" label)'"
    [[ $(fsscan_field "$out" cluster_size) = $(( spc * ss )) ]] || fail "$spec: cluster size"
    # "IMG: N files, USED/TOTAL clusters"
    read -r used total < <(fsck.fat -n -v "$img" | sed -n 's|.* \([0-9]*\)/\([0-9]*\) clusters$|\1 \2|p')
    [[ -n $total ]] || fail "$spec: no count from fsck.fat"
    [[ $(fsscan_field "$out" total_clusters) = "$total" ]] ||
        fail "$spec: $(fsscan_field "$out" total_clusters) clusters, fsck.fat says $total"
    [[ $(fsscan_field "$out" free_clusters) = $(( total - used )) ]] ||
        fail "$spec: $(fsscan_field "$out" free_clusters) free, fsck.fat says $(( total - used ))"
    (( $(fsscan_field "$out" free_bytes) == (total - used) * spc * ss )) || fail "$spec: free bytes"

    # The destructive oracle.
    "$FSSCAN" --clobber "$img" >/dev/null || fail "$spec: clobber"
    fsck.fat -n "$img" >"$tmpdir/fsck.txt" 2>&1 || fail "$spec: fsck.fat after clobbering: $(cat "$tmpdir/fsck.txt")"
    fat_manifest "$img" "$tmpdir/after.sha"
    cmp -s "$tmpdir/before.sha" "$tmpdir/after.sha" || fail "$spec: files changed after clobbering"
    echo "ok $spec: $(( total - used ))/$total free, clobbered, fsck.fat clean, hashes equal"
done

# Not clean: nothing granted without force, the map with it.
img=$tmpdir/fat-32-8-512-2.img
expect_not_clean ()
{
    local what=$1 field=$2 at=$3 out=$tmpdir/dirty.txt
    "$FSSCAN" "$tmpdir/dirty.img" >"$out" || fail "$what: scan failed"
    [[ $(fsscan_field "$out" clean) = no ]] || fail "$what: called clean"
    [[ $(fsscan_field "$out" free_bytes) = 0 ]] || fail "$what: granted space"
    grep -q "^problem fs-not-clean $field $(( at ))\$" "$out" || fail "$what: $(grep problem "$out")"
    "$FSSCAN" --force-dirty "$tmpdir/dirty.img" >"$out" || fail "$what: forced scan failed"
    (( $(fsscan_field "$out" free_bytes) > 0 )) || fail "$what: forced scan granted nothing"
    echo "ok not clean: $what ($(fsscan_field "$out" reason))"
}
cp "$img" "$tmpdir/dirty.img"; printf '\001' | dd of="$tmpdir/dirty.img" bs=1 seek=$(( 0x41 )) conv=notrunc status=none
expect_not_clean "FAT32 boot-sector dirty flag" fat.boot.state 0x41
# FAT[1] of the second FAT (the first sits at the reserved sectors' end).
rsvd=$(od -A n -t u2 -j 14 -N 2 "$img" | tr -d ' ')
fatsz=$(od -A n -t u4 -j 36 -N 4 "$img" | tr -d ' ')
cp "$img" "$tmpdir/dirty.img"
printf '\377\377\377\007' | dd of="$tmpdir/dirty.img" bs=1 seek=$(( (rsvd + fatsz) * 512 + 4 )) conv=notrunc status=none
expect_not_clean "FAT32 FAT[1] clean-shutdown bit clear in FAT 2" fat.fat1 $(( (rsvd + fatsz) * 512 + 4 ))
cp "$img" "$tmpdir/dirty.img"
printf '\377\377\377\013' | dd of="$tmpdir/dirty.img" bs=1 seek=$(( rsvd * 512 + 4 )) conv=notrunc status=none
expect_not_clean "FAT32 FAT[1] hard-error bit clear" fat.fat1 $(( rsvd * 512 + 4 ))
img16=$tmpdir/fat-16-4-512-2.img
rsvd=$(od -A n -t u2 -j 14 -N 2 "$img16" | tr -d ' ')
cp "$img16" "$tmpdir/dirty.img"
printf '\377\177' | dd of="$tmpdir/dirty.img" bs=1 seek=$(( rsvd * 512 + 2 )) conv=notrunc status=none
expect_not_clean "FAT16 FAT[1] clean-shutdown bit clear" fat.fat1 $(( rsvd * 512 + 2 ))
cp "$img16" "$tmpdir/dirty.img"; printf '\001' | dd of="$tmpdir/dirty.img" bs=1 seek=$(( 0x25 )) conv=notrunc status=none
expect_not_clean "FAT16 boot-sector dirty flag" fat.boot.state 0x25

# Refused: the problem names the field; nothing granted.
expect_refused ()
{
    local what=$1 field=$2 out=$tmpdir/refused.txt
    if "$FSSCAN" "$tmpdir/bad.img" >"$out" 2>/dev/null; then
        fail "$what: scanned: $(cat "$out")"
    fi
    grep -q "^problem fs-corrupt $field " "$out" || fail "$what: $(grep problem "$out")"
    echo "ok refused: $what"
}
# mkfs.fat -F 32 -s 16 on 333 MiB: a FAT32-shaped BPB with FAT16's cluster count.
truncate -s 333M "$tmpdir/bad.img"
mkfs.fat -F 32 -s 16 "$tmpdir/bad.img" >/dev/null 2>&1 || fail "mkfs.fat ambiguous"
expect_refused "FAT32 shape with 42578 clusters" fat.bpb.fat_size
poke_bad () { cp "$1" "$tmpdir/bad.img"; printf "$3" | dd of="$tmpdir/bad.img" bs=1 seek=$(( $2 )) conv=notrunc status=none; }
poke_bad "$img" 0x0B '\000\003'; expect_refused "768 bytes per sector" fat.bpb.bytes_per_sector
poke_bad "$img" 0x0D '\003'; expect_refused "3 sectors per cluster" fat.bpb.sectors_per_cluster
poke_bad "$img" 0x10 '\000'; expect_refused "no FAT" fat.bpb.num_fats
poke_bad "$img" 0x20 '\377\377\377\177'; expect_refused "more sectors than the volume" fat.bpb.total_sectors
poke_bad "$img" 0x24 '\001\000\000\000'; expect_refused "FAT too small" fat.bpb.fat_size
poke_bad "$img" 0x2C '\377\377\377\377'; expect_refused "root cluster out of range" fat.bpb.root_cluster
poke_bad "$img" 0x2A '\001\000'; expect_refused "FAT32 version 0.1" fat.bpb.fs_version
poke_bad "$img16" 0x11 '\000\000'; expect_refused "FAT16 without root entries" fat.bpb.root_entries
poke_bad "$img" 0x1FE '\000\000'; expect_refused "no 0xAA55" fat.boot.signature
