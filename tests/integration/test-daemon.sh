#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# vhd-compactd on a private system bus (bus-functions.sh), with the real
# polkitd granting org.vhd.compact to one throwaway user only, and a second
# throwaway user without that grant:
# - root, with exactly the documented command
#     busctl call org.vhd.Compact /org/vhd/Compact org.vhd.Compact.Manager \
#         Compact 'sa{sv}' FILE 0
#   gets a job that ends "done"; the file shrinks to the job's SizeAfter and
#   reads the same (qemu-img compare against a copy made before);
# - the user without the grant is refused Compact and Analyze on a file of
#   its own (AccessDenied, nothing changes), but compacts that file through
#   CompactFd with a descriptor it opened read-write (its job's Owner is the
#   user), and AnalyzeFd answers it;
# - that user may not Cancel root's job, and cancelling its own ended job
#   changes nothing;
# - that user cannot touch a root-only file: Compact is refused, the file
#   cannot be opened, and a read-only descriptor of a root-owned readable
#   file is refused by CompactFd; those files stay byte-identical;
# - the granted user compacts a file of its own by path;
# - root's Compact of a folder is refused NotSupported (Analyze's too), of
#   a missing file FileNotFound; a parent loop (a.vhd -> p.vhd -> a.vhd)
#   fails as Parent with parent-loop for Compact and CompactFd alike (not
#   InUse: the loop comes back to the disk being compacted, whose lock the
#   worker holds), and `vhdctl compact --bus` says parent-loop.
# - what another user sees of root's jobs (one failed on a file in a
#   root-only folder): State, and for Path, Mode, Owner, sizes, Error,
#   ErrorName and Report only empty values, through Get, GetAll and
#   GetManagedObjects (where its own job's Path shows), and `vhdctl jobs`
#   shows "-" for their owner and file; the signals it
#   receives name no file and hold no Completed (python3-gi needed).
# - root compacts a dynamic VHDX the same way (Analyze first, which writes
#   nothing), and `vhdctl check` finds it clean;
# - option no-block-moves: a VHD through busctl (the job's Report has
#   allocated-before/after and bytes-punched, the allocation falls by the
#   two dropped blocks, no block moves, the size stays, the content too),
#   a VHDX through `vhdctl compact --bus --no-block-moves --json`;
# The disks: a 64 MiB dynamic VHD (or VHDX), 2 MiB blocks: data in blocks
# 0 and 5, zeros written over blocks 2-3, so that two blocks go.
set -euo pipefail
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/bus-functions.sh"
(( EUID == 0 )) || skip "needs root (the daemon on a private system bus, test users, polkitd)"
requires dbus-daemon busctl qemu-img qemu-io cmp
requires_env VHD_COMPACTD VHD_WORKER VHDCTL
make_tmpdir
d=$tmpdir
py=$(_bus_python)

start_test_bus
make_test_user
granted=$test_user
make_test_user
user=$test_user user_uid=$test_uid user_home=$test_home
start_polkitd "$granted"

# The daemon is ours: in sanitizer builds it and its worker are instrumented
# themselves, nothing to preload.
start_daemon -- --keep-finished 120
cleanup_fn show_daemon_log_on_failure

# make_disk FILE: the test disk (see above), and FILE.orig, a copy.
# A FILE named .vhdx is a dynamic VHDX with the same blocks and writes.
make_disk ()
{
  local fmt=vpc opts=subformat=dynamic
  [[ $1 != *.vhdx ]] || fmt=vhdx opts=block_size=2M
  qemu-img create -q -f $fmt -o $opts "$1" 64M
  qemu-io -f $fmt -c 'write -q -P 0x11 0 1M' -c 'write -q -P 0 4M 4M' -c 'write -q -P 0x22 10M 2M' "$1" >/dev/null
  cp -- "$1" "$1.orig"
}

