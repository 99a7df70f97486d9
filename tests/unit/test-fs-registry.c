/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lib/fs/fs.c, the file-system registry: the shape of the table, probe
 * dispatch (which entry wins, signature against hint, where the evidence
 * is, heads cut short), vc_fs_scan()'s restore of the caller's map with
 * fake scanners that fail part-way (after growing the caller's last range
 * and reallocating the map), and the NTFS entry through the registry
 * reporting what ntfs_scan() reports.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/fs.h"
#include "fs/ntfs-internal.h"
#include "fs/ntfs.h"
#include "source.h"
#include "test-ntfs-builder.h"
#include "tests.h"
#include "util/endian.h"
#include "util/problem.h"

/* ---- the table ----------------------------------------------------------- */

static void test_table(void)
{
        size_t n = 0;

        for (; vc_fs_types[n]; n++) {
                ASSERT_TRUE(vc_fs_types[n]->name && vc_fs_types[n]->name[0]);
                ASSERT_TRUE(vc_fs_types[n]->probe);
                ASSERT_TRUE(vc_fs_type_by_name(vc_fs_types[n]->name) == vc_fs_types[n]);
        }
        ASSERT_TRUE(n >= 6);
        /* NTFS is the first entry and the one with a scanner. */
        ASSERT_STREQ(vc_fs_types[0]->name, "ntfs");
        ASSERT_TRUE(vc_fs_types[0]->scan);
        /* The names vhdctl analyze documents (docs/vhdctl-analyze.md). */
        for (const char *const *s = (const char *const[]) { "ntfs", "ext2/3/4", "fat", "exfat",
                                                            "bitlocker", "refs", NULL }; *s; s++)
                if (!vc_fs_type_by_name(*s))
                        TEST_FAIL("no registry entry '%s'", *s);
        ASSERT_TRUE(vc_fs_type_by_name("ext4") == NULL);
        ASSERT_TRUE(vc_fs_type_by_name(NULL) == NULL);
        printf("ok table: %zu entries, ntfs first\n", n);
}

/* ---- probe dispatch ------------------------------------------------------ */

struct head {
        uint8_t b[VC_FS_PROBE_SIZE];
        size_t len;
};

static void head_reset(struct head *h)
{
        memset(h->b, 0, sizeof h->b);
        h->len = sizeof h->b;
}

static void put(struct head *h, size_t off, const char *s, size_t n)
{
        memcpy(h->b + off, s, n);
}

/* vc_fs_probe at @min must give @want (NULL: nothing) with its evidence. */
static void expect_probe(const struct head *h, int min, const char *want, uint32_t off,
                         const char *field, const char *what)
{
        const struct span s = SPAN(h->b, h->len);
        struct vc_fs_evidence ev = { .offset = 7777, .field = "untouched" };
        const struct vc_fs_type *t = vc_fs_probe(&s, 1 << 20, min, &ev);

        if (!want) {
                if (t)
                        TEST_FAIL("%s: probed as '%s', expected nothing", what, t->name);
                ASSERT_EQ_U64(ev.offset, 7777);
                ASSERT_STREQ(ev.field, "untouched");
                return;
        }
        if (!t)
                TEST_FAIL("%s: nothing probed, expected '%s'", what, want);
        if (strcmp(t->name, want) != 0)
                TEST_FAIL("%s: probed as '%s', expected '%s'", what, t->name, want);
        ASSERT_EQ_U64(ev.offset, off);
        ASSERT_STREQ(ev.field, field);
        /* Without an evidence pointer the answer is the same. */
        ASSERT_TRUE(vc_fs_probe(&s, 1 << 20, min, NULL) == t);
}

#define SIG VC_FS_PROBE_SIGNATURE
#define HINT VC_FS_PROBE_HINT

