/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lib/vhd/image.c, write.c, parent.c, create.c: the merged view, writes,
 * zero/trim, extents, differencing chains and locking, on images from the
 * builder.
 *
 * Every case keeps a model of the virtual disk (what a reader must see),
 * derived from the builder's bytes with the rules of docs/formats/vhd.md
 * ("BAT and blocks") and then updated by each write, and compares the
 * library's reads with it after each operation and again after re-opening
 * the file.  Files written
 * to are then checked on disk: BAT entries, sector bitmap bits, the footer
 * copy at 0 equal to the end footer, and vhd_check() finding nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests.h"
#include "util/endian.h"
#include "vhd-builder.h"
#include "vhd/vhd.h"

#define KiB 1024ull
#define MiB (1024ull * 1024)
#define BS (64 * KiB)

static char dir[VB_PATH_MAX];

static void path_in_dir(char *out, const char *name)
{
        vb_path_join(out, dir, name);
}

static void fmt_problems(const struct vc_problems *ps, char *line, size_t size)
{
        if (ps->n == 0)
                snprintf(line, size, "(no problem recorded)");
        else
                vc_problem_format(&ps->first, line, size);
}

static struct vhd_image *open_ok(const char *path, unsigned flags)
{
        struct vc_problems ps = {};
        struct vhd_image *img = NULL;
        char line[600];
        int r = vhd_image_open(path, flags, &ps, &img);

        if (r < 0) {
                fmt_problems(&ps, line, sizeof line);
                TEST_FAIL("opening '%s': %s: %s", path, strerror(-r), line);
        }
        ASSERT_TRUE(img != NULL);
        ASSERT_EQ_U64(ps.n, 0);
        return img;
}

static void open_fails(const char *path, unsigned flags, int error, enum vc_problem_id id,
                       const char *field, uint64_t offset)
{
        struct vc_problems ps = {};
        struct vhd_image *img = (struct vhd_image *) &ps; /* must stay untouched */
        int r = vhd_image_open(path, flags, &ps, &img);

        ASSERT_EQ_INT(r, error);
        ASSERT_TRUE(img == (struct vhd_image *) &ps);
        ASSERT_TRUE(ps.n >= 1);
        ASSERT_PROBLEM(&ps.first, id, field, offset);
        ASSERT_EQ_INT(ps.first.error, error);
}

static void check_clean(const char *path)
{
        struct vc_problems ps = {};
        char line[600];
        int r = vhd_check(path, &ps);

        if (r != 0) {
                fmt_problems(&ps, line, sizeof line);
                TEST_FAIL("vhd_check('%s') == %d: %s", path, r, line);
        }
        vc_problems_done(&ps);
}

/* The on-disk state after writes: copy at 0 equals the end footer, and
 * the file validates. */
static void check_file_valid(const char *path)
{
        size_t len;
        uint8_t *f = vb_read_file(path, &len);

        ASSERT_TRUE(len >= 2 * VHD_FOOTER_SIZE);
        ASSERT_EQ_U64(len % VHD_SECTOR_SIZE, 0);
        ASSERT_MEMEQ(f, f + len - VHD_FOOTER_SIZE, VHD_FOOTER_SIZE);
        free(f);
        check_clean(path);
}

/* What a reader must see: docs/formats/vhd.md ("BAT and blocks"), sector
 * by sector.  below is the parent's model (differencing) or NULL. */
static uint8_t *model_of(const struct vb_image *b, const uint8_t *below, uint64_t below_size)
{
        uint8_t *m = calloc(1, b->virtual_size ? b->virtual_size : 1);

        ASSERT_TRUE(m != NULL);
        if (b->type == VHD_TYPE_FIXED) {
                memcpy(m, b->buf, b->virtual_size);
                return m;
        }
        for (uint64_t off = 0; off < b->virtual_size; off += VHD_SECTOR_SIZE) {
                uint32_t blk = (uint32_t) (off / b->block_size);
                uint64_t s = (off % b->block_size) / VHD_SECTOR_SIZE;
                uint32_t e = vb_bat_get(b, blk);
                const uint8_t *bm = b->buf + (uint64_t) e * VHD_SECTOR_SIZE;

                if (e != VHD_BAT_UNUSED && (bm[s / 8] & (0x80u >> (s % 8))))
                        memcpy(m + off, bm + b->bitmap_bytes + (off % b->block_size),
                               VHD_SECTOR_SIZE);
                else if (b->type == VHD_TYPE_DIFFERENCING && below && off < below_size)
                        memcpy(m + off, below + off, MIN(VHD_SECTOR_SIZE, below_size - off));
        }
        return m;
}

/* Whole-disk read, then reads of awkward sizes at awkward places. */
static void check_reads(struct vhd_image *img, const uint8_t *model, uint64_t size)
{
        static const uint64_t lens[] = { 1, 7, 511, 512, 513, 1000, 4096, BS - 1, BS, BS + 1, 200000 };
        uint8_t *buf = malloc(size ? size : 1);
        uint64_t seed = 12345;

        ASSERT_TRUE(buf != NULL);
        ASSERT_EQ_U64(vhd_image_virtual_size(img), size);
        ASSERT_OK(vhd_image_pread(img, buf, size, 0));
        for (uint64_t i = 0; i < size; i++)
                if (buf[i] != model[i])
                        TEST_FAIL("virtual byte %" PRIu64 " reads 0x%02x, expected 0x%02x", i,
                                  buf[i], model[i]);
        for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
                uint64_t len = lens[k];
                if (len > size)
                        continue;
                uint64_t offs[] = { 0, 1, 511, 512, BS - 1, BS - 3, BS + 700, size - len, 0 };
                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                offs[8] = (seed >> 17) % (size - len + 1);
                for (size_t j = 0; j < sizeof offs / sizeof offs[0]; j++) {
                        uint64_t off = offs[j];
                        if (off + len > size)
                                continue;
                        memset(buf, 0xEE, len);
                        ASSERT_OK(vhd_image_pread(img, buf, len, off));
                        if (memcmp(buf, model + off, len) != 0)
                                TEST_FAIL("read of %" PRIu64 " bytes at %" PRIu64 " differs", len,
                                          off);
                }
        }
        /* Past the end: refused; an empty read at the end: fine. */
        ASSERT_EQ_INT(vhd_image_pread(img, buf, 1, size), -EINVAL);
        ASSERT_EQ_INT(vhd_image_pread(img, buf, 2, size - 1), -EINVAL);
        ASSERT_EQ_INT(vhd_image_pread(img, buf, 1, UINT64_MAX), -EINVAL);
        ASSERT_OK(vhd_image_pread(img, buf, 0, size));
        free(buf);
}

static void reopen_and_check(const char *path, const uint8_t *model, uint64_t size)
{
        struct vhd_image *img = open_ok(path, 0);
        check_reads(img, model, size);
        vhd_image_free(img);
}

