#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Compacting a sparse image on a nearly full host file system (issue 12
# item 4).  The disk, made by qemu-img and qemu-io, has 8 blocks of zeros
# first in the file and 16 blocks of data after them; copied sparse, the
# zero blocks are holes, so moving the 8 last blocks into their places
# allocates 16 MiB before the truncation frees anything.  It lives on a
# tmpfs of 48 MiB filled to leave 8 MiB free (tmpfs has sparse files and punches
# holes).  Then:
#   - vhdctl compact finishes, in rounds that give back the space of the
#     blocks moved before moving more: the file ends at the size of a run
#     on a roomy file system, checks clean, is packed, and qemu-img reads
#     the same content as before;
#   - with 1 MiB free, where not even one move fits, the run is refused
#     before any write, as no-space, and the file is byte-identical;
#   - ENOSPC injected in the middle of the rounds leaves a valid image
#     with the same content, and a new run finishes it;
#   - so does a crash at every fault point of a run in rounds (the run
#     must make two rounds or more), each rerun on the same full tmpfs.
set -euo pipefail
. "$(dirname "$0")/functions.sh"
requires qemu-img qemu-io mount umount fallocate stat sha256sum cmp
requires_env VHDCTL
make_tmpdir
. "$(dirname "$0")/compact-functions.sh"
d=$tmpdir

mnt=$d/mnt
mkdir -- "$mnt"
mount -t tmpfs -o size=48M,mode=0700 tmpfs "$mnt" 2>/dev/null ||
    skip "cannot mount a tmpfs here (not root, or no mount permission)"
cleanup_fn umount -- "$mnt"

fmt_create_dynamic "$d/orig.vhd" 64M
qemu-io -f "$fmt_qemu_driver" -c "write -q -P 0 0 16M" -c "write -q -P 0x5a 16M 32M" "$d/orig.vhd" > /dev/null
img_to_raw "$d/orig.vhd" "$d/orig.raw"

compact () { "$VHDCTL" compact --local --no-progress --mode zero "$@"; }

# The reference: the same run with room to spare.
cp -- "$d/orig.vhd" "$d/ref.vhd"
compact --json "$d/ref.vhd" > "$d/ref.json"
optimum=$(file_size "$d/ref.vhd")
(( $(json_num blocks-moved < "$d/ref.json") == 8 )) || fail "test setup: 8 blocks should move"

vhd=$mnt/disk.vhd

# fresh FREE_MIB: the sparse copy on the tmpfs, a filler leaving FREE_MIB free.
fresh ()
{
    rm -f -- "$vhd" "$mnt/filler"
    cp --sparse=always -- "$d/orig.vhd" "$vhd"
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
    qemu-img compare -q -f "$fmt_qemu_driver" -F raw -- "$vhd" "$d/orig.raw" || fail "$1: the content changed"
}

echo "== 16 MiB to move, 8 MiB free"
fresh 8
rc=0; compact "$vhd" > "$d/out" 2> "$d/err" || rc=$?
[[ $rc = 0 ]] || { cat "$d/err" >&2; fail "the compaction on a nearly full file system failed ($rc)"; }
finished "rounds"
echo "ok: finished in rounds at $optimum bytes: $(cat "$d/out")"

echo "== 1 MiB free: not even one move fits"
fresh 1
sum=$(sha256sum < "$vhd")
rc=0; compact "$vhd" > "$d/out" 2> "$d/err" || rc=$?
[[ $rc != 0 ]] || fail "a compaction that cannot fit succeeded"
grep -qF "vhdctl: '$vhd': no-space: " "$d/err" || { cat "$d/err" >&2; fail "the refusal is not no-space"; }
grep -qF "nothing was written" "$d/err" || { cat "$d/err" >&2; fail "the refusal does not say nothing was written"; }
[[ $(sha256sum < "$vhd") = "$sum" ]] || fail "the refused file changed"
echo "ok: refused up front: $(cat "$d/err")"

echo "== ENOSPC in the middle of the rounds"
for n in 1 3 6; do
    fresh 8
    rc=0; VHDCOMPACT_IO_FAULT=write:$n:enospc compact "$vhd" > "$d/out" 2> "$d/err" || rc=$?
    [[ $rc != 0 ]] || fail "write:$n:enospc: the run succeeded"
    grep -qF 'No space left on device' "$d/err" || { cat "$d/err" >&2; fail "write:$n:enospc: no ENOSPC message"; }
    "$VHDCTL" check "$vhd" > /dev/null || { "$VHDCTL" check "$vhd" >&2 || :; fail "write:$n:enospc: check"; }
    qemu-img compare -q -f "$fmt_qemu_driver" -F raw -- "$vhd" "$d/orig.raw" || fail "write:$n:enospc: the content changed"
    rc=0; compact "$vhd" > "$d/out" 2> "$d/err" || rc=$?
    [[ $rc = 0 ]] || { cat "$d/err" >&2; fail "write:$n:enospc: the run after it failed ($rc)"; }
    finished "write:$n:enospc, run again"
    echo "ok: write:$n:enospc left a valid image; the next run finished"
