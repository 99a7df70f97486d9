/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The ext2/3/4 scanner on small volumes made by mkfs.ext4 (skipped without
 * it), in memory, at a partition offset:
 *   - the checksums' building blocks against their check values;
 *   - clean volumes in several layouts: whole blocks inside the file
 *     system, never block 0 or the superblock, adding up to the reported
 *     free clusters, the caller's earlier range untouched;
 *   - corruption, one poke per case: the exact problem (fs-corrupt, field)
 *     and the caller's map left exactly as it was;
 *   - not clean (needs_recovery, state, errors, an unknown feature):
 *     nothing granted, fs-not-clean, and with force_dirty the normal map.
 * The integration test test-ext4-scan.sh holds the same scanner to
 * dumpe2fs and the destructive oracle.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fs/ext4-format.h"
#include "fs/ext4-internal.h"
#include "fs/ext4.h"
#include "fs/fs.h"
#include "source.h"
#include "tests.h"
#include "util/endian.h"
#include "util/problem.h"

#define VOL (2u << 20)
#define PART 8192u

static uint8_t *disk;

/* mkfs.ext4 OPTS over a 2 MiB file, read into disk + PART. */
static void make(const char *opts)
{
        char path[] = "/tmp/test-ext4-XXXXXX", cmd[512];
        int fd = mkstemp(path);
        FILE *f;

        ASSERT_TRUE(fd >= 0);
        ASSERT_TRUE(ftruncate(fd, VOL) == 0);
        close(fd);
        snprintf(cmd, sizeof cmd, "mkfs.ext4 -q -F %s %s >/dev/null 2>&1", opts, path);
        if (system(cmd) != 0)
                TEST_FAIL("%s failed", cmd);
        memset(disk, 0, PART + VOL);
        f = fopen(path, "rb");
        ASSERT_TRUE(f && fread(disk + PART, 1, VOL, f) == VOL);
        fclose(f);
        unlink(path);
}

struct result {
        int r;
        struct vc_fs_info gen;
        struct ext4_info info;
        struct vc_problems ps;
        uint64_t free_bytes;
};

static struct result scan_size(bool force, uint64_t size)
{
        const struct vc_fs_type *t = vc_fs_type_by_name("ext2/3/4");
        const struct vc_fs_scan_opts opts = { .force_dirty = force };
        struct result res = {};
        struct vc_freemap m = {};
        struct vc_source src;

        ASSERT_TRUE(t && t->scan);
        ASSERT_OK(freemap_add(&m, 0, 512));
        vc_source_memory(&src, disk, PART + VOL);
        res.r = vc_fs_scan(t, &src, PART, size, &opts, &m, &res.gen, &res.info, &res.ps);
        ASSERT_TRUE(m.n >= 1 && m.v[0].start == 0 && m.v[0].len == 512);
        if (res.r < 0) {
                ASSERT_TRUE(vc_problems_any(&res.ps));
                ASSERT_EQ_U64(m.n, 1);
        } else {
                for (size_t i = 1; i < m.n; i++) {
                        uint64_t s = m.v[i].start - PART;
                        ASSERT_TRUE(m.v[i].start >= PART && m.v[i].len > 0);
                        ASSERT_TRUE(s >= 2048 && s % res.info.block_size == 0);
                        ASSERT_TRUE(m.v[i].len % res.info.cluster_size == 0);
                        ASSERT_TRUE(s + m.v[i].len <= res.info.blocks_count * res.info.block_size);
                        res.free_bytes += m.v[i].len;
                }
                if (res.gen.clean || force)
                        ASSERT_EQ_U64(res.free_bytes, res.info.free_clusters * res.info.cluster_size);
                else
                        ASSERT_EQ_U64(res.free_bytes, 0);
        }
        freemap_done(&m);
        return res;
}

static struct result scan(bool force)
{
        return scan_size(force, VOL);
}

