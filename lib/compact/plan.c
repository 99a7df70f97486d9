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
        free(p->moves);
        *p = (struct compact_plan) {};
}

/*
 * Free positions: every byte from the end of the metadata to the footer
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
        uint64_t footer = l->file_size - VHD_FOOTER_SIZE, *v;
        uint64_t lo = ROUND_UP(l->metadata_end, VHD_SECTOR_SIZE);
        uint32_t n = 0;

        v = malloc(((size_t) want + 1) * sizeof *v);
        if (!v)
                return -ENOMEM;
        for (uint32_t i = 0; i <= k && n < want; i++) {
                uint64_t hi = i < k ? kept[i].off : footer;
                for (uint64_t p = place_from(l, lo); p + l->stride <= hi && n < want; p = place_from(l, p + l->stride))
                        v[n++] = p;
                if (i < k)
                        lo = MAX(lo, kept[i].off + l->stride);
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

int compact_plan_build(const struct compact_layout *l, const bool *drop, struct compact_plan *ret)
{
        struct compact_plan p = { .stride = l->stride, .old_size = l->file_size,
                                  .metadata_end = l->metadata_end };
        uint32_t k = 0, nd = 0, allocated = 0;

        /* Sized by the allocated blocks, not the BAT: a 2040 GiB disk with
         * small blocks has millions of entries, mostly unused. */
        for (uint32_t i = 0; i < l->n_entries; i++)
                allocated += l->bat[i] != VHD_BAT_UNUSED;
        _cleanup_free_ struct slot *kept = malloc(((size_t) allocated + 1) * sizeof *kept);
        p.drops = malloc(((size_t) allocated + 1) * sizeof *p.drops);
        if (!kept || !p.drops) {
                compact_plan_done(&p);
                return -ENOMEM;
        }
        for (uint32_t i = 0; i < l->n_entries; i++) {
                bool d = drop && drop[i];
                if (l->bat[i] == VHD_BAT_UNUSED) {
                        if (d) {
                                compact_plan_done(&p);
                                return -EINVAL;
                        }
                        continue;
                }
                uint64_t off = (uint64_t) l->bat[i] * VHD_SECTOR_SIZE;
                if (d)
                        p.drops[nd++] = i;
                else
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

        uint64_t end = l->metadata_end;
        if (k > 0)
                end = MAX(end, last_end);
        p.final_size = end + VHD_FOOTER_SIZE;
        *ret = p;
        return 0;
}

/*
 * Bytes a parent locator may take from its data offset.  Data space is a
 * count of sectors to the spec and of bytes to Windows (and to qemu and
 * libvhd, which follow it).  The unit is told from the entry alone: less
 * than a sector's worth, or less than the payload, cannot be bytes, so it
 * is sectors (and counted generously so); otherwise bytes.  Nothing else
 * may decide it: bounding a sector reading by the next allocated block
 * made the end depend on which blocks are allocated, so that once a run
 * released the block after the locators, a run after it no longer counted
 * that slot as free and ended a block larger than the run it finished.
 */
static uint64_t locator_space(const struct vhd_locator *l)
{
        uint64_t space = l->data_space;

        if (space < VHD_SECTOR_SIZE || space < l->data_length)
                space *= VHD_SECTOR_SIZE;
        return MAX(space, (uint64_t) l->data_length);
}

uint64_t compact_metadata_end(struct vhd_image *img)
{
        const struct vhd_dyn_header *h = vhd_image_dyn_header(img);
        uint64_t footer_off = vhd_image_file_size(img) - VHD_FOOTER_SIZE;
        uint64_t end = VHD_FOOTER_SIZE;

        if (!h)
                return footer_off;
        end = MAX(end, vhd_image_footer(img)->data_offset + VHD_DYN_SIZE);
        end = MAX(end, h->table_offset + ROUND_UP((uint64_t) h->max_entries * 4, VHD_SECTOR_SIZE));
        for (unsigned i = 0; i < VHD_DYN_N_LOCATORS; i++) {
                const struct vhd_locator *l = &h->locators[i];
                if (l->code == VHD_LOC_NONE)
                        continue;
                end = MAX(end, MIN(l->data_offset + locator_space(l), footer_off));
        }
        return end;
}

/* Everything of l but a table of its own: l->bat is the image's. */
static void layout_describe(struct vhd_image *img, struct compact_layout *l)
{
        const uint32_t *bat = vhd_image_bat_table(img);
        uint32_t n = vhd_image_n_blocks(img);
        uint64_t skew = vhd_image_block_stride(img) - vhd_image_block_size(img);
        uint32_t aligned = 0, allocated = 0;

        for (uint32_t i = 0; i < n; i++)
                if (bat[i] != VHD_BAT_UNUSED) {
                        allocated++;
                        aligned += ((uint64_t) bat[i] * VHD_SECTOR_SIZE + skew) % 4096 == 0;
                }
        *l = (struct compact_layout) {
                .n_entries = n,
                .bat = bat,
                .stride = vhd_image_block_stride(img),
                .metadata_end = compact_metadata_end(img),
                .file_size = vhd_image_file_size(img),
        };
        /* Only Windows makes aligned images on purpose; elsewhere a few
         * blocks may be aligned by chance, and packing them tight is better. */
        if (!strcmp(vhd_image_footer(img)->creator_app, "win ") && allocated > 0 && aligned == allocated) {
                l->align = 4096;
                l->data_skew = skew;
        }
}

int compact_layout_from_image(struct vhd_image *img, struct compact_layout *l)
{
        uint32_t n = vhd_image_n_blocks(img);
        uint32_t *bat = malloc(((size_t) n + 1) * sizeof *bat);

        if (!bat)
                return -ENOMEM;
        layout_describe(img, l);
        if (n)
                memcpy(bat, l->bat, (size_t) n * sizeof *bat);
        l->bat = bat;
        return 0;
}

uint64_t compact_final_size(struct vc_image *gimg, const bool *drop)
{
        struct vhd_image *img = vc_image_priv(gimg);
        struct compact_layout l;
        struct compact_plan p = {};
        uint64_t size;

        if (!vhd_image_dyn_header(img))
                return vhd_image_file_size(img);
        /* Planning only reads the table: the image's own will do. */
        layout_describe(img, &l);
        size = compact_plan_build(&l, drop, &p) < 0 ? 0 : p.final_size;
        compact_plan_done(&p);
        return size;
}
