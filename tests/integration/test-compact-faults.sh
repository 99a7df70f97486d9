#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# `vhdctl compact` when the disk file fails it, or changes under it.
#
# I/O faults (VHDCOMPACT_IO_FAULT=OP:N:KIND, lib/util/fault.h): a read, a
# write (EIO and ENOSPC), a sync or the truncate of the run fails.  Each
# such run exits 1 with one line on stderr naming the file, the problem id
# io-error and the operation; the image then checks clean, reads exactly as
# before (qemu-img), and a run without the fault reaches the size of an
# uninterrupted run, reading the same.  Short reads and writes everywhere
# are no failure: the run completes, to the same file.
#
# Another writer (one that ignores the lock) between the scan and the first
# write, through the test hook VHDCOMPACT_TEST_MOVE_PAUSE: the file grows,
# or a BAT entry changes.  The run is refused with file-changed and writes
# nothing: the file is byte-identical to what the other writer left.
#
# Then vhdctl runs these paths under valgrind memcheck (plain build).
# Last, as root with dbus-daemon, faults and the other writer hit a job of
# vhd-compactd (its worker).
#
# A read error while nbdkit serves the file-system scan fails the run too.
#
# The disk is made by qemu-img and qemu-io: data blocks, blocks written with
# zeros (allocated), holes; --mode zero needs no attach, so every read and
# write counted is vhdctl's own.
set -euo pipefail
. "$(dirname "$0")/functions.sh"
requires qemu-img qemu-io cmp od dd
requires_env VHDCTL
make_tmpdir
. "$(dirname "$0")/compact-functions.sh"
d=$tmpdir

vhd=$d/disk.vhd
fmt_create_dynamic "$vhd" 64M
qio=()
for i in 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29; do
  case $((i % 3)) in
    0) qio+=(-c "write -q -P $((i + 1)) $((i * 2 * MIB)) $((2 * MIB))") ;;
    1) qio+=(-c "write -q -P 0 $((i * 2 * MIB)) $((2 * MIB))") ;;
  esac
done
qemu-io -f "$fmt_qemu_driver" "${qio[@]}" "$vhd" >/dev/null
cp "$vhd" "$d/orig.vhd"
img_to_raw "$vhd" "$d/orig.raw"

compact () { "$VHDCTL" compact --local --no-progress --mode zero "$@"; }

# The reference: an uninterrupted run.
cp "$d/orig.vhd" "$d/ref.vhd"
compact --json "$d/ref.vhd" > "$d/ref.json"
optimum=$(file_size "$d/ref.vhd")
(( optimum < $(file_size "$d/orig.vhd") )) || fail "test setup: nothing to compact"
(( $(json_num blocks-moved < "$d/ref.json") > 0 )) || fail "test setup: no block moves"
img_to_raw "$d/ref.vhd" "$d/ref.raw"
cmp -s "$d/orig.raw" "$d/ref.raw" || fail "the uninterrupted run changed the content"

# clean_and_same WHAT: the image checks clean and reads as the original.
clean_and_same ()
{
    "$VHDCTL" check "$vhd" >/dev/null || { "$VHDCTL" check "$vhd" >&2 || :; fail "$1: check"; }
    img_to_raw "$vhd" "$d/now.raw"
    cmp -s "$d/orig.raw" "$d/now.raw" || fail "$1: the content changed"
}

# one_line WHAT ID: the run's stderr is one line naming the file and ID.
one_line ()
{
    [[ $(wc -l < "$d/err") = 1 ]] || { cat "$d/err" >&2; fail "$1: $(wc -l < "$d/err") lines on stderr, expected one"; }
    grep -qF "vhdctl: '$vhd': $2: " "$d/err" || { cat "$d/err" >&2; fail "$1: expected \"vhdctl: '$vhd': $2: \""; }
}

