/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The executor when io_uring loses the io-wq worker its writes were
 * handed to (lib/compact/move.c, "deadline"; docs/robustness.md).  The
 * fault rule KIND stall (lib/util/fault.h) makes one of the executor's
 * reads or writes wait until the executor wakes io-wq (a "kick"), as the
 * kernel bug makes it wait; without the kick the run never ends, and the
 * meson timeout fails the test.
 *
 *   a. On random layouts (tests/lib/layout-case.h), at queue depths 1, 3
 *      and 8, the first, a middle and the last write of the executor
 *      stalled in turn, a middle read, and every write: each run must
 *      finish with at least one kick, at the optimum size, with every
 *      kept block reading its data and every dropped one zeros, and the
 *      same bytes moved as without the stall.  Which operations are the
 *      executor's (not the BAT's or the footer's, which are synchronous
 *      and ignore the rule) is read from a run without the fault: at the
 *      last progress call every block I/O has been asked for, and nothing
 *      after the copies yet.
 *   b. Cancelled while stalled: the progress callback stops the run once
 *      the stall is woken; the run ends -ECANCELED with a valid image,
 *      every kept block right, and a second run finishes at the optimum.
 *   c. An I/O error in a run after stalled ones (the fault layer holds
 *      one rule, so not in the same run): reported once, image valid.
 *   d. The real thing, with the default deadline: compactions of 8 moves
 *      at queue depth 8 (the shape of the reproducer that loses the
 *      worker about once per 5000 runs) for about 4 s, each result
 *      checked; the kicks are counted and printed, not required.
 *
 * With kick_io_wq() made to do nothing, this test hangs in its first
 * stalled run (and so fails by its meson timeout).
 */
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "compact/move.h"
#include "compact/plan.h"
#include "layout-case.h"
#include "tests.h"
#include "util/fault.h"
#include "vhd-builder.h"
#include "image/image.h"
#include "vhd/vhd.h"

/* A rule that never fires, armed so that operations are counted. */
#define COUNT_ONLY "truncate:1000000:eio"

static char dir[VB_PATH_MAX], path[VB_PATH_MAX];
static unsigned stall_ms;

struct progress {
        unsigned long reads, writes;    /* counted at the last call */
        /* b: stop once the stall is woken and op's n-th was asked for */
        bool cancel;
        enum vc_io_op op;
        unsigned long nth;
        bool cancelled;
};

/* Whether the stall has been woken (a kick happened since the rule was set). */
static bool stall_woken(void)
{
        struct pollfd pfd = { .fd = vc_io_stall_fd(), .events = POLLIN };

        ASSERT_TRUE(pfd.fd >= 0);
        return poll(&pfd, 1, 0) == 1;
}

static int on_progress(void *userdata, uint64_t done, uint64_t total)
{
        struct progress *p = userdata;

        p->reads = vc_io_fault_count(VC_IO_READ);
        p->writes = vc_io_fault_count(VC_IO_WRITE);
        if (p->cancel && vc_io_fault_count(p->op) >= p->nth && stall_woken()) {
                p->cancelled = true;
                return 1;
        }
        return 0;
}

/* Plans (drop[] limited to blocks still allocated) and executes with rule
 * armed around the executor alone; its result. */
static int run(const struct layout_case *c, const char *rule, unsigned qd, unsigned ms, struct progress *p,
               struct vc_problems *ps, struct compact_plan *ret_plan, struct compact_exec_stats *st)
{
        struct vc_image *img = NULL;
        struct compact_layout l;
        uint8_t drop[LC_MAX_BLOCKS] = {};
        struct progress none = {};
        int r;

        ASSERT_OK(vc_image_open(path, NULL, VC_OPEN_RDWR, NULL, &img));
        ASSERT_OK(compact_layout_from_image(img, &l));
        for (uint32_t b = 0; b < c->n_blocks; b++)
                drop[b] = c->drop[b] && l.at[b] != COMPACT_ABSENT;
        ASSERT_OK(compact_plan_build(&l, drop, ret_plan));
        struct compact_exec_opts o = { .queue_depth = qd, .stall_ms = ms, .progress = on_progress,
                                       .userdata = p ? p : &none, .problems = ps };
        *st = (struct compact_exec_stats) {};
        ASSERT_OK(vc_io_fault_set(rule));
        r = compact_execute(img, &l, ret_plan, &o, st);
        ASSERT_OK(vc_io_fault_set(NULL));
        free(l.at);
        vc_image_free(img);
        return r;
}

static void check_image(const struct layout_case *c, bool final, const char *what)
{
        char why[256];

        if (!lc_contents_ok(c, path, final, why, sizeof why))
                TEST_FAIL("%s: %s", what, why);
}

/* One layout, measured by a run without the fault. */
struct measured {
        unsigned seed;
        struct layout_case c;
        uint64_t optimum, bytes;
        uint32_t n_moves;
        unsigned long reads_before, writes_before;      /* operations before the executor's */
};