static void expect_corrupt(const char *field, const char *what)
{
        struct result res = scan(false);

        if (res.r >= 0)
                TEST_FAIL("%s: scanned", what);
        ASSERT_EQ_INT(res.ps.first.id, VC_PROBLEM_FS_CORRUPT);
        ASSERT_STREQ(res.ps.first.field, field);
        vc_problems_done(&res.ps);
        printf("ok corrupt: %s\n", what);
}

/* Refused as unsupported, forced or not: nothing granted. */
static void expect_unsupported(const char *field, const char *what)
{
        for (int force = 0; force < 2; force++) {
                struct result res = scan(force);
                if (res.r >= 0)
                        TEST_FAIL("%s: scanned (force %d)", what, force);
                ASSERT_EQ_INT(res.ps.first.id, VC_PROBLEM_FS_UNSUPPORTED);
                ASSERT_STREQ(res.ps.first.field, field);
                vc_problems_done(&res.ps);
        }
        printf("ok unsupported: %s\n", what);
}

static void expect_dirty(const char *field, const char *what)
{
        struct result res = scan(false), forced;

        ASSERT_OK(res.r);
        ASSERT_FALSE(res.gen.clean);
        ASSERT_EQ_U64(res.free_bytes, 0);
        ASSERT_EQ_INT(res.ps.first.id, VC_PROBLEM_FS_DIRTY);
        ASSERT_STREQ(res.ps.first.field, field);
        forced = scan(true);
        ASSERT_OK(forced.r);
        ASSERT_TRUE(forced.free_bytes > 0);
        vc_problems_done(&res.ps);
        vc_problems_done(&forced.ps);
        printf("ok not clean: %s\n", what);
}

static uint8_t *sb(void)
{
        return disk + PART + EXT4_SB_OFF;
}

/* Rewrite the superblock checksum after a poke (metadata_csum images). */
static void sb_fix(void)
{
        put_le32(sb() + EXT4_SB_CHECKSUM, ext4_crc32c_raw(~0u, sb(), EXT4_SB_CHECKSUM));
}

