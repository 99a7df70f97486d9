/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Problem ids, their stable names (used in JSON output and tests), and the
 * collecting sink.  The names never change once released.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "problem.h"
#include "text.h"

static const char *const problem_names[_VC_PROBLEM_MAX] = {
        [VC_PROBLEM_IO] = "io-error",
        [VC_PROBLEM_TOO_SMALL] = "file-too-small",
        [VC_PROBLEM_BAD_COOKIE] = "bad-cookie",
        [VC_PROBLEM_BAD_CHECKSUM] = "bad-checksum",
        [VC_PROBLEM_BAD_VERSION] = "bad-version",
        [VC_PROBLEM_BAD_FEATURES] = "bad-features",
        [VC_PROBLEM_BAD_DISK_TYPE] = "bad-disk-type",
        [VC_PROBLEM_BAD_SIZE] = "bad-size",
        [VC_PROBLEM_BAD_DATA_OFFSET] = "bad-data-offset",
        [VC_PROBLEM_FOOTER_MISMATCH] = "footer-mismatch",
        [VC_PROBLEM_BAD_TABLE_OFFSET] = "bad-table-offset",
        [VC_PROBLEM_BAD_BLOCK_SIZE] = "bad-block-size",
        [VC_PROBLEM_BAD_MAX_ENTRIES] = "bad-max-table-entries",
        [VC_PROBLEM_BAT_OUT_OF_FILE] = "block-outside-file",
        [VC_PROBLEM_BAT_OVERLAP] = "block-overlap",
        [VC_PROBLEM_BAD_LOCATOR] = "bad-parent-locator",
        [VC_PROBLEM_PARENT_NOT_FOUND] = "parent-not-found",
        [VC_PROBLEM_PARENT_MISMATCH] = "parent-mismatch",
        [VC_PROBLEM_PARENT_LOOP] = "parent-loop",
        [VC_PROBLEM_NOT_SUPPORTED] = "not-supported",
        [VC_PROBLEM_SAVED_STATE] = "saved-state",
        [VC_PROBLEM_IN_USE] = "in-use",
        [VC_PROBLEM_ACCESS_DENIED] = "access-denied",
        [VC_PROBLEM_CHANGED] = "file-changed",
        [VC_PROBLEM_NO_SPACE] = "no-space",
        [VC_PROBLEM_PART_TABLE] = "bad-partition-table",
        [VC_PROBLEM_FS_CORRUPT] = "fs-corrupt",
        [VC_PROBLEM_FS_UNSUPPORTED] = "fs-unsupported",
        [VC_PROBLEM_FS_DIRTY] = "fs-not-clean",
        [VC_PROBLEM_TRUNCATED] = "file-truncated",
        [VC_PROBLEM_HEADER_MISMATCH] = "header-mismatch",
        [VC_PROBLEM_BAD_LOG] = "bad-log",
        [VC_PROBLEM_LOG_REPLAY_NEEDED] = "log-replay-needed",
        [VC_PROBLEM_BAD_REGION_TABLE] = "bad-region-table",
        [VC_PROBLEM_BAD_METADATA] = "bad-metadata",
        [VC_PROBLEM_UNKNOWN_REQUIRED] = "unknown-required",
        [VC_PROBLEM_INCOMPLETE_FILE] = "incomplete-file",
        [VC_PROBLEM_BAD_BLOCK_STATE] = "bad-block-state",
        [VC_PROBLEM_BAD_LOG_DESCRIPTOR] = "bad-log-descriptor",
        [VC_PROBLEM_BAD_HEADER] = "bad-header",
        [VC_PROBLEM_NO_PUNCH] = "punch-unsupported",
        [VC_PROBLEM_HAS_CHILDREN] = "has-children",
};

const char *vc_problem_id_to_string(enum vc_problem_id id)
{
        if ((int) id < 0 || id >= _VC_PROBLEM_MAX)
                return "unknown";
        return problem_names[id];
}

int vc_problem_add(struct vc_problems *ps, enum vc_problem_id id, int error,
                   const char *field, uint64_t offset, const char *fmt, ...)
{
        struct vc_problem p = { .id = id, .error = error, .field = field, .offset = offset };
        char raw[4 * sizeof p.message];
        va_list ap;

        /* Messages quote what images hold (parent paths, names): made safe
         * once here, for terminals, JSON and D-Bus alike, and cut at a
         * character boundary rather than inside one. */
        va_start(ap, fmt);
        vsnprintf(raw, sizeof raw, fmt, ap);
        va_end(ap);
        text_escape(p.message, sizeof p.message, raw);

        if (!ps)
                return error;
        if (ps->n == 0)
                ps->first = p;
        if (ps->collect) {
                /* A hostile image can hold a problem per BAT entry: keep
                 * the list bounded, and grow it geometrically (one
                 * realloc per problem was quadratic). */
                if (ps->n >= VC_PROBLEMS_MAX)
                        return error;
                if (ps->n == VC_PROBLEMS_MAX - 1) {
                        p.field = NULL;
                        snprintf(p.message, sizeof p.message,
                                 "more problems follow from here on; only the first %u are listed",
                                 VC_PROBLEMS_MAX - 1);
                }
                if (ps->n == 0 || (ps->n >= 8 && (ps->n & (ps->n - 1)) == 0)) {
                        size_t cap = ps->n ? 2 * ps->n : 8;
                        struct vc_problem *nv = realloc(ps->v, cap * sizeof *nv);
                        if (!nv) {
                                ps->oom = true;
                                return error;
                        }
                        ps->v = nv;
                }
                ps->v[ps->n] = p;
        }
        ps->n++;
        return error;
}

bool vc_problems_any(const struct vc_problems *ps)
{
        return ps && ps->n > 0;
}

void vc_problems_done(struct vc_problems *ps)
{
        if (!ps)
                return;
        free(ps->v);
        ps->v = NULL;
        ps->n = 0;
}

void vc_problem_format(const struct vc_problem *p, char *buf, size_t size)
{
        if (p->field)
                snprintf(buf, size, "%s: %s (field %s at offset %llu)",
                         vc_problem_id_to_string(p->id), p->message, p->field,
                         (unsigned long long) p->offset);
        else
                snprintf(buf, size, "%s: %s (at offset %llu)", vc_problem_id_to_string(p->id),
                         p->message, (unsigned long long) p->offset);
}

int vc_problem_step_failed(struct vc_problems *ps, int r, uint64_t offset, const char *fmt, ...)
{
        char what[160];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(what, sizeof what, fmt, ap);
        va_end(ap);
        return vc_problem_add(ps, VC_PROBLEM_IO, r, NULL, offset,
                              "%s failed: %s; nothing after it was written and the image is valid: run again to finish",
                              what, strerror(-r));
}
