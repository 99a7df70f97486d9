#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# vhdctl as a client of vhd-compactd, on a private system bus
# (bus-functions.sh) with the daemon started by the test as root:
#   - `vhdctl compact` (no --bus: the name is on the bus) goes through the
#     daemon (its job is listed afterwards) and leaves the file at exactly the
#     size `vhdctl compact --local --dry-run --json` predicted, with the same
#     block counts, the same guest content (qemu-img compare) and a clean
#     `vhdctl check`; --json over the bus has the in-process keys;
#   - --dry-run over the bus (Analyze) reports what the in-process dry run
#     does and writes nothing;
#   - an unprivileged user, refused the path method (no polkit here), gets
#     its own file compacted through CompactFd, and is refused, with the
#     file untouched, one it may not write;
#   - a refusal reads as the in-process one (same line for a fixed disk);
#   - --no-wait prints a job path that `vhdctl jobs` (text and --json)
#     lists;
#   - with the daemon's test hook VHDCOMPACT_TEST_WORKER_HOLD=moving (the
#     worker waits at the start of the move phase for one message), `vhdctl
#     cancel N` ends a job as cancelled, and so does SIGINT to a waiting
#     vhdctl, which then prints one "cancelled" line and exits 1; the image
#     stays valid and reads as before; cancel of an unknown job fails with
#     one line;
#   - forged job signals: while root's `vhdctl compact` waits on a job
#     paused before its moves (VHDCOMPACT_TEST_MOVE_PAUSE), another user
#     finds vhdctl's unique name and sends it unicast Completed(true),
#     PropertiesChanged(State "done") on the job's path and a
#     NameOwnerChanged saying the daemon left: vhdctl neither exits nor
#     prints a summary (it waits past its 3 s grace for a final State),
#     and once the job is let go it ends with the daemon's real result;
#   - --local never connects to the bus (a listening socket in
#     DBUS_SYSTEM_BUS_ADDRESS sees no connection) and works without one;
#     without --local and with no bus, vhdctl runs in-process;
#   - --bus with no bus, or with the bus but no daemon, fails with one line
#     and leaves the file untouched.
set -euo pipefail
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/bus-functions.sh"
(( EUID == 0 )) || skip "needs root (the daemon as root, a test user)"
requires dbus-daemon busctl qemu-img qemu-io nbdkit cmp python3
requires_env VHDCTL VHD_PLUGIN VHD_COMPACTD VHD_WORKER
make_tmpdir
. "$(dirname "$0")/compact-functions.sh"
d=$tmpdir

# make_disk FILE: a 64 MiB dynamic disk with data blocks around zero blocks,
# so that a compaction both drops and moves.
make_disk ()
{
    rm -f -- "$1"
    qemu-img create -q -f vpc -o subformat=dynamic -- "$1" 64M
    qemu-io -f vpc -c 'write -P 0x55 0 4M' -c 'write -z 8M 4M' -c 'write -P 0x11 20M 2M' \
        -c 'write -P 0x22 40M 2M' -c 'write -z 50M 2M' -- "$1" >/dev/null
}

# same_guest A B: the two VHDs read the same.
same_guest ()
{
    qemu-img compare -q -f vpc -F vpc -- "$1" "$2"
}

# one_line FILE WHAT: FILE holds exactly one line.
one_line ()
{
    [[ $(wc -l < "$1") = 1 ]] || { cat "$1" >&2; fail "$2: expected one line on stderr"; }
}

# job_states: "OBJECT STATE PATH" per job, from `vhdctl jobs --json`.
job_states ()
{
    "$VHDCTL" jobs --json | awk -F'"' '
        /"object":/ { o = $4 } /"state":/ { s = $4 } /"path":/ { print o, s, $4 }'
}

# job_field KEY FIELD VALUE: KEY of the job whose FIELD is VALUE (its
# latest, if several), from `vhdctl jobs --json`.
job_field ()
{
    "$VHDCTL" jobs --json | python3 -c '
import json, sys
key, field, value = sys.argv[1:]
hits = [j for j in json.load(sys.stdin) if str(j[field]) == value]
if hits:
    print(hits[-1][key])
' "$@"
}

# wait_job_state JOB STATE...: until JOB is in one of the STATEs (20 s at
# most: a bound against hanging, not a measurement).
wait_job_state ()
{
    local job=$1 i s
    shift
    for ((i = 0; i < 400; i++)); do
        s=$(job_states | awk -v j="$job" '$1 == j { print $2 }')
        for w in "$@"; do
            [[ $s = "$w" ]] && return 0
        done
        sleep 0.05
    done
    job_states >&2
    fail "$job: state '$s' after 20 s, expected $*"
}

