#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# `vhdctl compact` of VHDX (issue 15), held to oracles that are not ours.
# (test-compact-oracles.sh runs its scenarios for VHDX with 1 MiB blocks
# too; this adds what is VHDX's own.)
#   - Hyper-V: 32 MiB blocks, a GPT disk whose NTFS lost files, made by the
#     independent builder (mkvhdx --from-raw, blocks packed after its
#     tables); mode full.  The blocks dropped are exactly the allocated ones
#     `analyze` calls free (BAT read with od); the file ends at the end of
#     the tables plus the kept blocks, which `analyze` and --dry-run
#     announced; qemu-img compare and 7-Zip's extraction read the disk as
#     before with the dropped blocks as zeros; ntfsclone's image of the
#     volume and every file's sha256 (read-only ntfs-3g mount) are
#     unchanged; qemu-img check, vhdiinfo and `vhdctl check` take it; the
#     DataWriteGuid and FileWriteGuid are new; a second run changes
#     nothing.
#   - WSL: 1 MiB blocks, made by qemu-img (its 4 MiB gap after the tables),
#     zero blocks written by qemu-io; mode zero.  The gap is filled: the
#     file ends at the end of the tables plus the kept blocks; qemu-img
#     compare finds it identical; the DataWriteGuid is unchanged (zero
#     drops change no read), the FileWriteGuid new.
#   - A differencing child (mkvhdx) over a parent: in mode zero its zero
#     block over parent zeros goes (NOT_PRESENT, offset 0), its zero block
#     over parent data stays; it reads through its parent as before (the
#     plugin, and 7-Zip when it follows the parent), the parent is
#     byte-identical; modes full and fs on the parent are refused
#     (has-children, naming the child), the parent byte-identical;
#   - a child whose NTFS changed (mkvhdx --from-raw over its parent), mode
#     full: its blocks free in its volume go, and read as the parent's, and
#     so do its blocks that hold the parent's very bytes (zero drops)
#     (the plugin, 7-Zip); ntfsclone's image and every file's sha256 of the
#     child's volume are unchanged; the file ends at the optimum; its
#     DataWriteGuid is new; the parent is byte-identical.
set -euo pipefail
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/ntfs-functions.sh"
requires qemu-img qemu-io nbdkit nbdcopy sfdisk mkntfs ntfs-3g ntfsclone 7zz vhdiinfo python3 \
         sha256sum b2sum dd cmp od mountpoint
requires_env VHDCTL VHD_PLUGIN MKVHDX
make_tmpdir
. "$(dirname "$0")/compact-functions.sh"
have_fuse || skip "ntfs-3g cannot mount images here (no FUSE)"
use_format vhdx
d=$tmpdir

# header_guid FILE KEY: KEY (file-write-guid, data-write-guid) of the
# current header.
header_guid ()
{
    "$VHDCTL" info --json -- "$1" | python3 -c '
import json, sys
j = json.load(sys.stdin)
print([h for h in j["headers"] if h["current"]][0][sys.argv[1]])' "$2"
}

# zero_blocks RAW BS LIST: RAW with the blocks of LIST (one index a line) zeroed.
zero_blocks ()
{
    local b
    while read -r b; do
        dd if=/dev/zero of="$1" bs="$2" seek="$b" count=1 conv=notrunc status=none
    done < "$3"
}

echo "== Hyper-V: 32 MiB blocks, GPT, NTFS with deleted files, mode full"
truncate -s 704M "$d/hv.raw"
printf 'label: gpt\nstart=2048, size=%d, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7\n' $((640 * 2048)) |
    sfdisk -q "$d/hv.raw"
