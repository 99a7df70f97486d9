#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Writing through the plugin.  For each image, one seeded list of qemu-io
# commands is applied twice: over NBD to the plugin, and to a raw copy of
# the image's initial contents (the reference).  Afterwards:
#   - reading back through the plugin gives the reference;
#   - qemu's vpc driver reads the same from the file (not for
#     differencing images: qemu ignores their parent);
#   - the file still opens with every structure validated (the plugin
#     refuses anything doubtful), `qemu-img check` does not complain
#     (qemu 7.2 does not implement check for vpc and exits 63) and, with
#     $VHDCTL, `vhdctl check` is clean;
#   - a differencing image's parent is byte-for-byte unchanged.
#
# The commands: writes at random offsets and lengths (sector-aligned,
# unaligned, across block boundaries, in the short last block), some with
# FUA; zeroing of random ranges; trims; a batch of concurrent aio writes to
# distinct blocks (concurrent allocation); then a fixed sequence that must
# leave whole blocks unallocated (zeroing, trimming, the short last block),
# checked with qemu-img map on the file and nbdinfo --map through the
# plugin.
#
# What each command means for the reference:
#   write / write -z         the same command
#   discard, dynamic         only whole blocks are trimmed, and they read
#                            as zeros: the reference gets write -z
#   discard, fixed           the range is punched out of the file; only
#                            issued when the scratch file system can punch
#                            holes; the reference gets write -z
#   discard, differencing    a no-op (the parent would show through): the
#                            reference is left alone
#
# SEED=N reruns with other random commands (default 1).

source "$(dirname "$0")/functions.sh"
requires qemu-img qemu-io nbdkit nbdcopy nbdinfo cmp awk md5sum
requires_env VHD_PLUGIN
make_tmpdir

seed=${SEED:-1}
RANDOM=$seed

"$datadir/make-images.sh" "$tmpdir" dyn-100M3s dyn-bs4K dyn-bs512K dyn-200G fixed-10M >/dev/null
images=(dyn-100M3s dyn-bs4K dyn-bs512K dyn-200G fixed-10M)

# Parent and children for the differencing cases.
if have_env VHDCTL; then
    cp "$tmpdir/dyn-100M3s.vhd" "$tmpdir/base.vhd"
    "$VHDCTL" create "$tmpdir/child-512K.vhd" --parent "$tmpdir/base.vhd" --block-size 524288
    "$VHDCTL" create "$tmpdir/child-chain.vhd" --parent "$tmpdir/child-512K.vhd" --block-size 4096
    images+=(child-512K child-chain)
else
    echo "$testname: differencing images skipped: \$VHDCTL not set" >&2
fi

# Three pattern files of different, odd lengths: qemu-io repeats them.
random_file "$tmpdir/pat1" 65521 11
random_file "$tmpdir/pat2" 4099 22
random_file "$tmpdir/pat3" 1048573 33

# Can the scratch file system punch holes (trim of fixed images)?
can_punch=0
if command -v fallocate >/dev/null; then
    head -c 65536 /dev/zero > "$tmpdir/punch"
    fallocate --punch-hole --keep-size -o 4096 -l 8192 "$tmpdir/punch" 2>/dev/null && can_punch=1
    rm -f "$tmpdir/punch"
fi

rand64 ()
{
    echo $(( ((RANDOM << 45) ^ (RANDOM << 30) ^ (RANDOM << 15) ^ RANDOM) & ((1 << 62) - 1) ))
}

# A random offset: near a block boundary, sector-aligned, or anywhere.
rand_offset ()
{
    local size=$1 bs=$2 nblocks=$(( ($1 + $2 - 1) / $2 ))
    case $(( RANDOM % 4 )) in
    0) local o=$(( $(rand64) % nblocks * bs + RANDOM % 1024 - 512 ))
       (( o < 0 )) && o=0
       echo $(( o < size ? o : size - 1 )) ;;
    1) echo $(( $(rand64) % (size / 512) * 512 )) ;;
    2) echo $(( size - 1 - RANDOM % 3000 )) ;;   # the end of the disk
    *) echo $(( $(rand64) % size )) ;;
    esac
}

# A random length: tiny, around a block, or several blocks (≤ 4 MiB).
rand_length ()
{
    local bs=$1 max=$(( 4 << 20 ))
    case $(( RANDOM % 3 )) in
    0) echo $(( 1 + RANDOM % 1024 )) ;;
    1) echo $(( 1 + (bs < max ? bs : max) - 512 + RANDOM % 1024 )) ;;
    *) echo $(( 1 + $(rand64) % (3 * bs < max ? 3 * bs : max) )) ;;
    esac
}

