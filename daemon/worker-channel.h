/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The worker's end of the control socket (fd 3, see worker-protocol.h):
 * one message per datagram, at most WORKER_MSG_MAX bytes, some carrying a
 * descriptor.  The daemon speaks only to answer "open" and to cancel, so
 * anything it says while we are not waiting for an answer is read here
 * without blocking, and "cancel" (or the daemon going away) is remembered
 * until the engine reaches a point where it can stop.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/macro.h"

struct channel {
        int fd;
        bool cancelled;         /* "cancel" arrived, or the daemon hung up */
        bool hung_up;           /* end of stream: nobody reads our reports */
};

/* Sends one message formatted from fmt.  Returns 0, -EMSGSIZE when it
 * would exceed WORKER_MSG_MAX (nothing is sent), or -errno (EPIPE once
 * the daemon is gone: SIGPIPE is never raised). */
int channel_send(struct channel *c, const char *fmt, ...) _printf_(2, 3);

/* Receives one message into buf (NUL-terminated; size > WORKER_MSG_MAX),
 * waiting for it when wait is set.  *ret_fd is the descriptor it carried
 * (O_CLOEXEC) or -1; any further descriptors are closed.  Returns its
 * length, 0 at end of stream, -EAGAIN when !wait and nothing is there,
 * -EBADMSG for an oversized message, or -errno. */
ssize_t channel_recv(struct channel *c, char *buf, size_t size, bool wait, int *ret_fd);

/* Handles a message that is not an answer we wait for: "cancel" sets
 * c->cancelled; anything else is reported on stderr and ignored. */
void channel_unsolicited(struct channel *c, const char *msg, int fd);

/* Reads everything the daemon sent, without waiting.  Returns
 * c->cancelled. */
bool channel_poll_cancel(struct channel *c);

/* Waits for the daemon's next message and handles it as above (the test
 * hook in worker-progress.c holds a phase this way). */
void channel_wait_one(struct channel *c);
