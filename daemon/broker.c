/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Opening files for a worker, which cannot: it runs as an unprivileged
 * user.  A worker asks for the parents of a differencing disk and for the
 * VHDs beside it (children would make a drop change what they read).  The
 * name comes from a worker that parses a hostile disk, and the folders may
 * be a user's, so it is resolved once, with every symbolic link in view
 * (resolve.c: a user's link leads only to that user's files), and we open
 * only what it really is: a regular file whose real name ends in an image
 * suffix (lib/image/names.h: .vhd, .avhd, .vhdx, .avhdx), read-only, never blocking on a FIFO nor opening a device.  For a
 * job started by a non-root caller through a descriptor, only what that
 * caller could open: the walk runs in a short-lived child with the
 * caller's ids.  For any other job (root's, or a path call), the file must
 * also belong to root or to the owner of the disk being compacted: a user
 * cannot make root's job open another user's files, nor learn anything of
 * root's beyond its VHDs.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "image/names.h"
#include "fd-pass.h"
#include "resolve.h"
#include "util/macro.h"

/* The child's side of open_as_user: switch ids, open, pass the fd back. */
static _Noreturn void open_in_child(int sock, uid_t uid, gid_t gid, const char *path, int flags, bool resolve)
{
        struct resolved res;
        struct passwd *pw = getpwuid(uid);
        gid_t groups[256];
        int n = 256, fd;

        if (pw && getgrouplist(pw->pw_name, gid, groups, &n) >= 0) {
                if (setgroups((size_t) n, groups) < 0)
                        _exit(1);
        } else if (setgroups(1, &gid) < 0)
                _exit(1);
        if (setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
                _exit(1);
        if (resolve) {
                int r = resolve_open(path, flags, &res, NULL, 0);
                fd = r < 0 ? (errno = -r, -1) : res.fd;
        } else
                fd = open(path, flags | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                int e = errno;
                (void) send(sock, &e, sizeof e, 0);
                _exit(0);
        }
        _exit(fd_send(sock, "fd", 2, fd) < 0);
}

static int open_as(uid_t uid, gid_t gid, const char *path, int flags, bool resolve)
{
        _cleanup_close_ int ours = -1, theirs = -1;
        int sv[2], fd = -1, status;
        pid_t pid;

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        ours = sv[0];
        theirs = sv[1];
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                close(TAKE_FD(ours));
                open_in_child(theirs, uid, gid, path, flags, resolve);
        }
        close(TAKE_FD(theirs));
        char buf[16];
        ssize_t n = fd_recv(ours, buf, sizeof buf, &fd);
        close(TAKE_FD(ours));
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        if (fd >= 0)
                return fd;
        if (n == (ssize_t) sizeof(int)) {
                int e;
                memcpy(&e, buf, sizeof e);
                return e > 0 ? -e : -EIO;
        }
        return -EPERM;  /* the child could not take the caller's ids */
}

int open_as_user(uid_t uid, gid_t gid, const char *path, int flags)
{
        int fd;

        if (uid == geteuid()) {
                fd = open(path, flags | O_CLOEXEC | O_NOCTTY);
                return fd < 0 ? -errno : fd;
        }
        return open_as(uid, gid, path, flags, false);
}

int broker_open(const struct job *j, const char *path, int flags)
{
        struct resolved res;
        struct stat disk, st;
        char proc[64], real[4096];
        int fd, r;

        if (!vc_image_name_has_suffix(path))
                return -EPERM;
        if (j->as_owner && j->owner != geteuid())
                fd = open_as(j->owner, j->owner_gid, path, flags, true);
        else {
                r = resolve_open(path, flags, &res, NULL, 0);
                fd = r < 0 ? r : res.fd;
        }
        /* A link it may not follow: refused, as a name that is not a
         * VHD's.  Not a regular file: -EBADFD, which tells the engine
         * that this is certainly no disk (a FIFO planted as zz.vhd). */
        if (fd == -EXDEV)
                return -EPERM;
        if (fd < 0)
                return fd;
        /* What was opened, seen from here (the walk may have run as the
         * caller): its type, its real name, its owner. */
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(proc, real, sizeof real);
        r = fstat(fd, &st) < 0 ? -EPERM : !S_ISREG(st.st_mode) ? -EBADFD : n <= 0 || n >= (ssize_t) sizeof real ? -EPERM : 0;
        if (r == 0) {
                real[n] = 0;
                if (!vc_image_name_has_suffix(real))
                        r = -EPERM;
        }
        if (r == 0 && !j->as_owner && st.st_uid != 0 &&
            (j->disk_fd < 0 || fstat(j->disk_fd, &disk) < 0 || st.st_uid != disk.st_uid))
                r = -EPERM;
        if (r < 0) {
                close(fd);
                return r;
        }
        return fd;
}
