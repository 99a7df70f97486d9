# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench/compact/fsfree.py: block classes from a file system's own free list,
# for plan.py and plan-vhdx.py (--free FILE), so that the benchmark's
# optimum does not rest on our scanner.  FILE holds "START LENGTH" byte
# ranges on the virtual disk (tests/integration/ext4-oracle.py free-ranges
# makes them from dumpe2fs).  A block is "F" when every byte of it lies in
# a free range, else "U": the same meaning as `vhdctl analyze`'s classes,
# without the partial/used distinction, which the planners do not use.
import bisect


def classes_from_free(path, block_size, nblocks):
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
    starts = [s for s, _ in merged]
    out = []
    for b in range(nblocks):
        lo, hi = b * block_size, (b + 1) * block_size
        i = bisect.bisect_right(starts, lo) - 1
        out.append("F" if i >= 0 and merged[i][0] + merged[i][1] >= hi else "U")
    return "".join(out)
