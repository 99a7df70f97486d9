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

/*
 * worker_seccomp_test_hook - with VHDCOMPACT_TEST_WORKER_FORBIDDEN set to
 * "socket" (socket(AF_INET)) or "pidfd" (pidfd_open of pid 1, then
 * pidfd_getfd of its fd 0), attempt that call; a filter that works kills
 * the process there.  Harmless without one: the descriptors are closed.
 * Returns 0 when nothing was asked, or the negative errno the call got
 * (-EPERM), or 1 when it succeeded: the caller reports either as a
 * failure.
 */
int worker_seccomp_test_hook(const char **ret_what);
