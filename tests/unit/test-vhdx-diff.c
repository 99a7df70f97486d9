/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Differencing VHDX, read side (issue 14 item 4), on fixtures from the
 * independent builder (tests/lib/vhdx-builder.h, held to 7-Zip and
 * libvhdi by test-vhdx-builder.sh):
 *   - children with every payload state (FULLY_PRESENT, PARTIALLY_PRESENT
 *     through the sector bitmap, NOT_PRESENT from the parent, ZERO,
 *     UNMAPPED, UNDEFINED as zeros), in several chunks, with 512- and
 *     4096-byte logical sectors, chains of three, a child larger than its
 *     parent: every block read through the seam equals the builder's
 *     expected view, sector-unaligned reads across bitmap runs included;
 *   - every locator corruption and resolution failure (not found, linkage
 *     mismatch, a loop, a VHD or other non-VHDX parent, another sector
 *     size) refused with its problem id, field and offset, by the open and
 *     by check, the file byte-identical.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/image.h"
#include "image/open.h"
#include "tests.h"
#include "util/fd-util.h"
#include "vhd-builder.h"           /* vb_read_file */
#include "vhdx-builder.h"
#include "vhdx-expect.h"
#include "vhdx/vhdx.h"

#define MiB (1024ull * 1024)

static char dir[] = "/tmp/test-vhdx-diff.XXXXXX";

static char *path_of(const char *name)
{
        static char buf[8][512];
        static int k;
        char *p = buf[k++ % 8];
        snprintf(p, 512, "%s/%s", dir, name);
        return p;
}

/* Compares [off, off+len) read through the seam with the builder's view. */
static void compare(struct vc_image *img, struct vxb_image *x, uint64_t off, size_t len)
{
        vxe_assert_range(x, VXB_VIEW_REPLAYED, vxe_read_image, img, off, len, "read");
}

/* Every block the test touched, whole and in odd pieces. */
static void compare_blocks(struct vc_image *img, struct vxb_image *x, const uint64_t *blocks, size_t n)
{
        const uint64_t bs = x->p.block_size, ss = x->p.logical_sector;
        const uint64_t vsize = x->p.virtual_size;
        for (size_t i = 0; i < n; i++) {
                uint64_t at = blocks[i] * bs;
                size_t len = at + bs > vsize ? vsize - at : bs;
                compare(img, x, at, len);
                /* Unaligned pieces across the bitmap's runs of sectors. */
                compare(img, x, at + ss - 7, 3 * ss + 11);
                compare(img, x, at + 1, 1);
                if (len > 2 * ss)
                        compare(img, x, at + len - ss - 5, ss + 5);
        }
}

static struct vc_image *open_ok(const char *path)
{
        struct vc_problems ps = {};
        struct vc_image *img = NULL;
        int r = vc_image_open(path, NULL, 0, &ps, &img);
        if (r < 0)
                TEST_FAIL("open %s: %d %s: %s", path, r, vc_problem_id_to_string(ps.first.id), ps.first.message);
        ASSERT_STREQ(vc_image_kind(img), "differencing");
        return img;
}

static struct vxb_image *dynamic(uint64_t size, uint32_t bs, uint32_t ss)
{
        struct vxb_params p = { .type = VXB_DYNAMIC, .virtual_size = size, .block_size = bs, .logical_sector = ss };
        return vxb_new(&p);
}

static struct vxb_image *child_of(struct vxb_image *parent, const char *parent_name, uint64_t size, uint32_t bs)
{
        struct vxb_params p = { .type = VXB_DIFFERENCING, .virtual_size = size, .block_size = bs,
                                .logical_sector = parent->p.logical_sector };
        struct vxb_image *c = vxb_new(&p);
        vxb_set_parent_image(c, parent, path_of(parent_name));
        return c;
}

