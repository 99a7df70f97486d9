#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Compacting a sparse image on a nearly full host file system (issue 12
# item 4).  The disk, made by qemu-img and qemu-io, has 8 blocks of zeros
# first in the file and 16 blocks of data after them; copied sparse, the
# zero blocks are holes, so moving the 8 last blocks into their places
# allocates 16 MiB before the truncation frees anything (a qemu VHDX: 20
# MiB, its two-block gap before the first block filled too).  It lives on
# a tmpfs of 48 MiB filled to leave 8 MiB free (VHDX: 12, see $free) (tmpfs
# has sparse files and punches holes).  Then:
#   - vhdctl compact finishes, in rounds that give back the space of the
#     blocks moved before moving more: the file ends at the size of a run
#     on a roomy file system, checks clean, is packed, and qemu-img reads
#     the same content as before;
#   - with 1 MiB free, where not even one move fits, the run is refused
#     before any write, as no-space, and the file is byte-identical;
#   - ENOSPC injected in the middle of the rounds leaves a valid image
#     with the same content, and a new run finishes it;
#   - so does a crash at every fault point of a run in rounds (the run
#     must make two rounds or more), each rerun on the same full tmpfs;
#   - the report's bytes-written is every byte the run wrote to the file:
#     the sum of the writes in its power log (VHDCOMPACT_TEST_POWER_LOG).
# Once per image format of $image_formats (compact-functions.sh; here
# VHD, or the formats of VHDCOMPACT_TEST_FORMATS:
# test-vhdx-compact-nospace.sh runs it for VHDX, whose rounds make each
# round's moves durable through the log before the sources are punched).
# A VHDX an interruption left naming a log is read by qemu as
# `qemu-img check -r all` replays it on a copy (fmt_qemu_readable).
set -euo pipefail
. "$(dirname "$0")/functions.sh"
requires qemu-img qemu-io mount umount fallocate stat sha256sum cmp
requires_env VHDCTL POWERCUT
make_tmpdir
. "$(dirname "$0")/compact-functions.sh"
image_formats=${VHDCOMPACT_TEST_FORMATS:-vhd}
requires_formats

mnt=$tmpdir/mnt
mkdir -- "$mnt"
mount -t tmpfs -o size=48M,mode=0700 tmpfs "$mnt" 2>/dev/null ||
    skip "cannot mount a tmpfs here (not root, or no mount permission)"
cleanup_fn umount -- "$mnt"

compact () { "$VHDCTL" compact --local --no-progress --mode zero "$@"; }

# reads_orig FILE: FILE's disk reads as $d/orig.raw (through qemu, a log
# an interruption left replayed on a copy first).
reads_orig ()
{
    qemu-img compare -q -f "$fmt_qemu_driver" -F raw -- "$(fmt_qemu_readable "$1" "$d/replayed")" "$d/orig.raw"
    local rc=$?
    rm -f -- "$d/replayed"
    return $rc
}

# check_written LOG JSON WHAT: the report's bytes-written is the sum of the
# writes in the run's power log, and at least its bytes-moved.
check_written ()
{
    local logged reported moved
    logged=$("$POWERCUT" list "$1" | awk '$2 == "write" { s += $4 } END { printf "%.0f", s }')
    reported=$(json_num bytes-written < "$2")
    moved=$(json_num bytes-moved < "$2")
    [[ $reported = "$logged" ]] || fail "$3: the report says $reported bytes written, its power log $logged"
    (( reported >= moved )) || fail "$3: $reported bytes written, fewer than the $moved moved"
    echo "ok: $3: bytes-written $reported = the power log's writes (moved $moved)"
}

# fresh FREE_MIB: the sparse copy on the tmpfs, a filler leaving FREE_MIB free.
fresh ()
{
    rm -f -- "$vhd" "$mnt/filler"
    cp --sparse=always -- "$d/orig.$fmt_suffix" "$vhd"
    local avail
    avail=$(( $(stat -f -c '%a * %S' "$mnt") ))
    (( avail > $1 * MIB )) || fail "test setup: only $avail bytes free on the tmpfs"
    fallocate -l $(( avail - $1 * MIB )) "$mnt/filler"
    (( $(stat -f -c '%a * %S' "$mnt") == $1 * MIB )) || fail "test setup: free space is not $1 MiB"
}

