#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# vhd-compactd's jobs, as root on a private system bus (bus-functions.sh).
# The disks are 128 MiB dynamic VHDs (2 MiB blocks): zeros written over
# blocks 0-31, data in blocks 32-63, so a compaction drops 32 zero blocks
# and moves 32 (64 MiB); the worker's test hook VHDCOMPACT_TEST_WORKER_SLOW_MS
# makes the move last a few seconds.  Checked:
# - an NTFS disk with deleted files, compacted with the documented
#   `busctl call ... Compact 'sa{sv}' FILE 0`, passes the compaction tests'
#   oracles: ntfsclone's image of the volume and every file's hash are
#   unchanged, only blocks free in NTFS changed (and now read as zeros),
#   and the file has exactly the size `vhdctl analyze` promised;
# - progress: during a slowed job BytesDone takes several values on the way
#   up and Progress reaches 1; PropertiesChanged of the job (dbus-monitor)
#   come at most 5 in any second to any receiver; Completed(true, ...) is
#   sent once;
# - the worker runs as a uid and gid of its own from the daemon's range
#   (default 60800-60863; no passwd or group entry, no supplementary
#   group), with no_new_privs, no capabilities, not dumpable (the files
#   of its /proc entry are root's), in seccomp filter mode (Seccomp: 2), and only
#   descriptors 0-5; two workers running at once have different uids,
#   and neither takes an id (uid or gid) that another process runs with;
# - --worker-uids naming a user's id, smaller than --max-jobs, holding
#   nobody's 65534 or 0: the daemon refuses to start;
# - the test hook VHDCOMPACT_TEST_WORKER_FORBIDDEN makes the worker try
#   socket(AF_INET), pidfd_open, io_uring_setup or io_uring_register once
#   its filter is installed: the filter kills it (SIGSYS), the job fails
#   saying so, the image is unchanged; an IORING_OP_OPENAT on the
#   worker's ring completes with EACCES (the ring's restrictions);
# - Cancel mid-move: the job ends "cancelled" with ErrorName ...Cancelled,
#   the image passes `vhdctl check` and reads as before, and a new job
#   finishes it to the size the dry run (Analyze) predicted;
# - a second Compact of a file being compacted is refused as Busy; a file
#   qemu-io holds open (its lock) is refused as InUse; both unchanged;
# - kill -9 of the worker mid-move: the job fails saying so, the daemon
#   stays, the image is intact, and the next job finishes (the lock went
#   with the worker);
# - kill -9 of the daemon mid-move: no worker outlives it (nothing holds
#   the file), the image is valid and reads as before, and a new daemon
#   compacts it to the predicted size;
# - --max-jobs 1: of two jobs on different files the second waits "queued"
#   and both end "done"; with --max-jobs 2 two slowed jobs run at once;
# - jobs appear with InterfacesAdded; with --keep-finished 1 an ended
#   job's object goes, with InterfacesRemoved;
# - load: 100 jobs on small disks from 10 clients at once with
#   --max-jobs 2 all end "done", the images intact, the daemon up (the
#   time taken is printed, not checked);
# - vhdctl compact --bus killed mid-move: its job still ends "done" at the
#   predicted size; the image deleted mid-job: the job ends "done"; another
#   file renamed over it: "done", and the new file is untouched; the
#   image truncated mid-job: "failed" with Corrupt and file-truncated
#   ("damaged"), not an io-error that calls the image valid;
# - SIGTERM mid-job: the job is cancelled at a safe point, the daemon
#   exits, the image is valid;
# - --idle-timeout 1: the daemon exits by itself once idle.
set -euo pipefail
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/bus-functions.sh"
(( EUID == 0 )) || skip "needs root (the daemon on a private system bus)"
requires dbus-daemon dbus-monitor busctl qemu-img qemu-io cmp mkntfs ntfs-3g ntfsclone b2sum nbdkit nbdcopy
requires_env VHD_COMPACTD VHD_WORKER VHDCTL VHD_PLUGIN
make_tmpdir
d=$tmpdir
. "$(dirname "$0")/ntfs-functions.sh"
. "$(dirname "$0")/compact-functions.sh"

cleanup_fn show_daemon_log_on_failure

