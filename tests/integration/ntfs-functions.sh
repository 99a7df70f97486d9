# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# Helpers for the NTFS scanner tests (test-ntfs-*.sh), sourced after
# functions.sh.  ntfs-3g's own tools are the oracles:
#
#   ntfsinfo -m         "Free Clusters: N" is ntfs-3g's count of clear $Bitmap bits
#   ntfscluster -i      the same count, computed by a second tool
#   ntfsclone -s        saves exactly the clusters ntfs-3g finds in use by walking
#                       every MFT record (and checks them against $Bitmap); writing
#                       garbage into clusters we call free must not change its image
#   ntfs-3g (FUSE)      populates volumes; mounted read-only, every file's sha256
#                       must survive that garbage too; it refuses to mount hibernated
#                       volumes, which confirms our hibernation verdicts
#
# Environment: NTFSDUMP, the built tests/tools/ntfsdump (set by tests/meson.build).

# mkvol IMG SIZE CLUSTER [SECTOR [LABEL]]: a fresh sparse NTFS image.
mkvol ()
{
    local img=$1 size=$2 cluster=$3 sector=${4:-512} label=${5:-vhdtest}
    rm -f -- "$img"
    truncate -s "$size" -- "$img"
    mkntfs -q -F -f -c "$cluster" -s "$sector" -p 0 -H 0 -S 0 -L "$label" "$img" \
           2>"$tmpdir/mkntfs.err" ||
        { cat "$tmpdir/mkntfs.err" >&2; fail "mkntfs -c $cluster -s $sector on a $size image failed"; }
}

# have_fuse: ntfs-3g can mount images here (FUSE available and permitted).
have_fuse ()
{
    if [[ -z ${_have_fuse:-} ]]; then
        _have_fuse=0
        if command -v ntfs-3g >/dev/null && [[ -c /dev/fuse ]]; then
            mkvol "$tmpdir/fuse-probe.img" 8M 4096
            if ntfs_mount "$tmpdir/fuse-probe.img" "$tmpdir/fuse-probe" ro 2>/dev/null; then
                ntfs_umount "$tmpdir/fuse-probe"
                _have_fuse=1
            fi
            rm -f -- "$tmpdir/fuse-probe.img"
        fi
    fi
    (( _have_fuse ))
}

# ntfs_mount IMG MNT [OPTIONS]: mount with ntfs-3g in the foreground
# (no_detach, in the background of this shell) so that ntfs_umount can wait
# for it to finish writing the image: a plain umount of a FUSE file mount
# returns before the daemon has flushed.
_ntfs3g_pids=()
ntfs_mount ()
{
    local img=$1 mnt=$2 opts=${3:-} pid
    mkdir -p -- "$mnt"
    ntfs-3g -o "no_detach${opts:+,$opts}" "$img" "$mnt" >>"$tmpdir/ntfs-3g.log" 2>&1 &
    pid=$!
    wait_fuse_mount "$mnt" "$pid" 200 || return 1
    _ntfs3g_pids+=("$mnt=$pid")
    cleanup_fn _ntfs_umount_quiet "$mnt"
}

ntfs_umount ()
{
    local mnt=$1 e
    umount -- "$mnt" || fail "umount $mnt"
    for e in "${_ntfs3g_pids[@]}"; do
        [[ ${e%%=*} = "$mnt" ]] && wait "${e#*=}" 2>/dev/null
    done
    return 0
}

_ntfs_umount_quiet ()
{
    mountpoint -q -- "$1" && umount -l -- "$1" 2>/dev/null
    return 0
}

# ntfs3g_free IMG: ntfs-3g's free cluster count.
ntfs3g_free ()
{
    # awk reads everything: an early exit would SIGPIPE ntfsinfo (pipefail)
    ntfsinfo -m "$1" | awk '/Free Clusters:/ && !n++ { print $3 }'
}

# ntfscluster_free IMG: the same from ntfscluster -i.
ntfscluster_free ()
{
    ntfscluster -i "$1" | awk -F: '/clusters of free space/ && !n++ { gsub(/ /, "", $2); print $2 }'
}

# dump_field FILE KEY: the value of a "KEY value" line of ntfsdump output.
dump_field ()
{
    awk -v k="$2" '$1 == k { sub(/^[^ ]* /, ""); print; exit }' "$1"
}

# run_dump OUT ARGS...: ntfsdump ARGS > OUT; its exit status is returned.
run_dump ()
{
    local out=$1
    shift
    "$NTFSDUMP" "$@" >"$out"
}

