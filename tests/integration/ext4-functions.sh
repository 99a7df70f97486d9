# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# Helpers for the ext2/3/4 tests (sourced after functions.sh):
#   ext4_populate IMG [OFFSET]   files in, some deleted, through a loop mount
#   ext4_manifest IMG OUT [OFFSET]   sha256 of every file (read-only loop mount)
#   ext4_check_dumpe2fs IMG DUMP     our free ranges == dumpe2fs's, exactly
#   ext4_verify_free IMG DUMP MANIFEST [OFFSET]   the destructive oracle of
#       FS-AWARE.md §4.2: random bytes over every range we call free, then
#       e2fsck -fn clean and every file's hash unchanged
#   ext4_scan ARGS... IMG   fsscan run as the ext2/3/4 entry (no probe)
# DUMP is ext4_scan --ranges output.  Needs root and loop devices.

ext4_oracle=$srcdir/ext4-oracle.py

ext4_requires ()
{
    requires mkfs.ext4 dumpe2fs e2fsck debugfs mount umount losetup python3 sha256sum
    requires_env FSSCAN
    (( EUID == 0 )) || skip "needs root for loop mounts"
    grep -qw ext4 /proc/filesystems || modprobe ext4 2>/dev/null ||
        skip "no ext4 in this kernel"
}

ext4_scan () { "$FSSCAN" --type ext2/3/4 "$@"; }

# _ext4_mount IMG MNT OFFSET [ro]: a loop mount of the volume at OFFSET.
_ext4_mount ()
{
    local img=$1 mnt=$2 offset=${3:-0} opts=loop,offset=${3:-0}
    [[ ${4:-} = ro ]] && opts=$opts,ro
    mkdir -p "$mnt"
    mount -o "$opts" "$img" "$mnt" || fail "cannot loop-mount $img at offset $offset"
    cleanup_fn _ext4_umount "$mnt"
}

_ext4_umount ()
{
    mountpoint -q "$1" && umount "$1"
    return 0
}

ext4_populate ()
{
    local img=$1 offset=${2:-0} mnt=$tmpdir/mnt-populate i
    _ext4_mount "$img" "$mnt" "$offset"
    mkdir -p "$mnt/a/deep" "$mnt/b"
    for i in $(seq 1 40); do
        head -c $(( (i * 7919) % 300000 + i )) /dev/urandom >"$mnt/a/f$i"
        head -c $(( (i * 104729) % 90000 + 1 )) /dev/urandom >"$mnt/b/g$i"
    done
    head -c $(( 12 << 20 )) /dev/urandom >"$mnt/deleted.bin"
    head -c $(( 5 << 20 )) /dev/urandom >"$mnt/a/deep/large.bin"
    fallocate -l $(( 2 << 20 )) "$mnt/b/falloc.bin" 2>/dev/null || true
    echo tiny >"$mnt/tiny.txt"
    sync
    rm -f "$mnt/deleted.bin" "$mnt"/a/f*3 "$mnt"/b/g*7
    umount "$mnt"
}

ext4_manifest ()
{
    local img=$1 out=$2 offset=${3:-0} mnt=$tmpdir/mnt-manifest
    _ext4_mount "$img" "$mnt" "$offset" ro
    (cd "$mnt" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum) >"$out"
    umount "$mnt"
    [[ -s $out ]] || fail "$img: empty manifest"
}

ext4_check_dumpe2fs ()
{
    local img=$1 dump=$2 want=$tmpdir/dumpe2fs-free.txt got=$tmpdir/ext4scan-free.txt
    dumpe2fs "$img" >"$tmpdir/dumpe2fs.txt" 2>/dev/null || fail "dumpe2fs $img"
    python3 "$ext4_oracle" free-ranges "$tmpdir/dumpe2fs.txt" 0 >"$want"
    awk '$1 == "range" { print $2, $3 }' "$dump" >"$got"
    cmp -s "$want" "$got" ||
        fail "$img: free ranges differ from dumpe2fs's: $(diff "$want" "$got" | head -5 | tr '\n' ' ')"
}

ext4_verify_free ()
{
    local img=$1 dump=$2 manifest=$3 offset=${4:-0} after=$tmpdir/manifest-after.txt loopdev
    python3 "$ext4_oracle" clobber "$img" "$dump" || fail "clobbering $img"
    if (( offset )); then
        loopdev=$(losetup -f --show -r -o "$offset" "$img") || fail "losetup $img"
        e2fsck -fn "$loopdev" >"$tmpdir/e2fsck.log" 2>&1 || { losetup -d "$loopdev"; cat "$tmpdir/e2fsck.log" >&2; fail "$img: e2fsck -fn after clobbering what we call free"; }
        losetup -d "$loopdev"
    else
        e2fsck -fn "$img" >"$tmpdir/e2fsck.log" 2>&1 || { cat "$tmpdir/e2fsck.log" >&2; fail "$img: e2fsck -fn after clobbering what we call free"; }
    fi
    ext4_manifest "$img" "$after" "$offset"
    cmp -s "$manifest" "$after" || fail "$img: file hashes changed after clobbering what we call free"
}
