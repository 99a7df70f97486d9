#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Finishing an interrupted compaction on open (issue 17 item 3;
# lib/image/finish-tail.c), for VHD and VHDX (or the formats of
# VHDCOMPACT_TEST_FORMATS).
#
# A dynamic disk (zeros in block 0, data in blocks 1 to 6, written by
# qemu-io) is compacted with --mode zero and stopped at the crash point
# right before the cut ("compact: footer synced"): a valid image with
# unreferenced space after it.
#   1. Read-only opens never write: vhdctl check, info and a dry run, the
#      plugin with readonly=1 (which reads the content as before), and the
#      plugin read-write with lock=false (not under our lock): the file
#      stays byte-identical.
#   2. A read-write open through the plugin cuts the file to the size an
#      uninterrupted run gives (a VHD byte for byte that run's file), the
#      content as before (qemu-img compare), vhdctl check and, for VHDX,
#      qemu-img check clean; a second read-write open changes nothing.
#      vhdctl compact on the interrupted file ends there too, and reports
#      the size it started from.
#   3. Every crash point of that open: exit 86, the file checks clean,
#      reads as before and is as long as before or already cut; a later
#      read-write open finishes at the uninterrupted run's size.
#   4. Power cuts (tests/lib/powercut.h) at every record of the open's
#      log, three seeds each: the same checks (here and in 5, where the
#      VHD footer is written at the new end first; there the test also
#      shows that without the sync before the cut a power cut breaks it).
#   5. Trailing space that is not an interrupted run's.  VHD: 3 MiB of
#      random bytes between the last block and the footer (nothing
#      references them): a read-only open leaves them, a read-write open
#      cuts them and gives back qemu's file byte for byte.  VHDX: random
#      bytes appended that make the size no whole number of MiB are left
#      (no compaction leaves such a file); 2 MiB appended are cut, the
#      content and qemu-img check as before; qemu's new file with no
#      block (8 MiB, its tables ending at 4) is left; the space of a soft anchor
#      (mkvhdx) at the end of the file is kept.
set -euo pipefail
. "$(dirname "$0")/functions.sh"
requires qemu-img qemu-io nbdkit nbdinfo nbdcopy cmp sha256sum
requires_env VHDCTL VHD_PLUGIN POWERCUT MKVHDX
make_tmpdir
. "$(dirname "$0")/compact-functions.sh"
image_formats=${VHDCOMPACT_TEST_FORMATS:-vhd vhdx}
requires_formats

compact () { vhdctl_attaching compact --local --no-progress --mode zero "$@"; }
# rw_open IMG [PARAM...]: the plugin opens IMG read-write (and a client asks its size).
rw_open () { local f=$1; shift; serve "$f" "$@" --run 'nbdinfo --size "$uri" > /dev/null'; }

# same_as_orig IMG WHAT: IMG reads as the disk before the run, checks
# clean (vhdctl; qemu-img for VHDX, which qemu checks).
same_as_orig ()
{
    "$VHDCTL" check "$1" > /dev/null || { "$VHDCTL" check "$1" >&2 || :; fail "$2: vhdctl check"; }
    qemu-img compare -q -f "$fmt_qemu_driver" -F raw -- "$1" "$d/orig.raw" || fail "$2: the content changed"
    if [[ $fmt_name = vhdx ]]; then
        qemu-img check -q -f vhdx -- "$1" || fail "$2: qemu-img check"
    fi
}

# finishes IMG WHAT [SIZE]: a read-write open cuts IMG to SIZE ($optimum),
# the content kept.
finishes ()
{
    local want=${3:-$optimum}
    wait_unlocked "$1" || fail "$2: the image stays locked"
    rw_open "$1" || fail "$2: the read-write open failed"
    [[ $(file_size "$1") = "$want" ]] ||
        fail "$2: a read-write open left $(file_size "$1") bytes, expected $want"
    same_as_orig "$1" "$2: after the read-write open"
}

# powercuts SRC WHAT SIZE: a read-write open of (a copy of) SRC, logged;
# then a power cut at each record of its log, three seeds each: the file
# is as long as SRC or SIZE, checks clean, reads as before, and a later
# read-write open cuts it to SIZE.
powercuts ()
{
    local src=$1 what=$2 want=$3 f=$d/pc.$fmt_suffix n m b
    cp -- "$src" "$f"
    rm -f -- "$d/pc.log"
    VHDCOMPACT_TEST_POWER_LOG=$d/pc.log rw_open "$f"
    "$POWERCUT" apply "$src" "$d/pc.log" "$d/pc.out" all all > /dev/null
    cmp -s -- "$d/pc.out" "$f" || fail "$what: power log: replaying it whole does not give the finished file"
    n=$("$POWERCUT" list "$d/pc.log" | sed -n 's/^end //p')
    (( n >= 3 )) || fail "$what: power log: $n records, expected at least a sync, the truncate and an fsync"
    for (( m = 0; m <= n; m++ )); do
        for b in 1 2 3; do
            "$POWERCUT" apply "$src" "$d/pc.log" "$d/pc.out" "$m" "$((m * 7 + b))" > /dev/null
            [[ $(file_size "$d/pc.out") = "$(file_size "$src")" || $(file_size "$d/pc.out") = "$want" ]] ||
                fail "$what: power cut at $m, seed $b: $(file_size "$d/pc.out") bytes"
            same_as_orig "$d/pc.out" "$what: power cut at record $m, seed $b"
            finishes "$d/pc.out" "$what: after a power cut at record $m, seed $b" "$want"
        done
    done
    echo "ok   $what: power cuts at each of the $n records of the finishing open, three seeds each"
}

