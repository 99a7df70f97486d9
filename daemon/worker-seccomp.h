/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The worker's system-call filter (see worker-seccomp.c).
 */
#pragma once

/*
 * worker_seccomp_install - make this process non-dumpable, set
 * no_new_privs and confine it to the system calls a worker needs; any
 * other call kills the process (SIGSYS).  Returns 0, or a
 * negative errno: -EOPNOTSUPP for an architecture without a filter here;
 * then nothing is installed and the worker must not go on.
 */
int worker_seccomp_install(void);

struct io_uring;

/*
 * worker_seccomp_test_hook - with VHDCOMPACT_TEST_WORKER_FORBIDDEN set to
 * "socket" (socket(AF_INET)), "pidfd" (pidfd_open of pid 1, then
 * pidfd_getfd of its fd 0), "io_uring_setup" or "io_uring_register" (of
 * ring), attempt that call; a filter that works kills the process there.
 * With "ring-openat", queue IORING_OP_OPENAT of "/" on ring (the worker's,
 * set up before the filter): its restrictions refuse it with -EACCES.
 * Harmless without a filter: the descriptors are closed.
 * Returns 0 when nothing was asked, 2 when the ring refused the openat
 * with -EACCES (what it must do; the caller reports it as a failure of
 * the job, naming it), or the negative errno the call got, or 1 when it
 * succeeded: the caller reports either as a failure.
 */
int worker_seccomp_test_hook(struct io_uring *ring, const char **ret_what);
