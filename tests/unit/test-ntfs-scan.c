/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ntfs_scan() on synthetic volumes (test-ntfs-builder.h):
 *   - clean volumes of several cluster sizes, at a partition offset, with a
 *     fragmented $MFT (a record straddling two runs), with $MFT's and
 *     $Bitmap's runs behind attribute lists: the free map is exactly the
 *     clear bits below the cluster count, minus $BadClus:$Bad;
 *   - corruption: one poke per case, the exact problem (id, field, disk
 *     offset), and the caller's free map left exactly as it was;
 *   - not clean: dirty/chkdsk flags, $LogFile restart areas, hiberfil.sys in
 *     a resident root index and in a two-level B-tree (one that needs
 *     $UpCase to be descended correctly): nothing granted, a FS_DIRTY
 *     problem naming the field, and with force_dirty the normal map.
 * Every successful scan is also checked to grant nothing outside the
 * volume's whole clusters.
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

/* Bad clusters (sorted, disjoint) the expected map leaves out. */
static struct nb_run bad[4];
static size_t nbad;

static bool is_bad(uint64_t c)
{
        for (size_t i = 0; i < nbad; i++)
                if (c >= bad[i].lcn && c < bad[i].lcn + bad[i].len)
                        return true;
        return false;
}

/* The free map the bitmap says, in absolute byte ranges. */
static void expected_map(const struct nb *b, struct vc_freemap *m, uint64_t *ret_free)
{
        uint64_t nfree = 0;

        for (uint64_t c = 0; c < b->nclusters; c++) {
                if (b->bitmap[c / 8] & (1u << (c % 8)))
                        continue;
                nfree++;
                if (!is_bad(c))
                        ASSERT_OK(freemap_add(m, nb_off(b, c), b->cs));
        }
        *ret_free = nfree;
}

static int scan(struct nb *b, bool force, struct vc_freemap *m, struct ntfs_info *info,
                struct vc_problems *ps, uint64_t *ret_read)
{
        struct vc_source src;
        int r;

        vc_source_memory(&src, b->disk, b->disk_size);
        r = ntfs_scan(&src, b->part_start, b->part_size, force, m, info, ps);
        if (ret_read)
                *ret_read = src.bytes_read;
        return r;
}

/* A map the caller already had: one range in the slack after the partition. */
#define SEED(b) ((b)->disk_size - 1024)
static void seed(const struct nb *b, struct vc_freemap *m)
{
        *m = (struct vc_freemap) {};
        ASSERT_OK(freemap_add(m, SEED(b), 1024));
}

static void check_seed_only(const struct nb *b, const struct vc_freemap *m)
{
        ASSERT_EQ_U64(m->n, 1);
        ASSERT_EQ_U64(m->v[0].start, SEED(b));
        ASSERT_EQ_U64(m->v[0].len, 1024);
}

/* Everything but the seed (first entry) inside the volume's clusters. */
static void check_inside(const struct nb *b, const struct vc_freemap *m)
{
        ASSERT_EQ_U64(m->v[0].start, SEED(b));
        for (size_t i = 1; i < m->n; i++) {
                ASSERT_TRUE(m->v[i].start >= b->part_start);
                ASSERT_TRUE(m->v[i].start + m->v[i].len <= b->part_start + b->nclusters * b->cs);
                ASSERT_EQ_U64((m->v[i].start - b->part_start) % b->cs, 0);
                ASSERT_EQ_U64(m->v[i].len % b->cs, 0);
        }
}

/* Scan must succeed, clean, with exactly the expected map after the seed. */
static void expect_clean(struct nb *b, const char *name)
{
        struct vc_freemap m, want = {};
        struct ntfs_info info;
        struct vc_problems ps = {};
        uint64_t nfree, nread;
        int r;

        seed(b, &m);
        r = scan(b, false, &m, &info, &ps, &nread);
        if (r < 0)
                TEST_FAIL("%s: scan failed: %s (%s at %llu)", name, ps.first.message,
                          ps.first.field, (unsigned long long) ps.first.offset);
        ASSERT_FALSE(vc_problems_any(&ps));
        if (!info.clean)
                TEST_FAIL("%s: not clean: %s", name, info.not_clean_reason);
        check_inside(b, &m);
        expected_map(b, &want, &nfree);
        freemap_normalize(&want);
        freemap_normalize(&m);
        ASSERT_EQ_U64(info.free_clusters, nfree);
        ASSERT_EQ_U64(info.total_clusters, b->nclusters);
        ASSERT_EQ_U64(info.cluster_size, b->cs);
        ASSERT_EQ_U64(freemap_covered(&m, SEED(b), 1024), 1024);
        ASSERT_EQ_U64(freemap_total(&m) - 1024, freemap_total(&want));
        ASSERT_EQ_U64(freemap_covered(&m, b->part_start, b->nclusters * b->cs), freemap_total(&want));
        for (size_t i = 0; i < want.n; i++)
                ASSERT_EQ_U64(freemap_covered(&m, want.v[i].start, want.v[i].len), want.v[i].len);
        printf("ok   %-44s %llu free clusters, read %llu bytes\n", name,
               (unsigned long long) nfree, (unsigned long long) nread);
        freemap_done(&m);
        freemap_done(&want);
}

/* Scan must fail with this problem and leave the seeded map alone. */
static void expect_fail(struct nb *b, const char *name, int error, enum vc_problem_id id,
                        const char *field, uint64_t offset)
{
        struct vc_freemap m;
        struct ntfs_info info = { .cluster_size = 777 };
        struct vc_problems ps = {};
        int r;

        seed(b, &m);
        r = scan(b, false, &m, &info, &ps, NULL);
        if (r >= 0)
                TEST_FAIL("%s: scan succeeded", name);
        if (r != error || (int) ps.first.id != (int) id || strcmp(ps.first.field, field) ||
            ps.first.offset != offset)
                TEST_FAIL("%s: got %d %s %s at %llu (%s), expected %d %s %s at %llu", name, r,
                          vc_problem_id_to_string(ps.first.id), ps.first.field,
                          (unsigned long long) ps.first.offset, ps.first.message, error,
                          vc_problem_id_to_string(id), field, (unsigned long long) offset);
        check_seed_only(b, &m);
        ASSERT_EQ_U64(info.cluster_size, 777);
        /* force_dirty changes nothing for a corrupt volume */
        ps = (struct vc_problems) {};
        ASSERT_EQ_INT(scan(b, true, &m, &info, &ps, NULL), error);
        check_seed_only(b, &m);
        printf("bad  %-44s %s\n", name, ps.first.message);
        freemap_done(&m);
}

/* Scan must say not clean (reason containing @why, FS_DIRTY problem at
 * @field/@offset, nothing granted); with force_dirty the full map. */
static void expect_not_clean(struct nb *b, const char *name, const char *why, const char *field,
                             uint64_t offset)
{
        struct vc_freemap m;
        struct ntfs_info info;
        struct vc_problems ps = {};
        int r;

        seed(b, &m);
        r = scan(b, false, &m, &info, &ps, NULL);
        if (r < 0)
                TEST_FAIL("%s: scan failed: %s (%s)", name, ps.first.message, ps.first.field);
        ASSERT_FALSE(info.clean);
        if (!strstr(info.not_clean_reason, why))
                TEST_FAIL("%s: reason '%s' lacks '%s'", name, info.not_clean_reason, why);
        check_seed_only(b, &m);
        ASSERT_EQ_U64(info.free_clusters, 0);
        if (field)
                ASSERT_PROBLEM(&ps.first, VC_PROBLEM_FS_DIRTY, field, offset);
        else
                ASSERT_EQ_INT(ps.first.id, VC_PROBLEM_FS_DIRTY);
        ASSERT_EQ_INT(ps.first.error, -EUCLEAN);

        ps = (struct vc_problems) {};
        ASSERT_OK(scan(b, true, &m, &info, &ps, NULL));
        ASSERT_FALSE(info.clean);
        ASSERT_FALSE(vc_problems_any(&ps));
        check_inside(b, &m);
        {
                struct vc_freemap want = {};
                uint64_t nfree;
                expected_map(b, &want, &nfree);
                ASSERT_EQ_U64(info.free_clusters, nfree);
                ASSERT_EQ_U64(freemap_total(&m) - 1024, freemap_total(&want));
                freemap_done(&want);
        }
        printf("dirt %-44s %s\n", name, info.not_clean_reason);
        freemap_done(&m);
}

