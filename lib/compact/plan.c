/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The planning rule.
 *
 * Free space: every byte from fixed_end to the tail that no fixed extent
 * and no surviving object occupies (the file is validated: nothing else
 * lives there).  That includes the places of objects dropped now and space
 * an interrupted earlier run left.  A move's source stays occupied: it is
 * only given back after the run (or, in rounds, after the map points away
 * from it durably), so no copy ever lands on a source, its own included.
 * A place is a multiple of unit and, in an aligned layout, the first
 * aligned position from where the search starts; gaps are only ever taken
 * from their start.  The file ends at the furthest of fixed_end, the fixed
 * extents and the survivors' final places, plus the tail.
 *
 * One size (VHD; the rule it always had).  The survivors, highest first,
 * each go to the lowest free place if that is below them; the first that
 * finds none stays, and so do all below it.  So the k survivors end in the
 * k lowest places of the file (their own and the free ones, carved from
 * the start of each gap one object apart), the highest survivor in the
 * lowest hole: exact, and a function of the file alone, so a run after
 * any interruption plans the same end as the run it finishes.  (With fixed
 * extents past the objects, a move whose source lies wholly below the end
 * they set would not shorten the file: it is left out, its object stays.)
 *
 * Several sizes (VHDX: payload blocks of BlockSize, 1 MiB sector-bitmap
 * blocks).  The end E is searched for: by bisection, the lowest E at
 * which every survivor reaching past E finds a free place ending by E,
 * placing them largest class first, highest first, each in the lowest
 * place that fits (first fit, decreasing).  Only survivors past E move, so
 * every move shortens the file, and E never exceeds the end without
 * moving.  With two sizes, each a whole number of units, the smaller one
 * unit, and no alignment coarser than the unit, as in VHDX (unit,
 * alignment and sector-bitmap block all 1 MiB), first fit decreasing
 * packs whenever any packing does (a gap of g units takes g / B large
 * objects wherever they go, and the rest takes small ones), so E is the
 * lowest end any run can reach without writing over a source.  Otherwise
 * (a third size, a coarser alignment) it is a heuristic: it may miss a
 * packing a search would find.  A layout whose objects
 * straddle the new end frees space below it when it is done, so a second
 * run may end lower; a run after an interruption that repointed some
 * moves plans from that freed space too (never ending later than the old
 * size).  Time O(k log k) for the one size; with several, O(c k) per
 * probe and up to 64 probes, for k survivors and c classes.  Memory: a
 * few words per survivor.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../util/macro.h"
#include "../util/overflow.h"
#include "../image/image.h"
#include "plan.h"

struct slot {
        uint64_t off;
        uint32_t block;
};

/* A run of free bytes [lo, hi); places are taken from its start only. */
struct gap {
        uint64_t lo, hi;
};

static int cmp_slot(const void *a, const void *b)
{
        const struct slot *x = a, *y = b;
        return x->off < y->off ? -1 : x->off > y->off;
}

static int cmp_extent(const void *a, const void *b)
{
        const struct compact_extent *x = a, *y = b;
        return x->off < y->off ? -1 : x->off > y->off;
}

static int cmp_move_desc(const void *a, const void *b)
{
        const struct compact_move *x = a, *y = b;
        return x->from > y->from ? -1 : x->from < y->from;
}

void compact_plan_done(struct compact_plan *p)
{
        if (!p)
                return;
        free(p->drops);
        free(p->why);
        free(p->moves);
        free(p->punches);
        *p = (struct compact_plan) {};
}

/* The first place at or after p: a multiple of unit and, in an aligned
 * layout, with its data on an align boundary: a function of the file
 * alone, so every gap is carved the same way by every run. */
static uint64_t place_from(const struct compact_layout *l, uint64_t p)
{
        p = ROUND_UP(p, l->unit);
        return l->align ? ROUND_UP(p + l->data_skew, l->align) - l->data_skew : p;
}

/* What a layout must be for the rule above to hold; every format's is. */
static bool layout_valid(const struct compact_layout *l)
{
        uint64_t limit = l->file_size - MIN(l->tail, l->file_size), end;

        if (l->unit == 0)
                return false;
        if (l->align && (l->align % l->unit || l->data_skew % l->unit))
                return false;
        if (!l->cls && l->stride == 0)
                return false;
        if (l->cls) {
                if (l->n_classes == 0 || l->n_classes > COMPACT_MAX_CLASSES)
                        return false;
                for (uint32_t c = 0; c < l->n_classes; c++)
                        if (l->class_size[c] == 0)
                                return false;
                for (uint32_t i = 0; i < l->n_objects; i++)
                        if (l->at[i] != COMPACT_ABSENT && l->cls[i] >= l->n_classes)
                                return false;
        }
        if (l->n_fixed && !l->fixed)
                return false;
        for (uint32_t i = 0; i < l->n_fixed; i++)
                if (ADD_OVERFLOW(l->fixed[i].off, l->fixed[i].len, &end) || end > limit)
                        return false;
        return true;
}

