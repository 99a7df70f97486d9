#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Damaged VHDs, seen from the user's side.  Images made by qemu-img (a
# dynamic disk with data, a fixed disk) are damaged one field at a time with
# dd; where the damaged field is covered by a checksum, the checksum is
# recomputed (in both footer copies for dynamic disks) so that the damage is
# seen as itself and not as a bad checksum.  For every case:
#   - `vhdctl check` exits 1 and lists exactly the expected problems, each
#     on a line with its id and "offset N" (N = the damaged field's byte
#     offset in the file), and `vhdctl check --json` lists the same ones;
#   - `vhdctl info` exits non-zero with one line on stderr naming the first
#     problem's id;
#   - nbdkit with the plugin refuses to start and says the id;
#   - the file is byte-identical afterwards.
# Also: random bytes are not a VHD; a missing file, a folder, a file this
# user may not read and a parent loop (a.vhd -> p.vhd -> a.vhd) make every
# verb (check, info, analyze, compact --local with and without --dry-run)
# print one line with the documented problem id (file-not-found,
# not-supported, access-denied, parent-loop), check exiting 2 when the file
# cannot be opened.
set -euo pipefail
# shellcheck source=tests/integration/functions.sh
. "$(dirname "$0")/functions.sh"
requires qemu-img qemu-io nbdkit sha256sum od dd truncate awk fallocate
requires_env VHDCTL VHD_PLUGIN

d=$(make_tmpdir)

# header_set FILE FIELD_OFFSET HEX: change a dynamic header field and
# recompute the header checksum.
header_set ()
{
    local file=$1 hdr
    hdr=$(be "$file" 16 8)
    poke "$file" $(( hdr + $2 )) "$3"
    set_checksum "$file" "$hdr" 1024 36
}

# flip FILE OFFSET: invert the low bit of one byte.
flip () { poke "$1" "$2" "$(hexn 1 $(( $(be "$1" "$2" 1) ^ 1 )))"; }

# json_problems FILE: "id offset" per problem in `vhdctl check --json` output.
json_problems ()
{
    awk '/^ *"id": "/ { id = $2; gsub(/[",]/, "", id) }
         /^ *"offset": / { off = $2; gsub(/,/, "", off); print id, off }' "$1"
}

failures=()
n_cases=0

