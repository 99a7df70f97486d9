#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# `vhdctl` in-process (compact --local, check, info, analyze) and the
# plugin against the files a hostile local user plants (issue 12, items 2,
# 3, 8), every command under `timeout`, so that a hang fails the test:
# - compact --local of a symlink, in another folder, to a parent whose
#   differencing child sits beside the real file, and of a hard link to
#   it: modes full and fs are refused (has-children naming the child;
#   not-supported: the two names), the parent byte-identical; zero mode
#   is allowed;
# - a FIFO named zz.vhd beside a disk: compact --local (full, fs, zero,
#   --dry-run) does not block and succeeds;
# - a differencing disk whose parent (locator and name) is a FIFO: check,
#   info, analyze, compact --local and nbdkit with the plugin end with an
#   error naming the parent, without blocking;
# - as an unprivileged user: a disk in a folder the user cannot list (0711)
#   and a disk beside a *.vhd the user cannot read are refused in modes
#   full and fs (not-supported naming the folder or the file), allowed in
#   zero mode.
set -euo pipefail
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/bus-functions.sh"
requires qemu-img qemu-io cmp mkfifo timeout
requires_env VHDCTL VHD_PLUGIN
make_tmpdir
d=$tmpdir
T=60    # seconds before a command counts as hung

make_disk ()
{
  qemu-img create -q -f vpc -o subformat=dynamic "$1" 64M
  qemu-io -f vpc -c 'write -q -P 0x11 0 1M' -c 'write -q -P 0 4M 4M' "$1" >/dev/null
  cp -- "$1" "$1.orig"
}
unchanged () { cmp -s -- "$1" "$1.orig" || fail "$1 changed"; }

# run NAME WANT CMD...: CMD exits WANT (0, or 1 for a refusal) within $T s;
# its stderr is in $d/NAME.err.
run ()
{
  local name=$1 want=$2 rc=0
  shift 2
  if [[ $1 = as_user ]]; then   # a shell function: it runs timeout itself
    "$@" >"$d/$name.out" 2>"$d/$name.err" </dev/null || rc=$?
  else
    timeout "$T" "$@" >"$d/$name.out" 2>"$d/$name.err" </dev/null || rc=$?
  fi
  (( rc != 124 )) || fail "$name: still running after ${T}s (blocked)"
  [[ $rc = "$want" ]] || { cat "$d/$name.err" >&2; fail "$name: exit status $rc, expected $want"; }
}
# refused NAME ID NEEDLE CMD...: refused with one line naming the problem
# id ID and NEEDLE.
refused ()
{
  local name=$1 id=$2 needle=$3
  shift 3
  run "$name" 1 "$@"
  grep -q ": $id: " "$d/$name.err" && grep -qF -- "$needle" "$d/$name.err" ||
    fail "$name: '$(cat "$d/$name.err")' (expected $id naming '$needle')"
  echo "$name: $(cat "$d/$name.err")"
}
compact=(env VHDCOMPACT_PLUGIN="$VHD_PLUGIN" ${VHD_SANITIZER_PRELOAD:+LD_PRELOAD="$VHD_SANITIZER_PRELOAD"}
         "$VHDCTL" compact --local --no-progress)

echo "== symlink and hard link to a parent in another folder"
mkdir "$d/real" "$d/links"
make_disk "$d/real/par.vhd"
"$VHDCTL" create "$d/real/child.vhd" --parent "$d/real/par.vhd" >/dev/null
cp "$d/real/par.vhd" "$d/real/par.vhd.orig"
ln -s ../real/par.vhd "$d/links/par.vhd"
for mode in full fs; do
  refused "symlink-$mode" has-children "$d/real/child.vhd" "${compact[@]}" --mode "$mode" "$d/links/par.vhd"
  unchanged "$d/real/par.vhd"
done
run symlink-zero 0 "${compact[@]}" --mode zero --dry-run "$d/links/par.vhd"
ln "$d/real/par.vhd" "$d/links/hard.vhd"
refused hardlink not-supported "hard links" "${compact[@]}" "$d/links/hard.vhd"
unchanged "$d/real/par.vhd"
run hardlink-force 0 "${compact[@]}" --force-children --dry-run "$d/links/hard.vhd"
rm "$d/links/hard.vhd"

