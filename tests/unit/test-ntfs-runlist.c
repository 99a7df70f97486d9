/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ntfs_runlist_decode(): mapping pairs, one case per rule.  Each bad case
 * names the exact problem field and disk offset (mapping pairs at 1000),
 * and leaves a runlist that already held runs exactly as it was.
 */
#include <errno.h>
#include <stdio.h>

#include "fs/ntfs-internal.h"
#include "tests.h"
#include "util/problem.h"

#define MP_AT 1000u
#define TOTAL 1000u     /* clusters in the volume */

static int decode(struct ntfs_runlist *rl, const uint8_t *mp, size_t n, uint64_t lo, uint64_t hi,
                  struct vc_problems *ps)
{
        struct span s = SPAN(mp, n);
        return ntfs_runlist_decode(rl, &s, lo, hi, TOTAL, MP_AT, ps);
}

static void expect_ok(const char *name, const uint8_t *mp, size_t n, uint64_t lo, uint64_t hi,
                      const struct ntfs_run *want, size_t nwant)
{
        struct ntfs_runlist rl = {};
        struct vc_problems ps = {};

        ASSERT_OK(decode(&rl, mp, n, lo, hi, &ps));
        ASSERT_FALSE(vc_problems_any(&ps));
        ASSERT_EQ_U64(rl.n, nwant);
        for (size_t i = 0; i < nwant; i++) {
                ASSERT_EQ_U64(rl.v[i].vcn, want[i].vcn);
                ASSERT_EQ_U64(rl.v[i].lcn, want[i].lcn);
                ASSERT_EQ_U64(rl.v[i].len, want[i].len);
        }
        ntfs_runlist_done(&rl);
        printf("ok   %s\n", name);
}

static void expect_bad(const char *name, const uint8_t *mp, size_t n, uint64_t lo, uint64_t hi,
                       const char *field, uint64_t at)
{
        struct ntfs_runlist rl = {};
        struct vc_problems ps = {};
        int r;

        /* Start from a runlist holding VCNs [0, lo) so that rollback shows. */
        if (lo > 0)
                ASSERT_OK(ntfs_runlist_append(&rl, 0, 7, lo));
        r = decode(&rl, mp, n, lo, hi, &ps);
        ASSERT_EQ_INT(r, -EBADMSG);
        ASSERT_PROBLEM(&ps.first, VC_PROBLEM_FS_CORRUPT, field, MP_AT + at);
        ASSERT_EQ_U64(rl.n, lo > 0 ? 1 : 0);
        if (lo > 0) {
                ASSERT_EQ_U64(rl.v[0].len, lo);
                ASSERT_EQ_U64(rl.v[0].lcn, 7);
        }
        ntfs_runlist_done(&rl);
        printf("bad  %-40s %s\n", name, ps.first.message);
}

