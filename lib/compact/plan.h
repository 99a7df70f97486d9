/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The compaction planner (docs/design.md, pipeline step 5): a pure function from a layout
 * (the input: image/compact-ops.h) and the objects to drop, with their
 * reasons, to the plan (the output): the moves and the exact final size.
 * It knows no format: a VHD block is an object at a BAT sector.
 *
 * Survivors move down, largest size class first and highest first, each
 * into the lowest free place that fits it (space past the fixed regions
 * that no survivor and no fixed extent occupies: the places of dropped
 * objects, and gaps an interrupted run left); the file ends at the furthest
 * of the fixed regions and the survivors, plus the tail the format needs
 * (a VHD's footer).  With one object size the k survivors end in the k
 * lowest places; the rule and its limits with several are at the top of
 * plan.c.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image/compact-ops.h"

/* drop[i] (may be NULL: nothing dropped) is the enum compact_drop_reason of
 * object i; a reason other than COMPACT_KEEP drops it, and the plan keeps
 * the reason.  Returns 0 or -ENOMEM / -EINVAL (a drop of an absent object,
 * or a layout that breaks a rule of compact-ops.h: a class out of range, a
 * zero size, a fixed extent past the tail, an alignment not in units). */
int compact_plan_build(const struct compact_layout *l, const uint8_t *drop, struct compact_plan *ret);
void compact_plan_done(struct compact_plan *p);
/* The same drops, no moves: the file ends after its highest survivor or
 * fixed region, and p->punches lists the free ranges below that end
 * (plan-in-place.c).  Same errors. */
int compact_plan_build_in_place(const struct compact_layout *l, const uint8_t *drop, struct compact_plan *ret);

/* The layout of an open image, from its format (ops->layout); l->at must
 * be freed by the caller. */
struct vc_image;
int compact_layout_from_image(struct vc_image *img, struct compact_layout *l);
/* The final size of img after dropping drop[] (one entry per block of
 * img; 0 on failure). */
uint64_t compact_final_size(struct vc_image *img, const uint8_t *drop);
