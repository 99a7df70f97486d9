/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A VHD as the compaction planner sees it (image/compact-ops.h): its
 * blocks are the movable objects, each a sector bitmap plus data at the
 * sector its BAT entry names; the footer copy, dynamic header, BAT and
 * parent-locator space are the fixed regions; the footer is the tail.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../image/compact-ops.h"
#include "../image/image.h"
#include "../util/macro.h"
#include "image-internal.h"
#include "vhd-compact.h"

_Static_assert(VHD_BAT_UNUSED == COMPACT_ABSENT, "an unused BAT entry is an absent object");

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

/* End of the header, BAT and parent-locator space of img (a locator's data
 * space in sectors or in bytes, told from its entry alone: we never reuse
 * bytes we cannot prove free).  A function of the header alone, not of
 * which blocks are allocated, so that a run after any interruption counts
 * the same space as free as the run it finishes. */
static uint64_t metadata_end(const struct vhd_image *img)
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

int vhd_compact_layout(struct vc_image *gimg, bool copy, struct compact_layout *l)
{
        const struct vhd_image *img = vc_image_priv(gimg);
        const uint32_t *bat = vhd_image_bat_table(img);
        uint32_t n = vhd_image_n_blocks(img);
        uint64_t skew = vhd_image_block_stride(img) - vhd_image_block_size(img);
        uint32_t aligned = 0, allocated = 0;
        uint32_t *at = (uint32_t *) bat;

        if (copy) {
                at = malloc(((size_t) n + 1) * sizeof *at);
                if (!at)
                        return -ENOMEM;
                if (n)
                        memcpy(at, bat, (size_t) n * sizeof *at);
        }
        for (uint32_t i = 0; i < n; i++)
                if (bat[i] != VHD_BAT_UNUSED) {
                        allocated++;
                        aligned += ((uint64_t) bat[i] * VHD_SECTOR_SIZE + skew) % 4096 == 0;
                }
        *l = (struct compact_layout) {
                .n_objects = n,
                .at = at,
                .stride = vhd_image_block_stride(img),
                .fixed_end = metadata_end(img),
                .file_size = vhd_image_file_size(img),
                .unit = VHD_SECTOR_SIZE,
                .tail = VHD_FOOTER_SIZE,
        };
        /* Only Windows makes aligned images on purpose; elsewhere a few
         * blocks may be aligned by chance, and packing them tight is better. */
        if (!strcmp(vhd_image_footer(img)->creator_app, "win ") && allocated > 0 && aligned == allocated) {
                l->align = 4096;
                l->data_skew = skew;
        }
        return 0;
}

/*
 * Finishing on open (lib/image/finish-tail.c): the file may end right
 * after the metadata (header, BAT, parent-locator space counted as
 * generously as above) and the last allocated block, plus the footer.
 * Open validated that every structure lies before the footer, none over
 * another, so nothing else is referenced past that end; a fixed disk has
 * nothing to cut, and a file with no block allocated is left (below).
 * The same end a compaction that drops nothing plans.
 */
int vhd_compact_tail_end(struct vc_image *gimg, uint64_t *ret_end)
{
        const struct vhd_image *img = vc_image_priv(gimg);
        struct compact_layout l;
        bool used = false;
        uint64_t end;
        int r;

        if (!vhd_image_dyn_header(img)) {
                *ret_end = vhd_image_file_size(img);
                return 0;
        }
        r = vhd_compact_layout(gimg, false, &l);
        if (r < 0)
                return r;
        end = l.fixed_end;
        for (uint32_t i = 0; i < l.n_objects; i++)
                if (l.at[i] != VHD_BAT_UNUSED) {
                        end = MAX(end, (uint64_t) l.at[i] * VHD_SECTOR_SIZE + l.stride);
                        used = true;
                }
        end = ROUND_UP(end, (uint64_t) VHD_SECTOR_SIZE) + VHD_FOOTER_SIZE;
        /* A file with no block in it is as its creator laid it out (space
         * after the BAT that some leave for alignment): left, as VHDX's. */
        *ret_end = used ? MIN(end, l.file_size) : l.file_size;
        return 0;
}
