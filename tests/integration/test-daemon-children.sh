#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# vhd-compactd and the files a hostile local user plants (issue 12, items
# 1, 2, 3, 8, 15), on a private system bus, with the real polkitd granting
# nothing; clients are python3-dbus (to pass descriptors) and busctl:
# - CompactFd with a descriptor open O_RDWR|O_APPEND is refused
#   (AccessDenied), the file byte-identical;
# - root's Compact of a symlink, in another folder, to a parent whose
#   differencing child sits beside the real file: the job reports the real
#   file as its Path and fails NotSupported naming the child (modes full
#   and fs), the parent unchanged; zero mode is allowed; a disk with a
#   second name (hard link) elsewhere is refused NotSupported;
# - CompactFd by a user who may write a disk but not list its folder
#   (0711), with another user's child beside it: NotSupported, the disk
#   unchanged; --mode zero is allowed;
# - CompactFd with a *.vhd beside the disk that the user cannot read:
#   NotSupported naming it;
# - a FIFO named zz.vhd beside a disk does not hang root's job (it is
#   passed over, the job ends done);
# - x.vhd -> /etc/shadow beside a user's disk, and a user's differencing
#   disk whose parent name is p.vhd -> /etc/shadow: root's jobs never open
#   /etc/shadow (its size appears in no Error), and end failed;
# - root's Compact of a user's link to root's disk is refused
#   (AccessDenied: a user's link leads only to that user's files), root's
#   disk unchanged; of a user's link to the user's own disk, it runs on
#   the target and reports it.
# The disks: 64 MiB dynamic VHDs with a zero block (something to do).
set -euo pipefail
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/bus-functions.sh"
(( EUID == 0 )) || skip "needs root (the daemon on a private system bus, test users)"
requires dbus-daemon busctl qemu-img qemu-io cmp mkfifo timeout
requires_env VHDCTL VHD_COMPACTD VHD_WORKER
make_tmpdir
d=$tmpdir
py=$(_bus_python)

start_test_bus
make_test_user
user=$test_user user_home=$test_home
make_test_user
other=$test_user

start_daemon -- --keep-finished 120
cleanup_fn show_daemon_log_on_failure

# make_disk FILE [OWNER]: a disk with something to compact, and FILE.orig.
make_disk ()
{
  qemu-img create -q -f vpc -o subformat=dynamic "$1" 64M
  qemu-io -f vpc -c 'write -q -P 0x11 0 1M' -c 'write -q -P 0 4M 4M' -c 'write -q -P 0x22 10M 2M' "$1" >/dev/null
  cp -- "$1" "$1.orig"
  [[ -z ${2:-} ]] || chown "$2:" "$1"
}

# client.py METHOD FILE|JOB [OPENMODE [MODE]]: as in test-daemon.sh;
# OPENMODE rw, ro or append (O_RDWR|O_APPEND); MODE the option "mode".
cat > "$d/client.py" <<'PY'
import dbus, os, sys
method, target = sys.argv[1], sys.argv[2]
mgr = dbus.Interface(dbus.SystemBus().get_object("org.vhd.Compact", "/org/vhd/Compact"),
                     "org.vhd.Compact.Manager")
opts = dbus.Dictionary({}, signature="sv")
if len(sys.argv) > 4:
    opts["mode"] = dbus.String(sys.argv[4])
try:
    if method.endswith("Fd"):
        how = {"rw": os.O_RDWR, "ro": os.O_RDONLY, "append": os.O_RDWR | os.O_APPEND}[sys.argv[3]]
        arg = dbus.types.UnixFd(os.open(target, how))
    else:
        arg = target
    r = getattr(mgr, method)(arg, opts)
except dbus.exceptions.DBusException as e:
    print("error %s: %s" % (e.get_dbus_name(), e.get_dbus_message()))
    sys.exit(1)
print(r)
PY
chmod 0644 "$d/client.py"

