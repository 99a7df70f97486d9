/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A free-range map: byte ranges of the virtual disk that a recognised file
 * system says it does not use.  Scanners append ranges (in any order);
 * freemap_normalize() sorts and merges them.  Everything not in the map is
 * in use: the map only ever grants, so a scanner that gives up simply adds
 * nothing.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vc_range {
        uint64_t start, len;
};

struct vc_freemap {
        struct vc_range *v;
        size_t n, cap;
};

/* Appends [start, start+len); len 0 is ignored.  -ENOMEM, -EOVERFLOW. */
int freemap_add(struct vc_freemap *m, uint64_t start, uint64_t len);
/* Sorts by start and merges overlapping or adjacent ranges. */
void freemap_normalize(struct vc_freemap *m);
/* Bytes of [start, start+len) covered by the (normalized) map. */
uint64_t freemap_covered(const struct vc_freemap *m, uint64_t start, uint64_t len);
/* The index of the first range of the (normalized) map that ends after
 * @start; m->n when none does. */
size_t freemap_first(const struct vc_freemap *m, uint64_t start);
uint64_t freemap_total(const struct vc_freemap *m);
void freemap_done(struct vc_freemap *m);