/* ---- helpers to edit a committed volume ---------------------------------- */

/* Disk offset of byte @off of record @r (records are contiguous here). */
static uint64_t rec_at(const struct nb *b, unsigned r, uint32_t off)
{
        return nb_mft_off(b, (uint64_t) r * NB_RS + off);
}

static uint16_t attr_id(struct nb *b, unsigned r, uint32_t at)
{
        return get_le16(b->rec[r] + at + NTFS_ATTR_OFF_ID);
}

/* ---- clean volumes -------------------------------------------------------- */

static void t_clean(void)
{
        struct nb b;

        nb_default(&b);
        expect_clean(&b, "default 4 KiB clusters");
        {
                struct vc_source src;
                vc_source_memory(&src, b.disk, b.disk_size);
                ASSERT_TRUE(ntfs_probe(&src, b.part_start));
                ASSERT_FALSE(ntfs_probe(&src, 0));
                ASSERT_FALSE(ntfs_probe(&src, b.disk_size - 100));
        }
        {
                struct ntfs_info info;
                struct vc_freemap m = {};
                ASSERT_OK(scan(&b, false, &m, &info, NULL, NULL));
                ASSERT_STREQ(info.label, "Syn");
                ASSERT_EQ_INT(info.version_major, 3);
                ASSERT_EQ_INT(info.version_minor, 1);
                ASSERT_EQ_U64(info.mft_record_size, 1024);
                ASSERT_EQ_U64(info.bytes_per_sector, 512);
                ASSERT_EQ_U64(info.mft_lcn, 4);
                ASSERT_EQ_U64(info.bad_clusters, 0);
                freemap_done(&m);
        }
        /* a free stretch across the old chunk edge, odd bits, the last cluster */
        nb_mark(&b, 200, 56, false);
        nb_mark(&b, 201, 1, true);
        nb_mark(&b, 255, 1, false);
        nb_commit(&b);
        expect_clean(&b, "default, edited bitmap");
        /* everything allocated: nothing granted */
        nb_mark(&b, 0, 256, true);
        nb_commit(&b);
        expect_clean(&b, "full volume");
        nb_done(&b);

        nb_init(&b, 512, 2048, 0, NULL, 0);
        expect_clean(&b, "512-byte clusters at offset 0");
        nb_done(&b);
        nb_init(&b, 1024, 1024, 1 << 20, NULL, 0);
        expect_clean(&b, "1 KiB clusters at 1 MiB");
        nb_done(&b);
        nb_init(&b, 2048, 777, 4096, NULL, 0);
        expect_clean(&b, "2 KiB clusters, 777 clusters (padding bits)");
        nb_done(&b);

        /* the padding bits clear: still nothing past cluster 776 */
        nb_init(&b, 2048, 777, 4096, NULL, 0);
        nb_mark(&b, 777, 7, false);
        nb_commit(&b);
        expect_clean(&b, "clear padding bits ignored");
        nb_done(&b);
}

/* A partition that ends with a partial cluster and the backup sector. */
static void t_tail(void)
{
        struct nb b;

        nb_default(&b);
        b.part_size += 3000;    /* more slack after the volume */
        nb_mark(&b, 250, 6, false);
        nb_commit(&b);
        expect_clean(&b, "slack after the last cluster kept");
        nb_done(&b);
}

/* $MFT in two runs; with 512-byte clusters record 6 straddles them. */
static void t_fragmented_mft(void)
{
        struct nb b;
        const struct nb_run runs4k[] = { { 4, 4 }, { 200, 4 } };
        const struct nb_run runs512[] = { { 32, 13 }, { 1800, 51 } };
        uint8_t hib[4] = { 'h', 'i', 'b', 'r' };

        nb_init(&b, 4096, 256, 65536, runs4k, 2);
        expect_clean(&b, "MFT in two runs");
        /* hiberfil.sys in record 24, which lives in the second run */
        nb_file(&b, 24, "hiberfil.sys", NB_LCN_DATA, 1, hib, 4);
        {
                struct nb_name n = { "hiberfil.sys", 24 };
                nb_root_small(&b, &n, 1);
        }
        nb_commit(&b);
        expect_not_clean(&b, "hiberfil.sys in the second MFT run", "hibernated",
                         "ntfs.hiberfil.signature", nb_off(&b, NB_LCN_DATA));
        nb_done(&b);

        nb_init(&b, 512, 2048, 0, runs512, 2);
        expect_clean(&b, "record 6 straddling two MFT runs");
        /* a torn second half of record 6 is found at its true disk offset */
        b.disk[nb_off(&b, 1800) + 510] ^= 0xFF;
        expect_fail(&b, "torn record 6, second half elsewhere", -EBADMSG, VC_PROBLEM_FS_CORRUPT,
                    "ntfs.mft.fixup", nb_off(&b, 1800) + 510);
        nb_done(&b);
}

/*
 * $MFT's $DATA in two extents: VCN 0-3 in record 0, VCN 4-7 in extension
 * record 15 (inside the first extent, as ntfs-3g places them), listed by an $ATTRIBUTE_LIST in record 0 (and, with
 * @name_in_ext, $MFT's $FILE_NAME in record 15 too, as ntfs-3g does).
 */
static void mft_attr_list(struct nb *b, bool name_in_ext)
{
        const struct nb_run runs[] = { { 4, 4 }, { 200, 4 } };
        uint8_t list[512];
        size_t n = 0;
        uint32_t at;
        uint16_t id_si, id_fn, id_d0, id_d1;
        uint8_t si[0x48] = {};

        nb_init(b, 4096, 256, 65536, runs, 2);
        nb_rec_init(b, 0, NTFS_MFT_FLAG_IN_USE, 1, 0);
        id_si = attr_id(b, 0, nb_add_resident(b, 0, NTFS_AT_STANDARD_INFORMATION, NULL, si, sizeof si));
        nb_rec_init(b, 15, NTFS_MFT_FLAG_IN_USE, 1, 0 | (uint64_t) 1 << 48);
        if (name_in_ext)
                id_fn = attr_id(b, 15, nb_add_filename(b, 15, NTFS_REC_ROOT, "$MFT"));
        else
                id_fn = attr_id(b, 0, nb_add_filename(b, 0, NTFS_REC_ROOT, "$MFT"));
        at = nb_add_nonresident(b, 0, NTFS_AT_DATA, NULL, &runs[0], 1, 0, 8 * 4096, 32768, 32768, 0);
        id_d0 = attr_id(b, 0, at);
        at = nb_add_nonresident(b, 15, NTFS_AT_DATA, NULL, &runs[1], 1, 4, 0, 0, 0, 0);
        id_d1 = attr_id(b, 15, at);
        n = nb_al_entry(list, n, NTFS_AT_STANDARD_INFORMATION, NULL, 0, 0, 1, id_si);
        n = nb_al_entry(list, n, NTFS_AT_FILE_NAME, NULL, 0, name_in_ext ? 15 : 0, 1, id_fn);
        n = nb_al_entry(list, n, NTFS_AT_DATA, NULL, 0, 0, 1, id_d0);
        n = nb_al_entry(list, n, NTFS_AT_DATA, NULL, 4, 15, 1, id_d1);
        nb_add_resident(b, 0, NTFS_AT_ATTRIBUTE_LIST, NULL, list, (uint32_t) n);
        nb_commit(b);
}

