#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# `vhdctl compact FILE|DIR... --recursive [--jobs N]` (issue 18 item 3),
# on a folder made like a share of disks:
#   top/a.vhd          dynamic VHD, 8 MiB of zeros then 8 MiB of data
#   top/x.bin          the same as a VHDX, found by its content, not its name
#   top/fixed.vhd      a fixed VHD (not compacted: skipped, not-supported)
#   top/notes.vhd      text: not a disk by content, not listed
#   top/empty.vhdx     an empty file: not listed
#   top/link.vhd       a symbolic link to a.vhd: not followed
#   top/sub/par.vhd    a parent with its child sub/kid.vhd beside it:
#                      skipped (has-children); the child is compacted
#   top/sub/held.vhd   held by another process's lock: skipped (in-use)
#   top/sub/bad.vhd    its footer's checksum broken: failed (bad-checksum)
#   top/deep/d/e.vhd   three folders down
#   top/shut/          a folder nobody may list (as an unprivileged user)
# Checked: the table and the JSON (parsed) list exactly those disks with
# those statuses and ids; each done disk's size-before/after are its file
# sizes before and after, it checks clean and reads as before (qemu-img
# compare); skipped and failed disks are byte-identical; the exit status
# is 1 because one failed, 0 once it is gone; --jobs 2 gives the same
# result; a second run saves nothing; --dry-run changes nothing; a folder
# without --recursive is refused (not-supported, exit 1) naming it; several FILE
# arguments; SIGTERM in the middle leaves the rest not-run, every disk
# valid; and through the daemon (a private system bus) the same table.
set -euo pipefail
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/bus-functions.sh"
requires qemu-img qemu-io python3 cmp nbdkit nbdcopy
requires_env VHDCTL VHD_PLUGIN
make_tmpdir
d=$tmpdir
compact () { vhdctl_attaching compact --local --no-progress "$@"; }

# disk FILE FORMAT: 16 MiB written, the first 8 MiB zeros.
disk ()
{
    qemu-img create -q -f "$2" "$1" 64M
    qemu-io -f "$2" -c "write -q -P 0 0 8M" -c "write -q -P 0x5a 8M 8M" "$1" >/dev/null
}

make_tree ()
{
    rm -rf "$d/top" && mkdir -p "$d/top/sub" "$d/top/deep/d" "$d/orig"
    disk "$d/top/a.vhd" vpc
    disk "$d/top/x.bin" vhdx
    qemu-img create -q -f vpc -o subformat=fixed "$d/top/fixed.vhd" 8M
    echo "not a disk" > "$d/top/notes.vhd"
    : > "$d/top/empty.vhdx"
    ln -s a.vhd "$d/top/link.vhd"
    disk "$d/top/sub/par.vhd" vpc
    "$VHDCTL" create "$d/top/sub/kid.vhd" --parent "$d/top/sub/par.vhd" >/dev/null
    # Written through the plugin (qemu's vpc driver knows no parents).
    serve "$d/top/sub/kid.vhd" \
        --run 'qemu-io -f raw -c "write -q -P 0 0 4M" -c "write -q -P 0x33 20M 2M" "$uri"' >/dev/null
    disk "$d/top/sub/held.vhd" vpc
    disk "$d/top/sub/bad.vhd" vpc
    # The footer's checksum (bytes 64-67 of the last 512) broken.
    local sz
    sz=$(stat -c %s "$d/top/sub/bad.vhd")
    printf '\xde\xad\xbe\xef' | dd of="$d/top/sub/bad.vhd" bs=1 seek=$(( sz - 512 + 64 )) conv=notrunc status=none
    disk "$d/top/deep/d/e.vhd" vpc
    local f
    for f in a.vhd x.bin fixed.vhd sub/par.vhd sub/kid.vhd sub/held.vhd sub/bad.vhd deep/d/e.vhd; do
        cp -- "$d/top/$f" "$(orig "$f")"
    done
    # What the compactable ones read as (the child through its parent).
    for f in a.vhd x.bin sub/par.vhd sub/kid.vhd sub/held.vhd deep/d/e.vhd; do
        read_disk "$d/top/$f" "$(orig "$f").raw"
    done
}
# read_disk IMAGE RAW: what IMAGE reads as, through the plugin.
read_disk ()
{
    rm -f -- "$2"
    serve "$1" readonly=1 --run "nbdcopy \"\$uri\" $(printf %q "$2")"
}
orig () { echo "$d/orig/${1//\//_}"; }

