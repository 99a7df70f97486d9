/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../util/macro.h"
#include "../image/image.h"
#include "plan.h"

struct slot {
        uint64_t off;
        uint32_t block;
};

static int cmp_slot(const void *a, const void *b)
{
        const struct slot *x = a, *y = b;
        return x->off < y->off ? -1 : x->off > y->off;
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

void compact_plan_done(struct compact_plan *p)
{
        if (!p)
                return;
        free(p->drops);
        free(p->why);
        free(p->moves);
        *p = (struct compact_plan) {};
}

/*
 * Free positions: every byte from the end of the fixed regions to the tail
 * that no surviving block occupies is free (the file is validated: nothing
 * else lives there).  That includes the slots of blocks dropped now and
 * space left by an interrupted earlier run.  Positions are carved from
 * the start of each gap, one stride apart: a rule that depends only on the
 * file as it is, so a run after any interruption plans the same end as the
 * run it finishes.  In an aligned layout each next position is the first
 * aligned one: still a function of the file alone.
 */
static uint64_t place_from(const struct compact_layout *l, uint64_t p)
{
        return l->align ? ROUND_UP(p + l->data_skew, l->align) - l->data_skew : p;
}

static int free_positions(const struct compact_layout *l, const struct slot *kept, uint32_t k,
                          uint64_t **ret, uint32_t *ret_n, uint32_t want)
{
        uint64_t tail = l->file_size - l->tail, *v;
        uint64_t lo = ROUND_UP(l->fixed_end, l->unit);
        uint32_t n = 0;

        v = malloc(((size_t) want + 1) * sizeof *v);
        if (!v)
                return -ENOMEM;
        for (uint32_t i = 0; i <= k && n < want; i++) {
                uint64_t hi = i < k ? kept[i].off : tail;
                for (uint64_t p = place_from(l, lo); p + l->stride <= hi && n < want; p = place_from(l, p + l->stride))
                        v[n++] = p;
                if (i < k)
                        lo = MAX(lo, kept[i].off + l->stride);
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

int compact_plan_build(const struct compact_layout *l, const uint8_t *drop, struct compact_plan *ret)
{
        struct compact_plan p = { .stride = l->stride, .old_size = l->file_size,
                                  .fixed_end = l->fixed_end, .tail = l->tail, .unit = l->unit };
        uint32_t k = 0, nd = 0, allocated = 0;

        /* Sized by the allocated blocks, not the BAT: a 2040 GiB disk with
         * small blocks has millions of entries, mostly unused. */
        for (uint32_t i = 0; i < l->n_objects; i++)
                allocated += l->at[i] != COMPACT_ABSENT;
        _cleanup_free_ struct slot *kept = malloc(((size_t) allocated + 1) * sizeof *kept);
        p.drops = malloc(((size_t) allocated + 1) * sizeof *p.drops);
        p.why = malloc((size_t) allocated + 1);
        if (!kept || !p.drops || !p.why) {
                compact_plan_done(&p);
                return -ENOMEM;
        }
        for (uint32_t i = 0; i < l->n_objects; i++) {
                uint8_t d = drop ? drop[i] : COMPACT_KEEP;
                if (l->at[i] == COMPACT_ABSENT) {
                        if (d) {
                                compact_plan_done(&p);
                                return -EINVAL;
                        }
                        continue;
                }
                uint64_t off = (uint64_t) l->at[i] * l->unit;
                if (d != COMPACT_KEEP) {
                        p.why[nd] = d;
                        p.drops[nd++] = i;
                } else
                        kept[k++] = (struct slot) { off, i };
        }
        p.n_drops = nd;
        p.survivors = k;
        qsort(kept, k, sizeof *kept, cmp_slot);

        /* Candidates for the k final places: the survivors' own slots and
         * the free positions.  Only free positions below the k-th lowest
         * candidate matter, and there are at most k of them. */
        _cleanup_free_ uint64_t *spare = NULL;
        uint32_t nf = 0;
        int r = free_positions(l, kept, k, &spare, &nf, k);
        if (r < 0) {
                compact_plan_done(&p);
                return r;
        }
        qsort(spare, nf, sizeof *spare, cmp_u64);
        p.moves = malloc(((size_t) k + 1) * sizeof *p.moves);
        if (!p.moves) {
                compact_plan_done(&p);
                return -ENOMEM;
        }

        /* Merge the two sorted lists to find the k lowest places; every free
         * place among them receives a survivor from above them, highest
         * survivor first. */
        uint32_t si = 0, fi = 0, taken = 0, holes = 0;
        uint64_t last_end = 0;
        while (taken < k) {
                bool take_free = fi < nf && (si >= k || spare[fi] < kept[si].off);
                uint64_t at = take_free ? spare[fi++] : kept[si++].off;
                if (take_free)
                        holes++;
                last_end = at + l->stride;
                taken++;
        }
        /* Survivors kept[si..k) are above: they move into spare[0..holes). */
        for (uint32_t h = 0; h < holes; h++) {
                const struct slot *src = &kept[k - 1 - h];
                p.moves[p.n_moves++] = (struct compact_move) { src->block, src->off, spare[h] };
        }

        uint64_t end = l->fixed_end;
        if (k > 0)
                end = MAX(end, last_end);
        p.final_size = end + l->tail;
        *ret = p;
        return 0;
}

int compact_layout_from_image(struct vc_image *img, struct compact_layout *l)
{
        const struct vc_compact_ops *ops = vc_image_format(img)->compact;

        if (!ops)
                return -EOPNOTSUPP;
        return ops->layout(img, true, l);
}

uint64_t compact_final_size(struct vc_image *img, const uint8_t *drop)
{
        const struct vc_compact_ops *ops = vc_image_format(img)->compact;
        struct compact_layout l;
        struct compact_plan p = {};
        uint64_t size;

        if (!ops || vc_image_n_blocks(img) == 0)
                return vc_image_file_size(img);
        /* Planning only reads the table: the image's own will do. */
        if (ops->layout(img, false, &l) < 0)
                return 0;
        size = compact_plan_build(&l, drop, &p) < 0 ? 0 : p.final_size;
        compact_plan_done(&p);
        return size;
}
