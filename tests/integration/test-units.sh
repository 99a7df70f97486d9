#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The service files as installed: `meson install --destdir` of this build
# tree into the scratch directory, then every file is checked by the tool
# that will read it on a real machine.
#
#   systemd units   systemd-analyze verify --root=DESTDIR (the ExecStart
#                   binaries must exist there, unknown keys are errors here),
#                   the template instantiated for escaped paths (%f must give
#                   back the path, spaces included, as one argument), the
#                   timer triggering its instance, and the sandbox as
#                   systemd-analyze security evaluates it: the settings we
#                   promise are on, the ones that would keep the daemon
#                   from disks in /home, /tmp or /srv are off, and the
#                   capabilities are within the set we allow ourselves.
#   bus policy      a private dbus-daemon shaped like the system bus, with
#                   the installed org.vhd.Compact.conf: root may own the
#                   name, user nobody may not; nobody may call every
#                   interface the daemon serves, but not others (a stand-in,
#                   tests/tools/bus-owner, owns the name: the policy is
#                   tested without the daemon); both activation files name
#                   the installed daemon and the bus accepts them
#                   (ListActivatableNames).
#   polkit action   the installed .policy is valid against polkit's DTD and
#                   declares org.vhd.compact with the intended defaults.
#
# Root is needed for the bus part (owning the name as root, calling as
# nobody); without it the rest runs and the test reports a skip.
set -euo pipefail
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/bus-functions.sh"
requires systemd-analyze systemd-escape xmllint
requires_env BUS_OWNER
make_tmpdir

meson=${MESON:-meson}
command -v "$meson" >/dev/null 2>&1 || skip "meson ($meson) is required to install into a DESTDIR"
[[ -n ${TOP_BUILDDIR:-} && -f $TOP_BUILDDIR/build.ninja ]] ||
    skip "\$TOP_BUILDDIR is not a build tree (run the test through meson test)"

root=$tmpdir/root
echo "== meson install --destdir $root"
# --no-rebuild: meson test has built everything, and we run inside it.
"$meson" install -C "$TOP_BUILDDIR" --no-rebuild --quiet --destdir "$root" >"$tmpdir/install.log" 2>&1 ||
    { cat "$tmpdir/install.log" >&2; fail "meson install --destdir failed"; }

