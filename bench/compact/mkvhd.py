#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench/compact/mkvhd.py FILE SIZE_BYTES BLOCK_BYTES: an empty dynamic VHD
# with any block size (qemu-img only makes 2 MiB blocks), for the RSS scale
# check: footer copy, dynamic header, BAT all unused, footer.  SIZE is
# stored as the current size; the CHS geometry is the spec's, capped.
import os
import struct
import sys
import time
import uuid


def checksum(b):
    return (~sum(b)) & 0xFFFFFFFF


def geometry(size):
    sectors = min(size // 512, 65535 * 16 * 255)
    if sectors >= 65535 * 16 * 63:
        spt, heads = 255, 16
        cth = sectors // spt
    else:
        spt = 17
        cth = sectors // spt
        heads = max((cth + 1023) // 1024, 4)
        if cth >= heads * 1024 or heads > 16:
            spt, heads = 31, 16
            cth = sectors // spt
        if cth >= heads * 1024:
            spt, heads = 63, 16
            cth = sectors // spt
    return min(cth // heads, 65535), heads, spt


def main():
    path, size, block = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    entries = -(-size // block)
    bat_bytes = -(-4 * entries // 512) * 512
    ts = int(time.time()) - 946684800
    c, h, s = geometry(size)
    f = bytearray(struct.pack(">8sIIQI4sI4sQQHBBII16sB", b"conectix", 2, 0x10000, 512, ts, b"vcbn", 0x10000,
                              b"Wi2k", size, size, c, h, s, 3, 0, uuid.uuid4().bytes, 0))
    f += bytes(512 - len(f))
    struct.pack_into(">I", f, 64, checksum(f))
    d = bytearray(struct.pack(">8sQQIIII", b"cxsparse", 0xFFFFFFFFFFFFFFFF, 1536, 0x10000, entries, block, 0))
    d += bytes(1024 - len(d))
    struct.pack_into(">I", d, 36, checksum(d))
    with open(path, "wb") as out:
        out.write(f)
        out.write(d)
        out.write(b"\xff" * bat_bytes)
        out.write(f)


main()
