/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Crash safety of the write path.  Each scenario is a list of operations,
 * each touching one block.  A dry run counts the fault points every
 * operation passes and records the merged contents after each operation.
 * Then, for every point n, a fresh copy of the files is made, a child
 * process runs the scenario armed to die at point n, and the parent checks
 * that the image still validates with no problem at all, that every sector
 * holds its contents from just before or just after the operation that was
 * cut (so metadata changes are all-or-nothing; a multi-sector write may be
 * torn at sector granularity, as on a real disk),
 * and that running the remaining operations again reaches the final state.
 */
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests.h"
#include "util/fault.h"
#include "vhd-builder.h"
#include "vhd/vhd.h"

#define MIB (1u << 20)
#define DISK (8u * MIB)
#define MAX_OPS 8

enum op_kind { OP_WRITE, OP_ZERO, OP_TRIM };

struct op {
        enum op_kind kind;
        uint64_t off, len;
        uint8_t fill;
};

struct scenario {
        const char *name;
        bool differencing;
        struct op ops[MAX_OPS];
        size_t n_ops;
};

static char dir[VB_PATH_MAX], parent_path[VB_PATH_MAX], image_path[VB_PATH_MAX];

/* Writes the starting files: a dynamic image, or a child over a parent. */
static void make_files(const struct scenario *sc)
{
        _cleanup_vb_ struct vb_image *base = vb_dynamic(DISK, 2 * MIB, VHD_TYPE_DYNAMIC);

        vb_alloc_block(base, 1, 0x31, VB_BITMAP_FULL);
        vb_alloc_block(base, 2, 0x32, VB_BITMAP_FULL);
        vb_alloc_block(base, 3, 0x33, VB_BITMAP_PARTIAL);
        unlink(parent_path);
        unlink(image_path);
        if (!sc->differencing) {
                vb_write_file(base, image_path);
                return;
        }
        vb_write_file(base, parent_path);
        ASSERT_OK(vhd_create_differencing(image_path, parent_path, 0));
}

static int run_op(struct vhd_image *img, const struct op *o)
{
        _cleanup_free_ uint8_t *buf = NULL;

        switch (o->kind) {
        case OP_WRITE:
                buf = malloc(o->len);
                ASSERT_TRUE(buf);
                memset(buf, o->fill, o->len);
                return vhd_image_pwrite(img, buf, o->len, o->off);
        case OP_ZERO:
                return vhd_image_zero(img, o->len, o->off);
        case OP_TRIM:
                return vhd_image_trim(img, o->len, o->off);
        }
        return -EINVAL;
}

static void read_all(uint8_t *out)
{
        struct vc_problems ps = {};
        struct vhd_image *img = NULL;
        int r = vhd_image_open(image_path, 0, &ps, &img);
        if (r < 0)
                TEST_FAIL("reopen failed: %s", ps.first.message);
        ASSERT_OK(vhd_image_pread(img, out, DISK, 0));
        vhd_image_free(img);
}

static void assert_clean(void)
{
        struct vc_problems ps = {};
        int r = vhd_check(image_path, &ps);
        if (r != 0)
                TEST_FAIL("vhd_check after crash: %d, first problem '%s' at %" PRIu64, r,
                          ps.n ? ps.first.message : "-", ps.first.offset);
        vc_problems_done(&ps);
}

/* Runs ops [from, n) on a freshly opened image. */
static void run_ops(const struct scenario *sc, size_t from)
{
        struct vhd_image *img = NULL;

        ASSERT_OK(vhd_image_open(image_path, VHD_OPEN_RDWR, NULL, &img));
        for (size_t i = from; i < sc->n_ops; i++)
                ASSERT_OK(run_op(img, &sc->ops[i]));
        ASSERT_OK(vhd_image_flush(img));
        vhd_image_free(img);
}

