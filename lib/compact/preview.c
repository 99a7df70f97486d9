/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>

#include "compact/compact.h"
#include "compact/plan.h"
#include "compact/preview.h"
#include "image/image.h"
#include "image/open.h"
#include "util/macro.h"

int compact_preview(const char *path, const struct vc_analyze_opts *opts, struct vc_analysis *ret,
                    struct vc_problems *problems)
{
        const struct vc_analyze_opts defaults = {};
        _cleanup_(vc_image_freep) struct vc_image *img = NULL;
        struct vc_open_ctx ctx = VC_OPEN_CTX_INIT;
        struct vc_analysis a;
        int r;

        if (!opts)
                opts = &defaults;
        ctx.parent_path = opts->parent_path;
        r = vc_image_open(path, &ctx, opts->nolock ? VC_OPEN_NOLOCK : 0, problems, &img);
        if (r < 0)
                return r;
        r = vc_analyze_image(img, opts, &a, problems);
        if (r < 0)
                return r;

        _cleanup_free_ uint8_t *drop = calloc(a.n_blocks ? a.n_blocks : 1, sizeof *drop);
        if (!drop) {
                vc_analysis_done(&a);
                return -ENOMEM;
        }
        for (uint32_t b = 0; b < a.n_blocks; b++)
                if (a.block_class[b] == VC_BLOCK_FREE) {
                        drop[b] = COMPACT_DROP_FS_FREE;
                        a.full_dropped_fs++;
                }
        /* Without compaction nothing would change. */
        a.final_size = a.compaction_unsupported ? a.file_size : compact_final_size(img, drop);
        a.final_size_full = a.final_size;
        if (a.compaction_unsupported) {
                *ret = a;
                return 0;
        }
        /* Mode full: the combined rule, as a compaction's scan reads it. */
        struct compact_report rep = {};
        r = compact_scan_full(img, &a.free_map, drop, &rep, problems);
        if (r < 0) {
                vc_analysis_done(&a);
                return r;
        }
        a.full_dropped_zero = rep.dropped_zero;
        a.full_dropped_fs_zero = rep.dropped_fs_zero;
        a.bytes_read += rep.bytes_read;
        a.final_size_full = compact_final_size(img, drop);
        *ret = a;
        return 0;
}
