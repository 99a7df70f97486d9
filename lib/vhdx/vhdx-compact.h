/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * VHDX's compaction operations (struct vc_compact_ops, image.h), for
 * format-vhdx.c; compact-layout.c, compact-commit.c and compact-refuse.c
 * share the rest.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "../image/compact-ops.h"
#include "../image/image.h"

extern const struct vc_compact_ops vhdx_compact_ops;

struct vhdx_image;

/* compact-layout.c.  Objects [0, n_blocks) are the payload blocks, then,
 * in a differencing disk, one sector-bitmap block per chunk. */
enum { VHDX_CLASS_BLOCK = 0, VHDX_CLASS_SB = 1 };
int vhdx_compact_layout(struct vc_image *img, bool copy, struct compact_layout *ret);
int vhdx_compact_tail_end(struct vc_image *img, uint64_t *ret_end);
void vhdx_compact_own_drops(struct vc_image *img, const struct compact_layout *l, uint8_t *drop);
/* The BAT index of object i. */
uint64_t vhdx_compact_object_index(const struct vhdx_image *img, uint32_t i);

/* compact-commit.c */
int vhdx_compact_verify_unchanged(struct vc_image *img, const struct compact_layout *l,
                                  struct vc_problems *problems);
int vhdx_compact_begin(struct vc_image *img, const struct compact_plan *p, struct vc_problems *problems);
int vhdx_compact_release(struct vc_image *img, struct compact_layout *l, const struct compact_plan *p,
                         struct vc_problems *problems);
int vhdx_compact_repoint(struct vc_image *img, struct compact_layout *l, const struct compact_plan *p,
                         uint32_t first, uint32_t end, const bool *landed, struct vc_problems *problems);
int vhdx_compact_finish(struct vc_image *img, const struct compact_plan *p, struct vc_problems *problems);
int vhdx_compact_tail_prepare(struct vc_image *img, uint64_t end, struct vc_problems *problems);
