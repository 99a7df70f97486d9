#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Read-ahead of the virtual disk (lib/image/prefetch.h) never changes what
# is read.  For a dynamic VHDX (1 MiB blocks) and a dynamic VHD (2 MiB)
# whose blocks lie in the file in shuffled order (qemu-io writes them so),
# with unallocated blocks and writes across block boundaries, and for a
# differencing child of each (`vhdctl create --parent`, written through
# the plugin), the plugin's bytes equal qemu's raw copy (the child's: the
# parent's raw copy with the same writes applied by qemu-io) when read
#   - as one sequential stream (nbdcopy, one connection, one request in
#     flight, holes read too): the pattern read-ahead follows, and the
#     plugin must say it issued hints (else this test proves nothing);
#   - by nbdcopy's parallel connections, out of order;
#   - at random offsets and lengths, across block boundaries (qemu-io
#     `read -v` through NBD, compared with the reference by python).
# That the detector's state and hints are bounded, and that random reads
# issue none: tests/unit/test-prefetch.c.
set -euo pipefail
. "$(dirname "$0")/functions.sh"
requires qemu-img qemu-io nbdkit nbdcopy python3 cmp
requires_env VHDCTL VHD_PLUGIN
make_tmpdir
cd "$tmpdir"

size=$((48 << 20))

# The parent's writes: every block but a few, in shuffled order (so file
# order is not virtual order), with a distinct pattern; two writes across
# a block boundary; blocks 13 and 30-33 never written.
python3 - > par.cmds <<'PY'
import random
random.seed(14)
blocks = [b for b in range(48) if b != 13 and not 30 <= b <= 33]
random.shuffle(blocks)
for b in blocks:
    print("-c\nwrite -P %d %d 1M" % (b % 250 + 3, b << 20))
print("-c\nwrite -P 254 %d 128k" % ((20 << 20) - (64 << 10)))
print("-c\nwrite -P 253 %d 3M" % ((34 << 20) - 4096))
PY
mapfile -t par_cmds < par.cmds
# The child's writes: over allocated and unallocated parent blocks, across
# a boundary, a sector-sized one.
kid_cmds=(-c "write -P 201 $((13 << 20)) 4k" -c "write -P 202 $((31 << 20)) 1M"
          -c "write -P 203 $(((5 << 20) - 512)) 8k" -c "write -P 204 $((40 << 20)) 512")

qemu-img create -q -f vhdx -o subformat=dynamic,block_size=1M par.vhdx "$size"
qemu-io -f vhdx "${par_cmds[@]}" par.vhdx > /dev/null
qemu-img convert -f vhdx -O raw par.vhdx par-vhdx.raw
qemu-img create -q -f vpc -o subformat=dynamic,force_size=on par.vhd "$size"
qemu-io -f vpc "${par_cmds[@]}" par.vhd > /dev/null
qemu-img convert -f vpc -O raw par.vhd par-vhd.raw

# The layout the test depends on: blocks out of virtual order in the file.
python3 - par.vhdx <<'PY' || fail "par.vhdx: its blocks are in virtual order; the test needs them shuffled"
import struct, sys, uuid
f = open(sys.argv[1], "rb")
f.seek(192 << 10); rt = f.read(64 << 10)
bat = uuid.UUID("2DC27766-F623-4200-9D64-115E9BFD4A08")
for i in range(struct.unpack_from("<I", rt, 8)[0]):
    g, off, ln, _ = struct.unpack_from("<16sQII", rt, 16 + 32 * i)
    if uuid.UUID(bytes_le=g) == bat:
        f.seek(off); raw = f.read(48 * 8)
offs = [e >> 20 for (e,) in struct.iter_unpack("<Q", raw) if e & 7 == 6]
sys.exit(0 if offs != sorted(offs) else 1)
PY

for fmt in vhdx vhd; do
    "$VHDCTL" create "kid.$fmt" --parent "par.$fmt" >/dev/null || fail "vhdctl create kid.$fmt --parent failed"
    serve "kid.$fmt" --run "qemu-io -f raw \"\$uri\" $(printf '%q ' "${kid_cmds[@]}")" > /dev/null ||
        fail "kid.$fmt: qemu-io through the plugin failed"
    cp "par-$fmt.raw" "kid-$fmt.raw"
    qemu-io -f raw "${kid_cmds[@]}" "kid-$fmt.raw" > /dev/null
done

# Random reads, the same for every image: anywhere, or across a 1 MiB
# boundary (every VHD block boundary is one too).
python3 - "$size" > random.cmds <<'PY'
import random, sys
size = int(sys.argv[1])
rng = random.Random(1414)
for i in range(60):
    n = rng.choice([1, 511, 4096, 65536, 150000]) + rng.randrange(0, 4096)
    if i % 2:
        off = rng.randrange(1, 48) * (1 << 20) - rng.randrange(1, n + 1)
    else:
        off = rng.randrange(0, size - n)
    print("-c\nread -v %d %d" % (off, min(n, size - off)))
PY
mapfile -t random_cmds < random.cmds

for img in par.vhdx kid.vhdx par.vhd kid.vhd; do
    name=${img%.*}-${img##*.} ref=${img%.*}-${img##*.}.raw
    # One sequential stream: the read-ahead must take it (hints > 0).
    rm -f seq.out
    serve "$img" readonly=1 -v --run 'nbdcopy --no-extents -C 1 -R 1 --request-size=65536 "$uri" seq.out' 2> seq.log ||
        { tail -20 seq.log >&2; fail "$name: sequential nbdcopy failed"; }
    cmp -s seq.out "$ref" || fail "$name: a sequential read differs from qemu's"
    hints=$(sed -n 's/.*vhd: read-ahead hints issued: \([0-9]*\).*/\1/p' seq.log)
    [[ -n $hints ]] || fail "$name: the plugin did not report its read-ahead hints"
    (( hints > 0 )) || fail "$name: a sequential read issued no read-ahead hint"
    # Parallel connections, out of order.
    rm -f par.out
    serve "$img" readonly=1 --run 'nbdcopy "$uri" par.out'
    cmp -s par.out "$ref" || fail "$name: a parallel read differs from qemu's"
    # Random offsets and lengths.
    serve "$img" readonly=1 --run "qemu-io -r -f raw \"\$uri\" $(printf '%q ' "${random_cmds[@]}")" > random.out ||
        fail "$name: qemu-io random reads through the plugin failed"
    python3 - random.out "$ref" <<'PY' || fail "$name: a random read differs from qemu's"
import re, sys
ref = open(sys.argv[2], "rb").read()
reads = 0
for line in open(sys.argv[1]):
    m = re.match(r"^([0-9a-f]{8}):  ((?:[0-9a-f]{2} )*[0-9a-f]{2})", line)
    if m:
        off, data = int(m.group(1), 16), bytes.fromhex(m.group(2))
        if ref[off:off + len(data)] != data:
            sys.exit("byte at %d differs" % off)
    elif line.startswith("read "):
        reads += 1
sys.exit(0 if reads == 60 else "only %d reads" % reads)
PY
    echo "$testname: $name: sequential ($hints hints), parallel and random reads equal qemu's"
done