/* The free gaps between fixed_end and the tail, lowest first: what the
 * survivors (kept, sorted) and the fixed extents leave. */
static int free_gaps(const struct compact_layout *l, const struct slot *kept, uint32_t k,
                     struct gap **ret, uint32_t *ret_n)
{
        uint64_t limit = l->file_size - MIN(l->tail, l->file_size);
        uint64_t lo = ROUND_UP(l->fixed_end, l->unit);
        _cleanup_free_ struct compact_extent *fx = NULL;
        struct gap *v;
        uint32_t n = 0;

        if (l->n_fixed) {
                fx = malloc((size_t) l->n_fixed * sizeof *fx);
                if (!fx)
                        return -ENOMEM;
                memcpy(fx, l->fixed, (size_t) l->n_fixed * sizeof *fx);
                qsort(fx, l->n_fixed, sizeof *fx, cmp_extent);
        }
        v = malloc(((size_t) k + l->n_fixed + 1) * sizeof *v);
        if (!v)
                return -ENOMEM;
        /* Merge the two sorted lists of what is taken. */
        for (uint32_t si = 0, fi = 0; si < k || fi < l->n_fixed;) {
                bool take_fixed = fi < l->n_fixed && (si >= k || fx[fi].off < kept[si].off);
                uint64_t off = take_fixed ? fx[fi].off : kept[si].off;
                uint64_t len = take_fixed ? fx[fi++].len : compact_object_size(l, kept[si++].block);
                if (MIN(off, limit) > lo)
                        v[n++] = (struct gap) { lo, MIN(off, limit) };
                lo = MAX(lo, off + len);
        }
        if (limit > lo)
                v[n++] = (struct gap) { lo, limit };
        *ret = v;
        *ret_n = n;
        return 0;
}

/* The classes largest first (equal sizes in class order); one pseudo-class
 * -1 of stride bytes when the layout has no classes.  Returns their count. */
static uint32_t class_order(const struct compact_layout *l, int order[static COMPACT_MAX_CLASSES])
{
        bool done[COMPACT_MAX_CLASSES] = {};

        if (!l->cls) {
                order[0] = -1;
                return 1;
        }
        for (uint32_t n = 0; n < l->n_classes; n++) {
                int c = -1;
                for (uint32_t j = 0; j < l->n_classes; j++)
                        if (!done[j] && (c < 0 || l->class_size[j] > l->class_size[c]))
                                c = (int) j;
                done[c] = true;
                order[n] = c;
        }
        return l->n_classes;
}

/*
 * Places survivors, per class in `order`, highest first, each in the
 * lowest free place of gaps[] (taken as it goes) that fits it below it.
 * With end UINT64_MAX (one size): each that finds such a place moves
 * there, and the first that finds none ends its class (the lower ones
 * cannot do better: free space only shrinks and their bound is lower).
 * With an end: exactly the survivors that reach past it move, into places
 * that end by it; false when one finds none.  fin[i] is where kept[i] ends
 * up; with p, the moves are appended to p->moves.
 */
static bool place(const struct compact_layout *l, const int *order, uint32_t n_order, const struct slot *kept,
                  uint32_t k, struct gap *gaps, uint32_t n_gaps, uint64_t end, uint64_t *fin, struct compact_plan *p)
{
        bool greedy = end == UINT64_MAX;

        for (uint32_t o = 0; o < n_order; o++) {
                int c = order[o];
                uint64_t size = c < 0 ? l->stride : l->class_size[c];
                uint32_t g = 0;
                for (uint32_t i = k; i-- > 0;) {
                        if (c >= 0 && l->cls[kept[i].block] != c)
                                continue;
                        /* Within a class, place order is end order. */
                        if (!greedy && kept[i].off + size <= end)
                                break;
                        /* A gap too small now stays too small: gaps only
                         * shrink, and end is the same for every survivor. */
                        uint64_t at = 0;
                        for (; g < n_gaps; g++) {
                                at = place_from(l, gaps[g].lo);
                                uint64_t hi = MIN(gaps[g].hi, end);
                                if (at < hi && hi - at >= size)
                                        break;
                        }
                        if (g == n_gaps || at >= kept[i].off) {
                                if (!greedy)
                                        return false;
                                break;
                        }
                        gaps[g].lo = at + size;
                        fin[i] = at;
                        if (p)
                                p->moves[p->n_moves++] = (struct compact_move) { kept[i].block, kept[i].off, at, size };
                }
        }
        return true;
}

