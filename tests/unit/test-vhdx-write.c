/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The writable VHDX session (lib/vhdx/write.c) on builder fixtures
 * (tests/lib/vhdx-builder.h), 512- and 4096-byte sectors, dynamic and
 * fixed:
 *
 *   - writes (allocating, partial, across blocks), zero and trim (whole
 *     blocks and parts) read back, after close and a fresh read-only open,
 *     exactly as a flat model of the disk says;
 *   - the headers after the session: both valid, different sequence
 *     numbers, LogGuid 0 in both, FileWriteGuid new, DataWriteGuid new
 *     only when content changed (a session that changes nothing writes
 *     nothing at all: the file is byte-identical);
 *   - a read-write open of a dirty log replays it on disk: the file then
 *     has LogGuid 0 and reads the builder's replayed view, its
 *     DataWriteGuid unchanged;
 *   - a crash at every fault point of a replay followed by allocating
 *     writes, zero and trim (tests/lib/vhdx-crash.h) leaves a file our
 *     reader opens, every sector old or new, and that a read-write open
 *     then closes clean;
 *   - a power cut (tests/lib/powercut.h: only what the last fdatasync made
 *     durable, plus any 4 KiB pieces of the later writes) before and after
 *     every barrier of the same run, a few seeds each: the same, every
 *     sector as in one of the states the run went through.
 */
#include <endian.h>
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
#include "vhd-builder.h"          /* vb_temp_dir, vb_path_join, vb_read_file */
#include "vhdx-builder.h"
#include "vhdx-crash.h"
#include "vhdx/vhdx.h"

#define MiB (1024ull * 1024)
#define DISK (24 * MiB)

static char dir[VB_PATH_MAX], path[VB_PATH_MAX];

struct hdr {
        bool valid;
        uint64_t seq;
        uint8_t fg[16], dg[16], lg[16];
};

static void read_headers(struct hdr h[2])
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        uint8_t p[4096];
        ASSERT_TRUE(fd >= 0);
        for (int s = 0; s < 2; s++) {
                ASSERT_EQ_INT(pread_full(fd, p, 4096, s ? VXB_HEADER2_OFF : VXB_HEADER1_OFF), 0);
                uint32_t want;
                memcpy(&want, p + 4, 4);
                memset(p + 4, 0, 4);
                h[s].valid = !memcmp(p, "head", 4) && le32toh(want) == vxb_crc32c(0, p, 4096);
                memcpy(&h[s].seq, p + 8, 8);
                h[s].seq = le64toh(h[s].seq);
                memcpy(h[s].fg, p + 16, 16);
                memcpy(h[s].dg, p + 32, 16);
                memcpy(h[s].lg, p + 48, 16);
        }
        close(fd);
}

static const struct hdr *current(const struct hdr h[2])
{
        return h[1].valid && (!h[0].valid || h[1].seq > h[0].seq) ? &h[1] : &h[0];
}

static bool zero16(const uint8_t *g)
{
        static const uint8_t z[16];
        return !memcmp(g, z, 16);
}

static struct vhdx_image *open_img(bool rw)
{
        return vxc_open(path, rw);
}

static void read_all(uint8_t *out, uint64_t size)
{
        vxc_read_all(path, out, size);
}

/* The operations of a session, applied to the image and to a flat model. */
enum op_kind { OP_WRITE, OP_ZERO, OP_TRIM };
struct op {
        enum op_kind kind;
        uint64_t off, len;
        uint8_t seed;
};

static const struct op ops[] = {
        { OP_WRITE, 5 * MiB + 4096, 8192, 7 },          /* allocates block 5, partly */
        { OP_WRITE, 1 * MiB - 4096, 3 * 4096 + 2 * MiB, 8 },     /* present 0, new 1 and 2, into 3 */
        { OP_ZERO, 3 * MiB, MiB, 0 },                   /* whole present block: ZERO */
        { OP_ZERO, 4096, 4096 * 3, 0 },                 /* part of block 0: real zeros */
        { OP_TRIM, 2 * MiB, MiB, 0 },                   /* whole block: UNMAPPED */
        { OP_TRIM, 5 * MiB, 4096, 0 },                  /* part: left as it is */
        { OP_WRITE, DISK - 4096, 4096, 9 },             /* the last block */
        { OP_ZERO, 10 * MiB, 4 * MiB, 0 },              /* never allocated: nothing */
};
#define N_OPS (sizeof ops / sizeof *ops)

