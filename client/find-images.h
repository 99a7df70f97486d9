/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The disks of a `vhdctl compact` over several files or folders
 * (compact-batch.c).  A FILE argument is taken as it is (the engine says
 * what it is not).  A folder argument, with recursive, is walked without
 * following symbolic links (a link could lead out of the folder, or to a
 * disk already counted), and a regular file in it is a disk when its
 * content says so, whatever its name: "vhdxfile" at offset 0 (VHDX), or
 * "conectix" at the start of its last 512 bytes (a VHD's footer) or at
 * offset 0 (a dynamic VHD's footer copy).  Sockets, FIFOs and devices are
 * never opened to be probed.  A folder that cannot be listed is kept as
 * an entry with its error, so the run can say so.  The list is sorted and
 * each file (by its real path) is in it once.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct found_image {
        char *path;             /* as given, or the folder's path joined with the names below it */
        int error;              /* 0, or a negative errno: a folder that could not be walked */
};

struct found_images {
        struct found_image *v;
        size_t n, cap;
};

/* Appends the disks of args[0..n) to ret.  A folder without recursive is
 * an error (-EISDIR, with the one line of a refusal on stderr naming it).  0 or a negative
 * errno (-ENOMEM; a missing argument is an entry with its error, not a
 * failure). */
int find_images(char *const *args, int n, bool recursive, struct found_images *ret);
void found_images_done(struct found_images *l);

/* Whether the regular file at path holds a VHD or VHDX by its content. */
bool image_by_content(const char *path);