static bool file_bit(const uint8_t *f, uint32_t bat_entry, uint64_t sector)
{
        return f[(uint64_t) bat_entry * VHD_SECTOR_SIZE + sector / 8] & (0x80u >> (sector % 8));
}

static uint32_t file_bat(const uint8_t *f, uint32_t blk)
{
        return get_be32(f + VHD_FOOTER_SIZE + VHD_DYN_SIZE + 4 * (uint64_t) blk);
}

/* Writes through the library and into the model. */
static void write_both(struct vhd_image *img, uint8_t *model, uint64_t off, uint64_t len,
                       uint8_t seed)
{
        uint8_t *buf = malloc(len);

        ASSERT_TRUE(buf != NULL);
        vb_pattern_fill(buf, len, seed, off);
        ASSERT_OK(vhd_image_pwrite(img, buf, len, off));
        memcpy(model + off, buf, len);
        free(buf);
}

/* ---------------------------------------------------------------------- */

static void test_read_dynamic(void)
{
        _cleanup_vb_ struct vb_image *b = vb_dynamic(1 * MiB, BS, VHD_TYPE_DYNAMIC);
        char path[VB_PATH_MAX];

        vb_alloc_block(b, 0, 1, VB_BITMAP_FULL);
        vb_alloc_block(b, 3, 2, VB_BITMAP_PARTIAL);
        vb_alloc_block(b, 5, 3, VB_BITMAP_EMPTY);
        vb_alloc_block(b, 15, 4, VB_BITMAP_FULL);
        /* A full bitmap learnt later: every bit but the padding. */
        vb_alloc_block(b, 7, 5, VB_BITMAP_EMPTY);
        for (uint64_t s = 0; s < BS / 512; s++)
                vb_set_bit(b, 7, s, true);
        path_in_dir(path, "dyn.vhd");
        vb_write_file(b, path);

        uint8_t *model = model_of(b, NULL, 0);
        /* The rule itself: clear bits in a dynamic block read as zeros even
         * though the builder put data there. */
        ASSERT_TRUE(vb_block_data(b, 3)[512] != 0 || vb_block_data(b, 3)[513] != 0);
        for (uint64_t i = 3 * BS + 512; i < 3 * BS + 1024; i++)
                ASSERT_EQ_U64(model[i], 0);
        for (uint64_t i = 5 * BS; i < 6 * BS; i++)
                ASSERT_EQ_U64(model[i], 0);

        struct vhd_image *img = open_ok(path, 0);
        ASSERT_EQ_U64(vhd_image_block_size(img), BS);
        ASSERT_EQ_U64(vhd_image_n_blocks(img), 16);
        ASSERT_EQ_U64(vhd_image_blocks_allocated(img), 5);
        ASSERT_EQ_U64(vhd_image_file_size(img), b->len);
        ASSERT_TRUE(vhd_image_is_readonly(img));
        ASSERT_TRUE(vhd_image_parent(img) == NULL);
        ASSERT_STREQ(vhd_image_path(img), path);
        ASSERT_EQ_U64(vhd_image_footer(img)->disk_type, VHD_TYPE_DYNAMIC);
        ASSERT_STREQ(vhd_image_footer(img)->creator_app, "vbld");
        ASSERT_TRUE(vhd_image_dyn_header(img) != NULL);
        ASSERT_EQ_U64(vhd_image_dyn_header(img)->table_offset, 1536);
        for (uint32_t i = 0; i < 16; i++)
                ASSERT_EQ_U64(vhd_image_bat_entry(img, i), vb_bat_get(b, i));
        ASSERT_EQ_U64(vhd_image_bat_entry(img, 16), VHD_BAT_UNUSED);
        check_reads(img, model, 1 * MiB);
        /* Twice: the second pass uses what the first learnt about bitmaps. */
        check_reads(img, model, 1 * MiB);
        ASSERT_EQ_INT(vhd_image_pwrite(img, model, 512, 0), -EROFS);
        ASSERT_EQ_INT(vhd_image_zero(img, 512, 0), -EROFS);
        ASSERT_EQ_INT(vhd_image_trim(img, 512, 0), -EROFS);
        ASSERT_OK(vhd_image_flush(img));
        vhd_image_free(img);
        free(model);
        unlink(path);

        /* A last block that the disk covers only in part, and 2 MiB blocks. */
        _cleanup_vb_ struct vb_image *c = vb_dynamic(4 * MiB + 3 * 512, 2 * MiB, VHD_TYPE_DYNAMIC);
        vb_alloc_block(c, 1, 7, VB_BITMAP_PARTIAL);
        vb_alloc_block(c, 2, 8, VB_BITMAP_FULL);
        path_in_dir(path, "dyn2m.vhd");
        vb_write_file(c, path);
        model = model_of(c, NULL, 0);
        img = open_ok(path, 0);
        ASSERT_EQ_U64(vhd_image_n_blocks(img), 3);
        check_reads(img, model, c->virtual_size);
        vhd_image_free(img);
        free(model);
        check_clean(path);
        unlink(path);

        /* A fixed disk reads its data area. */
        _cleanup_vb_ struct vb_image *x = vb_fixed(256 * KiB);
        vb_pattern_fill(x->buf, x->virtual_size, 9, 0);
        path_in_dir(path, "fixed.vhd");
        vb_write_file(x, path);
        img = open_ok(path, 0);
        ASSERT_TRUE(vhd_image_dyn_header(img) == NULL);
        ASSERT_EQ_U64(vhd_image_n_blocks(img), 0);
        check_reads(img, x->buf, x->virtual_size);
        vhd_image_free(img);
        check_clean(path);
        unlink(path);
        printf("ok read dynamic: unallocated, full, partial and empty bitmaps, short last block, fixed\n");
}

