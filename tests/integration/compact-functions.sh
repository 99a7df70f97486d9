# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# Helpers for the compaction tests (test-compact-*.sh), sourced after
# functions.sh and ntfs-functions.sh, once make_tmpdir has set $tmpdir.
#
# Every step that depends on the image format goes through the hooks of
# formats/FORMAT.sh (use_format, for_each_format below).  The oracles are
# independent of our library: the image's own bytes for which blocks are
# allocated and where (the hooks read the BAT with od), qemu-img and the
# plugin for the disk's content, cmp for zeros, ntfsclone and ntfs-3g for
# the file systems.  Only the block classes ('F' = every byte free in the file
# system) come from `vhdctl analyze`; they decide which blocks MAY change,
# and the file-system oracles check that those were really free.  Mode
# full's combined rule (partly free blocks whose used bytes read as what
# the drop uncovers) takes the free clusters from ntfs-3g (ntfscat's
# $Bitmap, ntfs_free_ranges).

MIB=$((1 << 20))

# json_num KEY < JSON: the first number for KEY.
json_num () { sed -n "s/.*\"$1\": \([0-9]*\).*/\1/p" | sed -n 1p; }
# json_str KEY < JSON: the first string for KEY.
json_str () { sed -n "s/.*\"$1\": \"\([^\"]*\)\".*/\1/p" | sed -n 1p; }

file_sha () { sha256sum < "$1" | cut -d' ' -f1; }

# The image formats the compaction tests run with, in one place: each NAME
# is a file formats/NAME.sh of hooks (formats/vhd.sh documents them).  A
# test that runs per format calls for_each_format; the others use the first.
image_formats="vhd"

_fmt_hooks="fmt_create_dynamic fmt_from_raw fmt_create_child fmt_geometry fmt_allocated_blocks
            fmt_same_structures fmt_other_readers fmt_fault_points fmt_qemu_readable"

# use_format NAME: load formats/NAME.sh in place of the format before;
# every hook must be there.
use_format ()
{
    local h
    [[ -f $srcdir/formats/$1.sh ]] || fail "no hooks for the image format '$1' (formats/$1.sh)"
    # shellcheck disable=SC2086  # a list of names
    unset -f $_fmt_hooks
    unset fmt_name fmt_suffix fmt_qemu_driver fmt_tools fmt_copy_barriers fmt_repoint_barriers
    # shellcheck source=/dev/null
    . "$srcdir/formats/$1.sh"
    [[ ${fmt_name:-} = "$1" && -n ${fmt_suffix:-} && -n ${fmt_qemu_driver:-} && -n ${fmt_copy_barriers:-} &&
       -n ${fmt_repoint_barriers:-} ]] ||
        fail "formats/$1.sh: fmt_name, fmt_suffix, fmt_qemu_driver, fmt_copy_barriers or fmt_repoint_barriers is missing"
    for h in $_fmt_hooks; do
        declare -F "$h" >/dev/null || fail "formats/$1.sh: no $h"
    done
}

# for_each_format FUNCTION: FUNCTION once per image format, with its hooks
# loaded, $fmt_name set and $d a scratch folder of its own.
for_each_format ()
{
    local f
    for f in $image_formats; do
        use_format "$f"
        d=$tmpdir/$f
        mkdir -p -- "$d"
        "$1"
    done
}

# requires_formats: skip unless the tools of every format's hooks are here.
requires_formats ()
{
    local f
    for f in $image_formats; do
        use_format "$f"
        # shellcheck disable=SC2086  # a list of commands
        requires $fmt_tools
    done
    use_format "${image_formats%% *}"
}

# alloc_blocks FILE: "INDEX FILE-OFFSET" of every allocated block, by
# index; also sets the geometry (fmt_geometry).
alloc_blocks ()
{
    fmt_geometry "$1"
    fmt_allocated_blocks "$1"
}

# img_optimum KEPT (fmt_geometry first): the size of the image packed from $img_first with KEPT
# blocks.
img_optimum () { echo $(( img_first + $1 * img_stride + img_tail )); }

