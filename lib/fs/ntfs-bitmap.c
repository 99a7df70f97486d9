/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The $Bitmap walk: clear bits -> runs of free clusters.
 *
 * Design note: a volume of a few TiB has hundreds of millions of clusters,
 * and its bitmap is mostly long stretches of all-zero or all-one bytes.  The
 * walk therefore never looks at single bits between transitions: it
 * searches for the next set (or clear) bit 64 bits at a time, loading each
 * word little-endian so bit i of the word is cluster (word * 64 + i), and
 * uses count-trailing-zeros on the first word that has one.  The walk is
 * streaming - the caller reads $Bitmap in bounded chunks and feeds them in
 * order - and a free run that spans chunks is emitted once, whole.
 */
#include <string.h>

#include "../util/endian.h"
#include "ntfs-internal.h"

/* The 64 bits starting at bit 64*w; bytes past the buffer read as @fill. */
static inline uint64_t load_word(const uint8_t *bits, uint64_t nbytes, uint64_t w, uint8_t fill)
{
        uint64_t at = w * 8;
        uint8_t tmp[8];

        if (at + 8 <= nbytes)
                return get_le64(bits + at);
        memset(tmp, fill, sizeof tmp);
        memcpy(tmp, bits + at, (size_t) (nbytes - at));
        return get_le64(tmp);
}

uint64_t ntfs_bitmap_find(const uint8_t *bits, uint64_t nbits, uint64_t from, bool set)
{
        const uint64_t nbytes = (nbits + 7) / 8;
        const uint64_t nwords = (nbits + 63) / 64;
        uint64_t w, word;

        if (from >= nbits)
                return nbits;
        w = from / 64;
        /* Looking for a clear bit is looking for a set bit in the complement;
         * the bytes past the buffer are filled so that they never match. */
        word = load_word(bits, nbytes, w, set ? 0x00 : 0xFF);
        if (!set)
                word = ~word;
        word &= ~0ull << (from % 64);
        for (;;) {
                if (word != 0) {
                        uint64_t i = w * 64 + (uint64_t) __builtin_ctzll(word);
                        return i < nbits ? i : nbits;
                }
                if (++w >= nwords)
                        return nbits;
                word = load_word(bits, nbytes, w, set ? 0x00 : 0xFF);
                if (!set)
                        word = ~word;
        }
}

void ntfs_bitmap_walk_init(struct ntfs_bitmap_walk *w,
                           int (*emit)(void *ctx, uint64_t lcn, uint64_t count), void *ctx)
{
        *w = (struct ntfs_bitmap_walk) { .run_start = UINT64_MAX, .emit = emit, .ctx = ctx };
}

int ntfs_bitmap_walk_feed(struct ntfs_bitmap_walk *w, const uint8_t *bits, uint64_t nbits)
{
        const uint64_t base = w->next;
        uint64_t i = 0;

        while (i < nbits) {
                if (w->run_start != UINT64_MAX) {
                        /* Inside a free run: it ends at the next set bit. */
                        uint64_t j = ntfs_bitmap_find(bits, nbits, i, true);

                        w->free += j - i;
                        i = j;
                        if (j < nbits) {
                                int r = w->emit(w->ctx, w->run_start, base + j - w->run_start);
                                w->run_start = UINT64_MAX;
                                if (r < 0) {
                                        w->next = base + nbits;
                                        return r;
                                }
                        }
                } else {
                        uint64_t j = ntfs_bitmap_find(bits, nbits, i, false);

                        if (j < nbits)
                                w->run_start = base + j;
                        i = j;
                }
        }
        w->next = base + nbits;
        return 0;
}

int ntfs_bitmap_walk_finish(struct ntfs_bitmap_walk *w)
{
        uint64_t start = w->run_start;

        if (start == UINT64_MAX)
                return 0;
        w->run_start = UINT64_MAX;
        return w->emit(w->ctx, start, w->next - start);
}
