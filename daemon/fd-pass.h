/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One message, optionally carrying one descriptor (SCM_RIGHTS). */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Sends len bytes of data with fd attached (fd < 0: none).  0 or -errno. */
int fd_send(int sock, const void *data, size_t len, int fd);
/* Receives one message into buf; *ret_fd is the attached descriptor
 * (O_CLOEXEC) or -1.  Returns its length, 0 at end of stream, or -errno. */
ssize_t fd_recv(int sock, void *buf, size_t size, int *ret_fd);
