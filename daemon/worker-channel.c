/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Sending and receiving on the control socket.  SOCK_SEQPACKET keeps
 * message boundaries, so a message is one send() and one recvmsg(); a
 * truncated receive (MSG_TRUNC) is a protocol error, never a partial read.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "worker-channel.h"
#include "worker-protocol.h"

int channel_send(struct channel *c, const char *fmt, ...)
{
        char buf[WORKER_MSG_MAX + 1];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        if (n < 0 || n > WORKER_MSG_MAX)
                return -EMSGSIZE;
        /* MSG_NOSIGNAL: a daemon that went away is an error to handle,
         * not a signal that kills us in the middle of a move. */
        while (send(c->fd, buf, (size_t) n, MSG_NOSIGNAL) < 0)
                if (errno != EINTR)
                        return -errno;
        return 0;
}

ssize_t channel_recv(struct channel *c, char *buf, size_t size, bool wait, int *ret_fd)
{
        /* Room for more than one descriptor, so that extra ones are seen
         * and closed rather than silently installed in our table. */
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(4 * sizeof(int))];
        } control = {};
        struct iovec iov = { buf, size - 1 };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
                             .msg_controllen = sizeof control.buf };
        int flags = MSG_CMSG_CLOEXEC | (wait ? 0 : MSG_DONTWAIT);
        ssize_t n;

        *ret_fd = -1;
        while ((n = recvmsg(c->fd, &mh, flags)) < 0)
                if (errno != EINTR)
                        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h; h = CMSG_NXTHDR(&mh, h)) {
                if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
                        continue;
                size_t nfd = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < nfd; i++) {
                        int fd;
                        memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof fd);
                        if (*ret_fd < 0)
                                *ret_fd = fd;
                        else
                                close(fd);
                }
        }
        if (n == 0 && *ret_fd < 0) {
                c->hung_up = c->cancelled = true;
                return 0;
        }
        if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
                if (*ret_fd >= 0)
                        close(*ret_fd);
                *ret_fd = -1;
                return -EBADMSG;
        }
        buf[n] = 0;
        return n;
}

void channel_unsolicited(struct channel *c, const char *msg, int fd)
{
        if (fd >= 0)
                close(fd);      /* nothing we asked for */
        if (!strcmp(msg, "cancel"))
                c->cancelled = true;
        else
                fprintf(stderr, "vhd-compact-worker: unexpected message '%.64s' from the daemon, ignoring\n", msg);
}

static void handle_one(struct channel *c, bool wait, bool *ret_more)
{
        char buf[WORKER_MSG_MAX + 1];
        int fd;
        ssize_t n = channel_recv(c, buf, sizeof buf, wait, &fd);

        *ret_more = false;
        if (n == -EBADMSG) {
                fprintf(stderr, "vhd-compact-worker: oversized message from the daemon, ignoring\n");
                *ret_more = true;
        } else if (n > 0) {
                channel_unsolicited(c, buf, fd);
                *ret_more = true;
        } else if (n < 0 && n != -EAGAIN) {
                /* The socket itself failed: nobody can cancel us any more,
                 * nor read our reports; stop at the next safe point. */
                c->hung_up = c->cancelled = true;
        }
}

bool channel_poll_cancel(struct channel *c)
{
        bool more = !c->hung_up;

        while (more)
                handle_one(c, false, &more);
        return c->cancelled;
}

void channel_wait_one(struct channel *c)
{
        bool more;

        if (!c->hung_up)
                handle_one(c, true, &more);
}
