#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# `vhdctl compact` under power cuts.  A kill -9 (test-compact-crash.sh)
# keeps the page cache; a power cut keeps only what the last
# fsync/fdatasync made durable, plus any subset of the writes since, each
# possibly torn at 4 KiB, and a truncate not yet synced may or may not
# have happened.
#
# For each disk of test-compact-crash.sh (a dynamic disk holding NTFS with
# deleted files; a differencing child whose volume was changed) and each
# mode (full, fs, zero), one run is logged (VHDCOMPACT_TEST_POWER_LOG,
# lib/util/fault.h): every write with its data, every truncate and every
# sync, in order.  Replaying the whole log over the original must give the
# file the run left: no write escapes the log.  Then `powercut apply`
# (tests/lib/powercut.h) builds the file a power cut leaves at a point of
# the log, and the checks of test-compact-crash.sh follow
# (verify_interruption, compact-functions.sh):
#   - `vhdctl check` is clean; qemu-img and vhdiinfo open it (dynamic);
#   - the disk reads as before, or as the uninterrupted run, or differs
#     only in blocks the mode may drop ('F' blocks in modes full and fs),
#     which read as zeros (or as the parent); ntfsclone's image of the
#     volume is unchanged;
#   - a normal run then ends at the size of the uninterrupted run, checks
#     clean, and reads exactly as the uninterrupted run.
#
# Cuts: right before a barrier (everything since the previous one
# pending) and at a random record.  CI: two per disk and mode.  With
# VHDCOMPACT_SLOW_TESTS=1: before every barrier with two seeds, right
# after it, and six random records.  Each cut has its own seed (a rate of
# pending pieces kept, then the pieces); VHDCOMPACT_POWERCUT_SEED=N
# replays a run (printed at the start and with every failure).
#
# Every disk is made, and checked, once per image format of $image_formats
# (compact-functions.sh; here VHD, or the formats of VHDCOMPACT_TEST_FORMATS:
# test-vhdx-compact-powercut.sh runs this test for VHDX), through the
# format's hooks (formats/FORMAT.sh).  A VHDX that names a log is read by
# 7-Zip and qemu as `qemu-img check -r all` replays it on a copy
# (formats/vhdx.sh: fmt_qemu_readable).
#
# Last, the test shows it would see a missing barrier: with the fdatasync
# after the block copies taken out of the model (as if move.c did not call
# it), a cut right before the next barrier must break the disk.
set -euo pipefail
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/ntfs-functions.sh"
requires qemu-img qemu-io nbdkit nbdcopy mkntfs ntfs-3g ntfsclone dd cmp od b2sum
requires_env VHDCTL VHD_PLUGIN POWERCUT
make_tmpdir
. "$(dirname "$0")/compact-functions.sh"
image_formats=${VHDCOMPACT_TEST_FORMATS:-vhd}
requires_formats
have_fuse || skip "ntfs-3g cannot mount images here (no FUSE)"
t_start=$SECONDS
problems=()

master=${VHDCOMPACT_POWERCUT_SEED:-$(( $(date +%s) % 1000000 ))}
echo "VHDCOMPACT_POWERCUT_SEED=$master"
RANDOM=$(( master % 32768 ))
slow=0
[[ ${VHDCOMPACT_SLOW_TESTS:-0} = 1 ]] && slow=1
declare -A counts=()
total=0

