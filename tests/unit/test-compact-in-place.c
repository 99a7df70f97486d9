/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The executor with a plan that moves nothing (`--no-block-moves`,
 * lib/compact/plan-in-place.c), on the random layouts of
 * tests/lib/layout-case.h (dynamic, and differencing children of an empty
 * parent):
 *
 *   - an uninterrupted run: no kept block moved (its BAT entry is what it
 *     was), every dropped one unallocated and reading zeros (the parent's,
 *     here zeros too), the file cut only to the end of the highest kept
 *     block (or the BAT) plus the footer, computed here from the BAT
 *     before the run, and its allocation (st_blocks) fallen by at least
 *     every dropped block's whole host blocks (the temporary directory's
 *     file system must punch holes: ext4 and tmpfs do);
 *   - a crash at every fault point of the run (every write, sync and
 *     punch): the image validates and reads right, and a second run
 *     finishes at the same size with the same BAT;
 *   - a file system that cannot punch, simulated by the fault layer
 *     failing the probe (the first "truncate" operation): refused with
 *     punch-unsupported before any write, the file byte-identical.  A
 *     real one (vfat) is in test-compact-no-moves.sh.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compact/move.h"
#include "compact/plan.h"
#include "layout-case.h"
#include "tests.h"
#include "util/fault.h"
#include "vhd-builder.h"
#include "image/image.h"
#include "vhd/vhd.h"

static char dir[VB_PATH_MAX], path[VB_PATH_MAX], parent_path[VB_PATH_MAX];
static struct vb_image *parent;


/* The BAT (in sectors) of the image at path, n entries. */
static void read_at(uint32_t *at, uint32_t n)
{
        struct vc_image *img = NULL;
        struct compact_layout l;

        lc_open_image(path, 0, &img);
        ASSERT_OK(compact_layout_from_image(img, &l));
        ASSERT_TRUE(l.n_objects >= n);
        memcpy(at, l.at, n * sizeof *at);
        free(l.at);
        vc_image_free(img);
}

static uint64_t allocated(void)
{
        struct stat st;
        ASSERT_TRUE(stat(path, &st) == 0);
        return (uint64_t) st.st_blocks * 512;
}

/* Plans in place with drop[] limited to blocks still allocated, and
 * executes. */
static int plan_and_run(const struct layout_case *c, struct compact_plan *ret_plan, struct vc_problems *problems,
                        struct compact_exec_stats *st)
{
        struct vc_image *img = NULL;
        struct compact_layout l;
        uint8_t drop[LC_MAX_BLOCKS] = {};
        int r;

        lc_open_image(path, VC_OPEN_RDWR, &img);
        ASSERT_OK(compact_layout_from_image(img, &l));
        for (uint32_t b = 0; b < c->n_blocks; b++)
                drop[b] = c->drop[b] && l.at[b] != COMPACT_ABSENT;
        ASSERT_OK(compact_plan_build_in_place(&l, drop, ret_plan));
        ASSERT_EQ_U64(ret_plan->n_moves, 0);
        struct compact_exec_opts o = { .queue_depth = 3, .problems = problems };
        r = compact_execute(img, &l, ret_plan, &o, st);
        free(l.at);
        vc_image_free(img);
        return r;
}


/* After a finished run: kept blocks where they were, dropped ones gone,
 * the size the BAT before the run says. */
static void check_in_place(const struct layout_case *c, const uint32_t *before, uint64_t want_size)
{
        uint32_t now[LC_MAX_BLOCKS];

        read_at(now, c->n_blocks);
        for (uint32_t b = 0; b < c->n_blocks; b++) {
                if (before[b] == COMPACT_ABSENT || c->drop[b])
                        ASSERT_EQ_U64(now[b], COMPACT_ABSENT);
                else if (now[b] != before[b])
                        TEST_FAIL("block %u moved from sector %u to %u", b, before[b], now[b]);
        }
        ASSERT_EQ_U64(vb_file_size(path), want_size);
        lc_assert_contents(c, path, true);
}

static uint8_t *slurp(size_t *len)
{
        uint64_t n = vb_file_size(path);
        uint8_t *buf = malloc(n + 1);
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        ASSERT_TRUE(buf && fd >= 0 && pread(fd, buf, n, 0) == (ssize_t) n);
        close(fd);
        *len = n;
        return buf;
}

static void test_refused(void)
{
        struct layout_case c;
        struct compact_plan plan = {};
        struct compact_exec_stats st = {};
        struct vc_problems problems = {};
        size_t n0, n1;

        lc_make(&c, 7);
        lc_write(&c, 7, path, NULL, NULL);
        uint8_t *before = slurp(&n0);
        /* The probe is the run's first "truncate" operation. */
        ASSERT_OK(vc_io_fault_set("truncate:1:eio"));
        int r = plan_and_run(&c, &plan, &problems, &st);
        ASSERT_OK(vc_io_fault_set(NULL));
        ASSERT_TRUE(plan.n_punches > 0);
        compact_plan_done(&plan);
        ASSERT_EQ_INT(r, -EIO);
        ASSERT_PROBLEM(&problems.first, VC_PROBLEM_NO_PUNCH, NULL, n0);
        uint8_t *after = slurp(&n1);
        ASSERT_EQ_U64(n1, n0);
        ASSERT_MEMEQ(after, before, n0);
        free(before);
        free(after);
        vc_problems_done(&problems);
        printf("a file system that cannot punch: refused with punch-unsupported, the file unchanged\n");
}

