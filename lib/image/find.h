/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Finding VHD and VHDX files in a folder by their content, for `vhdctl
 * compact --recursive` (client/find-images.c) and the daemon's
 * Manager.FindImages.  The walk never follows a symbolic link (a link
 * could lead out of the folder, or to a disk already counted), and a
 * regular file is a disk when its content says so, whatever its name:
 * "vhdxfile" at offset 0 (VHDX), or "conectix" at the start of its last
 * 512 bytes (a VHD's footer) or at offset 0 (a dynamic VHD's footer
 * copy).  Sockets, FIFOs and devices are never opened to be probed.  A
 * folder that cannot be listed is kept as an entry with its error.  Only
 * eight bytes at two places are read: nothing of the image is parsed.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct found_image {
        char *path;             /* the folder's path joined with the names below it */
        int error;              /* 0, or a negative errno: a folder that could not be walked */
};

struct found_images {
        struct found_image *v;
        size_t n, cap;
        bool truncated;         /* a limit of the walk was reached */
};

/* 0 means no limit.  max_depth counts folders below the one given (1:
 * its own files and those of its sub-folders, not deeper); max_entries
 * the names looked at; max_found the entries kept. */
struct image_walk_limits {
        unsigned max_depth;
        size_t max_entries, max_found;
};

/* Whether the regular file at path holds a VHD or VHDX by its content. */
bool image_by_content(const char *path);
int found_images_add(struct found_images *l, const char *path, int error);
/* Appends the disks found under folder.  0 (also when the folder could
 * not be walked: an entry says so) or -ENOMEM. */
int image_walk(const char *folder, const struct image_walk_limits *limits, struct found_images *l);
/* Sorts by path and keeps each file (device and inode) once, the first by
 * path.  0 or -ENOMEM. */
int found_images_sort(struct found_images *l);
void found_images_done(struct found_images *l);
