/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The block-bitmap walk of an ext2/3/4 volume: for each group, its bitmap
 * read (contiguous bitmaps, as flex_bg lays them out, in one read of up to
 * 1 MiB) and its checksum verified under metadata_csum, or - for a
 * BLOCK_UNINIT group with a descriptor checksum feature - rebuilt as the
 * kernel does, never read: all free but the metadata.  The always-in-use
 * set (ext4-meta.c) is then taken out of every group, which covers the
 * metadata the rebuild must keep, and the free clusters go to the map.
 *
 * Only whole clusters below blocks_count are granted: bits past a partial
 * last group, and a partial last cluster (bigalloc), stay in use.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../util/macro.h"
#include "ext4-format.h"
#include "ext4-internal.h"

#define READ_AHEAD_BYTES (1u << 20)

struct walker {
        struct ext4_volume *v;
        struct vc_freemap *out;
        uint8_t *cache;
        uint64_t cache_first, cache_n;  /* blocks held */
        size_t used_i;                  /* first used extent that may still matter */
        uint64_t run_start, run_len;    /* pending free run, in blocks */
        uint64_t free_clusters;
};

static int flush(struct walker *w)
{
        const struct ext4_sb *sb = &w->v->sb;
        int r = 0;

        if (w->run_len)
                r = freemap_add(w->out, w->v->start + w->run_start * sb->block_size,
                                w->run_len * sb->block_size);
        w->run_len = 0;
        return r;
}

static int grant(struct walker *w, uint64_t block, uint64_t n)
{
        int r;

        if (w->run_len && w->run_start + w->run_len == block) {
                w->run_len += n;
                return 0;
        }
        r = flush(w);
        w->run_start = block;
        w->run_len = n;
        return r;
}

/* Whether blocks [b, b + n) touch the always-in-use set; b never decreases. */
static bool touches_used(struct walker *w, uint64_t b, uint64_t n)
{
        const struct ext4_extent_set *u = &w->v->used;

        while (w->used_i < u->n && u->v[w->used_i].start + u->v[w->used_i].len <= b)
                w->used_i++;
        return w->used_i < u->n && u->v[w->used_i].start < b + n;
}

/* Group @g's bitmap block, read together with the next groups' when they
 * follow it on disk. */
static int get_bitmap(struct walker *w, uint32_t g, const uint8_t **ret)
{
        const struct ext4_sb *sb = &w->v->sb;
        uint64_t block = w->v->desc[g].block_bitmap;
        int r;

        if (!(w->cache_n && block >= w->cache_first && block - w->cache_first < w->cache_n)) {
                uint64_t max = MAX(1u, READ_AHEAD_BYTES / sb->block_size), n = 1;

                while (n < max && g + n < sb->groups && w->v->desc[g + n].block_bitmap == block + n)
                        n++;
                r = ext4_read(w->v, w->cache, n * sb->block_size, block * sb->block_size, "ext.block_bitmap");
                if (r < 0)
                        return r;
                w->cache_first = block;
                w->cache_n = n;
        }
        *ret = w->cache + (block - w->cache_first) * sb->block_size;
        return 0;
}

static int walk_group(struct walker *w, uint32_t g)
{
        struct ext4_volume *v = w->v;
        const struct ext4_sb *sb = &v->sb;
        const struct ext4_desc *d = &v->desc[g];
        uint64_t first = ext4_group_first_block(sb, g);
        uint64_t clusters = ext4_group_blocks(sb, g) >> sb->log_ratio;
        const uint8_t *bm = NULL;
        int r;

        if (d->flags & EXT4_BG_BLOCK_UNINIT)
                v->uninit_groups++;     /* all free but the always-in-use set */
        else {
                r = get_bitmap(w, g, &bm);
                if (r < 0)
                        return r;
                if (sb->csum) {
                        uint32_t c = ext4_crc32c_raw(sb->seed, bm, sb->clusters_per_group / 8);
                        uint32_t mask = d->bitmap_csum_hi ? 0xFFFFFFFFu : 0xFFFFu;
                        if ((c & mask) != d->bitmap_csum)
                                return vc_problem_add(v->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG,
                                                      "ext.block_bitmap",
                                                      v->start + d->block_bitmap * sb->block_size,
                                                      "ext group %u's block bitmap checksum mismatch", g);
                }
        }
        for (uint64_t k = 0; k < clusters;) {
                uint64_t b = first + (k << sb->log_ratio);

                /* Whole bytes first: all used, or all free and clear of metadata. */
                if (k % 8 == 0 && clusters - k >= 8) {
                        uint8_t byte = bm ? bm[k / 8] : 0;
                        if (byte == 0xFF) {
                                k += 8;
                                continue;
                        }
                        if (byte == 0 && !touches_used(w, b, 8ull << sb->log_ratio)) {
                                r = grant(w, b, 8ull << sb->log_ratio);
                                if (r < 0)
                                        return r;
                                w->free_clusters += 8;
                                k += 8;
                                continue;
                        }
                }
                if ((!bm || !(bm[k / 8] & (1u << (k % 8)))) && !touches_used(w, b, sb->ratio)) {
                        r = grant(w, b, sb->ratio);
                        if (r < 0)
                                return r;
                        w->free_clusters++;
                }
                k++;
        }
        return 0;
}

int ext4_bitmap_walk(struct ext4_volume *v, struct vc_freemap *free_out, uint64_t *ret_free)
{
        struct walker w = { .v = v, .out = free_out };
        int r = 0;

        w.cache = malloc(MAX((size_t) READ_AHEAD_BYTES, (size_t) v->sb.block_size));
        if (!w.cache)
                return -ENOMEM;
        for (uint32_t g = 0; g < v->sb.groups && r >= 0; g++)
                r = walk_group(&w, g);
        if (r >= 0)
                r = flush(&w);
        free(w.cache);
        if (r < 0)
                return r;
        *ret_free = w.free_clusters;
        return 0;
}
