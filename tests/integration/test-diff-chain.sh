#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# A three-level chain: a qemu-img parent, a child and a grandchild made by
# `vhdctl create` and written through nbdkit-vhd-plugin.  Independent
# oracles:
#   - the merged view through the plugin equals a raw reference to which
#     every write was applied (qemu-io on a raw file);
#   - libvhdi's vhdimount (FUSE) serves the same merged view of the child;
#   - qemu-img, which reads a differencing VHD as if it had no parent and
#     ignores sector bitmaps, sees exactly the sectors the grandchild's own
#     writes touched, and zeros elsewhere: our write path copied nothing
#     else from the parents;
#   - vhdiinfo opens every file, vhdctl check finds them clean, and writing a
#     child never changes its parent;
#   - a missing parent, or a different disk under the parent's name, is refused.
set -euo pipefail
. "$(dirname "$0")/functions.sh"
requires qemu-img qemu-io nbdkit nbdcopy vhdiinfo cmp sha256sum

d=$(make_tmpdir)
par=$d/parent.vhd c1=$d/child.vhd c2=$d/grandchild.vhd ref=$d/ref.raw
size=$((48 << 20))

qemu-img create -q -f vpc -o subformat=dynamic "$par" $size
vsize=$(qemu-img info --output=json "$par" | sed -n 's/.*"virtual-size": \([0-9]*\).*/\1/p')
truncate -s "$vsize" "$ref"

# write IMG_OR_URI FORMAT PATTERN OFFSET LENGTH, on the image and the reference alike
w_parent() { qemu-io -f vpc -c "write -P $1 $2 $3" "$par" >/dev/null
             qemu-io -f raw -c "write -P $1 $2 $3" "$ref" >/dev/null; }
w_plugin() { local img=$1; shift
             serve "$img" --run "qemu-io -f raw -c 'write -P $1 $2 $3' \"\$uri\" >/dev/null"
             qemu-io -f raw -c "write -P $1 $2 $3" "$ref" >/dev/null; }

w_parent 0x11 0 3M
w_parent 0x22 $((9 << 20)) 5M
w_parent 0x33 $((40 << 20)) 1M

"$VHDCTL" create "$c1" --parent "$par"
par_sum=$(sha256sum < "$par")
w_plugin "$c1" 0x44 $((1 << 20)) 4096          # inside a parent block
w_plugin "$c1" 0x55 $((20 << 20)) $((3 << 20)) # over unallocated parent space

# libvhdi is an independent reader of the merged view, within two limits of
# version 20210425 (both against the specification, which we follow): it
# reads a child's sector bitmap a byte (4 KiB) at a time, and in a chain of
# three it returns zeros for the middle image's clear-bit sectors.  So it
# checks the child while every write to it is 4 KiB-aligned.
if [ -e /dev/fuse ] && command -v vhdimount >/dev/null && command -v fusermount >/dev/null; then
  echo "merged view of the child through libvhdi's vhdimount"
  mkdir "$d/mnt"
  vhdimount "$c1" "$d/mnt" >/dev/null
  # vhdimount numbers the chain from the root: the last file is the merged child.
  merged=$(ls "$d/mnt" | sort -V | tail -n 1)
  [ "$merged" = vhdi2 ] || { fusermount -u "$d/mnt"; fail "vhdimount shows $merged, expected two images"; }
  cmp "$d/mnt/$merged" "$ref" || { fusermount -u "$d/mnt"; fail "vhdimount's merged view differs from the reference"; }
  fusermount -u "$d/mnt"
else
  echo "skipping the vhdimount oracle: no FUSE here"
fi

w_plugin "$c1" 0x66 $(((12 << 20) + 300)) 700  # partial sectors over parent data
[ "$(sha256sum < "$par")" = "$par_sum" ] || fail "writing the child changed the parent"

"$VHDCTL" create "$c2" --parent "$c1" --block-size $((512 << 10))
c1_sum=$(sha256sum < "$c1")
own=$d/own.raw
truncate -s "$vsize" "$own"
c2_writes=(
  "0x77 $(((1 << 20) + 1000)) 5000"
  "0x78 $(((12 << 20) + 100)) 100"
  "0x79 $(((2 << 20) - 512)) 1536"
  "0x7a $((47 << 20)) $((1 << 20))"
)
for wr in "${c2_writes[@]}"; do
  set -- $wr
  w_plugin "$c2" "$1" "$2" "$3"
