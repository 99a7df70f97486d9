/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fault.h"
#include "fd-util.h"
#include "macro.h"

int pread_full(int fd, void *buf, size_t n, uint64_t off)
{
        uint8_t *p = buf;

        while (n > 0) {
                size_t len = n;
                int f = vc_io_fault(VC_IO_READ, &len);
                if (f < 0)
                        return f;
                ssize_t r = pread(fd, p, len, (off_t) off);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (r == 0)
                        return -EIO;
                p += r;
                n -= (size_t) r;
                off += (uint64_t) r;
        }
        return 0;
}

int pwrite_full(int fd, const void *buf, size_t n, uint64_t off)
{
        const uint8_t *p = buf;

        while (n > 0) {
                size_t len = n;
                int f = vc_io_fault(VC_IO_WRITE, &len);
                if (f < 0)
                        return f;
                ssize_t r = pwrite(fd, p, len, (off_t) off);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                vc_power_log_write(fd, p, (size_t) r, off);
                p += r;
                n -= (size_t) r;
                off += (uint64_t) r;
        }
        return 0;
}

int fd_lock_ofd(int fd, bool exclusive)
{
        struct flock fl = {
                .l_type = exclusive ? F_WRLCK : F_RDLCK,
                .l_whence = SEEK_SET,
                .l_start = 0,
                .l_len = 0,
        };

        if (fcntl(fd, F_OFD_SETLK, &fl) < 0)
                return (errno == EAGAIN || errno == EACCES) ? -EBUSY : -errno;
        return 0;
}

static bool type_ok(const struct stat *st, bool allow_blk)
{
        return S_ISREG(st->st_mode) || (allow_blk && S_ISBLK(st->st_mode));
}

int fd_open_regular(const char *path, int flags, bool allow_blk)
{
        char proc[64];
        struct stat st;
        int pfd, fd;

        flags = (flags & O_ACCMODE) | O_CLOEXEC | O_NOCTTY;
        pfd = open(path, O_PATH | O_CLOEXEC);
        if (pfd < 0)
                return -errno;
        if (fstat(pfd, &st) < 0) {
                int e = -errno;
                close(pfd);
                return e;
        }
        if (!type_ok(&st, allow_blk)) {
                close(pfd);
                return -EBADFD;
        }
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", pfd);
        fd = open(proc, flags | O_NONBLOCK);
        if (fd < 0 && errno == ENOENT)
                fd = open(path, flags | O_NONBLOCK);    /* no /proc */
        close(pfd);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0) {
                int e = -errno;
                close(fd);
                return e;
        }
        if (!type_ok(&st, allow_blk)) {
                close(fd);
                return -EBADFD;
        }
        /* O_NONBLOCK only guarded the open; readers and io_uring must block. */
        if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
                int e = -errno;
                close(fd);
                return e;
        }
        return fd;
}

int fd_real_path(int fd, char *buf, size_t size)
{
        char proc[64];
        struct stat st;
        ssize_t n;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (st.st_nlink == 0)
                return -ENOENT;         /* deleted: the link ends in " (deleted)" */
        if (size < 2)
                return -ENAMETOOLONG;
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        n = readlink(proc, buf, size);
        if (n < 0)
                return -errno;
        if ((size_t) n >= size)
                return -ENAMETOOLONG;
        buf[n] = 0;
        /* "pipe:[123]", "anon_inode:...": not in the tree. */
        if (buf[0] != '/')
                return -ENOENT;
        return 0;
}

/* The folder a not-yet-existing path would be in. */
static int parent_dir(const char *path, char *buf, size_t size)
{
        int n = snprintf(buf, size, "%s", path);
        if (n < 0 || (size_t) n >= size)
                return -ENAMETOOLONG;
        char *slash = strrchr(buf, '/');
        if (slash == buf)
                buf[1] = 0;
        else if (slash)
                *slash = 0;
        else
                snprintf(buf, size, ".");
        return 0;
}

int fd_create_new_file(const char *path, mode_t mode, int (*fill)(int fd, void *userdata), void *userdata)
{
        char tmp[PATH_MAX + 16], dir[PATH_MAX];
        int r;

        r = parent_dir(path, dir, sizeof dir);
        if (r < 0)
                return r;
        r = snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path);
        if (r < 0 || (size_t) r >= sizeof tmp)
                return -ENAMETOOLONG;
        _cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if ((r = fill(fd, userdata)) < 0 || (r = RET_NERRNO(fchmod(fd, mode))) < 0 ||
            (r = vc_io_fault(VC_IO_SYNC, NULL)) < 0 || (r = RET_NERRNO(fsync(fd))) < 0 ||
            (r = RET_NERRNO(link(tmp, path))) < 0) {
                (void) unlink(tmp);
                return r;
        }
        (void) unlink(tmp);
        /* The new name durable too. */
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
                (void) fsync(dfd);
        return 0;
}