# zero_free VHD [PARENT_RAW]: writes zeros (through the plugin, so the
# blocks stay allocated) over every other block that is allocated, free
# in the file system, and whose parent range reads as zeros: blocks that
# mode zero drops too, and in the middle of the file, so that it moves
# blocks.  The volume reads the same: only free space changes.
zero_free ()
{
    local vhd=$1 praw=${2:-} classes b off n=0 args=()
    classes=$(block_classes "$vhd" "$d/zf.json")
    fmt_geometry "$vhd"
    while read -r b off; do
        [[ ${classes:b:1} = F ]] || continue
        [[ -z $praw ]] || block_is_zero "$praw" "$b" "$img_bs" || continue
        n=$(( n + 1 ))
        (( n % 2 )) || continue
        args+=(-c "write -q -P 0 $(( b * img_bs )) $img_bs")
    done < <(alloc_blocks "$vhd")
    (( ${#args[@]} )) || fail "$vhd: test setup: no free block to zero"
    serve "$vhd" --run "qemu-io -f raw $(printf '%q ' "${args[@]}") \"\$uri\"" ||
        fail "$vhd: writing zeros through the plugin failed"
}

# prepare_disk KIND VHD [PARENT_RAW]: the original, its content, block
# classes and NTFS fingerprint, for every mode of KIND.
prepare_disk ()
{
    local kind=$1 vhd=$2 praw=${3:-}
    cp -- "$vhd" "$d/$kind.orig"
    img_to_raw "$vhd" "$d/$kind.raw0"
    block_classes "$vhd" "$d/$kind.json" > "$d/$kind.classes"
    ntfs_verify "$d/$kind.raw0" "$kind" files > "$d/$kind.fp0"
    echo "$praw" > "$d/$kind.praw"
}

# prepare_mode KIND VHD MODE: the optimum of MODE, and one uninterrupted
# run, logged, checked against the same oracles; its log is NAME.log.
prepare_mode ()
{
    local kind=$1 vhd=$2 mode=$3 name=$1-$3 praw first kept drops
    praw=$(cat "$d/$kind.praw")
    cp -- "$d/$kind.orig" "$vhd"
    fmt_geometry "$vhd"
    first=$img_first
    echo "$first" > "$d/$name.first"
    expected_drops "$vhd" "$d/$kind.raw0" "$mode" "$(cat "$d/$kind.classes")" "$praw" > "$d/$name.drops"
    drops=$(wc -l < "$d/$name.drops")
    kept=$(( $(alloc_blocks "$vhd" | wc -l) - drops ))
    img_optimum "$kept" > "$d/$name.optimum"
    rm -f -- "$d/$name.log"
    VHDCOMPACT_TEST_POWER_LOG=$d/$name.log vhdctl_attaching compact --mode "$mode" --json --no-progress "$vhd" \
        > "$d/$name.ref.json" || fail "$name: the uninterrupted compaction failed"
    [[ $(file_size "$vhd") = $(cat "$d/$name.optimum") ]] ||
        fail "$name: the uninterrupted compaction ends at $(file_size "$vhd"), optimum $(cat "$d/$name.optimum")"
    check_packed "$vhd" "$first" "$name (after)"
    (( drops > 0 )) || fail "$name: test setup: nothing to drop"
    img_to_raw "$vhd" "$d/$name.rawref"
    check_content_rule "$d/$kind.raw0" "$d/$name.rawref" "$(cat "$d/$kind.classes")" "$img_bs" "$mode" "$praw" \
        "$name" >/dev/null
    ntfs_verify "$d/$name.rawref" "$name (after)" > "$d/$name.fp1"
    cmp -s "$d/$kind.fp0" "$d/$name.fp1" || fail "$name: the uninterrupted compaction changed the volume"
    # The whole log, everything kept, is the file the run left.
    "$POWERCUT" apply "$d/$kind.orig" "$d/$name.log" "$d/replay.vhd" all all >/dev/null ||
        fail "$name: powercut cannot replay the log"
    cmp -- "$vhd" "$d/replay.vhd" || fail "$name: the log misses a write: replayed, it is not the file the run left"
    rm -f -- "$d/replay.vhd"
    "$POWERCUT" list "$d/$name.log" > "$d/$name.list"
    echo "$name: $(file_size "$d/$kind.orig") -> $(cat "$d/$name.optimum") bytes, dropping $drops and moving" \
         "$(json_num blocks-moved < "$d/$name.ref.json") blocks; $(tail -n 1 "$d/$name.list" | cut -d' ' -f2)" \
         "records, $(grep -c ' sync ' "$d/$name.list") barriers"
}

# power_cut KIND MODE VHD AT SEED DESC [IGNORE]: the disk after a cut once
# records [0, AT) of the log happened, checked; a failure is recorded with
# what replays it.  Returns 1 when the disk was wrong.
power_cut ()
{
    local kind=$1 mode=$2 vhd=$3 at=$4 seed=$5 desc=$6 ignore=${7:-} name=$1-$2 res what
    res=$("$POWERCUT" apply "$d/$kind.orig" "$d/$name.log" "$vhd" "$at" "$seed" ${ignore:+"$ignore"}) ||
        fail "$name: powercut apply failed"
    what="$name: power cut $desc (record $at, seed $seed: $res)"
    if [[ -n $ignore ]]; then
        ( verify_interruption "$d/$kind" "$d/$name" "$mode" "$vhd" "$what" ) > "$d/ignored.out" 2>&1 && return 0
        echo "$what: broken, as it must be:"
        tail -n 1 "$d/ignored.out"
        return 1
    fi
    ( verify_interruption "$d/$kind" "$d/$name" "$mode" "$vhd" "$what" ) || { problems+=("$what"); return 1; }
    counts[$name]=$(( ${counts[$name]:-0} + 1 ))
    total=$(( total + 1 ))
    return 0
}

# cuts KIND MODE VHD: the cuts of one disk and mode.
cuts ()
{
    local kind=$1 mode=$2 vhd=$3 name=$1-$2 n k=0 i label
    local -a barriers=()
    n=$(tail -n 1 "$d/$name.list" | cut -d' ' -f2)
    mapfile -t barriers < <(awk '$2 == "sync" { print $1 }' "$d/$name.list")
    (( ${#barriers[@]} > 0 )) || fail "$name: the log has no barrier"
    if (( slow )); then
        for i in "${barriers[@]}"; do
            label=$(awk -v i="$i" '$1 == i { $1 = $2 = $3 = $4 = ""; sub(/^ +/, ""); print }' "$d/$name.list")
            power_cut "$kind" "$mode" "$vhd" "$i" $(( master * 1000 + k++ )) "before '$label'" || true
            power_cut "$kind" "$mode" "$vhd" "$i" $(( master * 1000 + k++ )) "before '$label'" || true
            power_cut "$kind" "$mode" "$vhd" $(( i + 1 )) $(( master * 1000 + k++ )) "after '$label'" || true
        done
        for (( j = 0; j < 6; j++ )); do
            power_cut "$kind" "$mode" "$vhd" $(( 1 + RANDOM % n )) $(( master * 1000 + k++ )) "at a random record" || true
        done
    else
        i=${barriers[RANDOM % ${#barriers[@]}]}
        label=$(awk -v i="$i" '$1 == i { $1 = $2 = $3 = $4 = ""; sub(/^ +/, ""); print }' "$d/$name.list")
        power_cut "$kind" "$mode" "$vhd" "$i" $(( master * 1000 + k++ )) "before '$label'" || true
        power_cut "$kind" "$mode" "$vhd" $(( 1 + RANDOM % n )) $(( master * 1000 + k++ )) "at a random record" || true
    fi
    echo "$name: ${counts[$name]:-0} power cuts left a good disk"
}

# scenarios: the disks above, made in the current format.
scenarios ()
{
    echo "== $fmt_name: a dynamic disk"
    mkfs_ntfs "$d/dyn.ntfs" 64 4096 0 21 12 5
    fmt_from_raw "$d/dyn.ntfs" "$d/dyn.$fmt_suffix"
    rm -f "$d/dyn.ntfs"
    ntfs_parts="0:$((64 * MIB)):$d/dyn.ntfs.sums"
    zero_free "$d/dyn.$fmt_suffix"
    prepare_disk "$fmt_name-dyn" "$d/dyn.$fmt_suffix"
    for mode in full fs zero; do
        prepare_mode "$fmt_name-dyn" "$d/dyn.$fmt_suffix" "$mode"
        cuts "$fmt_name-dyn" "$mode" "$d/dyn.$fmt_suffix"
    done

    # A barrier taken out of the model must be seen: without the fdatasync
    # after the copies, the BAT pointing at them may land while they do not.
    # The syncs taken out are the format's $fmt_copy_barriers (VHDX's log
    # entry sync makes the copies durable too, before the header that
    # names the entry); the cut, right before the next barrier left.
    # Rate 500: half of the pending pieces land.
    echo "== $fmt_name: without the barrier after the copies"
    caught=0
    i=$(awk -v ign="$fmt_copy_barriers" '$2 == "sync" {
            l = $5; for (k = 6; k <= NF; k++) l = l " " $k
            if (l == "compact: copies synced") { after = 1; next }
            if (after && index("|" ign "|", "|" l "|") == 0) { print $1; exit } }' "$d/$fmt_name-dyn-full.list")
    [[ -n $i ]] || fail "$fmt_name-dyn-full: no barrier after 'compact: copies synced' in the log"
    label=$(awk -v i="$i" '$1 == i { $1 = $2 = $3 = $4 = ""; sub(/^ +/, ""); print }' "$d/$fmt_name-dyn-full.list")
    for (( s = 0; s < 16 && !caught; s++ )); do
        power_cut "$fmt_name-dyn" full "$d/dyn.$fmt_suffix" "$i" "$(( master * 1000 + 900 + s )):500" "before '$label'" \
            "$fmt_copy_barriers" || caught=1
    done
    (( caught )) || fail "with the fdatasync after the copies taken out, 16 power cuts all left a good disk:" \
                         "this test cannot see a missing barrier"

    echo "== $fmt_name: a differencing child"
    make_changed_child
    zero_free "$d/chain/child.$fmt_suffix" "$d/par.raw"
    prepare_disk "$fmt_name-child" "$d/chain/child.$fmt_suffix" "$d/par.raw"
    for mode in full fs zero; do
        prepare_mode "$fmt_name-child" "$d/chain/child.$fmt_suffix" "$mode"
        cuts "$fmt_name-child" "$mode" "$d/chain/child.$fmt_suffix"
    done
}

for_each_format scenarios

echo "power cuts that left a good disk, by disk and mode:"
for f in $image_formats; do
    for k in dyn-full dyn-fs dyn-zero child-full child-fs child-zero; do
        echo "  $f-$k: ${counts[$f-$k]:-0}"
    done
done
if (( ${#problems[@]} )); then
  echo "$testname: ${#problems[@]} power cut(s) broke something (VHDCOMPACT_POWERCUT_SEED=$master replays):" >&2
  printf '  %s\n' "${problems[@]}" >&2
  fail "${#problems[@]} power cut(s) broke something (see above)"
fi
echo "all $total power cuts left a valid disk that a second run compacted to the optimum ($((SECONDS - t_start)) s)"
