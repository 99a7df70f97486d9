#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Text that images and file names hold never reaches a terminal raw, and
# JSON and D-Bus strings stay valid (lib/util/text.h, client/safe-output.c):
#   - a disk in a folder whose name has a byte that is not UTF-8 and an ESC
#     sequence, with a creator field of ESC "[2J" (shown as "?[2J") and a MacX parent locator
#     naming the same bytes percent-encoded: `vhdctl info`, `check`,
#     `check --json` and `compact --local` print no control byte (other than
#     newline), nothing that is not UTF-8, and show the bytes as \xNN; the
#     JSON parses and names the file with U+FFFD for the bad byte;
#   - the progress line on a terminal (under script(1)) still draws with
#     carriage returns: the filter does not touch our own terminal control;
#   - through vhd-compactd (as root, on a private bus): such a file is
#     compacted (vhdctl passes it as a descriptor: it cannot be a D-Bus
#     string), the job's Path property is its escaped name, `vhdctl jobs
#     --json` parses, and a job failing on the hostile parent locator ends
#     with a readable Error property and one escaped line from vhdctl, as
#     does its dry run (an Analyze error reply);
#   - error replies of the daemon are safe text as well, and a refusal that
#     names a path that is not UTF-8 is still that refusal: a missing
#     file (FileNotFound), a relative path, an unknown mode or option key
#     (InvalidArgs), AnalyzeFd of a folder whose name has \xff
#     (NotSupported) and CompactFd of such a file that qemu holds (InUse).
set -euo pipefail
. "$(dirname "$0")/functions.sh"
requires qemu-img qemu-io python3 od dd script
requires_env VHDCTL

make_tmpdir
d=$tmpdir
w=$(printf '%s/dir\xff\x1b[31mX' "$d")
esc_dir="$d/dir\\xff\\x1b[31mX"
mkdir -- "$w"

# plain FILE WHAT: FILE holds UTF-8 text without control bytes other than
# newline, and no ESC in any form but the \x1b escape.
plain ()
{
    python3 - "$1" "$2" <<'PY' || fail "$2: output not plain text"
import sys
data = open(sys.argv[1], 'rb').read()
try:
    text = data.decode('utf-8')
except UnicodeDecodeError as e:
    sys.exit(f"{sys.argv[2]}: not UTF-8: {e}")
bad = [c for c in text if (ord(c) < 0x20 and c not in '\n\t') or 0x7f <= ord(c) < 0xa0]
if bad:
    sys.exit(f"{sys.argv[2]}: control characters {bad!r} in {text!r}")
PY
}

# The parent and its child, made beside each other and moved in.
qemu-img create -q -f vpc -o subformat=dynamic "$d/p.vhd" 32M
qemu-io -f vpc -c 'write -P 0x5a 0 2M' "$d/p.vhd" >/dev/null
"$VHDCTL" create "$d/c.vhd" --parent "$d/p.vhd"
mv -- "$d/c.vhd" "$d/p.vhd" "$w/"

# The child's creator application becomes ESC "[2J" (clear the screen).
footer_set "$w/c.vhd" 28 1b5b324a

echo "== info and check on the hostile names"
"$VHDCTL" info "$w/c.vhd" > "$d/info.out" 2>&1 || { cat "$d/info.out" >&2; fail "info failed"; }
plain "$d/info.out" info
grep -qF "file:            $esc_dir/c.vhd" "$d/info.out" || { cat "$d/info.out" >&2; fail "info: the file name is not shown escaped"; }
grep -qF "creator:         '?[2J'" "$d/info.out" || { cat "$d/info.out" >&2; fail "info: the creator is not shown escaped"; }
"$VHDCTL" check "$w/c.vhd" > "$d/check.out" 2>&1 || { cat "$d/check.out" >&2; fail "check failed"; }
plain "$d/check.out" check
"$VHDCTL" check --json "$w/c.vhd" > "$d/check.json"
python3 - "$d/check.json" "$w/c.vhd" <<'PY' || fail "check --json"
import json, os, sys
j = json.load(open(sys.argv[1], 'rb'))
want = os.fsencode(sys.argv[2]).decode('utf-8', 'replace')
assert j['file'] == want, (j['file'], want)
assert j['clean'] is True
PY