start_test_bus
start_daemon

echo "== compact through the daemon, held to the in-process dry run"
make_disk "$d/a.vhd"
cp -- "$d/a.vhd" "$d/a.orig"
vhdctl_attaching compact --local --dry-run --json --no-progress "$d/a.vhd" > "$d/a.local.json"
predicted=$(json_num size-after < "$d/a.local.json")
(( predicted < $(file_size "$d/a.vhd") )) || fail "test setup: nothing to reclaim in a.vhd"
"$VHDCTL" compact --json "$d/a.vhd" > "$d/a.bus.json" 2>"$d/a.err" ||
    { cat "$d/a.err" >&2; fail "compact through the daemon failed"; }
[[ $(file_size "$d/a.vhd") = "$predicted" ]] ||
    fail "a.vhd is $(file_size "$d/a.vhd") bytes, the in-process dry run predicted $predicted"
job_states | grep -q " done $d/a.vhd\$" || { job_states >&2; fail "no finished daemon job for a.vhd"; }
for k in size-before size-after blocks-allocated blocks-dropped-fs blocks-dropped-zero blocks-moved bytes-moved; do
    [[ $(json_num "$k" < "$d/a.bus.json") = $(json_num "$k" < "$d/a.local.json") ]] ||
        fail "$k: $(json_num "$k" < "$d/a.bus.json") over the bus, $(json_num "$k" < "$d/a.local.json") in-process"
done
# The job's Report carries what the job itself read and wrote.
(( $(json_num bytes-written < "$d/a.bus.json") >= $(json_num bytes-moved < "$d/a.local.json") )) ||
    fail "bytes-written over the bus: '$(json_num bytes-written < "$d/a.bus.json")'"
[[ $(json_str file < "$d/a.bus.json") = "$d/a.vhd" && $(json_str mode < "$d/a.bus.json") = full ]] ||
    fail "--json over the bus: wrong file or mode"
grep -q '"dry-run": false' "$d/a.bus.json" || fail "--json over the bus: dry-run is not false"
"$VHDCTL" check "$d/a.vhd" >/dev/null || fail "a.vhd: check after compaction"
same_guest "$d/a.orig" "$d/a.vhd" || fail "a.vhd: the guest content changed"
# The summary line, as in-process.
make_disk "$d/a2.vhd"
"$VHDCTL" compact --bus --no-progress "$d/a2.vhd" > "$d/a2.out"
grep -Eq "^$d/a2.vhd: [0-9]+ -> $predicted bytes; dropped [0-9]+ blocks \([0-9]+ free in the file system, [0-9]+ zero\); moved [0-9]+ blocks \([0-9]+ bytes\); wrote [0-9]+ bytes; [0-9.]+ s\$" \
    "$d/a2.out" || { cat "$d/a2.out" >&2; fail "the summary line over the bus"; }

echo "== --dry-run through the daemon"
make_disk "$d/b.vhd"
sha=$(file_sha "$d/b.vhd")
"$VHDCTL" compact --bus --dry-run --json "$d/b.vhd" > "$d/b.bus.json"
[[ $(file_sha "$d/b.vhd") = "$sha" ]] || fail "--dry-run over the bus changed the file"
for k in size-before size-after blocks-allocated blocks-dropped-fs blocks-dropped-zero blocks-moved bytes-moved; do
    [[ $(json_num "$k" < "$d/b.bus.json") = $(json_num "$k" < "$d/a.local.json") ]] ||
        fail "dry run $k: $(json_num "$k" < "$d/b.bus.json") over the bus, $(json_num "$k" < "$d/a.local.json") in-process"
done
grep -q '"dry-run": true' "$d/b.bus.json" || fail "--dry-run over the bus: dry-run is not true"

echo "== a refusal reads as in-process"
qemu-img create -q -f vpc -o subformat=fixed -- "$d/fixed.vhd" 8M
! vhdctl_attaching compact --local --no-progress "$d/fixed.vhd" 2>"$d/fixed.local.err" ||
    fail "a fixed disk was compacted in-process"
! "$VHDCTL" compact --bus --no-progress "$d/fixed.vhd" 2>"$d/fixed.bus.err" ||
    fail "a fixed disk was compacted through the daemon"
