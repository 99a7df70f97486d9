/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The exFAT scanner (lib/fs/exfat.c) on a hand-built volume, through the
 * registry as analyze.c runs it, in 512-byte and 4 KiB sectors (one
 * sector per cluster): 6000 clusters, the bitmap (750 bytes) at cluster 2
 * and, with 512-byte sectors, on into cluster 3; the up-case table next,
 * the root directory after it; every 7th cluster below 1000 in use.
 *   - the bitmap's FAT chain is the one run it is read as: the free count
 *     is the bitmap's clear bits, no granted cluster has its bit set;
 *   - a fragmented bitmap (chain, bits and data agreeing, as the
 *     specification allows) is refused as unsupported; a chain that ends
 *     early, runs on or leaves the heap, as corrupt; nothing granted;
 *   - with 4 KiB sectors the boot checksum covers all 11 sectors of 4 KiB.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs/freemap.h"
#include "fs/fs.h"
#include "source.h"
#include "tests.h"
#include "util/endian.h"
#include "util/problem.h"

#define COUNT 6000u
#define FAT_OFF 24u             /* sectors */
#define FAT_LEN 48u             /* sectors: 6002 entries in 512-byte ones */
#define HEAP 72u
#define EOC 0xFFFFFFFFu

static uint8_t *disk;
static unsigned bps_shift;
static uint32_t bm_clusters, upcase, root;

static uint32_t bps(void) { return 1u << bps_shift; }
static uint64_t vol_bytes(void) { return (uint64_t) (HEAP + COUNT) << bps_shift; }
static uint8_t *cluster(uint32_t c) { return disk + ((uint64_t) (HEAP + c - 2) << bps_shift); }
static void put32(uint8_t *p, uint32_t x) { uint32_t le = htole32(x); memcpy(p, &le, 4); }
static void set_fat(uint32_t c, uint32_t v) { put32(disk + ((uint64_t) FAT_OFF << bps_shift) + 4 * c, v); }
static void set_bit(uint8_t *bm, uint32_t c) { bm[(c - 2) / 8] |= (uint8_t) (1u << ((c - 2) % 8)); }
static void clear_bit(uint8_t *bm, uint32_t c) { bm[(c - 2) / 8] &= (uint8_t) ~(1u << ((c - 2) % 8)); }

static void fix_checksum(void)
{
        uint32_t sum = 0;

        for (size_t i = 0; i < 11 * (size_t) bps(); i++)
                if (i != 106 && i != 107 && i != 112)
                        sum = ((sum & 1) ? 0x80000000u : 0) + (sum >> 1) + disk[i];
        for (size_t i = 0; i < bps(); i += 4)
                put32(disk + 11 * (size_t) bps() + i, sum);
}

/* The bitmap as one buffer, over its clusters from 2 on. */
static uint8_t *bitmap(void) { return cluster(2); }

static void make(unsigned shift)
{
        uint8_t *e;

        free(disk);
        bps_shift = shift;
        disk = calloc(1, vol_bytes());
        ASSERT_TRUE(disk != NULL);
        bm_clusters = (uint32_t) ((COUNT / 8 + bps() - 1) / bps());
        upcase = 2 + bm_clusters;
        root = upcase + 1;
        disk[0] = 0xEB; disk[1] = 0x76; disk[2] = 0x90;
        memcpy(disk + 3, "EXFAT   ", 8);
        put32(disk + 0x48, HEAP + COUNT);
        put32(disk + 0x50, FAT_OFF);
        put32(disk + 0x54, FAT_LEN);
        put32(disk + 0x58, HEAP);
        put32(disk + 0x5C, COUNT);
        put32(disk + 0x60, root);
        disk[0x69] = 1;
        disk[0x6C] = (uint8_t) shift;
        disk[0x6E] = 1;
        disk[0x1FE] = 0x55; disk[0x1FF] = 0xAA;
        fix_checksum();
        set_fat(0, 0xFFFFFFF8);
        set_fat(1, EOC);
        for (uint32_t c = 2; c < upcase; c++)
                set_fat(c, c + 1 < upcase ? c + 1 : EOC);
        set_fat(upcase, EOC);
        set_fat(root, EOC);
        e = cluster(root);
        e[0] = 0x83;
        e[32] = 0x81;
        put32(e + 32 + 20, 2);
        put32(e + 32 + 24, COUNT / 8);
        e[64] = 0x82;
        put32(e + 64 + 20, upcase);
        put32(e + 64 + 24, 128);
        for (uint32_t c = 2; c < COUNT + 2; c++)
                if (c <= root || (c < 1000 && c % 7 == 0))
                        set_bit(bitmap(), c);
}

static uint64_t used_clusters(void)
{
        uint64_t n = 0;
        for (uint32_t c = 2; c < COUNT + 2; c++)
                n += bitmap()[(c - 2) / 8] >> ((c - 2) % 8) & 1;
        return n;
}

