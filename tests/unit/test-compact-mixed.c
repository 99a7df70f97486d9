/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The executor on objects of several sizes with fixed regions among and
 * after them, as VHDX lays them out, before any format has such objects:
 * a plain file and a map of this test's own, run through
 * compact_execute_ops() with the phase operations below (release and
 * repoint rewrite the map at the start of the file, finish writes a
 * footer-like marker at the new end).  The grid is VHDX's scaled down:
 * 64 KiB cells for its 1 MiB, payload objects of 2 to 4 cells and bitmap
 * objects of 1; fixed regions of 1 to 3 cells between them and, in a
 * quarter of the layouts, after them (a BAT or metadata region past the
 * blocks: nothing moves, there is nothing to gain).
 * Slots copy in 16 KiB pieces, so every object goes in several, as a
 * 32 MiB block goes in 4 MiB ones.
 *
 * For every layout: a run to the end leaves every survivor's bytes at the
 * place the map names, every fixed region untouched, the marker right
 * after the planned end and the file cut there, with each moved byte read
 * and written once; then the run is cut at every crash point in turn (a
 * child armed to die there), after which the file must hold the same
 * truths (a dropped object: gone from the map, or still whole) and a new
 * run must finish it, never ending later than planned.  A few runs have
 * every read or every write shortened, or one write failing (the file
 * valid, a new run finishes), and one runs with the default piece size.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compact/move.h"
#include "compact/plan.h"
#include "image/image.h"
#include "tests.h"
#include "util/fault.h"
#include "util/fd-util.h"
#include "util/macro.h"
#include "util/overflow.h"
#include "vhd-builder.h"

#define CELL (64u << 10)
#define PIECE (16u << 10)
#define TAIL 4096u
#define MAX_OBJ 48
#define MAP_MAGIC 0x4d49584du   /* "MIXM" */

struct mcase {
        uint32_t n;
        uint32_t at[MAX_OBJ];           /* cells, as first written */
        uint8_t cls[MAX_OBJ];
        bool drop[MAX_OBJ];
        struct compact_extent fixed[8];
        uint32_t n_fixed;
        uint64_t class_size[2];
        uint64_t file_size;
};

static char dir[VB_PATH_MAX], path[VB_PATH_MAX];
static const struct mcase *cur;         /* for the ops */
static int cur_fd = -1;

static uint64_t rnd(uint64_t n)
{
        return n ? (uint64_t) random() % n : 0;
}

static void make_case(struct mcase *c, unsigned seed)
{
        uint64_t pos = 1;       /* cell 0: the map */

        srandom(seed);
        *c = (struct mcase) { .class_size = { (2 + rnd(3)) * CELL, CELL } };
        for (uint32_t steps = (uint32_t) (10 + rnd(30)); steps > 0 && c->n < MAX_OBJ; steps--) {
                uint64_t r = rnd(10);
                if (r == 0 && c->n_fixed < 6) {
                        uint64_t len = 1 + rnd(3);
                        c->fixed[c->n_fixed++] = (struct compact_extent) { pos * CELL, len * CELL };
                        pos += len;
                } else if (r < 2)
                        pos += 1 + rnd(2);
                else if (rnd(8) == 0)
                        c->at[c->n++] = COMPACT_ABSENT;
                else {
                        c->cls[c->n] = (uint8_t) (rnd(3) == 0);
                        c->drop[c->n] = rnd(5) < 2;
                        c->at[c->n++] = (uint32_t) pos;
                        pos += c->class_size[c->cls[c->n - 1]] / CELL;
                }
        }
        if (seed % 4 == 1) {
                c->fixed[c->n_fixed++] = (struct compact_extent) { pos * CELL, 2 * (uint64_t) CELL };
                pos += 2;
        }
        c->file_size = pos * CELL + TAIL;
}

/* The bytes of object i: every 8-byte word says whose and where. */
static void object_bytes(uint8_t *buf, uint32_t i, uint64_t len)
{
        for (uint64_t w = 0; w < len / 8; w++) {
                uint64_t v = ((uint64_t) (i + 1) << 40) ^ (w * 8) ^ 0x5a5a000000000000ull;
                memcpy(buf + w * 8, &v, 8);
        }
}