static void test_read_differencing(void)
{
        char ppath[VB_PATH_MAX], cpath[VB_PATH_MAX], gpath[VB_PATH_MAX];

        /* Parent with 32 KiB blocks, smaller than the child and ending
         * 4 KiB into one of the child's blocks. */
        uint64_t psize = 15 * BS + 4 * KiB;
        _cleanup_vb_ struct vb_image *p = vb_dynamic(psize, 32 * KiB, VHD_TYPE_DYNAMIC);
        vb_alloc_block(p, 0, 10, VB_BITMAP_FULL);
        vb_alloc_block(p, 1, 10, VB_BITMAP_FULL);
        vb_alloc_block(p, 2, 11, VB_BITMAP_FULL);
        vb_alloc_block(p, 4, 12, VB_BITMAP_PARTIAL);
        vb_alloc_block(p, 5, 12, VB_BITMAP_FULL);
        vb_alloc_block(p, 8, 13, VB_BITMAP_FULL);
        vb_alloc_block(p, 12, 14, VB_BITMAP_FULL);
        vb_alloc_block(p, 30, 15, VB_BITMAP_FULL); /* data past the parent's end */
        path_in_dir(ppath, "parent.vhd");
        vb_write_file(p, ppath);

        _cleanup_vb_ struct vb_image *c = vb_dynamic(1 * MiB + 2 * BS, BS, VHD_TYPE_DIFFERENCING);
        vb_set_parent(c, p, ppath);
        vb_alloc_block(c, 1, 20, VB_BITMAP_PARTIAL);   /* over parent data */
        vb_alloc_block(c, 2, 21, VB_BITMAP_FULL);
        vb_alloc_block(c, 3, 22, VB_BITMAP_EMPTY);     /* all from the parent */
        vb_alloc_block(c, 6, 23, VB_BITMAP_PARTIAL);   /* over a parent hole */
        vb_alloc_block(c, 14, 24, VB_BITMAP_PARTIAL);
        vb_alloc_block(c, 15, 24, VB_BITMAP_EMPTY);    /* straddles the parent's end */
        vb_alloc_block(c, 17, 25, VB_BITMAP_PARTIAL);  /* past the parent */
        path_in_dir(cpath, "child.vhd");
        vb_write_file(c, cpath);

        uint8_t *pm = model_of(p, NULL, 0);
        uint8_t *cm = model_of(c, pm, psize);
        /* Spot checks of the rules in the model itself. */
        ASSERT_MEMEQ(cm + 3 * BS, pm + 3 * BS, BS);                   /* empty bitmap */
        ASSERT_MEMEQ(cm + BS + 512, pm + BS + 512, 512);              /* clear bit */
        ASSERT_MEMEQ(cm + 4 * BS, pm + 4 * BS, BS);                   /* unallocated */
        ASSERT_MEMEQ(cm + 15 * BS, pm + 15 * BS, 4 * KiB);            /* clear, in parent */
        ASSERT_EQ_U64(cm[15 * BS + 4 * KiB], 0);                      /* clear, past parent */

        struct vhd_image *img = open_ok(cpath, 0);
        ASSERT_TRUE(vhd_image_parent(img) != NULL);
        ASSERT_STREQ(vhd_image_path(vhd_image_parent(img)), ppath);
        ASSERT_EQ_U64(vhd_image_virtual_size(vhd_image_parent(img)), psize);
        check_reads(img, cm, c->virtual_size);
        vhd_image_free(img);
        check_clean(cpath);

        /* A bare child reads the parent, then zeros past its end. */
        char bpath[VB_PATH_MAX];
        _cleanup_vb_ struct vb_image *bare = vb_dynamic(1 * MiB, BS, VHD_TYPE_DIFFERENCING);
        vb_set_parent(bare, p, ppath);
        path_in_dir(bpath, "bare.vhd");
        vb_write_file(bare, bpath);
        uint8_t *bm = model_of(bare, pm, psize);
        ASSERT_MEMEQ(bm, pm, psize);
        img = open_ok(bpath, 0);
        check_reads(img, bm, bare->virtual_size);
        vhd_image_free(img);
        free(bm);
        unlink(bpath);

        /* Without the chain the child alone reads zeros below. */
        img = open_ok(cpath, VHD_OPEN_NOPARENT);
        ASSERT_TRUE(vhd_image_parent(img) == NULL);
        uint8_t *alone = model_of(c, NULL, 0);
        check_reads(img, alone, c->virtual_size);
        vhd_image_free(img);
        free(alone);

        /* A grandchild over the child: three levels. */
        _cleanup_vb_ struct vb_image *g = vb_dynamic(c->virtual_size, 16 * KiB, VHD_TYPE_DIFFERENCING);
        vb_set_parent(g, c, cpath);
        vb_alloc_block(g, 5, 30, VB_BITMAP_PARTIAL);   /* over child block 1 */
        vb_alloc_block(g, 40, 31, VB_BITMAP_FULL);
        path_in_dir(gpath, "grandchild.vhd");
        vb_write_file(g, gpath);
        uint8_t *gm = model_of(g, cm, c->virtual_size);
        img = open_ok(gpath, 0);
        ASSERT_TRUE(vhd_image_parent(vhd_image_parent(img)) != NULL);
        check_reads(img, gm, g->virtual_size);
        vhd_image_free(img);
        free(gm);

        /* A differencing child of a fixed disk. */
        _cleanup_vb_ struct vb_image *x = vb_fixed(512 * KiB);
        vb_pattern_fill(x->buf, x->virtual_size, 40, 0);
        char xpath[VB_PATH_MAX], xcpath[VB_PATH_MAX];
        path_in_dir(xpath, "fixed-parent.vhd");
        vb_write_file(x, xpath);
        _cleanup_vb_ struct vb_image *xc = vb_dynamic(512 * KiB, BS, VHD_TYPE_DIFFERENCING);
        vb_set_parent(xc, x, xpath);
        vb_alloc_block(xc, 2, 41, VB_BITMAP_PARTIAL);
        path_in_dir(xcpath, "fixed-child.vhd");
        vb_write_file(xc, xcpath);
        uint8_t *xm = model_of(xc, x->buf, x->virtual_size);
        img = open_ok(xcpath, 0);
        check_reads(img, xm, xc->virtual_size);
        vhd_image_free(img);
        free(xm);

        free(pm);
        free(cm);
        unlink(gpath);
        unlink(cpath);
        unlink(ppath);
        unlink(xcpath);
        unlink(xpath);
        printf("ok read differencing: bits and holes from the parent, zeros past it, 3 levels, fixed parent\n");
}

/* Two differencing disks that are each other's parent (locators and
 * unique ids agree): parent-loop, read-only or read-write.  Read-write
 * once met its own lock on the way round and said in-use. */
static void test_parent_loop(void)
{
        char apath[VB_PATH_MAX], bpath[VB_PATH_MAX];
        _cleanup_vb_ struct vb_image *a = vb_dynamic(1 * MiB, BS, VHD_TYPE_DIFFERENCING);
        _cleanup_vb_ struct vb_image *b = vb_dynamic(1 * MiB, BS, VHD_TYPE_DIFFERENCING);

        path_in_dir(apath, "loop-a.vhd");
        path_in_dir(bpath, "loop-b.vhd");
        vb_set_parent(a, b, bpath);
        vb_set_parent(b, a, apath);
        vb_alloc_block(a, 0, 50, VB_BITMAP_PARTIAL);
        vb_write_file(a, apath);
        vb_write_file(b, bpath);
        open_fails(apath, 0, -ELOOP, VC_PROBLEM_PARENT_LOOP, NULL, 0);
        open_fails(apath, VHD_OPEN_RDWR, -ELOOP, VC_PROBLEM_PARENT_LOOP, NULL, 0);
        open_fails(bpath, VHD_OPEN_RDWR, -ELOOP, VC_PROBLEM_PARENT_LOOP, NULL, 0);
        unlink(apath);
        unlink(bpath);
        printf("ok parent loop a -> b -> a: parent-loop read-only and read-write\n");
}

