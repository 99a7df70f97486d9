#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Differencing VHDX through the front ends (issue 14 items 4-6), on
# children made by the independent fixture builder (mkvhdx), with 7-Zip
# and libvhdi as the oracles:
#   - 512- and 4096-byte-sector children (FULLY_PRESENT, PARTIALLY_PRESENT,
#     NOT_PRESENT blocks) and a chain of three read through the plugin
#     (readonly=1) exactly as the builder expects and as 7-Zip extracts
#     them (libvhdi too: these children avoid the states it reads wrong);
#   - `vhdctl create` makes a dynamic VHDX (qemu-img check clean, zeros
#     through qemu and 7-Zip) and children of VHDX parents that read as
#     their parents through the plugin and 7-Zip; it never replaces a
#     file and refuses to mix VHD and VHDX in a chain;
#   - the plugin advertises the logical sector size as the NBD minimum and
#     preferred block size (nbdinfo);
#   - `vhdctl info --json` shows the chain (each parent nested, with its
#     DataWriteGuid = the child's parent_linkage); `vhdctl check` of a
#     child is clean;
#   - a VHD child whose parent is now a VHDX is refused (parent-mismatch);
#   - a child whose parent is gone or has changed (DataWriteGuid) is
#     refused by check, info and the plugin with parent-not-found /
#     parent-mismatch, files byte-identical;
#   - the user's mapping for the parent (--parent PATH, parent=PATH) opens
#     a child whose locators lead nowhere, as 7-Zip reads it; a wrong
#     disk or the child itself is refused (VHD alike).
set -euo pipefail
. "$(dirname "$0")/functions.sh"
requires nbdkit nbdcopy nbdinfo python3 cmp
requires_env VHDCTL VHD_PLUGIN MKVHDX
make_tmpdir
cd "$tmpdir"

seed=300
mk ()
{
    local name=$1
    shift
    seed=$(( seed + 1 ))
    "$MKVHDX" --guid-seed "$seed" "$@" --expected "$name.raw" --info "$name.vhdx" \
        > "$name.info" || fail "mkvhdx $* failed"
}
info () { awk -v k="$2" '$1 == k { print $2 }' "$1.info"; }
json () { "$VHDCTL" info --json "$1" | python3 -c "import json,sys; d=json.load(sys.stdin); print($2)"; }

# read_plugin NAME: the plugin's bytes equal NAME.raw.
read_plugin ()
{
    local name=$1
    serve "$name.vhdx" readonly=1 --run 'nbdcopy "$uri" '"$(printf %q "$tmpdir/$name.out")"
    cmp -s -- "$name.out" "$name.raw" || fail "$name: the plugin's bytes differ from the builder's"
    rm -f -- "$name.out"
}

check_7z ()
{
    local name=$1
    command -v 7zz >/dev/null 2>&1 || return 0
    7zz x -so -- "$name.vhdx" > "$name.7z.raw" 2>/dev/null || fail "7zz x $name.vhdx failed"
    cmp -s -- "$name.7z.raw" "$name.raw" || fail "$name: 7-Zip reads other bytes than the builder expects"
    rm -f -- "$name.7z.raw"
}

check_vhdi ()
{
    local name=$1 f=$2 m=$tmpdir/mnt-$1
    command -v vhdimount >/dev/null 2>&1 && [[ -c /dev/fuse ]] || return 0
    mkdir -p -- "$m"
    vhdimount -- "$name.vhdx" "$m" > /dev/null || fail "vhdimount $name.vhdx"
    cleanup_fn umount -q -- "$m"
    cmp -s -- "$m/$f" "$name.raw" || { umount -- "$m"; fail "$name: libvhdi reads other bytes"; }
    umount -- "$m"
}

