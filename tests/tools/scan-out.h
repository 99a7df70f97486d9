/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the scan tools (fsscan, ntfsdump) share: their number arguments and
 * the "key value" lines the shell tests read (a problem, the free ranges).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct vc_freemap;
struct vc_problem;

/* A decimal, hex (0x) or octal number, no sign: 0, or -EINVAL. */
int scan_out_parse_u64(const char *s, uint64_t *ret);

/* "problem ID FIELD OFFSET" on stdout, the message on stderr after "PROG: ". */
void scan_out_problem(const char *prog, const struct vc_problem *p);

/* "range START LENGTH" on stdout for every range of @m. */
void scan_out_ranges(const struct vc_freemap *m);