nbd_cmds=()
ref_cmds=()

# op NBD_CMD [REF_CMD]: a command for the plugin and its reference twin
# ("-" for none; the default is the same command).
op ()
{
    nbd_cmds+=(-c "$1")
    [[ "${2-$1}" = - ]] || ref_cmds+=(-c "${2-$1}")
    printf '%s\t%s\n' "$1" "${2-$1}" >> "$tmpdir/$name.ops"
}

# gen_ops KIND SIZE BLOCK: fills nbd_cmds and ref_cmds.
gen_ops ()
{
    local kind=$1 size=$2 bs=$3 i off len k p fua
    local nblocks=$(( (size + bs - 1) / bs ))
    nbd_cmds=()
    ref_cmds=()

    for (( i = 0; i < 40; i++ )); do
        off=$(rand_offset "$size" "$bs")
        len=$(rand_length "$bs")
        (( off + len <= size )) || len=$(( size - off ))
        k=$(( RANDOM % 10 ))
        if (( k < 7 )); then
            p=$tmpdir/pat$(( 1 + RANDOM % 3 ))
            fua=$(( RANDOM % 5 == 0 ))
            op "write -q $( ((fua)) && echo -f) -s $p $off $len" "write -q -s $p $off $len"
        elif (( k < 9 )); then
            op "write -q -z $off $len"
        else
            case $kind in
            dynamic)
                # Whole blocks only: partial trims leave data behind.
                off=$(( $(rand64) % nblocks * bs ))
                len=$(( (1 + RANDOM % 3) * bs ))
                (( off + len <= size )) || len=$(( size - off ))
                op "discard -q $off $len" "write -q -z $off $len" ;;
            fixed)
                ((can_punch)) && op "discard -q $off $len" "write -q -z $off $len" ;;
            differencing)
                op "discard -q $off $len" - ;;
            esac
        fi
    done

    # Concurrent writes to 12 distinct blocks, each inside its block.
    local -A used=()
    for (( i = 0; i < 12; i++ )); do
        local b=$(( $(rand64) % nblocks ))
        [[ -z "${used[$b]:-}" ]] || continue
        used[$b]=1
        local bstart=$(( b * bs )) bend=$(( (b + 1) * bs < size ? (b + 1) * bs : size ))
        off=$(( bstart + $(rand64) % (bend - bstart) ))
        len=$(( 1 + $(rand64) % (bend - off) ))
        op "aio_write -q -P $(( 1 + i )) $off $len" "write -q -P $(( 1 + i )) $off $len"
    done
    op "aio_flush" "flush"
    op "flush"
}

# Deterministic zero/trim sequence for dynamic images.  Sets expect to the
# blocks that must end up unallocated ("hole B") and allocated ("data B").
gen_unallocate_ops ()
{
    local size=$1 bs=$2 b last
    local nblocks=$(( (size + bs - 1) / bs ))
    b=$(( nblocks / 3 ))
    last=$(( nblocks - 1 ))
    nbd_cmds=()
    ref_cmds=()
    op "write -q -s $tmpdir/pat1 $(( b * bs )) $(( 3 * bs ))"
    op "write -q -z $(( b * bs )) $bs"                      # whole block b
    op "discard -q $(( (b + 2) * bs )) $bs" "write -q -z $(( (b + 2) * bs )) $bs"
    op "write -q -s $tmpdir/pat2 $(( (b + 4) * bs )) $(( 3 * bs ))"
    # Unaligned: b+5 whole, b+4 and b+6 partly (they stay allocated).
    op "write -q -z $(( (b + 4) * bs + 100 )) $(( 3 * bs - 200 ))"
    # The last block, short or not, zeroed from its start to the end.
    op "write -q -s $tmpdir/pat2 $(( size - 700 )) 700"
    op "write -q -z $(( last * bs )) $(( size - last * bs ))"
    op "flush"
    expect=("hole $b" "data $(( b + 1 ))" "hole $(( b + 2 ))"
            "data $(( b + 4 ))" "hole $(( b + 5 ))" "data $(( b + 6 ))" "hole $last")
}

# run_nbd IMG: nbd_cmds through the plugin, read-write.  (--run takes one
# shell command line, so the arguments are quoted into it.)
run_nbd ()
{
    serve "$1" \
        --run "qemu-io -f raw \"\$uri\" $(printf '%q ' "${nbd_cmds[@]}")" >/dev/null
}

