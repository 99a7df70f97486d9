#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The two ways to read a guest's disk give the same analysis: through the
# read-only nbdkit attach (vhdctl) and in-process through the open image
# (vhd-compact-worker, which cannot hand nbdkit a path).  tests/tools/
# analyzecmp runs both on one image and compares every field: block
# classes, partition table, each volume's NTFS facts and notes, free and
# reclaimable bytes, final size, and even the bytes read.  Disks:
#   - GPT: NTFS (4 KiB clusters, deleted files), ext4 (recognised, not
#     scanned), unpartitioned space;
#   - the same disk with its primary GPT header damaged (backup used);
#   - MBR: NTFS (512 B clusters) and, in a logical partition, NTFS with
#     64 KiB clusters;
#   - NTFS over the whole disk, no partition table;
#   - a differencing child whose NTFS changed (files deleted and added,
#     written through the plugin block by block): only the merged view
#     agrees with the attach, so a reader that missed the parent, or read
#     a stale block, shows here.
set -euo pipefail
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/ntfs-functions.sh"
requires qemu-img qemu-io nbdkit nbdcopy sfdisk mkntfs ntfs-3g cmp dd
requires_env VHDCTL VHD_PLUGIN ANALYZECMP
make_tmpdir
. "$(dirname "$0")/compact-functions.sh"
d=$tmpdir
have_fuse || skip "ntfs-3g cannot mount images here (no FUSE)"

# same NAME VHD: both analyses of VHD agree, and scanned some NTFS.
same ()
{
    local name=$1 vhd=$2 rc=0
    if [[ -n ${VHD_SANITIZER_PRELOAD:-} ]]; then
        LD_PRELOAD="$VHD_SANITIZER_PRELOAD" VHDCOMPACT_PLUGIN=$VHD_PLUGIN "$ANALYZECMP" "$vhd" \
            >"$d/$name.cmp" 2>"$d/$name.err" || rc=$?
    else
        VHDCOMPACT_PLUGIN=$VHD_PLUGIN "$ANALYZECMP" "$vhd" >"$d/$name.cmp" 2>"$d/$name.err" || rc=$?
    fi
    [[ $rc = 0 ]] || { cat "$d/$name.cmp" "$d/$name.err" >&2; fail "$name: the analyses differ (exit $rc)"; }
    grep -q '^volume [0-9]* partition .* fs ntfs scanned 1 ' "$d/$name.cmp" ||
        { cat "$d/$name.cmp" >&2; fail "$name: test setup: no NTFS volume was scanned"; }
    grep -q '^class-free [1-9]' "$d/$name.cmp" || { cat "$d/$name.cmp" >&2; fail "$name: test setup: no free block"; }
    echo "$name: same analysis both ways ($(grep -c '^volume [0-9]* partition' "$d/$name.cmp") volume(s)," \
         "$(sed -n 's/^class-free //p' "$d/$name.cmp") free blocks, final size $(sed -n 's/^final-size //p' "$d/$name.cmp"))"
}

echo "== GPT"
truncate -s 160M "$d/gpt.raw"
printf 'label: gpt\nstart=2048, size=%d, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7\nstart=%d, size=%d, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n' \
    $((96 * 2048)) $((2048 + 96 * 2048)) $((40 * 2048)) | sfdisk -q "$d/gpt.raw"
mkfs_ntfs "$d/gpt-p1.ntfs" 96 4096 2048 31 10 4
dd if="$d/gpt-p1.ntfs" of="$d/gpt.raw" bs=1M seek=1 conv=notrunc,sparse status=none
if command -v mkfs.ext4 >/dev/null; then
    truncate -s $((40 * MIB)) "$d/ext4.raw"
    mkfs.ext4 -q -F "$d/ext4.raw"
    dd if="$d/ext4.raw" of="$d/gpt.raw" bs=1M seek=97 conv=notrunc,sparse status=none
    rm -f "$d/ext4.raw"
fi
# force_size: the virtual disk ends where the raw one does, with the
# backup GPT in its last sector (not rounded up to a CHS geometry).
qemu-img convert -f raw -O vpc -o subformat=dynamic,force_size=on "$d/gpt.raw" "$d/gpt.vhd"
same gpt "$d/gpt.vhd"
grep -q '^volume 1 .* fs ext2/3/4 ' "$d/gpt.cmp" || ! command -v mkfs.ext4 >/dev/null ||
    fail "gpt: the ext4 partition was not recognised"