static void t_mft_attr_list(void)
{
        struct nb b;
        uint8_t hib[4] = { 'H', 'I', 'B', 'R' };

        mft_attr_list(&b, false);
        expect_clean(&b, "$MFT runs via an attribute list");
        nb_file(&b, 25, "HIBERFIL.SYS", NB_LCN_DATA, 1, hib, 4);
        {
                struct nb_name n = { "HIBERFIL.SYS", 25 };
                nb_root_small(&b, &n, 1);
        }
        nb_commit(&b);
        expect_not_clean(&b, "HIBERFIL.SYS in the second $MFT extent", "HIBR",
                         "ntfs.hiberfil.signature", nb_off(&b, NB_LCN_DATA));
        nb_done(&b);

        mft_attr_list(&b, true);
        expect_clean(&b, "$MFT's name in its extension record");
        nb_done(&b);

        /* the extension record claims another base */
        mft_attr_list(&b, false);
        put_le64(b.rec[15] + NTFS_MFT_OFF_BASE_REF, 3 | (uint64_t) 3 << 48);
        nb_commit(&b);
        expect_fail(&b, "$MFT extension with a foreign base", -EBADMSG, VC_PROBLEM_FS_CORRUPT,
                    "ntfs.mft.base_record", rec_at(&b, 15, NTFS_MFT_OFF_BASE_REF));
        nb_done(&b);

        /* the extension lies beyond the mapped part of $MFT: record 30 is in
         * the second run, which only the extension itself would map */
        mft_attr_list(&b, false);
        memcpy(b.rec[30], b.rec[15], NB_RS);
        put_le32(b.rec[30] + NTFS_MFT_OFF_RECORD_NUMBER, 30);
        b.used[30] = true;
        {
                uint32_t at = nb_find(&b, 0, NTFS_AT_ATTRIBUTE_LIST, 0);
                uint8_t *v = b.rec[0] + at + get_le16(b.rec[0] + at + 0x14);
                /* the 4th entry (VCN 4) -> record 30 */
                put_le64(v + 3 * 32 + NTFS_AL_OFF_MREF, 30 | (uint64_t) 1 << 48);
        }
        nb_commit(&b);
        expect_fail(&b, "$MFT extension only it could map", -EBADMSG, VC_PROBLEM_FS_CORRUPT,
                    "ntfs.mft.runlist", nb_off(&b, 4));
        nb_done(&b);
}

/*
 * $Bitmap of 1 KiB (8192 clusters of 512 bytes) in two extents: VCN 0 in
 * record 18, VCN 1 (elsewhere on disk) in record 19, base record 6 holding
 * only the list.  @mangle edits the list or the extension records.
 */
#define BM_LCN2 1900
static void bitmap_attr_list(struct nb *b, void (*mangle)(struct nb *b, uint8_t *list, size_t *n))
{
        uint8_t list[512];
        size_t n = 0;
        uint16_t id_si, id_fn, id_d0, id_d1;
        struct nb_run r0, r1 = { BM_LCN2, 1 };
        uint8_t si[0x48] = {};

        nb_init(b, 512, 8192, 0, NULL, 0);
        r0 = (struct nb_run) { b->bitmap_lcn, 1 };
        nb_rec_init(b, 6, NTFS_MFT_FLAG_IN_USE, 6, 0);
        id_si = attr_id(b, 6, nb_add_resident(b, 6, NTFS_AT_STANDARD_INFORMATION, NULL, si, sizeof si));
        id_fn = attr_id(b, 6, nb_add_filename(b, 6, NTFS_REC_ROOT, "$Bitmap"));
        nb_rec_init(b, 18, NTFS_MFT_FLAG_IN_USE, 18, 6 | (uint64_t) 6 << 48);
        nb_rec_init(b, 19, NTFS_MFT_FLAG_IN_USE, 19, 6 | (uint64_t) 6 << 48);
        id_d0 = attr_id(b, 18, nb_add_nonresident(b, 18, NTFS_AT_DATA, NULL, &r0, 1, 0, 1024, 1024, 1024, 0));
        id_d1 = attr_id(b, 19, nb_add_nonresident(b, 19, NTFS_AT_DATA, NULL, &r1, 1, 1, 0, 0, 0, 0));
        n = nb_al_entry(list, n, NTFS_AT_STANDARD_INFORMATION, NULL, 0, 6, 6, id_si);
        n = nb_al_entry(list, n, NTFS_AT_FILE_NAME, NULL, 0, 6, 6, id_fn);
        n = nb_al_entry(list, n, NTFS_AT_DATA, NULL, 0, 18, 18, id_d0);
        n = nb_al_entry(list, n, NTFS_AT_DATA, NULL, 1, 19, 19, id_d1);
        if (mangle)
                mangle(b, list, &n);
        nb_add_resident(b, 6, NTFS_AT_ATTRIBUTE_LIST, NULL, list, (uint32_t) n);
        nb_mark(b, BM_LCN2, 1, true);
        nb_mark(b, b->bitmap_lcn + 1, 7, false);        /* only LCN 640 of the old 8 */
        nb_mark(b, 5000, 100, true);                    /* something in the second half */
        nb_commit(b);
        memcpy(nb_at(b, BM_LCN2), b->bitmap + 512, 512);
        memset(nb_at(b, b->bitmap_lcn + 1), 0xEE, 512); /* the wrong place for VCN 1 */
}

/* Offset of list entry @i's field @f in record 6 (the list is the last attribute). */
static uint64_t al_at(struct nb *b, unsigned i, unsigned f)
{
        uint32_t at = nb_find(b, 6, NTFS_AT_ATTRIBUTE_LIST, 0);
        return rec_at(b, 6, at + get_le16(b->rec[6] + at + 0x14) + 32 * i + f);
}

static void m_self(struct nb *b, uint8_t *l, size_t *n)
{
        (void) b; (void) n;
        put_le64(l + 3 * 32 + NTFS_AL_OFF_MREF, 6 | (uint64_t) 6 << 48);      /* VCN 1 -> record 6 */
}
static void m_dup(struct nb *b, uint8_t *l, size_t *n)
{
        (void) b; (void) n;
        put_le64(l + 3 * 32 + NTFS_AL_OFF_START_VCN, 0);                      /* two VCN 0 */
}
static void m_loop(struct nb *b, uint8_t *l, size_t *n)
{
        (void) l; (void) n;
        put_le64(b->rec[18] + NTFS_MFT_OFF_BASE_REF, 19 | (uint64_t) 19 << 48); /* 18 -> 19 */
        put_le64(b->rec[19] + NTFS_MFT_OFF_BASE_REF, 18 | (uint64_t) 18 << 48); /* 19 -> 18 */
}
static void m_nested(struct nb *b, uint8_t *l, size_t *n)
{
        (void) n;
        nb_add_resident(b, 19, NTFS_AT_ATTRIBUTE_LIST, NULL, l, 32);
}
static void m_no_vcn0(struct nb *b, uint8_t *l, size_t *n)
{
        (void) b; (void) n;
        put_le32(l + 2 * 32 + NTFS_AL_OFF_TYPE, 0x70);      /* the VCN 0 entry is no longer $DATA */
}
static void m_gap(struct nb *b, uint8_t *l, size_t *n)
{
        (void) n;
        put_le64(l + 3 * 32 + NTFS_AL_OFF_START_VCN, 2);
        put_le64(b->rec[19] + nb_find(b, 19, NTFS_AT_DATA, 0) + NTFS_ATTR_OFF_LOWEST_VCN, 2);
        put_le64(b->rec[19] + nb_find(b, 19, NTFS_AT_DATA, 0) + NTFS_ATTR_OFF_HIGHEST_VCN, 2);
}
static void m_vcn_lie(struct nb *b, uint8_t *l, size_t *n)
{
        (void) b; (void) n;
        put_le64(l + 3 * 32 + NTFS_AL_OFF_START_VCN, 5);    /* record 19's extent starts at 1 */
}
static void m_seq(struct nb *b, uint8_t *l, size_t *n)
{
        (void) b; (void) n;
        put_le64(l + 3 * 32 + NTFS_AL_OFF_MREF, 19 | (uint64_t) 7 << 48);
}
static void m_unused(struct nb *b, uint8_t *l, size_t *n)
{
        (void) l; (void) n;
        put_le16(b->rec[19] + NTFS_MFT_OFF_FLAGS, 0);
}
static void m_entry_len(struct nb *b, uint8_t *l, size_t *n)
{
        (void) b; (void) n;
        put_le16(l + 2 * 32 + NTFS_AL_OFF_LENGTH, 0x300);
}
static void m_beyond_mft(struct nb *b, uint8_t *l, size_t *n)
{
        (void) b; (void) n;
        put_le64(l + 3 * 32 + NTFS_AL_OFF_MREF, 4000 | (uint64_t) 19 << 48);
}

