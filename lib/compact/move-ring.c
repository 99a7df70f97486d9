/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A ring the executor (move.c) can copy through and that can do nothing
 * else: for a caller that sandboxes itself, the daemon's worker.
 *
 * Why: io_uring runs its operations in the kernel, where seccomp does not
 * look, so a seccomp filter that allows io_uring_enter allows every
 * operation the kernel has (openat, connect, send...).  IORING_REGISTER_
 * RESTRICTIONS closes that: on a ring created disabled
 * (IORING_SETUP_R_DISABLED), it lists the only operations and SQE flags
 * the ring accepts (anything else completes with -EACCES) and the only
 * io_uring_register operations allowed (none here); then
 * IORING_REGISTER_ENABLE_RINGS starts the ring, and the list can never
 * change.  The caller makes the ring before it installs its filter, and
 * the filter then refuses io_uring_setup and io_uring_register, so the
 * restricted ring is the only one it will ever have.
 *
 * The list is what move.c submits: IORING_OP_READ and IORING_OP_WRITE
 * (the copies), IORING_OP_NOP (an injected fault's stand-in, and the
 * kick that wakes io-wq), and IOSQE_ASYNC (the kick's flag).  A test's
 * stall (lib/util/fault.h: a poll linked before the I/O) is not on it:
 * through a restricted ring such a test's moves fail with -EACCES, as
 * any other operation would.  Keep this list and move.c's submissions
 * together (test-compact-ring checks both ways).
 */
#include <errno.h>
#include <liburing.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "move.h"

/* io_uring_register(2) itself: liburing 2.3 as Debian ships it declares
 * io_uring_register_restrictions() and io_uring_enable_rings() but does
 * not export them. */
static int ring_register(int fd, unsigned op, const void *arg, unsigned n)
{
        return syscall(__NR_io_uring_register, fd, op, arg, n) < 0 ? -errno : 0;
}

int compact_ring_init_restricted(struct io_uring *ring)
{
        static const uint8_t ops[] = { IORING_OP_READ, IORING_OP_WRITE, IORING_OP_NOP };
        struct io_uring_restriction res[sizeof ops + 1];
        struct io_uring_params p = { .flags = IORING_SETUP_R_DISABLED };
        unsigned n = 0;
        int r;

        memset(res, 0, sizeof res);
        for (size_t i = 0; i < sizeof ops; i++) {
                res[n].opcode = IORING_RESTRICTION_SQE_OP;
                res[n++].sqe_op = ops[i];
        }
        res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
        res[n++].sqe_flags = IOSQE_ASYNC;

        r = io_uring_queue_init_params(COMPACT_RING_ENTRIES, ring, &p);
        if (r < 0)
                return r;
        r = ring_register(ring->ring_fd, IORING_REGISTER_RESTRICTIONS, res, n);
        if (r == 0)
                r = ring_register(ring->ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
        if (r < 0) {
                io_uring_queue_exit(ring);
                return r;
        }
        return 0;
}