echo "== a MacX locator with the same bytes, percent-encoded, and no parent"
# Locator entry 1 (W2ku, the absolute path) becomes a MacX file URL.
dyn=$(be "$w/c.vhd" 16 8)
entry=$((dyn + 576 + 24))
url="file://$(sed 's/\x1b/%1b/; s/\xff/%ff/' <<<"$w")/p.vhd"
len=$(printf '%s' "$url" | wc -c)
(( len <= $(be "$w/c.vhd" $((entry + 8)) 4) )) || fail "test setup: the URL does not fit the locator"
poke "$w/c.vhd" "$entry" "$(printf MacX | od -A n -t x1 | tr -d ' \n')"
poke "$w/c.vhd" $((entry + 8)) "$(hexn 4 "$len")"
printf '%s' "$url" | dd of="$w/c.vhd" bs=1 seek="$(be "$w/c.vhd" $((entry + 16)) 8)" conv=notrunc status=none
set_checksum "$w/c.vhd" "$dyn" 1024 36
"$VHDCTL" check "$w/c.vhd" > "$d/check.out" 2>&1 || fail "check: the MacX locator itself is a problem"
mv -- "$w/p.vhd" "$d/p.vhd"
sha=$(sha256sum < "$w/c.vhd")
rc=0
"$VHDCTL" check "$w/c.vhd" > "$d/lost.out" 2>&1 || rc=$?
[[ $rc = 2 || $rc = 1 ]] || { cat "$d/lost.out" >&2; fail "check of an orphan exited $rc"; }
plain "$d/lost.out" "check of the orphan"
grep -qF "parent-not-found" "$d/lost.out" && grep -qF "$esc_dir/p.vhd" "$d/lost.out" ||
    { cat "$d/lost.out" >&2; fail "check: the tried MacX path is not named escaped"; }
[[ $(grep -oF "'$esc_dir/p.vhd'" "$d/lost.out" | wc -l) = 1 ]] ||
    { cat "$d/lost.out" >&2; fail "check: a tried path is listed twice"; }
"$VHDCTL" check --json "$w/c.vhd" > "$d/lost.json" 2>/dev/null || true
python3 -c 'import json, sys; json.load(open(sys.argv[1], "rb"))' "$d/lost.json" || fail "check --json of the orphan"
! "$VHDCTL" compact --local --no-progress "$w/c.vhd" > "$d/compact.out" 2>&1 || fail "an orphan was compacted"
plain "$d/compact.out" "compact of the orphan"
grep -qF "$esc_dir/p.vhd" "$d/compact.out" || { cat "$d/compact.out" >&2; fail "compact: the path is not escaped"; }
[[ $(sha256sum < "$w/c.vhd") = "$sha" ]] || fail "the orphan changed"

echo "== the progress line on a terminal"
qemu-img create -q -f vpc -o subformat=dynamic "$w/z.vhd" 64M
qemu-io -f vpc -c 'write -P 0x11 0 8M' -c 'write -z 8M 8M' -c 'write -P 0x22 40M 2M' "$w/z.vhd" >/dev/null
# script(1) runs its command with $SHELL, which may be unset (then /bin/sh) or
# any shell: the command names its arguments through the environment, in the
# plain sh form every shell reads, not in bash's $'...' quoting.
Z=$w/z.vhd SHELL=/bin/sh script -qec '"$VHDCTL" compact --local --mode zero "$Z"' /dev/null > "$d/tty.out" 2>&1 ||
    { cat -v "$d/tty.out" >&2; fail "compact on a terminal failed"; }
