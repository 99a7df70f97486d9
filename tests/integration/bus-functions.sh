# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# Helpers for the tests of the D-Bus service (vhd-compactd), sourced after
# functions.sh:
#
#     . "$(dirname "$0")/functions.sh"
#     . "$(dirname "$0")/bus-functions.sh"
#     make_tmpdir
#     start_test_bus          # private system bus; exports DBUS_SYSTEM_BUS_ADDRESS
#     make_test_user          # $test_user, $test_uid, $test_gid, $test_home
#     start_polkitd           # the real polkitd, granting org.vhd.compact to $test_user
#     as_user busctl --system call org.vhd.Compact ...
#     [[ $(polkit_check org.vhd.compact) = yes ]]
#
# Everything is torn down by cleanup_fn when the test exits: the bus, polkitd,
# the users (with their processes and home directories).  Nothing of the
# host's is changed: the host's system bus is never touched (the daemon under
# test honours DBUS_SYSTEM_BUS_ADDRESS, sd_bus_open_system), and polkitd sees
# the test's action and rules only inside its own mount namespace.
#
# The bus (start_test_bus) is a dbus-daemon of its own with a configuration
# like Debian's /usr/share/dbus-1/system.conf: type system, EXTERNAL
# authentication only, default policy "deny own, deny method calls, allow
# replies and signals", plus the policy of org.vhd.Compact: the project's
# dbus/org.vhd.Compact.conf, included as is, when it exists (in the source
# tree, or generated in the build tree), else an equivalent inline policy
# (root owns the name; anyone may call its interfaces); and the policy of
# org.freedesktop.PolicyKit1 (Debian's: user polkitd owns the name, anyone
# may call it).  No activation: tests start the daemon themselves.  It
# listens on $tmpdir/bus/socket (mode 0777, as dbus-daemon makes path
# sockets); the scratch directory is made traversable (0711) so that a test
# user can reach it.
#
# polkitd (start_polkitd) is the real one, /usr/lib/polkit-1/polkitd from the
# Debian package polkitd (override with $POLKITD).  Its directories are
# compiled in (/usr/share/polkit-1/actions, /etc/polkit-1/rules.d,
# /usr/share/polkit-1/rules.d) and it has no option to change them, so it is
# started as root under `unshare --mount --propagation private`, where the
# test's own directories are bind-mounted over those three paths (the
# mounts exist only in that namespace and go with the process); then it
# drops to user polkitd by itself, as under systemd (it must start as root:
# started as polkitd it fails with "Error clearing groups").  It finds its
# bus through DBUS_SYSTEM_BUS_ADDRESS (GIO).  The actions directory holds
# only org.vhd.Compact.policy (the project's dbus/org.vhd.Compact.policy when
# it exists, else a stand-in written here with the same action id); the rules
# directory holds one JavaScript rule returning YES for org.vhd.compact when
# subject.user is one of the granted users, and nothing for anyone else, so
# other callers get the action's own defaults (auth_admin for a user with
# no session: not authorized, a challenge).  Root is always authorized by
# polkit itself.  This needs root, unshare and mount in a private namespace
# (CAP_SYS_ADMIN; it works in this project's containers); without them the
# polkit parts skip.
#
# polkit_check asks polkitd the way the daemon does: the caller is root, the
# subject ("system-bus-name") is a live connection made by the user (a small
# python3-dbus client, Debian package python3-dbus, that prints its unique
# name and waits).
#
# Environment:
#   POLKITD      the polkitd binary (default /usr/lib/polkit-1/polkitd)
#   TOP_SRCDIR, TOP_BUILDDIR  set by tests/meson.build; where dbus/ files are
#                looked for (default: this file's ../..)

# From functions.sh: testname, srcdir, _tmpdir, skip, fail, requires, cleanup_fn.
# shellcheck disable=SC2154
# The test_* variables set here are for the tests.
# shellcheck disable=SC2034

_bus_srcroot=${TOP_SRCDIR:-$(cd "$srcdir/../.." && pwd)}

# _bus_project_file NAME: print the path of the project's dbus/NAME (source
# tree first, then the build tree), or nothing.
_bus_project_file ()
{
    local d
    for d in "$_bus_srcroot/dbus" ${TOP_BUILDDIR:+"$TOP_BUILDDIR/dbus"}; do
        if [[ -f $d/$1 ]]; then
            echo "$d/$1"
            return 0
        fi
    done
}

