/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A bounds-checked view of untrusted bytes.  Parsers read disk structures
 * only through a span, so an offset taken from the disk can never index past
 * the buffer: each getter returns -EBADMSG instead.
 */
#pragma once

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "endian.h"
#include "overflow.h"

struct span {
        const uint8_t *p;
        size_t len;
};

#define SPAN(ptr, n) ((struct span) { .p = (const uint8_t *) (ptr), .len = (n) })

static inline int span_check(const struct span *s, uint64_t off, uint64_t n)
{
        return range_outside(off, n, s->len) ? -EBADMSG : 0;
}

static inline int span_sub(const struct span *s, uint64_t off, uint64_t n, struct span *ret)
{
        if (span_check(s, off, n) < 0)
                return -EBADMSG;
        *ret = SPAN(s->p + off, n);
        return 0;
}

#define SPAN_GETTER(name, type, n, fn)                                               \
        static inline int span_get_##name(const struct span *s, uint64_t off, type *ret) \
        {                                                                            \
                if (span_check(s, off, n) < 0)                                       \
                        return -EBADMSG;                                             \
                *ret = fn(s->p + off);                                               \
                return 0;                                                            \
        }

static inline uint8_t get_u8(const uint8_t *p) { return *p; }
SPAN_GETTER(u8, uint8_t, 1, get_u8)
SPAN_GETTER(be16, uint16_t, 2, get_be16)
SPAN_GETTER(be32, uint32_t, 4, get_be32)
SPAN_GETTER(be64, uint64_t, 8, get_be64)
SPAN_GETTER(le16, uint16_t, 2, get_le16)
SPAN_GETTER(le32, uint32_t, 4, get_le32)
SPAN_GETTER(le64, uint64_t, 8, get_le64)
