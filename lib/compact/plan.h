/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The compaction planner (DESIGN step 5): a pure function from the BAT and
 * the set of blocks to drop to the list of moves and the exact final size.
 *
 * Survivors keep their slot when it lies below the new end; survivors above
 * it move, highest first, into the lowest free places: space past the
 * metadata (header, BAT and parent-locator space, counted generously) that
 * no surviving block occupies -- the slots of dropped blocks, and gaps an
 * interrupted run left.  The k survivors end in the k lowest places; the
 * file ends at the furthest of the metadata and the last of them, plus the
 * footer.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vhd/vhd.h"

struct compact_move {
        uint32_t block;         /* BAT index */
        uint64_t from, to;      /* file offsets of the block's sector bitmap */
};

struct compact_plan {
        uint64_t stride;        /* bytes per block slot */
        uint64_t old_size, final_size;
        uint64_t metadata_end;
        uint32_t n_drops;
        uint32_t *drops;        /* BAT indexes of dropped blocks */
        uint32_t n_moves;
        struct compact_move *moves;     /* highest source first */
        uint32_t survivors;
};

/* Inputs of the pure planner. bat[i] is a sector number or VHD_BAT_UNUSED. */
struct compact_layout {
        uint32_t n_entries;
        const uint32_t *bat;
        uint64_t stride;
        uint64_t metadata_end;  /* no block slot starts below this */
        uint64_t file_size;
        /* Windows' "4 KiB-aligned" images keep every block's data area on
         * a 4 KiB boundary; such a layout stays so when align is 4096:
         * places are then only positions p with (p + data_skew) % align
         * == 0 (data_skew: the sector bitmap's size).  0: any sector. */
        uint64_t align, data_skew;
};

/* drop[i] (may be NULL: nothing dropped) marks allocated blocks to drop.
 * Returns 0 or -ENOMEM / -EINVAL (a drop of an unallocated block). */
int compact_plan_build(const struct compact_layout *l, const bool *drop, struct compact_plan *ret);
void compact_plan_done(struct compact_plan *p);

/* End of the header, BAT and parent-locator space of img (a locator's data
 * space in sectors or in bytes, told from its entry alone: we never reuse
 * bytes we cannot prove free).  A function of the header alone, not of
 * which blocks are allocated, so that a run after any interruption counts
 * the same space as free as the run it finishes. */
uint64_t compact_metadata_end(struct vhd_image *img);
/* Fills l from img; l->bat must be freed by the caller. */
int compact_layout_from_image(struct vhd_image *img, struct compact_layout *l);
/* The final size of img after dropping drop[] (0 on allocation failure). */
struct vc_image;
uint64_t compact_final_size(struct vc_image *img, const bool *drop);
