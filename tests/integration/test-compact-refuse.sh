#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# What `vhdctl compact` must refuse.  Each case is a disk that a compaction
# would otherwise shrink (NTFS with deleted files, converted by qemu-img),
# made unfit one way: a fixed disk; not a VHD (random bytes, the raw disk,
# an empty file, a missing file, a folder); a file it may not write (immutable with chattr +i, on a
# read-only bind mount, or opened by an unprivileged user, whichever this
# system allows; chmod 0444 when not root); a bad footer checksum; a BAT
# entry past the end of the file; the saved-state flag (set in both footer
# copies, checksums fixed); in use by qemu-nbd (qemu's image locks); a
# parent with a differencing child beside it (full and fs modes).
# Every refusal exits 1 (not a crash, no sanitizer report), prints exactly
# one line on stderr ("vhdctl: 'FILE': ...", with the problem id where
# there is one), nothing on stdout, and leaves the file byte-identical.
# The --dry-run of each refused case is refused the same way, except
# "in use" (a dry run only reads).
# Then what is allowed for a parent with a child: --mode zero (the
# parent's allocated zero blocks go, and the child, which partly overwrote
# such a block, reads the same merged content as before) and
# --force-children (the parent reaches its fs optimum, the child's NTFS
# volume is intact).
set -euo pipefail
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/ntfs-functions.sh"
requires qemu-img qemu-io qemu-nbd nbdkit nbdcopy mkntfs ntfs-3g ntfsclone dd cmp od b2sum
requires_env VHDCTL VHD_PLUGIN
make_tmpdir
. "$(dirname "$0")/compact-functions.sh"
d=$tmpdir
have_fuse || skip "ntfs-3g cannot mount images here (no FUSE)"

mkfs_ntfs "$d/disk.ntfs" 48 4096 0 11 12 4
fmt_from_raw "$d/disk.ntfs" "$d/base.vhd"
# The disk is worth compacting: analyze promises a smaller file.
mkdir "$d/probe"
cp "$d/base.vhd" "$d/probe/base.vhd"
vhdctl_attaching analyze --json "$d/probe/base.vhd" > "$d/base.json"
(( $(json_num final-size < "$d/base.json") < $(file_size "$d/base.vhd") )) ||
  fail "test setup: nothing to compact in the base disk"
rm -rf "$d/probe"
ntfs_parts="0:$((48 * MIB)):$d/disk.ntfs.sums"

# refused NAME FILE ID [ARGS...]: compact FILE (and its --dry-run) is
# refused with one line naming FILE and ID (ID "-": no id to check), and
# FILE is unchanged.  With DRY_OK=1, FILE may only not be written: its
# dry run must succeed, still changing nothing.
refused ()
{
    local name=$1 f=$2 id=$3 rc dry
    shift 3
    if [[ -f $f ]]; then cp -- "$f" "$d/$name.copy"; fi
    for dry in --dry-run ""; do
        rc=0
        vhdctl_attaching compact --no-progress $dry "$@" "$f" >"$d/$name.out" 2>"$d/$name.err" || rc=$?
        if [[ -n $dry && ${DRY_OK:-0} = 1 ]]; then
            [[ $rc = 0 ]] || { cat "$d/$name.err" >&2; fail "$name ($dry): exit status $rc, expected 0"; }
            cmp -s -- "$d/$name.copy" "$f" || fail "$name ($dry): the file changed"
        else
            check_refusal "$name${dry:+ ($dry)}" "$f" "$id" "$rc"
        fi
    done
    echo "$name: refused: $(cat "$d/$name.err")"
}

# check_refusal WHAT FILE ID RC
check_refusal ()
{
    local what=$1 f=$2 id=$3 rc=$4 name=${1%% *}
    [[ $rc = 1 ]] || { cat "$d/$name.err" >&2; fail "$what: exit status $rc, expected 1"; }
    [[ ! -s $d/$name.out ]] || { cat "$d/$name.out" >&2; fail "$what: wrote to stdout"; }
    [[ $(wc -l < "$d/$name.err") = 1 ]] ||
        { cat "$d/$name.err" >&2; fail "$what: $(wc -l < "$d/$name.err") lines on stderr, expected one"; }
    grep -qF "vhdctl: '$f': " "$d/$name.err" || { cat "$d/$name.err" >&2; fail "$what: the line does not name the file"; }
    [[ $id = - ]] || grep -qF ": $id: " "$d/$name.err" ||
        { cat "$d/$name.err" >&2; fail "$what: expected problem id '$id'"; }
    if [[ -e $d/$name.copy ]]; then
        cmp -s -- "$d/$name.copy" "$f" || fail "$what: the file changed"
    elif [[ ! -d $f ]]; then
        [[ ! -e $f ]] || fail "$what: the file was created"
    fi
}