# _bus_stop_pid PID WHAT [LOG]: end a process this test started (TERM, then
# KILL after 5 s) and reap it; then a sanitizer's report in LOG, its stderr,
# fails the test (sanitizer_check).
_bus_stop_pid ()
{
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "$testname: $2 (pid $pid) ignored SIGTERM; killing it" >&2
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    [[ -z ${3:-} ]] || sanitizer_check "$3" "$2"
    return 0
}

# _bus_python: a python3 that has the dbus module (root's PATH may start
# with a python3 other users cannot run, so /usr/bin/python3 comes first).
_bus_python ()
{
    local p
    for p in /usr/bin/python3 "$(command -v python3 2>/dev/null)"; do
        if [[ -n $p && -x $p ]] && "$p" -c 'import dbus' 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    skip "python3 with the dbus module (Debian package python3-dbus) is required"
}

# bus_name_has_owner NAME: true when NAME is owned on the test bus.
bus_name_has_owner ()
{
    [[ $(busctl --system call org.freedesktop.DBus /org/freedesktop/DBus \
             org.freedesktop.DBus NameHasOwner s "$1" 2>/dev/null) = "b true" ]]
}

# wait_bus_name NAME [SECONDS [PID]]: wait until NAME is owned on the test
# bus (default 20 s); fail if it is not by then, or as soon as PID (the
# process that should take it) has exited.
wait_bus_name ()
{
    local name=$1 secs=${2:-20} pid=${3:-} i
    for ((i = 0; i < secs * 20; i++)); do
        bus_name_has_owner "$name" && return 0
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
            # What it said, when it is the daemon under test.
            [[ $name != org.vhd.Compact || ! -s ${tmpdir:-}/daemon.log ]] || tail -n 20 -- "$tmpdir/daemon.log" >&2
            fail "$name: the process that should own it (pid $pid) exited"
        fi
        sleep 0.05
    done
    fail "$name: not owned on the test bus after ${secs}s"
}

# _bus_inline_service_policy: the bus policy of org.vhd.Compact, used while
# the project has no dbus/org.vhd.Compact.conf.
_bus_inline_service_policy ()
{
    cat <<'EOF'
  <!-- Stand-in for dbus/org.vhd.Compact.conf (not found when the test ran). -->
  <policy user="root">
    <allow own="org.vhd.Compact"/>
    <allow send_destination="org.vhd.Compact"/>
  </policy>
  <policy context="default">
    <allow send_destination="org.vhd.Compact"
           send_interface="org.vhd.Compact.Manager"/>
    <allow send_destination="org.vhd.Compact"
           send_interface="org.vhd.Compact.Job"/>
    <allow send_destination="org.vhd.Compact"
           send_interface="org.freedesktop.DBus.ObjectManager"/>
    <allow send_destination="org.vhd.Compact"
           send_interface="org.freedesktop.DBus.Properties"/>
    <allow send_destination="org.vhd.Compact"
           send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.vhd.Compact"
           send_interface="org.freedesktop.DBus.Peer"/>
  </policy>
EOF
}

# bus_default_policy: the default policy of a system bus, as Debian's
# /usr/share/dbus-1/system.conf has it: deny owning and method calls,
# allow replies and signals, and the bus driver's own interfaces.
bus_default_policy ()
{
    cat <<'EOF'
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Properties"/>
    <deny send_destination="org.freedesktop.DBus"
          send_interface="org.freedesktop.DBus"
          send_member="UpdateActivationEnvironment"/>
  </policy>
EOF
}

