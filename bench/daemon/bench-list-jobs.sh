#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench/daemon: how long vhd-compactd takes to list its jobs (issue 12,
# item 5: GetManagedObjects took 0.43 s at 7900 jobs, growing as n²).
#
# As root, on a private system bus (tests/integration/bus-functions.sh): a
# daemon whose worker is a stand-in that fails at once, so jobs end as fast
# as they come and stay listed (--keep-finished 3600); for each COUNT, jobs
# are added (CompactFd of empty files, 16 calls in flight) up to COUNT, then
# GetManagedObjects and ListJobs are timed (CLOCK_MONOTONIC, median of 5,
# one connection, as root: every property is built); GetManagedObjects also
# through busctl (its output thrown away), where python-dbus's unmarshalling
# is not counted.
#
# Usage: bench/daemon/bench-list-jobs.sh [VHD_COMPACTD] [COUNT...]
#   (default: build/daemon/vhd-compactd; 1000 2000 4000 8000)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
daemon=$(readlink -f "${1:-$top/build/daemon/vhd-compactd}")
shift || true
counts=("${@:-1000 2000 4000 8000}")
read -r -a counts <<<"${counts[*]}"
(( EUID == 0 )) || { echo "bench-list-jobs: needs root (a private system bus)" >&2; exit 1; }
[[ -x $daemon ]] || { echo "bench-list-jobs: no daemon at $daemon" >&2; exit 1; }
cd "$top/tests/integration"
. ./functions.sh
. ./bus-functions.sh
make_tmpdir
d=$tmpdir
py=$(_bus_python)
start_test_bus
printf '#!/bin/sh\nexit 1\n' > "$d/fast-worker"
chmod 0755 "$d/fast-worker"
limits=()
"$daemon" --help | grep -q -- --job-limit && limits=(--job-limit 100000 --user-job-limit 100000)
VHDCOMPACT_WORKER="$d/fast-worker" "$daemon" --idle-timeout 0 --keep-finished 3600 --max-jobs 2 \
  "${limits[@]}" 2>"$d/daemon.log" &
daemon_pid=$!
cleanup_fn _bus_stop_pid "$daemon_pid" vhd-compactd
wait_bus_name org.vhd.Compact 20 "$daemon_pid"

cat > "$d/bench.py" <<'PY'
import dbus, os, statistics, subprocess, sys, time
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib
DBusGMainLoop(set_as_default=True)
d, daemon_pid, counts = sys.argv[1], sys.argv[2], [int(c) for c in sys.argv[3:]]
def settle():
    # Until the daemon has had no worker for a second: every job ended.
    quiet = 0
    while quiet < 10:
        busy = subprocess.run(["pgrep", "-P", daemon_pid], stdout=subprocess.DEVNULL).returncode == 0
        quiet = 0 if busy else quiet + 1
        time.sleep(0.1)
made = [0]
def add(n):
    # CompactFd of fresh empty files until n calls were answered.
    loop = GLib.MainLoop()
    want = n - made[0]
    left = [want]
    todo = [os.path.join(d, "f%d" % (made[0] + i)) for i in range(want)]
    def send(mgr):
        if not todo:
            return
        f = todo.pop()
        open(f, "w").close()
        fd = os.open(f, os.O_RDWR)
        mgr.CompactFd(dbus.types.UnixFd(fd), dbus.Dictionary({}, signature="sv"), timeout=600,
                      reply_handler=lambda job: done(mgr), error_handler=lambda e: done(mgr))
        os.close(fd)
    def done(mgr):
        left[0] -= 1
        if left[0] == 0:
            loop.quit()
        send(mgr)
    for _ in range(min(16, want)):
        send(dbus.Interface(dbus.SystemBus(private=True).get_object("org.vhd.Compact", "/org/vhd/Compact",
                                                                    introspect=False), "org.vhd.Compact.Manager"))
    loop.run()
    made[0] = n
bus = dbus.SystemBus()
obj = bus.get_object("org.vhd.Compact", "/org/vhd/Compact", introspect=False)
om = dbus.Interface(obj, "org.freedesktop.DBus.ObjectManager")
mgr = dbus.Interface(obj, "org.vhd.Compact.Manager")
print("%8s %8s %22s %20s %12s" % ("jobs", "listed", "GetManagedObjects s", "(busctl, raw) s", "ListJobs s"))
for n in counts:
    add(n)
    settle()
    def timed(f):
        t = []
        for _ in range(5):
            t0 = time.monotonic(); r = f(); t.append(time.monotonic() - t0)
        return statistics.median(t), r
    tg, objs = timed(lambda: om.GetManagedObjects(timeout=600))
    tl, jobs = timed(lambda: mgr.ListJobs(timeout=600))
    tb, _ = timed(lambda: subprocess.run(["busctl", "--system", "--timeout=600", "call", "org.vhd.Compact",
                                          "/org/vhd/Compact", "org.freedesktop.DBus.ObjectManager",
                                          "GetManagedObjects"], stdout=subprocess.DEVNULL, check=True))
    print("%8d %8d %22.4f %20.4f %12.4f" % (n, len(objs), tg, tb, tl), flush=True)
PY
echo "daemon: $daemon"
mkdir -p "$d/files"
"$py" "$d/bench.py" "$d/files" "$daemon_pid" "${counts[@]}"