mkfs_ntfs "$d/hv-p1.ntfs" 640 4096 2048 7 8 24
# A large file written and deleted: whole 32 MiB blocks of free clusters
# that still hold its data.
ntfs_mount "$d/hv-p1.ntfs" "$d/mnt" big_writes || fail "hv: cannot mount the volume"
rand_file "$d/mnt/big" $((256 * MIB))
rm -- "$d/mnt/big"
ntfs_umount "$d/mnt"
dd if="$d/hv-p1.ntfs" of="$d/hv.raw" bs=1M seek=1 conv=notrunc,sparse status=none
rm -f "$d/hv-p1.ntfs"
ntfs_parts="$MIB:$((640 * MIB)):$d/hv-p1.ntfs.sums"
vhdx_block_size=32M fmt_from_raw "$d/hv.raw" "$d/hv.vhdx"
cp "$d/hv.vhdx" "$d/hv.orig"
fmt_geometry "$d/hv.vhdx"
[[ $img_bs = $((32 * MIB)) ]] || fail "hv: block size $img_bs"
img_to_raw "$d/hv.vhdx" "$d/hv0.raw"
cmp -s "$d/hv.raw" "$d/hv0.raw" || fail "hv: (setup) the builder's disk is not the raw disk"
classes=$(block_classes "$d/hv.vhdx" "$d/hv.json")
alloc_blocks "$d/hv.vhdx" > "$d/hv.bat0"
awk -v c="$classes" '{ if (substr(c, $1 + 1, 1) == "F") print $1 }' "$d/hv.bat0" > "$d/hv.drops"
drops=$(wc -l < "$d/hv.drops")
(( drops >= 3 )) || fail "hv: (setup) only $drops free blocks of 32 MiB"
kept=$(( $(wc -l < "$d/hv.bat0") - drops ))
optimum=$(( img_first + kept * img_bs ))
[[ $(json_num final-size < "$d/hv.json") = "$optimum" ]] ||
    fail "hv: analyze announced $(json_num final-size < "$d/hv.json") bytes, the optimum is $optimum"
ntfs_verify "$d/hv0.raw" hv > "$d/hv.fp0"
guid_file=$(header_guid "$d/hv.vhdx" file-write-guid) guid_data=$(header_guid "$d/hv.vhdx" data-write-guid)
vhdctl_attaching compact --dry-run --json --no-progress --mode full "$d/hv.vhdx" > "$d/hv.dry" || fail "hv: --dry-run failed"
cmp -s "$d/hv.vhdx" "$d/hv.orig" || fail "hv: --dry-run changed the file"
[[ $(json_num size-after < "$d/hv.dry") = "$optimum" ]] || fail "hv: --dry-run says $(json_num size-after < "$d/hv.dry")"
vhdctl_attaching compact --json --no-progress --mode full "$d/hv.vhdx" > "$d/hv.out" || fail "hv: compact failed"
[[ $(file_size "$d/hv.vhdx") = "$optimum" ]] || fail "hv: $(file_size "$d/hv.vhdx") bytes, optimum $optimum"
[[ $(json_num blocks-dropped-fs < "$d/hv.out") = "$drops" ]] || fail "hv: dropped $(json_num blocks-dropped-fs < "$d/hv.out"), expected $drops"
alloc_blocks "$d/hv.vhdx" > "$d/hv.bat1"
diff <(awk '{ print $1 }' "$d/hv.bat1") <(grep -vxFf "$d/hv.drops" <(awk '{ print $1 }' "$d/hv.bat0")) >&2 ||
    fail "hv: the blocks left are not the allocated ones minus the free ones"
check_packed "$d/hv.vhdx" "$img_first" hv
cp --sparse=always "$d/hv0.raw" "$d/hv-exp.raw"
zero_blocks "$d/hv-exp.raw" "$img_bs" "$d/hv.drops"
qemu-img compare -q -f raw -F vhdx "$d/hv-exp.raw" "$d/hv.vhdx" ||
    fail "hv: qemu-img reads other than the disk before with the free blocks zeroed"