# read_plugin IMG OUT: the plugin's view of IMG into the raw file OUT.
read_plugin ()
{
    rm -f -- "$2"
    serve "$1" readonly=1 --run "nbdcopy \"\$uri\" $(printf %q "$2")"
}

check_blocks ()
{
    local img=$1 bs=$2 ranges=$3 what=$4 expect blk kind
    shift 4
    for expect in "$@"; do
        blk=${expect#* }
        kind=$(range_kind "$ranges" $(( blk * bs )))
        [[ $kind = "${expect% *}" ]] ||
            fail "$(basename "$img"): $what says block $blk is $kind, expected ${expect% *}"
    done
}

for name in "${images[@]}"; do
    img=$tmpdir/$name.vhd
    ref=$tmpdir/$name.ref.raw
    : > "$tmpdir/$name.ops"
    case $name in
    fixed-*) kind=fixed ;;
    child-*) kind=differencing ;;
    *)       kind=dynamic ;;
    esac
    size=$(serve "$img" readonly=1 --run 'nbdinfo --size "$uri"')
    case $name in
    dyn-bs4K)    bs=4096 ;;
    dyn-bs512K | child-512K) bs=524288 ;;
    child-chain) bs=4096 ;;
    *)           bs=$(( 2 << 20 )) ;;
    esac

    parents=()
    if [[ $name = child-512K ]]; then
        parents=(base)
        qemu-img convert -f vpc -O raw "$tmpdir/base.vhd" "$ref"
    elif [[ $name = child-chain ]]; then
        # The middle of the chain was written in the previous round.
        parents=(base child-512K)
        read_plugin "$tmpdir/child-512K.vhd" "$ref"
    else
        qemu-img convert -f vpc -O raw "$img" "$ref"
    fi
    [[ $(file_size "$ref") = "$size" ]] || fail "$name: reference is $(file_size "$ref") bytes, disk $size"
    declare -A sums=()
    for p in "${parents[@]}"; do
        sums[$p]=$(md5sum < "$tmpdir/$p.vhd")
    done

    # 1. random commands
    gen_ops "$kind" "$size" "$bs"
    run_nbd "$img" || fail "$name: qemu-io through the plugin failed (commands in $name.ops)"
    qemu-io -f raw "${ref_cmds[@]}" "$ref" >/dev/null

    # 2. blocks that must become unallocated
    expect=()
    if [[ $kind = dynamic ]]; then
        gen_unallocate_ops "$size" "$bs"
        run_nbd "$img" || fail "$name: zero/trim sequence failed"
        qemu-io -f raw "${ref_cmds[@]}" "$ref" >/dev/null
    fi

    # 3. the checks
    out=$tmpdir/$name.out.raw
    read_plugin "$img" "$out" ||
        fail "$name: the image no longer opens or reads (commands in $name.ops)"
    same_content "$out" "$ref" ||
        fail "$name: data read back through the plugin differs from the reference (seed $seed, commands in $name.ops)"
    rm -f "$out"

    if [[ $kind != differencing ]]; then
        qemu-img convert -f vpc -O raw "$img" "$out"
        same_content "$out" "$ref" ||
            fail "$name: qemu reads other data than the reference (seed $seed, commands in $name.ops)"
        rm -f "$out"
    fi
    for p in "${parents[@]}"; do
        [[ $(md5sum < "$tmpdir/$p.vhd") = "${sums[$p]}" ]] || fail "$name: the parent $p.vhd changed"
    done

    rc=0
    qemu-img check -q -f vpc "$img" >/dev/null 2>&1 || rc=$?
    [[ $rc = 0 || $rc = 63 ]] || fail "$name: qemu-img check exited with $rc"
    if have_env VHDCTL; then
        "$VHDCTL" check "$img" >/dev/null || fail "$name: vhdctl check found problems"
    fi

    if (( ${#expect[@]} )); then
        qemu_map_ranges "$img" > "$tmpdir/$name.qmap"
        check_blocks "$img" "$bs" "$tmpdir/$name.qmap" "qemu-img map" "${expect[@]}"
        serve "$img" readonly=1 --run 'nbdinfo --map "$uri"' |
            awk '{ kind = ($3 % 2) ? "hole" : "data"; print $1, $2, kind }' |
            merge_ranges > "$tmpdir/$name.nmap"
        check_blocks "$img" "$bs" "$tmpdir/$name.nmap" "nbdinfo --map" "${expect[@]}"
    fi
    rm -f "$ref"
    echo "$testname: $name.vhd ($kind): OK ($(grep -c . "$tmpdir/$name.ops") commands)"
done

# Many writes in flight: nbdcopy copies a sparse raw file into an empty
# dynamic image (concurrent allocation, several requests per 2 MiB block)
# and over the written 4 KiB-block image (zero requests for the holes of
# the source, between concurrent writes), 32 requests of 64 KiB in flight
# (on one connection: multi-conn is not advertised read-write, so nbdcopy
# ignores -C 4).  Each result must equal the source.
qemu-img create -q -f vpc -o subformat=dynamic,force_size=on "$tmpdir/empty.vhd" 8390144
src=$tmpdir/src.raw
truncate -s 8390144 "$src"
src_cmds=()
for (( i = 0; i < 24; i++ )); do
    off=$(( $(rand64) % 8390144 ))
    len=$(( 1 + $(rand64) % 400000 ))
    (( off + len <= 8390144 )) || len=$(( 8390144 - off ))
    src_cmds+=(-c "write -q -s $tmpdir/pat3 $off $len")
done
qemu-io -f raw "${src_cmds[@]}" "$src" >/dev/null
for name in empty dyn-bs4K; do
    serve "$tmpdir/$name.vhd" \
        --run "nbdcopy -C 4 -R 32 --request-size=65536 $(printf %q "$src") \"\$uri\"" ||
        fail "$name: nbdcopy into the plugin failed"
    read_plugin "$tmpdir/$name.vhd" "$tmpdir/out.raw"
    same_content "$tmpdir/out.raw" "$src" || fail "$name: parallel copy: plugin reads other data"
    qemu-img convert -f vpc -O raw "$tmpdir/$name.vhd" "$tmpdir/out.raw"
    same_content "$tmpdir/out.raw" "$src" || fail "$name: parallel copy: qemu reads other data"
    if have_env VHDCTL; then
        "$VHDCTL" check "$tmpdir/$name.vhd" >/dev/null || fail "$name: vhdctl check found problems"
    fi
    echo "$testname: $name.vhd: parallel nbdcopy: OK"
done
rm -f "$tmpdir/out.raw"

# Locking: while the plugin has the image open read-write, neither a second
# plugin instance nor qemu may open it; read-only instances share it, and
# lock=false takes no lock at all.
img=$tmpdir/dyn-bs512K.vhd
sock=$tmpdir/lock.sock
pidfile=$tmpdir/lock.pid

# Whatever happens, the background server does not outlive the test.
kill_bg ()
{
    [[ -s $pidfile ]] && kill "$(cat "$pidfile")" 2>/dev/null
    return 0
}
cleanup_fn kill_bg

# start_bg ARGS...: a background server on $sock.
start_bg ()
{
    rm -f -- "$sock" "$pidfile"
    serve "$img" -U "$sock" -P "$pidfile" "$@"
    # nbdkit writes the pid file once it listens.
    local i
    for (( i = 0; i < 100; i++ )); do
        [[ -s $pidfile ]] && break
        sleep 0.1
    done
    [[ -s $pidfile ]] || fail "locking: the background nbdkit did not start"
    bg_pid=$(cat "$pidfile")
}

stop_bg ()
{
    kill "$bg_pid"
    local i
    for (( i = 0; i < 100; i++ )); do
        if ! kill -0 "$bg_pid" 2>/dev/null; then
            rm -f -- "$pidfile"
            return 0
        fi
        sleep 0.1
    done
    fail "locking: nbdkit $bg_pid did not exit"
}

start_bg
if serve "$img" readonly=1 --run true 2>"$tmpdir/err"; then
    fail "locking: a second instance opened an image open read-write elsewhere"
fi
grep -q "in-use" "$tmpdir/err" || fail "locking: no in-use error: $(cat "$tmpdir/err")"
if qemu-io -f vpc -c "read 0 512" "$img" >/dev/null 2>&1; then
    fail "locking: qemu opened an image the plugin has open read-write"
fi
stop_bg

start_bg readonly=1
serve "$img" readonly=1 --run 'nbdinfo --size "$uri"' >/dev/null ||
    fail "locking: two read-only instances could not share the image"
if serve "$img" --run true 2>/dev/null; then
    fail "locking: opened read-write an image open read-only elsewhere"
fi
stop_bg

start_bg lock=false
serve "$img" readonly=1 --run true || fail "locking: lock=false still locked the image"
stop_bg
echo "$testname: locking: OK"
