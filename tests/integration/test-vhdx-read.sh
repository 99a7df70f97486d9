#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# VHDX through the front ends, qemu as the oracle:
#   - every image qemu-img makes (dynamic with 1, 2, 8 and 32 MiB blocks,
#     a partial last block, a 2 MiB log, ZERO and NOT_PRESENT states,
#     fixed with a ZERO or a present BAT), written by qemu-io, reads
#     through the plugin (readonly=1, several connections) exactly as
#     `qemu-img convert -f vhdx -O raw` gives it (and 7-Zip's extraction,
#     when 7zz is here), and no non-zero byte
#     lies in a hole of its extents (qemu-img map says all data);
#   - vhdctl info (text and valid JSON) and check (clean, exit 0) take
#     it, by content (a copy named .img too);
#   - a VHDX whose header names a log with no valid entry (LogGuid set,
#     checksum fixed; qemu's stale entries carry other GUIDs) is refused
#     by check (1, bad-log), info and the plugin, read-only or not;
#     compact --dry-run and analyze of a clean one give a size after,
#     compact of a fixed one is refused (not-supported, LeaveBlockAllocated),
#     and so is any compaction of the dirty one (bad-log); in every case
#     the file is byte-identical.  (Writing: test-vhdx-write.sh.)
set -euo pipefail
. "$(dirname "$0")/functions.sh"
requires qemu-img qemu-io nbdkit nbdcopy nbdinfo python3 cmp
requires_env VHDCTL VHD_PLUGIN
make_tmpdir