one_line "$d/fixed.bus.err" "fixed disk over the bus"
cmp -s "$d/fixed.local.err" "$d/fixed.bus.err" ||
    { cat "$d/fixed.local.err" "$d/fixed.bus.err" >&2; fail "the refusal differs over the bus"; }

echo "== an unprivileged user: CompactFd for its own file"
make_test_user
make_disk "$test_home/u.vhd"
chown "$test_uid:$test_gid" "$test_home/u.vhd"
as_user "$VHDCTL" compact --bus --no-progress "$test_home/u.vhd" > "$d/u.out" 2>"$d/u.err" ||
    { cat "$d/u.err" >&2; fail "the user could not compact its own file"; }
[[ $(file_size "$test_home/u.vhd") = "$predicted" ]] ||
    fail "u.vhd is $(file_size "$test_home/u.vhd") bytes, expected $predicted"
job_states | grep -q " done $test_home/u.vhd\$" || { job_states >&2; fail "no daemon job for u.vhd"; }
# Started through CompactFd by the user: the job is the user's.
[[ $(job_field owner path "$test_home/u.vhd") = "$test_uid" ]] ||
    { "$VHDCTL" jobs --json >&2; fail "u.vhd: the job's owner is not uid $test_uid"; }
# A file the user may read but not write: refused, untouched.
make_disk "$test_home/root.vhd"
chmod 0644 "$test_home/root.vhd"
sha=$(file_sha "$test_home/root.vhd")
! as_user "$VHDCTL" compact --bus --no-progress "$test_home/root.vhd" 2>"$d/ro.err" ||
    fail "the user compacted root's file"
one_line "$d/ro.err" "root's file"
grep -q "^vhdctl: '$test_home/root.vhd': access-denied: " "$d/ro.err" ||
    { cat "$d/ro.err" >&2; fail "root's file: not refused as access-denied"; }
[[ $(file_sha "$test_home/root.vhd") = "$sha" ]] || fail "root's file changed"

echo "== --no-wait, vhdctl jobs"
make_disk "$d/c.vhd"
job=$("$VHDCTL" compact --no-wait "$d/c.vhd")
[[ $job =~ ^/org/vhd/Compact/job/[0-9]+$ ]] || fail "--no-wait printed '$job', not a job path"
"$VHDCTL" jobs | grep -q "^$job .* $d/c.vhd\$" || { "$VHDCTL" jobs >&2; fail "vhdctl jobs does not list $job"; }
job_states | grep -q "^$job [a-z]* $d/c.vhd\$" || fail "vhdctl jobs --json does not list $job"
[[ $(job_field owner-name object "$job") = root ]] || fail "vhdctl jobs --json: $job is not root's"
wait_job_state "$job" done
[[ $(file_size "$d/c.vhd") = "$predicted" ]] || fail "c.vhd: the --no-wait job did not finish the work"

echo "== cancel and Ctrl-C (worker held at the move phase)"
stop_daemon
start_daemon VHDCOMPACT_TEST_WORKER_HOLD=moving
make_disk "$d/e.vhd"
cp -- "$d/e.vhd" "$d/e.orig"
job=$("$VHDCTL" compact --no-wait "$d/e.vhd")
wait_job_state "$job" moving
"$VHDCTL" cancel "${job##*/}" || fail "vhdctl cancel ${job##*/} failed"
wait_job_state "$job" cancelled
[[ $(job_field error-name object "$job") = org.vhd.Compact.Error.Cancelled ]] ||
    { "$VHDCTL" jobs --json >&2; fail "$job: ErrorName is not Cancelled"; }
"$VHDCTL" check "$d/e.vhd" >/dev/null || fail "e.vhd: check after cancel"
same_guest "$d/e.orig" "$d/e.vhd" || fail "e.vhd: the guest content changed after cancel"
! "$VHDCTL" cancel /org/vhd/Compact/job/999999 2>"$d/nojob.err" || fail "cancel of an unknown job succeeded"
one_line "$d/nojob.err" "cancel of an unknown job"
rc=0
"$VHDCTL" cancel not-a-job 2>/dev/null || rc=$?
[[ $rc = 2 ]] || fail "cancel not-a-job: exit $rc, expected 2 (usage)"