echo "== a fixed disk"
qemu-img convert -f raw -O vpc -o subformat=fixed "$d/disk.ntfs" "$d/fixed.vhd"
refused fixed "$d/fixed.vhd" not-supported
grep -q 'fixed' "$d/fixed.err" || fail "fixed: the message does not say why"

echo "== not a VHD"
head -c $((3 * MIB)) /dev/urandom > "$d/random.vhd"
refused random "$d/random.vhd" bad-cookie
cp "$d/disk.ntfs" "$d/rawdisk.vhd"
refused rawdisk "$d/rawdisk.vhd" bad-cookie
: > "$d/empty.vhd"
refused empty "$d/empty.vhd" file-too-small
refused missing "$d/no-such.vhd" file-not-found
mkdir "$d/folder.vhd"
refused folder "$d/folder.vhd" not-supported

echo "== a file this process may not write"
n_ro=0
cp "$d/base.vhd" "$d/immutable.vhd"
if (( EUID == 0 )) && chattr +i "$d/immutable.vhd" 2>/dev/null; then
  cleanup_fn chattr -i "$d/immutable.vhd"
  DRY_OK=1 refused immutable "$d/immutable.vhd" access-denied
  chattr -i "$d/immutable.vhd"
  n_ro=$((n_ro + 1))
else
  echo "immutable: skipped: chattr +i not supported here (or not root)"
fi
if (( EUID == 0 )) && mkdir "$d/romnt" && mount --bind "$d/romnt" "$d/romnt" 2>/dev/null; then
  cleanup_fn _ntfs_umount_quiet "$d/romnt"
  cp "$d/base.vhd" "$d/romnt/ro.vhd"
  if mount -o remount,bind,ro "$d/romnt" 2>/dev/null; then
    DRY_OK=1 refused robind "$d/romnt/ro.vhd" access-denied
    grep -qi 'read-only' "$d/robind.err" || fail "robind: the message does not say read-only"
    n_ro=$((n_ro + 1))
  else
    echo "robind: skipped: cannot remount a bind mount read-only here"
  fi
  umount "$d/romnt"
else
  echo "robind: skipped: cannot bind-mount here (or not root)"
fi
if (( EUID == 0 )) && command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
  # A root-owned 0644 file in a directory nobody may enter: readable, not writable.
  chmod 0711 "$d"
  mkdir -m 0755 "$d/pub"
  cp "$d/base.vhd" "$d/pub/ro.vhd"
  chmod 0644 "$d/pub/ro.vhd"
  cp "$d/pub/ro.vhd" "$d/nobody.copy"
  for dry in --dry-run ""; do
    rc=0
    if [[ -n ${VHD_SANITIZER_PRELOAD:-} ]]; then
      setpriv --reuid=nobody --regid=nogroup --clear-groups env LD_PRELOAD="$VHD_SANITIZER_PRELOAD" \
        VHDCOMPACT_PLUGIN="$VHD_PLUGIN" "$VHDCTL" compact --no-progress $dry "$d/pub/ro.vhd" \
        >"$d/nobody.out" 2>"$d/nobody.err" || rc=$?
    else
      setpriv --reuid=nobody --regid=nogroup --clear-groups env VHDCOMPACT_PLUGIN="$VHD_PLUGIN" \
        "$VHDCTL" compact --no-progress $dry "$d/pub/ro.vhd" >"$d/nobody.out" 2>"$d/nobody.err" || rc=$?
    fi
    if [[ -z $dry ]]; then
      check_refusal nobody "$d/pub/ro.vhd" access-denied "$rc"
      grep -qi 'permission denied' "$d/nobody.err" || fail "nobody: the message does not say permission denied"
    else
      # A dry run needs only read access: it runs, changing nothing.
      [[ $rc = 0 ]] || { cat "$d/nobody.err" >&2; fail "nobody (--dry-run): exit status $rc"; }
      cmp -s "$d/nobody.copy" "$d/pub/ro.vhd" || fail "nobody (--dry-run): the file changed"
    fi
  done
  echo "nobody: refused: $(head -n 1 "$d/nobody.err")"
  chmod 0700 "$d"
  n_ro=$((n_ro + 1))