static int scan(struct vc_freemap *m, struct vc_fs_info *info, struct vc_problems *ps)
{
        const struct vc_fs_type *t = vc_fs_type_by_name("exfat");
        struct vc_fs_scan_opts o = {};
        struct vc_source src;

        ASSERT_TRUE(t != NULL);
        vc_source_memory(&src, disk, vol_bytes());
        return vc_fs_scan(t, &src, 0, vol_bytes(), &o, m, info, NULL, ps);
}

static void expect_scans(const char *what)
{
        struct vc_problems ps = {};
        struct vc_freemap m = {};
        struct vc_fs_info info;
        uint64_t used = used_clusters();

        ASSERT_OK(scan(&m, &info, &ps));
        ASSERT_TRUE(info.clean);
        ASSERT_EQ_U64(info.free_clusters, COUNT - used);
        ASSERT_EQ_U64(freemap_total(&m), (COUNT - used) << bps_shift);
        for (size_t i = 0; i < m.n; i++)
                for (uint64_t o = m.v[i].start; o < m.v[i].start + m.v[i].len; o += bps()) {
                        uint32_t c = (uint32_t) ((o >> bps_shift) - HEAP + 2);
                        ASSERT_TRUE(o >= (uint64_t) HEAP << bps_shift);
                        ASSERT_FALSE(bitmap()[(c - 2) / 8] >> ((c - 2) % 8) & 1);
                }
        freemap_done(&m);
        vc_problems_done(&ps);
        printf("ok %s: %llu of %u clusters free\n", what, (unsigned long long) (COUNT - used), COUNT);
}

static void expect_refused(const char *what, enum vc_problem_id id, const char *field, uint64_t off)
{
        struct vc_problems ps = {};
        struct vc_freemap m = {};
        struct vc_fs_info info;

        ASSERT_TRUE(scan(&m, &info, &ps) < 0);
        ASSERT_EQ_U64(m.n, 0);
        ASSERT_PROBLEM(&ps.first, id, field, off);
        freemap_done(&m);
        vc_problems_done(&ps);
        printf("ok refused: %s\n", what);
}

static uint64_t fat_entry(uint32_t c) { return ((uint64_t) FAT_OFF << bps_shift) + 4 * (uint64_t) c; }

/* 512-byte sectors: the bitmap is clusters 2 and 3, chained 2 -> 3. */
static void test_chain(void)
{
        const uint32_t far = COUNT + 1;  /* the heap's last cluster, free */

        make(9);
        ASSERT_EQ_U64(bm_clusters, 2);
        set_fat(2, EOC);
        expect_refused("the chain ends after 1 of 2 clusters", VC_PROBLEM_FS_CORRUPT, "exfat.bitmap.chain",
                       fat_entry(2));
        set_fat(2, 3);
        set_fat(3, 4);
        expect_refused("the chain runs on", VC_PROBLEM_FS_CORRUPT, "exfat.bitmap.chain", fat_entry(3));
        set_fat(3, 0);
        expect_refused("the chain ends at a free entry", VC_PROBLEM_FS_CORRUPT, "exfat.bitmap.chain",
                       fat_entry(3));
        set_fat(3, 0xFFFFFFF7);
        expect_refused("the chain goes to a bad cluster", VC_PROBLEM_FS_CORRUPT, "exfat.bitmap.chain",
                       fat_entry(3));
        set_fat(3, EOC);
        set_fat(2, 2);
        expect_refused("the chain loops on itself", VC_PROBLEM_FS_UNSUPPORTED, "exfat.bitmap.chain",
                       fat_entry(2));
        set_fat(2, 3);
        expect_scans("the chain restored");

        /* Fragmented: the bitmap's second half moved to the heap's last
         * cluster, the chain and the bits agreeing (the second half starts
         * at bit 512 * 8, cluster 4098). */
        set_fat(2, far);
        set_fat(far, EOC);
        set_fat(3, 0);
        memcpy(cluster(far), cluster(3), bps());
        set_bit(cluster(far) - bps(), far);
        memset(cluster(3), 0, bps());
        clear_bit(bitmap(), 3);
        expect_refused("a fragmented bitmap", VC_PROBLEM_FS_UNSUPPORTED, "exfat.bitmap.chain", fat_entry(2));
}

/* 4 KiB sectors: the volume scans; the checksum spans 11 × 4 KiB. */
static void test_4k_sectors(void)
{
        make(12);
        expect_scans("4 KiB sectors");
        disk[5 * 4096 + 7] ^= 0xFF;
        expect_refused("4 KiB sectors: a byte of sector 5 changed", VC_PROBLEM_FS_CORRUPT, "exfat.boot.checksum",
                       11 * 4096);
        disk[5 * 4096 + 7] ^= 0xFF;
        disk[11 * 4096 + 4092] ^= 0xFF;
        expect_refused("4 KiB sectors: the checksum sector's last copy changed", VC_PROBLEM_FS_CORRUPT,
                       "exfat.boot.checksum", 11 * 4096 + 4092);
        disk[11 * 4096 + 4092] ^= 0xFF;
        expect_scans("4 KiB sectors, restored");
}

int main(void)
{
        make(9);
        expect_scans("512-byte sectors");
        test_chain();
        test_4k_sectors();
        free(disk);
        return 0;
}