make_disk "$d/f.vhd"
cp -- "$d/f.vhd" "$d/f.orig"
"$VHDCTL" compact --no-progress "$d/f.vhd" >"$d/f.out" 2>"$d/f.err" &
pid=$!
for ((i = 0; i < 400; i++)); do
    fjob=$(job_states | awk -v p="$d/f.vhd" '$3 == p && $2 == "moving" { print $1 }')
    [[ -n $fjob ]] && break
    kill -0 "$pid" 2>/dev/null || { cat "$d/f.err" >&2; fail "vhdctl exited before its job moved"; }
    sleep 0.05
done
[[ -n $fjob ]] || fail "the job of f.vhd never reached the move phase"
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
[[ $rc = 1 ]] || { cat "$d/f.err" >&2; fail "vhdctl after SIGINT: exit $rc, expected 1"; }
one_line "$d/f.err" "SIGINT"
grep -q "^vhdctl: '$d/f.vhd': cancelled: " "$d/f.err" || { cat "$d/f.err" >&2; fail "SIGINT: not a cancelled line"; }
[[ ! -s $d/f.out ]] || fail "SIGINT: a summary was printed"
wait_job_state "$fjob" cancelled
"$VHDCTL" check "$d/f.vhd" >/dev/null || fail "f.vhd: check after SIGINT"
same_guest "$d/f.orig" "$d/f.vhd" || fail "f.vhd: the guest content changed after SIGINT"

echo "== forged job signals from another user are ignored"
stop_daemon
# The worker runs as an unprivileged user: the pause flag lives where it
# may create it.
mkdir -m 1777 "$d/flags"
start_daemon VHDCOMPACT_TEST_MOVE_PAUSE="$d/flags/pause"
make_disk "$d/k.vhd"
cp -- "$d/k.vhd" "$d/k.orig"
"$VHDCTL" compact --no-progress "$d/k.vhd" >"$d/k.out" 2>"$d/k.err" &
pid=$!
for ((i = 0; i < 400; i++)); do
    [[ -e $d/flags/pause ]] && break
    kill -0 "$pid" 2>/dev/null || { cat "$d/k.err" >&2; fail "vhdctl exited before its job paused"; }
    sleep 0.05
