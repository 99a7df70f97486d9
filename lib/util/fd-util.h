/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * File-descriptor helpers: full-length positional I/O that retries short
 * transfers and EINTR, and OFD locks that say "this image is in use".
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Read exactly n bytes at off.  Returns 0, -EIO on premature EOF, or -errno. */
int pread_full(int fd, void *buf, size_t n, uint64_t off);
/* Write exactly n bytes at off.  Returns 0 or -errno. */
int pwrite_full(int fd, const void *buf, size_t n, uint64_t off);

/*
 * Takes a whole-file OFD lock without waiting: shared when !exclusive.
 * Returns 0, -EBUSY when another open file description holds a conflicting
 * lock (qemu and other vhdcompact processes lock their images), or -errno.
 */
int fd_lock_ofd(int fd, bool exclusive);
