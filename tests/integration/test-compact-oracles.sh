#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# `vhdctl compact` on real disks, held to oracles that are not ours.  Disks:
# a GPT disk (NTFS, 4 KiB clusters, beside a populated ext4), an MBR disk
# with an extended partition (NTFS with 512 B clusters, NTFS with 64 KiB
# clusters in a logical partition, an empty Linux partition), a whole-disk
# NTFS without a partition table, that disk again after the guest
# zero-filled its free space (all three modes), and a differencing child
# whose NTFS was changed (files deleted and added) by writing the changed
# blocks through the plugin.  Every NTFS volume has deleted files.
#
# The whole list runs once per image format, VHD and VHDX, every
# format-specific step through the format's hooks
# (formats/FORMAT.sh); each line of output names the format.  What
# follows says it of VHD; for VHDX the blocks are packed from the end of
# its tables (header section, log, regions), the headers, log and BAT
# change and the rest of the header section and the metadata do not, and
# the other readers are qemu-img (info, check), 7-Zip and vhdiinfo.
#
# The GPT disk is compacted with 64 blocks in flight, the MBR disk with one.
# For every compaction:
#   - a --dry-run first leaves the file byte-identical and announces the
#     size, drop counts and moves of the real run;
#   - the real run drops exactly the blocks an independent computation
#     expects: allocated blocks (BAT read with od) that are free in the file
#     system ('F' in the pre-compaction `analyze --json`, modes full and fs)
#     or read as zeros (cmp against /dev/zero, modes full and zero; in a
#     differencing disk only where the parent reads as zeros too);
#   - the file is exactly the optimum: survivors packed from the first block
#     slot (qemu-img: header, BAT; `vhdctl create`: header, BAT and two
#     512-byte parent locators), then the footer; in fs mode this is also
#     the `analyze` final-size announced before;
#   - every survivor's sector bitmap and data are byte-identical at its new
#     place; footer, footer copy, dynamic header and locators unchanged;
#   - the disk's content changed only in dropped file-system-free blocks,
#     which now read as zeros (or as the parent); ntfsclone's image of every
#     NTFS volume (its used clusters) and every file's sha256 are unchanged;
#   - `vhdctl check` is clean, qemu-img and vhdiinfo open the result;
#   - a second run changes nothing (the file's sha256 is unchanged).
set -euo pipefail
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/ntfs-functions.sh"
requires qemu-img qemu-io nbdkit nbdcopy sfdisk mkntfs ntfs-3g ntfsclone \
         sha256sum b2sum dd cmp od mountpoint
requires_env VHDCTL VHD_PLUGIN
make_tmpdir
. "$(dirname "$0")/compact-functions.sh"
# VHDX too (formats/vhdx.sh: 1 MiB blocks, WSL's; test-vhdx-compact.sh
# has Hyper-V's 32 MiB), every scenario.
image_formats="vhd vhdx"
requires_formats
have_fuse || skip "ntfs-3g cannot mount images here (no FUSE)"
t_start=$SECONDS

