#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# `vhdctl compact --mode full` on VHDs and VHDXs holding ext4 with deleted
# files, judged by oracles that are not ours:
#   - a WSL-like disk: ext4 made with `mkfs.ext4 -G 4096` over the whole
#     disk, no partition table;
#   - a GPT disk with an ext4 partition ("Linux filesystem");
#   - an MBR disk with ext4 in a logical partition (type 0x83), 1 KiB
#     blocks without flex_bg, beside a default one;
#   - whole-disk ext4 with bigalloc (64 KiB clusters) and with meta_bg;
#   - a copy of a mounted ext4 (needs_recovery): kept, nothing dropped as
#     free in fs mode, the file byte-identical but for what zero mode drops.
# For each: the final size is the optimum computed here from dumpe2fs's
# free-block lists, the image's BAT (read with od) and cmp-style zero checks
# of the disk's content (ext4-oracle.py kept: the combined rule, a block
# goes when every byte outside the free blocks reads as zero), packed from the format's
# fixed head (formats/*.sh: img_optimum); the disk reads the same outside
# dumpe2fs's free blocks; e2fsck -fn is clean and every file's sha256
# unchanged after.
# Every disk runs as a VHD.  As a VHDX (formats/vhdx.sh: 1 MiB blocks, as
# WSL's ext4.vhdx; the head of header section, log, metadata and BAT in
# 1 MiB units) the WSL-like disk and the GPT disk always run; the MBR,
# bigalloc, meta_bg and needs-recovery disks only with
# VHDCOMPACT_SLOW_TESTS=1 (they test the scanner, which both formats share).

source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/ext4-functions.sh"
ext4_requires
requires qemu-img sfdisk nbdkit
requires_env VHDCTL VHD_PLUGIN
make_tmpdir
source "$(dirname "$0")/compact-functions.sh"
image_formats="vhd vhdx"
requires_formats
slow=0
[[ ${VHDCOMPACT_SLOW_TESTS:-0} = 1 ]] && slow=1

# formats_of all|slow: the formats a disk runs in (the header comment).
formats_of ()
{
    local f
    for f in $image_formats; do
        [[ $1 = all || $f = vhd || $slow = 1 ]] && echo "$f"
    done
    return 0
}

# free_of_volume RAW OFFSET >> FREE: dumpe2fs's free blocks of the ext
# volume at OFFSET, as absolute byte ranges.
free_of_volume ()
{
    local raw=$1 offset=$2 dev
    dev=$(losetup -f --show -r -o "$offset" "$raw") || fail "losetup $raw"
    dumpe2fs "$dev" >"$tmpdir/dumpe2fs.txt" 2>/dev/null || { losetup -d "$dev"; fail "dumpe2fs at $offset"; }
    losetup -d "$dev"
    python3 "$ext4_oracle" free-ranges "$tmpdir/dumpe2fs.txt" "$offset"
}

fsck_volume ()
{
    local raw=$1 offset=$2 what=$3 dev rc=0
    dev=$(losetup -f --show -r -o "$offset" "$raw") || fail "losetup $raw"
    e2fsck -fn "$dev" >"$tmpdir/e2fsck.log" 2>&1 || rc=$?
    losetup -d "$dev"
    (( rc == 0 )) || { cat "$tmpdir/e2fsck.log" >&2; fail "$what: e2fsck -fn after compaction (rc $rc)"; }
}

# check_disk NAME RAW OFFSET...: RAW (populated ext4 at every OFFSET) as an
# image of the current format, compacted, held to the oracles.
check_disk ()
{
    local name="$fmt_name-$1" raw=$2 off kept optimum img=$tmpdir/$1.$fmt_suffix after=$tmpdir/$1.after.raw
    shift 2
    : >"$tmpdir/$name.free"
    for off in "$@"; do
        ext4_manifest "$raw" "$tmpdir/$name.$off.sums" "$off"
        free_of_volume "$raw" "$off" >>"$tmpdir/$name.free"
    done
    fmt_from_raw "$raw" "$img"
    alloc_blocks "$img" >"$tmpdir/$name.alloc"
    [[ $fmt_name != vhdx || $img_bs = $MIB ]] || fail "$name: test setup: blocks of $img_bs bytes, not WSL's 1 MiB"
    # The builder (not our library) packed the blocks from img_first: the
    # head the optimum starts from is the one the file really has.
    check_packed "$img" "$img_first" "$name (before)"
    kept=$(python3 "$ext4_oracle" kept "$raw" "$img_bs" "$tmpdir/$name.alloc" "$tmpdir/$name.free")
    optimum=$(img_optimum "$kept")
    (( kept < $(wc -l <"$tmpdir/$name.alloc") )) || fail "$name: test setup: nothing to drop"
    vhdctl_attaching compact --json --no-progress --mode full "$img" >"$tmpdir/$name.out" ||
        fail "$name: compact failed"
    [[ $(file_size "$img") = "$optimum" ]] ||
        fail "$name: file is $(file_size "$img") bytes, the optimum is $optimum ($kept blocks kept)"
    [[ $(json_num size-after <"$tmpdir/$name.out") = "$optimum" ]] || fail "$name: reported size-after"
    img_to_raw "$img" "$after"
    python3 "$ext4_oracle" same-outside "$raw" "$after" "$tmpdir/$name.free" ||
        fail "$name: the disk changed outside the file systems' free blocks"
    for off in "$@"; do
        fsck_volume "$after" "$off" "$name at $off"
        ext4_manifest "$after" "$tmpdir/$name.$off.after" "$off"
        cmp -s "$tmpdir/$name.$off.sums" "$tmpdir/$name.$off.after" ||
            fail "$name at $off: file hashes changed"
    done
    echo "$name: $(( $(wc -l <"$tmpdir/$name.alloc") - kept )) of $(wc -l <"$tmpdir/$name.alloc") blocks dropped, $optimum bytes"
    rm -f "$after" "$img"
}

