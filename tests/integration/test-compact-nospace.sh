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

qemu-img create -q -f vpc -o subformat=dynamic "$d/orig.vhd" 64M
qemu-io -f vpc -c "write -q -P 0 0 16M" -c "write -q -P 0x5a 16M 32M" "$d/orig.vhd" > /dev/null
vhd_to_raw "$d/orig.vhd" "$d/orig.raw"

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
    vhd_geometry "$vhd"
    check_packed "$vhd" $(( vhd_table + vhd_batbytes )) "$1"
    qemu-img compare -q -f vpc -F raw -- "$vhd" "$d/orig.raw" || fail "$1: the content changed"
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
    qemu-img compare -q -f vpc -F raw -- "$vhd" "$d/orig.raw" || fail "write:$n:enospc: the content changed"
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
    qemu-img compare -q -f vpc -F raw -- "$vhd" "$d/orig.raw" || fail "fault point $n: the content changed"
    rc=0; compact "$vhd" > "$d/out" 2> "$d/err" || rc=$?
    [[ $rc = 0 ]] || { cat "$d/err" >&2; fail "fault point $n: the run after it failed ($rc)"; }
    finished "fault point $n (${points[-1]}), run again"
    n=$(( n + 1 ))
    (( n < 1000 )) || fail "the run never completes"
done
rounds=$(printf '%s\n' "${points[@]}" | grep -c "sources punched" || :)
(( rounds >= 2 )) || fail "the run made $rounds rounds, expected 2 or more"
echo "ok: crashed at each of the $(( n - 1 )) fault points ($rounds rounds): valid, and finished by the next run"
echo "all cases passed"
