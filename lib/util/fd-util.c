/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "fault.h"
#include "fd-util.h"

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
