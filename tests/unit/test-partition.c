/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lib/fs/partition.c, mbr.c, gpt.c and lib/util/crc32.c: partition tables
 * built in memory by the small builders below (MBR, EBR chains, GPT with
 * both headers), then every refusal with its problem field and disk offset,
 * the primary/backup GPT fallback, the file-system-at-sector-0 rules, and a
 * deterministic mutation run that must never crash or return a table that
 * breaks the API's promises (sorted, non-overlapping, inside the disk).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "fs/partition.h"
#include "source.h"
#include "tests.h"
#include "util/crc32.h"
#include "util/endian.h"
#include "util/macro.h"
#include "util/problem.h"
#include "util/utf16.h"

#define MiB (UINT64_C(1) << 20)

/* ---- builders ------------------------------------------------------------ */

struct disk {
        uint8_t *p;
        uint64_t size;
        uint32_t ss;
};

static struct disk disk_new(uint64_t size, uint32_t ss)
{
        struct disk d = { .p = calloc(1, size), .size = size, .ss = ss };
        ASSERT_TRUE(d.p);
        return d;
}

static void disk_free(struct disk *d)
{
        free(d->p);
        d->p = NULL;
}

/* Entry slot (0-3) of the MBR/EBR table in the sector at lba. */
static void mbr_entry(struct disk *d, uint64_t lba, unsigned slot, uint8_t status, uint8_t type,
                      uint32_t start, uint32_t sectors)
{
        uint8_t *e = d->p + lba * d->ss + 446 + 16 * slot;
        e[0] = status;
        e[4] = type;
        put_le32(e + 8, start);
        put_le32(e + 12, sectors);
        d->p[lba * d->ss + 510] = 0x55;
        d->p[lba * d->ss + 511] = 0xAA;
}

static void mbr_signature(struct disk *d, uint64_t lba)
{
        d->p[lba * d->ss + 510] = 0x55;
        d->p[lba * d->ss + 511] = 0xAA;
}

struct tpart {
        uint32_t index;                 /* entry slot in the array */
        const uint8_t *type;
        uint64_t first, last;           /* LBAs, inclusive */
        const char *name;
};

static const uint8_t T_BASIC[16] = { 0xA2, 0xA0, 0xD0, 0xEB, 0xE5, 0xB9, 0x33, 0x44,
                                     0x87, 0xC0, 0x68, 0xB6, 0xB7, 0x26, 0x99, 0xC7 };
static const uint8_t T_ESP[16] = { 0x28, 0x73, 0x2A, 0xC1, 0x1F, 0xF8, 0xD2, 0x11,
                                   0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E, 0xC9, 0x3B };
static const uint8_t T_MSR[16] = { 0x16, 0xE3, 0xC9, 0xE3, 0x5C, 0x0B, 0xB8, 0x4D,
                                   0x81, 0x7D, 0xF9, 0x2D, 0xF0, 0x02, 0x15, 0xAE };
static const uint8_t T_LINUX[16] = { 0xAF, 0x3D, 0xC6, 0x0F, 0x83, 0x84, 0x72, 0x47,
                                     0x8E, 0x79, 0x3D, 0x69, 0xD8, 0x47, 0x7D, 0xE4 };
static const uint8_t T_ODD[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

struct gpt_layout {
        uint64_t primary_array, backup_array, backup_header;
        uint64_t first_usable, last_usable;
        uint32_t num_entries, entry_size;
};

static void header_recrc(struct disk *d, uint64_t lba)
{
        uint8_t *h = d->p + lba * d->ss;
        uint32_t size = MIN(get_le32(h + 12), d->ss);     /* pokes may make it too big */
        put_le32(h + 16, 0);
        put_le32(h + 16, crc32_ieee(0, h, size));
}

static void array_recrc(struct disk *d, uint64_t hdr_lba)
{
        uint8_t *h = d->p + hdr_lba * d->ss;
        uint64_t at = get_le64(h + 72) * d->ss;
        uint64_t bytes = (uint64_t) get_le32(h + 80) * get_le32(h + 84);
        put_le32(h + 88, crc32_ieee(0, d->p + at, bytes));
        header_recrc(d, hdr_lba);
}

static void write_header(struct disk *d, uint64_t lba, uint64_t alt, uint64_t array_lba,
                         const struct gpt_layout *l, uint32_t array_crc)
{
        uint8_t *h = d->p + lba * d->ss;
        memset(h, 0, d->ss);
        memcpy(h, "EFI PART", 8);
        put_le32(h + 8, 0x00010000);
        put_le32(h + 12, 92);
        put_le64(h + 24, lba);
        put_le64(h + 32, alt);
        put_le64(h + 40, l->first_usable);
        put_le64(h + 48, l->last_usable);
        for (int i = 0; i < 16; i++)
                h[56 + i] = (uint8_t) (0x40 + i);
        put_le64(h + 72, array_lba);
        put_le32(h + 80, l->num_entries);
        put_le32(h + 84, l->entry_size);
        put_le32(h + 88, array_crc);
        header_recrc(d, lba);
}

/* A protective MBR, both headers and both arrays, as sfdisk lays them out. */
static struct gpt_layout gpt_build(struct disk *d, uint32_t num_entries, uint32_t entry_size,
                                   const struct tpart *parts, size_t n)
{
        uint64_t sectors = d->size / d->ss, last = sectors - 1;
        uint64_t array_bytes = (uint64_t) num_entries * entry_size;
        uint64_t array_sectors = (array_bytes + d->ss - 1) / d->ss;
        struct gpt_layout l = {
                .primary_array = 2,
                .backup_array = last - array_sectors,
                .backup_header = last,
                .first_usable = 2 + array_sectors,
                .last_usable = last - array_sectors - 1,
                .num_entries = num_entries,
                .entry_size = entry_size,
        };
        uint8_t *array = calloc(1, array_bytes ? array_bytes : 1);
        uint32_t crc;

        ASSERT_TRUE(array);
        mbr_entry(d, 0, 0, 0x00, 0xEE, 1, sectors - 1 > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t) (sectors - 1));
        for (size_t i = 0; i < n; i++) {
                uint8_t *e = array + (uint64_t) parts[i].index * entry_size;
                memcpy(e, parts[i].type, 16);
                for (int k = 0; k < 16; k++)
                        e[16 + k] = (uint8_t) (i * 16 + k + 1);
                put_le64(e + 32, parts[i].first);
                put_le64(e + 40, parts[i].last);
                if (parts[i].name)
                        ASSERT_OK(utf8_to_utf16(parts[i].name, false, e + 56, 72));
                /* Bytes past the first 128 of a big entry must not matter. */
                if (entry_size > 128)
                        memset(e + 128, 0xA5, entry_size - 128);
        }
        crc = crc32_ieee(0, array, array_bytes);
        memcpy(d->p + l.primary_array * d->ss, array, array_bytes);
        memcpy(d->p + l.backup_array * d->ss, array, array_bytes);
        write_header(d, 1, last, l.primary_array, &l, crc);
        write_header(d, last, 1, l.backup_array, &l, crc);
        free(array);
        return l;
}