echo "== a FIFO named zz.vhd beside a disk"
mkdir "$d/fifo"
make_disk "$d/fifo/disk.vhd"
mkfifo "$d/fifo/zz.vhd"
for mode in full fs zero; do
  run "fifo-$mode-dry" 0 "${compact[@]}" --mode "$mode" --dry-run "$d/fifo/disk.vhd"
done
run fifo-full 0 "${compact[@]}" "$d/fifo/disk.vhd"
echo "FIFO beside: passed over (full, fs, zero, --dry-run)"

echo "== a parent that is a FIFO"
mkdir "$d/pfifo"
make_disk "$d/pfifo/p.vhd"
"$VHDCTL" create "$d/pfifo/kid.vhd" --parent "$d/pfifo/p.vhd" >/dev/null
rm "$d/pfifo/p.vhd"
mkfifo "$d/pfifo/p.vhd"
run pfifo-check 1 "$VHDCTL" check "$d/pfifo/kid.vhd"
grep -qF "$d/pfifo/p.vhd" "$d/pfifo-check.out" "$d/pfifo-check.err" || fail "check: does not name the parent"
for verb in info analyze; do
  rc=0
  timeout "$T" env VHDCOMPACT_PLUGIN="$VHD_PLUGIN" "$VHDCTL" "$verb" "$d/pfifo/kid.vhd" >/dev/null 2>"$d/pfifo-$verb.err" </dev/null || rc=$?
  (( rc != 124 )) || fail "$verb: blocked on the FIFO parent"
  (( rc != 0 )) || fail "$verb: accepted a FIFO as the parent"
  grep -qF "not a regular file" "$d/pfifo-$verb.err" || fail "$verb: '$(cat "$d/pfifo-$verb.err")'"
done
run pfifo-compact 1 "${compact[@]}" --mode zero "$d/pfifo/kid.vhd"
grep -qF "not a regular file" "$d/pfifo-compact.err" || fail "compact: '$(cat "$d/pfifo-compact.err")'"
if command -v nbdkit >/dev/null; then
  rc=0
  timeout "$T" nbdkit -U - "$VHD_PLUGIN" file="$d/pfifo/kid.vhd" --run 'true' >/dev/null 2>"$d/pfifo-plugin.err" </dev/null || rc=$?
  (( rc != 124 )) || fail "plugin: blocked on the FIFO parent"
  (( rc != 0 )) || fail "plugin: served a disk whose parent is a FIFO"
  echo "plugin: $(grep -m1 -F 'regular' "$d/pfifo-plugin.err" || tail -n 1 "$d/pfifo-plugin.err")"
fi
echo "FIFO parent: check, info, analyze, compact refuse it without blocking"

echo "== as a user: a folder it cannot list, a candidate it cannot read"
if (( EUID == 0 )); then
  make_test_user
  user=$test_user
  mkdir -m 0711 "$d/shut"
  make_disk "$d/shut/base.vhd"
  chown "$user:" "$d/shut/base.vhd"
  AS_USER_PRELOAD=0 as_user test -w "$d/shut/base.vhd" || fail "test setup: the user cannot write base.vhd"
  ucompact=(as_user timeout "$T" env VHDCOMPACT_PLUGIN="$VHD_PLUGIN" "$VHDCTL" compact --local --no-progress)
  refused user-0711 not-supported "cannot list the folder '$d/shut'" "${ucompact[@]}" "$d/shut/base.vhd"
  unchanged "$d/shut/base.vhd"
  run user-0711-zero 0 "${ucompact[@]}" --mode zero "$d/shut/base.vhd"
  mkdir -m 0755 "$d/mixed"
  make_disk "$d/mixed/mine.vhd"
  chown "$user:" "$d/mixed/mine.vhd"
  make_disk "$d/mixed/secret.vhd"
  chmod 0600 "$d/mixed/secret.vhd"
  refused user-unreadable not-supported "$d/mixed/secret.vhd" "${ucompact[@]}" --mode fs "$d/mixed/mine.vhd"
  unchanged "$d/mixed/mine.vhd"
  run user-unreadable-zero 0 "${ucompact[@]}" --mode zero "$d/mixed/mine.vhd"
else
  echo "not root: no test user, the unprivileged cases are left out"
fi
echo ok