echo "== I/O faults"
# OP:N:KIND  a word the message must have
cases=(
  "write:1:eio      writing the BAT"
  "sync:1:eio       fdatasync"
  "write:2:enospc   writing"
  "write:5:eio      writing"
  "sync:2:eio       fdatasync"
  "write:-2:eio     writing the BAT"
  "sync:-2:eio      fdatasync"
  "write:-1:enospc  writing the footer"
  "sync:-1:eio      fsync"
  "truncate:1:eio   ftruncate"
)
# Negative N counts from the end: the writes and syncs of the reference run.
moved=$(json_num blocks-moved < "$d/ref.json")
n_writes=$((moved + 3)) n_syncs=5
for c in "${cases[@]}"; do
  read -r rule words <<<"$c"
  IFS=: read -r op n kind <<<"$rule"
  if (( n < 0 )); then
    case $op in write) n=$((n_writes + n + 1)) ;; sync) n=$((n_syncs + n + 1)) ;; esac
  fi
  rule=$op:$n:$kind
  cp "$d/orig.vhd" "$vhd"
  rc=0
  VHDCOMPACT_IO_FAULT=$rule compact "$vhd" >"$d/out" 2>"$d/err" || rc=$?
  [[ $rc = 1 ]] || { cat "$d/err" >&2; fail "$rule: exit status $rc, expected 1"; }
  [[ ! -s $d/out ]] || fail "$rule: wrote to stdout"
  one_line "$rule" io-error
  grep -qF "$words" "$d/err" || { cat "$d/err" >&2; fail "$rule: the message does not say '$words'"; }
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
done

echo "== every read failed in turn"
# Reads that fail before the first write leave the file byte-identical;
# a failed read of a block's sector bitmap is tried once more by lib/vhd,
# so some single failures are absorbed: that run must equal the reference.
n=1 absorbed=0 scan=0 copy=0
while :; do
  cp "$d/orig.vhd" "$vhd"
  rc=0
  VHDCOMPACT_IO_FAULT=read:$n:eio compact "$vhd" >"$d/out" 2>"$d/err" || rc=$?
  if [[ $rc = 0 ]]; then
    cmp -s "$vhd" "$d/ref.vhd" || fail "read:$n:eio: succeeded, but not as the uninterrupted run"
    absorbed=$((absorbed + 1))
    # Past the last read, every run succeeds.
    (( absorbed < 8 )) || break
  else
    [[ $rc = 1 ]] || { cat "$d/err" >&2; fail "read:$n:eio: exit status $rc, expected 1"; }
    absorbed=0
    one_line "read:$n:eio" io-error
    if grep -qF 'nothing was written' "$d/err"; then
      cmp -s "$vhd" "$d/orig.vhd" || fail "read:$n:eio: 'nothing was written', but the file changed"
    fi
    grep -qF 'scanning for zero blocks: reading block' "$d/err" && scan=$((scan + 1))
    grep -qF 'copying block' "$d/err" && copy=$((copy + 1))
    clean_and_same "read:$n:eio"
    compact "$vhd" >/dev/null 2>"$d/err" || { cat "$d/err" >&2; fail "read:$n:eio: the run after it failed"; }
    cmp -s "$vhd" "$d/ref.vhd" || fail "read:$n:eio: the run after it is not the uninterrupted run"
  fi
  n=$((n + 1))
done
(( scan > 0 && copy > 0 )) || fail "reads: $scan failures in the scan, $copy in the copies: expected both"
echo "reads: $((n - 8)) failed in turn: $scan in the zero scan, $copy in the copies, each refused cleanly"

echo "== the file-system scan through the attach"
# An NTFS volume over the whole disk, scanned through nbdkit, which
# inherits the rule and counts its own reads: a read that fails there
# (the disk cannot be read) fails the run with io-error, nothing written,
# instead of counting the volume as in use.  nbdkit logs its own line
# about the failed read, so only our last line is checked.
# Not in sanitizer builds: there, the nbdkit with libasan preloaded
# deadlocks in exit (p11-kit's destructor, glibc's setlocale lock: see
# reap_nbdkit in test-compact-crash.sh) after its plugin logged the error,
# and vhdctl waits for it forever.
if [[ -n ${VHD_SANITIZER_PRELOAD:-} ]]; then
  echo "fs scan: skipped: sanitizer build (nbdkit deadlocks in exit with libasan preloaded)"
