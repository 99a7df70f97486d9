#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Writing VHDX through the plugin (`nbdkit vhd file=X.vhdx`, read-write),
# held to readers that are not ours:
#   - qemu-io through NBD writes patterns, write-zeroes (whole blocks and
#     parts) and discards (whole blocks) into a dynamic VHDX made by
#     qemu-img (512-byte sectors) and one made by mkvhdx (4096-byte
#     sectors); the same commands on a raw copy give the expected disk,
#     which the plugin (read-only, afterwards), 7-Zip (`7zz x`), libvhdi
#     (vhdimount) and, for 512-byte sectors, `qemu-img compare` all read;
#     `qemu-img check` and `7zz l` are clean;
#   - the headers after: both valid (CRC-32C), different sequence numbers,
#     LogGuid 0 in both, FileWriteGuid and DataWriteGuid new and the same
#     in both slots; a session that changes nothing (write-zeroes over
#     blocks never written) leaves the file byte-identical;
#   - a dirty log (mkvhdx --log 2), which 7-Zip refuses: a read-only
#     serve reads the replayed view and leaves the file alone; a
#     read-write serve replays it on disk, after which 7-Zip opens the
#     file and reads the replayed view, and the DataWriteGuid is
#     unchanged;
#   - a differencing VHDX made by `vhdctl create --parent` written through
#     the plugin (see the last section).
set -euo pipefail
. "$(dirname "$0")/functions.sh"
requires qemu-img qemu-io nbdkit nbdcopy 7zz vhdiinfo vhdimount cmp python3
requires_env VHD_PLUGIN MKVHDX
[[ -c /dev/fuse ]] || skip "/dev/fuse is missing (vhdimount needs FUSE)"
make_tmpdir
cd "$tmpdir"

# hdrs FILE: "valid1 valid2 seq1 seq2 fwg1 fwg2 dwg1 dwg2 log1 log2"
hdrs ()
{
    python3 - "$1" <<'PY'
import struct, sys
def crc32c(b):
    c = 0xFFFFFFFF
    for x in b:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    return c ^ 0xFFFFFFFF
out = {k: [] for k in ("valid", "seq", "fwg", "dwg", "log")}
with open(sys.argv[1], "rb") as f:
    for at in (64 << 10, 128 << 10):
        f.seek(at); h = bytearray(f.read(4096))
        want = struct.unpack("<I", h[4:8])[0]; h[4:8] = b"\0\0\0\0"
        out["valid"].append(int(h[:4] == b"head" and crc32c(bytes(h)) == want))
        out["seq"].append(struct.unpack("<Q", h[8:16])[0])
        out["fwg"].append(h[16:32].hex()); out["dwg"].append(h[32:48].hex())
        out["log"].append(h[48:64].hex())
print(" ".join(str(v) for k in ("valid", "seq", "fwg", "dwg", "log") for v in out[k]))
PY
}

# check_headers NAME BEFORE: the headers of NAME.vhdx after a session
# that changed content, BEFORE being hdrs' output before it.
check_headers ()
{
    local name=$1 v1 v2 s1 s2 f1 f2 d1 d2 l1 l2 b
    read -r v1 v2 s1 s2 f1 f2 d1 d2 l1 l2 <<<"$(hdrs "$name.vhdx")"
    read -r -a b <<<"$2"
    [[ $v1 = 1 && $v2 = 1 ]] || fail "$name: a header slot is invalid after the session"
    [[ $s1 != "$s2" ]] || fail "$name: both header slots have sequence number $s1"
    [[ $l1 = 00000000000000000000000000000000 && $l2 = "$l1" ]] || fail "$name: LogGuid not 0 in both slots ($l1 $l2)"
    [[ $f1 = "$f2" && $d1 = "$d2" ]] || fail "$name: the slots name different write GUIDs"
    [[ $f1 != "${b[4]}" && $f1 != "${b[5]}" ]] || fail "$name: FileWriteGuid unchanged"
    [[ $d1 != "${b[6]}" && $d1 != "${b[7]}" ]] || fail "$name: DataWriteGuid unchanged after a content change"
}

check_7z ()  # NAME RAW
{
    local out
    out=$(7zz l -- "$1.vhdx" 2>&1) || fail "7zz l $1.vhdx: $out"
    ! grep -qE '^(ERROR|Error)' <<<"$out" || fail "7zz l $1.vhdx complains: $out"
    7zz x -so -- "$1.vhdx" > "$1.7z.raw" 2> "$1.7z.err" || fail "7zz x $1.vhdx: $(cat "$1.7z.err")"
    cmp -- "$1.7z.raw" "$2" || fail "$1: 7-Zip reads other bytes than expected"
    rm -f -- "$1.7z.raw"
}