/* Every payload state in chunks 0 and 1 (and the last block). */
static void test_states(uint32_t ss)
{
        const uint32_t bs = MiB;                /* chunks of 4 or 32 GiB: only touched blocks are read */
        const uint64_t cr = (1ull << 23) * ss / bs;    /* VHDX.md section 2.1 */
        struct vxb_image *par, *kid;
        uint64_t vsize, last;

        vsize = (cr + 3) * (uint64_t) bs - 3 * ss;      /* two chunks, a partial last block */
        last = cr + 2;
        par = dynamic(vsize, bs, ss);
        ASSERT_EQ_U64(par->chunk_ratio, cr);
        const uint64_t pblocks[] = { 0, 1, 2, 4, 6, cr - 1, cr, last };
        for (size_t i = 0; i < sizeof pblocks / sizeof *pblocks; i++)
                vxb_alloc_block(par, pblocks[i], (int) (0x10 + i));
        vxb_write_file(par, path_of("p.vhdx"));
        kid = child_of(par, "p.vhdx", vsize, bs);
        vxb_alloc_block(kid, 0, 0x21);                  /* FULLY_PRESENT */
        vxb_alloc_partial(kid, 1, 0x22);                /* PARTIALLY_PRESENT, chunk 0 */
        /* 2: NOT_PRESENT over a parent block */
        vxb_set_state(kid, 3, VXB_ZERO, 0);
        vxb_set_state(kid, 4, VXB_UNMAPPED, 0);
        vxb_set_state(kid, 5, VXB_UNDEFINED, 0);
        vxb_alloc_partial(kid, cr, 0x23);               /* chunk 1 */
        vxb_alloc_partial(kid, last, 0x24);             /* the partial last block */
        vxb_write_file(kid, path_of("c.vhdx"));

        struct vc_image *img = open_ok(path_of("c.vhdx"));
        ASSERT_EQ_U64(vc_image_virtual_size(img), vsize);
        ASSERT_EQ_U64(vc_image_logical_sector_size(img), ss);
        const uint64_t blocks[] = { 0, 1, 2, 3, 4, 5, 6, cr - 1, cr, cr + 1, last };
        compare_blocks(img, kid, blocks, sizeof blocks / sizeof *blocks);
        /* A read across many blocks and states at once. */
        compare(img, kid, bs - 4096, 2 * MiB);
        compare(img, kid, 2 * (uint64_t) bs - 512, 1024);
        compare(img, kid, cr * (uint64_t) bs - 3 * ss - 1, 2 * MiB);   /* across the chunks */
        vc_image_free(img);
        vxb_free(kid);
        vxb_free(par);
}

/* grandparent (dynamic) <- parent (differencing) <- child, each with its
 * own blocks and partial blocks over the others; 1 MiB blocks. */
static void test_chain3(void)
{
        struct vxb_image *g = dynamic(16 * MiB, 0, 512), *p, *c;

        for (uint64_t b = 0; b < 16; b++)
                vxb_alloc_block(g, b, (int) (0x40 + b));
        vxb_write_file(g, path_of("g.vhdx"));
        p = child_of(g, "g.vhdx", 16 * MiB, 0);
        vxb_alloc_block(p, 1, 0x51);
        vxb_alloc_partial(p, 2, 0x52);
        vxb_alloc_partial(p, 3, 0x53);
        vxb_set_state(p, 4, VXB_ZERO, 0);
        vxb_write_file(p, path_of("p3.vhdx"));
        c = child_of(p, "p3.vhdx", 16 * MiB, 0);
        vxb_alloc_partial(c, 3, 0x63);
        vxb_alloc_partial(c, 4, 0x64);
        vxb_alloc_block(c, 5, 0x65);
        vxb_write_file(c, path_of("c3.vhdx"));

        struct vc_image *img = open_ok(path_of("c3.vhdx"));
        compare(img, c, 0, 16 * MiB);
        const uint64_t blocks[] = { 2, 3, 4 };
        compare_blocks(img, c, blocks, 3);
        /* The chain as the format sees it: two parents. */
        const struct vhdx_image *x = vc_image_priv(img);
        ASSERT_TRUE(vhdx_image_parent(x) && vhdx_image_parent(vhdx_image_parent(x)));
        ASSERT_FALSE(vhdx_image_parent(vhdx_image_parent(vhdx_image_parent(x))));
        vc_image_free(img);
        vxb_free(c);
        vxb_free(p);
        vxb_free(g);
}