rm -rf "$d/7z" && 7zz x -y -tvhdx -o"$d/7z" -- "$d/hv.vhdx" >/dev/null || fail "hv: 7-Zip cannot extract it"
cmp -s "$d/7z/"* "$d/hv-exp.raw" || fail "hv: 7-Zip reads other than the disk before with the free blocks zeroed"
rm -rf "$d/7z"
qemu-img check -q -f vhdx "$d/hv.vhdx" || fail "hv: qemu-img check"
vhdiinfo "$d/hv.vhdx" >/dev/null || fail "hv: vhdiinfo cannot open it"
"$VHDCTL" check "$d/hv.vhdx" >/dev/null || fail "hv: vhdctl check"
fmt_same_structures "$d/hv.orig" "$d/hv.vhdx" hv
ntfs_verify "$d/hv-exp.raw" hv files > "$d/hv.fp1"
cmp -s "$d/hv.fp0" "$d/hv.fp1" || fail "hv: ntfsclone sees different used clusters"
[[ $(header_guid "$d/hv.vhdx" data-write-guid) != "$guid_data" ]] || fail "hv: DataWriteGuid kept after file-system drops"
[[ $(header_guid "$d/hv.vhdx" file-write-guid) != "$guid_file" ]] || fail "hv: FileWriteGuid kept"
cp "$d/hv.vhdx" "$d/hv.orig"
vhdctl_attaching compact --no-progress --mode full "$d/hv.vhdx" >/dev/null || fail "hv: second run failed"
cmp -s "$d/hv.vhdx" "$d/hv.orig" || fail "hv: the second run changed the file"
echo "hv: $(json_num size-before < "$d/hv.out") -> $optimum bytes (optimum), $drops blocks of 32 MiB dropped; volume and files intact"
rm -f "$d"/hv*.raw "$d/hv.orig"

echo "== WSL: 1 MiB blocks, made by qemu-img (a gap after its tables), mode zero"
qemu-img create -q -f vhdx -o block_size=1M "$d/wsl.vhdx" 256M
qemu-io -f vhdx -c 'write -q -P 0x31 0 5M' -c 'write -q -P 0 5M 3M' -c 'write -q -P 0x32 40M 7M' \
    -c 'write -q -P 0 100M 2M' -c 'write -q -P 0x33 200M 1M' -c 'write -q -P 0 255M 1M' "$d/wsl.vhdx"
cp "$d/wsl.vhdx" "$d/wsl.orig"
fmt_geometry "$d/wsl.vhdx"
(( $(alloc_blocks "$d/wsl.vhdx" | sed -n 1p | awk '{ print $2 }') > img_first )) ||
    fail "wsl: (setup) qemu-img left no gap after its tables"
guid_file=$(header_guid "$d/wsl.vhdx" file-write-guid) guid_data=$(header_guid "$d/wsl.vhdx" data-write-guid)
"$VHDCTL" compact --no-progress --mode zero "$d/wsl.vhdx" >/dev/null || fail "wsl: compact failed"
optimum=$(( img_first + 13 * MIB ))
[[ $(file_size "$d/wsl.vhdx") = "$optimum" ]] || fail "wsl: $(file_size "$d/wsl.vhdx") bytes, optimum $optimum"
check_packed "$d/wsl.vhdx" "$img_first" wsl
qemu-img compare -q -f vhdx -F vhdx "$d/wsl.orig" "$d/wsl.vhdx" || fail "wsl: the content changed"
qemu-img check -q -f vhdx "$d/wsl.vhdx" || fail "wsl: qemu-img check"
"$VHDCTL" check "$d/wsl.vhdx" >/dev/null || fail "wsl: vhdctl check"
[[ $(header_guid "$d/wsl.vhdx" data-write-guid) = "$guid_data" ]] || fail "wsl: DataWriteGuid changed for zero drops"
[[ $(header_guid "$d/wsl.vhdx" file-write-guid) != "$guid_file" ]] || fail "wsl: FileWriteGuid kept"
echo "wsl: $(file_size "$d/wsl.orig") -> $optimum bytes (optimum, the gap filled), content identical"

echo "== a differencing child over its parent, mode zero"
mkdir "$d/chain"
"$MKVHDX" --size 64M --fill 0:11,1:12,3:13 --expected "$d/par.raw" "$d/chain/par.vhdx" || fail "mkvhdx parent"
# 0 data, 1 zeros over parent data (kept), 2 partial (its bitmap stays),
# 4 and 6 zeros over parent zeros (dropped).
"$MKVHDX" --type diff --size 64M --parent "$d/chain/par.vhdx" --parent-raw "$d/par.raw" \
    --fill 0:21,1:z,4:z,6:z --partial 2:22 --expected "$d/kid.raw" "$d/chain/kid.vhdx" || fail "mkvhdx child"
