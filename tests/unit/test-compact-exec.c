/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The executor on random layouts (tests/lib/layout-case.h), cut at every
 * fault point.  Each layout is a dynamic image whose blocks sit in the file in random order, a random
 * half of them to be dropped.  For every point n a child process runs the
 * executor armed to die at n; the parent then requires that the image
 * validates with no problem, that every kept block reads its own pattern,
 * and that every dropped block reads its old pattern or zeros (both are
 * right: dropped blocks hold nothing anyone needs).  Then it plans and runs
 * again, as a user would, and requires the optimum size and the same
 * contents.  A final case runs uninterrupted with a small queue depth and
 * checks the bytes moved and written.
 *
 * Some layouts are differencing children (of an empty parent) with two
 * parent locators between the BAT and the first block, their data space
 * in bytes as Windows writes it, and the block in the lowest slot dropped:
 * a run interrupted once that release is durable must still finish at the
 * size of an uninterrupted run (issue 12 item 14: the space a locator may
 * take was bounded by the next allocated block, so the released slot
 * stopped counting as free).
 *
 * Half the layouts copy through the page cache, half with direct I/O where
 * the file system tells its alignment (lib/compact/move.c).  Then: that
 * the executor finds the same alignment as statx tells here (0 where none
 * is told, as on tmpfs); that a direct read or write the file system
 * refuses with EINVAL (an injected fault) sends the rest of the run
 * through the page cache to the same end, while through the page cache
 * EINVAL fails the run and leaves a valid image; and short transfers.
 *
 * Last, on an image of 2 MiB blocks, copied through the page cache, a run
 * stopped by its progress callback once every copy landed (the sources
 * then stay in the file, the BAT pointing away from them): fewer than half of the moved blocks'
 * source pages are left in the page cache (move.c drops each source as
 * its copy lands; what may stay is the kernel's folios that straddle a
 * source's ends; without the drop, all stay).  Not asked on tmpfs, whose
 * pages are the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compact/move.h"
#include "compact/plan.h"
#include "layout-case.h"
#include "tests.h"
#include "util/fault.h"
#include "util/macro.h"
#include "vhd-builder.h"
#include "image/image.h"
#include "vhd/vhd.h"

static char dir[VB_PATH_MAX], path[VB_PATH_MAX], parent_path[VB_PATH_MAX];
static struct vb_image *parent;
/* An I/O fault rule (lib/util/fault.h) plan_and_run() sets right before
 * it executes, so that its counts are the executor's alone. */
static const char *exec_fault;


static int stop_when_done(void *userdata, uint64_t done, uint64_t total)
{
        (void) userdata;
        return done == total;
}

/* Plans with drop[] limited to blocks still allocated, and executes
 * (buffered: through the page cache, never direct I/O). */
static int plan_and_run(const struct layout_case *c, struct compact_plan *ret_plan, unsigned qd, bool buffered,
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
        ASSERT_OK(compact_plan_build(&l, drop, ret_plan));
        struct compact_exec_opts o = { .queue_depth = qd, .buffered = buffered };
        if (exec_fault)
                ASSERT_OK(vc_io_fault_set(exec_fault));
        r = compact_execute(img, &l, ret_plan, &o, st);
        if (exec_fault)
                ASSERT_OK(vc_io_fault_set(NULL));
        free(l.at);
        vc_image_free(img);
        return r;
}


/* Pages of [off, off + len) of the file at path in the page cache; only
 * the pages wholly inside (a neighbour may share the others), of which
 * there are *ret_pages. */
static size_t cached_pages(const char *p, uint64_t off, uint64_t len, size_t *ret_pages)
{
        const uint64_t pg = (uint64_t) sysconf(_SC_PAGESIZE);
        uint64_t a = (off + pg - 1) / pg * pg, b = (off + len) / pg * pg;
        size_t n = 0;

        *ret_pages = b > a ? (size_t) ((b - a) / pg) : 0;
        if (b <= a)
                return 0;
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        void *m = mmap(NULL, (size_t) (b - a), PROT_READ, MAP_SHARED, fd, (off_t) a);
        ASSERT_TRUE(m != MAP_FAILED);
        unsigned char vec[(2u << 20) / 4096 + 2];
        ASSERT_TRUE((b - a) / pg <= sizeof vec);
        ASSERT_TRUE(mincore(m, (size_t) (b - a), vec) == 0);
        for (uint64_t i = 0; i < (b - a) / pg; i++)
                n += vec[i] & 1;
        munmap(m, (size_t) (b - a));
        close(fd);
        return n;
}


/* What the executor should find (move.c, "Direct I/O"): the file
 * system's alignment for direct I/O when it tells one that divides the
 * layouts' sectors, else 0. */
static uint32_t direct_alignment_here(const char *p)
{
        struct statx stx;

        ASSERT_TRUE(statx(AT_FDCWD, p, 0, STATX_DIOALIGN, &stx) == 0);
        if (!(stx.stx_mask & STATX_DIOALIGN) || stx.stx_dio_mem_align == 0 || stx.stx_dio_mem_align > 4096 ||
            stx.stx_dio_offset_align == 0 || 512 % stx.stx_dio_offset_align)
                return 0;
        return stx.stx_dio_offset_align;
}

int main(void)
{
        unsigned total_points = 0, cases = 0;
        int r;

        vb_temp_dir(dir);
        vb_path_join(path, dir, "disk.vhd");
        vb_path_join(parent_path, dir, "p.vhd");
        parent = vb_dynamic(64 * (uint64_t) LC_BLOCK_SIZE, LC_BLOCK_SIZE, VHD_TYPE_DYNAMIC);
        vb_write_file(parent, parent_path);
        for (unsigned seed = 1; seed <= 18; seed++) {
                struct layout_case c;
                struct compact_plan plan = {};
                struct compact_exec_stats st;

                lc_make(&c, seed);
                c.diff = seed > 12 && seed <= 18;
                /* Both ways of copying, cut everywhere. */
                bool buffered = seed % 2 == 0;
                if (c.diff)
                        lc_drop_lowest(&c, seed);
                /* Dry count of the points, and the optimum. */
                lc_write(&c, seed, path, parent, parent_path);
                unsigned long p0 = vc_fault_count();
                ASSERT_OK(plan_and_run(&c, &plan, 3, buffered, &st));
                unsigned long points = vc_fault_count() - p0;
                uint64_t optimum = plan.final_size;
                compact_plan_done(&plan);
                ASSERT_EQ_U64(vb_file_size(path), optimum);
                lc_assert_contents(&c, path, true);

                for (unsigned long n = 1; n <= points; n++) {
                        lc_write(&c, seed, path, parent, parent_path);
                        pid_t pid = fork();
                        ASSERT_TRUE(pid >= 0);
                        if (pid == 0) {
                                struct compact_plan p2 = {};
                                struct compact_exec_stats s2;
                                vc_fault_arm(vc_fault_count() + n);
                                plan_and_run(&c, &p2, 3, buffered, &s2);
                                _exit(0);
                        }
                        int status;
                        ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
                        ASSERT_TRUE(WIFEXITED(status));
                        /* Under valgrind: --error-exitcode of tests/meson.build's setup. */
                        if (!vc_fault_exited(status, 98))
                                TEST_FAIL("the child's wait status is %#x, not a crash point's", status);
                        lc_assert_contents(&c, path, false);
                        /* Run again to the end. */
                        ASSERT_OK(plan_and_run(&c, &plan, 3, buffered, &st));
                        compact_plan_done(&plan);
                        ASSERT_EQ_U64(vb_file_size(path), optimum);
                        lc_assert_contents(&c, path, true);
                        total_points++;
                }
                cases++;
                printf("layout %u (%s, %s): %u blocks, %lu crash points, all valid and finished to %" PRIu64
                       " bytes\n", seed, c.diff ? "differencing" : "dynamic",
                       buffered ? "page cache" : "direct I/O where the file system allows", c.n_blocks, points,
                       optimum);
        }

        /* Bytes: each moved block read once and written once, nothing else
         * but the BAT and footer. */
        struct layout_case c;
        struct compact_plan plan = {};
        struct compact_exec_stats st;
        lc_make(&c, 99);
        lc_write(&c, 99, path, parent, parent_path);
        ASSERT_OK(plan_and_run(&c, &plan, 1, false, &st));
        ASSERT_EQ_U64(st.bytes_read, (uint64_t) plan.n_moves * plan.stride);
        ASSERT_EQ_U64(st.bytes_written, (uint64_t) plan.n_moves * plan.stride);
        ASSERT_EQ_U64(st.blocks_moved, plan.n_moves);
        compact_plan_done(&plan);
        lc_assert_contents(&c, path, true);

        /* Direct I/O where the file system tells its alignment and the
         * moves (512-byte sectors) keep it; the page cache when asked. */
        uint32_t dio = direct_alignment_here(path);
        printf("direct I/O alignment of %s: %" PRIu32 "%s\n", dir, dio, dio ? "" : " (none told: page cache only)");
        ASSERT_EQ_U64(st.dio_align, dio);
        ASSERT_EQ_U64(st.direct_fallbacks, 0);
        lc_write(&c, 99, path, parent, parent_path);
        ASSERT_OK(plan_and_run(&c, &plan, 4, true, &st));
        ASSERT_EQ_U64(st.dio_align, 0);
        compact_plan_done(&plan);
        lc_assert_contents(&c, path, true);

        /* A direct read or write the file system refuses (EINVAL, as
         * XFS answers an unaligned one; ext4 does it through the page
         * cache instead): the rest of the run goes through the page
         * cache, that I/O first, to the same end.  Through the page
         * cache throughout, EINVAL is a failure like any other.  And
         * I/O cut short at an unaligned length, which either may do. */
        static const char *const refusals[] = { "read:2:einval", "write:3:einval", "read:2:short",
                                                "write:3:short" };
        for (size_t i = 0; i < ELEMENTSOF(refusals); i++) {
                bool einval = strstr(refusals[i], "einval");
                lc_write(&c, 99, path, parent, parent_path);
                exec_fault = refusals[i];
                r = plan_and_run(&c, &plan, 4, false, &st);
                exec_fault = NULL;
                uint64_t moved = (uint64_t) plan.n_moves * plan.stride;
                compact_plan_done(&plan);
                if (einval && !dio) {
                        ASSERT_EQ_INT(r, -EINVAL);
                        lc_assert_contents(&c, path, false);
                        printf("%s: page cache only, so the run fails, the image valid\n", refusals[i]);
                        continue;
                }
                ASSERT_OK(r);
                ASSERT_EQ_U64(st.bytes_written, moved);
                if (einval)
                        ASSERT_EQ_U64(st.direct_fallbacks, 1);
                lc_assert_contents(&c, path, true);
                printf("%s: finished, %" PRIu32 " refusal(s) of direct I/O\n", refusals[i], st.direct_fallbacks);
        }

        /* Sources out of the page cache once copied: 2 MiB blocks, as
         * most images have (a source smaller than the kernel's folios of
         * it could keep them all), the first four dropped, the last four
         * moved into their places. */
        {
                _cleanup_vb_ struct vb_image *big = vb_dynamic(16 * (uint64_t) (2u << 20), 2u << 20,
                                                               VHD_TYPE_DYNAMIC);
                for (uint32_t b = 0; b < 8; b++)
                        vb_alloc_block(big, b, (uint8_t) (b + 1), VB_BITMAP_FULL);
                vb_write_file(big, path);
                /* Out of the page cache first, as an image not just
                 * written is: the copy's reads then bring its pages in.
                 * (The write of the whole file may have cached them in
                 * folios as large as a block, which straddle the
                 * unaligned sources and cannot be dropped by halves.) */
                int fd = open(path, O_RDWR | O_CLOEXEC);
                ASSERT_TRUE(fd >= 0 && fsync(fd) == 0);
                ASSERT_TRUE(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0);
                close(fd);
                struct vc_image *img = NULL;
                struct compact_layout l;
                uint8_t drop[16] = { 1, 1, 1, 1 };
                lc_open_image(path, VC_OPEN_RDWR, &img);
                ASSERT_OK(compact_layout_from_image(img, &l));
                ASSERT_OK(compact_plan_build(&l, drop, &plan));
                /* Through the page cache: direct reads would not cache
                 * the sources in the first place. */
                struct compact_exec_opts o = { .progress = stop_when_done, .buffered = true };
                ASSERT_EQ_INT(compact_execute(img, &l, &plan, &o, &st), -ECANCELED);
                ASSERT_EQ_U64(plan.n_moves, 4);
                ASSERT_EQ_U64(st.blocks_moved, 4);
                size_t cached = 0, pages = 0;
                for (uint32_t i = 0; i < plan.n_moves; i++) {
                        size_t n;
                        cached += cached_pages(path, plan.moves[i].from, plan.moves[i].len, &n);
                        pages += n;
                }
                struct statfs sf;
                ASSERT_TRUE(statfs(dir, &sf) == 0);
                printf("moved blocks' sources: %zu of their %zu whole pages left in the page cache%s\n", cached,
                       pages, sf.f_type == TMPFS_MAGIC ? " (tmpfs: not asked)" : "");
                /* All but the kernel's folios that straddle a source's
                 * ends (the neighbours' too) are gone. */
                if (sf.f_type != TMPFS_MAGIC)
                        ASSERT_TRUE(cached * 2 < pages);
                compact_plan_done(&plan);
                free(l.at);
                vc_image_free(img);
        }

        unlink(path);
        unlink(parent_path);
        vb_free(parent);
        rmdir(dir);
        printf("%u layouts, %u crash points: all safe\n", cases, total_points);
        return 0;
}