elif (( EUID != 0 )); then
  cp "$d/base.vhd" "$d/ro.vhd"
  chmod 0444 "$d/ro.vhd"
  DRY_OK=1 refused readonly "$d/ro.vhd" access-denied
  n_ro=$((n_ro + 1))
else
  echo "nobody: skipped: no setpriv or no user nobody"
fi
(( n_ro > 0 )) || echo "read-only: every way to make a read-only file was unavailable: SKIPPED"

echo "== corrupt"
cp "$d/base.vhd" "$d/badsum.vhd"
size=$(file_size "$d/badsum.vhd")
poke "$d/badsum.vhd" $((size - 512 + 64)) "$(hexn 4 $(( ($(be "$d/badsum.vhd" $((size - 512 + 64)) 4) + 1) & 0xffffffff )))"
refused badsum "$d/badsum.vhd" bad-checksum
cp "$d/base.vhd" "$d/badbat.vhd"
fmt_geometry "$d/badbat.vhd"
first=$(alloc_blocks "$d/badbat.vhd" | sed -n 1p | cut -d' ' -f1)
poke "$d/badbat.vhd" $((vhd_table + 4 * first)) "$(hexn 4 $(( size / 512 + 8 )))"
refused badbat "$d/badbat.vhd" block-outside-file

echo "== saved state"
cp "$d/base.vhd" "$d/saved.vhd"
for at in 0 $((size - 512)); do
  poke "$d/saved.vhd" $((at + 84)) 01
  set_checksum "$d/saved.vhd" "$at" 512 64
done
"$VHDCTL" check "$d/saved.vhd" >/dev/null || fail "saved: test setup: the checksums are not right"
refused saved "$d/saved.vhd" saved-state

echo "== in use by qemu-nbd"
cp "$d/base.vhd" "$d/inuse.vhd"
cp "$d/inuse.vhd" "$d/inuse.copy"
start_qemu_nbd "$d/inuse.vhd"
rc=0
vhdctl_attaching compact --no-progress "$d/inuse.vhd" >"$d/inuse.out" 2>"$d/inuse.err" || rc=$?
check_refusal inuse "$d/inuse.vhd" in-use "$rc"
echo "inuse: refused: $(cat "$d/inuse.err")"
stop_qemu_nbd
cmp -s "$d/inuse.copy" "$d/inuse.vhd" || fail "inuse: the file changed"
# Once qemu-nbd is gone, the same file compacts.
vhdctl_attaching compact --no-progress "$d/inuse.vhd" >/dev/null || fail "inuse: refused after qemu-nbd exited"
(( $(file_size "$d/inuse.vhd") == $(json_num final-size-full < "$d/base.json") )) ||
  fail "inuse: compacted to $(file_size "$d/inuse.vhd"), analyze said $(json_num final-size-full < "$d/base.json")"

echo "== a parent with a differencing child beside it"
mkdir "$d/chain"
cp "$d/base.vhd" "$d/chain/par.vhd"
# Allocated zero blocks in the parent: every never-written block gets zeros.
fmt_geometry "$d/chain/par.vhd"
alloc_blocks "$d/chain/par.vhd" > "$d/par.bat"
qio=() zb=()
for ((b = 0; b < img_n - 1; b++)); do
  grep -q "^$b " "$d/par.bat" && continue
  zb+=("$b")
  qio+=(-c "write -q -P 0 $((b * img_bs)) $img_bs")
