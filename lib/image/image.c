/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The generic image: the probe loop and the dispatch to a format's table
 * (image.h).  The file is opened here, once, as the open context says,
 * and handed to the chosen format, which validates it; the probe only
 * reads the first sector (of a regular file or block device, never of
 * anything that could block), and a probe that cannot read leaves the verdict
 * to the formats' parsers, so that every message about a file is the
 * parser's, as before the seam.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/fd-util.h"
#include "../util/macro.h"
#include "image.h"
#include "prefetch.h"

extern const struct vc_image_format vc_image_format_vhd;
extern const struct vc_image_format vc_image_format_vhdx;

const struct vc_image_format *const vc_image_formats[] = {
        &vc_image_format_vhd,
        &vc_image_format_vhdx,
        NULL,
};

struct vc_image {
        const struct vc_image_format *fmt;
        void *priv;
        char *path;
        bool readonly;
        struct vc_prefetch prefetch;
        uint64_t hints;                 /* atomic */
};

#define PROBE_BYTES 512

/* The format for the file on fd (never NULL: see image.h on low scores). */
static const struct vc_image_format *probe(int fd)
{
        uint8_t head[PROBE_BYTES];
        const struct vc_image_format *best = vc_image_formats[0];
        struct stat st;
        size_t len = 0;
        int score = -1;

        /* Only a file or a block device is read: a descriptor handed in
         * may be anything (a FIFO, a terminal), and reading one could
         * block; the format's open refuses it. */
        bool readable = fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode));
        ssize_t n = readable ? pread(fd, head, sizeof head, 0) : -1;
        if (n > 0)
                len = (size_t) n;
        uint64_t size = readable ? (uint64_t) st.st_size : 0;
        for (size_t i = 0; vc_image_formats[i]; i++) {
                int s = vc_image_formats[i]->probe(head, len, size);
                if (s > score) {
                        score = s;
                        best = vc_image_formats[i];
                }
        }
        return best;
}

/* The image's descriptor, of our own: the caller's duplicated, or opened by name. */
static int open_fd(const char *path, const struct vc_open_ctx *ctx, bool rdwr)
{
        int fd;

        if (!ctx || ctx->fd == VC_BY_NAME)
                return vc_open_path(ctx, path, rdwr);
        if (!path)
                return -EINVAL;
        if (ctx->fd < 0)
                return -EBADF;
        fd = fcntl(ctx->fd, F_DUPFD_CLOEXEC, 3);
        return fd < 0 ? -errno : fd;
}

/* The image itself named something that is no file or block device. */
static int not_a_file(struct vc_problems *problems, int r)
{
        return vc_problem_add(problems, VC_PROBLEM_NOT_SUPPORTED, r, NULL, 0,
                              "not a regular file or block device (a folder, FIFO, socket or character device)");
}

/*
 * Finishing on open (finish-tail.c).  Once the file was cut, the format's
 * state (sizes, where it appends) describes the longer file: the image is
 * opened again, and validated again, on a duplicate of its descriptor,
 * which shares the open file description and with it the exclusive OFD
 * lock, so that the lock is never let go in between.  On failure img->priv
 * may be NULL (every format's close takes NULL).
 */
static int finish_tail(struct vc_image *img, const char *path, const struct vc_open_ctx *ctx, unsigned flags,
                       struct vc_problems *problems)
{
        void *priv = NULL;
        int r, fd;

        r = vc_image_finish_tail(img, problems);
        if (r <= 0)
                return r;
        fd = fcntl(vc_image_fd(img), F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return -errno;
        /* Closed first, so that whatever it writes on closing (a VHDX's
         * headers, when they differ) is what the new state is read from. */
        img->fmt->close(img->priv);
        img->priv = NULL;
        r = img->fmt->open(fd, path, ctx, flags, problems, &priv);
        if (r < 0)
                return r;
        img->priv = priv;
        return 0;
}

int vc_image_open(const char *path, const struct vc_open_ctx *ctx, unsigned flags, struct vc_problems *problems,
                  struct vc_image **ret)
{
        _cleanup_free_ struct vc_image *img = calloc(1, sizeof *img);
        int fd, r;

