/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Resolving a name once, for root, with the symbolic links in view.
 *
 * open(2) follows links silently: root's daemon, told to compact
 * /home/u/disk.vhd (a weekly timer, say), or asked by a worker for
 * x.vhd beside a user's disk, would open whatever the user made that name
 * point to at that moment (/etc/shadow, another user's disk, a FIFO, a
 * device).  So the name is walked one component at a time with O_PATH and
 * O_NOFOLLOW, the way the kernel resolves it (".." is physical), and each
 * link is read and its owner noted.  The rule is the one of the kernel's
 * protected_symlinks, without the sticky folder: a link owned by root may
 * lead anywhere, a link owned by a user only to that user's own file.
 * Nothing but a regular file is opened for real, through /proc/self/fd of
 * the O_PATH descriptor, so the file checked is the file opened, and the
 * caller learns its real name (what a job then reports).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "resolve.h"

#define MAX_LINKS 40    /* as the kernel's MAXSYMLINKS */

static void close_keep_errno(int fd)
{
        int e = errno;
        if (fd >= 0)
                close(fd);
        errno = e;
}

/* The walk: an O_PATH descriptor of what path names, links followed. */
static int walk(const char *path, int *ret_fd, int *ret_dir, char *ret_name, bool *ret_followed, uid_t *ret_owner,
                bool *ret_mixed)
{
        char rest[8192], target[4096], last[256] = "";
        int cur, prev = -1, links = 0;
        bool followed = false, mixed = false;
        uid_t owner = 0;

        if (path[0] != '/')
                return -EINVAL;
        if (snprintf(rest, sizeof rest, "%s", path) >= (int) sizeof rest)
                return -ENAMETOOLONG;
        cur = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (cur < 0)
                return -errno;
        for (char *p = rest;;) {
                while (*p == '/')
                        p++;
                if (!*p)
                        break;
                char *end = strchr(p, '/');
                size_t len = end ? (size_t) (end - p) : strlen(p);
                char comp[256];
                struct stat st;
                if (len >= sizeof comp) {
                        close(cur);
                        return -ENAMETOOLONG;
                }
                memcpy(comp, p, len);
                comp[len] = 0;
                p += len;
                if (!strcmp(comp, "."))
                        continue;
                int fd = openat(cur, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0 || fstat(fd, &st) < 0) {
                        int e = -errno;
                        close_keep_errno(fd);
                        close_keep_errno(prev);
                        close(cur);
                        return e;
                }
                if (S_ISLNK(st.st_mode)) {
                        ssize_t n = ++links > MAX_LINKS ? -1 : readlinkat(fd, "", target, sizeof target);
                        int e = links > MAX_LINKS ? -ELOOP : n < 0 ? -errno : n >= (ssize_t) sizeof target || n == 0
                                                                                     ? -ENAMETOOLONG : 0;
                        close(fd);
                        if (e < 0) {
                                close_keep_errno(prev);
                                close(cur);
                                return e;
                        }
                        target[n] = 0;
                        followed = true;
                        if (st.st_uid != 0) {
                                mixed |= owner != 0 && owner != st.st_uid;
                                owner = st.st_uid;
                        }
                        /* The link's text replaces it in what is left. */
                        char next[8192];
                        if (snprintf(next, sizeof next, "%s/%s", target, p) >= (int) sizeof next) {
                                close_keep_errno(prev);
                                close(cur);
                                return -ENAMETOOLONG;
                        }
                        memcpy(rest, next, sizeof rest);
                        p = rest;
                        if (target[0] == '/') {
                                close(cur);
                                cur = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
                                if (cur < 0) {
                                        close_keep_errno(prev);
                                        return -errno;
                                }
                        }
                        continue;
                }
                /* ".." and names alike: one step, on the real tree. */
                if (prev >= 0)
                        close(prev);
                prev = cur;
                cur = fd;
                memcpy(last, comp, sizeof last);
                while (*p == '/')
                        p++;
                if (*p && !S_ISDIR(st.st_mode)) {
                        close(prev);
                        close(cur);
                        return -ENOTDIR;
                }
        }
        if (prev < 0) {         /* "/" itself */
                close(cur);
                return -EBADFD;
        }
        *ret_fd = cur;
        *ret_dir = prev;
        memcpy(ret_name, last, sizeof last);
        *ret_followed = followed;
        *ret_owner = owner;
        *ret_mixed = mixed;
        return 0;
}

int resolve_open(const char *path, int flags, struct resolved *ret, char *ret_why, size_t why_size)
{
        char proc[64], name[256];
        struct stat st;
        bool followed, mixed;
        uid_t owner;
        int pfd, dfd, fd = -1, r;

        r = walk(path, &pfd, &dfd, name, &followed, &owner, &mixed);
        if (r < 0)
                return r;
        /* The link rule first: a user learns nothing of the type of what
         * the user's links may not reach. */
        if (fstat(pfd, &st) < 0)
                r = -errno;
        else if (mixed || (owner != 0 && st.st_uid != owner)) {
                if (ret_why)
                        snprintf(ret_why, why_size,
                                 mixed ? "the way to it goes through symbolic links of different users"
                                       : "a symbolic link of uid %u on the way leads to a file of uid %u; "
                                         "a user's link may only lead to that user's files",
                                 (unsigned) owner, (unsigned) st.st_uid);
                r = -EXDEV;
        } else if (!S_ISREG(st.st_mode))
                r = -EBADFD;
        /* The real open: the last name in its folder, not followed, not
         * blocking; it must be the very file looked at.  (Not through
         * /proc/self/fd: after a change of ids this process may not be
         * allowed there.) */
        if (r == 0) {
                fd = openat(dfd, name, (flags & O_ACCMODE) | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
                if (fd < 0)
                        r = -errno;
                else if (fstat(fd, &ret->st) < 0)
                        r = -errno;
                else if (ret->st.st_dev != st.st_dev || ret->st.st_ino != st.st_ino)
                        r = -ESTALE;
                else if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0)
                        r = -errno;
        }
        close(pfd);
        close(dfd);
        if (r < 0) {
                if (fd >= 0)
                        close(fd);
                return r;
        }
        /* Its real name, where this process may read it ("" otherwise). */
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(proc, ret->path, sizeof ret->path);
        if (n <= 0 || n >= (ssize_t) sizeof ret->path || ret->path[0] != '/')
                n = 0;
        ret->path[n] = 0;
        ret->fd = fd;
        ret->followed_link = followed;
        ret->link_owner = owner;
        return 0;
}