static void test_probe(void)
{
        struct head h;

        head_reset(&h);
        expect_probe(&h, HINT, NULL, 0, NULL, "zeros");
        h.b[0] = 0xEB;
        h.b[510] = 0x55;
        h.b[511] = 0xAA;
        expect_probe(&h, HINT, NULL, 0, NULL, "an empty MBR");

        /* The 8-byte strings at 3: certain, with a whole boot sector only. */
        head_reset(&h);
        put(&h, 3, "NTFS    ", 8);
        expect_probe(&h, SIG, "ntfs", 3, "ntfs.boot.oem_id", "NTFS");
        expect_probe(&h, VC_FS_PROBE_CERTAIN, "ntfs", 3, "ntfs.boot.oem_id", "NTFS, certain");
        h.len = 511;
        expect_probe(&h, HINT, NULL, 0, NULL, "NTFS in 511 bytes");
        head_reset(&h);
        put(&h, 3, "NTFS   ", 7);
        expect_probe(&h, HINT, NULL, 0, NULL, "'NTFS   ' without its last space");
        head_reset(&h);
        put(&h, 3, "EXFAT   ", 8);
        expect_probe(&h, SIG, "exfat", 3, "exfat.boot.oem_id", "exFAT");
        head_reset(&h);
        put(&h, 3, "-FVE-FS-", 8);
        expect_probe(&h, SIG, "bitlocker", 3, "bitlocker.boot.signature", "BitLocker");
        head_reset(&h);
        put(&h, 3, "ReFS\0\0\0\0", 8);
        expect_probe(&h, SIG, "refs", 3, "refs.boot.oem_id", "ReFS");
        put(&h, 7, "xxxx", 4);
        expect_probe(&h, SIG, NULL, 0, NULL, "'ReFSxxxx' as a signature");
        expect_probe(&h, HINT, "refs", 3, "refs.boot.oem_id", "'ReFSxxxx' as a hint");

        /* FAT: a signature only with the x86 jump, else a hint. */
        head_reset(&h);
        put(&h, 82, "FAT32   ", 8);
        expect_probe(&h, SIG, NULL, 0, NULL, "FAT32 without the jump, as a signature");
        expect_probe(&h, HINT, "fat", 82, "fat.boot.fs_type", "FAT32 without the jump, as a hint");
        h.b[0] = 0xEB;
        expect_probe(&h, SIG, "fat", 82, "fat.boot.fs_type", "FAT32 with EB");
        head_reset(&h);
        h.b[0] = 0xE9;
        put(&h, 54, "FAT16   ", 8);
        expect_probe(&h, SIG, "fat", 54, "fat.boot.fs_type", "FAT16 with E9");
        put(&h, 54, "FAT12   ", 8);
        expect_probe(&h, SIG, "fat", 54, "fat.boot.fs_type", "FAT12 with E9");
        put(&h, 54, "FAT1x   ", 8);
        expect_probe(&h, SIG, NULL, 0, NULL, "'FAT1x' as a signature");
        expect_probe(&h, HINT, "fat", 54, "fat.boot.fs_type", "'FAT1x' as a hint");
        h.b[0] = 0x90;
        put(&h, 54, "FAT16   ", 8);
        expect_probe(&h, SIG, NULL, 0, NULL, "FAT16 after a NOP, as a signature");

        /* ext: the magic at 1080, which a short head does not reach. */
        head_reset(&h);
        put_le16(h.b + 1080, 0xEF53);
        expect_probe(&h, SIG, "ext2/3/4", 1080, "ext.magic", "ext magic");
        h.len = 1081;
        expect_probe(&h, HINT, NULL, 0, NULL, "ext magic cut short");
        h.len = 1082;
        expect_probe(&h, SIG, "ext2/3/4", 1080, "ext.magic", "ext magic, head just long enough");

        /* Several at once: the strongest wins. */
        head_reset(&h);
        put_le16(h.b + 1080, 0xEF53);
        put(&h, 3, "NTFS    ", 8);
        expect_probe(&h, HINT, "ntfs", 3, "ntfs.boot.oem_id", "NTFS and the ext magic");
        put(&h, 3, "ReFS\0\0\0\0", 8);
        expect_probe(&h, HINT, "refs", 3, "refs.boot.oem_id", "ReFS and the ext magic");
        memset(h.b + 3, 0, 8);
        h.b[0] = 0xEB;
        put(&h, 82, "FAT32   ", 8);
        expect_probe(&h, HINT, "fat", 82, "fat.boot.fs_type", "FAT32 with its jump and the ext magic");
        h.b[0] = 0;
        expect_probe(&h, HINT, "ext2/3/4", 1080, "ext.magic", "a FAT32 hint and the ext magic");
        head_reset(&h);
        h.b[0] = 0xEB;
        put(&h, 3, "NTFS    ", 8);
        put(&h, 82, "FAT32   ", 8);
        expect_probe(&h, SIG, "ntfs", 3, "ntfs.boot.oem_id", "NTFS with a FAT32 string");
        printf("ok probe dispatch\n");
}

/* ---- vc_fs_scan and the caller's map ------------------------------------- */

struct fake {
        size_t n_grants;        /* ranges to append */
        uint64_t first;         /* start of the first one */
        int result;             /* what the scan returns */
        bool clean;
        unsigned calls;
        void *detail_seen;
};
static struct fake fake;

