/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nbdkit-vhd-plugin: serve a VHD image (fixed, dynamic or differencing) over
 * NBD.  This file holds only the nbdkit callbacks; it holds a generic image
 * (lib/image/image.h), and every piece of format knowledge lives behind
 * it, in lib/vhd.  The format is told from the file's content.
 *
 * One image, opened once.  The image is opened and validated in .get_ready,
 * before nbdkit accepts any client, and the same struct vc_image serves
 * every connection until .unload.  That is what makes the OFD lock mean
 * something (it is held for the whole life of the server, not per client),
 * and it is safe because the library is thread-safe: a reader holds the BAT
 * read lock only for its lookup and block allocation holds it exclusively.
 * Hence NBDKIT_THREAD_MODEL_PARALLEL and no per-connection handle.
 *
 * Opening read-write is the default, as with nbdkit-file-plugin.  `nbdkit -r`
 * alone does not change how the file is opened (the plugin cannot know about
 * -r in .get_ready); readonly=1 opens it O_RDONLY with a shared lock, so
 * several readers may serve the same file, and only then is multi-conn
 * advertised.
 *
 * Errors: data callbacks report with nbdkit_error naming the library call
 * and hand the library's negative errno to nbdkit_set_error, so
 * .errno_is_preserved stays 0.  The library's debug hook goes to
 * nbdkit_debug, so `nbdkit -v` shows what lib/vhd decided and why.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "config.h"
#include "util/log.h"
#include "util/problem.h"
#include "image/image.h"
#include "image/open.h"

/* -D vhd.open=1: log the image's geometry and layout when it is opened. */
NBDKIT_DLL_PUBLIC int vhd_debug_open = 0;

static char *filename;          /* absolute, from file= */
static char *parent_path;       /* absolute, from parent= (image/open.h) */
static bool readonly;           /* readonly= */
static bool use_lock = true;    /* lock= */
static struct vc_image *image;  /* shared by all connections */

static void log_to_nbdkit(const char *msg)
{
        nbdkit_debug("%s", msg);
}

/* Reports a failed library call from a data callback. */
static int fail(const char *call, int r)
{
        errno = -r;
        nbdkit_error("%s: %m", call);
        nbdkit_set_error(-r);
        return -1;
}

static void vhd_load(void)
{
        vc_log_set_func(log_to_nbdkit);
}

static void vhd_unload(void)
{
        if (image)
                nbdkit_debug("vhd: read-ahead hints issued: %" PRIu64, vc_image_prefetch_hints(image));
        image = vc_image_free(image);
        free(filename);
        free(parent_path);
        filename = NULL;
        vc_log_set_func(NULL);
}

static int parse_bool(const char *value, bool *ret)
{
        int r = nbdkit_parse_bool(value);

        if (r < 0)
                return -1;      /* nbdkit_parse_bool has reported it */
        *ret = r;
        return 0;
}

static int vhd_config(const char *key, const char *value)
{
        if (strcmp(key, "file") == 0) {
                free(filename);
                /* nbdkit changes to / when it daemonizes: keep an absolute
                 * path, and say now if it does not exist. */
                filename = nbdkit_realpath(value);
                return filename ? 0 : -1;
        }
        if (strcmp(key, "parent") == 0) {
                free(parent_path);
                parent_path = nbdkit_realpath(value);
                return parent_path ? 0 : -1;
        }
        if (strcmp(key, "readonly") == 0)
                return parse_bool(value, &readonly);
        if (strcmp(key, "lock") == 0)
                return parse_bool(value, &use_lock);
        nbdkit_error("unknown parameter '%s'", key);
        return -1;
}

static int vhd_config_complete(void)
{
        if (!filename) {
                nbdkit_error("you must supply the file=<FILENAME> parameter");
                return -1;
        }
        return 0;
}

