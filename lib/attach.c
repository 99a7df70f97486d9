/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <libnbd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attach.h"
#include "config.h"
#include "util/build-tree.h"
#include "util/log.h"
#include "util/macro.h"

/* NBD servers accept requests up to 32 MiB; stay well below. */
#define ATTACH_MAX_REQUEST (4u << 20)

struct vc_attach {
        struct nbd_handle *nbd;
};

const char *vc_attach_plugin_path(void)
{
        static char *in_tree;   /* found once, kept for the process */
        const char *p = getenv("VHDCOMPACT_PLUGIN");

        if (p && *p)
                return p;
        if (in_tree || vc_build_tree_path("plugin/nbdkit-vhd-plugin.so", &in_tree) > 0)
                return in_tree;
        return VC_PLUGIN_INSTALLED;
}

static int nbd_source_pread(void *ctx, void *buf, size_t count, uint64_t offset)
{
        struct vc_attach *a = ctx;
        uint8_t *p = buf;

        while (count > 0) {
                size_t n = MIN(count, (size_t) ATTACH_MAX_REQUEST);
                if (nbd_pread(a->nbd, p, n, offset, 0) < 0) {
                        int e = nbd_get_errno();
                        vc_debug("attach: nbd_pread at %llu: %s", (unsigned long long) offset,
                                 nbd_get_error());
                        return e > 0 ? -e : -EIO;
                }
                p += n;
                offset += n;
                count -= n;
        }
        return 0;
}

void vc_attach_close(struct vc_attach *a)
{
        if (!a)
                return;
        /* Closing the handle closes the socket; nbdkit -s exits on EOF and
         * libnbd waits for it. */
        if (a->nbd)
                nbd_close(a->nbd);
        free(a);
}

int vc_attach_open(const char *path, bool nolock, struct vc_attach **ret, struct vc_source *ret_src)
{
        const char *plugin = vc_attach_plugin_path();
        _cleanup_free_ char *file_arg = NULL;
        int64_t size;

        if (access(plugin, R_OK) < 0 && strchr(plugin, '/'))
                return -ENOENT;
        if (asprintf(&file_arg, "file=%s", path) < 0)
                return -ENOMEM;
        char *argv[] = {
                (char *) "nbdkit", (char *) "-s", (char *) "--exit-with-parent",
                (char *) plugin, file_arg, (char *) "readonly=1",
                (char *) (nolock ? "lock=false" : "lock=true"), NULL,
        };

        struct vc_attach *a = calloc(1, sizeof *a);
        if (!a)
                return -ENOMEM;
        a->nbd = nbd_create();
        if (!a->nbd) {
                free(a);
                return -ENOMEM;
        }
        /* Our plugin advertises the disk's logical sector as the minimum
         * block size, but serves any offset and length (as nbdkit 1.32
         * lets it); the scan reads structures of any size, so libnbd must
         * not refuse unaligned requests itself. */
        nbd_set_strict_mode(a->nbd, nbd_get_strict_mode(a->nbd) & ~(uint32_t) LIBNBD_STRICT_ALIGN);
        if (nbd_connect_command(a->nbd, argv) < 0) {
                int e = nbd_get_errno();
                vc_debug("attach: cannot start nbdkit for '%s': %s", path, nbd_get_error());
                vc_attach_close(a);
                return e == ENOENT ? -ENOENT : -EIO;
        }
        size = nbd_get_size(a->nbd);
        if (size < 0) {
                vc_debug("attach: nbd_get_size: %s", nbd_get_error());
                vc_attach_close(a);
                return -EIO;
        }
        *ret_src = (struct vc_source) {
                .size = (uint64_t) size,
                .pread = nbd_source_pread,
                .ctx = a,
        };
        *ret = a;
        return 0;
}