static void region_bytes(uint8_t *buf, uint32_t f, uint64_t len)
{
        memset(buf, 0xf0 ^ (int) f, len);
}

static void marker_bytes(uint8_t *buf)
{
        memset(buf, 0xee, TAIL);
        memcpy(buf, "MARKER!!", 8);
}

static int write_map(int fd, const uint32_t *at, uint32_t n, const char *step, struct vc_problems *problems)
{
        uint8_t raw[4 + 4 * MAX_OBJ];
        uint32_t magic = MAP_MAGIC;

        memcpy(raw, &magic, 4);
        memcpy(raw + 4, at, 4 * (size_t) n);
        int r = pwrite_full(fd, raw, 4 + 4 * (size_t) n, 0);
        if (r < 0)
                return vc_problem_step_failed(problems, r, 0, "%s: writing the map", step);
        vc_fault_point("test: map written");
        return 0;
}

static void read_map(int fd, uint32_t *at, uint32_t n)
{
        uint8_t raw[4 + 4 * MAX_OBJ];
        uint32_t magic;

        ASSERT_OK(pread_full(fd, raw, 4 + 4 * (size_t) n, 0));
        memcpy(&magic, raw, 4);
        ASSERT_EQ_U64(magic, MAP_MAGIC);
        memcpy(at, raw + 4, 4 * (size_t) n);
}

static void write_file(const struct mcase *c)
{
        _cleanup_free_ uint8_t *buf = malloc(4 * CELL);
        int fd;

        ASSERT_TRUE(buf);
        unlink(path);
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(ftruncate(fd, (off_t) c->file_size));
        ASSERT_OK(write_map(fd, c->at, c->n, "writing the case", NULL));
        for (uint32_t i = 0; i < c->n; i++) {
                if (c->at[i] == COMPACT_ABSENT)
                        continue;
                uint64_t len = c->class_size[c->cls[i]];
                object_bytes(buf, i, len);
                ASSERT_OK(pwrite_full(fd, buf, len, (uint64_t) c->at[i] * CELL));
        }
        for (uint32_t f = 0; f < c->n_fixed; f++) {
                region_bytes(buf, f, c->fixed[f].len);
                ASSERT_OK(pwrite_full(fd, buf, c->fixed[f].len, c->fixed[f].off));
        }
        marker_bytes(buf);
        ASSERT_OK(pwrite_full(fd, buf, TAIL, c->file_size - TAIL));
        close(fd);
}

/* The phase operations of this test's "format" (image.h): img is NULL. */
static int op_release(struct vc_image *img, struct compact_layout *l, const struct compact_plan *p,
                      struct vc_problems *problems)
{
        for (uint32_t i = 0; i < p->n_drops; i++)
                l->at[p->drops[i]] = COMPACT_ABSENT;
        return write_map(cur_fd, l->at, l->n_objects, "releasing blocks", problems);
}

static int op_repoint(struct vc_image *img, struct compact_layout *l, const struct compact_plan *p, uint32_t first,
                      uint32_t end, const bool *landed, struct vc_problems *problems)
{
        for (uint32_t i = first; i < end; i++)
                if (landed[i])
                        l->at[p->moves[i].block] = (uint32_t) (p->moves[i].to / CELL);
        return write_map(cur_fd, l->at, l->n_objects, "pointing the map at the copies", problems);
}

static int op_finish(struct vc_image *img, const struct compact_plan *p, struct vc_problems *problems)
{
        uint8_t buf[TAIL];

        marker_bytes(buf);
        int r = pwrite_full(cur_fd, buf, TAIL, p->final_size - TAIL);
        if (r < 0)
                return vc_problem_step_failed(problems, r, p->final_size - TAIL, "truncating: writing the marker");
        vc_fault_point("test: marker written");
        return 0;
}

static const struct vc_compact_ops ops = {
        .release = op_release,
        .repoint = op_repoint,
        .finish = op_finish,
};

/* Plans from the file as it is (the map; the case's drops of what is still
 * in it) and runs; *ret_plan is the plan. */
static int plan_and_run(const struct mcase *c, unsigned chunk, struct compact_plan *ret_plan,
                        struct compact_exec_stats *st, struct vc_problems *problems)
{
        uint32_t at[MAX_OBJ];
        uint8_t drop[MAX_OBJ] = {};
        struct stat sb;
        int r;

