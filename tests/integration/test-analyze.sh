#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# `vhdctl analyze` on real disks: partition tables made by sfdisk, NTFS made
# by mkntfs and filled and thinned through ntfs-3g, converted to dynamic VHDs
# by qemu-img.  Oracles, none of them ours:
#   - each NTFS volume's free-cluster count equals ntfsinfo's, exactly;
#   - every block called free really is free: overwriting all of them with
#     garbage in a raw copy of the disk leaves ntfsclone's image of every
#     NTFS volume (which holds exactly the used clusters) and the hash of
#     every file unchanged;
#   - the final size equals the optimum computed here from the block
#     classes and qemu-img's layout (blocks packed after the BAT);
#   - non-NTFS partitions and space outside partitions free nothing;
#   - the volume's label and, for a volume ntfsresize marked dirty, why it
#     is not clean are printed (JSON and text), with and without
#     --force-dirty.
set -euo pipefail
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/ntfs-functions.sh"
requires qemu-img sfdisk mkntfs ntfs-3g ntfsinfo ntfsclone ntfsresize sha256sum dd
[ -e /dev/fuse ] || skip "no /dev/fuse: ntfs-3g cannot mount here"
requires_env VHDCTL VHD_PLUGIN

make_tmpdir
d=$tmpdir
MIB=$((1 << 20))

json_num() { sed -n "s/.*\"$1\": \([0-9]*\).*/\1/p" | sed -n 1p; }

# mkfs_ntfs FILE SIZE_MIB CLUSTER START_SECTOR SEED: a populated NTFS image
# with some files deleted, then its file hashes in FILE.sums.
mkfs_ntfs() {
  local f=$1 mib=$2 cl=$3 start=$4 seed=$5 m=$d/mnt i
  truncate -s $((mib * MIB)) "$f"
  mkntfs -q -F -f -c "$cl" -s 512 -p "$start" -H 255 -S 63 -L "v$seed" "$f" 2>/dev/null
  ntfs_mount "$f" "$m"
  for i in $(seq 1 12); do
    head -c $(( (i * 7919 + seed * 104729) % (9 * MIB) + 1000 )) /dev/urandom > "$m/file$i"
  done
  mkdir "$m/dir"; head -c $((3 * MIB)) /dev/urandom > "$m/dir/inner"
  rm "$m/file2" "$m/file5" "$m/file6" "$m/file9" "$m/file11"
  (cd "$m" && find . -type f -print0 | sort -z | xargs -0 sha256sum) > "$f.sums"
  ntfs_umount "$m"
}

