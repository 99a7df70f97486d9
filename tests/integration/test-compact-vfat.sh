#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# `vhdctl compact --mode fs` of VHDs and VHDXs holding FAT32, exFAT and
# swap, judged by oracles that are not ours.  Disks, each filled with random bytes before
# it was formatted (so free clusters hold data and every block is
# allocated), populated with files and some of them deleted:
#   - a whole-disk FAT32 (mtools);
#   - a whole-disk exFAT (exfat-fuse);
#   - a Linux-VM-like GPT disk: BIOS boot, a FAT32 ESP, a "Linux
#     filesystem" partition of random bytes (no scanner reads it) and swap;
#   - a whole-disk swap area.
# Each disk is compacted as a VHD and as a VHDX (formats/vhdx.sh: 1 MiB
# blocks, WSL's; the optimum packs from the end of its head of header
# section, log, metadata and BAT, in 1 MiB units).  For each:
#   - the file's size after the compaction, and the size its --dry-run
#     announced before (swap included, though the dry run holds only a
#     shared lock), is the optimum computed by
#     vfat-optimum.py (its own reading of the FATs, of the exFAT bitmap
#     where dump.exfat says it is, and of the swap header) from the BAT;
#   - the checkers are clean after (fsck.fat -n, fsck.exfat -n), every
#     file's sha256 is unchanged, and the bytes outside the free space are
#     identical (the swap header page, the unscanned partition, the GPT);
#   - `vhdctl analyze` (read-only) counts the swap area as in use and says
#     why: only a compaction, which holds the disk exclusively, frees it.
set -euo pipefail
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/vfat-functions.sh"
requires qemu-img sfdisk mkfs.fat fsck.fat mcopy mkfs.exfat fsck.exfat dump.exfat \
         mount.exfat-fuse mkswap losetup sha256sum python3 od cmp
requires_env VHDCTL VHD_PLUGIN FSSCAN
make_tmpdir
. "$(dirname "$0")/compact-functions.sh"
image_formats="vhd vhdx"
requires_formats
optimum_py=$(dirname "$0")/vfat-optimum.py

# per_format FUNCTION: FUNCTION once per image format (for_each_format).
per_format () { for_each_format "$1"; use_format "${image_formats%% *}"; }

# compact_to_optimum NAME RAW VOLUME...: the image (of the current format)
# of RAW compacted in fs mode lands exactly on the optimum; leaves the
# result's content in $tmpdir/NAME.after.raw.
compact_to_optimum ()
{
    local name=$1 raw=$2 img=$tmpdir/$1.$fmt_suffix kept freeblocks optimum out=$tmpdir/$1.json
    shift 2
    fmt_from_raw "$raw" "$img"
    alloc_blocks "$img" >"$tmpdir/$name.bat"
    check_packed "$img" "$img_first" "$name (before)"
    python3 "$optimum_py" "$raw" "$img_bs" "$tmpdir/$name.bat" "$@" >"$tmpdir/$name.free" ||
        fail "$fmt_name $name: the oracle failed"
    freeblocks=$(wc -l <"$tmpdir/$name.free")
    (( freeblocks > 0 )) || fail "$fmt_name $name: test setup: no free block"
    kept=$(( $(wc -l <"$tmpdir/$name.bat") - freeblocks ))
    optimum=$(img_optimum "$kept")
    cp -- "$img" "$tmpdir/$name.orig"
    vhdctl_attaching compact --dry-run --json --no-progress --mode fs "$img" >"$out.dry" 2>"$tmpdir/$name.err" ||
        { cat "$tmpdir/$name.err" >&2; fail "$fmt_name $name: --dry-run failed"; }
    cmp -s -- "$img" "$tmpdir/$name.orig" || fail "$fmt_name $name: --dry-run changed the file"
    [[ $(json_num size-after <"$out.dry") = "$optimum" ]] ||
        fail "$fmt_name $name: --dry-run announces $(json_num size-after <"$out.dry"), the optimum is $optimum"
    vhdctl_attaching compact --json --no-progress --mode fs "$img" >"$out" 2>"$tmpdir/$name.err" ||
        { cat "$tmpdir/$name.err" >&2; fail "$fmt_name $name: compact failed"; }
    [[ $(file_size "$img") = "$optimum" ]] ||
        fail "$fmt_name $name: $(file_size "$img") bytes after, the optimum is $optimum ($kept blocks kept, $freeblocks free)"
    [[ $(json_num blocks-dropped-fs <"$out") = "$freeblocks" ]] || fail "$fmt_name $name: dropped $(json_num blocks-dropped-fs <"$out"), expected $freeblocks"
    "$VHDCTL" check "$img" >/dev/null || fail "$fmt_name $name: vhdctl check"
    img_to_raw "$img" "$tmpdir/$name.after.raw"
    echo "ok $fmt_name $name: $freeblocks of $(wc -l <"$tmpdir/$name.bat") blocks dropped, $(file_size "$img") bytes = optimum"
}

