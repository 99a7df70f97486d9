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


if sys.argv[1] == 'free-ranges':
    free_ranges(sys.argv[2], int(sys.argv[3]))
elif sys.argv[1] == 'clobber':
    clobber(sys.argv[2], sys.argv[3])
else:
    sys.exit('unknown command')