grep -qE $'\r'"moving +\[#+\] 100.0%" "$d/tty.out" || { cat -v "$d/tty.out" >&2; fail "no progress line drawn on the terminal"; }
grep -qF "$esc_dir/z.vhd:" "$d/tty.out" || { cat -v "$d/tty.out" >&2; fail "the summary does not name the file escaped"; }
! grep -q $'\x1b\\[31m' "$d/tty.out" || { cat -v "$d/tty.out" >&2; fail "the file name's ESC reached the terminal"; }

if (( EUID != 0 )) || ! have_env VHD_COMPACTD VHD_WORKER || ! command -v dbus-daemon >/dev/null; then
  echo "skipping the daemon part: needs root, dbus-daemon and the daemon"
  exit 0
fi
. "$(dirname "$0")/bus-functions.sh"
start_test_bus
start_daemon

echo "== through the daemon"
"$VHDCTL" compact --bus --no-progress --mode zero "$w/z.vhd" > "$d/bus.out" 2>&1 ||
    { cat "$d/bus.out" >&2; fail "the daemon did not compact a file whose name is not UTF-8"; }
plain "$d/bus.out" "compact over the bus"
"$VHDCTL" jobs --json > "$d/jobs.json"
job=$(python3 -c '
import json, sys
print([j["object"] for j in json.load(open(sys.argv[1], "rb")) if j["path"] == sys.argv[2]][0])
' "$d/jobs.json" "$esc_dir/z.vhd") || { cat "$d/jobs.json" >&2; fail "jobs --json: no job with the escaped path"; }
path=$(busctl --system --json=short get-property org.vhd.Compact "$job" org.vhd.Compact.Job Path |
       python3 -c 'import json, sys; print(json.load(sys.stdin)["data"])')
[[ $path = "$esc_dir/z.vhd" ]] || fail "the job's Path is '$path', expected '$esc_dir/z.vhd'"
"$VHDCTL" jobs > "$d/jobs.out"
plain "$d/jobs.out" jobs
rc=0
timeout 60 "$VHDCTL" compact --bus --no-progress "$w/c.vhd" > "$d/bus-lost.out" 2>&1 || rc=$?
[[ $rc = 1 ]] || { cat "$d/bus-lost.out" >&2; fail "the orphan over the bus: exit $rc, expected 1"; }
plain "$d/bus-lost.out" "the orphan over the bus"
[[ $(wc -l < "$d/bus-lost.out") = 1 ]] || { cat "$d/bus-lost.out" >&2; fail "the orphan over the bus: not one line"; }
grep -qF "parent-not-found" "$d/bus-lost.out" && grep -qF "$esc_dir/p.vhd" "$d/bus-lost.out" ||
    { cat "$d/bus-lost.out" >&2; fail "the orphan over the bus: the tried path is not named escaped"; }
# The same failure as an Analyze reply (an error message, not a job).
rc=0
timeout 60 "$VHDCTL" compact --bus --dry-run --no-progress "$w/c.vhd" > "$d/bus-dry.out" 2>&1 || rc=$?
[[ $rc = 1 ]] || { cat "$d/bus-dry.out" >&2; fail "the orphan's dry run over the bus: exit $rc, expected 1"; }
plain "$d/bus-dry.out" "the orphan's dry run over the bus"
grep -qF "parent-not-found" "$d/bus-dry.out" && grep -qF "$esc_dir/p.vhd" "$d/bus-dry.out" ||
    { cat "$d/bus-dry.out" >&2; fail "the orphan's dry run over the bus: the tried path is not named escaped"; }
[[ $(sha256sum < "$w/c.vhd") = "$sha" ]] || fail "the orphan changed through the daemon"

echo "== error replies are safe text too"
py=$(_bus_python)
# call.py METHOD ARG OPTIONS-JSON: a Manager method (an *Fd one opens ARG,
# a file or a folder); prints "NAME: MESSAGE" of its error reply.
cat > "$d/call.py" <<'PY'
import dbus, json, os, sys
method, arg, opts = sys.argv[1], os.fsencode(sys.argv[2]), json.loads(sys.argv[3])
mgr = dbus.Interface(dbus.SystemBus().get_object("org.vhd.Compact", "/org/vhd/Compact"),
                     "org.vhd.Compact.Manager")
if method.endswith("Fd"):
    arg = dbus.types.UnixFd(os.open(arg, os.O_RDONLY if os.path.isdir(arg) or method == "AnalyzeFd" else os.O_RDWR))
else:
    arg = arg.decode("utf-8")
try:
    getattr(mgr, method)(arg, dbus.Dictionary(opts, signature="sv"))
    print("no error")
except dbus.exceptions.DBusException as e:
    print("%s: %s" % (e.get_dbus_name(), e.get_dbus_message()))
PY
# refused_safely WHAT NAME WANT METHOD ARG [OPTIONS-JSON]: the call fails
# with error NAME and a message that is plain text holding WANT.
refused_safely ()
{
  local what=$1 name=$2 want=$3
  shift 3
  "$py" "$d/call.py" "$1" "$2" "${3:-{\}}" > "$d/err.out" 2>&1 || true
  plain "$d/err.out" "$what"
  grep -qF "$name: " "$d/err.out" && grep -qF -- "$want" "$d/err.out" ||
      { cat "$d/err.out" >&2; fail "$what: expected $name naming '$want'"; }
  echo "$what: $(cat "$d/err.out")"
}
refused_safely "a missing file" org.freedesktop.DBus.Error.FileNotFound "$d/dir\\x1b[31mX/missing.vhd" \
    Compact "$(printf '%s/dir\x1b[31mX/missing.vhd' "$d")"
refused_safely "a relative path" org.freedesktop.DBus.Error.InvalidArgs "'x\x1b[2J' is not an absolute path" \
    Compact "$(printf 'x\x1b[2J')"
refused_safely "a mode" org.freedesktop.DBus.Error.InvalidArgs "mode 'a\x1b[2J' is not one of" \
    Compact "$d/p.vhd" '{"mode": "a\u001b[2J"}'
refused_safely "an option's key" org.freedesktop.DBus.Error.InvalidArgs "unknown option 'k\x1b[2J'" \
    Compact "$d/p.vhd" '{"k\u001b[2J": "v"}'
refused_safely "AnalyzeFd of a folder named with \\xff" org.vhd.Compact.Error.NotSupported "'$esc_dir': not a regular file" \
    AnalyzeFd "$w"
# qemu-io holds it: wait until its locks show in /proc/locks, without
# probing with a second qemu-io (two qemus taking their byte-range locks
# at the same instant can each make the other fail, and the holder then
# exits: seen under ASan); start it again if it died all the same.
ino=$(stat -c %i "$w/z.vhd")
holder=
for ((attempt = 0; attempt < 5; attempt++)); do
  qemu-io -f vpc -c "sleep 5000" "$w/z.vhd" >/dev/null 2>"$d/holder.err" &
  holder=$!
  for ((i = 0; i < 200; i++)); do
    grep -q ":$ino " /proc/locks && break
    kill -0 "$holder" 2>/dev/null || break
    sleep 0.05
  done
  sleep 0.2
  kill -0 "$holder" 2>/dev/null && break
  wait "$holder" 2>/dev/null || true
  holder=
done
[[ -n $holder ]] || { cat "$d/holder.err" >&2; fail "qemu-io could not hold z.vhd"; }
cleanup_fn _bus_stop_pid "$holder" qemu-io
refused_safely "CompactFd of a file named with \\xff held by qemu" org.vhd.Compact.Error.InUse "'$esc_dir/z.vhd': in use" \
    CompactFd "$w/z.vhd"
kill "$holder"
echo "ok"
