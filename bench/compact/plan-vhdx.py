#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench/compact/plan-vhdx.py [--free FILE] VHDX ANALYZE_JSON: an independent reckoning of
# what `vhdctl compact` (mode full) should leave of a dynamic VHDX, for the
# benchmark (plan.py does the same for VHD).
#
# It reads the headers, the region table, the metadata (block size, disk
# size, logical sector size) and the BAT itself, takes the file-system
# classes from `vhdctl analyze --json` (F = every byte free in the file
# system) and finds the remaining all-zero FULLY_PRESENT blocks by reading
# them (with --free FILE, the classes come from FILE's free byte ranges
# instead, as in plan.py).  A block is dropped when it is F or all zero,
# or (with --free: mode full's combined rule) when every byte outside the
# free ranges is zero.  The optimum is the
# end of everything fixed (the 1 MiB header section, the log, every region),
# rounded up to 1 MiB, plus the kept blocks packed: VHDX.md §3.4 truncates to
# the MiB-aligned end of what is still in use, and nothing fixed lies above
# the tables in a dynamic disk.
#
# That optimum counts every byte between the tables and the first block
# as room, which whole-block moves cannot always use: qemu-img puts its
# tables below 4 MiB and its first block at 8 MiB, so with 32 MiB blocks
# every block sits 4 MiB past the 32 MiB grid that starts at the tables'
# end, and only moving every kept block (copying the whole disk) would
# reach it.  So when all allocated blocks share one offset modulo the
# block size (any qemu-img or Windows layout), the optimum is the kept
# blocks packed on that grid from its first place at or after the tables'
# end (optimum; with 1 MiB blocks the two are the same), and the true
# minimum is printed beside it (optimum_contiguous); for any other layout
# both are the true minimum.
#
# Prints KEY=VALUE lines for the shell: allocated, dropped_fs, dropped_zero,
# kept, stride (the block size), first_slot (img_first), optimum,
# log_length, bat_length, file_size.
#
# plan-vhdx.py --moves BEFORE AFTER OUTDIR FIO_FILE: the moves a compaction
# made, from the BATs of the file before and after it (a block whose file
# offset changed moved from the old to the new offset); writes
# OUTDIR/moves.txt ("from to length") and OUTDIR/moves.fio (a fio v2 iolog
# reading each source and writing each destination, in the order of the
# destinations, lowest first) and prints moves, bytes_moved, first_hole,
# tail_start.
import json
import os
import struct
import sys
import uuid

import fsfree

MIB = 1 << 20
BAT_GUID = uuid.UUID("2DC27766-F623-4200-9D64-115E9BFD4A08").bytes_le
META_GUID = uuid.UUID("8B7CA206-4790-4B9A-B8FE-575F050F886E").bytes_le
FILE_PARAMS = uuid.UUID("CAA16737-FA36-4D43-B3B6-33F0AA44E76B").bytes_le
DISK_SIZE = uuid.UUID("2FA54224-CD1B-4876-B211-5DBED83BF4B8").bytes_le
LOGICAL_SECTOR = uuid.UUID("8141BF1D-A96F-4709-BA47-F233A8FAAB5F").bytes_le
PARENT_LOCATOR = uuid.UUID("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C").bytes_le


