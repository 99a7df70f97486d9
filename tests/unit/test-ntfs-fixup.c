/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ntfs_fixup_apply(): the update sequence array of FILE, INDX and RSTR
 * blocks.  The good cases restore every stride's last two bytes; each bad
 * case names its field and the disk offset of the offending bytes (the
 * block's strides are mapped to scattered disk offsets, as a record
 * spanning two runs would be), and leaves the block untouched.
 */
#include <errno.h>
#include <stdio.h>

#include "fs/ntfs-internal.h"
#include "tests.h"
#include "util/problem.h"

/* A block of @size bytes with content i*7, protected with USN 0x1234. */
static void make(uint8_t *p, uint32_t size, uint16_t usa_off)
{
        uint32_t n = size / 512;

        for (uint32_t i = 0; i < size; i++)
                p[i] = (uint8_t) (i * 7);
        put_le32(p, NTFS_MAGIC_FILE);
        put_le16(p + 4, usa_off);
        put_le16(p + 6, (uint16_t) (n + 1));
        put_le16(p + usa_off, 0x1234);
        for (uint32_t k = 1; k <= n; k++) {
                memcpy(p + usa_off + 2 * k, p + k * 512 - 2, 2);
                put_le16(p + k * 512 - 2, 0x1234);
        }
}

static void map(struct ntfs_block *b, uint8_t *p, uint32_t size)
{
        b->p = p;
        b->size = size;
        for (uint32_t i = 0; i < size / 512; i++)
                b->where[i] = 100000 * (i + 1) + (i % 2 ? 77777 : 0);
}

static void good(uint32_t size)
{
        uint8_t p[4096];
        struct ntfs_block b;
        struct vc_problems ps = {};

        make(p, size, 0x30);
        map(&b, p, size);
        ASSERT_OK(ntfs_fixup_apply(&b, NTFS_FIXUP_MFT, &ps));
        for (uint32_t k = 1; k <= size / 512; k++) {
                ASSERT_EQ_INT(p[k * 512 - 2], (uint8_t) ((k * 512 - 2) * 7));
                ASSERT_EQ_INT(p[k * 512 - 1], (uint8_t) ((k * 512 - 1) * 7));
        }
        printf("ok   %u-byte block\n", size);
}

static void bad(const char *name, uint32_t size, enum ntfs_fixup_kind kind,
                void (*poke)(uint8_t *p), const char *field, uint32_t at)
{
        uint8_t p[4096], before[4096];
        struct ntfs_block b;
        struct vc_problems ps = {};

        make(p, size, 0x30);
        poke(p);
        memcpy(before, p, size);
        map(&b, p, size);
        ASSERT_EQ_INT(ntfs_fixup_apply(&b, kind, &ps), -EBADMSG);
        ASSERT_PROBLEM(&ps.first, VC_PROBLEM_FS_CORRUPT, field, ntfs_block_where(&b, at));
        ASSERT_MEMEQ(p, before, size);
        printf("bad  %-32s %s\n", name, ps.first.message);
}

static void count_low(uint8_t *p) { put_le16(p + 6, 2); }
static void count_high(uint8_t *p) { put_le16(p + 6, 4); }
static void count_zero(uint8_t *p) { put_le16(p + 6, 0); }
static void off_odd(uint8_t *p) { put_le16(p + 4, 0x31); }
static void off_header(uint8_t *p) { put_le16(p + 4, 0x06); }
static void off_late(uint8_t *p) { put_le16(p + 4, 0x1FA); }          /* 0x1FA + 6 > 510 */
static void off_huge(uint8_t *p) { put_le16(p + 4, 0xFFFE); }
static void torn1(uint8_t *p) { p[510] ^= 1; }
static void torn2(uint8_t *p) { p[1023] ^= 0x80; }
static void torn8(uint8_t *p) { p[4094] = 0; }

int main(void)
{
        good(512);
        good(1024);
        good(4096);
        {       /* the array may end exactly at byte 510, not one word later */
                uint8_t p[1024];
                struct ntfs_block b;

                make(p, 1024, 0x1F8);
                map(&b, p, 1024);
                ASSERT_OK(ntfs_fixup_apply(&b, NTFS_FIXUP_MFT, NULL));
                ASSERT_EQ_INT(p[1022], (uint8_t) (1022 * 7));
                make(p, 1024, 0x1FA);
                ASSERT_EQ_INT(ntfs_fixup_apply(&b, NTFS_FIXUP_MFT, NULL), -EBADMSG);
                printf("ok   USA ending at byte 510\n");
        }

        bad("usa_count too low", 1024, NTFS_FIXUP_MFT, count_low, "ntfs.mft.usa_count", 6);
        bad("usa_count too high", 1024, NTFS_FIXUP_MFT, count_high, "ntfs.mft.usa_count", 6);
        bad("usa_count zero", 1024, NTFS_FIXUP_MFT, count_zero, "ntfs.mft.usa_count", 6);
        bad("usa_offset odd", 1024, NTFS_FIXUP_MFT, off_odd, "ntfs.mft.usa_offset", 4);
        bad("usa_offset in the header", 1024, NTFS_FIXUP_MFT, off_header, "ntfs.mft.usa_offset", 4);
        bad("USA past byte 510", 1024, NTFS_FIXUP_MFT, off_late, "ntfs.mft.usa_offset", 4);
        bad("usa_offset 0xFFFE", 1024, NTFS_FIXUP_MFT, off_huge, "ntfs.mft.usa_offset", 4);
        bad("torn first stride", 1024, NTFS_FIXUP_MFT, torn1, "ntfs.mft.fixup", 510);
        bad("torn second stride", 1024, NTFS_FIXUP_MFT, torn2, "ntfs.mft.fixup", 1022);
        bad("torn INDX stride 8", 4096, NTFS_FIXUP_INDX, torn8, "ntfs.indx.fixup", 4094);
        bad("torn restart page", 4096, NTFS_FIXUP_RSTR, torn8, "ntfs.logfile.fixup", 4094);
        bad("INDX usa_count", 4096, NTFS_FIXUP_INDX, count_low, "ntfs.indx.usa_count", 6);
        return 0;
}
