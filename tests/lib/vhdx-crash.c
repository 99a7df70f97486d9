/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The crash and power-cut harness of the writable VHDX tests (vhdx-crash.h). */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "powercut.h"
#include "tests.h"
#include "util/fault.h"
#include "util/fd-util.h"
#include "util/problem.h"
#include "vhd-builder.h"          /* vb_path_join */
#include "vhdx-crash.h"

struct vhdx_image *vxc_open(const char *path, bool rw)
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

void vxc_read_all(const char *path, uint8_t *out, uint64_t size)
{
        _cleanup_(vhdx_image_freep) struct vhdx_image *v = vxc_open(path, false);
        ASSERT_EQ_INT(vhdx_image_pread(v, out, size, 0), 0);
}

void vxc_headers_clean(const char *path)
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

/* state[0..n_ops], as the model says. */
static uint8_t **states(const struct vxc_run *run)
{
        uint8_t **state = calloc(run->n_ops + 1, sizeof *state);
        ASSERT_TRUE(state);
        for (size_t i = 0; i <= run->n_ops; i++) {
                state[i] = malloc(run->disk);
                ASSERT_TRUE(state[i]);
        }
        vxb_expected_read(run->start, VXB_VIEW_REPLAYED, 0, state[0], run->disk);
        for (size_t i = 0; i < run->n_ops; i++) {
                memcpy(state[i + 1], state[i], run->disk);
                run->op(NULL, i, state[i + 1]);
        }
        return state;
}

static void states_free(const struct vxc_run *run, uint8_t **state)
{
        for (size_t i = 0; i <= run->n_ops; i++)
                free(state[i]);
        free(state);
}

/* A read-write open closes the file clean, reading now. */
static void reopen_clean(const struct vxc_run *run, const uint8_t *now)
{
        uint8_t *again = malloc(run->disk);
        ASSERT_TRUE(again);
        vhdx_image_free(vxc_open(run->path, true));
        vxc_headers_clean(run->path);
        vxc_read_all(run->path, again, run->disk);
        ASSERT_TRUE(memcmp(again, now, run->disk) == 0);
        free(again);
}

void vxc_crash(const struct vxc_run *run, struct vxc_stats *ret)
{
        const size_t n_ops = run->n_ops;
        uint8_t **state = states(run), *now = malloc(run->disk);
        unsigned long *first = calloc(n_ops + 2, sizeof *first);
        struct vxc_stats st = {};
        ASSERT_TRUE(now && first);

        vxb_write_file(run->start, run->path);
        unsigned long start = vc_fault_count();
        struct vhdx_image *img = vxc_open(run->path, true);
        first[0] = vc_fault_count();    /* the open's points (a replay) end here */
        for (size_t i = 0; i < n_ops; i++) {
                ASSERT_EQ_INT(run->op(img, i, NULL), 0);
                first[i + 1] = vc_fault_count();
        }
        vhdx_image_free(img);
        first[n_ops + 1] = vc_fault_count();
        vxc_read_all(run->path, now, run->disk);
        for (uint64_t o = 0; o < run->disk; o += 512)
                if (memcmp(now + o, state[n_ops] + o, 512))
                        TEST_FAIL("%s: sector at %" PRIu64 " differs from the model after the run", run->what, o);
        st.open_points = first[0] - start;
        st.total = first[n_ops + 1] - start;
        /* Under valgrind (20 times slower), every fifth point and the last. */
        unsigned long step = RUNNING_ON_VALGRIND ? 5 : 1, total = st.total;
        for (unsigned long n = 1; n <= total; n = n + step <= total || n == total ? n + step : total) {
                vxb_write_file(run->start, run->path);
                pid_t pid = fork();
                ASSERT_TRUE(pid >= 0);
                if (pid == 0) {
                        vc_fault_arm(vc_fault_count() + n);
                        struct vhdx_image *c = vxc_open(run->path, true);
                        for (size_t i = 0; i < n_ops; i++)
                                if (run->op(c, i, NULL) < 0)
                                        _exit(2);
                        vhdx_image_free(c);
                        _exit(0);
                }
                int status;
                ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
                if (!vc_fault_exited(status, 98))
                        TEST_FAIL("%s: crash point %lu: the child's wait status is %#x", run->what, n, status);
                /* The op the crash fell in: states cut and cut + 1. */
                size_t cut = 0;
                while (cut < n_ops && first[cut + 1] - start < n)
                        cut++;
                vxc_read_all(run->path, now, run->disk);
                const uint8_t *after = state[cut < n_ops ? cut + 1 : cut];
                for (uint64_t o = 0; o < run->disk; o += 512)
                        if (memcmp(now + o, state[cut] + o, 512) && memcmp(now + o, after + o, 512))
                                TEST_FAIL("%s: crash at point %lu (op %zu): sector %" PRIu64
                                          " is neither old nor new", run->what, n, cut, o);
                if (run->after_crash)
                        run->after_crash(run->userdata, n, cut, now, false);
                reopen_clean(run, now);
                if (run->after_crash)
                        run->after_crash(run->userdata, n, cut, now, true);
                st.points++;
        }
        states_free(run, state);
        free(now);
        free(first);
        *ret = st;
}

void vxc_powercut(const struct vxc_run *run, unsigned before, struct vxc_stats *ret)
{
        uint8_t **state = states(run), *now = malloc(run->disk);
        char orig[VB_PATH_MAX], logpath[VB_PATH_MAX];
        struct pc_log log;
        struct vxc_stats st = {};
        ASSERT_TRUE(now);
        vb_path_join(orig, run->dir, "orig.vhdx");
        vb_path_join(logpath, run->dir, "power.log");
        vxb_write_file(run->start, orig);
        vxb_write_file(run->start, run->path);
        unlink(logpath);
        ASSERT_EQ_INT(vc_power_log_set(logpath), 0);
        struct vhdx_image *img = vxc_open(run->path, true);
        for (size_t i = 0; i < run->n_ops; i++)
                ASSERT_EQ_INT(run->op(img, i, NULL), 0);
        vhdx_image_free(img);
        ASSERT_EQ_INT(vc_power_log_set(NULL), 0);
        ASSERT_EQ_INT(pc_log_read(logpath, &log), 0);
        for (size_t i = 0; i < log.n; i++) {
                if (!pc_is_barrier(&log, i, NULL))
                        continue;
                for (unsigned s = 0; s <= before; s += RUNNING_ON_VALGRIND ? 2 : 1) {
                        struct pc_cut cut = { .at = s < before ? i : i + 1, .seed = 1000 * i + s, .permille = -1 };
                        ASSERT_EQ_INT(pc_apply(orig, &log, &cut, run->path, NULL), 0);
                        vxc_read_all(run->path, now, run->disk);
                        for (uint64_t o = 0; o < run->disk; o += 512) {
                                bool ok = false;
                                for (size_t k = 0; k <= run->n_ops && !ok; k++)
                                        ok = !memcmp(now + o, state[k] + o, 512);
                                if (!ok)
                                        TEST_FAIL("%s: power cut at record %zu of %zu (seed %" PRIu64 "): sector %"
                                                  PRIu64 " is in no state of the run", run->what, cut.at, log.n,
                                                  cut.seed, o);
                        }
                        reopen_clean(run, now);
                        st.cuts++;
                }
        }
        st.records = log.n;
        pc_log_done(&log);
        unlink(orig);
        unlink(logpath);
        states_free(run, state);
        free(now);
        *ret = st;
}