static void test_write_dynamic(void)
{
        _cleanup_vb_ struct vb_image *b = vb_dynamic(1 * MiB, BS, VHD_TYPE_DYNAMIC);
        char path[VB_PATH_MAX];

        vb_alloc_block(b, 0, 1, VB_BITMAP_FULL);
        vb_alloc_block(b, 2, 2, VB_BITMAP_PARTIAL);
        path_in_dir(path, "write.vhd");
        vb_write_file(b, path);
        uint8_t *model = model_of(b, NULL, 0);
        uint64_t old_end = b->len - VHD_FOOTER_SIZE;

        struct vhd_image *img = open_ok(path, VHD_OPEN_RDWR);
        ASSERT_FALSE(vhd_image_is_readonly(img));
        /* Aligned sector into an unallocated block: appended where the
         * footer was. */
        write_both(img, model, 4 * BS + 3 * 512, 512, 50);
        ASSERT_EQ_U64(vhd_image_bat_entry(img, 4), old_end / 512);
        ASSERT_EQ_U64(vhd_image_file_size(img), b->len + BS + 512);
        ASSERT_EQ_U64(vhd_image_blocks_allocated(img), 3);
        /* A whole block. */
        write_both(img, model, 6 * BS, BS, 51);
        /* Unaligned inside one sector of a full block. */
        write_both(img, model, 3 * 512 + 7, 100, 52);
        /* Unaligned inside a clear-bit sector of a partial block: the rest of
         * the sector must become zeros, not the stale bytes on disk. */
        write_both(img, model, 2 * BS + 512 + 20, 10, 53);
        /* Unaligned inside a new block. */
        write_both(img, model, 8 * BS + 1000, 33, 54);
        /* Across three blocks: end of 8, all of 9 (new), start of 10 (new). */
        write_both(img, model, 9 * BS - 1234, 1234 + BS + 999, 55);
        /* From a new block into the partial one, unaligned at both ends. */
        write_both(img, model, 2 * BS - 300, 1300, 56);
        /* The last byte of the disk. */
        write_both(img, model, 1 * MiB - 1, 1, 57);
        check_reads(img, model, 1 * MiB);
        ASSERT_EQ_INT(vhd_image_pwrite(img, model, 2, 1 * MiB - 1), -EINVAL);
        ASSERT_OK(vhd_image_pwrite(img, model, 0, 1 * MiB));
        ASSERT_OK(vhd_image_flush(img));
        vhd_image_free(img);

        check_file_valid(path);
        reopen_and_check(path, model, 1 * MiB);

        /* On disk: sector bits of the partial block now set where written,
         * new dynamic blocks fully present (as qemu writes them). */
        size_t len;
        uint8_t *f = vb_read_file(path, &len);
        uint32_t e2 = file_bat(f, 2), e4 = file_bat(f, 4);
        ASSERT_EQ_U64(e2, vb_bat_get(b, 2));
        ASSERT_TRUE(file_bit(f, e2, 1));                /* was clear, written */
        ASSERT_TRUE(file_bit(f, e2, 0));
        ASSERT_FALSE(file_bit(f, e2, 4));               /* clear and untouched */
        ASSERT_TRUE(file_bit(f, e2, 3));
        for (uint64_t s = 0; s < BS / 512; s++)
                ASSERT_TRUE(file_bit(f, e4, s));
        for (uint32_t blk = 0; blk < 16; blk++) {
                bool want = blk == 0 || blk == 1 || blk == 2 || blk == 4 || blk == 6 ||
                            blk == 8 || blk == 9 || blk == 10 || blk == 15;
                if ((file_bat(f, blk) != VHD_BAT_UNUSED) != want)
                        TEST_FAIL("block %u allocation is %s", blk, want ? "missing" : "unexpected");
        }
        free(f);
        free(model);
        unlink(path);

        /* Fixed disks write in place. */
        _cleanup_vb_ struct vb_image *x = vb_fixed(128 * KiB);
        path_in_dir(path, "write-fixed.vhd");
        vb_write_file(x, path);
        model = model_of(x, NULL, 0);
        img = open_ok(path, VHD_OPEN_RDWR);
        write_both(img, model, 700, 3000, 58);
        write_both(img, model, 128 * KiB - 5, 5, 59);
        ASSERT_OK(vhd_image_zero(img, 1000, 1500));
        memset(model + 1500, 0, 1000);
        check_reads(img, model, 128 * KiB);
        vhd_image_free(img);
        check_clean(path);
        reopen_and_check(path, model, 128 * KiB);
        f = vb_read_file(path, &len);
        ASSERT_EQ_U64(len, 128 * KiB + 512);
        ASSERT_MEMEQ(f, model, 128 * KiB);
        free(f);
        free(model);
        unlink(path);
        printf("ok write dynamic: aligned, unaligned, across blocks, into partial blocks; fixed\n");
}