static bool measure(unsigned seed, struct measured *m)
{
        struct compact_plan plan = {};
        struct compact_exec_stats st;
        struct progress p = {};

        m->seed = seed;
        lc_make(&m->c, seed);
        lc_write(&m->c, seed, path, NULL, NULL);
        ASSERT_OK(run(&m->c, COUNT_ONLY, 8, 0, &p, NULL, &plan, &st));
        m->optimum = plan.final_size;
        m->n_moves = plan.n_moves;
        m->bytes = (uint64_t) plan.n_moves * plan.stride;
        compact_plan_done(&plan);
        ASSERT_EQ_U64(st.bytes_read, m->bytes);
        ASSERT_EQ_U64(st.bytes_written, m->bytes);
        ASSERT_EQ_U64(vb_file_size(path), m->optimum);
        check_image(&m->c, true, "without a stall");
        if (m->n_moves < 3)
                return false;
        ASSERT_TRUE(p.reads >= m->n_moves && p.writes >= m->n_moves);
        m->reads_before = p.reads - m->n_moves;
        m->writes_before = p.writes - m->n_moves;
        return true;
}

/* a: the run with rule (stalling the executor's k-th op) at depth qd. */
static void stalled_run(const struct measured *m, enum vc_io_op op, unsigned long k, unsigned qd)
{
        struct compact_plan plan = {};
        struct compact_exec_stats st;
        struct progress p = {};
        char rule[64], what[128];
        bool rd = op == VC_IO_READ;

        if (k)
                snprintf(rule, sizeof rule, "%s:%lu:stall", rd ? "read" : "write",
                         (rd ? m->reads_before : m->writes_before) + k);
        else
                snprintf(rule, sizeof rule, "%s:*:stall", rd ? "read" : "write");
        snprintf(what, sizeof what, "layout %u, depth %u, %s", m->seed, qd, rule);
        lc_write(&m->c, m->seed, path, NULL, NULL);
        int r = run(&m->c, rule, qd, stall_ms, &p, NULL, &plan, &st);
        if (r < 0)
                TEST_FAIL("%s: %s", what, strerror(-r));
        compact_plan_done(&plan);
        if (st.io_wq_kicks < 1)
                TEST_FAIL("%s: finished without a kick (before %lu/%lu, moves %u, seen %lu/%lu)", what, m->reads_before, m->writes_before, m->n_moves, p.reads, p.writes);
        /* The stalled operation was the executor's. */
        ASSERT_TRUE((rd ? p.reads : p.writes) >= (rd ? m->reads_before : m->writes_before) + (k ? k : 1));
        ASSERT_EQ_U64(st.bytes_read, m->bytes);
        ASSERT_EQ_U64(st.bytes_written, m->bytes);
        ASSERT_EQ_U64(st.blocks_moved, m->n_moves);
        ASSERT_TRUE(st.truncated);
        ASSERT_EQ_U64(vb_file_size(path), m->optimum);
        check_image(&m->c, true, what);
}

/* b: cancelled once the stall of the executor's first write is woken. */
static void cancelled_run(const struct measured *m, unsigned qd)
{
        struct compact_plan plan = {};
        struct compact_exec_stats st;
        struct progress p = { .cancel = true, .op = VC_IO_WRITE, .nth = m->writes_before + 1 };
        char rule[64], what[128];

        snprintf(rule, sizeof rule, "write:%lu:stall", m->writes_before + 1);
        snprintf(what, sizeof what, "layout %u, depth %u, %s, cancelled", m->seed, qd, rule);
        lc_write(&m->c, m->seed, path, NULL, NULL);
        int r = run(&m->c, rule, qd, stall_ms, &p, NULL, &plan, &st);
        compact_plan_done(&plan);
        if (r != -ECANCELED)
                TEST_FAIL("%s: returned %d (%s), not -ECANCELED", what, r, strerror(-r));
        ASSERT_TRUE(p.cancelled);
        ASSERT_TRUE(st.io_wq_kicks >= 1);
        ASSERT_FALSE(st.truncated);
        /* The stalled block landed; at depth 1 nothing was started after it. */
        ASSERT_TRUE(st.blocks_moved >= 1);
        if (qd == 1)
                ASSERT_TRUE(st.blocks_moved < m->n_moves);
        check_image(&m->c, false, what);
        uint32_t moved = st.blocks_moved;

        ASSERT_OK(run(&m->c, NULL, qd, stall_ms, NULL, NULL, &plan, &st));
        compact_plan_done(&plan);
        ASSERT_EQ_U64(vb_file_size(path), m->optimum);
        check_image(&m->c, true, what);
        printf("%s: stopped with %u of %u blocks moved, then finished to %" PRIu64 " bytes\n", what, moved,
               m->n_moves, m->optimum);
}

/* c: the executor's k-th op of kind op fails with EIO, right after a
 * stalled run in this process: one io-error problem, a valid image, and
 * a run without the fault finishes. */
