/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-ntfs-bitmap: the $Bitmap walk and the free-range map it feeds,
 * checked against a bit-at-a-time reference.
 *
 * Input: [0] seed for the chunking and the probes, [1] number of padding
 * bits to leave out of the last byte (mod 8), then up to 1 KiB of bitmap
 * bytes (the walk goes a word at a time: the edges matter, not the size).  The
 * bits are fed to ntfs_bitmap_walk_feed() in chunks of random bit lengths,
 * each chunk copied into a buffer of exactly ceil(bits / 8) bytes (so a
 * read past it is an ASan report) starting at its bit 0, as ntfs.c feeds
 * $Bitmap one read at a time.
 *
 * Invariants: the walk emits exactly the maximal runs of clear bits, in
 * order, once each, and counts them; ntfs_bitmap_find() agrees with the
 * reference from random starting points; the runs added to a freemap in
 * shuffled order (as cluster byte ranges), normalized, are sorted,
 * disjoint, not adjacent, add up to the free clusters, and
 * freemap_covered() agrees with the reference on random windows.
 */
#include "fs/freemap.h"
#include "fs/ntfs-internal.h"
#include "fuzz-common.h"

#define CS 4096u

struct runs {
        uint64_t (*v)[2];
        size_t n, cap;
};

static void runs_add(struct runs *r, uint64_t lcn, uint64_t count)
{
        if (r->n == r->cap) {
                r->cap = r->cap ? 2 * r->cap : 16;
                r->v = realloc(r->v, r->cap * sizeof *r->v);
                if (!r->v)
                        abort();
        }
        r->v[r->n][0] = lcn;
        r->v[r->n][1] = count;
        r->n++;
}

static int emit(void *ctx, uint64_t lcn, uint64_t count)
{
        runs_add(ctx, lcn, count);
        return 0;
}

static bool bit(const uint8_t *bits, uint64_t i)
{
        return (bits[i / 8] >> (i % 8)) & 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct runs want = {}, got = {};
        struct ntfs_bitmap_walk w;
        struct vc_freemap m = {};
        uint64_t state, nbits, free_bits = 0, at;
        const uint8_t *bits;

        if (size < 2 || size > 1024 + 2)
                return 0;
        state = data[0] * 0x100000001B3ull + 1;
        bits = data + 2;
        nbits = (uint64_t) (size - 2) * 8;
        nbits -= nbits ? data[1] % 8 : 0;

        /* The reference: maximal runs of clear bits. */
        for (uint64_t i = 0; i < nbits;) {
                uint64_t j = i;
                if (bit(bits, i)) {
                        i++;
                        continue;
                }
                while (j < nbits && !bit(bits, j))
                        j++;
                runs_add(&want, i, j - i);
                free_bits += j - i;
                i = j;
        }

        /* The walk, in random chunks. */
        ntfs_bitmap_walk_init(&w, emit, &got);
        for (at = 0; at < nbits;) {
                uint64_t n = 1 + fuzz_rnd(&state) % (fuzz_rnd(&state) % 2 ? 8 : 1024);
                uint8_t *chunk;
                if (n > nbits - at)
                        n = nbits - at;
                chunk = calloc(1, (n + 7) / 8);
                if (!chunk)
                        abort();
                for (uint64_t i = 0; i < n; i++)
                        if (bit(bits, at + i))
                                chunk[i / 8] |= (uint8_t) (1u << (i % 8));
                FUZZ_CHECK(ntfs_bitmap_walk_feed(&w, chunk, n) == 0);
                free(chunk);
                at += n;
        }
        FUZZ_CHECK(ntfs_bitmap_walk_finish(&w) == 0);
        FUZZ_CHECK(got.n == want.n);
        FUZZ_CHECK(got.n == 0 || memcmp(got.v, want.v, got.n * sizeof *got.v) == 0);
        FUZZ_CHECK(w.free == free_bits);

        /* ntfs_bitmap_find on the whole buffer (exactly sized). */
        if (nbits > 0) {
                uint8_t *copy = malloc((nbits + 7) / 8);
                if (!copy)
                        abort();
                memcpy(copy, bits, (nbits + 7) / 8);
                for (unsigned k = 0; k < 16; k++) {
                        uint64_t from = fuzz_rnd(&state) % (nbits + 1);
                        bool set = k & 1;
                        uint64_t ref = from;
                        while (ref < nbits && bit(bits, ref) != set)
                                ref++;
                        FUZZ_CHECK(ntfs_bitmap_find(copy, nbits, from, set) == ref);
                }
                free(copy);
        }

        /* The free-range map, fed in shuffled order. */
        for (size_t i = got.n; i > 1; i--) {
                size_t j = fuzz_rnd(&state) % i;
                uint64_t t0 = got.v[i - 1][0], t1 = got.v[i - 1][1];
                got.v[i - 1][0] = got.v[j][0];
                got.v[i - 1][1] = got.v[j][1];
                got.v[j][0] = t0;
                got.v[j][1] = t1;
        }
        for (size_t i = 0; i < got.n; i++) {
                /* Split some runs in two, as chunk boundaries would. */
                uint64_t s = got.v[i][0] * CS, l = got.v[i][1] * CS, cut = 0;
                if (l > CS && fuzz_rnd(&state) % 4 == 0)
                        cut = CS * (1 + fuzz_rnd(&state) % (got.v[i][1] - 1));
                FUZZ_CHECK(freemap_add(&m, s + cut, l - cut) == 0);
                FUZZ_CHECK(freemap_add(&m, s, cut) == 0);
        }
        freemap_normalize(&m);
        FUZZ_CHECK(freemap_total(&m) == free_bits * CS);
        FUZZ_CHECK(m.n == want.n);
        for (size_t i = 0; i < m.n; i++) {
                FUZZ_CHECK(m.v[i].start == want.v[i][0] * CS && m.v[i].len == want.v[i][1] * CS);
                if (i > 0)
                        FUZZ_CHECK(m.v[i - 1].start + m.v[i - 1].len < m.v[i].start);
        }
        for (unsigned k = 0; k < 16 && nbits > 0; k++) {
                uint64_t a = fuzz_rnd(&state) % (nbits * CS + 1);
                uint64_t room = nbits * CS + 1 - a, ref = 0;
                uint64_t len = fuzz_rnd(&state) % (room < 256 * CS ? room : 256 * CS);
                for (uint64_t c = a / CS; c * CS < a + len && c < nbits; c++) {
                        uint64_t lo = c * CS > a ? c * CS : a;
                        uint64_t hi = (c + 1) * CS < a + len ? (c + 1) * CS : a + len;
                        if (!bit(bits, c) && hi > lo)
                                ref += hi - lo;
                }
                FUZZ_CHECK(freemap_covered(&m, a, len) == ref);
        }
        freemap_done(&m);
        free(want.v);
        free(got.v);
        return 0;
}
