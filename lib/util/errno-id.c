/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include "errno-id.h"

const char *vc_errno_problem_id(int err)
{
        switch (err < 0 ? -err : err) {
        case ENOENT: case ENOTDIR: return "file-not-found";
        case EACCES: case EPERM: case EROFS: return "access-denied";
        /* A folder, a device or a FIFO where a disk file was asked for. */
        case EISDIR: case EBADFD: return "not-supported";
        case EBUSY: return "in-use";
        case EIO: case ENOSPC: return "io-error";
        case ECANCELED: return "cancelled";
        default: return "failed";
        }
}
