/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The swap scanner (lib/fs/swap.c) on synthetic areas, through the
 * registry as analyze.c runs it:
 *   - offline: pages 1..last_page free, less the bad pages (listed in any
 *     order, repeated), clipped to the volume, at a partition offset;
 *   - not offline: not clean, nothing granted (force-dirty grants);
 *   - hibernation signatures, v0, another byte order, bad fields: refused
 *     with the problem naming the field, nothing granted even forced.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/freemap.h"
#include "fs/fs.h"
#include "source.h"
#include "tests.h"
#include "util/endian.h"
#include "util/problem.h"

#define PAGE 4096u
#define PART 8192u              /* the area's offset in the disk */

static uint8_t disk[PART + 64 * PAGE];

static void put32(uint64_t off, uint32_t v)
{
        uint32_t le = htole32(v);
        memcpy(disk + PART + off, &le, 4);
}

static void make(uint32_t last_page, const uint32_t *bad, uint32_t nbad)
{
        memset(disk, 0, sizeof disk);
        memcpy(disk + PART + PAGE - 10, "SWAPSPACE2", 10);
        put32(0x400, 1);
        put32(0x404, last_page);
        put32(0x408, nbad);
        for (uint32_t i = 0; i < nbad; i++)
                put32(0x600 + 4 * i, bad[i]);
        memcpy(disk + PART + 0x41C, "lbl\x01", 4);
}

static const struct vc_fs_type *probe(void)
{
        struct span head = SPAN(disk + PART, VC_FS_PROBE_SIZE);
        return vc_fs_probe(&head, sizeof disk - PART, VC_FS_PROBE_HINT, NULL);
}

/* Scans [PART, PART + size); returns the scan's result, the map in *m. */
static int scan(uint64_t size, bool offline, bool force, struct vc_freemap *m, struct vc_fs_info *info,
                struct vc_problems *ps)
{
        const struct vc_fs_type *t = vc_fs_type_by_name("swap");
        struct vc_fs_scan_opts o = { .offline = offline, .force_dirty = force };
        struct vc_source src;

        ASSERT_TRUE(t != NULL);
        vc_source_memory(&src, disk, sizeof disk);
        return vc_fs_scan(t, &src, PART, size, &o, m, info, NULL, ps);
}

static void expect_ranges(struct vc_freemap *m, const uint64_t *pairs, size_t n)
{
        freemap_normalize(m);
        ASSERT_EQ_U64(m->n, n);
        for (size_t i = 0; i < n; i++) {
                ASSERT_EQ_U64(m->v[i].start, PART + pairs[2 * i] * PAGE);
                ASSERT_EQ_U64(m->v[i].len, pairs[2 * i + 1] * PAGE);
        }
}

static void test_free(void)
{
        struct vc_problems ps = {};
        struct vc_freemap m = {};
        struct vc_fs_info info;

        make(63, NULL, 0);
        ASSERT_TRUE(probe() == vc_fs_type_by_name("swap"));
        ASSERT_OK(scan(64 * PAGE, true, false, &m, &info, &ps));
        ASSERT_TRUE(info.clean);
        ASSERT_EQ_U64(info.cluster_size, PAGE);
        ASSERT_EQ_U64(info.total_clusters, 64);
        ASSERT_EQ_U64(info.free_clusters, 63);
        ASSERT_STREQ(info.label, "lbl?");
        expect_ranges(&m, (const uint64_t[]) { 1, 63 }, 1);
        freemap_done(&m);

        /* Bad pages out of order and repeated; the last page bad. */
        make(63, (const uint32_t[]) { 40, 5, 63, 5, 6 }, 5);
        ASSERT_OK(scan(64 * PAGE, true, false, &m, &info, &ps));
        ASSERT_EQ_U64(info.free_clusters, 59);
        expect_ranges(&m, (const uint64_t[]) { 1, 4, 7, 33, 41, 22 }, 3);
        freemap_done(&m);

        /* last_page beyond the volume: clipped to it. */
        make(1000, NULL, 0);
        ASSERT_OK(scan(10 * PAGE + 100, true, false, &m, &info, &ps));
        ASSERT_EQ_U64(info.total_clusters, 10);
        expect_ranges(&m, (const uint64_t[]) { 1, 9 }, 1);
        freemap_done(&m);
        vc_problems_done(&ps);
        printf("ok free pages, bad pages, clipping\n");
}

static void test_online(void)
{
        struct vc_problems ps = {};
        struct vc_freemap m = {};
        struct vc_fs_info info;

        make(63, NULL, 0);
        ASSERT_OK(scan(64 * PAGE, false, false, &m, &info, &ps));
        ASSERT_FALSE(info.clean);
        ASSERT_EQ_U64(m.n, 0);
        ASSERT_PROBLEM(&ps.first, VC_PROBLEM_FS_DIRTY, "swap", PART);
        vc_problems_done(&ps);
        ASSERT_OK(scan(64 * PAGE, false, true, &m, &info, &ps));
        ASSERT_EQ_U64(freemap_total(&m), 63 * PAGE);
        freemap_done(&m);
        vc_problems_done(&ps);
        printf("ok not offline: in use unless forced\n");
}

static void refused(const char *what, enum vc_problem_id id, const char *field, uint64_t off)
{
        struct vc_problems ps = {};
        struct vc_freemap m = {};
        struct vc_fs_info info;

        int r = scan(64 * PAGE, true, true, &m, &info, &ps);
        if (r >= 0)
                TEST_FAIL("%s: scanned", what);
        ASSERT_EQ_U64(m.n, 0);
        ASSERT_PROBLEM(&ps.first, id, field, PART + off);
        vc_problems_done(&ps);
        freemap_done(&m);
        printf("ok refused: %s\n", what);
}

static void test_refused(void)
{
        static const char *const hib[] = { "S1SUSPEND", "S2SUSPEND", "ULSUSPEND", "LINHIB0001", "SWAP-SPACE" };

        for (size_t i = 0; i < 5; i++) {
                make(63, NULL, 0);
                memcpy(disk + PART + PAGE - 10, hib[i], strlen(hib[i]));
                ASSERT_TRUE(probe() == vc_fs_type_by_name("swap"));
                refused(hib[i], VC_PROBLEM_FS_UNSUPPORTED, "swap.magic", PAGE - 10);
        }
        make(63, NULL, 0);
        put32(0x400, 0x01000000);
        refused("big-endian header", VC_PROBLEM_FS_UNSUPPORTED, "swap.version", 0x400);
        make(0, NULL, 0);
        refused("last_page 0", VC_PROBLEM_FS_CORRUPT, "swap.last_page", 0x404);
        make(63, NULL, 0);
        put32(0x408, 1000);
        refused("too many bad pages", VC_PROBLEM_FS_CORRUPT, "swap.nr_badpages", 0x408);
        make(63, (const uint32_t[]) { 3, 64 }, 2);
        refused("bad page past last_page", VC_PROBLEM_FS_CORRUPT, "swap.badpages", 0x604);
        make(63, (const uint32_t[]) { 0 }, 1);
        refused("bad page 0", VC_PROBLEM_FS_CORRUPT, "swap.badpages", 0x600);
        make(63, NULL, 0);
        memcpy(disk + PART + PAGE - 10, "SWAPSPACE3", 10);
        ASSERT_TRUE(probe() == NULL);
}

int main(void)
{
        test_free();
        test_online();
        test_refused();
        return 0;
}
