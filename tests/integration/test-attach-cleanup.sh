#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The read-only attach leaves nothing behind, however vhdctl ends: after a
# normal run, after SIGINT, SIGTERM or SIGKILL in mid-attach, and when
# nbdkit itself refuses to start, no nbdkit process remains and no socket
# or temporary directory is left (the attach uses a socketpair, never a
# socket file).  libnbd is loaded by the attach, not at start: vhdctl
# does not need it, and a libnbd that cannot be loaded is refused with one
# message naming it, nothing started.
set -euo pipefail
. "$(dirname "$0")/functions.sh"
requires qemu-img nbdkit pgrep
requires_env VHDCTL VHD_PLUGIN

d=$(make_tmpdir)
export TMPDIR=$d/tmp
mkdir -p "$TMPDIR"
qemu-img create -q -f vpc -o subformat=dynamic "$d/disk.vhd" 64M

# nbdkit processes serving this test's disk: nbdkit itself, as the engine
# names it, not a wrapper on its way to exec it (tests/sanitizer-path).
servers() { pgrep -f "^nbdkit .*file=$d/disk.vhd" || true; }
no_leftovers() {
  local what=$1 i
  for i in $(seq 50); do [ -z "$(servers)" ] && break; sleep 0.1; done
  [ -z "$(servers)" ] || fail "$what: nbdkit still running: $(servers)"
  [ -z "$(ls -A "$TMPDIR")" ] || fail "$what: left in TMPDIR: $(ls -A "$TMPDIR")"
  echo "$what: nothing left behind"
}

vhdctl_attaching analyze "$d/disk.vhd" >/dev/null
no_leftovers "normal exit"

for sig in INT TERM KILL; do
  # $! must be vhdctl itself, and job control keeps SIGINT from being
  # ignored in a background job, as a non-interactive shell would.
  set -m
  env VHDCOMPACT_PLUGIN="$VHD_PLUGIN" ${VHD_SANITIZER_PRELOAD:+LD_PRELOAD="$VHD_SANITIZER_PRELOAD"} \
    VHDCOMPACT_TEST_ATTACH_PAUSE=30 "$VHDCTL" analyze "$d/disk.vhd" >/dev/null 2>&1 &
  pid=$!
  set +m
  for i in $(seq 100); do [ -n "$(servers)" ] && break; sleep 0.1; done
  [ -n "$(servers)" ] || fail "SIG$sig: nbdkit never started"
  kill -s "$sig" "$pid"
  wait "$pid" 2>/dev/null || true
  no_leftovers "SIG$sig during the attach"
done

if VHDCOMPACT_PLUGIN=$d/no-such-plugin.so "$VHDCTL" analyze "$d/disk.vhd" 2>"$d/err"; then
  fail "analyze succeeded without a plugin"
fi
grep -q "cannot attach" "$d/err" || fail "no clear error: $(cat "$d/err")"
no_leftovers "missing plugin"

printf 'not a plugin' > "$d/bogus.so"
if VHDCOMPACT_PLUGIN=$d/bogus.so "$VHDCTL" analyze "$d/disk.vhd" 2>"$d/err"; then
  fail "analyze succeeded with a bogus plugin"
fi
grep -q "cannot attach" "$d/err" || fail "no clear error: $(cat "$d/err")"
no_leftovers "nbdkit refusing to start"

if command -v readelf >/dev/null; then
  ! readelf -d "$VHDCTL" | grep -q 'NEEDED.*libnbd' || fail "vhdctl links libnbd at start"
  echo "vhdctl: libnbd not among its NEEDED libraries"
fi
if VHDCOMPACT_TEST_LIBNBD=libnbd-not-there.so.0 "$VHDCTL" analyze "$d/disk.vhd" 2>"$d/err"; then
  fail "analyze succeeded without libnbd"
fi
[[ $(wc -l < "$d/err") = 1 ]] || fail "no libnbd: not one line: $(cat "$d/err")"
grep -q "cannot attach the disk read-only: libnbd (libnbd.so.0) cannot be loaded" "$d/err" ||
  fail "no libnbd: no clear error: $(cat "$d/err")"
no_leftovers "no libnbd"
echo "no libnbd: $(cat "$d/err")"
echo ok
