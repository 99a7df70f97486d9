/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Random corruption of a synthetic volume's metadata (deterministic seeds):
 * boot sector, MFT records, attribute lists, INDX blocks, restart pages,
 * the start of hiberfil.sys.
 * Whatever the bytes, ntfs_scan() must
 *   - not crash or trip ASan/UBSan (run this under the sanitizer build);
 *   - on failure, leave the caller's map exactly as it was and report a
 *     problem;
 *   - on success, grant only whole clusters inside the volume;
 *   - when $Bitmap's own clusters were not touched, grant only clusters the
 *     original bitmap marks free, and (when record 8 was not touched) none
 *     of $Bad's: a mangled structure may be refused, but never read as
 *     "more free space".
 * The last property is counted over every case and must hold for all.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "fs/ntfs-internal.h"
#include "fs/ntfs.h"
#include "source.h"
#include "test-ntfs-builder.h"
#include "tests.h"
#include "util/problem.h"

#define ITERATIONS 4000

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return rng_state;
}

struct region {
        uint64_t off, len;
};

int main(int argc, char **argv)
{
        struct nb b;
        uint8_t *orig;
        struct region regions[8];
        size_t nreg = 0;
        unsigned ok = 0, failed = 0, not_clean = 0, unsafe = 0;
        long iterations = argc > 1 ? atol(argv[1]) : ITERATIONS;

        nb_mixed_volume(&b);
        orig = malloc(b.disk_size);
        ASSERT_TRUE(orig);
        memcpy(orig, b.disk, b.disk_size);
        {       /* the baseline is clean and grants the expected clusters */
                struct vc_source src;
                struct vc_freemap m = {};
                struct ntfs_info info;
                vc_source_memory(&src, b.disk, b.disk_size);
                ASSERT_OK(ntfs_scan(&src, b.part_start, b.part_size, false, &m, &info, NULL));
                ASSERT_TRUE(info.clean);
                ASSERT_TRUE(m.n > 0);
                freemap_done(&m);
        }
        regions[nreg++] = (struct region) { b.part_start, 512 };                       /* boot */
        regions[nreg++] = (struct region) { nb_off(&b, 4), 32 * 1024 };                  /* MFT */
        regions[nreg++] = (struct region) { nb_off(&b, NB_LCN_INDEX), 8192 };            /* INDX */
        regions[nreg++] = (struct region) { nb_off(&b, NB_LCN_LOG), 8192 };              /* log */
        regions[nreg++] = (struct region) { nb_off(&b, NB_LCN_DATA), 16 };               /* hiberfil */
        regions[nreg++] = (struct region) { nb_off(&b, 4) + 6 * 1024, 1024 };            /* record 6 */
        regions[nreg++] = (struct region) { nb_off(&b, 4) + 18 * 1024, 2 * 1024 };       /* 18, 19 */

        for (long it = 0; it < iterations; it++) {
                struct vc_source src;
                struct vc_freemap m = {};
                struct vc_problems ps = {};
                struct ntfs_info info;
                unsigned flips = 1 + (unsigned) (rnd() % 6);
                bool force = rnd() % 2;
                int r;

                memcpy(b.disk, orig, b.disk_size);
                for (unsigned f = 0; f < flips; f++) {
                        const struct region *g = &regions[rnd() % nreg];
                        uint64_t at = g->off + rnd() % g->len;
                        switch (rnd() % 4) {
                        case 0: b.disk[at] ^= (uint8_t) (1u << (rnd() % 8)); break;
                        case 1: b.disk[at] = (uint8_t) rnd(); break;
                        case 2: b.disk[at] = 0xFF; break;
                        default: b.disk[at] = 0; break;
                        }
                }
                ASSERT_OK(freemap_add(&m, b.disk_size - 1024, 1024));
                vc_source_memory(&src, b.disk, b.disk_size);
                r = ntfs_scan(&src, b.part_start, b.part_size, force, &m, &info, &ps);
                if (r < 0) {
                        ASSERT_TRUE(vc_problems_any(&ps) || r == -ENOMEM);
                        ASSERT_EQ_U64(m.n, 1);
                        ASSERT_EQ_U64(m.v[0].start, b.disk_size - 1024);
                        ASSERT_EQ_U64(m.v[0].len, 1024);
                        failed++;
                } else {
                        bool bitmap_touched = memcmp(b.disk + nb_off(&b, NB_LCN_BITMAP), orig + nb_off(&b, NB_LCN_BITMAP), 4096) ||
                                              memcmp(b.disk + nb_off(&b, 180), orig + nb_off(&b, 180), 4096);
                        /* a mangled $Bad runlist that still decodes moves the
                         * bad clusters: those are then only as bad as the
                         * bitmap says (clear here) */
                        bool badclus_touched = memcmp(b.disk + nb_rec_disk(&b, 8), orig + nb_rec_disk(&b, 8), NB_RS);
                        if (!info.clean)
                                not_clean++;
                        else
                                ok++;
                        for (size_t i = 1; i < m.n; i++) {
                                uint64_t s = m.v[i].start, e = s + m.v[i].len;
                                ASSERT_TRUE(s >= b.part_start && e <= b.part_start + 256 * 4096);
                                ASSERT_EQ_U64((s - b.part_start) % 4096, 0);
                                ASSERT_EQ_U64(m.v[i].len % 4096, 0);
                                if (bitmap_touched)
                                        continue;
                                for (uint64_t c = (s - b.part_start) / 4096; c < (e - b.part_start) / 4096; c++)
                                        if ((b.bitmap[c / 8] >> (c % 8)) & 1 ||
                                            (!badclus_touched && c >= 230 && c < 233)) {
                                                fprintf(stderr, "iteration %ld: cluster %llu granted but in use\n",
                                                        it, (unsigned long long) c);
                                                unsafe++;
                                        }
                        }
                }
                freemap_done(&m);
                vc_problems_done(&ps);
        }
        printf("%ld cases: %u clean, %u not clean, %u refused; %u unsafe grants\n", iterations, ok,
               not_clean, failed, unsafe);
        ASSERT_EQ_U64(unsafe, 0);
        free(orig);
        nb_done(&b);
        return 0;
}
