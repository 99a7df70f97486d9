#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# `vhdctl compact --no-block-moves` (issue 17 item 2), in-process, on a
# 64 MiB dynamic VHD and a dynamic VHDX (2 MiB blocks) made by qemu: data
# in blocks 0, 5 and 9, zeros written over blocks 2-3 and 7 (allocated,
# so mode zero drops them, all below the last kept block); a second image
# of each has block 9 zeroed too, so that the file's free tail is cut.
#   - --dry-run predicts the size, the drops, no move and the bytes to
#     punch, and changes nothing; the run then does exactly that;
#   - no kept block moves (less than a block written, the format's own
#     writes): every kept block's data (its pattern, found in
#     the raw file) lies at the same offset in the file before and after;
#   - vhdctl check and (VHDX) qemu-img check are clean, and qemu-img
#     compare finds the disk the same;
#   - the allocation (allocated-before/after, st_blocks x 512) falls by
#     at least the dropped blocks' size, less a host block at each edge;
#   - the file is cut only where its tail is free;
#   - a second run punches nothing.
# Then the refusal: the same image on an exFAT volume mounted with
# exfat-fuse (a FUSE file system without fallocate: EOPNOTSUPP) is
# refused with punch-unsupported and stays byte-identical; a run without
# --no-block-moves compacts it there.
set -euo pipefail
. "$(dirname "$0")/functions.sh"
requires qemu-img qemu-io cmp stat python3
requires_env VHDCTL
make_tmpdir
. "$(dirname "$0")/compact-functions.sh"
d=$tmpdir
MIB=$((1 << 20))

# make_disk FILE FMT TAIL: the disk above; TAIL 1 zeroes block 9 too.
make_disk ()
{
  local f=$1 fmt=$2 tail=$3 opts=subformat=dynamic
  [[ $fmt = vhdx ]] && opts=block_size=2M
  rm -f -- "$f"
  qemu-img create -q -f "$fmt" -o "$opts" "$f" 64M
  local args=(-c 'write -q -P 0x11 0 2M' -c 'write -q -P 0 4M 4M' -c 'write -q -P 0x22 10M 2M'
              -c 'write -q -P 0 14M 2M' -c 'write -q -P 0x33 18M 2M')
  (( tail )) && args+=(-c 'write -q -P 0 18M 2M')
  qemu-io -f "$fmt" "${args[@]}" "$f" >/dev/null
}

# data_offsets FILE: where in the file each kept block's data lies (its
# pattern, 2 MiB of 0x11, 0x22 or 0x33, is found in the raw file: qemu's
# map gives no offsets for VHDX).
data_offsets ()
{
  python3 - "$1" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
for p in (0x11, 0x22, 0x33):
    print("%#x" % p, data.find(bytes([p]) * (2 << 20)))
PY
}

allocated () { echo $(( $(stat -c %b "$1") * 512 )); }

