/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The planner against its invariants, on thousands of random layouts:
 * blocks scattered over slots with gaps, in any order, random drops.
 * The plan is executed on a model of the file (slot -> block) and the
 * result checked: every move goes from a survivor's slot to a dropped
 * block's slot below it, no destination is live when written, nothing
 * below the new end moves, survivors end in the k lowest slots (each in
 * its own), the final size is exactly the end of those slots (or of the
 * metadata) plus the footer, and a file with nothing to drop gets no move.
 */
#include <stdlib.h>

#include "compact/plan.h"
#include "tests.h"

#define STRIDE (2097152u + 512u)

static uint64_t rnd(uint64_t n)
{
        return n ? (uint64_t) random() % n : 0;
}

static void check_one(unsigned seed)
{
        uint32_t n_entries = (uint32_t) (1 + rnd(600));
        uint32_t *bat = malloc(n_entries * sizeof *bat);
        bool *drop = calloc(n_entries, sizeof *drop);
        uint64_t meta_end = 1536 + ROUND_UP((uint64_t) n_entries * 4, 512) + rnd(4) * 512;
        uint64_t off = ROUND_UP(meta_end, 512);
        uint32_t alloc = 0;

        ASSERT_TRUE(bat && drop);
        /* Allocate a random subset in a random order, with random gaps. */
        uint32_t *order = malloc(n_entries * sizeof *order);
        ASSERT_TRUE(order);
        for (uint32_t i = 0; i < n_entries; i++) {
                order[i] = i;
                bat[i] = VHD_BAT_UNUSED;
        }
        for (uint32_t i = n_entries; i > 1; i--) {
                uint32_t j = (uint32_t) rnd(i), t = order[i - 1];
                order[i - 1] = order[j];
                order[j] = t;
        }
        for (uint32_t i = 0; i < n_entries; i++) {
                if (rnd(3) == 0)
                        continue;
                off += rnd(5) == 0 ? 512 * (1 + rnd(3)) : 0;
                bat[order[i]] = (uint32_t) (off / 512);
                off += STRIDE;
                alloc++;
                drop[order[i]] = seed % 7 != 0 && rnd(100) < (seed % 100);
        }
        uint64_t file_size = off + rnd(3) * 512 + 512;
        struct compact_layout l = { n_entries, bat, STRIDE, meta_end, file_size };
        struct compact_plan p;
        ASSERT_OK(compact_plan_build(&l, drop, &p));

        /* Model: where each block is now. */
        uint64_t *where = malloc(n_entries * sizeof *where);
        uint64_t *slots = malloc((alloc + 1) * sizeof *slots);
        uint32_t ns = 0, k = 0;
        ASSERT_TRUE(where && slots);
        for (uint32_t i = 0; i < n_entries; i++) {
                where[i] = bat[i] == VHD_BAT_UNUSED ? UINT64_MAX : (uint64_t) bat[i] * 512;
                if (bat[i] != VHD_BAT_UNUSED) {
                        slots[ns++] = where[i];
                        k += !drop[i];
                }
        }
        for (uint32_t i = 1; i < ns; i++)       /* insertion sort: small n */
                for (uint32_t j = i; j > 0 && slots[j - 1] > slots[j]; j--) {
                        uint64_t t = slots[j];
                        slots[j] = slots[j - 1];
                        slots[j - 1] = t;
                }
        ASSERT_EQ_U64(p.survivors, k);
        ASSERT_EQ_U64(p.n_drops, alloc - k);
        uint64_t kth_end = k ? slots[k - 1] + STRIDE : 0;

        for (uint32_t m = 0; m < p.n_moves; m++) {
                const struct compact_move *mv = &p.moves[m];
                ASSERT_TRUE(!drop[mv->block]);
                ASSERT_EQ_U64(where[mv->block], mv->from);
                ASSERT_TRUE(mv->to < mv->from);
                ASSERT_TRUE(mv->from >= kth_end);       /* nothing below the new end moves */
                /* The destination held a dropped block and holds no survivor now. */
                bool was_dropped = false;
                for (uint32_t i = 0; i < n_entries; i++) {
                        if (bat[i] != VHD_BAT_UNUSED && (uint64_t) bat[i] * 512 == mv->to)
                                was_dropped = drop[i];
                        if (!drop[i] && where[i] == mv->to)
                                TEST_FAIL("seed %u: move %u writes over live block %u", seed, m, i);
                }
                ASSERT_TRUE(was_dropped);
                where[mv->block] = mv->to;
        }
        /* Survivors in the k lowest slots, one each. */
        for (uint32_t i = 0; i < n_entries; i++) {
                if (bat[i] == VHD_BAT_UNUSED || drop[i])
                        continue;
                ASSERT_TRUE(where[i] < kth_end);
                for (uint32_t j = i + 1; j < n_entries; j++)
                        if (bat[j] != VHD_BAT_UNUSED && !drop[j])
                                ASSERT_TRUE(where[i] != where[j]);
        }
        ASSERT_EQ_U64(p.final_size, (k ? MAX(meta_end, kth_end) : meta_end) + 512);
        ASSERT_TRUE(p.final_size <= file_size);
        if (k == alloc)
                ASSERT_EQ_INT(p.n_moves, 0);

        /* Idempotence: plan the result again with nothing to drop: no move,
         * same size. */
        uint32_t *after = malloc(n_entries * sizeof *after);
        ASSERT_TRUE(after);
        for (uint32_t i = 0; i < n_entries; i++)
                after[i] = bat[i] == VHD_BAT_UNUSED || drop[i] ? VHD_BAT_UNUSED : (uint32_t) (where[i] / 512);
        struct compact_layout l2 = { n_entries, after, STRIDE, meta_end, p.final_size };
        struct compact_plan p2;
        ASSERT_OK(compact_plan_build(&l2, NULL, &p2));
        ASSERT_EQ_INT(p2.n_moves, 0);
        ASSERT_EQ_U64(p2.final_size, p.final_size);

        compact_plan_done(&p2);
        compact_plan_done(&p);
        free(after);
        free(where);
        free(slots);
        free(order);
        free(drop);
        free(bat);
}

int main(void)
{
        /* Dropping an unallocated block is a caller bug. */
        uint32_t bat[2] = { VHD_BAT_UNUSED, 4 };
        bool drop[2] = { true, false };
        struct compact_layout l = { 2, bat, STRIDE, 1536 + 512, 4 * 512 + STRIDE + 512 };
        struct compact_plan p;
        ASSERT_EQ_INT(compact_plan_build(&l, drop, &p), -EINVAL);

        for (unsigned seed = 1; seed <= 3000; seed++) {
                srandom(seed);
                check_one(seed);
        }
        printf("3000 random layouts: all invariants hold\n");
        return 0;
}