static void test_write_differencing(void)
{
        char ppath[VB_PATH_MAX], cpath[VB_PATH_MAX];
        uint64_t psize = 15 * BS + 4 * KiB;

        _cleanup_vb_ struct vb_image *p = vb_dynamic(psize, BS, VHD_TYPE_DYNAMIC);
        for (uint32_t i = 0; i < 4; i++)
                vb_alloc_block(p, i, (uint8_t) (60 + i), VB_BITMAP_FULL);
        vb_alloc_block(p, 5, 65, VB_BITMAP_PARTIAL);
        vb_alloc_block(p, 15, 66, VB_BITMAP_FULL);
        path_in_dir(ppath, "wparent.vhd");
        vb_write_file(p, ppath);

        _cleanup_vb_ struct vb_image *c = vb_dynamic(1 * MiB, BS, VHD_TYPE_DIFFERENCING);
        vb_set_parent(c, p, ppath);
        vb_alloc_block(c, 1, 70, VB_BITMAP_PARTIAL);
        path_in_dir(cpath, "wchild.vhd");
        vb_write_file(c, cpath);

        size_t plen;
        uint8_t *pbytes = vb_read_file(ppath, &plen);
        uint8_t *pm = model_of(p, NULL, 0);
        uint8_t *cm = model_of(c, pm, psize);

        struct vhd_image *img = open_ok(cpath, VHD_OPEN_RDWR);
        /* 10 bytes inside sector 5 of a new child block over parent data. */
        write_both(img, cm, 0 * BS + 5 * 512 + 100, 10, 80);
        /* Sectors 7..9 of block 3, unaligned at both ends. */
        write_both(img, cm, 3 * BS + 7 * 512 + 300, 1000, 81);
        /* A clear-bit sector of an allocated child block: the rest comes
         * from the parent, not from the child's stale bytes. */
        write_both(img, cm, 1 * BS + 4 * 512 + 50, 20, 82);
        /* Over a parent block whose bit is clear (reads zeros). */
        write_both(img, cm, 5 * BS + 1 * 512 + 3, 5, 83);
        /* Across blocks 6 and 7 where the parent has nothing. */
        write_both(img, cm, 7 * BS - 100, 700, 84);
        /* Across the parent's end: sector 7 from the parent, 8 beyond it. */
        write_both(img, cm, 15 * BS + 7 * 512 + 505, 10, 85);
        /* Wholly past the parent. */
        write_both(img, cm, 1 * MiB - 512 - 1, 2, 86);
        check_reads(img, cm, 1 * MiB);
        ASSERT_OK(vhd_image_flush(img));
        vhd_image_free(img);

        check_file_valid(cpath);
        reopen_and_check(cpath, cm, 1 * MiB);

        /* The parent was only read. */
        size_t plen2;
        uint8_t *pbytes2 = vb_read_file(ppath, &plen2);
        ASSERT_EQ_U64(plen2, plen);
        ASSERT_MEMEQ(pbytes2, pbytes, plen);
        free(pbytes2);

        /* On disk: exactly the touched sectors have their bit. */
        static const struct {
                uint32_t blk;
                int sectors[5];         /* bits set, -1 ends; all others clear */
        } want[] = {
                { 0, { 5, -1 } },
                { 3, { 7, 8, 9, -1 } },
                { 5, { 1, -1 } },
                { 6, { 127, -1 } },
                { 7, { 0, 1, -1 } },
                { 15, { 7, 8, 126, 127, -1 } },
        };
        size_t len;
        uint8_t *f = vb_read_file(cpath, &len);
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
                uint32_t e = file_bat(f, want[i].blk);
                ASSERT_TRUE(e != VHD_BAT_UNUSED);
                for (uint64_t s = 0; s < BS / 512; s++) {
                        bool on = false;
                        for (const int *k = want[i].sectors; *k >= 0; k++)
                                on |= (uint64_t) *k == s;
                        if (file_bit(f, e, s) != on)
                                TEST_FAIL("child block %u sector %" PRIu64 ": bit %d, expected %d",
                                          want[i].blk, s, !on, on);
                }
        }
        /* The partial child block keeps its pattern plus sector 4. */
        uint32_t e1 = file_bat(f, 1);
        for (uint64_t s = 0; s < BS / 512; s++)
                ASSERT_EQ_INT(file_bit(f, e1, s), vb_partial_bit(s) || s == 4);
        /* Untouched blocks stay unallocated. */
        ASSERT_EQ_U64(file_bat(f, 2), VHD_BAT_UNUSED);
        ASSERT_EQ_U64(file_bat(f, 4), VHD_BAT_UNUSED);
        free(f);

        free(pbytes);
        free(pm);
        free(cm);
        unlink(cpath);
        unlink(ppath);
        printf("ok write differencing: partial sectors from the parent, untouched bits clear\n");
}

static void test_zero_trim_dynamic(void)
{
        uint64_t size = 15 * BS + 3 * 512; /* a short last block */
        _cleanup_vb_ struct vb_image *b = vb_dynamic(size, BS, VHD_TYPE_DYNAMIC);
        char path[VB_PATH_MAX];

        for (uint32_t i = 0; i < 6; i++)
                vb_alloc_block(b, i, (uint8_t) (90 + i), VB_BITMAP_FULL);
        vb_alloc_block(b, 7, 97, VB_BITMAP_PARTIAL);
        vb_alloc_block(b, 15, 98, VB_BITMAP_FULL);
        path_in_dir(path, "zero.vhd");
        vb_write_file(b, path);
        uint8_t *model = model_of(b, NULL, 0);

        struct vhd_image *img = open_ok(path, VHD_OPEN_RDWR);
        /* A whole block becomes unallocated. */
        ASSERT_OK(vhd_image_zero(img, BS, 1 * BS));
        memset(model + BS, 0, BS);
        ASSERT_EQ_U64(vhd_image_bat_entry(img, 1), VHD_BAT_UNUSED);
        /* Part of a block is written as zeros and stays allocated. */
        ASSERT_OK(vhd_image_zero(img, 1000, 2 * BS + 300));
        memset(model + 2 * BS + 300, 0, 1000);
        ASSERT_TRUE(vhd_image_bat_entry(img, 2) != VHD_BAT_UNUSED);
        /* Mid-block 3 to mid-block 5: 4 dropped, 3 and 5 zeroed in part. */
        ASSERT_OK(vhd_image_zero(img, 2 * BS - 4096 + 512, 3 * BS + 4096));
        memset(model + 3 * BS + 4096, 0, 2 * BS - 4096 + 512);
        ASSERT_TRUE(vhd_image_bat_entry(img, 3) != VHD_BAT_UNUSED);
        ASSERT_EQ_U64(vhd_image_bat_entry(img, 4), VHD_BAT_UNUSED);
        ASSERT_TRUE(vhd_image_bat_entry(img, 5) != VHD_BAT_UNUSED);
        /* Zeroing part of an unallocated block allocates nothing. */
        ASSERT_OK(vhd_image_zero(img, 512, 10 * BS + 512));
        ASSERT_EQ_U64(vhd_image_bat_entry(img, 10), VHD_BAT_UNUSED);
        /* Trim: whole blocks dropped, parts left as they are. */
        ASSERT_OK(vhd_image_trim(img, BS + 512, 0));
        memset(model, 0, BS);
        ASSERT_EQ_U64(vhd_image_bat_entry(img, 0), VHD_BAT_UNUSED);
        ASSERT_OK(vhd_image_trim(img, 4096, 7 * BS + 512));
        ASSERT_TRUE(vhd_image_bat_entry(img, 7) != VHD_BAT_UNUSED);
        /* Trim to the end takes the short last block. */
        ASSERT_OK(vhd_image_trim(img, 3 * 512, 15 * BS));
        memset(model + 15 * BS, 0, 3 * 512);
        ASSERT_EQ_U64(vhd_image_bat_entry(img, 15), VHD_BAT_UNUSED);
        ASSERT_EQ_INT(vhd_image_zero(img, 513, size - 512), -EINVAL);
        ASSERT_EQ_INT(vhd_image_trim(img, 513, size - 512), -EINVAL);
        ASSERT_EQ_U64(vhd_image_blocks_allocated(img), 4);
        check_reads(img, model, size);
        vhd_image_free(img);

        size_t len;
        uint8_t *f = vb_read_file(path, &len);
        ASSERT_EQ_U64(len, b->len);     /* nothing appended */
        for (uint32_t i = 0; i < 16; i++) {
                bool gone = i == 0 || i == 1 || i == 4 || i == 15 || vb_bat_get(b, i) == VHD_BAT_UNUSED;
                ASSERT_EQ_U64(file_bat(f, i), gone ? VHD_BAT_UNUSED : vb_bat_get(b, i));
        }
        free(f);
        check_file_valid(path);
        reopen_and_check(path, model, size);

        /* A dropped block can be allocated again. */
        img = open_ok(path, VHD_OPEN_RDWR);
        write_both(img, model, 1 * BS + 512, 512, 99);
        ASSERT_EQ_U64(vhd_image_bat_entry(img, 1), (b->len - VHD_FOOTER_SIZE) / 512);
        vhd_image_free(img);
        check_file_valid(path);
        reopen_and_check(path, model, size);
        free(model);
        unlink(path);
        printf("ok zero/trim dynamic: whole blocks unallocated, parts zeroed, short last block\n");
}

