/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * File-descriptor helpers: full-length positional I/O that retries short
 * transfers and EINTR, OFD locks that say "this image is in use", and
 * opening a file by name without letting its type bite: a FIFO blocks
 * open(2) until a writer comes, and a device's open has side effects;
 * and making a new file that appears whole or not at all.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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

/*
 * Opens path (symlinks followed) with flags (O_RDONLY or O_RDWR, plus
 * O_CLOEXEC|O_NOCTTY always) only if it is a regular file, or also a block
 * device with allow_blk.  The name is first opened O_PATH, which reaches
 * the inode without running any driver's or FIFO's open, and its type is
 * checked before the real open, made through /proc/self/fd so that it
 * reaches the same inode (or, with no /proc, by name with O_NONBLOCK and
 * checked again).  The descriptor returned is blocking.  Returns it, or
 * -EBADFD when the file is of another type, or -errno.
 */
int fd_open_regular(const char *path, int flags, bool allow_blk);

/* The name the kernel has for what fd refers to (its /proc/self/fd link),
 * in buf.  Returns 0; -ENAMETOOLONG; -ENOENT when the file has no name any
 * more (deleted) or is not in the file system tree; or -errno. */
int fd_real_path(int fd, char *buf, size_t size);

/*
 * Makes a new file at path, whole or not at all: fill() writes a temporary
 * file in path's folder ("PATH.tmp-XXXXXX", so on the same file system),
 * which then gets mode, is fsync'ed and linked to path (link(2) refuses an
 * existing name where rename(2) would replace it: nothing is ever
 * replaced); the temporary name is removed and the folder fsync'ed (best
 * effort: the file is in place by then).  fill() returns 0 or a negative
 * errno, which is returned.  On any failure path is untouched and the
 * temporary file removed; only a crash can leave one behind, never a
 * half-written file under path.  Returns 0, -EEXIST when path exists,
 * -ENAMETOOLONG, or -errno.
 */
int fd_create_new_file(const char *path, mode_t mode, int (*fill)(int fd, void *userdata), void *userdata);