#define vhd_config_help \
        "[file=]<FILENAME>   (required) The VHD or VHDX image (fixed, dynamic or differencing).\n" \
        "parent=<FILENAME>   The parent of a differencing image, when its locators do not lead to it.\n" \
        "readonly=<BOOL>     Open the image read-only (default false).\n" \
        "lock=<BOOL>         Lock the image against other writers (default true)."

static void vhd_dump_plugin(void)
{
        printf("vhd_version=%s\n", PACKAGE_VERSION);
}

static void debug_line(void *userdata, const char *label, const char *value)
{
        nbdkit_debug("vhd: %s: %s", label, value);
}

static void debug_ignore_string(void *userdata, const char *key, const char *value) {}
static void debug_ignore_number(void *userdata, const char *key, uint64_t value) {}
static void debug_ignore_bool(void *userdata, const char *key, bool value) {}
static void debug_ignore_begin(void *userdata, const char *key, bool array) {}
static void debug_ignore_end(void *userdata, bool array) {}

/* What `vhdctl info` says, one debug line each. */
static void debug_geometry(void)
{
        const struct vc_describe d = {
                .text = debug_line,
                .string = debug_ignore_string,
                .number = debug_ignore_number,
                .boolean = debug_ignore_bool,
                .begin = debug_ignore_begin,
                .end = debug_ignore_end,
        };

        nbdkit_debug("vhd: '%s': format %s", filename, vc_image_format(image)->name);
        vc_image_describe(image, &d);
}

static int vhd_get_ready(void)
{
        struct vc_problems problems = { .collect = false };
        unsigned flags = (readonly ? 0 : VC_OPEN_RDWR) | (use_lock ? 0 : VC_OPEN_NOLOCK);
        struct vc_open_ctx ctx = VC_OPEN_CTX_INIT;
        int r;

        ctx.parent_path = parent_path;
        r = vc_image_open(filename, &ctx, flags, &problems, &image);
        if (r < 0) {
                char msg[512];

                if (vc_problems_any(&problems))
                        vc_problem_format(&problems.first, msg, sizeof msg);
                else
                        snprintf(msg, sizeof msg, "%s", strerror(-r));
                vc_problems_done(&problems);

                if (!readonly && (r == -EACCES || r == -EROFS || r == -EPERM))
                        nbdkit_error("vhd: '%s': cannot open read-write: %s "
                                     "(add readonly=1 to export it read-only)",
                                     filename, msg);
                else
                        nbdkit_error("vhd: '%s': %s", filename, msg);
                return -1;
        }
        vc_problems_done(&problems);
        if (vhd_debug_open)
                debug_geometry();
        return 0;
}

static void *vhd_open(int readonly_conn)
{
        return NBDKIT_HANDLE_NOT_NEEDED;
}

static int64_t vhd_get_size(void *handle)
{
        return (int64_t) vc_image_virtual_size(image);
}

static int vhd_can_write(void *handle)
{
        return !readonly;
}

static int vhd_can_flush(void *handle)
{
        return 1;
}

static int vhd_can_trim(void *handle)
{
        return 1;
}

static int vhd_can_zero(void *handle)
{
        return 1;
}

static int vhd_can_fua(void *handle)
{
        return NBDKIT_FUA_EMULATE;
}

/* Every connection shares one image and one fd, and flush is fdatasync on
 * it, so a flush on one connection would cover the writes of all; we still
 * advertise multi-conn only read-only, which is what nbdkit-vhd-plugin(1) promises. */
static int vhd_can_multi_conn(void *handle)
{
        return readonly;
}

/* The disk's logical sector (512 or 4096 bytes) is the least and the
 * preferred unit of I/O, so that a client of a 4K-sector disk (a kernel
 * nbd device) shows 4096-byte sectors, as the guest sees them; requests
 * of any size up to nbdkit's limit are still served. */
static int vhd_block_size(void *handle, uint32_t *minimum, uint32_t *preferred, uint32_t *maximum)
{
        uint32_t ss = vc_image_logical_sector_size(image);

        if (ss < 512 || ss > 65536 || (ss & (ss - 1)))
                ss = 512;
        *minimum = ss;
        *preferred = ss;
        *maximum = 0xffffffff;
        return 0;
}