done
[ "$(sha256sum < "$c1")" = "$c1_sum" ] || fail "writing the grandchild changed the child"

# The grandchild's own sectors: every sector a write touched, as merged now.
for wr in "${c2_writes[@]}"; do
  set -- $wr
  s0=$(($2 / 512)) s1=$((($2 + $3 + 511) / 512))
  dd if="$ref" of="$own" bs=512 skip=$s0 seek=$s0 count=$((s1 - s0)) conv=notrunc status=none
done

echo "merged view through the plugin"
serve "$c2" readonly=1 --run "nbdcopy \"\$uri\" $d/merged.raw"
cmp "$d/merged.raw" "$ref" || fail "plugin's merged view differs from the reference"

echo "qemu-img's view of the grandchild alone"
qemu-img convert -f vpc -O raw "$c2" "$d/qemu.raw"
cmp "$d/qemu.raw" "$own" || fail "grandchild holds bytes outside the sectors it wrote"

for f in "$par" "$c1" "$c2"; do
  vhdiinfo "$f" >/dev/null || fail "vhdiinfo cannot read $f"
  "$VHDCTL" check "$f" >/dev/null || fail "vhdctl check: $f has problems"
done
"$VHDCTL" info --json "$c2" | grep -q '"file": "'"$d"'/parent.vhd"' || \
  "$VHDCTL" info --json "$c2" | grep -q 'parent.vhd' || fail "info does not show the chain"

# compact_refused FILE ID: `vhdctl compact` of FILE, in every mode and as a
# dry run, exits 1 with one line naming FILE and ID, and no file of the
# chain changes (compared byte for byte).
compact_refused ()
{
    local f=$1 id=$2 mode dry rc g
    local -a files=("$c1" "$c2")
    [[ -e $par ]] && files+=("$par")
    for g in "${files[@]}"; do cp -- "$g" "$g.before"; done
    for mode in full fs zero; do
      for dry in "" --dry-run; do
        rc=0
        vhdctl_attaching compact --local --no-progress --mode "$mode" $dry "$f" >"$d/out" 2>"$d/err" || rc=$?
        [[ $rc = 1 ]] || { cat "$d/err" >&2; fail "compact --mode $mode $dry $f: exit status $rc, expected 1"; }
        [[ ! -s $d/out && $(wc -l < "$d/err") = 1 ]] ||
          { cat "$d/out" "$d/err" >&2; fail "compact --mode $mode $dry $f: expected one line on stderr, nothing else"; }
        grep -qF "vhdctl: '$f': $id: " "$d/err" ||
          { cat "$d/err" >&2; fail "compact --mode $mode $dry $f: expected $id"; }
        for g in "${files[@]}"; do
          cmp -s -- "$g" "$g.before" || fail "compact --mode $mode $dry $f: $g changed"
        done
      done
    done
    for g in "${files[@]}"; do rm -f -- "$g.before"; done
    echo "compact $f: refused in every mode: $(cat "$d/err")"
}

echo "a missing parent is refused"
mv "$par" "$d/elsewhere.vhd"
compact_refused "$c1" parent-not-found
compact_refused "$c2" parent-not-found
if "$VHDCTL" info "$c2" 2>"$d/err"; then fail "info succeeded without the parent"; fi
grep -q 'parent-not-found' "$d/err" || fail "no parent-not-found: $(cat "$d/err")"
if serve "$c2" readonly=1 --run true 2>"$d/err"; then fail "plugin served a child without parent"; fi
grep -q 'parent-not-found' "$d/err" || fail "plugin did not say parent-not-found: $(cat "$d/err")"

echo "another disk under the parent's name is refused"
qemu-img create -q -f vpc -o subformat=dynamic "$par" $size
if "$VHDCTL" info "$c2" 2>"$d/err"; then fail "info accepted an impostor parent"; fi
grep -q 'parent-mismatch' "$d/err" || fail "no parent-mismatch: $(cat "$d/err")"
compact_refused "$c1" parent-mismatch
compact_refused "$c2" parent-mismatch
echo ok
