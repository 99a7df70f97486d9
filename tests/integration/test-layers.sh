#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The build enforces the layers of lib/ (issue 13, item 5; lib/meson.build,
# lib/check-layers.py):
# - the tree as it is passes lib/check-layers.py;
# - a copy of the tree where lib/vhd (the image layer) includes
#   "../compact/plan.h", or the plugin includes "fs/ntfs.h", or lib/util
#   names <liburing.h>, fails the check, naming the file and line;
# - compiled with the image library's include root (include-image/ in the
#   build tree), "vhd/vhd.h" and "util/macro.h" are found and
#   "compact/plan.h" and "fs/ntfs.h" are not;
# - the plugin is linked from the image library alone: none of the
#   engine's functions (compaction, file systems, attach) is in it.
set -euo pipefail
. "$(dirname "$0")/functions.sh"
requires python3 nm
requires_env TOP_SRCDIR TOP_BUILDDIR
[[ -n ${VHD_CC:-} ]] || skip "\$VHD_CC is not set (run the test through meson test)"
make_tmpdir
d=$tmpdir
check=$TOP_SRCDIR/lib/check-layers.py

echo "== the tree"
python3 "$check" "$TOP_SRCDIR" || fail "the tree does not pass check-layers.py"

echo "== includes across the line"
# violate FILE LINE PATTERN: copy lib/ and plugin/, append LINE to FILE,
# and expect the check to fail with PATTERN (FILE:N).
violate ()
{
  local file=$1 line=$2 pattern=$3 out
  rm -rf "$d/tree"
  mkdir "$d/tree"
  cp -r "$TOP_SRCDIR/lib" "$TOP_SRCDIR/plugin" "$d/tree/"
  printf '%s\n' "$line" >> "$d/tree/$file"
  if out=$(python3 "$check" "$d/tree" 2>&1); then
    fail "check-layers.py passed with '$line' in $file"
  fi
  [[ $out = *"$file:"*"$pattern"* ]] || fail "check-layers.py on '$line' in $file: $out"
  echo "refused: ${out#check-layers: }"
}
violate lib/vhd/footer.c '#include "../compact/plan.h"' 'lib/compact/plan.h, outside the image layer'
violate lib/util/log.c '#include "fs/ntfs.h"' 'lib/fs/ntfs.h, outside the image layer'
violate plugin/vhd.c '#include "compact/compact.h"' 'lib/compact/compact.h, outside the image layer'
violate plugin/vhd.c '#include "analyze.h"' 'lib/analyze.h, outside the image layer'
violate lib/util/fd-util.c '#include <liburing.h>' "<liburing.h> is the engine's"

echo "== the image library's include root"
root=$TOP_BUILDDIR/lib/include-image
[[ -d $root ]] || fail "no include root $root"
compiles () { printf '#include "%s"\n' "$1" > "$d/x.c"; $VHD_CC -fsyntax-only -D_GNU_SOURCE -I"$root" -I"$TOP_BUILDDIR" "$d/x.c" 2>/dev/null; }
for h in vhd/vhd.h util/macro.h util/problem.h; do
  compiles "$h" || fail "$h is not found under the image library's include root"
done
for h in compact/plan.h fs/ntfs.h analyze.h attach.h; do
  if compiles "$h"; then fail "$h is found under the image library's include root"; fi
done
echo "include root: the image layer's headers only"

echo "== the plugin links the image library alone"
if have_env VHD_PLUGIN; then
  syms=$(nm -a "$VHD_PLUGIN" 2>/dev/null) || fail "nm $VHD_PLUGIN"
  grep -q ' vhd_image_open' <<<"$syms" || fail "the plugin has no vhd_image_open: nm sees no symbols?"
  for s in compact_run vc_attach vc_analyze vc_partition_table_read ntfs_ nbd_ io_uring_; do
    if grep -q " $s" <<<"$syms"; then fail "the plugin holds $s (the engine's)"; fi
  done
  echo "plugin: no engine code"
fi