int main(void)
{
        const uint64_t H = NTFS_LCN_HOLE;

        { /* one run: 16 clusters at LCN 5 */
                const uint8_t mp[] = { 0x11, 0x10, 0x05, 0x00 };
                const struct ntfs_run w[] = { { 0, 5, 16 } };
                expect_ok("single run", mp, sizeof mp, 0, 15, w, 1);
        }
        { /* signed deltas: 100, then -50 -> 50, then +0x1F4 -> 550 */
                const uint8_t mp[] = { 0x11, 0x04, 0x64, 0x11, 0x04, 0xCE, 0x21, 0x02, 0xF4, 0x01, 0x00 };
                const struct ntfs_run w[] = { { 0, 100, 4 }, { 4, 50, 4 }, { 8, 550, 2 } };
                expect_ok("negative delta", mp, sizeof mp, 0, 9, w, 3);
        }
        { /* a delta of 0x80 needs 2 bytes (0x0080), or it would be -128 */
                const uint8_t mp[] = { 0x21, 0x01, 0x80, 0x00, 0x00 };
                const struct ntfs_run w[] = { { 0, 128, 1 } };
                expect_ok("positive delta with top bit", mp, sizeof mp, 0, 0, w, 1);
        }
        { /* sparse run keeps the running LCN: hole 8, then delta 10 -> LCN 10, hole, +5 -> 15 */
                const uint8_t mp[] = { 0x01, 0x08, 0x11, 0x02, 0x0A, 0x01, 0x03, 0x11, 0x01, 0x05, 0x00 };
                const struct ntfs_run w[] = { { 0, H, 8 }, { 8, 10, 2 }, { 10, H, 3 }, { 13, 15, 1 } };
                expect_ok("sparse runs", mp, sizeof mp, 0, 13, w, 4);
        }
        { /* multi-byte: length 0x0123 (2 bytes), delta 0x000200 (3 bytes) */
                const uint8_t mp[] = { 0x32, 0x23, 0x01, 0x00, 0x02, 0x00, 0x00 };
                const struct ntfs_run w[] = { { 0, 512, 0x123 } };
                expect_ok("wide fields", mp, sizeof mp, 0, 0x122, w, 1);
        }
        { /* contiguous runs merge */
                const uint8_t mp[] = { 0x11, 0x02, 0x0A, 0x11, 0x03, 0x02, 0x00 };
                const struct ntfs_run w[] = { { 0, 10, 5 } };
                expect_ok("adjacent runs merge", mp, sizeof mp, 0, 4, w, 1);
        }
        { /* an empty attribute: lowest 0, highest -1 */
                const uint8_t mp[] = { 0x00 };
                expect_ok("empty extent", mp, sizeof mp, 0, UINT64_MAX, NULL, 0);
        }
        { /* a second extent continuing at VCN 16 */
                struct ntfs_runlist rl = {};
                const uint8_t a[] = { 0x11, 0x10, 0x05, 0x00 }, b[] = { 0x11, 0x04, 0x64, 0x00 };
                ASSERT_OK(decode(&rl, a, sizeof a, 0, 15, NULL));
                ASSERT_OK(decode(&rl, b, sizeof b, 16, 19, NULL));
                ASSERT_EQ_U64(rl.n, 2);
                ASSERT_EQ_U64(rl.v[1].vcn, 16);
                ASSERT_EQ_U64(rl.v[1].lcn, 100);    /* each extent restarts the LCN at 0 */
                ASSERT_TRUE(ntfs_runlist_lookup(&rl, 17) == &rl.v[1]);
                ASSERT_TRUE(ntfs_runlist_lookup(&rl, 0) == &rl.v[0]);
                ASSERT_TRUE(ntfs_runlist_lookup(&rl, 20) == NULL);
                ASSERT_EQ_U64(ntfs_runlist_allocated(&rl), 20);
                ASSERT_EQ_U64(ntfs_runlist_vcn_end(&rl), 20);
                ntfs_runlist_done(&rl);
                printf("ok   two extents\n");
        }
        { /* a failing extent that first merged into the previous run rolls back */
                struct ntfs_runlist rl = {};
                struct vc_problems ps = {};
                const uint8_t a[] = { 0x11, 0x04, 0x0A, 0x00 };
                /* LCN 14 continues LCN 10+4 (merges), then LCN 29, then a truncated run */
                const uint8_t c[] = { 0x11, 0x02, 0x0E, 0x11, 0x01, 0x0F, 0x05 };
                ASSERT_OK(decode(&rl, a, sizeof a, 0, 3, NULL));
                ASSERT_EQ_INT(decode(&rl, c, sizeof c, 4, 6, &ps), -EBADMSG);
                ASSERT_PROBLEM(&ps.first, VC_PROBLEM_FS_CORRUPT, "ntfs.runlist.header", MP_AT + 6);
                ASSERT_EQ_U64(rl.n, 1);
                ASSERT_EQ_U64(rl.v[0].len, 4);
                ntfs_runlist_done(&rl);
                printf("ok   rollback after a merge\n");
        }
        { /* an extent that does not continue the previous ones */
                struct ntfs_runlist rl = {};
                struct vc_problems ps = {};
                const uint8_t mp[] = { 0x11, 0x08, 0x05, 0x00 };
                ASSERT_OK(ntfs_runlist_append(&rl, 0, 7, 3));
                ASSERT_EQ_INT(decode(&rl, mp, sizeof mp, 5, 12, &ps), -EBADMSG);
                ASSERT_PROBLEM(&ps.first, VC_PROBLEM_FS_CORRUPT, "ntfs.runlist.lowest_vcn", MP_AT);
                ASSERT_EQ_U64(rl.n, 1);
                ntfs_runlist_done(&rl);
                printf("bad  extent not continuing\n");
        }

        { const uint8_t mp[] = { 0x11, 0x10, 0x05 };
          expect_bad("no terminator", mp, sizeof mp, 0, 15, "ntfs.runlist.header", 3); }
        { const uint8_t mp[] = { 0x31, 0x10, 0x05, 0x00 };
          expect_bad("truncated run", mp, sizeof mp, 0, 15, "ntfs.runlist.header", 0); }
        { const uint8_t mp[] = { 0x10, 0x05, 0x00 };
          expect_bad("length field of width 0", mp, sizeof mp, 0, 15, "ntfs.runlist.header", 0); }
        { const uint8_t mp[] = { 0x19, 1, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0 };
          expect_bad("length field of width 9", mp, sizeof mp, 0, 15, "ntfs.runlist.header", 0); }
        { const uint8_t mp[] = { 0x91, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
          expect_bad("LCN field of width 9", mp, sizeof mp, 0, 0, "ntfs.runlist.header", 0); }
        { const uint8_t mp[] = { 0x11, 0x00, 0x05, 0x00 };
          expect_bad("zero length", mp, sizeof mp, 0, 15, "ntfs.runlist.length", 1); }
        { const uint8_t mp[] = { 0x11, 0x80, 0x05, 0x00 };
          expect_bad("negative length", mp, sizeof mp, 0, 15, "ntfs.runlist.length", 1); }
        { const uint8_t mp[] = { 0x11, 0x04, 0x0A, 0x11, 0x04, 0xF0, 0x00 };    /* 10, then -16 */
          expect_bad("negative LCN", mp, sizeof mp, 0, 7, "ntfs.runlist.lcn", 5); }
        { const uint8_t mp[] = { 0x21, 0x10, 0xE0, 0x03, 0x00 };                /* 992 + 16 > 1000 */
          expect_bad("run past the volume end", mp, sizeof mp, 0, 15, "ntfs.runlist.lcn", 2); }
        { const uint8_t mp[] = { 0x81, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F,
                                 0x81, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0x00 };
          expect_bad("LCN overflow", mp, sizeof mp, 0, 1, "ntfs.runlist.lcn", 2); }
        { const uint8_t mp[] = { 0x11, 0x20, 0x05, 0x00 };
          expect_bad("runs beyond highest VCN", mp, sizeof mp, 0, 15, "ntfs.runlist.length", 1); }
        { const uint8_t mp[] = { 0x11, 0x08, 0x05, 0x00 };
          expect_bad("runs short of highest VCN", mp, sizeof mp, 0, 15, "ntfs.runlist.highest_vcn", 3); }
        { const uint8_t mp[] = { 0x00 };
          expect_bad("highest below lowest - 1", mp, sizeof mp, 4, 1, "ntfs.runlist.highest_vcn", 0); }
        { /* VCN wrap: an extent at VCN 2^64 - 4 with 8 clusters */
                struct ntfs_runlist rl = {};
                struct vc_problems ps = {};
                const uint8_t mp[] = { 0x01, 0x08, 0x00 };
                rl.v = calloc(16, sizeof *rl.v);
                rl.cap = 16;
                rl.n = 1;
                rl.v[0] = (struct ntfs_run) { 0, H, UINT64_MAX - 4 };
                ASSERT_EQ_INT(decode(&rl, mp, sizeof mp, UINT64_MAX - 4, UINT64_MAX - 2, &ps), -EBADMSG);
                ASSERT_PROBLEM(&ps.first, VC_PROBLEM_FS_CORRUPT, "ntfs.runlist.length", MP_AT + 1);
                ASSERT_EQ_U64(rl.n, 1);
                ntfs_runlist_done(&rl);
                printf("bad  VCN overflow\n");
        }
        return 0;
}
