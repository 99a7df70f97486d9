#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# A compaction interrupted at any instant leaves a valid disk with its
# content intact, and running it again reaches the optimum.
#
# Fault points: VHDCOMPACT_FAULT_AT=N makes vhdctl _exit(86) right after
# its N-th write or sync.  For a dynamic disk (whole-disk NTFS with deleted
# files, made by qemu-img) and a differencing child (its volume changed by
# writes through the plugin), every N is tried, from 1 until a run ends
# normally; the points met must be, in order: BAT written, drops synced,
# block copied (once per moved block), copies synced, BAT written, moves
# synced, footer written, footer synced, truncated.  After each crash:
#   - `vhdctl check` is clean, qemu-img and vhdiinfo open it (dynamic);
#   - the disk's content differs from the original only in blocks free in
#     the file system, which read as zeros (or as the parent); ntfsclone's
#     image of the volume is unchanged;
#   - a normal run then exits 0 with the file at the optimum (computed
#     independently, as in test-compact-oracles.sh), clean, and reading
#     exactly what an uninterrupted compaction reads.
#
# kill -9: a larger disk (many blocks to move) is compacted in the
# background and killed after a random delay spread over the length of an
# uninterrupted run; the same checks follow.  5 kills by default; 50 when
# VHDCOMPACT_SLOW_TESTS=1.  VHDCOMPACT_SEED=N repeats a sequence of delays
# (the seed is printed).
#
# Every disk is made, and checked, once per image format of $image_formats
# (compact-functions.sh; here VHD, or the formats of VHDCOMPACT_TEST_FORMATS:
# test-vhdx-compact-crash.sh runs this test for VHDX), through the format's hooks (formats/FORMAT.sh); the fault
# points expected are the format's (fmt_fault_points).  Every fault point
# is met and its name checked in every format; the state it leaves is
# checked at every point for the first format, and at the first point of
# each name for the others (all with VHDCOMPACT_SLOW_TESTS=1).  A VHDX
# that names a log is read by 7-Zip and qemu as `qemu-img check -r all`
# replays it on a copy (formats/vhdx.sh: fmt_qemu_readable).
#
# Failures are collected, so that one run lists every instant that breaks.
set -euo pipefail
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/ntfs-functions.sh"
requires qemu-img qemu-io nbdkit nbdcopy mkntfs ntfs-3g ntfsclone dd cmp od b2sum
requires_env VHDCTL VHD_PLUGIN
make_tmpdir
. "$(dirname "$0")/compact-functions.sh"
image_formats=${VHDCOMPACT_TEST_FORMATS:-vhd}
requires_formats
have_fuse || skip "ntfs-3g cannot mount images here (no FUSE)"
t_start=$SECONDS
problems=()

# prepare NAME VHD [PARENT_RAW]: keeps the original of VHD, its content,
# block classes and NTFS fingerprint, computes the optimum, then compacts
# it once uninterrupted (checked against the same oracles) as the reference.
# Sets per-case variables through the files $d/NAME.*.
prepare ()
{
    local name=$1 vhd=$2 praw=${3:-} first classes drops kept optimum
    cp -- "$vhd" "$d/$name.orig"
    fmt_geometry "$vhd"
    first=$img_first
    check_packed "$vhd" "$first" "$name (before)"
    img_to_raw "$vhd" "$d/$name.raw0"
    classes=$(block_classes "$vhd" "$d/$name.json")
    echo "$classes" > "$d/$name.classes"
    ntfs_verify "$d/$name.raw0" "$name" files > "$d/$name.fp0"
    expected_drops "$vhd" "$d/$name.raw0" full "$classes" "$praw" > "$d/$name.drops"
    drops=$(wc -l < "$d/$name.drops")
    kept=$(( $(alloc_blocks "$vhd" | wc -l) - drops ))
    optimum=$(img_optimum "$kept")
    echo "$optimum" > "$d/$name.optimum"
    echo "$first" > "$d/$name.first"
    echo "$praw" > "$d/$name.praw"

    # Timed twice (the first run finds a cold cache): the shorter counts.
    local t0 t1 ms=0 run
    for run in 1 2; do
        cp -- "$d/$name.orig" "$vhd"
        t0=$EPOCHREALTIME
        vhdctl_attaching compact --json --no-progress "$vhd" > "$d/$name.ref.json" ||
            fail "$name: the uninterrupted compaction failed"
        t1=$EPOCHREALTIME
        t1=$(( (${t1/./} - ${t0/./}) / 1000 ))
        (( run == 1 || t1 < ms )) && ms=$t1
    done
    echo "$ms" > "$d/$name.ms"
    [[ $(file_size "$vhd") = "$optimum" ]] ||
        fail "$name: the uninterrupted compaction ends at $(file_size "$vhd"), optimum $optimum"
    check_packed "$vhd" "$first" "$name (after)"
    (( $(json_num blocks-moved < "$d/$name.ref.json") > 0 )) || fail "$name: test setup: nothing moves"
    img_to_raw "$vhd" "$d/$name.rawref"
    check_content_rule "$d/$name.raw0" "$d/$name.rawref" "$classes" "$img_bs" full "$praw" "$name" >/dev/null
    ntfs_verify "$d/$name.rawref" "$name (after)" files > "$d/$name.fp1"
    cmp -s "$d/$name.fp0" "$d/$name.fp1" || fail "$name: the uninterrupted compaction changed the volume"
    echo "$name: $(file_size "$d/$name.orig") -> $optimum bytes, dropping $drops and moving" \
         "$(json_num blocks-moved < "$d/$name.ref.json") blocks, in $(cat "$d/$name.ms") ms"
    cp -- "$d/$name.orig" "$vhd"
}

