/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * "open PATH" and its answer.  The daemon answers each request before
 * anything else, except that a "cancel" may cross our request on the wire:
 * it is remembered for the engine's next safe point and we go on waiting.
 * A descriptor is used only when it came with an "fd" answer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "worker-channel.h"
#include "worker-open.h"
#include "worker-protocol.h"

/* "error ERRNO" -> -ERRNO, or 0 when the number is not an errno. */
static int parse_error(const char *s)
{
        char *end;
        long e;

        errno = 0;
        e = strtol(s, &end, 10);
        if (errno || end == s || *end || e <= 0 || e >= 4096)
                return 0;
        return (int) -e;
}

int worker_open(const char *path, bool rdwr, void *userdata)
{
        struct channel *c = userdata;
        char buf[WORKER_MSG_MAX + 1];
        int r, fd;

        if (rdwr)
                return -EPERM;
        if (c->hung_up)
                return -ECONNRESET;
        r = channel_send(c, "open %s", path);
        if (r == -EMSGSIZE)
                return -ENAMETOOLONG;
        if (r < 0)
                return r;
        for (;;) {
                ssize_t n = channel_recv(c, buf, sizeof buf, true, &fd);
                if (n == 0)
                        return -ECONNRESET;
                if (n < 0)
                        return n == -EBADMSG ? -EIO : (int) n;
                if (!strcmp(buf, "fd"))
                        return fd >= 0 ? fd : -EIO;
                if (!strncmp(buf, "error ", 6)) {
                        if (fd >= 0)
                                close(fd);
                        r = parse_error(buf + 6);
                        return r < 0 ? r : -EIO;
                }
                channel_unsolicited(c, buf, fd);
        }
}