call () { local u=$1; shift; AS_USER_PRELOAD=0 as_user -u "$u" "$py" "$d/client.py" "$@"; }
root_compact ()
{
  local out opts=(0)
  [[ -z ${2:-} ]] || opts=(1 mode s "$2")
  out=$(busctl call org.vhd.Compact /org/vhd/Compact org.vhd.Compact.Manager Compact 'sa{sv}' "$1" \
        "${opts[@]}" 2>&1) || { echo "error $out"; return 0; }
  sed -n 's/^o "\(.*\)"$/\1/p' <<<"$out"
}

# ended JOB STATE [ERRORNAME]: the job ends in STATE (with ERRORNAME).
ended ()
{
  local state
  state=$(wait_job "$1" 60)
  [[ $state = "$2" ]] || fail "$1: ended '$state', expected '$2': $(job_prop "$1" Error)"
  [[ -z ${3:-} || $(job_prop "$1" ErrorName) = "\"org.vhd.Compact.Error.$3\"" ]] ||
    fail "$1: ErrorName $(job_prop "$1" ErrorName), expected $3: $(job_prop "$1" Error)"
}
unchanged () { cmp -s -- "$1" "$1.orig" || fail "$1 changed"; }

echo "== CompactFd with an O_APPEND descriptor"
mkdir -m 0755 "$d/app"
make_disk "$d/app/disk.vhd" "$user"
out=$(call "$user" CompactFd "$d/app/disk.vhd" append) && fail "O_APPEND: accepted: $out"
[[ $out = "error org.vhd.Compact.Error.AccessDenied: "*O_APPEND* ]] || fail "O_APPEND: '$out'"
sleep 1
unchanged "$d/app/disk.vhd"
"$VHDCTL" check "$d/app/disk.vhd" >/dev/null || fail "O_APPEND: the image is damaged"
echo "O_APPEND: ${out#error }"