static void t_bitmap_attr_list(void)
{
        struct nb b;

        bitmap_attr_list(&b, NULL);
        expect_clean(&b, "$Bitmap runs via an attribute list");
        nb_done(&b);

        bitmap_attr_list(&b, m_self);
        expect_fail(&b, "attr list entry pointing to itself", -EBADMSG, VC_PROBLEM_FS_CORRUPT,
                    "ntfs.attrlist.mft_reference", al_at(&b, 3, NTFS_AL_OFF_MREF));
        nb_done(&b);
        bitmap_attr_list(&b, m_dup);
        expect_fail(&b, "attr list duplicate VCN", -EBADMSG, VC_PROBLEM_FS_CORRUPT,
                    "ntfs.attrlist.start_vcn", al_at(&b, 3, NTFS_AL_OFF_START_VCN));
        nb_done(&b);
        bitmap_attr_list(&b, m_loop);
        expect_fail(&b, "extension records forming a cycle", -EBADMSG, VC_PROBLEM_FS_CORRUPT,
                    "ntfs.mft.base_record", rec_at(&b, 18, NTFS_MFT_OFF_BASE_REF));
        nb_done(&b);
        bitmap_attr_list(&b, m_nested);
        expect_fail(&b, "extension holding a list", -EBADMSG, VC_PROBLEM_FS_CORRUPT,
                    "ntfs.attr.type", rec_at(&b, 19, nb_find(&b, 19, NTFS_AT_ATTRIBUTE_LIST, 0)));
        nb_done(&b);
        bitmap_attr_list(&b, m_no_vcn0);
        expect_fail(&b, "no extent at VCN 0", -EBADMSG, VC_PROBLEM_FS_CORRUPT,
                    "ntfs.attrlist.start_vcn", al_at(&b, 3, NTFS_AL_OFF_START_VCN));
        nb_done(&b);
        bitmap_attr_list(&b, m_gap);
        expect_fail(&b, "gap between extents", -EBADMSG, VC_PROBLEM_FS_CORRUPT,
                    "ntfs.attr.lowest_vcn",
                    rec_at(&b, 19, nb_find(&b, 19, NTFS_AT_DATA, 0) + NTFS_ATTR_OFF_LOWEST_VCN));
        nb_done(&b);
        bitmap_attr_list(&b, m_vcn_lie);
        expect_fail(&b, "list VCN differs from the extent", -EBADMSG, VC_PROBLEM_FS_CORRUPT,
                    "ntfs.attrlist.start_vcn", al_at(&b, 3, NTFS_AL_OFF_START_VCN));
        nb_done(&b);
        bitmap_attr_list(&b, m_seq);
        expect_fail(&b, "list entry with a stale sequence", -EBADMSG, VC_PROBLEM_FS_CORRUPT,
                    "ntfs.attrlist.mft_reference", al_at(&b, 3, NTFS_AL_OFF_MREF));
        nb_done(&b);
        bitmap_attr_list(&b, m_unused);
        expect_fail(&b, "extension record not in use", -EBADMSG, VC_PROBLEM_FS_CORRUPT,
                    "ntfs.mft.base_record", rec_at(&b, 19, NTFS_MFT_OFF_BASE_REF));
        nb_done(&b);
        bitmap_attr_list(&b, m_entry_len);
        expect_fail(&b, "list entry longer than the list", -EBADMSG, VC_PROBLEM_FS_CORRUPT,
                    "ntfs.attrlist.entry_length", al_at(&b, 2, NTFS_AL_OFF_LENGTH));
        nb_done(&b);
        bitmap_attr_list(&b, m_beyond_mft);
        expect_fail(&b, "list entry naming record 4000", -EBADMSG, VC_PROBLEM_FS_CORRUPT,
                    "ntfs.mft.record_number", nb_off(&b, b.mft[0].lcn));
        nb_done(&b);

        /* absurd counts: a non-resident list of 4200 $DATA entries (>
         * NTFS_MAX_EXTENTS), and one claiming 1 MiB */
        for (int big = 0; big < 2; big++) {
                const size_t entries = 4200, len = (entries + 1) * 32;
                uint8_t *list = calloc(1, len);
                struct nb_run run = { 800, (len + 511) / 512 };
                uint32_t at;

                ASSERT_TRUE(list);
                nb_init(&b, 512, 8192, 0, NULL, 0);
                nb_al_entry(list, 0, NTFS_AT_FILE_NAME, NULL, 0, 6, 6,
                            attr_id(&b, 6, nb_find(&b, 6, NTFS_AT_FILE_NAME, 0)));
                for (size_t i = 0; i < entries; i++)
                        nb_al_entry(list, 32 * (i + 1), NTFS_AT_DATA, NULL, i, 18, 18, 0);
                nb_mark(&b, run.lcn, run.len, true);
                at = nb_add_nonresident(&b, 6, NTFS_AT_ATTRIBUTE_LIST, NULL, &run, 1, 0,
                                        run.len * 512, big ? 1u << 20 : len, big ? 1u << 20 : len, 0);
                if (big)
                        put_le64(b.rec[6] + at + NTFS_ATTR_OFF_ALLOCATED_SIZE, 1u << 20);
                nb_commit(&b);
                memcpy(nb_at(&b, run.lcn), list, len);
                if (!big)
                        expect_fail(&b, "4200 extents", -EOPNOTSUPP, VC_PROBLEM_FS_UNSUPPORTED,
                                    "ntfs.attrlist.entry_length",
                                    nb_off(&b, 800) + 32 * (NTFS_MAX_EXTENTS + 1));
                else
                        expect_fail(&b, "1 MiB attribute list (capped before reading)",
                                    -EOPNOTSUPP, VC_PROBLEM_FS_UNSUPPORTED, "ntfs.attr.data_size",
                                    rec_at(&b, 6, at + NTFS_ATTR_OFF_DATA_SIZE));
                nb_done(&b);
                free(list);
        }
}

/* ---- corruption ------------------------------------------------------------ */

