#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# What one local user can make vhd-compactd hold, and how it stops
# (issue 12, items 5 and 10).  On a private system bus, with a stand-in
# worker that parses nothing and sleeps (so every job accepted stays queued
# or running while the test looks), and --max-jobs 1:
# - the daemon under the descriptor limit systemd gives services
#   (prlimit --nofile=1024): one unprivileged user sends 1500 CompactFd
#   calls, 16 at a time, each for a file of its own; exactly --user-job-limit
#   (default 32) get a job and every other call is refused with
#   org.vhd.Compact.Error.TooManyJobs; the daemon stays on the bus and
#   answers (ListJobs and GetManagedObjects list exactly the jobs made),
#   and a second user still gets a job;
# - under a tighter limit (nofile 200) and limits raised far past it, the
#   daemon lowers its job limit to what its descriptors hold: of 1500 calls
#   only that many get a job, the rest TooManyJobs, and it stays on the
#   bus (today's daemon kept a descriptor per queued job and, out of
#   descriptors, lost its bus connection);
# - SIGTERM: the queued jobs end "cancelled", and a new Compact, sent
#   while the daemon still waits for its running job, is refused with
#   org.vhd.Compact.Error.ShuttingDown instead of starting a new job; once
#   the running job ends the daemon exits;
# - with a stand-in worker that fails at once: 600 calls make jobs that
#   all end, and ListJobs and GetManagedObjects list every one made, each
#   once (how long a listing takes is in bench/daemon/, not here); with
#   --user-job-limit 8 at most 32 ended jobs of one user are kept, and
#   another user's ended job is kept beside them.
set -euo pipefail
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/bus-functions.sh"
(( EUID == 0 )) || skip "needs root (the daemon on a private system bus, test users)"
requires dbus-daemon busctl prlimit pgrep
requires_env VHD_COMPACTD VHD_WORKER
make_tmpdir
d=$tmpdir
py=$(_bus_python)
"$py" -c 'from gi.repository import GLib' 2>/dev/null ||
  skip "python3 with GLib (Debian package python3-gi) is required for concurrent calls"

show_daemon_log_on_failure ()
{
  [[ ${status:-0} = 0 || ${status:-0} = 77 ]] || { echo "--- daemon log:" >&2; tail -n 30 "$d/daemon.log" >&2 || true; }
  return 0
}
cleanup_fn show_daemon_log_on_failure

start_test_bus
make_test_user
user1=$test_user user1_home=$test_home
make_test_user
user2=$test_user user2_home=$test_home

# The stand-in worker: runs as the worker user, ignores "cancel", holds its
# job until killed.
printf '#!/bin/sh\nexec sleep 600\n' > "$d/fake-worker"
chmod 0755 "$d/fake-worker"

# flood.py FILE...: CompactFd for every FILE, 16 calls in flight at all
# times, each on a connection of its own (more would only meet the bus's own
# limit on what it queues for one receiver); prints "job PATH" or
# "error NAME" per call.
cat > "$d/flood.py" <<'PY'
import dbus, os, sys
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib
DBusGMainLoop(set_as_default=True)
files = sys.argv[1:]
loop = GLib.MainLoop()
left = [len(files)]
seen = set()
def send(mgr):
    if not files:
        return
    fd = os.open(files.pop(), os.O_RDWR)
    mgr.CompactFd(dbus.types.UnixFd(fd), dbus.Dictionary({}, signature="sv"), timeout=300,
                  reply_handler=lambda job: done(mgr, "job %s" % job),
                  error_handler=lambda e: done(mgr, "error %s" % e.get_dbus_name(), e))
    os.close(fd)
def done(mgr, line, e=None):
    print(line)
    if e is not None and e.get_dbus_name() not in seen:
        seen.add(e.get_dbus_name())
        print("flood.py: %s: %s" % (e.get_dbus_name(), e.get_dbus_message()), file=sys.stderr)
    left[0] -= 1
    if left[0] == 0:
        loop.quit()
    send(mgr)