cp "$d/chain/par.vhdx" "$d/par.orig"
fmt_geometry "$d/chain/kid.vhdx"
"$VHDCTL" compact --no-progress --mode zero "$d/chain/kid.vhdx" >/dev/null || fail "child: compact failed"
[[ $(file_size "$d/chain/kid.vhdx") = $(( img_first + 4 * MIB )) ]] ||
    fail "child: $(file_size "$d/chain/kid.vhdx") bytes, expected the tables, 3 blocks and a sector bitmap"
[[ $(alloc_blocks "$d/chain/kid.vhdx" | awk '{ print $1 }' | tr '\n' ' ') = "0 1 2 " ]] ||
    fail "child: blocks left: $(alloc_blocks "$d/chain/kid.vhdx" | awk '{ print $1 }' | tr '\n' ' ')"
for b in 4 6; do
    [[ $(od -A n -t u8 --endian=little -j $(( vhdx_bat + 8 * b )) -N 8 "$d/chain/kid.vhdx" | tr -d ' ') = 0 ]] ||
        fail "child: block $b is not NOT_PRESENT with offset 0"
done
serve "$d/chain/kid.vhdx" readonly=1 --run "nbdcopy \"\$uri\" '$d/kid.out'" || fail "child: the plugin cannot read it"
cmp -s "$d/kid.out" "$d/kid.raw" || fail "child: it reads differently through its parent"
if (cd "$d/chain" && 7zz x -y -tvhdx -o"$d/7z" -- kid.vhdx >/dev/null 2>&1); then
    cmp -s "$d/7z/"* "$d/kid.raw" || fail "child: 7-Zip reads it differently through its parent"
    rm -rf "$d/7z"
fi
"$VHDCTL" check "$d/chain/kid.vhdx" >/dev/null || fail "child: vhdctl check"
cmp -s "$d/chain/par.vhdx" "$d/par.orig" || fail "child: compacting the child changed its parent"
for m in full fs; do
    rc=0; "$VHDCTL" compact --local --no-progress --mode $m "$d/chain/par.vhdx" 2>"$d/err" || rc=$?
    (( rc == 1 )) && grep -q "has-children: .*kid.vhdx' is a differencing child" "$d/err" ||
        { cat "$d/err" >&2; fail "parent, mode $m: exit $rc, no refusal naming the child"; }
    cmp -s "$d/chain/par.vhdx" "$d/par.orig" || fail "parent, mode $m: the refusal changed the file"
done
echo "child: packed, reads through its parent as before; its parent refuses file-system drops"

echo "== a differencing child whose NTFS changed, mode full"
# The parent: a whole-disk NTFS; the child: every non-zero block of the
# changed volume (files deleted and added), over it.  Full mode drops the
# child's blocks free in its volume: they then read as the parent's.
mkdir "$d/fam"
mkfs_ntfs "$d/fpar.raw" 96 4096 0 9 8 6
"$MKVHDX" --size 96M --from-raw "$d/fpar.raw" "$d/fam/par.vhdx" || fail "mkvhdx parent"
cp --sparse=always "$d/fpar.raw" "$d/fmod.raw"
ntfs_mount "$d/fmod.raw" "$d/mnt" big_writes || fail "cannot mount the child's volume"
rm -- "$d/mnt/file1" "$d/mnt/file4"
rand_file "$d/mnt/new1" $((9 * MIB))
rand_file "$d/mnt/new2" $((5 * MIB))
rm -- "$d/mnt/new1"
(cd "$d/mnt" && find . -type f -print0 | sort -z | xargs -0 sha256sum) > "$d/fmod.raw.sums"
ntfs_umount "$d/mnt"
"$MKVHDX" --type diff --size 96M --parent "$d/fam/par.vhdx" --parent-raw "$d/fpar.raw" --from-raw "$d/fmod.raw" \
    --expected "$d/fkid0.raw" "$d/fam/kid.vhdx" || fail "mkvhdx child"