static int run_op(struct vhdx_image *img, const struct op *o, uint8_t *model, bool fixed)
{
        int r = 0;
        uint8_t *b = NULL;
        switch (o->kind) {
        case OP_WRITE:
                b = malloc(o->len);
                ASSERT_TRUE(b);
                vxb_pattern_fill(b, o->len, o->seed, o->off);
                if (img)
                        r = vhdx_image_pwrite(img, b, o->len, o->off);
                if (model)
                        memcpy(model + o->off, b, o->len);
                free(b);
                break;
        case OP_ZERO:
                if (img)
                        r = vhdx_image_zero(img, o->len, o->off);
                if (model)
                        memset(model + o->off, 0, o->len);
                break;
        case OP_TRIM:
                if (img)
                        r = vhdx_image_trim(img, o->len, o->off);
                /* Whole blocks of a dynamic disk read zeros after; parts stay. */
                if (model && !fixed && o->off % MiB == 0 && o->len % MiB == 0)
                        memset(model + o->off, 0, o->len);
                break;
        }
        return r;
}

static struct vxb_image *base(enum vxb_type type, uint32_t sector)
{
        struct vxb_params p = { .type = type, .virtual_size = DISK, .logical_sector = sector };
        struct vxb_image *img = vxb_new(&p);
        if (type == VXB_DYNAMIC) {
                vxb_alloc_block(img, 0, 1);
                vxb_alloc_block(img, 3, 2);
        } else {
                vxb_pattern_fill(vxb_block_data(img, 0), MiB, 1, 0);
                vxb_pattern_fill(vxb_block_data(img, 3), MiB, 2, 3 * MiB);
        }
        return img;
}

static void test_session(enum vxb_type type, uint32_t sector)
{
        struct vxb_image *b = base(type, sector);
        uint8_t *model = malloc(DISK), *got = malloc(DISK);
        struct hdr h0[2], h1[2];
        ASSERT_TRUE(model && got);
        vxb_write_file(b, path);
        vxb_expected_read(b, VXB_VIEW_REPLAYED, 0, model, DISK);
        read_headers(h0);

        struct vhdx_image *img = open_img(true);
        for (size_t i = 0; i < N_OPS; i++)
                ASSERT_EQ_INT(run_op(img, &ops[i], model, type == VXB_FIXED), 0);
        ASSERT_EQ_INT(vhdx_image_flush(img), 0);
        vhdx_image_free(img);

        read_all(got, DISK);
        for (uint64_t o = 0; o < DISK; o += 4096)
                if (memcmp(got + o, model + o, 4096))
                        TEST_FAIL("type %d sector %u: offset %" PRIu64 " differs from the model", type, sector, o);
        read_headers(h1);
        ASSERT_TRUE(h1[0].valid && h1[1].valid);
        ASSERT_TRUE(h1[0].seq != h1[1].seq);
        ASSERT_TRUE(zero16(h1[0].lg) && zero16(h1[1].lg));
        const struct hdr *c0 = current(h0), *c1 = current(h1);
        ASSERT_TRUE(c1->seq > c0->seq);
        ASSERT_TRUE(memcmp(c0->fg, c1->fg, 16) != 0);
        ASSERT_TRUE(memcmp(c0->dg, c1->dg, 16) != 0);
        /* Both slots name the same identity. */
        ASSERT_TRUE(!memcmp(h1[0].fg, h1[1].fg, 16) && !memcmp(h1[0].dg, h1[1].dg, 16));
        if (type == VXB_DYNAMIC) {
                _cleanup_(vhdx_image_freep) struct vhdx_image *v = open_img(false);
                ASSERT_EQ_INT(vhdx_image_block_state(v, 3), VHDX_PAYLOAD_ZERO);
                ASSERT_EQ_INT(vhdx_image_block_state(v, 2), VHDX_PAYLOAD_UNMAPPED);
                ASSERT_EQ_INT(vhdx_image_block_state(v, 5), VHDX_PAYLOAD_FULLY_PRESENT);
                ASSERT_EQ_INT(vhdx_image_block_state(v, 10), VHDX_PAYLOAD_NOT_PRESENT);
        }

        /* A session that changes nothing writes nothing. */
        size_t n1, n2;
        uint8_t *before = vb_read_file(path, &n1);
        img = open_img(true);
        ASSERT_EQ_INT(vhdx_image_zero(img, 4 * MiB, 10 * MiB), 0);
        ASSERT_EQ_INT(vhdx_image_trim(img, 4 * MiB, 10 * MiB), 0);
        ASSERT_EQ_INT(vhdx_image_flush(img), 0);
        vhdx_image_free(img);
        uint8_t *after = vb_read_file(path, &n2);
        ASSERT_EQ_U64(n1, n2);
        for (size_t o = 0; o < n1; o++)
                if (before[o] != after[o])
                        TEST_FAIL("type %d: a session that changes nothing changed byte %zu", type, o);
        free(before);
        free(after);
        vxb_free(b);
        free(model);
        free(got);
}

