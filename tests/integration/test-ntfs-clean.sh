#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The clean-shutdown preconditions of ntfs_scan() on real volumes:
#   - hibernation: hiberfil.sys (any case) starting with "hibr"/"HIBR" in a
#     root directory big enough to be a B-tree of INDX records, with names
#     that sort around it, some non-ASCII (so the lookup needs $UpCase):
#     not clean, nothing granted, a fs-not-clean problem naming the field;
#     ntfs-3g agrees (it refuses to mount read-write); --force-dirty grants
#     exactly the free space ntfsinfo counts, verified as in test-ntfs-scan;
#     a hiberfil.sys starting with "wake" or zeros is clean;
#   - the dirty flag: ntfsresize marks a volume for chkdsk (ntfsinfo then
#     refuses it): not clean; --force-dirty grants the same ranges we get
#     once ntfsfix -d has cleared the flag.
# An unclean $LogFile cannot be produced with ntfs-3g's tools (they never
# write one); tests/unit/test-ntfs-scan.c covers it.

source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/ntfs-functions.sh"
requires mkntfs ntfsinfo ntfscluster ntfsclone ntfscp ntfsresize ntfsfix truncate dd sha256sum mountpoint
requires_env NTFSDUMP
make_tmpdir

img=$tmpdir/vol.img
dump=$tmpdir/dump.txt
mnt=$tmpdir/mnt
mkvol "$img" 256M 4096 512 clean

# A root directory of ~330 entries: a two-level $I30 B-tree.
names=(hiberfil.sya hiberfil.syt HIBERFIL.SY hiberfil.sys.bak hiberfik hiberfim
       pagefile.sys swapfile.sys "ĥiberfil" "Ĥ" "Проекты" "ıhiber" "ǅungla" "日本語"
       "Ünïcödé" "zzz" "AAA" "_" "~hiber")