static void run_scenario(const struct scenario *sc)
{
        uint8_t *state[MAX_OPS + 1];
        unsigned long first_point[MAX_OPS + 1];
        struct vhd_image *img = NULL;
        uint8_t *now = malloc(DISK);

        ASSERT_TRUE(now);
        make_files(sc);
        /* Dry run: states and the fault points each operation passes. */
        for (size_t i = 0; i <= sc->n_ops; i++) {
                state[i] = malloc(DISK);
                ASSERT_TRUE(state[i]);
        }
        read_all(state[0]);
        ASSERT_OK(vhd_image_open(image_path, VHD_OPEN_RDWR, NULL, &img));
        for (size_t i = 0; i < sc->n_ops; i++) {
                first_point[i] = vc_fault_count();
                ASSERT_OK(run_op(img, &sc->ops[i]));
                ASSERT_OK(vhd_image_pread(img, state[i + 1], DISK, 0));
        }
        first_point[sc->n_ops] = vc_fault_count();
        vhd_image_free(img);

        unsigned long total = first_point[sc->n_ops] - first_point[0];
        ASSERT_TRUE(total > 0);
        for (unsigned long n = 1; n <= total; n++) {
                size_t cut = 0;
                while (first_point[cut + 1] - first_point[0] < n)
                        cut++;
                make_files(sc);
                pid_t pid = fork();
                ASSERT_TRUE(pid >= 0);
                if (pid == 0) {
                        struct vhd_image *c = NULL;
                        vc_fault_arm(vc_fault_count() + n);
                        if (vhd_image_open(image_path, VHD_OPEN_RDWR, NULL, &c) < 0)
                                _exit(1);
                        for (size_t i = 0; i < sc->n_ops; i++)
                                if (run_op(c, &sc->ops[i]) < 0)
                                        _exit(2);
                        _exit(0);       /* the point was never reached: a test bug */
                }
                int status;
                ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
                ASSERT_TRUE(WIFEXITED(status));
                /* Under valgrind: --error-exitcode of tests/meson.build's setup. */
                if (!vc_fault_exited(status, 98))
                        TEST_FAIL("the child's wait status is %#x, not a crash point's", status);

                assert_clean();
                read_all(now);
                bool before = memcmp(now, state[cut], DISK) == 0;
                bool after = memcmp(now, state[cut + 1], DISK) == 0;
                /* An unflushed write cut by a crash may be torn, as on a
                 * real disk, but only at sector granularity: every sector
                 * holds its old or its new contents, never anything else. */
                for (uint64_t o = 0; o < DISK; o += 512)
                        if (memcmp(now + o, state[cut] + o, 512) != 0 &&
                            memcmp(now + o, state[cut + 1] + o, 512) != 0)
                                TEST_FAIL("%s: crash at point %lu (operation %zu): sector at %" PRIu64
                                          " holds neither its old nor its new contents",
                                          sc->name, n, cut, o);
                /* Recovery: do again what was cut and everything after it. */
                run_ops(sc, cut);
                assert_clean();
                read_all(now);
                ASSERT_MEMEQ(now, state[sc->n_ops], DISK);
                printf("  %s: point %2lu in operation %zu: valid, %s, recovered\n", sc->name, n, cut,
                       after ? "new contents" : before ? "old contents" : "torn by sector");
        }
        for (size_t i = 0; i <= sc->n_ops; i++)
                free(state[i]);
        free(now);
        printf("%s: %lu crash points, all safe\n", sc->name, total);
}

int main(void)
{
        static const struct scenario scenarios[] = {
                { "dynamic", false, {
                        { OP_WRITE, 100, 3000, 0xa1 },               /* allocate, partial sectors */
                        { OP_WRITE, 70000, 512, 0xa2 },              /* into the new, full block */
                        { OP_ZERO, 2 * MIB, 2 * MIB, 0 },            /* unallocate block 1 */
                        { OP_WRITE, 6 * MIB + 1000, 2000, 0xa3 },    /* set bits in a partial block */
                        { OP_TRIM, 4 * MIB, 2 * MIB, 0 },            /* unallocate block 2 */
                        { OP_WRITE, 4 * MIB + 1, 1, 0xa4 },          /* allocate it again */
                }, 6 },
                { "differencing", true, {
                        { OP_WRITE, 2 * MIB + 300, 700, 0xb1 },      /* allocate over parent data */
                        { OP_WRITE, 2 * MIB + 5000, 100, 0xb2 },     /* set more bits in it */
                        { OP_WRITE, 0, 4096, 0xb3 },                 /* over an unallocated parent */
                        { OP_ZERO, 4 * MIB + 512, 1024, 0 },         /* zeros hide parent data */
                }, 4 },
        };

        vb_temp_dir(dir);
        vb_path_join(parent_path, dir, "parent.vhd");
        vb_path_join(image_path, dir, "disk.vhd");
        for (size_t i = 0; i < ELEMENTSOF(scenarios); i++)
                run_scenario(&scenarios[i]);
        unlink(parent_path);
        unlink(image_path);
        rmdir(dir);
        return 0;
}