elif command -v mkntfs >/dev/null && [[ -n ${VHD_PLUGIN:-} ]]; then
  truncate -s 64M "$d/ntfs.raw"
  mkntfs -q -F -f -c 4096 "$d/ntfs.raw" >/dev/null 2>&1
  dd if=/dev/urandom of="$d/ntfs.raw" bs=1M seek=20 count=4 conv=notrunc status=none
  fmt_from_raw "$d/ntfs.raw" "$d/ntfs.vhd"
  cp "$d/ntfs.vhd" "$d/ntfs.ref.vhd"
  vhdctl_attaching compact --local --no-progress --mode fs "$d/ntfs.ref.vhd" >/dev/null
  fsfail=0
  for ((n = 5; n <= 60; n++)); do
    cp "$d/ntfs.vhd" "$d/t.vhd"
    rc=0
    VHDCOMPACT_IO_FAULT=read:$n:eio vhdctl_attaching compact --local --no-progress --mode fs "$d/t.vhd" \
      >"$d/out" 2>"$d/err" || rc=$?
    if [[ $rc = 0 ]]; then
      cmp -s "$d/t.vhd" "$d/ntfs.ref.vhd" || fail "fs read:$n:eio: succeeded, but not as the run without it"
      continue
    fi
    [[ $rc = 1 ]] || { cat "$d/err" >&2; fail "fs read:$n:eio: exit status $rc, expected 1"; }
    tail -n 1 "$d/err" | grep -qF "vhdctl: '$d/t.vhd': io-error: " ||
      { cat "$d/err" >&2; fail "fs read:$n:eio: the last line is not an io-error"; }
    # vhdctl counts its own reads too: a later one fails in the copies.
    if tail -n 1 "$d/err" | grep -qF 'nothing was written'; then
      cmp -s "$d/t.vhd" "$d/ntfs.vhd" || fail "fs read:$n:eio: the file changed"
    else
      "$VHDCTL" check "$d/t.vhd" >/dev/null || fail "fs read:$n:eio: check"
    fi
    if tail -n 1 "$d/err" | grep -qF 'scanning the file systems: reading the disk failed'; then
      fsfail=$((fsfail + 1))
      msg=$(tail -n 1 "$d/err")
    fi
  done
  (( fsfail > 0 )) || fail "fs: no read of the file-system scan failed"
  echo "fs scan: $fsfail runs failed in the scan, e.g. $msg"
else
  echo "fs scan: skipped: no mkntfs or no plugin"
fi

echo "== short transfers"
for rule in "read:*:short" "write:*:short"; do
  cp "$d/orig.vhd" "$vhd"
  VHDCOMPACT_IO_FAULT=$rule compact --json "$vhd" >"$d/out" 2>"$d/err" ||
    { cat "$d/err" >&2; fail "$rule: failed"; }
  cmp -s "$vhd" "$d/ref.vhd" || fail "$rule: not the file of the uninterrupted run"
  [[ $(json_num bytes-moved < "$d/out") = $(json_num bytes-moved < "$d/ref.json") ]] || fail "$rule: bytes moved differ"
  echo "$rule: completed, the same file"
done

