#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench/analyze: how little does `vhdctl analyze` read, and how fast is it?
#
# A VIRT_GIB (64) GiB dynamic VHD holding one NTFS partition (GPT) with
# ALLOC_GIB GiB of 256 MiB random files written through ntfs-3g, half of
# them then deleted.  BENCH_FS=ext4 (issue 16, item 8): WSL-like instead,
# one ext4 volume over the whole disk, no partition table (`mkfs.ext4 -G
# 4096`, as WSL formats it), the same files written through a loop mount of
# the kernel's ext4, half deleted.  Measured in one run, alternating:
#   analyze  vhdctl analyze --json (bytes read through the attach are
#            reported by the tool itself: every read goes through NBD)
#   nbdcopy  nbdkit-vhd-plugin + nbdcopy to null: reading the allocated
#            data once, the least any data-reading approach must do
# Goals: analyze reads < 1% of the allocated bytes, and takes < 1/20 of
# nbdcopy's time.  Page cache dropped before each run when we may.  The
# analysis must have scanned the file system (it is checked: a volume it
# did not read would read little and free nothing).
#
# Usage: [BENCH_FS=ntfs|ext4] bench/analyze/bench-analyze.sh [BUILD_DIR] [ROUNDS] [ALLOC_GIB] [VIRT_GIB]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build}
rounds=${2:-5}
alloc_gib=${3:-6}
virt_gib=${4:-64}
fs=${BENCH_FS:-ntfs}
case $fs in
  ntfs) fstools="sfdisk mkntfs ntfs-3g" fsname=ntfs ;;
  ext4) fstools="mkfs.ext4 mount umount e2fsck" fsname=ext2/3/4 ;;
  *) echo "bench-analyze: BENCH_FS is ntfs or ext4" >&2; exit 1 ;;
esac
plugin=$build/plugin/nbdkit-vhd-plugin.so
vhdctl=$build/client/vhdctl
timeit=$build/bench/timeit
for t in nbdkit nbdcopy qemu-img $fstools "$plugin" "$vhdctl" "$timeit"; do
  command -v "$t" >/dev/null || [ -x "$t" ] || { echo "bench-analyze: missing $t" >&2; exit 1; }
done
export VHDCOMPACT_PLUGIN=$plugin

work=${BENCH_DIR:-$top/bench/out/analyze}
mkdir -p "$work"
img=$work/analyze-$fs-${virt_gib}g-${alloc_gib}g.vhd
if [ ! -f "$img" ] && [ "$fs" = ext4 ]; then
  echo "making $img: ${virt_gib} GiB disk, whole-disk ext4 (-G 4096), ${alloc_gib} GiB of files, half deleted"
  raw=$work/disk.raw
  "$top/bench/make-ext4-disk.sh" "$raw" "$virt_gib" "$alloc_gib"
  qemu-img convert -f raw -O vpc -o subformat=dynamic "$raw" "$img.tmp"
  rm -f "$raw"; mv "$img.tmp" "$img"
fi
if [ ! -f "$img" ]; then
  echo "making $img: ${virt_gib} GiB disk, NTFS, ${alloc_gib} GiB of files, half deleted"
  raw=$work/disk.raw part=$work/part.raw mnt=$work/mnt
  truncate -s "${virt_gib}G" "$raw"
  printf 'label: gpt\nstart=2048, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7\n' | sfdisk -q "$raw"
  psize=$(( $(stat -c %s "$raw") - 2048 * 512 - 33 * 512 ))
  psize=$(( psize / 1048576 * 1048576 ))
  truncate -s "$psize" "$part"
  mkntfs -q -F -f -c 4096 -s 512 -p 2048 -H 255 -S 63 "$part" 2>/dev/null
  # Foreground ntfs-3g, so that we can wait for it to flush after umount.
  mkdir -p "$mnt"; ntfs-3g -o no_detach "$part" "$mnt" & ntfs3g=$!
  until mountpoint -q "$mnt"; do sleep 0.05; done
  for i in $(seq 1 $((alloc_gib * 4))); do
    head -c $((256 << 20)) /dev/urandom > "$mnt/f$i"
  done
  for i in $(seq 1 2 $((alloc_gib * 4))); do rm "$mnt/f$i"; done
  umount "$mnt"; wait $ntfs3g
  dd if="$part" of="$raw" bs=1M seek=1 conv=notrunc,sparse status=none
  rm -f "$part"
  qemu-img convert -f raw -O vpc -o subformat=dynamic "$raw" "$img.tmp"
  rm -f "$raw"; mv "$img.tmp" "$img"
