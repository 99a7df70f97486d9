/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The executor's restricted ring (lib/compact/move-ring.c), the one the
 * daemon's worker sets up before its seccomp filter:
 *
 *   a. on it, what the executor submits works: a read and a write of a
 *      file, a no-op, a no-op with IOSQE_ASYNC (the kick);
 *   b. anything else completes with -EACCES: IORING_OP_OPENAT of "/"
 *      (nothing is opened), IORING_OP_POLL_ADD, IORING_OP_FSYNC, a
 *      no-op with IOSQE_IO_LINK or IOSQE_FIXED_FILE; and nothing can be
 *      registered on it any more (restrictions, probes);
 *   c. compactions of random layouts (tests/lib/layout-case.h) through it
 *      (compact_exec_opts.ring) at queue depths 1, 8 and 64 finish at the
 *      optimum with every kept block reading its data, and leave the ring
 *      usable for the next run.
 *
 * Without the restrictions (move-ring.c registering none) b fails on the
 * openat; with an opcode the executor needs left off the list, c fails.
 */
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compact/move.h"
#include "compact/plan.h"
#include "image/image.h"
#include "layout-case.h"
#include "tests.h"
#include "vhd-builder.h"

static struct io_uring ring;

/* Submits what prep made of one SQE; the CQE's result. */
static int one(void (*prep)(struct io_uring_sqe *sqe, void *arg), void *arg, unsigned flags)
{
        struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
        struct io_uring_cqe *cqe;

        ASSERT_TRUE(sqe);
        prep(sqe, arg);
        io_uring_sqe_set_flags(sqe, flags);
        ASSERT_TRUE(io_uring_submit_and_wait(&ring, 1) >= 0);
        ASSERT_OK(io_uring_peek_cqe(&ring, &cqe));
        int r = cqe->res;
        io_uring_cqe_seen(&ring, cqe);
        return r;
}

static int mfd;
static uint8_t page[4096], back[4096];

static void prep_write(struct io_uring_sqe *s, void *a) { (void) a; io_uring_prep_write(s, mfd, page, sizeof page, 4096); }
static void prep_read(struct io_uring_sqe *s, void *a) { (void) a; io_uring_prep_read(s, mfd, back, sizeof back, 4096); }
static void prep_nop(struct io_uring_sqe *s, void *a) { (void) a; io_uring_prep_nop(s); }
static void prep_openat(struct io_uring_sqe *s, void *a)
{
        (void) a;
        io_uring_prep_openat(s, AT_FDCWD, "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
}
static void prep_poll(struct io_uring_sqe *s, void *a) { (void) a; io_uring_prep_poll_add(s, mfd, POLLIN); }
static void prep_fsync(struct io_uring_sqe *s, void *a) { (void) a; io_uring_prep_fsync(s, mfd, 0); }

static void opcodes(void)
{
        mfd = memfd_create("ring", MFD_CLOEXEC);
        ASSERT_TRUE(mfd >= 0);
        memset(page, 0x5a, sizeof page);
        ASSERT_EQ_INT(one(prep_write, NULL, 0), (int) sizeof page);
        ASSERT_EQ_INT(one(prep_read, NULL, 0), (int) sizeof back);
        ASSERT_MEMEQ(page, back, sizeof page);
        ASSERT_EQ_INT(one(prep_nop, NULL, 0), 0);
        ASSERT_EQ_INT(one(prep_nop, NULL, IOSQE_ASYNC), 0);
        printf("a. read, write, no-op, no-op with IOSQE_ASYNC: done\n");

        ASSERT_EQ_INT(one(prep_openat, NULL, 0), -EACCES);
        ASSERT_EQ_INT(one(prep_poll, NULL, 0), -EACCES);
        ASSERT_EQ_INT(one(prep_fsync, NULL, 0), -EACCES);
        ASSERT_EQ_INT(one(prep_nop, NULL, IOSQE_IO_LINK), -EACCES);
        ASSERT_EQ_INT(one(prep_nop, NULL, IOSQE_FIXED_FILE), -EACCES);
        struct io_uring_restriction res = { .opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_OPENAT };
        /* (liburing 2.3 does not export io_uring_register_restrictions) */
        ASSERT_TRUE(syscall(__NR_io_uring_register, ring.ring_fd, IORING_REGISTER_RESTRICTIONS, &res, 1) < 0);
        struct io_uring_probe *probe = io_uring_get_probe_ring(&ring);
        ASSERT_TRUE(probe == NULL);
        printf("b. openat, poll, fsync, IOSQE_IO_LINK, IOSQE_FIXED_FILE: -EACCES; registering refused\n");
        close(mfd);
}

static void compactions(void)
{
        static const unsigned depths[] = { 1, 8, 64 };
        char dir[VB_PATH_MAX], path[VB_PATH_MAX], why[256];
        unsigned runs = 0;

        vb_temp_dir(dir);
        vb_path_join(path, dir, "disk.vhd");
        for (unsigned seed = 1; runs < 6; seed++) {
                struct layout_case c;
                struct vc_image *img = NULL;
                struct compact_layout l;
                struct compact_plan plan = {};
                struct compact_exec_stats st = {};
                uint8_t drop[LC_MAX_BLOCKS] = {};

                ASSERT_TRUE(seed < 100);
                lc_make(&c, seed);
                lc_write(&c, seed, path, NULL, NULL);
                ASSERT_OK(vc_image_open(path, NULL, VC_OPEN_RDWR, NULL, &img));
                ASSERT_OK(compact_layout_from_image(img, &l));
                for (uint32_t b = 0; b < c.n_blocks; b++)
                        drop[b] = c.drop[b] && l.at[b] != COMPACT_ABSENT;
                ASSERT_OK(compact_plan_build(&l, drop, &plan));
                if (plan.n_moves == 0) {
                        compact_plan_done(&plan);
                        free(l.at);
                        vc_image_free(img);
                        continue;
                }
                struct compact_exec_opts o = { .queue_depth = depths[runs % 3], .ring = &ring };
                int r = compact_execute(img, &l, &plan, &o, &st);
                if (r < 0)
                        TEST_FAIL("layout %u, depth %u: %s", seed, o.queue_depth, strerror(-r));
                ASSERT_EQ_U64(st.blocks_moved, plan.n_moves);
                ASSERT_TRUE(st.truncated);
                ASSERT_EQ_U64(vb_file_size(path), plan.final_size);
                free(l.at);
                vc_image_free(img);
                if (!lc_contents_ok(&c, path, true, why, sizeof why))
                        TEST_FAIL("layout %u: %s", seed, why);
                printf("c. layout %u, depth %u: %u moves through the restricted ring, right\n", seed, o.queue_depth,
                       plan.n_moves);
                compact_plan_done(&plan);
                runs++;
        }
        unlink(path);
        rmdir(dir);
}

int main(void)
{
        int r = compact_ring_init_restricted(&ring);

        if (r == -ENOSYS || r == -EPERM) {
                printf("io_uring is not available here (%s)\n", strerror(-r));
                return 77;
        }
        ASSERT_OK(r);
        opcodes();
        compactions();
        io_uring_queue_exit(&ring);
        return 0;
}