/* ---- helpers around the API ---------------------------------------------- */

static int read_table(struct disk *d, struct vc_partition_table *t, struct vc_problems *ps)
{
        struct vc_problems own = {};
        struct vc_source src;
        int r;

        vc_source_memory(&src, d->p, d->size);
        r = vc_partition_table_read(&src, d->ss, t, ps ? ps : &own);
        if (r < 0 && !ps && own.n > 0) {
                /* Expected to succeed: say why it did not. */
                char buf[512];
                vc_problem_format(&own.first, buf, sizeof buf);
                fprintf(stderr, "%s\n", buf);
        }
        return r;
}

/* Reads a table that must be refused; checks the problem and that the
 * output was not touched. */
static void expect_refusal(struct disk *d, const char *field, uint64_t offset)
{
        struct vc_partition_table t;
        struct vc_problems ps = {};
        uint8_t sentinel[sizeof t];

        memset(&t, 0x5A, sizeof t);
        memcpy(sentinel, &t, sizeof t);
        ASSERT_EQ_INT(read_table(d, &t, &ps), -EBADMSG);
        ASSERT_MEMEQ(&t, sentinel, sizeof t);
        ASSERT_EQ_U64(ps.n, 1);
        ASSERT_PROBLEM(&ps.first, VC_PROBLEM_PART_TABLE, field, offset);
        ASSERT_EQ_INT(ps.first.error, -EBADMSG);
        vc_problems_done(&ps);
}

static void expect_part(const struct vc_partition *p, unsigned number, uint64_t start, uint64_t size,
                        const char *type_name)
{
        ASSERT_EQ_U64(p->number, number);
        ASSERT_EQ_U64(p->start, start);
        ASSERT_EQ_U64(p->size, size);
        ASSERT_STREQ(p->type_name, type_name);
}

/* ---- CRC, GUIDs, names ---------------------------------------------------- */

static void test_crc32(void)
{
        ASSERT_EQ_U64(crc32_ieee(0, "123456789", 9), 0xCBF43926u);
        ASSERT_EQ_U64(crc32_ieee(0, "", 0), 0);
        /* Continuation like zlib. */
        ASSERT_EQ_U64(crc32_ieee(crc32_ieee(0, "1234", 4), "56789", 5), 0xCBF43926u);
        ASSERT_EQ_U64(crc32_ieee(0, "The quick brown fox jumps over the lazy dog", 43), 0x414FA339u);
        printf("ok crc32\n");
}