        cur = c;
        cur_fd = open(path, O_RDWR | O_CLOEXEC);
        ASSERT_TRUE(cur_fd >= 0);
        ASSERT_OK(fstat(cur_fd, &sb));
        read_map(cur_fd, at, c->n);
        for (uint32_t i = 0; i < c->n; i++)
                drop[i] = c->drop[i] && at[i] != COMPACT_ABSENT ? COMPACT_DROP_FS_FREE : COMPACT_KEEP;
        struct compact_layout l = { .n_objects = c->n, .at = at, .stride = c->class_size[0], .fixed_end = CELL,
                                    .file_size = (uint64_t) sb.st_size, .align = CELL, .unit = CELL,
                                    .tail = TAIL, .n_classes = 2, .class_size = { c->class_size[0], CELL },
                                    .cls = c->cls, .fixed = c->fixed, .n_fixed = c->n_fixed };
        ASSERT_OK(compact_plan_build(&l, drop, ret_plan));
        struct compact_exec_opts o = { .queue_depth = 3, .copy_chunk = chunk, .problems = problems };
        *st = (struct compact_exec_stats) {};
        r = compact_execute_ops(cur_fd, &ops, NULL, &l, ret_plan, &o, st);
        close(cur_fd);
        cur_fd = -1;
        return r;
}

/* The truths of the file at any instant; with final, of a finished run
 * that ended at size. */
static void check_file(const struct mcase *c, bool final, uint64_t size)
{
        _cleanup_free_ uint8_t *buf = malloc(4 * CELL), *want = malloc(4 * CELL);
        uint32_t at[MAX_OBJ];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat sb;

        ASSERT_TRUE(fd >= 0 && buf && want);
        ASSERT_OK(fstat(fd, &sb));
        read_map(fd, at, c->n);
        for (uint32_t i = 0; i < c->n; i++) {
                if (c->at[i] == COMPACT_ABSENT || (c->drop[i] && (final || at[i] == COMPACT_ABSENT))) {
                        ASSERT_EQ_U64(at[i], COMPACT_ABSENT);
                        continue;
                }
                ASSERT_TRUE(at[i] != COMPACT_ABSENT);
                uint64_t off = (uint64_t) at[i] * CELL, len = c->class_size[c->cls[i]];
                ASSERT_TRUE(off >= CELL && off + len <= (uint64_t) sb.st_size - TAIL);
                for (uint32_t f = 0; f < c->n_fixed; f++)
                        ASSERT_TRUE(!ranges_overlap(off, len, c->fixed[f].off, c->fixed[f].len));
                ASSERT_OK(pread_full(fd, buf, len, off));
                object_bytes(want, i, len);
                if (memcmp(buf, want, len) != 0)
                        TEST_FAIL("object %u at cell %u does not hold its bytes", i, at[i]);
        }
        for (uint32_t f = 0; f < c->n_fixed; f++) {
                ASSERT_OK(pread_full(fd, buf, c->fixed[f].len, c->fixed[f].off));
                region_bytes(want, f, c->fixed[f].len);
                if (memcmp(buf, want, c->fixed[f].len) != 0)
                        TEST_FAIL("fixed region %u was written over", f);
        }
        if (final) {
                ASSERT_EQ_U64(sb.st_size, size);
                ASSERT_OK(pread_full(fd, buf, TAIL, size - TAIL));
                marker_bytes(want);
                ASSERT_MEMEQ(buf, want, TAIL);
        }
        close(fd);
}

/* A run with rule armed around the executor, which then must either have
 * finished or failed leaving a valid file that a new run finishes. */
static void faulty_run(const struct mcase *c, const char *rule, uint64_t optimum)
{
        struct compact_plan plan = {};
        struct compact_exec_stats st;
        struct vc_problems ps = {};

        write_file(c);
        ASSERT_OK(vc_io_fault_set(rule));
        int r = plan_and_run(c, PIECE, &plan, &st, &ps);
        ASSERT_OK(vc_io_fault_set(NULL));
        compact_plan_done(&plan);
        if (r < 0) {
                if (ps.n == 0)
                        TEST_FAIL("%s: failed (%d) with no problem said", rule, r);
                check_file(c, false, 0);
                ASSERT_OK(plan_and_run(c, PIECE, &plan, &st, NULL));
                compact_plan_done(&plan);
        }
        vc_problems_done(&ps);
        check_file(c, true, optimum);
}

