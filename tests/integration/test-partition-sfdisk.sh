#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Partition tables: lib/fs/partition.c (through tests/tools/partdump)
# against sfdisk as the oracle, on raw disk files that sfdisk itself
# partitions:
#   - GPT with 3 partitions (512 and 4096-byte sectors)
#   - MBR with 2 primaries and an extended partition holding 3 logicals
#     (Linux numbering: 1, 2, then 5, 6, 7; the extended container is
#     sfdisk's partition 3 but not one of ours)
#   - a hybrid MBR (protective entry plus a real one) in front of a GPT
#   - the primary GPT header corrupted with dd: both fall back to the backup
#   - both GPT headers corrupted: sfdisk sees no GPT, we refuse with the
#     primary's field named
# Starts and sizes must agree exactly, as must the partition numbers.

source "$(dirname "$0")/functions.sh"
requires sfdisk dd awk sort diff
requires_env PARTDUMP
make_tmpdir

# sfdisk_parts IMG [SFDISK-ARGS...]: "NUMBER START SIZE" in bytes for every
# partition sfdisk lists in its JSON, extended containers left out, sorted by
# start.  The first line is "SCHEME COUNT" (dos is printed as mbr).
sfdisk_parts ()
{
    local img=$1
    shift
    sfdisk "$@" --json "$img" 2>/dev/null |
        awk -v dev="$img" '
            function val(line) {
                sub(/^[^:]*: */, "", line); sub(/,? *$/, "", line); gsub(/"/, "", line)
                return line
            }
            /"label":/ { label = val($0); if (label == "dos") label = "mbr" }
            /"sectorsize":/ { ss = val($0) }
            /"node":/ { node = val($0) }
            /"start":/ { start = val($0) }
            /"size":/ { size = val($0) }
            /"type":/ { type = val($0) }
            /}/ && node != "" {
                num = substr(node, length(dev) + 1)
                if (!(label == "mbr" && (type == "5" || type == "f" || type == "85"))) {
                    n++
                    line[n] = sprintf("%d %.0f %.0f", num, start * ss, size * ss)
                }
                node = ""
            }
            END {
                print label, n + 0
                for (i = 1; i <= n; i++) print line[i] | "sort -n -k2,2"
            }'
}

# our_parts IMG [PARTDUMP-ARGS...]: the same from partdump (type names cut,
# " backup" kept on the first line).
our_parts ()
{
    local img=$1
    shift
    "$PARTDUMP" "$@" "$img" | awk 'NR == 1 { print; next } { print $1, $2, $3 }'
}

# compare NAME IMG BACKUP [SECTOR-SIZE]: our view equals sfdisk's; BACKUP is
# "backup" when the backup GPT must have been used, else "".
compare ()
{
    local what=$1 img=$2 backup=$3 ss=${4:-512}
    local -a sf_args=() our_args=()
    if [[ $ss != 512 ]]; then
        sf_args=(--sector-size "$ss")
        our_args=(--sector-size "$ss")
    fi
    sfdisk_parts "$img" "${sf_args[@]}" > "$tmpdir/$what.expected"
    if [[ -n $backup ]]; then
        sed -i '1s/$/ backup/' "$tmpdir/$what.expected"
    fi
    our_parts "$img" "${our_args[@]}" > "$tmpdir/$what.actual" ||
        fail "$what: partdump failed"
    if ! diff -u "$tmpdir/$what.expected" "$tmpdir/$what.actual" >&2; then
        fail "$what: partdump disagrees with sfdisk"
    fi
    [[ $(wc -l < "$tmpdir/$what.actual") -gt 1 ]] || fail "$what: no partitions found"
    echo "$testname: $what: $(head -1 "$tmpdir/$what.actual"), same as sfdisk"
}

# put_bytes IMG OFFSET HEX...: write raw bytes at OFFSET.
put_bytes ()
{
    local img=$1 off=$2
    shift 2
    local fmt="" b
    for b in "$@"; do fmt+="\\x$b"; done
    # shellcheck disable=SC2059
    printf "$fmt" | dd of="$img" bs=1 seek="$off" conv=notrunc status=none
}

# le32 N: the four little-endian bytes of N, as hex for put_bytes.
le32 ()
{
    printf '%02x %02x %02x %02x' $(( $1 & 255 )) $(( ($1 >> 8) & 255 )) \
        $(( ($1 >> 16) & 255 )) $(( ($1 >> 24) & 255 ))
}

basic=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7
esp=C12A7328-F81F-11D2-BA4B-00A0C93EC93B
msr=E3C9E316-0B5C-4DB8-817D-F92DF00215AE
linux=0FC63DAF-8483-4772-8E79-3D69D8477DE4