/* A child larger than its parent: past the parent's end, zeros. */
static void test_larger_child(void)
{
        struct vxb_image *p = dynamic(4 * MiB, 0, 4096), *c;

        for (uint64_t b = 0; b < 4; b++)
                vxb_alloc_block(p, b, (int) (0x70 + b));
        vxb_write_file(p, path_of("small.vhdx"));
        c = child_of(p, "small.vhdx", 10 * MiB, 0);
        vxb_alloc_partial(c, 3, 0x73);
        vxb_alloc_partial(c, 6, 0x76);
        vxb_alloc_block(c, 8, 0x78);
        vxb_write_file(c, path_of("large.vhdx"));
        struct vc_image *img = open_ok(path_of("large.vhdx"));
        uint8_t z[4096] = {}, got[4096];
        compare(img, c, 0, 10 * MiB);
        ASSERT_OK(vc_image_pread(img, got, sizeof got, 5 * MiB));
        ASSERT_MEMEQ(got, z, sizeof z);         /* NOT_PRESENT past the parent */
        vc_image_free(img);
        vxb_free(c);
        vxb_free(p);
}

/* The open and the check refuse child (written from x) with id, field,
 * offset; the files are byte-identical afterwards. */
static void expect_refused(const char *what, struct vxb_image *x, enum vc_problem_id id, const char *field,
                           uint64_t offset)
{
        struct vc_problems ps = {}, cps = {};
        struct vc_image *img = NULL;
        size_t n1, n2;

        vxb_write_file(x, path_of("bad.vhdx"));
        uint8_t *before = vb_read_file(path_of("bad.vhdx"), &n1);
        int r = vc_image_open(path_of("bad.vhdx"), NULL, 0, &ps, &img);
        if (r >= 0)
                TEST_FAIL("%s: opened", what);
        if (!vc_problems_any(&ps))
                TEST_FAIL("%s: %d without a problem", what, r);
        fprintf(stderr, "%s: %s %s@%llu: %s\n", what, vc_problem_id_to_string(ps.first.id),
                ps.first.field ? ps.first.field : "-", (unsigned long long) ps.first.offset, ps.first.message);
        ASSERT_PROBLEM(&ps.first, id, field, offset);
        ASSERT_EQ_INT(vc_image_check(path_of("bad.vhdx"), NULL, &cps), 1);
        bool found = false;
        for (size_t i = 0; i < cps.n; i++)
                found |= cps.v[i].id == id && cps.v[i].offset == offset;
        if (!found)
                TEST_FAIL("%s: check does not list %s at %llu", what, vc_problem_id_to_string(id),
                          (unsigned long long) offset);
        vc_problems_done(&cps);
        uint8_t *after = vb_read_file(path_of("bad.vhdx"), &n2);
        ASSERT_EQ_U64(n1, n2);
        ASSERT_MEMEQ(before, after, n1);
        free(before);
        free(after);
}

static struct vxb_image *base_child(struct vxb_image *par)
{
        struct vxb_image *c = child_of(par, "pp.vhdx", 8 * MiB, 0);
        vxb_alloc_block(c, 0, 1);
        vxb_alloc_partial(c, 2, 3);
        return c;
}