int main(void)
{
        unsigned cases = 0, points_total = 0, lower = 0, moved_big = 0, moved_small = 0;

        vb_temp_dir(dir);
        vb_path_join(path, dir, "mixed.img");
        for (unsigned seed = 1; seed <= 12; seed++) {
                struct mcase c;
                struct compact_plan plan = {};
                struct compact_exec_stats st;

                make_case(&c, seed);
                write_file(&c);
                unsigned long p0 = vc_fault_count();
                ASSERT_OK(plan_and_run(&c, PIECE, &plan, &st, NULL));
                unsigned long points = vc_fault_count() - p0;
                uint64_t optimum = plan.final_size;
                uint32_t n_moves = plan.n_moves;
                ASSERT_TRUE(optimum <= c.file_size);
                /* Each moved byte read once and written once. */
                ASSERT_EQ_U64(st.bytes_read, plan.bytes_moved);
                ASSERT_EQ_U64(st.bytes_written, plan.bytes_moved);
                ASSERT_EQ_U64(st.blocks_moved, plan.n_moves);
                ASSERT_TRUE(st.truncated);
                for (uint32_t m = 0; m < plan.n_moves; m++) {
                        moved_big += plan.moves[m].len > CELL;
                        moved_small += plan.moves[m].len == CELL;
                }
                compact_plan_done(&plan);
                check_file(&c, true, optimum);

                for (unsigned long n = 1; n <= points; n++) {
                        write_file(&c);
                        pid_t pid = fork();
                        ASSERT_TRUE(pid >= 0);
                        if (pid == 0) {
                                struct compact_plan p2 = {};
                                struct compact_exec_stats s2;
                                vc_fault_arm(vc_fault_count() + n);
                                plan_and_run(&c, PIECE, &p2, &s2, NULL);
                                _exit(0);
                        }
                        int status;
                        ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
                        ASSERT_TRUE(WIFEXITED(status));
                        /* Under valgrind: --error-exitcode of tests/meson.build's setup. */
                        if (!vc_fault_exited(status, 98))
                                TEST_FAIL("the child's wait status is %#x, not a crash point's", status);
                        check_file(&c, false, 0);
                        ASSERT_OK(plan_and_run(&c, PIECE, &plan, &st, NULL));
                        uint64_t size = plan.final_size;
                        compact_plan_done(&plan);
                        if (size > optimum)
                                TEST_FAIL("layout %u, crash point %lu: finished at %" PRIu64 " bytes, planned %"
                                          PRIu64, seed, n, size, optimum);
                        lower += size < optimum;
                        check_file(&c, true, size);
                        points_total++;
                }

                /* Shortened transfers, a failing write, whole-object pieces. */
                faulty_run(&c, "read:*:short", optimum);
                faulty_run(&c, "write:*:short", optimum);
                faulty_run(&c, "write:3:eio", optimum);
                write_file(&c);
                ASSERT_OK(plan_and_run(&c, 0, &plan, &st, NULL));
                ASSERT_EQ_U64(st.bytes_written, plan.bytes_moved);
                compact_plan_done(&plan);
                check_file(&c, true, optimum);

                printf("layout %u: %u objects (%" PRIu64 " and 64 KiB), %u fixed regions, %u moves, %" PRIu64
                       " -> %" PRIu64 " bytes, %lu crash points: all valid and finished\n",
                       seed, c.n, c.class_size[0] >> 10, c.n_fixed, n_moves, c.file_size, optimum, points);
                cases++;
        }
        /* Both sizes moved, the large ones in several pieces. */
        ASSERT_TRUE(moved_big > 0 && moved_small > 0);
        unlink(path);
        rmdir(dir);
        printf("%u layouts, %u + %u objects moved, %u crash points (%u finished below the plan): all safe\n",
               cases, moved_big, moved_small, points_total, lower);
        return 0;
}
