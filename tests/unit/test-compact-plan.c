/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The planner against its invariants, on thousands of random layouts:
 * blocks scattered over slots with gaps, in any order, random drops.
 * The plan is executed on a model of the file (slot -> block) and the
 * result checked: every move goes from a survivor's slot to free space
 * below it, no destination is live when written, nothing
 * below the new end moves, survivors end below the new end (each in its
 * own place), the final size is exactly their end (or the metadata's) plus
 * the footer, a packed file reaches the packed optimum, a file with nothing
 * to drop gets no move, and a run interrupted after its drops re-plans to
 * the same size.  Half the layouts are Windows-style "4 KiB-aligned" (every
 * block's data area on a 4 KiB boundary, slots 2 MiB + 4 KiB apart): their
 * moves must land aligned too.
 */
#include <errno.h>
#include <stdlib.h>

#include "compact/plan.h"
#include "util/macro.h"
#include "tests.h"
#include "util/overflow.h"

#define STRIDE (2097152u + 512u)
#define SKEW 512u              /* the sector bitmap: data starts here */

/* The first 4 KiB-aligned place at or after p. */
static uint64_t aligned_from(uint64_t p)
{
        return ROUND_UP(p + SKEW, 4096) - SKEW;
}

static uint64_t rnd(uint64_t n)
{
        return n ? (uint64_t) random() % n : 0;
}

static void check_one(unsigned seed, bool aligned)
{
        uint32_t n_entries = (uint32_t) (1 + rnd(600));
        uint32_t *bat = malloc(n_entries * sizeof *bat);
        uint8_t *drop = calloc(n_entries, sizeof *drop);
        uint64_t meta_end = 1536 + ROUND_UP((uint64_t) n_entries * 4, 512) + rnd(4) * 512;
        uint64_t off = aligned ? aligned_from(meta_end) : ROUND_UP(meta_end, 512), first_slot = off;
        bool gaps = seed % 3 != 0;
        uint32_t alloc = 0;

        ASSERT_TRUE(bat && drop);
        /* Allocate a random subset in a random order, with random gaps. */
        uint32_t *order = malloc(n_entries * sizeof *order);
        ASSERT_TRUE(order);
        for (uint32_t i = 0; i < n_entries; i++) {
                order[i] = i;
                bat[i] = COMPACT_ABSENT;
        }
        for (uint32_t i = n_entries; i > 1; i--) {
                uint32_t j = (uint32_t) rnd(i), t = order[i - 1];
                order[i - 1] = order[j];
                order[j] = t;
        }
        for (uint32_t i = 0; i < n_entries; i++) {
                if (rnd(3) == 0)
                        continue;
                off += gaps && rnd(5) == 0 ? (aligned ? 4096 : 512) * (1 + rnd(3)) : 0;
                bat[order[i]] = (uint32_t) (off / 512);
                off = aligned ? aligned_from(off + STRIDE) : off + STRIDE;
                alloc++;
                drop[order[i]] = seed % 7 != 0 && rnd(100) < (seed % 100);
        }
        uint64_t file_size = off + rnd(3) * 512 + 512;
        struct compact_layout l = { n_entries, bat, STRIDE, meta_end, file_size, aligned ? 4096 : 0, SKEW, 512, 512 };
        struct compact_plan p;
        ASSERT_OK(compact_plan_build(&l, drop, &p));

        /* Model: where each block is now. */
        uint64_t *where = malloc(n_entries * sizeof *where);
        uint32_t k = 0;
        ASSERT_TRUE(where);
        for (uint32_t i = 0; i < n_entries; i++) {
                where[i] = bat[i] == COMPACT_ABSENT ? UINT64_MAX : (uint64_t) bat[i] * 512;
                if (bat[i] != COMPACT_ABSENT)
                        k += !drop[i];
        }
        ASSERT_EQ_U64(p.survivors, k);
        ASSERT_EQ_U64(p.n_drops, alloc - k);
        uint64_t footer = file_size - 512, new_end = p.final_size - 512;

        for (uint32_t m = 0; m < p.n_moves; m++) {
                const struct compact_move *mv = &p.moves[m];
                ASSERT_TRUE(!drop[mv->block]);
                ASSERT_EQ_U64(where[mv->block], mv->from);
                ASSERT_TRUE(mv->to < mv->from);
                ASSERT_TRUE(mv->from + STRIDE > new_end);       /* nothing below the new end moves */
                ASSERT_TRUE(mv->to >= meta_end && mv->to + STRIDE <= footer);
                if (aligned)
                        ASSERT_EQ_U64((mv->to + SKEW) % 4096, 0);
                /* No destination overlaps a live block (as it is when the copy
                 * is made: all sources stay until the end) or another copy. */
                for (uint32_t i = 0; i < n_entries; i++)
                        if (bat[i] != COMPACT_ABSENT && !drop[i] &&
                            ranges_overlap(mv->to, STRIDE, (uint64_t) bat[i] * 512, STRIDE))
                                TEST_FAIL("seed %u: move %u writes over live block %u", seed, m, i);
                for (uint32_t m2 = 0; m2 < m; m2++)
                        ASSERT_TRUE(!ranges_overlap(mv->to, STRIDE, p.moves[m2].to, STRIDE));
                where[mv->block] = mv->to;
        }
        /* Survivors below the new end, one place each, and the size exact. */
        uint64_t max_end = meta_end;
        for (uint32_t i = 0; i < n_entries; i++) {
                if (bat[i] == COMPACT_ABSENT || drop[i])
                        continue;
                ASSERT_TRUE(where[i] + STRIDE <= new_end);
                max_end = MAX(max_end, where[i] + STRIDE);
                for (uint32_t j = i + 1; j < n_entries; j++)
                        if (bat[j] != COMPACT_ABSENT && !drop[j])
                                ASSERT_TRUE(!ranges_overlap(where[i], STRIDE, where[j], STRIDE));
        }
        ASSERT_EQ_U64(p.final_size, max_end + 512);
        ASSERT_TRUE(p.final_size <= file_size);
        /* Packed files reach the packed optimum. */
        uint64_t spacing = aligned ? aligned_from(first_slot + STRIDE) - first_slot : STRIDE;
        if (!gaps)
                ASSERT_EQ_U64(p.final_size,
                              (k ? MAX(meta_end, first_slot + (uint64_t) (k - 1) * spacing + STRIDE) : meta_end) + 512);

        /* An interrupted run: only the drops landed.  Planning again, with
         * nothing left to drop, reaches the same end. */
        uint32_t *dropped = malloc(n_entries * sizeof *dropped);
        ASSERT_TRUE(dropped);
        for (uint32_t i = 0; i < n_entries; i++)
                dropped[i] = drop[i] ? COMPACT_ABSENT : bat[i];
        struct compact_layout l3 = { n_entries, dropped, STRIDE, meta_end, file_size, l.align, SKEW, 512, 512 };
        struct compact_plan p3;
        ASSERT_OK(compact_plan_build(&l3, NULL, &p3));
        ASSERT_EQ_U64(p3.final_size, p.final_size);
        compact_plan_done(&p3);
        free(dropped);

        /* Idempotence: plan the result again with nothing to drop: no move,
         * same size. */
        uint32_t *after = malloc(n_entries * sizeof *after);
        ASSERT_TRUE(after);
        for (uint32_t i = 0; i < n_entries; i++)
                after[i] = bat[i] == COMPACT_ABSENT || drop[i] ? COMPACT_ABSENT : (uint32_t) (where[i] / 512);
        struct compact_layout l2 = { n_entries, after, STRIDE, meta_end, p.final_size, l.align, SKEW, 512, 512 };
        struct compact_plan p2;
        ASSERT_OK(compact_plan_build(&l2, NULL, &p2));
        ASSERT_EQ_INT(p2.n_moves, 0);
        ASSERT_EQ_U64(p2.final_size, p.final_size);

        compact_plan_done(&p2);
        compact_plan_done(&p);
        free(after);
        free(where);
        free(order);
        free(drop);
        free(bat);
}

int main(void)
{
        /* Dropping an unallocated block is a caller bug. */
        uint32_t bat[2] = { COMPACT_ABSENT, 4 };
        uint8_t drop[2] = { COMPACT_DROP_FS_FREE, COMPACT_KEEP };
        struct compact_layout l = { 2, bat, STRIDE, 1536 + 512, 4 * 512 + STRIDE + 512, 0, 0, 512, 512 };
        struct compact_plan p;
        ASSERT_EQ_INT(compact_plan_build(&l, drop, &p), -EINVAL);

        for (unsigned seed = 1; seed <= 3000; seed++) {
                srandom(seed);
                check_one(seed, seed % 2 == 0);
        }
        printf("3000 random layouts (1500 of them 4 KiB-aligned): all invariants hold\n");
        return 0;
}