fi

drop=no
if [ "$(id -u)" = 0 ] && sync && echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; then drop=yes; fi
dropcaches() { [ $drop = yes ] && sync && echo 3 > /proc/sys/vm/drop_caches || true; }
wall() { sed -n 's/.*wall=\([0-9.]*\).*/\1/p' | tail -n 1; }

json=$work/analyze.json
ta="" tc=""
for r in $(seq "$rounds"); do
  dropcaches
  t=$( { "$timeit" -- "$vhdctl" analyze --json "$img" > "$json"; } 2>&1 | wall)
  ta+="$t "
  dropcaches
  t=$( { "$timeit" -- nbdkit -U - "$plugin" file="$img" readonly=1 --run 'nbdcopy "$uri" null:'; } 2>&1 | wall)
  tc+="$t "
  printf 'round %d: analyze %.3f s, nbdcopy %s s\n' "$r" "$(echo "$ta" | awk '{print $NF}')" "$t"
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
num() { sed -n "s/.*\"$1\": \([0-9]*\).*/\1/p" "$json" | sed -n 1p; }
alloc_blocks=$(num allocated)
bs=$(num block-size)
allocated=$((alloc_blocks * bs))
read_bytes=$(num bytes-read)
ma=$(echo "$ta" | median) mc=$(echo "$tc" | median)
# The volume must have been scanned, clean, and found free space.
vol=$(python3 -c 'import json, sys
v = [v for v in json.load(open(sys.argv[1]))["volumes"] if v.get("filesystem") == sys.argv[2]]
if len(v) != 1 or not v[0].get("scanned") or not v[0].get("clean") or not v[0].get("free-bytes"):
    sys.exit("bench-analyze: the %s volume was not scanned clean with free space: %s" % (sys.argv[2], v))
v = v[0]
print("%s volume at %d, %d bytes: cluster %d, %d used, %d free, clean; %d bytes free" % (sys.argv[2], v["offset"],
      v["size"], v["cluster-size"], v["clusters-used"], v["clusters-free"], v["free-bytes"]))' "$json" "$fsname")
echo
echo "image: $img, virtual $(num virtual-size) bytes, file $(num file-size) bytes"
echo "allocated: $alloc_blocks blocks = $allocated bytes; reclaimable: $(num reclaimable-bytes) bytes; final size: $(num final-size)"
echo "$vol"
echo "blocks: $(num free) free, $(num partial) partial, $(num used) used"
echo "machine: $(nproc) CPU $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | sed -n 1p), $(free -g | awk '/^Mem/ { print $2 }') GiB RAM," \
     "$(findmnt -no FSTYPE -T "$work") on $(df --output=source "$work" | tail -n 1), Linux $(uname -r); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "page cache dropped before each run: $drop; rounds: $rounds"
printf 'analyze read %d bytes = %.4f%% of the allocated bytes (goal < 1%%)\n' "$read_bytes" \
  "$(awk -v a="$read_bytes" -v b="$allocated" 'BEGIN{print 100*a/b}')"
printf 'median analyze %.3f s, nbdcopy %.3f s: ratio 1/%.1f (goal: better than 1/20)\n' "$ma" "$mc" \
  "$(awk -v a="$ma" -v c="$mc" 'BEGIN{print c/a}')"