static void t_corrupt(void)
{
        struct nb b;
        uint32_t at;

        /* boot sector */
        nb_default(&b);
        put_le64(b.disk + b.part_start + NTFS_BOOT_OFF_MFT_LCN, 256);
        expect_fail(&b, "MFT LCN outside the volume", -EBADMSG, VC_PROBLEM_FS_CORRUPT,
                    "ntfs.boot.mft_lcn", b.part_start + NTFS_BOOT_OFF_MFT_LCN);
        put_le64(b.disk + b.part_start + NTFS_BOOT_OFF_MFT_LCN, 80);
        expect_fail(&b, "MFT LCN at the bitmap", -EBADMSG, VC_PROBLEM_FS_CORRUPT,
                    "ntfs.mft.magic", nb_off(&b, 80));
        put_le64(b.disk + b.part_start + NTFS_BOOT_OFF_MFT_LCN, 5);
        expect_fail(&b, "MFT LCN one cluster late", -EBADMSG, VC_PROBLEM_FS_CORRUPT,
                    "ntfs.mft.record_number", nb_off(&b, 5) + NTFS_MFT_OFF_RECORD_NUMBER);
        nb_commit(&b);
        b.disk[b.part_start + NTFS_BOOT_OFF_SECTORS_PER_CLUS] = 0x90;
        expect_fail(&b, "negative-exponent garbage", -EBADMSG, VC_PROBLEM_FS_CORRUPT,
                    "ntfs.boot.sectors_per_cluster", b.part_start + NTFS_BOOT_OFF_SECTORS_PER_CLUS);
        nb_commit(&b);
        put_le64(b.disk + b.part_start + NTFS_BOOT_OFF_TOTAL_SECTORS, 256 * 8 + 2);
        expect_fail(&b, "volume larger than the partition", -EBADMSG, VC_PROBLEM_FS_CORRUPT,
                    "ntfs.boot.total_sectors", b.part_start + NTFS_BOOT_OFF_TOTAL_SECTORS);
        nb_done(&b);

        /* MFT records */
        nb_default(&b);
        b.disk[rec_at(&b, 6, 1022)] ^= 0x01;
        expect_fail(&b, "torn $Bitmap record", -EBADMSG, VC_PROBLEM_FS_CORRUPT, "ntfs.mft.fixup",
                    rec_at(&b, 6, 1022));
        nb_commit(&b);
        put_le32(b.disk + rec_at(&b, 6, 0), NTFS_MAGIC_BAAD);
        expect_fail(&b, "BAAD $Bitmap record", -EBADMSG, VC_PROBLEM_FS_CORRUPT, "ntfs.mft.magic",
                    rec_at(&b, 6, 0));
        nb_commit(&b);
        put_le16(b.disk + rec_at(&b, 6, 6), 2);
        expect_fail(&b, "USA count of record 6", -EBADMSG, VC_PROBLEM_FS_CORRUPT,
                    "ntfs.mft.usa_count", rec_at(&b, 6, 6));
        nb_commit(&b);
        put_le16(b.disk + rec_at(&b, 0, 510), 0x7777);
        expect_fail(&b, "torn record 0", -EBADMSG, VC_PROBLEM_FS_CORRUPT, "ntfs.mft.fixup",
                    rec_at(&b, 0, 510));
        nb_done(&b);

        nb_default(&b);
        put_le32(b.rec[6] + NTFS_MFT_OFF_BYTES_ALLOCATED, 4096);
        nb_commit(&b);
        expect_fail(&b, "record size field", -EBADMSG, VC_PROBLEM_FS_CORRUPT,
                    "ntfs.mft.bytes_allocated", rec_at(&b, 6, NTFS_MFT_OFF_BYTES_ALLOCATED));
        put_le32(b.rec[6] + NTFS_MFT_OFF_BYTES_ALLOCATED, NB_RS);
        put_le32(b.rec[6] + NTFS_MFT_OFF_BYTES_USED, 2000);
        nb_commit(&b);
        expect_fail(&b, "bytes used beyond the record", -EBADMSG, VC_PROBLEM_FS_CORRUPT,
                    "ntfs.mft.bytes_used", rec_at(&b, 6, NTFS_MFT_OFF_BYTES_USED));
        nb_done(&b);

        nb_default(&b);
        put_le16(b.rec[6] + NTFS_MFT_OFF_ATTRS_OFFSET, 0x3F0);
        nb_commit(&b);
        expect_fail(&b, "first attribute past bytes used", -EBADMSG, VC_PROBLEM_FS_CORRUPT,
                    "ntfs.mft.attrs_offset", rec_at(&b, 6, NTFS_MFT_OFF_ATTRS_OFFSET));
        nb_done(&b);

        nb_default(&b);
        at = nb_find(&b, 6, NTFS_AT_DATA, 0);
        put_le32(b.rec[6] + at + 4, 0xFFF8);
        nb_commit(&b);
        expect_fail(&b, "attribute length past the record", -EBADMSG, VC_PROBLEM_FS_CORRUPT,
                    "ntfs.attr.length", rec_at(&b, 6, at + 4));
        nb_done(&b);

        nb_default(&b);
        at = nb_find(&b, 6, NTFS_AT_DATA, 0);
        put_le16(b.rec[6] + at + NTFS_ATTR_OFF_MAPPING_PAIRS, 0x1000);
        nb_commit(&b);
        expect_fail(&b, "mapping pairs offset outside", -EBADMSG, VC_PROBLEM_FS_CORRUPT,
                    "ntfs.attr.mapping_pairs_offset", rec_at(&b, 6, at + NTFS_ATTR_OFF_MAPPING_PAIRS));
        nb_done(&b);

        /* record 6 itself */
        nb_default(&b);
        at = nb_find(&b, 6, NTFS_AT_FILE_NAME, 0);
        b.rec[6][at + 0x18 + NTFS_FN_OFF_NAME + 12] = 'q';     /* "$Bitmaq" */
        nb_commit(&b);
        expect_fail(&b, "record 6 named $Bitmaq", -EBADMSG, VC_PROBLEM_FS_CORRUPT,
                    "ntfs.bitmap.file_name", rec_at(&b, 6, at + 0x18 + NTFS_FN_OFF_NAME));
        nb_done(&b);

        nb_default(&b);
        at = nb_find(&b, 6, NTFS_AT_FILE_NAME, 0);
        nb_remove(&b, 6, at);
        nb_commit(&b);
        expect_fail(&b, "record 6 without a name", -EBADMSG, VC_PROBLEM_FS_CORRUPT,
                    "ntfs.bitmap.file_name", rec_at(&b, 6, 0x38));
        nb_done(&b);

        nb_default(&b);
        put_le16(b.rec[6] + NTFS_MFT_OFF_SEQUENCE, 7);
        nb_commit(&b);
        expect_fail(&b, "record 6 sequence 7", -EBADMSG, VC_PROBLEM_FS_CORRUPT, "ntfs.mft.sequence",
                    rec_at(&b, 6, NTFS_MFT_OFF_SEQUENCE));
        put_le16(b.rec[6] + NTFS_MFT_OFF_SEQUENCE, 6);
        put_le16(b.rec[6] + NTFS_MFT_OFF_FLAGS, 0);
        nb_commit(&b);
        expect_fail(&b, "record 6 not in use", -EBADMSG, VC_PROBLEM_FS_CORRUPT, "ntfs.mft.flags",
                    rec_at(&b, 6, NTFS_MFT_OFF_FLAGS));
        put_le16(b.rec[6] + NTFS_MFT_OFF_FLAGS, 1);
        put_le64(b.rec[6] + NTFS_MFT_OFF_BASE_REF, 5);
        nb_commit(&b);
        expect_fail(&b, "record 6 an extension", -EBADMSG, VC_PROBLEM_FS_CORRUPT,
                    "ntfs.mft.base_record", rec_at(&b, 6, NTFS_MFT_OFF_BASE_REF));
        nb_done(&b);

        /* $Bitmap's data */
        {
                struct nb_run past = { 254, 4 }, hole = { NB_HOLE, 1 };

                nb_default(&b);
                at = nb_find(&b, 6, NTFS_AT_DATA, 0);
                nb_remove(&b, 6, at);
                at = nb_add_nonresident(&b, 6, NTFS_AT_DATA, NULL, &past, 1, 0, 4 * 4096, 32, 32, 0);
                nb_commit(&b);
                expect_fail(&b, "$Bitmap runlist past the volume end", -EBADMSG, VC_PROBLEM_FS_CORRUPT,
                            "ntfs.runlist.lcn", rec_at(&b, 6, at + 0x40 + 2));
                nb_done(&b);

                nb_default(&b);
                at = nb_find(&b, 6, NTFS_AT_DATA, 0);
                nb_remove(&b, 6, at);
                at = nb_add_nonresident(&b, 6, NTFS_AT_DATA, NULL, &hole, 1, 0, 4096, 32, 32, 0);
                nb_commit(&b);
                expect_fail(&b, "$Bitmap sparse run", -EBADMSG, VC_PROBLEM_FS_CORRUPT,
                            "ntfs.bitmap.runlist", rec_at(&b, 6, at));
                nb_done(&b);
        }

        nb_default(&b);
        at = nb_find(&b, 6, NTFS_AT_DATA, 0);
        put_le64(b.rec[6] + at + NTFS_ATTR_OFF_DATA_SIZE, 31);
        put_le64(b.rec[6] + at + NTFS_ATTR_OFF_INITIALIZED_SIZE, 31);
        nb_commit(&b);
        expect_fail(&b, "$Bitmap shorter than the clusters", -EBADMSG, VC_PROBLEM_FS_CORRUPT,
                    "ntfs.bitmap.data_size", rec_at(&b, 6, at + NTFS_ATTR_OFF_DATA_SIZE));
        put_le64(b.rec[6] + at + NTFS_ATTR_OFF_DATA_SIZE, 32);
        put_le64(b.rec[6] + at + NTFS_ATTR_OFF_INITIALIZED_SIZE, 16);
        nb_commit(&b);
        expect_fail(&b, "$Bitmap initialized short", -EBADMSG, VC_PROBLEM_FS_CORRUPT,
                    "ntfs.bitmap.initialized_size", rec_at(&b, 6, at + NTFS_ATTR_OFF_INITIALIZED_SIZE));
        put_le64(b.rec[6] + at + NTFS_ATTR_OFF_INITIALIZED_SIZE, 32);
        put_le16(b.rec[6] + at + NTFS_ATTR_OFF_FLAGS, 0x0001);
        nb_commit(&b);
        expect_fail(&b, "$Bitmap compressed", -EOPNOTSUPP, VC_PROBLEM_FS_UNSUPPORTED,
                    "ntfs.bitmap.flags", rec_at(&b, 6, at + NTFS_ATTR_OFF_FLAGS));
        put_le16(b.rec[6] + at + NTFS_ATTR_OFF_FLAGS, 0);
        put_le64(b.rec[6] + at + NTFS_ATTR_OFF_ALLOCATED_SIZE, 8192);
        nb_commit(&b);
        expect_fail(&b, "$Bitmap allocated size vs runs", -EBADMSG, VC_PROBLEM_FS_CORRUPT,
                    "ntfs.attr.allocated_size", rec_at(&b, 6, at + NTFS_ATTR_OFF_ALLOCATED_SIZE));
        nb_done(&b);

        /* a resident $Bitmap (tiny volumes) is fine */
        nb_default(&b);
        at = nb_find(&b, 6, NTFS_AT_DATA, 0);
        nb_remove(&b, 6, at);
        nb_add_resident(&b, 6, NTFS_AT_DATA, NULL, b.bitmap, 32);
        nb_commit(&b);
        expect_clean(&b, "resident $Bitmap");
        nb_remove(&b, 6, nb_find(&b, 6, NTFS_AT_DATA, 0));
        nb_add_resident(&b, 6, NTFS_AT_DATA, NULL, b.bitmap, 24);
        nb_commit(&b);
        expect_fail(&b, "resident $Bitmap too short", -EBADMSG, VC_PROBLEM_FS_CORRUPT,
                    "ntfs.bitmap.data_size",
                    rec_at(&b, 6, nb_find(&b, 6, NTFS_AT_DATA, 0) + NTFS_ATTR_OFF_VALUE_LENGTH));
        nb_done(&b);

        /* the bitmap contradicts what we read: $MFT's cluster marked free */
        nb_default(&b);
        nb_mark(&b, 6, 1, false);
        nb_commit(&b);
        expect_fail(&b, "bitmap says an MFT cluster is free", -EBADMSG, VC_PROBLEM_FS_CORRUPT,
                    "ntfs.bitmap.data", nb_off(&b, 80));
        nb_mark(&b, 6, 1, true);
        nb_mark(&b, 80, 1, false);
        nb_commit(&b);
        expect_fail(&b, "bitmap says its own cluster is free", -EBADMSG, VC_PROBLEM_FS_CORRUPT,
                    "ntfs.bitmap.data", nb_off(&b, 80) + 10);
        nb_mark(&b, 80, 1, true);
        nb_mark(&b, 0, 1, false);
        nb_commit(&b);
        expect_fail(&b, "bitmap says the boot sector is free", -EBADMSG, VC_PROBLEM_FS_CORRUPT,
                    "ntfs.bitmap.data", nb_off(&b, 80));
        nb_done(&b);

        /* a late failure undoes the runs already appended, including one
         * merged into the caller's last range */
        {
                struct vc_freemap m = {};
                struct vc_problems ps = {};
                struct ntfs_info info;
                uint64_t s0 = nb_off(&b, 2) - 1024;

                nb_default(&b);
                nb_mark(&b, 80, 1, false);
                nb_commit(&b);
                ASSERT_OK(freemap_add(&m, s0, 1024));
                ASSERT_EQ_INT(scan(&b, false, &m, &info, &ps, NULL), -EBADMSG);
                ASSERT_EQ_U64(m.n, 1);
                ASSERT_EQ_U64(m.v[0].start, s0);
                ASSERT_EQ_U64(m.v[0].len, 1024);
                ASSERT_PROBLEM(&ps.first, VC_PROBLEM_FS_CORRUPT, "ntfs.bitmap.data", nb_off(&b, 80) + 10);
                printf("bad  %-44s caller's map restored\n", "late failure after a merge");
                freemap_done(&m);
                nb_done(&b);
        }

        /* $BadClus */
        nb_default(&b);
        nb_remove(&b, 8, nb_find(&b, 8, NTFS_AT_DATA, 1));
        nb_commit(&b);
        expect_fail(&b, "$BadClus without $Bad", -EBADMSG, VC_PROBLEM_FS_CORRUPT, "ntfs.badclus.data",
                    rec_at(&b, 8, 0x38));
        nb_done(&b);

        /* $Volume */
        nb_default(&b);
        at = nb_find(&b, 3, NTFS_AT_VOLUME_INFORMATION, 0);
        b.rec[3][at + 0x18 + NTFS_VI_OFF_MAJOR] = 4;
        nb_commit(&b);
        expect_fail(&b, "NTFS version 4.1", -EOPNOTSUPP, VC_PROBLEM_FS_UNSUPPORTED,
                    "ntfs.volume.version", rec_at(&b, 3, at + 0x18 + NTFS_VI_OFF_MAJOR));
        nb_remove(&b, 3, at);
        nb_commit(&b);
        expect_fail(&b, "no $VOLUME_INFORMATION", -EBADMSG, VC_PROBLEM_FS_CORRUPT,
                    "ntfs.volume.information", rec_at(&b, 3, 0x38));
        nb_done(&b);

        /* a partition the disk does not hold */
        nb_default(&b);
        b.part_start = b.disk_size;
        expect_fail(&b, "partition past the disk", -EBADMSG, VC_PROBLEM_FS_CORRUPT, "ntfs.boot",
                    b.disk_size);
        nb_done(&b);
}