# hold FILE: another process holds FILE's lock until release.
hold ()
{
    : > "$d/hold.out"
    python3 - "$1" > "$d/hold.out" <<'PY' &
import fcntl, sys, time
f = open(sys.argv[1], 'rb+')
fcntl.lockf(f, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(120)
PY
    holder=$!
    cleanup_fn sh -c 'kill "$1" 2>/dev/null; true' sh "$holder"
    local i
    for ((i = 0; i < 100; i++)); do
        grep -q locked "$d/hold.out" && return 0
        sleep 0.05
    done
    fail "the lock holder did not start"
}
release () { kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null || true; }

# expect_rows JSON WANT: the JSON's disks as "file status id" lines equal
# WANT (paths relative to top/).  With disks run side by side the parent
# may meet its child's run holding it open: skipped as in-use then, which
# counts as its has-children.
expect_rows ()
{
    local got
    got=$(python3 - "$1" "$d/top/" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
for r in j["disks"]:
    print(r["file"].replace(sys.argv[2], ""), r["status"], r["problem-id"] or "-")
PY
)
    got=$(sed 's,^sub/par\.vhd skipped in-use$,sub/par.vhd skipped has-children,' <<<"$got")
    [[ $got == "$2" ]] || { diff <(echo "$2") <(echo "$got") >&2; fail "the disks and statuses are not as expected"; }
}

want_first="a.vhd done -
deep/d/e.vhd done -
fixed.vhd skipped not-supported
sub/bad.vhd failed bad-checksum
sub/held.vhd skipped in-use
sub/kid.vhd done -
sub/par.vhd skipped has-children
x.bin done -"

# check_done JSON: every done disk's sizes are its file's, it checks
# clean and reads as before; every other disk is byte-identical.
check_done ()
{
    python3 - "$1" "$d/top/" > "$d/rows" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["disks"]:
    print(r["file"].replace(sys.argv[2], ""), r["status"], r["size-before"], r["size-after"], r["saved"])
PY
    local f status before after saved
    while read -r f status before after saved; do
        if [[ $status != done ]]; then
            cmp -s "$d/top/$f" "$(orig "$f")" || fail "$f ($status) changed"
            continue
        fi
        [[ $before = "$(stat -c %s "$(orig "$f")")" ]] || fail "$f: size-before $before, the file had $(stat -c %s "$(orig "$f")")"
        [[ $after = "$(stat -c %s "$d/top/$f")" ]] || fail "$f: size-after $after, the file has $(stat -c %s "$d/top/$f")"
        (( saved == before - after )) || fail "$f: saved $saved"
        "$VHDCTL" check "$d/top/$f" >/dev/null || fail "$f: vhdctl check"
        read_disk "$d/top/$f" "$d/now.raw"
        cmp -s "$d/now.raw" "$(orig "$f").raw" || fail "$f reads differently"
    done < "$d/rows"
}

echo "== a folder, recursively, in-process"
make_tree
hold "$d/top/sub/held.vhd"
rc=0; compact --recursive --json "$d/top" > "$d/run1.json" 2> "$d/run1.err" || rc=$?
[[ $rc = 1 ]] || { cat "$d/run1.err" >&2; fail "exit status $rc with a failed disk, expected 1"; }
expect_rows "$d/run1.json" "$want_first"
check_done "$d/run1.json"
(( $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["saved"])' "$d/run1.json") > 0 )) ||
    fail "nothing saved"
echo "first run: $(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["done"], "done,", j["skipped"], "skipped,", j["failed"], "failed, saved", j["saved"])' "$d/run1.json")"

echo "== the table says the same"
make_tree
rc=0; compact --recursive "$d/top" > "$d/table" 2> "$d/table.err" || rc=$?
[[ $rc = 1 ]] || fail "table run: exit $rc"
head -n 1 "$d/table" | grep -Eq '^FILE +BEFORE +AFTER +SAVED +STATUS$' || fail "table header: $(head -n 1 "$d/table")"
grep -Eq "^$d/top/a\.vhd +[0-9.]+ MiB +[0-9.]+ MiB +[0-9.]+ MiB +done$" "$d/table" || { cat "$d/table" >&2; fail "a.vhd's row"; }
grep -Eq "^$d/top/sub/par\.vhd +- +- +- +skipped: has-children: .*kid\.vhd" "$d/table" || { cat "$d/table" >&2; fail "par.vhd's row"; }
grep -Eq "^$d/top/sub/bad\.vhd +- +- +- +failed: bad-checksum: " "$d/table" || { cat "$d/table" >&2; fail "bad.vhd's row"; }
# held.vhd is not held this time: done.
grep -Eq "^$d/top/sub/held\.vhd .* done$" "$d/table" || { cat "$d/table" >&2; fail "held.vhd's row"; }
tail -n 1 "$d/table" | grep -Eq '^8 disks: 5 done, 2 skipped, 1 failed; saved [0-9.]+ MiB$' ||
    { cat "$d/table" >&2; fail "the total line: $(tail -n 1 "$d/table")"; }
[[ ! -s $d/table.err ]] || { cat "$d/table.err" >&2; fail "--no-progress printed on stderr"; }

echo "== --jobs 2, then a second run, a dry run, without the failure"
make_tree
rm "$d/top/sub/bad.vhd"
hold "$d/top/sub/held.vhd"
compact --recursive --jobs 2 --json "$d/top" > "$d/j2.json" || fail "--jobs 2 without a failure: exit $?"
expect_rows "$d/j2.json" "$(grep -v bad.vhd <<<"$want_first")"
check_done "$d/j2.json"
for f in a.vhd x.bin sub/kid.vhd deep/d/e.vhd; do cp -- "$d/top/$f" "$d/after.${f//\//_}"; done
compact --recursive --dry-run --json "$d/top" > "$d/dry.json" || fail "--dry-run: exit $?"
compact --recursive --json "$d/top" > "$d/again.json" || fail "second run: exit $?"
for j in dry again; do
    [[ $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["saved"])' "$d/$j.json") = 0 ]] ||
        fail "the $j run saves something after a finished run"
done
for f in a.vhd x.bin sub/kid.vhd deep/d/e.vhd; do
    cmp -s "$d/top/$f" "$d/after.${f//\//_}" || fail "$f changed in the second run"
done
release

echo "== usage: a folder without --recursive, several files, nothing found"
rc=0; compact "$d/top" 2> "$d/err" || rc=$?
[[ $rc = 1 ]] && grep -qxF "vhdctl: '$d/top': not-supported: a folder: give --recursive to compact the disks in it" "$d/err" ||
    { cat "$d/err" >&2; fail "a folder without --recursive: exit $rc"; }
make_tree
compact --json "$d/top/a.vhd" "$d/top/x.bin" "$d/top/sub/../a.vhd" > "$d/two.json" || fail "two files: exit $?"
expect_rows "$d/two.json" "a.vhd done -
x.bin done -"
mkdir "$d/none"
compact --recursive "$d/none" > "$d/none.out" || fail "an empty folder: exit $?"
grep -qx "No VHD or VHDX disks found." "$d/none.out" || fail "an empty folder: $(cat "$d/none.out")"

echo "== SIGTERM in the middle: the rest not run, every disk valid"
make_tree
rm "$d/top/sub/bad.vhd"
export VHDCOMPACT_TEST_MOVE_PAUSE=$d/pause
# (vhdctl itself in the background, env exec'ing it: a function would be a
# subshell.)
env ${VHD_SANITIZER_PRELOAD:+LD_PRELOAD="$VHD_SANITIZER_PRELOAD"} VHDCOMPACT_PLUGIN="$VHD_PLUGIN" \
    "$VHDCTL" compact --local --no-progress --recursive --json "$d/top" > "$d/term.json" 2> "$d/term.err" &
pid=$!
for ((i = 0; i < 200; i++)); do [[ -e $d/pause ]] && break; sleep 0.05; done
[[ -e $d/pause ]] || fail "no disk reached its moves"
kill -TERM "$pid"
sleep 0.2
rm -f "$d/pause"
rc=0; wait "$pid" || rc=$?
unset VHDCOMPACT_TEST_MOVE_PAUSE
[[ $rc = 1 ]] || { cat "$d/term.err" >&2; fail "interrupted run: exit $rc, expected 1"; }
python3 - "$d/term.json" <<'PY' || fail "interrupted run: $(cat "$d/term.json")"
import json, sys
j = json.load(open(sys.argv[1]))
st = [r["status"] for r in j["disks"]]
first = j["disks"][0]
assert st[0] == "failed" and first["message"].startswith("cancelled: the image is valid"), first
assert all(s == "not-run" for s in st[1:]), st
PY
for f in a.vhd x.bin sub/par.vhd sub/kid.vhd sub/held.vhd deep/d/e.vhd; do
    "$VHDCTL" check "$d/top/$f" >/dev/null || fail "$f: not valid after the interrupted run"
done
read_disk "$d/top/a.vhd" "$d/now.raw"
cmp -s "$d/now.raw" "$(orig a.vhd).raw" || fail "a.vhd reads differently after the interruption"
echo "interrupted: the disk being compacted cancelled and valid, $(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[\"not-run\"])" "$d/term.json") not run"

echo "== through the daemon"
if ! command -v dbus-daemon >/dev/null || ! command -v busctl >/dev/null || [[ -z ${VHD_COMPACTD:-} ]]; then
    echo "daemon: skipped: no dbus-daemon, busctl or vhd-compactd here"
else
    start_test_bus
    start_daemon
    cleanup_fn show_daemon_log_on_failure
    make_tree
    rm "$d/top/sub/bad.vhd"
    "$VHDCTL" compact --bus --no-progress --recursive --jobs 2 --json "$d/top" > "$d/bus.json" ||
        fail "through the daemon: exit $?"
    expect_rows "$d/bus.json" "$(printf '%s\n' "$(grep -v -e bad.vhd -e held.vhd <<<"$want_first")" "sub/held.vhd done -" | sort)"
    check_done "$d/bus.json"
    echo "through the daemon: the same disks done and skipped"
fi
echo "all folder-run checks passed"
