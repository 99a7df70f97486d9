/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ntfs_boot_parse(): the validation table.  One field poked per case; the
 * parser must return the expected error with the problem naming that field
 * at its absolute offset (the partition starts at 1 MiB).  Then the
 * encodings that must be accepted: negative-exponent clusters up to 2 MiB,
 * both MFT record size encodings, 4 KiB sectors.
 */
#include <errno.h>
#include <stdio.h>

#include "fs/ntfs-internal.h"
#include "tests.h"
#include "util/problem.h"

#define PART (1u << 20)
#define SECTORS 16384u          /* 8 MiB volume at 512 B/sector */
#define LIMIT ((uint64_t) SECTORS * 512 + 512)

static void valid(uint8_t *s)
{
        memset(s, 0, 512);
        s[0] = 0xEB; s[1] = 0x52; s[2] = 0x90;
        memcpy(s + 3, "NTFS    ", 8);
        put_le16(s + 0x0B, 512);
        s[0x0D] = 8;
        s[0x15] = 0xF8;
        put_le64(s + 0x28, SECTORS);
        put_le64(s + 0x30, 4);
        put_le64(s + 0x38, 1024);
        s[0x40] = 0xF6;
        s[0x44] = 0x01;
        s[0x1FE] = 0x55; s[0x1FF] = 0xAA;
}

struct poke {
        const char *name;
        unsigned off, width;
        uint64_t value;
        int error;
        const char *field;
};

static const struct poke pokes[] = {
        { "OEM id 'NTFSXXXX'", 7, 4, 0x58585858, -EBADMSG, NULL },      /* reported at 3 */
        { "OEM id 'FAT32   '", 3, 8, 0x2020323354414646ull, -EBADMSG, "ntfs.boot.oem_id" },
        { "bytes per sector 0", 0x0B, 2, 0, -EBADMSG, "ntfs.boot.bytes_per_sector" },
        { "bytes per sector 128", 0x0B, 2, 128, -EBADMSG, "ntfs.boot.bytes_per_sector" },
        { "bytes per sector 768", 0x0B, 2, 768, -EBADMSG, "ntfs.boot.bytes_per_sector" },
        { "bytes per sector 8192", 0x0B, 2, 8192, -EBADMSG, "ntfs.boot.bytes_per_sector" },
        { "sectors per cluster 0", 0x0D, 1, 0, -EBADMSG, "ntfs.boot.sectors_per_cluster" },
        { "sectors per cluster 3", 0x0D, 1, 3, -EBADMSG, "ntfs.boot.sectors_per_cluster" },
        { "sectors per cluster 0x81", 0x0D, 1, 0x81, -EBADMSG, "ntfs.boot.sectors_per_cluster" },
        { "sectors per cluster 0xEF", 0x0D, 1, 0xEF, -EBADMSG, "ntfs.boot.sectors_per_cluster" },
        { "cluster 32 MiB (0xF0)", 0x0D, 1, 0xF0, -EOPNOTSUPP, "ntfs.boot.sectors_per_cluster" },
        { "cluster 4 MiB (0xF3)", 0x0D, 1, 0xF3, -EOPNOTSUPP, "ntfs.boot.sectors_per_cluster" },
        { "reserved sectors", 0x0E, 2, 1, -EBADMSG, "ntfs.boot.reserved_sectors" },
        { "FAT count", 0x10, 1, 2, -EBADMSG, "ntfs.boot.fats" },
        { "root entries", 0x11, 2, 512, -EBADMSG, "ntfs.boot.root_entries" },
        { "16-bit sectors", 0x13, 2, 1, -EBADMSG, "ntfs.boot.sectors16" },
        { "sectors per FAT", 0x16, 2, 9, -EBADMSG, "ntfs.boot.sectors_per_fat" },
        { "32-bit sectors", 0x20, 4, 1, -EBADMSG, "ntfs.boot.sectors32" },
        { "total sectors 0", 0x28, 8, 0, -EBADMSG, "ntfs.boot.total_sectors" },
        { "total sectors > partition", 0x28, 8, SECTORS + 2, -EBADMSG, "ntfs.boot.total_sectors" },
        { "total sectors overflow", 0x28, 8, UINT64_MAX / 256, -EBADMSG, "ntfs.boot.total_sectors" },
        { "one cluster only", 0x28, 8, 8, -EBADMSG, "ntfs.boot.total_sectors" },
        { "MFT LCN 0", 0x30, 8, 0, -EBADMSG, "ntfs.boot.mft_lcn" },
        { "MFT LCN = clusters", 0x30, 8, SECTORS / 8, -EBADMSG, "ntfs.boot.mft_lcn" },
        { "MFT LCN huge", 0x30, 8, UINT64_MAX, -EBADMSG, "ntfs.boot.mft_lcn" },
        { "MFTMirr LCN outside", 0x38, 8, SECTORS, -EBADMSG, "ntfs.boot.mftmirr_lcn" },
        { "MFT record size byte 0", 0x40, 1, 0, -EBADMSG, "ntfs.boot.clusters_per_mft_record" },
        { "MFT record 3 clusters", 0x40, 1, 3, -EBADMSG, "ntfs.boot.clusters_per_mft_record" },
        { "MFT record 256 B (0xF8)", 0x40, 1, 0xF8, -EBADMSG, "ntfs.boot.clusters_per_mft_record" },
        { "MFT record 2^127 (0x81)", 0x40, 1, 0x81, -EBADMSG, "ntfs.boot.clusters_per_mft_record" },
        { "MFT record 2^-128 (0x80)", 0x40, 1, 0x80, -EBADMSG, "ntfs.boot.clusters_per_mft_record" },
        { "MFT record 8 KiB (0xF3)", 0x40, 1, 0xF3, -EOPNOTSUPP, "ntfs.boot.clusters_per_mft_record" },
        { "MFT record 2 clusters", 0x40, 1, 2, -EOPNOTSUPP, "ntfs.boot.clusters_per_mft_record" },
        { "index block byte 0", 0x44, 1, 0, -EBADMSG, "ntfs.boot.clusters_per_index_block" },
        { "index block 128 KiB", 0x44, 1, 0xEF, -EOPNOTSUPP, "ntfs.boot.clusters_per_index_block" },
        { "index block 5 clusters", 0x44, 1, 5, -EBADMSG, "ntfs.boot.clusters_per_index_block" },
};

