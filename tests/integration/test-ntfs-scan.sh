#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# ntfs_scan() on real volumes made by mkntfs and populated by ntfs-3g, for
# cluster sizes 512 B, 4 KiB, 64 KiB and 2 MiB and a 4 KiB-sector volume:
#   - free cluster count == ntfsinfo's and ntfscluster's, exactly;
#   - every range cluster-aligned, inside the volume, adding up to the count;
#   - "free means free": with garbage written over every range we report,
#     ntfsclone's image of the used clusters and every file's sha256 are
#     unchanged (ntfs-functions.sh, verify_free);
#   - the same volume inside a disk at a 1 MiB offset: the same ranges, moved;
#   - the scan reads only metadata: bytes read stay far below the volume size.
# Without FUSE the volumes are populated with ntfscp only (no deletes).

source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/ntfs-functions.sh"
requires mkntfs ntfsinfo ntfscluster ntfsclone ntfscp truncate dd sha256sum mountpoint
requires_env NTFSDUMP
make_tmpdir

have_fuse || echo "$testname: no FUSE: populating with ntfscp only" >&2

# populate IMG CLUSTER: files of many sizes in two directories, some deleted,
# some grown after others were written (so they fragment), one large file.
populate ()
{
    local img=$1 cs=$2 mnt=$tmpdir/mnt i d
    if ! have_fuse; then
        for i in 1 2 3 4 5 6 7 8; do
            head -c $(( i * 37000 + cs )) /dev/urandom >"$tmpdir/src$i"
            ntfscp -q -f "$img" "$tmpdir/src$i" "/file$i" >/dev/null || fail "ntfscp to $img"
        done
        return 0
    fi
    ntfs_mount "$img" "$mnt" || fail "cannot mount $img"
    mkdir "$mnt/a" "$mnt/b" "$mnt/a/deep"
    for i in $(seq 1 40); do
        d=$mnt/a; (( i % 2 )) && d=$mnt/b; (( i % 5 == 0 )) && d=$mnt/a/deep
        head -c $(( (i * 7919) % 200000 + i )) /dev/urandom >"$d/f$i"
    done
    for i in $(seq 3 3 40); do
        rm -f "$mnt"/a/f$i "$mnt"/b/f$i "$mnt"/a/deep/f$i
    done
    for i in 1 2 4 7 8; do
        find "$mnt" -name "f$i" -exec sh -c 'head -c 150000 /dev/urandom >>"$1"' _ {} \;
    done
    head -c $(( 3 << 20 )) /dev/urandom >"$mnt/large.bin"
    echo tiny >"$mnt/tiny.txt"          # resident data
    ntfs_umount "$mnt"
}

for spec in 512:512:64M 4096:512:128M 65536:512:256M 2097152:512:512M 4096:4096:128M; do
    IFS=: read -r cs sector size <<<"$spec"
    img=$tmpdir/vol-$cs-$sector.img
    mkvol "$img" "$size" "$cs" "$sector" "c$cs"
    populate "$img" "$cs"
    check_volume "$img"
    dump=$tmpdir/dump.txt
    [[ $(dump_field "$dump" label) = "c$cs" ]] || fail "$img: label '$(dump_field "$dump" label)'"
    [[ $(dump_field "$dump" bytes_per_sector) = "$sector" ]] || fail "$img: bytes per sector"
    # Metadata only: far below 1% of the volume.
    read_bytes=$(dump_field "$dump" bytes_read)
    (( read_bytes * 100 < $(file_size "$img") )) ||
        fail "$img: read $read_bytes bytes, more than 1% of the volume"

    # The same volume as a partition 1 MiB into a disk with 1 MiB after it.
    disk=$tmpdir/disk.img
    vsize=$(file_size "$img")
    truncate -s $(( vsize + (2 << 20) )) "$disk"
    dd if="$img" of="$disk" bs=1M seek=1 conv=notrunc,sparse status=none
    run_dump "$tmpdir/dump-disk.txt" --ranges --offset $(( 1 << 20 )) --size "$vsize" "$disk" ||
        fail "ntfsdump on $disk at 1 MiB"
    awk -v o=$(( 1 << 20 )) '$1 == "range" { printf "range %.0f %.0f\n", $2 - o, $3 }' \
        "$tmpdir/dump-disk.txt" >"$tmpdir/shifted.txt"
    grep '^range' "$dump" | cmp -s - "$tmpdir/shifted.txt" ||
        fail "$img: ranges at offset 1 MiB are not the same ranges moved"
    rm -f -- "$disk" "$img"
done

echo "$testname: OK"