static struct vxb_image *dirty(void)
{
        struct vxb_image *b = base(VXB_DYNAMIC, 512);
        vxb_log_begin(b);
        vxb_alloc_block(b, 7, 4);
        vxb_set_state(b, 3, VXB_UNMAPPED, 0);
        vxb_log_commit(b, 0);
        vxb_alloc_block(b, 8, 5);
        vxb_log_commit(b, 0);
        return b;
}

static void test_replay_on_disk(void)
{
        struct vxb_image *b = dirty();
        uint8_t *want = malloc(DISK), *got = malloc(DISK);
        struct hdr h0[2], h1[2];
        ASSERT_TRUE(want && got);
        vxb_write_file(b, path);
        vxb_expected_read(b, VXB_VIEW_REPLAYED, 0, want, DISK);
        read_headers(h0);
        ASSERT_TRUE(!zero16(current(h0)->lg));
        vhdx_image_free(open_img(true));
        read_headers(h1);
        ASSERT_TRUE(zero16(h1[0].lg) && zero16(h1[1].lg));
        ASSERT_TRUE(memcmp(current(h0)->dg, current(h1)->dg, 16) == 0);  /* content unchanged */
        ASSERT_TRUE(memcmp(current(h0)->fg, current(h1)->fg, 16) != 0);
        read_all(got, DISK);
        ASSERT_TRUE(memcmp(got, want, DISK) == 0);
        vxb_free(b);
        free(want);
        free(got);
}

static int crash_op(struct vhdx_image *img, size_t i, uint8_t *model)
{
        return run_op(img, &ops[i], model, false);
}

/* The run of the crash and power-cut tests: a read-write open of a dirty
 * log (replay), then the operations. */
static struct vxc_run crash_run(struct vxb_image *b)
{
        return (struct vxc_run) { .what = "write", .dir = dir, .path = path, .disk = DISK, .start = b,
                                  .n_ops = N_OPS, .op = crash_op };
}

/* Crash at every fault point of the run (tests/lib/vhdx-crash.h). */
static void test_crash(void)
{
        struct vxb_image *b = dirty();
        struct vxc_run run = crash_run(b);
        struct vxc_stats st;
        vxc_crash(&run, &st);
        ASSERT_TRUE(st.open_points >= 3);       /* the replay has points */
        vxb_free(b);
}

/* Power cuts in the same run, logged once: two seeds before each barrier
 * and one after; under valgrind one before and one after. */
static void test_powercut(void)
{
        struct vxb_image *b = dirty();
        struct vxc_run run = crash_run(b);
        struct vxc_stats st;
        vxc_powercut(&run, 2, &st);
        printf("power cuts: %u, over %zu records\n", st.cuts, st.records);
        ASSERT_TRUE(st.cuts >= 30);
        vxb_free(b);
}

int main(void)
{
        vb_temp_dir(dir);               /* in $TMPDIR, removed should the test abort */
        vb_path_join(path, dir, "w.vhdx");
        test_session(VXB_DYNAMIC, 512);
        test_session(VXB_DYNAMIC, 4096);
        test_session(VXB_FIXED, 512);
        test_replay_on_disk();
        test_crash();
        test_powercut();
        unlink(path);
        rmdir(dir);
        return 0;
}
