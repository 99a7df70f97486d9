/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>

#include "compact/plan.h"
#include "compact/preview.h"
#include "util/macro.h"
#include "vhd/vhd.h"

int compact_preview(const char *path, const struct vc_analyze_opts *opts, struct vc_analysis *ret,
                    struct vc_problems *problems)
{
        const struct vc_analyze_opts defaults = {};
        _cleanup_(vhd_image_freep) struct vhd_image *img = NULL;
        struct vc_analysis a;
        int r;

        if (!opts)
                opts = &defaults;
        r = vhd_image_open(path, opts->nolock ? VHD_OPEN_NOLOCK : 0, problems, &img);
        if (r < 0)
                return r;
        r = vc_analyze_image(img, opts, &a, problems);
        if (r < 0)
                return r;

        _cleanup_free_ bool *drop = calloc(a.n_blocks ? a.n_blocks : 1, sizeof *drop);
        if (!drop) {
                vc_analysis_done(&a);
                return -ENOMEM;
        }
        for (uint32_t b = 0; b < a.n_blocks; b++)
                drop[b] = a.block_class[b] == VC_BLOCK_FREE;
        a.final_size = compact_final_size(img, drop);
        *ret = a;
        return 0;
}
