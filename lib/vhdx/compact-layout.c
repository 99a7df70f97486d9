/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A VHDX as the compaction planner sees it (image/compact-ops.h; VHDX.md
 * section 2.5), in units of 1 MiB, every place on a MiB boundary:
 *
 *   fixed     [0, 1 MiB) the header section (fixed_end), then, anywhere
 *             in the file, the log and every region of the region table
 *             (BAT, metadata, and any region we do not know), each widened
 *             to whole MiBs: nothing is placed on them, and the file never
 *             ends before them.
 *   objects   [0, n_blocks): the payload blocks, BlockSize each (class 0),
 *             present when FULLY_PRESENT or PARTIALLY_PRESENT; then, in a
 *             differencing disk, one 1 MiB sector-bitmap block per chunk
 *             (class 1), present when its SB entry says so.
 *
 * Soft anchors (UNDEFINED or UNMAPPED entries that keep an offset) are
 * neither: the commits' first step (compact-commit.c, begin) sets their
 * offset to 0 through the log, before anything is copied, so their space
 * is free for the plan (their state, and so what they read, stays).
 *
 * The sector-bitmap blocks are never dropped by the core; own_drops marks
 * the one of a chunk that, after the blocks' drops, has no
 * PARTIALLY_PRESENT block left (VHDX.md 2.4: only then may it go).
 *
 * The arrays (places, classes, fixed extents) are the image's, made once
 * from the BAT and region table as opened, and freed with the image.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../util/log.h"
#include "../util/macro.h"
#include "image-private.h"
#include "vhdx-compact.h"

struct vhdx_compact_state {
        uint32_t n_objects;
        uint32_t *at;
        uint8_t *cls;
        struct compact_extent *fixed;
        uint32_t n_fixed;
};

void vhdx_compact_state_free(struct vhdx_compact_state *s)
{
        if (!s)
                return;
        free(s->at);
        free(s->cls);
        free(s->fixed);
        free(s);
}

static uint32_t n_chunks(const struct vhdx_image *img)
{
        const struct vhdx_bat *b = &img->bat;

        return img->meta.has_parent ? (uint32_t) ((b->data_blocks + b->chunk_ratio - 1) / b->chunk_ratio) : 0;
}

uint64_t vhdx_compact_object_index(const struct vhdx_image *img, uint32_t i)
{
        const struct vhdx_bat *b = &img->bat;

        if (i < b->data_blocks)
                return vhdx_bat_index(b, i);
        return (i - b->data_blocks) * (b->chunk_ratio + 1) + b->chunk_ratio;
}

/* Where object i lies in MiB, or COMPACT_ABSENT. */
static uint32_t place_of(const struct vhdx_image *img, uint32_t i)
{
        const struct vhdx_bat *b = &img->bat;
        uint64_t idx = vhdx_compact_object_index(img, i), e;
        unsigned st;

        if (idx >= b->n_entries)
                return COMPACT_ABSENT;
        e = b->e[idx];
        st = e & VHDX_BAT_STATE_MASK;
        if (i < b->data_blocks ? st != VHDX_PAYLOAD_FULLY_PRESENT && st != VHDX_PAYLOAD_PARTIALLY_PRESENT
                               : st != VHDX_SB_PRESENT)
                return COMPACT_ABSENT;
        return (uint32_t) ((e & VHDX_BAT_OFFSET_MASK) / VHDX_MiB);
}

/* [off, off + len) widened to whole MiBs, the end kept inside the file. */
static void add_fixed(struct vhdx_compact_state *s, uint64_t file_size, uint64_t off, uint64_t len)
{
        uint64_t lo = off / VHDX_MiB * VHDX_MiB, hi = MIN(ROUND_UP(off + len, (uint64_t) VHDX_MiB), file_size);

        if (len == 0 || hi <= lo)
                return;
        s->fixed[s->n_fixed++] = (struct compact_extent) { lo, hi - lo };
}

static int state_make(struct vhdx_image *img)
{
        const struct vhdx_bat *b = &img->bat;
        const struct vhdx_header *h = &img->headers.h[img->headers.current];
        const uint64_t size = img->file_size;
        struct vhdx_compact_state *s;

        if (img->compact)
                return 0;
        if (b->data_blocks > UINT32_MAX / 2)
                return -EFBIG;
        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->n_objects = (uint32_t) b->data_blocks + n_chunks(img);
        s->at = malloc(((size_t) s->n_objects + 1) * sizeof *s->at);
        s->cls = malloc((size_t) s->n_objects + 1);
        s->fixed = calloc((size_t) img->regions.n + 1, sizeof *s->fixed);
        if (!s->at || !s->cls || !s->fixed) {
                vhdx_compact_state_free(s);
                return -ENOMEM;
        }
        for (uint32_t i = 0; i < s->n_objects; i++) {
                s->at[i] = place_of(img, i);
                s->cls[i] = i < b->data_blocks ? VHDX_CLASS_BLOCK : VHDX_CLASS_SB;
        }
        add_fixed(s, size, h->log_offset, h->log_length);
        for (uint32_t k = 0; k < img->regions.n; k++)
                add_fixed(s, size, img->regions.v[k].offset, img->regions.v[k].length);
        img->compact = s;
        return 0;
}