# check_disk_formats all|slow NAME RAW OFFSET...: check_disk in each format
# of formats_of, then RAW removed.
check_disk_formats ()
{
    local which=$1 f
    shift
    for f in $(formats_of "$which"); do
        use_format "$f"
        check_disk "$@"
    done
    rm -f "$2"
}

echo "== WSL-like: ext4 -G 4096 over the whole disk"
raw=$tmpdir/wsl.raw
truncate -s 512M "$raw"
mkfs.ext4 -q -F -G 4096 "$raw"
ext4_populate "$raw"
check_disk_formats all wsl "$raw" 0

echo "== GPT: an ext4 partition"
raw=$tmpdir/gpt.raw
truncate -s 400M "$raw"
printf 'label: gpt\nstart=2048, size=%d, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n' $((300 * 2048)) |
    sfdisk -q "$raw"
mkfs.ext4 -q -F -E offset=$MIB "$raw" $((300 * 1024))k
ext4_populate "$raw" $MIB
check_disk_formats all gpt "$raw" $MIB

echo "== MBR: ext4 in a logical partition"
raw=$tmpdir/mbr.raw
truncate -s 400M "$raw"
sfdisk -q "$raw" <<EOS
label: dos
start=2048, size=$((50 * 2048)), type=83
start=$((2048 + 50 * 2048)), type=5
start=$((4096 + 50 * 2048)), size=$((300 * 2048)), type=83
EOS
l5=$(( (4096 + 50 * 2048) * 512 ))
mkfs.ext4 -q -F -b 1024 -O ^flex_bg -E offset=$l5 "$raw" $((300 * 1024))k
mkfs.ext4 -q -F -E offset=$MIB "$raw" $((50 * 1024))k
ext4_populate "$raw" $l5
ext4_populate "$raw" $MIB
check_disk_formats slow mbr "$raw" $MIB $l5

echo "== bigalloc (64 KiB clusters) and meta_bg, whole disk"
for opts in "-b 4096 -O bigalloc -C 65536" "-b 4096 -O meta_bg,^resize_inode"; do
    raw=$tmpdir/whole.raw
    truncate -s 400M "$raw"
    # shellcheck disable=SC2086
    mkfs.ext4 -q -F $opts "$raw"
    ext4_populate "$raw"
    check_disk_formats slow "whole ${opts// /}" "$raw" 0
done

echo "== needs recovery: a copy of a mounted ext4 is kept"
raw=$tmpdir/live.raw
truncate -s 256M "$raw"
mkfs.ext4 -q -F "$raw"
ext4_populate "$raw"
mnt=$tmpdir/mnt-live
_ext4_mount "$raw" "$mnt" 0
rm -f "$mnt"/a/f1*
sync
cp --sparse=always "$raw" "$tmpdir/live-copy.raw"
umount "$mnt"
for f in $(formats_of slow); do
    use_format "$f"
    img=$tmpdir/live.$fmt_suffix
    fmt_from_raw "$tmpdir/live-copy.raw" "$img"
    cp "$img" "$tmpdir/live.orig"
    vhdctl_attaching analyze --json "$img" >"$tmpdir/live.json" || fail "$f live: analyze failed"
    tr -d '\n' <"$tmpdir/live.json" | tr -s ' ' | grep -q '"scanned": false, "cluster-size": [0-9]*,[^}]*"clean": false' ||
        fail "$f live: not reported not clean: $(cat "$tmpdir/live.json")"
    vhdctl_attaching compact --json --no-progress --mode fs "$img" >"$tmpdir/live.out" ||
        fail "$f live: compact failed"
    [[ $(json_num blocks-dropped-fs <"$tmpdir/live.out") = 0 ]] ||
        fail "$f live: dropped free blocks of a volume needing recovery"
    cmp -s "$img" "$tmpdir/live.orig" || fail "$f live: the file changed"
    echo "$f live: not clean, kept"
done

exit 0