static void test_zero_trim_differencing(void)
{
        char ppath[VB_PATH_MAX], cpath[VB_PATH_MAX];

        _cleanup_vb_ struct vb_image *p = vb_dynamic(1 * MiB, BS, VHD_TYPE_DYNAMIC);
        for (uint32_t i = 0; i < 8; i++)
                vb_alloc_block(p, i, (uint8_t) (100 + i), VB_BITMAP_FULL);
        path_in_dir(ppath, "zparent.vhd");
        vb_write_file(p, ppath);
        _cleanup_vb_ struct vb_image *c = vb_dynamic(1 * MiB, BS, VHD_TYPE_DIFFERENCING);
        vb_set_parent(c, p, ppath);
        vb_alloc_block(c, 1, 110, VB_BITMAP_FULL);
        vb_alloc_block(c, 2, 111, VB_BITMAP_PARTIAL);
        path_in_dir(cpath, "zchild.vhd");
        vb_write_file(c, cpath);
        uint8_t *pm = model_of(p, NULL, 0);
        uint8_t *cm = model_of(c, pm, p->virtual_size);

        /* Trim is a no-op: the file stays byte-identical. */
        size_t len0, len1;
        uint8_t *before = vb_read_file(cpath, &len0);
        struct vhd_image *img = open_ok(cpath, VHD_OPEN_RDWR);
        ASSERT_OK(vhd_image_trim(img, 4 * BS, 0));
        ASSERT_OK(vhd_image_trim(img, 1 * MiB, 0));
        ASSERT_EQ_U64(vhd_image_bat_entry(img, 1), vb_bat_get(c, 1));
        ASSERT_EQ_U64(vhd_image_blocks_allocated(img), 2);
        check_reads(img, cm, 1 * MiB);
        ASSERT_OK(vhd_image_flush(img));
        vhd_image_free(img);
        uint8_t *after = vb_read_file(cpath, &len1);
        ASSERT_EQ_U64(len1, len0);
        ASSERT_MEMEQ(after, before, len0);
        free(before);
        free(after);

        /* Zero writes zeros, hiding the parent; nothing is unallocated. */
        img = open_ok(cpath, VHD_OPEN_RDWR);
        ASSERT_OK(vhd_image_zero(img, BS, 1 * BS));       /* allocated child block */
        ASSERT_OK(vhd_image_zero(img, BS, 3 * BS));       /* parent data only */
        ASSERT_OK(vhd_image_zero(img, 700, 2 * BS + 100)); /* partial child block */
        ASSERT_OK(vhd_image_zero(img, 10, 5 * BS + 1));    /* partial over the parent */
        memset(cm + BS, 0, BS);
        memset(cm + 3 * BS, 0, BS);
        memset(cm + 2 * BS + 100, 0, 700);
        memset(cm + 5 * BS + 1, 0, 10);
        ASSERT_TRUE(vhd_image_bat_entry(img, 1) != VHD_BAT_UNUSED);
        ASSERT_TRUE(vhd_image_bat_entry(img, 3) != VHD_BAT_UNUSED);
        ASSERT_TRUE(vhd_image_bat_entry(img, 5) != VHD_BAT_UNUSED);
        check_reads(img, cm, 1 * MiB);
        vhd_image_free(img);
        check_file_valid(cpath);
        reopen_and_check(cpath, cm, 1 * MiB);

        /* Only sector 0 of child block 5 was touched. */
        uint8_t *f = vb_read_file(cpath, &len1);
        uint32_t e5 = file_bat(f, 5);
        for (uint64_t s = 0; s < BS / 512; s++)
                ASSERT_EQ_INT(file_bit(f, e5, s), s == 0);
        free(f);
        free(pm);
        free(cm);
        unlink(cpath);
        unlink(ppath);
        printf("ok zero/trim differencing: trim is a no-op, zero writes zeros\n");
}

struct extent {
        uint64_t off, len;
        enum vc_extent_kind kind;
};

struct extent_list {
        struct extent v[64];
        size_t n;
        int stop_after;         /* return 7 after this many calls, 0 = never */
};

static int collect_extent(uint64_t off, uint64_t len, enum vc_extent_kind kind, void *userdata)
{
        struct extent_list *l = userdata;

        ASSERT_TRUE(l->n < 64);
        l->v[l->n++] = (struct extent) { off, len, kind };
        return l->stop_after && (int) l->n >= l->stop_after ? 7 : 0;
}

static void assert_extents(struct vhd_image *img, uint64_t off, uint64_t count,
                           const struct extent *want, size_t n)
{
        struct extent_list l = {};

        ASSERT_OK(vhd_image_extents(img, off, count, collect_extent, &l));
        if (l.n != n) {
                for (size_t i = 0; i < l.n; i++)
                        fprintf(stderr, "  got [%" PRIu64 ", +%" PRIu64 ") %s\n", l.v[i].off,
                                l.v[i].len, l.v[i].kind == VC_EXTENT_DATA ? "data" : "hole");
                TEST_FAIL("%zu extents, expected %zu", l.n, n);
        }
        for (size_t i = 0; i < n; i++)
                if (l.v[i].off != want[i].off || l.v[i].len != want[i].len ||
                    l.v[i].kind != want[i].kind)
                        TEST_FAIL("extent %zu: [%" PRIu64 ", +%" PRIu64 ") kind %d, expected "
                                  "[%" PRIu64 ", +%" PRIu64 ") kind %d", i, l.v[i].off, l.v[i].len,
                                  l.v[i].kind, want[i].off, want[i].len, want[i].kind);
}

