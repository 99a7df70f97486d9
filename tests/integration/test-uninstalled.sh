#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The programs run from the build tree with no environment set (issue 13,
# item 6; lib/util/build-tree.h):
# - build/client/vhdctl analyze attaches with the tree's plugin, with
#   VHDCOMPACT_PLUGIN unset;
# - build/daemon/vhd-compactd starts the tree's worker, with
#   VHDCOMPACT_WORKER unset: an Analyze call on a private bus succeeds;
# - copies of vhdctl and vhd-compactd outside the tree (as installed ones
#   are) do not take the tree's plugin or worker: they name the installed
#   paths (checked when those are not installed on this machine);
# - `meson devenv` sets both variables to the tree's files.
set -euo pipefail
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/bus-functions.sh"
requires qemu-img nbdkit
requires_env VHDCTL VHD_COMPACTD VHD_WORKER VHD_PLUGIN TOP_BUILDDIR
make_tmpdir
d=$tmpdir
unset VHDCOMPACT_PLUGIN VHDCOMPACT_WORKER

qemu-img create -q -f vpc -o subformat=dynamic "$d/disk.vhd" 64M
# In a sanitizer build the nbdkit that vhdctl starts needs the runtime
# preloaded (functions.sh, vhdctl_attaching); nothing else is set.
preloaded () { LD_PRELOAD=${VHD_SANITIZER_PRELOAD:-${LD_PRELOAD:-}} "$@"; }

echo "== vhdctl analyze from the build tree"
out=$(preloaded "$VHDCTL" analyze --json "$d/disk.vhd" 2>&1) || fail "build-tree vhdctl analyze: $out"
echo "analyze: ok"

echo "== an installed vhdctl does not take the tree's plugin"
mkdir -m 0755 "$d/bin"
cp "$VHDCTL" "$d/bin/vhdctl"
out=$(preloaded "$d/bin/vhdctl" analyze "$d/disk.vhd" 2>&1) && rc=0 || rc=$?
[[ $out != *"$TOP_BUILDDIR"* ]] || fail "a vhdctl outside the tree used the tree: $out"
if (( rc != 0 )); then
  [[ $out = *"cannot attach"*nbdkit-vhd-plugin* ]] || fail "vhdctl outside the tree: $out"
  echo "outside the tree: ${out#vhdctl: }"
else
  echo "outside the tree: the installed plugin served it"
fi

echo "== meson devenv"
if have_env MESON; then
  [[ $("$MESON" devenv -C "$TOP_BUILDDIR" printenv VHDCOMPACT_WORKER) = "$VHD_WORKER" ]] ||
    fail "meson devenv: VHDCOMPACT_WORKER is not $VHD_WORKER"
  [[ $("$MESON" devenv -C "$TOP_BUILDDIR" printenv VHDCOMPACT_PLUGIN) = "$VHD_PLUGIN" ]] ||
    fail "meson devenv: VHDCOMPACT_PLUGIN is not $VHD_PLUGIN"
  echo "devenv: both set"
else
  echo "devenv: meson not found, not checked"
fi

echo "== vhd-compactd from the build tree"
(( EUID == 0 )) || skip "the daemon part needs root (a private system bus, worker ids)"
requires dbus-daemon busctl
start_test_bus
# An installed daemon (a copy outside the tree) names the installed worker
# and stops, unless that is installed here.
cp "$VHD_COMPACTD" "$d/bin/vhd-compactd"
out=$(timeout 20 "$d/bin/vhd-compactd" --idle-timeout 1 2>&1) && rc=0 || rc=$?
[[ $out != *"$TOP_BUILDDIR"* ]] || fail "a daemon outside the tree used the tree: $out"
if [[ $out = *"worker '"* ]]; then
  [[ $out = *"vhd-compact-worker': No such file"* ]] || fail "daemon outside the tree: $out"
  echo "outside the tree: ${out#vhd-compactd: }"
fi
"$VHD_COMPACTD" --idle-timeout 0 2>"$d/daemon.log" &
daemon_pid=$!
cleanup_fn _bus_stop_pid "$daemon_pid" vhd-compactd "$d/daemon.log"
wait_bus_name org.vhd.Compact 20 "$daemon_pid"
out=$(busctl call org.vhd.Compact /org/vhd/Compact org.vhd.Compact.Manager Analyze 'sa{sv}' \
        "$d/disk.vhd" 0 2>&1) || { cat "$d/daemon.log" >&2; fail "Analyze by the build-tree daemon: $out"; }
echo "daemon: Analyze answered"
