# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash disable=SC2034  # the variables are read by the tests
#
# The VHDX hooks of the compaction tests (compact-functions.sh: use_format;
# formats/vhd.sh documents each hook).  Blocks of $vhdx_block_size (1 MiB,
# WSL's, unless the test sets it: Hyper-V uses 32 MiB), placed on MiB
# boundaries; a block takes BlockSize bytes of the file (its sector bitmap,
# in a differencing disk, is a separate 1 MiB block per chunk), and the
# file ends with the last object (no footer).  Growable images are made by
# the independent builder (tests/tools/mkvhdx: blocks packed right after
# its tables, as the optimum formula needs; qemu-img leaves a 4 MiB gap);
# the facts come from `vhdctl info --json` (tables) and the BAT from the
# file's own bytes with od.

fmt_name=vhdx
fmt_suffix=vhdx
fmt_qemu_driver=vhdx
# Readers of the format other than ours and qemu's; python3 reads info --json.
fmt_tools="7zz vhdiinfo python3"
: "${vhdx_block_size:=1M}"

# The syncs that make the block copies durable before the BAT can point at
# them (test-compact-powercut.sh takes them out of its model, '|' between):
# the log entry's sync covers them too, before the header naming it (in
# the power log a sync is labelled by what it makes durable: "written").
fmt_copy_barriers="compact: copies synced|vhdx: log entry written"
# The syncs that make the BAT point at the copies durably, before a run in
# rounds punches their sources (test-compact-nospace.sh): the log batch's
# (entry, header naming it, pages in place, header clean) and the
# executor's own after it.
fmt_repoint_barriers="vhdx: log entry written|vhdx: header written|vhdx: log pages written|compact: moves synced"

# fmt_create_dynamic FILE SIZE: by qemu-img, with 2 MiB blocks as qemu's
# VHD (the tests that write into it count in those).
fmt_create_dynamic () { qemu-img create -q -f vhdx -o block_size=2M -- "$1" "$2"; }

# fmt_from_raw RAW FILE: every block of RAW holding a non-zero byte, in
# disk order, right after the tables.
fmt_from_raw ()
{
    "$MKVHDX" --block-size "$vhdx_block_size" --size "$(file_size "$1")" --from-raw "$1" "$2" ||
        fail "mkvhdx --from-raw $1"
}

# fmt_create_child FILE PARENT
fmt_create_child () { "$VHDCTL" create "$1" --parent "$2" >/dev/null; }

# fmt_geometry FILE: as formats/vhd.sh; img_first is the end of the
# header section, the log and every region, rounded up to 1 MiB (where the
# builder puts its first block, and where a compaction packs from);
# vhdx_bat, vhdx_entries, vhdx_cr: the BAT's offset, entry count and chunk
# ratio; vhdx_meta, vhdx_meta_len: the metadata region.
fmt_geometry ()
{
    local facts
    facts=$("$VHDCTL" info --json -- "$1" | python3 -c '
import json, sys
j = json.load(sys.stdin)
ends = [1 << 20, j["log"]["offset"] + j["log"]["length"]] + [r["offset"] + r["length"] for r in j["regions"]]
meta = [r for r in j["regions"] if r["name"] == "metadata"][0]
mib = 1 << 20
print(int(j["type"] == "differencing"), j["block-size"], j["blocks-total"], (max(ends) + mib - 1) // mib * mib,
      j["bat-offset"], j["bat-entries"], j["chunk-ratio"], meta["offset"], meta["length"])
') || fail "$1: vhdctl info --json failed"
    read -r img_child img_bs img_n img_first vhdx_bat vhdx_entries vhdx_cr vhdx_meta vhdx_meta_len <<<"$facts"
    img_stride=$img_bs
    img_tail=0
}

# fmt_allocated_blocks FILE: "INDEX FILE-OFFSET" of every FULLY_PRESENT or
# PARTIALLY_PRESENT payload block, by index (sector-bitmap entries, every
# (chunk ratio + 1)-th, are skipped).
fmt_allocated_blocks ()
{
    od -A n -v -t u8 --endian=little -j "$vhdx_bat" -N $(( vhdx_entries * 8 )) -- "$1" |
        tr -s ' ' '\n' | awk -v cr="$vhdx_cr" 'NF {
            s = $1 % 8; off = $1 - s
            if (i % (cr + 1) != cr && (s == 6 || s == 7)) printf "%d %.0f\n", i - int(i / (cr + 1)), off
            i++ }'
}