for s in 512 4096; do
    mk "par$s" --sector "$s" --size 64M --fill 0:81,1:82,2:83,3:84,40:85,63:86
    mk "kid$s" --type diff --sector "$s" --size 64M --parent "par$s.vhdx" --parent-raw "par$s.raw" \
        --fill 1:91,50:92 --partial 2:93,41:94
    cmp -s "kid$s.raw" "par$s.raw" && fail "kid$s: the child reads as its parent"
    read_plugin "kid$s"
    check_7z "kid$s"
    check_vhdi "kid$s" vhdi2
    # The NBD block size is the logical sector.
    out=$(serve "kid$s.vhdx" readonly=1 --run 'nbdinfo --json "$uri"')
    python3 -c "import json,sys; d=json.loads(sys.argv[1]); e=d['exports'][0]; \
assert e['block_size_minimum']==$s and e['block_size_preferred']==$s, e" "$out" ||
        fail "kid$s: the plugin does not advertise $s-byte blocks: $out"
    "$VHDCTL" check "kid$s.vhdx" > /dev/null || fail "kid$s: check is not clean"
    [[ $(json "kid$s.vhdx" "d['type'], d['parent']['file'], d['parent']['headers'][d['parent']['current-header'] - 1]['data-write-guid'] == d['parent-locator']['parent_linkage']") == "differencing $tmpdir/par$s.vhdx True" ]] ||
        fail "kid$s: info --json does not show the parent: $("$VHDCTL" info --json "kid$s.vhdx")"
done

# A chain of three.
mk grand --type diff --size 64M --parent kid512.vhdx --parent-raw kid512.raw --fill 2:a1 --partial 1:a2,40:a3
read_plugin grand
check_7z grand
check_vhdi grand vhdi3
[[ $(json grand.vhdx "d['parent']['type'], d['parent']['parent']['type'], d['parent']['parent']['parent-locator'] if 'parent-locator' in d['parent']['parent'] else 'none'") == "differencing dynamic none" ]] ||
    fail "grand: info --json does not show the chain of three"
"$VHDCTL" info grand.vhdx | grep -q "^parent 2: *$tmpdir/par512.vhdx (dynamic)\$" ||
    fail "grand: info does not list the grandparent: $("$VHDCTL" info grand.vhdx)"

# vhdctl create: a dynamic VHDX (qemu and 7-Zip read it: zeros) and a
# child of a VHDX parent, read through 7-Zip, libvhdi and the plugin as
# the parent; its locator names the parent's DataWriteGuid.  (Children
# written through the plugin: test-vhdx-write.sh.)
"$VHDCTL" create new.vhdx --format vhdx --size 48M --block-size 2M --sector-size 4096 ||
    fail "vhdctl create of a dynamic VHDX failed"
[[ $(json new.vhdx "d['type'], d['virtual-size'], d['block-size'], d['logical-sector-size']") == "dynamic 50331648 2097152 4096" ]] ||
    fail "new.vhdx: not what was asked: $("$VHDCTL" info new.vhdx)"
head -c 50331648 /dev/zero > zero48.raw
if command -v 7zz >/dev/null 2>&1; then
    7zz x -so -- new.vhdx 2>/dev/null | cmp -s - zero48.raw || fail "new.vhdx: 7-Zip does not read zeros"
fi
"$VHDCTL" create new512.vhdx --format vhdx --size 16M || fail "vhdctl create (512) failed"
if command -v qemu-img >/dev/null 2>&1; then
    qemu-img check -q -f vhdx new512.vhdx || fail "new512.vhdx: qemu-img check complains"
    head -c 16777216 /dev/zero > zero16.raw
    qemu-img compare -q -f vhdx -F raw new512.vhdx zero16.raw || fail "new512.vhdx: qemu does not read zeros"
fi
for s in 512 4096; do
    "$VHDCTL" create "made$s.vhdx" --parent "par$s.vhdx" || fail "vhdctl create --parent par$s.vhdx failed"
    ! "$VHDCTL" create "made$s.vhdx" --parent "par$s.vhdx" 2>/dev/null || fail "create replaced an existing file"
    cp -- "par$s.raw" "made$s.raw"
    "$VHDCTL" check "made$s.vhdx" > /dev/null || fail "made$s: check is not clean"
    [[ $(json "made$s.vhdx" "d['type'], d['logical-sector-size'], d['parent-locator']['parent_linkage'] == d['parent']['headers'][d['parent']['current-header'] - 1]['data-write-guid']") == "differencing $s True" ]] ||
        fail "made$s: info --json: $("$VHDCTL" info --json "made$s.vhdx")"
    read_plugin "made$s"
    check_7z "made$s"
    # (Not libvhdi: a new child has no sector-bitmap blocks, and libvhdi
    # 20210425 then reads the bits from offset 0 of the file; see
    # test-vhdx-builder.sh.)