# installed GLOB: the one installed file matching GLOB (a path below the
# DESTDIR, e.g. '*/dbus-1/system.d/org.vhd.Compact.conf').
installed ()
{
    local -a found
    mapfile -t found < <(find "$root" -path "$root/$1" \( -type f -o -type l \))
    (( ${#found[@]} == 1 )) || fail "expected one installed file $1, found ${#found[@]}: ${found[*]}"
    echo "${found[0]}"
}

unit_daemon=$(installed '*/systemd/system/vhd-compactd.service')
unitdir=$(dirname "$unit_daemon")
unit_template=$unitdir/vhd-compact@.service
timer_template=$unitdir/vhd-compact@.timer
dir_template=$unitdir/vhd-compact-dir@.service
dir_timer_template=$unitdir/vhd-compact-dir@.timer
for f in "$unit_template" "$timer_template" "$dir_template" "$dir_timer_template"; do
    [[ -f $f ]] || fail "${f##*/} is not beside $unit_daemon"
done
bus_conf=$(installed '*/dbus-1/system.d/org.vhd.Compact.conf')
system_service=$(installed '*/dbus-1/system-services/org.vhd.Compact.service')
session_service=$(installed '*/dbus-1/services/org.vhd.Compact.service')
interface_xml=$(installed '*/dbus-1/interfaces/org.vhd.Compact.xml')
polkit_policy=$(installed '*/polkit-1/actions/org.vhd.Compact.policy')
for f in "$bus_conf" "$interface_xml" "$polkit_policy"; do
    cmp -s "$TOP_SRCDIR/dbus/${f##*/}" "$f" || fail "installed ${f#"$root"} differs from dbus/${f##*/}"
done
echo "units in ${unitdir#"$root"}"

# ---------------------------------------------------------------------------
echo "== systemd-analyze verify"
# verify --root resolves ExecStart= inside the DESTDIR, and it also looks
# for the units ours depend on (sysinit.target, dbus.socket...) there: give
# it the host's (never overwriting ours).
for d in /usr/lib/systemd/system /lib/systemd/system; do
    [[ -d $d && ! -e $root$d ]] || continue
    mkdir -p "$root$d"
    cp -a --no-clobber "$d/." "$root$d/"
done

disk1=/srv/vm/disk.vhd
disk2="/home/some user/VMs/win 10-x ü.vhd"
inst1=$(systemd-escape --path --template=vhd-compact@.service "$disk1")
inst2=$(systemd-escape --path --template=vhd-compact@.service "$disk2")
[[ $inst1 = vhd-compact@srv-vm-disk.vhd.service ]] || fail "systemd-escape gave $inst1"
for i in "$inst1" "$inst2"; do
    name=${i#vhd-compact@}
    name=${name%.service}
    [[ $(systemd-escape -u --path "$name") = "$disk1" || $(systemd-escape -u --path "$name") = "$disk2" ]] ||
        fail "$name does not unescape to one of the disks"
done
folder1=/srv/profiles
folder2="/home/some user/VMs ü"
dinst1=$(systemd-escape --path --template=vhd-compact-dir@.service "$folder1")
dinst2=$(systemd-escape --path --template=vhd-compact-dir@.service "$folder2")
units=("$unit_daemon" "$unit_template" "$timer_template" "$dir_template" "$dir_timer_template"
       "$unitdir/$inst1" "$unitdir/${inst1%.service}.timer"
       "$unitdir/$inst2" "$unitdir/${inst2%.service}.timer"
       "$unitdir/$dinst1" "$unitdir/${dinst1%.service}.timer"
       "$unitdir/$dinst2" "$unitdir/${dinst2%.service}.timer")

# verify SYSTEMD-ANALYZE-ARGS...: systemd-analyze verify succeeds and says
# nothing (it only warns about unknown keys, bad values and the like).
verify ()
{
    local out rc=0
    out=$(SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no --root="$root" "$@" 2>&1) || rc=$?
    if (( rc != 0 )) || [[ -n $out ]]; then
        echo "$out" >&2
        fail "systemd-analyze verify ${*##*/}: exit $rc${out:+, with the messages above}"
    fi
}
for u in "${units[@]}"; do
    verify "$u"
    echo "verified ${u#"$unitdir/"}"
done

# dump_file UNIT: a file holding the unit as systemd loaded it (specifiers
# expanded), which verify prints at debug level: one "Key: value" a line,
# for UNIT alone.  (Files, not pipes: grep -q would end a pipe early, and
# pipefail would count that as a failure.)
_dumps=0
declare -A _dump_files=()
dump_file ()
{
    local f=${_dump_files[$1]:-}
    if [[ -z $f ]]; then
        _dumps=$((_dumps + 1))
        f=$tmpdir/dump.$_dumps
        # (The name through ENVIRON: awk -v would expand the \x escapes in it.)
        SYSTEMD_LOG_LEVEL=debug systemd-analyze verify --man=no --root="$root" "$unitdir/$1" 2>/dev/null |
            UNIT=$1 awk '/^\t-> Unit / { on = ($3 == ENVIRON["UNIT"] ":") } on' |
            sed 's/^\t*//' >"$f"
        [[ -s $f ]] || fail "systemd-analyze verify printed no dump of $1"
        _dump_files[$1]=$f
    fi
    echo "$f"
}
# dump_has UNIT LINE: the dump of UNIT has this line.
dump_has ()
{
    grep -Fqx -- "$2" "$(dump_file "$1")"
}
# dump_value UNIT KEY: the value of KEY in the dump of UNIT.
dump_value ()
{
    sed -n "s/^$2: //p" "$(dump_file "$1")"
}

# check_template TEMPLATE TIMER ARGS PATH...: the template's ExecStart is
# `vhdctl ARGS %f`, and its instance for each PATH runs vhdctl with PATH
# as one argument, oneshot, naming it, requiring its mounts, its timer
# triggering it weekly, persistently, with a random delay.
check_template ()
{
    local template=$1 timer=$2 args=$3 execstart vhdctl_path p i quoted cmdline t tname
    shift 3
    tname=${template##*/}
    execstart=$(sed -n 's/^ExecStart=//p' "$template")
    [[ $execstart = *" $args %f" ]] || fail "$tname: ExecStart=$execstart"
    vhdctl_path=${execstart%% *}
    [[ -x $root$vhdctl_path && ! -d $root$vhdctl_path ]] || fail "ExecStart's $vhdctl_path is not installed"
    [[ $(basename "$vhdctl_path") = vhdctl ]] || fail "ExecStart runs $vhdctl_path, not vhdctl"
    for p in "$@"; do
        i=$(systemd-escape --path --template="$tname" "$p")
        quoted=$p
        [[ $p != *' '* ]] || quoted="\"$p\""     # one argument: systemd quotes it
        cmdline=$(dump_value "$i" 'Command Line')
        [[ $cmdline = "${execstart% %f} $quoted" ]] ||
            fail "$i runs '$cmdline', expected '${execstart% %f} $quoted'"
        [[ $(dump_value "$i" Type) = oneshot ]] || fail "$i is not Type=oneshot"
        [[ $(dump_value "$i" Description) = *"$p"* ]] || fail "$i: Description does not name $p"
        dump_has "$i" "RequiresMountsFor: $p (origin-file)" ||
            fail "$i does not require the mounts for $p"
        t=${i%.service}.timer
        [[ $(dump_value "$t" Unit) = "$i" ]] || fail "$t triggers $(dump_value "$t" Unit), not $i"
        echo "$i: $cmdline"
    done
    t=$(systemd-escape --path --template="${timer##*/}" "$1")
    [[ $(dump_value "$t" Persistent) = yes ]] || fail "$t: not Persistent"
    [[ $(dump_value "$t" OnCalendar) = 'Mon *-*-* 00:00:00' ]] ||
        fail "$t: OnCalendar is '$(dump_value "$t" OnCalendar)', not weekly"
    grep -Eq '^RandomizedDelaySec=[1-9]' "$timer" || fail "${timer##*/} has no random delay"
    grep -Eq '^WantedBy=timers\.target$' "$timer" || fail "${timer##*/} is not WantedBy=timers.target"
}

echo "== the templates: %f is the unescaped path"
check_template "$unit_template" "$timer_template" "compact --wait --no-progress" "$disk1" "$disk2"
check_template "$dir_template" "$dir_timer_template" "compact --recursive --wait --no-progress" "$folder1" "$folder2"
# The folder's twin has the one-disk unit's sandbox, line for line.
diff <(sed -n '/^\[Service\]/,$p' "$unit_template" | grep -v '^ExecStart=') \
     <(sed -n '/^\[Service\]/,$p' "$dir_template" | grep -v '^ExecStart=') >&2 ||
    fail "vhd-compact-dir@.service's [Service] differs from vhd-compact@.service's beyond ExecStart"

echo "== the daemon's unit and its sandbox"
[[ $(dump_value vhd-compactd.service Type) = dbus ]] || fail "vhd-compactd.service is not Type=dbus"
[[ $(dump_value vhd-compactd.service BusName) = org.vhd.Compact ]] || fail "vhd-compactd.service: BusName"
daemon_path=$(dump_value vhd-compactd.service 'Command Line')
[[ $(basename "$daemon_path") = vhd-compactd && -x $root$daemon_path ]] ||
    fail "vhd-compactd.service runs '$daemon_path', which is not the installed vhd-compactd"
# The daemon must reach disks wherever users keep them.
for kv in 'ProtectHome: no' 'PrivateTmp: no' 'PrivateUsers: no' 'DynamicUser: no'; do
    dump_has vhd-compactd.service "$kv" || fail "vhd-compactd.service: not '$kv'"
done
[[ $(dump_value vhd-compactd.service ProtectSystem) != strict ]] || fail "vhd-compactd.service: ProtectSystem=strict"
! grep -Eq '^(ReadOnlyPaths|InaccessiblePaths|TemporaryFileSystem|ReadWritePaths|User)=' "$unit_daemon" ||
    fail "vhd-compactd.service restricts paths or the user: $(grep -E '^(ReadOnlyPaths|InaccessiblePaths|TemporaryFileSystem|ReadWritePaths|User)=' "$unit_daemon")"
# Capabilities: some of these, and at least the ones to drop to other users.
allowed=" cap_dac_override cap_dac_read_search cap_fowner cap_setuid cap_setgid cap_kill cap_chown "
caps=$(dump_value vhd-compactd.service CapabilityBoundingSet)
for c in $caps; do
    [[ $allowed = *" $c "* ]] || fail "vhd-compactd.service keeps $c (allowed:$allowed)"
done
for c in cap_setuid cap_setgid cap_dac_override; do
    [[ " $caps " = *" $c "* ]] || fail "vhd-compactd.service lacks $c, which the daemon needs"
done
echo "capabilities: $caps"
# Every other promise, as systemd-analyze security sees it: each of these
# must count as hardened.
hardened=(
    NoNewPrivileges= AmbientCapabilities= PrivateNetwork= PrivateDevices= PrivateMounts=
    'RestrictAddressFamilies=~AF_(INET|INET6)' 'RestrictAddressFamilies=~AF_NETLINK'
    'RestrictAddressFamilies=~AF_PACKET' 'RestrictAddressFamilies=~…'
    ProtectKernelTunables= ProtectKernelModules= ProtectKernelLogs= ProtectControlGroups=
    ProtectClock= ProtectHostname= LockPersonality= MemoryDenyWriteExecute= RestrictRealtime=
    RestrictSUIDSGID= SystemCallArchitectures= UMask=
    RestrictNamespaces=~user RestrictNamespaces=~mnt RestrictNamespaces=~net
    SystemCallFilter=~@mount SystemCallFilter=~@module SystemCallFilter=~@raw-io
    SystemCallFilter=~@reboot SystemCallFilter=~@swap SystemCallFilter=~@debug
    SystemCallFilter=~@clock SystemCallFilter=~@obsolete SystemCallFilter=~@cpu-emulation
    'CapabilityBoundingSet=~CAP_SYS_ADMIN' 'CapabilityBoundingSet=~CAP_SYS_PTRACE'
    'CapabilityBoundingSet=~CAP_NET_ADMIN' 'CapabilityBoundingSet=~CAP_SYS_MODULE'
)
for u in vhd-compactd.service "$inst1" "$dinst1"; do
    security=$(systemd-analyze security --offline=yes --root="$root" --json=short "$unitdir/$u" 2>&1) ||
        { echo "$security" >&2; fail "systemd-analyze security $u failed"; }
    settings=$(grep -o '"set":[a-z]*,"name":"[^"]*"' <<<"$security")
    for h in "${hardened[@]}"; do
        grep -Fqx "\"set\":true,\"name\":\"$h\"" <<<"$settings" ||
            fail "$u: systemd-analyze security does not count $h as set"
    done
    # The overall score, so that what the list above does not name cannot
    # quietly regress either (2.2 when written; an unhardened unit is 9.6).
    systemd-analyze security --offline=yes --root="$root" --threshold=40 "$unitdir/$u" >"$tmpdir/security.txt" 2>&1 ||
        { cat "$tmpdir/security.txt" >&2; fail "$u: exposure above 4.0"; }
    echo "$u: $(tail -n 1 "$tmpdir/security.txt")"
done
grep -Fqx 'SystemCallFilter=@system-service' "$unit_daemon" ||
    fail "vhd-compactd.service: SystemCallFilter is not @system-service (which keeps io_uring)"
grep -q '^SystemCallFilter: .*\bio_uring_enter\b' "$(dump_file vhd-compactd.service)" ||
    fail "vhd-compactd.service: io_uring_enter is filtered out"
grep -Fqx 'RestrictAddressFamilies=AF_UNIX' "$unit_daemon" || fail "vhd-compactd.service: RestrictAddressFamilies"

# ---------------------------------------------------------------------------
echo "== the polkit action"
dtd=/usr/share/polkit-1/policyconfig-1.dtd
if [[ -f $dtd ]]; then
    xmllint --noout --dtdvalid "$dtd" "$polkit_policy" || fail "the .policy is not valid against $dtd"
else
    echo "($dtd not installed: checking well-formedness only)"
    xmllint --noout "$polkit_policy" || fail "the .policy is not well-formed XML"
fi
xpath ()
{
    xmllint --xpath "$1" "$polkit_policy"
}
[[ $(xpath 'count(/policyconfig/action)') = 1 ]] || fail "the .policy should declare one action"
action='/policyconfig/action[@id="org.vhd.compact"]'
[[ $(xpath "count($action)") = 1 ]] || fail "no action org.vhd.compact"
[[ $(xpath "string($action/defaults/allow_any)") = auth_admin ]] || fail "allow_any is not auth_admin"
[[ $(xpath "string($action/defaults/allow_inactive)") = auth_admin ]] || fail "allow_inactive is not auth_admin"
[[ $(xpath "string($action/defaults/allow_active)") = auth_admin_keep ]] || fail "allow_active is not auth_admin_keep"
[[ $(xpath "string($action/description[not(@xml:lang)])") = 'Compact a virtual disk file' ]] ||
    fail "the action's description is '$(xpath "string($action/description)")'"
[[ $(xpath "string($action/message[not(@xml:lang)])") = *'in place'* ]] ||
    fail "the action's message does not say the file is rewritten in place"
echo "org.vhd.compact: auth_admin / auth_admin / auth_admin_keep"

# ---------------------------------------------------------------------------
echo "== activation files"
# service_value FILE KEY
service_value ()
{
    sed -n "s/^$2=//p" "$1"
}
for f in "$system_service" "$session_service"; do
    [[ $(grep -v -e '^#' -e '^$' "$f" | sed -n 1p) = '[D-BUS Service]' ]] ||
        fail "${f#"$root"} does not start with a [D-BUS Service] section"
done
[[ $(service_value "$system_service" Name) = org.vhd.Compact ]] || fail "system activation: Name="
[[ $(service_value "$system_service" User) = root ]] || fail "system activation: User="
[[ $(service_value "$system_service" Exec) = "$daemon_path" ]] ||
    fail "system activation: Exec=$(service_value "$system_service" Exec), not the unit's $daemon_path"
[[ $(service_value "$system_service" SystemdService) = vhd-compactd.service ]] ||
    fail "system activation: SystemdService="
[[ $(service_value "$session_service" Name) = org.vhd.Compact ]] || fail "session activation: Name="
[[ $(service_value "$session_service" Exec) = "$daemon_path --user" ]] ||
    fail "session activation: Exec=$(service_value "$session_service" Exec)"

# ---------------------------------------------------------------------------
(( EUID == 0 )) || skip "everything but the bus policy passed; that part needs root"
requires dbus-daemon busctl setpriv
echo "== the bus policy, on a private system bus"
chmod 0711 "$tmpdir"
busdir=$tmpdir/bus
mkdir -m 0755 "$busdir"
if (( ${#busdir} > 90 )); then          # sun_path is 108 bytes
    busdir=$(mktemp -d /tmp/vhdunits.XXXXXX)
    cleanup_fn rm -rf -- "$busdir"
    chmod 0755 "$busdir"
fi

# stop_pid PID: end a process this test started, and reap it.
stop_pid ()
{
    kill "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    return 0
}

# start_bus TYPE SERVICEDIR POLICY-XML: a dbus-daemon of this test; sets
# $bus_address.  TYPE system gets the system bus's default policy (from
# Debian's /usr/share/dbus-1/system.conf) plus POLICY-XML.
start_bus ()
{
    local type=$1 servicedir=$2 policy=$3 conf=$busdir/$1.conf pid i
    {
        cat <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>$type</type>
  <auth>EXTERNAL</auth>
  <listen>unix:path=$busdir/$type.socket</listen>
  <servicedir>$servicedir</servicedir>
EOF
        if [[ $type = system ]]; then
            bus_default_policy
        fi
        echo "$policy"
        echo "</busconfig>"
    } > "$conf"
    : > "$busdir/$type.address"
    env -u LD_PRELOAD dbus-daemon --config-file="$conf" --nofork --nopidfile --print-address=3 \
        3>"$busdir/$type.address" 2>"$busdir/$type.log" &
    pid=$!
    cleanup_fn stop_pid "$pid"
    for ((i = 0; i < 200; i++)); do
        [[ -s $busdir/$type.address ]] && break
        kill -0 "$pid" 2>/dev/null || { cat "$busdir/$type.log" >&2; fail "dbus-daemon ($type) exited at start"; }
        sleep 0.05
    done
    [[ -s $busdir/$type.address ]] || fail "dbus-daemon ($type) did not start in 10 s"
    bus_address=$(head -n 1 "$busdir/$type.address")
}

# bus [-u USER] BUSCTL-ARGS...: busctl on the test bus, as root or USER.
bus ()
{
    if [[ $1 = -u ]]; then
        local u=$2
        shift 2
        setpriv --reuid="$u" --regid="$(id -g "$u")" --clear-groups -- \
            env -u LD_PRELOAD busctl --address="$bus_address" "$@"
    else
        env -u LD_PRELOAD busctl --address="$bus_address" "$@"
    fi
}

id nobody >/dev/null 2>&1 || skip "there is no user nobody"
setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups -- test -x "$busdir" ||
    skip "user nobody cannot reach $busdir (set TEST_TMPDIR to a place other users can reach)"
start_bus system "$(dirname "$system_service")" "<include>$bus_conf</include>"
system_address=$bus_address

names=$(bus call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ListActivatableNames)
[[ $names = *'"org.vhd.Compact"'* ]] ||
    { cat "$busdir/system.log" >&2; fail "the system bus does not accept the activation file"; }

# Nobody may not own the name; root may (then nobody still may not).
request_name ()
{
    bus "$@" call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
        RequestName su org.vhd.Compact 4 2>&1
}
out=$(request_name -u nobody) && fail "user nobody could own org.vhd.Compact: $out"
# (busctl prints org.freedesktop.DBus.Error.AccessDenied as EACCES's text.)
[[ $out = *'not allowed to own'* || $out = *'Access denied'* ]] ||
    fail "user nobody, RequestName: unexpected '$out'"
[[ $(request_name) = 'u 1' ]] || fail "root could not own org.vhd.Compact: $(request_name)"

"$BUS_OWNER" "$system_address" org.vhd.Compact >"$busdir/owner.out" 2>"$busdir/owner.err" &
owner=$!
cleanup_fn stop_pid "$owner"
for ((i = 0; i < 200; i++)); do
    [[ -s $busdir/owner.out ]] && break
    kill -0 "$owner" 2>/dev/null || break
    sleep 0.05
done
[[ $(head -n 1 "$busdir/owner.out") = 'owned org.vhd.Compact' ]] ||
    fail "root could not own org.vhd.Compact: $(cat "$busdir/owner.out" "$busdir/owner.err")"
out=$(request_name -u nobody) && fail "user nobody could take org.vhd.Compact: $out"

# call [-u USER] PATH INTERFACE MEMBER: the stand-in answers "INTERFACE.MEMBER".
call ()
{
    local -a who=()
    [[ $1 != -u ]] || { who=(-u "$2"); shift 2; }
    bus "${who[@]}" call org.vhd.Compact "$1" "$2" "$3" 2>&1
}
for pm in '/org/vhd/Compact org.vhd.Compact.Manager ListJobs' \
          '/org/vhd/Compact org.vhd.Compact.Manager Compact' \
          '/org/vhd/Compact org.vhd.Compact.Manager CompactFd' \
          '/org/vhd/Compact/job/1 org.vhd.Compact.Job Cancel' \
          '/org/vhd/Compact org.freedesktop.DBus.Properties GetAll' \
          '/org/vhd/Compact org.freedesktop.DBus.Introspectable Introspect' \
          '/org/vhd/Compact org.freedesktop.DBus.ObjectManager GetManagedObjects' \
          '/org/vhd/Compact org.freedesktop.DBus.Peer Ping'; do
    read -r p iface member <<<"$pm"
    out=$(call -u nobody "$p" "$iface" "$member") || true
    [[ $out = "s \"$iface.$member\"" ]] || fail "user nobody, $iface.$member: '$out'"
done
echo "user nobody may call the daemon's interfaces"
out=$(call -u nobody /org/vhd/Compact org.vhd.Compact.Debug Crash) &&
    fail "user nobody could call an interface the daemon does not serve: $out"
[[ $out = *'rejected send message'* || $out = *'Access denied'* ]] ||
    fail "user nobody, org.vhd.Compact.Debug: unexpected '$out'"
[[ $(call /org/vhd/Compact org.vhd.Compact.Debug Crash) = 's "org.vhd.Compact.Debug.Crash"' ]] ||
    fail "root may not send everything to org.vhd.Compact"
echo "user nobody may not call other interfaces; root may"

echo "== session bus activation"
start_bus session "$(dirname "$session_service")" \
    '<policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy>'
names=$(bus call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ListActivatableNames)
[[ $names = *'"org.vhd.Compact"'* ]] ||
    { cat "$busdir/session.log" >&2; fail "the session bus does not accept the activation file"; }
echo "PASS"
