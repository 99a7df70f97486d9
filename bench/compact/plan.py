#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench/compact/plan.py [--free FILE] VHD ANALYZE_JSON OUTDIR: an independent reckoning of
# what `vhdctl compact` (mode full) should do to VHD, for the benchmark.
#
# It reads the footer, dynamic header and BAT itself, takes the file-system
# classes from `vhdctl analyze --json` (F = every byte free in the file
# system), and finds the remaining all-zero blocks by reading them (honouring
# the sector bitmap: a clear bit reads as zeros in a dynamic disk).  With
# --free FILE the classes come instead from FILE's free byte ranges
# (fsfree.py: the file system's own tool, e.g. dumpe2fs), not from our
# scanner.  A block
# is dropped when it is F or all zero, or (with --free: mode full's
# combined rule, fsfree.in_use_is_zero) when every byte of it outside the
# free ranges is zero.  Then, by the planner's rule (kept
# blocks end up in the k lowest slots; survivors above move, highest first,
# into the lowest dropped slots) it derives the move list.
#
# Writes OUTDIR/moves.txt ("from to length" per move, in plan order),
# OUTDIR/moves.fio (a fio v2 iolog replaying exactly those reads and writes
# on FIO_FILE, argv[4]) and prints KEY=VALUE lines for the shell:
#   allocated, dropped_fs, dropped_zero, kept, moves, stride, bytes_moved,
#   metadata_end, optimum (header + BAT + kept blocks packed + footer),
#   rule_size (the size the planner's rule gives), first_hole, tail_start.
#
# plan.py --probe VHD ANALYZE_JSON: a diagnostic of what a zero scan with an
# early exit would read: for every allocated block not free in the file
# system, its sector bitmap and the first PROBE bytes (4 KiB) of data; the
# rest of the block only when those are all zero.  Prints the bytes read
# and how many blocks needed the full read.
import json
import os
import struct
import sys

import fsfree

SECTOR = 512
UNUSED = 0xFFFFFFFF


