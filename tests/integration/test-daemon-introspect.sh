#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The running daemon's interfaces equal dbus/org.vhd.Compact.xml, the
# contract: a private session bus, vhd-compactd --user on it, one job so
# that a Job object exists, then `busctl introspect --xml-interface` of the
# manager and the job compared member by member (introspect-compare.py,
# which also wants a doc comment on every member of the contract).
set -euo pipefail
. "$(dirname "$0")/functions.sh"
requires dbus-daemon busctl python3 qemu-img
requires_env VHD_COMPACTD VHD_WORKER TOP_SRCDIR
make_tmpdir
d=$tmpdir

dbus-daemon --session --nofork --print-address=3 --address="unix:path=$d/bus" 3>"$d/bus.addr" 2>"$d/bus.log" &
bus_pid=$!
cleanup_fn kill "$bus_pid"
for _ in $(seq 100); do [[ -s $d/bus.addr ]] && break; sleep 0.05; done
export DBUS_SESSION_BUS_ADDRESS=unix:path=$d/bus
VHDCOMPACT_WORKER=$VHD_WORKER "$VHD_COMPACTD" --user --idle-timeout 0 2>"$d/daemon.log" &
daemon_pid=$!
cleanup_fn kill "$daemon_pid"
for _ in $(seq 100); do
  busctl --user status org.vhd.Compact >/dev/null 2>&1 && break
  kill -0 "$daemon_pid" 2>/dev/null || { cat "$d/daemon.log" >&2; fail "the daemon exited"; }
  sleep 0.05
done

qemu-img create -q -f vpc -o subformat=dynamic "$d/disk.vhd" 64M
job=$(busctl --user call org.vhd.Compact /org/vhd/Compact org.vhd.Compact.Manager Compact 'sa{sv}' "$d/disk.vhd" 0 |
      sed -n 's/^o "\(.*\)"$/\1/p')
[[ $job = /org/vhd/Compact/job/* ]] || fail "Compact returned '$job', not a job object"
busctl --user introspect --xml-interface org.vhd.Compact /org/vhd/Compact > "$d/manager.xml"
busctl --user introspect --xml-interface org.vhd.Compact "$job" > "$d/job.xml"
python3 "$srcdir/introspect-compare.py" "$TOP_SRCDIR/dbus/org.vhd.Compact.xml" "$d/manager.xml" "$d/job.xml" ||
  fail "the daemon and dbus/org.vhd.Compact.xml differ"

# The comparison itself must notice a drift: a contract missing a member.
sed '/<property name="Rate"/d' "$TOP_SRCDIR/dbus/org.vhd.Compact.xml" > "$d/drifted.xml"
! python3 "$srcdir/introspect-compare.py" "$d/drifted.xml" "$d/manager.xml" "$d/job.xml" >/dev/null ||
  fail "introspect-compare.py did not notice a missing property"

# SIGTERM ends the daemon cleanly, with no sanitizer's report in its log.
kill -TERM "$daemon_pid"
rc=0
wait "$daemon_pid" || rc=$?
[[ $rc = 0 ]] || { cat "$d/daemon.log" >&2; fail "the daemon exited with status $rc on SIGTERM"; }
sanitizer_check "$d/daemon.log" vhd-compactd