static int vhd_can_extents(void *handle)
{
        return 1;
}

static int vhd_pread(void *handle, void *buf, uint32_t count, uint64_t offset, uint32_t flags)
{
        int r = vc_image_pread(image, buf, count, offset);

        return r < 0 ? fail("vc_image_pread", r) : 0;
}

static int vhd_pwrite(void *handle, const void *buf, uint32_t count, uint64_t offset,
                      uint32_t flags)
{
        int r = vc_image_pwrite(image, buf, count, offset);

        return r < 0 ? fail("vc_image_pwrite", r) : 0;
}

static int vhd_flush(void *handle, uint32_t flags)
{
        int r = vc_image_flush(image);

        return r < 0 ? fail("vc_image_flush", r) : 0;
}

/* Whole blocks of a dynamic disk become unallocated either way; the rest
 * of the range is written with zeros where it may hold data.  NO_HOLE
 * (flags without MAY_TRIM) cannot be honoured more strictly than that:
 * an unallocated block *is* how a dynamic disk stores zeros. */
static int vhd_zero(void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
        int r = vc_image_zero(image, count, offset);

        return r < 0 ? fail("vc_image_zero", r) : 0;
}

static int vhd_trim(void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
        int r = vc_image_trim(image, count, offset);

        return r < 0 ? fail("vc_image_trim", r) : 0;
}

struct extents_ctx {
        struct nbdkit_extents *extents;
        bool req_one;
};

static int add_extent(uint64_t offset, uint64_t length, enum vc_extent_kind kind, void *userdata)
{
        struct extents_ctx *ctx = userdata;
        uint32_t type = kind == VC_EXTENT_HOLE_ZERO ? NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO : 0;

        if (nbdkit_add_extent(ctx->extents, offset, length, type) < 0)
                return errno > 0 ? -errno : -EIO;
        return ctx->req_one ? 1 : 0;    /* > 0 stops the walk */
}

static int vhd_extents(void *handle, uint32_t count, uint64_t offset, uint32_t flags,
                       struct nbdkit_extents *extents)
{
        struct extents_ctx ctx = {
                .extents = extents,
                .req_one = flags & NBDKIT_FLAG_REQ_ONE,
        };
        int r = vc_image_extents(image, offset, count, add_extent, &ctx);

        return r < 0 ? fail("vc_image_extents", r) : 0;
}

static struct nbdkit_plugin plugin = {
        .name = "vhd",
        .longname = "nbdkit VHD plugin (vhdcompact)",
        .version = PACKAGE_VERSION,
        .description = "Serve a Microsoft VHD image: fixed, dynamic or differencing",
        .load = vhd_load,
        .unload = vhd_unload,
        .config = vhd_config,
        .config_complete = vhd_config_complete,
        .config_help = vhd_config_help,
        .magic_config_key = "file",
        .dump_plugin = vhd_dump_plugin,
        .get_ready = vhd_get_ready,
        .open = vhd_open,
        .get_size = vhd_get_size,
        .can_write = vhd_can_write,
        .can_flush = vhd_can_flush,
        .can_trim = vhd_can_trim,
        .can_zero = vhd_can_zero,
        .can_fua = vhd_can_fua,
        .can_multi_conn = vhd_can_multi_conn,
        .can_extents = vhd_can_extents,
        .block_size = vhd_block_size,
        .pread = vhd_pread,
        .pwrite = vhd_pwrite,
        .flush = vhd_flush,
        .zero = vhd_zero,
        .trim = vhd_trim,
        .extents = vhd_extents,
        .errno_is_preserved = 0,
};

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

struct nbdkit_plugin *plugin_init(void); /* for -Wmissing-prototypes */
NBDKIT_REGISTER_PLUGIN(plugin)
