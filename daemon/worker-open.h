/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The worker's opener (struct vc_open_ctx, lib/image/open.h): it cannot open
 * files by name, so it asks the daemon ("open PATH") and gets either the
 * descriptor or an errno back.
 */
#pragma once

#include <stdbool.h>

/* userdata: the struct channel of the control socket.  Returns a read-only
 * descriptor or a negative errno: the daemon's (-ENOENT, -EACCES, ...),
 * -EPERM for a read-write open (the protocol has none: the worker writes
 * only the disk it was handed), -ENAMETOOLONG when PATH does not fit in a
 * message, -EIO when the answer makes no sense, -ECONNRESET when the
 * daemon went away. */
int worker_open(const char *path, bool rdwr, void *userdata);
