/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The file-name suffixes of every image format, on their own so that a
 * program that parses no disk (the daemon's broker) can link them without
 * the formats.  Names decide only which files are *looked at* (the search
 * for differencing children, what the broker opens for a worker); what a
 * file is, is decided by its content (image.h).
 */
#pragma once

#include <stdbool.h>

/* Per format, NULL-terminated; the format tables point here. */
extern const char *const vc_image_suffixes_vhd[];
extern const char *const vc_image_suffixes_vhdx[];

/* Whether the last component of path ends in a suffix of some format
 * (case-insensitive: the disks come from Windows). */
bool vc_image_name_has_suffix(const char *path);
