/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * How an image and everything it leads to are opened: the open context.
 *
 * Why a context and not a global: vhd-compactd's worker parses untrusted
 * disks as an unprivileged user that holds only the disk's descriptor and
 * its folder's.  It cannot open the parent of a differencing disk (or the
 * candidates of the search for children) by name, since they may lie in
 * folders it may not enter; it asks the daemon instead, which decides
 * whether the caller may read that file and passes the descriptor back.
 * Every open by name of a format driver goes through vc_open_path() with
 * the context of the image it works for, so one opener covers all of them,
 * and images opened with different contexts never see each other's.
 *
 * Without an opener, a name is opened only when it is a regular file or a
 * block device, without blocking (a FIFO named as a parent or planted as
 * a *.vhd beside a disk would otherwise hang the open forever) and without
 * running a device's open (fd_open_regular); anything else is -EBADFD.
 */
#pragma once

#include <stdbool.h>

/* Returns a new descriptor (O_CLOEXEC, read-write when rdwr) or a negative
 * errno; -ENOENT and -ENOTDIR mean "no such file", so that the next
 * candidate (of a parent, say) is tried. */
typedef int (*vc_opener_t)(const char *path, bool rdwr, void *userdata);

/* fd or dir_fd: look the file (or the image's folder) up by its name. */
#define VC_BY_NAME (-2)

struct vc_open_ctx {
        vc_opener_t opener;     /* NULL: open(2), regular files and block devices only */
        void *userdata;
        /* The image itself, when the caller holds it (duplicated: the
         * caller keeps and closes its own; the name then only names it, in
         * messages and to resolve relative parent locators); VC_BY_NAME:
         * opened by its name. */
        int fd;
        /* The image's folder, for the search for differencing children
         * (duplicated); VC_BY_NAME: the folder the kernel says the open
         * image is in, listed by name; any other negative value: there is
         * no folder to search, so the search fails closed.  Candidates are
         * opened by name either way, through the opener when there is one. */
        int dir_fd;
        /* The user's mapping for the image's immediate parent (vhdctl
         * --parent, the plugin's parent=): when set, the only candidate
         * for that parent, the locators unused; it is checked as any
         * candidate is (a wrong disk is parent-mismatch, the disk itself
         * a loop).  Read at open time only and never passed to the
         * parent's own open: a grandparent is found by its locators. */
        const char *parent_path;
};

#define VC_OPEN_CTX_INIT { .opener = NULL, .userdata = NULL, .fd = VC_BY_NAME, .dir_fd = VC_BY_NAME, .parent_path = NULL }

/* Opens path through ctx's opener when it has one, else as described
 * above (ctx may be NULL); returns a descriptor or a negative errno. */
int vc_open_path(const struct vc_open_ctx *ctx, const char *path, bool rdwr);
