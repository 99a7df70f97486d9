/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Windows-style paths for the parent locators a new child records. */
#pragma once

#include <stddef.h>

/* The path of target relative to the folder of from (both absolute Linux
 * paths), '\' separated, after prefix (VHD: ".\\", VHDX: ""); 0, or
 * -ENAMETOOLONG when it does not fit in size bytes. */
int win_relative_path(const char *from_abs, const char *target_abs, const char *prefix, char *out, size_t size);
