/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The plan of a compaction that moves nothing (`--no-block-moves`,
 * Windows' COMPACT_VIRTUAL_DISK_FLAG_NO_BLOCK_MOVES): the same drops as
 * compact_plan_build() decides, no moves, and the file ends where its
 * highest survivor or fixed region ends, plus the format's tail.  Every
 * free range below that end (what plan.c calls free space: the places
 * of the objects dropped now and any a run interrupted earlier left,
 * never a fixed extent nor a survivor) is listed in plan->punches: the
 * executor gives their space back with a hole once the drops are
 * durable (move.h), so the file's allocation falls at once and only its
 * free tail is cut.  A pure function of the layout, as plan.c is: a run
 * after an interruption plans the same end and the same ranges.
 */
#include <errno.h>
#include <stdlib.h>

#include "../util/macro.h"
#include "plan.h"

static int cmp_extent(const void *a, const void *b)
{
        const struct compact_extent *x = a, *y = b;
        return x->off < y->off ? -1 : x->off > y->off;
}

int compact_plan_build_in_place(const struct compact_layout *l, const uint8_t *drop, struct compact_plan *ret)
{
        struct compact_plan p;
        uint32_t n = 0, k = 0;
        int r;

        /* The drops and the layout's checks are the moving planner's. */
        r = compact_plan_build(l, drop, &p);
        if (r < 0)
                return r;
        p.n_moves = 0;
        p.bytes_moved = 0;

        /* What stays where it is: survivors and fixed extents, sorted. */
        k = p.survivors;
        _cleanup_free_ struct compact_extent *taken = malloc(((size_t) k + l->n_fixed + 1) * sizeof *taken);
        if (!taken) {
                compact_plan_done(&p);
                return -ENOMEM;
        }
        uint64_t end = l->fixed_end;
        for (uint32_t i = 0; i < l->n_objects; i++)
                if (l->at[i] != COMPACT_ABSENT && (!drop || drop[i] == COMPACT_KEEP)) {
                        taken[n] = (struct compact_extent) { (uint64_t) l->at[i] * l->unit,
                                                             compact_object_size(l, i) };
                        end = MAX(end, taken[n].off + taken[n].len);
                        n++;
                }
        for (uint32_t i = 0; i < l->n_fixed; i++) {
                taken[n++] = l->fixed[i];
                end = MAX(end, l->fixed[i].off + l->fixed[i].len);
        }
        qsort(taken, n, sizeof *taken, cmp_extent);

        /* The gaps between them, from the first place to the new end. */
        p.punches = malloc(((size_t) n + 1) * sizeof *p.punches);
        if (!p.punches) {
                compact_plan_done(&p);
                return -ENOMEM;
        }
        uint64_t lo = ROUND_UP(l->fixed_end, l->unit);
        for (uint32_t i = 0; i <= n; i++) {
                uint64_t hi = i < n ? MIN(taken[i].off, end) : end;
                if (hi > lo)
                        p.punches[p.n_punches++] = (struct compact_extent) { lo, hi - lo };
                if (i < n)
                        lo = MAX(lo, taken[i].off + taken[i].len);
        }
        p.final_size = end + l->tail;
        *ret = p;
        return 0;
}
