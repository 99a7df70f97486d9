#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The ext2/3/4 scanner (lib/fs/ext4*.c) on volumes made by mkfs.ext4 in
# every layout that moves metadata (1 KiB blocks, ^flex_bg, bigalloc,
# meta_bg, -G 4096, sparse_super2, ^64bit, ext2, ext3, uninit_bg and no
# checksums, MMP, orphan_file, csum_seed, an odd size, two images that
# held random bytes before `mkfs -E nodiscard`, so never-written
# BLOCK_UNINIT bitmaps are garbage: read, the one without metadata_csum
# would lose 27000 free blocks to dumpe2fs), each populated through a loop mount with files deleted:
#   - the free ranges equal dumpe2fs's free blocks, byte for byte;
#   - the destructive oracle (FS-AWARE.md §4.2): random bytes over every
#     range we call free, then e2fsck -fn is clean and every file's sha256
#     is unchanged;
# then the refusals: a volume needing journal recovery (a copy taken while
# mounted) is not clean and grants nothing, unless forced; an error state,
# a not-cleanly-unmounted ext2, pending orphans, an unknown feature and a
# busy MMP block are not clean; a superblock, descriptor or bitmap
# checksum mismatch, group 0 BLOCK_UNINIT, a descriptor pointing outside
# the volume and a block count larger than the volume are refused
# (fs-corrupt), never a crash.

source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/ext4-functions.sh"
ext4_requires
requires truncate dd cmp
make_tmpdir

dump=$tmpdir/dump.txt
field () { awk -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "$2"; }

