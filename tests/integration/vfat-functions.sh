# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# Helpers for the FAT, exFAT and swap tests: populate a volume, take the
# manifest of its files, and the destructive oracle of FS-AWARE.md §4.2
# (fill every byte the scan calls free with random data; the checker must
# stay clean and every file's hash unchanged).  Needs $FSSCAN.

export MTOOLS_SKIP_CHECK=1

# fat_populate IMG SEED: two directories of files of many sizes, a third
# of them deleted, some written after the deletes (so chains fragment).
fat_populate ()
{
    local img=$1 seed=$2 src i d
    src=$tmpdir/src-$seed
    rm -rf "$src"; mkdir -p "$src/a/deep" "$src/b"
    for i in $(seq 1 30); do
        d=$src/a; (( i % 2 )) && d=$src/b; (( i % 5 == 0 )) && d=$src/a/deep
        head -c $(( (i * 7919 + seed) % 40000 + i )) /dev/urandom >"$d/f$i"
    done
    mcopy -i "$img" -s "$src/a" "$src/b" ::/ || fail "mcopy into $img"
    for i in $(seq 3 3 30); do
        mdel -i "$img" "::/a/f$i" "::/b/f$i" "::/a/deep/f$i" 2>/dev/null || true
    done
    for i in 1 2 4; do
        head -c $(( 30000 + i )) /dev/urandom >"$src/late$i"
        mcopy -i "$img" "$src/late$i" "::/b/late$i" || fail "mcopy late$i"
    done
}

# fat_manifest IMG OUT: the sha256 of every file on the volume, by path.
fat_manifest ()
{
    local img=$1 out=$2 dir
    dir=$(mktemp -d "$tmpdir/x.XXXXXX")
    mcopy -i "$img" -s -n ::/ "$dir/" >/dev/null 2>&1 || mcopy -i "$img" -s ::/ "$dir/" || fail "mcopy from $img"
    (cd "$dir" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum) >"$out"
    rm -rf "$dir"
    [[ -s $out ]] || fail "$img: no files read back"
}

# fsscan_field FILE KEY: the value of a "key value" line of fsscan's output.
fsscan_field () { awk -v k="$2" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "$1"; }

# exfat_mount IMG MNT [ro]: mount.exfat-fuse (which wants a block device:
# a loop device, read-only with ro) in the foreground (-d, in the background
# of this shell) so that exfat_umount can wait for it to finish writing: a
# plain umount of a FUSE mount returns before the daemon has flushed.
_exfat_pids=()
exfat_mount ()
{
    local img=$1 mnt=$2 opts=${3:-} pid dev
    mkdir -p -- "$mnt"
    dev=$(losetup -f --show ${opts:+-r} -- "$img") || return 1
    cleanup_fn _exfat_detach_quiet "$dev"
    mount.exfat-fuse -d ${opts:+-o "$opts"} "$dev" "$mnt" >>"$tmpdir/exfat-fuse.log" 2>&1 &
    pid=$!
    wait_fuse_mount "$mnt" "$pid" 400 || return 1
    _exfat_pids+=("$mnt=$pid=$dev")
    cleanup_fn _exfat_umount_quiet "$mnt"
}

exfat_umount ()
{
    local mnt=$1 e rest keep=()
    umount -- "$mnt" || fail "umount $mnt"
    for e in "${_exfat_pids[@]}"; do
        if [[ ${e%%=*} != "$mnt" ]]; then
            keep+=("$e")
            continue
        fi
        rest=${e#*=}
        wait "${rest%%=*}" 2>/dev/null || true
        # The daemon's last close flushed the device; detach it so that no
        # stale cache of it outlives the next change to the file.
        losetup -d "${rest#*=}" 2>/dev/null || true
    done
    _exfat_pids=("${keep[@]}")
    return 0
}

_exfat_detach_quiet () { losetup -d "$1" 2>/dev/null; return 0; }

_exfat_umount_quiet ()
{
    mountpoint -q -- "$1" && umount -l -- "$1" 2>/dev/null
    return 0
}

# exfat_populate IMG SEED: like fat_populate, through exfat-fuse; one file
# written with a single large write (NoFatChain: contiguous, no FAT chain).
exfat_populate ()
{
    local img=$1 seed=$2 mnt=$tmpdir/mnt i d
    exfat_mount "$img" "$mnt" || fail "cannot mount $img with exfat-fuse"
    mkdir -p "$mnt/a/deep" "$mnt/b"
    for i in $(seq 1 30); do
        d=$mnt/a; (( i % 2 )) && d=$mnt/b; (( i % 5 == 0 )) && d=$mnt/a/deep
        head -c $(( (i * 7919 + seed) % 60000 + i )) /dev/urandom >"$d/f$i"
    done
    for i in $(seq 3 3 30); do
        rm -f "$mnt/a/f$i" "$mnt/b/f$i" "$mnt/a/deep/f$i"
    done
    for i in 1 2 4; do
        head -c $(( 90000 + i )) /dev/urandom >>"$mnt/b/f$i" 2>/dev/null || true
    done
    head -c $(( 2 << 20 )) /dev/urandom >"$mnt/large.bin"
    exfat_umount "$mnt"
}

# exfat_manifest IMG OUT: the sha256 of every file, read through a
# read-only exfat-fuse mount.
exfat_manifest ()
{
    local img=$1 out=$2 mnt=$tmpdir/mnt-ro
    exfat_mount "$img" "$mnt" ro || fail "cannot mount $img"
    (cd "$mnt" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum) >"$out"
    exfat_umount "$mnt"
    [[ -s $out ]] || fail "$img: no files read back"
}
