/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The safe opening of files by compact_run() and lib/vhd, and the
 * differencing-child safety rule (lib/compact/compact.c), on images from
 * the builder.  Every case would otherwise lose data or hang:
 *
 *   - a descriptor open O_RDWR|O_APPEND is refused (access-denied) before
 *     anything is written; the file is byte-identical and the descriptor
 *     keeps its flags;
 *   - the parent reached through a symlink in another folder: the child
 *     beside the real file is found, so modes full and fs are refused
 *     (not-supported, naming the child), zero is allowed;
 *   - a disk with two names (a hard link) refuses full/fs drops unless
 *     force-children;
 *   - the search fails closed: no folder descriptor (an open context with dir_fd -1),
 *     or a candidate the opener refuses, refuses full/fs; a candidate that
 *     is certainly not a disk (-EBADFD from the opener) is passed over;
 *   - a FIFO named zz.vhd beside a disk, and a parent locator naming a
 *     FIFO, do not block (an alarm fails the test if they do): the FIFO is
 *     passed over, the parent is parent-not-found;
 *   - a candidate our parser refuses but whose footer says differencing
 *     (a child with a damaged header) refuses full/fs; a damaged dynamic
 *     disk or a text file named .vhd does not.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compact/compact.h"
#include "tests.h"
#include "vhd-builder.h"
#include "vhd/vhd.h"

#define KiB 1024ull
#define BS (64 * KiB)
#define VSIZE (16 * BS)

static char dir_a[VB_PATH_MAX], dir_b[VB_PATH_MAX], par[VB_PATH_MAX], child[VB_PATH_MAX];

/* A dynamic disk worth compacting in zero mode: block 2 is allocated and
 * zero, block 5 is data at the end of the file (it moves). */
static struct vb_image *make_parent(void)
{
        struct vb_image *p = vb_dynamic(VSIZE, BS, VHD_TYPE_DYNAMIC);

        vb_alloc_block(p, 0, 1, VB_BITMAP_FULL);
        vb_alloc_block(p, 2, 2, VB_BITMAP_FULL);
        memset(vb_block_data(p, 2), 0, BS);
        vb_alloc_block(p, 5, 3, VB_BITMAP_FULL);
        return p;
}

static void assert_same_file(const char *path, const uint8_t *before, size_t len)
{
        size_t n;
        uint8_t *now = vb_read_file(path, &n);

        ASSERT_EQ_U64(n, len);
        ASSERT_MEMEQ(now, before, len);
        free(now);
}

static int run(const char *path, const struct compact_opts *o, struct vc_problems *ps)
{
        struct compact_report rep;

        *ps = (struct vc_problems) {};
        return compact_run(path, o, &rep, ps);
}

static void assert_refused(int r, const struct vc_problems *ps, enum vc_problem_id id, const char *needle)
{
        ASSERT_TRUE(r < 0);
        ASSERT_TRUE(vc_problems_any(ps));
        if ((int) ps->first.id != (int) id || !strstr(ps->first.message, needle))
                TEST_FAIL("problem %s '%s', expected %s naming '%s'", vc_problem_id_to_string(ps->first.id),
                          ps->first.message, vc_problem_id_to_string(id), needle);
        printf("  refused: %s: %s\n", vc_problem_id_to_string(ps->first.id), ps->first.message);
}

static void test_append_fd(void)
{
        _cleanup_vb_ struct vb_image *p = make_parent();
        char path[VB_PATH_MAX];
        struct vc_problems ps;
        size_t len;

        printf("O_APPEND descriptor\n");
        vb_path_join(path, dir_b, "append.vhd");
        vb_write_file(p, path);
        uint8_t *before = vb_read_file(path, &len);
        int fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        struct vc_open_ctx ctx = { .fd = fd, .dir_fd = VC_BY_NAME };
        struct compact_opts o = { .mode = COMPACT_MODE_ZERO, .open = &ctx, .in_process = true };
        assert_refused(run(path, &o, &ps), &ps, VC_PROBLEM_ACCESS_DENIED, "O_APPEND");
        assert_same_file(path, before, len);
        ASSERT_TRUE(fcntl(fd, F_GETFL) & O_APPEND);
        /* A dry run only reads: allowed. */
        o.dry_run = true;
        ASSERT_OK(run(path, &o, &ps));
        close(fd);
        /* The same file through a plain read-write descriptor compacts. */
        fd = open(path, O_RDWR | O_CLOEXEC);
        ctx.fd = fd;
        o.dry_run = false;
        ASSERT_OK(run(path, &o, &ps));
        size_t after;
        free(vb_read_file(path, &after));
        ASSERT_TRUE(after < len);
        close(fd);
        free(before);
}