# make_disk FILE: the disk described above, FILE.orig a copy.
make_disk ()
{
  qemu-img create -q -f vpc -o subformat=dynamic "$1" 128M
  qemu-io -f vpc -c "write -q -P 0 0 64M" -c "write -q -P 0x5a 64M 64M" "$1" >/dev/null
  cp -- "$1" "$1.orig"
}

# worker_identity NAME PID: the worker PID runs as an id of its own from
# the default range (60800-60863), the same for its uid and gid (real,
# effective, saved, file system) with no supplementary group and no entry
# in passwd or group; it has no_new_privs, no capabilities, is not
# dumpable (the kernel then gives the files of its /proc entry to
# root) and runs under
# a seccomp filter (mode 2).  Prints the id.
worker_identity ()
{
  local name=$1 pid=$2 st=/proc/$2/status id
  id=$(awk '/^Uid:/ { print $2 }' "$st")
  [[ $(awk '/^Uid:/ { print $2, $3, $4, $5 }' "$st") = "$id $id $id $id" &&
     $(awk '/^Gid:/ { print $2, $3, $4, $5 }' "$st") = "$id $id $id $id" ]] ||
    fail "$name: the worker's ids differ: $(grep -E '^(Uid|Gid):' "$st" | tr '\n\t' '  ')"
  (( id >= 60800 && id <= 60863 )) || fail "$name: the worker runs as uid $id, not one of 60800-60863"
  [[ -z $(awk '/^Groups:/ { $1 = ""; print }' "$st" | tr -d ' ') ]] ||
    fail "$name: the worker has supplementary groups: $(grep '^Groups:' "$st")"
  ! getent passwd "$id" >/dev/null && ! getent group "$id" >/dev/null ||
    fail "$name: the worker's id $id has a passwd or group entry"
  [[ $(awk '/^NoNewPrivs:/ { print $2 }' "$st") = 1 ]] || fail "$name: the worker has no_new_privs unset"
  [[ $(awk '/^CapEff:/ { print $2 }' "$st") = 0000000000000000 ]] || fail "$name: the worker has capabilities"
  [[ $(stat -c %u "/proc/$pid/status") = 0 ]] ||
    fail "$name: the worker is dumpable (/proc/$pid/status belongs to uid $(stat -c %u "/proc/$pid/status"))"
  [[ $(awk '/^Seccomp:/ { print $2 }' "$st") = 2 ]] ||
    fail "$name: the worker has no seccomp filter ($(grep '^Seccomp:' "$st"))"
  echo "$id"
}

# call METHOD ARGS...: a Manager method; prints busctl's reply.
call ()
{
  busctl --system call org.vhd.Compact /org/vhd/Compact org.vhd.Compact.Manager "$@"
}

# compact FILE: start a job on FILE; prints its object path.
compact ()
{
  call Compact 'sa{sv}' "$1" 0 | sed -n 's/^o "\(.*\)"$/\1/p'
}

# predicted FILE: Analyze's size-after.
predicted ()
{
  call Analyze 'sa{sv}' "$1" 0 | grep -o '"size-after" t [0-9]*' | awk '{ print $3 }'
}

# wait_state JOB STATE [SECONDS]: until JOB's State is STATE.
wait_state ()
{
  local i s
  for ((i = 0; i < ${3:-20} * 20; i++)); do
    s=$(job_prop "$1" State)
    [[ $s = "\"$2\"" ]] && return 0
    sleep 0.05
  done
  fail "$1: State $s after ${3:-20} s, expected $2"
}

# intact NAME FILE: a valid image that reads as FILE.orig.
intact ()
{
  "$VHDCTL" check "$2" >/dev/null || fail "$1: vhdctl check finds problems"
  qemu-img compare -q -f vpc -F vpc "$2.orig" "$2" || fail "$1: the content changed"
}

start_test_bus

