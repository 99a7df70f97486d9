# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash disable=SC2034  # the variables are read by the tests
#
# The VHD hooks of the compaction tests (compact-functions.sh: use_format).
# Everything a test does that depends on the image format goes through
# these; a second format is a file like this one and a word in
# $image_formats.  The facts come from `vhdctl info --json`, except the BAT
# entries, which are read from the file's own bytes with od, so that which
# blocks are allocated, and where, never depends on our parser.

fmt_name=vhd
fmt_suffix=vhd
fmt_qemu_driver=vpc
# Readers of the format other than ours and qemu's.
fmt_tools="vhdiinfo"

# The syncs that make the block copies durable before the BAT can point at
# them (test-compact-powercut.sh takes them out of its model, '|' between).
fmt_copy_barriers="compact: copies synced"
# The syncs that make the BAT point at the copies durably, before a run in
# rounds punches their sources (test-compact-nospace.sh).
fmt_repoint_barriers="compact: moves synced"

# fmt_create_dynamic FILE SIZE: an empty growable image.
fmt_create_dynamic () { qemu-img create -q -f vpc -o subformat=dynamic -- "$1" "$2"; }

# fmt_from_raw RAW FILE: a growable image holding RAW's content, its blocks
# packed in the order of the disk.
fmt_from_raw () { qemu-img convert -f raw -O vpc -o subformat=dynamic -- "$1" "$2"; }

# fmt_create_child FILE PARENT: an empty differencing image over PARENT.
fmt_create_child () { "$VHDCTL" create "$1" --parent "$2" >/dev/null; }

# fmt_geometry FILE: img_child (1 for a differencing image), img_bs (block
# size), img_n (blocks of the disk), img_stride (bytes a block takes in the
# file: sector bitmap and data), img_first (where an image packed by its
# maker has its first block: after the header, the BAT rounded to a sector
# and, in a child made by `vhdctl create`, two 512-byte parent locators),
# img_tail (bytes after the last block: the footer).  VHD only: vhd_table,
# the BAT's offset, for the tests that corrupt it.
fmt_geometry ()
{
    local json
    json=$("$VHDCTL" info --json -- "$1") || fail "$1: vhdctl info failed"
    img_child=0
    [[ $(json_str type <<<"$json") = differencing ]] && img_child=1
    img_bs=$(json_num block-size <<<"$json")
    img_n=$(json_num blocks-total <<<"$json")
    vhd_table=$(json_num bat-offset <<<"$json")
    img_stride=$(( ((img_bs / 512 + 7) / 8 + 511) / 512 * 512 + img_bs ))
    img_first=$(( vhd_table + (img_n * 4 + 511) / 512 * 512 + img_child * 1024 ))
    img_tail=512
}

# fmt_allocated_blocks FILE: "INDEX FILE-OFFSET" of every allocated block,
# by index (fmt_geometry FILE first).
fmt_allocated_blocks ()
{
    od -A n -v -t u4 --endian=big -j "$vhd_table" -N $(( img_n * 4 )) -- "$1" |
        tr -s ' ' '\n' | awk 'NF { if ($1 != 4294967295) printf "%d %.0f\n", i, $1 * 512; i++ }'
}

# fmt_same_structures ORIG NEW WHAT: after a compaction of ORIG into NEW
# (fmt_geometry NEW first), everything but the blocks and the BAT is
# byte-identical: the footer copy, the dynamic header, the parent locators
# and the footer.
fmt_same_structures ()
{
    local orig=$1 new=$2 what=$3 bat_end
    bat_end=$(( vhd_table + (img_n * 4 + 511) / 512 * 512 ))
    cmp -s -n "$vhd_table" -- "$orig" "$new" || fail "$what: the footer copy or the dynamic header changed"
    cmp -s -n $(( img_first - bat_end )) -i "$bat_end:$bat_end" -- "$orig" "$new" ||
        fail "$what: the parent locators changed"
    cmp -s -n 512 -i "$(( $(file_size "$orig") - 512 )):$(( $(file_size "$new") - 512 ))" -- "$orig" "$new" ||
        fail "$what: the footer is not byte-identical"
}

# fmt_qemu_readable FILE COPY: the path qemu can read FILE's disk from
# (FILE itself: a VHD needs no repair before qemu reads it; a format with
# a log may need COPY, a replayed copy).
fmt_qemu_readable () { echo "$1"; }

# fmt_other_readers FILE WHAT: readers that are not ours open FILE.
fmt_other_readers ()
{
    qemu-img info -f vpc -- "$1" >/dev/null || fail "$2: qemu-img info cannot open it"
    vhdiinfo "$1" >/dev/null || fail "$2: vhdiinfo cannot open it"
}

# fmt_fault_points MOVED: the fault points of one compaction that moves
# MOVED blocks, in order (lib/compact/move.c, lib/vhd/commit.c).
fmt_fault_points ()
{
    local i
    echo "compact: BAT written"
    echo "compact: drops synced"
    for (( i = 0; i < $1; i++ )); do echo "compact: block copied"; done
    printf '%s\n' "compact: copies synced" "compact: BAT written" "compact: moves synced" \
        "compact: footer written" "compact: footer synced" "compact: truncated"
}
