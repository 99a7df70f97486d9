/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * In-place compaction of VHDX (issue 15 items 1-3), on images from the
 * independent builder (tests/lib/vhdx-builder.h), checked against the
 * builder's model and the file's own bytes, never against lib/vhdx's
 * view of itself:
 *
 *   - a dynamic disk (1 MiB and 4 MiB blocks) whose blocks lie after the
 *     tables, with an unknown region among them, zero blocks and a soft
 *     anchor: --dry-run says the final size, which is the sum of the fixed
 *     regions and the kept blocks (they pack without a gap), and the run
 *     reaches it; every byte reads as before; the zero blocks are ZERO
 *     with offset 0, the anchor UNMAPPED with offset 0, the kept blocks
 *     FULLY_PRESENT at distinct offsets; FileWriteGuid is new,
 *     DataWriteGuid is not (zero drops change no read), LogGuid is 0 in
 *     both headers; `check` is clean; a second run writes nothing;
 *   - a differencing child over a two-chunk parent: a zero block over a
 *     zero parent range, a block holding the parent's very bytes and
 *     partially present blocks that read as zeros go (NOT_PRESENT, offset
 *     0; DataWriteGuid unchanged), a zero block over parent data stays;
 *     the bitmap slice of a dropped partial block is cleared in the
 *     sector bitmap that stays, the other slice is kept; the sector
 *     bitmap of the chunk left with no partially present block is freed
 *     (NOT_PRESENT); the rest is packed to the optimum; reads through the
 *     parent are as before; a plain read-write open of the child (the
 *     plugin's) is still refused, only the compaction's opens it;
 *   - refusals, file byte-identical: a fixed VHDX (not-supported, naming
 *     LeaveBlockAllocated's field); modes full and fs on a parent with a
 *     child beside it (zero is allowed);
 *   - child_of: the child is one, another dynamic disk and a text file
 *     named .vhdx are not, a damaged VHDX cannot be told (refused).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compact/compact.h"
#include "image/image.h"
#include "tests.h"
#include "util/endian.h"
#include "util/fd-util.h"
#include "vhd-builder.h"          /* vb_temp_dir, vb_path_join */
#include "vhdx-builder.h"

#define MiB (1024ull * 1024)

static char dir[VB_PATH_MAX];

static char *path_of(const char *name)
{
        static char buf[8][VB_PATH_MAX];
        static int k;
        char *p = buf[k++ % 8];
        vb_path_join(p, dir, name);
        return p;
}

static uint8_t *slurp(const char *path, size_t *len)
{
        struct stat st;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        ASSERT_TRUE(fstat(fd, &st) == 0);
        uint8_t *b = malloc(st.st_size ? st.st_size : 1);
        ASSERT_TRUE(b);
        ASSERT_OK(pread_full(fd, b, st.st_size, 0));
        close(fd);
        *len = st.st_size;
        return b;
}

static void assert_same_file(const char *path, const uint8_t *before, size_t len)
{
        size_t n;
        uint8_t *now = slurp(path, &n);
        ASSERT_EQ_U64(n, len);
        ASSERT_TRUE(memcmp(now, before, len) == 0);
        free(now);
}

/* The BAT entry at index i, from the file's bytes. */
static uint64_t entry(const uint8_t *file, const struct vxb_image *x, uint64_t i)
{
        return get_le64(file + x->bat_off + 8 * i);
}

/* The current header of the file's bytes. */
static const uint8_t *current_header(const uint8_t *file)
{
        uint64_t s1 = get_le64(file + VXB_HEADER1_OFF + VXB_HDR_SEQUENCE);
        uint64_t s2 = get_le64(file + VXB_HEADER2_OFF + VXB_HDR_SEQUENCE);
        return file + (s1 > s2 ? VXB_HEADER1_OFF : VXB_HEADER2_OFF);
}

static void compact_ok(const char *path, enum compact_mode mode, bool dry, struct compact_report *rep)
{
        struct compact_opts o = { .mode = mode, .dry_run = dry, .in_process = true };
        struct vc_problems ps = {};
        int r = compact_run(path, &o, rep, &ps);
        if (r < 0)
                TEST_FAIL("compact %s: %d %s: %s", path, r, vc_problem_id_to_string(ps.first.id), ps.first.message);
        vc_problems_done(&ps);
}

static void check_clean(const char *path)
{
        struct vc_problems ps = { .collect = true };
        int r = vc_image_check(path, NULL, &ps);
        if (r != 0)
                TEST_FAIL("check %s: %d %s: %s", path, r, vc_problem_id_to_string(ps.first.id), ps.first.message);
        vc_problems_done(&ps);
}

/* [off, off+len) of the disk at path equals the builder's model. */
static void compare(const char *path, struct vxb_image *x, uint64_t off, size_t len)
{
        struct vc_problems ps = {};
        struct vc_image *img = NULL;
        uint8_t *got = malloc(len), *want = malloc(len);

        ASSERT_TRUE(got && want);
        ASSERT_OK(vc_image_open(path, NULL, 0, &ps, &img));
        ASSERT_OK(vc_image_pread(img, got, len, off));
        vxb_expected_read(x, VXB_VIEW_REPLAYED, off, want, len);
        if (memcmp(got, want, len))
                TEST_FAIL("%s: the disk reads differently at %llu (+%zu)", path, (unsigned long long) off, len);
        vc_image_free(img);
        free(got);
        free(want);
}

static void test_dynamic(uint32_t bs)
{
        const uint64_t s = bs / MiB;
        struct vxb_params p = { .type = VXB_DYNAMIC, .virtual_size = 32 * (uint64_t) bs, .block_size = bs };
        struct vxb_image *x = vxb_new(&p);
        struct compact_report dry = {}, rep = {};
        const char *path = path_of("dyn.vhdx");
        uint8_t guid_file[16], guid_data[16];

        /* Fixed: header section, log, metadata, BAT (4 MiB), then: */
        vxb_alloc_block(x, 0, 1);
        vxb_alloc_block(x, 1, -1);                      /* zero: goes */
        vxb_alloc_block(x, 2, 2);
        uint64_t region = vxb_add_region(x, "6B1F42A4-09C7-4F2E-9B3C-1D2A3E4F5A6B", VXB_MIB, false);
        memset(x->buf + region, 0x5c, VXB_MIB);        /* fixed: stays, byte for byte */
        vxb_alloc_block(x, 5, -1);                      /* zero: goes */
        vxb_alloc_block(x, 7, 3);
        vxb_set_state(x, 11, VXB_UNMAPPED, vxb_append(x, bs));  /* a soft anchor: its offset goes */
        vxb_alloc_block(x, 9, 4);
        vxb_alloc_block(x, 12, -1);                     /* zero: goes */
        vxb_write_file(x, path);
        memcpy(guid_file, current_header(x->buf) + VXB_HDR_FILE_WRITE_GUID, 16);
        memcpy(guid_data, current_header(x->buf) + VXB_HDR_DATA_WRITE_GUID, 16);

        /* The optimum, from the layout alone: 4 MiB of tables, the
         * unknown region and the four kept blocks, without a gap. */
        const uint64_t optimum = (4 + 1 + 4 * s) * MiB;
        compact_ok(path, COMPACT_MODE_ZERO, true, &dry);
        assert_same_file(path, x->buf, x->len);
        ASSERT_EQ_U64(dry.size_after, optimum);
        compact_ok(path, COMPACT_MODE_ZERO, false, &rep);
        ASSERT_EQ_U64(rep.size_after, optimum);
        ASSERT_EQ_U64(rep.dropped_zero, 3);

        size_t len;
        uint8_t *f = slurp(path, &len);
        ASSERT_EQ_U64(len, optimum);
        ASSERT_EQ_U64(entry(f, x, vxb_bat_index(x, 1)), VXB_ZERO);
        ASSERT_EQ_U64(entry(f, x, vxb_bat_index(x, 5)), VXB_ZERO);
        ASSERT_EQ_U64(entry(f, x, vxb_bat_index(x, 12)), VXB_ZERO);
        ASSERT_EQ_U64(entry(f, x, vxb_bat_index(x, 11)), VXB_UNMAPPED);
        const uint64_t kept[] = { 0, 2, 7, 9 };
        for (int i = 0; i < 4; i++) {
                uint64_t e = entry(f, x, vxb_bat_index(x, kept[i]));
                ASSERT_EQ_U64(e & 7, VXB_FULLY_PRESENT);
                ASSERT_TRUE((e & ~7ull) >= 4 * MiB && (e & ~7ull) + bs <= len);
                for (int j = 0; j < i; j++)
                        ASSERT_TRUE((entry(f, x, vxb_bat_index(x, kept[j])) & ~7ull) != (e & ~7ull));
        }
        /* The unknown region is where it was, byte for byte, and so are
         * the file identifier, both region tables and the metadata. */
        ASSERT_TRUE(region + VXB_MIB <= len && memcmp(f + region, x->buf + region, VXB_MIB) == 0);
        ASSERT_TRUE(memcmp(f, x->buf, VXB_HEADER1_OFF) == 0);
        ASSERT_TRUE(memcmp(f + VXB_REGION1_OFF, x->buf + VXB_REGION1_OFF, 2 * VXB_REGION_SIZE) == 0);
        ASSERT_TRUE(memcmp(f + x->meta_off, x->buf + x->meta_off, VXB_MIB) == 0);
        const uint8_t *h = current_header(f);
        ASSERT_FALSE(memcmp(h + VXB_HDR_FILE_WRITE_GUID, guid_file, 16) == 0);
        ASSERT_TRUE(memcmp(h + VXB_HDR_DATA_WRITE_GUID, guid_data, 16) == 0);
        static const uint8_t zero[16];
        ASSERT_TRUE(memcmp(f + VXB_HEADER1_OFF + VXB_HDR_LOG_GUID, zero, 16) == 0);
        ASSERT_TRUE(memcmp(f + VXB_HEADER2_OFF + VXB_HDR_LOG_GUID, zero, 16) == 0);
        check_clean(path);
        compare(path, x, 0, x->p.virtual_size);

        /* A second run finds nothing to do and writes nothing. */
        compact_ok(path, COMPACT_MODE_ZERO, false, &rep);
        ASSERT_EQ_U64(rep.size_after, optimum);
        ASSERT_EQ_U64(rep.moved, 0);
        ASSERT_EQ_U64(rep.dropped_zero, 0);
        assert_same_file(path, f, len);
        free(f);
        vxb_free(x);
        printf("dynamic, %u MiB blocks: %llu bytes, optimum\n", bs >> 20, (unsigned long long) optimum);
}

static void test_child(void)
{
        const uint64_t cr = 4096;                       /* 1 MiB blocks, 512-byte sectors */
        const uint64_t vsize = (cr + 4) * MiB, slice = MiB / 512 / 8;
        struct vxb_params pp = { .type = VXB_DYNAMIC, .virtual_size = vsize, .block_size = MiB };
        struct vxb_params cp = { .type = VXB_DIFFERENCING, .virtual_size = vsize, .block_size = MiB };
        struct vxb_image *par = vxb_new(&pp), *kid;
        struct compact_report rep = {};
        const char *path = path_of("kid.vhdx");

        vxb_alloc_block(par, 0, 0x10);
        vxb_alloc_block(par, 3, 0x11);
        vxb_alloc_block(par, cr + 1, 0x12);
        vxb_alloc_block(par, 6, 0x13);
        vxb_write_file(par, path_of("par.vhdx"));
        kid = vxb_new(&cp);
        ASSERT_EQ_U64(kid->chunk_ratio, cr);
        vxb_set_parent_image(kid, par, path_of("par.vhdx"));
        vxb_alloc_block(kid, 0, 0x20);                  /* kept */
        vxb_alloc_block(kid, 1, -1);                    /* zero over zeros: goes */
        vxb_alloc_partial(kid, 2, 0x21);                /* kept: SB 0 stays */
        vxb_alloc_block(kid, 3, -1);                    /* zero over parent data: kept */
        vxb_alloc_partial(kid, 5, 0x22);                /* reads zeros: goes, its slice cleared */
        memset(vxb_block_data(kid, 5), 0, MiB);
        vxb_alloc_partial(kid, cr, 0x23);               /* reads zeros: goes, and SB 1 with it */
        memset(vxb_block_data(kid, cr), 0, MiB);
        vxb_alloc_block(kid, cr + 1, 0x24);             /* kept */
        vxb_alloc_block(kid, 6, 0x13);                  /* the parent's very bytes: goes */
        vxb_write_file(kid, path);
        const uint64_t sb0 = kid->sb_off[0];
        uint8_t *slice2 = malloc(slice);
        ASSERT_TRUE(slice2);
        memcpy(slice2, kid->buf + sb0 + 2 * slice, slice);
        ASSERT_FALSE(memcmp(slice2, (uint8_t[256]) {}, slice) == 0);
        ASSERT_FALSE(memcmp(kid->buf + sb0 + 5 * slice, (uint8_t[256]) {}, slice) == 0);

        /* Kept: blocks 0, 2, 3, cr + 1 and SB 0, 1 MiB each, after 4 MiB
         * of tables. */
        const uint64_t optimum = (4 + 5) * MiB;
        uint8_t guid_data[16];
        memcpy(guid_data, current_header(kid->buf) + VXB_HDR_DATA_WRITE_GUID, 16);
        compact_ok(path, COMPACT_MODE_ZERO, false, &rep);
        ASSERT_EQ_U64(rep.size_after, optimum);
        ASSERT_EQ_U64(rep.dropped_zero, 4);
        size_t len;
        uint8_t *f = slurp(path, &len);
        ASSERT_EQ_U64(len, optimum);
        ASSERT_TRUE(memcmp(current_header(f) + VXB_HDR_DATA_WRITE_GUID, guid_data, 16) == 0);
        ASSERT_EQ_U64(entry(f, kid, vxb_bat_index(kid, 6)), VXB_NOT_PRESENT);
        ASSERT_EQ_U64(entry(f, kid, vxb_bat_index(kid, 1)), VXB_NOT_PRESENT);
        ASSERT_EQ_U64(entry(f, kid, vxb_bat_index(kid, 5)), VXB_NOT_PRESENT);
        ASSERT_EQ_U64(entry(f, kid, vxb_bat_index(kid, cr)), VXB_NOT_PRESENT);
        ASSERT_EQ_U64(entry(f, kid, vxb_sb_index(kid, 1)), VXB_SB_NOT_PRESENT);
        ASSERT_EQ_U64(entry(f, kid, vxb_bat_index(kid, 0)) & 7, VXB_FULLY_PRESENT);
        ASSERT_EQ_U64(entry(f, kid, vxb_bat_index(kid, 2)) & 7, VXB_PARTIALLY_PRESENT);
        ASSERT_EQ_U64(entry(f, kid, vxb_bat_index(kid, 3)) & 7, VXB_FULLY_PRESENT);
        ASSERT_EQ_U64(entry(f, kid, vxb_bat_index(kid, cr + 1)) & 7, VXB_FULLY_PRESENT);
        uint64_t e = entry(f, kid, vxb_sb_index(kid, 0));
        ASSERT_EQ_U64(e & 7, VXB_SB_PRESENT);
        ASSERT_TRUE((e & ~7ull) + MiB <= len);
        ASSERT_TRUE(memcmp(f + (e & ~7ull) + 2 * slice, slice2, slice) == 0);
        ASSERT_TRUE(memcmp(f + (e & ~7ull) + 5 * slice, (uint8_t[256]) {}, slice) == 0);
        check_clean(path);
        compare(path, kid, 0, 8 * MiB);
        compare(path, kid, (cr - 1) * MiB, 4 * MiB);
        compact_ok(path, COMPACT_MODE_ZERO, false, &rep);
        ASSERT_EQ_U64(rep.moved, 0);
        assert_same_file(path, f, len);
        free(f);
        free(slice2);
        vxb_free(kid);
        vxb_free(par);
        printf("differencing: %llu bytes, optimum, bitmaps right\n", (unsigned long long) optimum);
}

static void test_refusals(void)
{
        struct vxb_params fp = { .type = VXB_FIXED, .virtual_size = 8 * MiB };
        struct vxb_params dp = { .type = VXB_DYNAMIC, .virtual_size = 8 * MiB };
        struct vxb_params cp = { .type = VXB_DIFFERENCING, .virtual_size = 8 * MiB };
        struct vxb_image *fx = vxb_new(&fp), *par = vxb_new(&dp), *other = vxb_new(&dp), *kid;
        struct compact_report rep = {};
        struct vc_problems ps = {};

        vxb_write_file(fx, path_of("fixed.vhdx"));
        struct compact_opts o = { .mode = COMPACT_MODE_ZERO, .in_process = true };
        ASSERT_EQ_INT(compact_run(path_of("fixed.vhdx"), &o, &rep, &ps), -EOPNOTSUPP);
        ASSERT_EQ_INT(ps.first.id, VC_PROBLEM_NOT_SUPPORTED);
        ASSERT_STREQ(ps.first.field, "metadata.file_parameters_flags");
        vc_problems_done(&ps);
        assert_same_file(path_of("fixed.vhdx"), fx->buf, fx->len);

        /* A parent with a child beside it. */
        ASSERT_OK(mkdir(path_of("fam"), 0700));
        vxb_alloc_block(par, 1, -1);
        vxb_alloc_block(par, 3, 7);
        vxb_write_file(par, path_of("fam/p.vhdx"));
        kid = vxb_new(&cp);
        vxb_set_parent_image(kid, par, path_of("fam/p.vhdx"));
        vxb_write_file(kid, path_of("fam/c.avhdx"));
        vxb_write_file(other, path_of("fam/other.vhdx"));
        int fd = open(path_of("fam/notes.vhdx"), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        ASSERT_TRUE(fd >= 0 && write(fd, "not a disk\n", 11) == 11);
        close(fd);
        for (int m = COMPACT_MODE_FULL; m <= COMPACT_MODE_FS; m++) {
                o.mode = m;
                ASSERT_TRUE(compact_run(path_of("fam/p.vhdx"), &o, &rep, &ps) < 0);
                ASSERT_EQ_INT(ps.first.id, VC_PROBLEM_HAS_CHILDREN);
                ASSERT_TRUE(strstr(ps.first.message, "c.avhdx") != NULL);
                vc_problems_done(&ps);
                assert_same_file(path_of("fam/p.vhdx"), par->buf, par->len);
        }

        /* child_of, candidate by candidate. */
        struct vc_image *img = NULL;
        ASSERT_OK(vc_image_open(path_of("fam/p.vhdx"), NULL, 0, &ps, &img));
        const struct vc_compact_ops *ops = vc_image_format(img)->compact;
        ASSERT_EQ_INT(ops->child_of(img, path_of("fam/c.avhdx"), NULL, &ps), 1);
        ASSERT_EQ_INT(ops->child_of(img, path_of("fam/other.vhdx"), NULL, &ps), 0);
        ASSERT_EQ_INT(ops->child_of(img, path_of("fam/notes.vhdx"), NULL, &ps), 0);
        ASSERT_EQ_INT(ops->child_of(img, path_of("fam/gone.vhdx"), NULL, &ps), 0);
        /* Shorter than a signature (an empty placeholder): no VHDX, and
         * no read error either. */
        for (size_t len = 0; len < 8; len += 5) {
                int tfd = open(path_of("fam/tiny.vhd"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                ASSERT_TRUE(tfd >= 0);
                ASSERT_TRUE(write(tfd, "vhdxf", len) == (ssize_t) len);
                close(tfd);
                ASSERT_EQ_INT(ops->child_of(img, path_of("fam/tiny.vhd"), NULL, &ps), 0);
        }
        unlink(path_of("fam/tiny.vhd"));
        ASSERT_FALSE(vc_problems_any(&ps));
        /* A child whose headers are both damaged cannot be told. */
        memset(kid->buf + VXB_HEADER1_OFF, 0, 4);
        memset(kid->buf + VXB_HEADER2_OFF, 0, 4);
        vxb_write_file(kid, path_of("fam/c.avhdx"));
        ASSERT_TRUE(ops->child_of(img, path_of("fam/c.avhdx"), NULL, &ps) < 0);
        ASSERT_EQ_INT(ps.first.id, VC_PROBLEM_NOT_SUPPORTED);
        vc_problems_done(&ps);
        vc_image_free(img);

        /* Zero drops are content-neutral: allowed with the child there. */
        o.mode = COMPACT_MODE_ZERO;
        ASSERT_OK(compact_run(path_of("fam/p.vhdx"), &o, &rep, &ps));
        ASSERT_EQ_U64(rep.dropped_zero, 1);
        vxb_free(kid);
        vxb_free(par);
        vxb_free(other);
        vxb_free(fx);
        printf("refusals and children: OK\n");
}

int main(void)
{
        vb_temp_dir(dir);               /* in $TMPDIR, removed should the test abort */
        test_dynamic(1 << 20);
        test_dynamic(4 << 20);
        test_child();
        test_refusals();
        vb_remove_dir(dir);
        return 0;
}