static void put_n(uint8_t *p, unsigned width, uint64_t v)
{
        for (unsigned i = 0; i < width; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

static void accept(const char *name, void (*edit)(uint8_t *s), uint64_t limit, uint32_t cluster,
                   uint32_t record, uint64_t clusters)
{
        uint8_t s[512];
        struct ntfs_boot b;
        struct vc_problems ps = {};

        valid(s);
        edit(s);
        ASSERT_OK(ntfs_boot_parse(s, PART, limit, &b, &ps));
        ASSERT_EQ_U64(b.cluster_size, cluster);
        ASSERT_EQ_U64(1ull << b.cluster_shift, cluster);
        ASSERT_EQ_U64(b.mft_record_size, record);
        ASSERT_EQ_U64(b.total_clusters, clusters);
        printf("ok   %s\n", name);
}

static void e_none(uint8_t *s) { (void) s; }
static void e_2mib(uint8_t *s) { s[0x0D] = 0xF4; put_le64(s + 0x28, 16384); put_le64(s + 0x30, 1); put_le64(s + 0x38, 2); s[0x44] = 0xF4; }
static void e_1k(uint8_t *s) { s[0x0D] = 0xFF; put_le64(s + 0x38, 3); }
static void e_rec_pos(uint8_t *s) { s[0x0D] = 2; s[0x40] = 1; }
static void e_4kn(uint8_t *s) { put_le16(s + 0x0B, 4096); s[0x0D] = 1; put_le64(s + 0x28, SECTORS / 8); s[0x40] = 0xF4; }
static void e_tail(uint8_t *s) { put_le64(s + 0x28, SECTORS - 3); }   /* 7 sectors short of a cluster */
static void e_mft_last(uint8_t *s) { put_le64(s + 0x30, SECTORS / 8 - 1); }

int main(void)
{
        uint8_t s[512];
        struct ntfs_boot b;

        valid(s);
        ASSERT_OK(ntfs_boot_parse(s, PART, LIMIT, &b, NULL));
        ASSERT_EQ_U64(b.bytes_per_sector, 512);
        ASSERT_EQ_U64(b.cluster_size, 4096);
        ASSERT_EQ_U64(b.mft_record_size, 1024);
        ASSERT_EQ_U64(b.index_block_size, 4096);
        ASSERT_EQ_U64(b.total_clusters, SECTORS / 8);
        ASSERT_EQ_U64(b.mft_lcn, 4);

        for (size_t i = 0; i < ELEMENTSOF(pokes); i++) {
                const struct poke *p = &pokes[i];
                struct vc_problems ps = {};
                struct ntfs_boot out = { .cluster_size = 12345 };
                int r;

                valid(s);
                put_n(s + p->off, p->width, p->value);
                r = ntfs_boot_parse(s, PART, LIMIT, &out, &ps);
                if (!p->field) {
                        /* "XXXX" over the spaces of "NTFS    ": the field starts at 3 */
                        ASSERT_EQ_INT(r, -EBADMSG);
                        ASSERT_PROBLEM(&ps.first, VC_PROBLEM_FS_CORRUPT, "ntfs.boot.oem_id", PART + 3);
                } else {
                        ASSERT_EQ_INT(r, p->error);
                        ASSERT_PROBLEM(&ps.first,
                                       p->error == -EBADMSG ? VC_PROBLEM_FS_CORRUPT : VC_PROBLEM_FS_UNSUPPORTED,
                                       p->field, PART + p->off);
                }
                ASSERT_EQ_U64(out.cluster_size, 12345);         /* ret_ untouched */
                printf("bad  %-28s %s\n", p->name, ps.first.message);
        }

        accept("2 MiB clusters (0xF4)", e_2mib, 16384ull * 512 + 512, 2u << 20, 1024, 4);
        accept("1 KiB clusters (0xFF)", e_1k, LIMIT, 1024, 1024, SECTORS / 2);
        accept("MFT record as 1 cluster of 1 KiB", e_rec_pos, LIMIT, 1024, 1024, SECTORS / 2);
        accept("4 KiB sectors", e_4kn, LIMIT, 4096, 4096, SECTORS / 8);
        accept("partial last cluster", e_tail, LIMIT, 4096, 1024, SECTORS / 8 - 1);
        accept("MFT in the last cluster", e_mft_last, LIMIT, 4096, 1024, SECTORS / 8);
        accept("volume exactly the partition", e_none, (uint64_t) SECTORS * 512, 4096, 1024, SECTORS / 8);
        return 0;
}
