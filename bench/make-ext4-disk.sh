#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench/make-ext4-disk.sh RAW VIRT_GIB ALLOC_GIB: the WSL-like disk of the
# ext4 benchmarks (bench/analyze, bench/compact with BENCH_FS=ext4) as a
# raw file: one ext4 volume over the whole disk, no partition table, made
# as WSL formats it (mkfs.ext4 -G 4096), ALLOC_GIB GiB of 256 MiB random
# files written through a loop mount of the kernel's ext4, every other one
# then deleted (not discarded, as in a guest).  `e2fsck -fn` must find it
# clean.  Needs root (mount).
set -euo pipefail
raw=$1 virt_gib=$2 alloc_gib=$3
mnt=$raw.mnt
rm -f "$raw"; truncate -s "${virt_gib}G" "$raw"
mkfs.ext4 -q -F -G 4096 "$raw"
mkdir -p "$mnt"; mount -o loop "$raw" "$mnt"
for i in $(seq 1 $((alloc_gib * 4))); do
  head -c $((256 << 20)) /dev/urandom > "$mnt/f$i"
done
sync -f "$mnt"
for i in $(seq 1 2 $((alloc_gib * 4))); do rm "$mnt/f$i"; done
umount "$mnt"; rmdir "$mnt"
e2fsck -fn "$raw" > "$raw.e2fsck" 2>&1 ||
  { cat "$raw.e2fsck" >&2; echo "make-ext4-disk: e2fsck -fn of the new disk failed" >&2; exit 1; }
rm -f "$raw.e2fsck"