static void test_symlink_elsewhere(void)
{
        char link[VB_PATH_MAX];
        struct vc_problems ps;
        size_t len;

        printf("symlink to a parent in another folder\n");
        vb_path_join(link, dir_b, "link.vhd");
        ASSERT_OK(symlink(par, link));
        uint8_t *before = vb_read_file(par, &len);
        for (int m = COMPACT_MODE_FULL; m <= COMPACT_MODE_FS; m++) {
                struct compact_opts o = { .mode = m, .in_process = true };
                assert_refused(run(link, &o, &ps), &ps, VC_PROBLEM_HAS_CHILDREN, child);
                assert_same_file(par, before, len);
        }
        /* A descriptor of the link's target, named by the link: the same. */
        int fd = open(link, O_RDWR | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        const struct vc_open_ctx ctx = { .fd = fd, .dir_fd = VC_BY_NAME };
        struct compact_opts o = { .mode = COMPACT_MODE_FS, .open = &ctx, .in_process = true };
        assert_refused(run(link, &o, &ps), &ps, VC_PROBLEM_HAS_CHILDREN, child);
        close(fd);
        /* Zero drops are content-neutral: allowed. */
        o = (struct compact_opts) { .mode = COMPACT_MODE_ZERO, .dry_run = true, .in_process = true };
        ASSERT_OK(run(link, &o, &ps));
        ASSERT_OK(unlink(link));
        free(before);
}

static void test_hard_link(void)
{
        _cleanup_vb_ struct vb_image *p = make_parent();
        char path[VB_PATH_MAX], other[VB_PATH_MAX];
        struct vc_problems ps;
        size_t len;

        printf("hard link\n");
        vb_path_join(path, dir_b, "hard.vhd");
        vb_path_join(other, dir_a, "hard-other-name.img");
        vb_write_file(p, path);
        ASSERT_OK(link(path, other));
        uint8_t *before = vb_read_file(path, &len);
        struct compact_opts o = { .mode = COMPACT_MODE_FULL, .in_process = true };
        assert_refused(run(path, &o, &ps), &ps, VC_PROBLEM_NOT_SUPPORTED, "hard links");
        assert_same_file(path, before, len);
        o.force_children = true;
        o.dry_run = true;
        ASSERT_OK(run(path, &o, &ps));
        o = (struct compact_opts) { .mode = COMPACT_MODE_ZERO, .dry_run = true, .in_process = true };
        ASSERT_OK(run(path, &o, &ps));
        ASSERT_OK(unlink(other));
        /* One name again: allowed. */
        o = (struct compact_opts) { .mode = COMPACT_MODE_FULL, .dry_run = true, .in_process = true };
        ASSERT_OK(run(path, &o, &ps));
        free(before);
}

static int refuse_answer;

static int hook(const char *path, bool rdwr, void *userdata)
{
        const char *base = strrchr(path, '/');

        (void) userdata;
        if (base && !strcmp(base, "/zz.vhd"))
                return -refuse_answer;
        int fd = open(path, (rdwr ? O_RDWR : O_RDONLY) | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

static void test_fail_closed(void)
{
        _cleanup_vb_ struct vb_image *p = make_parent();
        char path[VB_PATH_MAX], zz[VB_PATH_MAX];
        struct vc_problems ps;

        printf("the search fails closed\n");
        vb_path_join(path, dir_b, "lonely.vhd");
        vb_path_join(zz, dir_b, "zz.vhd");
        vb_write_file(p, path);
        vb_write_file(p, zz);
        int fd = open(path, O_RDWR | O_CLOEXEC), dfd = open(dir_b, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0 && dfd >= 0);
        /* No folder to search. */
        struct vc_open_ctx ctx = { .fd = fd, .dir_fd = -1 };
        struct compact_opts o = { .mode = COMPACT_MODE_FS, .dry_run = true, .open = &ctx, .in_process = true };
        assert_refused(run(path, &o, &ps), &ps, VC_PROBLEM_NOT_SUPPORTED, dir_b);
        o.mode = COMPACT_MODE_ZERO;
        ASSERT_OK(run(path, &o, &ps));
        o.mode = COMPACT_MODE_FULL;
        o.force_children = true;
        ASSERT_OK(run(path, &o, &ps));
        /* A candidate that cannot be read. */
        ctx = (struct vc_open_ctx) { .fd = fd, .dir_fd = dfd };
        o = (struct compact_opts) { .mode = COMPACT_MODE_FULL, .dry_run = true, .open = &ctx, .in_process = true };
        ASSERT_OK(run(path, &o, &ps));
        ctx.opener = hook;
        refuse_answer = EACCES;
        assert_refused(run(path, &o, &ps), &ps, VC_PROBLEM_NOT_SUPPORTED, zz);
        refuse_answer = EPERM;
        assert_refused(run(path, &o, &ps), &ps, VC_PROBLEM_NOT_SUPPORTED, zz);
        /* Certainly not a disk (a FIFO, say): passed over. */
        refuse_answer = EBADFD;
        ASSERT_OK(run(path, &o, &ps));
        ctx.opener = NULL;
        ASSERT_OK(unlink(zz));
        close(fd);
        close(dfd);
}

static void test_fifos(void)
{
        _cleanup_vb_ struct vb_image *p = make_parent();
        _cleanup_vb_ struct vb_image *c = vb_dynamic(VSIZE, BS, VHD_TYPE_DIFFERENCING);
        char path[VB_PATH_MAX], fifo[VB_PATH_MAX], orphan[VB_PATH_MAX], pfifo[VB_PATH_MAX];
        struct vhd_image *img = NULL;
        struct vc_problems ps = {};

        printf("FIFOs\n");
        vb_path_join(path, dir_b, "beside-fifo.vhd");
        vb_path_join(fifo, dir_b, "zz.vhd");
        vb_write_file(p, path);
        ASSERT_OK(mkfifo(fifo, 0600));
        alarm(60);
        struct compact_opts o = { .mode = COMPACT_MODE_FULL, .dry_run = true, .in_process = true };
        ASSERT_OK(run(path, &o, &ps));
        ASSERT_OK(unlink(fifo));
        /* A parent locator (and the parent name) naming a FIFO. */
        vb_path_join(orphan, dir_b, "orphan.vhd");
        vb_path_join(pfifo, dir_b, "pfifo.vhd");
        vb_set_parent(c, p, pfifo);
        vb_write_file(c, orphan);
        ASSERT_OK(mkfifo(pfifo, 0600));
        ASSERT_TRUE(vhd_image_open(orphan, VHD_OPEN_NOLOCK, &ps, &img) < 0);
        ASSERT_TRUE(vc_problems_any(&ps));
        ASSERT_EQ_INT(ps.first.id, VC_PROBLEM_PARENT_NOT_FOUND);
        ASSERT_TRUE(strstr(ps.first.message, "not a regular file") != NULL);
        printf("  parent: %s\n", ps.first.message);
        alarm(0);
        ASSERT_OK(unlink(pfifo));
        ASSERT_OK(unlink(orphan));
}

/* A candidate our parser refuses: one whose footer says differencing (a
 * child of this disk with a damaged header) may be a child, so full/fs
 * drops are refused naming it; a damaged dynamic disk, or a text file
 * named .vhd, certainly is not, and is passed over. */
static void test_damaged_candidate(void)
{
        _cleanup_vb_ struct vb_image *p = make_parent();
        _cleanup_vb_ struct vb_image *c = vb_dynamic(VSIZE, BS, VHD_TYPE_DIFFERENCING);
        char d[VB_PATH_MAX], path[VB_PATH_MAX], cand[VB_PATH_MAX];
        struct vc_problems ps;
        size_t len;

        printf("damaged candidate\n");
        vb_path_join(d, dir_b, "damaged");
        ASSERT_OK(mkdir(d, 0755));
        vb_path_join(path, d, "base.vhd");
        vb_path_join(cand, d, "kid.vhd");
        vb_write_file(p, path);
        vb_alloc_block(c, 1, 9, VB_BITMAP_PARTIAL);
        vb_set_parent(c, p, path);
        /* The header's checksum no longer matches. */
        vb_header_put_be32(c, VHD_DYN_OFF_VERSION, 0x00020000, VB_KEEP_CHECKSUM);
        vb_write_file(c, cand);
        uint8_t *before = vb_read_file(path, &len);
        for (int m = COMPACT_MODE_FULL; m <= COMPACT_MODE_FS; m++) {
                struct compact_opts o = { .mode = m, .in_process = true };
                assert_refused(run(path, &o, &ps), &ps, VC_PROBLEM_NOT_SUPPORTED, cand);
                assert_same_file(path, before, len);
        }
        struct compact_opts o = { .mode = COMPACT_MODE_ZERO, .dry_run = true, .in_process = true };
        ASSERT_OK(run(path, &o, &ps));
        /* A damaged disk that is not differencing: passed over. */
        _cleanup_vb_ struct vb_image *dyn = make_parent();
        vb_header_put_be32(dyn, VHD_DYN_OFF_VERSION, 0x00020000, VB_KEEP_CHECKSUM);
        ASSERT_OK(unlink(cand));
        vb_write_file(dyn, cand);
        o = (struct compact_opts) { .mode = COMPACT_MODE_FULL, .dry_run = true, .in_process = true };
        ASSERT_OK(run(path, &o, &ps));
        /* Not a VHD at all: passed over. */
        ASSERT_OK(unlink(cand));
        FILE *f = fopen(cand, "w");
        ASSERT_TRUE(f != NULL);
        for (int i = 0; i < 200; i++)
                fputs("not a disk, just text named like one\n", f);
        ASSERT_OK(fclose(f));
        o = (struct compact_opts) { .mode = COMPACT_MODE_FULL, .dry_run = true, .in_process = true };
        ASSERT_OK(run(path, &o, &ps));
        free(before);
}

/* With an argument, only the case of that name (to replay one). */
int main(int argc, char **argv)
{
        _cleanup_vb_ struct vb_image *p = make_parent();
        _cleanup_vb_ struct vb_image *c = vb_dynamic(VSIZE, BS, VHD_TYPE_DIFFERENCING);
        char tmp[VB_PATH_MAX];

        /* A hang is a failure, not a stuck suite. */
        signal(SIGALRM, SIG_DFL);
        vb_temp_dir(tmp);
        vb_path_join(dir_a, tmp, "a");
        vb_path_join(dir_b, tmp, "b");
        ASSERT_OK(mkdir(dir_a, 0755));
        ASSERT_OK(mkdir(dir_b, 0755));
        vb_path_join(par, dir_a, "par.vhd");
        vb_path_join(child, dir_a, "child.vhd");
        vb_alloc_block(c, 1, 7, VB_BITMAP_PARTIAL);
        vb_set_parent(c, p, par);
        vb_write_file(p, par);
        vb_write_file(c, child);

        static const struct {
                const char *name;
                void (*fn)(void);
        } cases[] = {
                { "append", test_append_fd },     { "symlink", test_symlink_elsewhere },
                { "hardlink", test_hard_link },   { "fail-closed", test_fail_closed },
                { "fifos", test_fifos },          { "damaged", test_damaged_candidate },
        };
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
                if (argc < 2 || !strcmp(argv[1], cases[i].name))
                        cases[i].fn();
        vb_remove_dir(tmp);
        printf("ok\n");
        return 0;
}