echo "== --worker-uids: a range that is not free is refused at start"
# daemon_refuses STATUS WORDS ARGS...: the daemon exits STATUS at once,
# saying WORDS on stderr.
daemon_refuses ()
{
  local want=$1 words=$2 rc=0
  shift 2
  VHDCOMPACT_WORKER="$VHD_WORKER" "$VHD_COMPACTD" --idle-timeout 0 "$@" >/dev/null 2>"$d/refuse.err" || rc=$?
  [[ $rc = "$want" ]] || { cat "$d/refuse.err" >&2; fail "vhd-compactd $*: exit $rc, expected $want"; }
  grep -qF -- "$words" "$d/refuse.err" || { cat "$d/refuse.err" >&2; fail "vhd-compactd $*: does not say '$words'"; }
  echo "vhd-compactd $*: $(head -n 1 "$d/refuse.err")"
}
sys_user=$(getent passwd | awk -F: '$3 > 0 && $3 < 1000 && !n++ { print $1 }')
sys_uid=$(id -u "$sys_user")
daemon_refuses 1 "$sys_uid is user '$sys_user'" --worker-uids "$sys_uid-$((sys_uid + 1))"
daemon_refuses 1 "1 ids for --max-jobs 2" --worker-uids 60900-60900
daemon_refuses 2 "is not FIRST-LAST" --worker-uids 65500-65600
daemon_refuses 2 "is not FIRST-LAST" --worker-uids 0-10

echo "== an NTFS disk through the documented busctl call, held to the compaction oracles"
if have_fuse; then
  start_daemon
  mkfs_ntfs "$d/vol.ntfs" 48 4096 0 7 12 4
  qemu-img convert -f raw -O vpc -o subformat=dynamic "$d/vol.ntfs" "$d/n.vhd"
  ntfs_parts="0:$((48 * MIB)):$d/vol.ntfs.sums"
  fmt_geometry "$d/n.vhd"
  classes=$(block_classes "$d/n.vhd" "$d/n.json")
  want=$(json_num final-size < "$d/n.json")
  (( want < $(file_size "$d/n.vhd") )) || fail "n.vhd: test setup: nothing to compact"
  img_to_raw "$d/n.vhd" "$d/n0.raw"
  ntfs_verify "$d/n0.raw" n.vhd > "$d/n0.clone"
  job=$(busctl call org.vhd.Compact /org/vhd/Compact org.vhd.Compact.Manager Compact 'sa{sv}' "$d/n.vhd" 0 |
        sed -n 's/^o "\(.*\)"$/\1/p')
  [[ $(wait_job "$job") = done ]] || fail "n.vhd: job ended $(job_prop "$job" State): $(job_prop "$job" Error)"
  [[ $(file_size "$d/n.vhd") = "$want" ]] || fail "n.vhd: $(file_size "$d/n.vhd") bytes, analyze promised $want"
  "$VHDCTL" check "$d/n.vhd" >/dev/null || fail "n.vhd: vhdctl check finds problems"
  img_to_raw "$d/n.vhd" "$d/n1.raw"
  ntfs_verify "$d/n1.raw" n.vhd files > "$d/n1.clone"
  cmp -s "$d/n0.clone" "$d/n1.clone" || fail "n.vhd: ntfsclone's image of the volume changed"
  changed=$(check_content_rule "$d/n0.raw" "$d/n1.raw" "$classes" "$img_bs" full "" n.vhd)
  echo "n.vhd: -> $want bytes (analyze's estimate); volume and files intact; $changed free blocks now read as zeros"
  rm -f "$d"/n0.raw "$d"/n1.raw "$d/vol.ntfs"
  stop_daemon
else
  echo "n.vhd: skipped: ntfs-3g cannot mount here (no FUSE)"
fi

echo "== progress of a slowed job, rate-limited signals, Completed once"
start_daemon VHDCOMPACT_TEST_WORKER_SLOW_MS=150 -- --keep-finished 60
make_disk "$d/a.vhd"
want=$(predicted "$d/a.vhd")
(( want < $(file_size "$d/a.vhd") )) || fail "test setup: nothing to compact"
dbus-monitor --address "$DBUS_SYSTEM_BUS_ADDRESS" \
  "type='signal',sender='org.vhd.Compact'" > "$d/monitor.log" 2>&1 &