n=0
for spec in \
    "128M:-b 1024" \
    "300M:-b 4096" \
    "300M:-b 4096 -O ^flex_bg" \
    "300M:-b 4096 -O bigalloc -C 16384" \
    "300M:-b 4096 -O bigalloc -C 65536" \
    "128M:-b 1024 -O bigalloc -C 16384" \
    "300M:-b 4096 -O meta_bg,^resize_inode" \
    "128M:-b 1024 -O meta_bg,^resize_inode" \
    "300M:-b 4096 -G 4096" \
    "300M:-b 4096 -O sparse_super2" \
    "300M:-b 4096 -O ^64bit" \
    "200M:-b 2048 -O ^64bit" \
    "128M:-t ext2" \
    "128M:-t ext3" \
    "300M:-b 4096 -O ^metadata_csum,uninit_bg" \
    "300M:-b 4096 -O ^metadata_csum,^uninit_bg" \
    "128M:-b 1024 -O mmp" \
    "128M:-b 1024 -O orphan_file,metadata_csum_seed,inline_data" \
    "1001M:-b 4096 -G 64" \
    "random:-b 1024 -E nodiscard" \
    "random:-b 1024 -E nodiscard -O ^metadata_csum,uninit_bg,^flex_bg" \
    ; do
    size=${spec%%:*} opts=${spec#*:} img=$tmpdir/v$n.img n=$(( n + 1 ))
    if [[ $size = random ]]; then
        head -c $(( 128 << 20 )) /dev/urandom >"$img"
    else
        truncate -s "$size" "$img"
    fi
    # shellcheck disable=SC2086
    mkfs.ext4 -q -F -L "v$n" $opts "$img" || fail "mkfs.ext4 $opts"
    ext4_populate "$img"
    ext4_manifest "$img" "$tmpdir/manifest.txt"
    ext4_scan --ranges "$img" >"$dump" || fail "$opts: ext4_scan failed: $(cat "$dump")"
    [[ $(field clean "$dump") = yes ]] || fail "$opts: not clean: $(field reason "$dump")"
    [[ $(field label "$dump") = "v$n" ]] || fail "$opts: label '$(field label "$dump")'"
    (( $(field free_bytes "$dump") > 0 )) || fail "$opts: nothing free"
    # The garbage bitmaps of never-initialised groups must have been rebuilt.
    [[ $size != random ]] || (( $(field uninit_groups "$dump") > 0 )) ||
        fail "$opts: no BLOCK_UNINIT group to rebuild"
    ext4_check_dumpe2fs "$img" "$dump"
    ext4_verify_free "$img" "$dump" "$tmpdir/manifest.txt"
    rm -f "$img"
done

# ---- not clean: counted in use unless forced ------------------------------
img=$tmpdir/dirty.img
truncate -s 128M "$img"
mkfs.ext4 -q -F -b 4096 "$img"
mnt=$tmpdir/mnt-live
mkdir -p "$mnt"
mount -o loop "$img" "$mnt"
cleanup_fn _ext4_umount "$mnt"
head -c 1000000 /dev/urandom >"$mnt/file"
sync
cp --sparse=always "$img" "$tmpdir/live-copy.img"
umount "$mnt"
ext4_scan --ranges "$tmpdir/live-copy.img" >"$dump" || fail "live copy: scan failed"
[[ $(field clean "$dump") = no ]] || fail "a copy of a mounted ext4 (needs_recovery) called clean"
grep -q 'needs recovery' "$dump" || fail "live copy: reason: $(field reason "$dump")"
[[ $(field free_bytes "$dump") = 0 ]] || fail "live copy: granted space while not clean"
grep -q '^problem fs-not-clean ext.feature_incompat ' "$dump" || fail "live copy: no fs-not-clean problem"
ext4_scan --force-dirty "$tmpdir/live-copy.img" >"$dump" || fail "live copy forced: scan failed"
(( $(field free_bytes "$dump") > 0 )) || fail "live copy forced: nothing granted"

not_clean ()    # IMG WHAT PATTERN
{
    ext4_scan "$1" >"$dump" || fail "$2: scan failed: $(cat "$dump")"
    [[ $(field clean "$dump") = no ]] || fail "$2: called clean"
    [[ $(field free_bytes "$dump") = 0 ]] || fail "$2: granted space"
    grep -q "^reason .*$3" "$dump" || fail "$2: reason '$(field reason "$dump")'"
}
refused ()      # IMG WHAT FIELD
{
    local rc=0
    ext4_scan "$1" >"$dump" 2>"$tmpdir/err.txt" || rc=$?
    (( rc == 1 )) || fail "$2: not refused (rc $rc): $(cat "$dump" "$tmpdir/err.txt")"
    grep -q "^problem fs-corrupt $3 " "$dump" || fail "$2: wrong problem: $(grep problem "$dump")"
    [[ $(field free_ranges "$dump") = 0 ]] || fail "$2: left ranges"
}
unsupported ()  # IMG WHAT FIELD: refused even when forced
{
    local rc=0 f
    for f in "" --force-dirty; do
        rc=0
        ext4_scan ${f:+"$f"} "$1" >"$dump" 2>"$tmpdir/err.txt" || rc=$?
        (( rc == 1 )) || fail "$2${f:+ $f}: not refused (rc $rc): $(cat "$dump" "$tmpdir/err.txt")"
        grep -q "^problem fs-unsupported $3 " "$dump" || fail "$2${f:+ $f}: wrong problem: $(grep problem "$dump")"
        [[ $(field free_ranges "$dump") = 0 ]] || fail "$2${f:+ $f}: left ranges"
    done
}
fresh ()        # IMG [MKFS-OPTS...]
{
    local img=$1; shift
    rm -f "$img"; truncate -s 128M "$img"
    mkfs.ext4 -q -F -b 4096 "$@" "$img"
    ext4_scan "$img" >"$dump" && [[ $(field clean "$dump") = yes ]] || fail "fresh $*: not clean"
}
ssv () { debugfs -w -R "$2" "$1" >/dev/null 2>&1 || fail "debugfs $2"; }

fresh "$img"; ssv "$img" "ssv state 3"; not_clean "$img" "error state" "errors"
fresh "$img"; ssv "$img" "ssv state 0"; not_clean "$img" "state 0" "not cleanly unmounted"
fresh "$img"; ssv "$img" "ssv error_count 2"; not_clean "$img" "error count" "errors recorded"
fresh "$img"; ssv "$img" "ssv last_orphan 12"; not_clean "$img" "orphans" "orphan"
fresh "$img"; ssv "$img" "ssv feature_incompat 0x80002c2"; unsupported "$img" "unknown incompat" ext.feature_incompat
fresh "$img"; ssv "$img" "ssv feature_ro_compat 0x80000469"; unsupported "$img" "unknown ro_compat" ext.feature_ro_compat
fresh "$img" -O mmp
mmp=$(dumpe2fs -h "$img" 2>/dev/null | awk '/^MMP block number:/ { print $4 }')
[[ -n $mmp ]] || fail "no MMP block number"
printf '\x50\x4d\x4d\xe2' | dd of="$img" bs=1 seek=$(( mmp * 4096 + 4 )) conv=notrunc status=none
not_clean "$img" "MMP being checked" "MMP"

# ---- corrupt: refused, counted in use ------------------------------------
fresh "$img"
printf 'X' | dd of="$img" bs=1 seek=$(( 1024 + 0x78 )) conv=notrunc status=none
refused "$img" "superblock byte flipped" ext.checksum
fresh "$img"
printf '\x7f' | dd of="$img" bs=1 seek=$(( 4096 + 0x0C )) conv=notrunc status=none
refused "$img" "descriptor byte flipped" ext.bg_checksum
fresh "$img"
bb=$(dumpe2fs "$img" 2>/dev/null | awk '/Block bitmap at/ && !found { print $4; found = 1 }')
printf '\x00' | dd of="$img" bs=1 seek=$(( bb * 4096 + 1 )) conv=notrunc status=none
refused "$img" "bitmap bit cleared" ext.block_bitmap
fresh "$img"; ssv "$img" "set_bg 0 flags 2"; ssv "$img" "set_bg 0 checksum calc"; refused "$img" "group 0 BLOCK_UNINIT" ext.bg_flags
fresh "$img" -O ^metadata_csum,^uninit_bg
printf '\xff\xff\xff\x7f' | dd of="$img" bs=1 seek=$(( 4096 )) conv=notrunc status=none
refused "$img" "bitmap outside the volume" ext.group_desc
fresh "$img" -O ^metadata_csum,^uninit_bg
printf '\x00\x00\x00\x10' | dd of="$img" bs=1 seek=$(( 1024 + 4 )) conv=notrunc status=none
refused "$img" "block count past the volume" ext.blocks_count
fresh "$img"
ssv "$img" "ssv blocks_count 0x10000000"
refused "$img" "block count past the volume (checksummed)" ext.blocks_count
# a truncated image: the volume ends before the file system does
fresh "$img"; truncate -s 64M "$img"; refused "$img" "truncated volume" ext.blocks_count

exit 0
