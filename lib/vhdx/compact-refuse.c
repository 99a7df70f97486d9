/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * VHDX's compaction rules besides the layout and the commits: what is
 * refused, which files beside it are its children, what a dropped block
 * uncovers; and the table of the operations.
 *
 * Refused: a fixed disk (LeaveBlockAllocated: the specification forbids
 * giving its blocks back), a differencing disk opened without its parent
 * (a dropped block would uncover what we cannot read), and, for writing,
 * a log too small to carry one page.  What the open refuses already is
 * not repeated: unknown required regions and metadata items, the
 * incomplete-file marker, a missing log, a log that does not replay
 * (a read-write open replays a log that does, on disk, as Windows does).
 *
 * Children (VHDX.md 3.5): a differencing VHDX reads through the parent
 * whose DataWriteGuid its parent_linkage (or parent_linkage2) names.  A
 * candidate that is not a VHDX at all ("vhdxfile" missing) is certainly
 * not a child (a VHDX's parent is a VHDX); one that says it is a VHDX but
 * cannot be opened may be one, and refuses the file-system drops (fail
 * closed, as for VHD).
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/fd-util.h"
#include "image-private.h"
#include "vhdx-compact.h"

static int vhdx_refuse(struct vc_image *gimg, bool writing, struct vc_problems *problems)
{
        struct vhdx_image *img = vc_image_priv(gimg);

        if (img->meta.leave_allocated)
                return vc_problem_add(problems, VC_PROBLEM_NOT_SUPPORTED, -EOPNOTSUPP,
                                      "metadata.file_parameters_flags", img->meta.params_offset + 4,
                                      "a fixed VHDX (LeaveBlockAllocated) must keep every block; only dynamic "
                                      "and differencing disks can be compacted");
        if (img->meta.has_parent && !img->parent)
                return vc_problem_add(problems, VC_PROBLEM_NOT_SUPPORTED, -EOPNOTSUPP, "metadata.parent_locator",
                                      img->meta.locator_offset,
                                      "the differencing disk was opened without its parent, which a dropped "
                                      "block would uncover");
        if (writing && vhdx_log_max_pages(img) == 0)
                return vc_problem_add(problems, VC_PROBLEM_NOT_SUPPORTED, -EOPNOTSUPP,
                                      img->headers.current ? "header2.log_length" : "header1.log_length",
                                      vhdx_header_offset(img->headers.current) + VHDX_HEADER_OFF_LOG_LENGTH,
                                      "the log is too small to carry one metadata page, so the BAT cannot be "
                                      "changed safely");
        return 0;
}

static bool names_me(const struct vhdx_image *c, const uint8_t guid[16])
{
        const struct vhdx_locator *l = vhdx_image_locator(c);

        return l && (!memcmp(l->linkage, guid, 16) || (l->has_linkage2 && !memcmp(l->linkage2, guid, 16)));
}

static int vhdx_child_of(struct vc_image *gimg, const char *p, const struct vc_open_ctx *run_ctx,
                         struct vc_problems *problems)
{
        const struct vhdx_image *img = vc_image_priv(gimg);
        const uint8_t *guid = img->headers.h[img->headers.current].data_write_guid;
        /* The run's opener only: its fd and dir_fd are the disk's. */
        const struct vc_open_ctx ctx = { .opener = run_ctx ? run_ctx->opener : NULL,
                                         .userdata = run_ctx ? run_ctx->userdata : NULL,
                                         .fd = VC_BY_NAME, .dir_fd = VC_BY_NAME };
        struct vc_problems quiet = { .collect = false };
        struct vhdx_image *c = NULL;
        char sig[8];
        int fd, r;

        fd = vc_open_path(&ctx, p, false);
        if (fd == -ENOENT || fd == -ENOTDIR || fd == -EBADFD)
                return 0;
        if (fd < 0)
                return vc_problem_add(problems, fd == -EIO ? VC_PROBLEM_IO : VC_PROBLEM_NOT_SUPPORTED, fd, NULL, 0,
                                      "cannot read '%s' to tell whether it is a differencing child of this "
                                      "disk (%s); only --mode zero is allowed (or force-children); nothing "
                                      "was written", p, fd == -EPERM ? "refused" : strerror(-fd));
        /* pread_full() calls an end of file -EIO: a file shorter than a
         * signature is certainly no VHDX, and no read error. */
        struct stat st;
        if (fstat(fd, &st) == 0 && (uint64_t) st.st_size < sizeof sig) {
                close(fd);
                return 0;
        }
        r = pread_full(fd, sig, sizeof sig, 0);
        if (r == -EIO) {
                close(fd);
                return vc_problem_add(problems, VC_PROBLEM_IO, r, NULL, 0,
                                      "cannot read '%s' to tell whether it is a differencing child of this "
                                      "disk; only --mode zero is allowed (or force-children)", p);
        }
        if (r < 0 || memcmp(sig, VHDX_IDENT_SIGNATURE, sizeof sig)) {
                close(fd);
                return 0;       /* not a VHDX */
        }
        r = vhdx_image_open_fd_ctx(fd, p, &ctx, VHDX_OPEN_NOLOCK | VHDX_OPEN_NOPARENT, &quiet, &c);
        if (r < 0) {
                int id = vc_problems_any(&quiet) ? quiet.first.id : VC_PROBLEM_IO;
                uint64_t at = vc_problems_any(&quiet) ? quiet.first.offset : 0;
                vc_problems_done(&quiet);
                return vc_problem_add(problems, r == -EIO ? VC_PROBLEM_IO : VC_PROBLEM_NOT_SUPPORTED, r, NULL, 0,
                                      "'%s' is a VHDX that cannot be opened (%s at offset %llu), so it may be a "
                                      "differencing child of this disk; only --mode zero is allowed (or "
                                      "force-children)", p, vc_problem_id_to_string(id), (unsigned long long) at);
        }
        vc_problems_done(&quiet);
        bool mine = names_me(c, guid);
        vhdx_image_free(c);
        return mine;
}

static uint64_t vhdx_below_size(struct vc_image *gimg)
{
        const struct vhdx_image *img = vc_image_priv(gimg);

        return img->parent ? MIN(img->parent->meta.virtual_size, img->meta.virtual_size) : 0;
}

static int vhdx_read_below(struct vc_image *gimg, void *buf, size_t count, uint64_t offset)
{
        struct vhdx_image *img = vc_image_priv(gimg);

        if (!img->parent)
                return -EINVAL;
        return vhdx_image_pread(img->parent, buf, count, offset);
}

const struct vc_compact_ops vhdx_compact_ops = {
        .refuse = vhdx_refuse,
        .child_of = vhdx_child_of,
        .layout = vhdx_compact_layout,
        .own_drops = vhdx_compact_own_drops,
        .verify_unchanged = vhdx_compact_verify_unchanged,
        .below_size = vhdx_below_size,
        .read_below = vhdx_read_below,
        .drop_same_as_below = true,
        .begin = vhdx_compact_begin,
        .release = vhdx_compact_release,
        .repoint = vhdx_compact_repoint,
        .finish = vhdx_compact_finish,
        .tail_end = vhdx_compact_tail_end,
        .tail_prepare = vhdx_compact_tail_prepare,
};