done
! "$VHDCTL" create mixed.vhd --parent par512.vhdx --format vhd 2> err || fail "a VHD child of a VHDX was made"
grep -q 'never mixes' err && [[ ! -e mixed.vhd ]] || fail "mixed chain: $(cat err)"

# A VHD whose parent file is now a VHDX: refused as the wrong parent.
if command -v qemu-img >/dev/null 2>&1; then
    qemu-img create -q -f vpc vp.vhd 16M
    "$VHDCTL" create vc.vhd --parent vp.vhd || fail "vhdctl create of a VHD child failed"
    cp -- new512.vhdx vp.vhd
    rc=0; "$VHDCTL" check vc.vhd > out 2>&1 || rc=$?
    (( rc == 1 )) && grep -q "parent-mismatch: './vp.vhd' is a VHDX; a VHD's parent must be a VHD" out ||
        fail "a VHD over a VHDX parent: $rc $(cat out)"
fi

# The parent changed (another DataWriteGuid), then gone.
cp -- kid512.vhdx lone.vhdx
mk other --size 64M --fill 0:11
cp -- par512.vhdx par512.keep
cp -- other.vhdx par512.vhdx
cp -- kid512.vhdx kid512.before
rc=0; "$VHDCTL" check kid512.vhdx > out 2>&1 || rc=$?
(( rc == 1 )) && grep -q 'parent-mismatch' out || fail "check of a child whose parent changed: $rc $(cat out)"
rc=0; "$VHDCTL" info kid512.vhdx > out 2>&1 || rc=$?
(( rc == 1 )) && grep -q 'parent-mismatch' out || fail "info of a child whose parent changed: $rc $(cat out)"
! serve kid512.vhdx readonly=1 --run 'nbdinfo --size "$uri"' > out 2>&1 || fail "the plugin served a child of the wrong parent"
rm -f -- par512.vhdx
rc=0; "$VHDCTL" check kid512.vhdx > out 2>&1 || rc=$?
(( rc == 1 )) && grep -q 'parent-not-found' out || fail "check of an orphan: $rc $(cat out)"
cmp -s kid512.vhdx kid512.before || fail "a refused child changed"
cmp -s other.vhdx par512.keep && fail "(test) the substitute is the parent"
# The user's mapping for the parent (VHDX.md 4.4 step 2(b)): a child
# copied from Windows whose locators lead nowhere (par512.vhdx is gone),
# its parent elsewhere under another name.  It opens and reads as the
# chain 7-Zip reads with the parent put where the locator says; another
# disk is parent-mismatch and the child itself parent-loop, naming the
# path given; the file is never changed by a refusal.
mkdir -p elsewhere win
cp -- par512.keep elsewhere/the-parent.vhdx
rc=0; "$VHDCTL" check kid512.vhdx > out 2>&1 || rc=$?
(( rc == 1 )) && grep -q 'parent-not-found' out || fail "check of the copied child without --parent: $rc $(cat out)"
"$VHDCTL" check --parent elsewhere/the-parent.vhdx kid512.vhdx > out 2>&1 ||
    fail "check --parent of the copied child: $(cat out)"
[[ $("$VHDCTL" info --json --parent elsewhere/the-parent.vhdx kid512.vhdx |
     python3 -c "import json,sys; print(json.load(sys.stdin)['parent']['file'])") == elsewhere/the-parent.vhdx ]] ||
    fail "info --parent does not show the parent given: $("$VHDCTL" info --parent elsewhere/the-parent.vhdx kid512.vhdx 2>&1)"
