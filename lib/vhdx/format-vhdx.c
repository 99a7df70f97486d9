/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * VHDX behind the image-format seam (lib/image/image.h): the probe, the
 * describe hook `vhdctl info` renders, and the table that maps the
 * generic operations onto lib/vhdx's own.  Fixed and dynamic VHDX are
 * written (lib/vhdx/write.c); compacted through vhdx_compact_ops
 * (lib/vhdx/compact-*.c).
 *
 * Probe: every VHDX starts with "vhdxfile", so that scores 100 and
 * anything else 0 (VHD, the format of last resort, then speaks).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../image/image.h"
#include "../image/names.h"
#include "../util/endian.h"
#include "vhdx.h"
#include "vhdx-compact.h"

static int vhdx_probe(const uint8_t *head, size_t len, uint64_t file_size)
{
        (void) file_size;
        return len >= 8 && !memcmp(head, VHDX_IDENT_SIGNATURE, 8) ? 100 : 0;
}

static unsigned vhdx_flags(unsigned flags)
{
        return (flags & VC_OPEN_RDWR ? VHDX_OPEN_RDWR : 0) | (flags & VC_OPEN_NOLOCK ? VHDX_OPEN_NOLOCK : 0) |
               (flags & VC_OPEN_NOPARENT ? VHDX_OPEN_NOPARENT : 0);
}

static int vhdx_open(int fd, const char *path, const struct vc_open_ctx *ctx, unsigned flags,
                     struct vc_problems *problems, void **ret_priv)
{
        struct vhdx_image *img = NULL;
        int r;

        r = vhdx_image_open_fd_ctx(fd, path, ctx, vhdx_flags(flags), problems, &img);
        if (r < 0)
                return r;
        *ret_priv = img;
        return 0;
}

static void vhdx_close(void *priv) { vhdx_image_free(priv); }

static int vhdx_check_op(int fd, const char *path, const struct vc_open_ctx *ctx, struct vc_problems *problems)
{
        return vhdx_check_fd_ctx(fd, path, ctx, problems);
}

/* --- describe ------------------------------------------------------------ */

