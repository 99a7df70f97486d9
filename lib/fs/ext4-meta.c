/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The blocks of an ext2/3/4 volume that are in use whatever any bitmap
 * says (FS-AWARE.md §1.8 step 8): block 0, every group's base metadata
 * (superblock and descriptor backups, reserved GDT blocks), every group's
 * block bitmap, inode bitmap and inode table wherever flex_bg put them,
 * and the internal journal's blocks.  A BLOCK_UNINIT group's bitmap is
 * rebuilt from this set (ext4-bitmap.c), a superset of what the kernel's
 * ext4_init_block_bitmap marks.
 */
#include <errno.h>
#include <stdlib.h>

#include "../util/macro.h"
#include "ext4-internal.h"

int ext4_extent_add(struct ext4_extent_set *s, uint64_t start, uint64_t len)
{
        if (len == 0)
                return 0;
        if (s->n == s->cap) {
                size_t cap = s->cap ? s->cap * 2 : 64;
                void *p = reallocarray(s->v, cap, sizeof *s->v);
                if (!p)
                        return -ENOMEM;
                s->v = p;
                s->cap = cap;
        }
        s->v[s->n].start = start;
        s->v[s->n].len = len;
        s->n++;
        return 0;
}

static int cmp_extent(const void *a, const void *b)
{
        const struct { uint64_t start, len; } *x = a, *y = b;

        return x->start < y->start ? -1 : x->start > y->start;
}

void ext4_extent_normalize(struct ext4_extent_set *s)
{
        size_t w = 0;

        if (s->n == 0)
                return;
        qsort(s->v, s->n, sizeof *s->v, cmp_extent);
        for (size_t i = 1; i < s->n; i++) {
                uint64_t end = s->v[w].start + s->v[w].len;
                if (s->v[i].start <= end) {
                        uint64_t e2 = s->v[i].start + s->v[i].len;
                        if (e2 > end)
                                s->v[w].len = e2 - s->v[w].start;
                } else
                        s->v[++w] = s->v[i];
        }
        s->n = w + 1;
}

void ext4_extent_done(struct ext4_extent_set *s)
{
        free(s->v);
        *s = (struct ext4_extent_set) {};
}

int ext4_meta_build(struct ext4_volume *v)
{
        const struct ext4_sb *sb = &v->sb;
        int r;

        /* Block 0: the boot area (outside every bitmap with 1 KiB blocks),
         * or the block holding the superblock. */
        r = ext4_extent_add(&v->used, 0, 1);
        if (r < 0)
                return r;
        for (uint32_t g = 0; g < sb->groups; g++) {
                const struct ext4_desc *d = &v->desc[g];

                r = ext4_group_base_meta(sb, g, &v->used);
                if (r < 0)
                        return r;
                r = ext4_extent_add(&v->used, d->block_bitmap, 1);
                if (r < 0)
                        return r;
                r = ext4_extent_add(&v->used, d->inode_bitmap, 1);
                if (r < 0)
                        return r;
                r = ext4_extent_add(&v->used, d->inode_table, sb->itable_blocks);
                if (r < 0)
                        return r;
        }
        r = ext4_journal_extents(v, &v->used);
        if (r < 0)
                return r;
        ext4_extent_normalize(&v->used);
        return 0;
}