/*
 * Several sizes: the lowest end by which every survivor reaching past it
 * finds a place (place() with that end), by bisection between the fixed
 * regions' end and the end without moving, which always holds.  Each probe
 * starts from the same gaps (work is scratch of n_gaps).
 */
static uint64_t lowest_end(const struct compact_layout *l, const int *order, uint32_t n_order,
                           const struct slot *kept, uint32_t k, const struct gap *gaps, uint32_t n_gaps,
                           struct gap *work, uint64_t *fin, uint64_t lo, uint64_t hi)
{
        while (lo < hi) {
                uint64_t mid = lo + (hi - lo) / 2;
                memcpy(work, gaps, (size_t) n_gaps * sizeof *work);
                if (place(l, order, n_order, kept, k, work, n_gaps, mid, fin, NULL))
                        hi = mid;
                else
                        lo = mid + 1;
        }
        return hi;
}

int compact_plan_build(const struct compact_layout *l, const uint8_t *drop, struct compact_plan *ret)
{
        struct compact_plan p = { .stride = l->stride, .old_size = l->file_size,
                                  .fixed_end = l->fixed_end, .tail = l->tail, .unit = l->unit };
        uint32_t k = 0, nd = 0, allocated = 0;
        int r;

        if (!layout_valid(l))
                return -EINVAL;
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

        _cleanup_free_ struct gap *gaps = NULL, *work = NULL;
        _cleanup_free_ uint64_t *fin = malloc(((size_t) k + 1) * sizeof *fin);
        uint32_t n_gaps = 0;
        r = fin ? free_gaps(l, kept, k, &gaps, &n_gaps) : -ENOMEM;
        p.moves = malloc(((size_t) k + 1) * sizeof *p.moves);
        if (r == 0 && !p.moves)
                r = -ENOMEM;
        if (r < 0) {
                compact_plan_done(&p);
                return r;
        }

        int order[COMPACT_MAX_CLASSES];
        uint32_t n_order = class_order(l, order);
        uint64_t fixed = l->fixed_end, stay = 0, end;
        for (uint32_t i = 0; i < l->n_fixed; i++)
                fixed = MAX(fixed, l->fixed[i].off + l->fixed[i].len);
        for (uint32_t i = 0; i < k; i++) {
                fin[i] = kept[i].off;
                stay = MAX(stay, kept[i].off + compact_object_size(l, kept[i].block));
        }
        if (n_order == 1)
                (void) place(l, order, 1, kept, k, gaps, n_gaps, UINT64_MAX, fin, &p);
        else if (stay > fixed) {
                work = malloc(((size_t) n_gaps + 1) * sizeof *work);
                if (!work) {
                        compact_plan_done(&p);
                        return -ENOMEM;
                }
                end = lowest_end(l, order, n_order, kept, k, gaps, n_gaps, work, fin, fixed, stay);
                for (uint32_t i = 0; i < k; i++)
                        fin[i] = kept[i].off;
                (void) place(l, order, n_order, kept, k, gaps, n_gaps, end, fin, &p);
        }
        end = fixed;
        for (uint32_t i = 0; i < k; i++)
                end = MAX(end, fin[i] + compact_object_size(l, kept[i].block));

        /* Moves that would not shorten the file stay put (see the top). */
        uint32_t n = 0;
        for (uint32_t m = 0; m < p.n_moves; m++)
                if (p.moves[m].from + p.moves[m].len > end) {
                        p.bytes_moved += p.moves[m].len;
                        p.moves[n++] = p.moves[m];
                }
        p.n_moves = n;
        if (n_order > 1)
                qsort(p.moves, p.n_moves, sizeof *p.moves, cmp_move_desc);
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
        /* drop[] covers the image's blocks; objects of the format's own
         * after them (compact-ops.h) go only as its own_drops says. */
        uint32_t n = vc_image_n_blocks(img);
        _cleanup_free_ uint8_t *all = NULL;
        if (l.n_objects > n) {
                all = calloc(l.n_objects, sizeof *all);
                if (!all)
                        return 0;
                if (drop)
                        memcpy(all, drop, n);
                if (ops->own_drops)
                        ops->own_drops(img, &l, all);
                drop = all;
        }
        size = compact_plan_build(&l, drop, &p) < 0 ? 0 : p.final_size;
        compact_plan_done(&p);
        return size;
}
