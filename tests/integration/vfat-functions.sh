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