# run_case NAME FILE ID@OFFSET [ID@OFFSET...]: the first problem is the one
# that stops an open (info, nbdkit); check must list exactly all of them.
run_case ()
{
    local name=$1 f=$2 first=$3 sum rc p id off line
    shift 2
    local -a want=("$@") why=()
    local fid=${first%@*}
    n_cases=$(( n_cases + 1 ))
    sum=$(sha256sum < "$f")

    rc=0; "$VHDCTL" check "$f" > "$d/check.out" 2> "$d/check.err" || rc=$?
    [[ $rc = 1 ]] || why+=("check exited $rc, not 1")
    for p in "${want[@]}"; do
        id=${p%@*} off=${p#*@}
        # "FILE: ID: message (field F at offset N)"
        grep -qE -- ": $id: .*offset $off([^0-9]|\$)" "$d/check.out" ||
            why+=("check printed no line with '$id' and 'offset $off'")
    done
    line=$(grep -cvE ': [0-9]+ problems? found$' "$d/check.out" || true)
    [[ $line = "${#want[@]}" ]] ||
        why+=("check printed $line problem lines, expected ${#want[@]}")

    rc=0; "$VHDCTL" check --json "$f" > "$d/check.json" 2> "$d/json.err" || rc=$?
    [[ $rc = 1 ]] || why+=("check --json exited $rc, not 1")
    grep -qF -- "\"id\": \"$fid\"" "$d/check.json" || why+=("check --json has no \"id\": \"$fid\"")
    local got wanted
    got=$(json_problems "$d/check.json" | sort)
    wanted=$(printf '%s\n' "${want[@]}" | tr @ ' ' | sort)
    [[ $got = "$wanted" ]] ||
        why+=("check --json lists [${got//$'\n'/, }], expected [${wanted//$'\n'/, }]")

    rc=0; "$VHDCTL" info "$f" > "$d/info.out" 2> "$d/info.err" || rc=$?
    [[ $rc != 0 ]] || why+=("info succeeded")
    line=$(wc -l < "$d/info.err")
    [[ $line = 1 ]] || why+=("info printed $line lines on stderr, not 1")
    [[ $(head -n 1 "$d/info.err") = "vhdctl: '"* ]] || why+=("info's message does not start with \"vhdctl: '\"")
    grep -qF -- "$fid" "$d/info.err" || why+=("info's stderr does not name $fid")

    if serve "$f" readonly=1 --run true > "$d/nbdkit.out" 2> "$d/nbdkit.err"; then
        why+=("nbdkit served the image")
    fi
    grep -qF -- "$fid" "$d/nbdkit.err" || why+=("nbdkit's stderr does not name $fid")

    [[ $(sha256sum < "$f") = "$sum" ]] || why+=("the file changed")

    if (( ${#why[@]} == 0 )); then
        printf 'ok   %-22s %s\n' "$name" "${want[*]}"
    else
        printf 'FAIL %-22s %s\n' "$name" "${want[*]}"
        for p in "${why[@]}"; do echo "       $p"; done
        echo "       check said:";  sed 's/^/         /' "$d/check.out" "$d/check.err"
        echo "       info said:";   sed 's/^/         /' "$d/info.err"
        echo "       nbdkit said:"; head -n 5 "$d/nbdkit.err" | sed 's/^/         /'
        failures+=("$name")
    fi
}

# The pristine images, and where their structures are.
dyn=$d/dynamic.vhd fixed=$d/fixed.vhd
qemu-img create -q -f vpc -o subformat=dynamic "$dyn" 64M
qemu-io -f vpc -c 'write -P 0x5a 3M 5M' "$dyn" > /dev/null
qemu-img create -q -f vpc -o subformat=fixed "$fixed" 64M
for f in "$dyn" "$fixed"; do
    "$VHDCTL" check "$f" > /dev/null || fail "qemu-img's $(basename "$f") is not clean to begin with"
done

size=$(file_size "$dyn")
foot=$(( size - 512 ))                 # end footer
hdr=$(be "$dyn" 16 8)                  # dynamic header
bat=$(be "$dyn" $(( hdr + 16 )) 8)     # BAT
entries=$(be "$dyn" $(( hdr + 28 )) 4)
bsize=$(be "$dyn" $(( hdr + 32 )) 4)
cursize=$(be "$dyn" 48 8)
alloc=() unused=-1 last=-1 last_sector=-1
for (( i = 0; i < entries; i++ )); do
    e=$(be "$dyn" $(( bat + 4 * i )) 4)
    if (( e == 0xffffffff )); then
        (( unused >= 0 )) || unused=$i
    else
        alloc+=("$i")
        (( e <= last_sector )) || { last=$i last_sector=$e; }
    fi
done
(( ${#alloc[@]} >= 2 && unused >= 0 )) || fail "qemu-io allocated ${#alloc[@]} blocks, expected 2 or more"
fsize=$(file_size "$fixed")
ffoot=$(( fsize - 512 ))

# mk NAME [SOURCE]: a fresh copy of the dynamic (or SOURCE) image.
mk ()
{
    cp --sparse=always -- "${2:-$dyn}" "$d/$1.vhd"
    echo "$d/$1.vhd"
}

echo "dynamic: $size bytes, header at $hdr, BAT at $bat ($entries entries of $bsize bytes), blocks ${alloc[*]}"

# --- hard disk footer ---
f=$(mk end-cookie); poke "$f" "$foot" 00
run_case end-cookie "$f" "bad-cookie@$foot" "footer-mismatch@$foot"

f=$(mk footer-checksum); flip "$f" $(( foot + 67 ))
run_case footer-checksum "$f" "bad-checksum@$(( foot + 64 ))" "footer-mismatch@$foot"

# The copy alone: another time stamp, a valid checksum of its own.
f=$(mk footer-copy-differs); flip "$f" 27; set_checksum "$f" 0 512 64
run_case footer-copy-differs "$f" "footer-mismatch@0"

f=$(mk unknown-feature); footer_set "$f" 8 00000006
run_case unknown-feature "$f" "bad-features@$(( foot + 8 ))"

f=$(mk bad-version); footer_set "$f" 12 00020000
run_case bad-version "$f" "bad-version@$(( foot + 12 ))"

f=$(mk disk-type-7); footer_set "$f" 60 00000007
run_case disk-type-7 "$f" "bad-disk-type@$(( foot + 60 ))"

f=$(mk size-not-sectors); footer_set "$f" 48 "$(hexn 8 $(( cursize + 1 )))"
run_case size-not-sectors "$f" "bad-size@$(( foot + 48 ))"

# One sector more than 2040 GiB (0xFF000000 sectors).
f=$(mk size-over-2040g); footer_set "$f" 48 "$(hexn 8 $(( (0xFF000000 + 1) * 512 )))"
run_case size-over-2040g "$f" "bad-size@$(( foot + 48 ))"

# --- dynamic disk header ---
f=$(mk header-cookie); poke "$f" "$hdr" 00
run_case header-cookie "$f" "bad-cookie@$hdr"

f=$(mk header-checksum); flip "$f" $(( hdr + 39 ))
run_case header-checksum "$f" "bad-checksum@$(( hdr + 36 ))"

f=$(mk block-size-3m); header_set "$f" 32 "$(hexn 4 $(( 3 << 20 )))"
run_case block-size-3m "$f" "bad-block-size@$(( hdr + 32 ))"

# One entry short of covering the disk.
f=$(mk max-entries-short)
header_set "$f" 28 "$(hexn 4 $(( (cursize + bsize - 1) / bsize - 1 )))"
run_case max-entries-short "$f" "bad-max-table-entries@$(( hdr + 28 ))"

f=$(mk bat-beyond-eof); header_set "$f" 16 "$(hexn 8 $(( size + (1 << 20) )))"
run_case bat-beyond-eof "$f" "bad-table-offset@$(( hdr + 16 ))"

# --- BAT ---
f=$(mk block-past-eof); poke "$f" $(( bat + 4 * unused )) "$(hexn 4 $(( size / 512 + 8 )))"
run_case block-past-eof "$f" "block-outside-file@$(( bat + 4 * unused ))"

# Two entries naming the same block: the later entry is blamed.
i=${alloc[0]} j=${alloc[1]}
f=$(mk blocks-overlap); poke "$f" $(( bat + 4 * j )) "$(hexn 4 "$(be "$dyn" $(( bat + 4 * i )) 4)")"
run_case blocks-overlap "$f" "block-overlap@$(( bat + 4 * j ))"

# --- file length ---
# Cut 1 MiB into the data of the block that ends last: the end footer is
# gone (guest data is read there), the copy at 0 stands in for it, and then
# that block sticks out of the file.
f=$(mk truncated-in-block)
cut=$(( last_sector * 512 + 512 + (1 << 20) ))
truncate -s "$cut" "$f"
run_case truncated-in-block "$f" "bad-cookie@$(( cut - 512 ))" "footer-mismatch@$(( cut - 512 ))" \
    "block-outside-file@$(( bat + 4 * last ))"

# The size is not a multiple of 512 any more; the offset is the file size.
f=$(mk appended-100); head -c 100 /dev/zero >> "$f"
run_case appended-100 "$f" "not-supported@$(( (size + 100) / 512 * 512 ))"

f=$d/empty.vhd; : > "$f"
run_case empty "$f" "file-too-small@0"

# --- fixed disk ---
f=$(mk fixed-size-too-big "$fixed")
footer_set "$f" 48 "$(hexn 8 $(( $(be "$fixed" $(( ffoot + 48 )) 8) + (1 << 20) )))"
run_case fixed-size-too-big "$f" "bad-size@$(( ffoot + 48 ))"

# --- a memory bomb ---
# A header claiming 5*10^7 BAT entries of 4 KiB blocks (200 MB of table)
# over a hole: a few MiB of data in a 200 MB sparse file.  Refused as the
# hole's entries (zeros: blocks over the footer copy), with memory bounded
# by the data the file holds: under a 300 MB address-space limit (ASan,
# which needs more address space, refuses single allocations over 256 MB
# instead), check, info, analyze and nbdkit with the plugin each print the
# problem naming field and offset, and never run out of memory.
bomb_entries=50000000
f=$(mk bat-over-hole)
header_set "$f" 32 "$(hexn 4 4096)"
header_set "$f" 28 "$(hexn 4 "$bomb_entries")"
bomb_foot=$(( bat + (bomb_entries * 4 + 511) / 512 * 512 ))
truncate -s "$bomb_foot" "$f"
dd if="$f" of="$f" bs=512 count=1 seek=$(( bomb_foot / 512 )) conv=notrunc status=none
data_end=$(( (size + 65535) / 65536 * 65536 ))
fallocate -p -o "$data_end" -l $(( bomb_foot - data_end )) "$f" 2> /dev/null || true
sum=$(sha256sum < "$f")
bounded ()
{
    if [[ -n ${VHD_SANITIZER_PRELOAD:-} ]]; then
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}max_allocation_size_mb=256:allocator_may_return_null=1" "$@"
    else
        ( ulimit -v 300000; "$@" )
    fi
}
n_cases=$(( n_cases + 1 )) why=()
for c in check info analyze; do
    rc=0; bounded "$VHDCTL" "$c" "$f" > "$d/bomb.out" 2>&1 || rc=$?
    [[ $rc = 1 ]] || why+=("$c exited $rc, not 1")
    grep -qE "block-overlap: .+ \(field bat at offset [0-9]+\)" "$d/bomb.out" ||
        why+=("$c did not name block-overlap, field bat and an offset: $(head -c 300 "$d/bomb.out")")
    ! grep -qi "memory" "$d/bomb.out" || why+=("$c ran out of memory")
done
if bounded serve "$f" readonly=1 --run true > "$d/bomb.out" 2>&1; then
    why+=("nbdkit served the image")
fi
grep -qE "block-overlap: .+ \(field bat at offset [0-9]+\)" "$d/bomb.out" ||
    why+=("nbdkit did not name block-overlap, field bat and an offset: $(head -c 300 "$d/bomb.out")")
[[ $(sha256sum < "$f") = "$sum" ]] || why+=("the file changed")
if (( ${#why[@]} == 0 )); then
    printf 'ok   %-22s %s\n' bat-over-hole "check, info, analyze, the plugin refuse in bounded memory"
else
    printf 'FAIL %-22s\n' bat-over-hole
    for p in "${why[@]}"; do echo "       $p"; done
    failures+=(bat-over-hole)
fi

# --- not a VHD ---
f=$d/random.vhd; random_file "$f" $(( 1 << 20 )) 4242
run_case random-1m "$f" "bad-cookie@$(( (1 << 20) - 512 ))"

# cli_case NAME FILE ID CHECK-RC [WRAPPER...]: every verb that reads FILE
# fails with one line "vhdctl: 'FILE': ID: ..." (the documented form):
# check with CHECK-RC (1: the problem is listed on stdout as "FILE: ID: ..."), info, analyze and compact --local (and its
# --dry-run) with 1; FILE unchanged.  WRAPPER (e.g. setpriv as another
# user) runs each command.
cli_case ()
{
    local name=$1 f=$2 id=$3 want_check=$4 verb rc want sum=""
    shift 4
    local -a why=()
    n_cases=$(( n_cases + 1 ))
    [[ ! -f $f ]] || sum=$(sha256sum < "$f")
    for verb in check info analyze "compact --local --no-progress" "compact --local --no-progress --dry-run"; do
        want=1
        [[ $verb != check ]] || want=$want_check
        rc=0
        # shellcheck disable=SC2086  # the verb and its options
        "$@" env VHDCOMPACT_PLUGIN="$VHD_PLUGIN" ${VHD_SANITIZER_PRELOAD:+LD_PRELOAD="$VHD_SANITIZER_PRELOAD"} \
            "$VHDCTL" $verb "$f" > "$d/cli.out" 2> "$d/cli.err" || rc=$?
        [[ $rc = "$want" ]] || why+=("$verb exited $rc, not $want")
        if [[ $verb = check && $rc = 1 ]]; then
            # A problem found: listed on stdout, as check lists them.
            grep -q "^$f: $id: " "$d/cli.out" || why+=("check: '$(head -n 1 "$d/cli.out")'")
            continue
        fi
        [[ $(wc -l < "$d/cli.err") = 1 ]] || why+=("$verb: $(wc -l < "$d/cli.err") lines on stderr")
        grep -qF "vhdctl: '$f': $id: " "$d/cli.err" || why+=("$verb: '$(head -n 1 "$d/cli.err")'")
    done
    [[ -z $sum || $(sha256sum < "$f") = "$sum" ]] || why+=("the file changed")
    if (( ${#why[@]} == 0 )); then
        printf 'ok   %-22s %s\n' "$name" "$id"
    else
        printf 'FAIL %-22s %s\n' "$name" "$(IFS=';'; echo "${why[*]}")"
        failures+=("$name")
    fi
}

# --- not a file we can read ---
cli_case nonexistent "$d/does-not-exist.vhd" file-not-found 2
mkdir "$d/a-folder.vhd"
cli_case directory "$d/a-folder.vhd" not-supported 1
if (( EUID == 0 )) && command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
    mkdir -m 0755 "$d/pub"
    cp -- "$dyn" "$d/pub/secret.vhd"
    chmod 0600 "$d/pub/secret.vhd"
    chmod 0755 "$d"
    cli_case no-permission "$d/pub/secret.vhd" access-denied 2 \
        setpriv --reuid=nobody --regid=nogroup --clear-groups
else
    cp -- "$dyn" "$d/secret.vhd"
    chmod 0000 "$d/secret.vhd"
    if (( EUID != 0 )); then
        cli_case no-permission "$d/secret.vhd" access-denied 2
    else
        echo "skip no-permission: root without setpriv or user nobody"
    fi
fi

# --- a differencing chain that loops: a.vhd -> p.vhd -> a.vhd ---
mkdir "$d/loop"
make_parent_loop "$d/loop"
cli_case parent-loop "$d/loop/a.vhd" parent-loop 1

(( ${#failures[@]} == 0 )) || fail "${#failures[@]} of $n_cases cases failed: ${failures[*]}"
echo "all $n_cases cases passed"
