/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Image file-name suffixes: see names.h. */
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "names.h"

const char *const vc_image_suffixes_vhd[] = { ".vhd", ".avhd", NULL };
const char *const vc_image_suffixes_vhdx[] = { ".vhdx", ".avhdx", NULL };

static const char *const *const all[] = { vc_image_suffixes_vhd, vc_image_suffixes_vhdx, NULL };

bool vc_image_name_has_suffix(const char *path)
{
        const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');

        if (!dot || (slash && dot < slash))
                return false;
        for (size_t f = 0; all[f]; f++)
                for (size_t i = 0; all[f][i]; i++)
                        if (!strcasecmp(dot, all[f][i]))
                                return true;
        return false;
}