mon=$!
cleanup_fn _bus_stop_pid "$mon" dbus-monitor
sleep 0.5
job=$(compact "$d/a.vhd")
[[ $job = /org/vhd/Compact/job/* ]] || fail "Compact returned '$job'"
seen=()
for ((i = 0; i < 400; i++)); do
  # BytesDone starts again at 0 in the next phase: keep a value only if
  # the State read after it still says moving.
  s=$(job_prop "$job" State) b=$(job_prop "$job" BytesDone) s2=$(job_prop "$job" State)
  [[ $s = '"moving"' && $s2 = '"moving"' ]] && [[ ${#seen[@]} -eq 0 || ${seen[-1]} != "$b" ]] && seen+=("$b")
  s=$s2
  [[ $s = '"done"' || $s = '"failed"' || $s = '"cancelled"' ]] && break
  sleep 0.05
done
[[ $s = '"done"' ]] || fail "a.vhd: job ended $s: $(job_prop "$job" Error)"
(( ${#seen[@]} >= 3 )) || fail "a.vhd: BytesDone took ${#seen[@]} values while moving (${seen[*]}), expected 3 or more"
prev=-1
for b in "${seen[@]}"; do (( b >= prev )) || fail "a.vhd: BytesDone went down (${seen[*]})"; prev=$b; done
[[ $(job_prop "$job" Progress) = 1 ]] || fail "a.vhd: Progress $(job_prop "$job" Progress) at the end"
[[ $(file_size "$d/a.vhd") = "$want" ]] || fail "a.vhd: $(file_size "$d/a.vhd") bytes, Analyze predicted $want"
intact a.vhd "$d/a.vhd"
sleep 0.3
kill "$mon"
wait "$mon" 2>/dev/null || true
# "signal time=T sender=... -> destination=D ... path=JOB; interface=...Properties;
# member=PropertiesChanged": at most 5 a second for each receiver (D: the
# job's client, or "(null destination)", everyone).
awk -v job="$job" '$1 == "signal" && index($0, "path=" job ";") && /member=PropertiesChanged/ {
    split($2, t, "="); dest = $0; sub(/.*destination=/, "", dest); sub(/ .*/, "", dest)
    n[int(t[2]) " " dest]++; total++ }
  END { for (s in n) if (n[s] > max) max = n[s]; print total + 0, max + 0 }' "$d/monitor.log" > "$d/rate"
read -r n_changed max_per_s < "$d/rate"
(( n_changed >= 3 )) || fail "a.vhd: only $n_changed PropertiesChanged for the job"
(( max_per_s <= 5 )) || fail "a.vhd: $max_per_s PropertiesChanged in one second (at most a few a second)"
n_completed=$(grep -c "path=$job; interface=org.vhd.Compact.Job; member=Completed" "$d/monitor.log" || true)
[[ $n_completed = 1 ]] || fail "a.vhd: Completed sent $n_completed times"
echo "a.vhd: BytesDone took ${#seen[@]} values; $n_changed PropertiesChanged, at most $max_per_s a second"

echo "== Cancel mid-move, busy and in-use refusals"
make_disk "$d/b.vhd"
want=$(predicted "$d/b.vhd")
job=$(compact "$d/b.vhd")
wait_state "$job" moving
# The worker that parses the disk: an id of its own, no_new_privs, no
# capabilities, not dumpable, its system-call filter on.
wpid=$(pgrep -f "vhd-compact-worker --path $d/b.vhd" | sed -n 1p)
[[ -n $wpid ]] || fail "b.vhd: no worker process"
worker_identity b.vhd "$wpid" > /dev/null
[[ $(awk '/^CapEff:/ { print $2 }' "/proc/$wpid/status") = 0000000000000000 ]] || fail "b.vhd: the worker has capabilities"
# Beyond 0-5 (stdio, control, disk, directory) only what the engine opened
# itself: copies of the disk and its io_uring.
for fd in /proc/"$wpid"/fd/*; do
  n=${fd##*/} target=$(readlink "$fd")
  (( n <= 5 )) || [[ $target = "$d/b.vhd" || $target = "anon_inode:[io_uring]" ]] ||
    fail "b.vhd: the worker holds descriptor $n: $target"
done
[[ $(readlink "/proc/$wpid/fd/4") = "$d/b.vhd" && $(readlink "/proc/$wpid/fd/5") = "$d" ]] ||
  fail "b.vhd: the worker's fds 4 and 5 are not the disk and its directory"
rc=0
call Compact 'sa{sv}' "$d/b.vhd" 0 >/dev/null 2>"$d/busy.err" || rc=$?
(( rc != 0 )) && grep -q 'already working on it' "$d/busy.err" || fail "a second job on b.vhd was not refused as busy"
busctl --system call org.vhd.Compact "$job" org.vhd.Compact.Job Cancel
[[ $(wait_job "$job") = cancelled ]] || fail "b.vhd: the cancelled job ended $(job_prop "$job" State)"
[[ $(job_prop "$job" ErrorName) = '"org.vhd.Compact.Error.Cancelled"' ]] ||
  fail "b.vhd: ErrorName $(job_prop "$job" ErrorName)"
