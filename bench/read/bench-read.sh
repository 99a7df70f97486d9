#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench/read: how fast does nbdkit-vhd-plugin serve a dynamic VHD or VHDX?
#
# One dynamic VHD (or, with BENCH_FORMAT=vhdx, a dynamic VHDX of
# BENCH_BLOCK_SIZE blocks, default 32M) with >= 2 GiB allocated (random
# data, so nothing is skipped as zero) is read to null with nbdcopy
# through three paths, alternating runs so that machine noise spreads
# evenly:
#   plugin   nbdkit -U - nbdkit-vhd-plugin.so file=IMG readonly=1   + nbdcopy
#   qemu-nbd qemu-nbd -r -f vpc|vhdx IMG on a Unix socket           + nbdcopy
#   cat      cat IMG > /dev/null (the raw read of the file, the limit)
#   nbdfile  nbdkit -r -U - file file=IMG                           + nbdcopy
#            (nbdkit's own file plugin serving the image file's bytes as
#            they are: what nbdkit and nbdcopy alone cost over cat, the
#            transport's limit for any plugin; a reference, no goal)
# The page cache is dropped before every run when we may (root); otherwise
# every run reads from a warm cache, which the output says.
# Prints median MiB/s (of file bytes) per path and the ratios the goal
# names: plugin/qemu-nbd >= 1.0 and plugin/cat >= 0.8.
#
# Usage: [BENCH_WARM=1] [BENCH_FORMAT=vhd|vhdx] [BENCH_BLOCK_SIZE=32M]
#        bench/read/bench-read.sh [BUILD_DIR] [ROUNDS] [ALLOC_GIB]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build}
rounds=${2:-5}
alloc_gib=${3:-3}
plugin=$build/plugin/nbdkit-vhd-plugin.so
timeit=$build/bench/timeit
for t in nbdkit nbdcopy qemu-nbd qemu-img "$plugin" "$timeit"; do
  command -v "$t" >/dev/null || [ -x "$t" ] || { echo "bench-read: missing $t" >&2; exit 1; }
done

work=${BENCH_DIR:-$top/bench/out/read}
mkdir -p "$work"
format=${BENCH_FORMAT:-vhd}
case $format in
  vhd) qfmt=vpc; opts=subformat=dynamic; img=$work/read.vhd ;;
  vhdx) qfmt=vhdx; bs=${BENCH_BLOCK_SIZE:-32M}
        opts=subformat=dynamic,block_size=$bs; img=$work/read-$bs.vhdx ;;
  *) echo "bench-read: BENCH_FORMAT is vhd or vhdx" >&2; exit 1 ;;
esac
if [ ! -f "$img" ]; then
  echo "making $img: ${alloc_gib} GiB of random data in an 8 GiB dynamic $format ($opts)"
  # Allocated blocks in the front part of the disk, holes after them.
  head -c $((alloc_gib << 30)) /dev/urandom > "$work/raw.img"
  truncate -s 8G "$work/raw.img"
  qemu-img convert -f raw -O "$qfmt" -o "$opts" "$work/raw.img" "$img.tmp"
  mv "$img.tmp" "$img"
  rm -f "$work/raw.img"
fi
file_bytes=$(stat -c %s "$img")

# BENCH_WARM=1 keeps the page cache: then the file is read from memory and
# the runs measure each path's CPU cost per byte rather than the disk.
drop=no
if [ "${BENCH_WARM:-0}" != 1 ] && [ "$(id -u)" = 0 ] && sync &&
   echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; then drop=yes; fi
dropcaches() { [ $drop = yes ] && sync && echo 3 > /proc/sys/vm/drop_caches || true; }

sock=$work/qemu-nbd.sock
run_plugin() {
  nbdkit -U - "$plugin" file="$img" readonly=1 --run 'nbdcopy "$uri" null:'
}
run_qemu_nbd() {
  rm -f "$sock"
  qemu-nbd -r -f "$qfmt" -k "$sock" --persistent "$img" & local pid=$!
  for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
  nbdcopy "nbd+unix:///?socket=$sock" null:
  kill $pid; wait $pid 2>/dev/null || true
}
run_cat() { cat "$img" > /dev/null; }
run_nbdfile() {
  nbdkit -r -U - file file="$img" --run 'nbdcopy "$uri" null:'
}

declare -A times
for r in $(seq "$rounds"); do
  for path in plugin qemu_nbd cat nbdfile; do
    dropcaches
    # Only the command's own wall time counts: timeit prints it on stderr.
    t=$( { "$timeit" -- bash -c "$(declare -f run_$path); img='$img' plugin='$plugin' sock='$sock' qfmt='$qfmt' run_$path" 2>&1 >/dev/null; } | sed -n 's/.*wall=\([0-9.]*\).*/\1/p' | tail -1)
    times[$path]+="$t "
    printf 'round %d %-8s %8.3f s\n' "$r" "$path" "$t"
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mib=$(awk -v b="$file_bytes" 'BEGIN{print b/1048576}')
echo
echo "file: $img ($format, $file_bytes bytes), rounds: $rounds, page cache dropped before each run: $drop"
printf '%-10s %10s %10s\n' path median_s MiB/s
declare -A rate
for path in plugin qemu_nbd cat nbdfile; do
  m=$(echo "${times[$path]}" | median)
  rate[$path]=$(awk -v mib="$mib" -v s="$m" 'BEGIN{printf "%.1f", mib/s}')
  printf '%-10s %10.3f %10s\n' "$path" "$m" "${rate[$path]}"
done
awk -v p="${rate[plugin]}" -v q="${rate[qemu_nbd]}" -v c="${rate[cat]}" -v f="${rate[nbdfile]}" 'BEGIN{
  printf "plugin / qemu-nbd = %.2f  (goal >= 1.0)\n", p/q;
  printf "plugin / cat      = %.2f  (goal >= 0.8)\n", p/c;
  printf "nbdfile / cat     = %.2f  (nbdkit-file-plugin + nbdcopy: the transport alone)\n", f/c;
  printf "plugin / nbdfile  = %.2f  (ours against the transport alone)\n", p/f }'