int main(void)
{
        static const char *const clean_opts[] = {
                "-b 1024", "-b 4096", "-b 1024 -O ^metadata_csum,uninit_bg,^64bit",
                "-b 1024 -O ^metadata_csum,^uninit_bg", "-b 1024 -O meta_bg,^resize_inode",
                "-b 1024 -O bigalloc -C 4096", "-b 1024 -g 1024", "-t ext2 -b 1024",
                "-b 1024 -O sparse_super2 -g 1024",
        };
        if (system("command -v mkfs.ext4 >/dev/null 2>&1") != 0) {
                printf("SKIP: no mkfs.ext4\n");
                return 77;
        }
        disk = malloc(PART + VOL);
        ASSERT_TRUE(disk);

        /* Check values: CRC-32C and CRC-16/ARC of "123456789". */
        ASSERT_EQ_U64(~ext4_crc32c_raw(~0u, "123456789", 9), 0xE3069283u);
        ASSERT_EQ_U64(ext4_crc16(0, "123456789", 9), 0xBB3Du);

        for (size_t i = 0; i < sizeof clean_opts / sizeof *clean_opts; i++) {
                struct result res;
                make(clean_opts[i]);
                res = scan(false);
                if (res.r < 0)
                        TEST_FAIL("%s: %s", clean_opts[i], res.ps.first.message);
                ASSERT_TRUE(res.gen.clean);
                ASSERT_TRUE(res.free_bytes > VOL / 4);
                printf("ok clean %s: %" PRIu64 " bytes free\n", clean_opts[i], res.free_bytes);
        }

        /* ---- corrupt ---- */
        make("-b 1024");
        sb()[EXT4_SB_VOLUME_NAME] ^= 1;
        expect_corrupt("ext.checksum", "a superblock byte flipped");
        make("-b 1024");
        disk[PART + 2048 + EXT4_BG_FREE_BLOCKS_LO] ^= 1;
        expect_corrupt("ext.bg_checksum", "a descriptor byte flipped");
        make("-b 1024");
        {
                uint64_t bb = get_le32(disk + PART + 2048 + EXT4_BG_BLOCK_BITMAP_LO);
                disk[PART + bb * 1024 + 100] ^= 0x10;
        }
        expect_corrupt("ext.block_bitmap", "a bitmap bit flipped");
        make("-b 1024");
        put_le32(sb() + EXT4_SB_BLOCKS_COUNT_LO, 1u << 30);
        sb_fix();
        expect_corrupt("ext.blocks_count", "blocks past the volume");
        make("-b 1024");
        {
                struct result res = scan_size(false, VOL - 1024);
                ASSERT_TRUE(res.r < 0);
                ASSERT_STREQ(res.ps.first.field, "ext.blocks_count");
                vc_problems_done(&res.ps);
        }
        make("-b 1024");
        put_le32(sb() + EXT4_SB_LOG_BLOCK_SIZE, 7);
        sb_fix();
        expect_corrupt("ext.log_block_size", "a 128 KiB block size");
        make("-b 1024");
        put_le32(sb() + EXT4_SB_CLUSTERS_PER_GROUP, 0);
        sb_fix();
        expect_corrupt("ext.clusters_per_group", "no clusters per group");
        make("-b 1024");
        put_le32(sb() + EXT4_SB_INODES_PER_GROUP, 0);
        sb_fix();
        expect_corrupt("ext.inodes_per_group", "no inodes per group");
        make("-b 1024");
        put_le16(sb() + EXT4_SB_DESC_SIZE, 48);
        sb_fix();
        expect_corrupt("ext.desc_size", "a 48-byte descriptor");
        make("-b 1024");
        put_le32(sb() + EXT4_SB_FIRST_DATA_BLOCK, 0);
        sb_fix();
        expect_corrupt("ext.first_data_block", "first data block 0 with 1 KiB blocks");
        make("-b 1024 -O ^metadata_csum,^uninit_bg");
        put_le32(disk + PART + 2048 + EXT4_BG_BLOCK_BITMAP_LO, 0x7FFFFFFF);
        expect_corrupt("ext.group_desc", "a bitmap outside the volume");
        make("-b 1024 -O ^metadata_csum,^uninit_bg");
        put_le32(disk + PART + 2048 + EXT4_BG_INODE_TABLE_LO, 2047);
        expect_corrupt("ext.group_desc", "an inode table running off the end");
        make("-b 1024");
        put_le32(sb() + EXT4_SB_JOURNAL_INUM, 0xFFFFFFFFu);
        sb_fix();
        expect_corrupt("ext.journal_inode", "a journal inode out of range");

        /* ---- not clean ---- */
        make("-b 1024");
        put_le32(sb() + EXT4_SB_FEATURE_INCOMPAT,
                 get_le32(sb() + EXT4_SB_FEATURE_INCOMPAT) | EXT4_INCOMPAT_RECOVER);
        sb_fix();
        expect_dirty("ext.feature_incompat", "needs_recovery");
        make("-b 1024");
        put_le16(sb() + EXT4_SB_STATE, EXT4_STATE_VALID | EXT4_STATE_ERROR);
        sb_fix();
        expect_dirty("ext.state", "errors");
        make("-b 1024");
        put_le32(sb() + EXT4_SB_FEATURE_RO_COMPAT,
                 get_le32(sb() + EXT4_SB_FEATURE_RO_COMPAT) | 0x80000000u);
        sb_fix();
        expect_unsupported("ext.feature_ro_compat", "an unknown ro_compat feature");
        make("-b 1024");
        put_le32(sb() + EXT4_SB_FEATURE_INCOMPAT,
                 get_le32(sb() + EXT4_SB_FEATURE_INCOMPAT) | 0x80000000u);
        sb_fix();
        expect_unsupported("ext.feature_incompat", "an unknown incompat feature");

        free(disk);
        return 0;
}
