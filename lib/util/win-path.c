/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>

#include "win-path.h"

int win_relative_path(const char *from_abs, const char *target_abs, const char *prefix, char *out, size_t size)
{
        size_t common = 0, i;
        int ups = 0, n;

        for (i = 0; from_abs[i] && from_abs[i] == target_abs[i]; i++)
                if (from_abs[i] == '/')
                        common = i + 1;
        for (i = common; from_abs[i]; i++)
                ups += from_abs[i] == '/';
        n = snprintf(out, size, "%s", prefix);
        for (int k = 0; k < ups; k++)
                n += snprintf(out + n, size > (size_t) n ? size - n : 0, "..\\");
        n += snprintf(out + n, size > (size_t) n ? size - n : 0, "%s", target_abs + common);
        if (n < 0 || (size_t) n >= size)
                return -ENAMETOOLONG;
        for (char *c = out; *c; c++)
                if (*c == '/')
                        *c = '\\';
        return 0;
}