# A whole-disk FAT32.
raw=$tmpdir/fat.raw
head -c $(( 96 << 20 )) /dev/urandom >"$raw"
mkfs.fat -F 32 -s 2 -n FAT32 "$raw" >/dev/null
fat_populate "$raw" 1
fat_manifest "$raw" "$tmpdir/fat.before.sha"
check_fat ()
{
    compact_to_optimum fat "$raw" fat:0
    fsck.fat -n "$tmpdir/fat.after.raw" >"$tmpdir/fsck.txt" 2>&1 || fail "$fmt_name fat: fsck.fat: $(cat "$tmpdir/fsck.txt")"
    fat_manifest "$tmpdir/fat.after.raw" "$tmpdir/fat.after.sha"
    cmp -s "$tmpdir/fat.before.sha" "$tmpdir/fat.after.sha" || fail "$fmt_name fat: files changed"
    cmp -s -n $(( 32 * 512 )) "$raw" "$tmpdir/fat.after.raw" || fail "$fmt_name fat: reserved sectors changed"
    echo "ok $fmt_name fat: fsck.fat clean, hashes equal"
}
per_format check_fat

# A whole-disk exFAT.
raw=$tmpdir/exfat.raw
head -c $(( 128 << 20 )) /dev/urandom >"$raw"
mkfs.exfat -c 16K -L EXFAT "$raw" >/dev/null
exfat_populate "$raw" 2
exfat_manifest "$raw" "$tmpdir/exfat.before.sha"
bmc=$(dump.exfat "$raw" 2>/dev/null | awk -F: '/^Bitmap start cluster/ { gsub(/[ \t]/, "", $2); print $2 }')
[[ -n $bmc ]] || fail "exfat: no bitmap cluster from dump.exfat"
check_exfat ()
{
    compact_to_optimum exfat "$raw" "exfat:0:$bmc"
    fsck.exfat -n "$tmpdir/exfat.after.raw" >"$tmpdir/fsck.txt" 2>&1 || fail "$fmt_name exfat: fsck.exfat: $(cat "$tmpdir/fsck.txt")"
    exfat_manifest "$tmpdir/exfat.after.raw" "$tmpdir/exfat.after.sha"
    cmp -s "$tmpdir/exfat.before.sha" "$tmpdir/exfat.after.sha" || fail "$fmt_name exfat: files changed"
    echo "ok $fmt_name exfat: fsck.exfat clean, hashes equal"
}
per_format check_exfat

# A Linux VM: GPT with BIOS boot (1 MiB), ESP (FAT32, 80 MiB), a
# "Linux filesystem" of random bytes (24 MiB) and swap (48 MiB).
raw=$tmpdir/vm.raw
head -c $(( 160 << 20 )) /dev/urandom >"$raw"
sfdisk -q "$raw" <<'PARTS'
label: gpt
start=2048, size=2048, type=21686148-6449-6E6F-744E-656564454649
start=4096, size=163840, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B
start=167936, size=49152, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4
start=217088, size=98304, type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F
PARTS
esp=$(( 4096 * 512 )) root=$(( 167936 * 512 )) swap=$(( 217088 * 512 ))
dd if="$raw" of="$tmpdir/esp.img" bs=1M skip=2 count=80 status=none
mkfs.fat -F 32 -s 1 -n ESP "$tmpdir/esp.img" >/dev/null
fat_populate "$tmpdir/esp.img" 3
fat_manifest "$tmpdir/esp.img" "$tmpdir/esp.before.sha"
dd if="$tmpdir/esp.img" of="$raw" bs=1M seek=2 conv=notrunc status=none
dd if="$raw" of="$tmpdir/swap.img" bs=1M skip=$(( swap >> 20 )) count=48 status=none
mkswap -L vmswap "$tmpdir/swap.img" >/dev/null 2>&1
dd if="$tmpdir/swap.img" of="$raw" bs=1M seek=$(( swap >> 20 )) conv=notrunc status=none

