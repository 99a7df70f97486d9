/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Opening a file by name for a format driver: see open.h. */
#include <fcntl.h>

#include "../util/fd-util.h"
#include "open.h"

int vc_open_path(const struct vc_open_ctx *ctx, const char *path, bool rdwr)
{
        if (ctx && ctx->opener)
                return ctx->opener(path, rdwr, ctx->userdata);
        return fd_open_regular(path, rdwr ? O_RDWR : O_RDONLY, true);
}
