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
#include <sys/wait.h>
#include <unistd.h>

#include "powercut.h"
#include "tests.h"
#include "util/fault.h"
#include "util/fd-util.h"
#include "util/problem.h"
#include "vhd-builder.h"          /* vb_temp_dir, vb_path_join */
#include "vhdx-builder.h"
#include "vhdx/vhdx.h"

#define MiB (1024ull * 1024)
#define DISK (14 * MiB)

static char dir[VB_PATH_MAX], path[VB_PATH_MAX], ppath[VB_PATH_MAX];
static bool have_7z;

static struct vhdx_image *open_img(bool rw)
{
        struct vhdx_image *img = NULL;
        struct vc_problems ps = {};
        int fd = open(path, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        int r = vhdx_image_open_fd(fd, path, rw ? VHDX_OPEN_RDWR : 0, &ps, &img);
        if (r < 0)
                TEST_FAIL("open: %s: %s", vc_problem_id_to_string(ps.first.id), ps.first.message);
        return img;
}

static void read_all(uint8_t *out)
{
        _cleanup_(vhdx_image_freep) struct vhdx_image *v = open_img(false);
        ASSERT_EQ_INT(vhdx_image_pread(v, out, DISK, 0), 0);
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
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        uint8_t p[4096];
        static const uint8_t z[16];
        ASSERT_TRUE(fd >= 0);
        for (int s = 0; s < 2; s++) {
                ASSERT_EQ_INT(pread_full(fd, p, 4096, s ? VXB_HEADER2_OFF : VXB_HEADER1_OFF), 0);
                uint32_t want = (uint32_t) p[4] | (uint32_t) p[5] << 8 | (uint32_t) p[6] << 16 | (uint32_t) p[7] << 24;
                memset(p + 4, 0, 4);
                ASSERT_TRUE(!memcmp(p, "head", 4) && want == vxb_crc32c(0, p, 4096));
                ASSERT_TRUE(!memcmp(p + 48, z, 16));
        }
        close(fd);
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

/* A crash at every fault point of the run, from a child without bitmap
 * blocks (as vhdctl create makes it). */
static void test_crash(uint32_t ss)
{
        struct vxb_image *par = parent(ss), *kid = child(par, false);
        uint8_t *state[N_CRASH + 1], *now = malloc(DISK), *z7 = malloc(DISK);
        unsigned long first[N_CRASH + 2];
        ASSERT_TRUE(now && z7);
        for (size_t i = 0; i <= N_CRASH; i++) {
                state[i] = malloc(DISK);
                ASSERT_TRUE(state[i]);
        }
        vxb_expected_read(kid, VXB_VIEW_REPLAYED, 0, state[0], DISK);
        for (size_t i = 0; i < N_CRASH; i++) {
                memcpy(state[i + 1], state[i], DISK);
                run_op(NULL, &ops[crash_ops[i]], state[i + 1]);
        }
        unsigned long start = vc_fault_count();
        struct vhdx_image *img = open_img(true);
        first[0] = vc_fault_count();
        for (size_t i = 0; i < N_CRASH; i++) {
                ASSERT_EQ_INT(run_op(img, &ops[crash_ops[i]], NULL), 0);
                first[i + 1] = vc_fault_count();
        }
        vhdx_image_free(img);
        first[N_CRASH + 1] = vc_fault_count();
        read_all(now);
        compare(now, state[N_CRASH], "the run");
        unsigned long total = first[N_CRASH + 1] - start;
        ASSERT_TRUE(total > 4 * N_CRASH);
        unsigned long step = RUNNING_ON_VALGRIND ? 5 : 1, points = 0, replayed = 0;
        for (unsigned long n = 1; n <= total; n = n + step <= total || n == total ? n + step : total) {
                vxb_write_file(kid, path);
                pid_t pid = fork();
                ASSERT_TRUE(pid >= 0);
                if (pid == 0) {
                        vc_fault_arm(vc_fault_count() + n);
                        struct vhdx_image *c = open_img(true);
                        for (size_t i = 0; i < N_CRASH; i++)
                                if (run_op(c, &ops[crash_ops[i]], NULL) < 0)
                                        _exit(2);
                        vhdx_image_free(c);
                        _exit(0);
                }
                int status;
                ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
                if (!vc_fault_exited(status, 98))
                        TEST_FAIL("crash point %lu: the child's wait status is %#x", n, status);
                size_t cut = 0;
                while (cut < N_CRASH && first[cut + 1] - start < n)
                        cut++;
                read_all(now);
                const uint8_t *after = state[cut < N_CRASH ? cut + 1 : cut];
                for (uint64_t o = 0; o < DISK; o += 512)
                        if (memcmp(now + o, state[cut] + o, 512) && memcmp(now + o, after + o, 512))
                                TEST_FAIL("sector %u: crash at point %lu (op %zu): sector %" PRIu64
                                          " is neither old nor new", ss, n, cut, o);
                /* 7-Zip reads what our reader reads (at every point for
                 * 512-byte sectors, every fourth for 4096, every fifth
                 * under valgrind); it refuses a file with a log to replay,
                 * and only such a file. */
                bool ask = RUNNING_ON_VALGRIND ? n % 5 == 1 : ss == 512 || n % 4 == 1;
                int r7 = ask ? try_7z(z7) : 0;
                if (r7 < 0 && !log_named())
                        TEST_FAIL("crash at point %lu (op %zu): 7-Zip refuses a file with no log to replay", n, cut);
                if (r7 > 0 && memcmp(z7, now, DISK))
                        TEST_FAIL("crash at point %lu (op %zu): 7-Zip reads other bytes than we do", n, cut);
                /* A read-write open replays and closes it clean, reading
                 * the same, and 7-Zip then reads it too. */
                vhdx_image_free(open_img(true));
                headers_clean();
                read_all(z7);
                ASSERT_TRUE(memcmp(z7, now, DISK) == 0);
                if (r7 < 0) {
                        ASSERT_TRUE(read_7z(z7));
                        if (memcmp(z7, now, DISK))
                                TEST_FAIL("crash at point %lu (op %zu): after the replay 7-Zip reads other bytes", n, cut);
                        replayed++;
                }
                points++;
        }
        printf("sector %u: %lu crash points over %lu fault points; 7-Zip read %lu only after the replay\n", ss,
               points, total, replayed);
        fflush(stdout);         /* not again from the next crash's children */
        for (size_t i = 0; i <= N_CRASH; i++)
                free(state[i]);
        free(now);
        free(z7);
        vxb_free(kid);
        vxb_free(par);
}

/* Power cuts in the same run (tests/lib/powercut.h: what the last
 * fdatasync made durable plus any 4 KiB pieces of later writes), before
 * and after every barrier: every sector as in some state of the run. */
static void test_powercut(void)
{
        struct vxb_image *par = parent(512), *kid = child(par, false);
        uint8_t *state[N_CRASH + 1], *now = malloc(DISK), *again = malloc(DISK);
        char orig[VB_PATH_MAX], logpath[VB_PATH_MAX];
        struct pc_log log;
        unsigned cuts = 0;
        ASSERT_TRUE(now && again);
        vb_path_join(orig, dir, "orig.vhdx");
        vb_path_join(logpath, dir, "power.log");
        for (size_t i = 0; i <= N_CRASH; i++) {
                state[i] = malloc(DISK);
                ASSERT_TRUE(state[i]);
        }
        vxb_expected_read(kid, VXB_VIEW_REPLAYED, 0, state[0], DISK);
        for (size_t i = 0; i < N_CRASH; i++) {
                memcpy(state[i + 1], state[i], DISK);
                run_op(NULL, &ops[crash_ops[i]], state[i + 1]);
        }
        vxb_write_file(kid, orig);
        vxb_write_file(kid, path);
        unlink(logpath);
        ASSERT_EQ_INT(vc_power_log_set(logpath), 0);
        struct vhdx_image *img = open_img(true);
        for (size_t i = 0; i < N_CRASH; i++)
                ASSERT_EQ_INT(run_op(img, &ops[crash_ops[i]], NULL), 0);
        vhdx_image_free(img);
        ASSERT_EQ_INT(vc_power_log_set(NULL), 0);
        ASSERT_EQ_INT(pc_log_read(logpath, &log), 0);
        for (size_t i = 0; i < log.n; i++) {
                if (!pc_is_barrier(&log, i, NULL))
                        continue;
                /* One seed before the barrier and one after (under
                 * valgrind: before only). */
                for (unsigned s = 0; s < 2; s += RUNNING_ON_VALGRIND ? 2 : 1) {
                        struct pc_cut cut = { .at = s == 0 ? i : i + 1, .seed = 1000 * i + s, .permille = -1 };
                        ASSERT_EQ_INT(pc_apply(orig, &log, &cut, path, NULL), 0);
                        read_all(now);
                        for (uint64_t o = 0; o < DISK; o += 512) {
                                bool ok = false;
                                for (size_t k = 0; k <= N_CRASH && !ok; k++)
                                        ok = !memcmp(now + o, state[k] + o, 512);
                                if (!ok)
                                        TEST_FAIL("power cut at record %zu of %zu (seed %" PRIu64 "): sector %"
                                                  PRIu64 " is in no state of the run", cut.at, log.n, cut.seed, o);
                        }
                        vhdx_image_free(open_img(true));
                        headers_clean();
                        read_all(again);
                        ASSERT_TRUE(memcmp(again, now, DISK) == 0);
                        cuts++;
                }
        }
        printf("power cuts: %u, over %zu records\n", cuts, log.n);
        ASSERT_TRUE(cuts >= 20);
        pc_log_done(&log);
        unlink(orig);
        unlink(logpath);
        for (size_t i = 0; i <= N_CRASH; i++)
                free(state[i]);
        free(now);
        free(again);
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
