#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# make-images.sh OUTDIR [NAME...]
#
# Generates the VHD images the integration tests read, write and map, and
# prints the path of each image made, one a line.  With NAMEs (file names
# from the table below) only those are made, plus the parents they need.
# Nothing is committed: the images are rebuilt for every test run, so that
# they always come from the qemu-img installed on the machine.
#
#   name              made by                 virtual size           block
#   dyn-10M           qemu-img, CHS-rounded   10514432 (CHS 302/4/17) 2 MiB
#   dyn-100M3s        qemu-img, force_size    100 MiB + 3 sectors     2 MiB  (last block 1536 B)
#   dyn-1G            qemu-img, CHS-rounded   1073995776              2 MiB
#   dyn-empty-1G      qemu-img, force_size    1 GiB, never written    2 MiB
#   dyn-200G          qemu-img, force_size    200 GiB, stays sparse   2 MiB  (beyond CHS)
#   fixed-10M         qemu-img, CHS-rounded   10514432                -
#   fixed-100M3s      qemu-img, force_size    100 MiB + 3 sectors     -
#   dyn-bs4K          this script             8 MiB + 3 sectors       4 KiB
#   dyn-bs512K        this script             24 MiB + 1 sector       512 KiB
#   dyn-bs16M         this script             100 MiB                 16 MiB
#   diff-10M          $VHDCTL create          child of dyn-10M        2 MiB
#   diff-bs512K       $VHDCTL create          child of dyn-100M3s     512 KiB
#   diff-chain        $VHDCTL create          child of diff-10M       2 MiB
#
# qemu-img 7.2 cannot choose the block size of a VHD (`qemu-img create -f
# vpc -o help` offers only size, subformat and force_size), so the images
# with other block sizes are written here byte by byte, with the maximum
# CHS geometry 65535/16/255 so that every reader takes the footer's
# current size as the disk size.  qemu-img cannot make differencing images
# at all; those need VHDCTL (path to vhdctl) and are skipped without it.
#
# The data: every image except dyn-empty-1G gets pseudo-random bytes
# (from a seeded pattern file, repeated with a period of 65521 bytes, a
# prime, so that misplaced sectors show) at scattered places: the start,
# unaligned runs inside a block, runs crossing block boundaries, the middle
# and the last bytes of the disk; other blocks stay unallocated.  Children
# get a few writes of their own over the parent's data (diff-10M,
# diff-chain) and inside a hole of the parent (diff-bs512K: a 512 KiB child
# block in a 2 MiB parent hole), always leaving holes in the merged view.

set -euo pipefail
export LC_ALL=C

