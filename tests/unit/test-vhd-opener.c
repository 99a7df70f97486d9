/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The open context (lib/image/open.h) and vhd_image_open_fd(): opening an
 * image from a descriptor, and every open by name going through the
 * opener of the image's context when it has one (what the daemon's
 * sandboxed worker relies on), on images from the builder.
 *
 *   - an image opened from a descriptor reads like one opened by name; it
 *     keeps its own O_CLOEXEC copy (>= 3), and the caller's stays open;
 *   - a read-only descriptor is refused for read-write use (-EBADF), as are
 *     a closed descriptor and a missing path;
 *   - with a hook, the parent is asked for by the path its locator gives;
 *     "no such file" moves on to the next candidate (the parent name
 *     beside the child), any other refusal is the parent's problem
 *     (parent-not-found, naming the path and the errno); a file that is not
 *     the parent is a parent-mismatch; the top image by name goes through
 *     the hook too, with the access asked;
 *   - an image opened without that context uses open(2), whatever other
 *     images' contexts say.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "tests.h"
#include "vhd-builder.h"
#include "vhd/vhd.h"

#define KiB 1024ull
#define BS (64 * KiB)
#define VSIZE (16 * BS)
#define MAX_CALLS 8

static char dir[VB_PATH_MAX], par_path[VB_PATH_MAX], child_path[VB_PATH_MAX],
        lost_child_path[VB_PATH_MAX], other_path[VB_PATH_MAX];

/* What the hook was asked, and how it answers. */
static struct {
        unsigned n;
        char path[MAX_CALLS][VB_PATH_MAX];
        bool rdwr[MAX_CALLS];
        int deny;               /* errno to answer with, 0: open the file */
        const char *substitute; /* open this file instead of the one asked */
} calls;