serve kid512.vhdx readonly=1 parent=elsewhere/the-parent.vhdx --run 'nbdcopy "$uri" '"$(printf %q "$tmpdir/mapped.out")"
cmp -s mapped.out kid512.raw || fail "the plugin with parent= reads other bytes than the chain"
if command -v 7zz >/dev/null 2>&1; then
    cp -- kid512.vhdx win/kid512.vhdx
    cp -- par512.keep win/par512.vhdx
    (cd win && 7zz x -so -- kid512.vhdx > ../kid512.7z.raw 2>/dev/null) || fail "7zz x of the child failed"
    cmp -s mapped.out kid512.7z.raw || fail "the plugin with parent= reads other bytes than 7-Zip"
fi
"$VHDCTL" analyze --parent elsewhere/the-parent.vhdx kid512.vhdx > out 2>&1 || fail "analyze --parent: $(cat out)"
rc=0; "$VHDCTL" analyze kid512.vhdx > out 2>&1 || rc=$?
(( rc == 1 )) && grep -q 'parent-not-found' out || fail "analyze without --parent: $rc $(cat out)"
for cmd in check info; do
    rc=0; "$VHDCTL" $cmd --parent other.vhdx kid512.vhdx > out 2>&1 || rc=$?
    (( rc == 1 )) && grep -q "parent-mismatch: 'other.vhdx' is not the parent" out ||
        fail "$cmd --parent to another disk: $rc $(cat out)"
    rc=0; "$VHDCTL" $cmd --parent ./kid512.vhdx kid512.vhdx > out 2>&1 || rc=$?
    (( rc == 1 )) && grep -q "parent-loop: parent './kid512.vhdx' is the disk itself" out ||
        fail "$cmd --parent to the child itself: $rc $(cat out)"
done
! serve kid512.vhdx readonly=1 parent=other.vhdx --run 'nbdinfo --size "$uri"' > out 2>&1 ||
    fail "the plugin served a child mapped to the wrong parent"
rc=0; "$VHDCTL" compact --bus --parent elsewhere/the-parent.vhdx kid512.vhdx > out 2>&1 || rc=$?
(( rc == 2 )) && grep -q -- '--parent is for the in-process engine' out || fail "compact --bus --parent: $rc $(cat out)"
cmp -s kid512.vhdx kid512.before || fail "a refused child changed"
"$VHDCTL" compact --mode zero --no-progress --parent elsewhere/the-parent.vhdx kid512.vhdx > out 2>&1 ||
    fail "compact --parent: $(cat out)"
serve kid512.vhdx readonly=1 parent=elsewhere/the-parent.vhdx --run 'nbdcopy "$uri" '"$(printf %q "$tmpdir/mapped.out")"
cmp -s mapped.out kid512.raw || fail "the child compacted with --parent reads other bytes"
cmp -s elsewhere/the-parent.vhdx par512.keep || fail "the parent given changed"

# VHD alike: the parent moved away from where the child's locators say.
if command -v qemu-img >/dev/null 2>&1; then
    qemu-img create -q -f vpc vp2.vhd 16M
    "$VHDCTL" create vc2.vhd --parent vp2.vhd || fail "vhdctl create of a VHD child failed"
    mv -- vp2.vhd elsewhere/moved.vhd
    rc=0; "$VHDCTL" check vc2.vhd > out 2>&1 || rc=$?
    (( rc == 1 )) && grep -q 'parent-not-found' out || fail "VHD child without --parent: $rc $(cat out)"
    "$VHDCTL" check --parent elsewhere/moved.vhd vc2.vhd > out 2>&1 || fail "VHD check --parent: $(cat out)"
    serve vc2.vhd readonly=1 parent=elsewhere/moved.vhd --run 'nbdinfo --size "$uri"' > out 2>&1 ||
        fail "the plugin with parent= did not serve the VHD child: $(cat out)"
    qemu-img create -q -f vpc vp3.vhd 16M
    rc=0; "$VHDCTL" check --parent vp3.vhd vc2.vhd > out 2>&1 || rc=$?
    (( rc == 1 )) && grep -q "parent-mismatch: 'vp3.vhd' is not the parent" out ||
        fail "VHD --parent to another disk: $rc $(cat out)"
fi
echo ok
