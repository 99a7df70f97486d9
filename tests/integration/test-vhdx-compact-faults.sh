#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# `vhdctl compact` of a VHDX when the disk file fails it (issue 15 item 5;
# test-compact-faults.sh for VHD).  The disk: a dynamic VHDX of 1 MiB
# blocks made by qemu-img and qemu-io (data blocks, blocks written with
# zeros, holes), compacted in mode zero (no attach: every I/O counted is
# vhdctl's own), with VHDCOMPACT_IO_FAULT (lib/util/fault.h):
#   - every write of the run in turn fails (EIO, every third ENOSPC), then
#     every sync (EIO), then the truncate;
#   - each such run exits 1 with one line on stderr naming the file and
#     the problem id io-error, and the error;
#   - the file then checks clean (vhdctl; qemu-img after replaying on a
#     copy the log it may name: formats/vhdx.sh fmt_qemu_readable), reads
#     exactly as before, and a run without the fault ends at the size of
#     an uninterrupted run, reading the same;
#   - short reads and writes everywhere are no failure: the same file as
#     the uninterrupted run.
set -euo pipefail
. "$(dirname "$0")/functions.sh"
requires qemu-img qemu-io cmp od dd
requires_env VHDCTL
make_tmpdir
. "$(dirname "$0")/compact-functions.sh"
use_format vhdx
d=$tmpdir
t_start=$SECONDS

vhd=$d/disk.vhdx
qemu-img create -q -f vhdx -o block_size=1M -- "$d/orig.vhdx" 48M
qio=()
for (( i = 0; i < 48; i++ )); do
  case $((i % 3)) in
    0) qio+=(-c "write -q -P $((i + 1)) $((i * MIB)) $MIB") ;;
    1) qio+=(-c "write -q -P 0 $((i * MIB)) $MIB") ;;
  esac
done
qemu-io -f vhdx "${qio[@]}" "$d/orig.vhdx" >/dev/null
img_to_raw "$d/orig.vhdx" "$d/orig.raw"

compact () { "$VHDCTL" compact --local --no-progress --mode zero "$@"; }

cp "$d/orig.vhdx" "$d/ref.vhdx"
compact --json "$d/ref.vhdx" > "$d/ref.json"
optimum=$(file_size "$d/ref.vhdx")
(( optimum < $(file_size "$d/orig.vhdx") )) || fail "test setup: nothing to compact"
(( $(json_num blocks-moved < "$d/ref.json") > 0 )) || fail "test setup: no block moves"
img_to_raw "$d/ref.vhdx" "$d/ref.raw"
cmp -s "$d/orig.raw" "$d/ref.raw" || fail "the uninterrupted run changed the content"

# same_as_ref WHAT: the run's file is the uninterrupted run's: its size,
# and its content (not its bytes: every run writes a new FileWriteGuid).
same_as_ref ()
{
    [[ $(file_size "$vhd") = "$optimum" ]] || fail "$1: ended at $(file_size "$vhd"), not $optimum"
    clean_and_same "$1"
}

# clean_and_same WHAT: the image checks clean and reads as the original.
clean_and_same ()
{
    "$VHDCTL" check "$vhd" >/dev/null || { "$VHDCTL" check "$vhd" >&2 || :; fail "$1: check"; }
    img_to_raw "$vhd" "$d/now.raw"
    cmp -s "$d/orig.raw" "$d/now.raw" || fail "$1: the content changed"
}

# fault RULE: the run fails cleanly, or (past the last such I/O) succeeds:
# returns 1 then.
fault ()
{
    local rule=$1 rc=0 kind=${1##*:}
    cp "$d/orig.vhdx" "$vhd"
    VHDCOMPACT_IO_FAULT=$rule compact "$vhd" >"$d/out" 2>"$d/err" || rc=$?
    if (( rc == 0 )); then
        same_as_ref "$rule: succeeded, but"
        return 1
    fi
    [[ $rc = 1 ]] || { cat "$d/err" >&2; fail "$rule: exit status $rc, expected 1"; }
    [[ ! -s $d/out ]] || fail "$rule: wrote to stdout"
    [[ $(wc -l < "$d/err") = 1 ]] || { cat "$d/err" >&2; fail "$rule: $(wc -l < "$d/err") lines on stderr, expected one"; }
    grep -qF "vhdctl: '$vhd': io-error: " "$d/err" || { cat "$d/err" >&2; fail "$rule: no io-error line naming the file"; }
    case $kind in
      eio) grep -qF 'Input/output error' "$d/err" || fail "$rule: the message does not give the error" ;;
      enospc) grep -qF 'No space left on device' "$d/err" || fail "$rule: the message does not give the error" ;;
    esac
    clean_and_same "$rule"
    mv "$d/err" "$d/fault.err"
    compact "$vhd" >/dev/null 2>"$d/err" || { cat "$d/err" >&2; fail "$rule: the run after it failed"; }
    [[ $(file_size "$vhd") = "$optimum" ]] || fail "$rule: the run after it ended at $(file_size "$vhd"), not $optimum"
    clean_and_same "$rule, then a run"
    echo "$rule: $(cat "$d/fault.err")"
    return 0
}

echo "== every write, every sync, the truncate"
for op in write sync truncate; do
  n=1
  while :; do
    kind=eio
    [[ $op = write ]] && (( n % 3 == 0 )) && kind=enospc
    fault "$op:$n:$kind" || break
    n=$((n + 1))
    (( n < 1000 )) || fail "$op: the run never completes"
  done
  (( n > 1 )) || fail "$op: no $op to fail"
  echo "$op: $((n - 1)) failed in turn, each left the disk valid"
done

echo "== short transfers"
for rule in "read:*:short" "write:*:short"; do
  cp "$d/orig.vhdx" "$vhd"
  VHDCOMPACT_IO_FAULT=$rule compact --json "$vhd" >"$d/out" 2>"$d/err" ||
    { cat "$d/err" >&2; fail "$rule: failed"; }
  same_as_ref "$rule"
  echo "$rule: completed, the same file"
done
echo "every I/O fault failed the run cleanly and left a valid disk ($((SECONDS - t_start)) s)"