def probe(vhd, ajson, first=4096):
    classes = json.load(open(ajson))["block-classes"]
    fd = os.open(vhd, os.O_RDONLY)
    size = os.fstat(fd).st_size
    footer = os.pread(fd, 512, size - 512)
    dyn = os.pread(fd, 1024, struct.unpack(">Q", footer[16:24])[0])
    table_offset = struct.unpack(">Q", dyn[16:24])[0]
    max_entries, block_size = struct.unpack(">II", dyn[28:36])
    bitmap_bytes = -(-(-(-(block_size // SECTOR) // 8)) // SECTOR) * SECTOR
    bat = struct.unpack(">%dI" % max_entries, os.pread(fd, 4 * max_entries, table_offset))
    nread, full, blocks = 0, 0, 0
    for b, e in enumerate(bat):
        if e == UNUSED or classes[b] == "F":
            continue
        blocks += 1
        off = e * SECTOR
        bm = os.pread(fd, bitmap_bytes, off)
        head = os.pread(fd, first, off + bitmap_bytes)
        nread += bitmap_bytes + first
        if head.count(0) == first or bm != b"\xff" * bitmap_bytes:
            os.pread(fd, block_size - first, off + bitmap_bytes + first)
            nread += block_size - first
            full += 1
    print("probe: %d blocks, %d bytes read, %d needed the full read" % (blocks, nread, full))


def main():
    if sys.argv[1] == "--probe":
        return probe(sys.argv[2], sys.argv[3])
    args, free = sys.argv[1:], None
    if args[0] == "--free":
        free, args = args[1], args[2:]
    vhd, ajson, outdir = args[:3]
    fio_file = args[3] if len(args) > 3 else vhd
    classes = json.load(open(ajson))["block-classes"]
    fd = os.open(vhd, os.O_RDONLY)
    size = os.fstat(fd).st_size
    footer = os.pread(fd, 512, size - 512)
    if footer[:8] != b"conectix":
        sys.exit("plan.py: no footer")
    data_offset = struct.unpack(">Q", footer[16:24])[0]
    dtype = struct.unpack(">I", footer[60:64])[0]
    if dtype != 3:
        sys.exit("plan.py: not a dynamic disk")
    dyn = os.pread(fd, 1024, data_offset)
    if dyn[:8] != b"cxsparse":
        sys.exit("plan.py: no dynamic header")
    table_offset = struct.unpack(">Q", dyn[16:24])[0]
    max_entries, block_size = struct.unpack(">II", dyn[28:36])
    bitmap_bytes = -(-(block_size // SECTOR) // 8)
    bitmap_bytes = -(-bitmap_bytes // SECTOR) * SECTOR
    stride = bitmap_bytes + block_size
    bat = struct.unpack(">%dI" % max_entries, os.pread(fd, 4 * max_entries, table_offset))
    if len(classes) != max_entries:
        sys.exit("plan.py: analyze has %d blocks, BAT %d" % (len(classes), max_entries))
    merged = starts = None
    if free:
        classes = fsfree.classes_from_free(free, block_size, max_entries)
        merged = fsfree.merged_free(free)
        starts = [s for s, _ in merged]
    metadata_end = max(512, data_offset + 1024, table_offset + -(-4 * max_entries // SECTOR) * SECTOR)
    for i in range(8):  # parent locators: none in a dynamic disk, but be exact
        code, space, length, _, off = struct.unpack(">IIII Q", dyn[576 + 24 * i:600 + 24 * i])
        if code:
            metadata_end = max(metadata_end, off + max(length, space * SECTOR))

    zeros = bytes(block_size)
    slots, dropped_fs, dropped_zero, dropped_fs_zero = [], 0, 0, 0
    for b, e in enumerate(bat):
        if e == UNUSED:
            continue
        off = e * SECTOR
        drop = classes[b] == "F"
        if drop:
            dropped_fs += 1
        else:
            bm = os.pread(fd, bitmap_bytes, off)
            data = os.pread(fd, block_size, off + bitmap_bytes)
            z = data == zeros
            if not z and bm != b"\xff" * bitmap_bytes:
                z = all(data[s * SECTOR:(s + 1) * SECTOR] == zeros[:SECTOR] or not (bm[s // 8] >> (7 - s % 8)) & 1
                        for s in range(block_size // SECTOR))
            if z:
                drop = True
                dropped_zero += 1
            elif merged is not None:
                # What the disk reads: a clear bit reads as zeros.
                if bm != b"\xff" * bitmap_bytes:
                    data = b"".join(data[s * SECTOR:(s + 1) * SECTOR] if (bm[s // 8] >> (7 - s % 8)) & 1
                                    else zeros[:SECTOR] for s in range(block_size // SECTOR))
                if fsfree.in_use_is_zero(merged, starts, b * block_size, data):
                    drop = True
                    dropped_fs_zero += 1
        slots.append((off, b, drop))
    slots.sort()
    n = len(slots)
    k = sum(1 for s in slots if not s[2])
    moves, hole, top = [], 0, n
    while True:
        while hole < k and not slots[hole][2]:
            hole += 1
        if hole >= k:
            break
        top -= 1
        while slots[top][2]:
            top -= 1
        moves.append((slots[top][0], slots[hole][0]))
        hole += 1
    rule_size = max(metadata_end, slots[k - 1][0] + stride if k else 0) + 512
    optimum = metadata_end + k * stride + 512

    with open(os.path.join(outdir, "moves.txt"), "w") as f:
        for a, b in moves:
            f.write("%d %d %d\n" % (a, b, stride))
    with open(os.path.join(outdir, "moves.fio"), "w") as f:
        f.write("fio version 2 iolog\n%s add\n%s open\n" % (fio_file, fio_file))
        for a, b in moves:
            f.write("%s read %d %d\n%s write %d %d\n" % (fio_file, a, stride, fio_file, b, stride))
        f.write("%s close\n" % fio_file)
    first_hole = min((b for _, b in moves), default=0)
    out = dict(allocated=n, dropped_fs=dropped_fs, dropped_zero=dropped_zero, dropped_fs_zero=dropped_fs_zero, kept=k, moves=len(moves),
               stride=stride, bytes_moved=len(moves) * stride, metadata_end=metadata_end,
               first_slot=slots[0][0] if slots else 0, optimum=optimum, rule_size=rule_size,
               first_hole=first_hole, tail_start=size - 512 - len(moves) * stride, file_size=size)
    for key, v in out.items():
        print("%s=%d" % (key, v))


main()
