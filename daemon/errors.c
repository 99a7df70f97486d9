/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Problem ids of lib/util/problem.c (and bare errnos, through the ids
 * lib/util/errno-id.c gives them) to our D-Bus error names, documented in
 * dbus/org.vhd.Compact.xml.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "daemon.h"
#include "util/errno-id.h"

const char *error_name_for_problem(const char *id, int err)
{
        static const struct {
                const char *id, *name;
        } table[] = {
                { "in-use", VC_ERROR_IN_USE },
                /* Another writer, one that ignores the lock. */
                { "file-changed", VC_ERROR_IN_USE },
                { "access-denied", VC_ERROR_ACCESS_DENIED },
                { "not-supported", VC_ERROR_NOT_SUPPORTED },
                { "fs-unsupported", VC_ERROR_NOT_SUPPORTED },
                { "punch-unsupported", VC_ERROR_NOT_SUPPORTED },
                { "has-children", VC_ERROR_NOT_SUPPORTED },
                { "saved-state", VC_ERROR_SAVED_STATE },
                { "fs-not-clean", VC_ERROR_NOT_CLEAN },
                { "parent-not-found", VC_ERROR_PARENT },
                { "parent-mismatch", VC_ERROR_PARENT },
                { "parent-loop", VC_ERROR_PARENT },
                { "io-error", VC_ERROR_IO },
                { "no-space", VC_ERROR_IO },
        };

        if (err == ECANCELED)
                return VC_ERROR_CANCELLED;
        /* A bare errno: the problem id vhdctl would print for it. */
        bool from_errno = !id || !strcmp(id, "-");
        if (from_errno)
                id = vc_errno_problem_id(err);
        for (size_t i = 0; i < sizeof table / sizeof *table; i++)
                if (!strcmp(id, table[i].id))
                        return table[i].name;
        /* file-not-found and failed; every other id a worker reports is
         * a structure that failed validation. */
        return from_errno ? VC_ERROR_FAILED : VC_ERROR_CORRUPT;
}