int main(void)
{
        unsigned total_points = 0, cases = 0;

        vb_temp_dir(dir);
        vb_path_join(path, dir, "disk.vhd");
        vb_path_join(parent_path, dir, "p.vhd");
        parent = vb_dynamic(64 * (uint64_t) LC_BLOCK_SIZE, LC_BLOCK_SIZE, VHD_TYPE_DYNAMIC);
        vb_write_file(parent, parent_path);
        /* Under valgrind every crash point still, but fewer layouts. */
        unsigned layouts = RUNNING_ON_VALGRIND ? 4 : 6;
        for (unsigned seed = 1; seed <= layouts; seed++) {
                struct layout_case c;
                struct compact_plan plan = {};
                struct compact_exec_stats st;
                uint32_t before[LC_MAX_BLOCKS];

                lc_make(&c, seed);
                c.diff = seed > layouts - 2;
                if (c.diff)
                        lc_drop_lowest(&c, seed);
                lc_write(&c, seed, path, parent, parent_path);
                read_at(before, c.n_blocks);
                /* The end, from the BAT: after the highest kept block, or
                 * the BAT and locators when none is kept. */
                struct vc_image *img = NULL;
                struct compact_layout l;
                lc_open_image(path, 0, &img);
                ASSERT_OK(compact_layout_from_image(img, &l));
                uint64_t end = l.fixed_end, old_size = l.file_size, dropped = 0;
                for (uint32_t b = 0; b < c.n_blocks; b++) {
                        if (before[b] == COMPACT_ABSENT)
                                continue;
                        uint64_t off = (uint64_t) before[b] * l.unit;
                        if (c.drop[b])
                                dropped += l.stride;
                        else
                                end = MAX(end, off + l.stride);
                }
                uint64_t stride = l.stride, want = end + VHD_FOOTER_SIZE;
                free(l.at);
                vc_image_free(img);

                uint64_t a0 = allocated();
                unsigned long p0 = vc_fault_count();
                ASSERT_OK(plan_and_run(&c, &plan, NULL, &st));
                unsigned long points = vc_fault_count() - p0;
                ASSERT_EQ_U64(st.bytes_written, 0);
                ASSERT_EQ_U64(st.blocks_moved, 0);
                compact_plan_done(&plan);
                check_in_place(&c, before, want);
                /* A dropped block's place, less the two host blocks its
                 * edges may share with its neighbours, is given back. */
                uint64_t a1 = allocated(), n_dropped = dropped / stride;
                if (a0 - MIN(a0, a1) < dropped - n_dropped * 8192)
                        TEST_FAIL("layout %u: allocation fell by %" PRIu64 " bytes, %" PRIu64 " blocks of %" PRIu64
                                  " were dropped", seed, a0 - MIN(a0, a1), n_dropped, stride);
                /* The file shrinks only by its free tail. */
                ASSERT_TRUE(want <= old_size);

                for (unsigned long n = 1; n <= points; n++) {
                        lc_write(&c, seed, path, parent, parent_path);
                        pid_t pid = fork();
                        ASSERT_TRUE(pid >= 0);
                        if (pid == 0) {
                                struct compact_plan p2 = {};
                                struct compact_exec_stats s2;
                                vc_fault_arm(vc_fault_count() + n);
                                plan_and_run(&c, &p2, NULL, &s2);
                                _exit(0);
                        }
                        int status;
                        ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
                        ASSERT_TRUE(WIFEXITED(status));
                        if (!vc_fault_exited(status, 98))
                                TEST_FAIL("the child's wait status is %#x, not a crash point's", status);
                        lc_assert_contents(&c, path, false);
                        ASSERT_OK(plan_and_run(&c, &plan, NULL, &st));
                        compact_plan_done(&plan);
                        check_in_place(&c, before, want);
                        total_points++;
                }
                cases++;
                printf("layout %u (%s): %u blocks, %" PRIu64 " dropped, %lu crash points, all valid and finished "
                       "to %" PRIu64 " of %" PRIu64 " bytes, allocation %" PRIu64 " -> %" PRIu64 "\n",
                       seed, c.diff ? "differencing" : "dynamic", c.n_blocks, n_dropped, points, want, old_size,
                       a0, a1);
        }
        test_refused();

        unlink(path);
        unlink(parent_path);
        vb_free(parent);
        rmdir(dir);
        printf("%u layouts, %u crash points: all safe\n", cases, total_points);
        return 0;
}