# fmt_same_structures ORIG NEW WHAT: the file identifier, both region
# tables and the metadata region are byte-identical (the headers, the log
# and the BAT change by design).
fmt_same_structures ()
{
    local orig=$1 new=$2 what=$3
    cmp -s -n $(( 64 << 10 )) -- "$orig" "$new" || fail "$what: the file identifier changed"
    cmp -s -n $(( 128 << 10 )) -i $(( 192 << 10 )):$(( 192 << 10 )) -- "$orig" "$new" ||
        fail "$what: a region table changed"
    cmp -s -n "$vhdx_meta_len" -i "$vhdx_meta:$vhdx_meta" -- "$orig" "$new" || fail "$what: the metadata changed"
}

# fmt_qemu_readable FILE COPY: the path qemu can read FILE's disk from.
# A file an interruption left may name a log in its headers (VHDX.md
# §3.4: every crash point is clean or replays to clean); qemu opens it
# read-only only once replayed ("contains a log that needs to be
# replayed"), so then FILE is copied to COPY and the copy repaired by
# `qemu-img check -r all`, which must replay the log (qemu counts it as
# one corruption), repair nothing else and leave a copy that checks clean.
fmt_qemu_readable ()
{
    local out
    if out=$(qemu-img check -q -f vhdx -- "$1" 2>&1); then
        echo "$1"
        return 0
    fi
    grep -q "contains a log that needs to be replayed" <<<"$out" ||
        { echo "$out" >&2; fail "$1: qemu-img check finds errors"; }
    cp -- "$1" "$2"
    out=$(qemu-img check -r all -f vhdx -- "$2" 2>&1) || { echo "$out" >&2; fail "$1: qemu-img check -r all fails"; }
    if ! grep -q "^ *0 leaked clusters" <<<"$out" || ! grep -q "^ *1 corruptions" <<<"$out"; then
        echo "$out" >&2
        fail "$1: qemu-img check -r all repaired more than the log"
    fi
    qemu-img check -q -f vhdx -- "$2" || fail "$1: replayed by qemu-img, it does not check clean"
    echo "$2"
}

# fmt_other_readers FILE WHAT (fmt_geometry FILE first): libvhdi opens it,
# 7-Zip's test passes; and, qemu reading no differencing VHDX, for a
# growable one: qemu-img check is clean, and 7-Zip extracts exactly what
# qemu-img convert reads.  7-Zip does not replay a log ("non-empty LOG was
# not replayed"): a file that names one is read, by 7-Zip and qemu, as
# qemu-img check -r all replays it (fmt_qemu_readable).
fmt_other_readers ()
{
    local x=$tmpdir/7zx f=$1
    vhdiinfo "$f" >/dev/null || fail "$2: vhdiinfo cannot open it"
    if (( img_child )); then
        7zz t -tvhdx -- "$f" >/dev/null || fail "$2: 7-Zip's test fails"
        return 0
    fi
    f=$(fmt_qemu_readable "$1" "$tmpdir/replayed.vhdx")
    7zz t -tvhdx -- "$f" >/dev/null || fail "$2: 7-Zip's test fails"
    rm -rf -- "$x" "$x.raw"
    7zz x -y -tvhdx -o"$x" -- "$f" >/dev/null || fail "$2: 7-Zip cannot extract it"
    qemu-img convert -f vhdx -O raw -- "$f" "$x.raw" || fail "$2: qemu-img cannot read it"
    cmp -s -- "$x"/* "$x.raw" || fail "$2: 7-Zip and qemu-img read different disks"
    rm -rf -- "$x" "$x.raw" "$tmpdir/replayed.vhdx"
}

# fmt_fault_points MOVED: the fault points of a compaction of a dynamic
# disk that drops blocks whose entries share one BAT page and moves MOVED
# blocks whose entries do too (lib/compact/move.c, lib/vhdx/compact-commit.c,
# write.c's log batch, header.c's update): the headers (FileWriteGuid),
# the drops through the log, the copies, the moves through the log, both
# headers clean, the truncation.
fmt_fault_points ()
{
    local i
    _vhdx_header () { printf '%s\n' "vhdx: header written" "vhdx: header synced"; }
    _vhdx_batch ()
    {
        printf '%s\n' "vhdx: log entry written" "vhdx: log entry synced"
        _vhdx_header
        printf '%s\n' "vhdx: log page written" "vhdx: log pages synced"
        _vhdx_header
        echo "compact: BAT written"
    }
    _vhdx_header; _vhdx_header
    _vhdx_batch
    echo "compact: drops synced"
    if (( $1 > 0 )); then
        for (( i = 0; i < $1; i++ )); do echo "compact: block copied"; done
        echo "compact: copies synced"
        _vhdx_batch
        echo "compact: moves synced"
    fi
    _vhdx_header
    printf '%s\n' "compact: footer synced" "compact: truncated"
}