scenario ()
{
    local base=$d/base.$fmt_suffix int=$d/int.$fmt_suffix f=$d/f.$fmt_suffix n m rc point sha size
    local cmds=(-c "write -q -P 0 0 2M") b seen=()
    echo "== $fmt_name"
    fmt_create_dynamic "$base" 64M
    for b in 1 2 3 4 5 6; do cmds+=(-c "write -q -P $((0x40 + b)) $((b * 2 * MIB)) $((2 * MIB))"); done
    qemu-io -f "$fmt_qemu_driver" "${cmds[@]}" "$base" > /dev/null
    qemu-img convert -f "$fmt_qemu_driver" -O raw -- "$base" "$d/orig.raw"
    cp -- "$base" "$d/ref.$fmt_suffix"
    compact "$d/ref.$fmt_suffix" > /dev/null
    optimum=$(file_size "$d/ref.$fmt_suffix")
    (( optimum < $(file_size "$base") )) || fail "test setup: the run should shrink the file"

    # The run stopped right before its cut.
    for (( n = 1; ; n++ )); do
        (( n < 200 )) || fail "test setup: no crash point 'compact: footer synced'"
        cp -- "$base" "$int"
        rc=0; VHDCOMPACT_FAULT_AT=$n compact "$int" > /dev/null 2> "$d/err" || rc=$?
        (( rc != 0 )) || fail "test setup: the run ended before 'compact: footer synced'"
        [[ $rc = 86 ]] || { cat "$d/err" >&2; fail "test setup: fault point $n: exit status $rc"; }
        grep -q "^vhdcompact: fault point $n (compact: footer synced): exiting$" "$d/err" && break
    done
    wait_unlocked "$int" || fail "the interrupted image stays locked"
    size=$(file_size "$int")
    (( size > optimum )) || fail "test setup: the interrupted run left $size bytes, no more than $optimum"
    echo "interrupted at fault point $n: $size bytes, an uninterrupted run $optimum"
    same_as_orig "$int" "interrupted"

    # 1. Read-only opens write nothing.
    sha=$(file_sha "$int")
    "$VHDCTL" info "$int" > /dev/null
    "$VHDCTL" info --json "$int" > /dev/null
    vhdctl_attaching compact --local --no-progress --dry-run --mode zero "$int" > /dev/null
    serve "$int" readonly=1 --run "nbdcopy \"\$uri\" '$d/ro.raw'"
    cmp -s -- "$d/ro.raw" "$d/orig.raw" || fail "readonly=1: the plugin reads other content"
    rw_open "$int" lock=false
    [[ $(file_sha "$int") = "$sha" ]] || fail "a read-only open (or one without our lock) changed the file"
    echo "ok   read-only opens and lock=false leave the file byte-identical"

    # 2. A read-write open finishes the run.
    cp -- "$int" "$f"
    finishes "$f" "read-write open"
    if [[ $fmt_name = vhd ]]; then
        cmp -s -- "$f" "$d/ref.vhd" || fail "the finished VHD differs from the uninterrupted run's"
    fi
    sha=$(file_sha "$f")
    rw_open "$f"
    [[ $(file_sha "$f") = "$sha" ]] || fail "a second read-write open changed the finished file"
    cp -- "$int" "$f"
    compact --json "$f" > "$d/c.json"
    [[ $(file_size "$f") = "$optimum" ]] || fail "vhdctl compact on the interrupted file ends at $(file_size "$f")"
    [[ $(json_num size-before < "$d/c.json") = "$size" ]] || fail "vhdctl compact: size-before is not $size"
    echo "ok   a read-write open cuts $size to $optimum bytes; vhdctl compact ends there too"

    # 3. Crash points of the finishing open.
    for (( m = 1; ; m++ )); do
        (( m < 50 )) || fail "the finishing open never completes"
        cp -- "$int" "$f"
        rc=0; VHDCOMPACT_FAULT_AT=$m rw_open "$f" 2> "$d/err" || rc=$?
        (( rc != 0 )) || break
        [[ $rc = 86 ]] || { cat "$d/err" >&2; fail "finishing open, fault point $m: exit status $rc"; }
        point=$(sed -n "s/^vhdcompact: fault point $m (\(.*\)): exiting$/\1/p" "$d/err")
        seen+=("$point")
        wait_unlocked "$f" || fail "fault point $m: the image stays locked"
        [[ $(file_size "$f") = "$size" || $(file_size "$f") = "$optimum" ]] ||
            fail "fault point $m ($point): $(file_size "$f") bytes"
        same_as_orig "$f" "fault point $m ($point)"
        finishes "$f" "after fault point $m ($point)"
        echo "ok   fault point $m ($point): valid, the content kept; a later open finishes"
    done
    [[ " ${seen[*]} " = *" finish: truncated "* ]] || fail "no crash point 'finish: truncated' (seen: ${seen[*]})"

    # 4. Power cuts in the finishing open.
    powercuts "$int" "interrupted run" "$optimum"

    # 5. Trailing space that no run of ours left.
    local fs
    fs=$(file_size "$base")
    if [[ $fmt_name = vhd ]]; then
        { head -c $(( fs - 512 )) -- "$base"; head -c $(( 3 * MIB + 1536 )) /dev/urandom; tail -c 512 -- "$base"; } > "$f"
        "$VHDCTL" check "$f" > /dev/null || fail "test setup: space before the footer should check clean"
        sha=$(file_sha "$f")
        serve "$f" readonly=1 --run 'nbdinfo --size "$uri" > /dev/null'
        [[ $(file_sha "$f") = "$sha" ]] || fail "readonly=1 changed a VHD with space before its footer"
        powercuts "$f" "space before the footer" "$fs"
        # The model sees that barrier: without it (the sync after the
        # footer taken out of the model), a cut before the fsync may keep
        # the cut and lose the footer.
        local broke=0 s2
        n=$("$POWERCUT" list "$d/pc.log" | sed -n 's/^end //p')
        for (( s2 = 1; s2 <= 60 && !broke; s2++ )); do
            "$POWERCUT" apply "$f" "$d/pc.log" "$d/pc.out" $(( n - 1 )) "$s2" "finish: tail prepared" > /dev/null
            "$VHDCTL" check "$d/pc.out" > /dev/null 2>&1 || broke=1
        done
        (( broke )) || fail "the power-cut model does not see the sync before the cut"
        echo "ok   without the sync before the cut, a power cut breaks the VHD (seed $(( s2 - 1 )))"
        rw_open "$f"
        cmp -s -- "$f" "$base" || fail "a read-write open did not give back qemu's file after cutting the space"
        echo "ok   VHD: unreferenced space before the footer is cut: qemu's file byte for byte"
    else
        { cat -- "$base"; head -c 1000 /dev/urandom; } > "$f"
        sha=$(file_sha "$f")
        rw_open "$f"
        [[ $(file_sha "$f") = "$sha" ]] || fail "a read-write open changed a VHDX of no whole number of MiB"
        { cat -- "$base"; head -c $(( 2 * MIB )) /dev/urandom; } > "$f"
        powercuts "$f" "2 MiB appended" "$fs"
        rw_open "$f"
        [[ $(file_size "$f") = "$fs" ]] || fail "2 MiB appended: $(file_size "$f") bytes, expected $fs"
        same_as_orig "$f" "2 MiB appended, then cut"
        echo "ok   VHDX: a tail of no whole number of MiB is left; 2 MiB appended are cut"
        # qemu makes a new VHDX 8 MiB long, its tables ending at 4 MiB: a
        # file with no block is its creator's layout, left.
        rm -f -- "$f"
        qemu-img create -q -f vhdx -o block_size=1M -- "$f" 1G
        (( $(file_size "$f") == 8 * MIB )) || fail "test setup: qemu's empty VHDX is $(file_size "$f") bytes, not 8 MiB"
        sha=$(file_sha "$f")
        rw_open "$f"
        [[ $(file_sha "$f") = "$sha" ]] || fail "a read-write open changed qemu's new, empty VHDX"
        echo "ok   VHDX: a new file with no block (qemu's 8 MiB) is left"
        # A soft anchor (an UNMAPPED block that keeps its offset) is the
        # last thing in the file: its space is not cut (VHDX.md 3.4, step
        # 12), neither alone nor under 2 MiB appended.
        rm -f -- "$d/anchor.vhdx"
        "$MKVHDX" --fill 0:41,1:42,2:43 --after-state 2:unmapped "$d/anchor.vhdx"
        qemu-img convert -f vhdx -O raw -- "$d/anchor.vhdx" "$d/anchor.raw"
        fs=$(file_size "$d/anchor.vhdx")
        cp -- "$d/anchor.vhdx" "$f"
        rw_open "$f"
        cmp -s -- "$f" "$d/anchor.vhdx" || fail "a read-write open changed a VHDX ending in a soft anchor"
        { cat -- "$d/anchor.vhdx"; head -c $(( 2 * MIB )) /dev/urandom; } > "$f"
        rw_open "$f"
        [[ $(file_size "$f") = "$fs" ]] || fail "soft anchor, 2 MiB appended: $(file_size "$f") bytes, expected $fs"
        qemu-img check -q -f vhdx -- "$f" || fail "soft anchor, 2 MiB appended, cut: qemu-img check"
        qemu-img compare -q -f vhdx -F raw -- "$f" "$d/anchor.raw" || fail "soft anchor, 2 MiB appended, cut: content"
        echo "ok   VHDX: the space of a soft anchor at the end is kept"
    fi
}

for_each_format scenario
echo "all cases passed"
