/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dlfcn.h>
#include <errno.h>
#include <libnbd.h>
#include <pthread.h>
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

/*
 * libnbd, loaded by the first attach rather than at start: it pulls in
 * gnutls, libxml2, ICU and libstdc++, which the dynamic loader reads and
 * relocates in about 50 ms from a cold cache (docs/benchmarks.md) for every
 * command, even those that never attach (info, check, create), and which
 * the daemon's sandboxed worker, which never attaches, would otherwise map
 * too.  Only the header is compiled against; the calls go through this
 * table.  RTLD_NOW: a missing symbol fails here, once, not mid-scan.
 */
static struct {
        __typeof__(nbd_create) *create;
        __typeof__(nbd_close) *close;
        __typeof__(nbd_pread) *pread;
        __typeof__(nbd_get_errno) *get_errno;
        __typeof__(nbd_get_error) *get_error;
        __typeof__(nbd_get_strict_mode) *get_strict_mode;
        __typeof__(nbd_set_strict_mode) *set_strict_mode;
        __typeof__(nbd_connect_command) *connect_command;
        __typeof__(nbd_get_size) *get_size;
} nbd;
static pthread_once_t nbd_once = PTHREAD_ONCE_INIT;
static int nbd_loaded;  /* 1, or -errno once the load failed */

static void nbd_load(void)
{
        /* Test hook: another name, to see the refusal when it is missing. */
        const char *name = getenv("VHDCOMPACT_TEST_LIBNBD");
        void *h = dlopen(name && *name ? name : VC_LIBNBD_SONAME, RTLD_NOW | RTLD_LOCAL);

        if (!h) {
                vc_debug("attach: cannot load " VC_LIBNBD_SONAME ": %s", dlerror());
                nbd_loaded = -ELIBACC;
                return;
        }
#define NBD_SYM(f) ((*(void **) &nbd.f = dlsym(h, "nbd_" #f)) != NULL)
        if (!(NBD_SYM(create) && NBD_SYM(close) && NBD_SYM(pread) && NBD_SYM(get_errno) && NBD_SYM(get_error) &&
              NBD_SYM(get_strict_mode) && NBD_SYM(set_strict_mode) && NBD_SYM(connect_command) &&
              NBD_SYM(get_size))) {
                vc_debug("attach: " VC_LIBNBD_SONAME " lacks a call: %s", dlerror());
                nbd_loaded = -ELIBBAD;
                return;         /* the library stays loaded: harmless */
        }
#undef NBD_SYM
        nbd_loaded = 1;
}

static int nbd_source_pread(void *ctx, void *buf, size_t count, uint64_t offset)
{
        struct vc_attach *a = ctx;
        uint8_t *p = buf;

        while (count > 0) {
                size_t n = MIN(count, (size_t) ATTACH_MAX_REQUEST);
                if (nbd.pread(a->nbd, p, n, offset, 0) < 0) {
                        int e = nbd.get_errno();
                        vc_debug("attach: nbd_pread at %llu: %s", (unsigned long long) offset,
                                 nbd.get_error());
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
                nbd.close(a->nbd);
        free(a);
}

int vc_attach_open(const char *path, bool nolock, struct vc_attach **ret, struct vc_source *ret_src)
{
        const char *plugin = vc_attach_plugin_path();
        _cleanup_free_ char *file_arg = NULL;
        int64_t size;

        if (access(plugin, R_OK) < 0 && strchr(plugin, '/'))
                return -ENOENT;
        (void) pthread_once(&nbd_once, nbd_load);
        if (nbd_loaded < 0)
                return nbd_loaded;
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
        a->nbd = nbd.create();
        if (!a->nbd) {
                free(a);
                return -ENOMEM;
        }
        /* Our plugin advertises the disk's logical sector as the minimum
         * block size, but serves any offset and length (as nbdkit 1.32
         * lets it); the scan reads structures of any size, so libnbd must
         * not refuse unaligned requests itself. */
        nbd.set_strict_mode(a->nbd, nbd.get_strict_mode(a->nbd) & ~(uint32_t) LIBNBD_STRICT_ALIGN);
        if (nbd.connect_command(a->nbd, argv) < 0) {
                int e = nbd.get_errno();
                vc_debug("attach: cannot start nbdkit for '%s': %s", path, nbd.get_error());
                vc_attach_close(a);
                return e == ENOENT ? -ENOENT : -EIO;
        }
        size = nbd.get_size(a->nbd);
        if (size < 0) {
                vc_debug("attach: nbd_get_size: %s", nbd.get_error());
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