intact b.vhd-cancelled "$d/b.vhd"
job=$(compact "$d/b.vhd")
[[ $(wait_job "$job") = done ]] || fail "b.vhd: the job after the cancel ended $(job_prop "$job" State)"
[[ $(file_size "$d/b.vhd") = "$want" ]] || fail "b.vhd: $(file_size "$d/b.vhd") bytes after the re-run, predicted $want"
intact b.vhd "$d/b.vhd"

make_disk "$d/c.vhd"
qemu-io -f vpc -c "sleep 5000" "$d/c.vhd" >/dev/null &
holder=$!
cleanup_fn _bus_stop_pid "$holder" qemu-io
sleep 1
rc=0
call Compact 'sa{sv}' "$d/c.vhd" 0 >/dev/null 2>"$d/inuse.err" || rc=$?
(( rc != 0 )) && grep -q 'in use by another process' "$d/inuse.err" ||
  { cat "$d/inuse.err" >&2; fail "c.vhd, held by qemu-io: not refused as in use"; }
kill "$holder"; wait "$holder" 2>/dev/null || true
cmp -s "$d/c.vhd" "$d/c.vhd.orig" || fail "c.vhd: changed by a refused call"
stop_daemon

echo "== kill -9 of the daemon mid-move; a new daemon finishes"
start_daemon VHDCOMPACT_TEST_WORKER_SLOW_MS=150
make_disk "$d/k.vhd"
want=$(predicted "$d/k.vhd")
job=$(compact "$d/k.vhd")
wait_state "$job" moving
for ((i = 0; i < 100; i++)); do
  (( $(job_prop "$job" BytesDone) > 0 )) && break
  sleep 0.05
done
kill -KILL "$daemon_pid"
wait "$daemon_pid" 2>/dev/null || true
for ((i = 0; i < 100; i++)); do
  pgrep -f "vhd-compact-worker --path $d/k.vhd" >/dev/null || break
  sleep 0.05
done
! pgrep -f "vhd-compact-worker --path $d/k.vhd" >/dev/null || fail "k.vhd: a worker outlived its daemon"
intact k.vhd-killed "$d/k.vhd"
start_daemon
job=$(compact "$d/k.vhd")
[[ $(wait_job "$job") = done ]] || fail "k.vhd: the new daemon's job ended $(job_prop "$job" State): $(job_prop "$job" Error)"
[[ $(file_size "$d/k.vhd") = "$want" ]] || fail "k.vhd: $(file_size "$d/k.vhd") bytes, predicted $want"
intact k.vhd "$d/k.vhd"
stop_daemon

echo "== kill -9 of the worker mid-move; the lock is released, a new job finishes"
start_daemon VHDCOMPACT_TEST_WORKER_SLOW_MS=150
make_disk "$d/wk.vhd"
want=$(predicted "$d/wk.vhd")
job=$(compact "$d/wk.vhd")
wait_state "$job" moving
for ((i = 0; i < 100; i++)); do
  (( $(job_prop "$job" BytesDone) > 0 )) && break
  sleep 0.05
done
wpid=$(pgrep -f "vhd-compact-worker --path $d/wk.vhd" | sed -n 1p) || fail "wk.vhd: no worker found mid-move"
kill -KILL "$wpid"
[[ $(wait_job "$job") = failed ]] || fail "wk.vhd: the job of a killed worker ended $(job_prop "$job" State)"
err=$(job_prop "$job" Error)
[[ $err = *"signal 9"* ]] || fail "wk.vhd: the job's Error does not say the worker was killed: $err"
kill -0 "$daemon_pid" || fail "wk.vhd: the daemon died with its worker"
intact wk.vhd-killed "$d/wk.vhd"
job=$(compact "$d/wk.vhd")
[[ $(wait_job "$job") = done ]] || fail "wk.vhd: the next job ended $(job_prop "$job" State): $(job_prop "$job" Error)"
[[ $(file_size "$d/wk.vhd") = "$want" ]] || fail "wk.vhd: $(file_size "$d/wk.vhd") bytes, predicted $want"
intact wk.vhd "$d/wk.vhd"
echo "wk.vhd: worker killed mid-move: $err; the next job finished"
stop_daemon