# Read-only, the swap area is named and counted as in use.
fmt_from_raw "$raw" "$tmpdir/vm-ro.vhd"
vhdctl_attaching analyze "$tmpdir/vm-ro.vhd" >"$tmpdir/vm-ro.txt" || fail "vm: analyze failed"
grep -q 'swap' "$tmpdir/vm-ro.txt" || fail "vm: analyze does not name the swap area: $(cat "$tmpdir/vm-ro.txt")"
grep -q 'held exclusively' "$tmpdir/vm-ro.txt" || fail "vm: analyze does not say why swap is in use"
vhdctl_attaching analyze --json "$tmpdir/vm-ro.vhd" >"$tmpdir/vm-ro.json" || fail "vm: analyze --json failed"
grep -q '"filesystem": "swap"' "$tmpdir/vm-ro.json" || fail "vm: analyze --json does not name swap"
grep -q '"filesystem": "fat"' "$tmpdir/vm-ro.json" || fail "vm: analyze --json does not name the ESP"
echo "ok vm: a read-only analyze keeps swap"

check_vm ()
{
    compact_to_optimum vm "$raw" fat:$esp swap:$swap
    after=$tmpdir/vm.after.raw
    dd if="$after" of="$tmpdir/esp.after" bs=1M skip=2 count=80 status=none
    fsck.fat -n "$tmpdir/esp.after" >"$tmpdir/fsck.txt" 2>&1 || fail "$fmt_name vm: fsck.fat of the ESP: $(cat "$tmpdir/fsck.txt")"
    fat_manifest "$tmpdir/esp.after" "$tmpdir/esp.after.sha"
    cmp -s "$tmpdir/esp.before.sha" "$tmpdir/esp.after.sha" || fail "$fmt_name vm: ESP files changed"
    cmp -s -n "$esp" "$raw" "$after" || fail "$fmt_name vm: GPT or BIOS boot partition changed"
    cmp -s -n $(( 24 << 20 )) -i "$root:$root" "$raw" "$after" || fail "$fmt_name vm: the unscanned partition changed"
    cmp -s -n 4096 -i "$swap:$swap" "$raw" "$after" || fail "$fmt_name vm: the swap header changed"
    cmp -s -n $(( 1 << 20 )) -i $(( 158 << 20 )):$(( 158 << 20 )) "$raw" "$after" || fail "$fmt_name vm: the backup GPT changed"
    [[ $(blkid -p -o value -s TYPE -O "$swap" "$after" 2>/dev/null || echo swap) = swap ]] || fail "$fmt_name vm: swap not recognised after"
    echo "ok $fmt_name vm: ESP fsck.fat clean, hashes equal, GPT, root partition and swap header unchanged"
}
per_format check_vm

# A whole-disk swap area (WSL's swap.vhdx): all but its header.
raw=$tmpdir/swap.raw
head -c $(( 64 << 20 )) /dev/urandom >"$raw"
mkswap "$raw" >/dev/null 2>&1
check_swap ()
{
    compact_to_optimum swap "$raw" swap:0
    cmp -s -n 4096 "$raw" "$tmpdir/swap.after.raw" || fail "$fmt_name swap: the header page changed"
    [[ $(blkid -p -o value -s TYPE "$tmpdir/swap.after.raw") = swap ]] || fail "$fmt_name swap: not a swap area after"
    echo "ok $fmt_name swap: header unchanged, still swap"
}
per_format check_swap
