#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Oracles for the ext2/3/4 scanner (used by ext4-functions.sh):
#   free-ranges DUMPE2FS OFFSET   dumpe2fs's free blocks as normalized
#                                 "START LENGTH" byte ranges, shifted by OFFSET
#                                 (bigalloc: a printed range ends at the
#                                 *first* block of its last free cluster, so
#                                 it is extended by ratio - 1 blocks, then
#                                 clipped to the block count)
#   clobber IMAGE RANGES          random bytes over every "range START LEN" line
#   kept RAW BS ALLOC FREE        how many allocated blocks (ALLOC: "INDEX
#                                 OFFSET" lines) a full-mode compaction must
#                                 keep: not every byte free in FREE ("START
#                                 LENGTH" lines) and not all zeros in RAW
#   same-outside A B FREE         A and B equal outside the FREE ranges (over A's size)
import os
import re
import sys


def merge(ranges):
    out = []
    for s, n in sorted(ranges):
        if out and s <= out[-1][0] + out[-1][1]:
            out[-1][1] = max(out[-1][1], s + n - out[-1][0])
        else:
            out.append([s, n])
    return out


def free_ranges(path, offset):
    text = open(path).read()
    bs = int(re.search(r'^Block size:\s+(\d+)', text, re.M).group(1))
    count = int(re.search(r'^Block count:\s+(\d+)', text, re.M).group(1))
    m = re.search(r'^Cluster size:\s+(\d+)', text, re.M)
    ratio = int(m.group(1)) // bs if m else 1
    ranges = []
    for line in re.findall(r'^\s+Free blocks: (.*)$', text, re.M):
        for item in line.split(','):
            item = item.strip()
            if not item:
                continue
            a, _, b = item.partition('-')
            a = int(a)
            b = int(b) if b else a
            end = min(b + ratio, count)
            ranges.append((a, end - a))
    for s, n in merge(ranges):
        print(offset + s * bs, n * bs)


def clobber(image, ranges):
    with open(image, 'r+b') as f:
        for line in open(ranges):
            w = line.split()
            if w[0] != 'range':
                continue
            s, n = int(w[1]), int(w[2])
            f.seek(s)
            while n:
                k = min(n, 1 << 20)
                f.write(os.urandom(k))
                n -= k


def load_free(path):
    return merge([tuple(map(int, l.split())) for l in open(path) if l.strip()])


def covered(free, s, n):
    # bytes of [s, s + n) inside the merged ranges
    total = 0
    for a, m in free:
        lo, hi = max(a, s), min(a + m, s + n)
        if hi > lo:
            total += hi - lo
    return total


def kept(raw, bs, alloc, free_path):
    free = load_free(free_path)
    n = 0
    with open(raw, 'rb') as f:
        for line in open(alloc):
            b = int(line.split()[0])
            if covered(free, b * bs, bs) == bs:
                continue
            f.seek(b * bs)
            if f.read(bs).count(0) == bs:
                continue
            n += 1
    print(n)


def same_outside(a, b, free_path):
    free = load_free(free_path)
    # B may be longer: a VHD's virtual size is rounded up to a CHS geometry.
    size = os.path.getsize(a)
    if os.path.getsize(b) < size:
        sys.exit('%s is shorter than %s' % (b, a))
    gaps, pos = [], 0
    for s, n in free:
        if s > pos:
            gaps.append((pos, s - pos))
        pos = max(pos, s + n)
    if pos < size:
        gaps.append((pos, size - pos))
    with open(a, 'rb') as fa, open(b, 'rb') as fb:
        for s, n in gaps:
            fa.seek(s)
            fb.seek(s)
            while n:
                k = min(n, 1 << 22)
                if fa.read(k) != fb.read(k):
                    sys.exit('differ near byte %d' % s)
                s += k
                n -= k


if sys.argv[1] == 'free-ranges':
    free_ranges(sys.argv[2], int(sys.argv[3]))
elif sys.argv[1] == 'kept':
    kept(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
elif sys.argv[1] == 'same-outside':
    same_outside(sys.argv[2], sys.argv[3], sys.argv[4])
elif sys.argv[1] == 'clobber':
    clobber(sys.argv[2], sys.argv[3])
else:
    sys.exit('unknown command')
