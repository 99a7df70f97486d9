#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The D-Bus test harness itself (bus-functions.sh), before any daemon test
# relies on it: a private system bus comes up on a socket in the scratch
# directory and is the one busctl talks to; its policy is the system bus's
# (an unprivileged user may not own a name, root may own org.vhd.Compact);
# throwaway users are made, run commands with their own uid and reach the
# bus; the real polkitd, on that bus, knows org.vhd.compact and answers
# CheckAuthorization (root asking about a user's connection, as the daemon
# will) with yes for the granted test user, and not yes for a second
# throwaway user and for nobody; root is authorized; and the host's polkit
# directories were not touched.
set -euo pipefail
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/bus-functions.sh"
(( EUID == 0 )) || skip "needs root (a test user and polkitd)"
requires dbus-daemon busctl
make_tmpdir
py=$(_bus_python)

echo "== the test bus"
host_bus=${DBUS_SYSTEM_BUS_ADDRESS:-unix:path=/run/dbus/system_bus_socket}
start_test_bus
[[ $DBUS_SYSTEM_BUS_ADDRESS = "unix:path=$test_bus_socket,"* ]] ||
  fail "DBUS_SYSTEM_BUS_ADDRESS is $DBUS_SYSTEM_BUS_ADDRESS, not our socket $test_bus_socket"
[[ $DBUS_SYSTEM_BUS_ADDRESS != "$host_bus" ]] || fail "the test bus is the host's"
[[ -S $test_bus_socket ]] || fail "no socket at $test_bus_socket"
# busctl finds the test bus, and the bus is the dbus-daemon we started.
bus_pid=$(busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
            GetConnectionUnixProcessID s org.freedesktop.DBus | awk '{ print $2 }')
[[ $bus_pid = "$test_bus_pid" ]] || fail "busctl --system reached pid $bus_pid, not our dbus-daemon $test_bus_pid"
# Root may own org.vhd.Compact (the service policy is in force) ...
"$py" -c '
import dbus, sys
r = dbus.SystemBus().request_name("org.vhd.Compact", dbus.bus.NAME_FLAG_DO_NOT_QUEUE)
sys.exit(0 if r == dbus.bus.REQUEST_NAME_REPLY_PRIMARY_OWNER else 1)
' || fail "root may not own org.vhd.Compact on the test bus"
# ... but not just any name (deny own="*").
if "$py" -c 'import dbus; dbus.SystemBus().request_name("org.vhd.NotAllowed")' 2>/dev/null; then
  fail "root could own org.vhd.NotAllowed: the default policy is not the system bus's"
fi
echo "bus: pid $test_bus_pid at $test_bus_socket"

echo "== throwaway users"
make_test_user
user1=$test_user uid1=$test_uid
[[ $(as_user id -u) = "$uid1" ]] || fail "as_user: runs as uid $(as_user id -u), not $uid1"
[[ $(as_user id -g) = "$test_gid" ]] || fail "as_user: runs as gid $(as_user id -g), not $test_gid"
[[ $(as_user sh -c 'echo "$HOME"') = "$test_home" ]] || fail "as_user: HOME is not $test_home"
[[ -d $test_home && $(stat -c %u "$test_home") = "$uid1" ]] || fail "$test_home is not $user1's"
as_user sh -c 'echo hi > "$HOME/f"' || fail "$user1 cannot write its home"
if as_user sh -c ': > "$1/root-only"' sh "$tmpdir" 2>/dev/null; then
  fail "$user1 can write the root-owned scratch directory"
fi
if [[ -n ${VHD_SANITIZER_PRELOAD:-} ]]; then
  [[ $(as_user sh -c 'echo "$LD_PRELOAD"') = "$VHD_SANITIZER_PRELOAD" ]] ||
    fail "as_user: LD_PRELOAD is not the sanitizer runtime"
fi
# The user reaches the test bus and is who the bus says it is.
AS_USER_PRELOAD=0 as_user busctl --system call org.freedesktop.DBus /org/freedesktop/DBus \
  org.freedesktop.DBus GetId >/dev/null || fail "$user1 cannot reach the test bus"
as_user "$py" -c '
import dbus, os, sys
bus = dbus.SystemBus()
uid = bus.get_unix_user(bus.get_unique_name())
sys.exit(0 if uid == os.getuid() != 0 else 1)
' || fail "the bus does not see $user1 as uid $uid1"
if as_user "$py" -c 'import dbus; dbus.SystemBus().request_name("org.vhd.Compact")' 2>/dev/null; then
  fail "$user1 could own org.vhd.Compact"
fi
make_test_user
user2=$test_user
[[ $user2 != "$user1" && $test_uid != "$uid1" ]] || fail "the second user is the first"
test_user=$user1
echo "users: $user1 (uid $uid1), $user2 (uid $(id -u "$user2"))"

echo "== polkitd"
start_polkitd "$user1"
r=$(polkit_check org.vhd.compact)
[[ $r = yes ]] || fail "polkitd: $user1 (granted) got '$r', expected yes"
r=$(polkit_check -u "$user2" org.vhd.compact)
[[ $r = challenge || $r = no ]] || fail "polkitd: $user2 (not granted) got '$r'"
echo "polkitd: $user1: yes; $user2: $r"
if id nobody >/dev/null 2>&1; then
  r=$(polkit_check -u nobody org.vhd.compact)
  [[ $r = challenge || $r = no ]] || fail "polkitd: nobody got '$r'"
  echo "polkitd: nobody: $r"
fi
r=$(polkit_check -u root org.vhd.compact)
[[ $r = yes ]] || fail "polkitd: root got '$r'"

echo "== the host is untouched"
[[ ! -e /etc/polkit-1/rules.d/50-vhdcompact-test.rules ]] || fail "the rules file is visible on the host"
if grep -qs ' /etc/polkit-1/rules.d \| /usr/share/polkit-1/actions ' /proc/self/mountinfo; then
  fail "polkit's directories are mount points outside polkitd's namespace"
fi
echo ok
