#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# ntfs_scan() on a 4 GiB volume whose $MFT is fragmented into hundreds of
# runs, so many that ntfs-3g moves them - and $MFT's own $FILE_NAME - into
# extension records behind a non-resident $ATTRIBUTE_LIST in record 0.
#
# How: one file takes all but ~100 MiB (ntfsfallocate: no data written),
# 64 KiB files fill the rest, every other one is deleted, then 40000 empty
# files make the MFT grow into those 64 KiB holes one extent at a time.
#
# Oracles: the free count against ntfsinfo and ntfscluster; garbage written
# over our free ranges changes neither ntfsclone's metadata image nor any
# file's sha256; our ranges are disjoint from the big file's runlist as
# ntfsinfo prints it.  (A full ntfsclone of 4 GiB of used clusters would
# take about 40 s, hence the metadata image plus runlists.)

source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/ntfs-functions.sh"
requires mkntfs ntfsinfo ntfscluster ntfsclone ntfsfallocate truncate dd sha256sum mountpoint
requires_env NTFSDUMP
make_tmpdir
have_fuse || skip "ntfs-3g cannot mount images here (FUSE)"

img=$tmpdir/frag.img
mnt=$tmpdir/mnt
mkvol "$img" 4G 4096 512 frag

ntfs_mount "$img" "$mnt" || fail "mount"
: >"$mnt/big"
ntfs_umount "$mnt"
free=$(ntfs3g_free "$img")
ntfsfallocate -l $(( (free - 25600) * 4096 )) "$img" /big >/dev/null 2>&1 || fail "ntfsfallocate /big"

ntfs_mount "$img" "$mnt" || fail "mount"
head -c 65536 /dev/urandom >"$tmpdir/blk"
for i in $(seq 1 1500); do
    cp "$tmpdir/blk" "$mnt/h$i" 2>/dev/null || break
    (( i % 7 )) || head -c 100 /dev/urandom >>"$mnt/h$i"  # not all identical
done
for i in $(seq 1 2 1500); do rm -f "$mnt/h$i"; done
mkdir "$mnt/many"
for i in $(seq 1 40000); do : >"$mnt/many/s$i" || break; done
ntfs_umount "$mnt"

# How fragmented did $MFT get?  (Reported, and required: this is the point.)
ntfsinfo -v -i 0 "$img" >"$tmpdir/mft.txt"
runs=$(awk '/Dumping attribute \$DATA/ { d = 1 } /Dumping attribute/ && !/\$DATA/ { d = 0 }
            d && /^\t\t\t0x/ && !/RL_NOT_MAPPED/ { n++ } END { print n + 0 }' "$tmpdir/mft.txt")
grep -q 'Dumping attribute \$ATTRIBUTE_LIST' "$tmpdir/mft.txt" && al=yes || al=no
echo "$testname: \$MFT has $runs mapped runs; attribute list in record 0: $al"
(( runs > 1 )) || fail "\$MFT did not fragment ($runs run)"

dump=$tmpdir/dump.txt
run_dump "$dump" --ranges "$img" || { cat "$dump" >&2; fail "ntfsdump"; }
[[ $(dump_field "$dump" clean) = yes ]] || fail "not clean: $(dump_field "$dump" reason)"
cs=$(dump_field "$dump" cluster_size)
tc=$(dump_field "$dump" total_clusters)
free=$(dump_field "$dump" free_clusters)
[[ $free = $(ntfs3g_free "$img") ]] || fail "free clusters $free, ntfsinfo says $(ntfs3g_free "$img")"
[[ $free = $(ntfscluster_free "$img") ]] || fail "free clusters $free, ntfscluster disagrees"
sum=$(check_ranges "$dump" 0 "$cs" "$tc") || fail "range outside the volume"
[[ $sum = $(( free * cs )) ]] || fail "ranges hold $sum bytes, $free clusters of $cs"

# The big file's clusters (runlist from ntfsinfo) are never in our ranges.
ntfsinfo -v -F /big "$img" |
    awk '/^\t\t\t0x/ && $2 ~ /^0x/ { print $2, $3 }' |
    while read -r lcn len; do echo "run $(( lcn )) $(( len ))"; done >"$tmpdir/big-runs.txt"
[[ -s $tmpdir/big-runs.txt ]] || fail "no runlist for /big"
cat "$tmpdir/big-runs.txt" "$dump" | awk -v cs="$cs" '
    $1 == "run" { rs[++n] = $2 * cs; re[n] = ($2 + $3) * cs; next }
    $1 == "range" { for (i = 1; i <= n; i++) if ($2 < re[i] && rs[i] < $2 + $3) {
                        printf "range %.0f+%.0f overlaps /big\n", $2, $3; bad = 1 } }
    END { exit bad }' || fail "a free range overlaps the big file"

# Garbage over the free ranges: metadata image and file contents unchanged.
copy=$tmpdir/filled.img
cp --sparse=always "$img" "$copy"
fill_ranges "$dump" "$copy"
h1=$(ntfsclone -q --metadata --save-image -o - "$img" 2>/dev/null | sha256sum)
h2=$(ntfsclone -q --metadata --save-image -o - "$copy" 2>/dev/null | sha256sum)
[[ $h1 = "$h2" ]] || fail "ntfsclone --metadata differs after filling our free ranges"
# (Only the h* files: many/ holds empty files, and /big is never written, so
# it reads as 4 GiB of zeros whatever its clusters hold - its runlist was
# checked above.)
file_hashes "$img" -maxdepth 1 -name 'h*' >"$tmpdir/h.orig"
file_hashes "$copy" -maxdepth 1 -name 'h*' >"$tmpdir/h.filled"
[[ $(wc -l <"$tmpdir/h.orig") -ge 700 ]] || fail "expected the 750 data files in the hash list"
cmp -s "$tmpdir/h.orig" "$tmpdir/h.filled" || fail "file contents changed after filling our free ranges"

read_bytes=$(dump_field "$dump" bytes_read)
echo "$testname: $tc clusters, $free free in $(dump_field "$dump" free_ranges) ranges;" \
     "read $read_bytes bytes in $(dump_field "$dump" reads) reads of a $(file_size "$img")-byte volume"
(( read_bytes * 1000 < $(file_size "$img") )) || fail "read more than 0.1% of the volume"
echo "$testname: OK"