# check_packed FILE FIRST [WHAT] (fmt_geometry FILE first): the allocated blocks occupy exactly the
# slots FIRST + i * stride, i = 0 .. allocated - 1, one each, and the
# format's tail follows the last one.
check_packed ()
{
    local f=$1 first=$2 what=${3:-$1} n
    alloc_blocks "$f" > "$tmpdir/packed.bat"
    n=$(wc -l < "$tmpdir/packed.bat")
    awk '{ print $2 }' "$tmpdir/packed.bat" | sort -n |
        awk -v first="$first" -v stride="$img_stride" '
            $1 != first + (NR - 1) * stride { printf "slot %d at %.0f, expected %.0f\n", NR - 1, $1, first + (NR - 1) * stride; bad = 1 }
            END { exit bad }' >&2 ||
        fail "$what: blocks are not packed from offset $first"
    [[ $(file_size "$f") = $(( first + n * img_stride + img_tail )) ]] ||
        fail "$what: file size $(file_size "$f"), $n blocks from $first end at $(( first + n * img_stride + img_tail ))"
}

# img_to_raw FILE RAW: the disk's content as a raw file.  Growable images
# are read by qemu-img (an independent reader, which also proves qemu still
# opens them; a file naming a log, as qemu-img check -r all replays it on
# a copy: fmt_qemu_readable); differencing images through the plugin, since qemu does not
# follow VHD parents.
img_to_raw ()
{
    local f=$1 out=$2
    rm -f -- "$out"
    fmt_geometry "$f"
    if (( img_child )); then
        serve "$f" readonly=1 --run "nbdcopy \"\$uri\" '$out'" ||
            fail "$f: the plugin cannot read it"
    else
        qemu-img convert -f "$fmt_qemu_driver" -O raw -- "$(fmt_qemu_readable "$f" "$out.replayed")" "$out" ||
            fail "$f: qemu-img cannot read it"
        rm -f -- "$out.replayed"
    fi
}

# block_is_zero RAW BLOCK BS: block BLOCK of RAW reads as zeros.
block_is_zero ()
{
    local raw=$1 b=$2 bs=$3 size off
    size=$(file_size "$raw")
    off=$(( b * bs ))
    (( off < size )) || return 0
    cmp -s -n $(( size - off < bs ? size - off : bs )) -i "$off:0" -- "$raw" /dev/zero
}

# block_same A B BLOCK BS: block BLOCK reads the same in raw files A and B.
block_same ()
{
    local b=$3 bs=$4
    cmp -s -n "$bs" -i "$(( b * bs )):$(( b * bs ))" -- "$1" "$2"
}

# rand_file FILE BYTES: random bytes, written 1 MiB at a time (into an
# ntfs-3g mount, every write is a round trip through FUSE: head's 8 KiB
# writes are several times slower).
rand_file ()
{
    dd if=/dev/urandom of="$1" bs=1M count="$2" iflag=count_bytes,fullblock status=none
}

# mkfs_ntfs FILE SIZE_MIB CLUSTER START_SECTOR SEED [NFILES [MAXMIB]]: a
# populated NTFS image (NFILES files of up to MAXMIB MiB, a directory, a
# file of zeros), some files deleted, and the sha256 of every remaining
# file in FILE.sums.
mkfs_ntfs ()
{
    local f=$1 mib=$2 cl=$3 start=$4 seed=$5 nfiles=${6:-12} maxmib=${7:-6} m=$tmpdir/mkfs-mnt i
    rm -f -- "$f"
    truncate -s $(( mib * MIB )) "$f"
    mkntfs -q -F -f -c "$cl" -s 512 -p "$start" -H 255 -S 63 -L "v$seed" "$f" 2>/dev/null ||
        fail "mkntfs -c $cl on $f"
    ntfs_mount "$f" "$m" big_writes || fail "cannot mount $f"
    RANDOM=$seed
    for (( i = 1; i <= nfiles; i++ )); do
        rand_file "$m/file$i" $(( (RANDOM * 32768 + RANDOM) % (maxmib * MIB) + 1000 ))
    done
    mkdir "$m/dir"
    rand_file "$m/dir/inner" $(( 3 * MIB ))
    dd if=/dev/zero of="$m/dir/zeros" bs=1M count=5 status=none
    for (( i = 2; i <= nfiles; i += 3 )); do
        rm -- "$m/file$i"
    done
    (cd "$m" && find . -type f -print0 | sort -z | xargs -0 sha256sum) > "$f.sums"
    ntfs_umount "$m"
}

# The NTFS volumes of the disk under test, as "START_BYTES:SIZE_BYTES:SUMS"
# words in $ntfs_parts (SUMS: the file with the sha256 of every file).

# part_extract RAW START SIZE OUT
part_extract ()
{
    dd if="$1" of="$4" bs=1M iflag=skip_bytes,count_bytes skip="$2" count="$3" \
       conv=sparse status=none
}

# clone_sum IMG: clone_hash (ntfs-functions.sh) with BLAKE2 (b2sum),
# three times faster than sha256sum here, where these tests spend most of
# their time.
clone_sum () { clone_hash "$1" b2sum; }