static int fake_scan(struct vc_source *src, uint64_t start, uint64_t size,
                     const struct vc_fs_scan_opts *opts, struct vc_freemap *free_out,
                     struct vc_fs_info *ret_info, void *ret_detail, struct vc_problems *problems)
{
        fake.calls++;
        fake.detail_seen = ret_detail;
        /* Ranges 4 KiB apart, so none merges with the next. */
        for (size_t i = 0; i < fake.n_grants; i++)
                ASSERT_OK(freemap_add(free_out, fake.first + i * 8192, 4096));
        if (fake.result < 0)
                return vc_problem_add(problems, VC_PROBLEM_FS_CORRUPT, fake.result, "fake.thing",
                                      start + 42, "the fake scanner gives up");
        *ret_info = (struct vc_fs_info) { .cluster_size = 4096, .total_clusters = 100,
                                          .free_clusters = fake.n_grants, .clean = fake.clean };
        snprintf(ret_info->label, sizeof ret_info->label, "fake");
        if (!fake.clean)
                snprintf(ret_info->not_clean_reason, sizeof ret_info->not_clean_reason, "dirty");
        return 0;
}

static const struct vc_fs_type fake_type = { .name = "fake", .probe = NULL, .scan = fake_scan };

/* The caller's map before the scan: two ranges, the last ending at 1 MiB. */
static void seed(struct vc_freemap *m)
{
        *m = (struct vc_freemap) {};
        ASSERT_OK(freemap_add(m, 0, 4096));
        ASSERT_OK(freemap_add(m, (1 << 20) - 8192, 8192));
        ASSERT_EQ_U64(m->n, 2);
}

static void expect_seed(const struct vc_freemap *m, const char *what)
{
        if (m->n != 2 || m->v[0].start != 0 || m->v[0].len != 4096 ||
            m->v[1].start != (1 << 20) - 8192 || m->v[1].len != 8192)
                TEST_FAIL("%s: the caller's map was not restored (%zu ranges, last %llu+%llu)", what,
                          m->n, (unsigned long long) (m->n ? m->v[m->n - 1].start : 0),
                          (unsigned long long) (m->n ? m->v[m->n - 1].len : 0));
}

static void test_scan_restore(void)
{
        struct vc_source src;
        static uint8_t disk[1 << 16];
        const struct vc_fs_scan_opts plain = {}, forced = { .force_dirty = true };
        struct vc_fs_info info;
        struct vc_freemap m;
        int detail;

        vc_source_memory(&src, disk, sizeof disk);

        /* Fails after growing the caller's last range (its first grant is
         * adjacent) and after 200 more ranges (the array is reallocated). */
        {
                struct vc_problems ps = {};
                seed(&m);
                fake = (struct fake) { .n_grants = 201, .first = 1 << 20, .result = -EBADMSG };
                memset(&info, 0x5A, sizeof info);
                ASSERT_EQ_INT(vc_fs_scan(&fake_type, &src, 1 << 20, 1 << 30, &plain, &m, &info, &detail, &ps),
                              -EBADMSG);
                ASSERT_EQ_INT(fake.calls, 1);
                ASSERT_TRUE(fake.detail_seen == &detail);
                expect_seed(&m, "failure after a merge and a realloc");
                ASSERT_PROBLEM(&ps.first, VC_PROBLEM_FS_CORRUPT, "fake.thing", (1 << 20) + 42);
                ASSERT_EQ_U64(info.cluster_size, 0x5A5A5A5Au);        /* untouched */
                /* The map is still usable. */
                ASSERT_OK(freemap_add(&m, 1 << 22, 512));
                ASSERT_EQ_U64(m.n, 3);
                freemap_done(&m);
                vc_problems_done(&ps);
        }

        /* Fails on an empty map. */
        m = (struct vc_freemap) {};
        fake = (struct fake) { .n_grants = 3, .first = 4096, .result = -EIO };
        ASSERT_EQ_INT(vc_fs_scan(&fake_type, &src, 0, 1 << 20, NULL, &m, &info, NULL, NULL), -EIO);
        ASSERT_EQ_U64(m.n, 0);
        freemap_done(&m);

        /* Success keeps the grants (the first merged into the last range). */
        seed(&m);
        fake = (struct fake) { .n_grants = 3, .first = 1 << 20, .result = 0, .clean = true };
        ASSERT_OK(vc_fs_scan(&fake_type, &src, 1 << 20, 1 << 30, &plain, &m, &info, NULL, NULL));
        ASSERT_EQ_U64(m.n, 4);
        ASSERT_EQ_U64(m.v[1].len, 8192 + 4096);
        ASSERT_EQ_U64(freemap_total(&m), 4096 + 8192 + 3 * 4096);
        ASSERT_EQ_U64(info.cluster_size, 4096);
        ASSERT_EQ_U64(info.free_clusters, 3);
        ASSERT_TRUE(info.clean);
        ASSERT_STREQ(info.label, "fake");
        freemap_done(&m);

        /* Not clean: nothing granted unless forced, the info written. */
        seed(&m);
        fake = (struct fake) { .n_grants = 2, .first = 1 << 20, .result = 0, .clean = false };
        ASSERT_OK(vc_fs_scan(&fake_type, &src, 1 << 20, 1 << 30, &plain, &m, &info, NULL, NULL));
        expect_seed(&m, "a scanner that granted on a volume that is not clean");
        ASSERT_FALSE(info.clean);
        ASSERT_STREQ(info.not_clean_reason, "dirty");
        ASSERT_OK(vc_fs_scan(&fake_type, &src, 1 << 20, 1 << 30, &forced, &m, &info, NULL, NULL));
        ASSERT_EQ_U64(m.n, 3);
        freemap_done(&m);

        /* An entry without a scanner, and bad arguments. */
        seed(&m);
        fake = (struct fake) {};
        ASSERT_EQ_INT(vc_fs_scan(vc_fs_type_by_name("bitlocker"), &src, 0, 1 << 20, NULL, &m, &info, NULL, NULL),
                      -EOPNOTSUPP);
        ASSERT_EQ_INT(vc_fs_scan(NULL, &src, 0, 1 << 20, NULL, &m, &info, NULL, NULL), -EINVAL);
        ASSERT_EQ_INT(vc_fs_scan(&fake_type, &src, 0, 1 << 20, NULL, &m, NULL, NULL, NULL), -EINVAL);
        ASSERT_EQ_INT(fake.calls, 0);
        expect_seed(&m, "no scanner");
        freemap_done(&m);
        printf("ok vc_fs_scan restores the caller's map\n");
}

