/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The $Bitmap walk: word-at-a-time searches and the streaming free-run
 * walk, against a bit-by-bit reference on crafted and random patterns fed
 * in random chunk sizes; padding bits past the cluster count (set or not)
 * never produce a run; an emit() error stops the walk.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "fs/ntfs-internal.h"
#include "tests.h"

static bool bit(const uint8_t *p, uint64_t i)
{
        return (p[i >> 3] >> (i & 7)) & 1;
}

static uint64_t ref_find(const uint8_t *p, uint64_t nbits, uint64_t from, bool set)
{
        for (uint64_t i = from; i < nbits; i++)
                if (bit(p, i) == set)
                        return i;
        return nbits;
}

struct collect {
        uint64_t s[8192], l[8192];
        size_t n;
        int fail_at;    /* emit number that fails, or -1 */
};

static int emit(void *ctx, uint64_t lcn, uint64_t count)
{
        struct collect *c = ctx;

        if ((int) c->n == c->fail_at)
                return -ENOSPC;
        ASSERT_TRUE(c->n < 8192);
        ASSERT_TRUE(count > 0);
        c->s[c->n] = lcn;
        c->l[c->n] = count;
        c->n++;
        return 0;
}

/* Walks @nbits of @p in chunks of random sizes (multiples of 8 bits, as
 * the scanner reads whole bytes) and compares with the reference. */
static void check_walk(const uint8_t *p, uint64_t nbits, unsigned seed)
{
        static struct collect c;
        struct ntfs_bitmap_walk w;
        uint64_t pos = 0, free_ref = 0;
        size_t k = 0;

        c.n = 0;
        c.fail_at = -1;
        srand(seed);
        ntfs_bitmap_walk_init(&w, emit, &c);
        while (pos < nbits) {
                uint64_t chunk = 8 * (uint64_t) (1 + rand() % 40);
                if (chunk > nbits - pos)
                        chunk = nbits - pos;
                ASSERT_OK(ntfs_bitmap_walk_feed(&w, p + pos / 8, chunk));
                pos += chunk;
        }
        ASSERT_OK(ntfs_bitmap_walk_finish(&w));

        for (uint64_t i = 0; i < nbits;) {
                uint64_t s = ref_find(p, nbits, i, false), e;
                if (s >= nbits)
                        break;
                e = ref_find(p, nbits, s, true);
                ASSERT_TRUE(k < c.n);
                ASSERT_EQ_U64(c.s[k], s);
                ASSERT_EQ_U64(c.l[k], e - s);
                free_ref += e - s;
                k++;
                i = e;
        }
        ASSERT_EQ_U64(c.n, k);
        ASSERT_EQ_U64(w.free, free_ref);
}