# ntfs_verify RAW WHAT [files]: one line per NTFS volume of $ntfs_parts:
# its offset and the sha256 of ntfsclone's image of its used clusters; with
# "files", also check that every file still has its sha256 (read-only
# ntfs-3g mount).
ntfs_verify ()
{
    local raw=$1 what=$2 files=${3:-} p start size sums img m=$tmpdir/files-mnt
    for p in $ntfs_parts; do
        IFS=: read -r start size sums <<<"$p"
        img=$raw
        if [[ $start != 0 ]]; then
            img=$tmpdir/verify-part.raw
            part_extract "$raw" "$start" "$size" "$img"
        fi
        echo "$start $(clone_sum "$img")"
        if [[ -n $files ]]; then
            [[ -s $sums ]] || fail "$what: no file list $sums"
            ntfs_mount "$img" "$m" ro || fail "$what: cannot mount the volume at $start"
            (cd "$m" && sha256sum --quiet --strict -c "$sums") >&2 ||
                { ntfs_umount "$m"; fail "$what: a file changed in the volume at $start"; }
            ntfs_umount "$m"
        fi
    done
    rm -f -- "$tmpdir/verify-part.raw"
}

# block_classes IMAGE JSON: `vhdctl analyze --json` into JSON; prints the
# block classes.
block_classes ()
{
    vhdctl_attaching analyze --json "$1" > "$2" || fail "$1: analyze failed"
    sed -n 's/.*"block-classes": "\([^"]*\)".*/\1/p' "$2"
}

# ntfs_free_ranges RAW: the free clusters of every NTFS volume of
# $ntfs_parts in the disk RAW, as "START LENGTH" byte ranges of the disk:
# ntfs-3g's own reading of each volume's $Bitmap (ntfscat), its cluster
# size and count from ntfsinfo.
ntfs_free_ranges ()
{
    local raw=$1 p start size sums img cs n
    for p in $ntfs_parts; do
        IFS=: read -r start size sums <<<"$p"
        img=$raw
        if [[ $start != 0 ]]; then
            img=$tmpdir/free-part.raw
            part_extract "$raw" "$start" "$size" "$img"
        fi
        ntfsinfo -m "$img" >"$tmpdir/free-info.txt" 2>/dev/null || fail "ntfsinfo -m on the volume at $start"
        cs=$(sed -n 's/^[[:space:]]*Cluster Size: \([0-9]*\)$/\1/p' "$tmpdir/free-info.txt")
        n=$(sed -n 's/^[[:space:]]*Volume Size in Clusters: \([0-9]*\)$/\1/p' "$tmpdir/free-info.txt")
        [[ -n $cs && -n $n ]] || fail "ntfsinfo -m on the volume at $start: no cluster size or count"
        ntfscat "$img" '$Bitmap' >"$tmpdir/free-bitmap" 2>/dev/null || fail "ntfscat \$Bitmap of the volume at $start"
        python3 "$srcdir/ext4-oracle.py" bitmap-free "$tmpdir/free-bitmap" "$cs" "$n" "$start" ||
            fail "the free clusters of the volume at $start"
    done
    rm -f -- "$tmpdir/free-part.raw" "$tmpdir/free-bitmap" "$tmpdir/free-info.txt"
}

# expected_drops IMAGE RAW MODE CLASSES [PARENT_RAW]: the BAT indexes of the
# blocks a compaction in MODE must drop, one a line, each followed by its
# reason (fs, zero or fs-zero):
#   fs   (modes full, fs): the block is allocated and 'F';
#   zero (mode zero): allocated, reads as zeros, and, in a differencing
#        disk, the parent's range does too;
#   mode full, not 'F' (the combined rule; the free ranges are ntfs-3g's,
#        ntfs_free_ranges): zero when the block reads as what its drop
#        uncovers (zeros; the parent's range), fs-zero when every byte
#        outside the free ranges does.
expected_drops ()
{
    local vhd=$1 raw=$2 mode=$3 classes=$4 praw=${5:-} b off c
    alloc_blocks "$vhd" > "$tmpdir/exp.bat"
    if [[ $mode = full ]]; then
        ntfs_free_ranges "$raw" > "$tmpdir/exp.free"
        python3 "$srcdir/ext4-oracle.py" reasons "$raw" "$img_bs" "$tmpdir/exp.bat" "$tmpdir/exp.free" \
            "$classes" ${praw:+"$praw"} || fail "expected_drops: the oracle failed"
        return
    fi
    while read -r b off; do
        c=${classes:b:1}
        if [[ $mode != zero && $c = F ]]; then
            echo "$b fs"
        elif [[ $mode != fs ]] && block_is_zero "$raw" "$b" "$img_bs" &&
             { [[ -z $praw ]] || block_is_zero "$praw" "$b" "$img_bs"; }; then
            echo "$b zero"
        fi
    done < "$tmpdir/exp.bat"
}

