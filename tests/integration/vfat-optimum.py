#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The oracle of test-compact-vfat.sh, written apart from lib/fs/: which
allocated blocks of a disk are wholly free in its FAT, exFAT and swap
volumes.

    vfat-optimum.py RAW BLOCK_SIZE ALLOCATED VOLUME...

ALLOCATED is a file of "INDEX FILE-OFFSET" lines (the image's BAT, read
with od); each VOLUME is fat:OFFSET (free: zero in every FAT copy),
exfat:OFFSET:BITMAP_CLUSTER (the bitmap where dump.exfat says it is) or
swap:OFFSET (pages 1..last_page of the header).  Prints the indexes of
the allocated blocks every byte of which is free, one a line."""
import struct
import sys


def fat_free(f, off):
    f.seek(off)
    b = f.read(512)
    bps, spc, rsvd, nfats = struct.unpack_from('<HBHB', b, 11)
    root_ents, tot16, _, fatsz16 = struct.unpack_from('<HHBH', b, 17)
    tot32, = struct.unpack_from('<I', b, 32)
    fatsz = fatsz16 or struct.unpack_from('<I', b, 36)[0]
    tot = tot16 or tot32
    first_data = rsvd + nfats * fatsz + (root_ents * 32 + bps - 1) // bps
    count = (tot - first_data) // spc
    bits = 12 if count < 4085 else 16 if count < 65525 else 32
    fats = []
    for k in range(nfats):
        f.seek(off + (rsvd + k * fatsz) * bps)
        fats.append(f.read(fatsz * bps))

    def entry(fat, n):
        if bits == 12:
            v = fat[n * 3 // 2] | fat[n * 3 // 2 + 1] << 8
            return v >> 4 if n & 1 else v & 0xFFF
        if bits == 16:
            return struct.unpack_from('<H', fat, n * 2)[0]
        return struct.unpack_from('<I', fat, n * 4)[0]
    csize = spc * bps
    for n in range(2, count + 2):
        if all(entry(fat, n) == 0 for fat in fats):
            yield off + (first_data + (n - 2) * spc) * bps, csize


def exfat_free(f, off, bitmap_cluster):
    f.seek(off)
    b = f.read(512)
    heap, count = struct.unpack_from('<II', b, 0x58)
    bps_shift, spc_shift = b[0x6C], b[0x6D]
    csize = 1 << (bps_shift + spc_shift)

    def at(c):
        return off + (heap << bps_shift) + (c - 2) * csize
    f.seek(at(bitmap_cluster))
    bm = f.read((count + 7) // 8)
    for i in range(count):
        if not bm[i // 8] >> (i % 8) & 1:
            yield at(i + 2), csize


def swap_free(f, off):
    f.seek(off)
    h = f.read(4096)
    assert h[4086:] == b'SWAPSPACE2'
    last_page, = struct.unpack_from('<I', h, 0x404)
    yield off + 4096, last_page * 4096


def main():
    raw, bs, alloc = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    free = {}               # block -> free bytes in it
    with open(raw, 'rb') as f:
        for vol in sys.argv[4:]:
            kind, *args = vol.split(':')
            args = [int(a) for a in args]
            gen = {'fat': fat_free, 'exfat': exfat_free, 'swap': swap_free}[kind](f, *args)
            for start, length in gen:
                while length:
                    blk, inblk = divmod(start, bs)
                    n = min(length, bs - inblk)
                    free[blk] = free.get(blk, 0) + n
                    start += n
                    length -= n
    for line in open(alloc):
        idx = int(line.split()[0])
        if free.get(idx, 0) == bs:
            print(idx)


main()