echo "== another writer between scan and move"
# wait_for FILE: until FILE exists (30 s at most).
wait_for ()
{
    local i
    for ((i = 0; i < 3000; i++)); do
        [[ -e $1 ]] && return 0
        sleep 0.01
    done
}
# stale NAME ACTION: the run paused before its first write; ACTION changes
# the file; the run must be refused with file-changed, writing nothing.
stale ()
{
    local name=$1 action=$2 flag=$d/pause rc=0 pid
    cp "$d/orig.vhd" "$vhd"
    rm -f "$flag"
    VHDCOMPACT_TEST_MOVE_PAUSE=$flag compact "$vhd" >"$d/out" 2>"$d/err" & pid=$!
    wait_for "$flag"
    [[ -e $flag ]] || { kill "$pid"; fail "$name: the run never paused"; }
    $action
    cp "$vhd" "$d/$name.expected"
    rm "$flag"
    wait "$pid" || rc=$?
    [[ $rc = 1 ]] || { cat "$d/err" >&2; fail "$name: exit status $rc, expected 1"; }
    one_line "$name" file-changed
    cmp -s "$vhd" "$d/$name.expected" || fail "$name: the file was written"
    echo "$name: $(cat "$d/err")"
}
grow () { dd if=/dev/zero bs=512 count=1 status=none >> "$vhd"; }
stale grown grow
grep -qF "$(( $(file_size "$d/orig.vhd") + 512 )) now" "$d/err" || fail "grown: the message does not give the sizes"
fmt_geometry "$d/orig.vhd"
first=$(alloc_blocks "$d/orig.vhd" | sed -n 1p | cut -d' ' -f1)
unmap () { poke "$vhd" $((vhd_table + 4 * first)) ffffffff; }
stale bat unmap
grep -qF "BAT entry $first changed" "$d/err" || fail "bat: the message does not name the entry"
grep -qF "(field bat at offset $((vhd_table + 4 * first)))" "$d/err" || fail "bat: the message does not give the offset"
# And once nobody interferes, the same pause changes nothing.
cp "$d/orig.vhd" "$vhd"
rm -f "$d/pause"
VHDCOMPACT_TEST_MOVE_PAUSE=$d/pause compact "$vhd" >/dev/null 2>"$d/err" & pid=$!
wait_for "$d/pause"
rm -f "$d/pause"
wait "$pid" || { cat "$d/err" >&2; fail "paused, untouched: failed"; }
cmp -s "$vhd" "$d/ref.vhd" || fail "paused, untouched: not the file of the uninterrupted run"

echo "== vhdctl under valgrind memcheck"
# The paths above, once each, with every memory error or leaked block an
# error: a compaction, one that fails mid-copy, one refused as changed,
# and check/info.  Not in a sanitizer build (ASan and valgrind exclude
# each other).
if [[ -n ${VHD_SANITIZER_PRELOAD:-} ]]; then
  echo "skipped: sanitizer build"
elif ! command -v valgrind >/dev/null; then
  echo "skipped: no valgrind"
else
  vg=(valgrind --quiet --error-exitcode=98 --leak-check=full --show-leak-kinds=definite,indirect
      --errors-for-leak-kinds=definite,indirect --suppressions="$TOP_SRCDIR/tests/valgrind.supp")
  # vg_run EXPECTED-RC ARGS... (EXPECTED-RC "-": any)
  vg_run ()
  {
      local want=$1 rc=0
      shift
      "${vg[@]}" "$@" >"$d/out" 2>"$d/err" || rc=$?
      [[ $want = - || $rc = "$want" ]] || { cat "$d/err" >&2; fail "valgrind $*: exit status $rc, expected $want"; }
      ! grep -q '^==[0-9]*==' "$d/err" || { cat "$d/err" >&2; fail "valgrind $*: memcheck reports"; }
  }
  cp "$d/orig.vhd" "$vhd"
  vg_run 0 "$VHDCTL" compact --local --no-progress --mode zero --json "$vhd"
  cmp -s "$vhd" "$d/ref.vhd" || fail "valgrind: not the file of the uninterrupted run"
  vg_run 0 "$VHDCTL" check "$vhd"
  vg_run 0 "$VHDCTL" info --json "$vhd"
  cp "$d/orig.vhd" "$vhd"
  VHDCOMPACT_IO_FAULT=write:3:eio vg_run 1 "$VHDCTL" compact --local --no-progress --mode zero "$vhd"
  clean_and_same "valgrind, write:3:eio"
  cp "$d/orig.vhd" "$vhd"
  rm -f "$d/pause"
  VHDCOMPACT_TEST_MOVE_PAUSE=$d/pause vg_run 1 "$VHDCTL" compact --local --no-progress --mode zero "$vhd" & pid=$!
  wait_for "$d/pause"
  grow
  rm -f "$d/pause"
  wait "$pid"
  if [[ -e $d/ntfs.ref.vhd ]]; then
    # Through the attach (nbdkit itself is not traced).
    cp "$d/ntfs.vhd" "$d/vg.vhd"
    VHDCOMPACT_PLUGIN=$VHD_PLUGIN vg_run 0 "$VHDCTL" analyze --json "$d/vg.vhd"
    VHDCOMPACT_PLUGIN=$VHD_PLUGIN vg_run 0 "$VHDCTL" compact --local --no-progress --mode fs "$d/vg.vhd"
    cmp -s "$d/vg.vhd" "$d/ntfs.ref.vhd" || fail "valgrind: fs mode: not the file of the run without valgrind"
    cp "$d/ntfs.vhd" "$d/vg.vhd"
    # Which process's read 20 is depends on nbdkit's threads: only the
    # memory matters here (the outcomes are checked above).
    VHDCOMPACT_PLUGIN=$VHD_PLUGIN VHDCOMPACT_IO_FAULT=read:20:eio vg_run - "$VHDCTL" compact --local --no-progress \
      --mode fs "$d/vg.vhd"
    echo "vhdctl analyze, compact --mode fs (done, failed): no memcheck report"
  fi
  echo "vhdctl compact (done, failed, refused), check, info: no memcheck report"