echo "== root's Compact of a symlink to a parent in another folder"
mkdir -m 0755 "$d/real" "$d/links"
make_disk "$d/real/par.vhd"
"$VHDCTL" create "$d/real/child.vhd" --parent "$d/real/par.vhd" >/dev/null
cp "$d/real/par.vhd" "$d/real/par.vhd.orig"
ln -s ../real/par.vhd "$d/links/par.vhd"
for mode in full fs; do
  job=$(root_compact "$d/links/par.vhd" "$mode")
  [[ $job = /org/vhd/Compact/job/* ]] || fail "symlink $mode: $job"
  ended "$job" failed NotSupported
  [[ $(job_prop "$job" Path) = "\"$d/real/par.vhd\"" ]] || fail "symlink: the job's Path is $(job_prop "$job" Path)"
  job_prop "$job" Error | grep -qF "$d/real/child.vhd" || fail "symlink $mode: $(job_prop "$job" Error)"
  unchanged "$d/real/par.vhd"
done
job=$(root_compact "$d/links/par.vhd" zero)
ended "$job" done
echo "symlink: full and fs refused ($(job_prop "$job" Path) reported), zero allowed"
mkdir -m 0755 "$d/hard"
make_disk "$d/hard/disk.vhd"
ln "$d/hard/disk.vhd" "$d/links/other-name.img"
job=$(root_compact "$d/hard/disk.vhd")
ended "$job" failed NotSupported
job_prop "$job" Error | grep -q "hard links" || fail "hard link: $(job_prop "$job" Error)"
unchanged "$d/hard/disk.vhd"
echo "hard link: refused"

echo "== CompactFd in a folder the caller cannot list"
mkdir -m 0711 "$d/shut"
make_disk "$d/shut/base.vhd" "$user"
"$VHDCTL" create "$d/shut/theirs.vhd" --parent "$d/shut/base.vhd" >/dev/null
chown "$other:" "$d/shut/theirs.vhd"
chmod 0600 "$d/shut/theirs.vhd"
cp "$d/shut/base.vhd" "$d/shut/base.vhd.orig"
job=$(call "$user" CompactFd "$d/shut/base.vhd" rw) || fail "0711: $job"
ended "$job" failed NotSupported
job_prop "$job" Error | grep -q "cannot list the folder" || fail "0711: $(job_prop "$job" Error)"
unchanged "$d/shut/base.vhd"
job=$(call "$user" CompactFd "$d/shut/base.vhd" rw zero) || fail "0711 zero: $job"
ended "$job" done
echo "0711: full refused, zero allowed"

echo "== CompactFd with a candidate the caller cannot read"
mkdir -m 0755 "$d/mixed"
make_disk "$d/mixed/mine.vhd" "$user"
make_disk "$d/mixed/secret.vhd"
chmod 0600 "$d/mixed/secret.vhd"
job=$(call "$user" CompactFd "$d/mixed/mine.vhd" rw) || fail "unreadable: $job"
ended "$job" failed NotSupported
job_prop "$job" Error | grep -qF "$d/mixed/secret.vhd" || fail "unreadable: $(job_prop "$job" Error)"
unchanged "$d/mixed/mine.vhd"
echo "unreadable candidate: refused, naming it"

echo "== a FIFO named zz.vhd beside a disk"
mkdir -m 0755 "$d/fifo"
make_disk "$d/fifo/disk.vhd"
mkfifo "$d/fifo/zz.vhd"
job=$(root_compact "$d/fifo/disk.vhd")
ended "$job" done
echo "FIFO: passed over, the job is done"

echo "== links to /etc/shadow"
shadow_size=$(stat -c %s /etc/shadow)
mkdir -m 0755 "$user_home/vm"
chown "$user:" "$user_home/vm"
make_disk "$user_home/vm/disk.vhd" "$user"
AS_USER_PRELOAD=0 as_user -u "$user" ln -s /etc/shadow "$user_home/vm/x.vhd"
job=$(root_compact "$user_home/vm/disk.vhd")
ended "$job" failed NotSupported
err=$(job_prop "$job" Error)
[[ $err != *"$shadow_size"* && $err != *shadow* ]] || fail "shadow beside: $err"
job_prop "$job" Error | grep -qF "$user_home/vm/x.vhd" || fail "shadow beside: $err"
unchanged "$user_home/vm/disk.vhd"
echo "beside: refused without opening it: $err"
rm "$user_home/vm/x.vhd"
make_disk "$user_home/vm/p.vhd" "$user"
AS_USER_PRELOAD=0 as_user -u "$user" "$VHDCTL" create "$user_home/vm/kid.vhd" --parent "$user_home/vm/p.vhd" >/dev/null
rm "$user_home/vm/p.vhd" "$user_home/vm/p.vhd.orig"
AS_USER_PRELOAD=0 as_user -u "$user" ln -s /etc/shadow "$user_home/vm/p.vhd"
job=$(root_compact "$user_home/vm/kid.vhd" zero)
ended "$job" failed
err=$(job_prop "$job" Error)
[[ $err != *"$shadow_size"* && $err != *shadow* ]] || fail "shadow parent: $err"
echo "parent: refused without opening it: $err"

echo "== root's Compact of users' links"
mkdir -m 0755 "$d/rootdisks"
make_disk "$d/rootdisks/root.vhd"
AS_USER_PRELOAD=0 as_user -u "$user" ln -s "$d/rootdisks/root.vhd" "$user_home/vm/evil.vhd"
out=$(root_compact "$user_home/vm/evil.vhd")
[[ $out = "error "*AccessDenied*"link"* || $out = "error "*"symbolic link"* ]] || fail "user's link to root's disk: '$out'"
unchanged "$d/rootdisks/root.vhd"
echo "to root's disk: ${out#error }"
mkdir -m 0755 "$user_home/vm2"
chown "$user:" "$user_home/vm2"
make_disk "$user_home/vm2/own.vhd" "$user"
AS_USER_PRELOAD=0 as_user -u "$user" ln -s "$user_home/vm2/own.vhd" "$user_home/vm/own-link.vhd"
job=$(root_compact "$user_home/vm/own-link.vhd")
ended "$job" done
[[ $(job_prop "$job" Path) = "\"$user_home/vm2/own.vhd\"" ]] || fail "own link: Path $(job_prop "$job" Path)"
echo "to the user's own disk: done, Path $(job_prop "$job" Path)"
kill -0 "$daemon_pid" || fail "the daemon died"
echo ok
