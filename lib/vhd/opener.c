/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * How lib/vhd opens a file by name: open(2), unless the process installed
 * an opener.
 *
 * Why a hook: vhd-compactd's worker parses untrusted disks as an
 * unprivileged user that holds only the disk's descriptor.  It cannot open
 * the parent of a differencing disk (or the candidates of the search for
 * children) by name, since they may lie in folders it may not enter; it
 * asks the daemon instead, which decides whether the caller may read that
 * file and passes the descriptor back.  Every open by name in lib/vhd goes
 * through vhd_open_path(), so that one hook covers all of them.
 *
 * Without a hook, a name is opened only when it is a regular file or a
 * block device, without blocking (a FIFO named as a parent or planted as
 * a *.vhd beside a disk would otherwise hang the open forever) and without
 * running a device's open (fd_open_regular); anything else is -EBADFD.
 *
 * One hook per process, set before any image is opened and not changed
 * while images are being opened (the plugin and vhdctl never set it).
 */
#include <fcntl.h>

#include "../util/fd-util.h"
#include "image-internal.h"

static vhd_opener_t opener;
static void *opener_userdata;

void vhd_set_opener(vhd_opener_t open_fn, void *userdata)
{
        opener = open_fn;
        opener_userdata = userdata;
}

bool vhd_opener_is_set(void)
{
        return opener != NULL;
}

int vhd_open_path(const char *path, bool rdwr)
{
        if (opener)
                return opener(path, rdwr, opener_userdata);
        return fd_open_regular(path, rdwr ? O_RDWR : O_RDONLY, true);
}
