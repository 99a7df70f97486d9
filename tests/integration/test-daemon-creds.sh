#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# vhd-compactd decides who a caller is from the bus driver's word alone
# (issue 13, item 7).  sd-bus can "augment" a sender's credentials with
# what /proc/PID says of the pid the bus reports: fields read after the
# fact, from whatever that pid runs now, so not fit for a decision.  A
# caller makes /proc lie by connecting to the bus and then exec'ing a
# set-ID program in the process the bus recorded (tools/creds-spoof.c),
# while it keeps the connection and calls from another process:
# - with a set-group-ID program of another user's group, a user's
#   AnalyzeFd of its differencing disk whose parent only that group may
#   read must fail as it does without the trick (the parent is opened with
#   the caller's ids: its uid and its groups from the user database), not
#   succeed with the program's group;
# - with a set-user-ID-root program, a user's Analyze of a root-only disk
#   is AccessDenied (polkit grants the user nothing), not run as root's,
#   and the user may not Cancel root's job.
# Root's own AnalyzeFd of the same chain succeeds (the chain is sound).
set -euo pipefail
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/bus-functions.sh"
(( EUID == 0 )) || skip "needs root (the daemon on a private system bus, test users, set-ID programs)"
requires dbus-daemon busctl qemu-img qemu-io
requires_env VHDCTL VHD_COMPACTD VHD_WORKER CREDS_SPOOF
make_tmpdir
d=$tmpdir
py=$(_bus_python)

start_test_bus
make_test_user
user=$test_user user_home=$test_home
make_test_user
other_gid=$test_gid

start_daemon -- --keep-finished 120
cleanup_fn show_daemon_log_on_failure

# The set-ID programs: copies of sleep, in a folder the user may reach.
mkdir -m 0755 "$d/bin"
cp "$(command -v sleep)" "$d/bin/sgid-sleep"
chown "root:$other_gid" "$d/bin/sgid-sleep"
chmod 2755 "$d/bin/sgid-sleep"
cp "$(command -v sleep)" "$d/bin/suid-sleep"
chown root:root "$d/bin/suid-sleep"
chmod 4755 "$d/bin/suid-sleep"

# spoof PROGRAM METHOD TARGET: creds-spoof as the user; skips when the
# set-ID bit has no effect here (nosuid).
spoof ()
{
  local out rc=0
  out=$(AS_USER_PRELOAD=0 as_user -u "$user" "$CREDS_SPOOF" "$test_bus_socket" "$@") || rc=$?
  (( rc != 77 )) || skip "a set-ID program does not change the effective ids under $d (nosuid?)"
  (( rc != 2 )) || fail "creds-spoof $*: could not run"
  echo "$out"
  return "$rc"
}

echo "== a set-group-ID program does not lend its group"
# The parent: only group $other_gid may read it; the child is the user's.
mkdir -m 0750 "$d/grp"
chown "root:$other_gid" "$d/grp"
qemu-img create -q -f vpc -o subformat=dynamic "$d/grp/parent.vhd" 64M
qemu-io -f vpc -c 'write -q -P 0x11 0 1M' "$d/grp/parent.vhd" >/dev/null
chown "root:$other_gid" "$d/grp/parent.vhd"
chmod 0640 "$d/grp/parent.vhd"
"$VHDCTL" create "$user_home/kid.vhd" --parent "$d/grp/parent.vhd" >/dev/null
chown "$user:" "$user_home/kid.vhd"
# analyze_kid [as_user -u USER]: AnalyzeFd of the user's child, by root or
# as USER; prints "ok", or "error NAME: MESSAGE" and returns 1.
analyze_kid ()
{
  "$@" "$py" - "$user_home/kid.vhd" <<'PY'
import dbus, os, sys
mgr = dbus.Interface(dbus.SystemBus().get_object("org.vhd.Compact", "/org/vhd/Compact"),
                     "org.vhd.Compact.Manager")
try:
    mgr.AnalyzeFd(dbus.types.UnixFd(os.open(sys.argv[1], os.O_RDONLY)), dbus.Dictionary({}, signature="sv"))
except dbus.exceptions.DBusException as e:
    print("error %s: %s" % (e.get_dbus_name(), e.get_dbus_message()))
    sys.exit(1)
print("ok")
PY
}
out=$(analyze_kid) || fail "root's AnalyzeFd of the chain: $out"
honest=$(AS_USER_PRELOAD=0 analyze_kid as_user -u "$user") || true
[[ $honest = error* ]] || fail "the user's AnalyzeFd read a parent only group $other_gid may read: $honest"
out=$(spoof "$d/bin/sgid-sleep" AnalyzeFd "$user_home/kid.vhd") &&
  fail "with a set-group-ID program, the user's AnalyzeFd read a parent only group $other_gid may read: $out"
[[ $out = "$honest" ]] || fail "set-group-ID: '$out', not as without it: '$honest'"
echo "set-group-ID: ${out#error }"

echo "== a set-user-ID-root program does not make a user root"
mkdir -m 0700 "$d/root"
qemu-img create -q -f vpc -o subformat=dynamic "$d/root/disk.vhd" 64M
out=$(spoof "$d/bin/suid-sleep" Analyze "$d/root/disk.vhd") &&
  fail "with a set-user-ID-root program, the user's Analyze of root's disk ran: $out"
[[ $out = "error org.vhd.Compact.Error.AccessDenied: "* ]] || fail "set-user-ID Analyze: '$out'"
echo "set-user-ID Analyze: ${out#error }"
# Root's job, queued behind nothing but held long enough: a compaction of
# a disk with nothing to do ends at once, so Cancel is asked of a finished
# job, which a non-owner must still be refused.
job=$(busctl call org.vhd.Compact /org/vhd/Compact org.vhd.Compact.Manager Compact 'sa{sv}' \
        "$d/root/disk.vhd" 0 | sed -n 's/^o "\(.*\)"$/\1/p')
[[ $job = /org/vhd/Compact/job/* ]] || fail "root's Compact: no job"
out=$(spoof "$d/bin/suid-sleep" Cancel "$job") &&
  fail "with a set-user-ID-root program, the user cancelled root's job: $out"
[[ $out = "error org.vhd.Compact.Error.AccessDenied: "* ]] || fail "set-user-ID Cancel: '$out'"
echo "set-user-ID Cancel: ${out#error }"