# check_content_rule BEFORE AFTER CLASSES BS MODE [PARENT_RAW] WHAT: a
# block whose content changed must be 'F' (and MODE not zero), or, in
# mode full, 'P' (the combined rule) with the disk unchanged outside
# ntfs-3g's free clusters (ntfs_free_ranges); and now read as zeros
# (dynamic) or as the parent's range (differencing).  Everything else,
# partition tables, other file systems and NTFS metadata included, reads
# exactly as before.  Prints the number of changed blocks.
check_content_rule ()
{
    local before=$1 after=$2 classes=$3 bs=$4 mode=$5 praw=$6 what=$7 b n changed=0 allowed=F
    [[ $(file_size "$before") = $(file_size "$after") ]] ||
        fail "$what: the virtual size changed"
    if cmp -s -- "$before" "$after"; then
        echo 0
        return
    fi
    if [[ $mode = full ]]; then
        ntfs_free_ranges "$before" > "$tmpdir/content.free"
        allowed=FP
    fi
    n=$(( ($(file_size "$before") + bs - 1) / bs ))
    for (( b = 0; b < n; b++ )); do
        block_same "$before" "$after" "$b" "$bs" && continue
        changed=$((changed + 1))
        [[ $mode != zero && -n ${classes:b:1} && $allowed = *"${classes:b:1}"* ]] ||
            fail "$what: block $b (class '${classes:b:1}') changed in mode $mode"
        [[ ${classes:b:1} != P ]] ||
            python3 "$srcdir/ext4-oracle.py" same-outside "$before" "$after" "$tmpdir/content.free" \
                $(( b * bs )) "$bs" ||
            fail "$what: block $b, partly free, changed outside ntfs-3g's free clusters"
        if [[ -n $praw ]]; then
            block_same "$praw" "$after" "$b" "$bs" ||
                fail "$what: dropped block $b does not read as its parent's range"
        else
            block_is_zero "$after" "$b" "$bs" ||
                fail "$what: dropped block $b does not read as zeros"
        fi
    done
    echo "$changed"
}

# make_changed_child: in $d/chain, par.FORMAT (a 64 MiB whole-disk NTFS
# with deleted files) and child.FORMAT, a differencing child whose volume
# changed (a file deleted, files added, some deleted again): every block
# that changed written into the child through the plugin.  $d/par.raw is
# the parent's content, $d/mod.raw.sums the sha256 of the child's files,
# $ntfs_parts its volume.
make_changed_child ()
{
    local b i
    mkdir "$d/chain"
    mkfs_ntfs "$d/par.ntfs" 64 4096 0 22 8 4
    fmt_from_raw "$d/par.ntfs" "$d/chain/par.$fmt_suffix"
    rm -f "$d/par.ntfs"
    fmt_create_child "$d/chain/child.$fmt_suffix" "$d/chain/par.$fmt_suffix"
    img_to_raw "$d/chain/par.$fmt_suffix" "$d/par.raw"
    cp --sparse=always "$d/par.raw" "$d/mod.raw"
    ntfs_mount "$d/mod.raw" "$d/mnt" big_writes || fail "cannot mount the child's volume"
    rm -- "$d/mnt/file1"
    for i in 1 2 3 4 5 6; do rand_file "$d/mnt/new$i" $(( i * 700000 + 2500000 )); done
    rm -- "$d/mnt/new2" "$d/mnt/new4" "$d/mnt/new5"
    (cd "$d/mnt" && find . -type f -print0 | sort -z | xargs -0 sha256sum) > "$d/mod.raw.sums"
    ntfs_umount "$d/mnt"
    fmt_geometry "$d/chain/child.$fmt_suffix"
    : > "$d/child.cmds"
    for ((b = 0; b < img_n; b++)); do
      block_same "$d/par.raw" "$d/mod.raw" "$b" "$img_bs" && continue
      dd if="$d/mod.raw" of="$d/blk.$b" bs="$img_bs" skip="$b" count=1 status=none
      echo "write -q -s $d/blk.$b $((b * img_bs)) $(file_size "$d/blk.$b")" >> "$d/child.cmds"
    done
    awk '{ printf "-c \"%s\" ", $0 }' "$d/child.cmds" > "$d/child.args"
    serve "$d/chain/child.$fmt_suffix" --run "qemu-io -f raw $(cat "$d/child.args") \"\$uri\""
    rm -f "$d"/blk.* "$d/mod.raw"
    ntfs_parts="0:$((64 * MIB)):$d/mod.raw.sums"
}

