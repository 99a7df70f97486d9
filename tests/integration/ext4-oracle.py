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
#                                 keep, by the combined rule: not every byte
#                                 free in FREE ("START LENGTH" lines), and
#                                 some byte outside FREE not zero in RAW
#   drops RAW BS ALLOC FREE [PARENT]
#                                 the combined rule's drops, by reason, as
#                                 "kept K fs F zero Z fs-zero X old-kept O":
#                                 fs: every byte free; zero: every byte
#                                 reads as after the drop (zeros; PARENT's
#                                 bytes, zeros past its end); fs-zero: every
#                                 byte outside FREE does, some free one not;
#                                 old-kept: what the rule of wholly free or
#                                 wholly zero (or wholly PARENT's) blocks
#                                 keeps
#   same-outside A B FREE [START LEN]
#                                 A and B equal outside the FREE ranges (over
#                                 A's size, or [START, START + LEN))
#   reasons RAW BS ALLOC FREE CLASSES [PARENT]
#                                 "INDEX REASON" of every block of ALLOC that
#                                 a compaction in mode full drops: fs where
#                                 CLASSES (analyze's) says 'F', else as drops
#                                 (zero, fs-zero)
#   bitmap-free BITMAP CLUSTER COUNT OFFSET
#                                 the clear bits of an allocation bitmap
#                                 (NTFS $Bitmap as ntfscat reads it) among
#                                 the first COUNT, as "START LENGTH" byte
#                                 ranges of CLUSTER bytes each from OFFSET
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


def in_use(free, s, n):
    # the pieces of [s, s + n) outside the merged ranges, relative to s
    pos, out = s, []
    for a, m in free:
        if a + m <= pos:
            continue
        if a >= s + n:
            break
        if a > pos:
            out.append((pos - s, a - s))
        pos = max(pos, a + m)
    if pos < s + n:
        out.append((pos - s, n))
    return out


def drops(raw, bs, alloc, free_path, parent=None, classes=None):
    free = load_free(free_path)
    size = os.path.getsize(raw)
    psize = os.path.getsize(parent) if parent else 0
    count = dict(kept=0, fs=0, zero=0, fs_zero=0, old_kept=0)
    with open(raw, 'rb') as f, open(parent or os.devnull, 'rb') as p:
        for line in open(alloc):
            b = int(line.split()[0])
            s = b * bs
            n = max(0, min(bs, size - s))
            f.seek(s)
            mine = f.read(n)
            # What the block reads after its drop.
            p.seek(s)
            under = p.read(max(0, min(n, psize - s))) if s < psize else b''
            after = under + bytes(n - len(under))
            if classes is not None:
                wholly_free = classes[b] == 'F'
            else:
                wholly_free = n == 0 or covered(free, s, n) == n
            if wholly_free:
                count['fs'] += 1
                count.setdefault('list', []).append((b, 'fs'))
                continue
            whole = mine == after
            if not whole and not (mine.count(0) == n and after.count(0) == n):
                count['old_kept'] += 1
            if whole:
                count['zero'] += 1
                count.setdefault('list', []).append((b, 'zero'))
            elif all(mine[a:e] == after[a:e] for a, e in in_use(free, s, n)):
                count['fs_zero'] += 1
                count.setdefault('list', []).append((b, 'fs-zero'))
            else:
                count['kept'] += 1
    return count


def kept(raw, bs, alloc, free_path):
    print(drops(raw, bs, alloc, free_path)['kept'])


def same_outside(a, b, free_path, lo=0, length=None):
    free = load_free(free_path)
    # B may be longer: a VHD's virtual size is rounded up to a CHS geometry.
    size = os.path.getsize(a)
    if os.path.getsize(b) < size:
        sys.exit('%s is shorter than %s' % (b, a))
    hi = size if length is None else min(size, lo + length)
    gaps = [(lo + s, e - s) for s, e in in_use(free, lo, max(0, hi - lo))]
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
elif sys.argv[1] == 'drops':
    c = drops(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6] if len(sys.argv) > 6 else None)
    print('kept %(kept)d fs %(fs)d zero %(zero)d fs-zero %(fs_zero)d old-kept %(old_kept)d' % c)
elif sys.argv[1] == 'reasons':
    c = drops(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[7] if len(sys.argv) > 7 else None,
              sys.argv[6])
    for b, why in c.get('list', []):
        print(b, why)
elif sys.argv[1] == 'bitmap-free':
    bm = open(sys.argv[2], 'rb').read()
    cl, count, off = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    run = None
    out = []
    for i in range(min(count, len(bm) * 8)):
        if not (bm[i // 8] >> (i % 8)) & 1:
            if run is not None and run[0] + run[1] == i:
                run[1] += 1
            else:
                run = [i, 1]
                out.append(run)
    for s, n in out:
        print(off + s * cl, n * cl)
elif sys.argv[1] == 'kept':
    kept(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
elif sys.argv[1] == 'same-outside':
    if len(sys.argv) > 6:
        same_outside(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
    else:
        same_outside(sys.argv[2], sys.argv[3], sys.argv[4])
elif sys.argv[1] == 'clobber':
    clobber(sys.argv[2], sys.argv[3])
else:
    sys.exit('unknown command')
