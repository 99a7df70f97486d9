#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# A compaction interrupted at any fault point, then run again, ends where
# an uninterrupted run ends (issue 12 item 14; issue 15 item 5 for VHDX),
# on the layout that broke it: a differencing child made by `vhdctl
# create` (in a VHD, its two parent locators right after the BAT, their
# data space in bytes, as Windows writes them) whose first block, the one
# right after the locators, is dropped.  Once its release was durable, a
# run after the interruption used to bound the locators' space by the next
# allocated block, no longer counted that slot as free and ended one block
# larger.  And the same on a dynamic disk written by qemu-io.
#
# The child's blocks are written through the plugin: zeros at block 0
# first (so it lies right after the locators), data in blocks 1 to 6; the
# parent is empty, so --mode zero drops block 0 and moves block 6 into its
# place (in a VHDX child, block 0's sector-bitmap block goes too: no block
# of its chunk is partly present).  For every fault point n
# (VHDCOMPACT_FAULT_AT): the run exits 86, the disk checks clean and reads
# as before, and the next run ends at the uninterrupted run's size,
# reading the same.
#
# Once per image format of $image_formats (compact-functions.sh; here
# VHD, or the formats of VHDCOMPACT_TEST_FORMATS: test-vhdx-compact-
# resume.sh runs it for VHDX).
set -euo pipefail
. "$(dirname "$0")/functions.sh"
requires qemu-img qemu-io nbdkit nbdcopy cmp
requires_env VHDCTL VHD_PLUGIN
make_tmpdir
. "$(dirname "$0")/compact-functions.sh"
image_formats=${VHDCOMPACT_TEST_FORMATS:-vhd}
requires_formats

compact () { vhdctl_attaching compact --local --no-progress --mode zero "$@"; }

# interrupted NAME IMAGE: IMAGE (its content written) interrupted at every
# fault point of a run, each then run again.
interrupted ()
{
    local name=$1 img=$2 n=1 failures=() optimum point what size
    local -A seen=()
    cp -- "$img" "$d/$name.orig"
    img_to_raw "$img" "$d/orig.raw"

    compact --json "$img" > "$d/ref.json"
    optimum=$(file_size "$img")
    (( $(json_num blocks-moved < "$d/ref.json") >= 1 )) || fail "test setup: $name: a block should move into block 0's place"
    img_to_raw "$img" "$d/ref.raw"
    cmp -s "$d/orig.raw" "$d/ref.raw" || fail "$name: the uninterrupted run changed the content"

    while true; do
        # A new file each time: a crashed run's ring may still be ending.
        rm -f -- "$img"
        cp -- "$d/$name.orig" "$img"
        rc=0; VHDCOMPACT_FAULT_AT=$n compact "$img" > /dev/null 2> "$d/err" || rc=$?
        (( rc != 0 )) || break
        [[ $rc = 86 ]] || { cat "$d/err" >&2; fail "$name: fault point $n: exit status $rc, expected 86"; }
        point=$(sed -n "s/^vhdcompact: fault point $n (\(.*\)): exiting$/\1/p" "$d/err")
        what="$name: fault point $n ($point)"
        # Before any reader that locks (qemu-img, the plugin): the crashed
        # process's file lives on until the kernel has torn its ring down.
        wait_unlocked "$img" || fail "$what: the image stays locked after the crash"
        "$VHDCTL" check "$img" > /dev/null || { "$VHDCTL" check "$img" >&2 || :; fail "$what: check"; }
        # The content as the interruption left it (the crash tests' subject):
        # at every point for VHD and with VHDCOMPACT_SLOW_TESTS=1, else at
        # the first point of each name (VHDX has three times VHD's points).
        if [[ $fmt_name = vhd || ${VHDCOMPACT_SLOW_TESTS:-0} = 1 || -z ${seen[$point]:-} ]]; then
            img_to_raw "$img" "$d/now.raw"
            cmp -s "$d/orig.raw" "$d/now.raw" || fail "$what: the content changed"
        fi
        seen[$point]=1
        compact "$img" > /dev/null 2> "$d/err" || { cat "$d/err" >&2; fail "$what: the run after it failed"; }
        size=$(file_size "$img")
        if [[ $size = "$optimum" ]]; then
            echo "ok   $what: the next run ends at $size bytes"
        else
            echo "FAIL $what: the next run ends at $size bytes, an uninterrupted run at $optimum"
            failures+=("$n")
        fi
        img_to_raw "$img" "$d/now.raw"
        cmp -s "$d/ref.raw" "$d/now.raw" || fail "$what: after the next run the content differs"
        n=$(( n + 1 ))
        (( n < 200 )) || fail "$name: the run never completes"
    done
    (( ${#failures[@]} == 0 )) || fail "$name: ${#failures[@]} of $(( n - 1 )) fault points end larger: ${failures[*]}"
    echo "$name: all $(( n - 1 )) fault points: the next run ends at $optimum bytes"
}

scenario ()
{
    local par child cmds b
    echo "== $fmt_name: a differencing child"
    mkdir -- "$d/chain"
    par=$d/chain/parent.$fmt_suffix child=$d/chain/child.$fmt_suffix
    fmt_create_dynamic "$par" 64M
    fmt_create_child "$child" "$par"
    cmds=(-c "'write -q -P 0 0 2M'")
    for b in 1 2 3 4 5 6; do cmds+=(-c "'write -q -P $((0x40 + b)) $((b * 2 * MIB)) $((2 * MIB))'"); done
    serve "$child" --run "qemu-io -f raw ${cmds[*]} \"\$uri\"" > /dev/null
    interrupted "$fmt_name-child" "$child"

    echo "== $fmt_name: a dynamic disk"
    fmt_create_dynamic "$d/dyn.$fmt_suffix" 64M
    cmds=(-c "write -q -P 0 0 2M")
    for b in 1 2 3 4 5 6; do cmds+=(-c "write -q -P $((0x40 + b)) $((b * 2 * MIB)) $((2 * MIB))"); done
    qemu-io -f "$fmt_qemu_driver" "${cmds[@]}" "$d/dyn.$fmt_suffix" > /dev/null
    interrupted "$fmt_name-dyn" "$d/dyn.$fmt_suffix"
}

for_each_format scenario
echo "all cases passed"
