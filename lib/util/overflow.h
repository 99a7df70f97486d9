/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Checked arithmetic for disk-derived numbers.  Every sum or product of
 * values read from an image goes through these, so a hostile field can never
 * wrap an offset back into range.  They return true on overflow.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define ADD_OVERFLOW(a, b, r) __builtin_add_overflow((a), (b), (r))
#define MUL_OVERFLOW(a, b, r) __builtin_mul_overflow((a), (b), (r))

/* True when [off, off + len) does not fit inside [0, limit). */
static inline bool range_outside(uint64_t off, uint64_t len, uint64_t limit)
{
        uint64_t end;
        return ADD_OVERFLOW(off, len, &end) || end > limit;
}

/* True when [a, a + alen) and [b, b + blen) share a byte (lengths > 0). */
static inline bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
        return a < b + blen && b < a + alen;
}