/* $BadClus:$Bad runs are never granted, even when the bitmap says free. */
static void t_bad_clusters(void)
{
        struct nb b;
        const struct nb_run runs[] = { { NB_HOLE, 200 }, { 200, 4 }, { NB_HOLE, 20 }, { 224, 2 },
                                       { NB_HOLE, 30 } };
        struct ntfs_info info;
        struct vc_freemap m = {};

        nb_default(&b);
        nb_remove(&b, 8, nb_find(&b, 8, NTFS_AT_DATA, 1));
        nb_add_nonresident(&b, 8, NTFS_AT_DATA, "$Bad", runs, 5, 0, 256 * 4096, 256 * 4096,
                           256 * 4096, NTFS_ATTR_FLAG_SPARSE);
        nb_commit(&b);
        bad[0] = runs[1];
        bad[1] = runs[3];
        nbad = 2;
        expect_clean(&b, "bad clusters clear in the bitmap");
        ASSERT_OK(scan(&b, false, &m, &info, NULL, NULL));
        ASSERT_EQ_U64(info.bad_clusters, 6);
        ASSERT_EQ_U64(freemap_covered(&m, nb_off(&b, 200), 4 * 4096), 0);
        ASSERT_EQ_U64(freemap_covered(&m, nb_off(&b, 224), 2 * 4096), 0);
        ASSERT_EQ_U64(freemap_covered(&m, nb_off(&b, 204), 20 * 4096), 20 * 4096);
        freemap_done(&m);
        nb_mark(&b, 200, 4, true);
        nb_mark(&b, 224, 2, true);
        nb_commit(&b);
        expect_clean(&b, "bad clusters set in the bitmap");
        nbad = 0;
        nb_done(&b);
}

