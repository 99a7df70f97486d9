#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# vhd-compact-worker, driven directly by worker-harness.py playing the
# daemon (control socket at fd 3, the disk at 4, its folder at 5; "open"
# answered as the daemon's broker does).  The harness fails the test on any
# breach of daemon/worker-protocol.h (unknown or malformed message, no
# result or not last, exit status not 0 after "result ok" / 1 after
# "result fail"); here we judge the content, against oracles that are not
# the worker: `vhdctl analyze`/`vhdctl compact --dry-run` (the nbdkit
# attach), the file's bytes, vhdctl check, the plugin's merged view and
# ntfs-3g for the files.
#
#   a. an NTFS disk with deleted files, mode fs, compacts to exactly
#      analyze's final-size, with the phases in order, the same drops and
#      moves as `vhdctl compact --dry-run`, every file's sha256 intact;
#   b. its dry run (read-only descriptor) writes nothing and announces the
#      same sizes;
#   c. a differencing child: its parent arrives through "open" (mode zero
#      drops the child's zero block, the merged view is unchanged; a full
#      dry run agrees with vhdctl's); a daemon answering "error 13" fails it
#      as parent-not-found, Permission denied, file untouched; its parent
#      is refused (has-children: child found through fd 5 and "open"), and with no fd 5
#      too (the search fails closed: not-supported naming the folder,
#      nothing opened), while --mode zero needs no search;
#   d. cancel: at once (nothing written) and mid-move (held at "phase
#      moving" by VHDCOMPACT_TEST_WORKER_HOLD): "result fail 125 -", a
#      valid image reading the same, some blocks moved, and a new run
#      finishes the job;
#   e. a corrupt footer, and a file that is not a VHD: "result fail" with
#      the problem id and vhdctl's message without the file name, the file
#      byte-identical;
#   f. as root: the worker as nobody (setpriv, no_new_privs) compacts a
#      root-owned 0600 file in a 0700 folder, and a differencing child
#      there, through the passed descriptors alone.
set -euo pipefail
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/ntfs-functions.sh"
requires python3 qemu-img qemu-io nbdkit nbdcopy mkntfs ntfs-3g ntfsclone b2sum sha256sum cmp od dd
requires_env VHDCTL VHD_PLUGIN VHD_WORKER
make_tmpdir
. "$(dirname "$0")/compact-functions.sh"
d=$tmpdir
python3 -c 'import socket; socket.send_fds' 2>/dev/null || skip "python3 has no socket.send_fds (3.9+ needed)"
harness=$srcdir/worker-harness.py

# worker NAME DISK [HARNESS-OPTIONS...] -- WORKER-ARGS...: the worker on
# DISK through the harness; the conversation in $d/NAME.log.  The worker
# must say nothing on stderr (no warning, no sanitizer report).
worker ()
{
    local name=$1 disk=$2 rc=0
    shift 2
    local -a hopts=()
    while [[ $1 != -- ]]; do hopts+=("$1"); shift; done
    shift
    python3 "$harness" "${hopts[@]}" "$disk" -- "$VHD_WORKER" --path "$disk" "$@" \
        >"$d/$name.log" 2>"$d/$name.err" || rc=$?
    if [[ $rc != 0 || -s $d/$name.err ]]; then
        cat "$d/$name.log" "$d/$name.err" >&2
        fail "$name: harness exit $rc (3: protocol broken), or output on stderr"
    fi
}