if (( $# < 1 )); then
    echo "usage: $0 OUTDIR [NAME...]" >&2
    exit 2
fi
outdir=$1
shift
mkdir -p -- "$outdir"

# hex helpers ------------------------------------------------------------

# be BYTES VALUE: VALUE as a big-endian hex string of BYTES bytes.
be ()
{
    printf '%0*x' $(( $1 * 2 )) "$2"
}

# zeros BYTES
zeros ()
{
    printf '%0*d' $(( $1 * 2 )) 0
}

# ascii STRING
ascii ()
{
    local s=$1 i
    for (( i = 0; i < ${#s}; i++ )); do
        printf '%02x' "'${s:i:1}"
    done
}

# vhd_checksum HEX: one's complement of the byte sum (the checksum field
# must already be zero in HEX).
vhd_checksum ()
{
    local h=$1 sum=0 i
    for (( i = 0; i < ${#h}; i += 2 )); do
        sum=$(( sum + 16#${h:i:2} ))
    done
    be 4 $(( ~sum & 0xffffffff ))
}

# with_checksum HEX OFFSET: HEX with its checksum stored at byte OFFSET.
with_checksum ()
{
    local h=$1 off=$(( $2 * 2 ))
    printf '%s%s%s' "${h:0:off}" "$(vhd_checksum "$h")" "${h:off+8}"
}

# unhex: hex text on stdin to bytes on stdout.
unhex ()
{
    local h
    h=$(cat)
    # printf interprets the \x escapes itself, so NUL bytes come out right.
    # shellcheck disable=SC2001,SC2059
    printf "$(sed 's/../\\x&/g' <<<"$h")"
}

# make_dynamic_vhd FILE SIZE BLOCK_SIZE: an empty dynamic VHD with any
# power-of-two block size (layout as qemu writes it: footer copy, header
# at 512, BAT at 1536, footer).
make_dynamic_vhd ()
{
    local file=$1 size=$2 bs=$3
    local entries=$(( (size + bs - 1) / bs ))
    local bat_bytes=$(( (entries * 4 + 511) / 512 * 512 ))
    local uid footer header

    uid=$(printf '%s %s %s' "$(basename "$file")" "$size" "$bs" | md5sum | cut -c1-32)
    footer=$(ascii conectix)$(be 4 2)$(be 4 0x00010000)$(be 8 512)$(be 4 0)
    footer+=$(ascii vhdc)$(be 4 0x00010000)$(be 4 0)
    footer+=$(be 8 "$size")$(be 8 "$size")$(be 2 65535)$(be 1 16)$(be 1 255)
    footer+=$(be 4 3)$(zeros 4)$uid$(zeros 1)$(zeros 427)
    footer=$(with_checksum "$footer" 64)

    header=$(ascii cxsparse)$(be 8 -1)$(be 8 1536)$(be 4 0x00010000)
    header+=$(be 4 "$entries")$(be 4 "$bs")$(zeros 4)
    header+=$(zeros 16)$(zeros 4)$(zeros 4)$(zeros 512)$(zeros 192)$(zeros 256)
    header=$(with_checksum "$header" 36)

    {
        unhex <<<"$footer"
        unhex <<<"$header"
        head -c "$bat_bytes" /dev/zero | tr '\0' '\377'
        unhex <<<"$footer"
    } > "$file"
}

# data -------------------------------------------------------------------

pattern=$outdir/.pattern
if [[ ! -s $pattern ]]; then
    awk -v n=65521 -v seed=4242 'BEGIN {
        srand(seed)
        for (i = 0; i < n; i++)
            printf "%c", int(rand() * 256)
    }' > "$pattern"
fi

# fill IMG SIZE BLOCK [EXTRA_OFFSET...]: the scattered writes described
# above, clipped to the disk; qemu-io allocates blocks as it goes.
fill ()
{
    local img=$1 size=$2 bs=$3
    shift 3
    local -a cmds=()
    local off
    add ()
    {
        local o=$1 l=$2
        (( o < size )) || return 0
        (( o + l <= size )) || l=$(( size - o ))
        cmds+=(-c "write -q -s $pattern $o $l")
    }
    add 0 4096                                  # first sector(s)
    add $(( bs + 12345 )) 100000                # unaligned, inside block 1
    add $(( 2 * bs - 777 )) $(( bs + 1554 ))    # crosses two block boundaries
    add $(( size / 2 - 333 )) 65536             # the middle, unaligned
    add $(( size - 1000 )) 1000                 # the very end
    for off in "$@"; do
        add "$off" 70000
    done
    qemu-io -f vpc "${cmds[@]}" "$img" >/dev/null
}

# fill_child IMG OFFSET:LENGTH...: writes through the plugin are what the
# tests check, so children are filled by qemu-io over NBD, and only when
# the plugin is there; without it they stay empty (reading their parent).
fill_child ()
{
    local img=$1 w o l
    shift
    local cmdline=""
    [[ -n "${VHD_PLUGIN:-}" && -e "$VHD_PLUGIN" ]] || return 0
    command -v nbdkit >/dev/null || return 0
    for w in "$@"; do
        o=${w%:*} l=${w#*:}
        cmdline+=" -c $(printf %q "write -q -s $pattern $o $l")"
    done
    # As serve() in tests/integration/functions.sh: sanitizer builds need
    # the runtime preloaded into nbdkit, and only into nbdkit.
    if [[ -n "${VHD_SANITIZER_PRELOAD:-}" ]]; then
        LD_PRELOAD=$VHD_SANITIZER_PRELOAD nbdkit -U - "$VHD_PLUGIN" file="$img" \
            --run "unset LD_PRELOAD; qemu-io -f raw $cmdline \"\$uri\" >/dev/null"
    else
        nbdkit -U - "$VHD_PLUGIN" file="$img" --run "qemu-io -f raw $cmdline \"\$uri\" >/dev/null"
    fi
}

# the table ----------------------------------------------------------------

declare -A parent_of=(
    [diff-10M]=dyn-10M
    [diff-bs512K]=dyn-100M3s
    [diff-chain]=diff-10M
)
all=(dyn-10M dyn-100M3s dyn-1G dyn-empty-1G dyn-200G fixed-10M fixed-100M3s
     dyn-bs4K dyn-bs512K dyn-bs16M diff-10M diff-bs512K diff-chain)
declare -A made=()

vhdctl_ok ()
{
    [[ -n "${VHDCTL:-}" && -x "$VHDCTL" ]]
}

qemu_create ()
{
    qemu-img create -q -f vpc -o "$1" "$2" "$3"
}

make_one ()
{
    local name=$1 img=$outdir/$1.vhd
    [[ -z "${made[$name]:-}" ]] || return 0
    if [[ -n "${parent_of[$name]:-}" ]]; then
        vhdctl_ok || { echo "make-images: $name skipped: VHDCTL not set" >&2; return 0; }
        make_one "${parent_of[$name]}"
    fi
    rm -f -- "$img"
    case $name in
    dyn-10M)      qemu_create subformat=dynamic "$img" 10M
                  fill "$img" 10514432 $(( 2 << 20 )) ;;
    dyn-100M3s)   qemu_create subformat=dynamic,force_size=on "$img" 104859136
                  fill "$img" 104859136 $(( 2 << 20 )) 52428800 ;;
    dyn-1G)       qemu_create subformat=dynamic "$img" 1G
                  fill "$img" 1073995776 $(( 2 << 20 )) 123456789 987654321 ;;
    dyn-empty-1G) qemu_create subformat=dynamic,force_size=on "$img" 1G ;;
    dyn-200G)     qemu_create subformat=dynamic,force_size=on "$img" 200G
                  fill "$img" 214748364800 $(( 2 << 20 )) \
                      $(( 150 << 30 )) $(( (200 << 30) - (2 << 20) - 35000 )) ;;
    fixed-10M)    qemu_create subformat=fixed "$img" 10M
                  fill "$img" 10514432 $(( 2 << 20 )) ;;
    fixed-100M3s) qemu_create subformat=fixed,force_size=on "$img" 104859136
                  fill "$img" 104859136 $(( 2 << 20 )) ;;
    dyn-bs4K)     make_dynamic_vhd "$img" 8390144 4096
                  fill "$img" 8390144 4096 1000000 5000000 ;;
    dyn-bs512K)   make_dynamic_vhd "$img" 25166336 524288
                  fill "$img" 25166336 524288 7340032 ;;
    dyn-bs16M)    make_dynamic_vhd "$img" 104857600 16777216
                  fill "$img" 104857600 16777216 ;;
    diff-10M)     "$VHDCTL" create "$img" --parent "$outdir/dyn-10M.vhd"
                  fill_child "$img" 1048577:2100152 ;;
    diff-bs512K)  "$VHDCTL" create "$img" --parent "$outdir/dyn-100M3s.vhd" --block-size 524288
                  fill_child "$img" 262145:527288 104334148:1400 ;;
    diff-chain)   "$VHDCTL" create "$img" --parent "$outdir/diff-10M.vhd"
                  fill_child "$img" 6291461:1000 10513000:1432 ;;
    *)            echo "make-images: unknown image '$name'" >&2; exit 2 ;;
    esac
    made[$name]=1
    echo "$img"
}

(( $# > 0 )) || set -- "${all[@]}"
for name in "$@"; do
    make_one "${name%.vhd}"
done