# check_ranges DUMP OFFSET CLUSTER TOTAL_CLUSTERS: every "range" line is
# cluster-aligned and inside [OFFSET, OFFSET + TOTAL * CLUSTER).
check_ranges ()
{
    awk -v off="$2" -v cs="$3" -v tc="$4" '
        $1 != "range" { next }
        {
            s = $2 - off; l = $3
            if (s < 0 || l <= 0 || s % cs || l % cs || s + l > tc * cs) {
                printf "bad range %.0f %.0f\n", $2, $3; bad = 1
            }
            sum += l
        }
        END { printf "%.0f\n", sum; exit bad }' "$1"
}

# fill_ranges DUMP IMG [OFFSET]: overwrite every range of DUMP in IMG with
# 0xA5 bytes (at range start - OFFSET).
fill_ranges ()
{
    local dump=$1 img=$2 off=${3:-0} s l
    awk '$1 == "range" { printf "%.0f %.0f\n", $2, $3 }' "$dump" |
        while read -r s l; do
            # tr dies of SIGPIPE when dd has enough: not a failure.
            { tr '\000' '\245' </dev/zero || true; } |
                dd of="$img" oflag=seek_bytes seek=$(( s - off )) iflag=count_bytes,fullblock \
                   count="$l" bs=1M conv=notrunc status=none
        done
}

# clone_hash IMG [HASH-COMMAND]: the hash (sha256sum unless told) of
# ntfsclone's image of the used clusters.
clone_hash ()
{
    local h
    h=$(ntfsclone -q --save-image -o - "$1" 2>"$tmpdir/ntfsclone.err" | "${2:-sha256sum}") ||
        { cat "$tmpdir/ntfsclone.err" >&2; fail "ntfsclone --save-image $1"; }
    grep -qi 'error\|inconsistent' "$tmpdir/ntfsclone.err" &&
        { cat "$tmpdir/ntfsclone.err" >&2; fail "ntfsclone reports problems on $1"; }
    echo "${h%% *}"
}

# file_hashes IMG [FIND-ARGS...]: "sha256  path" of every non-empty file
# (empty files have no clusters to damage), via a read-only mount.
file_hashes ()
{
    local img=$1 mnt=$tmpdir/hash-mnt
    shift
    ntfs_mount "$img" "$mnt" ro || fail "cannot mount $img read-only"
    (cd "$mnt" && find . "$@" -type f -size +0 -print0 | sort -z | xargs -0 -r sha256sum)
    ntfs_umount "$mnt"
}

# verify_free IMG DUMP: the oracle for "free means free": fill a copy's
# free ranges with garbage; ntfsclone's used-cluster image and (with FUSE)
# every file's content must be unchanged.
verify_free ()
{
    local img=$1 dump=$2 copy=$tmpdir/filled.img h1 h2
    cp --sparse=always -- "$img" "$copy"
    fill_ranges "$dump" "$copy"
    h1=$(clone_hash "$img")
    h2=$(clone_hash "$copy")
    [[ $h1 = "$h2" ]] || fail "$img: ntfsclone sees different used clusters after filling our free ranges"
    if have_fuse; then
        file_hashes "$img" >"$tmpdir/hashes.orig"
        file_hashes "$copy" >"$tmpdir/hashes.filled"
        [[ -s $tmpdir/hashes.orig ]] || fail "$img: no files to compare"
        cmp -s "$tmpdir/hashes.orig" "$tmpdir/hashes.filled" ||
            { diff "$tmpdir/hashes.orig" "$tmpdir/hashes.filled" >&2; fail "$img: file contents changed"; }
    fi
    rm -f -- "$copy"
}

# check_volume IMG: scan IMG, compare with the oracles, verify the ranges.
check_volume ()
{
    local img=$1 dump=$tmpdir/dump.txt cs tc free want sum
    run_dump "$dump" --ranges "$img" || { cat "$dump" >&2; fail "ntfsdump failed on $img"; }
    [[ $(dump_field "$dump" clean) = yes ]] || fail "$img: not clean: $(dump_field "$dump" reason)"
    cs=$(dump_field "$dump" cluster_size)
    tc=$(dump_field "$dump" total_clusters)
    free=$(dump_field "$dump" free_clusters)
    want=$(ntfs3g_free "$img")
    [[ $free = "$want" ]] || fail "$img: free clusters $free, ntfsinfo says $want"
    want=$(ntfscluster_free "$img")
    [[ $free = "$want" ]] || fail "$img: free clusters $free, ntfscluster says $want"
    sum=$(check_ranges "$dump" 0 "$cs" "$tc") || fail "$img: range outside the volume"
    [[ $sum = $(( free * cs )) ]] || fail "$img: ranges hold $sum bytes, $free clusters of $cs"
    verify_free "$img" "$dump"
    echo "$testname: $img: cluster $cs, $tc clusters, $free free in" \
         "$(dump_field "$dump" free_ranges) ranges, read $(dump_field "$dump" bytes_read) bytes: OK"
}
