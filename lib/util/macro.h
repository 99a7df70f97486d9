/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Small language helpers used everywhere: scope-bound cleanup, ownership
 * transfer, array sizes and errno-returning wrappers.  Cleanup attributes keep
 * every error path leak-free without goto ladders (see docs/design.md,
 * Conventions, item 4).
 */
#pragma once

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _pure_ __attribute__((pure))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _warn_unused_result_ __attribute__((warn_unused_result))

static inline void freep(void *p) { free(*(void **) p); }
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd)
{
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}
#define _cleanup_close_ _cleanup_(closep)

/* Hand ownership out of a cleanup scope. */
#define TAKE_PTR(p) ({ __typeof__(p) _p = (p); (p) = NULL; _p; })
#define TAKE_FD(fd) ({ int _fd = (fd); (fd) = -1; _fd; })

/* Turn a libc "-1 and errno" result into a negative errno. */
static inline int negative_errno(void) { return errno > 0 ? -errno : -EIO; }
#define RET_NERRNO(expr) ({ long _r = (long) (expr); _r < 0 ? negative_errno() : (int) _r; })

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define DIV_ROUND_UP(x, y) (((x) + (y) - 1) / (y))
#define ROUND_UP(x, y) (DIV_ROUND_UP(x, y) * (y))
#define IS_POWER_OF_2(x) ((x) != 0 && ((x) & ((x) - 1)) == 0)
