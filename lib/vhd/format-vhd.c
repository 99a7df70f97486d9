/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * VHD behind the image-format seam (lib/image/image.h): the probe, the
 * describe hook `vhdctl info` renders, the refusals and the child test of
 * the compaction, and, last, the table that maps the generic operations
 * onto lib/vhd's own.
 *
 * Probe: a dynamic or differencing VHD has a copy of its footer, cookie
 * "conectix", at offset 0; a fixed VHD has nothing there (its only
 * structure is the footer at the end).  So a cookie at 0 scores high, and
 * anything else scores 1: VHD is the format of last resort, whose parser
 * then says what is wrong with the file.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../image/image.h"
#include "../image/names.h"
#include "../util/endian.h"
#include "../util/fd-util.h"
#include "../util/macro.h"
#include "image-internal.h"
#include "vhd-compact.h"

static const char cookie[8] = { 'c', 'o', 'n', 'e', 'c', 't', 'i', 'x' };

static int vhd_probe(const uint8_t *head, size_t len, uint64_t file_size)
{
        (void) file_size;
        return len >= sizeof cookie && !memcmp(head, cookie, sizeof cookie) ? 100 : 1;
}

static unsigned vhd_flags(unsigned flags)
{
        return (flags & VC_OPEN_RDWR ? VHD_OPEN_RDWR : 0) | (flags & VC_OPEN_NOLOCK ? VHD_OPEN_NOLOCK : 0) |
               (flags & VC_OPEN_NOPARENT ? VHD_OPEN_NOPARENT : 0);
}

static int vhd_open(int fd, const char *path, const struct vc_open_ctx *ctx, unsigned flags,
                    struct vc_problems *problems, void **ret_priv)
{
        struct vhd_image *img = NULL;
        int r = vhd_image_open_fd_depth(fd, path, ctx, vhd_flags(flags), 0, NULL, problems, &img);

        if (r < 0)
                return r;
        *ret_priv = img;
        return 0;
}

static void vhd_close(void *priv) { vhd_image_free(priv); }

/* --- describe: what the footer and header say ------------------------- */

static void fmt_uuid(const uint8_t u[16], char out[37])
{
        snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
                 u[13], u[14], u[15]);
}