for _ in range(min(16, len(files))):
    send(dbus.Interface(dbus.SystemBus(private=True).get_object("org.vhd.Compact", "/org/vhd/Compact",
                                                                introspect=False),
                        "org.vhd.Compact.Manager"))
loop.run()
PY
chmod 0644 "$d/flood.py"

# files DIR USER N: N empty files of USER in DIR (jobs on one file would be
# refused as Busy).
files ()
{
  local i
  mkdir -p "$1"
  for ((i = 0; i < $3; i++)); do : > "$1/f$i.vhd"; done
  chown -R "$2:" "$1"
}

# flood USER DIR OUT: the calls for every file in DIR; counts in OUT.
flood ()
{
  AS_USER_PRELOAD=0 as_user -u "$1" "$py" "$d/flood.py" "$2"/*.vhd > "$3" 2> "$3.err" ||
    { cat "$3.err" >&2; fail "the flooding client failed"; }
  [[ $(wc -l < "$3") = $(find "$2" -name '*.vhd' | wc -l) ]] || fail "not every call was answered"
}

# listed: ListJobs and GetManagedObjects (as root) agree; prints the count.
listed ()
{
  local n1 n2
  n1=$(busctl --system call org.vhd.Compact /org/vhd/Compact org.vhd.Compact.Manager ListJobs | awk '{ print $2 }')
  n2=$(busctl --system call org.vhd.Compact /org/vhd/Compact org.freedesktop.DBus.ObjectManager \
         GetManagedObjects | awk '{ print $2 }')
  [[ $n1 = "$n2" ]] || fail "ListJobs lists $n1 jobs, GetManagedObjects $n2"
  echo "$n1"
}

files "$user1_home/many" "$user1" 1500
files "$user2_home/one" "$user2" 1

echo "== 1500 CompactFd calls at once from one user, under nofile 1024"
env VHDCOMPACT_WORKER="$d/fake-worker" prlimit --nofile=1024:1024 -- "$VHD_COMPACTD" --idle-timeout 0 \
  --max-jobs 1 2>>"$d/daemon.log" &
daemon_pid=$!
cleanup_fn _bus_stop_pid "$daemon_pid" vhd-compactd "$d/daemon.log"
wait_bus_name org.vhd.Compact 20 "$daemon_pid"
flood "$user1" "$user1_home/many" "$d/flood1.out"
ok=$(grep -c '^job ' "$d/flood1.out" || true)
refused=$(grep -c '^error org.vhd.Compact.Error.TooManyJobs$' "$d/flood1.out" || true)
other=$(grep -v '^job \|^error org.vhd.Compact.Error.TooManyJobs$' "$d/flood1.out" | sort | uniq -c || true)
[[ -z $other ]] || { cat "$d/flood1.out.err" >&2; fail "calls that neither got a job nor TooManyJobs: $other"; }
[[ $ok = 32 ]] || fail "$ok calls got a job, expected 32 (the default --user-job-limit)"
kill -0 "$daemon_pid" 2>/dev/null || fail "the daemon died"
bus_name_has_owner org.vhd.Compact || fail "the daemon left the bus"
[[ $(listed) = 32 ]] || fail "$(listed) jobs listed after the flood, 32 made"
out=$(AS_USER_PRELOAD=0 as_user -u "$user2" "$py" "$d/flood.py" "$user2_home/one/f0.vhd")
[[ $out = "job /org/vhd/Compact/job/"* ]] || fail "the second user got no job: $out"
[[ $(listed) = 33 ]] || fail "$(listed) jobs listed, 33 made"
echo "32 jobs, $refused refused as TooManyJobs; the daemon answers; another user still gets a job"

echo "== SIGTERM: no new jobs, the daemon exits once its job ends"
queued=$(sed -n 's/^job //p' "$d/flood1.out" | sort -t/ -k5 -n | tail -n 1)
kill -TERM "$daemon_pid"
for ((i = 0; i < 200; i++)); do
  [[ $(job_prop "$queued" State) = '"cancelled"' ]] && break
  sleep 0.05
done
[[ $(job_prop "$queued" State) = '"cancelled"' ]] || fail "$queued: not cancelled after SIGTERM"
: > "$d/late.vhd"
AS_USER_PRELOAD=0 as_user -u "$user2" "$py" "$d/flood.py" "$user2_home/one/f0.vhd" > "$d/late.out" 2>/dev/null || true
[[ $(cat "$d/late.out") = "error org.vhd.Compact.Error.ShuttingDown" ]] ||
  fail "a CompactFd after SIGTERM was not refused as ShuttingDown: $(cat "$d/late.out")"
rc=0
busctl --system call org.vhd.Compact /org/vhd/Compact org.vhd.Compact.Manager Compact 'sa{sv}' \
  "$d/late.vhd" 0 > "$d/late2.out" 2>&1 || rc=$?
(( rc != 0 )) && grep -q 'stopping' "$d/late2.out" ||
  fail "root's Compact after SIGTERM was not refused: $(cat "$d/late2.out")"
kill -0 "$daemon_pid" 2>/dev/null || fail "the daemon exited with its worker still running"
# The running job's worker ignores "cancel": end it as a crash would.
wpid=$(pgrep -P "$daemon_pid" -x sleep || true)
[[ -n $wpid ]] || fail "no worker under the daemon"
kill -KILL $wpid
for ((i = 0; i < 200; i++)); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.05; done
! kill -0 "$daemon_pid" 2>/dev/null || fail "the daemon did not exit within 10 s of its last job's end"
wait "$daemon_pid" 2>/dev/null || true
echo "refused after SIGTERM: $(cat "$d/late2.out")"

echo "== under nofile 200, limits raised past it: the daemon fits its job limit"
env VHDCOMPACT_WORKER="$d/fake-worker" prlimit --nofile=200:200 -- "$VHD_COMPACTD" --idle-timeout 0 \
  --max-jobs 1 --job-limit 5000 --user-job-limit 5000 2>>"$d/daemon.log" &
daemon_pid=$!
cleanup_fn _bus_stop_pid "$daemon_pid" vhd-compactd "$d/daemon.log"
wait_bus_name org.vhd.Compact 20 "$daemon_pid"
flood "$user1" "$user1_home/many" "$d/flood2.out"
ok=$(grep -c '^job ' "$d/flood2.out" || true)
other=$(grep -v '^job \|^error org.vhd.Compact.Error.TooManyJobs$' "$d/flood2.out" | sort | uniq -c || true)
[[ -z $other ]] || fail "nofile 200: calls that neither got a job nor TooManyJobs: $other"
(( ok > 0 && ok < 100 )) || fail "nofile 200: $ok calls got a job"
bus_name_has_owner org.vhd.Compact || fail "nofile 200: the daemon left the bus"
[[ $(listed) = "$ok" ]] || fail "nofile 200: $(listed) jobs listed, $ok made"
grep -q "at most $ok jobs at once" "$d/daemon.log" || fail "nofile 200: the daemon did not say it lowered its job limit"
echo "nofile 200: $ok jobs, the rest TooManyJobs; the daemon answers"
# Its stand-in worker ignores "cancel": stop the daemon (no job starts
# any more), then end the worker as a crash would.
kill -TERM "$daemon_pid"
for ((i = 0; i < 200; i++)); do
  kill -0 "$daemon_pid" 2>/dev/null || break
  # By name: in sanitizer builds the exiting daemon has a child of its own
  # (LeakSanitizer's), which must live.
  wpid=$(pgrep -P "$daemon_pid" -x sleep || true)
  [[ -z $wpid ]] || kill -KILL $wpid 2>/dev/null || true
  sleep 0.05
done
stop_daemon

# A stand-in worker that fails at once: jobs end as fast as they come.
printf '#!/bin/sh\nexit 1\n' > "$d/fast-worker"
chmod 0755 "$d/fast-worker"

# all_ended: until no job listed is queued or running (60 s at most).
all_ended ()
{
  local i
  for ((i = 0; i < 600; i++)); do
    busctl --system call org.vhd.Compact /org/vhd/Compact org.freedesktop.DBus.ObjectManager GetManagedObjects |
      grep -qE '"State" s "(queued|attaching|scanning|moving|truncating)"' || return 0
    sleep 0.1
  done
  fail "jobs still queued or running after 60 s"
}

echo "== 600 jobs that end at once: every one listed, each once"
start_daemon VHDCOMPACT_WORKER="$d/fast-worker" -- --max-jobs 2 --job-limit 500 --user-job-limit 500
mkdir -p "$user1_home/mid"
for f in "$user1_home"/many/f[1-6][0-9][0-9].vhd; do ln "$f" "$user1_home/mid/${f##*/}"; done
flood "$user1" "$user1_home/mid" "$d/flood3.out"
ok=$(grep -c '^job ' "$d/flood3.out" || true)
other=$(grep -v '^job \|^error org.vhd.Compact.Error.TooManyJobs$' "$d/flood3.out" | sort | uniq -c || true)
[[ -z $other ]] || fail "ended jobs: calls that neither got a job nor TooManyJobs: $other"
(( ok >= 300 )) || fail "ended jobs: only $ok calls got a job"
all_ended
[[ $(listed) = "$ok" ]] || fail "ended jobs: $(listed) listed, $ok made"
busctl --system call org.vhd.Compact /org/vhd/Compact org.vhd.Compact.Manager ListJobs | tr ' ' '\n' | grep '^"' |
  sort | uniq -d | grep -q . && fail "ListJobs lists a job twice"
