/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Opening files for a worker, which cannot: it runs as an unprivileged
 * user.  A worker asks for the parents of a differencing disk and for the
 * VHDs beside it (children would make a drop change what they read).  We
 * open only regular files named *.vhd or *.avhd, read-only, and for a job
 * started by a non-root caller through a descriptor, only what that caller
 * could open: the open runs in a short-lived child with the caller's ids.
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
#include "fd-pass.h"

static bool vhd_name(const char *path)
{
        const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');

        return dot && (!slash || dot > slash) && (!strcasecmp(dot, ".vhd") || !strcasecmp(dot, ".avhd"));
}

/* The child's side of open_as_user: switch ids, open, pass the fd back. */
static _Noreturn void open_in_child(int sock, uid_t uid, gid_t gid, const char *path, int flags)
{
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
        fd = open(path, flags | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                int e = errno;
                (void) send(sock, &e, sizeof e, 0);
                _exit(0);
        }
        _exit(fd_send(sock, "fd", 2, fd) < 0);
}

int open_as_user(uid_t uid, gid_t gid, const char *path, int flags)
{
        int sv[2], fd = -1, status;
        pid_t pid;

        if (uid == geteuid()) {
                fd = open(path, flags | O_CLOEXEC | O_NOCTTY);
                return fd < 0 ? -errno : fd;
        }
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                close(sv[0]);
                close(sv[1]);
                return -errno;
        }
        if (pid == 0) {
                close(sv[0]);
                open_in_child(sv[1], uid, gid, path, flags);
        }
        close(sv[1]);
        char buf[16];
        ssize_t n = fd_recv(sv[0], buf, sizeof buf, &fd);
        close(sv[0]);
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

int broker_open(const struct job *j, const char *path, int flags)
{
        struct stat st;
        int fd;

        if (!vhd_name(path))
                return -EPERM;
        if (j->as_owner)
                fd = open_as_user(j->owner, j->owner_gid, path, flags | O_NONBLOCK);
        else {
                fd = open(path, flags | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
                if (fd < 0)
                        fd = -errno;
        }
        if (fd < 0)
                return fd;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                close(fd);
                return -EPERM;
        }
        /* O_NONBLOCK only kept a FIFO from blocking the open. */
        (void) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        return fd;
}