for i in $(seq 1 300); do names+=("file-$i-$(( i * 7919 % 1000 ))"); done
if have_fuse; then
    ntfs_mount "$img" "$mnt" || fail "mount"
    for n in "${names[@]}"; do head -c $(( ${#n} * 211 )) /dev/urandom >"$mnt/$n"; done
    ntfs_umount "$mnt"
else
    for n in "${names[@]:0:60}"; do
        head -c $(( ${#n} * 211 )) /dev/urandom >"$tmpdir/src"
        ntfscp -q -f "$img" "$tmpdir/src" "/$n" >/dev/null || fail "ntfscp '$n'"
    done
fi
ntfsinfo -v -i 5 "$img" | grep 'Dumping attribute \$INDEX_ALLOCATION' >/dev/null ||
    fail "the root directory did not become an INDX B-tree"

run_dump "$dump" "$img" || fail "ntfsdump on the populated volume"
[[ $(dump_field "$dump" clean) = yes ]] || fail "not clean: $(dump_field "$dump" reason)"

# hiberfil.sys as Windows leaves it after a resume ("wake"): clean.
{ printf 'wake'; head -c 200000 /dev/urandom; } >"$tmpdir/hib"
ntfscp -q -f "$img" "$tmpdir/hib" /hiberfil.sys >/dev/null || fail "ntfscp hiberfil.sys"
run_dump "$dump" "$img" || fail "ntfsdump"
[[ $(dump_field "$dump" clean) = yes ]] || fail "hiberfil.sys 'wake': $(dump_field "$dump" reason)"
echo "$testname: hiberfil.sys starting with 'wake': clean"

# set_hiber_magic FORMAT: write the first 4 bytes of hiberfil.sys (a printf
# format) in place, at the cluster ntfsinfo shows for its VCN 0 (ntfs-3g's
# tools will not write to a hibernated volume).
hib_lcn=$(ntfsinfo -v -F /hiberfil.sys "$img" | awk '/^\t\t\t0x0\t/ && !n++ { print $2 }')
[[ -n $hib_lcn ]] || fail "no runlist for hiberfil.sys"
set_hiber_magic ()
{
    # shellcheck disable=SC2059
    printf "$1" | dd of="$img" bs=1 seek=$(( hib_lcn * 4096 )) conv=notrunc status=none
}

# hibernated: refused (exit 0, clean no, no ranges, a problem line)
for magic in hibr HIBR; do
    set_hiber_magic "$magic"
    run_dump "$dump" --ranges "$img" || fail "ntfsdump on a hibernated volume failed"
    [[ $(dump_field "$dump" clean) = no ]] || fail "hiberfil.sys starting '$magic': reported clean"
    grep -q '^reason .*hibernated' "$dump" || fail "$magic: reason: $(dump_field "$dump" reason)"
    grep -q '^problem fs-not-clean ntfs.hiberfil.signature ' "$dump" || fail "$magic: no problem line"
    [[ $(dump_field "$dump" free_ranges) = 0 ]] || fail "$magic: ranges granted"
    ! grep -q '^range' "$dump" || fail "$magic: ranges printed"
    if have_fuse; then
        # ntfs-3g's verdict: it refuses a read-write mount.
        : >"$tmpdir/ntfs-3g.log"
        ntfs_mount "$img" "$mnt" && ntfs_umount "$mnt"
        grep -qi 'hibernated' "$tmpdir/ntfs-3g.log" || fail "$magic: ntfs-3g did not see hibernation"
    fi
    echo "$testname: hiberfil.sys starting with '$magic': not clean: $(dump_field "$dump" reason)"
done

# --force-dirty: the free space, verified like any clean volume's
run_dump "$dump" --ranges --force-dirty "$img" || fail "ntfsdump --force-dirty"
[[ $(dump_field "$dump" clean) = no ]] || fail "--force-dirty: should still say not clean"
free=$(dump_field "$dump" free_clusters)
[[ $free = $(ntfs3g_free "$img") ]] || fail "--force-dirty: free $free, ntfsinfo $(ntfs3g_free "$img")"
sum=$(check_ranges "$dump" 0 4096 "$(dump_field "$dump" total_clusters)") || fail "range outside"
[[ $sum = $(( free * 4096 )) ]] || fail "--force-dirty: ranges hold $sum bytes for $free clusters"
have_fuse && { set_hiber_magic wake; verify_free "$img" "$dump"; set_hiber_magic hibr; }
h1=$(clone_hash "$img")
cp --sparse=always "$img" "$tmpdir/filled.img"
fill_ranges "$dump" "$tmpdir/filled.img"
[[ $h1 = $(clone_hash "$tmpdir/filled.img") ]] || fail "--force-dirty ranges: ntfsclone image changed"
rm -f -- "$tmpdir/filled.img"
echo "$testname: --force-dirty on the hibernated volume: $free free clusters, verified"

# Zeroed header (Windows after a full resume): clean again.
set_hiber_magic '\0\0\0\0'
run_dump "$dump" "$img" || fail "ntfsdump"
[[ $(dump_field "$dump" clean) = yes ]] || fail "zeroed hiberfil.sys: $(dump_field "$dump" reason)"
echo "$testname: hiberfil.sys starting with zeros: clean"

# The name is case-insensitive, the magic may be upper case.
img2=$tmpdir/vol2.img
mkvol "$img2" 64M 4096 512 upper
{ printf 'HIBR'; head -c 5000 /dev/urandom; } >"$tmpdir/hib"
ntfscp -q -f "$img2" "$tmpdir/hib" /HIBERFIL.SYS >/dev/null || fail "ntfscp HIBERFIL.SYS"
run_dump "$dump" "$img2" || fail "ntfsdump"
[[ $(dump_field "$dump" clean) = no ]] || fail "HIBERFIL.SYS starting HIBR: reported clean"
echo "$testname: HIBERFIL.SYS starting with 'HIBR': not clean"
rm -f -- "$img2"

# Dirty: ntfsresize schedules a chkdsk by setting the dirty flag.
mkvol "$img" 256M 4096 512 dirty
for i in 1 2 3; do
    head -c $(( i * 100000 )) /dev/urandom >"$tmpdir/src"
    ntfscp -q -f "$img" "$tmpdir/src" "/d$i" >/dev/null || fail "ntfscp"
done
ntfsresize -f -f -s 200M "$img" >/dev/null 2>&1 || fail "ntfsresize"
ntfsinfo -m "$img" >"$tmpdir/ntfsinfo.txt" 2>&1 || true     # it refuses: that is the point
grep -qi 'scheduled for check' "$tmpdir/ntfsinfo.txt" || fail "ntfsinfo does not see the dirty flag"
run_dump "$dump" "$img" || fail "ntfsdump on a dirty volume failed"
[[ $(dump_field "$dump" clean) = no ]] || fail "dirty volume reported clean"
grep -q '^reason .*dirty' "$dump" || fail "dirty: reason: $(dump_field "$dump" reason)"
grep -q '^problem fs-not-clean ntfs.volume.flags ' "$dump" || fail "dirty: no problem line"
[[ $(dump_field "$dump" free_ranges) = 0 ]] || fail "dirty: ranges granted"
echo "$testname: dirty volume: not clean: $(dump_field "$dump" reason)"
run_dump "$tmpdir/forced.txt" --ranges --force-dirty "$img" || fail "ntfsdump --force-dirty"
ntfsfix -d "$img" >/dev/null 2>&1 || fail "ntfsfix -d"
run_dump "$dump" --ranges "$img" || fail "ntfsdump after ntfsfix -d"
[[ $(dump_field "$dump" clean) = yes ]] || fail "still not clean after ntfsfix -d"
cmp -s <(grep '^range' "$tmpdir/forced.txt") <(grep '^range' "$dump") ||
    fail "--force-dirty ranges differ from the ranges after ntfsfix -d"
check_volume "$img"

echo "$testname: OK"
