/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The VHDX log (lib/vhdx/log.c) against the fixture builder
 * (tests/lib/vhdx-builder.h), which writes logs from the specification
 * alone and says what a replaying reader must show (VXB_VIEW_REPLAYED):
 *
 *   - a read-only open of a dirty log replays it in memory: every byte of
 *     the virtual disk is the builder's replayed view (not the in-place
 *     one a log-ignoring reader shows), for 512- and 4096-byte sectors,
 *     one and several entries, an entry that wraps past the end of the
 *     log, a sequence whose head's Tail leaves out an older entry, and
 *     hundreds of descriptors over the same pages (the last one wins);
 *   - a read-write open replays on disk (lib/vhdx/log.c, vhdx_log_apply,
 *     then a header with LogGuid 0): the file then opens clean and reads
 *     the same; replaying a file twice (a crash after the pages, before
 *     the header) gives the same bytes;
 *   - every log row of the builder's corruption table, a LogGuid with no
 *     entry, a descriptor past LastFileOffset and a LastFileOffset past
 *     any VHDX's size are refused with the problem id the table proposes,
 *     the file byte-identical.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests.h"
#include "util/fd-util.h"
#include "util/problem.h"
#include "vhd-builder.h"           /* vb_read_file */
#include "vhdx-builder.h"
#include "vhdx-expect.h"
#include "vhdx/vhdx.h"

#define MiB (1024ull * 1024)

static char dir[] = "/tmp/test-vhdx-log.XXXXXX";
static char path[256];

