/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* VHD's compaction operations (struct vc_compact_ops), for format-vhd.c. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "../image/compact-ops.h"
#include "../image/image.h"

/* layout.c */
int vhd_compact_layout(struct vc_image *img, bool copy, struct compact_layout *l);
int vhd_compact_tail_end(struct vc_image *img, uint64_t *ret_end);

/* commit.c */
int vhd_compact_verify_unchanged(struct vc_image *img, const struct compact_layout *l,
                                 struct vc_problems *problems);
int vhd_compact_release(struct vc_image *img, struct compact_layout *l, const struct compact_plan *p,
                        struct vc_problems *problems);
int vhd_compact_repoint(struct vc_image *img, struct compact_layout *l, const struct compact_plan *p,
                        uint32_t first, uint32_t end, const bool *landed, struct vc_problems *problems);
int vhd_compact_finish(struct vc_image *img, const struct compact_plan *p, struct vc_problems *problems);
int vhd_compact_tail_prepare(struct vc_image *img, uint64_t end, struct vc_problems *problems);
