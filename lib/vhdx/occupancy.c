/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Which MiB of the file is taken, one bit each: the header section, the
 * log, every region, every payload block with an offset (soft anchors
 * included) and every sector-bitmap block.  Everything in a VHDX lies on
 * MiB boundaries, so two objects overlap exactly when they share a bit;
 * this catches what qemu-img check misses (a block on another block).
 * The map is sized by the file (8 MiB of bits for a 64 TiB file), and the
 * callers check every object lies inside the file before taking it.
 */
#include <errno.h>
#include <stdlib.h>

#include "vhdx.h"

int vhdx_occupancy_init(struct vhdx_occupancy *o, uint64_t file_size)
{
        o->n_mib = DIV_ROUND_UP(file_size, VHDX_MiB);
        o->n_fixed = 0;
        o->bits = calloc(DIV_ROUND_UP(o->n_mib, 8) + 1, 1);
        return o->bits ? 0 : -ENOMEM;
}

void vhdx_occupancy_done(struct vhdx_occupancy *o)
{
        free(o->bits);
        o->bits = NULL;
}

static const char *owner(const struct vhdx_occupancy *o, uint64_t mib)
{
        for (unsigned i = 0; i < o->n_fixed; i++)
                if (mib * VHDX_MiB >= o->fixed[i].start && mib * VHDX_MiB - o->fixed[i].start < o->fixed[i].len)
                        return o->fixed[i].name;
        return "another block";
}

int vhdx_occupancy_take(struct vhdx_occupancy *o, uint64_t start, uint64_t len, const char **ret_other)
{
        uint64_t first = start / VHDX_MiB, n = DIV_ROUND_UP(len, VHDX_MiB);
        const char *hit = NULL;

        for (uint64_t m = first; m < first + n && m < o->n_mib; m++) {
                uint8_t bit = (uint8_t) (1u << (m % 8));
                if (o->bits[m / 8] & bit) {
                        if (!hit)
                                hit = owner(o, m);
                } else
                        o->bits[m / 8] |= bit;
        }
        if (!hit)
                return 0;
        if (ret_other)
                *ret_other = hit;
        return 1;
}

int vhdx_occupancy_take_named(struct vhdx_occupancy *o, const char *name, uint64_t start, uint64_t len,
                              const char **ret_other)
{
        int r = vhdx_occupancy_take(o, start, len, ret_other);

        if (o->n_fixed < ELEMENTSOF(o->fixed))
                o->fixed[o->n_fixed++] = (typeof(o->fixed[0])) { name, start, len };
        return r;
}