# finished WHAT: at the optimum, clean, packed, the content unchanged.
finished ()
{
    [[ $(file_size "$vhd") = "$optimum" ]] || fail "$1: ends at $(file_size "$vhd") bytes, not $optimum"
    "$VHDCTL" check "$vhd" > /dev/null || { "$VHDCTL" check "$vhd" >&2 || :; fail "$1: check"; }
    fmt_geometry "$vhd"
    check_packed "$vhd" "$img_first" "$1"
    reads_orig "$vhd" || fail "$1: the content changed"
}

scenario ()
{
rm -f -- "$mnt"/*
fmt_create_dynamic "$d/orig.$fmt_suffix" 64M
qemu-io -f "$fmt_qemu_driver" -c "write -q -P 0 0 16M" -c "write -q -P 0x5a 16M 32M" "$d/orig.$fmt_suffix" > /dev/null
img_to_raw "$d/orig.$fmt_suffix" "$d/orig.raw"

# The reference: the same run with room to spare (qemu's VHDX leaves a
# gap of two blocks before its first, which two more moves fill).
cp -- "$d/orig.$fmt_suffix" "$d/ref.$fmt_suffix"
VHDCOMPACT_TEST_POWER_LOG=$d/ref.log compact --json "$d/ref.$fmt_suffix" > "$d/ref.json"
optimum=$(file_size "$d/ref.$fmt_suffix")
(( $(json_num blocks-moved < "$d/ref.json") >= 8 )) || fail "test setup: 8 blocks or more should move"
check_written "$d/ref.log" "$d/ref.json" "$fmt_name: a run in one round"

vhd=$mnt/disk.$fmt_suffix
# Free space for the runs in rounds: 2 MiB of it is kept in reserve, the
# rest holds 3 moves a round (VHD: 3 rounds) or, for VHDX, 5 (2 rounds: a
# VHDX round has four times the fault points and barriers of a VHD one,
# its log batch's; two rounds show a round boundary as well as four).
free=8
[[ $fmt_name = vhd ]] || free=12
# Every fault point and barrier of the rounds gets the whole check (crash
# points: check, content, a rerun to the optimum; barriers: power cuts
# around each) for VHD and with VHDCOMPACT_SLOW_TESTS=1; else, for VHDX,
# every point up to the first punch of sources and then each point of a
# new name and every third, and the barriers from the first copies to the
# first after a punch, the last three, and random records.  Every fault
# point is still hit, and the run must survive each.
thorough=0
[[ $fmt_name = vhd || ${VHDCOMPACT_SLOW_TESTS:-0} = 1 ]] && thorough=1

echo "== $fmt_name: $(( $(json_num bytes-moved < "$d/ref.json") / MIB )) MiB to move, $free MiB free"
fresh $free
rc=0; compact "$vhd" > "$d/out" 2> "$d/err" || rc=$?
[[ $rc = 0 ]] || { cat "$d/err" >&2; fail "the compaction on a nearly full file system failed ($rc)"; }
finished "rounds"
echo "ok: finished in rounds at $optimum bytes: $(cat "$d/out")"

echo "== $fmt_name: 1 MiB free: not even one move fits"
fresh 1
sum=$(sha256sum < "$vhd")
rc=0; compact "$vhd" > "$d/out" 2> "$d/err" || rc=$?
[[ $rc != 0 ]] || fail "a compaction that cannot fit succeeded"
grep -qF "vhdctl: '$vhd': no-space: " "$d/err" || { cat "$d/err" >&2; fail "the refusal is not no-space"; }
grep -qF "nothing was written" "$d/err" || { cat "$d/err" >&2; fail "the refusal does not say nothing was written"; }
[[ $(sha256sum < "$vhd") = "$sum" ]] || fail "the refused file changed"
echo "ok: refused up front: $(cat "$d/err")"

echo "== $fmt_name: ENOSPC in the middle of the rounds"
for n in 1 3 6; do
    fresh $free
    rc=0; VHDCOMPACT_IO_FAULT=write:$n:enospc compact "$vhd" > "$d/out" 2> "$d/err" || rc=$?
    [[ $rc != 0 ]] || fail "write:$n:enospc: the run succeeded"
    grep -qF 'No space left on device' "$d/err" || { cat "$d/err" >&2; fail "write:$n:enospc: no ENOSPC message"; }
    "$VHDCTL" check "$vhd" > /dev/null || { "$VHDCTL" check "$vhd" >&2 || :; fail "write:$n:enospc: check"; }
    reads_orig "$vhd" || fail "write:$n:enospc: the content changed"
    rc=0; compact "$vhd" > "$d/out" 2> "$d/err" || rc=$?
    [[ $rc = 0 ]] || { cat "$d/err" >&2; fail "write:$n:enospc: the run after it failed ($rc)"; }
    finished "write:$n:enospc, run again"
    echo "ok: write:$n:enospc left a valid image; the next run finished"
done
echo "== $fmt_name: a crash at every fault point of the rounds"
local n=1 points=() rounds checked=0 punched=0
declare -A seen=()
while true; do
    fresh $free
    rc=0; VHDCOMPACT_FAULT_AT=$n compact "$vhd" > /dev/null 2> "$d/err" || rc=$?
    (( rc != 0 )) || break
    [[ $rc = 86 ]] || { cat "$d/err" >&2; fail "fault point $n: exit status $rc, expected 86"; }
    points+=("$(sed -n "s/^vhdcompact: fault point $n (\(.*\)): exiting$/\1/p" "$d/err")")
    what="fault point $n (${points[-1]})"
    # The crashed process's file (and lock) lives on until the kernel has
    # torn its ring down: qemu-img below takes a lock too.
    wait_unlocked "$vhd" || fail "$what: the image stays locked after the crash"
    "$VHDCTL" check "$vhd" > /dev/null || { "$VHDCTL" check "$vhd" >&2 || :; fail "$what: check"; }
    whole=0
    if (( thorough || !punched || n % 3 == 0 )) || [[ -z ${seen[${points[-1]}]:-} ]]; then
        whole=1
        reads_orig "$vhd" || fail "$what: the content changed"
        checked=$(( checked + 1 ))
    fi
    seen[${points[-1]}]=1
    [[ ${points[-1]} != "compact: sources punched" ]] || punched=1
    rc=0; compact "$vhd" > "$d/out" 2> "$d/err" || rc=$?
    [[ $rc = 0 ]] || { cat "$d/err" >&2; fail "$what: the run after it failed ($rc)"; }
    if (( whole )); then
        finished "$what, run again"
    else
        [[ $(file_size "$vhd") = "$optimum" ]] || fail "$what, run again: ends at $(file_size "$vhd") bytes, not $optimum"
    fi
    n=$(( n + 1 ))
    (( n < 1000 )) || fail "the run never completes"
done
rounds=$(printf '%s\n' "${points[@]}" | grep -c "sources punched" || :)
(( rounds >= 2 )) || fail "the run made $rounds rounds, expected 2 or more"
echo "ok: crashed at each of the $(( n - 1 )) fault points ($rounds rounds; $checked checked whole): valid, and finished by the next run"
echo "== $fmt_name: power cuts in the rounds"
# One run in rounds, logged (VHDCOMPACT_TEST_POWER_LOG); then the file a
# power cut leaves (tests/lib/powercut.h: what the last sync made durable,
# plus any subset of the later writes, truncates and punches, torn at
# 4 KiB) right before and right after every barrier, and at random
# records.  Each must check clean and read as before; a run after it must
# end at the optimum, packed, reading the same.
if [[ -n ${POWERCUT:-} ]]; then
    master=${VHDCOMPACT_POWERCUT_SEED:-$(( $(date +%s) % 1000000 ))}
    echo "VHDCOMPACT_POWERCUT_SEED=$master"
    RANDOM=$(( master % 32768 ))
    fresh $free
    rm -f -- "$d/rounds.log"
    VHDCOMPACT_TEST_POWER_LOG=$d/rounds.log compact --json "$vhd" > "$d/rounds.json" ||
        fail "the logged run in rounds failed"
    check_written "$d/rounds.log" "$d/rounds.json" "$fmt_name: a run in rounds"
    "$POWERCUT" apply "$d/orig.$fmt_suffix" "$d/rounds.log" "$d/replay.$fmt_suffix" all all > /dev/null ||
        fail "powercut cannot replay the log"
    cmp -- "$vhd" "$d/replay.$fmt_suffix" || fail "the log misses a write: replayed, it is not the file the run left"
    "$POWERCUT" list "$d/rounds.log" > "$d/rounds.list"
    grep -q ' punch ' "$d/rounds.list" || fail "test setup: the logged run punched no hole (no rounds)"
    nrec=$(tail -n 1 "$d/rounds.list" | cut -d' ' -f2)
    mapfile -t barriers < <(awk '$2 == "sync" { print $1 }' "$d/rounds.list")
    ats=()
    if (( thorough )); then
        picked=("${barriers[@]}")
    else
        first_copies=$(awk '$2 == "sync" && / compact: copies synced$/ { print $1; exit }' "$d/rounds.list")
        after_punch=$(awk '$2 == "punch" { p = 1 } p && $2 == "sync" { print $1; exit }' "$d/rounds.list")
        picked=($(printf '%s\n' "${barriers[@]}" | awk -v a="$first_copies" -v b="$after_punch" '$1 >= a && $1 <= b')
                "${barriers[@]: -3}")
    fi
    for i in "${picked[@]}"; do ats+=("$i" $(( i + 1 ))); done
    nrandom=2
    [[ ${VHDCOMPACT_SLOW_TESTS:-0} = 1 ]] && nrandom=20
    for (( j = 0; j < nrandom; j++ )); do ats+=($(( 1 + RANDOM % nrec ))); done
    k=0
    for at in "${ats[@]}"; do
        seed=$(( master * 1000 + k++ ))
        cut=$d/cut.$fmt_suffix
        res=$("$POWERCUT" apply "$d/orig.$fmt_suffix" "$d/rounds.log" "$cut" "$at" "$seed") ||
            fail "powercut apply failed at record $at"
        what="power cut at record $at of $nrec (seed $seed: $res)"
        "$VHDCTL" check "$cut" > "$d/check.out" 2>&1 || { cat "$d/check.out" >&2; fail "$what: check"; }
        reads_orig "$cut" || fail "$what: the content changed"
        rc=0; compact "$cut" > "$d/out" 2> "$d/err" || rc=$?
        [[ $rc = 0 ]] || { cat "$d/err" >&2; fail "$what: the run after it failed ($rc)"; }
        [[ $(file_size "$cut") = "$optimum" ]] ||
            fail "$what: the run after it ends at $(file_size "$cut") bytes, not $optimum"
        "$VHDCTL" check "$cut" > /dev/null || fail "$what: check after the run after it"
        fmt_geometry "$cut"
        check_packed "$cut" "$img_first" "$what"
        reads_orig "$cut" || fail "$what: the content changed after the rerun"
    done
    echo "ok: ${#ats[@]} power cuts in a run of $(grep -c ' punch ' "$d/rounds.list") punches and" \
         "${#barriers[@]} barriers: valid, same content, finished by the next run"
    # The cuts see a missing barrier: with the syncs that make the BAT
    # point at the copies durably ($fmt_repoint_barriers: for VHDX those of
    # the log batch too) taken out of the model, a punch of a source may
    # land while the BAT still points at it.  A cut right before the next
    # barrier after the first punch must then lose data, for some seed.
    first_punch=$(awk '$2 == "punch" { print $1; exit }' "$d/rounds.list")
    at=$(awk -v p="$first_punch" '$2 == "sync" && $1 > p { print $1; exit }' "$d/rounds.list")
    caught=
    for (( j = 0; j < 40; j++ )); do
        seed=$(( master * 1000 + 500 + j ))
        "$POWERCUT" apply "$d/orig.$fmt_suffix" "$d/rounds.log" "$d/cut.$fmt_suffix" "$at" "$seed" \
            "$fmt_repoint_barriers" > /dev/null || fail "powercut apply failed"
        reads_orig "$d/cut.$fmt_suffix" 2> /dev/null || { caught=$seed; break; }
    done
    [[ -n $caught ]] ||
        fail "without the barriers after pointing the BAT at the copies, 40 cuts at record $at broke nothing"
    echo "ok: without that barrier a cut at record $at loses data (seed $caught)"
fi
}

for_each_format scenario
echo "all cases passed"
