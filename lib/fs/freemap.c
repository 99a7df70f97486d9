/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>

#include "../util/macro.h"
#include "../util/overflow.h"
#include "freemap.h"

int freemap_add(struct vc_freemap *m, uint64_t start, uint64_t len)
{
        uint64_t end;

        if (len == 0)
                return 0;
        if (ADD_OVERFLOW(start, len, &end))
                return -EOVERFLOW;
        /* Merge with the previous range when scanners append in order, which
         * keeps a bitmap walk's map small without a sort. */
        if (m->n > 0 && m->v[m->n - 1].start + m->v[m->n - 1].len == start) {
                m->v[m->n - 1].len += len;
                return 0;
        }
        if (m->n == m->cap) {
                size_t cap = m->cap ? m->cap * 2 : 64;
                struct vc_range *v = realloc(m->v, cap * sizeof *v);
                if (!v)
                        return -ENOMEM;
                m->v = v;
                m->cap = cap;
        }
        m->v[m->n++] = (struct vc_range) { start, len };
        return 0;
}

static int cmp_range(const void *a, const void *b)
{
        const struct vc_range *x = a, *y = b;
        return x->start < y->start ? -1 : x->start > y->start;
}

void freemap_normalize(struct vc_freemap *m)
{
        size_t w = 0;

        if (m->n == 0)
                return;
        qsort(m->v, m->n, sizeof *m->v, cmp_range);
        for (size_t i = 1; i < m->n; i++) {
                struct vc_range *last = &m->v[w];
                if (m->v[i].start <= last->start + last->len) {
                        uint64_t end = MAX(last->start + last->len, m->v[i].start + m->v[i].len);
                        last->len = end - last->start;
                } else
                        m->v[++w] = m->v[i];
        }
        m->n = w + 1;
}

size_t freemap_first(const struct vc_freemap *m, uint64_t start)
{
        size_t lo = 0, hi = m->n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (m->v[mid].start + m->v[mid].len <= start)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

uint64_t freemap_covered(const struct vc_freemap *m, uint64_t start, uint64_t len)
{
        uint64_t end = start + len, sum = 0;

        for (size_t i = freemap_first(m, start); i < m->n && m->v[i].start < end; i++) {
                uint64_t a = MAX(start, m->v[i].start);
                uint64_t b = MIN(end, m->v[i].start + m->v[i].len);
                if (b > a)
                        sum += b - a;
        }
        return sum;
}

uint64_t freemap_total(const struct vc_freemap *m)
{
        uint64_t sum = 0;

        for (size_t i = 0; i < m->n; i++)
                sum += m->v[i].len;
        return sum;
}

void freemap_done(struct vc_freemap *m)
{
        free(m->v);
        *m = (struct vc_freemap) {};
}
