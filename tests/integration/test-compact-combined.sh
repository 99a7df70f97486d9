#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The combined rule of `vhdctl compact --mode full` (issue 17): a block
# goes when every byte the file system uses reads as what the drop
# uncovers (zeros; in a differencing disk the parent's bytes), whatever
# its free bytes hold.  Per format (VHD, VHDX), on ext4 volumes:
#   - dynamic: zero-filled files in use beside deleted random files, so
#     that many blocks are partly free with the rest zero;
#   - differencing: a child into which every non-zero block of the disk
#     was written back with identical data, after the guest deleted some
#     files and wrote and deleted random ones in the free space.
# The optimum is computed here, independently of our library: free
# ranges from dumpe2fs's free-block lists, the disk's content as qemu-img
# reads it (the differencing disk: the bytes written into it and the
# parent's, as qemu-img reads that), the allocated blocks from the
# image's own BAT (od), ext4-oracle.py drops for the rule, img_optimum for
# the packed size.  Held to it: `vhdctl analyze`'s final-size-full and
# full-drops, the dry run's and the run's final size and counts
# (blocks-dropped-fs, -zero, -fs-zero), the blocks packed, the
# disk unchanged outside dumpe2fs's free blocks, e2fsck -fn clean, every
# file's sha256 unchanged; and the test shows it needs the rule: the rule
# of wholly free or wholly zero blocks keeps more, and blocks-dropped-fs-zero
# is not 0.  Safety: the dynamic disk with a child beside it refuses mode
# full (the file untouched) and mode zero leaves the partly free blocks;
# a VHDX's DataWriteGuid changes with fs-zero drops alone (mode fs first,
# then full).

source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/ext4-functions.sh"
ext4_requires
requires qemu-img qemu-io nbdkit
requires_env VHDCTL VHD_PLUGIN
make_tmpdir
source "$(dirname "$0")/compact-functions.sh"
image_formats="vhd vhdx"
requires_formats

# free_ranges RAW > FREE: dumpe2fs's free blocks of the ext4 over RAW.
free_ranges ()
{
    dumpe2fs "$1" >"$tmpdir/dumpe2fs.txt" 2>/dev/null || fail "dumpe2fs $1"
    python3 "$ext4_oracle" free-ranges "$tmpdir/dumpe2fs.txt" 0
}

# header_guid FILE KEY: KEY (data-write-guid) of a VHDX's current header.
header_guid ()
{
    "$VHDCTL" info --json -- "$1" | python3 -c '
import json, sys
j = json.load(sys.stdin)
print([h for h in j["headers"] if h["current"]][0][sys.argv[1]])' "$2"
}

# oracle NAME RAW [PARENT_RAW]: the combined rule's drops of $d/NAME.img
# (its BAT in $d/NAME.alloc, the free ranges in $d/NAME.free) into
# o_kept, o_fs, o_zero, o_fs_zero, o_old_kept.
oracle ()
{
    local out
    out=$(python3 "$ext4_oracle" drops "$2" "$img_bs" "$d/$1.alloc" "$d/$1.free" ${3:+"$3"}) ||
        fail "$1: the oracle failed"
    read -r _ o_kept _ o_fs _ o_zero _ o_fs_zero _ o_old_kept <<<"$out"
    echo "$fmt_name $1: oracle: $out"
}

# check_counts NAME JSON [FS]: the report's counts are the oracle's (FS:
# the blocks-dropped-fs expected, default o_fs).
check_counts ()
{
    local what="$fmt_name $1" j=$2 fs=${3:-$o_fs}
    [[ $(json_num blocks-dropped-fs <"$j") = "$fs" && $(json_num blocks-dropped-zero <"$j") = "$o_zero" &&
       $(json_num blocks-dropped-fs-zero <"$j") = "$o_fs_zero" ]] ||
        fail "$what: dropped $(json_num blocks-dropped-fs <"$j") free + $(json_num blocks-dropped-zero <"$j") zero +" \
             "$(json_num blocks-dropped-fs-zero <"$j") fs-zero, the rule says $fs + $o_zero + $o_fs_zero"
}