check_vhdi ()  # NAME RAW
{
    local m=$tmpdir/mnt-$1
    mkdir -p -- "$m"
    vhdimount -- "$1.vhdx" "$m" > /dev/null || fail "vhdimount $1.vhdx"
    cleanup_fn umount -q -- "$m"
    cmp -- "$m/vhdi1" "$2" || { umount -- "$m"; fail "$1: libvhdi reads other bytes than expected"; }
    umount -- "$m"
}

read_plugin ()  # IMG OUT
{
    rm -f -- "$2"
    serve "$1" readonly=1 --run "nbdcopy \"\$uri\" $(printf %q "$2")"
}

# The session: 16 MiB disks with 1 MiB blocks; offsets are 4 KiB multiples.
cmds=(
    -c 'write -P 0x5a 1052672 8192'        # into block 1, allocating
    -c 'write -P 0x33 2093056 1056768'     # end of 1, all of 2, start of 3
    -c 'write -z 0 1048576'                # a whole written block: ZERO
    -c 'write -z 4202496 12288'            # part of a written block: zeros
    -c 'discard 6291456 1048576'           # a whole block: UNMAPPED
    -c 'write -P 0x7e 16773120 4096'       # the last 4 KiB
    -c 'write -P 0x21 8392704 4096'        # a new block in the middle
)

session ()  # NAME: the session through the plugin and on NAME.raw
{
    local name=$1 before
    before=$(hdrs "$name.vhdx")
    serve "$name.vhdx" --run "qemu-io -f raw \"\$uri\" $(printf '%q ' "${cmds[@]}")" > /dev/null ||
        fail "$name: qemu-io through the plugin failed"
    qemu-io -f raw "${cmds[@]}" "$name.raw" > /dev/null
    read_plugin "$name.vhdx" "$name.out"
    cmp -- "$name.out" "$name.raw" || fail "$name: the plugin reads other bytes than written"
    check_headers "$name" "$before"
    check_7z "$name" "$name.raw"
    check_vhdi "$name" "$name.raw"

    # Nothing changes: nothing written.
    cp -- "$name.vhdx" "$name.keep"
    serve "$name.vhdx" --run "qemu-io -f raw \"\$uri\" -c 'write -z 10485760 2097152' -c 'flush'" > /dev/null ||
        fail "$name: no-change session failed"
    cmp -s -- "$name.vhdx" "$name.keep" || fail "$name: a session that changed nothing wrote to the file"
    echo "$testname: $name: OK"
}

# qemu-made, 512-byte sectors.
qemu-img create -q -f vhdx -o block_size=1M q.vhdx 16M
qemu-io -f vhdx -c 'write -P 0xab 0 2M' -c 'write -P 0xcd 4M 1M' -c 'write -P 0xef 6M 1M' q.vhdx > /dev/null
qemu-img convert -f vhdx -O raw q.vhdx q.raw
session q
out=$(qemu-img check -f vhdx -- q.vhdx 2>&1) || fail "qemu-img check after our writes: $out"
qemu-img compare -q -f vhdx -F raw -- q.vhdx q.raw || fail "q: qemu reads other bytes than expected"

# mkvhdx-made, 4096-byte sectors (qemu cannot read them).
"$MKVHDX" --guid-seed 7 --sector 4096 --size 16M --fill 0:a1,4:a2,6:a3 --expected b.raw b.vhdx ||
    fail "mkvhdx failed"
session b

# A dirty log: replayed in memory read-only, on disk read-write.
"$MKVHDX" --guid-seed 9 --size 16M --fill 0:a1,3:a2,7:a3,9:a4 --log 2 --expected l.raw \
    --expected-in-place l.ip.raw l.vhdx || fail "mkvhdx --log failed"
cmp -s l.raw l.ip.raw && fail "l: the log changes nothing"
! 7zz l -- l.vhdx > /dev/null 2>&1 || fail "7-Zip opened a file with a non-empty log"
cp -- l.vhdx l.orig
read_plugin l.vhdx l.out
cmp -- l.out l.raw || fail "l: a read-only serve does not read the replayed view"
cmp -s -- l.vhdx l.orig || fail "l: a read-only serve changed the file"
before=$(hdrs l.vhdx)
serve l.vhdx --run true || fail "l: a read-write serve failed"
read -r -a b <<<"$before"
read -r -a a <<<"$(hdrs l.vhdx)"
[[ ${a[0]} = 1 && ${a[1]} = 1 && ${a[8]} = 00000000000000000000000000000000 && ${a[9]} = "${a[8]}" ]] ||
    fail "l: after the replay: headers ${a[*]}"
[[ ${a[6]} = "${b[6]}" || ${a[6]} = "${b[7]}" ]] && [[ ${a[7]} = "${a[6]}" ]] ||
    fail "l: the replay changed the DataWriteGuid"
check_7z l l.raw
check_vhdi l l.raw
echo "$testname: dirty log: replayed"

