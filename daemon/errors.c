/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Problem ids of lib/util/problem.c (and a few errnos) to our D-Bus error
 * names, documented in dbus/org.vhd.Compact.xml.
 */
#include <errno.h>
#include <string.h>

#include "daemon.h"

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
        if (id && strcmp(id, "-")) {
                for (size_t i = 0; i < sizeof table / sizeof *table; i++)
                        if (!strcmp(id, table[i].id))
                                return table[i].name;
                /* Every other id is a structure that failed validation. */
                return VC_ERROR_CORRUPT;
        }
        switch (err) {
        case EACCES: case EPERM: case EROFS: return VC_ERROR_ACCESS_DENIED;
        case EBUSY: return VC_ERROR_IN_USE;
        /* Compact of a directory: open(2) for writing says so first. */
        case EISDIR: return VC_ERROR_NOT_SUPPORTED;
        case EIO: case ENOSPC: return VC_ERROR_IO;
        default: return VC_ERROR_FAILED;
        }
}
