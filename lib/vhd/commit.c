/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * VHD's commits in the compaction's write order (image.h, struct
 * vc_compact_ops; the order itself is lib/compact/move.h's):
 *
 *   release  the BAT with the dropped entries unused
 *   repoint  the BAT entries of the moves that landed at their copies
 *   finish   the footer, unchanged, right after the new end
 *
 * and, when an image is opened read-write and a run was interrupted
 * before its cut (lib/image/finish-tail.c), tail_prepare: the same footer
 * at the new end, written only when it is not there already (the run
 * wrote and synced it before it stopped, mostly).
 *
 * The core syncs after each.  The BAT is rewritten whole, a piece at a
 * time, from the layout's copy of it (kept current here), so that memory
 * does not grow with the table.  And before any of that, the check that
 * the file is still the one the plan was made from: the OFD lock keeps
 * out every writer that takes locks (qemu, us), but not one that ignores
 * them; so right before the first write the file's size, its footer and
 * its BAT are read again and compared with what was planned, and any
 * difference refuses the run with file-changed, nothing written.  (A
 * writer that strikes after that check is beyond what a lock-ignoring
 * file can be protected from.)
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../util/endian.h"
#include "../util/fault.h"
#include "../util/fd-util.h"
#include "../util/macro.h"
#include "image-internal.h"
#include "vhd-compact.h"

#define BAT_CHUNK (64u << 10)

static int write_bat(struct vhd_image *img, const uint32_t *bat, uint32_t n, const char *step,
                     struct vc_problems *problems)
{
        uint64_t table_offset = img->dyn.table_offset;
        size_t bytes = ROUND_UP((size_t) n * 4, 512);
        _cleanup_free_ uint8_t *raw = malloc(BAT_CHUNK);
        int r;

        if (!raw)
                return -ENOMEM;
        /* A piece at a time, so that memory does not grow with the table
         * (16 MiB for 2040 GiB of 512 KiB blocks).  No atomicity is lost:
         * entries change from one valid value to another, and sectors are
         * the unit a crash can tear in any case.  The padding after the
         * last entry is rewritten as unused too, as Microsoft and qemu
         * leave it. */
        for (size_t at = 0; at < bytes; at += BAT_CHUNK) {
                size_t len = MIN((size_t) BAT_CHUNK, bytes - at);
                memset(raw, 0xFF, len);
                for (size_t i = at / 4; i < n && i < (at + len) / 4; i++)
                        put_be32(raw + 4 * i - at, bat[i]);
                r = pwrite_full(img->fd, raw, len, table_offset + at);
                if (r < 0)
                        return vc_problem_step_failed(problems, r, table_offset + at,
                                                      "%s: writing the BAT (%zu bytes at %zu)", step, len, at);
        }
        vc_fault_point("compact: BAT written");
        return 0;
}

int vhd_compact_release(struct vc_image *gimg, struct compact_layout *l, const struct compact_plan *p,
                        struct vc_problems *problems)
{
        for (uint32_t i = 0; i < p->n_drops; i++)
                l->at[p->drops[i]] = VHD_BAT_UNUSED;
        return write_bat(vc_image_priv(gimg), l->at, l->n_objects, "releasing blocks", problems);
}

int vhd_compact_repoint(struct vc_image *gimg, struct compact_layout *l, const struct compact_plan *p,
                        uint32_t first, uint32_t end, const bool *landed, struct vc_problems *problems)
{
        /* In any order: completion order is not plan order. */
        for (uint32_t i = first; i < end; i++)
                if (landed[i])
                        l->at[p->moves[i].block] = (uint32_t) (p->moves[i].to / VHD_SECTOR_SIZE);
        return write_bat(vc_image_priv(gimg), l->at, l->n_objects, "pointing the BAT at the copies", problems);
}

int vhd_compact_finish(struct vc_image *gimg, const struct compact_plan *p, struct vc_problems *problems)
{
        struct vhd_image *img = vc_image_priv(gimg);
        uint64_t end = p->final_size - VHD_FOOTER_SIZE;
        int r;

        r = pwrite_full(img->fd, img->footer.raw, VHD_FOOTER_SIZE, end);
        if (r < 0)
                return vc_problem_step_failed(problems, r, end, "truncating: writing the footer at the new end");
        vc_fault_point("compact: footer written");
        return 0;
}

int vhd_compact_verify_unchanged(struct vc_image *gimg, const struct compact_layout *layout,
                                 struct vc_problems *problems)
{
        struct vhd_image *img = vc_image_priv(gimg);
        uint64_t size_planned = layout->file_size;
        int fd = img->fd;
        uint64_t table = img->dyn.table_offset;
        size_t bytes = (size_t) layout->n_objects * 4;
        uint8_t footer[VHD_FOOTER_SIZE];
        struct stat st;
        int r;

        if (fstat(fd, &st) < 0)
                return vc_problem_add(problems, VC_PROBLEM_IO, -errno, NULL, 0,
                                      "before moving: fstat failed: %m; nothing was written");
        if ((uint64_t) st.st_size != size_planned)
                return vc_problem_add(problems, VC_PROBLEM_CHANGED, -ESTALE, NULL, 0,
                                      "the file changed during the run (%" PRIu64 " bytes when scanned, %" PRIu64
                                      " now): another program writes to it without taking its lock; nothing was written",
                                      size_planned, (uint64_t) st.st_size);
        r = pread_full(fd, footer, sizeof footer, size_planned - VHD_FOOTER_SIZE);
        if (r < 0)
                return vc_problem_add(problems, VC_PROBLEM_IO, r, NULL, size_planned - VHD_FOOTER_SIZE,
                                      "before moving: reading the footer again failed: %s; nothing was written",
                                      strerror(-r));
        if (memcmp(footer, img->footer.raw, sizeof footer))
                return vc_problem_add(problems, VC_PROBLEM_CHANGED, -ESTALE, "footer", size_planned - VHD_FOOTER_SIZE,
                                      "the footer changed during the run: another program writes to the file "
                                      "without taking its lock; nothing was written");
        /* A piece at a time: memory must not grow with the table. */
        const size_t chunk = 64 << 10;
        _cleanup_free_ uint8_t *raw = malloc(chunk);
        if (!raw)
                return -ENOMEM;
        for (size_t at = 0; at < bytes; at += chunk) {
                size_t len = MIN(chunk, bytes - at);
                r = pread_full(fd, raw, len, table + at);
                if (r < 0)
                        return vc_problem_add(problems, VC_PROBLEM_IO, r, NULL, table + at,
                                              "before moving: reading the BAT again failed: %s; nothing was written",
                                              strerror(-r));
                for (uint32_t i = (uint32_t) (at / 4); i < (at + len) / 4; i++)
                        if (get_be32(raw + 4 * (size_t) i - at) != layout->at[i])
                                return vc_problem_add(problems, VC_PROBLEM_CHANGED, -ESTALE, "bat",
                                                      table + 4 * (uint64_t) i,
                                                      "BAT entry %" PRIu32 " changed during the run (0x%08" PRIx32
                                                      " when scanned, 0x%08" PRIx32 " now): another program writes "
                                                      "to the file without taking its lock; nothing was written",
                                                      i, layout->at[i], get_be32(raw + 4 * (size_t) i - at));
        }
        return 0;
}

int vhd_compact_tail_prepare(struct vc_image *gimg, uint64_t end, struct vc_problems *problems)
{
        struct vhd_image *img = vc_image_priv(gimg);
        uint8_t now[VHD_FOOTER_SIZE];
        int r;

        if (end < 2 * VHD_FOOTER_SIZE || end > img->footer_off)
                return -EINVAL;
        r = pread_full(img->fd, now, sizeof now, end - VHD_FOOTER_SIZE);
        if (r < 0)
                return vc_problem_step_failed(problems, r, end - VHD_FOOTER_SIZE,
                                              "finishing an interrupted compaction: reading at the new end");
        if (!memcmp(now, img->footer.raw, VHD_FOOTER_SIZE))
                return 0;
        r = pwrite_full(img->fd, img->footer.raw, VHD_FOOTER_SIZE, end - VHD_FOOTER_SIZE);
        if (r < 0)
                return vc_problem_step_failed(problems, r, end - VHD_FOOTER_SIZE,
                                              "finishing an interrupted compaction: writing the footer at the new end");
        vc_fault_point("finish: footer written");
        return 0;
}
