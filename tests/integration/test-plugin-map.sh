#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Extents: the plugin reports holes exactly where the VHD has unallocated
# blocks, as qemu's vpc driver sees them (`qemu-img map`), and data
# everywhere in a fixed image.  Two NBD clients ask: nbdinfo --map (whole
# ranges) and qemu-img map over NBD (qemu sets NBD_CMD_FLAG_REQ_ONE, so the
# plugin's one-extent path is used).
#
# Differencing images (only with $VHDCTL): qemu maps a child as if it had
# no parent, so the expected map of a child is the union of the data of
# every image in its chain, each mapped by qemu on its own.

source "$(dirname "$0")/functions.sh"
requires qemu-img qemu-io nbdkit nbdinfo awk sort
requires_env VHD_PLUGIN
make_tmpdir


"$datadir/make-images.sh" "$tmpdir" \
    dyn-10M dyn-100M3s dyn-1G dyn-empty-1G dyn-200G fixed-10M fixed-100M3s \
    dyn-bs4K dyn-bs512K dyn-bs16M diff-10M diff-bs512K diff-chain > "$tmpdir/images"
mapfile -t images < "$tmpdir/images"

# union_ranges SIZE FILE...: data wherever any FILE says data, else hole.
union_ranges ()
{
    local size=$1
    shift
    awk '$3 == "data" { printf "%.0f %.0f\n", $1, $1 + $2 }' "$@" | sort -n -k1,1 |
        awk -v size="$size" '
            function out(a, b, k) { if (b > a) printf "%.0f %.0f %s\n", a, b - a, k }
            have && $1 <= e { if ($2 > e) e = $2; next }
            {
                if (have) out(s, e, "data")
                out(have ? e : 0, $1, "hole")
                s = $1; e = $2; have = 1
            }
            END {
                if (have) { out(s, e, "data"); out(e, size, "hole") }
                else out(0, size, "hole")
            }' |
        merge_ranges
}

compare_maps ()
{
    local what=$1 expected=$2 actual=$3
    if ! diff -u "$expected" "$actual" > "$tmpdir/map.diff"; then
        cat "$tmpdir/map.diff" >&2
        fail "$what"
    fi
}

declare -A parent_of=([diff-10M]=dyn-10M [diff-bs512K]=dyn-100M3s [diff-chain]=diff-10M)

for img in "${images[@]}"; do
    name=$(basename "$img" .vhd)
    size=$(vpc_virtual_size "$img")
    expected=$tmpdir/$name.expected
    if [[ -n "${parent_of[$name]:-}" ]]; then
        chain=()
        n=$name
        while [[ -n "$n" ]]; do
            qemu_map_ranges "$tmpdir/$n.vhd" > "$tmpdir/$n.qmap"
            chain+=("$tmpdir/$n.qmap")
            n=${parent_of[$n]:-}
        done
        union_ranges "$size" "${chain[@]}" > "$expected"
    else
        qemu_map_ranges "$img" > "$expected"
    fi
    # Sanity: the images are meant to have both, except the empty and fixed ones.
    case $name in
    dyn-empty-* | fixed-*) ;;
    *) { grep -q " hole$" "$expected" && grep -q " data$" "$expected"; } ||
           fail "$name: expected map has no holes or no data: $(cat "$expected")" ;;
    esac

    serve "$img" readonly=1 \
        --run 'nbdinfo --map "$uri"' > "$tmpdir/$name.nbdinfo"
    nbdinfo_ranges < "$tmpdir/$name.nbdinfo" > "$tmpdir/$name.nmap"
    compare_maps "$name: nbdinfo --map through the plugin differs from qemu-img map" \
        "$expected" "$tmpdir/$name.nmap"
    # Every hole must also read as zero (NBD_STATE_ZERO, type 3).
    awk '($3 % 2) && $3 != 3 { bad = 1 } END { exit bad }' "$tmpdir/$name.nbdinfo" ||
        fail "$name: a hole is not marked zero"

    serve "$img" readonly=1 \
        --run 'qemu-img map -f raw --output=json "$uri"' |
        qemu_json_ranges > "$tmpdir/$name.qnbdmap"
    compare_maps "$name: qemu-img map over NBD (REQ_ONE) differs from qemu-img map" \
        "$expected" "$tmpdir/$name.qnbdmap"

    echo "$testname: $name.vhd: OK ($(grep -c ' hole$' "$expected") holes," \
         "$(grep -c ' data$' "$expected") data runs)"
done

if ! have_env VHDCTL; then
    echo "$testname: differencing images skipped: \$VHDCTL not set" >&2
fi
