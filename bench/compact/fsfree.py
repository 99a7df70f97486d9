# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench/compact/fsfree.py: block classes from a file system's own free list,
# for plan.py and plan-vhdx.py (--free FILE), so that the benchmark's
# optimum does not rest on our scanner.  FILE holds "START LENGTH" byte
# ranges on the virtual disk (tests/integration/ext4-oracle.py free-ranges
# makes them from dumpe2fs).  A block is "F" when every byte of it lies in
# a free range, else "U": the same meaning as `vhdctl analyze`'s classes,
# without the partial/used distinction.  in_use_is_zero() is the combined
# rule of mode full (issue 17 item 1): a block not wholly free is dropped
# too when every byte of it outside the free ranges reads as zero.
import bisect


def merged_free(path):
    """FILE's free ranges, sorted and merged: [start, length] lists."""
    ranges = []
    for line in open(path):
        w = line.split()
        if w:
            ranges.append((int(w[0]), int(w[1])))
    ranges.sort()
    merged = []
    for s, n in ranges:
        if merged and s <= merged[-1][0] + merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], s + n - merged[-1][0])
        else:
            merged.append([s, n])
    return merged


def in_use_is_zero(merged, starts, start, data):
    """Whether every byte of data (the disk's bytes from start) outside the
    free ranges (merged, and starts: their starts) is zero."""
    end = start + len(data)
    i = max(bisect.bisect_right(starts, start) - 1, 0)
    at = start
    while at < end:
        while i < len(merged) and merged[i][0] + merged[i][1] <= at:
            i += 1
        nxt = merged[i][0] if i < len(merged) else end
        if nxt > at:
            hi = min(nxt, end)
            if data[at - start:hi - start].count(0) != hi - at:
                return False
            at = hi
        else:
            at = min(merged[i][0] + merged[i][1], end)
    return True


def classes_from_free(path, block_size, nblocks):
    merged = merged_free(path)
    starts = [s for s, _ in merged]
    out = []
    for b in range(nblocks):
        lo, hi = b * block_size, (b + 1) * block_size
        i = bisect.bisect_right(starts, lo) - 1
        out.append("F" if i >= 0 and merged[i][0] + merged[i][1] >= hi else "U")
    return "".join(out)