static struct vhdx_image *open_img(unsigned flags, struct vc_problems *ps, int *ret_r)
{
        struct vhdx_image *img = NULL;
        int fd = open(path, (flags & VHDX_OPEN_RDWR ? O_RDWR : O_RDONLY) | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        *ret_r = vhdx_image_open_fd(fd, path, flags, ps, &img);
        return img;
}

/* The image at path reads, through our reader, as img's view. */
static void assert_reads(struct vxb_image *img, enum vxb_view view, unsigned flags)
{
        struct vc_problems ps = {};
        int r;
        _cleanup_(vhdx_image_freep) struct vhdx_image *v = open_img(flags, &ps, &r);
        if (r < 0)
                TEST_FAIL("open: %s: %s", vc_problem_id_to_string(ps.first.id), ps.first.message);
        vxe_assert_disk(img, view, vxe_read_vhdx, v, false, path);
}

static bool views_differ(struct vxb_image *img)
{
        uint8_t *a = malloc(MiB), *b = malloc(MiB);
        bool differ = false;
        ASSERT_TRUE(a && b);
        for (uint64_t off = 0; off < img->p.virtual_size && !differ; off += MiB) {
                vxb_expected_read(img, VXB_VIEW_REPLAYED, off, a, MiB);
                vxb_expected_read(img, VXB_VIEW_IN_PLACE, off, b, MiB);
                differ = memcmp(a, b, MiB) != 0;
        }
        free(a);
        free(b);
        return differ;
}

/* Read-only: replayed in memory, the file unchanged. */
static void check_ro(struct vxb_image *img)
{
        size_t n;
        vxb_write_file(img, path);
        uint8_t *before = vb_read_file(path, &n);
        ASSERT_TRUE(views_differ(img));         /* else the test proves nothing */
        assert_reads(img, VXB_VIEW_REPLAYED, 0);
        size_t m;
        uint8_t *after = vb_read_file(path, &m);
        ASSERT_EQ_U64(m, n);
        ASSERT_TRUE(memcmp(before, after, n) == 0);
        free(before);
        free(after);
}

static struct vxb_image *dirty(uint32_t sector, int entries)
{
        struct vxb_params p = { .type = VXB_DYNAMIC, .virtual_size = 24 * MiB, .logical_sector = sector };
        struct vxb_image *img = vxb_new(&p);
        vxb_alloc_block(img, 0, 1);
        vxb_alloc_block(img, 3, 2);
        vxb_log_begin(img);
        for (int i = 0; i < entries; i++) {
                vxb_alloc_block(img, 5 + 7 * i, 10 + i);
                vxb_set_state(img, 3, i ? VXB_ZERO : VXB_UNMAPPED, 0);
                vxb_log_commit(img, 0);
        }
        return img;
}

static void test_replay_in_memory(void)
{
        for (int e = 1; e <= 3; e++) {
                struct vxb_image *img = dirty(512, e);
                check_ro(img);
                vxb_free(img);
                img = dirty(4096, e);
                check_ro(img);
                vxb_free(img);
        }
}

/* A page of the pattern seed: each byte differs from the same byte of
 * every other seed's page. */
static void fill_page(uint8_t *page, unsigned seed)
{
        for (unsigned k = 0; k < 4096; k++)
                page[k] = (uint8_t) (k * 7 + seed * 13 + (k >> 8));
}

/* Many descriptors over the same pages, within an entry and across
 * entries: the last in replay order wins every byte (data over data, zero
 * over data, data over zero, a zero range split by data pages), read
 * through the overlay in memory, then replayed on disk and read again. */
static void test_overwrites(void)
{
        struct vxb_params p = { .type = VXB_DYNAMIC, .virtual_size = 24 * MiB, .log_size = 4 * MiB };
        struct vxb_image *img = vxb_new(&p);
        uint8_t page[4096];
        unsigned seed = 1;

        vxb_alloc_block(img, 1, 1);
        vxb_alloc_block(img, 2, 2);
        const uint64_t a = img->blocks[1].off, b = img->blocks[2].off;
        vxb_log_begin(img);
        /* Entry 1: 64 writes of one page; a zero range over it; two of its
         * pages written again (the zero range is split). */
        for (int i = 0; i < 64; i++) {
                fill_page(page, seed++);
                vxb_log_add_data(img, a + 8192, page);
        }
        vxb_log_add_zero(img, a, 64 * 4096);
        fill_page(page, seed++);
        vxb_log_add_data(img, a + 4096, page);
        fill_page(page, seed++);
        vxb_log_add_data(img, a + 40960, page);
        vxb_log_commit(img, 0);
        /* Entry 2: data then zero on one page; 64 writes alternating
         * between a page of each block. */
        fill_page(page, seed++);
        vxb_log_add_data(img, a + 12288, page);
        vxb_log_add_zero(img, a + 12288, 4096);
        for (int i = 0; i < 64; i++) {
                fill_page(page, seed++);
                vxb_log_add_data(img, i % 2 ? b : a + 8192, page);
        }
        vxb_log_commit(img, 0);
        /* Entry 3: a whole block zeroed, one of its pages written back; 200
         * zero descriptors on one page, each followed by data on the next
         * one, the last of which is zeroed again. */
        vxb_log_add_zero(img, b, MiB);
        fill_page(page, seed++);
        vxb_log_add_data(img, b + 4096, page);
        for (int i = 0; i < 200; i++) {
                vxb_log_add_zero(img, a + 20480, 4096);
                fill_page(page, seed++);
                vxb_log_add_data(img, a + 24576, page);
        }
        vxb_log_add_zero(img, a + 24576, 8192);
        vxb_log_commit(img, 0);
        check_ro(img);
        /* Replayed on disk by a writable open: the same bytes. */
        assert_reads(img, VXB_VIEW_REPLAYED, VHDX_OPEN_RDWR);
        assert_reads(img, VXB_VIEW_REPLAYED, 0);
        vxb_free(img);
}

/* Random sequences over the pages of two blocks: 3 entries of 40
 * descriptors, each data (one page) or zero (1 to 16 pages), at random
 * pages, so that they overlap in every way; the reader must agree with
 * the builder's replay in memory, for eight seeds. */
static void test_overwrites_random(void)
{
        for (uint32_t seed = 1; seed <= 8; seed++) {
                struct vxb_params p = { .type = VXB_DYNAMIC, .virtual_size = 24 * MiB, .log_size = 4 * MiB,
                                        .block_size = MiB };
                struct vxb_image *img = vxb_new(&p);
                uint32_t x = seed * 2654435761u;
                uint8_t page[4096];

                vxb_alloc_block(img, 1, 1);
                vxb_alloc_block(img, 2, 2);
                ASSERT_EQ_U64(img->blocks[2].off, img->blocks[1].off + MiB);    /* one 2 MiB window */
                const uint64_t base = img->blocks[1].off;
                vxb_log_begin(img);
                for (int e = 0; e < 3; e++) {
                        for (int i = 0; i < 40; i++) {
                                x = x * 1103515245u + 12345u;
                                uint64_t pg = (x >> 8) % 512;
                                if (x >> 30 == 0) {
                                        uint64_t n = 1 + (x >> 4) % 16;
                                        if (pg + n > 512)
                                                n = 512 - pg;
                                        vxb_log_add_zero(img, base + pg * 4096, n * 4096);
                                } else {
                                        fill_page(page, x);
                                        vxb_log_add_data(img, base + pg * 4096, page);
                                }
                        }
                        vxb_log_commit(img, 0);
                }
                check_ro(img);
                vxb_free(img);
        }
}

/* The log rotated by shift bytes (a 4 KiB multiple): every entry moves
 * to (offset + shift) mod LogLength, Tail with it, CRC recomputed; the
 * first entry then wraps past the end of the log. */
static void rotate_log(struct vxb_image *img, uint32_t shift, uint32_t n_entries)
{
        const uint32_t L = img->p.log_size;
        uint8_t *log = img->buf + img->log_off, *copy = malloc(L);
        ASSERT_TRUE(copy);
        memcpy(copy, log, L);
        for (uint32_t i = 0; i < L; i++)
                log[(i + shift) % L] = copy[i];
        uint32_t at = 0;
        for (uint32_t k = 0; k < n_entries; k++) {
                uint32_t len = copy[at + 8] | copy[at + 9] << 8 | copy[at + 10] << 16 | (uint32_t) copy[at + 11] << 24;
                uint32_t tail = copy[at + 12] | copy[at + 13] << 8 | copy[at + 14] << 16 | (uint32_t) copy[at + 15] << 24;
                uint8_t *e = malloc(len);
                ASSERT_TRUE(e);
                memcpy(e, copy + at, len);
                tail = (tail + shift) % L;
                memcpy(e + 12, &(uint32_t) { htole32(tail) }, 4);
                memset(e + 4, 0, 4);
                uint32_t crc = htole32(vxb_crc32c(0, e, len));
                memcpy(e + 4, &crc, 4);
                for (uint32_t i = 0; i < len; i++)
                        log[(at + shift + i) % L] = e[i];
                free(e);
                at += len;
        }
        free(copy);
}

static void test_wrap(void)
{
        struct vxb_image *img = dirty(512, 2);
        rotate_log(img, img->p.log_size - 4096, 2);
        check_ro(img);
        vxb_free(img);
}

/* A head whose Tail is itself: the older entry is not in the sequence
 * and is not replayed (its change stays as in place). */
static void test_tail(void)
{
        struct vxb_params p = { .type = VXB_DYNAMIC, .virtual_size = 24 * MiB };
        struct vxb_image *img = vxb_new(&p);
        vxb_alloc_block(img, 0, 1);
        vxb_log_begin(img);
        vxb_alloc_block(img, 5, 2);     /* in BAT page 0, entry 1 */
        uint32_t first = vxb_log_commit(img, 0);
        vxb_alloc_block(img, 9, 3);     /* the same page, entry 2 */
        uint32_t second = vxb_log_commit(img, 0);
        /* Entry 2's Tail → itself: its page (with both blocks) alone replays. */
        uint8_t *e = img->buf + img->log_off + second;
        uint32_t len = e[8] | e[9] << 8 | e[10] << 16 | (uint32_t) e[11] << 24;
        memcpy(e + 12, &(uint32_t) { htole32(second) }, 4);
        memset(e + 4, 0, 4);
        uint32_t crc = htole32(vxb_crc32c(0, e, len));
        memcpy(e + 4, &crc, 4);
        (void) first;
        check_ro(img);                  /* the page of entry 2 holds both changes */
        /* Entry 1 with a bad CRC and entry 2's Tail → entry 1: no valid sequence. */
        img->buf[img->log_off + first + 100] ^= 1;
        memcpy(e + 12, &(uint32_t) { htole32(first) }, 4);
        memset(e + 4, 0, 4);
        crc = htole32(vxb_crc32c(0, e, len));
        memcpy(e + 4, &crc, 4);
        vxb_write_file(img, path);
        struct vc_problems ps = {};
        int r;
        struct vhdx_image *v = open_img(0, &ps, &r);
        ASSERT_TRUE(r < 0 && !v);
        ASSERT_STREQ(vc_problem_id_to_string(ps.first.id), "bad-log");
        vxb_free(img);
}

/* Refused with the id the builder's table proposes, the file unchanged,
 * read-only and read-write alike. */
static void expect_refused(struct vxb_image *img, const char *id, const char *name)
{
        vxb_write_file(img, path);
        size_t n, m;
        uint8_t *before = vb_read_file(path, &n);
        for (int rw = 0; rw < 2; rw++) {
                struct vc_problems ps = {};
                int r;
                struct vhdx_image *v = open_img(rw ? VHDX_OPEN_RDWR : 0, &ps, &r);
                if (r >= 0 || v)
                        TEST_FAIL("%s: opened (%s)", name, rw ? "read-write" : "read-only");
                if (strcmp(vc_problem_id_to_string(ps.first.id), id))
                        TEST_FAIL("%s: refused as %s (%s), expected %s", name,
                                  vc_problem_id_to_string(ps.first.id), ps.first.message, id);
        }
        uint8_t *after = vb_read_file(path, &m);
        ASSERT_EQ_U64(m, n);
        if (memcmp(before, after, n))
                TEST_FAIL("%s: the file changed", name);
        free(before);
        free(after);
}

static void test_hostile(void)
{
        unsigned n = 0;
        for (size_t i = 0; i < vxb_n_corruptions; i++) {
                const struct vxb_corruption *c = &vxb_corruptions[i];
                if (!(c->needs & VXB_NEEDS_LOG) || strcmp(c->name, "log-dirty") == 0)
                        continue;
                struct vxb_params p = { .type = VXB_DYNAMIC, .virtual_size = 64 * MiB };
                struct vxb_image *img = vxb_new(&p);
                vxb_alloc_block(img, 0, 1);
                vxb_log_begin(img);
                vxb_alloc_block(img, 1, 2);
                vxb_log_commit(img, 0);
                c->apply(img);
                expect_refused(img, c->problem, c->name);
                vxb_free(img);
                n++;
        }
        ASSERT_TRUE(n >= 9);

        /* LogGuid set, no entry ever written. */
        struct vxb_params p = { .type = VXB_DYNAMIC, .virtual_size = 8 * MiB };
        struct vxb_image *img = vxb_new(&p);
        uint8_t g[16];
        vxb_guid_new(g);
        vxb_header_put(img, vxb_current_header(img), VXB_HDR_LOG_GUID, g, 16, VXB_FIX_CHECKSUM);
        expect_refused(img, "bad-log", "log guid, no entry");
        vxb_free(img);

        /* Descriptors past LastFileOffset, and a zero descriptor into the
         * log, overflowing. */
        img = dirty(512, 1);
        uint8_t *e = img->buf + img->log_off;
        uint64_t far = 1ull << 50;
        memcpy(e + 64 + 16, &(uint64_t) { htole64(far) }, 8);
        memset(e + 4, 0, 4);
        uint32_t len = e[8] | e[9] << 8 | e[10] << 16 | (uint32_t) e[11] << 24;
        uint32_t crc = htole32(vxb_crc32c(0, e, len));
        memcpy(e + 4, &crc, 4);
        expect_refused(img, "bad-log-descriptor", "descriptor past LastFileOffset");
        vxb_free(img);

        /* A head whose LastFileOffset no VHDX can reach (found by
         * fuzz-vhdx-log: a read-write open extended the file to it, and
         * zero descriptors up to it were written out). */
        img = dirty(512, 1);
        e = img->buf + img->log_off;
        memcpy(e + 56, &(uint64_t) { htole64(1ull << 50) }, 8);
        memset(e + 4, 0, 4);
        len = e[8] | e[9] << 8 | e[10] << 16 | (uint32_t) e[11] << 24;
        crc = htole32(vxb_crc32c(0, e, len));
        memcpy(e + 4, &crc, 4);
        expect_refused(img, "bad-log", "LastFileOffset past any VHDX");
        vxb_free(img);
}

/* A zero descriptor as long as a hostile LastFileOffset allows (1 TiB):
 * the read-write open zeros only the data it covers (the holes and the
 * extension read as zeros), even replayed a second time over the file
 * already extended (found by fuzz-vhdx-log: the replay wrote out a
 * terabyte of zeros). */
static void test_long_zero(void)
{
        struct vxb_params p = { .type = VXB_DYNAMIC, .virtual_size = 8 * MiB };
        struct vxb_image *img = vxb_new(&p);
        const uint64_t tib = 1ull << 40;

        /* Block 3 last in the file: the descriptor runs from its data to
         * past the end, over nothing else. */
        vxb_alloc_block(img, 0, 1);
        vxb_alloc_block(img, 1, 2);
        vxb_alloc_block(img, 3, 3);
        vxb_log_begin(img);
        vxb_set_state(img, 2, VXB_ZERO, 0);
        vxb_log_add_zero(img, img->blocks[3].off, MiB);
        vxb_log_commit(img, 0);
        uint8_t *e = img->buf + img->log_off;
        uint32_t len = e[8] | e[9] << 8 | e[10] << 16 | (uint32_t) e[11] << 24, crc;
        bool found = false;
        for (unsigned slot = 2; slot < 128 && !found; slot++) {
                uint8_t *d = e + 32 * slot;
                if (memcmp(d, "zero", 4))
                        continue;
                uint64_t target = le64toh(*(uint64_t *) (void *) (d + 16));
                memcpy(d + 8, &(uint64_t) { htole64(tib - target) }, 8);
                found = true;
        }
        ASSERT_TRUE(found);
        memcpy(e + 56, &(uint64_t) { htole64(tib) }, 8);
        memset(e + 4, 0, 4);
        crc = htole32(vxb_crc32c(0, e, len));
        memcpy(e + 4, &crc, 4);
        for (int twice = 0; twice < 2; twice++) {
                struct vc_problems ps = {};
                struct stat st;
                int r;
                vxb_write_file(img, path);
                if (twice) {    /* a replay that ran before: the file already at 1 TiB */
                        ASSERT_EQ_INT(truncate(path, (off_t) tib), 0);
                }
                struct vhdx_image *v = open_img(VHDX_OPEN_RDWR, &ps, &r);
                if (r < 0)
                        TEST_FAIL("long zero descriptor: refused: %s", ps.first.message);
                vhdx_image_free(v);
                ASSERT_EQ_INT(stat(path, &st), 0);
                ASSERT_EQ_U64((uint64_t) st.st_size, tib);
                /* What the file held (8 MiB at most), not a terabyte. */
                if ((uint64_t) st.st_blocks * 512 > 16 * MiB)
                        TEST_FAIL("long zero descriptor: %" PRIu64 " bytes allocated", (uint64_t) st.st_blocks * 512);
                assert_reads(img, VXB_VIEW_REPLAYED, 0);
        }
        unlink(path);
        vxb_free(img);
}

int main(void)
{
        ASSERT_TRUE(mkdtemp(dir));
        snprintf(path, sizeof path, "%s/t.vhdx", dir);
        vxb_guid_seed(14);
        test_replay_in_memory();
        test_overwrites();
        test_overwrites_random();
        test_wrap();
        test_tail();
        test_hostile();
        test_long_zero();
        unlink(path);
        rmdir(dir);
        return 0;
}