# start_test_bus: start a private system bus for this test and export
# DBUS_SYSTEM_BUS_ADDRESS; sets $test_bus_dir (configuration and log),
# $test_bus_socket, $test_bus_pid and $test_bus_service_conf (the project's
# org.vhd.Compact.conf it included, empty for the inline stand-in).  Skips when dbus-daemon is missing.
start_test_bus ()
{
    requires dbus-daemon busctl
    local dir=$_tmpdir/bus sock service_conf
    mkdir -m 0755 "$dir"
    chmod 0711 "$_tmpdir"
    sock=$dir/socket
    if (( ${#sock} >= 100 )); then         # sun_path is 108 bytes
        dir=$(mktemp -d /tmp/vhdbus.XXXXXX)
        cleanup_fn rm -rf -- "$dir"
        chmod 0755 "$dir"
        sock=$dir/socket
    fi
    service_conf=$(_bus_project_file org.vhd.Compact.conf)
    {
        cat <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<!-- Written by tests/integration/bus-functions.sh for $testname: a private
     system bus shaped like Debian's /usr/share/dbus-1/system.conf. -->
<busconfig>
  <type>system</type>
  <auth>EXTERNAL</auth>
  <listen>unix:path=$sock</listen>
EOF
        bus_default_policy
        cat <<EOF
  <policy user="root">
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Monitoring"/>
  </policy>
  <!-- org.freedesktop.PolicyKit1, as Debian's polkitd package has it. -->
  <policy user="polkitd">
    <allow own="org.freedesktop.PolicyKit1"/>
  </policy>
  <policy context="default">
    <allow send_destination="org.freedesktop.PolicyKit1"/>
  </policy>
EOF
        if [[ -n $service_conf ]]; then
            echo "  <include>$service_conf</include>"
        else
            _bus_inline_service_policy
        fi
        echo "</busconfig>"
    } > "$dir/system.conf"
    test_bus_service_conf=$service_conf
    : > "$dir/address"
    # dbus-daemon is not ours: never preload the sanitizer runtime into it.
    env -u LD_PRELOAD dbus-daemon --config-file="$dir/system.conf" --nofork --nopidfile \
        --print-address=3 3>"$dir/address" 2>"$dir/dbus-daemon.log" &
    test_bus_pid=$!
    cleanup_fn _bus_stop_pid "$test_bus_pid" dbus-daemon
    local i
    for ((i = 0; i < 200; i++)); do
        [[ -s $dir/address ]] && break
        kill -0 "$test_bus_pid" 2>/dev/null ||
            { cat "$dir/dbus-daemon.log" >&2; fail "dbus-daemon exited at start"; }
        sleep 0.05
    done
    [[ -s $dir/address ]] || { cat "$dir/dbus-daemon.log" >&2; fail "dbus-daemon did not start in 10 s"; }
    DBUS_SYSTEM_BUS_ADDRESS=$(head -n 1 "$dir/address")
    export DBUS_SYSTEM_BUS_ADDRESS
    test_bus_dir=$dir test_bus_socket=$sock
    busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus GetId \
        >/dev/null || { cat "$dir/dbus-daemon.log" >&2; fail "the test bus does not answer"; }
    echo "$testname: test bus at $DBUS_SYSTEM_BUS_ADDRESS (service policy: ${service_conf:-inline stand-in})"
}

# _bus_remove_user NAME UID: end the user's processes, remove it, its
# group and its home.
_bus_remove_user ()
{
    local name=$1 uid=$2 pid
    # Only this test's throwaway user has this uid: its processes are ours.
    for pid in $(pgrep -U "$uid" 2>/dev/null); do
        kill -KILL "$pid" 2>/dev/null
    done
    userdel --force --remove "$name" 2>/dev/null ||
        userdel --force "$name" 2>/dev/null ||
        echo "$testname: could not remove user $name" >&2
    if getent group "$name" >/dev/null; then
        groupdel "$name" 2>/dev/null
    fi
    return 0
}

# make_test_user: create a throwaway unprivileged user (own group, home
# directory in the scratch directory), removed when the test exits.  Sets
# test_user, test_uid, test_gid, test_home; each call makes a new user and
# sets them anew.  Skips unless root with useradd and setpriv or runuser.
_test_user_n=0
make_test_user ()
{
    (( EUID == 0 )) || skip "creating a test user needs root"
    requires useradd userdel groupdel getent pgrep
    command -v setpriv >/dev/null 2>&1 || command -v runuser >/dev/null 2>&1 ||
        skip "setpriv or runuser is required to run commands as the test user"
    _test_user_n=$((_test_user_n + 1))
    local name=vhdt$$u$_test_user_n home err
    home=$_tmpdir/home-$name
    chmod 0711 "$_tmpdir"
    if ! err=$(useradd --create-home --home-dir "$home" --shell /bin/sh --user-group \
                   --comment "vhdcompact test $testname" "$name" 2>&1); then
        skip "useradd $name failed: $err"
    fi
    test_user=$name
    test_uid=$(id -u -- "$name")
    test_gid=$(id -g -- "$name")
    test_home=$home
    cleanup_fn _bus_remove_user "$name" "$test_uid"
    chmod 0700 "$home"
    (( test_uid != 0 )) || fail "useradd made $name with uid 0"
    # The scratch directory must be reachable by other users.
    AS_USER_PRELOAD=0 as_user test -w "$home" ||
        skip "the scratch directory $_tmpdir is not reachable by other users (set TEST_TMPDIR)"
}

# as_user [-u NAME] CMD [ARGS...]: run the program CMD (not a shell function)
# as the test user (or NAME), with its uid, gid and groups, HOME, USER and
# LOGNAME; the rest of the environment is kept, DBUS_SYSTEM_BUS_ADDRESS
# included.  In sanitizer builds LD_PRELOAD=$VHD_SANITIZER_PRELOAD is set for
# CMD, as the other tests do for programs that start instrumented ones
# (AS_USER_PRELOAD=0 leaves it out).  The working directory is kept: pass
# absolute paths.
as_user ()
{
    local u=${test_user:-}
    if [[ ${1:-} = -u ]]; then
        u=$2
        shift 2
    fi
    [[ -n $u ]] || fail "as_user: no user (call make_test_user first)"
    local gid home
    gid=$(id -g -- "$u") || fail "as_user: no user $u"
    home=$(getent passwd "$u" | cut -d: -f6)
    local -a envs=(HOME="$home" USER="$u" LOGNAME="$u")
    [[ -z ${DBUS_SYSTEM_BUS_ADDRESS:-} ]] || envs+=(DBUS_SYSTEM_BUS_ADDRESS="$DBUS_SYSTEM_BUS_ADDRESS")
    if [[ -n ${VHD_SANITIZER_PRELOAD:-} && ${AS_USER_PRELOAD:-1} = 1 ]]; then
        envs+=(LD_PRELOAD="$VHD_SANITIZER_PRELOAD")
    fi
    if command -v setpriv >/dev/null 2>&1; then
        setpriv --reuid="$u" --regid="$gid" --init-groups -- env "${envs[@]}" "$@"
    else
        runuser -u "$u" -- env "${envs[@]}" "$@"
    fi
}

# _bus_policy_stand_in: the action org.vhd.compact, used while the project
# has no dbus/org.vhd.Compact.policy.  The defaults are what the project
# intends: an administrator's authentication for anyone without a rule.
_bus_policy_stand_in ()
{
    cat <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE policyconfig PUBLIC "-//freedesktop//DTD PolicyKit Policy Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/PolicyKit/1/policyconfig.dtd">
<!-- Stand-in for dbus/org.vhd.Compact.policy (not found when the test ran),
     written by tests/integration/bus-functions.sh. -->
<policyconfig>
  <vendor>vhdcompact</vendor>
  <action id="org.vhd.compact">
    <description>Compact a VHD disk image</description>
    <message>Authentication is required to compact a VHD disk image</message>
    <defaults>
      <allow_any>auth_admin</allow_any>
      <allow_inactive>auth_admin</allow_inactive>
      <allow_active>auth_admin_keep</allow_active>
    </defaults>
  </action>
</policyconfig>
EOF
}

# start_polkitd [USER...]: start the real polkitd on the test bus, knowing
# the action org.vhd.compact and granting it to the USERs (default: the test
# user) by a rules file, and to nobody else.  Sets $polkitd_pid and
# $polkit_dir.  Skips when not root, when polkitd is not installed, or when
# no private mount namespace can be made.
start_polkitd ()
{
    (( EUID == 0 )) || skip "polkitd needs root"
    [[ -n ${test_bus_dir:-} ]] || fail "start_polkitd: call start_test_bus first"
    local polkitd=${POLKITD:-/usr/lib/polkit-1/polkitd} u
    [[ -x $polkitd ]] || skip "polkitd ($polkitd) is not installed (Debian package polkitd)"
    requires unshare mount busctl
    getent passwd polkitd >/dev/null ||
        skip "there is no user polkitd (polkitd switches to it; Debian's package creates it)"
    [[ -d /usr/share/polkit-1/actions && -d /etc/polkit-1/rules.d ]] ||
        skip "polkitd's directories /usr/share/polkit-1/actions and /etc/polkit-1/rules.d are missing"
    unshare --mount --propagation private true 2>/dev/null ||
        skip "cannot make a private mount namespace here (unshare --mount)"
    (( $# )) || set -- "${test_user:?start_polkitd: no user to grant (call make_test_user first)}"

    polkit_dir=$_tmpdir/polkit
    mkdir -m 0755 "$polkit_dir" "$polkit_dir/actions" "$polkit_dir/rules.d" "$polkit_dir/empty"
    local policy
    policy=$(_bus_project_file org.vhd.Compact.policy)
    if [[ -n $policy ]]; then
        cp -- "$policy" "$polkit_dir/actions/org.vhd.Compact.policy"
    else
        _bus_policy_stand_in > "$polkit_dir/actions/org.vhd.Compact.policy"
    fi
    grep -q 'id="org.vhd.compact"' "$polkit_dir/actions/org.vhd.Compact.policy" ||
        fail "${policy:-the stand-in policy} has no action org.vhd.compact"
    local users=""
    for u in "$@"; do
        [[ $u =~ ^[a-z_][a-z0-9_-]*$ ]] || fail "start_polkitd: odd user name '$u'"
        users+="${users:+, }\"$u\""
    done
    cat > "$polkit_dir/rules.d/50-vhdcompact-test.rules" <<EOF
// Written by tests/integration/bus-functions.sh for $testname:
// org.vhd.compact is granted to these users; nothing is said about others.
polkit.addRule(function(action, subject) {
    if (action.id == "org.vhd.compact" && [$users].indexOf(subject.user) >= 0)
        return polkit.Result.YES;
});
EOF
    chmod 0644 "$polkit_dir/actions/"* "$polkit_dir/rules.d/"*
    # shellcheck disable=SC2016  # expanded by the namespace's sh
    local -a mounts=(
        'mount --bind "$1" /usr/share/polkit-1/actions'
        'mount --bind "$2" /etc/polkit-1/rules.d'
    )
    if [[ -d /usr/share/polkit-1/rules.d ]]; then
        # shellcheck disable=SC2016
        mounts+=('mount --bind "$3" /usr/share/polkit-1/rules.d')
    fi
    local script
    script=$(printf '%s && ' "${mounts[@]}")
    # The sanitizer runtime is for our programs, not polkitd.
    env -u LD_PRELOAD unshare --mount --propagation private -- /bin/sh -c "$script exec \"\$4\"" sh \
        "$polkit_dir/actions" "$polkit_dir/rules.d" "$polkit_dir/empty" "$polkitd" \
        >"$polkit_dir/polkitd.log" 2>&1 &
    polkitd_pid=$!
    cleanup_fn _bus_stop_pid "$polkitd_pid" polkitd
    local i
    for ((i = 0; i < 400; i++)); do
        bus_name_has_owner org.freedesktop.PolicyKit1 && break
        kill -0 "$polkitd_pid" 2>/dev/null ||
            { cat "$polkit_dir/polkitd.log" >&2; fail "polkitd exited at start"; }
        sleep 0.05
    done
    bus_name_has_owner org.freedesktop.PolicyKit1 ||
        { cat "$polkit_dir/polkitd.log" >&2; fail "polkitd did not take its name in 20 s"; }
    busctl --system call org.freedesktop.PolicyKit1 /org/freedesktop/PolicyKit1/Authority \
        org.freedesktop.PolicyKit1.Authority EnumerateActions s "" 2>&1 |
        grep -q '"org.vhd.compact"' ||
        { cat "$polkit_dir/polkitd.log" >&2; fail "polkitd does not know the action org.vhd.compact"; }
    # polkitd was started as root in the namespace; it must have dropped to polkitd.
    [[ $(awk '/^Uid:/ { print $2 }' "/proc/$polkitd_pid/status") = $(id -u polkitd) ]] ||
        fail "polkitd runs as uid $(awk '/^Uid:/ { print $2 }' "/proc/$polkitd_pid/status"), not polkitd"
    grep -q 'Finished loading, compiling and executing 1 rules' "$polkit_dir/polkitd.log" ||
        { cat "$polkit_dir/polkitd.log" >&2; fail "polkitd did not load exactly the test's rules file"; }
    echo "$testname: polkitd (pid $polkitd_pid) grants org.vhd.compact to $*" \
         "(action: ${policy:-stand-in policy})"
}

# polkit_check [-u USER] ACTION: ask polkitd, as root and without user
# interaction, whether a connection that USER (default: the test user) made
# to the test bus may do ACTION; print "yes", "challenge" (not without
# authentication) or "no".
_polkit_n=0
polkit_check ()
{
    local u=${test_user:-}
    if [[ ${1:-} = -u ]]; then
        u=$2
        shift 2
    fi
    local action=$1 py fifo out pid name i reply
    py=$(_bus_python)
    # Often called as $(polkit_check ...): the counter alone is not unique.
    _polkit_n=$((_polkit_n + 1))
    fifo=$_tmpdir/polkit-check-$BASHPID-$_polkit_n.fifo
    out=$_tmpdir/polkit-check-$BASHPID-$_polkit_n.name
    mkfifo -m 0666 "$fifo"
    : > "$out"
    # The subject: the user's connection, alive until we close the fifo.
    AS_USER_PRELOAD=0 as_user -u "$u" "$py" -c '
import dbus, sys
bus = dbus.SystemBus()
print(bus.get_unique_name(), flush=True)
sys.stdin.read()
' <"$fifo" >"$out" &
    pid=$!
    exec {_polkit_fd}>"$fifo"
    for ((i = 0; i < 200; i++)); do
        [[ -s $out ]] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    name=$(head -n 1 "$out")
    if [[ $name != :* ]]; then
        exec {_polkit_fd}>&-
        wait "$pid"
        fail "polkit_check: the client of $u did not connect to the test bus"
    fi
    reply=$(busctl --system call org.freedesktop.PolicyKit1 /org/freedesktop/PolicyKit1/Authority \
                org.freedesktop.PolicyKit1.Authority CheckAuthorization '(sa{sv})sa{ss}us' \
                system-bus-name 1 name s "$name" "$action" 0 0 '' 2>&1) || true
    exec {_polkit_fd}>&-
    wait "$pid" || true
    rm -f -- "$fifo" "$out"
    case $reply in
    "(bba{ss}) true "*) echo yes ;;
    "(bba{ss}) false true "*) echo challenge ;;
    "(bba{ss}) false false "*) echo no ;;
    *) fail "polkit_check: CheckAuthorization for $u ($name): $reply" ;;
    esac
}

# --- the daemon under test ---

# start_daemon [VAR=VALUE...] [-- DAEMON-ARGS...]: vhd-compactd ($VHD_COMPACTD,
# worker $VHD_WORKER unless VAR=VALUE sets VHDCOMPACT_WORKER) on the test bus, with VAR=VALUE in its environment
# (the worker inherits them: test hooks), --idle-timeout 0 unless
# DAEMON-ARGS say otherwise; its stderr goes to $tmpdir/daemon.log; its pid
# is $daemon_pid.  Stopped (SIGTERM) at exit, when a sanitizer's report in
# the log fails the test.
start_daemon ()
{
    local -a envs=()
    while (( $# )) && [[ $1 != -- ]]; do envs+=("$1"); shift; done
    [[ ${1:-} != -- ]] || shift
    # The caller's settings last: with env, the last of a name wins.
    env VHDCOMPACT_WORKER="$VHD_WORKER" "${envs[@]}" "$VHD_COMPACTD" --idle-timeout 0 "$@" \
        2>>"$tmpdir/daemon.log" &
    daemon_pid=$!
    cleanup_fn _bus_stop_pid "$daemon_pid" vhd-compactd "$tmpdir/daemon.log"
    wait_bus_name org.vhd.Compact 20 "$daemon_pid"
}

# show_daemon_log_on_failure: for cleanup_fn, after start_daemon: when the
# test fails, the daemon's log ($status: the exit status, in
# _run_cleanups).
show_daemon_log_on_failure ()
{
    [[ ${status:-0} = 0 || ${status:-0} = 77 ]] ||
        { echo "--- daemon log:" >&2; cat "$tmpdir/daemon.log" >&2 || true; }
    return 0
}

# stop_daemon: SIGTERM, and wait until the name is free.
stop_daemon ()
{
    _bus_stop_pid "$daemon_pid" vhd-compactd "$tmpdir/daemon.log"
    local i
    for ((i = 0; i < 100; i++)); do
        bus_name_has_owner org.vhd.Compact || return 0
        sleep 0.05
    done
    fail "org.vhd.Compact still owned after the daemon was stopped"
}

# job_prop JOB NAME: one property of a job, as busctl prints its value.
job_prop ()
{
    busctl --system get-property org.vhd.Compact "$1" org.vhd.Compact.Job "$2" | cut -d' ' -f2-
}

# wait_job JOB [SECONDS]: wait until the job has ended; print its State.
wait_job ()
{
    local job=$1 secs=${2:-60} i state
    for ((i = 0; i < secs * 10; i++)); do
        state=$(job_prop "$job" State)
        case $state in
        '"done"' | '"failed"' | '"cancelled"') echo "${state//\"/}"; return 0 ;;
        esac
        sleep 0.1
    done
    fail "$job: still '$state' after ${secs}s"
}