done
nz=${#zb[@]}
(( nz >= 2 )) || fail "test setup: fewer than 2 unallocated blocks in the parent"
qemu-io -f "$fmt_qemu_driver" "${qio[@]}" "$d/chain/par.vhd" >/dev/null
[[ $(alloc_blocks "$d/chain/par.vhd" | wc -l) = $(( $(wc -l < "$d/par.bat") + nz )) ]] ||
  fail "test setup: qemu-io did not allocate the zero blocks"
fmt_create_child "$d/chain/child.vhd" "$d/chain/par.vhd"
# The child overwrites a few sectors of one of those zero blocks that is
# free in the volume: the rest of that block it reads from the parent.
pclasses=$(block_classes "$d/chain/par.vhd" "$d/par.json")
zf=-1
for b in "${zb[@]}"; do
  [[ ${pclasses:b:1} = F ]] && { zf=$b; break; }
done
(( zf >= 0 )) || fail "test setup: no free zero block in the parent"
serve "$d/chain/child.vhd" --run "qemu-io -f raw -c 'write -q -P 0x5a $((zf * img_bs + 4096)) 8192' \"\$uri\""
img_to_raw "$d/chain/child.vhd" "$d/child.before.raw"
ntfs_verify "$d/child.before.raw" child > "$d/child.fp0"
child_copy=$d/child.vhd.copy
cp "$d/chain/child.vhd" "$child_copy"
for mode in full fs; do
  refused "parent-$mode" "$d/chain/par.vhd" has-children --mode "$mode"
  grep -qF "$d/chain/child.vhd" "$d/parent-$mode.err" || fail "parent-$mode: the message does not name the child"
done
cmp -s "$child_copy" "$d/chain/child.vhd" || fail "parent: the child changed"

# --mode zero is allowed: exactly the zero blocks go.
vhdctl_attaching compact --no-progress --json --mode zero "$d/chain/par.vhd" >"$d/pz.out" 2>"$d/pz.err" ||
  { cat "$d/pz.err" >&2; fail "parent --mode zero: refused"; }
[[ $(json_num blocks-dropped-zero < "$d/pz.out") = "$nz" ]] ||
  fail "parent --mode zero: dropped $(json_num blocks-dropped-zero < "$d/pz.out") zero blocks, expected $nz"
"$VHDCTL" check "$d/chain/par.vhd" >/dev/null || fail "parent --mode zero: check"
cut -d' ' -f1 "$d/par.bat" > "$d/par.idx0"
alloc_blocks "$d/chain/par.vhd" | cut -d' ' -f1 > "$d/par.idx1"
cmp -s "$d/par.idx0" "$d/par.idx1" || fail "parent --mode zero: the blocks left are not the original ones"
img_to_raw "$d/chain/child.vhd" "$d/child.after.raw"
cmp -s "$d/child.before.raw" "$d/child.after.raw" || fail "parent --mode zero: the child reads differently"
cmp -s "$child_copy" "$d/chain/child.vhd" || fail "parent --mode zero: the child file changed"
"$VHDCTL" check "$d/chain/child.vhd" >/dev/null || fail "parent --mode zero: the child no longer checks clean"
echo "parent: --mode zero dropped the $nz zero blocks; the child reads the same"

# --force-children is allowed: the parent's free blocks go too.
vhdctl_attaching compact --no-progress --json --force-children "$d/chain/par.vhd" >"$d/pf.out" 2>"$d/pf.err" ||
  { cat "$d/pf.err" >&2; fail "parent --force-children: refused"; }
(( $(json_num blocks-dropped-fs < "$d/pf.out") > 0 )) || fail "parent --force-children: dropped nothing"
(( $(file_size "$d/chain/par.vhd") == $(json_num final-size-full < "$d/base.json") )) ||
  fail "parent --force-children: $(file_size "$d/chain/par.vhd") bytes, analyze said $(json_num final-size-full < "$d/base.json")"
"$VHDCTL" check "$d/chain/par.vhd" >/dev/null || fail "parent --force-children: check"
"$VHDCTL" check "$d/chain/child.vhd" >/dev/null || fail "parent --force-children: the child no longer checks clean"
img_to_raw "$d/chain/child.vhd" "$d/child.after.raw"
ntfs_verify "$d/child.after.raw" "child after --force-children" files > "$d/child.fp1"
cmp -s "$d/child.fp0" "$d/child.fp1" || fail "parent --force-children: the child's NTFS volume changed"
echo "parent: --force-children compacted to $(file_size "$d/chain/par.vhd") bytes; the child's volume is intact"
echo ok