make_vhdx ()  # NAME CREATE-OPTIONS SIZE [QEMU-IO-ARGS...]
{
    local name=$1 opts=$2 size=$3
    shift 3
    qemu-img create -q -f vhdx -o "$opts" "$tmpdir/$name.vhdx" "$size"
    (( $# == 0 )) || qemu-io -f vhdx "$@" "$tmpdir/$name.vhdx" >/dev/null
    echo "$tmpdir/$name.vhdx"
}

images=(
  "$(make_vhdx dyn-1M block_size=1M 64M -c 'write -P 0xab 0 1M' -c 'write -P 0xcd 5M 512k' -c 'write -P 0x11 67104768 4k')"
  "$(make_vhdx dyn-32M block_size=32M 100M -c 'write -P 0x5a 0 64k' -c 'write -P 0x77 40M 3M' -c 'write -P 0x33 104853504 4k')"
  "$(make_vhdx dyn-log2M block_size=2M,log_size=2M 20M -c 'write -P 0x42 3M 2M')"
  "$(make_vhdx dyn-notpresent block_size=1M,block_state_zero=off 16M -c 'write -P 0x99 7M 12k')"
  "$(make_vhdx dyn-empty block_size=8M 256M)"
  "$(make_vhdx fixed-zero subformat=fixed 16M -c 'write -P 0xee 1M 4k')"
  "$(make_vhdx fixed-present subformat=fixed,block_state_zero=off,block_size=1M 8M -c 'write -P 0xfe 2M 1M')"
)

for img in "${images[@]}"; do
    name=$(basename "$img" .vhdx)
    ref=$tmpdir/$name.raw out=$tmpdir/$name.out
    cp -- "$img" "$tmpdir/$name.orig"
    qemu-img convert -f vhdx -O raw "$img" "$ref"
    size=$(serve "$img" readonly=1 --run 'nbdinfo --size "$uri" && nbdcopy "$uri" '"$(printf %q "$out")")
    [[ $size = $(file_size "$ref") ]] || fail "$name: exported size $size, expected $(file_size "$ref")"
    cmp -s -- "$out" "$ref" || fail "$name: the plugin's bytes differ from qemu-img convert's"
    # 7-Zip, a second reader of its own (strict: it refuses what qemu lets by).
    if command -v 7zz >/dev/null 2>&1; then
        rm -rf -- "$tmpdir/7z"
        7zz x -y -o"$tmpdir/7z" -- "$img" >/dev/null || fail "$name: 7zz cannot extract it"
        cmp -s -- "$tmpdir/7z/$name.img" "$out" || fail "$name: the plugin's bytes differ from 7-Zip's"
        rm -rf -- "$tmpdir/7z"
    fi
    # Extents: qemu's vhdx driver says "all data", so it is no oracle;
    # every non-zero byte of qemu's raw copy must lie in a data extent.
    serve "$img" readonly=1 --run 'nbdinfo --map "$uri"' > "$tmpdir/map"
    python3 - "$ref" "$tmpdir/map" <<'PY' || fail "$name: a non-zero byte lies outside the data extents"
import sys
raw = open(sys.argv[1], "rb").read()
pos = 0
for line in open(sys.argv[2]):
    start, length, kind = (int(x) for x in line.split()[:3])
    assert start == pos, "extents not contiguous"
    if kind != 0 and raw[start:start + length].strip(b"\0"):
        sys.exit(1)
    pos = start + length
assert pos == len(raw), "extents do not cover the disk"
PY
    info=$("$VHDCTL" info "$img")
    grep -q '^format: *vhdx$' <<<"$info" || fail "$name: info says no format vhdx: $info"
    grep -q "^virtual size: *$size bytes" <<<"$info" || fail "$name: info has no virtual size $size"
    "$VHDCTL" info --json "$img" | python3 -m json.tool >/dev/null || fail "$name: info --json is not JSON"
    [[ $("$VHDCTL" info --json "$img" | python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])') = "$size" ]] ||
        fail "$name: info --json virtual-size"
    "$VHDCTL" check "$img" >/dev/null || fail "$name: check is not clean"
    cp -- "$img" "$tmpdir/$name.img"
    "$VHDCTL" info "$tmpdir/$name.img" | grep -q '^format: *vhdx$' || fail "$name: not told by content"
    cmp -s -- "$img" "$tmpdir/$name.orig" || fail "$name: reading changed the file"
    echo "$testname: $name: OK ($size bytes)"
done

img=$tmpdir/dyn-1M.vhdx
orig=$tmpdir/dyn-1M.orig

# Compaction (test-vhdx-compact.sh has the oracles): a dry run and
# analyze only read, and give a size; a fixed VHDX is refused.
rc=0; vhdctl_attaching compact --local --dry-run "$img" >"$tmpdir/out" 2>"$tmpdir/err" || rc=$?
(( rc == 0 )) && grep -q 'would go' "$tmpdir/out" ||
    { cat "$tmpdir/out" "$tmpdir/err" >&2; fail "compact --dry-run: exit $rc"; }
rc=0; vhdctl_attaching analyze "$img" 2>"$tmpdir/err" >"$tmpdir/out" || rc=$?
(( rc == 0 )) && grep -q 'would make the file' "$tmpdir/out" ||
    { cat "$tmpdir/err" "$tmpdir/out" >&2; fail "analyze: exit $rc"; }
cmp -s -- "$img" "$orig" || fail "a dry run or analyze changed the file"
fixed=$tmpdir/fixed-zero.vhdx
rc=0; "$VHDCTL" compact --local "$fixed" 2>"$tmpdir/err" || rc=$?
(( rc == 1 )) && grep -q 'not-supported.*LeaveBlockAllocated' "$tmpdir/err" ||
    { cat "$tmpdir/err" >&2; fail "compact of a fixed VHDX: exit $rc, no not-supported"; }
cmp -s -- "$fixed" "$tmpdir/fixed-zero.orig" || fail "refusing a fixed VHDX changed the file"
echo "$testname: compacting: dry run and analyze read only; fixed refused"

# A non-empty log: LogGuid set in the current header (checksum fixed).
python3 - "$img" <<'PY'
import struct, sys
path = sys.argv[1]
with open(path, "r+b") as f:
    seq = []
    for at in (64 << 10, 128 << 10):
        f.seek(at + 8); seq.append(struct.unpack("<Q", f.read(8))[0])
    at = (64 << 10) if seq[0] > seq[1] else (128 << 10)
    f.seek(at); h = bytearray(f.read(4096))
    h[48:64] = bytes(range(1, 17))
    h[4:8] = b"\0\0\0\0"
    # CRC-32C, bit by bit.
    c = 0xFFFFFFFF
    for b in h:
        c ^= b
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    h[4:8] = struct.pack("<I", c ^ 0xFFFFFFFF)
    f.seek(at); f.write(h)
PY
cp -- "$img" "$tmpdir/dirty.orig"
rc=0; "$VHDCTL" check "$img" >"$tmpdir/out" 2>&1 || rc=$?
(( rc == 1 )) || { cat "$tmpdir/out" >&2; fail "check of a dirty log: exit $rc, expected 1"; }
grep -q 'bad-log' "$tmpdir/out" || { cat "$tmpdir/out" >&2; fail "check does not say bad-log"; }
grep -q 'log_guid' "$tmpdir/out" || fail "check does not name the LogGuid field"
rc=0; "$VHDCTL" info "$img" >/dev/null 2>"$tmpdir/err" || rc=$?
(( rc == 1 )) && grep -q bad-log "$tmpdir/err" || fail "info of a dirty log: exit $rc"
for ro in readonly=1 readonly=0; do
    if serve "$img" $ro --run true 2>"$tmpdir/err"; then
        fail "the plugin ($ro) served a VHDX whose log has no valid entry"
    fi
    grep -q bad-log "$tmpdir/err" || { cat "$tmpdir/err" >&2; fail "plugin ($ro): no bad-log"; }
done
rc=0; "$VHDCTL" compact --local "$img" 2>"$tmpdir/err" || rc=$?
(( rc == 1 )) && grep -q bad-log "$tmpdir/err" || { cat "$tmpdir/err" >&2; fail "compact of a dirty log: exit $rc"; }
# (qemu opens this one: a LogGuid with no valid entry is "clean" to it,
# corrupt to the spec, refused by us either way.)
cmp -s -- "$img" "$tmpdir/dirty.orig" || fail "refusing a dirty log changed the file"
echo "$testname: non-empty log: refused"