sed -n 's/^job //p' "$d/flood3.out" | sort > "$d/made"
busctl --system call org.vhd.Compact /org/vhd/Compact org.vhd.Compact.Manager ListJobs | tr ' ' '\n' |
  sed -n 's/^"\(.*\)"$/\1/p' | sort > "$d/listed"
cmp -s "$d/made" "$d/listed" || fail "ListJobs does not list exactly the jobs made"
echo "$ok ended jobs, ListJobs and GetManagedObjects list each once"
stop_daemon

echo "== ended jobs kept: at most 4 x --user-job-limit of one user"
start_daemon VHDCOMPACT_WORKER="$d/fast-worker" -- --max-jobs 2 --user-job-limit 8
mkdir -p "$user1_home/few"
for f in "$user1_home"/many/f[1-4][0-9][0-9].vhd; do ln "$f" "$user1_home/few/${f##*/}"; done
# Rounds until more than 40 jobs were made (most calls of a round meet
# the limit of 8 while the first ones run).
: > "$d/flood4.out"
for ((round = 0; round < 20; round++)); do
  flood "$user1" "$user1_home/few" "$d/flood4.round"
  cat "$d/flood4.round" >> "$d/flood4.out"
  (( $(grep -c '^job ' "$d/flood4.out") > 40 )) && break
done
(( $(grep -c '^job ' "$d/flood4.out") > 40 )) || fail "test setup: only $(grep -c '^job ' "$d/flood4.out") jobs made"
all_ended
n=$(listed)
(( n <= 32 && n >= 8 )) || fail "$n ended jobs kept of one user, at most 32 (4 x 8)"
out=$(AS_USER_PRELOAD=0 as_user -u "$user2" "$py" "$d/flood.py" "$user2_home/one/f0.vhd")
[[ $out = "job /org/vhd/Compact/job/"* ]] || fail "the second user got no job: $out"
all_ended
[[ $(listed) = $((n + 1)) ]] || fail "another user's ended job took the place of the first one's"
echo "$(grep -c '^job ' "$d/flood4.out") jobs made, $n kept"
stop_daemon
sanitizer_check "$d/daemon.log" vhd-compactd
echo "all limit checks passed"