int vhdx_compact_layout(struct vc_image *gimg, bool copy, struct compact_layout *ret)
{
        struct vhdx_image *img = vc_image_priv(gimg);
        struct vhdx_compact_state *s;
        uint32_t *at;
        int r;

        r = state_make(img);
        if (r < 0)
                return r;
        s = img->compact;
        at = s->at;
        if (copy) {
                at = malloc(((size_t) s->n_objects + 1) * sizeof *at);
                if (!at)
                        return -ENOMEM;
                memcpy(at, s->at, (size_t) s->n_objects * sizeof *at);
        }
        *ret = (struct compact_layout) {
                .n_objects = s->n_objects,
                .at = at,
                .fixed_end = VHDX_HEADER_SECTION_SIZE,
                .file_size = img->file_size,
                .align = VHDX_MiB,
                .unit = VHDX_MiB,
                .tail = 0,
                .n_classes = 2,
                .class_size = { img->meta.block_size, VHDX_MiB },
                .cls = s->cls,
                .fixed = s->fixed,
                .n_fixed = s->n_fixed,
        };
        return 0;
}

void vhdx_compact_own_drops(struct vc_image *gimg, const struct compact_layout *l, uint8_t *drop)
{
        const struct vhdx_image *img = vc_image_priv(gimg);
        const struct vhdx_bat *b = &img->bat;
        const uint32_t n = (uint32_t) b->data_blocks;

        for (uint32_t c = 0; n + c < l->n_objects; c++) {
                bool needed = false;

                if (l->at[n + c] == COMPACT_ABSENT || drop[n + c] != COMPACT_KEEP)
                        continue;
                for (uint64_t k = (uint64_t) c * b->chunk_ratio; k < MIN((uint64_t) (c + 1) * b->chunk_ratio, n) && !needed; k++)
                        needed = (b->e[vhdx_bat_index(b, k)] & VHDX_BAT_STATE_MASK) == VHDX_PAYLOAD_PARTIALLY_PRESENT &&
                                 drop[k] == COMPACT_KEEP;
                if (!needed)
                        drop[n + c] = COMPACT_DROP_ZERO;
        }
}

/*
 * Finishing on open (lib/image/finish-tail.c): VHDX.md 3.4's step 12 end,
 * the MiB-aligned end of the header section, the log, every region (known
 * or not), every present payload and sector-bitmap block, and every soft
 * anchor (any BAT entry that keeps an offset, whatever its state: such an
 * offset still names space, which only a compaction's begin gives up).
 * A file whose size is no whole number of MiBs was not left so by a
 * compaction (every place and end is MiB-aligned, and so is the cut): its
 * tail is someone else's, and it is left (-EOPNOTSUPP); so is a file
 * whose headers still name a log, and one with no block in it (below).
 */
int vhdx_compact_tail_end(struct vc_image *gimg, uint64_t *ret_end)
{
        struct vhdx_image *img = vc_image_priv(gimg);
        const struct vhdx_bat *b = &img->bat;
        const struct vhdx_headers *hs = &img->headers;
        struct compact_layout l;
        bool used = false;
        uint64_t end;
        int r;

        if (img->file_size % VHDX_MiB) {
                vc_debug("%s: %" PRIu64 " bytes, not a whole number of MiB: its tail is left as it is",
                         img->path, img->file_size);
                return -EOPNOTSUPP;
        }
        if (img->replayed || !vhdx_guid_is_zero(hs->h[hs->current].log_guid) ||
            (hs->valid[!hs->current] && !vhdx_guid_is_zero(hs->h[!hs->current].log_guid)))
                return -EBUSY;
        r = vhdx_compact_layout(gimg, false, &l);
        if (r < 0)
                return r;
        end = l.fixed_end;
        for (uint32_t i = 0; i < l.n_fixed; i++)
                end = MAX(end, l.fixed[i].off + l.fixed[i].len);
        for (uint32_t i = 0; i < l.n_objects; i++)
                if (l.at[i] != COMPACT_ABSENT) {
                        end = MAX(end, (uint64_t) l.at[i] * VHDX_MiB + compact_object_size(&l, i));
                        used = true;
                }
        for (uint64_t idx = 0; idx < b->n_entries; idx++) {
                uint64_t off = b->e[idx] & VHDX_BAT_OFFSET_MASK;
                bool sb = idx % (b->chunk_ratio + 1) == b->chunk_ratio;
                if (off) {
                        end = MAX(end, off + (sb ? (uint64_t) VHDX_MiB : (uint64_t) img->meta.block_size));
                        used = true;
                }
        }
        /* A file with no block in it is as its creator laid it out
         * (qemu makes a new VHDX 8 MiB long, its tables ending at 4):
         * left.  (A run that dropped every block is finished by the next
         * compaction instead.) */
        *ret_end = used ? ROUND_UP(end, (uint64_t) VHDX_MiB) : img->file_size;
        return 0;
}