echo "== GPT, primary header damaged"
# The primary header's CRC no longer matches: the backup is used.
poke "$d/gpt.raw" $((512 + 16)) 00000000
qemu-img convert -f raw -O vpc -o subformat=dynamic,force_size=on "$d/gpt.raw" "$d/gpt-backup.vhd"
rm -f "$d/gpt.raw" "$d/gpt-p1.ntfs"
same gpt-backup "$d/gpt-backup.vhd"
grep -qx 'backup-gpt 1' "$d/gpt-backup.cmp" || fail "gpt-backup: test setup: the backup GPT was not used"

echo "== MBR with a logical partition"
truncate -s 200M "$d/mbr.raw"
sfdisk -q "$d/mbr.raw" <<EOS
label: dos
start=2048, size=$((64 * 2048)), type=7
start=$((2048 + 64 * 2048)), type=5
start=$((4096 + 64 * 2048)), size=$((96 * 2048)), type=7
EOS
l1=$((4096 + 64 * 2048))
mkfs_ntfs "$d/mbr-p1.ntfs" 64 512 2048 32 8 3
mkfs_ntfs "$d/mbr-p5.ntfs" 96 65536 $l1 33 8 4
dd if="$d/mbr-p1.ntfs" of="$d/mbr.raw" bs=1M seek=1 conv=notrunc,sparse status=none
dd if="$d/mbr-p5.ntfs" of="$d/mbr.raw" bs=512 seek=$l1 conv=notrunc,sparse status=none
qemu-img convert -f raw -O vpc -o subformat=dynamic "$d/mbr.raw" "$d/mbr.vhd"
rm -f "$d/mbr.raw" "$d/mbr-p1.ntfs" "$d/mbr-p5.ntfs"
same mbr "$d/mbr.vhd"
[[ $(grep -c '^volume [0-9]* partition .* fs ntfs scanned 1 ' "$d/mbr.cmp") = 2 ]] ||
    fail "mbr: test setup: not both NTFS volumes scanned"

echo "== NTFS over the whole disk"
mkfs_ntfs "$d/whole.ntfs" 64 4096 0 34 10 4
qemu-img convert -f raw -O vpc -o subformat=dynamic "$d/whole.ntfs" "$d/whole.vhd"
same whole "$d/whole.vhd"

echo "== a differencing child whose NTFS changed"
mkdir "$d/chain"
mv "$d/whole.vhd" "$d/chain/par.vhd"
"$VHDCTL" create "$d/chain/child.vhd" --parent "$d/chain/par.vhd" >/dev/null
rm -f "$d/whole.ntfs"
img_to_raw "$d/chain/par.vhd" "$d/par.raw"
cp --sparse=always "$d/par.raw" "$d/mod.raw"
m=$d/mnt
ntfs_mount "$d/mod.raw" "$m" big_writes || fail "cannot mount the child's volume"
rm -- "$m/file1" "$m/file4" "$m/dir/inner"
rand_file "$m/new1" $((3 * MIB + 4321))
rand_file "$m/new2" $((2 * MIB))
# Written, then deleted: blocks the child holds that are free.
rand_file "$m/new3" $((6 * MIB))
rm -- "$m/new3"
ntfs_umount "$m"
fmt_geometry "$d/chain/child.vhd"
: > "$d/child.cmds"
for ((b = 0; b < img_n; b++)); do
    len=$(( b < img_n - 1 ? img_bs : $(file_size "$d/par.raw") - b * img_bs ))
    block_same "$d/par.raw" "$d/mod.raw" "$b" "$img_bs" && continue
    dd if="$d/mod.raw" of="$d/blk.$b" bs="$img_bs" skip="$b" count=1 status=none
    echo "write -q -s $d/blk.$b $((b * img_bs)) $len" >> "$d/child.cmds"
done
[[ -s $d/child.cmds ]] || fail "child: test setup: the volume did not change"
awk '{ printf "-c \"%s\" ", $0 }' "$d/child.cmds" > "$d/child.args"
serve "$d/chain/child.vhd" --run "qemu-io -f raw $(cat "$d/child.args") \"\$uri\""
rm -f "$d"/blk.* "$d/par.raw" "$d/mod.raw"
(( $(alloc_blocks "$d/chain/child.vhd" | wc -l) < img_n )) || fail "child: test setup: every block is the child's own"
same child "$d/chain/child.vhd"
echo ok
