/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Problem ids of lib/util/problem.c (and a few errnos) to our D-Bus error
 * names, documented in dbus/org.vhd.Compact.xml.
 */
#include <errno.h>
#include <string.h>

#include "daemon.h"

#define E(x) "org.vhd.Compact.Error." x

const char *error_name_for_problem(const char *id, int err)
{
        static const struct {
                const char *id, *name;
        } table[] = {
                { "in-use", E("InUse") },
                /* Another writer, one that ignores the lock. */
                { "file-changed", E("InUse") },
                { "access-denied", E("AccessDenied") },
                { "not-supported", E("NotSupported") },
                { "fs-unsupported", E("NotSupported") },
                { "saved-state", E("SavedState") },
                { "fs-not-clean", E("NotClean") },
                { "parent-not-found", E("Parent") },
                { "parent-mismatch", E("Parent") },
                { "parent-loop", E("Parent") },
                { "io-error", E("IOError") },
                { "no-space", E("IOError") },
        };

        if (err == ECANCELED)
                return E("Cancelled");
        if (id && strcmp(id, "-")) {
                for (size_t i = 0; i < sizeof table / sizeof *table; i++)
                        if (!strcmp(id, table[i].id))
                                return table[i].name;
                /* Every other id is a structure that failed validation. */
                return E("Corrupt");
        }
        switch (err) {
        case EACCES: case EPERM: case EROFS: return E("AccessDenied");
        case EBUSY: return E("InUse");
        /* Compact of a directory: open(2) for writing says so first. */
        case EISDIR: return E("NotSupported");
        case EIO: case ENOSPC: return E("IOError");
        default: return E("Failed");
        }
}