# check_state NAME VHD WHAT: the disk an interruption left, then a second
# run (verify_interruption), in a child shell whose failure is recorded
# rather than fatal.
check_state ()
{
    local name=$1 vhd=$2 what=$3
    ( verify_interruption "$d/$name" "$d/$name" full "$vhd" "$what" ) &
    wait $! || problems+=("$what")
}

# fault_loop NAME VHD: every fault point in turn.
fault_loop ()
{
    local name=$1 vhd=$2 n=1 rc point moved p0=${#problems[@]} checked=0
    local -a seen=() want=()
    local -A labels=()
    while true; do
        # A new file each time: a crashed run's ring may still be ending.
        rm -f -- "$vhd"
        cp -- "$d/$name.orig" "$vhd"
        rc=0
        VHDCOMPACT_FAULT_AT=$n vhdctl_attaching compact --no-progress "$vhd" >/dev/null 2>"$d/$name.fault" || rc=$?
        (( rc != 0 )) || break
        [[ $rc = 86 ]] || { cat "$d/$name.fault" >&2; fail "$name: fault point $n: exit status $rc, expected 86"; }
        point=$(sed -n "s/^vhdcompact: fault point $n (\(.*\)): exiting$/\1/p" "$d/$name.fault")
        [[ -n $point ]] || { cat "$d/$name.fault" >&2; fail "$name: fault point $n: no message"; }
        seen+=("$point")
        if (( every_point )) || [[ -z ${labels[$point]:-} ]]; then
            labels[$point]=1
            checked=$((checked + 1))
            check_state "$name" "$vhd" "$name: crash at fault point $n ($point)"
        fi
        n=$((n + 1))
        (( n < 10000 )) || fail "$name: the run never completes"
    done
    [[ $(file_size "$vhd") = $(cat "$d/$name.optimum") ]] || fail "$name: the run without a fault is not at the optimum"
    moved=$(json_num blocks-moved < "$d/$name.ref.json")
    mapfile -t want < <(fmt_fault_points "$moved")
    [[ $(printf '%s\n' "${seen[@]}") = $(printf '%s\n' "${want[@]}") ]] ||
        { diff <(printf '%s\n' "${want[@]}") <(printf '%s\n' "${seen[@]}") >&2;
          fail "$name: the fault points met are not the protocol's"; }
    echo "$name: crashed at each of the $((n - 1)) fault points, checked $checked:" \
         "$(( ${#problems[@]} - p0 )) broke something ($((SECONDS - t_start)) s so far)"
}

# start_compact VHD: vhdctl compact VHD in the background (pid in $pid),
# its progress lines ("scanning: N%", "moving: N%") readable on fd 3.
start_compact ()
{
    local fifo=$d/progress.fifo
    rm -f -- "$fifo"
    mkfifo -- "$fifo"
    (
        export VHDCOMPACT_PLUGIN=$VHD_PLUGIN
        [[ -z ${VHD_SANITIZER_PRELOAD:-} ]] || export LD_PRELOAD=$VHD_SANITIZER_PRELOAD
        exec "$VHDCTL" compact "$1"
    ) >/dev/null 2>"$fifo" &
    pid=$!
    exec 3<"$fifo"
}

# wait_moving: read progress until the first "moving:" line; false at EOF.
wait_moving ()
{
    local line
    while IFS= read -r -t 30 line <&3; do
        echo "$line" >> "$d/progress.log"
        [[ $line = moving:* ]] && return 0
    done
    return 1
}

# drain: the rest of the progress lines, then close fd 3.  Not `cat`: an
# nbdkit left behind (see reap_nbdkit) would hold the fifo open forever.
drain ()
{
    local line
    while IFS= read -r -t 1 line <&3; do
        echo "$line" >> "$d/progress.log"
    done
    exec 3<&-
}

# reap_nbdkit VHD: nbdkit processes vhdctl started on VHD must be gone once
# vhdctl is: they run with --exit-with-parent.  Waits up to 2 s, then kills
# (by pid) and counts those left behind.  Seen with sanitizer builds only:
# the nbdkit with libasan preloaded sometimes deadlocks in exit (p11-kit's
# destructor calls freelocale; glibc's setlocale lock has a corrupt reader
# count) after its parent was killed.
reap_nbdkit ()
{
    local vhd=$1 p i c left
    for (( i = 0; i < 20; i++ )); do
        left=()
        for p in /proc/[0-9]*; do
            { read -r c < "$p/comm"; } 2>/dev/null || continue
            [[ $c = nbdkit ]] || continue
            grep -qxF "file=$vhd" <<<"$(tr '\0' '\n' < "$p/cmdline" 2>/dev/null)" && left+=("${p#/proc/}")
        done
        (( ${#left[@]} )) || return 0
        sleep 0.1
    done
    kill -9 "${left[@]}" 2>/dev/null || true
    nbdkit_left=$(( nbdkit_left + ${#left[@]} ))
    echo "$testname: nbdkit ${left[*]} outlived its killed parent; killed it" >&2
}
nbdkit_left=0

now_ms () { local t=$EPOCHREALTIME; echo $(( ${t/./} / 1000 )); }

sleep_ms () { (( $1 == 0 )) || sleep "$(awk -v ms="$1" 'BEGIN { printf "%.3f", ms / 1000 }')"; }

# kill_loop NAME VHD COUNT: kill -9 at random instants.  Timing is
# calibrated on an uninterrupted run: T from the start to the end, Tm from
# the first "moving" progress line (the drops are durable, blocks are being
# copied) to the end.  Even-numbered kills come a random time into
# [0, T] after the start, odd-numbered ones a random time into [0, Tm]
# after the first "moving" line, so that the move phase, short as it is,
# is always hit.  Both are stratified: the k-th kill of a kind lands in the
# k-th slice of its interval.
kill_loop ()
{
    local name=$1 vhd=$2 count=$3 t0 tm t1 T Tm i k n delay st state kind
    local untouched=0 partial=0 finished=0 p0=${#problems[@]}
    cp -- "$d/$name.orig" "$vhd"
    t0=$(now_ms)
    start_compact "$vhd"
    wait_moving || { cat "$d/progress.log" >&2; fail "$name: no move phase"; }
    tm=$(now_ms)
    wait "$pid" || fail "$name: the calibration run failed"
    t1=$(now_ms)
    drain
    T=$(( t1 - t0 > 20 ? t1 - t0 : 20 )) Tm=$(( t1 - tm > 5 ? t1 - tm : 5 ))
    for (( i = 0; i < count; i++ )); do
        cp -- "$d/$name.orig" "$vhd"
        : > "$d/progress.log"
        k=$(( i / 2 ))
        if (( i % 2 == 0 )); then
            kind=start n=$(( (count + 1) / 2 ))
            delay=$(( (k * T + RANDOM % T) / n ))
            start_compact "$vhd"
            sleep_ms "$delay"
        else
            kind=moving n=$(( count / 2 ))
            delay=$(( (k * Tm + RANDOM % Tm) / n ))
            start_compact "$vhd"
            wait_moving || true
            sleep_ms "$delay"
        fi
        st=0
        # (braces: bash reports the killed job on the shell's stderr)
        { kill -9 "$pid" || true; wait "$pid" || st=$?; } 2>/dev/null
        drain
        reap_nbdkit "$vhd"
        [[ $st = 0 || $st = 137 ]] || { cat "$d/progress.log" >&2; fail "$name: vhdctl exited $st"; }
        if cmp -s "$d/$name.orig" "$vhd"; then
            state=untouched untouched=$((untouched + 1))
        elif [[ $(file_size "$vhd") = $(cat "$d/$name.optimum") ]]; then
            state=finished finished=$((finished + 1))
        else
            state=partial partial=$((partial + 1))
        fi
        check_state "$name" "$vhd" "$name: kill -9 $delay ms after the $kind ($state, status $st)"
    done
    echo "$name: $count kills (seed $seed; T $T ms, moving $Tm ms): $untouched before any write," \
         "$partial part-way, $finished after the truncation: $(( ${#problems[@]} - p0 )) broke something"
}

seed=${VHDCOMPACT_SEED:-$(( $(date +%s) % 32768 ))}
RANDOM=$seed
slow=0
[[ ${VHDCOMPACT_SLOW_TESTS:-0} = 1 ]] && slow=1

# scenarios: the disks above, made in the current format.
scenarios ()
{
    # VHD is checked after every fault point and killed 5 times; VHDX,
    # whose runs cross twice as many points, to stay within the test's
    # time, after the first fault point of each name (its first "log entry
    # written", first "block copied", ...) and 3 times; every point of
    # every format with VHDCOMPACT_SLOW_TESTS=1 (and 50 kills).
    every_point=1 kills=5
    [[ $fmt_name = vhd ]] || every_point=0 kills=3
    (( slow )) && every_point=1 kills=50
    echo "== $fmt_name: fault points: a dynamic disk"
    mkfs_ntfs "$d/dyn.ntfs" 64 4096 0 21 12 5
    fmt_from_raw "$d/dyn.ntfs" "$d/dyn.$fmt_suffix"
    rm -f "$d/dyn.ntfs"
    ntfs_parts="0:$((64 * MIB)):$d/dyn.ntfs.sums"
    prepare "$fmt_name-dyn" "$d/dyn.$fmt_suffix"
    fault_loop "$fmt_name-dyn" "$d/dyn.$fmt_suffix"

    echo "== $fmt_name: fault points: a differencing child"
    make_changed_child
    prepare "$fmt_name-child" "$d/chain/child.$fmt_suffix" "$d/par.raw"
    fault_loop "$fmt_name-child" "$d/chain/child.$fmt_suffix"

    echo "== $fmt_name: kill -9 at random instants: a larger dynamic disk"
    # 30 files of 4-6 MiB, every other one deleted: about 30 blocks to drop,
    # half as many to move.
    big=$d/big.ntfs
    truncate -s $((224 * MIB)) "$big"
    mkntfs -q -F -f -c 4096 -s 512 -p 0 -H 255 -S 63 -L big "$big" 2>/dev/null || fail "mkntfs"
    ntfs_mount "$big" "$d/mnt" big_writes || fail "cannot mount the big volume"
    RANDOM=$seed
    for i in $(seq 1 30); do
      rand_file "$d/mnt/f$i" $(( 4 * MIB + (RANDOM * 64) ))
    done
    for i in $(seq 1 2 30); do rm -- "$d/mnt/f$i"; done
    (cd "$d/mnt" && find . -type f -print0 | sort -z | xargs -0 sha256sum) > "$big.sums"
    ntfs_umount "$d/mnt"
    fmt_from_raw "$big" "$d/big.$fmt_suffix"
    rm -f "$big"
    ntfs_parts="0:$((224 * MIB)):$big.sums"
    RANDOM=$seed
    prepare "$fmt_name-big" "$d/big.$fmt_suffix"
    kill_loop "$fmt_name-big" "$d/big.$fmt_suffix" "$kills"
    echo "$fmt_name: done ($((SECONDS - t_start)) s so far)"
}

for_each_format scenarios

if (( nbdkit_left )) && [[ -z ${VHD_SANITIZER_PRELOAD:-} ]]; then
  problems+=("$nbdkit_left nbdkit process(es) outlived the vhdctl that started them")
fi
if (( ${#problems[@]} )); then
  echo "$testname: ${#problems[@]} interruption(s) broke something:" >&2
  printf '  %s\n' "${problems[@]}" >&2
  fail "${#problems[@]} interruption(s) broke something (see above)"
fi
echo "every interruption left a valid disk that a second run compacted to the optimum ($((SECONDS - t_start)) s)"