static void test_extents(void)
{
        const enum vc_extent_kind D = VC_EXTENT_DATA, H = VC_EXTENT_HOLE_ZERO;
        char path[VB_PATH_MAX], ppath[VB_PATH_MAX];

        _cleanup_vb_ struct vb_image *b = vb_dynamic(1 * MiB, BS, VHD_TYPE_DYNAMIC);
        vb_alloc_block(b, 0, 1, VB_BITMAP_FULL);
        vb_alloc_block(b, 1, 1, VB_BITMAP_FULL);
        vb_alloc_block(b, 3, 1, VB_BITMAP_PARTIAL);
        vb_alloc_block(b, 9, 1, VB_BITMAP_FULL);
        path_in_dir(path, "ext.vhd");
        vb_write_file(b, path);
        struct vhd_image *img = open_ok(path, 0);
        const struct extent all[] = {
                { 0, 2 * BS, D }, { 2 * BS, BS, H }, { 3 * BS, BS, D }, { 4 * BS, 5 * BS, H },
                { 9 * BS, BS, D }, { 10 * BS, 6 * BS, H },
        };
        assert_extents(img, 0, 1 * MiB, all, 6);
        const struct extent part[] = {
                { BS + 100, BS - 100, D }, { 2 * BS, BS, H }, { 3 * BS, 100, D },
        };
        assert_extents(img, BS + 100, 2 * BS, part, 3);
        struct extent_list l = { .stop_after = 2 };
        ASSERT_EQ_INT(vhd_image_extents(img, 0, 1 * MiB, collect_extent, &l), 7);
        ASSERT_EQ_U64(l.n, 2);
        l = (struct extent_list) {};
        ASSERT_EQ_INT(vhd_image_extents(img, 0, 1 * MiB + 1, collect_extent, &l), -EINVAL);
        ASSERT_EQ_INT(vhd_image_extents(img, 1, UINT64_MAX, collect_extent, &l), -EINVAL);
        ASSERT_OK(vhd_image_extents(img, 1 * MiB, 0, collect_extent, &l));
        ASSERT_EQ_U64(l.n, 0);
        vhd_image_free(img);
        unlink(path);

        /* Differencing: the parent's data counts, with other block sizes. */
        _cleanup_vb_ struct vb_image *p = vb_dynamic(640 * KiB, 32 * KiB, VHD_TYPE_DYNAMIC);
        vb_alloc_block(p, 4, 2, VB_BITMAP_FULL);         /* [128K, 160K) */
        vb_alloc_block(p, 10, 2, VB_BITMAP_FULL);        /* [320K, 352K) */
        vb_alloc_block(p, 11, 2, VB_BITMAP_EMPTY);       /* [352K, 384K) */
        path_in_dir(ppath, "extparent.vhd");
        vb_write_file(p, ppath);
        _cleanup_vb_ struct vb_image *c = vb_dynamic(1 * MiB, BS, VHD_TYPE_DIFFERENCING);
        vb_set_parent(c, p, ppath);
        vb_alloc_block(c, 0, 3, VB_BITMAP_PARTIAL);
        vb_alloc_block(c, 5, 3, VB_BITMAP_EMPTY);        /* [320K, 384K) */
        vb_alloc_block(c, 12, 3, VB_BITMAP_FULL);        /* past the parent */
        path_in_dir(path, "extchild.vhd");
        vb_write_file(c, path);
        img = open_ok(path, 0);
        const struct extent diff[] = {
                { 0, BS, D }, { BS, BS, H }, { 128 * KiB, 32 * KiB, D }, { 160 * KiB, 160 * KiB, H },
                { 320 * KiB, BS, D }, { 384 * KiB, 384 * KiB, H }, { 12 * BS, BS, D },
                { 13 * BS, 3 * BS, H },
        };
        assert_extents(img, 0, 1 * MiB, diff, 8);
        vhd_image_free(img);

        /* Fixed: all data. */
        _cleanup_vb_ struct vb_image *x = vb_fixed(64 * KiB);
        char xpath[VB_PATH_MAX];
        path_in_dir(xpath, "extfixed.vhd");
        vb_write_file(x, xpath);
        img = open_ok(xpath, 0);
        const struct extent fx[] = { { 0, 64 * KiB, D } };
        assert_extents(img, 0, 64 * KiB, fx, 1);
        vhd_image_free(img);
        unlink(xpath);
        unlink(path);
        unlink(ppath);
        printf("ok extents: dynamic allocation, differencing counts the parent, fixed\n");
}

static void rewrite_header_field(const char *path, size_t field, const void *p, size_t n)
{
        size_t len;
        uint8_t *f = vb_read_file(path, &len);
        struct vb_image tmp = { .buf = f, .len = len };

        memcpy(f + VHD_FOOTER_SIZE + field, p, n);
        vhd_dyn_header_set_checksum(f + VHD_FOOTER_SIZE);
        vb_write_file(&tmp, path);
        free(f);
}

