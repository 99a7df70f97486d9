/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>

#include "../util/macro.h"
#include "plan.h"

struct slot {
        uint64_t off;
        uint32_t block;
        bool drop;
};

static int cmp_slot(const void *a, const void *b)
{
        const struct slot *x = a, *y = b;
        return x->off < y->off ? -1 : x->off > y->off;
}

void compact_plan_done(struct compact_plan *p)
{
        if (!p)
                return;
        free(p->drops);
        free(p->moves);
        *p = (struct compact_plan) {};
}

int compact_plan_build(const struct compact_layout *l, const bool *drop, struct compact_plan *ret)
{
        struct compact_plan p = { .stride = l->stride, .old_size = l->file_size,
                                  .metadata_end = l->metadata_end };
        uint32_t n = 0, k = 0;

        _cleanup_free_ struct slot *s = malloc(((size_t) l->n_entries + 1) * sizeof *s);
        if (!s)
                return -ENOMEM;
        for (uint32_t i = 0; i < l->n_entries; i++) {
                bool d = drop && drop[i];
                if (l->bat[i] == VHD_BAT_UNUSED) {
                        if (d)
                                return -EINVAL;
                        continue;
                }
                s[n++] = (struct slot) { (uint64_t) l->bat[i] * VHD_SECTOR_SIZE, i, d };
                k += !d;
        }
        qsort(s, n, sizeof *s, cmp_slot);

        p.survivors = k;
        p.drops = malloc(((size_t) (n - k) + 1) * sizeof *p.drops);
        p.moves = malloc(((size_t) k + 1) * sizeof *p.moves);
        if (!p.drops || !p.moves) {
                compact_plan_done(&p);
                return -ENOMEM;
        }
        for (uint32_t i = 0; i < n; i++)
                if (s[i].drop)
                        p.drops[p.n_drops++] = s[i].block;

        /* Holes: dropped slots among the k lowest, ascending.  Movers:
         * survivors in slots k.., taken from the top.  They are equal in
         * number, since the k lowest slots hold k minus (holes) survivors. */
        uint32_t hole = 0, top = n;
        while (true) {
                while (hole < k && !s[hole].drop)
                        hole++;
                if (hole >= k)
                        break;
                do
                        top--;
                while (s[top].drop);
                p.moves[p.n_moves++] = (struct compact_move) { s[top].block, s[top].off, s[hole].off };
                hole++;
        }

        uint64_t end = l->metadata_end;
        if (k > 0)
                end = MAX(end, s[k - 1].off + l->stride);
        p.final_size = end + VHD_FOOTER_SIZE;
        *ret = p;
        return 0;
}

/* Start of the first block slot at or after off, or limit. */
static uint64_t next_slot(struct vhd_image *img, uint64_t off, uint64_t limit)
{
        uint64_t best = limit;

        for (uint32_t i = 0; i < vhd_image_n_blocks(img); i++) {
                uint32_t e = vhd_image_bat_entry(img, i);
                uint64_t st = (uint64_t) e * VHD_SECTOR_SIZE;
                if (e != VHD_BAT_UNUSED && st >= off && st < best)
                        best = st;
        }
        return best;
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
                /* Data space is bytes to some writers, sectors to the spec:
                 * take the larger reading, up to the next block or footer. */
                uint64_t used = l->data_offset + MAX((uint64_t) l->data_length, l->data_space);
                uint64_t spec = l->data_offset + (uint64_t) l->data_space * VHD_SECTOR_SIZE;
                end = MAX(end, MIN(used, footer_off));
                end = MAX(end, MIN(spec, next_slot(img, l->data_offset, footer_off)));
        }
        return end;
}

int compact_layout_from_image(struct vhd_image *img, struct compact_layout *l)
{
        uint32_t n = vhd_image_n_blocks(img);
        uint32_t *bat = malloc(((size_t) n + 1) * sizeof *bat);

        if (!bat)
                return -ENOMEM;
        for (uint32_t i = 0; i < n; i++)
                bat[i] = vhd_image_bat_entry(img, i);
        *l = (struct compact_layout) {
                .n_entries = n,
                .bat = bat,
                .stride = vhd_image_block_stride(img),
                .metadata_end = compact_metadata_end(img),
                .file_size = vhd_image_file_size(img),
        };
        return 0;
}

uint64_t compact_final_size(struct vhd_image *img, const bool *drop)
{
        struct compact_layout l;
        struct compact_plan p = {};
        uint64_t size;

        if (!vhd_image_dyn_header(img))
                return vhd_image_file_size(img);
        if (compact_layout_from_image(img, &l) < 0)
                return 0;
        size = compact_plan_build(&l, drop, &p) < 0 ? 0 : p.final_size;
        compact_plan_done(&p);
        free((void *) l.bat);
        return size;
}
