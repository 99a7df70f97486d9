#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# A compaction interrupted at any fault point, then run again, ends where
# an uninterrupted run ends (issue 12 item 14), on the layout that broke
# it: a differencing child made by `vhdctl create` (its two parent locators
# right after the BAT, their data space in bytes, as Windows writes them)
# whose first block, the one right after the locators, is dropped.  Once
# its release was durable, a run after the interruption used to bound the
# locators' space by the next allocated block, no longer counted that slot
# as free and ended one block larger.
#
# The child's blocks are written through the plugin: zeros at block 0
# first (so it lies right after the locators), data in blocks 1 to 6; the
# parent is empty, so --mode zero drops block 0 and moves block 6 into its
# place.  For every fault point n (VHDCOMPACT_FAULT_AT): the run exits 86,
# the child checks clean and reads as before, and the next run ends at the
# uninterrupted run's size, reading the same.
set -euo pipefail
. "$(dirname "$0")/functions.sh"
requires qemu-img qemu-io nbdkit nbdcopy cmp
requires_env VHDCTL VHD_PLUGIN
make_tmpdir
. "$(dirname "$0")/compact-functions.sh"
d=$tmpdir

mkdir -- "$d/chain"
par=$d/chain/parent.vhd child=$d/chain/child.vhd
fmt_create_dynamic "$par" 64M
fmt_create_child "$child" "$par"
cmds=(-c "'write -q -P 0 0 2M'")
for b in 1 2 3 4 5 6; do cmds+=(-c "'write -q -P $((0x40 + b)) $((b * 2 * MIB)) $((2 * MIB))'"); done
serve "$child" --run "qemu-io -f raw ${cmds[*]} \"\$uri\"" > /dev/null
cp -- "$child" "$d/orig.vhd"
img_to_raw "$child" "$d/orig.raw"

compact () { vhdctl_attaching compact --local --no-progress --mode zero "$@"; }

compact --json "$child" > "$d/ref.json"
optimum=$(file_size "$child")
(( $(json_num blocks-moved < "$d/ref.json") == 1 )) || fail "test setup: one block should move into block 0's place"
img_to_raw "$child" "$d/ref.raw"
cmp -s "$d/orig.raw" "$d/ref.raw" || fail "the uninterrupted run changed the content"

n=1 failures=()
while true; do
    cp -- "$d/orig.vhd" "$child"
    rc=0; VHDCOMPACT_FAULT_AT=$n compact "$child" > /dev/null 2> "$d/err" || rc=$?
    (( rc != 0 )) || break
    [[ $rc = 86 ]] || { cat "$d/err" >&2; fail "fault point $n: exit status $rc, expected 86"; }
    point=$(sed -n "s/^vhdcompact: fault point $n (\(.*\)): exiting$/\1/p" "$d/err")
    what="fault point $n ($point)"
    "$VHDCTL" check "$child" > /dev/null || { "$VHDCTL" check "$child" >&2 || :; fail "$what: check"; }
    img_to_raw "$child" "$d/now.raw"
    cmp -s "$d/orig.raw" "$d/now.raw" || fail "$what: the content changed"
    compact "$child" > /dev/null 2> "$d/err" || { cat "$d/err" >&2; fail "$what: the run after it failed"; }
    size=$(file_size "$child")
    if [[ $size = "$optimum" ]]; then
        echo "ok   $what: the next run ends at $size bytes"
    else
        echo "FAIL $what: the next run ends at $size bytes, an uninterrupted run at $optimum"
        failures+=("$n")
    fi
    img_to_raw "$child" "$d/now.raw"
    cmp -s "$d/ref.raw" "$d/now.raw" || fail "$what: after the next run the content differs"
    n=$(( n + 1 ))
    (( n < 100 )) || fail "the run never completes"
done
(( ${#failures[@]} == 0 )) || fail "${#failures[@]} of $(( n - 1 )) fault points end larger: ${failures[*]}"
echo "all $(( n - 1 )) fault points: the next run ends at $optimum bytes"