done
echo "== a crash at every fault point of the rounds"
n=1 points=()
while true; do
    fresh 8
    rc=0; VHDCOMPACT_FAULT_AT=$n compact "$vhd" > /dev/null 2> "$d/err" || rc=$?
    (( rc != 0 )) || break
    [[ $rc = 86 ]] || { cat "$d/err" >&2; fail "fault point $n: exit status $rc, expected 86"; }
    points+=("$(sed -n "s/^vhdcompact: fault point $n (\(.*\)): exiting$/\1/p" "$d/err")")
    "$VHDCTL" check "$vhd" > /dev/null || { "$VHDCTL" check "$vhd" >&2 || :; fail "fault point $n: check"; }
    qemu-img compare -q -f "$fmt_qemu_driver" -F raw -- "$vhd" "$d/orig.raw" || fail "fault point $n: the content changed"
    rc=0; compact "$vhd" > "$d/out" 2> "$d/err" || rc=$?
    [[ $rc = 0 ]] || { cat "$d/err" >&2; fail "fault point $n: the run after it failed ($rc)"; }
    finished "fault point $n (${points[-1]}), run again"
    n=$(( n + 1 ))
    (( n < 1000 )) || fail "the run never completes"
done
rounds=$(printf '%s\n' "${points[@]}" | grep -c "sources punched" || :)
(( rounds >= 2 )) || fail "the run made $rounds rounds, expected 2 or more"
echo "ok: crashed at each of the $(( n - 1 )) fault points ($rounds rounds): valid, and finished by the next run"

echo "== power cuts in the rounds"
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
    fresh 8
    rm -f -- "$d/rounds.log"
    VHDCOMPACT_TEST_POWER_LOG=$d/rounds.log compact "$vhd" > /dev/null ||
        fail "the logged run in rounds failed"
    "$POWERCUT" apply "$d/orig.vhd" "$d/rounds.log" "$d/replay.vhd" all all > /dev/null ||
        fail "powercut cannot replay the log"
    cmp -- "$vhd" "$d/replay.vhd" || fail "the log misses a write: replayed, it is not the file the run left"
    "$POWERCUT" list "$d/rounds.log" > "$d/rounds.list"
    grep -q ' punch ' "$d/rounds.list" || fail "test setup: the logged run punched no hole (no rounds)"
    nrec=$(tail -n 1 "$d/rounds.list" | cut -d' ' -f2)
    mapfile -t barriers < <(awk '$2 == "sync" { print $1 }' "$d/rounds.list")
    ats=()
    for i in "${barriers[@]}"; do ats+=("$i" $(( i + 1 ))); done
    nrandom=2
    [[ ${VHDCOMPACT_SLOW_TESTS:-0} = 1 ]] && nrandom=20
    for (( j = 0; j < nrandom; j++ )); do ats+=($(( 1 + RANDOM % nrec ))); done
    k=0
    for at in "${ats[@]}"; do
        seed=$(( master * 1000 + k++ ))
        cut=$d/cut.vhd
        res=$("$POWERCUT" apply "$d/orig.vhd" "$d/rounds.log" "$cut" "$at" "$seed") ||
            fail "powercut apply failed at record $at"
        what="power cut at record $at of $nrec (seed $seed: $res)"
        "$VHDCTL" check "$cut" > "$d/check.out" 2>&1 || { cat "$d/check.out" >&2; fail "$what: check"; }
        qemu-img compare -q -f "$fmt_qemu_driver" -F raw -- "$cut" "$d/orig.raw" || fail "$what: the content changed"
        rc=0; compact "$cut" > "$d/out" 2> "$d/err" || rc=$?
        [[ $rc = 0 ]] || { cat "$d/err" >&2; fail "$what: the run after it failed ($rc)"; }
        [[ $(file_size "$cut") = "$optimum" ]] ||
            fail "$what: the run after it ends at $(file_size "$cut") bytes, not $optimum"
        "$VHDCTL" check "$cut" > /dev/null || fail "$what: check after the run after it"
        fmt_geometry "$cut"
        check_packed "$cut" "$img_first" "$what"
        qemu-img compare -q -f "$fmt_qemu_driver" -F raw -- "$cut" "$d/orig.raw" || fail "$what: the content changed after the rerun"
    done
    echo "ok: ${#ats[@]} power cuts in a run of $(grep -c ' punch ' "$d/rounds.list") punches and" \
         "${#barriers[@]} barriers: valid, same content, finished by the next run"
    # The cuts see a missing barrier: with the fdatasync after the BAT was
    # pointed at the copies taken out of the model, a punch of a source
    # may land while the BAT still points at it.  A cut right before the
    # next barrier after the first punch must then lose data, for some seed.
    first_punch=$(awk '$2 == "punch" { print $1; exit }' "$d/rounds.list")
    at=$(awk -v p="$first_punch" '$2 == "sync" && $1 > p { print $1; exit }' "$d/rounds.list")
    caught=
    for (( j = 0; j < 40; j++ )); do
        seed=$(( master * 1000 + 500 + j ))
        "$POWERCUT" apply "$d/orig.vhd" "$d/rounds.log" "$d/cut.vhd" "$at" "$seed" "compact: moves synced" \
            > /dev/null || fail "powercut apply failed"
        qemu-img compare -q -f "$fmt_qemu_driver" -F raw -- "$d/cut.vhd" "$d/orig.raw" 2> /dev/null || { caught=$seed; break; }
    done
    [[ -n $caught ]] ||
        fail "without the barrier after pointing the BAT at the copies, 40 cuts at record $at broke nothing"
    echo "ok: without that barrier a cut at record $at loses data (seed $caught)"
fi
echo "all cases passed"