/* ---- not clean ------------------------------------------------------------ */

static void t_volume_flags(void)
{
        struct nb b;
        uint32_t at;

        nb_default(&b);
        at = nb_find(&b, 3, NTFS_AT_VOLUME_INFORMATION, 0);
        put_le16(b.rec[3] + at + 0x18 + NTFS_VI_OFF_FLAGS, NTFS_VOLUME_IS_DIRTY);
        nb_commit(&b);
        expect_not_clean(&b, "dirty flag", "dirty", "ntfs.volume.flags",
                         rec_at(&b, 3, at + 0x18 + NTFS_VI_OFF_FLAGS));
        put_le16(b.rec[3] + at + 0x18 + NTFS_VI_OFF_FLAGS, NTFS_VOLUME_CHKDSK_UNDERWAY);
        nb_commit(&b);
        expect_not_clean(&b, "chkdsk underway", "chkdsk", "ntfs.volume.flags",
                         rec_at(&b, 3, at + 0x18 + NTFS_VI_OFF_FLAGS));
        put_le16(b.rec[3] + at + 0x18 + NTFS_VI_OFF_FLAGS, 0x0020);   /* repair object id: fine */
        nb_commit(&b);
        expect_clean(&b, "harmless volume flag");
        nb_done(&b);
}

static uint64_t ra_flags_at(struct nb *b, uint64_t pos)
{
        return nb_off(b, NB_LCN_LOG * b->k) + pos + 0x30 + NTFS_RA_OFF_FLAGS;
}

static void t_logfile(void)
{
        struct nb b;
        uint8_t *log;

        nb_default(&b);
        log = nb_at(&b, NB_LCN_LOG);

        nb_restart_page(&b, 0, NTFS_MAGIC_RSTR, 100, 0, NTFS_RESTART_VOLUME_IS_CLEAN);
        nb_restart_page(&b, 4096, NTFS_MAGIC_RSTR, 90, 0, NTFS_RESTART_VOLUME_IS_CLEAN);
        expect_clean(&b, "restart areas: clean shutdown");

        nb_restart_page(&b, 0, NTFS_MAGIC_RSTR, 100, 0, 0);
        expect_not_clean(&b, "restart area: client in use, not clean", "not closed cleanly",
                         "ntfs.logfile.restart_area.flags", ra_flags_at(&b, 0));

        nb_restart_page(&b, 0, NTFS_MAGIC_RSTR, 100, NTFS_LOGFILE_NO_CLIENT, 0);
        expect_clean(&b, "restart area: no client in use");

        /* the newer of the two decides */
        nb_restart_page(&b, 0, NTFS_MAGIC_RSTR, 100, 0, NTFS_RESTART_VOLUME_IS_CLEAN);
        nb_restart_page(&b, 4096, NTFS_MAGIC_RSTR, 200, 0, 0);
        expect_not_clean(&b, "newer second restart area unclean", "not closed cleanly",
                         "ntfs.logfile.restart_area.flags", ra_flags_at(&b, 4096));
        nb_restart_page(&b, 0, NTFS_MAGIC_RSTR, 300, 0, NTFS_RESTART_VOLUME_IS_CLEAN);
        expect_clean(&b, "older second restart area unclean");

        /* chkdsk's page without an update sequence array */
        nb_restart_page(&b, 0, NTFS_MAGIC_CHKD, 400, 0, NTFS_RESTART_VOLUME_IS_CLEAN);
        put_le16(log + 6, 0);
        expect_clean(&b, "CHKD restart page without USA");

        /* doubts */
        nb_restart_page(&b, 0, NTFS_MAGIC_RSTR, 500, 0, NTFS_RESTART_VOLUME_IS_CLEAN);
        log[1022] ^= 1;
        expect_not_clean(&b, "torn restart page", "cannot tell", "ntfs.logfile.restart_page",
                         nb_off(&b, NB_LCN_LOG));
        nb_restart_page(&b, 0, NTFS_MAGIC_RSTR, 500, 0, NTFS_RESTART_VOLUME_IS_CLEAN);
        put_le16(log + NTFS_RP_OFF_MAJOR, 3);
        nb_protect(log, 4096, 0x1E, 0x0808);
        expect_not_clean(&b, "log version 3.1", "cannot tell", "ntfs.logfile.restart_page",
                         nb_off(&b, NB_LCN_LOG));
        nb_restart_page(&b, 0, NTFS_MAGIC_RSTR, 500, 5, NTFS_RESTART_VOLUME_IS_CLEAN);
        expect_not_clean(&b, "in-use list past the clients", "cannot tell",
                         "ntfs.logfile.restart_page", nb_off(&b, NB_LCN_LOG));
        nb_restart_page(&b, 0, NTFS_MAGIC_RSTR, 500, 0, NTFS_RESTART_VOLUME_IS_CLEAN);
        put_le16(log + 0x30 + 0x40 + NTFS_LCR_OFF_NEXT, 0);  /* client 0 -> client 0 */
        nb_protect(log, 4096, 0x1E, 0x0909);
        expect_not_clean(&b, "looping client list", "cannot tell", "ntfs.logfile.restart_page",
                         nb_off(&b, NB_LCN_LOG));

        /* not empty, no restart page */
        memset(log, 0xFF, 8192);
        put_le32(log, NTFS_MAGIC_RCRD);
        expect_not_clean(&b, "log records but no restart page", "no restart page",
                         "ntfs.logfile.restart_page", rec_at(&b, 2, nb_find(&b, 2, NTFS_AT_DATA, 0)));
        nb_done(&b);

        /* a resident $LogFile is corrupt */
        nb_default(&b);
        nb_remove(&b, 2, nb_find(&b, 2, NTFS_AT_DATA, 0));
        nb_add_resident(&b, 2, NTFS_AT_DATA, NULL, "x", 1);
        nb_commit(&b);
        expect_fail(&b, "resident $LogFile", -EBADMSG, VC_PROBLEM_FS_CORRUPT, "ntfs.logfile.data",
                    rec_at(&b, 2, nb_find(&b, 2, NTFS_AT_DATA, 0)));
        nb_done(&b);
}

/* ---- hibernation ---------------------------------------------------------- */

