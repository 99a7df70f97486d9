/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Writing a differencing VHDX (lib/vhdx/write-child.c) on children made
 * by the independent builder (tests/lib/vhdx-builder.h) over a dynamic
 * parent, 512- and 4096-byte sectors:
 *
 *   - writes (sector-unaligned into NOT_PRESENT blocks, into the builder's
 *     PARTIALLY_PRESENT blocks, across blocks, whole blocks, into ZERO and
 *     UNMAPPED blocks, the last sector), zero and trim (whole blocks and
 *     parts, over the parent's data and over its holes) read back, after
 *     close and a fresh read-only open, as a flat model started from the
 *     builder's expected view says: zero gives zeros, never the parent;
 *     trim of a block the child holds gives zeros, never the parent's
 *     older data; 7-Zip (7zz, when installed) extracts the same bytes;
 *   - the block states and the sector bitmap that result: written sectors
 *     only, a chunk's bitmap block allocated by the first partial write,
 *     stale bits another writer left in a NOT_PRESENT block's slice
 *     cleared by the write that makes it PARTIALLY_PRESENT;
 *   - the headers: both valid, LogGuid 0, the parent file untouched, and
 *     a session of no-op zero and trim requests writes nothing;
 *   - a crash at every fault point of a run of the child's own paths
 *     (the first partial write, allocating the bitmap block; a write
 *     across blocks; zero of a whole block and of part of one; trim of a
 *     partial block) (fork, vc_fault_arm), from a child with no bitmap
 *     block: every sector our reader
 *     reads is as before or after the operation the crash fell in, 7-Zip
 *     extracts the same bytes, and a read-write open then closes it clean;
 *   - a power cut (tests/lib/powercut.h) before and after every barrier
 *     of that run: every sector as in some state of the run, and a
 *     read-write open closes it clean.
 *
 * libvhdi is not an oracle here: it reads ZERO and UNMAPPED blocks of a
 * child from the parent, and bitmap bits from the wrong place in a child
 * without bitmap blocks (docs/formats/vhdx.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests.h"
#include "util/fault.h"
#include "util/fd-util.h"
#include "util/problem.h"
#include "vhd-builder.h"          /* vb_temp_dir, vb_path_join */
#include "vhdx-builder.h"
#include "vhdx-crash.h"
#include "vhdx/vhdx.h"

#define MiB (1024ull * 1024)
#define DISK (14 * MiB)

static char dir[VB_PATH_MAX], path[VB_PATH_MAX], ppath[VB_PATH_MAX];
static bool have_7z;

static struct vhdx_image *open_img(bool rw)
{
        return vxc_open(path, rw);
}

static void read_all(uint8_t *out)
{
        vxc_read_all(path, out, DISK);
}

/* What 7-Zip extracts from the child (the parent beside it) into out:
 * 1; 0 when 7zz is not installed; -1 when it refuses the file (it
 * refuses a file whose log is not replayed). */
static int try_7z(uint8_t *out)
{
        char cmd[2 * VB_PATH_MAX];
        if (!have_7z)
                return 0;
        snprintf(cmd, sizeof cmd, "cd '%s' && 7zz x -so -- c.vhdx 2>/dev/null", dir);
        FILE *f = popen(cmd, "r");
        ASSERT_TRUE(f);
        size_t n = fread(out, 1, DISK, f);
        int extra = fgetc(f);
        int st = pclose(f);
        if (st != 0)
                return -1;
        if (n != DISK || extra != EOF)
                TEST_FAIL("7zz x c.vhdx: %zu bytes", n);
        return 1;
}

static bool read_7z(uint8_t *out)
{
        int r = try_7z(out);
        if (r < 0)
                TEST_FAIL("7zz x c.vhdx failed");
        return r > 0;
}

/* Whether the current header names a log (LogGuid not 0). */
static bool log_named(void)
{
        _cleanup_(vhdx_image_freep) struct vhdx_image *v = open_img(false);
        const struct vhdx_headers *hs = vhdx_image_headers(v);
        return !vhdx_guid_is_zero(hs->h[hs->current].log_guid);
}

static uint8_t *slurp(const char *p, size_t *ret_len)
{
        struct stat st;
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0 && fstat(fd, &st) == 0);
        uint8_t *b = malloc(st.st_size);
        ASSERT_TRUE(b);
        ASSERT_EQ_INT(pread_full(fd, b, st.st_size, 0), 0);
        close(fd);
        *ret_len = st.st_size;
        return b;
}

static void headers_clean(void)
{
        vxc_headers_clean(path);
}

enum op_kind { OP_WRITE, OP_ZERO, OP_TRIM };
struct op {
        enum op_kind kind;
        uint64_t off, len;
        uint8_t seed;
        bool trim_zeros;                /* a trim the child holds: reads zeros after */
};

/* Blocks of 1 MiB; the parent has data in all but 12 and 13. */
static const struct op ops[] = {
        { OP_WRITE, 6 * MiB + 4096 + 100, 5000, 1, false },     /* NOT_PRESENT: partial, unaligned */
        { OP_WRITE, 6 * MiB + 200 * 1024, 8192, 2, false },     /* the same block, more sectors */
        { OP_WRITE, 7 * MiB - 4096, MiB + 8192, 3, false },     /* 6's tail, 7 whole, 8's head */
        { OP_WRITE, 1 * MiB + 3 * 512 + 7, 9000, 4, false },    /* the builder's partial block, mixed bits */
        { OP_WRITE, 3 * MiB + 4096, 4096, 5, false },           /* ZERO: a FULLY_PRESENT block */
        { OP_ZERO, 9 * MiB, MiB, 0, false },                    /* whole, over the parent's data: ZERO */
        { OP_ZERO, 8 * MiB + 4096, 8192, 0, false },            /* part of a partial block */
        { OP_ZERO, 10 * MiB + 512, 1024, 0, false },            /* part of a NOT_PRESENT block */
        { OP_TRIM, 7 * MiB, MiB, 0, true },                     /* FULLY_PRESENT whole: UNMAPPED */
        { OP_TRIM, 6 * MiB, MiB, 0, true },                     /* PARTIALLY_PRESENT whole: UNMAPPED */
        { OP_TRIM, 11 * MiB, MiB, 0, false },                   /* NOT_PRESENT: left (the parent) */
        { OP_ZERO, 12 * MiB, 2 * MiB, 0, false },               /* the parent's holes: nothing */
        { OP_WRITE, 6 * MiB + 4096, 4096, 6, false },           /* UNMAPPED: a FULLY_PRESENT block */
        { OP_WRITE, DISK - 512, 512, 7, false },                /* the last sector */
        { OP_WRITE, 2 * MiB + 64 * 1024, 4096, 8, false },      /* NOT_PRESENT with stale bits (rich) */
};
#define N_OPS (sizeof ops / sizeof *ops)

static int run_op(struct vhdx_image *img, const struct op *o, uint8_t *model)
{
        int r = 0;
        switch (o->kind) {
        case OP_WRITE: {
                uint8_t *b = malloc(o->len);
                ASSERT_TRUE(b);
                vxb_pattern_fill(b, o->len, o->seed, o->off);
                if (img)
                        r = vhdx_image_pwrite(img, b, o->len, o->off);
                if (model)
                        memcpy(model + o->off, b, o->len);
                free(b);
                break;
        }
        case OP_ZERO:
                if (img)
                        r = vhdx_image_zero(img, o->len, o->off);
                if (model)
                        memset(model + o->off, 0, o->len);
                break;
        case OP_TRIM:
                if (img)
                        r = vhdx_image_trim(img, o->len, o->off);
                if (model && o->trim_zeros)
                        memset(model + o->off, 0, o->len);
                break;
        }
        return r;
}

static struct vxb_image *parent(uint32_t ss)
{
        struct vxb_params p = { .type = VXB_DYNAMIC, .virtual_size = DISK, .logical_sector = ss };
        struct vxb_image *x = vxb_new(&p);
        for (uint64_t b = 0; b < DISK / MiB; b++)
                if (b != 12 && b != 13)
                        vxb_alloc_block(x, b, (int) (0x40 + b));
        vxb_write_file(x, ppath);
        return x;
}

/* rich: the builder's FULLY_PRESENT, PARTIALLY_PRESENT, ZERO and UNMAPPED
 * blocks; else a child as vhdctl create makes it (no bitmap block). */
static struct vxb_image *child(struct vxb_image *par, bool rich)
{
        struct vxb_params p = { .type = VXB_DIFFERENCING, .virtual_size = DISK,
                                .logical_sector = par->p.logical_sector };
        struct vxb_image *c = vxb_new(&p);
        vxb_set_parent_image(c, par, ppath);
        if (rich) {
                vxb_alloc_block(c, 0, 0x21);
                vxb_alloc_partial(c, 1, 0x22);
                vxb_set_state(c, 3, VXB_ZERO, 0);
                vxb_set_state(c, 4, VXB_UNMAPPED, 0);
                vxb_alloc_partial(c, 5, 0x23);
                /* Stale bits in NOT_PRESENT block 2's slice (another
                 * writer's, VHDX.md 2.4): readers ignore them; a partial
                 * write must clear them, or its new block's zeros show. */
                for (uint64_t k = 0; k < 32 * 1024 / p.logical_sector; k++)
                        vxb_set_sector_bit(c, 2 * MiB / p.logical_sector + k, true);
        }
        vxb_write_file(c, path);
        return c;
}

static void compare(const uint8_t *got, const uint8_t *want, const char *what)
{
        for (uint64_t o = 0; o < DISK; o += 512)
                if (memcmp(got + o, want + o, 512))
                        TEST_FAIL("%s: sector at %" PRIu64 " differs from the model", what, o);
}

static void test_session(uint32_t ss)
{
        struct vxb_image *par = parent(ss), *kid = child(par, true);
        uint8_t *model = malloc(DISK), *got = malloc(DISK);
        size_t np0, np1;
        ASSERT_TRUE(model && got);
        uint8_t *pbefore = slurp(ppath, &np0);
        vxb_expected_read(kid, VXB_VIEW_REPLAYED, 0, model, DISK);

        struct vhdx_image *img = open_img(true);
        for (size_t i = 0; i < N_OPS; i++) {
                ASSERT_EQ_INT(run_op(img, &ops[i], model), 0);
                /* Reads within the session see each change at once. */
                ASSERT_EQ_INT(vhdx_image_pread(img, got, DISK, 0), 0);
                compare(got, model, "in the session");
        }
        ASSERT_EQ_INT(vhdx_image_flush(img), 0);
        vhdx_image_free(img);

        read_all(got);
        compare(got, model, "after close");
        if (read_7z(got))
                compare(got, model, "7-Zip");
        headers_clean();
        uint8_t *pafter = slurp(ppath, &np1);
        ASSERT_TRUE(np0 == np1 && !memcmp(pbefore, pafter, np0));       /* parent never written */
        free(pafter);

        {
                _cleanup_(vhdx_image_freep) struct vhdx_image *v = open_img(false);
                const struct vhdx_bat *bat = vhdx_image_bat(v);
                ASSERT_EQ_INT(vhdx_image_block_state(v, 6), VHDX_PAYLOAD_FULLY_PRESENT);
                ASSERT_EQ_INT(vhdx_image_block_state(v, 7), VHDX_PAYLOAD_UNMAPPED);
                ASSERT_EQ_INT(vhdx_image_block_state(v, 8), VHDX_PAYLOAD_PARTIALLY_PRESENT);
                ASSERT_EQ_INT(vhdx_image_block_state(v, 9), VHDX_PAYLOAD_ZERO);
                ASSERT_EQ_INT(vhdx_image_block_state(v, 10), VHDX_PAYLOAD_PARTIALLY_PRESENT);
                ASSERT_EQ_INT(vhdx_image_block_state(v, 11), VHDX_PAYLOAD_NOT_PRESENT);
                ASSERT_EQ_INT(vhdx_image_block_state(v, 12), VHDX_PAYLOAD_NOT_PRESENT);
                ASSERT_EQ_INT(vhdx_image_block_state(v, 3), VHDX_PAYLOAD_FULLY_PRESENT);
                /* Block 10's bits: only the zeroed sectors (and their
                 * sector-aligned extent) are the child's. */
                uint64_t sbe = bat->e[bat->chunk_ratio];
                ASSERT_EQ_INT(sbe & 7, VHDX_SB_PRESENT);
                uint64_t spb = MiB / ss, first = 10 * spb / 8;
                uint8_t *bits = calloc(1, spb / 8);
                ASSERT_TRUE(bits);
                ASSERT_EQ_INT(pread_full(vhdx_image_fd(v), bits, spb / 8, (sbe & VHDX_BAT_OFFSET_MASK) + first), 0);
                for (uint64_t s = 0; s < spb; s++) {
                        bool want = s >= 512 / ss && s < (1536 + ss - 1) / ss;
                        if (((bits[s / 8] >> (s % 8)) & 1) != want)
                                TEST_FAIL("sector %" PRIu64 " of block 10: bit %d", s, !want);
                }
                free(bits);
        }

        /* A session of no-op requests writes nothing. */
        size_t n1, n2;
        uint8_t *before = slurp(path, &n1);
        img = open_img(true);
        ASSERT_EQ_INT(vhdx_image_zero(img, MiB, 12 * MiB), 0);         /* the parent's hole */
        ASSERT_EQ_INT(vhdx_image_zero(img, MiB, 9 * MiB), 0);          /* ZERO already */
        ASSERT_EQ_INT(vhdx_image_zero(img, 4096, 9 * MiB + 512), 0);
        ASSERT_EQ_INT(vhdx_image_zero(img, 1024, 10 * MiB + 512), 0);  /* zeroed sectors */
        ASSERT_EQ_INT(vhdx_image_trim(img, 2 * MiB, 11 * MiB), 0);     /* NOT_PRESENT */
        ASSERT_EQ_INT(vhdx_image_trim(img, 4096, 8 * MiB), 0);         /* a part */
        ASSERT_EQ_INT(vhdx_image_flush(img), 0);
        vhdx_image_free(img);
        uint8_t *after = slurp(path, &n2);
        ASSERT_TRUE(n1 == n2 && !memcmp(before, after, n1));
        free(before);
        free(after);
        free(pbefore);
        free(model);
        free(got);
        vxb_free(kid);
        vxb_free(par);
}

/* A read-write open without the parent is refused, the file unchanged. */
static void test_refuse_noparent(void)
{
        struct vhdx_image *img = NULL;
        struct vc_problems ps = {};
        int fd = open(path, O_RDWR | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ_INT(vhdx_image_open_fd(fd, path, VHDX_OPEN_RDWR | VHDX_OPEN_NOPARENT, &ps, &img), -EOPNOTSUPP);
        ASSERT_EQ_INT(ps.first.id, VC_PROBLEM_NOT_SUPPORTED);
        ASSERT_STREQ(ps.first.field, "metadata.file_parameters_flags");
}

/* The child's own paths, kept few: every crash point replays the run up
 * to it, fdatasyncs and all. */
static const size_t crash_ops[] = { 0, 2, 5, 7, 9 };
#define N_CRASH (sizeof crash_ops / sizeof *crash_ops)

static int crash_op(struct vhdx_image *img, size_t i, uint8_t *model)
{
        return run_op(img, &ops[crash_ops[i]], model);
}

struct crash_7z {
        uint32_t ss;
        uint8_t *z7;
        int r7;                 /* try_7z's answer before the replay */
        unsigned long replayed;
};

/* 7-Zip reads what our reader reads (at every point for 512-byte
 * sectors, every fourth for 4096, every fifth under valgrind); it refuses
 * a file with a log to replay, and only such a file, and reads it after
 * the read-write open has closed it clean. */
static void crash_7z(void *userdata, unsigned long n, size_t cut, const uint8_t *now, bool clean)
{
        struct crash_7z *c = userdata;
        if (!clean) {
                bool ask = RUNNING_ON_VALGRIND ? n % 5 == 1 : c->ss == 512 || n % 4 == 1;
                c->r7 = ask ? try_7z(c->z7) : 0;
                if (c->r7 < 0 && !log_named())
                        TEST_FAIL("crash at point %lu (op %zu): 7-Zip refuses a file with no log to replay", n, cut);
                if (c->r7 > 0 && memcmp(c->z7, now, DISK))
                        TEST_FAIL("crash at point %lu (op %zu): 7-Zip reads other bytes than we do", n, cut);
        } else if (c->r7 < 0) {
                ASSERT_TRUE(read_7z(c->z7));
                if (memcmp(c->z7, now, DISK))
                        TEST_FAIL("crash at point %lu (op %zu): after the replay 7-Zip reads other bytes", n, cut);
                c->replayed++;
        }
}

/* A crash at every fault point of the run (tests/lib/vhdx-crash.h), from
 * a child without bitmap blocks (as vhdctl create makes it). */
static void test_crash(uint32_t ss)
{
        struct vxb_image *par = parent(ss), *kid = child(par, false);
        char what[32];
        struct crash_7z c = { .ss = ss, .z7 = malloc(DISK) };
        ASSERT_TRUE(c.z7);
        snprintf(what, sizeof what, "sector %u", ss);
        struct vxc_run run = { .what = what, .dir = dir, .path = path, .disk = DISK, .start = kid,
                               .n_ops = N_CRASH, .op = crash_op, .after_crash = crash_7z, .userdata = &c };
        struct vxc_stats st;
        vxc_crash(&run, &st);
        ASSERT_TRUE(st.total > 4 * N_CRASH);
        printf("sector %u: %lu crash points over %lu fault points; 7-Zip read %lu only after the replay\n", ss,
               st.points, st.total, c.replayed);
        fflush(stdout);         /* not again from the next crash's children */
        free(c.z7);
        vxb_free(kid);
        vxb_free(par);
}

/* Power cuts in the same run (tests/lib/vhdx-crash.h), one seed before
 * and one after every barrier (under valgrind: before only). */
static void test_powercut(void)
{
        struct vxb_image *par = parent(512), *kid = child(par, false);
        struct vxc_run run = { .what = "power cut", .dir = dir, .path = path, .disk = DISK, .start = kid,
                               .n_ops = N_CRASH, .op = crash_op };
        struct vxc_stats st;
        vxc_powercut(&run, 1, &st);
        printf("power cuts: %u, over %zu records\n", st.cuts, st.records);
        ASSERT_TRUE(st.cuts >= 20);
        vxb_free(kid);
        vxb_free(par);
}

int main(void)
{
        vb_temp_dir(dir);
        vb_path_join(path, dir, "c.vhdx");
        vb_path_join(ppath, dir, "p.vhdx");
        have_7z = system("command -v 7zz >/dev/null 2>&1") == 0;
        if (!have_7z)
                printf("7zz not installed: 7-Zip is not asked\n");
        fflush(stdout);
        test_session(512);
        test_session(4096);
        test_refuse_noparent();
        test_crash(512);
        test_crash(4096);
        test_powercut();
        unlink(path);
        unlink(ppath);
        rmdir(dir);
        return 0;
}