cmp -s "$d/fkid0.raw" "$d/fmod.raw" || fail "family: (setup) the child does not read as the changed volume"
cp "$d/fam/par.vhdx" "$d/fpar.orig"
fmt_geometry "$d/fam/kid.vhdx"
(( img_child )) || fail "family: (setup) the child is no differencing disk"
classes=$(block_classes "$d/fam/kid.vhdx" "$d/fkid.json")
alloc_blocks "$d/fam/kid.vhdx" > "$d/fkid.bat0"
awk -v c="$classes" '{ if (substr(c, $1 + 1, 1) == "F") print $1 }' "$d/fkid.bat0" > "$d/fkid.drops"
drops=$(wc -l < "$d/fkid.drops")
(( drops > 0 )) || fail "family: (setup) no block of the child is free"
# In use but holding the parent's very bytes: a zero drop (no read changes).
: > "$d/fkid.same"
while read -r b _; do
    grep -qx "$b" "$d/fkid.drops" || ! block_same "$d/fmod.raw" "$d/fpar.raw" "$b" "$img_bs" || echo "$b" >> "$d/fkid.same"
done < "$d/fkid.bat0"
same=$(wc -l < "$d/fkid.same")
(( same > 0 )) || fail "family: (setup) no block of the child is the parent's"
ntfs_parts="0:$((96 * MIB)):$d/fmod.raw.sums"
ntfs_verify "$d/fmod.raw" family > "$d/fkid.fp0"
guid_data=$(header_guid "$d/fam/kid.vhdx" data-write-guid)
vhdctl_attaching compact --json --no-progress --mode full "$d/fam/kid.vhdx" > "$d/fkid.out" ||
    fail "family: compact failed"
[[ $(json_num blocks-dropped-fs < "$d/fkid.out") = "$drops" && $(json_num blocks-dropped-zero < "$d/fkid.out") = "$same" ]] ||
    fail "family: dropped $(json_num blocks-dropped-fs < "$d/fkid.out") free + $(json_num blocks-dropped-zero < "$d/fkid.out")" \
         "same as the parent, expected $drops + $same"
# The kept blocks, and one sector-bitmap block per chunk only if a
# partially present block needs it (none here).
optimum=$(( img_first + ($(wc -l < "$d/fkid.bat0") - drops - same) * img_bs ))
[[ $(file_size "$d/fam/kid.vhdx") = "$optimum" ]] || fail "family: $(file_size "$d/fam/kid.vhdx") bytes, optimum $optimum"
# Expected: the changed volume, its dropped blocks read from the parent.
cp --sparse=always "$d/fmod.raw" "$d/fexp.raw"
while read -r b; do
    dd if="$d/fpar.raw" of="$d/fexp.raw" bs="$img_bs" skip="$b" seek="$b" count=1 conv=notrunc status=none
done < "$d/fkid.drops"
serve "$d/fam/kid.vhdx" readonly=1 --run "nbdcopy \"\$uri\" '$d/fkid1.raw'" || fail "family: the plugin cannot read it"
cmp -s "$d/fkid1.raw" "$d/fexp.raw" || fail "family: the child does not read as the volume with its free blocks from the parent"
rm -rf "$d/7z"
if (cd "$d/fam" && 7zz x -y -tvhdx -o"$d/7z" -- kid.vhdx >/dev/null 2>&1); then
    cmp -s "$d/7z/"* "$d/fexp.raw" || fail "family: 7-Zip reads the child differently"
    rm -rf "$d/7z"
fi
ntfs_verify "$d/fkid1.raw" family files > "$d/fkid.fp1"
cmp -s "$d/fkid.fp0" "$d/fkid.fp1" || fail "family: ntfsclone sees different used clusters in the child"
"$VHDCTL" check "$d/fam/kid.vhdx" >/dev/null || fail "family: vhdctl check"
[[ $(header_guid "$d/fam/kid.vhdx" data-write-guid) != "$guid_data" ]] || fail "family: the child's DataWriteGuid kept"
cmp -s "$d/fam/par.vhdx" "$d/fpar.orig" || fail "family: compacting the child changed its parent"
echo "family: the child lost $drops free blocks, now read from its parent, and $same holding the parent's bytes;" \
     "volume and files intact; parent untouched"