# verify_interruption BEFORE REF MODE IMAGE WHAT: IMAGE as a compaction in
# MODE left it when it was interrupted (killed, crashed, power cut), then a
# normal run.  BEFORE: where the files of the image before any run are
# (BEFORE.raw0 its content, BEFORE.classes its block classes, BEFORE.fp0
# its NTFS fingerprint, BEFORE.praw its parent's content or nothing); REF:
# those of an uninterrupted run (REF.rawref its content, REF.optimum its
# size, REF.first its first block); scratch files REF.*x.
#   - `vhdctl check` is clean; other readers open it (no parent);
#   - it reads as before, or as the uninterrupted run, or else differs only
#     in blocks MODE may drop, which read as zeros (or as the parent), and
#     ntfsclone's image of the volume is unchanged;
#   - a normal run ends at REF.optimum, checks clean, is packed, and reads
#     exactly as the uninterrupted run.
verify_interruption ()
{
    local before=$1 ref=$2 mode=$3 img=$4 what=$5 praw
    praw=$(cat "$before.praw")
    # Before any reader that locks (qemu-img, the plugin): an interrupted
    # process's file lives on until the kernel has torn its ring down.
    wait_unlocked "$img" || fail "$what: the image stays locked after the interruption"
    "$VHDCTL" check "$img" > "$ref.checkx" 2>&1 ||
        { cat "$ref.checkx" >&2; fail "$what: vhdctl check is not clean after the interruption"; }
    [[ -n $praw ]] || fmt_other_readers "$img" "$what"
    img_to_raw "$img" "$ref.rawx"
    if ! cmp -s "$ref.rawx" "$before.raw0" && ! cmp -s "$ref.rawx" "$ref.rawref"; then
        check_content_rule "$before.raw0" "$ref.rawx" "$(cat "$before.classes")" "$img_bs" "$mode" "$praw" \
            "$what" >/dev/null
        ntfs_verify "$ref.rawx" "$what" > "$ref.fpx"
        cmp -s "$before.fp0" "$ref.fpx" || fail "$what: ntfsclone sees a different volume after the interruption"
    fi
    vhdctl_attaching compact --mode "$mode" --no-progress "$img" > "$ref.rerunx" 2>&1 ||
        { cat "$ref.rerunx" >&2; fail "$what: the run after the interruption failed"; }
    [[ $(file_size "$img") = $(cat "$ref.optimum") ]] ||
        fail "$what: the run after the interruption ends at $(file_size "$img") bytes, the uninterrupted one at" \
             "$(cat "$ref.optimum")"
    "$VHDCTL" check "$img" > "$ref.checkx" 2>&1 ||
        { cat "$ref.checkx" >&2; fail "$what: vhdctl check after the second run"; }
    check_packed "$img" "$(cat "$ref.first")" "$what (second run)"
    img_to_raw "$img" "$ref.rawx"
    cmp -s "$ref.rawref" "$ref.rawx" ||
        fail "$what: after the second run the disk reads differently from an uninterrupted compaction"
}

# in_use_qemu_nbd FILE: start qemu-nbd on FILE (it takes qemu's image
# locks); sets qnbd_pid.  stop_qemu_nbd stops it.
start_qemu_nbd ()
{
    local f=$1 sock=$tmpdir/qnbd.sock i
    rm -f -- "$sock"
    qemu-nbd -f "$fmt_qemu_driver" -k "$sock" --persistent -- "$f" 2>"$tmpdir/qemu-nbd.log" &
    qnbd_pid=$!
    cleanup_fn _stop_pid "$qnbd_pid"
    for (( i = 0; i < 200; i++ )); do
        [[ -S $sock ]] && return 0
        kill -0 "$qnbd_pid" 2>/dev/null || break
        sleep 0.05
    done
    cat "$tmpdir/qemu-nbd.log" >&2
    fail "qemu-nbd did not start on $f"
}

stop_qemu_nbd ()
{
    _stop_pid "$qnbd_pid"
}

_stop_pid ()
{
    kill "$1" 2>/dev/null && wait "$1" 2>/dev/null
    return 0
}

use_format "${image_formats%% *}"