static void test_create_differencing(void)
{
        char ppath[VB_PATH_MAX], cpath[VB_PATH_MAX], sub[VB_PATH_MAX], moved[VB_PATH_MAX];

        /* Inside a folder of its own, so that the folder can move. */
        path_in_dir(sub, "chain");
        ASSERT_OK(mkdir(sub, 0755) < 0 ? -errno : 0);
        vb_path_join(ppath, sub, "base.vhd");
        vb_path_join(cpath, sub, "child.vhd");

        _cleanup_vb_ struct vb_image *p = vb_dynamic(1 * MiB, BS, VHD_TYPE_DYNAMIC);
        vb_alloc_block(p, 2, 120, VB_BITMAP_FULL);
        vb_alloc_block(p, 9, 121, VB_BITMAP_PARTIAL);
        vb_write_file(p, ppath);
        uint8_t *pm = model_of(p, NULL, 0);

        ASSERT_OK(vhd_create_differencing(cpath, ppath, 0));
        ASSERT_EQ_INT(vhd_create_differencing(cpath, ppath, 0), -EEXIST);
        ASSERT_EQ_INT(vhd_create_differencing(cpath, ppath, 3000), -EINVAL);
        check_clean(cpath);

        struct vhd_image *img = open_ok(cpath, 0);
        ASSERT_EQ_U64(vhd_image_footer(img)->disk_type, VHD_TYPE_DIFFERENCING);
        ASSERT_EQ_U64(vhd_image_block_size(img), 2 * MiB);
        ASSERT_EQ_U64(vhd_image_blocks_allocated(img), 0);
        ASSERT_TRUE(vhd_image_parent(img) != NULL);
        ASSERT_MEMEQ(vhd_image_dyn_header(img)->parent_uuid,
                     p->buf + vb_footer_off(p) + VHD_FOOTER_OFF_UNIQUE_ID, 16);
        ASSERT_STREQ(vhd_image_dyn_header(img)->parent_name, "base.vhd");
        ASSERT_TRUE(memcmp(vhd_image_footer(img)->unique_id,
                           p->buf + vb_footer_off(p) + VHD_FOOTER_OFF_UNIQUE_ID, 16) != 0);
        check_reads(img, pm, 1 * MiB);
        vhd_image_free(img);

        /* Writes land in the child only. */
        img = open_ok(cpath, VHD_OPEN_RDWR);
        write_both(img, pm, 2 * BS + 100, 5000, 122);
        vhd_image_free(img);
        check_file_valid(cpath);
        reopen_and_check(cpath, pm, 1 * MiB);
        size_t len;
        uint8_t *pf = vb_read_file(ppath, &len);
        ASSERT_EQ_U64(len, p->len);
        ASSERT_MEMEQ(pf, p->buf, len);
        free(pf);

        /* Moving the folder breaks the absolute locator; the relative one
         * still finds the parent. */
        path_in_dir(moved, "chain-moved");
        ASSERT_OK(rename(sub, moved) < 0 ? -errno : 0);
        vb_path_join(ppath, moved, "base.vhd");
        vb_path_join(cpath, moved, "child.vhd");
        img = open_ok(cpath, 0);
        ASSERT_STREQ(vhd_image_path(vhd_image_parent(img)), ppath);
        check_reads(img, pm, 1 * MiB);
        vhd_image_free(img);

        /* A child whose recorded parent id differs is refused. */
        uint8_t other[16];
        memset(other, 0x42, sizeof other);
        size_t clen;
        uint8_t *saved = vb_read_file(cpath, &clen);
        rewrite_header_field(cpath, VHD_DYN_OFF_PARENT_UUID, other, 16);
        open_fails(cpath, 0, -EBADMSG, VC_PROBLEM_PARENT_MISMATCH, "header.parent_unique_id",
                   VHD_FOOTER_SIZE + VHD_DYN_OFF_PARENT_UUID);
        open_fails(cpath, VHD_OPEN_RDWR, -EBADMSG, VC_PROBLEM_PARENT_MISMATCH,
                   "header.parent_unique_id", VHD_FOOTER_SIZE + VHD_DYN_OFF_PARENT_UUID);
        struct vc_problems ps = {};
        ASSERT_EQ_INT(vhd_check(cpath, &ps), 1);
        ASSERT_PROBLEM(&ps.first, VC_PROBLEM_PARENT_MISMATCH, "header.parent_unique_id",
                       VHD_FOOTER_SIZE + VHD_DYN_OFF_PARENT_UUID);
        vc_problems_done(&ps);
        /* NOPARENT opens it anyway. */
        img = open_ok(cpath, VHD_OPEN_NOPARENT);
        vhd_image_free(img);
        struct vb_image orig = { .buf = saved, .len = clen };
        vb_write_file(&orig, cpath);
        free(saved);

        /* A missing parent. */
        ASSERT_OK(unlink(ppath) < 0 ? -errno : 0);
        open_fails(cpath, 0, -ENOENT, VC_PROBLEM_PARENT_NOT_FOUND, "header.parent_locator",
                   VHD_FOOTER_SIZE + VHD_DYN_OFF_LOCATORS);
        ps = (struct vc_problems) {};
        ASSERT_EQ_INT(vhd_check(cpath, &ps), 1);
        ASSERT_PROBLEM(&ps.first, VC_PROBLEM_PARENT_NOT_FOUND, "header.parent_locator",
                       VHD_FOOTER_SIZE + VHD_DYN_OFF_LOCATORS);
        vc_problems_done(&ps);
        /* The child of a missing parent cannot be created either. */
        char c2[VB_PATH_MAX];
        vb_path_join(c2, moved, "child2.vhd");
        ASSERT_EQ_INT(vhd_create_differencing(c2, ppath, 0), -ENOENT);
        ASSERT_TRUE(access(c2, F_OK) < 0);

        free(pm);
        vb_remove_dir(moved);
        printf("ok vhd_create_differencing: binds, moves with its parent, mismatch and missing parent\n");
}

static void test_locking(void)
{
        char path[VB_PATH_MAX], cpath[VB_PATH_MAX];
        _cleanup_vb_ struct vb_image *b = vb_dynamic(1 * MiB, BS, VHD_TYPE_DYNAMIC);

        path_in_dir(path, "lock.vhd");
        vb_write_file(b, path);

        struct vhd_image *a = open_ok(path, VHD_OPEN_RDWR);
        open_fails(path, VHD_OPEN_RDWR, -EBUSY, VC_PROBLEM_IN_USE, NULL, 0);
        open_fails(path, 0, -EBUSY, VC_PROBLEM_IN_USE, NULL, 0);
        /* A caller that holds the lock itself, and vhd_check, do not lock. */
        struct vhd_image *n = open_ok(path, VHD_OPEN_NOLOCK);
        vhd_image_free(n);
        check_clean(path);
        vhd_image_free(a);

        /* Readers share. */
        struct vhd_image *r1 = open_ok(path, 0), *r2 = open_ok(path, 0);
        open_fails(path, VHD_OPEN_RDWR, -EBUSY, VC_PROBLEM_IN_USE, NULL, 0);
        vhd_image_free(r1);
        vhd_image_free(r2);
        a = open_ok(path, VHD_OPEN_RDWR);
        vhd_image_free(a);

        /* An open child holds its parent shared: the parent cannot be opened
         * for writing, and a locked parent is reported as in use. */
        path_in_dir(cpath, "lock-child.vhd");
        ASSERT_OK(vhd_create_differencing(cpath, path, 0));
        struct vhd_image *c = open_ok(cpath, VHD_OPEN_RDWR);
        open_fails(path, VHD_OPEN_RDWR, -EBUSY, VC_PROBLEM_IN_USE, NULL, 0);
        vhd_image_free(c);
        a = open_ok(path, VHD_OPEN_RDWR);
        struct vc_problems ps = {};
        c = NULL;
        ASSERT_EQ_INT(vhd_image_open(cpath, 0, &ps, &c), -EBUSY);
        ASSERT_EQ_INT(ps.first.id, VC_PROBLEM_IN_USE);
        ASSERT_TRUE(c == NULL);
        vhd_image_free(a);
        unlink(cpath);
        unlink(path);
        printf("ok locking: one writer, shared readers, parents held shared\n");
}

static void test_saved_state(void)
{
        char path[VB_PATH_MAX];
        _cleanup_vb_ struct vb_image *b = vb_dynamic(1 * MiB, BS, VHD_TYPE_DYNAMIC);

        vb_footer_put_bytes(b, VHD_FOOTER_OFF_SAVED_STATE, (const uint8_t[]) { 1 }, 1, 0);
        vb_write_temp(b, path);         /* a mkstemp() name outside the test folder */
        struct vhd_image *img = open_ok(path, 0);
        vhd_image_free(img);
        open_fails(path, VHD_OPEN_RDWR, -EPERM, VC_PROBLEM_SAVED_STATE, "footer.saved_state",
                   vb_footer_off(b) + VHD_FOOTER_OFF_SAVED_STATE);
        unlink(path);
        printf("ok saved state: readable, never writable\n");
}

int main(void)
{
        vb_temp_dir(dir);
        test_read_dynamic();
        test_read_differencing();
        test_parent_loop();
        test_write_dynamic();
        test_write_differencing();
        test_zero_trim_dynamic();
        test_zero_trim_differencing();
        test_extents();
        test_create_differencing();
        test_locking();
        test_saved_state();
        vb_remove_dir(dir);
        return 0;
}