# check_compact NAME IMAGE MODE [PARENT_RAW]: compact IMAGE in MODE and
# hold the result to every oracle above.  $ntfs_parts lists its NTFS volumes.
check_compact ()
{
    local name=$1 img=$2 mode=$3 praw=${4:-} what="$fmt_name $1 ($3)"
    # The copy lies beside the image: a VHDX child finds its parent relative to itself.
    local orig=${img%/*}/$name.orig raw0=$d/$name.before.raw raw1=$d/$name.after.raw
    local first classes json=$d/$name.analyze.json drops nfs nzero nfz kept optimum
    local out=$d/$name.out err=$d/$name.err

    cp -- "$img" "$orig"
    fmt_geometry "$img"
    first=$img_first
    # Precondition of the optimum formula: the maker packed the blocks.
    check_packed "$img" "$first" "$what (before)"

    img_to_raw "$img" "$raw0"
    classes=$(block_classes "$img" "$json")
    [[ ${#classes} = "$img_n" ]] || fail "$what: ${#classes} block classes for $img_n blocks"
    ntfs_verify "$raw0" "$what" > "$d/$name.fp0"
    expected_drops "$img" "$raw0" "$mode" "$classes" "$praw" > "$d/$name.drops"
    drops=$(wc -l < "$d/$name.drops")
    nfs=$(grep -c ' fs$' "$d/$name.drops" || true)
    nzero=$(grep -c ' zero$' "$d/$name.drops" || true)
    nfz=$(grep -c ' fs-zero$' "$d/$name.drops" || true)
    kept=$(( $(alloc_blocks "$img" | wc -l) - drops ))
    optimum=$(img_optimum "$kept")
    (( drops > 0 )) || fail "$what: test setup: nothing to drop"
    if [[ $mode = fs ]]; then
        [[ $(json_num final-size < "$json") = "$optimum" ]] ||
            fail "$what: analyze announced $(json_num final-size < "$json"), the fs-mode optimum is $optimum"
    elif [[ $mode = full ]]; then
        [[ $(json_num final-size-full < "$json") = "$optimum" ]] ||
            fail "$what: analyze announced $(json_num final-size-full < "$json") in mode full, the optimum is $optimum"
    fi

    # Dry run: same numbers, nothing written.
    vhdctl_attaching compact --dry-run --json --no-progress --mode "$mode" "$img" >"$out.dry" 2>"$err" ||
        { cat "$err" >&2; fail "$what: --dry-run failed"; }
    cmp -s -- "$orig" "$img" || fail "$what: --dry-run changed the file"
    [[ $(json_num size-after < "$out.dry") = "$optimum" ]] ||
        fail "$what: --dry-run says $(json_num size-after < "$out.dry") bytes, optimum $optimum"

    # The real run.
    # shellcheck disable=SC2086  # $CC_ARGS: extra options, word-split
    vhdctl_attaching compact --json --no-progress --mode "$mode" ${CC_ARGS:-} "$img" >"$out" 2>"$err" ||
        { cat "$err" >&2; fail "$what: compact failed"; }
    [[ ! -s $err ]] || { cat "$err" >&2; fail "$what: compact wrote to stderr"; }
    local k
    for k in size-after blocks-dropped-fs blocks-dropped-zero blocks-dropped-fs-zero blocks-moved bytes-moved; do
        [[ $(json_num "$k" < "$out") = $(json_num "$k" < "$out.dry") ]] ||
            fail "$what: $k: --dry-run said $(json_num "$k" < "$out.dry"), the run $(json_num "$k" < "$out")"
    done
    [[ $(json_num size-after < "$out") = "$optimum" && $(file_size "$img") = "$optimum" ]] ||
        fail "$what: reported $(json_num size-after < "$out"), file is $(file_size "$img"), optimum $optimum"
    [[ $(json_num size-before < "$out") = $(file_size "$orig") ]] || fail "$what: wrong size-before"
    [[ $(json_num blocks-dropped-fs < "$out") = "$nfs" && $(json_num blocks-dropped-zero < "$out") = "$nzero" &&
       $(json_num blocks-dropped-fs-zero < "$out") = "$nfz" ]] ||
        fail "$what: dropped $(json_num blocks-dropped-fs < "$out") free + $(json_num blocks-dropped-zero < "$out") zero +" \
             "$(json_num blocks-dropped-fs-zero < "$out") fs-zero, expected $nfs + $nzero + $nfz"

    # The file itself: exactly the expected blocks left, packed, moved intact.
    alloc_blocks "$orig" > "$d/$name.bat0"
    alloc_blocks "$img" > "$d/$name.bat1"
    diff <(awk '{ print $1 }' "$d/$name.bat1") \
         <(awk 'NR == FNR { drop[$1] = 1; next } !($1 in drop) { print $1 }' "$d/$name.drops" "$d/$name.bat0") >&2 ||
        fail "$what: the blocks left are not the allocated ones minus the expected drops"
    check_packed "$img" "$first" "$what"
    local b o0 o1 moved=0
    while read -r b o1; do
        o0=$(awk -v b="$b" '$1 == b { print $2 }' "$d/$name.bat0")
        [[ $o0 = "$o1" ]] || moved=$((moved + 1))
        cmp -s -n "$img_stride" -i "$o0:$o1" -- "$orig" "$img" ||
            fail "$what: block $b (bitmap + data) differs at its new place $o1 (was $o0)"
    done < "$d/$name.bat1"
    [[ $moved = $(json_num blocks-moved < "$out") ]] ||
        fail "$what: $moved blocks changed place, the report says $(json_num blocks-moved < "$out")"
    fmt_geometry "$img"
    fmt_same_structures "$orig" "$img" "$what"

    # Other readers.
    "$VHDCTL" check "$img" >"$d/$name.check" || { cat "$d/$name.check" >&2; fail "$what: vhdctl check"; }
    fmt_other_readers "$img" "$what"

    # The content.
    local changed
    img_to_raw "$img" "$raw1"
    changed=$(check_content_rule "$raw0" "$raw1" "$classes" "$img_bs" "$mode" "$praw" "$what")
    ntfs_verify "$raw1" "$what" files > "$d/$name.fp1"
    cmp -s "$d/$name.fp0" "$d/$name.fp1" ||
        { diff "$d/$name.fp0" "$d/$name.fp1" >&2; fail "$what: ntfsclone sees different used clusters"; }

    # Idempotent.
    cp -- "$img" "$orig"
    vhdctl_attaching compact --no-progress --mode "$mode" "$img" >"$out.2" 2>"$err" ||
        { cat "$err" >&2; fail "$what: second run failed"; }
    cmp -s -- "$orig" "$img" || fail "$what: the second run changed the file"

    echo "$what: $(json_num size-before < "$out") -> $optimum bytes (optimum): dropped $nfs free + $nzero zero," \
         "moved $moved, $changed blocks now read differently (all free); volumes and files intact"
    rm -f -- "$raw0" "$raw1" "$orig"
}

# scenarios: the disks above, made in the current format, each compacted.
scenarios ()
{
    echo "== $fmt_name: GPT: NTFS with 4 KiB clusters beside a populated ext4"
    truncate -s 256M "$d/gpt.raw"
    printf 'label: gpt\nstart=2048, size=%d, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7\nstart=%d, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n' \
      $((160 * 2048)) $((2048 + 160 * 2048)) | sfdisk -q "$d/gpt.raw"
    mkfs_ntfs "$d/gpt-p1.ntfs" 160 4096 2048 1
    dd if="$d/gpt-p1.ntfs" of="$d/gpt.raw" bs=1M seek=1 conv=notrunc,sparse status=none
    if command -v mkfs.ext4 >/dev/null; then
      mkdir -p "$d/ext4-src/sub"
      rand_file "$d/ext4-src/a" $((6 * MIB))
      rand_file "$d/ext4-src/sub/b" $((3 * MIB))
      truncate -s $((94 * MIB)) "$d/ext4.raw"
      mkfs.ext4 -q -F -d "$d/ext4-src" "$d/ext4.raw"
      dd if="$d/ext4.raw" of="$d/gpt.raw" bs=1M seek=161 conv=notrunc,sparse status=none
      rm -rf "$d/ext4.raw" "$d/ext4-src"
    fi
    fmt_from_raw "$d/gpt.raw" "$d/gpt.$fmt_suffix"
    rm -f "$d/gpt.raw" "$d/gpt-p1.ntfs"
    ntfs_parts="$MIB:$((160 * MIB)):$d/gpt-p1.ntfs.sums"
    CC_ARGS="--queue-depth 64" check_compact gpt "$d/gpt.$fmt_suffix" full

    echo "== $fmt_name: MBR: NTFS (512 B clusters), NTFS (64 KiB clusters) in a logical partition, Linux"
    truncate -s 300M "$d/mbr.raw"
    sfdisk -q "$d/mbr.raw" <<EOS
label: dos
start=2048, size=$((100 * 2048)), type=7
start=$((2048 + 100 * 2048)), type=5
start=$((4096 + 100 * 2048)), size=$((150 * 2048)), type=7
start=$((6144 + 250 * 2048)), type=83
EOS
    l1=$((4096 + 100 * 2048))
    mkfs_ntfs "$d/mbr-p1.ntfs" 100 512 2048 2
    mkfs_ntfs "$d/mbr-p5.ntfs" 150 65536 $l1 3
    dd if="$d/mbr-p1.ntfs" of="$d/mbr.raw" bs=1M seek=1 conv=notrunc,sparse status=none
    dd if="$d/mbr-p5.ntfs" of="$d/mbr.raw" bs=512 seek=$l1 conv=notrunc,sparse status=none
    fmt_from_raw "$d/mbr.raw" "$d/mbr.$fmt_suffix"
    rm -f "$d/mbr.raw" "$d/mbr-p1.ntfs" "$d/mbr-p5.ntfs"
    ntfs_parts="$MIB:$((100 * MIB)):$d/mbr-p1.ntfs.sums $((l1 * 512)):$((150 * MIB)):$d/mbr-p5.ntfs.sums"
    CC_ARGS="--queue-depth 1" check_compact mbr "$d/mbr.$fmt_suffix" full

    echo "== $fmt_name: no partition table: NTFS over the whole disk, zero-filled by the guest; modes zero, fs, full"
    # Through the plugin, as a guest would: zeros over every other deleted
    # file's (free, non-zero) block, and zeros written into every block never
    # written, the used zero-filled file's blocks among them.  All blocks are
    # then allocated: some free and zero, some free with deleted data, some
    # used and zero, some used.
    mkfs_ntfs "$d/zfill.ntfs" 96 4096 0 4 16 5
    fmt_from_raw "$d/zfill.ntfs" "$d/zfill.$fmt_suffix"
    rm -f "$d/zfill.ntfs"
    ntfs_parts="0:$((96 * MIB)):$d/zfill.ntfs.sums"
    img_to_raw "$d/zfill.$fmt_suffix" "$d/zfill.raw"
    classes=$(block_classes "$d/zfill.$fmt_suffix" "$d/zfill.json")
    fmt_geometry "$d/zfill.$fmt_suffix"
    alloc_blocks "$d/zfill.$fmt_suffix" > "$d/zfill.bat"
    : > "$d/zfill.cmds"
    nzf=0
    for ((b = 0; b < img_n; b++)); do
      off=$((b * img_bs)) len=$img_bs
      (( off + len <= $(file_size "$d/zfill.raw") )) || len=$(( $(file_size "$d/zfill.raw") - off ))
      if ! grep -q "^$b " "$d/zfill.bat"; then
        echo "write -q -P 0 $off $len" >> "$d/zfill.cmds"
      elif [[ ${classes:b:1} = F ]] && ! block_is_zero "$d/zfill.raw" "$b" "$img_bs" && (( nzf++ % 2 == 0 )); then
        echo "write -q -P 0 $off $len" >> "$d/zfill.cmds"
      fi
    done
    (( nzf >= 3 )) || fail "$fmt_name zfill: test setup: only $nzf free blocks with deleted data"
    awk '{ printf "-c \"%s\" ", $0 }' "$d/zfill.cmds" > "$d/zfill.args"
    serve "$d/zfill.$fmt_suffix" --run "qemu-io -f raw $(cat "$d/zfill.args") \"\$uri\""
    [[ $(alloc_blocks "$d/zfill.$fmt_suffix" | wc -l) = "$img_n" ]] || fail "$fmt_name zfill: writing zeros did not allocate every block"
    img_to_raw "$d/zfill.$fmt_suffix" "$d/zfill2.raw"
    cmp -s "$d/zfill.raw" "$d/zfill2.raw" && fail "$fmt_name zfill: test setup: nothing was zeroed"
    rm -f "$d/zfill.raw" "$d/zfill2.raw"
    classes=$(block_classes "$d/zfill.$fmt_suffix" "$d/zfill.json")
    grep -q '[UP]' <<<"$classes" || fail "$fmt_name zfill: no used block"
    cp "$d/zfill.$fmt_suffix" "$d/zfill-zero.$fmt_suffix"
    cp "$d/zfill.$fmt_suffix" "$d/zfill-fs.$fmt_suffix"
    check_compact zfill-zero "$d/zfill-zero.$fmt_suffix" zero
    check_compact zfill-fs "$d/zfill-fs.$fmt_suffix" fs
    check_compact zfill-full "$d/zfill.$fmt_suffix" full
    # Full mode dropped used zero blocks too, and free blocks holding data.
    grep -q ' zero$' "$d/zfill-full.drops" || fail "$fmt_name zfill: full mode dropped no used zero block"
    grep -q ' fs$' <(comm -23 <(sort "$d/zfill-full.drops") <(sed 's/ zero$/ fs/' "$d/zfill-zero.drops" | sort)) ||
      fail "$fmt_name zfill: no free block with data was dropped"

    echo "== $fmt_name: a differencing child whose NTFS changed"
    mkdir -p "$d/chain"
    mkfs_ntfs "$d/chain/par.ntfs" 128 4096 0 5
    fmt_from_raw "$d/chain/par.ntfs" "$d/chain/par.$fmt_suffix"
    rm -f "$d/chain/par.ntfs"
    pclasses=$(block_classes "$d/chain/par.$fmt_suffix" "$d/par.json")
    fmt_create_child "$d/chain/child.$fmt_suffix" "$d/chain/par.$fmt_suffix"
    img_to_raw "$d/chain/par.$fmt_suffix" "$d/par.raw"
    cp --sparse=always "$d/par.raw" "$d/mod.raw"
    m=$d/mod-mnt
    ntfs_mount "$d/mod.raw" "$m" big_writes || fail "cannot mount the child's volume"
    rm -- "$m/file1" "$m/file3" "$m/dir/inner"
    for i in 1 2 3 4; do rand_file "$m/new$i" $(( i * 1500000 + 4321 )); done
    dd if=/dev/zero of="$m/newzeros" bs=1M count=4 status=none
    rm -- "$m/new2"
    echo "appended in the child" >> "$m/file4"
    (cd "$m" && find . -type f -print0 | sort -z | xargs -0 sha256sum) > "$d/mod.raw.sums"
    ntfs_umount "$m"
    # The guest's writes reach the child through the plugin: every changed
    # block.  Then the guest zero-fills some free space: a block where the
    # parent reads as zeros too (a zero drop in zero mode), and free blocks
    # over the parent's deleted data (never a zero drop: the child would then
    # show that data).  A block the parent calls free and the child's volume did
    # not touch is free in the child too.
    fmt_geometry "$d/chain/child.$fmt_suffix"
    : > "$d/child.cmds"
    zpz=-1 zpd=()
    for ((b = 0; b < img_n; b++)); do
      len=$(( b < img_n - 1 ? img_bs : $(file_size "$d/par.raw") - b * img_bs ))
      if ! block_same "$d/par.raw" "$d/mod.raw" "$b" "$img_bs"; then
        dd if="$d/mod.raw" of="$d/blk.$b" bs="$img_bs" skip="$b" count=1 status=none
        echo "write -q -s $d/blk.$b $((b * img_bs)) $len" >> "$d/child.cmds"
      elif (( zpz < 0 )) && block_is_zero "$d/par.raw" "$b" "$img_bs"; then
        zpz=$b
        echo "write -q -P 0 $((b * img_bs)) $len" >> "$d/child.cmds"
      elif [[ ${pclasses:b:1} = F ]] && (( ${#zpd[@]} < 2 )) && ! block_is_zero "$d/par.raw" "$b" "$img_bs"; then
        zpd+=("$b")
        echo "write -q -P 0 $((b * img_bs)) $len" >> "$d/child.cmds"
      fi
    done
    (( zpz >= 0 && ${#zpd[@]} >= 1 )) ||
      fail "$fmt_name child: test setup: no block to zero-fill (zero over zero: $zpz, over data: ${zpd[*]})"
    awk '{ printf "-c \"%s\" ", $0 }' "$d/child.cmds" > "$d/child.args"
    serve "$d/chain/child.$fmt_suffix" --run "qemu-io -f raw $(cat "$d/child.args") \"\$uri\""
    rm -f "$d"/blk.* "$d/mod.raw"
    classes=$(block_classes "$d/chain/child.$fmt_suffix" "$d/child.json")
    for b in "$zpz" "${zpd[@]}"; do
      [[ ${classes:b:1} != . ]] || fail "$fmt_name child: test setup: block $b not allocated in the child"
    done
    for b in "${zpd[@]}"; do
      [[ ${classes:b:1} = F ]] || fail "$fmt_name child: test setup: zero-filled block $b is '${classes:b:1}', not free"
    done
    echo "$fmt_name child: $(wc -l < "$d/child.cmds") blocks written into the child"
    cp "$d/chain/child.$fmt_suffix" "$d/chain/child-zero.$fmt_suffix"
    ntfs_parts="0:$((128 * MIB)):$d/mod.raw.sums"
    cp "$d/chain/par.$fmt_suffix" "$d/par.copy"
    check_compact child "$d/chain/child.$fmt_suffix" full "$d/par.raw"
    check_compact child-zero "$d/chain/child-zero.$fmt_suffix" zero "$d/par.raw"
    cmp -s "$d/chain/par.$fmt_suffix" "$d/par.copy" || fail "$fmt_name child: compacting the child changed its parent"
    for b in "${zpd[@]}"; do
      grep -q "^$b fs$" "$d/child.drops" || fail "$fmt_name child: free zero-filled block $b over parent data not dropped in full mode"
      ! grep -q "^$b " "$d/child-zero.drops" || fail "$fmt_name child: zero block $b over parent data was dropped in zero mode"
    done
    grep -q "^$zpz zero$" "$d/child-zero.drops" || fail "$fmt_name child: zero block $zpz over parent zeros not dropped in zero mode"

    echo "== $fmt_name: zero detection: a block is zero only if every byte is"
    # The scan reads a block's first 4 KiB alone and the rest only when those
    # are zero; a non-zero byte anywhere after them must keep the block.
    # Blocks (2 MiB): 0 zeros; 1 zeros but its last byte; 2 zeros but the byte
    # right after the first 4 KiB; 3 zeros but the last byte of the first
    # 4 KiB; 4 zeros; 5 data from its first byte.  Zero mode drops 0 and 4.
    fmt_create_dynamic "$d/edges.$fmt_suffix" 16M
    qemu-io -f "$fmt_qemu_driver" -c "write -q -P 0 0 12M" -c "write -q -P 7 $((4 * MIB - 1)) 1" \
        -c "write -q -P 7 $((4 * MIB + 4096)) 1" -c "write -q -P 7 $((6 * MIB + 4095)) 1" \
        -c "write -q -P 9 $((10 * MIB)) 2M" "$d/edges.$fmt_suffix"
    img_to_raw "$d/edges.$fmt_suffix" "$d/edges.raw"
    "$VHDCTL" compact --json --no-progress --mode zero "$d/edges.$fmt_suffix" > "$d/edges.json" ||
        fail "$fmt_name edges: compact failed"
    [[ $(json_num blocks-dropped-zero < "$d/edges.json") = 2 ]] ||
        fail "$fmt_name edges: $(json_num blocks-dropped-zero < "$d/edges.json") zero blocks dropped, expected 2 (0 and 4)"
    alloc_blocks "$d/edges.$fmt_suffix" | awk '{ print $1 }' | tr '\n' ' ' > "$d/edges.kept"
    [[ $(cat "$d/edges.kept") = "1 2 3 5 " ]] || fail "$fmt_name edges: blocks kept: $(cat "$d/edges.kept"), expected 1 2 3 5"
    img_to_raw "$d/edges.$fmt_suffix" "$d/edges2.raw"
    cmp -s "$d/edges.raw" "$d/edges2.raw" || fail "$fmt_name edges: the disk reads differently after compaction"
}

for_each_format scenarios
echo "all compactions reached the optimum with every volume intact ($((SECONDS - t_start)) s)"