# check_disk NAME RAW: convert, analyze, and hold the result to the oracles.
# NTFS volumes are listed in $ntfs_parts as "START_BYTES:SIZE_BYTES:IMAGE".
check_disk() {
  local name=$1 raw=$2 vhd=$d/$1.vhd json=$d/$1.json
  qemu-img convert -f raw -O vpc -o subformat=dynamic "$raw" "$vhd"
  vhdctl_attaching analyze --json "$vhd" > "$json"
  vhdctl_attaching analyze "$vhd" > "$d/$name.txt"
  grep -q 'compaction (file-system mode) would make the file' "$d/$name.txt" ||
    fail "$name: no summary line in the human output"

  # Free clusters per NTFS volume, against ntfsinfo.
  local p start size img want got n=0
  for p in $ntfs_parts; do
    IFS=: read -r start size img <<<"$p"
    want=$(ntfsinfo -m "$img" 2>/dev/null | sed -n 's/.*Free Clusters: \([0-9]*\).*/\1/p')
    got=$(tr -d '\n' < "$json" | grep -o "\"offset\": $start, [^}]*" | sed -n 's/.*"clusters-free": \([0-9]*\).*/\1/p')
    [ -n "$got" ] || fail "$name: no NTFS volume at offset $start in $(cat "$json")"
    [ "$got" = "$want" ] || fail "$name: volume at $start: $got free clusters, ntfsinfo says $want"
    n=$((n + 1))
  done
  echo "$name: free clusters of $n NTFS volume(s) match ntfsinfo"

  # Scribble over every free block in a copy; the file systems must not notice.
  local classes bs vsize b off len scribbled=0
  classes=$(sed -n 's/.*"block-classes": "\([^"]*\)".*/\1/p' "$json")
  bs=$(json_num block-size < "$json")
  vsize=$(json_num virtual-size < "$json")
  cp --sparse=always "$raw" "$d/scribbled.raw"
  truncate -s "$vsize" "$d/scribbled.raw"
  for ((b = 0; b < ${#classes}; b++)); do
    [ "${classes:b:1}" = F ] || continue
    off=$((b * bs)); len=$(( vsize - off < bs ? vsize - off : bs ))
    head -c "$len" /dev/urandom | dd of="$d/scribbled.raw" bs=64K seek="$off" oflag=seek_bytes conv=notrunc status=none
    scribbled=$((scribbled + 1))
  done
  for p in $ntfs_parts; do
    IFS=: read -r start size img <<<"$p"
    dd if="$d/scribbled.raw" of="$d/part.raw" bs=1M iflag=skip_bytes,count_bytes skip="$start" count="$size" status=none
    [ "$(ntfsclone -q --save-image -o - "$img" | sha256sum)" = \
      "$(ntfsclone -q --save-image -o - "$d/part.raw" | sha256sum)" ] ||
      fail "$name: overwriting blocks called free changed the used clusters of the volume at $start"
    ntfs_mount "$d/part.raw" "$d/mnt" ro
    (cd "$d/mnt" && sha256sum --quiet -c "$img.sums") || { ntfs_umount "$d/mnt"; fail "$name: a file changed"; }
    ntfs_umount "$d/mnt"
  done
  echo "$name: $scribbled free blocks overwritten, every NTFS volume and file intact"

  # Optimum: qemu-img packs blocks right after the BAT, so the kept blocks
  # (all allocated blocks but the free ones) follow it, then the footer.
  local total kept bat final
  total=$(json_num total < "$json")
  kept=$(tr -cd 'PU' <<<"$classes" | wc -c)
  bat=$(( (total * 4 + 511) / 512 * 512 ))
  final=$(json_num final-size < "$json")
  [ "$final" = $((1536 + bat + kept * (bs + 512) + 512)) ] ||
    fail "$name: final size $final, optimum $((1536 + bat + kept * (bs + 512) + 512))"
  echo "$name: final size $final = optimum ($kept blocks kept)"
}

echo "== GPT: NTFS with 4 KiB clusters beside an ext4 partition"
truncate -s 640M "$d/gpt.raw"
printf 'label: gpt\nstart=2048, size=%d, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7\nstart=%d, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n' \
  $((384 * 2048)) $((2048 + 384 * 2048)) | sfdisk -q "$d/gpt.raw"
mkfs_ntfs "$d/gpt-p1.ntfs" 384 4096 2048 1
dd if="$d/gpt-p1.ntfs" of="$d/gpt.raw" bs=1M seek=1 conv=notrunc,sparse status=none
if command -v mkfs.ext4 >/dev/null; then
  # The partition ends 1 MiB + 33 sectors before the disk: 254 MiB.
  truncate -s $((254 * MIB)) "$d/ext4.raw"; mkfs.ext4 -q -F "$d/ext4.raw"
  dd if="$d/ext4.raw" of="$d/gpt.raw" bs=1M seek=385 conv=notrunc,sparse status=none
fi
ntfs_parts="$MIB:$((384 * MIB)):$d/gpt-p1.ntfs"
check_disk gpt "$d/gpt.raw"
grep -q '"partition": 2, "offset"' <(tr -d '\n' < "$d/gpt.json" | sed 's/ \+/ /g') || true
if [[ -e $d/ext4.raw ]]; then
  # The ext4 partition is scanned: exactly the free bytes fsscan finds.
  want=$("$FSSCAN" --type ext2/3/4 "$d/ext4.raw" | awk '$1 == "free_bytes" { print $2 }')
  (( want > 0 )) || fail "gpt: fsscan found nothing free in a fresh ext4"
  tr -d '\n' < "$d/gpt.json" | grep -q "\"partition\": 2,[^}]*\"free-bytes\": $want[^0-9]" ||
    fail "gpt: the ext4 partition does not free $want bytes: $(cat "$d/gpt.json")"
  tr -d '\n' < "$d/gpt.json" | tr -s ' ' |
    grep -q '"partition": 2,[^}]*"filesystem": "ext2/3/4", "scanned": true, "cluster-size": 1024,[^}]*"clean": true' ||
    fail "gpt: the ext4 partition's facts (cluster size, clean) are missing"
  grep -q '^ *2 .* ext2/3/4 *1024 ' "$d/gpt.txt" ||
    fail "gpt: the text output does not show the ext4 partition's cluster size"
fi

echo "== a differencing child is analysed through the merged view"
"$VHDCTL" create "$d/child.vhd" --parent "$d/gpt.vhd"
vhdctl_attaching analyze --json "$d/child.vhd" > "$d/child.json"
want=$(tr -d '\n' < "$d/gpt.json" | grep -o '"clusters-free": [0-9]*' | sed -n 1p)
got=$(tr -d '\n' < "$d/child.json" | grep -o '"clusters-free": [0-9]*' | sed -n 1p)
[ -n "$want" ] && [ "$got" = "$want" ] || fail "child: '$got', parent: '$want'"
grep -q '"allocated": 0' "$d/child.json" || fail "child: expected no allocated block"
echo "child: sees the parent's NTFS ($got), owns no block"

echo "== MBR: NTFS (512 B clusters) primary, NTFS (64 KiB clusters) and Linux in logical partitions"
truncate -s 700M "$d/mbr.raw"
sfdisk -q "$d/mbr.raw" <<EOS
label: dos
start=2048, size=$((200 * 2048)), type=7
start=$((2048 + 200 * 2048)), type=5
start=$((4096 + 200 * 2048)), size=$((300 * 2048)), type=7
start=$((6144 + 500 * 2048)), type=83
EOS
l1=$((4096 + 200 * 2048))
mkfs_ntfs "$d/mbr-p1.ntfs" 200 512 2048 2
mkfs_ntfs "$d/mbr-p5.ntfs" 300 65536 $l1 3
dd if="$d/mbr-p1.ntfs" of="$d/mbr.raw" bs=1M seek=1 conv=notrunc,sparse status=none
dd if="$d/mbr-p5.ntfs" of="$d/mbr.raw" bs=512 seek=$l1 conv=notrunc,sparse status=none
ntfs_parts="$MIB:$((200 * MIB)):$d/mbr-p1.ntfs $((l1 * 512)):$((300 * MIB)):$d/mbr-p5.ntfs"
check_disk mbr "$d/mbr.raw"
tr -d '\n' < "$d/mbr.json" | grep -q '"partition": 5,' || fail "mbr: logical partition 5 missing"

echo "== no partition table: NTFS over the whole disk"
mkfs_ntfs "$d/whole.raw" 256 4096 0 4
cp "$d/whole.raw" "$d/whole-disk.raw"
ntfs_parts="0:$((256 * MIB)):$d/whole.raw"
check_disk whole "$d/whole-disk.raw"
grep -q '"partition-scheme": "none"' "$d/whole.json" || fail "whole: expected no partition table"

echo "== the file system's facts: label, clean or why not, with and without --force-dirty"
# mkfs_ntfs labelled the whole-disk volume "v4".
tr -d '\n' < "$d/whole.json" | tr -s ' ' | grep -q '"clean": true, "label": "v4"' ||
  fail "whole: no clean volume labelled v4 in $(cat "$d/whole.json")"
! grep -q '"not-clean-reason"' "$d/whole.json" || fail "whole: a reason for a clean volume"
grep -q "^      label 'v4'\$" "$d/whole.txt" || fail "whole: no label line in the human output"
# ntfsresize schedules a chkdsk by setting the dirty flag.
ntfsresize -f -f -s 200M "$d/whole.raw" >/dev/null 2>&1 || fail "ntfsresize"
qemu-img convert -f raw -O vpc -o subformat=dynamic "$d/whole.raw" "$d/dirty.vhd"
for force in "" --force-dirty; do
  vhdctl_attaching analyze --json $force "$d/dirty.vhd" > "$d/dirty.json"
  vhdctl_attaching analyze $force "$d/dirty.vhd" > "$d/dirty.txt"
  vol=$(tr -d '\n' < "$d/dirty.json" | tr -s ' ' | grep -o '"partition": 0, [^}]*')
  grep -q '"clean": false, "not-clean-reason": "[^"]*dirty[^"]*", "label": "v4"' <<<"$vol" ||
    fail "dirty ${force:-plain}: no reason in $vol"
  if [ -z "$force" ]; then
    grep -q '"scanned": false' <<<"$vol" || fail "dirty: scanned without --force-dirty"
    grep -q '^      not cleanly shut down (.*): counted as in use' "$d/dirty.txt" ||
      fail "dirty: no note in the human output: $(cat "$d/dirty.txt")"
  else
    grep -q '"scanned": true' <<<"$vol" || fail "dirty --force-dirty: not scanned"
    grep -q '^      not cleanly shut down (.*): scanned anyway (force-dirty)$' "$d/dirty.txt" ||
      fail "dirty --force-dirty: the human output does not say why it was not clean: $(cat "$d/dirty.txt")"
  fi
done
echo "dirty: the reason is in the JSON and the text, with and without --force-dirty"
echo ok