static void t_hiberfil(void)
{
        struct nb b;
        const uint8_t hibr[8] = "hibrXXXX", wake[8] = "wakeXXXX";
        struct nb_name one = { "hiberfil.sys", 20 };

        /* resident root index */
        nb_default(&b);
        nb_file(&b, 20, "hiberfil.sys", NB_LCN_DATA, 2, hibr, 8);
        nb_root_small(&b, &one, 1);
        nb_commit(&b);
        expect_not_clean(&b, "hiberfil.sys 'hibr' in the root", "hibernated",
                         "ntfs.hiberfil.signature", nb_off(&b, NB_LCN_DATA));
        memcpy(nb_at(&b, NB_LCN_DATA), wake, 8);
        expect_clean(&b, "hiberfil.sys 'wake'");
        memset(nb_at(&b, NB_LCN_DATA), 0, 8);
        expect_clean(&b, "hiberfil.sys zeroed");
        {
                const struct nb_name names[] = { { "a", 21 }, { "hiberfil.sy", 22 }, { "hiberfil.sysx", 23 },
                                                 { "z", 24 } };
                memcpy(nb_at(&b, NB_LCN_DATA), hibr, 8);
                nb_root_small(&b, names, 4);
                nb_commit(&b);
                expect_clean(&b, "only names near hiberfil.sys");
        }
        nb_done(&b);

        /* a resident hiberfil.sys, and an empty one */
        nb_default(&b);
        nb_file(&b, 20, "hiberfil.sys", NB_LCN_DATA, 1, hibr, 8);
        nb_remove(&b, 20, nb_find(&b, 20, NTFS_AT_DATA, 0));
        nb_add_resident(&b, 20, NTFS_AT_DATA, NULL, hibr, 8);
        nb_root_small(&b, &one, 1);
        nb_commit(&b);
        expect_not_clean(&b, "resident hiberfil.sys", "hibernated", "ntfs.hiberfil.signature",
                         rec_at(&b, 20, nb_find(&b, 20, NTFS_AT_DATA, 0)));
        nb_remove(&b, 20, nb_find(&b, 20, NTFS_AT_DATA, 0));
        nb_add_resident(&b, 20, NTFS_AT_DATA, NULL, NULL, 0);
        nb_commit(&b);
        expect_clean(&b, "empty hiberfil.sys");
        nb_done(&b);

        /* a sparse first cluster reads as zeros */
        nb_default(&b);
        nb_file(&b, 20, "hiberfil.sys", NB_LCN_DATA, 1, hibr, 8);
        {
                struct nb_run runs[] = { { NB_HOLE, 1 }, { NB_LCN_DATA, 1 } };
                nb_remove(&b, 20, nb_find(&b, 20, NTFS_AT_DATA, 0));
                nb_add_nonresident(&b, 20, NTFS_AT_DATA, NULL, runs, 2, 0, 8192, 8192, 8192,
                                   NTFS_ATTR_FLAG_SPARSE);
        }
        nb_root_small(&b, &one, 1);
        nb_commit(&b);
        expect_clean(&b, "sparse start of hiberfil.sys");
        nb_done(&b);

        /* two-level B-tree: in the right leaf, in the left leaf, absent */
        {
                const struct nb_name left[] = { { "$AttrDef", 4 }, { "a.txt", 21 }, { "boot.ini", 22 } },
                                     right[] = { { "hiberfil.sys", 20 }, { "pagefile.sys", 23 },
                                                 { "zz", 24 } },
                                     left2[] = { { "a.txt", 21 }, { "HiberFil.Sys", 20 } },
                                     right2[] = { { "zz", 24 } };
                struct nb_name key = { "file.txt", 25 }, key2 = { "pagefile.sys", 23 };

                nb_default(&b);
                nb_file(&b, 20, "hiberfil.sys", NB_LCN_DATA, 1, hibr, 8);
                nb_root_tree(&b, left, 3, key, right, 3);
                nb_commit(&b);
                expect_not_clean(&b, "hiberfil.sys in the right INDX leaf", "hibernated",
                                 "ntfs.hiberfil.signature", nb_off(&b, NB_LCN_DATA));
                nb_root_tree(&b, left2, 2, key2, right2, 1);
                nb_commit(&b);
                expect_not_clean(&b, "HiberFil.Sys in the left INDX leaf", "hibernated",
                                 "ntfs.hiberfil.signature", nb_off(&b, NB_LCN_DATA));
                nb_root_tree(&b, left, 3, key, right2, 1);
                nb_commit(&b);
                expect_clean(&b, "B-tree without hiberfil.sys");

                /* corrupt index: cannot tell -> not clean */
                nb_root_tree(&b, left, 3, key, right, 3);
                nb_commit(&b);
                nb_at(&b, NB_LCN_INDEX)[4096 + 1022] ^= 1;
                expect_not_clean(&b, "torn INDX block", "cannot tell", "ntfs.indx.fixup",
                                 nb_off(&b, NB_LCN_INDEX) + 4096 + 1022);
                nb_root_tree(&b, left, 3, key, right, 3);
                nb_commit(&b);
                put_le32(nb_at(&b, NB_LCN_INDEX) + 4096, 0x41414141);
                expect_not_clean(&b, "INDX magic", "cannot tell", "ntfs.index.magic",
                                 nb_off(&b, NB_LCN_INDEX) + 4096);
                nb_root_tree(&b, left, 3, key, right, 3);
                nb_commit(&b);
                put_le64(nb_at(&b, NB_LCN_INDEX) + 4096 + NTFS_INDX_OFF_VCN, 0);
                nb_protect(nb_at(&b, NB_LCN_INDEX) + 4096, 4096, 0x28, 0x4343);
                expect_not_clean(&b, "INDX block with the wrong VCN", "cannot tell", "ntfs.index.vcn",
                                 nb_off(&b, NB_LCN_INDEX) + 4096 + NTFS_INDX_OFF_VCN);
                nb_done(&b);
        }

        /* a sub-node pointing back at itself: the descent stops */
        {
                const struct nb_name none[] = { { "zz", 24 } };
                struct nb_name key = { "a", 21 };
                uint8_t *blk;

                nb_default(&b);
                nb_root_tree(&b, none, 0, key, none, 1);
                nb_commit(&b);
                /* block 1's END entry: make it a node pointing to block 1 */
                blk = nb_at(&b, NB_LCN_INDEX) + 4096;
                memset(blk, 0, 4096);
                put_le32(blk, NTFS_MAGIC_INDX);
                put_le64(blk + NTFS_INDX_OFF_VCN, 1);
                put_le32(blk + 0x18, 0x28);
                put_le32(blk + 0x18 + 4, 0x28 + 0x18);
                put_le32(blk + 0x18 + 8, 4096 - 0x18);
                nb_index_end(blk + 0x40, true, 1);
                nb_protect(blk, 4096, 0x28, 0x4444);
                expect_not_clean(&b, "index sub-node loop", "loops back", "ntfs.index.vcn",
                                 rec_at(&b, 5, nb_find(&b, 5, NTFS_AT_INDEX_ROOT, 0)));
                nb_done(&b);
        }

        /* the root's index entry names a record that is not hiberfil.sys's */
        nb_default(&b);
        nb_file(&b, 20, "hiberfil.sys", NB_LCN_DATA, 1, hibr, 8);
        put_le16(b.rec[20] + NTFS_MFT_OFF_SEQUENCE, 999);
        nb_root_small(&b, &one, 1);
        nb_commit(&b);
        expect_not_clean(&b, "index entry with a stale sequence", "cannot tell", "ntfs.mft.sequence",
                         rec_at(&b, 20, 0));
        nb_done(&b);

        /* collation that needs $UpCase: 0xFF folds to 'H' in this volume's
         * table, so "\xFFA" sorts before "HIBERFIL.SYS" and hiberfil.sys is in
         * the right leaf; comparing raw units would go left and miss it. */
        {
                const struct nb_name left[] = { { "a.txt", 21 } }, right[] = { { "hiberfil.sys", 20 } };
                struct nb_name key = { "\xFF" "A", 25 };
                struct vc_freemap m = {};
                struct ntfs_info info;
                uint64_t nread;

                nb_default(&b);
                put_le16(nb_at(&b, NB_LCN_UPCASE) + 2 * 0xFF, 'H');
                nb_file(&b, 20, "hiberfil.sys", NB_LCN_DATA, 1, hibr, 8);
                nb_root_tree(&b, left, 1, key, right, 1);
                nb_commit(&b);
                expect_not_clean(&b, "descent steered by $UpCase", "hibernated",
                                 "ntfs.hiberfil.signature", nb_off(&b, NB_LCN_DATA));
                ASSERT_OK(scan(&b, true, &m, &info, NULL, &nread));
                ASSERT_TRUE(nread > NTFS_UPCASE_SIZE);
                freemap_done(&m);
                nb_done(&b);
        }
}

int main(void)
{
        t_clean();
        t_tail();
        t_fragmented_mft();
        t_mft_attr_list();
        t_bitmap_attr_list();
        t_corrupt();
        t_bad_clusters();
        t_volume_flags();
        t_logfile();
        t_hiberfil();
        return 0;
}