static void failed_run(const struct measured *m, enum vc_io_op op, unsigned long k)
{
        struct compact_plan plan = {};
        struct compact_exec_stats st;
        struct vc_problems ps = {};
        char rule[64], what[128];
        bool rd = op == VC_IO_READ;

        stalled_run(m, VC_IO_WRITE, 0, 8);
        snprintf(rule, sizeof rule, "%s:%lu:eio", rd ? "read" : "write",
                 (rd ? m->reads_before : m->writes_before) + k);
        snprintf(what, sizeof what, "layout %u, %s after a stalled run", m->seed, rule);
        lc_write(&m->c, m->seed, path, NULL, NULL);
        int r = run(&m->c, rule, 8, stall_ms, NULL, &ps, &plan, &st);
        compact_plan_done(&plan);
        if (r != -EIO)
                TEST_FAIL("%s: returned %d (%s), not -EIO", what, r, strerror(-r));
        ASSERT_EQ_INT(ps.n, 1);
        ASSERT_EQ_INT(ps.first.id, VC_PROBLEM_IO);
        if (!strstr(ps.first.message, rd ? "reading" : "writing"))
                TEST_FAIL("%s: the message does not say what failed: '%s'", what, ps.first.message);
        vc_problems_done(&ps);
        check_image(&m->c, false, what);
        ASSERT_OK(run(&m->c, NULL, 8, stall_ms, NULL, NULL, &plan, &st));
        compact_plan_done(&plan);
        ASSERT_EQ_U64(vb_file_size(path), m->optimum);
        check_image(&m->c, true, what);
}

static double now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* d: 16 blocks, the 8 lowest in the file dropped, so the other 8 move. */
static void stress(unsigned max_runs, double max_seconds)
{
        struct layout_case c = { .n_blocks = 16 };
        uint32_t order[LC_MAX_BLOCKS];
        unsigned long kicks = 0;
        unsigned runs = 0;
        double start = now();

        for (; runs < max_runs && now() - start < max_seconds; runs++) {
                struct compact_plan plan = {};
                struct compact_exec_stats st;
                unsigned seed = 1000 + runs;

                lc_order(order, c.n_blocks, seed);
                for (uint32_t i = 0; i < c.n_blocks; i++) {
                        c.alloc[order[i]] = true;
                        c.drop[order[i]] = i < 8;
                        c.seed[order[i]] = (uint8_t) (1 + order[i] + runs);
                }
                lc_write(&c, seed, path, NULL, NULL);
                int r = run(&c, NULL, 8, 0, NULL, NULL, &plan, &st);
                if (r < 0)
                        TEST_FAIL("stress run %u: %s", runs, strerror(-r));
                ASSERT_EQ_U64(plan.n_moves, 8);
                ASSERT_EQ_U64(st.blocks_moved, 8);
                ASSERT_EQ_U64(vb_file_size(path), plan.final_size);
                compact_plan_done(&plan);
                check_image(&c, true, "stress");
                kicks += st.io_wq_kicks;
        }
        printf("stress: %u runs of 8 moves at depth 8 in %.1f s, all right; io-wq woken %lu times\n", runs,
               now() - start, kicks);
}

int main(void)
{
        static const unsigned depths[] = { 1, 3, 8 };
        unsigned layouts = RUNNING_ON_VALGRIND ? 2 : 4, found = 0, runs = 0;
        struct measured m[4];

        /* Long enough that memcheck's slowness is not taken for a stall
         * (one would only add a kick). */
        stall_ms = RUNNING_ON_VALGRIND ? 200 : 20;
        vb_temp_dir(dir);
        vb_path_join(path, dir, "disk.vhd");

        for (unsigned seed = 1; found < layouts; seed++) {
                ASSERT_TRUE(seed < 100);
                if (measure(seed, &m[found]))
                        found++;
        }
        for (unsigned i = 0; i < layouts; i++) {
                unsigned long n = m[i].n_moves, ks[] = { 1, (n + 1) / 2, n };
                for (size_t d = 0; d < sizeof depths / sizeof *depths; d++) {
                        for (size_t j = 0; j < sizeof ks / sizeof *ks; j++, runs++)
                                stalled_run(&m[i], VC_IO_WRITE, ks[j], depths[d]);
                        stalled_run(&m[i], VC_IO_READ, ks[1], depths[d]);
                        runs++;
                }
                stalled_run(&m[i], VC_IO_WRITE, 0, 8);
                runs++;
                printf("layout %u: %u blocks, %u moves: %u stalled runs finished to %" PRIu64 " bytes\n", m[i].seed,
                       m[i].c.n_blocks, m[i].n_moves, 4 * 3 + 1, m[i].optimum);
        }
        printf("%u stalled runs: each woke io-wq and finished right\n", runs);

        for (unsigned i = 0; i < 2; i++) {
                cancelled_run(&m[i], 1);
                cancelled_run(&m[i], 3);
        }

        failed_run(&m[0], VC_IO_WRITE, (m[0].n_moves + 1) / 2);
        failed_run(&m[1], VC_IO_READ, 1);
        printf("an I/O error after stalled runs: reported once, image valid\n");

        stress(RUNNING_ON_VALGRIND ? 5 : 5000, 4.0);

        unlink(path);
        rmdir(dir);
        return 0;
}
