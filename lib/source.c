/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "source.h"
#include "util/fd-util.h"
#include "util/overflow.h"
#include "image/image.h"

int vc_source_pread(struct vc_source *s, void *buf, size_t count, uint64_t offset)
{
        int r;

        if (range_outside(offset, count, s->size))
                return -EIO;
        if (count == 0)
                return 0;
        r = s->pread(s->ctx, buf, count, offset);
        if (r < 0) {
                if (!s->medium_error)
                        s->medium_error = r;
                return r;
        }
        s->bytes_read += count;
        s->reads++;
        return 0;
}

static int memory_pread(void *ctx, void *buf, size_t count, uint64_t offset)
{
        memcpy(buf, (const uint8_t *) ctx + offset, count);
        return 0;
}

void vc_source_memory(struct vc_source *s, const void *buf, size_t size)
{
        *s = (struct vc_source) { .size = size, .pread = memory_pread, .ctx = (void *) buf };
}

static int fd_pread(void *ctx, void *buf, size_t count, uint64_t offset)
{
        return pread_full((int) (intptr_t) ctx, buf, count, offset);
}

int vc_source_fd(struct vc_source *s, int fd)
{
        struct stat st;

        if (fstat(fd, &st) < 0)
                return -errno;
        *s = (struct vc_source) { .size = (uint64_t) st.st_size, .pread = fd_pread,
                                  .ctx = (void *) (intptr_t) fd };
        return 0;
}

static int image_pread(void *ctx, void *buf, size_t count, uint64_t offset)
{
        return vc_image_pread(ctx, buf, count, offset);
}

void vc_source_image(struct vc_source *s, struct vc_image *img)
{
        *s = (struct vc_source) { .size = vc_image_virtual_size(img), .pread = image_pread,
                                  .ctx = img };
}

void vc_source_close(struct vc_source *s)
{
        if (s->close)
                s->close(s->ctx);
        s->close = NULL;
        s->ctx = NULL;
}