int main(void)
{
        static uint8_t p[4096];

        /* find: crafted positions around word boundaries */
        {
                const uint64_t pos[] = { 0, 1, 7, 8, 62, 63, 64, 65, 127, 128, 1000, 4095 * 8 + 7 };
                for (size_t i = 0; i < ELEMENTSOF(pos); i++) {
                        memset(p, 0, sizeof p);
                        p[pos[i] / 8] |= (uint8_t) (1u << (pos[i] % 8));
                        ASSERT_EQ_U64(ntfs_bitmap_find(p, 8 * sizeof p, 0, true), pos[i]);
                        ASSERT_EQ_U64(ntfs_bitmap_find(p, 8 * sizeof p, pos[i], true), pos[i]);
                        ASSERT_EQ_U64(ntfs_bitmap_find(p, 8 * sizeof p, pos[i] + 1, true), 8 * sizeof p);
                        memset(p, 0xFF, sizeof p);
                        p[pos[i] / 8] &= (uint8_t) ~(1u << (pos[i] % 8));
                        ASSERT_EQ_U64(ntfs_bitmap_find(p, 8 * sizeof p, 0, false), pos[i]);
                        ASSERT_EQ_U64(ntfs_bitmap_find(p, 8 * sizeof p, pos[i] + 1, false), 8 * sizeof p);
                }
                printf("ok   find at word edges\n");
        }
        /* find never reports a bit at or past nbits, whatever the padding holds */
        {
                memset(p, 0xFF, sizeof p);
                for (uint64_t n = 1; n < 200; n++)
                        ASSERT_EQ_U64(ntfs_bitmap_find(p, n, 0, false), n);
                memset(p, 0x00, sizeof p);
                for (uint64_t n = 1; n < 200; n++)
                        ASSERT_EQ_U64(ntfs_bitmap_find(p, n, 0, true), n);
                ASSERT_EQ_U64(ntfs_bitmap_find(p, 10, 10, false), 10);
                ASSERT_EQ_U64(ntfs_bitmap_find(p, 10, 99, false), 10);
                printf("ok   find stops at nbits\n");
        }
        /* walk: padding.  11 clusters, bits 11..15 clear in the buffer: one
         * run of clusters 3..10, never 11..15. */
        {
                uint8_t q[2] = { 0x07, 0x00 };
                static struct collect c;
                struct ntfs_bitmap_walk w;

                ntfs_bitmap_walk_init(&w, emit, &c);
                c.fail_at = -1;
                ASSERT_OK(ntfs_bitmap_walk_feed(&w, q, 11));
                ASSERT_OK(ntfs_bitmap_walk_finish(&w));
                ASSERT_EQ_U64(c.n, 1);
                ASSERT_EQ_U64(c.s[0], 3);
                ASSERT_EQ_U64(c.l[0], 8);
                ASSERT_EQ_U64(w.free, 8);
                printf("ok   padding bits ignored\n");
        }
        /* walk: a free run spanning chunks is emitted once */
        {
                static struct collect c;
                struct ntfs_bitmap_walk w;

                memset(p, 0, 64);
                p[0] = 0x01;
                p[63] = 0x80;
                ntfs_bitmap_walk_init(&w, emit, &c);
                c.n = 0;
                c.fail_at = -1;
                for (int i = 0; i < 64; i += 8)
                        ASSERT_OK(ntfs_bitmap_walk_feed(&w, p + i, 64));
                ASSERT_OK(ntfs_bitmap_walk_finish(&w));
                ASSERT_EQ_U64(c.n, 1);
                ASSERT_EQ_U64(c.s[0], 1);
                ASSERT_EQ_U64(c.l[0], 510);
                printf("ok   run across chunks\n");
        }
        /* walk: emit() failing stops the walk with its error */
        {
                static struct collect c;
                struct ntfs_bitmap_walk w;

                memset(p, 0x55, 16);
                ntfs_bitmap_walk_init(&w, emit, &c);
                c.n = 0;
                c.fail_at = 3;
                ASSERT_EQ_INT(ntfs_bitmap_walk_feed(&w, p, 128), -ENOSPC);
                ASSERT_EQ_U64(c.n, 3);
                printf("ok   emit error propagates\n");
        }
        /* walk: patterns vs the reference */
        {
                const uint8_t fills[] = { 0x00, 0xFF, 0x55, 0xAA, 0x0F, 0xF0, 0x01, 0x80 };
                for (size_t f = 0; f < ELEMENTSOF(fills); f++)
                        for (uint64_t n = 1; n <= 300; n += 7) {
                                memset(p, fills[f], sizeof p);
                                check_walk(p, n, (unsigned) (n * 31 + f));
                        }
                for (unsigned seed = 1; seed <= 300; seed++) {
                        uint64_t n = 1 + (uint64_t) (seed * 2654435761u % (8 * sizeof p));
                        int density = seed % 10;
                        srand(seed);
                        for (size_t i = 0; i < sizeof p; i++) {
                                uint8_t v = 0;
                                for (int b = 0; b < 8; b++)
                                        if (rand() % 10 < density)
                                                v |= (uint8_t) (1u << b);
                                /* long uniform stretches too */
                                p[i] = (seed % 3 == 0 && (i / 64) % 2) ? (uint8_t) -(i / 128 % 2) : v;
                        }
                        check_walk(p, n, seed);
                }
                printf("ok   random patterns match the bit-by-bit reference\n");
        }
        /* walk: a large all-free bitmap is one run (64 Mi clusters) */
        {
                const size_t len = 8u << 20;
                uint8_t *big = calloc(1, len);
                static struct collect c;
                struct ntfs_bitmap_walk w;

                ASSERT_TRUE(big);
                big[len - 1] = 0x80;
                ntfs_bitmap_walk_init(&w, emit, &c);
                c.n = 0;
                c.fail_at = -1;
                for (size_t o = 0; o < len; o += 1u << 20)
                        ASSERT_OK(ntfs_bitmap_walk_feed(&w, big + o, 8u << 20));
                ASSERT_OK(ntfs_bitmap_walk_finish(&w));
                ASSERT_EQ_U64(c.n, 1);
                ASSERT_EQ_U64(c.l[0], 8ull * len - 1);
                free(big);
                printf("ok   64 Mi clusters\n");
        }
        return 0;
}
