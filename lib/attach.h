/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Read-only attach of an image through nbdkit-vhd-plugin (docs/design.md, pipeline step 3).
 *
 * Every read of a guest file system goes through this NBD connection, so a
 * differencing disk is read merged with its parents by exactly the code
 * that serves it.  nbdkit runs as our child on one end of a socketpair
 * (nbd_connect_command with `nbdkit -s`): there is no socket file to leak,
 * and --exit-with-parent ends it even if we are killed.  vc_attach_close()
 * closes the handle, which makes libnbd reap the server.
 */
#pragma once

#include <stdbool.h>

#include "source.h"

struct vc_attach;

/* The plugin used: $VHDCOMPACT_PLUGIN if set, else the build tree's when
 * the program runs from it (util/build-tree.h), else the installed module. */
const char *vc_attach_plugin_path(void);

/* The library the attach loads on first use (attach.c says why). */
#define VC_LIBNBD_SONAME "libnbd.so.0"

/*
 * Starts nbdkit with the plugin on path, readonly=1 (and lock=false when
 * the caller already holds the image's lock), connects, and fills *ret_src
 * with a source reading the virtual disk.  -ENOENT when nbdkit or the plugin
 * is missing, -EIO when the server refuses (its error goes to stderr),
 * -ELIBACC or -ELIBBAD when libnbd cannot be loaded.
 */
int vc_attach_open(const char *path, bool nolock, struct vc_attach **ret,
                   struct vc_source *ret_src);
void vc_attach_close(struct vc_attach *a);
static inline void vc_attach_closep(struct vc_attach **a)
{
        if (*a)
                vc_attach_close(*a);
}