_printf_(3, 4)
static void textf(const struct vc_describe *d, const char *label, const char *fmt, ...)
{
        char v[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(v, sizeof v, fmt, ap);
        va_end(ap);
        d->text(d->userdata, label, v);
}

static const char *log_state(const struct vhdx_header *h)
{
        if (!vhdx_guid_is_zero(h->log_guid))
                return "not empty (needs replay)";
        return h->log_length ? "empty" : "none";
}

static void describe_text(const struct vhdx_image *img, const struct vc_describe *d)
{
        const struct vhdx_headers *hs = vhdx_image_headers(img);
        const struct vhdx_regions *rs = vhdx_image_regions(img);
        const struct vhdx_metadata *m = vhdx_image_metadata(img);
        const struct vhdx_bat *b = vhdx_image_bat(img);
        const struct vhdx_header *h = &hs->h[hs->current];
        char g1[37], g2[37], g3[37], label[32];

        d->text(d->userdata, "file", vhdx_image_path(img));
        d->text(d->userdata, "format", "vhdx");
        d->text(d->userdata, "type", vhdx_image_kind(img));
        textf(d, "virtual size", "%" PRIu64 " bytes (%.2f GiB)", m->virtual_size, m->virtual_size / 1073741824.0);
        textf(d, "file size", "%" PRIu64 " bytes", vhdx_image_file_size(img));
        textf(d, "block size", "%" PRIu32 " bytes", m->block_size);
        textf(d, "sector size", "%" PRIu32 " logical, %" PRIu32 " physical", m->logical_sector_size,
              m->physical_sector_size);
        for (int s = 0; s < 2; s++) {
                snprintf(label, sizeof label, "header %d", s + 1);
                if (!hs->valid[s]) {
                        textf(d, label, "invalid (%s)", vc_problem_id_to_string(hs->why[s].id));
                        continue;
                }
                textf(d, label, "sequence %" PRIu64 "%s", hs->h[s].sequence, s == hs->current ? ", current" : "");
        }
        vhdx_guid_format(h->file_write_guid, g1);
        vhdx_guid_format(h->data_write_guid, g2);
        vhdx_guid_format(m->page83, g3);
        d->text(d->userdata, "file write guid", g1);
        d->text(d->userdata, "data write guid", g2);
        d->text(d->userdata, "virtual disk id", g3);
        textf(d, "log", "%s, %" PRIu32 " bytes at %" PRIu64, log_state(h), h->log_length, h->log_offset);
        for (uint32_t i = 0; i < rs->n; i++) {
                const char *name = vhdx_region_name(rs->v[i].guid);
                vhdx_guid_format(rs->v[i].guid, g1);
                snprintf(label, sizeof label, "region %" PRIu32, i);
                textf(d, label, "%s, %" PRIu32 " bytes at %" PRIu64 "%s", name ? name : g1, rs->v[i].length,
                      rs->v[i].offset, rs->v[i].required ? ", required" : "");
        }
        if (m->leave_allocated)
                d->text(d->userdata, "preallocated", "yes (LeaveBlockAllocated)");
        textf(d, "blocks", "%" PRIu64 " fully present, %" PRIu64 " zero, %" PRIu64 " not present, %" PRIu64
              " unmapped, %" PRIu64 " undefined, of %" PRIu64, b->count[VHDX_PAYLOAD_FULLY_PRESENT],
              b->count[VHDX_PAYLOAD_ZERO], b->count[VHDX_PAYLOAD_NOT_PRESENT], b->count[VHDX_PAYLOAD_UNMAPPED],
              b->count[VHDX_PAYLOAD_UNDEFINED], b->data_blocks);
        textf(d, "BAT offset", "%" PRIu64, b->offset);
        const struct vhdx_locator *loc = vhdx_image_locator(img);
        if (loc) {
                vhdx_guid_format(loc->linkage, g1);
                d->text(d->userdata, "parent linkage", g1);
                static const char *const labels[VHDX_LOC_N_PATHS] = { "parent relative", "parent volume",
                                                                      "parent absolute" };
                for (int k = 0; k < VHDX_LOC_N_PATHS; k++)
                        if (loc->path[k])
                                d->text(d->userdata, labels[k], loc->path[k]);
                int depth = 1;
                for (const struct vhdx_image *p = vhdx_image_parent(img); p; p = vhdx_image_parent(p), depth++) {
                        snprintf(label, sizeof label, "parent %d", depth);
                        textf(d, label, "%s (%s)", vhdx_image_path(p), vhdx_image_kind(p));
                }
                if (!vhdx_image_parent(img))
                        d->text(d->userdata, "parent 1", "not opened");
        }
}

static void describe_json(const struct vhdx_image *img, const struct vc_describe *d)
{
        const struct vhdx_headers *hs = vhdx_image_headers(img);
        const struct vhdx_regions *rs = vhdx_image_regions(img);
        const struct vhdx_metadata *m = vhdx_image_metadata(img);
        const struct vhdx_bat *b = vhdx_image_bat(img);
        const struct vhdx_header *h = &hs->h[hs->current];
        void *u = d->userdata;
        char g[37];

        d->string(u, "file", vhdx_image_path(img));
        d->string(u, "format", "vhdx");
        d->string(u, "type", vhdx_image_kind(img));
        d->number(u, "virtual-size", m->virtual_size);
        d->number(u, "file-size", vhdx_image_file_size(img));
        d->number(u, "block-size", m->block_size);
        d->number(u, "logical-sector-size", m->logical_sector_size);
        d->number(u, "physical-sector-size", m->physical_sector_size);
        d->boolean(u, "leave-blocks-allocated", m->leave_allocated);
        d->boolean(u, "has-parent", m->has_parent);
        vhdx_guid_format(m->page83, g);
        d->string(u, "virtual-disk-id", g);
        d->number(u, "current-header", (uint64_t) hs->current + 1);
        d->begin(u, "headers", true);
        for (int s = 0; s < 2; s++) {
                const struct vhdx_header *x = &hs->h[s];
                d->begin(u, NULL, false);
                d->number(u, "slot", (uint64_t) s + 1);
                d->boolean(u, "valid", hs->valid[s]);
                d->boolean(u, "current", s == hs->current);
                if (hs->valid[s]) {
                        d->number(u, "sequence-number", x->sequence);
                        vhdx_guid_format(x->file_write_guid, g);
                        d->string(u, "file-write-guid", g);
                        vhdx_guid_format(x->data_write_guid, g);
                        d->string(u, "data-write-guid", g);
                        vhdx_guid_format(x->log_guid, g);
                        d->string(u, "log-guid", g);
                        d->number(u, "log-offset", x->log_offset);
                        d->number(u, "log-length", x->log_length);
                } else
                        d->string(u, "problem", vc_problem_id_to_string(hs->why[s].id));
                d->end(u, false);
        }
        d->end(u, true);
        d->begin(u, "log", false);
        d->string(u, "state", vhdx_guid_is_zero(h->log_guid) ? (h->log_length ? "empty" : "none") : "needs-replay");
        d->number(u, "offset", h->log_offset);
        d->number(u, "length", h->log_length);
        d->end(u, false);
        d->number(u, "region-table-used", (uint64_t) rs->used + 1);
        d->begin(u, "regions", true);
        for (uint32_t i = 0; i < rs->n; i++) {
                const char *name = vhdx_region_name(rs->v[i].guid);
                d->begin(u, NULL, false);
                vhdx_guid_format(rs->v[i].guid, g);
                d->string(u, "guid", g);
                d->string(u, "name", name);
                d->number(u, "offset", rs->v[i].offset);
                d->number(u, "length", rs->v[i].length);
                d->boolean(u, "required", rs->v[i].required);
                d->end(u, false);
        }
        d->end(u, true);
        d->number(u, "bat-offset", b->offset);
        d->number(u, "bat-entries", b->n_entries);
        d->number(u, "chunk-ratio", b->chunk_ratio);
        d->number(u, "blocks-total", b->data_blocks);
        d->number(u, "blocks-allocated", b->count[VHDX_PAYLOAD_FULLY_PRESENT]);
        d->begin(u, "blocks-by-state", false);
        for (unsigned s = 0; s < 8; s++)
                if (s != 4 && s != 5)
                        d->number(u, vhdx_payload_state_name(s), b->count[s]);
        d->end(u, false);
        const struct vhdx_locator *loc = vhdx_image_locator(img);
        if (loc) {
                d->begin(u, "parent-locator", false);
                vhdx_guid_format(loc->linkage, g);
                d->string(u, "parent_linkage", g);
                if (loc->has_linkage2) {
                        vhdx_guid_format(loc->linkage2, g);
                        d->string(u, "parent_linkage2", g);
                }
                for (int k = 0; k < VHDX_LOC_N_PATHS; k++)
                        d->string(u, vhdx_locator_key_name(k), loc->path[k]);
                d->end(u, false);
                /* The chain, each parent described as the child is. */
                if (vhdx_image_parent(img)) {
                        d->begin(u, "parent", false);
                        describe_json(vhdx_image_parent(img), d);
                        d->end(u, false);
                } else
                        d->string(u, "parent", NULL);
        }
}

static void vhdx_describe(void *priv, const struct vc_describe *d)
{
        describe_text(priv, d);
        describe_json(priv, d);
}

/* --- the table ----------------------------------------------------------- */

static int op_pread(void *p, void *buf, size_t n, uint64_t off) { return vhdx_image_pread(p, buf, n, off); }
static int op_pwrite(void *p, const void *buf, size_t n, uint64_t off) { return vhdx_image_pwrite(p, buf, n, off); }
static int op_zero(void *p, size_t n, uint64_t off) { return vhdx_image_zero(p, n, off); }
static int op_trim(void *p, size_t n, uint64_t off) { return vhdx_image_trim(p, n, off); }
static int op_flush(void *p) { return vhdx_image_flush(p); }

static int op_extents(void *p, uint64_t off, uint64_t n, vc_extent_fn f, void *userdata)
{
        return vhdx_image_extents(p, off, n, f, userdata);
}

static unsigned op_willneed(void *p, uint64_t off, uint64_t n) { return vhdx_image_willneed(p, off, n); }
static int op_fd(void *p) { return vhdx_image_fd(p); }
static uint64_t op_virtual_size(void *p) { return vhdx_image_metadata(p)->virtual_size; }
static uint64_t op_file_size(void *p) { return vhdx_image_file_size(p); }
static uint32_t op_sector_size(void *p) { return vhdx_image_metadata(p)->logical_sector_size; }
static uint32_t op_n_blocks(void *p) { return (uint32_t) vhdx_image_bat(p)->data_blocks; }
static uint32_t op_block_size(void *p) { return vhdx_image_metadata(p)->block_size; }
static uint64_t op_block_file_bytes(void *p) { return vhdx_image_metadata(p)->block_size; }
/* A block with a payload in the file: a child's partially present block
 * too (its free sectors may be dropped, its block moved). */
static bool op_block_allocated(void *p, uint32_t b)
{
        uint64_t s = vhdx_image_block_state(p, b);
        return s == VHDX_PAYLOAD_FULLY_PRESENT || s == VHDX_PAYLOAD_PARTIALLY_PRESENT;
}
static uint32_t op_blocks_allocated(void *p)
{
        const struct vhdx_bat *bat = vhdx_image_bat(p);
        return (uint32_t) (bat->count[VHDX_PAYLOAD_FULLY_PRESENT] + bat->count[VHDX_PAYLOAD_PARTIALLY_PRESENT]);
}
static const char *op_kind(void *p) { return vhdx_image_kind(p); }

const struct vc_image_format vc_image_format_vhdx = {
        .name = "vhdx",
        .suffixes = vc_image_suffixes_vhdx,
        .probe = vhdx_probe,
        .open = vhdx_open,
        .close = vhdx_close,
        .check = vhdx_check_op,
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
        .describe = vhdx_describe,
        .compact = &vhdx_compact_ops,
};