# A differencing VHDX (issue 14's done-when): `vhdctl create --parent`
# over a dynamic parent with known content (qemu-img's, 512-byte sectors;
# vhdctl's written through the plugin, 4096-byte sectors), written through
# the plugin with qemu-io: sector-unaligned, whole-block and cross-block
# writes, write-zeroes over the parent's data (whole block: ZERO; part:
# real zeros), discards of blocks the child holds (UNMAPPED: zeros, never
# the parent's older data) and of one it does not (left: the parent).
# The child then reads as the expected raw through the plugin and 7-Zip
# (`7zz x` with the parent beside it), `vhdctl check` is clean, the parent
# is byte-identical, extents call the parent's data data, and a session of
# no-op requests writes nothing.  Not libvhdi: it reads ZERO and UNMAPPED
# blocks of a child from the parent, and bitmap bits from the wrong place
# in a child that had no bitmap block (docs/formats/vhdx.md).
requires_env VHDCTL
kid_cmds=(
    -c 'write -P 0x11 1049088 5120'        # block 1 + 512: partial, unaligned
    -c 'write -P 0x22 3145728 1048576'     # block 3 whole
    -c 'write -P 0x33 5238784 1056768'     # end of 4, all of 5, start of 6
    -c 'write -z 7340032 1048576'          # block 7 whole, over data: ZERO
    -c 'write -z 8392704 8192'             # part of block 8: real zeros
    -c 'write -P 0x44 1056768 4096'        # block 1 again, beside the first
    -c 'discard 3145728 1048576'           # block 3, the child's: zeros
    -c 'write -P 0x55 3149824 4096'        # into the trimmed block
    -c 'write -P 0x66 16773120 4096'       # the last 4 KiB
)
kid_noop=(-c 'write -z 10485760 2097152' -c 'discard 9437184 1048576' -c 'write -z 7344128 4096' -c 'flush')
for s in 512 4096; do
    par=kp$s kid=kc$s
    truncate -s 16M "$par.raw"
    qemu-io -f raw -c 'write -P 0xa1 0 10M' -c 'write -P 0xa2 12M 4M' "$par.raw" > /dev/null
    if (( s == 512 )); then
        qemu-img create -q -f vhdx -o block_size=1M "$par.vhdx" 16M
        qemu-io -f vhdx -c 'write -P 0xa1 0 10M' -c 'write -P 0xa2 12M 4M' "$par.vhdx" > /dev/null
    else
        "$VHDCTL" create "$par.vhdx" --format vhdx --size 16M --block-size 1M --sector-size 4096 ||
            fail "vhdctl create $par.vhdx failed"
        serve "$par.vhdx" --run "qemu-io -f raw \"\$uri\" -c 'write -P 0xa1 0 10M' -c 'write -P 0xa2 12M 4M'" \
            > /dev/null || fail "$par: writing the parent through the plugin failed"
    fi
    read_plugin "$par.vhdx" "$par.out"
    cmp -- "$par.out" "$par.raw" || fail "$par: the parent does not read as written"
    "$VHDCTL" create "$kid.vhdx" --parent "$par.vhdx" || fail "vhdctl create $kid.vhdx --parent failed"
    cp -- "$par.vhdx" "$par.keep"
    before=$(hdrs "$kid.vhdx")
    serve "$kid.vhdx" --run "qemu-io -f raw \"\$uri\" $(printf '%q ' "${kid_cmds[@]}")" > /dev/null ||
        fail "$kid: qemu-io through the plugin failed"
    cp -- "$par.raw" "$kid.raw"
    qemu-io -f raw "${kid_cmds[@]}" "$kid.raw" > /dev/null
    cmp -s -- "$kid.raw" "$par.raw" && fail "$kid: the session changed nothing"
    read_plugin "$kid.vhdx" "$kid.out"
    cmp -- "$kid.out" "$kid.raw" || fail "$kid: the plugin reads other bytes than written"
    check_headers "$kid" "$before"
    check_7z "$kid" "$kid.raw"
    out=$("$VHDCTL" check "$kid.vhdx" 2>&1) || fail "$kid: vhdctl check: $out"
    cmp -s -- "$par.vhdx" "$par.keep" || fail "$par: writing the child wrote to the parent"
    # Extents: block 7 (ZERO) reads as a hole, block 9 (the parent's) as data.
    map=$(serve "$kid.vhdx" readonly=1 --run 'nbdinfo --map "$uri"')
    awk '$1 <= 7340032 && 7340032 < $1 + $2 { z = $3 } $1 <= 9437184 && 9437184 < $1 + $2 { d = $3 }
         END { exit !(z == 3 && d == 0) }' <<<"$map" || fail "$kid: extents: $map"
    # No-op requests: nothing written.
    cp -- "$kid.vhdx" "$kid.keep"
    serve "$kid.vhdx" --run "qemu-io -f raw \"\$uri\" $(printf '%q ' "${kid_noop[@]}")" > /dev/null ||
        fail "$kid: no-change session failed"
    cmp -s -- "$kid.vhdx" "$kid.keep" || fail "$kid: a session that changed nothing wrote to the file"
    echo "$testname: $kid: OK"
done