/* ---- NTFS through the registry ------------------------------------------- */

static void test_ntfs_entry(void)
{
        const struct vc_fs_type *ntfs = vc_fs_type_by_name("ntfs");
        struct vc_freemap m1 = {}, m2 = {};
        struct vc_fs_info info, generic;
        struct ntfs_info detail;
        struct vc_source src;
        struct nb b;

        nb_default(&b);
        nb_mark(&b, 200, 30, false);
        nb_commit(&b);
        vc_source_memory(&src, b.disk, b.disk_size);

        /* The probe on the partition's first bytes. */
        {
                const struct span head = SPAN(b.disk + b.part_start, VC_FS_PROBE_SIZE);
                ASSERT_TRUE(vc_fs_probe(&head, b.part_size, VC_FS_PROBE_SIGNATURE, NULL) == ntfs);
        }
        ASSERT_OK(vc_fs_scan(ntfs, &src, b.part_start, b.part_size, NULL, &m1, &info, &detail, NULL));
        ASSERT_OK(ntfs_scan(&src, b.part_start, b.part_size, false, &m2, &detail, NULL));
        ASSERT_EQ_U64(m1.n, m2.n);
        for (size_t i = 0; i < m1.n; i++) {
                ASSERT_EQ_U64(m1.v[i].start, m2.v[i].start);
                ASSERT_EQ_U64(m1.v[i].len, m2.v[i].len);
        }
        ASSERT_TRUE(m1.n > 0);
        ASSERT_EQ_U64(info.cluster_size, detail.cluster_size);
        ASSERT_EQ_U64(info.total_clusters, detail.total_clusters);
        ASSERT_EQ_U64(info.free_clusters, detail.free_clusters);
        ASSERT_TRUE(info.free_clusters >= 30);
        ASSERT_TRUE(info.clean);
        ASSERT_STREQ(info.label, "Syn");
        ASSERT_STREQ(info.label, detail.label);

        /* Without the detail pointer, the same generic facts. */
        ASSERT_OK(vc_fs_scan(ntfs, &src, b.part_start, b.part_size, NULL, &m2, &generic, NULL, NULL));
        ASSERT_EQ_U64(generic.free_clusters, info.free_clusters);
        freemap_done(&m1);
        freemap_done(&m2);
        nb_done(&b);
        printf("ok ntfs through the registry\n");
}

int main(void)
{
        test_table();
        test_probe();
        test_scan_restore();
        test_ntfs_entry();
        return 0;
}