# result NAME: the result line, without "< result ".
result () { sed -n 's/^< result //p' "$d/$1.log"; }
# kv NAME KEY: a value of "result ok".
kv () { result "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
# phases NAME: the phases announced, on one line.
phases () { sed -n 's/^< phase //p' "$d/$1.log" | tr '\n' ' '; }

expect_ok ()
{
    [[ $(result "$1") = ok\ * ]] || { cat "$d/$1.log" >&2; fail "$1: expected result ok"; }
}

# expect_fail NAME ERRNO ID: "result fail ERRNO ID MESSAGE"; sets $msg.
expect_fail ()
{
    local r
    r=$(result "$1")
    [[ $r = "fail $2 $3 "* ]] || { cat "$d/$1.log" >&2; fail "$1: expected 'result fail $2 $3 ...', got '$r'"; }
    msg=${r#"fail $2 $3 "}
}

# vhdctl_line FILE ARGS...: the message vhdctl prints for FILE after
# "vhdctl: 'FILE': " (it must fail).
vhdctl_line ()
{
    local f=$1 line
    shift
    ! vhdctl_attaching "$@" "$f" >/dev/null 2>"$d/vhdctl.err" || fail "vhdctl $* '$f' did not fail"
    line=$(head -n 1 "$d/vhdctl.err")
    echo "${line#"vhdctl: '$f': "}"
}

have_fuse || skip "ntfs-3g cannot mount images here (no FUSE)"
# vhdctl's own engine, never a daemon's worker, is the oracle.
local_opt=
if "$VHDCTL" compact --help 2>&1 | grep -q -- --local; then local_opt=--local; fi

echo "== a, b: an NTFS disk with deleted files, mode fs"
mkdir -m 0700 "$d/a"
mkfs_ntfs "$d/a.ntfs" 64 4096 0 21 12 4
qemu-img convert -f raw -O vpc -o subformat=dynamic "$d/a.ntfs" "$d/a/disk.vhd"
rm -f "$d/a.ntfs"
disk=$d/a/disk.vhd
cp -- "$disk" "$d/a.orig"
ntfs_parts="0:$((64 * MIB)):$d/a.ntfs.sums"
final=$(vhdctl_attaching analyze --json "$disk" | json_num final-size)
before=$(file_size "$disk")
(( final < before )) || fail "a: test setup: analyze finds nothing to reclaim"
vhdctl_attaching compact ${local_opt:+"$local_opt"} --dry-run --json --no-progress --mode fs "$disk" >"$d/a.vhdctl.json"
img_to_raw "$disk" "$d/a.raw"
ntfs_verify "$d/a.raw" a > "$d/a.fp0"

worker a-dry "$disk" --readonly -- --mode fs --dry-run
expect_ok a-dry
# One "volume" line, before the result: the whole-disk NTFS, scanned and
# clean, its free bytes those of vhdctl analyze --json.
vols=$(sed -n 's/^< volume //p' "$d/a-dry.log")
fsfree=$(vhdctl_attaching analyze --json "$disk" | json_num free-bytes)
[[ $(wc -l <<<"$vols") = 1 && $vols =~ ^0\ 0\ [1-9][0-9]*\ 4096\ [0-9]+\ [0-9]+\ $fsfree\ [1-9][0-9]*\ 1\ 1\ ntfs$ ]] ||
    fail "a-dry: volume lines '$vols' (vhdctl: free-bytes $fsfree)"
[[ $(grep -n '^< volume ' "$d/a-dry.log" | cut -d: -f1) -lt $(grep -n '^< result ' "$d/a-dry.log" | cut -d: -f1) ]] ||
    fail "a-dry: the volume line comes after the result"
cmp -s "$d/a.orig" "$disk" || fail "b: the dry run changed the file"
[[ $(kv a-dry size-after) = "$final" && $(kv a-dry size-before) = "$before" ]] ||
    fail "b: dry run says $(kv a-dry size-before) -> $(kv a-dry size-after), analyze $before -> $final"
grep -qx "< planned $before $final" "$d/a-dry.log" || fail "b: no 'planned $before $final'"
[[ $(phases a-dry) = "attaching scanning " ]] || fail "b: dry-run phases '$(phases a-dry)'"
echo "b: dry run: $before -> $final announced, nothing written"

worker a "$disk" -- --mode fs
expect_ok a
[[ $(kv a size-after) = "$final" && $(file_size "$disk") = "$final" ]] ||
    fail "a: reported $(kv a size-after), file is $(file_size "$disk"), analyze said $final"
[[ $(kv a mode) = fs && $(kv a size-before) = "$before" ]] || fail "a: wrong mode or size-before: $(result a)"
for k in blocks-dropped-fs blocks-dropped-zero blocks-moved bytes-moved size-after; do
    [[ $(kv a "$k") = $(kv a-dry "$k") && $(kv a "$k") = $(json_num "$k" < "$d/a.vhdctl.json") ]] ||
        fail "a: $k: worker $(kv a "$k"), its dry run $(kv a-dry "$k"), vhdctl $(json_num "$k" < "$d/a.vhdctl.json")"
done
(( $(kv a blocks-moved) > 0 )) || fail "a: test setup: nothing moved"
[[ $(phases a) = "attaching scanning moving truncating " ]] || fail "a: phases '$(phases a)'"
grep -qx "< planned $before $final" "$d/a.log" || fail "a: no 'planned $before $final'"
grep -q '^< progress \([0-9]*\) \1$' "$d/a.log" || fail "a: no progress reached its total"
"$VHDCTL" check "$disk" >/dev/null || fail "a: vhdctl check"
img_to_raw "$disk" "$d/a.raw"
ntfs_verify "$d/a.raw" a files > "$d/a.fp1"
cmp -s "$d/a.fp0" "$d/a.fp1" || fail "a: ntfsclone sees different used clusters"
rm -f "$d/a.raw"
echo "a: $before -> $final bytes (analyze's final-size), files intact; $(result a)"

echo "== c: a differencing child; its parent through 'open'"
mkdir "$d/c"
mkfs_ntfs "$d/c.ntfs" 48 4096 0 22 8 3
qemu-img convert -f raw -O vpc -o subformat=dynamic "$d/c.ntfs" "$d/c/par.vhd"
rm -f "$d/c.ntfs"
"$VHDCTL" create "$d/c/child.vhd" --parent "$d/c/par.vhd" >/dev/null
fmt_geometry "$d/c/par.vhd"
alloc_blocks "$d/c/par.vhd" > "$d/c.pbat"
# Two blocks the parent does not hold (free space of its volume): in the
# child, one gets zeros (droppable: the parent reads zeros there too), the
# other data.
free=()
for ((b = 0; b < img_n - 1 && ${#free[@]} < 2; b++)); do
    grep -q "^$b " "$d/c.pbat" || free+=("$b")
done
(( ${#free[@]} == 2 )) || fail "c: test setup: not two unallocated blocks in the parent"
serve "$d/c/child.vhd" --run "qemu-io -f raw -c 'write -q -P 0 $((free[0] * img_bs)) $img_bs' \
    -c 'write -q -P 0x6b $((free[1] * img_bs + 4096)) 65536' \"\$uri\""
[[ $(alloc_blocks "$d/c/child.vhd" | wc -l) = 2 ]] || fail "c: test setup: the child does not hold two blocks"
cp -- "$d/c/par.vhd" "$d/c.par.orig"
cp -- "$d/c/child.vhd" "$d/c.child.orig"
img_to_raw "$d/c/child.vhd" "$d/c.raw0"

worker c-deny "$d/c/child.vhd" --deny-open 13 -- --mode zero
expect_fail c-deny 13 parent-not-found
[[ $msg = *"Permission denied"* && $msg = *"$d/c/par.vhd"* ]] ||
    fail "c: the refusal does not say which parent and why: '$msg'"
cmp -s "$d/c.child.orig" "$d/c/child.vhd" || fail "c: a refused run changed the child"
echo "c: parent denied: $msg"

vhdctl_attaching compact ${local_opt:+"$local_opt"} --dry-run --json --no-progress --mode full "$d/c/child.vhd" >"$d/c.vhdctl.json"
worker c-full-dry "$d/c/child.vhd" --readonly -- --mode full --dry-run
expect_ok c-full-dry
for k in size-after blocks-dropped-fs blocks-dropped-zero blocks-moved; do
    [[ $(kv c-full-dry "$k") = $(json_num "$k" < "$d/c.vhdctl.json") ]] ||
        fail "c: full dry run: $k: worker $(kv c-full-dry "$k"), vhdctl $(json_num "$k" < "$d/c.vhdctl.json")"
done

worker c "$d/c/child.vhd" -- --mode zero
expect_ok c
grep -A1 -x "< open $d/c/par.vhd" "$d/c.log" | grep -qx '> fd' || fail "c: the parent was not asked for and passed"
[[ $(kv c blocks-dropped-zero) = 1 ]] || fail "c: dropped $(kv c blocks-dropped-zero) zero blocks, expected 1"
"$VHDCTL" check "$d/c/child.vhd" >/dev/null || fail "c: vhdctl check"
img_to_raw "$d/c/child.vhd" "$d/c.raw1"
cmp -s "$d/c.raw0" "$d/c.raw1" || fail "c: the child reads differently"
cmp -s "$d/c.par.orig" "$d/c/par.vhd" || fail "c: the parent changed"
rm -f "$d/c.raw0" "$d/c.raw1"
echo "c: $(result c)"

# The parent has a child beside it: found through fd 5 and "open".
worker c-parent "$d/c/par.vhd" --readonly -- --mode full --dry-run
expect_fail c-parent 16 has-children
[[ $msg = *"$d/c/child.vhd"* ]] || fail "c: the refusal does not name the child: '$msg'"
grep -qx "< open $d/c/child.vhd" "$d/c-parent.log" || fail "c: the child was not opened through 'open'"
worker c-parent-nodir "$d/c/par.vhd" --readonly --no-dir -- --mode full --dry-run
expect_fail c-parent-nodir 13 not-supported
[[ $msg = *"cannot list the folder '$d/c'"* ]] || fail "c: without fd 5: '$msg'"
! grep -q '^< open ' "$d/c-parent-nodir.log" || fail "c: without fd 5 the worker still opened files"
worker c-parent-nodir-zero "$d/c/par.vhd" --readonly --no-dir -- --mode zero --dry-run
expect_ok c-parent-nodir-zero
echo "c: parent refused with fd 5 ($msg), and without it (the search fails closed); zero mode allowed"

echo "== d: cancel"
qemu-img create -q -f vpc -o subformat=dynamic "$d/d.vhd" 96M
# Blocks 0-19 allocated zeros, 20-39 data: zero mode drops 20, moves 20.
qemu-io -f vpc -c "write -q -P 0 0 40M" -c "write -q -P 0x3c 40M 40M" "$d/d.vhd"
cp -- "$d/d.vhd" "$d/d.orig"
img_to_raw "$d/d.vhd" "$d/d.raw0"
worker d-dry "$d/d.vhd" --readonly -- --mode zero --dry-run
expect_ok d-dry
(( $(kv d-dry blocks-moved) > 8 )) || fail "d: test setup: $(kv d-dry blocks-moved) moves, not more than a queue's depth"

worker d-now "$d/d.vhd" --cancel-at "" -- --mode zero
expect_fail d-now 125 -
cmp -s "$d/d.orig" "$d/d.vhd" || fail "d: a run cancelled before scanning changed the file"

VHDCOMPACT_TEST_WORKER_HOLD=moving worker d-mid "$d/d.vhd" --cancel-at "phase moving" -- --mode zero
expect_fail d-mid 125 -
[[ $msg = *valid* ]] || fail "d: the cancel message does not say the image is valid: '$msg'"
"$VHDCTL" check "$d/d.vhd" >/dev/null || fail "d: the cancelled image does not check clean"
img_to_raw "$d/d.vhd" "$d/d.raw1"
cmp -s "$d/d.raw0" "$d/d.raw1" || fail "d: the cancelled image reads differently"
alloc_blocks "$d/d.orig" > "$d/d.bat0"
alloc_blocks "$d/d.vhd" > "$d/d.bat1"
moved=$(awk 'NR == FNR { at[$1] = $2; next } ($1 in at) && at[$1] != $2' "$d/d.bat0" "$d/d.bat1" | wc -l)
(( moved > 0 && moved < $(kv d-dry blocks-moved) )) ||
    fail "d: $moved of $(kv d-dry blocks-moved) blocks moved before the cancel took effect"
worker d-again "$d/d.vhd" -- --mode zero
expect_ok d-again
[[ $(file_size "$d/d.vhd") = $(kv d-dry size-after) ]] ||
    fail "d: after the cancel, a new run made $(file_size "$d/d.vhd") bytes, the dry run said $(kv d-dry size-after)"
"$VHDCTL" check "$d/d.vhd" >/dev/null || fail "d: vhdctl check after the new run"
img_to_raw "$d/d.vhd" "$d/d.raw1"
cmp -s "$d/d.raw0" "$d/d.raw1" || fail "d: the finished image reads differently"
echo "d: cancelled after $moved of $(kv d-dry blocks-moved) moves ($msg); a new run finished"

echo "== e: refusals"
cp -- "$d/d.orig" "$d/e.vhd"
size=$(file_size "$d/e.vhd")
poke "$d/e.vhd" $((size - 512 + 64)) "$(hexn 4 $(( ($(be "$d/e.vhd" $((size - 512 + 64)) 4) + 1) & 0xffffffff )))"
cp -- "$d/e.vhd" "$d/e.copy"
worker e "$d/e.vhd" -- --mode full
expect_fail e 74 bad-checksum
cmp -s "$d/e.copy" "$d/e.vhd" || fail "e: a refused run changed the file"
[[ $msg = "$(vhdctl_line "$d/e.vhd" analyze)" ]] ||
    fail "e: message '$msg', vhdctl says '$(vhdctl_line "$d/e.vhd" analyze)'"
[[ $msg != *"$d"* ]] || fail "e: the message names the file: '$msg'"
head -c $((3 * MIB)) /dev/urandom > "$d/e2.vhd"
cp -- "$d/e2.vhd" "$d/e2.copy"
worker e2 "$d/e2.vhd" -- --mode full
expect_fail e2 74 bad-cookie
cmp -s "$d/e2.copy" "$d/e2.vhd" || fail "e: not a VHD: the file changed"
echo "e: refused: $(result e)"

echo "== f: the worker as nobody, with descriptors only"
if (( EUID == 0 )) && command -v setpriv >/dev/null && id nobody >/dev/null 2>&1 &&
   getent group nogroup >/dev/null; then
    mkdir -m 0700 "$d/f" "$d/f2"
    cp -- "$d/a.orig" "$d/f/disk.vhd"
    cp -- "$d/c.par.orig" "$d/f2/par.vhd"
    cp -- "$d/c.child.orig" "$d/f2/child.vhd"
    chmod 0600 "$d/f/disk.vhd" "$d/f2/par.vhd" "$d/f2/child.vhd"
    ! setpriv --reuid=nobody --regid=nogroup --clear-groups cat "$d/f/disk.vhd" >/dev/null 2>&1 ||
        fail "f: test setup: nobody can read the disk by name"
    worker f "$d/f/disk.vhd" --setpriv -- --mode fs
    expect_ok f
    [[ $(file_size "$d/f/disk.vhd") = "$final" ]] ||
        fail "f: $(file_size "$d/f/disk.vhd") bytes, analyze said $final"
    "$VHDCTL" check "$d/f/disk.vhd" >/dev/null || fail "f: vhdctl check"
    img_to_raw "$d/f/disk.vhd" "$d/f.raw"
    ntfs_verify "$d/f.raw" f files > "$d/f.fp1"
    cmp -s "$d/a.fp0" "$d/f.fp1" || fail "f: ntfsclone sees different used clusters"
    worker f2 "$d/f2/child.vhd" --setpriv -- --mode zero
    expect_ok f2
    grep -A1 -x "< open $d/f2/par.vhd" "$d/f2.log" | grep -qx '> fd' || fail "f: the parent was not passed"
    [[ $(kv f2 blocks-dropped-zero) = 1 ]] || fail "f: the child: $(result f2)"
    "$VHDCTL" check "$d/f2/child.vhd" >/dev/null || fail "f: vhdctl check of the child"
    echo "f: as nobody: $(result f)"
else
    echo "f: skipped: not root, or no setpriv, user nobody or group nogroup"
fi
echo ok