fi
echo ok

echo "== through vhd-compactd"
# The same faults and the same other writer when the job runs in the
# daemon's worker (which inherits the daemon's environment, so the rules
# count the worker's own I/O): `vhdctl compact --bus` exits 1 with one
# line naming the problem id, the image stays valid and reads as before,
# and a daemon without the fault then finishes the job.
if (( EUID != 0 )) || ! have_env VHD_COMPACTD VHD_WORKER || ! command -v dbus-daemon >/dev/null; then
  echo "skipped: needs root, dbus-daemon and the daemon"
  exit 0
fi
. "$(dirname "$0")/bus-functions.sh"
start_test_bus
bus () { "$VHDCTL" compact --bus --no-progress --mode zero "$@"; }
for c in "write:1:eio writing the BAT" "write:3:enospc writing" "sync:2:eio fdatasync" "truncate:1:eio ftruncate" \
         "read:8:eio scanning for zero blocks: reading block"; do
  read -r rule words <<<"$c"
  cp "$d/orig.vhd" "$vhd"
  start_daemon VHDCOMPACT_IO_FAULT="$rule"
  rc=0
  bus "$vhd" >"$d/out" 2>"$d/err" || rc=$?
  stop_daemon
  [[ $rc = 1 ]] || { cat "$d/err" >&2; fail "daemon, $rule: exit status $rc, expected 1"; }
  one_line "daemon, $rule" io-error
  grep -qF "$words" "$d/err" || { cat "$d/err" >&2; fail "daemon, $rule: the message does not say '$words'"; }
  clean_and_same "daemon, $rule"
  echo "daemon, $rule: $(cat "$d/err")"
  start_daemon
  bus "$vhd" >/dev/null 2>"$d/err" || { cat "$d/err" >&2; fail "daemon, $rule: the job after it failed"; }
  stop_daemon
  [[ $(file_size "$vhd") = "$optimum" ]] || fail "daemon, $rule: the job after it ended at $(file_size "$vhd"), not $optimum"
  clean_and_same "daemon, $rule, then a job"
done
# The worker runs as an unprivileged user: the pause flag lives where it
# may create it.
mkdir -m 1777 "$d/flags"
daemon_stale ()
{
    local name=$1 action=$2 rc=0 pid
    cp "$d/orig.vhd" "$vhd"
    start_daemon VHDCOMPACT_TEST_MOVE_PAUSE="$d/flags/pause"
    bus "$vhd" >"$d/out" 2>"$d/err" & pid=$!
    wait_for "$d/flags/pause"
    [[ -e $d/flags/pause ]] || { kill "$pid"; fail "daemon, $name: the job never paused"; }
    $action
    cp "$vhd" "$d/$name.expected"
    rm "$d/flags/pause"
    wait "$pid" || rc=$?
    stop_daemon
    [[ $rc = 1 ]] || { cat "$d/err" >&2; fail "daemon, $name: exit status $rc, expected 1"; }
    one_line "daemon, $name" file-changed
    cmp -s "$vhd" "$d/$name.expected" || fail "daemon, $name: the file was written"
    echo "daemon, $name: $(cat "$d/err")"
}
daemon_stale grown grow
daemon_stale bat unmap
grep -qF "BAT entry $first changed" "$d/err" || fail "daemon, bat: the message does not name the entry"
