#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Reading through the plugin gives the same bytes and the same size as
# qemu's vpc driver, for fixed and dynamic images of every shape that
# tests/data/make-images.sh makes (CHS-rounded and exact sizes, a short last
# block, block sizes from 4 KiB to 16 MiB, a sparse 200 GiB disk).
#
# Differencing images (only with $VHDCTL): qemu's vpc driver ignores the
# parent, so it cannot be the oracle; a fresh child, of any block size and
# at any depth, must read exactly as its root parent does through qemu.
#
# nbdcopy opens several connections (the plugin advertises multi-conn when
# read-only), so the shared image is read from parallel threads.

source "$(dirname "$0")/functions.sh"
requires qemu-img qemu-io nbdkit nbdcopy nbdinfo cmp awk
requires_env VHD_PLUGIN
make_tmpdir

"$datadir/make-images.sh" "$tmpdir" \
    dyn-10M dyn-100M3s dyn-1G dyn-empty-1G dyn-200G fixed-10M fixed-100M3s \
    dyn-bs4K dyn-bs512K dyn-bs16M > "$tmpdir/images"
mapfile -t images < "$tmpdir/images"

# check_read IMG REF_RAW: the plugin's view of IMG equals REF_RAW.
check_read ()
{
    local img=$1 ref=$2 out=$tmpdir/out.raw size
    rm -f -- "$out"
    size=$(serve "$img" readonly=1 \
               --run 'nbdinfo --size "$uri" && nbdcopy "$uri" '"$(printf %q "$out")")
    [[ $size = $(file_size "$ref") ]] ||
        fail "$(basename "$img"): exported size $size, expected $(file_size "$ref")"
    same_content "$out" "$ref" ||
        fail "$(basename "$img"): data read through the plugin differs from $(basename "$ref")"
    rm -f -- "$out"
}

for img in "${images[@]}"; do
    ref=$tmpdir/$(basename "$img" .vhd).ref.raw
    qemu-img convert -f vpc -O raw "$img" "$ref"
    [[ $(file_size "$ref") = $(vpc_virtual_size "$img") ]] ||
        fail "$(basename "$img"): qemu-img convert made $(file_size "$ref") bytes"
    check_read "$img" "$ref"
    echo "$testname: $(basename "$img"): OK ($(file_size "$ref") bytes)"
done

# The 200 GiB disk must still take only a few MiB of space.
used=$(du -k "$tmpdir/dyn-200G.vhd" | cut -f1)
(( used < 64 * 1024 )) || fail "dyn-200G.vhd uses $used KiB"

if ! have_env VHDCTL; then
    echo "$testname: differencing images skipped: \$VHDCTL not set" >&2
    exit 0
fi

# Fresh children read as the root parent: same block size, smaller and
# larger block sizes than the parent's, and a chain of two.
"$VHDCTL" create "$tmpdir/c-2M.vhd" --parent "$tmpdir/dyn-100M3s.vhd"
"$VHDCTL" create "$tmpdir/c-4K.vhd" --parent "$tmpdir/dyn-100M3s.vhd" --block-size 4096
"$VHDCTL" create "$tmpdir/c-8M.vhd" --parent "$tmpdir/dyn-100M3s.vhd" --block-size 8388608
"$VHDCTL" create "$tmpdir/c-chain.vhd" --parent "$tmpdir/c-4K.vhd" --block-size 524288
"$VHDCTL" create "$tmpdir/c-fixed.vhd" --parent "$tmpdir/fixed-100M3s.vhd" --block-size 1048576
for child in c-2M c-4K c-8M c-chain; do
    check_read "$tmpdir/$child.vhd" "$tmpdir/dyn-100M3s.ref.raw"
    echo "$testname: $child.vhd (differencing): OK"
done
check_read "$tmpdir/c-fixed.vhd" "$tmpdir/fixed-100M3s.ref.raw"
echo "$testname: c-fixed.vhd (differencing over fixed): OK"