# --- GPT, three partitions --------------------------------------------------
gpt=$tmpdir/gpt.img
truncate -s 64M "$gpt"
sfdisk -q "$gpt" <<EOF
label: gpt
,1M,$esp
,16M,$msr
,,$basic
EOF
compare gpt "$gpt" ""
"$PARTDUMP" "$gpt" | grep -q '^1 1048576 1048576 EFI system$' || fail "gpt: ESP type name"
"$PARTDUMP" "$gpt" | grep -q ' Microsoft basic data$' || fail "gpt: basic data type name"

# --- GPT with 4096-byte sectors (sfdisk >= 2.39 has --sector-size) -----------
if sfdisk --help 2>&1 | grep -q -- '--sector-size'; then
    gpt4k=$tmpdir/gpt4k.img
    truncate -s 256M "$gpt4k"
    sfdisk -q --sector-size 4096 "$gpt4k" <<EOF
label: gpt
,4M,$esp
,32M,$linux
,,$basic
EOF
    compare gpt-4k "$gpt4k" "" 4096
else
    echo "$testname: this sfdisk has no --sector-size: 4096-byte sector case not run"
fi

# --- MBR, 2 primaries + extended with 3 logicals ------------------------------
mbr=$tmpdir/mbr.img
truncate -s 128M "$mbr"
sfdisk -q "$mbr" <<EOF
label: dos
,16M,7
,16M,83
,,5
,8M,83
,8M,7
,,c
EOF
compare mbr "$mbr" ""
expected_numbers="1 2 5 6 7"
actual_numbers=$("$PARTDUMP" "$mbr" | awk 'NR > 1 { printf "%s%s", sep, $1; sep = " " }')
[[ $actual_numbers = "$expected_numbers" ]] ||
    fail "mbr: partition numbers '$actual_numbers', expected '$expected_numbers'"
"$PARTDUMP" "$mbr" | grep -q '^7 .* fat32 lba (0x0c)$' || fail "mbr: type of logical 7"

# --- hybrid MBR: protective entry plus partition 2 of the GPT as 0x83 ---------
hybrid=$tmpdir/hybrid.img
cp "$gpt" "$hybrid"
# Slot 1 (offset 446 + 16): status 0, CHS ignored, type 0x83, LBA 4096, 32768 sectors.
# shellcheck disable=SC2046  # le32 prints four words on purpose
put_bytes "$hybrid" $(( 446 + 16 )) 00 fe ff ff 83 fe ff ff $(le32 4096) $(le32 32768)
# sfdisk must still see the GPT (it reads hybrid MBRs as GPT too).
[[ $(sfdisk_parts "$hybrid" | sed -n 1p) = "gpt 3" ]] ||
    fail "hybrid: sfdisk no longer sees the GPT; the oracle cannot be used"
compare hybrid "$hybrid" ""

# --- primary GPT header corrupted: the backup is used by both ----------------
backup=$tmpdir/backup.img
cp "$gpt" "$backup"
# Zero the primary header's CRC32 field (LBA 1, offset 16).
dd if=/dev/zero of="$backup" bs=1 seek=$(( 512 + 16 )) count=4 conv=notrunc status=none
sfdisk --json "$backup" 2>&1 >/dev/null | grep -qi 'backup' ||
    fail "backup: sfdisk did not report falling back to the backup GPT"
compare backup-header "$backup" backup

# The primary *entry array* corrupted instead: also the backup.
backup2=$tmpdir/backup2.img
cp "$gpt" "$backup2"
dd if=/dev/urandom of="$backup2" bs=512 seek=2 count=1 conv=notrunc status=none
compare backup-array "$backup2" backup

# --- both headers corrupted: nobody sees a table -----------------------------
both=$tmpdir/both.img
cp "$backup" "$both"
last_lba=$(( $(file_size "$both") / 512 - 1 ))
dd if=/dev/zero of="$both" bs=1 seek=$(( last_lba * 512 + 16 )) count=4 conv=notrunc status=none
# (sfdisk then shows the protective MBR itself as a dos table.)
[[ $(sfdisk_parts "$both" | sed -n 1p) != gpt* ]] || fail "both: sfdisk still reads a GPT"
set +e
"$PARTDUMP" "$both" > "$tmpdir/both.out" 2> "$tmpdir/both.err"
status=$?
set -e
[[ $status = 1 ]] || fail "both: partdump exit status $status, expected 1"
grep -qx "problem bad-partition-table gpt.header_crc32 $(( 512 + 16 ))" "$tmpdir/both.out" ||
    fail "both: expected the primary's header CRC to be named, got: $(cat "$tmpdir/both.out")"

echo "$testname: OK"