for fmt in vpc vhdx; do
  sfx=$([[ $fmt = vpc ]] && echo vhd || echo vhdx)
  for tail in 0 1; do
    name=$sfx-tail$tail f=$d/disk-$tail.$sfx
    make_disk "$f" "$fmt" "$tail"
    cp -- "$f" "$f.orig"
    data_offsets "$f" > "$d/$name.map0"
    size0=$(file_size "$f") alloc0=$(allocated "$f")

    "$VHDCTL" compact --local --no-progress --mode zero --no-block-moves --dry-run --json "$f" > "$d/$name.dry"
    cmp -s -- "$f" "$f.orig" || fail "$name: the dry run changed the file"
    "$VHDCTL" compact --local --no-progress --mode zero --no-block-moves --json "$f" > "$d/$name.json" ||
      fail "$name: compact --no-block-moves failed"
    for k in size-after blocks-dropped-zero blocks-moved bytes-punched; do
      [[ $(json_num $k < "$d/$name.dry") = $(json_num $k < "$d/$name.json") ]] ||
        fail "$name: the dry run said $k $(json_num $k < "$d/$name.dry"), the run $(json_num $k < "$d/$name.json")"
    done
    grep -q '"no-block-moves": true' "$d/$name.json" || fail "$name: the report does not say no-block-moves"
    [[ $(json_num blocks-moved < "$d/$name.json") = 0 ]] || fail "$name: blocks moved"
    # bytes-written counts the format's own writes too (BAT sectors and
    # footer; log, pages and headers): less than one 2 MiB block means no
    # block's data was copied.
    (( $(json_num bytes-written < "$d/$name.json") < 2 * MIB )) ||
      fail "$name: $(json_num bytes-written < "$d/$name.json") bytes written: block data was copied"
    drops=$(json_num blocks-dropped-zero < "$d/$name.json")
    (( drops == 3 + tail )) || fail "$name: $drops blocks dropped, expected $(( 3 + tail ))"
    size1=$(file_size "$f")
    [[ $(json_num size-after < "$d/$name.json") = "$size1" ]] || fail "$name: size-after is not the file's size"
    a_before=$(json_num allocated-before < "$d/$name.json") a_after=$(json_num allocated-after < "$d/$name.json")
    [[ $a_before = "$alloc0" ]] || fail "$name: allocated-before $a_before, st_blocks said $alloc0"
    [[ $a_after = "$(allocated "$f")" ]] || fail "$name: allocated-after $a_after, st_blocks says $(allocated "$f")"
    # Each dropped block's place given back, less a host block at each edge.
    (( a_before - a_after >= drops * (2 * MIB - 8192) )) ||
      fail "$name: the allocation fell by $(( a_before - a_after )) bytes for $drops dropped blocks"
    # The tail: cut only when the last block went.
    if (( tail )); then
      (( size1 <= size0 - 2 * MIB )) || fail "$name: the free tail was not cut ($size0 -> $size1)"
    else
      (( size1 == size0 )) || fail "$name: the file was cut ($size0 -> $size1) though its last block stays"
    fi
    "$VHDCTL" check "$f" >/dev/null || fail "$name: vhdctl check finds problems"
    # qemu checks VHDX only ("vpc does not support checks").
    [[ $fmt = vpc ]] || qemu-img check -q -f "$fmt" "$f" || fail "$name: qemu-img check finds problems"
    qemu-img compare -q -f "$fmt" -F "$fmt" "$f.orig" "$f" || fail "$name: the disk reads differently"
    # No kept block moved: each one's data sits where it sat.
    data_offsets "$f" > "$d/$name.map1"
    (( tail )) && sed -i 's/^0x33 .*/0x33 -1/' "$d/$name.map0"
    cmp -s "$d/$name.map0" "$d/$name.map1" ||
      fail "$name: kept blocks moved: before $(tr '\n' ' ' < "$d/$name.map0"), after $(tr '\n' ' ' < "$d/$name.map1")"
    grep -q -- ' -1$' "$d/$name.map0" && (( ! tail )) && fail "$name: test setup: a kept block's data not found"
    # A second run finds nothing to punch.
    "$VHDCTL" compact --local --no-progress --mode zero --no-block-moves --json "$f" > "$d/$name.again"
    [[ $(json_num bytes-punched < "$d/$name.again") = 0 ]] || fail "$name: a second run punches again"
    echo "$name: $size0 -> $size1 bytes, allocated $a_before -> $a_after, $drops blocks dropped, none moved"
  done
done

echo "== a file system that cannot punch holes (exFAT through exfat-fuse, which has no fallocate)"
# (The kernel here has no vfat module: a FUSE file system without
# fallocate is the case the issue names besides vfat.)
if (( EUID != 0 )) || [[ ! -c /dev/fuse ]] || ! command -v mount.exfat-fuse >/dev/null ||
   ! command -v mkfs.exfat >/dev/null || ! command -v losetup >/dev/null; then
  echo "(not root, or no /dev/fuse, exfat-fuse, mkfs.exfat or losetup: the refusal is tested only" \
       "by test-compact-in-place, simulated)"
else
  . "$(dirname "$0")/vfat-functions.sh"
  truncate -s 96M "$d/exfat.img"
  mkfs.exfat "$d/exfat.img" >/dev/null
  exfat_mount "$d/exfat.img" "$d/mnt" || fail "cannot mount an exFAT image with exfat-fuse"
  make_disk "$d/nopunch.vhd" vpc 0
  cp -- "$d/nopunch.vhd" "$d/mnt/disk.vhd"
  rc=0
  "$VHDCTL" compact --local --no-progress --mode zero --no-block-moves "$d/mnt/disk.vhd" 2> "$d/nopunch.err" || rc=$?
  [[ $rc = 1 ]] || fail "exfat-fuse: exit status $rc, expected 1"
  grep -qF "vhdctl: '$d/mnt/disk.vhd': punch-unsupported: " "$d/nopunch.err" ||
    { cat "$d/nopunch.err" >&2; fail "exfat-fuse: the refusal is not punch-unsupported"; }
  cmp -s -- "$d/mnt/disk.vhd" "$d/nopunch.vhd" || fail "exfat-fuse: the refused file changed"
  echo "exfat-fuse: $(cat "$d/nopunch.err")"
  # Without --no-block-moves it compacts there as before.
  "$VHDCTL" compact --local --no-progress --mode zero "$d/mnt/disk.vhd" >/dev/null ||
    fail "exfat-fuse: a run that moves failed"
  exfat_umount "$d/mnt"
fi
echo "all good"