static void fmt_time(uint32_t vhd_seconds, char out[32])
{
        time_t t = (time_t) vhd_seconds + VHD_EPOCH_OFFSET;
        struct tm tm;

        gmtime_r(&t, &tm);
        strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void fmt_os(uint32_t os, char out[5])
{
        for (int i = 0; i < 4; i++) {
                char c = (char) (os >> (24 - 8 * i));
                out[i] = c >= 0x20 && c < 0x7f ? c : '?';
        }
        out[4] = 0;
}

static void fmt_app(const char *app, char out[5])
{
        for (int i = 0; i < 4; i++)
                out[i] = app[i] >= 0x20 && app[i] < 0x7f ? app[i] : (app[i] ? '?' : ' ');
        out[4] = 0;
}

_printf_(3, 4)
static void textf(const struct vc_describe *d, const char *label, const char *fmt, ...)
{
        char v[4096 + 512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(v, sizeof v, fmt, ap);
        va_end(ap);
        d->text(d->userdata, label, v);
}

static void describe_text(const struct vhd_image *img, const struct vc_describe *d)
{
        const struct vhd_footer *f = vhd_image_footer(img);
        const struct vhd_dyn_header *h = vhd_image_dyn_header(img);
        struct vhd_geometry g = { f->cylinders, f->heads, f->sectors };
        char uuid[37], when[32], os[5], app[5], label[32];

        fmt_uuid(f->unique_id, uuid);
        fmt_time(f->timestamp, when);
        fmt_os(f->creator_os, os);
        fmt_app(f->creator_app, app);
        d->text(d->userdata, "file", vhd_image_path(img));
        d->text(d->userdata, "type", vhd_disk_type_to_string(f->disk_type));
        textf(d, "virtual size", "%" PRIu64 " bytes (%.2f GiB)", vhd_image_virtual_size(img),
              vhd_image_virtual_size(img) / 1073741824.0);
        textf(d, "original size", "%" PRIu64 " bytes", f->original_size);
        textf(d, "geometry", "%u/%u/%u (C/H/S) = %" PRIu64 " bytes", f->cylinders, f->heads, f->sectors,
              vhd_geometry_size(g));
        if (vhd_footer_qemu_size(f) != vhd_image_virtual_size(img))
                textf(d, "note", "qemu sizes this disk by CHS: %" PRIu64 " bytes", vhd_footer_qemu_size(f));
        textf(d, "file size", "%" PRIu64 " bytes", vhd_image_file_size(img));
        textf(d, "creator", "'%s' version %u.%u on '%s'", app, f->creator_version >> 16,
              f->creator_version & 0xffff, os);
        d->text(d->userdata, "created", when);
        d->text(d->userdata, "unique id", uuid);
        d->text(d->userdata, "saved state", f->saved_state ? "yes" : "no");
        if (f->features & VHD_FEATURE_TEMPORARY)
                d->text(d->userdata, "temporary", "yes");
        if (!h)
                return;
        textf(d, "block size", "%u bytes", h->block_size);
        textf(d, "blocks", "%u allocated of %u", vhd_image_blocks_allocated(img), vhd_image_n_blocks(img));
        textf(d, "BAT offset", "%" PRIu64, h->table_offset);
        if (f->disk_type != VHD_TYPE_DIFFERENCING)
                return;
        fmt_uuid(h->parent_uuid, uuid);
        fmt_time(h->parent_timestamp, when);
        d->text(d->userdata, "parent name", h->parent_name);
        d->text(d->userdata, "parent id", uuid);
        d->text(d->userdata, "parent time", when);
        for (unsigned i = 0; i < VHD_DYN_N_LOCATORS; i++)
                if (h->locators[i].code != VHD_LOC_NONE) {
                        snprintf(label, sizeof label, "locator %u", i);
                        textf(d, label, "%s, %u bytes at %" PRIu64, vhd_locator_code_to_string(h->locators[i].code),
                              h->locators[i].data_length, h->locators[i].data_offset);
                }
        int depth = 1;
        for (const struct vhd_image *p = vhd_image_parent(img); p; p = vhd_image_parent(p), depth++) {
                fmt_uuid(vhd_image_footer(p)->unique_id, uuid);
                snprintf(label, sizeof label, "parent %d", depth);
                textf(d, label, "%s (%s, id %s)", vhd_image_path(p),
                      vhd_disk_type_to_string(vhd_image_footer(p)->disk_type), uuid);
        }
}

/* The members of one image's JSON object (the caller opened it). */
static void describe_json(const struct vhd_image *img, const struct vc_describe *d)
{
        const struct vhd_footer *f = vhd_image_footer(img);
        const struct vhd_dyn_header *h = vhd_image_dyn_header(img);
        void *u = d->userdata;
        char uuid[37], when[32], os[5], app[5];

        fmt_uuid(f->unique_id, uuid);
        fmt_time(f->timestamp, when);
        fmt_os(f->creator_os, os);
        fmt_app(f->creator_app, app);
        d->string(u, "file", vhd_image_path(img));
        d->string(u, "type", vhd_disk_type_to_string(f->disk_type));
        d->number(u, "virtual-size", vhd_image_virtual_size(img));
        d->number(u, "qemu-virtual-size", vhd_footer_qemu_size(f));
        d->number(u, "original-size", f->original_size);
        d->begin(u, "geometry", false);
        d->number(u, "cylinders", f->cylinders);
        d->number(u, "heads", f->heads);
        d->number(u, "sectors", f->sectors);
        d->end(u, false);
        d->number(u, "file-size", vhd_image_file_size(img));
        d->string(u, "creator-app", app);
        d->number(u, "creator-version", f->creator_version);
        d->string(u, "creator-os", os);
        d->string(u, "created", when);
        d->string(u, "unique-id", uuid);
        d->boolean(u, "saved-state", f->saved_state);
        d->boolean(u, "temporary", f->features & VHD_FEATURE_TEMPORARY);
        if (h) {
                d->number(u, "block-size", h->block_size);
                d->number(u, "blocks-allocated", vhd_image_blocks_allocated(img));
                d->number(u, "blocks-total", vhd_image_n_blocks(img));
                d->number(u, "bat-offset", h->table_offset);
        }
        if (h && f->disk_type == VHD_TYPE_DIFFERENCING) {
                fmt_uuid(h->parent_uuid, uuid);
                fmt_time(h->parent_timestamp, when);
                d->string(u, "parent-name", h->parent_name);
                d->string(u, "parent-unique-id", uuid);
                d->string(u, "parent-timestamp", when);
                d->begin(u, "parent-locators", true);
                for (unsigned i = 0; i < VHD_DYN_N_LOCATORS; i++) {
                        const struct vhd_locator *l = &h->locators[i];
                        if (l->code == VHD_LOC_NONE)
                                continue;
                        d->begin(u, NULL, false);
                        d->string(u, "platform", vhd_locator_code_to_string(l->code));
                        d->number(u, "offset", l->data_offset);
                        d->number(u, "length", l->data_length);
                        d->end(u, false);
                }
                d->end(u, true);
                if (vhd_image_parent(img)) {
                        d->begin(u, "parent", false);
                        describe_json(vhd_image_parent(img), d);
                        d->end(u, false);
                } else
                        d->string(u, "parent", NULL);
        }
}

static void vhd_describe(void *priv, const struct vc_describe *d)
{
        describe_text(priv, d);
        describe_json(priv, d);
}

/* --- compaction: refusals and the child test ---------------------------- */

static int vhd_refuse(struct vc_image *gimg, bool writing, struct vc_problems *problems)
{
        const struct vhd_image *img = vc_image_priv(gimg);
        const struct vhd_footer *f = vhd_image_footer(img);

        if (f->disk_type == VHD_TYPE_FIXED)
                return vc_problem_add(problems, VC_PROBLEM_NOT_SUPPORTED, -EOPNOTSUPP, "footer.disk_type",
                                      vhd_image_file_size(img) - VHD_FOOTER_SIZE + VHD_FOOTER_OFF_DISK_TYPE,
                                      "a fixed disk has no blocks to drop; only dynamic and differencing disks can be compacted");
        if (writing && f->saved_state)
                return vc_problem_add(problems, VC_PROBLEM_SAVED_STATE, -EPERM, "footer.saved_state",
                                      vhd_image_file_size(img) - VHD_FOOTER_SIZE + VHD_FOOTER_OFF_SAVED_STATE,
                                      "the disk belongs to a saved virtual machine state; it must not be compacted");
        return 0;
}

/* Whether the file p has a footer, or a copy of one, that says it is a
 * differencing disk, checksum or not: the cookie "conectix" and disk type
 * 4 at offset 0, 512 bytes before the end, or 511 (the footer of old
 * Virtual PC).  1 yes, 0 no, or a negative errno. */
static int says_differencing(const struct vc_open_ctx *ctx, const char *p)
{
        uint8_t buf[VHD_FOOTER_OFF_DISK_TYPE + 4];
        struct stat st;
        int fd, r = 0;

        fd = vc_open_path(ctx, p, false);
        if (fd == -ENOENT || fd == -ENOTDIR || fd == -EBADFD)
                return 0;
        if (fd < 0)
                return fd;
        if (fstat(fd, &st) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        uint64_t size = (uint64_t) st.st_size;
        const uint64_t at[3] = { 0, size >= 512 ? size - 512 : UINT64_MAX, size >= 511 ? size - 511 : UINT64_MAX };
        for (unsigned i = 0; i < 3 && r == 0; i++) {
                if (at[i] == UINT64_MAX || at[i] + sizeof buf > size)
                        continue;
                int k = pread_full(fd, buf, sizeof buf, at[i]);
                if (k < 0)
                        r = k;
                else if (!memcmp(buf, cookie, sizeof cookie) &&
                         get_be32(buf + VHD_FOOTER_OFF_DISK_TYPE) == VHD_TYPE_DIFFERENCING)
                        r = 1;
        }
        close(fd);
        return r;
}

/* Does the candidate p name a child of img?  1 yes, 0 no (certainly not:
 * see compact.c on the child-safety rule), or a negative errno with a
 * problem. */
static int vhd_child_of(struct vc_image *gimg, const char *p, const struct vc_open_ctx *run_ctx,
                        struct vc_problems *problems)
{
        const struct vhd_image *img = vc_image_priv(gimg);
        /* The run's opener only: its fd and dir_fd are the disk's. */
        const struct vc_open_ctx ctx = { .opener = run_ctx ? run_ctx->opener : NULL,
                                         .userdata = run_ctx ? run_ctx->userdata : NULL,
                                         .fd = VC_BY_NAME, .dir_fd = VC_BY_NAME };
        struct vc_problems quiet = { .collect = false };
        struct vhd_image *c = NULL;
        int r;

        r = vhd_image_open_ctx(p, &ctx, VHD_OPEN_NOLOCK | VHD_OPEN_NOPARENT, &quiet, &c);
        if (r == -ENOENT || r == -ENOTDIR || r == -EBADFD)
                return 0;
        if (r < 0 && vc_problems_any(&quiet) && quiet.first.id != VC_PROBLEM_IO &&
            quiet.first.id != VC_PROBLEM_ACCESS_DENIED) {
                /* Read, and refused by our parser.  A file none of whose
                 * footers says "differencing" is certainly not a child; one
                 * that says so is a child we do not understand (damaged, or
                 * of a kind we refuse), and may well be this disk's. */
                int k = says_differencing(&ctx, p);
                if (k == 0)
                        return 0;
                return vc_problem_add(problems, k == -EIO ? VC_PROBLEM_IO : VC_PROBLEM_NOT_SUPPORTED,
                                      k < 0 ? k : -EBUSY, NULL, 0,
                                      "'%s' %s (%s at offset %llu), so it may be a differencing child of this "
                                      "disk; only --mode zero is allowed (or force-children)", p,
                                      k < 0 ? "cannot be read" : "is a differencing VHD that cannot be opened",
                                      vc_problem_id_to_string(quiet.first.id),
                                      (unsigned long long) quiet.first.offset);
        }
        /* An I/O error says so (a run again may pass); anything else is
         * a candidate that stays unknown. */
        if (r < 0)
                return vc_problem_add(problems, r == -EIO ? VC_PROBLEM_IO : VC_PROBLEM_NOT_SUPPORTED, r, NULL, 0,
                                      "cannot read '%s' to tell whether it is a differencing child of this "
                                      "disk (%s); only --mode zero is allowed (or force-children); nothing "
                                      "was written", p, r == -EPERM ? "refused" : strerror(-r));
        const struct vhd_dyn_header *h = vhd_image_dyn_header(c);
        bool mine = h && vhd_image_footer(c)->disk_type == VHD_TYPE_DIFFERENCING &&
                    !memcmp(h->parent_uuid, vhd_image_footer(img)->unique_id, 16);
        vhd_image_free(c);
        return mine;
}

/* A differencing disk's dropped block shows its parent's range. */
static uint64_t vhd_below_size(struct vc_image *gimg)
{
        const struct vhd_image *img = vc_image_priv(gimg);

        if (vhd_image_footer(img)->disk_type != VHD_TYPE_DIFFERENCING || !vhd_image_parent(img))
                return 0;
        return vhd_image_virtual_size(vhd_image_parent(img));
}

static int vhd_read_below(struct vc_image *gimg, void *buf, size_t count, uint64_t offset)
{
        const struct vhd_image *img = vc_image_priv(gimg);

        return vhd_image_pread((struct vhd_image *) vhd_image_parent(img), buf, count, offset);
}

static const struct vc_compact_ops vhd_compact_ops = {
        .refuse = vhd_refuse,
        .child_of = vhd_child_of,
        .layout = vhd_compact_layout,
        .verify_unchanged = vhd_compact_verify_unchanged,
        .below_size = vhd_below_size,
        .read_below = vhd_read_below,
        .release = vhd_compact_release,
        .repoint = vhd_compact_repoint,
        .finish = vhd_compact_finish,
        .tail_end = vhd_compact_tail_end,
        .tail_prepare = vhd_compact_tail_prepare,
};

/* --- the table ----------------------------------------------------------- */

static int vhd_check_op(int fd, const char *path, const struct vc_open_ctx *ctx, struct vc_problems *problems)
{
        return vhd_check_fd(fd, path, ctx, problems);
}

static int op_pread(void *p, void *buf, size_t n, uint64_t off) { return vhd_image_pread(p, buf, n, off); }
static int op_pwrite(void *p, const void *buf, size_t n, uint64_t off) { return vhd_image_pwrite(p, buf, n, off); }
static int op_zero(void *p, size_t n, uint64_t off) { return vhd_image_zero(p, n, off); }
static int op_trim(void *p, size_t n, uint64_t off) { return vhd_image_trim(p, n, off); }
static int op_flush(void *p) { return vhd_image_flush(p); }

static int op_extents(void *p, uint64_t off, uint64_t n, vc_extent_fn f, void *userdata)
{
        return vhd_image_extents(p, off, n, f, userdata);
}

static unsigned op_willneed(void *p, uint64_t off, uint64_t n) { return vhd_image_willneed(p, off, n); }
static int op_fd(void *p) { return vhd_image_fd(p); }
static uint64_t op_virtual_size(void *p) { return vhd_image_virtual_size(p); }
static uint64_t op_file_size(void *p) { return vhd_image_file_size(p); }
static uint32_t op_sector_size(void *p) { (void) p; return VHD_SECTOR_SIZE; }
static uint32_t op_n_blocks(void *p) { return vhd_image_n_blocks(p); }
static uint32_t op_block_size(void *p) { return vhd_image_block_size(p); }
static uint64_t op_block_file_bytes(void *p) { return vhd_image_block_stride(p); }
static bool op_block_allocated(void *p, uint32_t b) { return vhd_image_bat_entry(p, b) != VHD_BAT_UNUSED; }
static uint32_t op_blocks_allocated(void *p) { return vhd_image_blocks_allocated(p); }
static const char *op_kind(void *p) { return vhd_disk_type_to_string(vhd_image_footer(p)->disk_type); }

const struct vc_image_format vc_image_format_vhd = {
        .name = "vhd",
        .suffixes = vc_image_suffixes_vhd,
        .probe = vhd_probe,
        .open = vhd_open,
        .close = vhd_close,
        .check = vhd_check_op,
        .pread = op_pread,
        .pwrite = op_pwrite,
        .zero = op_zero,
        .trim = op_trim,
        .flush = op_flush,
        .extents = op_extents,
        .willneed = op_willneed,
        .fd = op_fd,
        .virtual_size = op_virtual_size,
        .file_size = op_file_size,
        .logical_sector_size = op_sector_size,
        .n_blocks = op_n_blocks,
        .block_size = op_block_size,
        .block_file_bytes = op_block_file_bytes,
        .block_allocated = op_block_allocated,
        .blocks_allocated = op_blocks_allocated,
        .kind = op_kind,
        .describe = vhd_describe,
        .compact = &vhd_compact_ops,
};