static void test_refusals(void)
{
        struct vxb_image *par = dynamic(8 * MiB, 0, 512);
        vxb_alloc_block(par, 1, 9);
        vxb_write_file(par, path_of("pp.vhdx"));

        /* Every row of the builder's corruption table about a child. */
        static const struct { const char *name; enum vc_problem_id id; const char *field; int at_item; } rows[] = {
                { "locator-type", VC_PROBLEM_BAD_LOCATOR, "parent_locator.locator_type", 0 },
                { "locator-count-zero", VC_PROBLEM_BAD_LOCATOR, "parent_locator.key_value_count", 0 },
                { "locator-count-big", VC_PROBLEM_BAD_LOCATOR, "parent_locator.key_value_count", 0 },
                { "locator-odd-offset", VC_PROBLEM_BAD_LOCATOR, "parent_locator.value_offset", 0 },
                { "locator-past-item", VC_PROBLEM_BAD_LOCATOR, "parent_locator.value_offset", 0 },
                { "locator-no-linkage", VC_PROBLEM_BAD_LOCATOR, "parent_locator.parent_linkage", 1 },
                { "locator-bad-linkage", VC_PROBLEM_BAD_LOCATOR, "parent_locator.parent_linkage", 0 },
                { "locator-nul", VC_PROBLEM_BAD_LOCATOR, "parent_locator.value_offset", 0 },
                { "locator-missing", VC_PROBLEM_BAD_METADATA, "metadata.file_parameters_flags", -1 },
                { "parent-mismatch", VC_PROBLEM_PARENT_MISMATCH, "parent_locator.parent_linkage", 0 },
                { "partial-without-sb", VC_PROBLEM_BAD_BLOCK_STATE, "bat", 0 },
        };
        for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
                const struct vxb_corruption *k = vxb_corruption_find(rows[i].name);
                struct vxb_image *c = base_child(par);
                ASSERT_TRUE(k);
                uint64_t item = vxb_metadata_item(c, VXB_GUID_PARENT_LOCATOR);
                uint64_t fp = vxb_metadata_item(c, VXB_GUID_FILE_PARAMETERS);
                uint64_t at = k->apply(c);
                if (rows[i].at_item == 1)
                        at = item;
                else if (rows[i].at_item == -1)
                        at = fp + 4;
                expect_refused(rows[i].name, c, rows[i].id, rows[i].field, at);
                vxb_free(c);
        }

        /* Odd key length; a lone surrogate; a repeated key. */
        {
                struct vxb_image *c = base_child(par);
                uint64_t item = vxb_metadata_item(c, VXB_GUID_PARENT_LOCATOR);
                vxb_put_le16(c, item + 20 + 8, 3);
                expect_refused("odd key length", c, VC_PROBLEM_BAD_LOCATOR, "parent_locator.key_offset",
                               item + 20 + 8);
                vxb_free(c);
                c = base_child(par);
                uint32_t v = 0;
                memcpy(&v, c->buf + item + 20 + 12 + 4, 4);     /* entry 1's value (LE host) */
                vxb_put_le16(c, item + v, 0xdc00);
                expect_refused("lone surrogate", c, VC_PROBLEM_BAD_LOCATOR, "parent_locator.value_offset",
                               item + v);
                vxb_free(c);
                c = base_child(par);
                uint32_t k0, k1;
                uint16_t l0;
                memcpy(&k0, c->buf + item + 20, 4);
                memcpy(&l0, c->buf + item + 20 + 8, 2);
                memcpy(&k1, c->buf + item + 20 + 12, 4);
                vxb_put_le32(c, item + 20 + 12, k0);                    /* entry 1's key = entry 0's */
                vxb_put_le16(c, item + 20 + 12 + 8, l0);
                expect_refused("repeated key", c, VC_PROBLEM_BAD_LOCATOR, "parent_locator.key", item + k0);
                (void) k1;
                vxb_free(c);
        }

        /* Resolution: gone, a loop, a VHD, another sector size. */
        uint8_t link[16];
        memcpy(link, par->data_write_guid, 16);
        {
                struct vxb_params p = { .type = VXB_DIFFERENCING, .virtual_size = 8 * MiB };
                struct vxb_image *c = vxb_new(&p);
                vxb_set_parent(c, link, "gone.vhdx", NULL, "\\\\?\\C:\\x\\gone2.vhdx", 8 * MiB, NULL, NULL);
                uint64_t item = vxb_metadata_item(c, VXB_GUID_PARENT_LOCATOR);
                expect_refused("parent not found", c, VC_PROBLEM_PARENT_NOT_FOUND, "parent_locator", item);
                vxb_free(c);

                c = vxb_new(&p);
                vxb_set_parent(c, link, "bad.vhdx", NULL, NULL, 8 * MiB, NULL, NULL);
                expect_refused("itself", c, VC_PROBLEM_PARENT_LOOP, "parent_locator",
                               vxb_metadata_item(c, VXB_GUID_PARENT_LOCATOR));
                vxb_free(c);

                /* A VHD named as the parent. */
                int fd = open(path_of("disk.vhd"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                ASSERT_TRUE(fd >= 0);
                uint8_t ft[512] = "conectix";
                ASSERT_TRUE(pwrite(fd, ft, 512, 8 * MiB) == 512);
                close(fd);
                c = vxb_new(&p);
                vxb_set_parent(c, link, "disk.vhd", NULL, NULL, 8 * MiB, NULL, NULL);
                expect_refused("VHD parent", c, VC_PROBLEM_PARENT_MISMATCH, "parent_locator",
                               vxb_metadata_item(c, VXB_GUID_PARENT_LOCATOR));
                vxb_free(c);

                /* 4096-byte sectors over a 512-byte parent. */
                struct vxb_params q = { .type = VXB_DIFFERENCING, .virtual_size = 8 * MiB, .logical_sector = 4096 };
                c = vxb_new(&q);
                vxb_set_parent(c, link, "pp.vhdx", NULL, NULL, 8 * MiB, NULL, NULL);
                expect_refused("sector size", c, VC_PROBLEM_PARENT_MISMATCH, "parent_locator",
                               vxb_metadata_item(c, VXB_GUID_PARENT_LOCATOR));
                vxb_free(c);

                /* Another disk's GUID as parent_linkage. */
                uint8_t other[16] = { 1, 2, 3 };
                c = vxb_new(&p);
                vxb_set_parent(c, other, "pp.vhdx", NULL, NULL, 8 * MiB, NULL, NULL);
                uint64_t li = vxb_metadata_item(c, VXB_GUID_PARENT_LOCATOR);
                uint32_t lv;
                memcpy(&lv, c->buf + li + 20 + 4, 4);
                expect_refused("linkage", c, VC_PROBLEM_PARENT_MISMATCH, "parent_locator.parent_linkage", li + lv);
                vxb_free(c);
        }
        vxb_free(par);
}

/* Opens path with parent_path as the user's mapping for its parent; on
 * failure returns the problem's id and checks the message names what. */
static int open_mapped(const char *path, const char *parent, const char *names, struct vc_image **ret)
{
        struct vc_open_ctx ctx = VC_OPEN_CTX_INIT;
        struct vc_problems ps = {}, cps = {};
        int r;

        ctx.parent_path = parent;
        r = vc_image_open(path, &ctx, 0, &ps, ret);
        if (r >= 0) {
                ASSERT_EQ_INT(vc_image_check(path, &ctx, &cps), 0);
                return 0;
        }
        if (!vc_problems_any(&ps))
                TEST_FAIL("open %s with parent %s: %d without a problem", path, parent, r);
        fprintf(stderr, "mapped to %s: %s: %s\n", parent, vc_problem_id_to_string(ps.first.id), ps.first.message);
        if (names && !strstr(ps.first.message, names))
                TEST_FAIL("the problem does not name '%s': %s", names, ps.first.message);
        ASSERT_EQ_INT(vc_image_check(path, &ctx, &cps), 1);
        ASSERT_EQ_INT(cps.first.id, ps.first.id);
        vc_problems_done(&cps);
        return ps.first.id;
}

/* A child copied from elsewhere: its locator names 'lost.vhdx', which is
 * not here; the parent is 'moved.vhdx' (VHDX.md 4.4 step 2(b)).  The
 * user's mapping opens it and reads as the chain; a mapping to another
 * disk is parent-mismatch, to the child itself a loop, to nothing
 * parent-not-found, each naming the path given; the mapping is for the
 * immediate parent only (a grandparent comes from its own locators). */
static void test_mapping(void)
{
        struct vxb_image *g = dynamic(8 * MiB, 0, 512), *par, *kid, *other;
        struct vc_image *img = NULL;
        struct vc_problems ps = {};

        vxb_alloc_block(g, 3, 0x31);
        vxb_write_file(g, path_of("mg.vhdx"));
        par = child_of(g, "mg.vhdx", 8 * MiB, 0);
        vxb_alloc_block(par, 1, 0x41);
        vxb_alloc_partial(par, 2, 0x42);
        vxb_write_file(par, path_of("moved.vhdx"));
        kid = child_of(par, "lost.vhdx", 8 * MiB, 0);
        vxb_alloc_partial(kid, 2, 0x51);
        vxb_alloc_block(kid, 0, 0x52);
        vxb_write_file(kid, path_of("copied.vhdx"));
        other = dynamic(8 * MiB, 0, 512);
        vxb_write_file(other, path_of("other.vhdx"));

        ASSERT_EQ_INT(vc_image_open(path_of("copied.vhdx"), NULL, 0, &ps, &img), -ENOENT);
        ASSERT_EQ_INT(ps.first.id, VC_PROBLEM_PARENT_NOT_FOUND);

        ASSERT_EQ_INT(open_mapped(path_of("copied.vhdx"), path_of("moved.vhdx"), NULL, &img), 0);
        const uint64_t blocks[] = { 0, 1, 2, 3 };
        compare_blocks(img, kid, blocks, 4);
        compare(img, kid, 0, 8 * MiB);
        vc_image_free(img);

        ASSERT_EQ_INT(open_mapped(path_of("copied.vhdx"), path_of("other.vhdx"), path_of("other.vhdx"), &img),
                      VC_PROBLEM_PARENT_MISMATCH);
        ASSERT_EQ_INT(open_mapped(path_of("copied.vhdx"), path_of("mg.vhdx"), path_of("mg.vhdx"), &img),
                      VC_PROBLEM_PARENT_MISMATCH);
        ASSERT_EQ_INT(open_mapped(path_of("copied.vhdx"), path_of("copied.vhdx"), path_of("copied.vhdx"), &img),
                      VC_PROBLEM_PARENT_LOOP);
        ASSERT_EQ_INT(open_mapped(path_of("copied.vhdx"), path_of("nothing.vhdx"), path_of("nothing.vhdx"), &img),
                      VC_PROBLEM_PARENT_NOT_FOUND);
        /* The locators are not consulted when the user said where: a
         * 'lost.vhdx' that is the right parent is not used either. */
        ASSERT_EQ_INT(link(path_of("moved.vhdx"), path_of("lost.vhdx")), 0);
        ASSERT_EQ_INT(open_mapped(path_of("copied.vhdx"), path_of("other.vhdx"), path_of("other.vhdx"), &img),
                      VC_PROBLEM_PARENT_MISMATCH);
        vxb_free(other);
        vxb_free(kid);
        vxb_free(par);
        vxb_free(g);
}

int main(void)
{
        if (!mkdtemp(dir))
                TEST_FAIL("mkdtemp");
        test_states(512);
        test_states(4096);
        test_chain3();
        test_larger_child();
        test_refusals();
        test_mapping();
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
                return 1;
        return 0;
}