# compacted NAME FILE JOB: the job ended done, FILE shrank to its SizeAfter
# and reads as FILE.orig does.
compacted ()
{
  local name=$1 f=$2 job=$3 state
  state=$(wait_job "$job")
  [[ $state = done ]] || fail "$name: job $job ended '$state': $(job_prop "$job" Error)"
  local before after
  before=$(file_size "$f.orig") after=$(file_size "$f")
  (( after < before )) || fail "$name: the file did not shrink ($before -> $after bytes)"
  [[ $(job_prop "$job" SizeAfter) = "$after" ]] ||
    fail "$name: SizeAfter is $(job_prop "$job" SizeAfter), the file has $after bytes"
  [[ $(job_prop "$job" SizeBefore) = "$before" ]] ||
    fail "$name: SizeBefore is $(job_prop "$job" SizeBefore), the file had $before bytes"
  local fmt=vpc
  [[ $f != *.vhdx ]] || fmt=vhdx
  qemu-img compare -q -f $fmt -F $fmt "$f.orig" "$f" || fail "$name: the content changed"
  echo "$name: $before -> $after bytes, content intact"
}

# Calls as a user, with python3-dbus (busctl cannot pass a descriptor):
#   client.py METHOD FILE [OPENMODE]  |  client.py Cancel JOB
# METHOD Compact/Analyze take FILE as a path; CompactFd/AnalyzeFd open FILE
# (OPENMODE "rw" or "ro") and pass the descriptor; Cancel cancels JOB.  Prints the job path or
# the report as "key=value" lines, or "error NAME: MESSAGE" (exit 1).
cat > "$d/client.py" <<'PY'
import dbus, os, sys
method, target = sys.argv[1], sys.argv[2]
mgr = dbus.Interface(dbus.SystemBus().get_object("org.vhd.Compact", "/org/vhd/Compact"),
                     "org.vhd.Compact.Manager")
try:
    if method == "Cancel":
        dbus.Interface(dbus.SystemBus().get_object("org.vhd.Compact", target),
                       "org.vhd.Compact.Job").Cancel()
        sys.exit(0)
    if method.endswith("Fd"):
        fd = os.open(target, os.O_RDWR if sys.argv[3] == "rw" else os.O_RDONLY)
        arg = dbus.types.UnixFd(fd)
    else:
        arg = target
    r = getattr(mgr, method)(arg, dbus.Dictionary({}, signature="sv"))
except dbus.exceptions.DBusException as e:
    print("error %s: %s" % (e.get_dbus_name(), e.get_dbus_message()))
    sys.exit(1)
if isinstance(r, dict):
    for k, v in sorted(r.items()):
        print("%s=%s" % (k, v))
else:
    print(r)
PY
chmod 0644 "$d/client.py"

# refused NAME ERROR USER METHOD FILE [OPENMODE]: the call is refused with
# org.vhd.Compact.Error.ERROR and FILE is unchanged.
refused ()
{
  local name=$1 err=$2 u=$3 out rc=0
  shift 3
  cp -- "$2" "$d/$name.copy"
  out=$(AS_USER_PRELOAD=0 as_user -u "$u" "$py" "$d/client.py" "$@") || rc=$?
  [[ $rc = 1 && $out = "error org.vhd.Compact.Error.$err: "* ]] ||
    fail "$name: expected org.vhd.Compact.Error.$err, got (exit $rc) '$out'"
  cmp -s -- "$d/$name.copy" "$2" || fail "$name: the file changed"
  echo "$name: refused: ${out#error }"
}