done
[[ -e $d/flags/pause ]] || fail "the job of k.vhd never paused"
kjob=$(job_states | awk -v p="$d/k.vhd" '$3 == p { print $1 }')
[[ -n $kjob ]] || fail "no job for k.vhd"
py=$(_bus_python)
# The forger: vhdctl's connection found by its pid, then signals sent to it
# alone, as if from the daemon.
sent=$(AS_USER_PRELOAD=0 as_user "$py" -c '
import dbus, dbus.lowlevel, sys
pid, job = int(sys.argv[1]), sys.argv[2]
bus = dbus.SystemBus()
drv = dbus.Interface(bus.get_object("org.freedesktop.DBus", "/org/freedesktop/DBus"), "org.freedesktop.DBus")
daemon = drv.GetNameOwner("org.vhd.Compact")
targets = []
for n in drv.ListNames():
    if n.startswith(":"):
        try:
            if drv.GetConnectionUnixProcessID(n) == pid:
                targets.append(n)
        except dbus.DBusException:
            pass
def send(dest, path, iface, member, *args):
    m = dbus.lowlevel.SignalMessage(path, iface, member)
    m.set_destination(dest)
    m.append(*args)
    bus.send_message(m)
for t in targets:
    send(t, job, "org.freedesktop.DBus.Properties", "PropertiesChanged", "org.vhd.Compact.Job",
         dbus.Dictionary({"State": dbus.String("done", variant_level=1),
                          "Progress": dbus.Double(1.0, variant_level=1),
                          "SizeAfter": dbus.UInt64(4096, variant_level=1)}, signature="sv"),
         dbus.Array([], signature="s"))
    send(t, job, "org.vhd.Compact.Job", "Completed", dbus.Boolean(True), "forged: all done")
    send(t, "/org/freedesktop/DBus", "org.freedesktop.DBus", "NameOwnerChanged",
         "org.vhd.Compact", daemon, "")
bus.flush()
print(len(targets))
' "$pid" "$kjob") || fail "the forger failed"
[[ $sent = 1 ]] || fail "the forger found $sent connections of vhdctl (pid $pid), expected 1"
# Past the client's grace for a final State without Completed (3 s): a
# vhdctl that believed any of it would have ended by now.
sleep 4
kill -0 "$pid" 2>/dev/null || { cat "$d/k.out" "$d/k.err" >&2; fail "vhdctl believed forged signals and exited"; }
[[ ! -s $d/k.out ]] || { cat "$d/k.out" >&2; fail "vhdctl printed a summary for a job still paused"; }
rm -- "$d/flags/pause"
rc=0
wait "$pid" || rc=$?
[[ $rc = 0 ]] || { cat "$d/k.err" >&2; fail "k.vhd: exit $rc after the job was let go"; }
[[ $(file_size "$d/k.vhd") = "$predicted" ]] || fail "k.vhd is $(file_size "$d/k.vhd") bytes, expected $predicted"
grep -Eq "^$d/k.vhd: [0-9]+ -> $predicted bytes; " "$d/k.out" ||
    { cat "$d/k.out" >&2; fail "k.vhd: the summary is not the real result"; }
same_guest "$d/k.orig" "$d/k.vhd" || fail "k.vhd: the guest content changed"
stop_daemon
start_daemon

echo "== --bus without a daemon, --local without a bus"
stop_daemon
make_disk "$d/g.vhd"
sha=$(file_sha "$d/g.vhd")
! "$VHDCTL" compact --bus "$d/g.vhd" 2>"$d/g.err" || fail "--bus succeeded with no daemon"
one_line "$d/g.err" "--bus with no daemon"
grep -q "org.vhd.Compact is not on the system bus" "$d/g.err" || { cat "$d/g.err" >&2; fail "--bus: unclear line"; }
! DBUS_SYSTEM_BUS_ADDRESS=unix:path=$d/no-such-socket "$VHDCTL" compact --bus "$d/g.vhd" 2>"$d/g2.err" ||
    fail "--bus succeeded with no bus"
one_line "$d/g2.err" "--bus with no bus"
grep -q "cannot connect to the system bus" "$d/g2.err" || { cat "$d/g2.err" >&2; fail "--bus: unclear line"; }
[[ $(file_sha "$d/g.vhd") = "$sha" ]] || fail "--bus without a daemon changed the file"
# The bus is up but the name is not on it: in-process.
vhdctl_attaching compact --no-progress "$d/g.vhd" >/dev/null || fail "no daemon: the in-process fallback failed"
[[ $(file_size "$d/g.vhd") = "$predicted" ]] || fail "g.vhd: in-process fallback result"

# --local: a socket that only listens, and records whether anyone came.
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(8)
open(sys.argv[2], "w").close()
s.settimeout(60)
try:
    c, _ = s.accept()
    open(sys.argv[2], "a").write("connected\n")
except socket.timeout:
    pass
' "$d/spy.sock" "$d/spy.log" &
spy=$!
cleanup_fn _bus_stop_pid "$spy" spy
for ((i = 0; i < 200; i++)); do [[ -e $d/spy.log ]] && break; sleep 0.05; done
[[ -S $d/spy.sock ]] || fail "the listening socket did not come up"
make_disk "$d/h.vhd"
DBUS_SYSTEM_BUS_ADDRESS=unix:path=$d/spy.sock vhdctl_attaching compact --local --no-progress "$d/h.vhd" \
    >/dev/null || fail "--local failed"
[[ $(file_size "$d/h.vhd") = "$predicted" ]] || fail "h.vhd: --local result"
[[ ! -s $d/spy.log ]] || fail "--local connected to DBUS_SYSTEM_BUS_ADDRESS"
# ... whereas without --local vhdctl does try the bus (so the check above
# would have seen it): the socket sees it, closes, and vhdctl goes
# in-process.
make_disk "$d/h2.vhd"
DBUS_SYSTEM_BUS_ADDRESS=unix:path=$d/spy.sock vhdctl_attaching compact --no-progress "$d/h2.vhd" \
    >/dev/null || fail "a bus that closes at once: the in-process fallback failed"
[[ $(file_size "$d/h2.vhd") = "$predicted" ]] || fail "h2.vhd: in-process fallback result"
grep -q connected "$d/spy.log" || fail "without --local, vhdctl did not try DBUS_SYSTEM_BUS_ADDRESS"
# No bus at all: in-process too.
make_disk "$d/h3.vhd"
DBUS_SYSTEM_BUS_ADDRESS=unix:path=$d/no-such-socket vhdctl_attaching compact --no-progress "$d/h3.vhd" \
    >/dev/null || fail "no bus: the in-process fallback failed"
[[ $(file_size "$d/h3.vhd") = "$predicted" ]] || fail "h3.vhd: in-process fallback result"
echo "$testname: ok"
