/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The VHDX fixture builder's own arithmetic, pinned to the values VHDX.md
 * gives (CRC-32C check value, a GUID's stored bytes, chunk ratios and BAT
 * indices past the first chunk, LSB-first sector bits), and what the
 * integration test (test-vhdx-builder.sh) cannot reach with the oracles:
 * disks larger than a chunk, the log entry's bytes, and every row of the
 * corruption table applying on its base.
 */
#include <stdlib.h>
#include <string.h>

#include "tests.h"
#include "vhdx-builder.h"

static uint32_t rd32(const uint8_t *p)
{
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 |
               (uint32_t) p[3] << 24;
}

static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t) rd32(p + 4) << 32; }

/* The CRC of a structure whose checksum is at +4 is right. */
static void assert_crc(const uint8_t *p, size_t len)
{
        uint8_t *copy = malloc(len);
        ASSERT_TRUE(copy);
        memcpy(copy, p, len);
        memset(copy + 4, 0, 4);
        ASSERT_EQ_U64(vxb_crc32c(0, copy, len), rd32(p + 4));
        free(copy);
}

static void test_crc32c(void)
{
        ASSERT_EQ_U64(vxb_crc32c(0, "123456789", 9), 0xE3069283u);
        ASSERT_EQ_U64(vxb_crc32c(vxb_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
        ASSERT_EQ_U64(vxb_crc32c(0, "", 0), 0);
}

static void test_guid(void)
{
        static const uint8_t bat[16] = { 0x66, 0x77, 0xc2, 0x2d, 0x23, 0xf6, 0x00, 0x42,
                                         0x9d, 0x64, 0x11, 0x5e, 0x9b, 0xfd, 0x4a, 0x08 };
        uint8_t g[16], h[16];
        char text[39];

        ASSERT_TRUE(vxb_guid_parse(VXB_GUID_BAT, g));
        ASSERT_MEMEQ(g, bat, 16);
        vxb_guid_format(g, text);
        ASSERT_STREQ(text, "{2dc27766-f623-4200-9d64-115e9bfd4a08}");
        ASSERT_TRUE(vxb_guid_parse(text, h));
        ASSERT_MEMEQ(g, h, 16);
        ASSERT_FALSE(vxb_guid_parse("2DC27766-F623-4200-9D64-115E9BFD4A0", g));
        ASSERT_FALSE(vxb_guid_parse("2DC27766xF623-4200-9D64-115E9BFD4A08", g));
}

static void test_geometry(void)
{
        struct vxb_params p = { .type = VXB_DYNAMIC, .virtual_size = 8ull << 30 };
        _cleanup_vxb_ struct vxb_image *dyn = vxb_new(&p);
        _cleanup_vxb_ struct vxb_image *k4 = NULL, *diff = NULL, *big = NULL;

        ASSERT_EQ_U64(dyn->chunk_ratio, 4096);
        ASSERT_EQ_U64(dyn->n_blocks, 8192);
        ASSERT_EQ_U64(dyn->n_entries, 8192 + 1);       /* one SB entry between the chunks */
        ASSERT_EQ_U64(vxb_bat_index(dyn, 4095), 4095);
        ASSERT_EQ_U64(vxb_bat_index(dyn, 4096), 4097);
        ASSERT_EQ_U64(vxb_sb_index(dyn, 0), 4096);
        ASSERT_EQ_U64(dyn->bat_len, VXB_MIB);
        ASSERT_EQ_U64(dyn->len % VXB_MIB, 0);

        p.type = VXB_DIFFERENCING;
        diff = vxb_new(&p);
        ASSERT_EQ_U64(diff->n_entries, 2 * 4097);      /* ends with the last SB entry */
        ASSERT_EQ_U64(vxb_sb_index(diff, 1), 2 * 4097 - 1);

        p.type = VXB_DYNAMIC;
        p.logical_sector = 4096;
        p.virtual_size = 64 * VXB_MIB;
        k4 = vxb_new(&p);
        ASSERT_EQ_U64(k4->chunk_ratio, 32768);

        p.logical_sector = 512;
        p.block_size = 256 * VXB_MIB;
        p.virtual_size = 600 * VXB_MIB;                 /* a partial last block */
        big = vxb_new(&p);
        ASSERT_EQ_U64(big->chunk_ratio, 16);
        ASSERT_EQ_U64(big->n_blocks, 3);
}

static void test_structures(void)
{
        struct vxb_params p = { .type = VXB_DYNAMIC, .virtual_size = 16 * VXB_MIB,
                                .seq1 = 10, .seq2 = 3 };
        _cleanup_vxb_ struct vxb_image *img = vxb_new(&p);
        uint64_t item;

        ASSERT_MEMEQ(img->buf, "vhdxfile", 8);
        assert_crc(img->buf + VXB_HEADER1_OFF, VXB_HEADER_SIZE);
        assert_crc(img->buf + VXB_HEADER2_OFF, VXB_HEADER_SIZE);
        assert_crc(img->buf + VXB_REGION1_OFF, VXB_REGION_SIZE);
        assert_crc(img->buf + VXB_REGION2_OFF, VXB_REGION_SIZE);
        ASSERT_MEMEQ(img->buf + VXB_REGION1_OFF, img->buf + VXB_REGION2_OFF, VXB_REGION_SIZE);
        ASSERT_EQ_INT(vxb_current_header(img), 1);
        ASSERT_EQ_U64(rd64(img->buf + VXB_HEADER1_OFF + VXB_HDR_SEQUENCE), 10);
        ASSERT_EQ_U64(rd64(img->buf + VXB_HEADER1_OFF + VXB_HDR_LOG_OFFSET), VXB_MIB);
        ASSERT_MEMEQ(img->buf + img->meta_off, "metadata", 8);
        item = vxb_metadata_item(img, VXB_GUID_VIRTUAL_DISK_SIZE);
        ASSERT_EQ_U64(rd64(img->buf + item), 16 * VXB_MIB);
        item = vxb_metadata_item(img, VXB_GUID_FILE_PARAMETERS);
        ASSERT_EQ_U64(rd32(img->buf + item), VXB_MIB);
        ASSERT_EQ_U64(rd32(img->buf + item + 4), 0);
        /* An unallocated block: NOT_PRESENT with offset 0. */
        ASSERT_EQ_U64(vxb_bat_get(img, 3), 0);
        ASSERT_EQ_U64(vxb_alloc_block(img, 3, 0x42) % VXB_MIB, 0);
        ASSERT_EQ_U64(vxb_bat_get(img, 3), img->blocks[3].off | VXB_FULLY_PRESENT);
}

static struct vxb_image *make_parent(void)
{
        struct vxb_params p = { .type = VXB_DYNAMIC, .virtual_size = 8 * VXB_MIB };
        struct vxb_image *par = vxb_new(&p);

        for (uint64_t b = 0; b < 8; b++)
                vxb_alloc_block(par, b, (int) (0x10 + b));
        return par;
}

static void test_differencing(void)
{
        _cleanup_vxb_ struct vxb_image *par = make_parent();
        struct vxb_params p = { .type = VXB_DIFFERENCING, .virtual_size = 8 * VXB_MIB };
        _cleanup_vxb_ struct vxb_image *kid = vxb_new(&p);
        uint8_t *got = malloc(VXB_MIB), *want = malloc(VXB_MIB);
        uint64_t sb, spb = VXB_MIB / 512, fp;

        ASSERT_TRUE(got && want);
        vxb_set_parent_image(kid, par, "/somewhere/parent.vhdx");
        fp = vxb_metadata_item(kid, VXB_GUID_FILE_PARAMETERS);
        ASSERT_EQ_U64(rd32(kid->buf + fp + 4), VXB_FP_HAS_PARENT);
        ASSERT_TRUE(vxb_metadata_item(kid, VXB_GUID_PARENT_LOCATOR) != 0);
        vxb_alloc_block(kid, 1, 0x61);
        vxb_alloc_partial(kid, 2, 0x62);
        vxb_set_state(kid, 3, VXB_ZERO, 0);

        /* LSB-first: sector s is bit s % 8 of byte s / 8 of the chunk's SB block. */
        sb = kid->sb_off[0];
        ASSERT_TRUE(sb != 0);
        ASSERT_EQ_U64(vxb_bat_get(kid, vxb_sb_index(kid, 0)), sb | VXB_SB_PRESENT);
        for (uint64_t s = 2 * spb; s < 2 * spb + 64; s++)
                ASSERT_EQ_INT(kid->buf[sb + s / 8] >> (s % 8) & 1, vxb_partial_bit(s));
        ASSERT_EQ_INT(kid->buf[sb + spb / 8], 0);      /* block 1: FULLY_PRESENT, no bits */

        vxb_expected_read(kid, VXB_VIEW_REPLAYED, 0, got, VXB_MIB);     /* NOT_PRESENT */
        vxb_pattern_fill(want, VXB_MIB, 0x10, 0);
        ASSERT_MEMEQ(got, want, VXB_MIB);
        vxb_expected_read(kid, VXB_VIEW_REPLAYED, VXB_MIB, got, VXB_MIB);
        vxb_pattern_fill(want, VXB_MIB, 0x61, VXB_MIB);
        ASSERT_MEMEQ(got, want, VXB_MIB);
        vxb_expected_read(kid, VXB_VIEW_REPLAYED, 2 * VXB_MIB, got, VXB_MIB);
        for (uint64_t s = 0; s < spb; s++) {
                uint64_t voff = 2 * VXB_MIB + s * 512;
                vxb_pattern_fill(want + s * 512, 512,
                                 vxb_partial_bit(2 * spb + s) ? 0x62 : 0x12, voff);
        }
        ASSERT_MEMEQ(got, want, VXB_MIB);
        vxb_expected_read(kid, VXB_VIEW_REPLAYED, 3 * VXB_MIB, got, VXB_MIB);  /* ZERO */
        memset(want, 0, VXB_MIB);
        ASSERT_MEMEQ(got, want, VXB_MIB);
        free(got);
        free(want);
}

static void test_log(void)
{
        struct vxb_params p = { .type = VXB_DYNAMIC, .virtual_size = 8 * VXB_MIB };
        _cleanup_vxb_ struct vxb_image *img = vxb_new(&p);
        uint8_t *a = malloc(VXB_MIB), *b = malloc(VXB_MIB), *e;
        uint32_t at, len;
        int cur;

        ASSERT_TRUE(a && b);
        vxb_alloc_block(img, 0, 1);
        vxb_log_begin(img);
        vxb_alloc_block(img, 5, 2);
        at = vxb_log_commit(img, 0);
        ASSERT_EQ_U64(at, 0);
        e = img->buf + img->log_off;
        len = rd32(e + 8);
        ASSERT_MEMEQ(e, "loge", 4);
        ASSERT_EQ_U64(len, 2 * VXB_LOG_SECTOR);          /* one descriptor sector, one data */
        assert_crc(e, len);
        ASSERT_EQ_U64(rd64(e + 16), 1);
        ASSERT_EQ_U64(rd32(e + 24), 1);
        ASSERT_MEMEQ(e + 64, "desc", 4);
        ASSERT_EQ_U64(rd64(e + 64 + 16), img->bat_off);  /* the BAT's first page */
        ASSERT_MEMEQ(e + VXB_LOG_SECTOR, "data", 4);
        ASSERT_EQ_U64(rd32(e + 2 * VXB_LOG_SECTOR - 4), 1);    /* SequenceLow */
        ASSERT_EQ_U64(rd64(e + 56), img->len);
        cur = vxb_current_header(img);
        ASSERT_MEMEQ(img->buf + (cur == 1 ? VXB_HEADER1_OFF : VXB_HEADER2_OFF) + VXB_HDR_LOG_GUID,
                     img->log_guid, 16);
        ASSERT_MEMEQ(e + 32, img->log_guid, 16);

        /* Replayed: block 5 has its data; in place: it reads zeros. */
        vxb_expected_read(img, VXB_VIEW_REPLAYED, 5 * VXB_MIB, a, VXB_MIB);
        vxb_pattern_fill(b, VXB_MIB, 2, 5 * VXB_MIB);
        ASSERT_MEMEQ(a, b, VXB_MIB);
        vxb_expected_read(img, VXB_VIEW_IN_PLACE, 5 * VXB_MIB, a, VXB_MIB);
        memset(b, 0, VXB_MIB);
        ASSERT_MEMEQ(a, b, VXB_MIB);
        vxb_expected_read(img, VXB_VIEW_IN_PLACE, 0, a, VXB_MIB);
        vxb_pattern_fill(b, VXB_MIB, 1, 0);
        ASSERT_MEMEQ(a, b, VXB_MIB);

        /* A second entry follows the first, in the same sequence. */
        vxb_alloc_block(img, 6, 3);
        at = vxb_log_commit(img, 0);
        ASSERT_EQ_U64(at, len);
        ASSERT_EQ_U64(rd64(img->buf + img->log_off + at + 16), 2);
        ASSERT_EQ_U64(rd32(img->buf + img->log_off + at + 12), 0);     /* Tail */
        free(a);
        free(b);
}

static struct vxb_image *corruption_base(unsigned needs, struct vxb_image **parent)
{
        struct vxb_params p = { .type = VXB_DYNAMIC, .virtual_size = 8ull << 30,
                                .block_size = 2 * VXB_MIB };
        struct vxb_image *img;

        *parent = NULL;
        if (needs & VXB_NEEDS_DIFF) {
                *parent = make_parent();
                p.type = VXB_DIFFERENCING;
                p.virtual_size = 8 * VXB_MIB;
                p.block_size = 0;
                img = vxb_new(&p);
                vxb_set_parent_image(img, *parent, "/x/parent.vhdx");
                vxb_alloc_block(img, 0, 1);
                vxb_alloc_block(img, 1, 2);
                vxb_alloc_partial(img, 2, 3);
                return img;
        }
        if (needs & VXB_NEEDS_LOG) {
                p.virtual_size = 64 * VXB_MIB;
                p.block_size = 0;
                img = vxb_new(&p);
                vxb_alloc_block(img, 0, 1);
                vxb_log_begin(img);
                vxb_alloc_block(img, 1, 2);
                vxb_log_commit(img, 0);
                return img;
        }
        img = vxb_new(&p);
        vxb_alloc_block(img, 0, 1);
        vxb_alloc_block(img, 1, 2);
        return img;
}

static void test_corruptions(void)
{
        ASSERT_TRUE(vxb_n_corruptions >= 80);
        for (size_t i = 0; i < vxb_n_corruptions; i++) {
                const struct vxb_corruption *r = &vxb_corruptions[i];
                struct vxb_image *parent, *img = corruption_base(r->needs, &parent);
                uint8_t *before = malloc(img->len);
                size_t len = img->len;
                uint64_t at;

                ASSERT_TRUE(before);
                ASSERT_TRUE(r->problem && *r->problem && r->what && r->section);
                ASSERT_TRUE(vxb_corruption_find(r->name) == r);
                memcpy(before, img->buf, len);
                at = r->apply(img);
                if (strcmp(r->name, "log-dirty") == 0) {
                        ASSERT_MEMEQ(before, img->buf, len);    /* the base is the trap */
                } else if (img->len != len) {
                        /* cut (short-file, bat-partial-last) or grown by a region/SB block */
                        ASSERT_TRUE(at <= (img->len > len ? img->len : len));
                } else {
                        if (memcmp(before, img->buf, len) == 0)
                                TEST_FAIL("corruption %s changes nothing", r->name);
                        ASSERT_TRUE(at < len);
                }
                free(before);
                vxb_free(img);
                vxb_free(parent);
        }
}

int main(void)
{
        test_crc32c();
        test_guid();
        test_geometry();
        test_structures();
        test_differencing();
        test_log();
        test_corruptions();
        return 0;
}
