/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * I/O faults in a compaction (lib/util/fault.h's vc_io_fault rules): every
 * read, write, sync and the truncate of the executor failed in turn with
 * EIO (some with ENOSPC), and every read of the driver's scan too.  Each
 * failure must end the run with exactly one io-error problem naming the
 * operation, leave an image that validates and reads as before (kept
 * blocks their data; dropped blocks their data or zeros), and a run
 * without the fault must then reach the optimum.  Short reads and writes
 * (every transfer cut in half, in the executor and in pread_full) are not
 * failures: the run completes with the same result and the same bytes
 * moved.
 */
#include <fcntl.h>
#include <unistd.h>

#include "compact/compact.h"
#include "compact/move.h"
#include "compact/plan.h"
#include "tests.h"
#include "util/fault.h"
#include "vhd-builder.h"
#include "image/image.h"
#include "vhd/vhd.h"

#define BS (64u << 10)
#define NB 24u

static char dir[VB_PATH_MAX], path[VB_PATH_MAX];

/* Blocks: allocated unless b % 5 == 4; dropped when b % 3 == 0; in
 * reverse order in the file, so that survivors move.  Blocks with
 * b % 7 == 1 hold zeros (for the scan of compact_run in zero mode). */
static bool is_alloc(uint32_t b) { return b % 5 != 4; }
static bool is_drop(uint32_t b) { return is_alloc(b) && b % 3 == 0; }
static bool is_zero(uint32_t b) { return is_alloc(b) && b % 7 == 1; }
/* Which blocks go: is_drop for the executor alone, is_zero for a run of
 * compact_run in zero mode. */
static bool zero_mode;
static bool goes(uint32_t b) { return zero_mode ? is_zero(b) : is_drop(b); }

static void write_image(void)
{
        _cleanup_vb_ struct vb_image *img = vb_dynamic((uint64_t) NB * BS, BS, VHD_TYPE_DYNAMIC);

        for (uint32_t i = NB; i-- > 0;)
                if (is_alloc(i)) {
                        vb_alloc_block(img, i, (uint8_t) (1 + i), VB_BITMAP_FULL);
                        if (is_zero(i))
                                memset(vb_block_data(img, i), 0, BS);
                }
        unlink(path);
        vb_write_file(img, path);
}

/* The executor alone, with rule armed only around it.  Returns its result;
 * the problem in *ps. */
static int execute_with(const char *rule, struct vc_problems *ps, struct compact_plan *ret_plan,
                        struct compact_exec_stats *st, unsigned long counts[_VC_IO_OP_MAX])
{
        struct vc_image *img = NULL;
        struct compact_layout l;
        uint8_t drop[NB] = {};
        int r;

        ASSERT_OK(vc_image_open(path, NULL, VC_OPEN_RDWR, NULL, &img));
        ASSERT_OK(compact_layout_from_image(img, &l));
        for (uint32_t b = 0; b < NB; b++)
                drop[b] = is_drop(b) && l.at[b] != COMPACT_ABSENT;
        ASSERT_OK(compact_plan_build(&l, drop, ret_plan));
        struct compact_exec_opts o = { .queue_depth = 3, .problems = ps };
        ASSERT_OK(vc_io_fault_set(rule));
        r = compact_execute(img, &l, ret_plan, &o, st);
        for (int op = 0; counts && op < _VC_IO_OP_MAX; op++)
                counts[op] = vc_io_fault_count(op);
        ASSERT_OK(vc_io_fault_set(NULL));
        free(l.at);
        vc_image_free(img);
        return r;
}

/* final: dropped blocks must read as zeros (the run finished). */
static void check_contents(bool final)
{
        struct vc_problems ps = {};
        struct vhd_image *img = NULL;
        uint8_t *buf = malloc(BS), *want = malloc(BS), *zero = calloc(1, BS);

        ASSERT_TRUE(buf && want && zero);
        if (vhd_check(path, &ps) != 0)
                TEST_FAIL("image not clean: %s (at %" PRIu64 ")", ps.n ? ps.first.message : "?", ps.first.offset);
        vc_problems_done(&ps);
        ASSERT_OK(vhd_image_open(path, 0, NULL, &img));
        for (uint32_t b = 0; b < NB; b++) {
                ASSERT_OK(vhd_image_pread(img, buf, BS, (uint64_t) b * BS));
                if (is_zero(b) || !is_alloc(b))
                        memset(want, 0, BS);
                else
                        vb_pattern_fill(want, BS, (uint8_t) (1 + b), (uint64_t) b * BS);
                if (!goes(b))
                        ASSERT_MEMEQ(buf, want, BS);
                else if (memcmp(buf, want, BS) != 0 && memcmp(buf, zero, BS) != 0)
                        TEST_FAIL("dropped block %u reads neither its data nor zeros", b);
                else if (final)
                        ASSERT_MEMEQ(buf, zero, BS);
        }
        vhd_image_free(img);
        free(buf);
        free(want);
        free(zero);
}

/* What each failing operation must be called in the message. */
static const char *const op_words[_VC_IO_OP_MAX] = { "reading", "writing", "sync", "ftruncate" };

static void expect_failure(const char *rule, int r, const struct vc_problems *ps, enum vc_io_op op, int err)
{
        if (r != -err)
                TEST_FAIL("%s: returned %d (%s), expected -%d", rule, r, strerror(-r), err);
        ASSERT_EQ_INT(ps->n, 1);
        ASSERT_EQ_INT(ps->first.id, VC_PROBLEM_IO);
        ASSERT_EQ_INT(ps->first.error, -err);
        if (!strstr(ps->first.message, op_words[op]) || !strstr(ps->first.message, strerror(err)) ||
            !strstr(ps->first.message, "run again"))
                TEST_FAIL("%s: the message does not say what failed: '%s'", rule, ps->first.message);
}

/* The executor: every operation of each kind, failed in turn. */
static unsigned executor_faults(uint64_t optimum, const unsigned long counts[_VC_IO_OP_MAX])
{
        unsigned n_cases = 0;

        for (int op = 0; op < _VC_IO_OP_MAX; op++) {
                static const char *const names[] = { "read", "write", "sync", "truncate" };
                ASSERT_TRUE(counts[op] > 0);
                for (unsigned long n = 1; n <= counts[op]; n++) {
                        int err = n % 2 == 0 && op == VC_IO_WRITE ? ENOSPC : EIO;
                        char rule[64];
                        struct vc_problems ps = {};
                        struct compact_plan plan = {};
                        struct compact_exec_stats st = {};

                        snprintf(rule, sizeof rule, "%s:%lu:%s", names[op], n, err == EIO ? "eio" : "enospc");
                        write_image();
                        int r = execute_with(rule, &ps, &plan, &st, NULL);
                        compact_plan_done(&plan);
                        expect_failure(rule, r, &ps, (enum vc_io_op) op, err);
                        check_contents(false);
                        if (n_cases == 0 || n == counts[op])
                                printf("%s: %s\n", rule, ps.first.message);
                        vc_problems_done(&ps);
                        /* Again, without the fault: to the optimum. */
                        ASSERT_OK(execute_with(NULL, NULL, &plan, &st, NULL));
                        compact_plan_done(&plan);
                        ASSERT_EQ_U64(vb_file_size(path), optimum);
                        check_contents(true);
                        n_cases++;
                }
        }
        return n_cases;
}

/* Short transfers everywhere: same result, same bytes. */
static void executor_short(const char *rule, uint64_t optimum, const struct compact_exec_stats *want,
                           const unsigned long counts[_VC_IO_OP_MAX])
{
        struct vc_problems ps = {};
        struct compact_plan plan = {};
        struct compact_exec_stats st = {};
        unsigned long c[_VC_IO_OP_MAX];

        write_image();
        int r = execute_with(rule, &ps, &plan, &st, c);
        if (r < 0)
                TEST_FAIL("%s: failed: %s", rule, ps.n ? ps.first.message : strerror(-r));
        compact_plan_done(&plan);
        ASSERT_EQ_U64(vb_file_size(path), optimum);
        check_contents(true);
        ASSERT_EQ_U64(st.bytes_read, want->bytes_read);
        ASSERT_EQ_U64(st.bytes_written, want->bytes_written);
        ASSERT_EQ_U64(st.blocks_moved, want->blocks_moved);
        /* The transfers really were cut: more of them than without. */
        ASSERT_TRUE(c[VC_IO_READ] + c[VC_IO_WRITE] > counts[VC_IO_READ] + counts[VC_IO_WRITE]);
        printf("%s: completed, %lu reads and %lu writes instead of %lu and %lu\n", rule, c[VC_IO_READ],
               c[VC_IO_WRITE], counts[VC_IO_READ], counts[VC_IO_WRITE]);
}

static int run_zero(const char *rule, struct vc_problems *ps, struct compact_report *rep, unsigned long *ret_reads)
{
        struct compact_opts o = { .mode = COMPACT_MODE_ZERO, .queue_depth = 2 };
        int r;

        ASSERT_OK(vc_io_fault_set(rule));
        r = compact_run(path, &o, rep, ps);
        if (ret_reads)
                *ret_reads = vc_io_fault_count(VC_IO_READ);
        ASSERT_OK(vc_io_fault_set(NULL));
        return r;
}

/* The whole run in zero mode (no attach: every read is this process's):
 * each read failed in turn, from the open through the scan to the
 * executor.  Then every read short. */
static unsigned driver_faults(void)
{
        struct compact_report want = {}, rep;
        unsigned long reads;
        unsigned n_cases = 0, absorbed = 0;

        zero_mode = true;
        write_image();
        ASSERT_OK(run_zero("read:999999999:eio", NULL, &want, &reads));
        ASSERT_TRUE(want.dropped_zero > 0 && want.moved > 0);
        uint64_t optimum = vb_file_size(path);
        ASSERT_EQ_U64(optimum, want.size_after);

        for (unsigned long n = 1; n <= reads; n++) {
                char rule[64];
                struct vc_problems ps = {};
                size_t len0, len1;

                snprintf(rule, sizeof rule, "read:%lu:eio", n);
                write_image();
                _cleanup_free_ uint8_t *before = vb_read_file(path, &len0);
                int r = run_zero(rule, &ps, &rep, NULL);
                if (r >= 0) {
                        /* lib/vhd reads a block's sector bitmap once more
                         * when the quick read of it fails: a single
                         * failure there is absorbed, and the run must be
                         * as good as one without it. */
                        ASSERT_EQ_INT(ps.n, 0);
                        ASSERT_EQ_U64(vb_file_size(path), optimum);
                        check_contents(true);
                        absorbed++;
                        continue;
                }
                if (ps.n != 1 || !strstr(ps.first.message, strerror(EIO)))
                        TEST_FAIL("%s: %zu problems, first '%s'", rule, ps.n, ps.n ? ps.first.message : "");
                /* A read that fails before the first write leaves the file
                 * byte-identical; one in the executor, a valid image. */
                _cleanup_free_ uint8_t *after = vb_read_file(path, &len1);
                bool same = len0 == len1 && !memcmp(before, after, len0);
                if (strstr(ps.first.message, "nothing was written") && !same)
                        TEST_FAIL("%s: '%s', but the file changed", rule, ps.first.message);
                if (n % 8 == 1)
                        printf("%s: %s: %s\n", rule, vc_problem_id_to_string(ps.first.id), ps.first.message);
                check_contents(false);
                vc_problems_done(&ps);
                ASSERT_OK(run_zero(NULL, NULL, &rep, NULL));
                ASSERT_EQ_U64(vb_file_size(path), optimum);
                check_contents(true);
                n_cases++;
        }

        write_image();
        ASSERT_OK(run_zero("read:*:short", NULL, &rep, NULL));
        ASSERT_EQ_U64(vb_file_size(path), optimum);
        ASSERT_EQ_INT(rep.dropped_zero, want.dropped_zero);
        ASSERT_EQ_INT(rep.moved, want.moved);
        ASSERT_EQ_U64(rep.bytes_read, want.bytes_read);
        check_contents(true);
        write_image();
        ASSERT_OK(run_zero("write:*:short", NULL, &rep, NULL));
        ASSERT_EQ_U64(vb_file_size(path), optimum);
        ASSERT_EQ_U64(rep.bytes_written, want.bytes_written);
        check_contents(true);
        printf("compact_run --mode zero: %lu reads failed in turn (%u absorbed by a second read), "
               "every read or write short: all safe\n", reads, absorbed);
        return n_cases;
}

static void bad_rules(void)
{
        static const char *const bad[] = { "", "write", "write:1", "write:0:eio", "write:x:eio", "sync:1:short",
                                           "seek:1:eio", "write:1:eagain", "write:*1:eio" };
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
                if (bad[i][0])
                        ASSERT_EQ_INT(vc_io_fault_set(bad[i]), -EINVAL);
        ASSERT_OK(vc_io_fault_set("truncate:*:enospc"));
        size_t len = 100;
        ASSERT_EQ_INT(vc_io_fault(VC_IO_TRUNCATE, NULL), -ENOSPC);
        ASSERT_EQ_INT(vc_io_fault(VC_IO_WRITE, &len), 0);
        ASSERT_EQ_U64(len, 100);
        ASSERT_OK(vc_io_fault_set("write:2:short"));
        ASSERT_EQ_INT(vc_io_fault(VC_IO_WRITE, &len), 0);
        ASSERT_EQ_U64(len, 100);
        ASSERT_EQ_INT(vc_io_fault(VC_IO_WRITE, &len), 0);
        ASSERT_EQ_U64(len, 50);
        len = 1;
        ASSERT_OK(vc_io_fault_set("read:*:short"));
        ASSERT_EQ_INT(vc_io_fault(VC_IO_READ, &len), 0);
        ASSERT_EQ_U64(len, 1);
        ASSERT_OK(vc_io_fault_set(NULL));
}

int main(void)
{
        struct compact_plan plan = {};
        struct compact_exec_stats want = {};
        unsigned long counts[_VC_IO_OP_MAX];

        vb_temp_dir(dir);
        vb_path_join(path, dir, "disk.vhd");
        bad_rules();

        /* Without a fault: the optimum and the operations to fail. */
        write_image();
        ASSERT_OK(execute_with("write:999999999:eio", NULL, &plan, &want, counts));
        uint64_t optimum = plan.final_size;
        ASSERT_TRUE(plan.n_moves > 0 && plan.n_drops > 0);
        compact_plan_done(&plan);
        ASSERT_EQ_U64(vb_file_size(path), optimum);
        check_contents(true);
        printf("executor: %lu reads, %lu writes, %lu syncs, %lu truncates\n", counts[VC_IO_READ],
               counts[VC_IO_WRITE], counts[VC_IO_SYNC], counts[VC_IO_TRUNCATE]);

        unsigned n = executor_faults(optimum, counts);
        executor_short("read:*:short", optimum, &want, counts);
        executor_short("write:*:short", optimum, &want, counts);
        n += driver_faults();

        unlink(path);
        rmdir(dir);
        printf("%u injected failures: each reported once, the image valid, a new run to the optimum\n", n);
        return 0;
}