echo "== --max-jobs 1 queues; --max-jobs 2 runs two at once"
start_daemon VHDCOMPACT_TEST_WORKER_SLOW_MS=100 -- --max-jobs 1
make_disk "$d/q1.vhd"
make_disk "$d/q2.vhd"
j1=$(compact "$d/q1.vhd")
j2=$(compact "$d/q2.vhd")
[[ $(job_prop "$j2" State) = '"queued"' ]] || fail "q2.vhd: State $(job_prop "$j2" State) while q1 runs, expected queued"
[[ $(wait_job "$j1") = done && $(wait_job "$j2") = done ]] || fail "queued jobs did not both finish"
intact q1.vhd "$d/q1.vhd"
intact q2.vhd "$d/q2.vhd"
stop_daemon
start_daemon VHDCOMPACT_TEST_WORKER_SLOW_MS=150 -- --max-jobs 2 --keep-finished 1
dbus-monitor --address "$DBUS_SYSTEM_BUS_ADDRESS" \
  "type='signal',sender='org.vhd.Compact',interface='org.freedesktop.DBus.ObjectManager'" > "$d/om.log" 2>&1 &
om=$!
cleanup_fn _bus_stop_pid "$om" dbus-monitor
sleep 0.5
make_disk "$d/p1.vhd"
make_disk "$d/p2.vhd"
# A process that runs as uid 60800 and gid 60801 (one that outlived a
# daemon killed with SIGKILL, say) keeps both ids out of use: the ids
# are handed out lowest first, so the workers would get them.
setpriv --reuid=60800 --regid=60801 --clear-groups sleep 600 &
holder=$!
cleanup_fn sh -c 'kill "$1" 2>/dev/null; true' sh "$holder"
j1=$(compact "$d/p1.vhd")
j2=$(compact "$d/p2.vhd")
wait_state "$j1" moving
wait_state "$j2" moving
[[ $(job_prop "$j1" State) = '"moving"' ]] || fail "p1.vhd and p2.vhd were not moving at the same time"
# Each worker has an id of its own.
w1=$(pgrep -f "vhd-compact-worker --path $d/p1.vhd" | sed -n 1p)
w2=$(pgrep -f "vhd-compact-worker --path $d/p2.vhd" | sed -n 1p)
[[ -n $w1 && -n $w2 ]] || fail "p1.vhd, p2.vhd: no worker processes"
u1=$(worker_identity p1.vhd "$w1")
u2=$(worker_identity p2.vhd "$w2")
[[ $u1 != "$u2" ]] || fail "p1.vhd and p2.vhd: both workers run as uid $u1"
for u in "$u1" "$u2"; do
  (( u != 60800 && u != 60801 )) || fail "a worker runs as $u, an id that process $holder holds"
done
kill "$holder"
wait "$holder" 2>/dev/null || true      # killed by the signal: status 143
echo "p1.vhd, p2.vhd: workers as uids $u1 and $u2"
[[ $(wait_job "$j1") = done && $(wait_job "$j2") = done ]] || fail "concurrent jobs did not both finish"
intact p1.vhd "$d/p1.vhd"
intact p2.vhd "$d/p2.vhd"
echo "== --keep-finished 1: ended jobs go"
for ((i = 0; i < 60; i++)); do
  call ListJobs | grep -q "$j1" || break
  sleep 0.1
done
! call ListJobs | grep -q "$j1" || fail "$j1 still listed 6 s after it ended"
! busctl --system get-property org.vhd.Compact "$j1" org.vhd.Compact.Job State >/dev/null 2>&1 ||
  fail "$j1 still answers after it was removed"
sleep 0.3
grep -A1 'member=InterfacesAdded' "$d/om.log" | grep -q "object path \"$j1\"" || fail "no InterfacesAdded for $j1"
grep -A1 'member=InterfacesRemoved' "$d/om.log" | grep -q "object path \"$j1\"" || fail "no InterfacesRemoved for $j1"
stop_daemon

echo "== a forbidden system call kills the worker"
for call in socket pidfd io_uring_setup io_uring_register; do
  start_daemon VHDCOMPACT_TEST_WORKER_FORBIDDEN=$call
  make_disk "$d/f-$call.vhd"
  job=$(compact "$d/f-$call.vhd")
  [[ $(wait_job "$job") = failed ]] || fail "$call: the job ended $(job_prop "$job" State)"
  [[ $(job_prop "$job" Error) = *"killed by signal 31 (SIGSYS)"* ]] ||
    fail "$call: the worker was not killed by its filter: $(job_prop "$job" Error)"
  cmp -s "$d/f-$call.vhd" "$d/f-$call.vhd.orig" || fail "$call: the file changed"
  echo "$call: $(job_prop "$job" Error)"
  stop_daemon