static int hook(const char *path, bool rdwr, void *userdata)
{
        int fd;

        ASSERT_TRUE(userdata == &calls);
        ASSERT_TRUE(calls.n < MAX_CALLS);
        snprintf(calls.path[calls.n], VB_PATH_MAX, "%s", path);
        calls.rdwr[calls.n++] = rdwr;
        if (calls.deny)
                return -calls.deny;
        fd = open(calls.substitute ? calls.substitute : path, (rdwr ? O_RDWR : O_RDONLY) | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

static void reset_hook(int deny, const char *substitute)
{
        calls.n = 0;
        calls.deny = deny;
        calls.substitute = substitute;
}

/* Opens through an open context with the hook: by name, or from fd. */
static int open_hooked(const char *path, unsigned flags, struct vc_problems *ps, struct vhd_image **ret)
{
        const struct vc_open_ctx ctx = { .opener = hook, .userdata = &calls, .fd = VC_BY_NAME, .dir_fd = VC_BY_NAME };
        return vhd_image_open_ctx(path, &ctx, flags, ps, ret);
}

static int open_fd_hooked(int fd, const char *path, unsigned flags, struct vc_problems *ps, struct vhd_image **ret)
{
        const struct vc_open_ctx ctx = { .opener = hook, .userdata = &calls, .fd = fd, .dir_fd = VC_BY_NAME };
        return vhd_image_open_ctx(path, &ctx, flags, ps, ret);
}

/* The whole merged view of an image. */
static uint8_t *read_all(struct vhd_image *img)
{
        uint8_t *buf = malloc(VSIZE);

        ASSERT_TRUE(buf != NULL);
        ASSERT_OK(vhd_image_pread(img, buf, VSIZE, 0));
        return buf;
}

static void make_images(void)
{
        _cleanup_vb_ struct vb_image *par = vb_dynamic(VSIZE, BS, VHD_TYPE_DYNAMIC);
        _cleanup_vb_ struct vb_image *child = vb_dynamic(VSIZE, BS, VHD_TYPE_DIFFERENCING);
        _cleanup_vb_ struct vb_image *lost = vb_dynamic(VSIZE, BS, VHD_TYPE_DIFFERENCING);
        _cleanup_vb_ struct vb_image *other = vb_dynamic(VSIZE, BS, VHD_TYPE_DYNAMIC);
        char nowhere[VB_PATH_MAX];

        vb_temp_dir(dir);
        vb_path_join(par_path, dir, "par.vhd");
        vb_path_join(child_path, dir, "child.vhd");
        vb_path_join(lost_child_path, dir, "lost.vhd");
        vb_path_join(other_path, dir, "other.vhd");
        vb_alloc_block(par, 0, 1, VB_BITMAP_FULL);
        vb_alloc_block(par, 3, 2, VB_BITMAP_FULL);
        vb_alloc_block(child, 3, 3, VB_BITMAP_PARTIAL);
        vb_set_parent(child, par, par_path);
        /* Its locator names a folder that does not exist: only the parent
         * name, looked up beside it, finds par.vhd. */
        vb_path_join(nowhere, dir, "gone/par.vhd");
        vb_alloc_block(lost, 5, 4, VB_BITMAP_FULL);
        vb_set_parent(lost, par, nowhere);
        vb_alloc_block(other, 0, 9, VB_BITMAP_FULL);
        vb_write_file(par, par_path);
        vb_write_file(child, child_path);
        vb_write_file(lost, lost_child_path);
        vb_write_file(other, other_path);
}

static void test_open_fd(void)
{
        struct vc_problems ps = {};
        struct vhd_image *by_name = NULL, *by_fd = NULL;
        int fd = open(child_path, O_RDONLY | O_CLOEXEC);

        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(vhd_image_open(child_path, 0, NULL, &by_name));
        ASSERT_OK(vhd_image_open_fd(fd, child_path, 0, &ps, &by_fd));
        ASSERT_EQ_U64(ps.n, 0);
        ASSERT_STREQ(vhd_image_path(by_fd), child_path);
        ASSERT_TRUE(vhd_image_parent(by_fd) != NULL);
        ASSERT_TRUE(vhd_image_fd(by_fd) != fd && vhd_image_fd(by_fd) >= 3);
        ASSERT_TRUE(fcntl(vhd_image_fd(by_fd), F_GETFD) & FD_CLOEXEC);
        _cleanup_free_ uint8_t *a = read_all(by_name), *b = read_all(by_fd);
        ASSERT_MEMEQ(a, b, VSIZE);
        vhd_image_free(by_fd);
        vhd_image_free(by_name);
        /* The caller's descriptor is still the caller's. */
        ASSERT_TRUE(fcntl(fd, F_GETFD) >= 0);

        /* Read-only descriptor, read-write use. */
        by_fd = NULL;
        ASSERT_EQ_INT(vhd_image_open_fd(fd, child_path, VHD_OPEN_RDWR, &ps, &by_fd), -EBADF);
        ASSERT_EQ_U64(ps.n, 0);
        ASSERT_TRUE(by_fd == NULL);
        ASSERT_EQ_INT(vhd_image_open_fd(fd, NULL, 0, &ps, &by_fd), -EINVAL);
        close(fd);
        ASSERT_EQ_INT(vhd_image_open_fd(fd, child_path, 0, &ps, &by_fd), -EBADF);
        ASSERT_EQ_INT(vhd_image_open_fd(-1, child_path, 0, &ps, &by_fd), -EBADF);
        ASSERT_TRUE(by_fd == NULL);
}

static void test_hook_parent(void)
{
        struct vhd_image *img = NULL;
        int fd = open(child_path, O_RDWR | O_CLOEXEC);

        ASSERT_TRUE(fd >= 0);
        reset_hook(0, NULL);
        ASSERT_OK(open_fd_hooked(fd, child_path, VHD_OPEN_RDWR, NULL, &img));
        /* The locator and the parent name beside the child agree: one ask,
         * read-only, though the child is open read-write. */
        ASSERT_EQ_U64(calls.n, 1);
        ASSERT_STREQ(calls.path[0], par_path);
        ASSERT_TRUE(!calls.rdwr[0]);
        ASSERT_STREQ(vhd_image_path(vhd_image_parent(img)), par_path);
        vhd_image_free(img);
        close(fd);
}

static void test_hook_next_candidate(void)
{
        struct vhd_image *img = NULL;
        char gone[VB_PATH_MAX];

        vb_path_join(gone, dir, "gone/par.vhd");
        reset_hook(0, NULL);
        ASSERT_OK(open_hooked(lost_child_path, 0, NULL, &img));
        /* The child itself by name, then its locator (no such file), then
         * the parent name beside it. */
        ASSERT_EQ_U64(calls.n, 3);
        ASSERT_STREQ(calls.path[0], lost_child_path);
        ASSERT_STREQ(calls.path[1], gone);
        ASSERT_STREQ(calls.path[2], par_path);
        ASSERT_STREQ(vhd_image_path(vhd_image_parent(img)), par_path);
        vhd_image_free(img);
}

static void test_hook_denied(void)
{
        struct vc_problems ps = {};
        struct vhd_image *img = NULL;
        int fd = open(child_path, O_RDONLY | O_CLOEXEC);

        ASSERT_TRUE(fd >= 0);
        reset_hook(EACCES, NULL);
        ASSERT_EQ_INT(open_fd_hooked(fd, child_path, 0, &ps, &img), -EACCES);
        ASSERT_TRUE(img == NULL);
        /* Asked once: a refusal is not "try the next candidate". */
        ASSERT_EQ_U64(calls.n, 1);
        ASSERT_EQ_U64(ps.n, 1);
        ASSERT_EQ_INT(ps.first.id, VC_PROBLEM_PARENT_NOT_FOUND);
        ASSERT_TRUE(strstr(ps.first.message, par_path) != NULL);
        ASSERT_TRUE(strstr(ps.first.message, strerror(EACCES)) != NULL);

        /* The top image by name goes through the hook, with its access. */
        reset_hook(EPERM, NULL);
        ps = (struct vc_problems) {};
        ASSERT_EQ_INT(open_hooked(child_path, VHD_OPEN_RDWR, &ps, &img), -EPERM);
        ASSERT_EQ_U64(calls.n, 1);
        ASSERT_STREQ(calls.path[0], child_path);
        ASSERT_TRUE(calls.rdwr[0]);
        ASSERT_EQ_U64(ps.n, 0);
        close(fd);
}

static void test_hook_wrong_file(void)
{
        struct vc_problems ps = {};
        struct vhd_image *img = NULL;
        int fd = open(child_path, O_RDONLY | O_CLOEXEC);

        ASSERT_TRUE(fd >= 0);
        /* Whatever the hook hands over must still be the parent. */
        reset_hook(0, other_path);
        ASSERT_EQ_INT(open_fd_hooked(fd, child_path, 0, &ps, &img), -EBADMSG);
        ASSERT_EQ_INT(ps.first.id, VC_PROBLEM_PARENT_MISMATCH);
        close(fd);
}

static void test_no_hook(void)
{
        struct vhd_image *img = NULL;

        /* An image opened without the context never sees its opener. */
        reset_hook(EACCES, NULL);
        ASSERT_OK(vhd_image_open(child_path, 0, NULL, &img));
        ASSERT_EQ_U64(calls.n, 0);
        ASSERT_TRUE(vhd_image_parent(img) != NULL);
        vhd_image_free(img);
}

int main(void)
{
        make_images();
        test_open_fd();
        test_hook_parent();
        test_hook_next_candidate();
        test_hook_denied();
        test_hook_wrong_file();
        test_no_hook();
        vb_remove_dir(dir);
        printf("ok\n");
        return 0;
}
