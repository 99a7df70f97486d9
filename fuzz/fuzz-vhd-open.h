/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Opening fuzz input as a VHD, shared by fuzz-vhd and fuzz-plan: the bytes
 * (checksums recomputed) go into a memfd opened with vhd_image_open_fd(),
 * and the parent of a differencing input is the fixed image of
 * fuzz-vhd-parent.h, served by the opener of its open context.
 */
#pragma once

#include <fcntl.h>

#include "fuzz-common.h"
#include "image/image.h"
#include "fuzz-vhd-parent.h"

static int fuzz_parent_fd = -1;

static int fuzz_opener(const char *path, bool rdwr, void *userdata)
{
        int fd;

        if (rdwr)
                return -EACCES;
        fd = fcntl(fuzz_parent_fd, F_DUPFD_CLOEXEC, 3);
        return fd < 0 ? -errno : fd;
}

static void fuzz_vhd_init(void)
{
        struct vb_image *p;

        if (fuzz_parent_fd >= 0)
                return;
        p = fuzz_vhd_parent();
        fuzz_parent_fd = fuzz_memfd("parent", p->buf, p->len);
        vb_free(p);
        if (fuzz_parent_fd < 0)
                abort();
}

/* Opens @data (copied, checksums fixed) as an image; < 0 when refused.
 * With @ret_bytes, the bytes as opened are handed back (free() them). */
static int fuzz_vhd_open_bytes(const uint8_t *data, size_t size, bool collect, struct vhd_image **ret,
                               uint8_t **ret_bytes)
{
        struct vc_problems ps = { .collect = collect };
        uint8_t *copy;
        int fd, r;

        fuzz_vhd_init();
        copy = malloc(size ? size : 1);
        if (!copy)
                return -ENOMEM;
        memcpy(copy, data, size);
        fuzz_vhd_fix_checksums(copy, size);
        fd = fuzz_memfd("child", copy, size);
        if (ret_bytes)
                *ret_bytes = copy;
        else
                free(copy);
        if (fd < 0)
                return fd;
        const struct vc_open_ctx ctx = { .opener = fuzz_opener, .fd = fd, .dir_fd = VC_BY_NAME };
        r = vhd_image_open_ctx(FUZZ_CHILD_PATH, &ctx, VHD_OPEN_NOLOCK, &ps, ret);
        close(fd);
        /* A refusal always says why. */
        FUZZ_CHECK(r >= 0 || r == -ENOMEM || vc_problems_any(&ps));
        vc_problems_done(&ps);
        return r;
}

/* The same, as a generic image (image/image.h), for fuzz-plan. */
static inline int fuzz_image_open(const uint8_t *data, size_t size, struct vc_image **ret)
{
        struct vc_problems ps = {};
        uint8_t *copy;
        int fd, r;

        fuzz_vhd_init();
        copy = malloc(size ? size : 1);
        if (!copy)
                return -ENOMEM;
        memcpy(copy, data, size);
        fuzz_vhd_fix_checksums(copy, size);
        fd = fuzz_memfd("child", copy, size);
        free(copy);
        if (fd < 0)
                return fd;
        const struct vc_open_ctx ctx = { .opener = fuzz_opener, .fd = fd, .dir_fd = VC_BY_NAME };
        r = vc_image_open(FUZZ_CHILD_PATH, &ctx, VC_OPEN_NOLOCK, &ps, ret);
        close(fd);
        FUZZ_CHECK(r >= 0 || r == -ENOMEM || vc_problems_any(&ps));
        vc_problems_done(&ps);
        return r;
}

static inline int fuzz_vhd_open(const uint8_t *data, size_t size, bool collect, struct vhd_image **ret)
{
        return fuzz_vhd_open_bytes(data, size, collect, ret, NULL);
}