static void test_strings(void)
{
        char s[37];

        ASSERT_STREQ(vc_guid_to_string(T_BASIC, s), "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7");
        ASSERT_STREQ(vc_guid_to_string(T_ESP, s), "C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
        ASSERT_STREQ(vc_guid_to_string(T_LINUX, s), "0FC63DAF-8483-4772-8E79-3D69D8477DE4");
        ASSERT_STREQ(vc_part_scheme_to_string(VC_PART_NONE), "none");
        ASSERT_STREQ(vc_part_scheme_to_string(VC_PART_MBR), "mbr");
        ASSERT_STREQ(vc_part_scheme_to_string(VC_PART_GPT), "gpt");
        ASSERT_TRUE(vc_part_scheme_to_string(_VC_PART_SCHEME_MAX) == NULL);
        ASSERT_TRUE(vc_part_scheme_to_string(_VC_PART_SCHEME_INVALID) == NULL);
        ASSERT_EQ_INT(vc_part_scheme_from_string("gpt"), VC_PART_GPT);
        ASSERT_EQ_INT(vc_part_scheme_from_string("none"), VC_PART_NONE);
        ASSERT_EQ_INT(vc_part_scheme_from_string("dos"), _VC_PART_SCHEME_INVALID);
        ASSERT_EQ_INT(vc_part_scheme_from_string(NULL), _VC_PART_SCHEME_INVALID);
        printf("ok guid and scheme strings\n");
}

/* ---- no table ------------------------------------------------------------- */

static void expect_none(struct disk *d)
{
        struct vc_partition_table t;
        struct vc_problems ps = {};

        ASSERT_OK(read_table(d, &t, &ps));
        ASSERT_EQ_INT(t.scheme, VC_PART_NONE);
        ASSERT_EQ_U64(t.n, 0);
        ASSERT_TRUE(t.v == NULL);
        ASSERT_FALSE(vc_problems_any(&ps));
        vc_partition_table_done(&t);
}

static void test_none(void)
{
        struct disk d = disk_new(8 * MiB, 512);
        struct disk tiny = disk_new(300, 512);
        struct vc_partition_table t;

        expect_none(&d);                /* all zero */
        expect_none(&tiny);             /* less than a sector */

        /* An NTFS boot sector: "NTFS    " at 3 and 0x55AA, boot code (here
         * zero) where an MBR has its entries. */
        memcpy(d.p + 3, "NTFS    ", 8);
        mbr_signature(&d, 0);
        expect_none(&d);
        /* Its boot code usually looks like garbage entries: still no table. */
        memset(d.p + 446, 0x33, 64);
        expect_none(&d);

        /* exFAT, FAT32 (needs the x86 jump), BitLocker. */
        memset(d.p, 0, 512);
        memcpy(d.p + 3, "EXFAT   ", 8);
        mbr_signature(&d, 0);
        expect_none(&d);
        memset(d.p, 0, 512);
        d.p[0] = 0xEB; d.p[1] = 0x58; d.p[2] = 0x90;
        memcpy(d.p + 82, "FAT32   ", 8);
        memset(d.p + 446, 0x77, 64);
        mbr_signature(&d, 0);
        expect_none(&d);
        memset(d.p, 0, 512);
        memcpy(d.p + 3, "-FVE-FS-", 8);
        mbr_signature(&d, 0);
        expect_none(&d);

        /* A whole-disk ext file system: magic at 1080, no 0x55AA... */
        memset(d.p, 0, 4096);
        put_le16(d.p + 1080, 0xEF53);
        expect_none(&d);
        /* ...or with a left-over, empty MBR. */
        mbr_signature(&d, 0);
        expect_none(&d);

        /* No 0x55AA, no table, even with garbage in the entry area. */
        memset(d.p, 0, 4096);
        memset(d.p + 446, 0xFF, 64);
        expect_none(&d);

        /* An empty MBR is an MBR without partitions. */
        memset(d.p, 0, 4096);
        mbr_signature(&d, 0);
        ASSERT_OK(read_table(&d, &t, NULL));
        ASSERT_EQ_INT(t.scheme, VC_PART_MBR);
        ASSERT_EQ_U64(t.n, 0);
        vc_partition_table_done(&t);
        vc_partition_table_done(&t);    /* idempotent */
        vc_partition_table_done(NULL);

        /* Bad sector sizes are the caller's bug. */
        struct vc_source src;
        vc_source_memory(&src, d.p, d.size);
        ASSERT_EQ_INT(vc_partition_table_read(&src, 0, &t, NULL), -EINVAL);
        ASSERT_EQ_INT(vc_partition_table_read(&src, 256, &t, NULL), -EINVAL);
        ASSERT_EQ_INT(vc_partition_table_read(&src, 520, &t, NULL), -EINVAL);
        ASSERT_EQ_INT(vc_partition_table_read(&src, 1u << 17, &t, NULL), -EINVAL);

        disk_free(&d);
        disk_free(&tiny);
        printf("ok no partition table\n");
}

/* ---- MBR ------------------------------------------------------------------ */

static void test_mbr_primaries(void)
{
        struct disk d = disk_new(64 * MiB, 512);
        struct vc_partition_table t;

        /* Four primaries in slot order that is not disk order. */
        mbr_entry(&d, 0, 0, 0x80, 0x07, 2048, 20480);
        mbr_entry(&d, 0, 1, 0x00, 0x83, 100000, 30000);
        mbr_entry(&d, 0, 2, 0x00, 0x0c, 22528, 10240);
        mbr_entry(&d, 0, 3, 0x00, 0x82, 32768, 4096);
        ASSERT_OK(read_table(&d, &t, NULL));
        ASSERT_EQ_INT(t.scheme, VC_PART_MBR);
        ASSERT_EQ_U64(t.n, 4);
        ASSERT_FALSE(t.used_backup_gpt);
        expect_part(&t.v[0], 1, 2048 * 512, 20480 * 512, "ntfs/exfat (0x07)");
        expect_part(&t.v[1], 3, 22528 * 512, 10240 * 512, "fat32 lba (0x0c)");
        expect_part(&t.v[2], 4, 32768 * 512, 4096 * 512, "linux swap (0x82)");
        expect_part(&t.v[3], 2, 100000 * 512, 30000 * 512, "linux (0x83)");
        ASSERT_EQ_U64(t.v[0].mbr_type, 0x07);
        ASSERT_STREQ(t.v[0].name, "");
        for (int i = 0; i < 16; i++)
                ASSERT_EQ_U64(t.v[0].gpt_type[i], 0);
        vc_partition_table_done(&t);

        /* 1 to 3 primaries, numbered by slot: empty slots keep their numbers. */
        memset(d.p + 446, 0, 64);
        mbr_entry(&d, 0, 2, 0x00, 0x42, 63, 100000);
        ASSERT_OK(read_table(&d, &t, NULL));
        ASSERT_EQ_U64(t.n, 1);
        expect_part(&t.v[0], 3, 63 * 512, 100000 * 512, "ldm (dynamic disk) (0x42)");
        vc_partition_table_done(&t);

        mbr_entry(&d, 0, 0, 0x00, 0x27, 110000, 1000);
        mbr_entry(&d, 0, 3, 0x00, 0x9a, 120000, 1000);   /* not in our table */
        /* A deleted entry (type 0) and a zero-size entry are skipped. */
        mbr_entry(&d, 0, 1, 0x00, 0x00, 1, 5);
        ASSERT_OK(read_table(&d, &t, NULL));
        ASSERT_EQ_U64(t.n, 3);
        expect_part(&t.v[0], 3, 63 * 512, 100000 * 512, "ldm (dynamic disk) (0x42)");
        expect_part(&t.v[1], 1, 110000 * 512, 1000 * 512, "hidden ntfs winre (0x27)");
        expect_part(&t.v[2], 4, 120000 * 512, 1000 * 512, "unknown (0x9a)");
        vc_partition_table_done(&t);
        mbr_entry(&d, 0, 1, 0x00, 0x83, 5000, 0);
        ASSERT_OK(read_table(&d, &t, NULL));
        ASSERT_EQ_U64(t.n, 3);
        vc_partition_table_done(&t);

        /* A partition ending exactly at the end of the disk is fine... */
        memset(d.p + 446, 0, 64);
        mbr_entry(&d, 0, 0, 0x00, 0x07, 2048, 64 * 2048 - 2048);
        ASSERT_OK(read_table(&d, &t, NULL));
        ASSERT_EQ_U64(t.n, 1);
        vc_partition_table_done(&t);
        /* ...one sector more is not. */
        mbr_entry(&d, 0, 0, 0x00, 0x07, 2048, 64 * 2048 - 2047);
        expect_refusal(&d, "mbr.entry.sectors", 446 + 12);

        disk_free(&d);
        printf("ok MBR primaries\n");
}

static void test_mbr_refusals(void)
{
        struct disk d = disk_new(64 * MiB, 512);

        /* Past the end of the disk, far past (no 32-bit wrap). */
        mbr_entry(&d, 0, 1, 0x00, 0x07, 0xFFFFFF00u, 0x1000);
        expect_refusal(&d, "mbr.entry.sectors", 446 + 16 + 12);

        /* Overlapping primaries: blamed on the later slot. */
        memset(d.p + 446, 0, 64);
        mbr_entry(&d, 0, 0, 0x00, 0x07, 2048, 10000);
        mbr_entry(&d, 0, 1, 0x00, 0x83, 12000, 1000);
        expect_refusal(&d, "mbr.entry.start_lba", 446 + 16 + 8);

        /* A partition over the MBR itself. */
        memset(d.p + 446, 0, 64);
        mbr_entry(&d, 0, 3, 0x00, 0x07, 0, 10000);
        expect_refusal(&d, "mbr.entry.start_lba", 446 + 48 + 8);

        /* A boot indicator that is neither 0x00 nor 0x80, even on an empty slot. */
        memset(d.p + 446, 0, 64);
        mbr_entry(&d, 0, 0, 0x00, 0x07, 2048, 10000);
        d.p[446 + 32] = 0x01;
        expect_refusal(&d, "mbr.entry.status", 446 + 32);

        /* Two extended partitions. */
        memset(d.p + 446, 0, 64);
        mbr_entry(&d, 0, 0, 0x00, 0x05, 2048, 10000);
        mbr_entry(&d, 0, 1, 0x00, 0x0F, 20000, 10000);
        expect_refusal(&d, "mbr.entry.type", 446 + 16 + 4);

        /* A valid MBR under a file-system signature: ambiguous. */
        memset(d.p + 446, 0, 64);
        mbr_entry(&d, 0, 0, 0x00, 0x07, 2048, 10000);
        memcpy(d.p + 3, "NTFS    ", 8);
        expect_refusal(&d, "mbr.boot_code", 3);
        memset(d.p + 3, 0, 8);
        d.p[0] = 0xE9;
        memcpy(d.p + 82, "FAT32   ", 8);
        expect_refusal(&d, "mbr.boot_code", 82);
        memset(d.p, 0, 440);
        put_le16(d.p + 1080, 0xEF53);
        expect_refusal(&d, "ext.magic", 1080);

        disk_free(&d);
        printf("ok MBR refusals\n");
}

/*
 * An extended partition at LBA 40960 of 40960 sectors with three logicals:
 *   EBR 40960: logical at +2048 (LBA 43008, 4096 sectors), link to +8192
 *   EBR 49152: logical at +2048 (LBA 51200, 8192 sectors), link to +20480
 *   EBR 61440: logical at +63   (LBA 61503, 10000 sectors), no link
 */
static void build_extended(struct disk *d)
{
        memset(d->p, 0, 512);
        memset(d->p + 40960 * 512, 0, 512);
        memset(d->p + 49152 * 512, 0, 512);
        memset(d->p + 61440 * 512, 0, 512);
        mbr_entry(d, 0, 0, 0x80, 0x07, 2048, 20480);
        mbr_entry(d, 0, 1, 0x00, 0x0F, 40960, 40960);
        mbr_entry(d, 0, 3, 0x00, 0x83, 90000, 1000);
        mbr_entry(d, 40960, 0, 0x00, 0x07, 2048, 4096);
        mbr_entry(d, 40960, 1, 0x00, 0x05, 8192, 8192 + 4096);
        mbr_entry(d, 49152, 0, 0x00, 0x83, 2048, 8192);
        mbr_entry(d, 49152, 1, 0x00, 0x05, 20480, 20000);
        mbr_entry(d, 61440, 0, 0x00, 0x0b, 63, 10000);
}

static void test_mbr_extended(void)
{
        struct disk d = disk_new(64 * MiB, 512);
        struct vc_partition_table t;

        build_extended(&d);
        ASSERT_OK(read_table(&d, &t, NULL));
        ASSERT_EQ_INT(t.scheme, VC_PART_MBR);
        ASSERT_EQ_U64(t.n, 5);
        expect_part(&t.v[0], 1, 2048 * 512, 20480 * 512, "ntfs/exfat (0x07)");
        expect_part(&t.v[1], 5, 43008 * 512, 4096 * 512, "ntfs/exfat (0x07)");
        expect_part(&t.v[2], 6, 51200 * 512, 8192 * 512, "linux (0x83)");
        expect_part(&t.v[3], 7, 61503 * 512, 10000 * 512, "fat32 (0x0b)");
        expect_part(&t.v[4], 4, 90000 * 512, 1000 * 512, "linux (0x83)");
        vc_partition_table_done(&t);

        /* The data and link entries may sit in any slot. */
        memset(d.p + 49152 * 512 + 446, 0, 64);
        mbr_entry(&d, 49152, 3, 0x00, 0x83, 2048, 8192);
        mbr_entry(&d, 49152, 2, 0x00, 0x85, 20480, 20000);
        ASSERT_OK(read_table(&d, &t, NULL));
        ASSERT_EQ_U64(t.n, 5);
        expect_part(&t.v[2], 6, 51200 * 512, 8192 * 512, "linux (0x83)");
        vc_partition_table_done(&t);

        /* An EBR with only a link (first logical deleted) uses no number. */
        build_extended(&d);
        memset(d.p + 40960 * 512 + 446, 0, 16);
        ASSERT_OK(read_table(&d, &t, NULL));
        ASSERT_EQ_U64(t.n, 4);
        expect_part(&t.v[1], 5, 51200 * 512, 8192 * 512, "linux (0x83)");
        expect_part(&t.v[2], 6, 61503 * 512, 10000 * 512, "fat32 (0x0b)");
        vc_partition_table_done(&t);

        /* An extended partition whose first EBR has no signature is empty. */
        build_extended(&d);
        memset(d.p + 40960 * 512, 0, 512);
        ASSERT_OK(read_table(&d, &t, NULL));
        ASSERT_EQ_U64(t.n, 2);
        expect_part(&t.v[0], 1, 2048 * 512, 20480 * 512, "ntfs/exfat (0x07)");
        expect_part(&t.v[1], 4, 90000 * 512, 1000 * 512, "linux (0x83)");
        vc_partition_table_done(&t);

        disk_free(&d);
        printf("ok MBR extended partition with three logicals\n");
}

static void test_mbr_extended_refusals(void)
{
        struct disk d = disk_new(64 * MiB, 512);
        const uint64_t ebr2 = 49152 * 512, ebr3 = 61440 * 512;

        /* A loop: the last EBR links back to the second. */
        build_extended(&d);
        mbr_entry(&d, 61440, 1, 0x00, 0x05, 8192, 100);
        expect_refusal(&d, "ebr.link", ebr3 + 446 + 16 + 8);
        /* A link to itself, and a link to the first EBR (relative start 0). */
        build_extended(&d);
        mbr_entry(&d, 61440, 1, 0x00, 0x05, 20480, 100);
        expect_refusal(&d, "ebr.link", ebr3 + 446 + 16 + 8);
        build_extended(&d);
        mbr_entry(&d, 61440, 1, 0x00, 0x05, 0, 100);
        expect_refusal(&d, "ebr.link", ebr3 + 446 + 16 + 8);

        /* A logical that leaves the extended partition (ends at 81920). */
        build_extended(&d);
        mbr_entry(&d, 61440, 0, 0x00, 0x0b, 63, 20480);
        expect_refusal(&d, "ebr.entry.sectors", ebr3 + 446 + 12);
        /* One that starts on its EBR. */
        build_extended(&d);
        mbr_entry(&d, 49152, 0, 0x00, 0x83, 0, 8192);
        expect_refusal(&d, "ebr.entry.start_lba", ebr2 + 446 + 8);

        /* A link to an EBR outside the extended partition (inside partition 1). */
        build_extended(&d);
        mbr_entry(&d, 49152, 1, 0x00, 0x05, 0xFFFFFFFFu, 100);
        expect_refusal(&d, "ebr.link", ebr2 + 446 + 16 + 8);

        /* A link whose EBR has lost its signature. */
        build_extended(&d);
        d.p[ebr3 + 510] = 0;
        expect_refusal(&d, "ebr.boot_signature", ebr3 + 510);

        /* Logicals overlapping each other, and an EBR inside a logical. */
        build_extended(&d);
        mbr_entry(&d, 49152, 0, 0x00, 0x83, 2048, 8192 + 20480);
        expect_refusal(&d, "ebr.entry.start_lba", 40960 * 512);
        build_extended(&d);
        mbr_entry(&d, 40960, 0, 0x00, 0x07, 2048, 8000);
        expect_refusal(&d, "ebr.link", ebr2);

        /* Two data entries in one EBR; a bad boot indicator in an EBR. */
        build_extended(&d);
        mbr_entry(&d, 49152, 2, 0x00, 0x83, 9000, 100);
        expect_refusal(&d, "ebr.entry.type", ebr2 + 446 + 32 + 4);
        build_extended(&d);
        d.p[ebr2 + 446 + 48] = 0x12;
        expect_refusal(&d, "ebr.entry.status", ebr2 + 446 + 48);

        /* A chain of more than 128 EBRs, each linking to the next sector:
         * stops with a problem, no hang. */
        memset(d.p, 0, d.size);
        mbr_entry(&d, 0, 0, 0x00, 0x05, 2048, 100000);
        for (uint32_t i = 0; i < 200; i++)
                mbr_entry(&d, 2048 + i, 1, 0x00, 0x05, i + 1, 1);
        expect_refusal(&d, "ebr.link", (2048 + 127) * 512 + 446 + 16 + 8);

        disk_free(&d);
        printf("ok MBR extended partition refusals (loops, bounds)\n");
}

/* ---- GPT ------------------------------------------------------------------ */

static const struct tpart three[] = {
        { .index = 0, .type = T_ESP, .first = 2048, .last = 4095, .name = "EFI system partition" },
        { .index = 1, .type = T_MSR, .first = 4096, .last = 36863, .name = "Microsoft reserved partition" },
        { .index = 3, .type = T_BASIC, .first = 36864, .last = 129023, .name = "Basic data partition" },
};

static void expect_three(const struct vc_partition_table *t, uint32_t ss, bool backup)
{
        ASSERT_EQ_INT(t->scheme, VC_PART_GPT);
        ASSERT_EQ_INT(t->used_backup_gpt, backup);
        ASSERT_EQ_U64(t->n, 3);
        expect_part(&t->v[0], 1, 2048ull * ss, 2048ull * ss, "EFI system");
        expect_part(&t->v[1], 2, 4096ull * ss, 32768ull * ss, "Microsoft reserved");
        expect_part(&t->v[2], 4, 36864ull * ss, 92160ull * ss, "Microsoft basic data");
        ASSERT_STREQ(t->v[0].name, "EFI system partition");
        ASSERT_STREQ(t->v[2].name, "Basic data partition");
        ASSERT_MEMEQ(t->v[2].gpt_type, T_BASIC, 16);
        ASSERT_EQ_U64(t->v[2].mbr_type, 0);
}

static void test_gpt_valid(void)
{
        struct disk d = disk_new(64 * MiB, 512);
        struct disk d4 = disk_new(64 * MiB, 4096);
        struct vc_partition_table t;
        struct vc_problems ps = {};

        gpt_build(&d, 128, 128, three, 3);
        ASSERT_OK(read_table(&d, &t, &ps));
        expect_three(&t, 512, false);
        ASSERT_FALSE(vc_problems_any(&ps));
        vc_partition_table_done(&t);

        /* Hybrid MBR: 0xEE plus a real entry; the GPT wins. */
        mbr_entry(&d, 0, 1, 0x80, 0x07, 36864, 92160);
        ASSERT_OK(read_table(&d, &t, NULL));
        expect_three(&t, 512, false);
        vc_partition_table_done(&t);
        /* Even a hybrid entry the MBR rules would refuse. */
        mbr_entry(&d, 0, 2, 0x00, 0x83, 36864, 0xFFFFFF00u);
        ASSERT_OK(read_table(&d, &t, NULL));
        expect_three(&t, 512, false);
        vc_partition_table_done(&t);

        /* 4 KiB sectors: LBA 1 is byte 4096, the array takes 4 sectors. */
        static const struct tpart big[] = {
                { .index = 0, .type = T_ESP, .first = 256, .last = 511, .name = "EFI" },
                { .index = 1, .type = T_BASIC, .first = 512, .last = 16378, .name = "data" },
        };
        struct gpt_layout l = gpt_build(&d4, 128, 128, big, 2);
        ASSERT_EQ_U64(l.first_usable, 6);
        ASSERT_EQ_U64(l.last_usable, 16378);
        ASSERT_OK(read_table(&d4, &t, NULL));
        ASSERT_EQ_INT(t.scheme, VC_PART_GPT);
        ASSERT_EQ_U64(t.n, 2);
        expect_part(&t.v[0], 1, 256 * 4096, 256 * 4096, "EFI system");
        expect_part(&t.v[1], 2, 512 * 4096, 15867ull * 4096, "Microsoft basic data");
        vc_partition_table_done(&t);
        /* Read as if its sectors were 512 bytes, it is no GPT: LBA 1 is empty. */
        {
                struct vc_source src;
                struct vc_problems ps512 = {};
                vc_source_memory(&src, d4.p, d4.size);
                ASSERT_EQ_INT(vc_partition_table_read(&src, 512, &t, &ps512), -EBADMSG);
                ASSERT_PROBLEM(&ps512.first, VC_PROBLEM_PART_TABLE, "gpt.signature", 512);
        }

        disk_free(&d);
        disk_free(&d4);
        printf("ok GPT with protective and hybrid MBR, 512 and 4096-byte sectors\n");
}

static void test_gpt_entry_size(void)
{
        struct disk d = disk_new(64 * MiB, 512);
        static const struct tpart four[] = {
                { .index = 0, .type = T_BASIC, .first = 2048, .last = 10239, .name = "a" },
                { .index = 1, .type = T_LINUX, .first = 10240, .last = 20479, .name = "b" },
                { .index = 2, .type = T_ODD, .first = 30000, .last = 30000, .name = "c" },
                { .index = 3, .type = T_BASIC, .first = 20480, .last = 29999, .name = "d" },
        };
        struct vc_partition_table t;
        char s[37];

        /* 4 entries of 256 bytes: a two-sector array at LBA 2-3, FirstUsable 4. */
        struct gpt_layout l = gpt_build(&d, 4, 256, four, 4);
        ASSERT_EQ_U64(l.first_usable, 4);
        ASSERT_OK(read_table(&d, &t, NULL));
        ASSERT_EQ_INT(t.scheme, VC_PART_GPT);
        ASSERT_EQ_U64(t.n, 4);
        expect_part(&t.v[0], 1, 2048 * 512, 8192 * 512, "Microsoft basic data");
        expect_part(&t.v[1], 2, 10240 * 512, 10240 * 512, "Linux filesystem");
        expect_part(&t.v[2], 4, 20480 * 512, 9520 * 512, "Microsoft basic data");
        expect_part(&t.v[3], 3, 30000 * 512, 512, "unknown");
        ASSERT_STREQ(t.v[2].name, "d");
        ASSERT_STREQ(vc_guid_to_string(t.v[3].gpt_type, s), "04030201-0605-0807-090A-0B0C0D0E0F10");
        vc_partition_table_done(&t);

        /* 384-byte entries are a multiple of 128 too. */
        memset(d.p, 0, d.size);
        gpt_build(&d, 4, 384, four, 4);
        ASSERT_OK(read_table(&d, &t, NULL));
        ASSERT_EQ_U64(t.n, 4);
        vc_partition_table_done(&t);

        /* No entries at all. */
        memset(d.p, 0, d.size);
        gpt_build(&d, 0, 128, NULL, 0);
        ASSERT_OK(read_table(&d, &t, NULL));
        ASSERT_EQ_INT(t.scheme, VC_PART_GPT);
        ASSERT_EQ_U64(t.n, 0);
        vc_partition_table_done(&t);

        disk_free(&d);
        printf("ok GPT entry sizes 256 and 384\n");
}

static void test_gpt_names(void)
{
        struct disk d = disk_new(8 * MiB, 512);
        /* 36 x U+00E9 (2 bytes each): 72 bytes, fits; 36 x U+20AC (3 bytes
         * each): 108 bytes, cut to 26 characters (78 bytes). */
        char e_acute[80] = "", euro[120] = "", want_euro[80] = "";
        for (int i = 0; i < 36; i++) {
                strcat(e_acute, "\xC3\xA9");
                strcat(euro, "\xE2\x82\xAC");
                if (i < 26)
                        strcat(want_euro, "\xE2\x82\xAC");
        }
        const struct tpart parts[] = {
                { .index = 0, .type = T_BASIC, .first = 2048, .last = 4095, .name = e_acute },
                { .index = 1, .type = T_BASIC, .first = 4096, .last = 6143, .name = euro },
                { .index = 2, .type = T_BASIC, .first = 6144, .last = 8191, .name = NULL },
        };
        struct vc_partition_table t;

        gpt_build(&d, 128, 128, parts, 3);
        ASSERT_OK(read_table(&d, &t, NULL));
        ASSERT_EQ_U64(t.n, 3);
        ASSERT_STREQ(t.v[0].name, e_acute);
        ASSERT_STREQ(t.v[1].name, want_euro);
        ASSERT_STREQ(t.v[2].name, "");
        vc_partition_table_done(&t);
        disk_free(&d);
        printf("ok GPT names in UTF-8\n");
}

static void test_gpt_backup(void)
{
        struct disk d = disk_new(64 * MiB, 512);
        struct vc_partition_table t;
        struct vc_problems ps = {};
        struct gpt_layout l;

        /* Primary header CRC broken: the backup is used, silently. */
        l = gpt_build(&d, 128, 128, three, 3);
        d.p[512 + 16] ^= 1;
        ASSERT_OK(read_table(&d, &t, &ps));
        expect_three(&t, 512, true);
        ASSERT_FALSE(vc_problems_any(&ps));
        vc_partition_table_done(&t);

        /* Primary entry array CRC broken (one byte of an unused entry). */
        gpt_build(&d, 128, 128, three, 3);
        d.p[2 * 512 + 127 * 128 + 100] ^= 0x80;
        ASSERT_OK(read_table(&d, &t, NULL));
        expect_three(&t, 512, true);
        vc_partition_table_done(&t);

        /* Primary signature wiped. */
        gpt_build(&d, 128, 128, three, 3);
        memset(d.p + 512, 0, 512);
        ASSERT_OK(read_table(&d, &t, NULL));
        expect_three(&t, 512, true);
        vc_partition_table_done(&t);

        /* Primary consistent by its CRCs but its partition overlaps: backup. */
        gpt_build(&d, 128, 128, three, 3);
        put_le64(d.p + 2 * 512 + 128 + 40, 40000);
        array_recrc(&d, 1);
        ASSERT_OK(read_table(&d, &t, NULL));
        expect_three(&t, 512, true);
        vc_partition_table_done(&t);

        /* Both broken: the primary's field is named. */
        gpt_build(&d, 128, 128, three, 3);
        d.p[512 + 16] ^= 1;
        d.p[l.backup_header * 512 + 16] ^= 1;
        expect_refusal(&d, "gpt.header_crc32", 512 + 16);

        gpt_build(&d, 128, 128, three, 3);
        d.p[2 * 512 + 5] ^= 1;
        memset(d.p + l.backup_header * 512, 0, 512);
        expect_refusal(&d, "gpt.entries_crc32", 512 + 88);

        /* In collecting mode both problems are listed, primary first. */
        ps = (struct vc_problems) { .collect = true };
        ASSERT_EQ_INT(read_table(&d, &t, &ps), -EBADMSG);
        ASSERT_EQ_U64(ps.n, 2);
        ASSERT_PROBLEM(&ps.v[0], VC_PROBLEM_PART_TABLE, "gpt.entries_crc32", 512 + 88);
        ASSERT_PROBLEM(&ps.v[1], VC_PROBLEM_PART_TABLE, "gpt.signature", l.backup_header * 512);
        vc_problems_done(&ps);

        /* A protective MBR with no GPT at all. */
        memset(d.p, 0, d.size);
        mbr_entry(&d, 0, 0, 0x00, 0xEE, 1, 0xFFFFFFFFu);
        expect_refusal(&d, "gpt.signature", 512);

        disk_free(&d);
        printf("ok GPT backup header fallback\n");
}

/* Changes one header field of both headers (CRCs fixed) and expects the
 * primary's field to be named. */
static void poke_both(struct disk *d, const struct gpt_layout *l, size_t off, int width, uint64_t v,
                      const char *field)
{
        uint64_t hdrs[2] = { 1, l->backup_header };

        for (int i = 0; i < 2; i++) {
                uint8_t *h = d->p + hdrs[i] * d->ss;
                if (width == 4)
                        put_le32(h + off, (uint32_t) v);
                else
                        put_le64(h + off, v);
                header_recrc(d, hdrs[i]);
        }
        expect_refusal(d, field, 512 + off);
}

static void test_gpt_refusals(void)
{
        struct disk d = disk_new(64 * MiB, 512);
        struct gpt_layout l;

#define FRESH() (memset(d.p, 0, d.size), l = gpt_build(&d, 128, 128, three, 3))
        FRESH(); poke_both(&d, &l, 8, 4, 0x00020000, "gpt.revision");
        FRESH(); poke_both(&d, &l, 12, 4, 91, "gpt.header_size");
        FRESH(); poke_both(&d, &l, 12, 4, 513, "gpt.header_size");
        /* MyLBA wrong in both (each claims the other's place). */
        FRESH();
        put_le64(d.p + 512 + 24, l.backup_header);
        header_recrc(&d, 1);
        put_le64(d.p + l.backup_header * 512 + 24, 1);
        header_recrc(&d, l.backup_header);
        expect_refusal(&d, "gpt.my_lba", 512 + 24);
        FRESH(); poke_both(&d, &l, 40, 8, 131039, "gpt.first_usable_lba");     /* first > last */
        FRESH(); poke_both(&d, &l, 40, 8, 0, "gpt.first_usable_lba");
        FRESH(); poke_both(&d, &l, 40, 8, 1, "gpt.first_usable_lba");          /* covers the header */
        FRESH(); poke_both(&d, &l, 48, 8, 64 * 2048, "gpt.last_usable_lba");   /* past the disk */
        FRESH(); poke_both(&d, &l, 48, 8, UINT64_MAX, "gpt.last_usable_lba");
        FRESH(); poke_both(&d, &l, 32, 8, 5000, "gpt.alternate_lba");
        FRESH(); poke_both(&d, &l, 84, 4, 0, "gpt.entry_size");
        FRESH(); poke_both(&d, &l, 84, 4, 200, "gpt.entry_size");
        FRESH(); poke_both(&d, &l, 80, 4, 0xFFFFFFFFu, "gpt.num_entries");
        FRESH(); poke_both(&d, &l, 80, 4, (4u << 20) / 128 + 1, "gpt.num_entries");
        /* A huge entry size is blamed on the array size, at the count. */
        FRESH();
        for (int i = 0; i < 2; i++) {
                uint64_t lba = i ? l.backup_header : 1;
                put_le32(d.p + lba * 512 + 84, 0x80000000u);
                header_recrc(&d, lba);
        }
        expect_refusal(&d, "gpt.num_entries", 512 + 80);
        FRESH(); poke_both(&d, &l, 72, 8, 0, "gpt.partition_entry_lba");
        FRESH(); poke_both(&d, &l, 72, 8, 2048, "gpt.partition_entry_lba");    /* in usable */
        FRESH(); poke_both(&d, &l, 72, 8, UINT64_MAX - 3, "gpt.partition_entry_lba");
#undef FRESH

        /* Entries: each broken the same way in both arrays. */
        static const struct {
                uint64_t first, last;
                const char *field;
                uint32_t blamed;        /* entry index named by the problem */
                size_t off;
        } bad[] = {
                { 100000, 99999, "gpt.entry.ending_lba", 4, 40 },       /* end before start */
                { 33, 1000, "gpt.entry.starting_lba", 4, 32 },          /* before FirstUsable */
                { 120000, 131039, "gpt.entry.ending_lba", 4, 40 },      /* past LastUsable */
                { 120000, UINT64_MAX, "gpt.entry.ending_lba", 4, 40 },
                { 129023, 130000, "gpt.entry.starting_lba", 4, 32 },    /* overlaps entry 4 */
                { 3000, 3000, "gpt.entry.starting_lba", 4, 32 },        /* inside entry 1 */
                { 1000, 130000, "gpt.entry.starting_lba", 0, 32 },      /* covers all: blame entry 1 */
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                struct tpart parts[4] = { three[0], three[1], three[2],
                                          { .index = 4, .type = T_LINUX,
                                            .first = bad[i].first, .last = bad[i].last } };
                memset(d.p, 0, d.size);
                l = gpt_build(&d, 128, 128, parts, 4);
                expect_refusal(&d, bad[i].field, 2 * 512 + bad[i].blamed * 128 + bad[i].off);
        }
        /* The layout's last usable LBA is what the table above assumes. */
        ASSERT_EQ_U64(l.last_usable, 131038);

        disk_free(&d);
        printf("ok GPT refusals: every header field, entry bounds, overlaps\n");
}

static void test_fs_signature_and_gpt(void)
{
        struct disk d = disk_new(64 * MiB, 512);
        struct vc_partition_table t;
        /* With 512-byte sectors, byte 1080 is entry 0's name, character 0:
         * a name starting with U+EF53 puts the ext magic there. */
        const struct tpart parts[] = {
                { .index = 0, .type = T_LINUX, .first = 2048, .last = 4095, .name = "\xEE\xBD\x93x" },
        };

        gpt_build(&d, 128, 128, parts, 1);
        ASSERT_EQ_U64(get_le16(d.p + 1080), 0xEF53);
        /* The valid primary's CRC covers those bytes: it is the GPT. */
        ASSERT_OK(read_table(&d, &t, NULL));
        ASSERT_EQ_INT(t.scheme, VC_PART_GPT);
        ASSERT_EQ_U64(t.n, 1);
        vc_partition_table_done(&t);
        /* Without the primary, ext-at-0 or GPT cannot be told apart: the
         * primary's problem is named, though the backup is fine. */
        d.p[512 + 16] ^= 1;
        expect_refusal(&d, "gpt.header_crc32", 512 + 16);

        /* The same with an NTFS signature in the protective MBR's boot code. */
        memset(d.p, 0, d.size);
        gpt_build(&d, 128, 128, three, 3);
        memcpy(d.p + 3, "NTFS    ", 8);
        ASSERT_OK(read_table(&d, &t, NULL));
        expect_three(&t, 512, false);
        vc_partition_table_done(&t);
        memset(d.p + 512, 0, 512);
        expect_refusal(&d, "gpt.signature", 512);

        disk_free(&d);
        printf("ok file-system signatures next to a GPT\n");
}

/* ---- robustness ----------------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return rng_state;
}

static void check_invariants(const struct disk *d, const struct vc_partition_table *t)
{
        ASSERT_TRUE(t->scheme >= VC_PART_NONE && t->scheme < _VC_PART_SCHEME_MAX);
        ASSERT_TRUE(t->n == 0 || t->v != NULL);
        for (size_t i = 0; i < t->n; i++) {
                const struct vc_partition *p = &t->v[i];
                ASSERT_TRUE(p->size > 0);
                ASSERT_TRUE(p->start >= d->ss);
                ASSERT_TRUE(p->start + p->size <= d->size);
                ASSERT_TRUE(p->number >= 1);
                ASSERT_TRUE(memchr(p->type_name, 0, sizeof p->type_name));
                ASSERT_TRUE(memchr(p->name, 0, sizeof p->name));
                if (i > 0)
                        ASSERT_TRUE(t->v[i - 1].start + t->v[i - 1].size <= p->start);
        }
}

struct hot {
        uint64_t off;
        uint32_t len;
};

/* Mutates 1-4 bytes inside the hot ranges; for a GPT, also makes the
 * primary's CRCs right again half the time, so that the checks behind the
 * CRCs see hostile values too. */
static void mutate_and_read(const struct disk *orig, const struct hot *hot, size_t n_hot, int rounds,
                            bool gpt)
{
        struct disk d = disk_new(orig->size, orig->ss);
        size_t ok = 0;

        memcpy(d.p, orig->p, orig->size);

        for (int r = 0; r < rounds; r++) {
                struct vc_partition_table t;
                struct vc_problems ps = { .collect = (r & 1) != 0 };
                int flips = 1 + (int) (rnd() % 4);

                /* Only the hot ranges are ever changed: restore just those. */
                for (size_t h = 0; h < n_hot; h++)
                        memcpy(d.p + hot[h].off, orig->p + hot[h].off, hot[h].len);
                for (int k = 0; k < flips; k++) {
                        const struct hot *h = &hot[rnd() % n_hot];
                        uint64_t off = h->off + rnd() % h->len;
                        if (rnd() % 3 == 0)
                                d.p[off] = (uint8_t) rnd();
                        else
                                d.p[off] ^= (uint8_t) (1u << (rnd() % 8));
                }
                if (gpt && rnd() % 2 && get_le32(d.p + 512 + 12) >= 92 && get_le32(d.p + 512 + 12) <= 512) {
                        /* The array CRC only when the test can still find the array. */
                        if (memcmp(d.p + 512 + 72, orig->p + 512 + 72, 16) == 0)
                                array_recrc(&d, 1);
                        else
                                header_recrc(&d, 1);
                }
                int ret = read_table(&d, &t, &ps);
                if (ret >= 0) {
                        check_invariants(&d, &t);
                        vc_partition_table_done(&t);
                        ok++;
                } else {
                        ASSERT_TRUE(ret == -EBADMSG);
                        ASSERT_TRUE(ps.n >= 1);
                        ASSERT_TRUE(ps.first.field != NULL);
                }
                vc_problems_done(&ps);
        }
        /* Both outcomes must be exercised for the run to mean anything. */
        ASSERT_TRUE(ok > 0 && ok < (size_t) rounds);
        printf("   %zu of %d mutated tables accepted\n", ok, rounds);
        disk_free(&d);
}

static void test_mutations(void)
{
        struct disk d = disk_new(64 * MiB, 512);
        const struct hot hot_mbr[] = {
                { 446, 66 }, { 40960 * 512 + 446, 66 }, { 49152 * 512 + 446, 66 },
                { 61440 * 512 + 446, 66 },
        };

        build_extended(&d);
        mutate_and_read(&d, hot_mbr, ELEMENTSOF(hot_mbr), 20000, false);

        memset(d.p, 0, d.size);
        struct gpt_layout l = gpt_build(&d, 128, 128, three, 3);
        const struct hot hot_gpt[] = {
                { 446, 66 }, { 512, 92 }, { 1024, 512 }, { l.backup_header * 512, 92 },
        };
        mutate_and_read(&d, hot_gpt, ELEMENTSOF(hot_gpt), 20000, true);

        disk_free(&d);
        printf("ok 40000 mutated tables: no crash, every accepted table is sane\n");
}

int main(void)
{
        test_crc32();
        test_strings();
        test_none();
        test_mbr_primaries();
        test_mbr_refusals();
        test_mbr_extended();
        test_mbr_extended_refusals();
        test_gpt_valid();
        test_gpt_entry_size();
        test_gpt_names();
        test_gpt_backup();
        test_gpt_refusals();
        test_fs_signature_and_gpt();
        test_mutations();
        return 0;
}