def geometry(fd):
    if os.pread(fd, 8, 0) != b"vhdxfile":
        sys.exit("plan-vhdx.py: no file identifier")
    heads = []
    for off in (64 << 10, 128 << 10):
        h = os.pread(fd, 80, off)
        if h[:4] == b"head":
            heads.append(h)
    if not heads:
        sys.exit("plan-vhdx.py: no header")
    h = max(heads, key=lambda h: struct.unpack_from("<Q", h, 8)[0])
    if h[48:64] != bytes(16):
        sys.exit("plan-vhdx.py: the log is not empty (LogGuid set)")
    log_length, log_offset = struct.unpack_from("<IQ", h, 68)
    rt = os.pread(fd, 64 << 10, 192 << 10)
    if rt[:4] != b"regi":
        sys.exit("plan-vhdx.py: no region table")
    n = struct.unpack_from("<I", rt, 8)[0]
    regions = {}
    ends = [MIB, log_offset + log_length]
    for i in range(n):
        e = rt[16 + 32 * i:48 + 32 * i]
        off, length = struct.unpack_from("<QI", e, 16)
        regions[e[:16]] = (off, length)
        ends.append(off + length)
    bat_off, bat_len = regions[BAT_GUID]
    meta_off, meta_len = regions[META_GUID]
    meta = os.pread(fd, meta_len, meta_off)
    if meta[:8] != b"metadata":
        sys.exit("plan-vhdx.py: no metadata table")
    items = {}
    for i in range(struct.unpack_from("<H", meta, 10)[0]):
        e = meta[32 + 32 * i:64 + 32 * i]
        o, ln = struct.unpack_from("<II", e, 16)
        items[e[:16]] = meta[o:o + ln]
    if PARENT_LOCATOR in items:
        sys.exit("plan-vhdx.py: a differencing disk")
    bs, flags = struct.unpack_from("<II", items[FILE_PARAMS])
    if flags & 3:
        sys.exit("plan-vhdx.py: not a plain dynamic disk (flags %#x)" % flags)
    vsize = struct.unpack_from("<Q", items[DISK_SIZE])[0]
    lss = struct.unpack_from("<I", items[LOGICAL_SECTOR])[0]
    cr = (1 << 23) * lss // bs
    nblocks = -(-vsize // bs)
    entries = nblocks + (nblocks - 1) // cr
    bat = struct.unpack_from("<%dQ" % entries, os.pread(fd, 8 * entries, bat_off))
    blocks = {}
    for i, e in enumerate(bat):
        if i % (cr + 1) == cr:
            if e & 7:
                sys.exit("plan-vhdx.py: a sector bitmap block in a dynamic disk")
            continue
        state = e & 7
        if state in (6, 7):
            blocks[i - i // (cr + 1)] = (state, e >> 20 << 20)
    first = -(-max(ends) // MIB) * MIB
    return dict(bs=bs, first=first, blocks=blocks, log_length=log_length, bat_length=bat_len)


def moves(before, after, outdir, fio_file):
    fa, fb = os.open(before, os.O_RDONLY), os.open(after, os.O_RDONLY)
    ga, gb = geometry(fa), geometry(fb)
    bs = ga["bs"]
    mv = sorted(((gb["blocks"][b][1], ga["blocks"][b][1]) for b in gb["blocks"]
                 if ga["blocks"][b][1] != gb["blocks"][b][1]))
    with open(os.path.join(outdir, "moves.txt"), "w") as f:
        for dst, src in mv:
            f.write("%d %d %d\n" % (src, dst, bs))
    with open(os.path.join(outdir, "moves.fio"), "w") as f:
        f.write("fio version 2 iolog\n%s add\n%s open\n" % (fio_file, fio_file))
        for dst, src in mv:
            f.write("%s read %d %d\n%s write %d %d\n" % (fio_file, src, bs, fio_file, dst, bs))
        f.write("%s close\n" % fio_file)
    size = os.fstat(fa).st_size
    out = dict(moves=len(mv), bytes_moved=len(mv) * bs, first_hole=min((d for d, _ in mv), default=0),
               tail_start=size - len(mv) * bs)
    for key, v in out.items():
        print("%s=%d" % (key, v))


def grid_first(first, bs, offsets):
    """The first place at or after first on the grid every block lies on
    (all offsets equal modulo bs), else first."""
    residues = {off % bs for off in offsets}
    if len(residues) != 1:
        return first
    r = residues.pop()
    return first + (r - first) % bs


def main():
    if sys.argv[1] == "--moves":
        return moves(*sys.argv[2:6])
    args, free = sys.argv[1:], None
    if args[0] == "--free":
        free, args = args[1], args[2:]
    vhdx, ajson = args[:2]
    classes = json.load(open(ajson))["block-classes"]
    fd = os.open(vhdx, os.O_RDONLY)
    g = geometry(fd)
    bs = g["bs"]
    merged = starts = None
    if free:
        classes = fsfree.classes_from_free(free, bs, len(classes))
        merged = fsfree.merged_free(free)
        starts = [s for s, _ in merged]
    zeros = bytes(bs)
    dropped_fs = dropped_zero = dropped_fs_zero = 0
    for b, (state, off) in g["blocks"].items():
        if state != 6:
            sys.exit("plan-vhdx.py: block %d is partially present in a dynamic disk" % b)
        if classes[b] == "F":
            dropped_fs += 1
            continue
        data = os.pread(fd, bs, off)
        if data == zeros:
            dropped_zero += 1
        elif merged is not None and fsfree.in_use_is_zero(merged, starts, b * bs, data):
            dropped_fs_zero += 1
    n = len(g["blocks"])
    kept = n - dropped_fs - dropped_zero - dropped_fs_zero
    slot = grid_first(g["first"], bs, [off for _, off in g["blocks"].values()])
    out = dict(allocated=n, dropped_fs=dropped_fs, dropped_zero=dropped_zero, dropped_fs_zero=dropped_fs_zero,
               kept=kept, stride=bs,
               first_slot=slot, optimum=slot + kept * bs, optimum_contiguous=g["first"] + kept * bs,
               tables_end=g["first"], log_length=g["log_length"],
               bat_length=g["bat_length"], file_size=os.fstat(fd).st_size)
    for key, v in out.items():
        print("%s=%d" % (key, v))


main()