echo "== root, with the documented busctl command"
make_disk "$d/root.vhd"
out=$(busctl call org.vhd.Compact /org/vhd/Compact org.vhd.Compact.Manager Compact 'sa{sv}' "$d/root.vhd" 0)
job=$(sed -n 's/^o "\(.*\)"$/\1/p' <<<"$out")
[[ $job = /org/vhd/Compact/job/* ]] || fail "root: Compact answered '$out', not a job"
compacted root "$d/root.vhd" "$job"
[[ $(job_prop "$job" Owner) = 0 ]] || fail "root: the job's Owner is $(job_prop "$job" Owner)"
root_job=$job

echo "== root, the same command on a VHDX"
make_disk "$d/root.vhdx"
out=$(busctl call org.vhd.Compact /org/vhd/Compact org.vhd.Compact.Manager Analyze 'sa{sv}' "$d/root.vhdx" 0) ||
  fail "root: Analyze of a VHDX failed"
cmp -s "$d/root.vhdx" "$d/root.vhdx.orig" || fail "root: Analyze changed the VHDX"
out=$(busctl call org.vhd.Compact /org/vhd/Compact org.vhd.Compact.Manager Compact 'sa{sv}' "$d/root.vhdx" 0)
job=$(sed -n 's/^o "\(.*\)"$/\1/p' <<<"$out")
[[ $job = /org/vhd/Compact/job/* ]] || fail "root: Compact of a VHDX answered '$out', not a job"
compacted root-vhdx "$d/root.vhdx" "$job"
"$VHDCTL" check "$d/root.vhdx" >/dev/null || fail "root: the compacted VHDX does not check clean"

echo "== root, option no-block-moves (busctl on a VHD, vhdctl --bus on a VHDX)"
# Blocks 2 and 3 go from the middle of the file: nothing is cut, their
# space is punched out.
make_disk "$d/nbm.vhd"
out=$(busctl call org.vhd.Compact /org/vhd/Compact org.vhd.Compact.Manager Compact 'sa{sv}' "$d/nbm.vhd" \
      1 no-block-moves b true)
job=$(sed -n 's/^o "\(.*\)"$/\1/p' <<<"$out")
[[ $job = /org/vhd/Compact/job/* ]] || fail "no-block-moves: Compact answered '$out', not a job"
[[ $(wait_job "$job") = done ]] || fail "no-block-moves: the job ended $(job_prop "$job" State): $(job_prop "$job" Error)"
report=$(job_prop "$job" Report)
report_num () { grep -o "\"$1\" [tu] [0-9]*" <<<"$report" | cut -d' ' -f3; }
ab=$(report_num allocated-before) aa=$(report_num allocated-after) punched=$(report_num bytes-punched)
[[ -n $ab && -n $aa && -n $punched ]] || fail "no-block-moves: the Report lacks the allocation: $report"
[[ $(report_num blocks-moved) = 0 ]] || fail "no-block-moves: blocks moved: $report"
(( ab - aa >= 2 * (2 * 1048576 - 8192) && punched >= 2 * (2 * 1048576 - 8192) )) ||
  fail "no-block-moves: the allocation fell from $ab to $aa, $punched bytes punched, for two blocks"
[[ $aa = $(( $(stat -c %b "$d/nbm.vhd") * 512 )) ]] || fail "no-block-moves: allocated-after $aa is not st_blocks"
[[ $(file_size "$d/nbm.vhd") = $(file_size "$d/nbm.vhd.orig") ]] || fail "no-block-moves: the file was cut"
qemu-img compare -q -f vpc -F vpc "$d/nbm.vhd.orig" "$d/nbm.vhd" || fail "no-block-moves: the content changed"
echo "no-block-moves (busctl): allocated $ab -> $aa bytes, $punched punched, size kept"
make_disk "$d/nbm.vhdx"
"$VHDCTL" compact --bus --no-progress --json --no-block-moves "$d/nbm.vhdx" > "$d/nbm.json" ||
  fail "no-block-moves: vhdctl compact --bus --no-block-moves failed"
json_n () { sed -n "s/.*\"$1\": \([0-9]*\).*/\1/p" "$d/nbm.json"; }
(( $(json_n allocated-before) - $(json_n allocated-after) >= 2 * (2 * 1048576 - 8192) )) ||
  { cat "$d/nbm.json" >&2; fail "no-block-moves: vhdctl --bus reports no fall of the allocation"; }
[[ $(json_n blocks-moved) = 0 && $(json_n bytes-punched) -gt 0 ]] ||
  { cat "$d/nbm.json" >&2; fail "no-block-moves: vhdctl --bus: blocks moved or nothing punched"; }
qemu-img compare -q -f vhdx -F vhdx "$d/nbm.vhdx.orig" "$d/nbm.vhdx" || fail "no-block-moves: the VHDX's content changed"
"$VHDCTL" check "$d/nbm.vhdx" >/dev/null || fail "no-block-moves: the VHDX does not check clean"
echo "no-block-moves (vhdctl --bus, VHDX): allocated $(json_n allocated-before) -> $(json_n allocated-after) bytes"

echo "== a user without the polkit grant, on its own file"
make_disk "$user_home/own.vhd"
chown "$user:" "$user_home/own.vhd"
refused user-compact AccessDenied "$user" Compact "$user_home/own.vhd"
refused user-analyze AccessDenied "$user" Analyze "$user_home/own.vhd"
out=$(AS_USER_PRELOAD=0 as_user -u "$user" "$py" "$d/client.py" AnalyzeFd "$user_home/own.vhd" ro) ||
  fail "user: AnalyzeFd: $out"
grep -qx "size-before=$(file_size "$user_home/own.vhd")" <<<"$out" || fail "user: AnalyzeFd: no size-before in '$out'"
planned=$(sed -n 's/^size-after=//p' <<<"$out")
cmp -s "$user_home/own.vhd" "$user_home/own.vhd.orig" || fail "user: AnalyzeFd changed the file"
echo "user: AnalyzeFd: would go to $planned bytes"
job=$(AS_USER_PRELOAD=0 as_user -u "$user" "$py" "$d/client.py" CompactFd "$user_home/own.vhd" rw) ||
  fail "user: CompactFd: $job"
[[ $job = /org/vhd/Compact/job/* ]] || fail "user: CompactFd answered '$job', not a job"
compacted user-fd "$user_home/own.vhd" "$job"
[[ $(job_prop "$job" Owner) = "$user_uid" ]] || fail "user: the job's Owner is $(job_prop "$job" Owner), not $user_uid"
[[ $(file_size "$user_home/own.vhd") = "$planned" ]] || fail "user: AnalyzeFd planned $planned bytes"
[[ $(stat -c %U "$user_home/own.vhd") = "$user" ]] || fail "user: the file is no longer the user's"
# Cancel: only the owner (or root) may, even once the job has ended; then
# it does nothing.
out=$(AS_USER_PRELOAD=0 as_user -u "$user" "$py" "$d/client.py" Cancel "$root_job") &&
  fail "user: cancelled root's job $root_job"
[[ $out = "error org.vhd.Compact.Error.AccessDenied: "* ]] || fail "user: Cancel of root's job: '$out'"
AS_USER_PRELOAD=0 as_user -u "$user" "$py" "$d/client.py" Cancel "$job" ||
  fail "user: cannot cancel its own (ended) job"
[[ $(job_prop "$job" State) = '"done"' ]] || fail "user: cancelling an ended job changed its State"
echo "user: Cancel of root's job refused; of its own ended job, nothing"

echo "== that user and root's files"
mkdir -m 0700 "$d/rootonly"
make_disk "$d/rootonly/disk.vhd"
refused user-rootonly AccessDenied "$user" Compact "$d/rootonly/disk.vhd"
refused user-rootonly-analyze AccessDenied "$user" Analyze "$d/rootonly/disk.vhd"
if AS_USER_PRELOAD=0 as_user -u "$user" "$py" "$d/client.py" CompactFd "$d/rootonly/disk.vhd" rw 2>/dev/null; then
  fail "user: opened a file in a root-only directory"
fi
mkdir -m 0755 "$d/pub"
make_disk "$d/pub/ro.vhd"
chmod 0644 "$d/pub/ro.vhd"
refused user-readonly-fd AccessDenied "$user" CompactFd "$d/pub/ro.vhd" ro
refused user-readonly-path AccessDenied "$user" Compact "$d/pub/ro.vhd"

echo "== the user with the polkit grant, by path"
granted_home=$(getent passwd "$granted" | cut -d: -f6)
make_disk "$granted_home/own.vhd"
chown "$granted:" "$granted_home/own.vhd"
job=$(AS_USER_PRELOAD=0 as_user -u "$granted" "$py" "$d/client.py" Compact "$granted_home/own.vhd") ||
  fail "granted: Compact: $job"
compacted granted-path "$granted_home/own.vhd" "$job"
echo "== root: a folder, a missing file, a parent loop"
# root_call METHOD TARGET [OPENMODE]: client.py as root (see above).
root_call () { "$py" "$d/client.py" "$@"; }
mkdir "$d/folder.vhd"
for m in Compact Analyze; do
  out=$(root_call "$m" "$d/folder.vhd") && fail "root: $m of a folder answered '$out'"
  [[ $out = "error org.vhd.Compact.Error.NotSupported: "* ]] || fail "root: $m of a folder: '$out'"
  echo "root: $m of a folder: ${out#error }"
done
out=$(root_call Compact "$d/no-such.vhd") && fail "root: Compact of a missing file answered '$out'"
[[ $out = "error org.freedesktop.DBus.Error.FileNotFound: "* ]] || fail "root: Compact of a missing file: '$out'"
mkdir "$d/loop"
make_parent_loop "$d/loop"
cp -- "$d/loop/a.vhd" "$d/loop/a.copy"
cp -- "$d/loop/p.vhd" "$d/loop/p.copy"
for m in Compact CompactFd; do
  job=$(root_call "$m" "$d/loop/a.vhd" rw) || fail "root: $m of a loop: $job"
  [[ $(wait_job "$job") = failed ]] || fail "root: $m of a loop: the job ended $(job_prop "$job" State)"
  [[ $(job_prop "$job" ErrorName) = '"org.vhd.Compact.Error.Parent"' ]] ||
    fail "root: $m of a loop: ErrorName $(job_prop "$job" ErrorName): $(job_prop "$job" Error)"
  [[ $(job_prop "$job" Error) = *parent-loop:* ]] || fail "root: $m of a loop: Error $(job_prop "$job" Error)"
  echo "root: $m of a loop: $(job_prop "$job" Error)"
done
rc=0
"$VHDCTL" compact --bus --no-progress "$d/loop/a.vhd" >/dev/null 2>"$d/loop.err" || rc=$?
[[ $rc = 1 && $(wc -l < "$d/loop.err") = 1 ]] || { cat "$d/loop.err" >&2; fail "vhdctl compact --bus of a loop: exit $rc"; }
grep -q "^vhdctl: '$d/loop/a.vhd': parent-loop: " "$d/loop.err" ||
  { cat "$d/loop.err" >&2; fail "vhdctl compact --bus of a loop: not parent-loop"; }
cmp -s "$d/loop/a.vhd" "$d/loop/a.copy" && cmp -s "$d/loop/p.vhd" "$d/loop/p.copy" ||
  fail "root: a loop's files changed"


echo "== what another user sees of a job"
# listen.py: every signal of org.vhd.Compact this connection receives, one
# line each ("ready" once subscribed).
cat > "$d/listen.py" <<'PY'
import dbus
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib
DBusGMainLoop(set_as_default=True)
bus = dbus.SystemBus()
def heard(*args, **kw):
    print(kw["member"], kw["path"], repr(args), flush=True)
bus.add_signal_receiver(heard, bus_name="org.vhd.Compact", member_keyword="member", path_keyword="path")
print("ready", flush=True)
GLib.MainLoop().run()
PY
chmod 0644 "$d/listen.py"
if "$py" -c 'from gi.repository import GLib' 2>/dev/null; then
  AS_USER_PRELOAD=0 as_user -u "$user" "$py" "$d/listen.py" > "$d/heard.txt" 2>&1 &
  listener=$!
  cleanup_fn _bus_stop_pid "$listener" listen.py
  for ((i = 0; i < 200; i++)); do grep -qs '^ready' "$d/heard.txt" && break; sleep 0.05; done
  grep -q '^ready' "$d/heard.txt" || fail "the listening client did not start: $(cat "$d/heard.txt")"
else
  listener=
  echo "(signals not checked: python3-gi is missing)"
fi
# Root's job on a file in a root-only folder; it fails (not a VHD), so it
# has an Error naming the file.
head -c 8192 /dev/urandom > "$d/rootonly/secret-name.vhd"
out=$(busctl call org.vhd.Compact /org/vhd/Compact org.vhd.Compact.Manager Compact 'sa{sv}' "$d/rootonly/secret-name.vhd" 0)
secret_job=$(sed -n 's/^o "\(.*\)"$/\1/p' <<<"$out")
[[ $(wait_job "$secret_job") = failed ]] || fail "secret-name.vhd: the job did not fail"
job_prop "$secret_job" Error | grep -q secret-name || fail "root does not see its job's Error"
# as_busctl ARGS...: busctl on the system bus as the user without the grant.
as_busctl () { AS_USER_PRELOAD=0 as_user -u "$user" busctl --system "$@"; }
[[ $(as_busctl get-property org.vhd.Compact "$secret_job" org.vhd.Compact.Job State) = 's "failed"' ]] ||
  fail "the other user does not see the job's State"
for p in Path Error ErrorName Mode; do
  [[ $(as_busctl get-property org.vhd.Compact "$secret_job" org.vhd.Compact.Job $p) = 's ""' ]] ||
    fail "the other user reads root's job's $p: $(as_busctl get-property org.vhd.Compact "$secret_job" org.vhd.Compact.Job $p)"
done
[[ $(as_busctl get-property org.vhd.Compact "$secret_job" org.vhd.Compact.Job Owner) = "u 4294967295" ]] ||
  fail "the other user reads root's job's Owner"
[[ $(as_busctl get-property org.vhd.Compact "$root_job" org.vhd.Compact.Job SizeBefore) = "t 0" ]] ||
  fail "the other user reads root's job's SizeBefore"
[[ $(as_busctl get-property org.vhd.Compact "$root_job" org.vhd.Compact.Job Report) = "a{sv} 0" ]] ||
  fail "the other user reads root's job's Report: $(as_busctl get-property org.vhd.Compact "$root_job" org.vhd.Compact.Job Report)"
all=$(as_busctl call org.vhd.Compact "$secret_job" org.freedesktop.DBus.Properties GetAll s org.vhd.Compact.Job)
[[ $all = *'"failed"'* && $all != *secret-name* ]] || fail "the other user's GetAll: $all"
objs=$(as_busctl call org.vhd.Compact /org/vhd/Compact org.freedesktop.DBus.ObjectManager GetManagedObjects)
[[ $objs = *"$secret_job"* && $objs = *"$user_home/own.vhd"* ]] ||
  fail "GetManagedObjects does not show the other user the jobs, and its own job's Path: $objs"
[[ $objs != *secret-name* && $objs != *"$d/root.vhd"* && $objs != *"$granted_home"* ]] ||
  fail "GetManagedObjects shows the other user another's Path: $objs"
[[ $(job_prop "$secret_job" Path) = "\"$d/rootonly/secret-name.vhd\"" ]] || fail "root does not see its job's Path"
if [[ -n ${VHDCTL:-} ]]; then
  out=$(as_user -u "$user" "$VHDCTL" jobs) || fail "vhdctl jobs as the other user failed: $out"
  [[ $out != *secret-name* ]] && grep -qE "^$secret_job +failed +0\.0% +- +-$" <<<"$out" ||
    fail "vhdctl jobs as the other user: $out"
fi
if [[ -n $listener ]]; then
  sleep 0.5             # what is on its way to the listener
  kill "$listener"
  wait "$listener" 2>/dev/null || true
  grep -q "$secret_job" "$d/heard.txt" || fail "the listening user heard nothing of the job: $(cat "$d/heard.txt")"
  ! grep -q 'secret-name' "$d/heard.txt" || fail "a signal told another user the job's file: $(grep secret-name "$d/heard.txt")"
  ! grep -q '^Completed' "$d/heard.txt" || fail "another user received the job's Completed"
  echo "heard by the other user: $(grep -c . "$d/heard.txt") signals, none naming the file"
fi
echo "another user sees root's jobs' State only"
kill -0 "$daemon_pid" || fail "the daemon died"
echo ok
