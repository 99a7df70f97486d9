/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "fs/freemap.h"
#include "scan-out.h"
#include "util/problem.h"

int scan_out_parse_u64(const char *s, uint64_t *ret)
{
        char *end;
        unsigned long long v;

        errno = 0;
        v = strtoull(s, &end, 0);
        if (errno || end == s || *end || s[0] == '-')
                return -EINVAL;
        *ret = v;
        return 0;
}

void scan_out_problem(const char *prog, const struct vc_problem *p)
{
        char buf[512];

        printf("problem %s %s %" PRIu64 "\n", vc_problem_id_to_string(p->id),
               p->field ? p->field : "-", p->offset);
        vc_problem_format(p, buf, sizeof buf);
        fprintf(stderr, "%s: %s\n", prog, buf);
}

void scan_out_ranges(const struct vc_freemap *m)
{
        for (size_t i = 0; i < m->n; i++)
                printf("range %" PRIu64 " %" PRIu64 "\n", m->v[i].start, m->v[i].len);
}