# check_analyze NAME IMG OPTIMUM: `vhdctl analyze` says the oracle's
# final size and drops for mode full.
check_analyze ()
{
    local what="$fmt_name $1" got
    vhdctl_attaching analyze --json "$2" >"$d/$1.analyze" || fail "$what: analyze failed"
    got=$(python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
d = j["full-drops"]
print(j["final-size-full"], d["fs"], d["zero"], d["fs-zero"])' "$d/$1.analyze") || fail "$what: analyze --json: $(cat "$d/$1.analyze")"
    [[ $got = "$3 $o_fs $o_zero $o_fs_zero" ]] ||
        fail "$what: analyze says final size, drops fs zero fs-zero $got; the oracle $3 $o_fs $o_zero $o_fs_zero"
}

# check_result NAME IMG RAW OPTIMUM: IMG is OPTIMUM bytes, packed, reads
# as RAW outside the free ranges, and its ext4 is clean with every file.
check_result ()
{
    local name=$1 img=$2 raw=$3 optimum=$4 what="$fmt_name $1"
    [[ $(file_size "$img") = "$optimum" ]] ||
        fail "$what: the file is $(file_size "$img") bytes, the optimum is $optimum ($o_kept blocks kept)"
    "$VHDCTL" check "$img" >"$d/$name.check" 2>&1 || { cat "$d/$name.check" >&2; fail "$what: vhdctl check"; }
    check_packed "$img" "$img_first" "$what"
    img_to_raw "$img" "$d/$name.after"
    python3 "$ext4_oracle" same-outside "$raw" "$d/$name.after" "$d/$name.free" ||
        fail "$what: the disk changed outside the file system's free blocks"
    e2fsck -fn "$d/$name.after" >"$d/$name.e2fsck" 2>&1 ||
        { cat "$d/$name.e2fsck" >&2; fail "$what: e2fsck -fn after compaction"; }
    ext4_manifest "$d/$name.after" "$d/$name.sums1"
    cmp -s "$d/$name.sums0" "$d/$name.sums1" || fail "$what: file hashes changed"
    rm -f "$d/$name.after"
}

dynamic ()
{
    local raw=$d/dyn.raw img=$d/dyn.$fmt_suffix mnt=$d/mnt i optimum kid
    echo "== $fmt_name: dynamic, zero-filled files in use beside deleted random ones"
    truncate -s 160M "$raw"
    mkfs.ext4 -q -F -E lazy_itable_init=0 "$raw"
    _ext4_mount "$raw" "$mnt" 0
    for i in $(seq 1 20); do
        head -c $(( 700 * 1024 + i * 12288 )) /dev/zero >"$mnt/zero$i"
        head -c $(( 1100 * 1024 + i * 4096 )) /dev/urandom >"$mnt/gone$i"
        (( i % 5 )) || head -c $(( 3 << 20 )) /dev/urandom >"$mnt/kept$i"
    done
    sync
    rm -f "$mnt"/gone*
    umount "$mnt"
    ext4_manifest "$raw" "$d/dyn.sums0"
    free_ranges "$raw" >"$d/dyn.free"
    fmt_from_raw "$raw" "$img"
    rm -f "$raw"
    img_to_raw "$img" "$d/dyn.raw0"
    alloc_blocks "$img" >"$d/dyn.alloc"
    check_packed "$img" "$img_first" "$fmt_name dyn (before)"
    oracle dyn "$d/dyn.raw0"
    (( o_fs_zero > 0 && o_old_kept > o_kept )) ||
        fail "$fmt_name dyn: test setup: no block needs the combined rule"
    optimum=$(img_optimum "$o_kept")

    # A child beside it: mode full is refused, mode zero leaves the
    # partly free blocks.
    kid=$d/dyn-kid.$fmt_suffix
    fmt_create_child "$kid" "$img"
    cp --sparse=always "$img" "$d/dyn.orig"
    if vhdctl_attaching compact --local --no-progress --mode full "$img" >"$d/dyn.kid" 2>&1; then
        fail "$fmt_name dyn: compacted in mode full with a child beside it"
    fi
    grep -q ': has-children: ' "$d/dyn.kid" || { cat "$d/dyn.kid" >&2; fail "$fmt_name dyn: refused, but not as has-children"; }
    cmp -s "$img" "$d/dyn.orig" || fail "$fmt_name dyn: the refused run changed the file"
    vhdctl_attaching compact --local --no-progress --json --dry-run --mode zero "$img" >"$d/dyn.zero" ||
        fail "$fmt_name dyn: dry run in mode zero with a child failed"
    [[ $(json_num blocks-dropped-fs-zero <"$d/dyn.zero") = 0 && $(json_num blocks-dropped-zero <"$d/dyn.zero") = "$o_zero" ]] ||
        fail "$fmt_name dyn: mode zero: $(cat "$d/dyn.zero")"
    rm -f "$kid" "$d/dyn.orig"

    check_analyze dyn "$img" "$optimum"
    vhdctl_attaching compact --local --no-progress --json --dry-run --mode full "$img" >"$d/dyn.dry" ||
        fail "$fmt_name dyn: dry run failed"
    [[ $(json_num size-after <"$d/dyn.dry") = "$optimum" ]] ||
        fail "$fmt_name dyn: the dry run says $(json_num size-after <"$d/dyn.dry") bytes, the optimum is $optimum"
    check_counts dyn "$d/dyn.dry"

    # Mode fs first: the run in mode full then drops fs-zero and zero
    # blocks only, and a VHDX's DataWriteGuid must change all the same.
    vhdctl_attaching compact --local --no-progress --json --mode fs "$img" >"$d/dyn.fs" || fail "$fmt_name dyn: mode fs failed"
    [[ $(json_num blocks-dropped-fs <"$d/dyn.fs") = "$o_fs" ]] ||
        fail "$fmt_name dyn: mode fs dropped $(json_num blocks-dropped-fs <"$d/dyn.fs"), expected $o_fs"
    [[ $fmt_name != vhdx ]] || guid=$(header_guid "$img" data-write-guid)
    vhdctl_attaching compact --local --no-progress --json --mode full "$img" >"$d/dyn.out" || fail "$fmt_name dyn: compact failed"
    check_counts dyn "$d/dyn.out" 0
    [[ $(json_num size-after <"$d/dyn.out") = "$optimum" ]] || fail "$fmt_name dyn: reported size-after"
    [[ $fmt_name != vhdx || $(header_guid "$img" data-write-guid) != "$guid" ]] ||
        fail "$fmt_name dyn: DataWriteGuid kept after fs-zero drops"
    check_result dyn "$img" "$d/dyn.raw0" "$optimum"
    echo "$fmt_name dyn: $(wc -l <"$d/dyn.alloc") blocks, $o_kept kept ($o_old_kept by wholly free or zero blocks), $optimum bytes"
    rm -f "$d/dyn.raw0" "$img"
}

differencing ()
{
    local par=$d/par.$fmt_suffix kid=$d/kid.$fmt_suffix mnt=$d/mnt praw=$d/par.raw mod=$d/mod.raw i b optimum
    echo "== $fmt_name: differencing, every block written back identical, files deleted"
    truncate -s 128M "$d/par0.raw"
    mkfs.ext4 -q -F -E lazy_itable_init=0 "$d/par0.raw"
    _ext4_mount "$d/par0.raw" "$mnt" 0
    for i in $(seq 1 24); do
        head -c $(( 900 * 1024 + i * 20480 )) /dev/urandom >"$mnt/f$i"
    done
    sync
    rm -f "$mnt"/f*[05]
    umount "$mnt"
    fmt_from_raw "$d/par0.raw" "$par"
    rm -f "$d/par0.raw"
    img_to_raw "$par" "$praw"
    fmt_create_child "$kid" "$par"
    # The guest: files deleted, random ones written in the free space and
    # deleted again.
    cp --sparse=always "$praw" "$mod"
    _ext4_mount "$mod" "$mnt" 0
    rm -f "$mnt"/f*[27]
    for i in $(seq 1 6); do head -c $(( 300 * 1024 * i )) /dev/urandom >"$mnt/tmp$i"; done
    sync
    rm -f "$mnt"/tmp*
    umount "$mnt"
    ext4_manifest "$mod" "$d/kid.sums0"
    free_ranges "$mod" >"$d/kid.free"
    # Every block holding a non-zero byte written into the child.
    fmt_geometry "$kid"
    : >"$d/kid.cmds"
    for ((b = 0; b < img_n; b++)); do
        block_is_zero "$mod" "$b" "$img_bs" && continue
        dd if="$mod" of="$d/blk.$b" bs="$img_bs" skip="$b" count=1 status=none
        echo "write -q -s $d/blk.$b $((b * img_bs)) $(file_size "$d/blk.$b")" >>"$d/kid.cmds"
    done
    awk '{ printf "-c \"%s\" ", $0 }' "$d/kid.cmds" >"$d/kid.args"
    serve "$kid" --run "qemu-io -f raw $(cat "$d/kid.args") \"\$uri\"" || fail "$fmt_name kid: writing failed"
    rm -f "$d"/blk.*
    img_to_raw "$kid" "$d/kid.raw0"
    cmp -s "$d/kid.raw0" "$mod" || fail "$fmt_name kid: test setup: the child does not read as written"
    rm -f "$d/kid.raw0"
    alloc_blocks "$kid" >"$d/kid.alloc"
    oracle kid "$mod" "$praw"
    (( o_fs_zero > 0 && o_old_kept > o_kept )) ||
        fail "$fmt_name kid: test setup: no block needs the combined rule"
    # The child's blocks are where the plugin put them: the optimum is the
    # size a packing from the first place gives.
    optimum=$(img_optimum "$o_kept")
    check_analyze kid "$kid" "$optimum"
    vhdctl_attaching compact --local --no-progress --json --dry-run --mode full "$kid" >"$d/kid.dry" ||
        fail "$fmt_name kid: dry run failed"
    check_counts kid "$d/kid.dry"
    vhdctl_attaching compact --local --no-progress --json --mode full "$kid" >"$d/kid.out" || fail "$fmt_name kid: compact failed"
    check_counts kid "$d/kid.out"
    [[ $(json_num size-after <"$d/kid.out") = "$(json_num size-after <"$d/kid.dry")" ]] ||
        fail "$fmt_name kid: the dry run said $(json_num size-after <"$d/kid.dry") bytes, the run $(json_num size-after <"$d/kid.out")"
    check_result kid "$kid" "$mod" "$optimum"
    echo "$fmt_name kid: $(wc -l <"$d/kid.alloc") blocks, $o_kept kept ($o_old_kept by wholly free or same blocks), $optimum bytes"
    rm -f "$mod" "$praw" "$kid" "$par"
}

for_each_format dynamic
for_each_format differencing
exit 0