done

echo "== an io_uring operation the moves do not use is refused on the worker's ring"
# The ring is restricted (lib/compact/move-ring.c) before the filter: an
# IORING_OP_OPENAT on it completes with EACCES, and the hook fails the job
# saying so (were the ring not restricted, it would say the openat was
# not refused).
start_daemon VHDCOMPACT_TEST_WORKER_FORBIDDEN=ring-openat
make_disk "$d/f-ring.vhd"
job=$(compact "$d/f-ring.vhd")
[[ $(wait_job "$job") = failed ]] || fail "ring-openat: the job ended $(job_prop "$job" State)"
[[ $(job_prop "$job" Error) = *"IORING_OP_OPENAT on the worker"*"ring was refused (EACCES)"* ]] ||
  fail "ring-openat: the worker's ring let an openat through: $(job_prop "$job" Error)"
cmp -s "$d/f-ring.vhd" "$d/f-ring.vhd.orig" || fail "ring-openat: the file changed"
echo "ring-openat: $(job_prop "$job" Error)"
stop_daemon

echo "== load: 100 jobs from 10 clients at once, --max-jobs 2"
# Small disks (16 MiB, 2 MiB blocks: zeros over blocks 0-3, data in 4-7),
# so that each job is short; every one must end "done" and intact.
start_daemon -- --max-jobs 2 --user-job-limit 128 --keep-finished 600
qemu-img create -q -f vpc -o subformat=dynamic "$d/l.vhd" 16M
qemu-io -f vpc -c "write -q -P 0 0 8M" -c "write -q -P 0x5a 8M 8M" "$d/l.vhd" >/dev/null
mkdir "$d/load"
for ((i = 0; i < 100; i++)); do cp -- "$d/l.vhd" "$d/load/$i.vhd"; done
t0=$(date +%s.%N)
clients=()
for ((c = 0; c < 10; c++)); do
  ( for ((k = 0; k < 10; k++)); do compact "$d/load/$((c * 10 + k)).vhd"; done > "$d/load/client$c.jobs" ) &
  clients+=($!)
done
wait "${clients[@]}"
t1=$(date +%s.%N)
cat "$d"/load/client*.jobs > "$d/load/jobs"
[[ $(sort -u "$d/load/jobs" | grep -c '^/org/vhd/Compact/job/') = 100 ]] ||
  fail "load: $(grep -c . "$d/load/jobs") job paths from 100 calls"
while read -r job; do
  [[ $(wait_job "$job" 120) = done ]] || fail "load: $job ended $(job_prop "$job" State): $(job_prop "$job" Error)"
done < "$d/load/jobs"
t2=$(date +%s.%N)
kill -0 "$daemon_pid" || fail "load: the daemon died"
for ((i = 0; i < 100; i++)); do
  "$VHDCTL" check "$d/load/$i.vhd" >/dev/null || fail "load: $i.vhd: vhdctl check finds problems"
  qemu-img compare -q -f vpc -F vpc "$d/l.vhd" "$d/load/$i.vhd" || fail "load: $i.vhd: the content changed"
done
[[ $(file_size "$d/load/0.vhd") -lt $(file_size "$d/l.vhd") ]] || fail "load: 0.vhd did not shrink"
awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf "load: 100 jobs from 10 clients: all done and intact; calls answered in %.1f s, all ended after %.1f s (measured once, not checked)\n", b - a, c - a }'
rm -rf "$d/load"
stop_daemon

