/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `vhdctl check`: the same validation as open, in collect mode, so that a
 * damaged image shows every problem at once instead of the first.  The
 * image is opened read-only without a lock: checking a disk a VM is using
 * is allowed (its answer may then be stale, as with qemu-img check).
 */
#include "image-internal.h"

static int verdict(int r, struct vc_problems *problems)
{
        if (problems->oom)
                return -ENOMEM;
        if (r < 0 && !vc_problems_any(problems))
                return r;       /* cannot open at all: ENOENT, EACCES, ... */
        return vc_problems_any(problems) ? 1 : 0;
}

int vhd_check(const char *path, struct vc_problems *problems)
{
        _cleanup_(vhd_image_freep) struct vhd_image *img = NULL;

        problems->collect = true;
        return verdict(vhd_image_open(path, VHD_OPEN_NOLOCK, problems, &img), problems);
}

int vhd_check_fd(int fd, const char *path, const struct vc_open_ctx *ctx, struct vc_problems *problems)
{
        _cleanup_(vhd_image_freep) struct vhd_image *img = NULL;

        problems->collect = true;
        return verdict(vhd_image_open_fd_depth(fd, path, ctx, VHD_OPEN_NOLOCK, 0, NULL, problems, &img),
                       problems);
}