        if (!img)
                return -ENOMEM;
        fd = open_fd(path, ctx, flags & VC_OPEN_RDWR);
        if (fd == -EBADFD)
                return not_a_file(problems, fd);
        if (fd < 0)
                return fd;
        img->path = strdup(path);
        if (!img->path) {
                close(fd);
                return -ENOMEM;
        }
        img->fmt = probe(fd);
        img->readonly = !(flags & VC_OPEN_RDWR);
        r = img->fmt->open(fd, path, ctx, flags, problems, &img->priv);
        if (r < 0) {
                free(img->path);
                return r;
        }
        if ((flags & VC_OPEN_RDWR) && !(flags & (VC_OPEN_NOLOCK | VC_OPEN_NOFINISH))) {
                r = finish_tail(img, path, ctx, flags, problems);
                if (r < 0) {
                        img->fmt->close(img->priv);
                        free(img->path);
                        return r;
                }
        }
        vc_prefetch_init(&img->prefetch);
        *ret = TAKE_PTR(img);
        return 0;
}

struct vc_image *vc_image_free(struct vc_image *img)
{
        if (!img)
                return NULL;
        img->fmt->close(img->priv);
        vc_prefetch_done(&img->prefetch);
        free(img->path);
        free(img);
        return NULL;
}

int vc_image_check(const char *path, const struct vc_open_ctx *ctx, struct vc_problems *problems)
{
        int fd = open_fd(path, ctx, false);

        if (fd == -EBADFD) {
                /* A problem found, as the formats' checks report one. */
                problems->collect = true;
                not_a_file(problems, fd);
                return problems->oom ? -ENOMEM : 1;
        }
        if (fd < 0)
                return fd;
        return probe(fd)->check(fd, path, ctx, problems);
}

const struct vc_image_format *vc_image_format(const struct vc_image *img) { return img->fmt; }
void *vc_image_priv(const struct vc_image *img) { return img->priv; }
const char *vc_image_path(const struct vc_image *img) { return img->path; }
int vc_image_fd(const struct vc_image *img) { return img->fmt->fd(img->priv); }
bool vc_image_is_readonly(const struct vc_image *img) { return img->readonly; }

int vc_image_pread(struct vc_image *img, void *buf, size_t count, uint64_t offset)
{
        uint64_t from, len;
        int r = img->fmt->pread(img->priv, buf, count, offset);

        if (r < 0 || !img->fmt->willneed)
                return r;
        if (vc_prefetch_note(&img->prefetch, offset, count, img->fmt->virtual_size(img->priv), &from, &len))
                __atomic_add_fetch(&img->hints, img->fmt->willneed(img->priv, from, len), __ATOMIC_RELAXED);
        return r;
}

uint64_t vc_image_prefetch_hints(const struct vc_image *img)
{
        return __atomic_load_n(&img->hints, __ATOMIC_RELAXED);
}

int vc_image_pwrite(struct vc_image *img, const void *buf, size_t count, uint64_t offset)
{
        return img->fmt->pwrite(img->priv, buf, count, offset);
}

int vc_image_zero(struct vc_image *img, size_t count, uint64_t offset)
{
        return img->fmt->zero(img->priv, count, offset);
}

int vc_image_trim(struct vc_image *img, size_t count, uint64_t offset)
{
        return img->fmt->trim(img->priv, count, offset);
}

int vc_image_flush(struct vc_image *img)
{
        return img->fmt->flush(img->priv);
}

int vc_image_extents(struct vc_image *img, uint64_t offset, uint64_t count, vc_extent_fn f, void *userdata)
{
        return img->fmt->extents(img->priv, offset, count, f, userdata);
}

uint64_t vc_image_virtual_size(const struct vc_image *img) { return img->fmt->virtual_size(img->priv); }
uint64_t vc_image_file_size(const struct vc_image *img) { return img->fmt->file_size(img->priv); }
uint32_t vc_image_logical_sector_size(const struct vc_image *img) { return img->fmt->logical_sector_size(img->priv); }
uint32_t vc_image_n_blocks(const struct vc_image *img) { return img->fmt->n_blocks(img->priv); }
uint32_t vc_image_block_size(const struct vc_image *img) { return img->fmt->block_size(img->priv); }
uint64_t vc_image_block_file_bytes(const struct vc_image *img) { return img->fmt->block_file_bytes(img->priv); }
const char *vc_image_kind(const struct vc_image *img) { return img->fmt->kind(img->priv); }

bool vc_image_block_allocated(const struct vc_image *img, uint32_t block)
{
        return img->fmt->block_allocated(img->priv, block);
}

uint32_t vc_image_blocks_allocated(const struct vc_image *img)
{
        return img->fmt->blocks_allocated(img->priv);
}

void vc_image_describe(const struct vc_image *img, const struct vc_describe *d)
{
        img->fmt->describe(img->priv, d);
}