echo "== a client that vanishes; the image deleted, renamed over or truncated during a job"
start_daemon VHDCOMPACT_TEST_WORKER_SLOW_MS=150 -- --max-jobs 4
# moving JOB: until JOB has moved some bytes.
moving ()
{
  wait_state "$1" moving
  for ((i = 0; i < 200; i++)); do
    (( $(job_prop "$1" BytesDone) > 0 )) && return 0
    sleep 0.05
  done
  fail "$1: no progress while moving"
}
# vhdctl following its job, killed with SIGKILL mid-move: the job goes on.
make_disk "$d/v.vhd"
want=$(predicted "$d/v.vhd")
"$VHDCTL" compact --bus --no-progress "$d/v.vhd" > "$d/vanish.out" 2>&1 &
client=$!
for ((i = 0; i < 200; i++)); do
  job=$(call ListJobs | grep -o '"/org/vhd/Compact/job/[0-9]*"' | tail -n 1 | tr -d '"' || true)
  [[ -n $job && $(busctl --system get-property org.vhd.Compact "$job" org.vhd.Compact.Job Path 2>/dev/null) = "s \"$d/v.vhd\"" ]] && break
  job=
  sleep 0.05
done
[[ -n $job ]] || fail "v.vhd: vhdctl made no job"
moving "$job"
kill -KILL "$client"
wait "$client" 2>/dev/null || true
[[ $(wait_job "$job") = done ]] || fail "v.vhd: the vanished client's job ended $(job_prop "$job" State): $(job_prop "$job" Error)"
[[ $(file_size "$d/v.vhd") = "$want" ]] || fail "v.vhd: $(file_size "$d/v.vhd") bytes, predicted $want"
intact v.vhd "$d/v.vhd"
echo "v.vhd: its client killed mid-move, the job still ended done"
# Deleted, renamed over, truncated: three jobs at once.
make_disk "$d/del.vhd"
make_disk "$d/ren.vhd"
make_disk "$d/other.vhd"
make_disk "$d/cut.vhd"
jdel=$(compact "$d/del.vhd")
jren=$(compact "$d/ren.vhd")
jcut=$(compact "$d/cut.vhd")
moving "$jdel"
moving "$jren"
moving "$jcut"
rm -- "$d/del.vhd"
mv -- "$d/other.vhd" "$d/ren.vhd"
truncate -s 40M "$d/cut.vhd"
sdel=$(wait_job "$jdel") sren=$(wait_job "$jren") scut=$(wait_job "$jcut")
kill -0 "$daemon_pid" || fail "the daemon died"
[[ $sdel = done ]] || fail "del.vhd: deleted mid-job, the job ended $sdel: $(job_prop "$jdel" Error)"
[[ $sren = done ]] || fail "ren.vhd: renamed over mid-job, the job ended $sren: $(job_prop "$jren" Error)"
cmp -s "$d/ren.vhd" "$d/other.vhd.orig" || fail "ren.vhd: the file renamed over the image was changed"
[[ $scut = failed ]] || fail "cut.vhd: truncated mid-job, the job ended $scut"
[[ $(job_prop "$jcut" ErrorName) = '"org.vhd.Compact.Error.Corrupt"' ]] ||
  fail "cut.vhd: truncated mid-job, ErrorName $(job_prop "$jcut" ErrorName): $(job_prop "$jcut" Error)"
err=$(job_prop "$jcut" Error)
[[ $err = *file-truncated* && $err = *damaged* && $err != *"run again"* ]] ||
  fail "cut.vhd: truncated mid-job, not reported as damaged: $err"
echo "deleted: $sdel; renamed over: $sren (the new file untouched); truncated: $scut, $err"
call ListJobs >/dev/null || fail "the daemon does not answer"
stop_daemon

echo "== SIGTERM mid-job cancels it; --idle-timeout 1 exits when idle"
start_daemon VHDCOMPACT_TEST_WORKER_SLOW_MS=150
make_disk "$d/t.vhd"
job=$(compact "$d/t.vhd")
wait_state "$job" moving
kill -TERM "$daemon_pid"
for ((i = 0; i < 200; i++)); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.05; done
! kill -0 "$daemon_pid" 2>/dev/null || fail "the daemon did not exit within 10 s of SIGTERM"
intact t.vhd "$d/t.vhd"
make_disk "$d/i.vhd"        # first: the daemon may go idle within a second
start_daemon -- --idle-timeout 1
job=$(compact "$d/i.vhd")
[[ $(wait_job "$job") = done ]] || fail "i.vhd: job ended $(job_prop "$job" State)"
for ((i = 0; i < 100; i++)); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.05; done
! kill -0 "$daemon_pid" 2>/dev/null || fail "the daemon did not exit within 5 s of going idle (--idle-timeout 1)"
wait "$daemon_pid" || fail "the idle daemon exited with status $?"
sanitizer_check "$d/daemon.log" vhd-compactd
echo "all job checks passed"
